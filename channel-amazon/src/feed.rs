//! `JSON_LISTINGS_FEED` documents (listings feed schema v2) and their processing reports.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::wire::{PatchOperation, ProcessingReport};

/// The most messages one `JSON_LISTINGS_FEED` may carry (`messages.maxItems` in the schema).
pub(crate) const MAX_FEED_MESSAGES: usize = 25_000;

/// The content type the feed document is declared and uploaded with.
pub(crate) const FEED_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// The most marketplaces one `createFeed` may name (`CreateFeedSpecification.marketplaceIds.maxItems`
/// in feeds_2021-06-30.json).
pub(crate) const MAX_FEED_MARKETPLACES: usize = 25;

/// The merchant-fulfilled quantity patch: `merge /attributes/fulfillment_availability` of the `DEFAULT`
/// channel's `quantity` alone. `merge` (added June 2025; "Merge a listing") changes only the fields
/// given, so the seller's `lead_time_to_ship_max_days` and `restock_date` stay as they are; `replace`
/// would drop them.
pub(crate) fn quantity_patch(quantity: i64) -> PatchOperation {
    PatchOperation {
        op: "merge",
        path: "/attributes/fulfillment_availability",
        value: json!([{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]),
    }
}

/// The price patch: `merge /attributes/purchasable_offer` of `our_price` in the standard offer (selectors
/// `marketplace_id`, `currency`, `audience` `ALL`) of each marketplace. `merge` leaves the offer's other
/// sub-attributes (`discounted_price`, `minimum_seller_allowed_price`, `maximum_seller_allowed_price`,
/// `start_at`, B2B offers, …) as they are ("Manage purchasable offer"); `replace` would drop them.
pub(crate) fn price_patch(offers: &[(String, String, f64)]) -> PatchOperation {
    let value: Vec<Value> = offers
        .iter()
        .map(|(marketplace, currency, amount)| {
            json!({
                "marketplace_id": marketplace,
                "currency": currency,
                "audience": "ALL",
                "our_price": [{"schedule": [{"value_with_tax": amount}]}],
            })
        })
        .collect();
    PatchOperation { op: "merge", path: "/attributes/purchasable_offer", value: Value::Array(value) }
}

/// The patch with only the value entries of these marketplaces: entries naming a `marketplace_id` (the
/// offers of `purchasable_offer`) outside them are dropped; entries without one (`fulfillment_availability`)
/// stay. A feed applies its messages to all its `marketplaceIds`, so each feed of a write split by the
/// 25-marketplace limit carries its own marketplaces' offers.
pub(crate) fn for_marketplaces(patch: &PatchOperation, marketplaces: &[String]) -> PatchOperation {
    let value = match &patch.value {
        Value::Array(entries) => Value::Array(
            entries
                .iter()
                .filter(|e| {
                    e.get("marketplace_id").and_then(Value::as_str).is_none_or(|m| marketplaces.iter().any(|x| x == m))
                })
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    };
    PatchOperation { op: patch.op, path: patch.path, value }
}

/// One message of a feed: `PATCH` of one SKU.
#[derive(Debug, Clone)]
pub(crate) struct FeedMessage {
    /// The SKU.
    pub(crate) sku: String,
    /// The product type.
    pub(crate) product_type: String,
    /// The patches.
    pub(crate) patches: Vec<PatchOperation>,
}

/// The feed document for `messages` (message ids are 1-based positions).
pub(crate) fn document(seller_id: &str, messages: &[FeedMessage]) -> Value {
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
pub(crate) fn errors_by_message(report: &ProcessingReport) -> HashMap<u64, Vec<String>> {
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
pub(crate) fn feed_errors(report: &ProcessingReport) -> Vec<String> {
    report
        .issues
        .iter()
        .filter(|i| i.message_id.is_none() && i.severity.eq_ignore_ascii_case("ERROR"))
        .map(|i| format!("{}: {}", i.code, i.message))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_carries_only_its_own_marketplaces_offers() {
        let offers: Vec<(String, String, f64)> = ["A1PA6795UKMFR9", "A13V1IB3VIYZZH", "APJ6JRA9NG5V4"]
            .iter()
            .map(|m| ((*m).into(), "EUR".into(), 5.0))
            .collect();
        let price = price_patch(&offers);
        let kept = for_marketplaces(&price, &["A13V1IB3VIYZZH".to_owned()]);
        assert_eq!(
            kept.value,
            json!([{"marketplace_id": "A13V1IB3VIYZZH", "currency": "EUR", "audience": "ALL",
                    "our_price": [{"schedule": [{"value_with_tax": 5.0}]}]}])
        );
        assert_eq!((kept.op, kept.path), (price.op, price.path));
        // Entries without a marketplace (fulfillment_availability) are the same in every feed.
        let stock = quantity_patch(3);
        assert_eq!(for_marketplaces(&stock, &["A13V1IB3VIYZZH".to_owned()]).value, stock.value);
    }

    #[test]
    fn feed_schema_example_and_generated_feeds_validate() {
        let (Some(doc_schema), Some(msg_schema), Some(example)) = (
            crate::wire::fixture("listings-feed-schema-v2.json"),
            crate::wire::fixture("listings-feed-message-schema-v2.json"),
            crate::wire::fixture("listings-feed-schema-v2.example.json"),
        ) else {
            return;
        };
        let doc = jsonschema::validator_for(&doc_schema).unwrap();
        let msg = jsonschema::validator_for(&msg_schema).unwrap();
        assert!(doc.is_valid(&example), "the published example validates");
        let messages: Vec<FeedMessage> = (0..3)
            .map(|i| FeedMessage {
                sku: format!("SKU-{i}"),
                product_type: "PRODUCT".into(),
                patches: vec![if i == 2 {
                    price_patch(&[("ATVPDKIKX0DER".into(), "USD".into(), 19.99)])
                } else {
                    quantity_patch(i)
                }],
            })
            .collect();
        let generated = document("A3TH9S8BH6GOGM", &messages);
        let errors: Vec<String> = doc.iter_errors(&generated).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        for m in generated["messages"].as_array().unwrap() {
            assert!(msg.is_valid(m), "{m}");
        }
        // A feed above the schema's maximum is refused by the schema: the adapter never builds one.
        let too_many: Vec<FeedMessage> = (0..MAX_FEED_MESSAGES + 1)
            .map(|i| FeedMessage {
                sku: format!("S{i}"),
                product_type: "PRODUCT".into(),
                patches: vec![quantity_patch(1)],
            })
            .collect();
        assert!(!doc.is_valid(&document("A3TH9S8BH6GOGM", &too_many)));
    }

    #[test]
    fn processing_report_example_maps_to_messages() {
        let Some(example) = crate::wire::fixture("listings-feed-processing-report-schema-v2.example.json") else {
            return;
        };
        let report: ProcessingReport = serde_json::from_value(example).unwrap();
        let errors = errors_by_message(&report);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[&4].len(), 2);
        assert!(errors[&5][0].contains("99022"));
        assert!(feed_errors(&report).is_empty());
    }
}
