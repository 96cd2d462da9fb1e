//! What a full read of the stores means for the cached state: each listing read merged into its row (a
//! product the source defines, a SKU change on a linked listing, the quantity seen), an external change of
//! the source's on hand taken in, and the full plan queued after it.

use std::collections::{HashMap, HashSet};

use channel_core::{Fulfilment, Listing, ListingId, Sku, StoreId};
use jiff::Timestamp;

use super::{State, model_quantity};
use crate::store::{
    AuditEntry, ListingRecord, MovementCause, NewMovement, ProductRecord, SkuChange, WriteBatch, WriteOp,
};

impl State {
    /// The cached listings whose row version is not the one in `versions` (taken before a read): what was
    /// read of them may be older than the model.
    pub(crate) fn changed_since(&self, versions: &HashMap<(StoreId, ListingId), u64>) -> Vec<(StoreId, ListingId)> {
        self.listings
            .iter()
            .filter(|(key, record)| versions.get(*key).is_some_and(|v| *v != record.version))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Merge what was read from every store into the cached rows and `batch`. The source goes first: its
    /// catalog defines the products the other stores' listings link to, so on a first sync a store named
    /// before the source must not be taken in while those products are unknown. `busy`: listings whose
    /// read may be older than the model (a push pending or landed, or the row changed, while it was read).
    /// Returns how many external changes of the source's on hand were taken in.
    pub(crate) fn merge_reads(
        &mut self,
        read: &HashMap<StoreId, Vec<Listing>>,
        busy: &HashSet<(StoreId, ListingId)>,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> usize {
        let source = self.source.clone();
        let mut stores: Vec<&StoreId> = read.keys().collect();
        stores.sort_by_key(|s| (source.as_ref() != Some(*s), *s));
        let mut source_changes = 0;
        for store in stores {
            let is_source = source.as_ref() == Some(store);
            for listing in &read[store] {
                let busy = is_source && busy.contains(&(store.clone(), listing.id.clone()));
                let changed = if self.is_global(store) {
                    self.merge_global_read(store, listing, is_source, busy, now, batch)
                } else {
                    self.merge_read(store, listing, is_source, busy, now, batch)
                };
                source_changes += usize::from(changed);
            }
        }
        source_changes
    }

    /// Merge one listing read from `store` into its row. Returns whether it was an external change of the
    /// source's on hand (taken in as a ledger movement, audited).
    pub(super) fn merge_read(
        &mut self,
        store: &StoreId,
        listing: &Listing,
        is_source: bool,
        busy: bool,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> bool {
        let key = (store.clone(), listing.id.clone());
        let linked = listing.sku.clone().or_else(|| Sku::new(&listing.channel_sku).ok());
        // A global store never creates products: each company's catalog is its own.
        if is_source && !self.is_global(store) {
            self.add_source_product(listing, linked.as_ref(), now, batch);
        }
        let mut record = self.listings.get(&key).cloned().unwrap_or_else(|| {
            let mut r = ListingRecord::new(store.clone(), listing.id.clone(), listing.channel_sku.clone());
            r.sku = linked.clone().filter(|s| self.products.contains_key(s));
            r
        });
        self.relink(&mut record, listing, linked, now, batch);
        let before = model_quantity(&record);
        let is_on_hand = is_source
            && record.fulfilment == Fulfilment::Merchant
            && record.sku.as_ref().is_some_and(|s| self.source_listing.get(s).is_none_or(|l| l == &listing.id));
        let changed = !busy && is_on_hand && source_change(store, listing, before, record.sku.clone(), now, batch);
        // (For a busy source listing the model stays; only the ids and status are new.)
        self.put_seen(key, record, listing, (!busy).then_some(now), batch);
        changed
    }

    /// Store what a read saw of a listing in its row (its ids, fulfilment, status and price; its quantity
    /// too when `seen_at` is given) and keep the row.
    pub(super) fn put_seen(
        &mut self,
        key: (StoreId, ListingId),
        mut record: ListingRecord,
        listing: &Listing,
        seen_at: Option<Timestamp>,
        batch: &mut WriteBatch,
    ) {
        record.ids = listing.ids.clone();
        record.fulfilment = listing.fulfilment;
        record.status = listing.status;
        record.seen_price = listing.price;
        if seen_at.is_some() {
            record.seen_quantity = listing.quantity();
            record.seen_at = seen_at;
        }
        batch.push(WriteOp::PutListing(record.clone()));
        record.version += 1;
        self.listings.insert(key, record);
    }

    /// The source's catalog defines the simple products the engine did not know yet: a merchant listing
    /// linked to an unknown SKU adds it.
    fn add_source_product(&mut self, listing: &Listing, linked: Option<&Sku>, now: Timestamp, batch: &mut WriteBatch) {
        if let Some(sku) = linked
            && !self.products.contains_key(sku)
            && listing.fulfilment == Fulfilment::Merchant
        {
            let product = ProductRecord::simple(sku.clone(), now);
            batch.push(WriteOp::PutProduct(product.clone()));
            self.products.insert(sku.clone(), product);
        }
    }

    /// A linked listing whose channel SKU changed keeps its link and is not synced until resolved (the
    /// change is recorded once, audited); an unlinked one is linked to the catalog SKU it names.
    fn relink(
        &self,
        record: &mut ListingRecord,
        listing: &Listing,
        linked: Option<Sku>,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) {
        if record.channel_sku != listing.channel_sku && record.version > 0 {
            if record.sku_change.is_none() {
                record.sku_change =
                    Some(SkuChange { from: record.channel_sku.clone(), to: listing.channel_sku.clone(), seen_at: now });
                batch.push(WriteOp::Audit(
                    AuditEntry::new(
                        record.store.clone(),
                        "sku",
                        "SKU changed on a linked listing: not synced until resolved",
                        now,
                    )
                    .on_listing(listing.id.clone(), record.sku.clone())
                    .change(Some(record.channel_sku.clone()), Some(listing.channel_sku.clone())),
                ));
            }
        } else if record.sku.is_none() {
            record.sku = linked.filter(|s| self.products.contains_key(s));
        }
    }

    /// Re-plan in full after a read and queue the corrections (audited), to the stores in `only` when
    /// given. Returns how many pushes were queued.
    pub(crate) fn queue_full_plan(
        &mut self,
        only: Option<&[StoreId]>,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> usize {
        let updates: Vec<_> = super::owned_updates(self.reconciler.plan())
            .into_iter()
            .filter(|u| only.is_none_or(|o| o.contains(&u.store)))
            .collect();
        self.enqueue_updates(&updates, now, "full reconcile (drift repair)", true, batch)
    }
}

/// The source's on-hand listing shows `listing.quantity()` where the engine had `before`: an external
/// change, taken in as a reconcile correction in the ledger and audited. Returns whether there was one.
fn source_change(
    store: &StoreId,
    listing: &Listing,
    before: Option<i64>,
    sku: Option<Sku>,
    now: Timestamp,
    batch: &mut WriteBatch,
) -> bool {
    let (Some(old), Some(new), Some(sku)) = (before, listing.quantity(), sku) else { return false };
    if old == new {
        return false;
    }
    batch.push(WriteOp::RecordMovement(
        NewMovement::new(sku.clone(), new - old, MovementCause::ReconcileCorrection, now)
            .with_note(format!("full reconcile: {store} shows {new}, the engine had {old}")),
    ));
    batch.push(WriteOp::Audit(
        AuditEntry::new(store.clone(), "quantity", "full reconcile: external change on the source taken in", now)
            .on_listing(listing.id.clone(), Some(sku))
            .change(Some(old.to_string()), Some(new.to_string())),
    ));
    true
}
