//! Full reconciles ("sync now", the daily schedule) with a typed progress stream, cancellable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use channel_core::{Listing, ListingId, Sku, StoreId};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::SyncEngine;
use super::runtime::{State, model_quantity};
use crate::store::{
    AuditEntry, HealthEvent, ListingRecord, MovementCause, NewMovement, OutboxFilter, OutboxState, ProductRecord,
    WriteBatch, WriteOp,
};
use crate::{Error, Result};

/// One step of a full reconcile, in order: listings are read store by store, then updates planned, then
/// pushed (or failed), then `Finished`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// The reconcile started over these stores.
    Started {
        /// The stores read.
        stores: Vec<StoreId>,
    },
    /// Listings read from a store so far (sent per page).
    ListingsRead {
        /// The store.
        store: StoreId,
        /// Listings read from it so far.
        count: usize,
    },
    /// Reading a store failed (the reconcile goes on with the others).
    ReadFailed {
        /// The store.
        store: StoreId,
        /// Why.
        reason: String,
    },
    /// The plan is made: this many pushes were queued.
    Planned {
        /// Pushes queued.
        updates: usize,
    },
    /// Pushes done so far.
    Pushed {
        /// Applied so far.
        pushed: usize,
        /// Failed so far (retried or dead-lettered).
        failed: usize,
    },
    /// The reconcile ended.
    Finished(SyncSummary),
}

/// What a full reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncSummary {
    /// Listings read.
    pub listings_read: usize,
    /// Pushes planned.
    pub planned: usize,
    /// Pushes applied.
    pub pushed: usize,
    /// Pushes that failed (retried later or dead-lettered).
    pub failed: usize,
    /// Source listings whose quantity changed outside the engine (taken in, in the ledger).
    pub source_changes: usize,
    /// Stores that could not be read.
    pub read_failures: Vec<StoreId>,
    /// Whether it was cancelled before the end.
    pub cancelled: bool,
}

/// A full reconcile running in the background: its events, cancel it, wait for it.
#[derive(Debug)]
pub struct SyncHandle {
    /// The progress events; the stream ends after [`SyncEvent::Finished`].
    pub events: mpsc::UnboundedReceiver<SyncEvent>,
    cancel: Arc<AtomicBool>,
    task: JoinHandle<Result<SyncSummary>>,
}

impl SyncHandle {
    /// Ask the reconcile to stop at the next step (what was queued stays queued and is pushed later).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Stop the reconcile at its next await point, as a crash would (what was committed stays committed).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Wait for the end.
    pub async fn finish(self) -> Result<SyncSummary> {
        self.task.await.map_err(|e| Error::Invalid(format!("the sync task failed: {e}")))?
    }
}

/// What a full read is checked against: the listings with a push queued or in flight when it began, and
/// the cached rows' versions then.
struct ReadMarks {
    busy: HashSet<(StoreId, ListingId)>,
    versions: HashMap<(StoreId, ListingId), u64>,
}

struct Reporter<'a> {
    tx: Option<&'a mpsc::UnboundedSender<SyncEvent>>,
    cancel: &'a AtomicBool,
}

impl Reporter<'_> {
    fn send(&self, event: SyncEvent) {
        if let Some(tx) = self.tx {
            let _ = tx.send(event);
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

impl SyncEngine {
    /// Start a full reconcile of every connected store in the background ("sync now").
    pub fn sync_now(&self) -> SyncHandle {
        self.sync_now_for(None)
    }

    /// Start a full reconcile in the background; `stores` limits the stores pushed to (every store is
    /// still read, since availability depends on all of them).
    pub fn sync_now_for(&self, stores: Option<Vec<StoreId>>) -> SyncHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let engine = self.clone();
        let flag = Arc::clone(&cancel);
        let task = tokio::spawn(async move { engine.full_sync(stores, Some(&tx), &flag).await });
        SyncHandle { events: rx, cancel, task }
    }

    /// Run a full reconcile now and wait for it: read every listing, take in external changes on the
    /// source (ledger movements and audit entries), re-plan everything, queue the corrections (audited) and
    /// push them.
    pub async fn full_sync(
        &self,
        only: Option<Vec<StoreId>>,
        events: Option<&mpsc::UnboundedSender<SyncEvent>>,
        cancel: &AtomicBool,
    ) -> Result<SyncSummary> {
        let reporter = Reporter { tx: events, cancel };
        let mut summary = SyncSummary::default();
        let stores: Vec<StoreId> = {
            let guard = self.state().await?;
            let state = guard.as_ref().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
            let mut ids: Vec<StoreId> = state.connections.keys().cloned().collect();
            ids.sort();
            ids
        };
        reporter.send(SyncEvent::Started { stores: stores.clone() });
        // What the rows were before they are read: a read may predate what the engine does meanwhile.
        let before = self.read_marks().await?;
        // 1. Read every store at once.
        let reads = stores.iter().map(|store| self.read_store(store, &reporter));
        let results = futures::future::join_all(reads).await;
        let mut read: HashMap<StoreId, Vec<Listing>> = HashMap::new();
        for (store, result) in stores.iter().zip(results) {
            match result {
                Ok(listings) => {
                    summary.listings_read += listings.len();
                    read.insert(store.clone(), listings);
                }
                Err(e) => {
                    reporter.send(SyncEvent::ReadFailed { store: store.clone(), reason: e.to_string() });
                    if let Error::Channel(ce) = &e {
                        self.record_failure(store, ce).await;
                    }
                    summary.read_failures.push(store.clone());
                }
            }
        }
        if reporter.cancelled() {
            summary.cancelled = true;
            reporter.send(SyncEvent::Finished(summary.clone()));
            return Ok(summary);
        }
        // 2. Take the reads in and plan.
        let queued = self.take_in(read, &before, only.as_deref(), &mut summary).await?;
        summary.planned = queued;
        reporter.send(SyncEvent::Planned { updates: queued });
        self.inner.outbox_wake.wake_all();
        // 3. Push until the outbox is empty (items backing off are waited for).
        let mut pushed = 0;
        let mut failed = 0;
        loop {
            if reporter.cancelled() {
                summary.cancelled = true;
                break;
            }
            let r = self.run_outbox_once().await?;
            pushed += r.pushed;
            failed += r.dead;
            if r.claimed > 0 {
                reporter.send(SyncEvent::Pushed { pushed, failed: failed + r.retried });
                continue;
            }
            if self.outbox_settled().await? {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        summary.pushed = pushed;
        summary.failed = failed;
        reporter.send(SyncEvent::Pushed { pushed, failed });
        if !summary.cancelled {
            let now = self.inner.clock.now();
            let mut batch = WriteBatch::new();
            // Only the stores this sync was for: the others were read, not reconciled.
            let synced = stores
                .iter()
                .filter(|s| !summary.read_failures.contains(s))
                .filter(|s| only.as_ref().is_none_or(|o| o.contains(s)));
            for store in synced {
                batch.push(WriteOp::RecordHealth {
                    store: store.clone(),
                    event: HealthEvent::SyncSucceeded { at: now },
                });
            }
            if !batch.ops.is_empty() {
                self.inner.store.commit(batch).await?;
            }
        }
        reporter.send(SyncEvent::Finished(summary.clone()));
        Ok(summary)
    }

    /// Whether nothing is left to push (dead letters and held stores aside).
    pub(super) async fn outbox_settled(&self) -> Result<bool> {
        let held: HashSet<StoreId> = {
            let guard = self.state().await?;
            guard
                .as_ref()
                .map(|s| s.connections.values().filter(|c| !c.pushes_allowed()).map(|c| c.store.clone()).collect())
                .unwrap_or_default()
        };
        Ok(self.inner.store.outbox(&OutboxFilter::default()).await?.iter().all(|i| {
            i.state == OutboxState::Dead || held.contains(&i.push.store) || self.channel(&i.push.store).is_none()
        }))
    }

    async fn read_store(&self, store: &StoreId, reporter: &Reporter<'_>) -> Result<Vec<Listing>> {
        let channel = self.channel(store).ok_or_else(|| Error::NotFound(format!("channel of store {store}")))?;
        let mut stream = channel.listings();
        let mut out = Vec::new();
        while let Some(listing) = stream.next().await {
            out.push(listing?);
            if out.len() % 50 == 0 {
                reporter.send(SyncEvent::ListingsRead { store: store.clone(), count: out.len() });
                if reporter.cancelled() {
                    return Ok(out);
                }
            }
        }
        reporter.send(SyncEvent::ListingsRead { store: store.clone(), count: out.len() });
        Ok(out)
    }

    /// The listings with a push queued or in flight, and every cached row's version, before a full read.
    async fn read_marks(&self) -> Result<ReadMarks> {
        let busy = self.listings_in_outbox(None).await?;
        let guard = self.state().await?;
        let versions = guard
            .as_ref()
            .map(|state| state.listings.iter().map(|(key, record)| (key.clone(), record.version)).collect())
            .unwrap_or_default();
        Ok(ReadMarks { busy, versions })
    }

    /// Merge what was read into the listing rows, take in external changes on the source, rebuild the
    /// reconciler and queue the full plan. Returns the number of pushes queued.
    async fn take_in(
        &self,
        read: HashMap<StoreId, Vec<Listing>>,
        before: &ReadMarks,
        only: Option<&[StoreId]>,
        summary: &mut SyncSummary,
    ) -> Result<usize> {
        let mut guard = self.state().await?;
        let state = guard.as_mut().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
        match self.take_in_locked(state, read, before, only, summary).await {
            Ok(queued) => Ok(queued),
            Err(e) => {
                // The cached rows were changed ahead of the commits: start again from what is stored.
                self.reload_state(state).await?;
                Err(e)
            }
        }
    }

    async fn take_in_locked(
        &self,
        state: &mut State,
        read: HashMap<StoreId, Vec<Listing>>,
        before: &ReadMarks,
        only: Option<&[StoreId]>,
        summary: &mut SyncSummary,
    ) -> Result<usize> {
        let now = self.inner.clock.now();
        // Listings with a push queued or in flight now, or when the read began (a push that landed while
        // the stores were read is in neither the read nor the outbox any more), or whose row changed while
        // they were read (an order moved the source's model): what was read there may be older than the
        // model.
        let mut in_flight = self.listings_in_outbox(None).await?;
        in_flight.extend(before.busy.iter().cloned());
        in_flight.extend(
            state
                .listings
                .iter()
                .filter(|(key, record)| before.versions.get(*key).is_some_and(|v| *v != record.version))
                .map(|(key, _)| key.clone()),
        );
        let mut batch = WriteBatch::new();
        let source = state.source.clone();
        // The source first: its catalog defines the products the other stores' listings link to, so on a
        // first sync a store named before the source must not be taken in while those products are unknown.
        let mut stores: Vec<&StoreId> = read.keys().collect();
        stores.sort_by_key(|s| (source.as_ref() != Some(*s), *s));
        for store in stores {
            let is_source = source.as_ref() == Some(store);
            for listing in &read[store] {
                let key = (store.clone(), listing.id.clone());
                let linked = listing.sku.clone().or_else(|| Sku::new(&listing.channel_sku).ok());
                if is_source
                    && let Some(sku) = &linked
                    && !state.products.contains_key(sku)
                    && listing.fulfilment == channel_core::Fulfilment::Merchant
                {
                    // The source's catalog defines simple products the engine did not know yet.
                    let product = ProductRecord::simple(sku.clone(), now);
                    batch.push(WriteOp::PutProduct(product.clone()));
                    state.products.insert(sku.clone(), product);
                }
                let mut record = state.listings.get(&key).cloned().unwrap_or_else(|| {
                    let mut r = ListingRecord::new(store.clone(), listing.id.clone(), listing.channel_sku.clone());
                    r.sku = linked.clone().filter(|s| state.products.contains_key(s));
                    r
                });
                if record.channel_sku != listing.channel_sku && record.version > 0 {
                    if record.sku_change.is_none() {
                        record.sku_change = Some(crate::store::SkuChange {
                            from: record.channel_sku.clone(),
                            to: listing.channel_sku.clone(),
                            seen_at: now,
                        });
                        batch.push(WriteOp::Audit(
                            AuditEntry::new(
                                store.clone(),
                                "sku",
                                "SKU changed on a linked listing: not synced until resolved",
                                now,
                            )
                            .on_listing(listing.id.clone(), record.sku.clone())
                            .change(Some(record.channel_sku.clone()), Some(listing.channel_sku.clone())),
                        ));
                    }
                } else if record.sku.is_none() {
                    record.sku = linked.filter(|s| state.products.contains_key(s));
                }
                let before = model_quantity(&record);
                let is_on_hand = is_source
                    && record.fulfilment == channel_core::Fulfilment::Merchant
                    && record
                        .sku
                        .as_ref()
                        .is_some_and(|s| state.source_listing.get(s).is_none_or(|l| l == &listing.id));
                record.ids = listing.ids.clone();
                record.fulfilment = listing.fulfilment;
                record.status = listing.status;
                record.seen_price = listing.price;
                if in_flight.contains(&key) && is_source {
                    // A push to the source was pending or landed, or its model moved, while it was read: the
                    // model stays; only the ids and status are new.
                    batch.push(WriteOp::PutListing(record.clone()));
                } else {
                    record.seen_quantity = listing.quantity();
                    record.seen_at = Some(now);
                    if is_on_hand
                        && let (Some(old), Some(new), Some(sku)) = (before, listing.quantity(), record.sku.clone())
                        && old != new
                    {
                        summary.source_changes += 1;
                        batch.push(WriteOp::RecordMovement(
                            NewMovement::new(sku.clone(), new - old, MovementCause::ReconcileCorrection, now)
                                .with_note(format!("full reconcile: {store} shows {new}, the engine had {old}")),
                        ));
                        batch.push(WriteOp::Audit(
                            AuditEntry::new(
                                store.clone(),
                                "quantity",
                                "full reconcile: external change on the source taken in",
                                now,
                            )
                            .on_listing(listing.id.clone(), Some(sku))
                            .change(Some(old.to_string()), Some(new.to_string())),
                        ));
                    }
                    batch.push(WriteOp::PutListing(record.clone()));
                }
                record.version += 1;
                state.listings.insert(key, record);
            }
        }
        self.inner.store.commit(batch).await?;
        state.rebuild()?;
        self.refresh_capabilities(state);
        let updates: Vec<_> = super::runtime::owned_updates(state.reconciler.plan())
            .into_iter()
            .filter(|u| only.is_none_or(|o| o.contains(&u.store)))
            .collect();
        let mut batch = WriteBatch::new();
        let queued = state.enqueue_updates(&updates, now, "full reconcile (drift repair)", true, &mut batch);
        if !batch.ops.is_empty() {
            self.inner.store.commit(batch).await?;
        }
        Ok(queued)
    }
}
