//! What an operator touches: `status` (human and JSON), `status PATH`, `retry`, the systemd
//! notify protocol, completions and the man page, and the offline demo.

use std::path::Path;
use std::time::Duration;

use gphotos_emulator::{Config as EmulatorConfig, Endpoint, Fault, FaultAction};
use serde_json::Value;

use crate::helpers::*;

async fn status_text(setup: &Setup, args: &[&str]) -> String {
    let out = setup.command("status").args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_a_daemon_reports_the_last_state() {
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG", "notes.txt"]);
    let out = setup.command("status").output().await.unwrap();
    assert!(!out.status.success(), "no database yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has not run"));

    setup.sync().await.expect_code(0);
    let json = setup.status_json().await;
    assert_eq!(json["daemon"]["running"], false);
    assert_eq!(json["pause"], Value::Null);
    assert_eq!(json["counts"]["done"], 1);
    assert_eq!(json["counts"]["skipped"], 1);
    assert_eq!(json["counts"]["pending"], 0);
    assert_eq!(json["quota"]["budget"], 10_000);
    assert_eq!(
        json["quota"]["used_today"], 2,
        "one upload, one batchCreate"
    );
    assert!(json["quota"]["resets_at"].as_i64().unwrap() > 0);
    assert_eq!(
        json["watch"][0]["path"],
        setup.camera.to_string_lossy().as_ref()
    );
    assert_eq!(json["watch"][0]["healthy"], true);
    assert_eq!(json["failures"], Value::Array(vec![]));
    assert_eq!(json["in_flight"], Value::Array(vec![]));
    let text = status_text(&setup, &[]).await;
    assert!(text.contains("not running"), "{text}");
    assert!(text.contains("1 done"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_uploads_in_flight_of_a_live_daemon() {
    let setup = Setup::with_emulator(EmulatorConfig::default()).await;
    setup.write_raw_config(
        "[upload]\nraw_threshold = \"64 KiB\"\nmax_bytes_per_second = \"512 KiB\"\n",
    );
    let path = setup.camera.join("GX010001.MP4");
    let mut bytes = std::fs::read(fixture("GX010001.MP4")).unwrap();
    bytes.resize(8 << 20, 1);
    std::fs::write(&path, &bytes).unwrap();
    let mut daemon = setup.spawn_daemon();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let json = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no progress seen:\n{}",
            daemon.log()
        );
        // Until the daemon has created its database, status says so and fails.
        if let Ok(json) = setup.try_status_json().await
            && json["in_flight"][0]["bytes_sent"].as_u64().unwrap_or(0) > 0
        {
            break json;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(json["daemon"]["running"], true);
    assert_eq!(json["daemon"]["pid"], daemon.child.id().unwrap());
    assert_eq!(json["counts"]["uploading"], 1);
    assert_eq!(json["in_flight"][0]["size"], 8 << 20);
    assert_eq!(
        json["in_flight"][0]["path"],
        path.to_string_lossy().as_ref()
    );
    let text = status_text(&setup, &[]).await;
    assert!(text.contains("running (pid"), "{text}");
    assert!(
        text.contains("Uploading:") && text.contains('%') && text.contains('#'),
        "{text}"
    );
    daemon.signal(15);
    assert_eq!(daemon.wait_exit(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_pause_with_what_to_do_and_when_it_lifts() {
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    setup
        .emu
        .inject(Fault::new(Endpoint::RawUpload, FaultAction::DailyQuota).times(100));
    let mut daemon = setup.spawn_daemon();
    setup
        .wait_db("the daemon pauses", Duration::from_secs(30), |db| {
            db.daemon_row().is_ok_and(|d| d.pause.is_some())
        })
        .await;
    let json = setup.status_json().await;
    assert_eq!(json["pause"]["reason"], "daily_quota");
    assert!(json["pause"]["until"].as_i64().is_some());
    assert!(
        json["pause"]["message"]
            .as_str()
            .unwrap()
            .contains("midnight Pacific")
    );
    let text = status_text(&setup, &[]).await;
    assert!(text.contains("PAUSED (daily_quota)"), "{text}");
    assert!(text.contains("lifts by itself at"), "{text}");
    daemon.signal(15);
    assert_eq!(daemon.wait_exit(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_path_explains_done_skipped_failed_and_untracked_files_and_retry_fixes() {
    let setup = Setup::new().await;
    let files = setup.add_fixtures(
        &setup.camera,
        &["IMG_0002.JPG", "GOPR0001.JPG", "GL010001.LRV"],
    );
    std::fs::write(setup.camera.join(".hidden.jpg"), b"x").unwrap();
    setup.refuse_next_item_as_bad_image();
    setup.sync().await.expect_code(1);
    let (mut done, mut failed) = (None, None);
    for f in &files[..2] {
        let text = status_text(&setup, &[f.to_str().unwrap()]).await;
        if text.contains("state: done") {
            assert!(text.contains("media item: "), "{text}");
            done = Some(text);
        } else {
            assert!(text.contains("state: failed"), "{text}");
            assert!(text.contains("BAD_IMAGE"), "{text}");
            assert!(text.contains("gphotosd retry"), "{text}");
            failed = Some(f.clone());
        }
    }
    assert!(done.is_some());
    let failed = failed.expect("one file failed");
    let text = status_text(&setup, &[files[2].to_str().unwrap()]).await;
    assert!(
        text.contains("state: skipped") && text.contains("sidecar"),
        "{text}"
    );
    let hidden = setup.camera.join(".hidden.jpg");
    let text = status_text(&setup, &[hidden.to_str().unwrap()]).await;
    assert!(
        text.contains("not tracked") && text.contains("hidden"),
        "{text}"
    );

    let out = setup.command("retry").arg(&failed).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 failed file(s) queued again"));
    setup.sync().await.expect_code(0);
    assert_eq!(setup.emu.state().items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_speaks_the_systemd_notify_protocol_in_order() {
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    let socket_path = setup.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let mut cmd = setup.command("run");
    cmd.env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();

    let mut messages: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut stopping_sent = false;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "messages so far: {messages:?}"
        );
        let got = tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut buf)).await;
        if let Ok(Ok(n)) = got {
            messages.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            );
        }
        let watchdogs = messages.iter().filter(|m| *m == "WATCHDOG=1").count();
        let done_status = messages
            .iter()
            .any(|m| m.starts_with("STATUS=") && m.contains("1 done"));
        if !stopping_sent && watchdogs >= 2 && done_status {
            let pid = child.id().unwrap();
            std::process::Command::new("kill")
                .arg("-15")
                .arg(pid.to_string())
                .status()
                .unwrap();
            stopping_sent = true;
        }
        if messages.iter().any(|m| m == "STOPPING=1") {
            break;
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let pos = |pred: &dyn Fn(&String) -> bool| messages.iter().position(pred).unwrap();
    let ready = pos(&|m| m == "READY=1");
    let first_status = pos(&|m| m.starts_with("STATUS="));
    let first_watchdog = pos(&|m| m == "WATCHDOG=1");
    let stopping = pos(&|m| m == "STOPPING=1");
    assert!(
        ready < first_status && first_status < stopping,
        "{messages:?}"
    );
    assert!(
        ready < first_watchdog && first_watchdog < stopping,
        "{messages:?}"
    );
    assert!(
        messages.iter().filter(|m| m.starts_with("STATUS=")).count() >= 1,
        "{messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_the_man_page_are_generated() {
    let setup = Setup::new().await;
    for (args, needle) in [
        (vec!["completions", "bash"], "_gphotosd"),
        (vec!["man"], ".TH gphotosd"),
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gphotosd"))
            .args(&args)
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(needle),
            "{args:?}: {}",
            &text[..text.len().min(300)]
        );
    }
    drop(setup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_the_whole_pipeline_offline() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gphotosd"))
        .arg("demo")
        .arg("--keep")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no Google account is touched"), "{stdout}");
    assert!(stdout.contains("7 media items created"), "{stdout}");
    assert!(stdout.contains("0 violations"), "{stdout}");
    assert!(dir.path().join("state/gphotosd.db").exists());

    // A folder with files in it (a real /etc/gphotosd, say) is refused, untouched.
    let config = dir.path().join("config.toml");
    let before = std::fs::read(&config).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gphotosd"))
        .arg("demo")
        .arg("--keep")
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(std::fs::read(&config).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_after_upload_move_is_reported_and_retried() {
    let setup = Setup::new().await;
    let done = setup.dir.path().join("uploaded");
    crate::watch::write_watch_config(
        &setup,
        "",
        &format!("after_upload = \"move:{}\"", done.display()),
    );
    let photo = setup.add_fixtures(&setup.camera.join("DCIM"), &["IMG_0002.JPG"])[0].clone();
    // A file where the destination folder must go: the move cannot happen, even as root.
    std::fs::create_dir_all(&done).unwrap();
    std::fs::write(done.join("DCIM"), b"in the way").unwrap();

    let run = setup.sync().await;
    run.expect_code(1);
    let shown = photo.display().to_string();
    assert!(
        run.stderr.contains(&format!("after upload: {shown}"))
            && run
                .stderr
                .contains(&done.join("DCIM").display().to_string()),
        "{}",
        run.stderr
    );
    assert!(photo.exists(), "the file stays where it was");
    assert_eq!(setup.emu.state().items.len(), 1, "uploaded all the same");
    let json = setup.status_json().await;
    let listed = &json["after_upload_failures"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(listed[0]["path"], shown.as_str());
    assert!(json["failures"].as_array().unwrap().is_empty());
    let text = status_text(&setup, &[]).await;
    assert!(text.contains("after-upload action failed"), "{text}");
    // The same failure makes the next sync fail too, until it is dealt with.
    setup.sync().await.expect_code(1);

    std::fs::remove_file(done.join("DCIM")).unwrap();
    let out = setup.command("retry").arg(&photo).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 after-upload action"));
    setup.sync().await.expect_code(0);
    assert!(!photo.exists());
    assert!(done.join("DCIM/IMG_0002.JPG").exists());
    let json = setup.status_json().await;
    assert!(json["after_upload_failures"].as_array().unwrap().is_empty());
    assert_eq!(setup.emu.state().items.len(), 1, "nothing uploaded twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_access_to_the_state_says_so_not_that_nothing_ran() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new().await;
    setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    setup.sync().await.expect_code(0);
    let mode = |m| std::fs::Permissions::from_mode(m);
    std::fs::set_permissions(&setup.state, mode(0o000)).unwrap();
    let out = setup.command_unprivileged("status").output().await.unwrap();
    std::fs::set_permissions(&setup.state, mode(0o700)).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot read the database") && stderr.contains("sudo"),
        "{stderr}"
    );
    assert!(!stderr.contains("has not run"), "{stderr}");
}

/// The service user must be able to read its config in a root-owned ConfigurationDirectory
/// and to write its token before the first start (`sudo -u gphotosd gphotosd auth`).
#[test]
fn the_unit_lets_its_user_read_the_config_and_the_state_dir_exists_before_the_first_start() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let unit = std::fs::read_to_string(root.join("gphotosd.service")).unwrap();
    let mode = unit
        .lines()
        .find_map(|l| l.strip_prefix("ConfigurationDirectoryMode="))
        .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
        .unwrap_or(0o755);
    assert_eq!(
        mode & 0o005,
        0o005,
        "others (the service user) can enter and read"
    );
    let tmpfiles = std::fs::read_to_string(root.join("gphotosd.tmpfiles")).unwrap();
    let state: Vec<&str> = tmpfiles
        .lines()
        .find(|l| l.starts_with("d /var/lib/gphotosd"))
        .expect("the state dir is created at install")
        .split_whitespace()
        .collect();
    assert_eq!(&state[2..5], ["0700", "gphotosd", "gphotosd"]);
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let tmp = readme.find("systemd-tmpfiles --create").unwrap();
    let auth = readme.find("sudo -u gphotosd gphotosd --config").unwrap();
    let enable = readme.find("systemctl enable --now gphotosd").unwrap();
    assert!(
        tmp < auth && auth < enable,
        "README: folders, then auth, then the service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_copy_in_another_album_folder_says_it_was_not_added() {
    let setup = Setup::new().await;
    crate::watch::write_watch_config(&setup, "", "album = \"Cam {folder}\"");
    setup.add_fixtures(&setup.camera.join("trip"), &["IMG_0002.JPG"]);
    setup.sync().await.expect_code(0);
    let copy = setup.add_fixtures(&setup.camera.join("best"), &["IMG_0002.JPG"])[0].clone();
    setup.sync().await.expect_code(0);
    let out = setup.command("status").arg(&copy).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("album: Cam best (not added"), "{text}");
    let albums = setup.emu.state().albums;
    assert!(albums.iter().all(|a| a.title != "Cam best"), "{albums:?}");
}
