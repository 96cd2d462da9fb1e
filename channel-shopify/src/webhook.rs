//! Verifying and parsing Shopify webhook deliveries.
//!
//! Shopify signs the body only (`X-Shopify-Hmac-Sha256`); the topic, ids and `X-Shopify-Triggered-At`
//! headers are not signed. So a body is parsed as the shape its topic documents and refused
//! ([`WebhookRejection::TopicMismatch`]) when it has another one: a captured order resent as
//! `app/uninstalled` is not an uninstall. An `app/uninstalled` body (the Shop resource) must name the
//! configured shop in its signed `myshopify_domain`. [`WebhookEvent::sent_at`] is the older of
//! `X-Shopify-Triggered-At` and the signed body's own event time (`updated_at` of orders and inventory
//! levels), so a forged header cannot make an old body fresh; the engine applies the window
//! (`webhook_max_age_secs`, see `docs/fidelity.md`).

use std::str::FromStr;

use channel_core::jiff::Timestamp;
use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::ExposeSecret;
use channel_core::webhook::{require_fields, verify_base64};
use channel_core::{
    Currency, InventoryChange, Money, Order, OrderLine, WebhookEvent, WebhookPayload, WebhookRejection, WebhookRequest,
};
use serde::Deserialize;
use serde_json::Value;

use crate::config::ShopifyConfig;
use crate::map::{gid, status_from};

/// The legacy signature header.
pub const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";

/// A Shopify webhook header: the un-prefixed `shopify-<name>` form wins over `X-Shopify-<name>`.
pub fn header<'r>(request: &'r WebhookRequest, name: &str) -> Option<&'r str> {
    request
        .header_value(&format!("shopify-{name}"))
        .or_else(|| request.header_value(&format!("x-shopify-{name}")))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

pub(crate) fn verify(
    config: &ShopifyConfig,
    location: Option<&str>,
    request: &WebhookRequest,
) -> Result<WebhookEvent, WebhookRejection> {
    let Some(secret) = &config.webhook_secret else {
        return Err(WebhookRejection::NotAccepted("no Shopify webhook secret is configured".into()));
    };
    let Some(signature) = header(request, "hmac-sha256") else {
        return Err(WebhookRejection::Unsigned { header: HMAC_HEADER.into() });
    };
    if !verify_base64(secret.expose_secret().as_bytes(), request.body(), signature) {
        return Err(WebhookRejection::BadSignature);
    }
    let topic = header(request, "topic").ok_or_else(|| WebhookRejection::Malformed("no topic header".into()))?;
    let delivery = header(request, "event-id").or_else(|| header(request, "webhook-id")).map(str::to_owned);
    let triggered = match header(request, "triggered-at") {
        Some(t) => Some(t.parse::<Timestamp>().map_err(|e| {
            WebhookRejection::Malformed(format!("X-Shopify-Triggered-At {t:?} is not an ISO 8601 time: {e}"))
        })?),
        None => None,
    };
    let body = shaped(topic, request.body())?;
    if topic == "app/uninstalled" {
        same_shop(config, &body)?;
    }
    // Orders and inventory levels are saved by the change that triggers the delivery; a product's or
    // shop's `updated_at` need not be (and a product change only makes the listing be read again).
    let event_time = match topic {
        "app/uninstalled" | "products/update" => None,
        _ => body.get("updated_at").and_then(Value::as_str).and_then(|t| t.parse::<Timestamp>().ok()),
    };
    let sent_at = match (triggered, event_time) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let payload = parse(topic, request.body(), location)?;
    Ok(WebhookEvent::new(delivery, topic, payload).with_sent_at(sent_at))
}

/// The fields that make a body the resource its topic documents
/// (<https://shopify.dev/docs/api/webhooks?reference=toml#list-of-topics>; the REST resources in
/// `fixtures/shopify/`): an order has `line_items`, an inventory level `inventory_item_id` and
/// `location_id`, a product `variants`, the shop (`app/uninstalled`) `myshopify_domain`. `None` for topics
/// this adapter does not handle.
fn required_fields(topic: &str) -> Option<&'static [&'static str]> {
    Some(match topic {
        "orders/create" | "orders/updated" | "orders/cancelled" => &["id", "created_at", "line_items"],
        "inventory_levels/update" => &["inventory_item_id", "location_id", "available"],
        "products/update" => &["id", "variants"],
        "app/uninstalled" => &["id", "myshopify_domain"],
        _ => return None,
    })
}

/// The body as JSON, checked to have the shape `topic` documents.
fn shaped(topic: &str, body: &[u8]) -> Result<Value, WebhookRejection> {
    let Some(fields) = required_fields(topic) else {
        return Err(WebhookRejection::UnsupportedTopic(topic.to_owned()));
    };
    let value: Value = serde_json::from_slice(body).map_err(malformed)?;
    require_fields(topic, &value, fields)?;
    Ok(value)
}

/// `my-shop` → `my-shop.myshopify.com`; `https://My-Shop.myshopify.com/` → `my-shop.myshopify.com`.
fn shop_host(domain: &str) -> String {
    let host = domain.trim().trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let host = host.to_ascii_lowercase();
    if host.contains('.') { host } else { format!("{host}.myshopify.com") }
}

/// An uninstall of another shop (the body is signed, so its `myshopify_domain` is what Shopify sent) is
/// not this store's.
fn same_shop(config: &ShopifyConfig, body: &Value) -> Result<(), WebhookRejection> {
    let theirs = body.get("myshopify_domain").and_then(Value::as_str).map(shop_host).unwrap_or_default();
    let ours = shop_host(&config.shop_domain);
    if theirs == ours {
        return Ok(());
    }
    Err(WebhookRejection::TopicMismatch {
        topic: "app/uninstalled".into(),
        detail: format!("the shop is {theirs:?}, not {ours:?}"),
    })
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

/// A REST order (`orders/*` payloads; `fixtures/shopify/rest_order.json`).
#[derive(Debug, Deserialize)]
pub struct RestOrder {
    /// The order id.
    pub id: Value,
    /// ISO 8601.
    #[serde(default)]
    pub created_at: Option<String>,
    /// ISO 8601.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Set when cancelled.
    #[serde(default)]
    pub cancelled_at: Option<String>,
    /// `paid`, `refunded`, …
    #[serde(default)]
    pub financial_status: Option<String>,
    /// `fulfilled`, `partial`, `null`.
    #[serde(default)]
    pub fulfillment_status: Option<String>,
    /// The order currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Lines.
    #[serde(default)]
    pub line_items: Vec<RestLine>,
    /// Refunds.
    #[serde(default)]
    pub refunds: Option<Vec<RestRefund>>,
}

/// A REST line item.
#[derive(Debug, Deserialize)]
pub struct RestLine {
    /// The line id.
    pub id: Value,
    /// SKU.
    #[serde(default)]
    pub sku: Option<String>,
    /// Units.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Units after removals and refunds, where sent.
    #[serde(default)]
    pub current_quantity: Option<u32>,
    /// Unit price as a decimal string.
    #[serde(default)]
    pub price: Option<Value>,
}

/// A REST refund.
#[derive(Debug, Deserialize)]
pub struct RestRefund {
    /// Refunded lines.
    #[serde(default)]
    pub refund_line_items: Vec<RestRefundLine>,
}

/// A refunded line.
#[derive(Debug, Deserialize)]
pub struct RestRefundLine {
    /// The line.
    pub line_item_id: Value,
    /// Units.
    #[serde(default)]
    pub quantity: Option<u32>,
}

impl RestOrder {
    /// As a stocksync [`Order`].
    pub fn to_order(&self) -> Option<Order> {
        let id = id_text(&self.id)?;
        let created = self.created_at.as_deref().and_then(|t| t.parse().ok())?;
        let updated = self.updated_at.as_deref().and_then(|t| t.parse().ok()).unwrap_or(created);
        let financial = self.financial_status.clone().unwrap_or_default();
        let fulfillment = self.fulfillment_status.clone().unwrap_or_default();
        let cancelled = self.cancelled_at.is_some();
        let currency = self.currency.as_deref().and_then(|c| Currency::new(c).ok());
        let lines = self
            .line_items
            .iter()
            .filter_map(|l| {
                let line_id = id_text(&l.id)?;
                let quantity = l.quantity.unwrap_or(0);
                let refunded_by_refunds: u32 = self
                    .refunds
                    .iter()
                    .flatten()
                    .flat_map(|r| &r.refund_line_items)
                    .filter(|r| id_text(&r.line_item_id).as_deref() == Some(line_id.as_str()))
                    .filter_map(|r| r.quantity)
                    .sum();
                let removed = l.current_quantity.map_or(0, |c| quantity.saturating_sub(c));
                let mut line = OrderLine::new(line_id, l.sku.clone().unwrap_or_default(), quantity)
                    .with_refunded(refunded_by_refunds.max(removed).min(quantity));
                let price = l.price.as_ref().and_then(|p| match p {
                    Value::String(s) => Decimal::from_str(s).ok(),
                    Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
                    _ => None,
                });
                if let (Some(p), Some(c)) = (price, currency) {
                    line = line.with_unit_price(Money::new(p, c));
                }
                Some(line)
            })
            .collect();
        let status = status_from(cancelled, &financial, &fulfillment);
        let channel_status = if cancelled {
            format!("cancelled/{financial}/{fulfillment}")
        } else {
            format!("{financial}/{fulfillment}")
        };
        Some(Order::new(id, status, channel_status, lines, created, updated))
    }
}

/// An `inventory_levels/update` payload (`fixtures/shopify/rest_inventory_level.json`).
#[derive(Debug, Deserialize)]
pub struct RestInventoryLevel {
    /// The inventory item.
    pub inventory_item_id: Value,
    /// The location.
    #[serde(default)]
    pub location_id: Value,
    /// `available` now.
    #[serde(default)]
    pub available: Option<i64>,
}

/// A `products/update` payload (`fixtures/shopify/rest_product.json`).
#[derive(Debug, Deserialize)]
pub struct RestProduct {
    /// The product id.
    pub id: Value,
    /// Its variants.
    #[serde(default)]
    pub variants: Vec<RestVariant>,
}

/// A REST variant.
#[derive(Debug, Deserialize)]
pub struct RestVariant {
    /// SKU.
    #[serde(default)]
    pub sku: Option<String>,
    /// The inventory item.
    #[serde(default)]
    pub inventory_item_id: Value,
}

/// Parse a verified body by topic (the shape is checked by [`Channel::verify_webhook`] first).
///
/// [`Channel::verify_webhook`]: channel_core::Channel::verify_webhook
pub fn parse(topic: &str, body: &[u8], location: Option<&str>) -> Result<WebhookPayload, WebhookRejection> {
    match topic {
        "orders/create" | "orders/updated" | "orders/cancelled" => {
            let o: RestOrder = serde_json::from_slice(body).map_err(malformed)?;
            o.to_order()
                .map(WebhookPayload::Order)
                .ok_or_else(|| WebhookRejection::Malformed("order without id or created_at".into()))
        }
        "inventory_levels/update" => {
            let l: RestInventoryLevel = serde_json::from_slice(body).map_err(malformed)?;
            let item = id_text(&l.inventory_item_id).map(|i| gid("InventoryItem", &i));
            let at = id_text(&l.location_id).map(|i| gid("Location", &i));
            match (location, at) {
                // Another location's stock is not this listing's quantity: re-read instead.
                (Some(ours), Some(theirs)) if ours != theirs => {
                    Ok(WebhookPayload::ListingChanged { listing: item.map(Into::into), channel_sku: None })
                }
                _ => Ok(WebhookPayload::Inventory(InventoryChange::new(item.map(Into::into), None, l.available))),
            }
        }
        "products/update" => {
            let p: RestProduct = serde_json::from_slice(body).map_err(malformed)?;
            let only = match p.variants.as_slice() {
                [v] => Some(v),
                _ => None,
            };
            Ok(WebhookPayload::ListingChanged {
                listing: only.and_then(|v| id_text(&v.inventory_item_id)).map(|i| gid("InventoryItem", &i).into()),
                channel_sku: only.and_then(|v| v.sku.clone()),
            })
        }
        "app/uninstalled" => Ok(WebhookPayload::Uninstalled),
        other => Err(WebhookRejection::UnsupportedTopic(other.to_owned())),
    }
}
