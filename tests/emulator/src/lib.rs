//! A strict, stateful emulator of the Google Photos Library API v1 (uploads, media items,
//! albums) and Google's OAuth 2.0 endpoints, for gphotosd's tests, benchmarks and demo.
//!
//! Start one per test with [`Emulator::start`] (it binds `127.0.0.1:0`), point the code
//! under test at [`Emulator::base_url`] and the client JSON from
//! [`Emulator::installed_client_json`], then assert on [`Emulator::state`]: items with the
//! SHA-256 of their bytes, albums, request counts and — most usefully — `violations`, every
//! request the real service would reject or Google's guidance forbids.
//!
//! Layout:
//! - [`config`]: [`Config`]; [`state`]: the [`State`] snapshot; [`faults`]: [`Fault`] injection.
//! - `server`: accept loop and the front door (count, fault, dispatch, `Date`, violations).
//! - `routes`: request classification; `access`: bearer tokens, scopes, quotas.
//! - `uploads`: raw and resumable uploads with streaming SHA-256.
//! - `media`: batchCreate and reads; `albums`; `pagination`; `magic`: content sniffing.
//! - `oauth`: consent screen, token endpoint, revocation; `control`: `/__emulator/` API.

pub mod config;
pub mod faults;
pub mod state;

mod access;
mod albums;
mod clock;
mod control;
mod errors;
mod magic;
mod media;
mod oauth;
mod pagination;
mod routes;
mod server;
mod store;
mod uploads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use faults::{Chaos, Endpoint, Fault, FaultAction};
pub use oauth::Consent;
pub use state::{Album, AuthorizationRecord, CodeExchangeRecord, Item, Session, State};

/// The scope that allows uploading, batchCreate and albums.create.
pub const SCOPE_APPENDONLY: &str = access::SCOPE_APPEND;
/// The scope that allows reading app-created items and albums.
pub const SCOPE_READONLY_APPCREATED: &str = access::SCOPE_READ_APP;
/// The scope that allows editing app-created items and albums.
pub const SCOPE_EDIT_APPCREATED: &str = access::SCOPE_EDIT_APP;

use store::Shared;

/// A running emulator. The server stops when this is dropped or [`Emulator::shutdown`].
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(config: Config) -> std::io::Result<Emulator> {
        Emulator::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr`.
    pub async fn bind(addr: SocketAddr, config: Config) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, format!("http://{local}")));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server::serve(listener, shared.clone(), shutdown.clone()));
        Ok(Emulator {
            shared,
            shutdown,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` without a trailing slash: the daemon's `api_url`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The consent-screen URL (`auth_uri` in the client JSON).
    pub fn auth_uri(&self) -> String {
        format!("{}/o/oauth2/v2/auth", self.shared.base_url)
    }

    /// The token endpoint (`token_uri` in the client JSON).
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.shared.base_url)
    }

    /// The revocation endpoint.
    pub fn revoke_uri(&self) -> String {
        format!("{}/revoke", self.shared.base_url)
    }

    /// The device-code endpoint (which refuses Photos scopes).
    pub fn device_code_uri(&self) -> String {
        format!("{}/device/code", self.shared.base_url)
    }

    /// The pre-registered Desktop client's id.
    pub fn client_id(&self) -> String {
        self.shared.lock().default_client.clone()
    }

    /// The pre-registered Desktop client's secret.
    pub fn client_secret(&self) -> String {
        let inner = self.shared.lock();
        inner.clients[&inner.default_client].secret.clone()
    }

    /// Registers another OAuth client (another "app"): returns `(client_id, client_secret)`.
    /// Items and albums are visible only to the client that created them.
    pub fn register_client(&self) -> (String, String) {
        let mut inner = self.shared.lock();
        let id = inner.register_client();
        let secret = inner.clients[&id].secret.clone();
        (id, secret)
    }

    /// The client JSON exactly as the Cloud Console downloads it for a Desktop app.
    pub fn installed_client_json(&self) -> Value {
        self.shared.client_json("installed")
    }

    /// The same credentials in the "Web application" layout (for negative tests).
    pub fn web_client_json(&self) -> Value {
        self.shared.client_json("web")
    }

    /// A refresh token for the default client with `scopes`, as if the user consented.
    pub fn grant_refresh_token(&self, scopes: &[&str]) -> String {
        self.shared.grant_refresh_token(None, scopes)
    }

    /// A refresh token for another registered client.
    pub fn grant_refresh_token_for(&self, client_id: &str, scopes: &[&str]) -> String {
        self.shared.grant_refresh_token(Some(client_id), scopes)
    }

    /// A ready access token for the default client (test shortcut; not tied to a refresh
    /// token). It expires after `access_token_ttl` on the emulated clock.
    pub fn grant_access_token(&self, scopes: &[&str]) -> String {
        self.grant_access_token_for(&self.client_id(), scopes)
    }

    /// A ready access token for another registered client.
    pub fn grant_access_token_for(&self, client_id: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let expires = self.shared.clock.now() + self.shared.config.access_token_ttl;
        self.shared
            .lock()
            .mint_access(client_id, &scopes, None, expires)
    }

    /// Revokes a refresh token and every access token minted from it.
    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        self.shared.lock().revoke_refresh(refresh_token);
    }

    /// What the auto-consent authorization endpoint does from now on.
    pub fn set_consent(&self, consent: Consent) {
        self.shared.lock().consent = consent;
    }

    /// Moves the emulated clock forward (tokens, sessions, upload tokens, quota day).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Queues a fault (matched in insertion order).
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Sets (or with `None` clears) seeded random faults.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.shared.lock().faults.set_chaos(chaos);
    }

    /// Drops every pending fault and the chaos generator.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Changes the account's storage limit (`None` = unlimited).
    pub fn set_storage_limit(&self, limit: Option<u64>) {
        self.shared.lock().storage_limit = limit;
    }

    /// Deletes a media item as the user would in the Google Photos app. It leaves the
    /// library and its albums and frees its storage; `get` and `batchGet` then answer for it
    /// as for an unknown id, and uploading the same bytes again creates a new item with a
    /// new id. Returns false when no such item exists.
    pub fn delete_item(&self, id: &str) -> bool {
        self.shared.lock().delete_item(id)
    }

    /// Deletes an album as the user would in the Google Photos app: its items stay in the
    /// library; batchCreate into it then fails as for a foreign album, and `albums.get`
    /// answers as for an unknown id. Returns false when no such album exists.
    pub fn delete_album(&self, id: &str) -> bool {
        self.shared.lock().delete_album(id)
    }

    /// Test hook: pads an album with `n` placeholder entries so the 20,000-item album limit
    /// can be reached without 20,000 uploads. The placeholders are not media items.
    #[doc(hidden)]
    pub fn pad_album(&self, album_id: &str, n: usize) {
        if let Some(album) = self.shared.lock().album_mut(album_id) {
            album
                .item_ids
                .extend((0..n).map(|i| format!("placeholder-{i}")));
        }
    }

    /// A snapshot of everything the emulator holds.
    pub fn state(&self) -> State {
        self.shared.snapshot()
    }

    /// Stops accepting, drops every open connection and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Shared {
    pub(crate) fn client_json(&self, layout: &str) -> Value {
        let inner = self.lock();
        let id = &inner.default_client;
        let body = json!({
            "client_id": id,
            "project_id": "gphotos-emulator",
            "auth_uri": format!("{}/o/oauth2/v2/auth", self.base_url),
            "token_uri": format!("{}/token", self.base_url),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": inner.clients[id].secret,
            "redirect_uris": ["http://localhost"],
        });
        json!({ layout: body })
    }

    pub(crate) fn grant_refresh_token(&self, client_id: Option<&str>, scopes: &[&str]) -> String {
        let now = self.clock.now();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let mut inner = self.lock();
        let client = client_id.map_or_else(|| inner.default_client.clone(), str::to_owned);
        inner.mint_refresh(&client, &scopes, now)
    }
}

#[cfg(test)]
mod tests {
    /// The handle is shared across tasks by the daemon's tests.
    #[test]
    fn handle_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Emulator>();
        check::<super::State>();
        check::<super::Fault>();
        check::<super::Config>();
    }
}
