//! Orders and shipments, written from the models in `../shared/fixtures/amazon`:
//! `orders_2026-01-01.json` (`searchOrders`, `getOrder`: the answers are built to its `SearchOrdersResponse` /
//! `GetOrderResponse` schemas) and `ordersV0.json` (`confirmShipment`, the one v0 order operation Amazon has
//! not deprecated). The deprecated v0 reads (`getOrders`, `getOrder`, `getOrderItems`, …) are not routed:
//! they answer the API's `404` `{"errors": [{"code": "NotFound", …}]}` like any unknown resource.

// Validation helpers answer the finished error response; its size does not matter in an emulator.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::api::{first, invalid, json_body, list, pairs, sp_error};
use super::state::{self, Note, Order, ts};
use super::{Amazon, AmazonConfig};

type Shared = State<Arc<Amazon>>;

/// The `includedData` values of the model (`searchOrders` and `getOrder` take the same list).
const INCLUDED_DATA: &[&str] = &[
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
];
/// `FulfillmentStatus`.
const FULFILLMENT_STATUSES: &[&str] =
    &["PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED", "UNFULFILLABLE"];
/// Parameters a `paginationToken` request may change ("with the exception of `maxResultsPerPage` and
/// `includedData`, which can be modified between calls").
const MAY_CHANGE: &[&str] = &["paginationToken", "maxResultsPerPage", "includedData"];

pub(super) fn routes() -> Router<Arc<Amazon>> {
    Router::new()
        .route("/orders/2026-01-01/orders", get(search_orders))
        .route("/orders/2026-01-01/orders/{id}", get(get_order))
        .route("/orders/v0/orders/{id}/shipmentConfirmation", post(confirm_shipment))
}

/// The v2026-01-01 `FulfillmentStatus` of the emulator's order status (kept in the v0 spelling that
/// `ORDER_CHANGE` notifications carry).
fn fulfillment_status(status: &str) -> &'static str {
    match status {
        "PendingAvailability" => "PENDING_AVAILABILITY",
        "Pending" => "PENDING",
        "PartiallyShipped" => "PARTIALLY_SHIPPED",
        "Shipped" => "SHIPPED",
        "Canceled" => "CANCELLED",
        "Unfulfillable" => "UNFULFILLABLE",
        _ => "UNSHIPPED",
    }
}

fn money(config: &AmazonConfig, amount: Decimal) -> Value {
    json!({"amount": amount.round_dp(2).to_string(), "currencyCode": config.currency})
}

/// An `Order` of the model: the required fields, the items (always included) and the datasets of
/// `included` the emulator holds data for (`FULFILLMENT`, `PACKAGES`, `PROCEEDS`, `CANCELLATION`). It holds
/// no buyer, recipient, tax or payment data, so those datasets add nothing.
fn order_json(config: &AmazonConfig, o: &Order, included: &[String]) -> Value {
    let has = |d: &str| included.iter().any(|i| i == d);
    let cancelled = o.status == "Canceled";
    let items: Vec<Value> = o
        .items
        .iter()
        .map(|i| {
            let mut item = json!({
                "orderItemId": i.order_item_id,
                "quantityOrdered": i.quantity,
                "product": {
                    "asin": i.asin,
                    "title": i.title,
                    "sellerSku": i.sku,
                    "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                    "price": {"unitPrice": money(config, i.price)},
                },
            });
            if has("FULFILLMENT") {
                let unfulfilled = if cancelled { 0 } else { i.quantity - i.shipped };
                item["fulfillment"] = json!({"quantityFulfilled": i.shipped, "quantityUnfulfilled": unfulfilled});
            }
            if has("PROCEEDS") {
                let total = i.price * Decimal::from(i.quantity);
                item["proceeds"] = json!({"proceedsTotal": money(config, total),
                    "breakdowns": [{"type": "ITEM", "subtotal": money(config, total)}]});
            }
            if has("CANCELLATION") && cancelled {
                item["cancellation"] = json!({"cancellationExecution": {"cancelledBy": "BUYER"}});
            }
            item
        })
        .collect();
    let mut order = json!({
        "orderId": o.id,
        "createdTime": ts(o.purchased),
        "lastUpdatedTime": ts(o.updated),
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": config.marketplace_id,
            "marketplaceName": config.sales_channel},
        "orderItems": items,
    });
    if has("FULFILLMENT") {
        order["fulfillment"] = json!({
            "fulfillmentStatus": fulfillment_status(o.status),
            "fulfilledBy": if o.afn { "AMAZON" } else { "MERCHANT" },
            "fulfillmentServiceLevel": "STANDARD",
        });
    }
    if has("PROCEEDS") {
        let total: Decimal = o.items.iter().map(|i| i.price * Decimal::from(i.quantity)).sum();
        order["proceeds"] = json!({"grandTotal": money(config, total)});
    }
    // "Only available for merchant-fulfilled (FBM) orders."
    if has("PACKAGES") && !o.afn {
        order["packages"] = Value::Array(o.shipments.iter().map(package_json).collect());
    }
    order
}

/// An `OrderPackage` of a confirmed `PackageDetail`.
fn package_json(p: &Value) -> Value {
    let items: Vec<Value> = p["orderItems"]
        .as_array()
        .map(|a| a.iter().map(|i| json!({"orderItemId": i["orderItemId"], "quantity": i["quantity"]})).collect())
        .unwrap_or_default();
    let carrier = match p["carrierCode"].as_str() {
        Some("Other") | None => p["carrierName"].clone(),
        Some(code) => json!(code),
    };
    let mut package = json!({
        "packageReferenceId": p["packageReferenceId"],
        "packageStatus": {"status": "SHIPPED"},
        "carrier": carrier,
        "shipTime": p["shipDate"],
        "trackingNumber": p["trackingNumber"],
        "packageItems": items,
    });
    if let Some(method) = p["shippingMethod"].as_str() {
        package["shippingService"] = json!(method);
    }
    package
}

/// `includedData`: each value must be one of the model's enum.
fn included_data(pairs: &[(String, String)]) -> Result<Vec<String>, Response> {
    let included = list(pairs, "includedData");
    match included.iter().find(|d| !INCLUDED_DATA.contains(&d.as_str())) {
        Some(bad) => Err(invalid(format!("Invalid includedData value: {bad}"))),
        None => Ok(included),
    }
}

fn parse_time(text: &str, name: &str) -> Result<Timestamp, Response> {
    text.parse::<Timestamp>().map_err(|_| invalid(format!("{name} must be an ISO 8601 date-time")))
}

/// The time filter of `searchOrders`: `(by update, after, before)`. "You must provide exactly one of
/// `createdAfter` and `lastUpdatedAfter`"; a `…Before` "must be equal to or after the `…After` date and at
/// least two minutes before the time of the request"; the two families do not mix.
/// The "two minutes" are [`AmazonConfig::orders_settle`] (the documented 120 s by default).
fn time_filter(
    pairs: &[(String, String)],
    now: Timestamp,
    settle: std::time::Duration,
) -> Result<(bool, Timestamp, Option<Timestamp>), Response> {
    let get = |k: &str| first(pairs, k);
    let (by_update, after) = match (get("createdAfter"), get("lastUpdatedAfter")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(invalid("Exactly one of createdAfter and lastUpdatedAfter must be provided"));
        }
        (Some(t), None) => (false, parse_time(t, "createdAfter")?),
        (None, Some(t)) => (true, parse_time(t, "lastUpdatedAfter")?),
    };
    let (own, other) =
        if by_update { ("lastUpdatedBefore", "createdBefore") } else { ("createdBefore", "lastUpdatedBefore") };
    if get(other).is_some() {
        return Err(invalid(format!(
            "{other} may not be provided with {}",
            if by_update { "lastUpdatedAfter" } else { "createdAfter" }
        )));
    }
    let before = match get(own) {
        None => None,
        Some(t) => {
            let b = parse_time(t, own)?;
            let settle = SignedDuration::try_from(settle).unwrap_or(SignedDuration::MAX);
            if b < after || now.checked_sub(settle).is_ok_and(|latest| b > latest) {
                return Err(invalid(format!(
                    "{own} must be at or after the start and at least {} seconds before the time of the request",
                    settle.as_secs()
                )));
            }
            Some(b)
        }
    };
    Ok((by_update, after, before))
}

/// Check the enum-valued filters of `searchOrders`; answer the `fulfillmentStatuses` and `fulfilledBy` lists.
fn filters(platform: &Amazon, pairs: &[(String, String)]) -> Result<(Vec<String>, Vec<String>), Response> {
    let markets = list(pairs, "marketplaceIds");
    if markets.len() > 50 {
        return Err(invalid("marketplaceIds takes at most 50 values"));
    }
    if let Some(other) = markets.iter().find(|m| **m != platform.config.marketplace_id) {
        return Err(invalid(format!(
            "Invalid marketplaceIds: {other} is not a marketplace the seller participates in"
        )));
    }
    let statuses = list(pairs, "fulfillmentStatuses");
    if let Some(bad) = statuses.iter().find(|s| !FULFILLMENT_STATUSES.contains(&s.as_str())) {
        return Err(invalid(format!("Invalid fulfillmentStatuses value: {bad}")));
    }
    let by = list(pairs, "fulfilledBy");
    if let Some(bad) = by.iter().find(|b| !["MERCHANT", "AMAZON"].contains(&b.as_str())) {
        return Err(invalid(format!("Invalid fulfilledBy value: {bad}")));
    }
    Ok((statuses, by))
}

/// The parameters of a request that a `paginationToken` request must repeat, sorted.
fn fixed_parameters(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut fixed: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| !MAY_CHANGE.contains(&k.as_str())).cloned().collect();
    fixed.sort();
    fixed
}

/// `GET /orders/2026-01-01/orders` (searchOrders).
async fn search_orders(State(platform): Shared, RawQuery(query): RawQuery) -> Response {
    let pairs = pairs(query.as_deref());
    let mut resume: Option<(Timestamp, String)> = None;
    if let Some(token) = first(&pairs, "paginationToken") {
        let remembered = platform.lock().order_tokens.get(token).cloned();
        let Some((original, at)) = remembered else { return invalid("Invalid paginationToken") };
        if fixed_parameters(&super::api::pairs(Some(&original))) != fixed_parameters(&pairs) {
            return invalid(
                "All other parameters must be provided with the same values that were provided with the request that generated this token",
            );
        }
        resume = Some(at);
    }
    let now = Timestamp::now();
    let (by_update, after, before) = match time_filter(&pairs, now, platform.config.orders_settle) {
        Ok(f) => f,
        Err(response) => return response,
    };
    let (statuses, by) = match filters(&platform, &pairs) {
        Ok(f) => f,
        Err(response) => return response,
    };
    let included = match included_data(&pairs) {
        Ok(i) => i,
        Err(response) => return response,
    };
    let size = match first(&pairs, "maxResultsPerPage").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return invalid("maxResultsPerPage must be between 1 and 100"),
    };
    let mut state = platform.lock();
    let mut matching: Vec<&Order> = state
        .orders
        .values()
        .filter(|o| {
            let at = if by_update { o.updated } else { o.purchased };
            at >= after && before.is_none_or(|b| at <= b)
        })
        .filter(|o| statuses.is_empty() || statuses.iter().any(|s| s == fulfillment_status(o.status)))
        .filter(|o| by.is_empty() || by.iter().any(|b| b == if o.afn { "AMAZON" } else { "MERCHANT" }))
        .collect();
    let key = |o: &Order| (if by_update { o.updated } else { o.purchased }, o.id.clone());
    matching.sort_by_key(|o| key(o));
    // A token resumes after the sort key of the last order it answered (the model does not say how
    // Amazon's tokens page: this emulator's choice, see docs/fidelity.md), so an order that leaves the
    // window while pages are read does not shift the others.
    let rest: Vec<&Order> =
        matching.into_iter().filter(|o| resume.as_ref().is_none_or(|last| key(o) > *last)).collect();
    let page: Vec<&Order> = rest.iter().take(size).copied().collect();
    let orders: Vec<Value> = page.iter().map(|o| order_json(&platform.config, o, &included)).collect();
    let last = page.last().map(|o| key(o));
    let more = rest.len() > page.len();
    let mut answer = json!({"orders": orders});
    answer[if by_update { "lastUpdatedBefore" } else { "createdBefore" }] = json!(ts(before.unwrap_or(now)));
    if let (true, Some(last)) = (more, last) {
        let original: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(k, _)| k != "paginationToken"))
            .finish();
        answer["pagination"] = json!({"nextToken": state.remember_order_token(original, last)});
    }
    Json(answer).into_response()
}

fn order_not_found(id: &str) -> Response {
    sp_error(StatusCode::NOT_FOUND, "NotFound", format!("Order {id} not found"), "")
}

/// `GET /orders/2026-01-01/orders/{orderId}` (getOrder).
async fn get_order(State(platform): Shared, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let included = match included_data(&pairs(query.as_deref())) {
        Ok(i) => i,
        Err(response) => return response,
    };
    match platform.lock().orders.get(&id) {
        Some(order) => Json(json!({"order": order_json(&platform.config, order, &included)})).into_response(),
        None => order_not_found(&id),
    }
}

/// `POST /orders/v0/orders/{orderId}/shipmentConfirmation` (confirmShipment): `204` with no body.
async fn confirm_shipment(State(platform): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.get("marketplaceId").and_then(Value::as_str) != Some(platform.config.marketplace_id.as_str()) {
        return invalid("marketplaceId is required and must be the order's marketplace");
    }
    let result = {
        let mut state = platform.lock();
        if !state.orders.contains_key(&id) {
            return order_not_found(&id);
        }
        confirm(&mut state, &platform.config, &id, &body)
    };
    match result {
        Ok(notes) => {
            platform.notify(notes);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(message) => invalid(message),
    }
}

/// Whether a `packageReferenceId` is what the model accepts: "Only positive numeric values are supported"
/// (a JSON string, `PackageReferenceId` being `type: string`).
fn positive_numeric(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.bytes().any(|b| b != b'0'))
}

/// Check a `PackageDetail` against `ordersV0.json` (required fields, `packageReferenceId`, `carrierName` with
/// `Other`, an ISO 8601 `shipDate`).
fn check_package(package: &Value) -> Result<(), String> {
    for field in ["packageReferenceId", "carrierCode", "trackingNumber", "shipDate"] {
        if package.get(field).and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
            return Err(format!("packageDetail.{field} is required"));
        }
    }
    if !positive_numeric(&package["packageReferenceId"]) {
        return Err(format!(
            "packageDetail.packageReferenceId {} is invalid: only positive numeric values are supported",
            package["packageReferenceId"]
        ));
    }
    if package["carrierCode"] == "Other" && package.get("carrierName").and_then(Value::as_str).is_none_or(str::is_empty)
    {
        return Err("packageDetail.carrierName is required when carrierCode is Other".into());
    }
    if package["shipDate"].as_str().and_then(|s| s.parse::<Timestamp>().ok()).is_none() {
        return Err("packageDetail.shipDate must be an ISO 8601 date-time".into());
    }
    Ok(())
}

/// `confirmShipment` of a merchant order. A `packageReferenceId` the order already has edits that package
/// (its units are replaced by the new ones): "If you need to make an edit to the shipment, submit another
/// confirmShipment operation with the same packageReferenceID."
fn confirm(state: &mut state::State, config: &AmazonConfig, id: &str, body: &Value) -> Result<Vec<Note>, String> {
    let order = state.orders.get_mut(id).ok_or_else(|| format!("Order {id} not found"))?;
    if order.afn {
        return Err("confirmShipment is available only for merchant-fulfilled (MFN) orders".into());
    }
    if order.status == "Canceled" {
        return Err(format!("Order {id} is canceled"));
    }
    let Some(package) = body.get("packageDetail").filter(|p| p.is_object()) else {
        return Err("packageDetail is required".into());
    };
    check_package(package)?;
    let items = package.get("orderItems").and_then(Value::as_array).cloned().unwrap_or_default();
    if items.is_empty() {
        return Err("packageDetail.orderItems is required".into());
    }
    let reference = &package["packageReferenceId"];
    let replaced = order.shipments.iter().position(|p| &p["packageReferenceId"] == reference);
    let mut shipped: Vec<i64> = order.items.iter().map(|i| i.shipped).collect();
    if let Some(old) = replaced.map(|at| &order.shipments[at]) {
        for item in old["orderItems"].as_array().into_iter().flatten() {
            if let Some(index) =
                order.items.iter().position(|i| Some(i.order_item_id.as_str()) == item["orderItemId"].as_str())
            {
                shipped[index] -= item["quantity"].as_i64().unwrap_or(0);
            }
        }
    }
    for item in &items {
        let item_id = item.get("orderItemId").and_then(Value::as_str).unwrap_or_default();
        let quantity = item.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let Some(index) = order.items.iter().position(|i| i.order_item_id == item_id) else {
            return Err(format!("orderItemId {item_id:?} is not part of order {id}"));
        };
        let left = order.items[index].quantity - shipped[index];
        if quantity < 1 || quantity > left {
            return Err(format!("quantity {quantity} for {item_id} is not between 1 and {left}"));
        }
        shipped[index] += quantity;
    }
    for (item, now_shipped) in order.items.iter_mut().zip(shipped) {
        item.shipped = now_shipped;
    }
    match replaced {
        Some(at) => order.shipments[at] = package.clone(),
        None => order.shipments.push(package.clone()),
    }
    order.status = if order.items.iter().all(|i| i.shipped >= i.quantity) { "Shipped" } else { "PartiallyShipped" };
    order.updated = Timestamp::now();
    Ok(vec![state.order_note(config, id, "OrderStatusChange", None)])
}
