//! The Magento adapter against the channel-testkit Magento emulator: the conformance suite, count-based
//! paging through the repeated last page, source-item batches with the per-item fallback, MSI
//! reservations, prices with their failure list, orders with cancellations and refunds, shipments,
//! faults, and the request counts for 250 listings.
//!
//! Figures: `cargo test -p channel-marketplaces --features magento --test magento_emulator efficiency -- --nocapture`.
#![cfg(feature = "magento")]

use std::sync::Arc;
use std::time::Duration;

use channel_core::http::RetryPolicy;
use channel_core::{
    Channel, ChannelExt, Currency, ErrorKind, ListingId, Money, OrderCursor, OrderStatus, Outcome, PriceUpdate,
    Shipment, StockUpdate, Tracking,
};
use channel_marketplaces::magento::{Magento, MagentoConfig, ReservationMode};
use channel_testkit::conformance::{ConformanceTarget, SandboxClient, check_all};
use channel_testkit::magento::{MagentoConfig as EmuConfig, MagentoEmulator};
use channel_testkit::{Fault, PlaceOrder, SeedProduct};
use futures::TryStreamExt;
use rust_decimal::Decimal;

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(50)).with_jitter(false)
}

async fn emulator(config: EmuConfig) -> MagentoEmulator {
    MagentoEmulator::start(config).await.expect("emulator")
}

fn channel_for(emu: &MagentoEmulator, f: impl FnOnce(MagentoConfig) -> MagentoConfig) -> Magento {
    let config = MagentoConfig::new(emu.base_url(), emu.access_token())
        .store_code(emu.store_code())
        .source_code(emu.source_code())
        .timeout(Duration::from_secs(5));
    Magento::with_retry(f(config), Some(fast_retries())).expect("channel")
}

fn api_calls(emu: &MagentoEmulator, path_part: &str, method: &str) -> usize {
    emu.requests().iter().filter(|r| r.method == method && r.path.ends_with(path_part)).count()
}

fn seed(emu: &MagentoEmulator, sku: &str, qty: i64) {
    emu.seed_product(SeedProduct::new(sku, qty, Decimal::from(10))).expect("seed");
}

fn update(sku: &str, qty: i64) -> StockUpdate {
    StockUpdate::new(sku, sku, qty)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let emu = emulator(EmuConfig::default()).await;
    let channel = channel_for(&emu, |c| c);
    check_all(&ConformanceTarget::new(Arc::new(channel), SandboxClient::new(emu.base_url()))).await;
}

#[tokio::test]
async fn conformance_without_input_limiting_or_the_quirk() {
    let emu = emulator(EmuConfig::default().without_input_limit().repeat_last_page(false)).await;
    let channel = channel_for(&emu, |c| c.page_size(7).max_stock_batch(50));
    let target = ConformanceTarget::new(Arc::new(channel), SandboxClient::new(emu.base_url()));
    channel_testkit::conformance::check_lists_everything(&target).await;
    channel_testkit::conformance::check_batching(&target).await;
    channel_testkit::conformance::check_orders(&target).await;
}

#[tokio::test]
async fn paging_stops_on_the_count_not_on_a_repeated_page() {
    let emu = emulator(EmuConfig::default()).await;
    for i in 0..45 {
        seed(&emu, &format!("P-{i:03}"), i);
    }
    let channel = channel_for(&emu, |c| c.page_size(20));
    emu.clear_requests();
    let listings = channel.all_listings().await.unwrap();
    assert_eq!(listings.len(), 45, "the repeated last page must not add listings");
    let mut ids: Vec<&str> = listings.iter().map(|l| l.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 45);
    assert_eq!(api_calls(&emu, "/V1/products", "GET"), 3, "ceil(45 / 20) product pages");
    assert_eq!(api_calls(&emu, "/V1/inventory/source-items", "GET"), 3, "one source-item read per page");

    // Orders: 5 orders, pages of 2: three order pages, no fourth.
    for i in 0..5 {
        emu.place_order(PlaceOrder::new(format!("P-{:03}", 10 + i), 1)).unwrap();
    }
    emu.clear_requests();
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let channel = channel_for(&emu, |c| c.page_size(2));
    let cursor = OrderCursor::new(since);
    let pages: Vec<_> = channel.orders_since(&cursor).try_collect().await.unwrap();
    let orders: Vec<_> = pages.iter().flat_map(|p| &p.orders).collect();
    assert_eq!(orders.len(), 5, "{orders:?}");
    assert_eq!(api_calls(&emu, "/V1/orders", "GET"), 3);
    assert!(pages.last().unwrap().next.since >= since);
}

#[tokio::test]
async fn a_refused_batch_falls_back_to_single_items() {
    let emu = emulator(EmuConfig::default()).await;
    for i in 0..5 {
        seed(&emu, &format!("B-{i}"), 1);
    }
    let channel = channel_for(&emu, |c| c.reservations(ReservationMode::None));
    // An unknown SKU makes Magento refuse the whole call; the others still land, one by one.
    let mut updates: Vec<StockUpdate> = (0..5).map(|i| update(&format!("B-{i}"), 9)).collect();
    updates.insert(2, update("NO-SUCH-SKU", 3));
    emu.clear_requests();
    let outcomes = channel.set_stock(&updates).await.unwrap();
    assert_eq!(outcomes.len(), 6);
    for (u, o) in updates.iter().zip(&outcomes) {
        assert_eq!(o.listing, u.listing);
        if u.channel_sku == "NO-SUCH-SKU" {
            assert!(
                matches!(&o.outcome, Outcome::Rejected { retryable: false, reason } if reason.contains("NO-SUCH-SKU")),
                "{o:?}"
            );
        } else {
            assert_eq!(o.outcome, Outcome::Applied { quantity: Some(9) }, "{}", u.channel_sku);
        }
    }
    assert_eq!(api_calls(&emu, "/V1/inventory/source-items", "POST"), 1 + 6, "the batch, then each item");
    assert_eq!(emu.stock("B-4").unwrap(), Some(9));

    // The emulator's partial_batch fault refuses the next batch: the fallback saves all.
    emu.inject_fault(Fault::partial_batch().times(1));
    let outcomes = channel.set_stock(&(0..5).map(|i| update(&format!("B-{i}"), 4)).collect::<Vec<_>>()).await.unwrap();
    assert!(outcomes.iter().all(|o| o.is_applied()), "{outcomes:?}");
    assert_eq!(emu.stock("B-0").unwrap(), Some(4));
}

#[tokio::test]
async fn input_limiting_refusals_fall_back_and_are_counted() {
    let emu = emulator(EmuConfig::default()).await;
    for i in 0..25 {
        seed(&emu, &format!("L-{i:02}"), 0);
    }
    // Configured above the store's limit: the 25-item call is refused as a whole, then saved one by one.
    let channel = channel_for(&emu, |c| c.max_stock_batch(25).reservations(ReservationMode::None));
    emu.clear_requests();
    let outcomes =
        channel.set_stock(&(0..25).map(|i| update(&format!("L-{i:02}"), 2)).collect::<Vec<_>>()).await.unwrap();
    assert!(outcomes.iter().all(|o| o.is_applied()));
    let posts: Vec<_> = emu.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 26);
    assert_eq!(posts[0].status, Some(400), "the store refuses 25 items");
}

#[tokio::test]
async fn writes_add_open_reservations_and_reads_subtract_them() {
    let emu = emulator(EmuConfig::default()).await;
    seed(&emu, "MSI-1", 10);
    let channel = channel_for(&emu, |c| c);
    let order = emu.place_order(PlaceOrder::new("MSI-1", 3)).unwrap().order_id;
    assert_eq!(emu.stock("MSI-1").unwrap(), Some(7), "salable drops at placement");
    assert_eq!(emu.platform().source_item("MSI-1", "default").unwrap()["quantity"], 10.0, "the source does not");
    let listing = channel.find_listing(&ListingId::new("MSI-1")).await.unwrap().unwrap();
    assert_eq!(listing.quantity(), Some(7), "the listing shows what is salable");

    // The engine wants 5 salable: the source must hold 5 + the 3 reserved.
    let outcomes = channel.set_stock(&[update("MSI-1", 5)]).await.unwrap();
    assert_eq!(outcomes[0].outcome, Outcome::Applied { quantity: Some(5) });
    assert_eq!(emu.platform().source_item("MSI-1", "default").unwrap()["quantity"], 8.0);
    assert_eq!(emu.stock("MSI-1").unwrap(), Some(5), "the open order is not counted twice");

    // Shipping deducts the source and compensates the reservation: salable stays 5.
    let tracking = Tracking::new("UPS", "1Z999");
    channel.export_tracking(&Shipment::whole_order(order.as_str(), tracking, jiff::Timestamp::now())).await.unwrap();
    assert_eq!(emu.platform().source_item("MSI-1", "default").unwrap()["quantity"], 5.0);
    assert_eq!(emu.stock("MSI-1").unwrap(), Some(5));
    assert_eq!(emu.platform().reservations("MSI-1"), 0.0);
    let tracks = emu.platform().tracks(order.parse().unwrap());
    assert_eq!(tracks[0]["track_number"], "1Z999");
    assert_eq!(tracks[0]["carrier_code"], "ups");
    assert_eq!(channel.find_listing(&ListingId::new("MSI-1")).await.unwrap().unwrap().quantity(), Some(5));
    // A second export ships nothing: Magento refuses it.
    let again = Shipment::whole_order(order.as_str(), Tracking::new("UPS", "1Z999"), jiff::Timestamp::now());
    assert!(channel.export_tracking(&again).await.is_err());
}

#[tokio::test]
async fn without_reservations_the_source_quantity_is_written_as_is() {
    let emu = emulator(EmuConfig::default()).await;
    seed(&emu, "RAW-1", 10);
    emu.place_order(PlaceOrder::new("RAW-1", 3)).unwrap();
    let channel = channel_for(&emu, |c| c.reservations(ReservationMode::None));
    channel.set_stock(&[update("RAW-1", 5)]).await.unwrap();
    assert_eq!(emu.platform().source_item("RAW-1", "default").unwrap()["quantity"], 5.0);
    assert_eq!(emu.stock("RAW-1").unwrap(), Some(2), "this mode is for stores without reservations");
    assert_eq!(api_calls(&emu, "/V1/orders", "GET"), 0);
}

#[tokio::test]
async fn orders_show_cancellations_and_refunds() {
    let emu = emulator(EmuConfig::default()).await;
    seed(&emu, "O-1", 10);
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let a = emu.place_order(PlaceOrder::new("O-1", 1)).unwrap().order_id;
    let b = emu.place_order(PlaceOrder::new("O-1", 2)).unwrap().order_id;
    emu.cancel_order(&a).unwrap();
    emu.platform().refund_order(b.parse().unwrap()).unwrap();
    assert_eq!(emu.stock("O-1").unwrap(), Some(10), "both reservations compensated");
    let channel = channel_for(&emu, |c| c);
    let pages: Vec<_> = channel.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let orders: Vec<_> = pages.into_iter().flat_map(|p| p.orders).collect();
    let find = |id: &str| orders.iter().find(|o| o.id.as_str() == id).unwrap();
    assert_eq!(find(&a).status, OrderStatus::Cancelled);
    assert_eq!(find(&b).status, OrderStatus::Returned);
    assert_eq!(find(&b).lines[0].refunded_quantity, 2);
    assert_eq!(find(&b).lines[0].quantity, 2);
    assert!(find(&b).lines[0].unit_price.is_some());
}

#[tokio::test]
async fn prices_report_the_failure_list_per_item() {
    let emu = emulator(EmuConfig::default()).await;
    seed(&emu, "PR-1", 1);
    seed(&emu, "PR-2", 1);
    let channel = channel_for(&emu, |c| c);
    let usd = Currency::new("USD").unwrap();
    let eur = Currency::new("EUR").unwrap();
    let updates = vec![
        PriceUpdate::new("PR-1", "PR-1", Money::new(Decimal::new(1999, 2), usd)),
        PriceUpdate::new("GONE", "GONE", Money::new(Decimal::from(5), usd)),
        PriceUpdate::new("PR-2", "PR-2", Money::new(Decimal::from(5), eur)),
    ];
    let outcomes = channel.set_prices(&updates).await.unwrap();
    assert!(outcomes[0].is_applied());
    assert!(
        matches!(&outcomes[1].outcome, Outcome::Rejected { reason, .. } if reason.contains("GONE")),
        "{outcomes:?}"
    );
    assert!(matches!(&outcomes[2].outcome, Outcome::Rejected { reason, .. } if reason.contains("EUR")));
    let listing = channel.find_listing(&ListingId::new("PR-1")).await.unwrap().unwrap();
    assert_eq!(listing.price.unwrap().amount, Decimal::new(1999, 2));
    assert_eq!(api_calls(&emu, "/V1/products/base-prices", "POST"), 1);

    // A partial failure inside the 200 answer fails only the items it names.
    emu.inject_fault(Fault::partial_batch().times(1));
    let two = vec![
        PriceUpdate::new("PR-1", "PR-1", Money::new(Decimal::from(7), usd)),
        PriceUpdate::new("PR-2", "PR-2", Money::new(Decimal::from(8), usd)),
    ];
    let outcomes = channel.set_prices(&two).await.unwrap();
    assert!(outcomes[0].is_applied(), "{outcomes:?}");
    assert!(matches!(&outcomes[1].outcome, Outcome::Rejected { .. }), "{outcomes:?}");
    let listing = channel.find_listing(&ListingId::new("PR-2")).await.unwrap().unwrap();
    assert_eq!(listing.price.unwrap().amount, Decimal::from(10), "the failed price is not saved");
}

#[tokio::test]
async fn faults_are_retried_or_reported() {
    let emu = emulator(EmuConfig::default()).await;
    seed(&emu, "F-1", 3);
    let channel = channel_for(&emu, |c| c);
    emu.inject_fault(Fault::too_many_requests(1));
    emu.inject_fault(Fault::status(503).times(2));
    emu.inject_fault(Fault::drop_connection());
    assert_eq!(channel.all_listings().await.unwrap().len(), 1);
    emu.inject_fault(Fault::malformed().on_path("/rest/default/V1/products"));
    let err = channel.all_listings().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    // A write refused by a 5xx before anything was written fails the call.
    emu.inject_fault(Fault::status(500).times(5));
    assert!(channel.set_stock(&[update("F-1", 1)]).await.is_err());
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error() {
    let emu = emulator(EmuConfig::default()).await;
    let channel = Magento::new(MagentoConfig::new(emu.base_url(), "wrong").store_code("default")).unwrap();
    let err = channel.test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains(emu.access_token()));
    let ok = channel_for(&emu, |c| c).test_connection().await.unwrap();
    assert_eq!(ok.details.get("currency").map(String::as_str), Some("USD"));
    for r in emu.requests() {
        assert!(!format!("{r:?}").contains(emu.access_token()), "the token is redacted in the log");
    }
}

#[tokio::test]
async fn efficiency() {
    let emu = emulator(EmuConfig::default()).await;
    for i in 0..250 {
        seed(&emu, &format!("E-{i:03}"), 5);
    }
    emu.place_order(PlaceOrder::new("E-007", 1)).unwrap();
    let channel = channel_for(&emu, |c| c);
    let config = MagentoConfig::new("https://x.example", "t");
    emu.clear_requests();
    let listings = channel.all_listings().await.unwrap();
    assert_eq!(listings.len(), 250);
    let read = emu.requests().len();
    let pages = 250usize.div_ceil(config.page_size);
    // A page of products and its source items, the open orders once, and the store's currency (once in
    // the channel's life, from storeConfigs).
    assert_eq!(read, pages * 2 + 1 + 1, "reading 250 listings");

    emu.clear_requests();
    let updates: Vec<StockUpdate> = (0..250).map(|i| update(&format!("E-{i:03}"), 3)).collect();
    let outcomes = channel.set_stock(&updates).await.unwrap();
    assert!(outcomes.iter().all(|o| o.is_applied()));
    let writes = api_calls(&emu, "/V1/inventory/source-items", "POST");
    let total = emu.requests().len();
    assert_eq!(writes, 250usize.div_ceil(config.max_stock_batch), "ceil(250 / 20)");
    assert_eq!(total, writes + 1, "plus one read of the open orders");
    assert_eq!(emu.stock("E-007").unwrap(), Some(3));
    println!(
        "magento: read 250 listings in {read} requests; pushed 250 quantities in {total} requests ({writes} writes)"
    );
}
