//! The two processes under measurement: the `gphotos-emulator` binary and the `gphotosd`
//! binary, each its own process as in production, and what `/proc` says about them.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gphotos_emulator::State;

/// How often a running daemon's `/proc` entry is read. `VmHWM` is a high-water mark, so
/// sampling loses no peak except one reached in the last interval before exit.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Builds the release emulator binary (cargo does nothing when it is current) and returns
/// its path. `cargo bench -p gphotosd` builds only this package's binaries; the emulator's
/// binary belongs to another package of the workspace.
pub fn emulator_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--release",
            "-p",
            "gphotos-emulator",
            "--bin",
            "gphotos-emulator",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building gphotos-emulator failed");
    // This bench runs from <target>/release/deps/.
    let exe = std::env::current_exe().expect("own path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/release")
        .join("gphotos-emulator");
    assert!(bin.is_file(), "{} is missing", bin.display());
    bin
}

/// A running emulator process; stopped with SIGTERM on drop.
pub struct EmulatorProc {
    child: Child,
    pub base_url: String,
    pub client_json: PathBuf,
    pub refresh_token: String,
    http: reqwest::Client,
}

impl EmulatorProc {
    /// Starts the emulator with Google's default limits, writing its client JSON and a
    /// refresh token into `dir`.
    pub fn start(bin: &Path, dir: &Path) -> EmulatorProc {
        std::fs::create_dir_all(dir).expect("emulator dir");
        let client_json = dir.join("client_secret.json");
        let refresh_file = dir.join("refresh_token");
        let mut child = Command::new(bin)
            .arg("--client-json")
            .arg(&client_json)
            .arg("--refresh-token-file")
            .arg(&refresh_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("emulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("emulator prints its address");
        let base_url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the emulator: {line:?}"))
            .to_owned();
        let refresh_token = std::fs::read_to_string(&refresh_file)
            .expect("refresh token written")
            .trim()
            .to_owned();
        EmulatorProc {
            child,
            base_url,
            client_json,
            refresh_token,
            http: reqwest::Client::builder().build().expect("HTTP client"),
        }
    }

    /// `GET /__emulator/state` (never counted as an API request).
    pub async fn state(&self) -> State {
        self.http
            .get(format!("{}/__emulator/state", self.base_url))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("emulator state")
            .json()
            .await
            .expect("state JSON")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EmulatorProc {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// SIGTERM (a graceful stop, as systemd does it), then wait for the exit.
pub fn terminate(child: &mut Child) {
    // kill(1) rather than kill(2): the workspace forbids `unsafe`.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Clock ticks per second, the unit of `/proc/PID/stat`'s times.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// What `/proc/PID/stat` and `status` say about a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Single-letter state; `Z` once it has exited but is not reaped.
    pub state: char,
    /// user + system time of all its threads.
    pub cpu: Duration,
    /// `VmHWM` in KiB (absent for a zombie: 0).
    pub peak_rss_kib: u64,
    /// `rchar` of `/proc/PID/io`: bytes it read with read(2) and friends.
    pub read_bytes: u64,
}

/// Reads the process's `/proc` entry; `None` once it is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = clock_ticks().max(1);
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let cpu = Duration::from_secs_f64((utime + stime) as f64 / ticks as f64);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let read_bytes = io
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Some(Sample {
        state: fields.first()?.chars().next()?,
        cpu,
        peak_rss_kib: kib("VmHWM:"),
        read_bytes,
    })
}

/// CPU time of this process so far (the baseline runs in it).
pub fn own_cpu() -> Duration {
    sample(std::process::id())
        .map(|s| s.cpu)
        .unwrap_or_default()
}

/// One `gphotosd sync` from start to exit.
pub struct SyncRun {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_kib: u64,
    pub status: ExitStatus,
    pub stderr: String,
}

/// Runs `gphotosd --config CONFIG sync` (warnings only on stderr) and follows it in
/// `/proc` until it exits: its CPU time is read from the zombie's entry, which still holds
/// the total of all its threads, before it is reaped.
pub fn gphotosd_sync(config: &Path) -> SyncRun {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gphotosd"))
        .arg("--config")
        .arg(config)
        .arg("sync")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gphotosd starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = child.id();
    // Only this function reaps the child, so its entry stays until `wait` below.
    let mut last = Sample::default();
    let mut peak = 0;
    while let Some(s) = sample(pid) {
        peak = peak.max(s.peak_rss_kib);
        last = s;
        if s.state == 'Z' {
            break;
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    let status = child.wait().expect("gphotosd exits");
    let wall = started.elapsed();
    SyncRun {
        wall,
        cpu: last.cpu,
        peak_rss_kib: peak,
        status,
        stderr: reader.join().unwrap_or_default(),
    }
}

/// A `gphotosd run` daemon whose stderr lines arrive with the time they were read.
pub struct Daemon {
    pub child: Child,
    pub started: Instant,
    pub lines: mpsc::Receiver<(Instant, String)>,
}

impl Daemon {
    /// Starts `gphotosd --config CONFIG run` with info logs from gphotosd itself (its
    /// "ready" and "scanned watched folders" lines mark the restart's milestones).
    pub fn start(config: &Path) -> Daemon {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gphotosd"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("RUST_LOG", "gphotosd=info,warn")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gphotosd starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Daemon {
            child,
            started,
            lines,
        }
    }

    /// Waits for a log line containing `needle`; returns when it was read and the line.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> (Instant, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if line.contains(needle) => return (at, line),
                Ok((_, line)) if line.contains("ERROR") => panic!("gphotosd: {line}"),
                Ok(_) => {}
                Err(_) => panic!("gphotosd did not log {needle:?} within {timeout:?}"),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}
