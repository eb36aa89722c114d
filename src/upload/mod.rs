//! The upload workers: claim a job from the store, send its bytes, record the upload token.
//!
//! Small files go as one raw POST. Larger files use a resumable session whose URL is
//! committed before the first byte; the rest is streamed in one `upload, finalize` request
//! (or fixed chunks). After any interruption the worker asks the server (`query`) and
//! resumes at the offset it reports. Errors are sorted by [`ErrorClass`]: transient ones
//! wait with backoff, permanent ones fail the file, global ones pause the pipeline.

mod body;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use body::hash_file;

use crate::api::{ApiClient, ApiError, ErrorClass};
use crate::config::UploadConfig;
use crate::pause::PauseGate;
use crate::store::{Pause, PauseReason, Store, StoreError, unix_now};

/// What every worker shares.
#[derive(Clone)]
pub struct UploadContext {
    pub store: Store,
    pub api: ApiClient,
    pub gate: PauseGate,
    pub settings: UploadConfig,
    /// Rung when new work is queued.
    pub work_queued: Arc<Notify>,
    /// Rung when a file reaches `uploaded`.
    pub uploaded: Arc<Notify>,
}

/// Runs one worker until shutdown. A store failure ends it with the error: the pipeline
/// must not go on without a record of what it does.
pub async fn run_worker(ctx: UploadContext, shutdown: CancellationToken) -> Result<(), StoreError> {
    loop {
        if !ctx.gate.wait_clear(&shutdown).await {
            return Ok(());
        }
        let Some(job) = ctx.store.call(|db| db.claim_next()).await? else {
            tokio::select! {
                () = ctx.work_queued.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
            continue;
        };
        let id = job.id;
        let outcome = tokio::select! {
            r = worker::process(&ctx, job) => r,
            () = shutdown.cancelled() => {
                // The session URL (if any) is in the database; the next start queries it
                // and resumes at the server's offset.
                ctx.store.call(move |db| db.requeue(id, Some("interrupted by shutdown"))).await?;
                return Ok(());
            }
        };
        outcome?;
    }
}

/// Delay before attempt `attempts + 1`: exponential from `base`, capped, with jitter so
/// workers do not retry in step.
pub fn backoff(settings: &UploadConfig, attempts: u32, at_least: Option<Duration>) -> Duration {
    let exp = settings
        .retry_base
        .saturating_mul(1u32 << attempts.min(20))
        .min(settings.retry_max);
    let jitter = rand::random_range(0.5..=1.0);
    exp.mul_f64(jitter).max(at_least.unwrap_or_default())
}

/// The global pause an error calls for.
pub fn pause_for(error: &ApiError, reason: PauseReason, recheck: Duration) -> Pause {
    let until = match reason {
        PauseReason::DailyQuota => error
            .pause_until()
            .or_else(|| Some(crate::limits::next_pacific_midnight(chrono::Utc::now()))),
        PauseReason::StorageFull => {
            Some(unix_now() + i64::try_from(recheck.as_secs()).unwrap_or(3600))
        }
        PauseReason::AuthRequired | PauseReason::ScopeMissing => None,
    };
    let advice = match reason {
        PauseReason::DailyQuota => "the daily request quota is used up until midnight Pacific time",
        PauseReason::StorageFull => {
            "the Google account is out of storage; free space or buy more (checked again periodically)"
        }
        PauseReason::AuthRequired => "run `gphotosd auth` to connect the Google account again",
        PauseReason::ScopeMissing => "run `gphotosd auth` and allow the Google Photos permission",
    };
    let error = error.to_string();
    // Auth errors already say what to run; do not say it twice.
    let message = if error.contains("gphotosd auth") {
        error
    } else {
        format!("{advice} ({error})")
    };
    Pause {
        reason,
        message,
        until,
    }
}

/// Whether `class` is transient, and the shortest delay it asks for.
pub fn transient_delay(class: &ErrorClass, settings: &UploadConfig) -> Option<Option<Duration>> {
    match class {
        ErrorClass::Transient { retry_after } => Some(*retry_after),
        ErrorClass::RateLimited => Some(Some(settings.quota_backoff)),
        ErrorClass::Unauthorized => Some(None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let s = UploadConfig {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            ..UploadConfig::default()
        };
        let first = backoff(&s, 0, None);
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
        let late = backoff(&s, 30, None);
        assert!(late <= Duration::from_secs(60) && late >= Duration::from_secs(30));
        let told = backoff(&s, 0, Some(Duration::from_secs(40)));
        assert_eq!(told, Duration::from_secs(40));
    }
}
