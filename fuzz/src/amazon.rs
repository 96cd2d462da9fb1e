//! Amazon targets. Amazon delivers no signed HTTPS webhooks (notifications arrive through SQS or
//! EventBridge), so the untrusted inputs are the notification bodies and the documents Amazon serves:
//!
//! - `amazon_notification`: [`webhook::parse`] / [`webhook::parse_for`] (the selector picks
//!   no marketplace, the US one or another);
//! - `amazon_listings_report`: [`report_text`] (the selector picks a charset) and [`parse_listings_report`]
//!   on the `GET_MERCHANT_LISTINGS_ALL_DATA` document;
//! - `amazon_processing_report`: a `JSON_LISTINGS_FEED` processing report, mapped to per-message errors;
//! - `amazon_document`: [`decode_document`] (GZIP or not, by the selector) with a small bound, which
//!   must end in bytes no larger than the bound or a typed error.

use channel_amazon::fuzz::{decode_document, parse_listings_report, processing_report_errors, report_text};
use channel_amazon::webhook;

/// Marketplaces the selector picks from.
const MARKETPLACES: &[Option<&str>] = &[None, Some("ATVPDKIKX0DER"), Some("A1F83G8C2ARO7P"), Some("")];

/// Notification seeds (SQS body, EventBridge and SNS envelopes).
pub const NOTIFICATION_SEEDS: &[&str] = &[
    r#"{"NotificationVersion": "1.0", "NotificationType": "ORDER_CHANGE", "PayloadVersion": "1.0", "EventTime": "2020-01-11T00:09:53.109Z", "Payload": {"OrderChangeNotification": {"NotificationLevel": "OrderLevel", "SellerId": "A3TH9S8BH6GOGM", "AmazonOrderId": "123-1234567-1234567", "OrderChangeType": "OrderStatusChange", "OrderChangeTrigger": {"TimeOfOrderChange": "2022-11-29T19:42:04.284Z", "ChangeReason": "NoLongerPendingAvailability"}, "Summary": {"MarketplaceId": "ATVPDKIKX0DER", "OrderStatus": "Unshipped", "PurchaseDate": "2022-07-13T19:42:04.284Z", "FulfillmentType": "MFN", "OrderItems": [{"OrderItemId": "1", "SellerSKU": "MUG-1", "Quantity": 2}]}}}, "NotificationMetadata": {"ApplicationId": "app", "SubscriptionId": "sub", "PublishTime": "2020-07-13T19:42:04.284Z", "NotificationId": "n-1"}}"#,
    r#"{"NotificationType": "LISTINGS_ITEM_MFN_QUANTITY_CHANGE", "Payload": {"SellerId": "A3TH9S8BH6GOGM", "FulfillmentChannelCode": "DEFAULT", "Sku": "MUG-1", "Quantity": 10}, "NotificationMetadata": {"NotificationId": "n-2"}}"#,
    r#"{"detail": {"NotificationType": "FBA_INVENTORY_AVAILABILITY_CHANGES", "Payload": {"SKU": "MUG-1", "FulfillmentInventoryByMarketplace": [{"MarketplaceId": "ATVPDKIKX0DER", "FulfillmentInventory": {"Fulfillable": 5}}]}}}"#,
    r#"{"Type": "Notification", "Message": "{\"NotificationType\": \"LISTINGS_ITEM_MFN_QUANTITY_CHANGE\", \"Payload\": {\"Sku\": \"A\", \"Quantity\": 1}}"}"#,
];

/// Listings report seeds.
pub const REPORT_SEEDS: &[&str] = &[
    "item-name\tseller-sku\tprice\tquantity\tstatus\tfulfillment-channel\tasin1\nMug\tMUG-1\t9.50\t12\tActive\tDEFAULT\tB01\nBox\tBOX-FBA\t5.00\t\tActive\tAMAZON_NA\tB02\n",
    "\u{feff}seller-sku\tquantity\nA\t-1\n\nB\t99999999999999999999\n",
    "item-name\tseller-sku\tprice\tquantity\tstatus\tfulfilment-channel\tasin1\nMug\tMUG-1\t9.50\t12\tActive\tDEFAULT\tB01\nBox\tBOX-FBA\t5.00\t\tActive\tAMAZON_EU\tB02\n",
];

/// Processing report seeds.
pub const PROCESSING_REPORT_SEEDS: &[&str] = &[
    r#"{"header": {"sellerId": "A3TH9S8BH6GOGM", "version": "2.0", "feedId": "F1"}, "issues": [{"messageId": 2, "sku": "S-1", "code": "4000001", "severity": "ERROR", "message": "SKU not found"}, {"code": "1", "severity": "ERROR", "message": "feed-level"}], "summary": {"errors": 2, "warnings": 0, "messagesProcessed": 3, "messagesAccepted": 2, "messagesInvalid": 1}}"#,
    r#"{"issues": null}"#,
];

/// The bound used by the document target.
pub const DOCUMENT_LIMIT: u64 = 64 * 1024;

/// `amazon_notification`.
pub fn notification(selector: u8, body: &[u8]) {
    let result = match MARKETPLACES[usize::from(selector) % MARKETPLACES.len()] {
        None if selector & 0x80 != 0 => webhook::parse(body),
        marketplace => webhook::parse_for(body, marketplace),
    };
    match result {
        Ok(event) => drop(format!("{event:?}")),
        Err(e) => drop(e.to_string()),
    }
}

/// `amazon_listings_report`.
pub fn listings_report(selector: u8, body: &[u8]) {
    let marketplace = MARKETPLACES[usize::from(selector) % MARKETPLACES.len()].unwrap_or("ATVPDKIKX0DER");
    let charset = [None, Some("Cp1252"), Some("Shift_JIS"), Some("utf8")][usize::from(selector >> 6)];
    let listings = report_text(body, charset).and_then(|text| parse_listings_report(&text, marketplace));
    drop(format!("{listings:?}"));
}

/// `amazon_processing_report`.
pub fn processing_report(_selector: u8, body: &[u8]) {
    if let Some((by_message, feed_level)) = processing_report_errors(body) {
        drop(format!("{by_message:?} {feed_level:?}"));
    }
}

/// `amazon_document`.
pub fn document(selector: u8, body: &[u8]) {
    let compression = match selector % 4 {
        0 => None,
        1 => Some("GZIP"),
        2 => Some("gzip"),
        _ => Some("ZSTD"),
    };
    if let Ok(decoded) = decode_document("report", body, compression, DOCUMENT_LIMIT) {
        assert!(
            u64::try_from(decoded.len()).unwrap_or(u64::MAX) <= DOCUMENT_LIMIT,
            "{} bytes decoded past the {DOCUMENT_LIMIT}-byte bound",
            decoded.len()
        );
    }
}

/// The body of the `amazon_notification` fuzz target.
pub fn run_notification(data: &[u8]) {
    if let Some((selector, body)) = data.split_first() {
        notification(*selector, body);
    }
}

/// The body of the `amazon_listings_report` fuzz target.
pub fn run_listings_report(data: &[u8]) {
    if let Some((selector, body)) = data.split_first() {
        listings_report(*selector, body);
    }
}

/// The body of the `amazon_processing_report` fuzz target.
pub fn run_processing_report(data: &[u8]) {
    if let Some((selector, body)) = data.split_first() {
        processing_report(*selector, body);
    }
}

/// The body of the `amazon_document` fuzz target.
pub fn run_document(data: &[u8]) {
    if let Some((selector, body)) = data.split_first() {
        document(*selector, body);
    }
}
