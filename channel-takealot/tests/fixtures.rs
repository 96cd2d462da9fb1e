//! Decoding the public Takealot payloads in `../shared/fixtures/takealot/` through the public API (the wire
//! types' own decoding is unit-tested in `src/wire.rs`).

use std::path::{Path, PathBuf};

use channel_core::jiff::Timestamp;
use channel_core::secrecy::SecretString;
use channel_core::webhook::sign_hex;
use channel_core::{Channel, WebhookPayload, WebhookRejection, WebhookRequest};
use channel_takealot::{SignatureScheme, Takealot, TakealotConfig};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/takealot")
}

fn read(name: &str) -> Option<Vec<u8>> {
    let path = dir().join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(_) => {
            println!("skipped: {} not found", path.display());
            None
        }
    }
}

fn adapter() -> Takealot {
    let config = TakealotConfig::new(SecretString::from("k"), 28676)
        .base_url("http://127.0.0.1:9")
        .webhook_secret(SecretString::from("test-secret"), SignatureScheme::HexBody);
    Takealot::new(config).unwrap()
}

#[test]
fn every_webhook_fixture_verifies_and_parses() {
    let t = adapter();
    let cases = [
        ("webhook_new_leadtime_order.json", "New Leadtime Order"),
        ("webhook_new_drop_ship_order.json", "New Drop Ship Order"),
        ("webhook_sale_status_changed.json", "Sale Status Changed"),
        ("webhook_offer_updated.json", "Offer Updated"),
        ("webhook_offer_created.json", "Offer Created"),
        ("webhook_batch_completed.json", "Batch Completed"),
    ];
    for (file, topic) in cases {
        let Some(body) = read(file) else { return };
        let req = WebhookRequest::new(body.clone())
            .header("X-Takealot-Event", topic)
            .header("X-Takealot-Delivery", "0b7c-uuid")
            .header("X-Takealot-Signature", sign_hex(b"test-secret", &body));
        let event = t.verify_webhook(&req).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event.delivery_id.as_deref(), Some("0b7c-uuid"));
        match (topic, &event.payload) {
            ("New Leadtime Order", WebhookPayload::Order(o)) => {
                assert_eq!((o.id.as_str(), o.lines[0].line_id.as_str(), o.lines[0].quantity), ("12345", "67890", 2));
                assert_eq!(o.lines[0].channel_sku, "SKU001");
                assert_eq!(o.lines[0].listing.as_ref().map(|l| l.as_str()), Some("111"));
            }
            ("New Drop Ship Order", WebhookPayload::Order(o)) => {
                assert_eq!((o.lines.len(), o.lines[0].quantity), (1, 2));
            }
            ("Sale Status Changed", WebhookPayload::Order(o)) => {
                assert_eq!(o.status, channel_core::OrderStatus::Shipped);
                assert_eq!(o.lines[0].fulfilment, channel_core::Fulfilment::Merchant, "it carries a leadtime PO");
                assert_eq!(o.updated_at.to_string(), "2025-02-15T12:00:00Z");
            }
            ("Offer Updated" | "Offer Created", WebhookPayload::ListingChanged { listing, .. }) => {
                assert_eq!(listing.as_ref().map(|l| l.as_str()), Some("111"));
            }
            ("Batch Completed", WebhookPayload::BatchCompleted { batch_id, succeeded }) => {
                assert_eq!((batch_id.as_str(), *succeeded), ("abc123", true));
            }
            (_, other) => panic!("{file}: unexpected {other:?}"),
        }
    }
}

#[test]
fn signature_vectors_from_the_platform_notes() {
    use channel_takealot::webhook::signature_matches;
    let url = "https://erp.example.com/api/v1/webhooks/takealot";
    let hex = "2f59040b63b7200598444239da2c9a4f3abc5c434259b23126d72514dab8cd09";
    let b64 = "YjBkYzM2MGQxNDkyY2Y2NGI3MzEzMzQ5MmM3ODVjZjc1ZTJhMzcxNDdiODMxYzJmZjg0YmIwYzNhMzkzYjZkMQ==";
    assert!(signature_matches(SignatureScheme::HexBody, b"test-secret", None, b"{}", hex));
    assert!(signature_matches(SignatureScheme::Base64HexUrlBody, b"test-secret", Some(url), b"{}", b64));
    assert!(!signature_matches(SignatureScheme::Base64HexUrlBody, b"test-secret", None, b"{}", b64), "needs the URL");
    assert!(signature_matches(SignatureScheme::Any, b"test-secret", Some(url), b"{}", b64));
    assert!(signature_matches(SignatureScheme::Any, b"test-secret", Some(url), b"{}", hex));
    assert!(!signature_matches(SignatureScheme::HexBody, b"test-secret", None, b"{ }", hex));
}

#[test]
fn unknown_events_and_missing_secrets_are_refused() {
    let req = WebhookRequest::new("{}")
        .header("X-Takealot-Event", "Something New")
        .header("X-Takealot-Signature", sign_hex(b"test-secret", b"{}"));
    assert_eq!(adapter().verify_webhook(&req).unwrap_err().http_status(), 422);
    let no_secret = Takealot::new(TakealotConfig::new(SecretString::from("k"), 1)).unwrap();
    assert_eq!(no_secret.verify_webhook(&req).unwrap_err().http_status(), 403);
}

/// A genuine, signed fixture body sent under `topic`.
fn under(topic: &str, body: &[u8]) -> WebhookRequest {
    WebhookRequest::new(body.to_vec())
        .header("X-Takealot-Event", topic)
        .header("X-Takealot-Delivery", "a-new-uuid")
        .header("X-Takealot-Signature", sign_hex(b"test-secret", body))
}

#[test]
fn a_genuine_body_under_another_event_is_refused() {
    let t = adapter();
    let cases = [
        ("webhook_new_leadtime_order.json", "New Drop Ship Order"),
        ("webhook_new_leadtime_order.json", "Sale Status Changed"),
        ("webhook_new_drop_ship_order.json", "New Leadtime Order"),
        ("webhook_sale_status_changed.json", "New Leadtime Order"),
        ("webhook_sale_status_changed.json", "New Drop Ship Order"),
        ("webhook_offer_updated.json", "Batch Completed"),
        ("webhook_offer_created.json", "Batch Completed"),
        ("webhook_batch_completed.json", "Offer Updated"),
        ("webhook_batch_completed.json", "Offer Created"),
        ("webhook_offer_created.json", "New Leadtime Order"),
    ];
    for (file, topic) in cases {
        let Some(body) = read(file) else { return };
        let rejection = t.verify_webhook(&under(topic, &body)).unwrap_err();
        assert!(matches!(rejection, WebhookRejection::TopicMismatch { .. }), "{file} as {topic}: {rejection:?}");
        assert_eq!(rejection.http_status(), 400, "{file} as {topic}");
    }
}

#[test]
fn orders_and_sales_are_dated_by_their_signed_event_time() {
    let t = adapter();
    let cases = [
        ("webhook_new_leadtime_order.json", "New Leadtime Order", Some("2025-02-15T10:00:00Z")),
        ("webhook_new_drop_ship_order.json", "New Drop Ship Order", Some("2025-02-15T10:00:00Z")),
        ("webhook_sale_status_changed.json", "Sale Status Changed", Some("2025-02-15T12:00:00Z")),
        ("webhook_offer_updated.json", "Offer Updated", None),
        ("webhook_batch_completed.json", "Batch Completed", None),
    ];
    for (file, topic, at) in cases {
        let Some(body) = read(file) else { return };
        let event = t.verify_webhook(&under(topic, &body)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event.sent_at, at.map(|a| a.parse::<Timestamp>().unwrap()), "{file}");
    }
    assert_eq!(t.capabilities().webhook_max_age, Some(std::time::Duration::from_secs(3 * 3600)));
}
