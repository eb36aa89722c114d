//! [`Shared`] and [`Inner`]: the emulator's mutable world behind one mutex — OAuth clients
//! and grants, upload tokens, resumable sessions, media items, albums, counters and the
//! violation log. Handlers lock it briefly and never across an `.await`; the only hot-path
//! counter (`bytes_received`) is an atomic so streaming 1 GiB never touches the lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use rand::RngCore;
use sha2::Sha256;

use crate::clock::{Clock, pacific_day};
use crate::config::Config;
use crate::faults::Faults;
use crate::magic::Detected;
use crate::oauth::Consent;
use crate::state::{self, AuthorizationRecord, CodeExchangeRecord, State};

/// Everything one emulator instance shares between connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub clock: Clock,
    /// `http://127.0.0.1:PORT`, used for absolute session URLs and the client JSON.
    pub base_url: String,
    pub inner: Mutex<Inner>,
    pub bytes_received: AtomicU64,
    /// batchCreate requests currently being handled (for the serial-per-user rule).
    pub batch_in_flight: AtomicU32,
}

impl Shared {
    pub(crate) fn new(config: Config, base_url: String) -> Shared {
        let inner = Inner::new(&config);
        Shared {
            config,
            clock: Clock::new(),
            base_url,
            inner: Mutex::new(inner),
            bytes_received: AtomicU64::new(0),
            batch_in_flight: AtomicU32::new(0),
        }
    }

    /// Locks the world. A panic in a handler must not wedge every later test assertion,
    /// so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> State {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.roll_day(now);
        let mut s = inner.snapshot();
        s.bytes_received = self.bytes_received.load(Ordering::Relaxed);
        s
    }
}

/// A registered OAuth client ("Desktop app" credentials).
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub secret: String,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub issued: SystemTime,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires: SystemTime,
    pub refresh_token: Option<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub scopes: Vec<String>,
    /// Whether the exchange returns a refresh token (offline + first consent or forced).
    pub issue_refresh: bool,
    pub expires: SystemTime,
    pub used: bool,
}

/// What an upload token stands for: bytes already received and hashed.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub client_id: String,
    pub sha256: String,
    pub size: u64,
    pub detected: Option<Detected>,
    pub file_name: Option<String>,
    pub created: SystemTime,
    pub consumed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionStatus {
    Active,
    Final,
    Cancelled,
}

impl SessionStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Final => "final",
            SessionStatus::Cancelled => "cancelled",
        }
    }
}

/// A resumable session: committed byte count plus the running hash of those bytes.
#[derive(Debug, Clone)]
pub(crate) struct SessionData {
    pub upload_id: String,
    pub client_id: String,
    pub file_name: Option<String>,
    pub raw_size: u64,
    pub received: u64,
    pub hasher: Sha256,
    /// The first bytes of the file, for magic-number detection at finalize.
    pub head: Vec<u8>,
    pub status: SessionStatus,
    pub created: SystemTime,
    /// A request is streaming into this session right now.
    pub busy: bool,
    pub granularity: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct ItemData {
    pub id: String,
    pub filename: String,
    pub description: Option<String>,
    pub detected: Detected,
    pub album_ids: Vec<String>,
    pub sha256: String,
    pub size: u64,
    pub client_id: String,
    pub created: SystemTime,
    pub uses: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct AlbumData {
    pub id: String,
    pub title: String,
    pub item_ids: Vec<String>,
    pub client_id: String,
}

/// The mutable world.
#[derive(Debug)]
pub(crate) struct Inner {
    pub storage_limit: Option<u64>,
    pub clients: HashMap<String, Client>,
    pub default_client: String,
    pub consent: Consent,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub access_tokens: HashMap<String, AccessGrant>,
    pub codes: HashMap<String, CodeGrant>,
    pub uploads: HashMap<String, Upload>,
    pub sessions: Vec<SessionData>,
    pub items: Vec<ItemData>,
    pub item_by_sha: HashMap<String, usize>,
    /// Items the user deleted in the app, in deletion order, with the client that created
    /// them (asking about your own deleted item is normal life, not a client mistake).
    pub deleted: Vec<(String, String)>,
    /// Albums the user deleted in the app, likewise with their creating client.
    pub deleted_albums: Vec<(String, String)>,
    pub albums: Vec<AlbumData>,
    pub requests: BTreeMap<String, u64>,
    pub quota_day: Option<NaiveDate>,
    pub api_requests_today: u64,
    /// A daily-quota 429 was already returned today (later requests are violations).
    pub daily_quota_reported: bool,
    pub writes: VecDeque<SystemTime>,
    pub violations: Vec<String>,
    pub refreshes: u64,
    pub authorizations: Vec<AuthorizationRecord>,
    pub code_exchanges: Vec<CodeExchangeRecord>,
    pub faults: Faults,
    pub storage_used: u64,
}

impl Inner {
    fn new(config: &Config) -> Inner {
        let mut inner = Inner {
            storage_limit: config.storage_limit_bytes,
            clients: HashMap::new(),
            default_client: String::new(),
            consent: Consent::Approve,
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            codes: HashMap::new(),
            uploads: HashMap::new(),
            sessions: Vec::new(),
            items: Vec::new(),
            item_by_sha: HashMap::new(),
            deleted: Vec::new(),
            deleted_albums: Vec::new(),
            albums: Vec::new(),
            requests: BTreeMap::new(),
            quota_day: None,
            api_requests_today: 0,
            daily_quota_reported: false,
            writes: VecDeque::new(),
            violations: Vec::new(),
            refreshes: 0,
            authorizations: Vec::new(),
            code_exchanges: Vec::new(),
            faults: Faults::default(),
            storage_used: 0,
        };
        inner.default_client = inner.register_client();
        inner
    }

    /// Registers a new "Desktop app" OAuth client and returns its id.
    pub(crate) fn register_client(&mut self) -> String {
        let digits: u64 = 100_000_000_000 + (rand::rng().next_u64() % 900_000_000_000);
        let id = format!(
            "{digits}-{}.apps.googleusercontent.com",
            random_token("", 24).to_lowercase().replace(['-', '_'], "x")
        );
        let secret = random_token("GOCSPX-", 21);
        self.clients.insert(id.clone(), Client { secret });
        id
    }

    pub(crate) fn count(&mut self, kind: &str) {
        *self.requests.entry(kind.to_owned()).or_insert(0) += 1;
    }

    pub(crate) fn violation(&mut self, rule: impl Into<String>) {
        self.violations.push(rule.into());
    }

    /// Resets the daily counter when the emulated Pacific day changed.
    pub(crate) fn roll_day(&mut self, now: SystemTime) {
        let today = pacific_day(now);
        if self.quota_day != Some(today) {
            self.quota_day = Some(today);
            self.api_requests_today = 0;
            self.daily_quota_reported = false;
        }
    }

    /// Records one write request if the per-minute budget allows it.
    pub(crate) fn take_write(&mut self, now: SystemTime, limit: u32) -> bool {
        let window = Duration::from_secs(60);
        while let Some(&t) = self.writes.front() {
            if now.duration_since(t).unwrap_or_default() >= window {
                self.writes.pop_front();
            } else {
                break;
            }
        }
        if self.writes.len() >= limit as usize {
            return false;
        }
        self.writes.push_back(now);
        true
    }

    pub(crate) fn session_mut(&mut self, upload_id: &str) -> Option<&mut SessionData> {
        self.sessions.iter_mut().find(|s| s.upload_id == upload_id)
    }

    pub(crate) fn item(&self, id: &str) -> Option<&ItemData> {
        self.items.iter().find(|i| i.id == id)
    }

    /// The client that created `id`, if the user deleted that item.
    pub(crate) fn deleted_by(&self, id: &str) -> Option<&str> {
        self.deleted
            .iter()
            .find(|(d, _)| d == id)
            .map(|(_, client)| client.as_str())
    }

    /// Deletes an item as the user does in the Google Photos app: it leaves the library and
    /// every album, its bytes stop counting against storage, and identical bytes uploaded
    /// later become a new item with a new id. Returns false for an unknown id.
    pub(crate) fn delete_item(&mut self, id: &str) -> bool {
        let Some(idx) = self.items.iter().position(|i| i.id == id) else {
            return false;
        };
        let item = self.items.remove(idx);
        for album in &mut self.albums {
            album.item_ids.retain(|i| i != id);
        }
        // Only distinct items count against storage; a deleted one frees its bytes.
        self.storage_used = self.storage_used.saturating_sub(item.size);
        self.item_by_sha = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.sha256.clone(), i))
            .collect();
        self.deleted.push((item.id, item.client_id));
        true
    }

    /// Deletes an album as the user does in the app: the album goes, its items stay in the
    /// library (they only lose that album). Returns false for an unknown id.
    pub(crate) fn delete_album(&mut self, id: &str) -> bool {
        let Some(idx) = self.albums.iter().position(|a| a.id == id) else {
            return false;
        };
        let album = self.albums.remove(idx);
        for item in &mut self.items {
            item.album_ids.retain(|a| a != id);
        }
        self.deleted_albums.push((album.id, album.client_id));
        true
    }

    /// The client that created album `id`, if the user deleted it.
    pub(crate) fn album_deleted_by(&self, id: &str) -> Option<&str> {
        self.deleted_albums
            .iter()
            .find(|(d, _)| d == id)
            .map(|(_, client)| client.as_str())
    }

    pub(crate) fn album(&self, id: &str) -> Option<&AlbumData> {
        self.albums.iter().find(|a| a.id == id)
    }

    pub(crate) fn album_mut(&mut self, id: &str) -> Option<&mut AlbumData> {
        self.albums.iter_mut().find(|a| a.id == id)
    }

    /// Mints an access token (and remembers which refresh token it came from).
    pub(crate) fn mint_access(
        &mut self,
        client_id: &str,
        scopes: &[String],
        refresh_token: Option<String>,
        expires: SystemTime,
    ) -> String {
        let token = random_token("ya29.a0", 120);
        self.access_tokens.insert(
            token.clone(),
            AccessGrant {
                client_id: client_id.to_owned(),
                scopes: scopes.to_vec(),
                expires,
                refresh_token,
                revoked: false,
            },
        );
        token
    }

    pub(crate) fn mint_refresh(
        &mut self,
        client_id: &str,
        scopes: &[String],
        now: SystemTime,
    ) -> String {
        let token = random_token("1//0", 100);
        self.refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                scopes: scopes.to_vec(),
                issued: now,
                revoked: false,
            },
        );
        token
    }

    /// Revokes a refresh token and every access token minted from it.
    pub(crate) fn revoke_refresh(&mut self, refresh_token: &str) -> bool {
        let Some(grant) = self.refresh_tokens.get_mut(refresh_token) else {
            return false;
        };
        grant.revoked = true;
        for access in self.access_tokens.values_mut() {
            if access.refresh_token.as_deref() == Some(refresh_token) {
                access.revoked = true;
            }
        }
        true
    }

    fn snapshot(&self) -> State {
        State {
            items: self
                .items
                .iter()
                .map(|i| state::Item {
                    id: i.id.clone(),
                    filename: i.filename.clone(),
                    mime_type: i.detected.mime.to_owned(),
                    description: i.description.clone(),
                    album_ids: i.album_ids.clone(),
                    sha256: i.sha256.clone(),
                    size: i.size,
                    product_url: item_product_url(&i.id),
                    client_id: i.client_id.clone(),
                    upload_tokens_used: i.uses,
                })
                .collect(),
            albums: self
                .albums
                .iter()
                .map(|a| state::Album {
                    id: a.id.clone(),
                    title: a.title.clone(),
                    item_ids: a.item_ids.clone(),
                    client_id: a.client_id.clone(),
                })
                .collect(),
            requests: self.requests.clone(),
            api_requests_today: self.api_requests_today,
            bytes_received: 0,
            sessions: self
                .sessions
                .iter()
                .map(|s| state::Session {
                    upload_id: s.upload_id.clone(),
                    file_name: s.file_name.clone(),
                    raw_size: s.raw_size,
                    received: s.received,
                    status: s.status.as_str().to_owned(),
                })
                .collect(),
            deleted_items: self.deleted.iter().map(|(id, _)| id.clone()).collect(),
            deleted_albums: self
                .deleted_albums
                .iter()
                .map(|(id, _)| id.clone())
                .collect(),
            violations: self.violations.clone(),
            refreshes: self.refreshes,
            authorizations: self.authorizations.clone(),
            code_exchanges: self.code_exchanges.clone(),
            storage_used: self.storage_used,
        }
    }
}

/// `prefix` + `len` URL-safe base64 characters of randomness.
pub(crate) fn random_token(prefix: &str, len: usize) -> String {
    let mut bytes = vec![0u8; len.div_ceil(4) * 3];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = URL_SAFE_NO_PAD.encode(bytes);
    s.truncate(len);
    format!("{prefix}{s}")
}

/// Media item and album ids look like Google's (`AF1Qip…`, URL-safe, ~70 characters).
pub(crate) fn random_id() -> String {
    random_token("AF1Qip", 64)
}

pub(crate) fn item_product_url(id: &str) -> String {
    format!("https://photos.google.com/lr/photo/{id}")
}

pub(crate) fn album_product_url(id: &str) -> String {
    format!("https://photos.google.com/lr/album/{id}")
}
