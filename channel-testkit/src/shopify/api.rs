//! The Admin GraphQL endpoint: authentication, cost and throttling, execution and projection.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use self::graphql::{Field, Operation, OperationKind, parse_operation};
use super::state::{Event, Remembered, State as ShopState, TopLevelError, parse_gid};
use super::{GraphqlCall, Shopify, ShopifyConfig};
use crate::sandbox::TokenBucket;

mod graphql;

type Shared = State<Arc<Shopify>>;

/// Fields whose values are connections (paged with `first`/`after`).
const CONNECTIONS: &[&str] = &[
    "products",
    "productVariants",
    "variants",
    "orders",
    "locations",
    "lineItems",
    "fulfillmentOrders",
    "inventoryLevels",
    "inventoryItems",
];

/// How far back an app without `read_all_orders` sees orders: 60 days.
const ORDERS_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(60 * 24);

/// Cost of one mutation root field itself (shopify.dev "Cost calculation": a mutation costs 10); the
/// objects selected in its payload are added.
pub const MUTATION_COST: u64 = 10;

pub(super) fn router(platform: Arc<Shopify>) -> Router {
    Router::new()
        .route("/admin/api/{version}/graphql.json", post(graphql))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&platform), auth))
        .with_state(platform)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"errors": "Not Found"}))).into_response()
}

/// `X-Shopify-Access-Token` (constant-time) of an installed app, else `401` with Shopify's body.
async fn auth(State(platform): Shared, request: Request, next: Next) -> Response {
    let given = request.headers().get("x-shopify-access-token").and_then(|v| v.to_str().ok());
    let ok = platform.installed()
        && given.is_some_and(|token| {
            channel_core::webhook::constant_time_eq(token.trim().as_bytes(), platform.config.access_token.as_bytes())
        });
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})),
        )
            .into_response();
    }
    next.run(request).await
}

fn error(message: impl Into<String>, code: &str) -> Value {
    json!({"message": message.into(), "extensions": {"code": code}})
}

fn answer(status: StatusCode, body: Value, note: Option<&str>) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Some(note) = note.and_then(|n| HeaderValue::from_str(n).ok()) {
        response.headers_mut().insert("x-sandbox-graphql", note);
    }
    response
}

async fn graphql(State(platform): Shared, uri: axum::http::Uri, body: Bytes) -> Response {
    let (operation, variables) = match parse_request(&body) {
        Ok(parsed) => parsed,
        Err((status, body)) => return answer(status, body, None),
    };
    let root_fields: Vec<String> = operation.selection.iter().map(|f| f.name.clone()).collect();
    let note = format!("{} {}", operation.kind.as_str(), root_fields.join(","));
    let requested = match operation.kind {
        OperationKind::Mutation => operation.selection.iter().map(|f| mutation_cost(f, &variables)).sum(),
        OperationKind::Query => operation.selection.iter().map(|f| requested_cost(f, &variables)).sum(),
    };
    let call = GraphqlCall {
        kind: operation.kind.as_str(),
        root_fields,
        idempotency_key: operation.selection.iter().find_map(|f| idempotency_key(f, &variables)),
        idempotency_keys: operation.selection.iter().filter_map(|f| idempotency_key(f, &variables)).collect(),
        requested_cost: requested,
        throttled: false,
        replayed: false,
        replayed_fields: 0,
    };
    let mut call = match admit(&platform, call, requested) {
        Ok(call) => call,
        Err((status, body)) => return answer(status, body, Some(&note)),
    };
    let executed = execute(&platform, uri.path(), &operation, &variables, &mut call);
    for (topic, payload) in &executed.events {
        platform.fire(topic, payload);
    }
    let bucket = &platform.bucket;
    let actual = executed.cost.min(requested);
    #[expect(clippy::cast_precision_loss, reason = "costs are small")]
    let refund = (requested - actual) as f64;
    if refund > 0.0 {
        bucket.set_available(bucket.available() + refund);
    }
    platform.record(call);
    let cost = json!({"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": throttle_status(bucket, bucket.available())});
    let mut body = Map::new();
    if !executed.errors.is_empty() {
        body.insert("errors".into(), Value::Array(executed.errors));
    }
    body.insert("data".into(), Value::Object(executed.data));
    body.insert("extensions".into(), json!({"cost": cost}));
    answer(StatusCode::OK, Value::Object(body), Some(&note))
}

/// The request's operation, and its variables with the operation's defaults filled in; or the status and
/// body to answer a request that is not one with (`400` for a bad body, GraphQL `PARSE_ERROR` for a bad
/// document).
fn parse_request(body: &[u8]) -> Result<(Operation, Map<String, Value>), (StatusCode, Value)> {
    let (document, mut variables, operation_name) = request_parts(body)
        .map_err(|message| (StatusCode::BAD_REQUEST, json!({"errors": [error(message, "BAD_REQUEST")]})))?;
    let operation = parse_operation(&document, operation_name.as_deref())
        .map_err(|message| (StatusCode::OK, json!({"errors": [error(message, "PARSE_ERROR")]})))?;
    for (key, value) in &operation.defaults {
        variables.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Ok((operation, variables))
}

/// `throttleStatus` of the cost extension, with `available` points in the bucket.
fn throttle_status(bucket: &TokenBucket, available: f64) -> Value {
    let limit = bucket.limit();
    json!({"maximumAvailable": limit.capacity.floor(), "currentlyAvailable": available.floor(),
           "restoreRate": limit.refill_per_second.floor()})
}

/// Takes the requested cost from the bucket; or records the call and gives the status and body of the
/// answer: `MAX_COST_EXCEEDED` (a query dearer than any bucket allows) or `THROTTLED` (the bucket lacks the
/// points now).
fn admit(platform: &Shopify, mut call: GraphqlCall, requested: u64) -> Result<GraphqlCall, (StatusCode, Value)> {
    let bucket = &platform.bucket;
    if requested > platform.config.max_query_cost {
        platform.record(call);
        let cost = json!({"requestedQueryCost": requested, "actualQueryCost": null, "throttleStatus": throttle_status(bucket, bucket.available())});
        let message = format!(
            "Query cost is {requested}, which exceeds the single query max cost limit ({}).",
            platform.config.max_query_cost
        );
        return Err((
            StatusCode::OK,
            json!({"errors": [error(message, "MAX_COST_EXCEEDED")], "extensions": {"cost": cost}}),
        ));
    }
    #[expect(clippy::cast_precision_loss, reason = "costs are small")]
    let decision = bucket.try_acquire(requested as f64);
    if !decision.allowed {
        call.throttled = true;
        platform.record(call);
        let cost = json!({"requestedQueryCost": requested, "actualQueryCost": null, "throttleStatus": throttle_status(bucket, decision.remaining)});
        let status = StatusCode::from_u16(platform.config.throttled_status).unwrap_or(StatusCode::OK);
        return Err((
            status,
            json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits"}}], "extensions": {"cost": cost}}),
        ));
    }
    Ok(call)
}

/// What running an operation's root fields gave: `data`, `errors`, the actual cost, webhooks to fire.
struct Executed {
    data: Map<String, Value>,
    errors: Vec<Value>,
    cost: u64,
    events: Vec<Event>,
}

/// Resolves each root field in order; a field that fails is `null` in `data` with its error in `errors`.
/// Mutations replayed by their idempotency key are counted on `call`.
fn execute(
    platform: &Shopify,
    path: &str,
    operation: &Operation,
    variables: &Map<String, Value>,
    call: &mut GraphqlCall,
) -> Executed {
    let mut executed = Executed { data: Map::new(), errors: Vec::new(), cost: 0, events: Vec::new() };
    for field in &operation.selection {
        let result = match operation.kind {
            OperationKind::Query => resolve_query(platform, field, variables, &mut executed.cost),
            OperationKind::Mutation => {
                executed.cost += mutation_cost(field, variables);
                let mut replayed = false;
                let result = resolve_mutation(platform, path, field, variables, &mut executed.events, &mut replayed);
                if replayed {
                    call.replayed = true;
                    call.replayed_fields += 1;
                }
                result
            }
        };
        match result {
            Ok(value) => {
                executed.data.insert(field.response_key().to_owned(), value);
            }
            Err(err) => {
                executed.data.insert(field.response_key().to_owned(), Value::Null);
                executed.errors.push(
                    json!({"message": err.message, "path": [field.response_key()], "extensions": {"code": err.code}}),
                );
            }
        }
    }
    executed
}

/// `{"query", "variables"?, "operationName"?}` (or a bare document with `Content-Type: application/graphql`).
/// Document, variables and operation name of a request.
type RequestParts = (String, Map<String, Value>, Option<String>);

fn request_parts(body: &[u8]) -> Result<RequestParts, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        // Not JSON: a bare document (`Content-Type: application/graphql`).
        return Ok((text.to_owned(), Map::new(), None));
    };
    let query = value.get("query").and_then(Value::as_str).ok_or("Parameter 'query' is required")?.to_owned();
    let variables = match value.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err("variables must be an object".into()),
    };
    let operation_name = value.get("operationName").and_then(Value::as_str).map(str::to_owned);
    Ok((query, variables, operation_name))
}

fn idempotency_key(field: &Field, variables: &Map<String, Value>) -> Option<String> {
    let directive = field.directives.iter().find(|d| d.name == "idempotent")?;
    let (_, literal) = directive.arguments.iter().find(|(name, _)| name == "key")?;
    literal.resolve(variables)?.as_str().map(str::to_owned)
}

fn page_size(field: &Field, variables: &Map<String, Value>) -> u64 {
    field
        .argument("first", variables)
        .or_else(|| field.argument("last", variables))
        .and_then(|v| v.as_u64())
        .unwrap_or(1)
}

/// The documented cost model: scalars 0, objects 1, connections `2 + first × (1 + cost of one node's
/// fields)`; `pageInfo` and `edges` wrappers are free.
fn requested_cost(field: &Field, variables: &Map<String, Value>) -> u64 {
    if field.selection.is_empty() {
        return 0;
    }
    // A connection selects `nodes`/`edges`/`pageInfo`; a plain list of the same name (a mutation
    // payload's `productVariants: [ProductVariant!]`) is an object.
    let paged = field.selection.iter().any(|c| matches!(c.name.as_str(), "nodes" | "edges" | "pageInfo"));
    if paged && CONNECTIONS.contains(&field.name.as_str()) {
        let node: u64 = field
            .selection
            .iter()
            .map(|child| match child.name.as_str() {
                "nodes" => child_cost(child, variables),
                "edges" => child.child("node").map_or(0, |node| child_cost(node, variables)),
                _ => 0,
            })
            .sum();
        return 2 + page_size(field, variables).saturating_mul(1 + node);
    }
    1 + child_cost(field, variables)
}

/// The requested cost of a mutation root field: [`MUTATION_COST`] plus its payload's selection under the
/// same rules as a query (every object selected 1, a list of objects counted as one object — the
/// emulator's choice, the page names no rule for plain lists — connections `2 + first × …`). A
/// `__typename`-only payload costs nothing more.
fn mutation_cost(field: &Field, variables: &Map<String, Value>) -> u64 {
    MUTATION_COST + child_cost(field, variables)
}

fn child_cost(field: &Field, variables: &Map<String, Value>) -> u64 {
    field.selection.iter().map(|child| requested_cost(child, variables)).sum()
}

// ---- queries ------------------------------------------------------------------------------------------------

fn resolve_query(
    platform: &Shopify,
    field: &Field,
    variables: &Map<String, Value>,
    cost: &mut u64,
) -> Result<Value, TopLevelError> {
    let config = &platform.config;
    let state = platform.lock();
    let id_arg = || field.argument("id", variables).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    // Without `read_all_orders` only orders created in the last 60 days exist for the app (shopify.dev
    // `Order`: "Only the last 60 days' worth of orders from a store are accessible … by default").
    let oldest = (!platform.reads_all_orders()).then(|| jiff::Timestamp::now() - ORDERS_WINDOW);
    let visible = |o: &&super::state::Order| oldest.is_none_or(|t| o.created_at >= t);
    let value = match field.name.as_str() {
        "__typename" => return Ok(json!("QueryRoot")),
        "currentAppInstallation" => json!({
            "__typename": "AppInstallation",
            "id": "gid://shopify/AppInstallation/1",
            "accessScopes": config
                .access_scopes
                .iter()
                .map(|h| json!({"__typename": "AccessScope", "handle": h, "description": h}))
                .collect::<Vec<_>>(),
        }),
        "shop" => json!({
            "__typename": "Shop",
            "id": "gid://shopify/Shop/1",
            "name": config.shop_name,
            "myshopifyDomain": config.shop_domain,
            "email": "owner@sandbox.invalid",
            "currencyCode": config.currency,
            "ianaTimezone": "UTC",
            "plan": {"__typename": "ShopPlan", "displayName": config.plan_name, "shopifyPlus": false, "partnerDevelopment": false},
        }),
        "location" => parse_gid("Location", &id_arg())
            .filter(|id| config.locations.iter().any(|l| l.id == *id))
            .map_or(Value::Null, |id| ShopState::location_json(config, id)),
        "locations" => {
            let nodes: Vec<Value> = config
                .locations
                .iter()
                .map(|l| {
                    let mut node = ShopState::location_json(config, l.id);
                    node["__sort"] = json!([l.id, l.id]);
                    node
                })
                .collect();
            json!({"__connection": nodes})
        }
        "product" => parse_gid("Product", &id_arg())
            .and_then(|id| state.products.get(&id))
            .map_or(Value::Null, |p| state.product_json(config, p)),
        "productVariant" => parse_gid("ProductVariant", &id_arg())
            .and_then(|id| state.variants.get(&id))
            .map_or(Value::Null, |v| state.variant_json(config, v)),
        "inventoryItem" => parse_gid("InventoryItem", &id_arg())
            .and_then(|id| state.items.get(&id))
            .and_then(|id| state.variants.get(id))
            .map_or(Value::Null, |v| state.item_json(config, v)),
        "order" => parse_gid("Order", &id_arg())
            .and_then(|id| state.orders.get(&id))
            .filter(visible)
            .map_or(Value::Null, |o| state.order_json(config, o, 0)),
        "fulfillmentOrder" => {
            parse_gid("FulfillmentOrder", &id_arg()).map_or(Value::Null, |id| state.fulfillment_order_json(config, id))
        }
        "nodes" => return nodes(&state, config, field, variables, oldest, cost),
        "products" | "productVariants" | "inventoryItems" | "orders" => {
            return resolve_search(config, &state, field, variables, oldest, cost);
        }
        other => {
            return Err(TopLevelError::new(
                "undefinedField",
                format!("Field '{other}' doesn't exist on type 'QueryRoot'"),
            ));
        }
    };
    drop(state);
    project_field(&value, field, variables, cost)
}

/// The searchable root connections (`products`, `productVariants`, `inventoryItems`, `orders`): filtered by
/// `query`, sorted by `sortKey` (and `reverse`), paged, projected.
fn resolve_search(
    config: &ShopifyConfig,
    state: &ShopState,
    field: &Field,
    variables: &Map<String, Value>,
    oldest: Option<jiff::Timestamp>,
    cost: &mut u64,
) -> Result<Value, TopLevelError> {
    let reverse = field.argument("reverse", variables).and_then(|v| v.as_bool()).unwrap_or(false);
    let mut keys = search_keys(state, field, variables, oldest);
    keys.sort_unstable();
    if reverse {
        keys.reverse();
    }
    let page = paginate(&keys, field, variables, reverse)?;
    let build = |(sort, id): (i64, u64)| -> Value {
        match field.name.as_str() {
            "orders" => state.orders.get(&id).map_or(Value::Null, |o| state.order_json(config, o, sort)),
            "products" => state.products.get(&id).map_or(Value::Null, |p| state.product_json(config, p)),
            "inventoryItems" => state.variants.get(&id).map_or(Value::Null, |v| {
                let mut item = state.item_json(config, v);
                item["__sort"] = json!([sort, id]);
                item
            }),
            _ => state.variants.get(&id).map_or(Value::Null, |v| state.variant_json(config, v)),
        }
    };
    let nodes: Vec<Value> = page.items.iter().map(|k| build(*k)).collect();
    *cost += 2;
    connection_json(nodes, page.has_next, page.has_previous, field, variables, cost)
}

/// `(sort key, id)` of every node of a searchable root connection that matches its `query`, unsorted.
/// Orders created before `oldest` are left out (the 60-day window of an app without `read_all_orders`).
fn search_keys(
    state: &ShopState,
    field: &Field,
    variables: &Map<String, Value>,
    oldest: Option<jiff::Timestamp>,
) -> Vec<(i64, u64)> {
    let search =
        Search::parse(field.argument("query", variables).and_then(|v| v.as_str().map(str::to_owned)).as_deref());
    let sort_key = field.argument("sortKey", variables).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    match field.name.as_str() {
        "orders" => state
            .orders
            .values()
            .filter(|o| {
                oldest.is_none_or(|t| o.created_at >= t)
                    && search.matches_times(o.created_at, o.updated_at)
                    && search.matches_sku(o.lines.iter().map(|l| l.sku.as_str()))
            })
            .map(|o| (ShopState::order_sort(o, &sort_key), o.id))
            .collect(),
        "products" => state
            .products
            .values()
            .filter(|p| {
                search.matches_times(p.created_at, p.updated_at)
                    && search
                        .matches_sku(p.variants.iter().filter_map(|id| state.variants.get(id)).map(|v| v.sku.as_str()))
            })
            .map(|p| (sort_number(p.id), p.id))
            .collect(),
        _ => state
            .variants
            .values()
            .filter(|v| {
                search.matches_times(v.created_at, v.updated_at) && search.matches_sku([v.sku.as_str()].into_iter())
            })
            .map(|v| (sort_number(if field.name == "inventoryItems" { v.inventory_item_id } else { v.id }), v.id))
            .collect(),
    }
}

/// `nodes(ids: [ID!]!)`: one entry per id, in the order asked, `null` for an id that is no object of the
/// shop (the Relay `Node` interface, <https://shopify.dev/docs/api/admin-graphql/latest/queries/nodes>).
/// Products, variants, inventory items (with their whole variant), orders and locations resolve. More
/// than `max_input_size` (250) ids is a top-level `MAX_INPUT_SIZE_EXCEEDED`, as for every array input
/// (<https://shopify.dev/api/usage/limits>).
fn nodes(
    state: &ShopState,
    config: &ShopifyConfig,
    field: &Field,
    variables: &Map<String, Value>,
    oldest: Option<jiff::Timestamp>,
    cost: &mut u64,
) -> Result<Value, TopLevelError> {
    let ids = field.argument("ids", variables).and_then(|v| v.as_array().cloned()).ok_or_else(|| {
        TopLevelError::new("missingRequiredArguments", "Field 'nodes' is missing required arguments: ids")
    })?;
    if ids.len() > config.max_input_size {
        return Err(TopLevelError::new(
            "MAX_INPUT_SIZE_EXCEEDED",
            format!(
                "The input array size of {} is greater than the maximum allowed of {}.",
                ids.len(),
                config.max_input_size
            ),
        ));
    }
    let node = |id: &str| -> Value {
        let variant = |variant_id: Option<u64>| variant_id.and_then(|v| state.variants.get(&v));
        if let Some(v) = variant(parse_gid("ProductVariant", id)) {
            state.variant_json(config, v)
        } else if let Some(v) = variant(parse_gid("InventoryItem", id).and_then(|i| state.items.get(&i).copied())) {
            let mut item = state.item_json(config, v);
            item["variant"] = state.variant_json(config, v);
            item
        } else if let Some(p) = parse_gid("Product", id).and_then(|p| state.products.get(&p)) {
            state.product_json(config, p)
        } else if let Some(o) = parse_gid("Order", id)
            .and_then(|o| state.orders.get(&o))
            .filter(|o| oldest.is_none_or(|t| o.created_at >= t))
        {
            state.order_json(config, o, 0)
        } else if let Some(l) = parse_gid("Location", id).filter(|l| config.locations.iter().any(|x| x.id == *l)) {
            ShopState::location_json(config, l)
        } else {
            Value::Null
        }
    };
    ids.iter()
        .map(|id| match node(id.as_str().unwrap_or_default()) {
            Value::Null => Ok(Value::Null),
            found => project_object(&found, &field.selection, variables, cost),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn sort_number(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// A page of `(sort key, id)` positions.
struct Page {
    items: Vec<(i64, u64)>,
    has_next: bool,
    has_previous: bool,
}

fn encode_cursor((sort, id): (i64, u64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{sort}:{id}"))
}

fn decode_cursor(cursor: &str) -> Option<(i64, u64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (sort, id) = raw.split_once(':')?;
    Some((sort.parse().ok()?, id.parse().ok()?))
}

/// `first`/`after` (or `last`/`before`) over positions sorted in the order they are listed.
fn paginate(
    keys: &[(i64, u64)],
    field: &Field,
    variables: &Map<String, Value>,
    reverse: bool,
) -> Result<Page, TopLevelError> {
    let first = field.argument("first", variables).and_then(|v| v.as_i64());
    let last = field.argument("last", variables).and_then(|v| v.as_i64());
    let (size, forward) = match (first, last) {
        (Some(n), None) => (n, true),
        (None, Some(n)) => (n, false),
        (None, None) => {
            return Err(TopLevelError::new("BAD_REQUEST", "you must provide one of first or last"));
        }
        (Some(_), Some(_)) => return Err(TopLevelError::new("BAD_REQUEST", "provide first or last, not both")),
    };
    if !(1..=250).contains(&size) {
        return Err(TopLevelError::new(
            "BAD_REQUEST",
            format!("{} must be between 1 and 250, got {size}", if forward { "first" } else { "last" }),
        ));
    }
    let size = usize::try_from(size).unwrap_or(250);
    let cursor = |name: &str| -> Result<Option<(i64, u64)>, TopLevelError> {
        match field.argument(name, variables) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => decode_cursor(&text).map(Some).ok_or_else(|| {
                TopLevelError::new("BAD_REQUEST", format!("Invalid cursor for current pagination sort.: {text}"))
            }),
            Some(_) => Err(TopLevelError::new("BAD_REQUEST", format!("{name} must be a string"))),
        }
    };
    let after = cursor("after")?;
    let before = cursor("before")?;
    let later = |k: &(i64, u64), c: &(i64, u64)| if reverse { k < c } else { k > c };
    let window: Vec<(i64, u64)> = keys
        .iter()
        .filter(|k| after.is_none_or(|c| later(k, &c)))
        .filter(|k| before.is_none_or(|c| later(&c, k)))
        .copied()
        .collect();
    let (items, has_next, has_previous) = if forward {
        let items: Vec<_> = window.iter().take(size).copied().collect();
        (items, window.len() > size, after.is_some() && window.len() < keys.len())
    } else {
        let skip = window.len().saturating_sub(size);
        (window[skip..].to_vec(), before.is_some() && window.len() < keys.len(), skip > 0)
    };
    Ok(Page { items, has_next, has_previous })
}

/// Builds `{edges, nodes, pageInfo}` for a page and projects it through `field`'s selection.
fn connection_json(
    nodes: Vec<Value>,
    has_next: bool,
    has_previous: bool,
    field: &Field,
    variables: &Map<String, Value>,
    cost: &mut u64,
) -> Result<Value, TopLevelError> {
    let cursors: Vec<String> = nodes
        .iter()
        .map(|n| {
            let sort = n.get("__sort").and_then(|s| s.get(0)).and_then(Value::as_i64).unwrap_or(0);
            let id = n.get("__sort").and_then(|s| s.get(1)).and_then(Value::as_u64).unwrap_or(0);
            encode_cursor((sort, id))
        })
        .collect();
    let node_type = nodes
        .first()
        .and_then(|n| n.get("__typename"))
        .and_then(Value::as_str)
        .map_or_else(|| node_type_for(&field.name).to_owned(), str::to_owned);
    let mut out = Map::new();
    for child in &field.selection {
        let value = match child.name.as_str() {
            "__typename" => json!(format!("{node_type}Connection")),
            "nodes" => Value::Array(
                nodes.iter().map(|n| project_object(n, &child.selection, variables, cost)).collect::<Result<_, _>>()?,
            ),
            "edges" => {
                let mut edges = Vec::new();
                for (node, cursor) in nodes.iter().zip(&cursors) {
                    let mut edge = Map::new();
                    for part in &child.selection {
                        let value = match part.name.as_str() {
                            "cursor" => json!(cursor),
                            "node" => project_object(node, &part.selection, variables, cost)?,
                            "__typename" => json!(format!("{node_type}Edge")),
                            _ => Value::Null,
                        };
                        edge.insert(part.response_key().to_owned(), value);
                    }
                    edges.push(Value::Object(edge));
                }
                Value::Array(edges)
            }
            "pageInfo" => {
                let info = json!({
                    "__typename": "PageInfo",
                    "hasNextPage": has_next,
                    "hasPreviousPage": has_previous,
                    "startCursor": cursors.first(),
                    "endCursor": cursors.last(),
                });
                let mut out = Map::new();
                for part in &child.selection {
                    out.insert(part.response_key().to_owned(), info.get(&part.name).cloned().unwrap_or(Value::Null));
                }
                Value::Object(out)
            }
            other => {
                return Err(TopLevelError::new(
                    "undefinedField",
                    format!("Field '{other}' doesn't exist on type '{}Connection'", field.name),
                ));
            }
        };
        out.insert(child.response_key().to_owned(), value);
    }
    Ok(Value::Object(out))
}

/// The node type of a connection field when the page is empty.
fn node_type_for(field: &str) -> &'static str {
    match field {
        "products" => "Product",
        "productVariants" | "variants" => "ProductVariant",
        "orders" => "Order",
        "locations" => "Location",
        "lineItems" => "LineItem",
        "fulfillmentOrders" => "FulfillmentOrder",
        "inventoryLevels" => "InventoryLevel",
        "inventoryItems" => "InventoryItem",
        _ => "Node",
    }
}

/// The value of `field` taken from `value` (an already-resolved field value).
fn project_field(
    value: &Value,
    field: &Field,
    variables: &Map<String, Value>,
    cost: &mut u64,
) -> Result<Value, TopLevelError> {
    if field.selection.is_empty() {
        return Ok(value.clone());
    }
    match value {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => {
            let wanted: Option<Vec<String>> = field
                .argument("quantityNames", variables)
                .and_then(|v| v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()));
            items
                .iter()
                .filter(|item| {
                    wanted.as_ref().is_none_or(|names| {
                        item.get("name").and_then(Value::as_str).is_some_and(|n| names.iter().any(|w| w == n))
                    })
                })
                .map(|item| project_object(item, &field.selection, variables, cost))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Value::Object(map) if map.contains_key("__connection") => {
            let nodes = map.get("__connection").and_then(Value::as_array).cloned().unwrap_or_default();
            let keys: Vec<(i64, u64)> = nodes
                .iter()
                .map(|n| {
                    (
                        n.get("__sort").and_then(|s| s.get(0)).and_then(Value::as_i64).unwrap_or(0),
                        n.get("__sort").and_then(|s| s.get(1)).and_then(Value::as_u64).unwrap_or(0),
                    )
                })
                .collect();
            let page = paginate(&keys, field, variables, false)?;
            let chosen: Vec<Value> = page
                .items
                .iter()
                .filter_map(|k| keys.iter().position(|x| x == k).and_then(|i| nodes.get(i).cloned()))
                .collect();
            *cost += 2;
            connection_json(chosen, page.has_next, page.has_previous, field, variables, cost)
        }
        Value::Object(_) => project_object(value, &field.selection, variables, cost),
        scalar => Ok(scalar.clone()),
    }
}

/// Projects an object through a selection set (aliases, `__typename`, argument fields).
fn project_object(
    object: &Value,
    selection: &[Field],
    variables: &Map<String, Value>,
    cost: &mut u64,
) -> Result<Value, TopLevelError> {
    *cost += 1;
    let mut out = Map::new();
    for field in selection {
        let value = match field.name.as_str() {
            "inventoryLevel" => {
                let location = field
                    .argument("locationId", variables)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let level =
                    object.get("__levels").and_then(|levels| levels.get(&location)).cloned().unwrap_or(Value::Null);
                project_field(&level, field, variables, cost)?
            }
            "quantities" => {
                let all = object.get("__quantities").cloned().unwrap_or(Value::Null);
                let names: Vec<String> = field
                    .argument("names", variables)
                    .and_then(|v| {
                        v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    })
                    .ok_or_else(|| {
                        TopLevelError::new(
                            "missingRequiredArguments",
                            "Field 'quantities' is missing required arguments: names",
                        )
                    })?;
                let updated = object.get("updatedAt").cloned().unwrap_or(Value::Null);
                let list: Vec<Value> = names
                    .iter()
                    .filter_map(|name| {
                        all.get(name).map(|q| json!({"__typename": "InventoryQuantity", "name": name, "quantity": q, "updatedAt": updated}))
                    })
                    .collect();
                project_field(&Value::Array(list), field, variables, cost)?
            }
            name => match object.get(name) {
                Some(value) => project_field(value, field, variables, cost)?,
                None => {
                    let kind = object.get("__typename").and_then(Value::as_str).unwrap_or("Object");
                    return Err(TopLevelError::new(
                        "undefinedField",
                        format!("Field '{name}' doesn't exist on type '{kind}'"),
                    ));
                }
            },
        };
        out.insert(field.response_key().to_owned(), value);
    }
    Ok(Value::Object(out))
}

// ---- mutations ----------------------------------------------------------------------------------------------

fn resolve_mutation(
    platform: &Shopify,
    path: &str,
    field: &Field,
    variables: &Map<String, Value>,
    events: &mut Vec<super::state::Event>,
    replayed: &mut bool,
) -> Result<Value, TopLevelError> {
    let config = &platform.config;
    let needs_key = matches!(field.name.as_str(), "inventorySetQuantities" | "inventoryAdjustQuantities");
    let key = idempotency_key(field, variables);
    if needs_key && key.is_none() && config.require_idempotency {
        return Err(TopLevelError::new(
            "BAD_REQUEST",
            format!("The @idempotent directive is required for the {} mutation.", field.name),
        ));
    }
    let mut state = platform.lock();
    let arguments = arguments_of(field, variables);
    let store_key = key.as_ref().map(|k| format!("{}:{k}", field.name));
    if let Some(remembered) = store_key.as_ref().and_then(|k| state.idempotency.get(k)).cloned() {
        drop(state);
        let mut ignored = 0;
        return project_field(
            &remembered_answer(field, remembered, &arguments, replayed),
            field,
            variables,
            &mut ignored,
        );
    }
    if needs_key && let Some(code) = state.next_user_error.take() {
        let payload = injected_failure(&mut state, field, &code, store_key, arguments);
        drop(state);
        let mut ignored = 0;
        return project_field(&payload, field, variables, &mut ignored);
    }
    if let Some((prefix, len)) = batch_items(field, variables)
        && len > 0
        && let Some(partial) = platform.harness.faults().take_partial_batch(path)
    {
        // An injected partial failure: Shopify's mutations are all-or-nothing, so the failed items are
        // reported and nothing is applied. `inventoryAdjustQuantities` documents a code for it
        // (`ADJUST_QUANTITIES_FAILED`, "Try again"), and its key is then remembered as failed; the other
        // mutations document none, so the code is `null` and the key stays free.
        let code = (field.name == "inventoryAdjustQuantities").then_some("ADJUST_QUANTITIES_FAILED");
        if code.is_some()
            && let Some(k) = store_key
        {
            state.idempotency.insert(k, Remembered { arguments, payload: None });
        }
        drop(state);
        let errors: Vec<Value> = (0..len)
            .filter(|i| partial.fails(*i, len))
            .map(|i| {
                let mut path: Vec<String> = prefix.iter().map(|p| (*p).to_owned()).collect();
                path.push(i.to_string());
                json!({"__typename": "UserError", "code": code, "field": path,
                       "message": "The quantities couldn't be changed: nothing was applied. Try again."})
            })
            .collect();
        let payload =
            json!({"inventoryAdjustmentGroup": null, "product": null, "productVariants": null, "userErrors": errors});
        let mut ignored = 0;
        return project_field(&payload, field, variables, &mut ignored);
    }
    let (payload, fired) = match field.name.as_str() {
        "inventorySetQuantities" => {
            state.inventory_mutation(config, &field.argument("input", variables).unwrap_or(Value::Null), false)?
        }
        "inventoryAdjustQuantities" => {
            state.inventory_mutation(config, &field.argument("input", variables).unwrap_or(Value::Null), true)?
        }
        "productVariantsBulkUpdate" => state.variants_bulk_update(
            config,
            field.argument("productId", variables).as_ref(),
            field.argument("variants", variables).as_ref(),
        )?,
        "fulfillmentCreate" | "fulfillmentCreateV2" => {
            state.fulfillment_create(config, field.argument("fulfillment", variables).as_ref())?
        }
        other => {
            return Err(TopLevelError::new(
                "undefinedField",
                format!("Field '{other}' doesn't exist on type 'Mutation'"),
            ));
        }
    };
    if let Some(k) = store_key {
        state.idempotency.insert(k, Remembered { arguments, payload: Some(payload.clone()) });
    }
    drop(state);
    events.extend(fired);
    let mut ignored = 0;
    project_field(&payload, field, variables, &mut ignored)
}

/// A field's arguments, resolved: what a key's later use is compared against.
fn arguments_of(field: &Field, variables: &Map<String, Value>) -> Value {
    Value::Object(
        field
            .arguments
            .iter()
            .map(|(name, _)| (name.clone(), field.argument(name, variables).unwrap_or(Value::Null)))
            .collect(),
    )
}

/// An injected failure of a whole inventory mutation (nothing applied): its payload. A "failed, try
/// again" code marks the key so a duplicate learns the attempt failed; `IDEMPOTENCY_CONCURRENT_REQUEST`
/// leaves it free.
fn injected_failure(
    state: &mut ShopState,
    field: &Field,
    code: &str,
    store_key: Option<String>,
    arguments: Value,
) -> Value {
    if code != "IDEMPOTENCY_CONCURRENT_REQUEST"
        && let Some(k) = store_key
    {
        state.idempotency.insert(k, Remembered { arguments, payload: None });
    }
    let message = match code {
        "IDEMPOTENCY_CONCURRENT_REQUEST" => "This request is currently in progress, please try again.",
        "ADJUST_QUANTITIES_FAILED" => "The quantities couldn't be adjusted. Try again.",
        _ => "The service is unavailable. Try again.",
    };
    idempotency_error(field, code, message)
}

/// The answer to a mutation under a key already used: the original payload (a duplicate),
/// `IDEMPOTENCY_KEY_PARAMETER_MISMATCH` (other arguments) or `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED` (the
/// key's attempt failed). Codes and messages: `InventoryAdjustQuantitiesUserErrorCode` /
/// `InventorySetQuantitiesUserErrorCode`.
fn remembered_answer(field: &Field, remembered: Remembered, arguments: &Value, replayed: &mut bool) -> Value {
    match remembered.payload {
        _ if remembered.arguments != *arguments => idempotency_error(
            field,
            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
            "The same idempotency key cannot be used with different operation parameters.",
        ),
        None => idempotency_error(
            field,
            "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
            "A previous request with this idempotency key failed. Retry with a new idempotency key.",
        ),
        Some(original) => {
            *replayed = true;
            original
        }
    }
}

/// The payload of an inventory mutation refused as a whole for its idempotency key (`field` is `null`:
/// the documentation gives no path for these codes).
fn idempotency_error(field: &Field, code: &str, message: &str) -> Value {
    let typename = if field.name == "inventoryAdjustQuantities" {
        "InventoryAdjustQuantitiesPayload"
    } else {
        "InventorySetQuantitiesPayload"
    };
    json!({"__typename": typename, "inventoryAdjustmentGroup": null,
           "userErrors": [{"__typename": "UserError", "code": code, "field": null, "message": message}]})
}

/// The list a batch mutation works on: its field path and length.
fn batch_items(field: &Field, variables: &Map<String, Value>) -> Option<(Vec<&'static str>, usize)> {
    let (argument, prefix, key) = match field.name.as_str() {
        "inventorySetQuantities" => ("input", vec!["input", "quantities"], Some("quantities")),
        "inventoryAdjustQuantities" => ("input", vec!["input", "changes"], Some("changes")),
        "productVariantsBulkUpdate" => ("variants", vec!["variants"], None),
        _ => return None,
    };
    let value = field.argument(argument, variables)?;
    let list = match key {
        Some(key) => value.get(key)?.as_array()?.len(),
        None => value.as_array()?.len(),
    };
    Some((prefix, list))
}

// ---- search syntax ------------------------------------------------------------------------------------------

/// The parts of Shopify's search syntax the emulator understands: `updated_at` and `created_at` with
/// `>`, `>=`, `<`, `<=` or `:` (quoted or bare ISO-8601 values), and `sku:…` (exact). Other terms are
/// ignored (every object matches them).
#[derive(Debug, Default)]
struct Search {
    times: Vec<(bool, &'static str, Timestamp)>,
    skus: Vec<String>,
}

impl Search {
    fn parse(query: Option<&str>) -> Self {
        let mut search = Self::default();
        let Some(query) = query else { return search };
        for term in split_terms(query) {
            let Some((key, rest)) = term.split_once(':') else { continue };
            let (op, value) = ["<=", ">=", "<", ">"]
                .iter()
                .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
                .unwrap_or(("=", rest));
            let value = value.trim_matches(|c| c == '\'' || c == '"');
            match key {
                "updated_at" | "created_at" => {
                    let parsed = value.parse::<Timestamp>().ok().or_else(|| {
                        value
                            .parse::<jiff::civil::Date>()
                            .ok()
                            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                            .map(|z| z.timestamp())
                    });
                    if let Some(at) = parsed {
                        search.times.push((key == "updated_at", op, at));
                    }
                }
                "sku" => search.skus.push(value.to_owned()),
                _ => {}
            }
        }
        search
    }

    fn matches_times(&self, created: Timestamp, updated: Timestamp) -> bool {
        self.times.iter().all(|(is_updated, op, at)| {
            let value = if *is_updated { updated } else { created };
            // Shopify compares at second precision.
            let value = value.as_second();
            let at = at.as_second();
            match *op {
                ">" => value > at,
                ">=" => value >= at,
                "<" => value < at,
                "<=" => value <= at,
                _ => value == at,
            }
        })
    }

    fn matches_sku<'a>(&self, mut skus: impl Iterator<Item = &'a str> + Clone) -> bool {
        self.skus.is_empty()
            || self.skus.iter().all(|wanted| skus.clone().any(|s| s == wanted)) && skus.next().is_some()
    }
}

fn split_terms(query: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in query.chars() {
        match (c, quote) {
            ('\'' | '"', None) => {
                quote = Some(c);
                current.push(c);
            }
            (c, Some(q)) if c == q => {
                quote = None;
                current.push(c);
            }
            (c, None) if c.is_whitespace() => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            (c, _) => current.push(c),
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms() {
        let search = Search::parse(Some("updated_at:>='2026-01-01T00:00:00Z' status:any sku:\"A B\""));
        assert_eq!(search.times.len(), 1);
        assert_eq!(search.skus, vec!["A B".to_owned()]);
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
        assert!(search.matches_times(at, at));
        assert!(!search.matches_times(at, Timestamp::UNIX_EPOCH));
        assert!(search.matches_sku(["A B"].into_iter()));
        assert!(!search.matches_sku(["A"].into_iter()));
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor((-5, 42))), Some((-5, 42)));
        assert_eq!(decode_cursor("!!"), None);
    }
}
