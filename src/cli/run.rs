//! `gphotosd run`: the daemon.

use std::path::Path;
use std::process::ExitCode;

use crate::pipeline::{self, Mode};

use super::{load_config, shutdown_on_signals};

pub(super) async fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let shutdown = shutdown_on_signals()?;
    pipeline::run(config, Mode::Daemon, shutdown, || {
        tracing::info!("ready");
    })
    .await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
