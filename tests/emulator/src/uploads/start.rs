//! Resumable session start: `X-Goog-Upload-Command: start` with an empty body and the file's
//! size; the answer carries the absolute session URL and the chunk granularity.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::access::Need;
use crate::errors::{ApiError, ApiResult};
use crate::server::Ctx;
use crate::store::{SessionData, SessionStatus};
use crate::uploads::{new_upload_id, parse_u64};

pub(crate) async fn handle(mut ctx: Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Upload)?;
    let command = ctx.header("x-goog-upload-command").unwrap_or("");
    if !command.eq_ignore_ascii_case("start") {
        return Err(ApiError::invalid(
            "Invalid X-Goog-Upload-Command header; a new resumable upload must use start.",
            format!(
                "resumable_start: X-Goog-Upload-Command is {command:?} on /v1/uploads; \
                 a session is opened with 'start'"
            ),
        ));
    }
    let raw_size = parse_u64(ctx.header("x-goog-upload-raw-size")).filter(|n| *n > 0);
    let Some(raw_size) = raw_size else {
        return Err(ApiError::invalid(
            "Missing or invalid X-Goog-Upload-Raw-Size header.",
            format!(
                "resumable_start: X-Goog-Upload-Raw-Size must be the file size, a positive \
                 integer (got {:?})",
                ctx.header("x-goog-upload-raw-size")
            ),
        ));
    };
    let declared = parse_u64(ctx.header("content-length"));
    let has_body = match declared {
        Some(n) => n > 0,
        None => match ctx.body.frame().await {
            Some(Ok(frame)) => frame.data_ref().is_some_and(|d| !d.is_empty()),
            _ => false,
        },
    };
    if has_body {
        return Err(ApiError::invalid(
            "The start command must not carry a body.",
            "resumable_start: 'start' must have Content-Length: 0 and an empty body",
        ));
    }
    let now = ctx.shared.clock.now();
    let upload_id = new_upload_id();
    let granularity = ctx.shared.config.granularity.max(1);
    ctx.shared.lock().sessions.push(SessionData {
        upload_id: upload_id.clone(),
        client_id: principal.client_id,
        file_name: ctx.header("x-goog-upload-file-name").map(str::to_owned),
        raw_size,
        received: 0,
        hasher: Sha256::new(),
        head: Vec::new(),
        status: SessionStatus::Active,
        created: now,
        busy: false,
        granularity,
    });
    let url = format!(
        "{}/v1/uploads?upload_id={upload_id}&upload_protocol=resumable",
        ctx.shared.base_url
    );
    Ok(start_response(&url, &upload_id, granularity))
}

fn start_response(url: &str, upload_id: &str, granularity: u64) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    put("x-goog-upload-url", url);
    put("x-goog-upload-chunk-granularity", &granularity.to_string());
    put("x-goog-upload-status", "active");
    put("x-guploader-uploadid", upload_id);
    resp
}
