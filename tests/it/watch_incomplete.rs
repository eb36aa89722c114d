//! Files whose own structure says bytes are missing: never uploaded half-copied, however
//! long the writer pauses, unless they stay unchanged for `incomplete_wait`.

use std::fs::File;
use std::io::Write;
use std::time::{Duration, SystemTime};

use crate::helpers::*;
use crate::watch::{wait_done, wait_watching, write_chunks, write_watch_config};

/// Asserts that Google Photos holds exactly one item, with the bytes of `path` now.
fn assert_one_item_of(setup: &Setup, path: &std::path::Path) {
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 1, "{:?}", state.items);
    assert_eq!(state.items[0].sha256, sha256_hex(path), "the final content");
    assert!(state.violations.is_empty(), "{:?}", state.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_uploads_a_png_written_in_slow_pieces_once_and_complete() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "watch_mode = \"poll\"", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "poll").await;

    // Pauses longer than settle and than several polls, the file open all along: polling
    // cannot see the open writer, only the PNG's missing end can tell.
    let path = setup.camera.join("IMG_0003.PNG");
    let bytes = std::fs::read(fixture("IMG_0003.PNG")).unwrap();
    let p = path.clone();
    tokio::task::spawn_blocking(move || {
        let mut f = File::create(&p).unwrap();
        write_chunks(&mut f, &bytes, 5, Duration::from_millis(1500));
    })
    .await
    .unwrap();

    wait_done(&setup, std::slice::from_ref(&path)).await;
    assert_one_item_of(&setup, &path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_closes_pauses_and_appends_gives_one_complete_upload() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;

    let path = setup.camera.join("GX010001.MP4");
    let bytes = std::fs::read(fixture("GX010001.MP4")).unwrap();
    let p = path.clone();
    tokio::task::spawn_blocking(move || {
        let (first, rest) = bytes.split_at(bytes.len() / 2);
        std::fs::write(&p, first).unwrap();
        std::thread::sleep(Duration::from_secs(2)); // closed, quiet longer than settle
        let mut f = File::options().append(true).open(&p).unwrap();
        f.write_all(rest).unwrap();
    })
    .await
    .unwrap();

    wait_done(&setup, std::slice::from_ref(&path)).await;
    assert_one_item_of(&setup, &path);
    assert_eq!(
        setup.emu.state().requests.get("raw_upload").copied(),
        Some(1),
        "uploaded once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_video_left_unchanged_for_incomplete_wait_is_uploaded_as_it_is() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "incomplete_wait = \"6s\"", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;

    let path = setup.camera.join("MVI_0006.MOV");
    let bytes = std::fs::read(fixture("MVI_0006.MOV")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let written = std::time::Instant::now();

    // While it is held, status says why.
    let out = setup.command("status").arg(&path).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if written.elapsed() < Duration::from_secs(5) {
        assert!(text.contains("looks incomplete"), "{text}");
        assert!(text.contains("unchanged for 6s"), "{text}");
    }

    wait_done(&setup, std::slice::from_ref(&path)).await;
    assert!(
        written.elapsed() >= Duration::from_secs(5),
        "held until incomplete_wait passed"
    );
    assert_one_item_of(&setup, &path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_leaves_a_recent_incomplete_file_for_the_next_run_and_says_so() {
    let setup = Setup::new().await;
    let ok = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    let path = setup.camera.join("GX010001.MP4");
    let bytes = std::fs::read(fixture("GX010001.MP4")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let run = setup.sync().await;
    run.expect_code(1);
    assert!(run.stderr.contains("not finished: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("GX010001.MP4 looks incomplete"),
        "{}",
        run.stderr
    );
    assert_eq!(setup.emu.state().items.len(), 1, "only the complete file");
    assert!(setup.db().file_by_path(&path).unwrap().is_none());
    assert_eq!(setup.row(&ok[0]).state, gphotosd::store::FileState::Done);

    // Unchanged for longer than incomplete_wait (15m by default): uploaded as it is.
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 2);
    assert!(state.items.iter().any(|i| i.sha256 == sha256_hex(&path)));
}
