//! `gphotos-emulator`: runs the emulator as a process for benchmarks, the demo and manual
//! poking. Prints `listening on http://127.0.0.1:PORT` as its first stdout line, then serves
//! until Ctrl-C / SIGTERM. Everything a test controls in-process is reachable over HTTP
//! under `/__emulator/` (see the crate README).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gphotos_emulator::{Config, Emulator, SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED};

/// Strict Google Photos Library API + OAuth emulator.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// X-Goog-Upload-Chunk-Granularity in bytes.
    #[arg(long, default_value_t = 262_144)]
    granularity: u64,
    /// Library API requests allowed per emulated Pacific day.
    #[arg(long, default_value_t = 10_000)]
    daily_quota: u64,
    /// Write requests allowed per user per minute.
    #[arg(long, default_value_t = 30)]
    writes_per_minute: u32,
    /// Account storage limit in bytes (unlimited when absent).
    #[arg(long)]
    storage_limit: Option<u64>,
    /// OAuth consent screen in "Testing": refresh tokens expire after 7 days.
    #[arg(long)]
    testing_mode: bool,
    /// Write the installed-app client JSON here.
    #[arg(long)]
    client_json: Option<PathBuf>,
    /// Write a refresh token (appendonly + readonly.appcreateddata) here.
    #[arg(long)]
    refresh_token_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config {
        granularity: cli.granularity,
        daily_quota: cli.daily_quota,
        writes_per_minute: cli.writes_per_minute,
        storage_limit_bytes: cli.storage_limit,
        testing_mode: cli.testing_mode,
        ..Config::default()
    };
    let emulator = Emulator::bind(SocketAddr::from(([127, 0, 0, 1], cli.port)), config)
        .await
        .context("binding the listener")?;
    if let Some(path) = &cli.client_json {
        let text = serde_json::to_string_pretty(&emulator.installed_client_json())?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &cli.refresh_token_file {
        let token = emulator.grant_refresh_token(&[SCOPE_APPENDONLY, SCOPE_READONLY_APPCREATED]);
        std::fs::write(path, token).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("listening on {}", emulator.base_url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    emulator.shutdown().await;
    Ok(())
}
