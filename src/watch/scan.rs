//! The reconciling scan: walks watched folders and records what is new or changed.
//!
//! A file whose size, mtime and inode match its row is not opened at all, so a rescan of a
//! large, already uploaded tree costs one `stat` and one indexed lookup per file. What is
//! new is classified ([`filter::classify`], a read of its first KiB), given its album, and
//! recorded through [`Db::upsert_scanned`](crate::store::Db::upsert_scanned) — the same
//! path the watcher takes for a file that settled ([`record_files`]).
//!
//! In the daemon, a file modified less than a settle period ago may still be being
//! written: the scan hands it back ([`ScanReport::young`]) for the watcher to settle
//! instead of queueing it half-copied. A new or changed file whose structure says bytes
//! are missing ([`complete::check`]) and that was modified within `incomplete_wait` is not
//! recorded either ([`ScanReport::incomplete`]): the daemon holds it in its watcher, `sync`
//! reports it as not finished.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::{ScanOutcome, ScannedFile, Store, StoreError};

use super::complete::{self, Completeness};
use super::walk::{self, FoundFile, Identity, Visitor};
use super::{Watched, date, filter};

/// What one scan did.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Folders that could not be read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
    /// New or changed files too recently modified to queue: (`watch[N]`, file).
    pub young: Vec<(usize, FoundFile)>,
    /// New or changed files that look incomplete and were modified recently:
    /// (`watch[N]`, file, what is missing).
    pub incomplete: Vec<(usize, FoundFile, String)>,
}

/// Which files a scan leaves unrecorded, as still being written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Holds {
    /// Files modified within this period (`None`: no such hold).
    pub young: Option<Duration>,
    /// Files that look incomplete and were modified within this period (`None`: none are
    /// checked).
    pub incomplete: Option<Duration>,
}

/// Scans every watched folder. Files `holds` names are handed back instead of recorded
/// (the default records everything). Blocking: call from a blocking thread.
pub fn scan_all(
    store: &Store,
    watched: &[Watched],
    holds: Holds,
) -> Result<ScanReport, StoreError> {
    let mut report = ScanReport::default();
    for w in watched {
        scan_folder(store, w, &w.config.path, holds, &mut report)?;
    }
    Ok(report)
}

/// Scans `start`, the watched folder of `watched` or a folder below it.
pub fn scan_folder(
    store: &Store,
    watched: &Watched,
    start: &Path,
    holds: Holds,
    report: &mut ScanReport,
) -> Result<(), StoreError> {
    struct Scan<'a> {
        store: &'a Store,
        watched: &'a Watched,
        young_after_ns: Option<i64>,
        incomplete_wait: Option<Duration>,
        report: &'a mut ScanReport,
        error: Option<StoreError>,
        seen: u64,
    }
    impl Visitor for Scan<'_> {
        fn folder(&mut self, _dir: &Path) -> bool {
            self.error.is_none()
        }
        fn files(&mut self, _dir: &Path, files: Vec<FoundFile>) {
            self.seen += files.len() as u64;
            if self.error.is_none()
                && let Err(e) = reconcile(
                    self.store,
                    self.watched,
                    files,
                    (self.young_after_ns, self.incomplete_wait),
                    self.report,
                )
            {
                self.error = Some(e);
            }
        }
        fn unreadable(&mut self, dir: &Path, error: &std::io::Error) {
            self.report
                .unreadable
                .push((dir.to_owned(), super::io_reason(error)));
        }
    }
    let young_after_ns = holds.young.map(|d| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(now.saturating_sub(d).as_nanos()).unwrap_or(i64::MAX)
    });
    let mut scan = Scan {
        store,
        watched,
        young_after_ns,
        incomplete_wait: holds.incomplete,
        report,
        error: None,
        seen: 0,
    };
    walk::walk(watched, start, &mut scan);
    if let Some(e) = scan.error {
        return Err(e);
    }
    // More rows than files means some left: only then is each row's file looked at, so a
    // rescan of an unchanged tree stays one stat per file.
    if store.call_blocking(|db| db.live_rows_under(start))? > scan.seen {
        mark_vanished(store, std::slice::from_ref(watched), &[start.to_owned()])?;
    }
    Ok(())
}

/// Marks the settled rows at or below each of `paths` whose file is missing as gone (see
/// `migrations/0003_gone.sql`), and returns how many. Nothing is marked below a watched
/// folder that is itself missing: an unmounted disk is not a deleted one.
pub fn mark_vanished(
    store: &Store,
    watched: &[Watched],
    paths: &[PathBuf],
) -> Result<usize, StoreError> {
    let mut gone = Vec::new();
    for path in paths {
        let Some(root) = super::watched_for(watched, path) else {
            continue;
        };
        if !root.config.path.is_dir() {
            continue;
        }
        let rows = store.call_blocking(|db| db.settled_rows_under(path))?;
        gone.extend(
            rows.into_iter()
                .filter(|(_, p)| is_missing(p))
                .map(|(id, _)| id),
        );
    }
    if gone.is_empty() {
        return Ok(0);
    }
    store.call_blocking(|db| db.mark_gone(&gone))
}

/// Whether nothing is at `path` (a permission error is not "missing").
pub fn is_missing(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
        ),
    }
}

/// One folder's files: skip the unchanged, hand back the young and the recent incomplete
/// ones, record the rest.
fn reconcile(
    store: &Store,
    watched: &Watched,
    files: Vec<FoundFile>,
    (young_after_ns, incomplete_wait): (Option<i64>, Option<Duration>),
    report: &mut ScanReport,
) -> Result<(), StoreError> {
    let known: Vec<bool> = store.call_blocking(|db| {
        files
            .iter()
            .map(|f| {
                let id = f.identity;
                db.is_unchanged(&f.path, id.size, id.mtime_ns, id.inode)
            })
            .collect()
    })?;
    let mut fresh = Vec::new();
    for (file, known) in files.into_iter().zip(known) {
        if known {
            report.unchanged += 1;
        } else if young_after_ns.is_some_and(|t| file.identity.mtime_ns > t) {
            report.young.push((watched.index, file));
        } else if let Some(why) = incomplete_wait.and_then(|w| looks_incomplete(&file, w)) {
            report.incomplete.push((watched.index, file, why));
        } else {
            fresh.push(file);
        }
    }
    record_files(store, watched, fresh, report)
}

/// What is missing from `file`, when it looks incomplete and was modified within `wait`
/// (an older file is uploaded as it is, without being read here). Only a file that would
/// be uploaded is checked: one skipped anyway (too large, not media) holds nothing back.
pub fn looks_incomplete(file: &FoundFile, wait: Duration) -> Option<String> {
    if !complete::is_recent(file.identity.mtime_ns, wait)
        || filter::classify(&file.path, file.identity.size).is_err()
    {
        return None;
    }
    match complete::check(&file.path) {
        Completeness::Incomplete(why) => Some(why),
        Completeness::Complete | Completeness::Unchecked => None,
    }
}

/// Classifies and records files that settled or were found by a scan (a file whose row
/// already matches is left alone). Counts into `report`.
pub fn record_files(
    store: &Store,
    watched: &Watched,
    files: Vec<FoundFile>,
    report: &mut ScanReport,
) -> Result<(), StoreError> {
    if files.is_empty() {
        return Ok(());
    }
    let scanned: Vec<ScannedFile> = files.into_iter().map(|f| describe(watched, f)).collect();
    let after_upload = watched.config.after_upload.stored_action();
    let outcomes = store.call_blocking(|db| {
        db.batch(|db| {
            scanned
                .iter()
                .map(|f| {
                    let outcome = db.upsert_scanned(f)?;
                    let action = after_upload.as_deref().filter(|_| f.verdict.is_ok());
                    // A changed row may hold the action of its earlier content: reset it.
                    if (outcome == ScanOutcome::New && action.is_some())
                        || outcome == ScanOutcome::Changed
                    {
                        db.set_after_upload(&f.path, action)?;
                    }
                    Ok(outcome)
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
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

/// Reads what a row needs: the verdict (a few KiB) and, for a dated album, the date.
fn describe(watched: &Watched, f: FoundFile) -> ScannedFile {
    let Identity {
        size,
        mtime_ns,
        inode,
    } = f.identity;
    let verdict = filter::classify(&f.path, size);
    let album_title = watched.album.as_ref().and_then(|t| {
        let taken =
            (t.needs_date() && verdict.is_ok()).then(|| date::year_month(&f.path, mtime_ns));
        t.render(&f.path, taken)
    });
    ScannedFile {
        path: f.path,
        watch_index: watched.index,
        album_title,
        size,
        mtime_ns,
        inode,
        verdict,
    }
}

/// Modification time in nanoseconds since the epoch.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    Identity::of(meta).mtime_ns
}

/// Size, mtime and inode of `path`, as the store records them.
pub fn identity(path: &Path) -> std::io::Result<(u64, i64, u64)> {
    let id = Identity::of(&std::fs::metadata(path)?);
    Ok((id.size, id.mtime_ns, id.inode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::tests::watched;

    /// A minimal complete JPEG: SOI, APP0 (JFIF), an empty scan, EOI.
    const JPEG: &[u8] = &[
        0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
        0xff, 0xda, 0, 2, 0, 0xff, 0xd9,
    ];

    #[test]
    fn a_second_scan_reads_nothing_and_young_files_wait() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cam");
        std::fs::create_dir_all(root.join("2024")).unwrap();
        std::fs::write(root.join("2024/a.jpg"), JPEG).unwrap();
        std::fs::write(root.join("notes.txt"), b"x").unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let w = [watched(
            &root,
            "album = \"{folder}\"\nafter_upload = \"delete\"",
        )];

        let hour = Some(Duration::from_secs(3600));
        let young = scan_all(
            &store,
            &w,
            Holds {
                young: hour,
                incomplete: hour,
            },
        )
        .unwrap();
        assert_eq!((young.new, young.young.len()), (0, 2));

        // A truncated PNG modified just now waits; the rest is recorded.
        let png = std::fs::read(crate::watch::tests::fixture("IMG_0003.PNG")).unwrap();
        std::fs::write(root.join("half.png"), &png[..png.len() / 2]).unwrap();
        let holds = Holds {
            young: None,
            incomplete: hour,
        };
        let first = scan_all(&store, &w, holds).unwrap();
        assert_eq!((first.new, first.unchanged), (2, 0));
        assert_eq!(first.incomplete.len(), 1);
        assert!(
            first.incomplete[0].2.contains("IEND"),
            "{:?}",
            first.incomplete
        );
        let second = scan_all(&store, &w, Holds::default()).unwrap();
        assert_eq!((second.new, second.unchanged), (1, 2), "no longer held");
        let second = scan_all(
            &store,
            &w,
            Holds {
                young: hour,
                incomplete: hour,
            },
        )
        .unwrap();
        assert_eq!(
            (second.new, second.unchanged, second.young.len()),
            (0, 3, 0)
        );

        let row = store
            .call_blocking(|db| db.file_by_path(&root.join("2024/a.jpg")))
            .unwrap()
            .unwrap();
        assert_eq!(row.album_title.as_deref(), Some("2024"));
        let actions = store.call_blocking(|db| db.after_upload_due(10)).unwrap();
        assert!(actions.is_empty(), "nothing is done yet");
    }
}
