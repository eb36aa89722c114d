//! A folder inside a watched one that cannot be read: said plainly everywhere, no reason to
//! give up on the rest of the tree, and picked up once its permissions are fixed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gphotosd::store::FileState;

use crate::helpers::*;
use crate::watch::{LONG, is_done, wait_done, write_watch_config};

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn unprivileged(setup: &Setup, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = setup.command_unprivileged(args[0]);
    cmd.args(&args[1..]);
    let out = cmd.output().await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_folder_is_reported_and_picked_up_once_readable() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let ok = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    let locked = setup.camera.join("locked");
    let hidden = setup.add_fixtures(&locked, &["GOPR0001.JPG"]);
    set_mode(&locked, 0o000);

    // sync: the rest is uploaded, the folder is named, the exit code says not all done.
    let (code, _, stderr) = unprivileged(&setup, &["sync"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read the folder {}", locked.display()))
            && stderr.contains("permission denied"),
        "{stderr}"
    );
    assert_eq!(setup.row(&ok[0]).state, FileState::Done);

    let (_, json, _) = unprivileged(&setup, &["status", "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let message = report["watch"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("locked") && message.contains("permission denied"),
        "{json}"
    );
    assert_eq!(report["watch"][0]["healthy"], false, "{json}");
    let (_, text, _) = unprivileged(&setup, &["status", hidden[0].to_str().unwrap()]).await;
    assert!(
        text.contains("locked cannot be read (permission denied)"),
        "{text}"
    );

    // run: the rest of the tree stays on inotify.
    let _daemon = setup.spawn_unprivileged("run");
    setup
        .wait_db("the root is native and names the folder", LONG, |db| {
            db.watch_roots().unwrap_or_default().iter().any(|r| {
                r.mode == "native"
                    && !r.healthy
                    && r.message
                        .as_deref()
                        .is_some_and(|m| m.contains("permission denied"))
            })
        })
        .await;
    let fresh = setup.add_fixtures(&setup.camera.join("new"), &["IMG_0005.WEBP"]);
    wait_done(&setup, &fresh).await;
    assert!(!is_done(&setup.db(), &hidden[0]));

    // Fixed without a restart: the folder is watched and its file uploaded.
    set_mode(&locked, 0o755);
    wait_done(&setup, &hidden).await;
    setup
        .wait_db("the root is healthy again", LONG, |db| {
            db.watch_roots()
                .unwrap_or_default()
                .iter()
                .all(|r| r.healthy && r.mode == "native")
        })
        .await;
    let later = setup.add_fixtures(&locked, &["IMG_0004.HEIC"]);
    wait_done(&setup, &later).await;
    assert_eq!(setup.emu.state().items.len(), 4);
}
