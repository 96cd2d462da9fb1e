//! What an order line means for stock: a new sale, a duplicate to skip, or a known line whose
//! cancellation or return gives units back by the store's [`RestockPolicy`]; and what the engine queues
//! after it (the ledger movements, the new on hand, the pushes of every re-planned listing).

use channel_core::{Fulfilment, ListingId, Order, OrderLine, OrderStatus, Sku, StoreId};
use jiff::Timestamp;

use super::{State, guard_plan};
use crate::Result;
use crate::store::{AuditEntry, MovementCause, NewMovement, OrderLineRecord, WriteBatch, WriteOp};
use crate::sync::{IngestReport, RestockPolicy};

/// Units of a line that should be back in stock, by the store's policy and the order's status.
pub(crate) fn released_target(line: &OrderLine, status: OrderStatus, policy: RestockPolicy) -> (u32, MovementCause) {
    match status {
        OrderStatus::Cancelled => (if policy.cancellations { line.quantity } else { 0 }, MovementCause::Cancellation),
        OrderStatus::Returned => {
            let units =
                if line.refunded_quantity > 0 { line.refunded_quantity.min(line.quantity) } else { line.quantity };
            (if policy.returns { units } else { 0 }, MovementCause::Return)
        }
        _ => (if policy.returns { line.refunded_quantity.min(line.quantity) } else { 0 }, MovementCause::Return),
    }
}

/// The audit entry of something that happened to the order line `record` (`what`): its store, order, line,
/// listing and channel SKU, and the catalog SKU it counts against if linked; no buyer data.
pub(crate) fn line_audit(record: &OrderLineRecord, what: &str, now: Timestamp) -> AuditEntry {
    let reason = format!("{what}: order {} line {} (channel SKU {:?})", record.order, record.line, record.channel_sku);
    let mut entry = AuditEntry::new(record.store.clone(), "order_line", reason, now);
    entry.listing.clone_from(&record.listing);
    entry.sku.clone_from(&record.sku);
    entry
}

/// What an order line does, compared with what was recorded of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineChange {
    /// Already recorded, nothing new: skipped.
    Duplicate,
    /// Recorded (again) as `record`; `units` of stock move by `cause` (negative for a sale, positive for a
    /// restock, zero when nothing moves).
    Apply {
        /// The line's new marker row.
        record: Box<OrderLineRecord>,
        /// Units whose stock moves now.
        units: i64,
        /// Why they move.
        cause: MovementCause,
        /// Whether the line is seen for the first time.
        is_new: bool,
    },
}

/// What `line` of `order` on `store` does, given what was recorded of it (`existing`), the catalog SKU it
/// resolved to and the store's restock policy.
pub(crate) fn line_change(
    existing: Option<&OrderLineRecord>,
    store: &StoreId,
    order: &Order,
    line: &OrderLine,
    sku: Option<Sku>,
    policy: RestockPolicy,
    now: Timestamp,
) -> LineChange {
    let (target_released, release_cause) = released_target(line, order.status, policy);
    match existing {
        None => {
            let mut record =
                OrderLineRecord::new(store.clone(), order.id.clone(), &line.line_id, line.quantity, order.status, now);
            record.sku = sku;
            record.listing = line.listing.clone();
            record.channel_sku = line.channel_sku.clone();
            let released = if order.status.releases_stock() { line.quantity } else { target_released };
            record.released = released;
            // A line first seen already cancelled never held stock: nothing moves.
            let sold = i64::from(line.quantity) - i64::from(released);
            LineChange::Apply { record: Box::new(record), units: -sold, cause: MovementCause::Order, is_new: true }
        }
        Some(known) => {
            let released = known.released.max(target_released).min(known.quantity);
            if released == known.released && known.status == order.status {
                return LineChange::Duplicate;
            }
            let mut record = known.clone();
            record.released = released;
            record.status = order.status;
            record.updated_at = now;
            LineChange::Apply {
                record: Box::new(record),
                units: i64::from(released - known.released),
                cause: release_cause,
                is_new: false,
            }
        }
    }
}

impl State {
    /// Apply an order line to the cached state: the batch to commit (`None` for a duplicate) and what it
    /// counts for. `existing` is the line's stored marker, if any.
    pub(crate) fn apply_order_line(
        &mut self,
        store: &StoreId,
        order: &Order,
        line: &OrderLine,
        existing: Option<&OrderLineRecord>,
        policy: RestockPolicy,
        now: Timestamp,
    ) -> Result<(Option<WriteBatch>, IngestReport)> {
        let mut report = IngestReport::default();
        let (sku, merchant) = self.line_target(store, line);
        let LineChange::Apply { mut record, units, cause, is_new } =
            line_change(existing, store, order, line, sku.clone(), policy, now)
        else {
            report.duplicates += 1;
            return Ok((None, report));
        };
        if is_new {
            report.new_lines += 1;
            // A merchant sale the engine cannot count yet is held, not dropped: it is applied once a read
            // links its listing (`State::resolve_held`).
            record.held = merchant && !sku.as_ref().is_some_and(|s| self.counts_on_hand(s));
            report.unknown += usize::from(record.held);
        } else {
            report.updated_lines += 1;
        }
        // The marker goes first: a duplicate of it skips the whole batch.
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::PutOrderLine((*record).clone()));
        // A held line's sale (and whatever was given back of it meanwhile) counts when it is resolved.
        let touched = match &sku {
            Some(sku) if merchant && !record.held && units != 0 => {
                self.move_for_line(&record, sku, units, cause, now, true, &mut batch)?
            }
            _ => Vec::new(),
        };
        let updates = self.replan(&touched);
        self.enqueue_updates(&updates, now, &format!("order {} on {store}", order.id), false, &mut batch);
        report.pushes = batch.ops.iter().filter(|op| matches!(op, WriteOp::Enqueue { .. })).count();
        guard_plan(self, &updates, &mut batch);
        Ok((Some(batch), report))
    }

    /// Apply a held line (`held`, as stored) if its listing or SKU is linked now: the batch that records it
    /// as applied (a version-checked write, so it is applied once whoever else tries), with the ledger
    /// movements of the units still sold, the new on hand and the pushes it causes, and the number of
    /// pushes; `None` while it still cannot be counted. `shown_by_read`: the on hand was taken from a read
    /// of the store the line was sold on made after the sale (the source's own sale), which already shows
    /// it: the movement is recorded, the on hand does not move again.
    pub(crate) fn resolve_held(
        &mut self,
        held: &OrderLineRecord,
        shown_by_read: bool,
        now: Timestamp,
    ) -> Result<Option<(WriteBatch, usize)>> {
        let (sku, merchant) = self.target(&held.store, held.listing.as_ref(), &held.channel_sku, Fulfilment::Merchant);
        if merchant && !sku.as_ref().is_some_and(|s| self.counts_on_hand(s)) {
            return Ok(None);
        }
        let mut record = held.clone();
        record.held = false;
        record.sku.clone_from(&sku);
        record.updated_at = now;
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::PutOrderLine(record.clone()));
        let sold = i64::from(record.quantity.saturating_sub(record.released));
        let touched = match &sku {
            Some(sku) if merchant && sold != 0 => {
                self.move_for_line(&record, sku, -sold, MovementCause::Order, now, !shown_by_read, &mut batch)?
            }
            _ => Vec::new(),
        };
        let what = format!("held sale applied, {sold} unit(s) counted");
        batch.push(WriteOp::Audit(line_audit(&record, &what, now)));
        let reason = format!("held order {} on {} applied", record.order, record.store);
        let updates = self.replan(&touched);
        self.enqueue_updates(&updates, now, &reason, false, &mut batch);
        let pushes = batch.ops.iter().filter(|op| matches!(op, WriteOp::Enqueue { .. })).count();
        guard_plan(self, &updates, &mut batch);
        Ok(Some((batch, pushes)))
    }

    /// Whether the on hand of `sku` is known, so a sale of it can be counted: with a source store, every
    /// simple component of it has an on-hand listing there (a product the source does not list yet has no
    /// on hand to move).
    pub(crate) fn counts_on_hand(&self, sku: &Sku) -> bool {
        let components = self.components(sku);
        !components.is_empty()
            && (self.source.is_none() || components.iter().all(|(c, _)| self.source_listing.contains_key(c)))
    }

    /// The catalog SKU an order line counts against, and whether the merchant holds its stock (a
    /// channel-fulfilled line, or a line of a channel-held listing, moves no stock of the seller's).
    pub(crate) fn line_target(&self, store: &StoreId, line: &OrderLine) -> (Option<Sku>, bool) {
        self.target(store, line.listing.as_ref(), &line.channel_sku, line.fulfilment)
    }

    /// [`State::line_target`] of a line naming `listing` and `channel_sku`, fulfilled by `fulfilment`.
    fn target(
        &self,
        store: &StoreId,
        listing: Option<&ListingId>,
        channel_sku: &str,
        fulfilment: Fulfilment,
    ) -> (Option<Sku>, bool) {
        let resolved = self.resolve_sku(store, listing, channel_sku);
        let listing_fulfilment = resolved
            .as_ref()
            .and_then(|(_, l)| l.as_ref())
            .and_then(|l| self.listings.get(&(store.clone(), l.clone())))
            .map(|r| r.fulfilment);
        let merchant = fulfilment == Fulfilment::Merchant && listing_fulfilment != Some(Fulfilment::Channel);
        (resolved.map(|(s, _)| s), merchant)
    }

    /// Record the ledger movements of `units` of `sku` (each component of a bundle) for the line `record`
    /// and, when `move_stock`, move their on hand. Returns the SKUs to re-plan (every component when the on
    /// hand is not moved).
    #[expect(clippy::too_many_arguments, reason = "a line's movement: what, how many, why, when, and where to")]
    fn move_for_line(
        &mut self,
        record: &OrderLineRecord,
        sku: &Sku,
        units: i64,
        cause: MovementCause,
        now: Timestamp,
        move_stock: bool,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Sku>> {
        let reason = format!("{} {} on {}", cause.as_str(), record.order, record.store);
        let mut touched = Vec::new();
        for (component, m) in self.components(sku) {
            let m = i64::try_from(m).unwrap_or(i64::MAX);
            let delta = units.saturating_mul(m);
            let mut movement = NewMovement::new(component.clone(), delta, cause, now).for_line(
                record.store.clone(),
                record.order.clone(),
                &record.line,
            );
            if &component != sku {
                movement = movement.with_note(format!("component of {sku}"));
            }
            batch.push(WriteOp::RecordMovement(movement));
            if !move_stock {
                // The on hand already shows it; the other listings are planned from it all the same.
                touched.push(component);
                continue;
            }
            // Every merchant sale moves the on hand, the source's own included (the source already shows
            // it; the absolute push of the new on hand then matches and heals any push that overwrote the
            // sale meanwhile). See docs/sync.md on reads racing sales.
            touched.extend(self.move_on_hand(&component, delta, now, &reason, batch)?);
        }
        Ok(touched)
    }
}
