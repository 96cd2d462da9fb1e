//! The SP-API JSON shapes this adapter reads and writes (only the fields it uses).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `searchListingsItems` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemSearchResults {
    /// Matches in all (up to 1,000 can be paged through).
    #[serde(default)]
    pub(crate) number_of_results: Option<u64>,
    /// Page tokens.
    #[serde(default)]
    pub(crate) pagination: Option<Pagination>,
    /// This page's items.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) items: Vec<Item>,
}

/// `pagination` of listings and FBA inventory answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pagination {
    /// The next page's token.
    #[serde(default)]
    pub(crate) next_token: Option<String>,
}

/// A listings item.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Item {
    /// The seller SKU.
    pub(crate) sku: String,
    /// Per-marketplace summaries.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) summaries: Vec<ItemSummary>,
    /// Per-marketplace offers.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) offers: Vec<ItemOffer>,
    /// Quantities by fulfilment channel.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) fulfillment_availability: Vec<FulfillmentAvailability>,
}

/// A listings item summary.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemSummary {
    /// The marketplace.
    pub(crate) marketplace_id: String,
    /// The ASIN.
    #[serde(default)]
    pub(crate) asin: Option<String>,
    /// The product type (`LUGGAGE`).
    #[serde(default)]
    pub(crate) product_type: Option<String>,
    /// `BUYABLE`, `DISCOVERABLE`.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) status: Vec<String>,
}

/// An offer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemOffer {
    /// The marketplace.
    pub(crate) marketplace_id: String,
    /// `B2C` or `B2B`.
    #[serde(default)]
    pub(crate) offer_type: Option<String>,
    /// The price.
    #[serde(default)]
    pub(crate) price: Option<MoneyAmount>,
}

/// `{currencyCode, amount}` (amount a decimal string).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MoneyAmount {
    /// ISO currency.
    pub(crate) currency_code: String,
    /// The amount.
    pub(crate) amount: AmountValue,
}

/// An amount Amazon may send as a string or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum AmountValue {
    /// `"19.99"`.
    Text(String),
    /// `19.99`.
    Number(serde_json::Number),
}

impl AmountValue {
    /// As a decimal.
    pub(crate) fn decimal(&self) -> Option<rust_decimal::Decimal> {
        match self {
            Self::Text(s) => s.trim().parse().ok(),
            Self::Number(n) => n.to_string().parse().ok(),
        }
    }
}

/// Quantity for one fulfilment channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FulfillmentAvailability {
    /// `DEFAULT` (merchant) or `AMAZON_NA`, `AMAZON_EU`, … (FBA).
    pub(crate) fulfillment_channel_code: String,
    /// The quantity (merchant channel only).
    #[serde(default)]
    pub(crate) quantity: Option<i64>,
}

/// `patchListingsItem` / `putListingsItem` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubmissionResponse {
    /// `ACCEPTED`, `INVALID` or `VALID`.
    pub(crate) status: String,
    /// Issues.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) issues: Vec<Issue>,
}

/// A listings issue.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Issue {
    /// The code.
    #[serde(default)]
    pub(crate) code: String,
    /// The message.
    #[serde(default)]
    pub(crate) message: String,
    /// `ERROR`, `WARNING`, `INFO`.
    #[serde(default)]
    pub(crate) severity: String,
}

/// `getInventorySummaries` answer.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InventorySummariesResponse {
    /// The payload.
    #[serde(default)]
    pub(crate) payload: Option<InventorySummariesPayload>,
    /// The next page.
    #[serde(default)]
    pub(crate) pagination: Option<Pagination>,
}

/// The payload of `getInventorySummaries`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventorySummariesPayload {
    /// The summaries.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) inventory_summaries: Vec<InventorySummary>,
}

/// One FBA inventory summary.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventorySummary {
    /// The seller SKU.
    #[serde(default)]
    pub(crate) seller_sku: Option<String>,
    /// The ASIN.
    #[serde(default)]
    pub(crate) asin: Option<String>,
    /// The FNSKU.
    #[serde(default)]
    pub(crate) fn_sku: Option<String>,
    /// Details (with `details=true`).
    #[serde(default)]
    pub(crate) inventory_details: Option<InventoryDetails>,
    /// All units.
    #[serde(default)]
    pub(crate) total_quantity: Option<i64>,
}

/// FBA quantities by state.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventoryDetails {
    /// Units that can be picked, packed and shipped.
    #[serde(default)]
    pub(crate) fulfillable_quantity: Option<i64>,
}

/// `{"payload": …}` wrapper of the v0 APIs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Payload<T> {
    /// The payload.
    pub(crate) payload: T,
}

/// `createFeedDocument` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeedDocument {
    /// The document id.
    #[serde(default)]
    pub(crate) feed_document_id: Option<String>,
    /// The pre-signed URL.
    pub(crate) url: String,
    /// `GZIP` when compressed.
    #[serde(default)]
    pub(crate) compression_algorithm: Option<String>,
}

/// `createFeed` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateFeedResponse {
    /// The feed id.
    pub(crate) feed_id: String,
}

/// `getFeed` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Feed {
    /// The feed id.
    pub(crate) feed_id: String,
    /// `IN_QUEUE`, `IN_PROGRESS`, `DONE`, `CANCELLED`, `FATAL`.
    pub(crate) processing_status: String,
    /// The processing report's document id.
    #[serde(default)]
    pub(crate) result_feed_document_id: Option<String>,
}

/// `createReport` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateReportResponse {
    /// The report id.
    pub(crate) report_id: String,
}

/// `getReport` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    /// `IN_QUEUE`, `IN_PROGRESS`, `DONE`, `CANCELLED`, `FATAL`.
    pub(crate) processing_status: String,
    /// The document id once done.
    #[serde(default)]
    pub(crate) report_document_id: Option<String>,
}

/// A JSON_LISTINGS_FEED processing report (the parts used).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProcessingReport {
    /// Issues by message.
    #[serde(default, deserialize_with = "null_default")]
    pub(crate) issues: Vec<ReportIssue>,
}

/// An issue of a processing report.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportIssue {
    /// The message it is about (absent for feed-level issues).
    #[serde(default)]
    pub(crate) message_id: Option<u64>,
    /// The code.
    #[serde(default)]
    pub(crate) code: String,
    /// `ERROR`, `WARNING`, `INFO`.
    #[serde(default)]
    pub(crate) severity: String,
    /// The message.
    #[serde(default)]
    pub(crate) message: String,
}

/// `getMarketplaceParticipations` entry.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Participation {
    /// The marketplace.
    pub(crate) marketplace: Marketplace,
    /// Whether the seller takes part (required in sellers.json; absent is read as taking part).
    #[serde(default)]
    pub(crate) participation: Option<ParticipationStatus>,
}

impl Participation {
    /// "isParticipating: If true, the seller participates in the marketplace" (sellers.json).
    pub(crate) fn is_participating(&self) -> bool {
        self.participation.as_ref().is_none_or(|p| p.is_participating)
    }
}

/// `Participation` of sellers.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParticipationStatus {
    /// Whether the seller participates in the marketplace.
    pub(crate) is_participating: bool,
}

/// A marketplace.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Marketplace {
    /// The id.
    pub(crate) id: String,
    /// The name.
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// A patch operation of a listings patch or a feed message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PatchOperation {
    /// `merge` (the documented ops: `add`, `replace`, `merge`, `delete`).
    pub(crate) op: &'static str,
    /// `/attributes/fulfillment_availability`.
    pub(crate) path: &'static str,
    /// The new value.
    pub(crate) value: Value,
}

#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Option<Value> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/amazon").join(name);
    match std::fs::read_to_string(&p) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))),
        Err(_) => {
            println!("skipped: {} not found", p.display());
            None
        }
    }
}
