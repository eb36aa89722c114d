//! The health of each watched root: retrying unreadable folders, degrading to polling,
//! noticing a root that vanished or came back, and recording all of it for `status`.

use super::*;

impl Watcher {
    /// Tries the unreadable folders of `roots[i]` again (native only: a poller walks into
    /// them by itself); those now readable are watched and their files settled.
    pub(super) async fn retry_unreadable(&mut self, i: usize) {
        let root = &self.roots[i];
        let Backend::Native(native) = &root.backend else {
            return;
        };
        if root.unreadable.is_empty() {
            return;
        }
        let (native, watched) = (Arc::clone(native), root.watched.clone());
        let folders = root.unreadable.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut still = Vec::new();
            let mut files = Vec::new();
            for (dir, why) in folders {
                match native.extend(&watched, &dir, true) {
                    Ok(found) => {
                        files.extend(found.files);
                        still.extend(found.unreadable);
                    }
                    Err(e) => {
                        tracing::debug!("cannot watch {}: {}", dir.display(), e.message());
                        still.push((dir, why));
                    }
                }
            }
            (still, files)
        })
        .await;
        let Ok((still, files)) = found else {
            return;
        };
        let (now, watch) = (Instant::now(), self.roots[i].watched.index);
        if !files.is_empty() {
            tracing::info!(files = files.len(), "a folder became readable; watching it");
        }
        for f in files {
            self.settler
                .note(watch, f.path, Hint::Seen(f.identity), now);
        }
        if still != self.roots[i].unreadable {
            self.roots[i].unreadable = still;
            self.dirty.push(i);
        }
    }

    /// inotify failed at run time (watch limit): poll instead, where allowed.
    pub(super) fn degrade(&mut self, i: usize, message: String) {
        let root = &mut self.roots[i];
        if root.degraded.is_some() {
            return;
        }
        tracing::warn!(folder = %root.watched.config.path.display(), "{message}");
        root.degraded = Some(message);
        root.id = None; // the next root check arms it again, as a poller
        root.backend = Backend::Idle;
        self.check_roots = true;
        self.ctx.rescan_now.notify_one();
    }

    /// Arms, re-arms or disarms `roots[i]` after looking at its folder, and records it.
    pub(super) async fn check_root(&mut self, i: usize) -> Result<(), StoreError> {
        let path = self.roots[i].watched.config.path.clone();
        let id = std::fs::metadata(&path)
            .ok()
            .filter(std::fs::Metadata::is_dir)
            .map(|m| (m.dev(), m.ino()));
        let root = &mut self.roots[i];
        let first = root.generation == 0;
        if id == root.id && (id.is_some() || !first) {
            return Ok(()); // the same folder, or still missing
        }
        self.generations += 1;
        let generation = self.generations;
        root.generation = generation;
        if let Backend::Poll(stop) = std::mem::replace(&mut root.backend, Backend::Idle) {
            stop.cancel();
        }
        root.id = id;
        root.unreadable.clear();
        if id.is_none() {
            tracing::warn!(folder = %path.display(), "watched folder is missing; waiting for it to come back");
            let msg =
                "the folder is missing (unmounted or deleted?); watching resumes when it is back";
            return self.record_root(i, RootMode::Scan, false, msg).await;
        }
        let (watched, sink) = (root.watched.clone(), self.sink.clone());
        let (mode, degraded) = (self.ctx.settings.watch_mode, root.degraded.clone());
        let poll_every = humantime::format_duration(self.ctx.settings.poll_interval).to_string();
        let armed =
            tokio::task::spawn_blocking(move || arm(&watched, mode, degraded, sink, generation))
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?;
        let (backend, status) = match armed {
            Armed::Native(native, found) => {
                self.roots[i].unreadable = found.unreadable;
                (
                    Backend::Native(Arc::new(native)),
                    (
                        RootMode::Native,
                        true,
                        format!("inotify on {} folders", found.dirs),
                    ),
                )
            }
            Armed::Poll(polled, why) => {
                self.roots[i].unreadable.clone_from(&polled.unreadable);
                let stop = self.stop.child_token();
                let watched = self.roots[i].watched.clone();
                let every = self.ctx.settings.poll_interval;
                tokio::spawn(poll(
                    watched,
                    polled,
                    every,
                    self.sink.tx.clone(),
                    stop.clone(),
                ));
                let why = why.unwrap_or_else(|| "watch_mode = \"poll\"".into());
                (
                    Backend::Poll(stop),
                    (
                        RootMode::Poll,
                        true,
                        format!("polling every {poll_every}: {why}"),
                    ),
                )
            }
            Armed::Failed(why) => (
                Backend::Idle,
                (
                    RootMode::Scan,
                    false,
                    format!("{why}; only the periodic scans find new files"),
                ),
            ),
        };
        if !matches!(status.0, RootMode::Native) {
            tracing::warn!(folder = %path.display(), "{}", status.2);
        } else if !first {
            tracing::info!(folder = %path.display(), "watching the folder again");
        }
        self.roots[i].backend = backend;
        self.roots[i].armed = Some(status);
        if !first {
            self.ctx.rescan_now.notify_one();
        }
        self.record_status(i).await
    }

    /// Records how `roots[i]` is watched, with its unreadable folders (then unhealthy).
    pub(super) async fn record_status(&self, i: usize) -> Result<(), StoreError> {
        let root = &self.roots[i];
        let Some((mode, healthy, message)) = root.armed.clone() else {
            return Ok(());
        };
        match crate::watch::unreadable_message(&root.unreadable) {
            Some(problem) => {
                tracing::warn!(folder = %crate::paths::shown(&root.watched.config.path), "{problem}");
                let message = format!("{message}; {problem}");
                self.record_root(i, mode, false, &message).await
            }
            None => self.record_root(i, mode, healthy, &message).await,
        }
    }

    pub(super) async fn record_root(
        &self,
        i: usize,
        mode: RootMode,
        healthy: bool,
        message: &str,
    ) -> Result<(), StoreError> {
        let w = &self.roots[i].watched;
        let (path, index, message) = (w.config.path.clone(), w.index, message.to_owned());
        self.ctx
            .store
            .call(move |db| db.set_watch_root(&path, index, mode, healthy, Some(&message)))
            .await
    }
}
