//! File rows and their state transitions (DESIGN §3).
//!
//! `pending → uploading → uploaded → creating → done`, with `waiting` for transient errors,
//! `failed` and `skipped` as ends. A `pending` row that still has a `session_url` is an
//! interrupted resumable upload: the worker asks Google where it stands before sending.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Row, params};

use super::unwatched::UNWATCHED_PREFIX;
use super::{Db, StoreError, unix_now};

/// How the reason of an unreadable file starts. Such a file is failed, and looked at again
/// on every scan (permissions get fixed without the file's size or mtime changing), unlike
/// skips, which stand until the content changes.
pub const UNREADABLE_PREFIX: &str = "cannot read the file";

/// Whether a row's end state stands only until a scan finds its file again (`?2`:
/// [`UNREADABLE_PREFIX`], `?3`: [`UNWATCHED_PREFIX`]): an unreadable file may have been
/// made readable, and a file taken out of the queue because the configuration no longer
/// watched it is watched again if a scan finds it. Both are then recorded as new content.
const LOOK_AGAIN: &str = "((state IN ('skipped', 'failed') \
     AND ifnull(substr(reason, 1, length(?2)) = ?2, 0)) \
     OR (state = 'skipped' AND ifnull(substr(reason, 1, length(?3)) = ?3, 0)))";

/// A file's place in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    Pending,
    Uploading,
    Uploaded,
    Creating,
    Done,
    Skipped,
    Failed,
    Waiting,
}

impl FileState {
    /// Every state, in pipeline order.
    pub const ALL: [FileState; 8] = [
        FileState::Pending,
        FileState::Uploading,
        FileState::Uploaded,
        FileState::Creating,
        FileState::Done,
        FileState::Failed,
        FileState::Skipped,
        FileState::Waiting,
    ];

    /// The name stored in the database and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Pending => "pending",
            FileState::Uploading => "uploading",
            FileState::Uploaded => "uploaded",
            FileState::Creating => "creating",
            FileState::Done => "done",
            FileState::Skipped => "skipped",
            FileState::Failed => "failed",
            FileState::Waiting => "waiting",
        }
    }

    pub(super) fn parse(s: &str) -> FileState {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .unwrap_or(FileState::Failed)
    }
}

/// What a scan learned about one path.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    pub path: PathBuf,
    pub watch_index: usize,
    pub album_title: Option<String>,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    /// `Ok(mime type)` to upload, `Err(reason)` to skip.
    pub verdict: Result<String, String>,
}

/// What [`Db::upsert_scanned`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutcome {
    /// A path never seen before, now queued or skipped.
    New,
    /// Size, mtime and inode are as recorded: nothing to do, nothing re-read.
    Unchanged,
    /// The content changed: queued again as a new upload (or skipped).
    Changed,
    /// The row is being uploaded or created right now; its worker notices changes itself.
    InFlight,
}

/// A claimed upload job: everything a worker needs, copied out of the row.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    pub mime_type: String,
    pub attempts: u32,
    pub content_hash: Option<Vec<u8>>,
    /// An interrupted resumable session to ask about before sending anything.
    pub session_url: Option<String>,
    pub session_granularity: Option<u64>,
}

/// An uploaded file waiting for batchCreate.
#[derive(Debug, Clone)]
pub struct UploadedItem {
    pub id: i64,
    pub path: PathBuf,
    pub upload_token: String,
    pub attempts: u32,
}

/// Uploaded files for one album (`None`: the library only), marked `creating`.
pub type Batch = (Option<String>, Vec<UploadedItem>);

/// The result of creating one media item.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    Created {
        media_item_id: String,
        product_url: Option<String>,
    },
    /// Permanently refused (for example BAD_IMAGE): never retried by itself.
    Failed { reason: String },
    /// Transient: upload again after `next_attempt_at`.
    Retry {
        reason: String,
        next_attempt_at: i64,
    },
}

/// Number of files per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub pending: u64,
    pub uploading: u64,
    pub uploaded: u64,
    pub creating: u64,
    pub done: u64,
    pub failed: u64,
    pub skipped: u64,
    pub waiting: u64,
    /// Files uploaded, then moved away or deleted (by the user or `after_upload`): their
    /// content is in Google Photos, but they are no longer where they were found. Not part
    /// of `done`, so moving a file within the folders does not count it twice.
    pub gone: u64,
}

impl Counts {
    /// Files that still need work (everything but the three end states).
    pub fn unfinished(&self) -> u64 {
        self.pending + self.uploading + self.uploaded + self.creating + self.waiting
    }
}

/// A whole row, for `status PATH` and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileRow {
    pub id: i64,
    #[serde(serialize_with = "serialize_path")]
    pub path: PathBuf,
    pub state: FileState,
    pub reason: Option<String>,
    pub attempts: u32,
    pub size: u64,
    pub mime_type: Option<String>,
    pub album_title: Option<String>,
    pub bytes_sent: u64,
    pub next_attempt_at: Option<i64>,
    pub media_item_id: Option<String>,
    pub product_url: Option<String>,
    pub alias_of: Option<i64>,
    pub updated_at: i64,
    /// When the file was found missing from its path after it reached an end state.
    pub gone_at: Option<i64>,
    /// Bytes the server held when the current upload attempt started.
    pub start_offset: u64,
}

fn serialize_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

pub(crate) fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

pub(crate) fn path_from_bytes(b: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(b))
}

pub(super) const ROW_COLUMNS: &str = "id, path, state, reason, attempts, size, mime_type, album_title, \
     bytes_sent, next_attempt_at, media_item_id, product_url, alias_of, updated_at, gone_at, \
     start_offset";

pub(super) fn file_row(r: &Row<'_>) -> rusqlite::Result<FileRow> {
    let state: String = r.get(2)?;
    Ok(FileRow {
        id: r.get(0)?,
        path: path_from_bytes(&r.get::<_, Vec<u8>>(1)?),
        state: FileState::parse(&state),
        reason: r.get(3)?,
        attempts: r.get(4)?,
        size: r.get(5)?,
        mime_type: r.get(6)?,
        album_title: r.get(7)?,
        bytes_sent: r.get(8)?,
        next_attempt_at: r.get(9)?,
        media_item_id: r.get(10)?,
        product_url: r.get(11)?,
        alias_of: r.get(12)?,
        updated_at: r.get(13)?,
        gone_at: r.get(14)?,
        start_offset: r.get(15)?,
    })
}

impl Db {
    /// Records what a scan found at one path.
    pub fn upsert_scanned(&mut self, f: &ScannedFile) -> Result<ScanOutcome, StoreError> {
        let now = unix_now();
        let (state, mime, reason) = match &f.verdict {
            Ok(mime) => ("pending", Some(mime.as_str()), None),
            // Unreadable is a problem for the user to fix, not a choice: it shows as failed.
            Err(reason) if reason.starts_with(UNREADABLE_PREFIX) => {
                ("failed", None, Some(reason.as_str()))
            }
            Err(reason) => ("skipped", None, Some(reason.as_str())),
        };
        // A savepoint, so that a scan can record a whole folder in one outer transaction.
        let tx = self.conn.savepoint()?;
        let existing: Option<(String, u64, i64, u64, bool, bool)> = tx
            .query_row(
                &format!(
                    "SELECT state, size, mtime_ns, inode, {LOOK_AGAIN}, gone_at IS NOT NULL \
                     FROM files WHERE path = ?1"
                ),
                params![path_bytes(&f.path), UNREADABLE_PREFIX, UNWATCHED_PREFIX],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        let row = params![
            path_bytes(&f.path),
            f.watch_index,
            f.album_title,
            f.size,
            f.mtime_ns,
            f.inode,
            mime,
            state,
            reason,
            now
        ];
        let outcome = match existing {
            None => {
                tx.execute(
                    "INSERT INTO files (path, watch_index, album_title, size, mtime_ns, inode, \
                     mime_type, state, reason, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                    row,
                )?;
                ScanOutcome::New
            }
            Some((_, size, mtime, inode, false, gone))
                if size == f.size && mtime == f.mtime_ns && inode == f.inode =>
            {
                if gone {
                    // The very file came back (a disk remounted, a move undone).
                    tx.execute(
                        "UPDATE files SET gone_at = NULL WHERE path = ?1",
                        [path_bytes(&f.path)],
                    )?;
                }
                ScanOutcome::Unchanged
            }
            Some((current, ..)) if current == "uploading" || current == "creating" => {
                ScanOutcome::InFlight
            }
            Some(_) => {
                // New content at a known path: a new upload. Everything tied to the old
                // bytes (hash, session, token, media item) no longer describes this file.
                tx.execute(
                    "UPDATE files SET watch_index = ?2, album_title = ?3, size = ?4, \
                     mtime_ns = ?5, inode = ?6, mime_type = ?7, state = ?8, reason = ?9, \
                     attempts = 0, next_attempt_at = NULL, content_hash = NULL, \
                     session_url = NULL, session_granularity = NULL, bytes_sent = 0, \
                     upload_token = NULL, upload_token_at = NULL, media_item_id = NULL, \
                     product_url = NULL, alias_of = NULL, gone_at = NULL, updated_at = ?10 \
                     WHERE path = ?1",
                    row,
                )?;
                ScanOutcome::Changed
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Whether `path` has a row with exactly this size, mtime and inode (and is not marked
    /// gone: a file that came back is recorded again, which clears the mark).
    pub fn is_unchanged(
        &self,
        path: &Path,
        size: u64,
        mtime_ns: i64,
        inode: u64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT 1 FROM files WHERE path = ?1 AND size = ?4 AND mtime_ns = ?5 \
                 AND inode = ?6 AND gone_at IS NULL AND NOT {LOOK_AGAIN}"
            ))?
            .exists(params![
                path_bytes(path),
                UNREADABLE_PREFIX,
                UNWATCHED_PREFIX,
                size,
                mtime_ns,
                inode,
            ])?)
    }

    /// The file under a claimed job changed: record its new identity and queue it again
    /// as new content (no attempt counted; nothing sent so far belongs to the new bytes).
    pub fn requeue_changed(
        &mut self,
        id: i64,
        size: u64,
        mtime_ns: i64,
        inode: u64,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET state = 'pending', size = ?2, mtime_ns = ?3, inode = ?4, \
             reason = ?5, content_hash = NULL, session_url = NULL, session_granularity = NULL, \
             bytes_sent = 0, upload_token = NULL, upload_token_at = NULL, updated_at = ?6 \
             WHERE id = ?1",
            params![id, size, mtime_ns, inode, reason, unix_now()],
        )?;
        Ok(())
    }

    /// Puts rows that a killed process left mid-flight back where a fresh start can take
    /// them (the crash table of DESIGN §3). Returns how many rows moved.
    pub fn recover_after_restart(&mut self, token_max_age_secs: i64) -> Result<usize, StoreError> {
        let now = unix_now();
        let tx = self.conn.transaction()?;
        // The session URL stays: the worker will `query` it and resume.
        let mut moved = tx.execute(
            "UPDATE files SET state = 'pending', updated_at = ?1 WHERE state = 'uploading'",
            [now],
        )?;
        // A batchCreate whose answer was lost: upload again; identical bytes map to the
        // same media item, so nothing is created twice.
        moved += tx.execute(
            "UPDATE files SET state = 'pending', upload_token = NULL, upload_token_at = NULL, \
             session_url = NULL, session_granularity = NULL, bytes_sent = 0, updated_at = ?1 \
             WHERE state = 'creating'",
            [now],
        )?;
        moved += expire_old_tokens(&tx, now, token_max_age_secs)?;
        tx.commit()?;
        Ok(moved)
    }

    /// Claims the next file to upload, if any is due. A row with a session keeps its
    /// `start_offset`, the server's offset last confirmed, until [`Db::set_resumed`] learns
    /// the new one: comparing the two tells whether the previous attempt made progress.
    pub fn claim_next(&mut self) -> Result<Option<Job>, StoreError> {
        let now = unix_now();
        let job = self
            .conn
            .query_row(
                "UPDATE files SET state = 'uploading', \
                 start_offset = CASE WHEN session_url IS NULL THEN bytes_sent ELSE start_offset END, \
                 bytes_sent = CASE WHEN session_url IS NULL THEN bytes_sent ELSE start_offset END, \
                 updated_at = ?1 \
                 WHERE id = ( \
                   SELECT id FROM files WHERE state = 'pending' \
                      OR (state = 'waiting' AND next_attempt_at <= ?1) \
                   ORDER BY session_url IS NULL, id LIMIT 1) \
                 RETURNING id, path, size, mtime_ns, inode, mime_type, attempts, content_hash, \
                   session_url, session_granularity",
                [now],
                |r| {
                    Ok(Job {
                        id: r.get(0)?,
                        path: path_from_bytes(&r.get::<_, Vec<u8>>(1)?),
                        size: r.get(2)?,
                        mtime_ns: r.get(3)?,
                        inode: r.get(4)?,
                        mime_type: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                        attempts: r.get(6)?,
                        content_hash: r.get(7)?,
                        session_url: r.get(8)?,
                        session_granularity: r.get(9)?,
                    })
                },
            )
            .optional()?;
        Ok(job)
    }

    /// Stores a resumable session before its first byte is sent.
    pub fn set_session(&mut self, id: i64, url: &str, granularity: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET session_url = ?2, session_granularity = ?3, bytes_sent = 0, \
             start_offset = 0, updated_at = ?4 WHERE id = ?1",
            params![id, url, granularity, unix_now()],
        )?;
        Ok(())
    }

    /// The server holds `offset` bytes of the stored session: sending continues from there.
    /// When that is more than it held at the start of the previous attempt, that attempt
    /// moved the upload forward: the transient failures counted so far are forgiven, so
    /// `max_attempts` bounds attempts that get nowhere, not the length of an upload.
    pub fn set_resumed(&mut self, id: i64, offset: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET attempts = CASE WHEN ?2 > start_offset THEN 0 ELSE attempts END, \
             bytes_sent = ?2, start_offset = ?2, updated_at = ?3 \
             WHERE id = ?1 AND state = 'uploading'",
            params![id, offset, unix_now()],
        )?;
        Ok(())
    }

    /// Forgets a session that the server no longer knows or that finished without a token.
    pub fn clear_session(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET session_url = NULL, session_granularity = NULL, bytes_sent = 0, \
             updated_at = ?2 WHERE id = ?1",
            params![id, unix_now()],
        )?;
        Ok(())
    }

    /// Records upload progress for `status`.
    pub fn set_progress(&mut self, id: i64, bytes_sent: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET bytes_sent = ?2 WHERE id = ?1 AND state = 'uploading'",
            params![id, bytes_sent],
        )?;
        Ok(())
    }

    /// Stores the content hash once it is known.
    pub fn set_content_hash(&mut self, id: i64, hash: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET content_hash = ?2 WHERE id = ?1",
            params![id, hash],
        )?;
        Ok(())
    }

    /// The bytes are with Google: keep the token for the creator.
    pub fn set_uploaded(
        &mut self,
        id: i64,
        upload_token: &str,
        content_hash: &[u8],
    ) -> Result<(), StoreError> {
        let now = unix_now();
        self.conn.execute(
            "UPDATE files SET state = 'uploaded', upload_token = ?2, upload_token_at = ?3, \
             content_hash = ?4, session_url = NULL, session_granularity = NULL, \
             bytes_sent = size, reason = NULL, updated_at = ?3 WHERE id = ?1",
            params![id, upload_token, now, content_hash],
        )?;
        Ok(())
    }

    /// A transient failure: try again at `next_attempt_at`.
    pub fn set_waiting(
        &mut self,
        id: i64,
        reason: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET state = 'waiting', reason = ?2, next_attempt_at = ?3, \
             attempts = attempts + 1, updated_at = ?4 WHERE id = ?1",
            params![id, reason, next_attempt_at, unix_now()],
        )?;
        Ok(())
    }

    /// A transient failure of an attempt after which the server holds `offset` bytes, more
    /// than when the attempt started: try again at `next_attempt_at`, with the attempt count
    /// reset (the upload is progressing, not failing).
    pub fn set_waiting_after_progress(
        &mut self,
        id: i64,
        reason: &str,
        next_attempt_at: i64,
        offset: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET state = 'waiting', reason = ?2, next_attempt_at = ?3, \
             attempts = 0, bytes_sent = ?4, start_offset = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, reason, next_attempt_at, offset, unix_now()],
        )?;
        Ok(())
    }

    /// Back to the queue without counting an attempt (the pipeline paused, or the file
    /// changed under us and must be read again).
    pub fn requeue(&mut self, id: i64, reason: Option<&str>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET state = 'pending', reason = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, reason, unix_now()],
        )?;
        Ok(())
    }

    /// A permanent failure of this file.
    pub fn set_failed(&mut self, id: i64, reason: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET state = 'failed', reason = ?2, attempts = attempts + 1, \
             next_attempt_at = NULL, session_url = NULL, updated_at = ?3 WHERE id = ?1",
            params![id, reason, unix_now()],
        )?;
        Ok(())
    }

    /// Not something to upload after all (for example it vanished or is not media).
    pub fn set_skipped(&mut self, id: i64, reason: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET state = 'skipped', reason = ?2, session_url = NULL, \
             updated_at = ?3 WHERE id = ?1",
            params![id, reason, unix_now()],
        )?;
        Ok(())
    }

    /// Whether another file of this size is already done (then hashing first may save an
    /// upload; otherwise the hash is taken while streaming).
    pub fn done_file_with_size_exists(&self, id: i64, size: u64) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM files WHERE size = ?1 AND id != ?2 \
                 AND state = 'done' AND media_item_id IS NOT NULL)",
            params![size, id],
            |r| r.get(0),
        )?)
    }

    /// Marks `id` done as another name of an already created media item with this
    /// content. Returns false when no such item exists.
    pub fn mark_alias_if_known(&mut self, id: i64, hash: &[u8]) -> Result<bool, StoreError> {
        let original: Option<(i64, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT id, media_item_id, product_url FROM files WHERE content_hash = ?1 \
                 AND id != ?2 AND state = 'done' AND media_item_id IS NOT NULL \
                 ORDER BY id LIMIT 1",
                params![hash, id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((original_id, media_item_id, product_url)) = original else {
            return Ok(false);
        };
        self.conn.execute(
            "UPDATE files SET state = 'done', content_hash = ?2, alias_of = ?3, \
             media_item_id = ?4, product_url = ?5, session_url = NULL, \
             reason = 'same content as an uploaded file', updated_at = ?6 WHERE id = ?1",
            params![
                id,
                hash,
                original_id,
                media_item_id,
                product_url,
                unix_now()
            ],
        )?;
        Ok(true)
    }
}

pub(super) fn expire_old_tokens(
    tx: &rusqlite::Transaction<'_>,
    now: i64,
    token_max_age_secs: i64,
) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE files SET state = 'pending', upload_token = NULL, upload_token_at = NULL, \
         reason = 'upload token too old; uploading again', updated_at = ?1 \
         WHERE state = 'uploaded' AND upload_token_at <= ?1 - ?2",
        params![now, token_max_age_secs],
    )?)
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
