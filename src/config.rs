//! The TOML configuration: [`Config`] and its sections, parsed strictly.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default on a box that
//! runs for years), and every error names the file, the line and the key. Every key has a
//! default except the ones a user must choose (`[google] client_secret_file`, `[state] dir`,
//! at least one `[[watch]]`). `config.example.toml` documents every key and is parsed by a test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// The production Google Photos Library API base URL.
pub const GOOGLE_API_URL: &str = "https://photoslibrary.googleapis.com";

/// Everything `gphotosd` reads from its configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where Google is and who we are to it.
    pub google: GoogleConfig,
    /// Where the database, token file and lock live.
    pub state: StateConfig,
    /// How bytes are sent.
    #[serde(default)]
    pub upload: UploadConfig,
    /// How media items are created from upload tokens.
    #[serde(default)]
    pub create: CreateConfig,
    /// How folders are scanned.
    #[serde(default)]
    pub scan: ScanConfig,
    /// How `gphotosd auth` waits for Google's answer.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The folders to upload from.
    #[serde(default)]
    pub watch: Vec<WatchConfig>,
    /// Where this configuration was read from (not a TOML key); relative paths resolve
    /// against its directory.
    #[serde(skip)]
    pub source: PathBuf,
}

/// `[google]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    /// Google's OAuth client JSON for an installed ("Desktop app") client.
    pub client_secret_file: PathBuf,
    /// Base URL of the Photos Library API; tests point it at the emulator.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// TCP connect timeout for every request to Google.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long a request may go without anything moving before it is abandoned: for
    /// uploads, no body bytes taken by the connection (our own bandwidth cap excepted) and
    /// no answer; for other requests, no byte received. Never a cap on a whole upload.
    #[serde(default = "default_read_timeout", with = "humantime_serde")]
    pub read_timeout: Duration,
}

/// `[state]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory of the database, the token file and the lock. Created 0700 if missing.
    pub dir: PathBuf,
}

/// `[upload]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// Parallel uploads.
    pub workers: usize,
    /// Files up to this size go as one raw POST (one request); larger ones use a
    /// resumable session (two requests, resumable after interruptions).
    pub raw_threshold: ByteSize,
    /// 0: send a resumable upload in one request. Otherwise the chunk size, rounded up to
    /// the server's granularity, for networks that cut long requests.
    pub chunk_size: ByteSize,
    /// Requests per second to Google, over all workers.
    pub requests_per_second: u32,
    /// Upload bandwidth cap in bytes per second; 0 means unlimited.
    pub max_bytes_per_second: ByteSize,
    /// Requests per Pacific day this installation may spend (Google's project quota is
    /// 10 000). Work pauses before the budget is crossed and resumes after midnight Pacific.
    pub daily_request_budget: u64,
    /// First delay after a transient error; doubles per attempt, with jitter.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest delay between attempts.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Delay after Google says a per-minute quota is exhausted (Google asks for 30 s or more).
    #[serde(with = "humantime_serde")]
    pub quota_backoff: Duration,
    /// Transient failures of one file before it is marked failed. A resumable attempt
    /// after which the server holds more bytes than before resets the count.
    pub max_attempts: u32,
    /// Upload tokens older than this are not sent to batchCreate; the file is uploaded
    /// again (Google keeps tokens for one day).
    #[serde(with = "humantime_serde")]
    pub token_max_age: Duration,
    /// How often a paused pipeline (storage full, daily quota) looks again.
    #[serde(with = "humantime_serde")]
    pub pause_recheck: Duration,
}

/// `[create]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreateConfig {
    /// Items per batchCreate call (Google allows 50).
    pub batch_size: usize,
    /// How long the creator waits for more uploads before sending a partial batch.
    #[serde(with = "humantime_serde")]
    pub idle: Duration,
}

/// `[scan]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// How often `gphotosd run` walks every watched folder again to reconcile it with the
    /// database (file events can be lost: queue overflow, network filesystems).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How `gphotosd run` notices new files between those walks.
    pub watch_mode: WatchMode,
    /// A file is queued only once its size and mtime have not changed for this long (and
    /// its writer closed it, where inotify tells), so a file still being copied is not.
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// How often the poll backend walks a folder, and how often a missing watched folder
    /// (unmounted disk or share) is looked for. A file found by polling is queued only once
    /// two polls saw it unchanged: its quiet period is at least this long.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A file whose structure says bytes are missing (a truncated MP4/MOV/HEIC, a PNG
    /// without its end, …) is not queued while it was modified within this period: a
    /// writer that paused longer than `settle` is not done. Unchanged this long, it is
    /// uploaded as it is.
    #[serde(with = "humantime_serde")]
    pub incomplete_wait: Duration,
}

/// `[scan] watch_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// inotify, except on network filesystems (NFS, SMB/CIFS, 9p, Ceph, AFS), which do not
    /// report changes made by other machines, and when inotify fails (watch limit): poll.
    #[default]
    Auto,
    /// inotify only; when it fails, only the periodic scans find new files.
    Native,
    /// Walk the folders every `poll_interval`.
    Poll,
}

/// `[[watch]] after_upload`: what happens to a file once its media item exists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum AfterUpload {
    /// Leave it where it is.
    #[default]
    Keep,
    /// Delete it.
    Delete,
    /// Move it into this folder, keeping its path below the watched folder.
    Move(PathBuf),
}

impl AfterUpload {
    /// The action as the queue stores it with each file (`None` for keep).
    pub fn stored_action(&self) -> Option<String> {
        match self {
            AfterUpload::Keep => None,
            AfterUpload::Delete => Some("delete".to_owned()),
            AfterUpload::Move(dir) => Some(format!("move:{}", dir.display())),
        }
    }
}

impl TryFrom<String> for AfterUpload {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "keep" => Ok(AfterUpload::Keep),
            "delete" => Ok(AfterUpload::Delete),
            _ => match s.strip_prefix("move:") {
                Some(dir) if !dir.trim().is_empty() => Ok(AfterUpload::Move(PathBuf::from(dir))),
                _ => Err(format!(
                    "`{s}` is not one of \"keep\", \"delete\", \"move:<folder>\""
                )),
            },
        }
    }
}

/// `[auth]`: the interactive `gphotosd auth` command; the daemon ignores it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Port on 127.0.0.1 that receives the browser's redirect. 0 picks a free one; a fixed
    /// port lets a headless box be reached through `ssh -L PORT:127.0.0.1:PORT`.
    pub listen_port: u16,
    /// How long `gphotosd auth` waits for the browser or a pasted URL before giving up.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// One `[[watch]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Folder to upload from, recursively.
    pub path: PathBuf,
    /// Album for everything uploaded from here: a title, or a template with `{folder}`
    /// (the file's folder name), `{year}` and `{month}` (when it was taken, from EXIF or
    /// QuickTime metadata, else its mtime). The app creates each album once.
    #[serde(default)]
    pub album: Option<String>,
    /// Globs; when any is given, only files matching one are uploaded. A pattern without
    /// `/` matches the file name, one with `/` the path below the folder. Case-insensitive.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of files and folders to leave alone, on top of the built-in list (dot files,
    /// camera sidecars, NAS system folders). Same syntax as `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Follow symbolic links to files and folders (loops are detected and not followed).
    #[serde(default)]
    pub follow_symlinks: bool,
    /// What to do with a file once its media item exists: `keep`, `delete` or
    /// `move:<folder>`.
    #[serde(default)]
    pub after_upload: AfterUpload,
}

fn default_api_url() -> String {
    GOOGLE_API_URL.to_owned()
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_read_timeout() -> Duration {
    Duration::from_secs(120)
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            workers: 3,
            raw_threshold: ByteSize::mib(8),
            chunk_size: ByteSize::b(0),
            requests_per_second: 10,
            max_bytes_per_second: ByteSize::b(0),
            daily_request_budget: 10_000,
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            quota_backoff: Duration::from_secs(30),
            max_attempts: 10,
            token_max_age: Duration::from_secs(23 * 3600),
            pause_recheck: Duration::from_secs(3600),
        }
    }
}

impl Default for CreateConfig {
    fn default() -> Self {
        Self {
            batch_size: 50,
            idle: Duration::from_secs(2),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            listen_port: 0,
            timeout: Duration::from_secs(600),
        }
    }
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            watch_mode: WatchMode::Auto,
            settle: Duration::from_secs(5),
            poll_interval: Duration::from_secs(30),
            incomplete_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a configuration could not be used. Each variant names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("config file {path}, line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {path}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // Absolute, so that relative paths inside resolve the same whatever the working
        // directory: rows are keyed by path, and `-c config.toml` must not make new ones.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Read {
            path: path.clone(),
            cause,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses and validates configuration text that came from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| syntax_error(text, path, &e))?;
        config.source = path.to_owned();
        config.resolve_relative_paths();
        config.validate()?;
        Ok(config)
    }

    fn resolve_relative_paths(&mut self) {
        let base = self
            .source
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.google.client_secret_file);
        resolve(&mut self.state.dir);
        for w in &mut self.watch {
            resolve(&mut w.path);
            if let AfterUpload::Move(dir) = &mut w.after_upload {
                resolve(dir);
            }
        }
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.source.clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// Checks what serde cannot: ranges, non-empty lists, URL shapes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.watch.is_empty() {
            return Err(self.invalid(
                "watch",
                "no [[watch]] folder is configured; add one with `path = \"/srv/camera\"`",
            ));
        }
        for i in 0..self.watch.len() {
            if let Err((key, message)) = crate::watch::validate_watch(&self.watch, i) {
                return Err(self.invalid(&format!("watch[{}].{key}", i + 1), message));
            }
        }
        let url = url::Url::parse(&self.google.api_url);
        if !matches!(&url, Ok(u) if u.scheme() == "https" || u.scheme() == "http") {
            return Err(self.invalid(
                "google.api_url",
                format!("`{}` is not an http(s) URL", self.google.api_url),
            ));
        }
        let u = &self.upload;
        if u.workers == 0 || u.workers > 64 {
            return Err(self.invalid("upload.workers", "must be between 1 and 64"));
        }
        if u.requests_per_second == 0 {
            return Err(self.invalid("upload.requests_per_second", "must be at least 1"));
        }
        if u.daily_request_budget == 0 {
            return Err(self.invalid("upload.daily_request_budget", "must be at least 1"));
        }
        if u.max_attempts == 0 {
            return Err(self.invalid("upload.max_attempts", "must be at least 1"));
        }
        if u.retry_base.is_zero() || u.retry_max < u.retry_base {
            return Err(self.invalid(
                "upload.retry_base",
                "must be more than zero and not above upload.retry_max",
            ));
        }
        let b = self.create.batch_size;
        if b == 0 || b > 50 {
            return Err(self.invalid(
                "create.batch_size",
                "must be between 1 and 50 (Google's limit per batchCreate call)",
            ));
        }
        if self.scan.interval.is_zero() {
            return Err(self.invalid("scan.interval", "must be more than zero"));
        }
        if self.scan.poll_interval.is_zero() {
            return Err(self.invalid("scan.poll_interval", "must be more than zero"));
        }
        if self.scan.incomplete_wait < self.scan.settle {
            return Err(self.invalid(
                "scan.incomplete_wait",
                "must not be shorter than scan.settle",
            ));
        }
        if self.auth.timeout.is_zero() {
            return Err(self.invalid("auth.timeout", "must be more than zero"));
        }
        Ok(())
    }

    /// The SQLite database.
    pub fn database_path(&self) -> PathBuf {
        self.state.dir.join("gphotosd.db")
    }

    /// Google's authorized-user token file.
    pub fn token_path(&self) -> PathBuf {
        self.state.dir.join("token.json")
    }

    /// The single-instance lock.
    pub fn lock_path(&self) -> PathBuf {
        self.state.dir.join("gphotosd.lock")
    }
}

fn syntax_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map_or(1, |span| {
        text[..span.start.min(text.len())].matches('\n').count() + 1
    });
    let mut message = e.message().to_owned();
    // serde names unknown keys itself, but not the key of a value of the wrong type.
    if let Some(key) = key_on_line(text, line)
        && !message.contains(&format!("`{}`", key.rsplit('.').next().unwrap_or(&key)))
    {
        message = format!("`{key}`: {message}");
    }
    ConfigError::Syntax {
        path: path.to_owned(),
        line,
        message,
    }
}

/// The dotted key assigned on `line` (1-based), with its table, e.g. `upload.workers`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?;
    let (key, _) = this.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let table = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[google]
client_secret_file = "client.json"
[state]
dir = "/var/lib/gphotosd"
[[watch]]
path = "/srv/camera"
"#;

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let config = Config::parse(
            include_str!("../config.example.toml"),
            Path::new("/etc/gphotosd/config.toml"),
        )
        .expect("config.example.toml must parse");
        let defaults = UploadConfig::default();
        assert_eq!(config.upload.workers, defaults.workers);
        assert_eq!(config.upload.raw_threshold, defaults.raw_threshold);
        assert_eq!(
            config.upload.daily_request_budget,
            defaults.daily_request_budget
        );
        assert_eq!(config.create.batch_size, CreateConfig::default().batch_size);
        assert_eq!(config.google.api_url, GOOGLE_API_URL);
        let scan = ScanConfig::default();
        assert_eq!(config.scan.watch_mode, scan.watch_mode);
        assert_eq!(config.scan.settle, scan.settle);
        assert_eq!(config.scan.poll_interval, scan.poll_interval);
        assert_eq!(config.scan.incomplete_wait, scan.incomplete_wait);
        let w = &config.watch[0];
        assert_eq!(w.after_upload, AfterUpload::Keep);
        assert!(w.include.is_empty() && w.exclude.is_empty() && !w.follow_symlinks);
        assert_eq!(config.auth.listen_port, AuthConfig::default().listen_port);
        assert_eq!(config.auth.timeout, AuthConfig::default().timeout);
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = Config::parse(MINIMAL, Path::new("/etc/gphotosd/config.toml")).unwrap();
        assert_eq!(
            c.google.client_secret_file,
            Path::new("/etc/gphotosd/client.json")
        );
        assert_eq!(c.upload.workers, 3);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let text = MINIMAL.replace("[state]", "[state]\ndirr = 1");
        let err = Config::parse(&text, Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 5"), "{msg}");
        assert!(msg.contains("dirr"), "{msg}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key_and_line() {
        let text = format!("{MINIMAL}\n[upload]\nworkers = \"3\"\n");
        let msg = Config::parse(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`upload.workers`"), "{msg}");
        assert!(msg.contains("line 10"), "{msg}");
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let text = format!("{MINIMAL}\n[upload]\nworkers = 0\n");
        let msg = Config::parse(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("upload.workers"), "{msg}");
        let text = format!("{MINIMAL}\n[create]\nbatch_size = 51\n");
        let msg = Config::parse(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("create.batch_size"), "{msg}");
        let text = format!("{MINIMAL}\n[scan]\nsettle = \"1m\"\nincomplete_wait = \"30s\"\n");
        let msg = Config::parse(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("scan.incomplete_wait"), "{msg}");
    }

    #[test]
    fn a_config_without_watch_folders_is_refused() {
        let text = MINIMAL.replace("[[watch]]\npath = \"/srv/camera\"", "");
        let msg = Config::parse(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[[watch]]"), "{msg}");
    }

    #[test]
    fn watch_keys_are_checked_and_named() {
        let with = |extra: &str| {
            let text = MINIMAL.replace(
                "path = \"/srv/camera\"",
                &format!("path = \"/srv/camera\"\n{extra}"),
            );
            Config::parse(&text, Path::new("/etc/gphotosd/c.toml"))
        };
        let c = with("after_upload = \"move:done\"\ninclude = [\"*.jpg\"]").unwrap();
        assert_eq!(
            c.watch[0].after_upload,
            AfterUpload::Move(PathBuf::from("/etc/gphotosd/done"))
        );
        let msg = |extra: &str| with(extra).unwrap_err().to_string();
        assert!(msg("after_upload = \"trash\"").contains("move:<folder>"));
        assert!(msg("exclude = [\"a[\"]").contains("watch[1].exclude"));
        assert!(msg("album = \"{day}\"").contains("watch[1].album"));
        let text = format!("{MINIMAL}\n[scan]\nwatch_mode = \"inotify\"\n");
        assert!(
            Config::parse(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string()
                .contains("`auto`, `native`, `poll`")
        );
    }

    #[test]
    fn durations_and_sizes_read_as_humans_write_them() {
        let text =
            format!("{MINIMAL}\n[upload]\nraw_threshold = \"2 MiB\"\nretry_base = \"250ms\"\n");
        let c = Config::parse(&text, Path::new("c.toml")).unwrap();
        assert_eq!(c.upload.raw_threshold, ByteSize::mib(2));
        assert_eq!(c.upload.retry_base, Duration::from_millis(250));
    }
}
