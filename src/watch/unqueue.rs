//! Keeping the queue in line with the configuration it runs under.
//!
//! Rows are queued by the configuration of the scan that found them. If the user then
//! excludes a folder (often for privacy), narrows `include`, turns `follow_symlinks` off or
//! removes a `[[watch]]` entry, queued files of it must not be uploaded anyway. At start,
//! before any worker or the batch creator runs, [`unqueue_unwatched`] judges every row not
//! in Google Photos yet by its path, with the same rules a scan applies
//! ([`super::explain_as`]), and skips the ones the configuration no longer watches.
//!
//! Rows in `creating` are skipped too. Their batchCreate may have been sent before the
//! stop, its answer lost; the crash recovery would upload them again and send a new
//! batchCreate, which publishes the file if the first one never arrived. Skipping sends
//! nothing more; the reason says that an item may already exist, which only the user can
//! check (and delete) in Google Photos. Nothing is sent to Google here: an unfinished
//! resumable session is abandoned (Google expires it), an upload token is never used.

use std::path::Path;

use crate::config::WatchConfig;
use crate::store::{FileState, Store, StoreError, UNWATCHED_PREFIX};

/// Why the configuration no longer uploads a queued file at `path` (in `state`), as the
/// row's reason, or `None` when it still does.
pub fn unwatched_reason(watches: &[WatchConfig], path: &Path, state: FileState) -> Option<String> {
    let why = super::explain_as(watches, path, Some(false))?;
    Some(if state == FileState::Creating {
        format!(
            "{UNWATCHED_PREFIX} ({why}); gphotosd had asked Google to create its media item \
             just before it stopped, so it may be in Google Photos already"
        )
    } else {
        format!("{UNWATCHED_PREFIX} ({why})")
    })
}

/// Skips, in one transaction, every row not in Google Photos yet whose path the
/// configuration `watches` no longer uploads. Returns how many. Blocking (one `stat` per
/// queued row, for symbolic links): call from a blocking thread, before the workers start.
pub fn unqueue_unwatched(store: &Store, watches: &[WatchConfig]) -> Result<usize, StoreError> {
    let rows = store.call_blocking(|db| db.unwatched_candidates())?;
    let skips: Vec<_> = rows
        .into_iter()
        .filter_map(|row| {
            let why = unwatched_reason(watches, &row.path, row.state)?;
            tracing::info!(file = %crate::paths::shown(&row.path), "{why}");
            Some((row, why))
        })
        .collect();
    if skips.is_empty() {
        return Ok(0);
    }
    store.call_blocking(|db| db.skip_unwatched(&skips))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(path: &Path, extra: &str) -> WatchConfig {
        toml::from_str(&format!("path = {:?}\n{extra}", path.display().to_string())).unwrap()
    }

    #[test]
    fn excluded_narrowed_and_unwatched_rows_are_named_with_the_rule() {
        let root = Path::new("/srv/cam");
        let w = [watch(
            root,
            "exclude = [\"Private\"]\ninclude = [\"*.jpg\", \"*.mov\"]",
        )];
        let why = |p: &str, s| unwatched_reason(&w, &root.join(p), s);
        assert_eq!(why("ok.jpg", FileState::Pending), None);
        let private = why("Private/nude.jpg", FileState::Uploaded).unwrap();
        assert!(private.starts_with(UNWATCHED_PREFIX), "{private}");
        assert!(
            private.contains("watch[1].exclude pattern `Private`"),
            "{private}"
        );
        assert!(
            why("a.png", FileState::Waiting)
                .unwrap()
                .contains("include")
        );
        let creating = why("Private/b.jpg", FileState::Creating).unwrap();
        assert!(
            creating.contains("may be in Google Photos already"),
            "{creating}"
        );
        let elsewhere = unwatched_reason(&w, Path::new("/srv/old/a.jpg"), FileState::Pending);
        assert!(elsewhere.unwrap().contains("not under any watched folder"));
        assert!(unwatched_reason(&[], &root.join("ok.jpg"), FileState::Pending).is_some());
    }
}
