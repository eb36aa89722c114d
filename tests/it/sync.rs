//! `gphotosd sync` end to end: what reaches Google, and what it costs.

use std::collections::BTreeMap;

use gphotosd::store::FileState;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_is_created_exactly_once_with_its_bytes_and_album() {
    let setup = Setup::new().await;
    let trip = setup.dir.path().join("trip");
    setup.write_config(&format!(
        "[[watch]]\npath = \"{}\"\nalbum = \"Summer trip\"\n",
        trip.display()
    ));
    let (plain, in_album) = MEDIA.split_at(4);
    let mut expected = BTreeMap::new();
    for p in setup.add_fixtures(&setup.camera, plain) {
        expected.insert(
            p.file_name().unwrap().to_string_lossy().into_owned(),
            (sha256_hex(&p), false),
        );
    }
    for p in setup.add_fixtures(&trip, in_album) {
        expected.insert(
            p.file_name().unwrap().to_string_lossy().into_owned(),
            (sha256_hex(&p), true),
        );
    }
    setup.add_fixtures(&setup.camera, CLUTTER);
    setup.add_fixtures(&trip.join("@eaDir"), &["IMG_0002.JPG"]);

    setup.sync().await.expect_code(0);

    let state = setup.emu.state();
    assert!(
        state.violations.is_empty(),
        "violations: {:?}",
        state.violations
    );
    assert_eq!(state.albums.len(), 1, "one album created");
    let album = &state.albums[0];
    assert_eq!(album.title, "Summer trip");
    assert_eq!(state.items.len(), MEDIA.len(), "items: {:?}", state.items);
    for item in &state.items {
        let (sha, in_trip) = expected
            .get(&item.filename)
            .unwrap_or_else(|| panic!("unexpected item {}", item.filename));
        assert_eq!(&item.sha256, sha, "bytes of {}", item.filename);
        assert_eq!(
            item.album_ids.contains(&album.id),
            *in_trip,
            "album of {}",
            item.filename
        );
    }
    // Every media file is done with its media item id; the clutter is skipped with a reason.
    let db = setup.db();
    for row in db.all_files().unwrap() {
        let name = row.path.file_name().unwrap().to_string_lossy().into_owned();
        if expected.contains_key(&name) {
            assert_eq!(row.state, FileState::Done, "{name}: {:?}", row.reason);
            let id = row.media_item_id.as_deref().unwrap();
            assert!(state.items.iter().any(|i| i.id == id && i.filename == name));
        } else {
            assert_eq!(row.state, FileState::Skipped, "{name}");
            assert!(row.reason.is_some(), "{name} has a reason");
        }
    }
    assert!(
        db.all_files()
            .unwrap()
            .iter()
            .all(|r| !r.path.to_string_lossy().contains("@eaDir")),
        "NAS thumbnail folders are not even recorded"
    );
    // One raw upload per file, one batchCreate per album, one albums.create: nothing else.
    assert_eq!(
        state.requests.get("raw_upload").copied(),
        Some(MEDIA.len() as u64)
    );
    assert_eq!(state.requests.get("batch_create").copied(), Some(2));
    // One look for an album created before a crash, then albums.create: nothing else.
    assert_eq!(state.requests.get("albums_list").copied(), Some(1));
    assert_eq!(state.requests.get("albums_create").copied(), Some(1));
    assert_eq!(state.api_requests_today, MEDIA.len() as u64 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_sends_nothing_and_a_renamed_copy_costs_no_upload() {
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "GOPR0001.JPG"]);
    setup.sync().await.expect_code(0);
    let before = setup.emu.state().api_requests_today;

    setup.sync().await.expect_code(0);
    assert_eq!(
        setup.emu.state().api_requests_today,
        before,
        "nothing new, nothing sent"
    );

    // A renamed folder: same bytes, new paths.
    std::fs::rename(
        setup.camera.join("IMG_0002.JPG"),
        setup.camera.join("renamed.jpg"),
    )
    .unwrap();
    let sub = setup.camera.join("2024/07");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(fixture("GOPR0001.JPG"), sub.join("GOPR0001.JPG")).unwrap();
    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    assert_eq!(
        state.api_requests_today, before,
        "known content is not uploaded again"
    );
    assert_eq!(state.items.len(), 2);
    setup.assert_alias_of_existing_item(&sub.join("GOPR0001.JPG"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_photos_cost_about_one_request_each() {
    let setup = Setup::new().await;
    // A generous idle so that scheduling noise on a busy machine cannot split batches.
    setup.write_raw_config("[upload]\nrequests_per_second = 200\n[create]\nidle = \"2s\"\n");
    let jpeg = std::fs::read(fixture("IMG_0002.JPG")).unwrap();
    for i in 0..100u32 {
        // Distinct bytes (a JPEG decoder ignores data after the end marker).
        let mut bytes = jpeg.clone();
        bytes.extend_from_slice(&i.to_be_bytes());
        let path = setup.camera.join(format!("IMG_{i:04}.JPG"));
        std::fs::write(&path, bytes).unwrap();
        backdate(&path, std::time::Duration::from_secs(60));
    }
    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 100);
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    let per_photo = state.api_requests_today as f64 / 100.0;
    assert!(per_photo <= 1.03, "{per_photo} requests per photo");
    let creates = state.requests.get("batch_create").copied().unwrap_or(0);
    assert!(creates <= 3, "{creates} batchCreate calls for 100 items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_created_before_a_crash_is_found_not_created_twice() {
    let setup = Setup::new().await;
    let trip = setup.dir.path().join("trip");
    setup.write_config(&format!(
        "[[watch]]\npath = \"{}\"\nalbum = \"Trip\"\n",
        trip.display()
    ));
    // The album exists at Google (a previous run created it, then died before recording
    // its id).
    let token = setup.emu.grant_access_token(&[APPENDONLY]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/albums", setup.emu.base_url()))
        .bearer_auth(token)
        .json(&serde_json::json!({"album": {"title": "Trip"}}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    setup.add_fixtures(&trip, &["IMG_0002.JPG"]);
    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    assert_eq!(state.albums.len(), 1, "{:?}", state.albums);
    assert_eq!(
        state.requests.get("albums_create").copied(),
        Some(1),
        "only the set-up's"
    );
    assert!(state.items[0].album_ids.contains(&state.albums[0].id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_even_at_trace_level() {
    let setup = Setup::with_emulator(gphotos_emulator::Config {
        granularity: 64 * 1024,
        ..gphotos_emulator::Config::default()
    })
    .await;
    setup.write_raw_config("[upload]\nraw_threshold = \"64 KiB\"\n[create]\nidle = \"200ms\"\n");
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "GOPR0001.JPG"]);
    let out = setup
        .command("sync")
        .env("RUST_LOG", "trace")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("TRACE"), "trace output was produced");
    let token: serde_json::Value =
        serde_json::from_slice(&std::fs::read(setup.state.join("token.json")).unwrap()).unwrap();
    for field in ["refresh_token", "token", "client_secret"] {
        let secret = token[field].as_str().unwrap();
        assert!(!log.contains(secret), "{field} leaked into the log");
    }
    // Upload tokens and resumable session ids are capabilities too.
    assert!(!log.contains("CAIS"), "an upload token leaked into the log");
    for session in setup.emu.state().sessions {
        assert!(
            !log.contains(&session.upload_id),
            "a session URL leaked into the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_raw_files_are_uploaded_as_photos() {
    let setup = Setup::new().await;
    // A Canon CR3 (ISO-BMFF, brand `crx `) whose boxes tile the file, and a Panasonic RW2.
    let mut cr3 = b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom".to_vec();
    let payload = vec![7u8; 40_000];
    cr3.extend_from_slice(&(payload.len() as u32 + 8).to_be_bytes());
    cr3.extend_from_slice(b"mdat");
    cr3.extend_from_slice(&payload);
    std::fs::write(setup.camera.join("IMG_0001.CR3"), &cr3).unwrap();
    let mut rw2 = b"IIU\0\x18\0\0\0".to_vec();
    rw2.extend(vec![3u8; 30_000]);
    std::fs::write(setup.camera.join("P1000001.RW2"), &rw2).unwrap();
    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    let mut mimes: Vec<(&str, &str)> = state
        .items
        .iter()
        .map(|i| (i.filename.as_str(), i.mime_type.as_str()))
        .collect();
    mimes.sort_unstable();
    assert_eq!(
        mimes,
        [
            ("IMG_0001.CR3", "image/x-canon-cr3"),
            ("P1000001.RW2", "image/x-panasonic-rw2")
        ]
    );
}
