//! OAuth: the client JSON, the token file, [`Authorization`] (the interactive flow of
//! `gphotosd auth` that writes the token file), and [`TokenSource`], which hands out access
//! tokens and refreshes them (before expiry, and once after a 401), one refresh at a time
//! however many workers ask.

mod authorize;
mod client_secret;
mod loopback;
mod refresh;
mod token_file;

use std::path::PathBuf;

pub use authorize::{Authorization, AuthorizeError, Granted, REQUESTED_SCOPES, Via};
pub use client_secret::ClientSecret;
pub use refresh::{AccessToken, RefreshReport, TokenSource};
pub use token_file::TokenFile;

/// Upload bytes, create media items and albums.
pub const SCOPE_APPENDONLY: &str = "https://www.googleapis.com/auth/photoslibrary.appendonly";
/// Read back albums and items this app created.
pub const SCOPE_READ_APP_CREATED: &str =
    "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata";

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("OAuth client file {path}: {message}")]
    ClientSecret { path: PathBuf, message: String },
    #[error("no token file at {path}: run `gphotosd auth` to connect your Google account")]
    NoTokenFile { path: PathBuf },
    #[error("token file {path}: {message}")]
    TokenFile { path: PathBuf, message: String },
    #[error(
        "Google refused the refresh token ({detail}): it was revoked or expired (apps left in \
         \"Testing\" lose it after 7 days). Run `gphotosd auth` to connect again"
    )]
    Revoked { detail: String },
    #[error(
        "the token lacks the Photos upload scope (granted: {granted}); run `gphotosd auth` and tick the Google Photos permission"
    )]
    ScopeMissing { granted: String },
    #[error("cannot reach Google's token endpoint: {0}")]
    Network(String),
    #[error("unexpected answer from Google's token endpoint: {0}")]
    Protocol(String),
}

impl AuthError {
    /// Whether trying again later may help without the user doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Network(_) | AuthError::Protocol(_))
    }
}
