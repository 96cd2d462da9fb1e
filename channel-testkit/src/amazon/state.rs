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
    /// `our_price` of the standard offer (`audience` `ALL`) in the marketplace and its currency; kept equal
    /// to what `offers` holds.
    pub(super) price: Option<Decimal>,
    /// Fields of the `DEFAULT` `fulfillment_availability` entry other than the channel code and quantity
    /// (`lead_time_to_ship_max_days`, `restock_date`, …), kept until a `replace` or `delete` drops them.
    pub(super) availability_extra: Map<String, Value>,
    /// The `purchasable_offer` entries as written (each keyed by `marketplace_id`, `currency`, `audience`).
    pub(super) offers: Vec<Value>,
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
            None => {
                let mut entry = self.availability_extra.clone();
                entry.insert("fulfillment_channel_code".into(), json!("DEFAULT"));
                entry.insert("quantity".into(), json!(self.quantity));
                json!([entry])
            }
        };
        attributes.insert("fulfillment_availability".into(), availability);
        if !self.offers.is_empty() {
            attributes.insert("purchasable_offer".into(), Value::Array(self.offers.clone()));
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

/// The standard offer of a price in the seller's marketplace and currency.
pub(super) fn standard_offer(config: &AmazonConfig, price: Decimal) -> Value {
    json!({
        "marketplace_id": config.marketplace_id,
        "currency": config.currency,
        "audience": "ALL",
        "our_price": [{"schedule": [{"value_with_tax": decimal_number(price)}]}],
    })
}

/// The key of a `purchasable_offer` entry: its selectors `marketplace_id`, `currency` and `audience`
/// (default `ALL`, as "Manage purchasable offer" documents).
fn offer_key(offer: &Value) -> (String, String, String) {
    let text = |name: &str| offer.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let audience = offer.get("audience").and_then(Value::as_str).filter(|a| !a.is_empty()).unwrap_or("ALL");
    (text("marketplace_id"), text("currency"), audience.to_owned())
}

/// `our_price[0].schedule[0].value_with_tax` of an offer entry, when it is a number (or numeric text).
fn offer_price(offer: &Value) -> Option<Decimal> {
    offer
        .pointer("/our_price/0/schedule/0/value_with_tax")
        .and_then(|v| v.as_str().map(str::to_owned).or_else(|| v.is_number().then(|| v.to_string())))
        .and_then(|t| t.parse::<Decimal>().ok())
}

/// The price of the standard offer among `offers`.
fn standard_price(config: &AmazonConfig, offers: &[Value]) -> Option<Decimal> {
    let key = (config.marketplace_id.clone(), config.currency.clone(), "ALL".to_owned());
    offers.iter().find(|o| offer_key(o) == key).and_then(offer_price)
}

/// `merge` of one object into another: each field given replaces the field of that name, `null` removes
/// it, fields not given stay ("Merge a listing").
fn merge_fields(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// `merge` of an attribute whose selectors the emulator does not know: each entry is merged into the
/// entry with the same `marketplace_id` and `language_tag` (the usual selectors of product type
/// definitions; absent on both counts as equal), or added.
fn merge_entries(current: Option<Value>, entries: &[Value]) -> Value {
    let mut out: Vec<Value> = current.and_then(|v| v.as_array().cloned()).unwrap_or_default();
    let key = |v: &Value| (v.get("marketplace_id").cloned(), v.get("language_tag").cloned());
    for entry in entries {
        let Some(given) = entry.as_object() else { continue };
        match out.iter_mut().find(|o| key(o) == key(entry)).and_then(Value::as_object_mut) {
            Some(existing) => merge_fields(existing, given),
            None => out.push(Value::Object(
                given.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
        }
    }
    Value::Array(out)
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

/// Why a listing update was refused: an `Issue` of the `ListingsItemSubmissionResponse` (listingsItems
/// model: `code`, `message`, `severity` and `categories` required).
pub(super) fn issue(code: &str, message: impl Into<String>, attribute: Option<&str>) -> Value {
    let mut out = json!({"code": code, "message": message.into(), "severity": "ERROR", "categories": []});
    if let Some(attribute) = attribute {
        out["attributeNames"] = json!([attribute]);
        let category = if attribute.starts_with("purchasable_offer") { "INVALID_PRICE" } else { "INVALID_ATTRIBUTE" };
        out["categories"] = json!([category]);
    }
    out
}

/// A planned change to one listing, validated but not applied.
#[derive(Debug, Default, Clone)]
pub(super) struct ListingChange {
    pub(super) quantity: Option<i64>,
    /// The new extra fields of the `DEFAULT` availability entry.
    pub(super) availability_extra: Option<Map<String, Value>>,
    /// The new `purchasable_offer` entries.
    pub(super) offers: Option<Vec<Value>>,
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
    /// searchOrders page token → (query, sort key of the last order answered): the next page starts after
    /// that key, so an order updated while the pages are read leaves no gap behind it.
    pub(super) order_tokens: HashMap<String, (String, (Timestamp, String))>,
    pub(super) notifications: Vec<Value>,
}

impl State {
    pub(super) fn next_number(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Creates an empty listing of `sku` (no quantity, no offer) when there is none; answers whether it
    /// did. Amazon accepts a patch or a feed `PATCH` for a SKU it does not know and records the offer data
    /// as an incomplete, offer-only listing ("This is expected behavior", amzn/selling-partner-api-models
    /// #2797; #4402 for `JSON_LISTINGS_FEED`), as an `UPDATE` creates one.
    pub(super) fn ensure_listing(&mut self, sku: &str, product_type: &str) -> bool {
        if self.listings.contains_key(sku) {
            return false;
        }
        let n = self.next_number();
        let now = Timestamp::now();
        self.listings.insert(
            sku.to_owned(),
            Listing {
                sku: sku.to_owned(),
                asin: format!("B0{n:08}"),
                product_type: product_type.to_owned(),
                title: sku.to_owned(),
                quantity: 0,
                fba: None,
                price: None,
                availability_extra: Map::new(),
                offers: Vec::new(),
                attributes: Map::new(),
                created: now,
                updated: now,
            },
        );
        true
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

    pub(super) fn remember_order_token(&mut self, query: String, last: (Timestamp, String)) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.order_tokens.insert(token.clone(), (query, last));
        token
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
            availability_extra: Map::new(),
            offers: seed.price.map(|p| standard_offer(config, p)).into_iter().collect(),
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
                    plan_availability(config, listing, op, &entries, &mut change, &mut issues)
                }
                "purchasable_offer" => plan_offer(config, listing, op, &entries, &mut change, &mut issues),
                other => {
                    let value = match op {
                        "delete" => None,
                        "merge" => {
                            let current = change
                                .attributes
                                .iter()
                                .rev()
                                .find(|(name, _)| name == other)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_else(|| listing.attributes.get(other).cloned());
                            Some(merge_entries(current, &entries))
                        }
                        _ => Some(Value::Array(entries)),
                    };
                    change.attributes.push((other.to_owned(), value));
                }
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
        if let Some(extra) = change.availability_extra {
            listing.availability_extra = extra;
        }
        if let Some(offers) = change.offers {
            listing.price = standard_price(config, &offers);
            listing.offers = offers;
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

    /// The `GET_MERCHANT_LISTINGS_ALL_DATA` report: tab-separated with a header row; the fulfilment
    /// column spelled as [`AmazonConfig::fulfilment_column`] says.
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
        let header: Vec<&str> =
            COLUMNS.iter().map(|c| if *c == "fulfillment-channel" { config.fulfilment_column() } else { c }).collect();
        let mut out = header.join("\t");
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

/// A `fulfillment_availability` patch of a merchant listing's `DEFAULT` entry (read-only for a listing
/// Amazon fulfils). `replace`/`add` replace the whole attribute (fields not given are dropped; the
/// quantity is required); `merge` changes only the fields given of the entry its selector
/// `fulfillment_channel_code` names (`null` removes a field; the quantity may be left out); `delete`
/// removes the attribute (quantity 0).
fn plan_availability(
    config: &AmazonConfig,
    listing: &Listing,
    op: &str,
    entries: &[Value],
    change: &mut ListingChange,
    issues: &mut Vec<Value>,
) {
    let attribute = "fulfillment_availability";
    let fba = listing.fba.is_some();
    if op == "delete" {
        if fba {
            issues.push(fba_read_only(config, attribute));
        } else {
            change.quantity = Some(0);
            change.availability_extra = Some(Map::new());
        }
        return;
    }
    for entry in entries {
        let code = entry.get("fulfillment_channel_code").and_then(Value::as_str).unwrap_or_default();
        if code.is_empty() {
            issues.push(issue(
                "INVALID_INPUT",
                "fulfillment_channel_code (the selector) must be given a non-empty value",
                Some(attribute),
            ));
            continue;
        }
        if code.starts_with("AMAZON_") {
            issues.push(fba_read_only(config, attribute));
            continue;
        }
        if code != "DEFAULT" {
            issues.push(issue("INVALID_VALUE", format!("unknown fulfillment_channel_code {code:?}"), Some(attribute)));
            continue;
        }
        if fba {
            issues.push(issue(
                "FULFILLMENT_CHANNEL_CONFLICT",
                format!(
                    "SKU '{}' is fulfilled by Amazon ({}); its merchant quantity cannot be set",
                    listing.sku, config.fba_channel_code
                ),
                Some(attribute),
            ));
            continue;
        }
        let quantity = match entry.get("quantity") {
            None if op == "merge" => None,
            Some(q) => match q.as_i64() {
                Some(quantity) if quantity >= 0 => Some(quantity),
                _ => {
                    issues.push(issue(
                        "INVALID_VALUE",
                        "quantity must be a whole number of at least 0",
                        Some(attribute),
                    ));
                    continue;
                }
            },
            None => {
                issues.push(issue("INVALID_VALUE", "quantity is required", Some(attribute)));
                continue;
            }
        };
        let mut given = entry.as_object().cloned().unwrap_or_default();
        given.remove("fulfillment_channel_code");
        given.remove("quantity");
        let extra = if op == "merge" {
            let mut extra = change.availability_extra.clone().unwrap_or_else(|| listing.availability_extra.clone());
            merge_fields(&mut extra, &given);
            extra
        } else {
            given.into_iter().filter(|(_, v)| !v.is_null()).collect()
        };
        if let Some(quantity) = quantity {
            change.quantity = Some(quantity);
        }
        change.availability_extra = Some(extra);
    }
}

/// A `purchasable_offer` patch. Entries are keyed by their selectors `marketplace_id`, `currency` and
/// `audience` (default `ALL`, except that a `merge` must name all three: "Merge a listing"); every entry
/// must name its marketplace, which must be the seller's, the currency its currency, and an
/// `our_price` given must have a positive `schedule[0].value_with_tax`. `replace`/`add` replace the
/// whole attribute (each entry needs its `our_price`); `merge` changes only the fields given of the entry
/// with the same selectors (adding it when there is none; `null` removes a field, as for a B2B
/// `quantity_discount_plan`); `delete` removes the entries named by their selectors (all when none).
fn plan_offer(
    config: &AmazonConfig,
    listing: &Listing,
    op: &str,
    entries: &[Value],
    change: &mut ListingChange,
    issues: &mut Vec<Value>,
) {
    let attribute = "purchasable_offer";
    let mut offers = change.offers.clone().unwrap_or_else(|| listing.offers.clone());
    if op == "delete" {
        if entries.is_empty() {
            offers.clear();
        } else {
            let keys: Vec<_> = entries.iter().map(offer_key).collect();
            offers.retain(|o| !keys.contains(&offer_key(o)));
        }
        change.offers = Some(offers);
        return;
    }
    let mut replacement = Vec::new();
    for entry in entries {
        let market = entry.get("marketplace_id").and_then(Value::as_str).unwrap_or_default();
        let currency = entry.get("currency").and_then(Value::as_str).unwrap_or_default();
        let audience = entry.get("audience").and_then(Value::as_str).unwrap_or_default();
        // "Merge a listing": "You must provide non-empty values for the selector field such as audience."
        if op == "merge" && (market.is_empty() || currency.is_empty() || audience.is_empty()) {
            issues.push(issue(
                "INVALID_INPUT",
                "merge needs non-empty values for the selectors marketplace_id, currency and audience",
                Some(attribute),
            ));
            continue;
        }
        // marketplace_id is a selector with no documented default ("Manage purchasable offer"; only
        // audience defaults, to ALL): an entry without it names no offer.
        if market.is_empty() {
            issues.push(issue("INVALID_INPUT", "each offer needs its selector marketplace_id", Some(attribute)));
            continue;
        }
        if market != config.marketplace_id {
            issues.push(issue(
                "INVALID_VALUE",
                format!("marketplace_id {market} is not one of the seller's marketplaces"),
                Some(attribute),
            ));
            continue;
        }
        if currency != config.currency {
            issues.push(issue(
                "INVALID_VALUE",
                format!("currency {currency:?} is not the marketplace currency {}", config.currency),
                Some("purchasable_offer.currency"),
            ));
            continue;
        }
        let price_given = entry.get("our_price").is_some_and(|p| !p.is_null());
        if (price_given || op != "merge") && offer_price(entry).is_none_or(|p| p <= Decimal::ZERO) {
            issues.push(issue(
                "INVALID_VALUE",
                "our_price[0].schedule[0].value_with_tax must be a positive number",
                Some("purchasable_offer.our_price"),
            ));
            continue;
        }
        let entry = entry.as_object().cloned().unwrap_or_default();
        if op == "merge" {
            let key = offer_key(&Value::Object(entry.clone()));
            match offers.iter_mut().find(|o| offer_key(o) == key).and_then(Value::as_object_mut) {
                Some(existing) => merge_fields(existing, &entry),
                None => offers.push(Value::Object(entry.into_iter().filter(|(_, v)| !v.is_null()).collect())),
            }
        } else {
            replacement.push(Value::Object(entry));
        }
    }
    change.offers = Some(if op == "merge" { offers } else { replacement });
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
