//! Orders, webhooks and manual adjustments: each becomes ledger movements, a new on-hand quantity and
//! outbox pushes, committed in one batch with its once-only marker.

use channel_core::{
    Fulfilment, InventoryChange, ListingId, Order, OrderCursor, OrderLine, OrderStatus, Sku, StoreId, WebhookEvent,
    WebhookPayload, WebhookRequest,
};
use futures::StreamExt;
use jiff::Timestamp;

use std::collections::{BTreeSet, HashMap, HashSet};

use super::SyncEngine;
use super::runtime::{Planned, State, model_quantity, owned_updates};
use crate::store::{
    AuditEntry, DeliveryRecord, HealthEvent, MovementCause, NewMovement, OrderLineRecord, Precondition, ProductRecord,
    WriteBatch, WriteOp,
};
use crate::{Error, Result};

/// The name of the order cursor kept per store.
pub(super) const ORDER_CURSOR: &str = "orders";

/// Attempts at a write computed from the cached state (an order line, an inventory change, an adjustment)
/// when another worker's commit made the rows it read stale: each failed attempt refreshes those rows.
const WRITE_ATTEMPTS: usize = 8;

/// Whether a failed commit is worth another attempt from refreshed rows.
fn is_stale(e: &Error) -> bool {
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

/// Add preconditions on what the targets of `updates` were computed from and `batch` does not write
/// already: the version of the source's on-hand listing of each component (or, with no store as the
/// source, the component's ledger balance). A worker whose cached on hand is stale then fails with a
/// conflict instead of pushing a target another worker's sale made wrong.
fn guard_plan(state: &State, updates: &[Planned], batch: &mut WriteBatch) {
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

/// What a listing's row was before it was re-read (see [`SyncEngine::refresh_changed_listings`]).
#[derive(Debug, Clone, Copy)]
struct Reread {
    /// The cached row's version.
    version: Option<u64>,
    /// Whether a push to the listing was queued or in flight.
    busy: bool,
}

/// What importing orders did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Order lines seen for the first time.
    pub new_lines: usize,
    /// Known lines whose status changed (cancellations and returns restocked by policy).
    pub updated_lines: usize,
    /// Lines already imported with nothing new: skipped.
    pub duplicates: usize,
    /// Lines whose SKU is not linked to the catalog (recorded, no stock moved).
    pub unknown: usize,
    /// Pushes queued.
    pub pushes: usize,
}

impl IngestReport {
    fn add(&mut self, other: Self) {
        self.new_lines += other.new_lines;
        self.updated_lines += other.updated_lines;
        self.duplicates += other.duplicates;
        self.unknown += other.unknown;
        self.pushes += other.pushes;
    }
}

/// What became of a webhook delivery. [`WebhookOutcome::http_status`] is the answer to give the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// Verified and applied.
    Applied {
        /// The topic.
        topic: String,
        /// What it did to orders (zero for inventory events).
        report: IngestReport,
    },
    /// A delivery already processed (same delivery id): acknowledged, nothing applied.
    Duplicate {
        /// The delivery id.
        delivery_id: String,
    },
    /// Verified but nothing to do (a ping, an echo of the engine's own push, a channel-held listing).
    Ignored {
        /// The topic.
        topic: String,
        /// Why nothing was done.
        reason: String,
    },
    /// Not accepted: nothing applied; the rejection is recorded in the audit log.
    Rejected {
        /// The HTTP status to answer with.
        status: u16,
        /// Why.
        reason: String,
    },
}

impl WebhookOutcome {
    /// The HTTP status to answer the platform with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Applied { .. } | Self::Duplicate { .. } | Self::Ignored { .. } => 200,
            Self::Rejected { status, .. } => *status,
        }
    }
}

/// Units of a line that should be back in stock, by the store's policy and the order's status.
fn released_target(line: &OrderLine, status: OrderStatus, policy: super::RestockPolicy) -> (u32, MovementCause) {
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

impl SyncEngine {
    /// Import an order (from a webhook, a poll or a replay). Each line is applied exactly once: its
    /// order-line marker, ledger movements, the new on-hand quantity and the pushes it causes are one atomic
    /// batch. A known line is applied again only for what changed (a cancellation or return restocked by the
    /// store's [`super::RestockPolicy`]).
    pub async fn ingest_order(&self, store: &StoreId, order: &Order) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        {
            let mut guard = self.state().await?;
            let state = guard.as_mut().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
            if state.connection(store).is_none() {
                return Err(Error::NotFound(format!("connected store {store}")));
            }
            for line in &order.lines {
                let mut attempt = 1;
                loop {
                    match self.ingest_line(state, store, order, line).await {
                        Ok(r) => {
                            report.add(r);
                            break;
                        }
                        // Another worker committed first (the rows read are refreshed): again.
                        Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => {
                            tracing::debug!(%store, order = %order.id, line = %line.line_id, attempt, error = %e,
                                "order line met another writer: again");
                            attempt += 1;
                        }
                        Err(e) => {
                            // The cached rows may no longer match the store: start again from it.
                            self.reload_state(state).await?;
                            return Err(e);
                        }
                    }
                }
            }
        }
        if report.pushes > 0 {
            self.inner.outbox_wake.wake_all();
        }
        Ok(report)
    }

    async fn ingest_line(
        &self,
        state: &mut State,
        store: &StoreId,
        order: &Order,
        line: &OrderLine,
    ) -> Result<IngestReport> {
        let now = self.inner.clock.now();
        let mut report = IngestReport::default();
        let existing = self.inner.store.order_line(store, &order.id, &line.line_id).await?;
        let resolved = state.resolve_sku(store, line.listing.as_ref(), &line.channel_sku);
        let listing_fulfilment = resolved
            .as_ref()
            .and_then(|(_, l)| l.as_ref())
            .and_then(|l| state.listings.get(&(store.clone(), l.clone())))
            .map(|r| r.fulfilment);
        let merchant = line.fulfilment == Fulfilment::Merchant && listing_fulfilment != Some(Fulfilment::Channel);
        let policy = self.inner.config.restock_for(store);
        let (target_released, release_cause) = released_target(line, order.status, policy);
        let mut batch = WriteBatch::new();
        let sku = resolved.as_ref().map(|(s, _)| s.clone());
        // Units whose stock moves now: negative for a sale, positive for a restock.
        let (units, cause, is_new) = match &existing {
            None => {
                let mut record = OrderLineRecord::new(
                    store.clone(),
                    order.id.clone(),
                    &line.line_id,
                    line.quantity,
                    order.status,
                    now,
                );
                record.sku = sku.clone();
                let released = if order.status.releases_stock() { line.quantity } else { target_released };
                record.released = released;
                batch.push(WriteOp::PutOrderLine(record));
                let sold = i64::from(line.quantity)
                    - i64::from(if order.status.releases_stock() { line.quantity } else { released });
                // A line first seen already cancelled never held stock: nothing moves.
                (-sold, MovementCause::Order, true)
            }
            Some(known) => {
                let released = known.released.max(target_released).min(known.quantity);
                if released == known.released && known.status == order.status {
                    report.duplicates += 1;
                    return Ok(report);
                }
                let mut record = known.clone();
                record.released = released;
                record.status = order.status;
                record.updated_at = now;
                batch.push(WriteOp::PutOrderLine(record));
                (i64::from(released - known.released), release_cause, false)
            }
        };
        if is_new {
            report.new_lines += 1;
        } else {
            report.updated_lines += 1;
        }
        let mut touched: Vec<Sku> = Vec::new();
        match (&sku, merchant) {
            (Some(sku), true) if units != 0 => {
                let reason = format!("{} {} on {store}", cause.as_str(), order.id);
                for (component, m) in state.components(sku) {
                    let m = i64::try_from(m).unwrap_or(i64::MAX);
                    let delta = units.saturating_mul(m);
                    let mut movement = NewMovement::new(component.clone(), delta, cause, now).for_line(
                        store.clone(),
                        order.id.clone(),
                        &line.line_id,
                    );
                    if &component != sku {
                        movement = movement.with_note(format!("component of {sku}"));
                    }
                    batch.push(WriteOp::RecordMovement(movement));
                    // Every merchant sale moves the on hand, the source's own included (the source already
                    // shows it; the absolute push of the new on hand then matches and heals any push that
                    // overwrote the sale meanwhile). See docs/sync.md on reads racing sales.
                    touched.extend(state.move_on_hand(&component, delta, now, &reason, &mut batch)?);
                }
            }
            (None, true) => report.unknown += usize::from(is_new),
            _ => {}
        }
        let updates = owned_updates(state.reconciler.replan_skus(touched.iter().map(Sku::as_str)));
        state.enqueue_updates(&updates, now, &format!("order {} on {store}", order.id), false, &mut batch);
        report.pushes = batch.ops.iter().filter(|op| matches!(op, WriteOp::Enqueue { .. })).count();
        guard_plan(state, &updates, &mut batch);
        if !self.commit_cached(state, batch).await? {
            // Another writer recorded the line first: our in-memory changes are undone; the next attempt
            // finds the line and applies only what changed, if anything.
            return Err(Error::conflict(format!("order line {store}/{}/{}", order.id, line.line_id), 0, None));
        }
        Ok(report)
    }

    /// Commit a batch built from (and already applied to) the cached state. When it does not apply (a
    /// stale version, a failed precondition, a once-only row another writer stored first, a store error),
    /// the cached rows it depended on are read again from the store, undoing its in-memory changes and
    /// taking in other workers' writes, so the caller can build it again.
    pub(super) async fn commit_cached(&self, state: &mut State, batch: WriteBatch) -> Result<bool> {
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
    pub(super) async fn refresh_claimed_source_rows(
        &self,
        store: &StoreId,
        items: &[crate::store::OutboxItem],
    ) -> Result<()> {
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
    pub(super) async fn commit_pushed(&self, state: &mut State, mut batch: WriteBatch) -> Result<()> {
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
    pub(super) async fn reload_state(&self, state: &mut State) -> Result<()> {
        *state = State::load(self.inner.store.as_ref()).await?;
        self.refresh_capabilities(state);
        Ok(())
    }

    /// Poll a store's orders from its cursor, import them, and move the cursor page by page.
    pub async fn poll_orders(&self, store: &StoreId) -> Result<IngestReport> {
        let channel = self.channel(store).ok_or_else(|| Error::NotFound(format!("channel of store {store}")))?;
        let now = self.inner.clock.now();
        let since = match self.inner.store.cursor(store, ORDER_CURSOR).await? {
            Some(value) => {
                value.parse::<Timestamp>().map_err(|e| Error::Invalid(format!("order cursor of {store}: {e}")))?
            }
            None => now
                .checked_sub(jiff::SignedDuration::try_from(self.inner.config.first_poll_lookback).unwrap_or_default())
                .unwrap_or(now),
        };
        let cursor = OrderCursor::new(since);
        let mut pages = channel.orders_since(&cursor);
        let mut report = IngestReport::default();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    self.record_failure(store, &e).await;
                    return Err(e.into());
                }
            };
            for order in &page.orders {
                report.add(self.ingest_order(store, order).await?);
            }
            self.inner
                .store
                .commit(
                    WriteOp::SetCursor {
                        store: store.clone(),
                        name: ORDER_CURSOR.into(),
                        value: page.next.since.to_string(),
                    }
                    .into(),
                )
                .await?;
        }
        Ok(report)
    }

    /// Verify, deduplicate and apply a webhook delivery for a store. Rejections are recorded in the audit log
    /// (field `webhook`) with their reason, and nothing is applied.
    pub async fn handle_webhook(&self, store: &StoreId, request: &WebhookRequest) -> WebhookOutcome {
        let now = self.inner.clock.now();
        let Some(channel) = self.channel(store) else {
            return WebhookOutcome::Rejected { status: 404, reason: format!("no store {store}") };
        };
        let connected = {
            match self.state().await {
                Ok(guard) => guard.as_ref().and_then(|s| s.connection(store)).is_some_and(|c| c.credentials.is_some()),
                Err(_) => false,
            }
        };
        let verified = if connected {
            channel.verify_webhook(request).map_err(|r| (r.http_status(), r.to_string()))
        } else {
            Err((403, format!("webhooks are not accepted for store {store}: it is not connected")))
        };
        let event = match verified {
            Ok(event) => event,
            Err((status, reason)) => {
                tracing::warn!(%store, status, %reason, "webhook rejected");
                let entry = AuditEntry::new(store.clone(), "webhook", format!("rejected ({status}): {reason}"), now);
                if let Err(e) = self.inner.store.commit(WriteOp::Audit(entry).into()).await {
                    tracing::error!(%store, error = %e, "could not record a rejected webhook");
                }
                return WebhookOutcome::Rejected { status, reason };
            }
        };
        match self.apply_event(store, &event, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(%store, topic = %event.topic, error = %e, "webhook could not be applied");
                // 503 makes the platform deliver it again; the delivery was not recorded.
                WebhookOutcome::Rejected { status: if e.is_retryable() { 503 } else { 500 }, reason: e.to_string() }
            }
        }
    }

    async fn apply_event(&self, store: &StoreId, event: &WebhookEvent, now: Timestamp) -> Result<WebhookOutcome> {
        if let Some(id) = &event.delivery_id
            && self.inner.store.delivery_seen(store, id).await?
        {
            return Ok(WebhookOutcome::Duplicate { delivery_id: id.clone() });
        }
        let topic = event.topic.clone();
        let outcome = match &event.payload {
            WebhookPayload::Order(order) => {
                let report = self.ingest_order(store, order).await?;
                WebhookOutcome::Applied { topic: topic.clone(), report }
            }
            WebhookPayload::Inventory(change) => self.apply_inventory(store, &topic, change, None).await?,
            WebhookPayload::ListingChanged { listing, .. } => self.reread_listing(store, &topic, listing.as_ref()),
            WebhookPayload::Uninstalled => {
                self.inner
                    .store
                    .commit(
                        WriteOp::RecordHealth {
                            store: store.clone(),
                            event: HealthEvent::Failed {
                                kind: channel_core::ErrorKind::Auth,
                                message: "the app was uninstalled".into(),
                                at: now,
                            },
                        }
                        .into(),
                    )
                    .await?;
                self.reload().await?;
                WebhookOutcome::Applied { topic: topic.clone(), report: IngestReport::default() }
            }
            WebhookPayload::Ping => WebhookOutcome::Ignored { topic: topic.clone(), reason: "ping".into() },
            WebhookPayload::BatchCompleted { .. } => {
                WebhookOutcome::Ignored { topic: topic.clone(), reason: "batch results are read when written".into() }
            }
            _ => WebhookOutcome::Ignored { topic: topic.clone(), reason: "not handled".into() },
        };
        if let Some(id) = &event.delivery_id {
            // Recorded after applying: a crash in between makes the platform deliver again, and the order
            // lines (the unit of exactly-once) are deduplicated on their own.
            self.inner
                .store
                .commit(WriteOp::RecordDelivery(DeliveryRecord::new(store.clone(), id, &topic, now)).into())
                .await?;
        }
        Ok(outcome)
    }

    fn reread_listing(&self, store: &StoreId, topic: &str, listing: Option<&ListingId>) -> WebhookOutcome {
        let Some(listing) = listing else {
            return WebhookOutcome::Ignored {
                topic: topic.into(),
                reason: "no listing named; the next full reconcile reads it".into(),
            };
        };
        self.queue_reread(store, std::iter::once(listing.clone()));
        WebhookOutcome::Ignored { topic: topic.into(), reason: "listing re-read queued".into() }
    }

    /// Queue listings for the next [`SyncEngine::refresh_changed_listings`].
    fn queue_reread(&self, store: &StoreId, listings: impl IntoIterator<Item = ListingId>) {
        self.inner
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(store.clone())
            .or_default()
            .extend(listings);
    }

    /// What the rows of `ids` were before they are re-read: their cached version, and whether a push to
    /// them was queued or in flight.
    async fn reread_marks(&self, store: &StoreId, ids: &HashSet<ListingId>) -> Result<HashMap<ListingId, Reread>> {
        let busy: HashSet<ListingId> =
            self.listings_in_outbox(Some(store)).await?.into_iter().map(|(_, listing)| listing).collect();
        let guard = self.state().await?;
        let Some(state) = guard.as_ref() else { return Ok(HashMap::new()) };
        Ok(ids
            .iter()
            .map(|id| {
                let version = state.listings.get(&(store.clone(), id.clone())).map(|r| r.version);
                (id.clone(), Reread { version, busy: busy.contains(id) })
            })
            .collect())
    }

    /// Re-read the listings webhooks said changed (one listing read per store) and take in their
    /// quantities. A re-read is taken as the truth unless a push to the listing was queued or in flight, or
    /// its row changed, while it was read (the read may predate what the engine did meanwhile): then it is
    /// queued again for the next refresh. Returns how many listings were looked at.
    pub async fn refresh_changed_listings(&self) -> Result<usize> {
        let dirty = std::mem::take(&mut *self.inner.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut seen = 0;
        let mut stores = dirty.into_iter();
        while let Some((store, ids)) = stores.next() {
            let Some(channel) = self.channel(&store) else { continue };
            let result = async {
                let marks = self.reread_marks(&store, &ids).await?;
                let mut stream = channel.listings();
                while let Some(listing) = stream.next().await {
                    let listing = match listing {
                        Ok(l) => l,
                        Err(e) => {
                            self.record_failure(&store, &e).await;
                            return Err(Error::from(e));
                        }
                    };
                    if !ids.contains(&listing.id) {
                        continue;
                    }
                    seen += 1;
                    let change = InventoryChange::new(
                        Some(listing.id.clone()),
                        Some(listing.channel_sku.clone()),
                        listing.quantity(),
                    )
                    .with_fulfilment(listing.fulfilment);
                    let mark = marks.get(&listing.id).copied().unwrap_or(Reread { version: None, busy: true });
                    self.apply_inventory(&store, "listing re-read", &change, Some(mark)).await?;
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                // Nothing is lost: this store's listings and the stores not reached are re-read next time.
                self.queue_reread(&store, ids);
                for (store, ids) in stores {
                    self.queue_reread(&store, ids);
                }
                return Err(e);
            }
        }
        Ok(seen)
    }

    /// A listing's quantity changed on its channel: a webhook's snapshot (`reread` is `None`) or a re-read
    /// of the listing. An echo of the engine's own push is ignored. On the source it is an external change:
    /// taken in as the new on hand (a ledger movement), and the other stores follow. On another store, a
    /// rise is corrected; a fall is recorded and left to the order it usually comes from (or to the daily
    /// reconcile), so a sale whose order has not arrived yet is not undone.
    ///
    /// A snapshot is not always the truth now. A late or repeated webhook can carry an older push of the
    /// engine's own (a rise back to what it showed before its latest push): a rise on another store is not
    /// taken in, the quantity the engine pushed last is sent again instead (a no-op for a late echo, the
    /// correction for a real rise). A delta-moved source's snapshots are taken in the platform's order,
    /// not the model's: they queue a re-read of the listing instead. A re-read is compared with the model
    /// only; when a push to the listing was queued or in flight, or its row changed, while it was read, or
    /// (on a delta-moved source) the model moved less than `refresh_interval` ago, it is queued again.
    async fn apply_inventory(
        &self,
        store: &StoreId,
        topic: &str,
        change: &InventoryChange,
        reread: Option<Reread>,
    ) -> Result<WebhookOutcome> {
        let ignored = |reason: &str| Ok(WebhookOutcome::Ignored { topic: topic.into(), reason: reason.into() });
        if change.fulfilment == Fulfilment::Channel {
            return ignored("channel-held stock");
        }
        let Some(quantity) = change.quantity else { return ignored("no quantity in the payload") };
        let now = self.inner.clock.now();
        let mut pushes;
        let in_flight: HashSet<ListingId> =
            self.listings_in_outbox(Some(store)).await?.into_iter().map(|(_, listing)| listing).collect();
        let mut guard = self.state().await?;
        let state = guard.as_mut().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
        let mut attempt = 1;
        loop {
            let listing =
                change.listing.clone().filter(|l| state.listings.contains_key(&(store.clone(), l.clone()))).or_else(
                    || {
                        change
                            .channel_sku
                            .as_ref()
                            .and_then(|s| state.by_channel_sku.get(&(store.clone(), s.clone())).cloned())
                    },
                );
            let Some(listing) = listing else { return ignored("unknown listing") };
            let key = (store.clone(), listing.clone());
            let Some(record) = state.listings.get(&key).cloned() else { return ignored("unknown listing") };
            if !state.planned.contains(&key) {
                return ignored("listing not synced");
            }
            let old = model_quantity(&record);
            let is_source_on_hand = state.source.as_ref() == Some(store)
                && record.sku.as_ref().and_then(|s| state.source_listing.get(s)) == Some(&listing);
            match reread {
                Some(mark) => {
                    if old == Some(quantity) {
                        return ignored("the listing shows what the engine expects");
                    }
                    if mark.busy || in_flight.contains(&listing) || mark.version != Some(record.version) {
                        // What was read may predate a push or a change the engine made meanwhile.
                        self.queue_reread(store, std::iter::once(listing));
                        return ignored("the listing changed while it was read: re-read again later");
                    }
                    let quiet = jiff::SignedDuration::try_from(self.inner.config.refresh_interval).unwrap_or_default();
                    if is_source_on_hand
                        && state.pushes_deltas(store)
                        && record.pushed_at.is_some_and(|at| now.duration_since(at) < quiet)
                    {
                        // Orders are still coming in: a sale the read shows may be one whose order is yet to be
                        // imported (it would count twice). Read again once the model has been still for a while.
                        self.queue_reread(store, std::iter::once(listing));
                        return ignored("the source's model moved lately: re-read again once it is still");
                    }
                }
                None => {
                    if is_source_on_hand && state.pushes_deltas(store) {
                        if old == Some(quantity) {
                            return ignored("the listing shows what the engine expects");
                        }
                        // Read against a model that queued deltas move, in the platform's order (and what a
                        // delta last reported may since have been changed by hand): the listing says, re-read
                        // once no delta to it is queued or in flight.
                        self.queue_reread(store, std::iter::once(listing));
                        return ignored("a delta-moved source: listing re-read queued");
                    }
                    let shown = state.shown.get(&key).copied();
                    if shown == Some(quantity) || record.pushed_quantity == Some(quantity) || old == Some(quantity) {
                        return ignored("echo of the engine's own push");
                    }
                    if in_flight.contains(&listing) {
                        // A push to this listing is queued or in flight: what the channel shows now is about to
                        // be overwritten, and the push's own echo confirms it.
                        return ignored("a push to this listing is in flight");
                    }
                    if state.source.as_ref() != Some(store)
                        && let (Some(old), Some(sku)) = (old, record.sku.clone())
                        && quantity > old
                    {
                        // A late (or repeated) webhook of an older push of the engine's own looks just like
                        // someone raising the stock. Neither is taken in: the model keeps what the engine
                        // pushed last, and that quantity is sent again, which a late echo's listing already
                        // shows and an external rise needs (on compare-and-set channels the write expects
                        // what the engine pushed, and a real rise is re-planned from the stale answer).
                        let again =
                            Planned { store: store.clone(), listing: listing.clone(), sku, from: quantity, to: old };
                        let mut batch = WriteBatch::new();
                        pushes = state.enqueue_updates(
                            std::slice::from_ref(&again),
                            now,
                            &format!("rise reported on {store} (a late echo of an older push, or an external change): planned quantity sent again"),
                            true,
                            &mut batch,
                        );
                        guard_plan(state, std::slice::from_ref(&again), &mut batch);
                        match self.commit_cached(state, batch).await {
                            Ok(_) => break,
                            Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => {
                                attempt += 1;
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            let mut batch = WriteBatch::new();
            let mut planned = Vec::new();
            pushes = 0;
            let mut updated = record.clone();
            updated.seen_quantity = Some(quantity);
            updated.seen_at = Some(now);
            batch.push(WriteOp::PutListing(updated.clone()));
            updated.version += 1;
            state.listings.insert(key.clone(), updated);
            state.shown.insert(key.clone(), quantity);
            let touched = state
                .reconciler
                .set_listing_quantity(store.as_str(), listing.as_str(), quantity)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            if is_source_on_hand {
                if let (Some(sku), Some(old)) = (&record.sku, old) {
                    batch.push(WriteOp::RecordMovement(
                        NewMovement::new(sku.clone(), quantity - old, MovementCause::ManualAdjustment, now)
                            .with_note(format!("external change on the source {store} ({topic})")),
                    ));
                }
                planned = owned_updates(state.reconciler.replan_skus(touched.iter().map(Sku::as_str)));
                pushes = state.enqueue_updates(
                    &planned,
                    now,
                    &format!("external change on source {store}"),
                    false,
                    &mut batch,
                );
            } else if old.is_some_and(|old| quantity > old) {
                let updates: Vec<_> = owned_updates(state.reconciler.replan_skus(touched.iter().map(Sku::as_str)))
                    .into_iter()
                    .filter(|u| &u.store == store && u.listing == listing)
                    .collect();
                pushes = state.enqueue_updates(
                    &updates,
                    now,
                    &format!("external change on {store} corrected"),
                    true,
                    &mut batch,
                );
                planned = updates;
            }
            guard_plan(state, &planned, &mut batch);
            match self.commit_cached(state, batch).await {
                Ok(_) => break,
                // Another worker changed the listing or the on hand: decide again from the fresh rows.
                Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
        drop(guard);
        if pushes > 0 {
            self.inner.outbox_wake.wake_all();
        }
        Ok(WebhookOutcome::Applied { topic: topic.into(), report: IngestReport { pushes, ..IngestReport::default() } })
    }

    /// Record a manual stock adjustment of a simple SKU (a count, damage, or Takealot DC replenishment taken
    /// from leadtime stock): a ledger movement, the new on hand, and pushes to every store. Returns the
    /// number of pushes queued.
    pub async fn adjust_stock(&self, sku: &Sku, delta: i64, note: &str) -> Result<usize> {
        let now = self.inner.clock.now();
        let pushes = {
            let mut guard = self.state().await?;
            let state = guard.as_mut().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
            if state.products.get(sku).is_none_or(ProductRecord::is_bundle) {
                return Err(Error::Invalid(format!("{sku} is not a simple product of the catalog")));
            }
            if state.source.is_some() && !state.source_listing.contains_key(sku) {
                return Err(Error::Invalid(format!("{sku} is not listed on the source of truth")));
            }
            let reason = format!("manual adjustment: {note}");
            let mut attempt = 1;
            loop {
                let mut batch = WriteBatch::new();
                batch.push(WriteOp::RecordMovement(
                    NewMovement::new(sku.clone(), delta, MovementCause::ManualAdjustment, now).with_note(note),
                ));
                let touched = state.move_on_hand(sku, delta, now, &reason, &mut batch)?;
                let updates = owned_updates(state.reconciler.replan_skus(touched.iter().map(Sku::as_str)));
                let pushes = state.enqueue_updates(&updates, now, &reason, false, &mut batch);
                guard_plan(state, &updates, &mut batch);
                match self.commit_cached(state, batch).await {
                    Ok(_) => break pushes,
                    // Another worker moved the stock meanwhile: the adjustment applies to the fresh on hand.
                    Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => attempt += 1,
                    Err(e) => return Err(e),
                }
            }
        };
        self.inner.outbox_wake.wake_all();
        Ok(pushes)
    }

    /// Record a failed call on a store's health (an auth failure marks it as needing re-authentication,
    /// which stops its pushes).
    pub(super) async fn record_failure(&self, store: &StoreId, error: &channel_core::Error) {
        let event =
            HealthEvent::Failed { kind: error.kind(), message: error.message().to_owned(), at: self.inner.clock.now() };
        if let Err(e) =
            self.inner.store.commit(WriteOp::RecordHealth { store: store.clone(), event: event.clone() }.into()).await
        {
            tracing::error!(%store, error = %e, "could not record a health event");
        }
        if let Ok(mut guard) = self.state().await
            && let Some(state) = guard.as_mut()
            && let Some(c) = state.connections.get_mut(store)
        {
            c.health.apply(&event);
        }
    }
}
