//! Target `woocommerce_webhook`: [`Channel::verify_webhook`] of the WooCommerce adapter on an arbitrary
//! body that is correctly signed (base64 HMAC-SHA256 under a fixed secret). The selector byte picks the
//! `X-WC-Webhook-Topic` and, with its high bit, an unsigned delivery (the creation-ping path, which
//! parses the body as a form).

use std::sync::OnceLock;

use channel_core::webhook::sign_base64;
use channel_core::{Channel as _, WebhookRejection, WebhookRequest};
use channel_woocommerce::{WooCommerce, WooCommerceConfig};

/// The webhook secret the bodies are signed with (no HTML entities, so it is also the HMAC key).
pub const SECRET: &str = "fuzz-secret";

/// Topics the selector picks from.
pub const TOPICS: &[&str] = &[
    "order.created",
    "order.updated",
    "order.restored",
    "product.created",
    "product.updated",
    "product.restored",
    "",
    "coupon.created",
];

/// Small valid bodies.
pub const SEEDS: &[&str] = &[
    r#"{"id": 727, "status": "processing", "currency": "USD", "date_created_gmt": "2017-03-22T19:28:02", "date_modified_gmt": "2017-03-22T19:28:02", "line_items": [{"id": 315, "product_id": 22, "variation_id": 23, "quantity": 1, "sku": "Bar3", "price": 12}]}"#,
    r#"{"id": 799, "type": "variation", "parent_id": 22, "sku": "Bar3", "manage_stock": true, "stock_quantity": 4}"#,
    "webhook_id=12",
    "{}",
];

fn channel() -> &'static WooCommerce {
    static CHANNEL: OnceLock<WooCommerce> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        let config = WooCommerceConfig::new("https://fuzz.example", "ck_fuzz", "cs_fuzz").webhook_secret(SECRET);
        // A fixed, valid configuration: building it cannot fail.
        WooCommerce::new(config).expect("the fuzz configuration is valid")
    })
}

/// The body of the fuzz target: selector byte, then the delivery body.
pub fn run(data: &[u8]) {
    if let Some((selector, body)) = data.split_first() {
        check(*selector, body);
    }
}

/// Verify and parse one delivery; it must never panic, and a correctly signed body is never refused as
/// unsigned or badly signed.
pub fn check(selector: u8, body: &[u8]) {
    let topic = TOPICS[usize::from(selector & 0x7f) % TOPICS.len()];
    let signed = selector & 0x80 == 0;
    let mut request = WebhookRequest::new(body.to_vec())
        .header("X-WC-Webhook-Topic", topic)
        .header("X-WC-Webhook-Delivery-ID", "fuzz-delivery");
    if signed {
        request = request.header("X-WC-Webhook-Signature", sign_base64(SECRET.as_bytes(), body));
    }
    match channel().verify_webhook(&request) {
        Ok(event) => drop(format!("{event:?}")),
        Err(e) => {
            assert!(
                !signed || !matches!(e, WebhookRejection::BadSignature | WebhookRejection::Unsigned { .. }),
                "a correctly signed delivery was refused: {e}"
            );
            drop(e.to_string());
        }
    }
}
