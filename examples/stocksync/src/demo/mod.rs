//! `stocksync demo`: the emulators in-process, an SQLite store in a temporary directory, a full sync with a
//! progress bar, concurrent orders on several channels, and a table of every SKU on every channel. Exits 0
//! only when everything converged: the source shows its starting stock less exactly what was sold, and every
//! channel shows what the source allows.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channel_core::{Sku, StoreId};
use sync_engine::store::{Component, ProductRecord};
use sync_engine::{
    Connections, CredentialCipher, SqliteStore, Store, SyncConfig, SyncEngine, SystemClock, WriteBatch, WriteOp,
};
use tokio::task::JoinHandle;

use self::emulators::Emulators;
use self::factory::DemoFactory;
use self::orders::Sales;

mod emulators;
mod factory;
mod orders;
mod report;

/// Arguments of `stocksync demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Orders to place concurrently across the channels.
    #[arg(long, default_value_t = 60)]
    orders: usize,
    /// Seconds to wait for convergence after the last order.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

/// The simple products, their stock at the source (Takealot leadtime), and which other channels list them.
const CATALOG: &[(&str, i64)] = &[("MUG-RED", 40), ("MUG-BLUE", 30), ("TEE-S", 25), ("TEE-M", 25), ("CAP", 20)];
/// The bundle: one red and one blue mug.
const BUNDLE: (&str, &[(&str, u32)]) = ("MUG-PAIR", &[("MUG-RED", 1), ("MUG-BLUE", 1)]);
/// A channel following the source: its store, its column in the table, its listings (with stale starting
/// quantities the full sync corrects) and their price.
pub(super) struct Follower {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) listings: &'static [(&'static str, i64)],
    pub(super) price: u32,
}

impl Follower {
    /// Whether it lists `sku`.
    pub(super) fn lists(&self, sku: &str) -> bool {
        self.listings.iter().any(|(s, _)| *s == sku)
    }
}

/// The channels following Takealot, in the table's order.
const FOLLOWERS: &[Follower] = &[
    Follower {
        id: "woo",
        title: "WooCommerce",
        listings: &[("MUG-RED", 5), ("MUG-BLUE", 99), ("TEE-S", 0), ("MUG-PAIR", 3)],
        price: 170,
    },
    Follower {
        id: "shopify",
        title: "Shopify",
        listings: &[("MUG-RED", 12), ("TEE-S", 7), ("TEE-M", 0), ("MUG-PAIR", 50)],
        price: 160,
    },
    // Merchant-fulfilled listings; Amazon's FBA listing is [`AMAZON_FBA`].
    Follower { id: "amazon", title: "Amazon", listings: &[("MUG-RED", 2), ("TEE-M", 40), ("MUG-PAIR", 9)], price: 12 },
    Follower {
        id: "ebay",
        title: "eBay",
        listings: &[("MUG-RED", 7), ("MUG-BLUE", 3), ("TEE-M", 11), ("MUG-PAIR", 0)],
        price: 18,
    },
    // Magento shows the salable quantity: the source's less the open orders' reservations.
    Follower {
        id: "magento",
        title: "Magento",
        listings: &[("MUG-BLUE", 14), ("TEE-S", 2), ("CAP", 9), ("MUG-PAIR", 6)],
        price: 165,
    },
];
/// Amazon's FBA listing: stock held in Amazon's fulfilment centres, channel-held and read-only.
const AMAZON_FBA: (&str, i64) = ("CAP", 30);

/// The platforms stocksync knows that the demo has no emulator for.
const NOT_YET: &str = "Etsy, TikTok Shop, Veeqo, Shopamine";

/// The demo's stores, one per emulator, Takealot (the source) first.
fn stores() -> impl Iterator<Item = &'static str> {
    std::iter::once("takealot").chain(FOLLOWERS.iter().map(|f| f.id))
}

fn fail(message: impl std::fmt::Display) -> String {
    message.to_string()
}

/// Run the demo.
pub(crate) fn run(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stocksync demo: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("stocksync demo: {e}");
            ExitCode::from(1)
        }
    }
}

/// The demo, step by step; true when everything converged.
async fn demo(args: DemoArgs) -> Result<bool, String> {
    let started = Instant::now();
    let titles: Vec<&str> = FOLLOWERS.iter().map(|f| f.title).collect();
    let followers = match titles.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    println!("stocksync demo: Takealot is the source of truth; {followers} follow.");
    println!("  not in this demo yet: {NOT_YET} (no emulators yet)");
    let emulators = Arc::new(Emulators::start().await?);
    emulators.seed()?;
    println!("{}", emulators.describe());
    let dir = tempfile::tempdir().map_err(fail)?;
    let store = open_store(dir.path()).await?;
    let connections = connect(&store, &emulators).await?;
    let engine = build_engine(&store, &connections).await?;
    let server = serve_webhooks(&engine, &emulators).await?;
    full_sync(&engine).await?;
    let running = engine.start();
    let sales = orders::place_concurrently(&emulators, args.orders).await?;
    println!("orders: {} placed, {} refused by the channels (out of stock there)", sales.placed, sales.refused);
    let mut ok = converge(&emulators, &sales, Duration::from_secs(args.wait)).await;
    running.shutdown().await;
    server.abort();
    report::print_table(&emulators, &sales);
    ok &= report::check_channel_held(&emulators, sales.fba_sold);
    let movements = report::ledger_movements(store.as_ref(), &engine).await?;
    report::print_summary(&sales, movements, ok, started);
    Ok(ok)
}

/// An SQLite store in `dir` holding the catalog: the simple products and the bundle.
async fn open_store(dir: &Path) -> Result<Arc<dyn Store>, String> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("stocksync.db")).await.map_err(fail)?);
    let now = jiff::Timestamp::now();
    let components = BUNDLE
        .1
        .iter()
        .map(|(s, q)| Sku::new(s).map(|sku| Component { sku, quantity: i64::from(*q) }))
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    let bundle = ProductRecord::bundle(Sku::new(BUNDLE.0).map_err(fail)?, components, now);
    let mut batch = WriteBatch::new();
    for (sku, _) in CATALOG {
        batch.push(WriteOp::PutProduct(ProductRecord::simple(Sku::new(sku).map_err(fail)?, now)));
    }
    batch.push(WriteOp::PutProduct(bundle));
    store.commit(batch).await.map_err(fail)?;
    Ok(store)
}

/// Add a connection for each emulator (each is tested as it is added).
async fn connect(store: &Arc<dyn Store>, emulators: &Emulators) -> Result<Connections, String> {
    let cipher = CredentialCipher::from_base64(&CredentialCipher::generate_key()).map_err(fail)?;
    let connections = Connections::new(Arc::clone(store), Arc::new(DemoFactory), cipher, Arc::new(SystemClock));
    for (name, new) in emulators.connections() {
        connections.add(new).await.map_err(|e| format!("connecting {name}: {e}"))?;
    }
    Ok(connections)
}

/// The engine over every store, with the demo's quick scheduling.
async fn build_engine(store: &Arc<dyn Store>, connections: &Connections) -> Result<SyncEngine, String> {
    let mut config = SyncConfig::default();
    config.poll_interval = Duration::from_secs(5);
    config.tick = Duration::from_millis(200);
    config.base_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(2);
    let mut builder = SyncEngine::builder(Arc::clone(store)).config(config);
    for id in stores() {
        let id = StoreId::new(id);
        builder = builder.channel(id.clone(), connections.channel(&id).await.map_err(fail)?);
    }
    builder.build().await.map_err(fail)
}

/// Serve the engine's webhook endpoints on a free loopback port and register them with the emulators.
async fn serve_webhooks(engine: &SyncEngine, emulators: &Emulators) -> Result<JoinHandle<std::io::Result<()>>, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
    let base = format!("http://{}", listener.local_addr().map_err(fail)?);
    let app = crate::serve::webhook_router(engine.clone(), base.clone());
    let limits = crate::webhook_server::Limits::default();
    let server =
        tokio::spawn(async move { crate::webhook_server::serve(listener, app, &limits, std::future::pending()).await });
    emulators.register_webhooks(&base)?;
    println!(
        "  webhooks: {base}/webhooks/{{store}}; {} send none, so their orders arrive by polling",
        emulators.polled().join(", ")
    );
    Ok(server)
}

/// A full sync of every store with a progress bar, and its summary line.
async fn full_sync(engine: &SyncEngine) -> Result<(), String> {
    let summary = crate::serve::run_with_progress(engine.sync_now()).await?;
    println!(
        "full sync: {} listings read, {} updates planned, {} queued earlier; {} pushed, {} failed, {} left queued",
        summary.listings_read, summary.planned, summary.carried, summary.pushed, summary.failed, summary.left
    );
    Ok(())
}

/// Wait up to `wait` for every store to show what the sales leave; true when they do.
async fn converge(emulators: &Emulators, sales: &Sales, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut ok = sales.converged(emulators);
    while !ok && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ok = sales.converged(emulators);
    }
    ok
}
