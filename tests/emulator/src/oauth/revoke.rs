//! `POST /revoke` (a refresh token revokes itself and every access token minted from it; an
//! access token revokes itself and its refresh token) and `POST /device/code`, which exists
//! only to refuse Photos scopes the way Google's device flow does.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::errors::{ApiError, ApiResult, json_ok};
use crate::oauth::get;
use crate::oauth::token::read_form;
use crate::server::Ctx;
use crate::store::random_token;

pub(crate) async fn handle(mut ctx: Ctx) -> ApiResult {
    let token = match ctx.query("token") {
        Some(t) => t,
        None => {
            let form = read_form(&mut ctx, "revoke").await?;
            get(&form, "token").unwrap_or("").to_owned()
        }
    };
    if token.is_empty() {
        return Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: token",
        )
        .blame("revoke: no token parameter"));
    }
    let mut inner = ctx.shared.lock();
    let invalid = || {
        ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        )
    };
    if let Some(g) = inner.refresh_tokens.get(&token) {
        if g.revoked {
            return Err(invalid());
        }
        inner.revoke_refresh(&token);
        return Ok(StatusCode::OK.into_response());
    }
    if let Some(g) = inner.access_tokens.get_mut(&token) {
        if g.revoked {
            return Err(invalid());
        }
        g.revoked = true;
        if let Some(rt) = g.refresh_token.clone() {
            inner.revoke_refresh(&rt);
        }
        return Ok(StatusCode::OK.into_response());
    }
    Err(invalid().blame("revoke: token was never issued"))
}

pub(crate) async fn device_code(mut ctx: Ctx) -> ApiResult {
    let form = read_form(&mut ctx, "device_code").await?;
    let client_id = get(&form, "client_id").unwrap_or("").to_owned();
    if !ctx.shared.lock().clients.contains_key(&client_id) {
        return Err(ApiError::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        )
        .blame(format!("device_code: unknown client_id {client_id:?}")));
    }
    let scopes = get(&form, "scope").unwrap_or("");
    if let Some(bad) = scopes
        .split_whitespace()
        .find(|s| s.contains("photoslibrary") || s.contains("photospicker"))
    {
        return Err(ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_scope", &format!("Invalid device flow scope: {bad}"))
            .blame(format!("device_code: Photos scope {bad} requested through the device flow, which does not allow it")));
    }
    Ok(json_ok(&json!({
        "device_code": random_token("AH-1Ng", 80),
        "user_code": "EMU-LATOR",
        "verification_url": "https://www.google.com/device",
        "expires_in": 1800,
        "interval": 5,
    })))
}
