//! The eBay adapter against the channel-testkit eBay emulator: the conformance suite, paging, batching
//! with partial failures and whole-call refusals, token refresh, orders with cancellations and refunds,
//! tracking, faults, the not-migrated setup error, and the request counts for 250 listings.
//!
//! Figures: `cargo test -p channel-marketplaces --features ebay --test ebay_emulator counts -- --nocapture`.
#![cfg(feature = "ebay")]

use std::sync::Arc;
use std::time::Duration;

use channel_core::http::RetryPolicy;
use channel_core::jiff::{SignedDuration, Timestamp};
use channel_core::{
    Channel, ChannelExt, Currency, ErrorKind, ListingStatus, Money, OrderCursor, OrderStatus, Outcome, PriceUpdate,
    Shipment, StockUpdate, Tracking,
};
use channel_marketplaces::ebay::{Ebay, EbayConfig};
use channel_testkit::conformance::{ConformanceTarget, SandboxClient, check_all};
use channel_testkit::ebay::{EbayConfig as EmuConfig, EbayEmulator};
use channel_testkit::{Fault, PlaceOrder, SeedProduct};
use futures::TryStreamExt;
use rust_decimal::Decimal;

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(50)).with_jitter(false)
}

fn channel_for(emu: &EbayEmulator, f: impl FnOnce(EbayConfig) -> EbayConfig) -> Ebay {
    let config = EbayConfig::new(emu.client_id(), emu.client_secret(), emu.refresh_token())
        .base_url(emu.base_url())
        .timeout(Duration::from_secs(5));
    Ebay::builder(f(config)).retry(fast_retries()).build().expect("channel")
}

async fn start(config: EmuConfig) -> (EbayEmulator, Ebay) {
    let emu = EbayEmulator::start(config).await.expect("emulator");
    let channel = channel_for(&emu, |c| c);
    (emu, channel)
}

fn seed(emu: &EbayEmulator, prefix: &str, n: usize, qty: i64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let sku = format!("{prefix}-{i:04}");
            emu.seed_product(SeedProduct::new(&sku, qty, Decimal::new(1999, 2))).unwrap();
            sku
        })
        .collect()
}

fn is_bulk_write(r: &channel_testkit::conformance::SandboxRequest) -> bool {
    r.method == "POST" && r.path.ends_with("/bulk_update_price_quantity")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    let target = ConformanceTarget::new(Arc::new(channel), SandboxClient::new(emu.base_url()))
        .with_write_classifier(is_bulk_write);
    check_all(&target).await;
}

#[tokio::test]
async fn counts_for_250_listings_and_250_pushes() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    let skus = seed(&emu, "CNT", 250, 3);
    let page = channel.capabilities().listing_page_size;
    let batch = channel.capabilities().max_stock_batch;

    emu.clear_requests();
    let listings = channel.all_listings().await.unwrap();
    assert_eq!(listings.len(), 250);
    let log = emu.requests();
    let pages = log.iter().filter(|r| r.path.ends_with("/inventory_item")).count();
    let offers = log.iter().filter(|r| r.path.ends_with("/offer")).count();
    assert_eq!(pages, 250usize.div_ceil(page), "inventory pages at limit {page}");
    assert_eq!(offers, 250, "one getOffers per SKU on a cold cache");

    emu.clear_requests();
    channel.all_listings().await.unwrap();
    let warm = emu.requests().len();
    assert_eq!(warm, 250usize.div_ceil(page), "a warm offer cache reads only the inventory pages");

    let updates: Vec<StockUpdate> = skus.iter().map(|s| StockUpdate::new(s.as_str(), s.as_str(), 9)).collect();
    emu.clear_requests();
    let outcomes = channel.set_stock(&updates).await.unwrap();
    assert!(outcomes.iter().all(|o| o.is_applied()));
    let writes = emu.requests().iter().filter(|r| r.path.ends_with("/bulk_update_price_quantity")).count();
    assert_eq!(writes, 250usize.div_ceil(batch), "250 pushes at {batch} SKUs a call");
    println!(
        "ebay: 250 listings = {} calls cold ({pages} getInventoryItems at limit {page} + {offers} getOffers), \
         {warm} warm; 250 pushes = {writes} bulkUpdatePriceQuantity at {batch}",
        pages + offers
    );
}

#[tokio::test]
async fn a_partial_batch_reports_per_sku() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    let skus = seed(&emu, "PB", 4, 1);
    emu.inject_fault(Fault::partial_batch());
    let mut updates: Vec<StockUpdate> = skus.iter().map(|s| StockUpdate::new(s.as_str(), s.as_str(), 6)).collect();
    updates.push(StockUpdate::new("NOPE", "NOPE", 2));
    let outcomes = channel.set_stock(&updates).await.unwrap();
    assert_eq!(outcomes.len(), 5);
    assert!(outcomes[0].is_applied() && outcomes[2].is_applied());
    assert!(matches!(outcomes[1].outcome, Outcome::Rejected { retryable: true, .. }), "{:?}", outcomes[1]);
    assert!(matches!(outcomes[3].outcome, Outcome::Rejected { retryable: true, .. }));
    assert!(matches!(&outcomes[4].outcome, Outcome::Rejected { retryable: false, reason } if reason.contains("25710")));
    assert_eq!(emu.stock(&skus[0]).unwrap(), Some(6));
    assert_eq!(emu.stock(&skus[1]).unwrap(), Some(1), "a failed item is not written");
}

#[tokio::test]
async fn a_whole_call_refusal_falls_back_to_one_sku_per_call() {
    let mut config = EmuConfig::fast();
    config.refuse_bulk_above = Some(1);
    let (emu, channel) = start(config).await;
    let skus = seed(&emu, "ONE", 5, 1);
    let updates: Vec<StockUpdate> = skus.iter().map(|s| StockUpdate::new(s.as_str(), s.as_str(), 4)).collect();
    emu.clear_requests();
    let outcomes = channel.set_stock(&updates).await.unwrap();
    assert!(outcomes.iter().all(|o| o.is_applied()), "{outcomes:?}");
    for s in &skus {
        assert_eq!(emu.stock(s).unwrap(), Some(4));
    }
    let writes: Vec<_> =
        emu.requests().into_iter().filter(|r| r.path.ends_with("/bulk_update_price_quantity")).collect();
    assert_eq!(writes.len(), 6, "one refused call of 5, then 5 calls of one");
    assert_eq!(writes[0].status, Some(400));
    assert_eq!(channel.stock_batch(), 1, "later writes stay at one SKU");
    emu.clear_requests();
    channel.set_stock(&updates[..2]).await.unwrap();
    assert_eq!(emu.requests().len(), 2, "no refused call the second time");
}

#[tokio::test]
async fn paging_follows_next() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    let channel = {
        drop(channel);
        channel_for(&emu, |c| c.page_size(7))
    };
    seed(&emu, "PG", 20, 2);
    emu.clear_requests();
    let listings = channel.all_listings().await.unwrap();
    assert_eq!(listings.len(), 20);
    let pages: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/inventory_item"))
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(pages, ["limit=7&offset=0", "offset=1&limit=7", "offset=2&limit=7"]);
    let l = &listings[0];
    assert_eq!(l.price, Some(Money::new(Decimal::new(1999, 2), Currency::new("USD").unwrap())));
    assert!(l.ids.contains_key("offer_id") && l.ids.contains_key("listing_id"));
    assert_eq!(l.status, ListingStatus::Active);
}

#[tokio::test]
async fn token_refresh_on_expiry_and_401() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    channel.test_connection().await.unwrap();
    channel.test_connection().await.unwrap();
    assert_eq!(emu.platform().token_grants(), 1, "a token is reused until it expires");
    let shown = format!("{channel:?}");
    for secret in [emu.client_id(), emu.client_secret(), emu.refresh_token()] {
        assert!(!shown.contains(secret), "Debug shows a secret: {shown}");
    }
    emu.platform().expire_tokens();
    // The transport's convention (as Amazon's LWA): a 401 fails that call with `Auth` and drops the
    // cached token, so the next call fetches a new one.
    let err = channel.test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    let id = channel.test_connection().await.unwrap();
    assert_eq!(id.account_id, emu.user_id());
    assert_eq!(emu.platform().token_grants(), 2, "a 401 fetches a new token");
    let statuses: Vec<Option<u16>> =
        emu.requests().iter().filter(|r| r.path.ends_with("/user/")).map(|r| r.status).collect();
    assert_eq!(statuses, [Some(200), Some(200), Some(401), Some(200)]);

    // Short-lived tokens are refreshed before they expire, without a 401.
    let mut short = EmuConfig::fast();
    short.token_lifetime = Duration::from_secs(2);
    let (emu, channel) = start(short).await;
    channel.test_connection().await.unwrap();
    channel.test_connection().await.unwrap();
    assert!(emu.requests().iter().all(|r| r.status != Some(401)));

    let bad = channel_for(&emu, |mut c| {
        c.refresh_token = "wrong".to_owned().into();
        c
    });
    let err = bad.test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!err.to_string().contains(emu.client_secret()));
}

#[tokio::test]
async fn not_migrated_listings_are_a_setup_error() {
    let mut config = EmuConfig::fast();
    config.not_migrated = true;
    let (emu, channel) = start(config).await;
    seed(&emu, "LEGACY", 3, 1);
    let err = channel.all_listings().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("bulk_migrate_listing"), "{err}");
    emu.platform().set_not_migrated(false);
    assert_eq!(channel.all_listings().await.unwrap().len(), 3);
    let empty = EbayEmulator::start(EmuConfig::fast()).await.unwrap();
    let allowed = channel_for(&empty, |c| c.allow_empty_catalog(true));
    assert!(allowed.all_listings().await.unwrap().is_empty());
    assert_eq!(channel_for(&empty, |c| c).all_listings().await.unwrap_err().kind(), ErrorKind::Config);
}

#[tokio::test]
async fn orders_with_cancellation_refund_and_tracking() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    seed(&emu, "ORD", 2, 10);
    let since = Timestamp::now() - SignedDuration::from_hours(1);
    let a = emu.place_order(PlaceOrder::new("ORD-0000", 2)).unwrap().order_id;
    let b = emu.place_order(PlaceOrder::new("ORD-0001", 4)).unwrap().order_id;
    let c = emu.place_order(PlaceOrder::new("ORD-0001", 1)).unwrap().order_id;
    emu.cancel_order(&a).unwrap();
    emu.platform().refund(&b, Decimal::new(3998, 2)).unwrap();
    let channel = {
        drop(channel);
        channel_for(&emu, |c| c.order_page_size(2))
    };
    let pages: Vec<_> = channel.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let orders: Vec<_> = pages.iter().flat_map(|p| p.orders.clone()).collect();
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert!(pages.len() >= 2, "paged by next at limit 2");
    let find = |id: &str| orders.iter().find(|o| o.id.as_str() == id).unwrap();
    assert_eq!(find(&a).status, OrderStatus::Cancelled);
    assert_eq!(find(&a).lines[0].refunded_quantity, 2);
    assert_eq!(find(&b).status, OrderStatus::Open);
    assert_eq!(find(&b).lines[0].refunded_quantity, 2, "39.98 of 4 × 19.99 refunds two units");
    assert_eq!(find(&c).lines[0].refunded_quantity, 0);
    let newest = pages.last().unwrap().next.since;
    assert!(newest >= find(&a).updated_at && newest >= since);
    let q = emu.requests().into_iter().find(|r| r.path.ends_with("/order")).unwrap().query.unwrap();
    assert!(q.starts_with("filter=lastmodifieddate%3A%5B") && q.contains("..%5D"), "{q}");

    let shipment = Shipment::whole_order(c.as_str(), Tracking::new("USPS", "9400100000000000000000"), Timestamp::now());
    channel.export_tracking(&shipment).await.unwrap();
    let order = emu.platform().order_json(&c).unwrap();
    assert_eq!(order["orderFulfillmentStatus"], "FULFILLED");
    assert_eq!(
        channel
            .orders_since(&OrderCursor::new(since))
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .iter()
            .flat_map(|p| p.orders.iter())
            .find(|o| o.id.as_str() == c)
            .unwrap()
            .status,
        OrderStatus::Shipped
    );
    let again = channel.export_tracking(&shipment).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Validation, "shipping the same units twice is refused: {again}");
}

#[tokio::test]
async fn prices_are_written_to_the_offer() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    seed(&emu, "PR", 2, 1);
    let listings = channel.all_listings().await.unwrap();
    let usd = Currency::new("USD").unwrap();
    let updates: Vec<PriceUpdate> = listings
        .iter()
        .map(|l| {
            PriceUpdate::new(l.id.clone(), l.channel_sku.clone(), Money::new(Decimal::new(2450, 2), usd))
                .with_ids(l.ids.clone())
        })
        .collect();
    let outcomes = channel.set_prices(&updates).await.unwrap();
    assert!(outcomes.iter().all(|o| o.is_applied()), "{outcomes:?}");
    assert_eq!(emu.platform().price("PR-0000"), Some(Decimal::new(2450, 2)));
    let eur = PriceUpdate::new("PR-0001", "PR-0001", Money::new(Decimal::ONE, Currency::new("EUR").unwrap()));
    let outcomes = channel.set_prices(&[eur]).await.unwrap();
    assert!(matches!(outcomes[0].outcome, Outcome::Rejected { retryable: false, .. }), "{outcomes:?}");
    let relisted = channel.all_listings().await.unwrap();
    assert!(relisted.iter().all(|l| l.price.map(|p| p.amount) == Some(Decimal::new(2450, 2))), "the cache was dropped");
}

#[tokio::test]
async fn faults_are_survived_or_reported() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    seed(&emu, "F", 3, 1);
    emu.inject_fault(Fault::too_many_requests(1).on_path("/sell/inventory/v1/inventory_item"));
    emu.inject_fault(Fault::status(500).times(2).on_path("/sell/inventory/v1/offer"));
    emu.inject_fault(Fault::drop_connection().on_path("/sell/inventory/v1/bulk_update_price_quantity"));
    assert_eq!(channel.all_listings().await.unwrap().len(), 3);
    let outcomes = channel.set_stock(&[StockUpdate::new("F-0000", "F-0000", 8)]).await.unwrap();
    assert!(outcomes[0].is_applied(), "an absolute set is retried after a dropped connection");
    assert_eq!(emu.stock("F-0000").unwrap(), Some(8));
    emu.inject_fault(Fault::malformed().on_path("/sell/fulfillment/v1/order"));
    let err = channel
        .orders_since(&OrderCursor::new(Timestamp::now() - SignedDuration::from_hours(1)))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    // The rate limit answers 429; the transport waits and retries.
    let mut limited = EmuConfig::fast();
    limited.rate_limit = Some(channel_testkit::RateLimit::new(2.0, 100.0));
    let emu = EbayEmulator::start(limited).await.unwrap();
    let channel = channel_for(&emu, |c| c.max_attempts(10));
    seed(&emu, "RL", 3, 1);
    assert_eq!(channel.all_listings().await.unwrap().len(), 3);
    assert!(emu.requests().iter().any(|r| r.status == Some(429)), "the bucket refused some calls");
}

#[tokio::test]
async fn get_listings_reads_by_sku() {
    let (emu, channel) = start(EmuConfig::fast()).await;
    seed(&emu, "GL", 30, 5);
    emu.clear_requests();
    let got = channel.get_listings(&["GL-0003".into(), "GL-0029".into(), "MISSING".into()]).await.unwrap();
    assert_eq!(got.len(), 2);
    let log = emu.requests();
    assert_eq!(log.iter().filter(|r| r.path.ends_with("/bulk_get_inventory_item")).count(), 1);
    assert!(log.iter().all(|r| !r.path.ends_with("/inventory_item")), "no catalog scan");
}
