//! Committing what was decided from the cached state. A batch built from cached rows fails when another
//! worker wrote one of them first; the rows it depended on are then read again (undoing its in-memory
//! changes and taking in the other worker's), so the caller can decide again.

use std::collections::BTreeSet;

use channel_core::{ListingId, Sku, StoreId};

use super::SyncEngine;
use super::engine::load_state;
use super::state::{State, model_quantity};
use crate::store::{OutboxItem, Precondition, ProductRecord, WriteBatch, WriteOp};
use crate::{Error, Result};

/// Attempts at a write computed from the cached state (an order line, an inventory change, an adjustment)
/// when another worker's commit made the rows it read stale: each failed attempt refreshes those rows.
pub(crate) const WRITE_ATTEMPTS: usize = 8;

/// Whether a failed commit is worth another attempt from refreshed rows.
pub(crate) fn is_stale(e: &Error) -> bool {
    e.kind() == channel_core::ErrorKind::Conflict || e.is_retryable()
}

/// The rows a batch built from the cached state depended on: the listings it writes, checks or pushes to,
/// and (when no store is the source) the SKUs whose on hand it moved or checked.
#[derive(Debug, Default)]
struct Depends {
    listings: BTreeSet<(StoreId, ListingId)>,
    skus: BTreeSet<Sku>,
}

impl Depends {
    fn of(batch: &WriteBatch) -> Self {
        let mut d = Self::default();
        for op in &batch.ops {
            match op {
                WriteOp::PutListing(l) => {
                    d.listings.insert((l.store.clone(), l.listing.clone()));
                }
                WriteOp::Enqueue { push, .. } => {
                    d.listings.insert((push.store.clone(), push.listing.clone()));
                }
                WriteOp::Check(Precondition::ListingVersion { store, listing, .. }) => {
                    d.listings.insert((store.clone(), listing.clone()));
                }
                WriteOp::Check(Precondition::LedgerBalance { sku, .. }) => {
                    d.skus.insert(sku.clone());
                }
                WriteOp::RecordMovement(m) => {
                    d.skus.insert(m.sku.clone());
                }
                _ => {}
            }
        }
        d
    }
}

impl SyncEngine {
    /// Commit a batch built from (and already applied to) the cached state. When it does not apply (a
    /// stale version, a failed precondition, a once-only row another writer stored first, a store error),
    /// the cached rows it depended on are read again from the store, undoing its in-memory changes and
    /// taking in other workers' writes, so the caller can build it again.
    pub(crate) async fn commit_cached(&self, state: &mut State, batch: WriteBatch) -> Result<bool> {
        let depends = Depends::of(&batch);
        match self.inner.store.commit(batch).await {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.refresh_rows(state, &depends).await?;
                Ok(false)
            }
            Err(e) => {
                if let Err(refresh) = self.refresh_rows(state, &depends).await {
                    tracing::warn!(error = %refresh, "could not refresh the cached rows");
                    self.reload_state(state).await?;
                }
                Err(e.into())
            }
        }
    }

    /// Read the rows `depends` names again into the cached state (a full reload when a listing's link or
    /// shape changed, which the reconciler cannot take in place).
    async fn refresh_rows(&self, state: &mut State, depends: &Depends) -> Result<()> {
        let store = self.inner.store.as_ref();
        for key in &depends.listings {
            let fresh = store.listing(&key.0, &key.1).await?;
            let same_shape = match (&fresh, state.listings.get(key)) {
                (None, None) => continue,
                (Some(f), Some(c)) => {
                    f.sku == c.sku
                        && f.sku_change == c.sku_change
                        && f.fulfilment == c.fulfilment
                        && f.channel_sku == c.channel_sku
                        && f.status == c.status
                        && model_quantity(f).is_some() == model_quantity(c).is_some()
                }
                _ => false,
            };
            let Some(fresh) = fresh.filter(|_| same_shape) else {
                return self.reload_state(state).await;
            };
            if let Some(quantity) = model_quantity(&fresh)
                && state.planned.contains(key)
            {
                state
                    .reconciler
                    .set_listing_quantity(key.0.as_str(), key.1.as_str(), quantity)
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                state.shown.insert(key.clone(), quantity);
            }
            state.listings.insert(key.clone(), fresh);
        }
        if state.source.is_none() {
            for sku in &depends.skus {
                if state.products.get(sku).is_none_or(ProductRecord::is_bundle) {
                    continue;
                }
                let balance = store.ledger_balance(sku).await?;
                state.external_on_hand.insert(sku.clone(), balance);
                state.reconciler.set_on_hand(sku.as_str(), Some(balance)).map_err(|e| Error::Invalid(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Take in other workers' changes to the source rows of claimed pushes before they are sent. The
    /// outbox sends a source listing's cached model quantity (the latest truth within one worker); with
    /// several workers another one may have moved it since this one cached it, and its push may have been
    /// coalesced into the item just claimed. Reading the rows after the claim sees every commit that fed
    /// the item (a later commit queues a new item, which the next claim refreshes again). One listing read
    /// per claimed source push; a no-op for other stores and when the versions match the cache.
    pub(crate) async fn refresh_claimed_source_rows(&self, store: &StoreId, items: &[OutboxItem]) -> Result<()> {
        let is_source = self.state().await?.as_ref().is_some_and(|s| s.source.as_ref() == Some(store));
        if !is_source || items.is_empty() {
            return Ok(());
        }
        let listings: BTreeSet<&ListingId> = items.iter().map(|i| &i.push.listing).collect();
        let mut read = Vec::with_capacity(listings.len());
        for listing in listings {
            let version = self.inner.store.listing(store, listing).await?.map(|r| r.version);
            read.push(((store.clone(), listing.clone()), version));
        }
        let mut guard = self.state().await?;
        let Some(state) = guard.as_mut() else { return Ok(()) };
        let stale: BTreeSet<(StoreId, ListingId)> = read
            .into_iter()
            .filter(|(key, version)| state.listings.get(key).map(|r| r.version) != *version)
            .map(|(key, _)| key)
            .collect();
        if !stale.is_empty() {
            tracing::debug!(%store, rows = stale.len(), "source rows changed by another worker: refreshed");
            self.refresh_rows(state, &Depends { listings: stale, skus: BTreeSet::new() }).await?;
        }
        Ok(())
    }

    /// Commit the outbox's record of finished pushes (listing rows with their pushed quantity, audit
    /// entries, re-planned pushes). When another worker wrote one of those listing rows since this one
    /// cached it, the rows are read again and the pushed quantity is written onto the fresh row, unless
    /// the fresh row records a later push; then the batch is committed again. Other failures reload the
    /// cached state and are returned.
    pub(crate) async fn commit_pushed(&self, state: &mut State, mut batch: WriteBatch) -> Result<()> {
        let mut attempt = 1;
        loop {
            let error = match self.inner.store.commit(batch.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) => Error::from(e),
            };
            if attempt >= WRITE_ATTEMPTS || !is_stale(&error) {
                self.reload_state(state).await?;
                return Err(error);
            }
            attempt += 1;
            let listings: BTreeSet<(StoreId, ListingId)> = batch
                .ops
                .iter()
                .filter_map(|op| match op {
                    WriteOp::PutListing(l) => Some((l.store.clone(), l.listing.clone())),
                    _ => None,
                })
                .collect();
            self.refresh_rows(state, &Depends { listings, skus: BTreeSet::new() }).await?;
            batch.ops.retain_mut(|op| {
                let WriteOp::PutListing(ours) = op else { return true };
                let Some(fresh) = state.listings.get_mut(&(ours.store.clone(), ours.listing.clone())) else {
                    return false;
                };
                if fresh.pushed_at > ours.pushed_at {
                    // Another worker recorded a later push.
                    return false;
                }
                fresh.pushed_quantity = ours.pushed_quantity;
                fresh.pushed_price = ours.pushed_price;
                fresh.pushed_at = ours.pushed_at;
                *ours = fresh.clone();
                fresh.version += 1;
                true
            });
        }
    }

    /// Rebuild the cached state from the store.
    pub(crate) async fn reload_state(&self, state: &mut State) -> Result<()> {
        *state = load_state(self.inner.store.as_ref()).await?;
        self.refresh_capabilities(state);
        Ok(())
    }
}
