//! Each class of Google failure, and what the pipeline does about it. Every run must end
//! with nothing lost: each file either created once, or still queued for later.

use std::time::Duration;

use gphotos_emulator::{Endpoint, Fault, FaultAction};
use gphotosd::store::{FileState, PauseReason};

use crate::helpers::*;

fn two_photos(setup: &Setup) {
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "GOPR0001.JPG"]);
}

fn assert_all_done_once(setup: &Setup, n: usize) {
    let state = setup.emu.state();
    assert_eq!(state.items.len(), n, "items: {:?}", state.items);
    let counts = setup.db().counts().unwrap();
    assert_eq!(counts.done as usize, n, "{counts:?}");
    assert_eq!(counts.unfinished(), 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_minute_write_quota_is_waited_out() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup
        .emu
        .inject(Fault::new(Endpoint::BatchCreate, FaultAction::WriteQuota).times(2));
    setup.sync().await.expect_code(0);
    assert_all_done_once(&setup, 2);
    assert_eq!(
        setup.emu.state().requests.get("batch_create").copied(),
        Some(3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_quota_pauses_and_keeps_the_queue() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup
        .emu
        .inject(Fault::new(Endpoint::RawUpload, FaultAction::DailyQuota).times(100));
    let run = setup.sync().await;
    run.expect_code(75);
    assert!(run.stderr.contains("daily_quota"), "{}", run.stderr);
    let db = setup.db();
    let pause = db.daemon_row().unwrap().pause.expect("pause recorded");
    assert_eq!(pause.reason, PauseReason::DailyQuota);
    assert!(pause.until.is_some(), "the pause says when it lifts");
    let counts = db.counts().unwrap();
    assert_eq!(counts.failed, 0, "nothing failed: {counts:?}");
    assert_eq!(
        counts.unfinished(),
        2,
        "both files still queued: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_daily_budget_stops_before_google_refuses() {
    let setup = Setup::new().await;
    setup.write_raw_config("[upload]\ndaily_request_budget = 1\n");
    two_photos(&setup);
    let run = setup.sync().await;
    run.expect_code(75);
    let state = setup.emu.state();
    assert_eq!(state.api_requests_today, 1, "the budget is never crossed");
    assert_eq!(setup.db().counts().unwrap().failed, 0);
    // The same budget still holds at the next start; a raised one ends the pause.
    setup.sync().await.expect_code(75);
    setup.write_raw_config(
        "[upload]
daily_request_budget = 100
",
    );
    setup.sync().await.expect_code(0);
    assert_eq!(setup.db().counts().unwrap().done, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_with_backoff() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup.emu.inject(
        Fault::new(
            Endpoint::RawUpload,
            FaultAction::Status {
                code: 503,
                retry_after: None,
            },
        )
        .times(3),
    );
    setup.sync().await.expect_code(0);
    assert_all_done_once(&setup, 2);
    assert_eq!(
        setup.emu.state().requests.get("raw_upload").copied(),
        Some(5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_batch_create_response_creates_nothing_twice() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup
        .emu
        .inject(Fault::new(Endpoint::BatchCreate, FaultAction::DropResponse));
    setup.sync().await.expect_code(0);
    // Google did create both items the first time; the retry uploads the same bytes and
    // gets the same media items back.
    assert_all_done_once(&setup, 2);
    let state = setup.emu.state();
    for row in setup.db().all_files().unwrap() {
        let id = row.media_item_id.expect("media item recorded");
        assert!(state.items.iter().any(|i| i.id == id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_item_failures_are_classified() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup.emu.inject(Fault::new(
        Endpoint::BatchCreate,
        FaultAction::ItemStatus {
            code: 13,
            message: "Failed: There was an error while trying to create this media item.".into(),
        },
    ));
    setup.refuse_next_item_as_bad_image();
    let run = setup.sync().await;
    run.expect_code(1);
    assert!(run.stderr.contains("BAD_IMAGE"), "{}", run.stderr);
    let counts = setup.db().counts().unwrap();
    // Code 13 was retried with a new upload and succeeded; code 3 is final.
    assert_eq!((counts.done, counts.failed), (1, 1), "{counts:?}");
    let failed = setup.db().files_in_state(FileState::Failed, 10).unwrap();
    assert!(failed[0].reason.as_deref().unwrap().contains("BAD_IMAGE"));
    assert_eq!(setup.emu.state().items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_upload_tokens_are_isolated_and_uploaded_again() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup.emu.inject(Fault::new(
        Endpoint::BatchCreate,
        FaultAction::Stall(Duration::from_secs(2)),
    ));
    let mut run = setup.spawn_sync();
    // While batchCreate stalls, a day passes: the tokens it carries have expired.
    wait_until("batchCreate is in flight", Duration::from_secs(30), || {
        setup
            .emu
            .state()
            .requests
            .get("batch_create")
            .copied()
            .unwrap_or(0)
            >= 1
    })
    .await;
    setup.emu.advance_clock(Duration::from_secs(25 * 3600));
    assert_eq!(
        run.wait_exit(Duration::from_secs(60)).await,
        Some(0),
        "{}",
        run.log()
    );
    assert_all_done_once(&setup, 2);
    let state = setup.emu.state();
    assert!(
        state.requests.get("raw_upload").copied().unwrap_or(0) >= 4,
        "uploaded again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_once() {
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    setup.sync().await.expect_code(0);
    assert_eq!(setup.emu.state().refreshes, 1);
    // The cached access token still looks valid to us, but Google's clock says otherwise.
    setup.emu.advance_clock(Duration::from_secs(2 * 3600));
    setup.add_fixtures(&setup.camera, &["GOPR0001.JPG"]);
    setup.sync().await.expect_code(0);
    assert_all_done_once(&setup, 2);
    assert_eq!(setup.emu.state().refreshes, 2, "one refresh after the 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_full_pauses_with_files_kept_for_later() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup.emu.set_storage_limit(Some(1));
    let run = setup.sync().await;
    run.expect_code(75);
    assert!(run.stderr.contains("storage_full"), "{}", run.stderr);
    let counts = setup.db().counts().unwrap();
    assert_eq!(
        counts.uploaded, 2,
        "tokens kept for when space returns: {counts:?}"
    );
    assert!(setup.emu.state().items.is_empty());

    setup.emu.set_storage_limit(None);
    setup.sync().await.expect_code(0);
    assert_all_done_once(&setup, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_quota_pause_survives_a_restart_and_sends_nothing_more() {
    let setup = Setup::new().await;
    two_photos(&setup);
    setup
        .emu
        .inject(Fault::new(Endpoint::RawUpload, FaultAction::DailyQuota).times(100));
    setup.sync().await.expect_code(75);
    let spent = setup.emu.state().api_requests_today;
    // Cron runs it again the same day: it must not spend a request.
    let run = setup.sync().await;
    run.expect_code(75);
    assert_eq!(
        setup.emu.state().api_requests_today,
        spent,
        "{}",
        run.stderr
    );
    assert!(setup.emu.state().violations.is_empty());
    let out = setup.command("status").output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("The last run ended PAUSED (daily_quota)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_album_answer_retries_the_batch_without_uploading_again() {
    let setup = Setup::new().await;
    let trip = setup.dir.path().join("trip");
    setup.write_config(&format!(
        "[[watch]]\npath = \"{}\"\nalbum = \"Trip\"\n",
        trip.display()
    ));
    setup.add_fixtures(&trip, &["IMG_0002.JPG", "GOPR0001.JPG"]);
    setup
        .emu
        .inject(Fault::new(Endpoint::AlbumsList, FaultAction::DropResponse));
    setup.emu.inject(Fault::new(
        Endpoint::AlbumsCreate,
        FaultAction::DropResponse,
    ));
    let run = setup.sync().await;
    run.expect_code(0);
    assert!(
        run.stderr.contains("album could not be found or created"),
        "{}",
        run.stderr
    );
    let state = setup.emu.state();
    assert_eq!(state.requests["raw_upload"], 2, "each file uploaded once");
    assert_eq!(state.albums.len(), 1, "{:?}", state.albums);
    assert_eq!(state.albums[0].item_ids.len(), 2);
    assert!(state.violations.is_empty(), "{:?}", state.violations);
}
