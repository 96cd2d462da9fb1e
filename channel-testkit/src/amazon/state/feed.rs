//! `JSON_LISTINGS_FEED` processing: validation against the semantics of `listings-feed-schema-v2.json`
//! and the processing report (`listings-feed-processing-report-schema-v2.json` shape).

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::super::AmazonConfig;
use super::{ListingChange, Note, State};

/// What processing a feed produced.
#[derive(Debug)]
pub(in crate::amazon) struct Processed {
    /// `DONE`, or `FATAL` when the document as a whole is unusable.
    pub(in crate::amazon) status: &'static str,
    pub(in crate::amazon) report: Value,
    pub(in crate::amazon) notes: Vec<Note>,
}

const OPERATIONS: &[&str] = &["UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"];
const REQUIREMENTS: &[&str] = &["LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY"];
const INCLUDED: &[&str] = &[
    "summaries",
    "attributes",
    "issues",
    "offers",
    "fulfillmentAvailability",
    "procurement",
    "relationships",
    "productTypes",
];

fn fatal(config: &AmazonConfig, feed_id: &str, message: impl Into<String>) -> Processed {
    Processed {
        status: "FATAL",
        report: json!({
            "header": {"sellerId": config.seller_id, "version": "2.0", "feedId": feed_id},
            "issues": [{"code": "4000001", "severity": "ERROR", "message": message.into()}],
            "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 0, "messagesAccepted": 0, "messagesInvalid": 0},
        }),
        notes: Vec::new(),
    }
}

/// Checks the header; `Err` is a fatal problem.
fn check_header(config: &AmazonConfig, header: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    let header = header.and_then(Value::as_object).ok_or("header is required and must be an object")?;
    let seller = header.get("sellerId").and_then(Value::as_str).ok_or("header.sellerId is required")?;
    if seller != config.seller_id {
        return Err(format!("header.sellerId {seller:?} does not match the selling partner submitting the feed"));
    }
    if header.get("version").and_then(Value::as_str) != Some("2.0") {
        return Err("header.version must be \"2.0\"".into());
    }
    if header.get("issueLocale").is_some_and(|l| !l.is_string()) {
        return Err("header.issueLocale must be a string".into());
    }
    let Some(report) = header.get("report") else { return Ok(None) };
    let included =
        report.get("includedData").and_then(Value::as_array).ok_or("header.report.includedData is required")?;
    if included.is_empty() {
        return Err("header.report.includedData must not be empty".into());
    }
    let mut sets = Vec::new();
    for set in included {
        match set.as_str() {
            Some(name) if INCLUDED.contains(&name) => sets.push(name.to_owned()),
            _ => return Err(format!("header.report.includedData has an unknown value {set}")),
        }
    }
    if report.get("apiVersion").and_then(Value::as_str) != Some("2021-08-01") {
        return Err("header.report.apiVersion must be \"2021-08-01\"".into());
    }
    Ok(Some(sets))
}

/// Schema problems of one message (empty when it is valid).
fn check_message(message: &Map<String, Value>, seen: &mut HashSet<i64>) -> Vec<String> {
    let mut problems = Vec::new();
    match message.get("messageId").and_then(Value::as_i64) {
        Some(id) if (1..=2_147_483_647).contains(&id) => {
            if !seen.insert(id) {
                problems.push(format!("messageId {id} is not unique within the feed"));
            }
        }
        _ => problems.push("messageId is required and must be an integer from 1 to 2147483647".into()),
    }
    if message.get("sku").and_then(Value::as_str).is_none_or(str::is_empty) {
        problems.push("sku is required and must be a non-empty string".into());
    }
    let operation = message.get("operationType").and_then(Value::as_str).unwrap_or_default();
    if !OPERATIONS.contains(&operation) {
        problems.push(format!("operationType must be one of {OPERATIONS:?}"));
        return problems;
    }
    if let Some(product_type) = message.get("productType")
        && product_type.as_str().is_none_or(str::is_empty)
    {
        problems.push("productType must be a non-empty string".into());
    }
    if let Some(requirements) = message.get("requirements")
        && !requirements.as_str().is_some_and(|r| REQUIREMENTS.contains(&r))
    {
        problems.push(format!("requirements must be one of {REQUIREMENTS:?}"));
    }
    if let Some(attributes) = message.get("attributes")
        && attributes.as_object().is_none_or(Map::is_empty)
    {
        problems.push("attributes must be an object with at least one attribute".into());
    }
    if let Some(patches) = message.get("patches") {
        match patches.as_array() {
            Some(list) if !list.is_empty() => {
                for patch in list {
                    let op_ok = patch
                        .get("op")
                        .and_then(Value::as_str)
                        .is_some_and(|op| matches!(op, "add" | "replace" | "merge" | "delete"));
                    let path_ok = patch.get("path").is_some_and(Value::is_string);
                    let value_ok =
                        patch.get("value").is_none_or(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_object)));
                    if !(op_ok && path_ok && value_ok) {
                        problems.push(
                            "each patch needs op (add|replace|merge|delete), path and an array of objects as value"
                                .into(),
                        );
                    }
                }
            }
            _ => problems.push("patches must be an array with at least one operation".into()),
        }
    }
    let (required, forbidden): (&[&str], &[&str]) = match operation {
        "UPDATE" => (&["productType", "attributes"], &["patches"]),
        "PARTIAL_UPDATE" => (&["productType", "attributes"], &["requirements", "patches"]),
        "PATCH" => (&["productType", "patches"], &["requirements", "attributes"]),
        _ => (&[], &["requirements", "attributes", "productType", "patches"]),
    };
    for field in required {
        if !message.contains_key(*field) {
            problems.push(format!("{field} is required for {operation}"));
        }
    }
    for field in forbidden {
        if message.contains_key(*field) {
            problems.push(format!("{field} is not applicable to {operation}"));
        }
    }
    problems
}

/// Validates the whole feed (a fatal problem stops here) and applies every valid message.
///
/// Under an injected [`PartialBatch`](crate::sandbox::PartialBatch) fault the messages it names fail with
/// a transient `INTERNAL_ERROR` issue (resubmit them) and are not applied.
pub(in crate::amazon) fn process(
    state: &mut State,
    config: &AmazonConfig,
    feed_id: &str,
    body: &[u8],
    partial: Option<crate::sandbox::PartialBatch>,
) -> Processed {
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return fatal(config, feed_id, "The feed document is not valid JSON");
    };
    let included = match check_header(config, document.get("header")) {
        Ok(included) => included,
        Err(message) => return fatal(config, feed_id, message),
    };
    let Some(messages) = document.get("messages").and_then(Value::as_array) else {
        return fatal(config, feed_id, "messages is required and must be an array");
    };
    if messages.is_empty() || messages.len() > config.max_feed_messages {
        return fatal(
            config,
            feed_id,
            format!("messages must contain from 1 to {} messages; found {}", config.max_feed_messages, messages.len()),
        );
    }
    let mut seen = HashSet::new();
    let mut issues = Vec::new();
    let mut notes = Vec::new();
    let (mut accepted, mut invalid) = (0u64, 0u64);
    let mut touched: Vec<String> = Vec::new();
    let count = messages.len();
    for (index, message) in messages.iter().enumerate() {
        let Some(map) = message.as_object() else {
            invalid += 1;
            issues.push(json!({"code": "4000001", "severity": "ERROR", "message": "each message must be an object"}));
            continue;
        };
        let id = map.get("messageId").cloned().unwrap_or(Value::Null);
        let sku = map.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
        let problems = check_message(map, &mut seen);
        let outcome = if partial.is_some_and(|p| p.fails(index, count)) {
            Err(vec![json!({"code": "INTERNAL_ERROR", "severity": "ERROR",
                "message": "An internal error occurred while processing this message; submit it again."})])
        } else if problems.is_empty() {
            apply_message(state, config, map)
        } else {
            Err(problems.into_iter().map(|p| json!({"code": "4000001", "severity": "ERROR", "message": p})).collect())
        };
        match outcome {
            Ok(new_notes) => {
                accepted += 1;
                notes.extend(new_notes);
                if !touched.contains(&sku) {
                    touched.push(sku);
                }
            }
            Err(found) => {
                invalid += 1;
                for mut found in found {
                    found["messageId"] = id.clone();
                    found["sku"] = json!(sku);
                    issues.push(found);
                }
            }
        }
    }
    let mut report = json!({
        "header": {"sellerId": config.seller_id, "version": "2.0", "feedId": feed_id},
        "issues": issues,
        "summary": {
            "errors": issues.len(),
            "warnings": 0,
            "messagesProcessed": accepted + invalid,
            "messagesAccepted": accepted,
            "messagesInvalid": invalid,
        },
    });
    if let Some(sets) = included {
        let items: Vec<Value> =
            touched.iter().filter_map(|sku| state.listings.get(sku)).map(|l| l.to_json(config, &sets)).collect();
        report["header"]["report"] = json!({"includedData": sets, "apiVersion": "2021-08-01"});
        report["summary"]["itemSummary"] = json!({"items": items.len(), "errors": 0, "warnings": 0});
        report["items"] = Value::Array(items);
    }
    Processed { status: "DONE", report, notes }
}

/// Applies one schema-valid message; answers the notifications or the issues.
fn apply_message(
    state: &mut State,
    config: &AmazonConfig,
    message: &Map<String, Value>,
) -> Result<Vec<Note>, Vec<Value>> {
    let sku = message.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
    let operation = message.get("operationType").and_then(Value::as_str).unwrap_or_default();
    let product_type = message.get("productType").and_then(Value::as_str).unwrap_or("PRODUCT").to_owned();
    match operation {
        "DELETE" => {
            if state.listings.remove(&sku).is_none() {
                return Err(vec![super::issue("NOT_FOUND", format!("SKU '{sku}' not found"), None)]);
            }
            Ok(Vec::new())
        }
        "PATCH" => {
            let patches = message.get("patches").and_then(Value::as_array).cloned().unwrap_or_default();
            // An unknown SKU becomes an offer-only listing, as with patchListingsItem.
            let created = state.ensure_listing(&sku, &product_type);
            match state.plan_patches(config, &sku, &patches) {
                Ok(change) => Ok(state.apply(config, &sku, change)),
                Err(issues) => {
                    if created {
                        state.listings.remove(&sku);
                    }
                    Err(issues)
                }
            }
        }
        _ => {
            // UPDATE replaces the attributes (creating the listing if needed); PARTIAL_UPDATE is PATCH with
            // `replace` for each attribute given.
            let attributes = message.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
            let created = operation == "UPDATE" && state.ensure_listing(&sku, &product_type);
            let patches: Vec<Value> = attributes
                .iter()
                .filter(|(name, _)| name.as_str() != "item_name")
                .map(|(name, value)| json!({"op": "replace", "path": format!("/attributes/{name}"), "value": value}))
                .collect();
            let mut change = if patches.is_empty() {
                if state.listings.contains_key(&sku) {
                    ListingChange::default()
                } else {
                    return Err(vec![super::issue("NOT_FOUND", format!("SKU '{sku}' not found"), None)]);
                }
            } else {
                match state.plan_patches(config, &sku, &patches) {
                    Ok(change) => change,
                    Err(issues) => {
                        // An invalid UPDATE creates nothing.
                        if created {
                            state.listings.remove(&sku);
                        }
                        return Err(issues);
                    }
                }
            };
            if operation == "UPDATE"
                && let Some(listing) = state.listings.get(&sku)
            {
                // Attributes not given are dropped.
                for name in listing.attributes.keys() {
                    if !attributes.contains_key(name) {
                        change.attributes.push((name.clone(), None));
                    }
                }
            }
            if let Some(title) = attributes.get("item_name").and_then(|v| v.pointer("/0/value")).and_then(Value::as_str)
                && let Some(listing) = state.listings.get_mut(&sku)
            {
                listing.title = title.to_owned();
            }
            if let Some(listing) = state.listings.get_mut(&sku) {
                listing.product_type = product_type;
            }
            Ok(state.apply(config, &sku, change))
        }
    }
}
