//! Set-up shared by the store's unit tests.

use std::path::PathBuf;

use super::{CreateOutcome, Db, ScannedFile};

/// A database in a fresh temporary folder (kept alive by the returned guard).
pub(crate) fn temp_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("db")).unwrap();
    (dir, db)
}

/// What a scan reports for a JPEG at `path` of `size` bytes (inode 7, mtime 4).
pub(crate) fn scanned_jpeg(path: &str, size: u64) -> ScannedFile {
    ScannedFile {
        path: PathBuf::from(path),
        watch_index: 1,
        album_title: None,
        size,
        mtime_ns: 4,
        inode: 7,
        verdict: Ok("image/jpeg".into()),
    }
}

/// Claims the next queued file, records its upload (content `hash`) and its creation as
/// `media_item_id`: the file is done. Returns its id.
pub(crate) fn upload_next_as(db: &mut Db, hash: &[u8], media_item_id: &str) -> i64 {
    let job = db.claim_next().unwrap().expect("a queued file");
    db.set_uploaded(job.id, "token", hash).unwrap();
    let (_, items) = db.take_batch(50, 1, 3600).unwrap().unwrap();
    db.record_create_outcomes(&[(
        items[0].id,
        CreateOutcome::Created {
            media_item_id: media_item_id.into(),
            product_url: Some(format!("https://photos.example/{media_item_id}")),
        },
    )])
    .unwrap();
    job.id
}
