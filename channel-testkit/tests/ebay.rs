//! Behaviour of the eBay emulator: OAuth refusals as eBay answers them, token expiry, answers that
//! validate against eBay's own OpenAPI schemas (`../shared/fixtures/ebay/`, objects closed so an
//! undocumented field fails), 200/207 bulk outcomes, the whole-call refusal and not-migrated switches,
//! paging by page index and `next`, orders with cancellations and refunds, shipping fulfillments, the
//! rate limit and the request log's redaction.

mod common;

use base64::Engine as _;
use channel_testkit::ebay::{EbayConfig, EbayEmulator};
use channel_testkit::{PlaceOrder, RateLimit, SeedProduct};
use common::{client, fixture};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn spec(name: &str) -> Option<Value> {
    let path = fixture("ebay", name)?;
    Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

/// Add `"additionalProperties": false` to every object schema naming `properties`.
fn close_objects(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    if object.get("properties").is_some_and(Value::is_object) && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        properties.values_mut().for_each(close_objects);
    }
    if let Some(items) = object.get_mut("items") {
        close_objects(items);
    }
}

/// Checks `value` against `components.schemas.<name>` of `spec`; `None` when the fixture is absent.
fn assert_valid(spec: &Option<Value>, name: &str, value: &Value) {
    let Some(spec) = spec else { return };
    let mut components = spec["components"].clone();
    for s in components["schemas"].as_object_mut().unwrap().values_mut() {
        close_objects(s);
    }
    let schema = json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{value:#}");
}

async fn token(emu: &EbayEmulator) -> String {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", emu.client_id(), emu.client_secret()));
    let resp = client()
        .post(emu.token_url())
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", emu.refresh_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], 7200);
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get(emu: &EbayEmulator, token: &str, path: &str) -> (StatusCode, Value) {
    let resp = client().get(format!("{}{path}", emu.base_url())).bearer_auth(token).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(emu: &EbayEmulator, token: &str, path: &str, body: Value) -> reqwest::Response {
    client().post(format!("{}{path}", emu.base_url())).bearer_auth(token).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn oauth_refusals_and_token_expiry() {
    let emu = EbayEmulator::start(EbayConfig::fast()).await.unwrap();
    let bad_client = client()
        .post(emu.token_url())
        .basic_auth(emu.client_id(), Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", emu.refresh_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_client.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bad_client.json::<Value>().await.unwrap()["error"], "invalid_client");
    let bad_grant = client()
        .post(emu.token_url())
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "v^1.1#stolen")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad_grant.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let bad_scope = client()
        .post(emu.token_url())
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", emu.refresh_token()),
            ("scope", "https://api.ebay.com/oauth/api_scope/sell.finances"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_scope.json::<Value>().await.unwrap()["error"], "invalid_scope");

    let (status, body) = get(&emu, "nope", "/commerce/identity/v1/user/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["errorId"], 1001);
    let t = token(&emu).await;
    let (status, user) = get(&emu, &t, "/commerce/identity/v1/user/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["userId"], emu.user_id());
    assert_valid(&spec("commerce_identity_v1_oas3.json"), "UserResponse", &user);
    emu.platform().expire_tokens();
    assert_eq!(get(&emu, &t, "/commerce/identity/v1/user/").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(emu.platform().token_grants(), 1);
    // Credentials never reach the request log.
    for r in emu.requests() {
        let text = format!("{r:?}");
        assert!(!text.contains(emu.client_secret()) && !text.contains(&t), "{text}");
        let encoded: String = url::form_urlencoded::byte_serialize(emu.refresh_token().as_bytes()).collect();
        assert!(!text.contains(&encoded) && !text.contains(emu.refresh_token()), "{text}");
    }
}

#[tokio::test]
async fn inventory_pages_by_page_index_and_offers_match_the_spec() {
    let emu = EbayEmulator::start(EbayConfig::fast()).await.unwrap();
    for i in 0..5 {
        emu.seed_product(SeedProduct::new(format!("S-{i}"), i, Decimal::new(995, 2))).unwrap();
    }
    emu.seed_product(SeedProduct::new("NO-OFFER", 1, Decimal::ONE).with("offer", false)).unwrap();
    let inv = spec("sell_inventory_v1_oas3.json");
    let t = token(&emu).await;
    let (_, page) = get(&emu, &t, "/sell/inventory/v1/inventory_item?limit=2&offset=1").await;
    assert_valid(&inv, "InventoryItems", &page);
    assert_eq!(page["total"], 6);
    assert_eq!(page["inventoryItems"][0]["sku"], "S-1", "offset 1 is the second page of 2");
    assert!(page["next"].as_str().unwrap().ends_with("offset=2&limit=2"));
    let (status, _) = get(&emu, &t, "/sell/inventory/v1/inventory_item?limit=201").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, offers) = get(&emu, &t, "/sell/inventory/v1/offer?sku=S-3").await;
    assert_valid(&inv, "Offers", &offers);
    assert_eq!(offers["offers"][0]["pricingSummary"]["price"]["value"], "9.95");
    let (status, none) = get(&emu, &t, "/sell/inventory/v1/offer?sku=NO-OFFER").await;
    assert_eq!((status, none["errors"][0]["errorId"].clone()), (StatusCode::NOT_FOUND, json!(25713)));
    let resp = post(
        &emu,
        &t,
        "/sell/inventory/v1/bulk_get_inventory_item",
        json!({"requests": [{"sku": "S-0"}, {"sku": "X"}]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::MULTI_STATUS);
    assert_valid(&inv, "BulkGetInventoryItemResponse", &resp.json().await.unwrap());

    emu.platform().set_not_migrated(true);
    let (_, hidden) = get(&emu, &t, "/sell/inventory/v1/inventory_item").await;
    assert_eq!((hidden["total"].clone(), hidden["inventoryItems"].as_array().unwrap().len()), (json!(0), 0));
}

#[tokio::test]
async fn bulk_updates_answer_per_sku_and_the_refusal_switch() {
    let mut config = EbayConfig::fast();
    config.refuse_bulk_above = Some(2);
    let emu = EbayEmulator::start(config).await.unwrap();
    for i in 0..3 {
        emu.seed_product(SeedProduct::new(format!("B-{i}"), 1, Decimal::ONE)).unwrap();
    }
    let inv = spec("sell_inventory_v1_oas3.json");
    let t = token(&emu).await;
    let path = "/sell/inventory/v1/bulk_update_price_quantity";
    let q = |sku: &str, n: i64| json!({"sku": sku, "shipToLocationAvailability": {"quantity": n}});
    let resp = post(&emu, &t, path, json!({"requests": [q("B-0", 5), q("NOPE", 1)]})).await;
    assert_eq!(resp.status(), StatusCode::MULTI_STATUS);
    let body: Value = resp.json().await.unwrap();
    assert_valid(&inv, "BulkPriceQuantityResponse", &body);
    assert_eq!(body["responses"][0]["statusCode"], 200);
    assert_eq!(body["responses"][1]["statusCode"], 404);
    assert_eq!(emu.stock("B-0").unwrap(), Some(5));
    let resp = post(&emu, &t, path, json!({"requests": [q("B-0", 1), q("B-1", 1), q("B-2", 1)]})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "above 2 SKUs the whole call is refused");
    assert_eq!(emu.stock("B-1").unwrap(), Some(1));
    let too_many: Vec<Value> = (0..26).map(|_| q("B-0", 1)).collect();
    assert_eq!(post(&emu, &t, path, json!({"requests": too_many})).await.status(), StatusCode::BAD_REQUEST);
    let ids = emu.seed_product(SeedProduct::new("P", 1, Decimal::ONE)).unwrap();
    let price =
        json!({"sku": "P", "offers": [{"offerId": ids["offer_id"], "price": {"value": "3.50", "currency": "USD"}}]});
    let resp = post(&emu, &t, path, json!({"requests": [price]})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(emu.platform().price("P"), Some(Decimal::new(350, 2)));
    // 250 revisions a day per listing.
    for _ in 0..250 {
        post(&emu, &t, path, json!({"requests": [q("B-2", 3)]})).await;
    }
    let body: Value = post(&emu, &t, path, json!({"requests": [q("B-2", 4)]})).await.json().await.unwrap();
    assert_eq!(body["responses"][0]["errors"][0]["errorId"], 25002);
}

#[tokio::test]
async fn orders_cancellations_refunds_and_fulfillments() {
    let emu = EbayEmulator::start(EbayConfig::fast()).await.unwrap();
    emu.seed_product(SeedProduct::new("O", 10, Decimal::new(500, 2))).unwrap();
    let a = emu.place_order(PlaceOrder::new("O", 3)).unwrap().order_id;
    let b = emu.place_order(PlaceOrder::new("O", 2)).unwrap().order_id;
    assert_eq!(emu.stock("O").unwrap(), Some(5));
    emu.cancel_order(&a).unwrap();
    assert_eq!(emu.stock("O").unwrap(), Some(8), "a cancellation restocks");
    emu.platform().refund(&b, Decimal::new(500, 2)).unwrap();
    let ful = spec("sell_fulfillment_v1_oas3.json");
    let t = token(&emu).await;
    let since = "2020-01-01T00:00:00.000Z";
    let (_, page) =
        get(&emu, &t, &format!("/sell/fulfillment/v1/order?filter=lastmodifieddate:%5B{since}..%5D&limit=1")).await;
    assert_valid(&ful, "OrderSearchPagedCollection", &page);
    assert_eq!(page["total"], 2);
    assert!(page["next"].as_str().unwrap().contains("offset=1"));
    let (_, cancelled) = get(&emu, &t, &format!("/sell/fulfillment/v1/order/{a}")).await;
    assert_eq!(cancelled["cancelStatus"]["cancelState"], "CANCELED");
    assert_eq!(cancelled["orderPaymentStatus"], "FULLY_REFUNDED");
    let (_, refunded) = get(&emu, &t, &format!("/sell/fulfillment/v1/order/{b}")).await;
    assert_eq!(refunded["orderPaymentStatus"], "PARTIALLY_REFUNDED");
    assert_eq!(refunded["lineItems"][0]["refunds"][0]["amount"]["value"], "5.00");
    let (status, _) = get(&emu, &t, "/sell/fulfillment/v1/order?filter=lastmodifieddate:[yesterday..]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let line = refunded["lineItems"][0]["lineItemId"].as_str().unwrap().to_owned();
    let ship = json!({"lineItems": [{"lineItemId": line, "quantity": 2}], "shippedDate": "2026-11-02T09:30:00.000Z",
                      "shippingCarrierCode": "USPS", "trackingNumber": "9400111"});
    let resp = post(&emu, &t, &format!("/sell/fulfillment/v1/order/{b}/shipping_fulfillment"), ship.clone()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(
        resp.headers()["location"].to_str().unwrap().ends_with(&format!("/order/{b}/shipping_fulfillment/9400111"))
    );
    let again = post(&emu, &t, &format!("/sell/fulfillment/v1/order/{b}/shipping_fulfillment"), ship).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "no more units to ship");
    assert_eq!(emu.platform().order_json(&b).unwrap()["orderFulfillmentStatus"], "FULFILLED");
}

#[tokio::test]
async fn the_rate_limit_answers_429() {
    let mut config = EbayConfig::default();
    config.rate_limit = Some(RateLimit::new(3.0, 0.001));
    let emu = EbayEmulator::start(config).await.unwrap();
    let t = token(&emu).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get(&emu, &t, "/commerce/identity/v1/user/").await);
    }
    assert_eq!(statuses.iter().filter(|s| s.0 == StatusCode::OK).count(), 2, "the token call took one");
    assert_eq!(statuses[2].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(statuses[2].1["errors"][0]["errorId"], 2001);
    assert!(EbayConfig::default().rate_limit.is_some() && EbayConfig::fast().rate_limit.is_none());
}
