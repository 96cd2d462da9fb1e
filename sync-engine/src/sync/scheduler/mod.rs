//! The scheduler: the outbox worker, order polling for live stores, the daily full reconcile and queued
//! "sync now" requests, as background tasks.
//!
//! Several engines (workers with distinct [`crate::sync::SyncConfig::worker`] names) may run over one store.
//! Each store is polled and reconciled daily only by the worker holding its lease
//! ([`crate::Store::acquire_lease`], lasting [`crate::sync::SyncConfig::lease`], renewed while held, released on
//! shutdown, taken over when it runs out after a crash). The day's reconcile is recorded per store in the
//! `daily` cursor, so a worker that takes a store over knows whether it was done. "Sync now" requests are
//! claimed with a lease (renewed while the sync runs) and removed only when the sync finished.

//!
//! `lanes.rs` holds the outbox lanes, `leases.rs` the store leases, `ticks.rs` the scheduler's ticks
//! (order polls, the daily reconcile, "sync now" requests).

mod lanes;
mod leases;
mod ticks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use channel_core::StoreId;
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SyncEngine;
use ticks::Ticks;

/// The store leases a worker holds: store → the end of its lease.
pub(crate) type Held = Arc<Mutex<HashMap<StoreId, Timestamp>>>;

/// The engine's background tasks. Dropping it does not stop them; call [`RunningEngine::shutdown`].
#[derive(Debug)]
pub struct RunningEngine {
    engine: SyncEngine,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    held: Held,
}

impl RunningEngine {
    /// Stop the background tasks and wait for them (a push, poll or full reconcile in flight finishes
    /// first), audit the webhook rejections throttled so far (see
    /// [`SyncEngine::audit_webhook_rejections`]), then release the store leases this worker holds so another worker takes its stores over at
    /// once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.engine.write_rejection_rows(true).await {
            tracing::warn!(error = %e, "could not audit rejected webhooks");
        }
        let held: Vec<StoreId> =
            self.held.lock().unwrap_or_else(PoisonError::into_inner).drain().map(|(s, _)| s).collect();
        let worker = &self.engine.inner.config.worker;
        for store in held {
            if let Err(e) = self.engine.inner.store.release_lease(&store, worker).await {
                tracing::warn!(%store, error = %e, "could not release a store lease");
            }
        }
    }

    /// Stop the background tasks at their next await point without releasing anything, as a crash would:
    /// the store leases, claimed pushes and a claimed "sync now" stay held until their leases end, then
    /// other workers take them over. (In-process, a store transaction dropped half-way may hold its locks
    /// until its connection is used again; close the store's pool too, as a dying process would.)
    pub fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }

    /// Handles that abort the background tasks (as [`RunningEngine::abort`] does) while someone else owns
    /// this value, for instance while it is being shut down.
    pub(crate) fn abort_handles(&self) -> Vec<tokio::task::AbortHandle> {
        self.tasks.iter().map(JoinHandle::abort_handle).collect()
    }

    /// The stores whose lease this worker holds now.
    pub fn leased_stores(&self) -> Vec<StoreId> {
        held_now(&self.held, self.engine.inner.clock.now())
    }
}

/// The stores whose lease is held at `now`.
pub(crate) fn held_now(held: &Held, now: Timestamp) -> Vec<StoreId> {
    let mut stores: Vec<StoreId> = held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(_, until)| **until > now)
        .map(|(s, _)| s.clone())
        .collect();
    stores.sort();
    stores
}

impl SyncEngine {
    /// Start the background tasks: connection changes in the store taken in every tick
    /// ([`SyncEngine::refresh_connections`]), the outbox workers (one lane per store, woken when pushes are queued,
    /// see [`SyncEngine::run_outbox_once`]), the store leases,
    /// order polling of live stores every [`crate::sync::SyncConfig::poll_interval`], the daily full reconcile at
    /// [`crate::sync::SyncConfig::daily_at`] (live and daily stores; disabled stores are never pushed to), and
    /// queued "sync now" requests. Polls and the daily reconcile of a store run only in the worker holding
    /// its lease ([`crate::Store::acquire_lease`] for [`crate::sync::SyncConfig::lease`], renewed while held,
    /// released by [`RunningEngine::shutdown`], taken over when it runs out after a crash); the day's
    /// reconcile is recorded per store in its `daily` cursor. A claimed "sync now" stays queued until its
    /// sync finished (see `docs/store.md` on several workers).
    pub fn start(&self) -> RunningEngine {
        let (stop, rx) = watch::channel(false);
        let held: Held = Arc::default();
        let outbox = {
            let engine = self.clone();
            let rx = rx.clone();
            tokio::spawn(async move { engine.outbox_lanes(rx).await })
        };
        let leases = {
            let engine = self.clone();
            let held = Arc::clone(&held);
            let mut rx = rx.clone();
            // Free (released, expired) leases are looked at every tick; held ones renewed a third of the way
            // through.
            let every = engine.inner.config.tick.min(engine.inner.config.lease / 3).max(Duration::from_millis(10));
            tokio::spawn(async move {
                let mut stores = Vec::new();
                loop {
                    engine.renew_leases(&held, &mut stores).await;
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        let scheduler = {
            let engine = self.clone();
            let held = Arc::clone(&held);
            let mut rx = rx;
            tokio::spawn(async move {
                let mut ticks = Ticks::default();
                let mut refreshed = tokio::time::Instant::now();
                loop {
                    // Connection changes made in the store (the CLI, another worker) are taken in first.
                    if let Err(e) = engine.refresh_connections().await {
                        tracing::warn!(error = %e, "could not look at the connections");
                    }
                    engine.note_hold().await;
                    engine.scheduler_tick(&held, &mut ticks).await;
                    if let Err(e) = engine.audit_webhook_rejections().await {
                        tracing::warn!(error = %e, "could not audit rejected webhooks");
                    }
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
        RunningEngine { engine: self.clone(), stop, tasks: vec![outbox, leases, scheduler], held }
    }
}
