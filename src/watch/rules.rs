//! [`Rules`]: which paths under one watched folder are looked at, before any file is read.
//!
//! The built-in list ([`filter::ignored_name`]: dot files, AppleDouble, NAS system folders,
//! temporary names) applies everywhere; a `[[watch]]` entry narrows it further with its
//! `exclude` globs and, when it has any, its `include` globs. A pattern without `/` is
//! matched against a name (a file's, or any folder's on the way), one with `/` against the
//! path below the watched folder; `**` crosses folders, `*` does not. Matching ignores case,
//! as camera file systems (FAT, exFAT) do.

use std::path::{Component, Path};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::filter;

/// The compiled path rules of one watched folder.
#[derive(Debug, Clone)]
pub struct Rules {
    /// `watch[N]`, for reasons.
    key: String,
    exclude: Patterns,
    include: Patterns,
}

/// One list of globs, split by what they are matched against.
#[derive(Debug, Clone)]
struct Patterns {
    names: GlobSet,
    paths: GlobSet,
    /// The source text of each pattern, by its index in `names` then `paths`.
    name_text: Vec<String>,
    path_text: Vec<String>,
}

impl Patterns {
    fn compile(patterns: &[String]) -> Result<Patterns, String> {
        let (mut names, mut paths) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        let (mut name_text, mut path_text) = (Vec::new(), Vec::new());
        for p in patterns {
            let anchored = p.trim_start_matches('/');
            if anchored.is_empty() {
                return Err(format!("the pattern `{p}` is empty"));
            }
            let glob = |text: &str| -> Result<Glob, String> {
                GlobBuilder::new(text)
                    .case_insensitive(true)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| format!("the pattern `{p}` is not a valid glob: {e}"))
            };
            if anchored.contains('/') || anchored.len() != p.len() {
                paths.add(glob(anchored.trim_end_matches('/'))?);
                path_text.push(p.clone());
            } else {
                names.add(glob(anchored)?);
                name_text.push(p.clone());
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| e.to_string());
        Ok(Patterns {
            names: build(names)?,
            paths: build(paths)?,
            name_text,
            path_text,
        })
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty() && self.paths.is_empty()
    }

    /// The first pattern matching `name` or `rel`, as written in the config. Called for
    /// every file of every walk, so the common case (no match) allocates nothing.
    fn matching(&self, name: &str, rel: &Path) -> Option<&str> {
        if !self.names.is_empty() && self.names.is_match(name) {
            let i = self.names.matches(name)[0];
            return Some(&self.name_text[i]);
        }
        if !self.paths.is_empty() && self.paths.is_match(rel) {
            let i = self.paths.matches(rel)[0];
            return Some(&self.path_text[i]);
        }
        None
    }
}

impl Rules {
    /// Compiles the globs of `watch[index + 1]`; the error is a message for that entry's
    /// `include` or `exclude` key.
    pub fn new(index: usize, include: &[String], exclude: &[String]) -> Result<Rules, String> {
        Ok(Rules {
            key: format!("watch[{}]", index + 1),
            exclude: Patterns::compile(exclude)?,
            include: Patterns::compile(include)?,
        })
    }

    /// Why the folder at `rel` (below the watched folder, named `name`) is not walked.
    pub fn skip_dir(&self, rel: &Path, name: &str) -> Option<String> {
        if let Some(why) = filter::ignored_name(name, true) {
            return Some(format!("ignored: {why}"));
        }
        self.exclude
            .matching(name, rel)
            .map(|p| format!("excluded by {}.exclude pattern `{p}`", self.key))
    }

    /// Why the file at `rel` (named `name`) is not looked at, its folders being walked.
    pub fn skip_file(&self, rel: &Path, name: &str) -> Option<String> {
        if let Some(why) = filter::ignored_name(name, false) {
            return Some(format!("ignored: {why}"));
        }
        if let Some(p) = self.exclude.matching(name, rel) {
            return Some(format!("excluded by {}.exclude pattern `{p}`", self.key));
        }
        if !self.include.is_empty() && self.include.matching(name, rel).is_none() {
            return Some(format!("not matched by any {}.include pattern", self.key));
        }
        None
    }

    /// Why `rel` is not looked at: every folder on its way, then itself as a file
    /// (`is_dir == Some(false)`), a folder (`Some(true)`), or either (`None`: only what
    /// holds for both is checked, which is what an event about an unknown path allows).
    pub fn explain(&self, rel: &Path, is_dir: Option<bool>) -> Option<String> {
        let parts: Vec<&str> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_str().unwrap_or("")),
                _ => None,
            })
            .collect();
        let (last, folders) = parts.split_last()?;
        let mut so_far = std::path::PathBuf::new();
        for name in folders {
            so_far.push(name);
            if let Some(why) = self.skip_dir(&so_far, name) {
                return Some(format!("{why} (folder {name})"));
            }
        }
        match is_dir {
            Some(true) => self.skip_dir(rel, last),
            Some(false) => self.skip_file(rel, last),
            None => {
                if last.starts_with('.') {
                    return filter::ignored_name(last, false).map(|w| format!("ignored: {w}"));
                }
                self.exclude
                    .matching(last, rel)
                    .map(|p| format!("excluded by {}.exclude pattern `{p}`", self.key))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(include: &[&str], exclude: &[&str]) -> Rules {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Rules::new(0, &own(include), &own(exclude)).unwrap()
    }

    #[test]
    fn the_built_in_list_applies_to_every_folder_on_the_way() {
        let r = rules(&[], &[]);
        let why = |p: &str, d| r.explain(Path::new(p), d);
        assert!(
            why("2024/@eaDir/IMG.JPG", Some(false))
                .unwrap()
                .contains("@eaDir")
        );
        assert!(why("#recycle/IMG.JPG", Some(false)).is_some());
        assert!(why(".Trash-1000/files/IMG.JPG", Some(false)).is_some());
        assert!(
            why("DCIM/._IMG.JPG", Some(false))
                .unwrap()
                .contains("AppleDouble")
        );
        assert!(why("DCIM/.DS_Store", None).is_some());
        assert!(why("DCIM/Thumbs.db", Some(false)).is_some());
        assert!(why("DCIM/desktop.ini", Some(false)).is_some());
        assert!(why("DCIM/clip.MP4.part", Some(false)).is_some());
        assert!(why("DCIM/.IMG_0001.JPG.aB3dE9", None).is_some());
        assert_eq!(why("DCIM/100GOPRO/GOPR0001.JPG", Some(false)), None);
    }

    #[test]
    fn exclude_names_match_anywhere_and_paths_below_the_folder() {
        let r = rules(&[], &["private", "2023/*.mov", "*.DNG"]);
        let why = |p: &str, d| r.explain(Path::new(p), d);
        assert!(
            why("a/Private/x.jpg", Some(false))
                .unwrap()
                .contains("`private`")
        );
        assert!(
            why("2023/clip.MOV", Some(false))
                .unwrap()
                .contains("`2023/*.mov`")
        );
        assert_eq!(
            why("2023/sub/clip.MOV", Some(false)),
            None,
            "* stays in its folder"
        );
        assert!(why("raw/x.dng", Some(false)).is_some());
        assert!(
            why("raw/x.dng", None).is_some(),
            "exclude holds for files and folders"
        );
        assert_eq!(why("raw/x.jpg", Some(false)), None);
    }

    #[test]
    fn include_narrows_files_but_not_folders() {
        let r = rules(&["*.jpg", "/video/**"], &[]);
        let why = |p: &str, d| r.explain(Path::new(p), d);
        assert_eq!(why("a/b/IMG.JPG", Some(false)), None);
        assert_eq!(why("video/x/clip.mp4", Some(false)), None);
        assert!(why("a/clip.mp4", Some(false)).unwrap().contains("include"));
        assert_eq!(why("a", Some(true)), None, "folders are still walked");
        assert_eq!(
            why("a/clip.mp4", None),
            None,
            "unknown type: not decided yet"
        );
    }

    #[test]
    fn a_bad_glob_is_reported_with_the_pattern() {
        let err = Rules::new(0, &[], &["a[".to_owned()]).unwrap_err();
        assert!(err.contains("`a[`"), "{err}");
    }
}
