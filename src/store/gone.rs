//! Files that left the watched folders after they reached an end state (see
//! `migrations/0003_gone.sql`). Deciding that a file is gone takes a look at the disk,
//! which is the watcher's business; the store only answers which rows could be gone and
//! records the verdict.

use std::path::{Path, PathBuf};

use rusqlite::params;

use super::files::{path_bytes, path_from_bytes};
use super::{Db, StoreError, unix_now};

/// The byte range of paths strictly below `dir`: `[dir/, dir0)`, as `0` follows `/`.
fn below(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut low = path_bytes(dir).to_vec();
    if low.last() != Some(&b'/') {
        low.push(b'/');
    }
    let mut high = low.clone();
    *high.last_mut().expect("not empty") = b'0';
    (low, high)
}

impl Db {
    /// Rows at `path` or below it that are not marked gone.
    pub fn live_rows_under(&self, path: &Path) -> Result<u64, StoreError> {
        let (low, high) = below(path);
        Ok(self.conn.query_row(
            "SELECT count(*) FROM files WHERE gone_at IS NULL \
             AND (path = ?1 OR (path >= ?2 AND path < ?3))",
            params![path_bytes(path), low, high],
            |r| r.get(0),
        )?)
    }

    /// Rows at `path` or below it in an end state (done, skipped, failed) and not marked
    /// gone: the ones that may be marked when their file is missing.
    pub fn settled_rows_under(&self, path: &Path) -> Result<Vec<(i64, PathBuf)>, StoreError> {
        let (low, high) = below(path);
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, path FROM files WHERE gone_at IS NULL \
             AND state IN ('done', 'skipped', 'failed') \
             AND (path = ?1 OR (path >= ?2 AND path < ?3)) ORDER BY path",
        )?;
        let rows = stmt.query_map(params![path_bytes(path), low, high], |r| {
            Ok((r.get(0)?, path_from_bytes(&r.get::<_, Vec<u8>>(1)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks rows gone (only those still in an end state). Returns how many changed.
    pub fn mark_gone(&mut self, ids: &[i64]) -> Result<usize, StoreError> {
        let now = unix_now();
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE files SET gone_at = ?2 WHERE id = ?1 AND gone_at IS NULL \
                 AND state IN ('done', 'skipped', 'failed')",
            )?;
            for id in ids {
                n += stmt.execute(params![id, now])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{scanned_jpeg, temp_db};
    use crate::store::{FileState, ScannedFile};

    fn scanned(db: &mut Db, path: &str, verdict: Result<String, String>) -> i64 {
        db.upsert_scanned(&ScannedFile {
            verdict,
            ..scanned_jpeg(path, 3)
        })
        .unwrap();
        db.file_by_path(Path::new(path)).unwrap().unwrap().id
    }

    #[test]
    fn ranges_hold_exactly_the_paths_below() {
        let (_dir, mut db) = temp_db();
        let not_media = || Err("not a photo or video".to_owned());
        for p in [
            "/cam/a.txt",
            "/cam/d/b.txt",
            "/cam.bak/c.txt",
            "/cam-2/d.txt",
            "/camera/e.txt",
        ] {
            scanned(&mut db, p, not_media());
        }
        let pending = scanned(&mut db, "/cam/p.jpg", Ok("image/jpeg".into()));
        assert_eq!(db.live_rows_under(Path::new("/cam")).unwrap(), 3);
        let settled = db.settled_rows_under(Path::new("/cam")).unwrap();
        let paths: Vec<&str> = settled.iter().map(|(_, p)| p.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            ["/cam/a.txt", "/cam/d/b.txt"],
            "pending rows are not settled"
        );
        assert_eq!(
            db.settled_rows_under(Path::new("/cam/a.txt"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(db.live_rows_under(Path::new("/")).unwrap(), 6);

        let ids: Vec<i64> = settled.iter().map(|(id, _)| *id).collect();
        assert_eq!(db.mark_gone(&[ids[0], ids[1], pending]).unwrap(), 2);
        assert_eq!(db.live_rows_under(Path::new("/cam")).unwrap(), 1);
        let counts = db.counts().unwrap();
        assert_eq!((counts.skipped, counts.gone, counts.pending), (3, 0, 1));
        let row = db.file_by_path(Path::new("/cam/a.txt")).unwrap().unwrap();
        assert_eq!(row.state, FileState::Skipped);
        assert!(row.gone_at.is_some());

        // The same file back at its path is live again.
        scanned(&mut db, "/cam/a.txt", not_media());
        assert!(
            db.file_by_path(Path::new("/cam/a.txt"))
                .unwrap()
                .unwrap()
                .gone_at
                .is_none()
        );
        assert_eq!(db.live_rows_under(Path::new("/cam")).unwrap(), 2);
    }
}
