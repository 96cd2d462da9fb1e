//! The rows a [`crate::Store`] keeps.

use std::fmt;

use channel_core::{
    AccountIdentity, ChannelKind, ErrorKind, Fulfilment, ListingId, ListingStatus, Money, OrderId, OrderStatus,
    PlatformIds, Sku, StoreId,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

channel_core::string_id!(
    /// A company (tenant): one seller served by the host. It owns its catalog and SKU namespace, source of
    /// truth, ledger, connections, orders, prices, audit and dead letters; nothing crosses companies.
    CompanyId
);

/// The name [`Scope::Client`] has always used for a company.
pub type ClientId = CompanyId;

impl CompanyId {
    /// The id of the company that connections and databases without one belong to.
    pub const DEFAULT: &'static str = "default";

    /// The default company ([`CompanyId::DEFAULT`]).
    pub fn default_company() -> Self {
        Self::new(Self::DEFAULT)
    }
}

impl Default for CompanyId {
    fn default() -> Self {
        Self::default_company()
    }
}
channel_core::string_id!(
    /// A warehouse a connection draws its stock from.
    WarehouseId
);

/// Who a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "client", rename_all = "snake_case")]
pub enum Scope {
    /// The operator's own account, serving every company: each of its listings belongs to the company that
    /// owns its SKU (see `docs/companies.md`).
    Global,
    /// One company's own (a client connection).
    Client(ClientId),
}

impl Scope {
    /// The company, for a client scope.
    pub fn client(&self) -> Option<&ClientId> {
        match self {
            Self::Global => None,
            Self::Client(c) => Some(c),
        }
    }
}

/// How a store is kept in step: channel-core's [`channel_core::reconcile::SyncMode`], stored under its
/// [`SyncMode::as_str`] name.
pub use channel_core::reconcile::SyncMode;

/// Whether a connection is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Connected: has credentials.
    #[default]
    Connected,
    /// Disconnected: the credentials are deleted, webhooks are rejected; the account binding stays
    /// (Takealot), so a reconnect must use the same account.
    Disconnected,
}

/// Whether the stored credentials work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    /// Not checked yet.
    #[default]
    Unknown,
    /// The last call with them succeeded.
    Valid,
    /// A call failed with an authentication error: nothing is pushed until the credentials are updated.
    NeedsReauth,
}

/// The last error seen on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// Its kind (`auth`, `transient`, …).
    pub kind: String,
    /// Its message (never contains credentials).
    pub message: String,
    /// When it happened.
    pub at: Timestamp,
}

/// A connection's health.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Health {
    /// Whether the credentials work.
    pub credentials: CredentialStatus,
    /// When they last worked.
    pub last_ok_at: Option<Timestamp>,
    /// The last successful sync.
    pub last_sync_at: Option<Timestamp>,
    /// The last error, if any since the last success.
    pub last_error: Option<LastError>,
}

/// A change to a connection's health, applied without a version check (health is written by workers
/// while the seller edits the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthEvent {
    /// A call with the credentials succeeded.
    CredentialsOk {
        /// When.
        at: Timestamp,
    },
    /// A sync finished.
    SyncSucceeded {
        /// When.
        at: Timestamp,
    },
    /// A call failed. An [`ErrorKind::Auth`] error marks the credentials as needing re-authentication.
    Failed {
        /// The error's kind.
        kind: ErrorKind,
        /// Its message.
        message: String,
        /// When.
        at: Timestamp,
    },
}

impl Health {
    /// Apply an event.
    pub fn apply(&mut self, event: &HealthEvent) {
        match event {
            HealthEvent::CredentialsOk { at } => {
                self.credentials = CredentialStatus::Valid;
                self.last_ok_at = Some(*at);
                self.last_error = None;
            }
            HealthEvent::SyncSucceeded { at } => {
                self.last_sync_at = Some(*at);
                self.last_error = None;
                if self.credentials != CredentialStatus::NeedsReauth {
                    self.credentials = CredentialStatus::Valid;
                    self.last_ok_at = Some(*at);
                }
            }
            HealthEvent::Failed { kind, message, at } => {
                if *kind == ErrorKind::Auth {
                    self.credentials = CredentialStatus::NeedsReauth;
                }
                self.last_error = Some(LastError { kind: kind.as_str().to_owned(), message: message.clone(), at: *at });
            }
        }
    }
}

/// Credentials as the store keeps them: sealed (encrypted) by [`crate::CredentialCipher`]. The store never
/// sees them in the clear. `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedCredentials(String);

impl SealedCredentials {
    /// Wrap a sealed value (as produced by [`crate::CredentialCipher::seal`]).
    pub fn from_sealed(sealed: String) -> Self {
        Self(sealed)
    }

    /// The sealed text, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedCredentials(<{} bytes>)", self.0.len())
    }
}

/// One store on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// The store's id (`shopify-main`).
    pub store: StoreId,
    /// Its platform.
    pub channel: ChannelKind,
    /// A human name.
    pub name: String,
    /// Client or global.
    pub scope: Scope,
    /// The warehouse it draws stock from, if any.
    pub warehouse: Option<WarehouseId>,
    /// Non-secret settings for the adapter (base URL, location, marketplace, SKU rules), as JSON.
    pub settings: serde_json::Value,
    /// The sealed credentials (`None` once disconnected).
    pub credentials: Option<SealedCredentials>,
    /// The account the store is bound to (set by the first successful connection test; kept on disconnect).
    pub account: Option<AccountIdentity>,
    /// Live, daily or disabled.
    pub sync_mode: SyncMode,
    /// Whether this store's stock is the truth the others follow.
    pub source_of_truth: bool,
    /// Connected or disconnected.
    pub state: ConnectionState,
    /// Health (written through [`crate::store::WriteOp::RecordHealth`], not versioned).
    pub health: Health,
    /// When it was added.
    pub created_at: Timestamp,
    /// When its configuration last changed.
    pub updated_at: Timestamp,
    /// The row version: 0 for a row not yet stored; writes must carry the version they read.
    pub version: u64,
}

impl ConnectionRecord {
    /// A new connection (version 0), connected, live, not the source of truth.
    pub fn new(store: StoreId, channel: ChannelKind, name: impl Into<String>, scope: Scope, now: Timestamp) -> Self {
        Self {
            store,
            channel,
            name: name.into(),
            scope,
            warehouse: None,
            settings: serde_json::Value::Object(Default::default()),
            credentials: None,
            account: None,
            sync_mode: SyncMode::Live,
            source_of_truth: false,
            state: ConnectionState::Connected,
            health: Health::default(),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether the engine may push to this store now: connected, not disabled, credentials not refused.
    pub fn pushes_allowed(&self) -> bool {
        self.state == ConnectionState::Connected
            && self.sync_mode != SyncMode::Disabled
            && self.health.credentials != CredentialStatus::NeedsReauth
            && self.credentials.is_some()
    }
}

/// Which connections to list. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionFilter {
    /// Only global connections (`Some(Scope::Global)`) or one client's own (`Some(Scope::Client(..))`).
    pub scope: Option<Scope>,
    /// Connections a client can use: its own and the global ones.
    pub client: Option<ClientId>,
    /// Linked to this warehouse.
    pub warehouse: Option<WarehouseId>,
    /// On this platform.
    pub channel: Option<ChannelKind>,
    /// Name or store id containing this text (case-insensitive).
    pub search: Option<String>,
}

impl ConnectionFilter {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether a record passes the filter.
    pub fn matches(&self, c: &ConnectionRecord) -> bool {
        if let Some(scope) = &self.scope
            && &c.scope != scope
        {
            return false;
        }
        if let Some(client) = &self.client
            && !(c.scope == Scope::Global || c.scope.client() == Some(client))
        {
            return false;
        }
        if let Some(w) = &self.warehouse
            && c.warehouse.as_ref() != Some(w)
        {
            return false;
        }
        if let Some(ch) = self.channel
            && c.channel != ch
        {
            return false;
        }
        if let Some(text) = &self.search {
            let needle = text.to_lowercase();
            if !c.name.to_lowercase().contains(&needle) && !c.store.as_str().to_lowercase().contains(&needle) {
                return false;
            }
        }
        true
    }
}

/// One component of a bundle: channel-core's [`channel_core::Component`] (its quantity is checked by
/// [`ProductRecord::invalid_component`]).
pub use channel_core::Component;

/// A product in the catalog: a simple product, or a bundle of components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProductRecord {
    /// Its canonical SKU.
    pub sku: Sku,
    /// A human name, where known.
    pub name: Option<String>,
    /// Components; empty for a simple product.
    pub components: Vec<Component>,
    /// When it was added.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl ProductRecord {
    /// A simple product.
    pub fn simple(sku: Sku, now: Timestamp) -> Self {
        Self { sku, name: None, components: Vec::new(), created_at: now, updated_at: now }
    }

    /// A bundle.
    pub fn bundle(sku: Sku, components: Vec<Component>, now: Timestamp) -> Self {
        Self { sku, name: None, components, created_at: now, updated_at: now }
    }

    /// Whether this is a bundle.
    pub fn is_bundle(&self) -> bool {
        !self.components.is_empty()
    }

    /// The first component whose quantity a store does not keep: below 0 or above `u32::MAX` (the range
    /// stores have always held; 0 is kept and reported by the catalog as an invalid quantity).
    pub fn invalid_component(&self) -> Option<&Component> {
        self.components.iter().find(|c| u32::try_from(c.quantity).is_err())
    }

    /// `Err` ([`StoreError::Invalid`](super::StoreError::Invalid)) when a component quantity is one a store
    /// does not keep ([`ProductRecord::invalid_component`]); every backend refuses such a product.
    pub(crate) fn check_storable(&self) -> Result<(), super::StoreError> {
        match self.invalid_component() {
            Some(c) => Err(super::StoreError::Invalid(format!(
                "bundle {}: component {} has quantity {}, outside 0..={}",
                self.sku,
                c.sku,
                c.quantity,
                u32::MAX
            ))),
            None => Ok(()),
        }
    }
}

/// A SKU change seen on a linked listing: the listing keeps its old link and is not synced until resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuChange {
    /// The channel SKU the listing was linked with.
    pub from: String,
    /// The channel SKU it shows now.
    pub to: String,
    /// When the change was seen.
    pub seen_at: Timestamp,
}

/// A store's listing as the engine remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListingRecord {
    /// The store.
    pub store: StoreId,
    /// The channel's listing id.
    pub listing: ListingId,
    /// The platform's other ids.
    pub ids: PlatformIds,
    /// The SKU as the channel spells it.
    pub channel_sku: String,
    /// The canonical SKU it is linked to (`None`: unlinked).
    pub sku: Option<Sku>,
    /// Who holds the stock.
    pub fulfilment: Fulfilment,
    /// Whether it can sell.
    pub status: ListingStatus,
    /// The quantity last read from the channel (`None`: untracked).
    pub seen_quantity: Option<i64>,
    /// The price last read.
    pub seen_price: Option<Money>,
    /// When it was last read.
    pub seen_at: Option<Timestamp>,
    /// The quantity last pushed.
    pub pushed_quantity: Option<i64>,
    /// The price last pushed.
    pub pushed_price: Option<Money>,
    /// When something was last pushed.
    pub pushed_at: Option<Timestamp>,
    /// An unresolved SKU change: while set, the listing is not synced.
    pub sku_change: Option<SkuChange>,
    /// The row version: 0 for a row not yet stored.
    pub version: u64,
}

impl ListingRecord {
    /// A new, unlinked listing row (version 0).
    pub fn new(store: StoreId, listing: ListingId, channel_sku: impl Into<String>) -> Self {
        Self {
            store,
            listing,
            ids: PlatformIds::new(),
            channel_sku: channel_sku.into(),
            sku: None,
            fulfilment: Fulfilment::Merchant,
            status: ListingStatus::Active,
            seen_quantity: None,
            seen_price: None,
            seen_at: None,
            pushed_quantity: None,
            pushed_price: None,
            pushed_at: None,
            sku_change: None,
            version: 0,
        }
    }

    /// Whether the engine may sync this listing (linked, merchant-held, no unresolved SKU change).
    pub fn is_syncable(&self) -> bool {
        self.sku.is_some() && self.sku_change.is_none() && self.fulfilment == Fulfilment::Merchant
    }
}

/// Which listings to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListingFilter {
    /// Of this store.
    pub store: Option<StoreId>,
    /// Linked to this SKU.
    pub sku: Option<Sku>,
}

impl ListingFilter {
    /// One store's listings.
    pub fn store(store: StoreId) -> Self {
        Self { store: Some(store), sku: None }
    }

    /// The listings linked to a SKU, on every store.
    pub fn sku(sku: Sku) -> Self {
        Self { store: None, sku: Some(sku) }
    }

    /// Whether a record passes.
    pub fn matches(&self, l: &ListingRecord) -> bool {
        self.store.as_ref().is_none_or(|s| &l.store == s) && self.sku.as_ref().is_none_or(|s| l.sku.as_ref() == Some(s))
    }
}

/// Why stock moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MovementCause {
    /// A sale.
    Order,
    /// A cancelled sale restocked.
    Cancellation,
    /// A return restocked.
    Return,
    /// A manual adjustment (counts, replenishment, damage).
    ManualAdjustment,
    /// A correction found by a full reconcile.
    ReconcileCorrection,
}

impl MovementCause {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Cancellation => "cancellation",
            Self::Return => "return",
            Self::ManualAdjustment => "manual_adjustment",
            Self::ReconcileCorrection => "reconcile_correction",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Order, Self::Cancellation, Self::Return, Self::ManualAdjustment, Self::ReconcileCorrection]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A stock movement to record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewMovement {
    /// The SKU whose stock moved.
    pub sku: Sku,
    /// Units added (negative: removed).
    pub delta: i64,
    /// Why.
    pub cause: MovementCause,
    /// The store it came from, if any.
    pub store: Option<StoreId>,
    /// The order, for order causes.
    pub order: Option<OrderId>,
    /// The order line, for order causes.
    pub line: Option<String>,
    /// A note (who adjusted, why).
    pub note: Option<String>,
    /// When.
    pub at: Timestamp,
}

impl NewMovement {
    /// A movement with no store or order.
    pub fn new(sku: Sku, delta: i64, cause: MovementCause, at: Timestamp) -> Self {
        Self { sku, delta, cause, store: None, order: None, line: None, note: None, at }
    }

    /// For an order line (builder style).
    #[must_use]
    pub fn for_line(mut self, store: StoreId, order: OrderId, line: impl Into<String>) -> Self {
        self.store = Some(store);
        self.order = Some(order);
        self.line = Some(line.into());
        self
    }

    /// With a note (builder style).
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// A recorded stock movement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Movement {
    /// Its id, increasing in the order movements were recorded.
    pub id: i64,
    /// What moved.
    pub movement: NewMovement,
}

/// Which ledger entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerFilter {
    /// Of this SKU.
    pub sku: Option<Sku>,
    /// From this store.
    pub store: Option<StoreId>,
    /// With an id greater than this.
    pub after_id: Option<i64>,
    /// At most this many (oldest first); `None`: all.
    pub limit: Option<usize>,
}

impl LedgerFilter {
    /// Whether an entry passes (ignoring the limit).
    pub fn matches(&self, m: &Movement) -> bool {
        self.sku.as_ref().is_none_or(|s| &m.movement.sku == s)
            && self.store.as_ref().is_none_or(|s| m.movement.store.as_ref() == Some(s))
            && self.after_id.is_none_or(|a| m.id > a)
    }
}

/// An imported order line: the unit of exactly-once order import.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderLineRecord {
    /// The store it was sold on.
    pub store: StoreId,
    /// The order.
    pub order: OrderId,
    /// The line.
    pub line: String,
    /// The canonical SKU it was counted against, if linked.
    pub sku: Option<Sku>,
    /// The channel listing the line named, if any (kept so a held line can be resolved later).
    pub listing: Option<ListingId>,
    /// The channel's SKU on the line (empty on lines imported before it was recorded).
    pub channel_sku: String,
    /// A merchant line whose listing or SKU was not linked to the catalog yet: recorded (so it is imported
    /// once) but no stock moved. The engine applies it, once, when a later read links its listing
    /// ([`crate::Store::held_order_lines`] lists them).
    pub held: bool,
    /// Units counted as sold.
    pub quantity: u32,
    /// Units given back so far (cancelled or returned and restocked).
    pub released: u32,
    /// The order status last applied.
    pub status: OrderStatus,
    /// When first imported.
    pub first_seen_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// Row version: 0 means "insert if absent" — a batch carrying it is skipped as a duplicate when the
    /// line is already recorded. Otherwise the stored version must match or the batch fails with a conflict.
    pub version: u64,
}

impl OrderLineRecord {
    /// A newly seen line (version 0).
    pub fn new(
        store: StoreId,
        order: OrderId,
        line: impl Into<String>,
        quantity: u32,
        status: OrderStatus,
        now: Timestamp,
    ) -> Self {
        Self {
            store,
            order,
            line: line.into(),
            sku: None,
            listing: None,
            channel_sku: String::new(),
            held: false,
            quantity,
            released: 0,
            status,
            first_seen_at: now,
            updated_at: now,
            version: 0,
        }
    }
}

/// A webhook delivery, recorded once per (store, delivery id).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryRecord {
    /// The store it was for.
    pub store: StoreId,
    /// The channel's delivery id.
    pub delivery_id: String,
    /// Its topic.
    pub topic: String,
    /// When it arrived.
    pub received_at: Timestamp,
}

impl DeliveryRecord {
    /// A delivery.
    pub fn new(store: StoreId, delivery_id: impl Into<String>, topic: impl Into<String>, at: Timestamp) -> Self {
        Self { store, delivery_id: delivery_id.into(), topic: topic.into(), received_at: at }
    }
}

/// What to push to a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PushAction {
    /// Set merchant stock, optionally only if the channel still shows `expected`.
    SetStock {
        /// The target.
        quantity: i64,
        /// The compare-and-set expectation.
        expected: Option<i64>,
    },
    /// Change merchant stock by a delta.
    AdjustStock {
        /// Units to add.
        delta: i64,
    },
    /// Set the price.
    SetPrice {
        /// The selling price.
        price: Money,
        /// The list price.
        list_price: Option<Money>,
    },
}

/// Outbox items are coalesced per (store, listing, lane): stock writes share a lane, prices have their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// [`PushAction::SetStock`] and [`PushAction::AdjustStock`].
    Stock,
    /// [`PushAction::SetPrice`].
    Price,
}

impl Lane {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stock => "stock",
            Self::Price => "price",
        }
    }
}

impl PushAction {
    /// The coalescing lane.
    pub fn lane(&self) -> Lane {
        match self {
            Self::SetStock { .. } | Self::AdjustStock { .. } => Lane::Stock,
            Self::SetPrice { .. } => Lane::Price,
        }
    }

    /// Merge a newer action into this pending one (same lane): the latest absolute target wins; deltas add
    /// up; a delta after an absolute target moves the target.
    pub fn coalesce(&self, newer: &PushAction) -> PushAction {
        match (self, newer) {
            (Self::AdjustStock { delta: a }, Self::AdjustStock { delta: b }) => Self::AdjustStock { delta: a + b },
            (Self::SetStock { quantity, expected }, Self::AdjustStock { delta }) => {
                Self::SetStock { quantity: (quantity + delta).max(0), expected: *expected }
            }
            (_, newer) => newer.clone(),
        }
    }
}

/// A push to queue in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxPush {
    /// The store to push to.
    pub store: StoreId,
    /// The listing.
    pub listing: ListingId,
    /// What to write.
    pub action: PushAction,
    /// Why (for the audit log).
    pub reason: String,
}

impl OutboxPush {
    /// A push.
    pub fn new(store: StoreId, listing: ListingId, action: PushAction, reason: impl Into<String>) -> Self {
        Self { store, listing, action, reason: reason.into() }
    }
}

/// Where an outbox item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker until its lease ends (then claimable again).
    Claimed,
    /// Given up, with the reason.
    Dead,
}

impl OutboxState {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Dead => "dead",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Claimed, Self::Dead].into_iter().find(|x| x.as_str() == s)
    }
}

/// An outbox item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxItem {
    /// Its id.
    pub id: i64,
    /// What to push.
    pub push: OutboxPush,
    /// Where it stands.
    pub state: OutboxState,
    /// Attempts so far (a claim counts as an attempt).
    pub attempts: u32,
    /// Not to be tried before this.
    pub next_attempt_at: Timestamp,
    /// The worker holding the claim.
    pub claimed_by: Option<String>,
    /// The claim token; completing or failing needs it, so a worker whose lease ran out cannot finish an
    /// item another worker re-claimed.
    pub claim_token: Option<String>,
    /// The claim's end.
    pub lease_until: Option<Timestamp>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A claim of outbox items.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimRequest {
    /// Who claims.
    pub worker: String,
    /// At most this many items.
    pub limit: usize,
    /// Only this store's items.
    pub store: Option<StoreId>,
    /// The claim lasts until then; after it the items can be claimed again.
    pub lease_until: Timestamp,
    /// Now.
    pub now: Timestamp,
}

impl ClaimRequest {
    /// A claim.
    pub fn new(worker: impl Into<String>, limit: usize, now: Timestamp, lease_until: Timestamp) -> Self {
        Self { worker: worker.into(), limit, store: None, lease_until, now }
    }

    /// Only one store's items (builder style).
    #[must_use]
    pub fn for_store(mut self, store: StoreId) -> Self {
        self.store = Some(store);
        self
    }
}

/// How a claimed item ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboxResult {
    /// Pushed: the item is removed.
    Done,
    /// Failed in a way worth retrying at `at` (coalesced into a newer pending item of its lane if any).
    Retry {
        /// Why.
        error: String,
        /// When to try again.
        at: Timestamp,
    },
    /// Failed for good: dead-lettered with the reason.
    Dead {
        /// Why.
        reason: String,
    },
}

/// An entry of the audit log: one change made on a channel (or to a connection).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Its id (0 before it is stored).
    pub id: i64,
    /// The store changed.
    pub store: StoreId,
    /// The listing changed, if any.
    pub listing: Option<ListingId>,
    /// The SKU concerned, if any.
    pub sku: Option<Sku>,
    /// What changed (`quantity`, `price`, `credentials`, `connection`).
    pub field: String,
    /// The old value.
    pub old: Option<String>,
    /// The new value.
    pub new: Option<String>,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

impl AuditEntry {
    /// An entry.
    pub fn new(store: StoreId, field: impl Into<String>, reason: impl Into<String>, at: Timestamp) -> Self {
        Self {
            id: 0,
            store,
            listing: None,
            sku: None,
            field: field.into(),
            old: None,
            new: None,
            reason: reason.into(),
            at,
        }
    }

    /// With old and new values (builder style).
    #[must_use]
    pub fn change(mut self, old: Option<String>, new: Option<String>) -> Self {
        self.old = old;
        self.new = new;
        self
    }

    /// For a listing (builder style).
    #[must_use]
    pub fn on_listing(mut self, listing: ListingId, sku: Option<Sku>) -> Self {
        self.listing = Some(listing);
        self.sku = sku;
        self
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Of this store.
    pub store: Option<StoreId>,
    /// With an id greater than this.
    pub after_id: Option<i64>,
    /// At most this many (oldest first).
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// Whether an entry passes (ignoring the limit).
    pub fn matches(&self, a: &AuditEntry) -> bool {
        self.store.as_ref().is_none_or(|s| &a.store == s) && self.after_id.is_none_or(|x| a.id > x)
    }
}

/// A queued "sync now". It stays queued while a worker runs it (claimed with a lease) and is removed only
/// when the sync finished ([`crate::Store::finish_sync_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncRequest {
    /// The store.
    pub store: StoreId,
    /// Who asked.
    pub requested_by: Option<String>,
    /// When.
    pub requested_at: Timestamp,
    /// The worker running it, while claimed.
    pub claimed_by: Option<String>,
    /// The claim's token (renewing or finishing the request needs it).
    pub claim_token: Option<String>,
    /// The claim's end; after it another worker may take the request over.
    pub lease_until: Option<Timestamp>,
}

impl SyncRequest {
    /// An unclaimed request.
    pub fn new(store: StoreId, requested_by: Option<String>, requested_at: Timestamp) -> Self {
        Self { store, requested_by, requested_at, claimed_by: None, claim_token: None, lease_until: None }
    }
}

/// A company ([`crate::Store::companies`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompanyRecord {
    /// Its id (`acme`).
    pub id: CompanyId,
    /// A human name.
    pub name: String,
    /// The channel the company must be bound to an account of (a seller service binds each company to one
    /// Takealot seller account at creation), if any.
    pub requires: Option<ChannelKind>,
    /// The account of [`CompanyRecord::requires`] the company is bound to: set when the company is created
    /// and kept for good, through disconnects; a connection of that channel in the company must test as
    /// this account.
    pub bound_account: Option<AccountIdentity>,
    /// When it was created.
    pub created_at: Timestamp,
    /// The row version: 0 for a row not yet stored; writes must carry the version they read.
    pub version: u64,
}

impl CompanyRecord {
    /// A new company (version 0), requiring no channel.
    pub fn new(id: CompanyId, name: impl Into<String>, now: Timestamp) -> Self {
        Self { id, name: name.into(), requires: None, bound_account: None, created_at: now, version: 0 }
    }
}

/// Who holds a company's lease ([`crate::Store::company_leases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompanyLease {
    /// The company.
    pub company: CompanyId,
    /// The worker holding it.
    pub holder: String,
    /// Until when.
    pub until: Timestamp,
}

/// A live worker ([`crate::Store::worker_heartbeat`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerRecord {
    /// Its name.
    pub worker: String,
    /// When its last heartbeat runs out.
    pub until: Timestamp,
}

/// A verified webhook delivery recorded by the worker that received it, for the worker holding its
/// company to apply ([`crate::Store::inbox_put`]).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxItem {
    /// Its id (0 before it is stored).
    pub id: i64,
    /// The company that applies it.
    pub company: CompanyId,
    /// The store it was delivered for.
    pub store: StoreId,
    /// The delivery's dedupe key: one item per (company, store, delivery id).
    pub delivery_id: String,
    /// The topic, for logs.
    pub topic: String,
    /// The request as received (method, path, query, headers, body), as JSON: the holder parses it again
    /// with the store's channel. It carries buyers' data: removed once applied, never logged.
    pub request: serde_json::Value,
    /// When it was received.
    pub received_at: Timestamp,
}

impl fmt::Debug for InboxItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxItem")
            .field("id", &self.id)
            .field("company", &self.company)
            .field("store", &self.store)
            .field("delivery_id", &self.delivery_id)
            .field("topic", &self.topic)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// What [`crate::Store::purge_store`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Listings removed.
    pub listings: u64,
    /// Imported order lines removed.
    pub order_lines: u64,
    /// Products removed because no other store listed them.
    pub products: Vec<Sku>,
    /// Ledger movements removed (those of the removed products).
    pub movements: u64,
    /// Outbox items removed.
    pub outbox_items: u64,
}

#[cfg(test)]
mod tests {
    use super::{Component, ProductRecord};
    use channel_core::Sku;

    #[test]
    fn component_quantities_stay_in_the_range_stores_keep() {
        let sku = |s: &str| Sku::new(s).unwrap();
        let now = jiff::Timestamp::UNIX_EPOCH;
        let bundle = |q: i64| ProductRecord::bundle(sku("B"), vec![Component::new(sku("A"), q)], now);
        assert_eq!(bundle(2).invalid_component(), None);
        assert_eq!(bundle(0).invalid_component(), None, "kept; the catalog reports it");
        assert_eq!(bundle(i64::from(u32::MAX)).invalid_component(), None);
        assert_eq!(bundle(-1).invalid_component().map(|c| c.quantity), Some(-1));
        assert_eq!(
            bundle(i64::from(u32::MAX) + 1).invalid_component().map(|c| c.quantity),
            Some(i64::from(u32::MAX) + 1)
        );
        // The stored JSON is what it was with `u32` quantities.
        let json = serde_json::to_string(&bundle(2).components).unwrap();
        assert_eq!(json, r#"[{"sku":"A","quantity":2}]"#);
    }
}
