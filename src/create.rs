//! The creator: one lane that turns upload tokens into media items.
//!
//! Google wants `mediaItems:batchCreate` called serially per user, up to 50 items a call,
//! so there is exactly one creator. It waits until uploads pause for a moment (or a batch
//! is full), takes one album's worth of uploaded files, and records every per-item outcome
//! in the same transaction. A call refused over an upload token is split in halves until
//! the bad tokens are isolated; only those files are uploaded again. A recorded album id
//! that Google refuses (the user deleted the album in the app) is forgotten and the album
//! created anew, so files queued again by `gphotosd verify` still land in their album.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, ApiError, ErrorClass, NewItem};
use crate::config::{CreateConfig, UploadConfig};
use crate::paths::shown;
use crate::pause::PauseGate;
use crate::store::{CreateOutcome, Store, StoreError, UploadedItem, unix_now};
use crate::upload::{backoff, pause_for};

/// What the creator lane needs.
#[derive(Clone)]
pub struct CreateContext {
    pub store: Store,
    pub api: ApiClient,
    pub gate: PauseGate,
    pub settings: CreateConfig,
    pub upload: UploadConfig,
    /// Rung by workers when a file is uploaded.
    pub uploaded: Arc<Notify>,
    /// Rung when files go back to the upload queue.
    pub work_queued: Arc<Notify>,
    /// Rung after every batch's outcomes are recorded (a sync waits for its last one).
    pub created: Arc<Notify>,
    /// Send a partial batch as soon as no file is pending or uploading, without waiting
    /// for `idle`. Right for a sync, which queues every file before its workers start: no
    /// upload can join the batch any more, and waiting only delays the end of the run. A
    /// daemon keeps waiting, since its watcher may queue the next file of a copy any moment.
    pub flush_when_drained: bool,
}

/// Per-item status codes (google.rpc.Code).
const CODE_INVALID_ARGUMENT: i32 = 3;
const CODE_ALREADY_EXISTS: i32 = 6;

/// What to do after a call failed as a whole.
enum Next {
    Continue,
    /// Wait this long before the next call.
    Backoff(Duration),
}

/// Runs the creator lane until shutdown.
pub async fn run_creator(
    ctx: CreateContext,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    let mut failures = 0u32;
    loop {
        // Gather: go once uploads have been quiet for `idle`, or a batch is full.
        let quiet = tokio::select! {
            () = ctx.uploaded.notified() => false,
            () = tokio::time::sleep(ctx.settings.idle) => true,
            () = shutdown.cancelled() => return Ok(()),
        };
        let mut flush = quiet;
        if !quiet {
            let counts = ctx.store.call(|db| db.counts()).await?;
            flush = ctx.flush_when_drained && counts.pending == 0 && counts.uploading == 0;
            if !flush && counts.uploaded < ctx.settings.batch_size as u64 {
                continue;
            }
        }
        if !ctx.gate.wait_clear(&shutdown).await {
            return Ok(());
        }
        let batch_size = ctx.settings.batch_size;
        // While uploads keep coming, send only full batches; once quiet, send the rest.
        let at_least = if flush { 1 } else { batch_size };
        let max_age = i64::try_from(ctx.upload.token_max_age.as_secs()).unwrap_or(i64::MAX);
        while let Some((album, items)) = ctx
            .store
            .call(move |db| db.take_batch(batch_size, at_least, max_age))
            .await?
        {
            let next = create_batch(&ctx, album.as_deref(), items).await?;
            ctx.created.notify_waiters();
            match next {
                Next::Continue => failures = 0,
                Next::Backoff(delay) => {
                    failures += 1;
                    let delay = delay.max(backoff(&ctx.upload, failures - 1, None));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => return Ok(()),
                    }
                    break;
                }
            }
            if ctx.gate.current().is_some() {
                break;
            }
        }
    }
}

/// Creates one batch (already marked `creating`) and records the outcome.
async fn create_batch(
    ctx: &CreateContext,
    album: Option<&str>,
    items: Vec<UploadedItem>,
) -> Result<Next, StoreError> {
    let (mut album_id, mut recorded) = match album {
        None => (None, false),
        Some(title) => match resolve_album(ctx, title).await {
            Ok((id, recorded)) => (Some(id), recorded),
            Err(e) => return album_failed(ctx, &items, &e).await,
        },
    };
    // Bisect over a stack of slices: whole-call refusals over a token split the slice.
    let mut stack = vec![items];
    while let Some(items) = stack.pop() {
        let request: Vec<NewItem> = items
            .iter()
            .map(|i| NewItem {
                upload_token: i.upload_token.clone(),
                file_name: i
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            })
            .collect();
        match ctx.api.batch_create(album_id.as_deref(), &request).await {
            Ok(results) => record_results(ctx, &items, results).await?,
            // A recorded album id stops working when the user deletes the album in the
            // app: forget it and make the album anew (once), so the files still land in
            // an album of that title instead of failing.
            Err(e) if recorded && e.is_album_refused() => {
                recorded = false;
                if let (Some(title), Some(stale)) = (album, album_id.take()) {
                    tracing::warn!(
                        album = title,
                        "Google refused the recorded album (deleted in the app?); creating it again"
                    );
                    let t = title.to_owned();
                    ctx.store
                        .call(move |db| db.forget_album(&t, &stale))
                        .await?;
                    match resolve_album(ctx, title).await {
                        Ok((id, _)) => album_id = Some(id),
                        Err(e) => {
                            let rest: Vec<UploadedItem> =
                                stack.into_iter().flatten().chain(items).collect();
                            return album_failed(ctx, &rest, &e).await;
                        }
                    }
                }
                stack.push(items);
            }
            Err(e) if e.is_invalid_upload_token() && items.len() > 1 => {
                let mut left = items;
                let right = left.split_off(left.len() / 2);
                stack.push(right);
                stack.push(left);
            }
            Err(e) if e.is_invalid_upload_token() => {
                let outcome = CreateOutcome::Retry {
                    reason: "Google no longer accepts its upload token; uploading it again"
                        .to_owned(),
                    next_attempt_at: unix_now(),
                };
                tracing::info!(path = %shown(&items[0].path), "upload token refused; uploading again");
                let id = items[0].id;
                ctx.store
                    .call(move |db| db.record_create_outcomes(&[(id, outcome)]))
                    .await?;
                ctx.work_queued.notify_one();
            }
            Err(e) => {
                let rest: Vec<UploadedItem> = stack.into_iter().flatten().chain(items).collect();
                return call_failed(ctx, &rest, &e).await;
            }
        }
    }
    Ok(Next::Continue)
}

/// The id of the album titled `title`, created once by this app, and whether it came from
/// the database (an id Google has not just confirmed).
async fn resolve_album(ctx: &CreateContext, title: &str) -> Result<(String, bool), ApiError> {
    let t = title.to_owned();
    if let Some(id) = ctx.store.call(move |db| db.album_id(&t)).await? {
        return Ok((id, true));
    }
    // Listing needs the read-back scope; without it, go straight to creating.
    let existing = match ctx.api.find_album(title).await {
        Ok(found) => found,
        Err(e) if e.class() == ErrorClass::Pause(crate::store::PauseReason::ScopeMissing) => None,
        Err(e) => return Err(e),
    };
    let id = match existing {
        Some(id) => {
            tracing::info!(album = title, "found the album created earlier");
            id
        }
        None => {
            let id = ctx.api.create_album(title).await?;
            tracing::info!(album = title, "created album");
            id
        }
    };
    let (t, i) = (title.to_owned(), id.clone());
    ctx.store.call(move |db| db.save_album(&t, &i)).await?;
    Ok((id, false))
}

async fn record_results(
    ctx: &CreateContext,
    items: &[UploadedItem],
    results: Vec<crate::api::ItemResult>,
) -> Result<(), StoreError> {
    let mut by_token: HashMap<String, crate::api::ItemResult> = results
        .into_iter()
        .map(|r| (r.upload_token.clone(), r))
        .collect();
    let mut outcomes = Vec::with_capacity(items.len());
    let mut requeued = false;
    for item in items {
        let path = shown(&item.path);
        let outcome = match by_token.remove(&item.upload_token) {
            Some(r) if r.code == 0 && r.media_item_id.is_some() => {
                tracing::info!(path = %path, media_item = r.media_item_id.as_deref().unwrap_or(""), "created");
                CreateOutcome::Created {
                    media_item_id: r.media_item_id.unwrap_or_default(),
                    product_url: r.product_url,
                }
            }
            Some(r) if r.code == CODE_ALREADY_EXISTS => {
                tracing::info!(path = %path, "done: already in the library ({})", r.message);
                CreateOutcome::Created {
                    media_item_id: r.media_item_id.unwrap_or_default(),
                    product_url: r.product_url,
                }
            }
            Some(r) if r.code == CODE_INVALID_ARGUMENT => {
                let reason = format!("Google refused to create it: {}", r.message);
                tracing::warn!(path = %path, "failed: {reason}");
                CreateOutcome::Failed { reason }
            }
            other => {
                let reason = match other {
                    Some(r) => format!(
                        "Google could not create it (code {}): {}",
                        r.code, r.message
                    ),
                    None => "Google's answer did not mention this item".to_owned(),
                };
                if item.attempts + 1 >= ctx.upload.max_attempts {
                    let reason = format!("gave up after {} attempts: {reason}", item.attempts + 1);
                    tracing::warn!(path = %path, "failed: {reason}");
                    CreateOutcome::Failed { reason }
                } else {
                    let delay = backoff(&ctx.upload, item.attempts, None);
                    tracing::warn!(path = %path, retry_in = ?delay, "will upload again: {reason}");
                    requeued = true;
                    CreateOutcome::Retry {
                        reason,
                        next_attempt_at: unix_now()
                            + i64::try_from(delay.as_secs()).unwrap_or(3600),
                    }
                }
            }
        };
        outcomes.push((item.id, outcome));
    }
    ctx.store
        .call(move |db| db.record_create_outcomes(&outcomes))
        .await?;
    if requeued {
        ctx.work_queued.notify_one();
    }
    Ok(())
}

/// Finding or creating the batch's album failed. No batchCreate went out, so every upload
/// token is intact: a lost answer (an album call's response cut off) means "try the batch
/// again later", never "upload the files again".
async fn album_failed(
    ctx: &CreateContext,
    items: &[UploadedItem],
    error: &ApiError,
) -> Result<Next, StoreError> {
    if !matches!(error, ApiError::Network { .. }) {
        return call_failed(ctx, items, error).await;
    }
    tracing::warn!("the album could not be found or created; batchCreate will be retried: {error}");
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    ctx.store.call(move |db| db.unclaim_batch(&ids)).await?;
    Ok(Next::Backoff(Duration::ZERO))
}

/// A whole call failed (not over a token): decide for every item in it.
async fn call_failed(
    ctx: &CreateContext,
    items: &[UploadedItem],
    error: &ApiError,
) -> Result<Next, StoreError> {
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    if matches!(error, ApiError::Network { .. }) {
        {
            // The answer was lost: Google may or may not have created the items. Upload
            // again: identical bytes come back as the same media item, so nothing is
            // created twice, and a consumed token is never sent again.
            tracing::warn!(
                items = ids.len(),
                "batchCreate answer lost ({error}); uploading those files again"
            );
            let outcomes: Vec<(i64, CreateOutcome)> = ids
                .iter()
                .map(|id| {
                    (
                        *id,
                        CreateOutcome::Retry {
                            reason: format!("the answer to batchCreate was lost: {error}"),
                            next_attempt_at: unix_now(),
                        },
                    )
                })
                .collect();
            ctx.store
                .call(move |db| db.record_create_outcomes(&outcomes))
                .await?;
            ctx.work_queued.notify_one();
            return Ok(Next::Continue);
        }
    }
    match error.class() {
        ErrorClass::Transient { retry_after } => {
            tracing::warn!("batchCreate will be retried: {error}");
            ctx.store.call(move |db| db.unclaim_batch(&ids)).await?;
            Ok(Next::Backoff(retry_after.unwrap_or_default()))
        }
        ErrorClass::RateLimited | ErrorClass::Unauthorized => {
            tracing::warn!("batchCreate will be retried: {error}");
            ctx.store.call(move |db| db.unclaim_batch(&ids)).await?;
            Ok(Next::Backoff(ctx.upload.quota_backoff))
        }
        ErrorClass::Pause(reason) => {
            ctx.store.call(move |db| db.unclaim_batch(&ids)).await?;
            ctx.gate
                .set(pause_for(error, reason, ctx.upload.pause_recheck))
                .await;
            Ok(Next::Continue)
        }
        ErrorClass::Fatal => Err(StoreError::Task(error.to_string())),
        ErrorClass::Permanent => {
            let reason = format!("Google refused to create it: {error}");
            for item in items {
                tracing::warn!(path = %shown(&item.path), "failed: {reason}");
            }
            let outcomes: Vec<(i64, CreateOutcome)> = ids
                .iter()
                .map(|id| {
                    (
                        *id,
                        CreateOutcome::Failed {
                            reason: reason.clone(),
                        },
                    )
                })
                .collect();
            ctx.store
                .call(move |db| db.record_create_outcomes(&outcomes))
                .await?;
            Ok(Next::Continue)
        }
    }
}
