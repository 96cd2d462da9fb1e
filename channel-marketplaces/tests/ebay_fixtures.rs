//! Decoding eBay's own OpenAPI descriptions (`../shared/fixtures/ebay/`): a response is built from each
//! documented schema (every property present, the first `enum` value or a typed sample), served with
//! `wiremock`, and read through the adapter's public API. A field the adapter reads under another name
//! than eBay documents, or a type it decodes differently, fails here. Skipped with a message when the
//! fixtures are absent.
#![cfg(feature = "ebay")]

use std::path::{Path, PathBuf};

use channel_core::jiff::Timestamp;
use channel_core::{Channel, ChannelExt, OrderCursor, StockUpdate};
use channel_marketplaces::ebay::{Ebay, EbayConfig};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ebay")
}

fn spec(name: &str) -> Option<Value> {
    let file = dir().join(name);
    match std::fs::read(&file) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("the fixture is JSON")),
        Err(_) => {
            println!("skipped: {} not found", file.display());
            None
        }
    }
}

/// A sample instance of `schema` (resolving `$ref`s in `spec`), `depth` levels deep at most.
fn sample(spec: &Value, schema: &Value, name: &str, depth: usize) -> Value {
    if let Some(r) = schema["$ref"].as_str() {
        let key = r.rsplit('/').next().unwrap_or_default();
        return sample(spec, &spec["components"]["schemas"][key], name, depth);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("object") | None if schema["properties"].is_object() => {
            if depth == 0 {
                return json!({});
            }
            let mut out = Map::new();
            for (k, v) in schema["properties"].as_object().into_iter().flatten() {
                out.insert(k.clone(), sample(spec, v, k, depth - 1));
            }
            Value::Object(out)
        }
        Some("array") => {
            if depth == 0 {
                json!([])
            } else {
                json!([sample(spec, &schema["items"], name, depth - 1)])
            }
        }
        Some("integer") => json!(2),
        Some("number") => json!(1.5),
        Some("boolean") => json!(false),
        _ => json!(match name {
            n if n.ends_with("Date") => "2026-11-01T10:00:00.000Z",
            "value" => "10.00",
            "currency" => "USD",
            "next" | "prev" | "href" => "",
            "status" => "PUBLISHED",
            "format" => "FIXED_PRICE",
            "listingStatus" => "ACTIVE",
            other => other,
        }),
    }
}

fn response(spec: &Value, path: &str, verb: &str, status: &str) -> Value {
    let schema = &spec["paths"][path][verb]["responses"][status]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "{verb} {path} documents a {status} JSON body");
    sample(spec, schema, "", 8)
}

fn channel(server: &MockServer) -> Ebay {
    Ebay::new(EbayConfig::new("id", "secret", "refresh").base_url(server.uri())).unwrap()
}

async fn mock(server: &MockServer, verb: &str, at: &str, status: u16, body: Value) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

async fn with_token(server: &MockServer) {
    mock(server, "POST", "/identity/v1/oauth2/token", 200, json!({"access_token": "t", "expires_in": 7200})).await;
}

#[tokio::test]
async fn inventory_documents_decode() {
    let Some(inv) = spec("sell_inventory_v1_oas3.json") else { return };
    let server = MockServer::start().await;
    with_token(&server).await;
    let items = response(&inv, "/inventory_item", "get", "200");
    assert!(items["inventoryItems"][0]["availability"]["shipToLocationAvailability"]["quantity"].is_number());
    mock(&server, "GET", "/sell/inventory/v1/inventory_item", 200, items).await;
    mock(&server, "GET", "/sell/inventory/v1/offer", 200, response(&inv, "/offer", "get", "200")).await;
    let bulk = response(&inv, "/bulk_update_price_quantity", "post", "200");
    mock(&server, "POST", "/sell/inventory/v1/bulk_update_price_quantity", 200, bulk.clone()).await;
    let ebay = channel(&server);
    let listings = ebay.all_listings().await.unwrap();
    assert_eq!(listings.len(), 1);
    let l = &listings[0];
    assert_eq!(l.channel_sku, "sku");
    assert_eq!(l.quantity(), Some(2));
    assert_eq!(l.ids.get("offer_id").map(String::as_str), Some("offerId"));
    assert_eq!(l.ids.get("listing_id").map(String::as_str), Some("listingId"));
    assert_eq!(l.price.map(|p| p.amount.to_string()).as_deref(), Some("10.00"));
    // The documented response names the SKU "sku" and a numeric statusCode (2, not 200: rejected).
    let outcome = ebay.set_stock(&[StockUpdate::new("sku", "sku", 1)]).await.unwrap();
    assert_eq!(bulk["responses"][0]["sku"], "sku");
    assert!(!outcome[0].is_applied(), "statusCode 2 is not success: {outcome:?}");
}

#[tokio::test]
async fn fulfillment_and_identity_documents_decode() {
    let (Some(ful), Some(ident)) = (spec("sell_fulfillment_v1_oas3.json"), spec("commerce_identity_v1_oas3.json"))
    else {
        return;
    };
    let server = MockServer::start().await;
    with_token(&server).await;
    mock(&server, "GET", "/sell/fulfillment/v1/order", 200, response(&ful, "/order", "get", "200")).await;
    mock(&server, "GET", "/commerce/identity/v1/user/", 200, response(&ident, "/user/", "get", "200")).await;
    let ebay = channel(&server);
    let since: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let pages: Vec<_> = ebay.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap();
    let order = &pages[0].orders[0];
    assert_eq!(order.id.as_str(), "orderId");
    assert_eq!(order.lines[0].line_id, "lineItemId");
    assert_eq!(order.lines[0].channel_sku, "sku");
    assert_eq!(order.lines[0].quantity, 2);
    assert_eq!(order.updated_at, "2026-11-01T10:00:00Z".parse::<Timestamp>().unwrap());
    assert!(order.channel_status.contains('/'), "{}", order.channel_status);
    let id = ebay.test_connection().await.unwrap();
    assert_eq!(id.account_id, "userId");
    assert_eq!(id.display_name.as_deref(), Some("username"));
}

#[test]
fn the_documented_limits_are_the_adapters_defaults() {
    let Some(inv) = spec("sell_inventory_v1_oas3.json") else { return };
    let bulk = inv["components"]["schemas"]["BulkPriceQuantity"]["properties"]["requests"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(bulk.contains("25"), "BulkPriceQuantity.requests documents up to 25: {bulk}");
    let caps = Ebay::new(EbayConfig::new("a", "b", "c")).unwrap().capabilities();
    assert_eq!(caps.max_stock_batch, 25);
    let limit = inv["paths"]["/inventory_item"]["get"]["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "limit"))
        .and_then(|p| p["description"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(limit.contains("200"), "getInventoryItems limit: {limit}");
    assert_eq!(caps.listing_page_size, 200);
}
