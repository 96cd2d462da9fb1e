//! A WooCommerce delivery's body must be the resource its topic names (the signature covers the body
//! only, not `X-WC-Webhook-Topic`), and its time is the signed `date_modified_gmt` of an order: the
//! public payloads in `../shared/fixtures/woocommerce/` (skipped with a message when absent).

use std::path::Path;

use channel_core::jiff::Timestamp;
use channel_core::{Channel, WebhookPayload, WebhookRejection, WebhookRequest};
use channel_woocommerce::{WooCommerce, WooCommerceConfig};
use serde_json::Value;

const SECRET: &str = "test-secret";

fn read(name: &str) -> Option<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/woocommerce").join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(serde_json::from_slice(&b).unwrap()),
        Err(_) => {
            println!("skipped: {} not found", path.display());
            None
        }
    }
}

fn channel() -> WooCommerce {
    WooCommerce::new(WooCommerceConfig::new("https://shop.example", "ck", "cs").webhook_secret(SECRET)).unwrap()
}

/// A genuine, signed body sent under `topic` with a new delivery id.
fn under(topic: &str, body: &Value) -> WebhookRequest {
    let bytes = serde_json::to_vec(body).unwrap();
    WebhookRequest::new(bytes.clone())
        .header("X-WC-Webhook-Topic", topic)
        .header("X-WC-Webhook-Delivery-ID", "a-new-id")
        .header("X-WC-Webhook-Signature", channel_core::webhook::sign_base64(SECRET.as_bytes(), &bytes))
}

#[test]
fn a_genuine_body_under_another_topic_is_refused() {
    let (Some(order), Some(product)) = (read("order_retrieve.json"), read("product_retrieve.json")) else { return };
    let c = channel();
    for (topic, body) in [
        ("order.created", &product),
        ("order.updated", &product),
        ("order.restored", &product),
        ("product.created", &order),
        ("product.updated", &order),
    ] {
        let rejection = c.verify_webhook(&under(topic, body)).unwrap_err();
        assert!(matches!(rejection, WebhookRejection::TopicMismatch { .. }), "{topic}: {rejection:?}");
        assert_eq!(rejection.http_status(), 400);
    }
    assert!(matches!(c.verify_webhook(&under("order.updated", &order)).unwrap().payload, WebhookPayload::Order(_)));
    assert!(matches!(
        c.verify_webhook(&under("product.updated", &product)).unwrap().payload,
        WebhookPayload::ListingChanged { .. }
    ));
}

#[test]
fn an_order_is_dated_by_its_signed_date_modified_gmt() {
    let (Some(order), Some(product)) = (read("order_retrieve.json"), read("product_retrieve.json")) else { return };
    let c = channel();
    let modified = format!("{}Z", order["date_modified_gmt"].as_str().unwrap());
    let event = c.verify_webhook(&under("order.updated", &order)).unwrap();
    assert_eq!(event.sent_at, Some(modified.parse::<Timestamp>().unwrap()));
    // A product change only makes the listing be read again, whenever it arrives: not judged by age.
    assert_eq!(c.verify_webhook(&under("product.updated", &product)).unwrap().sent_at, None);
    assert_eq!(c.capabilities().webhook_max_age, Some(std::time::Duration::from_secs(86_400)));
}
