//! Request-level tests: the exact WooCommerce REST requests the adapter sends, against `wiremock`.

mod support;

use channel_core::{
    Channel, ChannelExt, ErrorKind, OrderCursor, OrderStatus, Outcome, Stock, StockUpdate, WebhookPayload,
    WebhookRejection, WebhookRequest,
};
use channel_woocommerce::{WooCommerce, WooCommerceConfig};
use futures::TryStreamExt;
use serde_json::json;
use support::{basic, build, https_store};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn listings_read_products_then_variations_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .and(query_param("orderby", "id"))
        .and(query_param("order", "asc"))
        .and(header("authorization", basic().as_str()))
        .respond_with(ResponseTemplate::new(200).insert_header("X-WP-TotalPages", "1").set_body_json(json!([
            {"id": 1, "type": "simple", "status": "publish", "sku": "MUG", "manage_stock": true, "stock_quantity": 7, "regular_price": "9.50", "sale_price": ""},
            {"id": 2, "type": "simple", "status": "draft", "sku": "PEN", "manage_stock": false, "stock_quantity": null, "regular_price": ""},
            {"id": 3, "type": "variable", "status": "publish", "sku": "TEE", "manage_stock": false, "variations": [11, 12]},
            {"id": 4, "type": "grouped", "status": "publish", "sku": "SET", "manage_stock": false}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products/3/variations"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).insert_header("X-WP-TotalPages", "1").set_body_json(json!([
            {"id": 11, "sku": "TEE-S", "manage_stock": true, "stock_quantity": 4, "regular_price": "12.00", "status": "publish"},
            {"id": 12, "sku": "TEE-M", "manage_stock": "parent", "stock_quantity": null, "regular_price": "12.00", "status": "publish"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let listings = https_store(&server).all_listings().await.unwrap();
    let got: Vec<(&str, &str, Stock)> =
        listings.iter().map(|l| (l.id.as_str(), l.channel_sku.as_str(), l.stock)).collect();
    assert_eq!(
        got,
        [
            ("1", "MUG", Stock::Tracked { quantity: 7 }),
            ("2", "PEN", Stock::Untracked),
            ("3/11", "TEE-S", Stock::Tracked { quantity: 4 }),
            ("3/12", "TEE-M", Stock::Inherited),
        ]
    );
    assert_eq!(listings[0].price.map(|p| p.amount.to_string()).as_deref(), Some("9.50"));
    assert_eq!(listings[2].ids.get("variation_id").map(String::as_str), Some("11"));
}

#[tokio::test]
async fn get_listings_reads_products_and_variations_by_id_with_include() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products"))
        .and(query_param("include", "1,4"))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "type": "simple", "status": "publish", "sku": "MUG", "manage_stock": true, "stock_quantity": 7, "regular_price": "9.50"},
            {"id": 4, "type": "variable", "status": "publish", "sku": "TEE", "manage_stock": false, "variations": [11]}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products/3/variations"))
        .and(query_param("include", "11,12"))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 11, "sku": "TEE-S", "manage_stock": true, "stock_quantity": 4, "regular_price": "12.00", "status": "publish"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/products/9/variations"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let channel = https_store(&server);
    assert!(channel.get_listings(&[]).await.unwrap().is_empty());
    assert!(channel.get_listings(&["not-an-id".into()]).await.unwrap().is_empty());
    assert!(server.received_requests().await.unwrap().is_empty(), "no ids (or none of ours), no call");

    let ids = ["3/11", "1", "4", "3/12", "9/1", "junk", "1"].map(channel_core::ListingId::from);
    let got = channel.get_listings(&ids).await.unwrap();
    let got: Vec<(&str, &str, Stock)> = got.iter().map(|l| (l.id.as_str(), l.channel_sku.as_str(), l.stock)).collect();
    // Product 4 is variable without its own stock (not a listing); 3/12 and 9/1 are unknown.
    assert_eq!(got, [("3/11", "TEE-S", Stock::Tracked { quantity: 4 }), ("1", "MUG", Stock::Tracked { quantity: 7 })]);
    assert_eq!(server.received_requests().await.unwrap().len(), 3, "one call for the products, one per parent");
}

#[tokio::test]
async fn stock_goes_in_batches_of_100_with_inline_item_errors() {
    let server = MockServer::start().await;
    let first: Vec<_> = (1..=100u64)
        .map(|id| json!({"id": id, "manage_stock": true, "stock_quantity": 5, "stock_status": "instock"}))
        .collect();
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/products/batch"))
        .and(body_json(json!({"update": first})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "update": (1..=100u64).map(|id| if id == 2 {
                json!({"id": 2, "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}})
            } else {
                json!({"id": id, "stock_quantity": 5})
            }).collect::<Vec<_>>()
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/products/batch"))
        .and(body_json(
            json!({"update": [{"id": 101, "manage_stock": true, "stock_quantity": 5, "stock_status": "instock"}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"update": [{"id": 101, "stock_quantity": 5}]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/products/3/variations/batch"))
        .and(body_json(
            json!({"update": [{"id": 11, "manage_stock": true, "stock_quantity": 0, "stock_status": "outofstock"}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"update": [{"id": 11, "stock_quantity": 0}]})))
        .expect(1)
        .mount(&server)
        .await;
    let mut updates: Vec<StockUpdate> =
        (1..=101u64).map(|id| StockUpdate::new(id.to_string(), format!("S{id}"), 5)).collect();
    updates.insert(50, StockUpdate::new("3/11", "TEE-S", 0));
    updates.push(StockUpdate::new("not-an-id", "X", 1));
    let out = https_store(&server).set_stock(&updates).await.unwrap();
    assert_eq!(out.len(), 103);
    assert_eq!(out[50].listing.as_str(), "3/11");
    assert_eq!(out[50].outcome, Outcome::Applied { quantity: Some(0) });
    assert!(matches!(&out[1].outcome, Outcome::Rejected { retryable: false, reason } if reason.contains("invalid_id")));
    assert!(matches!(&out[102].outcome, Outcome::Rejected { retryable: false, .. }));
    assert_eq!(out.iter().filter(|o| o.is_applied()).count(), 101);
}

#[tokio::test]
async fn plain_http_signs_every_attempt_with_oauth_in_a_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/data/currencies/current"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/data/currencies/current"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": "EUR", "name": "Euro", "symbol": "&euro;"})),
        )
        .mount(&server)
        .await;
    let channel = build(WooCommerceConfig::new(server.uri(), "ck_key", "cs_secret"));
    let id = channel.test_connection().await.unwrap();
    assert_eq!(id.account_id, server.uri());
    assert_eq!(id.details.get("currency").map(String::as_str), Some("EUR"));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    let nonces: Vec<String> = reqs
        .iter()
        .map(|r| {
            assert!(r.url.query().is_none(), "no credentials in the URL: {}", r.url);
            let auth = r.headers.get("authorization").unwrap().to_str().unwrap().to_owned();
            assert!(auth.starts_with("OAuth oauth_consumer_key=\"ck_key\""), "{auth}");
            assert!(auth.contains("oauth_signature_method=\"HMAC-SHA256\""), "{auth}");
            assert!(!auth.contains("cs_secret"));
            auth.split("oauth_nonce=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
        })
        .collect();
    assert_ne!(nonces[0], nonces[1], "a retry is signed afresh");
}

#[tokio::test]
async fn orders_modified_since_with_refunds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders"))
        .and(query_param("modified_after", "2026-11-01T09:59:59"))
        .and(query_param("dates_are_gmt", "true"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).insert_header("X-WP-TotalPages", "1").set_body_json(json!([
            {"id": 70, "status": "processing", "currency": "USD", "date_created_gmt": "2026-11-01T10:00:00", "date_modified_gmt": "2026-11-02T10:00:00",
             "line_items": [{"id": 700, "product_id": 3, "variation_id": 11, "quantity": 3, "sku": "TEE-S", "price": 12.5}],
             "refunds": [{"id": 90, "total": "-12.50"}]},
            {"id": 71, "status": "cancelled", "currency": "USD", "date_created_gmt": "2026-11-01T11:00:00", "date_modified_gmt": "2026-11-03T10:00:00",
             "line_items": [{"id": 710, "product_id": 1, "variation_id": 0, "quantity": 1, "sku": "MUG", "price": 9.5}], "refunds": []}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders/70/refunds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 90, "line_items": [{"id": 1, "quantity": -1, "meta_data": [{"key": "_refunded_item_id", "value": "700"}]}]}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let channel = https_store(&server);
    let cursor = OrderCursor::new("2026-11-01T10:00:00Z".parse().unwrap());
    let pages: Vec<_> = channel.orders_since(&cursor).try_collect().await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].next.since, "2026-11-03T10:00:00Z".parse::<jiff::Timestamp>().unwrap());
    let o = &pages[0].orders;
    assert_eq!(o[0].status, OrderStatus::Open);
    assert_eq!(o[0].lines[0].listing.as_ref().map(|l| l.as_str()), Some("3/11"));
    assert_eq!((o[0].lines[0].quantity, o[0].lines[0].refunded_quantity), (3, 1));
    assert_eq!(o[1].status, OrderStatus::Cancelled);
}

#[tokio::test]
async fn tracking_falls_back_to_a_note_and_completes_the_order() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc-shipment-tracking/v3/orders/70/shipment-trackings"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                json!({"code": "rest_no_route", "message": "No route was found", "data": {"status": 404}}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc/v3/orders/70/notes"))
        .and(body_json(
            json!({"note": "Shipped with DHL, tracking number 123 (https://t.example/123)", "customer_note": true}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/orders/70"))
        .and(body_json(json!({"status": "completed"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 70, "status": "completed"})))
        .expect(1)
        .mount(&server)
        .await;
    let mut tracking = channel_core::Tracking::new("DHL", "123");
    tracking.url = Some("https://t.example/123".into());
    let shipment = channel_core::Shipment::whole_order("70", tracking, jiff::Timestamp::now());
    https_store(&server).export_tracking(&shipment).await.unwrap();
}

#[test]
fn store_urls_are_validated() {
    for bad in
        ["shop.example", "ftp://shop.example", "https://shop.example/wp-json/wc/v3", "https://ck:cs@shop.example"]
    {
        let err = WooCommerce::new(WooCommerceConfig::new(bad, "ck", "cs")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        assert!(err.to_string().contains("store URL"), "{err}");
    }
}

#[test]
fn webhooks_verify_with_the_entity_decoded_secret() {
    // WooCommerce stores `a&amp;b` for a secret typed as `a&b` and signs with the decoded `a&b`.
    let config = WooCommerceConfig::new("https://shop.example", "ck", "cs").webhook_secret("a&amp;b");
    let channel = WooCommerce::new(config).unwrap();
    let body = br#"{"id":5,"type":"simple","sku":"MUG","manage_stock":true,"stock_quantity":3}"#;
    let sig = channel_core::webhook::sign_base64(b"a&b", body);
    let req = |body: &[u8], sig: Option<&str>| {
        let mut r = WebhookRequest::new(body.to_vec())
            .header("X-WC-Webhook-Topic", "product.updated")
            .header("X-WC-Webhook-Delivery-ID", "d-1");
        if let Some(s) = sig {
            r = r.header("X-WC-Webhook-Signature", s);
        }
        r
    };
    let event = channel.verify_webhook(&req(body, Some(&sig))).unwrap();
    assert_eq!(event.delivery_id.as_deref(), Some("d-1"));
    assert_eq!(
        event.payload,
        WebhookPayload::ListingChanged { listing: Some("5".into()), channel_sku: Some("MUG".into()) }
    );
    assert_eq!(channel.verify_webhook(&req(b"{\"id\":6}", Some(&sig))).unwrap_err(), WebhookRejection::BadSignature);
    let wrong = channel_core::webhook::sign_base64(b"a&amp;b", body);
    assert_eq!(channel.verify_webhook(&req(body, Some(&wrong))).unwrap_err(), WebhookRejection::BadSignature);
    assert_eq!(channel.verify_webhook(&req(body, None)).unwrap_err().http_status(), 401);
    let ping = channel.verify_webhook(&WebhookRequest::new("webhook_id=17")).unwrap();
    assert_eq!(ping.payload, WebhookPayload::Ping);
    let coupon = WebhookRequest::new(body.to_vec())
        .header("X-WC-Webhook-Topic", "coupon.created")
        .header("X-WC-Webhook-Signature", sig.as_str());
    assert!(matches!(channel.verify_webhook(&coupon), Err(WebhookRejection::UnsupportedTopic(_))));
    let unconfigured = WooCommerce::new(WooCommerceConfig::new("https://shop.example", "ck", "cs")).unwrap();
    assert!(matches!(unconfigured.verify_webhook(&req(body, Some(&sig))), Err(WebhookRejection::NotAccepted(_))));
}
