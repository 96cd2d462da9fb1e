//! Takealot's state: offers, sales and batches, and the rules that govern them.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::TakealotConfig;
use crate::sandbox::{ControlError, OrderFulfilment, PartialBatch, PlaceOrder, SeedProduct};

/// A warehouse: one of the seller's (leadtime stock) or a Takealot DC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Warehouse {
    /// Takealot's id for it.
    pub warehouse_id: u64,
    /// Display name (DC code for DCs).
    pub name: String,
}

impl Warehouse {
    /// A warehouse.
    pub fn new(warehouse_id: u64, name: impl Into<String>) -> Self {
        Self { warehouse_id, name: name.into() }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Offer {
    pub(super) offer_id: u64,
    pub(super) tsin_id: u64,
    pub(super) sku: String,
    pub(super) barcode: String,
    pub(super) title: String,
    pub(super) selling_price: i64,
    pub(super) rrp: i64,
    pub(super) leadtime_days: Option<i64>,
    pub(super) leadtime_stock: BTreeMap<u64, i64>,
    pub(super) dc_stock: BTreeMap<u64, i64>,
    pub(super) disabled_by_seller: bool,
    pub(super) disabled_by_takealot: bool,
    pub(super) date_created: Timestamp,
}

impl Offer {
    pub(super) fn leadtime_total(&self) -> i64 {
        self.leadtime_stock.values().sum()
    }

    pub(super) fn dc_total(&self) -> i64 {
        self.dc_stock.values().sum()
    }

    pub(super) fn status(&self) -> &'static str {
        if self.disabled_by_takealot {
            "Disabled by Takealot"
        } else if self.disabled_by_seller {
            "Disabled by Seller"
        } else if self.selling_price > 0
            && (self.dc_total() > 0 || (self.leadtime_days.unwrap_or(0) > 0 && self.leadtime_total() > 0))
        {
            "Buyable"
        } else {
            "Not Buyable"
        }
    }

    fn leadtime_json(&self, config: &TakealotConfig) -> Vec<Value> {
        config
            .warehouses
            .iter()
            .map(|w| {
                json!({
                    "merchant_warehouse": {"warehouse_id": w.warehouse_id, "name": w.name},
                    "quantity_available": self.leadtime_stock.get(&w.warehouse_id).copied().unwrap_or(0),
                })
            })
            .collect()
    }

    /// The offer as `GET /v2/offers` shows it (shape of `fixtures/takealot/v2_get_offers_response_schema.json`).
    pub(super) fn to_json(&self, config: &TakealotConfig) -> Value {
        let dcs: Vec<Value> = config
            .dcs
            .iter()
            .map(|dc| {
                json!({
                    "warehouse": {"warehouse_id": dc.warehouse_id, "name": dc.name},
                    "quantity_available": self.dc_stock.get(&dc.warehouse_id).copied().unwrap_or(0),
                })
            })
            .collect();
        let on_way: Vec<Value> = config
            .dcs
            .iter()
            .map(|dc| json!({"warehouse": {"warehouse_id": dc.warehouse_id, "name": dc.name}, "quantity_available": 0}))
            .collect();
        let cover: Vec<Value> =
            config.dcs.iter().map(|dc| json!({"warehouse_id": dc.warehouse_id, "stock_cover_days": 0})).collect();
        let units: Vec<Value> =
            config.dcs.iter().map(|dc| json!({"warehouse_id": dc.warehouse_id, "sales_units": 0})).collect();
        json!({
            "tsin_id": self.tsin_id,
            "offer_id": self.offer_id,
            "sku": self.sku,
            "barcode": self.barcode,
            "product_label_number": format!("PLN{}", self.offer_id),
            "selling_price": self.selling_price,
            "rrp": self.rrp,
            // An integer in `V2Offer`; an offer without leadtime days shows -1, the value that removes them.
            "leadtime_days": self.leadtime_days.unwrap_or(-1),
            "leadtime_stock": self.leadtime_json(config),
            "status": self.status(),
            "title": self.title,
            "offer_url": format!("https://www.takealot.com/x/PLID{}", self.tsin_id),
            "stock_cover": cover,
            "sales_units": units,
            "discount": if self.rrp > self.selling_price && self.rrp > 0 {
                format!("{}%", (self.rrp - self.selling_price) * 100 / self.rrp)
            } else {
                "0%".to_owned()
            },
            "discount_shown": self.rrp > self.selling_price,
            "storage_fee_eligible": false,
            "date_created": self.date_created.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            "stock_at_takealot_total": self.dc_total(),
            "stock_at_takealot": dcs,
            "stock_on_way": on_way,
            "total_stock_on_way": 0,
            "total_stock_cover": 0,
            "catalogue_quality_score": 0,
        })
    }
}

impl Offer {
    /// The offer as `V2OfferBatch.result[].offer` shows it.
    pub(super) fn batch_json(&self, config: &TakealotConfig) -> Value {
        let full = self.to_json(config);
        let keep = [
            "selling_price",
            "rrp",
            "leadtime_days",
            "leadtime_stock",
            "stock_at_takealot",
            "status",
            "sku",
            "offer_id",
        ];
        Value::Object(keep.iter().filter_map(|k| full.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect())
    }
}

/// South African Standard Time (UTC+2, no daylight saving): the zone of the sales' local times.
pub(super) fn sast() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::fixed(jiff::tz::offset(2))
}

#[derive(Debug, Clone)]
pub(super) struct Sale {
    pub(super) order_id: u64,
    pub(super) order_item_id: u64,
    pub(super) order_date: Timestamp,
    pub(super) sale_status: String,
    pub(super) offer_id: u64,
    pub(super) tsin: u64,
    pub(super) sku: String,
    pub(super) title: String,
    pub(super) unit_price: i64,
    pub(super) quantity: i64,
    pub(super) dc: String,
    pub(super) fulfilment: OrderFulfilment,
    /// Where the units came from (warehouse or DC id, units), to restore on cancel.
    pub(super) taken: Vec<(u64, i64)>,
}

impl Sale {
    /// The sale as `GET /v2/sales` shows it: the swagger's `Sale` (`dc`, `customer_dc`, a number
    /// `selling_price`: unit × quantity), `order_date` in South African local time as public answers show
    /// it (`01 Oct 2021 13:47:32`).
    pub(super) fn to_json(&self) -> Value {
        // Whole rand in the state; `selling_price` is a `number` in the swagger (`399.0` in public answers).
        #[expect(clippy::cast_precision_loss, reason = "sandbox prices are far below 2^53")]
        let total = (self.unit_price * self.quantity) as f64;
        json!({
            "shipment_id": Value::Null,
            "shipment_state_id": Value::Null,
            "po_number": Value::Null,
            "shipment_name": Value::Null,
            "offer_id": self.offer_id,
            "product_title": self.title,
            "takealot_url_mobi": format!("https://m.takealot.com/x/PLID{}", self.tsin),
            "sku": self.sku,
            "tsin": self.tsin,
            "order_id": self.order_id,
            "order_item_id": self.order_item_id,
            "quantity": self.quantity,
            "selling_price": total,
            "dc": self.dc,
            "customer_dc": self.dc,
            "order_date": self.order_date.to_zoned(sast()).strftime("%d %b %Y %H:%M:%S").to_string(),
            "sale_status": self.sale_status,
            "promotion": Value::Null,
            "customer": "Sandbox, Shopper",
            "stock_source_region": self.dc,
        })
    }

    /// The `sale` of a "Sale Status Changed" delivery, in the shape of
    /// `fixtures/takealot/webhook_sale_status_changed.json` (`warehouse`, `customer_warehouse`, a date).
    pub(super) fn to_webhook_json(&self) -> Value {
        json!({
            "order_item_id": self.order_item_id,
            "order_id": self.order_id,
            "order_date": self.order_date.to_zoned(sast()).strftime("%Y-%m-%d").to_string(),
            "sale_status": self.sale_status,
            "offer_id": self.offer_id,
            "tsin": self.tsin,
            "sku": self.sku,
            "customer": "Sandbox, Shopper",
            "product_title": self.title,
            "takealot_url_mobi": format!("https://m.takealot.com/x/PLID{}", self.tsin),
            "selling_price": self.unit_price * self.quantity,
            "quantity": self.quantity,
            "warehouse": self.dc,
            "customer_warehouse": self.dc,
            "promotion": "",
            "shipment_id": Value::Null,
            "shipment_state_id": Value::Null,
            "po_number": Value::Null,
            "shipment_name": Value::Null,
            "takealot_url": format!("https://www.takealot.com/x/PLID{}", self.tsin),
        })
    }
}

/// One item's outcome in a batch.
#[derive(Debug, Clone)]
pub(super) struct BatchItem {
    pub(super) body: Map<String, Value>,
    pub(super) result: Option<Value>,
}

#[derive(Debug, Clone)]
pub(super) struct Batch {
    pub(super) batch_id: u64,
    pub(super) done: bool,
    pub(super) items: Vec<BatchItem>,
    pub(super) partial: Option<PartialBatch>,
}

/// The batch status ids this emulator answers (`V2OfferBatch.status`): the swagger lists none; 4 "Success"
/// is the finished id a public client reads, 1 "Pending" is this emulator's choice.
pub(super) const BATCH_PENDING: (u64, &str) = (1, "Pending");
/// See [`BATCH_PENDING`].
pub(super) const BATCH_SUCCESS: (u64, &str) = (4, "Success");

impl Batch {
    /// The batch as `V2OfferBatch`: `{batch_id (string), status {id, description}, result [{offer,
    /// validation_errors}]}`.
    pub(super) fn to_json(&self) -> Value {
        let result: Vec<Value> =
            if self.done { self.items.iter().filter_map(|item| item.result.clone()).collect() } else { Vec::new() };
        let (id, description) = if self.done { BATCH_SUCCESS } else { BATCH_PENDING };
        json!({
            "batch_id": self.batch_id.to_string(),
            "status": {"id": id, "description": description},
            "result": result,
        })
    }
}

/// A Takealot validation error (`V2OfferUpdateSuccessResponse.validation_errors[]`, `{message, code}`).
/// The swagger lists no codes; `code` is one only where the platform notes give its meaning exactly
/// (E27 SKU length, E30 "stock can't go below 0"), E11 for "Disabled by Takealot" as a choice (the notes
/// give only the group E11-E17, E21, E24), else `None` and the `code` key is left out (see
/// `docs/fidelity.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UpdateError {
    pub(super) code: Option<&'static str>,
    pub(super) message: String,
}

impl UpdateError {
    /// An error with a code the platform notes document for exactly this meaning.
    fn documented(code: &'static str, message: impl Into<String>) -> Self {
        Self { code: Some(code), message: message.into() }
    }

    /// An error whose code no source documents: the message alone.
    fn uncoded(message: impl Into<String>) -> Self {
        Self { code: None, message: message.into() }
    }

    /// The error as a `validation_errors[]` entry (`code` only when documented).
    pub(super) fn to_json(&self) -> Value {
        match self.code {
            Some(code) => json!({"message": self.message, "code": code}),
            None => json!({"message": self.message}),
        }
    }
}

/// The message of an item the injected `partial_batch` fault fails (no code: it is the emulator's fault,
/// not a platform rule).
pub(super) const PARTIAL_BATCH_MESSAGE: &str = "Sandbox fault (partial_batch): this offer was not processed";

/// What a placed order did, for the webhooks.
#[derive(Debug)]
pub(super) struct OrderEvents {
    pub(super) order_id: u64,
    pub(super) webhooks: Vec<(&'static str, Value)>,
}

/// How an offer is named in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Identifier {
    OfferId(u64),
    Sku(String),
    Barcode(String),
}

impl Identifier {
    /// `ID123`, `SKUABC`, `BARCODE600…` (the Seller API v2 swagger's form), `GTIN600…` (older docs' form), or
    /// bare digits (an offer id: "Defaults to Offer ID").
    pub(super) fn parse(raw: &str) -> Result<Self, String> {
        if let Some(rest) = raw.strip_prefix("SKU") {
            return Ok(Self::Sku(rest.to_owned()));
        }
        if let Some(rest) = raw.strip_prefix("BARCODE").or_else(|| raw.strip_prefix("GTIN")) {
            return Ok(Self::Barcode(rest.to_owned()));
        }
        let digits = raw.strip_prefix("ID").unwrap_or(raw);
        digits.parse().map(Self::OfferId).map_err(|_| format!("invalid identifier {raw:?}: use ID…, SKU… or BARCODE…"))
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) offers: BTreeMap<u64, Offer>,
    pub(super) sales: Vec<Sale>,
    pub(super) batches: BTreeMap<u64, Batch>,
    /// SKU → offer id and barcode → offer id, kept in step with `offers`.
    by_sku: HashMap<String, u64>,
    by_barcode: HashMap<String, u64>,
    next_offer: u64,
    next_order: u64,
    next_batch: u64,
}

fn whole_price(value: Option<Decimal>) -> Result<i64, ControlError> {
    let price = value.unwrap_or(Decimal::ZERO);
    if !price.fract().is_zero() {
        return Err(ControlError::Invalid(format!("Takealot prices are whole rand, got {price}")));
    }
    price.to_i64().filter(|p| *p >= 0).ok_or_else(|| ControlError::Invalid(format!("price {price} out of range")))
}

impl State {
    pub(super) fn find(&self, ident: &Identifier) -> Option<u64> {
        match ident {
            Identifier::OfferId(id) => self.offers.contains_key(id).then_some(*id),
            Identifier::Sku(sku) => self.by_sku.get(sku).copied(),
            Identifier::Barcode(code) => self.by_barcode.get(code).copied(),
        }
    }

    pub(super) fn offer_by_sku(&self, sku: &str) -> Option<&Offer> {
        self.by_sku.get(sku).and_then(|id| self.offers.get(id))
    }

    pub(super) fn offer_by_sku_mut(&mut self, sku: &str) -> Option<&mut Offer> {
        let id = self.by_sku.get(sku).copied()?;
        self.offers.get_mut(&id)
    }

    /// Seeds an offer; answers its ids and the "Offer Created" payload.
    pub(super) fn seed(&mut self, config: &TakealotConfig, seed: &SeedProduct) -> Result<(Value, Value), ControlError> {
        if seed.sku.is_empty() || seed.sku.len() > 255 {
            return Err(ControlError::Invalid("SKU must be 1 to 255 characters".into()));
        }
        if self.offer_by_sku(&seed.sku).is_some() {
            return Err(ControlError::Conflict(format!("an offer with SKU {} exists", seed.sku)));
        }
        if seed.quantity < 0 {
            return Err(ControlError::Invalid("stock can't go below 0".into()));
        }
        let selling_price = whole_price(seed.price)?;
        let rrp = seed.extra_i64("rrp").unwrap_or_default();
        let warehouse = match seed.extra_i64("warehouse_id") {
            Some(id) => u64::try_from(id).ok().filter(|id| config.warehouses.iter().any(|w| w.warehouse_id == *id)),
            None => config.warehouses.first().map(|w| w.warehouse_id),
        }
        .ok_or_else(|| ControlError::Invalid("unknown merchant warehouse".into()))?;
        self.next_offer += 1;
        let offer_id = 100_000 + self.next_offer;
        let tsin_id = 50_000_000 + self.next_offer;
        let barcode = seed.extra_str("barcode").map_or_else(|| format!("600{:010}", offer_id), str::to_owned);
        if self.by_barcode.contains_key(&barcode) {
            return Err(ControlError::Conflict(format!("an offer with barcode {barcode} exists")));
        }
        let leadtime_days = Some(seed.extra_i64("leadtime_days").unwrap_or(3)).filter(|d| *d > 0);
        // `"fulfilment": "channel"` seeds stock at Takealot's DCs (as the control surface defines it for
        // every emulator); `dc_stock` adds DC stock beside merchant stock.
        let channel_held = seed.extra_str("fulfilment") == Some("channel");
        let (merchant_units, dc_units) = if channel_held {
            (0, seed.extra_i64("dc_stock").unwrap_or(seed.quantity))
        } else {
            (seed.quantity, seed.extra_i64("dc_stock").unwrap_or(0))
        };
        let mut leadtime_stock = BTreeMap::new();
        for w in &config.warehouses {
            leadtime_stock.insert(w.warehouse_id, 0);
        }
        if leadtime_days.is_some() {
            leadtime_stock.insert(warehouse, merchant_units);
        }
        let mut dc_stock = BTreeMap::new();
        if let (true, Some(dc)) = (dc_units != 0, config.dcs.first()) {
            dc_stock.insert(dc.warehouse_id, dc_units.max(0));
        }
        let offer = Offer {
            offer_id,
            tsin_id,
            sku: seed.sku.clone(),
            barcode,
            title: seed.extra_str("title").map_or_else(|| format!("Sandbox product {}", seed.sku), str::to_owned),
            selling_price,
            rrp,
            leadtime_days,
            leadtime_stock,
            dc_stock,
            disabled_by_seller: false,
            disabled_by_takealot: seed.extra.get("disabled_by_takealot").and_then(Value::as_bool).unwrap_or(false),
            date_created: Timestamp::now(),
        };
        let created = json!({
            "seller_id": config.seller_id,
            "offer_id": offer.offer_id,
            "merchant_sku": offer.sku,
            "tsin_id": offer.tsin_id,
            "gtin": offer.barcode,
            "minimum_leadtime_days": offer.leadtime_days,
            "maximum_leadtime_days": offer.leadtime_days,
            "selling_price": offer.selling_price,
            "rrp": offer.rrp,
            "merchant_warehouse_stock": offer.leadtime_stock.iter()
                .map(|(id, qty)| json!({"merchant_warehouse_id": id, "quantity": qty}))
                .collect::<Vec<_>>(),
            "batch_id": Value::Null,
        });
        let ids =
            json!({"offer_id": offer.offer_id, "tsin_id": offer.tsin_id, "barcode": offer.barcode, "sku": offer.sku});
        self.by_sku.insert(offer.sku.clone(), offer_id);
        self.by_barcode.insert(offer.barcode.clone(), offer_id);
        self.offers.insert(offer_id, offer);
        Ok((ids, created))
    }

    /// Applies a PATCH body (or batch item) to `offer_id`; answers the changed fields (for "Offer Updated").
    pub(super) fn update(
        &mut self,
        config: &TakealotConfig,
        offer_id: u64,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>, UpdateError> {
        let new_sku_taken = body
            .get("sku")
            .and_then(Value::as_str)
            .is_some_and(|sku| self.by_sku.get(sku).is_some_and(|owner| *owner != offer_id));
        let offer = self.offers.get(&offer_id).ok_or_else(|| UpdateError::uncoded("Offer not found"))?;
        if offer.disabled_by_takealot {
            return Err(UpdateError::documented("E11", "Offer is Disabled by Takealot and cannot be updated"));
        }
        let mut next = offer.clone();
        let mut changed = Map::new();
        update_prices(body, &mut next, &mut changed)?;
        update_leadtime(config, body, &mut next, &mut changed)?;
        // `check_update_body` let through only "Disable" or "Re-enable".
        if let Some(action) = body.get("status_action") {
            next.disabled_by_seller = action.as_str() == Some("Disable");
            changed.insert("status_action".into(), action.clone());
        }
        if let Some(sku) = body.get("sku") {
            let sku = sku.as_str().filter(|s| !s.is_empty() && s.len() <= 255);
            let Some(sku) = sku else {
                return Err(UpdateError::documented("E27", "sku must be 1 to 255 characters"));
            };
            if new_sku_taken {
                return Err(UpdateError::uncoded(format!("another offer has SKU {sku}")));
            }
            if sku != next.sku {
                self.by_sku.remove(&next.sku);
                self.by_sku.insert(sku.to_owned(), offer_id);
                next.sku = sku.to_owned();
                changed.insert("sku".into(), json!(sku));
            }
        }
        self.offers.insert(offer_id, next);
        Ok(changed)
    }

    pub(super) fn new_batch(&mut self, items: Vec<Map<String, Value>>, partial: Option<PartialBatch>) -> u64 {
        self.next_batch += 1;
        let batch_id = 7_000 + self.next_batch;
        let items = items.into_iter().map(|body| BatchItem { body, result: None }).collect();
        self.batches.insert(batch_id, Batch { batch_id, done: false, items, partial });
        batch_id
    }

    /// Processes a pending batch; answers the "Offer Updated" payloads.
    pub(super) fn process_batch(&mut self, config: &TakealotConfig, batch_id: u64) -> Vec<Value> {
        let Some(mut batch) = self.batches.remove(&batch_id) else {
            return Vec::new();
        };
        let mut updated = Vec::new();
        let len = batch.items.len();
        for (index, item) in batch.items.iter_mut().enumerate() {
            let ident = if let Some(id) = item.body.get("offer_id").and_then(Value::as_u64) {
                Some(Identifier::OfferId(id))
            } else if let Some(code) = item.body.get("barcode").and_then(Value::as_str) {
                Some(Identifier::Barcode(code.to_owned()))
            } else {
                item.body.get("sku").and_then(Value::as_str).map(|sku| Identifier::Sku(sku.to_owned()))
            };
            let found = ident.as_ref().and_then(|ident| self.find(ident));
            let mut fields = item.body.clone();
            // The identifying field is not an update (a `sku` identifies unless an id or barcode did).
            fields.remove("offer_id");
            fields.remove("barcode");
            if !matches!(ident, Some(Identifier::OfferId(_)) | Some(Identifier::Barcode(_))) {
                fields.remove("sku");
            }
            let outcome = match found {
                None => Err(UpdateError::uncoded("Offer not found")),
                Some(_) if batch.partial.is_some_and(|p| p.fails(index, len)) => {
                    Err(UpdateError::uncoded(PARTIAL_BATCH_MESSAGE))
                }
                Some(offer_id) => self.update(config, offer_id, &fields).map(|changed| (offer_id, changed)),
            };
            let offer = found.and_then(|id| self.offers.get(&id)).map(|o| o.batch_json(config));
            // An offer the batch could not find is named by the identifiers the item sent.
            let named = || {
                let keep = ["offer_id", "sku"];
                Value::Object(
                    keep.iter().filter_map(|k| item.body.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect(),
                )
            };
            item.result = Some(match outcome {
                Ok((offer_id, changed)) => {
                    if !changed.is_empty() {
                        updated.push(json!({
                            "seller_id": config.seller_id,
                            "offer_id": offer_id,
                            "values_changed": changed,
                            "batch_id": batch_id.to_string(),
                        }));
                    }
                    json!({"offer": offer.unwrap_or_else(named), "validation_errors": []})
                }
                Err(err) => json!({
                    "offer": offer.unwrap_or_else(named),
                    "validation_errors": [err.to_json()],
                }),
            });
        }
        batch.done = true;
        self.batches.insert(batch_id, batch);
        updated
    }

    pub(super) fn place_order(
        &mut self,
        config: &TakealotConfig,
        order: &PlaceOrder,
    ) -> Result<OrderEvents, ControlError> {
        if order.quantity < 1 {
            return Err(ControlError::Invalid("quantity must be at least 1".into()));
        }
        let seq = self.next_order + 1;
        let offer = self
            .by_sku
            .get(&order.sku)
            .copied()
            .and_then(|id| self.offers.get_mut(&id))
            .ok_or_else(|| ControlError::NotFound(format!("no offer with SKU {}", order.sku)))?;
        if offer.status() != "Buyable" {
            return Err(ControlError::Conflict(format!("offer {} is {}", offer.sku, offer.status())));
        }
        let pool = match order.fulfilment {
            OrderFulfilment::Channel => &mut offer.dc_stock,
            _ => &mut offer.leadtime_stock,
        };
        let available: i64 = pool.values().sum();
        if available < order.quantity {
            return Err(ControlError::Conflict(format!(
                "only {available} units of {} available for this fulfilment",
                order.sku
            )));
        }
        let taken = take_units(pool, order.quantity);
        let dc = match order.fulfilment {
            OrderFulfilment::Channel => {
                taken.first().and_then(|(id, _)| config.dcs.iter().find(|dc| dc.warehouse_id == *id))
            }
            _ => config.dcs.first(),
        }
        .map_or_else(|| "CPT".to_owned(), |dc| dc.name.clone());
        let order_id = 90_000_000 + seq;
        let sale = Sale {
            order_id,
            order_item_id: 500_000_000 + seq,
            order_date: Timestamp::now(),
            sale_status: match order.fulfilment {
                OrderFulfilment::Channel => "Preparing for Customer".into(),
                _ => "New Lead Time Order".into(),
            },
            offer_id: offer.offer_id,
            tsin: offer.tsin_id,
            sku: offer.sku.clone(),
            title: offer.title.clone(),
            unit_price: offer.selling_price,
            quantity: order.quantity,
            dc,
            fulfilment: order.fulfilment,
            taken,
        };
        let drop_ship = order.extra.get("drop_ship").and_then(Value::as_bool).unwrap_or(false);
        let webhooks = match order.fulfilment {
            OrderFulfilment::Channel => vec![("Sale Status Changed", sale_status_changed(&sale))],
            _ if drop_ship => vec![("New Drop Ship Order", drop_ship_order(config, offer, &sale))],
            _ => vec![("New Leadtime Order", leadtime_order(config, offer, &sale))],
        };
        self.next_order = seq;
        self.sales.push(sale);
        Ok(OrderEvents { order_id, webhooks })
    }

    pub(super) fn cancel_order(&mut self, _config: &TakealotConfig, order_id: u64) -> Result<Vec<Value>, ControlError> {
        let mut events = Vec::new();
        let mut found = false;
        for sale in self.sales.iter_mut().filter(|sale| sale.order_id == order_id) {
            found = true;
            if sale.sale_status.starts_with("Cancelled") {
                return Err(ControlError::Conflict(format!("order {order_id} is already cancelled")));
            }
            sale.sale_status = "Cancelled by Customer".into();
            if let Some(offer) = self.offers.get_mut(&sale.offer_id) {
                let pool = match sale.fulfilment {
                    OrderFulfilment::Channel => &mut offer.dc_stock,
                    _ => &mut offer.leadtime_stock,
                };
                for (id, units) in &sale.taken {
                    *pool.entry(*id).or_insert(0) += units;
                }
            }
            events.push(sale_status_changed(sale));
        }
        if found { Ok(events) } else { Err(ControlError::NotFound(format!("no order {order_id}"))) }
    }
}

fn sale_status_changed(sale: &Sale) -> Value {
    json!({"sale": sale.to_webhook_json(), "event_timestamp_utc": Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()})
}

/// The JSON type a documented update field takes.
#[derive(Debug, Clone, Copy)]
enum FieldType {
    Integer,
    Text,
    StatusAction,
    LeadtimeStock,
}

/// `V2OfferSingleUpdate`'s fields (PATCH); `V2OfferBatchCreateUpdate` adds `offer_id` and `barcode`.
const SINGLE_UPDATE: [(&str, FieldType); 6] = [
    ("sku", FieldType::Text),
    ("selling_price", FieldType::Integer),
    ("rrp", FieldType::Integer),
    ("leadtime_days", FieldType::Integer),
    ("leadtime_stock", FieldType::LeadtimeStock),
    ("status_action", FieldType::StatusAction),
];
const BATCH_IDENTIFIERS: [(&str, FieldType); 2] = [("offer_id", FieldType::Integer), ("barcode", FieldType::Text)];

/// Checks an update body against the swagger's schema (`V2OfferSingleUpdate`, or `V2OfferBatchCreateUpdate`
/// when `batch`): only its fields, each of its type. What the schema cannot express (ranges, rules) is left
/// to [`State::update`].
pub(super) fn check_update_body(body: &Map<String, Value>, batch: bool) -> Result<(), String> {
    for (key, value) in body {
        let mut known = SINGLE_UPDATE.iter().chain(if batch { BATCH_IDENTIFIERS.iter() } else { [].iter() });
        let Some((_, kind)) = known.find(|(name, _)| name == key) else {
            return Err(format!("{key} is not a field of an offer update"));
        };
        let fits = match kind {
            FieldType::Integer => value.as_i64().is_some(),
            FieldType::Text => value.is_string(),
            FieldType::StatusAction => matches!(value.as_str(), Some("Disable" | "Re-enable")),
            FieldType::LeadtimeStock => value.as_array().is_some_and(|items| {
                items.iter().all(|item| {
                    item.as_object().is_some_and(|o| {
                        o.keys().all(|k| k == "merchant_warehouse_id" || k == "quantity")
                            && o.values().all(|v| v.as_i64().is_some())
                    })
                })
            }),
        };
        if !fits {
            return Err(format!("{key} has the wrong type: {value}"));
        }
    }
    Ok(())
}

/// A whole number of at least 0 in field `field` of an offer update, if the field is there (the swagger:
/// "Please ensure you supply us with a positive whole number"). `check_update_body` has refused a field
/// that is not an integer.
fn whole_field(body: &Map<String, Value>, field: &str) -> Result<Option<i64>, UpdateError> {
    match body.get(field).and_then(Value::as_i64) {
        Some(n) if n < 0 => {
            Err(UpdateError::uncoded(format!("{field}: please ensure you supply us with a positive whole number")))
        }
        n => Ok(n),
    }
}

/// An offer update's `selling_price` (above 0) and `rrp` (0, or at least the selling price).
fn update_prices(
    body: &Map<String, Value>,
    next: &mut Offer,
    changed: &mut Map<String, Value>,
) -> Result<(), UpdateError> {
    if let Some(price) = whole_field(body, "selling_price")? {
        if price == 0 {
            return Err(UpdateError::uncoded(
                "selling_price: please ensure you supply us with a positive whole number",
            ));
        }
        next.selling_price = price;
        changed.insert("selling_price".into(), json!(price));
    }
    if let Some(rrp) = whole_field(body, "rrp")? {
        next.rrp = rrp;
        changed.insert("rrp".into(), json!(rrp));
    }
    if next.rrp != 0 && next.rrp < next.selling_price {
        return Err(UpdateError::uncoded("rrp must be 0 or at least the selling price"));
    }
    Ok(())
}

/// An offer update's `leadtime_days` (`null` or 0 clears it, and with it every warehouse's leadtime stock)
/// and `leadtime_stock` (per known merchant warehouse, at least 0; above 0 only with leadtime days). Their
/// types (an integer, a list of integer objects) `check_update_body` has checked.
fn update_leadtime(
    config: &TakealotConfig,
    body: &Map<String, Value>,
    next: &mut Offer,
    changed: &mut Map<String, Value>,
) -> Result<(), UpdateError> {
    let mut days_cleared = false;
    if let Some(days) = body.get("leadtime_days").and_then(Value::as_i64) {
        // "You can remove leadtime days from your offer by sending through -1" (0 removes them too).
        match days {
            -1 => next.leadtime_days = None,
            d if d >= 0 => next.leadtime_days = Some(d).filter(|d| *d > 0),
            _ => return Err(UpdateError::uncoded("leadtime_days must be a whole number of days, or -1")),
        }
        days_cleared = next.leadtime_days.is_none();
        changed.insert("leadtime_days".into(), json!(days));
    }
    if let Some(items) = body.get("leadtime_stock").and_then(Value::as_array) {
        for item in items {
            let warehouse = item.get("merchant_warehouse_id").and_then(Value::as_u64);
            let quantity = item.get("quantity").and_then(Value::as_i64);
            let (Some(warehouse), Some(quantity)) = (warehouse, quantity) else {
                return Err(UpdateError::uncoded(
                    "leadtime_stock items need merchant_warehouse_id and a whole quantity",
                ));
            };
            if !config.warehouses.iter().any(|w| w.warehouse_id == warehouse) {
                return Err(UpdateError::uncoded(format!("unknown merchant warehouse {warehouse}")));
            }
            if quantity < 0 {
                return Err(UpdateError::documented("E30", "Stock can't go below 0"));
            }
            if quantity > 0 && next.leadtime_days.is_none() {
                return Err(UpdateError::uncoded("leadtime_days is required to set leadtime stock"));
            }
            next.leadtime_stock.insert(warehouse, quantity);
        }
        changed.insert("leadtime_stock".into(), Value::Array(items.clone()));
    }
    if days_cleared {
        for quantity in next.leadtime_stock.values_mut() {
            *quantity = 0;
        }
    }
    Ok(())
}

/// Takes `quantity` units from the pool's warehouses in order; answers what came from each.
fn take_units(pool: &mut BTreeMap<u64, i64>, quantity: i64) -> Vec<(u64, i64)> {
    let mut taken = Vec::new();
    let mut wanted = quantity;
    for (id, units) in pool.iter_mut() {
        let take = wanted.min(*units);
        if take > 0 {
            *units -= take;
            wanted -= take;
            taken.push((*id, take));
        }
    }
    taken
}

/// The `New Drop Ship Order` webhook body of a drop-ship leadtime sale.
fn drop_ship_order(config: &TakealotConfig, offer: &Offer, sale: &Sale) -> Value {
    let warehouse = sale
        .taken
        .first()
        .and_then(|(id, _)| config.warehouses.iter().find(|w| w.warehouse_id == *id))
        .or(config.warehouses.first());
    let day = |days: i64| {
        sale.order_date
            .checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap_or(sale.order_date)
            .strftime("%Y-%m-%d")
            .to_string()
    };
    json!({
        "order_id": sale.order_id,
        "ready_for_collect_due_date": day(3),
        "acceptance_due_date": day(1),
        "merchant_warehouse": warehouse.map(|w| json!({"warehouse_id": w.warehouse_id, "name": w.name})),
        "offers": [{
            "offer": {
                "offer_id": offer.offer_id,
                "sku": offer.sku,
                "barcode": offer.barcode,
                "leadtime_stock": offer.leadtime_json(config),
            },
            "quantity_required": sale.quantity,
        }],
        "event_date": sale.order_date.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

/// The `New Leadtime Order` webhook body of a leadtime sale.
fn leadtime_order(config: &TakealotConfig, offer: &Offer, sale: &Sale) -> Value {
    json!({
        "order_id": sale.order_id,
        "order_item_id": sale.order_item_id,
        "offer": {
            "offer_id": offer.offer_id,
            "sku": offer.sku,
            "barcode": offer.barcode,
            "leadtime_stock": offer.leadtime_json(config),
        },
        "warehouse": sale.dc,
        "total_selling_price": sale.unit_price * sale.quantity,
        "quantity": sale.quantity,
        "event_date": sale.order_date.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "facility": {"code": sale.dc, "address": "Sandbox facility"},
    })
}
