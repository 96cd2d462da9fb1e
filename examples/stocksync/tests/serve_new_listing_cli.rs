//! `stocksync serve` end to end with a product listed while it runs: the emulators in-process, a config
//! file, `connections add` for each store, then the real binary. Takealot is the source of truth;
//! WooCommerce and Shopify are live. The engine learns listings only from full reads, so the first sale of
//! the new product names a listing it does not know: the sale must be held, logged, and counted once its
//! listing is linked, on every channel, without a restart; and a later reconcile must not put the sold units
//! back on sale.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use channel_core::rust_decimal::Decimal;
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use sync_engine::store::{LedgerFilter, MovementCause};
use sync_engine::{SqliteStore, Store};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // 32 bytes, base64
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
        let (takealot, woo, shopify) = rt.block_on(async {
            let mut tk = TakealotConfig::default();
            tk.rate_limit = None;
            tk.batch_processing_delay = Duration::from_millis(5);
            (
                TakealotEmulator::start(tk).await.unwrap(),
                WooCommerceEmulator::start(WooCommerceConfig::default()).await.unwrap(),
                ShopifyEmulator::start(ShopifyConfig::fast()).await.unwrap(),
            )
        });
        takealot.seed_product(SeedProduct::new("MUG", 20, Decimal::from(150))).unwrap();
        woo.seed_product(SeedProduct::new("MUG", 5, Decimal::from(170))).unwrap();
        shopify.seed_product(SeedProduct::new("MUG", 3, Decimal::from(160))).unwrap();
        let config = format!(
            r#"
[store]
path = "stocksync.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[sync]
poll_interval = "1h"
tick = "50ms"
refresh_interval = "1s"
first_poll_lookback = "1h"
lease = "1s"

[[connections]]
id = "takealot"
channel = "takealot"
name = "Takealot"
source_of_truth = true
credentials_env = {{ api_key = "TK_API_KEY", webhook_secret = "TK_WEBHOOK_SECRET" }}
[connections.settings]
base_url = "{tk_url}"
merchant_warehouse_id = {warehouse}
batch_poll_interval_ms = 10
requests_per_minute = 100000

[[connections]]
id = "woo-store"
channel = "woocommerce"
name = "Acme WooCommerce"
credentials_env = {{ consumer_key = "WOO_CK", consumer_secret = "WOO_CS", webhook_secret = "WOO_WEBHOOK_SECRET" }}
[connections.settings]
store_url = "{woo_url}"

[[connections]]
id = "shopify"
channel = "shopify"
name = "Acme Shopify"
credentials_env = {{ access_token = "SHOPIFY_TOKEN", webhook_secret = "SHOPIFY_WEBHOOK_SECRET" }}
[connections.settings]
shop_domain = "{shop_domain}"
base_url = "{shop_url}"
"#,
            tk_url = takealot.base_url(),
            warehouse = takealot.warehouse_ids()[0],
            woo_url = woo.base_url(),
            shop_domain = shopify.platform().config().shop_domain,
            shop_url = shopify.base_url(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stocksync.toml");
        std::fs::write(&path, config).unwrap();
        let env = [
            ("STOCKSYNC_CREDENTIAL_KEY", KEY),
            ("TK_API_KEY", takealot.api_key()),
            ("TK_WEBHOOK_SECRET", takealot.webhook_secret()),
            ("WOO_CK", woo.consumer_key()),
            ("WOO_CS", woo.consumer_secret()),
            ("WOO_WEBHOOK_SECRET", woo.webhook_secret()),
            ("SHOPIFY_TOKEN", shopify.access_token()),
            ("SHOPIFY_WEBHOOK_SECRET", shopify.webhook_secret()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        let seller = Self { rt, takealot, woo, shopify, dir, config: path, env };
        for store in STORES {
            let added = seller.run(&["connections", "add", store]);
            assert_eq!(added.status.code(), Some(0), "connections add {store}: {}", text(&added.stderr));
        }
        seller
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stocksync"));
        cmd.arg("--config").arg(&self.config).args(args).env_remove("STOCKSYNC_LOG").env_remove("RUST_LOG");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run stocksync")
    }

    /// `serve` on a free port, once it announced its address; its stderr is collected.
    fn serve(&self) -> Served {
        let mut child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stocksync serve");
        let mut stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let copy = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                copy.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        let Some(base) = first.strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            panic!("serve did not announce its address: {first:?}; stderr: {}", log.lock().unwrap());
        };
        Served { child, base, log }
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
                served.log.lock().unwrap()
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

struct Served {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_product_listed_while_serve_runs_is_counted_when_sold() {
    let seller = Seller::start();
    let served = seller.serve();
    seller.wait_everywhere("MUG", 20, &served);
    let base = served.base.clone();
    seller
        .takealot
        .register_webhook(RegisterWebhook::new(format!("{base}/webhooks/takealot"), seller.takealot.webhook_secret()))
        .unwrap();
    seller
        .woo
        .register_webhook(RegisterWebhook::new(format!("{base}/webhooks/woo-store"), seller.woo.webhook_secret()))
        .unwrap();
    seller
        .shopify
        .register_webhook(RegisterWebhook::new(format!("{base}/webhooks/shopify"), seller.shopify.webhook_secret()))
        .unwrap();

    // The seller lists a new product everywhere while serve runs (stale counts on the shops), and a shopper
    // buys two on WooCommerce.
    seller.takealot.seed_product(SeedProduct::new("LAMP", 12, Decimal::from(300))).unwrap();
    seller.woo.seed_product(SeedProduct::new("LAMP", 15, Decimal::from(320))).unwrap();
    seller.shopify.seed_product(SeedProduct::new("LAMP", 15, Decimal::from(310))).unwrap();
    seller.woo.place_order(PlaceOrder::new("LAMP", 2)).unwrap();

    // The sale is held (and said so), its listing linked, and then counted on every channel.
    seller.wait_everywhere("LAMP", 10, &served);
    assert_eq!(seller.sold("LAMP"), 2);
    let log = served.log.lock().unwrap().clone();
    assert!(log.contains("order line held"), "the held sale is logged:\n{log}");

    // A later reconcile puts nothing back on sale and counts nothing twice.
    let synced = seller.run(&["sync-now", "woo-store"]);
    assert_eq!(synced.status.code(), Some(0), "sync-now: {}", text(&synced.stderr));
    seller.wait_everywhere("LAMP", 10, &served);
    assert_eq!(seller.sold("LAMP"), 2);
    assert_eq!(seller.shows("MUG"), [Some(20); 3]);
}
