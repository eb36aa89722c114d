//! `gphotosd retry [--all | PATH…]`: queue failed files again with a fresh attempt count,
//! and run failed after-upload actions (delete, move) again. Works beside a running daemon
//! (it picks both up within a second).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, WatchConfig};
use crate::store::{Db, StoreError};

use super::load_config;

pub(super) fn retry(config_path: &Path, all: bool, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    if !all && paths.is_empty() {
        anyhow::bail!("name the files to retry, or pass --all for every failed file");
    }
    let db_path = config.database_path();
    if !db_path.exists() {
        anyhow::bail!(
            "no database at {}: nothing has failed yet",
            db_path.display()
        );
    }
    let mut db = Db::open(&db_path)?;
    let absolute: Vec<PathBuf> = paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let uploads = db.retry_failed((!all).then_some(absolute.as_slice()))?;
    let actions = if all {
        let rows = db.after_upload_failures(usize::MAX)?;
        let paths: Vec<PathBuf> = rows.into_iter().map(|r| r.path).collect();
        rearm_after_upload(&mut db, &config, &paths)?
    } else {
        rearm_after_upload(&mut db, &config, &absolute)?
    };
    println!("{uploads} failed file(s) queued again");
    if actions > 0 {
        println!("{actions} after-upload action(s) to run again");
    }
    if uploads + actions == 0 && !all {
        eprintln!(
            "(only failed files and failed after-upload actions can be retried; \
             `gphotosd status PATH` says what happened to a file)"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Arms the after-upload action the configuration now names for each path whose action
/// failed (the configuration may have been fixed since); a folder now set to `keep` just
/// drops the failure. Returns how many paths had a failed action.
fn rearm_after_upload(
    db: &mut Db,
    config: &Config,
    paths: &[PathBuf],
) -> Result<usize, StoreError> {
    let mut n = 0;
    for path in paths {
        let action = watch_of(&config.watch, path).and_then(|w| w.after_upload.stored_action());
        if db.retry_after_upload(path, action.as_deref())? {
            n += 1;
        }
    }
    Ok(n)
}

/// The watched folder `path` is in (the innermost, when folders nest).
fn watch_of<'a>(watches: &'a [WatchConfig], path: &Path) -> Option<&'a WatchConfig> {
    watches
        .iter()
        .filter(|w| path.starts_with(&w.path))
        .max_by_key(|w| w.path.components().count())
}
