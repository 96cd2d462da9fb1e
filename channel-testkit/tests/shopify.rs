//! Behaviour of the Shopify Admin GraphQL emulator, over HTTP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use channel_core::webhook;
use channel_testkit::sandbox::Duplicates;
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator, ShopifyLocation};
use channel_testkit::{Fault, PlaceOrder, RateLimit, RegisterWebhook, SeedProduct};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

// ---- helpers ------------------------------------------------------------------------------------------------

type Got = Arc<Mutex<Vec<(HeaderMap, axum::body::Bytes)>>>;

/// A webhook receiver on loopback.
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let sink = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

fn fixture(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/shopify").join(name);
    if path.exists() {
        Some(path)
    } else {
        println!("skipped: {} not found", path.display());
        None
    }
}

async fn start(config: ShopifyConfig) -> ShopifyEmulator {
    ShopifyEmulator::start(config).await.unwrap()
}

fn seed(emulator: &ShopifyEmulator, sku: &str, quantity: i64) -> Value {
    emulator.seed_product(SeedProduct::new(sku, quantity, Decimal::new(1999, 2))).unwrap()
}

async fn post(emulator: &ShopifyEmulator, token: Option<&str>, body: &Value) -> (StatusCode, Value, HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(emulator.graphql_url())
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    if let Some(token) = token {
        request = request.header("X-Shopify-Access-Token", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers)
}

async fn gql(emulator: &ShopifyEmulator, query: &str, variables: Value) -> Value {
    let (status, body, _) =
        post(emulator, Some(emulator.access_token()), &json!({"query": query, "variables": variables})).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body
}

const SET: &str = "mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id reason changes(quantityNames: [\"available\"]) { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}";

fn set_input(emulator: &ShopifyEmulator, items: &[(&Value, i64, Option<Value>)]) -> Value {
    let quantities: Vec<Value> = items
        .iter()
        .map(|(ids, quantity, change_from)| {
            let mut item = json!({"inventoryItemId": ids["inventory_item_id"], "locationId": emulator.location_id(), "quantity": quantity});
            if let Some(change_from) = change_from {
                item["changeFromQuantity"] = change_from.clone();
            }
            item
        })
        .collect();
    json!({"name": "available", "reason": "correction", "referenceDocumentUri": "gid://stocksync/Sync/1", "quantities": quantities})
}

// ---- tests --------------------------------------------------------------------------------------------------

#[tokio::test]
async fn wrong_or_missing_token_is_401() {
    let emulator = start(ShopifyConfig::fast()).await;
    let body = json!({"query": "{ shop { id } }"});
    let (status, answer, _) = post(&emulator, None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(answer["errors"].as_str().unwrap().contains("Invalid API key or access token"));
    let (status, _, _) = post(&emulator, Some("shpat_wrong"), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer, headers) = post(&emulator, Some(emulator.access_token()), &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["data"]["shop"]["id"], "gid://shopify/Shop/1");
    assert_eq!(headers["x-sandbox-graphql"], "query shop");
    // The log never shows the token.
    let logged = emulator.requests();
    assert!(logged.iter().all(|r| r.headers.get("x-shopify-access-token").is_none_or(|v| v == "******")));
}

#[tokio::test]
async fn shop_locations_and_exact_selection() {
    let emulator = start(ShopifyConfig::fast()).await;
    let body = gql(
        &emulator,
        "query { shop { name myshopifyDomain } locs: locations(first: 5) { __typename nodes { id name } pageInfo { hasNextPage } } }",
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["shop"], json!({"name": "Sandbox Shop", "myshopifyDomain": "sandbox-shop.myshopify.com"}));
    assert_eq!(body["data"]["locs"]["nodes"][0]["id"], emulator.location_id());
    assert_eq!(body["data"]["locs"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(body["data"]["locs"]["__typename"], "LocationConnection");
    let cost = &body["extensions"]["cost"];
    assert!(cost["requestedQueryCost"].as_u64().unwrap() >= cost["actualQueryCost"].as_u64().unwrap());
    assert!(cost["throttleStatus"]["maximumAvailable"].as_f64().unwrap() > 0.0);
    let body = gql(&emulator, "{ nope { id } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "undefinedField");
    let costly = "{ productVariants(first: 250) { nodes { id inventoryItem { inventoryLevels(first: 10) { nodes { id } } } } } }";
    let body = gql(&emulator, costly, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "MAX_COST_EXCEEDED");
    assert_eq!(body["extensions"]["cost"]["requestedQueryCost"], 2 + 250 * (1 + 1 + 2 + 10));
    // A bare document (Content-Type: application/graphql) works too.
    let response = reqwest::Client::new()
        .post(emulator.graphql_url())
        .header("X-Shopify-Access-Token", emulator.access_token())
        .header("Content-Type", "application/graphql")
        .body("query Named { shop { id } }")
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["data"]["shop"]["id"], "gid://shopify/Shop/1");
}

#[tokio::test]
async fn variants_page_to_the_end_and_page_size_is_capped() {
    let emulator = start(ShopifyConfig::fast()).await;
    for i in 0..7 {
        seed(&emulator, &format!("SKU-{i}"), i);
    }
    let query = "query Page($after: String) { productVariants(first: 3, after: $after) {
        edges { cursor node { id sku price inventoryItem { id tracked inventoryLevel(locationId: \"LOC\") {
          quantities(names: [\"available\", \"on_hand\"]) { name quantity } } } } }
        pageInfo { hasNextPage endCursor } } }"
        .replace("LOC", &emulator.location_id());
    let mut after = Value::Null;
    let mut skus = Vec::new();
    let mut pages = 0;
    loop {
        let body = gql(&emulator, &query, json!({"after": after})).await;
        let connection = &body["data"]["productVariants"];
        for edge in connection["edges"].as_array().unwrap() {
            let node = &edge["node"];
            let sku = node["sku"].as_str().unwrap().to_owned();
            let quantities = &node["inventoryItem"]["inventoryLevel"]["quantities"];
            assert_eq!(quantities[0]["name"], "available");
            assert_eq!(quantities[0]["quantity"], sku[4..].parse::<i64>().unwrap());
            assert_eq!(node["price"], "19.99");
            skus.push(sku);
        }
        pages += 1;
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(skus, (0..7).map(|i| format!("SKU-{i}")).collect::<Vec<_>>());
    // Backwards with last/before.
    let body = gql(
        &emulator,
        "{ productVariants(last: 2) { nodes { sku } pageInfo { hasPreviousPage startCursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["productVariants"]["nodes"], json!([{"sku": "SKU-5"}, {"sku": "SKU-6"}]));
    assert_eq!(body["data"]["productVariants"]["pageInfo"]["hasPreviousPage"], true);
    let before = body["data"]["productVariants"]["pageInfo"]["startCursor"].clone();
    let body = gql(
        &emulator,
        "query B($b: String) { productVariants(last: 2, before: $b) { nodes { sku } } }",
        json!({"b": before}),
    )
    .await;
    assert_eq!(body["data"]["productVariants"]["nodes"], json!([{"sku": "SKU-3"}, {"sku": "SKU-4"}]));
    // `sku:` search and products with nested variants.
    let body = gql(&emulator, "{ productVariants(first: 5, query: \"sku:SKU-4\") { nodes { sku } } products(first: 2) { nodes { variants(first: 1) { nodes { sku } } } } }", json!({})).await;
    assert_eq!(body["data"]["productVariants"]["nodes"], json!([{"sku": "SKU-4"}]));
    assert_eq!(body["data"]["products"]["nodes"][1]["variants"]["nodes"][0]["sku"], "SKU-1");
    // More than 250 per page, or no page size, is an error.
    for bad in ["{ productVariants(first: 251) { nodes { id } } }", "{ productVariants { nodes { id } } }"] {
        let body = gql(&emulator, bad, json!({})).await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("first"), "{body}");
        assert_eq!(body["data"]["productVariants"], Value::Null);
    }
}

#[tokio::test]
async fn set_quantities_compare_and_set_is_all_or_nothing() {
    let emulator = start(ShopifyConfig::fast()).await;
    let a = seed(&emulator, "A", 5);
    let b = seed(&emulator, "B", 7);
    // Both items right: applied.
    let input = set_input(&emulator, &[(&a, 10, Some(json!(5))), (&b, 3, Some(Value::Null))]);
    let body = gql(&emulator, SET, json!({"input": input, "key": "k-1"})).await;
    let payload = &body["data"]["inventorySetQuantities"];
    assert_eq!(payload["userErrors"], json!([]), "{body:#}");
    assert_eq!(payload["inventoryAdjustmentGroup"]["changes"].as_array().unwrap().len(), 2, "only available changes");
    assert_eq!(
        payload["inventoryAdjustmentGroup"]["changes"][0],
        json!({"name": "available", "delta": 5, "quantityAfterChange": 10})
    );
    assert_eq!((emulator.stock("A").unwrap(), emulator.stock("B").unwrap()), (Some(10), Some(3)));
    // One stale item: nothing changes, and the error says which item and the actual quantity.
    let input = set_input(&emulator, &[(&a, 1, Some(json!(10))), (&b, 1, Some(json!(99)))]);
    let body = gql(&emulator, SET, json!({"input": input, "key": "k-2"})).await;
    let payload = &body["data"]["inventorySetQuantities"];
    assert_eq!(payload["inventoryAdjustmentGroup"], Value::Null);
    let error = &payload["userErrors"][0];
    assert_eq!(error["code"], "CHANGE_FROM_QUANTITY_STALE");
    assert_eq!(error["field"], json!(["input", "quantities", "1", "changeFromQuantity"]));
    assert!(error["message"].as_str().unwrap().ends_with("is 3."), "{error}");
    assert_eq!((emulator.stock("A").unwrap(), emulator.stock("B").unwrap()), (Some(10), Some(3)));
    // Omitting changeFromQuantity is an error too.
    let input = set_input(&emulator, &[(&a, 1, None)]);
    let body = gql(&emulator, SET, json!({"input": input, "key": "k-3"})).await;
    assert_eq!(body["data"]["inventorySetQuantities"]["userErrors"][0]["field"][3], "changeFromQuantity");
    assert_eq!(emulator.stock("A").unwrap(), Some(10));
}

#[tokio::test]
async fn idempotency_key_is_required_and_replays_the_original() {
    let emulator = start(ShopifyConfig::fast()).await;
    let a = seed(&emulator, "A", 5);
    // Inline literals, no directive: refused.
    let inline = format!(
        "mutation {{ inventoryAdjustQuantities(input: {{name: \"available\", reason: \"correction\", changes: [{{inventoryItemId: \"{}\", locationId: \"{}\", delta: -2, changeFromQuantity: null}}]}}) {{ userErrors {{ code }} }} }}",
        a["inventory_item_id"].as_str().unwrap(),
        emulator.location_id()
    );
    let body = gql(&emulator, &inline, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("@idempotent"));
    assert_eq!(emulator.stock("A").unwrap(), Some(5));
    // With a key: applied once, replayed thereafter.
    let keyed = inline.replace(") {", ") @idempotent(key: \"adj-1\") {");
    let first = gql(&emulator, &keyed, json!({})).await;
    assert_eq!(first["data"]["inventoryAdjustQuantities"]["userErrors"], json!([]));
    let again = gql(&emulator, &keyed, json!({})).await;
    assert_eq!(again["data"], first["data"]);
    assert_eq!(emulator.stock("A").unwrap(), Some(3));
    let calls = emulator.platform().graphql_calls();
    assert_eq!(calls.iter().filter(|c| c.replayed).count(), 1);
    assert!(calls.iter().all(|c| c.kind == "mutation" && c.root_fields == ["inventoryAdjustQuantities"]));
    // A new key applies again.
    let other = keyed.replace("adj-1", "adj-2");
    gql(&emulator, &other, json!({})).await;
    assert_eq!(emulator.stock("A").unwrap(), Some(1));
}

#[tokio::test]
async fn idempotency_codes_are_the_documented_ones() {
    let emulator = start(ShopifyConfig::fast()).await;
    let a = seed(&emulator, "A", 5);
    let adjust = "mutation A($input: InventoryAdjustQuantitiesInput!, $key: String!) { inventoryAdjustQuantities(input: $input) @idempotent(key: $key) { inventoryAdjustmentGroup { id } userErrors { code field message } } }";
    let input = |delta: i64| {
        json!({"name": "available", "reason": "correction", "changes": [{"inventoryItemId": a["inventory_item_id"],
            "locationId": emulator.location_id(), "delta": delta, "changeFromQuantity": null}]})
    };
    let errors = |body: &Value| body["data"]["inventoryAdjustQuantities"]["userErrors"].clone();
    let code = |body: &Value| errors(body)[0]["code"].clone();
    // A request in progress: nothing applied, the key stays free.
    emulator.platform().fail_next_inventory_mutation("IDEMPOTENCY_CONCURRENT_REQUEST");
    let busy = gql(&emulator, adjust, json!({"input": input(1), "key": "k1"})).await;
    assert_eq!(code(&busy), "IDEMPOTENCY_CONCURRENT_REQUEST");
    assert_eq!(busy["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"], Value::Null);
    let done = gql(&emulator, adjust, json!({"input": input(1), "key": "k1"})).await;
    assert_eq!(errors(&done), json!([]));
    assert_eq!(emulator.stock("A").unwrap(), Some(6));
    // The same key with other parameters.
    let other = gql(&emulator, adjust, json!({"input": input(2), "key": "k1"})).await;
    assert_eq!(code(&other), "IDEMPOTENCY_KEY_PARAMETER_MISMATCH");
    assert_eq!(emulator.stock("A").unwrap(), Some(6));
    // A failed attempt spends its key: the same key is answered IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED.
    emulator.platform().fail_next_inventory_mutation("ADJUST_QUANTITIES_FAILED");
    let failed = gql(&emulator, adjust, json!({"input": input(1), "key": "k2"})).await;
    assert_eq!(code(&failed), "ADJUST_QUANTITIES_FAILED");
    let again = gql(&emulator, adjust, json!({"input": input(1), "key": "k2"})).await;
    assert_eq!(code(&again), "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED");
    let fresh = gql(&emulator, adjust, json!({"input": input(1), "key": "k3"})).await;
    assert_eq!(errors(&fresh), json!([]));
    assert_eq!(emulator.stock("A").unwrap(), Some(7));
    // Item errors name the item by index; the codes are those of each mutation's enum.
    let unknown = json!({"name": "available", "reason": "correction", "changes": [
        {"inventoryItemId": a["inventory_item_id"], "locationId": emulator.location_id(), "delta": 1, "changeFromQuantity": null},
        {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": emulator.location_id(), "delta": 1, "changeFromQuantity": null}]});
    let body = gql(&emulator, adjust, json!({"input": unknown, "key": "k4"})).await;
    assert_eq!(errors(&body)[0]["code"], "INVALID_INVENTORY_ITEM");
    assert_eq!(errors(&body)[0]["field"], json!(["input", "changes", "1", "inventoryItemId"]));
    let mut named = input(1);
    named["name"] = json!("nope");
    let body = gql(&emulator, adjust, json!({"input": named, "key": "k5"})).await;
    assert_eq!(code(&body), "INVALID_QUANTITY_NAME", "adjust's enum; INVALID_NAME is set's");
    let mut blind = input(1);
    blind["changes"][0].as_object_mut().unwrap().remove("changeFromQuantity");
    let body = gql(&emulator, adjust, json!({"input": blind, "key": "k6"})).await;
    assert_eq!(code(&body), Value::Null, "no documented code for an omitted changeFromQuantity");
    assert_eq!(errors(&body)[0]["field"], json!(["input", "changes", "0", "changeFromQuantity"]));
}

#[tokio::test]
async fn fulfillment_orders_follow_their_location_and_supported_actions() {
    let mut config = ShopifyConfig::fast();
    config.locations = vec![
        ShopifyLocation::new(1, "Warehouse"),
        ShopifyLocation::new(2, "Shop"),
        ShopifyLocation::new(3, "3PL").fulfillment_service(),
    ];
    let emulator = start(config).await;
    seed(&emulator, "A", 9);
    for location in [2, 3] {
        emulator.platform().set_stock_at("A", location, 9).unwrap();
    }
    let order = emulator.platform().place_split_order(&[("A", 1, 1), ("A", 2, 2), ("A", 1, 3)]).unwrap();
    let held = emulator.place_order(PlaceOrder::new("A", 1)).unwrap();
    emulator.platform().hold_fulfillment_order(&held.order_id, 1).unwrap();
    let read = |id: &str| {
        format!(
            "{{ order(id: \"gid://shopify/Order/{id}\") {{ fulfillmentOrders(first: 5) {{ nodes {{ id status supportedActions {{ action }} assignedLocation {{ location {{ id }} }} }} }} }} }}"
        )
    };
    let body = gql(&emulator, &read(&order), json!({})).await;
    let fos = body["data"]["order"]["fulfillmentOrders"]["nodes"].as_array().unwrap().clone();
    assert_eq!(fos.len(), 3, "one per location");
    let actions =
        |fo: &Value| fo["supportedActions"].as_array().unwrap().iter().map(|a| a["action"].clone()).collect::<Vec<_>>();
    assert!(actions(&fos[0]).contains(&json!("CREATE_FULFILLMENT")));
    assert_eq!(fos[1]["assignedLocation"]["location"]["id"], "gid://shopify/Location/2");
    assert!(actions(&fos[2]).contains(&json!("REQUEST_FULFILLMENT")));
    assert!(!actions(&fos[2]).contains(&json!("CREATE_FULFILLMENT")));
    let held_body = gql(&emulator, &read(&held.order_id), json!({})).await;
    let held_fo = held_body["data"]["order"]["fulfillmentOrders"]["nodes"][0].clone();
    assert_eq!((held_fo["status"].clone(), actions(&held_fo)), (json!("ON_HOLD"), vec![json!("RELEASE_HOLD")]));

    let create = "mutation F($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } userErrors { field message } } }";
    let fulfil = |ids: Vec<Value>| json!({"f": {"lineItemsByFulfillmentOrder": ids.into_iter().map(|id| json!({"fulfillmentOrderId": id})).collect::<Vec<_>>()}});
    // Two locations in one call: refused, nothing fulfilled.
    let body = gql(&emulator, create, fulfil(vec![fos[0]["id"].clone(), fos[1]["id"].clone()])).await;
    let errors = &body["data"]["fulfillmentCreate"]["userErrors"];
    assert_eq!(errors[0]["field"], json!(["fulfillment", "lineItemsByFulfillmentOrder"]), "{body:#}");
    assert!(errors[0]["message"].as_str().unwrap().contains("same location"));
    // No CREATE_FULFILLMENT: refused.
    for fo in [fos[2]["id"].clone(), held_fo["id"].clone()] {
        let body = gql(&emulator, create, fulfil(vec![fo])).await;
        assert!(
            body["data"]["fulfillmentCreate"]["userErrors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("CREATE_FULFILLMENT")
        );
    }
    assert_eq!(emulator.platform().order_json(&order).unwrap()["fulfillment_status"], Value::Null);
    // One location a call: fulfilled.
    for fo in [&fos[0], &fos[1]] {
        let body = gql(&emulator, create, fulfil(vec![fo["id"].clone()])).await;
        assert_eq!(body["data"]["fulfillmentCreate"]["userErrors"], json!([]), "{body:#}");
    }
}

#[tokio::test]
async fn at_most_250_items() {
    let emulator = start(ShopifyConfig::fast()).await;
    let a = seed(&emulator, "A", 5);
    let items: Vec<(&Value, i64, Option<Value>)> = (0..251).map(|_| (&a, 1, Some(Value::Null))).collect();
    let body = gql(&emulator, SET, json!({"input": set_input(&emulator, &items), "key": "big"})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "MAX_INPUT_SIZE_EXCEEDED");
    assert_eq!(body["data"]["inventorySetQuantities"], Value::Null);
    assert_eq!(emulator.stock("A").unwrap(), Some(5));
}

/// `nodes(ids:)` as documented (https://shopify.dev/docs/api/admin-graphql/latest/queries/nodes): one
/// entry per id in the order asked, `null` for an unknown id, inline fragments per type; more than 250
/// ids is refused like any array input over 250 (https://shopify.dev/api/usage/limits).
#[tokio::test]
async fn nodes_by_id() {
    let emulator = start(ShopifyConfig::fast()).await;
    let a = seed(&emulator, "NODE-A", 5);
    let b = seed(&emulator, "NODE-B", 0);
    let query = "query Items($ids: [ID!]!, $location: ID!) { nodes(ids: $ids) { id \
        ... on InventoryItem { tracked inventoryLevel(locationId: $location) { quantities(names: [\"available\"]) { name quantity } } \
        variant { id sku price product { id } } } } }";
    let ids = json!([b["inventory_item_id"], "gid://shopify/InventoryItem/999999", a["inventory_item_id"]]);
    let body = gql(&emulator, query, json!({"ids": ids, "location": emulator.location_id()})).await;
    let nodes = body["data"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{body:#}");
    assert_eq!(nodes[0]["id"], b["inventory_item_id"]);
    assert_eq!(nodes[0]["variant"]["sku"], "NODE-B");
    assert_eq!(nodes[0]["variant"]["price"], "19.99");
    assert!(nodes[0]["variant"]["product"]["id"].as_str().unwrap().starts_with("gid://shopify/Product/"));
    assert_eq!(nodes[0]["inventoryLevel"]["quantities"][0], json!({"name": "available", "quantity": 0}));
    assert_eq!(nodes[1], Value::Null, "an unknown id answers null");
    assert_eq!(nodes[2]["variant"]["sku"], "NODE-A");
    assert_eq!(nodes[2]["inventoryLevel"]["quantities"][0]["quantity"], 5);

    // Variant ids resolve too.
    let variant = nodes[2]["variant"]["id"].clone();
    let body = gql(
        &emulator,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on ProductVariant { sku } } }",
        json!({"ids": [variant]}),
    )
    .await;
    assert_eq!(body["data"]["nodes"][0]["sku"], "NODE-A");

    let many: Vec<Value> = (0..251).map(|_| a["inventory_item_id"].clone()).collect();
    let body = gql(&emulator, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({"ids": many})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "MAX_INPUT_SIZE_EXCEEDED");
}

#[tokio::test]
async fn throttled_requests_apply_nothing() {
    let mut config = ShopifyConfig::fast();
    config.cost_limit = RateLimit::new(50.0, 0.001);
    config.throttled_status = 429;
    let emulator = start(config).await;
    let a = seed(&emulator, "A", 5);
    // Too expensive for the whole bucket.
    let query = json!({"query": "{ productVariants(first: 250) { nodes { id inventoryItem { id } } } }"});
    let (status, body, _) = post(&emulator, Some(emulator.access_token()), &query).await;
    assert_eq!(
        (status, &body["errors"][0]["extensions"]["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("THROTTLED"))
    );
    emulator.platform().cost_bucket().set_available(5.0);
    let input = set_input(&emulator, &[(&a, 9, Some(Value::Null))]);
    let (status, body, _) = post(
        &emulator,
        Some(emulator.access_token()),
        &json!({"query": SET, "variables": {"input": input, "key": "t"}}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["errors"][0]["message"], "Throttled");
    // The mutation 10, its payload's objects `inventoryAdjustmentGroup`, `changes`, `userErrors` 1 each.
    assert_eq!(body["extensions"]["cost"]["requestedQueryCost"], 13);
    assert_eq!(body["extensions"]["cost"]["actualQueryCost"], Value::Null);
    assert_eq!(body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"], 50.0);
    assert_eq!(emulator.stock("A").unwrap(), Some(5));
    // Once the bucket holds enough, the same key is still fresh.
    emulator.platform().cost_bucket().set_available(50.0);
    let body = gql(&emulator, SET, json!({"input": input, "key": "t"})).await;
    assert_eq!(body["data"]["inventorySetQuantities"]["userErrors"], json!([]));
    assert_eq!(emulator.stock("A").unwrap(), Some(9));
    let left = body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"].as_f64().unwrap();
    assert!((36.0..=38.0).contains(&left), "50 less the 13 points of the mutation: {left}");
}

#[tokio::test]
async fn orders_fulfilment_and_prices() {
    let emulator = start(ShopifyConfig::fast()).await;
    let ids = seed(&emulator, "A", 10);
    let before = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(5)).unwrap();
    let kept = emulator.place_order(PlaceOrder::new("A", 3)).unwrap();
    let cancelled = emulator.place_order(PlaceOrder::new("A", 2)).unwrap();
    assert_eq!(emulator.stock("A").unwrap(), Some(5));
    assert_eq!(emulator.platform().committed("A"), Some(5));
    emulator.cancel_order(&cancelled.order_id).unwrap();
    assert_eq!(emulator.stock("A").unwrap(), Some(7));
    assert!(emulator.cancel_order(&cancelled.order_id).is_err());
    assert!(emulator.place_order(PlaceOrder::new("A", 8)).is_err(), "no overselling");
    let query = format!(
        "{{ orders(first: 10, sortKey: UPDATED_AT, query: \"updated_at:>='{before}'\") {{ nodes {{ id name cancelledAt updatedAt displayFinancialStatus displayFulfillmentStatus lineItems(first: 5) {{ nodes {{ id sku quantity }} }} fulfillmentOrders(first: 5) {{ nodes {{ id status }} }} }} }} }}"
    );
    let body = gql(&emulator, &query, json!({})).await;
    let orders = body["data"]["orders"]["nodes"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 2);
    let open = orders.iter().find(|o| o["id"] == format!("gid://shopify/Order/{}", kept.order_id)).unwrap();
    assert_eq!(open["cancelledAt"], Value::Null);
    assert_eq!(open["lineItems"]["nodes"][0]["sku"], "A");
    assert_eq!(open["lineItems"]["nodes"][0]["quantity"], 3);
    let gone = orders.iter().find(|o| o["cancelledAt"] != Value::Null).unwrap();
    assert_eq!(gone["fulfillmentOrders"]["nodes"][0]["status"], "CLOSED");
    let future = "{ orders(first: 5, query: \"updated_at:>'2999-01-01T00:00:00Z'\") { nodes { id } } }";
    assert_eq!(gql(&emulator, future, json!({})).await["data"]["orders"]["nodes"], json!([]));
    // Fulfil with tracking.
    let fo = open["fulfillmentOrders"]["nodes"][0]["id"].clone();
    let body = gql(
        &emulator,
        "mutation F($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id status trackingInfo { number company url } } userErrors { field message } } }",
        json!({"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo}], "trackingInfo": {"number": "1Z999", "company": "UPS", "url": "https://ups.example/1Z999"}}}),
    )
    .await;
    let payload = &body["data"]["fulfillmentCreate"];
    assert_eq!(payload["userErrors"], json!([]), "{body:#}");
    assert_eq!(payload["fulfillment"]["trackingInfo"][0]["number"], "1Z999");
    assert_eq!(emulator.platform().committed("A"), Some(0));
    let again = gql(
        &emulator,
        "mutation F($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { userErrors { message } } }",
        json!({"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo}]}}),
    )
    .await;
    assert_ne!(again["data"]["fulfillmentCreate"]["userErrors"], json!([]));
    let status = gql(
        &emulator,
        &format!("{{ order(id: \"gid://shopify/Order/{}\") {{ displayFulfillmentStatus }} }}", kept.order_id),
        json!({}),
    )
    .await;
    assert_eq!(status["data"]["order"]["displayFulfillmentStatus"], "FULFILLED");
    // Prices.
    let body = gql(
        &emulator,
        "mutation P($p: ID!, $v: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $p, variants: $v) { productVariants { id price compareAtPrice } userErrors { code field message } } }",
        json!({"p": ids["product_id"], "v": [{"id": ids["variant_id"], "price": "24.50", "compareAtPrice": "30.00"}]}),
    )
    .await;
    assert_eq!(body["data"]["productVariantsBulkUpdate"]["productVariants"][0]["price"], "24.50", "{body:#}");
    assert_eq!(emulator.platform().price("A"), Some((Decimal::new(2450, 2), Some(Decimal::new(3000, 2)))));
    let body = gql(
        &emulator,
        "mutation P($p: ID!, $v: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $p, variants: $v) { userErrors { code field } } }",
        json!({"p": ids["product_id"], "v": [{"id": "gid://shopify/ProductVariant/1", "price": "1.00"}]}),
    )
    .await;
    assert_eq!(body["data"]["productVariantsBulkUpdate"]["userErrors"][0]["code"], "PRODUCT_VARIANT_DOES_NOT_EXIST");
}

/// `inventory_levels/update` payload, the shape of `fixtures/shopify/rest_inventory_level.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryLevelPayload {
    inventory_item_id: u64,
    location_id: u64,
    available: i64,
    updated_at: String,
    #[serde(default)]
    admin_graphql_api_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RestLineItem {
    id: u64,
    sku: String,
    quantity: i64,
    variant_id: u64,
    price: String,
}

/// The fields of an `orders/*` payload (REST order) an adapter reads.
#[derive(Debug, Deserialize)]
struct RestOrder {
    id: u64,
    name: String,
    created_at: String,
    updated_at: String,
    cancelled_at: Option<String>,
    financial_status: String,
    line_items: Vec<RestLineItem>,
}

#[tokio::test]
async fn webhooks_are_signed_duplicated_and_shaped_like_the_fixtures() {
    let mut config = ShopifyConfig::fast();
    config.webhooks.duplicates = Duplicates::Always;
    config.new_style_headers = true;
    let emulator = start(config).await;
    let (url, got) = receiver().await;
    emulator.register_webhook(RegisterWebhook::new(&url, "API_SECRET_KEY")).unwrap();
    let a = seed(&emulator, "A", 5);
    let order = emulator.place_order(PlaceOrder::new("A", 2)).unwrap();
    emulator.cancel_order(&order.order_id).unwrap();
    let input = set_input(&emulator, &[(&a, 11, Some(json!(5)))]);
    gql(&emulator, SET, json!({"input": input, "key": "w"})).await;
    emulator.webhooks_idle().await;
    let got = got.lock().unwrap().clone();
    let topics: Vec<String> = got.iter().map(|(h, _)| h["x-shopify-topic"].to_str().unwrap().to_owned()).collect();
    assert_eq!(
        topics,
        [
            "orders/create",
            "orders/create",
            "inventory_levels/update",
            "inventory_levels/update",
            "orders/cancelled",
            "orders/cancelled",
            "orders/updated",
            "orders/updated",
            "inventory_levels/update",
            "inventory_levels/update",
            "inventory_levels/update",
            "inventory_levels/update",
        ]
    );
    for pair in got.chunks(2) {
        assert_eq!(pair[0].0["x-shopify-event-id"], pair[1].0["x-shopify-event-id"], "duplicates share the event id");
        assert_eq!(pair[0].1, pair[1].1);
    }
    for (headers, body) in &got {
        let signature = headers["x-shopify-hmac-sha256"].to_str().unwrap();
        assert!(webhook::verify_base64(b"API_SECRET_KEY", body, signature));
        assert!(!webhook::verify_base64(b"other", body, signature));
        assert_eq!(headers["shopify-hmac-sha256"], headers["x-shopify-hmac-sha256"]);
        assert_eq!(headers["x-shopify-shop-domain"], "sandbox-shop.myshopify.com");
        assert_eq!(headers["x-shopify-api-version"], "2026-07");
        assert!(headers.contains_key("x-shopify-webhook-id") && headers.contains_key("x-shopify-triggered-at"));
    }
    let levels: Vec<InventoryLevelPayload> = got
        .iter()
        .filter(|(h, _)| h["x-shopify-topic"] == "inventory_levels/update")
        .map(|(_, body)| serde_json::from_slice(body).unwrap())
        .collect();
    assert_eq!(levels.iter().map(|l| l.available).collect::<Vec<_>>(), [3, 3, 5, 5, 11, 11]);
    assert!(levels.iter().all(|l| l.updated_at.parse::<jiff::Timestamp>().is_ok()));
    assert!(levels[0].admin_graphql_api_id.as_deref().unwrap().starts_with("gid://shopify/InventoryLevel/"));
    assert_eq!(
        format!("gid://shopify/InventoryItem/{}", levels[0].inventory_item_id),
        a["inventory_item_id"].as_str().unwrap()
    );
    assert_eq!(format!("gid://shopify/Location/{}", levels[0].location_id), emulator.location_id());
    let created: RestOrder = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(created.id.to_string(), order.order_id);
    assert_eq!((created.line_items[0].sku.as_str(), created.line_items[0].quantity), ("A", 2));
    assert!(created.cancelled_at.is_none() && created.name.starts_with('#'));
    let cancelled: RestOrder = serde_json::from_slice(&got[4].1).unwrap();
    assert!(cancelled.cancelled_at.is_some());
    assert!(!created.created_at.is_empty() && !created.updated_at.is_empty() && !created.financial_status.is_empty());
    assert!(
        created.line_items[0].id > 0 && created.line_items[0].variant_id > 0 && !created.line_items[0].price.is_empty()
    );
    // The fixtures decode into the same types.
    if let Some(path) = fixture("rest_inventory_level.json") {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let level: InventoryLevelPayload = serde_json::from_value(value["inventory_level"].clone()).unwrap();
        assert_eq!(level.available, 6);
    }
    if let Some(path) = fixture("rest_order.json") {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let order: RestOrder = serde_json::from_value(value["order"].clone()).unwrap();
        assert!(!order.line_items.is_empty());
    }
}

#[tokio::test]
async fn every_fault_kind() {
    let emulator = start(ShopifyConfig::fast()).await;
    let a = seed(&emulator, "A", 5);
    let b = seed(&emulator, "B", 5);
    let body = json!({"query": "{ shop { id } }"});
    let token = emulator.access_token().to_owned();
    emulator.inject_fault(Fault::too_many_requests(2));
    let response = reqwest::Client::new()
        .post(emulator.graphql_url())
        .header("X-Shopify-Access-Token", &token)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    emulator.inject_fault(Fault::malformed());
    let (status, parsed, _) = post(&emulator, Some(&token), &body).await;
    assert_eq!((status, parsed), (StatusCode::OK, Value::Null));
    emulator.inject_fault(Fault::drop_connection());
    let dropped = reqwest::Client::new()
        .post(emulator.graphql_url())
        .header("X-Shopify-Access-Token", &token)
        .body(body.to_string())
        .send()
        .await;
    assert!(dropped.is_err());
    emulator.inject_fault(Fault::delay(Duration::from_millis(50)));
    let (status, _, _) = post(&emulator, Some(&token), &body).await;
    assert_eq!(status, StatusCode::OK);
    // A partial batch fails items 2, 4, … and, Shopify being all-or-nothing, applies nothing.
    emulator.inject_fault(Fault::partial_batch());
    let input = set_input(&emulator, &[(&a, 1, Some(Value::Null)), (&b, 1, Some(Value::Null))]);
    let answer = gql(&emulator, SET, json!({"input": input, "key": "p"})).await;
    let errors = &answer["data"]["inventorySetQuantities"]["userErrors"];
    assert_eq!(errors.as_array().unwrap().len(), 1);
    assert_eq!(errors[0]["field"], json!(["input", "quantities", "1"]));
    assert_eq!(emulator.stock("A").unwrap(), Some(5));
    // The same key succeeds afterwards: a faulted answer is not remembered.
    let answer = gql(&emulator, SET, json!({"input": input, "key": "p"})).await;
    assert_eq!(answer["data"]["inventorySetQuantities"]["userErrors"], json!([]));
    assert_eq!(emulator.stock("A").unwrap(), Some(1));
    let faults: Vec<Option<String>> = emulator.requests().iter().map(|r| r.fault.clone()).collect();
    assert_eq!(
        faults[..4],
        [Some("status".into()), Some("malformed".into()), Some("drop".into()), Some("delay".into())]
    );
}

#[tokio::test]
async fn control_surface_over_http() {
    let emulator = start(ShopifyConfig::fast()).await;
    let client = reqwest::Client::new();
    let base = emulator.base_url();
    let seeded = client
        .post(format!("{base}/_sandbox/products"))
        .body(json!({"sku": "H", "quantity": 4, "price": "9.99"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let ids: Value = serde_json::from_slice(&seeded.bytes().await.unwrap()).unwrap();
    assert!(ids["variant_id"].as_str().unwrap().starts_with("gid://shopify/ProductVariant/"));
    let placed: Value = serde_json::from_slice(
        &client
            .post(format!("{base}/_sandbox/orders"))
            .body(json!({"sku": "H", "quantity": 1}).to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let stock: Value = serde_json::from_slice(
        &client.get(format!("{base}/_sandbox/stock/H")).send().await.unwrap().bytes().await.unwrap(),
    )
    .unwrap();
    assert_eq!(stock, json!({"sku": "H", "quantity": 3}));
    let order_id = placed["order_id"].as_str().unwrap();
    let cancel = client.post(format!("{base}/_sandbox/orders/{order_id}/cancel")).send().await.unwrap();
    assert_eq!(cancel.status(), StatusCode::OK);
    assert_eq!(emulator.stock("H").unwrap(), Some(4));
    let channel = client
        .post(format!("{base}/_sandbox/orders"))
        .body(json!({"sku": "H", "quantity": 1, "fulfilment": "channel"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(channel.status(), StatusCode::NOT_IMPLEMENTED);
    let untracked = emulator.seed_product(SeedProduct::new("U", 3, Decimal::ONE).with("tracked", false)).unwrap();
    assert_eq!(emulator.stock("U").unwrap(), None);
    let input = json!({"name": "available", "reason": "correction", "quantities": [{"inventoryItemId": untracked["inventory_item_id"], "locationId": emulator.location_id(), "quantity": 1, "changeFromQuantity": null}]});
    let body = gql(&emulator, SET, json!({"input": input, "key": "u"})).await;
    // Untracked is described by no code of the enum (`NON_MUTABLE_INVENTORY_ITEM` is a bundle parent's
    // "not allowed to be adjusted via API"): refused with `code: null`, naming the item.
    let refusal = &body["data"]["inventorySetQuantities"]["userErrors"][0];
    assert_eq!(refusal["code"], Value::Null, "{body}");
    assert_eq!(refusal["field"], json!(["input", "quantities", "0", "inventoryItemId"]));
    let info = emulator.info();
    assert_eq!(info["access_token"], emulator.access_token());
    assert_eq!(info["location_id"], emulator.location_id());
}

/// shopify.dev "Cost calculation": every field costs what it returns (object 1, scalar 0), a mutation 10;
/// a single query may cost at most 1,000. So a mutation's payload objects add to its 10: 100 aliased
/// `inventoryAdjustQuantities` selecting `inventoryAdjustmentGroup { changes { item } }` and
/// `userErrors` cost 100 × 14 = 1,400 and are refused before anything runs; 71 of them (994) are not.
#[tokio::test]
async fn aliased_mutations_are_priced_with_their_payload_objects() {
    let aliased = |n: usize| {
        let vars: Vec<String> =
            (0..n).map(|i| format!("$a{i}: InventoryAdjustQuantitiesInput!, $k{i}: String!")).collect();
        let fields: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "a{i}: inventoryAdjustQuantities(input: $a{i}) @idempotent(key: $k{i}) {{ \
                     inventoryAdjustmentGroup {{ id changes(quantityNames: [\"available\"]) {{ name delta item {{ id }} }} }} \
                     userErrors {{ code field message }} }}"
                )
            })
            .collect();
        format!("mutation Keyed({}) {{ {} }}", vars.join(", "), fields.join(" "))
    };
    let emulator = start(ShopifyConfig::fast()).await;
    let seeded = emulator.seed_product(SeedProduct::new("C", 5, Decimal::ONE)).unwrap();
    let variables = |n: usize| {
        let mut vars = serde_json::Map::new();
        for i in 0..n {
            vars.insert(format!("a{i}"), json!({"name": "available", "reason": "correction", "changes": [
                {"inventoryItemId": seeded["inventory_item_id"], "locationId": emulator.location_id(), "delta": 1, "changeFromQuantity": null}]}));
            vars.insert(format!("k{i}"), json!(format!("cost-{n}-{i}")));
        }
        Value::Object(vars)
    };
    let refused = gql(&emulator, &aliased(100), variables(100)).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "MAX_COST_EXCEEDED", "{refused:#}");
    assert_eq!(refused["extensions"]["cost"]["requestedQueryCost"], 100 * 14);
    assert_eq!(emulator.stock("C").unwrap(), Some(5), "nothing ran");
    let admitted = gql(&emulator, &aliased(71), variables(71)).await;
    assert!(admitted.get("errors").is_none(), "{admitted:#}");
    assert_eq!(admitted["extensions"]["cost"]["requestedQueryCost"], 71 * 14);
    assert_eq!(emulator.stock("C").unwrap(), Some(5 + 71));
}

/// `currentAppInstallation { accessScopes { handle } }` answers the configured scopes, and without
/// `read_all_orders` orders created more than 60 days ago are invisible to `orders` and `order(id:)`
/// (shopify.dev `Order`: "Only the last 60 days' worth of orders … are accessible … by default").
#[tokio::test]
async fn access_scopes_and_the_60_day_orders_window() {
    for all in [true, false] {
        let mut config = ShopifyConfig::fast();
        if !all {
            config.access_scopes.retain(|s| s != "read_all_orders");
        }
        let emulator = start(config).await;
        seed(&emulator, "A", 10);
        let old = emulator.place_order(PlaceOrder::new("A", 1)).unwrap();
        let recent = emulator.place_order(PlaceOrder::new("A", 1)).unwrap();
        emulator.platform().backdate_order(&old.order_id, 61).unwrap();
        let body = gql(&emulator, "{ currentAppInstallation { accessScopes { handle } } }", json!({})).await;
        let scopes = body["data"]["currentAppInstallation"]["accessScopes"].as_array().unwrap().clone();
        let handles: Vec<&str> = scopes.iter().map(|s| s["handle"].as_str().unwrap()).collect();
        assert_eq!(scopes[0], json!({"handle": handles[0]}), "only the selection: {body:#}");
        assert_eq!(handles.contains(&"read_all_orders"), all, "{body:#}");
        for needed in ["read_products", "write_inventory", "read_orders", "write_merchant_managed_fulfillment_orders"] {
            assert!(handles.contains(&needed), "{needed} granted by default: {body:#}");
        }
        let gid = |id: &str| format!("gid://shopify/Order/{id}");
        let body = gql(&emulator, "{ orders(first: 10) { nodes { id } } }", json!({})).await;
        let ids: Vec<&str> =
            body["data"]["orders"]["nodes"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&gid(&recent.order_id).as_str()), "{body:#}");
        assert_eq!(ids.contains(&gid(&old.order_id).as_str()), all, "all={all}: {body:#}");
        let one =
            gql(&emulator, "query O($id: ID!) { order(id: $id) { id } }", json!({"id": gid(&old.order_id)})).await;
        assert_eq!(one["data"]["order"].is_null(), !all, "{one:#}");
    }
}
