//! The one tree walk behind the reconciling scan, the inotify arming and the poll backend.
//!
//! It applies a folder's [`Rules`] while descending (an `@eaDir` is never entered), reports
//! each folder before listing it (so a watch added there sees every later change), and
//! hands the files of one folder over together (so the store is asked once per folder).
//! Symbolic links are skipped unless the watch follows them; every folder is entered at
//! most once by device and inode, so neither a link loop nor a bind mount of a parent can
//! trap it.

use std::collections::HashSet;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Watched;

/// Size, modification time (ns since the epoch) and inode: what tells a file's content
/// changed without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
}

impl Identity {
    /// The identity `meta` describes.
    pub fn of(meta: &Metadata) -> Identity {
        Identity {
            size: meta.len(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            inode: meta.ino(),
        }
    }
}

/// A regular file found by a walk.
#[derive(Debug, Clone)]
pub struct FoundFile {
    pub path: PathBuf,
    pub identity: Identity,
}

/// What a walk does with what it finds.
pub trait Visitor {
    /// Called for each folder before it is listed; false leaves it out.
    fn folder(&mut self, _dir: &Path) -> bool {
        true
    }
    /// Whether files are wanted at all (arming inotify needs only folders: no `stat`s).
    fn wants_files(&self) -> bool {
        true
    }
    /// The files of one folder.
    fn files(&mut self, dir: &Path, files: Vec<FoundFile>);
    /// A folder that could not be listed.
    fn unreadable(&mut self, dir: &Path, error: &std::io::Error);
}

/// Walks `start` (the watched folder or a folder below it) depth first.
pub fn walk(watched: &Watched, start: &Path, visitor: &mut impl Visitor) {
    let root = &watched.config.path;
    let follow = watched.config.follow_symlinks;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut dirs = vec![start.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        match std::fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => {
                if !seen.insert((meta.dev(), meta.ino())) {
                    tracing::debug!(folder = %dir.display(), "already walked (link loop or bind mount)");
                    continue;
                }
            }
            Ok(_) => continue,
            Err(e) => {
                visitor.unreadable(&dir, &e);
                continue;
            }
        }
        if !visitor.folder(&dir) {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                visitor.unreadable(&dir, &e);
                continue;
            }
        };
        let wants_files = visitor.wants_files();
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let Ok(mut file_type) = entry.file_type() else {
                continue;
            };
            if !wants_files && !file_type.is_dir() && !file_type.is_symlink() {
                continue;
            }
            let path = entry.path();
            let mut meta = None;
            if file_type.is_symlink() {
                if !follow {
                    continue;
                }
                let Ok(target) = std::fs::metadata(&path) else {
                    continue; // dangling
                };
                file_type = target.file_type();
                meta = Some(target);
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let rel = path.strip_prefix(root).unwrap_or(&path);
            if file_type.is_dir() {
                if watched.rules.skip_dir(rel, &name).is_none() {
                    dirs.push(path);
                }
            } else if wants_files
                && file_type.is_file()
                && watched.rules.skip_file(rel, &name).is_none()
            {
                let meta = match meta {
                    Some(m) => m,
                    None => match entry.metadata() {
                        Ok(m) => m,
                        Err(_) => continue, // vanished meanwhile
                    },
                };
                files.push(FoundFile {
                    path,
                    identity: Identity::of(&meta),
                });
            }
        }
        if !files.is_empty() {
            visitor.files(&dir, files);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::tests::watched;

    #[derive(Default)]
    struct Collect(Vec<PathBuf>, Vec<PathBuf>);
    impl Visitor for Collect {
        fn folder(&mut self, dir: &Path) -> bool {
            self.1.push(dir.to_owned());
            true
        }
        fn files(&mut self, _dir: &Path, files: Vec<FoundFile>) {
            self.0.extend(files.into_iter().map(|f| f.path));
        }
        fn unreadable(&mut self, _dir: &Path, _error: &std::io::Error) {}
    }

    fn names(paths: &[PathBuf], root: &Path) -> Vec<String> {
        let mut v: Vec<String> = paths
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn links_are_followed_only_when_asked_and_loops_never() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cam");
        std::fs::create_dir_all(root.join("a/@eaDir")).unwrap();
        std::fs::write(root.join("a/x.jpg"), b"x").unwrap();
        std::fs::write(root.join("a/@eaDir/t.jpg"), b"x").unwrap();
        std::fs::write(root.join("a/._x.jpg"), b"x").unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("y.jpg"), b"y").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("a/loop")).unwrap();

        let mut plain = Collect::default();
        walk(&watched(&root, ""), &root, &mut plain);
        assert_eq!(names(&plain.0, &root), ["a/x.jpg"]);

        let mut follow = Collect::default();
        walk(
            &watched(&root, "follow_symlinks = true"),
            &root,
            &mut follow,
        );
        assert_eq!(names(&follow.0, &root), ["a/x.jpg", "link/y.jpg"]);
        assert!(!follow.1.iter().any(|d| d.ends_with("@eaDir")));
    }
}
