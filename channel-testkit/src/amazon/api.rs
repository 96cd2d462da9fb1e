//! SP-API routes: LWA, auth and per-operation rate limits, listings, feeds, reports, orders, FBA.

// Validation helpers answer the finished error response; its size does not matter in an emulator.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Amazon;
use super::state::{Job, fba_summary, feed};

type Shared = State<Arc<Amazon>>;

pub(super) fn router(platform: Arc<Amazon>) -> Router {
    let api = Router::new()
        .route("/sellers/v1/marketplaceParticipations", get(participations))
        .route("/listings/2021-08-01/items/{seller_id}", get(search_listings))
        .route("/listings/2021-08-01/items/{seller_id}/{sku}", get(get_listing).patch(patch_listing))
        .route("/feeds/2021-06-30/documents", post(create_feed_document))
        .route("/feeds/2021-06-30/documents/{id}", get(get_feed_document))
        .route("/feeds/2021-06-30/feeds", post(create_feed))
        .route("/feeds/2021-06-30/feeds/{id}", get(get_feed))
        .route("/reports/2021-06-30/reports", post(create_report))
        .route("/reports/2021-06-30/reports/{id}", get(get_report))
        .route("/reports/2021-06-30/documents/{id}", get(get_report_document))
        .merge(super::orders::routes())
        .route("/fba/inventory/v1/summaries", get(inventory_summaries))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&platform), auth_and_rate_limit));
    Router::new()
        .route("/auth/o2/token", post(lwa_token))
        .route("/s3/documents/{id}", put(upload_document).get(download_document))
        .merge(api)
        .with_state(platform)
}

/// The SP-API error shape: `{"errors": [{"code", "message", "details"}]}`.
pub(super) fn sp_error(status: StatusCode, code: &str, message: impl Into<String>, details: &str) -> Response {
    (status, Json(json!({"errors": [{"code": code, "message": message.into(), "details": details}]}))).into_response()
}

pub(super) fn invalid(message: impl Into<String>) -> Response {
    sp_error(StatusCode::BAD_REQUEST, "InvalidInput", message, "")
}

async fn not_found() -> Response {
    sp_error(StatusCode::NOT_FOUND, "NotFound", "The requested resource was not found.", "")
}

/// The operation name of an SP-API request, for its rate limit.
fn operation(method: &Method, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["sellers", "v1", "marketplaceParticipations"]) => "getMarketplaceParticipations",
        ("GET", ["listings", _, "items", _]) => "searchListingsItems",
        ("GET", ["listings", _, "items", _, _]) => "getListingsItem",
        ("PATCH", ["listings", _, "items", _, _]) => "patchListingsItem",
        ("POST", ["feeds", _, "documents"]) => "createFeedDocument",
        ("GET", ["feeds", _, "documents", _]) => "getFeedDocument",
        ("POST", ["feeds", _, "feeds"]) => "createFeed",
        ("GET", ["feeds", _, "feeds", _]) => "getFeed",
        ("POST", ["reports", _, "reports"]) => "createReport",
        ("GET", ["reports", _, "reports", _]) => "getReport",
        ("GET", ["reports", _, "documents", _]) => "getReportDocument",
        ("GET", ["orders", "2026-01-01", "orders"]) => "searchOrders",
        ("GET", ["orders", "2026-01-01", "orders", _]) => "getOrder",
        ("POST", ["orders", "v0", "orders", _, "shipmentConfirmation"]) => "confirmShipment",
        ("GET", ["fba", "inventory", "v1", "summaries"]) => "getInventorySummaries",
        _ => "other",
    }
}

/// `x-amz-access-token` (a live LWA access token), then the operation's token bucket.
async fn auth_and_rate_limit(State(platform): Shared, request: Request, next: Next) -> Response {
    let token = request.headers().get("x-amz-access-token").and_then(|v| v.to_str().ok()).map(str::trim);
    let Some(token) = token else {
        return sp_error(StatusCode::FORBIDDEN, "Unauthorized", "Access to requested resource is denied.", "");
    };
    match platform.token_state(token) {
        TokenState::Unknown => {
            return sp_error(
                StatusCode::FORBIDDEN,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided is revoked, malformed or invalid.",
            );
        }
        TokenState::Expired => {
            return sp_error(
                StatusCode::FORBIDDEN,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided has expired.",
            );
        }
        TokenState::Live => {}
    }
    let op = operation(request.method(), request.uri().path());
    let rate = match &platform.limiter {
        Some(limiter) => {
            let bucket = limiter.bucket(op);
            let decision = bucket.try_acquire(1.0);
            let rate = bucket.limit().refill_per_second;
            if !decision.allowed {
                let mut response = sp_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "QuotaExceeded",
                    "You exceeded your quota for the requested resource.",
                    "",
                );
                rate_header(response.headers_mut(), rate);
                return response;
            }
            Some(rate)
        }
        None => None,
    };
    let mut response = next.run(request).await;
    if let Some(rate) = rate {
        rate_header(response.headers_mut(), rate);
    }
    response
}

fn rate_header(headers: &mut HeaderMap, rate: f64) {
    let text = format!("{}", (rate * 10_000.0).round() / 10_000.0);
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.insert("x-amzn-RateLimit-Limit", value);
    }
}

/// Whether an access token is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenState {
    Live,
    Expired,
    Unknown,
}

/// Query pairs, decoded, repeats kept.
pub(super) fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

pub(super) fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A comma-separated list parameter (also accepted repeated).
pub(super) fn list(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
        .collect()
}

fn check_marketplaces(platform: &Amazon, pairs: &[(String, String)], key: &str) -> Result<(), Response> {
    let ids = list(pairs, key);
    if ids.is_empty() {
        return Err(invalid(format!("{key} is required")));
    }
    if let Some(other) = ids.iter().find(|id| **id != platform.config.marketplace_id) {
        return Err(invalid(format!("Invalid {key}: {other} is not a marketplace the seller participates in")));
    }
    Ok(())
}

fn check_seller(platform: &Amazon, seller_id: &str) -> Result<(), Response> {
    if seller_id == platform.config.seller_id {
        Ok(())
    } else {
        Err(sp_error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
            "The sellerId does not match the authorized selling partner.",
        ))
    }
}

pub(super) fn json_body(body: &[u8]) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(invalid("The request body must be a JSON object")),
    }
}

// ---- LWA ----------------------------------------------------------------------------------------------------

fn lwa_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn lwa_token(State(platform): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let form: Vec<(String, String)> = if content_type.starts_with("application/json") {
        match serde_json::from_slice::<serde_json::Map<String, Value>>(&body) {
            Ok(map) => map.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_owned()))).collect(),
            Err(_) => return lwa_error(StatusCode::BAD_REQUEST, "invalid_request", "Malformed request body"),
        }
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    let field = |name: &str| first(&form, name).unwrap_or_default().to_owned();
    let config = &platform.config;
    let (grant, client_id, client_secret, refresh) =
        (field("grant_type"), field("client_id"), field("client_secret"), field("refresh_token"));
    if grant.is_empty() || client_id.is_empty() || client_secret.is_empty() {
        return lwa_error(StatusCode::BAD_REQUEST, "invalid_request", "The request is missing a required parameter");
    }
    let same = |a: &str, b: &str| channel_core::webhook::constant_time_eq(a.as_bytes(), b.as_bytes());
    if !same(&client_id, &config.client_id) || !same(&client_secret, &config.client_secret) {
        return lwa_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    if grant != "refresh_token" {
        return lwa_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "The grant type is not supported");
    }
    if !same(&refresh, &config.refresh_token) {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    let token = platform.issue_token();
    Json(json!({
        "access_token": token,
        "refresh_token": config.refresh_token,
        "token_type": "bearer",
        "expires_in": config.token_lifetime.as_secs(),
    }))
    .into_response()
}

// ---- sellers ------------------------------------------------------------------------------------------------

async fn participations(State(platform): Shared) -> Response {
    let c = &platform.config;
    Json(json!({"payload": [{
        "marketplace": {"id": c.marketplace_id, "countryCode": c.country_code, "name": c.sales_channel,
                        "defaultCurrencyCode": c.currency, "defaultLanguageCode": "en_US", "domainName": c.sales_channel.to_lowercase()},
        "storeName": c.store_name,
        "participation": {"isParticipating": true, "hasSuspendedListings": false},
    }]}))
    .into_response()
}

// ---- listings -----------------------------------------------------------------------------------------------

/// `includedData` of getListingsItem and searchListingsItems (listingsItems_2021-08-01.json, the same enum
/// for both).
const INCLUDED_DATA: &[&str] = &[
    "summaries",
    "attributes",
    "issues",
    "offers",
    "fulfillmentAvailability",
    "procurement",
    "relationships",
    "productTypes",
];

/// `sortBy` and `sortOrder` of searchListingsItems.
const SORT_BY: &[&str] = &["sku", "createdDate", "lastUpdatedDate"];
const SORT_ORDER: &[&str] = &["ASC", "DESC"];

/// `identifiers.maxItems` of searchListingsItems.
const MAX_IDENTIFIERS: usize = 20;

/// The data sets asked for (default `summaries`), or a 400 for one outside the model's enum.
fn included(pairs: &[(String, String)]) -> Result<Vec<String>, Response> {
    let sets = list(pairs, "includedData");
    if let Some(bad) = sets.iter().find(|s| !INCLUDED_DATA.contains(&s.as_str())) {
        return Err(invalid(format!("includedData {bad:?} is not one of {INCLUDED_DATA:?}")));
    }
    Ok(if sets.is_empty() { vec!["summaries".to_owned()] } else { sets })
}

/// A single-valued parameter of an enum, or its default when absent; a 400 outside the enum.
fn one_of<'a>(
    pairs: &'a [(String, String)],
    key: &str,
    allowed: &[&str],
    default: &'a str,
) -> Result<&'a str, Response> {
    match first(pairs, key) {
        None => Ok(default),
        Some(v) if allowed.contains(&v) => Ok(v),
        Some(v) => Err(invalid(format!("{key} {v:?} is not one of {allowed:?}"))),
    }
}

async fn get_listing(
    State(platform): Shared,
    Path((seller_id, sku)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = pairs(query.as_deref());
    if let Err(response) =
        check_seller(&platform, &seller_id).and_then(|()| check_marketplaces(&platform, &pairs, "marketplaceIds"))
    {
        return response;
    }
    let sets = match included(&pairs) {
        Ok(sets) => sets,
        Err(response) => return response,
    };
    let state = platform.lock();
    match state.listings.get(&sku) {
        Some(listing) => Json(listing.to_json(&platform.config, &sets)).into_response(),
        None => sp_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("SKU '{sku}' not found in marketplace {}", platform.config.marketplace_id),
            "",
        ),
    }
}

/// `PatchOperation.op` (listingsItems_2021-08-01.json; listings-feed-schema-v2.json has the same enum).
pub(super) const PATCH_OPS: &[&str] = &["add", "replace", "merge", "delete"];

async fn patch_listing(
    State(platform): Shared,
    Path((seller_id, sku)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let pairs = pairs(query.as_deref());
    if let Err(response) =
        check_seller(&platform, &seller_id).and_then(|()| check_marketplaces(&platform, &pairs, "marketplaceIds"))
    {
        return response;
    }
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.get("productType").and_then(Value::as_str).is_none_or(str::is_empty) {
        return invalid("productType is required");
    }
    let Some(patches) = body.get("patches").and_then(Value::as_array) else {
        return invalid("patches is required");
    };
    // The body must match `ListingsItemPatchRequest`: at least one patch, each with an `op` of the
    // `PatchOperation` enum, a `path` and (optionally) an array of objects as `value`; else 400.
    if patches.is_empty() {
        return invalid("patches must contain at least one operation");
    }
    for patch in patches {
        let op = patch.get("op").and_then(Value::as_str).unwrap_or_default();
        if !PATCH_OPS.contains(&op) {
            return invalid(format!("op {op:?} is not one of {PATCH_OPS:?}"));
        }
        if !patch.get("path").is_some_and(Value::is_string) {
            return invalid("each patch needs a path");
        }
        if patch.get("value").is_some_and(|v| !v.as_array().is_some_and(|a| a.iter().all(Value::is_object))) {
            return invalid("a patch value must be an array of objects");
        }
    }
    let preview = first(&pairs, "mode") == Some("VALIDATION_PREVIEW");
    let submission = uuid::Uuid::new_v4().to_string();
    let product_type = body.get("productType").and_then(Value::as_str).unwrap_or_default();
    let result = {
        let mut state = platform.lock();
        // The model lists no 404 for patchListingsItem (200, 400, 403, 413, 415, 429, 500, 503): a SKU
        // Amazon does not know becomes an offer-only listing holding what was patched ("This is expected
        // behavior", amzn/selling-partner-api-models#2797), as a feed's PATCH or UPDATE does.
        let created = state.ensure_listing(&sku, product_type);
        let result = match state.plan_patches(&platform.config, &sku, patches) {
            Ok(_) if preview => Ok((Vec::new(), "VALID")),
            Ok(change) => Ok((state.apply(&platform.config, &sku, change), "ACCEPTED")),
            Err(issues) => Err(issues),
        };
        if created && (preview || result.is_err()) {
            state.listings.remove(&sku);
        }
        result
    };
    match result {
        Ok((notes, status)) => {
            platform.notify(notes);
            Json(json!({"sku": sku, "status": status, "submissionId": submission, "issues": []})).into_response()
        }
        Err(issues) => {
            Json(json!({"sku": sku, "status": "INVALID", "submissionId": submission, "issues": issues})).into_response()
        }
    }
}

async fn search_listings(
    State(platform): Shared,
    Path(seller_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut pairs = pairs(query.as_deref());
    if let Err(response) = check_seller(&platform, &seller_id) {
        return response;
    }
    let mut offset = 0;
    if let Some(token) = first(&pairs, "pageToken").map(str::to_owned) {
        let remembered = platform.lock().tokens.get(&token).cloned();
        let Some((original, at)) = remembered else { return invalid("Invalid pageToken") };
        // The token carries the original filters; page size may change between pages.
        let size = first(&pairs, "pageSize").map(str::to_owned);
        pairs = self::pairs(Some(&original));
        pairs.retain(|(k, _)| k != "pageSize");
        if let Some(size) = size {
            pairs.push(("pageSize".into(), size));
        }
        offset = at;
    }
    if let Err(response) = check_marketplaces(&platform, &pairs, "marketplaceIds") {
        return response;
    }
    let size = match first(&pairs, "pageSize").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=platform.config.max_search_page_size).contains(&n) => n,
        Some(_) => return invalid(format!("pageSize must be from 1 to {}", platform.config.max_search_page_size)),
    };
    let identifiers = list(&pairs, "identifiers");
    if !identifiers.is_empty() && first(&pairs, "identifiersType") != Some("SKU") {
        return invalid("identifiersType SKU is required with identifiers (the emulator supports SKU only)");
    }
    if identifiers.len() > MAX_IDENTIFIERS {
        return invalid(format!("at most {MAX_IDENTIFIERS} identifiers"));
    }
    // The model's enums (and defaults) for sortBy and sortOrder; anything else is a 400, never a default.
    let (sort_by, ascending, sets) = match (
        one_of(&pairs, "sortBy", SORT_BY, "lastUpdatedDate"),
        one_of(&pairs, "sortOrder", SORT_ORDER, "DESC"),
        included(&pairs),
    ) {
        (Ok(by), Ok(order), Ok(sets)) => (by.to_owned(), order == "ASC", sets),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let mut state = platform.lock();
    let mut matching: Vec<&super::state::Listing> =
        state.listings.values().filter(|l| identifiers.is_empty() || identifiers.contains(&l.sku)).collect();
    matching.sort_by(|a, b| {
        let order = match sort_by.as_str() {
            "sku" => a.sku.cmp(&b.sku),
            "createdDate" => a.created.cmp(&b.created).then_with(|| a.sku.cmp(&b.sku)),
            _ => a.updated.cmp(&b.updated).then_with(|| a.sku.cmp(&b.sku)),
        };
        if ascending { order } else { order.reverse() }
    });
    let total = matching.len();
    let reachable = total.min(platform.config.max_search_results);
    let items: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size.min(reachable.saturating_sub(offset)))
        .map(|l| l.to_json(&platform.config, &sets))
        .collect();
    let next = offset + items.len();
    let original: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(k, _)| k != "pageToken"))
        .finish();
    let mut pagination = serde_json::Map::new();
    if next < reachable {
        pagination.insert("nextToken".into(), json!(state.remember_token(original.clone(), next)));
    }
    if offset > 0 {
        pagination.insert("previousToken".into(), json!(state.remember_token(original, offset.saturating_sub(size))));
    }
    let mut out = json!({"numberOfResults": total, "items": items});
    if !pagination.is_empty() {
        out["pagination"] = Value::Object(pagination);
    }
    Json(out).into_response()
}

// ---- documents, feeds, reports -------------------------------------------------------------------------------

fn document_url(platform: &Amazon, id: &str, token: &str) -> String {
    format!("{}/s3/documents/{id}?X-Amz-Signature={token}", platform.base_url)
}

fn s3_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code></Error>"),
    )
        .into_response()
}

async fn create_feed_document(State(platform): Shared, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(content_type) = body.get("contentType").and_then(Value::as_str).filter(|c| !c.is_empty()) else {
        return invalid("contentType is required");
    };
    let mut state = platform.lock();
    let id = state.new_document(content_type, None);
    let token = state.documents.get(&id).map(|d| d.token.clone()).unwrap_or_default();
    Json(json!({"feedDocumentId": id, "url": document_url(&platform, &id, &token)})).into_response()
}

fn signed(platform: &Amazon, id: &str, query: Option<&str>) -> Result<super::state::Document, Response> {
    let given = pairs(query).into_iter().find(|(k, _)| k == "X-Amz-Signature").map(|(_, v)| v);
    let state = platform.lock();
    let Some(doc) = state.documents.get(id) else { return Err(s3_error(StatusCode::NOT_FOUND, "NoSuchKey")) };
    if given.is_none_or(|g| !channel_core::webhook::constant_time_eq(g.as_bytes(), doc.token.as_bytes())) {
        return Err(s3_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch"));
    }
    Ok(doc.clone())
}

async fn upload_document(
    State(platform): Shared,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = match signed(&platform, &id, query.as_deref()) {
        Ok(doc) => doc,
        Err(response) => return response,
    };
    let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if given != doc.content_type {
        return s3_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
    }
    if let Some(doc) = platform.lock().documents.get_mut(&id) {
        doc.body = Some(body);
    }
    StatusCode::OK.into_response()
}

async fn download_document(State(platform): Shared, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    match signed(&platform, &id, query.as_deref()) {
        Ok(doc) => match doc.body {
            Some(body) => ([(header::CONTENT_TYPE, doc.content_type)], body).into_response(),
            None => s3_error(StatusCode::NOT_FOUND, "NoSuchKey"),
        },
        Err(response) => response,
    }
}

async fn get_feed_document(State(platform): Shared, Path(id): Path<String>) -> Response {
    let state = platform.lock();
    match state.documents.get(&id) {
        Some(doc) => {
            let mut out = json!({"feedDocumentId": id, "url": document_url(&platform, &id, &doc.token)});
            if let Some(algorithm) = doc.compression {
                out["compressionAlgorithm"] = json!(algorithm);
            }
            Json(out).into_response()
        }
        None => sp_error(StatusCode::NOT_FOUND, "NotFound", format!("Feed document {id} not found"), ""),
    }
}

async fn create_feed(State(platform): Shared, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let feed_type = body.get("feedType").and_then(Value::as_str).unwrap_or_default().to_owned();
    if feed_type.is_empty() {
        return invalid("feedType is required");
    }
    let marketplaces: Vec<String> = body
        .get("marketplaceIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if marketplaces.is_empty() || marketplaces.len() > 25 {
        return invalid("marketplaceIds must list from 1 to 25 marketplaces");
    }
    if marketplaces.iter().any(|m| *m != platform.config.marketplace_id) {
        return invalid("marketplaceIds lists a marketplace the seller does not participate in");
    }
    let input = body.get("inputFeedDocumentId").and_then(Value::as_str).unwrap_or_default().to_owned();
    if platform.lock().documents.get(&input).is_none_or(|d| d.body.is_none()) {
        return invalid(format!("inputFeedDocumentId {input:?} does not name an uploaded feed document"));
    }
    // JSON_LISTINGS_FEED has its own per-feed-type limit (5 feeds per 5 minutes).
    if feed_type == "JSON_LISTINGS_FEED"
        && let Some(limiter) = &platform.limiter
    {
        let bucket = limiter.bucket("createFeed:JSON_LISTINGS_FEED");
        if !bucket.try_acquire(1.0).allowed {
            let mut response = sp_error(
                StatusCode::TOO_MANY_REQUESTS,
                "QuotaExceeded",
                "You exceeded your quota for the requested resource.",
                "",
            );
            rate_header(response.headers_mut(), bucket.limit().refill_per_second);
            return response;
        }
    }
    let partial = platform.harness.faults().take_partial_batch("/feeds/2021-06-30/feeds");
    let id = {
        let mut state = platform.lock();
        let id = (50_000_000_000 + state.next_number()).to_string();
        state.feeds.insert(
            id.clone(),
            Job {
                id: id.clone(),
                kind: feed_type,
                marketplace_ids: marketplaces,
                input: Some(input),
                status: "IN_QUEUE",
                created: Timestamp::now(),
                started: None,
                ended: None,
                result: None,
                partial,
            },
        );
        id
    };
    let worker = Arc::clone(&platform);
    let feed_id = id.clone();
    tokio::spawn(async move { worker.process_feed(&feed_id).await });
    (StatusCode::ACCEPTED, Json(json!({"feedId": id}))).into_response()
}

async fn get_feed(State(platform): Shared, Path(id): Path<String>) -> Response {
    match platform.lock().feeds.get(&id) {
        Some(feed) => Json(feed.feed_json()).into_response(),
        None => sp_error(StatusCode::NOT_FOUND, "NotFound", format!("Feed {id} not found"), ""),
    }
}

async fn create_report(State(platform): Shared, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let report_type = body.get("reportType").and_then(Value::as_str).unwrap_or_default().to_owned();
    if report_type != "GET_MERCHANT_LISTINGS_ALL_DATA" {
        return invalid(format!(
            "reportType {report_type:?} is not supported by the emulator (GET_MERCHANT_LISTINGS_ALL_DATA is)"
        ));
    }
    let marketplaces: Vec<String> = body
        .get("marketplaceIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if marketplaces.is_empty() || marketplaces.iter().any(|m| *m != platform.config.marketplace_id) {
        return invalid("marketplaceIds must list the seller's marketplace");
    }
    let id = {
        let mut state = platform.lock();
        let id = (60_000_000_000 + state.next_number()).to_string();
        state.reports.insert(
            id.clone(),
            Job {
                id: id.clone(),
                kind: report_type,
                marketplace_ids: marketplaces,
                input: None,
                status: "IN_QUEUE",
                created: Timestamp::now(),
                started: None,
                ended: None,
                result: None,
                partial: None,
            },
        );
        id
    };
    let worker = Arc::clone(&platform);
    let report_id = id.clone();
    tokio::spawn(async move { worker.process_report(&report_id).await });
    (StatusCode::ACCEPTED, Json(json!({"reportId": id}))).into_response()
}

async fn get_report(State(platform): Shared, Path(id): Path<String>) -> Response {
    match platform.lock().reports.get(&id) {
        Some(report) => Json(report.report_json()).into_response(),
        None => sp_error(StatusCode::NOT_FOUND, "NotFound", format!("Report {id} not found"), ""),
    }
}

async fn get_report_document(State(platform): Shared, Path(id): Path<String>) -> Response {
    let state = platform.lock();
    match state.documents.get(&id) {
        Some(doc) => {
            let mut out = json!({"reportDocumentId": id, "url": document_url(&platform, &id, &doc.token)});
            if let Some(algorithm) = doc.compression {
                out["compressionAlgorithm"] = json!(algorithm);
            }
            Json(out).into_response()
        }
        None => sp_error(StatusCode::NOT_FOUND, "NotFound", format!("Report document {id} not found"), ""),
    }
}

// ---- FBA inventory ------------------------------------------------------------------------------------------

/// Summaries per page (the real API pages at 50).
const FBA_PAGE: usize = 50;

async fn inventory_summaries(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    let mut pairs = pairs(query.as_deref());
    let mut offset = 0;
    if let Some(token) = first(&pairs, "nextToken").map(str::to_owned) {
        let remembered = platform.lock().tokens.get(&token).cloned();
        let Some((original, at)) = remembered else { return invalid("Invalid nextToken") };
        pairs = self::pairs(Some(&original));
        offset = at;
    }
    if first(&pairs, "granularityType") != Some("Marketplace") {
        return invalid("granularityType must be Marketplace");
    }
    if first(&pairs, "granularityId") != Some(platform.config.marketplace_id.as_str()) {
        return invalid("granularityId must be the seller's marketplace id");
    }
    if let Err(response) = check_marketplaces(&platform, &pairs, "marketplaceIds") {
        return response;
    }
    let details = first(&pairs, "details") == Some("true");
    let skus = list(&pairs, "sellerSkus");
    if skus.len() > 50 {
        return invalid("sellerSkus accepts at most 50 SKUs");
    }
    let mut state = platform.lock();
    let all: Vec<Value> = state
        .listings
        .values()
        .filter(|l| skus.is_empty() || skus.contains(&l.sku))
        .filter_map(|l| fba_summary(l, details))
        .collect();
    let page: Vec<Value> = all.iter().skip(offset).take(FBA_PAGE).cloned().collect();
    let next = offset + page.len();
    let mut out = json!({"payload": {
        "granularity": {"granularityType": "Marketplace", "granularityId": platform.config.marketplace_id},
        "inventorySummaries": page,
    }});
    if next < all.len() {
        let original: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(k, _)| k != "nextToken"))
            .finish();
        out["pagination"] = json!({"nextToken": state.remember_token(original, next)});
    }
    Json(out).into_response()
}

/// The background jobs the feed and report routes start, and the access tokens the token route issues
/// and every route checks.
impl Amazon {
    fn issue_token(&self) -> String {
        let token = format!("Atza|sandbox-{}", uuid::Uuid::new_v4().simple());
        let expires = Instant::now() + self.config.token_lifetime;
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), expires);
        token
    }

    fn token_state(&self, token: &str) -> TokenState {
        match self.tokens.lock().unwrap_or_else(PoisonError::into_inner).get(token) {
            None => TokenState::Unknown,
            Some(expires) if *expires <= Instant::now() => TokenState::Expired,
            Some(_) => TokenState::Live,
        }
    }

    async fn process_feed(&self, feed_id: &str) {
        tokio::time::sleep(halves(self.config.processing_delay)).await;
        if let Some(feed) = self.lock().feeds.get_mut(feed_id) {
            feed.status = "IN_PROGRESS";
            feed.started = Some(Timestamp::now());
        }
        tokio::time::sleep(halves(self.config.processing_delay)).await;
        let notes = {
            let mut state = self.lock();
            let Some(feed) = state.feeds.get(feed_id).cloned() else { return };
            let body = feed
                .input
                .as_ref()
                .and_then(|id| state.documents.get(id))
                .and_then(|d| d.body.clone())
                .unwrap_or_default();
            let processed = if feed.kind == "JSON_LISTINGS_FEED" {
                feed::process(&mut state, &self.config, feed_id, &body, feed.partial)
            } else {
                feed::Processed {
                    status: "FATAL",
                    report: json!({"header": {"sellerId": self.config.seller_id, "version": "2.0", "feedId": feed_id},
                        "issues": [{"code": "4000002", "severity": "ERROR",
                            "message": format!("Feed type {} is not supported; use JSON_LISTINGS_FEED", feed.kind)}],
                        "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 0, "messagesAccepted": 0, "messagesInvalid": 0}}),
                    notes: Vec::new(),
                }
            };
            let bytes = serde_json::to_vec(&processed.report).unwrap_or_default();
            let doc = state.generated_document("application/json", bytes, self.config.gzip_documents);
            if let Some(feed) = state.feeds.get_mut(feed_id) {
                feed.status = processed.status;
                feed.ended = Some(Timestamp::now());
                feed.result = Some(doc);
            }
            processed.notes
        };
        self.notify(notes);
    }

    async fn process_report(&self, report_id: &str) {
        tokio::time::sleep(halves(self.config.processing_delay)).await;
        if let Some(report) = self.lock().reports.get_mut(report_id) {
            report.status = "IN_PROGRESS";
            report.started = Some(Timestamp::now());
        }
        tokio::time::sleep(halves(self.config.processing_delay)).await;
        let mut state = self.lock();
        if state.listings.is_empty() {
            // "an automatic cancellation if there is no data to return" (Reports API): CANCELLED, no
            // document.
            if let Some(report) = state.reports.get_mut(report_id) {
                report.status = "CANCELLED";
                report.ended = Some(Timestamp::now());
            }
            return;
        }
        let text = state.listings_report(&self.config);
        // Encoded and declared as Amazon serves it (`text/plain; charset=Cp1252` in Europe); the charset
        // was checked when the emulator started.
        let charset = self.config.listings_report_charset();
        let encoding = encoding_rs::Encoding::for_label(charset.as_bytes()).unwrap_or(encoding_rs::UTF_8);
        let (bytes, _, _) = encoding.encode(&text);
        let doc = state.generated_document(
            &format!("text/plain; charset={charset}"),
            bytes.into_owned(),
            self.config.gzip_documents,
        );
        if let Some(report) = state.reports.get_mut(report_id) {
            report.status = "DONE";
            report.ended = Some(Timestamp::now());
            report.result = Some(doc);
        }
    }
}

/// How long feeds and reports stay in each state (half the delay `IN_QUEUE`, half `IN_PROGRESS`).
pub(super) fn halves(delay: Duration) -> Duration {
    delay / 2
}
