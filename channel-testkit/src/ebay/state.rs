//! eBay's model: inventory items keyed by SKU, one fixed-price offer each, orders with line items,
//! cancellations and refunds, and the seller's access tokens.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::sandbox::{ControlError, PlaceOrder, SeedProduct};

/// An error object as eBay's `Error` schema has it.
pub(super) fn error(error_id: i64, message: &str, category: &str) -> Value {
    json!({"errorId": error_id, "domain": "API_INVENTORY", "category": category, "message": message})
}

/// A fixed-price offer of one inventory item.
#[derive(Debug, Clone)]
pub(super) struct Offer {
    pub(super) offer_id: String,
    pub(super) listing_id: String,
    pub(super) price: Decimal,
}

/// An inventory item.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) quantity: i64,
    pub(super) offer: Option<Offer>,
    /// Revisions today (eBay allows 250 per listing per calendar day).
    pub(super) revisions: u32,
}

/// An order line.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) line_item_id: String,
    pub(super) sku: String,
    pub(super) legacy_item_id: String,
    pub(super) quantity: i64,
    pub(super) unit_price: Decimal,
    pub(super) refunded: Decimal,
    pub(super) shipped: i64,
}

/// An order.
#[derive(Debug, Clone)]
pub(super) struct Order {
    pub(super) order_id: String,
    pub(super) created: Timestamp,
    pub(super) modified: Timestamp,
    pub(super) cancelled: bool,
    pub(super) lines: Vec<Line>,
    pub(super) fulfillments: Vec<Value>,
}

impl Order {
    fn total(&self) -> Decimal {
        self.lines.iter().map(|l| l.unit_price * Decimal::from(l.quantity)).sum()
    }

    fn refunded(&self) -> Decimal {
        self.lines.iter().map(|l| l.refunded).sum()
    }

    fn payment_status(&self) -> &'static str {
        let refunded = self.refunded();
        if self.cancelled || (refunded > Decimal::ZERO && refunded >= self.total()) {
            "FULLY_REFUNDED"
        } else if refunded > Decimal::ZERO {
            "PARTIALLY_REFUNDED"
        } else {
            "PAID"
        }
    }

    fn fulfillment_status(&self) -> &'static str {
        let shipped: i64 = self.lines.iter().map(|l| l.shipped).sum();
        let total: i64 = self.lines.iter().map(|l| l.quantity).sum();
        if shipped == 0 {
            "NOT_STARTED"
        } else if shipped >= total {
            "FULFILLED"
        } else {
            "IN_PROGRESS"
        }
    }

    /// The order as `getOrders`/`getOrder` answer it.
    pub(super) fn to_json(&self, currency: &str) -> Value {
        let amount = |d: Decimal| json!({"value": format!("{:.2}", d), "currency": currency});
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|l| {
                let refunds: Vec<Value> = if l.refunded > Decimal::ZERO {
                    vec![json!({"amount": amount(l.refunded), "refundDate": fmt(self.modified), "refundId": format!("R-{}", l.line_item_id)})]
                } else {
                    Vec::new()
                };
                let status = if l.shipped >= l.quantity { "FULFILLED" } else if l.shipped > 0 { "IN_PROGRESS" } else { "NOT_STARTED" };
                json!({
                    "lineItemId": l.line_item_id, "legacyItemId": l.legacy_item_id, "sku": l.sku, "quantity": l.quantity,
                    "lineItemCost": amount(l.unit_price * Decimal::from(l.quantity)),
                    "total": amount(l.unit_price * Decimal::from(l.quantity)),
                    "lineItemFulfillmentStatus": status, "refunds": refunds, "soldFormat": "FIXED_PRICE",
                })
            })
            .collect();
        let cancel = if self.cancelled {
            json!({"cancelState": "CANCELED", "cancelledDate": fmt(self.modified), "cancelRequests": []})
        } else {
            json!({"cancelState": "NONE_REQUESTED", "cancelRequests": []})
        };
        json!({
            "orderId": self.order_id, "legacyOrderId": self.order_id,
            "creationDate": fmt(self.created), "lastModifiedDate": fmt(self.modified),
            "orderFulfillmentStatus": self.fulfillment_status(), "orderPaymentStatus": self.payment_status(),
            "cancelStatus": cancel, "sellerId": "sandbox_seller", "lineItems": lines,
            "pricingSummary": {"total": amount(self.total())},
        })
    }
}

/// eBay's timestamp format: UTC with milliseconds.
pub(super) fn fmt(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The platform's state.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) items: BTreeMap<String, Item>,
    pub(super) orders: Vec<Order>,
    /// Access tokens and when they expire.
    pub(super) tokens: HashMap<String, Instant>,
    /// Listings were created outside the Inventory API and not migrated: inventory reads see nothing.
    pub(super) not_migrated: bool,
    pub(super) next_id: u64,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn seed(&mut self, seed: &SeedProduct) -> Result<Value, ControlError> {
        if seed.sku.trim().is_empty() || seed.sku.len() > 50 {
            return Err(ControlError::Invalid("an eBay SKU has 1 to 50 characters".into()));
        }
        if seed.quantity < 0 {
            return Err(ControlError::Invalid("quantity must not be negative".into()));
        }
        let with_offer = seed.extra.get("offer").and_then(Value::as_bool).unwrap_or(true);
        let offer = if with_offer {
            let n = self.id();
            Some(Offer {
                offer_id: format!("{}", 5_000_000_000 + n),
                listing_id: format!("{}", 110_000_000_000 + n),
                price: seed.price.unwrap_or(Decimal::ONE),
            })
        } else {
            None
        };
        let ids = json!({
            "sku": seed.sku,
            "offer_id": offer.as_ref().map(|o| o.offer_id.clone()),
            "listing_id": offer.as_ref().map(|o| o.listing_id.clone()),
        });
        self.items.insert(seed.sku.clone(), Item { quantity: seed.quantity, offer, revisions: 0 });
        Ok(ids)
    }

    pub(super) fn place_order(&mut self, order: &PlaceOrder) -> Result<String, ControlError> {
        if order.quantity < 1 {
            return Err(ControlError::Invalid("quantity must be at least 1".into()));
        }
        let item = self
            .items
            .get(&order.sku)
            .ok_or_else(|| ControlError::NotFound(format!("no inventory item {}", order.sku)))?;
        let Some(offer) = item.offer.clone() else {
            return Err(ControlError::Invalid(format!("{} has no published offer", order.sku)));
        };
        if item.quantity < order.quantity {
            return Err(ControlError::Conflict(format!("only {} of {} available", item.quantity, order.sku)));
        }
        let n = self.id();
        let order_id = format!("{:02}-{:05}-{:05}", n % 100, n, 10_000 + n);
        let now = Timestamp::now();
        if let Some(item) = self.items.get_mut(&order.sku) {
            item.quantity -= order.quantity;
        }
        self.orders.push(Order {
            order_id: order_id.clone(),
            created: now,
            modified: now,
            cancelled: false,
            lines: vec![Line {
                line_item_id: format!("{}", 10_000_000_000 + n),
                sku: order.sku.clone(),
                legacy_item_id: offer.listing_id,
                quantity: order.quantity,
                unit_price: offer.price,
                refunded: Decimal::ZERO,
                shipped: 0,
            }],
            fulfillments: Vec::new(),
        });
        Ok(order_id)
    }

    pub(super) fn order_mut(&mut self, order_id: &str) -> Result<&mut Order, ControlError> {
        self.orders
            .iter_mut()
            .find(|o| o.order_id == order_id)
            .ok_or_else(|| ControlError::NotFound(format!("no order {order_id}")))
    }

    /// Cancels an unshipped order: the buyer is refunded in full and the quantity goes back on sale.
    pub(super) fn cancel_order(&mut self, order_id: &str) -> Result<(), ControlError> {
        let order = self.order_mut(order_id)?;
        if order.cancelled {
            return Ok(());
        }
        if order.lines.iter().any(|l| l.shipped > 0) {
            return Err(ControlError::Conflict("a shipped order cannot be cancelled".into()));
        }
        order.cancelled = true;
        order.modified = Timestamp::now();
        for line in &mut order.lines {
            line.refunded = line.unit_price * Decimal::from(line.quantity);
        }
        let restock: Vec<(String, i64)> = order.lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect();
        for (sku, quantity) in restock {
            if let Some(item) = self.items.get_mut(&sku) {
                item.quantity += quantity;
            }
        }
        Ok(())
    }

    /// Refunds `amount` on the order's first line (a seller-issued refund; stock is left alone).
    pub(super) fn refund(&mut self, order_id: &str, amount: Decimal) -> Result<(), ControlError> {
        let order = self.order_mut(order_id)?;
        let Some(line) = order.lines.first_mut() else { return Err(ControlError::Invalid("no lines".into())) };
        let max = line.unit_price * Decimal::from(line.quantity);
        line.refunded = (line.refunded + amount).min(max);
        order.modified = Timestamp::now();
        Ok(())
    }
}
