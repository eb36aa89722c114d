//! `gphotosd sync`: one pass over the watched folders, for cron and first backfills.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::pipeline::{self, Mode};

use super::{EXIT_PAUSED, load_config, shutdown_on_signals};

pub(super) async fn sync(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let shutdown = shutdown_on_signals()?;
    let stop_progress = tokio_util::sync::CancellationToken::new();
    let shown = tokio::spawn(super::progress::show(config.clone(), stop_progress.clone()));
    let watches = config.watch.clone();
    let incomplete_wait = config.scan.incomplete_wait;
    let settle = config.scan.settle;
    let outcome = pipeline::run(config, Mode::Sync, shutdown, || {}).await;
    stop_progress.cancel();
    let _ = shown.await;
    let outcome = outcome?;
    let c = &outcome.counts;
    let gone = if c.gone > 0 {
        format!(" ({} more uploaded, since moved away or deleted)", c.gone)
    } else {
        String::new()
    };
    eprintln!(
        "gphotosd: {} done{gone}, {} failed, {} skipped, {} not finished",
        c.done,
        c.failed,
        c.skipped,
        c.unfinished() + (outcome.incomplete.len() + outcome.settling.len()) as u64
    );
    for row in &outcome.failed {
        eprintln!(
            "failed: {}: {}",
            crate::paths::shown(&row.path),
            row.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    for row in &outcome.after_upload_failed {
        eprintln!(
            "after upload: {}: {} (fix it, then `gphotosd retry` this path)",
            crate::paths::shown(&row.path),
            row.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    // A folder that is not there (unmounted disk, typo) must not read as "all done".
    let missing: Vec<_> = watches.iter().filter(|w| !w.path.is_dir()).collect();
    for w in &missing {
        eprintln!(
            "missing: watched folder {} does not exist or is not mounted",
            crate::paths::shown(&w.path)
        );
    }
    for (dir, why) in &outcome.unreadable {
        eprintln!(
            "unreadable: cannot read the folder {} ({why}); its files were not uploaded",
            crate::paths::shown(dir)
        );
    }
    for (file, why) in &outcome.incomplete {
        eprintln!(
            "not finished: {} looks incomplete ({why}); a later sync uploads it once it is \
             complete or unchanged for {}",
            crate::paths::shown(file),
            humantime::format_duration(incomplete_wait)
        );
    }
    for (file, age) in &outcome.settling {
        eprintln!(
            "not finished: {} had been modified {} before this sync looked at it, within \
             [scan] settle ({}): it may still be being written; a later sync uploads it once \
             it is older",
            crate::paths::shown(file),
            humantime::format_duration(Duration::from_secs(age.as_secs())),
            humantime::format_duration(settle)
        );
    }
    if let Some(pause) = &outcome.pause {
        eprintln!("paused ({}): {}", pause.reason.as_str(), pause.message);
        return Ok(ExitCode::from(EXIT_PAUSED));
    }
    let left_out = !outcome.unreadable.is_empty()
        || !outcome.incomplete.is_empty()
        || !outcome.settling.is_empty()
        || !outcome.after_upload_failed.is_empty();
    Ok(
        if c.failed > 0 || c.unfinished() > 0 || !missing.is_empty() || left_out {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}
