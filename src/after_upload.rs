//! After upload: `delete` or `move:<folder>` a file once its media item id is committed.
//!
//! A small stage that reads done rows ([`Db::after_upload_due`](crate::store::Db)) rather
//! than a hook in the creator: a file recorded as an alias of an existing item (no create
//! call) is covered too, and an action interrupted by a crash runs on the next start. The
//! action is decided when the file is queued (a config change never reaches files queued
//! before it), runs only on `done` rows with a media item id, never on a skipped or failed
//! one, and only if the file on disk still has the size, mtime and inode that were
//! uploaded. Each action runs once: a failure is recorded as the row's reason, not retried.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::WatchConfig;
use crate::store::{AFTER_UPLOAD_FAILED, AfterUploadDue, Store, StoreError};
use crate::watch::walk::Identity;

/// Rows handled per round.
const BATCH: usize = 200;
/// How often the daemon looks for done files with an action.
const INTERVAL: Duration = Duration::from_secs(1);

/// Runs actions as files get done, until `stop`.
pub async fn run(store: Store, watches: Vec<WatchConfig>, stop: CancellationToken) {
    loop {
        if let Err(e) = apply_due(&store, &watches).await {
            tracing::error!("after-upload actions: {e}");
        }
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Runs every due action now; returns how many ran.
pub async fn apply_due(store: &Store, watches: &[WatchConfig]) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let due = store.call(|db| db.after_upload_due(BATCH)).await?;
        if due.is_empty() {
            return Ok(total);
        }
        total += due.len();
        let roots: Vec<PathBuf> = watches.iter().map(|w| w.path.clone()).collect();
        let notes = tokio::task::spawn_blocking(move || {
            due.iter()
                .map(|d| {
                    let note = act(d, &roots);
                    (d.id, note, crate::watch::scan::is_missing(&d.path))
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        store
            .call(move |db| {
                for (id, note, _) in &notes {
                    db.after_upload_finished(*id, note)?;
                }
                // Moved or deleted: in Google Photos, no longer in the folder.
                let gone: Vec<i64> = notes.iter().filter(|n| n.2).map(|n| n.0).collect();
                db.mark_gone(&gone)?;
                Ok(())
            })
            .await?;
    }
}

/// Runs one action (blocking); returns what happened, for the row's reason.
pub fn act(due: &AfterUploadDue, roots: &[PathBuf]) -> String {
    let path = &due.path;
    let shown = path.display();
    let uploaded = Identity {
        size: due.size,
        mtime_ns: due.mtime_ns,
        inode: due.inode,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return "uploaded; the file was gone before the after-upload action".to_owned();
        }
        Err(e) => return failed(path, "read the file", &e),
        Ok(meta) if Identity::of(&meta) != uploaded => {
            return "uploaded; left in place: it changed after the upload".to_owned();
        }
        Ok(_) => {}
    }
    if due.action == "delete" {
        if due.alias {
            // The item this file was matched to may have been deleted from the library
            // since; deleting the file on its strength could lose the only copy.
            return "uploaded as a copy of another file's item; left in place: \
                    after_upload = \"delete\" removes only files whose own bytes were sent"
                .to_owned();
        }
        return match std::fs::remove_file(path) {
            Ok(()) => {
                tracing::info!(path = %shown, "deleted after upload");
                "uploaded, then deleted (after_upload = \"delete\")".to_owned()
            }
            Err(e) => failed(path, "delete the file", &e),
        };
    }
    let Some(dir) = due.action.strip_prefix("move:") else {
        return format!("uploaded; unknown after-upload action `{}`", due.action);
    };
    let rel = roots
        .iter()
        .find_map(|r| path.strip_prefix(r).ok())
        .map_or_else(
            || PathBuf::from(path.file_name().unwrap_or_default()),
            Path::to_path_buf,
        );
    let destination = Path::new(dir).join(rel);
    match move_file(path, &destination) {
        Ok(to) => {
            tracing::info!(path = %shown, to = %to.display(), "moved after upload");
            format!("uploaded, then moved to {}", to.display())
        }
        Err(e) => failed(
            path,
            &format!("move the file to {}", crate::paths::shown(&destination)),
            &e,
        ),
    }
}

fn failed(path: &Path, what: &str, e: &io::Error) -> String {
    tracing::warn!(path = %crate::paths::shown(path), "after upload: cannot {what}: {e}");
    format!("{AFTER_UPLOAD_FAILED}: cannot {what}: {e}")
}

/// Moves `from` to `to`, or to `to` with ` (2)`, ` (3)`… before its extension when taken
/// (cameras reuse names after a card is wiped). Across filesystems: copy, keep the mtime,
/// then delete. Returns where it went.
fn move_file(from: &Path, to: &Path) -> io::Result<PathBuf> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let target = free_name(to)?;
    match std::fs::rename(from, &target) {
        Ok(()) => Ok(target),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let partial = target.with_extension("gphotosd-partial");
            let mtime = std::fs::metadata(from)?.modified()?;
            std::fs::copy(from, &partial)?;
            let copy = std::fs::File::options().write(true).open(&partial)?;
            copy.set_modified(mtime)?;
            copy.sync_all()?;
            std::fs::rename(&partial, &target)?;
            std::fs::remove_file(from)?;
            Ok(target)
        }
        Err(e) => Err(e),
    }
}

fn free_name(wanted: &Path) -> io::Result<PathBuf> {
    if !wanted.exists() {
        return Ok(wanted.to_owned());
    }
    let stem = wanted.file_stem().unwrap_or_default().to_string_lossy();
    let ext = wanted
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()));
    for n in 2..10_000 {
        let candidate =
            wanted.with_file_name(format!("{stem} ({n}){}", ext.as_deref().unwrap_or("")));
        if !candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(path: &Path, action: &str) -> AfterUploadDue {
        let id = Identity::of(&std::fs::metadata(path).unwrap());
        AfterUploadDue {
            id: 1,
            path: path.to_owned(),
            size: id.size,
            mtime_ns: id.mtime_ns,
            inode: id.inode,
            action: action.to_owned(),
            alias: false,
        }
    }

    #[test]
    fn delete_removes_only_the_uploaded_content() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.jpg");
        std::fs::write(&f, b"abc").unwrap();
        let d = due(&f, "delete");
        std::fs::write(&f, b"abcd").unwrap();
        assert!(act(&d, &[]).contains("changed"));
        assert!(f.exists(), "new content is never deleted");
        let d = due(&f, "delete");
        assert!(act(&d, &[]).contains("deleted"));
        assert!(!f.exists());
        assert!(act(&d, &[]).contains("gone"));
    }

    #[test]
    fn a_copy_matched_to_an_earlier_item_is_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("copy.jpg");
        std::fs::write(&f, b"abc").unwrap();
        let d = AfterUploadDue {
            alias: true,
            ..due(&f, "delete")
        };
        assert!(act(&d, &[]).contains("left in place"));
        assert!(f.exists());
        let moved = AfterUploadDue {
            alias: true,
            ..due(&f, &format!("move:{}", dir.path().join("done").display()))
        };
        assert!(
            act(&moved, &[dir.path().to_owned()]).contains("moved"),
            "a move keeps the bytes"
        );
    }

    #[test]
    fn move_keeps_the_path_below_the_folder_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cam");
        let done = dir.path().join("done");
        std::fs::create_dir_all(root.join("DCIM")).unwrap();
        std::fs::create_dir_all(done.join("DCIM")).unwrap();
        std::fs::write(done.join("DCIM/G1.JPG"), b"older").unwrap();
        let f = root.join("DCIM/G1.JPG");
        std::fs::write(&f, b"new").unwrap();
        let note = act(
            &due(&f, &format!("move:{}", done.display())),
            std::slice::from_ref(&root),
        );
        assert!(note.contains("G1 (2).JPG"), "{note}");
        assert_eq!(std::fs::read(done.join("DCIM/G1 (2).JPG")).unwrap(), b"new");
        assert_eq!(std::fs::read(done.join("DCIM/G1.JPG")).unwrap(), b"older");
        assert!(!f.exists());
    }
}
