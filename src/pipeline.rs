//! Assembles the stages: scan → store ← workers → creator, with the pause gate, and runs
//! them until the queue is drained (`sync`) or until shutdown (`run`).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::after_upload;
use crate::api::ApiClient;
use crate::auth::AuthError;
use crate::config::Config;
use crate::create::{CreateContext, run_creator};
use crate::limits::BudgetSpent;
use crate::lock::{LockError, StateLock};
use crate::pause::{PauseGate, lift_pauses};
use crate::store::{
    Counts, FileRow, FileState, Pause, PauseReason, RootMode, Store, StoreError, unix_now,
};
use crate::upload::{UploadContext, run_worker};
use crate::watch::unqueue::unqueue_unwatched;
use crate::watch::watcher::Offer;
use crate::watch::{WatchContext, WatchError, Watched, Watcher, scan};

/// How long a graceful stop may take before in-flight work is abandoned (it resumes on
/// the next start).
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// Why the pipeline could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the state directory {0} was deleted or replaced while gphotosd was running")]
    StateLost(std::path::PathBuf),
    #[error("cannot create the state directory {path}: {cause}")]
    StateDir {
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Watch(#[from] WatchError),
}

/// One-shot or long-running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Scan once, upload everything, stop when the queue is drained or paused.
    Sync,
    /// Keep running: rescan periodically, wait out pauses.
    Daemon,
}

/// What a run ended with.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub counts: Counts,
    /// Files that failed, newest first.
    pub failed: Vec<FileRow>,
    /// Files in Google Photos whose after-upload action (delete, move) failed.
    pub after_upload_failed: Vec<FileRow>,
    /// The pause that ended a sync, if one did.
    pub pause: Option<Pause>,
    /// Files a sync left alone because they look incomplete and changed recently (a copy
    /// in progress), with what is missing: the next sync looks again.
    pub incomplete: Vec<(PathBuf, String)>,
    /// Files a sync left alone because they were modified within `[scan] settle` of its
    /// start (they may still be being written; most formats cannot tell), with their age
    /// when the scan saw them: the next sync looks again.
    pub settling: Vec<(PathBuf, Duration)>,
    /// Folders a sync could not read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Runs the pipeline for `config` until it is done (`Mode::Sync`) or `shutdown` fires.
/// `ready` is called once the folders are watched (before the first scan's result).
pub async fn run(
    config: Config,
    mode: Mode,
    shutdown: CancellationToken,
    ready: impl FnOnce(),
) -> Result<Outcome, PipelineError> {
    create_state_dir(&config)?;
    let _lock = StateLock::acquire(&config.lock_path())?;
    let store = Store::open(&config.database_path())?;
    // Taken now, while they are certainly ours, to notice them vanishing later.
    let state_files: Vec<_> = [config.database_path(), config.lock_path()]
        .into_iter()
        .map(|p| {
            let id = file_identity(&p);
            (p, id)
        })
        .collect();
    // Before the crash recovery, which turns `creating` rows into uploads again, and before
    // any worker or the creator: a file the configuration no longer watches is never sent.
    let (s, watches) = (store.clone(), config.watch.clone());
    let unqueued = tokio::task::spawn_blocking(move || unqueue_unwatched(&s, &watches))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    if unqueued > 0 {
        tracing::warn!(
            files = unqueued,
            "took files out of the queue that the configuration no longer watches"
        );
    }
    let max_age = i64::try_from(config.upload.token_max_age.as_secs()).unwrap_or(i64::MAX);
    let recovered = store
        .call(move |db| db.recover_after_restart(max_age))
        .await?;
    if recovered > 0 {
        tracing::info!(
            files = recovered,
            "picked up work interrupted by the last stop"
        );
    }
    // A daily-quota pause outlives the process until midnight Pacific: Google counts per
    // project, not per run, so a restart must not spend more requests that day. Every other
    // pause is checked afresh by the next request.
    // A pause for our own budget ends when the budget is raised above what is spent.
    let budget = config.upload.daily_request_budget;
    let kept_pause = store
        .call(move |db| {
            db.record_daemon_start(std::process::id(), env!("CARGO_PKG_VERSION"))?;
            let spent = db.requests_on(&crate::limits::pacific_day(chrono::Utc::now()))?;
            let kept = db.daemon_row()?.pause.filter(|p| {
                p.reason == PauseReason::DailyQuota
                    && p.until.is_some_and(|u| u > unix_now())
                    && !(BudgetSpent::describes(&p.message) && spent < budget)
            });
            db.set_pause(kept.as_ref())?;
            Ok(kept)
        })
        .await?;

    let api = ApiClient::from_config(
        &config,
        store.clone(),
        config.upload.max_bytes_per_second.as_u64(),
    )?;
    let tokens = Arc::clone(api.tokens());
    let gate = PauseGate::new(store.clone());
    if let Some(pause) = kept_pause {
        gate.set(pause).await;
    }
    let work_queued = Arc::new(Notify::new());
    let uploaded = Arc::new(Notify::new());
    let created = Arc::new(Notify::new());

    // Without a usable token there is no point in starting workers that would all fail;
    // the daemon pauses (and keeps queueing), a sync reports it.
    if let Err(e) = tokens.access_token().await
        && !e.is_transient()
    {
        let reason = match e {
            AuthError::ScopeMissing { .. } => PauseReason::ScopeMissing,
            AuthError::ClientSecret { .. } => return Err(e.into()),
            _ => PauseReason::AuthRequired,
        };
        gate.set(Pause {
            reason,
            message: e.to_string(),
            until: None,
        })
        .await;
    }

    let tracker = TaskTracker::new();
    let state_lost = Arc::new(AtomicBool::new(false));
    let stop = shutdown.child_token();
    let watched = Watched::all(&config.watch)?;
    let rescan_now = Arc::new(Notify::new());
    // The daemon arms its watcher before the startup scan, so no file falls between the
    // two, and runs it before the scan hands it the files still being written.
    let offer = if mode == Mode::Daemon {
        let ctx = WatchContext {
            store: store.clone(),
            watched: watched.clone(),
            settings: config.scan.clone(),
            work_queued: Arc::clone(&work_queued),
            rescan_now: Arc::clone(&rescan_now),
        };
        let watcher = Watcher::start(ctx, stop.clone()).await?;
        let offer = watcher.offer();
        let s = stop.clone();
        tracker.spawn(async move { stop_on_error(watcher.run().await, &s) });
        Some(offer)
    } else {
        None
    };
    // Ready once watching: a first scan of a large tree may take longer than systemd's
    // start timeout, and nothing written meanwhile is missed (the watcher is armed).
    ready();
    let first_scan = rescan(&store, &watched, &config, offer.as_ref()).await?;
    // Ages as the scan saw them: by the end of a long sync they are older than settle.
    let settling: Vec<(PathBuf, Duration)> = first_scan
        .young
        .iter()
        .map(|(_, f)| {
            (
                f.path.clone(),
                crate::watch::complete::age(f.identity.mtime_ns),
            )
        })
        .collect();
    if mode == Mode::Sync {
        record_unreadable(&store, &watched, &first_scan.unreadable).await?;
    }
    work_queued.notify_waiters();

    let upload_ctx = UploadContext {
        store: store.clone(),
        api: api.clone(),
        gate: gate.clone(),
        settings: config.upload.clone(),
        work_queued: Arc::clone(&work_queued),
        uploaded: Arc::clone(&uploaded),
    };
    for _ in 0..config.upload.workers {
        let (ctx, stop) = (upload_ctx.clone(), stop.clone());
        tracker.spawn(async move { stop_on_error(run_worker(ctx, stop.clone()).await, &stop) });
    }
    let create_ctx = CreateContext {
        store: store.clone(),
        api,
        gate: gate.clone(),
        settings: config.create.clone(),
        upload: config.upload.clone(),
        uploaded,
        work_queued: Arc::clone(&work_queued),
        created: Arc::clone(&created),
        flush_when_drained: mode == Mode::Sync,
    };
    let s = stop.clone();
    tracker.spawn(async move { stop_on_error(run_creator(create_ctx, s.clone()).await, &s) });
    tracker.spawn(lift_pauses(gate.clone(), tokens, stop.clone()));
    if mode == Mode::Daemon {
        tracker.spawn(periodic_rescan(
            Rescan {
                store: store.clone(),
                watched,
                config: config.clone(),
                offer,
            },
            work_queued,
            rescan_now,
            stop.clone(),
        ));
        let (s, watches) = (store.clone(), config.watch.clone());
        tracker.spawn(after_upload::run(s, watches, stop.clone()));
        tracker.spawn(heartbeat(
            store.clone(),
            state_files.clone(),
            Arc::clone(&state_lost),
            stop.clone(),
        ));
    }
    tracker.close();

    let ended_by_pause = match mode {
        Mode::Sync => wait_until_drained(&store, &gate, &created, &stop).await?,
        Mode::Daemon => {
            stop.cancelled().await;
            None
        }
    };
    stop.cancel();
    if tokio::time::timeout(STOP_DEADLINE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some work did not stop in time; it resumes on the next start");
    }
    if state_lost.load(Ordering::Relaxed) {
        return Err(PipelineError::StateLost(config.state.dir.clone()));
    }
    if mode == Mode::Sync {
        after_upload::apply_due(&store, &config.watch).await?;
    }
    let (counts, failed, after_upload_failed) = store
        .call(|db| {
            Ok((
                db.counts()?,
                db.files_in_state(FileState::Failed, 1000)?,
                db.after_upload_failures(1000)?,
            ))
        })
        .await?;
    Ok(Outcome {
        counts,
        failed,
        after_upload_failed,
        pause: ended_by_pause,
        incomplete: first_scan
            .incomplete
            .into_iter()
            .map(|(_, f, why)| (f.path, why))
            .collect(),
        settling,
        unreadable: first_scan.unreadable,
    })
}

fn create_state_dir(config: &Config) -> Result<(), PipelineError> {
    let dir = &config.state.dir;
    if dir.is_dir() {
        return Ok(());
    }
    let err = |cause| PipelineError::StateDir {
        path: dir.clone(),
        cause,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

fn stop_on_error(result: Result<(), StoreError>, stop: &CancellationToken) {
    if let Err(e) = result {
        tracing::error!("stopping: {e}");
        stop.cancel();
    }
}

/// Reconciles every watched folder with the store. Files modified within the settle
/// period and files that look incomplete and changed recently are not queued: a file being
/// written when the scan passes would otherwise be uploaded half-written. With a watcher
/// (`offer`) they are handed to it; a sync reports them and leaves them to the next one.
async fn rescan(
    store: &Store,
    watched: &[Watched],
    config: &Config,
    offer: Option<&Offer>,
) -> Result<scan::ScanReport, StoreError> {
    let (s, w) = (store.clone(), watched.to_vec());
    let holds = scan::Holds {
        young: Some(config.scan.settle),
        incomplete: Some(config.scan.incomplete_wait),
    };
    let report = tokio::task::spawn_blocking(move || scan::scan_all(&s, &w, holds))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    if let Some(offer) = offer {
        for (watch, file) in report.young.iter().cloned() {
            offer.seen(watch, file).await;
        }
        for (watch, file, _) in report.incomplete.iter().cloned() {
            offer.seen(watch, file).await;
        }
    }
    for (path, why) in report.incomplete.iter().map(|(_, f, why)| (&f.path, why)) {
        let message = crate::watch::complete::waiting_message(why, config.scan.incomplete_wait);
        tracing::info!(file = %crate::paths::shown(path), "{message}");
    }
    if offer.is_none() {
        for (_, file) in &report.young {
            tracing::info!(
                file = %crate::paths::shown(&file.path),
                "modified within the settle period ({}): may still be being written",
                humantime::format_duration(config.scan.settle)
            );
        }
    }
    for (dir, why) in &report.unreadable {
        tracing::warn!(folder = %crate::paths::shown(dir), "cannot read folder: {why}");
    }
    tracing::info!(
        new = report.new,
        changed = report.changed,
        unchanged = report.unchanged,
        settling = report.young.len(),
        incomplete = report.incomplete.len(),
        "scanned watched folders"
    );
    Ok(report)
}

/// Records, for `status`, the watched folders of a sync that hold folders it could not
/// read (a daemon records its own view through its watcher).
async fn record_unreadable(
    store: &Store,
    watched: &[Watched],
    unreadable: &[(PathBuf, String)],
) -> Result<(), StoreError> {
    let rows: Vec<(PathBuf, usize, String)> = watched
        .iter()
        .filter_map(|w| {
            let below = unreadable
                .iter()
                .filter(|(dir, _)| dir.starts_with(&w.config.path));
            let message = crate::watch::unreadable_message(below)?;
            Some((w.config.path.clone(), w.index, message))
        })
        .collect();
    store
        .call(move |db| {
            db.clear_watch_roots()?;
            for (path, index, message) in &rows {
                db.set_watch_root(path, *index, RootMode::Scan, false, Some(message))?;
            }
            Ok(())
        })
        .await
}

/// What a rescan needs.
struct Rescan {
    store: Store,
    watched: Vec<Watched>,
    config: Config,
    offer: Option<Offer>,
}

/// Rescans every `[scan] interval`, and at once when the watcher asks (`rescan_now`:
/// events were lost, or a folder came back).
async fn periodic_rescan(
    r: Rescan,
    work_queued: Arc<Notify>,
    rescan_now: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(r.config.scan.interval) => {}
            () = rescan_now.notified() => {}
            () = stop.cancelled() => return,
        }
        match rescan(&r.store, &r.watched, &r.config, r.offer.as_ref()).await {
            Ok(_) => work_queued.notify_waiters(),
            Err(e) => tracing::error!("scan failed: {e}"),
        }
    }
}

/// The identity of a file, to notice it being deleted or replaced under us.
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Records proof of life for `status` and the watchdog, and stops the daemon if its state
/// directory was deleted or replaced: the database it writes would be invisible to
/// `status`, and without the lock file a second daemon could start beside it.
async fn heartbeat(
    store: Store,
    state_files: Vec<(std::path::PathBuf, Option<(u64, u64)>)>,
    state_lost: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    loop {
        let moved = state_files
            .iter()
            .find(|(path, id)| file_identity(path) != *id);
        if let Some((path, _)) = moved {
            tracing::error!(
                "{} was deleted or replaced while gphotosd was running; stopping (a restart \
                 starts over with a new state directory)",
                path.display()
            );
            state_lost.store(true, Ordering::Relaxed);
            stop.cancel();
            return;
        }
        if let Err(e) = store.call(|db| db.heartbeat()).await {
            tracing::error!("cannot record heartbeat: {e}");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Waits until no file needs work. A pause ends a sync (returned) unless it lifts by
/// itself soon. Looks again after every batch the creator records (the usual last step),
/// and every 200 ms for the other ends (failures, skips, pauses).
async fn wait_until_drained(
    store: &Store,
    gate: &PauseGate,
    created: &Notify,
    stop: &CancellationToken,
) -> Result<Option<Pause>, StoreError> {
    loop {
        // Registered before the look, so a batch recorded meanwhile is not missed.
        let batch_recorded = created.notified();
        if let Some(pause) = gate.current() {
            return Ok(Some(pause));
        }
        let counts = store.call(|db| db.counts()).await?;
        if counts.unfinished() == 0 {
            return Ok(None);
        }
        tokio::select! {
            () = batch_recorded => {}
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = stop.cancelled() => return Ok(None),
        }
    }
}
