//! What the pipeline may spend: requests per second, bytes per second, and requests per
//! Pacific day (Google's project quota resets at midnight Pacific time).
//!
//! The daily count lives in the database and is taken *before* each request is sent, so a
//! crash never under-counts and the budget is never crossed.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::store::{Store, StoreError};

/// Largest piece the byte limiter is asked for at once.
pub const MAX_BYTES_PER_PERMIT: u32 = 256 * 1024;

/// Shared limits of one pipeline.
pub struct Limits {
    requests: DefaultDirectRateLimiter,
    bytes: Option<DefaultDirectRateLimiter>,
    budget: u64,
    store: Store,
    /// Requests this process counted against the budget (what `verify` reports it spent).
    counted: AtomicU64,
}

/// The daily budget is spent until `resets_at` (Unix seconds).
#[derive(Debug, thiserror::Error)]
#[error("the daily budget of {budget} requests is spent; work resumes after midnight Pacific time")]
pub struct BudgetSpent {
    pub budget: u64,
    pub resets_at: i64,
}

impl BudgetSpent {
    /// Whether a recorded pause message is this error's (the local budget, not Google's
    /// quota): such a pause ends when the configured budget is raised.
    pub fn describes(message: &str) -> bool {
        message.contains("the daily budget of ")
    }
}

/// Why a request may not be sent.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Budget(#[from] BudgetSpent),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Limits {
    /// Limits from the `[upload]` settings.
    pub fn new(
        requests_per_second: u32,
        max_bytes_per_second: u64,
        daily_budget: u64,
        store: Store,
    ) -> Limits {
        let rps = NonZeroU32::new(requests_per_second).unwrap_or(NonZeroU32::MIN);
        let bytes = u32::try_from(max_bytes_per_second)
            .ok()
            .and_then(NonZeroU32::new)
            .map(|rate| {
                let burst = NonZeroU32::new(rate.get().max(MAX_BYTES_PER_PERMIT)).unwrap_or(rate);
                RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
            });
        Limits {
            requests: RateLimiter::direct(Quota::per_second(rps)),
            bytes,
            budget: daily_budget,
            store,
            counted: AtomicU64::new(0),
        }
    }

    /// Waits for a request slot and counts the request against today's budget.
    pub async fn before_request(&self) -> Result<(), LimitError> {
        self.requests.until_ready().await;
        let day = pacific_day(Utc::now());
        let budget = self.budget;
        let spent = self
            .store
            .call(move |db| db.spend_request(&day, budget))
            .await?;
        match spent {
            Some(_) => {
                self.counted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            None => Err(BudgetSpent {
                budget,
                resets_at: next_pacific_midnight(Utc::now()),
            }
            .into()),
        }
    }

    /// Waits until `n` more bytes may be sent (`n` ≤ [`MAX_BYTES_PER_PERMIT`]).
    pub async fn before_bytes(&self, n: usize) {
        let (Some(limiter), Some(n)) = (
            &self.bytes,
            u32::try_from(n.min(MAX_BYTES_PER_PERMIT as usize))
                .ok()
                .and_then(NonZeroU32::new),
        ) else {
            return;
        };
        // The burst is at least MAX_BYTES_PER_PERMIT, so capacity is never insufficient.
        let _ = limiter.until_n_ready(n).await;
    }

    /// The daily budget.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Requests these limits counted against the budget since they were made.
    pub fn counted(&self) -> u64 {
        self.counted.load(Ordering::Relaxed)
    }
}

/// The Pacific calendar day of `now`, as `YYYY-MM-DD`.
pub fn pacific_day(now: DateTime<Utc>) -> String {
    now.with_timezone(&Los_Angeles).date_naive().to_string()
}

/// Unix seconds of the next midnight in Pacific time after `now`.
pub fn next_pacific_midnight(now: DateTime<Utc>) -> i64 {
    let local = now.with_timezone(&Los_Angeles).date_naive();
    let tomorrow = local + ChronoDuration::days(1);
    let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default();
    Los_Angeles
        .from_local_datetime(&midnight)
        .earliest()
        .map_or(now.timestamp() + 86_400, |t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_day_follows_pacific_time() {
        // 07:59 UTC on 3 December is still 2 December in California (UTC-8 in winter).
        let t = Utc.with_ymd_and_hms(2026, 12, 3, 7, 59, 0).unwrap();
        assert_eq!(pacific_day(t), "2026-12-02");
        let reset = next_pacific_midnight(t);
        assert_eq!(
            reset,
            Utc.with_ymd_and_hms(2026, 12, 3, 8, 0, 0)
                .unwrap()
                .timestamp()
        );
        // Summer time: UTC-7.
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(
            next_pacific_midnight(t),
            Utc.with_ymd_and_hms(2026, 7, 2, 7, 0, 0)
                .unwrap()
                .timestamp()
        );
    }
}
