//! Unit tests of the file-row transitions.
use super::*;
use crate::store::test_support::upload_next_as;

fn scanned(path: &str, size: u64, mtime: i64) -> ScannedFile {
    ScannedFile {
        path: PathBuf::from(path),
        watch_index: 1,
        album_title: None,
        size,
        mtime_ns: mtime,
        inode: 7,
        verdict: Ok("image/jpeg".into()),
    }
}

fn db() -> (tempfile::TempDir, Db) {
    crate::store::test_support::temp_db()
}

#[test]
fn a_rescan_of_unchanged_files_changes_nothing() {
    let (_d, mut db) = db();
    assert_eq!(
        db.upsert_scanned(&scanned("/a.jpg", 10, 1)).unwrap(),
        ScanOutcome::New
    );
    assert_eq!(
        db.upsert_scanned(&scanned("/a.jpg", 10, 1)).unwrap(),
        ScanOutcome::Unchanged
    );
    assert_eq!(db.counts().unwrap().pending, 1);
}

#[test]
fn non_utf8_paths_round_trip_as_bytes() {
    let (_d, mut db) = db();
    let path = path_from_bytes(b"/cam/\xff\xfe.jpg");
    let mut f = scanned("/x", 1, 1);
    f.path = path.clone();
    db.upsert_scanned(&f).unwrap();
    let job = db.claim_next().unwrap().unwrap();
    assert_eq!(job.path, path);
}

#[test]
fn changed_content_at_a_done_path_is_a_new_upload() {
    let (_d, mut db) = db();
    db.upsert_scanned(&scanned("/a.jpg", 10, 1)).unwrap();
    let job = db.claim_next().unwrap().unwrap();
    db.set_uploaded(job.id, "tok", b"h").unwrap();
    let (_, items) = db.take_batch(50, 1, 3600).unwrap().unwrap();
    db.record_create_outcomes(&[(
        items[0].id,
        CreateOutcome::Created {
            media_item_id: "m1".into(),
            product_url: None,
        },
    )])
    .unwrap();
    assert_eq!(
        db.upsert_scanned(&scanned("/a.jpg", 11, 2)).unwrap(),
        ScanOutcome::Changed
    );
    let row = db.file_by_path(Path::new("/a.jpg")).unwrap().unwrap();
    assert_eq!(row.state, FileState::Pending);
    assert_eq!(row.media_item_id, None);
}

#[test]
fn restart_recovery_follows_the_crash_table() {
    let (_d, mut db) = db();
    for p in ["/up.mp4", "/cr.jpg", "/old.jpg"] {
        db.upsert_scanned(&scanned(p, 10, 1)).unwrap();
    }
    let up = db.claim_next().unwrap().unwrap();
    db.set_session(up.id, "http://s/1", 256).unwrap();
    let cr = db.claim_next().unwrap().unwrap();
    db.set_uploaded(cr.id, "tok", b"h").unwrap();
    db.take_batch(50, 1, 3600).unwrap().unwrap();
    let old = db.claim_next().unwrap().unwrap();
    db.set_uploaded(old.id, "tok2", b"h2").unwrap();
    db.conn
        .execute(
            "UPDATE files SET upload_token_at = 0 WHERE id = ?1",
            [old.id],
        )
        .unwrap();

    assert_eq!(db.recover_after_restart(3600).unwrap(), 3);
    let counts = db.counts().unwrap();
    assert_eq!(counts.pending, 3);
    // The interrupted session is offered first, with its URL, to be queried.
    let first = db.claim_next().unwrap().unwrap();
    assert_eq!(first.id, up.id);
    assert_eq!(first.session_url.as_deref(), Some("http://s/1"));
    let second = db.claim_next().unwrap().unwrap();
    assert_eq!(second.session_url, None);
}

#[test]
fn a_known_content_hash_makes_an_alias_instead_of_an_upload() {
    let (_d, mut db) = db();
    db.upsert_scanned(&scanned("/a.jpg", 10, 1)).unwrap();
    db.upsert_scanned(&scanned("/b.jpg", 10, 1)).unwrap();
    let a = upload_next_as(&mut db, b"same", "m1");
    let b = db.claim_next().unwrap().unwrap();
    assert!(db.done_file_with_size_exists(b.id, 10).unwrap());
    assert!(!db.mark_alias_if_known(b.id, b"other").unwrap());
    assert!(db.mark_alias_if_known(b.id, b"same").unwrap());
    let row = db.file_by_path(Path::new("/b.jpg")).unwrap().unwrap();
    assert_eq!(row.media_item_id.as_deref(), Some("m1"));
    assert_eq!(row.alias_of, Some(a));
}

#[test]
fn batches_hold_one_album_and_respect_the_limit() {
    let (_d, mut db) = db();
    for i in 0..5 {
        let mut f = scanned(&format!("/{i}.jpg"), 10, 1);
        f.album_title = (i % 2 == 0).then(|| "Trip".to_owned());
        db.upsert_scanned(&f).unwrap();
        let job = db.claim_next().unwrap().unwrap();
        db.set_uploaded(job.id, &format!("t{i}"), b"h").unwrap();
    }
    let (album, items) = db.take_batch(2, 1, 3600).unwrap().unwrap();
    assert_eq!(album.as_deref(), Some("Trip"));
    assert_eq!(items.len(), 2);
    // The oldest waiting file decides which album goes next.
    let (album, items) = db.take_batch(50, 1, 3600).unwrap().unwrap();
    assert_eq!(album, None);
    assert_eq!(items.len(), 2);
    let (album, items) = db.take_batch(50, 1, 3600).unwrap().unwrap();
    assert_eq!(album.as_deref(), Some("Trip"));
    assert_eq!(items.len(), 1);
    assert!(db.take_batch(50, 1, 3600).unwrap().is_none());
}

#[test]
fn an_attempt_that_moved_the_server_offset_is_not_counted() {
    let (_d, mut db) = db();
    db.upsert_scanned(&scanned("/v.mp4", 100 << 20, 1)).unwrap();
    let job = db.claim_next().unwrap().unwrap();
    db.set_session(job.id, "http://s/1", 256).unwrap();
    db.set_progress(job.id, 30 << 20).unwrap();
    db.set_waiting(job.id, "cut", 0).unwrap();
    db.claim_next().unwrap().unwrap();
    db.set_resumed(job.id, 0).unwrap();
    db.set_waiting(job.id, "cut again", 0).unwrap();
    let row = db.file_by_path(Path::new("/v.mp4")).unwrap().unwrap();
    assert_eq!(row.attempts, 2, "attempts that got nowhere count");

    // The next query finds the server further than when the last attempt started.
    let again = db.claim_next().unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    let row = db.file_by_path(Path::new("/v.mp4")).unwrap().unwrap();
    assert_eq!(
        (row.start_offset, row.bytes_sent),
        (0, 0),
        "until the query, only what the server confirmed"
    );
    db.set_resumed(job.id, 12 << 20).unwrap();
    let row = db.file_by_path(Path::new("/v.mp4")).unwrap().unwrap();
    assert_eq!(row.attempts, 0, "the progressing attempt is forgiven");
    assert_eq!(row.start_offset, 12 << 20);

    // Resuming at the same offset again forgives nothing.
    db.set_waiting(job.id, "stalled", 0).unwrap();
    db.claim_next().unwrap().unwrap();
    db.set_resumed(job.id, 12 << 20).unwrap();
    let row = db.file_by_path(Path::new("/v.mp4")).unwrap().unwrap();
    assert_eq!(row.attempts, 1);

    // The attempt that would give up, found to have progressed, resets the count.
    db.set_waiting_after_progress(job.id, "stalled", 0, 20 << 20)
        .unwrap();
    let row = db.file_by_path(Path::new("/v.mp4")).unwrap().unwrap();
    assert_eq!(row.state, FileState::Waiting);
    assert_eq!((row.attempts, row.start_offset), (0, 20 << 20));
}
