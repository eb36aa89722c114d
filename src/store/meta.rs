//! Everything in the database that is not a file row: albums this app created, the daily
//! request ledger, and the daemon row that `status` reads (pid, heartbeat, pause).

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError, unix_now};

/// Why the whole pipeline stopped sending (instead of failing thousands of files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// The refresh token is dead: the user must run `gphotosd auth`.
    AuthRequired,
    /// The token lacks the Photos scope.
    ScopeMissing,
    /// The daily request budget is spent; lifts at midnight Pacific.
    DailyQuota,
    /// The Google account has no space left.
    StorageFull,
}

impl PauseReason {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::AuthRequired => "auth_required",
            PauseReason::ScopeMissing => "scope_missing",
            PauseReason::DailyQuota => "daily_quota",
            PauseReason::StorageFull => "storage_full",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<PauseReason> {
        [
            PauseReason::AuthRequired,
            PauseReason::ScopeMissing,
            PauseReason::DailyQuota,
            PauseReason::StorageFull,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A global pause: why, what to do, and when it lifts by itself (if it does).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pause {
    pub reason: PauseReason,
    pub message: String,
    /// Unix seconds.
    pub until: Option<i64>,
}

/// A watched folder as the daemon last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRootRow {
    pub path: String,
    pub mode: String,
    pub healthy: bool,
    pub message: Option<String>,
}

/// The daemon row.
#[derive(Debug, Clone, Default)]
pub struct DaemonRow {
    pub pid: Option<u32>,
    pub version: Option<String>,
    pub started_at: Option<i64>,
    pub heartbeat_at: Option<i64>,
    pub pause: Option<Pause>,
}

impl Db {
    /// The id of the album this app created with `title`, if any.
    pub fn album_id(&self, title: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT album_id FROM albums WHERE title = ?1",
                [title],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Remembers a created album.
    pub fn save_album(&mut self, title: &str, album_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO albums (title, album_id, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (title) DO UPDATE SET album_id = excluded.album_id",
            params![title, album_id, unix_now()],
        )?;
        Ok(())
    }

    /// Forgets the album `title` if it is still recorded as `album_id` (Google refused
    /// that id: the user deleted the album). The next file for it creates it anew.
    pub fn forget_album(&mut self, title: &str, album_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM albums WHERE title = ?1 AND album_id = ?2",
            params![title, album_id],
        )?;
        Ok(())
    }

    /// Counts one request against `day`'s budget, unless that would cross it. Returns the
    /// count after this request, or `None` when the budget is spent (nothing counted).
    pub fn spend_request(&mut self, day: &str, budget: u64) -> Result<Option<u64>, StoreError> {
        // IMMEDIATE: read-then-write. Another process spending the same ledger (`gphotosd
        // verify` beside the daemon) would otherwise make the upgrade to a write fail with
        // SQLITE_BUSY at once instead of waiting its turn.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let used: u64 = tx
            .query_row(
                "SELECT requests FROM request_ledger WHERE day = ?1",
                [day],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if used >= budget {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO request_ledger (day, requests) VALUES (?1, 1) \
             ON CONFLICT (day) DO UPDATE SET requests = requests + 1",
            [day],
        )?;
        tx.commit()?;
        Ok(Some(used + 1))
    }

    /// Requests counted for `day`.
    pub fn requests_on(&self, day: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT requests FROM request_ledger WHERE day = ?1",
                [day],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Marks the daemon as started by this process.
    pub fn record_daemon_start(&mut self, pid: u32, version: &str) -> Result<(), StoreError> {
        let now = unix_now();
        self.conn.execute(
            "UPDATE daemon SET pid = ?1, version = ?2, started_at = ?3, heartbeat_at = ?3 \
             WHERE id = 1",
            params![pid, version, now],
        )?;
        Ok(())
    }

    /// Proof of life for `status`.
    pub fn heartbeat(&mut self) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE daemon SET heartbeat_at = ?1 WHERE id = 1",
            [unix_now()],
        )?;
        Ok(())
    }

    /// Records (or with `None` clears) the global pause.
    pub fn set_pause(&mut self, pause: Option<&Pause>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE daemon SET pause_reason = ?1, pause_message = ?2, pause_until = ?3 \
             WHERE id = 1",
            params![
                pause.map(|p| p.reason.as_str()),
                pause.map(|p| p.message.as_str()),
                pause.and_then(|p| p.until)
            ],
        )?;
        Ok(())
    }

    /// Watch roots recorded by the watcher (empty before it recorded any).
    pub fn watch_roots(&self) -> Result<Vec<WatchRootRow>, StoreError> {
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' \
             AND name = 'watch_roots')",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT path, mode, healthy, message FROM watch_roots ORDER BY path")?;
        let rows = stmt.query_map([], |r| {
            // Stored as text or as the path's raw bytes.
            let path = match r.get_ref(0)? {
                rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                    String::from_utf8_lossy(b).into_owned()
                }
                _ => String::new(),
            };
            Ok(WatchRootRow {
                path,
                mode: r.get(1)?,
                healthy: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The daemon row.
    pub fn daemon_row(&self) -> Result<DaemonRow, StoreError> {
        Ok(self.conn.query_row(
            "SELECT pid, version, started_at, heartbeat_at, pause_reason, pause_message, \
             pause_until FROM daemon WHERE id = 1",
            [],
            |r| {
                let reason: Option<String> = r.get(4)?;
                Ok(DaemonRow {
                    pid: r.get(0)?,
                    version: r.get(1)?,
                    started_at: r.get(2)?,
                    heartbeat_at: r.get(3)?,
                    pause: reason
                        .as_deref()
                        .and_then(PauseReason::parse)
                        .map(|reason| Pause {
                            reason,
                            message: r
                                .get::<_, Option<String>>(5)
                                .ok()
                                .flatten()
                                .unwrap_or_default(),
                            until: r.get(6).ok().flatten(),
                        }),
                })
            },
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_refuses_to_cross_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        assert_eq!(db.spend_request("2026-12-03", 2).unwrap(), Some(1));
        assert_eq!(db.spend_request("2026-12-03", 2).unwrap(), Some(2));
        assert_eq!(db.spend_request("2026-12-03", 2).unwrap(), None);
        assert_eq!(db.requests_on("2026-12-03").unwrap(), 2);
        assert_eq!(db.spend_request("2026-12-04", 2).unwrap(), Some(1));
    }

    #[test]
    fn a_pause_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        let pause = Pause {
            reason: PauseReason::DailyQuota,
            message: "m".into(),
            until: Some(42),
        };
        db.set_pause(Some(&pause)).unwrap();
        assert_eq!(db.daemon_row().unwrap().pause, Some(pause));
        db.set_pause(None).unwrap();
        assert_eq!(db.daemon_row().unwrap().pause, None);
    }
}
