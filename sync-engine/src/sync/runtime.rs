//! The [`SyncEngine`]: its configuration, its in-memory state and how that state is rebuilt from the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use channel_core::reconcile::SyncMode as PlanSyncMode;
use channel_core::{
    Catalog, Channel, Component, Fulfilment, Listing, ListingId, PlanInput, Product, Reconciler, Sku, SourceOfTruth,
    Stock, StoreId, StoreInput,
};
use jiff::Timestamp;
use jiff::civil::Time;
use tokio::sync::{Mutex, MutexGuard, watch};

use crate::clock::{Clock, SystemClock};
use crate::store::{
    AuditEntry, ConnectionFilter, ConnectionRecord, ConnectionState, ListingFilter, ListingRecord, OutboxFilter,
    OutboxPush, OutboxState, ProductRecord, PushAction, SyncMode, WriteBatch, WriteOp,
};
use crate::{Error, Result, Store};

/// What a cancellation or a return gives back to stock, per store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestockPolicy {
    /// A cancelled line's units go back to stock.
    pub cancellations: bool,
    /// Returned (refunded) units go back to stock.
    pub returns: bool,
}

impl RestockPolicy {
    /// Restock cancellations and returns.
    pub const fn all() -> Self {
        Self { cancellations: true, returns: true }
    }

    /// Restock neither (the seller counts returns back in by hand).
    pub const fn none() -> Self {
        Self { cancellations: false, returns: false }
    }

    /// Restock cancellations only (returned goods are inspected first).
    pub const fn cancellations_only() -> Self {
        Self { cancellations: true, returns: false }
    }
}

impl Default for RestockPolicy {
    /// Cancellations restock; returns do not (they are inspected and counted back in by hand).
    fn default() -> Self {
        Self::cancellations_only()
    }
}

/// How the engine runs. Built with [`SyncConfig::default`] and adjusted field by field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncConfig {
    /// This worker's name (outbox claims and store leases carry it).
    pub worker: String,
    /// How often live stores are polled for orders, as a fallback to webhooks.
    pub poll_interval: Duration,
    /// When (UTC) the daily full reconcile runs, for daily and live stores.
    pub daily_at: Time,
    /// How often the scheduler wakes up to look at what is due.
    pub tick: Duration,
    /// The most outbox items claimed at once.
    pub outbox_claim: usize,
    /// How long a claim lasts before another worker may take the item over (after a crash, the pushes the
    /// dead process had claimed wait this long).
    pub lease: Duration,
    /// Attempts before an item that keeps failing retryably is dead-lettered.
    pub max_attempts: u32,
    /// The first retry delay; it doubles per attempt up to [`SyncConfig::max_backoff`].
    pub base_backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
    /// How long pushes to a store that needs re-authentication are put off.
    pub reauth_hold: Duration,
    /// Restock policies per store; stores not listed use [`SyncConfig::default_restock`].
    pub restock: HashMap<StoreId, RestockPolicy>,
    /// The policy of stores not in [`SyncConfig::restock`].
    pub default_restock: RestockPolicy,
    /// How far back the first order poll of a store reaches.
    pub first_poll_lookback: Duration,
    /// How often listings queued for a re-read are re-read, one listing read per store for all of them:
    /// listings a webhook said changed without saying their quantity (Takealot "Offer Updated"), and the
    /// on-hand listings of a delta-moved source, whose inventory webhooks are snapshots in the platform's
    /// order and are verified by a re-read rather than taken in (docs/sync.md, "Delta pushes to the
    /// source"). Also how long such a source's model must have been still before a re-read of it is taken
    /// in: a sale whose order is not imported yet would otherwise count twice. (A rise reported on another
    /// store is not re-read: the quantity pushed last is sent again, see docs/sync.md, "Echoes and external
    /// changes".)
    pub refresh_interval: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            worker: format!("stocksync-{}", uuid::Uuid::new_v4().simple()),
            poll_interval: Duration::from_secs(180),
            daily_at: Time::constant(2, 0, 0, 0),
            tick: Duration::from_secs(1),
            outbox_claim: 1000,
            lease: Duration::from_secs(30),
            max_attempts: 12,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
            reauth_hold: Duration::from_secs(300),
            restock: HashMap::new(),
            default_restock: RestockPolicy::default(),
            first_poll_lookback: Duration::from_secs(24 * 3600),
            refresh_interval: Duration::from_secs(15),
        }
    }
}

impl SyncConfig {
    /// The restock policy of a store.
    pub fn restock_for(&self, store: &StoreId) -> RestockPolicy {
        self.restock.get(store).copied().unwrap_or(self.default_restock)
    }

    /// The retry delay after `attempts` attempts.
    pub(crate) fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        self.base_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Builds a [`SyncEngine`].
pub struct SyncEngineBuilder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channels: HashMap<StoreId, Arc<dyn Channel>>,
    config: SyncConfig,
}

impl fmt::Debug for SyncEngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncEngineBuilder")
            .field("store", &self.store)
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SyncEngineBuilder {
    /// The clock (the system clock by default).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The channel of a store.
    #[must_use]
    pub fn channel(mut self, store: StoreId, channel: Arc<dyn Channel>) -> Self {
        self.channels.insert(store, channel);
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(mut self, config: SyncConfig) -> Self {
        self.config = config;
        self
    }

    /// Build the engine and load its state from the store: the catalog, the connections, the listings,
    /// and a full plan whose updates are queued again (so pushes lost to a crash are redone).
    pub async fn build(self) -> Result<SyncEngine> {
        let engine = SyncEngine {
            inner: Arc::new(Inner {
                store: self.store,
                clock: self.clock,
                channels: RwLock::new(self.channels),
                config: self.config,
                state: Mutex::new(None),
                outbox_wake: OutboxWake::default(),
                dirty: std::sync::Mutex::new(HashMap::new()),
            }),
        };
        engine.reload().await?;
        Ok(engine)
    }
}

/// The sync runtime. Cheap to clone (it is a handle); see the [module docs](super).
#[derive(Clone)]
pub struct SyncEngine {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncEngine")
            .field("store", &self.inner.store)
            .field("worker", &self.inner.config.worker)
            .finish()
    }
}

/// A broadcast wake-up for the outbox lanes (one per store): each lane holds its own receiver, so a wake
/// given while a lane is busy pushing is seen when it next waits, and no lane takes another's wake.
pub(super) struct OutboxWake {
    tx: watch::Sender<u64>,
}

impl Default for OutboxWake {
    fn default() -> Self {
        Self { tx: watch::Sender::new(0) }
    }
}

impl OutboxWake {
    /// Wake every lane (pushes were queued).
    pub(super) fn wake_all(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees the wakes given from now on.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

pub(super) struct Inner {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) channels: RwLock<HashMap<StoreId, Arc<dyn Channel>>>,
    pub(super) config: SyncConfig,
    /// `None` only while the first load runs.
    pub(super) state: Mutex<Option<State>>,
    /// Wakes every store's outbox lane when pushes are queued.
    pub(super) outbox_wake: OutboxWake,
    /// Listings a webhook said changed, to re-read at the next refresh.
    pub(super) dirty: std::sync::Mutex<HashMap<StoreId, HashSet<ListingId>>>,
}

/// What the engine keeps in memory, rebuilt from the store by [`SyncEngine::reload`]. Every write to the
/// store that changes it happens while its lock is held, so the cached row versions stay current.
pub(super) struct State {
    pub(super) reconciler: Reconciler,
    pub(super) source: Option<StoreId>,
    pub(super) connections: HashMap<StoreId, ConnectionRecord>,
    pub(super) products: HashMap<Sku, ProductRecord>,
    pub(super) listings: HashMap<(StoreId, ListingId), ListingRecord>,
    /// (store, channel SKU) → listing, for order lines that name no listing.
    pub(super) by_channel_sku: HashMap<(StoreId, String), ListingId>,
    /// Simple SKU → the source store's listing that holds its on-hand quantity.
    pub(super) source_listing: HashMap<Sku, ListingId>,
    /// Listings the reconciler knows (tracked, no unresolved SKU change).
    pub(super) planned: HashSet<(StoreId, ListingId)>,
    /// What each listing is believed to show on its channel now (the compare-and-set expectation).
    pub(super) shown: HashMap<(StoreId, ListingId), i64>,
    /// On hand per simple SKU when the source is external (the ledger balance).
    pub(super) external_on_hand: HashMap<Sku, i64>,
    /// Stores whose channel honours compare-and-set.
    pub(super) cas_stores: HashSet<StoreId>,
    /// Stores whose channel takes deltas and applies a keyed one at most once
    /// ([`channel_core::Capabilities::delta_adjust`] and `idempotent_writes`): a source among them is moved
    /// by deltas, not absolute sets (see [`State::move_on_hand`]).
    pub(super) delta_stores: HashSet<StoreId>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("source", &self.source)
            .field("stores", &self.connections.len())
            .field("listings", &self.listings.len())
            .finish_non_exhaustive()
    }
}

/// One update of a plan, owned (so the reconciler can be changed while it is queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Planned {
    pub(super) store: StoreId,
    pub(super) listing: ListingId,
    pub(super) sku: Sku,
    pub(super) from: i64,
    pub(super) to: i64,
}

/// The updates of a plan, owned.
pub(super) fn owned_updates(plan: channel_core::Plan<'_>) -> Vec<Planned> {
    plan.updates
        .into_iter()
        .map(|u| Planned {
            store: u.store.into_owned(),
            listing: u.listing.into_owned(),
            sku: u.sku.into_owned(),
            from: u.from,
            to: u.to,
        })
        .collect()
}

/// The quantity the engine works with for a listing: what it pushed last when that is newer than what it
/// read last, else what it read.
pub(super) fn model_quantity(record: &ListingRecord) -> Option<i64> {
    match (record.pushed_quantity, record.pushed_at, record.seen_at) {
        (Some(q), Some(p), Some(s)) if p >= s => Some(q),
        (Some(q), Some(_), None) => Some(q),
        _ => record.seen_quantity,
    }
}

/// The store whose sale or change the movement just recorded in `batch` is, when it is the movement of
/// `delta` units of `sku` (the caller records the ledger movement, then moves the on hand).
fn recorded_origin(batch: &WriteBatch, sku: &Sku, delta: i64) -> Option<StoreId> {
    match batch.ops.last() {
        Some(WriteOp::RecordMovement(m)) if &m.sku == sku && m.delta == delta => m.store.clone(),
        _ => None,
    }
}

fn plan_sync_mode(mode: SyncMode) -> PlanSyncMode {
    match mode {
        SyncMode::Live => PlanSyncMode::Live,
        SyncMode::Daily => PlanSyncMode::Daily,
        SyncMode::Disabled => PlanSyncMode::Disabled,
    }
}

impl State {
    /// Build the state from the store's rows.
    pub(super) async fn load(store: &dyn Store) -> Result<Self> {
        let connections: HashMap<StoreId, ConnectionRecord> = store
            .connections(&ConnectionFilter::all())
            .await?
            .into_iter()
            .filter(|c| c.state == ConnectionState::Connected)
            .map(|c| (c.store.clone(), c))
            .collect();
        let products: HashMap<Sku, ProductRecord> =
            store.products().await?.into_iter().map(|p| (p.sku.clone(), p)).collect();
        let mut listings = HashMap::new();
        let mut ids: Vec<&StoreId> = connections.keys().collect();
        ids.sort();
        for id in ids {
            for record in store.listings(&ListingFilter::store(id.clone())).await? {
                listings.insert((record.store.clone(), record.listing.clone()), record);
            }
        }
        let source = connections.values().find(|c| c.source_of_truth).map(|c| c.store.clone());
        let mut external_on_hand = HashMap::new();
        if source.is_none() {
            for p in products.values().filter(|p| !p.is_bundle()) {
                external_on_hand.insert(p.sku.clone(), store.ledger_balance(&p.sku).await?);
            }
        }
        let mut state = Self {
            reconciler: Reconciler::new(PlanInput::new(Catalog::lenient(Vec::new()), SourceOfTruth::External(vec![])))
                .map_err(|e| Error::Invalid(e.to_string()))?,
            source,
            connections,
            products,
            listings,
            by_channel_sku: HashMap::new(),
            source_listing: HashMap::new(),
            planned: HashSet::new(),
            shown: HashMap::new(),
            external_on_hand,
            cas_stores: HashSet::new(),
            delta_stores: HashSet::new(),
        };
        state.rebuild()?;
        Ok(state)
    }

    /// Rebuild the reconciler and the indexes from the cached rows.
    pub(super) fn rebuild(&mut self) -> Result<()> {
        let mut products: Vec<&ProductRecord> = self.products.values().collect();
        products.sort_by(|a, b| a.sku.cmp(&b.sku));
        let catalog = Catalog::lenient(
            products
                .into_iter()
                .map(|p| {
                    if p.is_bundle() {
                        Product::bundle(
                            p.sku.clone(),
                            p.components.iter().map(|c| Component::new(c.sku.clone(), i64::from(c.quantity))).collect(),
                        )
                    } else {
                        Product::simple(p.sku.clone())
                    }
                })
                .collect(),
        );
        let mut store_ids: Vec<&StoreId> = self.connections.keys().collect();
        store_ids.sort();
        let mut by_store: BTreeMap<&StoreId, Vec<&ListingRecord>> = BTreeMap::new();
        for record in self.listings.values() {
            by_store.entry(&record.store).or_default().push(record);
        }
        self.by_channel_sku.clear();
        self.source_listing.clear();
        self.planned.clear();
        self.shown.clear();
        let mut stores = Vec::with_capacity(store_ids.len());
        for id in store_ids {
            let connection = &self.connections[id];
            let mut records = by_store.remove(id).unwrap_or_default();
            records.sort_by(|a, b| a.listing.cmp(&b.listing));
            let mut plan_listings = Vec::with_capacity(records.len());
            for record in records {
                // A channel SKU on a merchant listing and a channel-held one (Takealot leadtime and DC
                // offers share it): an order line naming only the SKU is the merchant listing's.
                let key = (id.clone(), record.channel_sku.clone());
                if record.fulfilment == Fulfilment::Merchant || !self.by_channel_sku.contains_key(&key) {
                    self.by_channel_sku.insert(key, record.listing.clone());
                }
                if record.sku_change.is_some() {
                    continue;
                }
                let quantity = model_quantity(record);
                let stock = quantity.map_or(Stock::Untracked, |quantity| Stock::Tracked { quantity });
                let name = record.sku.as_ref().map_or(record.channel_sku.as_str(), Sku::as_str);
                let mut listing = Listing::new(record.listing.clone(), name, 0)
                    .with_stock(stock)
                    .with_fulfilment(record.fulfilment)
                    .with_status(record.status);
                listing.sku = record.sku.clone();
                plan_listings.push(listing);
                if let Some(q) = quantity {
                    let key = (id.clone(), record.listing.clone());
                    self.shown.insert(key.clone(), q);
                    self.planned.insert(key);
                    if self.source.as_ref() == Some(id)
                        && record.fulfilment == Fulfilment::Merchant
                        && let Some(sku) = &record.sku
                        && self.products.get(sku).is_some_and(|p| !p.is_bundle())
                    {
                        self.source_listing.entry(sku.clone()).or_insert_with(|| record.listing.clone());
                    }
                }
            }
            stores.push(
                StoreInput::new(id.clone(), connection.channel)
                    .with_sync(plan_sync_mode(connection.sync_mode))
                    .with_listings(plan_listings),
            );
        }
        let source = match &self.source {
            Some(id) => SourceOfTruth::Store(id.clone()),
            None => SourceOfTruth::External(self.external_on_hand.iter().map(|(k, v)| (k.clone(), *v)).collect()),
        };
        let mut input = PlanInput::new(catalog, source);
        input.stores = stores;
        self.reconciler = Reconciler::new(input).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(())
    }

    /// The connection of a store, if connected.
    pub(super) fn connection(&self, store: &StoreId) -> Option<&ConnectionRecord> {
        self.connections.get(store)
    }

    /// The catalog SKU an order line or webhook names: through its listing, else its channel SKU.
    pub(super) fn resolve_sku(
        &self,
        store: &StoreId,
        listing: Option<&ListingId>,
        channel_sku: &str,
    ) -> Option<(Sku, Option<ListingId>)> {
        let listing_id = listing
            .filter(|l| self.listings.contains_key(&(store.clone(), (*l).clone())))
            .cloned()
            .or_else(|| self.by_channel_sku.get(&(store.clone(), channel_sku.to_owned())).cloned());
        if let Some(id) = &listing_id
            && let Some(record) = self.listings.get(&(store.clone(), id.clone()))
        {
            if record.sku_change.is_some() {
                return None;
            }
            if let Some(sku) = &record.sku {
                return Some((sku.clone(), listing_id));
            }
        }
        let sku = Sku::new(channel_sku).ok()?;
        self.products.contains_key(&sku).then_some((sku, listing_id))
    }

    /// A product's simple components with their multiplicities (itself for a simple product).
    pub(super) fn components(&self, sku: &Sku) -> Vec<(Sku, u64)> {
        let catalog = self.reconciler.catalog();
        let Some(p) = catalog.get(sku.as_str()) else { return Vec::new() };
        if !catalog.is_bundle(p) {
            return vec![(sku.clone(), 1)];
        }
        catalog
            .flattened(p)
            .map_or_else(Vec::new, |flat| flat.iter().map(|&(c, m)| (catalog.sku(c).clone(), m)).collect())
    }

    /// The on-hand quantity of a simple SKU as the engine knows it.
    pub(super) fn on_hand(&self, sku: &Sku) -> Option<i64> {
        self.reconciler.on_hand(sku.as_str())
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
    pub(super) fn move_on_hand(
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
    pub(super) fn pushes_deltas(&self, store: &StoreId) -> bool {
        self.delta_stores.contains(store)
    }

    /// Move the source's on-hand listing by `delta`: its model quantity (the row, `pushed_quantity` now
    /// meaning "what the source shows once every queued delta has landed") and, when `push`, a
    /// [`PushAction::AdjustStock`] in the outbox. Without a push (the change was made on the source itself,
    /// which already shows it) only the model moves; the platform's own inventory webhook then matches the
    /// model and is recognised as an echo.
    #[expect(clippy::too_many_arguments, reason = "the same inputs as set_source_quantity, plus the delta's fate")]
    pub(super) fn move_source_by(
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
    pub(super) fn set_source_quantity(
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
    pub(super) fn cas_expected(&self, store: &StoreId, listing: &ListingId) -> Option<i64> {
        if self.cas_stores.contains(store) { self.shown.get(&(store.clone(), listing.clone())).copied() } else { None }
    }

    /// Queue the updates of a (re-)plan: one outbox push per update, the reconciler told that each listing
    /// will show its target. Updates to the source store's on-hand listings are written with their model
    /// quantity. Returns how many pushes were queued.
    pub(super) fn enqueue_updates(
        &mut self,
        updates: &[Planned],
        now: Timestamp,
        reason: &str,
        audit: bool,
        batch: &mut WriteBatch,
    ) -> usize {
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

impl SyncEngine {
    /// Start building an engine over `store`.
    pub fn builder(store: Arc<dyn Store>) -> SyncEngineBuilder {
        SyncEngineBuilder {
            store,
            clock: Arc::new(SystemClock),
            channels: HashMap::new(),
            config: SyncConfig::default(),
        }
    }

    /// The listings with a push queued or in flight (dead letters aside), of `store` or of every store.
    pub(super) async fn listings_in_outbox(&self, store: Option<&StoreId>) -> Result<HashSet<(StoreId, ListingId)>> {
        let filter = OutboxFilter { store: store.cloned(), ..OutboxFilter::default() };
        Ok(self
            .inner
            .store
            .outbox(&filter)
            .await?
            .into_iter()
            .filter(|i| i.state != OutboxState::Dead)
            .map(|i| (i.push.store, i.push.listing))
            .collect())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.inner.config
    }

    /// Add or replace the channel of a store (after a connection is added or its credentials change).
    /// Call [`SyncEngine::reload`] afterwards to take in the store's rows.
    pub fn set_channel(&self, store: StoreId, channel: Arc<dyn Channel>) {
        self.inner.channels.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(store, channel);
    }

    /// The channel of a store.
    pub fn channel(&self, store: &StoreId) -> Option<Arc<dyn Channel>> {
        self.inner.channels.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(store).cloned()
    }

    pub(super) async fn state(&self) -> Result<MutexGuard<'_, Option<State>>> {
        Ok(self.inner.state.lock().await)
    }

    /// Reload everything from the store (connections, catalog, listings), re-plan in full and queue every
    /// update. Queued pushes coalesce with what is already in the outbox, so this is safe at any time; it is
    /// what makes a restart after a crash converge.
    pub async fn reload(&self) -> Result<usize> {
        let mut guard = self.state().await?;
        let mut state = State::load(self.inner.store.as_ref()).await?;
        self.refresh_capabilities(&mut state);
        let now = self.inner.clock.now();
        let updates = owned_updates(state.reconciler.plan());
        let mut batch = WriteBatch::new();
        let queued = state.enqueue_updates(&updates, now, "re-plan after load", false, &mut batch);
        // Source pushes lost in a crash are redone: a source listing whose model differs from what was read.
        self.requeue_source_models(&state, now, &mut batch).await?;
        if !batch.ops.is_empty() {
            self.inner.store.commit(batch).await?;
        }
        *guard = Some(state);
        drop(guard);
        if queued > 0 {
            self.inner.outbox_wake.wake_all();
        }
        Ok(queued)
    }

    async fn requeue_source_models(&self, state: &State, now: Timestamp, batch: &mut WriteBatch) -> Result<()> {
        let Some(source) = &state.source else { return Ok(()) };
        if !state.connections.get(source).is_some_and(ConnectionRecord::pushes_allowed) {
            return Ok(());
        }
        if state.pushes_deltas(source) {
            // A delta source's pushes are queued in the same batch as the model change they carry: none can
            // be lost to a crash, and an absolute set here would overwrite the platform's own sales.
            return Ok(());
        }
        let filter = OutboxFilter { store: Some(source.clone()), ..Default::default() };
        let queued: HashSet<ListingId> = self
            .inner
            .store
            .outbox(&filter)
            .await?
            .into_iter()
            .filter(|i| i.state != OutboxState::Dead)
            .map(|i| i.push.listing)
            .collect();
        for listing in state.source_listing.values() {
            let Some(record) = state.listings.get(&(source.clone(), listing.clone())) else { continue };
            let model = model_quantity(record);
            if let Some(quantity) = model
                && model != record.seen_quantity
                && !queued.contains(listing)
            {
                batch.push(WriteOp::Enqueue {
                    push: OutboxPush::new(
                        source.clone(),
                        listing.clone(),
                        PushAction::SetStock { quantity: quantity.max(0), expected: None },
                        "source on hand after restart",
                    ),
                    now,
                });
            }
        }
        Ok(())
    }

    /// Note which connected stores' channels honour compare-and-set, and which take keyed deltas.
    pub(super) fn refresh_capabilities(&self, state: &mut State) {
        let channels = self.inner.channels.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let with = |test: fn(&channel_core::Capabilities) -> bool| -> HashSet<StoreId> {
            state
                .connections
                .keys()
                .filter(|id| channels.get(*id).is_some_and(|c| test(&c.capabilities())))
                .cloned()
                .collect()
        };
        state.cas_stores = with(|c| c.compare_and_set);
        state.delta_stores = with(|c| c.delta_adjust && c.idempotent_writes);
    }

    /// The quantity the engine works with for a listing (what it pushed or will push, else what it read).
    pub async fn listing_quantity(&self, store: &StoreId, listing: &ListingId) -> Result<Option<i64>> {
        let guard = self.state().await?;
        Ok(guard.as_ref().and_then(|s| s.listings.get(&(store.clone(), listing.clone()))).and_then(model_quantity))
    }

    /// The on-hand quantity of a simple SKU, as the engine knows it.
    pub async fn on_hand(&self, sku: &Sku) -> Result<Option<i64>> {
        let guard = self.state().await?;
        Ok(guard.as_ref().and_then(|s| s.on_hand(sku)))
    }

    /// The availability of a catalog SKU (on hand less pending demand, bundles through their components).
    pub async fn availability(&self, sku: &Sku) -> Result<Option<i64>> {
        let guard = self.state().await?;
        Ok(guard.as_ref().and_then(|s| s.reconciler.availability(sku.as_str())))
    }

    /// The full plan as the engine sees it now (what is still to push, and every diagnostic).
    pub async fn plan(&self) -> Result<channel_core::Plan<'static>> {
        let guard = self.state().await?;
        Ok(guard.as_ref().map(|s| s.reconciler.plan().into_owned()).unwrap_or_default())
    }
}
