//! WooCommerce REST v3 routes.

use std::sync::{Arc, PoisonError};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value, json};

use self::auth::{AuthRequest, Keys, Verdict, anonymous_refusal, authenticate};
use super::WooCommerce;
use super::state::{Kind, RestError, State as Store, Touched, Tracking, wc_date};
use crate::sandbox::{MAX_REQUEST_BODY, PartialBatch};

mod auth;

type Shared = State<Arc<WooCommerce>>;

const WC: &str = "/wp-json/wc/v3";
const TRACKING: &str = "/wp-json/wc-shipment-tracking/v3";

pub(super) fn router(platform: Arc<WooCommerce>) -> Router {
    let api = Router::new()
        .route(&format!("{WC}/products"), get(list_products).post(create_product))
        .route(&format!("{WC}/products/batch"), post(batch_products))
        .route(
            &format!("{WC}/products/{{id}}"),
            get(get_product).put(update_product).post(update_product).patch(update_product).delete(delete_product),
        )
        .route(&format!("{WC}/products/{{id}}/variations"), get(list_variations).post(create_variation))
        .route(&format!("{WC}/products/{{id}}/variations/batch"), post(batch_variations))
        .route(
            &format!("{WC}/products/{{id}}/variations/{{vid}}"),
            get(get_variation).put(update_variation).post(update_variation).patch(update_variation),
        )
        .route(&format!("{WC}/orders"), get(list_orders))
        .route(&format!("{WC}/orders/{{id}}"), get(get_order).put(update_order).post(update_order).patch(update_order))
        .route(&format!("{WC}/orders/{{id}}/notes"), get(list_notes).post(create_note))
        .route(&format!("{WC}/webhooks"), get(list_webhooks).post(create_webhook))
        .route(&format!("{WC}/webhooks/{{id}}"), get(get_webhook).delete(delete_webhook))
        .route(&format!("{WC}/system_status"), get(system_status))
        .route(&format!("{WC}/data/currencies/current"), get(current_currency))
        .route(&format!("{TRACKING}/orders/{{id}}/shipment-trackings"), get(list_trackings).post(create_tracking))
        // Every route above checks permissions: an anonymous request is refused there, after routing, so
        // a missing route answers `404 rest_no_route` whoever asks (WordPress dispatches first and runs the
        // matched route's `permission_callback`).
        .route_layer(middleware::from_fn(refuse_anonymous))
        // "The providers endpoint is public and does not require order permissions" (woocommerce.com,
        // "List Shipment Tracking providers with the REST API"): the documented path, and the
        // order-scoped one public clients use.
        .route(&format!("{TRACKING}/shipment-trackings/providers"), get(list_providers))
        .route(&format!("{TRACKING}/orders/{{id}}/shipment-trackings/providers"), get(list_providers))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&platform), authenticate_request));
    Router::new().route("/wp-json/", get(index)).route("/wp-json", get(index)).merge(api).with_state(platform)
}

fn rest(err: &RestError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(err.to_json())).into_response()
}

fn not_found(code: &'static str) -> Response {
    rest(&RestError::new(404, code, "Invalid ID."))
}

async fn no_route() -> Response {
    rest(&RestError::new(404, "rest_no_route", "No route was found matching the URL and request method."))
}

/// Query pairs, decoded, in order.
fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Authentication, then the optional rate limit.
async fn authenticate_request(State(platform): Shared, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_REQUEST_BODY).await else {
        return rest(&RestError::new(413, "rest_request_too_large", "Request body too large."));
    };
    let mut params = pairs(parts.uri.query());
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(url::form_urlencoded::parse(&bytes).into_owned());
    }
    let auth = AuthRequest {
        method: parts.method.as_str(),
        url: format!("{}{}", platform.base_url, parts.uri.path()),
        authorization: if platform.config.strip_authorization {
            None
        } else {
            parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        },
        params,
        now: Timestamp::now().as_second(),
    };
    let keys = Keys {
        consumer_key: &platform.config.consumer_key,
        consumer_secret: platform.config.consumer_secret.expose_secret(),
        timestamp_window_secs: i64::try_from(platform.config.oauth_timestamp_window.as_secs()).unwrap_or(i64::MAX),
    };
    let verdict = {
        let mut nonces = platform.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        authenticate(&auth, &keys, &mut nonces)
    };
    let verdict = match verdict {
        // No `WWW-Authenticate`: `send_unauthorized_headers` adds it only while `auth_method` is
        // `basic_auth`, and a failed Basic attempt goes on to `perform_oauth_authentication`, which sets
        // `oauth1`.
        Err(err) => return rest(&err),
        Ok(verdict) => verdict,
    };
    if let Some(bucket) = &platform.limiter {
        let decision = bucket.try_acquire(1.0);
        if !decision.allowed {
            let mut response = rest(&RestError::new(429, "too_many_requests", "Too Many Requests"));
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(decision.reset_secs()));
            return response;
        }
    }
    let mut parts = parts;
    if verdict == Verdict::Anonymous {
        parts.extensions.insert(Anonymous);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Marks a request that carried no credentials WooCommerce could read.
#[derive(Debug, Clone, Copy)]
struct Anonymous;

/// The matched route's permission check: an anonymous request gets the route's refusal.
async fn refuse_anonymous(request: Request, next: Next) -> Response {
    if request.extensions().get::<Anonymous>().is_some() {
        return rest(&anonymous_refusal(request.method().as_str(), request.uri().path()));
    }
    next.run(request).await
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, RestError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(RestError::new(400, "rest_invalid_json", "Invalid JSON body passed.")),
    }
}

fn parse_id(raw: &str, code: &'static str) -> Result<u64, RestError> {
    raw.parse().map_err(|_| RestError::new(404, code, "Invalid ID."))
}

/// `page` (from 1) and `per_page` (1..=max).
fn paging(platform: &WooCommerce, pairs: &[(String, String)]) -> Result<(usize, usize), RestError> {
    let page = match first(pairs, "page") {
        None => 1,
        Some(raw) => raw.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
            RestError::new(400, "rest_invalid_param", "Invalid parameter(s): page (must be at least 1)")
        })?,
    };
    let max = usize::try_from(platform.config.max_per_page).unwrap_or(usize::MAX);
    let per_page = match first(pairs, "per_page") {
        None => usize::try_from(platform.config.default_per_page).unwrap_or(10).min(max),
        Some(raw) => raw.parse::<usize>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
            RestError::new(
                400,
                "rest_invalid_param",
                format!(
                    "Invalid parameter(s): per_page (per_page must be between 1 (inclusive) and {max} (inclusive))"
                ),
            )
        })?,
    };
    Ok((page, per_page))
}

/// One page of `items` with `X-WP-Total`, `X-WP-TotalPages` and `Link`.
fn paged(platform: &WooCommerce, path: &str, pairs: &[(String, String)], items: Vec<Value>) -> Response {
    let (page, per_page) = match paging(platform, pairs) {
        Ok(paging) => paging,
        Err(err) => return rest(&err),
    };
    let total = items.len();
    let total_pages = total.div_ceil(per_page);
    if total > 0 && page > total_pages {
        return rest(&RestError::new(
            400,
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        ));
    }
    let body: Vec<Value> = items.into_iter().skip((page - 1).saturating_mul(per_page)).take(per_page).collect();
    let link_to = |target: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in pairs.iter().filter(|(k, _)| k != "page") {
            query.append_pair(key, value);
        }
        query.append_pair("page", &target.to_string());
        format!("<{}{path}?{}>", platform.base_url, query.finish())
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if page < total_pages {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
    }
    let mut response = Json(body).into_response();
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert("X-WP-Total", HeaderValue::from(total));
    headers.insert("X-WP-TotalPages", HeaderValue::from(total_pages));
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        headers.insert(header::LINK, value);
    }
    response
}

/// A date filter (`2026-01-01T10:00:00`, with or without an offset; the site runs in UTC).
fn date_param(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, RestError> {
    let Some(raw) = first(pairs, key) else {
        return Ok(None);
    };
    let parsed = raw.parse::<Timestamp>().ok().or_else(|| {
        raw.parse::<jiff::civil::DateTime>().ok().and_then(|dt| dt.to_zoned(TimeZone::UTC).ok()).map(|z| z.timestamp())
    });
    parsed
        .map(|ts| Some(ts.as_second()))
        .ok_or_else(|| RestError::new(400, "rest_invalid_param", format!("Invalid parameter(s): {key} (not a date)")))
}

fn id_list(pairs: &[(String, String)], key: &str) -> Vec<u64> {
    pairs
        .iter()
        .filter(|(k, _)| k == key || *k == format!("{key}[]"))
        .flat_map(|(_, v)| v.split(',').filter_map(|p| p.trim().parse().ok()).collect::<Vec<u64>>())
        .collect()
}

/// Common date/ordering filters over (id, created, modified, json).
struct Listing {
    after: Option<i64>,
    before: Option<i64>,
    modified_after: Option<i64>,
    modified_before: Option<i64>,
    orderby: String,
    ascending: bool,
}

impl Listing {
    fn parse(pairs: &[(String, String)]) -> Result<Self, RestError> {
        let orderby = first(pairs, "orderby").unwrap_or("date").to_owned();
        if !["date", "id", "modified", "include", "title", "slug"].contains(&orderby.as_str()) {
            return Err(RestError::new(400, "rest_invalid_param", "Invalid parameter(s): orderby"));
        }
        let ascending = match first(pairs, "order") {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => return Err(RestError::new(400, "rest_invalid_param", "Invalid parameter(s): order")),
        };
        Ok(Self {
            after: date_param(pairs, "after")?,
            before: date_param(pairs, "before")?,
            modified_after: date_param(pairs, "modified_after")?,
            modified_before: date_param(pairs, "modified_before")?,
            orderby,
            ascending,
        })
    }

    fn keeps(&self, created: Timestamp, modified: Timestamp) -> bool {
        let (created, modified) = (created.as_second(), modified.as_second());
        self.after.is_none_or(|t| created > t)
            && self.before.is_none_or(|t| created < t)
            && self.modified_after.is_none_or(|t| modified > t)
            && self.modified_before.is_none_or(|t| modified < t)
    }

    /// Sorts (id, created, modified) rows.
    fn sort<T>(&self, rows: &mut [(u64, Timestamp, Timestamp, T)]) {
        match self.orderby.as_str() {
            "modified" => rows.sort_by_key(|r| (r.2.as_second(), r.0)),
            "id" | "include" => rows.sort_by_key(|r| r.0),
            _ => rows.sort_by_key(|r| (r.1.as_second(), r.0)),
        }
        if !self.ascending {
            rows.reverse();
        }
    }
}

async fn index(State(platform): Shared) -> Response {
    let mut namespaces = vec!["wp/v2", "wc/v3"];
    if platform.config.shipment_tracking {
        namespaces.push("wc-shipment-tracking/v3");
    }
    Json(json!({
        "name": "Sandbox Store",
        "description": "A stocksync WooCommerce emulator",
        "url": platform.base_url,
        "home": platform.base_url,
        "gmt_offset": 0,
        "timezone_string": "UTC",
        "namespaces": namespaces,
        "authentication": {},
    }))
    .into_response()
}

async fn system_status(State(platform): Shared) -> Response {
    let mut plugins = vec![json!({"plugin": "woocommerce/woocommerce.php", "name": "WooCommerce", "version": "9.0.0"})];
    if platform.config.shipment_tracking {
        plugins.push(json!({
            "plugin": "woocommerce-shipment-tracking/woocommerce-shipment-tracking.php",
            "name": "WooCommerce Shipment Tracking",
            "version": "2.4.0",
        }));
    }
    Json(json!({
        "environment": {
            "home_url": platform.base_url,
            "site_url": platform.base_url,
            "version": "9.0.0",
            "wp_version": "6.5.0",
            "wp_multisite": false,
            "default_timezone": "UTC",
        },
        "database": {},
        "active_plugins": plugins,
        "theme": {},
        "settings": {
            "api_enabled": true,
            "currency": platform.config.currency,
            "currency_symbol": "R",
            "currency_position": "left",
            "thousand_separator": ",",
            "decimal_separator": ".",
            "number_of_decimals": 2,
        },
        "security": {"secure_connection": false, "hide_errors": true},
        "pages": [],
    }))
    .into_response()
}

/// `GET /data/currencies/current` (`_data.md`, "Retrieve current currency").
async fn current_currency(State(platform): Shared) -> Response {
    let code = platform.config.currency.clone();
    let (name, symbol) = match code.as_str() {
        "ZAR" => ("South African rand", "&#82;"),
        "USD" => ("United States (US) dollar", "&#36;"),
        "EUR" => ("Euro", "&euro;"),
        "GBP" => ("Pound sterling", "&pound;"),
        _ => ("", ""),
    };
    let links = json!({
        "self": [{"href": format!("{}{WC}/data/currencies/{code}", platform.base_url)}],
        "collection": [{"href": format!("{}{WC}/data/currencies", platform.base_url)}],
    });
    Json(json!({"code": code, "name": name, "symbol": symbol, "_links": links})).into_response()
}

// ---- Products. ----

async fn list_products(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query.as_deref());
    let listing = match Listing::parse(&pairs) {
        Ok(listing) => listing,
        Err(err) => return rest(&err),
    };
    let skus: Vec<&str> = first(&pairs, "sku").map(|s| s.split(',').map(str::trim).collect()).unwrap_or_default();
    let include = id_list(&pairs, "include");
    let parents = id_list(&pairs, "parent");
    let kind = first(&pairs, "type");
    let stock_status = first(&pairs, "stock_status");
    let status = first(&pairs, "status").filter(|s| *s != "any");
    let items = {
        let state = platform.lock();
        let mut rows: Vec<_> = state
            .products
            .values()
            .filter(|p| skus.is_empty() || skus.contains(&p.sku.as_str()))
            .filter(|p| include.is_empty() || include.contains(&p.id))
            .filter(|_| parents.is_empty() || parents.contains(&0))
            .filter(|p| kind.is_none_or(|k| k == if p.kind == Kind::Simple { "simple" } else { "variable" }))
            .filter(|p| stock_status.is_none_or(|s| s == p.stock_status))
            .filter(|p| status.is_none_or(|s| s == p.status))
            .filter(|p| listing.keeps(p.created, p.modified))
            .map(|p| (p.id, p.created, p.modified, p))
            .collect();
        listing.sort(&mut rows);
        rows.into_iter().map(|(_, _, _, p)| state.product_json(p, &platform.base_url)).collect()
    };
    paged(&platform, &format!("{WC}/products"), &pairs, items)
}

async fn get_product(State(platform): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = parse_id(&id, "woocommerce_rest_product_invalid_id") else {
        return not_found("woocommerce_rest_product_invalid_id");
    };
    let state = platform.lock();
    match state.products.get(&id) {
        Some(product) => Json(state.product_json(product, &platform.base_url)).into_response(),
        None => not_found("woocommerce_rest_product_invalid_id"),
    }
}

fn product_response(platform: &WooCommerce, id: u64, status: StatusCode) -> Response {
    let state = platform.lock();
    match state.products.get(&id) {
        Some(product) => (status, Json(state.product_json(product, &platform.base_url))).into_response(),
        None => not_found("woocommerce_rest_product_invalid_id"),
    }
}

fn updated_product(platform: &WooCommerce, id: u64) {
    let mut touched = Touched::default();
    touched.product(id);
    platform.announce(&touched);
}

async fn create_product(State(platform): Shared, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|fields| platform.lock().create_product(&fields));
    match result {
        Ok(id) => product_response(&platform, id, StatusCode::CREATED),
        Err(err) => rest(&err),
    }
}

async fn update_product(State(platform): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(id) = parse_id(&id, "woocommerce_rest_product_invalid_id") else {
        return not_found("woocommerce_rest_product_invalid_id");
    };
    let result = json_object(&body).and_then(|fields| platform.lock().update_product(id, &fields));
    match result {
        Ok(()) => {
            updated_product(&platform, id);
            product_response(&platform, id, StatusCode::OK)
        }
        Err(err) if err.code == "woocommerce_rest_product_invalid_id" => not_found(err.code),
        Err(err) => rest(&err),
    }
}

async fn delete_product(State(platform): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = parse_id(&id, "woocommerce_rest_product_invalid_id") else {
        return not_found("woocommerce_rest_product_invalid_id");
    };
    let mut state = platform.lock();
    let Some(product) = state.products.get(&id) else {
        return not_found("woocommerce_rest_product_invalid_id");
    };
    let body = state.product_json(product, &platform.base_url);
    match state.delete_product(id) {
        Ok(_) => Json(body).into_response(),
        Err(err) => rest(&err),
    }
}

// ---- Variations. ----

async fn list_variations(State(platform): Shared, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query.as_deref());
    let Ok(pid) = parse_id(&id, "woocommerce_rest_product_invalid_id") else {
        return not_found("woocommerce_rest_product_invalid_id");
    };
    let listing = match Listing::parse(&pairs) {
        Ok(listing) => listing,
        Err(err) => return rest(&err),
    };
    let sku = first(&pairs, "sku");
    // `include`: "Limit result set to specific ids" (REST API docs, List all product variations).
    let include = id_list(&pairs, "include");
    let items = {
        let state = platform.lock();
        if !state.products.contains_key(&pid) {
            return not_found("woocommerce_rest_product_invalid_id");
        }
        let mut rows: Vec<_> = state
            .variations
            .values()
            .filter(|v| v.parent_id == pid)
            .filter(|v| sku.is_none_or(|s| s == v.sku))
            .filter(|v| include.is_empty() || include.contains(&v.id))
            .filter(|v| listing.keeps(v.created, v.modified))
            .map(|v| (v.id, v.created, v.modified, v))
            .collect();
        listing.sort(&mut rows);
        rows.into_iter().map(|(_, _, _, v)| state.variation_json(v, &platform.base_url)).collect()
    };
    paged(&platform, &format!("{WC}/products/{pid}/variations"), &pairs, items)
}

fn variation_response(platform: &WooCommerce, vid: u64, status: StatusCode) -> Response {
    let state = platform.lock();
    match state.variations.get(&vid) {
        Some(variation) => (status, Json(state.variation_json(variation, &platform.base_url))).into_response(),
        None => not_found("woocommerce_rest_product_variation_invalid_id"),
    }
}

async fn get_variation(State(platform): Shared, Path((id, vid)): Path<(String, String)>) -> Response {
    let (Ok(pid), Ok(vid)) = (id.parse::<u64>(), vid.parse::<u64>()) else {
        return not_found("woocommerce_rest_product_variation_invalid_id");
    };
    if platform.lock().variations.get(&vid).is_none_or(|v| v.parent_id != pid) {
        return not_found("woocommerce_rest_product_variation_invalid_id");
    }
    variation_response(&platform, vid, StatusCode::OK)
}

async fn create_variation(State(platform): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(pid) = parse_id(&id, "woocommerce_rest_product_invalid_id") else {
        return not_found("woocommerce_rest_product_invalid_id");
    };
    let result = json_object(&body).and_then(|fields| platform.lock().create_variation(pid, &fields));
    match result {
        Ok(vid) => {
            updated_product(&platform, pid);
            variation_response(&platform, vid, StatusCode::CREATED)
        }
        Err(err) => rest(&err),
    }
}

async fn update_variation(State(platform): Shared, Path((id, vid)): Path<(String, String)>, body: Bytes) -> Response {
    let (Ok(pid), Ok(vid)) = (id.parse::<u64>(), vid.parse::<u64>()) else {
        return not_found("woocommerce_rest_product_variation_invalid_id");
    };
    let result = json_object(&body).and_then(|fields| platform.lock().update_variation(pid, vid, &fields));
    match result {
        Ok(()) => {
            updated_product(&platform, pid);
            variation_response(&platform, vid, StatusCode::OK)
        }
        Err(err) if err.code == "woocommerce_rest_product_variation_invalid_id" => not_found(err.code),
        Err(err) => rest(&err),
    }
}

// ---- Batches. ----

/// What a batch acts on.
#[derive(Clone, Copy)]
enum Target {
    Products,
    Variations(u64),
}

async fn batch_products(State(platform): Shared, body: Bytes) -> Response {
    batch(&platform, Target::Products, &body, &format!("{WC}/products/batch"))
}

async fn batch_variations(State(platform): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(pid) = parse_id(&id, "woocommerce_rest_product_invalid_id") else {
        return not_found("woocommerce_rest_product_invalid_id");
    };
    if !platform.lock().products.contains_key(&pid) {
        return not_found("woocommerce_rest_product_invalid_id");
    }
    batch(&platform, Target::Variations(pid), &body, &format!("{WC}/products/{pid}/variations/batch"))
}

fn item_error(id: u64, err: &RestError) -> Value {
    json!({"id": id, "error": err.to_json()})
}

fn batch(platform: &WooCommerce, target: Target, body: &[u8], path: &str) -> Response {
    let lists = json_object(body).and_then(|fields| {
        Ok((batch_list(&fields, "create")?, batch_list(&fields, "update")?, batch_list(&fields, "delete")?))
    });
    let (create, update, delete) = match lists {
        Ok(lists) => lists,
        Err(err) => return rest(&err),
    };
    let total = [&create, &update, &delete].iter().map(|l| l.as_ref().map_or(0, Vec::len)).sum::<usize>();
    if total > platform.config.max_batch_size {
        return rest(&RestError::new(
            413,
            "woocommerce_rest_request_entity_too_large",
            format!("Unable to accept more than {} items for this request.", platform.config.max_batch_size),
        ));
    }
    let partial = platform.harness.faults().take_partial_batch(path);
    let base = platform.base_url.clone();
    let mut out = Map::new();
    let touched = {
        let mut run = BatchRun {
            state: platform.lock(),
            target,
            base: &base,
            partial,
            total,
            index: 0,
            touched: Touched::default(),
        };
        if let Some(items) = create {
            out.insert("create".into(), Value::Array(run.create(items)));
        }
        if let Some(items) = update {
            out.insert("update".into(), Value::Array(run.update(items)));
        }
        if let Some(items) = delete {
            out.insert("delete".into(), Value::Array(run.delete(items)));
        }
        run.touched
    };
    platform.announce(&touched);
    Json(Value::Object(out)).into_response()
}

/// The batch's `key` list (`create`, `update`, `delete`), if present; a 400 when it is not a list.
fn batch_list(fields: &Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>, RestError> {
    match fields.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(_) => Err(RestError::new(400, "rest_invalid_param", format!("Invalid parameter(s): {key}"))),
    }
}

/// One batch request being applied under the store's lock: what it acts on, the partial-batch fault
/// (which fails items by their position across all three lists), and the products it touched.
struct BatchRun<'a> {
    state: std::sync::MutexGuard<'a, Store>,
    target: Target,
    base: &'a str,
    partial: Option<PartialBatch>,
    total: usize,
    index: usize,
    touched: Touched,
}

impl BatchRun<'_> {
    /// Whether the partial-batch fault fails the next item.
    fn failing(&mut self) -> bool {
        let fails = self.partial.is_some_and(|p| p.fails(self.index, self.total));
        self.index += 1;
        fails
    }

    /// The error of an item the partial-batch fault fails.
    fn transient() -> RestError {
        RestError::new(500, "woocommerce_rest_batch_item_failed", "Sandbox: temporary failure, retry.")
    }

    /// The product or variation as the batch answers it (`null` once gone).
    fn show(&self, id: u64) -> Value {
        match self.target {
            Target::Products => self.state.products.get(&id).map(|p| self.state.product_json(p, self.base)),
            Target::Variations(_) => self.state.variations.get(&id).map(|v| self.state.variation_json(v, self.base)),
        }
        .unwrap_or(Value::Null)
    }

    /// The product whose webhook an item with this id fires (a variation's parent).
    fn product_of(&self, id: u64) -> u64 {
        match self.target {
            Target::Products => id,
            Target::Variations(pid) => pid,
        }
    }

    fn create(&mut self, items: Vec<Value>) -> Vec<Value> {
        let mut results = Vec::new();
        for item in items {
            if self.failing() {
                results.push(item_error(0, &Self::transient()));
                continue;
            }
            let result = match (item, self.target) {
                (Value::Object(map), Target::Products) => self.state.create_product(&map),
                (Value::Object(map), Target::Variations(pid)) => self.state.create_variation(pid, &map),
                _ => Err(RestError::new(400, "rest_invalid_param", "Each item must be an object.")),
            };
            match result {
                Ok(id) => {
                    self.touched.product(self.product_of(id));
                    results.push(self.show(id));
                }
                Err(err) => results.push(item_error(0, &err)),
            }
        }
        results
    }

    fn update(&mut self, items: Vec<Value>) -> Vec<Value> {
        let mut results = Vec::new();
        for item in items {
            let id = item.get("id").and_then(Value::as_u64).unwrap_or(0);
            if self.failing() {
                results.push(item_error(id, &Self::transient()));
                continue;
            }
            let result = match (&item, self.target) {
                (Value::Object(map), Target::Products) => self.state.update_product(id, map),
                (Value::Object(map), Target::Variations(pid)) => self.state.update_variation(pid, id, map),
                _ => Err(RestError::new(400, "rest_invalid_param", "Each item must be an object.")),
            };
            match result {
                Ok(()) => {
                    self.touched.product(self.product_of(id));
                    results.push(self.show(id));
                }
                Err(err) => results.push(item_error(id, &err)),
            }
        }
        results
    }

    fn delete(&mut self, items: Vec<Value>) -> Vec<Value> {
        let mut results = Vec::new();
        for item in items {
            let id = item.as_u64().or_else(|| item.get("id").and_then(Value::as_u64)).unwrap_or(0);
            if self.failing() {
                results.push(item_error(id, &Self::transient()));
                continue;
            }
            let shown = self.show(id);
            let result = match self.target {
                Target::Products => self.state.delete_product(id).map(|_| ()),
                Target::Variations(pid) => self.state.delete_variation(pid, id).map(|_| {
                    self.touched.product(pid);
                }),
            };
            match result {
                Ok(()) => results.push(shown),
                Err(err) => results.push(item_error(id, &err)),
            }
        }
        results
    }
}

// ---- Orders. ----

async fn list_orders(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query.as_deref());
    let listing = match Listing::parse(&pairs) {
        Ok(listing) => listing,
        Err(err) => return rest(&err),
    };
    let statuses: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "status" || k == "status[]")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| s != "any")
        .collect();
    let include = id_list(&pairs, "include");
    let items = {
        let state = platform.lock();
        let mut rows: Vec<_> = state
            .orders
            .values()
            .filter(|o| statuses.is_empty() || statuses.contains(&o.status))
            .filter(|o| statuses.iter().any(|s| s == "trash") || o.status != "trash")
            .filter(|o| include.is_empty() || include.contains(&o.id))
            .filter(|o| listing.keeps(o.created, o.modified))
            .map(|o| (o.id, o.created, o.modified, o))
            .collect();
        listing.sort(&mut rows);
        rows.into_iter().map(|(_, _, _, o)| Store::order_json(o, &platform.base_url)).collect()
    };
    paged(&platform, &format!("{WC}/orders"), &pairs, items)
}

fn order_response(platform: &WooCommerce, id: u64) -> Response {
    let state = platform.lock();
    match state.orders.get(&id) {
        Some(order) => Json(Store::order_json(order, &platform.base_url)).into_response(),
        None => not_found("woocommerce_rest_shop_order_invalid_id"),
    }
}

async fn get_order(State(platform): Shared, Path(id): Path<String>) -> Response {
    match id.parse::<u64>() {
        Ok(id) => order_response(&platform, id),
        Err(_) => not_found("woocommerce_rest_shop_order_invalid_id"),
    }
}

async fn update_order(State(platform): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found("woocommerce_rest_shop_order_invalid_id");
    };
    let fields = match json_object(&body) {
        Ok(fields) => fields,
        Err(err) => return rest(&err),
    };
    if !platform.lock().orders.contains_key(&id) {
        return not_found("woocommerce_rest_shop_order_invalid_id");
    }
    if let Some(status) = fields.get("status") {
        let Some(status) = status.as_str() else {
            return rest(&RestError::new(400, "rest_invalid_param", "Invalid parameter(s): status"));
        };
        let status = status.strip_prefix("wc-").unwrap_or(status).to_owned();
        let result = platform.lock().set_order_status(id, &status);
        match result {
            Ok(touched) => platform.announce(&touched),
            Err(err) => return rest(&err),
        }
    }
    order_response(&platform, id)
}

async fn list_notes(State(platform): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found("woocommerce_rest_order_invalid_id");
    };
    let state = platform.lock();
    match state.orders.get(&id) {
        Some(order) => {
            let notes: Vec<Value> =
                order.notes.iter().rev().map(|n| Store::note_json(id, n, &platform.base_url)).collect();
            Json(notes).into_response()
        }
        None => not_found("woocommerce_rest_order_invalid_id"),
    }
}

async fn create_note(State(platform): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found("woocommerce_rest_order_invalid_id");
    };
    let fields = match json_object(&body) {
        Ok(fields) => fields,
        Err(err) => return rest(&err),
    };
    let Some(note) = fields.get("note").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        return rest(&RestError::new(400, "rest_missing_callback_param", "Missing parameter(s): note"));
    };
    let customer_note = fields.get("customer_note").and_then(Value::as_bool).unwrap_or(false);
    let mut state = platform.lock();
    let Some(note_id) = state.add_note(id, note, customer_note, "WooCommerce") else {
        return not_found("woocommerce_rest_order_invalid_id");
    };
    let shown = state
        .orders
        .get(&id)
        .and_then(|o| o.notes.iter().find(|n| n.id == note_id))
        .map(|n| Store::note_json(id, n, &platform.base_url));
    (StatusCode::CREATED, Json(shown.unwrap_or(Value::Null))).into_response()
}

// ---- Webhooks. ----

async fn list_webhooks(State(platform): Shared) -> Response {
    let state = platform.lock();
    let hooks: Vec<Value> = state.hooks.values().map(|h| Store::hook_json(h, &platform.base_url)).collect();
    Json(hooks).into_response()
}

async fn create_webhook(State(platform): Shared, body: Bytes) -> Response {
    let fields = match json_object(&body) {
        Ok(fields) => fields,
        Err(err) => return rest(&err),
    };
    let topic = fields.get("topic").and_then(Value::as_str).unwrap_or_default().to_owned();
    let url = fields.get("delivery_url").and_then(Value::as_str).unwrap_or_default().to_owned();
    const TOPICS: &[&str] = &[
        "order.created",
        "order.updated",
        "order.deleted",
        "order.restored",
        "product.created",
        "product.updated",
        "product.deleted",
        "product.restored",
    ];
    if !TOPICS.contains(&topic.as_str()) {
        return rest(&RestError::new(400, "rest_invalid_param", "Invalid parameter(s): topic"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return rest(&RestError::new(400, "rest_invalid_param", "Invalid parameter(s): delivery_url"));
    }
    let secret = fields
        .get("secret")
        .and_then(Value::as_str)
        .map_or_else(|| platform.config.webhook_secret.expose_secret().to_owned(), str::to_owned);
    let name = fields.get("name").and_then(Value::as_str).unwrap_or("Webhook").to_owned();
    let target = platform.add_webhook(&url, secret, Some(vec![topic]), &name);
    let state = platform.lock();
    let shown = state.hooks.get(&target.id).map(|h| Store::hook_json(h, &platform.base_url));
    (StatusCode::CREATED, Json(shown.unwrap_or(Value::Null))).into_response()
}

async fn get_webhook(State(platform): Shared, Path(id): Path<String>) -> Response {
    let state = platform.lock();
    match id.parse::<u64>().ok().and_then(|id| state.hooks.get(&id)) {
        Some(hook) => Json(Store::hook_json(hook, &platform.base_url)).into_response(),
        None => not_found("woocommerce_rest_webhook_invalid_id"),
    }
}

async fn delete_webhook(State(platform): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found("woocommerce_rest_webhook_invalid_id");
    };
    let removed = platform.lock().hooks.remove(&id);
    match removed {
        Some(hook) => {
            platform.harness.webhooks().unregister(id);
            Json(Store::hook_json(&hook, &platform.base_url)).into_response()
        }
        None => not_found("woocommerce_rest_webhook_invalid_id"),
    }
}

// ---- Shipment Tracking extension. ----

async fn list_trackings(State(platform): Shared, Path(id): Path<String>) -> Response {
    if !platform.config.shipment_tracking {
        return no_route().await;
    }
    let state = platform.lock();
    match id.parse::<u64>().ok().and_then(|id| state.orders.get(&id)) {
        Some(order) => Json(order.trackings.iter().map(Store::tracking_json).collect::<Vec<_>>()).into_response(),
        None => not_found("woocommerce_rest_order_invalid_id"),
    }
}

async fn create_tracking(State(platform): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    if !platform.config.shipment_tracking {
        return no_route().await;
    }
    let Ok(id) = id.parse::<u64>() else {
        return not_found("woocommerce_rest_order_invalid_id");
    };
    let fields = match json_object(&body) {
        Ok(fields) => fields,
        Err(err) => return rest(&err),
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let number = text("tracking_number");
    if number.is_empty() {
        return rest(&RestError::new(400, "rest_missing_callback_param", "Missing parameter(s): tracking_number"));
    }
    // `create_item` stores `sanitize_title(tracking_provider)`; `get_formatted_tracking_item` shows a custom
    // provider as given, else the extension's provider whose title matches (with its link), else nothing.
    let custom = text("custom_tracking_provider");
    let (provider, link) = if custom.is_empty() {
        super::providers::formatted(&super::providers::sanitize_title(&text("tracking_provider")), &number, "")
    } else {
        // "Use %1$s where the carrier expects the tracking number. Shipment Tracking replaces that
        // placeholder when it formats the link" (woocommerce.com, "Create a custom-provider tracking item
        // with the REST API"); the order has no postcode or country here, so those are empty.
        let link = text("custom_tracking_link").replace("%1$s", &number).replace("%2$s", "").replace("%3$s", "");
        (custom, link)
    };
    let date_shipped = match fields.get("date_shipped") {
        Some(Value::String(date)) => date.clone(),
        Some(Value::Number(secs)) => secs
            .as_i64()
            .and_then(|s| Timestamp::from_second(s).ok())
            .map_or_else(String::new, |ts| ts.strftime("%Y-%m-%d").to_string()),
        _ => wc_date(Timestamp::now())[..10].to_owned(),
    };
    let mut state = platform.lock();
    if !state.orders.contains_key(&id) {
        return not_found("woocommerce_rest_order_invalid_id");
    }
    let tracking = Tracking { tracking_id: state.next_tracking_id(), provider, link, number, date_shipped };
    let shown = Store::tracking_json(&tracking);
    if let Some(order) = state.orders.get_mut(&id) {
        order.trackings.push(tracking);
    }
    (StatusCode::CREATED, Json(shown)).into_response()
}

/// `GET …/shipment-trackings/providers`: the extension's providers by country.
async fn list_providers(State(platform): Shared) -> Response {
    if !platform.config.shipment_tracking {
        return no_route().await;
    }
    Json(super::providers::providers_json()).into_response()
}
