//! Adobe's OpenAPI of the 2.4.9 admin REST API (`../shared/fixtures/magento/admin-schema-2.4.9.yaml`):
//! every operation the adapter calls exists with the parameters and body properties it sends, and
//! responses built from the documented schemas (every property filled) decode through the public API.
//! Skipped with a message when the fixture is absent.
#![cfg(feature = "magento")]

use std::path::{Path, PathBuf};

use channel_core::{Channel, ChannelExt, OrderCursor};
use channel_marketplaces::magento::{Magento, MagentoConfig};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn spec() -> Option<Value> {
    let file: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/magento/admin-schema-2.4.9.yaml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!("skipped: {} not found", file.display());
        return None;
    };
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("the OpenAPI parses");
    Some(serde_json::to_value(yaml).expect("as JSON"))
}

fn definition<'a>(spec: &'a Value, reference: &str) -> &'a Value {
    let name = reference.trim_start_matches("#/definitions/");
    spec.pointer(&format!("/definitions/{name}")).unwrap_or_else(|| panic!("definition {name}"))
}

/// An instance of a schema with every property filled (`*_at` strings are dates; depth-limited).
fn sample(spec: &Value, schema: &Value, name: &str, depth: usize) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return if depth > 9 { json!({}) } else { sample(spec, definition(spec, r), name, depth + 1) };
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") | None => {
            let mut map = Map::new();
            for (k, v) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
                map.insert(k.clone(), sample(spec, v, k, depth + 1));
            }
            Value::Object(map)
        }
        Some("array") => json!([sample(spec, schema.get("items").unwrap_or(&json!({})), name, depth + 1)]),
        Some("integer") => json!(if name == "status" { 1 } else { 3 }),
        Some("number") => json!(3.0),
        Some("boolean") => json!(true),
        _ if name.ends_with("_at") => json!("2026-12-01 10:00:00"),
        _ if name == "state" => json!("processing"),
        _ if name.ends_with("currency_code") => json!("USD"),
        _ if name == "type_id" || name == "product_type" => json!("simple"),
        _ => json!("SKU-1"),
    }
}

fn response_of(spec: &Value, op_path: &str, verb: &str) -> Value {
    let schema = spec
        .pointer(&format!("/paths/{}/{verb}/responses/200/schema", op_path.replace('~', "~0").replace('/', "~1")))
        .unwrap_or_else(|| panic!("{verb} {op_path} has a 200 schema"));
    sample(spec, schema, "", 0)
}

fn operation<'a>(spec: &'a Value, op_path: &str, verb: &str) -> &'a Value {
    spec.pointer(&format!("/paths/{}/{verb}", op_path.replace('/', "~1")))
        .unwrap_or_else(|| panic!("{verb} {op_path} is documented"))
}

fn properties(spec: &Value, schema: &Value) -> Vec<String> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => definition(spec, r),
        None => schema,
    };
    schema.get("properties").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn every_operation_and_field_the_adapter_sends_is_documented() {
    let Some(spec) = spec() else { return };
    for (p, verb) in [
        ("/V1/store/storeConfigs", "get"),
        ("/V1/products", "get"),
        ("/V1/inventory/source-items", "get"),
        ("/V1/inventory/source-items", "post"),
        ("/V1/products/base-prices", "post"),
        ("/V1/orders", "get"),
        ("/V1/order/{orderId}/ship", "post"),
        ("/V1/inventory/get-product-salable-quantity/{sku}/{stockId}", "get"),
    ] {
        let op = operation(&spec, p, verb);
        if verb == "get" && p != "/V1/store/storeConfigs" && !p.contains("salable") {
            let names: Vec<&str> =
                op["parameters"].as_array().unwrap().iter().filter_map(|x| x["name"].as_str()).collect();
            for wanted in [
                "searchCriteria[pageSize]",
                "searchCriteria[currentPage]",
                "searchCriteria[sortOrders][0][field]",
                "searchCriteria[filterGroups][0][filters][0][conditionType]",
            ] {
                assert!(names.contains(&wanted), "{p}: {wanted}");
            }
        }
    }
    let body = |p: &str| {
        let params = operation(&spec, p, "post")["parameters"].as_array().unwrap().clone();
        params.into_iter().find(|x| x["in"] == "body").map(|x| x["schema"].clone()).unwrap()
    };
    let save = body("/V1/inventory/source-items");
    assert_eq!(save["required"], json!(["sourceItems"]));
    let item = properties(&spec, &save["properties"]["sourceItems"]["items"]);
    for f in ["sku", "source_code", "quantity", "status"] {
        assert!(item.contains(&f.to_owned()), "source item {f}");
    }
    let prices = body("/V1/products/base-prices");
    let price = properties(&spec, &prices["properties"]["prices"]["items"]);
    for f in ["sku", "price", "store_id"] {
        assert!(price.contains(&f.to_owned()), "base price {f}");
    }
    let ship = body("/V1/order/{orderId}/ship");
    for f in ["items", "notify", "appendComment", "tracks"] {
        assert!(ship["properties"].get(f).is_some(), "ship {f}");
    }
    let track = properties(&spec, &ship["properties"]["tracks"]["items"]);
    for f in ["track_number", "title", "carrier_code"] {
        assert!(track.contains(&f.to_owned()), "track {f}");
    }
    // The ship answer is the shipment id, an integer; base-prices answers the failure list.
    assert_eq!(operation(&spec, "/V1/order/{orderId}/ship", "post")["responses"]["200"]["schema"]["type"], "integer");
    let failures = &operation(&spec, "/V1/products/base-prices", "post")["responses"]["200"]["schema"];
    assert_eq!(failures["type"], "array");
    let failure = properties(&spec, &failures["items"]);
    assert!(failure.contains(&"message".to_owned()) && failure.contains(&"parameters".to_owned()));
}

#[tokio::test]
async fn documented_responses_decode() {
    let Some(spec) = spec() else { return };
    let server = MockServer::start().await;
    let mount = |p: &'static str, verb: &'static str, body: Value| {
        Mock::given(method(verb.to_uppercase().as_str()))
            .and(path(format!("/rest/all{p}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
    };
    let mut products = response_of(&spec, "/V1/products", "get");
    products["total_count"] = json!(1);
    let mut items = response_of(&spec, "/V1/inventory/source-items", "get");
    items["items"][0]["source_code"] = json!("default");
    let mut orders = response_of(&spec, "/V1/orders", "get");
    orders["total_count"] = json!(1);
    let stores = response_of(&spec, "/V1/store/storeConfigs", "get");
    for (p, verb, body) in [
        ("/V1/products", "get", products),
        ("/V1/inventory/source-items", "get", items),
        ("/V1/orders", "get", orders),
        ("/V1/store/storeConfigs", "get", stores),
    ] {
        mount(p, verb, body).mount(&server).await;
    }
    let channel = Magento::new(MagentoConfig::new(server.uri(), "t").max_attempts(1)).unwrap();
    let id = channel.test_connection().await.unwrap();
    assert_eq!(id.details.get("currency").map(String::as_str), Some("USD"));
    let listings = channel.all_listings().await.unwrap();
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].channel_sku, "SKU-1");
    let since: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    let cursor = OrderCursor::new(since);
    let pages: Vec<_> = channel.orders_since(&cursor).try_collect().await.unwrap();
    let order = &pages[0].orders[0];
    assert_eq!(order.lines[0].channel_sku, "SKU-1");
    assert_eq!(order.updated_at, "2026-12-01T10:00:00Z".parse().unwrap());
}
