//! The watcher: the running daemon notices every new file, only once it is complete, and
//! never uploads the same content twice. Settle and poll periods are short here; every
//! wait polls with a deadline.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gphotosd::config::Config;
use gphotosd::store::{Db, FileState};

use crate::helpers::*;

pub(crate) const LONG: Duration = Duration::from_secs(60);

/// Config sections with fast uploads, a short settle and poll, and a periodic scan too
/// rare to find anything during a test (only the watcher can). `scan` adds `[scan]` keys,
/// `rest` more sections or `[[watch]]` keys (it follows the camera's `[[watch]]`).
pub(crate) fn write_watch_config(setup: &Setup, scan: &str, rest: &str) {
    setup.write_raw_config(&format!(
        r#"{rest}
[upload]
workers = 2
requests_per_second = 200
retry_base = "100ms"
retry_max = "1s"
[create]
idle = "200ms"
[scan]
interval = "1h"
settle = "700ms"
poll_interval = "200ms"
{scan}
"#
    ));
}

/// Waits until the daemon recorded every watched folder as healthy in `mode`.
pub(crate) async fn wait_watching(setup: &Setup, mode: &str) {
    setup
        .wait_db(&format!("the folders are watched ({mode})"), LONG, |db| {
            let roots = db.watch_roots().unwrap_or_default();
            !roots.is_empty() && roots.iter().all(|r| r.healthy && r.mode == mode)
        })
        .await;
}

pub(crate) fn is_done(db: &Db, path: &Path) -> bool {
    db.file_by_path(path)
        .ok()
        .flatten()
        .is_some_and(|r| r.state == FileState::Done)
}

pub(crate) async fn wait_done(setup: &Setup, paths: &[PathBuf]) {
    setup
        .wait_db("the files are done", LONG, |db| {
            paths.iter().all(|p| is_done(db, p))
        })
        .await;
}

fn requests(setup: &Setup, kind: &str) -> u64 {
    setup.emu.state().requests.get(kind).copied().unwrap_or(0)
}

/// Writes `bytes` to `path` in `pieces`, pausing `pause` between them, the file open all
/// along: a camera or a slow network copy.
fn write_slowly(path: &Path, bytes: &[u8], pieces: usize, pause: Duration) {
    let mut f = File::create(path).unwrap();
    write_chunks(&mut f, bytes, pieces, pause);
}

pub(crate) fn write_chunks(f: &mut File, bytes: &[u8], pieces: usize, pause: Duration) {
    for chunk in bytes.chunks(bytes.len().div_ceil(pieces)) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(pause); // the writer's pace, not a synchronisation
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowly_written_file_is_uploaded_once_and_complete() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let mut daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;

    let path = setup.camera.join("GX010001.MP4");
    let bytes = std::fs::read(fixture("GX010001.MP4")).unwrap();
    // Pauses shorter and then longer than the settle period, the file open all along:
    // the open writer holds it back.
    let p = path.clone();
    tokio::task::spawn_blocking(move || {
        let mut f = File::create(&p).unwrap();
        let (first, rest) = bytes.split_at(bytes.len() / 2);
        write_chunks(&mut f, first, 6, Duration::from_millis(300));
        std::thread::sleep(Duration::from_millis(1500));
        write_chunks(&mut f, rest, 2, Duration::from_millis(300));
    })
    .await
    .unwrap();

    wait_done(&setup, std::slice::from_ref(&path)).await;
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 1, "{:?}", state.items);
    assert_eq!(
        state.items[0].sha256,
        sha256_hex(&path),
        "the final content"
    );
    assert_eq!(requests(&setup, "raw_upload"), 1, "uploaded once");
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    assert!(!daemon.log().contains("changed while"), "{}", daemon.log());
    daemon.signal(15);
    assert_eq!(daemon.wait_exit(LONG).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_through_a_temporary_name_gives_one_job() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;

    // rsync writes `.NAME.XXXXXX` then renames; browsers and curl use `NAME.part`.
    let copies = [
        (".IMG_0002.JPG.Xa3f9q", "IMG_0002.JPG"),
        ("GX020001.MP4.part", "GX020001.MP4"),
    ];
    let mut finals = Vec::new();
    for (temp, name) in copies {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let (temp, fin) = (setup.camera.join(temp), setup.camera.join(name));
        let t = temp.clone();
        tokio::task::spawn_blocking(move || {
            write_slowly(&t, &bytes, 4, Duration::from_millis(250));
        })
        .await
        .unwrap();
        std::fs::rename(&temp, &fin).unwrap();
        finals.push(fin);
    }
    wait_done(&setup, &finals).await;

    let rows = setup.db().all_files().unwrap();
    let paths: Vec<_> = rows.iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 2, "one row per final name: {paths:?}");
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 2);
    assert_eq!(requests(&setup, "raw_upload"), 2, "one upload each");
    for f in &finals {
        let name = f.file_name().unwrap().to_string_lossy();
        let item = state.items.iter().find(|i| i.filename == name).unwrap();
        assert_eq!(item.sha256, sha256_hex(f));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluttered_camera_folder_queues_only_the_media_and_says_why_for_the_rest() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;

    // A card copied in while the daemon runs: media, sidecars, junk, NAS and OS clutter.
    let dcim = setup.camera.join("DCIM/100GOPRO");
    let media = setup.add_fixtures(&dcim, MEDIA);
    setup.add_fixtures(&dcim, CLUTTER);
    let sidecar = |name: &str, bytes: &[u8]| {
        std::fs::write(dcim.join(name), bytes).unwrap();
        dcim.join(name)
    };
    let xmp = sidecar("GOPR0001.xmp", b"<x:xmpmeta/>");
    let aae = sidecar("IMG_0002.AAE", b"<plist/>");
    let ignored: Vec<PathBuf> = [
        "._GOPR0001.JPG",
        ".DS_Store",
        "Thumbs.db",
        "desktop.ini",
        "@eaDir/GOPR0001.JPG/SYNOPHOTO_THUMB_M.jpg",
        "#recycle/IMG_0002.JPG",
        ".Trash-1000/files/IMG_0002.JPG",
    ]
    .iter()
    .map(|rel| {
        let p = setup.camera.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(fixture("IMG_0002.JPG"), &p).unwrap();
        p
    })
    .collect();

    wait_done(&setup, &media).await;
    let skipped: Vec<(PathBuf, &str)> = vec![
        (dcim.join("GL010001.LRV"), "sidecar"),
        (dcim.join("GX010001.THM"), "sidecar"),
        (xmp, "sidecar"),
        (aae, "sidecar"),
        (dcim.join("CORRUPT.JPG"), "not a photo or video"),
        (dcim.join("EMPTY.JPG"), "empty"),
        (dcim.join("notes.txt"), "not a supported"),
    ];
    setup
        .wait_db("the clutter is recorded as skipped", LONG, |db| {
            skipped.iter().all(|(p, _)| {
                db.file_by_path(p)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.state == FileState::Skipped)
            })
        })
        .await;
    for (path, why) in &skipped {
        let reason = setup.row(path).reason.unwrap_or_default();
        assert!(reason.contains(why), "{}: {reason}", path.display());
    }
    // Names that are never looked at have no row; their reason comes from the path.
    let config = Config::load(&setup.config_path).unwrap();
    let db = setup.db();
    for path in &ignored {
        assert!(
            db.file_by_path(path).unwrap().is_none(),
            "{}",
            path.display()
        );
        let why = gphotosd::watch::explain(&config.watch, path);
        assert!(
            why.is_some_and(|w| w.contains("ignored")),
            "{}",
            path.display()
        );
    }
    let state = setup.emu.state();
    assert_eq!(state.items.len(), MEDIA.len(), "{:?}", state.items);
    assert_eq!(
        db.all_files().unwrap().len(),
        MEDIA.len() + skipped.len(),
        "nothing else was recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_folder_of_uploaded_files_costs_no_upload_even_when_touched() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;
    let trip = setup.camera.join("trip");
    let files = setup.add_fixtures(&trip, &["GOPR0001.JPG", "IMG_0002.JPG", "GX020001.MP4"]);
    wait_done(&setup, &files).await;
    let (uploads, creates) = (
        requests(&setup, "raw_upload"),
        requests(&setup, "batch_create"),
    );
    assert_eq!(uploads, 3);

    let renamed = setup.camera.join("Iceland 2024");
    std::fs::rename(&trip, &renamed).unwrap();
    let moved: Vec<PathBuf> = files
        .iter()
        .map(|f| renamed.join(f.file_name().unwrap()))
        .collect();
    wait_done(&setup, &moved).await;
    // `touch`: new mtimes, same bytes.
    let later = SystemTime::now() + Duration::from_secs(5);
    for f in &moved {
        File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    setup
        .wait_db(
            "the touched files are recorded again and done",
            LONG,
            |db| {
                moved.iter().all(|p| {
                    let (size, mtime, inode) = gphotosd::watch::scan::identity(p).unwrap();
                    is_done(db, p) && db.is_unchanged(p, size, mtime, inode).unwrap()
                })
            },
        )
        .await;
    let state = setup.emu.state();
    assert_eq!(state.items.len(), 3, "no new media item");
    assert_eq!(requests(&setup, "raw_upload"), uploads, "no upload");
    assert_eq!(requests(&setup, "batch_create"), creates, "no create");
    for p in &moved {
        setup.assert_alias_of_existing_item(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_finds_new_files_in_new_folders() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "watch_mode = \"poll\"", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "poll").await;
    let deep = setup.camera.join("2024/07/14");
    let files = setup.add_fixtures(&deep, &["IMG_0002.JPG", "MVI_0006.MOV"]);
    wait_done(&setup, &files).await;
    assert_eq!(setup.emu.state().items.len(), 2);
    let root = &setup.db().watch_roots().unwrap()[0];
    assert!(
        root.message.as_deref().unwrap_or("").contains("polling"),
        "{root:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_that_vanishes_and_returns_is_watched_again() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "watch_mode = \"native\"", "");
    let mut daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;
    let before = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    wait_done(&setup, &before).await;

    // Unmounted: the folder goes away. The daemon keeps running and says so.
    let away = setup.dir.path().join("camera.unmounted");
    std::fs::rename(&setup.camera, &away).unwrap();
    setup
        .wait_db("status says the folder is missing", LONG, |db| {
            db.watch_roots()
                .unwrap_or_default()
                .iter()
                .any(|r| !r.healthy && r.message.as_deref().unwrap_or("").contains("missing"))
        })
        .await;
    // Another card is mounted there: a new folder with a file already on it.
    std::fs::create_dir(&setup.camera).unwrap();
    let while_away = setup.add_fixtures(&setup.camera, &["GOPR0001.JPG"]);
    wait_watching(&setup, "native").await;
    wait_done(&setup, &while_away).await;
    // Re-armed: a new file is noticed by the watcher (the periodic scan is an hour away).
    let after = setup.add_fixtures(&setup.camera.join("DCIM"), &["IMG_0005.WEBP"]);
    wait_done(&setup, &after).await;
    assert_eq!(setup.emu.state().items.len(), 3);
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");
    assert!(daemon.log().contains("missing"), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_is_looked_at_again_when_it_grows() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "");
    let _daemon = setup.spawn_daemon();
    wait_watching(&setup, "native").await;
    let path = setup.camera.join("IMG_0002.JPG");
    File::create(&path).unwrap();
    setup
        .wait_db("the empty file is skipped", LONG, |db| {
            db.file_by_path(&path)
                .ok()
                .flatten()
                .is_some_and(|r| r.state == FileState::Skipped)
        })
        .await;
    assert!(setup.row(&path).reason.unwrap().contains("empty"));
    std::fs::copy(fixture("IMG_0002.JPG"), &path).unwrap();
    wait_done(&setup, std::slice::from_ref(&path)).await;
    assert_eq!(setup.emu.state().items[0].sha256, sha256_hex(&path));
}

/// A sparse file of `size` bytes starting with the header of `fixture`.
fn sparse(path: &Path, fixture_name: &str, size: u64) {
    let head = std::fs::read(fixture(fixture_name)).unwrap();
    let mut f = File::create(path).unwrap();
    f.write_all(&head[..head.len().min(64 * 1024)]).unwrap();
    f.set_len(size).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_over_200_mb_and_videos_over_20_gb_are_refused_before_a_byte_is_sent() {
    let setup = Setup::new().await;
    let photo = setup.camera.join("HUGE.JPG");
    let video = setup.camera.join("HUGE.MP4");
    sparse(&photo, "GOPR0001.JPG", 200_000_001);
    sparse(&video, "GX010001.MP4", 20_000_000_001);
    let ok = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"]);
    setup.sync().await.expect_code(0);
    assert!(setup.row(&photo).reason.unwrap().contains("200 MB"));
    assert!(setup.row(&video).reason.unwrap().contains("20 GB"));
    assert_eq!(setup.row(&photo).state, FileState::Skipped);
    assert_eq!(setup.row(&video).state, FileState::Skipped);
    assert_eq!(setup.row(&ok[0]).state, FileState::Done);
    let state = setup.emu.state();
    assert_eq!(
        state.bytes_received,
        std::fs::metadata(&ok[0]).unwrap().len()
    );
    assert_eq!(requests(&setup, "resumable_start"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_and_exclude_globs_narrow_a_watch() {
    let setup = Setup::new().await;
    let globs = "exclude = [\"Private\", \"raw/**\"]\ninclude = [\"*.jpg\", \"clips/*.mp4\"]";
    write_watch_config(&setup, "", globs);
    let up = [
        setup.add_fixtures(&setup.camera, &["GOPR0001.JPG"]),
        setup.add_fixtures(&setup.camera.join("clips"), &["GX020001.MP4"]),
    ]
    .concat();
    let not_up = [
        setup.add_fixtures(&setup.camera.join("a/Private"), &["IMG_0002.JPG"]),
        setup.add_fixtures(&setup.camera.join("raw/2024"), &["IMG_0002.JPG"]),
        setup.add_fixtures(&setup.camera, &["IMG_0005.WEBP"]),
        setup.add_fixtures(&setup.camera.join("other"), &["GX020001.MP4"]),
    ]
    .concat();
    setup.sync().await.expect_code(0);
    for p in &up {
        assert_eq!(setup.row(p).state, FileState::Done, "{}", p.display());
    }
    let config = Config::load(&setup.config_path).unwrap();
    let db = setup.db();
    for p in &not_up {
        assert!(db.file_by_path(p).unwrap().is_none(), "{}", p.display());
        let why = gphotosd::watch::explain(&config.watch, p).unwrap();
        assert!(why.contains("include") || why.contains("exclude"), "{why}");
    }
    assert_eq!(setup.emu.state().items.len(), up.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_are_followed_only_when_configured_and_loops_never() {
    let setup = Setup::new().await;
    let outside = setup.dir.path().join("elsewhere");
    let linked = setup.add_fixtures(&outside, &["IMG_0002.JPG"]);
    std::os::unix::fs::symlink(&outside, setup.camera.join("linked")).unwrap();
    std::os::unix::fs::symlink(&setup.camera, setup.camera.join("loop")).unwrap();
    std::os::unix::fs::symlink(&linked[0], setup.camera.join("file-link.jpg")).unwrap();
    let own = setup.add_fixtures(&setup.camera, &["GOPR0001.JPG"]);

    setup.sync().await.expect_code(0);
    assert_eq!(
        setup.db().all_files().unwrap().len(),
        1,
        "links are not followed"
    );
    assert_eq!(setup.row(&own[0]).state, FileState::Done);

    write_watch_config(&setup, "", "follow_symlinks = true");
    setup.sync().await.expect_code(0);
    let via_link = setup.camera.join("linked/IMG_0002.JPG");
    assert_eq!(setup.row(&via_link).state, FileState::Done);
    assert_eq!(
        setup.row(&setup.camera.join("file-link.jpg")).state,
        FileState::Done
    );
    let rows = setup.db().all_files().unwrap();
    assert_eq!(rows.len(), 3, "the loop adds nothing: {rows:?}");
    assert_eq!(
        setup.emu.state().items.len(),
        2,
        "the same bytes twice: one item"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn album_templates_make_one_album_per_folder_and_month() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "album = \"{folder} {year}-{month}\"");
    let iceland = setup.camera.join("Iceland");
    let files = setup.add_fixtures(&iceland, &["GOPR0001.JPG", "IMG_0002.JPG", "IMG_0003.PNG"]);
    // No EXIF in these two: their mtime (2021-03-15) decides.
    let march = SystemTime::UNIX_EPOCH + Duration::from_secs(1_615_800_000);
    for f in &files[1..] {
        File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(march)
            .unwrap();
    }
    setup.sync().await.expect_code(0);
    let state = setup.emu.state();
    let mut titles: Vec<&str> = state.albums.iter().map(|a| a.title.as_str()).collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        ["Iceland 2021-03", "Iceland 2024-07"],
        "each album once"
    );
    let album_of = |name: &str| {
        let item = state.items.iter().find(|i| i.filename == name).unwrap();
        let id = &item.album_ids[0];
        state
            .albums
            .iter()
            .find(|a| &a.id == id)
            .unwrap()
            .title
            .clone()
    };
    assert_eq!(
        album_of("GOPR0001.JPG"),
        "Iceland 2024-07",
        "EXIF DateTimeOriginal"
    );
    assert_eq!(album_of("IMG_0003.PNG"), "Iceland 2021-03");
    assert_eq!(requests(&setup, "albums_create"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_upload_moves_or_deletes_only_files_whose_item_exists() {
    let setup = Setup::new().await;
    let done = setup.dir.path().join("uploaded");
    let second = setup.dir.path().join("phone");
    let keys = format!(
        "after_upload = \"move:{}\"\n[[watch]]\npath = \"{}\"\nafter_upload = \"delete\"",
        done.display(),
        second.display()
    );
    write_watch_config(&setup, "", &keys);
    let moved = setup.add_fixtures(&setup.camera.join("DCIM"), &["GOPR0001.JPG", "CORRUPT.JPG"]);
    let deleted = setup.add_fixtures(&second, &["IMG_0002.JPG", "notes.txt"]);
    setup.sync().await.expect_code(0);

    assert!(!moved[0].exists());
    assert_eq!(
        sha256_hex(&done.join("DCIM/GOPR0001.JPG")),
        sha256_hex(&fixture("GOPR0001.JPG"))
    );
    assert!(setup.row(&moved[0]).reason.unwrap().contains("moved to"));
    assert!(!deleted[0].exists());
    assert!(setup.row(&deleted[0]).reason.unwrap().contains("deleted"));
    // Skipped files are never touched.
    assert!(moved[1].exists() && deleted[1].exists());
    assert!(!done.join("DCIM/CORRUPT.JPG").exists());
    assert_eq!(setup.emu.state().items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_after_upload_never_deletes_a_copy_matched_to_an_earlier_item() {
    let setup = Setup::new().await;
    write_watch_config(&setup, "", "after_upload = \"delete\"");
    let first = setup.add_fixtures(&setup.camera, &["IMG_0002.JPG"])[0].clone();
    setup.sync().await.expect_code(0);
    assert!(!first.exists(), "its own upload: deleted");
    // The user deletes it in the Google Photos app, then the same photo comes back.
    let id = setup.emu.state().items[0].id.clone();
    assert!(setup.emu.delete_item(&id));
    let again = setup.add_fixtures(&setup.camera.join("reimport"), &["IMG_0002.JPG"])[0].clone();
    setup.sync().await.expect_code(0);
    assert!(again.exists(), "matched to an earlier item: kept");
    let reason = setup.row(&again).reason.unwrap_or_default();
    assert!(reason.contains("left in place"), "{reason}");
}
