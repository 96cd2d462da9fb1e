//! The Seller API v2 wire types (requests and responses), decoded defensively: public examples disagree on
//! some shapes (see `../shared/fixtures/takealot/README.md`), so optional fields default.

use channel_core::rust_decimal::Decimal;
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

/// A number (`399.0`) or a numeric string, as an exact decimal; anything else is refused.
fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let text = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(other) => return Err(serde::de::Error::custom(format!("expected a number, got {other}"))),
    };
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid amount {text:?}: {e}")))
}

/// An identifier that may be a number or a string, as text.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// A sale's status: the swagger types `Sale.sale_status` as a `boolean`, public answers carry text
/// (`"Shipped to Customer"`). Text is kept; a boolean or `null` carries no status text (`None`); any other
/// JSON type is refused.
fn status_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Ok(Some(s)),
        None | Some(Value::Null | Value::Bool(_)) => Ok(None),
        Some(other) => Err(serde::de::Error::custom(format!("expected a status text or boolean, got {other}"))),
    }
}

/// `GET /v2/offers`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OffersPage {
    /// Offers matching, over all pages.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) total_results: Option<i64>,
    /// The offers on this page.
    #[serde(default)]
    pub(crate) offers: Vec<Offer>,
}

/// A warehouse reference (`{"warehouse_id","name"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct WarehouseRef {
    /// Its id.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) warehouse_id: Option<i64>,
    /// Its name (DC code for Takealot DCs).
    #[expect(dead_code, reason = "part of the documented shape; decoded, not used by the adapter")]
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// One warehouse's stock in an offer (leadtime, DC or on the way).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct WarehouseStock {
    /// The seller's warehouse (`leadtime_stock`).
    #[serde(default)]
    pub(crate) merchant_warehouse: Option<WarehouseRef>,
    /// A Takealot DC (`stock_at_takealot`); some payloads key leadtime stock this way too.
    #[serde(default)]
    pub(crate) warehouse: Option<WarehouseRef>,
    /// A flat form seen in some payloads.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) merchant_warehouse_id: Option<i64>,
    /// Units available.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) quantity_available: Option<i64>,
    /// The flat form's units.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) quantity: Option<i64>,
}

impl WarehouseStock {
    /// The warehouse id, whichever way it is given.
    pub(crate) fn warehouse_id(&self) -> Option<i64> {
        self.merchant_warehouse
            .as_ref()
            .and_then(|w| w.warehouse_id)
            .or_else(|| self.warehouse.as_ref().and_then(|w| w.warehouse_id))
            .or(self.merchant_warehouse_id)
    }

    /// The units, whichever way they are given.
    pub(crate) fn units(&self) -> i64 {
        self.quantity_available.or(self.quantity).unwrap_or(0)
    }
}

/// An offer as `GET /v2/offers` shows it (`fixtures/takealot/v2_get_offers_response_schema.json`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Offer {
    /// Takealot's offer id.
    #[serde(deserialize_with = "id_text")]
    pub(crate) offer_id: Option<String>,
    /// The product's TSIN.
    #[serde(default, deserialize_with = "id_text")]
    pub(crate) tsin_id: Option<String>,
    /// The seller's SKU.
    #[serde(default)]
    pub(crate) sku: Option<String>,
    /// The barcode (GTIN).
    #[serde(default)]
    pub(crate) barcode: Option<String>,
    /// Selling price in whole rand.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) selling_price: Option<i64>,
    /// Recommended retail price in whole rand (0: none).
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) rrp: Option<i64>,
    /// Leadtime days.
    #[expect(dead_code, reason = "part of the documented shape; decoded, not used by the adapter")]
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) leadtime_days: Option<i64>,
    /// Stock per merchant warehouse.
    #[serde(default)]
    pub(crate) leadtime_stock: Vec<WarehouseStock>,
    /// `Buyable`, `Not Buyable`, `Disabled by Seller`, `Disabled by Takealot`.
    #[serde(default)]
    pub(crate) status: Option<String>,
    /// Total stock at Takealot DCs.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) stock_at_takealot_total: Option<i64>,
    /// Stock per Takealot DC.
    #[serde(default)]
    pub(crate) stock_at_takealot: Vec<WarehouseStock>,
    /// Product title.
    #[expect(dead_code, reason = "part of the documented shape; decoded, not used by the adapter")]
    #[serde(default)]
    pub(crate) title: Option<String>,
}

impl Offer {
    /// Leadtime stock at `warehouse` (0 when the offer lists none there).
    pub(crate) fn leadtime_at(&self, warehouse: u64) -> i64 {
        let wanted = i64::try_from(warehouse).ok();
        self.leadtime_stock.iter().filter(|s| s.warehouse_id() == wanted).map(WarehouseStock::units).sum()
    }

    /// Stock at Takealot DCs (the total if given, else the sum of the DCs).
    pub(crate) fn dc_total(&self) -> i64 {
        self.stock_at_takealot_total.unwrap_or_else(|| self.stock_at_takealot.iter().map(WarehouseStock::units).sum())
    }
}

/// One warehouse's leadtime stock in an update (`{"merchant_warehouse_id","quantity"}`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct LeadtimeStockUpdate {
    /// The merchant warehouse.
    pub(crate) merchant_warehouse_id: u64,
    /// Units.
    pub(crate) quantity: i64,
}

/// The fields of an offer update (PATCH body, or batch item without its identifier).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct OfferUpdate {
    /// Selling price, whole rand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) selling_price: Option<i64>,
    /// RRP, whole rand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rrp: Option<i64>,
    /// Leadtime days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) leadtime_days: Option<u32>,
    /// Leadtime stock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) leadtime_stock: Option<Vec<LeadtimeStockUpdate>>,
}

/// One item of `POST /v2/offers/batch` (`V2OfferBatchCreateUpdate`): the offer id (the identifier) and the
/// update's fields. The body is a bare JSON array of these (`maxItems: 10000`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BatchItem {
    /// The offer.
    pub(crate) offer_id: u64,
    /// What to change.
    #[serde(flatten)]
    pub(crate) update: OfferUpdate,
}

/// A batch's status (`V2OfferBatch.status`): `{id, description}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct BatchState {
    /// Takealot's numeric status id.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) id: Option<i64>,
    /// Its description (`Success`, `Failed`, …).
    #[serde(default)]
    pub(crate) description: Option<String>,
}

impl BatchState {
    /// `id/description`, for errors and logs.
    pub(crate) fn describe(&self) -> String {
        match (self.id, self.description.as_deref()) {
            (Some(id), Some(d)) => format!("{id} ({d})"),
            (Some(id), None) => id.to_string(),
            (None, Some(d)) => d.to_owned(),
            (None, None) => "no status".to_owned(),
        }
    }
}

/// `POST /v2/offers/batch` answer and `GET /v2/offers/batch/{batch_id}` (`V2OfferBatch`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BatchStatus {
    /// The batch id (a string in the swagger; numbers are accepted).
    #[serde(default, deserialize_with = "id_text")]
    pub(crate) batch_id: Option<String>,
    /// `{id, description}`.
    #[serde(default)]
    pub(crate) status: Option<BatchState>,
    /// Per-offer results, once processed.
    #[serde(default)]
    pub(crate) result: Vec<BatchResult>,
}

/// The offer of a batch result (`V2OfferBatch.result[].offer`; only the identifying fields are read).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct BatchResultOffer {
    /// The offer id.
    #[serde(default, deserialize_with = "id_text")]
    pub(crate) offer_id: Option<String>,
}

/// One offer's result in a processed batch (`V2OfferBatch.result[]`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct BatchResult {
    /// The offer it applied to.
    #[serde(default)]
    pub(crate) offer: Option<BatchResultOffer>,
    /// Why it was not applied (empty: applied).
    #[serde(default)]
    pub(crate) validation_errors: Vec<ApiMessage>,
}

impl BatchResult {
    /// The offer id the result names, if any.
    pub(crate) fn offer_id(&self) -> Option<&str> {
        self.offer.as_ref().and_then(|o| o.offer_id.as_deref())
    }
}

/// The answer of `PATCH /v2/offers/offer/{identifier}` (`V2OfferUpdateSuccessResponse`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OfferUpdateResponse {
    /// The offer as it is after the update.
    #[serde(default)]
    pub(crate) offer: Option<Offer>,
    /// Why (part of) the update was refused; empty when it was applied.
    #[serde(default)]
    pub(crate) validation_errors: Vec<ApiMessage>,
}

/// An error message from the API (`{"code","message"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ApiMessage {
    /// Takealot's code (`E11`).
    #[serde(default, deserialize_with = "id_text")]
    pub(crate) code: Option<String>,
    /// The message.
    #[serde(default)]
    pub(crate) message: Option<String>,
}

impl ApiMessage {
    /// `code: message`.
    pub(crate) fn describe(&self) -> String {
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
pub(crate) struct SalesPage {
    /// Paging totals.
    #[serde(default)]
    pub(crate) page_summary: Option<PageSummary>,
    /// The sales (one per order item).
    #[serde(default)]
    pub(crate) sales: Vec<Sale>,
}

/// Paging totals of `GET /v2/sales`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PageSummary {
    /// Sales matching, over all pages.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) total: Option<i64>,
}

/// One sale (order item), as `GET /v2/sales` and the "Sale Status Changed" webhook show it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Sale {
    /// The order item.
    #[serde(deserialize_with = "id_text")]
    pub(crate) order_item_id: Option<String>,
    /// The order.
    #[serde(deserialize_with = "id_text")]
    pub(crate) order_id: Option<String>,
    /// `01 Oct 2021 13:47:32` (South African time) in `GET /v2/sales`; `YYYY-MM-DD` in webhook examples.
    #[serde(default)]
    pub(crate) order_date: Option<String>,
    /// The status text (a `boolean` in the swagger, text in public answers: see [`status_text`]).
    #[serde(default, deserialize_with = "status_text")]
    pub(crate) sale_status: Option<String>,
    /// The offer sold.
    #[serde(default, deserialize_with = "id_text")]
    pub(crate) offer_id: Option<String>,
    /// The seller's SKU.
    #[serde(default)]
    pub(crate) sku: Option<String>,
    /// Selling price in rand (a `number` in the swagger: `399.0`); unit × quantity by default (see
    /// `TakealotConfig::sale_price_is_line_total`).
    #[serde(default, deserialize_with = "decimal")]
    pub(crate) selling_price: Option<Decimal>,
    /// Units.
    #[serde(default, deserialize_with = "int_or_string")]
    pub(crate) quantity: Option<i64>,
    /// The leadtime purchase order, when the sale is a leadtime sale.
    #[serde(default, deserialize_with = "id_text")]
    pub(crate) po_number: Option<String>,
}

/// The seller-identity answer (`GET /v2/seller`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Seller {
    /// The seller id.
    #[serde(deserialize_with = "id_text")]
    pub(crate) seller_id: Option<String>,
    /// The seller's name.
    #[serde(default)]
    pub(crate) display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    //! Decoding the public payloads in `shared/fixtures/takealot/` (skipped with a message when absent).

    use std::path::Path;

    use super::*;

    fn read(name: &str) -> Option<Vec<u8>> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/takealot").join(name);
        match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(_) => {
                println!("skipped: {} not found", path.display());
                None
            }
        }
    }

    #[test]
    fn offers_response_decodes() {
        let Some(body) = read("v2_get_offers_response_schema.json") else { return };
        let page: OffersPage = serde_json::from_slice(&body).unwrap();
        assert_eq!(page.offers.len(), 1);
        let o = &page.offers[0];
        assert_eq!((o.offer_id.as_deref(), o.sku.as_deref()), (Some("0"), Some("string")));
        assert_eq!(o.leadtime_stock[0].warehouse_id(), Some(0));
        assert_eq!(o.dc_total(), 0);
    }

    /// The swagger's `Sale.sale_status` is `type: boolean`: a page carrying one decodes (no status text).
    #[test]
    fn a_boolean_sale_status_does_not_fail_the_page() {
        let page: SalesPage = serde_json::from_value(serde_json::json!({
            "page_summary": {"page_size": 100, "page_number": 1, "total": 3},
            "sales": [
                {"order_item_id": 1, "order_id": 10, "order_date": "01 Oct 2021 13:47:32", "sale_status": true},
                {"order_item_id": 2, "order_id": 10, "order_date": "01 Oct 2021 13:47:32", "sale_status": null},
                {"order_item_id": 3, "order_id": 11, "order_date": "01 Oct 2021 13:47:32", "sale_status": "Shipped to Customer"}
            ]
        }))
        .unwrap();
        let statuses: Vec<Option<&str>> = page.sales.iter().map(|s| s.sale_status.as_deref()).collect();
        assert_eq!(statuses, [None, None, Some("Shipped to Customer")]);
        let odd =
            serde_json::from_value::<Sale>(serde_json::json!({"order_item_id": 1, "order_id": 1, "sale_status": 3}));
        assert!(odd.is_err(), "a number is not a status");
    }

    #[test]
    fn patch_body_has_the_fixture_shape() {
        let Some(body) = read("v2_patch_offer_request.json") else { return };
        let mut fixture: Value = serde_json::from_slice(&body).unwrap();
        let ours = OfferUpdate {
            selling_price: Some(299),
            rrp: Some(349),
            leadtime_days: Some(5),
            leadtime_stock: Some(vec![LeadtimeStockUpdate { merchant_warehouse_id: 28676, quantity: 50 }]),
        };
        fixture.as_object_mut().unwrap().remove("status_action");
        assert_eq!(
            serde_json::to_value(&ours).unwrap(),
            fixture,
            "same fields, same shapes (status_action is not ours to send)"
        );
    }
}
