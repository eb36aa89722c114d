//! The stall watchdog of uploads: [`Activity`] is what `[google] read_timeout` measures on
//! a request with a streamed body.
//!
//! A socket read timeout (reqwest's `read_timeout`) counts the whole time a request body is
//! being sent as silence, because nothing is *received* until the server answers: it cut
//! every upload that took longer than `read_timeout` to send, while bytes were flowing. So
//! upload requests go out on a client without a read timeout, and [`Activity::watch`]
//! abandons them only when nothing moves: the connection has accepted no body bytes, and
//! no answer has come, for `read_timeout`. Time the body spends on our side (waiting for the
//! bandwidth limiter, reading the file) is [`Activity::busy`] and never counts as a stall.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::ApiError;

/// Progress of one streamed request, shared by its body (which reports movement) and the
/// watchdog (which reads it). Cheap to clone.
#[derive(Clone)]
pub struct Activity(Arc<Inner>);

struct Inner {
    origin: Instant,
    /// Nanoseconds after `origin` of the last movement.
    last: AtomicU64,
    /// Body pieces being produced on our side right now (limiter wait, disk read).
    busy: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Activity(Arc::new(Inner {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }))
    }
}

/// Marks the request as held up by us, not by the network, until dropped.
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        // Touch first: the watchdog must never see "not busy" with an old timestamp.
        self.0.touch();
        self.0.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    /// Records that something moved now: the connection took body bytes (it asked the body
    /// for more), or the body ended.
    pub fn touch(&self) {
        let nanos = u64::try_from(self.0.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0.last.fetch_max(nanos, Ordering::SeqCst);
    }

    /// Our own side is producing the next body piece (bandwidth limiter, file read); the
    /// request is not stalled while the returned guard lives.
    pub fn busy(&self) -> Busy {
        self.0.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    fn last(&self) -> Instant {
        self.0.origin + Duration::from_nanos(self.0.last.load(Ordering::SeqCst))
    }

    /// Runs `request` unless nothing moves for `limit`; then drops it (closing its
    /// connection) and returns [`ApiError::Stalled`], a transient network error.
    pub(crate) async fn watch<T>(
        &self,
        op: &'static str,
        limit: Duration,
        request: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        self.touch();
        tokio::pin!(request);
        loop {
            let deadline = self.last() + limit;
            tokio::select! {
                biased;
                result = &mut request => return result,
                () = tokio::time::sleep_until(deadline) => {
                    if self.0.busy.load(Ordering::SeqCst) > 0 {
                        self.touch();
                    } else if self.last() + limit <= Instant::now() {
                        return Err(ApiError::Stalled { op, after: limit });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_request_that_keeps_moving_is_never_cut() {
        let activity = Activity::default();
        let mover = activity.clone();
        let request = async move {
            // Forty seconds in all, never more than two without movement.
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                mover.touch();
            }
            Ok(7)
        };
        assert_eq!(activity.watch("test", LIMIT, request).await.unwrap(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_on_our_own_side_is_not_a_stall() {
        let activity = Activity::default();
        let body = activity.clone();
        let request = async move {
            let _limiter = body.busy();
            tokio::time::sleep(LIMIT * 5).await;
            Ok(())
        };
        activity.watch("test", LIMIT, request).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_cut_after_the_limit() {
        let activity = Activity::default();
        let start = Instant::now();
        let request = async {
            tokio::time::sleep(LIMIT * 100).await;
            Ok(())
        };
        let err = activity.watch("test", LIMIT, request).await.unwrap_err();
        assert!(matches!(err, ApiError::Stalled { .. }), "{err}");
        assert_eq!(start.elapsed(), LIMIT);
    }
}
