//! `stocksync companies …` and company-scoped connections end to end, through the real binary over a real
//! SQLite file: two companies in one config both sell `TS-001`, each on its own emulated stores. Company
//! `a` requires a Takealot account (bound at creation); company `b` does not. A global Shopify store (the
//! operator's own) is visible to both. A sale in `a` never moves `b`'s stock; removing `a` purges it and
//! leaves `b` working.

mod support;

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use channel_core::rust_decimal::Decimal;
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator, Warehouse};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use sync_engine::store::{CompanyId, ConnectionFilter};
use sync_engine::{SqliteStore, Store};

use support::{KEY, Served, assert_one_line_failure, text};

/// The SKU both companies sell.
const SKU: &str = "TS-001";

/// Takealot warehouse ids: the account each company's Takealot store identifies as (`warehouse-<id>`).
const WAREHOUSE_A: u64 = 28676;
const WAREHOUSE_B: u64 = 30001;

/// Two companies' emulated stores and the global Shopify store, the config and every secret.
struct Tenants {
    rt: tokio::runtime::Runtime,
    tk_a: TakealotEmulator,
    woo_a: WooCommerceEmulator,
    tk_b: TakealotEmulator,
    woo_b: WooCommerceEmulator,
    shop: ShopifyEmulator,
    dir: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
}

fn takealot(rt: &tokio::runtime::Runtime, warehouse: u64) -> TakealotEmulator {
    let mut tk = TakealotConfig::default();
    tk.rate_limit = None;
    tk.batch_processing_delay = std::time::Duration::from_millis(5);
    tk.warehouses = vec![Warehouse::new(warehouse, "Own warehouse")];
    rt.block_on(TakealotEmulator::start(tk)).unwrap()
}

/// A `[[connections]]` table of a Takealot store, the source of truth, with `owner` (`company = "a"`).
fn takealot_table(id: &str, owner: &str, env: &str, tk: &TakealotEmulator) -> String {
    format!(
        r#"
[[connections]]
id = "{id}"
channel = "takealot"
{owner}
source_of_truth = true
credentials_env = {{ api_key = "{env}_API_KEY" }}
[connections.settings]
base_url = "{url}"
merchant_warehouse_id = {warehouse}
batch_poll_interval_ms = 10
requests_per_minute = 100000
"#,
        url = tk.base_url(),
        warehouse = tk.warehouse_ids()[0],
    )
}

/// A `[[connections]]` table of a WooCommerce store with `owner`.
fn woo_table(id: &str, owner: &str, env: &str, woo: &WooCommerceEmulator) -> String {
    format!(
        r#"
[[connections]]
id = "{id}"
channel = "woocommerce"
{owner}
credentials_env = {{ consumer_key = "{env}_CK", consumer_secret = "{env}_CS", webhook_secret = "{env}_WH" }}
[connections.settings]
store_url = "{url}"
"#,
        url = woo.base_url(),
    )
}

impl Tenants {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (tk_a, tk_b) = (takealot(&rt, WAREHOUSE_A), takealot(&rt, WAREHOUSE_B));
        let (woo_a, woo_b, shop) = rt.block_on(async {
            (
                WooCommerceEmulator::start(WooCommerceConfig::default()).await.unwrap(),
                WooCommerceEmulator::start(WooCommerceConfig::default()).await.unwrap(),
                ShopifyEmulator::start(ShopifyConfig::fast()).await.unwrap(),
            )
        });
        // The same SKU in both companies, with other quantities; the WooCommerce shops are stale.
        let seed = |q: i64| SeedProduct::new(SKU, q, Decimal::from(99));
        tk_a.seed_product(seed(10)).unwrap();
        woo_a.seed_product(seed(4)).unwrap();
        tk_b.seed_product(seed(50)).unwrap();
        woo_b.seed_product(seed(9)).unwrap();
        let config = format!(
            r#"{store_and_sync}
[[companies]]
id = "a"
name = "Alpha Traders"
requires = "takealot"

[[companies]]
id = "b"
name = "Beta Goods"
{tk_a}{woo_a}{tk_b}{woo_b}
[[connections]]
id = "shop-global"
channel = "shopify"
scope = "global"
credentials_env = {{ access_token = "SHOP_TOKEN" }}
[connections.settings]
shop_domain = "{shop_domain}"
base_url = "{shop_url}"
"#,
            store_and_sync = support::store_and_sync("1s"),
            tk_a = takealot_table("tk-a", "company = \"a\"", "TKA", &tk_a),
            woo_a = woo_table("woo-a", "company = \"a\"", "WOOA", &woo_a),
            // `client` is the old name of `company`.
            tk_b = takealot_table("tk-b", "client = \"b\"", "TKB", &tk_b),
            woo_b = woo_table("woo-b", "company = \"b\"\nclient = \"b\"", "WOOB", &woo_b),
            shop_domain = shop.platform().config().shop_domain,
            shop_url = shop.base_url(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stocksync.toml");
        std::fs::write(&path, config).unwrap();
        let env = [
            ("STOCKSYNC_CREDENTIAL_KEY", KEY),
            ("TKA_API_KEY", tk_a.api_key()),
            ("TKB_API_KEY", tk_b.api_key()),
            ("WOOA_CK", woo_a.consumer_key()),
            ("WOOA_CS", woo_a.consumer_secret()),
            ("WOOB_CK", woo_b.consumer_key()),
            ("WOOB_CS", woo_b.consumer_secret()),
            ("WOOA_WH", woo_a.webhook_secret()),
            ("WOOB_WH", woo_b.webhook_secret()),
            ("SHOP_TOKEN", shop.access_token()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        Self { rt, tk_a, woo_a, tk_b, woo_b, shop, dir, config: path, env }
    }

    fn run_with(&self, args: &[&str], env: &[(String, String)]) -> Output {
        support::stocksync_command(Some(&self.config), args, &["STOCKSYNC_LOG", "RUST_LOG"], env)
            .output()
            .expect("run stocksync")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &self.env)
    }

    /// Run and expect exit 0; answers stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// The store ids `connections list` prints as JSON with `args`.
    fn listed(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["connections", "list", "--json"];
        all.extend_from_slice(args);
        let rows = self.json(&all);
        rows.as_array().unwrap().iter().map(|r| r["store"].as_str().unwrap().to_owned()).collect()
    }

    /// `TS-001` on each store: (tk-a, woo-a, tk-b, woo-b).
    fn stocks(&self) -> (Option<i64>, Option<i64>, Option<i64>, Option<i64>) {
        (
            self.tk_a.stock(SKU).unwrap(),
            self.woo_a.stock(SKU).unwrap(),
            self.tk_b.stock(SKU).unwrap(),
            self.woo_b.stock(SKU).unwrap(),
        )
    }

    /// What the store keeps for a company: (its own connections, its products).
    fn kept(&self, company: &str) -> (usize, usize) {
        self.rt.block_on(async {
            let root = SqliteStore::open(self.dir.path().join("stocksync.db")).await.unwrap();
            let id = CompanyId::new(company);
            let view = root.for_company(&id);
            let mut own = ConnectionFilter::all();
            own.scope = Some(sync_engine::store::Scope::Client(id));
            let kept = (view.connections(&own).await.unwrap().len(), view.products().await.unwrap().len());
            root.close().await;
            kept
        })
    }

    /// Create both companies and add every other connection.
    fn set_up(&self) {
        self.ok(&["companies", "add", "a"]);
        self.ok(&["companies", "add", "b"]);
        for store in ["woo-a", "tk-b", "woo-b", "shop-global"] {
            self.ok(&["connections", "add", store]);
        }
    }

    /// Wait up to 15 s for `done`, else panic with the stocks and serve's log.
    fn wait_for(&self, what: &str, served: &Served, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(self) {
            assert!(Instant::now() < deadline, "{what}: not reached; stocks {:?}\n{}", self.stocks(), served.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// No secret ever shows in `out`.
    fn assert_no_secret(&self, out: &Output) {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for (name, value) in self.env.iter().filter(|(k, _)| k != "STOCKSYNC_CREDENTIAL_KEY") {
            assert!(!all.contains(value.as_str()), "{name} appeared in the output");
        }
    }
}

#[test]
fn two_companies_with_the_same_sku_stay_apart() {
    let t = Tenants::start();
    let checked = t.ok(&["check-config"]);
    assert!(checked.contains("2 companies: a, b"), "{checked}");

    // A company must exist in the store before its connections are added.
    assert_one_line_failure(&t.run(&["connections", "add", "woo-a"]), 2, &["company \"a\"", "companies add a"]);
    // Company a requires Takealot: refused credentials leave nothing behind.
    let mut wrong = t.env.clone();
    wrong.push(("TKA_API_KEY".to_owned(), "not-the-key".to_owned()));
    let refused = t.run_with(&["companies", "add", "a"], &wrong);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(!text(&refused.stderr).contains("not-the-key"));
    let ids: Vec<String> =
        t.json(&["companies", "list", "--json"]).as_array().unwrap().iter().map(|c| c["id"].to_string()).collect();
    assert!(!ids.contains(&"\"a\"".to_owned()), "{ids:?}");

    let created = t.ok(&["companies", "add", "a"]);
    assert!(
        created.contains("created company a (Alpha Traders), bound to takealot account warehouse-28676"),
        "{created}"
    );
    assert!(t.ok(&["companies", "add", "b"]).contains("created company b (Beta Goods)"));
    for store in ["woo-a", "tk-b", "woo-b", "shop-global"] {
        let added = t.run(&["connections", "add", store]);
        assert_eq!(added.status.code(), Some(0), "{store}: {}", text(&added.stderr));
        t.assert_no_secret(&added);
    }
    // The Takealot store of a was added with the company: adding it again is refused.
    assert_eq!(t.run(&["connections", "add", "tk-a"]).status.code(), Some(1));

    let companies = t.json(&["companies", "list", "--json"]);
    let company = |id: &str| companies.as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    let a = company("a");
    assert_eq!(
        (&a["name"], &a["requires"], &a["bound_account"]),
        (&"Alpha Traders".into(), &"takealot".into(), &"warehouse-28676".into())
    );
    assert_eq!(a["connections"], 2, "{a}");
    let b = company("b");
    assert_eq!(
        (&b["requires"], &b["bound_account"], &b["connections"]),
        (&serde_json::Value::Null, &serde_json::Value::Null, &2.into())
    );
    let table = t.run(&["companies", "list"]);
    t.assert_no_secret(&table);
    assert!(text(&table.stdout).contains("warehouse-28676"), "{}", text(&table.stdout));

    // Each company sees its own stores and the global one, never the other's.
    assert_eq!(t.listed(&["--company", "a"]), ["shop-global", "tk-a", "woo-a"]);
    assert_eq!(t.listed(&["--company", "b"]), ["shop-global", "tk-b", "woo-b"]);
    assert_eq!(t.listed(&["--client-only", "a"]), ["tk-a", "woo-a"]);
    assert_eq!(t.listed(&[]), ["shop-global", "tk-a", "tk-b", "woo-a", "woo-b"]);

    // Each company's shop follows its own source: 10 in a, 50 in b.
    t.ok(&["sync-now", "woo-a"]);
    t.ok(&["sync-now", "woo-b"]);
    assert_eq!(t.stocks(), (Some(10), Some(10), Some(50), Some(50)));

    // Three sell in a's shop: a's Takealot follows, b's stores keep 50.
    t.woo_a.place_order(PlaceOrder::new(SKU, 3)).unwrap();
    let synced = t.ok(&["sync-now", "tk-a"]);
    assert!(synced.contains("1 new order lines imported first"), "{synced}");
    assert_eq!(t.stocks(), (Some(7), Some(7), Some(50), Some(50)));
    t.ok(&["sync-now", "woo-b"]);
    t.ok(&["sync-now", "tk-b"]);
    assert_eq!(t.stocks(), (Some(7), Some(7), Some(50), Some(50)), "b's stock is b's");

    // Removing a purges it; b keeps working.
    assert!(t.kept("a").1 > 0);
    let removed = t.ok(&["companies", "remove", "a"]);
    assert!(removed.starts_with("removed company a"), "{removed}");
    assert_eq!(t.kept("a"), (0, 0), "nothing of a is left");
    assert_eq!(t.listed(&[]), ["shop-global", "tk-b", "woo-b"]);
    assert_one_line_failure(&t.run(&["connections", "list", "--company", "a"]), 2, "companies add a");
    t.ok(&["connections", "test", "tk-b"]);
    t.woo_b.place_order(PlaceOrder::new(SKU, 5)).unwrap();
    t.ok(&["sync-now", "tk-b"]);
    assert_eq!((t.tk_b.stock(SKU).unwrap(), t.woo_b.stock(SKU).unwrap()), (Some(45), Some(45)));
    assert_eq!(t.tk_a.stock(SKU).unwrap(), Some(7), "a's platform is not written after its removal");
    assert_eq!(t.kept("b"), (2, 1));
    drop(t.shop);
}

/// `serve` runs every company: a sale delivered by webhook to a's shop moves a's stock only, and one to
/// b's shop moves b's only.
#[test]
fn serve_keeps_two_companies_with_the_same_sku_apart() {
    let t = Tenants::start();
    t.set_up();
    let command = support::stocksync_command(
        Some(&t.config),
        &["serve", "--listen", "127.0.0.1:0"],
        &["STOCKSYNC_LOG", "RUST_LOG"],
        &t.env,
    );
    let served = Served::start(command, None);
    // First start: each company's shop follows its own source.
    t.wait_for("the first reconcile", &served, |t| t.stocks() == (Some(10), Some(10), Some(50), Some(50)));
    for (store, woo) in [("woo-a", &t.woo_a), ("woo-b", &t.woo_b)] {
        let url = format!("{}/webhooks/{store}", served.base);
        woo.register_webhook(RegisterWebhook::new(url, woo.webhook_secret())).unwrap();
    }
    t.woo_a.place_order(PlaceOrder::new(SKU, 3)).unwrap();
    t.wait_for("a's sale reaches a's Takealot", &served, |t| t.tk_a.stock(SKU).unwrap() == Some(7));
    t.woo_b.place_order(PlaceOrder::new(SKU, 2)).unwrap();
    t.wait_for("b's sale reaches b's Takealot", &served, |t| t.tk_b.stock(SKU).unwrap() == Some(48));
    // Both sales were applied, each in its own company only.
    assert_eq!(t.stocks(), (Some(7), Some(7), Some(48), Some(48)), "{}", served.log());
    let (status, log) = served.stop("TERM");
    assert!(status.success(), "{log}");
    for (name, value) in t.env.iter().filter(|(k, _)| k != "STOCKSYNC_CREDENTIAL_KEY") {
        assert!(!log.contains(value.as_str()), "{name} appeared in serve's log");
    }
    drop(t.shop);
}

/// A config with bad company keys: `check-config` and the command using it exit 2 with one line.
#[test]
fn bad_company_configs_exit_2_with_one_line() {
    let store = "[store]\npath = \"s.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n";
    let woo = |extra: &str| {
        format!(
            "\n[[connections]]\nid = \"woo\"\nchannel = \"woocommerce\"\n{extra}\ncredentials_env = {{ consumer_key = \
             \"WOO_CK\", consumer_secret = \"WOO_CS\" }}\n[connections.settings]\nstore_url = \"https://shop.example\"\n"
        )
    };
    let acme = "\n[[companies]]\nid = \"acme\"\nname = \"Acme\"\n";
    let add_woo: &[&str] = &["connections", "add", "woo"];
    let add_acme: &[&str] = &["companies", "add", "acme"];
    let cases: Vec<(String, &[&str], &[&str])> = vec![
        (
            format!("{acme}{}", woo("company = \"acme\"\nclient = \"other\"")),
            add_woo,
            &["woo", "company = \"acme\"", "client = \"other\""],
        ),
        (format!("{acme}{}", woo("scope = \"global\"\ncompany = \"acme\"")), add_woo, &["woo", "global", "\"acme\""]),
        (format!("{acme}{}", woo("scope = \"everyone\"")), add_woo, &["woo", "scope = \"everyone\""]),
        (woo("company = \"ghost\""), add_woo, &["woo", "\"ghost\" is not declared", "[[companies]]"]),
        (
            format!("{acme}{}", woo("client = \"ghost\"")),
            &["connections", "update", "woo"],
            &["woo", "\"ghost\" is not declared"],
        ),
        (
            format!("{acme}requires = \"myspace\"\n{}", woo("company = \"acme\"")),
            add_acme,
            &["acme", "requires", "myspace"],
        ),
        (
            format!("{acme}requires = \"takealot\"\n{}", woo("company = \"acme\"")),
            add_acme,
            &["acme requires takealot", "[[connections]]"],
        ),
        (format!("{acme}{acme}{}", woo("")), add_acme, &["\"acme\"", "more than one"]),
        (format!("{}{}", acme.replace("acme", "a/b"), woo("")), &["companies", "add", "a/b"], &["\"a/b\"", "1-64"]),
        (format!("{}{}", acme.replace("name = \"Acme\"\n", ""), woo("")), &["companies", "list"], &["name"]),
    ];
    let env = [("STOCKSYNC_CREDENTIAL_KEY", KEY), ("WOO_CK", "ck"), ("WOO_CS", "cs")];
    for (body, command, needles) in cases {
        let (dir, path) = support::setup(&format!("{store}{body}"));
        let run = |args: &[&str]| support::stocksync_command(Some(&path), args, &[] as &[&str], &env).output().unwrap();
        assert_one_line_failure(&run(command), 2, needles);
        assert_one_line_failure(&run(&["check-config"]), 2, needles);
        assert!(!dir.path().join("s.db").exists(), "refused before the store is opened: {body}");
    }
    // A company the config does not declare.
    let (_dir, path) = support::setup(&format!("{store}{acme}{}", woo("")));
    let mut add = support::stocksync_command(Some(&path), &["companies", "add", "nobody"], &[] as &[&str], &env);
    assert_one_line_failure(&add.output().unwrap(), 2, "no company \"nobody\"");
    let mut no_config =
        support::stocksync_command(None, &["companies", "list"], &[] as &[&str], &[] as &[(&str, &str)]);
    assert_one_line_failure(&no_config.output().unwrap(), 2, "--config");
}

/// A config from before companies (no `[[companies]]`, no `company` key) works as it did: its stores are
/// the default company's.
#[test]
fn a_config_without_companies_keeps_working() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (tk, woo, shopify) = support::start_emulators(&rt, |_| {}, WooCommerceConfig::default());
    tk.seed_product(SeedProduct::new("MUG", 8, Decimal::from(10))).unwrap();
    woo.seed_product(SeedProduct::new("MUG", 2, Decimal::from(10))).unwrap();
    let config = format!(
        "{}{}{}",
        support::store_and_sync("1s"),
        support::takealot_connection(&tk),
        support::woo_connection(&woo, None)
    );
    let (_dir, path) = support::setup(&config);
    let env = support::seller_env(&tk, &woo, &shopify);
    let run = |args: &[&str]| {
        let out = support::stocksync_command(Some(&path), args, &[] as &[&str], &env).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert!(run(&["check-config"]).ends_with("ok (2 connections: takealot, woo-store)\n"));
    assert!(run(&["connections", "add", "takealot"]).contains("company default"));
    run(&["connections", "add", "woo-store"]);
    run(&["sync-now", "woo-store"]);
    assert_eq!(woo.stock("MUG").unwrap(), Some(8));
    let companies: serde_json::Value = serde_json::from_str(&run(&["companies", "list", "--json"])).unwrap();
    assert_eq!(companies.as_array().unwrap().len(), 1, "{companies}");
    assert_eq!((&companies[0]["id"], &companies[0]["connections"]), (&"default".into(), &2.into()));
    let listed: serde_json::Value =
        serde_json::from_str(&run(&["connections", "list", "--company", "default", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed[0]["company"], "default");
    drop(shopify);
}
