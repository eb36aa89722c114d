//! [`Watcher`]: the daemon's live view of the watched folders.
//!
//! Each folder gets a backend ([`super::backend`]): inotify, or polling on network
//! filesystems and when inotify fails (its watch limit), recorded in the store for
//! `status`. Events become candidates in the [`Settler`]; a candidate that stays quiet is
//! recorded exactly like a scanned file ([`scan::record_files`]) and the workers are woken.
//! A folder that appears (created, moved in) is watched and walked at once, as its files
//! made no events of their own.
//!
//! A settled file whose structure says it is incomplete ([`super::complete`]) is held in the
//! settler, not queued, until it changes or `incomplete_wait` has passed since it last did.
//! A folder below a watched one that cannot be read is left out, shown in `status`, and
//! tried again every `poll_interval` (a poller meets it on each walk anyway).
//!
//! Events can be lost (a full queue), so an overflow asks for a full reconciling scan
//! (`rescan_now`), as does a folder that comes back: every `poll_interval` each watched
//! folder is looked at, and one that vanished (unmounted disk, remounted share) is re-armed
//! when it, or a different folder at its path, is back.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::ScanConfig;
use crate::store::{RootMode, Store, StoreError};

use super::backend::{self, ArmError, Armed, Extended, Input, Native, Sink, Unreadable, arm, poll};
use super::scan::{self, ScanReport};
use super::settle::{Hint, Settler};
use super::walk::{FoundFile, Identity};
use super::{Watched, watched_for};

mod roots;

/// Inputs the channel holds before events count as lost.
const CHANNEL_CAPACITY: usize = 16 * 1024;

/// What the watcher needs.
#[derive(Clone)]
pub struct WatchContext {
    pub store: Store,
    pub watched: Vec<Watched>,
    pub settings: ScanConfig,
    /// Rung when files are queued.
    pub work_queued: Arc<Notify>,
    /// Rung to ask for a full reconciling scan.
    pub rescan_now: Arc<Notify>,
}

enum Backend {
    /// Nothing live: the folder is missing, or inotify failed and polling is not allowed.
    Idle,
    Native(Arc<Native>),
    Poll(CancellationToken),
}

struct Root {
    watched: Watched,
    /// Device and inode of the folder when it was armed: a different folder at the same
    /// path (a remount) is armed again.
    id: Option<(u64, u64)>,
    backend: Backend,
    generation: u64,
    /// Why inotify failed for it at run time; it polls (in `auto`) until the daemon
    /// restarts.
    degraded: Option<String>,
    /// How it is watched, as last armed: mode, health and message for `status`.
    armed: Option<(RootMode, bool, String)>,
    /// Folders below it that cannot be read: not watched, their files unseen.
    unreadable: Unreadable,
}

/// Hands files found elsewhere (a scan's young files) to the watcher to settle.
#[derive(Clone)]
pub struct Offer(mpsc::Sender<Input>);

impl Offer {
    /// `file` (under `watch[watch]`) was seen; it is queued once it stays the same.
    pub async fn seen(&self, watch: usize, file: FoundFile) {
        let _ = self.0.send(Input::Seen { watch, file }).await;
    }
}

/// The running watcher; see the module docs.
pub struct Watcher {
    ctx: WatchContext,
    sink: Sink,
    rx: mpsc::Receiver<Input>,
    roots: Vec<Root>,
    settler: Settler,
    generations: u64,
    /// Folders (or paths of unknown type) to look at before settling.
    explore: Vec<(usize, PathBuf)>,
    /// Paths removed or renamed away: their settled rows are marked gone if nothing is
    /// there any more, so `status` stops counting them at once.
    vanished: Vec<PathBuf>,
    check_roots: bool,
    /// Roots whose unreadable folders changed: their status is recorded again.
    dirty: Vec<usize>,
    stop: CancellationToken,
}

impl Watcher {
    /// Arms every watched folder (the walks run on the blocking pool) and records how each
    /// is watched. Arm before the startup scan, so nothing falls between the two.
    pub async fn start(ctx: WatchContext, stop: CancellationToken) -> Result<Watcher, StoreError> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let roots = ctx
            .watched
            .iter()
            .map(|w| Root {
                watched: w.clone(),
                id: None,
                backend: Backend::Idle,
                generation: 0,
                degraded: None,
                armed: None,
                unreadable: Vec::new(),
            })
            .collect();
        ctx.store.call(|db| db.clear_watch_roots()).await?;
        let mut watcher = Watcher {
            // Observations (polls, scans) settle only when two polls agree.
            settler: Settler::new(
                ctx.settings.settle,
                ctx.settings.settle.max(ctx.settings.poll_interval),
            ),
            ctx,
            sink: Sink {
                tx,
                overflowed: Arc::new(AtomicBool::new(false)),
                wake: Arc::new(Notify::new()),
            },
            rx,
            roots,
            generations: 0,
            explore: Vec::new(),
            vanished: Vec::new(),
            check_roots: false,
            dirty: Vec::new(),
            stop,
        };
        for i in 0..watcher.roots.len() {
            watcher.check_root(i).await?;
        }
        Ok(watcher)
    }

    /// A handle that feeds files into this watcher's settle step.
    pub fn offer(&self) -> Offer {
        Offer(self.sink.tx.clone())
    }

    /// Runs until `stop` (given to [`Watcher::start`]) is cancelled.
    pub async fn run(mut self) -> Result<(), StoreError> {
        let mut root_check = tokio::time::interval(self.ctx.settings.poll_interval);
        root_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        root_check.tick().await;
        let mut inputs = Vec::with_capacity(1024);
        loop {
            let next_due = self.settler.next_due();
            let due = async move {
                match next_due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.stop.cancelled() => break,
                n = self.rx.recv_many(&mut inputs, 1024) => {
                    if n == 0 {
                        break;
                    }
                    for input in inputs.drain(..) {
                        self.take(input);
                    }
                }
                () = self.sink.wake.notified() => {}
                _ = root_check.tick() => self.check_roots = true,
                () = due => {}
            }
            if self.sink.overflowed.swap(false, Ordering::SeqCst) {
                tracing::warn!("file events were lost (too many at once); rescanning");
                self.ctx.rescan_now.notify_one();
            }
            if std::mem::take(&mut self.check_roots) {
                for i in 0..self.roots.len() {
                    self.check_root(i).await?;
                    self.retry_unreadable(i).await;
                }
            }
            if !self.explore.is_empty() {
                self.explore().await;
            }
            if !self.vanished.is_empty() {
                self.record_vanished().await?;
            }
            for i in std::mem::take(&mut self.dirty) {
                self.record_status(i).await?;
            }
            self.settle_due().await?;
        }
        for root in &mut self.roots {
            if let Backend::Poll(stop) = std::mem::replace(&mut root.backend, Backend::Idle) {
                stop.cancel();
            }
        }
        // Nothing watches any more: `status` falls back to what the config says.
        self.ctx.store.call(|db| db.clear_watch_roots()).await
    }

    fn root_index(&self, watch: usize) -> Option<usize> {
        self.roots.iter().position(|r| r.watched.index == watch)
    }

    /// Turns one input into settler notes, folders to explore, or a rescan.
    fn take(&mut self, input: Input) {
        let now = Instant::now();
        let (watch, generation, event) = match input {
            Input::Seen { watch, file } => {
                let hint = Hint::Seen(file.identity);
                self.settler.note(watch, file.path, hint, now);
                return;
            }
            Input::Gone { path } => {
                self.settler.forget(&path);
                self.vanished.push(path);
                return;
            }
            Input::Unreadable { watch, folders } => {
                if let Some(i) = self.root_index(watch) {
                    self.roots[i].unreadable = folders;
                    self.dirty.push(i);
                }
                return;
            }
            Input::Event {
                watch,
                generation,
                event,
            } => (watch, generation, event),
        };
        let Some(i) = self.root_index(watch) else {
            return;
        };
        if self.roots[i].generation != generation {
            return; // from a watcher since replaced
        }
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                if let Some(ArmError::Limit(message)) = backend::arm_error(&e) {
                    self.degrade(i, message);
                } else {
                    tracing::debug!("file event error: {e}");
                }
                return;
            }
        };
        if event.need_rescan() {
            self.ctx.rescan_now.notify_one();
        }
        let root = &self.roots[i].watched;
        let (from, to) = match event.kind {
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if event.paths.len() == 2 => {
                (Some(&event.paths[0]), Some(&event.paths[1]))
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
                (event.paths.first(), None)
            }
            _ => (None, event.paths.first()),
        };
        if let Some(gone) = from {
            if gone == &root.config.path {
                self.check_roots = true;
            }
            self.settler.forget(gone);
            self.vanished.push(gone.clone());
        }
        let Some(path) = to else {
            return;
        };
        let Some(rel) = root.relative(path) else {
            return;
        };
        if rel.as_os_str().is_empty() || root.rules.explain(rel, None).is_some() {
            return;
        }
        let hint = match event.kind {
            EventKind::Create(CreateKind::File) | EventKind::Modify(ModifyKind::Metadata(_)) => {
                Hint::Changed
            }
            EventKind::Modify(ModifyKind::Data(_)) => Hint::Written,
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Hint::Closed,
            EventKind::Access(_) | EventKind::Remove(_) => return,
            // A folder, or something renamed in: look before deciding.
            _ => {
                self.explore.push((watch, path.clone()));
                return;
            }
        };
        self.settler.note(watch, path.clone(), hint, now);
    }

    /// Marks the rows of removed paths gone (after a look: a rename-over or a quick
    /// re-creation leaves the path there).
    async fn record_vanished(&mut self) -> Result<(), StoreError> {
        let paths = std::mem::take(&mut self.vanished);
        let (store, watched) = (self.ctx.store.clone(), self.ctx.watched.clone());
        tokio::task::spawn_blocking(move || scan::mark_vanished(&store, &watched, &paths))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(())
    }

    /// Looks at paths of unknown type: folders are watched (if native) and their files
    /// noted, files go to the settler.
    async fn explore(&mut self) {
        let batch = std::mem::take(&mut self.explore);
        let jobs: Vec<(usize, PathBuf, Watched, Option<Arc<Native>>)> = batch
            .into_iter()
            .filter_map(|(watch, path)| {
                let root = &self.roots[self.root_index(watch)?];
                let native = match &root.backend {
                    Backend::Native(n) => Some(Arc::clone(n)),
                    _ => None,
                };
                Some((watch, path, root.watched.clone(), native))
            })
            .collect();
        let found = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for (watch, path, watched, native) in jobs {
                match kind_of(&watched, &path) {
                    Some(Kind::File) => out.push((watch, Ok(path))),
                    Some(Kind::Dir) => {
                        let rel = watched.relative(&path).unwrap_or(&path);
                        if watched.rules.explain(rel, Some(true)).is_some() {
                            continue;
                        }
                        let files = match native {
                            Some(n) => n.extend(&watched, &path, true),
                            None => Ok(Extended {
                                files: files_below(&watched, &path),
                                ..Extended::default()
                            }),
                        };
                        out.push((watch, Err(files)));
                    }
                    None => {}
                }
            }
            out
        })
        .await
        .unwrap_or_default();
        let now = Instant::now();
        for (watch, found) in found {
            match found {
                Ok(file) => self.settler.note(watch, file, Hint::Changed, now),
                Err(Ok(found)) => {
                    for f in found.files {
                        self.settler
                            .note(watch, f.path, Hint::Seen(f.identity), now);
                    }
                    if !found.unreadable.is_empty()
                        && let Some(i) = self.root_index(watch)
                    {
                        self.roots[i].unreadable.extend(found.unreadable);
                        self.dirty.push(i);
                    }
                }
                Err(Err(ArmError::Limit(message))) => {
                    if let Some(i) = self.root_index(watch) {
                        self.degrade(i, message);
                    }
                }
                Err(Err(ArmError::Failed(message))) => tracing::warn!("{message}"),
            }
        }
    }

    /// Stats every due path; records the files that settled and wakes the workers.
    async fn settle_due(&mut self) -> Result<(), StoreError> {
        let due = self.settler.due(Instant::now());
        if due.is_empty() {
            return Ok(());
        }
        let watched = self.ctx.watched.clone();
        let looks = tokio::task::spawn_blocking(move || {
            due.into_iter()
                .map(|path| {
                    let found = watched_for(&watched, &path)
                        .filter(|w| matches!(kind_of(w, &path), Some(Kind::File)))
                        .and_then(|w| {
                            let rel = w.relative(&path)?;
                            w.rules.explain(rel, Some(false)).is_none().then_some(())?;
                            std::fs::metadata(&path).ok().map(|m| Identity::of(&m))
                        });
                    (path, found)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        let now = Instant::now();
        let mut settled: Vec<(usize, FoundFile)> = Vec::new();
        for (path, found) in looks {
            if let Some(s) = self.settler.checked(&path, found, now) {
                let file = FoundFile {
                    path: s.path,
                    identity: s.identity,
                };
                settled.push((s.watch, file));
            }
        }
        if settled.is_empty() {
            return Ok(());
        }
        let settled = self.hold_incomplete(settled).await?;
        if settled.is_empty() {
            return Ok(());
        }
        let (store, watched) = (self.ctx.store.clone(), self.ctx.watched.clone());
        let report = tokio::task::spawn_blocking(move || {
            let mut report = ScanReport::default();
            for w in &watched {
                let files: Vec<FoundFile> = settled
                    .iter()
                    .filter(|(i, _)| *i == w.index)
                    .map(|(_, f)| f.clone())
                    .collect();
                scan::record_files(&store, w, files, &mut report)?;
            }
            Ok::<_, StoreError>(report)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        if report.new + report.changed > 0 {
            tracing::info!(
                new = report.new,
                changed = report.changed,
                "queued settled files"
            );
            self.ctx.work_queued.notify_waiters();
        }
        Ok(())
    }

    /// Returns the settled files that look complete (or are old enough to be uploaded as
    /// they are); holds the others in the settler until they are that old.
    async fn hold_incomplete(
        &mut self,
        settled: Vec<(usize, FoundFile)>,
    ) -> Result<Vec<(usize, FoundFile)>, StoreError> {
        let wait = self.ctx.settings.incomplete_wait;
        let judged = tokio::task::spawn_blocking(move || {
            settled
                .into_iter()
                .map(|(watch, f)| {
                    let why = scan::looks_incomplete(&f, wait);
                    (watch, f, why)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        let now = Instant::now();
        let mut ready = Vec::with_capacity(judged.len());
        for (watch, file, why) in judged {
            let Some(why) = why else {
                ready.push((watch, file));
                continue;
            };
            let message = super::complete::waiting_message(&why, wait);
            tracing::info!(file = %crate::paths::shown(&file.path), "{message}");
            let until = now + hold_for(file.identity.mtime_ns, wait).max(self.ctx.settings.settle);
            self.settler
                .hold(watch, file.path, file.identity, until, now);
        }
        Ok(ready)
    }
}

/// How long after now a file modified at `mtime_ns` turns `wait` old.
fn hold_for(mtime_ns: i64, wait: Duration) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let modified = Duration::from_nanos(u64::try_from(mtime_ns).unwrap_or(0));
    (modified + wait).saturating_sub(now)
}

enum Kind {
    File,
    Dir,
}

/// What `path` is, following a symbolic link only where the watch follows them.
fn kind_of(watched: &Watched, path: &Path) -> Option<Kind> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let meta = if meta.file_type().is_symlink() {
        if !watched.config.follow_symlinks {
            return None;
        }
        std::fs::metadata(path).ok()?
    } else {
        meta
    };
    if meta.is_dir() {
        Some(Kind::Dir)
    } else if meta.is_file() {
        Some(Kind::File)
    } else {
        None
    }
}

/// Every file below `dir` (a folder that appeared in a polled or idle folder).
fn files_below(watched: &Watched, dir: &Path) -> Vec<FoundFile> {
    struct Collect(Vec<FoundFile>);
    impl super::walk::Visitor for Collect {
        fn files(&mut self, _dir: &Path, files: Vec<FoundFile>) {
            self.0.extend(files);
        }
        fn unreadable(&mut self, _dir: &Path, _error: &std::io::Error) {}
    }
    let mut c = Collect(Vec::new());
    super::walk::walk(watched, dir, &mut c);
    c.0
}
