//! Claiming a store's due outbox items with a lease, and renewing the claim while they are pushed.

use channel_core::StoreId;

use super::OutboxReport;
use crate::Result;
use crate::store::ClaimRequest;
use crate::sync::SyncEngine;
use crate::sync::engine::after;

impl SyncEngine {
    /// Claim one store's due outbox items (up to [`SyncEngine::outbox_claim_for`]) and push them. While
    /// pushes are held (the source of truth is missing or unhealthy, [`SyncEngine::pushes_held`]) nothing
    /// is claimed: the queued items wait, due, for the source to be back.
    pub(crate) async fn run_store_once(&self, store: &StoreId) -> Result<OutboxReport> {
        if self.state().await?.as_ref().is_some_and(|s| s.hold.is_some()) {
            return Ok(OutboxReport::default());
        }
        let now = self.inner.clock.now();
        let claim = ClaimRequest::new(
            self.inner.config.worker.clone(),
            self.outbox_claim_for(store),
            now,
            after(now, self.inner.config.lease),
        )
        .for_store(store.clone());
        let items = self.inner.store.claim_outbox(&claim).await?;
        if items.is_empty() {
            return Ok(OutboxReport::default());
        }
        let claimed = items.len();
        // Held from the claim to the write-back: renewed while the push is on its way.
        let claims: Vec<(i64, String)> = items.iter().filter_map(|i| Some((i.id, i.claim_token.clone()?))).collect();
        let mut report = self.renewing(store, &claims, self.push_store(store.clone(), items)).await?;
        report.claimed = claimed;
        Ok(report)
    }

    /// The most items one claim takes for `store`: [`crate::sync::SyncConfig::outbox_claim`] rounded up to a
    /// whole number of its channel's largest batch, so every write call is as large as the channel takes
    /// (a whole Amazon feed, a whole Takealot batch) and none is split across claims.
    pub(crate) fn outbox_claim_for(&self, store: &StoreId) -> usize {
        let base = self.inner.config.outbox_claim;
        let Some(channel) = self.channel(store) else { return base };
        let caps = channel.capabilities();
        let batch = caps.max_stock_batch.max(caps.max_price_batch).max(1);
        base.div_ceil(batch).saturating_mul(batch)
    }

    /// Run `push` (the push of the items claimed as `claims`, `(id, claim token)`), extending their claim
    /// every third of a lease until it is done: a large claim (a whole Amazon feed) or a slow channel can
    /// outlive one lease, and another worker would then claim and push the same items again. One store call
    /// per renewal.
    async fn renewing<T>(&self, store: &StoreId, claims: &[(i64, String)], push: impl Future<Output = T>) -> T {
        let lease = self.inner.config.lease;
        let every = lease / 3;
        if every.is_zero() || claims.is_empty() {
            return push.await;
        }
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let push = async move {
            let out = push.await;
            let _ = stop.send(());
            out
        };
        // Polled alongside the push, never instead of it (the push may hold a transaction the renewal
        // waits for), and never cut off inside a store call: it stops between renewals.
        let renew = async {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tick.tick() => {}
                }
                let until = after(self.inner.clock.now(), lease);
                match self.inner.store.renew_outbox(claims, until).await {
                    Ok(n) if n < claims.len() => {
                        tracing::debug!(%store, renewed = n, held = claims.len(), "outbox claim renewed in part: the rest was finished or taken over");
                    }
                    Ok(_) => {}
                    // Tried again at the next tick; the lease runs on meanwhile.
                    Err(e) => tracing::warn!(%store, error = %e, "outbox claim not renewed"),
                }
            }
        };
        let (out, ()) = futures::join!(push, renew);
        out
    }
}
