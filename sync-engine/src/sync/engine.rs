//! The [`SyncEngine`] handle and its builder: what it owns, how its cached state is loaded and reloaded
//! from the store, and the read-only queries a host makes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use channel_core::{Channel, ListingId, Sku, StoreId};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Mutex, MutexGuard, watch};

use super::SyncConfig;
use super::live::Mark;
use super::rejections::Rejections;
use super::state::{State, model_quantity, owned_updates};
use crate::clock::{Clock, SystemClock};
use crate::connections::Connections;
use crate::store::{
    ConnectionFilter, ConnectionRecord, ConnectionState, HealthEvent, ListingFilter, OutboxFilter, OutboxPush,
    OutboxState, ProductRecord, PushAction, WriteBatch, WriteOp,
};
use crate::{Error, Result, Store};

/// `wait` after `now` (saturating).
pub(crate) fn after(now: Timestamp, wait: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX)).unwrap_or(now)
}

/// The loaded state behind the engine's lock (it is `None` only while the first load runs).
pub(crate) fn loaded(guard: &mut Option<State>) -> Result<&mut State> {
    guard.as_mut().ok_or_else(|| Error::Invalid("engine not loaded".into()))
}

/// Builds a [`SyncEngine`].
pub struct SyncEngineBuilder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channels: HashMap<StoreId, Arc<dyn Channel>>,
    config: SyncConfig,
    connections: Option<Connections>,
    /// Rejected webhooks counted with a fleet's, when the engine is one of its companies'.
    rejections: Option<Arc<Rejections>>,
}

impl fmt::Debug for SyncEngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncEngineBuilder")
            .field("store", &self.store)
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .field("config", &self.config)
            .field("connections", &self.connections.is_some())
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

    /// Build the stores' channels with this connection manager (over the same store): at
    /// [`SyncEngineBuilder::build`] for every connected store not given a channel with
    /// [`SyncEngineBuilder::channel`], and again whenever a store's connection changes in the store (new
    /// credentials, another configuration, a reconnect, a new connection), as
    /// [`SyncEngine::refresh_connections`] finds. A store that is removed, disconnected or whose channel
    /// cannot be built loses its channel. Without a manager the host builds the channels itself
    /// ([`SyncEngine::set_channel`]).
    #[must_use]
    pub fn connections(mut self, manager: Connections) -> Self {
        self.connections = Some(manager);
        self
    }

    /// Count rejected webhook deliveries in `rejections`, shared with a [`crate::Fleet`] and its other
    /// companies' engines (a store's throttle does not start again when its company's engine starts on this
    /// worker); the engine then audits the aggregated rows of its own stores only.
    #[must_use]
    pub(crate) fn shared_rejections(mut self, rejections: Arc<Rejections>) -> Self {
        self.rejections = Some(rejections);
        self
    }

    /// Build the engine and load its state from the store: the catalog, the connections, the listings,
    /// and a full plan whose updates are queued again (so pushes lost to a crash are redone). With a
    /// connection manager ([`SyncEngineBuilder::connections`]) the channels of connected stores are built
    /// first; a store whose channel cannot be built is logged and has none (its pushes are held).
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
                shared_rejections: self.rejections.is_some(),
                rejections: self.rejections.unwrap_or_default(),
                manager: self.connections,
                seen: std::sync::Mutex::new(HashMap::new()),
                hold_noted: std::sync::Mutex::new(None),
            }),
        };
        engine.open_connections().await?;
        engine.reload().await?;
        Ok(engine)
    }
}

/// The sync runtime. Cheap to clone (it is a handle); see the [module docs](super).
#[derive(Clone)]
pub struct SyncEngine {
    pub(crate) inner: Arc<Inner>,
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
pub(crate) struct OutboxWake {
    tx: watch::Sender<u64>,
}

impl Default for OutboxWake {
    fn default() -> Self {
        Self { tx: watch::Sender::new(0) }
    }
}

impl OutboxWake {
    /// Wake every lane (pushes were queued).
    pub(crate) fn wake_all(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees the wakes given from now on.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) channels: RwLock<HashMap<StoreId, Arc<dyn Channel>>>,
    pub(crate) config: SyncConfig,
    /// `None` only while the first load runs.
    pub(crate) state: Mutex<Option<State>>,
    /// Wakes every store's outbox lane when pushes are queued.
    pub(crate) outbox_wake: OutboxWake,
    /// Listings a webhook said changed, to re-read at the next refresh.
    pub(crate) dirty: std::sync::Mutex<HashMap<StoreId, HashSet<ListingId>>>,
    /// Rejected webhook deliveries per store, for throttling and the aggregated audit.
    pub(crate) rejections: Arc<Rejections>,
    /// Whether `rejections` is shared with a fleet (then only this engine's stores are audited by it).
    pub(crate) shared_rejections: bool,
    /// Builds and rebuilds the stores' channels, when the host gave one.
    pub(crate) manager: Option<Connections>,
    /// What the engine last saw of each store's connection row (see [`SyncEngine::refresh_connections`]).
    pub(crate) seen: std::sync::Mutex<HashMap<StoreId, Mark>>,
    /// The push hold last logged and recorded on the stores' health (see `SyncEngine::note_hold`).
    pub(crate) hold_noted: std::sync::Mutex<Option<String>>,
}

impl SyncEngine {
    /// Start building an engine over `store`.
    pub fn builder(store: Arc<dyn Store>) -> SyncEngineBuilder {
        SyncEngineBuilder {
            store,
            clock: Arc::new(SystemClock),
            channels: HashMap::new(),
            config: SyncConfig::default(),
            connections: None,
            rejections: None,
        }
    }

    /// The listings with a push queued or in flight (dead letters aside), of `store` or of every store.
    pub(crate) async fn listings_in_outbox(&self, store: Option<&StoreId>) -> Result<HashSet<(StoreId, ListingId)>> {
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

    /// Add or replace the channel of a store (after a connection is added or its credentials change), for
    /// hosts that build channels themselves. The running engine takes in the store's rows at its next tick
    /// ([`SyncEngine::refresh_connections`]); call [`SyncEngine::reload`] to take them in at once. (With a
    /// connection manager, [`SyncEngineBuilder::connections`], the engine builds channels itself.)
    pub fn set_channel(&self, store: StoreId, channel: Arc<dyn Channel>) {
        self.inner.channels.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(store, channel);
    }

    /// The channel of a store.
    pub fn channel(&self, store: &StoreId) -> Option<Arc<dyn Channel>> {
        self.inner.channels.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(store).cloned()
    }

    pub(crate) async fn state(&self) -> Result<MutexGuard<'_, Option<State>>> {
        Ok(self.inner.state.lock().await)
    }

    /// Reload everything from the store (connections, catalog, listings), re-plan in full and queue every
    /// update. Queued pushes coalesce with what is already in the outbox, so this is safe at any time; it is
    /// what makes a restart after a crash converge.
    pub async fn reload(&self) -> Result<usize> {
        let mut guard = self.state().await?;
        let mut state = load_state(self.inner.store.as_ref()).await?;
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
        self.note_hold().await;
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

    /// Note which connected stores' channels honour compare-and-set, and which take keyed deltas, and
    /// whether pushes are held for want of a usable source of truth.
    pub(crate) fn refresh_capabilities(&self, state: &mut State) {
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
        // Whether the source of truth can be relied on: without it, pushes are held (never planned from an
        // on hand the engine does not have).
        state.hold = state.source_hold(|id| channels.contains_key(id));
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

    /// Record a failed call on a store's health (an auth failure marks it as needing re-authentication,
    /// which stops its pushes).
    pub(crate) async fn record_failure(&self, store: &StoreId, error: &channel_core::Error) {
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

/// Read the state's rows from the store and build it (see [`State::from_rows`]). A source of truth that
/// is not connected (disconnected, its binding kept) stays the source, with its last known listings: the
/// engine holds pushes rather than plan from an on hand it does not have (see [`State::source_hold`]).
pub(crate) async fn load_state(store: &dyn Store) -> Result<State> {
    let all = store.connections(&ConnectionFilter::all()).await?;
    let offline_source = (!all.iter().any(|c| c.source_of_truth && c.state == ConnectionState::Connected))
        .then(|| all.iter().find(|c| c.source_of_truth).cloned())
        .flatten();
    let connections: HashMap<StoreId, ConnectionRecord> =
        all.into_iter().filter(|c| c.state == ConnectionState::Connected).map(|c| (c.store.clone(), c)).collect();
    let products: HashMap<Sku, ProductRecord> =
        store.products().await?.into_iter().map(|p| (p.sku.clone(), p)).collect();
    let mut listings = HashMap::new();
    let mut ids: Vec<&StoreId> = connections.keys().chain(offline_source.as_ref().map(|c| &c.store)).collect();
    ids.sort();
    for id in ids {
        for record in store.listings(&ListingFilter::store(id.clone())).await? {
            listings.insert((record.store.clone(), record.listing.clone()), record);
        }
    }
    let mut external_on_hand = HashMap::new();
    if offline_source.is_none() && !connections.values().any(|c| c.source_of_truth) {
        for p in products.values().filter(|p| !p.is_bundle()) {
            external_on_hand.insert(p.sku.clone(), store.ledger_balance(&p.sku).await?);
        }
    }
    let mut state = State::from_rows(connections, products, listings, external_on_hand)?;
    state.company = store.company_id().clone();
    if let Some(source) = offline_source {
        state.set_offline_source(source)?;
    }
    Ok(state)
}
