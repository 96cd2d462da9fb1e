//! Behaviour of the Takealot Seller API v2 emulator.

mod common;

use std::time::Duration;

use channel_core::webhook;
use channel_testkit::sandbox::Duplicates;
use channel_testkit::takealot::{SignatureScheme, TakealotConfig, TakealotEmulator};
use channel_testkit::{PlaceOrder, RateLimit, RegisterWebhook, SeedProduct};
use common::{Receiver, client, decode_emulated, decode_fixture, fixture};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

// ---- Types shared by the fixtures and the emulator's answers (unknown fields are refused). ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OffersPage {
    total_results: u64,
    page_size: u64,
    page_number: u64,
    offers: Vec<OfferWire>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NamedWarehouse {
    warehouse_id: u64,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LeadtimeStock {
    merchant_warehouse: NamedWarehouse,
    quantity_available: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DcStock {
    warehouse: NamedWarehouse,
    quantity_available: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StockCover {
    warehouse_id: u64,
    stock_cover_days: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SalesUnits {
    warehouse_id: u64,
    sales_units: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OfferWire {
    tsin_id: u64,
    offer_id: u64,
    sku: String,
    barcode: String,
    product_label_number: String,
    selling_price: i64,
    rrp: i64,
    leadtime_days: Option<i64>,
    leadtime_stock: Vec<LeadtimeStock>,
    status: String,
    title: String,
    offer_url: String,
    stock_cover: Vec<StockCover>,
    sales_units: Vec<SalesUnits>,
    discount: String,
    discount_shown: bool,
    storage_fee_eligible: bool,
    date_created: String,
    stock_at_takealot_total: i64,
    stock_at_takealot: Vec<DcStock>,
    stock_on_way: Vec<DcStock>,
    total_stock_on_way: i64,
    total_stock_cover: i64,
    catalogue_quality_score: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WebhookOffer {
    offer_id: u64,
    sku: String,
    barcode: String,
    leadtime_stock: Vec<LeadtimeStock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Facility {
    code: String,
    address: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NewLeadtimeOrder {
    order_id: u64,
    order_item_id: u64,
    offer: WebhookOffer,
    warehouse: String,
    total_selling_price: i64,
    quantity: i64,
    event_date: String,
    facility: Facility,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Sale {
    order_item_id: u64,
    order_id: u64,
    order_date: String,
    sale_status: String,
    offer_id: u64,
    tsin: u64,
    sku: String,
    customer: String,
    product_title: String,
    takealot_url_mobi: String,
    selling_price: i64,
    quantity: i64,
    warehouse: String,
    customer_warehouse: String,
    promotion: String,
    shipment_id: Option<i64>,
    shipment_state_id: Option<i64>,
    po_number: Option<i64>,
    shipment_name: Option<String>,
    takealot_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SaleStatusChanged {
    sale: Sale,
    event_timestamp_utc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OfferUpdated {
    seller_id: u64,
    offer_id: u64,
    values_changed: serde_json::Map<String, Value>,
    #[serde(default)]
    batch_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BatchCompleted {
    seller_id: u64,
    batch_id: Value,
    status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MerchantWarehouseStock {
    merchant_warehouse_id: u64,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OfferCreated {
    seller_id: u64,
    offer_id: u64,
    merchant_sku: String,
    tsin_id: u64,
    gtin: String,
    minimum_leadtime_days: Option<i64>,
    maximum_leadtime_days: Option<i64>,
    selling_price: i64,
    rrp: i64,
    merchant_warehouse_stock: Vec<MerchantWarehouseStock>,
    batch_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DropShipLine {
    offer: WebhookOffer,
    quantity_required: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NewDropShipOrder {
    order_id: u64,
    ready_for_collect_due_date: String,
    acceptance_due_date: String,
    merchant_warehouse: NamedWarehouse,
    offers: Vec<DropShipLine>,
    event_date: String,
}

// ---- Helpers. ----

fn quiet() -> TakealotConfig {
    let mut config = TakealotConfig::default();
    config.rate_limit = None;
    config.batch_processing_delay = Duration::from_millis(1);
    config
}

async fn start(config: TakealotConfig) -> TakealotEmulator {
    TakealotEmulator::start(config).await.expect("emulator starts")
}

fn seed(emulator: &TakealotEmulator, sku: &str, quantity: i64, price: i64) -> u64 {
    let ids = emulator.seed_product(SeedProduct::new(sku, quantity, Decimal::from(price))).expect("seeded");
    ids["offer_id"].as_u64().expect("offer id")
}

async fn get(emulator: &TakealotEmulator, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", emulator.base_url()))
        .header("Authorization", format!("Key {}", emulator.api_key()))
        .send()
        .await
        .expect("request sent")
}

async fn send(emulator: &TakealotEmulator, method: reqwest::Method, path: &str, body: &Value) -> reqwest::Response {
    client()
        .request(method, format!("{}{path}", emulator.base_url()))
        .header("Authorization", format!("Key {}", emulator.api_key()))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn poll_batch(emulator: &TakealotEmulator, batch_id: &str) -> Value {
    for _ in 0..500 {
        let body: Value = get(emulator, &format!("/v2/offers/batch/{batch_id}")).await.json().await.expect("json");
        if body["status"]["description"] != "Pending" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("batch {batch_id} never completed");
}

// ---- Tests. ----

#[tokio::test]
async fn wrong_or_missing_credentials_are_rejected() {
    let emulator = start(quiet()).await;
    let url = format!("{}/v2/offers", emulator.base_url());
    // The swagger documents 403 "Forbidden Error" `{message}` (and no 401) for every operation.
    let missing = client().get(&url).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let wrong = client().get(&url).header("Authorization", "Key not-the-key").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let bearer =
        client().get(&url).header("Authorization", format!("Bearer {}", emulator.api_key())).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::FORBIDDEN);
    let body: Value = bearer.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(get(&emulator, "/v2/offers").await.status(), StatusCode::OK);
}

/// `GET /v2/seller` is not in the swagger: by default it is an unknown path (404 `{message}`), served
/// only when a test opts in.
#[tokio::test]
async fn the_seller_endpoint_is_opt_in() {
    let emulator = start(quiet()).await;
    let unknown = get(&emulator, "/v2/seller").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    let mut config = quiet();
    config.serve_seller_endpoint = true;
    let served = start(config).await;
    let seller: Value = get(&served, "/v2/seller").await.json().await.unwrap();
    assert_eq!(seller["seller_id"], 1_234_567);
}

#[tokio::test]
async fn pages_to_the_end_and_caps_page_size() {
    let emulator = start(quiet()).await;
    for i in 0..25 {
        seed(&emulator, &format!("SKU-{i:02}"), i, 100);
    }
    assert_eq!(get(&emulator, "/v2/offers?page_size=101").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(get(&emulator, "/v2/offers?page_number=0").await.status(), StatusCode::BAD_REQUEST);
    let mut seen = Vec::new();
    for page in 1.. {
        let body: Value =
            get(&emulator, &format!("/v2/offers?page_number={page}&page_size=10")).await.json().await.unwrap();
        let page: OffersPage = decode_emulated(&body);
        assert_eq!(page.total_results, 25);
        if page.offers.is_empty() {
            break;
        }
        seen.extend(page.offers.into_iter().map(|o| o.sku));
    }
    let expected: Vec<String> = (0..25).map(|i| format!("SKU-{i:02}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers() {
    let mut config = quiet();
    config.rate_limit = Some(RateLimit::new(3.0, 0.001));
    let emulator = start(config).await;
    for remaining in ["2", "1", "0"] {
        let response = get(&emulator, "/v2/offers").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
    }
    let throttled = get(&emulator, "/v2/offers").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = throttled.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!(reset >= 1, "reset tells the client to wait");
}

#[tokio::test]
async fn patch_by_identifier_and_platform_rules() {
    let emulator = start(quiet()).await;
    let offer_id = seed(&emulator, "MUG/1", 5, 199);
    let warehouse = emulator.warehouse_ids()[0];
    let patch = |quantity: i64| json!({"leadtime_stock": [{"merchant_warehouse_id": warehouse, "quantity": quantity}]});

    let by_id = send(&emulator, reqwest::Method::PATCH, &format!("/v2/offers/offer/ID{offer_id}"), &patch(7)).await;
    assert_eq!(by_id.status(), StatusCode::OK);
    assert_eq!(emulator.stock("MUG/1").unwrap(), Some(7));
    // A SKU with '/' goes in the query form.
    let by_sku = send(&emulator, reqwest::Method::PATCH, "/v2/offers/offer?identifier=SKUMUG%2F1", &patch(8)).await;
    assert_eq!(by_sku.status(), StatusCode::OK);
    assert_eq!(emulator.stock("MUG/1").unwrap(), Some(8));
    let barcode = emulator.platform().offer_json("MUG/1").unwrap()["barcode"].as_str().unwrap().to_owned();
    let by_gtin = send(&emulator, reqwest::Method::PATCH, &format!("/v2/offers/offer/GTIN{barcode}"), &patch(9)).await;
    assert_eq!(by_gtin.status(), StatusCode::OK);
    let body: Value = by_gtin.json().await.unwrap();
    assert_eq!(body["offer"]["leadtime_stock"][0]["quantity_available"], 9);
    assert_eq!(body["validation_errors"], json!([]));
    assert_eq!(get(&emulator, "/v2/offers/offer/SKUnope").await.status(), StatusCode::NOT_FOUND);

    let fractional = send(
        &emulator,
        reqwest::Method::PATCH,
        &format!("/v2/offers/offer/{offer_id}"),
        &json!({"selling_price": 199.5}),
    )
    .await;
    assert_eq!(fractional.status(), StatusCode::BAD_REQUEST, "selling_price is an integer in the schema");
    let unknown =
        send(&emulator, reqwest::Method::PATCH, &format!("/v2/offers/offer/{offer_id}"), &json!({"quantity": 3})).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST, "not a field of V2OfferSingleUpdate");
    // The code of the first validation error: a documented one (platform notes §3.6) or none at all.
    let refused = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK, "rules answer V2OfferUpdateSuccessResponse");
        let body: Value = response.json().await.unwrap();
        let error = &body["validation_errors"][0];
        assert!(error["message"].is_string(), "a validation error: {body}");
        error.get("code").map(|c| c.as_str().expect("a code is a string").to_owned())
    };
    let path = format!("/v2/offers/offer/{offer_id}");
    let code = |c: &str| Some(c.to_owned());
    assert_eq!(refused(send(&emulator, reqwest::Method::PATCH, &path, &patch(-1)).await).await, code("E30"));
    // E19/E22 are "must be whole number" in the notes, E24 a "Disabled by Takealot" code: no code is
    // documented for these rules.
    assert_eq!(refused(send(&emulator, reqwest::Method::PATCH, &path, &json!({"rrp": 100})).await).await, None);
    let free = json!({"selling_price": 0});
    assert_eq!(refused(send(&emulator, reqwest::Method::PATCH, &path, &free).await).await, None, "price 0");
    let dc_write = json!({"leadtime_stock": [{"merchant_warehouse_id": 1, "quantity": 3}]});
    assert_eq!(
        refused(send(&emulator, reqwest::Method::PATCH, &path, &dc_write).await).await,
        None,
        "DC stock is not writable"
    );
    assert_eq!(emulator.stock("MUG/1").unwrap(), Some(9), "refused updates change nothing");

    let renamed =
        send(&emulator, reqwest::Method::PATCH, &format!("/v2/offers/offer/{offer_id}"), &json!({"sku": "MUG-2"}))
            .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert!(emulator.stock("MUG/1").is_err(), "the old SKU no longer names the offer");
    assert_eq!(get(&emulator, "/v2/offers/offer/SKUMUG-2").await.status(), StatusCode::OK);
    seed(&emulator, "OTHER", 1, 10);
    let clash = send(&emulator, reqwest::Method::PATCH, "/v2/offers/offer/SKUOTHER", &json!({"sku": "MUG-2"})).await;
    assert_eq!(refused(clash).await, None, "SKUs are unique");
    emulator.platform().set_disabled_by_takealot("MUG-2", true).unwrap();
    let disabled = send(&emulator, reqwest::Method::PATCH, &format!("/v2/offers/offer/{offer_id}"), &patch(1)).await;
    assert_eq!(refused(disabled).await, code("E11"));
    assert_eq!(emulator.stock("MUG-2").unwrap(), Some(9));
}

#[tokio::test]
async fn batch_reports_per_offer_results_and_caps_size() {
    let mut config = quiet();
    config.max_batch_size = 5;
    let emulator = start(config).await;
    seed(&emulator, "GOOD", 1, 100);
    seed(&emulator, "OFF", 1, 100);
    emulator.platform().set_disabled_by_takealot("OFF", true).unwrap();
    let warehouse = emulator.warehouse_ids()[0];
    let item = |sku: &str, quantity: i64| json!({"sku": sku, "leadtime_stock": [{"merchant_warehouse_id": warehouse, "quantity": quantity}]});

    let too_big: Vec<Value> = (0..6).map(|_| item("GOOD", 1)).collect();
    let refused = send(&emulator, reqwest::Method::POST, "/v2/offers/batch", &json!(too_big)).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let wrapped = json!({"requests": [item("GOOD", 1)]});
    let wrapped = send(&emulator, reqwest::Method::POST, "/v2/offers/batch", &wrapped).await;
    assert_eq!(wrapped.status(), StatusCode::BAD_REQUEST, "the body is a bare array");
    let unknown = json!([{"sku": "GOOD", "quantity": 1}]);
    let unknown = send(&emulator, reqwest::Method::POST, "/v2/offers/batch", &unknown).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST, "quantity is not a field of V2OfferBatchCreateUpdate");

    let created = send(
        &emulator,
        reqwest::Method::POST,
        "/v2/offers/batch",
        &json!([item("GOOD", 40), item("OFF", 2), item("MISSING", 3)]),
    )
    .await;
    assert_eq!(created.status(), StatusCode::OK);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["status"], json!({"id": 1, "description": "Pending"}));
    let batch = poll_batch(&emulator, created["batch_id"].as_str().unwrap()).await;
    assert_eq!(batch["status"], json!({"id": 4, "description": "Success"}), "item failures never fail the batch");
    let errors: Vec<usize> =
        batch["result"].as_array().unwrap().iter().map(|r| r["validation_errors"].as_array().unwrap().len()).collect();
    assert_eq!(errors, [0, 1, 1]);
    assert_eq!(batch["result"][0]["offer"]["sku"], "GOOD");
    assert_eq!(batch["result"][1]["validation_errors"][0]["code"], "E11");
    assert_eq!(batch["result"][2]["offer"], json!({"sku": "MISSING"}), "an unknown offer is named as it was sent");
    let missing = &batch["result"][2]["validation_errors"][0];
    assert_eq!(missing, &json!({"message": "Offer not found"}), "no code is documented for an unknown offer");
    assert_eq!(emulator.stock("GOOD").unwrap(), Some(40));
    assert_eq!(emulator.stock("OFF").unwrap(), Some(1));
}

#[tokio::test]
async fn orders_move_the_right_stock_and_show_in_sales() {
    let emulator = start(quiet()).await;
    emulator.seed_product(SeedProduct::new("KETTLE", 10, Decimal::from(450)).with("dc_stock", 20)).unwrap();
    let leadtime = emulator.place_order(PlaceOrder::new("KETTLE", 3)).unwrap();
    assert_eq!(emulator.stock("KETTLE").unwrap(), Some(7));
    let dc = emulator.place_order(PlaceOrder::new("KETTLE", 5).by_channel()).unwrap();
    assert_eq!(emulator.stock("KETTLE").unwrap(), Some(7), "a DC order leaves leadtime stock alone");
    assert_eq!(emulator.platform().dc_stock("KETTLE"), Some(15));
    assert!(emulator.place_order(PlaceOrder::new("KETTLE", 8)).is_err(), "cannot oversell leadtime stock");

    emulator.cancel_order(&leadtime.order_id).unwrap();
    assert_eq!(emulator.stock("KETTLE").unwrap(), Some(10));
    emulator.cancel_order(&dc.order_id).unwrap();
    assert_eq!(emulator.platform().dc_stock("KETTLE"), Some(20));
    assert!(emulator.cancel_order(&dc.order_id).is_err(), "already cancelled");

    let body: Value = get(&emulator, "/v2/sales?page_number=1&page_size=100").await.json().await.unwrap();
    assert_eq!(body["page_summary"]["total"], 2);
    assert_eq!(body["sales"][0]["sale_status"], "Cancelled by Customer");
    assert_eq!(body["sales"][0]["selling_price"], json!(1350.0), "a number: unit × quantity");
    let date = body["sales"][0]["order_date"].as_str().unwrap();
    assert!(jiff::civil::DateTime::strptime("%d %b %Y %H:%M:%S", date).is_ok(), "{date}");

    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(2))).date();
    let window = |days: i64| {
        format!(
            "/v2/sales?filters=start_date:{},end_date:{today}",
            today.checked_sub(jiff::Span::new().days(days)).unwrap()
        )
    };
    // The window counts both dates: today less 179 days .. today is 180 days, less 180 is 181.
    assert_eq!(get(&emulator, &window(179)).await.status(), StatusCode::OK);
    let too_long = get(&emulator, &window(180)).await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST, "181 days counting both ends");
    let bad_page: Value = get(&emulator, "/v2/sales?page_number=0").await.json().await.unwrap();
    assert_eq!(bad_page["fields"], "page_number", "the error names the parameter at fault: {bad_page}");
    let old = "/v2/sales?filters=start_date:2020-01-01;end_date:2020-01-31";
    let body: Value = get(&emulator, old).await.json().await.unwrap();
    assert_eq!(body["page_summary"]["total"], 0);
    let repeated = format!("/v2/sales?filters=start_date:{today}&filters=end_date:{today}&filters=sku:KETTLE");
    let body: Value = get(&emulator, &repeated).await.json().await.unwrap();
    assert_eq!(body["page_summary"]["total"], 2, "repeated filters and a field filter");
    let unknown = get(&emulator, "/v2/sales?filters=colour:red").await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!((error["fields"].as_str(), error["status"].as_u64()), (Some("colour"), Some(400)), "{error}");
}

#[tokio::test]
async fn webhooks_are_signed_and_shaped_like_the_fixtures() {
    let emulator = start(quiet()).await;
    let receiver = Receiver::start().await;
    emulator.register_webhook(RegisterWebhook::new(&receiver.url, "test-secret")).unwrap();
    let offer_id = seed(&emulator, "SKU001", 50, 299);
    emulator.place_order(PlaceOrder::new("SKU001", 2)).unwrap();
    let patched = send(
        &emulator,
        reqwest::Method::PATCH,
        &format!("/v2/offers/offer/{offer_id}"),
        &json!({"selling_price": 289}),
    )
    .await;
    assert_eq!(patched.status(), StatusCode::OK);
    emulator.webhooks_idle().await;

    let all = receiver.received();
    assert_eq!(all.len(), 3, "Offer Created, New Leadtime Order, Offer Updated");
    for delivery in &all {
        assert!(webhook::verify_hex(b"test-secret", &delivery.body, &delivery.header("x-takealot-signature")));
        assert!(!webhook::verify_hex(b"other", &delivery.body, &delivery.header("x-takealot-signature")));
        assert!(uuid::Uuid::parse_str(&delivery.header("x-takealot-delivery")).is_ok());
    }
    let order = &receiver.with_header("x-takealot-event", "New Leadtime Order")[0];
    let order: NewLeadtimeOrder = decode_emulated(&order.json());
    assert_eq!(order.quantity, 2);
    assert_eq!(order.offer.leadtime_stock[0].quantity_available, 48, "payload shows decremented stock");
    let updated: OfferUpdated = decode_emulated(&receiver.with_header("x-takealot-event", "Offer Updated")[0].json());
    assert_eq!(updated.values_changed["selling_price"], 289);
    let _: OfferCreated = decode_emulated(&receiver.with_header("x-takealot-event", "Offer Created")[0].json());

    // Every payload type also decodes the public examples.
    if let Some(path) = fixture("takealot", "webhook_new_leadtime_order.json") {
        let _: NewLeadtimeOrder = decode_fixture(&path);
    }
    if let Some(path) = fixture("takealot", "webhook_offer_updated.json") {
        let _: OfferUpdated = decode_fixture(&path);
    }
    if let Some(path) = fixture("takealot", "webhook_offer_created.json") {
        let _: OfferCreated = decode_fixture(&path);
    }
}

#[tokio::test]
async fn dc_orders_cancellations_and_batches_fire_their_events() {
    let mut config = quiet();
    config.signature = SignatureScheme::Base64HexUrlBody;
    config.webhooks.duplicates = Duplicates::Always;
    let emulator = start(config).await;
    let receiver = Receiver::start().await;
    emulator.register_webhook(RegisterWebhook::new(&receiver.url, "test-secret")).unwrap();
    emulator.seed_product(SeedProduct::new("DC-1", 0, Decimal::from(99)).with("dc_stock", 4)).unwrap();
    let order = emulator.place_order(PlaceOrder::new("DC-1", 1).by_channel()).unwrap();
    emulator.cancel_order(&order.order_id).unwrap();
    let created =
        send(&emulator, reqwest::Method::POST, "/v2/offers/batch", &json!([{"sku": "DC-1", "selling_price": 120}]))
            .await;
    let created: Value = created.json().await.unwrap();
    poll_batch(&emulator, created["batch_id"].as_str().unwrap()).await;
    // Batch Completed is queued after the batch is marked done; wait for it to be queued and delivered.
    for _ in 0..500 {
        emulator.webhooks_idle().await;
        if !receiver.with_header("x-takealot-event", "Batch Completed").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let changed = receiver.with_header("x-takealot-event", "Sale Status Changed");
    assert_eq!(changed.len(), 4, "two events, each delivered twice");
    assert_eq!(
        changed[0].header("x-takealot-delivery"),
        changed[1].header("x-takealot-delivery"),
        "a duplicate is the same delivery"
    );
    let statuses: Vec<String> =
        changed.iter().map(|d| decode_emulated::<SaleStatusChanged>(&d.json()).sale.sale_status).collect();
    assert_eq!(
        statuses,
        ["Preparing for Customer", "Preparing for Customer", "Cancelled by Customer", "Cancelled by Customer"]
    );
    let completed = receiver.with_header("x-takealot-event", "Batch Completed");
    assert!(!completed.is_empty());
    let completed_body: BatchCompleted = decode_emulated(&completed[0].json());
    assert_eq!(completed_body.status, "SUCCESS");
    for delivery in receiver.received() {
        use base64::Engine as _;
        let digest = webhook::hmac_sha256_parts(b"test-secret", &[receiver.url.as_bytes(), &delivery.body]);
        let expected = base64::engine::general_purpose::STANDARD.encode(hex::encode(digest));
        assert_eq!(delivery.header("x-takealot-signature"), expected);
    }
    if let Some(path) = fixture("takealot", "webhook_sale_status_changed.json") {
        let _: SaleStatusChanged = decode_fixture(&path);
    }
    if let Some(path) = fixture("takealot", "webhook_batch_completed.json") {
        let _: BatchCompleted = decode_fixture(&path);
    }
}

#[tokio::test]
async fn offers_response_matches_the_documented_shape() {
    let emulator = start(quiet()).await;
    emulator.seed_product(SeedProduct::new("SHAPE", 3, Decimal::from(10)).with("dc_stock", 2)).unwrap();
    let body: Value = get(&emulator, "/v2/offers").await.json().await.unwrap();
    let page: OffersPage = decode_emulated(&body);
    assert_eq!(page.offers[0].stock_at_takealot_total, 2);
    assert_eq!(page.offers[0].status, "Buyable");
    if let Some(path) = fixture("takealot", "v2_get_offers_response_schema.json") {
        let _: OffersPage = decode_fixture(&path);
    }
    // The documented PATCH body is accepted as is.
    if let Some(path) = fixture("takealot", "v2_patch_offer_request.json") {
        let body: Value = decode_fixture(&path);
        let response = send(&emulator, reqwest::Method::PATCH, "/v2/offers/offer/SKUSHAPE", &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(emulator.stock("SHAPE").unwrap(), Some(50));
    }
}

/// `GET /v2/offers/offer/{identifier}` ("Get An Offer (v2)", `get_offer_by_identifier_v2` in the Seller API
/// v2 swagger): one offer in the `V2Offer` shape, named by "Takealot's Offer ID, the Barcode or your SKU …
/// Prepend with ID, Barcode, or SKU. e.g. ID234, BARCODE3223, SKUDF22. Defaults to Offer ID."; 404 with a
/// `message` when there is no such offer.
#[tokio::test]
async fn get_an_offer_by_identifier_as_documented() {
    let emulator = start(quiet()).await;
    let offer_id = seed(&emulator, "MUG/1", 5, 199);
    seed(&emulator, "OTHER", 1, 10);
    let barcode = emulator.platform().offer_json("MUG/1").unwrap()["barcode"].as_str().unwrap().to_owned();
    for path in [
        format!("/v2/offers/offer/ID{offer_id}"),
        format!("/v2/offers/offer/{offer_id}"),
        format!("/v2/offers/offer/BARCODE{barcode}"),
        "/v2/offers/offer?identifier=SKUMUG%2F1".to_owned(),
    ] {
        let response = get(&emulator, &path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        let offer: OfferWire = decode_emulated(&body);
        assert_eq!((offer.offer_id, offer.sku.as_str()), (offer_id, "MUG/1"), "{path}");
        assert_eq!(body["leadtime_stock"][0]["quantity_available"], 5, "{path}");
    }
    for path in [format!("/v2/offers/offer/ID{}", offer_id + 1000), "/v2/offers/offer/BARCODEnope".to_owned()] {
        let missing = get(&emulator, &path).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = missing.json().await.unwrap();
        assert!(body["message"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn every_fault_kind_over_http() {
    let emulator = start(quiet()).await;
    seed(&emulator, "A", 1, 10);
    seed(&emulator, "B", 1, 10);
    let faults = format!("{}/_sandbox/faults", emulator.base_url());
    let inject = |body: Value| client().post(&faults).json(&body).send();

    assert_eq!(
        inject(json!({"kind": "status", "status": 503, "retry_after": 7})).await.unwrap().status(),
        StatusCode::CREATED
    );
    let failed = get(&emulator, "/v2/offers").await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.headers()["retry-after"], "7");
    assert_eq!(get(&emulator, "/v2/offers").await.status(), StatusCode::OK, "count defaults to one");

    inject(json!({"kind": "status", "status": 429, "count": 2})).await.unwrap();
    assert_eq!(get(&emulator, "/v2/offers").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get(&emulator, "/v2/offers").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get(&emulator, "/v2/offers").await.status(), StatusCode::OK);

    inject(json!({"kind": "delay", "delay_ms": 5})).await.unwrap();
    assert_eq!(get(&emulator, "/v2/offers").await.status(), StatusCode::OK);

    inject(json!({"kind": "drop"})).await.unwrap();
    let dropped = client()
        .get(format!("{}/v2/offers", emulator.base_url()))
        .header("Authorization", format!("Key {}", emulator.api_key()))
        .send()
        .await;
    assert!(dropped.is_err(), "the connection closes without an answer");

    inject(json!({"kind": "malformed"})).await.unwrap();
    let malformed = get(&emulator, "/v2/offers").await;
    assert_eq!(malformed.status(), StatusCode::OK);
    assert!(malformed.json::<Value>().await.is_err());

    inject(json!({"kind": "partial_batch"})).await.unwrap();
    let created = send(
        &emulator,
        reqwest::Method::POST,
        "/v2/offers/batch",
        &json!([{"sku": "A", "selling_price": 11}, {"sku": "B", "selling_price": 12}]),
    )
    .await;
    let created: Value = created.json().await.unwrap();
    let batch = poll_batch(&emulator, created["batch_id"].as_str().unwrap()).await;
    let errors: Vec<usize> =
        batch["result"].as_array().unwrap().iter().map(|r| r["validation_errors"].as_array().unwrap().len()).collect();
    assert_eq!(errors, [0, 1], "the partial fault fails the second offer");
    let fault = &batch["result"][1]["validation_errors"][0];
    assert!(fault.get("code").is_none(), "the fault invents no code: {fault}");
    assert!(!fault["message"].as_str().unwrap().contains("retry"), "nor asks to be retried: {fault}");

    assert_eq!(inject(json!({"kind": "explode"})).await.unwrap().status(), StatusCode::BAD_REQUEST);
    let faults_logged: Vec<Option<String>> = emulator.requests().into_iter().map(|r| r.fault).collect();
    for kind in ["status", "delay", "drop", "malformed"] {
        assert!(faults_logged.iter().any(|f| f.as_deref() == Some(kind)), "{kind} is logged");
    }
    let dropped_entry = emulator.requests().into_iter().find(|r| r.fault.as_deref() == Some("drop")).unwrap();
    assert_eq!(dropped_entry.status, None);
}

#[tokio::test]
async fn sandbox_control_surface_over_http() {
    let emulator = start(quiet()).await;
    let base = emulator.base_url().to_owned();
    let http = client();
    let seeded = http
        .post(format!("{base}/_sandbox/products"))
        .json(&json!({"sku": "HTTP-1", "quantity": 12, "price": 150}))
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let fractional = http
        .post(format!("{base}/_sandbox/products"))
        .json(&json!({"sku": "HTTP-2", "quantity": 1, "price": "9.99"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fractional.status(), StatusCode::BAD_REQUEST, "Takealot prices are whole rand");
    let stock: Value = http.get(format!("{base}/_sandbox/stock/HTTP-1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stock, json!({"sku": "HTTP-1", "quantity": 12}));
    let placed: Value = http
        .post(format!("{base}/_sandbox/orders"))
        .json(&json!({"sku": "HTTP-1", "quantity": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    assert_eq!(emulator.stock("HTTP-1").unwrap(), Some(10));
    let cancelled = http.post(format!("{base}/_sandbox/orders/{order_id}/cancel")).send().await.unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(emulator.stock("HTTP-1").unwrap(), Some(12));
    let missing = http.get(format!("{base}/_sandbox/stock/NOPE")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let hook = http
        .post(format!("{base}/_sandbox/webhooks"))
        .json(&json!({"url": "http://127.0.0.1:9/hook", "secret": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), StatusCode::CREATED);

    get(&emulator, "/v2/offers?page_size=5").await;
    let log: Vec<Value> = http.get(format!("{base}/_sandbox/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(log.len(), 1, "/_sandbox requests are not logged");
    assert_eq!(log[0]["method"], "GET");
    assert_eq!(log[0]["path"], "/v2/offers");
    assert_eq!(log[0]["query"], "page_size=5");
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["headers"]["authorization"], "******");
    assert!(!serde_json::to_string(&log).unwrap().contains(emulator.api_key()));
    let info: Value = http.get(format!("{base}/_sandbox/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["api_key"], emulator.api_key());
    assert_eq!(emulator.info()["base_url"], base);
    emulator.shutdown().await;
    assert!(http.get(format!("{base}/_sandbox/info")).send().await.is_err(), "shut down");
}

#[tokio::test]
async fn drop_ship_orders_fire_their_own_event() {
    let emulator = start(quiet()).await;
    let receiver = Receiver::start().await;
    emulator.register_webhook(RegisterWebhook::new(&receiver.url, "test-secret")).unwrap();
    seed(&emulator, "DS-1", 6, 50);
    let mut order = PlaceOrder::new("DS-1", 2);
    order.extra.insert("drop_ship".into(), json!(true));
    emulator.place_order(order).unwrap();
    assert_eq!(emulator.stock("DS-1").unwrap(), Some(4), "drop-ship orders take leadtime stock");
    emulator.webhooks_idle().await;
    let deliveries = receiver.with_header("x-takealot-event", "New Drop Ship Order");
    assert_eq!(deliveries.len(), 1);
    assert!(receiver.with_header("x-takealot-event", "New Leadtime Order").is_empty());
    let body: NewDropShipOrder = decode_emulated(&deliveries[0].json());
    assert_eq!(body.offers[0].quantity_required, 2);
    assert_eq!(body.offers[0].offer.leadtime_stock[0].quantity_available, 4);
    if let Some(path) = fixture("takealot", "webhook_new_drop_ship_order.json") {
        let _: NewDropShipOrder = decode_fixture(&path);
    }
}

// ---- Every answer checked against the Seller API v2 swagger (`seller-api-v2-swagger.yml`). ----

/// The swagger as JSON, or `None` (with a message) when the fixture is absent. `Sale.sale_status` is typed
/// `boolean` there, which every public answer contradicts ("Shipped to Customer"); it is checked as a string.
fn swagger() -> Option<Value> {
    let path = fixture("takealot", "seller-api-v2-swagger.yml")?;
    let text = std::fs::read_to_string(&path).expect("swagger readable");
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("swagger parses");
    doc["definitions"]["Sale"]["properties"]["sale_status"]["type"] = json!("string");
    Some(doc)
}

/// The schema of the answer `status` of `method` on `path` (`default` when the status is not listed).
fn answer_schema(doc: &Value, path: &str, method: &str, status: &str) -> Value {
    let responses = &doc["paths"][path][method]["responses"];
    let response = if responses[status].is_null() { &responses["default"] } else { &responses[status] };
    assert!(response.is_object(), "{method} {path} documents no {status} answer");
    response["schema"].clone()
}

/// Where `value` departs from `schema` (with `$ref`s into `doc`'s definitions): types, enums, and no
/// property the schema does not name. `x-nullable` allows `null`.
fn departures(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/definitions/");
        return departures(doc, &doc["definitions"][name], value, at, out);
    }
    if value.is_null() && schema["x-nullable"] == json!(true) {
        return;
    }
    let fits = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        None => schema.get("properties").is_none() || value.is_object(),
        Some(other) => panic!("{at}: unexpected schema type {other}"),
    };
    if !fits {
        out.push(format!("{at}: {value} is not a {}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object()) {
        for (key, field) in object {
            match properties.get(key) {
                Some(field_schema) => departures(doc, field_schema, field, &format!("{at}.{key}"), out),
                None => out.push(format!("{at}.{key}: not in the schema")),
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            departures(doc, items, item, &format!("{at}[{i}]"), out);
        }
    }
}

async fn documented(doc: &Value, (path, method): (&str, &str), response: reqwest::Response, what: &str) -> Value {
    let status = response.status().as_u16().to_string();
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
    let schema = answer_schema(doc, path, method, &status);
    let mut out = Vec::new();
    departures(doc, &schema, &body, what, &mut out);
    assert!(out.is_empty(), "{what} ({status}) departs from the swagger:\n{}\n{body:#}", out.join("\n"));
    body
}

/// Each operation the adapter uses, answered by the emulator, decodes against the swagger's own schema for
/// that answer (success and error), with no field the swagger does not define.
#[tokio::test]
async fn every_answer_has_the_swagger_shape() {
    let Some(doc) = swagger() else { return };
    let emulator = start(quiet()).await;
    let offer_id = seed(&emulator, "SW-1", 5, 300);
    emulator.seed_product(SeedProduct::new("SW-DC", 0, Decimal::from(99)).with("dc_stock", 4)).unwrap();
    seed(&emulator, "SW-OFF", 1, 100);
    emulator.platform().set_disabled_by_takealot("SW-OFF", true).unwrap();
    emulator.place_order(PlaceOrder::new("SW-1", 2)).unwrap();
    emulator.place_order(PlaceOrder::new("SW-DC", 1).by_channel()).unwrap();
    let warehouse = emulator.warehouse_ids()[0];
    let stock = |q: i64| json!([{"merchant_warehouse_id": warehouse, "quantity": q}]);
    let (offers, offer, batch, batch_get, sales) = (
        ("/v2/offers", "get"),
        ("/v2/offers/offer/{identifier}", "get"),
        ("/v2/offers/batch", "post"),
        ("/v2/offers/batch/{batch_id}", "get"),
        ("/{version}/sales", "get"),
    );
    let patch = ("/v2/offers/offer/{identifier}", "patch");

    let page = documented(&doc, offers, get(&emulator, "/v2/offers?page_number=1&page_size=100").await, "offers").await;
    assert_eq!(page["offers"].as_array().unwrap().len(), 3);
    documented(&doc, offers, get(&emulator, "/v2/offers?page_size=101").await, "offers 400").await;
    let unauthorised = client().get(format!("{}/v2/offers", emulator.base_url())).send().await.unwrap();
    documented(&doc, offers, unauthorised, "offers 403").await;
    documented(&doc, offer, get(&emulator, &format!("/v2/offers/offer/ID{offer_id}")).await, "offer").await;
    documented(&doc, offer, get(&emulator, "/v2/offers/offer/ID1").await, "offer 404").await;

    let path = format!("/v2/offers/offer/ID{offer_id}");
    let body = json!({"leadtime_stock": stock(9), "selling_price": 320});
    let applied = documented(&doc, patch, send(&emulator, reqwest::Method::PATCH, &path, &body).await, "patch").await;
    assert_eq!(applied["validation_errors"], json!([]));
    let low_rrp = json!({"rrp": 10});
    let refused =
        documented(&doc, patch, send(&emulator, reqwest::Method::PATCH, &path, &low_rrp).await, "patch refused");
    let refused = refused.await;
    assert!(refused["validation_errors"][0]["message"].is_string(), "{refused}");
    assert!(refused["validation_errors"][0].get("code").is_none(), "no documented code: {refused}");
    let bad = send(&emulator, reqwest::Method::PATCH, &path, &json!({"selling_price": "300"})).await;
    documented(&doc, patch, bad, "patch 400").await;
    documented(&doc, patch, send(&emulator, reqwest::Method::PATCH, "/v2/offers/offer/ID1", &body).await, "patch 404")
        .await;

    let items = json!([
        {"offer_id": offer_id, "leadtime_stock": stock(4)},
        {"sku": "SW-OFF", "selling_price": 120},
        {"offer_id": 1, "rrp": 0}
    ]);
    let created = send(&emulator, reqwest::Method::POST, "/v2/offers/batch", &items).await;
    let created = documented(&doc, batch, created, "batch create").await;
    let batch_id = created["batch_id"].as_str().expect("batch_id is a string").to_owned();
    poll_batch(&emulator, &batch_id).await;
    let done = get(&emulator, &format!("/v2/offers/batch/{batch_id}")).await;
    let done = documented(&doc, batch_get, done, "batch status").await;
    assert_eq!(done["result"].as_array().unwrap().len(), 3);
    documented(&doc, batch, send(&emulator, reqwest::Method::POST, "/v2/offers/batch", &json!({})).await, "batch 400")
        .await;
    documented(&doc, batch_get, get(&emulator, "/v2/offers/batch/999999").await, "batch 404").await;

    let listed = documented(&doc, sales, get(&emulator, "/v2/sales?page_number=1&page_size=100").await, "sales").await;
    assert_eq!(listed["sales"].as_array().unwrap().len(), 2);
    documented(&doc, sales, get(&emulator, "/v2/sales?filters=colour:red").await, "sales error").await;
}

/// Every delivery the emulator makes has the shape of its `webhook_*.json` fixture: the same fields, each
/// of the same JSON type.
#[tokio::test]
async fn webhook_deliveries_have_the_fixture_shapes() {
    let emulator = start(quiet()).await;
    let receiver = Receiver::start().await;
    emulator.register_webhook(RegisterWebhook::new(&receiver.url, "test-secret")).unwrap();
    let offer_id = seed(&emulator, "WH-1", 50, 299);
    emulator.seed_product(SeedProduct::new("WH-DC", 0, Decimal::from(99)).with("dc_stock", 4)).unwrap();
    emulator.place_order(PlaceOrder::new("WH-1", 2)).unwrap();
    let mut drop_ship = PlaceOrder::new("WH-1", 1);
    drop_ship.extra.insert("drop_ship".into(), json!(true));
    emulator.place_order(drop_ship).unwrap();
    emulator.place_order(PlaceOrder::new("WH-DC", 1).by_channel()).unwrap();
    let path = format!("/v2/offers/offer/ID{offer_id}");
    send(&emulator, reqwest::Method::PATCH, &path, &json!({"selling_price": 289})).await;
    let created =
        send(&emulator, reqwest::Method::POST, "/v2/offers/batch", &json!([{"sku": "WH-1", "rrp": 400}])).await;
    let created: Value = created.json().await.unwrap();
    poll_batch(&emulator, created["batch_id"].as_str().unwrap()).await;
    for _ in 0..500 {
        emulator.webhooks_idle().await;
        if !receiver.with_header("x-takealot-event", "Batch Completed").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    fn shape(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
            Value::Array(items) => items.first().map_or(json!([]), |first| json!([shape(first)])),
            Value::Number(n) if n.is_f64() => json!("number"),
            Value::Number(_) => json!("integer"),
            Value::String(_) => json!("string"),
            Value::Bool(_) => json!("boolean"),
            Value::Null => json!("null"),
        }
    }
    // Where a fixture and the emulator may differ in type: a fixture's example value the emulator cannot
    // hold (ids, nullable fields), normalised on both sides.
    fn loose(mut value: Value) -> Value {
        if let Value::Object(map) = &mut value {
            for (key, v) in map.iter_mut() {
                if matches!(
                    key.as_str(),
                    "batch_id" | "shipment_id" | "shipment_state_id" | "po_number" | "shipment_name"
                ) || key.ends_with("leadtime_days")
                {
                    *v = json!("any");
                } else {
                    *v = loose(v.take());
                }
            }
        }
        if let Value::Array(items) = &mut value {
            for v in items.iter_mut() {
                *v = loose(v.take());
            }
        }
        value
    }
    let events = [
        ("New Leadtime Order", "webhook_new_leadtime_order.json"),
        ("New Drop Ship Order", "webhook_new_drop_ship_order.json"),
        ("Sale Status Changed", "webhook_sale_status_changed.json"),
        ("Offer Created", "webhook_offer_created.json"),
        ("Offer Updated", "webhook_offer_updated.json"),
        ("Batch Completed", "webhook_batch_completed.json"),
    ];
    for (event, name) in events {
        let Some(path) = fixture("takealot", name) else { continue };
        let documented: Value = decode_fixture(&path);
        let delivered = receiver.with_header("x-takealot-event", event);
        assert!(!delivered.is_empty(), "no {event} delivered");
        for delivery in delivered {
            let mut body = delivery.json();
            if event == "Offer Updated" {
                // `values_changed` holds what the update changed; `batch_id` only for batch updates.
                body["values_changed"] = documented["values_changed"].clone();
                if body.get("batch_id").is_none() {
                    body["batch_id"] = documented["batch_id"].clone();
                }
            }
            assert_eq!(loose(shape(&body)), loose(shape(&documented)), "{event}: {body:#}");
        }
    }
}
