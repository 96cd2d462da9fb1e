//! Behaviour against the channel-testkit WooCommerce emulator: the conformance suite, variations,
//! faults, partial batches, OAuth over plain HTTP, and the efficiency figures.
//!
//! Figures: `cargo test -p channel-woocommerce --test emulator efficiency -- --nocapture`.

use std::sync::Arc;
use std::time::Duration;

use channel_core::http::RetryPolicy;
use channel_core::{Channel, ChannelExt, ErrorKind, Outcome, Stock, StockUpdate};
use channel_testkit::conformance::{ConformanceTarget, SandboxClient, check_all};
use channel_testkit::woocommerce::{WooCommerceConfig as EmuConfig, WooCommerceEmulator};
use channel_testkit::{Fault, SeedProduct};
use channel_woocommerce::{AuthMode, OAuthPlacement, OAuthSignatureMethod, WooCommerce, WooCommerceConfig};
use rust_decimal::Decimal;

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(50)).with_jitter(false)
}

async fn start() -> (WooCommerceEmulator, WooCommerce) {
    let emu = WooCommerceEmulator::start(EmuConfig::default()).await.expect("emulator");
    let channel = channel_for(&emu, |c| c);
    (emu, channel)
}

fn channel_for(emu: &WooCommerceEmulator, f: impl FnOnce(WooCommerceConfig) -> WooCommerceConfig) -> WooCommerce {
    let config = WooCommerceConfig::new(emu.base_url(), emu.consumer_key(), emu.consumer_secret())
        .webhook_secret(emu.webhook_secret())
        .timeout(Duration::from_secs(5));
    WooCommerce::builder(f(config)).retry(fast_retries()).build().expect("channel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let (emu, channel) = start().await;
    let secret = emu.webhook_secret().to_owned();
    let target =
        ConformanceTarget::new(Arc::new(channel), SandboxClient::new(emu.base_url())).with_webhook_secret(secret);
    check_all(&target).await;
}

#[tokio::test]
async fn conformance_with_sha1_signatures_in_the_query() {
    let emu = WooCommerceEmulator::start(EmuConfig::default()).await.unwrap();
    let channel = channel_for(&emu, |c| {
        c.oauth_signature_method(OAuthSignatureMethod::HmacSha1).oauth_placement(OAuthPlacement::Query)
    });
    let target = ConformanceTarget::new(Arc::new(channel), SandboxClient::new(emu.base_url()));
    channel_testkit::conformance::check_set_stock(&target).await;
    // The consumer secret never travels in a URL.
    for r in emu.requests() {
        let q = r.query.unwrap_or_default();
        assert!(!q.contains("consumer_secret") && !q.contains(emu.consumer_secret()), "{q}");
        assert!(q.contains("oauth_signature_method=HMAC-SHA1"), "{q}");
    }
}

#[tokio::test]
async fn variations_untracked_and_inherited_stock() {
    let (emu, channel) = start().await;
    emu.seed_product(SeedProduct::new("TEE-S", 4, Decimal::from(10)).with("parent_sku", "TEE")).unwrap();
    emu.seed_product(SeedProduct::new("TEE-M", 6, Decimal::from(10)).with("parent_sku", "TEE")).unwrap();
    emu.seed_product(
        SeedProduct::new("CAP-1", 0, Decimal::from(5)).with("parent_sku", "CAP").with("manage_stock", "parent"),
    )
    .unwrap();
    emu.seed_product(SeedProduct::new("BAG", 0, Decimal::from(5)).with("manage_stock", false)).unwrap();
    let listings = channel.all_listings().await.unwrap();
    let by_sku =
        |s: &str| listings.iter().find(|l| l.channel_sku == s).unwrap_or_else(|| panic!("{s} in {listings:?}"));
    let tee_s = by_sku("TEE-S");
    assert!(tee_s.id.as_str().contains('/'), "variation ids are product/variation: {}", tee_s.id);
    assert_eq!(tee_s.stock, Stock::Tracked { quantity: 4 });
    assert_eq!(by_sku("CAP-1").stock, Stock::Inherited);
    assert_eq!(by_sku("BAG").stock, Stock::Untracked);
    assert_eq!(tee_s.price.map(|p| p.currency.code().to_owned()).as_deref(), Some("ZAR"));

    // By id: a variation through its parent's variations, a product through the product list.
    let wanted = [tee_s.id.clone(), by_sku("BAG").id.clone(), by_sku("CAP-1").id.clone()];
    let before = emu.requests().len();
    let got = channel.get_listings(&wanted).await.unwrap();
    assert_eq!(got.len(), 3, "{got:?}");
    for l in &got {
        let listed = listings.iter().find(|x| x.id == l.id).unwrap();
        assert_eq!((&l.channel_sku, l.stock, l.price), (&listed.channel_sku, listed.stock, listed.price));
    }
    // One call for the products, one per parent with variations asked for.
    assert_eq!(emu.requests().len() - before, 3, "by-id reads cost a call per parent, not the catalog");

    // A variation id can be written again, and an untracked product starts being tracked.
    let updates = vec![
        StockUpdate::new(tee_s.id.clone(), "TEE-S", 9).with_ids(tee_s.ids.clone()),
        StockUpdate::new(by_sku("BAG").id.clone(), "BAG", 2),
    ];
    let out = channel.set_stock(&updates).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    assert_eq!(emu.stock("TEE-S").unwrap(), Some(9));
    assert_eq!(emu.stock("BAG").unwrap(), Some(2));
}

#[tokio::test]
async fn partial_batch_failure_is_per_item() {
    let (emu, channel) = start().await;
    for i in 0..4 {
        emu.seed_product(SeedProduct::new(format!("PB-{i}"), 1, Decimal::from(3))).unwrap();
    }
    let listings = channel.all_listings().await.unwrap();
    let updates: Vec<StockUpdate> =
        listings.iter().map(|l| StockUpdate::new(l.id.clone(), l.channel_sku.clone(), 5)).collect();
    emu.inject_fault(Fault::partial_batch());
    let out = channel.set_stock(&updates).await.unwrap();
    assert_eq!(out.len(), 4);
    for (i, o) in out.iter().enumerate() {
        if i % 2 == 1 {
            assert!(matches!(o.outcome, Outcome::Rejected { retryable: true, .. }), "{i}: {o:?}");
        } else {
            assert!(o.is_applied(), "{i}: {o:?}");
        }
    }
}

#[tokio::test]
async fn reads_survive_faults_and_report_malformed_bodies() {
    let (emu, channel) = start().await;
    emu.seed_product(SeedProduct::new("F-1", 3, Decimal::from(3))).unwrap();
    emu.inject_fault(Fault::too_many_requests(0));
    emu.inject_fault(Fault::status(503));
    emu.inject_fault(Fault::drop_connection());
    assert_eq!(channel.all_listings().await.unwrap().len(), 1);
    // Every retry was signed afresh: no nonce was refused.
    assert!(emu.requests().iter().all(|r| r.status != Some(401)));

    emu.inject_fault(Fault::malformed());
    let err = channel.test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");

    let bad = channel_for(&emu, |mut c| {
        c.consumer_secret = "cs_wrong".to_owned().into();
        c
    });
    assert_eq!(bad.test_connection().await.unwrap_err().kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn orders_tracking_and_identity() {
    let (emu, channel) = start().await;
    let id = channel.test_connection().await.unwrap();
    assert_eq!(id.account_id, emu.base_url().trim_end_matches('/'));
    assert_eq!(id.details.get("currency").map(String::as_str), Some("ZAR"));
    emu.seed_product(SeedProduct::new("ORD-1", 5, Decimal::from(3))).unwrap();
    let placed = emu.place_order(channel_testkit::PlaceOrder::new("ORD-1", 2)).unwrap();
    let order_id: u64 = placed.order_id.parse().unwrap();
    let shipment = channel_core::Shipment::whole_order(
        placed.order_id.clone(),
        channel_core::Tracking::new("The Courier Guy", "TCG123"),
        jiff::Timestamp::now(),
    );
    channel.export_tracking(&shipment).await.unwrap();
    assert_eq!(emu.platform().tracking_numbers(order_id), vec!["TCG123".to_owned()]);
    // Not one of the extension's providers: a custom provider, shown with its name.
    assert_eq!(emu.platform().trackings(order_id)[0]["tracking_provider"], "The Courier Guy");
    // One of them (any spelling): the extension's name, and the link it builds.
    let ups = channel_core::Shipment::whole_order(
        placed.order_id.clone(),
        channel_core::Tracking::new("ups", "1Z999"),
        jiff::Timestamp::now(),
    );
    channel.export_tracking(&ups).await.unwrap();
    let shown = &emu.platform().trackings(order_id)[1];
    assert_eq!(shown["tracking_provider"], "UPS");
    assert_eq!(shown["tracking_link"], "https://www.ups.com/track?loc=en_US&tracknum=1Z999");
    assert_eq!(emu.platform().order_status(order_id).as_deref(), Some("completed"));

    // Without the extension: an order note, then completed.
    let mut config = EmuConfig::default();
    config.shipment_tracking = false;
    let emu2 = WooCommerceEmulator::start(config).await.unwrap();
    let channel2 = channel_for(&emu2, |c| c);
    emu2.seed_product(SeedProduct::new("ORD-2", 5, Decimal::from(3))).unwrap();
    let placed = emu2.place_order(channel_testkit::PlaceOrder::new("ORD-2", 1)).unwrap();
    let order_id: u64 = placed.order_id.parse().unwrap();
    let shipment = channel_core::Shipment::whole_order(
        placed.order_id,
        channel_core::Tracking::new("DHL", "DHL999"),
        jiff::Timestamp::now(),
    );
    channel2.export_tracking(&shipment).await.unwrap();
    assert!(emu2.platform().order_notes(order_id).iter().any(|n| n.contains("DHL999")));
    assert_eq!(emu2.platform().order_status(order_id).as_deref(), Some("completed"));
}

/// Efficiency: N changed quantities cost ceil(N / 100) write calls, none when nothing changed, and
/// listing N simple products costs ceil(N / 100) product pages (with the currency configured; otherwise
/// one `data/currencies/current` read more, once per channel).
#[tokio::test]
async fn efficiency() {
    for n in [1usize, 100, 101, 250] {
        let emu = WooCommerceEmulator::start(EmuConfig::default()).await.unwrap();
        let channel = channel_for(&emu, |c| c.currency("ZAR"));
        for i in 0..n {
            emu.seed_product(SeedProduct::new(format!("EFF-{i:04}"), 1, Decimal::from(2))).unwrap();
        }
        let listings = channel.all_listings().await.unwrap();
        let reads = emu.requests().len();
        assert_eq!(listings.len(), n);
        assert_eq!(reads, n.div_ceil(100), "reads for {n}");
        let updates: Vec<StockUpdate> =
            listings.iter().map(|l| StockUpdate::new(l.id.clone(), l.channel_sku.clone(), 7)).collect();
        let before = emu.requests().len();
        let out = channel.set_stock(&updates).await.unwrap();
        assert!(out.iter().all(|o| o.is_applied()));
        let writes = emu.requests()[before..].iter().filter(|r| r.method != "GET").count();
        assert_eq!(writes, n.div_ceil(100), "writes for {n}");
        let before = emu.requests().len();
        channel.set_stock(&[]).await.unwrap();
        assert_eq!(emu.requests().len(), before, "nothing to change costs nothing");
        println!("woocommerce N={n}: writes={writes} (ceil(N/100)), unchanged=0, listing reads={reads} (ceil(N/100))");
    }
}

/// An HTTPS store whose server strips `Authorization` (the emulator's `strip_authorization`): `auto`
/// falls back to query-string keys and works; `basic` cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_auth_survives_a_server_that_strips_authorization() {
    let mut config = EmuConfig::default();
    config.strip_authorization = true;
    let emu = WooCommerceEmulator::start(config).await.unwrap();
    let https = |auth: AuthMode| {
        let config = WooCommerceConfig::new("https://shop.example", emu.consumer_key(), emu.consumer_secret())
            .base_url(emu.base_url())
            .auth(auth)
            .webhook_secret(emu.webhook_secret());
        WooCommerce::builder(config).retry(fast_retries()).build().unwrap()
    };
    assert_eq!(https(AuthMode::Basic).test_connection().await.unwrap_err().kind(), ErrorKind::Auth);
    let channel = https(AuthMode::Auto);
    let id = channel.test_connection().await.unwrap();
    assert_eq!(id.details.get("auth").map(String::as_str), Some("query_string"));
    let target = ConformanceTarget::new(Arc::new(channel), SandboxClient::new(emu.base_url()));
    channel_testkit::conformance::check_set_stock(&target).await;
}
