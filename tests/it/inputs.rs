//! Bad input: a broken config, files that vanish or change under the uploader, a second
//! daemon on the same state. Each gets a clear message and leaves the rest working.

use std::io::Write;
use std::time::Duration;

use gphotos_emulator::{Config as EmulatorConfig, Endpoint, Fault, FaultAction};
use gphotosd::store::FileState;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_names_the_line_and_key() {
    let setup = Setup::new().await;
    setup.write_raw_config("[upload]\nworkerz = 2\n");
    let text = std::fs::read_to_string(&setup.config_path).unwrap();
    let line = text.lines().position(|l| l.starts_with("workerz")).unwrap() + 1;
    let run = setup.sync().await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(&format!("line {line}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("workerz"), "{}", run.stderr);
    assert!(!setup.state.join("gphotosd.db").exists(), "nothing started");

    setup.write_raw_config("[upload]\nworkers = 0\n");
    let run = setup.sync().await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("upload.workers"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_deleted_before_its_upload_is_skipped_and_the_rest_goes_on() {
    let setup = Setup::new().await;
    setup.write_raw_config("[upload]\nworkers = 1\n[create]\nidle = \"200ms\"\n");
    let files = setup.add_fixtures(&setup.camera, &["GOPR0001.JPG", "IMG_0002.JPG"]);
    // The first upload stalls; meanwhile the second file disappears.
    setup.emu.inject(Fault::new(
        Endpoint::RawUpload,
        FaultAction::Stall(Duration::from_secs(2)),
    ));
    let mut run = setup.spawn_sync();
    wait_until(
        "the first upload is in flight",
        Duration::from_secs(30),
        || {
            setup
                .emu
                .state()
                .requests
                .get("raw_upload")
                .copied()
                .unwrap_or(0)
                >= 1
        },
    )
    .await;
    // Whichever file is in flight, delete the other one.
    let in_flight = setup
        .db()
        .files_in_state(FileState::Uploading, 1)
        .unwrap()
        .pop()
        .expect("one file uploading");
    let other = files
        .iter()
        .find(|f| **f != in_flight.path)
        .unwrap()
        .clone();
    std::fs::remove_file(&other).unwrap();
    assert_eq!(
        run.wait_exit(Duration::from_secs(60)).await,
        Some(0),
        "{}",
        run.log()
    );
    let row = setup.row(&other);
    assert_eq!(row.state, FileState::Skipped);
    assert!(row.reason.unwrap().contains("deleted"));
    assert!(row.gone_at.is_some(), "not counted: it left the folder");
    assert_eq!(setup.db().counts().unwrap().skipped, 0);
    assert_eq!(setup.row(&in_flight.path).state, FileState::Done);
    assert_eq!(setup.emu.state().items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_during_its_upload_is_uploaded_again_in_its_final_form() {
    let setup = Setup::with_emulator(EmulatorConfig::default()).await;
    setup.write_raw_config(
        "[upload]\nraw_threshold = \"64 KiB\"\nmax_bytes_per_second = \"512 KiB\"\n[create]\nidle = \"200ms\"\n",
    );
    let path = setup.camera.join("GX010001.MP4");
    let mut bytes = std::fs::read(fixture("GX010001.MP4")).unwrap();
    bytes.resize(3 << 20, 7);
    std::fs::write(&path, &bytes).unwrap();
    backdate(&path, Duration::from_secs(60)); // finished before the sync starts
    let mut run = setup.spawn_sync();
    wait_until("the upload is under way", Duration::from_secs(30), || {
        setup.emu.state().bytes_received > 0
    })
    .await;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"more footage")
        .unwrap();
    assert_eq!(
        run.wait_exit(Duration::from_secs(60)).await,
        Some(0),
        "{}",
        run.log()
    );
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 1, "{:?}", state.items);
    assert_eq!(
        state.items[0].sha256,
        sha256_hex(&path),
        "the final content"
    );
    assert!(
        run.log().contains("changed while it was being uploaded"),
        "{}",
        run.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_state_is_refused_with_the_holder() {
    let setup = Setup::new().await;
    let mut first = setup.spawn_daemon();
    setup
        .wait_db("the first daemon is up", Duration::from_secs(30), |db| {
            db.daemon_row().is_ok_and(|d| d.pid.is_some())
        })
        .await;
    let pid = first.child.id().unwrap();
    let run = setup.sync().await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains(&format!("pid {pid}")), "{}", run.stderr);
    first.signal(15);
    assert_eq!(first.wait_exit(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_file_fails_clearly_and_is_picked_up_once_readable() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new().await;
    let files = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "GOPR0001.JPG"]);
    std::fs::set_permissions(&files[1], std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads anything: run as an unprivileged service user would.
    let sync = || setup.command_unprivileged("sync");
    let out = sync().output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("GOPR0001.JPG: cannot read the file: Permission denied"),
        "{stderr}"
    );
    assert_eq!(
        setup.row(&files[0]).state,
        FileState::Done,
        "the rest went on"
    );
    assert_eq!(setup.row(&files[1]).state, FileState::Failed);

    // Fixing the permissions changes neither size nor mtime; the next scan still sees it.
    std::fs::set_permissions(&files[1], std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = sync().output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(setup.emu.state().items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_whose_state_directory_is_deleted_stops_instead_of_running_blind() {
    let setup = Setup::new().await;
    let mut daemon = setup.spawn_daemon();
    setup
        .wait_db("the daemon is up", Duration::from_secs(30), |db| {
            db.daemon_row().is_ok_and(|d| d.heartbeat_at.is_some())
        })
        .await;
    std::fs::remove_dir_all(&setup.state).unwrap();
    let code = daemon.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{}", daemon.log());
    assert!(
        daemon.log().contains("deleted or replaced"),
        "{}",
        daemon.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_a_missing_watch_folder_does_not_claim_success() {
    let setup = Setup::new().await;
    let gone = setup.dir.path().join("unmounted-disk");
    setup.write_config(&format!("[[watch]]\npath = \"{}\"\n", gone.display()));
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    let run = setup.sync().await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unmounted-disk does not exist or is not mounted"),
        "{}",
        run.stderr
    );
    assert_eq!(
        setup.emu.state().items.len(),
        1,
        "the other folder was uploaded"
    );
}
