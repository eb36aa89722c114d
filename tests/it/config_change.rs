//! A configuration change takes files out of the queue: what a user excluded (or stopped
//! watching) after it was queued is never uploaded, and comes back when watched again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gphotosd::store::{FileState, UNWATCHED_PREFIX};

use crate::helpers::*;

/// Copies the fixture `name` to `to`, making its folders.
fn copy_fixture(name: &str, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(fixture(name), to).unwrap();
    to.to_owned()
}

/// Runs a sync without a token: it queues everything and pauses.
async fn queue_without_token(setup: &Setup, queued: usize) {
    std::fs::remove_file(setup.state.join("token.json")).unwrap();
    let run = setup.sync().await;
    run.expect_code(75);
    assert!(run.stderr.contains("auth_required"), "{}", run.stderr);
    assert_eq!(setup.db().counts().unwrap().pending, queued as u64);
    assert!(setup.emu.state().items.is_empty());
}

/// The names of the items in the emulator.
fn uploaded_names(setup: &Setup) -> Vec<String> {
    let mut names: Vec<_> = setup
        .emu
        .state()
        .items
        .iter()
        .map(|i| i.filename.clone())
        .collect();
    names.sort();
    names
}

async fn status_of(setup: &Setup, path: &Path) -> String {
    let out = setup.command("status").arg(path).output().await.unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_file_excluded_later_is_never_uploaded_and_comes_back_when_included() {
    let setup = Setup::new().await;
    let private = copy_fixture("IMG_0002.JPG", &setup.camera.join("Private/nude.jpg"));
    copy_fixture("GOPR0001.JPG", &setup.camera.join("ok.jpg"));
    queue_without_token(&setup, 2).await;

    setup.write_camera_config("exclude = [\"Private\"]", "");
    setup.grant_token(&[APPENDONLY, READ_APP_CREATED]);
    setup.sync().await.expect_code(0);

    assert_eq!(uploaded_names(&setup), ["ok.jpg"]);
    let bytes_received = setup.emu.state().requests.get("raw_upload").copied();
    assert_eq!(
        bytes_received,
        Some(1),
        "the excluded file was not even sent"
    );
    let row = setup.row(&private);
    assert_eq!(row.state, FileState::Skipped);
    let reason = row.reason.unwrap();
    assert!(reason.starts_with(UNWATCHED_PREFIX), "{reason}");
    assert!(
        reason.contains("watch[1].exclude pattern `Private`"),
        "{reason}"
    );
    let status = status_of(&setup, &private).await;
    assert!(status.contains("skipped"), "{status}");
    assert!(status.contains("no longer watches this file"), "{status}");

    // The exclude removed: the next sync finds the file again and uploads it.
    setup.write_config("");
    setup.sync().await.expect_code(0);
    assert_eq!(uploaded_names(&setup), ["nude.jpg", "ok.jpg"]);
    let row = setup.row(&private);
    assert_eq!(row.state, FileState::Done, "{:?}", row.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_a_removed_watch_entry_are_taken_out_of_the_queue() {
    let setup = Setup::new().await;
    let old = setup.dir.path().join("old-camera");
    setup.write_config(&format!("[[watch]]\npath = \"{}\"\n", old.display()));
    let gone = copy_fixture("IMG_0002.JPG", &old.join("a.jpg"));
    copy_fixture("GOPR0001.JPG", &setup.camera.join("b.jpg"));
    queue_without_token(&setup, 2).await;

    setup.write_config("");
    setup.grant_token(&[APPENDONLY, READ_APP_CREATED]);
    setup.sync().await.expect_code(0);

    assert_eq!(uploaded_names(&setup), ["b.jpg"]);
    let row = setup.row(&gone);
    assert_eq!(row.state, FileState::Skipped);
    let reason = row.reason.unwrap();
    assert!(reason.starts_with(UNWATCHED_PREFIX), "{reason}");
    assert!(reason.contains("not under any watched folder"), "{reason}");
    let status = status_of(&setup, &gone).await;
    assert!(status.contains("no longer watches this file"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_leaves_a_file_modified_within_settle_for_the_next_sync() {
    let setup = Setup::new().await;
    setup.write_raw_config("[scan]\nsettle = \"10m\"\n[create]\nidle = \"200ms\"\n");
    let fresh = copy_fixture("IMG_0002.JPG", &setup.camera.join("fresh.jpg"));

    let run = setup.sync().await;
    run.expect_code(1);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("not finished:") && l.contains("fresh.jpg"))
        .unwrap_or_else(|| panic!("no line about fresh.jpg:\n{}", run.stderr));
    assert!(line.contains("[scan] settle (10m)"), "{line}");
    assert!(setup.emu.state().items.is_empty());
    assert!(
        setup.db().file_by_path(&fresh).unwrap().is_none(),
        "not recorded"
    );

    backdate(&fresh, Duration::from_secs(3600));
    setup.sync().await.expect_code(0);
    assert_eq!(uploaded_names(&setup), ["fresh.jpg"]);
}
