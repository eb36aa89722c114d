//! gphotosd: watches camera folders and uploads every new photo and video to Google Photos
//! exactly once.
//!
//! Layout (one direction of dependency, top to bottom):
//! - [`config`]: the TOML file.
//! - [`watch`]: scanning folders, deciding what is media.
//! - [`store`]: SQLite, the single owner of state; every stage talks through it.
//! - [`auth`]: OAuth client file, token file, access-token refresh.
//! - [`limits`]: requests/s, bytes/s and the daily request ledger.
//! - [`api`]: the Google Photos Library API client and its error classes.
//! - [`upload`]: the worker pool (raw and resumable uploads).
//! - [`create`]: the single batchCreate lane.
//! - [`after_upload`]: deletes or moves files whose media item exists, if configured.
//! - [`pause`]: global pauses (quota, storage, auth).
//! - [`pipeline`]: wires the stages and runs them ([`pipeline::run`]).
//! - [`status`]: the read model of `gphotosd status` and systemd's `STATUS=`.
//! - [`systemd`]: the notify protocol (ready, status, watchdog, stopping).
//! - [`verify`]: `gphotosd verify`, checking that Google still holds the recorded items.
//! - [`cli`]: one module per subcommand; `main.rs` only dispatches.

pub mod after_upload;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod create;
pub mod limits;
pub mod lock;
pub mod paths;
pub mod pause;
pub mod pipeline;
pub mod status;
pub mod store;
pub mod systemd;
pub mod upload;
pub mod verify;
pub mod watch;
