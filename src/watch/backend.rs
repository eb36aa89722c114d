//! How one watched folder is watched: [`Native`] (an inotify watch per folder, added by our
//! own walk so `@eaDir` and excluded folders cost no watch) or polling ([`poll_once`], a
//! walk compared with the previous one, run every poll interval by the [`poll`] task), and
//! which of the two `watch_mode` picks ([`choose`], [`arm`]).
//!
//! A folder below that cannot be read (no permission) is left out and reported
//! ([`Unreadable`]), never a reason to give up on the rest of the tree.
//!
//! Both feed [`Input`]s into the watcher's channel. inotify events arrive on notify's
//! thread and are handed over with `try_send`: when the channel is full the event is
//! dropped and the overflow flag set, which the watcher answers with a full rescan, the same
//! as for the kernel's own queue overflow. notify-debouncer-full is not used: the settle
//! step already waits for quiet, and its file-id cache would `stat` the whole tree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::WatchMode;

use super::Watched;
use super::walk::{self, FoundFile, Identity, Visitor};

/// What the backends tell the watcher.
#[derive(Debug)]
pub enum Input {
    /// An inotify event for `watch[watch]`, from its watcher of this `generation` (events
    /// of a watcher since replaced are dropped).
    Event {
        watch: usize,
        generation: u64,
        event: notify::Result<notify::Event>,
    },
    /// A walk (poll or scan) found this new or changed file.
    Seen { watch: usize, file: FoundFile },
    /// The poll backend no longer finds this path.
    Gone { path: PathBuf },
    /// The folders below `watch[watch]` the poll backend cannot read changed to these.
    Unreadable { watch: usize, folders: Unreadable },
}

/// Folders that could not be read or watched, with the reason (as status shows it).
pub type Unreadable = Vec<(PathBuf, String)>;

/// What watching (part of) a tree with inotify found.
#[derive(Debug, Default)]
pub struct Extended {
    /// Folders now watched.
    pub dirs: usize,
    /// The files found, when asked for.
    pub files: Vec<FoundFile>,
    /// Folders left out.
    pub unreadable: Unreadable,
}

/// Where inotify events go: the watcher's channel, or the overflow flag when it is full.
#[derive(Clone)]
pub struct Sink {
    pub tx: mpsc::Sender<Input>,
    pub overflowed: Arc<AtomicBool>,
    pub wake: Arc<Notify>,
}

/// Filesystem types whose changes made elsewhere inotify does not see (linux/magic.h).
const NETWORK_FILESYSTEMS: &[(u32, &str)] = &[
    (0x6969, "NFS"),
    (0x517b, "SMB"),
    (0xff53_4d42, "CIFS"),
    (0xfe53_4d42, "SMB2"),
    (0x0102_1997, "9p"),
    (0x00c3_6400, "Ceph"),
    (0x5346_414f, "AFS"),
    (0x7375_7245, "Coda"),
];

/// The name of the network filesystem `path` is on, if it is on one.
pub fn network_filesystem(path: &Path) -> Option<&'static str> {
    let stat = rustix::fs::statfs(path).ok()?;
    // f_type is a C long holding a 32-bit magic number.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let magic = stat.f_type as u32;
    NETWORK_FILESYSTEMS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// Whether to try inotify on `root`, and if not, why (for status).
pub fn choose(mode: WatchMode, root: &Path) -> Result<(), String> {
    match mode {
        WatchMode::Native => Ok(()),
        WatchMode::Poll => Err("watch_mode = \"poll\"".to_owned()),
        WatchMode::Auto => match network_filesystem(root) {
            Some(fs) => Err(format!(
                "{fs} share: inotify does not see changes made by other machines"
            )),
            None => Ok(()),
        },
    }
}

/// Why inotify could not watch a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmError {
    /// The per-user watch or instance limit is reached.
    Limit(String),
    /// Anything else.
    Failed(String),
}

impl ArmError {
    /// The message for logs and status.
    pub fn message(&self) -> &str {
        match self {
            ArmError::Limit(m) | ArmError::Failed(m) => m,
        }
    }
}

fn limit_message() -> String {
    let max = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned());
    format!(
        "inotify watch limit reached (fs.inotify.max_user_watches = {max}); raise it with \
         `sysctl fs.inotify.max_user_watches=524288` to watch natively"
    )
}

/// Maps a notify error to an [`ArmError`] (`None`: the folder vanished, nothing to do).
pub fn arm_error(e: &notify::Error) -> Option<ArmError> {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => Some(ArmError::Limit(limit_message())),
        notify::ErrorKind::PathNotFound | notify::ErrorKind::WatchNotFound => None,
        notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::ENOENT) => None,
        notify::ErrorKind::Io(io)
            if matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EMFILE)) =>
        {
            Some(ArmError::Limit(limit_message()))
        }
        _ => Some(ArmError::Failed(format!("inotify failed: {e}"))),
    }
}

/// inotify over one watched folder: one non-recursive watch per folder we walk into.
pub struct Native {
    watcher: Mutex<RecommendedWatcher>,
}

impl Native {
    /// Creates the watcher and watches every folder of `watched` (blocking). Events go to
    /// `sink` tagged with `generation`. Returns it with what the walk found.
    pub fn arm(
        watched: &Watched,
        sink: Sink,
        generation: u64,
    ) -> Result<(Native, Extended), ArmError> {
        let watch = watched.index;
        let mut last_write: Option<(PathBuf, Instant)> = None;
        let handler = move |event: notify::Result<notify::Event>| {
            if let Ok(e) = &event
                && !worth_passing_on(e, &mut last_write)
            {
                return;
            }
            let input = Input::Event {
                watch,
                generation,
                event,
            };
            if sink.tx.try_send(input).is_err() {
                sink.overflowed.store(true, Ordering::SeqCst);
                sink.wake.notify_one();
            }
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let watcher = RecommendedWatcher::new(handler, config)
            .map_err(|e| arm_error(&e).unwrap_or(ArmError::Failed(e.to_string())))?;
        let native = Native {
            watcher: Mutex::new(watcher),
        };
        let found = native.extend(watched, &watched.config.path, false)?;
        Ok((native, found))
    }

    /// Watches `dir` and every folder below it (blocking); with `files`, also returns the
    /// files found there (a folder that just appeared: its files made no events of ours).
    /// A folder that cannot be read is left out and listed, not an error.
    pub fn extend(&self, watched: &Watched, dir: &Path, files: bool) -> Result<Extended, ArmError> {
        struct Arm<'a> {
            watcher: &'a Mutex<RecommendedWatcher>,
            want_files: bool,
            found: Extended,
            error: Option<ArmError>,
        }
        impl Visitor for Arm<'_> {
            fn folder(&mut self, dir: &Path) -> bool {
                if self.error.is_some() {
                    return false;
                }
                let mut w = self
                    .watcher
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match w.watch(dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        self.found.dirs += 1;
                        true
                    }
                    Err(notify::Error {
                        kind: notify::ErrorKind::Io(io),
                        ..
                    }) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                        self.unreadable(dir, &io);
                        false
                    }
                    Err(e) => match arm_error(&e) {
                        None => false,
                        Some(err) => {
                            self.error = Some(err);
                            false
                        }
                    },
                }
            }
            fn wants_files(&self) -> bool {
                self.want_files
            }
            fn files(&mut self, _dir: &Path, files: Vec<FoundFile>) {
                self.found.files.extend(files);
            }
            fn unreadable(&mut self, dir: &Path, error: &std::io::Error) {
                note_unreadable(&mut self.found.unreadable, dir, error);
            }
        }
        let mut arm = Arm {
            watcher: &self.watcher,
            want_files: files,
            found: Extended::default(),
            error: None,
        };
        walk::walk(watched, dir, &mut arm);
        match arm.error {
            Some(e) => Err(e),
            None => Ok(arm.found),
        }
    }
}

/// Filters events on notify's thread, before they take a place in the channel: opens and
/// read-only closes (our own uploads cause them) are dropped, and a file being written
/// passes one write event per [`WRITE_EVENT_SPACING`] (a large copy makes one per write
/// call, which would flood the channel into a needless rescan).
fn worth_passing_on(event: &notify::Event, last_write: &mut Option<(PathBuf, Instant)>) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Data(_)) => {
            let now = Instant::now();
            let path = event.paths.first();
            let repeat = matches!((&last_write, path), (Some((p, at)), Some(q))
                if p == q && now.duration_since(*at) < WRITE_EVENT_SPACING);
            if !repeat && let Some(p) = path {
                *last_write = Some((p.clone(), now));
            }
            !repeat
        }
        _ => true,
    }
}

/// At most one write event per file per this period reaches the watcher.
const WRITE_EVENT_SPACING: Duration = Duration::from_millis(100);

/// Adds `dir` to `list`, unless it merely vanished during the walk.
fn note_unreadable(list: &mut Unreadable, dir: &Path, error: &std::io::Error) {
    if error.kind() != std::io::ErrorKind::NotFound {
        tracing::debug!(folder = %dir.display(), "cannot read folder: {error}");
        list.push((dir.to_owned(), super::io_reason(error)));
    }
}

/// What the poll backend saw last, per path.
pub type PollSnapshot = HashMap<PathBuf, Identity>;

/// What one poll walk found.
#[derive(Debug, Default)]
pub struct Polled {
    pub snapshot: PollSnapshot,
    /// New or changed files.
    pub changed: Vec<FoundFile>,
    /// Paths no longer there.
    pub gone: Vec<PathBuf>,
    pub unreadable: Unreadable,
}

/// Walks `watched` and compares with `previous` (blocking). A first walk (`previous` empty
/// and `report_new` false) only takes the snapshot.
pub fn poll_once(watched: &Watched, previous: &PollSnapshot, report_new: bool) -> Polled {
    struct Poll<'a> {
        previous: &'a PollSnapshot,
        report_new: bool,
        now: PollSnapshot,
        changed: Vec<FoundFile>,
        unreadable: Unreadable,
    }
    impl Visitor for Poll<'_> {
        fn files(&mut self, _dir: &Path, files: Vec<FoundFile>) {
            for f in files {
                let before = self.previous.get(&f.path);
                if before != Some(&f.identity) && (self.report_new || before.is_some()) {
                    self.changed.push(f.clone());
                }
                self.now.insert(f.path, f.identity);
            }
        }
        fn unreadable(&mut self, dir: &Path, error: &std::io::Error) {
            note_unreadable(&mut self.unreadable, dir, error);
        }
    }
    let mut poll = Poll {
        previous,
        report_new,
        now: HashMap::with_capacity(previous.len()),
        changed: Vec::new(),
        unreadable: Vec::new(),
    };
    walk::walk(watched, &watched.config.path, &mut poll);
    // Files below a folder that became unreadable are not gone: they come back with it.
    let gone = previous
        .keys()
        .filter(|p| !poll.now.contains_key(*p))
        .filter(|p| !poll.unreadable.iter().any(|(d, _)| p.starts_with(d)))
        .cloned()
        .collect();
    Polled {
        snapshot: poll.now,
        changed: poll.changed,
        gone,
        unreadable: poll.unreadable,
    }
}

/// What arming a folder gave.
pub enum Armed {
    Native(Native, Extended),
    /// The first walk, and why polling (`None`: configured).
    Poll(Polled, Option<String>),
    Failed(String),
}

/// Chooses and arms the backend of one folder (blocking). `degraded`: why inotify failed
/// for it earlier (then `auto` polls without trying again).
pub fn arm(
    watched: &Watched,
    mode: WatchMode,
    degraded: Option<String>,
    sink: Sink,
    generation: u64,
) -> Armed {
    let choice = match degraded {
        Some(why) if mode == WatchMode::Auto => Err(why),
        _ => choose(mode, &watched.config.path),
    };
    let why_poll = match choice {
        Ok(()) => match Native::arm(watched, sink, generation) {
            Ok((native, found)) => return Armed::Native(native, found),
            Err(e) if mode == WatchMode::Native => return Armed::Failed(e.message().to_owned()),
            Err(e) => Some(e.message().to_owned()),
        },
        Err(_) if mode == WatchMode::Poll => None,
        Err(why) => Some(why),
    };
    Armed::Poll(poll_once(watched, &PollSnapshot::new(), false), why_poll)
}

/// The poll backend of one folder: walks it every `every` and reports the differences,
/// starting from the first walk `first`.
pub async fn poll(
    watched: Watched,
    first: Polled,
    every: std::time::Duration,
    tx: mpsc::Sender<Input>,
    stop: CancellationToken,
) {
    let mut snapshot = first.snapshot;
    let mut unreadable = first.unreadable;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
        let w = watched.clone();
        let Ok(polled) = tokio::task::spawn_blocking(move || poll_once(&w, &snapshot, true)).await
        else {
            return;
        };
        snapshot = polled.snapshot;
        if polled.unreadable != unreadable {
            unreadable = polled.unreadable;
            let (watch, folders) = (watched.index, unreadable.clone());
            if tx.send(Input::Unreadable { watch, folders }).await.is_err() {
                return;
            }
        }
        for file in polled.changed {
            let watch = watched.index;
            if tx.send(Input::Seen { watch, file }).await.is_err() {
                return;
            }
        }
        for path in polled.gone {
            if tx.send(Input::Gone { path }).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::tests::watched;

    #[test]
    fn local_disks_are_not_network_filesystems() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(network_filesystem(dir.path()), None);
        assert!(choose(WatchMode::Auto, dir.path()).is_ok());
        assert!(
            choose(WatchMode::Poll, dir.path())
                .unwrap_err()
                .contains("poll")
        );
    }

    #[test]
    fn the_watch_limit_is_a_limit_and_a_vanished_folder_nothing() {
        let limit = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        assert!(
            matches!(arm_error(&limit), Some(ArmError::Limit(m)) if m.contains("max_user_watches"))
        );
        let gone = notify::Error::new(notify::ErrorKind::PathNotFound);
        assert_eq!(arm_error(&gone), None);
        let enospc = notify::Error::io(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(matches!(arm_error(&enospc), Some(ArmError::Limit(_))));
    }

    #[test]
    fn polling_reports_new_changed_and_gone_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cam");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/old.jpg"), b"1").unwrap();
        std::fs::write(root.join("gone.jpg"), b"1").unwrap();
        let w = watched(&root, "");
        let first = poll_once(&w, &PollSnapshot::new(), false);
        assert!(
            first.changed.is_empty(),
            "the first walk only takes the snapshot"
        );
        std::fs::write(root.join("a/old.jpg"), b"12").unwrap();
        std::fs::write(root.join("a/new.jpg"), b"1").unwrap();
        std::fs::remove_file(root.join("gone.jpg")).unwrap();
        let next = poll_once(&w, &first.snapshot, true);
        let mut names: Vec<_> = next.changed.iter().map(|f| f.path.clone()).collect();
        names.sort();
        assert_eq!(names, [root.join("a/new.jpg"), root.join("a/old.jpg")]);
        assert_eq!(next.gone, [root.join("gone.jpg")]);
    }

    #[tokio::test]
    async fn a_full_channel_loses_events_but_raises_the_overflow_flag() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cam");
        std::fs::create_dir_all(&root).unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let sink = Sink {
            tx,
            overflowed: Arc::default(),
            wake: Arc::default(),
        };
        let overflowed = Arc::clone(&sink.overflowed);
        let wake = Arc::clone(&sink.wake);
        let (_native, _) = Native::arm(&watched(&root, ""), sink, 1).unwrap();
        for i in 0..3 {
            std::fs::write(root.join(format!("{i}.jpg")), b"x").unwrap();
        }
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("the watcher is woken");
        assert!(overflowed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn inotify_watches_every_folder_but_the_ignored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cam");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("a/@eaDir")).unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let sink = Sink {
            tx,
            overflowed: Arc::default(),
            wake: Arc::default(),
        };
        let w = watched(&root, "");
        let (native, found) = Native::arm(&w, sink, 7).unwrap();
        assert_eq!(found.dirs, 3, "cam, a, a/b");
        std::fs::write(root.join("a/b/x.jpg"), b"x").unwrap();
        let Some(Input::Event {
            watch,
            generation,
            event,
        }) = rx.recv().await
        else {
            panic!("an event")
        };
        assert_eq!((watch, generation), (1, 7));
        assert_eq!(event.unwrap().paths, [root.join("a/b/x.jpg")]);
        drop(native);
    }
}
