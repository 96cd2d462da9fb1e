//! Decoding the public Shopify payloads in `../shared/fixtures/shopify/` as the webhooks that carry them.

use std::path::{Path, PathBuf};

use channel_core::jiff::Timestamp;
use channel_core::secrecy::SecretString;
use channel_core::webhook::sign_base64;
use channel_core::{Channel, OrderStatus, WebhookPayload, WebhookRejection, WebhookRequest};
use channel_shopify::webhook::{RestInventoryLevel, RestOrder, RestProduct, RestVariant};
use channel_shopify::{Shopify, ShopifyConfig};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/shopify")
}

fn read(name: &str) -> Option<Value> {
    let path = dir().join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(serde_json::from_slice(&b).unwrap()),
        Err(_) => {
            println!("skipped: {} not found", path.display());
            None
        }
    }
}

/// The payload of a `shopify-api-ruby` fixture (`{"_request", "response"}`) or of a plain one.
fn payload(v: Value) -> Value {
    match v.get("response") {
        Some(r) => r.clone(),
        None => v,
    }
}

fn adapter() -> Shopify {
    let config = ShopifyConfig::new("test-shop.myshopify.io", SecretString::from("t"))
        .webhook_secret(SecretString::from("API_SECRET_KEY"))
        .location("487838322");
    Shopify::new(config).unwrap()
}

fn deliver(t: &Shopify, topic: &str, body: &Value) -> WebhookPayload {
    let bytes = serde_json::to_vec(body).unwrap();
    let req = WebhookRequest::new(bytes.clone())
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Event-Id", "evt-1")
        .header("X-Shopify-Hmac-Sha256", sign_base64(b"API_SECRET_KEY", &bytes));
    let event = t.verify_webhook(&req).unwrap_or_else(|e| panic!("{topic}: {e}"));
    assert_eq!(event.delivery_id.as_deref(), Some("evt-1"));
    event.payload
}

#[test]
fn the_platform_notes_test_vector_verifies() {
    let t = adapter();
    let req = WebhookRequest::new("{}")
        .header("X-Shopify-Topic", "app/uninstalled")
        .header("X-Shopify-Hmac-Sha256", "+ihUB5l+D7QrohDEi/6NcBcJRyKssyWqos13LmnsBbs=");
    // The signature verifies; `{}` is no shop, so the body is then refused for its topic (not as forged).
    let rejection = t.verify_webhook(&req).unwrap_err();
    assert!(matches!(rejection, WebhookRejection::TopicMismatch { .. }), "{rejection:?}");
}

/// The `app/uninstalled` payload: the REST Shop resource
/// (<https://shopify.dev/docs/api/admin-rest/latest/resources/shop>), for the adapter's shop.
fn shop(domain: &str) -> Value {
    json!({
        "id": 548380009, "name": "John Smith Test Store", "email": "j.smith@example.com",
        "domain": "shop.apple.com", "myshopify_domain": domain, "currency": "USD",
        "created_at": "2007-12-31T19:00:00-05:00", "updated_at": "2024-01-02T09:28:43-05:00",
        "plan_name": "enterprise", "shop_owner": "John Smith",
    })
}

/// A genuine body, signed, sent under `topic` (as a captured delivery resent with another topic header).
fn under(topic: &str, body: &Value) -> WebhookRequest {
    let bytes = serde_json::to_vec(body).unwrap();
    WebhookRequest::new(bytes.clone())
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Event-Id", "a-new-id")
        .header("X-Shopify-Hmac-Sha256", sign_base64(b"API_SECRET_KEY", &bytes))
}

#[test]
fn a_genuine_body_under_another_topic_is_refused() {
    let t = adapter();
    let (Some(order), Some(product), Some(level)) =
        (read("rest_order.json"), read("rest_product.json"), read("rest_inventory_level.json"))
    else {
        return;
    };
    let order = payload(order)["order"].clone();
    let product = payload(product)["product"].clone();
    let level = payload(level)["inventory_level"].clone();
    let cases = [
        ("app/uninstalled", &order),
        ("app/uninstalled", &product),
        ("app/uninstalled", &level),
        ("orders/create", &shop("test-shop.myshopify.io")),
        ("orders/updated", &product),
        ("orders/cancelled", &level),
        ("inventory_levels/update", &product),
        ("inventory_levels/update", &order),
        ("products/update", &order),
        ("products/update", &level),
    ];
    for (topic, body) in cases {
        let rejection = t.verify_webhook(&under(topic, body)).unwrap_err();
        assert!(matches!(rejection, WebhookRejection::TopicMismatch { .. }), "{topic}: {rejection:?}");
        assert_eq!(rejection.http_status(), 400, "{topic}");
    }
    let genuine = t.verify_webhook(&under("app/uninstalled", &shop("test-shop.myshopify.io"))).unwrap();
    assert_eq!(genuine.payload, WebhookPayload::Uninstalled);
    let other_shop = t.verify_webhook(&under("app/uninstalled", &shop("another-shop.myshopify.com"))).unwrap_err();
    assert!(matches!(other_shop, WebhookRejection::TopicMismatch { .. }), "another shop's uninstall: {other_shop:?}");
}

#[test]
fn the_delivery_time_is_the_older_of_the_triggered_at_header_and_the_signed_event_time() {
    let t = adapter();
    let Some(order) = read("rest_order.json") else { return };
    let order = payload(order)["order"].clone();
    let updated: Timestamp = order["updated_at"].as_str().unwrap().parse().unwrap();
    let now = "2026-01-01T00:00:00Z";
    // A captured order resent with a fresh X-Shopify-Triggered-At: the signed updated_at still dates it.
    let forged = t.verify_webhook(&under("orders/updated", &order).header("X-Shopify-Triggered-At", now)).unwrap();
    assert_eq!(forged.sent_at, Some(updated));
    let shop = shop("test-shop.myshopify.io");
    let at = "2025-03-04T05:06:07.123Z";
    let uninstall = t.verify_webhook(&under("app/uninstalled", &shop).header("X-Shopify-Triggered-At", at)).unwrap();
    assert_eq!(uninstall.sent_at, Some(at.parse().unwrap()), "the shop's updated_at is no event time");
    assert_eq!(t.verify_webhook(&under("app/uninstalled", &shop)).unwrap().sent_at, None);
    let bad = t.verify_webhook(&under("app/uninstalled", &shop).header("X-Shopify-Triggered-At", "yesterday"));
    assert!(matches!(bad, Err(WebhookRejection::Malformed(_))), "{bad:?}");
}

#[test]
fn orders_decode() {
    let t = adapter();
    let Some(one) = read("rest_order.json") else { return };
    let order = payload(one)["order"].clone();
    let WebhookPayload::Order(o) = deliver(&t, "orders/updated", &order) else { panic!() };
    assert_eq!(o.id.as_str(), order["id"].to_string());
    assert_eq!(o.lines.len(), order["line_items"].as_array().unwrap().len());
    assert_eq!(o.lines[0].channel_sku, "IPOD2008GREEN");
    for file in ["rest_orders.json", "rest_2026-07_get_orders_json.json"] {
        let Some(list) = read(file) else { return };
        let list = payload(list);
        let orders = list["orders"].as_array().unwrap();
        assert!(!orders.is_empty(), "{file}");
        for order in orders {
            let parsed: RestOrder = serde_json::from_value(order.clone()).unwrap();
            let o = parsed.to_order().unwrap_or_else(|| panic!("{file}: {order}"));
            assert_eq!(o.lines.len(), order["line_items"].as_array().map_or(0, Vec::len), "{file}");
            if !order["cancelled_at"].is_null() {
                assert_eq!(o.status, OrderStatus::Cancelled);
            }
        }
    }
}

#[test]
fn inventory_levels_decode() {
    let t = adapter();
    for (file, key) in [
        ("rest_inventory_level.json", "inventory_level"),
        ("rest_2026-07_post_inventory_levels_set_json.json", "inventory_level"),
        ("rest_2026-07_post_inventory_levels_adjust_json.json", "inventory_level"),
    ] {
        let Some(v) = read(file) else { return };
        let level = payload(v)[key].clone();
        let parsed: RestInventoryLevel = serde_json::from_value(level.clone()).unwrap();
        assert_eq!(parsed.available, level["available"].as_i64(), "{file}");
        match deliver(&t, "inventory_levels/update", &level) {
            WebhookPayload::Inventory(c) => {
                assert_eq!(level["location_id"], 487838322, "{file}: ours");
                assert_eq!(c.quantity, level["available"].as_i64());
                assert_eq!(
                    c.listing.unwrap().as_str(),
                    format!("gid://shopify/InventoryItem/{}", level["inventory_item_id"])
                );
            }
            WebhookPayload::ListingChanged { listing, .. } => {
                assert_ne!(level["location_id"], 487838322, "{file}: another location");
                assert!(listing.is_some());
            }
            other => panic!("{file}: {other:?}"),
        }
    }
    for file in ["rest_inventory_levels.json", "rest_location_inventory_levels.json"] {
        let Some(v) = read(file) else { return };
        for level in payload(v)["inventory_levels"].as_array().unwrap() {
            let parsed: RestInventoryLevel = serde_json::from_value(level.clone()).unwrap();
            assert_eq!(parsed.available, level["available"].as_i64(), "{file}");
        }
    }
}

#[test]
fn products_and_variants_decode() {
    let t = adapter();
    let Some(v) = read("rest_product.json") else { return };
    let product = payload(v)["product"].clone();
    let parsed: RestProduct = serde_json::from_value(product.clone()).unwrap();
    assert_eq!(parsed.variants.len(), product["variants"].as_array().unwrap().len());
    assert!(matches!(deliver(&t, "products/update", &product), WebhookPayload::ListingChanged { .. }));
    let Some(v) = read("rest_products.json") else { return };
    let products = payload(v);
    let list = products.get("products").cloned().unwrap_or(products);
    for p in list.as_array().unwrap() {
        let _: RestProduct = serde_json::from_value(p.clone()).unwrap();
    }
    let Some(v) = read("rest_2026-07_get_variants_808950810_json.json") else { return };
    let variant: RestVariant = serde_json::from_value(payload(v)["variant"].clone()).unwrap();
    assert_eq!(variant.inventory_item_id, 808950810);
}

#[test]
fn files_this_adapter_does_not_read_are_listed() {
    // Locations and inventory items come from GraphQL, never from these REST shapes; they are named here
    // so a new fixture file is a conscious decision.
    let Ok(entries) = std::fs::read_dir(dir()) else {
        println!("skipped: {} not found", dir().display());
        return;
    };
    let known = [
        "README.md",
        "rest_order.json",
        "rest_orders.json",
        "rest_2026-07_get_orders_json.json",
        "rest_inventory_level.json",
        "rest_inventory_levels.json",
        "rest_location_inventory_levels.json",
        "rest_2026-07_post_inventory_levels_set_json.json",
        "rest_2026-07_post_inventory_levels_adjust_json.json",
        "rest_product.json",
        "rest_products.json",
        "rest_2026-07_get_variants_808950810_json.json",
        "rest_locations.json",
        "rest_inventory_item.json",
        "rest_inventory_items.json",
    ];
    for e in entries {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(known.contains(&name.as_str()), "new fixture {name}: decode it or list it");
    }
}
