//! SP-API notifications, as they arrive from SQS or EventBridge (Amazon delivers no HTTPS webhooks).
//!
//! [`parse`] turns the message body a queue consumer receives into a [`WebhookEvent`] the engine
//! understands, the same type [`channel_core::Channel::verify_webhook`] produces for other channels:
//!
//! | `NotificationType` | payload |
//! |---|---|
//! | `ORDER_CHANGE` | [`WebhookPayload::Order`] from the order summary (AFN lines channel-fulfilled) |
//! | `LISTINGS_ITEM_MFN_QUANTITY_CHANGE` | [`WebhookPayload::Inventory`], merchant quantity of listing `<sku>` |
//! | `FBA_INVENTORY_AVAILABILITY_CHANGES` | [`WebhookPayload::Inventory`], fulfillable FBA quantity of listing `<sku>:fba` |
//!
//! The delivery id is `NotificationMetadata.NotificationId`. Authenticity comes from the queue's access
//! policy, not a signature, so there is nothing to verify here. Accepted envelopes: the notification JSON
//! itself (SQS), an EventBridge event (`detail` holds it), or an SNS envelope (`Message` holds it as text).
//!
//! The payload must have the fields its `NotificationType`'s schema requires (`fixtures/amazon/*.json`:
//! `OrderChangeNotification`; `Sku` and `Quantity`; `SKU` and `FulfillmentInventoryByMarketplace`), and an
//! EventBridge event's `detail-type` must be the notification's type, or it is refused with
//! [`WebhookRejection::TopicMismatch`]. [`WebhookEvent::sent_at`] is `NotificationMetadata.PublishTime`
//! (else `EventTime`), for the engine's window (`notification_max_age_secs`, see `docs/fidelity.md`).

use channel_core::{
    Fulfilment, InventoryChange, Order, OrderLine, OrderStatus, WebhookEvent, WebhookPayload, WebhookRejection,
};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::map::{fba_listing_id, map_order_status};

/// A notification envelope.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Notification {
    /// `ORDER_CHANGE`, …
    notification_type: String,
    /// When the event happened.
    #[serde(default)]
    event_time: Option<String>,
    /// The payload.
    #[serde(default)]
    payload: Value,
    /// Ids and the publish time.
    #[serde(default)]
    notification_metadata: Option<NotificationMetadata>,
}

/// `NotificationMetadata`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationMetadata {
    /// The dedupe key.
    #[serde(default)]
    notification_id: Option<String>,
    /// When Amazon published the notification.
    #[serde(default)]
    publish_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChange {
    amazon_order_id: String,
    #[serde(default)]
    order_change_trigger: Option<Value>,
    #[serde(default)]
    summary: Option<OrderSummary>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderSummary {
    #[serde(default)]
    order_status: Option<String>,
    #[serde(default)]
    purchase_date: Option<String>,
    #[serde(default)]
    fulfillment_type: Option<String>,
    #[serde(default)]
    order_items: Vec<OrderChangeItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChangeItem {
    order_item_id: String,
    #[serde(rename = "SellerSKU", default)]
    seller_sku: Option<String>,
    #[serde(default)]
    quantity: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MfnQuantity {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    quantity: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct FbaAvailability {
    #[serde(rename = "SKU", default)]
    sku: String,
    #[serde(rename = "FulfillmentInventoryByMarketplace", default)]
    by_marketplace: Vec<FbaMarketplace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FbaMarketplace {
    #[serde(default)]
    marketplace_id: String,
    #[serde(default)]
    fulfillment_inventory: Option<FbaInventory>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FbaInventory {
    #[serde(default)]
    fulfillable: Option<i64>,
}

fn malformed(what: &str, e: impl std::fmt::Display) -> WebhookRejection {
    WebhookRejection::Malformed(format!("{what}: {e}"))
}

/// Unwrap EventBridge (`detail`) and SNS (`Message`) envelopes.
fn unwrap_envelope(v: Value) -> Result<Value, WebhookRejection> {
    if v.get("NotificationType").is_some() {
        return Ok(v);
    }
    if let Some(detail) = v.get("detail") {
        let inner = detail.get("NotificationType").and_then(Value::as_str);
        if let (Some(routed), Some(inner)) = (v.get("detail-type").and_then(Value::as_str), inner)
            && routed != inner
        {
            return Err(WebhookRejection::TopicMismatch {
                topic: routed.to_owned(),
                detail: format!("the event holds a {inner} notification"),
            });
        }
        return Ok(detail.clone());
    }
    if let Some(Value::String(message)) = v.get("Message") {
        return serde_json::from_str(message).map_err(|e| malformed("SNS Message", e));
    }
    Err(WebhookRejection::Malformed("not an SP-API notification (no NotificationType)".into()))
}

/// Parse a notification; FBA quantities are taken from the first marketplace in the payload.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, WebhookRejection> {
    parse_for(body, None)
}

/// Parse a notification; FBA quantities are taken from `marketplace_id` (or the first marketplace).
pub fn parse_for(body: &[u8], marketplace_id: Option<&str>) -> Result<WebhookEvent, WebhookRejection> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| malformed("notification body", e))?;
    let n: Notification = serde_json::from_value(unwrap_envelope(raw)?).map_err(|e| malformed("notification", e))?;
    let delivery = n.notification_metadata.as_ref().and_then(|m| m.notification_id.clone());
    let sent_at = n
        .notification_metadata
        .as_ref()
        .and_then(|m| m.publish_time.as_deref())
        .or(n.event_time.as_deref())
        .and_then(|t| t.parse::<Timestamp>().ok());
    shaped(&n)?;
    let payload = match n.notification_type.as_str() {
        "ORDER_CHANGE" => order_change(&n)?,
        "LISTINGS_ITEM_MFN_QUANTITY_CHANGE" => {
            let p: MfnQuantity = serde_json::from_value(n.payload.clone()).map_err(|e| malformed("payload", e))?;
            if p.sku.is_empty() {
                return Err(WebhookRejection::Malformed("LISTINGS_ITEM_MFN_QUANTITY_CHANGE without Sku".into()));
            }
            WebhookPayload::Inventory(InventoryChange::new(Some(p.sku.clone().into()), Some(p.sku), p.quantity))
        }
        "FBA_INVENTORY_AVAILABILITY_CHANGES" => {
            let p: FbaAvailability = serde_json::from_value(n.payload.clone()).map_err(|e| malformed("payload", e))?;
            if p.sku.is_empty() {
                return Err(WebhookRejection::Malformed("FBA_INVENTORY_AVAILABILITY_CHANGES without SKU".into()));
            }
            let entry = match marketplace_id {
                Some(m) => p.by_marketplace.iter().find(|e| e.marketplace_id == m),
                None => p.by_marketplace.first(),
            };
            let quantity = entry.and_then(|e| e.fulfillment_inventory.as_ref()).and_then(|i| i.fulfillable);
            WebhookPayload::Inventory(
                InventoryChange::new(Some(fba_listing_id(&p.sku)), Some(p.sku), quantity)
                    .with_fulfilment(Fulfilment::Channel),
            )
        }
        other => return Err(WebhookRejection::UnsupportedTopic(other.to_owned())),
    };
    Ok(WebhookEvent::new(delivery, n.notification_type, payload).with_sent_at(sent_at))
}

/// The payload fields each notification type's schema requires (`fixtures/amazon/*.json`); a payload
/// without them is another notification's (or none).
fn shaped(n: &Notification) -> Result<(), WebhookRejection> {
    let fields: &[&str] = match n.notification_type.as_str() {
        "ORDER_CHANGE" => &["OrderChangeNotification"],
        "LISTINGS_ITEM_MFN_QUANTITY_CHANGE" => &["Sku", "Quantity"],
        "FBA_INVENTORY_AVAILABILITY_CHANGES" => &["SKU", "FulfillmentInventoryByMarketplace"],
        _ => return Ok(()),
    };
    let missing: Vec<&str> = fields.iter().copied().filter(|f| n.payload.get(*f).is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(WebhookRejection::TopicMismatch {
        topic: n.notification_type.clone(),
        detail: format!("the payload has no {}", missing.join(", ")),
    })
}

fn order_change(n: &Notification) -> Result<WebhookPayload, WebhookRejection> {
    let change = n.payload.get("OrderChangeNotification").cloned().unwrap_or_else(|| n.payload.clone());
    let change: OrderChange = serde_json::from_value(change).map_err(|e| malformed("OrderChangeNotification", e))?;
    let Some(summary) = change.summary else {
        return Err(WebhookRejection::Malformed(format!(
            "ORDER_CHANGE for {} has no Summary: read the order with getOrder (Orders API v2026-01-01)",
            change.amazon_order_id
        )));
    };
    let ts = |s: Option<&str>| s.and_then(|s| s.parse::<Timestamp>().ok());
    let changed_at = change
        .order_change_trigger
        .as_ref()
        .and_then(|t| t.get("TimeOfOrderChange"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .or_else(|| ts(n.event_time.as_deref()))
        .ok_or_else(|| WebhookRejection::Malformed("ORDER_CHANGE without a time".into()))?;
    let created = ts(summary.purchase_date.as_deref()).unwrap_or(changed_at);
    let afn = summary.fulfillment_type.as_deref() == Some("AFN");
    let channel_status = summary.order_status.unwrap_or_default();
    let lines = summary
        .order_items
        .iter()
        .map(|i| {
            let sku = i.seller_sku.clone().unwrap_or_default();
            let q = u32::try_from(i.quantity.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
            let line = OrderLine::new(i.order_item_id.clone(), sku.clone(), q);
            if afn {
                line.with_fulfilment(Fulfilment::Channel).with_listing(fba_listing_id(&sku))
            } else {
                line.with_listing(sku)
            }
        })
        .collect();
    let status: OrderStatus = map_order_status(&channel_status);
    Ok(WebhookPayload::Order(Order::new(change.amazon_order_id, status, channel_status, lines, created, changed_at)))
}
