//! Behaviour of the Magento admin REST emulator: bearer-token refusal with Magento's body, the
//! `searchCriteria` language, input limiting and the repeated-last-page quirk behind their switches,
//! MSI reservations, all-or-nothing source-item saves and the base-price failure list.

use channel_testkit::magento::{MagentoConfig, MagentoEmulator};
use channel_testkit::{PlaceOrder, SeedProduct};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

struct Api {
    emu: MagentoEmulator,
    http: reqwest::Client,
}

impl Api {
    async fn start(config: MagentoConfig) -> Self {
        Self { emu: MagentoEmulator::start(config).await.unwrap(), http: reqwest::Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/rest/default/V1/{path}", self.emu.base_url())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.bearer_auth(self.emu.access_token()).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    fn seed(&self, sku: &str, qty: i64) {
        self.emu.seed_product(SeedProduct::new(sku, qty, Decimal::from(12))).unwrap();
    }
}

fn items(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"sku": format!("S-{i:02}"), "source_code": "default", "quantity": 1, "status": 1}))
            .collect(),
    )
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_with_magentos_body() {
    let api = Api::start(MagentoConfig::default()).await;
    for auth in [None, Some("Bearer wrong")] {
        let mut req = api.http.get(api.url("products"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["message"], "The consumer isn't authorized to access %resources.");
        assert_eq!(body["parameters"]["resources"], "Magento_Catalog::products");
    }
    let (status, _) = api.send(api.http.get(format!("{}/rest/nope/V1/products", api.emu.base_url()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown store code");
    let logged = format!("{:?}", api.emu.requests());
    assert!(!logged.contains(api.emu.access_token()), "the token is redacted");
}

#[tokio::test]
async fn search_criteria_filter_sort_and_page() {
    let api = Api::start(MagentoConfig::default()).await;
    for i in 0..5 {
        api.seed(&format!("S-{i:02}"), i);
    }
    let q = "products?searchCriteria[filterGroups][0][filters][0][field]=sku&searchCriteria[filterGroups][0][filters][0][value]=S-01,S-03,S-04&searchCriteria[filterGroups][0][filters][0][conditionType]=in&searchCriteria[sortOrders][0][field]=sku&searchCriteria[sortOrders][0][direction]=DESC&searchCriteria[pageSize]=2&searchCriteria[currentPage]=1";
    let (status, body) = api.get(q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_count"], 3);
    let skus: Vec<&str> = body["items"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["S-04", "S-03"]);
    // Two groups are ANDed; snake_case works too.
    let q = "inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=quantity&searchCriteria[filter_groups][0][filters][0][value]=2&searchCriteria[filter_groups][0][filters][0][condition_type]=gteq&searchCriteria[filter_groups][1][filters][0][field]=source_code&searchCriteria[filter_groups][1][filters][0][value]=default";
    let (_, body) = api.get(q).await;
    assert_eq!(body["total_count"], 3, "{body}");
    assert_eq!(body["items"][0]["source_code"], "default");
}

#[tokio::test]
async fn the_last_page_repeats_only_behind_the_switch() {
    for (repeat, expected) in [(true, 1usize), (false, 0)] {
        let api = Api::start(MagentoConfig::default().repeat_last_page(repeat)).await;
        for i in 0..3 {
            api.seed(&format!("S-{i:02}"), 1);
        }
        let (_, body) = api.get("products?searchCriteria[pageSize]=2&searchCriteria[currentPage]=5").await;
        assert_eq!(body["items"].as_array().unwrap().len(), expected, "repeat_last_page = {repeat}");
        assert_eq!(body["total_count"], 3);
    }
}

#[tokio::test]
async fn input_limiting_refuses_long_arrays_and_pages_behind_the_switch() {
    let api = Api::start(MagentoConfig::default()).await;
    for i in 0..21 {
        api.seed(&format!("S-{i:02}"), 0);
    }
    let (status, body) = api.post("inventory/source-items", json!({"sourceItems": items(21)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "Maximum items of type \"%type\" is %max");
    assert_eq!(body["parameters"]["max"], 20);
    let (status, _) = api.post("inventory/source-items", json!({"sourceItems": items(20)})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.get("products?searchCriteria[pageSize]=301").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Maximum SearchCriteria pageSize is %max"))
    );
    let (_, body) = api.get("products").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 20, "the default page size with input limiting");

    let api = Api::start(MagentoConfig::default().without_input_limit()).await;
    for i in 0..21 {
        api.seed(&format!("S-{i:02}"), 0);
    }
    let (status, _) = api.post("inventory/source-items", json!({"sourceItems": items(21)})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = api.get("products").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 21);
}

#[tokio::test]
async fn a_source_item_save_is_all_or_nothing() {
    let api = Api::start(MagentoConfig::default()).await;
    api.seed("S-00", 1);
    let body = json!({"sourceItems": [
        {"sku": "S-00", "source_code": "default", "quantity": 9, "status": 1},
        {"sku": "S-00", "source_code": "elsewhere", "quantity": 9, "status": 1}
    ]});
    let (status, answer) = api.post("inventory/source-items", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["message"], "Validation Failed");
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("%code"));
    assert_eq!(api.emu.stock("S-00").unwrap(), Some(1), "nothing saved");
}

#[tokio::test]
async fn orders_reserve_and_shipments_deduct() {
    let api = Api::start(MagentoConfig::default()).await;
    api.seed("MSI", 10);
    let order = api.emu.place_order(PlaceOrder::new("MSI", 4)).unwrap().order_id;
    assert_eq!(api.emu.stock("MSI").unwrap(), Some(6));
    assert_eq!(api.emu.platform().source_item("MSI", "default").unwrap()["quantity"], 10.0);
    let (_, salable) = api.get("inventory/get-product-salable-quantity/MSI/1").await;
    assert_eq!(salable, json!(6.0));
    assert!(api.emu.place_order(PlaceOrder::new("MSI", 7)).is_err(), "more than salable");

    let (_, o) = api.get(&format!("orders/{order}")).await;
    let item_id = o["items"][0]["item_id"].as_u64().unwrap();
    let ship = json!({"items": [{"order_item_id": item_id, "qty": 1}], "notify": false,
        "tracks": [{"track_number": "T1", "title": "Post", "carrier_code": "custom"}]});
    let (status, id) = api.post(&format!("order/{order}/ship"), ship).await;
    assert_eq!(status, StatusCode::OK, "{id}");
    assert!(id.as_u64().is_some());
    assert_eq!(api.emu.platform().source_item("MSI", "default").unwrap()["quantity"], 9.0);
    assert_eq!(api.emu.stock("MSI").unwrap(), Some(6), "salable unchanged by the shipment");
    let (_, o) = api.get(&format!("orders/{order}")).await;
    assert_eq!((o["state"].as_str(), o["items"][0]["qty_shipped"].as_f64()), (Some("processing"), Some(1.0)));

    api.emu.cancel_order(&order).unwrap();
    assert_eq!(api.emu.stock("MSI").unwrap(), Some(9), "the 3 unshipped units come back");
    let (_, o) = api.get(&format!("orders/{order}")).await;
    assert_eq!(o["state"], "complete", "part shipped, rest cancelled");
    let (status, _) = api.post(&format!("order/{order}/ship"), json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nothing left to ship");
}

#[tokio::test]
async fn base_prices_answer_their_failures() {
    let api = Api::start(MagentoConfig::default()).await;
    api.seed("S-00", 1);
    let body = json!({"prices": [
        {"sku": "S-00", "price": 15.5, "store_id": 0},
        {"sku": "NOPE", "price": 1, "store_id": 0},
        {"sku": "S-00", "price": -1, "store_id": 0}
    ]});
    let (status, failures) = api.post("products/base-prices", body).await;
    assert_eq!(status, StatusCode::OK);
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0]["parameters"][0], "NOPE");
    let (_, p) = api.get("products?searchCriteria[pageSize]=1").await;
    assert_eq!(p["items"][0]["price"], 15.5);
}

#[tokio::test]
async fn an_optional_rate_limit_answers_429_with_retry_after() {
    let mut config = MagentoConfig::default();
    config.rate_limit = Some(channel_testkit::RateLimit::new(2.0, 0.5));
    let api = Api::start(config).await;
    assert_eq!(api.get("products").await.0, StatusCode::OK);
    assert_eq!(api.get("products").await.0, StatusCode::OK);
    let resp = api.http.get(api.url("products")).bearer_auth(api.emu.access_token()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());
    // Off by default: Magento documents no admin API rate limit.
    assert!(MagentoConfig::default().rate_limit.is_none());
}
