//! Sales of products listed after the engine started, against the channel-testkit emulators with the real
//! adapters: Takealot (the source of truth), Shopify and WooCommerce, webhooks delivered to a running
//! engine. The engine learns listings only from full reads, so such a sale names a listing it does not
//! know: it must be held (recorded, audited, no stock moved yet), its listing linked by the reconcile the
//! engine asks for, and applied exactly once — never dropped, and never put back on sale by a later
//! reconcile.
//!
//! - a new product sold on WooCommerce: the source's on hand drops by the sale and every channel shows it;
//! - a new product sold on the source itself: counted once (the source's read already shows the sale);
//! - a product the source does not list: held and reported until it is listed, then applied once;
//! - two workers reconciling at once apply a held line once (memory, SQLite, and PostgreSQL when
//!   `DATABASE_URL` is set).

mod emulator_rig;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use channel_core::rust_decimal::Decimal;
use channel_core::{ChannelKind, StoreId};
use channel_testkit::shopify::{self as shop, ShopifyEmulator};
use channel_testkit::takealot::{self as tk, TakealotEmulator};
use channel_testkit::woocommerce::{self as wc, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use emulator_rig::{Adapters, Slot, connect, eventually, order_units, serve, webhook_routes};
use sync_engine::store::AuditFilter;
use sync_engine::sync::RunningEngine;
use sync_engine::{MemoryStore, SqliteStore, Store, SyncConfig, SyncEngine};

/// A product every channel lists before the engine starts.
const OLD: &str = "OLD-1";
/// How long a test waits for the engine to get somewhere.
const LIMIT: Duration = Duration::from_secs(20);
/// How often it looks.
const EVERY: Duration = Duration::from_millis(50);

struct Rig {
    takealot: TakealotEmulator,
    shopify: ShopifyEmulator,
    woo: WooCommerceEmulator,
    slot: Slot,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

/// The emulators with [`OLD`] listed everywhere, webhooks registered, the connections in a SQLite store.
async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("sync.db")).await.unwrap());
    rig_over(store, dir).await
}

async fn rig_over(store: Arc<dyn Store>, dir: tempfile::TempDir) -> Rig {
    let mut tk_config = tk::TakealotConfig::default();
    tk_config.rate_limit = None;
    tk_config.batch_processing_delay = Duration::from_millis(5);
    let takealot = TakealotEmulator::start(tk_config).await.unwrap();
    let shopify = ShopifyEmulator::start(shop::ShopifyConfig::fast()).await.unwrap();
    let woo = WooCommerceEmulator::start(wc::WooCommerceConfig::default()).await.unwrap();
    takealot.seed_product(SeedProduct::new(OLD, 10, Decimal::from(100))).unwrap();
    shopify.seed_product(SeedProduct::new(OLD, 10, Decimal::from(110))).unwrap();
    woo.seed_product(SeedProduct::new(OLD, 10, Decimal::from(120))).unwrap();
    connect(store.as_ref(), "takealot", ChannelKind::Takealot, true).await;
    connect(store.as_ref(), "shopify", ChannelKind::Shopify, false).await;
    connect(store.as_ref(), "woo", ChannelKind::Woocommerce, false).await;
    let slot = emulator_rig::slot();
    let base = serve(webhook_routes(Arc::clone(&slot))).await;
    takealot
        .register_webhook(RegisterWebhook::new(format!("{base}/webhooks/takealot"), takealot.webhook_secret()))
        .unwrap();
    shopify
        .register_webhook(RegisterWebhook::new(format!("{base}/webhooks/shopify"), shopify.webhook_secret()))
        .unwrap();
    woo.register_webhook(RegisterWebhook::new(format!("{base}/webhooks/woo"), woo.webhook_secret())).unwrap();
    Rig { takealot, shopify, woo, slot, store, _dir: dir }
}

fn config(worker: &str) -> SyncConfig {
    let mut config = SyncConfig::default();
    config.worker = worker.into();
    // Orders come by webhook; polls would only find them again.
    config.poll_interval = Duration::from_secs(3600);
    config.tick = Duration::from_millis(50);
    config.base_backoff = Duration::from_millis(20);
    config.refresh_interval = Duration::from_secs(3600);
    config.lease = Duration::from_secs(5);
    config
}

impl Rig {
    async fn engine(&self, worker: &str) -> SyncEngine {
        self.engine_over(Arc::clone(&self.store), worker).await
    }

    async fn engine_over(&self, store: Arc<dyn Store>, worker: &str) -> SyncEngine {
        let adapters = Adapters::fast();
        SyncEngine::builder(store)
            .config(config(worker))
            .channel(StoreId::new("takealot"), adapters.takealot(&self.takealot))
            .channel(StoreId::new("shopify"), adapters.shopify(&self.shopify))
            .channel(StoreId::new("woo"), adapters.woo(&self.woo))
            .build()
            .await
            .unwrap()
    }

    /// What `stocksync serve` does: the first full reconcile, then the engine runs and takes webhooks.
    async fn serve(&self) -> (SyncEngine, RunningEngine) {
        let engine = self.engine("serve").await;
        reconcile(&engine).await;
        *self.slot.write().unwrap() = Some(engine.clone());
        let running = engine.start();
        (engine, running)
    }

    /// What Takealot, Shopify and WooCommerce show for `sku`.
    fn shows(&self, sku: &str) -> [Option<i64>; 3] {
        [self.takealot.stock(sku).unwrap(), self.shopify.stock(sku).unwrap(), self.woo.stock(sku).unwrap()]
    }

    /// List `sku` on the source with `units` and on the other channels with a stale quantity.
    fn list_everywhere(&self, sku: &str, units: i64) {
        self.takealot.seed_product(SeedProduct::new(sku, units, Decimal::from(100))).unwrap();
        self.shopify.seed_product(SeedProduct::new(sku, units + 3, Decimal::from(110))).unwrap();
        self.woo.seed_product(SeedProduct::new(sku, units + 3, Decimal::from(120))).unwrap();
    }

    /// Whether every channel shows `units` of `sku` and the ledger counts `sold` units of it as sold.
    async fn settled(&self, sku: &str, units: i64, sold: i64) -> bool {
        self.shows(sku) == [Some(units); 3] && order_units(self.store.as_ref(), sku).await == sold
    }

    async fn wait_settled(&self, sku: &str, units: i64, sold: i64) {
        let ok = eventually(LIMIT, EVERY, || self.settled(sku, units, sold)).await;
        assert!(
            ok,
            "{sku}: the channels show {:?}, {} unit(s) counted as sold; expected {units} everywhere and {sold} sold; \
             held lines: {:?}",
            self.shows(sku),
            order_units(self.store.as_ref(), sku).await,
            self.store.held_order_lines().await.unwrap()
        );
    }

    /// The audit entries of order lines (held, applied).
    async fn line_audit(&self) -> Vec<String> {
        let entries = self.store.audit(&AuditFilter::default()).await.unwrap();
        entries.into_iter().filter(|e| e.field == "order_line").map(|e| format!("{}: {}", e.store, e.reason)).collect()
    }
}

/// A full reconcile ("sync now"), waited for.
async fn reconcile(engine: &SyncEngine) {
    engine.full_sync(None, None, &AtomicBool::new(false)).await.unwrap();
}

/// A full reconcile from what every worker stored, as the scheduler runs one.
async fn reconcile_fresh(engine: &SyncEngine) {
    engine.reload().await.unwrap();
    reconcile(engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_listed_after_start_and_sold_on_another_channel_counts_once() {
    let rig = rig().await;
    let (engine, running) = rig.serve().await;
    rig.wait_settled(OLD, 10, 0).await;

    rig.list_everywhere("NEW-1", 8);
    rig.woo.place_order(PlaceOrder::new("NEW-1", 2)).unwrap();
    // The source's on hand drops by the sale and every channel is pushed it, without a restart.
    rig.wait_settled("NEW-1", 6, 2).await;
    assert!(rig.store.held_order_lines().await.unwrap().is_empty());
    let audit = rig.line_audit().await;
    assert_eq!(audit.len(), 2, "held, then applied: {audit:?}");
    assert!(audit[0].starts_with("woo: sale held") && audit[0].contains("\"NEW-1\""), "{audit:?}");
    assert!(audit[1].starts_with("woo: held sale applied, 2 unit(s) counted"), "{audit:?}");

    // The next reconcile does not put the sold units back on sale, and counts nothing again.
    reconcile(&engine).await;
    rig.wait_settled("NEW-1", 6, 2).await;
    // A later sale of the now-known product is counted at once, as ever.
    rig.shopify.place_order(PlaceOrder::new("NEW-1", 1)).unwrap();
    rig.wait_settled("NEW-1", 5, 3).await;
    assert_eq!(rig.line_audit().await.len(), 2, "only the held line was audited");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_listed_after_start_and_sold_on_the_source_counts_once() {
    let rig = rig().await;
    let (engine, running) = rig.serve().await;
    rig.wait_settled(OLD, 10, 0).await;

    rig.list_everywhere("NEW-2", 6);
    rig.takealot.place_order(PlaceOrder::new("NEW-2", 1)).unwrap();
    // Takealot already shows 5: the sale is recorded once, not taken off its stock a second time.
    rig.wait_settled("NEW-2", 5, 1).await;
    reconcile(&engine).await;
    rig.wait_settled("NEW-2", 5, 1).await;
    assert!(rig.store.held_order_lines().await.unwrap().is_empty());
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_the_catalog_cannot_count_stays_held_and_reported_until_listed() {
    let rig = rig().await;
    let (engine, running) = rig.serve().await;
    rig.wait_settled(OLD, 10, 0).await;

    // Listed on WooCommerce only: the source has no stock of it to move.
    rig.woo.seed_product(SeedProduct::new("GHOST-1", 5, Decimal::from(120))).unwrap();
    rig.woo.place_order(PlaceOrder::new("GHOST-1", 1)).unwrap();
    let held = || async { rig.store.held_order_lines().await.unwrap() };
    assert!(eventually(LIMIT, EVERY, || async { held().await.len() == 1 }).await, "the line is held");
    // The reconcile the held line asked for ran and could not link it: still held, and reported.
    let requests_done = || async { rig.store.sync_requests().await.unwrap().is_empty() };
    assert!(eventually(LIMIT, EVERY, requests_done).await, "the requested reconcile ran");
    reconcile(&engine).await;
    let lines = engine.held_order_lines().await.unwrap();
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!((line.store.as_str(), line.channel_sku.as_str(), line.quantity), ("woo", "GHOST-1", 1));
    assert!(line.listing.is_some() && line.sku.is_none(), "{line:?}");
    assert_eq!(order_units(rig.store.as_ref(), "GHOST-1").await, 0, "nothing counted yet");
    let audit = rig.line_audit().await;
    assert_eq!(audit.len(), 1, "audited once: {audit:?}");
    assert!(audit[0].contains(&format!("order {} line {}", line.order, line.line)), "{audit:?}");

    // Once the source lists it, the next reconcile applies the sale, once.
    rig.takealot.seed_product(SeedProduct::new("GHOST-1", 9, Decimal::from(100))).unwrap();
    rig.shopify.seed_product(SeedProduct::new("GHOST-1", 9, Decimal::from(110))).unwrap();
    reconcile(&engine).await;
    rig.wait_settled("GHOST-1", 8, 1).await;
    assert!(held().await.is_empty());
    reconcile(&engine).await;
    rig.wait_settled("GHOST-1", 8, 1).await;
    running.shutdown().await;
}

/// Two workers (each with its own handle on one store) reconcile at once after a held sale: it is applied
/// once.
async fn two_workers_apply_a_held_line_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let rig = rig_over(a, tempfile::tempdir().unwrap()).await;
    let a = rig.engine("a").await;
    let b = rig.engine_over(b, "b").await;
    reconcile(&a).await;
    b.reload().await.unwrap();
    *rig.slot.write().unwrap() = Some(a.clone());
    rig.list_everywhere("NEW-3", 7);
    rig.woo.place_order(PlaceOrder::new("NEW-3", 1)).unwrap();
    let held = || async { rig.store.held_order_lines().await.unwrap().len() == 1 };
    assert!(eventually(LIMIT, EVERY, held).await, "the line is held");
    // Both read the new listings and try to apply the line; a reconcile that met the other's writes is
    // run again from the stored rows, as the scheduler does.
    let cancel = AtomicBool::new(false);
    let (ra, rb) = tokio::join!(a.full_sync(None, None, &cancel), b.full_sync(None, None, &cancel));
    for (engine, result) in [(&a, ra), (&b, rb)] {
        if result.is_err() {
            reconcile_fresh(engine).await;
        }
    }
    reconcile_fresh(&a).await;
    reconcile_fresh(&b).await;
    rig.wait_settled("NEW-3", 6, 1).await;
    assert!(rig.store.held_order_lines().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_apply_a_held_line_once_memory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    two_workers_apply_a_held_line_once(Arc::clone(&store), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_apply_a_held_line_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.db");
    let a = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b = Arc::new(SqliteStore::open(&path).await.unwrap());
    two_workers_apply_a_held_line_once(a, b).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_apply_a_held_line_once_postgres() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("skipped: DATABASE_URL not set");
        return;
    };
    let schema = format!("stocksync_held_{}", uuid::Uuid::new_v4().simple());
    let mut pg = Vec::new();
    for _ in 0..2 {
        let options = sync_engine::PostgresOptions::new(url.clone()).with_schema(schema.clone());
        pg.push(Arc::new(sync_engine::PostgresStore::connect(options).await.expect("connect to DATABASE_URL")));
    }
    two_workers_apply_a_held_line_once(
        Arc::<sync_engine::PostgresStore>::clone(&pg[0]),
        Arc::<sync_engine::PostgresStore>::clone(&pg[1]),
    )
    .await;
    pg[0].drop_schema().await.expect("drop the test schema");
}
