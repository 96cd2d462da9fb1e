//! `stocksync demo`: the emulators in-process, an SQLite store in a temporary directory, a full sync with a
//! progress bar, concurrent orders on several channels, and a table of every SKU on every channel. Exits 0
//! only when everything converged: the source shows its starting stock less exactly what was sold, and every
//! channel shows what the source allows.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::SecretString;
use channel_core::{Channel, ChannelKind, StoreId};
use channel_testkit::amazon::{self as amz_emu, AmazonEmulator};
use channel_testkit::shopify::{self as shop_emu, ShopifyEmulator};
use channel_testkit::takealot::{self as tk_emu, TakealotEmulator};
use channel_testkit::woocommerce::{self as woo_emu, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use sync_engine::connections::{ChannelFactory, ChannelSpec};
use sync_engine::store::{Component, ProductRecord, SyncMode, WriteOp};
use sync_engine::{
    Connections, CredentialCipher, Credentials, NewConnection, SqliteStore, Store, SyncConfig, SyncEngine, SystemClock,
};

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
/// WooCommerce's listings (with stale starting quantities the full sync corrects).
const WOO: &[(&str, i64)] = &[("MUG-RED", 5), ("MUG-BLUE", 99), ("TEE-S", 0), ("MUG-PAIR", 3)];

/// Shopify's listings (with stale starting quantities).
const SHOPIFY: &[(&str, i64)] = &[("MUG-RED", 12), ("TEE-S", 7), ("TEE-M", 0), ("MUG-PAIR", 50)];

/// Amazon's merchant-fulfilled listings (with stale starting quantities).
const AMAZON: &[(&str, i64)] = &[("MUG-RED", 2), ("TEE-M", 40), ("MUG-PAIR", 9)];
/// Amazon's FBA listing: stock held in Amazon's fulfilment centres, channel-held and read-only.
const AMAZON_FBA: (&str, i64) = ("CAP", 30);

/// Builds the demo's adapters from a connection's settings and credentials.
#[derive(Debug)]
struct DemoFactory;

impl ChannelFactory for DemoFactory {
    fn build(&self, spec: &ChannelSpec<'_>) -> channel_core::Result<Arc<dyn Channel>> {
        let setting = |name: &str| {
            spec.settings[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| channel_core::Error::config(format!("{}: setting {name} is missing", spec.store)))
        };
        let secret = |name: &str| {
            spec.credentials
                .expose(name)
                .map(str::to_owned)
                .ok_or_else(|| channel_core::Error::config(format!("{}: credential {name} is missing", spec.store)))
        };
        match spec.channel {
            ChannelKind::Takealot => {
                let warehouse: u64 = setting("warehouse_id")?
                    .parse()
                    .map_err(|_| channel_core::Error::config("warehouse_id is not a number"))?;
                let config = channel_takealot::TakealotConfig::new(SecretString::from(secret("api_key")?), warehouse)
                    .base_url(setting("base_url")?)
                    .batch_poll_interval(Duration::from_millis(20))
                    .webhook_secret(
                        SecretString::from(secret("webhook_secret")?),
                        channel_takealot::SignatureScheme::HexBody,
                    );
                let adapter = channel_takealot::Takealot::new(config)
                    .map_err(|e| channel_core::Error::config(format!("takealot: {e}")))?;
                Ok(Arc::new(adapter))
            }
            ChannelKind::Woocommerce => {
                let config = channel_woocommerce::WooCommerceConfig::new(
                    setting("site")?,
                    secret("consumer_key")?,
                    secret("consumer_secret")?,
                )
                .with_webhook_secret(secret("webhook_secret")?);
                let adapter = channel_woocommerce::WooCommerce::new(config)
                    .map_err(|e| channel_core::Error::config(format!("woocommerce: {e}")))?;
                Ok(Arc::new(adapter))
            }
            ChannelKind::Shopify => {
                let config =
                    channel_shopify::ShopifyConfig::new(setting("shop")?, SecretString::from(secret("access_token")?))
                        .base_url(setting("base_url")?)
                        .webhook_secret(SecretString::from(secret("webhook_secret")?));
                let adapter = channel_shopify::Shopify::new(config)
                    .map_err(|e| channel_core::Error::config(format!("shopify: {e}")))?;
                Ok(Arc::new(adapter))
            }
            ChannelKind::Amazon => {
                let config = channel_amazon::AmazonConfig::new(
                    setting("seller_id")?,
                    [setting("marketplace_id")?],
                    channel_amazon::Region::Na,
                    secret("lwa_client_id")?,
                    secret("lwa_client_secret")?,
                    secret("refresh_token")?,
                );
                // The emulator runs with its fast rate presets, so the adapter learns the limits from the
                // answers' headers rather than starting from Amazon's documented usage plans.
                let adapter = channel_amazon::Amazon::builder(config)
                    .base_url(setting("base_url")?)
                    .token_url(setting("token_url")?)
                    .documented_rate_limits(false)
                    .poll_interval(Duration::from_millis(20))
                    .processing_timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| channel_core::Error::config(format!("amazon: {e}")))?;
                Ok(Arc::new(adapter))
            }
            other => Err(channel_core::Error::unsupported(format!("the demo has no {other} adapter yet"))),
        }
    }
}

struct Emulators {
    takealot: TakealotEmulator,
    woo: WooCommerceEmulator,
    shopify: ShopifyEmulator,
    amazon: AmazonEmulator,
}

impl Emulators {
    fn stock(&self, store: &str, sku: &str) -> Option<i64> {
        match store {
            "takealot" => self.takealot.stock(sku).ok().flatten(),
            "woo" => self.woo.stock(sku).ok().flatten(),
            "shopify" => self.shopify.stock(sku).ok().flatten(),
            "amazon" => self.amazon.stock(sku).ok().flatten(),
            _ => None,
        }
    }

    fn place(&self, store: &str, order: PlaceOrder) -> bool {
        match store {
            "takealot" => self.takealot.place_order(order).is_ok(),
            "woo" => self.woo.place_order(order).is_ok(),
            "shopify" => self.shopify.place_order(order).is_ok(),
            "amazon" => self.amazon.place_order(order).is_ok(),
            _ => false,
        }
    }
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

async fn demo(args: DemoArgs) -> Result<bool, String> {
    let started = std::time::Instant::now();
    println!("stocksync demo: Takealot is the source of truth; WooCommerce, Shopify and Amazon follow.");
    println!("  not in this demo yet: eBay, Etsy, TikTok Shop, Magento, Veeqo, Shopamine (no emulators yet)");
    // 1. Emulators.
    let mut tk_config = tk_emu::TakealotConfig::default();
    tk_config.batch_processing_delay = Duration::from_millis(10);
    let takealot = TakealotEmulator::start(tk_config).await.map_err(fail)?;
    let woo = WooCommerceEmulator::start(woo_emu::WooCommerceConfig::default()).await.map_err(fail)?;
    for (sku, qty) in CATALOG {
        let mut seed = SeedProduct::new(*sku, *qty, Decimal::from(150));
        if *sku == "CAP" {
            // Takealot also holds CAPs in its own DC: channel-held, never written, never counted.
            seed = seed.with("dc_stock", 50);
        }
        takealot.seed_product(seed).map_err(fail)?;
    }
    for (sku, qty) in WOO {
        woo.seed_product(SeedProduct::new(*sku, *qty, Decimal::from(170))).map_err(fail)?;
    }
    let shopify = ShopifyEmulator::start(shop_emu::ShopifyConfig::default()).await.map_err(fail)?;
    for (sku, qty) in SHOPIFY {
        shopify.seed_product(SeedProduct::new(*sku, *qty, Decimal::from(160))).map_err(fail)?;
    }
    let amazon = AmazonEmulator::start(amz_emu::AmazonConfig::fast()).await.map_err(fail)?;
    for (sku, qty) in AMAZON {
        amazon.seed_product(SeedProduct::new(*sku, *qty, Decimal::from(12))).map_err(fail)?;
    }
    // Fulfilled by Amazon: channel-held, never written, never counted.
    amazon
        .seed_product(SeedProduct::new(AMAZON_FBA.0, AMAZON_FBA.1, Decimal::from(12)).with("fulfilment", "channel"))
        .map_err(fail)?;
    let emulators = Arc::new(Emulators { takealot, woo, shopify, amazon });
    println!(
        "  emulators: takealot {}  woocommerce {}  shopify {}  amazon {}",
        emulators.takealot.base_url(),
        emulators.woo.base_url(),
        emulators.shopify.base_url(),
        emulators.amazon.base_url()
    );

    // 2. The store, the catalog and the connections.
    let dir = tempfile::tempdir().map_err(fail)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("stocksync.db")).await.map_err(fail)?);
    let now = jiff::Timestamp::now();
    let bundle = ProductRecord::bundle(
        channel_core::Sku::new(BUNDLE.0).map_err(fail)?,
        BUNDLE
            .1
            .iter()
            .map(|(s, q)| channel_core::Sku::new(s).map(|sku| Component { sku, quantity: i64::from(*q) }))
            .collect::<Result<_, _>>()
            .map_err(fail)?,
        now,
    );
    let mut batch = sync_engine::WriteBatch::new();
    for (sku, _) in CATALOG {
        batch.push(WriteOp::PutProduct(ProductRecord::simple(channel_core::Sku::new(sku).map_err(fail)?, now)));
    }
    batch.push(WriteOp::PutProduct(bundle));
    store.commit(batch).await.map_err(fail)?;
    let cipher = CredentialCipher::from_base64(&CredentialCipher::generate_key()).map_err(fail)?;
    let connections = Connections::new(Arc::clone(&store), Arc::new(DemoFactory), cipher, Arc::new(SystemClock));
    let tk = &emulators.takealot;
    connections
        .add(
            NewConnection::new(
                "takealot",
                ChannelKind::Takealot,
                "Takealot",
                Credentials::new().with("api_key", tk.api_key()).with("webhook_secret", tk.webhook_secret()),
            )
            .with_settings(serde_json::json!({
                "base_url": tk.base_url(),
                "warehouse_id": tk.warehouse_ids().first().copied().unwrap_or_default().to_string(),
            }))
            .with_sync_mode(SyncMode::Live)
            .source_of_truth(true),
        )
        .await
        .map_err(|e| format!("connecting takealot: {e}"))?;
    let w = &emulators.woo;
    connections
        .add(
            NewConnection::new(
                "woo",
                ChannelKind::Woocommerce,
                "WooCommerce",
                Credentials::new()
                    .with("consumer_key", w.consumer_key())
                    .with("consumer_secret", w.consumer_secret())
                    .with("webhook_secret", w.webhook_secret()),
            )
            .with_settings(serde_json::json!({"site": w.base_url()}))
            .with_sync_mode(SyncMode::Live),
        )
        .await
        .map_err(|e| format!("connecting woocommerce: {e}"))?;

    let sh = &emulators.shopify;
    connections
        .add(
            NewConnection::new(
                "shopify",
                ChannelKind::Shopify,
                "Shopify",
                Credentials::new().with("access_token", sh.access_token()).with("webhook_secret", sh.webhook_secret()),
            )
            .with_settings(serde_json::json!({"shop": "demo-shop.myshopify.com", "base_url": sh.base_url()}))
            .with_sync_mode(SyncMode::Live),
        )
        .await
        .map_err(|e| format!("connecting shopify: {e}"))?;

    let az = &emulators.amazon;
    connections
        .add(
            NewConnection::new(
                "amazon",
                ChannelKind::Amazon,
                "Amazon",
                Credentials::new()
                    .with("lwa_client_id", az.client_id())
                    .with("lwa_client_secret", az.client_secret())
                    .with("refresh_token", az.refresh_token()),
            )
            .with_settings(serde_json::json!({
                "seller_id": az.seller_id(),
                "marketplace_id": az.marketplace_id(),
                "base_url": az.base_url(),
                "token_url": az.token_url(),
            }))
            .with_sync_mode(SyncMode::Live),
        )
        .await
        .map_err(|e| format!("connecting amazon: {e}"))?;

    // 3. The engine, its webhook endpoints and its background tasks.
    let mut config = SyncConfig::default();
    config.poll_interval = Duration::from_secs(5);
    config.tick = Duration::from_millis(200);
    config.base_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(2);
    let mut builder = SyncEngine::builder(Arc::clone(&store)).config(config);
    let stores = ["takealot", "woo", "shopify", "amazon"];
    for id in stores {
        let id = StoreId::new(id);
        builder = builder.channel(id.clone(), connections.channel(&id).await.map_err(fail)?);
    }
    let engine = builder.build().await.map_err(fail)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
    let base = format!("http://{}", listener.local_addr().map_err(fail)?);
    let app = crate::serve::webhook_router(engine.clone(), base.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    tk.register_webhook(RegisterWebhook::new(format!("{base}/webhooks/takealot"), tk.webhook_secret()))
        .map_err(fail)?;
    w.register_webhook(RegisterWebhook::new(format!("{base}/webhooks/woo"), w.webhook_secret())).map_err(fail)?;
    sh.register_webhook(RegisterWebhook::new(format!("{base}/webhooks/shopify"), sh.webhook_secret())).map_err(fail)?;
    println!("  webhooks: {base}/webhooks/{{store}}; Amazon has none, so its orders arrive by polling");

    // 4. A full sync with a progress bar.
    let summary = crate::serve::run_with_progress(engine.sync_now()).await?;
    println!(
        "full sync: {} listings read, {} updates planned, {} pushed, {} failed",
        summary.listings_read, summary.planned, summary.pushed, summary.failed
    );
    let running = engine.start();

    // 5. Concurrent orders on every channel (the emulators refuse what they cannot sell).
    let plan: Vec<(&str, PlaceOrder)> = (0..args.orders)
        .map(|i| match i % 10 {
            0 => ("takealot", PlaceOrder::new("MUG-RED", 1)),
            1 => ("woo", PlaceOrder::new("MUG-RED", 1)),
            2 => ("woo", PlaceOrder::new("MUG-PAIR", 1)),
            3 => ("takealot", PlaceOrder::new("TEE-M", 1)),
            4 => ("woo", PlaceOrder::new("TEE-S", 1)),
            5 => ("shopify", PlaceOrder::new("MUG-PAIR", 1)),
            6 => ("shopify", PlaceOrder::new("TEE-M", 1)),
            7 => ("amazon", PlaceOrder::new("MUG-RED", 1)),
            8 => ("amazon", PlaceOrder::new(AMAZON_FBA.0, 1).by_channel()),
            _ => ("takealot", PlaceOrder::new("CAP", 1).by_channel()),
        })
        .collect();
    let tasks = plan.into_iter().enumerate().map(|(i, (store, order))| {
        let emulators = Arc::clone(&emulators);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            let sku = order.sku.clone();
            let quantity = order.quantity;
            let channel_held = order.fulfilment == channel_testkit::OrderFulfilment::Channel;
            let ok = emulators.place(store, order);
            (store, sku, quantity, channel_held, ok)
        })
    });
    let results = futures::future::join_all(tasks).await;
    let mut sold: BTreeMap<String, i64> = BTreeMap::new();
    let (mut placed, mut refused) = (0, 0);
    // Units Amazon shipped from its own FBA stock: only they change it.
    let mut fba_sold = 0;
    for r in results {
        let (store, sku, quantity, channel_held, ok) = r.map_err(fail)?;
        if !ok {
            refused += 1;
            continue;
        }
        placed += 1;
        if channel_held {
            if store == "amazon" {
                fba_sold += quantity;
            }
            continue;
        }
        let parts: Vec<(&str, u32)> = if sku == BUNDLE.0 { BUNDLE.1.to_vec() } else { vec![(sku.as_str(), 1)] };
        for (component, m) in parts {
            *sold.entry(component.to_owned()).or_default() += quantity * i64::from(m);
        }
    }
    println!("orders: {placed} placed, {refused} refused by the channels (out of stock there)");

    // 6. Wait for convergence.
    let expected = |sku: &str| -> i64 {
        let start = CATALOG.iter().find(|(s, _)| *s == sku).map_or(0, |(_, q)| *q);
        (start - sold.get(sku).copied().unwrap_or(0)).max(0)
    };
    // Units sold beyond the stock: the channels' own races (see docs/sync.md).
    let oversold: i64 = CATALOG.iter().map(|(sku, start)| (sold.get(*sku).copied().unwrap_or(0) - start).max(0)).sum();
    let target = |sku: &str| -> i64 {
        if sku == BUNDLE.0 {
            BUNDLE.1.iter().map(|(c, m)| expected(c) / i64::from(*m)).min().unwrap_or(0)
        } else {
            expected(sku)
        }
    };
    let converged = |emulators: &Emulators| -> bool {
        CATALOG.iter().all(|(sku, _)| emulators.stock("takealot", sku) == Some(expected(sku)))
            && WOO.iter().all(|(sku, _)| emulators.stock("woo", sku) == Some(target(sku)))
            && SHOPIFY.iter().all(|(sku, _)| emulators.stock("shopify", sku) == Some(target(sku)))
            && AMAZON.iter().all(|(sku, _)| emulators.stock("amazon", sku) == Some(target(sku)))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.wait);
    let mut ok = converged(&emulators);
    while !ok && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ok = converged(&emulators);
    }
    running.shutdown().await;
    server.abort();

    // 7. The table.
    println!();
    println!(
        "{:<10} {:>9} {:>9} {:>12} {:>8} {:>7}",
        "SKU", "expected", "takealot", "woocommerce", "shopify", "amazon"
    );
    let mut skus: Vec<&str> = CATALOG.iter().map(|(s, _)| *s).collect();
    skus.push(BUNDLE.0);
    for sku in skus {
        let show = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |q| q.to_string());
        let tk_q = if sku == BUNDLE.0 { None } else { emulators.stock("takealot", sku) };
        let woo_listed = WOO.iter().any(|(s, _)| *s == sku);
        let woo_q = if woo_listed { emulators.stock("woo", sku) } else { None };
        let shop_listed = SHOPIFY.iter().any(|(s, _)| *s == sku);
        let shop_q = if shop_listed { emulators.stock("shopify", sku) } else { None };
        let amazon_listed = AMAZON.iter().any(|(s, _)| *s == sku);
        let amazon_q = if amazon_listed { emulators.stock("amazon", sku) } else { None };
        let amazon_shown = if sku == AMAZON_FBA.0 { "fba".to_owned() } else { show(amazon_q) };
        let fine = (sku == BUNDLE.0 || tk_q == Some(expected(sku)))
            && (!woo_listed || woo_q == Some(target(sku)))
            && (!shop_listed || shop_q == Some(target(sku)))
            && (!amazon_listed || amazon_q == Some(target(sku)));
        println!(
            "{:<10} {:>9} {:>9} {:>12} {:>8} {:>7}  {}",
            sku,
            target(sku),
            show(tk_q),
            show(woo_q),
            show(shop_q),
            amazon_shown,
            if fine { "ok" } else { "DIFFERS" }
        );
    }
    if let Some(dc) = emulators.takealot.platform().dc_stock("CAP") {
        println!("(CAP in Takealot's DC: {dc}, channel-held: never written by stocksync)");
    }
    let fba = emulators.amazon.platform().fba_quantity(AMAZON_FBA.0);
    if let Some(fba) = fba {
        println!(
            "({} at Amazon FBA: {fba} of {}, channel-held: never written by stocksync)",
            AMAZON_FBA.0, AMAZON_FBA.1
        );
    }
    if fba != Some(AMAZON_FBA.1 - fba_sold) {
        println!("Amazon FBA stock of {} changed by something other than its {fba_sold} FBA order(s)", AMAZON_FBA.0);
        ok = false;
    }
    let ledger = store.ledger(&sync_engine::store::LedgerFilter::default()).await.map_err(fail)?;
    if std::env::var_os("STOCKSYNC_DEMO_TRACE").is_some() {
        for m in &ledger {
            eprintln!("ledger {:?}", m.movement);
        }
        for a in store.audit(&sync_engine::store::AuditFilter::default()).await.map_err(fail)? {
            eprintln!("audit {} {:?} {:?} {:?}->{:?} {}", a.store, a.listing, a.sku, a.old, a.new, a.reason);
        }
        eprintln!("model RED {:?}", engine.on_hand(&channel_core::Sku::new("MUG-RED").map_err(fail)?).await);
    }
    if oversold > 0 {
        println!(
            "oversold: {oversold} unit(s) sold by channels in the instants before their orders reached the engine"
        );
    }
    println!(
        "\n{} ledger movements; {} in {:.1}s",
        ledger.len(),
        if ok { "converged" } else { "NOT converged" },
        started.elapsed().as_secs_f64()
    );
    Ok(ok)
}
