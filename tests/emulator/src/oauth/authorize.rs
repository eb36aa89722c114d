//! `GET /o/oauth2/v2/auth`: validates the request the way Google's consent screen does for
//! a Desktop client, then answers for the user per [`Consent`] with a 302 to the loopback
//! `redirect_uri`. Invalid requests get Google's HTML error page (400, or 401 for an unknown
//! client) and are never redirected.

use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::access::is_known_scope;
use crate::config::AUTH_CODE_TTL;
use crate::errors::{ApiError, ApiResult};
use crate::oauth::{Consent, get, is_loopback_redirect, pairs};
use crate::server::Ctx;
use crate::state::AuthorizationRecord;
use crate::store::{CodeGrant, random_token};

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

fn refuse(error: &str, detail: &str, rule: String) -> ApiError {
    ApiError::html(StatusCode::BAD_REQUEST, error, detail).blame(format!("authorize: {rule}"))
}

pub(crate) async fn handle(ctx: Ctx) -> ApiResult {
    let q = pairs(ctx.parts.uri.query().unwrap_or("").as_bytes());
    let client_id = get(&q, "client_id").unwrap_or("");
    if !ctx.shared.lock().clients.contains_key(client_id) {
        return Err(ApiError::html(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        )
        .blame(format!("authorize: unknown client_id {client_id:?}")));
    }
    let Some(redirect_uri) = get(&q, "redirect_uri") else {
        return Err(refuse(
            "invalid_request",
            "Missing required parameter: redirect_uri",
            "no redirect_uri".into(),
        ));
    };
    if redirect_uri.starts_with(OOB) {
        return Err(refuse(
            "invalid_request",
            "The out-of-band (OOB) flow has been blocked in order to keep users secure.",
            "redirect_uri is the OOB flow, blocked for all clients since 31 January 2023".into(),
        ));
    }
    if !is_loopback_redirect(redirect_uri) {
        return Err(refuse(
            "invalid_request",
            "redirect_uri must be a loopback address (http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT) for a Desktop client.",
            format!("redirect_uri {redirect_uri:?} is not an http loopback address"),
        ));
    }
    match get(&q, "response_type") {
        Some("code") => {}
        other => {
            return Err(refuse(
                "invalid_request",
                "Required parameter is missing or invalid: response_type (must be code)",
                format!("response_type {other:?}; installed apps must use code"),
            ));
        }
    }
    let scopes: Vec<String> = get(&q, "scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(refuse(
            "invalid_request",
            "Missing required parameter: scope",
            "no scope".into(),
        ));
    }
    if let Some(bad) = scopes.iter().find(|s| !is_known_scope(s)) {
        return Err(refuse(
            "invalid_scope",
            &format!("Some requested scopes were invalid. {{invalid=[{bad}]}}"),
            format!("unknown scope {bad:?}"),
        ));
    }
    let challenge = get(&q, "code_challenge").unwrap_or("");
    let method = get(&q, "code_challenge_method");
    if challenge.is_empty() || method != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "PKCE is required: code_challenge with code_challenge_method=S256.",
            format!(
                "PKCE missing or not S256 (code_challenge present: {}, method: {method:?})",
                !challenge.is_empty()
            ),
        ));
    }
    // An S256 challenge is a SHA-256 in unpadded base64url: exactly 43 characters.
    let b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if challenge.len() != 43 || !challenge.bytes().all(b64url) {
        return Err(refuse(
            "invalid_request",
            "Invalid code_challenge.",
            "code_challenge is not a 43-character base64url SHA-256".into(),
        ));
    }
    let state = get(&q, "state");
    let access_type = get(&q, "access_type").map(str::to_owned);
    let prompt = get(&q, "prompt").map(str::to_owned);
    let now = ctx.shared.clock.now();
    let mut inner = ctx.shared.lock();
    if state.is_none() {
        inner.violation(
            "authorize: request without a state parameter (CSRF protection, RFC 6749 §10.12)",
        );
    }
    inner.authorizations.push(AuthorizationRecord {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state_present: state.is_some(),
        pkce_method: method.map(str::to_owned),
        scopes: scopes.clone(),
        access_type: access_type.clone(),
        prompt: prompt.clone(),
    });
    let granted: Vec<String> = match &inner.consent {
        Consent::Deny => {
            return Ok(redirect(redirect_uri, &[("error", "access_denied")], state));
        }
        Consent::Approve => scopes.clone(),
        Consent::GrantOnly(only) => scopes
            .iter()
            .filter(|s| only.contains(s))
            .cloned()
            .collect(),
    };
    let offline = access_type.as_deref() == Some("offline");
    let forced = prompt
        .as_deref()
        .is_some_and(|p| p.split_whitespace().any(|x| x == "consent"));
    // Google returns a refresh token on the first offline consent, or when consent is forced.
    let has_live = inner
        .refresh_tokens
        .values()
        .any(|g| g.client_id == client_id && !g.revoked);
    let code = random_token("4/0A", 70);
    inner.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scopes: granted.clone(),
            issue_refresh: offline && (forced || !has_live),
            expires: now + AUTH_CODE_TTL,
            used: false,
        },
    );
    let scope = granted.join(" ");
    Ok(redirect(
        redirect_uri,
        &[("code", &code), ("scope", &scope)],
        state,
    ))
}

/// 302 to `base` with `params` (and `state` verbatim) appended to its query.
fn redirect(base: &str, params: &[(&str, &str)], state: Option<&str>) -> Response {
    let mut url = url::Url::parse(base).expect("validated loopback URL");
    {
        let mut qp = url.query_pairs_mut();
        if let Some(s) = state {
            qp.append_pair("state", s);
        }
        for (k, v) in params {
            qp.append_pair(k, v);
        }
    }
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}
