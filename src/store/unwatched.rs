//! Taking files out of the queue that the configuration no longer watches.
//!
//! A row is queued under the configuration of the scan that found it. When the user later
//! excludes its folder, narrows `include`, or removes the whole `[[watch]]` entry, the row
//! must not be uploaded anyway: an exclude is often a privacy decision. At start, before
//! any worker or the batch creator runs, [`Db::unwatched_candidates`] lists the rows that
//! are not in Google Photos yet and [`Db::skip_unwatched`] marks those the caller found
//! unwatched as `skipped`, with a reason that starts with [`UNWATCHED_PREFIX`]. A later
//! scan that finds such a file (the exclude was removed again) records it as new.

use std::path::PathBuf;

use rusqlite::params;

use super::files::{FileState, path_from_bytes};
use super::{Db, StoreError, unix_now};

/// How the reason of a file taken out of the queue by a configuration change starts.
/// Such a skip stands only while the configuration says so: a scan that finds the file
/// again (so it is watched again) records it as new, like [`super::UNREADABLE_PREFIX`].
pub const UNWATCHED_PREFIX: &str = "not uploaded: the configuration no longer watches this file";

/// A queued row that may have to leave the queue.
#[derive(Debug, Clone)]
pub struct QueuedRow {
    pub id: i64,
    pub path: PathBuf,
    pub state: FileState,
}

impl Db {
    /// Rows that are not in Google Photos yet and would still be worked on: queued,
    /// in flight (left by a stop), uploaded without a media item, or failed (which
    /// `gphotosd retry` would queue again).
    pub fn unwatched_candidates(&self) -> Result<Vec<QueuedRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, path, state FROM files WHERE state IN \
             ('pending', 'waiting', 'uploading', 'uploaded', 'creating', 'failed') \
             AND gone_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(QueuedRow {
                id: r.get(0)?,
                path: path_from_bytes(&r.get::<_, Vec<u8>>(1)?),
                state: FileState::parse(&r.get::<_, String>(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks each row `skipped` with its reason, in one transaction, if it is still in the
    /// state it was listed in (a `gphotosd retry` or `verify` meanwhile wins). Everything
    /// tied to an upload in progress is forgotten: an unfinished resumable session simply
    /// expires at Google, an upload token is never turned into a media item. Returns how
    /// many rows were skipped.
    pub fn skip_unwatched(&mut self, rows: &[(QueuedRow, String)]) -> Result<usize, StoreError> {
        let now = unix_now();
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare(
                "UPDATE files SET state = 'skipped', reason = ?3, next_attempt_at = NULL, \
                 session_url = NULL, session_granularity = NULL, bytes_sent = 0, \
                 start_offset = 0, upload_token = NULL, upload_token_at = NULL, \
                 after_upload = NULL, updated_at = ?4 WHERE id = ?1 AND state = ?2",
            )?;
            for (row, reason) in rows {
                n += stmt.execute(params![row.id, row.state.as_str(), reason, now])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ScanOutcome;
    use crate::store::test_support::{scanned_jpeg, temp_db};

    #[test]
    fn a_skipped_unwatched_row_is_recorded_as_new_when_found_again() {
        let (_d, mut db) = temp_db();
        db.upsert_scanned(&scanned_jpeg("/cam/Private/a.jpg", 10))
            .unwrap();
        db.upsert_scanned(&scanned_jpeg("/cam/b.jpg", 10)).unwrap();
        // An upload of the private file was under way when gphotosd stopped.
        let job = db.claim_next().unwrap().unwrap();
        assert!(job.path.ends_with("Private/a.jpg"));
        db.set_session(job.id, "https://upload.example/s", 256)
            .unwrap();

        let rows = db.unwatched_candidates().unwrap();
        assert_eq!(rows.len(), 2);
        let private = rows.iter().find(|r| r.path.ends_with("Private/a.jpg"));
        let reason = format!("{UNWATCHED_PREFIX} (excluded)");
        let n = db
            .skip_unwatched(&[(private.unwrap().clone(), reason.clone())])
            .unwrap();
        assert_eq!(n, 1);
        let row = db
            .file_by_path(std::path::Path::new("/cam/Private/a.jpg"))
            .unwrap()
            .unwrap();
        assert_eq!(row.state, FileState::Skipped);
        assert_eq!(row.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(db.counts().unwrap().skipped, 1);
        let next = db.claim_next().unwrap().expect("b.jpg is still queued");
        assert!(next.path.ends_with("b.jpg"), "{:?}", next.path);

        // Watched again, unchanged on disk: a new upload, not a standing skip.
        let f = scanned_jpeg("/cam/Private/a.jpg", 10);
        assert!(
            !db.is_unchanged(&f.path, f.size, f.mtime_ns, f.inode)
                .unwrap()
        );
        assert_eq!(db.upsert_scanned(&f).unwrap(), ScanOutcome::Changed);
        let row = db.file_by_path(&f.path).unwrap().unwrap();
        assert_eq!((row.state, row.reason), (FileState::Pending, None));
    }

    #[test]
    fn a_row_that_changed_state_meanwhile_is_left_alone() {
        let (_d, mut db) = temp_db();
        db.upsert_scanned(&scanned_jpeg("/cam/a.jpg", 10)).unwrap();
        let rows = db.unwatched_candidates().unwrap();
        db.claim_next().unwrap().unwrap();
        assert_eq!(
            db.skip_unwatched(&[(rows[0].clone(), "x".into())]).unwrap(),
            0
        );
    }
}
