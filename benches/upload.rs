//! Upload benchmark: the real `gphotosd sync` against the in-process emulator.
//!
//! Prints throughput of one large resumable upload, peak RSS of the daemon process during
//! it (memory must stay flat whatever the file size), and the rate and request cost of many
//! small photos. Run with `cargo bench -p gphotosd --bench upload` (release build).
//! `GPHOTOSD_BENCH_MIB` sets the large file's size (default 1024).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use gphotos_emulator::{Config as EmulatorConfig, Emulator};
use gphotosd::auth::{SCOPE_APPENDONLY, TokenFile};

fn write_config(dir: &Path, emu: &Emulator, camera: &Path) -> std::path::PathBuf {
    let client = dir.join("client_secret.json");
    std::fs::write(&client, emu.installed_client_json().to_string()).unwrap();
    let state = dir.join("state");
    let refresh = emu.grant_refresh_token(&[SCOPE_APPENDONLY]);
    TokenFile::new(&emu.client_id(), &emu.client_secret(), &refresh)
        .save(&state.join("token.json"))
        .unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[google]\nclient_secret_file = \"{}\"\napi_url = \"{}\"\n[state]\ndir = \"{}\"\n\
             [upload]\nrequests_per_second = 1000\n[create]\nidle = \"300ms\"\n\
             [[watch]]\npath = \"{}\"\n",
            client.display(),
            emu.base_url(),
            state.display(),
            camera.display()
        ),
    )
    .unwrap();
    config
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs `gphotosd sync`, sampling its peak RSS until it exits.
fn sync(config: &Path) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gphotosd"))
        .arg("--config")
        .arg(config)
        .arg("sync")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "gphotosd sync failed");
            return (started.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn big_file(path: &Path, mib: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    // A real MP4 header so the content check passes, then non-repeating filler.
    f.write_all(&[
        0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'm', b'p', b'4', b'2',
    ])
    .unwrap();
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
}

fn main() {
    let mib: u64 = std::env::var("GPHOTOSD_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emu = runtime
        .block_on(Emulator::start(EmulatorConfig::default()))
        .unwrap();

    // One large video: resumable, streamed, hashed on the way.
    let dir = tempfile::tempdir().unwrap();
    let camera = dir.path().join("camera");
    std::fs::create_dir_all(&camera).unwrap();
    big_file(&camera.join("GX019999.MP4"), mib);
    let config = write_config(dir.path(), &emu, &camera);
    let (took, peak_kib) = sync(&config);
    let bytes = (mib << 20) as f64;
    println!(
        "large upload: {mib} MiB in {:.2} s = {:.0} MB/s; gphotosd peak RSS {:.1} MiB",
        took.as_secs_f64(),
        bytes / took.as_secs_f64() / 1e6,
        peak_kib as f64 / 1024.0
    );

    // Many small photos: requests per photo and photos per second.
    let before = emu.state().api_requests_today;
    let dir2 = tempfile::tempdir().unwrap();
    let camera = dir2.path().join("camera");
    std::fs::create_dir_all(&camera).unwrap();
    let jpeg = include_bytes!("../tests/fixtures/IMG_0002.JPG");
    let n = 500u32;
    for i in 0..n {
        let mut bytes = jpeg.to_vec();
        bytes.extend_from_slice(&i.to_be_bytes());
        std::fs::write(camera.join(format!("IMG_{i:05}.JPG")), bytes).unwrap();
    }
    let config = write_config(dir2.path(), &emu, &camera);
    let (took, peak_kib) = sync(&config);
    let requests = emu.state().api_requests_today - before;
    println!(
        "small photos: {n} in {:.2} s = {:.0} photos/s; {:.3} API requests per photo; peak RSS {:.1} MiB",
        took.as_secs_f64(),
        f64::from(n) / took.as_secs_f64(),
        requests as f64 / f64::from(n),
        peak_kib as f64 / 1024.0
    );
    runtime.block_on(emu.shutdown());
}
