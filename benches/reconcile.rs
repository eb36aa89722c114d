//! Watcher targets (issue 5), measured, not asserted:
//!
//! 1. Restart over a tree of already uploaded files (default 100 000 in 1 000 folders):
//!    arming inotify plus the reconciling scan, run in a fresh child process as a
//!    restarted daemon would, reporting wall time, files re-read (must be 0) and peak RSS
//!    (`VmHWM`; target: under 3 s, none, under 100 MB).
//! 2. A 10 000-folder tree armed natively: time and the mode it got (native, or polling
//!    with the reason when the inotify limit is lower).
//! 3. Latency from a file's last write to its row being queued (target: settle + 1 s).
//!
//! `cargo bench -p gphotosd --bench reconcile`; `GPHOTOSD_BENCH_FILES` changes the tree
//! size. The page cache is warm (the tree was just written), as on a daemon restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gphotosd::config::{ScanConfig, WatchConfig, WatchMode};
use gphotosd::store::Store;
use gphotosd::watch::{WatchContext, Watched, Watcher, scan};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const JPEG_HEAD: &[u8] = &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F', 0];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs bench binaries without `--bench`: a minute of
        // disk churn is not a test.
        println!("reconcile: run with `cargo bench -p gphotosd --bench reconcile`");
        return;
    }
    let files: usize = std::env::var("GPHOTOSD_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");

    println!(
        "# restart reconcile: {files} uploaded files in {} folders",
        files.div_ceil(100)
    );
    let root = dir.path().join("camera");
    let t = Instant::now();
    build_tree(&root, files, 100);
    println!("tree written in {:.1} s", t.elapsed().as_secs_f64());
    let db = dir.path().join("gphotosd.db");
    let t = Instant::now();
    populate(&db, &root);
    println!(
        "database filled (all done) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    run_child(&db, &root);

    println!("\n# 10 000 folders armed natively");
    let wide = dir.path().join("wide");
    build_tree(&wide, 10_000, 1);
    populate(&dir.path().join("wide.db"), &wide);
    run_child(&dir.path().join("wide.db"), &wide);

    println!("\n# latency: last write to queued (settle 1 s)");
    latency(dir.path());
}

/// `files` small JPEGs, `per_folder` to a folder.
fn build_tree(root: &Path, files: usize, per_folder: usize) {
    for i in 0..files {
        let folder = root.join(format!("DCIM/{:05}", i / per_folder));
        if i % per_folder == 0 {
            std::fs::create_dir_all(&folder).unwrap();
        }
        let mut bytes = JPEG_HEAD.to_vec();
        bytes.extend_from_slice(format!("{i:08}").as_bytes());
        std::fs::write(folder.join(format!("IMG_{i:06}.JPG")), bytes).unwrap();
    }
}

fn watch(root: &Path) -> Vec<Watched> {
    let config: WatchConfig =
        toml::from_str(&format!("path = {:?}", root.display().to_string())).expect("watch entry");
    Watched::all(&[config]).expect("compiles")
}

/// Records every file and marks it uploaded, as after a first sync.
fn populate(db: &Path, root: &Path) {
    let store = Store::open(db).unwrap();
    let report = scan::scan_all(&store, &watch(root), scan::Holds::default()).unwrap();
    store
        .call_blocking(|db| {
            db.connection().execute_batch(
                "UPDATE files SET state = 'done', media_item_id = 'item-' || id, \
                 content_hash = randomblob(32)",
            )?;
            Ok(())
        })
        .unwrap();
    println!("  {} files recorded", report.new);
}

fn run_child(db: &Path, root: &Path) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .arg("--child")
        .arg(db)
        .arg(root)
        .output()
        .expect("child runs");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A restarted daemon: arm the watcher, then reconcile. Prints the figures.
fn child(db: &Path, root: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(db).unwrap();
        let watched = watch(root);
        let stop = CancellationToken::new();
        let ctx = WatchContext {
            store: store.clone(),
            watched: watched.clone(),
            settings: ScanConfig {
                watch_mode: WatchMode::Auto,
                ..ScanConfig::default()
            },
            work_queued: Arc::new(Notify::new()),
            rescan_now: Arc::new(Notify::new()),
        };
        let io_before = proc_io();
        let t = Instant::now();
        let watcher = Watcher::start(ctx, stop.clone()).await.unwrap();
        let armed = t.elapsed();
        let t2 = Instant::now();
        let (s, w) = (store.clone(), watched.clone());
        let report = tokio::task::spawn_blocking(move || {
            let holds = scan::Holds {
                young: Some(Duration::from_secs(5)),
                incomplete: Some(Duration::from_secs(15 * 60)),
            };
            scan::scan_all(&s, &w, holds)
        })
        .await
        .unwrap()
        .unwrap();
        let scanned = t2.elapsed();
        let io_after = proc_io();
        let roots = store.call(|db| db.watch_roots()).await.unwrap();
        let not_done = store
            .call(|db| Ok(db.counts()?.unfinished()))
            .await
            .unwrap();
        let without_hash = store
            .call_blocking(|db| {
                Ok(db.connection().query_row(
                    "SELECT count(*) FROM files WHERE content_hash IS NULL",
                    [],
                    |r| r.get::<_, i64>(0),
                )?)
            })
            .unwrap();
        println!(
            "watcher armed in {:.2} s: {} ({})",
            armed.as_secs_f64(),
            roots[0].mode,
            roots[0].message.as_deref().unwrap_or("")
        );
        println!(
            "reconcile in {:.2} s: {} unchanged, {} new, {} changed, {} settling, {} queued",
            scanned.as_secs_f64(),
            report.unchanged,
            report.new,
            report.changed,
            report.young.len(),
            not_done
        );
        println!(
            "restart total {:.2} s; files read or re-hashed: {} ({} rows lost their hash); \
             bytes read by the process, database pages included: {} KiB",
            (armed + scanned).as_secs_f64(),
            report.new + report.changed,
            without_hash,
            (io_after - io_before) / 1024
        );
        println!("peak RSS (VmHWM): {}", vm_hwm());
        stop.cancel();
        drop(watcher);
    });
}

/// Bytes this process read through read(2) and friends (`rchar`).
fn proc_io() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// Writes files into a watched folder and measures until each is queued.
fn latency(base: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let root = base.join("latency");
        std::fs::create_dir_all(&root).unwrap();
        let store = Store::open(&base.join("latency.db")).unwrap();
        let settle = Duration::from_secs(1);
        let stop = CancellationToken::new();
        let ctx = WatchContext {
            store: store.clone(),
            watched: watch(&root),
            settings: ScanConfig {
                settle,
                ..ScanConfig::default()
            },
            work_queued: Arc::new(Notify::new()),
            rescan_now: Arc::new(Notify::new()),
        };
        let watcher = Watcher::start(ctx, stop.clone()).await.unwrap();
        let task = tokio::spawn(watcher.run());
        let mut worst = Duration::ZERO;
        let mut total = Duration::ZERO;
        let runs = 10;
        for i in 0..runs {
            let path: PathBuf = root.join(format!("IMG_{i:04}.JPG"));
            let mut bytes = JPEG_HEAD.to_vec();
            bytes.resize(256 * 1024, i as u8);
            std::fs::write(&path, &bytes).unwrap();
            let written = Instant::now();
            loop {
                let p = path.clone();
                if store
                    .call(move |db| db.file_by_path(&p))
                    .await
                    .unwrap()
                    .is_some()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let took = written.elapsed();
            worst = worst.max(took);
            total += took;
        }
        println!(
            "{runs} files: mean {:.0} ms, worst {:.0} ms after the last write (settle {} ms; \
             target settle + 1 s)",
            total.as_secs_f64() * 1000.0 / f64::from(runs),
            worst.as_secs_f64() * 1000.0,
            settle.as_millis()
        );
        stop.cancel();
        let _ = task.await;
    });
}
