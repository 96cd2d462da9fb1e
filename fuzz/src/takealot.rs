//! Target `takealot_webhook`: [`Channel::verify_webhook`] of the Takealot adapter on an arbitrary body
//! that is correctly signed (hex HMAC-SHA256 under a fixed secret), so the parser is what is exercised.
//! The selector byte picks the `X-Takealot-Event` topic; with its high bit set, the body's first line is
//! also checked as a hostile `X-Takealot-Signature` value under every signature scheme.

use std::sync::OnceLock;

use channel_core::secrecy::SecretString;
use channel_core::webhook::sign_hex;
use channel_core::{Channel as _, WebhookRejection, WebhookRequest};
use channel_takealot::webhook::signature_matches;
use channel_takealot::{SignatureScheme, Takealot, TakealotConfig};

/// The webhook secret the bodies are signed with.
pub const SECRET: &str = "fuzz-secret";

/// Topics the selector picks from: every one the adapter handles, spelling variants and an unknown one.
pub const TOPICS: &[&str] = &[
    "New Leadtime Order",
    "new lead time order",
    "New Drop Ship Order",
    "new dropship order",
    "Sale Status Changed",
    "sales status changed",
    "Offer Updated",
    "Offer Created",
    "Batch Completed",
    "Something New",
];

/// Small valid bodies, so mutation starts close to what the parser accepts.
pub const SEEDS: &[&str] = &[
    r#"{"order_id": 12345, "order_item_id": 67890, "sku": "SKU001", "offer_id": 111, "quantity": 2, "selling_price": 299.0, "order_date": "2025-02-15T10:00:00Z"}"#,
    r#"{"sale": {"order_id": 1, "order_item_id": 2, "sku": "A", "quantity": 1, "sale_status": "Shipped to Customer", "order_date": "15 Feb 2025 10:00:00"}}"#,
    r#"{"offer_id": 111, "sku": "SKU001", "merchant_warehouse_stock": [{"warehouse_id": 1, "quantity_available": 4}]}"#,
    r#"{"batch_id": "abc123", "status": "success"}"#,
    "{}",
];

fn channel() -> &'static Takealot {
    static CHANNEL: OnceLock<Takealot> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        let config = TakealotConfig::new(SecretString::from("key"), 28676)
            .base_url("http://127.0.0.1:9")
            .webhook_secret(SecretString::from(SECRET), SignatureScheme::HexBody);
        // A fixed, valid configuration: building it cannot fail.
        Takealot::new(config).expect("the fuzz configuration is valid")
    })
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
    if selector & 0x80 != 0 {
        let (signature, rest) = body.split_at(body.iter().position(|b| *b == b'\n').unwrap_or(body.len()));
        let signature = String::from_utf8_lossy(signature);
        for scheme in [
            SignatureScheme::HexBody,
            SignatureScheme::Base64HexUrlBody,
            SignatureScheme::HexUrlBody,
            SignatureScheme::Base64UrlBody,
            SignatureScheme::Any,
        ] {
            for url in [None, Some("https://erp.example.com/webhooks/takealot")] {
                std::hint::black_box(signature_matches(scheme, SECRET.as_bytes(), url, rest, &signature));
            }
        }
    }
    let topic = TOPICS[usize::from(selector & 0x7f) % TOPICS.len()];
    let request = WebhookRequest::new(body.to_vec())
        .header("X-Takealot-Event", topic)
        .header("X-Takealot-Delivery", "fuzz-delivery")
        .header("X-Takealot-Signature", sign_hex(SECRET.as_bytes(), body));
    match channel().verify_webhook(&request) {
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
