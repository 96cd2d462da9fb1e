//! Request-level tests (wiremock) of what the adapter does with Shopify's user error codes and with
//! fulfillment orders, written from the Admin GraphQL reference (2026-07):
//! - `InventorySetQuantitiesUserErrorCode` / `InventoryAdjustQuantitiesUserErrorCode`:
//!   `IDEMPOTENCY_CONCURRENT_REQUEST` "This request is currently in progress, please try again",
//!   `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED` "A previous request with this idempotency key failed. Retry with
//!   a new idempotency key", `ADJUST_QUANTITIES_FAILED` "The quantities couldn't be adjusted. Try again";
//!   `UserError.field` "The path to the input field that caused the error".
//! - `fulfillmentCreate`: "The fulfillment orders are associated with the same Order and are assigned to
//!   the same Location"; `FulfillmentOrder.supportedActions`, `FulfillmentOrderAction.CREATE_FULFILLMENT`
//!   ("The corresponding mutation for this action is fulfillmentCreate"); `FulfillmentTrackingInput`
//!   ("Send the tracking company name exactly as written in the list").

mod support;

use std::time::Duration;

use channel_core::{Channel, ErrorKind, Outcome, Shipment, StockAdjustment, StockUpdate, Tracking};
use channel_shopify::{Shopify, adjustment_key, documents};
use serde_json::{Value, json};
use support::{GQL, doc, ok, sent, shop_lookup};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

/// No answer here is delayed: a roomy timeout keeps a busy machine from resending and doubling the bodies.
fn adapter(server: &MockServer) -> Shopify {
    support::adapter_with_timeout(server, Duration::from_secs(5))
}

/// Answers the first request with document `query` with `first`, and every later one with `then`.
async fn answer_once_then(server: &MockServer, query: &str, first: Value, then: Value) {
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(query))
        .respond_with(ok(first))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST")).and(path(GQL)).and(doc(query)).respond_with(ok(then)).mount(server).await;
}

fn changes(items: &[(u32, i64)]) -> Value {
    json!(
        items
            .iter()
            .map(|(n, after)| json!({"name": "available", "delta": 1, "quantityAfterChange": after,
                "item": {"id": format!("gid://shopify/InventoryItem/{n}")}}))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn a_concurrent_request_is_sent_again_under_the_same_key() {
    let server = MockServer::start().await;
    shop_lookup().mount(&server).await;
    answer_once_then(
        &server,
        documents::SET_QUANTITIES,
        json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": null, "userErrors": [
            {"code": "IDEMPOTENCY_CONCURRENT_REQUEST", "field": null,
             "message": "This request is currently in progress, please try again."}]}}),
        json!({"inventorySetQuantities": {
            "inventoryAdjustmentGroup": {"id": "g", "changes": changes(&[(1, 5), (2, 7)])}, "userErrors": []}}),
    )
    .await;
    let updates = [StockUpdate::new("1", "A", 5).expecting(4), StockUpdate::new("2", "B", 7)];
    let out = adapter(&server).set_stock(&updates).await.unwrap();
    assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(5) }, "{out:?}");
    assert_eq!(out[1].outcome, Outcome::Applied { quantity: Some(7) }, "{out:?}");
    let bodies = sent(&server, documents::SET_QUANTITIES).await;
    assert_eq!(bodies.len(), 2, "sent once more");
    assert_eq!(bodies[0], bodies[1], "the same request, its key included");
    assert_eq!(
        bodies[0]["variables"]["input"],
        json!({"name": "available", "reason": "correction", "quantities": [
            {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/1", "quantity": 5, "changeFromQuantity": 4},
            {"inventoryItemId": "gid://shopify/InventoryItem/2", "locationId": "gid://shopify/Location/1", "quantity": 7, "changeFromQuantity": null}
        ]})
    );
}

#[tokio::test]
async fn a_previous_attempt_failed_is_sent_again_under_a_new_key() {
    let server = MockServer::start().await;
    shop_lookup().mount(&server).await;
    let keyed = documents::keyed_adjustments(1);
    answer_once_then(
        &server,
        &keyed,
        json!({"a0": {"inventoryAdjustmentGroup": null, "userErrors": [
            {"code": "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED", "field": null,
             "message": "A previous request with this idempotency key failed. Retry with a new idempotency key."}]}}),
        json!({"a0": {"inventoryAdjustmentGroup": {"id": "g", "changes": changes(&[(1, 9)])},
            "userErrors": []}}),
    )
    .await;
    let batch = [StockAdjustment::new("1", "A", 1).with_idempotency_key("outbox/shop/17")];
    let out = adapter(&server).adjust_stock(&batch).await.unwrap();
    assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(9) }, "{out:?}");
    let bodies = sent(&server, &keyed).await;
    assert_eq!(bodies.len(), 2, "sent once more");
    let first = bodies[0]["variables"]["k0"].as_str().unwrap();
    let second = bodies[1]["variables"]["k0"].as_str().unwrap();
    assert_eq!(first, adjustment_key("outbox/shop/17", "gid://shopify/InventoryItem/1", "gid://shopify/Location/1", 1));
    assert_ne!(first, second, "Shopify asks for a new idempotency key");
    assert!(uuid::Uuid::parse_str(second).is_ok(), "{second}");
    assert_eq!(bodies[0]["variables"]["a0"], bodies[1]["variables"]["a0"], "the same adjustment");

    // The new key is derived, not random: the same adjustment sent again walks the same keys.
    let again = MockServer::start().await;
    shop_lookup().mount(&again).await;
    answer_once_then(
        &again,
        &keyed,
        json!({"a0": {"inventoryAdjustmentGroup": null, "userErrors": [
            {"code": "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED", "field": null, "message": "failed"}]}}),
        json!({"a0": {"inventoryAdjustmentGroup": {"id": "g", "changes": changes(&[(1, 9)])},
            "userErrors": []}}),
    )
    .await;
    adapter(&again).adjust_stock(&batch).await.unwrap();
    let replayed = sent(&again, &keyed).await;
    assert_eq!(replayed[1]["variables"]["k0"], json!(second));
}

#[tokio::test]
async fn a_permanent_code_fails_only_the_items_its_field_names() {
    let server = MockServer::start().await;
    shop_lookup().mount(&server).await;
    // Item 0 is not stocked at the location (for good); the adjustment as a whole failed ("Try again").
    answer_once_then(
        &server,
        documents::ADJUST_QUANTITIES,
        json!({"inventoryAdjustQuantities": {"inventoryAdjustmentGroup": null, "userErrors": [
            {"code": "ITEM_NOT_STOCKED_AT_LOCATION", "field": ["input", "changes", "0", "locationId"],
             "message": "The inventory item is not stocked at the location."},
            {"code": "ADJUST_QUANTITIES_FAILED", "field": ["input", "changes", "2", "delta"],
             "message": "The quantities couldn't be adjusted. Try again."}]}}),
        json!({"inventoryAdjustQuantities": {
            "inventoryAdjustmentGroup": {"id": "g", "changes": changes(&[(2, 3), (3, 4)])}, "userErrors": []}}),
    )
    .await;
    let batch =
        [StockAdjustment::new("1", "A", 1), StockAdjustment::new("2", "B", 1), StockAdjustment::new("3", "C", 1)];
    let out = adapter(&server).adjust_stock(&batch).await.unwrap();
    assert!(
        matches!(&out[0].outcome, Outcome::Rejected { reason, retryable: false } if reason.contains("ITEM_NOT_STOCKED_AT_LOCATION")),
        "{out:?}"
    );
    assert_eq!(out[1].outcome, Outcome::Applied { quantity: Some(3) }, "{out:?}");
    assert_eq!(out[2].outcome, Outcome::Applied { quantity: Some(4) }, "{out:?}");
    let bodies = sent(&server, documents::ADJUST_QUANTITIES).await;
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[1]["variables"]["input"]["changes"],
        json!([
            {"inventoryItemId": "gid://shopify/InventoryItem/2", "locationId": "gid://shopify/Location/1", "delta": 1, "changeFromQuantity": null},
            {"inventoryItemId": "gid://shopify/InventoryItem/3", "locationId": "gid://shopify/Location/1", "delta": 1, "changeFromQuantity": null}
        ])
    );
    assert_ne!(bodies[0]["variables"]["key"], bodies[1]["variables"]["key"], "another request, another key");
}

fn fulfillment_order(n: u32, status: &str, actions: &[&str], location: u32, line: u32) -> Value {
    json!({
        "id": format!("gid://shopify/FulfillmentOrder/{n}"),
        "status": status,
        "supportedActions": actions.iter().map(|a| json!({"action": a})).collect::<Vec<_>>(),
        "assignedLocation": {"location": {"id": format!("gid://shopify/Location/{location}")}},
        "lineItems": {"nodes": [{"id": format!("gid://shopify/FulfillmentOrderLineItem/{n}"),
            "remainingQuantity": 1, "lineItem": {"id": format!("gid://shopify/LineItem/{line}")}}]}
    })
}

#[tokio::test]
async fn fulfilment_goes_out_once_per_location_and_reports_what_cannot_be_fulfilled() {
    let server = MockServer::start().await;
    shop_lookup().mount(&server).await;
    let create = ["CREATE_FULFILLMENT", "HOLD", "MOVE"];
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::FULFILLMENT_ORDERS))
        .respond_with(ok(json!({"order": {"fulfillmentOrders": {
        "pageInfo": {"hasNextPage": false, "endCursor": "c"},
        "nodes": [
            fulfillment_order(1, "OPEN", &create, 1, 11),
            fulfillment_order(2, "OPEN", &create, 2, 12),
            fulfillment_order(3, "IN_PROGRESS", &create, 1, 13),
            fulfillment_order(4, "ON_HOLD", &["RELEASE_HOLD"], 1, 14),
            fulfillment_order(5, "OPEN", &["REQUEST_FULFILLMENT", "HOLD"], 3, 15),
            fulfillment_order(6, "CLOSED", &[], 1, 16),
        ]}}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(doc(documents::FULFILLMENT_CREATE))
        .respond_with(ok(json!({"fulfillmentCreate": {
            "fulfillment": {"id": "gid://shopify/Fulfillment/1", "status": "SUCCESS"}, "userErrors": []}})))
        .expect(2)
        .mount(&server)
        .await;
    let shipment =
        Shipment::whole_order("12", Tracking::new("dhl  express", "JD014600006281230704"), jiff::Timestamp::now());
    let err = adapter(&server).export_tracking(&shipment).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let text = err.to_string();
    for fo in ["FulfillmentOrder/4", "FulfillmentOrder/5"] {
        assert!(text.contains(fo), "{fo} is reported: {text}");
    }
    assert!(!text.contains("FulfillmentOrder/6 ("), "a closed one has nothing to ship: {text}");
    let bodies = sent(&server, documents::FULFILLMENT_CREATE).await;
    let tracking = json!({"number": "JD014600006281230704", "company": "DHL Express"});
    assert_eq!(
        bodies[0]["variables"]["fulfillment"],
        json!({"lineItemsByFulfillmentOrder": [
            {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/1"},
            {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/3"}
        ], "trackingInfo": tracking, "notifyCustomer": true})
    );
    assert_eq!(
        bodies[1]["variables"]["fulfillment"],
        json!({"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/2"}],
            "trackingInfo": tracking, "notifyCustomer": true})
    );
    let read = sent(&server, documents::FULFILLMENT_ORDERS).await;
    assert_eq!(read[0]["variables"]["id"], "gid://shopify/Order/12");
}
