//! The store leases: which worker polls and reconciles a store daily.

use std::sync::PoisonError;

use channel_core::StoreId;

use super::Held;
use crate::store::SyncMode;
use crate::sync::SyncEngine;
use crate::sync::engine::after;
use crate::sync::state::State;

impl SyncEngine {
    /// The connected stores the scheduler works for (live and daily, with a channel), with their mode.
    pub(crate) async fn scheduled_stores(&self) -> Vec<(StoreId, SyncMode)> {
        let Ok(guard) = self.state().await else { return Vec::new() };
        self.scheduled_in(guard.as_ref())
    }

    fn scheduled_in(&self, state: Option<&State>) -> Vec<(StoreId, SyncMode)> {
        let mut stores: Vec<(StoreId, SyncMode)> = state
            .map(|s| {
                s.connections
                    .values()
                    .filter(|c| c.sync_mode != SyncMode::Disabled)
                    .map(|c| (c.store.clone(), c.sync_mode))
                    .collect()
            })
            .unwrap_or_default();
        stores.retain(|(s, _)| self.channel(s).is_some());
        stores.sort_by(|a, b| a.0.cmp(&b.0));
        stores
    }

    /// Take or renew the lease of every scheduled store; give up those no longer scheduled. `stores` is the
    /// list of the last round, used again while the state is locked (a long reload must not let leases
    /// run out).
    pub(crate) async fn renew_leases(&self, held: &Held, stores: &mut Vec<(StoreId, SyncMode)>) {
        let worker = &self.inner.config.worker;
        if let Ok(guard) = self.inner.state.try_lock() {
            *stores = self.scheduled_in(guard.as_ref());
        }
        let stores = &*stores;
        let now = self.inner.clock.now();
        let until = after(now, self.inner.config.lease);
        let renew_before = after(now, self.inner.config.lease.mul_f64(2.0 / 3.0));
        for (store, _) in stores {
            let fresh =
                held.lock().unwrap_or_else(PoisonError::into_inner).get(store).is_some_and(|t| *t > renew_before);
            if fresh {
                continue;
            }
            let result = self.inner.store.acquire_lease(store, worker, until, now).await;
            let mut map = held.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(true) => {
                    if map.insert(store.clone(), until).is_none() {
                        tracing::debug!(%store, %worker, "store lease taken");
                    }
                }
                Ok(false) => {
                    map.remove(store);
                }
                Err(e) => tracing::warn!(%store, error = %e, "could not renew a store lease"),
            }
        }
        let gone: Vec<StoreId> = {
            let mut map = held.lock().unwrap_or_else(PoisonError::into_inner);
            let gone: Vec<StoreId> = map.keys().filter(|s| !stores.iter().any(|(x, _)| x == *s)).cloned().collect();
            for s in &gone {
                map.remove(s);
            }
            gone
        };
        for store in gone {
            if let Err(e) = self.inner.store.release_lease(&store, worker).await {
                tracing::warn!(%store, error = %e, "could not release a store lease");
            }
        }
    }
}
