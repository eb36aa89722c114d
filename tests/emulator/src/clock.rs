//! [`Clock`]: the emulated wall clock. It runs at real speed from the real time at start,
//! plus whatever tests add with [`crate::Emulator::advance_clock`]. Every expiry (access,
//! refresh and upload tokens, sessions, codes), the write-rate window, the quota day and
//! the `Date` header read it, so a test can jump a day ahead without waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::America::Los_Angeles;

/// Real time plus a test-controlled offset.
#[derive(Debug)]
pub(crate) struct Clock {
    started_wall: SystemTime,
    started: Instant,
    offset: Mutex<Duration>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            started_wall: SystemTime::now(),
            started: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// The emulated "now".
    pub(crate) fn now(&self) -> SystemTime {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        self.started_wall + self.started.elapsed() + offset
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

/// The calendar day in America/Los_Angeles (DST-aware through `chrono-tz`), which is when
/// Google resets the per-project daily quota.
pub(crate) fn pacific_day(t: SystemTime) -> NaiveDate {
    DateTime::<Utc>::from(t)
        .with_timezone(&Los_Angeles)
        .date_naive()
}

/// RFC 3339 in UTC with a `Z`, as Google renders `creationTime`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The UTC calendar date, which search date filters compare against.
pub(crate) fn date_of(t: SystemTime) -> NaiveDate {
    DateTime::<Utc>::from(t).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacific_day_rolls_at_local_midnight() {
        // 2024-07-02 06:59:59 UTC is 23:59:59 PDT on July 1st.
        let before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_719_903_599);
        let after = before + Duration::from_secs(1);
        assert_eq!(pacific_day(before).to_string(), "2024-07-01");
        assert_eq!(pacific_day(after).to_string(), "2024-07-02");
    }
}
