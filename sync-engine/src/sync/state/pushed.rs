//! What a finished push means for the cached state: what the channel shows now, the row's pushed
//! quantity, a newer source quantity to send when the on hand moved while the push was on its way, and a
//! stale compare-and-set re-planned against what the channel shows.

use channel_core::{ListingId, Sku, StoreId};
use jiff::Timestamp;

use super::{State, model_quantity};
use crate::store::{AuditEntry, ConnectionRecord, OutboxItem, OutboxPush, PushAction, WriteBatch, WriteOp};

impl State {
    /// Record an applied push of `item` to `store`: `quantity` was sent (or reported), the channel said it
    /// shows `reported`. Updates what the listing is believed to show and its row (unless it is the
    /// source's on-hand listing, whose row holds the model), audits the change, and queues the source's
    /// newer on hand when it moved while an absolute push was on its way. Returns whether a push was
    /// queued.
    pub(crate) fn record_applied(
        &mut self,
        store: &StoreId,
        item: &OutboxItem,
        sku: Option<Sku>,
        (quantity, reported): (i64, Option<i64>),
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> bool {
        let push = &item.push;
        let key = (store.clone(), push.listing.clone());
        let delta = match push.action {
            PushAction::AdjustStock { delta } => Some(delta),
            _ => None,
        };
        let previous = self.shown.get(&key).copied();
        let shows = shows_after(reported, delta, previous, quantity);
        let quantity = shows.unwrap_or(quantity);
        let before = match shows {
            Some(q) => self.shown.insert(key.clone(), q),
            None => previous,
        };
        let model = source_model(self, store, &push.listing);
        let mut queued = false;
        // A delta moved the source by what the model moved: the model is already right, and an absolute set
        // here would overwrite the platform's own sales.
        if let Some(model) = model
            && delta.is_none()
            && model.max(0) != quantity
            && self.connections.get(store).is_some_and(ConnectionRecord::pushes_allowed)
        {
            // The on hand moved while this push was on its way: send the newer quantity.
            batch.push(WriteOp::Enqueue {
                push: OutboxPush::new(
                    store.clone(),
                    push.listing.clone(),
                    PushAction::SetStock { quantity: model.max(0), expected: None },
                    push.reason.clone(),
                ),
                now,
            });
            queued = true;
        }
        if model.is_none()
            && shows.is_some()
            && let Some(record) = self.listings.get_mut(&key)
        {
            record.pushed_quantity = Some(quantity);
            record.pushed_at = Some(now);
            batch.push(WriteOp::PutListing(record.clone()));
            record.version += 1;
        }
        batch.push(WriteOp::Audit(
            AuditEntry::new(store.clone(), "quantity", push.reason.clone(), now)
                .on_listing(push.listing.clone(), sku)
                .change(
                    before.map(|b| b.to_string()),
                    shows.map(|q| q.to_string()).or_else(|| delta.map(|d| format!("{d:+}"))),
                ),
        ));
        queued
    }

    /// Record a push of `push` refused by compare-and-set: the channel shows `actual`, when it says.
    /// Returns whether a push was queued again (see [`replan_stale`]).
    pub(crate) fn record_stale(
        &mut self,
        store: &StoreId,
        push: &OutboxPush,
        actual: Option<i64>,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> bool {
        if let Some(actual) = actual {
            self.shown.insert((store.clone(), push.listing.clone()), actual);
        }
        replan_stale(self, store, push, actual, now, batch)
    }
}

/// What a listing shows after an applied push: what the channel said, else (a delta it did not report on)
/// what it showed moved by the delta, else (an absolute set) what was sent. `None` when a delta was
/// applied to a listing whose quantity the engine did not know.
pub(crate) fn shows_after(reported: Option<i64>, delta: Option<i64>, previous: Option<i64>, sent: i64) -> Option<i64> {
    match (reported, delta) {
        (Some(q), _) => Some(q),
        (None, Some(d)) => previous.map(|b| b + d),
        (None, None) => Some(sent),
    }
}

/// The model quantity when `listing` is the source's on-hand listing of a simple SKU.
pub(crate) fn source_model(state: &State, store: &StoreId, listing: &ListingId) -> Option<i64> {
    if state.source.as_ref() != Some(store) {
        return None;
    }
    let record = state.listings.get(&(store.clone(), listing.clone()))?;
    let sku = record.sku.as_ref()?;
    (state.source_listing.get(sku) == Some(listing)).then(|| model_quantity(record)).flatten()
}

/// A compare-and-set was refused: the channel shows `actual`. Queue the write again against what it shows
/// (for the source, its model on hand; elsewhere, the re-planned target). Returns whether a push was queued.
fn replan_stale(
    state: &mut State,
    store: &StoreId,
    push: &OutboxPush,
    actual: Option<i64>,
    now: Timestamp,
    batch: &mut WriteBatch,
) -> bool {
    if !state.connections.get(store).is_some_and(ConnectionRecord::pushes_allowed) {
        return false;
    }
    if let Some(model) = source_model(state, store, &push.listing) {
        batch.push(WriteOp::Enqueue {
            push: OutboxPush::new(
                store.clone(),
                push.listing.clone(),
                PushAction::SetStock { quantity: model.max(0), expected: actual },
                format!("{} (re-planned after a stale write)", push.reason),
            ),
            now,
        });
        return true;
    }
    let Some(actual) = actual else {
        if let PushAction::SetStock { quantity, .. } = push.action {
            batch.push(WriteOp::Enqueue {
                push: OutboxPush::new(
                    store.clone(),
                    push.listing.clone(),
                    PushAction::SetStock { quantity, expected: None },
                    push.reason.clone(),
                ),
                now,
            });
            return true;
        }
        return false;
    };
    let Ok(touched) = state.reconciler.set_listing_quantity(store.as_str(), push.listing.as_str(), actual) else {
        return false;
    };
    let updates: Vec<_> =
        state.replan(&touched).into_iter().filter(|u| &u.store == store && u.listing == push.listing).collect();
    state.enqueue_updates(&updates, now, &format!("{} (re-planned after a stale write)", push.reason), false, batch) > 0
}
