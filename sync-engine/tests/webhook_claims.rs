//! What a webhook delivery claims is checked before the engine acts on it, against the Shopify emulator:
//! Shopify signs the body only, so a captured genuine delivery can be resent under another topic, a new
//! id and a fresh `X-Shopify-Triggered-At`.
//!
//! - a genuine order body resent as `app/uninstalled` is refused (400) and applies nothing;
//! - an `app/uninstalled` claim is confirmed with the platform: while the app is still installed it is
//!   ignored and audited, once the merchant really uninstalled it the store needs re-authentication;
//! - a delivery older than the channel's window, by the engine's clock, is refused, whatever its header
//!   says; so is an Amazon notification read late from its queue.

mod emulator_rig;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use channel_core::{ChannelKind, StoreId, WebhookRequest};
use channel_testkit::amazon::{self as amz, AmazonEmulator};
use channel_testkit::sandbox::{PlaceOrder, RegisterWebhook, SeedProduct};
use channel_testkit::shopify::{self as shop, ShopifyEmulator};
use emulator_rig::{Adapters, connect, order_units, serve};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use sync_engine::store::{AuditFilter, CredentialStatus, ProductRecord, WriteOp};
use sync_engine::sync::WebhookOutcome;
use sync_engine::{Clock, ManualClock, MemoryStore, Store, SyncEngine};

/// A delivery the emulator sent to the test's receiver.
#[derive(Debug, Clone)]
struct Captured {
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The same body with its headers, except those in `replace`, which are set to the given values.
    fn resent(&self, replace: &[(&str, &str)]) -> WebhookRequest {
        let mut request = WebhookRequest::new(self.body.clone());
        for (n, v) in &self.headers {
            if !replace.iter().any(|(r, _)| n.eq_ignore_ascii_case(r)) {
                request = request.header(n.as_str(), v.as_str());
            }
        }
        for (n, v) in replace {
            request = request.header(*n, *v);
        }
        request
    }
}

type Inbox = Arc<Mutex<Vec<Captured>>>;

async fn capture(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let headers =
        headers.iter().filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned()))).collect();
    inbox.lock().unwrap().push(Captured { headers, body });
    StatusCode::OK
}

struct Rig {
    shopify: ShopifyEmulator,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    engine: SyncEngine,
    inbox: Inbox,
}

const SHOP: &str = "shopify";

/// A Shopify emulator with one SKU, delivering every topic to a receiver the test reads; an engine over
/// a memory store, with a manual clock showing the real time (the emulator's), not started (only the
/// deliveries the test hands it reach it, and no poll imports orders behind its back).
async fn rig() -> Rig {
    let shopify = ShopifyEmulator::start(shop::ShopifyConfig::fast()).await.unwrap();
    shopify.seed_product(SeedProduct::new("W-1", 5, Decimal::from(10))).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    connect(store.as_ref(), SHOP, ChannelKind::Shopify, true).await;
    let product = ProductRecord::simple(channel_core::Sku::new("W-1").unwrap(), Timestamp::now());
    store.commit(WriteOp::PutProduct(product).into()).await.unwrap();
    let inbox: Inbox = Arc::default();
    let base = serve(Router::new().route("/capture", post(capture)).with_state(Arc::clone(&inbox))).await;
    shopify.register_webhook(RegisterWebhook::new(format!("{base}/capture"), shopify.webhook_secret())).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let engine = SyncEngine::builder(Arc::clone(&store))
        .clock(Arc::clone(&clock) as _)
        .channel(StoreId::new(SHOP), Adapters::fast().shopify(&shopify))
        .build()
        .await
        .unwrap();
    engine.sync_now().finish().await.unwrap();
    Rig { shopify, store, clock, engine, inbox }
}

impl Rig {
    /// Waits for the emulator's delivery of `topic`.
    async fn delivery(&self, topic: &str) -> Captured {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.inbox.lock().unwrap().iter().find(|c| c.header("x-shopify-topic") == Some(topic)).cloned();
            if let Some(c) = found {
                return c;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {topic} delivery captured");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn handle(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.engine.handle_webhook(&StoreId::new(SHOP), request).await
    }

    async fn credentials(&self) -> CredentialStatus {
        self.store.connection(&StoreId::new(SHOP)).await.unwrap().unwrap().health.credentials
    }

    async fn webhook_audit(&self) -> Vec<String> {
        let audit = self.store.audit(&AuditFilter::default()).await.unwrap();
        audit.into_iter().filter(|a| a.field == "webhook").map(|a| a.reason).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_order_resent_as_app_uninstalled_is_refused_and_applies_nothing() {
    let rig = rig().await;
    rig.shopify.place_order(PlaceOrder::new("W-1", 2)).unwrap();
    let order = rig.delivery("orders/create").await;
    let forged = order.resent(&[("X-Shopify-Topic", "app/uninstalled"), ("X-Shopify-Event-Id", "a-new-id")]);
    let outcome = rig.handle(&forged).await;
    assert!(matches!(outcome, WebhookOutcome::Rejected { status: 400, .. }), "{outcome:?}");
    assert_ne!(rig.credentials().await, CredentialStatus::NeedsReauth, "the store does not need re-authentication");
    let forged = order.resent(&[("X-Shopify-Topic", "inventory_levels/update"), ("X-Shopify-Event-Id", "another")]);
    assert_eq!(rig.handle(&forged).await.http_status(), 400, "an order is no inventory level either");
    assert_eq!(order_units(rig.store.as_ref(), "W-1").await, 0, "nothing applied");
    let audit = rig.webhook_audit().await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|r| r.contains("(400)") && r.contains("is not a")), "{audit:?}");
    // The genuine delivery still applies.
    let outcome = rig.handle(&order.resent(&[])).await;
    assert!(matches!(outcome, WebhookOutcome::Applied { .. }), "{outcome:?}");
    assert_eq!(order_units(rig.store.as_ref(), "W-1").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_claim_while_the_app_is_installed_is_ignored_and_audited() {
    let rig = rig().await;
    // A genuine, signed app/uninstalled body (as one captured from an earlier installation would be).
    let body = serde_json::to_vec(&rig.shopify.platform().shop_rest()).unwrap();
    let now = Timestamp::now().to_string();
    let claim = WebhookRequest::new(body.clone())
        .header("X-Shopify-Topic", "app/uninstalled")
        .header("X-Shopify-Event-Id", "replayed-uninstall")
        .header("X-Shopify-Triggered-At", now)
        .header(
            "X-Shopify-Hmac-Sha256",
            channel_core::webhook::sign_base64(rig.shopify.webhook_secret().as_bytes(), &body),
        );
    let outcome = rig.handle(&claim).await;
    assert!(matches!(outcome, WebhookOutcome::Ignored { .. }), "{outcome:?}");
    assert_eq!(outcome.http_status(), 200);
    assert!(rig.shopify.platform().installed());
    assert_ne!(rig.credentials().await, CredentialStatus::NeedsReauth, "the store does not need re-authentication");
    let audit = rig.webhook_audit().await;
    assert!(audit.iter().any(|r| r.contains("app/uninstalled") && r.contains("not confirmed")), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_dated_in_the_future_is_refused() {
    let rig = rig().await;
    let body = serde_json::to_vec(&rig.shopify.platform().shop_rest()).unwrap();
    let claim = |id: &str, sent: SignedDuration| {
        WebhookRequest::new(body.clone())
            .header("X-Shopify-Topic", "app/uninstalled")
            .header("X-Shopify-Event-Id", id)
            .header("X-Shopify-Triggered-At", rig.clock.now().checked_add(sent).unwrap().to_string())
            .header(
                "X-Shopify-Hmac-Sha256",
                channel_core::webhook::sign_base64(rig.shopify.webhook_secret().as_bytes(), &body),
            )
    };
    // A time a year ahead would keep a replay inside the window for a year: refused, nothing changes.
    let outcome = rig.handle(&claim("from-the-future", SignedDuration::from_hours(24 * 365))).await;
    assert!(matches!(outcome, WebhookOutcome::Rejected { status: 400, .. }), "{outcome:?}");
    let audit = rig.webhook_audit().await;
    assert!(audit.iter().any(|r| r.contains("from the future")), "{audit:?}");
    // Half a minute ahead is clock skew, not forgery: the claim is judged (and, unconfirmed, ignored).
    let outcome = rig.handle(&claim("skewed", SignedDuration::from_secs(30))).await;
    assert!(matches!(outcome, WebhookOutcome::Ignored { .. }), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_uninstall_is_confirmed_and_the_store_needs_re_authentication() {
    let rig = rig().await;
    rig.shopify.platform().uninstall_app();
    let uninstall = rig.delivery("app/uninstalled").await;
    let outcome = rig.handle(&uninstall.resent(&[])).await;
    assert!(matches!(outcome, WebhookOutcome::Applied { .. }), "{outcome:?}");
    assert_eq!(rig.credentials().await, CredentialStatus::NeedsReauth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_older_than_the_window_is_refused_whatever_its_header_says() {
    let rig = rig().await;
    rig.shopify.place_order(PlaceOrder::new("W-1", 2)).unwrap();
    let order = rig.delivery("orders/create").await;
    // Six hours on: past Shopify's 4-hour retry schedule and the adapter's 5-hour default window.
    rig.clock.advance(SignedDuration::from_hours(6));
    let outcome = rig.handle(&order.resent(&[])).await;
    assert!(matches!(outcome, WebhookOutcome::Rejected { status: 400, .. }), "stale: {outcome:?}");
    let fresh = rig.clock.now().to_string();
    let forged = order.resent(&[("X-Shopify-Triggered-At", &fresh), ("X-Shopify-Event-Id", "a-new-id")]);
    let outcome = rig.handle(&forged).await;
    assert!(matches!(outcome, WebhookOutcome::Rejected { status: 400, .. }), "a fresh header: {outcome:?}");
    assert_eq!(order_units(rig.store.as_ref(), "W-1").await, 0, "nothing applied");
    let audit = rig.webhook_audit().await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|r| r.contains("stale")), "{audit:?}");
    // Within the window (four hours after the order), the same delivery applies.
    rig.clock.advance(SignedDuration::from_hours(-2));
    let outcome = rig.handle(&order.resent(&[])).await;
    assert!(matches!(outcome, WebhookOutcome::Applied { .. }), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amazon_notification_older_than_the_window_is_refused() {
    // Amazon's notifications wait in a queue the host reads; the engine judges their age by its clock.
    let amazon = AmazonEmulator::start(amz::AmazonConfig::fast()).await.unwrap();
    amazon.seed_product(SeedProduct::new("W-1", 5, Decimal::from(10))).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    connect(store.as_ref(), "amazon", ChannelKind::Amazon, true).await;
    let product = ProductRecord::simple(channel_core::Sku::new("W-1").unwrap(), Timestamp::now());
    store.commit(WriteOp::PutProduct(product).into()).await.unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let engine = SyncEngine::builder(Arc::clone(&store))
        .clock(Arc::clone(&clock) as _)
        .channel(StoreId::new("amazon"), Adapters::fast().amazon(&amazon))
        .build()
        .await
        .unwrap();
    engine.sync_now().finish().await.unwrap();
    amazon.place_order(PlaceOrder::new("W-1", 2)).unwrap();
    let queued = amazon.platform().notifications();
    let order = queued.iter().find(|n| n["NotificationType"] == "ORDER_CHANGE").expect("an ORDER_CHANGE");
    let event = channel_amazon::webhook::parse(&serde_json::to_vec(order).unwrap()).unwrap();
    // Two hours in the queue: past the adapter's one-hour default.
    clock.advance(SignedDuration::from_hours(2));
    let outcome = engine.handle_notification(&StoreId::new("amazon"), event.clone()).await;
    assert!(matches!(outcome, WebhookOutcome::Rejected { status: 400, .. }), "{outcome:?}");
    assert_eq!(order_units(store.as_ref(), "W-1").await, 0, "nothing applied");
    let audit = store.audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.field == "webhook" && a.reason.contains("stale")), "{audit:?}");
    clock.advance(SignedDuration::from_hours(-2));
    let outcome = engine.handle_notification(&StoreId::new("amazon"), event).await;
    assert!(matches!(outcome, WebhookOutcome::Applied { .. }), "{outcome:?}");
    assert_eq!(order_units(store.as_ref(), "W-1").await, 2);
}
