//! Nothing lost, nothing twice, under random faults on every endpoint plus a SIGKILL.

use std::collections::BTreeMap;
use std::time::Duration;

use gphotos_emulator::{Chaos, Config as EmulatorConfig, Endpoint, FaultAction};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_and_a_kill_lose_nothing_and_duplicate_nothing() {
    let setup = Setup::with_emulator(EmulatorConfig {
        granularity: 64 * 1024,
        ..EmulatorConfig::default()
    })
    .await;
    let trip = setup.dir.path().join("trip");
    setup.write_raw_config(&format!(
        "[upload]\nraw_threshold = \"128 KiB\"\nretry_base = \"50ms\"\nretry_max = \"300ms\"\n\
         quota_backoff = \"100ms\"\nmax_attempts = 1000\nrequests_per_second = 500\n\
         [create]\nidle = \"100ms\"\nbatch_size = 7\n\
         [[watch]]\npath = \"{}\"\nalbum = \"Trip\"\n",
        trip.display()
    ));
    let jpeg = std::fs::read(fixture("IMG_0002.JPG")).unwrap();
    let mp4 = std::fs::read(fixture("GX010001.MP4")).unwrap();
    let mut expected = BTreeMap::new();
    for i in 0..24u32 {
        let (folder, in_album) = if i % 3 == 0 {
            (&trip, true)
        } else {
            (&setup.camera, false)
        };
        let (name, mut bytes) = if i % 8 == 0 {
            (format!("GX{i:06}.MP4"), mp4.clone())
        } else {
            (format!("IMG_{i:04}.JPG"), jpeg.clone())
        };
        bytes.extend_from_slice(&i.to_be_bytes());
        std::fs::create_dir_all(folder).unwrap();
        let path = folder.join(&name);
        std::fs::write(&path, &bytes).unwrap();
        expected.insert(name, (sha256_hex(&path), in_album));
    }
    setup.emu.set_chaos(Some(Chaos {
        seed: std::env::var("GPHOTOSD_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7),
        probability: 0.25,
        on: Endpoint::Any,
        actions: vec![
            FaultAction::Status {
                code: 503,
                retry_after: None,
            },
            FaultAction::Status {
                code: 500,
                retry_after: None,
            },
            FaultAction::CutAfter(100_000),
            FaultAction::DropResponse,
            FaultAction::WriteQuota,
        ],
    }));

    // A daemon under chaos, killed without warning part-way.
    let mut daemon = setup.spawn_daemon();
    wait_until("some items exist", Duration::from_secs(60), || {
        setup.emu.state().items.len() >= 3
    })
    .await;
    daemon.signal(9);
    daemon.wait_exit(Duration::from_secs(10)).await;
    let mut logs = daemon.log();

    // Then syncs under chaos until one finishes cleanly.
    let mut finished = false;
    for _ in 0..10 {
        let run = setup.sync().await;
        logs.push_str(&run.stderr);
        if run.code == Some(0) {
            finished = true;
            break;
        }
    }
    setup.emu.set_chaos(None);
    if !finished {
        setup.sync().await.expect_code(0);
    }

    let state = setup.emu.state();
    assert_eq!(state.albums.len(), 1, "one album: {:?}", state.albums);
    let album = &state.albums[0].id;
    assert_eq!(state.items.len(), expected.len(), "{:?}", state.items);
    for item in &state.items {
        let (sha, in_album) = &expected[&item.filename];
        assert_eq!(&item.sha256, sha, "{}", item.filename);
        assert_eq!(
            item.album_ids.contains(album),
            *in_album,
            "{}",
            item.filename
        );
    }
    let counts = setup.db().counts().unwrap();
    assert_eq!(counts.done as usize, expected.len(), "{counts:?}");
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    assert!(logs.contains("will retry"), "the chaos did strike");
}
