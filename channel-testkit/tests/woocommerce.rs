//! Behaviour of the WooCommerce REST v3 emulator.

mod common;

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use channel_core::webhook;
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RateLimit, RegisterWebhook, SeedProduct};
use common::{Receiver, client, decode_emulated, decode_fixture, fixture};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

// ---- Types shared by the fixtures and the emulator's answers. ----

#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum ManageStock {
    Flag(bool),
    Parent(String),
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct ProductWire {
    id: u64,
    sku: String,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    price: String,
    regular_price: String,
    sale_price: String,
    manage_stock: bool,
    stock_quantity: Option<i64>,
    stock_status: String,
    backorders: String,
    variations: Vec<u64>,
    date_modified_gmt: String,
    parent_id: u64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct VariationWire {
    id: u64,
    sku: String,
    price: String,
    regular_price: String,
    sale_price: String,
    manage_stock: ManageStock,
    stock_quantity: Option<i64>,
    stock_status: String,
    date_modified_gmt: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct LineItemWire {
    id: u64,
    product_id: u64,
    variation_id: u64,
    quantity: i64,
    sku: String,
    price: f64,
    total: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct OrderWire {
    id: u64,
    number: String,
    status: String,
    currency: String,
    date_created_gmt: String,
    date_modified_gmt: String,
    total: String,
    line_items: Vec<LineItemWire>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct BatchWire<T> {
    #[serde(default)]
    create: Vec<T>,
    #[serde(default)]
    update: Vec<T>,
    #[serde(default)]
    delete: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct WebhookWire {
    id: u64,
    name: String,
    status: String,
    topic: String,
    resource: String,
    event: String,
    delivery_url: String,
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().map(|map| map.keys().cloned().collect()).unwrap_or_default()
}

/// The emulator's document has exactly the documented fields.
fn same_keys(label: &str, documented: &Value, emulated: &Value) {
    let (documented, emulated) = (keys(documented), keys(emulated));
    assert_eq!(
        documented,
        emulated,
        "{label}: missing {:?}, extra {:?}",
        documented.difference(&emulated).collect::<Vec<_>>(),
        emulated.difference(&documented).collect::<Vec<_>>()
    );
}

// ---- Helpers. ----

async fn start(config: WooCommerceConfig) -> WooCommerceEmulator {
    WooCommerceEmulator::start(config).await.expect("emulator starts")
}

async fn started() -> WooCommerceEmulator {
    start(WooCommerceConfig::default()).await
}

fn seed(emulator: &WooCommerceEmulator, sku: &str, quantity: i64) -> u64 {
    let ids = emulator.seed_product(SeedProduct::new(sku, quantity, Decimal::new(1999, 2))).expect("seeded");
    ids["product_id"].as_u64().expect("product id")
}

fn wc(emulator: &WooCommerceEmulator, path: &str) -> String {
    format!("{}/wp-json/wc/v3{path}", emulator.base_url())
}

async fn call(emulator: &WooCommerceEmulator, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
    let mut request = client()
        .request(method, wc(emulator, path))
        .basic_auth(emulator.consumer_key(), Some(emulator.consumer_secret()));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

async fn get_json(emulator: &WooCommerceEmulator, path: &str) -> Value {
    let response = call(emulator, Method::GET, path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// An OAuth 1.0a signer written from RFC 5849 (independent of the emulator's verifier).
#[expect(clippy::too_many_arguments, reason = "a test helper mirroring the OAuth parameters")]
fn oauth_query(
    method: &str,
    url: &str,
    key: &str,
    secret: &str,
    extra: &[(&str, &str)],
    nonce: &str,
    timestamp: i64,
    sha: &str,
) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let timestamp = timestamp.to_string();
    let mut params: Vec<(String, String)> = extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    params.push(("oauth_consumer_key".into(), key.into()));
    params.push(("oauth_nonce".into(), nonce.into()));
    params.push(("oauth_signature_method".into(), sha.into()));
    params.push(("oauth_timestamp".into(), timestamp));
    let mut encoded: Vec<(String, String)> = params.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    encoded.sort();
    let normalized = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let base = format!("{method}&{}&{}", enc(url), enc(&normalized));
    let signing_key = format!("{}&", enc(secret));
    let signature = if sha == "HMAC-SHA1" {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(signing_key.as_bytes()).unwrap();
        mac.update(base.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    } else {
        BASE64.encode(webhook::hmac_sha256(signing_key.as_bytes(), base.as_bytes()))
    };
    format!("{normalized}&oauth_signature={}", enc(&signature))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

// ---- Tests. ----

#[tokio::test]
async fn credentials_basic_query_and_oauth() {
    let emulator = started().await;
    let url = wc(&emulator, "/products");
    let (key, secret) = (emulator.consumer_key().to_owned(), emulator.consumer_secret().to_owned());
    assert!(key.starts_with("ck_") && secret.starts_with("cs_"));

    let missing = client().get(&url).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "woocommerce_rest_cannot_view");
    assert_eq!(body["data"]["status"], 401);
    let wrong_key = client().get(&url).basic_auth("ck_wrong", Some(&secret)).send().await.unwrap();
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    let wrong_secret = client().get(&url).basic_auth(&key, Some("cs_wrong")).send().await.unwrap();
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(client().get(&url).basic_auth(&key, Some(&secret)).send().await.unwrap().status(), StatusCode::OK);
    let query = client().get(format!("{url}?consumer_key={key}&consumer_secret={secret}")).send().await.unwrap();
    assert_eq!(query.status(), StatusCode::OK);

    // OAuth 1.0a, signed over every query parameter, in the query string and in the header.
    let signed = oauth_query("GET", &url, &key, &secret, &[("per_page", "5")], "nonce-1", now(), "HMAC-SHA1");
    assert_eq!(client().get(format!("{url}?{signed}")).send().await.unwrap().status(), StatusCode::OK);
    let replay = client().get(format!("{url}?{signed}")).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED, "a nonce cannot be reused");
    let sha256 = oauth_query("GET", &url, &key, &secret, &[], "nonce-2", now(), "HMAC-SHA256");
    assert_eq!(client().get(format!("{url}?{sha256}")).send().await.unwrap().status(), StatusCode::OK);
    let tampered = oauth_query("GET", &url, &key, &secret, &[("per_page", "5")], "nonce-3", now(), "HMAC-SHA1")
        .replace("per_page=5", "per_page=6");
    assert_eq!(client().get(format!("{url}?{tampered}")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = oauth_query("GET", &url, &key, "cs_wrong", &[], "nonce-4", now(), "HMAC-SHA1");
    assert_eq!(client().get(format!("{url}?{wrong}")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let stale = oauth_query("GET", &url, &key, &secret, &[], "nonce-5", now() - 16 * 60, "HMAC-SHA1");
    assert_eq!(client().get(format!("{url}?{stale}")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let header_params = oauth_query("GET", &url, &key, &secret, &[], "nonce-6", now(), "HMAC-SHA1");
    let header = header_params
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let by_header = client().get(&url).header("Authorization", format!("OAuth {header}")).send().await.unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    let status = client().get(wc(&emulator, "/system_status")).basic_auth(&key, Some(&secret)).send().await.unwrap();
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["environment"]["home_url"], emulator.base_url());
}

#[tokio::test]
async fn products_page_to_the_end_with_wp_headers() {
    let emulator = started().await;
    for i in 0..25 {
        seed(&emulator, &format!("P-{i:02}"), i);
    }
    assert_eq!(call(&emulator, Method::GET, "/products?per_page=101", None).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        call(&emulator, Method::GET, "/products?per_page=10&page=4", None).await.status(),
        StatusCode::BAD_REQUEST
    );

    let mut next = Some(wc(&emulator, "/products?per_page=10&orderby=id&order=asc"));
    let mut skus = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        let response = client()
            .get(&url)
            .basic_auth(emulator.consumer_key(), Some(emulator.consumer_secret()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-wp-total"], "25");
        assert_eq!(response.headers()["x-wp-totalpages"], "3");
        next = response.headers().get("link").and_then(|link| {
            link.to_str()
                .unwrap()
                .split(", ")
                .find(|l| l.ends_with("rel=\"next\""))
                .map(|l| l[1..l.find('>').unwrap()].to_owned())
        });
        let page: Vec<ProductWire> = response.json().await.unwrap();
        skus.extend(page.into_iter().map(|p| p.sku));
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(skus, (0..25).map(|i| format!("P-{i:02}")).collect::<Vec<_>>());
    let by_sku: Vec<ProductWire> = serde_json::from_value(get_json(&emulator, "/products?sku=P-07").await).unwrap();
    assert_eq!(by_sku.len(), 1);
    assert_eq!(by_sku[0].stock_quantity, Some(7));
}

/// `include` ("Limit result set to specific ids") on the product and variation lists, as the REST API
/// documentation's List all products / List all product variations parameters describe it.
#[tokio::test]
async fn products_and_variations_filter_by_include() {
    let emulator = started().await;
    let ids: Vec<u64> = (0..5).map(|i| seed(&emulator, &format!("INC-{i}"), i)).collect();
    for size in ["S", "M", "L"] {
        emulator
            .seed_product(SeedProduct::new(format!("VAR-{size}"), 2, Decimal::from(9)).with("parent_sku", "VAR"))
            .unwrap();
    }
    let skus = |v: &Value| -> BTreeSet<String> {
        v.as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_owned()).collect()
    };
    let wanted = format!("{},{},999999", ids[1], ids[3]);
    let got = get_json(&emulator, &format!("/products?include={wanted}&per_page=100")).await;
    assert_eq!(skus(&got), BTreeSet::from(["INC-1".to_owned(), "INC-3".to_owned()]), "unknown ids are left out");
    let got = get_json(&emulator, &format!("/products?include[]={}&include[]={}", ids[0], ids[4])).await;
    assert_eq!(skus(&got), BTreeSet::from(["INC-0".to_owned(), "INC-4".to_owned()]));

    let (pid, small) = emulator.platform().ids("VAR-S").unwrap();
    let (_, large) = emulator.platform().ids("VAR-L").unwrap();
    let all = get_json(&emulator, &format!("/products/{pid}/variations")).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let got =
        get_json(&emulator, &format!("/products/{pid}/variations?include={small},{large},999999&per_page=100")).await;
    assert_eq!(skus(&got), BTreeSet::from(["VAR-L".to_owned(), "VAR-S".to_owned()]));
    let got = get_json(&emulator, &format!("/products/{}/variations?include={small}", ids[0])).await;
    assert!(got.as_array().unwrap().is_empty(), "another product's variation is not included");
}

#[tokio::test]
async fn documents_have_the_documented_shape() {
    let emulator = started().await;
    seed(&emulator, "SIMPLE", 3);
    emulator.seed_product(SeedProduct::new("TEE-S", 4, Decimal::from(9)).with("parent_sku", "TEE")).unwrap();
    let order = emulator.place_order(PlaceOrder::new("SIMPLE", 1)).unwrap();
    let receiver = Receiver::start().await;
    let hook = call(
        &emulator,
        Method::POST,
        "/webhooks",
        Some(&json!({"name": "Orders", "topic": "order.updated", "delivery_url": receiver.url})),
    )
    .await;
    assert_eq!(hook.status(), StatusCode::CREATED);
    let hook: Value = hook.json().await.unwrap();

    let products = get_json(&emulator, "/products?orderby=id&order=asc").await;
    let (pid, _) = emulator.platform().ids("TEE-S").unwrap();
    let variations = get_json(&emulator, &format!("/products/{pid}/variations")).await;
    let orders = get_json(&emulator, "/orders").await;
    let one_order = get_json(&emulator, &format!("/orders/{}", order.order_id)).await;
    for product in products.as_array().unwrap() {
        let _: ProductWire = decode_emulated(product);
    }
    let _: VariationWire = decode_emulated(&variations[0]);
    let _: OrderWire = decode_emulated(&one_order);
    let _: WebhookWire = decode_emulated(&hook);
    assert_eq!(orders.as_array().unwrap().len(), 1);

    let Some(path) = fixture("woocommerce", "product_retrieve.json") else { return };
    let documented: Value = decode_fixture(&path);
    let _: ProductWire = decode_emulated(&documented);
    same_keys("product", &documented, &products[0]);
    same_keys("variable product", &documented, &products[1]);
    if let Some(path) = fixture("woocommerce", "products_list.json") {
        let list: Vec<ProductWire> = decode_fixture(&path);
        assert!(!list.is_empty());
    }
    if let Some(path) = fixture("woocommerce", "product_variations_list.json") {
        let documented: Vec<Value> = decode_fixture(&path);
        let _: VariationWire = decode_emulated(&documented[0]);
        same_keys("variation", &documented[0], &variations[0]);
    }
    if let Some(path) = fixture("woocommerce", "order_retrieve.json") {
        let documented: Value = decode_fixture(&path);
        let _: OrderWire = decode_emulated(&documented);
        same_keys("order", &documented, &one_order);
        same_keys("line item", &documented["line_items"][0], &one_order["line_items"][0]);
        same_keys("billing", &documented["billing"], &one_order["billing"]);
    }
    if let Some(path) = fixture("woocommerce", "orders_list.json") {
        let list: Vec<OrderWire> = decode_fixture(&path);
        assert!(!list.is_empty());
    }
    if let Some(path) = fixture("woocommerce", "webhook_retrieve.json") {
        let documented: Value = decode_fixture(&path);
        let _: WebhookWire = decode_emulated(&documented);
        same_keys("webhook", &documented, &hook);
    }
    for name in ["products_batch_response.json", "product_variations_batch_response.json"] {
        if let Some(path) = fixture("woocommerce", name) {
            let _: BatchWire<Value> = decode_fixture(&path);
        }
    }
}

#[tokio::test]
async fn batch_updates_report_item_errors_inline() {
    let emulator = started().await;
    let a = seed(&emulator, "A", 1);
    let b = seed(&emulator, "B", 1);
    let too_many: Vec<Value> = (0..101).map(|_| json!({"id": a, "stock_quantity": 1})).collect();
    let refused = call(&emulator, Method::POST, "/products/batch", Some(&json!({"update": too_many}))).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let body = json!({"update": [
        {"id": a, "manage_stock": true, "stock_quantity": 40},
        {"id": 999_999, "stock_quantity": 1},
        {"id": b, "stock_quantity": "lots"},
        {"id": b, "sku": "A"},
    ]});
    let response = call(&emulator, Method::POST, "/products/batch", Some(&body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let result: Value = response.json().await.unwrap();
    let update = result["update"].as_array().unwrap();
    assert_eq!(update.len(), 4);
    let _: ProductWire = decode_emulated(&update[0]);
    assert_eq!(update[0]["stock_quantity"], 40);
    assert_eq!(update[1]["id"], 999_999);
    assert_eq!(update[1]["error"]["code"], "woocommerce_rest_product_invalid_id");
    assert_eq!(update[1]["error"]["data"]["status"], 400);
    assert_eq!(update[2]["error"]["code"], "rest_invalid_param");
    assert_eq!(update[3]["error"]["code"], "product_invalid_sku");
    assert_eq!(emulator.stock("A").unwrap(), Some(40));
    assert_eq!(emulator.stock("B").unwrap(), Some(1));
    let renamed = call(&emulator, Method::PUT, &format!("/products/{b}"), Some(&json!({"sku": "B2"}))).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(emulator.stock("B2").unwrap(), Some(1));
    assert!(emulator.stock("B").is_err(), "the old SKU is free");
    assert_eq!(get_json(&emulator, "/products?sku=B").await.as_array().unwrap().len(), 0);

    let ids = emulator.seed_product(SeedProduct::new("TEE-M", 2, Decimal::from(9)).with("parent_sku", "TEE")).unwrap();
    let (pid, vid) = (ids["product_id"].as_u64().unwrap(), ids["variation_id"].as_u64().unwrap());
    let body = json!({"update": [{"id": vid, "stock_quantity": 12, "regular_price": "11.50"}, {"id": 1, "stock_quantity": 3}]});
    let result: Value = call(&emulator, Method::POST, &format!("/products/{pid}/variations/batch"), Some(&body))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["update"][0]["stock_quantity"], 12);
    assert_eq!(result["update"][0]["price"], "11.50");
    assert!(result["update"][1]["error"].is_object());
    assert_eq!(emulator.stock("TEE-M").unwrap(), Some(12));
    let single =
        call(&emulator, Method::PUT, &format!("/products/{pid}/variations/{vid}"), Some(&json!({"stock_quantity": 5})))
            .await;
    assert_eq!(single.status(), StatusCode::OK);
    assert_eq!(emulator.stock("TEE-M").unwrap(), Some(5));
    let price_as_number =
        call(&emulator, Method::PUT, &format!("/products/{a}"), Some(&json!({"regular_price": 12.5}))).await;
    assert_eq!(price_as_number.status(), StatusCode::BAD_REQUEST, "prices are strings");
}

#[tokio::test]
async fn orders_move_stock_and_filter_by_modified_after() {
    let emulator = started().await;
    let product = seed(&emulator, "MUG", 10);
    emulator
        .seed_product(
            SeedProduct::new("TEE-L", 6, Decimal::from(9)).with("parent_sku", "TEE").with("manage_stock", "parent"),
        )
        .unwrap();
    let first = emulator.place_order(PlaceOrder::new("MUG", 3)).unwrap();
    assert_eq!(emulator.stock("MUG").unwrap(), Some(7));
    let tee = emulator.place_order(PlaceOrder::new("TEE-L", 2)).unwrap();
    assert_eq!(emulator.stock("TEE-L").unwrap(), Some(4), "a parent-managed variation moves the parent's stock");
    let (tee_parent, _) = emulator.platform().ids("TEE").unwrap();
    let parent = get_json(&emulator, &format!("/products/{tee_parent}")).await;
    assert_eq!(parent["stock_quantity"], 4);
    let (_, tee_variation) = emulator.platform().ids("TEE-L").unwrap();
    let variation = get_json(&emulator, &format!("/products/{tee_parent}/variations/{tee_variation}")).await;
    assert_eq!(variation["manage_stock"], "parent");
    assert!(emulator.place_order(PlaceOrder::new("MUG", 8)).is_err(), "no backorders: cannot oversell");

    let cancelled =
        call(&emulator, Method::PUT, &format!("/orders/{}", first.order_id), Some(&json!({"status": "cancelled"})))
            .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(emulator.stock("MUG").unwrap(), Some(10), "cancelling restores stock");
    let order: OrderWire = decode_emulated(&get_json(&emulator, &format!("/orders/{}", first.order_id)).await);
    assert_eq!(order.status, "cancelled");
    assert_eq!(order.line_items[0].product_id, product);
    emulator.cancel_order(&tee.order_id).unwrap();
    assert_eq!(emulator.stock("TEE-L").unwrap(), Some(6));
    assert!(emulator.cancel_order(&tee.order_id).is_err());

    let all = get_json(&emulator, "/orders").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let future = get_json(&emulator, "/orders?modified_after=2999-01-01T00:00:00&dates_are_gmt=true").await;
    assert_eq!(future.as_array().unwrap().len(), 0);
    let past = get_json(&emulator, "/orders?modified_after=2001-01-01T00:00:00Z").await;
    assert_eq!(past.as_array().unwrap().len(), 2);
    // modified_after is strict, at second resolution.
    let modified = order.date_modified_gmt.clone();
    let at: jiff::civil::DateTime = modified.parse().unwrap();
    let before = at.checked_sub(jiff::Span::new().seconds(1)).unwrap();
    let same = get_json(&emulator, &format!("/orders?modified_after={modified}&include={}", first.order_id)).await;
    assert_eq!(same.as_array().unwrap().len(), 0, "not modified after its own modification time");
    let earlier = get_json(&emulator, &format!("/orders?modified_after={before}&include={}", first.order_id)).await;
    assert_eq!(earlier.as_array().unwrap().len(), 1);
    let processing = get_json(&emulator, "/orders?status=processing").await;
    assert_eq!(processing.as_array().unwrap().len(), 0);

    let note = call(
        &emulator,
        Method::POST,
        &format!("/orders/{}/notes", first.order_id),
        Some(&json!({"note": "Shipped via sync"})),
    )
    .await;
    assert_eq!(note.status(), StatusCode::CREATED);
    assert!(emulator.platform().order_notes(first.order_id.parse().unwrap()).contains(&"Shipped via sync".to_owned()));
    let notes = get_json(&emulator, &format!("/orders/{}/notes", first.order_id)).await;
    assert_eq!(notes[0]["note"], "Shipped via sync");

    let tracking_url =
        format!("{}/wp-json/wc-shipment-tracking/v3/orders/{}/shipment-trackings", emulator.base_url(), first.order_id);
    let tracked = client()
        .post(&tracking_url)
        .basic_auth(emulator.consumer_key(), Some(emulator.consumer_secret()))
        .json(&json!({"tracking_provider": "Courier Guy", "tracking_number": "TCG123", "date_shipped": "2026-11-20"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tracked.status(), StatusCode::CREATED);
    assert_eq!(emulator.platform().tracking_numbers(first.order_id.parse().unwrap()), ["TCG123"]);

    let mut config = WooCommerceConfig::default();
    config.shipment_tracking = false;
    let without = start(config).await;
    let url = format!("{}/wp-json/wc-shipment-tracking/v3/orders/1/shipment-trackings", without.base_url());
    let missing =
        client().get(url).basic_auth(without.consumer_key(), Some(without.consumer_secret())).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn webhooks_are_signed_and_pinged() {
    let emulator = started().await;
    let receiver = Receiver::start().await;
    // WooCommerce decodes HTML entities in the secret before signing.
    emulator.register_webhook(RegisterWebhook::new(&receiver.url, "s&amp;cret")).unwrap();
    let product = seed(&emulator, "HOOK", 5);
    emulator.place_order(PlaceOrder::new("HOOK", 2)).unwrap();
    let updated =
        call(&emulator, Method::PUT, &format!("/products/{product}"), Some(&json!({"stock_quantity": 9}))).await;
    assert_eq!(updated.status(), StatusCode::OK);
    emulator.webhooks_idle().await;

    let all = receiver.received();
    assert_eq!(String::from_utf8_lossy(&all[0].body), "webhook_id=1");
    assert_eq!(all[0].header("content-type"), "application/x-www-form-urlencoded");
    assert!(all[0].header("x-wc-webhook-signature").is_empty(), "the ping is unsigned");
    let topics: Vec<String> = all[1..].iter().map(|d| d.header("x-wc-webhook-topic")).collect();
    assert_eq!(topics, ["order.created", "product.updated", "product.updated"]);
    for delivery in &all[1..] {
        let signature = delivery.header("x-wc-webhook-signature");
        assert!(webhook::verify_base64(b"s&cret", &delivery.body, &signature));
        assert!(!webhook::verify_base64(b"s&amp;cret", &delivery.body, &signature));
        assert_eq!(delivery.header("x-wc-webhook-source"), format!("{}/", emulator.base_url()));
        assert!(!delivery.header("x-wc-webhook-delivery-id").is_empty());
        assert_eq!(delivery.header("x-wc-webhook-id"), "1");
    }
    assert_eq!(all[1].header("x-wc-webhook-resource"), "order");
    assert_eq!(all[1].header("x-wc-webhook-event"), "created");
    let order: OrderWire = decode_emulated(&all[1].json());
    assert_eq!(order.line_items[0].quantity, 2);
    let product_body: ProductWire = decode_emulated(&all[3].json());
    assert_eq!(product_body.stock_quantity, Some(9));

    // A webhook created over REST gets only its topic.
    let only_orders = Receiver::start().await;
    let created = call(
        &emulator,
        Method::POST,
        "/webhooks",
        Some(&json!({"topic": "order.updated", "delivery_url": only_orders.url, "secret": "x"})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let order = emulator.place_order(PlaceOrder::new("HOOK", 1)).unwrap();
    emulator.cancel_order(&order.order_id).unwrap();
    emulator.webhooks_idle().await;
    let got: Vec<String> = only_orders.received().iter().map(|d| d.header("x-wc-webhook-topic")).collect();
    assert_eq!(got, ["", "order.updated"], "ping, then only order.updated");
}

#[tokio::test]
async fn every_fault_kind_and_rate_limit() {
    let emulator = started().await;
    let a = seed(&emulator, "A", 1);
    let b = seed(&emulator, "B", 1);
    let faults = format!("{}/_sandbox/faults", emulator.base_url());
    let inject = |body: Value| client().post(&faults).json(&body).send();

    inject(json!({"kind": "status", "status": 500})).await.unwrap();
    assert_eq!(call(&emulator, Method::GET, "/products", None).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
    inject(json!({"kind": "delay", "delay_ms": 1})).await.unwrap();
    assert_eq!(call(&emulator, Method::GET, "/products", None).await.status(), StatusCode::OK);
    inject(json!({"kind": "drop", "path": "/wp-json/wc/v3/orders"})).await.unwrap();
    assert_eq!(call(&emulator, Method::GET, "/products", None).await.status(), StatusCode::OK, "path filter");
    let dropped = client()
        .get(wc(&emulator, "/orders"))
        .basic_auth(emulator.consumer_key(), Some(emulator.consumer_secret()))
        .send()
        .await;
    assert!(dropped.is_err());
    inject(json!({"kind": "malformed"})).await.unwrap();
    let malformed = call(&emulator, Method::GET, "/products", None).await;
    assert_eq!(malformed.status(), StatusCode::OK);
    assert!(malformed.json::<Value>().await.is_err());

    inject(json!({"kind": "partial_batch"})).await.unwrap();
    let body = json!({"update": [{"id": a, "stock_quantity": 5}, {"id": b, "stock_quantity": 6}]});
    let result: Value = call(&emulator, Method::POST, "/products/batch", Some(&body)).await.json().await.unwrap();
    assert_eq!(result["update"][0]["stock_quantity"], 5);
    assert_eq!(result["update"][1]["id"], b);
    assert_eq!(result["update"][1]["error"]["data"]["status"], 500);
    assert_eq!(emulator.stock("B").unwrap(), Some(1));

    let mut config = WooCommerceConfig::default();
    config.rate_limit = Some(RateLimit::new(1.0, 0.001));
    let limited = start(config).await;
    assert_eq!(call(&limited, Method::GET, "/products", None).await.status(), StatusCode::OK);
    let throttled = call(&limited, Method::GET, "/products", None).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn sandbox_control_surface_over_http() {
    let emulator = started().await;
    let base = emulator.base_url().to_owned();
    let http = client();
    let seeded = http
        .post(format!("{base}/_sandbox/products"))
        .json(&json!({"sku": "S-1", "quantity": 4, "price": 19.99}))
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let product = emulator.platform().product_json("S-1").unwrap();
    assert_eq!(product["regular_price"], "19.99");
    let stock: Value = http.get(format!("{base}/_sandbox/stock/S-1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stock, json!({"sku": "S-1", "quantity": 4}));
    let placed: Value = http
        .post(format!("{base}/_sandbox/orders"))
        .json(&json!({"sku": "S-1", "quantity": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(emulator.stock("S-1").unwrap(), Some(3));
    let order_id = placed["order_id"].as_str().unwrap();
    assert_eq!(
        http.post(format!("{base}/_sandbox/orders/{order_id}/cancel")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(emulator.stock("S-1").unwrap(), Some(4));
    let oversell =
        http.post(format!("{base}/_sandbox/orders")).json(&json!({"sku": "S-1", "quantity": 99})).send().await.unwrap();
    assert_eq!(oversell.status(), StatusCode::CONFLICT);

    let key = emulator.consumer_key().to_owned();
    let secret = emulator.consumer_secret().to_owned();
    http.get(format!("{base}/wp-json/wc/v3/products?consumer_key={key}&consumer_secret={secret}"))
        .send()
        .await
        .unwrap();
    let log: Vec<Value> = http.get(format!("{base}/_sandbox/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["query"], "consumer_key=******&consumer_secret=******");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&secret) && !text.contains(&key));
    let info = emulator.info();
    assert_eq!(info["consumer_key"], key);
    let index: Value = http.get(format!("{base}/wp-json/")).send().await.unwrap().json().await.unwrap();
    assert!(index["namespaces"].as_array().unwrap().contains(&json!("wc/v3")));
}

// ---- Issue 14: what WooCommerce and the Shipment Tracking extension answer, from their source. ----

#[tokio::test]
async fn a_server_that_strips_authorization_leaves_only_query_keys() {
    let mut config = WooCommerceConfig::default();
    config.strip_authorization = true;
    let emulator = start(config).await;
    let (key, secret) = (emulator.consumer_key().to_owned(), emulator.consumer_secret().to_owned());
    // `WC_REST_Authentication` never sees the header: the request is anonymous and the route refuses it.
    let list = client().get(wc(&emulator, "/products")).basic_auth(&key, Some(&secret)).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::UNAUTHORIZED);
    let body: Value = list.json().await.unwrap();
    assert_eq!(
        body,
        json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}})
    );
    let batch = client()
        .post(wc(&emulator, "/products/batch"))
        .basic_auth(&key, Some(&secret))
        .json(&json!({"update": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), StatusCode::UNAUTHORIZED);
    let body: Value = batch.json().await.unwrap();
    assert_eq!(body["code"], "woocommerce_rest_cannot_batch");
    let edit = client().put(wc(&emulator, "/orders/1")).basic_auth(&key, Some(&secret)).json(&json!({})).send();
    let body: Value = edit.await.unwrap().json().await.unwrap();
    assert_eq!(body["code"], "woocommerce_rest_cannot_edit");
    // The documented workaround: the keys as query-string parameters.
    let query = format!("{}?consumer_key={key}&consumer_secret={secret}", wc(&emulator, "/data/currencies/current"));
    assert_eq!(client().get(query).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_basic_secret_names_itself_and_an_unknown_key_is_anonymous() {
    let emulator = started().await;
    let url = wc(&emulator, "/products");
    let wrong_secret = client().get(&url).basic_auth(emulator.consumer_key(), Some("cs_wrong")).send().await.unwrap();
    let body: Value = wrong_secret.json().await.unwrap();
    assert_eq!(body["code"], "woocommerce_rest_authentication_error");
    assert_eq!(body["message"], "Consumer secret is invalid.");
    let unknown = client().get(&url).basic_auth("ck_unknown", Some("cs_any")).send().await.unwrap();
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], "woocommerce_rest_cannot_view");
}

#[tokio::test]
async fn current_currency_has_the_documented_shape() {
    let emulator = started().await;
    let current = get_json(&emulator, "/data/currencies/current").await;
    // `_data.md`, "Retrieve current currency": `{code, name, symbol, _links{self, collection}}`.
    assert_eq!(current["code"], "ZAR");
    assert!(current["name"].is_string() && current["symbol"].is_string(), "{current}");
    let documented = json!({"code": "USD", "name": "United States (US) dollar", "symbol": "&#36;", "_links": {
        "self": [{"href": "https://example.com/wp-json/wc/v3/data/currencies/USD"}],
        "collection": [{"href": "https://example.com/wp-json/wc/v3/data/currencies"}]}});
    same_keys("current currency", &documented, &current);
    assert!(current["_links"]["self"][0]["href"].as_str().unwrap().ends_with("/wp-json/wc/v3/data/currencies/ZAR"));
}

#[tokio::test]
async fn shipment_tracking_resolves_providers_as_the_extension_does() {
    let emulator = started().await;
    seed(&emulator, "MUG", 5);
    let order: u64 = emulator.place_order(PlaceOrder::new("MUG", 1)).unwrap().order_id.parse().unwrap();
    let url = format!("{}/wp-json/wc-shipment-tracking/v3/orders/{order}/shipment-trackings", emulator.base_url());
    let post = |body: Value| {
        client().post(&url).basic_auth(emulator.consumer_key(), Some(emulator.consumer_secret())).json(&body).send()
    };
    // A provider of `get_providers()`, matched by `sanitize_title`: shown with its name and link.
    let known = post(json!({"tracking_provider": "fedex", "tracking_number": "77", "date_shipped": "2026-11-02"}));
    let known = known.await.unwrap();
    assert_eq!(known.status(), StatusCode::CREATED);
    let known: Value = known.json().await.unwrap();
    assert_eq!(known["tracking_provider"], "Fedex");
    assert_eq!(
        known["tracking_link"],
        "https://www.fedex.com/apps/fedextrack/?action=track&action=track&tracknumbers=77"
    );
    assert_eq!(known["date_shipped"], "2026-11-02");
    // Not one of them: accepted, but shown with no provider and no link.
    let unknown: Value = post(json!({"tracking_provider": "The Courier Guy", "tracking_number": "78"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((unknown["tracking_provider"].as_str(), unknown["tracking_link"].as_str()), (Some(""), Some("")));
    // A custom provider: shown as given.
    let custom = json!({"custom_tracking_provider": "The Courier Guy", "custom_tracking_link": "https://tcg.example/79", "tracking_number": "79"});
    let custom: Value = post(custom).await.unwrap().json().await.unwrap();
    assert_eq!(custom["tracking_provider"], "The Courier Guy");
    assert_eq!(custom["tracking_link"], "https://tcg.example/79");
    // A custom link template: "Shipment Tracking replaces that placeholder when it formats the link".
    let custom = json!({"custom_tracking_provider": "The Courier Guy", "custom_tracking_link": "https://tcg.example/t/%1$s", "tracking_number": "80"});
    let custom: Value = post(custom).await.unwrap().json().await.unwrap();
    assert_eq!(custom["tracking_link"], "https://tcg.example/t/80");
    let missing = post(json!({"tracking_provider": "UPS"})).await.unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(emulator.platform().trackings(order).len(), 4);
    let providers: Value = client()
        .get(format!("{url}/providers"))
        .basic_auth(emulator.consumer_key(), Some(emulator.consumer_secret()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(providers["South African"]["SAPO"].as_str().unwrap().contains("%1$s"));
    assert!(providers["United States"]["USPS"].is_string());
}

#[tokio::test]
async fn batch_answers_have_the_documented_keys() {
    let emulator = started().await;
    let a = seed(&emulator, "BA", 1);
    let answer: Value =
        call(&emulator, Method::POST, "/products/batch", Some(&json!({"update": [{"id": a, "stock_quantity": 2}]})))
            .await
            .json()
            .await
            .unwrap();
    let ids = emulator.seed_product(SeedProduct::new("BV-S", 2, Decimal::from(9)).with("parent_sku", "BV")).unwrap();
    let (pid, vid) = (ids["product_id"].as_u64().unwrap(), ids["variation_id"].as_u64().unwrap());
    let body = json!({"update": [{"id": vid, "stock_quantity": 3}]});
    let variations: Value = call(&emulator, Method::POST, &format!("/products/{pid}/variations/batch"), Some(&body))
        .await
        .json()
        .await
        .unwrap();
    for (name, emulated) in
        [("products_batch_response.json", &answer), ("product_variations_batch_response.json", &variations)]
    {
        let Some(path) = fixture("woocommerce", name) else { continue };
        let documented: Value = decode_fixture(&path);
        same_keys(name, &documented["update"][0], &emulated["update"][0]);
    }
}

/// "The providers endpoint is public and does not require order permissions. [...] Send a GET request to
/// /wp-json/wc-shipment-tracking/v3/shipment-trackings/providers" (woocommerce.com, "List Shipment
/// Tracking providers with the REST API"), whose example shows a `Global` group with Aramex.
#[tokio::test]
async fn the_providers_endpoint_is_public_at_the_documented_path() {
    let emulator = started().await;
    let base = format!("{}/wp-json/wc-shipment-tracking/v3", emulator.base_url());
    for url in [format!("{base}/shipment-trackings/providers"), format!("{base}/orders/1/shipment-trackings/providers")]
    {
        let answer = client().get(&url).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{url}");
        let providers: Value = answer.json().await.unwrap();
        assert_eq!(providers["Global"]["Aramex"], "https://www.aramex.com/track/track-results-new?ShipmentNumber=%1$s");
    }
    // The order routes still check permissions.
    let list = client().get(format!("{base}/orders/1/shipment-trackings")).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::UNAUTHORIZED);
}

/// WordPress matches the route before the route's permission check runs: a route that does not exist is
/// `404 rest_no_route` for an anonymous request too.
#[tokio::test]
async fn an_anonymous_request_to_a_missing_route_is_rest_no_route() {
    let emulator = started().await;
    let answer = client().get(wc(&emulator, "/no-such-thing")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "rest_no_route");
    let known = client().get(wc(&emulator, "/products")).send().await.unwrap();
    assert_eq!(known.status(), StatusCode::UNAUTHORIZED);
}
