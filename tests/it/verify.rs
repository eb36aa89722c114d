//! `gphotosd verify`: items deleted in the Google Photos app are found, reported, and (only
//! when asked) uploaded again; the read scope, the daily budget and bad input are each
//! reported with what to do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gphotosd::store::FileState;
use serde_json::Value;

use crate::helpers::*;
use crate::watch::wait_done;

/// A finished `gphotosd verify`.
struct Verified {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Verified {
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "gphotosd verify exited {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).expect("verify --json prints JSON")
    }
}

async fn verify(setup: &Setup, args: &[&str]) -> Verified {
    let out = setup
        .command("verify")
        .args(args)
        .output()
        .await
        .expect("gphotosd runs");
    Verified {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `n` photos with distinct bytes in `dir`.
fn photos(dir: &Path, n: u32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let jpeg = std::fs::read(fixture("IMG_0002.JPG")).unwrap();
    (0..n)
        .map(|i| {
            // A JPEG decoder ignores data after the end marker.
            let mut bytes = jpeg.clone();
            bytes.extend_from_slice(&i.to_be_bytes());
            let path = dir.join(format!("IMG_{i:04}.JPG"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

fn requests(setup: &Setup, kind: &str) -> u64 {
    setup.emu.state().requests.get(kind).copied().unwrap_or(0)
}

fn media_item_of(setup: &Setup, path: &Path) -> String {
    setup.row(path).media_item_id.expect("a media item id")
}

/// Every column of every file row, as SQLite stores it: "nothing changed" means this.
fn files_table(setup: &Setup) -> Vec<Vec<rusqlite::types::Value>> {
    let db = setup.db();
    let mut stmt = db
        .connection()
        .prepare("SELECT * FROM files ORDER BY id")
        .unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |r| {
        (0..columns)
            .map(|i| r.get::<_, rusqlite::types::Value>(i))
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Two photos in the camera folder, two in an album folder, and a copy of the first album
/// photo under another name (an alias: no upload of its own). Returns (camera, album).
async fn library(setup: &Setup) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let trip = setup.dir.path().join("trip");
    setup.write_config(&format!(
        "[[watch]]\npath = \"{}\"\nalbum = \"Trip\"\n",
        trip.display()
    ));
    let camera = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "IMG_0003.PNG"]);
    let album = setup.add_fixtures(&trip, &["GOPR0001.JPG", "IMG_0005.WEBP"]);
    setup.sync().await.expect_code(0);
    // Copied after the upload, so it becomes an alias of GOPR0001.JPG.
    let copy = setup.camera.join("copy-of-GOPR0001.JPG");
    std::fs::copy(&album[0], &copy).unwrap();
    setup.sync().await.expect_code(0);
    setup.assert_alias_of_existing_item(&copy);
    (vec![camera[0].clone(), camera[1].clone(), copy], album)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_present_exits_0_and_120_items_take_3_batch_gets() {
    let setup = Setup::new().await;
    photos(&setup.camera, 120);
    setup.sync().await.expect_code(0);
    assert_eq!(setup.emu.state().items.len(), 120);
    let before = setup.emu.state().api_requests_today;

    let run = verify(&setup, &["--json"]).await;
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["files"], 120);
    assert_eq!(json["media_items"], 120);
    assert_eq!(json["present"], 120);
    assert_eq!(json["missing"], Value::Array(vec![]));
    assert_eq!(json["errors"], Value::Array(vec![]));
    let state = setup.emu.state();
    assert_eq!(requests(&setup, "media_items_batch_get"), 3, "50 + 50 + 20");
    assert_eq!(requests(&setup, "media_items_get"), 0);
    assert_eq!(
        state.api_requests_today,
        before + 3,
        "nothing else was sent"
    );
    // Counted in the same ledger the daemon spends, exactly as Google counts.
    assert_eq!(json["requests"], 3);
    assert_eq!(json["quota"]["used_today"], state.api_requests_today);
    assert_eq!(json["quota"]["budget"], 10_000);
    assert!(state.violations.is_empty(), "{:?}", state.violations);

    let text = verify(&setup, &[]).await;
    text.expect_code(0);
    assert!(
        text.stdout.contains("Checked 120 file(s)"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("present: 120"), "{}", text.stdout);
    assert!(text.stdout.contains("missing: 0"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_items_deleted_in_the_app_are_reported_missing_and_nothing_changes() {
    let setup = Setup::new().await;
    let (camera, album) = library(&setup).await;
    let gone = [camera[0].clone(), album[1].clone()];
    for path in &gone {
        assert!(setup.emu.delete_item(&media_item_of(&setup, path)));
    }
    let rows_before = files_table(&setup);
    let items_before = setup.emu.state().items;
    let uploads_before = requests(&setup, "raw_upload");

    let run = verify(&setup, &[]).await;
    run.expect_code(1);
    assert!(run.stdout.contains("present: 3"), "{}", run.stdout);
    assert!(run.stdout.contains("missing: 2"), "{}", run.stdout);
    assert!(run.stdout.contains("errors:  0"), "{}", run.stdout);
    for path in &gone {
        assert!(
            run.stdout.contains(&path.display().to_string()),
            "{} listed:\n{}",
            path.display(),
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("--requeue-missing"),
        "says how to fix it:\n{}",
        run.stdout
    );
    assert_eq!(files_table(&setup), rows_before, "no file row changed");
    assert_eq!(setup.emu.state().items, items_before);
    assert_eq!(requests(&setup, "raw_upload"), uploads_before);
    assert_eq!(
        requests(&setup, "media_items_batch_get"),
        1,
        "5 files, 4 items"
    );
    // And a second look finds the same, still changing nothing.
    verify(&setup, &[]).await.expect_code(1);
    assert_eq!(files_table(&setup), rows_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_missing_items_are_uploaded_again_into_their_album_and_verify_then_passes() {
    let setup = Setup::new().await;
    let (camera, album) = library(&setup).await;
    let copy = camera[2].clone();
    // GOPR0001.JPG (in the album, with a copy elsewhere) and IMG_0002.JPG go missing.
    let old_album_item = media_item_of(&setup, &album[0]);
    let old_plain_item = media_item_of(&setup, &camera[0]);
    setup.emu.delete_item(&old_album_item);
    setup.emu.delete_item(&old_plain_item);

    let run = verify(&setup, &["--requeue-missing"]).await;
    run.expect_code(1);
    assert!(run.stdout.contains("missing: 3"), "{}", run.stdout);
    assert!(run.stdout.contains("Queued again"), "{}", run.stdout);
    for path in [&album[0], &copy, &camera[0]] {
        let row = setup.row(path);
        assert_eq!(row.state, FileState::Pending, "{}", path.display());
        assert_eq!(row.media_item_id, None);
        assert_eq!(row.alias_of, None);
        assert!(
            row.reason.unwrap().contains("missing from Google Photos"),
            "{}",
            path.display()
        );
    }
    assert_eq!(
        setup.row(&camera[1]).state,
        FileState::Done,
        "present stays"
    );

    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    let new_album_item = media_item_of(&setup, &album[0]);
    assert_ne!(new_album_item, old_album_item, "a new item");
    assert_eq!(
        media_item_of(&setup, &copy),
        new_album_item,
        "the copy follows its content"
    );
    assert_ne!(media_item_of(&setup, &camera[0]), old_plain_item);
    let trip = state
        .albums
        .iter()
        .find(|a| a.title == "Trip")
        .expect("the album");
    assert_eq!(state.albums.len(), 1, "the same album, not a new one");
    assert!(
        trip.item_ids.contains(&new_album_item),
        "back in its album: {:?}",
        trip.item_ids
    );
    let item = state.items.iter().find(|i| i.id == new_album_item).unwrap();
    assert_eq!(item.sha256, sha256_hex(&album[0]));

    verify(&setup, &[]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_read_scope_is_told_what_to_run_never_a_raw_403() {
    let setup = Setup::new().await;
    let files = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    setup.sync().await.expect_code(0);

    // A token granted before the read scope was asked for: its file lists the scopes.
    setup.grant_token(&[APPENDONLY]);
    let run = verify(&setup, &[]).await;
    run.expect_code(75);
    for needed in [
        "photoslibrary.readonly.appcreateddata",
        "Run `gphotosd auth`",
        "token.json",
    ] {
        assert!(
            run.stderr.contains(needed),
            "{needed:?} in:\n{}",
            run.stderr
        );
    }
    for raw in [
        "403",
        "PERMISSION_DENIED",
        "insufficient authentication scopes",
    ] {
        assert!(!run.stderr.contains(raw), "{raw:?} in:\n{}", run.stderr);
    }
    assert_eq!(
        requests(&setup, "media_items_batch_get") + requests(&setup, "media_items_get"),
        0,
        "known from the token file: no request spent"
    );

    // A token file that does not list its scopes: Google's 403 tells, said the same way.
    let mut token = gphotosd::auth::TokenFile::new(
        &setup.emu.client_id(),
        &setup.emu.client_secret(),
        &setup.emu.grant_refresh_token(&[APPENDONLY]),
    );
    token.token = Some(setup.emu.grant_access_token(&[APPENDONLY]));
    token.expiry = Some((chrono::Utc::now() + chrono::Duration::minutes(50)).to_rfc3339());
    token.save(&setup.state.join("token.json")).unwrap();
    let path = files[0].display().to_string();
    let run = verify(&setup, &["--json", &path]).await;
    run.expect_code(75);
    assert_eq!(requests(&setup, "media_items_get"), 1);
    assert!(
        run.stderr.contains("photoslibrary.readonly.appcreateddata"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`gphotosd auth`"), "{}", run.stderr);
    assert!(!run.stderr.contains("403"), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["stopped"]["reason"], "scope_missing");
    assert_eq!(json["unchecked"], 1);
    assert_eq!(
        setup.row(&files[0]).state,
        FileState::Done,
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_path_checks_just_that_file_with_one_get() {
    let setup = Setup::new().await;
    let files = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "IMG_0003.PNG"]);
    setup.sync().await.expect_code(0);
    setup.emu.delete_item(&media_item_of(&setup, &files[1]));

    let present = verify(&setup, &[&files[0].display().to_string()]).await;
    present.expect_code(0);
    assert!(
        present.stdout.contains("Checked 1 file(s)"),
        "{}",
        present.stdout
    );
    assert_eq!(requests(&setup, "media_items_get"), 1);
    assert_eq!(requests(&setup, "media_items_batch_get"), 0);

    // Relative paths are taken from the working directory.
    let relative = setup
        .command("verify")
        .current_dir(&setup.camera)
        .arg("IMG_0003.PNG")
        .output()
        .await
        .unwrap();
    assert_eq!(relative.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&relative.stdout);
    assert!(stdout.contains(&files[1].display().to_string()), "{stdout}");
    assert!(stdout.contains("missing: 1"), "{stdout}");
    assert_eq!(
        setup.row(&files[1]).state,
        FileState::Done,
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_is_not_an_uploaded_file_is_a_clear_error() {
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "notes.txt"]);
    let before = setup.emu.state().api_requests_today;
    let no_db = verify(&setup, &[]).await;
    no_db.expect_code(2);
    assert!(no_db.stderr.contains("no database"), "{}", no_db.stderr);

    setup.sync().await.expect_code(0);
    let stranger = setup.dir.path().join("elsewhere.jpg");
    let run = verify(&setup, &[&stranger.display().to_string()]).await;
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "{} is not in gphotosd's database",
            stranger.display()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("gphotosd status"), "{}", run.stderr);

    let skipped = setup.camera.join("notes.txt");
    let run = verify(&setup, &[&skipped.display().to_string()]).await;
    run.expect_code(2);
    assert!(
        run.stderr.contains("has not been uploaded (it is skipped)"),
        "{}",
        run.stderr
    );
    // With --json the failure is JSON on stdout too.
    let run = verify(&setup, &["--json", &skipped.display().to_string()]).await;
    run.expect_code(2);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("has not been uploaded"),
        "{json}"
    );
    assert_eq!(
        setup.emu.state().api_requests_today,
        before + 2,
        "only the sync's upload and batchCreate: bad input costs no request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_has_the_documented_shape() {
    let setup = Setup::new().await;
    let (camera, album) = library(&setup).await;
    let gone = media_item_of(&setup, &album[1]);
    setup.emu.delete_item(&gone);

    let run = verify(&setup, &["--json", "--requeue-missing"]).await;
    run.expect_code(1);
    let json = run.json();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "errors",
            "files",
            "media_items",
            "missing",
            "present",
            "quota",
            "requests",
            "requeued",
            "stopped",
            "unchecked"
        ],
        "{json:#}"
    );
    assert_eq!(json["files"], 5);
    assert_eq!(json["media_items"], 4, "the copy shares its item");
    assert_eq!(json["present"], 4);
    assert_eq!(json["unchecked"], 0);
    assert_eq!(json["stopped"], Value::Null);
    assert_eq!(json["requests"], 1);
    let missing = &json["missing"][0];
    assert_eq!(missing["path"], album[1].display().to_string());
    assert_eq!(missing["media_item_id"], gone);
    assert_eq!(missing["album_title"], "Trip");
    assert_eq!(missing["alias_of"], Value::Null);
    assert_eq!(json["requeued"][0]["path"], album[1].display().to_string());
    assert_eq!(json["requeued"][0]["outcome"], "queued");
    assert!(json["quota"]["used_today"].as_u64().unwrap() > 0);
    assert_eq!(json["quota"]["budget"], 10_000);
    let _ = camera;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_budget_stops_verify_before_google_is_asked() {
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    setup.sync().await.expect_code(0);
    let used = setup
        .db()
        .requests_on(&gphotosd::limits::pacific_day(chrono::Utc::now()))
        .unwrap();
    setup.write_raw_config(&format!("[upload]\ndaily_request_budget = {used}\n"));

    let run = verify(&setup, &["--json"]).await;
    run.expect_code(75);
    assert_eq!(run.json()["stopped"]["reason"], "daily_quota");
    assert!(run.stderr.contains("midnight Pacific"), "{}", run.stderr);
    assert_eq!(
        requests(&setup, "media_items_get"),
        0,
        "the budget is never crossed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_uploads_requeued_files_without_a_restart() {
    let setup = Setup::new().await;
    let files = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "IMG_0003.PNG"]);
    let mut daemon = setup.spawn_daemon();
    wait_done(&setup, &files).await;
    let old = media_item_of(&setup, &files[0]);
    setup.emu.delete_item(&old);

    verify(&setup, &["--requeue-missing"]).await.expect_code(1);
    setup
        .wait_db(
            "the daemon uploaded it again",
            Duration::from_secs(60),
            |db| {
                db.file_by_path(&files[0]).ok().flatten().is_some_and(|r| {
                    r.state == FileState::Done && r.media_item_id.is_some_and(|id| id != old)
                })
            },
        )
        .await;
    verify(&setup, &[]).await.expect_code(0);
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 2);
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    daemon.signal(15);
    assert_eq!(daemon.wait_exit(Duration::from_secs(30)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeued_file_whose_album_was_deleted_too_lands_in_a_new_album_of_that_title() {
    let setup = Setup::new().await;
    let (_, album) = library(&setup).await;
    let state = setup.emu.state();
    let old_album = state.albums[0].id.clone();
    // In the app, the user deleted the album and one of its photos.
    setup.emu.delete_album(&old_album);
    setup.emu.delete_item(&media_item_of(&setup, &album[1]));

    verify(&setup, &["--requeue-missing"]).await.expect_code(1);
    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    assert_eq!(state.albums.len(), 1, "{:?}", state.albums);
    let trip = &state.albums[0];
    assert_eq!(trip.title, "Trip");
    assert_ne!(trip.id, old_album, "made anew");
    assert_eq!(trip.item_ids, vec![media_item_of(&setup, &album[1])]);
    assert_eq!(setup.row(&album[1]).state, FileState::Done);
    verify(&setup, &[]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_is_in_the_man_page_and_the_completions() {
    for (args, needle) in [
        (vec!["completions", "bash"], "requeue-missing"),
        (vec!["man"], "verify"),
        (vec!["verify", "--help"], "--requeue-missing"),
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gphotosd"))
            .args(&args)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(needle), "{args:?} mentions {needle:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_a_call_that_keeps_failing_is_reported_as_errors() {
    use gphotos_emulator::{Endpoint, Fault, FaultAction};
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "IMG_0003.PNG"]);
    setup.sync().await.expect_code(0);
    let unavailable = FaultAction::Status {
        code: 503,
        retry_after: None,
    };

    setup
        .emu
        .inject(Fault::new(Endpoint::MediaItemsBatchGet, unavailable.clone()).times(1));
    verify(&setup, &[]).await.expect_code(0);
    assert_eq!(
        requests(&setup, "media_items_batch_get"),
        2,
        "asked again once"
    );

    setup
        .emu
        .inject(Fault::new(Endpoint::MediaItemsBatchGet, unavailable).times(3));
    let run = verify(&setup, &["--json"]).await;
    run.expect_code(2);
    let json = run.json();
    assert_eq!(json["present"], 0);
    assert_eq!(json["errors"].as_array().unwrap().len(), 2, "{json:#}");
    let message = json["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("503"), "{message}");
    assert_eq!(
        requests(&setup, "media_items_batch_get"),
        5,
        "three attempts"
    );
}
