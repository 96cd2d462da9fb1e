//! The wiremock harness the request-level tests share: a shop that answers the lookup, the adapter pointed at
//! the mock server, and a matcher and reader for GraphQL documents.

// Each test file compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use std::time::Duration;

use channel_core::secrecy::SecretString;
use channel_shopify::{Shopify, ShopifyConfig, documents};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

pub(crate) const GQL: &str = "/admin/api/2026-07/graphql.json";

/// The `extensions.cost` of an answer: `requested` points asked, `available` left, 100 restored a second.
pub(crate) fn cost(requested: u32, available: u32) -> Value {
    json!({"cost": {"requestedQueryCost": requested, "actualQueryCost": requested,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0}}})
}

/// A successful GraphQL answer carrying `data`.
pub(crate) fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"data": data, "extensions": cost(10, 1990)}))
}

/// Matches a GraphQL request whose document is `query`.
pub(crate) struct Document(String);
impl Match for Document {
    fn matches(&self, r: &Request) -> bool {
        serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| v["query"].as_str().map(|q| q == self.0))
            == Some(true)
    }
}

pub(crate) fn doc(query: &str) -> Document {
    Document(query.to_owned())
}

/// The shop and location lookup the adapter makes first, answered with shop 7 and location 1; not mounted,
/// so that a test can say how often it must be asked.
pub(crate) fn shop_lookup() -> Mock {
    Mock::given(method("POST"))
        .and(path(GQL))
        .and(body_json(json!({"query": documents::SHOP_AND_LOCATIONS, "variables": {}})))
        .respond_with(ok(json!({
            "shop": {"id": "gid://shopify/Shop/7", "name": "Mugs", "myshopifyDomain": "mugs.myshopify.com", "currencyCode": "ZAR"},
            "locations": {"nodes": [{"id": "gid://shopify/Location/1", "name": "Main"}]}
        })))
}

/// Mounts the shop lookup, expected exactly once.
pub(crate) async fn shop(server: &MockServer) {
    shop_lookup().expect(1).mount(server).await;
}

/// The adapter against `server`, timing out after 1 s (a test delays an answer past it).
pub(crate) fn adapter(server: &MockServer) -> Shopify {
    adapter_with_timeout(server, Duration::from_secs(1))
}

pub(crate) fn adapter_with_timeout(server: &MockServer, timeout: Duration) -> Shopify {
    Shopify::new(
        ShopifyConfig::new("mugs.myshopify.com", SecretString::from("shpat_secret"))
            .base_url(server.uri())
            .timeout(timeout)
            .user_error_retries(5, Duration::ZERO),
    )
    .unwrap()
}

/// The bodies of the requests sent with document `query`, in order.
pub(crate) async fn sent(server: &MockServer, query: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| doc(query).matches(r))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}
