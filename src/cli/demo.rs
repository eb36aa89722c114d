//! `gphotosd demo`: the real pipeline, offline, against the bundled Google Photos
//! emulator on 127.0.0.1, over a generated camera folder of real media. Nothing leaves the
//! machine and no Google account is touched.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gphotos_emulator::{Config as EmulatorConfig, Emulator};
use tokio_util::sync::CancellationToken;

use crate::auth::{SCOPE_APPENDONLY, SCOPE_READ_APP_CREATED, TokenFile};
use crate::config::Config;
use crate::pipeline::{self, Mode};
use crate::store::{Db, FileState};

use super::progress;

/// Real media (the project's test fixtures) laid out like a camera card and a phone
/// export, with the clutter those bring along.
const CAMERA_FILES: &[(&str, &[u8])] = &[
    (
        "DCIM/100GOPRO/GOPR0001.JPG",
        include_bytes!("../../tests/fixtures/GOPR0001.JPG"),
    ),
    (
        "DCIM/100GOPRO/GX010001.MP4",
        include_bytes!("../../tests/fixtures/GX010001.MP4"),
    ),
    (
        "DCIM/100GOPRO/GL010001.LRV",
        include_bytes!("../../tests/fixtures/GL010001.LRV"),
    ),
    (
        "DCIM/100GOPRO/GX010001.THM",
        include_bytes!("../../tests/fixtures/GX010001.THM"),
    ),
    (
        "DCIM/100GOPRO/GX020001.MP4",
        include_bytes!("../../tests/fixtures/GX020001.MP4"),
    ),
    (
        "Phone/IMG_0002.JPG",
        include_bytes!("../../tests/fixtures/IMG_0002.JPG"),
    ),
    (
        "Phone/IMG_0004.HEIC",
        include_bytes!("../../tests/fixtures/IMG_0004.HEIC"),
    ),
    (
        "Phone/IMG_0005.WEBP",
        include_bytes!("../../tests/fixtures/IMG_0005.WEBP"),
    ),
    (
        "Phone/MVI_0006.MOV",
        include_bytes!("../../tests/fixtures/MVI_0006.MOV"),
    ),
    (
        "Phone/CORRUPT.JPG",
        include_bytes!("../../tests/fixtures/CORRUPT.JPG"),
    ),
    ("Phone/EMPTY.JPG", b""),
    (
        "Phone/notes.txt",
        include_bytes!("../../tests/fixtures/notes.txt"),
    ),
    ("Phone/._IMG_0002.JPG", b"AppleDouble"),
    ("@eaDir/IMG_0002.JPG/SYNOPHOTO_THUMB_M.jpg", b"thumbnail"),
];

/// The album the demo's files go to.
const ALBUM: &str = "gphotosd demo";

pub(super) async fn demo(keep: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &keep
        && std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
    {
        // It writes config.toml and client_secret.json: never over a real installation's.
        anyhow::bail!(
            "--keep {}: the folder is not empty; give a new or empty folder (the demo writes \
             config.toml, client_secret.json, camera/ and state/ into it)",
            dir.display()
        );
    }
    println!("=== gphotosd demo ===");
    println!("This runs the real gphotosd pipeline against a Google Photos emulator on");
    println!("127.0.0.1. Nothing is sent to Google and no Google account is touched.\n");

    let temp = tempfile::tempdir()?;
    let root = match &keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => temp.path().to_owned(),
    };
    let camera = root.join("camera");
    for (name, bytes) in CAMERA_FILES {
        let path = camera.join(name);
        std::fs::create_dir_all(path.parent().unwrap_or(&camera))?;
        std::fs::write(&path, bytes)?;
    }
    println!(
        "Camera folder: {} ({} files)",
        camera.display(),
        CAMERA_FILES.len()
    );

    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    println!("Emulator:      {}\n", emulator.base_url());
    let config = write_setup(&root, &camera, &emulator)?;

    let stop = CancellationToken::new();
    let progress = tokio::spawn(progress::show(config.clone(), stop.clone()));
    let outcome = pipeline::run(config.clone(), Mode::Sync, CancellationToken::new(), || {}).await;
    stop.cancel();
    let _ = progress.await;
    let outcome = outcome?;

    print_result(&config, &emulator)?;
    let created = emulator.state().items.len();
    emulator.shutdown().await;
    if keep.is_some() {
        println!(
            "\nKept everything in {}; `gphotosd --config {}/config.toml status` shows the final state.",
            root.display(),
            root.display()
        );
    }
    Ok(
        if outcome.counts.failed == 0 && outcome.counts.unfinished() == 0 && created > 0 {
            println!("\nDemo finished: {created} media items created, each exactly once.");
            ExitCode::SUCCESS
        } else {
            println!("\nDemo did not finish cleanly.");
            ExitCode::FAILURE
        },
    )
}

fn write_setup(root: &Path, camera: &Path, emulator: &Emulator) -> anyhow::Result<Config> {
    let client = root.join("client_secret.json");
    std::fs::write(&client, emulator.installed_client_json().to_string())?;
    let state = root.join("state");
    let refresh = emulator.grant_refresh_token(&[SCOPE_APPENDONLY, SCOPE_READ_APP_CREATED]);
    TokenFile::new(&emulator.client_id(), &emulator.client_secret(), &refresh)
        .save(&state.join("token.json"))?;
    let text = format!(
        r#"[google]
client_secret_file = "{client}"
api_url = "{api}"
[state]
dir = "{state}"
[upload]
raw_threshold = "256 KiB"
[create]
idle = "500ms"
[scan]
# The demo's files are finished copies made a moment ago: no quiet period to wait for.
settle = "0s"
[[watch]]
path = "{camera}"
album = "{ALBUM}"
"#,
        client = client.display(),
        api = emulator.base_url(),
        state = state.display(),
        camera = camera.display(),
    );
    let path = root.join("config.toml");
    std::fs::write(&path, text)?;
    Ok(Config::load(&path)?)
}

fn print_result(config: &Config, emulator: &Emulator) -> anyhow::Result<()> {
    let state = emulator.state();
    println!("\nCreated in the (emulated) Google Photos library:");
    for item in &state.items {
        let albums: Vec<&str> = state
            .albums
            .iter()
            .filter(|a| item.album_ids.contains(&a.id))
            .map(|a| a.title.as_str())
            .collect();
        println!(
            "  {:<16} {:<16} {:>11}  sha256 {}…  album: {}",
            item.filename,
            item.mime_type,
            bytesize::ByteSize::b(item.size).to_string(),
            &item.sha256[..12.min(item.sha256.len())],
            albums.join(", ")
        );
    }
    let db = Db::open_read_only(&config.database_path())?;
    println!("\nNot uploaded, with the reason:");
    for row in db.files_in_state(FileState::Skipped, 100)? {
        println!(
            "  {:<16} {}",
            row.path.file_name().unwrap_or_default().to_string_lossy(),
            row.reason.unwrap_or_default()
        );
    }
    println!("  (dot files, AppleDouble files and @eaDir folders are ignored without a record)");
    let requests: u64 = state.api_requests_today;
    println!(
        "\nAPI requests spent: {requests} for {} items ({} violations of Google's rules)",
        state.items.len(),
        state.violations.len()
    );
    Ok(())
}
