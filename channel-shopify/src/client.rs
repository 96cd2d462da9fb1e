//! The Admin GraphQL calls: one `POST /admin/api/{version}/graphql.json` per operation, over the shared
//! transport. `THROTTLED` answers (HTTP 200 or 429) are retried by the transport itself: [`throttled`]
//! classifies them and sizes the wait from `extensions.cost.throttleStatus` (never hard-coded).

pub mod documents;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use channel_core::http::{Auth, HeaderMap, HeaderName, HttpClient, Retry, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::{HTTP_DEFAULTS, ShopifyConfig};
use crate::error::ShopifyError;
use crate::wire;
use documents as doc;

/// The cost bucket as Shopify last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ThrottleStatus {
    /// Bucket size in points.
    pub maximum_available: f64,
    /// Points available when the answer was sent.
    pub currently_available: f64,
    /// Points restored per second.
    pub restore_rate: f64,
}

/// How long the restore rate needs to refill `deficit` points.
pub(crate) fn wait_for(deficit: f64, restore_rate: f64) -> Duration {
    if !deficit.is_finite() || deficit <= 0.0 {
        return Duration::ZERO;
    }
    if !restore_rate.is_finite() || restore_rate <= 0.0 {
        return Duration::from_secs(1);
    }
    Duration::try_from_secs_f64(deficit / restore_rate).unwrap_or(Duration::from_secs(60))
}

/// The wait until the bucket can pay for the answered query again, from `extensions.cost`.
fn cost_wait(envelope: &wire::Envelope) -> Option<Duration> {
    let cost = envelope.cost()?;
    let (requested, status) = (cost.requested_query_cost?, cost.throttle_status?);
    Some(wait_for(requested - status.currently_available, status.restore_rate))
}

/// The transport's throttle classifier for Shopify: an answer whose `errors[].extensions.code` is
/// `THROTTLED`, or any 429, is a refusal; the wait is exactly what the restore rate needs for the query's
/// cost, else the `Retry-After`, else one second.
pub(crate) fn throttled(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Retry> {
    let envelope: Option<wire::Envelope> = serde_json::from_slice(body).ok();
    let code_says = envelope.as_ref().and_then(wire::Envelope::error_code).as_deref() == Some("THROTTLED");
    if !code_says && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header_wait = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok());
    let wait = envelope.as_ref().and_then(cost_wait).or(header_wait).unwrap_or(Duration::from_secs(1));
    Some(Retry::after(wait).reason("THROTTLED"))
}

/// The GraphQL endpoint of one shop.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) http: HttpClient,
    path: String,
    /// Attempts in all for a call Shopify keeps answering `THROTTLED` (`max_throttle_retries` + 1).
    throttle_attempts: u32,
    last: Arc<Mutex<Option<ThrottleStatus>>>,
}

impl Client {
    /// The client for `config`'s shop, authenticated with `X-Shopify-Access-Token`.
    pub(crate) fn new(config: &ShopifyConfig) -> Result<Self, ShopifyError> {
        let token = HeaderName::from_static("x-shopify-access-token");
        let builder = HttpClient::builder()
            .name(format!("shopify:{}", config.shop_domain))
            .auth(Auth::header(token, config.access_token.clone()));
        // The origin is the shop's own: `configure`'s default base URL is replaced by it.
        let http = config.http.configure(builder, &HTTP_DEFAULTS).base_url(config.origin()).build()?;
        Ok(Self {
            http,
            path: config.graphql_path(),
            throttle_attempts: config.max_throttle_retries.saturating_add(1),
            last: Arc::default(),
        })
    }

    pub(crate) fn last_throttle_status(&self) -> Option<ThrottleStatus> {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `query` with `variables`; the `data` object decoded as `T`. `idempotent`: the transport may
    /// resend it after a timeout or 5xx (queries, absolute writes, and mutations carrying an `@idempotent`
    /// key, whose body — key included — is serialized once, so every resend carries the same key).
    async fn run<T: DeserializeOwned>(
        &self,
        operation: &str,
        query: &str,
        variables: Value,
        idempotent: bool,
    ) -> Result<T, ShopifyError> {
        let response = self
            .http
            .post(&self.path)
            .json(&json!({"query": query, "variables": variables}))
            .header("Accept", "application/json")
            .idempotent(idempotent)
            .operation(operation)
            .classify_throttle(throttled)
            .max_throttle_attempts(self.throttle_attempts)
            .send()
            .await
            .map_err(ShopifyError::from_transport)?;
        let envelope: wire::Envelope = response.json()?;
        if let Some(t) = envelope.cost().and_then(|c| c.throttle_status) {
            *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
        }
        // Pace the next call of the same cost so it is not refused.
        if let Some(wait) = cost_wait(&envelope).filter(|w| !w.is_zero()) {
            self.http.pause_for(wait);
        }
        if let Some(errors) = envelope.errors() {
            let code = envelope.error_code().unwrap_or_else(|| "GRAPHQL_ERROR".to_owned());
            return Err(ShopifyError::GraphQl { code, message: wire::error_message(errors) });
        }
        let data = envelope.data.ok_or_else(|| ShopifyError::unexpected(operation, "no data in the answer"))?;
        serde_json::from_value(data).map_err(|e| {
            ShopifyError::Http(
                channel_core::Error::decode(format!("shopify: {operation}: the data is not the documented shape"))
                    .with_source(e),
            )
        })
    }

    /// `shop` and `location(id:)` — Admin GraphQL `QueryRoot.shop`, `QueryRoot.location`.
    pub(crate) async fn shop_and_location(&self, location: &str) -> Result<wire::ShopAndLocations, ShopifyError> {
        self.run("shop", doc::SHOP_AND_LOCATION, json!({"location": location}), true).await
    }

    /// `shop` and `locations(first: 250)` — Admin GraphQL `QueryRoot.shop`, `QueryRoot.locations`.
    pub(crate) async fn shop_and_locations(&self) -> Result<wire::ShopAndLocations, ShopifyError> {
        self.run("shop", doc::SHOP_AND_LOCATIONS, json!({}), true).await
    }

    /// `currentAppInstallation { accessScopes { handle } }` — the scope handles granted to this app.
    pub(crate) async fn access_scopes(&self) -> Result<Vec<String>, ShopifyError> {
        let data: wire::CurrentInstallation =
            self.run("currentAppInstallation", doc::ACCESS_SCOPES, json!({}), true).await?;
        let install = data
            .current_app_installation
            .ok_or_else(|| ShopifyError::unexpected("currentAppInstallation", "no installation in the answer"))?;
        Ok(install.access_scopes.into_iter().map(|s| s.handle).collect())
    }

    /// `productVariants(first:, after:)` — Admin GraphQL `QueryRoot.productVariants`, cursor-paged.
    pub(crate) async fn product_variants(
        &self,
        first: usize,
        after: Option<&str>,
        location: &str,
    ) -> Result<wire::Connection<wire::Variant>, ShopifyError> {
        let vars = json!({"first": first, "after": after, "location": location});
        let data: wire::ProductVariants = self.run("productVariants", doc::VARIANTS, vars, true).await?;
        data.product_variants.ok_or_else(|| ShopifyError::unexpected("productVariants", "no productVariants"))
    }

    /// `nodes(ids:)` on inventory item ids (at most [`doc::NODES_MAX`]) — Admin GraphQL `QueryRoot.nodes`.
    pub(crate) async fn inventory_items(
        &self,
        ids: &[String],
        location: &str,
    ) -> Result<Vec<Option<wire::InventoryItem>>, ShopifyError> {
        let vars = json!({"ids": ids, "location": location});
        let data: wire::Nodes<wire::InventoryItem> = self.run("nodes", doc::INVENTORY_ITEMS, vars, true).await?;
        Ok(data.nodes)
    }

    /// `inventorySetQuantities` or `inventoryAdjustQuantities` (`field`) with one `@idempotent(key:)` —
    /// Admin GraphQL mutations of those names. The payload, `None` when Shopify answered none.
    pub(crate) async fn inventory_quantities(
        &self,
        field: &str,
        document: &str,
        input: Value,
        key: &str,
    ) -> Result<wire::InventoryPayload, ShopifyError> {
        let mut data: wire::Aliased<wire::InventoryPayload> =
            self.run(field, document, json!({"input": input, "key": key}), true).await?;
        data.remove(field)
            .flatten()
            .ok_or_else(|| ShopifyError::unexpected(field, format!("no {field} payload in the answer")))
    }

    /// `inventoryAdjustQuantities` once per keyed adjustment, aliased `a0`, `a1`, … (variables `$a<n>` input,
    /// `$k<n>` key) — Admin GraphQL `inventoryAdjustQuantities` with `@idempotent`.
    pub(crate) async fn inventory_adjust_keyed(
        &self,
        count: usize,
        variables: serde_json::Map<String, Value>,
    ) -> Result<wire::Aliased<wire::InventoryPayload>, ShopifyError> {
        let document = doc::keyed_adjustments(count);
        self.run("inventoryAdjustQuantities", &document, Value::Object(variables), true).await
    }

    /// `inventoryItem(id:)` aliased `i0`, `i1`, … with `inventoryLevel(locationId:)` — Admin GraphQL
    /// `QueryRoot.inventoryItem`: the `available` quantity of `count` items.
    pub(crate) async fn available(
        &self,
        count: usize,
        variables: serde_json::Map<String, Value>,
    ) -> Result<wire::Aliased<wire::InventoryItem>, ShopifyError> {
        self.run("inventoryItem", &doc::available(count), Value::Object(variables), true).await
    }

    /// `productVariantsBulkUpdate` once per product, aliased `p0`, `p1`, … (`$p<n>` product, `$v<n>`
    /// variants) — Admin GraphQL `productVariantsBulkUpdate`.
    pub(crate) async fn product_variants_bulk_update(
        &self,
        products: usize,
        variables: serde_json::Map<String, Value>,
    ) -> Result<wire::Aliased<wire::UserErrorsPayload>, ShopifyError> {
        self.run("productVariantsBulkUpdate", &doc::prices(products), Value::Object(variables), true).await
    }

    /// `orders(first:, after:, query:, sortKey: UPDATED_AT)` — Admin GraphQL `QueryRoot.orders`.
    pub(crate) async fn orders(
        &self,
        first: usize,
        after: Option<&str>,
        query: &str,
    ) -> Result<wire::Connection<wire::Order>, ShopifyError> {
        let vars = json!({"first": first, "after": after, "query": query});
        let data: wire::Orders = self.run("orders", doc::ORDERS, vars, true).await?;
        data.orders.ok_or_else(|| ShopifyError::unexpected("orders", "no orders in the answer"))
    }

    /// `order(id:) { lineItems(first: 100, after:) }` — Admin GraphQL `QueryRoot.order`: an order's lines
    /// past the first page. `None` when the order or its lines are missing.
    pub(crate) async fn order_lines(
        &self,
        order: &str,
        after: Option<&str>,
    ) -> Result<Option<wire::Connection<wire::LineItem>>, ShopifyError> {
        let vars = json!({"id": order, "after": after});
        let data: wire::OrderById<wire::OrderLines> = self.run("order", doc::ORDER_LINES, vars, true).await?;
        Ok(data.order.and_then(|o| o.line_items))
    }

    /// `order(id:) { fulfillmentOrders(first: 5, after:) }` — Admin GraphQL `QueryRoot.order`: one page of
    /// an order's fulfillment orders. `None` when the order is unknown.
    pub(crate) async fn fulfillment_orders(
        &self,
        order: &str,
        after: Option<&str>,
    ) -> Result<Option<wire::Connection<wire::FulfillmentOrder>>, ShopifyError> {
        let data: wire::OrderById<wire::OrderFulfillmentOrders> =
            self.run("order", doc::FULFILLMENT_ORDERS, json!({"id": order, "after": after}), true).await?;
        Ok(data.order.map(|o| {
            o.fulfillment_orders.unwrap_or(wire::Connection { nodes: Vec::new(), page_info: wire::PageInfo::default() })
        }))
    }

    /// `fulfillmentOrder(id:) { lineItems(first: 250, after:) }` — Admin GraphQL
    /// `QueryRoot.fulfillmentOrder`: a fulfillment order's lines past the first page. `None` when the
    /// fulfillment order or its lines are missing.
    pub(crate) async fn fulfillment_order_lines(
        &self,
        fulfillment_order: &str,
        after: &str,
    ) -> Result<Option<wire::Connection<wire::FulfillmentOrderLineItem>>, ShopifyError> {
        let vars = json!({"id": fulfillment_order, "after": after});
        let data: wire::FulfillmentOrderById =
            self.run("fulfillmentOrder", doc::FULFILLMENT_ORDER_LINES, vars, true).await?;
        Ok(data.fulfillment_order.and_then(|fo| fo.line_items))
    }

    /// `fulfillmentCreate(fulfillment:)` — Admin GraphQL `fulfillmentCreate`. Not idempotent: a resend
    /// would create a second fulfillment, so it is never resent after a timeout.
    pub(crate) async fn fulfillment_create(&self, fulfillment: Value) -> Result<Vec<wire::UserError>, ShopifyError> {
        let data: wire::FulfillmentCreate =
            self.run("fulfillmentCreate", doc::FULFILLMENT_CREATE, json!({"fulfillment": fulfillment}), false).await?;
        Ok(data.fulfillment_create.map(|p| p.user_errors).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_exactly_for_the_deficit() {
        assert_eq!(wait_for(10.0 - 5.0, 50.0), Duration::from_millis(100));
        assert_eq!(wait_for(400.0, 100.0), Duration::from_secs(4));
        assert_eq!(wait_for(-3.0, 100.0), Duration::ZERO, "enough points: no wait");
        assert_eq!(wait_for(10.0, 0.0), Duration::from_secs(1), "no restore rate reported");
    }

    #[test]
    fn throttled_answers_are_classified_with_the_cost_wait() {
        let body = json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": {"requestedQueryCost": 10, "throttleStatus":
                {"maximumAvailable": 2000.0, "currentlyAvailable": 5.0, "restoreRate": 100.0}}}
        });
        let body = serde_json::to_vec(&body).unwrap();
        let retry = throttled(StatusCode::OK, &HeaderMap::new(), &body).unwrap();
        assert_eq!(retry.after, Duration::from_millis(50));
        // A 429 without a cost body waits its Retry-After, else a second.
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(throttled(StatusCode::TOO_MANY_REQUESTS, &headers, b"").unwrap().after, Duration::from_secs(2));
        assert_eq!(
            throttled(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b"x").unwrap().after,
            Duration::from_secs(1)
        );
        // Other answers are left to the status.
        let ok = serde_json::to_vec(&json!({"data": {}})).unwrap();
        assert!(throttled(StatusCode::OK, &HeaderMap::new(), &ok).is_none());
        let denied = serde_json::to_vec(&json!({"errors": [{"extensions": {"code": "ACCESS_DENIED"}}]})).unwrap();
        assert!(throttled(StatusCode::OK, &HeaderMap::new(), &denied).is_none());
    }

    #[test]
    fn error_codes_and_messages() {
        let envelope: wire::Envelope = serde_json::from_value(json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}, {"message": "x"}]
        }))
        .unwrap();
        assert_eq!(envelope.error_code().as_deref(), Some("THROTTLED"));
        assert_eq!(wire::error_message(envelope.errors().unwrap()), "Throttled; x");
        let empty: wire::Envelope = serde_json::from_value(json!({"errors": []})).unwrap();
        assert!(empty.errors().is_none());
    }
}
