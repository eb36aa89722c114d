//! What `gphotosd verify` reads, and the one transition it makes: the files of a media item
//! that is gone from Google Photos go back to the queue.
//!
//! Several rows can share one media item: aliases (`alias_of`, a copy found before upload)
//! and copies that were uploaded side by side (Google resolved identical bytes to one item).
//! They are requeued together, in one transaction: a row left `done` with the dead id would
//! make the next copy of those bytes an alias of nothing.

use std::path::{Path, PathBuf};

use rusqlite::{TransactionBehavior, params};

use super::files::{FileRow, ROW_COLUMNS, file_row, path_from_bytes};
use super::{Db, StoreError, unix_now};

/// What [`Db::requeue_missing_item`] did with one file of the missing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requeued {
    /// Back to `pending`: the daemon (or the next `sync`) uploads it again.
    Queued,
    /// The file is no longer at its path (deleted or moved after upload): marked skipped,
    /// with the reason, instead of claiming it is in Google Photos.
    NotOnDisk,
    /// A file of this item still has its after-upload action due (it was done moments
    /// ago): the daemon may be deleting or moving it right now, so nothing was changed.
    ActionPending,
}

/// Reason recorded on a requeued row.
const REQUEUED_REASON: &str = "its media item was missing from Google Photos (deleted in the \
     app?) when `gphotosd verify` checked; uploading it again";
/// Reason recorded on a row whose file is gone too.
const GONE_REASON: &str = "its media item was missing from Google Photos when `gphotosd \
     verify` checked, and the file is no longer here to upload again";

impl Db {
    /// Every done file, in id order: what `verify` checks by default.
    pub fn done_files(&self) -> Result<Vec<FileRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ROW_COLUMNS} FROM files WHERE state = 'done' ORDER BY id"
        ))?;
        let rows = stmt.query_map([], file_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Puts every file recorded `done` with `media_item_id` back in the queue, in one
    /// transaction, with a fresh attempt count; album, after-upload action and content hash
    /// stay, so the new item lands in the same album. `on_disk` says whether a path still
    /// holds a file to upload. Rows that changed meanwhile (a daemon re-queued or re-uploaded
    /// them) are left alone: the update only applies to rows still done with that id.
    pub fn requeue_missing_item(
        &mut self,
        media_item_id: &str,
        on_disk: impl Fn(&Path) -> bool,
    ) -> Result<Vec<(PathBuf, Requeued)>, StoreError> {
        let now = unix_now();
        // IMMEDIATE: the rows are read and then written; a daemon writing meanwhile must
        // wait for us (busy timeout), not invalidate what we read.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(i64, PathBuf, bool)> = {
            let mut stmt = tx.prepare(
                "SELECT id, path, after_upload IS NOT NULL FROM files \
                 WHERE state = 'done' AND media_item_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([media_item_id], |r| {
                Ok((
                    r.get(0)?,
                    path_from_bytes(&r.get::<_, Vec<u8>>(1)?),
                    r.get(2)?,
                ))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        if rows.iter().any(|(_, _, action_due)| *action_due) {
            return Ok(rows
                .into_iter()
                .map(|(_, path, _)| (path, Requeued::ActionPending))
                .collect());
        }
        let mut outcome = Vec::with_capacity(rows.len());
        for (id, path, _) in rows {
            if on_disk(&path) {
                tx.execute(
                    "UPDATE files SET state = 'pending', reason = ?2, attempts = 0, \
                     next_attempt_at = NULL, media_item_id = NULL, product_url = NULL, \
                     alias_of = NULL, upload_token = NULL, upload_token_at = NULL, \
                     session_url = NULL, session_granularity = NULL, bytes_sent = 0, \
                     gone_at = NULL, updated_at = ?3 \
                     WHERE id = ?1 AND state = 'done' AND media_item_id = ?4",
                    params![id, REQUEUED_REASON, now, media_item_id],
                )?;
                outcome.push((path, Requeued::Queued));
            } else {
                // mtime -1 matches no file: should the file come back at this path, the
                // next scan sees a change and queues it, instead of "unchanged, skipped".
                tx.execute(
                    "UPDATE files SET state = 'skipped', reason = ?2, media_item_id = NULL, \
                     product_url = NULL, alias_of = NULL, mtime_ns = -1, \
                     gone_at = ifnull(gone_at, ?3), updated_at = ?3 \
                     WHERE id = ?1 AND state = 'done' AND media_item_id = ?4",
                    params![id, GONE_REASON, now, media_item_id],
                )?;
                outcome.push((path, Requeued::NotOnDisk));
            }
        }
        tx.commit()?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::upload_next_as;
    use crate::store::{FileState, ScannedFile};

    fn scanned(db: &mut Db, path: &str, size: u64) {
        db.upsert_scanned(&ScannedFile {
            path: path.into(),
            watch_index: 1,
            album_title: Some("Trip".into()),
            size,
            mtime_ns: 4,
            inode: size,
            verdict: Ok("image/jpeg".into()),
        })
        .unwrap();
    }

    /// `/a.jpg` created as item `m`, `/b.jpg` an alias of it, `/c.jpg` another item.
    fn library(db: &mut Db) {
        scanned(db, "/a.jpg", 3);
        scanned(db, "/b.jpg", 3);
        scanned(db, "/c.jpg", 5);
        upload_next_as(db, b"hash-a", "m");
        let b = db.claim_next().unwrap().unwrap();
        assert!(db.mark_alias_if_known(b.id, b"hash-a").unwrap());
        upload_next_as(db, b"hash-c", "n");
    }

    fn row(db: &Db, path: &str) -> FileRow {
        db.file_by_path(Path::new(path)).unwrap().unwrap()
    }

    #[test]
    fn every_file_of_a_missing_item_is_queued_again_with_its_album() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        library(&mut db);
        assert_eq!(db.done_files().unwrap().len(), 3);

        let outcome = db.requeue_missing_item("m", |_| true).unwrap();
        assert_eq!(
            outcome,
            vec![
                (PathBuf::from("/a.jpg"), Requeued::Queued),
                (PathBuf::from("/b.jpg"), Requeued::Queued)
            ]
        );
        for path in ["/a.jpg", "/b.jpg"] {
            let r = row(&db, path);
            assert_eq!(r.state, FileState::Pending, "{path}");
            assert_eq!(r.media_item_id, None);
            assert_eq!(r.product_url, None);
            assert_eq!(r.alias_of, None, "no alias of a dead item");
            assert_eq!(r.attempts, 0);
            assert_eq!(r.album_title.as_deref(), Some("Trip"));
            assert!(r.reason.unwrap().contains("gphotosd verify"));
        }
        assert_eq!(
            row(&db, "/c.jpg").state,
            FileState::Done,
            "other items stay"
        );
        // Nothing done holds the dead id any more, so no later copy can alias it.
        let c = db.claim_next().unwrap().unwrap();
        assert!(!db.mark_alias_if_known(c.id, b"hash-a").unwrap());
        assert!(db.requeue_missing_item("m", |_| true).unwrap().is_empty());
    }

    #[test]
    fn a_file_gone_from_disk_is_skipped_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        library(&mut db);
        let outcome = db
            .requeue_missing_item("m", |p| p != Path::new("/a.jpg"))
            .unwrap();
        assert_eq!(outcome[0], (PathBuf::from("/a.jpg"), Requeued::NotOnDisk));
        assert_eq!(outcome[1], (PathBuf::from("/b.jpg"), Requeued::Queued));
        let a = row(&db, "/a.jpg");
        assert_eq!(a.state, FileState::Skipped);
        assert_eq!(a.media_item_id, None);
        assert!(a.reason.unwrap().contains("no longer here"));
        // Should the file come back with its old identity, a scan looks at it again.
        assert!(!db.is_unchanged(Path::new("/a.jpg"), 3, 4, 3).unwrap());
    }

    #[test]
    fn nothing_changes_while_an_after_upload_action_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        library(&mut db);
        db.set_after_upload(Path::new("/b.jpg"), Some("delete"))
            .unwrap();
        let before = db.done_files().unwrap();
        let outcome = db.requeue_missing_item("m", |_| true).unwrap();
        assert!(
            outcome.iter().all(|(_, r)| *r == Requeued::ActionPending),
            "{outcome:?}"
        );
        let after = db.done_files().unwrap();
        assert_eq!(
            format!("{before:?}"),
            format!("{after:?}"),
            "no row touched"
        );
    }
}
