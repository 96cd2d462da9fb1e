//! `stocksync serve` end to end with a product listed while it runs: the emulators in-process, a config
//! file, `connections add` for each store, then the real binary. Takealot is the source of truth;
//! WooCommerce and Shopify are live. The engine learns listings only from full reads, so the first sale of
//! the new product names a listing it does not know: the sale must be held, logged, and counted once its
//! listing is linked, on every channel, without a restart; and a later reconcile must not put the sold units
//! back on sale.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use channel_core::rust_decimal::Decimal;
use channel_testkit::shopify::ShopifyEmulator;
use channel_testkit::takealot::TakealotEmulator;
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, SeedProduct};
use sync_engine::store::{LedgerFilter, MovementCause};
use sync_engine::{SqliteStore, Store};

use support::{Served, text};

const STORES: [&str; 3] = ["takealot", "woo-store", "shopify"];

struct Seller {
    rt: tokio::runtime::Runtime,
    takealot: TakealotEmulator,
    woo: WooCommerceEmulator,
    shopify: ShopifyEmulator,
    dir: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Seller {
    /// The emulators with MUG listed everywhere (20 at the source), the config and the connections.
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (takealot, woo, shopify) = support::start_emulators(&rt, |_| {}, WooCommerceConfig::default());
        takealot.seed_product(SeedProduct::new("MUG", 20, Decimal::from(150))).unwrap();
        woo.seed_product(SeedProduct::new("MUG", 5, Decimal::from(170))).unwrap();
        shopify.seed_product(SeedProduct::new("MUG", 3, Decimal::from(160))).unwrap();
        let config = format!(
            "{}{}{}{}",
            support::store_and_sync("1s"),
            support::takealot_connection(&takealot),
            support::woo_connection(&woo, None),
            support::shopify_connection(&shopify),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stocksync.toml");
        std::fs::write(&path, config).unwrap();
        let env = support::seller_env(&takealot, &woo, &shopify);
        let seller = Self { rt, takealot, woo, shopify, dir, config: path, env };
        support::add_connections(|args| seller.run(args), &STORES);
        seller
    }

    fn command(&self, args: &[&str]) -> Command {
        support::stocksync_command(Some(&self.config), args, &["STOCKSYNC_LOG", "RUST_LOG"], &self.env)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run stocksync")
    }

    /// `serve` on a free port, once it announced its address; its stderr is collected.
    fn serve(&self) -> Served {
        Served::start(self.command(&["serve", "--listen", "127.0.0.1:0"]), None)
    }

    /// What each store shows for `sku`.
    fn shows(&self, sku: &str) -> [Option<i64>; 3] {
        [
            self.takealot.stock(sku).ok().flatten(),
            self.woo.stock(sku).ok().flatten(),
            self.shopify.stock(sku).ok().flatten(),
        ]
    }

    /// Wait until every store shows `units` of `sku`; panics with what they show and serve's log if they
    /// do not within 20 s.
    fn wait_everywhere(&self, sku: &str, units: i64, served: &Served) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.shows(sku) != [Some(units); 3] {
            assert!(
                Instant::now() < deadline,
                "{sku}: [takealot, woo-store, shopify] show {:?}, expected {units} everywhere\nserve stderr:\n{}",
                self.shows(sku),
                served.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The units of `sku` the ledger counts as sold.
    fn sold(&self, sku: &str) -> i64 {
        self.rt.block_on(async {
            let store = SqliteStore::open(self.dir.path().join("stocksync.db")).await.unwrap();
            let ledger = store.ledger(&LedgerFilter::default()).await.unwrap();
            store.close().await;
            -ledger
                .iter()
                .filter(|m| m.movement.cause == MovementCause::Order && m.movement.sku.as_str() == sku)
                .map(|m| m.movement.delta)
                .sum::<i64>()
        })
    }
}

#[test]
fn a_product_listed_while_serve_runs_is_counted_when_sold() {
    let seller = Seller::start();
    let served = seller.serve();
    seller.wait_everywhere("MUG", 20, &served);
    let base = served.base.clone();
    support::register_webhooks(&base, &STORES, &seller.takealot, &seller.woo, &seller.shopify);

    // The seller lists a new product everywhere while serve runs (stale counts on the shops), and a shopper
    // buys two on WooCommerce.
    seller.takealot.seed_product(SeedProduct::new("LAMP", 12, Decimal::from(300))).unwrap();
    seller.woo.seed_product(SeedProduct::new("LAMP", 15, Decimal::from(320))).unwrap();
    seller.shopify.seed_product(SeedProduct::new("LAMP", 15, Decimal::from(310))).unwrap();
    seller.woo.place_order(PlaceOrder::new("LAMP", 2)).unwrap();

    // The sale is held (and said so), its listing linked, and then counted on every channel.
    seller.wait_everywhere("LAMP", 10, &served);
    assert_eq!(seller.sold("LAMP"), 2);
    let log = served.log();
    assert!(log.contains("order line held"), "the held sale is logged:\n{log}");

    // A later reconcile puts nothing back on sale and counts nothing twice.
    let synced = seller.run(&["sync-now", "woo-store"]);
    assert_eq!(synced.status.code(), Some(0), "sync-now: {}", text(&synced.stderr));
    seller.wait_everywhere("LAMP", 10, &served);
    assert_eq!(seller.sold("LAMP"), 2);
    assert_eq!(seller.shows("MUG"), [Some(20); 3]);
}
