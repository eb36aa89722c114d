//! The HTTP side: an accept loop serving HTTP/1.1 with hyper, one task per connection, and
//! [`handle`], the front door every request passes: classify ([`Route`]), count, apply an
//! injected fault, dispatch to the endpoint module, then stamp `Date` and record any client
//! violation. A handler can ask for its connection to be dropped with no response at all
//! ([`KillConnection`]) — that is how `CutAfter` and `DropResponse` are emulated, which a
//! router-level framework cannot express, hence the hand-written loop.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::header::DATE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::MAX_JSON_BODY;
use crate::errors::{ApiError, ApiResult, Violation};
use crate::faults::{FaultAction, Target};
use crate::routes::Route;
use crate::store::Shared;
use crate::{albums, control, media, oauth, uploads};

/// Response extension: drop the TCP connection instead of answering.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KillConnection;

/// A response that is never sent: the connection is dropped.
pub(crate) fn kill_response() -> Response {
    let mut resp = StatusCode::OK.into_response();
    resp.extensions_mut().insert(KillConnection);
    resp
}

/// Accepts connections until `shutdown` fires; each connection can be killed on its own.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let kill = shutdown.child_token();
        let shared = shared.clone();
        tokio::spawn(async move {
            let conn_kill = kill.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = shared.clone();
                let kill = conn_kill.clone();
                async move { Ok::<_, Infallible>(handle(shared, kill, req.map(Body::new)).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                () = kill.cancelled() => {}
            }
        });
    }
}

/// Everything a handler needs about one request.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub route: Route,
    pub parts: Parts,
    pub body: Body,
    /// `CutAfter(n)` for upload routes, which keep partial bytes themselves.
    pub cut_after: Option<u64>,
    /// Another batchCreate was in flight when this one arrived.
    pub batch_was_busy: bool,
}

impl Ctx {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        crate::routes::header(&self.parts.headers, name)
    }

    pub(crate) fn query(&self, name: &str) -> Option<String> {
        crate::routes::query_param(&self.parts.uri, name)
    }

    /// Reads a small body whole (JSON and form requests, never uploads).
    pub(crate) async fn read_small_body(&mut self) -> ApiResult<bytes::Bytes> {
        let body = std::mem::replace(&mut self.body, Body::empty());
        match http_body_util::Limited::new(body, MAX_JSON_BODY)
            .collect()
            .await
        {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(_) => Err(ApiError::invalid(
                "Request payload size exceeds the limit.",
                format!(
                    "{}: request body unreadable or larger than {MAX_JSON_BODY} bytes",
                    self.route.kind()
                ),
            )),
        }
    }

    /// Reads and strictly parses a JSON body (unknown fields rejected, as Google does).
    pub(crate) async fn read_json<T: DeserializeOwned>(&mut self) -> ApiResult<T> {
        let bytes = self.read_small_body().await?;
        let text = if bytes.is_empty() {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(text).map_err(|e| {
            ApiError::invalid(
                format!("Invalid JSON payload received. {e}"),
                format!(
                    "{}: request body is not the JSON Google expects: {e}",
                    self.route.kind()
                ),
            )
        })
    }
}

/// Decrements the in-flight batchCreate count however the request ends.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.batch_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(shared: Arc<Shared>, kill: CancellationToken, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let route = Route::classify(&parts.method, &parts.uri, &parts.headers);
    let mut resp = match route.target() {
        None => control::handle(&shared, &route, parts, body).await,
        Some(target) => gated(shared.clone(), route, target, parts, body).await,
    };
    if let Some(Violation(rule)) = resp.extensions_mut().remove::<Violation>() {
        shared.lock().violation(rule);
    }
    if resp.extensions().get::<KillConnection>().is_some() {
        kill.cancel();
        std::future::pending::<()>().await;
    }
    let date = httpdate::fmt_http_date(shared.clock.now());
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert(DATE, v);
    }
    resp
}

async fn gated(
    shared: Arc<Shared>,
    route: Route,
    target: Target,
    parts: Parts,
    mut body: Body,
) -> Response {
    let fault = {
        let now = shared.clock.now();
        let mut inner = shared.lock();
        inner.count(route.kind());
        if route.is_library_api() {
            inner.roll_day(now);
            inner.api_requests_today += 1;
        }
        inner.faults.take_request_fault(target)
    };
    let mut in_flight = None;
    let mut batch_was_busy = false;
    if route == Route::BatchCreate {
        batch_was_busy = shared.batch_in_flight.fetch_add(1, Ordering::SeqCst) > 0;
        in_flight = Some(InFlight(shared.clone()));
    }
    let mut cut_after = None;
    let mut drop_response = false;
    match fault {
        Some(FaultAction::Status { code, retry_after }) => {
            return ApiError::injected(code, retry_after).into_response();
        }
        Some(FaultAction::DailyQuota) => {
            return ApiError::daily_quota(shared.config.daily_quota).into_response();
        }
        Some(FaultAction::WriteQuota) => {
            return ApiError::write_quota(shared.config.writes_per_minute).into_response();
        }
        Some(FaultAction::StorageFull) => return ApiError::storage_full().into_response(),
        Some(FaultAction::Stall(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::CutAfter(n)) if route.handles_cut() => cut_after = Some(n),
        Some(FaultAction::CutAfter(n)) => {
            read_prefix(&mut body, n).await;
            return kill_response();
        }
        Some(FaultAction::DropResponse) => drop_response = true,
        Some(FaultAction::ExpireAccessToken) => expire_presented_token(&shared, &parts),
        Some(FaultAction::ItemStatus { .. }) | None => {}
    }
    let ctx = Ctx {
        shared,
        route,
        parts,
        body,
        cut_after,
        batch_was_busy,
    };
    let mut resp = dispatch(ctx)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    drop(in_flight);
    if drop_response {
        resp.extensions_mut().insert(KillConnection);
    }
    resp
}

/// Ends the life of the bearer token `parts` carries, if it is one the emulator issued.
fn expire_presented_token(shared: &Shared, parts: &Parts) {
    let Some(token) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .map(|(_, t)| t.trim().to_owned())
    else {
        return;
    };
    let now = shared.clock.now();
    if let Some(grant) = shared.lock().access_tokens.get_mut(&token) {
        grant.expires = grant.expires.min(now);
    }
}

/// Reads up to `n` body bytes (for a cut on a non-upload endpoint).
async fn read_prefix(body: &mut Body, n: u64) {
    let mut read = 0u64;
    while read < n {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read += data.len() as u64;
                }
            }
            _ => return,
        }
    }
}

/// A rejected upload still has its body on the wire: read it away so the client gets the
/// error (a 401 it should refresh on, a 400 naming its mistake) rather than a reset.
async fn drain_on_error(ctx: &mut Ctx, result: ApiResult) -> ApiResult {
    if result.is_err() {
        uploads::drain(&mut ctx.body, &ctx.shared).await;
    }
    result
}

async fn dispatch(ctx: Ctx) -> ApiResult {
    match ctx.route.clone() {
        Route::RawUpload => {
            let mut ctx = ctx;
            let result = uploads::raw::handle(&mut ctx).await;
            drain_on_error(&mut ctx, result).await
        }
        Route::ResumableStart => uploads::start::handle(ctx).await,
        Route::Session { upload_id, command } => {
            let mut ctx = ctx;
            let result = uploads::session::handle(&mut ctx, &upload_id, command).await;
            drain_on_error(&mut ctx, result).await
        }
        Route::BatchCreate => media::batch_create::handle(ctx).await,
        Route::MediaItemsList => media::read::list(ctx).await,
        Route::MediaItemsGet(id) => media::read::get(ctx, &id).await,
        Route::MediaItemsBatchGet => media::read::batch_get(ctx).await,
        Route::MediaItemsSearch => media::read::search(ctx).await,
        Route::AlbumsCreate => albums::create(ctx).await,
        Route::AlbumsList => albums::list(ctx).await,
        Route::AlbumsGet(id) => albums::get(ctx, &id).await,
        Route::AlbumsBatchAdd(id) => albums::batch_add(ctx, &id).await,
        Route::Sharing => Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "The caller does not have permission",
            format!(
                "{} {}: sharing methods were removed from the Library API on 31 March 2025",
                ctx.parts.method,
                ctx.parts.uri.path()
            ),
        )),
        Route::UnknownV1 => Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "Method not found.",
            format!(
                "{} {}: not a Photos Library API v1 method",
                ctx.parts.method,
                ctx.parts.uri.path()
            ),
        )),
        Route::Authorize => oauth::authorize::handle(ctx).await,
        Route::Token => oauth::token::handle(ctx).await,
        Route::Revoke => oauth::revoke::handle(ctx).await,
        Route::DeviceCode => oauth::revoke::device_code(ctx).await,
        Route::NotFound | Route::Control(_) => Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!(
                "{} {}: no such endpoint on Google's API or OAuth hosts",
                ctx.parts.method,
                ctx.parts.uri.path()
            ),
        )),
    }
}
