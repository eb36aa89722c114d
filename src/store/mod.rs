//! The SQLite store: the only owner of state.
//!
//! [`Store`] is the async handle the pipeline uses; it runs closures over [`Db`] (the one
//! writer connection) on tokio's blocking pool, so SQLite never blocks a runtime thread.
//! Every transition that guards a network step is committed before that step starts: the
//! database, not memory, is what a restart after `kill -9` resumes from.
//!
//! `gphotosd status` opens its own read-only connection ([`Db::open_read_only`]); WAL lets
//! it read beside the running daemon.

mod batches;
mod files;
mod gone;
mod meta;
mod migrate;
mod queries;
#[cfg(test)]
pub(crate) mod test_support;
mod unwatched;
mod verify;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use files::{
    Counts, CreateOutcome, FileRow, FileState, Job, ScanOutcome, ScannedFile, UNREADABLE_PREFIX,
    UploadedItem,
};
pub use meta::{DaemonRow, Pause, PauseReason, WatchRootRow};
pub use migrate::SCHEMA_VERSION;
pub use unwatched::{QueuedRow, UNWATCHED_PREFIX};
pub use verify::Requeued;
pub use watch::{AFTER_UPLOAD_FAILED, AfterUploadDue, RootMode};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {cause}")]
    Open {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error(
        "database {path} has schema version {found}, but this gphotosd knows only up to \
         {known}: it was written by a newer gphotosd. Install that version again (downgrading \
         would lose state)"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A reader met a database an older gphotosd wrote (or one being created this very
    /// moment): only the daemon, which writes, upgrades it.
    #[error(
        "database {path} has schema version {found}; this gphotosd reads version {known}. \
         {}",
        if *found == 0 {
            "It is being created right now: try again in a moment."
        } else {
            "A daemon of this version upgrades it when it starts: restart gphotosd \
             (`systemctl restart gphotosd`) or run `gphotosd sync` once."
        }
    )]
    TooOld {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Task(String),
}

/// The one writer connection, with the typed operations of the queue.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let open_err = |cause| StoreError::Open {
            path: path.to_owned(),
            cause,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        // WAL lets `status` read while we write; FULL makes each commit that guards a
        // network step durable across power loss, which is the point of committing first.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(open_err)?;
        migrate::migrate(&mut conn, path)?;
        Ok(Db { conn })
    }

    /// Opens an existing database for reading only (the `status` command).
    pub fn open_read_only(path: &Path) -> Result<Db, StoreError> {
        let open_err = |cause| StoreError::Open {
            path: path.to_owned(),
            cause,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        let version = migrate::user_version(&conn)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            return Err(StoreError::TooOld {
                path: path.to_owned(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(Db { conn })
    }

    /// Runs `f` in one transaction: many changes, one commit (one fsync). Used by scans,
    /// which record whole folders at once.
    pub fn batch<R>(
        &mut self,
        f: impl FnOnce(&mut Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(self) {
            Ok(r) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The raw connection, for ad-hoc reads in tests and `status`.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Cheap-to-clone async handle over [`Db`].
#[derive(Clone)]
pub struct Store {
    db: Arc<Mutex<Db>>,
}

impl Store {
    /// Opens and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            db: Arc::new(Mutex::new(Db::open(path)?)),
        })
    }

    /// Runs `f` on the writer connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the data is SQLite's, which rolled
            // back the open transaction, so carrying on is safe.
            let mut guard = db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` on the writer connection on the current thread (set-up and tests).
    pub fn call_blocking<R>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut guard = self
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
