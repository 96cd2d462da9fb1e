//! Shopify as the source of truth, moved by keyed deltas (`inventoryAdjustQuantities`), with a WooCommerce
//! store beside it, against the channel-testkit emulators and the real adapters:
//!
//! - sales on WooCommerce move Shopify by deltas (the emulator's call log shows no absolute set, and the
//!   deltas sent add up to exactly the WooCommerce sales), while concurrent sales on Shopify itself are
//!   never overwritten: Shopify ends at the start less everything sold, every order is counted once, and
//!   WooCommerce shows the same without a reconcile (Shopify's inventory webhooks make the engine re-read
//!   the listing rather than take their snapshot in). It prints how many re-reads were taken as external
//!   changes and how far the model was off when the webhooks were delivered (`--nocapture`);
//! - a delta the platform applied whose outbox item was never finished — the engine killed between the
//!   two, or the answer lost on the way back — is sent again under the same key after its lease and is
//!   answered from Shopify's idempotency store: applied once, and deltas queued meanwhile still apply;
//! - a source without keyed deltas is written with absolute compare-and-set quantities, as before.

mod emulator_rig;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use channel_core::rust_decimal::Decimal;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, ItemOutcome, Listing, OrderCursor, OrderPage, PriceUpdate,
    Shipment, Sku, StockAdjustment, StockUpdate, StoreId, WebhookEvent, WebhookRejection, WebhookRequest,
};
use channel_testkit::shopify::{self as shop, ShopifyEmulator};
use channel_testkit::woocommerce::{self as wc, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use futures::stream::BoxStream;
use serde_json::Value;
use sync_engine::store::{LedgerFilter, ListingFilter, MovementCause, OutboxFilter, ProductRecord, WriteOp};
use sync_engine::{SqliteStore, Store, SyncConfig, SyncEngine};

use emulator_rig::{Adapters, Slot, connect, eventually, serve, webhook_routes};

const SKUS: [&str; 2] = ["D-1", "D-2"];
/// How often [`eventually`] looks.
const EVERY: Duration = Duration::from_millis(25);

/// How the Shopify channel the engine gets misbehaves (shared by every adapter instance of a test).
#[derive(Debug, Default)]
struct Mischief {
    /// The next delta call is applied by Shopify, then never answers (the process dies before it learns
    /// the outcome): the engine's call hangs until the test kills the engine.
    hang_after_apply: AtomicBool,
    /// The next delta call is applied by Shopify, then fails as if the connection dropped on the way back.
    drop_answer: AtomicBool,
    /// Report no delta stock adjustment (a source without keyed deltas).
    no_deltas: AtomicBool,
    /// Delta calls made.
    adjust_calls: AtomicUsize,
}

/// The real Shopify adapter with [`Mischief`].
#[derive(Debug)]
struct Flaky {
    inner: Arc<dyn Channel>,
    mischief: Arc<Mischief>,
}

#[async_trait]
impl Channel for Flaky {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        if self.mischief.no_deltas.load(Ordering::SeqCst) {
            caps.delta_adjust = false;
        }
        caps
    }
    async fn test_connection(&self) -> channel_core::Result<AccountIdentity> {
        self.inner.test_connection().await
    }
    fn listings(&self) -> BoxStream<'_, channel_core::Result<Listing>> {
        self.inner.listings()
    }
    async fn set_stock(&self, updates: &[StockUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.inner.set_stock(updates).await
    }
    async fn adjust_stock(&self, adjustments: &[StockAdjustment]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.mischief.adjust_calls.fetch_add(1, Ordering::SeqCst);
        let outcomes = self.inner.adjust_stock(adjustments).await?;
        if self.mischief.hang_after_apply.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.mischief.drop_answer.swap(false, Ordering::SeqCst) {
            return Err(channel_core::Error::transient("connection closed before the answer was read"));
        }
        Ok(outcomes)
    }
    async fn set_prices(&self, updates: &[PriceUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.inner.set_prices(updates).await
    }
    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, channel_core::Result<OrderPage>> {
        self.inner.orders_since(cursor)
    }
    async fn export_tracking(&self, shipment: &Shipment) -> channel_core::Result<()> {
        self.inner.export_tracking(shipment).await
    }
    fn verify_webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent, WebhookRejection> {
        self.inner.verify_webhook(request)
    }
}

struct Rig {
    shopify: ShopifyEmulator,
    woo: WooCommerceEmulator,
    store: Arc<dyn Store>,
    slot: Slot,
    mischief: Arc<Mischief>,
    _dir: tempfile::TempDir,
}

/// Shopify (the source, `units` of each SKU) and WooCommerce (stale quantities), an SQLite store, and
/// webhooks from both delivered to whichever engine is in the slot when `webhooks`.
async fn rig(units: i64, webhooks: bool) -> Rig {
    let shopify = ShopifyEmulator::start(shop::ShopifyConfig::fast()).await.unwrap();
    let woo = WooCommerceEmulator::start(wc::WooCommerceConfig::default()).await.unwrap();
    for sku in SKUS {
        shopify.seed_product(SeedProduct::new(sku, units, Decimal::from(110))).unwrap();
        woo.seed_product(SeedProduct::new(sku, 3, Decimal::from(120))).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("sync.db")).await.unwrap());
    connect(store.as_ref(), "shopify", ChannelKind::Shopify, true).await;
    connect(store.as_ref(), "woo", ChannelKind::Woocommerce, false).await;
    let now = jiff::Timestamp::now();
    for sku in SKUS {
        store.commit(WriteOp::PutProduct(ProductRecord::simple(Sku::new(sku).unwrap(), now)).into()).await.unwrap();
    }
    let slot = emulator_rig::slot();
    if webhooks {
        let base = serve(webhook_routes(Arc::clone(&slot))).await;
        shopify
            .register_webhook(RegisterWebhook::new(format!("{base}/webhooks/shopify"), shopify.webhook_secret()))
            .unwrap();
        woo.register_webhook(RegisterWebhook::new(format!("{base}/webhooks/woo"), woo.webhook_secret())).unwrap();
    }
    Rig { shopify, woo, store, slot, mischief: Arc::default(), _dir: dir }
}

fn config() -> SyncConfig {
    let mut config = SyncConfig::default();
    config.poll_interval = Duration::from_secs(1);
    config.tick = Duration::from_millis(50);
    config.base_backoff = Duration::from_millis(50);
    config.max_backoff = Duration::from_millis(500);
    // Listings a webhook queued for a re-read (Shopify's inventory webhooks, as the source) are re-read.
    config.refresh_interval = Duration::from_millis(250);
    // A push claimed by a killed engine (or whose outcome is unknown) is taken again after this.
    config.lease = Duration::from_millis(1500);
    config
}

impl Rig {
    /// A new engine ("process") with new adapter instances over the rig's store.
    async fn engine(&self) -> SyncEngine {
        let adapters = Adapters::fast();
        let shopify = adapters.shopify(&self.shopify);
        SyncEngine::builder(Arc::clone(&self.store))
            .config(config())
            .channel(StoreId::new("shopify"), Arc::new(Flaky { inner: shopify, mischief: Arc::clone(&self.mischief) }))
            .channel(StoreId::new("woo"), adapters.woo(&self.woo))
            .build()
            .await
            .unwrap()
    }

    fn shows(&self, sku: &str) -> (Option<i64>, Option<i64>) {
        (self.shopify.stock(sku).unwrap(), self.woo.stock(sku).unwrap())
    }

    /// The Shopify mutations answered since call number `from`: (root fields, replayed fields).
    fn mutations(&self, from: usize) -> Vec<(Vec<String>, usize)> {
        self.shopify.platform().graphql_calls()[from..]
            .iter()
            .filter(|c| c.kind == "mutation")
            .map(|c| (c.root_fields.clone(), c.replayed_fields))
            .collect()
    }

    /// Every keyed delta Shopify was sent, per SKU, each idempotency key counted once.
    fn keyed_deltas(&self) -> BTreeMap<String, i64> {
        let sku_of: BTreeMap<String, &str> = SKUS
            .iter()
            .map(|sku| {
                (self.shopify.platform().ids(sku).unwrap()["inventory_item_id"].as_str().unwrap().to_owned(), *sku)
            })
            .collect();
        let mut by_key: BTreeMap<String, (String, i64)> = BTreeMap::new();
        for request in self.shopify.requests() {
            let Ok(body) = serde_json::from_str::<Value>(&request.body) else { continue };
            if !body["query"].as_str().is_some_and(|q| q.contains("StocksyncAdjustQuantitiesKeyed")) {
                continue;
            }
            let vars = &body["variables"];
            for n in 0.. {
                let (Some(key), Some(change)) = (vars[format!("k{n}")].as_str(), vars[format!("a{n}")].get("changes"))
                else {
                    break;
                };
                let item = change[0]["inventoryItemId"].as_str().unwrap();
                let delta = change[0]["delta"].as_i64().unwrap();
                by_key.insert(key.to_owned(), (sku_of[item].to_owned(), delta));
            }
        }
        let mut out = BTreeMap::new();
        for (sku, delta) in by_key.into_values() {
            *out.entry(sku).or_default() += delta;
        }
        out
    }

    /// Units the ledger counts as sold (order movements), per SKU.
    async fn ledger_sold(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for m in self.store.ledger(&LedgerFilter::default()).await.unwrap() {
            let m = m.movement;
            if m.cause == MovementCause::Order {
                *out.entry(m.sku.to_string()).or_default() -= m.delta;
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sales_elsewhere_move_the_source_by_deltas_and_its_own_sales_stand() {
    let units = 40;
    let rig = Arc::new(rig(units, true).await);
    let engine = rig.engine().await;
    *rig.slot.write().unwrap() = Some(engine.clone());
    let running = engine.start();
    engine.sync_now().finish().await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), EVERY, || async {
            SKUS.iter().all(|s| rig.shows(s) == (Some(units), Some(units)))
        })
        .await,
        "after the full sync: {:?}",
        SKUS.map(|s| rig.shows(s))
    );
    let calls_before = rig.shopify.platform().graphql_calls().len();

    // 48 single-unit orders, four at a time concurrently, alternating WooCommerce and Shopify and the SKUs.
    let mut sold: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for wave in 0..12 {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let rig = Arc::clone(&rig);
                let on = if i % 2 == 0 { "woo" } else { "shopify" };
                let sku = SKUS[(wave + i / 2) % 2];
                tokio::task::spawn_blocking(move || {
                    let order = PlaceOrder::new(sku, 1);
                    let ok = if on == "woo" {
                        rig.woo.place_order(order).is_ok()
                    } else {
                        rig.shopify.place_order(order).is_ok()
                    };
                    (on, sku, ok)
                })
            })
            .collect();
        for task in tasks {
            let (on, sku, ok) = task.await.unwrap();
            assert!(ok, "{units} units are enough for every order");
            *sold.entry((on, sku)).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let total = |sku: &str| sold.iter().filter(|((_, s), _)| *s == sku).map(|(_, n)| n).sum::<i64>();
    // The source itself ends exact: its own sales stand, and every sale elsewhere came off once.
    let source_exact = eventually(Duration::from_secs(30), EVERY, || async {
        SKUS.iter().all(|s| rig.shows(s).0 == Some(units - total(s)))
    })
    .await;
    let mut idle = false;
    for _ in 0..600 {
        idle = rig.store.outbox(&OutboxFilter::default()).await.unwrap().is_empty();
        if idle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        source_exact && idle,
        "Shopify at {units} less everything sold {sold:?}: [shopify, woo] {:?}",
        SKUS.map(|s| rig.shows(s))
    );
    rig.shopify.webhooks_idle().await;
    rig.woo.webhooks_idle().await;
    // Shopify's inventory webhooks are snapshots taken in Shopify's order, not the model's: they are not
    // taken in but make the engine re-read the listing once no delta to it is queued or in flight (the
    // scheduler's refresh, every `refresh_interval`). The last re-read comes after the last sale's order,
    // so the model ends exact and WooCommerce with it, with no full reconcile. See docs/sync.md, "Delta
    // pushes to the source".
    let model_exact = || async {
        let mut drift = Vec::new();
        for sku in SKUS {
            let model = engine.on_hand(&Sku::new(sku).unwrap()).await.unwrap();
            drift.push((sku, model.map(|m| m - (units - total(sku)))));
        }
        drift
    };
    let at_idle = model_exact().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut drift = at_idle.clone();
    while tokio::time::Instant::now() < deadline {
        engine.refresh_changed_listings().await.unwrap();
        let outbox_idle = rig.store.outbox(&OutboxFilter::default()).await.unwrap().is_empty();
        drift = model_exact().await;
        if outbox_idle && drift.iter().all(|(_, d)| *d == Some(0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let taken = rig
        .store
        .ledger(&LedgerFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.movement.cause == MovementCause::ManualAdjustment)
        .count();
    println!(
        "delta source: {taken} re-reads of Shopify taken as external changes; model - truth when the webhooks \
         were delivered: {at_idle:?}, after the re-reads: {drift:?}"
    );
    assert!(drift.iter().all(|(_, d)| *d == Some(0)), "the model ends exact: {drift:?}");
    let converged = eventually(Duration::from_secs(30), EVERY, || async {
        SKUS.iter().all(|s| rig.shows(s) == (Some(units - total(s)), Some(units - total(s))))
    })
    .await;
    running.shutdown().await;
    assert!(
        converged,
        "every channel at {units} less everything sold {sold:?}, without a reconcile: [shopify, woo] {:?}",
        SKUS.map(|s| rig.shows(s))
    );

    // Shopify was moved by deltas only, and by exactly what sold elsewhere.
    let mutations = rig.mutations(calls_before);
    let fields: BTreeSet<&str> = mutations.iter().flat_map(|(f, _)| f.iter().map(String::as_str)).collect();
    assert_eq!(fields, BTreeSet::from(["inventoryAdjustQuantities"]), "no absolute set reached the source");
    let deltas = rig.keyed_deltas();
    for sku in SKUS {
        assert_eq!(
            deltas.get(sku).copied(),
            Some(-sold[&("woo", sku)]),
            "{sku}: the deltas sent are the sales elsewhere"
        );
    }
    // Every order counted once.
    let ledger = rig.ledger_sold().await;
    for sku in SKUS {
        assert_eq!(ledger.get(sku).copied(), Some(total(sku)), "{sku}: the ledger counts every order once");
    }
    let left = engine.store().outbox(&OutboxFilter::default()).await.unwrap();
    assert!(left.is_empty(), "nothing left in the outbox: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_change_on_the_delta_source_is_taken_in_by_a_re_read() {
    let units = 20;
    let rig = rig(units, true).await;
    let sku = SKUS[0];
    let engine = rig.engine().await;
    *rig.slot.write().unwrap() = Some(engine.clone());
    let running = engine.start();
    engine.sync_now().finish().await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), EVERY, || async { rig.shows(sku) == (Some(units), Some(units)) }).await
    );
    // The seller counts stock in and sets Shopify to 26 in its admin (here through another client).
    let shopify = StoreId::new("shopify");
    let row = rig
        .store
        .listings(&ListingFilter::store(shopify.clone()))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.sku.as_ref().is_some_and(|s| s.as_str() == sku))
        .unwrap();
    let update = StockUpdate::new(row.listing.clone(), row.channel_sku.clone(), 26).with_ids(row.ids.clone());
    engine.channel(&shopify).unwrap().set_stock(&[update]).await.unwrap();
    // Its inventory webhook makes the engine re-read the listing: taken in, and WooCommerce follows.
    let converged =
        eventually(Duration::from_secs(10), EVERY, || async { rig.shows(sku) == (Some(26), Some(26)) }).await;
    running.shutdown().await;
    assert!(converged, "[shopify, woo] {:?}", rig.shows(sku));
    assert_eq!(engine.on_hand(&Sku::new(sku).unwrap()).await.unwrap(), Some(26));
    let taken: i64 = rig
        .store
        .ledger(&LedgerFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.movement.cause == MovementCause::ManualAdjustment && m.movement.sku.as_str() == sku)
        .map(|m| m.movement.delta)
        .sum();
    assert_eq!(taken, 6, "the external change is in the ledger");
}

/// Place `n` single-unit WooCommerce orders of `sku`.
fn sell_on_woo(rig: &Rig, sku: &str, n: usize) {
    for _ in 0..n {
        rig.woo.place_order(PlaceOrder::new(sku, 1)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_applied_before_a_crash_is_not_applied_again() {
    let units = 20;
    let rig = rig(units, false).await;
    let sku = SKUS[0];
    let first = rig.engine().await;
    first.sync_now().finish().await.unwrap();
    first.drain_outbox(Duration::from_secs(10)).await.unwrap();
    assert_eq!(rig.shows(sku), (Some(units), Some(units)));

    // Three sales on WooCommerce: a delta of -3 for Shopify. Shopify applies it; the engine is killed before
    // it hears back, so the outbox item stays claimed.
    sell_on_woo(&rig, sku, 3);
    first.poll_orders(&StoreId::new("woo")).await.unwrap();
    rig.mischief.hang_after_apply.store(true, Ordering::SeqCst);
    let worker = {
        let engine = first.clone();
        tokio::spawn(async move { engine.run_outbox_once().await })
    };
    assert!(
        eventually(Duration::from_secs(10), EVERY, || async { rig.shopify.stock(sku).unwrap() == Some(units - 3) })
            .await,
        "Shopify applied the delta: {:?}",
        rig.shows(sku)
    );
    // Let the rest of that pass (WooCommerce's push) finish, so the kill lands in the Shopify call only.
    let mut others_done = false;
    for _ in 0..400 {
        let items = rig.store.outbox(&OutboxFilter::default()).await.unwrap();
        others_done = items.iter().all(|i| i.push.store.as_str() == "shopify");
        if others_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(others_done);
    worker.abort();
    let _ = worker.await;
    drop(first);
    let claimed = rig.store.outbox(&OutboxFilter::default()).await.unwrap();
    assert!(
        claimed.iter().any(|i| i.push.store.as_str() == "shopify" && i.claimed_by.is_some()),
        "the applied delta's item was never finished: {claimed:?}"
    );

    // While the engine is down another unit sells; a new engine ("after the restart", with new adapters)
    // takes it in and pushes both the orphaned delta (after its lease, under its key) and the new one.
    sell_on_woo(&rig, sku, 1);
    let calls_before = rig.shopify.platform().graphql_calls().len();
    let second = rig.engine().await;
    second.poll_orders(&StoreId::new("woo")).await.unwrap();
    second.drain_outbox(Duration::from_secs(20)).await.unwrap();
    assert_eq!(rig.shows(sku), (Some(units - 4), Some(units - 4)), "four sold, each taken off Shopify once");
    let replayed: usize = rig.mutations(calls_before).iter().map(|(_, r)| r).sum();
    assert_eq!(replayed, 1, "the orphaned delta was answered from Shopify's idempotency store");
    assert_eq!(rig.keyed_deltas().get(sku).copied(), Some(-4), "two keys: -3 and -1");
    assert_eq!(rig.ledger_sold().await.get(sku).copied(), Some(4));
    assert!(rig.store.outbox(&OutboxFilter::default()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_whose_answer_was_lost_is_resent_under_its_key_and_not_merged() {
    let units = 20;
    let rig = rig(units, false).await;
    let sku = SKUS[1];
    let engine = rig.engine().await;
    engine.sync_now().finish().await.unwrap();
    engine.drain_outbox(Duration::from_secs(10)).await.unwrap();

    // Shopify applies -2 but the answer is lost: the outcome is unknown, so the item stays claimed as it is.
    sell_on_woo(&rig, sku, 2);
    engine.poll_orders(&StoreId::new("woo")).await.unwrap();
    rig.mischief.drop_answer.store(true, Ordering::SeqCst);
    let report = engine.run_outbox_once().await.unwrap();
    assert_eq!(report.pushed + report.retried, report.claimed, "{report:?}");
    assert_eq!(rig.shopify.stock(sku).unwrap(), Some(units - 2), "Shopify applied it");
    let items = rig.store.outbox(&OutboxFilter::default()).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0].claimed_by.is_some(), "left claimed, not back to pending: {items:?}");

    // A newer delta for the same listing does not merge into it (that would send -3 under a new key).
    sell_on_woo(&rig, sku, 1);
    engine.poll_orders(&StoreId::new("woo")).await.unwrap();
    let calls_before = rig.shopify.platform().graphql_calls().len();
    engine.drain_outbox(Duration::from_secs(20)).await.unwrap();
    assert_eq!(rig.shows(sku), (Some(units - 3), Some(units - 3)));
    let replayed: usize = rig.mutations(calls_before).iter().map(|(_, r)| r).sum();
    assert_eq!(replayed, 1, "the resend was answered from Shopify's idempotency store");
    assert!(rig.store.outbox(&OutboxFilter::default()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_keyed_deltas_gets_absolute_sets_as_before() {
    let units = 20;
    let rig = rig(units, false).await;
    rig.mischief.no_deltas.store(true, Ordering::SeqCst);
    let sku = SKUS[0];
    let engine = rig.engine().await;
    engine.sync_now().finish().await.unwrap();
    engine.drain_outbox(Duration::from_secs(10)).await.unwrap();
    let calls_before = rig.shopify.platform().graphql_calls().len();
    sell_on_woo(&rig, sku, 2);
    engine.poll_orders(&StoreId::new("woo")).await.unwrap();
    engine.drain_outbox(Duration::from_secs(10)).await.unwrap();
    assert_eq!(rig.shows(sku), (Some(units - 2), Some(units - 2)));
    let fields: BTreeSet<String> = rig.mutations(calls_before).into_iter().flat_map(|(f, _)| f).collect();
    assert_eq!(fields, BTreeSet::from(["inventorySetQuantities".to_owned()]));
    assert_eq!(rig.mischief.adjust_calls.load(Ordering::SeqCst), 0);
}
