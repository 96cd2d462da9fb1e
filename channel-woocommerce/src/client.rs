//! The WooCommerce REST API v3 over the shared transport: authentication (HTTP Basic or query-string keys
//! over HTTPS, OAuth 1.0a over plain HTTP) and one function per documented operation, taking and returning
//! [`wire`] types.
//!
//! The operations are documented in woocommerce/woocommerce-rest-api-docs, `source/includes/wp-api-v3/`
//! (`_products.md`, `_product-variations.md`, `_orders.md`, `_order-refunds.md`, `_order-notes.md`,
//! `_data.md`), and the Shipment Tracking extension's REST API
//! (`wc-shipment-tracking/v3`).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use channel_core::http::paginate::{Page, next_page_number};
use channel_core::http::{Auth, HttpClient, Method, RequestBuilder, Response, RetryPolicy, StatusCode};
use channel_core::secrecy::{ExposeSecret, SecretString};
use channel_core::{Error, ErrorKind, Result};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::{AuthMode, HTTP_DEFAULTS, WooCommerceConfig};
use crate::oauth::{self, OAuthPlacement, OAuthSignatureMethod};
use crate::wire::{
    self, ApiError, BatchRequest, BatchResponse, CurrentCurrency, OrderNote, OrderStatusUpdate, Product,
    ShipmentTracking,
};

/// WooCommerce's batch limit ("up to 100 objects to be created, updated or deleted").
pub(crate) const MAX_BATCH: usize = 100;
/// The largest `per_page` WordPress REST accepts.
pub(crate) const PAGE_SIZE: usize = 100;

/// The keys and choices OAuth 1.0a signing needs (plain-HTTP stores).
struct OAuthKeys {
    consumer_key: SecretString,
    consumer_secret: SecretString,
    method: OAuthSignatureMethod,
    placement: OAuthPlacement,
}

/// How the keys travel to an HTTPS store: the mode, and whether `auto` has fallen back to query-string
/// keys (remembered for the life of the client).
struct HttpsKeys {
    consumer_key: SecretString,
    consumer_secret: SecretString,
    mode: AuthMode,
    use_query: AtomicBool,
}

/// The REST API of one store.
pub(crate) struct Client {
    http: HttpClient,
    /// `Some` over plain HTTP: sign every attempt with OAuth 1.0a instead of HTTP Basic.
    oauth: Option<OAuthKeys>,
    /// `Some` over HTTPS.
    https: Option<HttpsKeys>,
}

/// Whether a `401` is WooCommerce's refusal of an anonymous request: a route's permission callback
/// (`woocommerce_rest_cannot_view`, `_cannot_create`, `_cannot_edit`, `_cannot_delete`, `_cannot_batch`),
/// which is what a store answers when the server stripped `Authorization` (an unknown key is anonymous
/// too). Only then may the keys be sent again as query parameters. A body that is not WooCommerce's JSON
/// (a WAF, an htpasswd prompt, a CDN) never reached WooCommerce, and an authentication error
/// (`woocommerce_rest_authentication_*`) shows it read what was sent: neither is a reason to put the
/// secret in a URL. Source: `WC_REST_Authentication` (`perform_basic_authentication`,
/// `get_oauth_parameters`) and the controllers' permission checks.
fn anonymous_refusal(body: &[u8]) -> Option<ApiError> {
    let error: ApiError = serde_json::from_slice(body).ok()?;
    error.code.starts_with("woocommerce_rest_cannot_").then_some(error)
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("auth", &self.auth_name()).field("http", &self.http).finish()
    }
}

/// One API request, described so it can be signed afresh for every attempt.
struct Req {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
    idempotent: bool,
    accept: Option<StatusCode>,
    operation: &'static str,
}

impl Req {
    fn new(method: Method, path: impl Into<String>, operation: &'static str) -> Self {
        let idempotent = !matches!(method, Method::POST | Method::PATCH);
        Self { method, path: path.into(), query: Vec::new(), body: None, idempotent, accept: None, operation }
    }
    fn query(mut self, k: &'static str, v: impl ToString) -> Self {
        self.query.push((k, v.to_string()));
        self
    }
    fn json(mut self, body: &impl Serialize) -> Result<Self> {
        let body = serde_json::to_value(body)
            .map_err(|e| Error::validation("the request body does not serialize").with_source(e))?;
        self.body = Some(body);
        Ok(self)
    }
    fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
    fn accept(mut self, status: StatusCode) -> Self {
        self.accept = Some(status);
        self
    }
}

/// Whether a WordPress collection has a page after `page`: `X-WP-TotalPages` when sent, otherwise a full page.
fn has_more(resp: &Response<Bytes>, page: u32, len: usize) -> bool {
    let total_pages = resp.header("x-wp-totalpages").and_then(|v| v.trim().parse::<u32>().ok());
    match total_pages {
        Some(total) => page < total,
        None => len >= PAGE_SIZE,
    }
}

/// A page of a WordPress collection and the number of the next one (none after an empty or the last page).
fn page_of<T>(resp: &Response<Bytes>, page: u32, items: Vec<T>) -> Page<T, u32> {
    let more = !items.is_empty() && has_more(resp, page, items.len());
    Page::new(items, next_page_number(page, more))
}

/// An HTTP `Date` header (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete RFC 9110
/// §5.6.7 forms), if it is one: the parser channel-core's retry policy uses.
pub(crate) fn http_date(value: &str) -> Option<Timestamp> {
    httpdate::parse_http_date(value.trim()).ok().and_then(|t| Timestamp::try_from(t).ok())
}

/// Whether this is WordPress's `404 rest_no_route` (`{"code":"rest_no_route",…}`): no route matches the
/// path, as for an extension that is not installed, unlike a route's own 404 for a missing resource.
fn no_route(resp: &Response<Bytes>) -> bool {
    resp.status() == StatusCode::NOT_FOUND
        && serde_json::from_slice::<ApiError>(resp.body()).is_ok_and(|e| e.code == "rest_no_route")
}

/// `1,2,3`: WordPress reads array parameters such as `include` from a comma-separated list.
fn id_list(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

impl Client {
    /// A client for the store in `config` (already validated as `store_url`): requests go to
    /// `<store URL or http.base_url>/wp-json/`, authenticated as the store URL's scheme says.
    pub(crate) fn new(config: &WooCommerceConfig, store_url: &Url, retry: Option<RetryPolicy>) -> Result<Self> {
        let root = config.http.base_url.as_deref().unwrap_or(store_url.as_str()).trim_end_matches('/').to_owned();
        let https = store_url.scheme() == "https";
        let mut builder = HttpClient::builder()
            .name(format!("woocommerce:{}", store_url.host_str().unwrap_or_default()))
            .redact_query_param("oauth_signature")
            .redact_query_param("oauth_consumer_key")
            .redact_query_param("consumer_key")
            .redact_query_param("consumer_secret");
        if https {
            builder = builder.auth(Auth::basic(config.consumer_key.clone(), config.consumer_secret.clone()));
        }
        if let Some(r) = retry {
            builder = builder.retry(r);
        }
        // The options first (timeout, attempts, budget), then the root, which is the store's.
        let http = config.http.configure(builder, &HTTP_DEFAULTS).base_url(format!("{root}/wp-json/")).build()?;
        let oauth = (!https).then(|| OAuthKeys {
            consumer_key: config.consumer_key.clone(),
            consumer_secret: config.consumer_secret.clone(),
            method: config.oauth_signature_method,
            placement: config.oauth_placement,
        });
        let https = https.then(|| HttpsKeys {
            consumer_key: config.consumer_key.clone(),
            consumer_secret: config.consumer_secret.clone(),
            mode: config.auth,
            use_query: AtomicBool::new(config.auth == AuthMode::QueryString),
        });
        Ok(Self { http, oauth, https })
    }

    /// The transport.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `oauth1` over plain HTTP; over HTTPS `basic`, or `query_string` once the keys travel in the query.
    pub(crate) fn auth_name(&self) -> &'static str {
        match &self.https {
            None => "oauth1",
            Some(keys) if keys.use_query.load(Ordering::Relaxed) => "query_string",
            Some(_) => "basic",
        }
    }

    fn url_for(&self, req: &Req) -> Result<Url> {
        let mut url = self
            .http
            .base_url()
            .join(req.path.trim_start_matches('/'))
            .map_err(|e| Error::validation("invalid request path").with_source(e))?;
        if !req.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &req.query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn build_request(&self, req: &Req, url: &Url) -> RequestBuilder<'_> {
        let mut rb = self.http.request(req.method.clone(), url.as_str()).operation(req.operation);
        if let Some(body) = &req.body {
            rb = rb.json(body);
        }
        if let Some(status) = req.accept {
            rb = rb.accept_status(status);
        }
        rb.idempotent(req.idempotent)
    }

    /// One request with the keys as `consumer_key`/`consumer_secret` query parameters instead of HTTP Basic
    /// (secret parameters: redacted in every URL shown and scrubbed from error text).
    fn with_query_keys<'a>(&'a self, req: &Req, url: &Url, keys: &HttpsKeys) -> RequestBuilder<'a> {
        self.build_request(req, url)
            .without_auth()
            .secret_query("consumer_key", keys.consumer_key.clone())
            .secret_query("consumer_secret", keys.consumer_secret.clone())
    }

    /// Over HTTPS: HTTP Basic, or query-string keys; in `auto` mode, a `401` that shows the keys never
    /// arrived (a server that strips `Authorization`) is answered by sending the request again with
    /// query-string keys, which are used from then on when that works. Never over plain HTTP: this is
    /// reached only for `https` stores.
    async fn call_https(&self, req: &Req, url: &Url, keys: &HttpsKeys) -> Result<Response<Bytes>> {
        if keys.use_query.load(Ordering::Relaxed) {
            return self.with_query_keys(req, url, keys).send().await;
        }
        if keys.mode == AuthMode::Basic {
            return self.build_request(req, url).send().await;
        }
        let resp = self.build_request(req, url).accept_status(StatusCode::UNAUTHORIZED).send().await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let Some(refusal) = anonymous_refusal(resp.body()) else {
            let error: ApiError = serde_json::from_slice(resp.body()).unwrap_or_default();
            let said = if error.code.is_empty() {
                "not a WooCommerce answer".to_owned()
            } else {
                format!("{}: {}", error.code, error.message)
            };
            return Err(Error::auth(format!(
                "{} {} returned 401 Unauthorized: {said}",
                req.method,
                self.http.redact_url(url)
            ))
            .with_status(401));
        };
        let resp = self.with_query_keys(req, url, keys).send().await?;
        if !keys.use_query.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                refused = %refusal.code,
                "the store did not read the Authorization header; sending the keys as query parameters from now on"
            );
        }
        Ok(resp)
    }

    /// Send a request: over HTTPS through the transport's own retries; over plain HTTP signed with OAuth
    /// 1.0a afresh for every attempt (WooCommerce refuses a nonce it has seen, so a replayed signature
    /// would fail).
    async fn call(&self, req: &Req) -> Result<Response<Bytes>> {
        let url = self.url_for(req)?;
        if let Some(keys) = &self.https {
            return self.call_https(req, &url, keys).await;
        }
        let Some(keys) = &self.oauth else {
            return self.build_request(req, &url).send().await;
        };
        let policy = self.http.retry_policy();
        let mut delay = policy.min_delay;
        let mut attempt = 1;
        loop {
            let err = match self.signed(req, &url, keys).send().await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            let retryable =
                err.kind() == ErrorKind::RateLimited || (err.kind() == ErrorKind::Transient && req.idempotent);
            if attempt >= policy.max_attempts || !retryable {
                return Err(err);
            }
            let wait = match err.retry_after() {
                Some(w) if w > policy.max_retry_after => return Err(err),
                Some(w) => w.max(delay),
                None => delay,
            };
            tracing::warn!(attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), error = %err, "retrying with a fresh OAuth signature");
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(policy.max_delay);
            attempt += 1;
        }
    }

    /// One attempt of `req`, signed with a fresh nonce and timestamp.
    fn signed(&self, req: &Req, url: &Url, keys: &OAuthKeys) -> RequestBuilder<'_> {
        let signed = oauth::sign(
            req.method.as_str(),
            url,
            keys.consumer_key.expose_secret(),
            keys.consumer_secret.expose_secret(),
            keys.method,
            &oauth::nonce(),
            Timestamp::now().as_second(),
        );
        let mut rb = self.build_request(req, url).max_attempts(1);
        match keys.placement {
            OAuthPlacement::Header => {
                rb = rb.secret_header("authorization", &SecretString::from(signed.header()));
            }
            OAuthPlacement::Query => {
                for (k, v) in signed.params {
                    rb = rb.secret_query(&k, SecretString::from(v));
                }
            }
        }
        rb
    }

    async fn call_json<T: DeserializeOwned>(&self, req: &Req) -> Result<(Response<Bytes>, T)> {
        let resp = self.call(req).await?;
        let body = resp.json::<T>()?;
        Ok((resp, body))
    }

    /// `GET /wc/v3/data/currencies/current` — "Retrieve current currency" (`_data.md`): `{code, name,
    /// symbol}`, read from the store's settings with no outbound check (unlike `system_status`, which
    /// probes remote posting, the WooCommerce.com API and more on every call). Needs a key with read
    /// permission, so it is also the connection test.
    pub(crate) async fn current_currency(&self) -> Result<CurrentCurrency> {
        let req = Req::new(Method::GET, "wc/v3/data/currencies/current", "currentCurrency");
        Ok(self.call_json(&req).await?.1)
    }

    /// `GET /wc/v3/products?per_page=100&page=N&orderby=id&order=asc` — "List all products" (`_products.md`).
    pub(crate) async fn list_products(&self, page: u32) -> Result<Page<Product, u32>> {
        let req = Req::new(Method::GET, "wc/v3/products", "listProducts")
            .query("per_page", PAGE_SIZE)
            .query("page", page)
            .query("orderby", "id")
            .query("order", "asc");
        let (resp, items) = self.call_json(&req).await?;
        Ok(page_of(&resp, page, items))
    }

    /// `GET /wc/v3/products?include=<ids>&per_page=100` — "List all products" limited to these ids
    /// (`include`: "Limit result set to specific ids", `_products.md`). At most [`PAGE_SIZE`] ids, so one
    /// page holds them all.
    pub(crate) async fn products_by_id(&self, ids: &[u64]) -> Result<Vec<Product>> {
        debug_assert!(ids.len() <= PAGE_SIZE, "one page of ids at a time");
        let req = Req::new(Method::GET, "wc/v3/products", "getProducts")
            .query("include", id_list(ids))
            .query("per_page", PAGE_SIZE);
        Ok(self.call_json(&req).await?.1)
    }

    /// `GET /wc/v3/products/{id}/variations?per_page=100&page=N` — "List all product variations"
    /// (`_product-variations.md`).
    pub(crate) async fn list_variations(&self, product_id: u64, page: u32) -> Result<Page<Product, u32>> {
        let req = Req::new(Method::GET, format!("wc/v3/products/{product_id}/variations"), "listVariations")
            .query("per_page", PAGE_SIZE)
            .query("page", page);
        let (resp, items) = self.call_json(&req).await?;
        Ok(page_of(&resp, page, items))
    }

    /// `GET /wc/v3/products/{id}/variations?include=<ids>&per_page=100` — "List all product variations"
    /// limited to these ids (`include`, `_product-variations.md`). At most [`PAGE_SIZE`] ids. A product
    /// the store does not know (404) has none.
    pub(crate) async fn variations_by_id(&self, product_id: u64, ids: &[u64]) -> Result<Vec<Product>> {
        debug_assert!(ids.len() <= PAGE_SIZE, "one page of ids at a time");
        let req = Req::new(Method::GET, format!("wc/v3/products/{product_id}/variations"), "getVariations")
            .query("include", id_list(ids))
            .query("per_page", PAGE_SIZE)
            .accept(StatusCode::NOT_FOUND);
        let resp = self.call(&req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        resp.json()
    }

    /// `POST /wc/v3/products/batch` — "Batch update products" (`_products.md`; at most [`MAX_BATCH`]).
    /// An absolute set is idempotent, so the transport may retry it.
    pub(crate) async fn batch_products<W: Serialize + Sync>(
        &self,
        body: &BatchRequest<W>,
        operation: &'static str,
    ) -> Result<BatchResponse> {
        let req = Req::new(Method::POST, "wc/v3/products/batch", operation).json(body)?.idempotent();
        Ok(self.call_json(&req).await?.1)
    }

    /// `POST /wc/v3/products/{id}/variations/batch` — "Batch update product variations"
    /// (`_product-variations.md`; at most [`MAX_BATCH`]). Idempotent as [`Client::batch_products`].
    pub(crate) async fn batch_variations<W: Serialize + Sync>(
        &self,
        product_id: u64,
        body: &BatchRequest<W>,
        operation: &'static str,
    ) -> Result<BatchResponse> {
        let req =
            Req::new(Method::POST, format!("wc/v3/products/{product_id}/variations/batch"), operation).json(body)?;
        Ok(self.call_json(&req.idempotent()).await?.1)
    }

    /// `GET /wc/v3/orders?modified_after=…&dates_are_gmt=true&per_page=100&page=N&orderby=id&order=asc` —
    /// "List all orders" (`_orders.md`); `modified_after` is `YYYY-MM-DDTHH:MM:SS` in UTC. With the page, the
    /// store's clock when it answered (the response's `Date` header, RFC 9110 §6.6.1), if it sent one.
    pub(crate) async fn list_orders(
        &self,
        modified_after: &str,
        page: u32,
    ) -> Result<(Page<wire::Order, u32>, Option<Timestamp>)> {
        let req = Req::new(Method::GET, "wc/v3/orders", "listOrders")
            .query("modified_after", modified_after)
            .query("dates_are_gmt", "true")
            .query("per_page", PAGE_SIZE)
            .query("page", page)
            .query("orderby", "id")
            .query("order", "asc");
        let (resp, items) = self.call_json(&req).await?;
        let date = resp.header("date").and_then(http_date);
        Ok((page_of(&resp, page, items), date))
    }

    /// `GET /wc/v3/orders/{id}/refunds?per_page=100` — "List all refunds" (`_order-refunds.md`).
    pub(crate) async fn list_refunds(&self, order_id: u64) -> Result<Vec<wire::Refund>> {
        let req = Req::new(Method::GET, format!("wc/v3/orders/{order_id}/refunds"), "listRefunds")
            .query("per_page", PAGE_SIZE);
        Ok(self.call_json(&req).await?.1)
    }

    /// `GET /wc-shipment-tracking/v3/orders/{id}/shipment-trackings` — the Shipment Tracking extension's
    /// list, used as a probe: whether the extension's route exists. A 404 `rest_no_route` means it is not
    /// installed; a 404 for a missing order (`woocommerce_rest_order_invalid_id`) means the route exists.
    pub(crate) async fn has_shipment_tracking(&self, order_id: u64) -> Result<bool> {
        let path = format!("wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings");
        let req = Req::new(Method::GET, path, "detectShipmentTracking").accept(StatusCode::NOT_FOUND);
        let resp = self.call(&req).await?;
        Ok(!no_route(&resp))
    }

    /// `GET /wc-shipment-tracking/v3/shipment-trackings/providers` — the Shipment Tracking extension's
    /// providers, `{group: {name: link format}}`, public (woocommerce.com, "List Shipment Tracking
    /// providers with the REST API"); with the store's own additions (`wc_shipment_tracking_get_providers`).
    /// A store whose extension has no such route (`404 rest_no_route`) is asked at the order-scoped
    /// `…/orders/{id}/shipment-trackings/providers`, which public clients use.
    pub(crate) async fn shipment_tracking_providers(&self, order_id: u64) -> Result<serde_json::Value> {
        let documented =
            Req::new(Method::GET, "wc-shipment-tracking/v3/shipment-trackings/providers", "listTrackingProviders")
                .accept(StatusCode::NOT_FOUND);
        let resp = self.call(&documented).await?;
        if resp.status() != StatusCode::NOT_FOUND {
            return resp.json();
        }
        if !no_route(&resp) {
            let refusal: ApiError = serde_json::from_slice(resp.body()).unwrap_or_default();
            return Err(Error::not_found(format!(
                "GET {} returned 404 Not Found: {}",
                self.http.redact_url(&self.url_for(&documented)?),
                refusal.code
            ))
            .with_status(404));
        }
        let path = format!("wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings/providers");
        Ok(self.call_json(&Req::new(Method::GET, path, "listTrackingProviders")).await?.1)
    }

    /// `POST /wc-shipment-tracking/v3/orders/{id}/shipment-trackings` — the Shipment Tracking extension's
    /// "create a shipment tracking".
    pub(crate) async fn add_shipment_tracking(&self, order_id: u64, tracking: &ShipmentTracking) -> Result<()> {
        let path = format!("wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings");
        self.call(&Req::new(Method::POST, path, "addShipmentTracking").json(tracking)?).await?;
        Ok(())
    }

    /// `POST /wc/v3/orders/{id}/notes` — "Create an order note" (`_order-notes.md`).
    pub(crate) async fn add_order_note(&self, order_id: u64, note: &OrderNote) -> Result<()> {
        let req = Req::new(Method::POST, format!("wc/v3/orders/{order_id}/notes"), "addOrderNote").json(note)?;
        self.call(&req).await?;
        Ok(())
    }

    /// `PUT /wc/v3/orders/{id}` — "Update an order" (`_orders.md`), here only its status.
    pub(crate) async fn update_order_status(&self, order_id: u64, status: &'static str) -> Result<()> {
        let req = Req::new(Method::PUT, format!("wc/v3/orders/{order_id}"), "completeOrder")
            .json(&OrderStatusUpdate { status })?;
        self.call(&req).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let at: Timestamp = "2026-12-02T12:00:00Z".parse().unwrap();
        assert_eq!(http_date("Wed, 02 Dec 2026 12:00:00 GMT"), Some(at));
        assert_eq!(http_date("yesterday"), None);
    }
}
