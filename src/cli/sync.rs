//! `gphotosd sync`: one pass over the watched folders, for cron and first backfills.

use std::path::Path;
use std::process::ExitCode;

use crate::pipeline::{self, Mode};

use super::{EXIT_PAUSED, load_config, shutdown_on_signals};

pub(super) async fn sync(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let shutdown = shutdown_on_signals()?;
    let stop_progress = tokio_util::sync::CancellationToken::new();
    let shown = tokio::spawn(super::progress::show(config.clone(), stop_progress.clone()));
    let outcome = pipeline::run(config, Mode::Sync, shutdown, || {}).await;
    stop_progress.cancel();
    let _ = shown.await;
    let outcome = outcome?;
    let c = &outcome.counts;
    eprintln!(
        "gphotosd: {} done, {} failed, {} skipped, {} not finished",
        c.done,
        c.failed,
        c.skipped,
        c.unfinished()
    );
    for row in &outcome.failed {
        eprintln!(
            "failed: {}: {}",
            row.path.to_string_lossy(),
            row.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    if let Some(pause) = &outcome.pause {
        eprintln!("paused ({}): {}", pause.reason.as_str(), pause.message);
        return Ok(ExitCode::from(EXIT_PAUSED));
    }
    Ok(if c.failed > 0 || c.unfinished() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
