//! Two engines (workers "a" and "b") over ONE store, with real adapters against the channel-testkit
//! emulators: Takealot as the source of truth and two WooCommerce stores. Each webhook delivery goes to a
//! random engine (and every delivery is sent twice), orders are placed concurrently.
//!
//! - every order is counted exactly once in the ledger and every channel converges to the source's stock
//!   less what was sold, while no two workers ever poll one store at the same time;
//! - worker "a" is killed holding every store lease, claimed pushes and a claimed "sync now": "b" takes
//!   all of them over once their leases end, and orders placed meanwhile are counted once;
//! - the daily reconcile runs once per store, in the lease holder ("b" reads nothing), and after "a"
//!   dies "b" runs the next day's (an injected manual clock);
//! - a push that outlives its claim's lease keeps its claim (the lane renews it): "b" claims none of it.
//!
//! - companies (`sync_engine::Fleet`): two workers share four companies two each; sales delivered to
//!   either worker (each twice) are counted once; worker "a" is killed and "b" takes its companies over
//!   after the lease, applying what was recorded for them meanwhile: nothing lost or counted twice.
//!
//! Each runs over the memory store (two engines sharing one `Arc<MemoryStore>`), SQLite (one file, two
//! handles) and PostgreSQL when `DATABASE_URL` is set (a fresh schema per test, dropped afterwards).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use channel_core::rust_decimal::Decimal;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, ItemOutcome, Listing, OrderCursor, OrderPage, PriceUpdate,
    Shipment, Sku, StockAdjustment, StockUpdate, StoreId, WebhookEvent, WebhookRejection, WebhookRequest,
};
use channel_testkit::sandbox::Duplicates;
use channel_testkit::takealot::{self as tk, TakealotEmulator};
use channel_testkit::woocommerce::{self as wc, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use futures::StreamExt;
use futures::stream::BoxStream;
use sync_engine::store::{ClaimRequest, OutboxFilter, OutboxState, ProductRecord, SyncRequest, WriteOp};
use sync_engine::{MemoryStore, SqliteStore, Store, SyncConfig, SyncEngine};

mod emulator_rig;
mod fleet_rig;
use emulator_rig::{Adapters, connect, eventually, order_units, serve};

const SKUS: [&str; 2] = ["M-1", "M-2"];
const STORES: [&str; 3] = ["takealot", "woo-a", "woo-b"];
/// How often the tests look again while they wait for something.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// The engines webhooks are routed to (one at random per delivery), and the deliveries an engine refused
/// (not 200: the platform would deliver them again).
#[derive(Default)]
struct Receiver {
    engines: RwLock<Vec<SyncEngine>>,
    refused: AtomicU64,
}

type Engines = Arc<Receiver>;

/// Order polls in flight per store, across every worker, and the most seen at once.
#[derive(Debug, Default)]
struct Polls {
    in_flight: Mutex<HashMap<String, usize>>,
    most: Mutex<HashMap<String, usize>>,
    count: Mutex<HashMap<(String, String), usize>>,
    /// Full listing reads (a full reconcile reads every store) per worker.
    reads: Mutex<HashMap<String, usize>>,
    /// How long every stock write takes before it is sent (a slow channel, a large feed).
    push_delay: Mutex<Duration>,
}

struct PollGuard {
    polls: Arc<Polls>,
    store: String,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        if let Some(n) = self.polls.in_flight.lock().unwrap().get_mut(&self.store) {
            *n -= 1;
        }
    }
}

/// A channel that counts its order polls in [`Polls`] and forwards everything to the real adapter.
#[derive(Debug)]
struct Probe {
    inner: Arc<dyn Channel>,
    store: String,
    worker: String,
    polls: Arc<Polls>,
}

#[async_trait]
impl Channel for Probe {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn test_connection(&self) -> channel_core::Result<AccountIdentity> {
        self.inner.test_connection().await
    }
    fn listings(&self) -> BoxStream<'_, channel_core::Result<Listing>> {
        *self.polls.reads.lock().unwrap().entry(self.worker.clone()).or_default() += 1;
        self.inner.listings()
    }
    async fn set_stock(&self, updates: &[StockUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        let delay = *self.polls.push_delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.inner.set_stock(updates).await
    }
    async fn adjust_stock(&self, adjustments: &[StockAdjustment]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.inner.adjust_stock(adjustments).await
    }
    async fn set_prices(&self, updates: &[PriceUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.inner.set_prices(updates).await
    }
    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, channel_core::Result<OrderPage>> {
        {
            let mut in_flight = self.polls.in_flight.lock().unwrap();
            let n = in_flight.entry(self.store.clone()).or_default();
            *n += 1;
            let mut most = self.polls.most.lock().unwrap();
            let m = most.entry(self.store.clone()).or_default();
            *m = (*m).max(*n);
            *self.polls.count.lock().unwrap().entry((self.store.clone(), self.worker.clone())).or_default() += 1;
        }
        let guard = PollGuard { polls: Arc::clone(&self.polls), store: self.store.clone() };
        Box::pin(self.inner.orders_since(cursor).map(move |page| {
            let _held = &guard;
            page
        }))
    }
    async fn export_tracking(&self, shipment: &Shipment) -> channel_core::Result<()> {
        self.inner.export_tracking(shipment).await
    }
    fn verify_webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent, WebhookRejection> {
        self.inner.verify_webhook(request)
    }
}

struct Rig {
    takealot: TakealotEmulator,
    woo: [WooCommerceEmulator; 2],
    engines: Engines,
    polls: Arc<Polls>,
}

async fn receive(
    State(engines): State<Engines>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    static NEXT: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let engine = {
        let engines = engines.engines.read().unwrap();
        if engines.is_empty() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        // xorshift: a random engine per delivery, without a dependency.
        let mut x = NEXT.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        NEXT.store(x, Ordering::Relaxed);
        engines[usize::try_from(x % engines.len() as u64).unwrap()].clone()
    };
    let mut request = WebhookRequest::new(body);
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            request = request.header(name.as_str(), value);
        }
    }
    let outcome = engine.handle_webhook(&StoreId::new(store), &request).await;
    if outcome.http_status() != 200 {
        engines.refused.fetch_add(1, Ordering::Relaxed);
    }
    StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Emulators seeded with `units` of each SKU at the source, connections and products in `store`, and a
/// webhook receiver. Every webhook is delivered twice.
async fn rig(store: &dyn Store, units: i64) -> Rig {
    let mut tk_config = tk::TakealotConfig::default();
    tk_config.rate_limit = None;
    tk_config.batch_processing_delay = Duration::from_millis(5);
    tk_config.webhooks.duplicates = Duplicates::Always;
    let takealot = TakealotEmulator::start(tk_config).await.unwrap();
    let mut woo = Vec::new();
    for _ in 0..2 {
        let mut config = wc::WooCommerceConfig::default();
        config.webhooks.duplicates = Duplicates::Always;
        woo.push(WooCommerceEmulator::start(config).await.unwrap());
    }
    let woo: [WooCommerceEmulator; 2] = woo.try_into().ok().unwrap();
    for sku in SKUS {
        takealot.seed_product(SeedProduct::new(sku, units, Decimal::from(100))).unwrap();
        for w in &woo {
            w.seed_product(SeedProduct::new(sku, 3, Decimal::from(120))).unwrap();
        }
    }
    connect(store, "takealot", ChannelKind::Takealot, true).await;
    connect(store, "woo-a", ChannelKind::Woocommerce, false).await;
    connect(store, "woo-b", ChannelKind::Woocommerce, false).await;
    let now = jiff::Timestamp::now();
    for sku in SKUS {
        let product = ProductRecord::simple(Sku::new(sku).unwrap(), now);
        store.commit(WriteOp::PutProduct(product).into()).await.unwrap();
    }
    let engines: Engines = Arc::default();
    let base = serve(Router::new().route("/webhooks/{store}", post(receive)).with_state(Arc::clone(&engines))).await;
    takealot
        .register_webhook(RegisterWebhook::new(format!("{base}/webhooks/takealot"), takealot.webhook_secret()))
        .unwrap();
    for (w, id) in woo.iter().zip(["woo-a", "woo-b"]) {
        w.register_webhook(RegisterWebhook::new(format!("{base}/webhooks/{id}"), w.webhook_secret())).unwrap();
    }
    Rig { takealot, woo, engines, polls: Arc::default() }
}

impl Rig {
    /// An engine named `worker` over `store` (not started).
    async fn engine(&self, worker: &str, store: Arc<dyn Store>) -> SyncEngine {
        self.engine_with(worker, store, None, Duration::from_secs(1)).await
    }

    /// An engine named `worker` over `store` (not started), on `clock` if given.
    async fn engine_with(
        &self,
        worker: &str,
        store: Arc<dyn Store>,
        clock: Option<Arc<sync_engine::clock::ManualClock>>,
        lease: Duration,
    ) -> SyncEngine {
        let mut config = SyncConfig::default();
        config.worker = worker.into();
        config.poll_interval = Duration::from_millis(500);
        config.tick = Duration::from_millis(100);
        config.base_backoff = Duration::from_millis(50);
        config.max_backoff = Duration::from_millis(500);
        config.max_attempts = 40;
        config.refresh_interval = Duration::from_secs(3600);
        // Short leases where a dead worker's stores, pushes and sync requests are to be taken over quickly.
        config.lease = lease;
        let probe = |store: &str, inner: Arc<dyn Channel>| -> Arc<dyn Channel> {
            Arc::new(Probe { inner, store: store.into(), worker: worker.into(), polls: Arc::clone(&self.polls) })
        };
        let mut builder = SyncEngine::builder(store);
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        builder
            .config(config)
            .channel(StoreId::new("takealot"), probe("takealot", Adapters::fast().takealot(&self.takealot)))
            .channel(StoreId::new("woo-a"), probe("woo-a", Adapters::fast().woo(&self.woo[0])))
            .channel(StoreId::new("woo-b"), probe("woo-b", Adapters::fast().woo(&self.woo[1])))
            .build()
            .await
            .unwrap()
    }

    fn route_to(&self, engines: &[&SyncEngine]) {
        *self.engines.engines.write().unwrap() = engines.iter().map(|e| (*e).clone()).collect();
    }

    fn place(&self, channel: usize, sku: &str) -> bool {
        let order = PlaceOrder::new(sku, 1);
        match channel {
            0 => self.takealot.place_order(order).is_ok(),
            n => self.woo[n - 1].place_order(order).is_ok(),
        }
    }

    fn shows(&self, sku: &str) -> [Option<i64>; 3] {
        [self.takealot.stock(sku).unwrap(), self.woo[0].stock(sku).unwrap(), self.woo[1].stock(sku).unwrap()]
    }

    fn most_polls_at_once(&self) -> usize {
        self.polls.most.lock().unwrap().values().copied().max().unwrap_or(0)
    }

    fn reads_by(&self, worker: &str) -> usize {
        self.polls.reads.lock().unwrap().get(worker).copied().unwrap_or(0)
    }

    fn polls_by(&self, worker: &str) -> usize {
        self.polls.count.lock().unwrap().iter().filter(|((_, w), _)| w == worker).map(|(_, n)| *n).sum()
    }
}

/// Place `orders` single-unit orders round-robin over the three channels and both SKUs, `per_wave` at a time
/// concurrently. Returns units sold per SKU.
async fn sell(rig: &Arc<Rig>, orders: usize, per_wave: usize, gap: Duration) -> BTreeMap<&'static str, i64> {
    let mut sold: BTreeMap<&'static str, i64> = SKUS.iter().map(|s| (*s, 0)).collect();
    let mut i = 0;
    while i < orders {
        let wave: Vec<_> = (i..orders.min(i + per_wave))
            .map(|n| {
                let rig = Arc::clone(rig);
                let sku = SKUS[n % 2];
                tokio::task::spawn_blocking(move || (sku, rig.place((n / 2) % 3, sku)))
            })
            .collect();
        for task in wave {
            let (sku, ok) = task.await.unwrap();
            if ok {
                *sold.get_mut(sku).unwrap() += 1;
            }
        }
        i += per_wave;
        tokio::time::sleep(gap).await;
    }
    sold
}

/// Wait until every channel shows `want(sku)`, or `limit` passes.
async fn converge(rig: &Rig, want: impl Fn(&str) -> i64 + Sync, limit: Duration) -> bool {
    let want = &want;
    eventually(
        limit,
        CHECK_EVERY,
        || async move { SKUS.iter().all(|sku| rig.shows(sku) == [Some(want(sku).max(0)); 3]) },
    )
    .await
}

/// Every sale is counted exactly once: never more (checked at every step), and all of them once the last
/// webhooks and polls are in.
async fn assert_counted_once(store: &dyn Store, sold: &BTreeMap<&str, i64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for sku in SKUS {
        loop {
            let counted = order_units(store, sku).await;
            assert!(counted <= sold[sku], "{sku}: {counted} units counted but {} sold: counted twice", sold[sku]);
            if counted == sold[sku] {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{sku}: only {counted} of {} units counted", sold[sku]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Two handles on one store, and how to clean it up.
struct Backend {
    name: &'static str,
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    /// Worker a's own SQLite handle, closed when "a" dies.
    sqlite_a: Option<SqliteStore>,
    #[cfg(feature = "postgres")]
    pg: Vec<Arc<sync_engine::PostgresStore>>,
}

impl Backend {
    fn memory() -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Self {
            name: "memory",
            a: Arc::clone(&store),
            b: store,
            _dir: None,
            sqlite_a: None,
            #[cfg(feature = "postgres")]
            pg: Vec::new(),
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let sqlite_a = SqliteStore::open(&path).await.unwrap();
        let a: Arc<dyn Store> = Arc::new(sqlite_a.clone());
        let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        Self {
            name: "sqlite",
            a,
            b,
            _dir: Some(dir),
            sqlite_a: Some(sqlite_a),
            #[cfg(feature = "postgres")]
            pg: Vec::new(),
        }
    }

    /// Two connections to a fresh schema of `DATABASE_URL`; `None` (with a notice) when it is unset.
    async fn postgres() -> Option<Self> {
        #[cfg(feature = "postgres")]
        {
            let Ok(url) = std::env::var("DATABASE_URL") else {
                println!("skipped: DATABASE_URL not set");
                return None;
            };
            let schema = format!("stocksync_mw_{}", uuid::Uuid::new_v4().simple());
            let mut pg = Vec::new();
            for _ in 0..2 {
                let options = sync_engine::PostgresOptions::new(url.clone()).with_schema(schema.clone());
                pg.push(Arc::new(sync_engine::PostgresStore::connect(options).await.expect("connect to DATABASE_URL")));
            }
            let a: Arc<dyn Store> = Arc::<sync_engine::PostgresStore>::clone(&pg[0]);
            let b: Arc<dyn Store> = Arc::<sync_engine::PostgresStore>::clone(&pg[1]);
            Some(Self { name: "postgres", a, b, _dir: None, sqlite_a: None, pg })
        }
        #[cfg(not(feature = "postgres"))]
        {
            println!("skipped: built without the postgres feature");
            None
        }
    }

    /// Worker "a"'s process died: its connections close, so nothing it had begun holds a lock. (Aborting its
    /// tasks in-process drops a transaction without sending its rollback until the connection is reused.)
    async fn a_died(&self) {
        if let Some(store) = &self.sqlite_a {
            store.close().await;
        }
        #[cfg(feature = "postgres")]
        if let Some(store) = self.pg.first() {
            store.close().await;
        }
    }

    async fn cleanup(self) {
        #[cfg(feature = "postgres")]
        if let Some(store) = self.pg.get(1) {
            store.drop_schema().await.expect("drop the test schema");
        }
    }
}

/// Orders placed concurrently on three channels while webhooks go to two workers at random: each order
/// counted once, every channel at the source's stock less what was sold, one poller per store at a time.
async fn two_workers_share_the_work(backend: Backend) {
    let units = 40;
    let rig = Arc::new(rig(backend.a.as_ref(), units).await);
    // The default 30 s lease: a push whose claim were left behind (a worker tripping over another's
    // writes) would stall past the convergence limit.
    let lease = SyncConfig::default().lease;
    let a = rig.engine_with("a", Arc::clone(&backend.a), None, lease).await;
    let summary = a.sync_now().finish().await.unwrap();
    assert_eq!(summary.failed, 0, "{}: {summary:?}", backend.name);
    let b = rig.engine_with("b", Arc::clone(&backend.b), None, lease).await;
    rig.route_to(&[&a, &b]);
    let (run_a, run_b) = (a.start(), b.start());
    // Leases: every store is held by exactly one worker.
    let leases_settled = eventually(Duration::from_secs(5), CHECK_EVERY, || async {
        let (la, lb) = (run_a.leased_stores(), run_b.leased_stores());
        la.len() + lb.len() == STORES.len()
    })
    .await;
    assert!(leases_settled, "{}: leases a {:?}, b {:?}", backend.name, run_a.leased_stores(), run_b.leased_stores());
    let (la, lb) = (run_a.leased_stores(), run_b.leased_stores());
    assert!(la.iter().all(|s| !lb.contains(s)), "{}: a store leased by both workers: {la:?} {lb:?}", backend.name);
    let sold = sell(&rig, 60, 10, Duration::from_millis(40)).await;
    let disjoint = {
        let (la, lb) = (run_a.leased_stores(), run_b.leased_stores());
        la.iter().all(|s| !lb.contains(s))
    };
    assert!(disjoint, "{}: a store leased by both workers", backend.name);
    let converged = converge(&rig, |sku| units - sold[sku], Duration::from_secs(20)).await;
    assert!(
        converged,
        "{}: did not converge: sold {sold:?}, shows {:?} / {:?}",
        backend.name,
        rig.shows("M-1"),
        rig.shows("M-2")
    );
    assert_counted_once(backend.a.as_ref(), &sold).await;
    // A worker whose cached rows another worker made stale retries from fresh rows: no 503 storm.
    let refused = rig.engines.refused.load(Ordering::Relaxed);
    assert_eq!(refused, 0, "{}: webhooks refused by the engines", backend.name);
    assert!(rig.polls_by("a") + rig.polls_by("b") > 0, "the lease holders polled");
    assert_eq!(rig.most_polls_at_once(), 1, "{}: two workers polled one store at the same time", backend.name);
    let counted_by_b = order_units(backend.b.as_ref(), "M-1").await;
    assert_eq!(counted_by_b, sold["M-1"], "both handles see one ledger");
    run_a.shutdown().await;
    // A released lease is taken over at once (no wait for it to run out).
    let taken =
        eventually(Duration::from_secs(3), CHECK_EVERY, || async { run_b.leased_stores().len() == STORES.len() }).await;
    assert!(taken, "{}: b did not take the released leases: {:?}", backend.name, run_b.leased_stores());
    run_b.shutdown().await;
    backend.cleanup().await;
}

/// Worker "a" dies holding every store lease, claimed pushes and a claimed "sync now". "b" takes them
/// over when the leases run out: the pushes are made, the sync request runs and is completed, orders
/// placed while "a" was gone are polled in, counted once.
async fn a_dead_worker_is_taken_over(backend: Backend) {
    let units = 30;
    let rig = Arc::new(rig(backend.a.as_ref(), units).await);
    let a = rig.engine("a", Arc::clone(&backend.a)).await;
    a.sync_now().finish().await.unwrap();
    rig.route_to(&[&a]);
    let run_a = a.start();
    assert!(
        eventually(Duration::from_secs(5), CHECK_EVERY, || async { run_a.leased_stores().len() == STORES.len() }).await,
        "{}: a took every lease",
        backend.name
    );
    let mut sold = sell(&rig, 12, 6, Duration::from_millis(20)).await;

    // "a" dies mid-work: its tasks stop without releasing anything ...
    run_a.abort();
    rig.route_to(&[]);
    backend.a_died().await;
    drop(a);
    // ... holding a manual adjustment's pushes it had claimed and a "sync now" it was running (queued here
    // through "b", which is not started yet, and claimed in a's name).
    let b = rig.engine("b", Arc::clone(&backend.b)).await;
    b.adjust_stock(&Sku::new("M-2").unwrap(), -5, "damaged in the warehouse").await.unwrap();
    let now = jiff::Timestamp::now();
    let lease = now + jiff::SignedDuration::from_secs(1);
    // (Pushes of a lane that "a" was sending when it died stay claimed; the rest are claimed now.)
    backend.b.claim_outbox(&ClaimRequest::new("a", 100, now, lease)).await.unwrap();
    let mut claimed = OutboxFilter::default();
    claimed.state = Some(OutboxState::Claimed);
    let held_by_a =
        backend.b.outbox(&claimed).await.unwrap().iter().filter(|i| i.claimed_by.as_deref() == Some("a")).count();
    assert!(held_by_a > 0, "{}: a holds claimed pushes", backend.name);
    let request = SyncRequest::new(StoreId::new("woo-a"), Some("seller".into()), now);
    backend.b.commit(WriteOp::RequestSync(request).into()).await.unwrap();
    let requests = backend.b.claim_sync_requests(&ClaimRequest::new("a", 10, now, lease)).await.unwrap();
    assert_eq!(requests.len(), 1);
    // Orders keep coming while no engine takes webhooks (the platforms deliver them again later, and
    // polling by the new lease holder finds them too).
    for (sku, n) in sell(&rig, 8, 8, Duration::ZERO).await {
        *sold.get_mut(sku).unwrap() += n;
    }
    rig.route_to(&[&b]);
    let run_b = b.start();

    let took_leases =
        eventually(Duration::from_secs(5), CHECK_EVERY, || async { run_b.leased_stores().len() == STORES.len() }).await;
    assert!(took_leases, "{}: b took over a's leases: {:?}", backend.name, run_b.leased_stores());
    let store = Arc::clone(&backend.b);
    let requests_done =
        eventually(Duration::from_secs(15), CHECK_EVERY, || async { store.sync_requests().await.unwrap().is_empty() })
            .await;
    assert!(requests_done, "{}: b ran and completed a's sync request", backend.name);
    let pushes_done = eventually(Duration::from_secs(10), CHECK_EVERY, || async {
        let mut claimed = OutboxFilter::default();
        claimed.state = Some(OutboxState::Claimed);
        store.outbox(&claimed).await.unwrap().iter().all(|i| i.claimed_by.as_deref() != Some("a"))
    })
    .await;
    assert!(pushes_done, "{}: a's claimed pushes were taken over", backend.name);
    let adjusted: BTreeMap<&str, i64> = [("M-1", 0), ("M-2", 5)].into_iter().collect();
    let converged = converge(&rig, |sku| units - sold[sku] - adjusted[sku], Duration::from_secs(15)).await;
    assert!(
        converged,
        "{}: did not converge: sold {sold:?}, shows {:?} / {:?}",
        backend.name,
        rig.shows("M-1"),
        rig.shows("M-2")
    );
    assert_counted_once(backend.b.as_ref(), &sold).await;
    let polled = eventually(Duration::from_secs(10), CHECK_EVERY, || async { rig.polls_by("b") > 0 }).await;
    assert!(polled, "{}: b polls the stores it took over", backend.name);
    assert_eq!(rig.most_polls_at_once(), 1, "{}: two workers polled one store at the same time", backend.name);
    let drained = eventually(Duration::from_secs(10), CHECK_EVERY, || async {
        store.outbox(&OutboxFilter::default()).await.unwrap().is_empty()
    })
    .await;
    let left = backend.b.outbox(&OutboxFilter::default()).await.unwrap();
    assert!(drained, "{}: the outbox drained, nothing dead-lettered: {left:?}", backend.name);
    run_b.shutdown().await;
    backend.cleanup().await;
}

/// A push that outlives its claim's lease (a whole feed, a slow channel) keeps its claim: the lane renews it
/// while the push is in flight, so no other worker claims the same items and sends them again.
async fn a_long_push_keeps_its_claim(backend: Backend) {
    let rig = Arc::new(rig(backend.a.as_ref(), 20).await);
    let lease = Duration::from_millis(1500);
    let a = rig.engine_with("a", Arc::clone(&backend.a), None, lease).await;
    a.sync_now().finish().await.unwrap();
    // Every stock write now takes three leases.
    *rig.polls.push_delay.lock().unwrap() = lease * 3;
    a.adjust_stock(&Sku::new("M-1").unwrap(), -2, "recount").await.unwrap();
    let push = tokio::spawn({
        let a = a.clone();
        async move { a.run_outbox_once().await }
    });
    let store = Arc::clone(&backend.b);
    let claimed = eventually(Duration::from_secs(5), CHECK_EVERY, || async {
        let items = store.outbox(&OutboxFilter::default()).await.unwrap();
        items.len() == 3 && items.iter().all(|i| i.claimed_by.as_deref() == Some("a"))
    })
    .await;
    assert!(claimed, "{}: a claimed its three pushes", backend.name);
    // Worker "b" tries to claim them all along.
    let mut taken = Vec::new();
    while !push.is_finished() {
        let now = jiff::Timestamp::now();
        let claim = ClaimRequest::new("b", 100, now, now + jiff::SignedDuration::from_secs(60));
        taken.extend(backend.b.claim_outbox(&claim).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = push.await.unwrap().unwrap();
    assert!(taken.is_empty(), "{}: b claimed pushes in flight: {taken:?}", backend.name);
    assert_eq!((report.claimed, report.pushed), (3, 3), "{}: {report:?}", backend.name);
    assert_eq!(rig.shows("M-1"), [Some(18); 3], "{}", backend.name);
    let left = backend.b.outbox(&OutboxFilter::default()).await.unwrap();
    assert!(left.is_empty(), "{}: every push finished under its own claim: {left:?}", backend.name);
    backend.cleanup().await;
}

/// The daily reconcile runs once per store, in the worker holding its lease; when that worker dies, the
/// one that takes its leases over runs the next day's.
async fn the_daily_reconcile_runs_in_the_lease_holder(backend: Backend) {
    let rig = Arc::new(rig(backend.a.as_ref(), 20).await);
    // The clock moves in steps shorter than a lease (1 s), as time does, except where a test says otherwise.
    let day: jiff::Timestamp = "2026-11-23T01:59:59.5Z".parse().unwrap();
    let clock = Arc::new(sync_engine::clock::ManualClock::new(day));
    let a = rig.engine_with("a", Arc::clone(&backend.a), Some(Arc::clone(&clock)), Duration::from_secs(1)).await;
    a.sync_now().finish().await.unwrap();
    rig.route_to(&[&a]);
    let run_a = a.start();
    assert!(
        eventually(Duration::from_secs(5), CHECK_EVERY, || async { run_a.leased_stores().len() == STORES.len() }).await,
        "{}: a took every lease",
        backend.name
    );
    let b = rig.engine_with("b", Arc::clone(&backend.b), Some(Arc::clone(&clock)), Duration::from_secs(1)).await;
    let run_b = b.start();
    let cursor = |at: &'static str| {
        let store = Arc::clone(&backend.b);
        async move {
            for id in STORES {
                let value = store.cursor(&StoreId::new(id), "daily").await.unwrap();
                if value.as_deref() != Some(at) {
                    return false;
                }
            }
            true
        }
    };
    // The first sight of a store counts the day that passed as done: no reconcile at start.
    assert!(
        eventually(Duration::from_secs(5), CHECK_EVERY, || cursor("2026-11-22T02:00:00Z")).await,
        "{}",
        backend.name
    );
    let (a_reads, b_reads) = (rig.reads_by("a"), rig.reads_by("b"));
    clock.set("2026-11-23T02:00:00.2Z".parse().unwrap());
    let done = eventually(Duration::from_secs(10), CHECK_EVERY, || cursor("2026-11-23T02:00:00Z")).await;
    assert!(done, "{}: the day's reconcile of every store was recorded", backend.name);
    assert_eq!(rig.reads_by("a"), a_reads + STORES.len(), "{}: a reconciled its stores once", backend.name);
    assert_eq!(rig.reads_by("b"), b_reads, "{}: b holds no lease and reconciled nothing", backend.name);

    // "a" dies; its leases run out (the clock moves past them) and "b" takes them and the next day over.
    run_a.abort();
    backend.a_died().await;
    drop(a);
    clock.advance(jiff::SignedDuration::from_secs(2));
    let b_holds = || async { run_b.leased_stores().len() == STORES.len() };
    assert!(eventually(Duration::from_secs(5), CHECK_EVERY, b_holds).await, "{}: b took over a's leases", backend.name);
    clock.set("2026-11-24T01:59:59.5Z".parse().unwrap());
    assert!(eventually(Duration::from_secs(5), CHECK_EVERY, b_holds).await, "{}: b renewed its leases", backend.name);
    assert_eq!(rig.reads_by("b"), b_reads, "{}: the day's reconcile is not run again", backend.name);
    clock.set("2026-11-24T02:00:00.2Z".parse().unwrap());
    let next = eventually(Duration::from_secs(10), CHECK_EVERY, || cursor("2026-11-24T02:00:00Z")).await;
    assert!(next, "{}: b ran the next day's reconcile", backend.name);
    assert_eq!(rig.reads_by("b"), b_reads + STORES.len(), "{}: once", backend.name);
    run_b.shutdown().await;
    backend.cleanup().await;
}

/// The lease of the companies scenario, on its manual clock: it runs out only when the test moves the
/// clock, so a worker's late rounds on shared cores never cost it a company.
const COMPANY_LEASE: Duration = Duration::from_secs(30);

/// Move the manual clock `secs` on in steps of a third of [`COMPANY_LEASE`], each time waiting (without a
/// deadline that matters: generous) until `worker` has renewed every company lease it holds, as it does
/// while time passes.
async fn pass_renewing(clock: &sync_engine::ManualClock, store: &Arc<dyn Store>, worker: &str, secs: i64) {
    use sync_engine::Clock as _;
    let step = i64::try_from(COMPANY_LEASE.as_secs() / 3).unwrap();
    let mut left = secs;
    while left > 0 {
        clock.advance(jiff::SignedDuration::from_secs(step.min(left)));
        left -= step;
        let half = clock.now() + jiff::SignedDuration::from_secs(i64::try_from(COMPANY_LEASE.as_secs() / 2).unwrap());
        let renewed = || async {
            let leases = store.company_leases().await.unwrap();
            leases.iter().filter(|l| l.holder == worker).all(|l| l.until > half)
        };
        assert!(eventually(Duration::from_secs(60), CHECK_EVERY, renewed).await, "{worker} renewed its leases");
    }
}

/// Two workers share four companies (each with a source and a shop, all selling SKU `A`); sales are
/// delivered to both workers. Worker "a" is killed; "b" takes its companies over after the lease and
/// applies what it recorded for them meanwhile: every sale counted once, in its own company. The leases
/// run on a manual clock; the waits are for conditions, with generous bounds.
async fn companies_are_shared_and_taken_over(backend: Backend) {
    const N: usize = 4;
    let manual = Arc::new(sync_engine::ManualClock::new(sync_engine::testing::t0()));
    let clock: Arc<dyn sync_engine::Clock> = Arc::clone(&manual) as Arc<dyn sync_engine::Clock>;
    let config = fleet_rig::config(Duration::from_millis(100), COMPANY_LEASE);
    let mut f = fleet_rig::Companies::create(Arc::clone(&backend.a), clock, config, N).await;
    let (a, b) = (f.fleet("a", Arc::clone(&backend.a)), f.fleet("b", Arc::clone(&backend.b)));
    let (run_a, run_b) = (a.start(), b.start());
    let shared =
        eventually(Duration::from_secs(60), CHECK_EVERY, || async { fleet_rig::held_as(&[&a, &b], N, &[2, 2]) }).await;
    assert!(shared, "{}: a {:?}, b {:?}", backend.name, a.held(), b.held());
    let mut sold: BTreeMap<usize, i64> = (1..=N).map(|n| (n, 0)).collect();
    let mut order = 5000;
    for round in 0..2 {
        for n in 1..=N {
            order += 1;
            let (to, other) = if (round + n) % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let (outcome, request) = f.sell(to, n, &order.to_string()).await;
            assert_eq!(outcome.http_status(), 200, "{}: {outcome:?}", backend.name);
            let again = other.handle_webhook(&fleet_rig::sid(&format!("shop-{n}")), &request).await;
            assert_eq!(again.http_status(), 200, "{}: {again:?}", backend.name);
            *sold.get_mut(&n).unwrap() += 1;
        }
    }
    // "a" dies holding its companies; sales go on, delivered to "b" only.
    run_a.abort();
    backend.a_died().await;
    // (Its handle on the store is closed: look through b's.)
    f.store = Arc::clone(&backend.b);
    for n in 1..=N {
        order += 1;
        let (outcome, _) = f.sell(&b, n, &order.to_string()).await;
        assert_eq!(outcome.http_status(), 200, "{}: {outcome:?}", backend.name);
        *sold.get_mut(&n).unwrap() += 1;
    }
    // a's leases and heartbeat run out as the clock passes them; b renews its own on the way.
    pass_renewing(&manual, &backend.b, "b", i64::try_from(COMPANY_LEASE.as_secs()).unwrap() + 1).await;
    let took = eventually(Duration::from_secs(60), CHECK_EVERY, || async { fleet_rig::held_as(&[&b], N, &[N]) }).await;
    assert!(took, "{}: b took a's companies over: {:?}", backend.name, b.held());
    for n in 1..=N {
        let want = sold[&n];
        let counted = eventually(Duration::from_secs(60), CHECK_EVERY, || async { f.sold_in(n).await == want }).await;
        assert!(counted, "{}: co-{n}: {} counted, {want} sold", backend.name, f.sold_in(n).await);
        let source = format!("tk-{n}");
        let shown =
            eventually(Duration::from_secs(60), CHECK_EVERY, || async { f.shows(&source) == Some(10 - want) }).await;
        assert!(shown, "{}: co-{n}'s source shows {:?}", backend.name, f.shows(&source));
    }
    run_b.shutdown().await;
    for n in 1..=N {
        assert_eq!(f.sold_in(n).await, sold[&n], "{}: co-{n} never counted twice", backend.name);
        let inbox = backend.b.for_company(&fleet_rig::co(n)).inbox(10).await.unwrap();
        assert!(inbox.is_empty(), "{}: co-{n}'s inbox applied: {inbox:?}", backend.name);
    }
    backend.cleanup().await;
}

/// One test per backend for a scenario: memory and SQLite always, PostgreSQL when `DATABASE_URL` is set
/// (`Backend::postgres` prints why it skipped otherwise).
macro_rules! on_every_backend {
    ($scenario:ident: $memory:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $memory() {
            $scenario(Backend::memory()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            $scenario(Backend::sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            if let Some(backend) = Backend::postgres().await {
                $scenario(backend).await;
            }
        }
    };
}

on_every_backend!(two_workers_share_the_work:
    two_workers_over_one_memory_store, two_workers_over_one_sqlite_file, two_workers_over_one_postgres_schema);
on_every_backend!(a_dead_worker_is_taken_over:
    a_dead_worker_is_taken_over_memory, a_dead_worker_is_taken_over_sqlite, a_dead_worker_is_taken_over_postgres);
on_every_backend!(a_long_push_keeps_its_claim:
    a_long_push_keeps_its_claim_memory, a_long_push_keeps_its_claim_sqlite, a_long_push_keeps_its_claim_postgres);
on_every_backend!(the_daily_reconcile_runs_in_the_lease_holder:
    the_daily_reconcile_runs_in_the_lease_holder_memory,
    the_daily_reconcile_runs_in_the_lease_holder_sqlite,
    the_daily_reconcile_runs_in_the_lease_holder_postgres);
on_every_backend!(companies_are_shared_and_taken_over:
    companies_are_shared_and_taken_over_memory,
    companies_are_shared_and_taken_over_sqlite,
    companies_are_shared_and_taken_over_postgres);
