//! [`ApiError`] and its [`ErrorClass`]: what the queue should do about a failed request,
//! decided from Google's error body (quota metadata, message), not the status code alone.

use std::time::Duration;

use serde::Deserialize;

use crate::auth::AuthError;
use crate::limits::LimitError;
use crate::store::{PauseReason, StoreError};

/// A failed call to Google.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{op}: network error: {message}")]
    Network { op: &'static str, message: String },
    #[error("{op}: Google answered HTTP {status}: {message}")]
    Google {
        op: &'static str,
        status: u16,
        message: String,
        /// `details[].metadata.quota_limit` of a quota error.
        quota_limit: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("{op}: unexpected answer from Google: {detail}")]
    Protocol { op: &'static str, detail: String },
    #[error("reading the file: {0}")]
    File(std::io::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// What to do about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later (network, 5xx, rate limits), after at least `retry_after`.
    Transient { retry_after: Option<Duration> },
    /// A per-minute quota: wait the quota backoff.
    RateLimited,
    /// The access token was refused: refresh once and repeat.
    Unauthorized,
    /// This file will never work as it is.
    Permanent,
    /// Nothing will work until the cause is gone: pause the pipeline.
    Pause(PauseReason),
    /// The local database failed: stop rather than lose track of state.
    Fatal,
}

const STORAGE_FULL: &str = "remaining storage in the user's account";
const INVALID_UPLOAD_TOKEN: &str = "valid upload token";

impl ApiError {
    /// How the pipeline should react.
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Network { .. } | ApiError::Protocol { .. } => {
                ErrorClass::Transient { retry_after: None }
            }
            ApiError::File(_) => ErrorClass::Permanent,
            ApiError::Auth(e) if e.is_transient() => ErrorClass::Transient { retry_after: None },
            ApiError::Auth(AuthError::ScopeMissing { .. }) => {
                ErrorClass::Pause(PauseReason::ScopeMissing)
            }
            ApiError::Auth(_) => ErrorClass::Pause(PauseReason::AuthRequired),
            ApiError::Limit(LimitError::Budget(_)) => ErrorClass::Pause(PauseReason::DailyQuota),
            ApiError::Limit(LimitError::Store(_)) => ErrorClass::Fatal,
            ApiError::Google {
                status,
                message,
                quota_limit,
                retry_after,
                ..
            } => classify_google(*status, message, quota_limit.as_deref(), *retry_after),
        }
    }

    /// Whether batchCreate refused the call over an upload token.
    pub fn is_invalid_upload_token(&self) -> bool {
        matches!(self, ApiError::Google { status: 400, message, .. } if message.contains(INVALID_UPLOAD_TOKEN))
    }

    /// When a global pause from this error lifts by itself (Unix seconds).
    pub fn pause_until(&self) -> Option<i64> {
        match self {
            ApiError::Limit(LimitError::Budget(b)) => Some(b.resets_at),
            _ => None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Limit(LimitError::Store(e))
    }
}

fn classify_google(
    status: u16,
    message: &str,
    quota_limit: Option<&str>,
    retry_after: Option<Duration>,
) -> ErrorClass {
    match status {
        401 if message.contains("Authentication session is not defined") => {
            ErrorClass::Pause(PauseReason::ScopeMissing)
        }
        401 => ErrorClass::Unauthorized,
        403 => ErrorClass::Pause(PauseReason::ScopeMissing),
        429 if quota_limit == Some("ApiCallsPerProjectPerDay") || message.contains("per day") => {
            ErrorClass::Pause(PauseReason::DailyQuota)
        }
        429 if quota_limit.is_some() => ErrorClass::RateLimited,
        429 => ErrorClass::Transient { retry_after },
        400 if message.contains(STORAGE_FULL) => ErrorClass::Pause(PauseReason::StorageFull),
        408 | 500 | 502 | 503 | 504 | 509 => ErrorClass::Transient { retry_after },
        _ => ErrorClass::Permanent,
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<EnvelopeError>,
    // The uploads endpoint sometimes answers a bare `{"code","message"}`.
    message: Option<String>,
}

#[derive(Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Builds an [`ApiError::Google`] from a non-success response.
pub(crate) async fn from_response(op: &'static str, response: reqwest::Response) -> ApiError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.unwrap_or_default();
    let (message, quota_limit) = match serde_json::from_slice::<Envelope>(&body) {
        Ok(Envelope { error: Some(e), .. }) => {
            let quota = e
                .details
                .iter()
                .filter_map(|d| d.metadata.as_ref()?.get("quota_limit")?.as_str())
                .next()
                .map(str::to_owned);
            (e.message, quota)
        }
        Ok(Envelope {
            message: Some(m), ..
        }) => (m, None),
        _ => {
            let text = String::from_utf8_lossy(&body);
            (text.chars().take(200).collect(), None)
        }
    };
    ApiError::Google {
        op,
        status,
        message,
        quota_limit,
        retry_after,
    }
}

/// A network-level failure, without the URL (session URLs are capabilities).
pub(crate) fn network(op: &'static str, e: &reqwest::Error) -> ApiError {
    let mut message = e.to_string();
    if let Some(url) = e.url() {
        message = message.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ApiError::Network { op, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_errors_are_told_apart_by_their_metadata() {
        assert_eq!(
            classify_google(429, "x", Some("ApiCallsPerProjectPerDay"), None),
            ErrorClass::Pause(PauseReason::DailyQuota)
        );
        assert_eq!(
            classify_google(429, "x", Some("WritesPerMinutePerUser"), None),
            ErrorClass::RateLimited
        );
        assert_eq!(
            classify_google(429, "concurrent write request", None, None),
            ErrorClass::Transient { retry_after: None }
        );
    }

    #[test]
    fn storage_full_pauses_and_other_400s_are_permanent() {
        assert_eq!(
            classify_google(
                400,
                "The remaining storage in the user's account is not enough to perform this operation.",
                None,
                None
            ),
            ErrorClass::Pause(PauseReason::StorageFull)
        );
        assert_eq!(
            classify_google(400, "bad", None, None),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_google(503, "x", None, Some(Duration::from_secs(3))),
            ErrorClass::Transient {
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }
}
