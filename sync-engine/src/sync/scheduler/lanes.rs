//! The outbox lanes: one per store, each claiming and pushing its own store's items when woken.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use channel_core::StoreId;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::sync::SyncEngine;

impl SyncEngine {
    /// The outbox workers: one lane per store ([`SyncEngine::outbox_stores`], looked at every tick), each
    /// claiming and pushing its own store's items, woken when pushes are queued, so one store's slow
    /// pushes hold no other up. On stop, waits for the lanes' pushes in flight; when this task is aborted
    /// its lanes are too (they live in its [`JoinSet`]).
    pub(crate) async fn outbox_lanes(&self, mut stop: watch::Receiver<bool>) {
        let mut lanes = JoinSet::new();
        let mut running: HashMap<StoreId, Arc<AtomicBool>> = HashMap::new();
        loop {
            match self.outbox_stores().await {
                Ok(stores) => {
                    running.retain(|store, gone| {
                        let keep = stores.contains(store);
                        if !keep {
                            gone.store(true, Ordering::SeqCst);
                        }
                        keep
                    });
                    for store in stores {
                        if running.contains_key(&store) {
                            continue;
                        }
                        let gone = Arc::new(AtomicBool::new(false));
                        running.insert(store.clone(), Arc::clone(&gone));
                        let engine = self.clone();
                        let stop = stop.clone();
                        lanes.spawn(async move { engine.outbox_lane(store, gone, stop).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not list the outbox's stores"),
            }
            // Reap lanes that ended (their store went away).
            while lanes.try_join_next().is_some() {}
            tokio::select! {
                () = tokio::time::sleep(self.inner.config.tick) => {}
                _ = stop.changed() => break,
            }
        }
        while lanes.join_next().await.is_some() {}
    }

    /// One store's outbox lane: push what is due, then wait for a wake, the next tick or the stop.
    async fn outbox_lane(&self, store: StoreId, gone: Arc<AtomicBool>, mut stop: watch::Receiver<bool>) {
        let mut wake = self.inner.outbox_wake.subscribe();
        loop {
            if *stop.borrow() || gone.load(Ordering::SeqCst) {
                return;
            }
            match self.run_store_once(&store).await {
                Ok(r) if r.claimed > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(%store, error = %e, "outbox pass failed"),
            }
            tokio::select! {
                _ = wake.changed() => {}
                () = tokio::time::sleep(self.inner.config.tick) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
