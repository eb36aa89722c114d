//! Handing uploaded files to the creator and recording what batchCreate answered.

use rusqlite::{OptionalExtension, params};

use super::files::{Batch, CreateOutcome, UploadedItem, expire_old_tokens, path_from_bytes};
use super::{Db, StoreError, unix_now};

impl Db {
    /// Takes up to `limit` uploaded files for one album (the oldest album first) and marks
    /// them `creating` in the same transaction; `None` when fewer than `at_least` wait for
    /// that album. Tokens too old to use go back to pending.
    pub fn take_batch(
        &mut self,
        limit: usize,
        at_least: usize,
        token_max_age_secs: i64,
    ) -> Result<Option<Batch>, StoreError> {
        let now = unix_now();
        let tx = self.conn.transaction()?;
        expire_old_tokens(&tx, now, token_max_age_secs)?;
        let album: Option<Option<String>> = tx
            .query_row(
                "SELECT album_title FROM files WHERE state = 'uploaded' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(album) = album else {
            return Ok(None);
        };
        let waiting: usize = tx.query_row(
            "SELECT count(*) FROM files WHERE state = 'uploaded' AND album_title IS ?1",
            [&album],
            |r| r.get(0),
        )?;
        if waiting < at_least.max(1) {
            return Ok(None);
        }
        let items = {
            let mut stmt = tx.prepare(
                "UPDATE files SET state = 'creating', updated_at = ?3 WHERE id IN ( \
                   SELECT id FROM files WHERE state = 'uploaded' AND album_title IS ?1 \
                   ORDER BY id LIMIT ?2) \
                 RETURNING id, path, upload_token, attempts",
            )?;
            let rows = stmt.query_map(params![album, limit, now], |r| {
                Ok(UploadedItem {
                    id: r.get(0)?,
                    path: path_from_bytes(&r.get::<_, Vec<u8>>(1)?),
                    upload_token: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    attempts: r.get(3)?,
                })
            })?;
            let mut items = rows.collect::<Result<Vec<_>, _>>()?;
            items.sort_by_key(|i| i.id);
            items
        };
        tx.commit()?;
        Ok(Some((album, items)))
    }

    /// Ends a batchCreate call: every outcome in one transaction.
    pub fn record_create_outcomes(
        &mut self,
        outcomes: &[(i64, CreateOutcome)],
    ) -> Result<(), StoreError> {
        let now = unix_now();
        let tx = self.conn.transaction()?;
        for (id, outcome) in outcomes {
            match outcome {
                CreateOutcome::Created {
                    media_item_id,
                    product_url,
                } => tx.execute(
                    "UPDATE files SET state = 'done', media_item_id = ?2, product_url = ?3, \
                     reason = NULL, upload_token = NULL, next_attempt_at = NULL, \
                     updated_at = ?4 WHERE id = ?1",
                    params![id, media_item_id, product_url, now],
                )?,
                CreateOutcome::Failed { reason } => tx.execute(
                    "UPDATE files SET state = 'failed', reason = ?2, upload_token = NULL, \
                     attempts = attempts + 1, updated_at = ?3 WHERE id = ?1",
                    params![id, reason, now],
                )?,
                CreateOutcome::Retry {
                    reason,
                    next_attempt_at,
                } => tx.execute(
                    "UPDATE files SET state = 'waiting', reason = ?2, next_attempt_at = ?3, \
                     upload_token = NULL, upload_token_at = NULL, attempts = attempts + 1, \
                     updated_at = ?4 WHERE id = ?1",
                    params![id, reason, next_attempt_at, now],
                )?,
            };
        }
        tx.commit()?;
        Ok(())
    }

    /// Puts `creating` rows back to `uploaded` (the call was not sent: pause or shutdown).
    pub fn unclaim_batch(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.execute(
                "UPDATE files SET state = 'uploaded' WHERE id = ?1 AND state = 'creating'",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
