//! Emulator of the Shopify Admin GraphQL API (`POST /admin/api/{version}/graphql.json`).
//!
//! Every request needs `X-Shopify-Access-Token: <access_token>`; anything else is `401` with Shopify's
//! `{"errors": "[API] Invalid API key or access token …"}`. Documents are parsed by a small GraphQL parser
//! (operations, variables with defaults, aliases, fragments, inline literals, directives), and answers
//! contain exactly the fields selected.
//!
//! # What it serves
//!
//! | root field | notes |
//! |---|---|
//! | `shop { id name myshopifyDomain currencyCode plan { displayName } }` | "test connection" |
//! | `locations(first, after)`, `location(id)` | the configured [`ShopifyConfig::locations`] |
//! | `products(first, after, query, sortKey, reverse)`, `product(id)` | each product has `variants(first, after)` |
//! | `productVariants(…)`, `productVariant(id)`, `inventoryItems(…)`, `inventoryItem(id)` | variant: `id sku price compareAtPrice inventoryQuantity product { id } inventoryItem { id tracked inventoryLevel(locationId) { quantities(names: [...]) { name quantity } } inventoryLevels(first) }` |
//! | `nodes(ids)` | one entry per id (at most 250), `null` when unknown: products, variants, inventory items (with their whole `variant`), orders, locations |
//! | `orders(first, after, query, sortKey, reverse)`, `order(id)` | `lineItems(first) { id sku quantity variant { id } }`, `cancelledAt`, `displayFinancialStatus`, `displayFulfillmentStatus`, `updatedAt`, `fulfillmentOrders(first, after) { id status supportedActions { action } assignedLocation { location { id } } lineItems(first) { id remainingQuantity } }`, `fulfillments { trackingInfo { number company url } }` |
//! | `inventorySetQuantities(input)` / `inventoryAdjustQuantities(input)` | see "Inventory mutations" |
//! | `productVariantsBulkUpdate(productId, variants: [{id, price, compareAtPrice}])` | all-or-nothing; unknown variants are `userErrors` |
//! | `fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: [{fulfillmentOrderId, fulfillmentOrderLineItems?}], trackingInfo})` | fulfils the remaining (or listed) quantities; closes the fulfillment order. Refuses (a `userErrors` entry: `field`, `message`, as `UserError` documents) fulfillment orders of several locations in one call ("assigned to the same Location") and ones whose `supportedActions` lack `CREATE_FULFILLMENT` |
//!
//! Connections take `first` or `last` (1..=250; anything else, or neither, is a top-level error) with
//! `after`/`before` cursors and answer `edges { cursor node }`, `nodes` and `pageInfo { hasNextPage
//! hasPreviousPage startCursor endCursor }`. Cursors encode the sort key and id, so paging stays stable
//! while objects change. Search (`query:`) understands `updated_at`/`created_at` with `>`, `>=`, `<`, `<=`
//! (quoted or bare ISO-8601, compared at second precision) and `sku:` (exact); other terms are ignored.
//! `orders` sorts by `sortKey` `ID` (default), `UPDATED_AT`, `CREATED_AT` or `PROCESSED_AT`.
//!
//! # Inventory mutations
//!
//! - The quantity `name` is `available` or `on_hand` (on hand = available + committed; orders commit
//!   stock, fulfilments release it); `reason` must be one of Shopify's reasons ([`REASONS`]).
//! - At most [`ShopifyConfig::max_input_size`] (250) items: more is a top-level error
//!   `MAX_INPUT_SIZE_EXCEEDED` and nothing is applied.
//! - `changeFromQuantity` is mandatory-explicit, as from API version 2026-04: each item must carry it;
//!   `null` opts out of the check. Omitting it is a `userErrors` entry with `code: null` (no code of the enums describes it) and field
//!   `["input", "quantities"|"changes", "<index>", "changeFromQuantity"]`.
//! - A stale `changeFromQuantity` is a `userErrors` entry with code `CHANGE_FROM_QUANTITY_STALE`, the same
//!   field path (so the index says which item) and the message `changeFromQuantity <expected> is stale:
//!   the current <name> quantity is <actual>.` — the actual quantity is the last integer of the message.
//! - **All or nothing**: any user error (unknown item or location, untracked item, stale quantity, …)
//!   rejects the whole mutation, as Shopify does: `inventoryAdjustmentGroup` is `null`, every error is
//!   listed and no quantity changes.
//! - `@idempotent(key: "…")` is required (from 2026-04); without it the mutation is a top-level error
//!   `BAD_REQUEST` (switch off with [`ShopifyConfig::require_idempotency`]). A replay with a key already
//!   used for the same mutation answers the original payload and applies nothing; with other arguments
//!   it is `IDEMPOTENCY_KEY_PARAMETER_MISMATCH`; after a failed attempt under the key,
//!   `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`. [`Shopify::fail_next_inventory_mutation`] injects
//!   `IDEMPOTENCY_CONCURRENT_REQUEST` or a "failed, try again" code (`ADJUST_QUANTITIES_FAILED`,
//!   `SERVICE_UNAVAILABLE`). Throttled and top-level-error requests do not consume the key.
//! - User error codes are those of each mutation's enum in 2026-07; a refusal the documentation gives
//!   no code for (an omitted `changeFromQuantity`, an empty list, an untracked item: the enums'
//!   `NON_MUTABLE_INVENTORY_ITEM` means "not allowed to be adjusted via API, e.g. a parent bundle") has
//!   `code: null`.
//!
//! # Fulfillment orders
//!
//! An order placed through the control surface has one fulfillment order at the first location;
//! [`Shopify::place_split_order`] makes one per location. `supportedActions` (the emulator's choice per
//! state): open at a merchant location `CREATE_FULFILLMENT, HOLD, MOVE`; open at a
//! [`ShopifyLocation::fulfillment_service`] location `REQUEST_FULFILLMENT, HOLD, MOVE`; `ON_HOLD`
//! ([`Shopify::hold_fulfillment_order`]) `RELEASE_HOLD`; closed none.
//!
//! # Cost and throttling
//!
//! A leaky bucket per emulator ([`ShopifyConfig::cost_limit`], from [`ShopifyPlan`]). The emulator's cost
//! model, simpler than Shopify's but of the same shape: a scalar field costs 0, an object 1, a connection
//! `2 + first × (1 + the cost of one node's selection)` (`edges`/`pageInfo` wrappers are free), a mutation
//! root field [`MUTATION_COST`] (10) plus the objects its payload selects (a plain list of objects counts
//! as one object: the emulator's choice), so 100 aliased mutations are refused. The requested cost is taken before execution; the actual cost (with
//! the real page sizes) is computed while answering and the difference is refunded. Every answer carries
//! `extensions.cost { requestedQueryCost actualQueryCost throttleStatus { maximumAvailable
//! currentlyAvailable restoreRate } }`. A query costing more than [`ShopifyConfig::max_query_cost`] (1000)
//! is refused with `MAX_COST_EXCEEDED`. When the bucket lacks the requested cost the answer is
//! `errors: [{message: "Throttled", extensions: {code: "THROTTLED"}}]` with `actualQueryCost: null`,
//! HTTP [`ShopifyConfig::throttled_status`] (200 by default; Shopify's status is undocumented), and
//! nothing is applied.
//!
//! # Webhooks
//!
//! `orders/create` (order placed), `orders/updated` (cancelled, fulfilled), `orders/cancelled`, and
//! `inventory_levels/update` (`{inventory_item_id, location_id, available, updated_at,
//! admin_graphql_api_id}`, whenever `available` changes: mutations, orders, cancellations). Order payloads
//! have the REST order shape (`fixtures/shopify/rest_order.json`). Headers: `X-Shopify-Hmac-Sha256`
//! (base64 HMAC-SHA256 of the raw body under the receiver's secret, by default the `webhook_secret`
//! credential, i.e. the app's client secret), `X-Shopify-Topic`, `X-Shopify-Shop-Domain`,
//! `X-Shopify-Webhook-Id`, `X-Shopify-Event-Id` (the same for every receiver and for duplicates),
//! `X-Shopify-Triggered-At`, `X-Shopify-API-Version`; with [`ShopifyConfig::new_style_headers`] also the
//! un-prefixed `shopify-*` forms. Duplicate deliveries: [`WebhookConfig::duplicates`].
//!
//! # Uninstalling
//!
//! [`Shopify::uninstall_app`] does what a merchant's uninstall does
//! (<https://shopify.dev/docs/apps/build/authentication-authorization/app-installation/uninstall-app-api-request>):
//! the access token is revoked, so every Admin API call from then on is answered `401` with Shopify's
//! "Invalid API key or access token" body, and `app/uninstalled` is delivered with the REST Shop resource
//! (<https://shopify.dev/docs/api/admin-rest/latest/resources/shop>: `id`, `name`, `email`, `domain`,
//! `myshopify_domain`, `created_at`, `updated_at`, …) as its body. [`Shopify::installed`] says which.
//!
//! # Control surface
//!
//! Seeding creates a product with one variant (`title`, `tracked` (default true) and `compare_at_price`
//! options) stocked at the first location; stock is `available` there (`null` when untracked). Orders
//! (merchant only; `"fulfilment": "channel"` is `501`) take `available` and commit it, refusing to
//! oversell (`409`); cancelling restores the unfulfilled quantity. Seeding fires no webhook.
//!
//! The request log shows the GraphQL body; each answer also carries `x-sandbox-graphql: query shop` /
//! `mutation inventorySetQuantities` (operation kind and root fields), and
//! [`Shopify::graphql_calls`] lists every operation with its kind, root fields, idempotency key, cost,
//! and whether it was throttled or replayed.

mod api;
mod state;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use api::MUTATION_COST;
pub use state::REASONS;

use crate::error::{Error, Result};
use crate::sandbox::{
    Binding, ControlError, Emulator, Harness, OutgoingWebhook, PlaceOrder, PlacedOrder, PlatformControl, RateLimit,
    RegisterWebhook, SeedProduct, TokenBucket, WebhookConfig,
};

/// A Shopify plan: sets the cost bucket (restore rates from the platform notes; the bucket holds 20 s of
/// restore, as `maximumAvailable` reports today).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ShopifyPlan {
    /// Standard: 100 points/s, bucket 2,000.
    #[default]
    Standard,
    /// Advanced: 200 points/s, bucket 4,000.
    Advanced,
    /// Plus: 1,000 points/s, bucket 20,000.
    Plus,
    /// Enterprise (Commerce Components): 2,000 points/s, bucket 40,000.
    Enterprise,
}

impl ShopifyPlan {
    /// The plan's cost bucket.
    pub fn cost_limit(self) -> RateLimit {
        let restore = match self {
            Self::Standard => 100.0,
            Self::Advanced => 200.0,
            Self::Plus => 1000.0,
            Self::Enterprise => 2000.0,
        };
        RateLimit::new(restore * 20.0, restore)
    }

    fn display_name(self) -> &'static str {
        match self {
            Self::Standard => "Basic",
            Self::Advanced => "Advanced",
            Self::Plus => "Shopify Plus",
            Self::Enterprise => "Enterprise",
        }
    }
}

/// A stock location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ShopifyLocation {
    /// Numeric id (`gid://shopify/Location/{id}`).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// A fulfillment service's location: its fulfillment orders are fulfilled by requesting the service
    /// (`REQUEST_FULFILLMENT`), never with `fulfillmentCreate` (`CREATE_FULFILLMENT`).
    pub fulfillment_service: bool,
}

impl ShopifyLocation {
    /// A location of the merchant's own.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self { id, name: name.into(), fulfillment_service: false }
    }

    /// The location of a fulfillment service.
    #[must_use]
    pub fn fulfillment_service(mut self) -> Self {
        self.fulfillment_service = true;
        self
    }
}

/// Emulator settings; defaults follow the documented limits (Standard plan, API version 2026-07).
#[derive(Clone)]
#[non_exhaustive]
pub struct ShopifyConfig {
    /// The Admin API access token (`X-Shopify-Access-Token`; random `shpat_…` by default).
    pub access_token: String,
    /// The app's client secret: the default webhook signing secret (random by default).
    pub webhook_secret: String,
    /// `{shop}.myshopify.com`.
    pub shop_domain: String,
    /// Shop name.
    pub shop_name: String,
    /// Shop currency (ISO code).
    pub currency: String,
    /// The plan name reported by `shop.plan.displayName`.
    pub plan_name: String,
    /// The API version sent in `X-Shopify-API-Version` on webhooks.
    pub api_version: String,
    /// Locations; seeded stock goes to the first (at least one is required).
    pub locations: Vec<ShopifyLocation>,
    /// The cost bucket (`maximumAvailable`, `restoreRate`).
    pub cost_limit: RateLimit,
    /// Most a single query may cost (1000).
    pub max_query_cost: u64,
    /// Most items in one array input (250).
    pub max_input_size: usize,
    /// HTTP status of a `THROTTLED` answer (200).
    pub throttled_status: u16,
    /// Refuse inventory mutations without `@idempotent(key:)` (true, as from 2026-04).
    pub require_idempotency: bool,
    /// Also send the un-prefixed `shopify-*` webhook headers.
    pub new_style_headers: bool,
    /// Webhook delivery settings.
    pub webhooks: WebhookConfig,
    /// The access scopes granted to the app (`currentAppInstallation { accessScopes { handle } }`);
    /// default [`DEFAULT_ACCESS_SCOPES`]. Without `read_all_orders`, `orders` and `order(id:)` see only
    /// orders created in the last 60 days, as Shopify documents. Other scopes are reported, not enforced.
    pub access_scopes: Vec<String>,
}

/// The scopes the emulated app is granted by default: what the stocksync adapter uses, plus
/// `read_all_orders`.
pub const DEFAULT_ACCESS_SCOPES: &[&str] = &[
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_orders",
    "read_all_orders",
    "read_merchant_managed_fulfillment_orders",
    "write_merchant_managed_fulfillment_orders",
];

impl Default for ShopifyConfig {
    fn default() -> Self {
        Self::for_plan(ShopifyPlan::Standard)
    }
}

impl ShopifyConfig {
    /// Defaults for `plan`.
    pub fn for_plan(plan: ShopifyPlan) -> Self {
        Self {
            access_token: format!("shpat_{}", uuid::Uuid::new_v4().simple()),
            webhook_secret: format!("shpss_{}", uuid::Uuid::new_v4().simple()),
            shop_domain: "sandbox-shop.myshopify.com".into(),
            shop_name: "Sandbox Shop".into(),
            currency: "USD".into(),
            plan_name: plan.display_name().into(),
            api_version: "2026-07".into(),
            locations: vec![ShopifyLocation::new(64_000_001, "Shop location")],
            cost_limit: plan.cost_limit(),
            max_query_cost: 1000,
            max_input_size: 250,
            throttled_status: 200,
            require_idempotency: true,
            new_style_headers: false,
            webhooks: WebhookConfig::default(),
            access_scopes: DEFAULT_ACCESS_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// A bucket so large that tests never wait (limits on page and input sizes stay).
    pub fn fast() -> Self {
        Self { cost_limit: RateLimit::new(1_000_000.0, 1_000_000.0), ..Self::default() }
    }

    /// The first location's id (`validate` guarantees there is one).
    fn primary_location_id(&self) -> u64 {
        self.locations.first().map_or(0, |l| l.id)
    }

    fn validate(&self) -> Result<()> {
        if self.locations.is_empty() {
            return Err(Error::Config("Shopify needs at least one location".into()));
        }
        if self.max_input_size == 0 || self.cost_limit.capacity <= 0.0 {
            return Err(Error::Config("input size and cost bucket must be positive".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for ShopifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field("access_token", &"******")
            .field("webhook_secret", &"******")
            .field("shop_domain", &self.shop_domain)
            .field("currency", &self.currency)
            .field("api_version", &self.api_version)
            .field("locations", &self.locations)
            .field("cost_limit", &self.cost_limit)
            .field("max_query_cost", &self.max_query_cost)
            .field("max_input_size", &self.max_input_size)
            .field("throttled_status", &self.throttled_status)
            .field("require_idempotency", &self.require_idempotency)
            .field("new_style_headers", &self.new_style_headers)
            .field("webhooks", &self.webhooks)
            .field("access_scopes", &self.access_scopes)
            .finish_non_exhaustive()
    }
}

/// One GraphQL operation the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GraphqlCall {
    /// `query` or `mutation`.
    pub kind: &'static str,
    /// The root fields, in order (`inventorySetQuantities`, `productVariants`, …).
    pub root_fields: Vec<String>,
    /// The `@idempotent(key:)` of a mutation, if given (the first root field's, when several have one).
    pub idempotency_key: Option<String>,
    /// Every root field's `@idempotent(key:)`, in order (several when a document aliases one mutation
    /// several times, each under its own key).
    pub idempotency_keys: Vec<String>,
    /// The requested cost.
    pub requested_cost: u64,
    /// Refused with `THROTTLED` (or `MAX_COST_EXCEEDED`).
    pub throttled: bool,
    /// Answered from the idempotency store without applying anything (at least one root field, when
    /// there are several; see [`GraphqlCall::replayed_fields`]).
    pub replayed: bool,
    /// How many root fields were answered from the idempotency store.
    pub replayed_fields: usize,
}

/// The Shopify platform state behind an emulator.
pub struct Shopify {
    config: ShopifyConfig,
    harness: Harness,
    bucket: TokenBucket,
    state: Mutex<state::State>,
    calls: Mutex<Vec<GraphqlCall>>,
    /// False once [`Shopify::uninstall_app`] revoked the access token.
    installed: AtomicBool,
}

impl fmt::Debug for Shopify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shopify").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Shopify {
    fn new(config: ShopifyConfig, harness: Harness) -> Self {
        let bucket = TokenBucket::new(config.cost_limit);
        Self {
            config,
            harness,
            bucket,
            state: Mutex::new(state::State::new()),
            calls: Mutex::default(),
            installed: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, call: GraphqlCall) {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(call);
    }

    /// The emulator's settings.
    pub fn config(&self) -> &ShopifyConfig {
        &self.config
    }

    /// The cost bucket (e.g. `cost_bucket().set_available(0.0)` to provoke `THROTTLED`).
    pub fn cost_bucket(&self) -> &TokenBucket {
        &self.bucket
    }

    /// Every GraphQL operation answered so far.
    pub fn graphql_calls(&self) -> Vec<GraphqlCall> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// `{"variant_id", "inventory_item_id", "product_id", "location_id"}` gids of `sku`.
    pub fn ids(&self, sku: &str) -> Option<Value> {
        let state = self.lock();
        let variant = state.variant_by_sku(sku)?;
        Some(json!({
            "product_id": state::gid("Product", variant.product_id),
            "variant_id": state::gid("ProductVariant", variant.id),
            "inventory_item_id": state::gid("InventoryItem", variant.inventory_item_id),
            "location_id": state::gid("Location", self.config.primary_location_id()),
        }))
    }

    /// Price and compare-at price of `sku`.
    pub fn price(&self, sku: &str) -> Option<(rust_decimal::Decimal, Option<rust_decimal::Decimal>)> {
        self.lock().variant_by_sku(sku).map(|v| (v.price, v.compare_at_price))
    }

    /// Committed (ordered, not yet fulfilled) units of `sku` at the first location.
    pub fn committed(&self, sku: &str) -> Option<i64> {
        let location = self.config.primary_location_id();
        self.lock().variant_by_sku(sku).map(|v| v.levels.get(&location).map_or(0, |l| l.committed))
    }

    /// The order as the REST API / `orders/*` webhooks show it.
    pub fn order_json(&self, order_id: &str) -> Option<Value> {
        let id = order_id.parse().ok().or_else(|| state::parse_gid("Order", order_id))?;
        let order = self.lock().order_rest(&self.config, id);
        (!order.is_null()).then_some(order)
    }

    /// The next inventory mutation answers `code` as a user error of the whole request and applies
    /// nothing: `IDEMPOTENCY_CONCURRENT_REQUEST` (the key stays free), or a "failed, try again" code
    /// such as `ADJUST_QUANTITIES_FAILED` or `SERVICE_UNAVAILABLE` (the key is remembered as failed, so
    /// a duplicate under it is answered `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`).
    pub fn fail_next_inventory_mutation(&self, code: &str) {
        self.lock().next_user_error = Some(code.to_owned());
    }

    /// Sets the `available` quantity of `sku` at the location `location` (its numeric id).
    pub fn set_stock_at(&self, sku: &str, location: u64, available: i64) -> Result<(), ControlError> {
        self.lock().set_level(sku, location, available)
    }

    /// Places an order whose lines ship from several locations, `(sku, quantity, location id)` each: one
    /// fulfillment order per location. Answers the order id.
    pub fn place_split_order(&self, lines: &[(&str, i64, u64)]) -> Result<String, ControlError> {
        let lines: Vec<(String, i64, u64)> = lines.iter().map(|(s, q, l)| ((*s).to_owned(), *q, *l)).collect();
        let (order_id, events) = self.lock().place_split_order(&self.config, &lines)?;
        for (topic, payload) in events {
            self.fire(topic, &payload);
        }
        Ok(order_id.to_string())
    }

    /// Puts the order's fulfillment order at `location` on hold: it then supports only `RELEASE_HOLD`.
    /// Answers its gid.
    pub fn hold_fulfillment_order(&self, order_id: &str, location: u64) -> Result<String, ControlError> {
        let id = order_id
            .parse()
            .ok()
            .or_else(|| state::parse_gid("Order", order_id))
            .ok_or_else(|| ControlError::Invalid(format!("{order_id:?} is not an order id")))?;
        self.lock().hold_fulfillment_order(id, location)
    }

    /// Moves the order's creation `days` days into the past (its `updatedAt` stays): an old order, as
    /// the 60-day window of an app without `read_all_orders` hides it.
    pub fn backdate_order(&self, order_id: &str, days: i64) -> Result<(), ControlError> {
        let id = order_id
            .parse()
            .ok()
            .or_else(|| state::parse_gid("Order", order_id))
            .ok_or_else(|| ControlError::Invalid(format!("{order_id:?} is not an order id")))?;
        let mut state = self.lock();
        let order = state.orders.get_mut(&id).ok_or_else(|| ControlError::Invalid(format!("no order {id}")))?;
        order.created_at -= jiff::SignedDuration::from_hours(24 * days);
        Ok(())
    }

    /// Whether the app may read orders of any age (`read_all_orders` granted).
    pub(super) fn reads_all_orders(&self) -> bool {
        self.config.access_scopes.iter().any(|s| s == "read_all_orders")
    }

    /// Whether the app is installed (its access token accepted).
    pub fn installed(&self) -> bool {
        self.installed.load(Ordering::SeqCst)
    }

    /// The merchant uninstalls the app: the access token is revoked (every Admin API call is answered
    /// `401` from now on) and `app/uninstalled` is delivered with the shop as its body.
    pub fn uninstall_app(&self) {
        if self.installed.swap(false, Ordering::SeqCst) {
            self.fire("app/uninstalled", &self.shop_rest());
        }
    }

    /// The shop as the REST Admin API's Shop resource shows it (the `app/uninstalled` payload).
    pub fn shop_rest(&self) -> Value {
        let config = &self.config;
        json!({
            "id": 1,
            "name": config.shop_name,
            "email": "owner@sandbox.invalid",
            "domain": config.shop_domain,
            "myshopify_domain": config.shop_domain,
            "currency": config.currency,
            "iana_timezone": "UTC",
            "plan_display_name": config.plan_name,
            "shop_owner": "Sandbox Owner",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        })
    }

    /// Queues `topic` with `payload` to every receiver that wants it, signed per receiver.
    fn fire(&self, topic: &'static str, payload: &Value) {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let event_id = uuid::Uuid::new_v4().to_string();
        let triggered = jiff::Timestamp::now().to_string();
        let config = &self.config;
        self.harness.webhooks().broadcast(topic, |target| {
            let signature = channel_core::webhook::sign_base64(target.secret.as_bytes(), &body);
            let webhook_id = uuid::Uuid::new_v4().to_string();
            let headers = [
                ("hmac-sha256", signature),
                ("topic", topic.to_owned()),
                ("shop-domain", config.shop_domain.clone()),
                ("webhook-id", webhook_id),
                ("event-id", event_id.clone()),
                ("triggered-at", triggered.clone()),
                ("api-version", config.api_version.clone()),
            ];
            let mut webhook = OutgoingWebhook::json(topic, body.clone());
            for (name, value) in &headers {
                webhook = webhook.header(format!("X-Shopify-{}", title_case(name)), value.clone());
                if config.new_style_headers {
                    webhook = webhook.header(format!("shopify-{name}"), value.clone());
                }
            }
            webhook
        });
    }
}

/// `hmac-sha256` → `Hmac-Sha256`, `api-version` → `API-Version`.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            if part == "api" {
                "API".to_owned()
            } else {
                let mut chars = part.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl PlatformControl for Shopify {
    fn name(&self) -> &'static str {
        "shopify"
    }

    fn credentials(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("access_token".into(), json!(self.config.access_token));
        map.insert("webhook_secret".into(), json!(self.config.webhook_secret));
        map.insert("shop_domain".into(), json!(self.config.shop_domain));
        map.insert("api_version".into(), json!(self.config.api_version));
        map.insert("location_id".into(), json!(state::gid("Location", self.config.primary_location_id())));
        map
    }

    fn seed_product(&self, seed: SeedProduct) -> Result<Value, ControlError> {
        self.lock().seed(&self.config, &seed)
    }

    fn stock(&self, sku: &str) -> Result<Option<i64>, ControlError> {
        let state = self.lock();
        let variant =
            state.variant_by_sku(sku).ok_or_else(|| ControlError::NotFound(format!("no variant with SKU {sku}")))?;
        let location = self.config.primary_location_id();
        Ok(variant.tracked.then(|| variant.levels.get(&location).map_or(0, |l| l.available)))
    }

    fn place_order(&self, order: PlaceOrder) -> Result<PlacedOrder, ControlError> {
        let (order_id, events) = self.lock().place_order(&self.config, &order)?;
        for (topic, payload) in events {
            self.fire(topic, &payload);
        }
        Ok(PlacedOrder::new(order_id.to_string()))
    }

    fn cancel_order(&self, order_id: &str) -> Result<(), ControlError> {
        let id = order_id
            .parse()
            .ok()
            .or_else(|| state::parse_gid("Order", order_id))
            .ok_or_else(|| ControlError::Invalid(format!("{order_id:?} is not an order id")))?;
        let events = self.lock().cancel_order(&self.config, id)?;
        for (topic, payload) in events {
            self.fire(topic, &payload);
        }
        Ok(())
    }

    fn register_webhook(&self, hook: RegisterWebhook) -> Result<u64, ControlError> {
        if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
            return Err(ControlError::Invalid("webhook url must be http(s)".into()));
        }
        let secret = hook.secret.unwrap_or_else(|| self.config.webhook_secret.clone());
        Ok(self.harness.webhooks().register(hook.url, secret, hook.topics).id)
    }
}

/// A running Shopify Admin GraphQL emulator.
pub type ShopifyEmulator = Emulator<Shopify>;

impl Emulator<Shopify> {
    /// Starts an emulator on a free loopback port.
    pub async fn start(config: ShopifyConfig) -> Result<Self> {
        config.validate()?;
        let binding = Binding::loopback().await?;
        let harness = Harness::new(config.webhooks);
        let platform = Arc::new(Shopify::new(config, harness.clone()));
        let api = api::router(Arc::clone(&platform));
        Ok(Emulator::serve(binding, harness, platform, api))
    }

    /// The access token (`X-Shopify-Access-Token`).
    pub fn access_token(&self) -> &str {
        &self.platform().config.access_token
    }

    /// The default webhook secret (the app's client secret).
    pub fn webhook_secret(&self) -> &str {
        &self.platform().config.webhook_secret
    }

    /// `{base_url}/admin/api/{version}/graphql.json` for the configured API version.
    pub fn graphql_url(&self) -> String {
        format!("{}/admin/api/{}/graphql.json", self.base_url(), self.platform().config.api_version)
    }

    /// The first location's gid (where seeded stock lives).
    pub fn location_id(&self) -> String {
        state::gid("Location", self.platform().config.primary_location_id())
    }
}
