//! Phase 4: `gphotosd run` restarted over a large tree it has already uploaded, then new
//! files written into that tree while it runs.
//!
//! The tree's rows are put into the daemon's database the way a finished first sync
//! leaves them (recorded by the library's own scan, then marked done with a media item
//! and a content hash): uploading 100 000 files for real would cost ten days of Google's
//! request quota. What is measured is the real binary's restart over them, the time to
//! `ready` (inotify armed over every folder) and to the end of the reconciling scan, both
//! taken from the daemon's own log lines; files re-read must be none, and the emulator
//! must see no API request.
//!
//! A second, wide tree (10 000 folders of one file) shows what arming inotify costs per
//! folder, and which watch mode the daemon reports for it in `gphotosd status --json`
//! (native, or polling with the reason when `fs.inotify.max_user_watches` is lower).

use std::path::Path;
use std::time::{Duration, Instant};

use gphotosd::config::Config;
use gphotosd::store::Store;
use gphotosd::watch::{Watched, scan};

use crate::procs::{Daemon, EmulatorProc};
use crate::table::{Row, Table, Verdict};
use crate::{Scale, daemon_config, ensure_space, load_average, media};

/// `[scan] settle`'s default: a new file waits this long after its last write.
const SETTLE: Duration = Duration::from_secs(5);
/// How often the emulator's counters are read while waiting for an upload to start.
const POLL: Duration = Duration::from_millis(10);
const FILES_PER_FOLDER: usize = 100;
/// Folders of the wide tree.
const WIDE_FOLDERS: usize = 10_000;

pub fn run(
    rt: &tokio::runtime::Runtime,
    emulator: &Path,
    work: &Path,
    scale: Scale,
    table: &mut Table,
) {
    let dir = work.join("restart");
    let root = dir.join("camera");
    ensure_space(work, scale.tree_files as u64 * 4096 + (64 << 20));
    let folders = scale.tree_files.div_ceil(FILES_PER_FOLDER);
    println!(
        "\n## 4. restart over {} uploaded files in {folders} folders",
        scale.tree_files
    );
    let t = Instant::now();
    build_tree(&root, scale.tree_files, FILES_PER_FOLDER);
    println!("  tree written in {:.1} s", t.elapsed().as_secs_f64());

    let emu = EmulatorProc::start(emulator, &dir.join("emulator"));
    // The default configuration: only the emulator and the folder are set.
    let config_path = daemon_config(&dir.join("gphotosd"), &emu, &root, "");
    let config = Config::load(&config_path).expect("config");
    let t = Instant::now();
    populate(&config);
    println!(
        "  database filled as after a first sync in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let before = rt.block_on(emu.state()).api_requests_today;
    let daemon = Daemon::start(&config_path);
    let (ready_at, _) = daemon.wait_for("ready", Duration::from_secs(120));
    let (scanned_at, line) = daemon.wait_for("scanned watched folders", Duration::from_secs(300));
    let after = rt.block_on(emu.state()).api_requests_today;
    let s = crate::procs::sample(daemon.pid()).expect("daemon alive");
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let (unchanged, new, changed) = (field("unchanged"), field("new"), field("changed"));
    let ready = ready_at - daemon.started;
    let scanned = scanned_at - daemon.started;
    let peak_mb = s.peak_rss_kib as f64 * 1024.0 / 1e6;
    println!(
        "  ready (watcher armed) {:.2} s after start, scan done {:.2} s after start: \
         {unchanged} unchanged, {new} new, {changed} changed; {} API requests; \
         peak RSS {peak_mb:.1} MB; {} KiB read (database included); CPU {:.2} s; load average {}",
        ready.as_secs_f64(),
        scanned.as_secs_f64(),
        after - before,
        s.read_bytes / 1024,
        s.cpu.as_secs_f64(),
        load_average()
    );
    let untouched =
        unchanged == scale.tree_files as u64 && new == 0 && changed == 0 && after == before;
    table.push(Row {
        figure: format!(
            "restart over {} unchanged files: ready / reconciled (s)",
            scale.tree_files
        ),
        gphotosd: format!("{:.2} / {:.2}", ready.as_secs_f64(), scanned.as_secs_f64()),
        baseline: "—".to_owned(),
        ratio: "—".to_owned(),
        target: "report".to_owned(),
        verdict: Verdict::Info,
        note: None,
    });
    table.push(Row {
        figure: "restart: files re-read / API requests / peak RSS (MB)".to_owned(),
        gphotosd: format!("{} / {} / {peak_mb:.1}", new + changed, after - before),
        baseline: "—".to_owned(),
        ratio: "—".to_owned(),
        target: "0 / 0 / report".to_owned(),
        verdict: if untouched {
            Verdict::Pass
        } else {
            Verdict::Miss
        },
        note: None,
    });

    let latencies = probe_latency(rt, &emu, &root, scale.probes);
    let worst = latencies.iter().max().copied().unwrap_or_default();
    let mean = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;
    println!(
        "  last write → upload start: {} (settle {} s)",
        latencies
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        SETTLE.as_secs()
    );
    let target = SETTLE + Duration::from_secs(1);
    table.push(Row {
        figure: format!(
            "last write → upload start, {} new files, settle 5 s (s)",
            latencies.len()
        ),
        gphotosd: format!(
            "mean {:.2}, worst {:.2}",
            mean.as_secs_f64(),
            worst.as_secs_f64()
        ),
        baseline: "—".to_owned(),
        ratio: "—".to_owned(),
        target: format!("≤ {} (settle + 1)", target.as_secs()),
        verdict: if worst <= target {
            Verdict::Pass
        } else {
            Verdict::Miss
        },
        note: None,
    });
    drop(daemon);
    drop(emu);
    std::fs::remove_dir_all(&dir).expect("clean up the tree");
}

/// `gphotosd run` over 10 000 folders of one uploaded file each: time to ready, and the
/// watch mode it reports.
pub fn wide_tree(emulator: &Path, work: &Path, table: &mut Table) {
    let dir = work.join("wide");
    let root = dir.join("camera");
    println!("\n## 5. restart over {WIDE_FOLDERS} folders of one file");
    build_tree(&root, WIDE_FOLDERS, 1);
    let emu = EmulatorProc::start(emulator, &dir.join("emulator"));
    let config_path = daemon_config(&dir.join("gphotosd"), &emu, &root, "");
    populate(&Config::load(&config_path).expect("config"));
    let daemon = Daemon::start(&config_path);
    let (ready_at, _) = daemon.wait_for("ready", Duration::from_secs(120));
    let (scanned_at, _) = daemon.wait_for("scanned watched folders", Duration::from_secs(300));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gphotosd"))
        .arg("--config")
        .arg(&config_path)
        .args(["status", "--json"])
        .output()
        .expect("gphotosd status runs");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let watch = &status["watch"][0];
    let mode = format!(
        "{}{}",
        watch["mode"].as_str().unwrap_or("?"),
        watch["message"]
            .as_str()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
    let ready = ready_at - daemon.started;
    println!(
        "  ready {:.2} s, scan done {:.2} s after start; watch mode: {mode}",
        ready.as_secs_f64(),
        (scanned_at - daemon.started).as_secs_f64()
    );
    table.push(Row {
        figure: format!("restart over {WIDE_FOLDERS} folders: ready (s), watch mode"),
        gphotosd: format!("{:.2}, {mode}", ready.as_secs_f64()),
        baseline: "—".to_owned(),
        ratio: "—".to_owned(),
        target: "report".to_owned(),
        verdict: Verdict::Info,
        note: None,
    });
    drop(daemon);
    drop(emu);
    std::fs::remove_dir_all(&dir).expect("clean up the wide tree");
}

/// `files` tiny but complete JPEGs (start, one scan segment, end marker), distinct bytes
/// each, `per_folder` to a folder. They are never read after the first scan.
fn build_tree(root: &Path, files: usize, per_folder: usize) {
    for i in 0..files {
        let folder = root.join(format!("DCIM/{:05}", i / per_folder));
        if i % per_folder == 0 {
            std::fs::create_dir_all(&folder).expect("folder");
        }
        let mut bytes = vec![0xff, 0xd8, 0xff, 0xda, 0x00, 0x08];
        bytes.extend_from_slice(&(i as u64).to_be_bytes()[2..]);
        bytes.extend_from_slice(&[0xff, 0xd9]);
        std::fs::write(folder.join(format!("IMG_{i:06}.JPG")), bytes).expect("file");
    }
}

/// Records every file with the library's scan, then marks all of them uploaded.
fn populate(config: &Config) {
    let store = Store::open(&config.database_path()).expect("database");
    let watched = Watched::all(&config.watch).expect("watch config");
    scan::scan_all(&store, &watched, scan::Holds::default()).expect("first scan");
    store
        .call_blocking(|db| {
            db.connection().execute_batch(
                "UPDATE files SET state = 'done', media_item_id = 'item-' || id, \
                 content_hash = randomblob(32)",
            )?;
            Ok(())
        })
        .expect("mark done");
}

/// Writes `count` new photos into the watched tree, one at a time, and times each from
/// the end of its last write to the emulator counting its upload request.
fn probe_latency(
    rt: &tokio::runtime::Runtime,
    emu: &EmulatorProc,
    root: &Path,
    count: usize,
) -> Vec<Duration> {
    let folder = root.join("DCIM/00000");
    let raw_uploads = || {
        rt.block_on(emu.state())
            .requests
            .get("raw_upload")
            .copied()
            .unwrap_or(0)
    };
    (0..count)
        .map(|i| {
            let seen = raw_uploads();
            let bytes = media::photo_bytes(3_000_000 + i * 100_000, 50_000 + i as u64);
            // A plain copy: create, write, close, as a camera import does.
            std::fs::write(folder.join(format!("NEW_{i:04}.JPG")), &bytes).expect("probe");
            let written = Instant::now();
            let deadline = written + Duration::from_secs(60);
            while raw_uploads() == seen {
                assert!(
                    Instant::now() < deadline,
                    "no upload started within 60 s of writing probe {i}"
                );
                std::thread::sleep(POLL);
            }
            written.elapsed()
        })
        .collect()
}
