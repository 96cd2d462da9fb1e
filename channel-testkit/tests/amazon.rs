//! Behaviour of the Amazon SP-API emulator, over HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use channel_testkit::amazon::{AmazonConfig, AmazonEmulator, AmazonRateLimits};
use channel_testkit::{Fault, PlaceOrder, RateLimit, RegisterWebhook, SeedProduct};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

// ---- helpers ------------------------------------------------------------------------------------------------

fn data(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/amazon").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn fixture(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/amazon").join(name);
    if path.exists() {
        Some(path)
    } else {
        println!("skipped: {} not found", path.display());
        None
    }
}

fn read_fixture(name: &str) -> Option<Value> {
    fixture(name).map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

/// The 200 example of `method path` in an SP-API model.
fn model_example(model: &Value, path: &str, method: &str) -> Value {
    let ok = &model["paths"][path][method]["responses"]["200"];
    let example = ok["x-amzn-api-sandbox"]["static"][0]["response"].clone();
    if example.is_null() { ok["examples"]["application/json"].clone() } else { example }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn new(emulator: &AmazonEmulator) -> Self {
        let token = exchange(emulator, emulator.client_id(), emulator.client_secret(), emulator.refresh_token()).await;
        let token = token.1["access_token"].as_str().unwrap().to_owned();
        Self { http: reqwest::Client::new(), base: emulator.base_url().to_owned(), token }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request =
            self.http.request(method, format!("{}{path}", self.base)).header("x-amz-access-token", &self.token);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, body, _) = self.call(Method::GET, path, None).await;
        (status, body)
    }
}

async fn exchange(emulator: &AmazonEmulator, id: &str, secret: &str, refresh: &str) -> (StatusCode, Value) {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh)
        .append_pair("client_id", id)
        .append_pair("client_secret", secret)
        .finish();
    let response = reqwest::Client::new()
        .post(emulator.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null))
}

async fn start(config: AmazonConfig) -> (AmazonEmulator, Client) {
    let emulator = AmazonEmulator::start(config).await.unwrap();
    let client = Client::new(&emulator).await;
    (emulator, client)
}

fn seed(emulator: &AmazonEmulator, sku: &str, quantity: i64) {
    emulator.seed_product(SeedProduct::new(sku, quantity, Decimal::new(1999, 2))).unwrap();
}

fn item_path(emulator: &AmazonEmulator, sku: &str) -> String {
    format!("/listings/2021-08-01/items/{}/{sku}?marketplaceIds={}", emulator.seller_id(), emulator.marketplace_id())
}

fn quantity_patch(code: &str, quantity: i64) -> Value {
    json!({"productType": "PRODUCT", "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": code, "quantity": quantity}]}]})
}

/// `ListingsItemSubmissionResponse`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    sku: String,
    status: String,
    #[serde(rename = "submissionId")]
    submission_id: String,
    issues: Vec<Issue>,
    #[serde(default)]
    identifiers: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Issue {
    code: String,
    message: String,
    severity: String,
    #[serde(rename = "attributeNames", default)]
    attribute_names: Vec<String>,
}

/// Errors (`{"errors": [...]}`).
#[derive(Debug, Deserialize)]
struct ErrorList {
    errors: Vec<SpError>,
}

#[derive(Debug, Deserialize)]
struct SpError {
    code: String,
    message: String,
    #[serde(default)]
    details: Option<String>,
}

// ---- tests --------------------------------------------------------------------------------------------------

#[tokio::test]
async fn lwa_exchange_and_token_expiry() {
    let mut config = AmazonConfig::fast();
    config.token_lifetime = Duration::from_secs(120);
    let emulator = AmazonEmulator::start(config).await.unwrap();
    let (status, body) = exchange(&emulator, "wrong", emulator.client_secret(), emulator.refresh_token()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = exchange(&emulator, emulator.client_id(), emulator.client_secret(), "Atzr|wrong").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, body) =
        exchange(&emulator, emulator.client_id(), emulator.client_secret(), emulator.refresh_token()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("bearer"), Some(120)));
    assert!(body["access_token"].as_str().unwrap().starts_with("Atza|"));

    let client = Client::new(&emulator).await;
    let path = "/sellers/v1/marketplaceParticipations";
    let (status, body) = client.get(path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["payload"][0]["marketplace"]["id"], "ATVPDKIKX0DER");
    let missing = reqwest::get(format!("{}{path}", emulator.base_url())).await.unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let errors: ErrorList = serde_json::from_slice(&missing.bytes().await.unwrap()).unwrap();
    assert_eq!(errors.errors[0].code, "Unauthorized");
    let forged = Client { token: "Atza|forged".into(), http: reqwest::Client::new(), base: emulator.base_url().into() };
    assert_eq!(forged.get(path).await.0, StatusCode::FORBIDDEN);
    emulator.platform().expire_access_tokens();
    let (status, body) = client.get(path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let errors: ErrorList = serde_json::from_value(body).unwrap();
    assert!(errors.errors[0].details.as_deref().unwrap().contains("expired"), "{:?}", errors.errors[0].message);
    let renewed = Client::new(&emulator).await;
    assert_eq!(renewed.get(path).await.0, StatusCode::OK);
    // The log never shows the token or secrets.
    assert!(emulator.requests().iter().all(|r| r.headers.get("x-amz-access-token").is_none_or(|v| v == "******")));
}

#[tokio::test]
async fn listings_get_and_patch_with_fba_read_only() {
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "MFN-1", 5);
    emulator.seed_product(SeedProduct::new("FBA-1", 40, Decimal::new(2500, 2)).with("fulfilment", "channel")).unwrap();
    let (status, body) = client
        .get(&format!(
            "{}&includedData=summaries,attributes,fulfillmentAvailability,offers",
            item_path(&emulator, "MFN-1")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["fulfillmentAvailability"], json!([{"fulfillmentChannelCode": "DEFAULT", "quantity": 5}]));
    assert_eq!(body["attributes"]["fulfillment_availability"][0]["quantity"], 5);
    assert_eq!(body["offers"][0]["price"], json!({"currencyCode": "USD", "amount": "19.99"}));
    assert_eq!(body["summaries"][0]["status"], json!(["BUYABLE", "DISCOVERABLE"]));
    let (status, _) = client.get(&item_path(&emulator, "NOPE")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = client.get(&format!("/listings/2021-08-01/items/{}/MFN-1", emulator.seller_id())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "marketplaceIds is required");

    // Merchant quantity: accepted and applied.
    let (status, body, _) =
        client.call(Method::PATCH, &item_path(&emulator, "MFN-1"), Some(&quantity_patch("DEFAULT", 12))).await;
    assert_eq!(status, StatusCode::OK);
    let submission: Submission = serde_json::from_value(body).unwrap();
    assert_eq!((submission.sku.as_str(), submission.status.as_str()), ("MFN-1", "ACCEPTED"));
    assert!(submission.issues.is_empty() && !submission.submission_id.is_empty() && submission.identifiers.is_none());
    assert_eq!(emulator.stock("MFN-1").unwrap(), Some(12));
    // FBA quantity is read-only, and an FBA listing has no merchant quantity.
    for (sku, code) in [("MFN-1", "AMAZON_NA"), ("FBA-1", "DEFAULT")] {
        let (_, body, _) = client.call(Method::PATCH, &item_path(&emulator, sku), Some(&quantity_patch(code, 3))).await;
        let submission: Submission = serde_json::from_value(body).unwrap();
        assert_eq!(submission.status, "INVALID");
        assert_eq!(submission.issues[0].severity, "ERROR");
        assert_eq!(submission.issues[0].attribute_names, ["fulfillment_availability"]);
        assert!(!submission.issues[0].message.is_empty() && !submission.issues[0].code.is_empty());
    }
    assert_eq!((emulator.stock("MFN-1").unwrap(), emulator.platform().fba_quantity("FBA-1")), (Some(12), Some(40)));
    assert_eq!(emulator.stock("FBA-1").unwrap(), None);
    // Prices in the marketplace currency only; a bad patch changes nothing, even with a good one beside it.
    let price = |currency: &str, value: f64| {
        json!({"op": "replace", "path": "/attributes/purchasable_offer", "value": [{"marketplace_id": "ATVPDKIKX0DER",
            "currency": currency, "our_price": [{"schedule": [{"value_with_tax": value}]}]}]})
    };
    let mixed =
        json!({"productType": "PRODUCT", "patches": [price("EUR", 9.5), quantity_patch("DEFAULT", 1)["patches"][0]]});
    let (_, body, _) = client.call(Method::PATCH, &item_path(&emulator, "MFN-1"), Some(&mixed)).await;
    assert_eq!(body["status"], "INVALID");
    assert_eq!(emulator.stock("MFN-1").unwrap(), Some(12));
    let good = json!({"productType": "PRODUCT", "patches": [price("USD", 24.5)]});
    let (_, body, _) = client
        .call(Method::PATCH, &format!("{}&mode=VALIDATION_PREVIEW", item_path(&emulator, "MFN-1")), Some(&good))
        .await;
    assert_eq!(body["status"], "VALID");
    assert_eq!(emulator.platform().price("MFN-1"), Some(Decimal::new(1999, 2)));
    let (_, body, _) = client.call(Method::PATCH, &item_path(&emulator, "MFN-1"), Some(&good)).await;
    assert_eq!(body["status"], "ACCEPTED");
    assert_eq!(emulator.platform().price("MFN-1"), Some(Decimal::new(245, 1)));
    // The model's example decodes into the same type.
    if let Some(model) = read_fixture("listingsItems_2021-08-01.json") {
        let example: Submission =
            serde_json::from_value(model_example(&model, "/listings/2021-08-01/items/{sellerId}/{sku}", "patch"))
                .unwrap();
        assert_eq!(example.status, "ACCEPTED");
    }
}

#[tokio::test]
async fn a_patch_of_an_unknown_sku_creates_an_offer_only_listing() {
    // listingsItems_2021-08-01.json lists no 404 for patchListingsItem (200, 400, 403, 413, 415, 429, 500,
    // 503), and Amazon calls accepting a price for a SKU it does not know "expected behavior" (the offer
    // part of a listing; amzn/selling-partner-api-models#2797).
    let (emulator, client) = start(AmazonConfig::fast()).await;
    let offer = json!({"productType": "PRODUCT", "patches": [{"op": "merge", "path": "/attributes/purchasable_offer",
        "value": [{"marketplace_id": "ATVPDKIKX0DER", "currency": "USD", "audience": "ALL",
                   "our_price": [{"schedule": [{"value_with_tax": 7.5}]}]}]}]});
    // A validation preview and an invalid patch create nothing.
    let (status, body, _) = client
        .call(Method::PATCH, &format!("{}&mode=VALIDATION_PREVIEW", item_path(&emulator, "NEW-1")), Some(&offer))
        .await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("VALID")), "{body}");
    let (_, body, _) =
        client.call(Method::PATCH, &item_path(&emulator, "NEW-1"), Some(&quantity_patch("AMAZON_NA", 1))).await;
    assert_eq!(body["status"], "INVALID", "{body}");
    let (status, _) = client.get(&item_path(&emulator, "NEW-1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body, _) = client.call(Method::PATCH, &item_path(&emulator, "NEW-1"), Some(&offer)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["sku"].as_str(), body["status"].as_str()), (Some("NEW-1"), Some("ACCEPTED")));
    assert_eq!(emulator.platform().price("NEW-1"), Some(Decimal::new(75, 1)));
    let (status, body) = client.get(&format!("{}&includedData=offers", item_path(&emulator, "NEW-1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["offers"][0]["price"]["currencyCode"], "USD", "{body}");
    let amount: Decimal = body["offers"][0]["price"]["amount"].as_str().unwrap().parse().unwrap();
    assert_eq!(amount, Decimal::new(75, 1));
    // The same through a JSON_LISTINGS_FEED PATCH message (#4402: accepted for a SKU that does not exist).
    let feed = json!({"header": {"sellerId": emulator.seller_id(), "version": "2.0"}, "messages": [{
        "messageId": 1, "sku": "NEW-2", "operationType": "PATCH", "productType": "PRODUCT",
        "patches": offer["patches"].clone()}]});
    let (_, report) = submit_feed(&client, &feed, "application/json").await;
    assert_eq!(report["summary"]["messagesAccepted"], 1, "{report}");
    assert_eq!(emulator.platform().price("NEW-2"), Some(Decimal::new(75, 1)));
}

#[tokio::test]
async fn search_pages_to_the_end_and_stops_at_the_cap() {
    let mut config = AmazonConfig::fast();
    config.max_search_results = 30;
    let (emulator, client) = start(config).await;
    for i in 0..45 {
        seed(&emulator, &format!("S-{i:02}"), i);
    }
    let base = format!(
        "/listings/2021-08-01/items/{}?marketplaceIds=ATVPDKIKX0DER&sortBy=sku&sortOrder=ASC&includedData=fulfillmentAvailability",
        emulator.seller_id()
    );
    let (status, _) = client.get(&format!("{base}&pageSize=21")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut seen = Vec::new();
    let mut path = format!("{base}&pageSize=20");
    loop {
        let (status, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["numberOfResults"], 45);
        for item in body["items"].as_array().unwrap() {
            seen.push(item["sku"].as_str().unwrap().to_owned());
            assert!(item["fulfillmentAvailability"][0]["quantity"].is_i64());
        }
        match body["pagination"]["nextToken"].as_str() {
            Some(token) => path = format!("{base}&pageSize=20&pageToken={token}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..30).map(|i| format!("S-{i:02}")).collect::<Vec<_>>(),
        "only the first 30 can be paged through"
    );
    let (_, body) = client.get(&format!("{base}&identifiers=S-07,S-44&identifiersType=SKU")).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn searches_outside_the_model_are_400_invalid_input() {
    // listingsItems_2021-08-01.json, searchListingsItems: `identifiers` maxItems 20; `sortBy` enum sku,
    // createdDate, lastUpdatedDate; `sortOrder` enum ASC, DESC; `includedData` enum summaries, attributes,
    // issues, offers, fulfillmentAvailability, procurement, relationships, productTypes (getListingsItem
    // the same); 400 answers an `ErrorList`.
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "S-01", 1);
    let base = format!("/listings/2021-08-01/items/{}?marketplaceIds=ATVPDKIKX0DER", emulator.seller_id());
    let skus: Vec<String> = (0..21).map(|i| format!("S-{i:02}")).collect();
    let model = read_fixture("listingsItems_2021-08-01.json");
    for query in [
        format!("identifiers={}&identifiersType=SKU", skus.join(",")),
        "sortBy=price".to_owned(),
        "sortBy=sku&sortOrder=asc".to_owned(),
        "includedData=summaries,prices".to_owned(),
    ] {
        let (status, body) = client.get(&format!("{base}&{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["errors"][0]["code"], "InvalidInput", "{query}");
        if let Some(model) = &model {
            assert_valid(model, "ErrorList", &body);
        }
    }
    let (status, body) = client.get(&format!("{}&includedData=price", item_path(&emulator, "S-01"))).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidInput")));
    // Within the model: 20 identifiers, each enum value.
    let (status, body) = client
        .get(&format!(
            "{base}&identifiers={}&identifiersType=SKU&sortBy=createdDate&sortOrder=DESC&includedData=summaries,procurement",
            skus[..20].join(",")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numberOfResults"], 1);
}

async fn submit_feed(client: &Client, feed: &Value, content_type: &str) -> (String, Value) {
    let (status, doc, _) =
        client.call(Method::POST, "/feeds/2021-06-30/documents", Some(&json!({"contentType": content_type}))).await;
    assert_eq!(status, StatusCode::OK);
    let upload = reqwest::Client::new()
        .put(doc["url"].as_str().unwrap())
        .header("Content-Type", content_type)
        .body(feed.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::OK);
    let request = json!({"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["ATVPDKIKX0DER"], "inputFeedDocumentId": doc["feedDocumentId"]});
    let (status, created, _) = client.call(Method::POST, "/feeds/2021-06-30/feeds", Some(&request)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let feed_id = created["feedId"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    let feed = loop {
        let (_, feed) = client.get(&format!("/feeds/2021-06-30/feeds/{feed_id}")).await;
        let status = feed["processingStatus"].as_str().unwrap().to_owned();
        if statuses.last() != Some(&status) {
            statuses.push(status.clone());
        }
        if status == "DONE" || status == "FATAL" {
            break feed;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // Statuses only move forward (how many a poll sees depends on timing).
    let order = ["IN_QUEUE", "IN_PROGRESS", "DONE", "FATAL"];
    let ranks: Vec<usize> = statuses.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{statuses:?}");
    let (_, doc) =
        client.get(&format!("/feeds/2021-06-30/documents/{}", feed["resultFeedDocumentId"].as_str().unwrap())).await;
    let report = reqwest::get(doc["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    (feed["processingStatus"].as_str().unwrap().to_owned(), serde_json::from_slice(&report).unwrap())
}

#[tokio::test]
async fn json_listings_feed_flow_validates_and_reports() {
    let mut config = AmazonConfig::fast();
    config.max_feed_messages = 5;
    let (emulator, client) = start(config).await;
    seed(&emulator, "A", 1);
    seed(&emulator, "B", 2);
    emulator.seed_product(SeedProduct::new("F", 9, Decimal::ONE).with("fulfilment", "channel")).unwrap();
    let feed_schema = jsonschema::validator_for(&data("listings-feed-schema-v2.json")).unwrap();
    let report_schema = jsonschema::validator_for(&data("listings-feed-processing-report-schema-v2.json")).unwrap();
    assert!(feed_schema.is_valid(&data("listings-feed-schema-v2.example.json")));
    let patch = |id: i64, sku: &str, code: &str, quantity: i64| json!({"messageId": id, "sku": sku, "operationType": "PATCH", "productType": "PRODUCT", "patches": quantity_patch(code, quantity)["patches"]});
    let feed = json!({
        "header": {"sellerId": emulator.seller_id(), "version": "2.0", "issueLocale": "en_US",
                   "report": {"includedData": ["fulfillmentAvailability"], "apiVersion": "2021-08-01"}},
        "messages": [
            patch(1, "A", "DEFAULT", 7),
            {"messageId": 2, "sku": "B", "operationType": "PARTIAL_UPDATE", "productType": "PRODUCT",
             "attributes": {"fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 8}]}},
            patch(3, "F", "AMAZON_NA", 1),
            {"messageId": 4, "sku": "A", "operationType": "DELETE", "productType": "PRODUCT"},
        ],
    });
    // Message 4 breaks the schema (DELETE takes no productType): the emulator and jsonschema agree.
    assert!(!feed_schema.is_valid(&feed));
    let (status, report) = submit_feed(&client, &feed, "application/json; charset=UTF-8").await;
    assert_eq!(status, "DONE");
    let errors: Vec<String> = report_schema.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
    assert_eq!(report["summary"]["messagesAccepted"], 2);
    assert_eq!(report["summary"]["messagesInvalid"], 2);
    let invalid: Vec<i64> =
        report["issues"].as_array().unwrap().iter().map(|i| i["messageId"].as_i64().unwrap()).collect();
    assert_eq!(invalid, [3, 4]);
    assert_eq!(report["items"][0]["fulfillmentAvailability"][0]["quantity"], 7);
    assert_eq!((emulator.stock("A").unwrap(), emulator.stock("B").unwrap()), (Some(7), Some(8)));
    assert_eq!(emulator.platform().fba_quantity("F"), Some(9));
    // The schema's own example feed: DELETE of an unknown SKU and an UPDATE setting FBA quantity are invalid
    // (and create nothing); the other three apply.
    for sku in ["My-SKU-A2", "My-SKU-B", "My-SKU-D", "My-SKU-E"] {
        seed(&emulator, sku, 1);
    }
    let mut example = data("listings-feed-schema-v2.example.json");
    example["header"]["sellerId"] = json!(emulator.seller_id());
    let (status, report) = submit_feed(&client, &example, "application/json").await;
    assert_eq!(status, "DONE");
    assert!(report_schema.is_valid(&report), "{report:#}");
    assert_eq!(
        (report["summary"]["messagesAccepted"].as_i64(), report["summary"]["messagesInvalid"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        emulator.stock("My-SKU-C"),
        Err(channel_testkit::ControlError::NotFound("no listing with SKU My-SKU-C".into()))
    );
    for sku in ["My-SKU-B", "My-SKU-D", "My-SKU-E"] {
        assert_eq!(emulator.stock(sku).unwrap(), Some(10), "{sku}");
    }
    // More messages than allowed: FATAL, nothing applied.
    let big = json!({"header": {"sellerId": emulator.seller_id(), "version": "2.0"},
        "messages": (1..=6).map(|i| patch(i, "A", "DEFAULT", 100)).collect::<Vec<_>>()});
    let (status, report) = submit_feed(&client, &big, "application/json").await;
    assert_eq!(status, "FATAL");
    assert!(report_schema.is_valid(&report), "{report:#}");
    assert_eq!(emulator.stock("A").unwrap(), Some(7));
    // The upload must carry the content type it was created with.
    let (_, doc, _) = client
        .call(Method::POST, "/feeds/2021-06-30/documents", Some(&json!({"contentType": "application/json"})))
        .await;
    let upload = reqwest::Client::new()
        .put(doc["url"].as_str().unwrap())
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN);
    let forged = doc["url"].as_str().unwrap().replace("X-Amz-Signature=", "X-Amz-Signature=x");
    let upload =
        reqwest::Client::new().put(forged).header("Content-Type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN);
    // Notifications for the quantities the feed changed.
    let notes = emulator.platform().notifications();
    let mfn: Vec<(String, i64)> = notes
        .iter()
        .filter(|n| n["NotificationType"] == "LISTINGS_ITEM_MFN_QUANTITY_CHANGE")
        .map(|n| (n["Payload"]["Sku"].as_str().unwrap().to_owned(), n["Payload"]["Quantity"].as_i64().unwrap()))
        .collect();
    let expected: Vec<(String, i64)> = [("A", 7), ("B", 8), ("My-SKU-B", 10), ("My-SKU-D", 10), ("My-SKU-E", 10)]
        .iter()
        .map(|(sku, quantity)| ((*sku).to_owned(), *quantity))
        .collect();
    assert_eq!(mfn, expected);
}

#[tokio::test]
async fn all_listings_report() {
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "R-1", 3);
    seed(&emulator, "R-2", 0);
    emulator.seed_product(SeedProduct::new("R-F", 5, Decimal::ONE).with("fulfilment", "channel")).unwrap();
    let request = json!({"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": ["ATVPDKIKX0DER"]});
    let (status, created, _) = client.call(Method::POST, "/reports/2021-06-30/reports", Some(&request)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = created["reportId"].as_str().unwrap();
    let report = loop {
        let (_, report) = client.get(&format!("/reports/2021-06-30/reports/{id}")).await;
        if report["processingStatus"] == "DONE" {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (_, doc) =
        client.get(&format!("/reports/2021-06-30/documents/{}", report["reportDocumentId"].as_str().unwrap())).await;
    let text = reqwest::get(doc["url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3);
    let row = |sku: &str| rows.iter().find(|r| r[col("seller-sku")] == sku).unwrap().clone();
    assert_eq!(
        (row("R-1")[col("quantity")], row("R-1")[col("price")], row("R-1")[col("status")]),
        ("3", "19.99", "Active")
    );
    assert_eq!(row("R-2")[col("status")], "Inactive");
    assert_eq!((row("R-F")[col("fulfillment-channel")], row("R-F")[col("quantity")]), ("AMAZON_NA", ""));
    assert_eq!(row("R-1")[col("fulfillment-channel")], "DEFAULT");
}

/// The `Issue` of the listingsItems model, with its required `categories`.
#[derive(Debug, Deserialize)]
struct ModelIssue {
    #[serde(rename = "code")]
    _code: String,
    #[serde(rename = "message")]
    _message: String,
    severity: String,
    #[serde(rename = "categories")]
    _categories: Vec<String>,
}

#[tokio::test]
async fn merge_changes_only_the_fields_named_and_replace_the_whole_attribute() {
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "M-1", 5);
    let patch = |op: &str, attribute: &str, value: Value| json!({"productType": "PRODUCT", "patches": [{"op": op, "path": format!("/attributes/{attribute}"), "value": value}]});
    let send = |body: Value| {
        let (client, path) = (&client, item_path(&emulator, "M-1"));
        async move {
            let (status, body, _) = client.call(Method::PATCH, &path, Some(&body)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["status"], "ACCEPTED", "{body}");
        }
    };
    let attributes = || emulator.platform().listing_json("M-1").unwrap()["attributes"].clone();
    // The seller's handling time and a sale price with its floor, set by a replace.
    send(patch(
        "replace",
        "fulfillment_availability",
        json!([{"fulfillment_channel_code": "DEFAULT", "quantity": 5,
        "lead_time_to_ship_max_days": 3, "restock_date": "2030-01-01"}]),
    ))
    .await;
    send(patch(
        "replace",
        "purchasable_offer",
        json!([{"marketplace_id": "ATVPDKIKX0DER", "currency": "USD",
        "audience": "ALL", "our_price": [{"schedule": [{"value_with_tax": 20}]}],
        "discounted_price": [{"schedule": [{"value_with_tax": 15, "start_at": "2030-01-01", "end_at": "2030-02-01"}]}],
        "minimum_seller_allowed_price": [{"schedule": [{"value_with_tax": 10}]}]}]),
    ))
    .await;
    // merge ("Merge a listing"): the quantity changes, the lead time and restock date stay.
    send(patch("merge", "fulfillment_availability", json!([{"fulfillment_channel_code": "DEFAULT", "quantity": 20}])))
        .await;
    assert_eq!(
        attributes()["fulfillment_availability"],
        json!([{"fulfillment_channel_code": "DEFAULT", "quantity": 20, "lead_time_to_ship_max_days": 3,
                "restock_date": "2030-01-01"}])
    );
    assert_eq!(emulator.stock("M-1").unwrap(), Some(20));
    // merge of our_price keeps the sale price and the floor; null removes a field.
    send(patch("merge", "purchasable_offer", json!([{"marketplace_id": "ATVPDKIKX0DER", "currency": "USD",
        "audience": "ALL", "our_price": [{"schedule": [{"value_with_tax": 22.5}]}], "minimum_seller_allowed_price": null}])))
        .await;
    let offer = &attributes()["purchasable_offer"][0];
    assert_eq!(offer["our_price"], json!([{"schedule": [{"value_with_tax": 22.5}]}]));
    assert_eq!(offer["discounted_price"][0]["schedule"][0]["value_with_tax"], 15);
    assert!(offer.get("minimum_seller_allowed_price").is_none(), "{offer}");
    assert_eq!(emulator.platform().price("M-1"), Some(Decimal::new(225, 1)));
    // replace replaces the whole attribute: what is not given is gone.
    send(patch("replace", "fulfillment_availability", json!([{"fulfillment_channel_code": "DEFAULT", "quantity": 7}])))
        .await;
    assert_eq!(
        attributes()["fulfillment_availability"],
        json!([{"fulfillment_channel_code": "DEFAULT", "quantity": 7}])
    );
    send(patch(
        "replace",
        "purchasable_offer",
        json!([{"marketplace_id": "ATVPDKIKX0DER", "currency": "USD",
        "our_price": [{"schedule": [{"value_with_tax": 30}]}]}]),
    ))
    .await;
    assert!(attributes()["purchasable_offer"][0].get("discounted_price").is_none());
    assert_eq!(emulator.platform().price("M-1"), Some(Decimal::from(30)));
    // Another attribute: merged by marketplace_id and language_tag.
    send(patch(
        "replace",
        "color",
        json!([{"value": "red", "marketplace_id": "ATVPDKIKX0DER", "language_tag": "en_US"}]),
    ))
    .await;
    send(patch(
        "merge",
        "color",
        json!([{"marketplace_id": "ATVPDKIKX0DER", "language_tag": "en_US",
        "standardized_values": ["red"]}]),
    ))
    .await;
    assert_eq!(
        attributes()["color"],
        json!([{"value": "red", "marketplace_id": "ATVPDKIKX0DER", "language_tag": "en_US", "standardized_values": ["red"]}])
    );
    // merge needs its selectors; an issue has the model's required fields.
    let (_, body, _) = client
        .call(
            Method::PATCH,
            &item_path(&emulator, "M-1"),
            Some(&patch("merge", "fulfillment_availability", json!([{"quantity": 1}]))),
        )
        .await;
    assert_eq!(body["status"], "INVALID");
    let issue: ModelIssue = serde_json::from_value(body["issues"][0].clone()).unwrap();
    assert_eq!(issue.severity, "ERROR");
    assert_eq!(emulator.stock("M-1").unwrap(), Some(7));
    // "Merge a listing": "You must provide non-empty values for the selector field such as audience" (no
    // default ALL for a merge); and marketplace_id, a selector without a default ("Manage purchasable
    // offer"), is never filled in for a replace.
    for (op, entry) in [
        (
            "merge",
            json!({"marketplace_id": "ATVPDKIKX0DER", "currency": "USD",
                         "our_price": [{"schedule": [{"value_with_tax": 31}]}]}),
        ),
        (
            "merge",
            json!({"marketplace_id": "ATVPDKIKX0DER", "currency": "USD", "audience": "",
                         "our_price": [{"schedule": [{"value_with_tax": 31}]}]}),
        ),
        (
            "replace",
            json!({"currency": "USD", "audience": "ALL", "our_price": [{"schedule": [{"value_with_tax": 31}]}]}),
        ),
    ] {
        let (_, body, _) = client
            .call(Method::PATCH, &item_path(&emulator, "M-1"), Some(&patch(op, "purchasable_offer", json!([entry]))))
            .await;
        assert_eq!(body["status"], "INVALID", "{op} {entry}: {body}");
        assert_eq!(body["issues"][0]["attributeNames"], json!(["purchasable_offer"]), "{body}");
    }
    assert_eq!(emulator.platform().price("M-1"), Some(Decimal::from(30)));
}

#[tokio::test]
async fn patch_ops_outside_the_model_enum_and_feeds_for_too_many_marketplaces_are_400() {
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "M-1", 5);
    for op in ["remove", "Merge", "move", ""] {
        let body = json!({"productType": "PRODUCT", "patches": [{"op": op, "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}]});
        let (status, body, _) = client.call(Method::PATCH, &item_path(&emulator, "M-1"), Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{op}");
        let errors: ErrorList = serde_json::from_value(body).unwrap();
        assert!(!errors.errors[0].code.is_empty() && !errors.errors[0].message.is_empty());
    }
    let (status, _, _) = client
        .call(Method::PATCH, &item_path(&emulator, "M-1"), Some(&json!({"productType": "PRODUCT", "patches": []})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "patches has minItems 1");
    assert_eq!(emulator.stock("M-1").unwrap(), Some(5));
    // createFeed: marketplaceIds has maxItems 25 (feeds_2021-06-30.json).
    if let Some(model) = read_fixture("feeds_2021-06-30.json") {
        assert_eq!(model["definitions"]["CreateFeedSpecification"]["properties"]["marketplaceIds"]["maxItems"], 25);
    }
    let (_, doc, _) = client
        .call(
            Method::POST,
            "/feeds/2021-06-30/documents",
            Some(&json!({"contentType": "application/json; charset=UTF-8"})),
        )
        .await;
    let too_many: Vec<&str> = vec!["ATVPDKIKX0DER"; 26];
    let request = json!({"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": too_many, "inputFeedDocumentId": doc["feedDocumentId"]});
    let (status, body, _) = client.call(Method::POST, "/feeds/2021-06-30/feeds", Some(&request)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors: ErrorList = serde_json::from_value(body).unwrap();
    assert!(errors.errors[0].message.contains("25"), "{errors:?}");
}

#[tokio::test]
async fn merge_in_a_feed_message_keeps_the_lead_time() {
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "F-1", 5);
    let replace = json!({"productType": "PRODUCT", "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5, "lead_time_to_ship_max_days": 4}]}]});
    client.call(Method::PATCH, &item_path(&emulator, "F-1"), Some(&replace)).await;
    let feed = json!({"header": {"sellerId": emulator.seller_id(), "version": "2.0"}, "messages": [
        {"messageId": 1, "sku": "F-1", "operationType": "PATCH", "productType": "PRODUCT",
         "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                      "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 9}]}]}]});
    let (status, report) = submit_feed(&client, &feed, "application/json; charset=UTF-8").await;
    assert_eq!(status, "DONE");
    assert_eq!(report["summary"]["messagesAccepted"], 1, "{report}");
    let availability = &emulator.platform().listing_json("F-1").unwrap()["attributes"]["fulfillment_availability"];
    assert_eq!(
        *availability,
        json!([{"fulfillment_channel_code": "DEFAULT", "quantity": 9, "lead_time_to_ship_max_days": 4}])
    );
}

#[tokio::test]
async fn a_european_seller_gets_the_british_column_in_windows_1252() {
    let mut config = AmazonConfig::fast();
    config.marketplace_id = "A1PA6795UKMFR9".into();
    config.country_code = "DE".into();
    config.currency = "EUR".into();
    config.fba_channel_code = "AMAZON_EU".into();
    let (emulator, client) = start(config).await;
    emulator.seed_product(SeedProduct::new("STRASSE-1", 3, Decimal::ONE).with("title", "Straße")).unwrap();
    emulator.seed_product(SeedProduct::new("FBA-1", 5, Decimal::ONE).with("fulfilment", "channel")).unwrap();
    let request = json!({"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": ["A1PA6795UKMFR9"]});
    let (_, created, _) = client.call(Method::POST, "/reports/2021-06-30/reports", Some(&request)).await;
    let id = created["reportId"].as_str().unwrap();
    let report = loop {
        let (_, report) = client.get(&format!("/reports/2021-06-30/reports/{id}")).await;
        if report["processingStatus"] == "DONE" {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (_, doc) =
        client.get(&format!("/reports/2021-06-30/documents/{}", report["reportDocumentId"].as_str().unwrap())).await;
    let response = reqwest::get(doc["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain; charset=Cp1252");
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.windows(6).any(|w| w == b"Stra\xdfe"), "Windows-1252, not UTF-8");
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let header: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
    assert!(header.contains(&"fulfilment-channel") && !header.contains(&"fulfillment-channel"), "{header:?}");
    assert!(text.contains("\tAMAZON_EU\t"));
    // Configurable per seller.
    let mut config = AmazonConfig::fast();
    config.report_fulfilment_column = Some("fulfilment-channel".into());
    config.report_charset = Some("UTF-8".into());
    assert_eq!((config.fulfilment_column(), config.listings_report_charset()), ("fulfilment-channel", "UTF-8"));
    assert_eq!(AmazonConfig::fast().fulfilment_column(), "fulfillment-channel");
}

/// A validator of `definition` in a Swagger 2.0 model (its `definitions` as a JSON Schema) that, as the
/// SP-API models mean, checks `format` (`date-time`) and refuses a property an object schema does not name.
fn model_validator(model: &Value, definition: &str) -> jsonschema::Validator {
    let mut definitions = model["definitions"].clone();
    for schema in definitions.as_object_mut().expect("a Swagger 2.0 model has definitions").values_mut() {
        close_objects(schema);
    }
    let schema = json!({"$ref": format!("#/definitions/{definition}"), "definitions": definitions});
    jsonschema::options().should_validate_formats(true).build(&schema).unwrap()
}

/// Add `"additionalProperties": false` to every object schema in `schema` that names `properties` and says
/// nothing of other properties. `allOf` is left alone: closing its branches would refuse their siblings'
/// properties.
fn close_objects(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    if object.contains_key("allOf") {
        return;
    }
    if object.get("properties").is_some_and(Value::is_object) && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        properties.values_mut().for_each(close_objects);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = object.get_mut(key) {
            close_objects(inner);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = object.get_mut(key).and_then(Value::as_array_mut) {
            branches.iter_mut().for_each(close_objects);
        }
    }
}

fn assert_valid(model: &Value, definition: &str, body: &Value) {
    let validator = model_validator(model, definition);
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{definition}: {errors:?}\n{body}");
}

#[test]
fn the_model_checker_refuses_unknown_properties_and_bad_dates() {
    let Some(model) = read_fixture("orders_2026-01-01.json") else { return };
    let example = &model["paths"]["/orders/2026-01-01/orders/{orderId}"]["get"]["responses"]["200"]["x-amzn-api-sandbox"]
        ["static"][0]["response"];
    let validator = model_validator(&model, "GetOrderResponse");
    assert!(validator.is_valid(example), "Amazon's own example passes");
    let refused = |change: &dyn Fn(&mut Value)| {
        let mut value = example.clone();
        change(&mut value);
        assert_ne!(&value, example, "the change changed something");
        !validator.is_valid(&value)
    };
    assert!(refused(&|v| v["order"]["salesChannel"]["channelNickname"] = json!("x")), "an unknown property");
    assert!(refused(&|v| v["extra"] = json!(1)), "an unknown top-level property");
    assert!(refused(&|v| v["order"]["createdTime"] = json!("24/12/2024 20:30")), "a date-time that is not one");
    assert!(refused(&|v| v["order"]["fulfillment"]["shipByWindow"]["earliestDateTime"] = json!("2024-12-26")));
    assert!(refused(&|v| drop(v["order"].as_object_mut().unwrap().remove("salesChannel"))), "a missing field");
}

#[tokio::test]
async fn listings_feeds_fba_and_sellers_answers_validate_against_their_models() {
    let (Some(listings), Some(feeds), Some(fba), Some(sellers)) = (
        read_fixture("listingsItems_2021-08-01.json"),
        read_fixture("feeds_2021-06-30.json"),
        read_fixture("fbaInventory.json"),
        read_fixture("sellers.json"),
    ) else {
        return;
    };
    // The validators do check: a submission without its required status is refused.
    assert!(!model_validator(&listings, "ListingsItemSubmissionResponse").is_valid(&json!({"sku": "x"})));
    assert!(!model_validator(&listings, "Item").is_valid(&json!({"sku": "x", "summaries": [{"asin": 1}]})));
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "V-1", 5);
    emulator.seed_product(SeedProduct::new("V-F", 4, Decimal::ONE).with("fulfilment", "channel")).unwrap();
    let all = "includedData=summaries,attributes,issues,offers,fulfillmentAvailability,procurement,relationships,productTypes";
    let (_, item) = client.get(&format!("{}&{all}", item_path(&emulator, "V-1"))).await;
    assert_valid(&listings, "Item", &item);
    let (_, page) = client
        .get(&format!(
            "/listings/2021-08-01/items/{}?marketplaceIds={}&{all}&pageSize=1",
            emulator.seller_id(),
            emulator.marketplace_id()
        ))
        .await;
    assert_valid(&listings, "ItemSearchResults", &page);
    let (_, accepted, _) =
        client.call(Method::PATCH, &item_path(&emulator, "V-1"), Some(&quantity_patch("DEFAULT", 3))).await;
    assert_valid(&listings, "ListingsItemSubmissionResponse", &accepted);
    let (_, invalid, _) =
        client.call(Method::PATCH, &item_path(&emulator, "V-1"), Some(&quantity_patch("AMAZON_NA", 3))).await;
    assert_eq!(invalid["status"], "INVALID");
    assert_valid(&listings, "ListingsItemSubmissionResponse", &invalid);
    let bad = json!({"productType": "PRODUCT", "patches": [{"op": "remove", "path": "/attributes/x"}]});
    let (_, errors, _) = client.call(Method::PATCH, &item_path(&emulator, "V-1"), Some(&bad)).await;
    assert_valid(&listings, "ErrorList", &errors);
    let (_, not_found) = client.get(&item_path(&emulator, "NOPE")).await;
    assert_valid(&listings, "ErrorList", &not_found);

    let content_type = "application/json; charset=UTF-8";
    let (_, doc, _) =
        client.call(Method::POST, "/feeds/2021-06-30/documents", Some(&json!({"contentType": content_type}))).await;
    assert_valid(&feeds, "CreateFeedDocumentResponse", &doc);
    let feed = json!({"header": {"sellerId": emulator.seller_id(), "version": "2.0"}, "messages": [
        {"messageId": 1, "sku": "V-1", "operationType": "PATCH", "productType": "PRODUCT",
         "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                      "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 2}]}]}]});
    reqwest::Client::new()
        .put(doc["url"].as_str().unwrap())
        .header("Content-Type", content_type)
        .body(feed.to_string())
        .send()
        .await
        .unwrap();
    let request = json!({"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [emulator.marketplace_id()],
        "inputFeedDocumentId": doc["feedDocumentId"]});
    let (_, created, _) = client.call(Method::POST, "/feeds/2021-06-30/feeds", Some(&request)).await;
    assert_valid(&feeds, "CreateFeedResponse", &created);
    let feed_path = format!("/feeds/2021-06-30/feeds/{}", created["feedId"].as_str().unwrap());
    let done = loop {
        let (_, feed) = client.get(&feed_path).await;
        assert_valid(&feeds, "Feed", &feed);
        if feed["processingStatus"] == "DONE" {
            break feed;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (_, result) =
        client.get(&format!("/feeds/2021-06-30/documents/{}", done["resultFeedDocumentId"].as_str().unwrap())).await;
    assert_valid(&feeds, "FeedDocument", &result);
    let (_, too_many, _) = client
        .call(
            Method::POST,
            "/feeds/2021-06-30/feeds",
            Some(&json!({"feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": vec![emulator.marketplace_id(); 26], "inputFeedDocumentId": doc["feedDocumentId"]})),
        )
        .await;
    assert_valid(&feeds, "ErrorList", &too_many);

    let (_, summaries) = client
        .get(&format!(
            "/fba/inventory/v1/summaries?details=true&granularityType=Marketplace&granularityId={0}&marketplaceIds={0}",
            emulator.marketplace_id()
        ))
        .await;
    assert_eq!(summaries["payload"]["inventorySummaries"].as_array().map(Vec::len), Some(1), "{summaries}");
    assert_valid(&fba, "GetInventorySummariesResponse", &summaries);
    let (_, participations) = client.get("/sellers/v1/marketplaceParticipations").await;
    assert_valid(&sellers, "GetMarketplaceParticipationsResponse", &participations);
}

/// `searchOrders` pages of the emulator, following `paginationToken` with every other parameter repeated.
async fn search_all(client: &Client, model: &Value, query: &str) -> Vec<Value> {
    let mut orders = Vec::new();
    let mut path = format!("/orders/2026-01-01/orders?{query}");
    loop {
        let (status, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_valid(model, "SearchOrdersResponse", &body);
        orders.extend(body["orders"].as_array().unwrap().iter().cloned());
        match body["pagination"]["nextToken"].as_str() {
            Some(token) => path = format!("/orders/2026-01-01/orders?{query}&paginationToken={token}"),
            None => break,
        }
    }
    orders
}

#[tokio::test]
async fn orders_are_served_as_the_2026_model_says_and_move_the_right_stock() {
    let Some(model) = read_fixture("orders_2026-01-01.json") else { return };
    // The checker itself: Amazon's own examples of both operations pass it.
    for (path, definition) in [
        ("/orders/2026-01-01/orders", "SearchOrdersResponse"),
        ("/orders/2026-01-01/orders/{orderId}", "GetOrderResponse"),
    ] {
        for example in
            model["paths"][path]["get"]["responses"]["200"]["x-amzn-api-sandbox"]["static"].as_array().unwrap()
        {
            assert_valid(&model, definition, &example["response"]);
        }
    }
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "M", 10);
    emulator.seed_product(SeedProduct::new("F", 10, Decimal::ONE).with("fulfilment", "channel")).unwrap();
    let since = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(60)).unwrap();
    let mfn = emulator.place_order(PlaceOrder::new("M", 2)).unwrap();
    let afn = emulator.place_order(PlaceOrder::new("F", 3).by_channel()).unwrap();
    let third = emulator.place_order(PlaceOrder::new("M", 1)).unwrap();
    assert!(emulator.place_order(PlaceOrder::new("F", 1)).is_err(), "an FBA SKU takes only FBA orders");
    assert_eq!(emulator.stock("M").unwrap(), Some(7));
    assert_eq!(emulator.platform().fba_quantity("F"), Some(7));
    emulator.cancel_order(&third.order_id).unwrap();
    assert_eq!(emulator.stock("M").unwrap(), Some(8));
    // searchOrders, two a page, every dataset the emulator holds.
    let query = format!(
        "lastUpdatedAfter={since}&marketplaceIds=ATVPDKIKX0DER&maxResultsPerPage=2\
         &includedData=FULFILLMENT,PACKAGES,PROCEEDS,CANCELLATION"
    );
    let orders = search_all(&client, &model, &query).await;
    let seen: Vec<(&str, &str, &str)> = orders
        .iter()
        .map(|o| {
            let f = &o["fulfillment"];
            (
                o["orderId"].as_str().unwrap(),
                f["fulfillmentStatus"].as_str().unwrap(),
                f["fulfilledBy"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3);
    assert!(seen.contains(&(afn.order_id.as_str(), "UNSHIPPED", "AMAZON")));
    assert!(seen.contains(&(third.order_id.as_str(), "CANCELLED", "MERCHANT")));
    let mfn_order = orders.iter().find(|o| o["orderId"] == mfn.order_id.as_str()).unwrap();
    assert_eq!(mfn_order["orderItems"][0]["product"]["sellerSku"], "M");
    assert_eq!(mfn_order["orderItems"][0]["quantityOrdered"], 2);
    let item_id = mfn_order["orderItems"][0]["orderItemId"].as_str().unwrap().to_owned();
    assert_eq!(
        emulator.platform().order_item_ids(&mfn.order_id),
        Some(vec![item_id.clone()]),
        "the control surface agrees"
    );
    // fulfilledBy filters; a token with other parameters, no date filter, an unknown dataset: 400 ErrorList.
    let merchant = search_all(&client, &model, &format!("lastUpdatedAfter={since}&fulfilledBy=MERCHANT")).await;
    assert_eq!(merchant.len(), 2);
    let (_, first) = client.get(&format!("/orders/2026-01-01/orders?{query}")).await;
    let token = first["pagination"]["nextToken"].as_str().unwrap();
    for bad in [
        format!("/orders/2026-01-01/orders?lastUpdatedAfter={since}&paginationToken={token}"),
        "/orders/2026-01-01/orders?marketplaceIds=ATVPDKIKX0DER".to_owned(),
        format!("/orders/2026-01-01/orders?lastUpdatedAfter={since}&includedData=ITEMS"),
        format!("/orders/2026-01-01/orders?lastUpdatedAfter={since}&createdAfter={since}"),
    ] {
        let (status, body) = client.get(&bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_valid(&model, "ErrorList", &body);
    }
    // A token may change maxResultsPerPage and includedData.
    let (status, body) = client
        .get(&format!(
            "/orders/2026-01-01/orders?lastUpdatedAfter={since}&marketplaceIds=ATVPDKIKX0DER&paginationToken={token}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // getOrder.
    let (status, body) =
        client.get(&format!("/orders/2026-01-01/orders/{}?includedData=FULFILLMENT,PACKAGES", mfn.order_id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_valid(&model, "GetOrderResponse", &body);
    assert_eq!(body["order"]["packages"], json!([]));
    let (status, body) = client.get("/orders/2026-01-01/orders/111-0000000-0000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_valid(&model, "ErrorList", &body);
    // The deprecated v0 reads are gone: 404 with the SP-API error list, as for any unknown resource.
    for v0 in [
        format!("/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&LastUpdatedAfter={since}"),
        format!("/orders/v0/orders/{}", mfn.order_id),
        format!("/orders/v0/orders/{}/orderItems", mfn.order_id),
    ] {
        let (status, body) = client.get(&v0).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{v0}");
        assert_valid(&model, "ErrorList", &body);
        assert_eq!(body["errors"][0]["code"], "NotFound");
    }
}

#[tokio::test]
async fn confirm_shipment_takes_numeric_package_references_as_the_v0_model_says() {
    let Some(v0) = read_fixture("ordersV0.json") else { return };
    let Some(model) = read_fixture("orders_2026-01-01.json") else { return };
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "M", 10);
    emulator.seed_product(SeedProduct::new("F", 10, Decimal::ONE).with("fulfilment", "channel")).unwrap();
    let mfn = emulator.place_order(PlaceOrder::new("M", 2)).unwrap();
    let afn = emulator.place_order(PlaceOrder::new("F", 3).by_channel()).unwrap();
    let item = emulator.platform().order_item_ids(&mfn.order_id).unwrap().remove(0);
    let confirm = |reference: &str, quantity: i64| {
        json!({"marketplaceId": "ATVPDKIKX0DER", "packageDetail": {"packageReferenceId": reference, "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784", "shipDate": "2026-11-23T10:00:00Z",
            "orderItems": [{"orderItemId": item, "quantity": quantity}]}})
    };
    let path = format!("/orders/v0/orders/{}/shipmentConfirmation", mfn.order_id);
    // The model's own request example is a valid request.
    let example = &v0["paths"]["/orders/v0/orders/{orderId}/shipmentConfirmation"]["post"]["responses"]["204"]["x-amzn-api-sandbox"]
        ["static"][0]["request"]["parameters"]["body"]["value"];
    assert_valid(&v0, "ConfirmShipmentRequest", example);
    // A tracking number as packageReferenceId ("Only positive numeric values are supported"): 400.
    for bad in ["1Z999AA10123456784", "0", "-1", "1.5"] {
        let (status, body, _) = client.call(Method::POST, &path, Some(&confirm(bad, 1))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_valid(&v0, "ConfirmShipmentErrorResponse", &body);
        assert_eq!(body["errors"][0]["code"], "InvalidInput");
    }
    assert_eq!(emulator.platform().order_status(&mfn.order_id), Some("Unshipped"), "nothing shipped");
    let (status, _, _) = client.call(Method::POST, &path, Some(&confirm("1", 1))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(emulator.platform().order_status(&mfn.order_id), Some("PartiallyShipped"));
    // The same packageReferenceId edits that package instead of adding one.
    let (status, _, _) = client.call(Method::POST, &path, Some(&confirm("1", 2))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(emulator.platform().order_status(&mfn.order_id), Some("Shipped"));
    let (_, body) =
        client.get(&format!("/orders/2026-01-01/orders/{}?includedData=FULFILLMENT,PACKAGES", mfn.order_id)).await;
    assert_valid(&model, "GetOrderResponse", &body);
    let packages = body["order"]["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(
        (packages[0]["packageReferenceId"].as_str(), packages[0]["trackingNumber"].as_str()),
        (Some("1"), Some("1Z999AA10123456784"))
    );
    assert_eq!(body["order"]["orderItems"][0]["fulfillment"]["quantityFulfilled"], 2);
    // Amazon-fulfilled orders are not confirmed by the seller.
    let path = format!("/orders/v0/orders/{}/shipmentConfirmation", afn.order_id);
    let (status, body, _) = client.call(Method::POST, &path, Some(&confirm("1", 1))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_valid(&v0, "ConfirmShipmentErrorResponse", &body);
}

/// The notification envelope of `schemas/notifications/*.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Notification {
    notification_version: String,
    notification_type: String,
    payload_version: String,
    event_time: String,
    payload: Value,
    notification_metadata: Metadata,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Metadata {
    application_id: String,
    subscription_id: String,
    publish_time: String,
    notification_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MfnQuantity {
    seller_id: String,
    fulfillment_channel_code: String,
    sku: String,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChange {
    order_change_notification: OrderChangeBody,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChangeBody {
    seller_id: String,
    amazon_order_id: String,
    order_change_type: String,
    summary: OrderChangeSummary,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChangeSummary {
    marketplace_id: String,
    order_status: String,
    fulfillment_type: String,
    order_items: Vec<OrderChangeItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChangeItem {
    #[serde(rename = "SellerSKU")]
    seller_sku: String,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FbaChange {
    #[serde(rename = "SKU")]
    sku: String,
    fulfillment_inventory_by_marketplace: Vec<FbaMarketplace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FbaMarketplace {
    marketplace_id: String,
    fulfillment_inventory: FbaInventory,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FbaInventory {
    fulfillable: i64,
}

#[tokio::test]
async fn notifications_have_the_fixture_shapes() {
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "M", 10);
    emulator.seed_product(SeedProduct::new("F", 10, Decimal::ONE).with("fulfilment", "channel")).unwrap();
    emulator.place_order(PlaceOrder::new("M", 4)).unwrap();
    emulator.place_order(PlaceOrder::new("F", 1).by_channel()).unwrap();
    let response = reqwest::get(format!("{}/_sandbox/notifications", emulator.base_url())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let notes: Vec<Notification> = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let kinds: Vec<&str> = notes.iter().map(|n| n.notification_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["ORDER_CHANGE", "LISTINGS_ITEM_MFN_QUANTITY_CHANGE", "ORDER_CHANGE", "FBA_INVENTORY_AVAILABILITY_CHANGES"]
    );
    for note in &notes {
        assert_eq!((note.notification_version.as_str(), note.payload_version.as_str()), ("1.0", "1.0"));
        assert!(note.event_time.parse::<jiff::Timestamp>().is_ok());
        let meta = &note.notification_metadata;
        assert!(
            !meta.application_id.is_empty() && !meta.subscription_id.is_empty() && !meta.notification_id.is_empty()
        );
        assert!(meta.publish_time.parse::<jiff::Timestamp>().is_ok());
    }
    let order: OrderChange = serde_json::from_value(notes[0].payload.clone()).unwrap();
    let body = &order.order_change_notification;
    assert_eq!((body.seller_id.as_str(), body.summary.fulfillment_type.as_str()), ("A1SANDBOXSELLER", "MFN"));
    assert_eq!((body.summary.order_items[0].seller_sku.as_str(), body.summary.order_items[0].quantity), ("M", 4));
    assert!(!body.amazon_order_id.is_empty() && !body.order_change_type.is_empty());
    assert_eq!(
        (body.summary.marketplace_id.as_str(), body.summary.order_status.as_str()),
        ("ATVPDKIKX0DER", "Unshipped")
    );
    let mfn: MfnQuantity = serde_json::from_value(notes[1].payload.clone()).unwrap();
    assert_eq!((mfn.sku.as_str(), mfn.quantity, mfn.fulfillment_channel_code.as_str()), ("M", 6, "DEFAULT"));
    assert_eq!(mfn.seller_id, "A1SANDBOXSELLER");
    let fba: FbaChange = serde_json::from_value(notes[3].payload.clone()).unwrap();
    assert_eq!(
        (fba.sku.as_str(), fba.fulfillment_inventory_by_marketplace[0].fulfillment_inventory.fulfillable),
        ("F", 9)
    );
    assert_eq!(fba.fulfillment_inventory_by_marketplace[0].marketplace_id, "ATVPDKIKX0DER");
    assert!(emulator.platform().notifications().is_empty(), "drained");
    // FBA summaries are read-only stock.
    let (status, body) = client
        .get("/fba/inventory/v1/summaries?details=true&granularityType=Marketplace&granularityId=ATVPDKIKX0DER&marketplaceIds=ATVPDKIKX0DER")
        .await;
    assert_eq!(status, StatusCode::OK);
    let summaries = body["payload"]["inventorySummaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["inventoryDetails"]["fulfillableQuantity"], 9);
    assert_eq!(summaries[0]["totalQuantity"], 10);
    // The schemas' examples decode into the same types.
    if let Some(schema) = read_fixture("OrderChangeNotification.json") {
        let example: Notification = serde_json::from_value(schema["examples"][0].clone()).unwrap();
        let order: OrderChange = serde_json::from_value(example.payload).unwrap();
        assert_eq!(order.order_change_notification.summary.order_items[0].quantity, 10);
    }
    if let Some(schema) = read_fixture("ListingsItemMfnQuantityChange.json") {
        let example: Notification = serde_json::from_value(schema["examples"][0].clone()).unwrap();
        let mfn: MfnQuantity = serde_json::from_value(example.payload).unwrap();
        assert_eq!(mfn.quantity, 99);
    }
    if let Some(schema) = read_fixture("FBAInventoryAvailabilityChangeNotification.json") {
        let fba: FbaChange = serde_json::from_value(schema["properties"]["Payload"]["examples"][0].clone()).unwrap();
        assert_eq!(fba.fulfillment_inventory_by_marketplace[0].fulfillment_inventory.fulfillable, 50);
    }
    // fbaInventory.json has no response example; its InventorySummary properties bound the emulator's keys.
    if let Some(model) = read_fixture("fbaInventory.json") {
        let known = model["definitions"]["InventorySummary"]["properties"].as_object().unwrap();
        for key in summaries[0].as_object().unwrap().keys() {
            assert!(known.contains_key(key), "{key} is not an InventorySummary property");
        }
    }
    assert!(emulator.register_webhook(RegisterWebhook::new("http://127.0.0.1:1/x", "s")).is_err());
}

#[tokio::test]
async fn per_operation_token_buckets() {
    let mut config = AmazonConfig::fast();
    config.rate_limits = Some(
        AmazonRateLimits::fast()
            .with("patchListingsItem", RateLimit::new(2.0, 0.001))
            .with("createFeed:JSON_LISTINGS_FEED", RateLimit::new(1.0, 0.001)),
    );
    let (emulator, client) = start(config).await;
    seed(&emulator, "A", 1);
    for quantity in [2, 3] {
        let (status, _, headers) =
            client.call(Method::PATCH, &item_path(&emulator, "A"), Some(&quantity_patch("DEFAULT", quantity))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-amzn-ratelimit-limit"], "0.001");
    }
    let (status, body, headers) =
        client.call(Method::PATCH, &item_path(&emulator, "A"), Some(&quantity_patch("DEFAULT", 9))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let errors: ErrorList = serde_json::from_value(body).unwrap();
    assert_eq!(errors.errors[0].code, "QuotaExceeded");
    assert!(headers.contains_key("x-amzn-ratelimit-limit"));
    assert_eq!(emulator.stock("A").unwrap(), Some(3), "a throttled patch changes nothing");
    // Other operations have their own buckets.
    let (status, _) = client.get(&item_path(&emulator, "A")).await;
    assert_eq!(status, StatusCode::OK);
    // The JSON_LISTINGS_FEED feed-type limit.
    let feed = json!({"header": {"sellerId": emulator.seller_id(), "version": "2.0"}, "messages": [
        {"messageId": 1, "sku": "A", "operationType": "PATCH", "productType": "PRODUCT", "patches": quantity_patch("DEFAULT", 5)["patches"]}]});
    let (status, _) = submit_feed(&client, &feed, "application/json").await;
    assert_eq!(status, "DONE");
    let (_, doc, _) = client
        .call(Method::POST, "/feeds/2021-06-30/documents", Some(&json!({"contentType": "application/json"})))
        .await;
    reqwest::Client::new()
        .put(doc["url"].as_str().unwrap())
        .header("Content-Type", "application/json")
        .body(feed.to_string())
        .send()
        .await
        .unwrap();
    let request = json!({"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["ATVPDKIKX0DER"], "inputFeedDocumentId": doc["feedDocumentId"]});
    let (status, _, _) = client.call(Method::POST, "/feeds/2021-06-30/feeds", Some(&request)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The documented table is what the emulator uses by default.
    let documented = AmazonRateLimits::documented();
    assert_eq!(documented.limits["patchListingsItem"], RateLimit::new(5.0, 5.0));
    assert_eq!(documented.limits["searchOrders"], RateLimit::new(20.0, 0.0056));
    assert!(!documented.limits.contains_key("getOrders"), "v0 getOrders is not served");
}

#[tokio::test]
async fn every_fault_kind() {
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "A", 1);
    seed(&emulator, "B", 1);
    let path = "/sellers/v1/marketplaceParticipations";
    emulator.inject_fault(Fault::too_many_requests(3).on_path("/sellers"));
    let (status, _, headers) = client.call(Method::GET, path, None).await;
    assert_eq!((status, headers["retry-after"].to_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "3"));
    emulator.inject_fault(Fault::status(500));
    assert_eq!(client.get(path).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    emulator.inject_fault(Fault::malformed());
    assert_eq!(client.get(path).await, (StatusCode::OK, Value::Null));
    emulator.inject_fault(Fault::drop_connection());
    let dropped = reqwest::Client::new()
        .get(format!("{}{path}", emulator.base_url()))
        .header("x-amz-access-token", &client.token)
        .send()
        .await;
    assert!(dropped.is_err());
    emulator.inject_fault(Fault::delay(Duration::from_millis(30)));
    assert_eq!(client.get(path).await.0, StatusCode::OK);
    // A partial batch fails messages 2, 4, … of the next feed (transiently); the others apply.
    emulator.inject_fault(Fault::partial_batch());
    let feed = json!({"header": {"sellerId": emulator.seller_id(), "version": "2.0"}, "messages": [
        {"messageId": 1, "sku": "A", "operationType": "PATCH", "productType": "PRODUCT", "patches": quantity_patch("DEFAULT", 5)["patches"]},
        {"messageId": 2, "sku": "B", "operationType": "PATCH", "productType": "PRODUCT", "patches": quantity_patch("DEFAULT", 6)["patches"]}]});
    let (status, report) = submit_feed(&client, &feed, "application/json").await;
    assert_eq!(status, "DONE");
    assert_eq!(report["summary"]["messagesInvalid"], 1);
    assert_eq!(report["issues"][0]["messageId"], 2);
    assert_eq!((emulator.stock("A").unwrap(), emulator.stock("B").unwrap()), (Some(5), Some(1)));
    // The first request was the LWA exchange.
    let faults: Vec<Option<String>> = emulator.requests().iter().skip(1).map(|r| r.fault.clone()).take(5).collect();
    assert_eq!(
        faults,
        [
            Some("status".into()),
            Some("status".into()),
            Some("malformed".into()),
            Some("drop".into()),
            Some("delay".into())
        ]
    );
}

#[tokio::test]
async fn fba_summaries_by_seller_skus() {
    // fbaInventory.json: `sellerSkus`, "A list of seller SKUs for which to return inventory summaries. You may
    // specify up to 50 SKUs." (maxItems 50).
    let (emulator, client) = start(AmazonConfig::fast()).await;
    seed(&emulator, "MFN-1", 5);
    for sku in ["FBA-1", "FBA-2"] {
        emulator.seed_product(SeedProduct::new(sku, 40, Decimal::new(2500, 2)).with("fulfilment", "channel")).unwrap();
    }
    let base = "/fba/inventory/v1/summaries?details=true&granularityType=Marketplace&granularityId=ATVPDKIKX0DER&marketplaceIds=ATVPDKIKX0DER";
    let (status, body) = client.get(&format!("{base}&sellerSkus=FBA-2,NOPE")).await;
    assert_eq!(status, StatusCode::OK);
    let summaries = body["payload"]["inventorySummaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 1, "{body}");
    assert_eq!(summaries[0]["sellerSku"], "FBA-2");
    let (_, all) = client.get(base).await;
    assert_eq!(all["payload"]["inventorySummaries"].as_array().unwrap().len(), 2, "no filter: every FBA SKU");
    let too_many: Vec<String> = (0..51).map(|i| format!("S-{i}")).collect();
    let (status, _) = client.get(&format!("{base}&sellerSkus={}", too_many.join(","))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "more than 50 sellerSkus");
}
