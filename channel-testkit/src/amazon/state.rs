//! Amazon's state: listings (merchant and FBA), orders, documents, feeds, reports and the notification
//! queue, with the rules that govern them.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::AmazonConfig;
use crate::sandbox::{ControlError, OrderFulfilment, PlaceOrder, SeedProduct};

pub(super) mod feed;

pub(super) fn ts(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// FBA stock of a listing (read-only through the API).
#[derive(Debug, Clone)]
pub(super) struct FbaStock {
    pub(super) fnsku: String,
    pub(super) fulfillable: i64,
    pub(super) reserved: i64,
    pub(super) updated: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct Listing {
    pub(super) sku: String,
    pub(super) asin: String,
    pub(super) product_type: String,
    pub(super) title: String,
    /// Merchant (`DEFAULT`) quantity; meaningless for FBA listings.
    pub(super) quantity: i64,
    /// `Some` for FBA (`AMAZON_*`) listings.
    pub(super) fba: Option<FbaStock>,
    pub(super) price: Option<Decimal>,
    /// Attributes other than `fulfillment_availability` and `purchasable_offer`.
    pub(super) attributes: Map<String, Value>,
    pub(super) created: Timestamp,
    pub(super) updated: Timestamp,
}

impl Listing {
    pub(super) fn channel_code<'a>(&self, config: &'a AmazonConfig) -> &'a str {
        if self.fba.is_some() { config.fba_channel_code.as_str() } else { "DEFAULT" }
    }

    fn buyable(&self) -> bool {
        self.price.is_some() && self.fba.as_ref().map_or(self.quantity > 0, |f| f.fulfillable > 0)
    }

    pub(super) fn attributes_json(&self, config: &AmazonConfig) -> Value {
        let mut attributes = self.attributes.clone();
        let availability = match &self.fba {
            Some(_) => json!([{"fulfillment_channel_code": config.fba_channel_code}]),
            None => json!([{"fulfillment_channel_code": "DEFAULT", "quantity": self.quantity}]),
        };
        attributes.insert("fulfillment_availability".into(), availability);
        if let Some(price) = self.price {
            attributes.insert(
                "purchasable_offer".into(),
                json!([{
                    "marketplace_id": config.marketplace_id,
                    "currency": config.currency,
                    "our_price": [{"schedule": [{"value_with_tax": decimal_number(price)}]}],
                }]),
            );
        }
        attributes.insert(
            "item_name".into(),
            json!([{"value": self.title, "language_tag": "en_US", "marketplace_id": config.marketplace_id}]),
        );
        Value::Object(attributes)
    }

    /// The listing as `getListingsItem` / `searchListingsItems` show it, with the `includedData` sets.
    pub(super) fn to_json(&self, config: &AmazonConfig, included: &[String]) -> Value {
        let mut out = Map::new();
        out.insert("sku".into(), json!(self.sku));
        for set in included {
            let value = match set.as_str() {
                "summaries" => json!([{
                    "marketplaceId": config.marketplace_id,
                    "asin": self.asin,
                    "productType": self.product_type,
                    "conditionType": "new_new",
                    "status": if self.buyable() { json!(["BUYABLE", "DISCOVERABLE"]) } else { json!(["DISCOVERABLE"]) },
                    "itemName": self.title,
                    "createdDate": ts(self.created),
                    "lastUpdatedDate": ts(self.updated),
                }]),
                "attributes" => self.attributes_json(config),
                "issues" => json!([]),
                "offers" => match self.price {
                    Some(price) => json!([{
                        "marketplaceId": config.marketplace_id,
                        "offerType": "B2C",
                        "price": {"currencyCode": config.currency, "amount": price.to_string()},
                    }]),
                    None => json!([]),
                },
                "fulfillmentAvailability" => match &self.fba {
                    // Amazon leaves out the quantity of FBA channels here; the FBA inventory API has it.
                    Some(_) => json!([{"fulfillmentChannelCode": config.fba_channel_code}]),
                    None => json!([{"fulfillmentChannelCode": "DEFAULT", "quantity": self.quantity}]),
                },
                "procurement" | "relationships" | "productTypes" => json!([]),
                _ => continue,
            };
            out.insert(set.clone(), value);
        }
        Value::Object(out)
    }
}

/// A JSON number for a decimal price (`19.99`).
pub(super) fn decimal_number(value: Decimal) -> Value {
    serde_json::from_str(&value.normalize().to_string()).unwrap_or(Value::Null)
}

#[derive(Debug, Clone)]
pub(super) struct OrderItem {
    pub(super) order_item_id: String,
    pub(super) sku: String,
    pub(super) asin: String,
    pub(super) title: String,
    pub(super) quantity: i64,
    pub(super) shipped: i64,
    pub(super) price: Decimal,
}

#[derive(Debug, Clone)]
pub(super) struct Order {
    pub(super) id: String,
    pub(super) purchased: Timestamp,
    pub(super) updated: Timestamp,
    pub(super) status: &'static str,
    pub(super) afn: bool,
    pub(super) items: Vec<OrderItem>,
    pub(super) shipments: Vec<Value>,
}

/// An uploaded or generated document (feed input, processing report, report).
#[derive(Debug, Clone)]
pub(super) struct Document {
    pub(super) content_type: String,
    pub(super) body: Option<bytes::Bytes>,
    /// The "signature" in the pre-signed URL.
    pub(super) token: String,
    /// `compressionAlgorithm` (`GZIP`) of a generated document whose `body` is compressed.
    pub(super) compression: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) id: String,
    pub(super) kind: String,
    pub(super) marketplace_ids: Vec<String>,
    pub(super) input: Option<String>,
    pub(super) status: &'static str,
    pub(super) created: Timestamp,
    pub(super) started: Option<Timestamp>,
    pub(super) ended: Option<Timestamp>,
    pub(super) result: Option<String>,
    /// An injected partial failure for this feed's messages.
    pub(super) partial: Option<crate::sandbox::PartialBatch>,
}

impl Job {
    pub(super) fn feed_json(&self) -> Value {
        let mut out = json!({
            "feedId": self.id,
            "feedType": self.kind,
            "marketplaceIds": self.marketplace_ids,
            "createdTime": ts(self.created),
            "processingStatus": self.status,
        });
        if let Some(at) = self.started {
            out["processingStartTime"] = json!(ts(at));
        }
        if let Some(at) = self.ended {
            out["processingEndTime"] = json!(ts(at));
        }
        if let Some(doc) = &self.result {
            out["resultFeedDocumentId"] = json!(doc);
        }
        out
    }

    pub(super) fn report_json(&self) -> Value {
        let mut out = json!({
            "reportId": self.id,
            "reportType": self.kind,
            "marketplaceIds": self.marketplace_ids,
            "createdTime": ts(self.created),
            "processingStatus": self.status,
        });
        if let Some(at) = self.started {
            out["processingStartTime"] = json!(ts(at));
        }
        if let Some(at) = self.ended {
            out["processingEndTime"] = json!(ts(at));
        }
        if let Some(doc) = &self.result {
            out["reportDocumentId"] = json!(doc);
        }
        out
    }
}

/// A notification to queue: type and payload (the envelope is added by the platform).
pub(super) type Note = (&'static str, Value);

/// Why a listing update was refused: an issue in the `ListingsItemSubmissionResponse` shape.
pub(super) fn issue(code: &str, message: impl Into<String>, attribute: Option<&str>) -> Value {
    let mut out = json!({"code": code, "message": message.into(), "severity": "ERROR"});
    if let Some(attribute) = attribute {
        out["attributeNames"] = json!([attribute]);
    }
    out
}

/// A planned change to one listing, validated but not applied.
#[derive(Debug, Default, Clone)]
pub(super) struct ListingChange {
    pub(super) quantity: Option<i64>,
    pub(super) price: Option<Option<Decimal>>,
    pub(super) attributes: Vec<(String, Option<Value>)>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    next: u64,
    pub(super) listings: BTreeMap<String, Listing>,
    pub(super) orders: BTreeMap<String, Order>,
    pub(super) documents: HashMap<String, Document>,
    pub(super) feeds: HashMap<String, Job>,
    pub(super) reports: HashMap<String, Job>,
    /// Page token → (query, offset) for searchOrders / searchListingsItems / FBA summaries.
    pub(super) tokens: HashMap<String, (String, usize)>,
    pub(super) notifications: Vec<Value>,
}

impl State {
    pub(super) fn next_number(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    pub(super) fn new_document(&mut self, content_type: &str, body: Option<bytes::Bytes>) -> String {
        let id = format!("amzn1.tortuga.4.na.{}", uuid::Uuid::new_v4());
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.documents
            .insert(id.clone(), Document { content_type: content_type.to_owned(), body, token, compression: None });
        id
    }

    /// A generated document (report, processing report), gzip-compressed when `gzip` is set.
    pub(super) fn generated_document(&mut self, content_type: &str, body: Vec<u8>, gzip: bool) -> String {
        if !gzip {
            return self.new_document(content_type, Some(body.into()));
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let compressed =
            std::io::Write::write_all(&mut encoder, &body).and_then(|()| encoder.finish()).unwrap_or_default();
        let id = self.new_document(content_type, Some(compressed.into()));
        if let Some(doc) = self.documents.get_mut(&id) {
            doc.compression = Some("GZIP");
        }
        id
    }

    pub(super) fn remember_token(&mut self, query: String, offset: usize) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.tokens.insert(token.clone(), (query, offset));
        token
    }

    pub(super) fn seed(&mut self, config: &AmazonConfig, seed: &SeedProduct) -> Result<Value, ControlError> {
        if seed.sku.trim().is_empty() {
            return Err(ControlError::Invalid("sku must not be empty".into()));
        }
        if self.listings.contains_key(&seed.sku) {
            return Err(ControlError::Conflict(format!("a listing with SKU {} exists", seed.sku)));
        }
        if seed.quantity < 0 {
            return Err(ControlError::Invalid("quantity must not be negative".into()));
        }
        let n = self.next_number();
        let now = Timestamp::now();
        let fba = matches!(seed.extra_str("fulfilment"), Some("channel")).then(|| FbaStock {
            fnsku: format!("X00{n:07}"),
            fulfillable: seed.quantity,
            reserved: 0,
            updated: now,
        });
        let asin = seed.extra_str("asin").map_or_else(|| format!("B0{n:08}"), str::to_owned);
        let listing = Listing {
            sku: seed.sku.clone(),
            asin: asin.clone(),
            product_type: seed.extra_str("product_type").unwrap_or("PRODUCT").to_owned(),
            title: seed.extra_str("title").map_or_else(|| seed.sku.clone(), str::to_owned),
            quantity: if fba.is_some() { 0 } else { seed.quantity },
            fba,
            price: seed.price,
            attributes: Map::new(),
            created: now,
            updated: now,
        };
        let channel = listing.channel_code(config).to_owned();
        self.listings.insert(seed.sku.clone(), listing);
        Ok(json!({"sku": seed.sku, "asin": asin, "fulfillment_channel_code": channel, "seller_id": config.seller_id}))
    }

    /// Validates `patches` against a listing; answers the change or the issues.
    pub(super) fn plan_patches(
        &self,
        config: &AmazonConfig,
        sku: &str,
        patches: &[Value],
    ) -> Result<ListingChange, Vec<Value>> {
        let Some(listing) = self.listings.get(sku) else {
            return Err(vec![issue(
                "NOT_FOUND",
                format!("SKU '{sku}' not found in marketplace {}", config.marketplace_id),
                None,
            )]);
        };
        let mut change = ListingChange::default();
        let mut issues = Vec::new();
        if patches.is_empty() {
            issues.push(issue("INVALID_INPUT", "patches must contain at least one operation", None));
        }
        for patch in patches {
            let (op, attribute, entries) = match patch_target(patch) {
                Ok(target) => target,
                Err(problem) => {
                    issues.push(problem);
                    continue;
                }
            };
            match attribute {
                "fulfillment_availability" => {
                    let fba = listing.fba.is_some();
                    plan_availability(config, sku, fba, op, &entries, &mut change, &mut issues);
                }
                "purchasable_offer" => plan_offer(config, op, &entries, &mut change, &mut issues),
                other => change.attributes.push((other.to_owned(), (op != "delete").then_some(Value::Array(entries)))),
            }
        }
        if issues.is_empty() { Ok(change) } else { Err(issues) }
    }

    /// Applies a validated change; answers the notifications it causes.
    pub(super) fn apply(&mut self, config: &AmazonConfig, sku: &str, change: ListingChange) -> Vec<Note> {
        let Some(listing) = self.listings.get_mut(sku) else { return Vec::new() };
        let now = Timestamp::now();
        let mut notes = Vec::new();
        if let Some(quantity) = change.quantity
            && quantity != listing.quantity
        {
            listing.quantity = quantity;
            notes.push(mfn_note(config, sku, quantity));
        }
        if let Some(price) = change.price {
            listing.price = price;
        }
        for (name, value) in change.attributes {
            match value {
                Some(value) => listing.attributes.insert(name, value),
                None => listing.attributes.remove(&name),
            };
        }
        listing.updated = now;
        notes
    }

    pub(super) fn place_order(
        &mut self,
        config: &AmazonConfig,
        order: &PlaceOrder,
    ) -> Result<(String, Vec<Note>), ControlError> {
        if order.quantity < 1 {
            return Err(ControlError::Invalid("quantity must be at least 1".into()));
        }
        let listing = self
            .listings
            .get(&order.sku)
            .ok_or_else(|| ControlError::NotFound(format!("no listing with SKU {}", order.sku)))?;
        let afn = order.fulfilment == OrderFulfilment::Channel;
        if afn != listing.fba.is_some() {
            return Err(ControlError::Invalid(format!(
                "SKU {} is {} and cannot take {} orders",
                order.sku,
                if listing.fba.is_some() { "fulfilled by Amazon" } else { "merchant-fulfilled" },
                if afn { "FBA (channel)" } else { "merchant" },
            )));
        }
        let available = listing.fba.as_ref().map_or(listing.quantity, |f| f.fulfillable);
        if available < order.quantity {
            return Err(ControlError::Conflict(format!("only {available} of {} available", order.sku)));
        }
        let (asin, title, price) = (listing.asin.clone(), listing.title.clone(), listing.price.unwrap_or_default());
        let n = self.next_number();
        let id = format!("{:03}-{:07}-{:07}", 900 + n % 100, 3_000_000 + n, 1_000_000 + n * 7 % 9_000_000);
        let now = Timestamp::now();
        let item = OrderItem {
            order_item_id: format!("{:014}", 10_000_000_000_000 + n),
            sku: order.sku.clone(),
            asin,
            title,
            quantity: order.quantity,
            shipped: 0,
            price,
        };
        self.orders.insert(
            id.clone(),
            Order {
                id: id.clone(),
                purchased: now,
                updated: now,
                status: config.initial_order_status,
                afn,
                items: vec![item],
                shipments: Vec::new(),
            },
        );
        let mut notes = vec![self.order_note(config, &id, "OrderStatusChange", None)];
        notes.extend(self.move_stock(config, &order.sku, -order.quantity));
        Ok((id, notes))
    }

    /// Moves available stock of `sku` (merchant or FBA fulfillable) by `delta`.
    fn move_stock(&mut self, config: &AmazonConfig, sku: &str, delta: i64) -> Vec<Note> {
        let Some(listing) = self.listings.get_mut(sku) else { return Vec::new() };
        let now = Timestamp::now();
        listing.updated = now;
        match &mut listing.fba {
            Some(fba) => {
                fba.fulfillable += delta;
                fba.reserved = (fba.reserved - delta).max(0);
                fba.updated = now;
                let note = fba_note(config, listing);
                vec![note]
            }
            None => {
                listing.quantity += delta;
                vec![mfn_note(config, sku, listing.quantity)]
            }
        }
    }

    pub(super) fn cancel_order(&mut self, config: &AmazonConfig, id: &str) -> Result<Vec<Note>, ControlError> {
        let order = self.orders.get_mut(id).ok_or_else(|| ControlError::NotFound(format!("no order {id}")))?;
        if order.status == "Canceled" {
            return Err(ControlError::Conflict(format!("order {id} is already cancelled")));
        }
        if order.status == "Shipped" {
            return Err(ControlError::Conflict(format!("order {id} has shipped")));
        }
        order.status = "Canceled";
        order.updated = Timestamp::now();
        let restore: Vec<(String, i64)> = order.items.iter().map(|i| (i.sku.clone(), i.quantity - i.shipped)).collect();
        let mut notes = vec![self.order_note(config, id, "OrderStatusChange", Some("Buyer Requested Cancel"))];
        for (sku, quantity) in restore {
            notes.extend(self.move_stock(config, &sku, quantity));
        }
        Ok(notes)
    }

    pub(super) fn order_note(&self, config: &AmazonConfig, id: &str, change: &str, reason: Option<&str>) -> Note {
        let Some(order) = self.orders.get(id) else { return ("ORDER_CHANGE", Value::Null) };
        let items: Vec<Value> = order
            .items
            .iter()
            .map(|i| {
                json!({
                    "OrderItemId": i.order_item_id,
                    "SellerSKU": i.sku,
                    "OrderItemStatus": order.status,
                    "Quantity": i.quantity,
                    "QuantityShipped": i.shipped,
                })
            })
            .collect();
        let shipped: i64 = order.items.iter().map(|i| i.shipped).sum();
        let ordered: i64 = order.items.iter().map(|i| i.quantity).sum();
        let mut trigger = json!({"TimeOfOrderChange": ts(order.updated)});
        if let Some(reason) = reason {
            trigger["ChangeReason"] = json!(reason);
        }
        (
            "ORDER_CHANGE",
            json!({"OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": config.seller_id,
                "AmazonOrderId": order.id,
                "OrderChangeType": change,
                "OrderChangeTrigger": trigger,
                "Summary": {
                    "MarketplaceId": config.marketplace_id,
                    "OrderStatus": order.status,
                    "PurchaseDate": ts(order.purchased),
                    "FulfillmentType": if order.afn { "AFN" } else { "MFN" },
                    "OrderType": "StandardOrder",
                    "NumberOfItemsShipped": shipped,
                    "NumberOfItemsUnshipped": ordered - shipped,
                    "OrderItems": items,
                },
            }}),
        )
    }

    /// The `GET_MERCHANT_LISTINGS_ALL_DATA` report: tab-separated with a header row.
    pub(super) fn listings_report(&self, config: &AmazonConfig) -> String {
        const COLUMNS: &[&str] = &[
            "item-name",
            "item-description",
            "listing-id",
            "seller-sku",
            "price",
            "quantity",
            "open-date",
            "image-url",
            "item-is-marketplace",
            "product-id-type",
            "zshop-shipping-fee",
            "item-note",
            "item-condition",
            "zshop-category1",
            "zshop-browse-path",
            "zshop-storefront-feature",
            "asin1",
            "asin2",
            "asin3",
            "will-ship-internationally",
            "expedited-shipping",
            "zshop-boldface",
            "product-id",
            "bid-for-featured-placement",
            "add-delete",
            "pending-quantity",
            "fulfillment-channel",
            "merchant-shipping-group",
            "status",
        ];
        let mut out = COLUMNS.join("\t");
        out.push('\n');
        for listing in self.listings.values() {
            let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
            let quantity = if listing.fba.is_some() { String::new() } else { listing.quantity.to_string() };
            let active =
                listing.fba.as_ref().map_or(listing.quantity > 0, |f| f.fulfillable > 0) && listing.price.is_some();
            let row = [
                clean(&listing.title),
                String::new(),
                format!("{}{}", listing.created.as_second(), listing.sku.len()),
                clean(&listing.sku),
                listing.price.map(|p| format!("{p:.2}")).unwrap_or_default(),
                quantity,
                listing.created.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                String::new(),
                "y".into(),
                "1".into(),
                String::new(),
                String::new(),
                "11".into(),
                String::new(),
                String::new(),
                String::new(),
                listing.asin.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                listing.asin.clone(),
                String::new(),
                String::new(),
                "0".into(),
                listing.channel_code(config).to_owned(),
                "Migrated Template".into(),
                if active { "Active".into() } else { "Inactive".into() },
            ];
            out.push_str(&row.join("\t"));
            out.push('\n');
        }
        out
    }
}

fn fba_read_only(config: &AmazonConfig, attribute: &str) -> Value {
    issue(
        "FBA_QUANTITY_READ_ONLY",
        format!("Quantity for fulfillment channel {} is managed by Amazon and cannot be set", config.fba_channel_code),
        Some(attribute),
    )
}

/// A patch's op, the top-level attribute it names and its value's entries (none for `delete`); or the
/// issue when the op is unsupported, the path is not a top-level attribute, or the value is not an array.
fn patch_target(patch: &Value) -> Result<(&str, &str, Vec<Value>), Value> {
    let op = patch.get("op").and_then(Value::as_str).unwrap_or_default();
    if !matches!(op, "add" | "replace" | "merge" | "delete") {
        return Err(issue("INVALID_INPUT", format!("unsupported patch op {op:?}"), None));
    }
    let path = patch.get("path").and_then(Value::as_str).unwrap_or_default();
    let Some(attribute) = path.strip_prefix("/attributes/").filter(|a| !a.is_empty() && !a.contains('/')) else {
        return Err(issue("INVALID_INPUT", format!("only top-level attributes can be patched, not {path:?}"), None));
    };
    let value = patch.get("value");
    if op != "delete" && !value.is_some_and(Value::is_array) {
        return Err(issue("INVALID_INPUT", format!("the value for {attribute} must be an array"), Some(attribute)));
    }
    let entries = value.and_then(Value::as_array).cloned().unwrap_or_default();
    Ok((op, attribute, entries))
}

/// A `fulfillment_availability` patch: the merchant quantity (`DEFAULT` channel only; read-only for a
/// listing Amazon fulfils). `delete` sets the quantity to 0.
fn plan_availability(
    config: &AmazonConfig,
    sku: &str,
    fba: bool,
    op: &str,
    entries: &[Value],
    change: &mut ListingChange,
    issues: &mut Vec<Value>,
) {
    let attribute = "fulfillment_availability";
    if op == "delete" {
        if fba {
            issues.push(fba_read_only(config, attribute));
        } else {
            change.quantity = Some(0);
        }
        return;
    }
    for entry in entries {
        let code = entry.get("fulfillment_channel_code").and_then(Value::as_str).unwrap_or_default();
        if code.starts_with("AMAZON_") {
            issues.push(fba_read_only(config, attribute));
        } else if code != "DEFAULT" {
            issues.push(issue("INVALID_VALUE", format!("unknown fulfillment_channel_code {code:?}"), Some(attribute)));
        } else if fba {
            issues.push(issue(
                "FULFILLMENT_CHANNEL_CONFLICT",
                format!(
                    "SKU '{sku}' is fulfilled by Amazon ({}); its merchant quantity cannot be set",
                    config.fba_channel_code
                ),
                Some(attribute),
            ));
        } else {
            match entry.get("quantity").and_then(Value::as_i64) {
                Some(quantity) if quantity >= 0 => change.quantity = Some(quantity),
                _ => issues.push(issue(
                    "INVALID_VALUE",
                    "quantity must be a whole number of at least 0",
                    Some(attribute),
                )),
            }
        }
    }
}

/// A `purchasable_offer` patch: the price with tax, in the seller's marketplace and its currency.
/// `delete` removes the price.
fn plan_offer(config: &AmazonConfig, op: &str, entries: &[Value], change: &mut ListingChange, issues: &mut Vec<Value>) {
    let attribute = "purchasable_offer";
    if op == "delete" {
        change.price = Some(None);
        return;
    }
    for entry in entries {
        if let Some(market) = entry.get("marketplace_id").and_then(Value::as_str)
            && market != config.marketplace_id
        {
            issues.push(issue(
                "INVALID_VALUE",
                format!("marketplace_id {market} is not one of the seller's marketplaces"),
                Some(attribute),
            ));
            continue;
        }
        let currency = entry.get("currency").and_then(Value::as_str).unwrap_or_default();
        if currency != config.currency {
            issues.push(issue(
                "INVALID_VALUE",
                format!("currency {currency:?} is not the marketplace currency {}", config.currency),
                Some("purchasable_offer.currency"),
            ));
            continue;
        }
        let price = entry
            .pointer("/our_price/0/schedule/0/value_with_tax")
            .and_then(|v| v.to_string().parse::<Decimal>().ok().or_else(|| v.as_str()?.parse().ok()));
        match price {
            Some(price) if price > Decimal::ZERO => change.price = Some(Some(price)),
            _ => issues.push(issue(
                "INVALID_VALUE",
                "our_price[0].schedule[0].value_with_tax must be a positive number",
                Some("purchasable_offer.our_price"),
            )),
        }
    }
}

pub(super) fn mfn_note(config: &AmazonConfig, sku: &str, quantity: i64) -> Note {
    (
        "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
        json!({"SellerId": config.seller_id, "FulfillmentChannelCode": "DEFAULT", "Sku": sku, "Quantity": quantity}),
    )
}

fn fba_note(config: &AmazonConfig, listing: &Listing) -> Note {
    let fba = listing.fba.as_ref();
    (
        "FBA_INVENTORY_AVAILABILITY_CHANGES",
        json!({
            "SellerId": config.seller_id,
            "FNSKU": fba.map(|f| f.fnsku.clone()),
            "ASIN": listing.asin,
            "SKU": listing.sku,
            "FulfillmentInventoryByMarketplace": [{
                "MarketplaceId": config.marketplace_id,
                "ItemName": listing.title,
                "FulfillmentInventory": {
                    "InboundQuantityBreakdown": {"Working": 0, "Shipped": 0, "Receiving": 0},
                    "Fulfillable": fba.map_or(0, |f| f.fulfillable),
                    "Unfulfillable": 0,
                    "Researching": 0,
                    "ReservedQuantityBreakdown": {"WarehouseProcessing": 0, "WarehouseTransfer": 0,
                        "PendingCustomerOrder": fba.map_or(0, |f| f.reserved)},
                    "FutureSupplyBuyable": 0,
                    "PendingCustomerOrderInTransit": 0,
                },
            }],
        }),
    )
}

/// The FBA inventory summary of a listing (`details` adds `inventoryDetails`).
pub(super) fn fba_summary(listing: &Listing, details: bool) -> Option<Value> {
    let fba = listing.fba.as_ref()?;
    let mut out = json!({
        "asin": listing.asin,
        "fnSku": fba.fnsku,
        "sellerSku": listing.sku,
        "condition": "NewItem",
        "lastUpdatedTime": ts(fba.updated),
        "productName": listing.title,
        "totalQuantity": fba.fulfillable + fba.reserved,
    });
    if details {
        out["inventoryDetails"] = json!({
            "fulfillableQuantity": fba.fulfillable,
            "inboundWorkingQuantity": 0,
            "inboundShippedQuantity": 0,
            "inboundReceivingQuantity": 0,
            "reservedQuantity": {"totalReservedQuantity": fba.reserved, "pendingCustomerOrderQuantity": fba.reserved,
                                 "pendingTransshipmentQuantity": 0, "fcProcessingQuantity": 0},
            "researchingQuantity": {"totalResearchingQuantity": 0, "researchingQuantityBreakdown": []},
            "unfulfillableQuantity": {"totalUnfulfillableQuantity": 0, "customerDamagedQuantity": 0,
                "warehouseDamagedQuantity": 0, "distributorDamagedQuantity": 0, "carrierDamagedQuantity": 0,
                "defectiveQuantity": 0, "expiredQuantity": 0},
        });
    }
    Some(out)
}
