//! Takealot Seller API v2 routes.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value, json};

use super::Takealot;
use super::state::{self, Identifier};
use crate::sandbox::Decision;

type Shared = State<Arc<Takealot>>;

pub(super) fn router(platform: Arc<Takealot>) -> Router {
    let router = Router::new()
        .route("/v2/offers", get(list_offers))
        .route("/v2/offers/count", get(count_offers))
        .route("/v2/offers/offer", get(get_offer_by_query).patch(patch_offer_by_query))
        .route("/v2/offers/offer/{identifier}", get(get_offer).patch(patch_offer))
        .route("/v2/offers/batch", post(create_batch))
        .route("/v2/offers/batch/{batch_id}", get(get_batch))
        .route("/v2/sales", get(list_sales));
    // Not in the swagger: served only when a test opts in (`TakealotConfig::serve_seller_endpoint`); by
    // default it is an unknown path like any other (404), as a real account answers.
    let router = if platform.config.serve_seller_endpoint { router.route("/v2/seller", get(seller)) } else { router };
    router
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&platform), auth_and_rate_limit))
        .with_state(platform)
}

fn message(status: StatusCode, text: impl Into<String>) -> Response {
    (status, Json(json!({"message": text.into()}))).into_response()
}

/// A refused request: status and message, answered as `{"message"}`; `field` names the query parameter
/// at fault, where there is one (for `view_sales`'s `Error.fields`).
#[derive(Debug)]
pub(super) struct Reject {
    status: StatusCode,
    message: String,
    field: &'static str,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        message(self.status, self.message)
    }
}

fn reject(status: StatusCode, text: impl Into<String>) -> Reject {
    Reject { status, message: text.into(), field: "" }
}

fn reject_field(field: &'static str, text: impl Into<String>) -> Reject {
    Reject { field, ..reject(StatusCode::BAD_REQUEST, text) }
}

async fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not Found")
}

fn rate_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert("x-RateLimit-Limit", HeaderValue::from(decision.limit_whole()));
    headers.insert("x-RateLimit-Remaining", HeaderValue::from(decision.remaining_whole()));
    headers.insert("x-RateLimit-Reset", HeaderValue::from(decision.reset_secs()));
}

/// `Authorization: Key <api_key>` (constant-time comparison), then the rate limit.
async fn auth_and_rate_limit(State(platform): Shared, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Key "))
        .map(str::trim);
    let authorised = given.is_some_and(|key| {
        channel_core::webhook::constant_time_eq(key.as_bytes(), platform.config.api_key.expose_secret().as_bytes())
    });
    if !authorised {
        let text =
            if given.is_none() { "Missing API key: send 'Authorization: Key <api key>'" } else { "Invalid API key" };
        // The swagger documents 403 "Forbidden Error" `{message}` for every operation (no 401).
        return message(StatusCode::FORBIDDEN, text);
    }
    let decision = platform.limiter.as_ref().map(|bucket| bucket.try_acquire(1.0));
    if let Some(decision) = decision
        && !decision.allowed
    {
        let mut response = message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        rate_headers(response.headers_mut(), &decision);
        return response;
    }
    let mut response = next.run(request).await;
    if let Some(decision) = decision {
        rate_headers(response.headers_mut(), &decision);
    }
    response
}

/// Query pairs, decoded, repeats kept.
fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `page_number` (from 1) and `page_size` (1..=max), or a 400.
fn paging(pairs: &[(String, String)], max: u32) -> Result<(usize, usize), Reject> {
    let number = match first(pairs, "page_number") {
        None => 1,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(reject_field("page_number", "page_number must be a whole number from 1")),
        },
    };
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let size = match first(pairs, "page_size") {
        None => max,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => return Err(reject_field("page_size", format!("page_size is limited to {max}"))),
        },
    };
    Ok((number, size))
}

async fn list_offers(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query.as_deref());
    let (number, size) = match paging(&pairs, platform.config.max_page_size) {
        Ok(paging) => paging,
        Err(rejection) => return rejection.into_response(),
    };
    let mut wanted = Vec::new();
    for (key, value) in &pairs {
        if key == "offer_ids" || key == "offer_ids[]" {
            for part in value.split(',').filter(|p| !p.is_empty()) {
                match part.trim().parse::<u64>() {
                    Ok(id) => wanted.push(id),
                    Err(_) => return message(StatusCode::BAD_REQUEST, "offer_ids must be whole numbers"),
                }
            }
        }
    }
    let state = platform.lock();
    let matching: Vec<_> =
        state.offers.values().filter(|offer| wanted.is_empty() || wanted.contains(&offer.offer_id)).collect();
    let offers: Vec<Value> = matching
        .iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .map(|offer| offer.to_json(&platform.config))
        .collect();
    Json(json!({"total_results": matching.len(), "page_size": size, "page_number": number, "offers": offers}))
        .into_response()
}

async fn count_offers(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query.as_deref());
    let statuses: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "offer_statuses" || k == "offer_statuses[]")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let state = platform.lock();
    let count =
        state.offers.values().filter(|o| statuses.is_empty() || statuses.iter().any(|s| s == o.status())).count();
    Json(json!({"count": count})).into_response()
}

fn resolve(platform: &Takealot, raw: &str) -> Result<u64, Reject> {
    let ident = Identifier::parse(raw).map_err(|text| reject(StatusCode::BAD_REQUEST, text))?;
    platform.lock().find(&ident).ok_or_else(|| reject(StatusCode::NOT_FOUND, "Offer not found"))
}

fn query_identifier(query: Option<&str>) -> Result<String, Reject> {
    first(&pairs(query), "identifier")
        .map(str::to_owned)
        .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "identifier is required"))
}

async fn get_offer(State(platform): Shared, Path(identifier): Path<String>) -> Response {
    show_offer(&platform, &identifier)
}

async fn get_offer_by_query(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    match query_identifier(query.as_deref()) {
        Ok(identifier) => show_offer(&platform, &identifier),
        Err(rejection) => rejection.into_response(),
    }
}

fn show_offer(platform: &Takealot, identifier: &str) -> Response {
    match resolve(platform, identifier) {
        Ok(id) => {
            let state = platform.lock();
            match state.offers.get(&id) {
                Some(offer) => Json(offer.to_json(&platform.config)).into_response(),
                None => message(StatusCode::NOT_FOUND, "Offer not found"),
            }
        }
        Err(rejection) => rejection.into_response(),
    }
}

async fn patch_offer(State(platform): Shared, Path(identifier): Path<String>, body: Bytes) -> Response {
    update_offer(&platform, &identifier, &body)
}

async fn patch_offer_by_query(State(platform): Shared, RawQuery(query): RawQuery, body: Bytes) -> Response {
    match query_identifier(query.as_deref()) {
        Ok(identifier) => update_offer(&platform, &identifier, &body),
        Err(rejection) => rejection.into_response(),
    }
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Reject> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(reject(StatusCode::BAD_REQUEST, "request body must be a JSON object")),
        Err(_) => Err(reject(StatusCode::BAD_REQUEST, "request body is not valid JSON")),
    }
}

/// `update_offer_by_identifier_v2`: a body outside `V2OfferSingleUpdate` (unknown field, wrong type) is 400
/// `{message}`; a rule the platform enforces answers 200 `V2OfferUpdateSuccessResponse` with the offer
/// unchanged and `validation_errors` (this emulator's reading of the swagger, which documents both).
fn update_offer(platform: &Takealot, identifier: &str, body: &[u8]) -> Response {
    let offer_id = match resolve(platform, identifier) {
        Ok(id) => id,
        Err(rejection) => return rejection.into_response(),
    };
    let fields = match json_object(body) {
        Ok(fields) => fields,
        Err(rejection) => return rejection.into_response(),
    };
    if let Err(text) = state::check_update_body(&fields, false) {
        return message(StatusCode::BAD_REQUEST, text);
    }
    let (result, offer) = {
        let mut state = platform.lock();
        let result = state.update(&platform.config, offer_id, &fields);
        (result, state.offers.get(&offer_id).map(|offer| offer.to_json(&platform.config)))
    };
    let validation_errors = match result {
        Ok(changed) => {
            if !changed.is_empty() {
                platform.fire(
                    "Offer Updated",
                    &json!({"seller_id": platform.config.seller_id, "offer_id": offer_id, "values_changed": changed}),
                );
            }
            Vec::new()
        }
        Err(err) => vec![err.to_json()],
    };
    Json(json!({"offer": offer.unwrap_or(Value::Null), "validation_errors": validation_errors})).into_response()
}

/// `create_batch_v2`: the body is a bare array of `V2OfferBatchCreateUpdate`, at most 10,000 (400
/// `{message}` otherwise, as for an item outside the schema); rules are checked per item when the batch is
/// processed and reported in its `result[].validation_errors`.
async fn create_batch(State(platform): Shared, body: Bytes) -> Response {
    let items = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items,
        Ok(_) => return message(StatusCode::BAD_REQUEST, "the body must be a JSON array of offers"),
        Err(_) => return message(StatusCode::BAD_REQUEST, "request body is not valid JSON"),
    };
    if items.is_empty() {
        return message(StatusCode::BAD_REQUEST, "a batch needs at least one offer");
    }
    if items.len() > platform.config.max_batch_size {
        return message(
            StatusCode::BAD_REQUEST,
            format!("a batch can contain at most {} offers", platform.config.max_batch_size),
        );
    }
    let mut bodies = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(map) = item else {
            return message(StatusCode::BAD_REQUEST, format!("offer {index}: each batch item must be a JSON object"));
        };
        if let Err(text) = state::check_update_body(&map, true) {
            return message(StatusCode::BAD_REQUEST, format!("offer {index}: {text}"));
        }
        bodies.push(map);
    }
    let partial = platform.harness.faults().take_partial_batch("/v2/offers/batch");
    let batch_id = platform.lock().new_batch(bodies, partial);
    let worker = Arc::clone(&platform);
    tokio::spawn(async move {
        tokio::time::sleep(worker.config.batch_processing_delay).await;
        let updated = worker.lock().process_batch(&worker.config, batch_id);
        for body in &updated {
            worker.fire("Offer Updated", body);
        }
        worker.fire(
            "Batch Completed",
            &json!({"seller_id": worker.config.seller_id, "batch_id": batch_id.to_string(), "status": "SUCCESS"}),
        );
    });
    let (id, description) = state::BATCH_PENDING;
    Json(json!({"batch_id": batch_id.to_string(), "status": {"id": id, "description": description}, "result": []}))
        .into_response()
}

async fn get_batch(State(platform): Shared, Path(batch_id): Path<String>) -> Response {
    // `batch_id` is a string in the swagger; this emulator issues numeric ones, so anything else is unknown.
    let Ok(batch_id) = batch_id.parse::<u64>() else {
        return message(StatusCode::NOT_FOUND, "Batch not found");
    };
    match platform.lock().batches.get(&batch_id) {
        Some(batch) => Json(batch.to_json()).into_response(),
        None => message(StatusCode::NOT_FOUND, "Batch not found"),
    }
}

/// `view_sales`'s error answer: the swagger's `Error` `{fields, message, status}`.
#[derive(Debug)]
struct SalesError {
    status: StatusCode,
    fields: String,
    message: String,
}

impl IntoResponse for SalesError {
    fn into_response(self) -> Response {
        let body = json!({"fields": self.fields, "message": self.message, "status": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

fn sales_error(status: StatusCode, fields: &str, text: impl Into<String>) -> SalesError {
    SalesError { status, fields: fields.to_owned(), message: text.into() }
}

/// A sales window and the field filters.
type SalesFilters = ((Date, Date), Vec<(String, String)>);

/// The filter fields `view_sales` supports.
const SALES_FILTERS: [&str; 11] = [
    "start_date",
    "end_date",
    "sku",
    "product_title",
    "tsin",
    "dc",
    "customer_dc",
    "sale_status",
    "po_number",
    "order_id",
    "promotion",
];

/// `view_sales`'s filters: `filters` is "a list of search parameters" `field:value`; the list may come as
/// one value separated by `,` (Swagger 2.0's default `csv`) or `;` (the swagger's example), or as repeated
/// `filters` parameters. The window (`start_date`/`end_date`, `YYYY-MM-DD`, South African dates) is at most
/// `max_days` days counting both ends; without one, the last 30 days (today and the 29 before). Answers
/// the window and the other field filters.
fn sales_filters(pairs: &[(String, String)], max_days: i64) -> Result<SalesFilters, SalesError> {
    let today = Timestamp::now().to_zoned(state::sast()).date();
    let (mut start, mut end, mut fields) = (None, None, Vec::new());
    let parts = pairs.iter().filter(|(k, _)| k == "filters" || k == "filters[]").flat_map(|(_, v)| v.split([',', ';']));
    for part in parts.filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once(':') else {
            return Err(sales_error(StatusCode::BAD_REQUEST, "filters", format!("invalid filter {part:?}")));
        };
        let key = key.trim();
        if !SALES_FILTERS.contains(&key) {
            return Err(sales_error(StatusCode::BAD_REQUEST, key, format!("unsupported filter {key:?}")));
        }
        if key == "start_date" || key == "end_date" {
            let date: Date = value
                .trim()
                .parse()
                .map_err(|_| sales_error(StatusCode::BAD_REQUEST, key, format!("{key} must be a date YYYY-MM-DD")))?;
            if key == "start_date" { start = Some(date) } else { end = Some(date) }
        } else {
            fields.push((key.to_owned(), value.trim().to_owned()));
        }
    }
    let end = end.unwrap_or(today);
    let start = start.unwrap_or_else(|| end.checked_sub(29.days()).unwrap_or(end));
    if end < start {
        return Err(sales_error(StatusCode::BAD_REQUEST, "end_date", "end_date is before start_date"));
    }
    // Both dates are included: 2026-01-01..2026-01-01 is one day.
    let days = start.until(end).map(|span| i64::from(span.get_days()) + 1).unwrap_or(i64::MAX);
    if days > max_days {
        let text = format!("the date range can be at most {max_days} days");
        return Err(sales_error(StatusCode::BAD_REQUEST, "start_date", text));
    }
    Ok(((start, end), fields))
}

/// Whether a sale (as the API shows it) matches a `field:value` filter.
fn sale_matches(sale: &Value, (field, wanted): &(String, String)) -> bool {
    match sale.get(field) {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Number(n)) => n.to_string() == *wanted,
        Some(Value::Bool(b)) => b.to_string() == *wanted,
        _ => false,
    }
}

async fn list_sales(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query.as_deref());
    let (number, size) = match paging(&pairs, platform.config.max_page_size) {
        Ok(paging) => paging,
        Err(rejection) => return sales_error(rejection.status, rejection.field, rejection.message).into_response(),
    };
    let ((start, end), fields) = match sales_filters(&pairs, platform.config.max_sales_window_days) {
        Ok(filters) => filters,
        Err(error) => return error.into_response(),
    };
    let state = platform.lock();
    let matching: Vec<Value> = state
        .sales
        .iter()
        .filter(|sale| {
            let date = sale.order_date.to_zoned(state::sast()).date();
            start <= date && date <= end
        })
        .map(state::Sale::to_json)
        .filter(|sale| fields.iter().all(|f| sale_matches(sale, f)))
        .collect();
    let sales: Vec<Value> = matching.iter().skip((number - 1).saturating_mul(size)).take(size).cloned().collect();
    Json(json!({
        "page_summary": {"page_size": size, "page_number": number, "total": matching.len()},
        "sales": sales,
    }))
    .into_response()
}

async fn seller(State(platform): Shared) -> Response {
    Json(json!({
        "seller_id": platform.config.seller_id,
        "display_name": platform.config.seller_name,
        "email": "seller@sandbox.invalid",
        "status": "Active",
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(query: &str) -> Result<(Date, Date), SalesError> {
        sales_filters(&pairs(Some(query)), 180).map(|(window, _)| window)
    }

    #[test]
    fn the_sales_window_counts_both_ends() {
        let (start, end) = window("filters=start_date:2026-01-01,end_date:2026-06-29").unwrap();
        assert_eq!(start.until(end).unwrap().get_days() + 1, 180, "180 days inclusive are accepted");
        let refused = window("filters=start_date:2026-01-01,end_date:2026-06-30").unwrap_err();
        assert_eq!((refused.status, refused.fields.as_str()), (StatusCode::BAD_REQUEST, "start_date"), "181 days");
        assert!(window("filters=start_date:2026-01-01;end_date:2026-01-01").is_ok(), "one day");
    }

    #[test]
    fn without_dates_the_window_is_the_last_30_days() {
        let (start, end) = window("").unwrap();
        assert_eq!(end, Timestamp::now().to_zoned(state::sast()).date());
        assert_eq!(start.until(end).unwrap().get_days() + 1, 30, "today and the 29 days before");
    }

    #[test]
    fn a_paging_error_names_its_field() {
        let bad_number = paging(&pairs(Some("page_number=0&page_size=10")), 100).unwrap_err();
        assert_eq!(bad_number.field, "page_number");
        let bad_size = paging(&pairs(Some("page_number=1&page_size=101")), 100).unwrap_err();
        assert_eq!(bad_size.field, "page_size");
    }
}
