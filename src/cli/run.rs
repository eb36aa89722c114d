//! `gphotosd run`: the daemon.

use std::path::Path;
use std::process::ExitCode;

use crate::pipeline::{self, Mode};
use crate::systemd;

use super::{load_config, shutdown_on_signals};

pub(super) async fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let shutdown = shutdown_on_signals()?;
    let on_stop = shutdown.clone();
    tokio::spawn(async move {
        on_stop.cancelled().await;
        systemd::stopping();
    });
    let reporter_stop = shutdown.child_token();
    let (reporter_config, reporter_token) = (config.clone(), reporter_stop.clone());
    pipeline::run(config, Mode::Daemon, shutdown, move || {
        tracing::info!("ready");
        systemd::ready();
        // Status and watchdog messages start after READY=1, as systemd expects.
        tokio::spawn(systemd::report(reporter_config, reporter_token));
    })
    .await?;
    reporter_stop.cancel();
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
