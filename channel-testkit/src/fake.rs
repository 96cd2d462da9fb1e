//! An in-memory [`Channel`] for engine tests: no HTTP, no emulator, everything in the test's hands.
//!
//! The emulators in this crate are the platforms' stand-ins for adapter tests. A test of the sync engine
//! needs something smaller: a channel whose listings, orders, failures and account it sets directly, and
//! whose calls it can read back. [`FakeChannel`] is that channel.
//!
//! - **Capabilities** are whatever the test builds it with ([`FakeChannelBuilder::capabilities`] or the
//!   shortcuts), those of [`Capabilities::builder`] (one item at a time, nothing else) plus a by-id read of
//!   100 ids a call by default.
//! - **Listings** live in memory. `set_stock` writes their quantity (honouring
//!   [`StockUpdate::expected`] where compare-and-set is on) and rejects unknown listings per item;
//!   `adjust_stock` moves it by deltas and applies a keyed delta at most once, as Shopify does.
//! - **Sales** ([`FakeChannel::sell`]) decrement the listing's stock, as a platform does, and record the
//!   order `orders_since` returns.
//! - **Faults** ([`Fault`]) queued with [`FakeChannel::push_fault`] fail or reject the next write call.
//! - **Reads by id** ([`Channel::get_listings`]) answer the listings asked for that exist, and are
//!   recorded ([`FakeChannel::get_listings_calls`]) so a test can see what a re-read cost.
//! - **Calls** are recorded: [`FakeChannel::write_calls`] and [`FakeChannel::adjust_calls`].
//! - **Webhooks**: [`FakeChannel::order_webhook`] and [`FakeChannel::inventory_webhook`] build signed
//!   deliveries that [`Channel::verify_webhook`] parses; the signature is the `x-signature` header carrying
//!   the channel's secret.
//! - **Accounts**: a channel built alone always answers as account `fake`. Channels built on a
//!   [`FakePlatform`] sign in with an API key: the platform maps keys to accounts, can revoke an account
//!   (every call then fails with [`ErrorKind::Auth`]), and holds each
//!   store's listings and calls, shared by every channel built for that store. Their webhook secret is
//!   their key.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use channel_core::{Channel, ChannelExt, ChannelKind, StockUpdate};
//! use channel_testkit::fake::FakeChannel;
//!
//! let shop = FakeChannel::builder(ChannelKind::Shopify).max_stock_batch(50).compare_and_set().build();
//! shop.add("1", "MUG", 3);
//! shop.set_stock(&[StockUpdate::new("1", "MUG", 5).expecting(3)]).await.unwrap();
//! assert_eq!(shop.quantity("1"), Some(5));
//! assert_eq!(shop.write_calls().len(), 1);
//! assert_eq!(shop.all_listings().await.unwrap().len(), 1);
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use channel_core::channel::CapabilitiesBuilder;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Error, ErrorKind, Fulfilment, InventoryChange, ItemOutcome,
    Listing, ListingId, Order, OrderCursor, OrderLine, OrderPage, OrderStatus, Result, Stock, StockAdjustment,
    StockUpdate, WebhookEvent, WebhookPayload, WebhookRejection, WebhookRequest,
};
use futures::stream::{self, BoxStream, StreamExt};
use jiff::Timestamp;

/// The header a [`FakeChannel`] webhook delivery is signed with (its value is the channel's secret).
pub const SIGNATURE_HEADER: &str = "x-signature";

/// The webhook secret of a [`FakeChannel`] built without a [`FakePlatform`], unless set.
pub const DEFAULT_SECRET: &str = "s3cret";

/// The account a [`FakeChannel`] built without a [`FakePlatform`] belongs to.
pub const DEFAULT_ACCOUNT: &str = "fake";

/// What a [`FakeChannel`] does with its next write call (`set_stock`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fail the whole call with an error of this kind and message. Nothing is applied.
    Call(ErrorKind, &'static str),
    /// Reject this listing's item in the call (the others are applied).
    Reject {
        /// The listing to reject.
        listing: String,
        /// The reason given.
        reason: String,
        /// Whether the rejection is worth retrying.
        retryable: bool,
    },
}

/// One store's data: what the platform shows and what was asked of it.
#[derive(Debug, Default)]
struct StoreState {
    listings: Vec<Listing>,
    orders: Vec<Order>,
    write_calls: Vec<Vec<StockUpdate>>,
    get_listings_calls: Vec<Vec<ListingId>>,
    adjust_calls: Vec<Vec<StockAdjustment>>,
    faults: VecDeque<Fault>,
}

type SharedStore = Arc<Mutex<StoreState>>;

/// Locks a mutex, carrying on past a panic in another test thread (the data is plain values).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake platform: which account each API key belongs to, which accounts are revoked, and each store's
/// listings and recorded calls, shared by every [`FakeChannel`] built on it with
/// [`FakePlatform::channel`] (as a platform is shared by every client of it).
#[derive(Debug, Default)]
pub struct FakePlatform {
    keys: Mutex<BTreeMap<String, String>>,
    revoked: Mutex<BTreeSet<String>>,
    stores: Mutex<BTreeMap<String, SharedStore>>,
}

impl FakePlatform {
    /// An empty platform: no keys, no stores.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Make `key` a valid API key of `account`. Keys not added are refused with an auth error.
    pub fn add_key(&self, key: &str, account: &str) {
        lock(&self.keys).insert(key.to_owned(), account.to_owned());
    }

    /// Revoke `account`: every call with any of its keys now fails with an auth error.
    pub fn revoke(&self, account: &str) {
        lock(&self.revoked).insert(account.to_owned());
    }

    /// Undo [`FakePlatform::revoke`].
    pub fn restore(&self, account: &str) {
        lock(&self.revoked).remove(account);
    }

    /// Replace the listings `store` shows.
    pub fn set_listings(&self, store: &str, listings: Vec<Listing>) {
        lock(&self.store(store)).listings = listings;
    }

    /// The listings `store` shows now.
    pub fn listings(&self, store: &str) -> Vec<Listing> {
        lock(&self.store(store)).listings.clone()
    }

    /// The `set_stock` calls that reached `store`, in order.
    pub fn write_calls(&self, store: &str) -> Vec<Vec<StockUpdate>> {
        lock(&self.store(store)).write_calls.clone()
    }

    /// A channel of `kind` for `store`, signed in with `key`, with minimal capabilities. Every call checks
    /// the key first; webhooks are signed with the key.
    pub fn channel(self: &Arc<Self>, kind: ChannelKind, store: &str, key: &str) -> FakeChannel {
        FakeChannel::builder(kind).on_platform(self, store, key).build()
    }

    fn store(&self, store: &str) -> SharedStore {
        Arc::clone(lock(&self.stores).entry(store.to_owned()).or_default())
    }

    /// The account `key` signs in to, unless the key is unknown or the account revoked.
    fn account(&self, key: &str) -> Result<String> {
        let account = lock(&self.keys).get(key).cloned();
        match account {
            Some(a) if !lock(&self.revoked).contains(&a) => Ok(a),
            _ => Err(Error::auth("401 Unauthorized").with_status(401)),
        }
    }
}

/// The platform and key a [`FakeChannel`] signs in with.
#[derive(Debug, Clone)]
struct SignIn {
    platform: Arc<FakePlatform>,
    key: String,
}

/// Builds a [`FakeChannel`]; from [`FakeChannel::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeChannelBuilder {
    kind: ChannelKind,
    caps: CapabilitiesBuilder,
    secret: Option<String>,
    sign_in: Option<SignIn>,
    store: Option<SharedStore>,
}

impl FakeChannelBuilder {
    /// Use these capabilities (replacing whatever the shortcuts set so far); the shortcuts after this
    /// change them further.
    pub fn capabilities(mut self, caps: CapabilitiesBuilder) -> Self {
        self.caps = caps;
        self
    }

    /// The most updates one `set_stock` call may carry. A call with more panics: the engine must batch
    /// to the channel's maximum.
    pub fn max_stock_batch(mut self, n: usize) -> Self {
        self.caps = self.caps.max_stock_batch(n);
        self
    }

    /// The listing page size the channel declares.
    pub fn listing_page_size(mut self, n: usize) -> Self {
        self.caps = self.caps.listing_page_size(n);
        self
    }

    /// Declare webhooks (verification works either way).
    pub fn webhooks(mut self) -> Self {
        self.caps = self.caps.webhooks(true);
        self
    }

    /// Honour [`StockUpdate::expected`]: a write expecting another quantity is answered as stale.
    pub fn compare_and_set(mut self) -> Self {
        self.caps = self.caps.compare_and_set(true);
        self
    }

    /// Take deltas (`adjust_stock`) and apply a keyed delta at most once, as Shopify does.
    pub fn keyed_deltas(mut self) -> Self {
        self.caps = self.caps.delta_adjust(true).idempotent_writes(true);
        self
    }

    /// Sign webhook deliveries with this secret (default [`DEFAULT_SECRET`], or the key on a platform).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Serve `store` of `platform`, signed in with `key`: the store's data is the platform's, every call
    /// first checks the key, and webhooks are signed with the key unless [`FakeChannelBuilder::secret`]
    /// says otherwise.
    pub fn on_platform(mut self, platform: &Arc<FakePlatform>, store: &str, key: &str) -> Self {
        self.store = Some(platform.store(store));
        self.sign_in = Some(SignIn { platform: Arc::clone(platform), key: key.to_owned() });
        self
    }

    /// The channel.
    pub fn build(self) -> FakeChannel {
        let secret = match (self.secret, &self.sign_in) {
            (Some(secret), _) => secret,
            (None, Some(sign_in)) => sign_in.key.clone(),
            (None, None) => DEFAULT_SECRET.to_owned(),
        };
        FakeChannel {
            kind: self.kind,
            caps: self.caps.build(),
            secret,
            sign_in: self.sign_in,
            store: self.store.unwrap_or_default(),
        }
    }
}

/// An in-memory [`Channel`] (see the [module documentation](self)). Clones share the listings, orders,
/// faults and recorded calls.
#[derive(Debug, Clone)]
pub struct FakeChannel {
    kind: ChannelKind,
    caps: Capabilities,
    secret: String,
    sign_in: Option<SignIn>,
    store: SharedStore,
}

impl FakeChannel {
    /// A builder for a channel of `kind`, with the capabilities of [`Capabilities::builder`] plus a
    /// by-id read of 100 ids a call ([`Capabilities::listings_by_id_batch`]), and no listings.
    pub fn builder(kind: ChannelKind) -> FakeChannelBuilder {
        FakeChannelBuilder {
            kind,
            caps: Capabilities::builder().listings_by_id_batch(100),
            secret: None,
            sign_in: None,
            store: None,
        }
    }

    fn state(&self) -> MutexGuard<'_, StoreState> {
        lock(&self.store)
    }

    /// The account the channel is signed in to: [`DEFAULT_ACCOUNT`] alone, or the key's account on a
    /// platform (an auth error when the key is unknown or its account revoked).
    fn account(&self) -> Result<String> {
        match &self.sign_in {
            None => Ok(DEFAULT_ACCOUNT.to_owned()),
            Some(s) => s.platform.account(&s.key),
        }
    }

    /// The webhook secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Add a merchant-stock listing.
    pub fn add(&self, id: &str, sku: &str, quantity: i64) {
        self.state().listings.push(Listing::new(id, sku, quantity));
    }

    /// Add a listing whose stock the channel holds (fulfilment [`Fulfilment::Channel`]).
    pub fn add_channel_held(&self, id: &str, sku: &str, quantity: i64) {
        self.state().listings.push(Listing::new(id, sku, quantity).with_fulfilment(Fulfilment::Channel));
    }

    /// Every listing now.
    pub fn listings_now(&self) -> Vec<Listing> {
        self.state().listings.clone()
    }

    /// The quantity listing `id` shows, if it exists and tracks stock.
    pub fn quantity(&self, id: &str) -> Option<i64> {
        self.state().listings.iter().find(|l| l.id.as_str() == id).and_then(Listing::quantity)
    }

    /// Change listing `id`'s stock behind the engine's back (someone editing it in the platform's admin).
    /// Unknown listings are left alone.
    pub fn set_quantity(&self, id: &str, quantity: i64) {
        if let Some(l) = self.state().listings.iter_mut().find(|l| l.id.as_str() == id) {
            l.stock = Stock::Tracked { quantity };
        }
    }

    /// Sell `quantity` of listing `id` in an open order `order_id` updated `at`: the listing's tracked stock
    /// goes down (the platform decrements its own stock) and the order is recorded for `orders_since`.
    ///
    /// # Panics
    /// If there is no listing `id` (a mistake in the test).
    pub fn sell(&self, order_id: &str, id: &str, quantity: u32, at: Timestamp) -> Order {
        let mut s = self.state();
        let Some(listing) = s.listings.iter_mut().find(|l| l.id.as_str() == id) else {
            panic!("FakeChannel::sell: no listing {id}");
        };
        if let Some(q) = listing.quantity() {
            listing.stock = Stock::Tracked { quantity: q - i64::from(quantity) };
        }
        let line = OrderLine::new("1", listing.channel_sku.clone(), quantity).with_listing(id);
        let order = Order::new(order_id, OrderStatus::Open, "open", vec![line], at, at);
        s.orders.push(order.clone());
        order
    }

    /// Every order recorded so far, in the order they were made.
    pub fn orders(&self) -> Vec<Order> {
        self.state().orders.clone()
    }

    /// Queue a fault for the next `set_stock` call (faults apply in the order queued; a [`Fault::Call`]
    /// ends the call, so faults queued after it wait for the next one).
    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// The `set_stock` calls received, in order (calls failed by a [`Fault`] included).
    pub fn write_calls(&self) -> Vec<Vec<StockUpdate>> {
        self.state().write_calls.clone()
    }

    /// The ids each `get_listings` call asked for, in order.
    pub fn get_listings_calls(&self) -> Vec<Vec<ListingId>> {
        self.state().get_listings_calls.clone()
    }

    /// The `adjust_stock` calls received, in order.
    pub fn adjust_calls(&self) -> Vec<Vec<StockAdjustment>> {
        self.state().adjust_calls.clone()
    }

    /// A signed webhook delivery of `order` with delivery id `delivery`.
    pub fn order_webhook(&self, delivery: &str, order: &Order) -> WebhookRequest {
        self.signed(serde_json::json!({"delivery": delivery, "topic": "order", "order": order}))
    }

    /// A signed webhook delivery saying listing `listing` now shows `quantity`.
    pub fn inventory_webhook(&self, delivery: &str, listing: &str, quantity: i64) -> WebhookRequest {
        self.signed(
            serde_json::json!({"delivery": delivery, "topic": "inventory", "listing": listing, "quantity": quantity}),
        )
    }

    fn signed(&self, body: serde_json::Value) -> WebhookRequest {
        WebhookRequest::new(body.to_string()).header(SIGNATURE_HEADER, self.secret.clone())
    }

    /// The per-listing rejections queued before the first call fault, or the call fault itself.
    fn take_faults(state: &mut StoreState) -> Result<HashMap<String, (String, bool)>> {
        let mut rejects = HashMap::new();
        while let Some(fault) = state.faults.pop_front() {
            match fault {
                Fault::Call(kind, message) => return Err(Error::new(kind, message)),
                Fault::Reject { listing, reason, retryable } => {
                    rejects.insert(listing, (reason, retryable));
                }
            }
        }
        Ok(rejects)
    }

    /// Apply one absolute update to the listings.
    fn apply_update(&self, listings: &mut [Listing], u: &StockUpdate) -> ItemOutcome {
        let Some(l) = listings.iter_mut().find(|l| l.id == u.listing) else {
            return ItemOutcome::rejected(u.listing.clone(), "no such listing", false);
        };
        if self.caps.compare_and_set
            && let Some(expected) = u.expected
            && l.quantity() != Some(expected)
        {
            return ItemOutcome::stale(u.listing.clone(), l.quantity());
        }
        l.stock = Stock::Tracked { quantity: u.quantity };
        ItemOutcome::applied(u.listing.clone(), Some(u.quantity))
    }

    /// The delivery's JSON body parsed into an event.
    fn parse_webhook(body: &[u8]) -> std::result::Result<WebhookEvent, WebhookRejection> {
        let malformed = |e: serde_json::Error| WebhookRejection::Malformed(e.to_string());
        let v: serde_json::Value = serde_json::from_slice(body).map_err(malformed)?;
        let delivery = v["delivery"].as_str().map(str::to_owned);
        match v["topic"].as_str() {
            None | Some("ping") => Ok(WebhookEvent::new(delivery, "ping", WebhookPayload::Ping)),
            Some("order") => {
                let order: Order = serde_json::from_value(v["order"].clone()).map_err(malformed)?;
                Ok(WebhookEvent::new(delivery, "order", WebhookPayload::Order(order)))
            }
            Some("inventory") => {
                let listing = v["listing"].as_str().map(ListingId::new);
                let change = InventoryChange::new(listing, None, v["quantity"].as_i64());
                Ok(WebhookEvent::new(delivery, "inventory", WebhookPayload::Inventory(change)))
            }
            Some(other) => Err(WebhookRejection::UnsupportedTopic(other.to_owned())),
        }
    }
}

#[async_trait]
impl Channel for FakeChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let account = self.account()?;
        Ok(AccountIdentity::new(self.kind, account).with_name("Fake shop").with_detail("region", "za"))
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        match self.account() {
            Err(e) => stream::iter([Err(e)]).boxed(),
            Ok(_) => stream::iter(self.listings_now().into_iter().map(Ok)).boxed(),
        }
    }

    /// The listings with these ids that exist, each once, in the store's order; the call is recorded.
    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        self.account()?;
        let mut s = self.state();
        s.get_listings_calls.push(ids.to_vec());
        let mut wanted: BTreeSet<&ListingId> = ids.iter().collect();
        Ok(s.listings.iter().filter(|l| wanted.remove(&l.id)).cloned().collect())
    }

    /// Records the call, then applies the queued faults, then each update.
    ///
    /// # Panics
    /// If the call carries more updates than [`Capabilities::max_stock_batch`]: the engine must batch.
    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        self.account()?;
        assert!(updates.len() <= self.caps.max_stock_batch, "the engine batches to the channel's maximum");
        let mut s = self.state();
        s.write_calls.push(updates.to_vec());
        let rejects = Self::take_faults(&mut s)?;
        let outcomes = updates
            .iter()
            .map(|u| match rejects.get(u.listing.as_str()) {
                Some((reason, retryable)) => ItemOutcome::rejected(u.listing.clone(), reason.clone(), *retryable),
                None => self.apply_update(&mut s.listings, u),
            })
            .collect();
        Ok(outcomes)
    }

    /// Moves each listing by its delta; a delta whose idempotency key was seen before is not applied again
    /// and answers with the quantity now.
    ///
    /// # Panics
    /// If the channel was not built with [`FakeChannelBuilder::keyed_deltas`]: the engine must only send
    /// deltas to channels that take them.
    async fn adjust_stock(&self, adjustments: &[StockAdjustment]) -> Result<Vec<ItemOutcome>> {
        self.account()?;
        assert!(self.caps.delta_adjust, "deltas are sent only to channels that take them");
        let mut s = self.state();
        let seen: BTreeSet<String> =
            s.adjust_calls.iter().flatten().filter_map(|a| a.idempotency_key.clone()).collect();
        s.adjust_calls.push(adjustments.to_vec());
        let mut out = Vec::with_capacity(adjustments.len());
        for a in adjustments {
            let again = a.idempotency_key.as_ref().is_some_and(|k| seen.contains(k));
            match s.listings.iter_mut().find(|l| l.id == a.listing) {
                None => out.push(ItemOutcome::rejected(a.listing.clone(), "no such listing", false)),
                Some(l) => {
                    let now = l.quantity().unwrap_or(0) + if again { 0 } else { a.delta };
                    l.stock = Stock::Tracked { quantity: now };
                    out.push(ItemOutcome::applied(a.listing.clone(), Some(now)));
                }
            }
        }
        Ok(out)
    }

    /// One page: the orders updated at or after the cursor, and a cursor at the latest of them.
    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let page = self.account().map(|_| {
            let orders: Vec<Order> =
                self.state().orders.iter().filter(|o| o.updated_at >= cursor.since).cloned().collect();
            let next = orders.iter().map(|o| o.updated_at).max().unwrap_or(cursor.since);
            OrderPage::new(orders, OrderCursor::new(next))
        });
        stream::iter([page]).boxed()
    }

    /// Checks the `x-signature` header against the secret, then reads the JSON body: topic `order`,
    /// `inventory`, or none / `ping` (a ping); any other topic is unsupported.
    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        match request.header_value(SIGNATURE_HEADER) {
            None => Err(WebhookRejection::Unsigned { header: SIGNATURE_HEADER.into() }),
            Some(s) if s != self.secret => Err(WebhookRejection::BadSignature),
            Some(_) => Self::parse_webhook(request.body()),
        }
    }
}

#[cfg(test)]
mod tests;
