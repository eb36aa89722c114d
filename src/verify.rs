//! `gphotosd verify`: proves that Google Photos still holds the media items the database
//! records as done. A user can delete items in the Google Photos app; nothing tells
//! gphotosd, which would otherwise believe those files are safe forever.
//!
//! [`verify`] asks `mediaItems.batchGet` about every distinct media item id (50 a call; a
//! lone id goes through `mediaItems.get`), spending the same daily request ledger as the
//! daemon, and returns a [`Report`]: present, missing, and errors. With
//! [`Options::requeue_missing`], the files of each missing item go back to the queue in one
//! committed transaction ([`Db::requeue_missing_item`](crate::store::Db)); a running daemon's
//! workers pick them up within a second, as after `gphotosd retry`. Without it, no file row
//! changes.
//!
//! It needs `photoslibrary.readonly.appcreateddata`. A token without it is caught from the
//! token file's scopes before any request, or from Google's 403 when the file does not list
//! them, and reported as a [`Stop`] that says what to run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use crate::api::{ApiClient, ApiError, ErrorClass, Lookup, MAX_BATCH_GET};
use crate::auth::{AuthError, SCOPE_READ_APP_CREATED, TokenSource};
use crate::config::{Config, UploadConfig};
use crate::limits::pacific_day;
use crate::paths::shown;
use crate::store::{FileRow, FileState, PauseReason, Requeued, Store, StoreError};
use crate::upload::{backoff, pause_for, transient_delay};

/// Attempts per call before its items are reported as errors (transient failures only).
const ATTEMPTS: u32 = 3;

/// What to verify and whether to act on what is missing.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Files to check; empty means every done file.
    pub paths: Vec<PathBuf>,
    /// Put the files of missing items back in the queue.
    pub requeue_missing: bool,
}

/// Why verify could not run at all. Every message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "no database at {0}: gphotosd has not uploaded anything with this configuration yet, \
         so there is nothing to verify"
    )]
    NoDatabase(PathBuf),
    #[error(
        "{shown} is not in gphotosd's database, so there is nothing to verify (`gphotosd \
         status {shown}` says why it was not uploaded)",
        shown = shown(path)
    )]
    NotTracked { path: PathBuf },
    #[error(
        "{shown} has not been uploaded (it is {state}), so there is nothing to verify \
         (`gphotosd status {shown}` says why)",
        shown = shown(path)
    )]
    NotDone { path: PathBuf, state: &'static str },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(ApiError),
}

/// What verify found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Files looked at (done rows, or the given paths).
    pub files: usize,
    /// Distinct media item ids among them (copies share one).
    pub media_items: usize,
    /// Files whose media item Google still has.
    pub present: usize,
    /// Files whose media item Google no longer has.
    pub missing: Vec<MissingFile>,
    /// Files that could not be checked, with why.
    pub errors: Vec<FileError>,
    /// Files not checked because verify stopped early (see `stopped`).
    pub unchecked: usize,
    /// Library API requests this run counted against the daily budget.
    pub requests: u64,
    /// The daily ledger after this run.
    pub quota: Quota,
    /// With `--requeue-missing`: what happened to each file of a missing item.
    pub requeued: Vec<RequeuedFile>,
    /// Why verify stopped before checking everything, if it did.
    pub stopped: Option<Stop>,
}

/// A file whose media item is gone.
#[derive(Debug, Clone, Serialize)]
pub struct MissingFile {
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub media_item_id: String,
    pub album_title: Option<String>,
    /// Row id of the file whose upload this one shares, if it is a copy.
    pub alias_of: Option<i64>,
}

/// A file that could not be checked.
#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub media_item_id: Option<String>,
    pub message: String,
}

/// What `--requeue-missing` did with one file.
#[derive(Debug, Clone, Serialize)]
pub struct RequeuedFile {
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub outcome: Requeued,
}

/// Requests counted today (Pacific day) and the configured budget.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Quota {
    pub used_today: u64,
    pub budget: u64,
}

/// Why verify stopped early: the same reasons that pause the daemon.
#[derive(Debug, Clone, Serialize)]
pub struct Stop {
    pub reason: PauseReason,
    /// What is wrong and what to run.
    pub message: String,
}

fn lossy<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// The message for a token without the read-back scope: what is missing, and exactly what
/// to run. `granted` is what the token file lists, when it lists anything.
pub fn read_scope_message(token_path: &Path, granted: Option<&[String]>) -> String {
    let granted = match granted {
        Some(g) if !g.is_empty() => format!(" (it grants: {})", g.join(" ")),
        _ => String::new(),
    };
    format!(
        "the token in {} does not allow reading back what gphotosd uploaded: it lacks \
         {SCOPE_READ_APP_CREATED}{granted}. Run `gphotosd auth` and allow every permission \
         Google's consent page asks for (it asks for this one too); uploads carry on \
         meanwhile, and a running daemon picks up the new token by itself",
        shown(token_path)
    )
}

/// Checks the done files (or `options.paths`) against Google Photos.
pub async fn verify(config: &Config, options: &Options) -> Result<Report, VerifyError> {
    let db_path = config.database_path();
    if !db_path.exists() {
        return Err(VerifyError::NoDatabase(db_path));
    }
    let store = Store::open(&db_path)?;
    let rows = targets(&store, &options.paths).await?;

    let mut report = Report {
        files: rows.len(),
        ..Report::default()
    };
    // Distinct ids in the order their first file was done; batchGet refuses repeats.
    let mut ids: Vec<String> = Vec::new();
    let mut files_of: HashMap<String, Vec<&FileRow>> = HashMap::new();
    for row in &rows {
        match row.media_item_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => {
                let files = files_of.entry(id.to_owned()).or_default();
                if files.is_empty() {
                    ids.push(id.to_owned());
                }
                files.push(row);
            }
            None => report.errors.push(FileError {
                path: row.path.clone(),
                media_item_id: None,
                message: "no media item id was recorded for it (Google reported it as \
                          already existing without naming the item), so it cannot be checked"
                    .to_owned(),
            }),
        }
    }
    report.media_items = ids.len();

    if !ids.is_empty() {
        let api = ApiClient::from_config(config, store.clone(), 0)?;
        match preflight(api.tokens(), &config.token_path()).await? {
            Some(stop) => {
                report.stopped = Some(stop);
                report.unchecked = ids.iter().map(|id| files_of[id].len()).sum();
            }
            None => check_all(&api, config, &ids, &files_of, &mut report).await?,
        }
        report.requests = api.limits().counted();
    }

    if options.requeue_missing && !report.missing.is_empty() {
        requeue(&store, &mut report).await?;
    }
    let day = pacific_day(Utc::now());
    report.quota = Quota {
        used_today: store.call(move |db| db.requests_on(&day)).await?,
        budget: config.upload.daily_request_budget,
    };
    Ok(report)
}

/// The rows to check: every done file, or exactly the named ones (each must be done).
async fn targets(store: &Store, paths: &[PathBuf]) -> Result<Vec<FileRow>, VerifyError> {
    if paths.is_empty() {
        return Ok(store.call(|db| db.done_files()).await?);
    }
    let mut absolute: Vec<PathBuf> = Vec::with_capacity(paths.len());
    for p in paths {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        if !absolute.contains(&p) {
            absolute.push(p);
        }
    }
    let found = store
        .call(move |db| {
            absolute
                .into_iter()
                .map(|p| Ok((db.file_by_path(&p)?, p)))
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;
    found
        .into_iter()
        .map(|(row, path)| match row {
            None => Err(VerifyError::NotTracked { path }),
            Some(r) if r.state != FileState::Done => Err(VerifyError::NotDone {
                path,
                state: r.state.as_str(),
            }),
            Some(r) => Ok(r),
        })
        .collect()
}

/// Makes sure a token exists and may read, before a request is spent. `Some` says why
/// verify cannot go on.
async fn preflight(tokens: &TokenSource, token_path: &Path) -> Result<Option<Stop>, VerifyError> {
    if let Err(e) = tokens.access_token().await {
        if e.is_transient() {
            return Err(e.into());
        }
        let reason = match e {
            AuthError::ScopeMissing { .. } => PauseReason::ScopeMissing,
            AuthError::ClientSecret { .. } => return Err(e.into()),
            _ => PauseReason::AuthRequired,
        };
        return Ok(Some(Stop {
            reason,
            message: e.to_string(),
        }));
    }
    // A refresh records the granted scopes; a file that lists none is tried, and Google's
    // 403 tells.
    let granted = tokens.granted_scopes().await?;
    if !granted.is_empty() && !granted.iter().any(|s| s == SCOPE_READ_APP_CREATED) {
        return Ok(Some(Stop {
            reason: PauseReason::ScopeMissing,
            message: read_scope_message(token_path, Some(&granted)),
        }));
    }
    Ok(None)
}

/// Asks about every id, 50 a call, and sorts the files into the report.
async fn check_all(
    api: &ApiClient,
    config: &Config,
    ids: &[String],
    files_of: &HashMap<String, Vec<&FileRow>>,
    report: &mut Report,
) -> Result<(), VerifyError> {
    let files = |chunk: &[String]| -> usize { chunk.iter().map(|id| files_of[id].len()).sum() };
    let token_path = config.token_path();
    let mut chunks = ids.chunks(MAX_BATCH_GET);
    while let Some(chunk) = chunks.next() {
        let lookups = match ask(api, chunk, &config.upload, &token_path).await {
            Ok(lookups) => lookups,
            Err(Asked::Stop(stop)) => {
                report.stopped = Some(stop);
                report.unchecked = files(chunk) + chunks.map(files).sum::<usize>();
                return Ok(());
            }
            Err(Asked::Failed(message)) => {
                for id in chunk {
                    for row in &files_of[id] {
                        report.errors.push(FileError {
                            path: row.path.clone(),
                            media_item_id: Some(id.clone()),
                            message: message.clone(),
                        });
                    }
                }
                continue;
            }
            Err(Asked::Fatal(e)) => return Err(VerifyError::Api(e)),
        };
        for (id, lookup) in chunk.iter().zip(lookups) {
            let rows = &files_of[id];
            match lookup {
                Lookup::Found(_) => report.present += rows.len(),
                Lookup::Gone { message } => {
                    for row in rows {
                        tracing::debug!(path = %shown(&row.path), media_item = %id, "missing from Google Photos: {message}");
                        report.missing.push(MissingFile {
                            path: row.path.clone(),
                            media_item_id: id.clone(),
                            album_title: row.album_title.clone(),
                            alias_of: row.alias_of,
                        });
                    }
                }
                Lookup::Failed { code, message } => {
                    for row in rows {
                        report.errors.push(FileError {
                            path: row.path.clone(),
                            media_item_id: Some(id.clone()),
                            message: format!("Google could not say (code {code}): {message}"),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Why a call gave no answers.
enum Asked {
    /// Nothing more can be asked today or with this token.
    Stop(Stop),
    /// This call failed for good; its items are errors, the rest goes on.
    Failed(String),
    /// The local database failed.
    Fatal(ApiError),
}

/// One call (`get` for a lone id, `batchGet` otherwise), repeated on transient errors.
async fn ask(
    api: &ApiClient,
    chunk: &[String],
    settings: &UploadConfig,
    token_path: &Path,
) -> Result<Vec<Lookup>, Asked> {
    let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
    let mut attempt = 0;
    loop {
        let result = match ids.as_slice() {
            [one] => api.get_media_item(one).await.map(|l| vec![l]),
            many => api.batch_get_media_items(many).await,
        };
        let error = match result {
            Ok(lookups) => return Ok(lookups),
            Err(e) => e,
        };
        // Never Google's bare 403: say which scope is missing and what to run.
        if error.is_insufficient_scope() {
            return Err(Asked::Stop(Stop {
                reason: PauseReason::ScopeMissing,
                message: read_scope_message(token_path, None),
            }));
        }
        let class = error.class();
        match class {
            ErrorClass::Pause(reason) => {
                let message = pause_for(&error, reason, settings.pause_recheck).message;
                return Err(Asked::Stop(Stop { reason, message }));
            }
            ErrorClass::Fatal => return Err(Asked::Fatal(error)),
            _ => {}
        }
        match transient_delay(&class, settings) {
            Some(at_least) if attempt + 1 < ATTEMPTS => {
                let delay = backoff(settings, attempt, at_least);
                tracing::warn!(retry_in = ?delay, "verify will ask again: {error}");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            _ => return Err(Asked::Failed(error.to_string())),
        }
    }
}

/// Puts the files of every missing item back in the queue, one transaction per item.
async fn requeue(store: &Store, report: &mut Report) -> Result<(), StoreError> {
    let mut ids: Vec<String> = Vec::new();
    for m in &report.missing {
        if !ids.contains(&m.media_item_id) {
            ids.push(m.media_item_id.clone());
        }
    }
    for id in ids {
        let outcome = store
            .call(move |db| db.requeue_missing_item(&id, Path::is_file))
            .await?;
        for (path, outcome) in outcome {
            match outcome {
                Requeued::Queued => {
                    tracing::debug!(path = %shown(&path), "queued again: its media item is missing");
                }
                Requeued::NotOnDisk => {
                    tracing::debug!(path = %shown(&path), "its media item is missing and the file is gone too: skipped");
                }
                Requeued::ActionPending => {
                    tracing::debug!(path = %shown(&path), "left as is: its after-upload action is still due");
                }
            }
            report.requeued.push(RequeuedFile { path, outcome });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_message_names_the_scope_the_token_and_the_command() {
        let granted = vec!["https://www.googleapis.com/auth/photoslibrary.appendonly".to_owned()];
        let m = read_scope_message(Path::new("/var/lib/gphotosd/token.json"), Some(&granted));
        assert!(m.contains(SCOPE_READ_APP_CREATED), "{m}");
        assert!(m.contains("/var/lib/gphotosd/token.json"), "{m}");
        assert!(m.contains("`gphotosd auth`"), "{m}");
        assert!(m.contains("it grants: https://www.googleapis.com/auth/photoslibrary.appendonly"));
        assert!(!m.contains("403"), "{m}");
        let unknown = read_scope_message(Path::new("/t.json"), None);
        assert!(!unknown.contains("it grants"), "{unknown}");
    }
}
