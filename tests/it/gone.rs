//! Files that leave the watched folders after they were uploaded, skipped or failed: the
//! counts stop including them (a move within the folders counts once), nothing is uploaded
//! again, and a file that comes back is live again.

use std::path::Path;
use std::time::Duration;

use crate::helpers::*;
use crate::watch::write_watch_config;

async fn sync_reports_one_gone_and_none_done(setup: &Setup) {
    let run = setup.sync().await;
    run.expect_code(0);
    assert!(
        run.stderr.contains("0 done (1 more uploaded"),
        "{}",
        run.stderr
    );
}

fn gone_at(setup: &Setup, path: &Path) -> Option<i64> {
    setup.row(path).gone_at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_counts_a_moved_file_once_and_forgets_deleted_ones() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let files = setup.add_fixtures(
        &setup.camera,
        &["IMG_0002.JPG", "GOPR0001.JPG", "notes.txt"],
    );
    let mut daemon = setup.spawn_daemon();
    setup
        .wait_db("both photos done", Duration::from_secs(30), |db| {
            db.counts().is_ok_and(|c| c.done == 2 && c.skipped == 1)
        })
        .await;

    // Renamed into a new folder, as a photo manager sorting by date does.
    let sorted = setup.camera.join("2024/07");
    std::fs::create_dir_all(&sorted).unwrap();
    let moved = sorted.join("IMG_0002.JPG");
    std::fs::rename(&files[0], &moved).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    std::fs::remove_file(&files[2]).unwrap();
    setup
        .wait_db(
            "the move and the deletions seen",
            Duration::from_secs(30),
            |db| {
                db.counts()
                    .is_ok_and(|c| c.done == 1 && c.gone == 2 && c.skipped == 0)
            },
        )
        .await;
    assert!(gone_at(&setup, &files[0]).is_some());
    setup.assert_alias_of_existing_item(&moved);
    assert_eq!(setup.emu.state().items.len(), 2, "nothing uploaded twice");
    let out = setup.command("status").output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 done") && text.contains("2 more uploaded, since moved away or deleted"),
        "{text}"
    );
    let out = setup
        .command("status")
        .arg(&files[1])
        .output()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("gone: no longer at this path"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Moved back: the very file is live again, still without a second upload.
    std::fs::rename(&moved, &files[0]).unwrap();
    setup
        .wait_db("the file back", Duration::from_secs(30), |db| {
            db.file_by_path(&files[0])
                .is_ok_and(|r| r.is_some_and(|r| r.gone_at.is_none()))
        })
        .await;
    daemon.signal(15);
    assert_eq!(daemon.wait_exit(Duration::from_secs(20)).await, Some(0));
    assert_eq!(setup.emu.state().items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_notices_files_that_left_while_nothing_ran() {
    let setup = Setup::new().await;
    let files = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "GOPR0001.JPG"]);
    setup.refuse_next_item_as_bad_image();
    setup.sync().await.expect_code(1);
    let counts = setup.db().counts().unwrap();
    assert_eq!((counts.done, counts.failed), (1, 1));
    let failed = files
        .iter()
        .find(|f| setup.row(f).state.as_str() == "failed")
        .unwrap()
        .clone();
    let done = files.iter().find(|f| **f != failed).unwrap().clone();

    // The failed file is deleted and the uploaded one moved out of the camera folder.
    std::fs::remove_file(&failed).unwrap();
    std::fs::rename(&done, setup.dir.path().join("elsewhere.jpg")).unwrap();
    sync_reports_one_gone_and_none_done(&setup).await;
    let counts = setup.db().counts().unwrap();
    assert_eq!((counts.done, counts.failed, counts.gone), (0, 0, 1));
    let json = setup.status_json().await;
    assert_eq!(json["counts"]["gone"], 1);
    assert!(json["failures"].as_array().unwrap().is_empty(), "{json}");
    // `retry --all` leaves the departed failure alone.
    let out = setup.command("retry").arg("--all").output().await.unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 failed file(s)"),
        "{out:?}"
    );
    assert_eq!(setup.emu.state().items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_moved_by_after_upload_count_as_gone_and_an_unmounted_folder_does_not() {
    let setup = Setup::new().await;
    let done = setup.dir.path().join("uploaded");
    write_watch_config(
        &setup,
        "",
        &format!("after_upload = \"move:{}\"", done.display()),
    );
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    sync_reports_one_gone_and_none_done(&setup).await;
    assert_eq!(setup.db().counts().unwrap().gone, 1);

    // A second folder, uploaded, then "unmounted": its rows are not marked gone.
    let kept = setup.dir.path().join("card");
    write_watch_config(
        &setup,
        "",
        &format!("[[watch]]\npath = \"{}\"", kept.display()),
    );
    setup.add_fixtures(&kept, &["GOPR0001.JPG"]);
    setup.sync().await.expect_code(0);
    assert_eq!(setup.db().counts().unwrap().done, 1);
    std::fs::rename(&kept, setup.dir.path().join("card-away")).unwrap();
    setup.sync().await.expect_code(1);
    let counts = setup.db().counts().unwrap();
    assert_eq!((counts.done, counts.gone), (1, 1), "{counts:?}");
}
