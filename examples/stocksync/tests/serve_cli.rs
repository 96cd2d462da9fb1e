//! `stocksync --config FILE sync-now STORE` and `stocksync --config FILE serve` end to end, the way a seller
//! runs them: the emulators in-process, a config file, `connections add` for each store, then the real
//! binary against them. Takealot is the source of truth; `woo-store` and `shopify` are live; `woo-outlet`
//! (a second WooCommerce shop) is disabled and must never be written to.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use channel_core::rust_decimal::Decimal;
use channel_testkit::sandbox::Duplicates;
use channel_testkit::shopify::ShopifyEmulator;
use channel_testkit::takealot::TakealotEmulator;
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, SeedProduct};
use sync_engine::store::{LedgerFilter, MovementCause};
use sync_engine::{SqliteStore, Store};

use support::{KEY, Served, assert_one_line_failure, text};

/// Takealot (the source): MUG 20, TEE 10.
const SOURCE: &[(&str, i64)] = &[("MUG", 20), ("TEE", 10)];

/// The emulators, the config file and every secret, with the output of every CLI run kept for the
/// "no credential ever shows" check.
struct Seller {
    rt: tokio::runtime::Runtime,
    takealot: TakealotEmulator,
    woo: WooCommerceEmulator,
    shopify: ShopifyEmulator,
    outlet: WooCommerceEmulator,
    dir: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
    output: Arc<Mutex<String>>,
}

impl Seller {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        // Every delivery is sent twice, as platforms do: the engine must count each order once.
        let mut woo = WooCommerceConfig::default();
        woo.webhooks.duplicates = Duplicates::Always;
        let (takealot, woo, shopify) =
            support::start_emulators(&rt, |tk| tk.webhooks.duplicates = Duplicates::Always, woo);
        let outlet = rt.block_on(WooCommerceEmulator::start(WooCommerceConfig::default())).unwrap();
        for (sku, quantity) in SOURCE {
            takealot.seed_product(SeedProduct::new(*sku, *quantity, Decimal::from(150))).unwrap();
        }
        // Stale quantities elsewhere, which a reconcile corrects (except on the disabled outlet).
        for (sku, quantity) in [("MUG", 5), ("TEE", 99)] {
            woo.seed_product(SeedProduct::new(sku, quantity, Decimal::from(170))).unwrap();
        }
        for (sku, quantity) in [("MUG", 3), ("TEE", 0)] {
            shopify.seed_product(SeedProduct::new(sku, quantity, Decimal::from(160))).unwrap();
        }
        for (sku, quantity) in [("MUG", 1), ("TEE", 1)] {
            outlet.seed_product(SeedProduct::new(sku, quantity, Decimal::from(140))).unwrap();
        }
        let config = format!(
            r#"{store_and_sync}{takealot}{woo}{shopify}
[[connections]]
id = "woo-outlet"
channel = "woocommerce"
name = "Acme Outlet (paused)"
sync_mode = "disabled"
credentials_env = {{ consumer_key = "OUTLET_CK", consumer_secret = "OUTLET_CS" }}
[connections.settings]
store_url = "{outlet_url}"
"#,
            store_and_sync = support::store_and_sync("1s"),
            takealot = support::takealot_connection(&takealot),
            woo = support::woo_connection(&woo, None),
            shopify = support::shopify_connection(&shopify),
            outlet_url = outlet.base_url(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stocksync.toml");
        std::fs::write(&path, config).unwrap();
        let mut env = support::seller_env(&takealot, &woo, &shopify);
        env.extend(
            [("OUTLET_CK", outlet.consumer_key()), ("OUTLET_CS", outlet.consumer_secret())]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let seller = Self { rt, takealot, woo, shopify, outlet, dir, config: path, env, output: Arc::default() };
        support::add_connections(|args| seller.run(args), &["takealot", "woo-store", "shopify", "woo-outlet"]);
        seller
    }

    fn command(&self, args: &[&str]) -> Command {
        support::stocksync_command(Some(&self.config), args, &["STOCKSYNC_LOG", "RUST_LOG"], &self.env)
    }

    /// Run the CLI to the end; its output is kept for the secrets check.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run stocksync");
        let mut all = self.output.lock().unwrap();
        all.push_str(&text(&out.stdout));
        all.push_str(&text(&out.stderr));
        out
    }

    /// Start `serve` on a free port, logging at `log` (a `STOCKSYNC_LOG` filter), and wait for its
    /// `listening on` line.
    fn serve(&self, log: Option<&str>) -> Served {
        let mut command = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        if let Some(log) = log {
            command.env("STOCKSYNC_LOG", log);
        }
        Served::start(command, Some(&self.output))
    }

    fn stock(&self, store: &str, sku: &str) -> Option<i64> {
        match store {
            "takealot" => self.takealot.stock(sku).ok().flatten(),
            "woo-store" => self.woo.stock(sku).ok().flatten(),
            "shopify" => self.shopify.stock(sku).ok().flatten(),
            "woo-outlet" => self.outlet.stock(sku).ok().flatten(),
            other => panic!("no store {other}"),
        }
    }

    fn stocks(&self) -> String {
        let mut s = String::new();
        for store in ["takealot", "woo-store", "shopify", "woo-outlet"] {
            for sku in ["MUG", "TEE"] {
                s.push_str(&format!("{store}/{sku}={:?} ", self.stock(store, sku)));
            }
        }
        s
    }

    /// Wait until `done` holds (the engine works in the background); panics with the stock table if it
    /// does not within 15 s.
    fn wait_for(&self, what: &str, served: Option<&Served>, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(self) {
            if Instant::now() > deadline {
                let log = served.map(|s| s.stderr.lock().unwrap().clone()).unwrap_or_default();
                panic!("{what}: not reached; stock: {}\nserve stderr:\n{log}", self.stocks());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every credential the seller configured: none may ever appear in the CLI's output.
    fn assert_no_secret_in_output(&self) {
        let all = self.output.lock().unwrap();
        for (name, value) in &self.env {
            assert!(!all.contains(value.as_str()), "{name} appeared in the CLI's output");
        }
    }

    /// Ledger movements caused by orders, as (store, order, sku, delta).
    fn order_movements(&self) -> Vec<(String, String, String, i64)> {
        self.rt.block_on(async {
            let store = SqliteStore::open(self.dir.path().join("stocksync.db")).await.unwrap();
            let ledger = store.ledger(&LedgerFilter::default()).await.unwrap();
            store.close().await;
            ledger
                .into_iter()
                .filter(|m| m.movement.cause == MovementCause::Order)
                .map(|m| {
                    (
                        m.movement.store.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                        m.movement.order.as_ref().map(ToString::to_string).unwrap_or_default(),
                        m.movement.sku.as_str().to_owned(),
                        m.movement.delta,
                    )
                })
                .collect()
        })
    }
}

/// The numbers of `sync-now`'s summary line: (read, planned, pushed, failed).
fn summary_numbers(line: &str) -> (usize, usize, usize, usize) {
    let number_before = |word: &str| -> usize {
        let at = line.find(word).unwrap_or_else(|| panic!("{line:?} has no {word:?}"));
        line[..at].split_whitespace().last().and_then(|n| n.trim_end_matches(',').parse().ok()).unwrap()
    };
    (
        number_before(" listings read"),
        number_before(" updates planned"),
        number_before(" pushed"),
        number_before(" failed"),
    )
}

/// `sync-now`'s pushes add up: pushed + failed + left queued = planned + queued earlier.
fn assert_adds_up(line: &str) {
    let number_before = |word: &str| -> usize {
        let at = line.find(word).unwrap_or_else(|| panic!("{line:?} has no {word:?}"));
        line[..at].split_whitespace().last().and_then(|n| n.trim_end_matches([',', ';']).parse().ok()).unwrap()
    };
    let (_, planned, pushed, failed) = summary_numbers(line);
    let (earlier, left) = (number_before(" queued earlier"), number_before(" left queued"));
    assert_eq!(pushed + failed + left, planned + earlier, "{line}");
}

#[test]
fn sync_now_pushes_the_source_quantities_to_one_store() {
    let seller = Seller::start();

    let synced = seller.run(&["sync-now", "woo-store"]);
    assert_eq!(synced.status.code(), Some(0), "{}{}", text(&synced.stdout), text(&synced.stderr));
    let out = text(&synced.stdout);
    let line = out.lines().find(|l| l.starts_with("sync-now woo-store:")).unwrap_or_else(|| panic!("{out:?}"));
    let (read, planned, pushed, failed) = summary_numbers(line);
    // Two products on each of four stores are read; the two stale WooCommerce quantities are corrected.
    assert!(read >= 8, "{line}");
    assert_eq!((planned, pushed, failed), (2, 2, 0), "{line}");
    assert_eq!((seller.stock("woo-store", "MUG"), seller.stock("woo-store", "TEE")), (Some(20), Some(10)));
    // Only woo-store was pushed to: Shopify keeps its stale quantities, the disabled outlet is untouched,
    // and the source is only read.
    assert_eq!((seller.stock("shopify", "MUG"), seller.stock("shopify", "TEE")), (Some(3), Some(0)));
    assert_eq!((seller.stock("woo-outlet", "MUG"), seller.stock("woo-outlet", "TEE")), (Some(1), Some(1)));
    assert_eq!((seller.stock("takealot", "MUG"), seller.stock("takealot", "TEE")), (Some(20), Some(10)));

    assert_eq!(text(&synced.stderr).trim(), "", "no noise when stderr is not a terminal");
    assert_adds_up(line);
    // The source of truth itself: read, its own quantities are the truth, nothing to push. The restart's
    // re-plan queues Shopify's corrections, and they stay queued: only the store named is pushed to.
    let source = seller.run(&["sync-now", "takealot"]);
    assert_eq!(source.status.code(), Some(0), "{}", text(&source.stderr));
    let line = text(&source.stdout);
    assert_eq!(summary_numbers(&line), (read, 0, 0, 0), "{line}");
    assert_adds_up(&line);
    assert_eq!((seller.stock("takealot", "MUG"), seller.stock("takealot", "TEE")), (Some(20), Some(10)));
    assert_eq!((seller.stock("shopify", "MUG"), seller.stock("shopify", "TEE")), (Some(3), Some(0)));

    // Running it again finds nothing to do, and still pushes nothing elsewhere.
    let again = seller.run(&["sync-now", "woo-store"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let line = text(&again.stdout);
    assert_eq!(summary_numbers(&line), (read, 0, 0, 0), "{line}");
    assert_adds_up(&line);
    assert_eq!((seller.stock("shopify", "MUG"), seller.stock("shopify", "TEE")), (Some(3), Some(0)));
    // Shopify's own turn corrects it, and says what it pushed.
    let shop = seller.run(&["sync-now", "shopify"]);
    assert_eq!(shop.status.code(), Some(0), "{}", text(&shop.stderr));
    let line = text(&shop.stdout);
    assert_eq!(summary_numbers(&line).2, 2, "{line}");
    assert_adds_up(&line);
    assert_eq!((seller.stock("shopify", "MUG"), seller.stock("shopify", "TEE")), (Some(20), Some(10)));

    // Two mugs sell on WooCommerce while no `serve` runs. `sync-now` imports the orders first, so the
    // reconcile plans from the on hand less the sale: the source shows 18, not the sold units back.
    seller.woo.place_order(PlaceOrder::new("MUG", 2)).unwrap();
    let source = seller.run(&["sync-now", "takealot"]);
    assert_eq!(source.status.code(), Some(0), "{}", text(&source.stderr));
    let line = text(&source.stdout);
    assert!(line.contains("1 new order lines imported first"), "{line}");
    assert_adds_up(&line);
    assert_eq!(seller.stock("takealot", "MUG"), Some(18), "{line}");
    assert_eq!(seller.stock("woo-store", "MUG"), Some(18));
    let again = seller.run(&["sync-now", "woo-store"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(seller.stock("woo-store", "MUG"), Some(18), "the sale is not put back on sale");

    assert_one_line_failure(&seller.run(&["sync-now", "no-such-store"]), 2, "no connected store \"no-such-store\"");
    assert_one_line_failure(&seller.run(&["sync-now", "woo-outlet"]), 2, "woo-outlet is disabled");
    assert_eq!((seller.stock("woo-outlet", "MUG"), seller.stock("woo-outlet", "TEE")), (Some(1), Some(1)));
    let no_config = Command::new(env!("CARGO_BIN_EXE_stocksync")).args(["sync-now", "woo-store"]).output().unwrap();
    assert_one_line_failure(&no_config, 2, "--config");
    seller.assert_no_secret_in_output();
}

#[test]
fn serve_takes_each_order_once_refuses_forgeries_and_restarts_without_double_counting() {
    let seller = Seller::start();
    let served = seller.serve(None);
    let base = served.base.clone();

    // First start: the stores were never reconciled, so serve reconciles them all once. The live stores
    // follow the source; the disabled outlet is never written.
    seller.wait_for("first reconcile", Some(&served), |s| {
        ["woo-store", "shopify"].iter().all(|st| s.stock(st, "MUG") == Some(20) && s.stock(st, "TEE") == Some(10))
    });

    support::register_webhooks(
        &base,
        &["takealot", "woo-store", "shopify"],
        &seller.takealot,
        &seller.woo,
        &seller.shopify,
    );

    // A shopper buys two mugs on WooCommerce; the order webhook arrives twice.
    let order = seller.woo.place_order(PlaceOrder::new("MUG", 2)).unwrap();
    seller.wait_for("the order reaches every channel", Some(&served), |s| {
        s.stock("takealot", "MUG") == Some(18) && s.stock("shopify", "MUG") == Some(18)
    });
    seller.rt.block_on(seller.woo.webhooks_idle());
    let order_deliveries: Vec<_> =
        seller.woo.deliveries().into_iter().filter(|d| d.topic.starts_with("order.")).collect();
    assert_eq!(order_deliveries.len(), 2, "{order_deliveries:?}");
    assert!(order_deliveries.iter().all(|d| d.status == Some(200)), "{order_deliveries:?}");
    assert_eq!(seller.stock("woo-store", "MUG"), Some(18));
    assert_eq!(seller.stock("woo-outlet", "MUG"), Some(1), "the disabled store is never written");
    // Every genuine delivery so far (orders, and the platforms' echoes of the engine's own pushes) was
    // verified with the configured secrets and accepted.
    seller.rt.block_on(seller.takealot.webhooks_idle());
    seller.rt.block_on(seller.shopify.webhooks_idle());
    for (store, deliveries) in [
        ("takealot", seller.takealot.deliveries()),
        ("woo-store", seller.woo.deliveries()),
        ("shopify", seller.shopify.deliveries()),
    ] {
        assert!(deliveries.iter().all(|d| d.status == Some(200)), "{store}: {deliveries:?}");
    }

    // A tampered delivery: the body no longer matches its signature. 401, nothing applied.
    let genuine = br#"{"id":990001,"status":"processing","line_items":[{"id":1,"sku":"MUG","quantity":1}]}"#;
    let tampered = br#"{"id":990001,"status":"processing","line_items":[{"id":1,"sku":"MUG","quantity":9}]}"#;
    let signature = channel_testkit::woocommerce::sign(seller.woo.webhook_secret(), genuine);
    let post = |url: String, body: &'static [u8], signature: &str| -> u16 {
        seller.rt.block_on(async {
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-wc-webhook-topic", "order.created")
                .header("x-wc-webhook-resource", "order")
                .header("x-wc-webhook-event", "created")
                .header("x-wc-webhook-delivery-id", "990001")
                .header("x-wc-webhook-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(post(format!("{base}/webhooks/woo-store"), tampered, &signature), 401);
    // A store this service does not have.
    assert_eq!(post(format!("{base}/webhooks/no-such-store"), genuine, &signature), 404);
    assert_eq!(seller.stock("takealot", "MUG"), Some(18), "nothing applied");
    // The first start's full reconcile runs in the background: let it finish, so the restart below is
    // one of a store that was reconciled before (on a loaded machine the orders converge first).
    seller.wait_for("the first full reconcile is done", Some(&served), |_| {
        served.stderr.lock().unwrap().contains("first full reconcile done")
    });

    let (status, stderr) = served.stop("TERM");
    assert_eq!(status.code(), Some(0), "SIGTERM stops serve cleanly: {stderr}");
    assert!(stderr.contains("stopped (SIGTERM)"), "{stderr}");
    let sold = seller.order_movements();
    assert_eq!(sold.len(), 1, "the order is counted once: {sold:?}");
    assert_eq!(
        (sold[0].0.as_str(), sold[0].1.as_str(), sold[0].2.as_str(), sold[0].3),
        ("woo-store", order.order_id.as_str(), "MUG", -2)
    );

    // While the service is down a T-shirt sells; its webhook finds nobody listening.
    let missed = seller.woo.place_order(PlaceOrder::new("TEE", 1)).unwrap();
    seller.rt.block_on(seller.woo.webhooks_idle());
    assert_eq!(seller.stock("takealot", "TEE"), Some(10));

    // Restart with the same config and store: polling picks the missed order up; the first is not applied
    // again. This run logs everything at debug level: still no credential may show.
    let served = seller.serve(Some("debug"));
    seller.wait_for("the missed order is polled", Some(&served), |s| {
        s.stock("takealot", "TEE") == Some(9) && s.stock("shopify", "TEE") == Some(9)
    });
    let (status, stderr) = served.stop("INT");
    assert_eq!(status.code(), Some(0), "SIGINT (Ctrl-C) stops serve cleanly: {stderr}");
    assert!(stderr.contains("stopped (SIGINT)"), "{stderr}");
    assert!(!stderr.contains("first start"), "the store was reconciled before: {stderr}");
    assert_eq!(seller.stock("takealot", "MUG"), Some(18), "the first order is not counted twice");
    assert_eq!(seller.stock("shopify", "MUG"), Some(18));
    let sold = seller.order_movements();
    assert_eq!(sold.len(), 2, "{sold:?}");
    assert!(sold.iter().any(|m| m.1 == missed.order_id && m.2 == "TEE" && m.3 == -1), "{sold:?}");
    assert!(!sold.iter().any(|m| m.1 == "990001"), "the tampered order was never applied: {sold:?}");

    // A crash: the service is killed (SIGKILL) as soon as a new order reached the source, with pushes to the
    // other stores possibly still queued. The restart finishes them and counts nothing twice.
    let served = seller.serve(None);
    let third = seller.woo.place_order(PlaceOrder::new("MUG", 1)).unwrap();
    seller.wait_for("the third order reaches the source", Some(&served), |s| s.stock("takealot", "MUG") == Some(17));
    let (status, _) = served.stop("KILL");
    assert_eq!(status.code(), None, "killed by a signal");
    let served = seller.serve(None);
    seller.wait_for("convergence after the crash", Some(&served), |s| {
        ["takealot", "woo-store", "shopify"]
            .iter()
            .all(|st| s.stock(st, "MUG") == Some(17) && s.stock(st, "TEE") == Some(9))
    });
    let (status, stderr) = served.stop("TERM");
    assert_eq!(status.code(), Some(0), "{stderr}");
    let sold = seller.order_movements();
    assert_eq!(sold.len(), 3, "{sold:?}");
    assert!(sold.iter().any(|m| m.1 == third.order_id && m.2 == "MUG" && m.3 == -1), "{sold:?}");
    assert_eq!((seller.stock("woo-outlet", "MUG"), seller.stock("woo-outlet", "TEE")), (Some(1), Some(1)));
    seller.assert_no_secret_in_output();
}

#[test]
fn the_sync_section_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let run = |config: &str, args: &[&str]| -> Output {
        let path = dir.path().join("stocksync.toml");
        std::fs::write(&path, config).unwrap();
        Command::new(env!("CARGO_BIN_EXE_stocksync"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("STOCKSYNC_CREDENTIAL_KEY", KEY)
            .output()
            .unwrap()
    };
    // The example config (with every [sync] key) is valid: the only complaint is that nothing is connected.
    let example =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stocksync.example.toml"))
            .unwrap();
    assert_one_line_failure(&run(&example, &["sync-now", "takealot"]), 2, "no connected store \"takealot\"");
    assert_one_line_failure(&run(&example, &["serve", "--listen", "127.0.0.1:0"]), 2, "no connected stores");
    let store = "[store]\npath = \"s.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n";
    let bad = format!("{store}[sync]\npoll_interval = \"soon\"\n");
    assert_one_line_failure(&run(&bad, &["sync-now", "takealot"]), 2, "poll_interval");
    let zero = format!("{store}[sync]\ntick = \"0s\"\n");
    assert_one_line_failure(&run(&zero, &["serve"]), 2, "tick");
    let time = format!("{store}[sync]\ndaily_at = \"25:00\"\n");
    assert_one_line_failure(&run(&time, &["serve"]), 2, "daily_at");
    let unknown = format!("{store}[sync]\npoll_every = \"1m\"\n");
    assert_one_line_failure(&run(&unknown, &["serve"]), 2, "poll_every");
}
