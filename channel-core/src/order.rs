//! Orders, their lines, shipments and tracking.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Fulfilment, ListingId, Money, OrderId};

/// Where an order stands, normalised across channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OrderStatus {
    /// Placed, not yet paid or accepted (stock is already committed on most channels).
    Pending,
    /// Paid / accepted, waiting to ship.
    Open,
    /// Shipped (fully or partly).
    Shipped,
    /// Delivered to the customer.
    Delivered,
    /// Cancelled before shipping: the stock comes back by the store's policy.
    Cancelled,
    /// Returned or refunded after sale: the stock comes back by the store's policy.
    Returned,
}

impl OrderStatus {
    /// Whether the order no longer holds stock (cancelled or returned).
    pub fn releases_stock(self) -> bool {
        matches!(self, Self::Cancelled | Self::Returned)
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderLine {
    /// The channel's line id (unique within the order); the unit of exactly-once import.
    pub line_id: String,
    /// The SKU as the channel spells it.
    pub channel_sku: String,
    /// The listing sold, where the channel says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<ListingId>,
    /// Units ordered.
    pub quantity: u32,
    /// Units refunded or returned so far.
    #[serde(default)]
    pub refunded_quantity: u32,
    /// Who ships this line: channel-fulfilled lines (FBA, Takealot DC) never touch merchant stock.
    pub fulfilment: Fulfilment,
    /// Price per unit, where the channel reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
}

impl OrderLine {
    /// A merchant-fulfilled line.
    pub fn new(line_id: impl Into<String>, channel_sku: impl Into<String>, quantity: u32) -> Self {
        Self {
            line_id: line_id.into(),
            channel_sku: channel_sku.into(),
            listing: None,
            quantity,
            refunded_quantity: 0,
            fulfilment: Fulfilment::Merchant,
            unit_price: None,
        }
    }

    /// Set the fulfilment (builder style).
    #[must_use]
    pub fn with_fulfilment(mut self, fulfilment: Fulfilment) -> Self {
        self.fulfilment = fulfilment;
        self
    }

    /// Set the listing (builder style).
    #[must_use]
    pub fn with_listing(mut self, listing: impl Into<ListingId>) -> Self {
        self.listing = Some(listing.into());
        self
    }

    /// Set the refunded quantity (builder style).
    #[must_use]
    pub fn with_refunded(mut self, refunded: u32) -> Self {
        self.refunded_quantity = refunded;
        self
    }

    /// Set the unit price (builder style).
    #[must_use]
    pub fn with_unit_price(mut self, price: Money) -> Self {
        self.unit_price = Some(price);
        self
    }
}

/// An order as a channel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Order {
    /// The channel's order id.
    pub id: OrderId,
    /// Normalised status.
    pub status: OrderStatus,
    /// The status exactly as the channel spells it (for logs and the seller).
    pub channel_status: String,
    /// The lines.
    pub lines: Vec<OrderLine>,
    /// When the order was placed.
    pub created_at: Timestamp,
    /// When the channel last changed it (the order cursor moves on this).
    pub updated_at: Timestamp,
}

impl Order {
    /// An order with the given lines.
    pub fn new(
        id: impl Into<OrderId>,
        status: OrderStatus,
        channel_status: impl Into<String>,
        lines: Vec<OrderLine>,
        created_at: Timestamp,
        updated_at: Timestamp,
    ) -> Self {
        Self { id: id.into(), status, channel_status: channel_status.into(), lines, created_at, updated_at }
    }
}

/// A tracking number for a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tracking {
    /// The carrier's name as the channel knows it (`"DHL"`, `"The Courier Guy"`).
    pub carrier: String,
    /// The tracking number.
    pub number: String,
    /// A tracking URL, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Tracking {
    /// A tracking number from a carrier.
    pub fn new(carrier: impl Into<String>, number: impl Into<String>) -> Self {
        Self { carrier: carrier.into(), number: number.into(), url: None }
    }
}

/// A shipment of (some of) an order's lines, to be reported back to the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Shipment {
    /// The order shipped.
    pub order: OrderId,
    /// `(line id, quantity)` shipped; empty means every line in full.
    #[serde(default)]
    pub lines: Vec<(String, u32)>,
    /// How to track it.
    pub tracking: Tracking,
    /// When it shipped.
    pub shipped_at: Timestamp,
}

impl Shipment {
    /// A shipment of the whole order.
    pub fn whole_order(order: impl Into<OrderId>, tracking: Tracking, shipped_at: Timestamp) -> Self {
        Self { order: order.into(), lines: Vec::new(), tracking, shipped_at }
    }
}

/// Where to resume reading orders: everything changed at or after `since`.
///
/// Adapters may return the same order again (windows overlap on purpose, so no change is missed);
/// the engine imports each (store, order, line) exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderCursor {
    /// Orders changed at or after this instant.
    pub since: Timestamp,
}

impl OrderCursor {
    /// A cursor at `since`.
    pub fn new(since: Timestamp) -> Self {
        Self { since }
    }
}

/// One page of orders and the cursor to resume after it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderPage {
    /// Orders on this page.
    pub orders: Vec<Order>,
    /// Persist this after the page's orders are imported; resuming from it loses nothing.
    pub next: OrderCursor,
}

impl OrderPage {
    /// A page.
    pub fn new(orders: Vec<Order>, next: OrderCursor) -> Self {
        Self { orders, next }
    }
}
