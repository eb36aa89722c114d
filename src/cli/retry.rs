//! `gphotosd retry [--all | PATH…]`: queue failed files again with a fresh attempt count.
//! Works beside a running daemon (its workers pick the files up within a second).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::store::Db;

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
    let n = db.retry_failed((!all).then_some(absolute.as_slice()))?;
    println!("{n} failed file(s) queued again");
    if n == 0 && !all {
        eprintln!(
            "(only failed files can be retried; `gphotosd status PATH` says what happened to a file)"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
