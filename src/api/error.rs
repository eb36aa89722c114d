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
    /// An upload on which nothing moved (no body bytes taken, no answer) for `after`
    /// (`[google] read_timeout`); it was abandoned to be resumed.
    #[error(
        "{op}: network error: operation timed out: nothing was sent or received for {} \
         ([google] read_timeout)",
        humantime::format_duration(*after)
    )]
    Stalled { op: &'static str, after: Duration },
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
const INSUFFICIENT_SCOPES: &str = "insufficient authentication scopes";
const NO_ALBUM_PERMISSION: &str = "no permission to add media items to this album";
const INVALID_ALBUM_ID: &str = "invalid album id";
/// Google's text for a media item id that does not resolve (lower-cased).
const INVALID_MEDIA_ITEM_ID: &str = "invalid media item id";

impl ApiError {
    /// How the pipeline should react.
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Network { .. } | ApiError::Stalled { .. } | ApiError::Protocol { .. } => {
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

    /// Whether Google refused the call because the access token lacks a scope the method
    /// needs (403 `PERMISSION_DENIED` "insufficient authentication scopes"), as opposed to
    /// other 403s such as an API that is not enabled.
    pub fn is_insufficient_scope(&self) -> bool {
        matches!(self, ApiError::Google { status: 403, message, .. } if message.contains(INSUFFICIENT_SCOPES))
    }

    /// Whether a read was refused because the media item id does not resolve: the item was
    /// deleted in the app, or was never this app's (`400 Invalid media item ID.`, or 404).
    pub fn is_invalid_media_item(&self) -> bool {
        match self {
            ApiError::Google { status: 404, .. } => true,
            ApiError::Google {
                status: 400,
                message,
                ..
            } => message.to_lowercase().contains(INVALID_MEDIA_ITEM_ID),
            _ => false,
        }
    }

    /// Whether Google refused the album of a call: it was deleted in the app, or is not
    /// this app's (`400 No permission to add media items to this album.` /
    /// `Invalid album ID.`).
    pub fn is_album_refused(&self) -> bool {
        match self {
            ApiError::Google {
                status: 400,
                message,
                ..
            } => {
                let m = message.to_lowercase();
                m.contains(NO_ALBUM_PERMISSION) || m.contains(INVALID_ALBUM_ID)
            }
            _ => false,
        }
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

    fn google(status: u16, message: &str) -> ApiError {
        ApiError::Google {
            op: "test",
            status,
            message: message.to_owned(),
            quota_limit: None,
            retry_after: None,
        }
    }

    #[test]
    fn a_missing_scope_is_told_apart_from_other_403s() {
        assert!(
            google(403, "Request had insufficient authentication scopes.").is_insufficient_scope()
        );
        let disabled = google(
            403,
            "Photos Library API has not been used in project 1 before or it is disabled.",
        );
        assert!(!disabled.is_insufficient_scope());
        assert_eq!(
            disabled.class(),
            ErrorClass::Pause(PauseReason::ScopeMissing),
            "the pipeline still pauses on any 403"
        );
    }

    #[test]
    fn an_unresolvable_media_item_id_is_recognised() {
        assert!(google(400, "Invalid media item ID.").is_invalid_media_item());
        assert!(google(404, "Requested entity was not found.").is_invalid_media_item());
        assert!(!google(400, "Request contains an invalid argument.").is_invalid_media_item());
        assert!(!google(500, "Invalid media item ID.").is_invalid_media_item());
    }

    #[test]
    fn a_refused_album_is_recognised() {
        assert!(google(400, "No permission to add media items to this album.").is_album_refused());
        assert!(google(400, "Invalid album ID.").is_album_refused());
        assert!(!google(400, "Request must contain a valid upload token.").is_album_refused());
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
