//! Behaviour against the channel-testkit Amazon SP-API emulator (fast rate preset): the conformance
//! suite, LWA token caching, patches and feeds, FBA, orders, tracking, notifications, faults and the
//! efficiency figures.
//!
//! Figures: `cargo test -p channel-amazon --test emulator efficiency -- --nocapture`.

use std::sync::Arc;
use std::time::Duration;

use channel_amazon::{Amazon, AmazonConfig, Region, webhook};
use channel_core::http::RetryPolicy;
use channel_core::{
    Channel, ChannelExt, Currency, ErrorKind, Fulfilment, Money, OrderCursor, OrderStatus, Outcome, PriceUpdate,
    Shipment, StockUpdate, Tracking, WebhookPayload,
};
use channel_testkit::amazon::{AmazonConfig as EmuConfig, AmazonEmulator};
use channel_testkit::conformance::{ConformanceTarget, SandboxClient, SandboxRequest, check_all};
use channel_testkit::{Fault, PlaceOrder, SeedProduct};
use futures::TryStreamExt;
use rust_decimal::Decimal;

async fn start() -> (AmazonEmulator, Amazon) {
    let emu = AmazonEmulator::start(EmuConfig::fast()).await.expect("emulator");
    let channel = channel_for(&emu, |c| c);
    (emu, channel)
}

fn channel_for(emu: &AmazonEmulator, f: impl FnOnce(AmazonConfig) -> AmazonConfig) -> Amazon {
    let config = AmazonConfig::new(
        emu.seller_id(),
        [emu.marketplace_id()],
        Region::Na,
        emu.client_id(),
        emu.client_secret(),
        emu.refresh_token(),
    )
    .orders_settle(emu.orders_settle());
    Amazon::builder(f(config))
        .base_url(emu.base_url())
        .token_url(emu.token_url())
        .retry(
            RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(50)).with_jitter(false),
        )
        .poll_interval(Duration::from_millis(10))
        .build()
        .expect("channel")
}

/// One write call per `patchListingsItem` and per `createFeed` (a feed's document upload and polling
/// are part of the one write).
fn is_write(r: &SandboxRequest) -> bool {
    (r.method == "PATCH" && r.path.starts_with("/listings/"))
        || (r.method == "POST" && r.path == "/feeds/2021-06-30/feeds")
}

fn writes(emu: &AmazonEmulator, skip: usize) -> usize {
    emu.requests()
        .iter()
        .skip(skip)
        .filter(|r| {
            (r.method == "PATCH" && r.path.starts_with("/listings/"))
                || (r.method == "POST" && r.path == "/feeds/2021-06-30/feeds")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let (emu, channel) = start().await;
    let target =
        ConformanceTarget::new(Arc::new(channel), SandboxClient::new(emu.base_url())).with_write_classifier(is_write);
    check_all(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_make_one_token_request() {
    let (emu, channel) = start().await;
    let channel = Arc::new(channel);
    // 15: getMarketplaceParticipations' documented burst (0.016/s after it).
    let calls: Vec<_> = (0..15)
        .map(|_| {
            let c = Arc::clone(&channel);
            tokio::spawn(async move { c.test_connection().await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().account_id, emu.seller_id());
    }
    assert_eq!(channel.token_requests(), 1);
    let token_calls = emu.requests().iter().filter(|r| r.path == "/auth/o2/token").count();
    assert_eq!(token_calls, 1);

    // A token Amazon expired early (403): dropped, refreshed once, the call succeeds.
    emu.platform().expire_access_tokens();
    channel.test_connection().await.unwrap();
    assert_eq!(channel.token_requests(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_auth_errors() {
    let emu = AmazonEmulator::start(EmuConfig::fast()).await.unwrap();
    let channel = channel_for(&emu, |mut c| {
        c.refresh_token = "Atzr|wrong".to_owned().into();
        c
    });
    assert_eq!(channel.test_connection().await.unwrap_err().kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn feeds_apply_and_report_invalid_messages_per_sku() {
    let emu = AmazonEmulator::start(EmuConfig::fast()).await.unwrap();
    for i in 0..6 {
        emu.seed_product(SeedProduct::new(format!("FD-{i}"), 1, Decimal::from(10))).unwrap();
    }
    emu.seed_product(SeedProduct::new("FD-FBA", 30, Decimal::from(10)).with("fulfilment", "channel")).unwrap();
    let channel = channel_for(&emu, |c| c.feed_threshold(2));
    let mut updates: Vec<StockUpdate> =
        (0..6).map(|i| StockUpdate::new(format!("FD-{i}"), format!("FD-{i}"), 20 + i)).collect();
    // Amazon refuses a merchant quantity on an FBA SKU: reported for that message only.
    updates.push(StockUpdate::new("FD-FBA", "FD-FBA", 3));
    let before = emu.requests().len();
    let out = channel.set_stock(&updates).await.unwrap();
    for (i, o) in out.iter().enumerate().take(6) {
        let expected = 20 + i64::try_from(i).unwrap();
        assert_eq!(o.outcome, Outcome::Applied { quantity: Some(expected) }, "{i}");
        assert_eq!(emu.stock(&format!("FD-{i}")).unwrap(), Some(expected));
    }
    assert!(matches!(&out[6].outcome, Outcome::Rejected { retryable: false, .. }), "{:?}", out[6]);
    assert_eq!(writes(&emu, before), 1, "one feed");
    assert_eq!(emu.platform().fba_quantity("FD-FBA"), Some(30), "FBA quantity is never written");
}

#[tokio::test]
async fn concurrent_exports_of_one_order_get_packages_1_and_2() {
    // ordersV0.json PackageReferenceId: "uniquely identifies a package within the scope of an order"; a
    // confirmShipment with an id already used edits that package. Two exports of one order at once must
    // not both read the order's packages before either is confirmed and both send package 1.
    let (emu, channel) = start().await;
    emu.seed_product(SeedProduct::new("MFN-2", 10, Decimal::from(12))).unwrap();
    let order = emu.place_order(PlaceOrder::new("MFN-2", 2)).unwrap().order_id;
    let item = emu.platform().order_item_ids(&order).unwrap()[0].clone();
    let at = jiff::Timestamp::now();
    let mut first = Shipment::whole_order(order.clone(), Tracking::new("UPS", "1Z999AA10000000001"), at);
    first.lines = vec![(item.clone(), 1)];
    let mut second = Shipment::whole_order(order.clone(), Tracking::new("UPS", "1Z999AA10000000002"), at);
    second.lines = vec![(item, 1)];
    let (a, b) = tokio::join!(channel.export_tracking(&first), channel.export_tracking(&second));
    a.unwrap();
    b.unwrap();
    // Two packages of one unit each: the order is shipped in full (had both gone as package 1, the
    // second would have replaced the first and one unit would be left).
    assert_eq!(emu.platform().order_status(&order), Some("Shipped"));
}

#[tokio::test]
async fn fba_listings_orders_tracking_and_prices() {
    let (emu, channel) = start().await;
    emu.seed_product(SeedProduct::new("MFN-1", 10, Decimal::from(12)).with("product_type", "LUGGAGE")).unwrap();
    emu.seed_product(SeedProduct::new("AFN-1", 40, Decimal::from(15)).with("fulfilment", "channel")).unwrap();
    let listings = channel.all_listings().await.unwrap();
    let mfn = listings.iter().find(|l| l.id.as_str() == "MFN-1").expect("merchant listing");
    assert_eq!(mfn.ids.get("product_type").map(String::as_str), Some("LUGGAGE"));
    assert_eq!(mfn.price, Some(Money::new(Decimal::from(12), Currency::new("USD").unwrap())));
    let fba = listings.iter().find(|l| l.id.as_str() == "AFN-1:fba").expect("FBA listing");
    assert_eq!((fba.fulfilment, fba.quantity()), (Fulfilment::Channel, Some(40)));
    assert!(!listings.iter().any(|l| l.id.as_str() == "AFN-1"), "an FBA SKU has no merchant listing");

    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let mfn_order = emu.place_order(PlaceOrder::new("MFN-1", 2)).unwrap().order_id;
    let afn_order = emu.place_order(PlaceOrder::new("AFN-1", 1).by_channel()).unwrap().order_id;
    assert_eq!(emu.stock("MFN-1").unwrap(), Some(8));
    let pages: Vec<_> = channel.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let orders: Vec<_> = pages.into_iter().flat_map(|p| p.orders).collect();
    let o = orders.iter().find(|o| o.id.as_str() == mfn_order).unwrap();
    assert_eq!((o.status, o.lines[0].fulfilment, o.lines[0].quantity), (OrderStatus::Open, Fulfilment::Merchant, 2));
    let a = orders.iter().find(|o| o.id.as_str() == afn_order).unwrap();
    assert_eq!(a.lines[0].fulfilment, Fulfilment::Channel);

    let at = jiff::Timestamp::now();
    // A UPS tracking number has letters: it goes in trackingNumber, the package gets a number (the emulator
    // refuses a non-numeric packageReferenceId, as the Orders v0 model does).
    let shipment = Shipment::whole_order(mfn_order.clone(), Tracking::new("UPS", "1Z999AA10123456784"), at);
    channel.export_tracking(&shipment).await.unwrap();
    assert_eq!(emu.platform().order_status(&mfn_order), Some("Shipped"));
    // Exported again (a retry after a lost answer): the same package is edited, nothing ships twice.
    channel.export_tracking(&shipment).await.unwrap();
    assert_eq!(emu.platform().order_status(&mfn_order), Some("Shipped"));
    let err =
        channel.export_tracking(&Shipment::whole_order(afn_order, Tracking::new("UPS", "1Z2"), at)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);

    let usd = Currency::new("USD").unwrap();
    let out = channel
        .set_prices(&[
            PriceUpdate::new("MFN-1", "MFN-1", Money::new("13.49".parse().unwrap(), usd)).with_ids(mfn.ids.clone())
        ])
        .await
        .unwrap();
    assert!(out[0].is_applied(), "{out:?}");
    assert_eq!(emu.platform().price("MFN-1"), Some("13.49".parse().unwrap()));

    // The queued notifications parse into engine events.
    let queued = emu.platform().notifications();
    assert!(!queued.is_empty());
    let mut kinds = std::collections::BTreeSet::new();
    for n in queued {
        let event = webhook::parse(&serde_json::to_vec(&n).unwrap()).unwrap_or_else(|e| panic!("{e}: {n}"));
        assert!(event.delivery_id.is_some());
        match &event.payload {
            WebhookPayload::Order(o) => assert!(!o.lines.is_empty()),
            WebhookPayload::Inventory(c) => assert!(c.channel_sku.is_some()),
            other => panic!("{other:?}"),
        }
        kinds.insert(event.topic);
    }
    assert!(kinds.contains("ORDER_CHANGE"), "{kinds:?}");
    assert!(kinds.contains("LISTINGS_ITEM_MFN_QUANTITY_CHANGE"), "{kinds:?}");
    assert!(kinds.contains("FBA_INVENTORY_AVAILABILITY_CHANGES"), "{kinds:?}");
}

#[tokio::test]
async fn faults_on_writes_and_reads() {
    let (emu, channel) = start().await;
    emu.seed_product(SeedProduct::new("FLT-1", 1, Decimal::from(5))).unwrap();
    emu.seed_product(SeedProduct::new("FLT-2", 1, Decimal::from(5))).unwrap();
    channel.test_connection().await.unwrap();
    emu.inject_fault(Fault::too_many_requests(0));
    emu.inject_fault(Fault::status(503));
    let out = channel
        .set_stock(&[StockUpdate::new("FLT-1", "FLT-1", 4), StockUpdate::new("FLT-2", "FLT-2", 6)])
        .await
        .unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    assert_eq!(emu.stock("FLT-2").unwrap(), Some(6));
    emu.inject_fault(Fault::drop_connection());
    assert_eq!(channel.all_listings().await.unwrap().len(), 2);
    emu.inject_fault(Fault::malformed());
    assert_eq!(channel.all_listings().await.unwrap_err().kind(), ErrorKind::Decode);
    // A patch that keeps failing is a retryable per-item rejection, not a failed call.
    emu.inject_fault(Fault::status(503).times(10));
    let out = channel.set_stock(&[StockUpdate::new("FLT-1", "FLT-1", 9)]).await;
    match out {
        Ok(o) => assert!(matches!(o[0].outcome, Outcome::Rejected { retryable: true, .. }), "{o:?}"),
        Err(e) => assert!(e.is_retryable(), "{e}"),
    }
}

#[tokio::test]
async fn catalogs_past_the_search_cap_come_from_the_report() {
    let mut config = EmuConfig::fast();
    config.max_search_results = 40;
    let emu = AmazonEmulator::start(config).await.unwrap();
    let channel = channel_for(&emu, |c| c);
    for i in 0..45 {
        emu.seed_product(SeedProduct::new(format!("CAP-{i:03}"), i, Decimal::from(3))).unwrap();
    }
    let listings = channel.all_listings().await.unwrap();
    let merchant: Vec<_> = listings.iter().filter(|l| l.fulfilment == Fulfilment::Merchant).collect();
    assert_eq!(merchant.len(), 45, "every SKU, past the search cap");
    assert_eq!(merchant.iter().find(|l| l.id.as_str() == "CAP-044").and_then(|l| l.quantity()), Some(44));
    assert!(emu.requests().iter().any(|r| r.path == "/reports/2021-06-30/reports" && r.method == "POST"));
}

/// Efficiency: N changed quantities cost N `patchListingsItem` calls up to the feed threshold (100),
/// then ceil(N / 25,000) `createFeed` calls; unchanged quantities cost nothing; listing N merchant SKUs
/// costs ceil(N / 20) searches plus one FBA inventory page.
#[tokio::test]
async fn efficiency() {
    let (emu, channel) = start().await;
    for n in [1usize, 5, 100, 101, 250, 1000] {
        emu.clear_requests();
        let prefix = format!("E{n}-");
        for i in 0..n {
            emu.seed_product(SeedProduct::new(format!("{prefix}{i:05}"), 1, Decimal::from(2))).unwrap();
        }
        let updates: Vec<StockUpdate> =
            (0..n).map(|i| StockUpdate::new(format!("{prefix}{i:05}"), format!("{prefix}{i:05}"), 9)).collect();
        let before = emu.requests().len();
        let out = channel.set_stock(&updates).await.unwrap();
        assert!(out.iter().all(|o| o.is_applied()), "{:?}", out.iter().find(|o| !o.is_applied()));
        let w = writes(&emu, before);
        let expected = if n <= channel_amazon::DEFAULT_FEED_THRESHOLD { n } else { n.div_ceil(25_000) };
        assert_eq!(w, expected, "writes for {n}");
        let before = emu.requests().len();
        channel.set_stock(&[]).await.unwrap();
        assert_eq!(emu.requests().len(), before);
        println!("amazon N={n}: write calls={w} ({}), unchanged=0", if n <= 100 { "patches" } else { "feeds" });
    }
    // Reads, on a fresh store of 45 SKUs.
    let (emu, channel) = start().await;
    for i in 0..45 {
        emu.seed_product(SeedProduct::new(format!("R-{i:03}"), 1, Decimal::from(2))).unwrap();
    }
    channel.test_connection().await.unwrap();
    emu.clear_requests();
    let listings = channel.all_listings().await.unwrap();
    assert_eq!(listings.len(), 45);
    let searches = emu.requests().iter().filter(|r| r.path.starts_with("/listings/")).count();
    let fba = emu.requests().iter().filter(|r| r.path.starts_with("/fba/")).count();
    assert_eq!(searches, 45usize.div_ceil(20));
    assert_eq!(fba, 1);
    println!("amazon listing N=45: searchListingsItems={searches} (ceil(45/20)=3), getInventorySummaries={fba}");

    // Orders: searchOrders carries every order's items, so N orders cost ceil(N / 100) calls (Orders API
    // v0 cost one getOrders page plus one getOrderItems per order).
    for n in [1usize, 100, 250] {
        let (emu, channel) = start().await;
        emu.seed_product(SeedProduct::new("O-1", 10 * n as i64, Decimal::from(2))).unwrap();
        let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
        for _ in 0..n {
            emu.place_order(PlaceOrder::new("O-1", 1)).unwrap();
        }
        emu.clear_requests();
        let pages: Vec<_> = channel.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
        let orders = pages.iter().map(|p| p.orders.len()).sum::<usize>();
        assert_eq!(orders, n);
        let calls = emu.requests().iter().filter(|r| r.path.starts_with("/orders/")).count();
        assert_eq!(calls, n.div_ceil(100), "order calls for {n}");
        println!("amazon orders N={n}: searchOrders calls={calls} (ceil(N/100)), getOrderItems=0");
    }
}
