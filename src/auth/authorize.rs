//! [`Authorization`]: the interactive installed-app flow behind `gphotosd auth`.
//!
//! Google's copy-paste (OOB) flow is gone and the device flow refuses Photos scopes, so the
//! only way in is the loopback redirect (RFC 8252) with PKCE S256 and a random `state`.
//! Boxes without a browser are the common case here, so the answer is taken from
//! whichever comes first: the browser's redirect reaching [`Loopback`], or the user pasting
//! the redirected URL from a browser on any other machine. Either way the `state` must
//! match before the code is exchanged, and nothing is written unless Google granted the
//! upload scope and a refresh token.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use tokio::sync::mpsc;

use super::loopback::{Answer, Browser, Loopback};
use super::{AuthError, ClientSecret, SCOPE_APPENDONLY, SCOPE_READ_APP_CREATED, TokenFile};

/// The scopes `gphotosd auth` asks for: uploading, and reading back what this app created
/// (to find its albums again).
pub const REQUESTED_SCOPES: [&str; 2] = [SCOPE_APPENDONLY, SCOPE_READ_APP_CREATED];

/// `oauth2`'s client with the two endpoints this flow uses.
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<GoogleTokenFields, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Google's addition to the token response: set when the refresh token itself expires, as
/// it does 7 days after consent while the app's consent screen is in "Testing". Seeing it
/// at `gphotosd auth` time beats discovering it as a paused daemon a week later.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct GoogleTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token_expires_in: Option<u64>,
}

impl oauth2::ExtraTokenFields for GoogleTokenFields {}

/// Why `gphotosd auth` could not connect the account. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("OAuth client file: its {field} `{value}` is not a URL; download the JSON again")]
    BadClientUrl { field: &'static str, value: String },
    #[error(
        "port {port} on 127.0.0.1 is already in use (another `gphotosd auth` still running?); \
         stop that program, or set [auth] listen_port to a free port (0 picks one)"
    )]
    PortInUse { port: u16 },
    #[error("cannot listen on 127.0.0.1:{port} for the browser's redirect: {cause}")]
    Listen { port: u16, cause: std::io::Error },
    #[error(
        "no answer from Google within {}: the consent page was not completed and no URL was \
         pasted. Run `gphotosd auth` again ([auth] timeout sets how long it waits)",
        humantime::format_duration(*.after)
    )]
    Timeout { after: Duration },
    #[error(
        "access was denied on Google's consent page, so gphotosd cannot upload. Run \
         `gphotosd auth` again and choose Continue/Allow"
    )]
    Denied,
    #[error("Google refused the authorization request ({error}{}); check the OAuth client and the consent screen in the Google Cloud console", describe(.description.as_deref()))]
    Refused {
        error: String,
        description: Option<String>,
    },
    #[error(
        "the pasted URL belongs to another authorization attempt (its `state` does not match \
         this run's). Open the URL printed by this run of `gphotosd auth`, allow access, and \
         paste the address the browser ends up on"
    )]
    PastedStateMismatch,
    #[error(
        "the browser delivered an answer to another authorization attempt (its `state` does \
         not match this run's); nothing was saved. Open the URL printed by this run of \
         `gphotosd auth`"
    )]
    BrowserStateMismatch,
    #[error("Google's token endpoint refused the authorization code ({error}{}); run `gphotosd auth` again", describe(.description.as_deref()))]
    Exchange {
        error: String,
        description: Option<String>,
    },
    #[error("cannot reach Google's token endpoint: {0}")]
    Network(String),
    #[error("unexpected answer from Google's token endpoint: {0}")]
    Protocol(String),
    #[error(
        "Google did not grant the permission to upload (photoslibrary.appendonly; granted: \
         {granted}): its box was unticked on the consent page. Nothing was saved. Run \
         `gphotosd auth` again and tick \"Add to your Google Photos library\""
    )]
    UploadScopeNotGranted { granted: String },
    #[error(
        "Google returned no refresh token, so access would end within the hour. Remove \
         gphotosd at https://myaccount.google.com/permissions and run `gphotosd auth` again"
    )]
    NoRefreshToken,
}

fn describe(description: Option<&str>) -> String {
    description.map_or_else(String::new, |d| format!(": {d}"))
}

/// What a successful authorization produced.
#[derive(Debug)]
pub struct Granted {
    /// The scopes Google granted.
    pub scopes: Vec<String>,
    /// How the answer arrived.
    pub via: Via,
    /// When Google says the refresh token itself expires ("Testing" apps: 7 days).
    pub refresh_token_expires_in: Option<Duration>,
}

/// How Google's answer reached `gphotosd auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The browser's redirect reached the loopback listener.
    Browser,
    /// The user pasted the redirected URL.
    Pasted,
}

/// One authorization attempt: listener bound, PKCE and `state` chosen, URL ready to show.
pub struct Authorization {
    client: ClientSecret,
    oauth: OAuthClient,
    url: String,
    state: CsrfToken,
    verifier: PkceCodeVerifier,
    loopback: Loopback,
}

impl Authorization {
    /// Listens on `127.0.0.1:listen_port` (0: any free port) and builds the consent URL.
    pub async fn start(
        client: ClientSecret,
        listen_port: u16,
    ) -> Result<Authorization, AuthorizeError> {
        let loopback = Loopback::bind(listen_port).await.map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                AuthorizeError::PortInUse { port: listen_port }
            } else {
                AuthorizeError::Listen {
                    port: listen_port,
                    cause: source,
                }
            }
        })?;
        let redirect_uri = loopback.redirect_uri();
        let bad = |field, value: &str| AuthorizeError::BadClientUrl {
            field,
            value: value.to_owned(),
        };
        let oauth: OAuthClient = oauth2::Client::new(ClientId::new(client.client_id.clone()))
            .set_client_secret(oauth2::ClientSecret::new(client.client_secret.clone()))
            .set_auth_uri(
                AuthUrl::new(client.auth_uri.clone())
                    .map_err(|_| bad("auth_uri", &client.auth_uri))?,
            )
            .set_token_uri(
                TokenUrl::new(client.token_uri.clone())
                    .map_err(|_| bad("token_uri", &client.token_uri))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.clone())
                    .map_err(|_| bad("redirect_uri", &redirect_uri))?,
            )
            // Google's documented request for installed apps sends the secret in the form.
            .set_auth_type(AuthType::RequestBody);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(REQUESTED_SCOPES.map(|s| Scope::new(s.to_owned())))
            // A refresh token, and a new one even if this account consented before.
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .set_pkce_challenge(challenge)
            .url();
        tracing::debug!(redirect_uri, "listening for the browser's redirect");
        Ok(Authorization {
            client,
            oauth,
            url: url.to_string(),
            state,
            verifier,
            loopback,
        })
    }

    /// The consent URL for the user to open in a browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the browser is sent back to: `http://127.0.0.1:PORT/`.
    pub fn redirect_uri(&self) -> String {
        self.loopback.redirect_uri()
    }

    /// Waits up to `timeout` for Google's answer, from the browser or from a line on
    /// `pasted`, exchanges the code and writes the token file at `token_path`.
    ///
    /// Pasted lines that carry no answer are reported and skipped, so a stray Enter does
    /// not end the attempt; a closed `pasted` (no terminal) leaves only the browser.
    pub async fn complete(
        self,
        mut pasted: mpsc::UnboundedReceiver<String>,
        timeout: Duration,
        http: &reqwest::Client,
        token_path: &Path,
    ) -> Result<Granted, AuthorizeError> {
        let Authorization {
            client,
            oauth,
            url: _,
            state,
            verifier,
            loopback,
        } = self;
        let (tx, mut browser_answers) = mpsc::channel(1);
        // Dropping the receiver on return stops the listener.
        tokio::spawn(loopback.serve(tx));
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut terminal_open = true;
        let (answer, via, browser): (Answer, Via, Option<Browser>) = loop {
            tokio::select! {
                Some((answer, browser)) = browser_answers.recv() => {
                    break (answer, Via::Browser, Some(browser));
                }
                line = pasted.recv(), if terminal_open => match line {
                    None => terminal_open = false,
                    Some(line) => match Answer::from_pasted(&line) {
                        Some(answer) => break (answer, Via::Pasted, None),
                        None if line.trim().is_empty() => {}
                        None => tracing::warn!(
                            "that is not the redirected URL (it has no `code` or `error`); \
                             paste the whole address from the browser's address bar"
                        ),
                    },
                },
                () = &mut deadline => return Err(AuthorizeError::Timeout { after: timeout }),
            }
        };
        let exchange = Exchange {
            client: &client,
            oauth: &oauth,
            http,
            token_path,
        };
        let result = exchange.finish(answer, via, &state, verifier).await;
        if let Some(browser) = browser {
            match &result {
                Ok(_) => {
                    browser
                        .respond(
                            true,
                            "Google Photos access is set up. You can close this tab and \
                             return to the terminal.",
                        )
                        .await;
                }
                Err(e) => browser.respond(false, &e.to_string()).await,
            }
        }
        result.map(|(scopes, refresh_token_expires_in)| Granted {
            scopes,
            via,
            refresh_token_expires_in,
        })
    }
}

/// The second half of the flow, once an answer is in hand.
struct Exchange<'a> {
    client: &'a ClientSecret,
    oauth: &'a OAuthClient,
    http: &'a reqwest::Client,
    token_path: &'a Path,
}

impl Exchange<'_> {
    /// Checks `state`, exchanges the code with the PKCE verifier, checks the grant and saves
    /// the token file. Returns the granted scopes and the refresh token's lifetime if
    /// Google limits it.
    async fn finish(
        &self,
        answer: Answer,
        via: Via,
        state: &CsrfToken,
        verifier: PkceCodeVerifier,
    ) -> Result<(Vec<String>, Option<Duration>), AuthorizeError> {
        // Checked before anything else, an error answer included: an answer to another
        // request (a stale tab, a forged redirect) must not be acted on at all.
        if answer.state() != Some(state.secret().as_str()) {
            return Err(match via {
                Via::Pasted => AuthorizeError::PastedStateMismatch,
                Via::Browser => AuthorizeError::BrowserStateMismatch,
            });
        }
        let (code, redirect_scope) = match answer {
            Answer::Error { error, .. } if error == "access_denied" => {
                return Err(AuthorizeError::Denied);
            }
            Answer::Error {
                error, description, ..
            } => return Err(AuthorizeError::Refused { error, description }),
            Answer::Code { code, scope, .. } => (code, scope),
        };
        tracing::debug!(?via, "exchanging the authorization code");
        let http = self.http;
        let send = |request: oauth2::HttpRequest| send(http, request);
        let token = self
            .oauth
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .map_err(exchange_error)?;
        // Google lists the granted scopes in the token response; the redirect's copy is
        // the fallback for a server that leaves it out.
        let scopes: Vec<String> = match token.scopes() {
            Some(s) => s.iter().map(|s| s.as_str().to_owned()).collect(),
            None => redirect_scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        if !scopes.iter().any(|s| s == SCOPE_APPENDONLY) {
            return Err(AuthorizeError::UploadScopeNotGranted {
                granted: if scopes.is_empty() {
                    "none".to_owned()
                } else {
                    scopes.join(" ")
                },
            });
        }
        let Some(refresh) = token.refresh_token() else {
            return Err(AuthorizeError::NoRefreshToken);
        };
        let mut file = TokenFile::new(
            &self.client.client_id,
            &self.client.client_secret,
            refresh.secret(),
        );
        file.token = Some(token.access_token().secret().clone());
        file.expiry = token
            .expires_in()
            .map(|d| DateTime::<Utc>::from(SystemTime::now() + d).to_rfc3339());
        file.token_uri = Some(self.client.token_uri.clone());
        file.scopes.clone_from(&scopes);
        let path = self.token_path.to_owned();
        tokio::task::spawn_blocking(move || file.save(&path))
            .await
            .map_err(|e| AuthError::TokenFile {
                path: self.token_path.to_owned(),
                message: e.to_string(),
            })??;
        tracing::debug!("token file written");
        let lifetime = token.extra_fields().refresh_token_expires_in;
        Ok((scopes, lifetime.map(Duration::from_secs)))
    }
}

/// `oauth2`'s HTTP hook on our reqwest 0.13 client (`oauth2` itself would bring reqwest
/// 0.12). The client must not follow redirects: the token request carries the secret.
async fn send(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let response = http.execute(reqwest::Request::try_from(request)?).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let mut out = oauth2::HttpResponse::new(body.to_vec());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// Keeps response bodies out of the message: a half-parsed token response holds tokens.
fn exchange_error(
    e: RequestTokenError<reqwest::Error, oauth2::basic::BasicErrorResponse>,
) -> AuthorizeError {
    match e {
        RequestTokenError::ServerResponse(r) => AuthorizeError::Exchange {
            error: r.error().to_string(),
            description: r.error_description().cloned(),
        },
        RequestTokenError::Request(e) => AuthorizeError::Network(e.without_url().to_string()),
        RequestTokenError::Parse(e, _body) => {
            AuthorizeError::Protocol(format!("cannot read the token response at `{}`", e.path()))
        }
        RequestTokenError::Other(message) => AuthorizeError::Protocol(message),
    }
}
