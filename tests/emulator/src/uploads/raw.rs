//! Simple ("raw") upload: one `POST /v1/uploads` with the whole file; the answer is the
//! upload token as plain text. Nothing of a failed or cut raw upload is kept.

use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;

use crate::access::Need;
use crate::config::RAW_UPLOAD_GUIDANCE_BYTES;
use crate::errors::{ApiError, ApiResult};
use crate::server::{Ctx, kill_response};
use crate::uploads::{End, Hashing, issue_token, new_upload_id, parse_u64, pump, token_response};

pub(crate) async fn handle(ctx: &mut Ctx) -> ApiResult {
    let principal = ctx.authorize(Need::Upload)?;
    let protocol = ctx.header("x-goog-upload-protocol").unwrap_or("");
    if !protocol.eq_ignore_ascii_case("raw") {
        return Err(ApiError::invalid(
            "Invalid X-Goog-Upload-Protocol header; expected raw or resumable.",
            format!(
                "raw_upload: X-Goog-Upload-Protocol is {:?}; it must be raw or resumable",
                protocol
            ),
        ));
    }
    let content_type = ctx.header("content-type").unwrap_or("");
    if !content_type.eq_ignore_ascii_case("application/octet-stream") {
        ctx.shared.lock().violation(format!(
            "raw_upload: Content-Type is {content_type:?}; Google documents application/octet-stream"
        ));
    }
    let declared = ctx
        .header("content-length")
        .and_then(|v| parse_u64(Some(v)));
    if declared == Some(0) {
        return Err(empty_body());
    }
    let file_name = ctx.header("x-goog-upload-file-name").map(str::to_owned);
    let mut h = Hashing::fresh();
    let shared = ctx.shared.clone();
    let (end, n) = pump(
        &mut ctx.body,
        &mut h,
        &shared,
        ctx.cut_after,
        u64::MAX,
        declared,
    )
    .await;
    match end {
        End::Cut => return Ok(kill_response()),
        // Nobody is listening any more; the answer is for form's sake.
        End::ClientGone | End::TooLong => return Ok(StatusCode::BAD_REQUEST.into_response()),
        End::Complete => {}
    }
    if n == 0 {
        return Err(empty_body());
    }
    if n > RAW_UPLOAD_GUIDANCE_BYTES {
        shared.lock().violation(format!(
            "raw_upload: {n} bytes in a simple upload; Google recommends resumable uploads \
             above 50 MB"
        ));
    }
    let token = issue_token(&shared, &principal.client_id, &h, file_name);
    let mut resp = token_response(token, None);
    if let Ok(v) = HeaderValue::from_str(&new_upload_id()) {
        resp.headers_mut().insert("x-guploader-uploadid", v);
    }
    Ok(resp)
}

fn empty_body() -> ApiError {
    ApiError::invalid(
        "The request body is empty.",
        "raw_upload: zero-byte body; a raw upload must carry the file's bytes",
    )
}
