//! `[google] read_timeout` on uploads: a request is abandoned only when nothing moves for
//! that long (no body bytes taken, no answer), never because sending it takes long.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gphotos_emulator::{Config as EmulatorConfig, Endpoint, Fault, FaultAction};

use crate::helpers::*;

const GRANULARITY: u64 = 256 * 1024;

fn big_video(setup: &Setup, mib: usize) -> PathBuf {
    setup.big_video("GX040001.MP4", mib, 0x2545_f491_4f6c_dd1d)
}

/// Files above this go resumable.
const RESUMABLE: &str = "raw_threshold = \"64 KiB\"";

/// An installation whose uploads time out after one second without movement; `upload`
/// holds more `[upload]` keys.
async fn setup_with_read_timeout(upload: &str) -> Setup {
    let setup = Setup::with_emulator(EmulatorConfig {
        granularity: GRANULARITY,
        ..EmulatorConfig::default()
    })
    .await;
    setup.write_config_with_google(
        "read_timeout = \"1s\"",
        &format!(
            "[upload]\nretry_base = \"100ms\"\nretry_max = \"1s\"\n{upload}\n\
             [create]\nidle = \"200ms\"\n"
        ),
    );
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_takes_many_read_timeouts_to_send_is_never_cut() {
    // 6 MiB at 1 MiB/s: about five seconds of sending, five times the read timeout. One
    // attempt is all it may take.
    let setup = setup_with_read_timeout(&format!(
        "{RESUMABLE}\nmax_bytes_per_second = \"1 MiB\"\nmax_attempts = 1"
    ))
    .await;
    let path = big_video(&setup, 6);
    let started = Instant::now();
    let run = setup.sync().await;
    run.expect_code(0);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the bandwidth cap held the upload for seconds"
    );
    setup.assert_created_once(&path);
    let state = setup.emu.state();
    assert_eq!(state.sessions.len(), 1, "one session");
    assert_eq!(state.requests.get("resumable_upload").copied(), Some(1));
    assert_eq!(state.requests.get("query"), None, "never interrupted");
    assert!(!run.stderr.contains("will retry"), "{}", run.stderr);
    assert_eq!(setup.row(&path).attempts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_resumable_upload_is_abandoned_and_resumed() {
    let setup = setup_with_read_timeout(RESUMABLE).await;
    let path = big_video(&setup, 3);
    // The server sits on the request far longer than the read timeout.
    setup.emu.inject(Fault::new(
        Endpoint::ResumableUpload,
        FaultAction::Stall(Duration::from_secs(60)),
    ));
    let started = Instant::now();
    let run = setup.sync().await;
    run.expect_code(0);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "abandoned long before the stall ended"
    );
    setup.assert_created_once(&path);
    let state = setup.emu.state();
    assert_eq!(state.sessions.len(), 1, "the same session was resumed");
    assert_eq!(state.requests.get("query").copied(), Some(1));
    assert_eq!(state.requests.get("resumable_upload").copied(), Some(2));
    assert!(run.stderr.contains("will retry"), "{}", run.stderr);
    assert!(
        run.stderr.contains("read_timeout"),
        "the log names the setting:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_raw_upload_is_abandoned_and_sent_again() {
    let setup = setup_with_read_timeout("").await;
    let path = setup
        .add_fixtures(&setup.camera, &["IMG_0002.JPG"])
        .remove(0);
    setup.emu.inject(Fault::new(
        Endpoint::RawUpload,
        FaultAction::Stall(Duration::from_secs(60)),
    ));
    let started = Instant::now();
    setup.sync().await.expect_code(0);
    assert!(started.elapsed() < Duration::from_secs(40));
    setup.assert_created_once(&path);
    assert_eq!(
        setup.emu.state().requests.get("raw_upload").copied(),
        Some(2)
    );
}
