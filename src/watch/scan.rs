//! The reconciling scan: walks every watched folder and records what is new or changed.
//!
//! A file whose size, mtime and inode match its row is not opened at all, so a rescan of a
//! large, already uploaded tree costs one `stat` per file. Symbolic links are not followed
//! (a link loop cannot trap the walk, and nothing outside the folder is uploaded).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::WatchConfig;
use crate::store::{ScanOutcome, ScannedFile, Store, StoreError};

use super::filter;

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Folders that could not be read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Scans every watched folder. Runs blocking file-system work; call it from a blocking
/// thread.
pub fn scan_all(store: &Store, watches: &[WatchConfig]) -> Result<ScanReport, StoreError> {
    let mut report = ScanReport::default();
    for (index, watch) in watches.iter().enumerate() {
        scan_root(store, index + 1, watch, &mut report)?;
    }
    Ok(report)
}

struct Candidate {
    path: PathBuf,
    size: u64,
    mtime_ns: i64,
    inode: u64,
}

fn scan_root(
    store: &Store,
    watch_index: usize,
    watch: &WatchConfig,
    report: &mut ScanReport,
) -> Result<(), StoreError> {
    let mut dirs = vec![watch.path.clone()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                report.unreadable.push((dir, e.to_string()));
                continue;
            }
        };
        let mut candidates = Vec::new();
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if file_type.is_dir() {
                if filter::ignored_name(&name, true).is_none() {
                    dirs.push(entry.path());
                }
                continue;
            }
            if !file_type.is_file() || filter::ignored_name(&name, false).is_some() {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            candidates.push(Candidate {
                path: entry.path(),
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
                inode: meta.ino(),
            });
        }
        record(store, watch_index, watch, candidates, report)?;
    }
    Ok(())
}

fn record(
    store: &Store,
    watch_index: usize,
    watch: &WatchConfig,
    candidates: Vec<Candidate>,
    report: &mut ScanReport,
) -> Result<(), StoreError> {
    if candidates.is_empty() {
        return Ok(());
    }
    // Which files need a closer look: only those whose metadata differs from their row.
    let unknown: Vec<bool> = store.call_blocking(|db| {
        candidates
            .iter()
            .map(|c| {
                db.is_unchanged(&c.path, c.size, c.mtime_ns, c.inode)
                    .map(|same| !same)
            })
            .collect()
    })?;
    let scanned: Vec<ScannedFile> = candidates
        .into_iter()
        .zip(unknown)
        .filter_map(|(c, unknown)| {
            if !unknown {
                report.unchanged += 1;
                return None;
            }
            let verdict = filter::classify(&c.path, c.size);
            Some(ScannedFile {
                path: c.path,
                watch_index,
                album_title: watch.album.clone(),
                size: c.size,
                mtime_ns: c.mtime_ns,
                inode: c.inode,
                verdict,
            })
        })
        .collect();
    let outcomes = store.call_blocking(|db| {
        scanned
            .iter()
            .map(|f| db.upsert_scanned(f))
            .collect::<Result<Vec<_>, _>>()
    })?;
    for o in outcomes {
        match o {
            ScanOutcome::New => report.new += 1,
            ScanOutcome::Changed => report.changed += 1,
            ScanOutcome::Unchanged | ScanOutcome::InFlight => report.unchanged += 1,
        }
    }
    Ok(())
}

/// Modification time in nanoseconds since the epoch.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// Size, mtime and inode of `path`, as the store records them.
pub fn identity(path: &Path) -> std::io::Result<(u64, i64, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.len(), mtime_ns(&meta), meta.ino()))
}
