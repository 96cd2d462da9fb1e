//! Pushing a store's claimed items: prepared from the cached state (the source's current model quantity,
//! whether the store may be pushed to at all), grouped into the channel's write calls (absolute sets,
//! keyed deltas, prices) of at most its batch size, and each call's answer turned into every item's
//! [`Fate`].

use channel_core::{
    Capabilities, Channel, ItemOutcome, ListingId, PlatformIds, PriceUpdate, Sku, StockAdjustment, StockUpdate, StoreId,
};

use super::OutboxReport;
use super::fate::{Fate, adjustment_key, fate_of_error, fate_of_outcome};
use crate::Result;
use crate::store::{ConnectionRecord, CredentialStatus, OutboxItem, PushAction};
use crate::sync::SyncEngine;
use crate::sync::state::{State, source_model};

/// One claimed item, with what was sent for it.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The claimed item.
    pub(crate) item: OutboxItem,
    /// The absolute quantity sent (a set's; for the source's on-hand listing its current model).
    pub(crate) sent: Option<i64>,
    /// The listing's catalog SKU, for the audit.
    pub(crate) sku: Option<Sku>,
}

/// Why none of a store's items is sent: it is not connected, has no channel, needs re-authentication or
/// has pushes disabled.
pub(crate) fn blocked_fate(store: &StoreId, connection: Option<&ConnectionRecord>, has_channel: bool) -> Option<Fate> {
    match (connection, has_channel) {
        (None, _) => Some(Fate::Dead { reason: format!("store {store} is not connected") }),
        (_, false) => Some(Fate::Held { reason: format!("no channel for store {store}") }),
        (Some(c), _) if c.health.credentials == CredentialStatus::NeedsReauth => {
            Some(Fate::Held { reason: format!("store {store} needs re-authentication") })
        }
        (Some(c), _) if !c.pushes_allowed() => {
            Some(Fate::Dead { reason: format!("pushes to store {store} are disabled") })
        }
        _ => None,
    }
}

/// The claimed items with what is sent for each: for the source's on-hand listings the current model
/// quantity (the latest truth, whatever was queued).
fn prepare(state: &State, store: &StoreId, items: Vec<OutboxItem>) -> Vec<Prepared> {
    items
        .into_iter()
        .map(|item| {
            let record = state.listings.get(&(store.clone(), item.push.listing.clone()));
            let sku = record.and_then(|r| r.sku.clone());
            let sent = match &item.push.action {
                PushAction::SetStock { quantity, .. } => {
                    Some(source_model(state, store, &item.push.listing).unwrap_or(*quantity))
                }
                _ => None,
            };
            Prepared { item, sent, sku }
        })
        .collect()
}

/// The channel's write calls for a set of prepared items (indexes into them), and the fates of the items
/// the channel cannot take at all.
#[derive(Debug, Default)]
struct Writes {
    sets: Vec<(usize, StockUpdate)>,
    adjusts: Vec<(usize, StockAdjustment)>,
    prices: Vec<(usize, PriceUpdate)>,
    refused: Vec<(usize, Fate)>,
}

/// Group the prepared items into the channel's writes. `rows`: each item's platform ids and channel SKU.
fn writes(
    store: &StoreId,
    channel: &dyn Channel,
    caps: &Capabilities,
    prepared: &[Prepared],
    rows: Vec<(PlatformIds, String)>,
) -> Writes {
    let mut w = Writes::default();
    for (i, (p, (ids, sku))) in prepared.iter().zip(rows).enumerate() {
        let listing = p.item.push.listing.clone();
        match &p.item.push.action {
            PushAction::SetStock { expected, .. } => {
                let quantity = p.sent.unwrap_or(0).max(0);
                let mut update = StockUpdate::new(listing, sku, quantity).with_ids(ids);
                if caps.compare_and_set {
                    update.expected = *expected;
                }
                w.sets.push((i, update));
            }
            PushAction::AdjustStock { delta } if caps.delta_adjust => {
                let mut adjustment = StockAdjustment::new(listing, sku, *delta).with_ids(ids);
                if caps.idempotent_writes {
                    adjustment = adjustment.with_idempotency_key(adjustment_key(store, &p.item, *delta));
                }
                w.adjusts.push((i, adjustment));
            }
            PushAction::AdjustStock { .. } => {
                w.refused.push((i, Fate::Dead { reason: format!("{} has no delta stock adjustment", channel.kind()) }));
            }
            PushAction::SetPrice { price, list_price } if caps.price_sync => {
                let mut update = PriceUpdate::new(listing, sku, *price).with_ids(ids);
                update.list_price = *list_price;
                w.prices.push((i, update));
            }
            PushAction::SetPrice { .. } => {
                w.refused.push((i, Fate::Dead { reason: format!("{} prices are not synced", channel.kind()) }));
            }
        }
    }
    w
}

impl SyncEngine {
    /// Push one store's claimed items and write their fates back. The steps: take in other workers'
    /// changes to the source rows, prepare the items from the cached state, send them (unless the store
    /// is blocked), finish.
    pub(crate) async fn push_store(&self, store: StoreId, items: Vec<OutboxItem>) -> Result<OutboxReport> {
        let mut report = OutboxReport::default();
        let channel = self.channel(&store);
        // Another worker may have moved the source's on hand since this one cached it.
        self.refresh_claimed_source_rows(&store, &items).await?;
        let (prepared, blocked) = {
            let guard = self.state().await?;
            let state = guard.as_ref().ok_or_else(|| crate::Error::Invalid("engine not loaded".into()))?;
            let blocked = blocked_fate(&store, state.connections.get(&store), channel.is_some());
            (prepare(state, &store, items), blocked)
        };
        let fates: Vec<Fate> = match (blocked, channel) {
            (Some(fate), _) => prepared.iter().map(|_| fate.clone()).collect(),
            (None, None) => prepared.iter().map(|_| Fate::Held { reason: "no channel".into() }).collect(),
            (None, Some(channel)) => self.call_channel(&store, channel.as_ref(), &prepared, &mut report).await,
        };
        self.finish(&store, prepared, fates, &mut report).await?;
        Ok(report)
    }

    /// Send the prepared items in the channel's write calls (sets, deltas, prices, each in batches of the
    /// channel's maximum). Returns each item's fate.
    async fn call_channel(
        &self,
        store: &StoreId,
        channel: &dyn Channel,
        prepared: &[Prepared],
        report: &mut OutboxReport,
    ) -> Vec<Fate> {
        let caps = channel.capabilities();
        let rows = self.listing_rows(store, prepared).await;
        let Writes { sets, adjusts, prices, refused } = writes(store, channel, &caps, prepared, rows);
        let mut fates: Vec<Option<Fate>> = prepared.iter().map(|_| None).collect();
        for (i, fate) in refused {
            fates[i] = Some(fate);
        }
        let batch = caps.max_stock_batch.max(1);
        for chunk in sets.chunks(batch) {
            let updates: Vec<StockUpdate> = chunk.iter().map(|(_, u)| u.clone()).collect();
            report.calls += 1;
            let result = channel.set_stock(&updates).await;
            let sent = chunk.iter().map(|(i, u)| (*i, &u.listing, Some(u.quantity)));
            self.apply_result(store, sent, result, false, prepared, &mut fates).await;
        }
        for chunk in adjusts.chunks(batch) {
            let updates: Vec<StockAdjustment> = chunk.iter().map(|(_, u)| u.clone()).collect();
            report.calls += 1;
            let result = channel.adjust_stock(&updates).await;
            let sent = chunk.iter().map(|(i, u)| (*i, &u.listing, None));
            self.apply_result(store, sent, result, caps.idempotent_writes, prepared, &mut fates).await;
        }
        for chunk in prices.chunks(caps.max_price_batch.max(1)) {
            let updates: Vec<PriceUpdate> = chunk.iter().map(|(_, u)| u.clone()).collect();
            report.calls += 1;
            let result = channel.set_prices(&updates).await;
            let sent = chunk.iter().map(|(i, u)| (*i, &u.listing, None));
            self.apply_result(store, sent, result, false, prepared, &mut fates).await;
        }
        fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::Retry { error: "no outcome".into(), wait: std::time::Duration::ZERO }))
            .collect()
    }

    /// Each prepared item's platform ids and channel SKU, from the cached rows.
    async fn listing_rows(&self, store: &StoreId, prepared: &[Prepared]) -> Vec<(PlatformIds, String)> {
        let guard = self.inner.state.lock().await;
        prepared
            .iter()
            .map(|p| {
                let record = guard.as_ref().and_then(|s| s.listings.get(&(store.clone(), p.item.push.listing.clone())));
                (
                    record.map(|r| r.ids.clone()).unwrap_or_default(),
                    record.map_or_else(String::new, |r| r.channel_sku.clone()),
                )
            })
            .collect()
    }

    /// Turn a write call's result into each sent item's fate. `keyed`: the items are keyed deltas, whose
    /// unknown outcomes are [`Fate::Unsettled`] rather than retried as new writes. An authentication
    /// failure is recorded on the store's health (which stops its pushes).
    async fn apply_result<'a>(
        &self,
        store: &StoreId,
        sent: impl Iterator<Item = (usize, &'a ListingId, Option<i64>)>,
        result: channel_core::Result<Vec<ItemOutcome>>,
        keyed: bool,
        prepared: &[Prepared],
        fates: &mut [Option<Fate>],
    ) {
        let backoff = |i: usize| self.inner.config.backoff(prepared[i].item.attempts);
        match result {
            Ok(outcomes) => {
                for (n, (i, listing, quantity)) in sent.enumerate() {
                    fates[i] = Some(fate_of_outcome(&outcomes, n, listing, quantity, keyed, backoff(i)));
                }
            }
            Err(error) => {
                if error.kind() == channel_core::ErrorKind::Auth {
                    self.record_failure(store, &error).await;
                }
                for (i, _, _) in sent {
                    fates[i] = Some(fate_of_error(&error, keyed, backoff(i)));
                }
            }
        }
    }
}
