//! Interruptions of large uploads: cut connections, SIGKILL, SIGTERM. After each, the
//! upload resumes at the offset the server reports and exactly one item is created.

use std::path::PathBuf;
use std::time::Duration;

use gphotos_emulator::{Config as EmulatorConfig, Endpoint, Fault, FaultAction};
use gphotosd::store::FileState;

use crate::helpers::*;

const GRANULARITY: u64 = 256 * 1024;

fn big_video(setup: &Setup, mib: usize) -> PathBuf {
    setup.big_video("GX030001.MP4", mib, 0x9e37_79b9_7f4a_7c15)
}

async fn setup_resumable(extra: &str) -> Setup {
    let setup = Setup::with_emulator(EmulatorConfig {
        granularity: GRANULARITY,
        ..EmulatorConfig::default()
    })
    .await;
    setup.write_raw_config(&format!(
        "[upload]\nraw_threshold = \"64 KiB\"\nretry_base = \"100ms\"\nretry_max = \"1s\"\n{extra}\n[create]\nidle = \"200ms\"\n"
    ));
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_at_the_server_offset() {
    let setup = setup_resumable("").await;
    let path = big_video(&setup, 3);
    let size = std::fs::metadata(&path).unwrap().len();
    setup.emu.inject(Fault::new(
        Endpoint::ResumableUpload,
        FaultAction::CutAfter(1_000_000),
    ));
    setup.sync().await.expect_code(0);
    setup.assert_created_once(&path);
    let state = setup.emu.state();
    assert_eq!(state.sessions.len(), 1, "the same session was resumed");
    assert_eq!(state.requests.get("query").copied(), Some(1));
    // The server kept 3 granules of the first 1 000 000 bytes; only the rest was re-sent.
    let kept = 1_000_000 / GRANULARITY * GRANULARITY;
    assert_eq!(state.bytes_received, 1_000_000 + (size - kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_resumes_its_upload_where_the_server_stands() {
    // 1 MiB/s: the 6 MiB upload is in flight for seconds, long enough to kill it.
    let setup = setup_resumable("max_bytes_per_second = \"1 MiB\"").await;
    let path = big_video(&setup, 6);
    let size = std::fs::metadata(&path).unwrap().len();
    let mut daemon = setup.spawn_daemon();
    wait_until("the upload is under way", Duration::from_secs(60), || {
        setup.emu.state().bytes_received > 2 * GRANULARITY
    })
    .await;
    daemon.signal(9);
    daemon.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(
        setup.row(&path).state,
        FileState::Uploading,
        "the kill left it mid-flight"
    );
    // The server commits what arrived once it sees the connection gone.
    wait_until("the server kept the bytes", Duration::from_secs(10), || {
        setup.emu.state().sessions[0].received > 0
    })
    .await;
    let held = setup.emu.state().sessions[0].received;
    // Without a daemon, status calls it interrupted, not in progress.
    let shown = setup.command("status").output().await.unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("Interrupted uploads") && !text.contains("ETA"),
        "{text}"
    );
    let shown = setup.command("status").arg(&path).output().await.unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("interrupted mid-upload"), "{text}");

    // Without the bandwidth cap, the next run finishes quickly.
    setup.write_raw_config(
        "[upload]\nraw_threshold = \"64 KiB\"\nretry_base = \"100ms\"\n[create]\nidle = \"200ms\"\n",
    );
    setup.sync().await.expect_code(0);
    setup.assert_created_once(&path);
    let state = setup.emu.state();
    assert_eq!(
        state.sessions.len(),
        1,
        "the stored session was resumed, not replaced"
    );
    assert_eq!(state.requests.get("query").copied(), Some(1));
    // Re-sent at most the bytes after the last granularity boundary the server kept.
    let resent = state.bytes_received - size;
    assert!(resent < GRANULARITY, "re-sent {resent} bytes");
    // The attempt started at the server's offset: `status` rates only what it sent.
    assert_eq!(setup.row(&path).start_offset, held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_within_seconds_and_the_next_start_finishes() {
    let setup = setup_resumable("max_bytes_per_second = \"1 MiB\"").await;
    let path = big_video(&setup, 6);
    let mut daemon = setup.spawn_daemon();
    wait_until("the upload is under way", Duration::from_secs(60), || {
        setup.emu.state().bytes_received > 2 * GRANULARITY
    })
    .await;
    daemon.signal(15);
    let code = daemon.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(code, Some(0), "{}", daemon.log());
    let row = setup.row(&path);
    assert_eq!(row.state, FileState::Pending, "put back in the queue");

    setup.write_raw_config("[upload]\nraw_threshold = \"64 KiB\"\n[create]\nidle = \"200ms\"\n");
    setup.sync().await.expect_code(0);
    setup.assert_created_once(&path);
    assert_eq!(setup.emu.state().sessions.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_chunks_are_aligned_to_the_granularity() {
    let setup = setup_resumable("chunk_size = \"300 KiB\"").await;
    let path = big_video(&setup, 2);
    let size = std::fs::metadata(&path).unwrap().len();
    setup.sync().await.expect_code(0);
    setup.assert_created_once(&path);
    let chunks = setup
        .emu
        .state()
        .requests
        .get("resumable_upload")
        .copied()
        .unwrap();
    // 300 KiB rounds up to 512 KiB.
    assert_eq!(chunks, size.div_ceil(2 * GRANULARITY));
}
