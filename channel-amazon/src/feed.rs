//! `JSON_LISTINGS_FEED` documents (listings feed schema v2) and their processing reports.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::wire::{PatchOperation, ProcessingReport};

/// The most messages one `JSON_LISTINGS_FEED` may carry (`messages.maxItems` in the schema).
pub const MAX_FEED_MESSAGES: usize = 25_000;

/// The content type the feed document is declared and uploaded with.
pub const FEED_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// The merchant-fulfilled quantity patch: `replace /attributes/fulfillment_availability`.
pub fn quantity_patch(quantity: i64) -> PatchOperation {
    PatchOperation {
        op: "replace",
        path: "/attributes/fulfillment_availability",
        value: json!([{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]),
    }
}

/// The price patch: `replace /attributes/purchasable_offer` with `our_price` per marketplace.
pub fn price_patch(offers: &[(String, String, f64)]) -> PatchOperation {
    let value: Vec<Value> = offers
        .iter()
        .map(|(marketplace, currency, amount)| {
            json!({
                "marketplace_id": marketplace,
                "currency": currency,
                "our_price": [{"schedule": [{"value_with_tax": amount}]}],
            })
        })
        .collect();
    PatchOperation { op: "replace", path: "/attributes/purchasable_offer", value: Value::Array(value) }
}

/// One message of a feed: `PATCH` of one SKU.
#[derive(Debug, Clone)]
pub struct FeedMessage {
    /// The SKU.
    pub sku: String,
    /// The product type.
    pub product_type: String,
    /// The patches.
    pub patches: Vec<PatchOperation>,
}

/// The feed document for `messages` (message ids are 1-based positions).
pub fn document(seller_id: &str, messages: &[FeedMessage]) -> Value {
    let messages: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "messageId": i + 1,
                "sku": m.sku,
                "operationType": "PATCH",
                "productType": m.product_type,
                "patches": m.patches,
            })
        })
        .collect();
    json!({
        "header": {"sellerId": seller_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": messages,
    })
}

/// Errors per message id from a processing report (warnings and infos are not failures).
pub fn errors_by_message(report: &ProcessingReport) -> HashMap<u64, Vec<String>> {
    let mut out: HashMap<u64, Vec<String>> = HashMap::new();
    for issue in &report.issues {
        if issue.severity.eq_ignore_ascii_case("ERROR")
            && let Some(id) = issue.message_id
        {
            out.entry(id).or_default().push(format!("{}: {}", issue.code, issue.message));
        }
    }
    out
}

/// Feed-level errors (issues with no message id).
pub fn feed_errors(report: &ProcessingReport) -> Vec<String> {
    report
        .issues
        .iter()
        .filter(|i| i.message_id.is_none() && i.severity.eq_ignore_ascii_case("ERROR"))
        .map(|i| format!("{}: {}", i.code, i.message))
        .collect()
}
