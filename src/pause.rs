//! [`PauseGate`]: one global reason to stop sending, instead of thousands of failed files.
//!
//! Any stage that meets a global condition (daily quota, storage full, dead refresh token,
//! missing scope) sets the pause; workers and the creator wait at the gate; [`lift_pauses`]
//! clears it when the condition may be gone. The pause is mirrored into the database so
//! `gphotosd status` can show it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::auth::TokenSource;
use crate::store::{Pause, PauseReason, Store, unix_now};

/// Shared pause state of one pipeline.
#[derive(Clone)]
pub struct PauseGate {
    tx: Arc<watch::Sender<Option<Pause>>>,
    store: Store,
}

impl PauseGate {
    /// A gate with no pause.
    pub fn new(store: Store) -> PauseGate {
        PauseGate {
            tx: Arc::new(watch::channel(None).0),
            store,
        }
    }

    /// The current pause, if any.
    pub fn current(&self) -> Option<Pause> {
        self.tx.borrow().clone()
    }

    /// Pauses everything (logged once per change of reason).
    pub async fn set(&self, pause: Pause) {
        let changed = self.tx.borrow().as_ref().map(|p| p.reason) != Some(pause.reason);
        if changed {
            tracing::warn!(reason = pause.reason.as_str(), "paused: {}", pause.message);
        }
        let persisted = pause.clone();
        if let Err(e) = self
            .store
            .call(move |db| db.set_pause(Some(&persisted)))
            .await
        {
            tracing::error!("cannot record the pause: {e}");
        }
        self.tx.send_replace(Some(pause));
    }

    /// Lifts the pause.
    pub async fn clear(&self) {
        if self.tx.borrow().is_none() {
            return;
        }
        tracing::info!("resuming");
        if let Err(e) = self.store.call(|db| db.set_pause(None)).await {
            tracing::error!("cannot record the end of the pause: {e}");
        }
        self.tx.send_replace(None);
    }

    /// Waits until no pause holds. Returns false on shutdown.
    pub async fn wait_clear(&self, shutdown: &CancellationToken) -> bool {
        let mut rx = self.tx.subscribe();
        tokio::select! {
            r = rx.wait_for(Option::is_none) => r.is_ok(),
            () = shutdown.cancelled() => false,
        }
    }

    /// Waits until some pause holds; returns it. `None` on shutdown.
    async fn wait_paused(&self, shutdown: &CancellationToken) -> Option<Pause> {
        let mut rx = self.tx.subscribe();
        tokio::select! {
            r = rx.wait_for(Option::is_some) => r.ok().and_then(|p| p.clone()),
            () = shutdown.cancelled() => None,
        }
    }
}

/// Clears pauses when their cause may be gone: at the announced time (daily quota at
/// midnight Pacific, storage full at the next recheck), or when the token file changes
/// (the user ran `gphotosd auth`). If the cause persists, the next request pauses again.
pub async fn lift_pauses(gate: PauseGate, tokens: Arc<TokenSource>, shutdown: CancellationToken) {
    while let Some(pause) = gate.wait_paused(&shutdown).await {
        match pause.reason {
            PauseReason::DailyQuota | PauseReason::StorageFull => {
                let wait = pause.until.map_or(60, |u| (u - unix_now()).max(0));
                let wait = Duration::from_secs(u64::try_from(wait).unwrap_or(0));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => return,
                }
            }
            PauseReason::AuthRequired | PauseReason::ScopeMissing => {
                let seen = tokens.fingerprint();
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                        () = shutdown.cancelled() => return,
                    }
                    let now = tokens.fingerprint();
                    if now.is_some() && now != seen {
                        tracing::info!("the token file changed; trying again");
                        break;
                    }
                }
            }
        }
        gate.clear().await;
    }
}
