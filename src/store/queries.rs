//! Reads of file rows: counts for status and sync, single rows for `status PATH`, and
//! re-queueing failed files for `retry`.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::files::{Counts, FileRow, FileState, ROW_COLUMNS, file_row, path_bytes};
use super::{Db, StoreError, unix_now};

impl Db {
    /// Files per state.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, gone_at IS NOT NULL, count(*) FROM files GROUP BY 1, 2",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, u64>(2)?,
            ))
        })?;
        for row in rows {
            let (state, gone, n) = row?;
            let state = FileState::parse(&state);
            if gone {
                // Skipped and failed files that left are simply history.
                if state == FileState::Done {
                    counts.gone += n;
                }
                continue;
            }
            let slot = match state {
                FileState::Pending => &mut counts.pending,
                FileState::Uploading => &mut counts.uploading,
                FileState::Uploaded => &mut counts.uploaded,
                FileState::Creating => &mut counts.creating,
                FileState::Done => &mut counts.done,
                FileState::Skipped => &mut counts.skipped,
                FileState::Failed => &mut counts.failed,
                FileState::Waiting => &mut counts.waiting,
            };
            *slot += n;
        }
        Ok(counts)
    }

    /// When the earliest waiting file is due, if any waits.
    pub fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(next_attempt_at) FROM files WHERE state = 'waiting'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The row of one path.
    pub fn file_by_path(&self, path: &Path) -> Result<Option<FileRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ROW_COLUMNS} FROM files WHERE path = ?1"),
                [path_bytes(path)],
                file_row,
            )
            .optional()?)
    }

    /// Rows in one state whose file is still there, latest change first, at most `limit`.
    pub fn files_in_state(
        &self,
        state: FileState,
        limit: usize,
    ) -> Result<Vec<FileRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM files WHERE state = ?1 AND gone_at IS NULL \
             ORDER BY updated_at DESC, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![state.as_str(), limit], file_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every row (tests and small trees only).
    pub fn all_files(&self) -> Result<Vec<FileRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {ROW_COLUMNS} FROM files ORDER BY id"))?;
        let rows = stmt.query_map([], file_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Puts failed files (all, or those at `paths`) back in the queue with a fresh attempt
    /// count. Returns how many were re-queued.
    pub fn retry_failed(&mut self, paths: Option<&[PathBuf]>) -> Result<usize, StoreError> {
        let now = unix_now();
        let reset = "UPDATE files SET state = 'pending', reason = NULL, attempts = 0, \
                     next_attempt_at = NULL, updated_at = ?1 \
                     WHERE state = 'failed' AND gone_at IS NULL";
        match paths {
            None => Ok(self.conn.execute(reset, [now])?),
            Some(paths) => {
                let tx = self.conn.transaction()?;
                let mut n = 0;
                for p in paths {
                    n += tx.execute(
                        &format!("{reset} AND path = ?2"),
                        params![now, path_bytes(p)],
                    )?;
                }
                tx.commit()?;
                Ok(n)
            }
        }
    }
}
