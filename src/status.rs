//! The read model behind `gphotosd status` and systemd's `STATUS=` line.
//!
//! [`Report::collect`] reads the database through its own read-only connection, so it works
//! beside a running daemon (WAL) and when none runs. Whether a daemon runs is decided by
//! the state lock, not by a pid that may be stale. The JSON form is a stable interface
//! documented in the README; add fields, never rename them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use crate::config::Config;
use crate::limits::{next_pacific_midnight, pacific_day};
use crate::lock::holder_pid;
use crate::store::{Counts, Db, FileRow, FileState, Pause, StoreError, unix_now};

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub daemon: DaemonStatus,
    pub pause: Option<Pause>,
    pub counts: Counts,
    pub in_flight: Vec<InFlight>,
    pub quota: Quota,
    pub watch: Vec<WatchStatus>,
    pub failures: Vec<Failure>,
    /// Files in Google Photos whose after-upload action (delete, move) failed.
    pub after_upload_failures: Vec<Failure>,
}

/// Whether a daemon holds the state directory.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonStatus {
    pub running: bool,
    pub pid: Option<u32>,
    /// Seconds since the running daemon started.
    pub uptime_secs: Option<i64>,
    /// Version of the daemon that last ran here.
    pub version: Option<String>,
    /// Unix seconds of its last sign of life.
    pub heartbeat_at: Option<i64>,
}

/// One upload in progress.
#[derive(Debug, Clone, Serialize)]
pub struct InFlight {
    pub path: String,
    pub bytes_sent: u64,
    pub size: u64,
    /// Average bytes per second of this attempt (bytes a resumed upload sent before a
    /// restart do not count).
    pub rate: Option<f64>,
    /// Seconds left at that rate.
    pub eta_secs: Option<u64>,
}

/// Requests spent today against the budget.
#[derive(Debug, Clone, Serialize)]
pub struct Quota {
    pub used_today: u64,
    pub budget: u64,
    /// Unix seconds of the next reset (midnight Pacific).
    pub resets_at: i64,
}

/// One watched folder.
#[derive(Debug, Clone, Serialize)]
pub struct WatchStatus {
    pub path: String,
    /// How changes are noticed: `native` (inotify), `poll`, or `scan` (periodic rescans).
    pub mode: String,
    pub healthy: bool,
    pub message: Option<String>,
}

/// A failed file.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub path: String,
    pub reason: String,
}

impl Failure {
    fn of(row: FileRow) -> Failure {
        Failure {
            path: row.path.to_string_lossy().into_owned(),
            reason: row.reason.unwrap_or_default(),
        }
    }
}

/// Why a status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(
        "no database at {0}: gphotosd has not run with this configuration yet (start it with \
         `gphotosd run`, or `gphotosd sync` once)"
    )]
    NoDatabase(PathBuf),
    #[error(
        "cannot read the database {path}: {cause}. The state directory belongs to the \
         service user; run `sudo gphotosd status` (or `sudo -u gphotosd gphotosd status`)"
    )]
    Unreadable {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the database read-only, with a clear error when there is none yet.
pub fn open(config: &Config) -> Result<Db, StatusError> {
    let path = config.database_path();
    match std::fs::metadata(&path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StatusError::NoDatabase(path));
        }
        Err(cause) => return Err(StatusError::Unreadable { path, cause }),
    }
    // The file can be there but not readable (mode 0600 of another user).
    if let Err(cause) = std::fs::File::open(&path) {
        return Err(StatusError::Unreadable { path, cause });
    }
    Ok(Db::open_read_only(&path)?)
}

impl Report {
    /// Reads the current status.
    pub fn collect(config: &Config, db: &Db) -> Result<Report, StatusError> {
        let now = unix_now();
        let row = db.daemon_row()?;
        let pid = holder_pid(&config.lock_path());
        let running = pid.is_some();
        let in_flight = db
            .files_in_state(FileState::Uploading, 50)?
            .into_iter()
            .map(|r| in_flight(&r, now))
            .collect();
        let failures = db
            .files_in_state(FileState::Failed, 10)?
            .into_iter()
            .map(Failure::of)
            .collect();
        let after_upload_failures = db
            .after_upload_failures(10)?
            .into_iter()
            .map(Failure::of)
            .collect();
        Ok(Report {
            daemon: DaemonStatus {
                running,
                pid,
                uptime_secs: running.then(|| row.started_at.map(|s| now - s)).flatten(),
                version: row.version,
                heartbeat_at: row.heartbeat_at,
            },
            // Without a daemon, the pause says why the last run stopped (and a daily-quota
            // pause still holds for the next start).
            pause: row.pause,
            counts: db.counts()?,
            in_flight,
            quota: Quota {
                used_today: db.requests_on(&pacific_day(Utc::now()))?,
                budget: config.upload.daily_request_budget,
                resets_at: next_pacific_midnight(Utc::now()),
            },
            watch: watch_status(config, db),
            failures,
            after_upload_failures,
        })
    }

    /// The one-line summary for systemd's `STATUS=`.
    pub fn summary(&self) -> String {
        summary_line(&self.counts, self.pause.as_ref())
    }
}

/// A one-line summary of the queue.
pub fn summary_line(c: &Counts, pause: Option<&Pause>) -> String {
    let mut line = format!(
        "{} uploading, {} queued",
        c.uploading,
        c.pending + c.waiting
    );
    // Uploaded files wait for their batchCreate: neither queued nor done yet.
    let creating = c.uploaded + c.creating;
    if creating > 0 {
        let _ = write!(line, ", {creating} being added to the library");
    }
    let _ = write!(line, ", {} done, {} failed", c.done, c.failed);
    if let Some(p) = pause {
        line = format!("paused ({}); {line}", p.reason.as_str());
    }
    line
}

fn in_flight(r: &FileRow, now: i64) -> InFlight {
    let elapsed = (now - r.updated_at).max(1) as f64;
    let this_attempt = r.bytes_sent.saturating_sub(r.start_offset);
    let rate = (this_attempt > 0).then(|| this_attempt as f64 / elapsed);
    let eta_secs = rate
        .filter(|r| *r > 0.0)
        .map(|rate| (r.size.saturating_sub(r.bytes_sent) as f64 / rate).round() as u64);
    InFlight {
        path: r.path.to_string_lossy().into_owned(),
        bytes_sent: r.bytes_sent,
        size: r.size,
        rate,
        eta_secs,
    }
}

/// Watch roots as the daemon last recorded them, or as the config names them when the
/// daemon recorded nothing.
fn watch_status(config: &Config, db: &Db) -> Vec<WatchStatus> {
    let recorded = db.watch_roots().unwrap_or_default();
    config
        .watch
        .iter()
        .map(|w| {
            let path = w.path.to_string_lossy().into_owned();
            if let Some(r) = recorded.iter().find(|r| r.path == path) {
                return WatchStatus {
                    path,
                    mode: r.mode.clone(),
                    healthy: r.healthy,
                    message: r.message.clone(),
                };
            }
            let exists = w.path.is_dir();
            WatchStatus {
                path,
                mode: "scan".to_owned(),
                healthy: exists,
                message: (!exists)
                    .then(|| "the folder does not exist or is not mounted".to_owned()),
            }
        })
        .collect()
}

/// "What happened to this file, and why".
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// The database row, when the file is tracked.
    pub row: Option<FileRow>,
    /// Why an untracked file is not (ignored name, not in a watched folder, not found).
    pub untracked_reason: Option<String>,
    /// Whether a daemon holds the state directory (an `uploading` row without one is an
    /// interrupted upload).
    pub daemon_running: bool,
}

/// Explains one path.
pub fn explain(config: &Config, db: &Db, path: &Path) -> Result<FileReport, StatusError> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let row = db.file_by_path(&absolute)?;
    let untracked_reason = match &row {
        Some(_) => None,
        None => Some(untracked_reason(config, &absolute)),
    };
    Ok(FileReport {
        path: absolute.to_string_lossy().into_owned(),
        row,
        untracked_reason,
        daemon_running: holder_pid(&config.lock_path()).is_some(),
    })
}

fn untracked_reason(config: &Config, path: &Path) -> String {
    if let Some(why) = crate::watch::unreadable_folder_of(&config.watch, path) {
        return why;
    }
    if !path.exists() && config.watch.iter().any(|w| path.starts_with(&w.path)) {
        return "no such file, and gphotosd has no record of it".to_owned();
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file() && !m.file_type().is_symlink()) {
        return "not a regular file (a folder, pipe, socket or device): never uploaded".to_owned();
    }
    match crate::watch::explain(&config.watch, path) {
        Some(why) if why.starts_with("ignored") => why,
        Some(why) => format!("ignored: {why}"),
        None => crate::watch::complete::explain_wait(path, config.scan.incomplete_wait)
            .unwrap_or_else(|| {
                "not seen yet: it is picked up by the next scan or file event".to_owned()
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_upload_reports_the_rate_of_this_attempt() {
        let row = FileRow {
            id: 1,
            path: "/cam/GX010001.MP4".into(),
            state: FileState::Uploading,
            reason: None,
            attempts: 0,
            size: 10_000,
            mime_type: Some("video/mp4".into()),
            album_title: None,
            bytes_sent: 6_000,
            next_attempt_at: None,
            media_item_id: None,
            product_url: None,
            alias_of: None,
            updated_at: 1_000,
            gone_at: None,
            start_offset: 5_000,
        };
        let shown = in_flight(&row, 1_010);
        assert_eq!(shown.rate, Some(100.0), "1 000 bytes in 10 s, not 6 000");
        assert_eq!(shown.eta_secs, Some(40));
        let fresh = in_flight(
            &FileRow {
                bytes_sent: 5_000,
                ..row
            },
            1_010,
        );
        assert_eq!(
            (fresh.rate, fresh.eta_secs),
            (None, None),
            "nothing sent yet"
        );
    }

    #[test]
    fn the_summary_tells_queued_from_waiting_for_creation() {
        let c = Counts {
            pending: 2,
            waiting: 1,
            uploaded: 8,
            done: 4,
            ..Counts::default()
        };
        assert_eq!(
            summary_line(&c, None),
            "0 uploading, 3 queued, 8 being added to the library, 4 done, 0 failed"
        );
        let idle = Counts {
            done: 4,
            ..Counts::default()
        };
        assert_eq!(
            summary_line(&idle, None),
            "0 uploading, 0 queued, 4 done, 0 failed"
        );
    }
}
