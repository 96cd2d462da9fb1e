//! Request and response bodies exactly as eBay documents them (`../shared/fixtures/ebay/*.json`:
//! Sell Inventory v1.18.2, Sell Fulfillment v1.19.13, Commerce Identity v1). Only the fields the adapter
//! reads are declared; serde ignores the rest.

use serde::{Deserialize, Serialize};

/// `POST /identity/v1/oauth2/token` answer (refresh-token grant).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
}

/// Commerce Identity `UserResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserResponse {
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) registration_marketplace_id: Option<String>,
    pub(crate) account_type: Option<String>,
}

/// `Amount`: a decimal string and an ISO currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Amount {
    pub(crate) value: String,
    pub(crate) currency: String,
}

/// `ShipToLocationAvailability(WithAll)`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ShipToLocationAvailability {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quantity: Option<i64>,
}

/// `AvailabilityWithAll`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Availability {
    #[serde(default)]
    pub(crate) ship_to_location_availability: Option<ShipToLocationAvailability>,
}

/// `InventoryItemWithSkuLocaleGroupid` (list) / `InventoryItemWithSkuLocaleGroupKeys` (bulk get).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InventoryItem {
    pub(crate) sku: String,
    #[serde(default)]
    pub(crate) availability: Option<Availability>,
}

/// `InventoryItems`: a page of `getInventoryItems`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventoryItems {
    #[serde(default)]
    pub(crate) inventory_items: Vec<InventoryItem>,
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) total: Option<u64>,
}

/// `BulkInventoryItem` / `GetInventoryItem`: the body of `bulkGetInventoryItem`.
#[derive(Debug, Serialize)]
pub(crate) struct BulkGetRequest {
    pub(crate) requests: Vec<SkuRef>,
}

/// `GetInventoryItem`.
#[derive(Debug, Serialize)]
pub(crate) struct SkuRef {
    pub(crate) sku: String,
}

/// `BulkGetInventoryItemResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct BulkGetResponse {
    #[serde(default)]
    pub(crate) responses: Vec<BulkGetItem>,
}

/// `GetInventoryItemResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkGetItem {
    #[serde(default)]
    pub(crate) status_code: Option<u16>,
    #[serde(default)]
    pub(crate) sku: Option<String>,
    #[serde(default)]
    pub(crate) inventory_item: Option<InventoryItem>,
}

/// `ListingDetails` of an offer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListingDetails {
    #[serde(default)]
    pub(crate) listing_id: Option<String>,
    #[serde(default)]
    pub(crate) listing_status: Option<String>,
}

/// `PricingSummary`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PricingSummary {
    #[serde(default)]
    pub(crate) price: Option<Amount>,
}

/// `EbayOfferDetailsWithAll`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Offer {
    pub(crate) offer_id: String,
    #[serde(default)]
    pub(crate) format: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) pricing_summary: Option<PricingSummary>,
    #[serde(default)]
    pub(crate) listing: Option<ListingDetails>,
}

/// `Offers`: the answer of `getOffers`.
#[derive(Debug, Deserialize)]
pub(crate) struct Offers {
    #[serde(default)]
    pub(crate) offers: Vec<Offer>,
}

/// `BulkPriceQuantity`.
#[derive(Debug, Serialize)]
pub(crate) struct BulkPriceQuantity {
    pub(crate) requests: Vec<PriceQuantity>,
}

/// `PriceQuantity`: one SKU's new quantity and/or its offers' prices.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PriceQuantity {
    pub(crate) sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ship_to_location_availability: Option<ShipToLocationAvailability>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) offers: Vec<OfferPriceQuantity>,
}

/// `OfferPriceQuantity`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OfferPriceQuantity {
    pub(crate) offer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) price: Option<Amount>,
}

/// `BulkPriceQuantityResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct BulkPriceQuantityResponse {
    #[serde(default)]
    pub(crate) responses: Vec<PriceQuantityResponse>,
}

/// `PriceQuantityResponse`: one outcome per SKU or per offer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PriceQuantityResponse {
    #[serde(default)]
    pub(crate) status_code: Option<u16>,
    #[serde(default)]
    pub(crate) sku: Option<String>,
    #[serde(default)]
    pub(crate) errors: Vec<ErrorDetail>,
}

/// `Error` (Inventory and Fulfillment share it).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub(crate) error_id: Option<i64>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// `OrderSearchPagedCollection`.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderPage {
    #[serde(default)]
    pub(crate) orders: Vec<Order>,
    #[serde(default)]
    pub(crate) next: Option<String>,
}

/// `CancelStatus`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelStatus {
    #[serde(default)]
    pub(crate) cancel_state: Option<String>,
}

/// `Order`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Order {
    pub(crate) order_id: String,
    #[serde(default)]
    pub(crate) creation_date: Option<String>,
    #[serde(default)]
    pub(crate) last_modified_date: Option<String>,
    #[serde(default)]
    pub(crate) order_fulfillment_status: Option<String>,
    #[serde(default)]
    pub(crate) order_payment_status: Option<String>,
    #[serde(default)]
    pub(crate) cancel_status: Option<CancelStatus>,
    #[serde(default)]
    pub(crate) line_items: Vec<LineItem>,
}

/// `LineItem`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineItem {
    pub(crate) line_item_id: String,
    #[serde(default)]
    pub(crate) sku: Option<String>,
    #[serde(default)]
    pub(crate) legacy_item_id: Option<String>,
    #[serde(default)]
    pub(crate) quantity: Option<i64>,
    #[serde(default)]
    pub(crate) line_item_cost: Option<Amount>,
    #[serde(default)]
    pub(crate) refunds: Vec<LineItemRefund>,
}

/// `LineItemRefund`: an amount, never a quantity.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LineItemRefund {
    #[serde(default)]
    pub(crate) amount: Option<Amount>,
}

/// `ShippingFulfillmentDetails`: the body of `createShippingFulfillment`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShippingFulfillmentDetails {
    pub(crate) line_items: Vec<LineItemReference>,
    pub(crate) shipped_date: String,
    pub(crate) shipping_carrier_code: String,
    pub(crate) tracking_number: String,
}

/// `LineItemReference`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineItemReference {
    pub(crate) line_item_id: String,
    pub(crate) quantity: i64,
}
