//! systemd's notify protocol for `gphotosd run` (`Type=notify`): `READY=1` once the tree is
//! queued and watched, `STATUS=` with the queue summary, `WATCHDOG=1` only while the
//! pipeline proves it is alive, `STOPPING=1` on shutdown. Without `NOTIFY_SOCKET` every
//! call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::status::summary_line;
use crate::store::{Db, unix_now};

/// How stale the pipeline's heartbeat may be before the watchdog is no longer fed.
const HEARTBEAT_STALE_SECS: i64 = 20;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("cannot notify systemd: {e}");
    }
}

/// `READY=1`.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Keeps `STATUS=` current and feeds the watchdog while the pipeline's heartbeat (written
/// to the database by the pipeline itself) is fresh, so a wedged pipeline gets restarted.
pub async fn report(config: Config, shutdown: CancellationToken) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let watchdog = sd_notify::watchdog_enabled();
    let every = watchdog
        .map_or(Duration::from_secs(5), |w| w / 2)
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let path = config.database_path();
    let mut last_status = String::new();
    loop {
        let path = path.clone();
        let read = tokio::task::spawn_blocking(move || {
            let db = Db::open_read_only(&path)?;
            let row = db.daemon_row()?;
            Ok::<_, crate::store::StoreError>((db.counts()?, row))
        })
        .await;
        if let Ok(Ok((counts, row))) = read {
            let status = summary_line(&counts, row.pause.as_ref());
            let alive = row
                .heartbeat_at
                .is_some_and(|h| unix_now() - h <= HEARTBEAT_STALE_SECS);
            let mut states = Vec::new();
            if status != last_status {
                states.push(NotifyState::Status(&status));
            }
            if watchdog.is_some() && alive {
                states.push(NotifyState::Watchdog);
            }
            if !states.is_empty() {
                send(&states);
            }
            last_status = status;
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
