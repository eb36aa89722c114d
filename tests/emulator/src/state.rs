//! [`State`]: a point-in-time snapshot of everything the emulator holds, for assertions
//! ("the item exists with this SHA-256", "no violations", "3 refreshes"). It is plain data,
//! serialisable, and is also what `GET /__emulator/state` returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Snapshot returned by [`crate::Emulator::state`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Media items in creation order (deleted ones are gone from here).
    pub items: Vec<Item>,
    /// Ids of items deleted with [`crate::Emulator::delete_item`], in deletion order.
    #[serde(default)]
    pub deleted_items: Vec<String>,
    /// Albums in creation order (deleted ones are gone from here).
    pub albums: Vec<Album>,
    /// Ids of albums deleted with [`crate::Emulator::delete_album`], in deletion order.
    #[serde(default)]
    pub deleted_albums: Vec<String>,
    /// Request counts by kind (`raw_upload`, `resumable_start`, `resumable_upload`, `query`,
    /// `cancel`, `batch_create`, `albums_create`, `albums_list`, `albums_get`,
    /// `albums_batch_add`, `media_items_list`, `media_items_get`, `media_items_batch_get`,
    /// `media_items_search`, `shared_albums`, `token`, `authorize`, `revoke`, `device_code`,
    /// `unknown`).
    pub requests: BTreeMap<String, u64>,
    /// The daily quota counter for the current emulated Pacific day.
    pub api_requests_today: u64,
    /// Every upload body byte read (raw and resumable, including bytes of cut requests).
    pub bytes_received: u64,
    /// Resumable sessions in start order.
    pub sessions: Vec<Session>,
    /// Client mistakes, each a sentence naming the rule that was broken.
    pub violations: Vec<String>,
    /// Successful `refresh_token` grants.
    pub refreshes: u64,
    /// Every authorization request that reached the consent step, in order.
    pub authorizations: Vec<AuthorizationRecord>,
    /// Every successful authorization-code exchange, in order.
    pub code_exchanges: Vec<CodeExchangeRecord>,
    /// Bytes counted against the storage limit (sum of distinct items' sizes).
    pub storage_used: u64,
}

/// One media item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    /// The name of the first upload (a duplicate upload keeps this).
    pub filename: String,
    /// Detected from the bytes' magic numbers, not from what the client declared.
    pub mime_type: String,
    pub description: Option<String>,
    pub album_ids: Vec<String>,
    /// Lower-case hex SHA-256 of the received bytes.
    pub sha256: String,
    pub size: u64,
    pub product_url: String,
    /// OAuth client that created the item.
    pub client_id: String,
    /// How many successful creates resolved to this item (more than 1 = duplicate bytes).
    pub upload_tokens_used: u32,
}

/// One album.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Album {
    pub id: String,
    pub title: String,
    /// In album order.
    pub item_ids: Vec<String>,
    pub client_id: String,
}

/// One resumable upload session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub upload_id: String,
    pub file_name: Option<String>,
    pub raw_size: u64,
    /// Bytes committed (what `query` reports).
    pub received: u64,
    /// `active`, `final` or `cancelled`.
    pub status: String,
}

/// What an authorization request asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub state_present: bool,
    pub pkce_method: Option<String>,
    pub scopes: Vec<String>,
    pub access_type: Option<String>,
    pub prompt: Option<String>,
}

/// One authorization-code exchange at the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeExchangeRecord {
    pub pkce_verified: bool,
    pub redirect_uri: String,
}
