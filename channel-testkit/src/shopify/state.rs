//! Shopify's state: products, variants, inventory items and levels, orders with fulfillment orders, and
//! the rules the mutations enforce.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::ShopifyConfig;
use crate::sandbox::{ControlError, OrderFulfilment, PlaceOrder, SeedProduct};

/// `gid://shopify/{kind}/{id}`.
pub(super) fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of `gid://shopify/{kind}/{id}` (a trailing `?…` is ignored).
pub(super) fn parse_gid(kind: &str, value: &str) -> Option<u64> {
    let rest = value.strip_prefix("gid://shopify/")?.strip_prefix(kind)?.strip_prefix('/')?;
    rest.split('?').next()?.parse().ok()
}

fn ts(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn ts_ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// Stock of one inventory item at one location.
#[derive(Debug, Clone)]
pub(super) struct Level {
    pub(super) available: i64,
    pub(super) committed: i64,
    pub(super) updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct Variant {
    pub(super) id: u64,
    pub(super) product_id: u64,
    pub(super) sku: String,
    pub(super) price: Decimal,
    pub(super) compare_at_price: Option<Decimal>,
    pub(super) inventory_item_id: u64,
    pub(super) tracked: bool,
    pub(super) levels: BTreeMap<u64, Level>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct Product {
    pub(super) id: u64,
    pub(super) title: String,
    pub(super) variants: Vec<u64>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct LineItem {
    pub(super) id: u64,
    pub(super) variant_id: u64,
    pub(super) product_id: u64,
    pub(super) sku: String,
    pub(super) title: String,
    pub(super) quantity: i64,
    pub(super) price: Decimal,
}

#[derive(Debug, Clone)]
pub(super) struct FoLine {
    pub(super) id: u64,
    pub(super) line_item_id: u64,
    pub(super) total: i64,
    pub(super) remaining: i64,
}

#[derive(Debug, Clone)]
pub(super) struct FulfillmentOrder {
    pub(super) id: u64,
    pub(super) location_id: u64,
    pub(super) status: &'static str,
    pub(super) lines: Vec<FoLine>,
}

#[derive(Debug, Clone)]
pub(super) struct Fulfillment {
    pub(super) id: u64,
    pub(super) created_at: Timestamp,
    pub(super) tracking: Option<Value>,
    pub(super) lines: Vec<(u64, i64)>,
}

#[derive(Debug, Clone)]
pub(super) struct Order {
    pub(super) id: u64,
    pub(super) number: u64,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    pub(super) cancelled_at: Option<Timestamp>,
    pub(super) lines: Vec<LineItem>,
    pub(super) fulfillment_orders: Vec<FulfillmentOrder>,
    pub(super) fulfillments: Vec<Fulfillment>,
}

impl Order {
    fn fulfilled_units(&self) -> i64 {
        self.fulfillments.iter().flat_map(|f| f.lines.iter().map(|(_, q)| q)).sum()
    }

    fn ordered_units(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    fn fulfillment_status(&self) -> &'static str {
        let done = self.fulfilled_units();
        if done == 0 {
            "UNFULFILLED"
        } else if done >= self.ordered_units() {
            "FULFILLED"
        } else {
            "PARTIALLY_FULFILLED"
        }
    }
}

/// A webhook to fire once the state lock is released: topic and REST-shaped payload.
pub(super) type Event = (&'static str, Value);

/// A GraphQL error that fails the whole root field (answered in `errors`, nothing applied).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TopLevelError {
    pub(super) message: String,
    pub(super) code: &'static str,
}

impl TopLevelError {
    pub(super) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { message: message.into(), code }
    }
}

/// One entry of a mutation's `userErrors`, with a code of the mutation's documented enum.
fn user_error(code: &str, field: &[String], message: impl Into<String>) -> Value {
    json!({"__typename": "UserError", "code": code, "field": field, "message": message.into()})
}

/// A user error for a refusal whose code the documentation does not give: `code` is nullable in every
/// user error type, so the emulator answers `null` rather than invent one (`docs/fidelity.md`).
fn uncoded_error(field: &[String], message: impl Into<String>) -> Value {
    json!({"__typename": "UserError", "code": null, "field": field, "message": message.into()})
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// One item of an inventory mutation, where it sits in the input, and what the mutation sets.
#[derive(Clone, Copy)]
struct InventoryItemRequest<'a> {
    item: &'a Value,
    index: usize,
    list_key: &'a str,
    name: &'a str,
    adjust: bool,
}

/// A level an inventory mutation moves: its new `available` and by how much it moves.
struct PlannedLevel {
    variant: u64,
    location: u64,
    available: i64,
    delta: i64,
}

/// Checks an item's `changeFromQuantity` against the current quantity: required, `null` to skip the check,
/// otherwise an integer equal to `current`.
fn check_change_from(expected: Option<&Value>, current: i64, name: &str, at: &[String]) -> Result<(), Value> {
    match expected {
        None => Err(uncoded_error(
            at,
            "changeFromQuantity must be provided: pass the quantity you expect, or null to skip the check.",
        )),
        Some(Value::Null) => Ok(()),
        Some(expected) => match expected.as_i64() {
            Some(expected) if expected == current => Ok(()),
            Some(expected) => Err(user_error(
                "CHANGE_FROM_QUANTITY_STALE",
                at,
                format!("changeFromQuantity {expected} is stale: the current {name} quantity is {current}."),
            )),
            None => Err(uncoded_error(at, "changeFromQuantity must be an integer or null")),
        },
    }
}

/// Reasons `inventorySetQuantities` / `inventoryAdjustQuantities` accept.
pub const REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// What the idempotency store remembers of a key: the arguments it was first used with, and the payload
/// of a completed attempt (answered again to a duplicate) or that the attempt failed (a duplicate is
/// answered `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`).
#[derive(Debug, Clone)]
pub(super) struct Remembered {
    pub(super) arguments: Value,
    pub(super) payload: Option<Value>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    next_id: u64,
    next_order_number: u64,
    pub(super) products: BTreeMap<u64, Product>,
    pub(super) variants: BTreeMap<u64, Variant>,
    /// Inventory item id → variant id.
    pub(super) items: HashMap<u64, u64>,
    pub(super) orders: BTreeMap<u64, Order>,
    /// `@idempotent` key (per mutation) → what the first request under it did.
    pub(super) idempotency: HashMap<String, Remembered>,
    /// A user error code the next inventory mutation answers with (a control-surface fault).
    pub(super) next_user_error: Option<String>,
}

impl State {
    pub(super) fn new() -> Self {
        Self { next_id: 1_000_001, next_order_number: 1001, ..Self::default() }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn variant_by_sku(&self, sku: &str) -> Option<&Variant> {
        self.variants.values().find(|v| v.sku == sku)
    }

    pub(super) fn seed(&mut self, config: &ShopifyConfig, seed: &SeedProduct) -> Result<Value, ControlError> {
        if seed.sku.trim().is_empty() {
            return Err(ControlError::Invalid("sku must not be empty".into()));
        }
        if self.variant_by_sku(&seed.sku).is_some() {
            return Err(ControlError::Conflict(format!("a variant with SKU {} exists", seed.sku)));
        }
        let now = Timestamp::now();
        let product_id = self.id();
        let variant_id = self.id();
        let item_id = self.id();
        let tracked = seed.extra.get("tracked").and_then(Value::as_bool).unwrap_or(true);
        let compare_at_price = seed.extra_str("compare_at_price").and_then(|p| p.parse().ok());
        let location = config.primary_location_id();
        let mut levels = BTreeMap::new();
        levels.insert(
            location,
            Level { available: if tracked { seed.quantity } else { 0 }, committed: 0, updated_at: now },
        );
        self.variants.insert(
            variant_id,
            Variant {
                id: variant_id,
                product_id,
                sku: seed.sku.clone(),
                price: seed.price.unwrap_or_default(),
                compare_at_price,
                inventory_item_id: item_id,
                tracked,
                levels,
                created_at: now,
                updated_at: now,
            },
        );
        self.items.insert(item_id, variant_id);
        let title = seed.extra_str("title").map_or_else(|| seed.sku.clone(), str::to_owned);
        self.products.insert(
            product_id,
            Product { id: product_id, title, variants: vec![variant_id], created_at: now, updated_at: now },
        );
        Ok(json!({
            "product_id": gid("Product", product_id),
            "variant_id": gid("ProductVariant", variant_id),
            "inventory_item_id": gid("InventoryItem", item_id),
            "location_id": gid("Location", location),
        }))
    }

    fn level_event(&self, item: u64, location: u64) -> Option<Event> {
        let variant = self.variants.get(self.items.get(&item)?)?;
        let level = variant.levels.get(&location)?;
        Some((
            "inventory_levels/update",
            json!({
                "inventory_item_id": item,
                "location_id": location,
                "available": level.available,
                "updated_at": ts(level.updated_at),
                "admin_graphql_api_id": format!("gid://shopify/InventoryLevel/{location}?inventory_item_id={item}"),
            }),
        ))
    }

    pub(super) fn place_order(
        &mut self,
        config: &ShopifyConfig,
        order: &PlaceOrder,
    ) -> Result<(u64, Vec<Event>), ControlError> {
        if order.fulfilment == OrderFulfilment::Channel {
            return Err(ControlError::Unsupported("Shopify has no channel-fulfilled stock".into()));
        }
        if order.quantity < 1 {
            return Err(ControlError::Invalid("quantity must be at least 1".into()));
        }
        let variant = self
            .variant_by_sku(&order.sku)
            .ok_or_else(|| ControlError::NotFound(format!("no variant with SKU {}", order.sku)))?
            .clone();
        let location = config.primary_location_id();
        if variant.tracked {
            let available = variant.levels.get(&location).map_or(0, |l| l.available);
            if available < order.quantity {
                return Err(ControlError::Conflict(format!(
                    "only {available} of {} available (the shop does not sell when out of stock)",
                    order.sku
                )));
            }
        }
        let now = Timestamp::now();
        let (order_id, line_id, fo_id, fo_line_id) = (self.id(), self.id(), self.id(), self.id());
        let number = self.next_order_number;
        self.next_order_number += 1;
        let title = self.products.get(&variant.product_id).map_or_else(String::new, |p| p.title.clone());
        self.orders.insert(
            order_id,
            Order {
                id: order_id,
                number,
                created_at: now,
                updated_at: now,
                cancelled_at: None,
                lines: vec![LineItem {
                    id: line_id,
                    variant_id: variant.id,
                    product_id: variant.product_id,
                    sku: variant.sku.clone(),
                    title,
                    quantity: order.quantity,
                    price: variant.price,
                }],
                fulfillment_orders: vec![FulfillmentOrder {
                    id: fo_id,
                    location_id: location,
                    status: "OPEN",
                    lines: vec![FoLine {
                        id: fo_line_id,
                        line_item_id: line_id,
                        total: order.quantity,
                        remaining: order.quantity,
                    }],
                }],
                fulfillments: Vec::new(),
            },
        );
        let mut events = vec![("orders/create", self.order_rest(config, order_id))];
        if variant.tracked {
            self.move_stock(variant.id, location, -order.quantity, order.quantity, now);
            events.extend(self.level_event(variant.inventory_item_id, location));
        }
        Ok((order_id, events))
    }

    /// Sets the `available` quantity of `sku` at `location` (stocking it there if it was not).
    pub(super) fn set_level(&mut self, sku: &str, location: u64, available: i64) -> Result<(), ControlError> {
        let id = self
            .variant_by_sku(sku)
            .map(|v| v.id)
            .ok_or_else(|| ControlError::NotFound(format!("no variant with SKU {sku}")))?;
        let now = Timestamp::now();
        if let Some(variant) = self.variants.get_mut(&id) {
            let level = variant.levels.entry(location).or_insert(Level { available: 0, committed: 0, updated_at: now });
            level.available = available;
            level.updated_at = now;
        }
        Ok(())
    }

    /// An order whose lines ship from several locations: one line per `(sku, quantity, location)` and one
    /// fulfillment order per location (as Shopify splits an order whose stock is allocated to several
    /// locations). Each line commits stock at its location, which must have it.
    pub(super) fn place_split_order(
        &mut self,
        config: &ShopifyConfig,
        lines: &[(String, i64, u64)],
    ) -> Result<(u64, Vec<Event>), ControlError> {
        let now = Timestamp::now();
        let mut variants = Vec::with_capacity(lines.len());
        for (sku, quantity, location) in lines {
            if !config.locations.iter().any(|l| l.id == *location) {
                return Err(ControlError::Invalid(format!("no location {location}")));
            }
            let variant = self
                .variant_by_sku(sku)
                .ok_or_else(|| ControlError::NotFound(format!("no variant with SKU {sku}")))?
                .clone();
            let available = variant.levels.get(location).map_or(0, |l| l.available);
            if *quantity < 1 || (variant.tracked && available < *quantity) {
                return Err(ControlError::Conflict(format!(
                    "{sku}: {quantity} wanted, {available} available at {location}"
                )));
            }
            variants.push(variant);
        }
        let order_id = self.id();
        let number = self.next_order_number;
        self.next_order_number += 1;
        let mut order_lines = Vec::new();
        let mut fos: Vec<FulfillmentOrder> = Vec::new();
        for ((_, quantity, location), variant) in lines.iter().zip(&variants) {
            let (line_id, fo_line_id) = (self.id(), self.id());
            let title = self.products.get(&variant.product_id).map_or_else(String::new, |p| p.title.clone());
            order_lines.push(LineItem {
                id: line_id,
                variant_id: variant.id,
                product_id: variant.product_id,
                sku: variant.sku.clone(),
                title,
                quantity: *quantity,
                price: variant.price,
            });
            let fo_line = FoLine { id: fo_line_id, line_item_id: line_id, total: *quantity, remaining: *quantity };
            match fos.iter_mut().find(|fo| fo.location_id == *location) {
                Some(fo) => fo.lines.push(fo_line),
                None => {
                    let id = self.id();
                    fos.push(FulfillmentOrder { id, location_id: *location, status: "OPEN", lines: vec![fo_line] });
                }
            }
        }
        self.orders.insert(
            order_id,
            Order {
                id: order_id,
                number,
                created_at: now,
                updated_at: now,
                cancelled_at: None,
                lines: order_lines,
                fulfillment_orders: fos,
                fulfillments: Vec::new(),
            },
        );
        let mut events = vec![("orders/create", self.order_rest(config, order_id))];
        for ((_, quantity, location), variant) in lines.iter().zip(&variants) {
            if variant.tracked {
                self.move_stock(variant.id, *location, -quantity, *quantity, now);
                events.extend(self.level_event(variant.inventory_item_id, *location));
            }
        }
        Ok((order_id, events))
    }

    /// Puts the fulfillment order of `order_id` at `location` on hold (as `fulfillmentOrderHold` does).
    pub(super) fn hold_fulfillment_order(&mut self, order_id: u64, location: u64) -> Result<String, ControlError> {
        let order =
            self.orders.get_mut(&order_id).ok_or_else(|| ControlError::NotFound(format!("no order {order_id}")))?;
        let fo = order
            .fulfillment_orders
            .iter_mut()
            .find(|fo| fo.location_id == location && (fo.status == "OPEN" || fo.status == "IN_PROGRESS"))
            .ok_or_else(|| ControlError::NotFound(format!("no open fulfillment order at {location}")))?;
        fo.status = "ON_HOLD";
        Ok(gid("FulfillmentOrder", fo.id))
    }

    /// Moves `available` by `delta` and `committed` by `committed`.
    fn move_stock(&mut self, variant_id: u64, location: u64, delta: i64, committed: i64, now: Timestamp) {
        if let Some(variant) = self.variants.get_mut(&variant_id) {
            let level = variant.levels.entry(location).or_insert(Level { available: 0, committed: 0, updated_at: now });
            level.available += delta;
            level.committed = (level.committed + committed).max(0);
            level.updated_at = now;
            variant.updated_at = now;
        }
    }

    pub(super) fn cancel_order(&mut self, config: &ShopifyConfig, order_id: u64) -> Result<Vec<Event>, ControlError> {
        let now = Timestamp::now();
        let order =
            self.orders.get_mut(&order_id).ok_or_else(|| ControlError::NotFound(format!("no order {order_id}")))?;
        if order.cancelled_at.is_some() {
            return Err(ControlError::Conflict(format!("order {order_id} is already cancelled")));
        }
        order.cancelled_at = Some(now);
        order.updated_at = now;
        let mut restock = Vec::new();
        for fo in &mut order.fulfillment_orders {
            for line in &mut fo.lines {
                if line.remaining > 0 {
                    let variant = order.lines.iter().find(|l| l.id == line.line_item_id).map(|l| l.variant_id);
                    if let Some(variant) = variant {
                        restock.push((variant, fo.location_id, line.remaining));
                    }
                    line.remaining = 0;
                }
            }
            if fo.status == "OPEN" {
                fo.status = "CLOSED";
            }
        }
        let mut events = vec![
            ("orders/cancelled", self.order_rest(config, order_id)),
            ("orders/updated", self.order_rest(config, order_id)),
        ];
        for (variant_id, location, quantity) in restock {
            let Some(variant) = self.variants.get(&variant_id) else { continue };
            if !variant.tracked {
                continue;
            }
            let item = variant.inventory_item_id;
            self.move_stock(variant_id, location, quantity, -quantity, now);
            events.extend(self.level_event(item, location));
        }
        Ok(events)
    }

    /// The order as the REST Admin API (and the orders/* webhooks) show it.
    pub(super) fn order_rest(&self, config: &ShopifyConfig, order_id: u64) -> Value {
        let Some(order) = self.orders.get(&order_id) else { return Value::Null };
        let total: Decimal = order.lines.iter().map(|l| l.price * Decimal::from(l.quantity)).sum();
        let lines: Vec<Value> = order
            .lines
            .iter()
            .map(|l| {
                json!({
                    "id": l.id,
                    "admin_graphql_api_id": gid("LineItem", l.id),
                    "variant_id": l.variant_id,
                    "product_id": l.product_id,
                    "sku": l.sku,
                    "title": l.title,
                    "name": l.title,
                    "quantity": l.quantity,
                    "current_quantity": if order.cancelled_at.is_some() { 0 } else { l.quantity },
                    "fulfillable_quantity": self.remaining_for(order, l.id),
                    "price": l.price.to_string(),
                    "requires_shipping": true,
                    "fulfillment_status": Value::Null,
                })
            })
            .collect();
        let fulfillment_status = match order.fulfillment_status() {
            "FULFILLED" => json!("fulfilled"),
            "PARTIALLY_FULFILLED" => json!("partial"),
            _ => Value::Null,
        };
        json!({
            "id": order.id,
            "admin_graphql_api_id": gid("Order", order.id),
            "name": format!("#{}", order.number),
            "order_number": order.number,
            "email": "shopper@sandbox.invalid",
            "created_at": ts(order.created_at),
            "updated_at": ts(order.updated_at),
            "cancelled_at": order.cancelled_at.map(ts),
            "cancel_reason": order.cancelled_at.map(|_| "customer"),
            "closed_at": Value::Null,
            "currency": config.currency,
            "financial_status": if order.cancelled_at.is_some() { "refunded" } else { "paid" },
            "fulfillment_status": fulfillment_status,
            "total_price": total.to_string(),
            "subtotal_price": total.to_string(),
            "test": true,
            "line_items": lines,
        })
    }

    fn remaining_for(&self, order: &Order, line_item_id: u64) -> i64 {
        order
            .fulfillment_orders
            .iter()
            .flat_map(|fo| &fo.lines)
            .filter(|l| l.line_item_id == line_item_id)
            .map(|l| l.remaining)
            .sum()
    }

    // ---- GraphQL objects -------------------------------------------------------------------------------------

    pub(super) fn location_json(config: &ShopifyConfig, id: u64) -> Value {
        let name = config.locations.iter().find(|l| l.id == id).map_or("", |l| l.name.as_str());
        json!({"__typename": "Location", "id": gid("Location", id), "legacyResourceId": id.to_string(), "name": name,
               "isActive": true, "fulfillsOnlineOrders": true})
    }

    fn level_json(config: &ShopifyConfig, variant: &Variant, location: u64, level: &Level) -> Value {
        json!({
            "__typename": "InventoryLevel",
            "__sort": [location, location],
            "id": format!("gid://shopify/InventoryLevel/{location}?inventory_item_id={}", variant.inventory_item_id),
            "updatedAt": ts(level.updated_at),
            "location": Self::location_json(config, location),
            "item": {"__typename": "InventoryItem", "id": gid("InventoryItem", variant.inventory_item_id), "sku": variant.sku},
            "__quantities": {
                "available": level.available,
                "committed": level.committed,
                "on_hand": level.available + level.committed,
                "incoming": 0, "reserved": 0, "damaged": 0, "quality_control": 0, "safety_stock": 0,
            },
        })
    }

    pub(super) fn item_json(&self, config: &ShopifyConfig, variant: &Variant) -> Value {
        let mut by_location = Map::new();
        let mut levels = Vec::new();
        for (location, level) in &variant.levels {
            let level = Self::level_json(config, variant, *location, level);
            by_location.insert(gid("Location", *location), level.clone());
            levels.push(level);
        }
        json!({
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", variant.inventory_item_id),
            "legacyResourceId": variant.inventory_item_id.to_string(),
            "sku": variant.sku,
            "tracked": variant.tracked,
            "requiresShipping": true,
            "createdAt": ts(variant.created_at),
            "updatedAt": ts(variant.updated_at),
            "variant": {"__typename": "ProductVariant", "id": gid("ProductVariant", variant.id), "sku": variant.sku},
            "__levels": by_location,
            "inventoryLevels": {"__connection": levels},
        })
    }

    pub(super) fn variant_json(&self, config: &ShopifyConfig, variant: &Variant) -> Value {
        let product = self.products.get(&variant.product_id);
        let available: i64 = variant.levels.values().map(|l| l.available).sum();
        json!({
            "__typename": "ProductVariant",
            "__sort": [variant.id, variant.id],
            "id": gid("ProductVariant", variant.id),
            "legacyResourceId": variant.id.to_string(),
            "sku": variant.sku,
            "title": "Default Title",
            "displayName": product.map_or_else(String::new, |p| format!("{} - Default Title", p.title)),
            "price": variant.price.to_string(),
            "compareAtPrice": variant.compare_at_price.map(|p| p.to_string()),
            "inventoryQuantity": available,
            "createdAt": ts(variant.created_at),
            "updatedAt": ts(variant.updated_at),
            "product": product.map(|p| json!({"__typename": "Product", "id": gid("Product", p.id), "title": p.title,
                "handle": p.title.to_lowercase().replace(' ', "-")})),
            "inventoryItem": self.item_json(config, variant),
        })
    }

    pub(super) fn product_json(&self, config: &ShopifyConfig, product: &Product) -> Value {
        let variants: Vec<Value> = product
            .variants
            .iter()
            .filter_map(|id| self.variants.get(id))
            .map(|v| self.variant_json(config, v))
            .collect();
        let total: i64 = product
            .variants
            .iter()
            .filter_map(|id| self.variants.get(id))
            .flat_map(|v| v.levels.values().map(|l| l.available))
            .sum();
        json!({
            "__typename": "Product",
            "__sort": [product.id, product.id],
            "id": gid("Product", product.id),
            "legacyResourceId": product.id.to_string(),
            "title": product.title,
            "handle": product.title.to_lowercase().replace(' ', "-"),
            "status": "ACTIVE",
            "totalInventory": total,
            "createdAt": ts(product.created_at),
            "updatedAt": ts(product.updated_at),
            "variants": {"__connection": variants},
        })
    }

    /// `fulfillmentOrder(id:)`: the fulfillment order as its order lists it (lines paged like any
    /// connection); `null` when no order has it.
    pub(super) fn fulfillment_order_json(&self, config: &ShopifyConfig, id: u64) -> Value {
        let Some(order) = self.orders.values().find(|o| o.fulfillment_orders.iter().any(|fo| fo.id == id)) else {
            return Value::Null;
        };
        let json = self.order_json(config, order, 0);
        let wanted = gid("FulfillmentOrder", id);
        json["fulfillmentOrders"]["__connection"]
            .as_array()
            .and_then(|fos| fos.iter().find(|fo| fo["id"] == wanted.as_str()).cloned())
            .unwrap_or(Value::Null)
    }

    pub(super) fn order_json(&self, config: &ShopifyConfig, order: &Order, sort: i64) -> Value {
        let money =
            |amount: Decimal| json!({"shopMoney": {"amount": amount.to_string(), "currencyCode": config.currency}});
        let total: Decimal = order.lines.iter().map(|l| l.price * Decimal::from(l.quantity)).sum();
        let lines: Vec<Value> = order
            .lines
            .iter()
            .map(|l| {
                json!({
                    "__typename": "LineItem",
                    "__sort": [l.id, l.id],
                    "id": gid("LineItem", l.id),
                    "sku": l.sku,
                    "title": l.title,
                    "name": l.title,
                    "quantity": l.quantity,
                    "currentQuantity": if order.cancelled_at.is_some() { 0 } else { l.quantity },
                    "unfulfilledQuantity": self.remaining_for(order, l.id),
                    "originalUnitPriceSet": money(l.price),
                    "variant": {"__typename": "ProductVariant", "id": gid("ProductVariant", l.variant_id), "sku": l.sku},
                    "product": {"__typename": "Product", "id": gid("Product", l.product_id)},
                })
            })
            .collect();
        let fulfillment_orders: Vec<Value> = order
            .fulfillment_orders
            .iter()
            .map(|fo| {
                let fo_lines: Vec<Value> = fo
                    .lines
                    .iter()
                    .map(|line| {
                        let sku = order.lines.iter().find(|l| l.id == line.line_item_id).map_or("", |l| l.sku.as_str());
                        json!({
                            "__typename": "FulfillmentOrderLineItem",
                            "__sort": [line.id, line.id],
                            "id": gid("FulfillmentOrderLineItem", line.id),
                            "totalQuantity": line.total,
                            "remainingQuantity": line.remaining,
                            "sku": sku,
                            "lineItem": {"__typename": "LineItem", "id": gid("LineItem", line.line_item_id), "sku": sku},
                        })
                    })
                    .collect();
                json!({
                    "__typename": "FulfillmentOrder",
                    "__sort": [fo.id, fo.id],
                    "id": gid("FulfillmentOrder", fo.id),
                    "status": fo.status,
                    "supportedActions": supported_actions(config, fo)
                        .iter()
                        .map(|a| json!({"__typename": "FulfillmentOrderSupportedAction", "action": a, "externalUrl": null}))
                        .collect::<Vec<_>>(),
                    "orderId": gid("Order", order.id),
                    "assignedLocation": {"__typename": "FulfillmentOrderAssignedLocation",
                        "location": Self::location_json(config, fo.location_id)},
                    "lineItems": {"__connection": fo_lines},
                })
            })
            .collect();
        let fulfillments: Vec<Value> = order.fulfillments.iter().map(fulfillment_json).collect();
        json!({
            "__typename": "Order",
            "__sort": [sort, order.id],
            "id": gid("Order", order.id),
            "legacyResourceId": order.id.to_string(),
            "name": format!("#{}", order.number),
            "createdAt": ts(order.created_at),
            "updatedAt": ts(order.updated_at),
            "processedAt": ts(order.created_at),
            "cancelledAt": order.cancelled_at.map(ts),
            "cancelReason": order.cancelled_at.map(|_| "CUSTOMER"),
            "closed": false,
            "test": true,
            "currencyCode": config.currency,
            "displayFinancialStatus": if order.cancelled_at.is_some() { "REFUNDED" } else { "PAID" },
            "displayFulfillmentStatus": order.fulfillment_status(),
            "totalPriceSet": money(total),
            "lineItems": {"__connection": lines},
            "fulfillmentOrders": {"__connection": fulfillment_orders},
            "fulfillments": fulfillments,
        })
    }

    /// Sort key of an order for `sortKey`.
    pub(super) fn order_sort(order: &Order, sort_key: &str) -> i64 {
        match sort_key {
            "UPDATED_AT" => ts_ms(order.updated_at),
            "CREATED_AT" | "PROCESSED_AT" => ts_ms(order.created_at),
            _ => i64::try_from(order.id).unwrap_or(i64::MAX),
        }
    }

    // ---- mutations ------------------------------------------------------------------------------------------

    /// `inventorySetQuantities` (`adjust == false`) and `inventoryAdjustQuantities` (`adjust == true`).
    ///
    /// All-or-nothing: any user error (unknown item or location, untracked item, stale `changeFromQuantity`,
    /// …) rejects the whole mutation and nothing changes. Answers the payload and the webhooks to fire.
    pub(super) fn inventory_mutation(
        &mut self,
        config: &ShopifyConfig,
        input: &Value,
        adjust: bool,
    ) -> Result<(Value, Vec<Event>), TopLevelError> {
        let list_key = if adjust { "changes" } else { "quantities" };
        let Some(input) = input.as_object() else {
            return Err(TopLevelError::new("INVALID_VARIABLE", "input is required"));
        };
        let items = Self::inventory_items(config, input, list_key)?;
        let (name, reason, mut errors) = Self::check_inventory_input(input, list_key, &items);
        let mut planned: Vec<PlannedLevel> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let request = InventoryItemRequest { item, index, list_key, name: &name, adjust };
            match self.plan_inventory_item(config, &request, &planned) {
                Ok(Some(plan)) => planned.push(plan),
                Ok(None) => {}
                Err(error) => errors.push(error),
            }
        }
        let mut payload = Map::new();
        payload.insert(
            "__typename".into(),
            json!(if adjust { "InventoryAdjustQuantitiesPayload" } else { "InventorySetQuantitiesPayload" }),
        );
        if !errors.is_empty() {
            payload.insert("inventoryAdjustmentGroup".into(), Value::Null);
            payload.insert("userErrors".into(), Value::Array(errors));
            return Ok((Value::Object(payload), Vec::new()));
        }
        let now = Timestamp::now();
        let group_id = self.id();
        let (changes, events) = self.apply_inventory_plan(config, planned, now);
        payload.insert(
            "inventoryAdjustmentGroup".into(),
            json!({
                "__typename": "InventoryAdjustmentGroup",
                "id": gid("InventoryAdjustmentGroup", group_id),
                "createdAt": ts(now),
                "reason": reason,
                "referenceDocumentUri": input.get("referenceDocumentUri").cloned().unwrap_or(Value::Null),
                "changes": changes,
            }),
        );
        payload.insert("userErrors".into(), json!([]));
        Ok((Value::Object(payload), events))
    }

    /// The mutation's item list (`changes` or `quantities`), refused as a whole past `max_input_size`.
    fn inventory_items(
        config: &ShopifyConfig,
        input: &Map<String, Value>,
        list_key: &str,
    ) -> Result<Vec<Value>, TopLevelError> {
        let items = input.get(list_key).and_then(Value::as_array).cloned().unwrap_or_default();
        if items.len() > config.max_input_size {
            return Err(TopLevelError::new(
                "MAX_INPUT_SIZE_EXCEEDED",
                format!(
                    "The input array size of {} is greater than the maximum allowed of {}.",
                    items.len(),
                    config.max_input_size
                ),
            ));
        }
        Ok(items)
    }

    /// The quantity name and reason, and the user errors of the input as a whole (a bad name or reason,
    /// no items).
    fn check_inventory_input(
        input: &Map<String, Value>,
        list_key: &str,
        items: &[Value],
    ) -> (String, String, Vec<Value>) {
        let mut errors = Vec::new();
        let name = input.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        if name != "available" && name != "on_hand" {
            errors.push(user_error(
                if list_key == "changes" { "INVALID_QUANTITY_NAME" } else { "INVALID_NAME" },
                &path(&["input", "name"]),
                "The quantity name must be either 'available' or 'on_hand'.",
            ));
        }
        let reason = input.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned();
        if !REASONS.contains(&reason.as_str()) {
            errors.push(user_error(
                "INVALID_REASON",
                &path(&["input", "reason"]),
                format!("The reason {reason:?} is not valid."),
            ));
        }
        if items.is_empty() {
            errors.push(uncoded_error(&path(&["input", list_key]), format!("{list_key} must not be empty")));
        }
        (name, reason, errors)
    }

    /// One item of the mutation checked against the shop: the level it moves and how, `Ok(None)` for an
    /// item whose variant vanished (skipped silently), or the item's user error.
    fn plan_inventory_item(
        &self,
        config: &ShopifyConfig,
        request: &InventoryItemRequest<'_>,
        planned: &[PlannedLevel],
    ) -> Result<Option<PlannedLevel>, Value> {
        let InventoryItemRequest { item, index, list_key, name, adjust } = *request;
        let idx = index.to_string();
        let at = |field: &str| path(&["input", list_key, &idx, field]);
        let item_gid = item.get("inventoryItemId").and_then(Value::as_str).unwrap_or_default();
        let location_gid = item.get("locationId").and_then(Value::as_str).unwrap_or_default();
        let Some(variant_id) = parse_gid("InventoryItem", item_gid).and_then(|id| self.items.get(&id).copied()) else {
            return Err(user_error(
                "INVALID_INVENTORY_ITEM",
                &at("inventoryItemId"),
                "The specified inventory item could not be found.",
            ));
        };
        let Some(location) =
            parse_gid("Location", location_gid).filter(|id| config.locations.iter().any(|l| l.id == *id))
        else {
            return Err(user_error(
                "INVALID_LOCATION",
                &at("locationId"),
                "The specified location could not be found.",
            ));
        };
        let Some(variant) = self.variants.get(&variant_id) else { return Ok(None) };
        if !variant.tracked {
            // No code of either enum describes an untracked item (`NON_MUTABLE_INVENTORY_ITEM` is "not
            // allowed to be adjusted via API, e.g. a parent bundle"): the emulator's choice is `code: null`.
            return Err(uncoded_error(&at("inventoryItemId"), "The inventory item is not tracked."));
        }
        let Some(level) = variant.levels.get(&location) else {
            return Err(user_error(
                "ITEM_NOT_STOCKED_AT_LOCATION",
                &at("locationId"),
                "The inventory item is not stocked at the location.",
            ));
        };
        let current = if name == "on_hand" { level.available + level.committed } else { level.available };
        let target = if adjust {
            let delta = item.get("delta").and_then(Value::as_i64);
            current + delta.ok_or_else(|| uncoded_error(&at("delta"), "delta is required"))?
        } else {
            let quantity = item.get("quantity").and_then(Value::as_i64);
            quantity.ok_or_else(|| uncoded_error(&at("quantity"), "quantity is required"))?
        };
        check_change_from(item.get("changeFromQuantity"), current, name, &at("changeFromQuantity"))?;
        if planned.iter().any(|p| p.variant == variant_id && p.location == location) {
            let message = "The same inventory item and location appear twice.";
            // Documented for inventorySetQuantities only.
            return Err(if adjust {
                uncoded_error(&at("inventoryItemId"), message)
            } else {
                user_error("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", &at("inventoryItemId"), message)
            });
        }
        let available = if name == "on_hand" { target - level.committed } else { target };
        Ok(Some(PlannedLevel { variant: variant_id, location, available, delta: available - level.available }))
    }

    /// Moves every planned level: the `InventoryChange`s to answer with and the webhooks to fire.
    fn apply_inventory_plan(
        &mut self,
        config: &ShopifyConfig,
        planned: Vec<PlannedLevel>,
        now: Timestamp,
    ) -> (Vec<Value>, Vec<Event>) {
        let mut changes = Vec::new();
        let mut events = Vec::new();
        for PlannedLevel { variant: variant_id, location, available: new_available, delta } in planned {
            self.move_stock(variant_id, location, delta, 0, now);
            let Some(variant) = self.variants.get(&variant_id) else { continue };
            let item = json!({"__typename": "InventoryItem", "id": gid("InventoryItem", variant.inventory_item_id), "sku": variant.sku});
            let committed = variant.levels.get(&location).map_or(0, |l| l.committed);
            for (quantity_name, after) in [("available", new_available), ("on_hand", new_available + committed)] {
                changes.push(json!({
                    "__typename": "InventoryChange",
                    "name": quantity_name,
                    "delta": delta,
                    "quantityAfterChange": after,
                    "item": item,
                    "location": Self::location_json(config, location),
                }));
            }
            if delta != 0 {
                events.extend(self.level_event(variant.inventory_item_id, location));
            }
        }
        (changes, events)
    }

    /// `productVariantsBulkUpdate(productId, variants: [{id, price, compareAtPrice}])`.
    pub(super) fn variants_bulk_update(
        &mut self,
        config: &ShopifyConfig,
        product_id: Option<&Value>,
        variants: Option<&Value>,
    ) -> Result<(Value, Vec<Event>), TopLevelError> {
        let items = variants.and_then(Value::as_array).cloned().unwrap_or_default();
        if items.len() > config.max_input_size {
            return Err(TopLevelError::new(
                "MAX_INPUT_SIZE_EXCEEDED",
                format!(
                    "The input array size of {} is greater than the maximum allowed of {}.",
                    items.len(),
                    config.max_input_size
                ),
            ));
        }
        let mut errors = Vec::new();
        let product = product_id
            .and_then(Value::as_str)
            .and_then(|g| parse_gid("Product", g))
            .filter(|id| self.products.contains_key(id));
        let Some(product) = product else {
            let payload = json!({"__typename": "ProductVariantsBulkUpdatePayload", "product": null, "productVariants": null,
                "userErrors": [user_error("PRODUCT_DOES_NOT_EXIST", &path(&["productId"]), "Product does not exist")]});
            return Ok((payload, Vec::new()));
        };
        let mut planned = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let idx = index.to_string();
            let at = |field: &str| path(&["variants", &idx, field]);
            let Some(id) = item.get("id").and_then(Value::as_str).and_then(|g| parse_gid("ProductVariant", g)) else {
                errors.push(user_error(
                    "PRODUCT_VARIANT_ID_MISSING",
                    &at("id"),
                    "Product variant is missing ID attribute",
                ));
                continue;
            };
            if self.variants.get(&id).is_none_or(|v| v.product_id != product) {
                errors.push(user_error("PRODUCT_VARIANT_DOES_NOT_EXIST", &at("id"), "Product variant does not exist"));
                continue;
            }
            let price = match item.get("price") {
                None => None,
                Some(value) => match money(value) {
                    Some(price) if price >= Decimal::ZERO => Some(Some(price)),
                    _ => {
                        errors.push(user_error("INVALID_INPUT", &at("price"), "Price must be a non-negative decimal"));
                        continue;
                    }
                },
            };
            let compare = match item.get("compareAtPrice") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(value) => match money(value) {
                    Some(price) if price >= Decimal::ZERO => Some(Some(price)),
                    _ => {
                        errors.push(user_error(
                            "INVALID_INPUT",
                            &at("compareAtPrice"),
                            "compareAtPrice must be a non-negative decimal",
                        ));
                        continue;
                    }
                },
            };
            planned.push((id, price.flatten(), compare));
        }
        if !errors.is_empty() {
            let payload = json!({"__typename": "ProductVariantsBulkUpdatePayload", "product": null, "productVariants": null, "userErrors": errors});
            return Ok((payload, Vec::new()));
        }
        let now = Timestamp::now();
        let mut updated = Vec::new();
        for (id, price, compare) in planned {
            if let Some(variant) = self.variants.get_mut(&id) {
                if let Some(price) = price {
                    variant.price = price;
                }
                if let Some(compare) = compare {
                    variant.compare_at_price = compare;
                }
                variant.updated_at = now;
            }
            if let Some(variant) = self.variants.get(&id) {
                updated.push(self.variant_json(config, variant));
            }
        }
        let product_json = self.products.get(&product).map(|p| self.product_json(config, p));
        Ok((
            json!({"__typename": "ProductVariantsBulkUpdatePayload", "product": product_json, "productVariants": updated, "userErrors": []}),
            Vec::new(),
        ))
    }

    /// `fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: [{fulfillmentOrderId,
    /// fulfillmentOrderLineItems?}], trackingInfo: {number, company, url}})`.
    pub(super) fn fulfillment_create(
        &mut self,
        config: &ShopifyConfig,
        input: Option<&Value>,
    ) -> Result<(Value, Vec<Event>), TopLevelError> {
        let fail = |(field, message): FulfillmentRefusal| {
            Ok((
                json!({"__typename": "FulfillmentCreatePayload", "fulfillment": null,
                       "userErrors": [{"__typename": "UserError", "field": path(field), "message": message}]}),
                Vec::new(),
            ))
        };
        let Some(input) = input.and_then(Value::as_object) else {
            return Err(TopLevelError::new("INVALID_VARIABLE", "fulfillment is required"));
        };
        let groups = input.get("lineItemsByFulfillmentOrder").and_then(Value::as_array).cloned().unwrap_or_default();
        let (order_id, plan) = match self.plan_fulfillment(config, &groups) {
            Ok(planned) => planned,
            Err(refusal) => return fail(refusal),
        };
        let now = Timestamp::now();
        let fulfillment_id = self.id();
        let tracking = input.get("trackingInfo").filter(|t| t.is_object()).cloned();
        self.fulfil_lines(
            order_id,
            &plan,
            Fulfillment { id: fulfillment_id, created_at: now, tracking, lines: Vec::new() },
        );
        let fulfillment = self.orders.get(&order_id).and_then(|o| o.fulfillments.last()).map(fulfillment_json);
        let events = vec![("orders/updated", self.order_rest(config, order_id))];
        Ok((json!({"__typename": "FulfillmentCreatePayload", "fulfillment": fulfillment, "userErrors": []}), events))
    }

    /// The order the `lineItemsByFulfillmentOrder` groups fulfil and the lines they take (fulfillment order
    /// index, fulfillment order line id, quantity), or why the fulfillment is refused.
    fn plan_fulfillment(
        &self,
        config: &ShopifyConfig,
        groups: &[Value],
    ) -> Result<(u64, Vec<PlannedFulfil>), FulfillmentRefusal> {
        const FO_ID: &[&str] = &["fulfillment", "lineItemsByFulfillmentOrder", "fulfillmentOrderId"];
        if groups.is_empty() {
            return Err((
                &["fulfillment", "lineItemsByFulfillmentOrder"],
                "lineItemsByFulfillmentOrder must not be empty",
            ));
        }
        let mut plan = Vec::new();
        let mut order_id = None;
        let mut location = None;
        for group in groups {
            let Some(fo_id) =
                group.get("fulfillmentOrderId").and_then(Value::as_str).and_then(|g| parse_gid("FulfillmentOrder", g))
            else {
                return Err((FO_ID, "Fulfillment order does not exist."));
            };
            let found = self
                .orders
                .values()
                .find_map(|o| o.fulfillment_orders.iter().position(|fo| fo.id == fo_id).map(|i| (o.id, i)));
            let Some((oid, fo_index)) = found else {
                return Err((FO_ID, "Fulfillment order does not exist."));
            };
            if order_id.is_some_and(|o| o != oid) {
                return Err((&["fulfillment"], "All fulfillment orders must belong to the same order."));
            }
            order_id = Some(oid);
            let Some(fo) = self.orders.get(&oid).and_then(|o| o.fulfillment_orders.get(fo_index)) else { continue };
            // "The fulfillment orders are associated with the same Order and are assigned to the same
            // Location" (fulfillmentCreate).
            if location.is_some_and(|l| l != fo.location_id) {
                return Err((
                    &["fulfillment", "lineItemsByFulfillmentOrder"],
                    "All fulfillment orders must be assigned to the same location.",
                ));
            }
            location = Some(fo.location_id);
            if !supported_actions(config, fo).contains(&"CREATE_FULFILLMENT") {
                return Err((FO_ID, "The fulfillment order does not support the CREATE_FULFILLMENT action."));
            }
            match group.get("fulfillmentOrderLineItems").and_then(Value::as_array) {
                None => plan.extend(fo.lines.iter().filter(|l| l.remaining > 0).map(|l| (fo_index, l.id, l.remaining))),
                Some(lines) => plan.extend(plan_fulfillment_lines(fo, fo_index, lines)?),
            }
        }
        let Some(order_id) = order_id else { return Err((&["fulfillment"], "Nothing to fulfil.")) };
        if plan.is_empty() {
            return Err((&["fulfillment"], "Fulfillment order has no remaining quantity."));
        }
        Ok((order_id, plan))
    }

    /// Takes the planned lines off the order's fulfillment orders (closing those with nothing left),
    /// records `fulfillment` with the order lines it shipped, and releases the committed stock.
    fn fulfil_lines(&mut self, order_id: u64, plan: &[PlannedFulfil], mut fulfillment: Fulfillment) {
        let now = fulfillment.created_at;
        let mut uncommit = Vec::new();
        if let Some(order) = self.orders.get_mut(&order_id) {
            for (fo_index, fo_line_id, quantity) in plan {
                let Some(fo) = order.fulfillment_orders.get_mut(*fo_index) else { continue };
                let location = fo.location_id;
                if let Some(line) = fo.lines.iter_mut().find(|l| l.id == *fo_line_id) {
                    line.remaining -= quantity;
                    fulfillment.lines.push((line.line_item_id, *quantity));
                    if let Some(li) = order.lines.iter().find(|l| l.id == line.line_item_id) {
                        uncommit.push((li.variant_id, location, *quantity));
                    }
                }
                if fo.lines.iter().all(|l| l.remaining == 0) {
                    fo.status = "CLOSED";
                } else {
                    fo.status = "IN_PROGRESS";
                }
            }
            order.fulfillments.push(fulfillment);
            order.updated_at = now;
        }
        for (variant_id, location, quantity) in uncommit {
            self.move_stock(variant_id, location, 0, -quantity, now);
        }
    }
}

/// The `FulfillmentOrderAction`s a fulfillment order supports in its state (the emulator's choice of
/// which actions each state lists; the enum and each action's mutation are documented): an open
/// fulfillment order at a merchant's location can be fulfilled (`CREATE_FULFILLMENT`), one at a
/// fulfillment service's location only requested (`REQUEST_FULFILLMENT`), one on hold only released,
/// a closed one nothing.
pub(super) fn supported_actions(config: &ShopifyConfig, fo: &FulfillmentOrder) -> Vec<&'static str> {
    let service = config.locations.iter().any(|l| l.id == fo.location_id && l.fulfillment_service);
    match fo.status {
        "OPEN" | "IN_PROGRESS" if service => vec!["REQUEST_FULFILLMENT", "HOLD", "MOVE"],
        "OPEN" | "IN_PROGRESS" => vec!["CREATE_FULFILLMENT", "HOLD", "MOVE"],
        "ON_HOLD" => vec!["RELEASE_HOLD"],
        _ => Vec::new(),
    }
}

/// Why `fulfillmentCreate` refuses: the input field and the message of its user error.
type FulfillmentRefusal = (&'static [&'static str], &'static str);

/// A fulfillment order line to fulfil: the fulfillment order's index on its order, the line's id, quantity.
type PlannedFulfil = (usize, u64, i64);

/// The lines a `fulfillmentOrderLineItems` list names on fulfillment order `fo`, each with a quantity
/// between 1 and what remains of it.
fn plan_fulfillment_lines(
    fo: &FulfillmentOrder,
    fo_index: usize,
    lines: &[Value],
) -> Result<Vec<PlannedFulfil>, FulfillmentRefusal> {
    const LINES: &[&str] = &["fulfillment", "lineItemsByFulfillmentOrder", "fulfillmentOrderLineItems"];
    let mut plan = Vec::with_capacity(lines.len());
    for line in lines {
        let id = line.get("id").and_then(Value::as_str).and_then(|g| parse_gid("FulfillmentOrderLineItem", g));
        let quantity = line.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let Some(fo_line) = id.and_then(|id| fo.lines.iter().find(|l| l.id == id)) else {
            return Err((LINES, "Fulfillment order line item does not exist."));
        };
        if quantity < 1 || quantity > fo_line.remaining {
            return Err((LINES, "Invalid quantity."));
        }
        plan.push((fo_index, fo_line.id, quantity));
    }
    Ok(plan)
}

fn fulfillment_json(f: &Fulfillment) -> Value {
    let tracking: Vec<Value> = f
        .tracking
        .iter()
        .map(|t| json!({"__typename": "FulfillmentTrackingInfo", "number": t.get("number"), "company": t.get("company"), "url": t.get("url")}))
        .collect();
    json!({
        "__typename": "Fulfillment",
        "id": gid("Fulfillment", f.id),
        "status": "SUCCESS",
        "createdAt": ts(f.created_at),
        "trackingInfo": tracking,
        "totalQuantity": f.lines.iter().map(|(_, q)| q).sum::<i64>(),
    })
}

/// A `Money`/`Decimal` input: a string or a number.
fn money(value: &Value) -> Option<Decimal> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.to_string().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gids_round_trip() {
        assert_eq!(parse_gid("ProductVariant", &gid("ProductVariant", 42)), Some(42));
        assert_eq!(parse_gid("InventoryLevel", "gid://shopify/InventoryLevel/7?inventory_item_id=9"), Some(7));
        assert_eq!(parse_gid("Product", "gid://shopify/ProductVariant/1"), None);
        assert_eq!(parse_gid("Product", "42"), None);
    }
}
