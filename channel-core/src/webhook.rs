//! Webhook helpers: HMAC-SHA256 signatures with constant-time comparison, base64 and hex encodings; the
//! check that a body has its topic's shape; the adapters' webhook-window setting.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::WebhookRejection;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    hmac_sha256_parts(key, &[message])
}

/// HMAC-SHA256 of the concatenation of `parts` under `key` (for schemes that sign `url + body`).
pub fn hmac_sha256_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Base64 (standard alphabet, padded) of HMAC-SHA256 — Shopify's and WooCommerce's form.
pub fn sign_base64(key: &[u8], message: &[u8]) -> String {
    BASE64.encode(hmac_sha256(key, message))
}

/// Lower-case hex of HMAC-SHA256.
pub fn sign_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_sha256(key, message))
}

/// Compare two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether `signature` is the base64 HMAC-SHA256 of `message` under `key`. Surrounding whitespace in the
/// header value is ignored; the comparison is constant-time.
pub fn verify_base64(key: &[u8], message: &[u8], signature: &str) -> bool {
    match BASE64.decode(signature.trim()) {
        Ok(given) => constant_time_eq(&given, &hmac_sha256(key, message)),
        Err(_) => false,
    }
}

/// Whether `signature` is the hex HMAC-SHA256 of `message` under `key` (either case; constant-time).
pub fn verify_hex(key: &[u8], message: &[u8], signature: &str) -> bool {
    match hex::decode(signature.trim()) {
        Ok(given) => constant_time_eq(&given, &hmac_sha256(key, message)),
        Err(_) => false,
    }
}

/// The JSON object `body`, if it has every one of `fields` (the fields that make it the resource `topic`
/// documents); otherwise [`WebhookRejection::TopicMismatch`] naming what it lacks. Platforms sign the body,
/// not the topic header, so this is what stops a genuine body resent under another topic.
///
/// ```
/// use channel_core::webhook::require_fields;
///
/// let order = serde_json::json!({"id": 1, "line_items": []});
/// assert!(require_fields("orders/create", &order, &["id", "line_items"]).is_ok());
/// assert_eq!(require_fields("app/uninstalled", &order, &["myshopify_domain"]).unwrap_err().http_status(), 400);
/// ```
pub fn require_fields<'v>(
    topic: &str,
    body: &'v serde_json::Value,
    fields: &[&str],
) -> Result<&'v serde_json::Map<String, serde_json::Value>, WebhookRejection> {
    let Some(object) = body.as_object() else {
        return Err(WebhookRejection::TopicMismatch { topic: topic.to_owned(), detail: "not a JSON object".into() });
    };
    let missing: Vec<&str> = fields.iter().copied().filter(|f| !object.contains_key(*f)).collect();
    if missing.is_empty() {
        return Ok(object);
    }
    Err(WebhookRejection::TopicMismatch { topic: topic.to_owned(), detail: format!("no {}", missing.join(", ")) })
}

/// An adapter's `webhook_max_age_secs` setting as a window: `None` (no window) for 0.
pub fn max_age_window(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// A window as the `webhook_max_age_secs` setting: 0 for none, at least one second otherwise.
pub fn max_age_secs(window: Option<Duration>) -> u64 {
    window.map_or(0, |d| d.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Vectors from ../shared/platforms/shopify-woocommerce-takealot.md §5 (computed with Python's hmac).
    #[test]
    fn shopify_vector() {
        assert_eq!(sign_base64(b"API_SECRET_KEY", b"{}"), "+ihUB5l+D7QrohDEi/6NcBcJRyKssyWqos13LmnsBbs=");
        assert!(verify_base64(b"API_SECRET_KEY", b"{}", "+ihUB5l+D7QrohDEi/6NcBcJRyKssyWqos13LmnsBbs=\n"));
    }

    #[test]
    fn woocommerce_and_takealot_vectors() {
        assert_eq!(sign_base64(b"test-secret", b"{}"), "L1kEC2O3IAWYREI52iyaTzq8XENCWbIxJtclFNq4zQk=");
        let hex = "2f59040b63b7200598444239da2c9a4f3abc5c434259b23126d72514dab8cd09";
        assert_eq!(sign_hex(b"test-secret", b"{}"), hex);
        assert!(verify_hex(b"test-secret", b"{}", &hex.to_uppercase()));
        let url = b"https://erp.example.com/api/v1/webhooks/takealot";
        let digest_hex = hex::encode(hmac_sha256_parts(b"test-secret", &[url, b"{}"]));
        assert_eq!(
            BASE64.encode(digest_hex),
            "YjBkYzM2MGQxNDkyY2Y2NGI3MzEzMzQ5MmM3ODVjZjc1ZTJhMzcxNDdiODMxYzJmZjg0YmIwYzNhMzkzYjZkMQ=="
        );
    }

    #[test]
    fn rejects_garbage_and_wrong_keys() {
        assert!(!verify_base64(b"k", b"{}", "not base64!"));
        assert!(!verify_hex(b"k", b"{}", "zz"));
        assert!(!verify_base64(b"other", b"{}", &sign_base64(b"k", b"{}")));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }

    proptest! {
        #[test]
        fn sign_then_verify(key in proptest::collection::vec(any::<u8>(), 0..80), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert!(verify_base64(&key, &body, &sign_base64(&key, &body)));
            prop_assert!(verify_hex(&key, &body, &sign_hex(&key, &body)));
        }

        #[test]
        fn any_flipped_bit_fails(body in proptest::collection::vec(any::<u8>(), 1..200), bit in 0usize..1600) {
            let sig = sign_base64(b"secret", &body);
            let mut tampered = body.clone();
            let i = (bit / 8) % tampered.len();
            tampered[i] ^= 1 << (bit % 8);
            prop_assert!(!verify_base64(b"secret", &tampered, &sig));
        }
    }
}
