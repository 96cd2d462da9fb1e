//! Request-level tests pinned to Adobe's OpenAPI of the 2.4.9 admin REST API
//! (`../shared/fixtures/magento/admin-schema-2.4.9.yaml`): method, path (with the store code), the
//! `searchCriteria` query, the bearer token, and the JSON bodies.
#![cfg(feature = "magento")]

use channel_core::{
    Channel, ChannelExt, Currency, Money, OrderCursor, OrderStatus, PriceUpdate, Shipment, StockUpdate, Tracking,
};
use channel_marketplaces::magento::{Magento, MagentoConfig};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SC: &str = "searchCriteria";

fn channel(server: &MockServer) -> Magento {
    Magento::new(MagentoConfig::new(server.uri(), "tok-123").currency("USD").max_attempts(1)).unwrap()
}

fn results(items: serde_json::Value, total: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"items": items, "search_criteria": {}, "total_count": total}))
}

async fn no_open_orders(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/rest/all/V1/orders"))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][field]"), "state"))
        .and(query_param(
            format!("{SC}[filterGroups][0][filters][0][value]"),
            "new,pending_payment,processing,holded,payment_review",
        ))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][conditionType]"), "in"))
        .and(header("authorization", "Bearer tok-123"))
        .respond_with(results(json!([]), 0))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_connection_test_reads_store_configs() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/all/V1/store/storeConfigs"))
        .and(header("authorization", "Bearer tok-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "code": "default", "base_currency_code": "EUR", "base_url": "https://shop.example/"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let id = channel(&server).test_connection().await.unwrap();
    assert_eq!(id.account_id, "https://shop.example");
    assert_eq!(id.details.get("source_code").map(String::as_str), Some("default"));
}

#[tokio::test]
async fn listings_read_products_then_their_source_items() {
    let server = MockServer::start().await;
    no_open_orders(&server).await;
    Mock::given(method("GET"))
        .and(path("/rest/all/V1/products"))
        .and(query_param(format!("{SC}[sortOrders][0][field]"), "entity_id"))
        .and(query_param(format!("{SC}[sortOrders][0][direction]"), "ASC"))
        .and(query_param(format!("{SC}[pageSize]"), "300"))
        .and(query_param(format!("{SC}[currentPage]"), "1"))
        .respond_with(results(
            json!([
                {"id": 1, "sku": "A", "price": 9.5, "status": 1, "type_id": "simple"},
                {"id": 2, "sku": "CONF", "status": 1, "type_id": "configurable"},
                {"id": 3, "sku": "B", "price": 2, "status": 2, "type_id": "virtual"}
            ]),
            3,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/all/V1/inventory/source-items"))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][field]"), "sku"))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][value]"), "A,B"))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][conditionType]"), "in"))
        .and(query_param(format!("{SC}[filterGroups][1][filters][0][field]"), "source_code"))
        .and(query_param(format!("{SC}[filterGroups][1][filters][0][value]"), "default"))
        .and(query_param(format!("{SC}[filterGroups][1][filters][0][conditionType]"), "eq"))
        .respond_with(results(json!([{"sku": "A", "source_code": "default", "quantity": 4.0, "status": 1}]), 1))
        .expect(1)
        .mount(&server)
        .await;
    let listings = channel(&server).all_listings().await.unwrap();
    assert_eq!(listings.len(), 2, "configurable parents hold no stock");
    assert_eq!(listings[0].quantity(), Some(4));
    assert_eq!(listings[0].price.as_ref().map(|p| p.amount), Some(Decimal::new(95, 1)));
    assert_eq!(listings[1].quantity(), None, "no source item at this source");
}

#[tokio::test]
async fn stock_is_saved_as_source_items() {
    let server = MockServer::start().await;
    no_open_orders(&server).await;
    Mock::given(method("POST"))
        .and(path("/rest/all/V1/inventory/source-items"))
        .and(header("authorization", "Bearer tok-123"))
        .and(body_json(json!({"sourceItems": [
            {"sku": "A", "source_code": "default", "quantity": 5.0, "status": 1},
            {"sku": "B", "source_code": "default", "quantity": 0.0, "status": 0}
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(null)))
        .expect(1)
        .mount(&server)
        .await;
    let outcomes =
        channel(&server).set_stock(&[StockUpdate::new("A", "A", 5), StockUpdate::new("B", "B", 0)]).await.unwrap();
    assert!(outcomes.iter().all(|o| o.is_applied()));
}

#[tokio::test]
async fn prices_go_to_base_prices() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/all/V1/products/base-prices"))
        .and(body_json(json!({"prices": [{"sku": "A", "price": 12.5, "store_id": 0}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let usd = Currency::new("USD").unwrap();
    let outcomes = channel(&server)
        .set_prices(&[PriceUpdate::new("A", "A", Money::new(Decimal::new(125, 1), usd))])
        .await
        .unwrap();
    assert!(outcomes[0].is_applied());
}

#[tokio::test]
async fn orders_are_searched_by_updated_at_and_stop_on_the_count() {
    let server = MockServer::start().await;
    let order = json!({"entity_id": 42, "state": "processing", "status": "processing",
        "created_at": "2026-12-01 09:00:00", "updated_at": "2026-12-01 10:00:00", "order_currency_code": "USD",
        "items": [{"item_id": 7, "sku": "A", "qty_ordered": 2, "qty_refunded": 0, "price": 3, "product_type": "simple"}]});
    Mock::given(method("GET"))
        .and(path("/rest/all/V1/orders"))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][field]"), "updated_at"))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][value]"), "2026-12-01 08:00:00"))
        .and(query_param(format!("{SC}[filterGroups][0][filters][0][conditionType]"), "gteq"))
        .and(query_param(format!("{SC}[sortOrders][0][field]"), "updated_at"))
        .and(query_param(format!("{SC}[sortOrders][0][direction]"), "ASC"))
        .and(query_param(format!("{SC}[currentPage]"), "1"))
        // total_count 1: the adapter must not ask for page 2 (which would repeat this page).
        .respond_with(results(json!([order]), 1))
        .expect(1)
        .mount(&server)
        .await;
    let since: jiff::Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
    let cursor = OrderCursor::new(since);
    let pages: Vec<_> = channel(&server).orders_since(&cursor).try_collect().await.unwrap();
    let o = &pages[0].orders[0];
    assert_eq!((o.id.as_str(), o.status, o.lines[0].line_id.as_str()), ("42", OrderStatus::Open, "7"));
    assert_eq!(pages.last().unwrap().next.since, "2026-12-01T10:00:00Z".parse().unwrap());
}

#[tokio::test]
async fn tracking_creates_a_shipment_with_a_track() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/all/V1/order/42/ship"))
        .and(body_json(json!({"items": [{"order_item_id": 7, "qty": 2.0}], "notify": true, "appendComment": false,
            "tracks": [{"track_number": "1Z9", "title": "DHL", "carrier_code": "dhl"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(15)))
        .expect(1)
        .mount(&server)
        .await;
    let mut shipment = Shipment::whole_order("42", Tracking::new("DHL", "1Z9"), jiff::Timestamp::now());
    shipment.lines = vec![("7".into(), 2)];
    channel(&server).export_tracking(&shipment).await.unwrap();
}

#[tokio::test]
async fn a_401_is_an_auth_error_without_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "The consumer isn't authorized to access %resources.",
            "parameters": {"resources": "Magento_Backend::store"}
        })))
        .mount(&server)
        .await;
    let err = channel(&server).test_connection().await.unwrap_err();
    assert_eq!(err.kind(), channel_core::ErrorKind::Auth);
    assert!(!err.to_string().contains("tok-123"));
}
