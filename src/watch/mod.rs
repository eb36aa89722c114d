//! Finding files: what is under the watched folders, and noticing when that changes.
//!
//! - [`Watched`]: one `[[watch]]` entry with its [`rules::Rules`] and
//!   [`album::AlbumTemplate`] compiled.
//! - [`walk`]: the filtered tree walk everything else uses.
//! - [`scan`]: the reconciling scan (startup, periodic, after an event overflow).
//! - [`watcher`]: the daemon's live view: inotify or polling per folder ([`backend`]), the
//!   quiet period before a file is queued ([`settle`]), re-arming a folder that comes back.
//! - [`filter`]: what is media, by name, type and size.
//! - [`complete`]: whether a file's bytes are all there, by its structure.
//! - [`unqueue`]: at start, takes out of the queue what the configuration no longer watches.
//!
//! Every stage records through the store ([`scan::record_files`]); nothing here uploads.

pub mod album;
pub mod backend;
pub mod complete;
pub mod date;
pub mod filter;
pub mod rules;
pub mod scan;
pub mod settle;
pub mod unqueue;
pub mod walk;
pub mod watcher;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{AfterUpload, WatchConfig};

pub use watcher::{WatchContext, Watcher};

/// One `[[watch]]` entry, ready to use.
#[derive(Debug, Clone)]
pub struct Watched {
    /// 1-based, as in messages and the `files.watch_index` column.
    pub index: usize,
    pub config: WatchConfig,
    pub rules: Arc<rules::Rules>,
    pub album: Option<album::AlbumTemplate>,
}

/// A `[[watch]]` entry that cannot be used (validation normally catches it first).
#[derive(Debug, thiserror::Error)]
#[error("watch[{index}].{key}: {message}")]
pub struct WatchError {
    pub index: usize,
    pub key: &'static str,
    pub message: String,
}

impl Watched {
    /// Compiles every entry.
    pub fn all(watches: &[WatchConfig]) -> Result<Vec<Watched>, WatchError> {
        watches
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let err = |key, message| WatchError {
                    index: i + 1,
                    key,
                    message,
                };
                Ok(Watched {
                    index: i + 1,
                    rules: Arc::new(
                        rules::Rules::new(i, &w.include, &w.exclude)
                            .map_err(|m| err("exclude", m))?,
                    ),
                    album: w
                        .album
                        .as_deref()
                        .map(album::AlbumTemplate::parse)
                        .transpose()
                        .map_err(|m| err("album", m))?,
                    config: w.clone(),
                })
            })
            .collect()
    }

    /// `path` relative to this watched folder, if it is below it.
    pub fn relative<'a>(&self, path: &'a Path) -> Option<&'a Path> {
        path.strip_prefix(&self.config.path).ok()
    }
}

/// The watched folder `path` is in.
pub fn watched_for<'a>(all: &'a [Watched], path: &Path) -> Option<&'a Watched> {
    all.iter().find(|w| path.starts_with(&w.config.path))
}

/// Checks `watches[i]` beyond what serde checks. The error names the key (below
/// `watch[i + 1]`) and what is wrong.
pub fn validate_watch(watches: &[WatchConfig], i: usize) -> Result<(), (&'static str, String)> {
    let w = &watches[i];
    if let Some(text) = &w.album {
        let template = album::AlbumTemplate::parse(text).map_err(|m| ("album", m))?;
        if text.trim().is_empty() || template.literal_len() > 500 {
            return Err((
                "album",
                "an album title must have 1 to 500 characters".into(),
            ));
        }
    }
    rules::Rules::new(i, &[], &w.exclude).map_err(|m| ("exclude", m))?;
    rules::Rules::new(i, &w.include, &[]).map_err(|m| ("include", m))?;
    // A missing folder is allowed (a disk not mounted yet); a file never works.
    if w.path.is_file() {
        return Err((
            "path",
            format!(
                "{} is a file; name the folder that holds the photos and videos",
                w.path.display()
            ),
        ));
    }
    for (j, other) in watches.iter().enumerate() {
        if j != i && w.path == other.path {
            return Err((
                "path",
                format!(
                    "{} is the same folder as watch[{}].path; list each folder once",
                    w.path.display(),
                    j + 1
                ),
            ));
        }
        if j != i && w.path.starts_with(&other.path) {
            return Err((
                "path",
                format!(
                    "{} is inside watch[{}].path; watch the outer folder once",
                    w.path.display(),
                    j + 1
                ),
            ));
        }
    }
    if let AfterUpload::Move(dir) = &w.after_upload
        && let Some(file) = dir.ancestors().find(|a| a.is_file())
    {
        return Err((
            "after_upload",
            format!(
                "{} cannot be a folder: {} is a file",
                dir.display(),
                file.display()
            ),
        ));
    }
    if let AfterUpload::Move(dir) = &w.after_upload
        && let Some(j) = watches.iter().position(|o| dir.starts_with(&o.path))
    {
        return Err((
            "after_upload",
            format!(
                "{} is inside watch[{}].path: moved files would be found again",
                dir.display(),
                j + 1
            ),
        ));
    }
    Ok(())
}

/// Why a file that has no row is not uploaded, judged by its path alone (for
/// `gphotosd status PATH`); `None` when nothing in its path rules it out.
pub fn explain(watches: &[WatchConfig], path: &Path) -> Option<String> {
    explain_as(
        watches,
        path,
        std::fs::metadata(path).ok().map(|m| m.is_dir()),
    )
}

/// [`explain`] for a path known to be a file or a folder (`is_dir`), whether or not it
/// is there now: a row of the store is always a file, and a file that is missing must
/// still meet `include`.
pub fn explain_as(watches: &[WatchConfig], path: &Path, is_dir: Option<bool>) -> Option<String> {
    let Some((i, w)) = watches
        .iter()
        .enumerate()
        .find(|(_, w)| path.starts_with(&w.path))
    else {
        return Some("not under any watched folder of this configuration".to_owned());
    };
    let rules = rules::Rules::new(i, &w.include, &w.exclude).ok()?;
    let rel = path.strip_prefix(&w.path).ok()?;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_symlink()
        && !w.follow_symlinks
    {
        return Some(format!(
            "a symbolic link, and watch[{}].follow_symlinks is off",
            i + 1
        ));
    }
    rules.explain(rel, is_dir)
}

/// An I/O error as a folder problem reads in status: "permission denied" rather than the
/// raw OS text.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::NotFound => "not found".to_owned(),
        _ => e.to_string(),
    }
}

/// The status message of a watched folder with folders below it that cannot be read, or
/// `None` when there are none.
pub fn unreadable_message<'a>(
    folders: impl IntoIterator<Item = &'a (PathBuf, String)>,
) -> Option<String> {
    let folders: Vec<_> = folders.into_iter().collect();
    let (first, why) = folders.first()?;
    let first = crate::paths::shown(first);
    Some(match folders.len() {
        1 => format!("cannot read the folder {first} ({why}); its files are not uploaded"),
        n => format!("cannot read {n} folders, e.g. {first} ({why}); their files are not uploaded"),
    })
}

/// For `gphotosd status PATH`: the folder between the watched folder and `path` that
/// cannot be read, as a reason why the file is not seen.
pub fn unreadable_folder_of(watches: &[WatchConfig], path: &Path) -> Option<String> {
    let root = &watches.iter().find(|w| path.starts_with(&w.path))?.path;
    let mut dir = root.clone();
    let rel = path.parent()?.strip_prefix(root).ok()?;
    for part in std::iter::once(None).chain(rel.components().map(Some)) {
        if let Some(part) = part {
            dir.push(part);
        }
        if let Err(e) = std::fs::read_dir(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Some(format!(
                "the folder {} cannot be read ({}): gphotosd cannot see this file until \
                 it can",
                crate::paths::shown(&dir),
                io_reason(&e)
            ));
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;

    /// A committed test media file.
    pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    /// A compiled watch entry for `root` with extra TOML keys.
    pub(crate) fn watched(root: &Path, extra: &str) -> Watched {
        let text = format!("path = {:?}\n{extra}\n", root.display().to_string());
        let config: WatchConfig = toml::from_str(&text).unwrap();
        Watched::all(&[config]).unwrap().remove(0)
    }

    fn entry(path: &str, extra: &str) -> WatchConfig {
        toml::from_str(&format!("path = {path:?}\n{extra}")).unwrap()
    }

    #[test]
    fn nested_folders_and_moves_into_a_watched_folder_are_refused() {
        let w = [entry("/srv/cam", ""), entry("/srv/cam/sub", "")];
        assert_eq!(validate_watch(&w, 1).unwrap_err().0, "path");
        assert!(validate_watch(&w, 0).is_ok());
        let w = [entry("/srv/cam", "after_upload = \"move:/srv/cam/done\"")];
        assert_eq!(validate_watch(&w, 0).unwrap_err().0, "after_upload");
        let w = [entry("/srv/cam", "after_upload = \"move:/srv/done\"")];
        assert!(validate_watch(&w, 0).is_ok());
        let w = [entry("/srv/cam", "album = \"{folder} {day}\"")];
        assert_eq!(validate_watch(&w, 0).unwrap_err().0, "album");
        let w = [entry("/srv/cam", ""), entry("/srv/cam/", "")];
        assert!(validate_watch(&w, 1).unwrap_err().1.contains("same folder"));
    }

    #[test]
    fn a_file_is_neither_a_watched_folder_nor_a_move_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.json");
        std::fs::write(&file, b"{}").unwrap();
        let w = [entry(&file.display().to_string(), "")];
        let (key, message) = validate_watch(&w, 0).unwrap_err();
        assert_eq!(key, "path");
        assert!(message.contains("is a file"), "{message}");
        let target = file.join("sub");
        let w = [entry(
            &dir.path().join("cam").display().to_string(),
            &format!("after_upload = \"move:{}\"", target.display()),
        )];
        let (key, message) = validate_watch(&w, 0).unwrap_err();
        assert_eq!(key, "after_upload");
        assert!(message.contains("is a file"), "{message}");
    }

    #[test]
    fn explain_names_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cam");
        std::fs::create_dir_all(root.join("@eaDir")).unwrap();
        let w = [WatchConfig {
            exclude: vec!["*.dng".into()],
            ..entry(&root.display().to_string(), "")
        }];
        let why = |p: &str| explain(&w, &root.join(p));
        assert!(why("@eaDir/x.jpg").unwrap().contains("@eaDir"));
        assert!(why("raw.DNG").unwrap().contains("*.dng"));
        assert_eq!(why("IMG.JPG"), None);
        assert!(
            explain(&w, Path::new("/elsewhere/x.jpg"))
                .unwrap()
                .contains("not under")
        );
    }
}
