//! Request-level tests: the exact requests the eBay adapter sends, against `wiremock`, pinned to the
//! OpenAPI descriptions in `../shared/fixtures/ebay/` and eBay's OAuth guide (sources in
//! `docs/fidelity.md`, "eBay").
#![cfg(feature = "ebay")]

use std::time::Duration;

use channel_core::http::RetryPolicy;
use channel_core::jiff::Timestamp;
use channel_core::{
    Channel, ChannelExt, Currency, ErrorKind, Money, OrderCursor, PriceUpdate, Shipment, StockUpdate, Tracking,
};
use channel_marketplaces::ebay::{Ebay, EbayConfig};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde_json::json;
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BEARER: &str = "Bearer v^1.1#i^1#access";

fn channel(server: &MockServer, f: impl FnOnce(EbayConfig) -> EbayConfig) -> Ebay {
    let config = EbayConfig::new("App-PRD-id", "PRD-secret", "v^1.1#r^1#refresh").base_url(server.uri());
    let retry = RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5));
    Ebay::builder(f(config)).retry(retry).build().unwrap()
}

async fn token(server: &MockServer, expect: u64) {
    // base64("App-PRD-id:PRD-secret")
    Mock::given(method("POST"))
        .and(path("/identity/v1/oauth2/token"))
        .and(header("authorization", "Basic QXBwLVBSRC1pZDpQUkQtc2VjcmV0"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=v%5E1.1%23r%5E1%23refresh"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.inventory+https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.fulfillment",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "v^1.1#i^1#access", "expires_in": 7200, "token_type": "User Access Token"}),
        ))
        .expect(expect)
        .mount(server)
        .await;
}

#[tokio::test]
async fn identity_is_get_user_on_the_identity_host() {
    let api = MockServer::start().await;
    let identity = MockServer::start().await;
    token(&api, 1).await;
    Mock::given(method("GET"))
        .and(path("/commerce/identity/v1/user/"))
        .and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "userId": "abc123", "username": "seller_1", "accountType": "BUSINESS", "registrationMarketplaceId": "EBAY_GB"
        })))
        .expect(1)
        .mount(&identity)
        .await;
    let ebay = channel(&api, |c| c.identity_url(identity.uri()));
    let id = ebay.test_connection().await.unwrap();
    assert_eq!(id.account_id, "abc123");
    assert_eq!(id.display_name.as_deref(), Some("seller_1"));
}

#[tokio::test]
async fn a_refused_refresh_token_is_an_auth_error_without_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/identity/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "the provided authorization refresh token is invalid"}),
        ))
        .mount(&server)
        .await;
    let err = channel(&server, |c| c).test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("PRD-secret") && !text.contains("r^1#refresh"), "{text}");
}

#[tokio::test]
async fn inventory_items_then_offers_per_sku() {
    let server = MockServer::start().await;
    token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/inventory_item"))
        .and(query_param("limit", "200"))
        .and(query_param("offset", "0"))
        .and(header("authorization", BEARER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 2, "size": 1, "limit": 200,
            "next": "https://api.ebay.com/sell/inventory/v1/inventory_item?offset=1&limit=200",
            "inventoryItems": [{"sku": "A", "availability": {"shipToLocationAvailability": {"quantity": 3}}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/inventory_item"))
        .and(query_param("offset", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 2, "size": 1, "limit": 200,
            "inventoryItems": [{"sku": "B"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/offer"))
        .and(query_param("sku", "A"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"offers": [{
            "offerId": "9001", "sku": "A", "format": "FIXED_PRICE", "status": "PUBLISHED",
            "pricingSummary": {"price": {"value": "5.00", "currency": "USD"}},
            "listing": {"listingId": "1100", "listingStatus": "ACTIVE"}
        }]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/offer"))
        .and(query_param("sku", "B"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"errors": [{"errorId": 25713, "domain": "API_INVENTORY", "category": "REQUEST", "message": "This Offer is not available."}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let ebay = channel(&server, |c| c);
    let listings = ebay.all_listings().await.unwrap();
    assert_eq!(listings.len(), 2);
    assert_eq!(listings[0].quantity(), Some(3));
    assert_eq!(listings[0].ids.get("offer_id").map(String::as_str), Some("9001"));
    assert_eq!(listings[1].quantity(), Some(0));
    assert_eq!(listings[1].status, channel_core::ListingStatus::Inactive, "no offer: not for sale");
    // Offers are cached: a second read costs the inventory pages only (the mocks expect one call each).
}

#[tokio::test]
async fn stock_and_price_writes_are_bulk_update_price_quantity() {
    let server = MockServer::start().await;
    token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/sell/inventory/v1/bulk_update_price_quantity"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"requests": [
            {"sku": "A", "shipToLocationAvailability": {"quantity": 7}},
            {"sku": "B", "shipToLocationAvailability": {"quantity": 0}}
        ]})))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({"responses": [
            {"statusCode": 200, "sku": "A", "errors": [], "warnings": []},
            {"statusCode": 400, "sku": "B", "errors": [{"errorId": 25759, "message": "shipToLocationAvailability quantity value should be greater than or equal to auction allocation"}]}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sell/inventory/v1/bulk_update_price_quantity"))
        .and(body_json(json!({"requests": [
            {"sku": "A", "offers": [{"offerId": "9001", "price": {"value": "12.50", "currency": "USD"}}]}
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"responses": [
            {"statusCode": 200, "sku": "A", "offerId": "9001"}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let ebay = channel(&server, |c| c);
    let outcomes = ebay.set_stock(&[StockUpdate::new("A", "A", 7), StockUpdate::new("B", "B", 0)]).await.unwrap();
    assert!(outcomes[0].is_applied());
    assert!(
        matches!(&outcomes[1].outcome, channel_core::Outcome::Rejected { reason, retryable: false } if reason.contains("25759")),
        "{outcomes:?}"
    );
    let mut ids = channel_core::PlatformIds::new();
    ids.insert("offer_id".into(), "9001".into());
    let price =
        PriceUpdate::new("A", "A", Money::new(Decimal::new(1250, 2), Currency::new("USD").unwrap())).with_ids(ids);
    assert!(ebay.set_prices(&[price]).await.unwrap()[0].is_applied());
}

#[tokio::test]
async fn orders_by_lastmodifieddate_and_tracking() {
    let server = MockServer::start().await;
    token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/sell/fulfillment/v1/order"))
        .and(query_param("filter", "lastmodifieddate:[2026-11-01T10:00:00.000Z..]"))
        .and(query_param("limit", "200"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 1, "orders": [{
            "orderId": "12-34567-89012", "creationDate": "2026-11-01T10:05:00.000Z",
            "lastModifiedDate": "2026-11-01T11:00:00.000Z", "orderFulfillmentStatus": "NOT_STARTED",
            "orderPaymentStatus": "PAID", "cancelStatus": {"cancelState": "NONE_REQUESTED"},
            "lineItems": [{"lineItemId": "10001", "sku": "A", "quantity": 2,
                "lineItemCost": {"value": "10.00", "currency": "USD"}}]
        }]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sell/fulfillment/v1/order/12-34567-89012/shipping_fulfillment"))
        .and(body_json(json!({
            "lineItems": [{"lineItemId": "10001", "quantity": 2}],
            "shippedDate": "2026-11-02T09:30:00.000Z",
            "shippingCarrierCode": "USPS",
            "trackingNumber": "9400111"
        })))
        .respond_with(ResponseTemplate::new(201).insert_header(
            "location",
            "https://api.ebay.com/sell/fulfillment/v1/order/12-34567-89012/shipping_fulfillment/9400111",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let ebay = channel(&server, |c| c);
    let since: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
    let pages: Vec<_> = ebay.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    assert_eq!(pages[0].orders[0].lines[0].quantity, 2);
    assert_eq!(pages[0].next.since, "2026-11-01T11:00:00Z".parse::<Timestamp>().unwrap());
    let mut shipment = Shipment::whole_order(
        "12-34567-89012",
        Tracking::new("USPS", "9400111"),
        "2026-11-02T09:30:00Z".parse().unwrap(),
    );
    shipment.lines = vec![("10001".into(), 2)];
    ebay.export_tracking(&shipment).await.unwrap();
}

#[tokio::test]
async fn by_id_reads_are_bulk_get_inventory_item() {
    let server = MockServer::start().await;
    token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/sell/inventory/v1/bulk_get_inventory_item"))
        .and(body_json(json!({"requests": [{"sku": "A"}, {"sku": "Z"}]})))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({"responses": [
            {"statusCode": 200, "sku": "A", "inventoryItem": {"sku": "A", "availability": {"shipToLocationAvailability": {"quantity": 1}}}},
            {"statusCode": 404, "sku": "Z", "errors": [{"errorId": 25710}]}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sell/inventory/v1/offer"))
        .and(query_param("sku", "A"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"offers": []})))
        .expect(1)
        .mount(&server)
        .await;
    let ebay = channel(&server, |c| c);
    let got = ebay.get_listings(&["Z".into(), "A".into()]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].quantity(), Some(1));
}
