//! [`ApiError`]: every non-2xx answer the emulator gives, in the exact wire shape Google uses
//! for that case (JSON-API envelope, bare gRPC `{"code":16}` on uploads, OAuth
//! `{"error","error_description"}`, or an HTML page on the consent screen). An error caused by
//! the client carries a *violation* sentence; [`crate::server`] records it when the response
//! leaves, so handlers can use `?` freely.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Content type of every JSON body Google sends.
pub(crate) const JSON_UTF8: &str = "application/json; charset=UTF-8";

/// Consumer project quoted in quota bodies.
const PROJECT_NUMBER: &str = "100000000001";

pub(crate) const MSG_UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub(crate) const MSG_INSUFFICIENT_SCOPES: &str = "Request had insufficient authentication scopes.";
pub(crate) const MSG_INVALID_UPLOAD_TOKEN: &str = "Request must contain a valid upload token.";
pub(crate) const MSG_TOO_MANY_ITEMS: &str = "Request must have less than 50 items.";
pub(crate) const MSG_NO_ALBUM_PERMISSION: &str = "No permission to add media items to this album.";
pub(crate) const MSG_INVALID_ALBUM: &str = "Invalid album ID.";
pub(crate) const MSG_INVALID_MEDIA_ITEM: &str = "Request contains an invalid media item id.";
pub(crate) const MSG_STORAGE_FULL: &str =
    "The remaining storage in the user's account is not enough to perform this operation.";
pub(crate) const MSG_CONCURRENT: &str = "Quota exceeded for quota 'concurrent write request' of service 'photoslibrary.googleapis.com'.";
pub(crate) const MSG_BAD_IMAGE: &str =
    "BAD_IMAGE: There was an error while trying to create this media item.";
pub(crate) const MSG_EXISTS: &str =
    "EXISTS: There was an error while trying to create this media item.";

/// Marker left in response extensions for the server to append to `State::violations`.
#[derive(Clone, Debug)]
pub(crate) struct Violation(pub String);

#[derive(Debug)]
enum Body {
    /// `{"error":{"code","message","status"}}`.
    Google(String),
    /// A complete prebuilt JSON body (quota errors with `details`).
    Raw(Value),
    /// `{"error":…,"error_description":…}` from the OAuth endpoints.
    OAuth(&'static str, String),
    /// The consent screen's error page.
    Html(String),
}

/// A non-2xx response, optionally blaming the client. Boxed: errors travel through many
/// `?`s and the happy path should not pay for their size.
#[derive(Debug)]
pub(crate) struct ApiError(Box<ErrorParts>);

#[derive(Debug)]
struct ErrorParts {
    status: StatusCode,
    body: Body,
    violation: Option<String>,
    headers: HeaderMap,
}

fn build(status: StatusCode, body: Body) -> ApiError {
    ApiError(Box::new(ErrorParts {
        status,
        body,
        violation: None,
        headers: HeaderMap::new(),
    }))
}

pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    /// Google envelope; no violation (server-side condition or injected fault).
    pub(crate) fn google(status: StatusCode, message: impl Into<String>) -> ApiError {
        build(status, Body::Google(message.into()))
    }

    /// 400 INVALID_ARGUMENT caused by the client: `rule` says what it did wrong.
    pub(crate) fn invalid(message: impl Into<String>, rule: impl Into<String>) -> ApiError {
        ApiError::google(StatusCode::BAD_REQUEST, message).blame(rule)
    }

    /// Any Google-envelope error caused by the client.
    pub(crate) fn client(
        status: StatusCode,
        message: impl Into<String>,
        rule: impl Into<String>,
    ) -> ApiError {
        ApiError::google(status, message).blame(rule)
    }

    /// OAuth-style `{"error","error_description"}` body.
    pub(crate) fn oauth(status: StatusCode, error: &'static str, description: &str) -> ApiError {
        build(status, Body::OAuth(error, description.to_owned()))
    }

    /// The consent screen's error page (`Error 400: invalid_request` …).
    pub(crate) fn html(status: StatusCode, error: &str, detail: &str) -> ApiError {
        let page = format!(
            "<!DOCTYPE html><html><head><title>Error {}: {error}</title></head><body>\
             <h1>Access blocked: authorization error</h1><p>Error {}: {error}</p>\
             <p>{detail}</p></body></html>",
            status.as_u16(),
            status.as_u16()
        );
        build(status, Body::Html(page))
    }

    /// `/v1/uploads` without `photoslibrary.appendonly`: a bare gRPC status, observed live.
    pub(crate) fn upload_scope() -> ApiError {
        build(
            StatusCode::UNAUTHORIZED,
            Body::Raw(json!({"code": 16, "message": "Authentication session is not defined."})),
        )
    }

    pub(crate) fn unauthenticated() -> ApiError {
        ApiError::google(StatusCode::UNAUTHORIZED, MSG_UNAUTHENTICATED).with_header(
            axum::http::header::WWW_AUTHENTICATE,
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        )
    }

    pub(crate) fn insufficient_scopes(rule: impl Into<String>) -> ApiError {
        ApiError::client(StatusCode::FORBIDDEN, MSG_INSUFFICIENT_SCOPES, rule)
    }

    pub(crate) fn storage_full() -> ApiError {
        ApiError::google(StatusCode::BAD_REQUEST, MSG_STORAGE_FULL)
    }

    /// 429 `ApiCallsPerProjectPerDay`, body as captured from the real service.
    pub(crate) fn daily_quota(limit: u64) -> ApiError {
        let message = format!(
            "Quota exceeded for quota metric 'All requests' and limit 'All requests per day' of service 'photoslibrary.googleapis.com' for consumer 'project_number:{PROJECT_NUMBER}'."
        );
        quota_error(
            message,
            limit,
            "ApiCallsPerProjectPerDay",
            "photoslibrary.googleapis.com/all_requests",
        )
    }

    /// 429 `WritesPerMinutePerUser`.
    pub(crate) fn write_quota(limit: u32) -> ApiError {
        let message = format!(
            "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'photoslibrary.googleapis.com' for consumer 'project_number:{PROJECT_NUMBER}'."
        );
        quota_error(
            message,
            u64::from(limit),
            "WritesPerMinutePerUser",
            "photoslibrary.googleapis.com/write_requests",
        )
    }

    /// The response to an injected `Status` fault: canonical name and Google's stock text.
    pub(crate) fn injected(code: u16, retry_after: Option<u64>) -> ApiError {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut err = ApiError::google(status, stock_message(status));
        if let Some(secs) = retry_after {
            err = err.with_header(RETRY_AFTER, &secs.to_string());
        }
        err
    }

    /// Marks the error as the client's fault.
    pub(crate) fn blame(mut self, rule: impl Into<String>) -> ApiError {
        self.0.violation = Some(rule.into());
        self
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: &str) -> ApiError {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.0.headers.insert(name, v);
        }
        self
    }
}

fn quota_error(message: String, limit: u64, quota_limit: &str, metric: &str) -> ApiError {
    let body = json!({"error": {
        "code": 429,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": "rateLimitExceeded"}],
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
             "domain": "googleapis.com",
             "metadata": {"quota_limit_value": limit.to_string(),
                          "consumer": format!("projects/{PROJECT_NUMBER}"),
                          "service": "photoslibrary.googleapis.com",
                          "quota_limit": quota_limit, "quota_location": "global",
                          "quota_metric": metric}},
            {"@type": "type.googleapis.com/google.rpc.Help",
             "links": [{"description": "Request a higher quota limit.",
                        "url": "https://cloud.google.com/docs/quota#requesting_higher_quota"}]}
        ]
    }});
    build(StatusCode::TOO_MANY_REQUESTS, Body::Raw(body))
}

/// google.rpc canonical code name for an HTTP status (the mapping in google/rpc/code.proto).
pub(crate) fn canonical_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        416 => "OUT_OF_RANGE",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500 => "INTERNAL",
        _ if status.is_client_error() => "FAILED_PRECONDITION",
        _ => "UNKNOWN",
    }
}

fn stock_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Request contains an invalid argument.",
        401 => MSG_UNAUTHENTICATED,
        403 => "The caller does not have permission",
        404 => "Requested entity was not found.",
        409 => "The operation was aborted.",
        429 => "Resource has been exhausted (e.g. check quota).",
        500 => "Internal error encountered.",
        501 => "Operation is not implemented, or supported, or enabled.",
        503 => "The service is currently unavailable.",
        504 => "Deadline expired before operation could complete.",
        _ => "Unknown error.",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = *self.0;
        let (content_type, body) = match e.body {
            Body::Google(message) => (
                JSON_UTF8,
                json!({"error": {"code": e.status.as_u16(), "message": message,
                                 "status": canonical_status(e.status)}})
                .to_string(),
            ),
            Body::Raw(v) => (JSON_UTF8, v.to_string()),
            Body::OAuth(error, description) => (
                JSON_UTF8,
                json!({"error": error, "error_description": description}).to_string(),
            ),
            Body::Html(page) => ("text/html; charset=utf-8", page),
        };
        let mut resp = (e.status, body).into_response();
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp.headers_mut().extend(e.headers);
        if let Some(rule) = e.violation {
            resp.extensions_mut().insert(Violation(rule));
        }
        resp
    }
}

/// A 200 JSON response with Google's content type.
pub(crate) fn json_ok(value: &Value) -> Response {
    let mut resp = (StatusCode::OK, value.to_string()).into_response();
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    resp
}
