//! One job, from claimed to uploaded (or waiting, failed, skipped).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::api::{Activity, ApiError, ErrorClass, SessionState};
use crate::paths::shown;
use crate::store::{Job, StoreError, UNREADABLE_PREFIX, unix_now};
use crate::watch::{filter, scan};

use super::body::{ContentHasher, file_body, hash_file, hash_prefix};
use super::{UploadContext, backoff, pause_for, transient_delay};

/// How the file on disk compares with the job.
enum OnDisk {
    AsQueued,
    Gone,
    Unreadable(String),
    Changed {
        size: u64,
        mtime_ns: i64,
        inode: u64,
    },
}

fn on_disk(job: &Job) -> OnDisk {
    match scan::identity(&job.path) {
        Ok((size, mtime_ns, inode)) => {
            if (size, mtime_ns, inode) == (job.size, job.mtime_ns, job.inode) {
                // Permissions can change without touching size or mtime.
                match std::fs::File::open(&job.path) {
                    Ok(_) => OnDisk::AsQueued,
                    Err(e) => OnDisk::Unreadable(e.to_string()),
                }
            } else {
                OnDisk::Changed {
                    size,
                    mtime_ns,
                    inode,
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OnDisk::Gone,
        Err(e) => OnDisk::Unreadable(e.to_string()),
    }
}

/// Records what the file on disk says, when it is no longer what the job was for.
/// Returns true when the job is settled that way.
async fn settle_if_moved(ctx: &UploadContext, job: &Job, when: &str) -> Result<bool, StoreError> {
    let id = job.id;
    match on_disk(job) {
        OnDisk::AsQueued => Ok(false),
        OnDisk::Gone => {
            let reason = format!("the file was deleted {when}");
            tracing::info!(path = %shown(&job.path), "skipped: {reason}");
            ctx.store
                .call(move |db| {
                    db.set_skipped(id, &reason)?;
                    // Not in the folder any more: history, not a count (see store::gone).
                    db.mark_gone(&[id])?;
                    Ok(())
                })
                .await?;
            Ok(true)
        }
        OnDisk::Unreadable(e) => {
            let reason = format!(
                "{UNREADABLE_PREFIX}: {e}; it is tried again once a scan finds it readable"
            );
            tracing::warn!(path = %shown(&job.path), "failed: {reason}");
            ctx.store.call(move |db| db.set_failed(id, &reason)).await?;
            Ok(true)
        }
        OnDisk::Changed {
            size,
            mtime_ns,
            inode,
        } => {
            let path = job.path.clone();
            let verdict = tokio::task::spawn_blocking(move || filter::classify(&path, size))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match verdict {
                Ok(_) => {
                    let reason = format!("the file changed {when}; uploading its new content");
                    tracing::info!(path = %shown(&job.path), "{reason}");
                    ctx.store
                        .call(move |db| db.requeue_changed(id, size, mtime_ns, inode, &reason))
                        .await?;
                    ctx.work_queued.notify_one();
                }
                Err(reason) => {
                    tracing::info!(path = %shown(&job.path), "skipped: {reason}");
                    ctx.store
                        .call(move |db| db.set_skipped(id, &reason))
                        .await?;
                }
            }
            Ok(true)
        }
    }
}

/// Runs one claimed job to its next resting state.
pub async fn process(ctx: &UploadContext, job: Job) -> Result<(), StoreError> {
    if settle_if_moved(ctx, &job, "before it was uploaded").await? {
        return Ok(());
    }
    if job.session_url.is_none() && already_uploaded(ctx, &job).await? {
        return Ok(());
    }
    let mut refreshed = false;
    let mut job = job;
    loop {
        let mut attempt = Attempt::default();
        let result = upload(ctx, &mut job, &mut attempt).await;
        if settle_if_moved(ctx, &job, "while it was being uploaded").await? {
            return Ok(());
        }
        let error = match result {
            Ok((token, hash)) => {
                let id = job.id;
                ctx.store
                    .call(move |db| db.set_uploaded(id, &token, &hash))
                    .await?;
                tracing::info!(path = %shown(&job.path), bytes = job.size, "uploaded");
                ctx.uploaded.notify_one();
                return Ok(());
            }
            Err(e) => e,
        };
        let class = error.class();
        if class == ErrorClass::Unauthorized && !refreshed {
            // The client already refreshed the token; repeat once with the new one.
            refreshed = true;
            continue;
        }
        return record_failure(ctx, &job, &attempt, &error, &class).await;
    }
}

/// What one attempt at a resumable upload got to, for deciding whether it failed the file.
#[derive(Default)]
struct Attempt {
    /// The session URL and the offset the server held when this attempt started sending.
    resumable: Option<(String, u64)>,
    /// The file offset the body reached (bytes handed to the connection).
    sent: Arc<AtomicU64>,
}

impl Attempt {
    /// Whether this attempt made the server's offset advance. Asked only when the answer
    /// would otherwise fail the file: it costs a `query`, which the next attempt makes
    /// anyway (and there [`crate::store::Db::set_resumed`] forgives progressing attempts).
    async fn committed_bytes(&self, ctx: &UploadContext) -> Option<u64> {
        let (url, started_at) = self.resumable.as_ref()?;
        if self.sent.load(Ordering::Relaxed) <= *started_at {
            return None;
        }
        match ctx.api.query_session(url).await {
            Ok(SessionState::Active { received }) if received > *started_at => Some(received),
            _ => None,
        }
    }
}

/// Whether the content is already a media item under another path (a copy, a renamed
/// folder). Hashing first costs a read, so it is done only when a done file has the same
/// size; otherwise the hash is taken while streaming.
async fn already_uploaded(ctx: &UploadContext, job: &Job) -> Result<bool, StoreError> {
    let (id, size) = (job.id, job.size);
    if !ctx
        .store
        .call(move |db| db.done_file_with_size_exists(id, size))
        .await?
    {
        return Ok(false);
    }
    let Ok(hash) = hash_file(&job.path).await else {
        return Ok(false);
    };
    let aliased = ctx
        .store
        .call(move |db| db.mark_alias_if_known(id, &hash))
        .await?;
    if aliased {
        tracing::info!(path = %shown(&job.path), "done: same content as a file already uploaded; nothing sent");
    }
    Ok(aliased)
}

/// Records a failed attempt. A transient failure counts towards `max_attempts`, unless it
/// is the attempt that would give up and it moved the server's offset: an upload that gets
/// further each time is slow, not failing (on the way, the next attempt's resume forgives
/// such attempts; see [`crate::store::Db::set_resumed`]).
async fn record_failure(
    ctx: &UploadContext,
    job: &Job,
    attempt: &Attempt,
    error: &ApiError,
    class: &ErrorClass,
) -> Result<(), StoreError> {
    let id = job.id;
    let settings = &ctx.settings;
    let path = shown(&job.path);
    if let Some(at_least) = transient_delay(class, settings) {
        if job.attempts + 1 >= settings.max_attempts
            && let Some(held) = attempt.committed_bytes(ctx).await
        {
            let delay = backoff(settings, 0, at_least);
            let reason = error.to_string();
            tracing::warn!(path = %path, retry_in = ?delay, offset = held, "will retry (the server kept more bytes; not counted as a failed attempt): {reason}");
            let next = unix_now() + i64::try_from(delay.as_secs()).unwrap_or(i64::MAX / 2);
            return ctx
                .store
                .call(move |db| db.set_waiting_after_progress(id, &reason, next, held))
                .await;
        }
        if job.attempts + 1 >= settings.max_attempts {
            let reason = format!("gave up after {} attempts: {error}", job.attempts + 1);
            tracing::warn!(path = %path, "failed: {reason}");
            return ctx.store.call(move |db| db.set_failed(id, &reason)).await;
        }
        let delay = backoff(settings, job.attempts, at_least);
        let reason = error.to_string();
        tracing::warn!(path = %path, retry_in = ?delay, "will retry: {reason}");
        let next = unix_now() + i64::try_from(delay.as_secs()).unwrap_or(i64::MAX / 2);
        return ctx
            .store
            .call(move |db| db.set_waiting(id, &reason, next))
            .await;
    }
    match class {
        ErrorClass::Pause(reason) => {
            ctx.gate
                .set(pause_for(error, *reason, settings.pause_recheck))
                .await;
            ctx.store
                .call(move |db| db.requeue(id, Some("waiting for the pause to end")))
                .await
        }
        ErrorClass::Fatal => Err(StoreError::Task(error.to_string())),
        _ => {
            let reason = error.to_string();
            tracing::warn!(path = %path, "failed: {reason}");
            ctx.store.call(move |db| db.set_failed(id, &reason)).await
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Sends the bytes; returns the upload token and the content hash. `attempt` records how
/// far it got.
async fn upload(
    ctx: &UploadContext,
    job: &mut Job,
    attempt: &mut Attempt,
) -> Result<(String, Vec<u8>), ApiError> {
    let name = file_name(&job.path);
    let sent = Arc::clone(&attempt.sent);
    let hasher = ContentHasher::default();
    if job.session_url.is_none() && job.size <= ctx.settings.raw_threshold.as_u64() {
        let activity = Activity::default();
        let body = file_body(
            &job.path,
            0,
            job.size,
            hasher.clone(),
            sent,
            Arc::clone(ctx.api.limits()),
            activity.clone(),
        );
        let token = ctx
            .api
            .upload_raw(body, &activity, job.size, &job.mime_type, &name)
            .await?;
        return Ok((token, hasher.finalize()));
    }
    let (url, granularity, offset) = open_session(ctx, job, &name).await?;
    sent.store(offset, Ordering::Relaxed);
    attempt.resumable = Some((url.clone(), offset));
    hash_prefix(&job.path, offset, &hasher)
        .await
        .map_err(ApiError::File)?;
    let chunk = chunk_len(ctx.settings.chunk_size.as_u64(), granularity);
    let progress = report_progress(ctx, job.id, Arc::clone(&sent));
    let result = async {
        let mut pos = offset;
        loop {
            let len = match chunk {
                Some(c) => c.min(job.size - pos),
                None => job.size - pos,
            };
            let finalize = pos + len == job.size;
            let activity = Activity::default();
            let body = file_body(
                &job.path,
                pos,
                len,
                hasher.clone(),
                Arc::clone(&sent),
                Arc::clone(ctx.api.limits()),
                activity.clone(),
            );
            let token = ctx
                .api
                .upload_chunk(&url, pos, body, &activity, len, finalize)
                .await?;
            pos += len;
            if let Some(token) = token {
                return Ok((token, hasher.finalize()));
            }
        }
    }
    .await;
    progress.abort();
    result
}

/// The session to send to and the offset to send from: the stored session if the server
/// still has it, else a new one, committed before any byte goes out.
async fn open_session(
    ctx: &UploadContext,
    job: &mut Job,
    name: &str,
) -> Result<(String, u64, u64), ApiError> {
    if let Some(url) = job.session_url.clone() {
        let granularity = job.session_granularity.unwrap_or(262_144);
        match ctx.api.query_session(&url).await? {
            SessionState::Active { received } if received <= job.size => {
                tracing::info!(path = %shown(&job.path), offset = received, "resuming upload at the server's offset");
                let id = job.id;
                ctx.store
                    .call(move |db| db.set_resumed(id, received))
                    .await?;
                return Ok((url, granularity, received));
            }
            state => {
                tracing::info!(path = %shown(&job.path), ?state, "the previous upload session cannot continue; starting a new one");
            }
        }
    }
    let session = ctx
        .api
        .start_session(job.size, &job.mime_type, name)
        .await?;
    let (id, url, granularity) = (job.id, session.url.clone(), session.granularity);
    ctx.store
        .call(move |db| db.set_session(id, &url, granularity))
        .await?;
    job.session_url = Some(session.url.clone());
    job.session_granularity = Some(session.granularity);
    Ok((session.url, session.granularity, 0))
}

/// Fixed chunk length: the configured size rounded up to the server's granularity.
fn chunk_len(configured: u64, granularity: u64) -> Option<u64> {
    (configured > 0).then(|| configured.div_ceil(granularity.max(1)) * granularity.max(1))
}

fn report_progress(
    ctx: &UploadContext,
    id: i64,
    sent: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    let store = ctx.store.clone();
    tokio::spawn(async move {
        let mut last = u64::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = sent.load(Ordering::Relaxed);
            if now != last {
                last = now;
                if store
                    .call(move |db| db.set_progress(id, now))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::chunk_len;

    #[test]
    fn chunks_round_up_to_the_granularity() {
        assert_eq!(chunk_len(0, 262_144), None);
        assert_eq!(chunk_len(1, 262_144), Some(262_144));
        assert_eq!(chunk_len(262_145, 262_144), Some(524_288));
        assert_eq!(chunk_len(524_288, 262_144), Some(524_288));
    }
}
