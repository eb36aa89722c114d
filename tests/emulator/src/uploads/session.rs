//! Requests on a session URL: `query`, `cancel`, `upload`, `upload, finalize`, `finalize`.
//! Every rule Google's upload servers enforce (or, where unconfirmed, that the protocol
//! implies) is checked before a byte is committed: the offset must equal what the server
//! holds, non-final chunks must be granularity multiples, nothing may pass the declared
//! size, and finalize must complete the file exactly. A rejected chunk leaves the session
//! untouched; a chunk cut mid-body commits only whole granularity units.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::access::Need;
use crate::errors::{ApiError, ApiResult};
use crate::routes::SessionCommand;
use crate::server::{Ctx, kill_response};
use crate::store::{SessionStatus, Shared};
use crate::uploads::{End, Hashing, issue_token, parse_u64, pump, token_response};

pub(crate) async fn handle(ctx: &mut Ctx, upload_id: &str, command: SessionCommand) -> ApiResult {
    let principal = ctx.authorize(Need::Upload)?;
    let now = ctx.shared.clock.now();
    let ttl = ctx.shared.config.session_ttl;
    {
        let mut inner = ctx.shared.lock();
        let Some(s) = inner.session_mut(upload_id) else {
            return Err(not_found().blame(format!(
                "{}: upload_id {upload_id:?} was never issued by a start command",
                ctx.route.kind()
            )));
        };
        if s.client_id != principal.client_id {
            return Err(not_found().blame(format!(
                "{}: session URL used with an access token of another OAuth client",
                ctx.route.kind()
            )));
        }
        if now.duration_since(s.created).unwrap_or_default() >= ttl {
            return Err(not_found());
        }
    }
    // A request whose client just went away may still be settling (its last frames being
    // hashed); let it commit first so query and the resumed upload see the final count.
    wait_idle(&ctx.shared, upload_id).await;
    let resp = match command {
        SessionCommand::Invalid(raw) => Err(ApiError::invalid(
            "Invalid X-Goog-Upload-Command header.",
            format!(
                "{}: X-Goog-Upload-Command {raw:?} on a session URL; expected query, cancel, \
                 upload, 'upload, finalize' or finalize",
                ctx.route.kind()
            ),
        )),
        SessionCommand::Query => Ok(query(&ctx.shared, upload_id)),
        SessionCommand::Cancel => cancel(&ctx.shared, upload_id),
        SessionCommand::Upload { upload, finalize } => {
            chunk(ctx, upload_id, upload, finalize, principal.client_id).await
        }
    };
    // Google's upload servers tag every answer with the upload id.
    let with_id = |mut r: Response| {
        if let Ok(v) = HeaderValue::from_str(upload_id) {
            r.headers_mut().insert("x-guploader-uploadid", v);
        }
        r
    };
    resp.map(with_id).map_err(|e| {
        e.with_header(
            axum::http::HeaderName::from_static("x-guploader-uploadid"),
            upload_id,
        )
    })
}

fn not_found() -> ApiError {
    ApiError::google(
        StatusCode::NOT_FOUND,
        "The upload session was not found or has expired.",
    )
}

fn status_response(status: SessionStatus, extra: &[(&'static str, String)]) -> Response {
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(
        "x-goog-upload-status",
        HeaderValue::from_static(status.as_str()),
    );
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
    resp
}

/// Status and committed size. A final session answers `final` with no token: the token
/// from a lost finalize response cannot be recovered (clients must start over).
fn query(shared: &Shared, upload_id: &str) -> Response {
    let mut inner = shared.lock();
    let Some(s) = inner.session_mut(upload_id) else {
        return not_found().into_response();
    };
    match s.status {
        SessionStatus::Active => status_response(
            s.status,
            &[
                ("x-goog-upload-size-received", s.received.to_string()),
                ("x-goog-upload-chunk-granularity", s.granularity.to_string()),
            ],
        ),
        other => status_response(other, &[]),
    }
}

fn cancel(shared: &Shared, upload_id: &str) -> ApiResult {
    let mut inner = shared.lock();
    let Some(s) = inner.session_mut(upload_id) else {
        return Err(not_found());
    };
    if s.status != SessionStatus::Active {
        let status = s.status;
        return Err(closed(status, "cancel"));
    }
    s.status = SessionStatus::Cancelled;
    Ok(status_response(SessionStatus::Cancelled, &[]))
}

/// 400 for any command on a final or cancelled session, echoing its status.
fn closed(status: SessionStatus, command: &str) -> ApiError {
    ApiError::invalid(
        format!("The upload session is already {}.", status.as_str()),
        format!(
            "resumable_upload: '{command}' sent to a session that is already {}",
            status.as_str()
        ),
    )
    .with_header(
        axum::http::HeaderName::from_static("x-goog-upload-status"),
        status.as_str(),
    )
}

fn active_error(message: &str, rule: String) -> ApiError {
    ApiError::invalid(message, rule).with_header(
        axum::http::HeaderName::from_static("x-goog-upload-status"),
        "active",
    )
}

/// Waits (bounded) until no request is streaming into the session.
async fn wait_idle(shared: &Shared, upload_id: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let busy = shared.lock().session_mut(upload_id).is_some_and(|s| s.busy);
        if !busy || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Clears the session's busy flag however the request ends.
struct Busy(Arc<Shared>, String);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(s) = self.0.lock().session_mut(&self.1) {
            s.busy = false;
        }
    }
}

async fn chunk(
    ctx: &mut Ctx,
    upload_id: &str,
    upload: bool,
    finalize: bool,
    client_id: String,
) -> ApiResult {
    let command = match (upload, finalize) {
        (true, true) => "upload, finalize",
        (true, false) => "upload",
        _ => "finalize",
    };
    let offset_header = ctx.header("x-goog-upload-offset").map(str::to_owned);
    let declared = parse_u64(ctx.header("content-length"));
    let shared = ctx.shared.clone();
    let (mut h, raw_size, file_name) = {
        let mut inner = shared.lock();
        let Some(s) = inner.session_mut(upload_id) else {
            return Err(not_found());
        };
        if s.status != SessionStatus::Active {
            let status = s.status;
            return Err(closed(status, command));
        }
        if s.busy {
            return Err(active_error(
                "Another request is already writing to this upload session.",
                format!(
                    "resumable_upload: '{command}' sent while another request on the same session was still streaming"
                ),
            ));
        }
        let offset = match offset_header.as_deref() {
            None if !upload => s.received,
            None => {
                return Err(active_error(
                    "Missing X-Goog-Upload-Offset header.",
                    format!("resumable_upload: '{command}' without X-Goog-Upload-Offset"),
                ));
            }
            Some(v) => parse_u64(Some(v)).ok_or_else(|| {
                active_error(
                    "Invalid X-Goog-Upload-Offset header.",
                    format!("resumable_upload: X-Goog-Upload-Offset {v:?} is not a byte count"),
                )
            })?,
        };
        if offset != s.received {
            return Err(active_error(
                "The X-Goog-Upload-Offset does not match the number of bytes received.",
                format!(
                    "resumable_upload: X-Goog-Upload-Offset {offset} but the server holds {} \
                     bytes (query the session and resume from X-Goog-Upload-Size-Received)",
                    s.received
                ),
            ));
        }
        if let Some(n) = declared {
            precheck(
                n,
                s.received,
                s.raw_size,
                s.granularity,
                upload,
                finalize,
                command,
            )?;
        }
        s.busy = true;
        let h = Hashing::resume(s.hasher.clone(), s.received, s.head.clone(), s.granularity);
        (h, s.raw_size, s.file_name.clone())
    };
    let _busy = Busy(shared.clone(), upload_id.to_owned());
    let start = h.count;
    let limit = if upload { raw_size - start } else { 0 };
    let (end, n) = pump(
        &mut ctx.body,
        &mut h,
        &shared,
        ctx.cut_after,
        limit,
        declared,
    )
    .await;
    let granularity = shared.config.granularity.max(1);
    match end {
        End::Cut | End::ClientGone => {
            commit(&shared, upload_id, &h, false);
            return Ok(if end == End::Cut {
                kill_response()
            } else {
                StatusCode::BAD_REQUEST.into_response()
            });
        }
        End::TooLong => {
            return Err(active_error(
                "The upload exceeds the declared X-Goog-Upload-Raw-Size.",
                format!(
                    "resumable_upload: bytes past X-Goog-Upload-Raw-Size {raw_size} (chunk from offset {start} carried at least {n})"
                ),
            ));
        }
        End::Complete => {}
    }
    // Chunked bodies are only measurable now; same rules as the Content-Length precheck.
    precheck(n, start, raw_size, granularity, upload, finalize, command)?;
    if !finalize {
        commit(&shared, upload_id, &h, true);
        return Ok(status_response(SessionStatus::Active, &[]));
    }
    let token = issue_token(&shared, &client_id, &h, file_name);
    if let Some(s) = shared.lock().session_mut(upload_id) {
        s.status = SessionStatus::Final;
        s.received = h.count;
    }
    Ok(token_response(token, Some("final")))
}

/// Stores the request's bytes in the session: all of them (`whole`), or only up to the last
/// granularity boundary (a cut).
fn commit(shared: &Shared, upload_id: &str, h: &Hashing, whole: bool) {
    let (hasher, count) = if whole {
        (h.hasher.clone(), h.count)
    } else {
        h.checkpoint.clone()
    };
    let mut inner = shared.lock();
    if let Some(s) = inner.session_mut(upload_id) {
        s.hasher = hasher;
        s.received = count;
        s.head = h.head_up_to(count);
    }
}

/// The size rules for a chunk of `n` bytes at `received`.
fn precheck(
    n: u64,
    received: u64,
    raw_size: u64,
    granularity: u64,
    upload: bool,
    finalize: bool,
    command: &str,
) -> ApiResult<()> {
    if !upload && n > 0 {
        return Err(active_error(
            "The finalize command must not carry bytes.",
            format!(
                "resumable_upload: bare 'finalize' with a {n}-byte body; use 'upload, finalize'"
            ),
        ));
    }
    if received + n > raw_size {
        return Err(active_error(
            "The upload exceeds the declared X-Goog-Upload-Raw-Size.",
            format!(
                "resumable_upload: chunk of {n} bytes at offset {received} passes X-Goog-Upload-Raw-Size {raw_size}"
            ),
        ));
    }
    if !finalize && !n.is_multiple_of(granularity) {
        return Err(active_error(
            "The chunk size must be a multiple of X-Goog-Upload-Chunk-Granularity.",
            format!(
                "resumable_upload: non-final '{command}' chunk of {n} bytes is not a multiple of the granularity {granularity}"
            ),
        ));
    }
    if finalize && received + n != raw_size {
        return Err(active_error(
            "Finalize before all bytes were received.",
            format!(
                "resumable_upload: '{command}' would end the file at {} bytes but X-Goog-Upload-Raw-Size is {raw_size}",
                received + n
            ),
        ));
    }
    Ok(())
}
