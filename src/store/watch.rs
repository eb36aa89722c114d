//! What the watcher records besides file rows: how each watched folder is watched (read by
//! `status` through [`Db::watch_roots`]), and the after-upload action of each file.

use std::path::{Path, PathBuf};

use rusqlite::params;

use super::files::{FileRow, ROW_COLUMNS, file_row, path_bytes, path_from_bytes};
use super::{Db, StoreError, unix_now};

/// How the reason of a done file whose after-upload action failed begins: the file is in
/// Google Photos, but still in the folder (or wherever the action stopped), so `status`,
/// `sync` and `retry` treat it apart from a clean done file.
pub const AFTER_UPLOAD_FAILED: &str = "uploaded; after-upload action failed";

/// How changes in a watched folder are noticed right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootMode {
    /// inotify.
    Native,
    /// Walking it every poll interval.
    Poll,
    /// Nothing live: only the periodic scans (the folder is missing, or inotify failed).
    Scan,
}

impl RootMode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RootMode::Native => "native",
            RootMode::Poll => "poll",
            RootMode::Scan => "scan",
        }
    }
}

/// A done file whose after-upload action has not run yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterUploadDue {
    pub id: i64,
    pub path: PathBuf,
    /// The identity that was uploaded: the action runs only if the file still has it.
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    /// `delete` or `move:<folder>`.
    pub action: String,
    /// Recorded as a copy of another file's item: nothing of this file was sent.
    pub alias: bool,
}

impl Db {
    /// Forgets every recorded watch root (the daemon starts over with its own config).
    pub fn clear_watch_roots(&mut self) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM watch_roots", [])?;
        Ok(())
    }

    /// Records how the watched folder `path` (`watch[watch_index]`) is watched.
    pub fn set_watch_root(
        &mut self,
        path: &Path,
        watch_index: usize,
        mode: RootMode,
        healthy: bool,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO watch_roots (path, watch_index, mode, healthy, message, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (path) DO UPDATE SET \
             watch_index = excluded.watch_index, mode = excluded.mode, \
             healthy = excluded.healthy, message = excluded.message, \
             updated_at = excluded.updated_at",
            params![
                path_bytes(path),
                watch_index,
                mode.as_str(),
                healthy,
                message,
                unix_now()
            ],
        )?;
        Ok(())
    }

    /// Sets (or with `None` clears) what happens to the file at `path` once it is done.
    pub fn set_after_upload(
        &mut self,
        path: &Path,
        action: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE files SET after_upload = ?2 WHERE path = ?1")?
            .execute(params![path_bytes(path), action])?;
        Ok(())
    }

    /// Done files whose action has not run, at most `limit`, oldest first.
    pub fn after_upload_due(&self, limit: usize) -> Result<Vec<AfterUploadDue>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, path, size, mtime_ns, inode, after_upload, alias_of IS NOT NULL FROM files \
             WHERE after_upload IS NOT NULL AND state = 'done' \
             AND media_item_id IS NOT NULL ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AfterUploadDue {
                id: r.get(0)?,
                path: path_from_bytes(&r.get::<_, Vec<u8>>(1)?),
                size: r.get(2)?,
                mtime_ns: r.get(3)?,
                inode: r.get(4)?,
                action: r.get(5)?,
                alias: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Done files whose after-upload action failed, at most `limit`, most recent first.
    pub fn after_upload_failures(&self, limit: usize) -> Result<Vec<FileRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM files WHERE state = 'done' AND gone_at IS NULL \
             AND substr(reason, 1, length(?1)) = ?1 ORDER BY updated_at DESC, id DESC LIMIT ?2"
        ))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![AFTER_UPLOAD_FAILED, limit], file_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Arms `action` again on the done file at `path` whose after-upload action failed
    /// (`None`: only forget the failure). Returns whether there was such a file.
    pub fn retry_after_upload(
        &mut self,
        path: &Path,
        action: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE files SET after_upload = ?2, reason = NULL, updated_at = ?3 \
             WHERE path = ?1 AND state = 'done' AND substr(reason, 1, length(?4)) = ?4",
            params![path_bytes(path), action, unix_now(), AFTER_UPLOAD_FAILED],
        )?;
        Ok(n > 0)
    }

    /// The action of `id` ran (or was given up on): `note` says what happened.
    pub fn after_upload_finished(&mut self, id: i64, note: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET after_upload = NULL, reason = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, note, unix_now()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ScannedFile;
    use crate::store::test_support::{scanned_jpeg, temp_db, upload_next_as};

    #[test]
    fn only_done_files_with_an_action_are_due() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        for (path, verdict) in [
            ("/a.jpg", Ok("image/jpeg".to_owned())),
            ("/b.jpg", Ok("image/jpeg".to_owned())),
        ] {
            db.upsert_scanned(&ScannedFile {
                verdict,
                ..scanned_jpeg(path, 3)
            })
            .unwrap();
            db.set_after_upload(Path::new(path), Some("delete"))
                .unwrap();
        }
        assert!(
            db.after_upload_due(10).unwrap().is_empty(),
            "pending is not done"
        );
        let a = upload_next_as(&mut db, b"h", "m");
        let due = db.after_upload_due(10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].id, due[0].action.as_str(), due[0].size),
            (a, "delete", 3)
        );
        db.after_upload_finished(a, "deleted after upload").unwrap();
        assert!(db.after_upload_due(10).unwrap().is_empty());

        db.set_watch_root(Path::new("/cam"), 1, RootMode::Poll, true, Some("polling"))
            .unwrap();
        db.set_watch_root(Path::new("/cam"), 1, RootMode::Native, false, None)
            .unwrap();
        let roots = db.watch_roots().unwrap();
        assert_eq!(roots.len(), 1);
        assert_eq!(
            (roots[0].mode.as_str(), roots[0].healthy),
            ("native", false)
        );
        db.clear_watch_roots().unwrap();
        assert!(db.watch_roots().unwrap().is_empty());
    }

    #[test]
    fn a_failed_action_is_listed_until_it_is_armed_again() {
        let (_dir, mut db) = temp_db();
        db.upsert_scanned(&scanned_jpeg("/a.jpg", 3)).unwrap();
        db.set_after_upload(Path::new("/a.jpg"), Some("move:/x"))
            .unwrap();
        let a = upload_next_as(&mut db, b"h", "m");
        assert!(
            !db.retry_after_upload(Path::new("/a.jpg"), Some("move:/x"))
                .unwrap(),
            "nothing failed yet"
        );
        let note = format!("{AFTER_UPLOAD_FAILED}: cannot move the file to /x/a.jpg: denied");
        db.after_upload_finished(a, &note).unwrap();
        let failed = db.after_upload_failures(10).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].reason.as_deref(), Some(note.as_str()));

        assert!(
            db.retry_after_upload(Path::new("/a.jpg"), Some("move:/y"))
                .unwrap()
        );
        assert!(db.after_upload_failures(10).unwrap().is_empty());
        let due = db.after_upload_due(10).unwrap();
        assert_eq!(due[0].action, "move:/y", "the action the config names now");
        db.after_upload_finished(a, "uploaded, then moved to /y/a.jpg")
            .unwrap();
        assert!(db.after_upload_failures(10).unwrap().is_empty());
    }
}
