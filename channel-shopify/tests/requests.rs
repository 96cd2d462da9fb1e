//! Request-level tests: the exact GraphQL documents and variables the adapter sends, against `wiremock`.

mod support;

use std::time::Duration;

use channel_core::rust_decimal::Decimal;
use channel_core::{
    Channel, ChannelExt, Currency, Money, OrderCursor, Outcome, PriceUpdate, StockAdjustment, StockUpdate,
};
use channel_shopify::{Shopify, ShopifyConfig, adjustment_key, documents};
use futures::TryStreamExt;
use serde_json::{Value, json};
use support::{GQL, adapter, doc, ok, sent, shop, shop_lookup};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A `THROTTLED` answer (HTTP 200): 10 points asked, 5 available, 100 restored a second.
fn throttled() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 5.0, "restoreRate": 100.0}}}}))
}

fn variant(n: u32, qty: i64) -> Value {
    json!({"id": format!("gid://shopify/ProductVariant/{n}"), "sku": format!("MUG-{n}"), "price": "99.90",
        "product": {"id": format!("gid://shopify/Product/{n}")},
        "inventoryItem": {"id": format!("gid://shopify/InventoryItem/{n}"), "tracked": true,
            "inventoryLevel": {"quantities": [{"name": "available", "quantity": qty}]}}})
}

#[tokio::test]
async fn lookup_then_variant_pages_with_the_token_header() {
    let server = MockServer::start().await;
    shop(&server).await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(header("x-shopify-access-token", "shpat_secret"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"query": documents::VARIANTS,
            "variables": {"first": 100, "after": null, "location": "gid://shopify/Location/1"}})))
        .respond_with(ok(json!({"productVariants": {"pageInfo": {"hasNextPage": true, "endCursor": "c1"},
            "nodes": [variant(1, 4)]}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({"query": documents::VARIANTS,
            "variables": {"first": 100, "after": "c1", "location": "gid://shopify/Location/1"}})))
        .respond_with(ok(json!({"productVariants": {"pageInfo": {"hasNextPage": false, "endCursor": "c2"},
            "nodes": [variant(2, 0)]}})))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let all = t.all_listings().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id.as_str(), "gid://shopify/InventoryItem/1");
    assert_eq!(all[0].quantity(), Some(4));
    assert_eq!(all[0].price, Some(Money::new(Decimal::new(9990, 2), Currency::ZAR)));
    assert_eq!(all[0].ids["product_id"], "gid://shopify/Product/1");
    assert_eq!(all[0].ids["variant_id"], "gid://shopify/ProductVariant/1");
    assert_eq!(all[0].ids["location_id"], "gid://shopify/Location/1");
    assert!(!format!("{t:?}").contains("shpat_secret"));
}

#[tokio::test]
async fn set_quantities_with_change_from_and_one_key_kept_across_a_retry() {
    let server = MockServer::start().await;
    shop(&server).await;
    let payload = json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "g", "changes": [
        {"name": "available", "delta": 1, "quantityAfterChange": 5, "item": {"id": "gid://shopify/InventoryItem/1"}},
        {"name": "available", "delta": 1, "quantityAfterChange": 7, "item": {"id": "gid://shopify/InventoryItem/2"}}
    ]}, "userErrors": []}});
    // The first attempt times out; the transport resends.
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::SET_QUANTITIES))
        .respond_with(ok(payload.clone()).set_delay(Duration::from_millis(1500)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::SET_QUANTITIES))
        .respond_with(ok(payload))
        .mount(&server)
        .await;
    let t = adapter(&server);
    let out = t
        .set_stock(&[
            StockUpdate::new("gid://shopify/InventoryItem/1", "A", 5).expecting(4),
            StockUpdate::new("2", "B", 7),
        ])
        .await
        .unwrap();
    assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(5) });
    assert_eq!(out[1].outcome, Outcome::Applied { quantity: Some(7) });
    let sent = sent(&server, documents::SET_QUANTITIES).await;
    assert_eq!(sent.len(), 2, "sent, timed out, resent");
    assert_eq!(sent[0], sent[1], "the resend is byte-for-byte the same call, idempotency key included");
    let vars = &sent[0]["variables"];
    assert_eq!(
        vars["input"],
        json!({"name": "available", "reason": "correction", "quantities": [
            {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/1", "quantity": 5, "changeFromQuantity": 4},
            {"inventoryItemId": "gid://shopify/InventoryItem/2", "locationId": "gid://shopify/Location/1", "quantity": 7, "changeFromQuantity": null}
        ]})
    );
    assert!(uuid::Uuid::parse_str(vars["key"].as_str().unwrap()).is_ok(), "{vars}");
    assert!(documents::SET_QUANTITIES.contains("@idempotent(key: $key)"));
}

#[tokio::test]
async fn throttled_answers_are_waited_out_and_resent() {
    let server = MockServer::start().await;
    shop(&server).await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::SET_QUANTITIES))
        .respond_with(throttled())
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::SET_QUANTITIES))
        .respond_with(ok(json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "g", "changes": []}, "userErrors": []}})))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let out = t.set_stock(&[StockUpdate::new("9", "Z", 1)]).await.unwrap();
    assert!(out[0].is_applied());
    let s = t.throttle_status().unwrap();
    assert_eq!((s.maximum_available, s.restore_rate), (2000.0, 100.0));
}

#[tokio::test]
async fn prices_are_one_aliased_mutation_per_call() {
    let server = MockServer::start().await;
    shop(&server).await;
    let doc = documents::prices(2);
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({"query": doc, "variables": {
            "p0": "gid://shopify/Product/1", "v0": [
                {"id": "gid://shopify/ProductVariant/1", "price": "10.50", "compareAtPrice": "12.00"},
                {"id": "gid://shopify/ProductVariant/3", "price": "11.00"}],
            "p1": "gid://shopify/Product/2", "v1": [{"id": "gid://shopify/ProductVariant/2", "price": "9.99"}]
        }})))
        .respond_with(ok(json!({
            "p0": {"productVariants": [], "userErrors": [{"code": "INVALID", "field": ["variants", "1", "price"], "message": "bad"}]},
            "p1": {"productVariants": [], "userErrors": []}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let zar = |s: &str| Money::new(s.parse().unwrap(), Currency::ZAR);
    let ids = |p: u32, v: u32| {
        [
            ("product_id".to_owned(), format!("gid://shopify/Product/{p}")),
            ("variant_id".to_owned(), format!("gid://shopify/ProductVariant/{v}")),
        ]
        .into_iter()
        .collect()
    };
    let out = t
        .set_prices(&[
            PriceUpdate::new("a", "A", zar("10.5")).with_list_price(zar("12")).with_ids(ids(1, 1)),
            PriceUpdate::new("b", "B", zar("9.99")).with_ids(ids(2, 2)),
            PriceUpdate::new("c", "C", zar("11")).with_ids(ids(1, 3)),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&out[0].outcome, Outcome::Rejected { retryable: true, .. }),
        "held back by its product: {:?}",
        out[0]
    );
    assert!(out[1].is_applied());
    assert!(matches!(&out[2].outcome, Outcome::Rejected { retryable: false, .. }));
}

#[tokio::test]
async fn orders_are_searched_by_update_time() {
    let server = MockServer::start().await;
    shop(&server).await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({"query": documents::ORDERS,
            "variables": {"first": 10, "after": null, "query": "updated_at:>='2026-01-02T03:04:05Z'"}})))
        .respond_with(ok(json!({"orders": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [{
            "id": "gid://shopify/Order/55", "legacyResourceId": "55", "createdAt": "2026-01-02T03:00:00Z",
            "updatedAt": "2026-01-03T00:00:00Z", "cancelledAt": null, "displayFinancialStatus": "PAID",
            "displayFulfillmentStatus": "UNFULFILLED",
            "lineItems": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [
                {"id": "gid://shopify/LineItem/9", "sku": "MUG-1", "quantity": 3, "currentQuantity": 2,
                 "originalUnitPriceSet": {"shopMoney": {"amount": "10.00", "currencyCode": "ZAR"}}}]}
        }]}})))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let since: jiff::Timestamp = "2026-01-02T03:04:05.678Z".parse().unwrap();
    let pages: Vec<_> = t.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let o = &pages[0].orders[0];
    assert_eq!((o.id.as_str(), o.status), ("55", channel_core::OrderStatus::Open));
    assert_eq!((o.lines[0].line_id.as_str(), o.lines[0].quantity, o.lines[0].refunded_quantity), ("9", 3, 1));
    assert_eq!(pages[0].next.since.to_string(), "2026-01-03T00:00:00Z");
}

#[tokio::test]
async fn a_stale_item_without_a_stated_quantity_is_read_back_and_the_rest_resubmitted() {
    let server = MockServer::start().await;
    shop(&server).await;
    let refused = json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": null, "userErrors": [
        {"code": "CHANGE_FROM_QUANTITY_STALE", "field": ["input", "quantities", "0", "changeFromQuantity"], "message": "The quantity is stale."}
    ]}});
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::SET_QUANTITIES))
        .respond_with(ok(refused))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::SET_QUANTITIES))
        .respond_with(ok(json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "g", "changes": [
            {"name": "available", "delta": 1, "quantityAfterChange": 3, "item": {"id": "gid://shopify/InventoryItem/2"}}]},
            "userErrors": []}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({"query": documents::available(1),
            "variables": {"location": "gid://shopify/Location/1", "i0": "gid://shopify/InventoryItem/1"}})))
        .respond_with(ok(json!({"i0": {"id": "gid://shopify/InventoryItem/1",
            "inventoryLevel": {"quantities": [{"name": "available", "quantity": 8}]}}})))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let out = t
        .set_stock(&[StockUpdate::new("1", "A", 5).expecting(4), StockUpdate::new("2", "B", 3).expecting(2)])
        .await
        .unwrap();
    assert_eq!(out[0].outcome, Outcome::Stale { actual: Some(8) });
    assert_eq!(out[1].outcome, Outcome::Applied { quantity: Some(3) });
    let bodies = sent(&server, documents::SET_QUANTITIES).await;
    assert_eq!(bodies[1]["variables"]["input"]["quantities"].as_array().unwrap().len(), 1, "only the fresh item again");
    assert_ne!(bodies[0]["variables"]["key"], bodies[1]["variables"]["key"], "a different call, a different key");
}

#[tokio::test]
async fn keyed_adjustments_are_aliased_mutations_under_deterministic_keys() {
    let server = MockServer::start().await;
    shop_lookup().expect(2).mount(&server).await;
    let group = |item: u32, delta: i64, after: i64| {
        json!({"inventoryAdjustmentGroup": {"id": "g", "changes": [{"name": "available", "delta": delta,
            "quantityAfterChange": after, "item": {"id": format!("gid://shopify/InventoryItem/{item}")}}]},
            "userErrors": []})
    };
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(&documents::keyed_adjustments(2)))
        .respond_with(ok(json!({
            "a0": group(1, -2, 8),
            "a1": {"inventoryAdjustmentGroup": null, "userErrors": [{"code": "ITEM_NOT_STOCKED_AT_LOCATION",
                "field": ["input", "changes", "0", "inventoryItemId"], "message": "The item is not stocked at the location."}]}
        })))
        .expect(2)
        .mount(&server)
        .await;
    let batch = [
        StockAdjustment::new("gid://shopify/InventoryItem/1", "A", -2).with_idempotency_key("outbox/shop/17"),
        StockAdjustment::new("2", "B", 3).with_idempotency_key("outbox/shop/18"),
    ];
    // Two adapter instances (a restart in between) send the same adjustments.
    for _ in 0..2 {
        let out = adapter(&server).adjust_stock(&batch).await.unwrap();
        assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(8) });
        assert!(
            matches!(&out[1].outcome, Outcome::Rejected { reason, retryable: false } if reason.contains("ITEM_NOT_STOCKED")),
            "{out:?}"
        );
    }
    let sent = sent(&server, &documents::keyed_adjustments(2)).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the same keyed adjustments make the same request, keys included");
    let vars = &sent[0]["variables"];
    assert_eq!(
        vars["a0"],
        json!({"name": "available", "reason": "correction", "changes": [
            {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/1", "delta": -2, "changeFromQuantity": null}
        ]})
    );
    assert_eq!(vars["a1"]["changes"][0]["inventoryItemId"], "gid://shopify/InventoryItem/2");
    let (k0, k1) = (vars["k0"].as_str().unwrap(), vars["k1"].as_str().unwrap());
    assert_eq!(k0, adjustment_key("outbox/shop/17", "gid://shopify/InventoryItem/1", "gid://shopify/Location/1", -2));
    assert_ne!(k0, k1);
    assert_eq!(k0.len(), 36, "UUID-shaped: {k0}");
    assert!(uuid::Uuid::parse_str(k0).is_ok(), "{k0}");
    // The key names one adjustment: another delta or item under the same caller key is another Shopify key.
    assert_ne!(k0, adjustment_key("outbox/shop/17", "gid://shopify/InventoryItem/1", "gid://shopify/Location/1", -3));
    assert_ne!(k0, adjustment_key("outbox/shop/17", "gid://shopify/InventoryItem/9", "gid://shopify/Location/1", -2));
    assert!(
        documents::keyed_adjustments(2).contains("a1: inventoryAdjustQuantities(input: $a1) @idempotent(key: $k1)")
    );
}

#[tokio::test]
async fn unkeyed_adjustments_share_one_mutation_under_a_fresh_key() {
    let server = MockServer::start().await;
    shop(&server).await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::ADJUST_QUANTITIES))
        .respond_with(ok(json!({"inventoryAdjustQuantities": {"inventoryAdjustmentGroup": {"id": "g", "changes": [
            {"name": "available", "delta": 1, "quantityAfterChange": 4, "item": {"id": "gid://shopify/InventoryItem/1"}}
        ]}, "userErrors": []}})))
        .expect(2)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let one = [StockAdjustment::new("1", "A", 1)];
    assert_eq!(t.adjust_stock(&one).await.unwrap()[0].outcome, Outcome::Applied { quantity: Some(4) });
    assert!(t.adjust_stock(&one).await.unwrap()[0].is_applied());
    let keys: Vec<String> = sent(&server, documents::ADJUST_QUANTITIES)
        .await
        .iter()
        .map(|b| b["variables"]["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1], "no caller key: every call is a new change");
}

/// An inventory item as `nodes(ids:)` answers it, with its variant.
fn item_node(n: u32, qty: i64) -> Value {
    json!({"id": format!("gid://shopify/InventoryItem/{n}"), "tracked": true,
        "inventoryLevel": {"quantities": [{"name": "available", "quantity": qty}]},
        "variant": {"id": format!("gid://shopify/ProductVariant/{n}"), "sku": format!("MUG-{n}"), "price": "99.90",
            "product": {"id": format!("gid://shopify/Product/{n}")}}})
}

#[tokio::test]
async fn listings_by_id_are_one_nodes_read_per_250_ids() {
    let server = MockServer::start().await;
    shop(&server).await;
    // 251 ids: a first call with 250, a second with the last one. Item 2 is unknown (null).
    let ids: Vec<channel_core::ListingId> =
        (1..=251).map(|n| channel_core::ListingId::from(format!("gid://shopify/InventoryItem/{n}"))).collect();
    let first: Vec<String> = (1..=250).map(|n| format!("gid://shopify/InventoryItem/{n}")).collect();
    let answer: Vec<Value> = (1..=250).map(|n| if n == 2 { Value::Null } else { item_node(n, 3) }).collect();
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({"query": documents::INVENTORY_ITEMS,
            "variables": {"ids": first, "location": "gid://shopify/Location/1"}})))
        .respond_with(ok(json!({"nodes": answer})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({"query": documents::INVENTORY_ITEMS,
            "variables": {"ids": ["gid://shopify/InventoryItem/251"], "location": "gid://shopify/Location/1"}})))
        .respond_with(ok(json!({"nodes": [item_node(251, 7)]})))
        .expect(1)
        .mount(&server)
        .await;
    let t = adapter(&server);
    let got = t.get_listings(&ids).await.unwrap();
    assert_eq!(got.len(), 250, "the unknown id is left out");
    let last = got.iter().find(|l| l.channel_sku == "MUG-251").unwrap();
    assert_eq!(last.id.as_str(), "gid://shopify/InventoryItem/251");
    assert_eq!(last.quantity(), Some(7));
    assert_eq!(last.ids.get("variant_id").map(String::as_str), Some("gid://shopify/ProductVariant/251"));
    assert_eq!(last.ids.get("product_id").map(String::as_str), Some("gid://shopify/Product/251"));
    assert!(!got.iter().any(|l| l.channel_sku == "MUG-2"));
    assert!(t.get_listings(&[]).await.unwrap().is_empty(), "no ids, no call");
    let not_items =
        [channel_core::ListingId::from("MUG-1"), channel_core::ListingId::from("gid://shopify/ProductVariant/1")];
    assert!(t.get_listings(&not_items).await.unwrap().is_empty(), "ids no inventory item can have: no call");
}

#[tokio::test]
async fn max_throttle_retries_bounds_the_throttled_attempts() {
    let server = MockServer::start().await;
    shop(&server).await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::SET_QUANTITIES))
        .respond_with(throttled())
        .expect(3)
        .mount(&server)
        .await;
    // The configuration key still works (and the transport keys sit beside it, flattened).
    let config: ShopifyConfig = serde_json::from_value(json!({
        "shop_domain": "mugs.myshopify.com", "access_token": "shpat_secret",
        "base_url": server.uri(), "timeout_secs": 1, "max_throttle_retries": 2
    }))
    .unwrap();
    let t = Shopify::new(config).unwrap();
    let err = t.set_stock(&[StockUpdate::new("9", "Z", 1)]).await.unwrap_err();
    assert_eq!(err.kind(), channel_core::ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_millis(50)), "the wait the restore rate needs");
}

/// shopify.dev "Shopify API response status and error codes": 402 Payment Required ("The requested shop is
/// currently frozen …") and 423 Locked (a locked shop, changelog of 2018-08-30). Neither is a bad request:
/// the shop's owner must act, so the kind is `Auth` (the engine holds the store, does not dead-letter),
/// not retryable, and each is asked once.
#[tokio::test]
async fn frozen_and_locked_shops_need_the_owner_not_a_retry() {
    for status in [402_u16, 423] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(GQL))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"errors": "Unavailable Shop"})))
            .expect(1)
            .mount(&server)
            .await;
        let e = adapter(&server).test_connection().await.unwrap_err();
        assert_eq!(e.kind(), channel_core::ErrorKind::Auth, "{status}: {e}");
        assert!(!e.is_retryable(), "{status}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
    }
}

/// The connection test asks for the granted scopes with the documented selection
/// (`QueryRoot.currentAppInstallation` → `AppInstallation.accessScopes` → `AccessScope.handle`, written
/// here by hand) and reports a missing `read_all_orders` as a 60-day orders window.
#[tokio::test]
async fn connection_test_reads_the_access_scopes() {
    let server = MockServer::start().await;
    shop(&server).await;
    let handles = ["read_products", "write_inventory", "read_orders", "write_merchant_managed_fulfillment_orders"];
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({
            "query": "query StocksyncScopes { currentAppInstallation { accessScopes { handle } } }",
            "variables": {}
        })))
        .respond_with(ok(json!({"currentAppInstallation": {
            "accessScopes": handles.iter().map(|h| json!({"handle": h})).collect::<Vec<_>>()
        }})))
        .expect(1)
        .mount(&server)
        .await;
    let id = adapter(&server).test_connection().await.unwrap();
    assert_eq!(id.details["read_all_orders"], "missing", "{id:?}");
    assert_eq!(id.details["orders_window"], "60 days");
    assert_eq!(id.details["missing_scopes"], "write_products", "price sync needs write_products");
}
