//! What the integration tests against the channel-testkit emulators share: the real adapters set up
//! against the emulators ([`Adapters`]), connection records ([`connect`]), a webhook receiver that hands
//! each delivery to the engine in a [`Slot`] ([`webhook_routes`], [`serve`]), and waits and ledger sums
//! ([`eventually`], [`order_units`]).

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use channel_core::secrecy::SecretString;
use channel_core::{Channel, ChannelKind, Sku, StoreId, WebhookRequest};
use channel_testkit::amazon::AmazonEmulator;
use channel_testkit::ebay::EbayEmulator;
use channel_testkit::magento::MagentoEmulator;
use channel_testkit::sandbox::{Emulator, Fault, LoggedRequest};
use channel_testkit::shopify::ShopifyEmulator;
use channel_testkit::takealot::TakealotEmulator;
use channel_testkit::woocommerce::WooCommerceEmulator;
use channel_testkit::{PlaceOrder, PlacedOrder, PlatformControl, SeedProduct};
use sync_engine::store::{ConnectionRecord, LedgerFilter, MovementCause, Scope, SealedCredentials, SyncMode, WriteOp};
use sync_engine::{Store, SyncEngine};

/// How the adapters pace themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Not at all ahead of time, for emulators started with their fast presets or without a rate limit:
    /// Takealot sends as fast as it is answered, Amazon learns the limits from the answers' headers.
    Off,
    /// The adapters' defaults: Takealot's 60 requests a minute, Amazon's documented usage plans.
    Documented,
}

/// The real adapters set up against the emulators. Every adapter is given its emulator's webhook secret
/// (Takealot's signed over the hex body, the emulator's default scheme).
#[derive(Debug, Clone, Copy)]
pub struct Adapters {
    /// Every adapter's per-attempt timeout.
    pub timeout: Duration,
    /// How often Takealot's batch status and Amazon's reports and feeds are polled.
    pub poll_interval: Duration,
    /// How long Amazon waits for a report or feed to be processed.
    pub processing_timeout: Duration,
    /// How the adapters pace themselves.
    pub pacing: Pacing,
    /// Whether Shopify is given the emulator's location (otherwise it looks the shop's one location up).
    pub shopify_location: bool,
}

impl Adapters {
    /// For emulators with fast presets: no pacing, 2 s timeouts (a 2.5 s injected delay is a timeout),
    /// polls every 10 ms, Amazon's processing given up after 10 s, Shopify's location given.
    pub fn fast() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            poll_interval: Duration::from_millis(10),
            processing_timeout: Duration::from_secs(10),
            pacing: Pacing::Off,
            shopify_location: true,
        }
    }

    /// For emulators enforcing the platforms' real limits: the adapters' own pacing, 30 s timeouts, polls
    /// every 20 ms, Amazon's processing given up after 120 s, Shopify's location looked up.
    pub fn rate_limited() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(20),
            processing_timeout: Duration::from_secs(120),
            pacing: Pacing::Documented,
            shopify_location: false,
        }
    }

    /// The Takealot adapter.
    pub fn takealot(&self, e: &TakealotEmulator) -> Arc<dyn Channel> {
        let mut config =
            channel_takealot::TakealotConfig::new(SecretString::from(e.api_key().to_owned()), e.warehouse_ids()[0])
                .base_url(e.base_url());
        if self.pacing == Pacing::Off {
            config = config.requests_per_minute(None);
        }
        let config = config.timeout(self.timeout).batch_poll_interval(self.poll_interval).webhook_secret(
            SecretString::from(e.webhook_secret().to_owned()),
            channel_takealot::SignatureScheme::HexBody,
        );
        Arc::new(channel_takealot::Takealot::new(config).unwrap())
    }

    /// The Shopify adapter.
    pub fn shopify(&self, e: &ShopifyEmulator) -> Arc<dyn Channel> {
        let mut config = channel_shopify::ShopifyConfig::new(
            "sandbox-shop.myshopify.com",
            SecretString::from(e.access_token().to_owned()),
        )
        .base_url(e.base_url());
        if self.shopify_location {
            config = config.location(e.location_id());
        }
        let config = config.timeout(self.timeout).webhook_secret(SecretString::from(e.webhook_secret().to_owned()));
        Arc::new(channel_shopify::Shopify::new(config).unwrap())
    }

    /// The WooCommerce adapter.
    pub fn woo(&self, e: &WooCommerceEmulator) -> Arc<dyn Channel> {
        let config = channel_woocommerce::WooCommerceConfig::new(e.base_url(), e.consumer_key(), e.consumer_secret())
            .webhook_secret(e.webhook_secret())
            .timeout(self.timeout);
        Arc::new(channel_woocommerce::WooCommerce::new(config).unwrap())
    }

    /// The Amazon adapter (Amazon has no webhooks: its notifications go to SQS).
    pub fn amazon(&self, e: &AmazonEmulator) -> Arc<dyn Channel> {
        let config = channel_amazon::AmazonConfig::new(
            e.seller_id(),
            [e.marketplace_id()],
            channel_amazon::Region::Na,
            e.client_id(),
            e.client_secret(),
            e.refresh_token(),
        )
        // The adapter's poll stays as far behind now as the emulator requires (0 s in its fast config).
        .orders_settle(e.orders_settle());
        let amazon = channel_amazon::Amazon::builder(config)
            .base_url(e.base_url())
            .token_url(e.token_url())
            .documented_rate_limits(self.pacing == Pacing::Documented)
            .timeout(self.timeout)
            .poll_interval(self.poll_interval)
            .processing_timeout(self.processing_timeout)
            .build()
            .unwrap();
        Arc::new(amazon)
    }
}

impl Adapters {
    /// The eBay adapter (eBay's notifications are not delivered by the emulator: its orders are polled).
    /// Token, identity and API calls all go to the emulator.
    pub fn ebay(&self, e: &EbayEmulator) -> Arc<dyn Channel> {
        let config = channel_marketplaces::ebay::EbayConfig::new(e.client_id(), e.client_secret(), e.refresh_token())
            .base_url(e.base_url())
            .token_url(e.token_url())
            .identity_url(e.identity_url())
            .timeout(self.timeout);
        Arc::new(channel_marketplaces::ebay::Ebay::new(config).unwrap())
    }

    /// The Magento adapter, managing the emulator's MSI source (Magento sends no webhooks: its orders are
    /// polled).
    pub fn magento(&self, e: &MagentoEmulator) -> Arc<dyn Channel> {
        let config = channel_marketplaces::magento::MagentoConfig::new(e.base_url(), e.access_token())
            .store_code(e.store_code())
            .source_code(e.source_code())
            .timeout(self.timeout);
        Arc::new(channel_marketplaces::magento::Magento::new(config).unwrap())
    }
}

/// Any running emulator, whatever its platform, for holding several in one list: its control surface,
/// faults and request log.
pub trait AnyEmulator: Send + Sync {
    /// The platform's name (`takealot`, …).
    fn name(&self) -> &'static str;
    /// Seeds a product (panics when the platform refuses it).
    fn seed(&self, seed: SeedProduct);
    /// Merchant stock of `sku` as the platform shows it to buyers; `None` when not listed.
    fn shows(&self, sku: &str) -> Option<i64>;
    /// Places an order as a shopper would; `None` when the platform refused it.
    fn place(&self, order: PlaceOrder) -> Option<PlacedOrder>;
    /// Cancels an order placed earlier, as the shopper or seller would; whether the platform did.
    fn cancel(&self, order_id: &str) -> bool;
    /// Queues a fault for the next API requests.
    fn inject_fault(&self, fault: Fault);
    /// Every API request so far.
    fn requests(&self) -> Vec<LoggedRequest>;
}

impl<P: PlatformControl> AnyEmulator for Emulator<P> {
    fn name(&self) -> &'static str {
        self.platform().name()
    }

    fn seed(&self, seed: SeedProduct) {
        let sku = seed.sku.clone();
        if let Err(e) = self.seed_product(seed) {
            panic!("{}: seeding {sku}: {e}", self.platform().name());
        }
    }

    fn shows(&self, sku: &str) -> Option<i64> {
        self.stock(sku).unwrap()
    }

    fn place(&self, order: PlaceOrder) -> Option<PlacedOrder> {
        self.place_order(order).ok()
    }

    fn cancel(&self, order_id: &str) -> bool {
        self.cancel_order(order_id).is_ok()
    }

    fn inject_fault(&self, fault: Fault) {
        Emulator::inject_fault(self, fault);
    }

    fn requests(&self) -> Vec<LoggedRequest> {
        Emulator::requests(self)
    }
}

/// Records a live connection `id` of `kind` (the source of truth when `source`), with sealed credentials.
pub async fn connect(store: &dyn Store, id: &str, kind: ChannelKind, source: bool) {
    let mut c = ConnectionRecord::new(
        StoreId::new(id),
        kind,
        id,
        Scope::Client(store.company_id().clone()),
        jiff::Timestamp::now(),
    );
    c.credentials = Some(SealedCredentials::from_sealed("sealed by the host".into()));
    c.source_of_truth = source;
    c.sync_mode = SyncMode::Live;
    store.commit(WriteOp::PutConnection(c).into()).await.unwrap();
}

/// The engine webhooks are handed to, if any (none: the receiver answers 503, and the platform retries).
pub type Slot = Arc<RwLock<Option<SyncEngine>>>;

/// An empty [`Slot`].
pub fn slot() -> Slot {
    Arc::new(RwLock::new(None))
}

/// `POST /webhooks/{store}`: the delivery, with its headers, to the engine in `slot`, answered with the
/// engine's status.
pub fn webhook_routes(slot: Slot) -> Router {
    Router::new().route("/webhooks/{store}", post(receive)).with_state(slot)
}

async fn receive(State(slot): State<Slot>, Path(store): Path<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let engine = slot.read().unwrap().clone();
    let Some(engine) = engine else { return StatusCode::SERVICE_UNAVAILABLE };
    let mut request = WebhookRequest::new(body);
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            request = request.header(name.as_str(), value);
        }
    }
    let outcome = engine.handle_webhook(&StoreId::new(store), &request).await;
    StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Serves `app` on a free local port until the runtime ends; its base URL (`http://127.0.0.1:…`).
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Waits until `done` holds, checking every `every`, or until `limit` passes; whether it happened.
pub async fn eventually<F, Fut>(limit: Duration, every: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if done().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// The units of `sku` the ledger counts as sold (its order movements).
pub async fn order_units(store: &dyn Store, sku: &str) -> i64 {
    let mut filter = LedgerFilter::default();
    filter.sku = Some(Sku::new(sku).unwrap());
    let movements = store.ledger(&filter).await.unwrap();
    -movements.iter().filter(|m| m.movement.cause == MovementCause::Order).map(|m| m.movement.delta).sum::<i64>()
}
