//! Request-level tests: the exact requests the adapter sends, against `wiremock`.

use std::time::Duration;

use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::SecretString;
use channel_core::{
    Channel, ChannelExt, Currency, ErrorKind, Fulfilment, Money, OrderCursor, Outcome, PriceUpdate, StockUpdate,
};
use channel_takealot::{IdentitySource, Takealot, TakealotConfig};
use futures::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn adapter(server: &MockServer) -> Takealot {
    let config = TakealotConfig::new(SecretString::from("key-123"), 28676)
        .base_url(server.uri())
        .requests_per_minute(None)
        .batch_poll_interval(Duration::from_millis(5));
    Takealot::new(config).unwrap()
}

fn offer(id: u64, sku: &str, leadtime: i64, dc: i64) -> Value {
    json!({
        "tsin_id": id + 1, "offer_id": id, "sku": sku, "barcode": format!("600{id}"), "selling_price": 299, "rrp": 349,
        "leadtime_days": 3, "status": "Buyable", "title": "T",
        "leadtime_stock": [
            {"merchant_warehouse": {"warehouse_id": 1, "name": "Other"}, "quantity_available": 99},
            {"merchant_warehouse": {"warehouse_id": 28676, "name": "Mine"}, "quantity_available": leadtime}
        ],
        "stock_at_takealot_total": dc,
        "stock_at_takealot": [{"warehouse": {"warehouse_id": 1, "name": "CPT"}, "quantity_available": dc}]
    })
}

#[tokio::test]
async fn lists_offers_page_by_page_with_the_key_header() {
    let server = MockServer::start().await;
    let page1: Vec<Value> = (0..100).map(|i| offer(1000 + i, &format!("S{i}"), 5, 2)).collect();
    for (n, offers) in [(1, page1), (2, vec![offer(2000, "LAST", 7, 0)])] {
        Mock::given(method("GET"))
            .and(path("/v2/offers"))
            .and(query_param("page_number", n.to_string()))
            .and(query_param("page_size", "100"))
            .and(header("authorization", "Key key-123"))
            .and(header("accept", "application/json"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total_results": 101, "page_size": 100, "page_number": n, "offers": offers})),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let t = adapter(&server);
    let all = t.all_listings().await.unwrap();
    assert_eq!(all.len(), 202, "a merchant and a DC listing per offer");
    let last = all.iter().find(|l| l.id.as_str() == "2000").unwrap();
    assert_eq!(last.quantity(), Some(7), "leadtime stock at the configured warehouse only");
    assert_eq!(last.fulfilment, Fulfilment::Merchant);
    assert_eq!(last.price, Some(Money::new(Decimal::from(299), Currency::ZAR)));
    assert_eq!(last.ids["tsin"], "2001");
    assert_eq!(last.ids["rrp"], "349");
    let dc = all.iter().find(|l| l.id.as_str() == "1000:dc").unwrap();
    assert_eq!((dc.quantity(), dc.fulfilment), (Some(2), Fulfilment::Channel));
}

#[tokio::test]
async fn one_update_is_one_patch_with_the_documented_body() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/v2/offers/offer/ID555"))
        .and(header("authorization", "Key key-123"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({"leadtime_days": 5, "leadtime_stock": [{"merchant_warehouse_id": 28676, "quantity": 12}]}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"offer": offer(555, "A", 12, 0), "validation_errors": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let config = TakealotConfig::new(SecretString::from("key-123"), 28676)
        .base_url(server.uri())
        .requests_per_minute(None)
        .leadtime_days(Some(5));
    let t = Takealot::new(config).unwrap();
    let out = t.set_stock(&[StockUpdate::new("555", "A", 12)]).await.unwrap();
    assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(12) });
}

/// The swagger's `create_batch_v2` body is a bare array of `V2OfferBatchCreateUpdate` (offer_id, sku,
/// barcode, selling_price, rrp, leadtime_days, leadtime_stock, status_action); `get_batch_v2` answers a
/// `V2OfferBatch`: `status` `{id, description}`, `result[]` `{offer, validation_errors}`.
#[tokio::test]
async fn many_updates_are_one_batch_polled_to_completion() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/offers/batch"))
        .and(header("authorization", "Key key-123"))
        .and(body_json(json!([
            {"offer_id": 1, "leadtime_stock": [{"merchant_warehouse_id": 28676, "quantity": 3}]},
            {"offer_id": 2, "leadtime_stock": [{"merchant_warehouse_id": 28676, "quantity": 0}]},
            {"offer_id": 3, "leadtime_stock": [{"merchant_warehouse_id": 28676, "quantity": 9}]}
        ])))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"batch_id": "77", "status": {"id": 1, "description": "Pending"}, "result": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/offers/batch/77"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"batch_id": "77", "status": {"id": 2, "description": "Processing"}, "result": []}),
            ),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/offers/batch/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "batch_id": "77",
            "status": {"id": 4, "description": "Success"},
            "result": [
                {"offer": {"offer_id": 1, "sku": "A"}, "validation_errors": []},
                {"offer": {"offer_id": 2, "sku": "B"},
                 "validation_errors": [{"code": "E11", "message": "Offer is Disabled by Takealot"}]},
                {"offer": {"offer_id": 3, "sku": "C"},
                 "validation_errors": [{"code": "E99", "message": "Temporary processing error, please retry"}]}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let updates = [
        StockUpdate::new("1", "A", 3),
        StockUpdate::new("2", "B", 0),
        StockUpdate::new("3", "C", 9),
        StockUpdate::new("3:dc", "C", 1),
    ];
    let out = t.set_stock(&updates).await.unwrap();
    assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(3) });
    assert!(matches!(&out[1].outcome, Outcome::Rejected { reason, retryable: false } if reason.contains("E11")));
    // The swagger's `validation_errors[]` is `{message, code}` with no code list: a message asking to retry
    // does not make a refusal retryable (only `retry_codes` do, see below).
    assert!(matches!(&out[2].outcome, Outcome::Rejected { retryable: false, .. }), "{:?}", out[2]);
    assert!(matches!(&out[3].outcome, Outcome::Rejected { retryable: false, .. }), "DC stock is read-only");
    assert_eq!(out.iter().map(|o| o.listing.as_str()).collect::<Vec<_>>(), ["1", "2", "3", "3:dc"]);
}

/// A batch whose status is "Failed" (id 5) confirms nothing: offers it reports no errors for are retryable
/// rejections, never applied.
#[tokio::test]
async fn a_failed_batch_applies_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/offers/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "batch_id": "78",
            "status": {"id": 5, "description": "Failed"},
            "result": [{"offer": {"offer_id": 1}, "validation_errors": []}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let out = t.set_stock(&[StockUpdate::new("1", "A", 3), StockUpdate::new("2", "B", 4)]).await.unwrap();
    assert!(out.iter().all(|o| matches!(o.outcome, Outcome::Rejected { retryable: true, .. })), "{out:?}");
}

/// `V2OfferUpdateSuccessResponse` with `validation_errors` is a refusal of that offer, not a success.
#[tokio::test]
async fn a_patch_answered_with_validation_errors_is_a_rejection() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/v2/offers/offer/ID555"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "offer": offer(555, "A", 7, 0),
            "validation_errors": [{"code": "E22", "message": "rrp must be 0 or at least the selling price"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let out = t.set_stock(&[StockUpdate::new("555", "A", 12)]).await.unwrap();
    assert!(
        matches!(&out[0].outcome, Outcome::Rejected { reason, retryable: false } if reason.contains("E22")),
        "{:?}",
        out[0].outcome
    );
}

#[tokio::test]
async fn prices_are_whole_rand_and_an_empty_push_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/v2/offers/offer/ID9"))
        .and(body_json(json!({"selling_price": 100, "rrp": 150})))
        .respond_with(ResponseTemplate::new(200).set_body_json(offer(9, "P", 1, 0)))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let zar = |s: &str| Money::new(s.parse().unwrap(), Currency::ZAR);
    let out = t
        .set_prices(&[
            PriceUpdate::new("9", "P", zar("99.50")).with_list_price(zar("149.50")),
            PriceUpdate::new("10", "Q", Money::new(Decimal::from(5), Currency::USD)),
        ])
        .await
        .unwrap();
    assert!(out[0].is_applied());
    assert!(matches!(&out[1].outcome, Outcome::Rejected { retryable: false, .. }));
    assert!(t.set_stock(&[]).await.unwrap().is_empty());
    assert!(t.set_prices(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_patch_is_a_rejection_and_a_bad_key_is_auth() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/v2/offers/offer/ID4"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"message": "Offer is Disabled by Takealot and cannot be updated"})),
        )
        .mount(&server)
        .await;
    // The swagger's answer to a bad key: 403 "Forbidden Error" `{message}`.
    Mock::given(method("GET"))
        .and(path("/v2/offers"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Invalid API key"})))
        .mount(&server)
        .await;
    let t = adapter(&server);
    let out = t.set_stock(&[StockUpdate::new("4", "D", 1)]).await.unwrap();
    assert!(matches!(&out[0].outcome, Outcome::Rejected { reason, retryable: false } if reason.contains("Disabled")));
    let err = t.test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!err.to_string().contains("key-123"), "{err}");
    assert!(!format!("{t:?}").contains("key-123"));
}

/// The swagger has no seller-identity operation: by default the connection test makes only the documented
/// `get_offers_v2` call, never `GET /v2/seller`.
#[tokio::test]
async fn the_default_identity_is_the_documented_offers_probe() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/seller"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/offers"))
        .and(query_param("page_number", "1"))
        .and(query_param("page_size", "1"))
        .and(header("authorization", "Key key-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_results": 0, "offers": []})))
        .expect(1)
        .mount(&server)
        .await;
    let id = adapter(&server).test_connection().await.unwrap();
    assert_eq!(id.account_id, "warehouse-28676");
}

/// `validation_errors[].code` values listed in `retry_codes` make a refusal retryable (PATCH and batch).
#[tokio::test]
async fn configured_codes_make_refusals_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/v2/offers/offer/ID5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "offer": offer(5, "A", 1, 0),
            "validation_errors": [{"code": "E77", "message": "Busy"}]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let update = [StockUpdate::new("5", "A", 4)];
    let out = adapter(&server).set_stock(&update).await.unwrap();
    assert!(matches!(&out[0].outcome, Outcome::Rejected { retryable: false, .. }), "{:?}", out[0]);
    let config = TakealotConfig::new(SecretString::from("key-123"), 28676)
        .base_url(server.uri())
        .requests_per_minute(None)
        .retry_codes(["E77"]);
    // A lone write's retryable refusal is a retryable error of the call (as for a 5xx).
    let err = Takealot::new(config).unwrap().set_stock(&update).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

/// The swagger: `selling_price`/`rrp` "Please ensure you supply us with a positive whole number", and "a
/// positive whole number for the quantity" of leadtime stock. A price that rounds to R 0 and a negative
/// quantity are refused before anything is sent; a quantity of 0 (an emptied offer) is sent.
#[tokio::test]
async fn non_positive_prices_and_negative_stock_are_refused_unsent() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/v2/offers/offer/ID1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"offer": offer(1, "A", 0, 0), "validation_errors": []})),
        )
        .expect(0)
        .named("refused items are not sent")
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/v2/offers/offer/ID2"))
        .and(body_json(json!({"leadtime_stock": [{"merchant_warehouse_id": 28676, "quantity": 0}]})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"offer": offer(2, "B", 0, 0), "validation_errors": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let zar = |s: &str| Money::new(s.parse().unwrap(), Currency::ZAR);
    let out = t
        .set_prices(&[
            PriceUpdate::new("1", "A", zar("0.40")),
            PriceUpdate::new("1", "A", zar("10")).with_list_price(zar("0")),
            PriceUpdate::new("1", "A", zar("-3")),
        ])
        .await
        .unwrap();
    for o in &out {
        assert!(matches!(&o.outcome, Outcome::Rejected { retryable: false, .. }), "{o:?}");
    }
    let out = t.set_stock(&[StockUpdate::new("1", "A", -1)]).await.unwrap();
    assert!(matches!(&out[0].outcome, Outcome::Rejected { retryable: false, .. }), "{:?}", out[0]);
    let out = t.set_stock(&[StockUpdate::new("2", "B", 0)]).await.unwrap();
    assert!(out[0].is_applied(), "zero stock is writable: {:?}", out[0]);
}

#[tokio::test]
async fn identity_from_the_opt_in_seller_endpoint_or_the_offers_probe() {
    let seller_endpoint = |server: &MockServer| {
        let config = TakealotConfig::new(SecretString::from("key-123"), 28676)
            .base_url(server.uri())
            .requests_per_minute(None)
            .identity(IdentitySource::seller_endpoint());
        Takealot::new(config).unwrap()
    };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/seller"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"seller_id": 42, "display_name": "Shop"})))
        .expect(1)
        .mount(&server)
        .await;
    let id = seller_endpoint(&server).test_connection().await.unwrap();
    assert_eq!((id.account_id.as_str(), id.display_name.as_deref()), ("42", Some("Shop")));

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/seller"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/offers"))
        .and(query_param("page_size", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_results": 0, "offers": []})))
        .expect(2)
        .mount(&server)
        .await;
    let id = seller_endpoint(&server).test_connection().await.unwrap();
    assert_eq!(id.account_id, "warehouse-28676", "a 404 falls back to the offers probe");
    let config = TakealotConfig::new(SecretString::from("k"), 28676)
        .base_url(server.uri())
        .identity(IdentitySource::OffersProbe);
    assert_eq!(Takealot::new(config).unwrap().test_connection().await.unwrap().account_id, "warehouse-28676");
}

#[tokio::test]
async fn sales_are_read_in_windows_with_the_filter_syntax() {
    let server = MockServer::start().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = std::sync::Arc::clone(&seen);
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .and(query_param("page_size", "100"))
        .respond_with(move |req: &Request| {
            let filters = req.url.query_pairs().find(|(k, _)| k == "filters").map(|(_, v)| v.into_owned()).unwrap();
            sink.lock().unwrap().push(filters);
            ResponseTemplate::new(200).set_body_json(json!({"page_summary": {"total": 2}, "sales": [
                {"order_item_id": 11, "order_id": 1, "order_date": "2026-01-02", "sale_status": "New Lead Time Order",
                 "offer_id": 5, "sku": "A", "selling_price": 200, "quantity": 2},
                {"order_item_id": 12, "order_id": 1, "order_date": "2026-01-02", "sale_status": "Cancelled by Customer",
                 "offer_id": 6, "sku": "B", "selling_price": 50, "quantity": 1}
            ]}))
        })
        .mount(&server)
        .await;
    let t = Takealot::new(
        TakealotConfig::new(SecretString::from("k"), 1)
            .base_url(server.uri())
            .requests_per_minute(None)
            .sales_filter_separator(";")
            .sales_lookback_days(0),
    )
    .unwrap();
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 400);
    let pages: Vec<_> = t.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let filters = seen.lock().unwrap().clone();
    assert_eq!(filters.len(), 3, "401 days need three windows of at most 180: {filters:?}");
    let sast = jiff::tz::TimeZone::fixed(jiff::tz::offset(2));
    let start = since.to_zoned(sast).date();
    assert_eq!(
        filters[0],
        format!("start_date:{start};end_date:{}", start.checked_add(jiff::ToSpan::days(179)).unwrap())
    );
    for f in &filters {
        let (a, b) = f.split_once(';').unwrap();
        let a: jiff::civil::Date = a.trim_start_matches("start_date:").parse().unwrap();
        let b: jiff::civil::Date = b.trim_start_matches("end_date:").parse().unwrap();
        assert!(a.until(b).unwrap().get_days() < 180, "{f}");
    }
    let order = &pages[0].orders[0];
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.status, channel_core::OrderStatus::Open, "a line still holds stock");
    assert_eq!(order.lines[0].fulfilment, Fulfilment::Merchant);
    assert_eq!(order.lines[0].unit_price, Some(Money::new(Decimal::from(100), Currency::ZAR)));
    assert_eq!(order.lines[1].refunded_quantity, 1, "a cancelled item gives its units back");
    assert!(pages[..2].iter().all(|p| p.next.since == since), "intermediate pages keep the cursor");
    assert!(pages[2].next.since > since, "the last page moves it on");
}

#[tokio::test]
async fn get_listings_reads_each_named_offer_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/offers/offer/ID555"))
        .and(header("authorization", "Key key-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(offer(555, "A", 12, 3)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/offers/offer/ID777"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Offer not found"})))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    assert!(t.get_listings(&[]).await.unwrap().is_empty(), "no ids, no call");
    let ids = ["555:dc", "555", "777", "MUG-1", "555"].map(channel_core::ListingId::new);
    let got = t.get_listings(&ids).await.unwrap();
    let mut shown: Vec<(&str, Option<i64>)> = got.iter().map(|l| (l.id.as_str(), l.quantity())).collect();
    shown.sort_unstable();
    assert_eq!(
        shown,
        [("555", Some(12)), ("555:dc", Some(3))],
        "one read serves both listings; 404 and foreign ids left out"
    );
    assert!(got.iter().all(|l| l.channel_sku == "A"));

    let no_dc = Takealot::new(
        TakealotConfig::new(SecretString::from("key-123"), 28676)
            .base_url(server.uri())
            .requests_per_minute(None)
            .dc_listings(false),
    )
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/v2/offers/offer/ID556"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"})))
        .mount(&server)
        .await;
    assert!(no_dc.get_listings(&[channel_core::ListingId::new("555:dc")]).await.unwrap().is_empty());
    let err = Takealot::new(
        TakealotConfig::new(SecretString::from("key-123"), 28676)
            .base_url(server.uri())
            .requests_per_minute(None)
            .timeout(Duration::from_secs(5)),
    )
    .unwrap()
    .get_listings(&[channel_core::ListingId::new("556")])
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "a failing read is an error, not a missing listing");
}

/// `view_sales` answers `order_date` as South African local time (`01 Oct 2021 13:47:32`, UTC+2) and
/// `selling_price` as a number (`399.0`); both must reach the order.
#[tokio::test]
async fn a_sales_page_with_documented_dates_and_decimal_prices() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .and(query_param("page_number", "1"))
        .and(query_param("page_size", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "page_summary": {"total": 2, "page_size": 100, "page_number": 1},
            "sales": [
                {"order_item_id": 145628729, "order_id": 94490206, "order_date": "01 Oct 2021 13:47:32",
                 "sale_status": "Shipped to Customer", "offer_id": 106715933, "tsin": 76786306, "sku": "9901067159339",
                 "product_title": "Desk Mat", "selling_price": 399.0, "quantity": 1, "dc": "JHB"},
                {"order_item_id": 145628730, "order_id": 94490206, "order_date": "01 Oct 2021 13:47:32",
                 "sale_status": "Shipped to Customer", "offer_id": 106715934, "sku": "CUP",
                 "selling_price": 259.9, "quantity": 2, "dc": "JHB"}
            ]
        })))
        .mount(&server)
        .await;
    let t = Takealot::new(
        TakealotConfig::new(SecretString::from("k"), 1)
            .base_url(server.uri())
            .requests_per_minute(None)
            .sales_lookback_days(0),
    )
    .unwrap();
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    let pages: Vec<_> = t.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let order = &pages[0].orders[0];
    assert_eq!(order.created_at.to_string(), "2021-10-01T11:47:32Z", "13:47:32 at UTC+2");
    assert_eq!(order.lines[0].unit_price, Some(Money::new(Decimal::new(399, 0), Currency::ZAR)));
    assert_eq!(order.lines[1].unit_price, Some(Money::new(Decimal::new(12995, 2), Currency::ZAR)), "259.90 / 2");
}

/// An `order_date` the adapter cannot read is a decode error, never an order dated 1970.
#[tokio::test]
async fn an_unreadable_order_date_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "page_summary": {"total": 1},
            "sales": [{"order_item_id": 1, "order_id": 2, "order_date": "Oct the first", "sale_status": "Shipped to Customer",
                       "sku": "A", "selling_price": 10.0, "quantity": 1}]
        })))
        .mount(&server)
        .await;
    let t = Takealot::new(
        TakealotConfig::new(SecretString::from("k"), 1)
            .base_url(server.uri())
            .requests_per_minute(None)
            .sales_lookback_days(0),
    )
    .unwrap();
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    let err = t.orders_since(&OrderCursor::new(since)).try_collect::<Vec<_>>().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.to_string().contains("Oct the first"), "{err}");
}
