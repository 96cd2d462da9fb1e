//! A running `stocksync serve` and connection changes made with the CLI meanwhile, end to end: the
//! emulators in-process, a config file, the real binary. Takealot is the source of truth (MUG 20, TEE 10);
//! `woo-store` and `shopify` follow it.
//!
//! - `connections update` to disabled and `connections remove` reach the running service within a few
//!   ticks: the store's webhooks are refused and nothing more is pushed to it.
//! - Restarting while the source is disconnected holds pushes (and `connections list` says so) instead
//!   of setting every other store to 0.

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

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // 32 bytes, base64

/// The emulators and the config file.
struct Seller {
    /// Runs the emulators.
    _rt: tokio::runtime::Runtime,
    takealot: TakealotEmulator,
    woo: WooCommerceEmulator,
    shopify: ShopifyEmulator,
    _dir: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Seller {
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
        for (sku, quantity) in [("MUG", 20), ("TEE", 10)] {
            takealot.seed_product(SeedProduct::new(sku, quantity, Decimal::from(150))).unwrap();
            woo.seed_product(SeedProduct::new(sku, 0, Decimal::from(170))).unwrap();
            shopify.seed_product(SeedProduct::new(sku, 0, Decimal::from(160))).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
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
        let config = dir.path().join("stocksync.toml");
        let seller = Self { _rt: rt, takealot, woo, shopify, _dir: dir, config, env };
        seller.write_config("live");
        for store in ["takealot", "woo-store", "shopify"] {
            let added = seller.run(&["connections", "add", store]);
            assert_eq!(added.status.code(), Some(0), "connections add {store}: {}", text(&added.stderr));
        }
        seller
    }

    /// The config file, with `woo-store` in sync mode `woo_mode`.
    fn write_config(&self, woo_mode: &str) {
        let config = format!(
            r#"
[store]
path = "stocksync.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[sync]
poll_interval = "1h"
tick = "50ms"
refresh_interval = "1h"
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
sync_mode = "{woo_mode}"
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
            tk_url = self.takealot.base_url(),
            warehouse = self.takealot.warehouse_ids()[0],
            woo_url = self.woo.base_url(),
            shop_domain = self.shopify.platform().config().shop_domain,
            shop_url = self.shopify.base_url(),
        );
        std::fs::write(&self.config, config).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stocksync"));
        cmd.arg("--config").arg(&self.config).args(args).env_remove("STOCKSYNC_LOG");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run stocksync")
    }

    /// Start `serve` on a free port and wait for its `listening on` line.
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
        let reader = std::thread::spawn(move || {
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
        let base = first.strip_prefix("listening on ").map(str::to_owned);
        let served = Served { child, base: base.clone().unwrap_or_default(), log, reader: Some(reader) };
        assert!(base.is_some(), "serve did not announce its address: {first:?}; stderr: {}", served.log());
        served
    }

    fn stock(&self, store: &str, sku: &str) -> Option<i64> {
        match store {
            "takealot" => self.takealot.stock(sku).ok().flatten(),
            "woo-store" => self.woo.stock(sku).ok().flatten(),
            "shopify" => self.shopify.stock(sku).ok().flatten(),
            other => panic!("no store {other}"),
        }
    }

    fn stocks(&self) -> String {
        let mut s = String::new();
        for store in ["takealot", "woo-store", "shopify"] {
            for sku in ["MUG", "TEE"] {
                s.push_str(&format!("{store}/{sku}={:?} ", self.stock(store, sku)));
            }
        }
        s
    }

    /// Wait until `done` holds (the service works in the background); panics with the stock table and
    /// the service's log if it does not within 15 s.
    fn wait_for(&self, what: &str, served: &Served, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not reached; stock: {}\nserve stderr:\n{}",
                self.stocks(),
                served.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn first_reconcile(&self, served: &Served) {
        self.wait_for("first reconcile", served, |s| {
            ["woo-store", "shopify"].iter().all(|st| s.stock(st, "MUG") == Some(20) && s.stock(st, "TEE") == Some(10))
        });
    }

    /// Whether the service answered an order delivery among `deliveries` with `status`.
    fn order_delivery_answered(&self, deliveries: &[channel_testkit::sandbox::DeliveryRecord], status: u16) -> bool {
        deliveries.iter().any(|d| d.topic.to_lowercase().contains("order") && d.status == Some(status))
    }
}

/// A running `serve`.
struct Served {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, and wait for the process to end.
    fn stop(mut self) {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "serve did not stop; stderr: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
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
fn disabling_or_removing_a_store_with_the_cli_reaches_a_running_serve() {
    let seller = Seller::start();
    let served = seller.serve();
    seller.first_reconcile(&served);
    let base = served.base.clone();
    for (id, hook) in [
        (
            "woo-store",
            seller.woo.register_webhook(RegisterWebhook::new(
                format!("{base}/webhooks/woo-store"),
                seller.woo.webhook_secret(),
            )),
        ),
        (
            "shopify",
            seller.shopify.register_webhook(RegisterWebhook::new(
                format!("{base}/webhooks/shopify"),
                seller.shopify.webhook_secret(),
            )),
        ),
        (
            "takealot",
            seller.takealot.register_webhook(RegisterWebhook::new(
                format!("{base}/webhooks/takealot"),
                seller.takealot.webhook_secret(),
            )),
        ),
    ] {
        hook.unwrap_or_else(|e| panic!("registering the {id} webhook: {e}"));
    }

    // WooCommerce is disabled with the CLI while the service runs.
    seller.write_config("disabled");
    let updated = seller.run(&["connections", "update", "woo-store"]);
    assert_eq!(updated.status.code(), Some(0), "{}", text(&updated.stderr));
    // The service says when it took the change in (at its next tick).
    seller.wait_for("serve takes the change in", &served, |_| {
        served.log().contains("connection disabled: no longer polled, pushed to or accepted store=woo-store")
    });
    seller.woo.place_order(PlaceOrder::new("TEE", 1)).unwrap();
    seller.wait_for("woo-store's order webhook refused", &served, |s| {
        s.order_delivery_answered(&s.woo.deliveries(), 403)
    });
    assert_eq!(seller.stock("takealot", "TEE"), Some(10), "the refused order is not applied");
    // A sale elsewhere reaches the source and the live store, not the disabled one.
    seller.shopify.place_order(PlaceOrder::new("MUG", 2)).unwrap();
    seller.wait_for("the Shopify sale reaches the source", &served, |s| s.stock("takealot", "MUG") == Some(18));
    assert_eq!(seller.stock("woo-store", "MUG"), Some(20), "nothing is pushed to a disabled store");

    // Shopify is removed with the CLI while the service runs.
    let removed = seller.run(&["connections", "remove", "shopify"]);
    assert_eq!(removed.status.code(), Some(0), "{}", text(&removed.stderr));
    seller.wait_for("serve takes the removal in", &served, |_| {
        served.log().contains("connection removed: no longer polled, pushed to or accepted store=shopify")
    });
    seller.shopify.place_order(PlaceOrder::new("TEE", 1)).unwrap();
    seller.wait_for("shopify's order webhook refused", &served, |s| {
        s.order_delivery_answered(&s.shopify.deliveries(), 404)
    });
    assert_eq!(seller.stock("takealot", "TEE"), Some(10), "the refused order is not applied");
    // A sale on the source is pushed nowhere now (the only other store is disabled).
    seller.takealot.place_order(PlaceOrder::new("MUG", 1)).unwrap();
    seller.wait_for("the Takealot sale is taken in", &served, |s| {
        s.order_delivery_answered(&s.takealot.deliveries(), 200)
    });
    assert_eq!(seller.stock("shopify", "MUG"), Some(18), "nothing is pushed to a removed store");
    served.stop();
}

#[test]
fn restarting_with_the_source_disconnected_holds_pushes_and_says_so() {
    let seller = Seller::start();
    let served = seller.serve();
    seller.first_reconcile(&served);
    served.stop();
    let removed = seller.run(&["connections", "remove", "takealot"]);
    assert_eq!(removed.status.code(), Some(0), "{}", text(&removed.stderr));

    let served = seller.serve();
    let held = |s: &Seller| {
        let list = s.run(&["connections", "list"]);
        let out = text(&list.stdout);
        ["woo-store", "shopify"].iter().all(|id| {
            out.lines()
                .any(|l| l.starts_with(id) && l.contains("pushes held: the source of truth takealot is disconnected"))
        })
    };
    seller.wait_for("connections list says pushes are held", &served, held);
    assert!(served.log().contains("pushes held"), "a warning is logged: {}", served.log());
    for store in ["woo-store", "shopify"] {
        assert_eq!(
            (seller.stock(store, "MUG"), seller.stock(store, "TEE")),
            (Some(20), Some(10)),
            "{store} keeps its stock"
        );
    }
    served.stop();
}
