//! The outbox worker: per-store lanes claim their store's due pushes (`claim.rs`), send them in batches
//! of the channel's maximum (`push.rs`), decide each item's fate (`fate.rs`) and write the fates back in
//! one store call per batch (`finish.rs`).

mod claim;
mod fate;
mod finish;
mod push;

use std::collections::BTreeSet;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use channel_core::StoreId;

use crate::Result;
use crate::store::{OutboxFilter, OutboxItem, OutboxState};
use crate::sync::SyncEngine;

/// What one pass of the outbox worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxReport {
    /// Items claimed.
    pub claimed: usize,
    /// Items the channel applied.
    pub pushed: usize,
    /// Items put back to retry later (throttled, transient failures).
    pub retried: usize,
    /// Items dead-lettered with their reason.
    pub dead: usize,
    /// Items refused by compare-and-set and re-planned.
    pub stale: usize,
    /// Items held because their store needs re-authentication or has no channel.
    pub held: usize,
    /// Write calls made to channels.
    pub calls: usize,
}

impl OutboxReport {
    pub(crate) fn add(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.pushed += o.pushed;
        self.retried += o.retried;
        self.dead += o.dead;
        self.stale += o.stale;
        self.held += o.held;
        self.calls += o.calls;
    }
}

impl SyncEngine {
    /// One pass of the outbox over every store at once, each store in its own lane: its due items are
    /// claimed on their own (up to [`SyncConfig::outbox_claim`](crate::sync::SyncConfig::outbox_claim), rounded up to whole batches) and pushed in batches of its channel's
    /// [`channel_core::Capabilities::max_stock_batch`] / `max_price_batch`. A store whose pass is over while
    /// others are still pushing claims its next due items meanwhile, so a slow store (a timeout, a feed
    /// rate limit) holds no other up; the call returns once every store has made its pass and nothing is
    /// due in the stores that finished while others were still going. Returns what was done.
    pub async fn run_outbox_once(&self) -> Result<OutboxReport> {
        let stores = self.outbox_stores().await?;
        self.run_outbox_lanes(stores).await
    }

    /// One pass of the outbox over `stores` only (see [`SyncEngine::run_outbox_once`]): what other stores
    /// have queued is left to their own lanes.
    pub(crate) async fn run_outbox_lanes(&self, stores: Vec<StoreId>) -> Result<OutboxReport> {
        let running = AtomicUsize::new(stores.len());
        let lanes = stores.into_iter().map(|store| {
            let running = &running;
            async move {
                let mut report = OutboxReport::default();
                let result: Result<()> = async {
                    loop {
                        let r = self.run_store_once(&store).await?;
                        report.add(r);
                        // Again while another store is still pushing; the last one running stops here.
                        if r.claimed == 0 || running.load(Ordering::SeqCst) <= 1 {
                            return Ok(());
                        }
                    }
                }
                .await;
                running.fetch_sub(1, Ordering::SeqCst);
                result.map(|()| report)
            }
        });
        let mut report = OutboxReport::default();
        for r in futures::future::join_all(lanes).await {
            report.add(r?);
        }
        Ok(report)
    }

    /// The stores the outbox pushes to: every connected store and every store with a channel (a store with
    /// a channel but no connection has its items dead-lettered as not connected).
    pub(crate) async fn outbox_stores(&self) -> Result<Vec<StoreId>> {
        let mut stores: BTreeSet<StoreId> =
            self.inner.channels.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        if let Some(state) = self.state().await?.as_ref() {
            stores.extend(state.connections.keys().cloned());
        }
        Ok(stores.into_iter().collect())
    }

    /// Run the outbox until nothing is due or in flight any more (items backing off are waited for), or
    /// until `limit` has passed. Returns what was done.
    pub async fn drain_outbox(&self, limit: Duration) -> Result<OutboxReport> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut wake = self.inner.outbox_wake.subscribe();
        let mut total = OutboxReport::default();
        loop {
            let r = self.run_outbox_once().await?;
            total.add(r);
            if r.claimed > 0 {
                continue;
            }
            let now = self.inner.clock.now();
            let waiting: Vec<OutboxItem> = self
                .inner
                .store
                .outbox(&OutboxFilter::default())
                .await?
                .into_iter()
                .filter(|i| i.state != OutboxState::Dead)
                .filter(|i| !self.is_held(&i.push.store))
                .collect();
            if waiting.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(total);
            }
            let next = waiting
                .iter()
                .map(|i| if i.state == OutboxState::Claimed { i.lease_until.unwrap_or(now) } else { i.next_attempt_at })
                .min()
                .unwrap_or(now);
            let wait =
                now.duration_until(next).unsigned_abs().clamp(Duration::from_millis(5), Duration::from_millis(250));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = wake.changed() => {}
            }
        }
    }

    /// Whether a store's pushes are held (needs re-authentication, not connected, no channel, or every
    /// push held for want of the source of truth).
    fn is_held(&self, store: &StoreId) -> bool {
        if self.channel(store).is_none() {
            return true;
        }
        match self.inner.state.try_lock() {
            Ok(guard) => guard
                .as_ref()
                .is_none_or(|s| s.hold.is_some() || s.connections.get(store).is_none_or(|c| !c.pushes_allowed())),
            Err(_) => false,
        }
    }
}
