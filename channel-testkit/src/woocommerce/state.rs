//! WooCommerce's state: products, variations, orders, notes, trackings and webhooks, and their JSON.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use crate::sandbox::{ControlError, PlaceOrder, SeedProduct};

/// Product type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Simple,
    Variable,
}

/// How a variation's stock is managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VariationStock {
    Own,
    Parent,
    None,
}

#[derive(Debug, Clone)]
pub(super) struct Product {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) sku: String,
    pub(super) kind: Kind,
    pub(super) status: String,
    pub(super) manage_stock: bool,
    pub(super) stock_quantity: Option<i64>,
    pub(super) stock_status: String,
    pub(super) backorders: String,
    pub(super) regular_price: String,
    pub(super) sale_price: String,
    pub(super) created: Timestamp,
    pub(super) modified: Timestamp,
    pub(super) variations: Vec<u64>,
    pub(super) total_sales: i64,
}

impl Product {
    /// A published product created `now` with no stock management, price or variations yet (what a
    /// create without those fields, or a seeded variation's new parent, starts as).
    fn published(id: u64, name: String, sku: String, kind: Kind, now: Timestamp) -> Self {
        Self {
            id,
            name,
            sku,
            kind,
            status: "publish".into(),
            manage_stock: false,
            stock_quantity: None,
            stock_status: "instock".into(),
            backorders: "no".into(),
            regular_price: String::new(),
            sale_price: String::new(),
            created: now,
            modified: now,
            variations: Vec::new(),
            total_sales: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Variation {
    pub(super) id: u64,
    pub(super) parent_id: u64,
    pub(super) sku: String,
    pub(super) stock: VariationStock,
    pub(super) stock_quantity: Option<i64>,
    pub(super) stock_status: String,
    pub(super) backorders: String,
    pub(super) regular_price: String,
    pub(super) sale_price: String,
    pub(super) option: String,
    pub(super) created: Timestamp,
    pub(super) modified: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct LineItem {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) product_id: u64,
    pub(super) variation_id: u64,
    pub(super) quantity: i64,
    pub(super) sku: String,
    pub(super) price: Decimal,
}

#[derive(Debug, Clone)]
pub(super) struct Note {
    pub(super) id: u64,
    pub(super) note: String,
    pub(super) customer_note: bool,
    pub(super) author: String,
    pub(super) created: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct Tracking {
    pub(super) tracking_id: String,
    pub(super) provider: String,
    pub(super) link: String,
    pub(super) number: String,
    pub(super) date_shipped: String,
}

#[derive(Debug, Clone)]
pub(super) struct Order {
    pub(super) id: u64,
    pub(super) status: String,
    pub(super) currency: String,
    pub(super) created: Timestamp,
    pub(super) modified: Timestamp,
    pub(super) paid: Option<Timestamp>,
    pub(super) completed: Option<Timestamp>,
    pub(super) line_items: Vec<LineItem>,
    pub(super) notes: Vec<Note>,
    pub(super) trackings: Vec<Tracking>,
    /// Whether the order's stock has been taken (WooCommerce's `_order_stock_reduced`).
    pub(super) stock_reduced: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Hook {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) status: String,
    pub(super) topic: String,
    pub(super) delivery_url: String,
    pub(super) created: Timestamp,
}

/// WooCommerce's local dates: the emulated site runs in UTC, so local and GMT agree.
pub(super) fn wc_date(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

fn money(value: Decimal) -> String {
    format!("{:.2}", value.round_dp(2))
}

fn stock_status_for(quantity: Option<i64>, backorders: &str) -> String {
    match quantity {
        Some(q) if q > 0 => "instock",
        _ if backorders != "no" => "onbackorder",
        _ => "outofstock",
    }
    .to_owned()
}

/// What a state change did, for webhooks: orders and products touched.
#[derive(Debug, Default)]
pub(super) struct Touched {
    pub(super) orders_created: Vec<u64>,
    pub(super) orders_updated: Vec<u64>,
    pub(super) products: Vec<u64>,
}

impl Touched {
    pub(super) fn product(&mut self, id: u64) {
        if !self.products.contains(&id) {
            self.products.push(id);
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) products: BTreeMap<u64, Product>,
    pub(super) variations: BTreeMap<u64, Variation>,
    pub(super) orders: BTreeMap<u64, Order>,
    pub(super) hooks: BTreeMap<u64, Hook>,
    /// SKU → (product id, variation id or 0), kept in step with `products` and `variations`.
    skus: HashMap<String, (u64, u64)>,
    next_post: u64,
    next_order: u64,
    next_item: u64,
}

/// A per-item or whole-request REST error: `{"code","message","data":{"status"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RestError {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl RestError {
    pub(super) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub(super) fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "data": {"status": self.status}})
    }
}

fn invalid_param(field: &str, why: &str) -> RestError {
    RestError::new(400, "rest_invalid_param", format!("Invalid parameter(s): {field} ({why})"))
}

fn price_field(body: &Map<String, Value>, field: &str) -> Result<Option<String>, RestError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(Some(String::new())),
        Some(Value::String(text)) => match text.parse::<Decimal>() {
            Ok(value) if value >= Decimal::ZERO => Ok(Some(text.clone())),
            _ => Err(invalid_param(field, "must be a decimal string")),
        },
        Some(_) => Err(invalid_param(field, "is not of type string")),
    }
}

fn bool_field(body: &Map<String, Value>, field: &str) -> Result<Option<bool>, RestError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid_param(field, "is not of type boolean")),
    }
}

fn int_field(body: &Map<String, Value>, field: &str) -> Result<Option<Option<i64>>, RestError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => match value.as_i64() {
            Some(n) => Ok(Some(Some(n))),
            None => Err(invalid_param(field, "is not of type integer")),
        },
    }
}

fn enum_field(body: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<Option<String>, RestError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(text)) if allowed.contains(&text.as_str()) => Ok(Some(text.clone())),
        Some(_) => Err(invalid_param(field, &format!("must be one of {}", allowed.join(", ")))),
    }
}

impl State {
    fn next_post_id(&mut self) -> u64 {
        self.next_post += 1;
        100 + self.next_post
    }

    /// Whether `sku` belongs to a product or variation other than `except`.
    pub(super) fn sku_taken(&self, sku: &str, except: u64) -> bool {
        !sku.is_empty()
            && self.skus.get(sku).is_some_and(|(pid, vid)| if *vid == 0 { *pid != except } else { *vid != except })
    }

    /// (product id, variation id or 0) for `sku`.
    pub(super) fn find_sku(&self, sku: &str) -> Option<(u64, u64)> {
        if sku.is_empty() { None } else { self.skus.get(sku).copied() }
    }

    /// Points `new` (if not empty) at `ids` instead of `old`.
    fn reindex(&mut self, old: &str, new: &str, ids: (u64, u64)) {
        if self.skus.get(old) == Some(&ids) {
            self.skus.remove(old);
        }
        if !new.is_empty() {
            self.skus.insert(new.to_owned(), ids);
        }
    }

    /// The stock a variation shows (its own, or its parent's).
    pub(super) fn variation_stock(&self, variation: &Variation) -> (Value, Option<i64>, String) {
        match variation.stock {
            VariationStock::Own => (json!(true), variation.stock_quantity, variation.stock_status.clone()),
            VariationStock::Parent => {
                let parent = self.products.get(&variation.parent_id);
                (
                    json!("parent"),
                    parent.and_then(|p| p.stock_quantity),
                    parent.map_or_else(|| "instock".to_owned(), |p| p.stock_status.clone()),
                )
            }
            VariationStock::None => (json!(false), None, variation.stock_status.clone()),
        }
    }

    pub(super) fn merchant_stock(&self, sku: &str) -> Result<Option<i64>, ControlError> {
        match self.find_sku(sku) {
            Some((product, 0)) => {
                Ok(self.products.get(&product).and_then(|p| if p.manage_stock { p.stock_quantity } else { None }))
            }
            Some((_, variation)) => Ok(self.variations.get(&variation).and_then(|v| self.variation_stock(v).1)),
            None => Err(ControlError::NotFound(format!("no product or variation with SKU {sku}"))),
        }
    }

    pub(super) fn seed(&mut self, seed: &SeedProduct) -> Result<Value, ControlError> {
        if seed.sku.is_empty() {
            return Err(ControlError::Invalid("sku is required".into()));
        }
        if self.sku_taken(&seed.sku, 0) {
            return Err(ControlError::Conflict(format!("SKU {} exists", seed.sku)));
        }
        let price = seed.price.map(money).unwrap_or_default();
        let backorders = seed.extra_str("backorders").unwrap_or("no").to_owned();
        let now = Timestamp::now();
        let manage = seed.extra.get("manage_stock").cloned().unwrap_or(Value::Bool(true));
        match seed.extra_str("parent_sku") {
            None => {
                let manage_stock = manage.as_bool().unwrap_or(true);
                let id = self.next_post_id();
                let quantity = manage_stock.then_some(seed.quantity);
                self.products.insert(
                    id,
                    Product {
                        id,
                        name: seed.extra_str("name").map_or_else(|| format!("Sandbox {}", seed.sku), str::to_owned),
                        sku: seed.sku.clone(),
                        kind: Kind::Simple,
                        status: "publish".into(),
                        manage_stock,
                        stock_quantity: quantity,
                        stock_status: if manage_stock {
                            stock_status_for(quantity, &backorders)
                        } else {
                            "instock".into()
                        },
                        backorders,
                        regular_price: price,
                        sale_price: String::new(),
                        created: now,
                        modified: now,
                        variations: Vec::new(),
                        total_sales: 0,
                    },
                );
                self.reindex("", &seed.sku, (id, 0));
                Ok(json!({"product_id": id, "variation_id": Value::Null, "sku": seed.sku}))
            }
            Some(parent_sku) => {
                let parent_id = self.seed_parent(parent_sku, now)?;
                let stock = match (manage.as_str(), manage.as_bool()) {
                    (Some("parent"), _) => VariationStock::Parent,
                    (_, Some(false)) => VariationStock::None,
                    _ => VariationStock::Own,
                };
                let id = self.seed_variation(seed, parent_id, stock, backorders, price, now);
                Ok(json!({"product_id": parent_id, "variation_id": id, "sku": seed.sku}))
            }
        }
    }

    /// The variable product a seeded variation goes under: the product with `parent_sku`, created when
    /// there is none (an error when that SKU is a simple product or a variation).
    fn seed_parent(&mut self, parent_sku: &str, now: Timestamp) -> Result<u64, ControlError> {
        match self.products.values().find(|p| p.sku == parent_sku) {
            Some(parent) if parent.kind == Kind::Variable => return Ok(parent.id),
            Some(_) => return Err(ControlError::Invalid(format!("{parent_sku} is not a variable product"))),
            None => {}
        }
        if self.sku_taken(parent_sku, 0) {
            return Err(ControlError::Conflict(format!("SKU {parent_sku} is a variation")));
        }
        let id = self.next_post_id();
        let parent =
            Product::published(id, format!("Sandbox {parent_sku}"), parent_sku.to_owned(), Kind::Variable, now);
        self.products.insert(id, parent);
        self.reindex("", parent_sku, (id, 0));
        Ok(id)
    }

    /// Adds the seeded variation under `parent_id` (its stock its own, the parent's, or untracked) and
    /// answers its id. Parent-managed stock sets the parent's quantity.
    fn seed_variation(
        &mut self,
        seed: &SeedProduct,
        parent_id: u64,
        stock: VariationStock,
        backorders: String,
        price: String,
        now: Timestamp,
    ) -> u64 {
        if stock == VariationStock::Parent
            && let Some(parent) = self.products.get_mut(&parent_id)
        {
            parent.manage_stock = true;
            parent.stock_quantity = Some(seed.quantity);
            parent.stock_status = stock_status_for(parent.stock_quantity, &parent.backorders);
        }
        let id = self.next_post_id();
        let quantity = (stock == VariationStock::Own).then_some(seed.quantity);
        self.variations.insert(
            id,
            Variation {
                id,
                parent_id,
                sku: seed.sku.clone(),
                stock,
                stock_quantity: quantity,
                stock_status: if stock == VariationStock::Own {
                    stock_status_for(quantity, &backorders)
                } else {
                    "instock".into()
                },
                backorders,
                regular_price: price,
                sale_price: String::new(),
                option: seed.extra_str("option").unwrap_or(&seed.sku).to_owned(),
                created: now,
                modified: now,
            },
        );
        if let Some(parent) = self.products.get_mut(&parent_id) {
            parent.variations.push(id);
        }
        self.reindex("", &seed.sku, (parent_id, id));
        id
    }

    /// Applies a product PUT/POST body (update) to product `id`.
    pub(super) fn update_product(&mut self, id: u64, body: &Map<String, Value>) -> Result<(), RestError> {
        if !self.products.contains_key(&id) {
            return Err(RestError::new(400, "woocommerce_rest_product_invalid_id", "Invalid ID."));
        }
        if let Some(sku) = body.get("sku") {
            let sku = sku.as_str().ok_or_else(|| invalid_param("sku", "is not of type string"))?;
            if self.sku_taken(sku, id) {
                return Err(RestError::new(400, "product_invalid_sku", "Invalid or duplicated SKU."));
            }
        }
        let regular_price = price_field(body, "regular_price")?;
        let sale_price = price_field(body, "sale_price")?;
        let manage_stock = bool_field(body, "manage_stock")?;
        let stock_quantity = int_field(body, "stock_quantity")?;
        let stock_status = enum_field(body, "stock_status", &["instock", "outofstock", "onbackorder"])?;
        let backorders = enum_field(body, "backorders", &["no", "notify", "yes"])?;
        let status = enum_field(body, "status", &["draft", "pending", "private", "publish"])?;
        let Some(product) = self.products.get_mut(&id) else {
            return Err(RestError::new(400, "woocommerce_rest_product_invalid_id", "Invalid ID."));
        };
        let renamed = body
            .get("sku")
            .and_then(Value::as_str)
            .map(|sku| (std::mem::replace(&mut product.sku, sku.to_owned()), sku.to_owned()));
        if let Some(name) = body.get("name").and_then(Value::as_str) {
            product.name = name.to_owned();
        }
        if let Some(price) = regular_price {
            product.regular_price = price;
        }
        if let Some(price) = sale_price {
            product.sale_price = price;
        }
        if let Some(backorders) = backorders {
            product.backorders = backorders;
        }
        if let Some(status) = status {
            product.status = status;
        }
        if let Some(manage) = manage_stock {
            product.manage_stock = manage;
            if !manage {
                product.stock_quantity = None;
            }
        }
        if product.manage_stock {
            if let Some(quantity) = stock_quantity {
                product.stock_quantity = quantity;
            }
            product.stock_status = stock_status_for(product.stock_quantity, &product.backorders);
        } else if let Some(status) = stock_status {
            product.stock_status = status;
        }
        product.modified = Timestamp::now();
        if let Some((old, new)) = renamed {
            self.reindex(&old, &new, (id, 0));
        }
        Ok(())
    }

    /// Applies a variation PUT/POST body to variation `vid` of product `pid`.
    pub(super) fn update_variation(&mut self, pid: u64, vid: u64, body: &Map<String, Value>) -> Result<(), RestError> {
        if self.variations.get(&vid).is_none_or(|v| v.parent_id != pid) {
            return Err(RestError::new(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID."));
        }
        if let Some(sku) = body.get("sku") {
            let sku = sku.as_str().ok_or_else(|| invalid_param("sku", "is not of type string"))?;
            if self.sku_taken(sku, vid) {
                return Err(RestError::new(400, "product_invalid_sku", "Invalid or duplicated SKU."));
            }
        }
        let regular_price = price_field(body, "regular_price")?;
        let sale_price = price_field(body, "sale_price")?;
        let manage_stock = match body.get("manage_stock") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(text)) if text == "parent" => None,
            Some(_) => return Err(invalid_param("manage_stock", "is not of type boolean")),
        };
        let stock_quantity = int_field(body, "stock_quantity")?;
        let stock_status = enum_field(body, "stock_status", &["instock", "outofstock", "onbackorder"])?;
        let backorders = enum_field(body, "backorders", &["no", "notify", "yes"])?;
        let parent_manages = self.products.get(&pid).is_some_and(|p| p.manage_stock);
        let Some(variation) = self.variations.get_mut(&vid) else {
            return Err(RestError::new(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID."));
        };
        let renamed = body
            .get("sku")
            .and_then(Value::as_str)
            .map(|sku| (std::mem::replace(&mut variation.sku, sku.to_owned()), sku.to_owned()));
        if let Some(price) = regular_price {
            variation.regular_price = price;
        }
        if let Some(price) = sale_price {
            variation.sale_price = price;
        }
        if let Some(backorders) = backorders {
            variation.backorders = backorders;
        }
        match manage_stock {
            Some(true) => variation.stock = VariationStock::Own,
            Some(false) => {
                variation.stock = if parent_manages { VariationStock::Parent } else { VariationStock::None };
                variation.stock_quantity = None;
            }
            None => {}
        }
        match variation.stock {
            VariationStock::Own => {
                if let Some(quantity) = stock_quantity {
                    variation.stock_quantity = quantity;
                }
                variation.stock_status = stock_status_for(variation.stock_quantity, &variation.backorders);
            }
            VariationStock::None => {
                if let Some(status) = stock_status {
                    variation.stock_status = status;
                }
            }
            VariationStock::Parent => {}
        }
        variation.modified = Timestamp::now();
        if let Some((old, new)) = renamed {
            self.reindex(&old, &new, (pid, vid));
        }
        Ok(())
    }

    /// Creates a simple (or variable) product from a POST body.
    pub(super) fn create_product(&mut self, body: &Map<String, Value>) -> Result<u64, RestError> {
        let sku = body.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
        if self.sku_taken(&sku, 0) {
            return Err(RestError::new(400, "product_invalid_sku", "Invalid or duplicated SKU."));
        }
        let kind = match enum_field(body, "type", &["simple", "variable"])?.as_deref() {
            Some("variable") => Kind::Variable,
            _ => Kind::Simple,
        };
        // Validate every field before creating anything.
        price_field(body, "regular_price")?;
        price_field(body, "sale_price")?;
        bool_field(body, "manage_stock")?;
        int_field(body, "stock_quantity")?;
        let now = Timestamp::now();
        let id = self.next_post_id();
        let name = body.get("name").and_then(Value::as_str).unwrap_or("Product").to_owned();
        self.products.insert(id, Product::published(id, name, sku, kind, now));
        if let Some(sku) = self.products.get(&id).map(|p| p.sku.clone()) {
            self.reindex("", &sku, (id, 0));
        }
        let mut rest = body.clone();
        rest.remove("sku");
        self.update_product(id, &rest)?;
        Ok(id)
    }

    /// Creates a variation of variable product `pid` from a POST body.
    pub(super) fn create_variation(&mut self, pid: u64, body: &Map<String, Value>) -> Result<u64, RestError> {
        if !self.products.get(&pid).is_some_and(|p| p.kind == Kind::Variable) {
            return Err(RestError::new(400, "woocommerce_rest_product_invalid_id", "Invalid ID."));
        }
        let sku = body.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
        if self.sku_taken(&sku, 0) {
            return Err(RestError::new(400, "product_invalid_sku", "Invalid or duplicated SKU."));
        }
        price_field(body, "regular_price")?;
        price_field(body, "sale_price")?;
        int_field(body, "stock_quantity")?;
        let parent_manages = self.products.get(&pid).is_some_and(|p| p.manage_stock);
        let now = Timestamp::now();
        let id = self.next_post_id();
        let option = body
            .get("attributes")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|a| a.get("option"))
            .and_then(Value::as_str)
            .unwrap_or(&sku)
            .to_owned();
        self.variations.insert(
            id,
            Variation {
                id,
                parent_id: pid,
                sku,
                stock: if parent_manages { VariationStock::Parent } else { VariationStock::None },
                stock_quantity: None,
                stock_status: "instock".into(),
                backorders: "no".into(),
                regular_price: String::new(),
                sale_price: String::new(),
                option,
                created: now,
                modified: now,
            },
        );
        if let Some(parent) = self.products.get_mut(&pid) {
            parent.variations.push(id);
        }
        if let Some(sku) = self.variations.get(&id).map(|v| v.sku.clone()) {
            self.reindex("", &sku, (pid, id));
        }
        let mut rest = body.clone();
        rest.remove("sku");
        self.update_variation(pid, id, &rest)?;
        Ok(id)
    }

    /// Deletes variation `vid` of product `pid`.
    pub(super) fn delete_variation(&mut self, pid: u64, vid: u64) -> Result<Variation, RestError> {
        if self.variations.get(&vid).is_none_or(|v| v.parent_id != pid) {
            return Err(RestError::new(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID."));
        }
        let variation = self
            .variations
            .remove(&vid)
            .ok_or_else(|| RestError::new(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID."))?;
        if let Some(parent) = self.products.get_mut(&pid) {
            parent.variations.retain(|v| *v != vid);
        }
        self.reindex(&variation.sku, "", (pid, vid));
        Ok(variation)
    }

    /// Deletes product `id` (and its variations).
    pub(super) fn delete_product(&mut self, id: u64) -> Result<Product, RestError> {
        let product = self
            .products
            .remove(&id)
            .ok_or_else(|| RestError::new(400, "woocommerce_rest_product_invalid_id", "Invalid ID."))?;
        for vid in &product.variations {
            if let Some(variation) = self.variations.remove(vid) {
                self.reindex(&variation.sku, "", (id, *vid));
            }
        }
        self.reindex(&product.sku, "", (id, 0));
        Ok(product)
    }

    /// Moves the stock of `order_id`'s lines by `sign` (-1 takes, +1 restores); answers products touched.
    fn move_stock(&mut self, order_id: u64, sign: i64, touched: &mut Touched) {
        let Some(order) = self.orders.get(&order_id) else {
            return;
        };
        let lines: Vec<(u64, u64, i64)> =
            order.line_items.iter().map(|l| (l.product_id, l.variation_id, l.quantity)).collect();
        let now = Timestamp::now();
        for (pid, vid, quantity) in lines {
            let own_variation = self.variations.get(&vid).is_some_and(|v| v.stock == VariationStock::Own);
            if vid != 0 && own_variation {
                if let Some(v) = self.variations.get_mut(&vid) {
                    v.stock_quantity = Some(v.stock_quantity.unwrap_or(0) + sign * quantity);
                    v.stock_status = stock_status_for(v.stock_quantity, &v.backorders);
                    v.modified = now;
                }
            } else if let Some(p) = self.products.get_mut(&pid)
                && p.manage_stock
            {
                p.stock_quantity = Some(p.stock_quantity.unwrap_or(0) + sign * quantity);
                p.stock_status = stock_status_for(p.stock_quantity, &p.backorders);
            }
            if let Some(p) = self.products.get_mut(&pid) {
                p.total_sales -= sign * quantity;
                p.modified = now;
            }
            touched.product(pid);
        }
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.stock_reduced = sign < 0;
        }
    }

    pub(super) fn place_order(&mut self, order: &PlaceOrder, currency: &str) -> Result<(u64, Touched), ControlError> {
        if order.quantity < 1 {
            return Err(ControlError::Invalid("quantity must be at least 1".into()));
        }
        let (pid, vid) = self
            .find_sku(&order.sku)
            .ok_or_else(|| ControlError::NotFound(format!("no product with SKU {}", order.sku)))?;
        let (name, price, quantity, backorders, status) = if vid == 0 {
            let p = self.products.get(&pid).ok_or_else(|| ControlError::NotFound(order.sku.clone()))?;
            if p.kind == Kind::Variable {
                return Err(ControlError::Invalid(format!("{} is a variable product: order a variation", p.sku)));
            }
            let quantity = if p.manage_stock { p.stock_quantity } else { None };
            (
                p.name.clone(),
                effective_price(&p.regular_price, &p.sale_price),
                quantity,
                p.backorders.clone(),
                p.stock_status.clone(),
            )
        } else {
            let v = self.variations.get(&vid).ok_or_else(|| ControlError::NotFound(order.sku.clone()))?;
            let (_, quantity, status) = self.variation_stock(v);
            let backorders = match v.stock {
                VariationStock::Parent => self.products.get(&pid).map_or_else(|| "no".into(), |p| p.backorders.clone()),
                _ => v.backorders.clone(),
            };
            let parent = self.products.get(&pid).map(|p| p.name.clone()).unwrap_or_default();
            (
                format!("{parent} - {}", v.option),
                effective_price(&v.regular_price, &v.sale_price),
                quantity,
                backorders,
                status,
            )
        };
        match quantity {
            Some(available) if available < order.quantity && backorders == "no" => {
                return Err(ControlError::Conflict(format!("only {available} of {} in stock", order.sku)));
            }
            None if status == "outofstock" => {
                return Err(ControlError::Conflict(format!("{} is out of stock", order.sku)));
            }
            _ => {}
        }
        self.next_order += 1;
        let id = 1000 + self.next_order;
        self.next_item += 1;
        let now = Timestamp::now();
        self.orders.insert(
            id,
            Order {
                id,
                status: "processing".into(),
                currency: currency.to_owned(),
                created: now,
                modified: now,
                paid: Some(now),
                completed: None,
                line_items: vec![LineItem {
                    id: self.next_item,
                    name,
                    product_id: pid,
                    variation_id: vid,
                    quantity: order.quantity,
                    sku: order.sku.clone(),
                    price,
                }],
                notes: Vec::new(),
                trackings: Vec::new(),
                stock_reduced: false,
            },
        );
        let mut touched = Touched { orders_created: vec![id], ..Touched::default() };
        self.move_stock(id, -1, &mut touched);
        self.add_note(id, "Order status changed from Pending payment to Processing.", false, "system");
        Ok((id, touched))
    }

    /// Changes an order's status as WooCommerce does: cancelling (or returning to pending) restores stock,
    /// processing/on-hold/completed take it if it was not taken.
    pub(super) fn set_order_status(&mut self, id: u64, status: &str) -> Result<Touched, RestError> {
        const STATUSES: &[&str] =
            &["pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"];
        if !STATUSES.contains(&status) {
            return Err(invalid_param("status", &format!("must be one of {}", STATUSES.join(", "))));
        }
        let order = self
            .orders
            .get_mut(&id)
            .ok_or_else(|| RestError::new(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID."))?;
        let mut touched = Touched::default();
        if order.status == status {
            return Ok(touched);
        }
        let from = std::mem::replace(&mut order.status, status.to_owned());
        let now = Timestamp::now();
        order.modified = now;
        if status == "completed" {
            order.completed = Some(now);
        }
        let reduced = order.stock_reduced;
        touched.orders_updated.push(id);
        if reduced && matches!(status, "cancelled" | "pending") {
            self.move_stock(id, 1, &mut touched);
        } else if !reduced && matches!(status, "processing" | "on-hold" | "completed") {
            self.move_stock(id, -1, &mut touched);
        }
        self.add_note(id, &format!("Order status changed from {from} to {status}."), false, "system");
        Ok(touched)
    }

    pub(super) fn add_note(&mut self, id: u64, note: &str, customer_note: bool, author: &str) -> Option<u64> {
        self.next_item += 1;
        let note_id = self.next_item;
        let order = self.orders.get_mut(&id)?;
        order.notes.push(Note {
            id: note_id,
            note: note.to_owned(),
            customer_note,
            author: author.to_owned(),
            created: Timestamp::now(),
        });
        Some(note_id)
    }

    pub(super) fn next_tracking_id(&mut self) -> String {
        self.next_item += 1;
        format!("{:032x}", self.next_item)
    }

    pub(super) fn add_hook(&mut self, id: u64, name: &str, topic: &str, url: &str) {
        self.hooks.insert(
            id,
            Hook {
                id,
                name: name.to_owned(),
                status: "active".into(),
                topic: topic.to_owned(),
                delivery_url: url.to_owned(),
                created: Timestamp::now(),
            },
        );
    }
}

fn effective_price(regular: &str, sale: &str) -> Decimal {
    let pick = if sale.is_empty() { regular } else { sale };
    pick.parse().unwrap_or(Decimal::ZERO)
}

fn links(base: &str, path: &str, collection: &str) -> Value {
    json!({
        "self": [{"href": format!("{base}/wp-json/wc/v3/{path}")}],
        "collection": [{"href": format!("{base}/wp-json/wc/v3/{collection}")}],
    })
}

/// JSON renderings (shapes of the WooCommerce REST v3 docs examples in `fixtures/woocommerce/`).
impl State {
    pub(super) fn product_json(&self, product: &Product, base: &str) -> Value {
        let price = effective_price(&product.regular_price, &product.sale_price);
        let price_text = if product.regular_price.is_empty() && product.sale_price.is_empty() {
            String::new()
        } else {
            money(price)
        };
        let mut out = json!({
            "id": product.id,
            "name": product.name,
            "slug": product.name.to_lowercase().replace(' ', "-"),
            "permalink": format!("{base}/product/{}/", product.id),
            "date_created": wc_date(product.created),
            "date_created_gmt": wc_date(product.created),
            "date_modified": wc_date(product.modified),
            "date_modified_gmt": wc_date(product.modified),
            "type": match product.kind { Kind::Simple => "simple", Kind::Variable => "variable" },
            "status": product.status,
            "featured": false,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": product.sku,
            "price": price_text,
            "regular_price": product.regular_price,
            "sale_price": product.sale_price,
            "date_on_sale_from": Value::Null,
            "date_on_sale_from_gmt": Value::Null,
            "date_on_sale_to": Value::Null,
            "date_on_sale_to_gmt": Value::Null,
            "price_html": format!("<span class=\"woocommerce-Price-amount amount\">{price_text}</span>"),
            "on_sale": !product.sale_price.is_empty(),
            "purchasable": !price_text.is_empty(),
            "total_sales": product.total_sales,
            "virtual": false,
            "downloadable": false,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "external_url": "",
            "button_text": "",
            "tax_status": "taxable",
            "tax_class": "",
        });
        let rest = json!({
            "manage_stock": product.manage_stock,
            "stock_quantity": if product.manage_stock { json!(product.stock_quantity) } else { Value::Null },
            "stock_status": product.stock_status,
            "backorders": product.backorders,
            "backorders_allowed": product.backorders != "no",
            "backordered": product.manage_stock && product.stock_quantity.unwrap_or(0) < 0,
            "sold_individually": false,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_required": true,
            "shipping_taxable": true,
            "shipping_class": "",
            "shipping_class_id": 0,
            "reviews_allowed": true,
            "average_rating": "0.00",
            "rating_count": 0,
            "related_ids": [],
            "upsell_ids": [],
            "cross_sell_ids": [],
            "parent_id": 0,
            "purchase_note": "",
            "categories": [],
            "tags": [],
            "images": [],
            "attributes": if product.kind == Kind::Variable {
                json!([{
                    "id": 0, "name": "Option", "position": 0, "visible": true, "variation": true,
                    "options": product.variations.iter().filter_map(|v| self.variations.get(v)).map(|v| v.option.clone()).collect::<Vec<_>>(),
                }])
            } else {
                json!([])
            },
            "default_attributes": [],
            "variations": product.variations,
            "grouped_products": [],
            "menu_order": 0,
            "meta_data": [],
            "_links": links(base, &format!("products/{}", product.id), "products"),
        });
        if let (Value::Object(out), Value::Object(rest)) = (&mut out, rest) {
            out.extend(rest);
        }
        out
    }

    pub(super) fn variation_json(&self, variation: &Variation, base: &str) -> Value {
        let (manage, quantity, status) = self.variation_stock(variation);
        let price = effective_price(&variation.regular_price, &variation.sale_price);
        let mut links = links(
            base,
            &format!("products/{}/variations/{}", variation.parent_id, variation.id),
            &format!("products/{}/variations", variation.parent_id),
        );
        if let Value::Object(map) = &mut links {
            map.insert(
                "up".into(),
                json!([{"href": format!("{base}/wp-json/wc/v3/products/{}", variation.parent_id)}]),
            );
        }
        json!({
            "id": variation.id,
            "date_created": wc_date(variation.created),
            "date_created_gmt": wc_date(variation.created),
            "date_modified": wc_date(variation.modified),
            "date_modified_gmt": wc_date(variation.modified),
            "description": "",
            "permalink": format!("{base}/product/{}/?attribute_option={}", variation.parent_id, variation.option),
            "sku": variation.sku,
            "price": if variation.regular_price.is_empty() { String::new() } else { money(price) },
            "regular_price": variation.regular_price,
            "sale_price": variation.sale_price,
            "date_on_sale_from": Value::Null,
            "date_on_sale_from_gmt": Value::Null,
            "date_on_sale_to": Value::Null,
            "date_on_sale_to_gmt": Value::Null,
            "on_sale": !variation.sale_price.is_empty(),
            "status": "publish",
            "purchasable": !variation.regular_price.is_empty(),
            "virtual": false,
            "downloadable": false,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": manage,
            "stock_quantity": quantity,
            "stock_status": status,
            "backorders": variation.backorders,
            "backorders_allowed": variation.backorders != "no",
            "backordered": quantity.unwrap_or(0) < 0,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_class": "",
            "shipping_class_id": 0,
            "image": Value::Null,
            "attributes": [{"id": 0, "name": "Option", "option": variation.option}],
            "menu_order": 0,
            "meta_data": [],
            "_links": links,
        })
    }

    pub(super) fn order_json(order: &Order, base: &str) -> Value {
        let total: Decimal = order.line_items.iter().map(|l| l.price * Decimal::from(l.quantity)).sum();
        let address = json!({
            "first_name": "Sandbox", "last_name": "Shopper", "company": "", "address_1": "1 Loop Road",
            "address_2": "", "city": "Cape Town", "state": "WC", "postcode": "8001", "country": "ZA",
        });
        let mut billing = address.clone();
        if let Value::Object(map) = &mut billing {
            map.insert("email".into(), json!("shopper@sandbox.invalid"));
            map.insert("phone".into(), json!(""));
        }
        let lines: Vec<Value> = order
            .line_items
            .iter()
            .map(|l| {
                let line_total = money(l.price * Decimal::from(l.quantity));
                json!({
                    "id": l.id,
                    "name": l.name,
                    "product_id": l.product_id,
                    "variation_id": l.variation_id,
                    "quantity": l.quantity,
                    "tax_class": "",
                    "subtotal": line_total,
                    "subtotal_tax": "0.00",
                    "total": line_total,
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                    "sku": l.sku,
                    "price": l.price.to_f64().unwrap_or(0.0),
                })
            })
            .collect();
        json!({
            "id": order.id,
            "parent_id": 0,
            "number": order.id.to_string(),
            "order_key": format!("wc_order_{:013x}", order.id),
            "created_via": "checkout",
            "version": "9.0.0",
            "status": order.status,
            "currency": order.currency,
            "date_created": wc_date(order.created),
            "date_created_gmt": wc_date(order.created),
            "date_modified": wc_date(order.modified),
            "date_modified_gmt": wc_date(order.modified),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": "0.00",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": money(total),
            "total_tax": "0.00",
            "prices_include_tax": false,
            "customer_id": 0,
            "customer_ip_address": "",
            "customer_user_agent": "",
            "customer_note": "",
            "billing": billing,
            "shipping": address,
            "payment_method": "bacs",
            "payment_method_title": "Direct Bank Transfer",
            "transaction_id": "",
            "date_paid": order.paid.map(wc_date),
            "date_paid_gmt": order.paid.map(wc_date),
            "date_completed": order.completed.map(wc_date),
            "date_completed_gmt": order.completed.map(wc_date),
            "cart_hash": "",
            "meta_data": [],
            "line_items": lines,
            "tax_lines": [],
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "_links": links(base, &format!("orders/{}", order.id), "orders"),
        })
    }

    pub(super) fn note_json(order_id: u64, note: &Note, base: &str) -> Value {
        json!({
            "id": note.id,
            "author": note.author,
            "date_created": wc_date(note.created),
            "date_created_gmt": wc_date(note.created),
            "note": note.note,
            "customer_note": note.customer_note,
            "_links": links(base, &format!("orders/{order_id}/notes/{}", note.id), &format!("orders/{order_id}/notes")),
        })
    }

    pub(super) fn tracking_json(tracking: &Tracking) -> Value {
        json!({
            "tracking_id": tracking.tracking_id,
            "tracking_provider": tracking.provider,
            "tracking_link": tracking.link,
            "tracking_number": tracking.number,
            "date_shipped": tracking.date_shipped,
        })
    }

    pub(super) fn hook_json(hook: &Hook, base: &str) -> Value {
        let (resource, event) = hook.topic.split_once('.').unwrap_or((hook.topic.as_str(), ""));
        json!({
            "id": hook.id,
            "name": hook.name,
            "status": hook.status,
            "topic": hook.topic,
            "resource": resource,
            "event": event,
            "hooks": [],
            "delivery_url": hook.delivery_url,
            "date_created": wc_date(hook.created),
            "date_created_gmt": wc_date(hook.created),
            "date_modified": wc_date(hook.created),
            "date_modified_gmt": wc_date(hook.created),
            "_links": links(base, &format!("webhooks/{}", hook.id), "webhooks"),
        })
    }
}
