//! Decoding the official SP-API schemas and examples in `../shared/fixtures/amazon` (skipped with a
//! message when that directory is absent).

use std::path::{Path, PathBuf};

use channel_amazon::{feed, notifications, wire};
use channel_core::{Fulfilment, OrderStatus, WebhookPayload};
use serde_json::Value;

fn fixture(name: &str) -> Option<Value> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/amazon").join(name);
    match std::fs::read_to_string(&p) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))),
        Err(_) => {
            println!("skipped: {} not found", p.display());
            None
        }
    }
}

/// The first example of a notification schema (`examples[0]`, or the payload example of `Payload`).
fn example(schema: &Value) -> Value {
    if let Some(e) = schema.get("examples").and_then(|e| e.get(0)) {
        return e.clone();
    }
    let payload = schema.pointer("/properties/Payload/examples/0").cloned().expect("a payload example");
    serde_json::json!({
        "NotificationVersion": "1.0",
        "NotificationType": "FBA_INVENTORY_AVAILABILITY_CHANGES",
        "PayloadVersion": "1.0",
        "EventTime": "2020-07-13T19:42:04.284Z",
        "Payload": payload,
        "NotificationMetadata": {"NotificationId": "n-1", "SubscriptionId": "s", "PublishTime": "2020-07-13T19:42:04.284Z", "ApplicationId": "a"}
    })
}

#[test]
fn order_change_example() {
    let Some(schema) = fixture("OrderChangeNotification.json") else { return };
    let body = serde_json::to_vec(&example(&schema)).unwrap();
    let event = notifications::parse(&body).unwrap();
    assert_eq!(event.topic, "ORDER_CHANGE");
    assert_eq!(event.delivery_id.as_deref(), Some("d0e9e693-c3ad-4373-979f-ed4ec98dd746"));
    let WebhookPayload::Order(order) = event.payload else { panic!("{:?}", event.payload) };
    assert_eq!(order.id.as_str(), "903-8868176-2219830");
    assert_eq!(order.status, OrderStatus::Open);
    assert_eq!(order.lines[0].channel_sku, "SellerSKUID1");
    assert_eq!(order.lines[0].quantity, 10);
    assert_eq!(order.lines[0].fulfilment, Fulfilment::Merchant);

    // The same notification through EventBridge and SNS envelopes.
    let eb = serde_json::json!({"version": "0", "detail-type": "ORDER_CHANGE", "source": "aws.partner/sellingpartnerapi.amazon", "detail": example(&schema)});
    assert_eq!(notifications::parse(&serde_json::to_vec(&eb).unwrap()).unwrap().topic, "ORDER_CHANGE");
    let sns = serde_json::json!({"Type": "Notification", "Message": example(&schema).to_string()});
    assert_eq!(notifications::parse(&serde_json::to_vec(&sns).unwrap()).unwrap().topic, "ORDER_CHANGE");
}

#[test]
fn mfn_quantity_example() {
    let Some(schema) = fixture("ListingsItemMfnQuantityChange.json") else { return };
    let event = notifications::parse(&serde_json::to_vec(&example(&schema)).unwrap()).unwrap();
    let WebhookPayload::Inventory(change) = event.payload else { panic!() };
    assert_eq!(change.listing.as_ref().map(|l| l.as_str()), Some("NLS-SHOES-03"));
    assert_eq!(change.quantity, Some(99));
    assert_eq!(change.fulfilment, Fulfilment::Merchant);
}

#[test]
fn fba_availability_example() {
    let Some(schema) = fixture("FBAInventoryAvailabilityChangeNotification.json") else { return };
    let body = serde_json::to_vec(&example(&schema)).unwrap();
    let event = notifications::parse(&body).unwrap();
    let WebhookPayload::Inventory(change) = event.payload else { panic!() };
    assert_eq!(change.listing.as_ref().map(|l| l.as_str()), Some("SELLERSKU-1:fba"));
    assert_eq!(change.fulfilment, Fulfilment::Channel);
    assert_eq!(change.quantity, Some(50));
    let ca = notifications::parse_for(&body, Some("A2EUQ1WTGCTBG2")).unwrap();
    let WebhookPayload::Inventory(change) = ca.payload else { panic!() };
    assert_eq!(change.quantity, Some(40));
}

#[test]
fn other_and_broken_notifications_are_rejected() {
    let Some(schema) = fixture("ListingsItemStatusChangeNotification.json") else { return };
    let body = serde_json::to_vec(&schema["examples"][0]).unwrap();
    assert_eq!(notifications::parse(&body).unwrap_err().http_status(), 422);
    assert_eq!(notifications::parse(b"{\"hello\":1}").unwrap_err().http_status(), 400);
    assert_eq!(notifications::parse(b"not json").unwrap_err().http_status(), 400);
}

#[test]
fn feed_schema_example_and_generated_feeds_validate() {
    let (Some(doc_schema), Some(msg_schema), Some(example)) = (
        fixture("listings-feed-schema-v2.json"),
        fixture("listings-feed-message-schema-v2.json"),
        fixture("listings-feed-schema-v2.example.json"),
    ) else {
        return;
    };
    let doc = jsonschema::validator_for(&doc_schema).unwrap();
    let msg = jsonschema::validator_for(&msg_schema).unwrap();
    assert!(doc.is_valid(&example), "the published example validates");
    let messages: Vec<feed::FeedMessage> = (0..3)
        .map(|i| feed::FeedMessage {
            sku: format!("SKU-{i}"),
            product_type: "PRODUCT".into(),
            patches: vec![if i == 2 {
                feed::price_patch(&[("ATVPDKIKX0DER".into(), "USD".into(), 19.99)])
            } else {
                feed::quantity_patch(i)
            }],
        })
        .collect();
    let generated = feed::document("A3TH9S8BH6GOGM", &messages);
    let errors: Vec<String> = doc.iter_errors(&generated).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    for m in generated["messages"].as_array().unwrap() {
        assert!(msg.is_valid(m), "{m}");
    }
    // A feed above the schema's maximum is refused by the schema: the adapter never builds one.
    let too_many: Vec<feed::FeedMessage> = (0..feed::MAX_FEED_MESSAGES + 1)
        .map(|i| feed::FeedMessage {
            sku: format!("S{i}"),
            product_type: "PRODUCT".into(),
            patches: vec![feed::quantity_patch(1)],
        })
        .collect();
    assert!(!doc.is_valid(&feed::document("A3TH9S8BH6GOGM", &too_many)));
}

#[test]
fn processing_report_example_maps_to_messages() {
    let Some(example) = fixture("listings-feed-processing-report-schema-v2.example.json") else { return };
    let report: wire::ProcessingReport = serde_json::from_value(example).unwrap();
    let errors = feed::errors_by_message(&report);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[&4].len(), 2);
    assert!(errors[&5][0].contains("99022"));
    assert!(feed::feed_errors(&report).is_empty());
}

#[test]
fn model_examples_decode() {
    // The Orders v0 model's getOrders sandbox response decodes into the adapter's shapes.
    let Some(model) = fixture("ordersV0.json") else { return };
    let responses = &model["paths"]["/orders/v0/orders"]["get"]["responses"]["200"];
    let examples =
        responses.pointer("/x-amzn-api-sandbox/static").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut decoded = 0;
    for e in examples {
        if let Some(body) = e.get("response") {
            let page: wire::Payload<wire::OrdersList> = serde_json::from_value(body.clone()).unwrap();
            decoded += page.payload.orders.len();
        }
    }
    assert!(decoded > 0, "no getOrders examples decoded");
}
