//! A running `stocksync serve` and connection changes made with the CLI meanwhile, end to end: the
//! emulators in-process, a config file, the real binary. Takealot is the source of truth (MUG 20, TEE 10);
//! `woo-store` and `shopify` follow it.
//!
//! - `connections update` to disabled and `connections remove` reach the running service within a few
//!   ticks: the store's webhooks are refused and nothing more is pushed to it.
//! - Restarting while the source is disconnected holds pushes (and `connections list` says so) instead
//!   of setting every other store to 0.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use channel_core::rust_decimal::Decimal;
use channel_testkit::shopify::ShopifyEmulator;
use channel_testkit::takealot::TakealotEmulator;
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, SeedProduct};

use support::{Served, text};

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
        let (takealot, woo, shopify) = support::start_emulators(&rt, |_| {}, WooCommerceConfig::default());
        for (sku, quantity) in [("MUG", 20), ("TEE", 10)] {
            takealot.seed_product(SeedProduct::new(sku, quantity, Decimal::from(150))).unwrap();
            woo.seed_product(SeedProduct::new(sku, 0, Decimal::from(170))).unwrap();
            shopify.seed_product(SeedProduct::new(sku, 0, Decimal::from(160))).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let env = support::seller_env(&takealot, &woo, &shopify);
        let config = dir.path().join("stocksync.toml");
        let seller = Self { _rt: rt, takealot, woo, shopify, _dir: dir, config, env };
        seller.write_config("live");
        support::add_connections(|args| seller.run(args), &["takealot", "woo-store", "shopify"]);
        seller
    }

    /// The config file, with `woo-store` in sync mode `woo_mode`.
    fn write_config(&self, woo_mode: &str) {
        let config = format!(
            "{}{}{}{}",
            support::store_and_sync("1h"),
            support::takealot_connection(&self.takealot),
            support::woo_connection(&self.woo, Some(woo_mode)),
            support::shopify_connection(&self.shopify),
        );
        std::fs::write(&self.config, config).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        support::stocksync_command(Some(&self.config), args, &["STOCKSYNC_LOG"], &self.env)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run stocksync")
    }

    /// Start `serve` on a free port and wait for its `listening on` line.
    fn serve(&self) -> Served {
        Served::start(self.command(&["serve", "--listen", "127.0.0.1:0"]), None)
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

#[test]
fn disabling_or_removing_a_store_with_the_cli_reaches_a_running_serve() {
    let seller = Seller::start();
    let served = seller.serve();
    seller.first_reconcile(&served);
    let base = served.base.clone();
    support::register_webhooks(
        &base,
        &["woo-store", "shopify", "takealot"],
        &seller.takealot,
        &seller.woo,
        &seller.shopify,
    );

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
    served.stop("TERM");
}

#[test]
fn restarting_with_the_source_disconnected_holds_pushes_and_says_so() {
    let seller = Seller::start();
    let served = seller.serve();
    seller.first_reconcile(&served);
    served.stop("TERM");
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
    served.stop("TERM");
}
