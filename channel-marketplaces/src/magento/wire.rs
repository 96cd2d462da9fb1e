//! Request and response bodies as Adobe's OpenAPI of the 2.4.9 admin REST API describes them
//! (`admin-schema-2.4.9.yaml`, definitions named in each type).

use serde::{Deserialize, Serialize};

/// `framework-search-criteria-interface` results: `{items, search_criteria, total_count}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SearchResults<T> {
    #[serde(default = "Vec::new")]
    pub(crate) items: Vec<T>,
    #[serde(default)]
    pub(crate) total_count: u64,
}

/// `catalog-data-product-interface` (the fields the adapter reads).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Product {
    #[serde(default)]
    pub(crate) id: u64,
    pub(crate) sku: String,
    #[serde(default)]
    pub(crate) price: Option<f64>,
    /// 1 enabled, 2 disabled.
    #[serde(default)]
    pub(crate) status: Option<u8>,
    #[serde(default)]
    pub(crate) type_id: Option<String>,
}

/// `inventory-api-data-source-item-interface`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SourceItem {
    pub(crate) sku: String,
    pub(crate) source_code: String,
    pub(crate) quantity: f64,
    /// 1 in stock, 0 out of stock.
    pub(crate) status: u8,
}

/// The body of `POST /V1/inventory/source-items`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SourceItemsSave<'a> {
    pub(crate) source_items: &'a [SourceItem],
}

/// `catalog-data-base-price-interface`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BasePrice {
    pub(crate) sku: String,
    pub(crate) price: f64,
    pub(crate) store_id: u32,
}

/// The body of `POST /V1/products/base-prices`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BasePrices<'a> {
    pub(crate) prices: &'a [BasePrice],
}

/// `catalog-data-price-update-result-interface`: one failure of a price update.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PriceUpdateResult {
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) parameters: Vec<String>,
}

/// `error-response`: `{message, parameters?, code?, errors?, trace?}`; `%1`/`%name` placeholders in
/// `message` are filled from `parameters` (a list or an object).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorResponse {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) parameters: Option<serde_json::Value>,
    /// `error-errors`: the individual errors of a validation failure (`[{message, parameters}]`).
    #[serde(default)]
    pub(crate) errors: Option<Vec<ErrorResponse>>,
}

/// `store-data-store-config-interface` (the fields the adapter reads).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StoreConfig {
    #[serde(default)]
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) base_currency_code: Option<String>,
    #[serde(default)]
    pub(crate) base_url: Option<String>,
}

/// `sales-data-order-interface` (the fields the adapter reads).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Order {
    pub(crate) entity_id: u64,
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) created_at: Option<String>,
    #[serde(default)]
    pub(crate) updated_at: Option<String>,
    #[serde(default)]
    pub(crate) order_currency_code: Option<String>,
    #[serde(default)]
    pub(crate) items: Vec<OrderItem>,
}

/// `sales-data-order-item-interface` (the fields the adapter reads).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OrderItem {
    #[serde(default)]
    pub(crate) item_id: u64,
    #[serde(default)]
    pub(crate) sku: String,
    #[serde(default)]
    pub(crate) qty_ordered: f64,
    #[serde(default)]
    pub(crate) qty_canceled: f64,
    #[serde(default)]
    pub(crate) qty_refunded: f64,
    #[serde(default)]
    pub(crate) qty_shipped: f64,
    #[serde(default)]
    pub(crate) parent_item_id: Option<u64>,
    #[serde(default)]
    pub(crate) product_type: Option<String>,
    #[serde(default)]
    pub(crate) price: Option<f64>,
}

/// `sales-data-shipment-item-creation-interface`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ShipItem {
    pub(crate) order_item_id: u64,
    pub(crate) qty: f64,
}

/// `sales-data-shipment-track-creation-interface`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Track {
    pub(crate) track_number: String,
    pub(crate) title: String,
    pub(crate) carrier_code: String,
}

/// The body of `POST /V1/order/{orderId}/ship`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShipOrder {
    pub(crate) items: Vec<ShipItem>,
    pub(crate) notify: bool,
    pub(crate) append_comment: bool,
    pub(crate) tracks: Vec<Track>,
}
