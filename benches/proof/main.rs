//! Proof that nothing is lost, fast: the real `gphotosd` binary against the real
//! `gphotos-emulator` binary over loopback, each its own process, and beside it a
//! baseline client (see `baseline.rs`) sending the same bytes to the same emulator process
//! in the same run, so every throughput is also a ratio measured under the same load.
//!
//! ```sh
//! cargo bench -p gphotosd --bench proof
//! ```
//!
//! builds the release binaries (the emulator's with a nested `cargo build`), then prints,
//! phase by phase and in one table at the end:
//!
//! 1. 500 photos of 2–8 MB (`gphotosd sync`, then the baseline): MB/s of each and the
//!    ratio, API requests per photo from the emulator's counters, CPU seconds per GiB.
//! 2. 3 videos of 1 GiB: the same figures.
//! 3. One 4 GiB video through `gphotosd sync`: the daemon's peak RSS (`VmHWM`, sampled
//!    every 20 ms) and CPU seconds per GiB (user + system, from `/proc/PID/stat`).
//! 4. `gphotosd run` restarted over 100 000 unchanged, already uploaded files in 1 000
//!    folders: time to ready (inotify armed) and to the end of the reconciling scan, files
//!    re-read, API requests; then the time from a new file's last write to its upload
//!    starting (the emulator's raw-upload counter moving), with the default 5 s settle.
//! 5. `gphotosd run` restarted over 10 000 folders of one file: time to ready and the
//!    watch mode `gphotosd status --json` reports (native unless inotify runs out).
//!
//! The daemon gets a normal configuration pointed at the emulator. One setting differs from
//! the defaults in phases 1–3: `[upload] requests_per_second = 1000`, because the default
//! (10) caps photos at 10 a second, which on loopback rather than a home uplink would
//! measure the limiter instead of the pipeline; the table says so. The emulator runs with
//! Google's limits (10 000 requests a day, 30 writes a minute, 256 KiB granularity).
//!
//! The page cache is warm (every file was just written and fsynced), for both clients.
//! Environment: `GPHOTOSD_BENCH_SCALE=small` shrinks every phase for a quick check (40
//! photos, 3 × 64 MiB, 512 MiB, 10 000 files, 3 probes); the default is the full issue
//! configuration. `GPHOTOSD_BENCH_ONLY=1,3` runs only the phases listed (while
//! investigating one figure). Test data lives in a temporary directory under `$TMPDIR`, one phase's
//! worth at a time (at most 4.3 GB).

mod baseline;
mod media;
mod procs;
mod restart;
mod table;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gphotosd::auth::{ClientSecret, TokenFile};

use procs::{EmulatorProc, SyncRun};
use table::{Row, Table, Verdict};

const GIB: f64 = (1u64 << 30) as f64;

/// How big each phase is.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub photos: usize,
    pub videos: usize,
    pub video_bytes: u64,
    pub big_bytes: u64,
    pub tree_files: usize,
    pub probes: usize,
}

impl Scale {
    fn from_env() -> Scale {
        match std::env::var("GPHOTOSD_BENCH_SCALE").as_deref() {
            Ok("small") => Scale {
                photos: 40,
                videos: 3,
                video_bytes: 64 << 20,
                big_bytes: 512 << 20,
                tree_files: 10_000,
                probes: 3,
            },
            Ok("full") | Err(_) => Scale {
                photos: 500,
                videos: 3,
                video_bytes: 1 << 30,
                big_bytes: 4 << 30,
                tree_files: 100_000,
                probes: 5,
            },
            Ok(other) => panic!("GPHOTOSD_BENCH_SCALE={other}: use `small` or `full`"),
        }
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs bench binaries without `--bench`: gigabytes of
        // test data are not a test.
        println!("proof: run with `cargo bench -p gphotosd --bench proof`");
        return;
    }
    let scale = Scale::from_env();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("# gphotosd proof benchmark ({scale:?})");
    print_machine();
    let emulator = procs::emulator_binary();
    let work = tempfile::tempdir().expect("temp dir");
    let mut table = Table::default();

    let only = std::env::var("GPHOTOSD_BENCH_ONLY").unwrap_or_default();
    let wanted = |phase: &str| only.is_empty() || only.split(',').any(|p| p.trim() == phase);
    if wanted("1") {
        photos(&rt, &emulator, work.path(), scale, &mut table);
    }
    if wanted("2") {
        videos(&rt, &emulator, work.path(), scale, &mut table);
    }
    if wanted("3") {
        big_file(&rt, &emulator, work.path(), scale, &mut table);
    }
    if wanted("4") {
        restart::run(&rt, &emulator, work.path(), scale, &mut table);
    }
    if wanted("5") {
        restart::wide_tree(&emulator, work.path(), &mut table);
    }

    println!("\nload average at the end: {}", load_average());
    table.print();
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    println!(
        "machine: {} CPUs, {cpu}, {:.1} GiB RAM; {} UTC; load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_kib as f64 / (1 << 20) as f64,
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        load_average()
    );
}

/// `/proc/loadavg`'s first three fields: other work on the machine shows here.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fails early, with the numbers, when the phase's files would not fit.
pub fn ensure_space(dir: &Path, bytes: u64) {
    let fs = rustix::fs::statvfs(dir).expect("statvfs");
    let free = fs.f_bavail * fs.f_frsize;
    let need = bytes + (1 << 30);
    assert!(
        free >= need,
        "{} has {:.1} GB free; this phase needs {:.1} GB (GPHOTOSD_BENCH_SCALE=small needs less)",
        dir.display(),
        free as f64 / 1e9,
        need as f64 / 1e9
    );
}

/// A daemon configuration for one run: a fresh state directory with a token file, the
/// emulator as Google, one watched folder, and `extra` TOML lines for `[upload]`.
pub fn daemon_config(dir: &Path, emu: &EmulatorProc, camera: &Path, upload: &str) -> PathBuf {
    let state = dir.join("state");
    let client = ClientSecret::load(&emu.client_json).expect("client JSON");
    TokenFile::new(&client.client_id, &client.client_secret, &emu.refresh_token)
        .save(&state.join("token.json"))
        .expect("token file");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[google]\nclient_secret_file = {:?}\napi_url = {:?}\n[state]\ndir = {:?}\n\
             [upload]\n{upload}\n[[watch]]\npath = {:?}\n",
            emu.client_json.display().to_string(),
            emu.base_url,
            state.display().to_string(),
            camera.display().to_string()
        ),
    )
    .expect("config");
    config
}

/// The one setting phases 1–3 change (see the module docs).
const UNLIMITED_RATE: &str = "requests_per_second = 1000";

/// One client's figures for one set of files.
struct Measured {
    wall: Duration,
    cpu: Duration,
    requests: u64,
}

impl Measured {
    fn mb_per_s(&self, bytes: u64) -> f64 {
        bytes as f64 / 1e6 / self.wall.as_secs_f64()
    }
    fn cpu_per_gib(&self, bytes: u64) -> f64 {
        self.cpu.as_secs_f64() / (bytes as f64 / GIB)
    }
}

/// Runs `gphotosd sync` over `camera`, then the baseline over `files`, against `emu`.
fn both(
    rt: &tokio::runtime::Runtime,
    emu: &EmulatorProc,
    dir: &Path,
    camera: &Path,
    files: &[PathBuf],
    resumable: bool,
) -> (Measured, Measured, SyncRun) {
    let config = daemon_config(&dir.join("gphotosd"), emu, camera, UNLIMITED_RATE);
    let emu_cpu = || procs::sample(emu.pid()).map(|s| s.cpu).unwrap_or_default();
    let before = rt.block_on(emu.state()).api_requests_today;
    let emu0 = emu_cpu();
    let run = procs::gphotosd_sync(&config);
    assert!(
        run.status.success()
            && run
                .stderr
                .contains(&format!("{} done, 0 failed", files.len())),
        "gphotosd sync did not upload every file ({}):\n{}",
        run.status,
        run.stderr
    );
    let middle = rt.block_on(emu.state()).api_requests_today;
    let emu1 = emu_cpu();
    let ours = Measured {
        wall: run.wall,
        cpu: run.cpu,
        requests: middle - before,
    };

    let cpu0 = procs::own_cpu();
    let t = Instant::now();
    rt.block_on(async {
        let client =
            baseline::Baseline::connect(&emu.base_url, &emu.client_json, &emu.refresh_token).await;
        client.upload_all(files, resumable).await;
    });
    let theirs = Measured {
        wall: t.elapsed(),
        cpu: procs::own_cpu() - cpu0,
        requests: rt.block_on(emu.state()).api_requests_today - middle,
    };
    let emu2 = emu_cpu();
    println!(
        "  emulator CPU: {:.1} s during gphotosd, {:.1} s during the baseline; load average {}",
        (emu1 - emu0).as_secs_f64(),
        (emu2 - emu1).as_secs_f64(),
        load_average()
    );
    (ours, theirs, run)
}

/// Adds the rows every throughput phase shares and prints the phase's lines.
#[allow(clippy::too_many_arguments)]
fn report(
    table: &mut Table,
    what: &str,
    unit: &str,
    items: usize,
    bytes: u64,
    ours: &Measured,
    theirs: &Measured,
    min_ratio: f64,
    max_requests: f64,
    request_note: Option<String>,
) {
    for (who, m) in [("gphotosd", ours), ("baseline", theirs)] {
        println!(
            "  {who}: {:.2} s, {:.0} MB/s, {} API requests ({:.3} per {unit}), CPU {:.2} s ({:.2} s/GiB)",
            m.wall.as_secs_f64(),
            m.mb_per_s(bytes),
            m.requests,
            m.requests as f64 / items as f64,
            m.cpu.as_secs_f64(),
            m.cpu_per_gib(bytes)
        );
    }
    let ratio = ours.mb_per_s(bytes) / theirs.mb_per_s(bytes);
    table.push(Row {
        figure: format!("throughput, {what} (MB/s)"),
        gphotosd: format!("{:.0}", ours.mb_per_s(bytes)),
        baseline: format!("{:.0}", theirs.mb_per_s(bytes)),
        ratio: format!("{ratio:.2}×"),
        target: format!("≥ {min_ratio}× baseline"),
        verdict: Verdict::at_least(ratio, min_ratio),
        note: None,
    });
    let per_item = |m: &Measured| m.requests as f64 / items as f64;
    table.push(Row {
        figure: format!("API requests per {unit}, {what}"),
        gphotosd: format!("{:.3}", per_item(ours)),
        baseline: format!("{:.3}", per_item(theirs)),
        ratio: format!("{:.2}×", per_item(ours) / per_item(theirs)),
        target: format!("≤ {max_requests}"),
        verdict: Verdict::at_most(per_item(ours), max_requests),
        note: request_note,
    });
    table.push(Row {
        figure: format!("CPU s per GiB, {what}"),
        gphotosd: format!("{:.2}", ours.cpu_per_gib(bytes)),
        baseline: format!("{:.2}", theirs.cpu_per_gib(bytes)),
        ratio: format!(
            "{:.2}×",
            ours.cpu_per_gib(bytes) / theirs.cpu_per_gib(bytes)
        ),
        target: "report".to_owned(),
        verdict: Verdict::Info,
        note: None,
    });
}

fn photos(
    rt: &tokio::runtime::Runtime,
    emulator: &Path,
    work: &Path,
    scale: Scale,
    table: &mut Table,
) {
    let dir = work.join("photos");
    let camera = dir.join("camera");
    ensure_space(work, scale.photos as u64 * 8_000_000);
    println!("\n## 1. {} photos of 2–8 MB", scale.photos);
    let t = Instant::now();
    let (files, bytes) = media::write_photos(&camera, scale.photos, 2_000_000, 8_000_000);
    println!(
        "  {:.2} GB written and fsynced in {:.1} s",
        bytes as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let emu = EmulatorProc::start(emulator, &dir.join("emulator"));
    let (ours, theirs, _) = both(rt, &emu, &dir, &camera, &files, false);
    let what = format!("{} photos 2–8 MB", scale.photos);
    report(
        table,
        &what,
        "photo",
        files.len(),
        bytes,
        &ours,
        &theirs,
        1.0,
        1.05,
        None,
    );
    check_emulator(rt, &emu, table, &what, files.len());
    drop(emu);
    std::fs::remove_dir_all(&dir).expect("clean up photos");
}

fn videos(
    rt: &tokio::runtime::Runtime,
    emulator: &Path,
    work: &Path,
    scale: Scale,
    table: &mut Table,
) {
    let dir = work.join("videos");
    let camera = dir.join("camera");
    std::fs::create_dir_all(&camera).expect("camera");
    ensure_space(work, scale.videos as u64 * scale.video_bytes);
    let size = scale.video_bytes as f64 / GIB;
    println!("\n## 2. {} videos of {size} GiB", scale.videos);
    let t = Instant::now();
    let files: Vec<PathBuf> = (0..scale.videos)
        .map(|i| {
            let path = camera.join(format!("GX01{i:04}.MP4"));
            media::write_video(&path, scale.video_bytes, 7_000 + i as u64);
            path
        })
        .collect();
    let bytes = scale.videos as u64 * scale.video_bytes;
    println!(
        "  {:.2} GB written and fsynced in {:.1} s",
        bytes as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let emu = EmulatorProc::start(emulator, &dir.join("emulator"));
    let (ours, theirs, _) = both(rt, &emu, &dir, &camera, &files, true);
    let n = scale.videos as f64;
    // Each video needs `start` + one `upload, finalize`, and at least one batchCreate is
    // shared by all of them.
    let floor = (2.0 * n + 1.0) / n;
    let note = (floor > 2.05).then(|| {
        format!(
            "with {} videos no client can reach 2.05: 2 upload requests each plus one \
             shared batchCreate is ({}×2+1)/{} = {floor:.2}; the figure tends to 2.02 at 50 \
             videos per batchCreate",
            scale.videos, scale.videos, scale.videos
        )
    });
    let what = format!("{} videos of {size} GiB", scale.videos);
    report(
        table,
        &what,
        "video",
        files.len(),
        bytes,
        &ours,
        &theirs,
        0.9,
        2.05,
        note,
    );
    check_emulator(rt, &emu, table, &what, files.len());
    drop(emu);
    std::fs::remove_dir_all(&dir).expect("clean up videos");
}

fn big_file(
    rt: &tokio::runtime::Runtime,
    emulator: &Path,
    work: &Path,
    scale: Scale,
    table: &mut Table,
) {
    let dir = work.join("big");
    let camera = dir.join("camera");
    std::fs::create_dir_all(&camera).expect("camera");
    ensure_space(work, scale.big_bytes);
    let size = scale.big_bytes as f64 / GIB;
    println!("\n## 3. one {size} GiB video");
    let t = Instant::now();
    media::write_video(&camera.join("GX019999.MP4"), scale.big_bytes, 9_999);
    println!(
        "  written and fsynced in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let emu = EmulatorProc::start(emulator, &dir.join("emulator"));
    let config = daemon_config(&dir.join("gphotosd"), &emu, &camera, UNLIMITED_RATE);
    let run = procs::gphotosd_sync(&config);
    assert!(
        run.status.success() && run.stderr.contains("1 done, 0 failed"),
        "gphotosd sync failed ({}):\n{}",
        run.status,
        run.stderr
    );
    let peak_mb = run.peak_rss_kib as f64 * 1024.0 / 1e6;
    let cpu_per_gib = run.cpu.as_secs_f64() / size;
    println!(
        "  gphotosd: {:.2} s, {:.0} MB/s, peak RSS {peak_mb:.1} MB, CPU {:.2} s ({cpu_per_gib:.2} s/GiB); load average {}",
        run.wall.as_secs_f64(),
        scale.big_bytes as f64 / 1e6 / run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        load_average()
    );
    let what = format!("one {size} GiB video");
    table.push(Row {
        figure: format!("peak RSS of gphotosd, {what} (MB)"),
        gphotosd: format!("{peak_mb:.1}"),
        baseline: "—".to_owned(),
        ratio: "—".to_owned(),
        target: "< 64".to_owned(),
        verdict: Verdict::at_most(peak_mb, 64.0),
        note: None,
    });
    table.push(Row {
        figure: format!("CPU s per GiB, {what}"),
        gphotosd: format!("{cpu_per_gib:.2}"),
        baseline: "—".to_owned(),
        ratio: "—".to_owned(),
        target: "report".to_owned(),
        verdict: Verdict::Info,
        note: None,
    });
    check_emulator(rt, &emu, table, &what, 1);
    drop(emu);
    std::fs::remove_dir_all(&dir).expect("clean up the big file");
}

/// Every file became exactly one item, and neither client broke a protocol rule.
fn check_emulator(
    rt: &tokio::runtime::Runtime,
    emu: &EmulatorProc,
    table: &mut Table,
    what: &str,
    files: usize,
) {
    let state = rt.block_on(emu.state());
    for v in &state.violations {
        println!("  emulator violation: {v}");
    }
    let ok = state.violations.is_empty() && state.items.len() == files;
    table.push(Row {
        figure: format!("items in the library / protocol violations, {what}"),
        gphotosd: format!("{} / {}", state.items.len(), state.violations.len()),
        baseline: "(same emulator)".to_owned(),
        ratio: "—".to_owned(),
        target: format!("{files} / 0"),
        verdict: if ok { Verdict::Pass } else { Verdict::Miss },
        note: None,
    });
}
