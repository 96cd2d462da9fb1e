//! The scheduler: the outbox worker, order polling for live stores, the daily full reconcile and queued
//! "sync now" requests, as background tasks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use channel_core::StoreId;
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SyncEngine;
use crate::store::SyncMode;

/// The engine's background tasks. Dropping it does not stop them; call [`RunningEngine::shutdown`].
#[derive(Debug)]
pub struct RunningEngine {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningEngine {
    /// Stop the background tasks and wait for them (a push in flight finishes first).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The most recent daily-reconcile instant at or before `now`.
fn last_daily(now: Timestamp, at: jiff::civil::Time) -> Timestamp {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let candidate = today.to_datetime(at).to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).unwrap_or(now);
    if candidate <= now {
        candidate
    } else {
        candidate.checked_sub(jiff::SignedDuration::from_hours(24)).unwrap_or(candidate)
    }
}

impl SyncEngine {
    /// Start the background tasks: the outbox worker (woken when pushes are queued), order polling of live
    /// stores every [`super::SyncConfig::poll_interval`], the daily full reconcile at
    /// [`super::SyncConfig::daily_at`] (live and daily stores; disabled stores are never pushed to), and
    /// queued "sync now" requests.
    pub fn start(&self) -> RunningEngine {
        let (stop, rx) = watch::channel(false);
        let outbox = {
            let engine = self.clone();
            let mut rx = rx.clone();
            tokio::spawn(async move {
                loop {
                    match engine.run_outbox_once().await {
                        Ok(r) if r.claimed > 0 => continue,
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "outbox pass failed"),
                    }
                    tokio::select! {
                        () = engine.inner.outbox_wake.notified() => {}
                        () = tokio::time::sleep(engine.inner.config.tick) => {}
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        let scheduler = {
            let engine = self.clone();
            let mut rx = rx;
            tokio::spawn(async move {
                let started = engine.inner.clock.now();
                let mut polled: HashMap<StoreId, Timestamp> = HashMap::new();
                let mut daily_done = last_daily(started, engine.inner.config.daily_at);
                let mut refreshed = tokio::time::Instant::now();
                loop {
                    engine.scheduler_tick(&mut polled, &mut daily_done).await;
                    if refreshed.elapsed() >= engine.inner.config.refresh_interval {
                        refreshed = tokio::time::Instant::now();
                        if let Err(e) = engine.refresh_changed_listings().await {
                            tracing::warn!(error = %e, "listing refresh failed");
                        }
                    }
                    tokio::select! {
                        () = tokio::time::sleep(engine.inner.config.tick) => {}
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        RunningEngine { stop, tasks: vec![outbox, scheduler] }
    }

    async fn scheduler_tick(&self, polled: &mut HashMap<StoreId, Timestamp>, daily_done: &mut Timestamp) {
        let now = self.inner.clock.now();
        let live: Vec<StoreId> = match self.state().await {
            Ok(guard) => guard
                .as_ref()
                .map(|s| {
                    s.connections.values().filter(|c| c.sync_mode == SyncMode::Live).map(|c| c.store.clone()).collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let interval =
            jiff::SignedDuration::try_from(self.inner.config.poll_interval).unwrap_or(jiff::SignedDuration::MAX);
        for store in live {
            if self.channel(&store).is_none() {
                continue;
            }
            let due = polled.get(&store).is_none_or(|last| last.checked_add(interval).is_ok_and(|t| t <= now));
            if due {
                polled.insert(store.clone(), now);
                if let Err(e) = self.poll_orders(&store).await {
                    tracing::warn!(%store, error = %e, "order poll failed");
                }
            }
        }
        let daily = last_daily(now, self.inner.config.daily_at);
        let requested = match self.inner.store.take_sync_requests(16).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not read sync requests");
                Vec::new()
            }
        };
        if daily > *daily_done || !requested.is_empty() {
            let only = if daily > *daily_done { None } else { Some(requested.into_iter().map(|r| r.store).collect()) };
            if daily > *daily_done {
                *daily_done = daily;
            }
            let cancel = Arc::new(AtomicBool::new(false));
            match self.full_sync(only, None, &cancel).await {
                Ok(summary) => tracing::info!(?summary, "full reconcile done"),
                Err(e) => tracing::warn!(error = %e, "full reconcile failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_is_today_or_yesterday() {
        let at = jiff::civil::Time::constant(2, 0, 0, 0);
        let now: Timestamp = "2026-11-23T01:00:00Z".parse().unwrap();
        assert_eq!(last_daily(now, at).to_string(), "2026-11-22T02:00:00Z");
        let now: Timestamp = "2026-11-23T03:00:00Z".parse().unwrap();
        assert_eq!(last_daily(now, at).to_string(), "2026-11-23T02:00:00Z");
    }
}
