//! `POST /token`: client authentication (form fields or HTTP Basic), then the
//! `authorization_code` grant (single-use code, exact `redirect_uri`, PKCE S256 verifier) or
//! the `refresh_token` grant. Error bodies are Google's `{"error","error_description"}`.

use std::time::SystemTime;

use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::TESTING_REFRESH_TTL;
use crate::errors::{ApiError, ApiResult, json_ok};
use crate::oauth::{get, is_pkce_string, pairs};
use crate::server::Ctx;
use crate::state::CodeExchangeRecord;
use crate::store::Inner;

fn oauth_err(status: StatusCode, error: &'static str, description: &str) -> ApiError {
    ApiError::oauth(status, error, description)
}

fn bad(error: &'static str, description: &str, rule: String) -> ApiError {
    oauth_err(StatusCode::BAD_REQUEST, error, description).blame(format!("token: {rule}"))
}

/// Requires a form body, as RFC 6749 §4.1.3 does.
pub(crate) async fn read_form(ctx: &mut Ctx, what: &str) -> ApiResult<Vec<(String, String)>> {
    let ct = ctx
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(oauth_err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid Content-Type.",
        )
        .blame(format!(
            "{what}: body must be application/x-www-form-urlencoded, got {ct:?}"
        )));
    }
    let body = ctx.read_small_body().await?;
    Ok(pairs(&body))
}

/// Client id and secret from HTTP Basic (RFC 6749 §2.3.1, form-encoded parts) or the form.
fn client_credentials(ctx: &Ctx, form: &[(String, String)]) -> (Option<String>, Option<String>) {
    if let Some(h) = ctx.header("authorization")
        && let Some((scheme, b64)) = h.split_once(' ')
        && scheme.eq_ignore_ascii_case("basic")
        && let Ok(raw) = STANDARD.decode(b64.trim())
        && let Ok(text) = String::from_utf8(raw)
        && let Some((id, secret)) = text.split_once(':')
    {
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map_or_else(|| s.to_owned(), |(_, v)| v.into_owned())
        };
        return (Some(dec(id)), Some(dec(secret)));
    }
    (
        get(form, "client_id").map(str::to_owned),
        get(form, "client_secret").map(str::to_owned),
    )
}

/// Authenticates the client; returns its id.
pub(crate) fn authenticate(ctx: &Ctx, form: &[(String, String)], what: &str) -> ApiResult<String> {
    let (id, secret) = client_credentials(ctx, form);
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return Err(oauth_err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Could not determine client ID from request.",
        )
        .blame(format!("{what}: no client_id (form field or HTTP Basic)")));
    };
    let inner = ctx.shared.lock();
    let Some(client) = inner.clients.get(&id) else {
        return Err(oauth_err(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        )
        .blame(format!("{what}: unknown client_id {id:?}")));
    };
    if secret.as_deref() != Some(client.secret.as_str()) {
        return Err(
            oauth_err(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized")
                .blame(format!("{what}: wrong or missing client_secret")),
        );
    }
    Ok(id)
}

pub(crate) async fn handle(mut ctx: Ctx) -> ApiResult {
    let form = read_form(&mut ctx, "token").await?;
    let client_id = authenticate(&ctx, &form, "token")?;
    let now = ctx.shared.clock.now();
    let body = match get(&form, "grant_type") {
        Some("authorization_code") => exchange_code(&ctx, &form, &client_id, now)?,
        Some("refresh_token") => refresh(&ctx, &form, &client_id, now)?,
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            return Err(oauth_err(
                StatusCode::from_u16(428).unwrap_or(StatusCode::BAD_REQUEST),
                "authorization_pending",
                "Precondition Required",
            ));
        }
        other => {
            return Err(bad(
                "unsupported_grant_type",
                &format!("Invalid grant_type: {}", other.unwrap_or("")),
                format!("grant_type {other:?}"),
            ));
        }
    };
    Ok(no_store(json_ok(&body)))
}

fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn exchange_code(
    ctx: &Ctx,
    form: &[(String, String)],
    client_id: &str,
    now: SystemTime,
) -> ApiResult<Value> {
    let Some(code) = get(form, "code") else {
        return Err(bad(
            "invalid_request",
            "Missing required parameter: code",
            "authorization_code grant without code".into(),
        ));
    };
    let mut inner = ctx.shared.lock();
    let grant = match inner.codes.get(code) {
        None => {
            return Err(bad(
                "invalid_grant",
                "Malformed auth code.",
                "authorization code was never issued".into(),
            ));
        }
        Some(g) if g.used => {
            return Err(bad(
                "invalid_grant",
                "Bad Request",
                "authorization code reused (codes are single-use)".into(),
            ));
        }
        Some(g) if g.expires <= now => {
            return Err(bad(
                "invalid_grant",
                "Bad Request",
                "authorization code expired before the exchange".into(),
            ));
        }
        Some(g) if g.client_id != client_id => {
            return Err(bad(
                "invalid_grant",
                "Bad Request",
                "authorization code issued to another client".into(),
            ));
        }
        Some(g) => g.clone(),
    };
    let Some(redirect_uri) = get(form, "redirect_uri") else {
        return Err(bad(
            "invalid_request",
            "Missing parameter: redirect_uri",
            "code exchange without redirect_uri".into(),
        ));
    };
    if redirect_uri != grant.redirect_uri {
        return Err(bad(
            "redirect_uri_mismatch",
            "Bad Request",
            format!(
                "redirect_uri {redirect_uri:?} differs from the authorization request's {:?}",
                grant.redirect_uri
            ),
        ));
    }
    let verifier = get(form, "code_verifier");
    let verified = verifier.is_some_and(|v| {
        is_pkce_string(v) && URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == grant.challenge
    });
    inner.code_exchanges.push(CodeExchangeRecord {
        pkce_verified: verified,
        redirect_uri: redirect_uri.to_owned(),
    });
    if !verified {
        let (desc, rule) = match verifier {
            None => (
                "Missing code verifier.",
                "code exchange without code_verifier although the request had a code_challenge",
            ),
            Some(_) => (
                "Invalid code verifier.",
                "code_verifier does not hash (S256) to the code_challenge",
            ),
        };
        return Err(bad("invalid_grant", desc, rule.into()));
    }
    if let Some(g) = inner.codes.get_mut(code) {
        g.used = true;
    }
    let refresh = grant
        .issue_refresh
        .then(|| inner.mint_refresh(client_id, &grant.scopes, now));
    let access = inner.mint_access(
        client_id,
        &grant.scopes,
        refresh.clone(),
        now + ctx.shared.config.access_token_ttl,
    );
    Ok(token_json(ctx, &access, refresh.as_deref(), &grant.scopes))
}

fn token_json(ctx: &Ctx, access: &str, refresh: Option<&str>, scopes: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("access_token".into(), json!(access));
    m.insert(
        "expires_in".into(),
        json!(ctx.shared.config.access_token_ttl.as_secs()),
    );
    if let Some(r) = refresh {
        m.insert("refresh_token".into(), json!(r));
        if ctx.shared.config.testing_mode {
            m.insert(
                "refresh_token_expires_in".into(),
                json!(TESTING_REFRESH_TTL.as_secs() - 1),
            );
        }
    }
    m.insert("scope".into(), json!(scopes.join(" ")));
    m.insert("token_type".into(), json!("Bearer"));
    Value::Object(m)
}

fn refresh(
    ctx: &Ctx,
    form: &[(String, String)],
    client_id: &str,
    now: SystemTime,
) -> ApiResult<Value> {
    let Some(rt) = get(form, "refresh_token") else {
        return Err(bad(
            "invalid_request",
            "Missing required parameter: refresh_token",
            "refresh_token grant without refresh_token".into(),
        ));
    };
    let expired_or_revoked = || {
        oauth_err(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Token has been expired or revoked.",
        )
    };
    let testing = ctx.shared.config.testing_mode;
    let mut inner: std::sync::MutexGuard<'_, Inner> = ctx.shared.lock();
    let Some(grant) = inner.refresh_tokens.get(rt).cloned() else {
        return Err(expired_or_revoked().blame("token: refresh_token was never issued"));
    };
    if grant.client_id != client_id {
        return Err(bad(
            "unauthorized_client",
            "Unauthorized",
            "refresh token belongs to another OAuth client".into(),
        ));
    }
    let too_old =
        testing && now.duration_since(grant.issued).unwrap_or_default() >= TESTING_REFRESH_TTL;
    if grant.revoked || too_old {
        return Err(expired_or_revoked());
    }
    let scopes = match get(form, "scope") {
        None => grant.scopes.clone(),
        Some(s) => {
            let asked: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
            if let Some(extra) = asked.iter().find(|a| !grant.scopes.contains(a)) {
                return Err(bad(
                    "invalid_scope",
                    "Some requested scopes were not granted.",
                    format!("refresh asks for scope {extra:?} the grant does not have"),
                ));
            }
            asked
        }
    };
    let access = inner.mint_access(
        client_id,
        &scopes,
        Some(rt.to_owned()),
        now + ctx.shared.config.access_token_ttl,
    );
    inner.refreshes += 1;
    let mut body = token_json(ctx, &access, None, &scopes);
    if testing && let Some(m) = body.as_object_mut() {
        let left = TESTING_REFRESH_TTL
            .saturating_sub(now.duration_since(grant.issued).unwrap_or_default());
        m.insert("refresh_token_expires_in".into(), json!(left.as_secs()));
    }
    Ok(body)
}
