//! Moving the on hand and queueing a plan's pushes, in the cached state and a [`WriteBatch`]; and the
//! preconditions that make a batch fail when the rows its plan was computed from went stale.

use std::collections::BTreeSet;

use channel_core::{ListingId, Sku, StoreId};
use jiff::Timestamp;

use super::{Planned, State, model_quantity, recorded_origin};
use crate::store::{
    AuditEntry, ConnectionRecord, MovementCause, NewMovement, OutboxPush, Precondition, PushAction, WriteBatch, WriteOp,
};
use crate::{Error, Result};

impl State {
    /// A manual adjustment of a simple SKU's on hand by `delta`: its ledger movement, the new on hand and the
    /// pushes of every re-planned listing, into `batch`. Returns the pushes queued.
    pub(crate) fn adjust(
        &mut self,
        sku: &Sku,
        delta: i64,
        note: &str,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> Result<usize> {
        let reason = format!("manual adjustment: {note}");
        batch.push(WriteOp::RecordMovement(
            NewMovement::new(sku.clone(), delta, MovementCause::ManualAdjustment, now).with_note(note),
        ));
        let touched = self.move_on_hand(sku, delta, now, &reason, batch)?;
        let updates = self.replan(&touched);
        let pushes = self.enqueue_updates(&updates, now, &reason, false, batch);
        guard_plan(self, &updates, batch);
        Ok(pushes)
    }

    /// The updates of a re-plan of `touched`, owned.
    pub(crate) fn replan(&mut self, touched: &[Sku]) -> Vec<Planned> {
        super::owned_updates(self.reconciler.replan_skus(touched.iter().map(Sku::as_str)))
    }

    /// Change the on-hand quantity of a simple SKU by `delta`: the source listing's model quantity (its new
    /// row is added to `batch`, with the source push) or the external on-hand. Returns the SKUs to re-plan.
    ///
    /// A source whose channel takes keyed deltas ([`State::pushes_deltas`], Shopify) is moved by a
    /// [`PushAction::AdjustStock`] of `delta`, so sales the platform made meanwhile are never overwritten;
    /// and a change that happened *on the source itself* is not pushed at all (the platform already made
    /// it). That is told by the movement the caller recorded in `batch` just before calling this (the
    /// ledger movement of an order line names its store). Other sources get an absolute set of the new on
    /// hand, as [`State::set_source_quantity`] says.
    pub(crate) fn move_on_hand(
        &mut self,
        sku: &Sku,
        delta: i64,
        now: Timestamp,
        reason: &str,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Sku>> {
        if delta == 0 {
            return Ok(Vec::new());
        }
        match self.source.clone() {
            None => {
                let entry = self.external_on_hand.entry(sku.clone()).or_insert(0);
                *entry += delta;
                let value = *entry;
                self.reconciler.set_on_hand(sku.as_str(), Some(value)).map_err(|e| Error::Invalid(e.to_string()))?;
                Ok(vec![sku.clone()])
            }
            Some(source) => {
                let Some(listing) = self.source_listing.get(sku).cloned() else {
                    // Missing at the source: nothing to move (the plan reports `missing_at_source`).
                    return Ok(Vec::new());
                };
                if self.pushes_deltas(&source) {
                    let on_source = recorded_origin(batch, sku, delta).as_ref() == Some(&source);
                    return self.move_source_by(&source, &listing, delta, !on_source, now, reason, batch);
                }
                let current = self.on_hand(sku).unwrap_or(0);
                self.set_source_quantity(&source, &listing, current + delta, now, reason, batch)
            }
        }
    }

    /// Whether `store`'s on-hand listings are moved by keyed deltas when it is the source.
    pub(crate) fn pushes_deltas(&self, store: &StoreId) -> bool {
        self.delta_stores.contains(store)
    }

    /// Move the source's on-hand listing by `delta`: its model quantity (the row, `pushed_quantity` now
    /// meaning "what the source shows once every queued delta has landed") and, when `push`, a
    /// [`PushAction::AdjustStock`] in the outbox. Without a push (the change was made on the source itself,
    /// which already shows it) only the model moves; the platform's own inventory webhook then matches the
    /// model and is recognised as an echo.
    #[expect(clippy::too_many_arguments, reason = "the same inputs as set_source_quantity, plus the delta's fate")]
    pub(crate) fn move_source_by(
        &mut self,
        source: &StoreId,
        listing: &ListingId,
        delta: i64,
        push: bool,
        now: Timestamp,
        reason: &str,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Sku>> {
        let Some(quantity) = self
            .listings
            .get(&(source.clone(), listing.clone()))
            .map(|record| model_quantity(record).unwrap_or(0) + delta)
        else {
            return Ok(Vec::new());
        };
        let Some(touched) = self.write_source_model(source, listing, quantity, now, batch)? else {
            return Ok(Vec::new());
        };
        if push && self.connections.get(source).is_some_and(ConnectionRecord::pushes_allowed) {
            batch.push(WriteOp::Enqueue {
                push: OutboxPush::new(source.clone(), listing.clone(), PushAction::AdjustStock { delta }, reason),
                now,
            });
        }
        Ok(touched)
    }

    /// Set the source's on-hand listing to `quantity` (the model), queue the push and the row.
    pub(crate) fn set_source_quantity(
        &mut self,
        source: &StoreId,
        listing: &ListingId,
        quantity: i64,
        now: Timestamp,
        reason: &str,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Sku>> {
        let Some(touched) = self.write_source_model(source, listing, quantity, now, batch)? else {
            return Ok(Vec::new());
        };
        if self.connections.get(source).is_some_and(ConnectionRecord::pushes_allowed) {
            let expected = self.cas_expected(source, listing);
            batch.push(WriteOp::Enqueue {
                push: OutboxPush::new(
                    source.clone(),
                    listing.clone(),
                    PushAction::SetStock { quantity: quantity.max(0), expected },
                    reason,
                ),
                now,
            });
        }
        Ok(touched)
    }

    /// Record `quantity` as the source listing's model: its row (added to `batch`) and the reconciler.
    /// `None` when the listing is unknown; otherwise the SKUs to re-plan.
    fn write_source_model(
        &mut self,
        source: &StoreId,
        listing: &ListingId,
        quantity: i64,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> Result<Option<Vec<Sku>>> {
        let Some(record) = self.listings.get_mut(&(source.clone(), listing.clone())) else { return Ok(None) };
        record.pushed_quantity = Some(quantity);
        record.pushed_at = Some(now);
        batch.push(WriteOp::PutListing(record.clone()));
        record.version += 1;
        self.reconciler
            .set_listing_quantity(source.as_str(), listing.as_str(), quantity)
            .map(Some)
            .map_err(|e| Error::Invalid(e.to_string()))
    }

    /// The compare-and-set expectation for a write to a listing, on channels that honour it.
    pub(crate) fn cas_expected(&self, store: &StoreId, listing: &ListingId) -> Option<i64> {
        if self.cas_stores.contains(store) { self.shown.get(&(store.clone(), listing.clone())).copied() } else { None }
    }

    /// Queue the updates of a (re-)plan: one outbox push per update, the reconciler told that each listing
    /// will show its target. Updates to the source store's on-hand listings are written with their model
    /// quantity. Returns how many pushes were queued: none while pushes are held ([`State::hold`]: the
    /// source of truth is missing or unhealthy), when targets would come from an on hand the engine
    /// cannot rely on; the full re-plan when the source is back queues them.
    pub(crate) fn enqueue_updates(
        &mut self,
        updates: &[Planned],
        now: Timestamp,
        reason: &str,
        audit: bool,
        batch: &mut WriteBatch,
    ) -> usize {
        if self.hold.is_some() {
            return 0;
        }
        let mut queued = 0;
        for update in updates {
            let allowed = self.connections.get(&update.store).is_some_and(ConnectionRecord::pushes_allowed);
            if !allowed {
                continue;
            }
            let expected = self.cas_expected(&update.store, &update.listing);
            batch.push(WriteOp::Enqueue {
                push: OutboxPush::new(
                    update.store.clone(),
                    update.listing.clone(),
                    PushAction::SetStock { quantity: update.to, expected },
                    reason,
                ),
                now,
            });
            if audit {
                batch.push(WriteOp::Audit(
                    AuditEntry::new(update.store.clone(), "quantity", format!("{reason}: correction queued"), now)
                        .on_listing(update.listing.clone(), Some(update.sku.clone()))
                        .change(Some(update.from.to_string()), Some(update.to.to_string())),
                ));
            }
            // The listing was planned, so it is known to the reconciler.
            let _ = self.reconciler.set_listing_quantity(update.store.as_str(), update.listing.as_str(), update.to);
            queued += 1;
        }
        queued
    }
}

/// Add preconditions on what the targets of `updates` were computed from and `batch` does not write
/// already: the version of the source's on-hand listing of each component (or, with no store as the
/// source, the component's ledger balance). A worker whose cached on hand is stale then fails with a
/// conflict instead of pushing a target another worker's sale made wrong.
pub(crate) fn guard_plan(state: &State, updates: &[Planned], batch: &mut WriteBatch) {
    if updates.is_empty() {
        return;
    }
    let written: BTreeSet<(&StoreId, &ListingId)> = batch
        .ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::PutListing(l) => Some((&l.store, &l.listing)),
            _ => None,
        })
        .collect();
    let skus: BTreeSet<&Sku> = updates.iter().map(|u| &u.sku).collect();
    let mut components: BTreeSet<Sku> = BTreeSet::new();
    for sku in skus {
        components.extend(state.components(sku).into_iter().map(|(c, _)| c));
    }
    let mut checks = Vec::new();
    for component in components {
        match &state.source {
            Some(source) => {
                let Some(listing) = state.source_listing.get(&component) else { continue };
                if written.contains(&(source, listing)) {
                    continue;
                }
                if let Some(record) = state.listings.get(&(source.clone(), listing.clone())) {
                    checks.push(Precondition::ListingVersion {
                        store: source.clone(),
                        listing: listing.clone(),
                        version: record.version,
                    });
                }
            }
            None => {
                let balance = state.external_on_hand.get(&component).copied().unwrap_or(0);
                checks.push(Precondition::LedgerBalance { sku: component, balance });
            }
        }
    }
    batch.ops.extend(checks.into_iter().map(WriteOp::Check));
}
