//! Emulator of the Magento 2 / Adobe Commerce admin REST API with Multi-Source Inventory, written from
//! Adobe's OpenAPI of 2.4.9 (`../shared/fixtures/magento/admin-schema-2.4.9.yaml`) and the MSI notes in
//! `../shared/platforms/marketplaces.md` §4.
//!
//! | route (under `/rest/<store_code>/V1`) | behaviour |
//! |---|---|
//! | `GET /store/storeConfigs` | one store view (`default`, id 1) with the base currency and URLs |
//! | `GET /products` | `searchCriteria` (below) over `entity_id`, `sku`, `name`, `type_id`, `status`, `price`, `updated_at` |
//! | `GET /inventory/source-items` | `searchCriteria` over `sku`, `source_code`, `quantity`, `status` |
//! | `POST /inventory/source-items` `{"sourceItems":[…]}` | all or nothing: one invalid item (unknown source, unknown SKU, empty SKU, a status other than 0/1) refuses the call with `400 {"message":"Validation Failed","errors":[…]}` and saves nothing; `200` with no body otherwise |
//! | `POST /products/base-prices` `{"prices":[…]}` | `200` with the failures `[{message, parameters}]` (unknown SKU, negative price); the others are saved |
//! | `GET /inventory/get-product-salable-quantity/{sku}/{stockId}` | source quantity (in-stock items of the stock's sources) plus reservations |
//! | `GET /orders`, `GET /orders/{id}`, `POST /orders/{id}/cancel` | orders (`searchCriteria` over `entity_id`, `increment_id`, `state`, `status`, `created_at`, `updated_at`) |
//! | `POST /order/{id}/ship` `{items, notify, tracks, …}` | a shipment: source deduction and reservation compensation; answers the shipment id; nothing left to ship is `400` |
//!
//! `searchCriteria`: `filterGroups[g][filters][f][field|value|conditionType]` (groups ANDed, filters of a
//! group ORed; `eq neq gt gteq lt lteq in nin like null notnull`), `sortOrders[0][field|direction]`,
//! `pageSize`, `currentPage`; the snake_case spellings too. Answers `{items, search_criteria,
//! total_count}`.
//!
//! Switches ([`MagentoConfig`]): `input_limit` (Magento 2.4.3+ web API input limiting: arrays longer
//! than 20 are refused with `400 {"message":"Maximum items of type \"%type\" is %max",…}`, `pageSize`
//! above 300 with `Maximum SearchCriteria pageSize is %max`, and a missing `pageSize` means 20);
//! `repeat_last_page` (a `currentPage` past the end answers the last page again, as many versions do:
//! magento2 #3787, #8099, #26986). Both on by default.
//!
//! Authentication: `Authorization: Bearer <integration access token>`; a missing or wrong token is a
//! guest, refused with `401 {"message":"The consumer isn't authorized to access %resources.",
//! "parameters":{"resources":"…"}}`. An unknown store code is `400`. Magento documents no rate limit for
//! the admin API; `rate_limit` (off by default) emulates a host or WAF answering `429` with `Retry-After`.
//!
//! MSI: placing an order (`/_sandbox/orders`: state `new`, status `pending`) appends a reservation of
//! `-qty` and leaves the source quantity alone; shipping deducts the source and compensates the
//! reservation; cancelling (and [`Magento::refund_order`], a credit memo without return to stock)
//! compensates what was not shipped. The control surface's `stock` is the *salable* quantity of the
//! stock (source quantity plus reservations), which is what an order moves.
//!
//! Webhooks: Magento sends none (Adobe Commerce Webhooks are synchronous hooks); receivers can be
//! registered but nothing is delivered.

mod api;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::sandbox::{
    Binding, ControlError, Emulator, Harness, PartialBatch, PlaceOrder, PlacedOrder, PlatformControl, RateLimit,
    RegisterWebhook, SeedProduct, TokenBucket, WebhookConfig,
};
use state::{ApiError, SourceItem};

/// Emulator settings; `Default` follows the documented limits (input limiting on).
#[derive(Clone)]
#[non_exhaustive]
pub struct MagentoConfig {
    /// The integration's access token (random by default).
    pub access_token: SecretString,
    /// Store codes the path may name (`all`, `default`).
    pub store_codes: Vec<String>,
    /// The MSI sources of the stock (`default`); seeds and shipments use the first.
    pub sources: Vec<String>,
    /// The stock's id (1, the Default Stock).
    pub stock_id: u64,
    /// The base currency.
    pub currency: String,
    /// Input limiting's array limit (`Some(20)`); `None` turns input limiting off.
    pub input_limit: Option<usize>,
    /// Input limiting's largest `pageSize` (300).
    pub max_page_size: Option<usize>,
    /// `pageSize` when absent (20 with input limiting; `None`: everything).
    pub default_page_size: Option<usize>,
    /// Answer a page past the end with the last page again (on).
    pub repeat_last_page: bool,
    /// An optional request budget (Magento has none).
    pub rate_limit: Option<RateLimit>,
    /// Webhook delivery settings (nothing is delivered).
    pub webhooks: WebhookConfig,
}

impl Default for MagentoConfig {
    fn default() -> Self {
        Self {
            access_token: format!("mg_{}", uuid::Uuid::new_v4().simple()).into(),
            store_codes: vec!["all".into(), "default".into()],
            sources: vec!["default".into()],
            stock_id: 1,
            currency: "USD".into(),
            input_limit: Some(20),
            max_page_size: Some(300),
            default_page_size: Some(20),
            repeat_last_page: true,
            rate_limit: None,
            webhooks: WebhookConfig::default(),
        }
    }
}

impl MagentoConfig {
    /// The defaults with no rate limit (there is none by default either: Magento documents none).
    pub fn fast() -> Self {
        Self::default()
    }

    /// Input limiting off: no array limit, no page size limit, no default page size.
    #[must_use]
    pub fn without_input_limit(mut self) -> Self {
        self.input_limit = None;
        self.max_page_size = None;
        self.default_page_size = None;
        self
    }

    /// With the repeated-last-page quirk on or off.
    #[must_use]
    pub fn repeat_last_page(mut self, on: bool) -> Self {
        self.repeat_last_page = on;
        self
    }
}

impl fmt::Debug for MagentoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MagentoConfig")
            .field("access_token", &"******")
            .field("store_codes", &self.store_codes)
            .field("sources", &self.sources)
            .field("stock_id", &self.stock_id)
            .field("currency", &self.currency)
            .field("input_limit", &self.input_limit)
            .field("max_page_size", &self.max_page_size)
            .field("default_page_size", &self.default_page_size)
            .field("repeat_last_page", &self.repeat_last_page)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// Paging limits handed to the `searchCriteria` evaluator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_page_size: Option<usize>,
    pub(crate) default_page_size: Option<usize>,
    pub(crate) repeat_last_page: bool,
}

/// The Magento store behind an emulator.
pub struct Magento {
    config: MagentoConfig,
    base_url: String,
    harness: Harness,
    limiter: Option<TokenBucket>,
    state: Mutex<state::State>,
}

impl fmt::Debug for Magento {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Magento")
            .field("config", &self.config)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn invalid(message: &str, parameters: Value) -> Value {
    json!({"message": message, "parameters": parameters})
}

impl Magento {
    fn lock(&self) -> std::sync::MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn limits(&self) -> Limits {
        Limits {
            max_page_size: self.config.max_page_size,
            default_page_size: self.config.default_page_size,
            repeat_last_page: self.config.repeat_last_page,
        }
    }

    /// The emulator's settings.
    pub fn config(&self) -> &MagentoConfig {
        &self.config
    }

    /// Validates every item, then saves all or none (MSI's `SourceItemsSave`).
    fn save_source_items(&self, items: &[Value], partial: Option<PartialBatch>) -> Result<(), ApiError> {
        let mut state = self.lock();
        let mut parsed = Vec::with_capacity(items.len());
        let mut errors = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let sku = item.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
            let source = item.get("source_code").and_then(Value::as_str).unwrap_or_default().to_owned();
            let quantity = item.get("quantity").and_then(Value::as_f64);
            let status = item.get("status").and_then(Value::as_u64);
            if sku.trim().is_empty() {
                errors.push(invalid("\"%field\" can not be empty.", json!({"field": "sku"})));
            } else if state.product_by_sku(&sku).is_none() {
                errors.push(invalid("Product with SKU \"%sku\" does not exist.", json!({"sku": sku})));
            }
            if !self.config.sources.contains(&source) {
                errors.push(invalid("Source with code \"%code\" does not exist.", json!({"code": source})));
            }
            let Some(quantity) = quantity else {
                errors.push(invalid("\"%field\" should be numeric.", json!({"field": "quantity"})));
                continue;
            };
            if !matches!(status, Some(0 | 1)) {
                errors.push(invalid("\"%field\" should a known status.", json!({"field": "status"})));
            }
            if partial.is_some_and(|p| p.fails(n, items.len())) {
                return Err(ApiError::new(400, "Could not save Source Item", Value::Null));
            }
            parsed.push((sku, source, SourceItem { quantity, status: u8::try_from(status.unwrap_or(0)).unwrap_or(0) }));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        for (sku, source, item) in parsed {
            state.source_items.insert((sku, source), item);
        }
        Ok(())
    }

    /// Saves the valid prices, answering the failures.
    fn save_prices(&self, prices: &[Value], partial: Option<PartialBatch>) -> Value {
        let mut state = self.lock();
        let mut failures = Vec::new();
        for (n, p) in prices.iter().enumerate() {
            let sku = p.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
            let price = p.get("price").and_then(Value::as_f64);
            if partial.is_some_and(|f| f.fails(n, prices.len())) {
                failures.push(json!({"message": "Could not save Prices.", "parameters": [sku]}));
                continue;
            }
            let Some(id) = state.product_by_sku(&sku).map(|p| p.id) else {
                let message = "The SKU wasn't found. Verify the SKU and try again. SKU: %1";
                failures.push(json!({"message": message, "parameters": [sku]}));
                continue;
            };
            match price {
                Some(v) if v >= 0.0 => {
                    if let Some(product) = state.products.get_mut(&id) {
                        product.price = v;
                        product.updated_at = state::now_string();
                    }
                }
                _ => failures.push(json!({
                    "message": "Invalid attribute %1 = %2. Verify the attribute and try again.",
                    "parameters": ["Price", p.get("price").map(Value::to_string).unwrap_or_default(), sku]
                })),
            }
        }
        Value::Array(failures)
    }

    /// The source item of `sku` at `source` as the API shows it.
    pub fn source_item(&self, sku: &str, source: &str) -> Option<Value> {
        let state = self.lock();
        state
            .source_items
            .get(&(sku.to_owned(), source.to_owned()))
            .map(|i| state::State::source_item_json(sku, source, i))
    }

    /// The sum of `sku`'s reservations (negative while orders are open).
    pub fn reservations(&self, sku: &str) -> f64 {
        self.lock().reservations.iter().filter(|r| r.sku == sku).map(|r| r.quantity).sum()
    }

    /// The reservation rows of `sku` as `(quantity, metadata)`, oldest first.
    pub fn reservation_rows(&self, sku: &str) -> Vec<(f64, String)> {
        self.lock().reservations.iter().filter(|r| r.sku == sku).map(|r| (r.quantity, r.metadata.clone())).collect()
    }

    /// Order `id` as `GET /V1/orders/{id}` shows it.
    pub fn order_json(&self, id: u64) -> Option<Value> {
        self.lock().orders.get(&id).map(|o| state::State::order_json(o, &self.config.currency))
    }

    /// The tracks shipments of order `id` carried.
    pub fn tracks(&self, id: u64) -> Vec<Value> {
        self.lock().orders.get(&id).map(|o| o.tracks.clone()).unwrap_or_default()
    }

    /// A credit memo for the whole of order `id` (no return to stock), as the admin would make it.
    pub fn refund_order(&self, id: u64) -> std::result::Result<(), ControlError> {
        self.lock().refund(id).map_err(|e| ControlError::Conflict(e.message))
    }

    /// Ships every open unit of order `id`, as the admin would.
    pub fn ship_order(&self, id: u64) -> std::result::Result<u64, ControlError> {
        self.lock().ship(id, &[], Vec::new(), &self.config.sources).map_err(|e| ControlError::Conflict(e.message))
    }
}

impl PlatformControl for Magento {
    fn name(&self) -> &'static str {
        "magento"
    }

    fn credentials(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("access_token".into(), json!(self.config.access_token.expose_secret()));
        map.insert("store_code".into(), json!("default"));
        map.insert("source_code".into(), json!(self.config.sources.first()));
        map
    }

    fn seed_product(&self, seed: SeedProduct) -> std::result::Result<Value, ControlError> {
        use rust_decimal::prelude::ToPrimitive;
        if seed.sku.trim().is_empty() {
            return Err(ControlError::Invalid("a SKU is required".into()));
        }
        let price = seed.price.and_then(|p| p.to_f64()).unwrap_or(0.0);
        let type_id = seed.extra_str("type_id").unwrap_or("simple").to_owned();
        let source = seed.extra_str("source_code").map(str::to_owned).or_else(|| self.config.sources.first().cloned());
        let mut state = self.lock();
        let id = state.add_product(&seed.sku, price, &type_id);
        if let Some(source) = source.filter(|_| type_id == "simple") {
            #[allow(clippy::cast_precision_loss)]
            let item = SourceItem { quantity: seed.quantity as f64, status: u8::from(seed.quantity > 0) };
            state.source_items.insert((seed.sku.clone(), source), item);
        }
        Ok(json!({"id": id, "sku": seed.sku}))
    }

    fn stock(&self, sku: &str) -> std::result::Result<Option<i64>, ControlError> {
        #[allow(clippy::cast_possible_truncation)]
        Ok(self.lock().salable(sku, &self.config.sources).map(|q| q.floor() as i64))
    }

    fn place_order(&self, order: PlaceOrder) -> std::result::Result<PlacedOrder, ControlError> {
        #[allow(clippy::cast_precision_loss)]
        let qty = order.quantity as f64;
        let id = self.lock().place_order(&order.sku, qty, &self.config.sources).map_err(ControlError::Conflict)?;
        Ok(PlacedOrder::new(id.to_string()))
    }

    fn cancel_order(&self, order_id: &str) -> std::result::Result<(), ControlError> {
        let id: u64 =
            order_id.parse().map_err(|_| ControlError::Invalid(format!("{order_id:?} is not an order id")))?;
        self.lock().cancel(id).map_err(|e| {
            if e.status == 404 { ControlError::NotFound(e.message) } else { ControlError::Conflict(e.message) }
        })
    }

    fn register_webhook(&self, hook: RegisterWebhook) -> std::result::Result<u64, ControlError> {
        let secret = hook.secret.unwrap_or_default();
        Ok(self.harness.webhooks().register(&hook.url, secret, hook.topics).id)
    }
}

/// A running Magento admin REST emulator.
pub type MagentoEmulator = Emulator<Magento>;

impl Emulator<Magento> {
    /// Starts an emulator on a free loopback port.
    pub async fn start(config: MagentoConfig) -> Result<Self> {
        if config.sources.is_empty() || config.input_limit == Some(0) || config.max_page_size == Some(0) {
            return Err(Error::Config("at least one source, and limits of at least 1".into()));
        }
        let binding = Binding::loopback().await?;
        let harness = Harness::new(config.webhooks);
        let limiter = config.rate_limit.map(TokenBucket::new);
        let platform = Arc::new(Magento {
            config,
            base_url: binding.base_url().to_owned(),
            harness: harness.clone(),
            limiter,
            state: Mutex::default(),
        });
        let api = api::router(Arc::clone(&platform));
        Ok(Emulator::serve(binding, harness, platform, api))
    }

    /// The integration access token.
    pub fn access_token(&self) -> &str {
        self.platform().config.access_token.expose_secret()
    }

    /// The store code to put in the path (`default`).
    pub fn store_code(&self) -> &str {
        "default"
    }

    /// The source stocksync should manage (the first configured).
    pub fn source_code(&self) -> &str {
        self.platform().config.sources.first().map_or("default", String::as_str)
    }

    /// The stock id (1).
    pub fn stock_id(&self) -> u64 {
        self.platform().config.stock_id
    }
}
