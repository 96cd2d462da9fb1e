//! The full reconcile ("sync now", the daily schedule): read every store, take the reads in (external
//! changes on the source become ledger movements), re-plan everything, queue the corrections and push
//! them, reporting [`SyncEvent`]s; cancellable.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use channel_core::{Listing, ListingId, Sku, StoreId};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::engine::loaded;
use super::events::Reporter;
use super::state::{State, global_listing_sku};
use super::{SyncEngine, SyncEvent, SyncHandle, SyncSummary};
use crate::store::{CompanyId, HealthEvent, OutboxFilter, OutboxState, WriteBatch, WriteOp};
use crate::{Error, Result};

/// What a full read is checked against: the listings with a push queued or in flight when it began, and
/// the cached rows' versions then.
struct ReadMarks {
    at: jiff::Timestamp,
    busy: HashSet<(StoreId, ListingId)>,
    versions: HashMap<(StoreId, ListingId), u64>,
}

impl SyncEngine {
    /// Start a full reconcile of every connected store in the background ("sync now").
    pub fn sync_now(&self) -> SyncHandle {
        self.sync_now_for(None)
    }

    /// Start a full reconcile in the background; `stores` limits the stores pushed to. Every store is still
    /// read, since what a store may show depends on all of them (and an external change on the source is
    /// taken in), but only `stores` get the plan's corrections and only their outbox is pushed: pushes
    /// queued for other stores (by orders, or the re-plan of a restart) stay queued for their own outbox
    /// lanes. The [`SyncSummary`] counts pushes to `stores` only.
    pub fn sync_now_for(&self, stores: Option<Vec<StoreId>>) -> SyncHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let engine = self.clone();
        let flag = Arc::clone(&cancel);
        let task = tokio::spawn(async move { engine.full_sync(stores, Some(&tx), &flag).await });
        SyncHandle::new(rx, cancel, task)
    }

    /// Run a full reconcile now and wait for it: read every listing, take in external changes on the
    /// source (ledger movements and audit entries), re-plan everything, queue the corrections (audited) and
    /// push them. The steps: read every store at once, take the reads in and plan, push until the outbox
    /// is settled, record the synced stores' health.
    pub async fn full_sync(
        &self,
        only: Option<Vec<StoreId>>,
        events: Option<&mpsc::UnboundedSender<SyncEvent>>,
        cancel: &AtomicBool,
    ) -> Result<SyncSummary> {
        let reporter = Reporter::new(events, cancel);
        let mut summary = SyncSummary::default();
        let stores = self.connected_stores().await?;
        reporter.send(SyncEvent::Started { stores: stores.clone() });
        // What the rows were before they are read: a read may predate what the engine does meanwhile.
        let before = self.read_marks().await?;
        // 1. Read every store at once.
        let read = self.read_stores(&stores, &reporter, &mut summary).await;
        if reporter.cancelled() {
            summary.cancelled = true;
            reporter.send(SyncEvent::Finished(summary.clone()));
            return Ok(summary);
        }
        // 2. Take the reads in and plan.
        let queued = self.take_in(read, &before, only.as_deref(), &mut summary).await?;
        let targets = match &only {
            Some(only) => only.clone(),
            None => self.outbox_stores().await?,
        };
        // Every push waiting for the stores pushed to: the plan's, and those queued before it.
        let waiting = self.waiting_pushes(&targets).await?;
        summary.planned = queued;
        summary.carried = waiting.saturating_sub(queued);
        reporter.send(SyncEvent::Planned { updates: queued, carried: summary.carried });
        self.inner.outbox_wake.wake_all();
        // 3. Push to the stores this sync is for until their outbox is settled (items backing off are
        // waited for); other stores' pushes are left to their own lanes.
        self.push_all(&targets, &reporter, &mut summary).await?;
        summary.left = self.waiting_pushes(&targets).await?;
        // 4. Record the stores this sync was for as synced.
        if !summary.cancelled {
            self.record_synced(&stores, only.as_deref(), &summary).await?;
        }
        reporter.send(SyncEvent::Finished(summary.clone()));
        Ok(summary)
    }

    /// The connected stores, in order.
    async fn connected_stores(&self) -> Result<Vec<StoreId>> {
        let guard = self.state().await?;
        let state = guard.as_ref().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
        let mut ids: Vec<StoreId> = state.connections.keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }

    /// Read every store at once. A store that cannot be read is reported, recorded on its health and in
    /// the summary; the others go on.
    async fn read_stores(
        &self,
        stores: &[StoreId],
        reporter: &Reporter<'_>,
        summary: &mut SyncSummary,
    ) -> HashMap<StoreId, Vec<Listing>> {
        let reads = stores.iter().map(|store| self.read_store(store, reporter));
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
        read
    }

    /// Run the outbox of `stores` until it is settled (or the reconcile is cancelled), reporting progress.
    async fn push_all(&self, stores: &[StoreId], reporter: &Reporter<'_>, summary: &mut SyncSummary) -> Result<()> {
        let mut pushed = 0;
        let mut failed = 0;
        loop {
            if reporter.cancelled() {
                summary.cancelled = true;
                break;
            }
            let r = self.run_outbox_lanes(stores.to_vec()).await?;
            pushed += r.pushed;
            failed += r.dead;
            if r.claimed > 0 {
                reporter.send(SyncEvent::Pushed { pushed, failed: failed + r.retried });
                continue;
            }
            if self.outbox_settled(stores).await? {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        summary.pushed = pushed;
        summary.failed = failed;
        reporter.send(SyncEvent::Pushed { pushed, failed });
        Ok(())
    }

    /// Record a successful sync on the health of the stores this sync was for that could be read (the
    /// others were read, not reconciled). Nothing while pushes are held: no store was reconciled, and
    /// their health keeps saying why.
    async fn record_synced(&self, stores: &[StoreId], only: Option<&[StoreId]>, summary: &SyncSummary) -> Result<()> {
        if self.pushes_held().await.is_some() {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let mut batch = WriteBatch::new();
        let synced =
            stores.iter().filter(|s| !summary.read_failures.contains(s)).filter(|s| only.is_none_or(|o| o.contains(s)));
        for store in synced {
            batch.push(WriteOp::RecordHealth { store: store.clone(), event: HealthEvent::SyncSucceeded { at: now } });
        }
        if !batch.ops.is_empty() {
            self.inner.store.commit(batch).await?;
        }
        Ok(())
    }

    /// The pushes queued or in flight to `stores` (dead letters aside).
    async fn waiting_pushes(&self, stores: &[StoreId]) -> Result<usize> {
        let items = self.inner.store.outbox(&OutboxFilter::default()).await?;
        Ok(items.iter().filter(|i| i.state != OutboxState::Dead && stores.contains(&i.push.store)).count())
    }

    /// Whether nothing is left to push to `stores`, dead letters and held stores aside.
    async fn outbox_settled(&self, stores: &[StoreId]) -> Result<bool> {
        let held: HashSet<StoreId> = {
            let guard = self.state().await?;
            if guard.as_ref().is_some_and(|s| s.hold.is_some()) {
                // Every push is held for want of the source of truth.
                return Ok(true);
            }
            guard
                .as_ref()
                .map(|s| s.connections.values().filter(|c| !c.pushes_allowed()).map(|c| c.store.clone()).collect())
                .unwrap_or_default()
        };
        Ok(self.inner.store.outbox(&OutboxFilter::default()).await?.iter().all(|i| {
            i.state == OutboxState::Dead
                || !stores.contains(&i.push.store)
                || held.contains(&i.push.store)
                || self.channel(&i.push.store).is_none()
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
        Ok(ReadMarks { at: self.inner.clock.now(), busy, versions })
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
        let state = loaded(&mut guard)?;
        match self.take_in_locked(state, read, before, only, summary).await {
            Ok(queued) => Ok(queued),
            Err(e) => {
                // The cached rows were changed ahead of the commits: start again from what is stored.
                self.reload_state(state).await?;
                Err(e)
            }
        }
    }

    /// Take the reads in under the state's lock. The steps: find the listings whose read may be older
    /// than the model, merge the reads into the rows (`State::merge_reads`) and commit them, rebuild the
    /// reconciler, queue the full plan and commit it.
    async fn take_in_locked(
        &self,
        state: &mut State,
        read: HashMap<StoreId, Vec<Listing>>,
        before: &ReadMarks,
        only: Option<&[StoreId]>,
        summary: &mut SyncSummary,
    ) -> Result<usize> {
        let now = self.inner.clock.now();
        let busy = self.busy_during_read(state, before).await?;
        state.global_owners = self.global_owners(state, &read).await?;
        let mut batch = WriteBatch::new();
        summary.source_changes += state.merge_reads(&read, &busy, now, &mut batch);
        self.inner.store.commit(batch).await?;
        state.rebuild()?;
        self.refresh_capabilities(state);
        // Sales held for a listing not linked until now count before the plan (which then shows them).
        self.resolve_held_after_read(state, before.at).await?;
        let mut batch = WriteBatch::new();
        let queued = state.queue_full_plan(only, now, &mut batch);
        if !batch.ops.is_empty() {
            self.inner.store.commit(batch).await?;
        }
        Ok(queued)
    }

    /// The companies owning each SKU read from a global store, mapped through the store's `sku_rules` (a
    /// global store's listing is linked in a company only when that company alone owns its SKU).
    async fn global_owners(
        &self,
        state: &State,
        read: &HashMap<StoreId, Vec<Listing>>,
    ) -> Result<BTreeMap<Sku, Vec<CompanyId>>> {
        let skus: BTreeSet<Sku> = read
            .iter()
            .filter(|(store, _)| state.is_global(store))
            .flat_map(|(store, listings)| {
                let rules = state.sku_rules_of(store);
                listings.iter().filter_map(move |l| global_listing_sku(l, &rules))
            })
            .collect();
        if skus.is_empty() {
            return Ok(BTreeMap::new());
        }
        Ok(self.inner.store.sku_owners(&skus.into_iter().collect::<Vec<_>>()).await?)
    }

    /// Listings with a push queued or in flight now, or when the read began (a push that landed while the
    /// stores were read is in neither the read nor the outbox any more), or whose row changed while they
    /// were read (an order moved the source's model): what was read there may be older than the model.
    async fn busy_during_read(&self, state: &State, before: &ReadMarks) -> Result<HashSet<(StoreId, ListingId)>> {
        let mut busy = self.listings_in_outbox(None).await?;
        busy.extend(before.busy.iter().cloned());
        busy.extend(state.changed_since(&before.versions));
        Ok(busy)
    }
}
