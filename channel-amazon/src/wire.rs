//! The SP-API JSON shapes this adapter reads and writes (only the fields it uses).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `searchListingsItems` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSearchResults {
    /// Matches in all (up to 1,000 can be paged through).
    #[serde(default)]
    pub number_of_results: Option<u64>,
    /// Page tokens.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    /// This page's items.
    #[serde(default, deserialize_with = "null_default")]
    pub items: Vec<Item>,
}

/// `pagination` of listings and FBA inventory answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// The next page's token.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// A listings item.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The seller SKU.
    pub sku: String,
    /// Per-marketplace summaries.
    #[serde(default, deserialize_with = "null_default")]
    pub summaries: Vec<ItemSummary>,
    /// Per-marketplace offers.
    #[serde(default, deserialize_with = "null_default")]
    pub offers: Vec<ItemOffer>,
    /// Quantities by fulfilment channel.
    #[serde(default, deserialize_with = "null_default")]
    pub fulfillment_availability: Vec<FulfillmentAvailability>,
}

/// A listings item summary.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSummary {
    /// The marketplace.
    pub marketplace_id: String,
    /// The ASIN.
    #[serde(default)]
    pub asin: Option<String>,
    /// The product type (`LUGGAGE`).
    #[serde(default)]
    pub product_type: Option<String>,
    /// `BUYABLE`, `DISCOVERABLE`.
    #[serde(default, deserialize_with = "null_default")]
    pub status: Vec<String>,
    /// The FNSKU, for FBA listings.
    #[serde(default)]
    pub fn_sku: Option<String>,
}

/// An offer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemOffer {
    /// The marketplace.
    pub marketplace_id: String,
    /// `B2C` or `B2B`.
    #[serde(default)]
    pub offer_type: Option<String>,
    /// The price.
    #[serde(default)]
    pub price: Option<MoneyAmount>,
}

/// `{currencyCode, amount}` (amount a decimal string).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyAmount {
    /// ISO currency.
    pub currency_code: String,
    /// The amount.
    pub amount: AmountValue,
}

/// An amount Amazon may send as a string or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AmountValue {
    /// `"19.99"`.
    Text(String),
    /// `19.99`.
    Number(serde_json::Number),
}

impl AmountValue {
    /// As a decimal.
    pub fn decimal(&self) -> Option<rust_decimal::Decimal> {
        match self {
            Self::Text(s) => s.trim().parse().ok(),
            Self::Number(n) => n.to_string().parse().ok(),
        }
    }
}

/// Quantity for one fulfilment channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentAvailability {
    /// `DEFAULT` (merchant) or `AMAZON_NA`, `AMAZON_EU`, … (FBA).
    pub fulfillment_channel_code: String,
    /// The quantity (merchant channel only).
    #[serde(default)]
    pub quantity: Option<i64>,
}

/// `patchListingsItem` / `putListingsItem` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionResponse {
    /// The SKU.
    #[serde(default)]
    pub sku: String,
    /// `ACCEPTED`, `INVALID` or `VALID`.
    pub status: String,
    /// The submission id.
    #[serde(default)]
    pub submission_id: Option<String>,
    /// Issues.
    #[serde(default, deserialize_with = "null_default")]
    pub issues: Vec<Issue>,
}

/// A listings issue.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// The code.
    #[serde(default)]
    pub code: String,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// `ERROR`, `WARNING`, `INFO`.
    #[serde(default)]
    pub severity: String,
}

/// `getInventorySummaries` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct InventorySummariesResponse {
    /// The payload.
    #[serde(default)]
    pub payload: Option<InventorySummariesPayload>,
    /// The next page.
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// The payload of `getInventorySummaries`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySummariesPayload {
    /// The summaries.
    #[serde(default, deserialize_with = "null_default")]
    pub inventory_summaries: Vec<InventorySummary>,
}

/// One FBA inventory summary.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySummary {
    /// The seller SKU.
    #[serde(default)]
    pub seller_sku: Option<String>,
    /// The ASIN.
    #[serde(default)]
    pub asin: Option<String>,
    /// The FNSKU.
    #[serde(default)]
    pub fn_sku: Option<String>,
    /// Details (with `details=true`).
    #[serde(default)]
    pub inventory_details: Option<InventoryDetails>,
    /// All units.
    #[serde(default)]
    pub total_quantity: Option<i64>,
}

/// FBA quantities by state.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryDetails {
    /// Units that can be picked, packed and shipped.
    #[serde(default)]
    pub fulfillable_quantity: Option<i64>,
}

/// `{"payload": …}` wrapper of the v0 APIs.
#[derive(Debug, Clone, Deserialize)]
pub struct Payload<T> {
    /// The payload.
    pub payload: T,
}

/// `getOrders` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrdersList {
    /// The orders.
    #[serde(default, deserialize_with = "null_default")]
    pub orders: Vec<Order>,
    /// The next page.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// An order (v0).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Order {
    /// `902-3159896-1390916`.
    pub amazon_order_id: String,
    /// When it was placed.
    pub purchase_date: String,
    /// When it last changed.
    pub last_update_date: String,
    /// `Pending`, `Unshipped`, `PartiallyShipped`, `Shipped`, `Canceled`, `Unfulfillable`, …
    pub order_status: String,
    /// `MFN` or `AFN`.
    #[serde(default)]
    pub fulfillment_channel: Option<String>,
    /// The marketplace.
    #[serde(default)]
    pub marketplace_id: Option<String>,
}

/// `getOrderItems` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderItemsList {
    /// The items.
    #[serde(default, deserialize_with = "null_default")]
    pub order_items: Vec<OrderItem>,
    /// The next page.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// An order item (v0).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderItem {
    /// The item id.
    pub order_item_id: String,
    /// The seller SKU.
    #[serde(rename = "SellerSKU", default)]
    pub seller_sku: Option<String>,
    /// Units ordered.
    pub quantity_ordered: i64,
    /// The price of all units of the item.
    #[serde(default)]
    pub item_price: Option<V0Money>,
}

/// `{CurrencyCode, Amount}` of the v0 APIs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct V0Money {
    /// ISO currency.
    #[serde(default)]
    pub currency_code: Option<String>,
    /// The amount.
    #[serde(default)]
    pub amount: Option<AmountValue>,
}

/// `createFeedDocument` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedDocument {
    /// The document id.
    #[serde(default)]
    pub feed_document_id: Option<String>,
    /// The pre-signed URL.
    pub url: String,
    /// `GZIP` when compressed.
    #[serde(default)]
    pub compression_algorithm: Option<String>,
}

/// `createFeed` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateFeedResponse {
    /// The feed id.
    pub feed_id: String,
}

/// `getFeed` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    /// The feed id.
    pub feed_id: String,
    /// `IN_QUEUE`, `IN_PROGRESS`, `DONE`, `CANCELLED`, `FATAL`.
    pub processing_status: String,
    /// The processing report's document id.
    #[serde(default)]
    pub result_feed_document_id: Option<String>,
}

/// `createReport` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateReportResponse {
    /// The report id.
    pub report_id: String,
}

/// `getReport` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `IN_QUEUE`, `IN_PROGRESS`, `DONE`, `CANCELLED`, `FATAL`.
    pub processing_status: String,
    /// The document id once done.
    #[serde(default)]
    pub report_document_id: Option<String>,
}

/// A JSON_LISTINGS_FEED processing report (the parts used).
#[derive(Debug, Clone, Deserialize)]
pub struct ProcessingReport {
    /// Issues by message.
    #[serde(default, deserialize_with = "null_default")]
    pub issues: Vec<ReportIssue>,
    /// Counts.
    #[serde(default)]
    pub summary: Option<Value>,
}

/// An issue of a processing report.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportIssue {
    /// The message it is about (absent for feed-level issues).
    #[serde(default)]
    pub message_id: Option<u64>,
    /// The SKU.
    #[serde(default)]
    pub sku: Option<String>,
    /// The code.
    #[serde(default)]
    pub code: String,
    /// `ERROR`, `WARNING`, `INFO`.
    #[serde(default)]
    pub severity: String,
    /// The message.
    #[serde(default)]
    pub message: String,
}

/// `getMarketplaceParticipations` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Participation {
    /// The marketplace.
    pub marketplace: Marketplace,
}

/// A marketplace.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marketplace {
    /// The id.
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
    /// The currency.
    #[serde(default)]
    pub default_currency_code: Option<String>,
}

/// A patch operation of a listings patch or a feed message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOperation {
    /// `replace`.
    pub op: &'static str,
    /// `/attributes/fulfillment_availability`.
    pub path: &'static str,
    /// The new value.
    pub value: Value,
}
