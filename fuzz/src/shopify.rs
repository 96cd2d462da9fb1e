//! Target `shopify_webhook`: [`Channel::verify_webhook`] of the Shopify adapter on an arbitrary body
//! that is correctly signed (base64 HMAC-SHA256 under a fixed secret). The selector byte picks the
//! topic, the header form (`X-Shopify-*` or `shopify-*`) and whether the shop has a location configured.

use std::sync::OnceLock;

use channel_core::secrecy::SecretString;
use channel_core::webhook::sign_base64;
use channel_core::{Channel as _, WebhookRejection, WebhookRequest};
use channel_shopify::{Shopify, ShopifyConfig};

/// The webhook secret the bodies are signed with.
pub const SECRET: &str = "fuzz-secret";

/// Topics the selector picks from.
pub const TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "inventory_levels/update",
    "products/update",
    "app/uninstalled",
    "customers/create",
];

/// Small valid bodies.
pub const SEEDS: &[&str] = &[
    r#"{"id": 450789469, "created_at": "2008-01-10T11:00:00-05:00", "updated_at": "2008-01-10T11:00:00-05:00", "currency": "USD", "financial_status": "paid", "line_items": [{"id": 466157049, "sku": "IPOD2008GREEN", "quantity": 1, "current_quantity": 1, "price": "199.00"}], "refunds": [{"refund_line_items": [{"line_item_id": 466157049, "quantity": 1}]}]}"#,
    r#"{"inventory_item_id": 808950810, "location_id": 487838322, "available": 6, "updated_at": "2025-01-01T00:00:00Z"}"#,
    r#"{"id": 632910392, "variants": [{"id": 808950810, "sku": "IPOD2008PINK", "inventory_item_id": 808950810}]}"#,
    "{}",
];

fn channel(with_location: bool) -> &'static Shopify {
    static WITH: OnceLock<Shopify> = OnceLock::new();
    static WITHOUT: OnceLock<Shopify> = OnceLock::new();
    let build = |location: bool| {
        let mut config = ShopifyConfig::new("fuzz-shop.myshopify.com", SecretString::from("shpat_fuzz"))
            .webhook_secret(SecretString::from(SECRET));
        if location {
            config = config.location("487838322");
        }
        // A fixed, valid configuration: building it cannot fail.
        Shopify::new(config).expect("the fuzz configuration is valid")
    };
    if with_location { WITH.get_or_init(|| build(true)) } else { WITHOUT.get_or_init(|| build(false)) }
}

/// The body of the fuzz target: selector byte, then the delivery body.
pub fn run(data: &[u8]) {
    if let Some((selector, body)) = data.split_first() {
        check(*selector, body);
    }
}

/// Verify and parse one signed delivery; it must never panic, and a correctly signed body is never
/// refused as unsigned or badly signed.
pub fn check(selector: u8, body: &[u8]) {
    let topic = TOPICS[usize::from(selector & 0x3f) % TOPICS.len()];
    let prefix = if selector & 0x40 == 0 { "X-Shopify-" } else { "shopify-" };
    let request = WebhookRequest::new(body.to_vec())
        .header(format!("{prefix}Topic"), topic)
        .header(format!("{prefix}Event-Id"), "fuzz-event")
        .header(format!("{prefix}Hmac-Sha256"), sign_base64(SECRET.as_bytes(), body));
    match channel(selector & 0x80 != 0).verify_webhook(&request) {
        Ok(event) => drop(format!("{event:?}")),
        Err(e) => {
            assert!(
                !matches!(e, WebhookRejection::BadSignature | WebhookRejection::Unsigned { .. }),
                "a correctly signed delivery was refused: {e}"
            );
            drop(e.to_string());
        }
    }
}
