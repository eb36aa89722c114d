//! [`Config`]: the knobs of one emulator instance. Defaults mirror what Google documents
//! (or, where Google is silent, what `google-photos-api.md` chose), so a test only sets the
//! knob it exercises.

use std::time::Duration;

/// Settings of one emulator instance, fixed at start except the storage limit
/// (see [`crate::Emulator::set_storage_limit`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// `X-Goog-Upload-Chunk-Granularity` announced by `start`; every non-final chunk must be
    /// a multiple of it, and a cut request keeps only whole multiples of it.
    pub granularity: u64,
    /// Library API requests per emulated Pacific day; every `/v1` request counts.
    pub daily_quota: u64,
    /// Write requests (batchCreate, albums.create, batchAddMediaItems) per user per minute.
    pub writes_per_minute: u32,
    /// Account storage in bytes; `None` is unlimited. A batchCreate that would exceed it
    /// fails as a whole with Google's storage-full text.
    pub storage_limit_bytes: Option<u64>,
    /// Lifetime of minted access tokens (`expires_in`).
    pub access_token_ttl: Duration,
    /// Lifetime of upload tokens ("valid for one day after creation").
    pub upload_token_ttl: Duration,
    /// Lifetime of resumable session URLs (7 days, as documented for the sibling
    /// Street View Publish API).
    pub session_ttl: Duration,
    /// OAuth consent screen in "Testing" status: refresh tokens expire 7 days after issue.
    pub testing_mode: bool,
    /// Whether an upload token may be used by more than one successful create.
    pub allow_token_reuse: bool,
    /// Whether a duplicate video fails with per-item code 6 `EXISTS` (observed for videos)
    /// instead of resolving to the existing media item id.
    pub video_duplicate_exists: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            granularity: 262_144,
            daily_quota: 10_000,
            writes_per_minute: 30,
            storage_limit_bytes: None,
            access_token_ttl: Duration::from_secs(3599),
            upload_token_ttl: Duration::from_secs(24 * 3600),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            testing_mode: false,
            allow_token_reuse: false,
            video_duplicate_exists: false,
        }
    }
}

/// How long a refresh token lives when the consent screen is in "Testing" status.
pub(crate) const TESTING_REFRESH_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Authorization codes are short-lived; Google does not document the exact figure.
pub(crate) const AUTH_CODE_TTL: Duration = Duration::from_secs(600);

/// Google's guidance: simple (raw) uploads are for files under 50 MB.
pub(crate) const RAW_UPLOAD_GUIDANCE_BYTES: u64 = 50 * 1000 * 1000;

/// Largest JSON request body the emulator reads; real requests are a few kilobytes.
pub(crate) const MAX_JSON_BODY: usize = 4 * 1024 * 1024;
