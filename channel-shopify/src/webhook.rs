//! Verifying and parsing Shopify webhook deliveries.

use std::str::FromStr;

use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::ExposeSecret;
use channel_core::webhook::verify_base64;
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
    let payload = parse(topic, request.body(), location)?;
    Ok(WebhookEvent::new(delivery, topic, payload))
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

/// Parse a verified body by topic.
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
