//! Webhook verification: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the raw body under the
//! secret *after* WordPress's `wp_specialchars_decode($secret, ENT_QUOTES)`; the creation ping
//! (`webhook_id=<id>`, form-encoded, unsigned) is acknowledged as [`WebhookPayload::Ping`].
//!
//! The signature covers the body only, not `X-WC-Webhook-Topic`: a body is parsed as the resource its
//! topic names (an order has `order_key` and `line_items`, a product `sku`, `manage_stock` and
//! `stock_quantity`) and refused with [`WebhookRejection::TopicMismatch`] otherwise. WooCommerce sends no
//! delivery time; an order's signed `date_modified_gmt` (the save that triggered it) is
//! [`WebhookEvent::sent_at`], for the engine's window. A product change is not dated: it only makes the
//! listing be read again, which is safe whenever it arrives.

use channel_core::secrecy::{ExposeSecret, SecretString};
use channel_core::{WebhookEvent, WebhookPayload, WebhookRejection, WebhookRequest};

use crate::map::{Target, order_from, parse_gmt};
use crate::wire;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";
/// The topic header (`order.updated`).
pub const TOPIC_HEADER: &str = "X-WC-Webhook-Topic";
/// The delivery id header (the dedupe key).
pub const DELIVERY_HEADER: &str = "X-WC-Webhook-Delivery-ID";

/// `wp_specialchars_decode($s, ENT_QUOTES)`: one pass, longest match first, as PHP's `strtr` does.
pub fn decode_secret(secret: &str) -> String {
    const TABLE: &[(&str, char)] = &[
        ("&#060;", '<'),
        ("&#062;", '>'),
        ("&#038;", '&'),
        ("&#034;", '"'),
        ("&#039;", '\''),
        ("&quot;", '"'),
        ("&#60;", '<'),
        ("&#62;", '>'),
        ("&#38;", '&'),
        ("&#34;", '"'),
        ("&#39;", '\''),
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
    ];
    let mut out = String::with_capacity(secret.len());
    let mut rest = secret;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '&' {
            for (entity, ch) in TABLE {
                if let Some(after) = rest.strip_prefix(entity) {
                    out.push(*ch);
                    rest = after;
                    continue 'outer;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether the body is WooCommerce's creation ping, `webhook_id=<digits>`.
fn is_ping(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else { return false };
    let mut pairs = url::form_urlencoded::parse(text.trim().as_bytes());
    matches!((pairs.next(), pairs.next()), (Some((k, v)), None) if k == "webhook_id" && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

/// Verify and parse a delivery (see the module docs).
pub fn verify(secret: Option<&SecretString>, request: &WebhookRequest) -> Result<WebhookEvent, WebhookRejection> {
    let body = request.body();
    let Some(signature) = request.header_value(SIGNATURE_HEADER) else {
        if is_ping(body) {
            return Ok(WebhookEvent::new(None, "ping", WebhookPayload::Ping));
        }
        return Err(WebhookRejection::Unsigned { header: SIGNATURE_HEADER.to_owned() });
    };
    let Some(secret) = secret else {
        return Err(WebhookRejection::NotAccepted("no WooCommerce webhook secret is configured".into()));
    };
    let key = decode_secret(secret.expose_secret());
    if !channel_core::webhook::verify_base64(key.as_bytes(), body, signature) {
        return Err(WebhookRejection::BadSignature);
    }
    let delivery = request.header_value(DELIVERY_HEADER).map(str::to_owned);
    let topic = request.header_value(TOPIC_HEADER).unwrap_or_default().trim().to_owned();
    let sent_at = shaped(&topic, body)?;
    let payload = parse(&topic, body)?;
    Ok(WebhookEvent::new(delivery, topic, payload).with_sent_at(sent_at))
}

/// The fields that make a body the resource its topic names (the REST resources of
/// <https://woocommerce.github.io/woocommerce-rest-api-docs/>; `fixtures/woocommerce/order_retrieve.json`
/// and `product_retrieve.json`), or `None` for a topic this adapter does not handle.
fn required_fields(topic: &str) -> Option<&'static [&'static str]> {
    Some(match topic {
        "order.created" | "order.updated" | "order.restored" => &["id", "order_key", "line_items"],
        "product.created" | "product.updated" | "product.restored" => &["id", "sku", "manage_stock", "stock_quantity"],
        _ => return None,
    })
}

/// Checks that the body has the shape `topic` names; an order's `date_modified_gmt`, if any.
fn shaped(topic: &str, body: &[u8]) -> Result<Option<channel_core::jiff::Timestamp>, WebhookRejection> {
    let Some(fields) = required_fields(topic) else {
        // `parse` names the problem: no topic header, or one this adapter does not handle.
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookRejection::Malformed(format!("{topic} body: {e}")))?;
    let object = channel_core::webhook::require_fields(topic, &value, fields)?;
    let dated = topic.starts_with("order.");
    Ok(dated.then(|| object.get("date_modified_gmt").and_then(|v| v.as_str()).and_then(parse_gmt)).flatten())
}

/// Parse the body of a verified delivery for `topic`.
pub fn parse(topic: &str, body: &[u8]) -> Result<WebhookPayload, WebhookRejection> {
    let malformed = |e: serde_json::Error| WebhookRejection::Malformed(format!("{topic} body: {e}"));
    match topic {
        "order.created" | "order.updated" | "order.restored" => {
            let order: wire::Order = serde_json::from_slice(body).map_err(malformed)?;
            let order = order_from(&order, &[]).map_err(|e| WebhookRejection::Malformed(e.to_string()))?;
            Ok(WebhookPayload::Order(order))
        }
        "product.created" | "product.updated" | "product.restored" => {
            let p: wire::Product = serde_json::from_slice(body).map_err(malformed)?;
            let target = Target::of_payload(&p);
            let sku = (!p.sku.is_empty()).then_some(p.sku);
            Ok(WebhookPayload::ListingChanged { listing: Some(target.listing_id()), channel_sku: sku })
        }
        "" => Err(WebhookRejection::Malformed(format!("no {TOPIC_HEADER} header"))),
        other => Err(WebhookRejection::UnsupportedTopic(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_wordpress() {
        assert_eq!(decode_secret("a&amp;b&lt;c&gt;&quot;&#039;"), "a&b<c>\"'");
        assert_eq!(decode_secret("&amp;lt;"), "&lt;", "one pass only");
        assert_eq!(decode_secret("plain-secret é"), "plain-secret é");
        assert_eq!(decode_secret("&#38;&#x26;"), "&&#x26;");
    }

    #[test]
    fn recognises_the_ping() {
        assert!(is_ping(b"webhook_id=12"));
        assert!(!is_ping(b"webhook_id=12&x=1"));
        assert!(!is_ping(b"{\"webhook_id\":12}"));
    }
}
