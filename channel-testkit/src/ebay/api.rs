//! eBay REST routes: OAuth token, Commerce Identity, Sell Inventory v1, Sell Fulfillment v1 — the shapes
//! of the OpenAPI descriptions in `../shared/fixtures/ebay/`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Ebay;
use super::state::{self, error};

type Shared = State<Arc<Ebay>>;

pub(super) const TOKEN_PATH: &str = "/identity/v1/oauth2/token";
pub(super) const BULK_UPDATE_PATH: &str = "/sell/inventory/v1/bulk_update_price_quantity";
const INVENTORY: &str = "/sell/inventory/v1";
const FULFILLMENT: &str = "/sell/fulfillment/v1";

pub(super) fn router(platform: Arc<Ebay>) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/commerce/identity/v1/user/", get(user))
        .route(&format!("{INVENTORY}/inventory_item"), get(inventory_items))
        .route(&format!("{INVENTORY}/inventory_item/{{sku}}"), get(inventory_item))
        .route(&format!("{INVENTORY}/bulk_get_inventory_item"), post(bulk_get))
        .route(&format!("{INVENTORY}/offer"), get(offers))
        .route(BULK_UPDATE_PATH, post(bulk_update))
        .route(&format!("{FULFILLMENT}/order"), get(orders))
        .route(&format!("{FULFILLMENT}/order/{{order_id}}"), get(order))
        .route(&format!("{FULFILLMENT}/order/{{order_id}}/shipping_fulfillment"), post(ship))
        .fallback(|| async { errors(StatusCode::NOT_FOUND, vec![error(2002, "Resource not found", "REQUEST")]) })
        .layer(middleware::from_fn_with_state(Arc::clone(&platform), auth_and_rate_limit))
        .with_state(platform)
}

fn errors(status: StatusCode, list: Vec<Value>) -> Response {
    (status, Json(json!({"errors": list}))).into_response()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({"error": code, "error_description": description}))).into_response()
}

/// Every API call but the token endpoint needs `Authorization: Bearer <unexpired access token>`
/// (eBay answers 401 with errorId 1001 "Invalid access token" otherwise); then the rate limit.
async fn auth_and_rate_limit(State(platform): Shared, request: Request, next: Next) -> Response {
    if request.uri().path() != TOKEN_PATH {
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        let valid = platform.lock().tokens.get(&token).is_some_and(|expires| Instant::now() < *expires);
        if !valid {
            let mut e = error(1001, "Invalid access token", "REQUEST");
            e["domain"] = json!("OAuth");
            e["longMessage"] = json!("Invalid access token. Check the value of the Authorization HTTP request header.");
            return errors(StatusCode::UNAUTHORIZED, vec![e]);
        }
    }
    if let Some(bucket) = &platform.limiter {
        let decision = bucket.try_acquire(1.0);
        if !decision.allowed {
            let mut e =
                error(2001, "Too many requests. The request limit has been reached for the resource.", "REQUEST");
            e["domain"] = json!("ACCESS");
            return errors(StatusCode::TOO_MANY_REQUESTS, vec![e]);
        }
    }
    next.run(request).await
}

fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `POST /identity/v1/oauth2/token`, refresh-token grant: Basic client credentials, form body.
async fn token(State(platform): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let config = &platform.config;
    let expected = format!("{}:{}", config.client_id.expose_secret(), config.client_secret.expose_secret());
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .unwrap_or_default();
    if !channel_core::webhook::constant_time_eq(&given, expected.as_bytes()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    let form = pairs(std::str::from_utf8(&body).ok());
    if first(&form, "grant_type") != Some("refresh_token") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type in request is not supported by the authorization server",
        );
    }
    let refresh = first(&form, "refresh_token").unwrap_or_default();
    if !channel_core::webhook::constant_time_eq(refresh.as_bytes(), config.refresh_token.expose_secret().as_bytes()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the provided authorization refresh token is invalid or was issued to another client",
        );
    }
    if let Some(scope) = first(&form, "scope")
        && scope.split_whitespace().any(|s| !config.scopes.iter().any(|g| g == s))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "the requested scope is invalid, unknown, malformed, or exceeds the scope granted to the client",
        );
    }
    let access = format!("v^1.1#i^1#sandbox#{}", uuid::Uuid::new_v4().simple());
    let lifetime = config.token_lifetime;
    platform.lock().tokens.insert(access.clone(), Instant::now() + lifetime);
    *platform.token_grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
    Json(json!({"access_token": access, "expires_in": lifetime.as_secs(), "token_type": "User Access Token"}))
        .into_response()
}

/// `GET /commerce/identity/v1/user/` (`getUser`).
async fn user(State(platform): Shared) -> Response {
    let c = &platform.config;
    Json(json!({
        "userId": c.user_id, "username": c.username, "accountType": "BUSINESS", "status": "CONFIRMED",
        "registrationMarketplaceId": c.marketplace_id,
        "businessAccount": {"name": "Sandbox Seller Ltd"},
    }))
    .into_response()
}

fn item_json(sku: &str, item: &state::Item) -> Value {
    json!({
        "sku": sku, "locale": "en_US", "condition": "NEW",
        "product": {"title": format!("Sandbox product {sku}")},
        "availability": {"shipToLocationAvailability": {"quantity": item.quantity}},
    })
}

/// A `limit` within 1..=max, or the eBay error object refusing it.
fn limit_of(q: &[(String, String)], default: usize, max: usize, field: &str) -> Result<usize, Value> {
    match first(q, field) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(error(25709, &format!("Invalid value for {field}"), "REQUEST")),
        },
    }
}

/// `getInventoryItems`: `limit` 1..=200 (default 25); `offset` is a page index (v1.18.2: "the first page
/// has a value of 0, the second page 1"); `next` links the following page.
async fn inventory_items(State(platform): Shared, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw.as_deref());
    let limit = match limit_of(&q, 25, platform.config.max_page_size, "limit") {
        Ok(l) => l,
        Err(e) => return errors(StatusCode::BAD_REQUEST, vec![e]),
    };
    let Ok(page) = first(&q, "offset").unwrap_or("0").parse::<usize>() else {
        return errors(StatusCode::BAD_REQUEST, vec![error(25709, "Invalid value for offset", "REQUEST")]);
    };
    let state = platform.lock();
    let visible: Vec<(&String, &state::Item)> =
        if state.not_migrated { Vec::new() } else { state.items.iter().collect() };
    let total = visible.len();
    let items: Vec<Value> = visible.iter().skip(page * limit).take(limit).map(|(s, i)| item_json(s, i)).collect();
    let base = format!("{}{INVENTORY}/inventory_item", platform.base_url);
    let mut body = json!({
        "href": format!("{base}?offset={page}&limit={limit}"), "limit": limit, "size": items.len(), "total": total,
        "inventoryItems": items,
    });
    if (page + 1) * limit < total {
        body["next"] = json!(format!("{base}?offset={}&limit={limit}", page + 1));
    }
    if page > 0 {
        body["prev"] = json!(format!("{base}?offset={}&limit={limit}", page - 1));
    }
    Json(body).into_response()
}

fn not_found_item() -> Response {
    errors(
        StatusCode::NOT_FOUND,
        vec![error(25710, "We didn't find the resource/entity you are requesting.", "REQUEST")],
    )
}

/// `getInventoryItem`.
async fn inventory_item(State(platform): Shared, Path(sku): Path<String>) -> Response {
    let state = platform.lock();
    match state.items.get(&sku).filter(|_| !state.not_migrated) {
        Some(item) => Json(item_json(&sku, item)).into_response(),
        None => not_found_item(),
    }
}

/// `bulkGetInventoryItem`: up to 25 SKUs; 200 when every one was found, else 207.
async fn bulk_get(State(platform): Shared, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, vec![error(25709, "Invalid value for requests", "REQUEST")]);
    };
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() || requests.len() > 25 {
        return errors(StatusCode::BAD_REQUEST, vec![error(25709, "Invalid value for requests", "REQUEST")]);
    }
    let state = platform.lock();
    let mut all_ok = true;
    let responses: Vec<Value> = requests
        .iter()
        .map(|r| {
            let sku = r["sku"].as_str().unwrap_or_default();
            match state.items.get(sku).filter(|_| !state.not_migrated) {
                Some(item) => json!({"statusCode": 200, "sku": sku, "inventoryItem": item_json(sku, item)}),
                None => {
                    all_ok = false;
                    json!({"statusCode": 404, "sku": sku, "errors": [error(25710, "We didn't find the resource/entity you are requesting.", "REQUEST")]})
                }
            }
        })
        .collect();
    let status = if all_ok { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    (status, Json(json!({"responses": responses}))).into_response()
}

/// `getOffers?sku=`: the SKU's one fixed-price offer; 404 (errorId 25713) when it has none.
async fn offers(State(platform): Shared, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw.as_deref());
    let Some(sku) = first(&q, "sku") else {
        return errors(StatusCode::BAD_REQUEST, vec![error(25707, "This is an invalid value for a SKU.", "REQUEST")]);
    };
    let state = platform.lock();
    let Some((item, offer)) = state.items.get(sku).and_then(|i| i.offer.as_ref().map(|o| (i, o))) else {
        return errors(StatusCode::NOT_FOUND, vec![error(25713, "This Offer is not available.", "REQUEST")]);
    };
    let c = &platform.config;
    let status = if item.quantity > 0 { "ACTIVE" } else { "OUT_OF_STOCK" };
    Json(json!({
        "href": format!("{}{INVENTORY}/offer?sku={sku}", platform.base_url), "limit": 100, "size": 1, "total": 1,
        "offers": [{
            "offerId": offer.offer_id, "sku": sku, "marketplaceId": c.marketplace_id, "format": "FIXED_PRICE",
            "availableQuantity": item.quantity, "status": "PUBLISHED", "categoryId": "20625",
            "pricingSummary": {"price": {"value": format!("{:.2}", offer.price), "currency": c.currency}},
            "listing": {"listingId": offer.listing_id, "listingStatus": status, "soldQuantity": 0},
        }],
    }))
    .into_response()
}

/// `bulkUpdatePriceQuantity`: see [`Ebay::bulk_update`].
async fn bulk_update(State(platform): Shared, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, vec![error(25709, "Invalid value for requests", "REQUEST")]);
    };
    match platform.bulk_update(&body) {
        Ok((status, responses)) => (status, Json(json!({"responses": responses}))).into_response(),
        Err(list) => errors(StatusCode::BAD_REQUEST, list),
    }
}

/// The `filter` of `getOrders`: `lastmodifieddate:[from..to]` or `creationdate:[from..to]` (`to`
/// optional), each within the last 90 days.
fn order_filter(raw: Option<&str>) -> Result<(bool, Timestamp, Option<Timestamp>), Value> {
    let bad = || error(30700, "Invalid filter value", "REQUEST");
    let floor = Timestamp::now() - SignedDuration::from_hours(90 * 24);
    let Some(raw) = raw else { return Ok((false, floor, None)) };
    let (field, range) = raw.split_once(':').ok_or_else(bad)?;
    let by_modified = match field.trim() {
        "lastmodifieddate" => true,
        "creationdate" => false,
        _ => return Err(bad()),
    };
    let inner = range.trim().strip_prefix('[').and_then(|r| r.strip_suffix(']')).ok_or_else(bad)?;
    let (from, to) = inner.split_once("..").ok_or_else(bad)?;
    let from: Timestamp = from.trim().parse().map_err(|_| bad())?;
    let to = if to.trim().is_empty() { None } else { Some(to.trim().parse::<Timestamp>().map_err(|_| bad())?) };
    Ok((by_modified, from.max(floor), to))
}

/// `getOrders`: `filter`, `limit` 1..=200 (default 50), `offset` (a record offset), `next`.
async fn orders(State(platform): Shared, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw.as_deref());
    let limit = match limit_of(&q, 50, 200, "limit") {
        Ok(l) => l,
        Err(e) => return errors(StatusCode::BAD_REQUEST, vec![e]),
    };
    let (by_modified, from, to) = match order_filter(first(&q, "filter")) {
        Ok(f) => f,
        Err(e) => return errors(StatusCode::BAD_REQUEST, vec![e]),
    };
    let Ok(offset) = first(&q, "offset").unwrap_or("0").parse::<usize>() else {
        return errors(StatusCode::BAD_REQUEST, vec![error(30700, "Invalid offset", "REQUEST")]);
    };
    let state = platform.lock();
    let matching: Vec<&state::Order> = state
        .orders
        .iter()
        .filter(|o| {
            let t = if by_modified { o.modified } else { o.created };
            t >= from && to.is_none_or(|to| t <= to)
        })
        .collect();
    let total = matching.len();
    let page: Vec<Value> =
        matching.iter().skip(offset).take(limit).map(|o| o.to_json(&platform.config.currency)).collect();
    let filter = first(&q, "filter")
        .map(|f| format!("filter={}&", url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()))
        .unwrap_or_default();
    let base = format!("{}{FULFILLMENT}/order", platform.base_url);
    let mut body = json!({
        "href": format!("{base}?{filter}limit={limit}&offset={offset}"), "limit": limit, "offset": offset,
        "total": total, "orders": page, "warnings": [],
    });
    if offset + limit < total {
        body["next"] = json!(format!("{base}?{filter}limit={limit}&offset={}", offset + limit));
    }
    Json(body).into_response()
}

/// `getOrder`.
async fn order(State(platform): Shared, Path(order_id): Path<String>) -> Response {
    let state = platform.lock();
    match state.orders.iter().find(|o| o.order_id == order_id) {
        Some(o) => Json(o.to_json(&platform.config.currency)).into_response(),
        None => errors(StatusCode::NOT_FOUND, vec![error(32100, "Invalid order ID", "REQUEST")]),
    }
}

/// `createShippingFulfillment`: 201 with `Location` of the new fulfillment.
async fn ship(State(platform): Shared, Path(order_id): Path<String>, body: Bytes) -> Response {
    let bad = |id: i64, m: &str| errors(StatusCode::BAD_REQUEST, vec![error(id, m, "REQUEST")]);
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return bad(32000, "Invalid request") };
    let lines = body["lineItems"].as_array().cloned().unwrap_or_default();
    let number = body["trackingNumber"].as_str().unwrap_or_default();
    let carrier = body["shippingCarrierCode"].as_str().unwrap_or_default();
    if lines.is_empty() || number.is_empty() || carrier.is_empty() {
        return bad(32500, "lineItems, shippingCarrierCode and trackingNumber are required");
    }
    if let Some(date) = body["shippedDate"].as_str()
        && date.parse::<Timestamp>().is_err()
    {
        return bad(32600, "Invalid shippedDate");
    }
    let mut state = platform.lock();
    let Ok(order) = state.order_mut(&order_id) else {
        return errors(StatusCode::NOT_FOUND, vec![error(32100, "Invalid order ID", "REQUEST")]);
    };
    if order.cancelled {
        return bad(32400, "The order was cancelled");
    }
    for l in &lines {
        let id = l["lineItemId"].as_str().unwrap_or_default();
        let quantity = l["quantity"].as_i64().unwrap_or(0);
        let Some(line) = order.lines.iter_mut().find(|x| x.line_item_id == id) else {
            return bad(32210, "Invalid line item id");
        };
        if quantity < 1 || line.shipped + quantity > line.quantity {
            return bad(32220, "Invalid line item quantity");
        }
        line.shipped += quantity;
    }
    let fulfillment_id = number.to_owned();
    order.fulfillments.push(body.clone());
    order.modified = Timestamp::now();
    let location = format!("{}{FULFILLMENT}/order/{order_id}/shipping_fulfillment/{fulfillment_id}", platform.base_url);
    let mut response = (StatusCode::CREATED, Json(json!({}))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Parses a decimal amount of an `Amount`.
pub(super) fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_f64().and_then(|f| Decimal::try_from(f).ok()))
}
