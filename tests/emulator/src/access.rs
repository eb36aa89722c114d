//! Who is calling and may they: bearer-token authentication, the daily quota, scope checks
//! ([`Need`]) and the per-user write budget, in the order Google applies them (identity
//! first — an unauthenticated call cannot be charged to a project).

use std::time::SystemTime;

use axum::http::StatusCode;

use crate::errors::{ApiError, ApiResult, MSG_CONCURRENT};
use crate::server::Ctx;

pub(crate) const SCOPE_APPEND: &str = "https://www.googleapis.com/auth/photoslibrary.appendonly";
pub(crate) const SCOPE_READ_APP: &str =
    "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata";
pub(crate) const SCOPE_EDIT_APP: &str =
    "https://www.googleapis.com/auth/photoslibrary.edit.appcreateddata";

/// Scopes that still exist as strings but grant nothing since 31 March 2025.
pub(crate) const REMOVED_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/photoslibrary",
    "https://www.googleapis.com/auth/photoslibrary.readonly",
    "https://www.googleapis.com/auth/photoslibrary.sharing",
];

/// Other scopes the consent screen accepts (identity and the Picker API).
pub(crate) const OTHER_SCOPES: &[&str] = &[
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/photospicker.mediaitems.readonly",
];

pub(crate) fn is_known_scope(scope: &str) -> bool {
    [SCOPE_APPEND, SCOPE_READ_APP, SCOPE_EDIT_APP].contains(&scope)
        || REMOVED_SCOPES.contains(&scope)
        || OTHER_SCOPES.contains(&scope)
}

/// What a method requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// `/v1/uploads` (failure is the bare `{"code":16}` 401).
    Upload,
    /// batchCreate, albums.create.
    Append,
    /// albums.batchAddMediaItems: appendonly or edit.appcreateddata.
    AppendOrEdit,
    /// list/get/search/batchGet of app-created data.
    Read,
}

/// The authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Principal {
    pub client_id: String,
}

impl Ctx {
    /// Authenticates the bearer token, charges the daily quota and checks scopes.
    pub(crate) fn authorize(&self, need: Need) -> ApiResult<Principal> {
        let what = self.route.kind();
        let now = self.shared.clock.now();
        let token = match self.header("authorization") {
            None => {
                return Err(ApiError::unauthenticated().blame(format!(
                    "{what}: request without an Authorization: Bearer header"
                )));
            }
            Some(h) => match h.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim().to_owned(),
                _ => {
                    return Err(ApiError::unauthenticated().blame(format!(
                        "{what}: Authorization header is not 'Bearer <access token>'"
                    )));
                }
            },
        };
        let mut inner = self.shared.lock();
        let Some(grant) = inner.access_tokens.get(&token).cloned() else {
            return Err(ApiError::unauthenticated().blame(format!(
                "{what}: bearer token was never issued by the token endpoint"
            )));
        };
        // Expired or revoked tokens are normal life, not client mistakes: refresh and retry.
        if grant.revoked || grant.expires <= now {
            return Err(ApiError::unauthenticated());
        }
        if inner.api_requests_today > self.shared.config.daily_quota {
            let err = ApiError::daily_quota(self.shared.config.daily_quota);
            if inner.daily_quota_reported {
                return Err(err.blame(format!(
                    "{what}: request sent after the daily quota was reported exhausted \
                     (wait for midnight Pacific time)"
                )));
            }
            inner.daily_quota_reported = true;
            return Err(err);
        }
        let has = |s: &str| grant.scopes.iter().any(|g| g == s);
        let ok = match need {
            Need::Upload | Need::Append => has(SCOPE_APPEND),
            Need::AppendOrEdit => has(SCOPE_APPEND) || has(SCOPE_EDIT_APP),
            Need::Read => has(SCOPE_READ_APP),
        };
        if !ok {
            let rule = format!(
                "{what}: access token lacks the scope this method needs ({}); granted: [{}]",
                match need {
                    Need::Upload | Need::Append => SCOPE_APPEND,
                    Need::AppendOrEdit =>
                        "photoslibrary.appendonly or photoslibrary.edit.appcreateddata",
                    Need::Read => SCOPE_READ_APP,
                },
                grant.scopes.join(" ")
            );
            return Err(if need == Need::Upload {
                ApiError::upload_scope().blame(rule)
            } else {
                ApiError::insufficient_scopes(rule)
            });
        }
        Ok(Principal {
            client_id: grant.client_id,
        })
    }

    /// Charges one write against the per-user per-minute budget.
    pub(crate) fn take_write(&self, now: SystemTime) -> ApiResult<()> {
        let limit = self.shared.config.writes_per_minute;
        if self.shared.lock().take_write(now, limit) {
            Ok(())
        } else {
            Err(ApiError::write_quota(limit))
        }
    }

    /// Google: "call batchCreate serially per user"; a parallel call gets a 429.
    pub(crate) fn check_serial_batch(&self) -> ApiResult<()> {
        if self.batch_was_busy {
            return Err(ApiError::client(
                StatusCode::TOO_MANY_REQUESTS,
                MSG_CONCURRENT,
                "batch_create: mediaItems:batchCreate sent while another batchCreate for the \
                 same user was still in flight (Google: call batchCreate serially per user)",
            ));
        }
        Ok(())
    }
}
