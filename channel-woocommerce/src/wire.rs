//! The WooCommerce REST v3 JSON shapes this adapter reads and writes (only the fields it uses), as the
//! REST API documentation (woocommerce/woocommerce-rest-api-docs, `source/includes/wp-api-v3/`) shows them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `null` (or absent) becomes the type's default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An integer WooCommerce may send as a number, a numeric string (`"3"`, `"3.0"`), or `null`.
fn loose_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let whole = |text: &str| -> Option<i64> {
        let d = text.trim().parse::<rust_decimal::Decimal>().ok()?;
        i64::try_from(d.trunc()).ok()
    };
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().or_else(|| whole(&n.to_string())),
        Value::String(s) => whole(&s),
        _ => None,
    })
}

/// `manage_stock`: `true`, `false`, or `"parent"` on a variation whose parent manages its stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ManageStock {
    /// Stock is tracked on this product or variation.
    Yes,
    /// Stock is not tracked.
    #[default]
    No,
    /// The variation's stock is the parent product's.
    Parent,
}

impl<'de> Deserialize<'de> for ManageStock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Bool(true) => Self::Yes,
            Value::String(s) if s == "parent" => Self::Parent,
            Value::String(s) if s == "yes" || s == "true" || s == "1" => Self::Yes,
            _ => Self::No,
        })
    }
}

/// A product or a variation, as `GET /products` and `GET /products/{id}/variations` return it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Product {
    /// The id.
    pub(crate) id: u64,
    /// The parent product id (variations, and products inside a webhook payload).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) parent_id: u64,
    /// `simple`, `variable`, `grouped`, `external`, `variation`.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub(crate) kind: String,
    /// `publish`, `draft`, `pending`, `private`.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) status: String,
    /// The SKU.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) sku: String,
    /// Stock management.
    #[serde(default)]
    pub(crate) manage_stock: ManageStock,
    /// The quantity (meaningful only when managed).
    #[serde(default, deserialize_with = "loose_i64")]
    pub(crate) stock_quantity: Option<i64>,
    /// The regular price as a decimal string (`""` when unset).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) regular_price: String,
    /// The sale price (`""` when not on sale).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) sale_price: String,
    /// Variation ids of a variable product.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) variations: Vec<u64>,
}

/// One entry of a batch `update` answer: the updated object, or an inline error.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BatchItem {
    /// The object id (present on errors too).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) id: u64,
    /// The error, when this item failed.
    #[serde(default)]
    pub(crate) error: Option<ApiError>,
    /// The quantity after the write.
    #[serde(default, deserialize_with = "loose_i64")]
    pub(crate) stock_quantity: Option<i64>,
}

/// The answer to `POST …/batch`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct BatchResponse {
    /// Per-item results of `update`, in request order.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) update: Vec<BatchItem>,
}

/// A WooCommerce / WordPress REST error: `{"code","message","data":{"status"}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ApiError {
    /// The error code (`woocommerce_rest_product_invalid_id`).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) code: String,
    /// The message.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) message: String,
    /// `{"status": 400}`.
    #[serde(default)]
    pub(crate) data: Option<Value>,
}

impl ApiError {
    /// The HTTP status in `data.status`, if any.
    pub(crate) fn status(&self) -> Option<u16> {
        self.data.as_ref()?.get("status")?.as_u64().and_then(|s| u16::try_from(s).ok())
    }
}

/// A batch `update` entry for stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StockWrite {
    /// Product or variation id.
    pub(crate) id: u64,
    /// Always `true`: a quantity only counts when stock is managed.
    pub(crate) manage_stock: bool,
    /// The quantity.
    pub(crate) stock_quantity: i64,
    /// `instock` when the quantity is positive, else `outofstock`.
    pub(crate) stock_status: &'static str,
}

impl StockWrite {
    /// Set `id` to `quantity`, with a consistent stock status.
    pub(crate) fn new(id: u64, quantity: i64) -> Self {
        Self {
            id,
            manage_stock: true,
            stock_quantity: quantity,
            stock_status: if quantity > 0 { "instock" } else { "outofstock" },
        }
    }
}

/// A batch `update` entry for a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PriceWrite {
    /// Product or variation id.
    pub(crate) id: u64,
    /// The regular price as a decimal string.
    pub(crate) regular_price: String,
}

/// `{"update": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BatchRequest<T> {
    /// Items to update.
    pub(crate) update: Vec<T>,
}

/// An order, as `GET /orders` and order webhooks deliver it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Order {
    /// The id.
    pub(crate) id: u64,
    /// `pending`, `processing`, `on-hold`, `completed`, `cancelled`, `refunded`, `failed`, `trash`.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) status: String,
    /// The currency.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) currency: String,
    /// Created, UTC, without a zone (`2017-03-22T19:28:02`).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) date_created_gmt: String,
    /// Last modified, UTC, without a zone.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) date_modified_gmt: String,
    /// The lines.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) line_items: Vec<LineItem>,
    /// Refunds (ids and totals only).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) refunds: Vec<Value>,
}

/// An order line.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LineItem {
    /// The line id.
    pub(crate) id: u64,
    /// The product.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) product_id: u64,
    /// The variation (0 for simple products).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) variation_id: u64,
    /// Units.
    #[serde(default, deserialize_with = "loose_i64")]
    pub(crate) quantity: Option<i64>,
    /// The SKU.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) sku: String,
    /// Unit price (a number in v3).
    #[serde(default)]
    pub(crate) price: Option<Value>,
}

/// A refund, as `GET /orders/{id}/refunds` returns it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Refund {
    /// Refunded lines (quantities are negative).
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) line_items: Vec<RefundLine>,
}

/// A refunded line.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RefundLine {
    /// Units refunded (negative).
    #[serde(default, deserialize_with = "loose_i64")]
    pub(crate) quantity: Option<i64>,
    /// Meta data; `_refunded_item_id` names the order line.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) meta_data: Vec<Value>,
}

impl RefundLine {
    /// The order line this refund line refunds.
    pub(crate) fn refunded_item_id(&self) -> Option<u64> {
        self.meta_data.iter().find(|m| m.get("key").and_then(Value::as_str) == Some("_refunded_item_id")).and_then(
            |m| match m.get("value")? {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            },
        )
    }
}

/// The answer to `GET /data/currencies/current` (`_data.md`, "Retrieve current currency"):
/// `{"code": "USD", "name": "United States (US) dollar", "symbol": "&#36;"}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CurrentCurrency {
    /// The ISO 4217 code.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) code: String,
}

/// The body of `POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings` (Shipment Tracking
/// extension, `WC_Shipment_Tracking_Order_REST_API_Controller::create_item`): a provider the extension
/// knows by name (`tracking_provider`, which it stores as `sanitize_title` and matches against its provider
/// list to build the link), or a custom one (`custom_tracking_provider` with `custom_tracking_link`, stored
/// and shown as given). An unknown `tracking_provider` is not refused: it is stored and shown with no
/// provider name and no link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ShipmentTracking {
    /// A provider the extension knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tracking_provider: Option<String>,
    /// A provider of the seller's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) custom_tracking_provider: Option<String>,
    /// The tracking page of a custom provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) custom_tracking_link: Option<String>,
    /// The tracking number.
    pub(crate) tracking_number: String,
    /// `YYYY-MM-DD`.
    pub(crate) date_shipped: String,
}

/// The body of `POST /orders/{id}/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct OrderNote {
    /// The note.
    pub(crate) note: String,
    /// Shown to the customer (and e-mailed) when true.
    pub(crate) customer_note: bool,
}

/// The body of `PUT /orders/{id}` that changes only the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct OrderStatusUpdate {
    /// The new status (`completed`).
    pub(crate) status: &'static str,
}
