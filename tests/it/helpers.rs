//! Fixtures for the integration tests: an emulator on 127.0.0.1:0, a temporary camera
//! folder, config and token file, and the real `gphotosd` binary run against them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gphotos_emulator::{Config as EmulatorConfig, Emulator, Endpoint, Fault, FaultAction};
use gphotosd::store::{Db, FileRow};
use tempfile::TempDir;

pub const APPENDONLY: &str = "https://www.googleapis.com/auth/photoslibrary.appendonly";
pub const READ_APP_CREATED: &str =
    "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata";

/// The committed test media.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The media fixtures that must end up in Google Photos.
pub const MEDIA: &[&str] = &[
    "GOPR0001.JPG",
    "IMG_0002.JPG",
    "IMG_0003.PNG",
    "IMG_0004.HEIC",
    "IMG_0005.WEBP",
    "GX010001.MP4",
    "GX020001.MP4",
    "MVI_0006.MOV",
];

/// The fixtures that must not be uploaded.
pub const CLUTTER: &[&str] = &[
    "GL010001.LRV",
    "GX010001.THM",
    "CORRUPT.JPG",
    "EMPTY.JPG",
    "notes.txt",
];

/// Hex SHA-256 of a file, as the emulator reports received bytes.
pub fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).unwrap();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls `cond` until it holds or `timeout` passes (then panics with `what`).
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A temporary installation: emulator, folders, config, token file.
pub struct Setup {
    pub dir: TempDir,
    pub emu: Emulator,
    /// The first watched folder (no album).
    pub camera: PathBuf,
    pub state: PathBuf,
    pub config_path: PathBuf,
}

/// Settings that keep tests fast: short backoffs and batch idle, and no settle period —
/// the files of these tests are complete copies made just before gphotosd starts, which
/// `sync` would otherwise leave for the next run. Tests of settling set their own.
const FAST: &str = r#"
[upload]
workers = 2
requests_per_second = 200
retry_base = "100ms"
retry_max = "1s"
quota_backoff = "200ms"
[create]
idle = "200ms"
[scan]
interval = "1s"
settle = "0s"
"#;

impl Setup {
    /// An installation with a default emulator.
    pub async fn new() -> Setup {
        Setup::with_emulator(EmulatorConfig::default()).await
    }

    /// An installation against an emulator configured as given.
    pub async fn with_emulator(config: EmulatorConfig) -> Setup {
        let emu = Emulator::start(config).await.expect("emulator starts");
        let dir = tempfile::tempdir().unwrap();
        let camera = dir.path().join("camera");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&camera).unwrap();
        let client_path = dir.path().join("client_secret.json");
        std::fs::write(&client_path, emu.installed_client_json().to_string()).unwrap();
        let setup = Setup {
            config_path: dir.path().join("config.toml"),
            dir,
            emu,
            camera,
            state,
        };
        setup.grant_token(&[APPENDONLY, READ_APP_CREATED]);
        setup.write_config("");
        setup
    }

    /// Writes a token file holding a fresh refresh token with `scopes`.
    pub fn grant_token(&self, scopes: &[&str]) -> String {
        let refresh = self.emu.grant_refresh_token(scopes);
        let file = gphotosd::auth::TokenFile::new(
            &self.emu.client_id(),
            &self.emu.client_secret(),
            &refresh,
        );
        file.save(&self.state.join("token.json")).unwrap();
        refresh
    }

    /// Writes config.toml: the emulator, the state dir, the camera folder, fast settings,
    /// then `extra` (later keys of the same section are not allowed in TOML, so `extra`
    /// holds only new sections, [[watch]] entries, or replaces FAST via `raw_config`).
    pub fn write_config(&self, extra: &str) {
        self.write_raw_config(&format!("{FAST}\n{extra}"));
    }

    /// Writes config.toml with `sections` instead of the fast defaults.
    pub fn write_raw_config(&self, sections: &str) {
        self.write_full_config("", "", sections);
    }

    /// Writes config.toml with `google` as more `[google]` keys and `sections` instead of
    /// the fast defaults.
    pub fn write_config_with_google(&self, google: &str, sections: &str) {
        self.write_full_config(google, "", sections);
    }

    /// Writes config.toml as [`Setup::write_config`] does, with `keys` (TOML lines) in the
    /// camera folder's `[[watch]]` entry.
    pub fn write_camera_config(&self, keys: &str, extra: &str) {
        self.write_full_config("", keys, &format!("{FAST}\n{extra}"));
    }

    fn write_full_config(&self, google: &str, keys: &str, sections: &str) {
        let text = format!(
            r#"
[google]
client_secret_file = "{client}"
api_url = "{api}"
{google}
[state]
dir = "{state}"
[[watch]]
path = "{camera}"
{keys}
{sections}
"#,
            client = self.dir.path().join("client_secret.json").display(),
            api = self.emu.base_url(),
            state = self.state.display(),
            camera = self.camera.display(),
        );
        std::fs::write(&self.config_path, text).unwrap();
    }

    /// Copies fixtures into `folder` (relative to the camera folder when relative), as
    /// finished copies: modified a minute ago, longer than any test's `[scan] settle`, so
    /// a `sync` right after takes them (it leaves files modified within settle alone).
    pub fn add_fixtures(&self, folder: &Path, names: &[&str]) -> Vec<PathBuf> {
        std::fs::create_dir_all(folder).unwrap();
        names
            .iter()
            .map(|n| {
                let to = folder.join(n);
                std::fs::copy(fixture(n), &to).unwrap();
                backdate(&to, Duration::from_secs(60));
                to
            })
            .collect()
    }

    /// Runs `gphotosd sync` to the end.
    pub async fn sync(&self) -> Run {
        let out = self.command("sync").output().await.expect("gphotosd runs");
        Run {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `gphotosd sync` without waiting.
    pub fn spawn_sync(&self) -> Daemon {
        self.spawn("sync")
    }

    /// Starts `gphotosd run`.
    pub fn spawn_daemon(&self) -> Daemon {
        self.spawn("run")
    }

    fn spawn(&self, sub: &str) -> Daemon {
        self.spawn_command(self.command(sub), sub)
    }

    /// Starts `gphotosd SUB` as [`Setup::command_unprivileged`] runs it.
    pub fn spawn_unprivileged(&self, sub: &str) -> Daemon {
        self.spawn_command(self.command_unprivileged(sub), sub)
    }

    fn spawn_command(&self, mut cmd: tokio::process::Command, sub: &str) -> Daemon {
        let log = self.dir.path().join(format!("{sub}-{}.log", rand_suffix()));
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stderr(Stdio::from(file))
            .spawn()
            .expect("gphotosd starts");
        Daemon { child, log }
    }

    /// The binary with this setup's config.
    pub fn command(&self, sub: &str) -> tokio::process::Command {
        self.configure(
            tokio::process::Command::new(env!("CARGO_BIN_EXE_gphotosd")),
            sub,
        )
    }

    /// The binary with this setup's config, unable to read what file modes forbid, as an
    /// unprivileged service user: root (tests often run as root) reads anything, so it
    /// runs under `setpriv` without the capabilities that let it.
    pub fn command_unprivileged(&self, sub: &str) -> tokio::process::Command {
        if !running_as_root() {
            return self.command(sub);
        }
        let mut cmd = tokio::process::Command::new("setpriv");
        cmd.args([
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
            env!("CARGO_BIN_EXE_gphotosd"),
        ]);
        self.configure(cmd, sub)
    }

    fn configure(&self, mut cmd: tokio::process::Command, sub: &str) -> tokio::process::Command {
        cmd.arg("--config")
            .arg(&self.config_path)
            .arg(sub)
            .env("RUST_LOG", "gphotosd=debug")
            .env_remove("GPHOTOSD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// The database, read-only.
    /// A finished video-sized file `name` in the camera folder: a real MP4 header, then
    /// pseudo-random bytes from `seed` up to `mib` MiB.
    pub fn big_video(&self, name: &str, mib: usize, seed: u64) -> PathBuf {
        let mut bytes = std::fs::read(fixture("GX020001.MP4")).unwrap();
        let mut x = seed | 1;
        while bytes.len() < mib << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let path = self.camera.join(name);
        std::fs::write(&path, bytes).unwrap();
        backdate(&path, Duration::from_secs(60)); // a finished copy: sync takes it at once
        path
    }

    /// `path` is the library's one item, with its bytes, its row `done`, and the emulator
    /// saw no protocol violation.
    pub fn assert_created_once(&self, path: &Path) {
        let state = self.emu.state();
        assert_eq!(state.items.len(), 1, "items: {:?}", state.items);
        assert_eq!(state.items[0].sha256, sha256_hex(path));
        assert!(state.violations.is_empty(), "{:?}", state.violations);
        assert_eq!(self.row(path).state, gphotosd::store::FileState::Done);
    }

    /// The next batchCreate item gets Google's final `BAD_IMAGE` refusal.
    pub fn refuse_next_item_as_bad_image(&self) {
        self.emu.inject(Fault::new(
            Endpoint::BatchCreate,
            FaultAction::ItemStatus {
                code: 3,
                message: "BAD_IMAGE: There was an error while trying to create this media item."
                    .into(),
            },
        ));
    }

    /// `gphotosd status --json`, or what it said when it failed.
    pub async fn try_status_json(&self) -> Result<serde_json::Value, String> {
        let out = self.command("status").arg("--json").output().await.unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(serde_json::from_slice(&out.stdout).expect("status --json prints JSON"))
    }

    /// `gphotosd status --json`, which must succeed.
    pub async fn status_json(&self) -> serde_json::Value {
        self.try_status_json()
            .await
            .unwrap_or_else(|e| panic!("status --json failed: {e}"))
    }

    pub fn db(&self) -> Db {
        Db::open_read_only(&self.state.join("gphotosd.db")).expect("database exists")
    }

    /// The row of `path`.
    pub fn row(&self, path: &Path) -> FileRow {
        self.db()
            .file_by_path(path)
            .unwrap()
            .unwrap_or_else(|| panic!("no row for {}", path.display()))
    }

    /// Asserts `path` is done as another name of a media item the emulator holds (no
    /// upload of its own).
    pub fn assert_alias_of_existing_item(&self, path: &Path) {
        let row = self.row(path);
        assert_eq!(
            row.state,
            gphotosd::store::FileState::Done,
            "{}",
            path.display()
        );
        assert!(row.alias_of.is_some(), "{} is an alias", path.display());
        let id = row.media_item_id.expect("media item recorded");
        assert!(
            self.emu.state().items.iter().any(|i| i.id == id),
            "{id} exists"
        );
    }

    /// Waits until the database exists and `cond` holds on it.
    pub async fn wait_db(&self, what: &str, timeout: Duration, mut cond: impl FnMut(&Db) -> bool) {
        let path = self.state.join("gphotosd.db");
        wait_until(what, timeout, || {
            path.exists() && Db::open_read_only(&path).is_ok_and(|db| cond(&db))
        })
        .await;
    }
}

/// Sets the modification time of the file at `path` to `ago` before now.
pub fn backdate(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - ago)
        .unwrap();
}

/// Whether this process runs as root (then file modes do not stop reads).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stderr: String,
}

impl Run {
    /// Panics with the log unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "gphotosd exited {:?}:\n{}",
            self.code,
            self.stderr
        );
        self
    }
}

/// A running `gphotosd`; killed on drop.
pub struct Daemon {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

impl Daemon {
    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("still running") as i32;
        // SAFETY-free: libc::kill is a plain syscall wrapper; no memory is shared.
        let rc = unsafe_free_kill(pid, signal);
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the process to exit, at most `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("gphotosd did not exit in time:\n{}", self.log()))
            .unwrap();
        status.code()
    }
}

/// `kill(2)` through the `kill` command, keeping the tests free of `unsafe`.
fn unsafe_free_kill(pid: i32, signal: i32) -> i32 {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    if status.success() { 0 } else { 1 }
}

/// A running `gphotosd auth`, its output collected as it comes.
pub struct AuthSession {
    pub child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    auth_uri: String,
}

/// A finished `gphotosd auth`.
#[derive(Debug)]
pub struct AuthRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl AuthRun {
    /// Panics with the output unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "gphotosd auth exited {:?}:\n{self}",
            self.code
        );
        self
    }

    /// Panics unless stderr contains every one of `parts`.
    pub fn expect_error(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(
                self.stderr.contains(part),
                "no {part:?} in the error:\n{self}"
            );
        }
        self
    }
}

impl std::fmt::Display for AuthRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

impl Setup {
    /// Starts `gphotosd auth ARGS` with stdin open for pasting, logging at `rust_log`.
    pub fn spawn_auth(&self, args: &[&str], rust_log: &str) -> AuthSession {
        let mut child = self
            .command("auth")
            .args(args)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::piped())
            .spawn()
            .expect("gphotosd auth starts");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        AuthSession {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
            auth_uri: self.emu.auth_uri(),
        }
    }

    /// Runs `gphotosd auth ARGS` to the end with nothing on stdin.
    pub async fn auth(&self, args: &[&str]) -> AuthRun {
        let mut session = self.spawn_auth(args, "gphotosd=debug");
        session.close_stdin();
        session.finish().await
    }
}

fn collect(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: std::sync::Arc<std::sync::Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::AsyncBufReadExt;
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut out = into.lock().unwrap();
            out.push_str(&line);
            out.push('\n');
        }
    })
}

impl AuthSession {
    /// The consent URL, once `gphotosd auth` has printed it on a line of its own.
    pub async fn url(&self) -> String {
        let find = || {
            self.stdout
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.starts_with(&self.auth_uri))
                .map(str::to_owned)
        };
        wait_until(
            "gphotosd auth prints the URL",
            Duration::from_secs(30),
            || find().is_some(),
        )
        .await;
        find().unwrap()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Types `line` and Enter into the terminal.
    pub async fn paste(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Ends input, as when no terminal is attached.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (at most 30 s) for the exit and returns everything it printed.
    pub async fn finish(mut self) -> AuthRun {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "gphotosd auth did not exit in time:\n--- stdout\n{}--- stderr\n{}",
                    self.stdout.lock().unwrap(),
                    self.stderr()
                )
            })
            .unwrap();
        for reader in self.readers.drain(..) {
            reader.await.unwrap();
        }
        AuthRun {
            code: status.code(),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr(),
        }
    }
}

/// What a browser does with the consent URL: an HTTP client that shows redirects instead
/// of following them, so a test can deliver the redirect itself (or paste it).
pub struct Browser {
    http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Opens the consent page (the emulator consents at once); returns where Google
    /// redirects to.
    pub async fn consent(&self, url: &str) -> String {
        let resp = self.http.get(url).send().await.expect("consent page loads");
        assert_eq!(
            resp.status().as_u16(),
            302,
            "consent page answered {resp:?}"
        );
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Loads `url`; returns status and body.
    pub async fn open(&self, url: &str) -> (u16, String) {
        let resp = self.http.get(url).send().await.expect("page loads");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }
}
