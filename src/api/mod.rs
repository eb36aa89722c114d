//! The Google Photos Library API client: uploads, batchCreate, albums, and reading back
//! created items (`mediaItems.get` / `batchGet`, for `gphotosd verify`).
//!
//! [`ApiClient`] counts every request against the limits before sending it and attaches a
//! fresh access token; a 401 triggers one refresh. Errors come back as [`ApiError`] with an
//! [`ErrorClass`] that says what the queue should do.

mod error;
mod media;
mod read;
mod stall;
mod uploads;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use error::{ApiError, ErrorClass};
pub use media::{ItemResult, NewItem};
pub use read::{Lookup, MAX_BATCH_GET, MediaItem, MediaMetadata};
pub use stall::{Activity, Busy};
pub use uploads::{SessionStart, SessionState};

use crate::auth::{AccessToken, AuthError, ClientSecret, TokenSource};
use crate::config::Config;
use crate::limits::Limits;
use crate::store::Store;

/// The shared HTTP client: connect and read timeouts, but no whole-request timeout (that
/// would kill large uploads on slow links), and no redirects (nothing we call redirects,
/// and following one could send a bearer token elsewhere).
///
/// The read timeout suits requests with small bodies only: it counts the time spent
/// sending a body as silence, so uploads use [`upload_http_client`] instead.
pub fn http_client(connect_timeout: Duration, read_timeout: Duration) -> reqwest::Client {
    builder(connect_timeout)
        .read_timeout(read_timeout)
        .build()
        .unwrap_or_default()
}

/// The client for upload requests: as [`http_client`] but without a read timeout, which
/// would cut any upload that takes longer than it to send. [`Activity::watch`] applies
/// `read_timeout` to uploads as a stall timeout instead.
pub fn upload_http_client(connect_timeout: Duration) -> reqwest::Client {
    builder(connect_timeout).build().unwrap_or_default()
}

fn builder(connect_timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gphotosd/", env!("CARGO_PKG_VERSION")))
}

/// The HTTP clients an [`ApiClient`] sends with.
#[derive(Clone)]
pub struct HttpClients {
    /// Everything but upload bodies (small requests, reqwest's read timeout).
    pub api: reqwest::Client,
    /// Upload requests, watched for stalls instead of timed per read.
    pub uploads: reqwest::Client,
    /// How long an upload may go without movement (`[google] read_timeout`).
    pub stall_timeout: Duration,
}

impl HttpClients {
    /// Both clients with the `[google]` timeouts.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> HttpClients {
        HttpClients {
            api: http_client(connect_timeout, read_timeout),
            uploads: upload_http_client(connect_timeout),
            stall_timeout: read_timeout,
        }
    }
}

/// Client of one Google Photos library.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    uploads: reqwest::Client,
    stall_timeout: Duration,
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
        let http = HttpClients::new(config.google.connect_timeout, config.google.read_timeout);
        let tokens = Arc::new(TokenSource::new(
            &config.token_path(),
            &client.token_uri,
            http.api.clone(),
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
        http: HttpClients,
        base: &str,
        tokens: Arc<TokenSource>,
        limits: Arc<Limits>,
    ) -> ApiClient {
        ApiClient {
            http: http.api,
            uploads: http.uploads,
            stall_timeout: http.stall_timeout,
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

    /// Sends an upload request (a one-shot, streamed body) on the upload client and reads
    /// its answer with `read`, abandoning it when `activity` shows no movement for the
    /// stall timeout. On a 401 the token is refreshed and the error returned: the caller
    /// repeats with a new body.
    async fn send_upload<T, F, Fut>(
        &self,
        op: &'static str,
        request: reqwest::RequestBuilder,
        activity: &Activity,
        read: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.tokens.access_token().await?;
        self.limits.before_request().await?;
        let exchange = async {
            let response = request
                .bearer_auth(token.secret())
                .send()
                .await
                .map_err(|e| error::network(op, &e))?;
            // The answer's head came: that is movement, whatever the body took.
            activity.touch();
            if response.status().is_success() {
                return read(response).await;
            }
            Err(error::from_response(op, response).await)
        };
        let result = activity.watch(op, self.stall_timeout, exchange).await;
        if let Err(err) = &result
            && err.class() == ErrorClass::Unauthorized
        {
            self.tokens.after_unauthorized(&token).await?;
        }
        result
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
