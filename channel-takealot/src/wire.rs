//! The Seller API v2 wire types (requests and responses), decoded defensively: public examples disagree on
//! some shapes (see `../shared/fixtures/takealot/README.md`), so optional fields default.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A number or a numeric string, as an integer (`"123"` and `123` both appear in public payloads).
fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An identifier that may be a number or a string, as text.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// `GET /v2/offers`.
#[derive(Debug, Clone, Deserialize)]
pub struct OffersPage {
    /// Offers matching, over all pages.
    #[serde(default, deserialize_with = "int_or_string")]
    pub total_results: Option<i64>,
    /// The offers on this page.
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// A warehouse reference (`{"warehouse_id","name"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WarehouseRef {
    /// Its id.
    #[serde(default, deserialize_with = "int_or_string")]
    pub warehouse_id: Option<i64>,
    /// Its name (DC code for Takealot DCs).
    #[serde(default)]
    pub name: Option<String>,
}

/// One warehouse's stock in an offer (leadtime, DC or on the way).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WarehouseStock {
    /// The seller's warehouse (`leadtime_stock`).
    #[serde(default)]
    pub merchant_warehouse: Option<WarehouseRef>,
    /// A Takealot DC (`stock_at_takealot`); some payloads key leadtime stock this way too.
    #[serde(default)]
    pub warehouse: Option<WarehouseRef>,
    /// A flat form seen in some payloads.
    #[serde(default, deserialize_with = "int_or_string")]
    pub merchant_warehouse_id: Option<i64>,
    /// Units available.
    #[serde(default, deserialize_with = "int_or_string")]
    pub quantity_available: Option<i64>,
    /// The flat form's units.
    #[serde(default, deserialize_with = "int_or_string")]
    pub quantity: Option<i64>,
}

impl WarehouseStock {
    /// The warehouse id, whichever way it is given.
    pub fn warehouse_id(&self) -> Option<i64> {
        self.merchant_warehouse
            .as_ref()
            .and_then(|w| w.warehouse_id)
            .or_else(|| self.warehouse.as_ref().and_then(|w| w.warehouse_id))
            .or(self.merchant_warehouse_id)
    }

    /// The units, whichever way they are given.
    pub fn units(&self) -> i64 {
        self.quantity_available.or(self.quantity).unwrap_or(0)
    }
}

/// An offer as `GET /v2/offers` shows it (`fixtures/takealot/v2_get_offers_response_schema.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Offer {
    /// Takealot's offer id.
    #[serde(deserialize_with = "id_text")]
    pub offer_id: Option<String>,
    /// The product's TSIN.
    #[serde(default, deserialize_with = "id_text")]
    pub tsin_id: Option<String>,
    /// The seller's SKU.
    #[serde(default)]
    pub sku: Option<String>,
    /// The barcode (GTIN).
    #[serde(default)]
    pub barcode: Option<String>,
    /// Selling price in whole rand.
    #[serde(default, deserialize_with = "int_or_string")]
    pub selling_price: Option<i64>,
    /// Recommended retail price in whole rand (0: none).
    #[serde(default, deserialize_with = "int_or_string")]
    pub rrp: Option<i64>,
    /// Leadtime days.
    #[serde(default, deserialize_with = "int_or_string")]
    pub leadtime_days: Option<i64>,
    /// Stock per merchant warehouse.
    #[serde(default)]
    pub leadtime_stock: Vec<WarehouseStock>,
    /// `Buyable`, `Not Buyable`, `Disabled by Seller`, `Disabled by Takealot`.
    #[serde(default)]
    pub status: Option<String>,
    /// Total stock at Takealot DCs.
    #[serde(default, deserialize_with = "int_or_string")]
    pub stock_at_takealot_total: Option<i64>,
    /// Stock per Takealot DC.
    #[serde(default)]
    pub stock_at_takealot: Vec<WarehouseStock>,
    /// Product title.
    #[serde(default)]
    pub title: Option<String>,
}

impl Offer {
    /// Leadtime stock at `warehouse` (0 when the offer lists none there).
    pub fn leadtime_at(&self, warehouse: u64) -> i64 {
        let wanted = i64::try_from(warehouse).ok();
        self.leadtime_stock.iter().filter(|s| s.warehouse_id() == wanted).map(WarehouseStock::units).sum()
    }

    /// Stock at Takealot DCs (the total if given, else the sum of the DCs).
    pub fn dc_total(&self) -> i64 {
        self.stock_at_takealot_total.unwrap_or_else(|| self.stock_at_takealot.iter().map(WarehouseStock::units).sum())
    }
}

/// One warehouse's leadtime stock in an update (`{"merchant_warehouse_id","quantity"}`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeadtimeStockUpdate {
    /// The merchant warehouse.
    pub merchant_warehouse_id: u64,
    /// Units.
    pub quantity: i64,
}

/// The fields of an offer update (PATCH body, or batch item without its identifier).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OfferUpdate {
    /// Selling price, whole rand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selling_price: Option<i64>,
    /// RRP, whole rand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrp: Option<i64>,
    /// Leadtime days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leadtime_days: Option<u32>,
    /// Leadtime stock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leadtime_stock: Option<Vec<LeadtimeStockUpdate>>,
}

/// One item of `POST /v2/offers/batch`: the offer id (highest-precedence identifier) and the update.
#[derive(Debug, Clone, Serialize)]
pub struct BatchItem {
    /// The offer.
    pub offer_id: u64,
    /// What to change.
    #[serde(flatten)]
    pub update: OfferUpdate,
}

/// `POST /v2/offers/batch` body.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRequest {
    /// The items.
    pub requests: Vec<BatchItem>,
}

/// `POST /v2/offers/batch` answer and `GET /v2/offers/batch/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchStatus {
    /// The batch id.
    #[serde(default, deserialize_with = "id_text")]
    pub batch_id: Option<String>,
    /// `pending` until processed.
    #[serde(default)]
    pub status: Option<String>,
    /// Per-item results once processed.
    #[serde(default)]
    pub results: Vec<BatchResult>,
}

impl BatchStatus {
    /// Whether Takealot is still working on it.
    pub fn is_pending(&self) -> bool {
        let s = self.status.as_deref().unwrap_or("pending").to_ascii_lowercase();
        matches!(s.as_str(), "pending" | "processing" | "in_progress" | "in progress" | "queued" | "submitted")
    }
}

/// One item's result in a processed batch.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchResult {
    /// Position in the request.
    #[serde(default, deserialize_with = "int_or_string")]
    pub index: Option<i64>,
    /// The offer it applied to.
    #[serde(default, deserialize_with = "id_text")]
    pub offer_id: Option<String>,
    /// `Success` or `Failed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
}

impl BatchResult {
    /// Whether the item was applied.
    pub fn succeeded(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("success") || s.eq_ignore_ascii_case("ok"))
            || (self.status.is_none() && self.errors.is_empty())
    }
}

/// An error message from the API (`{"code","message"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiMessage {
    /// Takealot's code (`E11`).
    #[serde(default, deserialize_with = "id_text")]
    pub code: Option<String>,
    /// The message.
    #[serde(default)]
    pub message: Option<String>,
}

impl ApiMessage {
    /// `code: message`.
    pub fn describe(&self) -> String {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (None, Some(m)) => m.clone(),
            (Some(c), None) => c.clone(),
            (None, None) => "no reason given".to_owned(),
        }
    }
}

/// `GET /v2/sales`.
#[derive(Debug, Clone, Deserialize)]
pub struct SalesPage {
    /// Paging totals.
    #[serde(default)]
    pub page_summary: Option<PageSummary>,
    /// The sales (one per order item).
    #[serde(default)]
    pub sales: Vec<Sale>,
}

/// Paging totals of `GET /v2/sales`.
#[derive(Debug, Clone, Deserialize)]
pub struct PageSummary {
    /// Sales matching, over all pages.
    #[serde(default, deserialize_with = "int_or_string")]
    pub total: Option<i64>,
}

/// One sale (order item), as `GET /v2/sales` and the "Sale Status Changed" webhook show it.
#[derive(Debug, Clone, Deserialize)]
pub struct Sale {
    /// The order item.
    #[serde(deserialize_with = "id_text")]
    pub order_item_id: Option<String>,
    /// The order.
    #[serde(deserialize_with = "id_text")]
    pub order_id: Option<String>,
    /// `YYYY-MM-DD` (or a date-time).
    #[serde(default)]
    pub order_date: Option<String>,
    /// The status text.
    #[serde(default)]
    pub sale_status: Option<String>,
    /// The offer sold.
    #[serde(default, deserialize_with = "id_text")]
    pub offer_id: Option<String>,
    /// The seller's SKU.
    #[serde(default)]
    pub sku: Option<String>,
    /// Total selling price (unit × quantity), whole rand.
    #[serde(default, deserialize_with = "int_or_string")]
    pub selling_price: Option<i64>,
    /// Units.
    #[serde(default, deserialize_with = "int_or_string")]
    pub quantity: Option<i64>,
    /// The leadtime purchase order, when the sale is a leadtime sale.
    #[serde(default, deserialize_with = "id_text")]
    pub po_number: Option<String>,
}

/// The seller-identity answer (`GET /v2/seller`).
#[derive(Debug, Clone, Deserialize)]
pub struct Seller {
    /// The seller id.
    #[serde(deserialize_with = "id_text")]
    pub seller_id: Option<String>,
    /// The seller's name.
    #[serde(default)]
    pub display_name: Option<String>,
}
