//! Decoding the official SP-API schemas and examples in `../shared/fixtures/amazon` (skipped with a
//! message when that directory is absent).

use std::path::{Path, PathBuf};

use channel_amazon::webhook;
use channel_core::jiff::Timestamp;
use channel_core::{Fulfilment, OrderStatus, WebhookPayload, WebhookRejection};
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
    let event = webhook::parse(&body).unwrap();
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
    assert_eq!(webhook::parse(&serde_json::to_vec(&eb).unwrap()).unwrap().topic, "ORDER_CHANGE");
    let sns = serde_json::json!({"Type": "Notification", "Message": example(&schema).to_string()});
    assert_eq!(webhook::parse(&serde_json::to_vec(&sns).unwrap()).unwrap().topic, "ORDER_CHANGE");
}

#[test]
fn mfn_quantity_example() {
    let Some(schema) = fixture("ListingsItemMfnQuantityChange.json") else { return };
    let event = webhook::parse(&serde_json::to_vec(&example(&schema)).unwrap()).unwrap();
    let WebhookPayload::Inventory(change) = event.payload else { panic!() };
    assert_eq!(change.listing.as_ref().map(|l| l.as_str()), Some("NLS-SHOES-03"));
    assert_eq!(change.quantity, Some(99));
    assert_eq!(change.fulfilment, Fulfilment::Merchant);
}

#[test]
fn fba_availability_example() {
    let Some(schema) = fixture("FBAInventoryAvailabilityChangeNotification.json") else { return };
    let body = serde_json::to_vec(&example(&schema)).unwrap();
    let event = webhook::parse(&body).unwrap();
    let WebhookPayload::Inventory(change) = event.payload else { panic!() };
    assert_eq!(change.listing.as_ref().map(|l| l.as_str()), Some("SELLERSKU-1:fba"));
    assert_eq!(change.fulfilment, Fulfilment::Channel);
    assert_eq!(change.quantity, Some(50));
    let ca = webhook::parse_for(&body, Some("A2EUQ1WTGCTBG2")).unwrap();
    let WebhookPayload::Inventory(change) = ca.payload else { panic!() };
    assert_eq!(change.quantity, Some(40));
}

#[test]
fn other_and_broken_notifications_are_rejected() {
    let Some(schema) = fixture("ListingsItemStatusChangeNotification.json") else { return };
    let body = serde_json::to_vec(&schema["examples"][0]).unwrap();
    assert_eq!(webhook::parse(&body).unwrap_err().http_status(), 422);
    assert_eq!(webhook::parse(b"{\"hello\":1}").unwrap_err().http_status(), 400);
    assert_eq!(webhook::parse(b"not json").unwrap_err().http_status(), 400);
}

#[test]
fn a_payload_under_another_notification_type_is_refused() {
    let (Some(order), Some(mfn), Some(fba)) = (
        fixture("OrderChangeNotification.json"),
        fixture("ListingsItemMfnQuantityChange.json"),
        fixture("FBAInventoryAvailabilityChangeNotification.json"),
    ) else {
        return;
    };
    let retyped = |n: &Value, t: &str| {
        let mut n = n.clone();
        n["NotificationType"] = Value::from(t);
        serde_json::to_vec(&n).unwrap()
    };
    let (order, mfn, fba) = (example(&order), example(&mfn), example(&fba));
    for (what, body) in [
        ("an order change as an MFN quantity", retyped(&order, "LISTINGS_ITEM_MFN_QUANTITY_CHANGE")),
        ("an order change as FBA availability", retyped(&order, "FBA_INVENTORY_AVAILABILITY_CHANGES")),
        ("an MFN quantity as an order change", retyped(&mfn, "ORDER_CHANGE")),
        ("FBA availability as an MFN quantity", retyped(&fba, "LISTINGS_ITEM_MFN_QUANTITY_CHANGE")),
        ("an MFN quantity as FBA availability", retyped(&mfn, "FBA_INVENTORY_AVAILABILITY_CHANGES")),
    ] {
        let rejection = webhook::parse(&body).unwrap_err();
        assert!(matches!(rejection, WebhookRejection::TopicMismatch { .. }), "{what}: {rejection:?}");
        assert_eq!(rejection.http_status(), 400, "{what}");
    }
    // An EventBridge envelope routed as one type around a notification of another.
    let eb = serde_json::json!({"detail-type": "ORDER_CHANGE", "source": "aws.partner/sellingpartnerapi.amazon", "detail": mfn});
    let rejection = webhook::parse(&serde_json::to_vec(&eb).unwrap()).unwrap_err();
    assert!(matches!(rejection, WebhookRejection::TopicMismatch { .. }), "{rejection:?}");
}

#[test]
fn a_notification_is_dated_by_its_publish_time() {
    let Some(mfn) = fixture("ListingsItemMfnQuantityChange.json") else { return };
    let mut n = example(&mfn);
    let event = webhook::parse(&serde_json::to_vec(&n).unwrap()).unwrap();
    let published = n["NotificationMetadata"]["PublishTime"].as_str().unwrap().parse::<Timestamp>().unwrap();
    assert_eq!(event.sent_at, Some(published));
    n["NotificationMetadata"].as_object_mut().unwrap().remove("PublishTime");
    let event = webhook::parse(&serde_json::to_vec(&n).unwrap()).unwrap();
    assert_eq!(event.sent_at, Some(n["EventTime"].as_str().unwrap().parse::<Timestamp>().unwrap()), "else EventTime");
}
