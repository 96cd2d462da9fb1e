//! The [`Channel`] trait every adapter implements, its [`Capabilities`], and the webhook types.

use std::fmt::Debug;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::{
    ChannelKind, Error, ItemOutcome, Listing, ListingId, Order, OrderCursor, OrderPage, PriceUpdate, Result, Shipment,
    StockAdjustment, StockUpdate,
};

/// What a channel can do. The engine checks these instead of calling and catching `Unsupported`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The most stock updates one `set_stock` write call carries (the engine batches to this).
    pub max_stock_batch: usize,
    /// The most price updates one `set_prices` write call carries.
    pub max_price_batch: usize,
    /// The most listings one read call returns.
    pub listing_page_size: usize,
    /// The most listing ids one read call of [`Channel::get_listings`] covers (Takealot's single-offer read:
    /// 1; Shopify's `nodes`: 250); 0 when the channel has no by-id read and `get_listings` walks the
    /// listings. The engine compares `ceil(ids / this)` with the pages of a full read and takes the cheaper,
    /// so a burst of re-reads never costs more calls than reading the catalog.
    pub listings_by_id_batch: usize,
    /// `adjust_stock` is supported (Shopify `inventoryAdjustQuantities`).
    pub delta_adjust: bool,
    /// `set_stock` honours [`StockUpdate::expected`] (Shopify `changeFromQuantity`).
    pub compare_and_set: bool,
    /// Writes carry an idempotency key, so a retried write is applied at most once; in particular a
    /// [`StockAdjustment`] with an [`idempotency_key`](StockAdjustment::idempotency_key) is applied at most
    /// once however often it is sent (the engine pushes deltas only to channels that have this and
    /// [`Capabilities::delta_adjust`]).
    pub idempotent_writes: bool,
    /// The channel delivers signed HTTPS webhooks that [`Channel::verify_webhook`] understands.
    pub webhooks: bool,
    /// Tracking numbers can be exported.
    pub tracking_export: bool,
    /// Prices can be written.
    pub price_sync: bool,
    /// Some stock is held by the channel (read-only listings with [`crate::Fulfilment::Channel`]).
    pub channel_held_stock: bool,
    /// How old a webhook delivery may be, by [`WebhookEvent::sent_at`], before the engine refuses it as
    /// stale (a replay): the platform's documented retry span plus a margin, configurable per adapter.
    /// `None`: no window (deliveries are not refused for their age).
    pub webhook_max_age: Option<std::time::Duration>,
}

impl Capabilities {
    /// A builder starting from a channel that can list and set stock one item at a time and nothing else
    /// (batches and pages of one, every ability off).
    ///
    /// ```
    /// use channel_core::Capabilities;
    ///
    /// let caps = Capabilities::builder().max_stock_batch(100).listing_page_size(250).webhooks(true).build();
    /// assert_eq!(caps.max_stock_batch, 100);
    /// assert!(caps.webhooks && !caps.delta_adjust);
    /// ```
    pub fn builder() -> CapabilitiesBuilder {
        CapabilitiesBuilder(Self {
            max_stock_batch: 1,
            max_price_batch: 1,
            listing_page_size: 1,
            listings_by_id_batch: 0,
            delta_adjust: false,
            compare_and_set: false,
            idempotent_writes: false,
            webhooks: false,
            tracking_export: false,
            price_sync: false,
            channel_held_stock: false,
            webhook_max_age: None,
        })
    }
}

/// Builds [`Capabilities`]: start from [`Capabilities::builder`], say what the channel can do, then
/// [`build`](CapabilitiesBuilder::build). Sizes below 1 are taken as 1.
#[derive(Debug, Clone)]
#[must_use]
pub struct CapabilitiesBuilder(Capabilities);

impl CapabilitiesBuilder {
    /// The most stock updates one write call carries.
    pub fn max_stock_batch(mut self, n: usize) -> Self {
        self.0.max_stock_batch = n.max(1);
        self
    }

    /// The most price updates one write call carries.
    pub fn max_price_batch(mut self, n: usize) -> Self {
        self.0.max_price_batch = n.max(1);
        self
    }

    /// The most listings one read call returns.
    pub fn listing_page_size(mut self, n: usize) -> Self {
        self.0.listing_page_size = n.max(1);
        self
    }

    /// How many listing ids one by-id read call covers (0: no by-id read).
    pub fn listings_by_id_batch(mut self, n: usize) -> Self {
        self.0.listings_by_id_batch = n;
        self
    }

    /// Whether `adjust_stock` is supported.
    pub fn delta_adjust(mut self, on: bool) -> Self {
        self.0.delta_adjust = on;
        self
    }

    /// Whether `set_stock` honours [`StockUpdate::expected`].
    pub fn compare_and_set(mut self, on: bool) -> Self {
        self.0.compare_and_set = on;
        self
    }

    /// Whether writes carry an idempotency key.
    pub fn idempotent_writes(mut self, on: bool) -> Self {
        self.0.idempotent_writes = on;
        self
    }

    /// Whether signed webhooks are delivered and verified.
    pub fn webhooks(mut self, on: bool) -> Self {
        self.0.webhooks = on;
        self
    }

    /// Whether tracking numbers can be exported.
    pub fn tracking_export(mut self, on: bool) -> Self {
        self.0.tracking_export = on;
        self
    }

    /// Whether prices can be written.
    pub fn price_sync(mut self, on: bool) -> Self {
        self.0.price_sync = on;
        self
    }

    /// Whether some stock is held by the channel.
    pub fn channel_held_stock(mut self, on: bool) -> Self {
        self.0.channel_held_stock = on;
        self
    }

    /// How old a webhook delivery may be before it is refused as stale (`None`: no window).
    pub fn webhook_max_age(mut self, max_age: Option<std::time::Duration>) -> Self {
        self.0.webhook_max_age = max_age;
        self
    }

    /// The capabilities.
    pub fn build(self) -> Capabilities {
        self.0
    }
}

/// Who a set of credentials belongs to, from [`Channel::test_connection`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountIdentity {
    /// The channel.
    pub channel: ChannelKind,
    /// The stable account id: Takealot seller id, Shopify shop id, WooCommerce site URL, Amazon selling
    /// partner id. A reconnect with credentials of a different account is refused by the engine.
    pub account_id: String,
    /// A human name for the account (shop name, site title), where the channel has one.
    pub display_name: Option<String>,
    /// Configuration details worth showing (`location`, `region`, `marketplace`, `warehouse`).
    #[serde(default)]
    pub details: std::collections::BTreeMap<String, String>,
}

impl AccountIdentity {
    /// An identity.
    pub fn new(channel: ChannelKind, account_id: impl Into<String>) -> Self {
        Self { channel, account_id: account_id.into(), display_name: None, details: Default::default() }
    }

    /// With a display name (builder style).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// With a configuration detail (builder style).
    #[must_use]
    pub fn with_detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// An incoming webhook delivery: headers and the raw body, exactly as received.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    headers: Vec<(String, String)>,
    body: Bytes,
    url: Option<String>,
}

impl WebhookRequest {
    /// A delivery with the raw body.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Self { headers: Vec::new(), body: body.into(), url: None }
    }

    /// Add a header (builder style). Names are compared case-insensitively.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The URL the delivery was sent to (some signature schemes sign it; builder style).
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The first header with this name (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// All headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The URL the delivery was sent to, if known.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

/// A change to one listing's stock reported by a webhook or notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InventoryChange {
    /// The listing, where the payload names it.
    pub listing: Option<ListingId>,
    /// The SKU as the channel spells it, where the payload names it.
    pub channel_sku: Option<String>,
    /// The quantity now, where the payload says.
    pub quantity: Option<i64>,
    /// Whose stock changed.
    pub fulfilment: crate::Fulfilment,
}

impl InventoryChange {
    /// A change of merchant stock.
    pub fn new(listing: Option<ListingId>, channel_sku: Option<String>, quantity: Option<i64>) -> Self {
        Self { listing, channel_sku, quantity, fulfilment: crate::Fulfilment::Merchant }
    }

    /// With a fulfilment (builder style).
    #[must_use]
    pub fn with_fulfilment(mut self, fulfilment: crate::Fulfilment) -> Self {
        self.fulfilment = fulfilment;
        self
    }
}

/// What a genuine webhook delivery says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookPayload {
    /// An order was created or changed (including cancellations and refunds).
    Order(Order),
    /// A listing's stock changed.
    Inventory(InventoryChange),
    /// A listing was created or changed in a way that may matter (SKU, status, price): re-read it.
    ListingChanged {
        /// The listing.
        listing: Option<ListingId>,
        /// Its channel SKU, where the payload says.
        channel_sku: Option<String>,
    },
    /// An asynchronous batch write finished (Takealot "Batch Completed").
    BatchCompleted {
        /// The channel's batch id.
        batch_id: String,
        /// Whether the batch as a whole succeeded.
        succeeded: bool,
    },
    /// The delivery *claims* the app was uninstalled / the integration revoked. A claim only: the engine
    /// acts (the connection needs re-authentication) once [`Channel::confirm_access_revoked`] confirms it
    /// with the platform, since a body signed for another topic can be replayed under this one.
    Uninstalled,
    /// A test or creation ping (WooCommerce's unsigned `webhook_id=…`): acknowledge, do nothing.
    Ping,
}

/// A verified, parsed webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// The delivery's dedupe key (Shopify event id, WooCommerce delivery id, Takealot delivery UUID).
    /// Duplicate deliveries of one event share it.
    pub delivery_id: Option<String>,
    /// The topic as the channel names it (`orders/create`, `order.updated`, `New Leadtime Order`).
    pub topic: String,
    /// What it says.
    pub payload: WebhookPayload,
    /// When the platform says the delivery was triggered, as the platform documents it (Shopify's
    /// `X-Shopify-Triggered-At` or the signed body's own event time, WooCommerce's `date_modified_gmt`,
    /// Takealot's `event_date`, Amazon's `PublishTime`); `None` when the delivery carries no time. The
    /// engine refuses a delivery older than [`Capabilities::webhook_max_age`] by its own clock.
    pub sent_at: Option<jiff::Timestamp>,
}

impl WebhookEvent {
    /// An event.
    pub fn new(delivery_id: Option<String>, topic: impl Into<String>, payload: WebhookPayload) -> Self {
        Self { delivery_id, topic: topic.into(), payload, sent_at: None }
    }

    /// With the time the platform says the delivery was triggered (builder style).
    #[must_use]
    pub fn with_sent_at(mut self, sent_at: Option<jiff::Timestamp>) -> Self {
        self.sent_at = sent_at;
        self
    }
}

/// Why a webhook delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// No signature header.
    #[error("the delivery is not signed (no {header} header)")]
    Unsigned {
        /// The header that was expected.
        header: String,
    },
    /// The signature does not match the body and secret.
    #[error("the signature does not match the body: wrong secret or tampered body")]
    BadSignature,
    /// The channel has no webhook secret configured, or webhooks are refused for this store.
    #[error("webhooks are not accepted for this store: {0}")]
    NotAccepted(String),
    /// The body or headers could not be understood.
    #[error("malformed delivery: {0}")]
    Malformed(String),
    /// A topic this adapter does not handle.
    #[error("unsupported webhook topic {0:?}")]
    UnsupportedTopic(String),
    /// The body does not have the shape the topic documents (an order body under `app/uninstalled`, a
    /// product under `inventory_levels/update`): the signature covers the body only, so a genuine body
    /// resent under another topic is refused here.
    #[error("the body is not a {topic} payload: {detail}")]
    TopicMismatch {
        /// The topic the delivery claims.
        topic: String,
        /// What the body lacks or has instead.
        detail: String,
    },
    /// The delivery is older than the window the channel accepts (a replay, or a retry past the
    /// platform's documented schedule).
    #[error("stale delivery: sent at {sent_at}, {age_secs} s ago, older than the {max_age_secs} s accepted")]
    Stale {
        /// When the platform says it was triggered.
        sent_at: jiff::Timestamp,
        /// Its age in seconds by the receiver's clock.
        age_secs: i64,
        /// The window, in seconds.
        max_age_secs: u64,
    },
    /// The delivery says it was sent later than the receiver's clock allows for skew: a forged time,
    /// which would otherwise keep a replay fresh for as long as it claims.
    #[error("delivery from the future: sent at {sent_at}, {ahead_secs} s ahead of this clock")]
    FromTheFuture {
        /// When the delivery says it was triggered.
        sent_at: jiff::Timestamp,
        /// How far ahead of the receiver's clock, in seconds.
        ahead_secs: i64,
    },
}

impl WebhookRejection {
    /// The HTTP status a receiver should answer with: 401 for signature problems, 403 when refused,
    /// 400 for malformed deliveries, bodies that do not match their topic and stale or future-dated
    /// deliveries, 422 for
    /// unsupported topics (so the platform stops retrying something it will never get right is not our
    /// call: it is logged and acknowledged as an error).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unsigned { .. } | Self::BadSignature => 401,
            Self::NotAccepted(_) => 403,
            Self::Malformed(_) | Self::TopicMismatch { .. } | Self::Stale { .. } | Self::FromTheFuture { .. } => 400,
            Self::UnsupportedTopic(_) => 422,
        }
    }
}

/// A sales channel: one store on one platform, with its credentials.
///
/// Adapters implement this over the shared transport. The contract for every method:
///
/// - **Errors** are [`Error`]s whose [`Error::kind`] the engine acts on: `Auth` marks the connection as
///   needing re-authentication and stops pushes; `RateLimited`/`Transient` are retried by the engine's
///   outbox with backoff (the transport has already retried what was safe to retry); anything else is
///   final for that call.
/// - **Batches** never fail as a whole because of one bad item: an item the channel refuses comes back as
///   an [`crate::Outcome::Rejected`] in the result, in the input's order, one outcome per input item. A
///   call-level `Err` means nothing is known to have been applied (or, for channels that apply batches
///   asynchronously, that the batch could not be submitted or its result could not be read).
/// - **Batch sizes**: callers may pass any number of items; adapters split them into calls of at most
///   [`Capabilities::max_stock_batch`] (or `max_price_batch`) and the engine sizes its batches to those
///   numbers, so N updates cost `ceil(N / max)` write calls.
/// - **Retries and idempotency**: the transport retries reads, and writes only when they are idempotent
///   (an absolute set is; a delta is not unless it carries an idempotency key, see
///   [`Capabilities::idempotent_writes`]). A call-level `Err` from `adjust_stock` after the request was
///   sent (a timeout, a dropped connection) leaves the outcome unknown: send the same keyed adjustments
///   again to learn it, never new ones.
/// - **Channel-held stock** (fulfilment [`crate::Fulfilment::Channel`]) is never written: an update aimed at
///   it is rejected per item.
#[async_trait]
pub trait Channel: Debug + Send + Sync + 'static {
    /// Which platform this is.
    fn kind(&self) -> ChannelKind;

    /// What this channel can do.
    fn capabilities(&self) -> Capabilities;

    /// A cheap authenticated call: who the credentials belong to. `Err` with kind `Auth` means the
    /// credentials are invalid.
    async fn test_connection(&self) -> Result<AccountIdentity>;

    /// Every listing, paged to the end (one read call per [`Capabilities::listing_page_size`]).
    fn listings(&self) -> BoxStream<'_, Result<Listing>>;

    /// The listings with these ids, each at most once, in no particular order; ids the channel does not
    /// know are left out (a listing deleted meanwhile is simply absent). An empty `ids` reads nothing.
    ///
    /// The default reads [`Channel::listings`] until every id was seen, so it costs up to the whole
    /// catalog; adapters override it with the platform's by-id or filtered read, so a re-read of a few
    /// listings costs a few listings.
    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        use futures::StreamExt;
        let mut wanted: std::collections::HashSet<&ListingId> = ids.iter().collect();
        let mut found = Vec::new();
        let mut stream = self.listings();
        while !wanted.is_empty() {
            let Some(listing) = stream.next().await else { break };
            let listing = listing?;
            if wanted.remove(&listing.id) {
                found.push(listing);
            }
        }
        Ok(found)
    }

    /// Set merchant stock to absolute quantities; one outcome per update, in order.
    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>>;

    /// Change merchant stock by deltas, where [`Capabilities::delta_adjust`] says so; one outcome per
    /// adjustment, in order. Where [`Capabilities::idempotent_writes`] says so, an adjustment carrying an
    /// [`idempotency_key`](StockAdjustment::idempotency_key) is applied at most once: sent again (alone or
    /// batched with others, by this or another instance) it is answered with its first outcome.
    async fn adjust_stock(&self, adjustments: &[StockAdjustment]) -> Result<Vec<ItemOutcome>> {
        let _ = adjustments;
        Err(Error::unsupported(format!("{} has no delta stock adjustment", self.kind())))
    }

    /// Set selling prices, where [`Capabilities::price_sync`] says so; one outcome per update, in order.
    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        let _ = updates;
        Err(Error::unsupported(format!("{} prices are not synced", self.kind())))
    }

    /// Orders changed at or after the cursor, a page at a time, each page with the cursor to resume
    /// after it. Pages may repeat orders; the engine dedupes by (order, line).
    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>>;

    /// Report a shipment's tracking number back to the channel.
    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let _ = shipment;
        Err(Error::unsupported(format!("{} has no tracking export", self.kind())))
    }

    /// Ask the platform whether this channel's access was revoked (the app uninstalled, the integration
    /// de-authorised), before acting on a delivery that claims so ([`WebhookPayload::Uninstalled`]):
    /// `Ok(true)` when the platform refuses the credentials, `Ok(false)` when it still accepts them (the
    /// claim is false), `Err` when it could not be asked (a transient failure: ask again later).
    ///
    /// The default makes the cheap authenticated call [`Channel::test_connection`]: an `Auth` error is a
    /// confirmation; adapters whose platform offers a more direct check override it.
    async fn confirm_access_revoked(&self) -> Result<bool> {
        match self.test_connection().await {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == crate::ErrorKind::Auth => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Verify a webhook delivery's signature (before parsing anything) and parse it into what its body
    /// says, refusing a body that does not have the shape its topic documents
    /// ([`WebhookRejection::TopicMismatch`]) and reporting the delivery's time
    /// ([`WebhookEvent::sent_at`]); the age window is the engine's to apply.
    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        let _ = request;
        Err(WebhookRejection::NotAccepted(format!("{} does not deliver webhooks", self.kind())))
    }
}

/// Conveniences on any [`Channel`].
#[async_trait]
pub trait ChannelExt: Channel {
    /// Read every listing into memory.
    async fn all_listings(&self) -> Result<Vec<Listing>> {
        use futures::TryStreamExt;
        self.listings().try_collect().await
    }

    /// The listing with this id, through [`Channel::get_listings`].
    async fn find_listing(&self, id: &ListingId) -> Result<Option<Listing>> {
        Ok(self.get_listings(std::slice::from_ref(id)).await?.into_iter().find(|l| &l.id == id))
    }
}

impl<T: Channel + ?Sized> ChannelExt for T {}
