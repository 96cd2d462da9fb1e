//! Verifying and parsing Takealot webhook deliveries.
//!
//! `X-Takealot-Event` is not covered by the signature: each event's body must have the fields its
//! documented shape names (`../shared/platforms/shopify-woocommerce-takealot.md` §3.5,
//! `fixtures/takealot/webhook_*.json`) or it is refused with [`WebhookRejection::TopicMismatch`]. Takealot
//! sends no delivery time; an order's signed `event_date` and a sale's `event_timestamp_utc` are
//! [`WebhookEvent::sent_at`], for the engine's window. Offer and batch events are not dated: they only
//! make a listing or a batch be read again.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::ExposeSecret;
use channel_core::webhook::{constant_time_eq, hmac_sha256, hmac_sha256_parts, require_fields, verify_hex};
use channel_core::{
    Currency, Fulfilment, Money, Order, OrderLine, OrderStatus, WebhookEvent, WebhookPayload, WebhookRejection,
    WebhookRequest,
};
use serde::Deserialize;
use serde_json::Value;

use crate::config::{SignatureScheme, TakealotConfig};
use crate::map::{SalesFormat, order_from_sales, parse_when};
use crate::wire::{self, WarehouseStock};

/// The header naming the event (`New Leadtime Order`).
pub const EVENT_HEADER: &str = "X-Takealot-Event";
/// The header with the delivery's UUID (the dedupe key).
pub const DELIVERY_HEADER: &str = "X-Takealot-Delivery";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Takealot-Signature";

/// Whether `signature` matches `body` (and the delivery URL, for schemes that sign it) under `secret`.
pub fn signature_matches(
    scheme: SignatureScheme,
    secret: &[u8],
    url: Option<&str>,
    body: &[u8],
    signature: &str,
) -> bool {
    let sig = signature.trim();
    let with_url =
        |f: &dyn Fn(&[u8; 32]) -> bool| url.is_some_and(|u| f(&hmac_sha256_parts(secret, &[u.as_bytes(), body])));
    let base64_hex = |d: &[u8; 32]| constant_time_eq(sig.as_bytes(), BASE64.encode(hex::encode(d)).as_bytes());
    let hex = |d: &[u8; 32]| hex::decode(sig).is_ok_and(|given| constant_time_eq(&given, d));
    let base64_raw = |d: &[u8; 32]| BASE64.decode(sig).is_ok_and(|given| constant_time_eq(&given, d));
    match scheme {
        SignatureScheme::HexBody => verify_hex(secret, body, sig),
        SignatureScheme::Base64HexUrlBody => with_url(&base64_hex),
        SignatureScheme::HexUrlBody => with_url(&hex),
        SignatureScheme::Base64UrlBody => with_url(&base64_raw),
        SignatureScheme::Any => {
            hex(&hmac_sha256(secret, body)) || with_url(&base64_hex) || with_url(&hex) || with_url(&base64_raw)
        }
    }
}

/// Verify `request` (before reading its body) and parse it.
pub(crate) fn verify(config: &TakealotConfig, request: &WebhookRequest) -> Result<WebhookEvent, WebhookRejection> {
    let Some(secret) = &config.webhook_secret else {
        return Err(WebhookRejection::NotAccepted("no Takealot webhook secret is configured".into()));
    };
    let Some(signature) = request.header_value(SIGNATURE_HEADER).filter(|s| !s.trim().is_empty()) else {
        return Err(WebhookRejection::Unsigned { header: SIGNATURE_HEADER.into() });
    };
    let url = request.url().or(config.webhook_url.as_deref());
    if !signature_matches(config.signature_scheme, secret.expose_secret().as_bytes(), url, request.body(), signature) {
        return Err(WebhookRejection::BadSignature);
    }
    let topic = request
        .header_value(EVENT_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| WebhookRejection::Malformed(format!("no {EVENT_HEADER} header")))?
        .to_owned();
    let delivery = request.header_value(DELIVERY_HEADER).map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    let sent_at = shaped(&topic, request.body())?;
    let payload = parse(&topic, request.body(), &SalesFormat::of(config))?;
    Ok(WebhookEvent::new(delivery, topic, payload).with_sent_at(sent_at))
}

/// What each event's body must have, and which of its fields dates it: the documented shapes
/// (platform notes §3.5). Offers need only their id (a mistaken shape there would refuse a harmless
/// re-read); a batch has `status`, which an offer event carrying a `batch_id` lacks.
fn shape(topic: &str) -> Option<(&'static [&'static str], Option<&'static str>)> {
    Some(match topic.to_ascii_lowercase().as_str() {
        "new leadtime order" | "new lead time order" => {
            (&["order_id", "order_item_id", "offer", "quantity"], Some("event_date"))
        }
        "new drop ship order" | "new dropship order" => (&["order_id", "offers"], Some("event_date")),
        "sale status changed" | "sales status changed" => (&["sale"], Some("event_timestamp_utc")),
        "offer updated" | "offer created" => (&["offer_id"], None),
        "batch completed" => (&["batch_id", "status"], None),
        _ => return None,
    })
}

/// Checks that the body has the shape `topic` documents; the time it carries, if any. Only a full date
/// and time dates a delivery (a bare date would make every delivery look hours old).
fn shaped(topic: &str, body: &[u8]) -> Result<Option<jiff::Timestamp>, WebhookRejection> {
    let Some((fields, dated_by)) = shape(topic) else {
        return Err(WebhookRejection::UnsupportedTopic(topic.to_owned()));
    };
    let value: Value = serde_json::from_slice(body).map_err(malformed)?;
    let object = require_fields(topic, &value, fields)?;
    let when = dated_by.and_then(|f| object.get(f)).and_then(Value::as_str).filter(|t| t.contains('T'));
    Ok(when.and_then(|t| parse_when(Some(t))))
}

fn malformed(e: serde_json::Error) -> WebhookRejection {
    WebhookRejection::Malformed(format!("the body is not the JSON expected: {e}"))
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[derive(Deserialize)]
struct OfferRef {
    #[serde(default)]
    offer_id: Value,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    leadtime_stock: Vec<WarehouseStock>,
}

#[derive(Deserialize)]
struct LeadtimeOrder {
    order_id: Value,
    #[serde(default)]
    order_item_id: Value,
    offer: OfferRef,
    #[serde(default)]
    quantity: Option<i64>,
    #[serde(default)]
    total_selling_price: Option<i64>,
    #[serde(default)]
    event_date: Option<String>,
}

#[derive(Deserialize)]
struct DropShipItem {
    offer: OfferRef,
    #[serde(default)]
    quantity_required: Option<i64>,
}

#[derive(Deserialize)]
struct DropShipOrder {
    order_id: Value,
    #[serde(default)]
    offers: Vec<DropShipItem>,
    #[serde(default)]
    event_date: Option<String>,
}

#[derive(Deserialize)]
struct SaleChanged {
    sale: wire::Sale,
    #[serde(default)]
    event_timestamp_utc: Option<String>,
}

#[derive(Deserialize)]
struct OfferEvent {
    #[serde(default)]
    offer_id: Value,
    #[serde(default)]
    merchant_sku: Option<String>,
    #[serde(default)]
    sku: Option<String>,
}

#[derive(Deserialize)]
struct BatchDone {
    batch_id: Value,
    #[serde(default)]
    status: Option<String>,
}

fn qty(q: Option<i64>) -> u32 {
    q.and_then(|q| u32::try_from(q).ok()).unwrap_or(0)
}

fn now_or(raw: Option<&str>) -> jiff::Timestamp {
    parse_when(raw).unwrap_or_else(jiff::Timestamp::now)
}

/// Parse a verified body by event name. Names are matched case-insensitively; "Sales Status Changed" is
/// accepted as well as "Sale Status Changed" (both spellings appear in public code).
pub(crate) fn parse(topic: &str, body: &[u8], sales: &SalesFormat) -> Result<WebhookPayload, WebhookRejection> {
    let t = topic.to_ascii_lowercase();
    match t.as_str() {
        "new leadtime order" | "new lead time order" => {
            let o: LeadtimeOrder = serde_json::from_slice(body).map_err(malformed)?;
            let order_id = id_text(&o.order_id).ok_or_else(|| WebhookRejection::Malformed("no order_id".into()))?;
            let quantity = qty(o.quantity);
            let line_id = id_text(&o.order_item_id).unwrap_or_else(|| order_id.clone());
            let mut line = OrderLine::new(line_id, o.offer.sku.clone().unwrap_or_default(), quantity);
            if let Some(offer) = id_text(&o.offer.offer_id) {
                line = line.with_listing(offer);
            }
            if let Some(total) = o.total_selling_price
                && quantity > 0
            {
                line = line.with_unit_price(Money::new(Decimal::from(total) / Decimal::from(quantity), Currency::ZAR));
            }
            let at = now_or(o.event_date.as_deref());
            let _ = &o.offer.leadtime_stock;
            Ok(WebhookPayload::Order(Order::new(order_id, OrderStatus::Open, topic, vec![line], at, at)))
        }
        "new drop ship order" | "new dropship order" => {
            let o: DropShipOrder = serde_json::from_slice(body).map_err(malformed)?;
            let order_id = id_text(&o.order_id).ok_or_else(|| WebhookRejection::Malformed("no order_id".into()))?;
            let lines = o
                .offers
                .iter()
                .map(|item| {
                    let offer = id_text(&item.offer.offer_id);
                    let line_id = format!("{order_id}-{}", offer.as_deref().unwrap_or_default());
                    let mut line = OrderLine::new(
                        line_id,
                        item.offer.sku.clone().unwrap_or_default(),
                        qty(item.quantity_required),
                    )
                    .with_fulfilment(Fulfilment::Merchant);
                    if let Some(offer) = offer {
                        line = line.with_listing(offer);
                    }
                    line
                })
                .collect();
            let at = now_or(o.event_date.as_deref());
            Ok(WebhookPayload::Order(Order::new(order_id, OrderStatus::Open, topic, lines, at, at)))
        }
        "sale status changed" | "sales status changed" => {
            let o: SaleChanged = serde_json::from_slice(body).map_err(malformed)?;
            let order_id = o.sale.order_id.clone().ok_or_else(|| WebhookRejection::Malformed("no order_id".into()))?;
            let updated = parse_when(o.event_timestamp_utc.as_deref());
            let order = order_from_sales(&order_id, &[&o.sale], updated, sales, "the Sale Status Changed delivery")
                .map_err(|e| WebhookRejection::Malformed(e.to_string()))?;
            Ok(WebhookPayload::Order(order))
        }
        "offer updated" | "offer created" => {
            let o: OfferEvent = serde_json::from_slice(body).map_err(malformed)?;
            Ok(WebhookPayload::ListingChanged {
                listing: id_text(&o.offer_id).map(Into::into),
                channel_sku: o.merchant_sku.or(o.sku),
            })
        }
        "batch completed" => {
            let o: BatchDone = serde_json::from_slice(body).map_err(malformed)?;
            let batch_id = id_text(&o.batch_id).ok_or_else(|| WebhookRejection::Malformed("no batch_id".into()))?;
            let succeeded = o.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("success"));
            Ok(WebhookPayload::BatchCompleted { batch_id, succeeded })
        }
        _ => Err(WebhookRejection::UnsupportedTopic(topic.to_owned())),
    }
}
