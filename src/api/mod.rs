//! The Google Photos Library API client: uploads, batchCreate, albums, and reading back
//! created items (`mediaItems.get` / `batchGet`, for `gphotosd verify`).
//!
//! [`ApiClient`] counts every request against the limits before sending it and attaches a
//! fresh access token; a 401 triggers one refresh. Errors come back as [`ApiError`] with an
//! [`ErrorClass`] that says what the queue should do.

mod error;
mod media;
mod read;
mod uploads;

use std::sync::Arc;
use std::time::Duration;

pub use error::{ApiError, ErrorClass};
pub use media::{ItemResult, NewItem};
pub use read::{Lookup, MAX_BATCH_GET, MediaItem, MediaMetadata};
pub use uploads::{SessionStart, SessionState};

use crate::auth::{AccessToken, AuthError, ClientSecret, TokenSource};
use crate::config::Config;
use crate::limits::Limits;
use crate::store::Store;

/// The shared HTTP client: connect and read timeouts, but no whole-request timeout (that
/// would kill large uploads on slow links), and no redirects (nothing we call redirects,
/// and following one could send a bearer token elsewhere).
pub fn http_client(connect_timeout: Duration, read_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gphotosd/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Client of one Google Photos library.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    tokens: Arc<TokenSource>,
    limits: Arc<Limits>,
}

impl ApiClient {
    /// The client a gphotosd process talks to Google with: the configured endpoint and
    /// timeouts, the token file in the state directory, and requests charged to the daily
    /// ledger in `store`, so that every process spends one budget. `bytes_per_second` caps
    /// upload bandwidth (0: no cap).
    pub fn from_config(
        config: &Config,
        store: Store,
        bytes_per_second: u64,
    ) -> Result<ApiClient, AuthError> {
        let client = ClientSecret::load(&config.google.client_secret_file)?;
        let http = http_client(config.google.connect_timeout, config.google.read_timeout);
        let tokens = Arc::new(TokenSource::new(
            &config.token_path(),
            &client.token_uri,
            http.clone(),
        ));
        let limits = Arc::new(Limits::new(
            config.upload.requests_per_second,
            bytes_per_second,
            config.upload.daily_request_budget,
            store,
        ));
        Ok(ApiClient::new(http, &config.google.api_url, tokens, limits))
    }

    /// A client for the API at `base` (no trailing slash needed).
    pub fn new(
        http: reqwest::Client,
        base: &str,
        tokens: Arc<TokenSource>,
        limits: Arc<Limits>,
    ) -> ApiClient {
        ApiClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            tokens,
            limits,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request whose body can be rebuilt, refreshing the token once on a 401.
    async fn send_repeatable(
        &self,
        op: &'static str,
        build: impl Fn(&AccessToken) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let mut token = self.tokens.access_token().await?;
        for attempt in 0..2 {
            self.limits.before_request().await?;
            let response = build(&token)
                .bearer_auth(token.secret())
                .send()
                .await
                .map_err(|e| error::network(op, &e))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                let err = error::from_response(op, response).await;
                if err.class() != ErrorClass::Unauthorized {
                    return Err(err);
                }
                token = self.tokens.after_unauthorized(&token).await?;
                continue;
            }
            if response.status().is_success() {
                return Ok(response);
            }
            return Err(error::from_response(op, response).await);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Sends a request with a one-shot (streamed) body. On a 401 the token is refreshed
    /// and the error returned: the caller repeats with a new body.
    async fn send_once(
        &self,
        op: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let token = self.tokens.access_token().await?;
        self.limits.before_request().await?;
        let response = request
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|e| error::network(op, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let err = error::from_response(op, response).await;
        if err.class() == ErrorClass::Unauthorized {
            self.tokens.after_unauthorized(&token).await?;
        }
        Err(err)
    }

    /// The limits this client spends (workers use the byte limiter while streaming).
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    /// The access tokens it sends.
    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }
}
