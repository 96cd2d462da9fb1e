//! The store's model: products, MSI source items, reservations, orders and shipments, and the rules
//! that tie them together (Adobe's `admin-schema-2.4.9.yaml` for shapes; magento/inventory's wiki
//! "MSI features and processes" for reservations and source deduction).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

/// A Magento error answer: status, `message` with `%placeholders`, `parameters`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) parameters: Value,
    /// MSI's `ValidationException` list (`errors`), if any.
    pub(crate) errors: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>, parameters: Value) -> Self {
        Self { status, message: message.into(), parameters, errors: None }
    }

    /// MSI's "Validation Failed" with the individual errors.
    pub(crate) fn validation(errors: Vec<Value>) -> Self {
        Self {
            status: 400,
            message: "Validation Failed".into(),
            parameters: Value::Null,
            errors: Some(Value::Array(errors)),
        }
    }

    /// The `error-response` body.
    pub(crate) fn body(&self) -> Value {
        let mut body = json!({"message": self.message});
        if !self.parameters.is_null() {
            body["parameters"] = self.parameters.clone();
        }
        if let Some(errors) = &self.errors {
            body["errors"] = errors.clone();
        }
        body
    }
}

/// `catalog-data-product-interface`, the fields kept.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub(crate) id: u64,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) price: f64,
    pub(crate) status: u8,
    pub(crate) type_id: String,
    pub(crate) updated_at: String,
}

/// `inventory-api-data-source-item-interface`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SourceItem {
    pub(crate) quantity: f64,
    pub(crate) status: u8,
}

/// An order item (`sales-data-order-item-interface`, the fields kept).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) item_id: u64,
    pub(crate) sku: String,
    pub(crate) price: f64,
    pub(crate) qty_ordered: f64,
    pub(crate) qty_shipped: f64,
    pub(crate) qty_canceled: f64,
    pub(crate) qty_refunded: f64,
}

impl Item {
    fn open(&self) -> f64 {
        (self.qty_ordered - self.qty_shipped - self.qty_canceled - self.qty_refunded).max(0.0)
    }
}

/// An order (`sales-data-order-interface`, the fields kept).
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) entity_id: u64,
    pub(crate) state: String,
    pub(crate) status: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) items: Vec<Item>,
    pub(crate) tracks: Vec<Value>,
}

/// A row of `inventory_reservation`: negative when an order is placed, positive when it is compensated
/// (shipped, cancelled, refunded).
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    pub(crate) sku: String,
    pub(crate) quantity: f64,
    pub(crate) metadata: String,
}

/// Magento's REST timestamp: `YYYY-MM-DD HH:MM:SS`, UTC.
pub(crate) fn now_string() -> String {
    Timestamp::now().strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// The whole store.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) products: BTreeMap<u64, Product>,
    /// `(sku, source_code)` → item.
    pub(crate) source_items: BTreeMap<(String, String), SourceItem>,
    pub(crate) reservations: Vec<Reservation>,
    pub(crate) orders: BTreeMap<u64, Order>,
    pub(crate) shipments: u64,
    next_product: u64,
    next_order: u64,
    next_item: u64,
}

impl State {
    pub(crate) fn product_by_sku(&self, sku: &str) -> Option<&Product> {
        self.products.values().find(|p| p.sku == sku)
    }

    pub(crate) fn add_product(&mut self, sku: &str, price: f64, type_id: &str) -> u64 {
        if let Some(p) = self.products.values_mut().find(|p| p.sku == sku) {
            p.price = price;
            p.updated_at = now_string();
            return p.id;
        }
        self.next_product += 1;
        let id = self.next_product;
        let product = Product {
            id,
            sku: sku.to_owned(),
            name: sku.to_owned(),
            price,
            status: 1,
            type_id: type_id.to_owned(),
            updated_at: now_string(),
        };
        self.products.insert(id, product);
        id
    }

    /// Salable quantity in the stock made of `sources`: in-stock source quantities plus reservations
    /// (`GetProductSalableQty`); `None` when the SKU has no source item in them.
    pub(crate) fn salable(&self, sku: &str, sources: &[String]) -> Option<f64> {
        let items: Vec<&SourceItem> =
            sources.iter().filter_map(|s| self.source_items.get(&(sku.to_owned(), s.clone()))).collect();
        if items.is_empty() {
            return None;
        }
        let on_hand: f64 = items.iter().filter(|i| i.status == 1).map(|i| i.quantity).sum();
        let reserved: f64 = self.reservations.iter().filter(|r| r.sku == sku).map(|r| r.quantity).sum();
        Some(on_hand + reserved)
    }

    /// Places an order of `qty` × `sku` (state `new`, status `pending`) and appends its reservation.
    pub(crate) fn place_order(&mut self, sku: &str, qty: f64, sources: &[String]) -> Result<u64, String> {
        let price = self.product_by_sku(sku).map(|p| p.price).ok_or_else(|| format!("no product {sku}"))?;
        let salable = self.salable(sku, sources).unwrap_or(0.0);
        if qty <= 0.0 || salable < qty {
            return Err(format!("{sku}: {qty} ordered, {salable} salable"));
        }
        self.next_order += 1;
        self.next_item += 1;
        let id = self.next_order;
        let now = now_string();
        let item = Item {
            item_id: self.next_item,
            sku: sku.to_owned(),
            price,
            qty_ordered: qty,
            qty_shipped: 0.0,
            qty_canceled: 0.0,
            qty_refunded: 0.0,
        };
        let order = Order {
            entity_id: id,
            state: "new".into(),
            status: "pending".into(),
            created_at: now.clone(),
            updated_at: now,
            items: vec![item],
            tracks: Vec::new(),
        };
        self.orders.insert(id, order);
        self.reserve(sku, -qty, "order_placed", id);
        Ok(id)
    }

    fn reserve(&mut self, sku: &str, quantity: f64, event: &str, order: u64) {
        let metadata = json!({"event_type": event, "object_type": "order", "object_id": order.to_string()});
        self.reservations.push(Reservation { sku: sku.to_owned(), quantity, metadata: metadata.to_string() });
    }

    /// Cancels what is not shipped: `qty_canceled`, state `canceled` (or `complete` if part shipped), and
    /// the compensating reservation.
    pub(crate) fn cancel(&mut self, id: u64) -> Result<(), ApiError> {
        let order = self.orders.get_mut(&id).ok_or_else(|| not_found_order(id))?;
        if matches!(order.state.as_str(), "canceled" | "complete" | "closed") {
            return Err(ApiError::new(400, "A cancel action is not available.", Value::Null));
        }
        let mut compensate = Vec::new();
        let mut any_shipped = false;
        for item in &mut order.items {
            let open = item.open();
            item.qty_canceled += open;
            any_shipped |= item.qty_shipped > 0.0;
            compensate.push((item.sku.clone(), open));
        }
        order.state = if any_shipped { "complete" } else { "canceled" }.into();
        order.status = order.state.clone();
        order.updated_at = now_string();
        for (sku, qty) in compensate.into_iter().filter(|(_, q)| *q > 0.0) {
            self.reserve(&sku, qty, "order_canceled", id);
        }
        Ok(())
    }

    /// Refunds every unit not cancelled (a credit memo for the whole order): `qty_refunded`, state
    /// `closed`, the unshipped units' reservation compensated; nothing returns to stock (the credit
    /// memo's "Return to Stock" is off by default).
    pub(crate) fn refund(&mut self, id: u64) -> Result<(), ApiError> {
        let order = self.orders.get_mut(&id).ok_or_else(|| not_found_order(id))?;
        if matches!(order.state.as_str(), "canceled" | "closed") {
            return Err(ApiError::new(400, "The order does not allow a creditmemo to be created.", Value::Null));
        }
        let mut compensate = Vec::new();
        for item in &mut order.items {
            let open = item.open();
            item.qty_refunded = item.qty_ordered - item.qty_canceled;
            compensate.push((item.sku.clone(), open));
        }
        order.state = "closed".into();
        order.status = "closed".into();
        order.updated_at = now_string();
        for (sku, qty) in compensate.into_iter().filter(|(_, q)| *q > 0.0) {
            self.reserve(&sku, qty, "creditmemo_created", id);
        }
        Ok(())
    }

    /// Ships `items` (`(order_item_id, qty)`, all open units when empty): source deduction from the
    /// first of `sources` holding the SKU, the reservation compensated, tracks kept. The shipment id.
    pub(crate) fn ship(
        &mut self,
        id: u64,
        items: &[(u64, f64)],
        tracks: Vec<Value>,
        sources: &[String],
    ) -> Result<u64, ApiError> {
        let refuse = || {
            ApiError::new(
                400,
                "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created.\nYou can't create a shipment without products.",
                Value::Null,
            )
        };
        let order = self.orders.get(&id).ok_or_else(|| not_found_order(id))?;
        if matches!(order.state.as_str(), "canceled" | "closed" | "holded" | "payment_review") {
            return Err(refuse());
        }
        let mut plan: Vec<(usize, f64)> = Vec::new();
        if items.is_empty() {
            plan.extend(order.items.iter().enumerate().filter(|(_, i)| i.open() > 0.0).map(|(n, i)| (n, i.open())));
        } else {
            for (item_id, qty) in items {
                let Some(n) = order.items.iter().position(|i| i.item_id == *item_id) else { return Err(refuse()) };
                if *qty <= 0.0 || *qty > order.items[n].open() {
                    return Err(refuse());
                }
                plan.push((n, *qty));
            }
        }
        if plan.is_empty() {
            return Err(refuse());
        }
        for (n, qty) in plan {
            let sku = self.orders[&id].items[n].sku.clone();
            if let Some(order) = self.orders.get_mut(&id) {
                order.items[n].qty_shipped += qty;
            }
            let key = sources.iter().map(|s| (sku.clone(), s.clone())).find(|k| self.source_items.contains_key(k));
            if let Some(item) = key.and_then(|k| self.source_items.get_mut(&k)) {
                item.quantity -= qty;
            }
            self.reserve(&sku, qty, "shipment_created", id);
        }
        if let Some(order) = self.orders.get_mut(&id) {
            let done = order.items.iter().all(|i| i.open() <= 0.0);
            order.state = if done { "complete" } else { "processing" }.into();
            order.status = order.state.clone();
            order.updated_at = now_string();
            order.tracks.extend(tracks);
        }
        self.shipments += 1;
        Ok(self.shipments)
    }

    pub(crate) fn product_json(p: &Product) -> Value {
        json!({
            "id": p.id, "sku": p.sku, "name": p.name, "attribute_set_id": 4, "price": p.price,
            "status": p.status, "visibility": 4, "type_id": p.type_id,
            "created_at": p.updated_at, "updated_at": p.updated_at,
            "extension_attributes": {"website_ids": [1]}, "custom_attributes": []
        })
    }

    pub(crate) fn source_item_json(sku: &str, source: &str, i: &SourceItem) -> Value {
        json!({"sku": sku, "source_code": source, "quantity": i.quantity, "status": i.status})
    }

    pub(crate) fn order_json(o: &Order, currency: &str) -> Value {
        let items: Vec<Value> = o
            .items
            .iter()
            .map(|i| {
                json!({
                    "item_id": i.item_id, "order_id": o.entity_id, "sku": i.sku, "name": i.sku,
                    "product_type": "simple", "price": i.price, "qty_ordered": i.qty_ordered,
                    "qty_shipped": i.qty_shipped, "qty_canceled": i.qty_canceled, "qty_refunded": i.qty_refunded,
                    "created_at": o.created_at, "updated_at": o.updated_at
                })
            })
            .collect();
        json!({
            "entity_id": o.entity_id, "increment_id": format!("{:09}", o.entity_id), "state": o.state,
            "status": o.status, "created_at": o.created_at, "updated_at": o.updated_at,
            "order_currency_code": currency, "base_currency_code": currency, "store_id": 1,
            "items": items
        })
    }
}

fn not_found_order(id: u64) -> ApiError {
    let _ = id;
    ApiError::new(404, "The entity that was requested doesn't exist. Verify the entity and try again.", Value::Null)
}
