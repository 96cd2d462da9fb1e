//! The admin REST routes, `/rest/<store_code>/V1/…`, as `admin-schema-2.4.9.yaml` documents them, with
//! the `searchCriteria` query language and Magento's error bodies.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use super::Magento;
use super::state::{ApiError, SourceItem, State as Store};

type Shared = State<Arc<Magento>>;

pub(super) fn router(platform: Arc<Magento>) -> Router {
    let api = Router::new()
        .route("/rest/{store}/V1/store/storeConfigs", get(store_configs))
        .route("/rest/{store}/V1/products", get(list_products))
        .route("/rest/{store}/V1/products/base-prices", post(base_prices))
        .route("/rest/{store}/V1/inventory/source-items", get(list_source_items).post(save_source_items))
        .route("/rest/{store}/V1/inventory/get-product-salable-quantity/{sku}/{stock}", get(salable_qty))
        .route("/rest/{store}/V1/orders", get(list_orders))
        .route("/rest/{store}/V1/orders/{id}", get(get_order))
        .route("/rest/{store}/V1/orders/{id}/cancel", post(cancel_order))
        .route("/rest/{store}/V1/order/{id}/ship", post(ship_order))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&platform), authenticate));
    api.with_state(platform)
}

pub(crate) fn error(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(err.body())).into_response()
}

async fn no_route() -> Response {
    error(&ApiError::new(404, "Request does not match any route.", Value::Null))
}

/// The ACL resource a route needs, as named in the `401` body.
fn resource_of(path: &str) -> &'static str {
    if path.contains("/inventory/") {
        "Magento_InventoryApi::source"
    } else if path.contains("/order") {
        "Magento_Sales::sales"
    } else if path.contains("/store/") {
        "Magento_Backend::store"
    } else {
        "Magento_Catalog::products"
    }
}

/// Bearer-token authentication: a missing or unknown token leaves the request a guest's, which the admin
/// routes refuse with `401` "The consumer isn't authorized to access %resources." (the store code must
/// be one the store has, else `400`); then the optional rate limit.
async fn authenticate(State(platform): Shared, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if token != Some(platform.config.access_token.expose_secret()) {
        return error(&ApiError::new(
            401,
            "The consumer isn't authorized to access %resources.",
            json!({"resources": resource_of(&path)}),
        ));
    }
    let store = path.trim_start_matches("/rest/").split('/').next().unwrap_or_default();
    if !platform.config.store_codes.iter().any(|c| c == store) {
        return error(&ApiError::new(
            400,
            "The store that was requested wasn't found. Verify the store and try again.",
            Value::Null,
        ));
    }
    if let Some(bucket) = &platform.limiter {
        let decision = bucket.try_acquire(1.0);
        if !decision.allowed {
            let mut response = error(&ApiError::new(429, "Too Many Requests", Value::Null));
            if let Ok(v) = header::HeaderValue::from_str(&decision.reset_secs().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
    }
    next.run(request).await
}

/// A parsed `searchCriteria` (camelCase as in the 2.4.9 spec; the snake_case spelling is accepted too).
#[derive(Debug, Default)]
pub(crate) struct Criteria {
    /// Groups (ANDed) of filters (ORed): `(field, value, condition)`.
    groups: BTreeMap<u32, BTreeMap<u32, [String; 3]>>,
    sort: Option<(String, String)>,
    page_size: Option<usize>,
    current_page: Option<usize>,
}

fn key_parts(key: &str) -> Vec<String> {
    key.split('[').map(|p| p.trim_end_matches(']').to_owned()).collect()
}

impl Criteria {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut c = Self::default();
        let mut sort_field = None;
        let mut sort_dir = None;
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let parts = key_parts(&k);
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            match parts.as_slice() {
                ["searchCriteria", "filterGroups" | "filter_groups", g, "filters", f, what] => {
                    let (Ok(g), Ok(f)) = (g.parse::<u32>(), f.parse::<u32>()) else { continue };
                    let slot = c
                        .groups
                        .entry(g)
                        .or_default()
                        .entry(f)
                        .or_insert_with(|| [String::new(), String::new(), "eq".to_owned()]);
                    match *what {
                        "field" => slot[0] = v.into_owned(),
                        "value" => slot[1] = v.into_owned(),
                        "conditionType" | "condition_type" => slot[2] = v.into_owned(),
                        _ => {}
                    }
                }
                ["searchCriteria", "sortOrders" | "sort_orders", "0", "field"] => sort_field = Some(v.into_owned()),
                ["searchCriteria", "sortOrders" | "sort_orders", "0", "direction"] => sort_dir = Some(v.into_owned()),
                ["searchCriteria", "pageSize" | "page_size"] => c.page_size = Some(number(&v)?),
                ["searchCriteria", "currentPage" | "current_page"] => c.current_page = Some(number(&v)?),
                _ => {}
            }
        }
        if let Some(f) = sort_field {
            c.sort = Some((f, sort_dir.unwrap_or_else(|| "ASC".into()).to_ascii_uppercase()));
        }
        Ok(c)
    }

    fn matches(&self, field: &dyn Fn(&str) -> Option<String>) -> bool {
        self.groups.values().all(|filters| filters.values().any(|[f, v, cond]| condition(field(f), v, cond)))
    }

    /// Filter, sort and page `rows` (each with its field reader): the page and `total_count`. Past the
    /// last page, the last page again when `repeat_last_page`, else nothing.
    pub(crate) fn apply<T: Clone>(
        &self,
        rows: Vec<T>,
        field: impl Fn(&T, &str) -> Option<String>,
        limits: &super::Limits,
    ) -> Result<(Vec<T>, usize, Value), ApiError> {
        let mut rows: Vec<T> = rows.into_iter().filter(|r| self.matches(&|f| field(r, f))).collect();
        if let Some((f, dir)) = &self.sort {
            rows.sort_by(|a, b| {
                let ord = compare(field(a, f).as_deref(), field(b, f).as_deref());
                if dir == "DESC" { ord.reverse() } else { ord }
            });
        }
        let total = rows.len();
        if let (Some(max), Some(size)) = (limits.max_page_size, self.page_size)
            && size > max
        {
            return Err(ApiError::new(400, "Maximum SearchCriteria pageSize is %max", json!({"max": max})));
        }
        let size = self.page_size.or(limits.default_page_size).unwrap_or(total.max(1)).max(1);
        let pages = total.div_ceil(size).max(1);
        let mut page = self.current_page.unwrap_or(1).max(1);
        if page > pages && limits.repeat_last_page {
            page = pages;
        }
        let page_rows: Vec<T> = rows.into_iter().skip((page - 1) * size).take(size).collect();
        let echo = json!({"filter_groups": [], "page_size": self.page_size, "current_page": page});
        Ok((page_rows, total, echo))
    }
}

fn number(v: &str) -> Result<usize, ApiError> {
    v.trim().parse().map_err(|_| ApiError::new(400, "\"%fieldName\" is not a number.", json!({"fieldName": v})))
}

fn compare(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    match (a.and_then(|a| a.parse::<f64>().ok()), b.and_then(|b| b.parse::<f64>().ok())) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(&b),
    }
}

/// One filter: `eq neq gt gteq lt lteq in nin like null notnull`.
fn condition(actual: Option<String>, value: &str, cond: &str) -> bool {
    let Some(actual) = actual else { return cond == "null" };
    let ord = || compare(Some(&actual), Some(value));
    match cond {
        "eq" => actual == value,
        "neq" => actual != value,
        "gt" => ord().is_gt(),
        "gteq" => ord().is_ge(),
        "lt" => ord().is_lt(),
        "lteq" => ord().is_le(),
        "in" => value.split(',').any(|v| v.trim() == actual),
        "nin" => !value.split(',').any(|v| v.trim() == actual),
        "like" => like(&actual, value),
        "notnull" => true,
        _ => false,
    }
}

/// SQL `LIKE` with `%` wildcards (case-insensitive, as MySQL's default collation).
fn like(actual: &str, pattern: &str) -> bool {
    let actual = actual.to_lowercase();
    let parts: Vec<String> = pattern.to_lowercase().split('%').map(str::to_owned).collect();
    let mut rest = actual.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part.as_str()) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return part.is_empty() || rest.ends_with(part.as_str());
        } else {
            let Some(at) = rest.find(part.as_str()) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

fn results(items: Vec<Value>, total: usize, echo: Value) -> Response {
    Json(json!({"items": items, "search_criteria": echo, "total_count": total})).into_response()
}

async fn store_configs(State(p): Shared) -> Response {
    let c = &p.config;
    let one = |id: u64, code: &str| {
        json!({
            "id": id, "code": code, "website_id": 1, "locale": "en_US", "base_currency_code": c.currency,
            "default_display_currency_code": c.currency, "timezone": "UTC", "weight_unit": "kgs",
            "base_url": format!("{}/", p.base_url), "base_link_url": format!("{}/", p.base_url),
            "secure_base_url": format!("{}/", p.base_url), "secure_base_link_url": format!("{}/", p.base_url)
        })
    };
    Json(json!([one(1, "default")])).into_response()
}

async fn list_products(State(p): Shared, RawQuery(q): RawQuery) -> Response {
    let c = match Criteria::parse(q.as_deref()) {
        Ok(c) => c,
        Err(e) => return error(&e),
    };
    let rows: Vec<_> = p.lock().products.values().cloned().collect();
    let field = |r: &super::state::Product, f: &str| match f {
        "entity_id" | "id" => Some(r.id.to_string()),
        "sku" => Some(r.sku.clone()),
        "name" => Some(r.name.clone()),
        "type_id" => Some(r.type_id.clone()),
        "status" => Some(r.status.to_string()),
        "price" => Some(r.price.to_string()),
        "updated_at" => Some(r.updated_at.clone()),
        _ => None,
    };
    match c.apply(rows, field, &p.limits()) {
        Ok((rows, total, echo)) => results(rows.iter().map(Store::product_json).collect(), total, echo),
        Err(e) => error(&e),
    }
}

async fn list_source_items(State(p): Shared, RawQuery(q): RawQuery) -> Response {
    let c = match Criteria::parse(q.as_deref()) {
        Ok(c) => c,
        Err(e) => return error(&e),
    };
    let rows: Vec<(String, String, SourceItem)> =
        p.lock().source_items.iter().map(|((sku, src), i)| (sku.clone(), src.clone(), i.clone())).collect();
    let field = |r: &(String, String, SourceItem), f: &str| match f {
        "sku" => Some(r.0.clone()),
        "source_code" => Some(r.1.clone()),
        "quantity" => Some(r.2.quantity.to_string()),
        "status" => Some(r.2.status.to_string()),
        _ => None,
    };
    match c.apply(rows, field, &p.limits()) {
        Ok((rows, total, echo)) => {
            results(rows.iter().map(|(s, src, i)| Store::source_item_json(s, src, i)).collect(), total, echo)
        }
        Err(e) => error(&e),
    }
}

/// The input-limiting refusal of an array longer than the limit.
fn too_many(p: &Magento, len: usize, type_name: &str) -> Option<Response> {
    let max = p.config.input_limit?;
    (len > max).then(|| {
        error(&ApiError::new(400, "Maximum items of type \"%type\" is %max", json!({"type": type_name, "max": max})))
    })
}

async fn save_source_items(State(p): Shared, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(&ApiError::new(400, "Decoding error: the request body is not valid JSON.", Value::Null));
    };
    let Some(items) = body.get("sourceItems").or_else(|| body.get("source_items")).and_then(Value::as_array) else {
        return error(&ApiError::new(
            400,
            "\"%fieldName\" is required. Enter and try again.",
            json!({"fieldName": "sourceItems"}),
        ));
    };
    if let Some(refusal) = too_many(&p, items.len(), "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface") {
        return refusal;
    }
    let partial = p.harness.faults().take_partial_batch("/rest/");
    match p.save_source_items(items, partial) {
        Ok(()) => Json(Value::Null).into_response(),
        Err(e) => error(&e),
    }
}

async fn base_prices(State(p): Shared, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(&ApiError::new(400, "Decoding error: the request body is not valid JSON.", Value::Null));
    };
    let Some(prices) = body.get("prices").and_then(Value::as_array) else {
        return error(&ApiError::new(
            400,
            "\"%fieldName\" is required. Enter and try again.",
            json!({"fieldName": "prices"}),
        ));
    };
    if let Some(refusal) = too_many(&p, prices.len(), "\\Magento\\Catalog\\Api\\Data\\BasePriceInterface") {
        return refusal;
    }
    let partial = p.harness.faults().take_partial_batch("/rest/");
    Json(p.save_prices(prices, partial)).into_response()
}

async fn salable_qty(State(p): Shared, Path((_, sku, stock)): Path<(String, String, u64)>) -> Response {
    if stock != p.config.stock_id {
        return error(&ApiError::new(404, "Stock with id \"%value\" does not exist.", json!({"value": stock})));
    }
    match p.lock().salable(&sku, &p.config.sources) {
        Some(q) => Json(json!(q)).into_response(),
        None => error(&ApiError::new(
            400,
            "Can't check requested quantity for products without Source Items support.",
            Value::Null,
        )),
    }
}

async fn list_orders(State(p): Shared, RawQuery(q): RawQuery) -> Response {
    let c = match Criteria::parse(q.as_deref()) {
        Ok(c) => c,
        Err(e) => return error(&e),
    };
    let rows: Vec<_> = p.lock().orders.values().cloned().collect();
    let field = |o: &super::state::Order, f: &str| match f {
        "entity_id" => Some(o.entity_id.to_string()),
        "increment_id" => Some(format!("{:09}", o.entity_id)),
        "state" => Some(o.state.clone()),
        "status" => Some(o.status.clone()),
        "created_at" => Some(o.created_at.clone()),
        "updated_at" => Some(o.updated_at.clone()),
        _ => None,
    };
    match c.apply(rows, field, &p.limits()) {
        Ok((rows, total, echo)) => {
            results(rows.iter().map(|o| Store::order_json(o, &p.config.currency)).collect(), total, echo)
        }
        Err(e) => error(&e),
    }
}

async fn get_order(State(p): Shared, Path((_, id)): Path<(String, u64)>) -> Response {
    match p.lock().orders.get(&id) {
        Some(o) => Json(Store::order_json(o, &p.config.currency)).into_response(),
        None => error(&ApiError::new(
            404,
            "The entity that was requested doesn't exist. Verify the entity and try again.",
            Value::Null,
        )),
    }
}

async fn cancel_order(State(p): Shared, Path((_, id)): Path<(String, u64)>) -> Response {
    match p.lock().cancel(id) {
        Ok(()) => Json(json!(true)).into_response(),
        Err(e) => error(&e),
    }
}

async fn ship_order(State(p): Shared, Path((_, id)): Path<(String, u64)>, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let items: Vec<(u64, f64)> = body
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|i| Some((i.get("order_item_id")?.as_u64()?, i.get("qty")?.as_f64()?))).collect())
        .unwrap_or_default();
    let tracks: Vec<Value> = body.get("tracks").and_then(Value::as_array).cloned().unwrap_or_default();
    for t in &tracks {
        for required in ["track_number", "title", "carrier_code"] {
            if t.get(required).and_then(Value::as_str).is_none_or(str::is_empty) {
                return error(&ApiError::new(
                    400,
                    "\"%fieldName\" is required. Enter and try again.",
                    json!({"fieldName": required}),
                ));
            }
        }
    }
    let result = p.lock().ship(id, &items, tracks, &p.config.sources);
    match result {
        Ok(shipment) => Json(json!(shipment)).into_response(),
        Err(e) => error(&e),
    }
}
