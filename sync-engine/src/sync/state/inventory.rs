//! What a listing's reported quantity means: a webhook's snapshot or a re-read of the listing, decided
//! from the cached state (see [`State::decide_inventory`]), and taking it in.

use std::collections::HashSet;

use channel_core::{Fulfilment, InventoryChange, ListingId, StoreId};
use jiff::{SignedDuration, Timestamp};

use super::{Planned, State, guard_plan, model_quantity};
use crate::store::{MovementCause, NewMovement, WriteBatch, WriteOp};
use crate::{Error, Result};

/// What a listing's row was before it was re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reread {
    /// The cached row's version.
    pub(crate) version: Option<u64>,
    /// Whether a push to the listing was queued or in flight.
    pub(crate) busy: bool,
}

/// The quantity an inventory change reports, or why it is ignored before anything is read.
pub(crate) fn reported_quantity(change: &InventoryChange) -> std::result::Result<i64, &'static str> {
    if change.fulfilment == Fulfilment::Channel {
        return Err("channel-held stock");
    }
    change.quantity.ok_or("no quantity in the payload")
}

/// An inventory change to decide on, with what the engine knew when it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InventoryInput<'a> {
    /// The store it was reported on.
    pub(crate) store: &'a StoreId,
    /// The webhook's topic (or "listing re-read").
    pub(crate) topic: &'a str,
    /// The change.
    pub(crate) change: &'a InventoryChange,
    /// Its quantity ([`reported_quantity`]).
    pub(crate) quantity: i64,
    /// `None` for a webhook's snapshot; the row as it was before the read for a re-read.
    pub(crate) reread: Option<Reread>,
    /// The store's listings with a push queued or in flight.
    pub(crate) in_flight: &'a HashSet<ListingId>,
    /// Now.
    pub(crate) now: Timestamp,
    /// How long a delta-moved source's model must have been still before a re-read of it is taken in.
    pub(crate) quiet: SignedDuration,
}

/// What an inventory change means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InventoryDecision {
    /// Nothing to do, for this reason.
    Ignore(&'static str),
    /// Not to be taken in now: the listing is to be re-read later, for this reason.
    Reread {
        /// The listing.
        listing: ListingId,
        /// Why.
        reason: &'static str,
    },
    /// A rise on a store that is not the source: not taken in; the quantity the engine pushed last is sent
    /// again (a no-op for a late echo of an older push, the correction for a real rise).
    SendAgain(Planned),
    /// Taken in as what the listing shows ([`State::take_in_quantity`]).
    TakeIn {
        /// The listing.
        listing: ListingId,
        /// Its model quantity before.
        old: Option<i64>,
        /// Whether it is the source's on-hand listing of its SKU (the change is an external change of the
        /// on hand).
        is_source_on_hand: bool,
    },
}

impl State {
    /// What an inventory change means. An echo of the engine's own push is ignored. On the source it is an
    /// external change: taken in as the new on hand. On another store, a rise is sent the planned quantity
    /// again; a fall is recorded and left to the order it usually comes from (or to the daily reconcile),
    /// so a sale whose order has not arrived yet is not undone.
    ///
    /// A delta-moved source's snapshots are taken in the platform's order, not the model's: they queue a
    /// re-read of the listing instead. A re-read is compared with the model only; when a push to the
    /// listing was queued or in flight, or its row changed, while it was read, or (on a delta-moved
    /// source) the model moved less than `quiet` ago, it is queued again.
    pub(crate) fn decide_inventory(&self, input: &InventoryInput<'_>) -> InventoryDecision {
        let store = input.store;
        let quantity = input.quantity;
        let Some(listing) = self.inventory_listing(store, input.change) else {
            return InventoryDecision::Ignore("unknown listing");
        };
        let key = (store.clone(), listing.clone());
        let Some(record) = self.listings.get(&key) else { return InventoryDecision::Ignore("unknown listing") };
        if !self.planned.contains(&key) {
            return InventoryDecision::Ignore("listing not synced");
        }
        let old = model_quantity(record);
        let is_source_on_hand = self.source.as_ref() == Some(store)
            && record.sku.as_ref().and_then(|s| self.source_listing.get(s)) == Some(&listing);
        let delta_source = is_source_on_hand && self.pushes_deltas(store);
        let reread = |reason| InventoryDecision::Reread { listing: listing.clone(), reason };
        match input.reread {
            Some(mark) => {
                if old == Some(quantity) {
                    return InventoryDecision::Ignore("the listing shows what the engine expects");
                }
                if mark.busy || input.in_flight.contains(&listing) || mark.version != Some(record.version) {
                    // What was read may predate a push or a change the engine made meanwhile.
                    return reread("the listing changed while it was read: re-read again later");
                }
                if delta_source && record.pushed_at.is_some_and(|at| input.now.duration_since(at) < input.quiet) {
                    // Orders are still coming in: a sale the read shows may be one whose order is yet to be
                    // imported (it would count twice). Read again once the model has been still for a while.
                    return reread("the source's model moved lately: re-read again once it is still");
                }
            }
            None => {
                if delta_source {
                    if old == Some(quantity) {
                        return InventoryDecision::Ignore("the listing shows what the engine expects");
                    }
                    // Read against a model that queued deltas move, in the platform's order (and what a delta
                    // last reported may since have been changed by hand): the listing says, re-read once no
                    // delta to it is queued or in flight.
                    return reread("a delta-moved source: listing re-read queued");
                }
                let shown = self.shown.get(&key).copied();
                if shown == Some(quantity) || record.pushed_quantity == Some(quantity) || old == Some(quantity) {
                    return InventoryDecision::Ignore("echo of the engine's own push");
                }
                if input.in_flight.contains(&listing) {
                    // A push to this listing is queued or in flight: what the channel shows now is about to
                    // be overwritten, and the push's own echo confirms it.
                    return InventoryDecision::Ignore("a push to this listing is in flight");
                }
                if self.source.as_ref() != Some(store)
                    && let (Some(old), Some(sku)) = (old, record.sku.clone())
                    && quantity > old
                {
                    // A late (or repeated) webhook of an older push of the engine's own looks just like
                    // someone raising the stock. Neither is taken in: the model keeps what the engine pushed
                    // last, and that quantity is sent again, which a late echo's listing already shows and an
                    // external rise needs (on compare-and-set channels the write expects what the engine
                    // pushed, and a real rise is re-planned from the stale answer).
                    return InventoryDecision::SendAgain(Planned {
                        store: store.clone(),
                        listing,
                        sku,
                        from: quantity,
                        to: old,
                    });
                }
            }
        }
        InventoryDecision::TakeIn { listing, old, is_source_on_hand }
    }

    /// The listing an inventory change is about: the one it names, if known, else the one of its channel
    /// SKU.
    fn inventory_listing(&self, store: &StoreId, change: &InventoryChange) -> Option<ListingId> {
        change.listing.clone().filter(|l| self.listings.contains_key(&(store.clone(), l.clone()))).or_else(|| {
            change.channel_sku.as_ref().and_then(|s| self.by_channel_sku.get(&(store.clone(), s.clone())).cloned())
        })
    }

    /// Queue `again` ([`InventoryDecision::SendAgain`]), audited. Returns the pushes queued.
    pub(crate) fn send_again(&mut self, again: &Planned, now: Timestamp, batch: &mut WriteBatch) -> usize {
        let reason = format!(
            "rise reported on {} (a late echo of an older push, or an external change): planned quantity sent again",
            again.store
        );
        let pushes = self.enqueue_updates(std::slice::from_ref(again), now, &reason, true, batch);
        guard_plan(self, std::slice::from_ref(again), batch);
        pushes
    }

    /// Take in what `listing` shows ([`InventoryDecision::TakeIn`]): its row and the reconciler; on the
    /// source's on-hand listing a ledger movement and the other stores re-planned; on another store a rise
    /// corrected (audited). Returns the pushes queued.
    pub(crate) fn take_in_quantity(
        &mut self,
        input: &InventoryInput<'_>,
        listing: &ListingId,
        old: Option<i64>,
        is_source_on_hand: bool,
        batch: &mut WriteBatch,
    ) -> Result<usize> {
        let (store, quantity, now) = (input.store, input.quantity, input.now);
        let key = (store.clone(), listing.clone());
        let Some(record) = self.listings.get_mut(&key) else { return Ok(0) };
        let sku = record.sku.clone();
        record.seen_quantity = Some(quantity);
        record.seen_at = Some(now);
        batch.push(WriteOp::PutListing(record.clone()));
        record.version += 1;
        self.shown.insert(key, quantity);
        let touched = self
            .reconciler
            .set_listing_quantity(store.as_str(), listing.as_str(), quantity)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut planned = Vec::new();
        let mut pushes = 0;
        if is_source_on_hand {
            if let (Some(sku), Some(old)) = (sku, old) {
                batch.push(WriteOp::RecordMovement(
                    NewMovement::new(sku, quantity - old, MovementCause::ManualAdjustment, now)
                        .with_note(format!("external change on the source {store} ({})", input.topic)),
                ));
            }
            planned = self.replan(&touched);
            pushes = self.enqueue_updates(&planned, now, &format!("external change on source {store}"), false, batch);
        } else if old.is_some_and(|old| quantity > old) {
            planned = self.replan(&touched);
            planned.retain(|u| &u.store == store && &u.listing == listing);
            pushes = self.enqueue_updates(&planned, now, &format!("external change on {store} corrected"), true, batch);
        }
        guard_plan(self, &planned, batch);
        Ok(pushes)
    }
}
