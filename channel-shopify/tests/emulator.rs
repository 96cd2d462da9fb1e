//! Behaviour against the channel-testkit Shopify emulator: the conformance suite, efficiency (request
//! counts from the emulator's log), throttling, faults, stale compare-and-set, partial failures, webhooks.

use std::sync::Arc;
use std::time::Duration;

use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::SecretString;
use channel_core::{
    Channel, ChannelExt, Currency, ErrorKind, ItemOutcome, Money, OrderCursor, OrderStatus, Outcome, PriceUpdate,
    Shipment, StockAdjustment, StockUpdate, Tracking, WebhookPayload, WebhookRequest,
};
use channel_shopify::{Shopify, ShopifyConfig};
use channel_testkit::conformance::{ConformanceTarget, SandboxClient, SandboxRequest, check_all};
use channel_testkit::sandbox::{Duplicates, Fault, LoggedRequest};
use channel_testkit::shopify::{self as emu, ShopifyEmulator, ShopifyLocation};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use futures::TryStreamExt;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn adapter_for(e: &ShopifyEmulator) -> Shopify {
    let config = ShopifyConfig::new("sandbox-shop.myshopify.com", SecretString::from(e.access_token().to_owned()))
        .base_url(e.base_url())
        .webhook_secret(SecretString::from(e.webhook_secret().to_owned()))
        .user_error_retries(5, Duration::ZERO);
    Shopify::new(config).unwrap()
}

fn is_mutation_body(body: Option<&str>) -> bool {
    body.and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|v| v.get("query").and_then(Value::as_str).map(|q| q.trim_start().starts_with("mutation")))
        .unwrap_or(false)
}

/// The conformance suite's write classifier: every Shopify call is a `POST`; mutations are the writes.
fn is_write(r: &SandboxRequest) -> bool {
    is_mutation_body(r.extra.get("body").and_then(Value::as_str))
}

fn writes(log: &[LoggedRequest]) -> usize {
    log.iter().filter(|r| is_mutation_body(Some(&r.body))).count()
}

fn reads(log: &[LoggedRequest]) -> usize {
    log.iter().filter(|r| !is_mutation_body(Some(&r.body))).count()
}

fn seed(e: &ShopifyEmulator, prefix: &str, n: usize, qty: i64) {
    for i in 0..n {
        e.seed_product(SeedProduct::new(format!("{prefix}-{i:05}"), qty, Decimal::from(10))).unwrap();
    }
}

async fn updates(t: &Shopify, prefix: &str, qty: i64) -> Vec<StockUpdate> {
    t.all_listings()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.channel_sku.starts_with(prefix))
        .map(|l| {
            let seen = l.quantity().unwrap();
            StockUpdate::new(l.id, l.channel_sku, qty).with_ids(l.ids).expecting(seen)
        })
        .collect()
}

#[tokio::test]
async fn conformance() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let t = adapter_for(&e);
    let target = ConformanceTarget::new(Arc::new(t), SandboxClient::new(e.base_url()))
        .with_webhook_secret(e.webhook_secret())
        .with_write_classifier(is_write);
    check_all(&target).await;
}

#[tokio::test]
async fn efficiency_writes_and_reads_are_counted() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "EFF", 520, 2);

    e.clear_requests();
    let listed = t.all_listings().await.unwrap();
    assert_eq!(listed.len(), 520);
    let log = e.requests();
    assert_eq!(reads(&log), 520usize.div_ceil(100) + 1, "ceil(520/100) pages plus the location lookup");
    assert_eq!(writes(&log), 0);

    let ups = updates(&t, "EFF", 5).await;
    e.clear_requests();
    let out = t.set_stock(&ups).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    let log = e.requests();
    assert_eq!(writes(&log), 3, "520 quantities at 250 a call: ceil(520/250) mutations");
    assert_eq!(reads(&log), 0, "the location is cached");
    println!("shopify: 520 listings -> 7 reads (6 pages + 1 lookup); 520 updates -> {} write calls", writes(&log));
    assert_eq!(e.stock("EFF-00519").unwrap(), Some(5));

    e.clear_requests();
    assert!(t.set_stock(&[]).await.unwrap().is_empty());
    assert!(t.adjust_stock(&[]).await.unwrap().is_empty());
    assert!(t.set_prices(&[]).await.unwrap().is_empty());
    assert!(e.requests().is_empty(), "an empty push costs nothing");

    // Every call of a push carried its own idempotency key.
    let keys: Vec<_> = e.platform().graphql_calls().into_iter().filter_map(|c| c.idempotency_key).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys.iter().collect::<std::collections::BTreeSet<_>>().len(), 3);
}

#[tokio::test]
async fn stale_items_come_back_with_the_actual_quantity_and_the_rest_applies() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "S", 4, 10);
    let ups = updates(&t, "S", 3).await;
    // A shopper buys two of the second item after the plan read 10.
    e.place_order(PlaceOrder::new("S-00001", 2)).unwrap();
    e.clear_requests();
    let out = t.set_stock(&ups).await.unwrap();
    assert_eq!(out[1].outcome, Outcome::Stale { actual: Some(8) });
    for i in [0, 2, 3] {
        assert_eq!(out[i].outcome, Outcome::Applied { quantity: Some(3) }, "{i}");
        assert_eq!(e.stock(&format!("S-{i:05}")).unwrap(), Some(3));
    }
    assert_eq!(e.stock("S-00001").unwrap(), Some(8), "the stale item is not written");
    assert_eq!(writes(&e.requests()), 2, "one refused all-or-nothing call, one resubmission of the rest");
    let calls = e.platform().graphql_calls();
    let keys: Vec<_> = calls.iter().filter_map(|c| c.idempotency_key.clone()).collect();
    assert_ne!(keys[0], keys[1], "a resubmission with different items needs a new key");

    // An explicit null opts out of the check.
    let blind = StockUpdate::new(ups[1].listing.clone(), "S-00001", 4).with_ids(ups[1].ids.clone());
    assert!(t.set_stock(&[blind]).await.unwrap()[0].is_applied());
    assert_eq!(e.stock("S-00001").unwrap(), Some(4));
}

#[tokio::test]
async fn partial_failures_are_per_item() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "P", 4, 1);
    let ups = updates(&t, "P", 6).await;
    // inventorySetQuantities documents no "try again" code: the items named are refused (for good, as far
    // as the adapter can tell), the others applied.
    e.inject_fault(Fault::partial_batch());
    let out = t.set_stock(&ups).await.unwrap();
    for i in [1, 3] {
        assert!(matches!(&out[i].outcome, Outcome::Rejected { retryable: false, .. }), "{:?}", out[i]);
        assert_eq!(e.stock(&format!("P-{i:05}")).unwrap(), Some(1));
    }
    for i in [0, 2] {
        assert!(out[i].is_applied(), "{:?}", out[i]);
        assert_eq!(e.stock(&format!("P-{i:05}")).unwrap(), Some(6));
    }
    // inventoryAdjustQuantities answers ADJUST_QUANTITIES_FAILED ("Try again"): the whole batch goes
    // out again under a new key, and applies.
    let adjustments: Vec<StockAdjustment> = ups
        .iter()
        .map(|u| StockAdjustment::new(u.listing.clone(), u.channel_sku.clone(), 1).with_ids(u.ids.clone()))
        .collect();
    e.inject_fault(Fault::partial_batch());
    let out = t.adjust_stock(&adjustments).await.unwrap();
    assert!(out.iter().all(channel_core::ItemOutcome::is_applied), "{out:?}");
    for (i, want) in [(0, 7), (1, 2), (2, 7), (3, 2)] {
        assert_eq!(e.stock(&format!("P-{i:05}")).unwrap(), Some(want));
    }
    let keys: Vec<String> = e
        .platform()
        .graphql_calls()
        .iter()
        .filter(|c| c.root_fields == ["inventoryAdjustQuantities"])
        .filter_map(|c| c.idempotency_key.clone())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1], "the failed attempt's key is spent");
}

#[tokio::test]
async fn idempotency_answers_are_followed() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "I", 1, 5);
    let listing = t.all_listings().await.unwrap().remove(0);
    let keyed = |delta| {
        StockAdjustment::new(listing.id.clone(), "I-00000", delta)
            .with_ids(listing.ids.clone())
            .with_idempotency_key("outbox/9")
    };
    // In progress elsewhere: sent again under the same key.
    e.platform().fail_next_inventory_mutation("IDEMPOTENCY_CONCURRENT_REQUEST");
    assert_eq!(t.adjust_stock(&[keyed(2)]).await.unwrap()[0].outcome, Outcome::Applied { quantity: Some(7) });
    // A failed attempt: Shopify remembers the key as failed, so the adapter moves to a new one.
    e.platform().fail_next_inventory_mutation("SERVICE_UNAVAILABLE");
    assert_eq!(t.adjust_stock(&[keyed(3)]).await.unwrap()[0].outcome, Outcome::Applied { quantity: Some(10) });
    // The same adjustment sent again (a crash before the outcome was stored) is applied once.
    assert!(t.adjust_stock(&[keyed(3)]).await.unwrap()[0].is_applied());
    assert_eq!(e.stock("I-00000").unwrap(), Some(10));
    let keys: Vec<Vec<String>> = e
        .platform()
        .graphql_calls()
        .iter()
        .filter(|c| c.kind == "mutation")
        .map(|c| c.idempotency_keys.clone())
        .collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert_eq!(keys[0], keys[1], "concurrent: the same key");
    assert_ne!(keys[2], keys[3], "failed: a new key");
    assert_eq!(keys[4], keys[2], "the resubmission walks the same keys");
    assert_eq!(keys[5], keys[3]);
}

#[tokio::test]
async fn faults_are_survived_and_the_idempotency_key_survives_retries() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let config = ShopifyConfig::new("sandbox-shop.myshopify.com", SecretString::from(e.access_token().to_owned()))
        .base_url(e.base_url())
        .timeout(Duration::from_secs(1))
        .user_error_retries(5, Duration::ZERO);
    let t = Shopify::new(config).unwrap();
    seed(&e, "F", 3, 2);
    e.inject_fault(Fault::too_many_requests(1));
    assert_eq!(t.all_listings().await.unwrap().len(), 3, "429 with Retry-After");
    e.inject_fault(Fault::status(503).times(2));
    assert_eq!(t.all_listings().await.unwrap().len(), 3, "5xx");
    e.inject_fault(Fault::drop_connection());
    assert_eq!(t.all_listings().await.unwrap().len(), 3, "dropped connection");
    e.inject_fault(Fault::delay(Duration::from_millis(1_500)));
    assert_eq!(t.all_listings().await.unwrap().len(), 3, "timeout");

    let ups = updates(&t, "F", 7).await;
    e.clear_requests();
    e.inject_fault(Fault::status(502));
    let out = t.set_stock(&ups).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    let log = e.requests();
    assert_eq!(writes(&log), 2, "the mutation was resent once");
    assert_eq!(log[0].body, log[1].body, "byte-identical resend: same @idempotent key");
    // A timed-out mutation is resent (same body, same key: see tests/requests.rs) and applied once.
    let adj = StockAdjustment::new(ups[0].listing.clone(), "F-00000", 1).with_ids(ups[0].ids.clone());
    e.inject_fault(Fault::delay(Duration::from_millis(1_500)));
    let out = t.adjust_stock(std::slice::from_ref(&adj)).await.unwrap();
    assert!(out[0].is_applied());
    assert_eq!(e.stock("F-00000").unwrap(), Some(8), "applied once although sent twice");

    e.inject_fault(Fault::malformed().times(4));
    assert_eq!(t.all_listings().await.unwrap_err().kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn throttled_calls_wait_for_the_restore_rate() {
    let mut config = emu::ShopifyConfig::default();
    config.throttled_status = 429;
    let e = ShopifyEmulator::start(config).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "T", 3, 1);
    let ups = updates(&t, "T", 2).await;
    e.platform().cost_bucket().set_available(0.0);
    let out = t.set_stock(&ups).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()));
    let calls = e.platform().graphql_calls();
    let throttled = calls.iter().filter(|c| c.throttled).count();
    assert!(throttled <= 2, "waits are sized to the cost, not guessed: {throttled} throttled answers");
    let status = t.throttle_status().unwrap();
    assert_eq!((status.maximum_available, status.restore_rate), (2000.0, 100.0), "read from the answers");
}

#[tokio::test]
async fn several_locations_need_a_choice() {
    let mut config = emu::ShopifyConfig::fast();
    config.locations = vec![ShopifyLocation::new(1, "Warehouse"), ShopifyLocation::new(2, "Shop")];
    let e = ShopifyEmulator::start(config).await.unwrap();
    let err = adapter_for(&e).test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("gid://shopify/Location/1 (Warehouse)"), "{err}");
    let chosen = Shopify::new(
        ShopifyConfig::new("s", SecretString::from(e.access_token().to_owned())).base_url(e.base_url()).location("2"),
    )
    .unwrap();
    let id = chosen.test_connection().await.unwrap();
    assert!(id.details["location"].contains("gid://shopify/Location/2"), "{id:?}");
    let wrong = Shopify::new(
        ShopifyConfig::new("s", SecretString::from(e.access_token().to_owned())).base_url(e.base_url()).location("9"),
    )
    .unwrap();
    assert_eq!(wrong.test_connection().await.unwrap_err().kind(), ErrorKind::Config);
    let bad = Shopify::new(ShopifyConfig::new("s", SecretString::from("nope")).base_url(e.base_url())).unwrap();
    assert_eq!(bad.test_connection().await.unwrap_err().kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn tracking_goes_out_per_location_and_what_cannot_be_fulfilled_is_reported() {
    let mut config = emu::ShopifyConfig::fast();
    config.locations = vec![
        ShopifyLocation::new(1, "Warehouse"),
        ShopifyLocation::new(2, "Shop"),
        ShopifyLocation::new(3, "3PL").fulfillment_service(),
    ];
    let e = ShopifyEmulator::start(config).await.unwrap();
    let t = Shopify::new(
        ShopifyConfig::new("s", SecretString::from(e.access_token().to_owned())).base_url(e.base_url()).location("1"),
    )
    .unwrap();
    seed(&e, "L", 1, 9);
    for location in [2, 3] {
        e.platform().set_stock_at("L-00000", location, 9).unwrap();
    }
    let tracking = Tracking::new("DHL Express", "JD0001");
    let fulfillments = |e: &ShopifyEmulator| {
        e.platform().graphql_calls().iter().filter(|c| c.root_fields == ["fulfillmentCreate"]).count()
    };

    // Two of the merchant's locations: one fulfillmentCreate each.
    let split = e.platform().place_split_order(&[("L-00000", 1, 1), ("L-00000", 2, 2)]).unwrap();
    t.export_tracking(&Shipment::whole_order(split.as_str(), tracking.clone(), jiff::Timestamp::now())).await.unwrap();
    assert_eq!(fulfillments(&e), 2);
    assert_eq!(e.platform().order_json(&split).unwrap()["fulfillment_status"], "fulfilled");

    // A fulfillment service's location and a held fulfillment order: the rest is fulfilled, they are reported.
    let service = e.platform().place_split_order(&[("L-00000", 1, 1), ("L-00000", 1, 3)]).unwrap();
    let err = t
        .export_tracking(&Shipment::whole_order(service.as_str(), tracking.clone(), jiff::Timestamp::now()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("REQUEST_FULFILLMENT"), "{err}");
    assert_eq!(fulfillments(&e), 3, "the warehouse's part went out");
    let held = e.platform().place_split_order(&[("L-00000", 1, 1), ("L-00000", 1, 2)]).unwrap();
    let hold = e.platform().hold_fulfillment_order(&held, 2).unwrap();
    let err =
        t.export_tracking(&Shipment::whole_order(held.as_str(), tracking, jiff::Timestamp::now())).await.unwrap_err();
    assert!(err.to_string().contains(&hold) && err.to_string().contains("ON_HOLD"), "{err}");
    assert_eq!(fulfillments(&e), 4);
}

#[tokio::test]
async fn prices_orders_and_tracking() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "O", 3, 5);
    let listed: Vec<_> = t.all_listings().await.unwrap();
    let usd = |s: &str| Money::new(s.parse().unwrap(), Currency::USD);
    let prices: Vec<_> = listed
        .iter()
        .map(|l| PriceUpdate::new(l.id.clone(), l.channel_sku.clone(), usd("12.50")).with_ids(l.ids.clone()))
        .collect();
    let mut with_list = prices.clone();
    with_list[0] = with_list[0].clone().with_list_price(usd("15.00"));
    e.clear_requests();
    let out = t.set_prices(&with_list).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    assert_eq!(writes(&e.requests()), 1, "three products' prices in one aliased mutation");
    assert_eq!(e.platform().price("O-00000"), Some((Decimal::new(1250, 2), Some(Decimal::new(1500, 2)))));
    let zar = PriceUpdate::new(listed[0].id.clone(), "O-00000", Money::new(Decimal::ONE, Currency::ZAR))
        .with_ids(listed[0].ids.clone());
    assert!(matches!(t.set_prices(&[zar]).await.unwrap()[0].outcome, Outcome::Rejected { retryable: false, .. }));

    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let placed = e.place_order(PlaceOrder::new("O-00001", 2)).unwrap();
    let pages: Vec<_> = t.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let order = pages.iter().flat_map(|p| &p.orders).find(|o| o.id.as_str() == placed.order_id).unwrap().clone();
    assert_eq!((order.lines[0].channel_sku.as_str(), order.lines[0].quantity), ("O-00001", 2));
    assert_eq!(order.lines[0].unit_price, Some(usd("12.50")), "sold at the price just set");
    assert!(pages.last().unwrap().next.since >= order.updated_at);

    let shipment =
        Shipment::whole_order(placed.order_id.as_str(), Tracking::new("UPS", "1Z999"), jiff::Timestamp::now());
    t.export_tracking(&shipment).await.unwrap();
    let rest = e.platform().order_json(&placed.order_id).unwrap();
    assert_eq!(rest["fulfillment_status"], "fulfilled", "{rest}");
    assert_eq!(e.platform().committed("O-00001"), Some(0));
    let again = t.export_tracking(&shipment).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Validation, "nothing left to fulfil");
    let pages: Vec<_> = t.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let order = pages.iter().flat_map(|p| &p.orders).find(|o| o.id.as_str() == placed.order_id).unwrap();
    assert_eq!(order.status, OrderStatus::Shipped);
}

#[tokio::test]
async fn webhooks_valid_tampered_unsigned_replayed_and_new_headers() {
    let mut config = emu::ShopifyConfig::fast();
    config.webhooks.duplicates = Duplicates::Always;
    config.new_style_headers = true;
    let e = ShopifyEmulator::start(config).await.unwrap();
    let t = adapter_for(&e);
    t.test_connection().await.unwrap();
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    e.register_webhook(RegisterWebhook::new(format!("{}/hook", receiver.uri()), e.webhook_secret())).unwrap();
    e.seed_product(SeedProduct::new("W-1", 5, Decimal::from(10))).unwrap();
    let placed = e.place_order(PlaceOrder::new("W-1", 2)).unwrap();
    e.cancel_order(&placed.order_id).unwrap();
    e.webhooks_idle().await;
    let received = receiver.received_requests().await.unwrap();
    let as_request = |r: &wiremock::Request, body: Vec<u8>, skip: &dyn Fn(&str) -> bool| {
        let mut req = WebhookRequest::new(body);
        for (n, v) in &r.headers {
            if !skip(n.as_str()) {
                req = req.header(n.as_str(), v.to_str().unwrap());
            }
        }
        req
    };
    let keep_all = |_: &str| false;
    let events: Vec<_> =
        received.iter().map(|r| t.verify_webhook(&as_request(r, r.body.clone(), &keep_all)).unwrap()).collect();
    assert!(events.len() >= 6, "{}", events.len());
    for pair in events.chunks(2) {
        assert_eq!(pair[0].delivery_id, pair[1].delivery_id, "a replay keeps its event id");
    }
    let created = events.iter().find(|e| e.topic == "orders/create").unwrap();
    assert!(matches!(&created.payload, WebhookPayload::Order(o) if o.id.as_str() == placed.order_id));
    let cancelled = events.iter().find(|e| e.topic == "orders/cancelled").unwrap();
    assert!(matches!(&cancelled.payload, WebhookPayload::Order(o) if o.status == OrderStatus::Cancelled));
    assert!(events.iter().any(|e| matches!(&e.payload, WebhookPayload::Inventory(c) if c.quantity == Some(3))));

    let first = &received[0];
    let mut tampered = first.body.clone();
    tampered.push(b' ');
    assert_eq!(t.verify_webhook(&as_request(first, tampered, &keep_all)).unwrap_err().http_status(), 401);
    let unsigned = as_request(first, first.body.clone(), &|n: &str| n.to_ascii_lowercase().contains("hmac"));
    assert!(matches!(t.verify_webhook(&unsigned), Err(channel_core::WebhookRejection::Unsigned { .. })));
    // The new form wins: a wrong legacy signature next to a right new one verifies, and the reverse fails.
    let legacy_wrong =
        as_request(first, first.body.clone(), &|n: &str| n.eq_ignore_ascii_case("x-shopify-hmac-sha256"))
            .header("X-Shopify-Hmac-Sha256", "AAAA");
    assert!(t.verify_webhook(&legacy_wrong).is_ok());
    let new_wrong = as_request(first, first.body.clone(), &|n: &str| n.eq_ignore_ascii_case("shopify-hmac-sha256"))
        .header("shopify-hmac-sha256", "AAAA");
    assert!(t.verify_webhook(&new_wrong).is_err());
}

#[tokio::test]
async fn a_keyed_adjustment_sent_again_after_a_crash_is_applied_once() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    seed(&e, "K", 2, 10);
    let listed = adapter_for(&e).all_listings().await.unwrap();
    let adjustment = |sku: &str, delta: i64, key: &str| {
        let l = listed.iter().find(|l| l.channel_sku == sku).unwrap();
        StockAdjustment::new(l.id.clone(), sku, delta).with_ids(l.ids.clone()).with_idempotency_key(key)
    };
    let first = adjustment("K-00000", -2, "outbox/shop/1");
    let out = adapter_for(&e).adjust_stock(std::slice::from_ref(&first)).await.unwrap();
    assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(8) });

    // "A crash": the caller never learnt the outcome. A new adapter instance sends it again, this time batched
    // with a new adjustment of the same item and one of another item.
    let batch = [adjustment("K-00001", 3, "outbox/shop/2"), first.clone(), adjustment("K-00000", -1, "outbox/shop/3")];
    let before = e.platform().graphql_calls().len();
    let out = adapter_for(&e).adjust_stock(&batch).await.unwrap();
    assert!(out.iter().all(ItemOutcome::is_applied), "{out:?}");
    assert_eq!(out[1].outcome, Outcome::Applied { quantity: Some(8) }, "the first outcome, answered again");
    assert_eq!(e.stock("K-00000").unwrap(), Some(7), "10 - 2 (once) - 1");
    assert_eq!(e.stock("K-00001").unwrap(), Some(13));
    let calls = e.platform().graphql_calls();
    let mutations: Vec<_> = calls[before..].iter().filter(|c| c.kind == "mutation").collect();
    assert_eq!(mutations.len(), 1, "one call for the three keyed adjustments");
    assert_eq!(mutations[0].root_fields, vec!["inventoryAdjustQuantities"; 3]);
    assert_eq!(mutations[0].idempotency_keys.len(), 3);
    assert_eq!(mutations[0].replayed_fields, 1, "the resent adjustment came from the idempotency store");

    // And once more, whole, from yet another instance: nothing moves.
    let out = adapter_for(&e).adjust_stock(&batch).await.unwrap();
    assert!(out.iter().all(ItemOutcome::is_applied), "{out:?}");
    assert_eq!((e.stock("K-00000").unwrap(), e.stock("K-00001").unwrap()), (Some(7), Some(13)));
}

/// A fulfillment order's lines are a connection (`FulfillmentOrder.lineItems`, first/after/pageInfo):
/// the first page holds 50; a shipment naming a line past it must still ship that line, read through
/// `fulfillmentOrder(id:) { lineItems(after:) }`.
#[tokio::test]
async fn a_shipment_can_name_a_line_past_the_first_fifty_of_a_fulfillment_order() {
    let mut config = emu::ShopifyConfig::fast();
    config.locations = vec![ShopifyLocation::new(1, "Warehouse")];
    let e = ShopifyEmulator::start(config).await.unwrap();
    let t = Shopify::new(
        ShopifyConfig::new("s", SecretString::from(e.access_token().to_owned())).base_url(e.base_url()).location("1"),
    )
    .unwrap();
    seed(&e, "W", 60, 3);
    let skus: Vec<String> = (0..60).map(|i| format!("W-{i:05}")).collect();
    let lines: Vec<(&str, i64, u64)> = skus.iter().map(|s| (s.as_str(), 1, 1)).collect();
    let order = e.platform().place_split_order(&lines).unwrap();
    let rest = e.platform().order_json(&order).unwrap();
    let line = rest["line_items"].as_array().unwrap().iter().find(|l| l["sku"] == "W-00057").unwrap().clone();
    let line_id = line["id"].as_u64().map_or_else(|| line["id"].as_str().unwrap().to_owned(), |n| n.to_string());

    let mut shipment = Shipment::whole_order(order.as_str(), Tracking::new("UPS", "1Z58"), jiff::Timestamp::now());
    shipment.lines = vec![(line_id.clone(), 1)];
    t.export_tracking(&shipment).await.unwrap();

    let rest = e.platform().order_json(&order).unwrap();
    let shipped: Vec<&Value> =
        rest["line_items"].as_array().unwrap().iter().filter(|l| l["fulfillable_quantity"] == 0).collect();
    assert_eq!(shipped.len(), 1, "only the named line: {shipped:?}");
    assert_eq!(shipped[0]["sku"], "W-00057");
    let calls = e.platform().graphql_calls();
    assert!(calls.iter().any(|c| c.root_fields == ["fulfillmentOrder"]), "the lines past 50 were read");
}

/// The emulator prices an aliased mutation as shopify.dev's "Cost calculation" does (mutation 10 plus
/// the objects its payload selects; 1,000 at most a query): the adapter's largest keyed-adjustment and
/// price chunks must be admitted, never refused with `MAX_COST_EXCEEDED`.
#[tokio::test]
async fn the_largest_aliased_chunks_stay_within_the_single_query_cost() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let t = adapter_for(&e);
    let n = channel_shopify::MAX_KEYED_ADJUSTMENTS.max(channel_shopify::MAX_PRICES) + 1;
    seed(&e, "K", n, 5);
    let listed = t.all_listings().await.unwrap();
    let adjustments: Vec<_> = listed
        .iter()
        .map(|l| {
            StockAdjustment::new(l.id.clone(), l.channel_sku.clone(), 1)
                .with_ids(l.ids.clone())
                .with_idempotency_key(format!("outbox/{}", l.channel_sku))
        })
        .collect();
    let out = t.adjust_stock(&adjustments).await.unwrap();
    assert!(out.iter().all(ItemOutcome::is_applied), "{out:?}");
    let prices: Vec<_> = listed
        .iter()
        .map(|l| {
            PriceUpdate::new(l.id.clone(), l.channel_sku.clone(), Money::new(Decimal::new(1250, 2), Currency::USD))
                .with_ids(l.ids.clone())
        })
        .collect();
    let out = t.set_prices(&prices).await.unwrap();
    assert!(out.iter().all(ItemOutcome::is_applied), "{out:?}");
    let calls = e.platform().graphql_calls();
    let mutations: Vec<_> = calls.iter().filter(|c| c.kind == "mutation").collect();
    assert!(
        mutations.iter().all(|c| c.requested_cost <= 1_000),
        "{:?}",
        mutations.iter().map(|c| c.requested_cost).collect::<Vec<_>>()
    );
    assert_eq!(mutations.len(), 4, "two chunks each: {n} adjustments, {n} products");
}

/// The connection test reads the app's granted scopes: without `read_all_orders` it says that orders are
/// read for 60 days only; a missing optional scope is reported; a missing required one fails (Auth,
/// naming the scope).
#[tokio::test]
async fn connection_test_reports_the_granted_scopes() {
    let e = ShopifyEmulator::start(emu::ShopifyConfig::fast()).await.unwrap();
    let id = adapter_for(&e).test_connection().await.unwrap();
    assert_eq!(id.details["read_all_orders"], "granted", "{id:?}");
    assert_eq!(id.details["orders_window"], "all");
    assert_eq!(id.details["missing_scopes"], "none");

    let mut config = emu::ShopifyConfig::fast();
    config.access_scopes.retain(|s| !matches!(s.as_str(), "read_all_orders" | "write_products"));
    let e = ShopifyEmulator::start(config).await.unwrap();
    let id = adapter_for(&e).test_connection().await.unwrap();
    assert_eq!(id.details["read_all_orders"], "missing", "{id:?}");
    assert_eq!(id.details["orders_window"], "60 days");
    assert_eq!(id.details["missing_scopes"], "write_products");

    // write_inventory alone grants read_inventory; without it no stock can be written.
    let mut config = emu::ShopifyConfig::fast();
    config.access_scopes.retain(|s| s != "read_inventory");
    let e = ShopifyEmulator::start(config).await.unwrap();
    adapter_for(&e).test_connection().await.unwrap();
    let mut config = emu::ShopifyConfig::fast();
    config.access_scopes.retain(|s| s != "write_inventory");
    let e = ShopifyEmulator::start(config).await.unwrap();
    let err = adapter_for(&e).test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("write_inventory"), "{err}");
}
