//! [`TokenSource`]: cached access tokens, refreshed one at a time.
//!
//! The token file is re-read whenever it changes on disk, so `gphotosd auth` run beside a
//! paused daemon takes effect without a restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{AuthError, SCOPE_APPENDONLY, TokenFile};

/// Refresh this long before the cached token expires, so no request carries a token that
/// dies in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// A bearer token. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The secret itself, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// Hands out access tokens from the token file, refreshing at `token_uri`.
pub struct TokenSource {
    path: PathBuf,
    token_uri: String,
    http: reqwest::Client,
    inner: tokio::sync::Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    file: Option<TokenFile>,
    fingerprint: Option<Fingerprint>,
    access: Option<(AccessToken, SystemTime)>,
    /// What the last refresh said about the refresh token's own lifetime.
    refresh_token_expires_in: Option<Duration>,
}

/// What one forced refresh found out (`gphotosd auth --check`).
#[derive(Debug, Clone)]
pub struct RefreshReport {
    /// The scopes the token carries.
    pub scopes: Vec<String>,
    /// Set when Google limits the refresh token's life (apps left in "Testing": 7 days
    /// after consent).
    pub refresh_token_expires_in: Option<Duration>,
}

/// Identifies one version of the token file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token_expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenSource {
    /// A source over the token file at `path`, refreshing at `token_uri`.
    pub fn new(path: &Path, token_uri: &str, http: reqwest::Client) -> TokenSource {
        TokenSource {
            path: path.to_owned(),
            token_uri: token_uri.to_owned(),
            http,
            inner: tokio::sync::Mutex::new(Inner::default()),
        }
    }

    /// The token file's current version on disk, if it exists.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&self.path).ok()?;
        Some(Fingerprint {
            modified: m.modified().ok()?,
            len: m.len(),
            inode: m.ino(),
        })
    }

    /// A token valid for at least a few more minutes.
    pub async fn access_token(&self) -> Result<AccessToken, AuthError> {
        let mut inner = self.inner.lock().await;
        self.reload_if_changed(&mut inner)?;
        if let Some((token, expiry)) = &inner.access
            && *expiry > SystemTime::now() + EXPIRY_MARGIN
        {
            return Ok(token.clone());
        }
        self.refresh(&mut inner).await
    }

    /// Google refused `rejected`: refresh, unless another worker already did.
    pub async fn after_unauthorized(
        &self,
        rejected: &AccessToken,
    ) -> Result<AccessToken, AuthError> {
        let mut inner = self.inner.lock().await;
        self.reload_if_changed(&mut inner)?;
        if let Some((token, expiry)) = &inner.access
            && token != rejected
            && *expiry > SystemTime::now()
        {
            return Ok(token.clone());
        }
        self.refresh(&mut inner).await
    }

    /// The scopes the token file says Google granted; empty when it does not say (a file
    /// written by other tools). Kept current by every refresh.
    pub async fn granted_scopes(&self) -> Result<Vec<String>, AuthError> {
        let mut inner = self.inner.lock().await;
        self.reload_if_changed(&mut inner)?;
        Ok(inner
            .file
            .as_ref()
            .map(|f| f.scopes.clone())
            .unwrap_or_default())
    }

    /// Forces one refresh and reports the granted scopes (`gphotosd auth --check`).
    pub async fn refresh_now(&self) -> Result<RefreshReport, AuthError> {
        let mut inner = self.inner.lock().await;
        self.reload_if_changed(&mut inner)?;
        self.refresh(&mut inner).await?;
        Ok(RefreshReport {
            scopes: inner
                .file
                .as_ref()
                .map(|f| f.scopes.clone())
                .unwrap_or_default(),
            refresh_token_expires_in: inner.refresh_token_expires_in,
        })
    }

    fn reload_if_changed(&self, inner: &mut Inner) -> Result<(), AuthError> {
        let now = self.fingerprint();
        if inner.file.is_some() && now == inner.fingerprint {
            return Ok(());
        }
        let file = TokenFile::load(&self.path)?;
        inner.access = match (&file.token, &file.expiry) {
            (Some(token), Some(expiry)) => DateTime::parse_from_rfc3339(expiry)
                .ok()
                .map(|e| (AccessToken(token.clone()), SystemTime::from(e))),
            _ => None,
        };
        inner.file = Some(file);
        inner.fingerprint = now;
        Ok(())
    }

    async fn refresh(&self, inner: &mut Inner) -> Result<AccessToken, AuthError> {
        let Some(file) = inner.file.clone() else {
            return Err(AuthError::NoTokenFile {
                path: self.path.clone(),
            });
        };
        let response = self
            .http
            .post(&self.token_uri)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", file.client_id.as_str()),
                ("client_secret", file.client_secret.as_str()),
                ("refresh_token", file.refresh_token.as_str()),
            ])
            .send()
            .await
            .map_err(|e| AuthError::Network(e.without_url().to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| AuthError::Network(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<TokenErrorResponse>(&body) {
                Ok(e) if e.error == "invalid_grant" || e.error == "invalid_client" => {
                    AuthError::Revoked {
                        detail: format!("{}: {}", e.error, e.error_description.unwrap_or_default()),
                    }
                }
                Ok(e) => AuthError::Protocol(format!("HTTP {status}: {}", e.error)),
                Err(_) => AuthError::Protocol(format!("HTTP {status}")),
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| AuthError::Protocol(format!("token response: {e}")))?;
        let scopes: Vec<String> = match parsed.scope {
            Some(s) => s.split_whitespace().map(str::to_owned).collect(),
            None => file.scopes.clone(),
        };
        if !scopes.is_empty() && !scopes.iter().any(|s| s == SCOPE_APPENDONLY) {
            return Err(AuthError::ScopeMissing {
                granted: scopes.join(" "),
            });
        }
        let expiry = SystemTime::now() + Duration::from_secs(parsed.expires_in);
        let token = AccessToken(parsed.access_token);
        inner.refresh_token_expires_in = parsed.refresh_token_expires_in.map(Duration::from_secs);
        if self.fingerprint() != inner.fingerprint {
            // `gphotosd auth` replaced the file while this refresh was in flight: saving
            // now would put the old refresh token back. The next call loads the new file.
            tracing::debug!("the token file changed during the refresh; keeping the new file");
            inner.access = Some((token.clone(), expiry));
            return Ok(token);
        }
        let mut updated = file;
        updated.token = Some(token.0.clone());
        updated.expiry = Some(DateTime::<Utc>::from(expiry).to_rfc3339());
        updated.token_uri = Some(self.token_uri.clone());
        updated.scopes = scopes;
        let path = self.path.clone();
        let to_save = updated.clone();
        tokio::task::spawn_blocking(move || to_save.save(&path))
            .await
            .map_err(|e| AuthError::Protocol(e.to_string()))??;
        inner.fingerprint = self.fingerprint();
        inner.file = Some(updated);
        inner.access = Some((token.clone(), expiry));
        Ok(token)
    }
}
