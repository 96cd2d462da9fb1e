//! Emulator of the Takealot Seller API v2 (`https://seller-api.takealot.com/`).
//!
//! Every route, shape, status code and error body follows the Seller API v2 swagger
//! (`shared/fixtures/takealot/seller-api-v2-swagger.yml`); where the swagger is silent the choice is named
//! here and in `docs/fidelity.md`. What it serves (all under `Authorization: Key <api_key>`; anything else
//! is the documented `403` `{message}`):
//!
//! | route | swagger operation | behaviour |
//! |---|---|---|
//! | `GET /v2/offers?page_number&page_size[&offer_ids]` | `get_offers_v2` | `V2Offers`; `page_size` at most [`TakealotConfig::max_page_size`] (100), `400` above |
//! | `GET /v2/offers/count` | `get_offers_count_v2` | `{"count"}` |
//! | `GET /v2/offers/offer/{identifier}`, `?identifier=` | `get_offer_by_identifier_v2` (`_query_v2`) | `V2Offer`; `ID…`/`SKU…`/`BARCODE…` (and older `GTIN…`) prefixes, bare digits an offer id; `404` `{message}` |
//! | `PATCH` the same | `update_offer_by_identifier_v2` (`_query_v2`) | body `V2OfferSingleUpdate` only (`400` `{message}` for another field or type); answers `V2OfferUpdateSuccessResponse` `{offer, validation_errors}` |
//! | `POST /v2/offers/batch` | `create_batch_v2` | a bare array of `V2OfferBatchCreateUpdate`, 1 to [`TakealotConfig::max_batch_size`] (10,000); answers `V2OfferBatch` pending, processes in the background |
//! | `GET /v2/offers/batch/{batch_id}` | `get_batch_v2` | `V2OfferBatch`: `status` `{id, description}`, `result[]` `{offer, validation_errors}` |
//! | `GET /v2/sales?filters=…&page_number&page_size` | `view_sales` | `ViewSalesResponse`; filters `start_date`, `end_date`, `sku`, … (window at most 180 days counting both ends, none = the last 30 including today); errors as `Error` `{fields, message, status}`, `fields` the parameter at fault |
//! | `GET /v2/seller` | none | not in the swagger: `404` `{message}` like any unknown path unless [`TakealotConfig::serve_seller_endpoint`] opts in |
//!
//! Every authenticated answer carries `x-RateLimit-Limit`, `x-RateLimit-Remaining` and `x-RateLimit-Reset`
//! (documented headers; seconds: until the next request is allowed when exhausted, else until the bucket is
//! full); past [`TakealotConfig::rate_limit`] requests get `429` (not in the swagger: this emulator's choice).
//!
//! Rules enforced on updates (PATCH and batch items alike, reported as `validation_errors`): `rrp` is 0 or
//! at least the selling price, leadtime stock cannot go below 0 and needs leadtime days (`leadtime_days` -1
//! or 0 removes them and zeroes leadtime stock), warehouses must be the seller's, and an offer "Disabled by
//! Takealot" refuses every update (a per-offer error in a batch, never a failed batch). Prices must be
//! integers (the schema's type: `299.5` is a `400`). `stock_at_takealot` (DC stock) is read-only.
//!
//! Orders ([`PlaceOrder`]): a merchant (leadtime) order takes leadtime stock from the seller's warehouses in
//! order and fires "New Leadtime Order" ("New Drop Ship Order" when the order has `"drop_ship": true`); a
//! channel (DC) order takes DC stock only and fires "Sale Status Changed". Cancelling restores the stock
//! where it came from and fires "Sale Status Changed". PATCH and batch updates fire "Offer Updated", a
//! finished batch "Batch Completed", seeding "Offer Created". Deliveries have the shapes of
//! `shared/fixtures/takealot/webhook_*.json`.
//!
//! Seed options (`SeedProduct::with`): `barcode`, `title`, `rrp`, `leadtime_days` (default 3), `dc_stock`
//! (units at the first DC), `warehouse_id` (where `quantity` goes; default the first warehouse),
//! `disabled_by_takealot` (bool).
//!
//! # Choices where the swagger is silent
//! - Batch status ids: 1 "Pending" while processing, 4 "Success" when done (4/5 are the finished ids a
//!   public client reads); `result[].offer` is the offer after the batch, or the identifiers sent when no
//!   offer was found.
//! - Sales: `order_date` as public answers show it, `01 Oct 2021 13:47:32` in South African time (UTC+2),
//!   and the filter dates are South African dates; `selling_price` a number, unit × quantity; `sale_status`
//!   a string (the swagger's `boolean` is contradicted by every public answer).
//! - An offer without leadtime days shows `leadtime_days: -1` (the value that removes them).
//! - `GET /v2/seller` (opt-in) answering `{"seller_id","display_name","email","status"}`.
//! - `validation_errors[]` carry a `code` only where the platform notes give its meaning exactly (E27
//!   SKU length, E30 stock below 0), and E11 for "Disabled by Takealot" as a choice (the notes give only
//!   the group E11-E17, E21, E24); every other rule answers `{message}` alone. The `partial_batch` fault's items fail with a message and no code.
//! - A batch item's `barcode` only identifies an existing offer; the swagger says it "can be used to
//!   create a new offer", which this emulator does not do (the adapter never sends `barcode`).
//! - Sale statuses: "New Lead Time Order" (leadtime), "Preparing for Customer" (DC), "Cancelled by
//!   Customer".
//! - Webhook signature: [`SignatureScheme`], hex HMAC-SHA256 of the body by default (the platform notes
//!   list two candidate schemes).

mod api;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

pub use state::Warehouse;

use crate::error::{Error, Result};
use crate::sandbox::{
    Binding, ControlError, Emulator, Harness, PlaceOrder, PlacedOrder, PlatformControl, RateLimit, RegisterWebhook,
    SeedProduct, TokenBucket, WebhookConfig,
};

/// How webhook deliveries are signed in `X-Takealot-Signature` (public sources disagree; see the module
/// docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// Lower-case hex of HMAC-SHA256(secret, body).
    #[default]
    HexBody,
    /// Base64 of the lower-case hex of HMAC-SHA256(secret, url + body).
    Base64HexUrlBody,
}

/// Emulator settings; defaults follow the documented limits.
#[derive(Clone)]
#[non_exhaustive]
pub struct TakealotConfig {
    /// The API key clients must send as `Authorization: Key …` (random by default).
    pub api_key: SecretString,
    /// The default secret for webhook receivers registered without one (random by default).
    pub webhook_secret: SecretString,
    /// The seller's id (in webhooks and `/v2/seller`).
    pub seller_id: u64,
    /// The seller's display name.
    pub seller_name: String,
    /// The seller's own (leadtime) warehouses.
    pub warehouses: Vec<Warehouse>,
    /// Takealot's distribution centres.
    pub dcs: Vec<Warehouse>,
    /// Largest `page_size` (100).
    pub max_page_size: u32,
    /// Most items in one offers batch (10,000).
    pub max_batch_size: usize,
    /// Longest sales date window in days (180).
    pub max_sales_window_days: i64,
    /// Request rate limit; `None` disables it. Takealot publishes no figure; the default, 60 requests per
    /// minute with a burst of 60, is the one a public integration uses.
    pub rate_limit: Option<RateLimit>,
    /// How long a batch stays `pending` before it is processed.
    pub batch_processing_delay: Duration,
    /// Webhook signature scheme.
    pub signature: SignatureScheme,
    /// Webhook delivery settings.
    pub webhooks: WebhookConfig,
    /// Serve `GET /v2/seller` (`{"seller_id","display_name","email","status"}`). Off by default: the
    /// swagger has no such operation, so the emulator answers it 404 like any unknown path, as a real
    /// account does; turn it on to exercise the adapter's opt-in `IdentitySource::SellerEndpoint`.
    pub serve_seller_endpoint: bool,
}

impl Default for TakealotConfig {
    fn default() -> Self {
        Self {
            api_key: format!("tk_sandbox_{}", uuid::Uuid::new_v4().simple()).into(),
            webhook_secret: format!("whsec_{}", uuid::Uuid::new_v4().simple()).into(),
            seller_id: 1_234_567,
            seller_name: "Sandbox Seller".into(),
            warehouses: vec![Warehouse::new(28676, "My Warehouse")],
            dcs: vec![Warehouse::new(1, "CPT"), Warehouse::new(2, "JHB"), Warehouse::new(3, "DBN")],
            max_page_size: 100,
            max_batch_size: 10_000,
            max_sales_window_days: 180,
            rate_limit: Some(RateLimit::per_window(60, Duration::from_secs(60))),
            batch_processing_delay: Duration::from_millis(20),
            signature: SignatureScheme::HexBody,
            webhooks: WebhookConfig::default(),
            serve_seller_endpoint: false,
        }
    }
}

impl fmt::Debug for TakealotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakealotConfig")
            .field("api_key", &"******")
            .field("webhook_secret", &"******")
            .field("seller_id", &self.seller_id)
            .field("warehouses", &self.warehouses)
            .field("dcs", &self.dcs)
            .field("max_page_size", &self.max_page_size)
            .field("max_batch_size", &self.max_batch_size)
            .field("max_sales_window_days", &self.max_sales_window_days)
            .field("rate_limit", &self.rate_limit)
            .field("batch_processing_delay", &self.batch_processing_delay)
            .field("signature", &self.signature)
            .field("webhooks", &self.webhooks)
            .field("serve_seller_endpoint", &self.serve_seller_endpoint)
            .finish()
    }
}

impl TakealotConfig {
    fn validate(&self) -> Result<()> {
        if self.warehouses.is_empty() || self.dcs.is_empty() {
            return Err(Error::Config("Takealot needs at least one merchant warehouse and one DC".into()));
        }
        if self.max_page_size == 0 || self.max_batch_size == 0 {
            return Err(Error::Config("page and batch limits must be at least 1".into()));
        }
        Ok(())
    }
}

/// The Takealot platform state behind an emulator.
pub struct Takealot {
    config: TakealotConfig,
    harness: Harness,
    limiter: Option<TokenBucket>,
    state: Mutex<state::State>,
}

impl fmt::Debug for Takealot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Takealot").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Takealot {
    fn new(config: TakealotConfig, harness: Harness) -> Self {
        let limiter = config.rate_limit.map(TokenBucket::new);
        Self { config, harness, limiter, state: Mutex::new(state::State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The emulator's settings.
    pub fn config(&self) -> &TakealotConfig {
        &self.config
    }

    /// The offer for `sku` as `GET /v2/offers/offer/SKU…` would answer it.
    pub fn offer_json(&self, sku: &str) -> Option<Value> {
        let state = self.lock();
        state.offer_by_sku(sku).map(|offer| offer.to_json(&self.config))
    }

    /// Stock at Takealot's DCs for `sku` (read-only through the API).
    pub fn dc_stock(&self, sku: &str) -> Option<i64> {
        self.lock().offer_by_sku(sku).map(state::Offer::dc_total)
    }

    /// Sets DC stock for `sku` at the first DC (as a replenishment shipment would).
    pub fn set_dc_stock(&self, sku: &str, quantity: i64) -> Result<(), ControlError> {
        let mut state = self.lock();
        let offer =
            state.offer_by_sku_mut(sku).ok_or_else(|| ControlError::NotFound(format!("no offer with SKU {sku}")))?;
        let dc = self.config.dcs.first().map_or(0, |dc| dc.warehouse_id);
        offer.dc_stock.insert(dc, quantity.max(0));
        Ok(())
    }

    /// Marks the offer for `sku` "Disabled by Takealot" (or lifts it).
    pub fn set_disabled_by_takealot(&self, sku: &str, disabled: bool) -> Result<(), ControlError> {
        let mut state = self.lock();
        let offer =
            state.offer_by_sku_mut(sku).ok_or_else(|| ControlError::NotFound(format!("no offer with SKU {sku}")))?;
        offer.disabled_by_takealot = disabled;
        Ok(())
    }

    /// Sale status of `order_id`'s items.
    pub fn sale_status(&self, order_id: u64) -> Option<String> {
        self.lock().sales.iter().find(|sale| sale.order_id == order_id).map(|sale| sale.sale_status.clone())
    }

    /// Queues `event` with `body` to every receiver, signed per [`TakealotConfig::signature`].
    pub(crate) fn fire(&self, event: &'static str, body: &Value) {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let scheme = self.config.signature;
        self.harness.webhooks().broadcast(event, |target| {
            let signature = sign(scheme, target.secret.as_bytes(), &target.url, &bytes);
            crate::sandbox::OutgoingWebhook::json(event, bytes.clone())
                .header("X-Takealot-Event", event)
                .header("X-Takealot-Delivery", uuid::Uuid::new_v4().to_string())
                .header("X-Takealot-Signature", signature)
        });
    }
}

/// The `X-Takealot-Signature` value for `body` delivered to `url` under `secret`.
pub fn sign(scheme: SignatureScheme, secret: &[u8], url: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    match scheme {
        SignatureScheme::HexBody => channel_core::webhook::sign_hex(secret, body),
        SignatureScheme::Base64HexUrlBody => {
            let digest = channel_core::webhook::hmac_sha256_parts(secret, &[url.as_bytes(), body]);
            base64::engine::general_purpose::STANDARD.encode(hex::encode(digest))
        }
    }
}

impl PlatformControl for Takealot {
    fn name(&self) -> &'static str {
        "takealot"
    }

    fn credentials(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("api_key".into(), json!(self.config.api_key.expose_secret()));
        map.insert("webhook_secret".into(), json!(self.config.webhook_secret.expose_secret()));
        map.insert("seller_id".into(), json!(self.config.seller_id));
        map.insert(
            "merchant_warehouse_ids".into(),
            json!(self.config.warehouses.iter().map(|w| w.warehouse_id).collect::<Vec<_>>()),
        );
        map
    }

    fn seed_product(&self, seed: SeedProduct) -> Result<Value, ControlError> {
        let (ids, created) = self.lock().seed(&self.config, &seed)?;
        self.fire("Offer Created", &created);
        Ok(ids)
    }

    fn stock(&self, sku: &str) -> Result<Option<i64>, ControlError> {
        let state = self.lock();
        let offer =
            state.offer_by_sku(sku).ok_or_else(|| ControlError::NotFound(format!("no offer with SKU {sku}")))?;
        Ok(Some(offer.leadtime_total()))
    }

    fn place_order(&self, order: PlaceOrder) -> Result<PlacedOrder, ControlError> {
        let events = self.lock().place_order(&self.config, &order)?;
        let order_id = events.order_id;
        for (event, body) in events.webhooks {
            self.fire(event, &body);
        }
        Ok(PlacedOrder::new(order_id.to_string()))
    }

    fn cancel_order(&self, order_id: &str) -> Result<(), ControlError> {
        let id: u64 =
            order_id.parse().map_err(|_| ControlError::Invalid(format!("{order_id:?} is not an order id")))?;
        let events = self.lock().cancel_order(&self.config, id)?;
        for body in events {
            self.fire("Sale Status Changed", &body);
        }
        Ok(())
    }

    fn register_webhook(&self, hook: RegisterWebhook) -> Result<u64, ControlError> {
        if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
            return Err(ControlError::Invalid("webhook url must be http(s)".into()));
        }
        let secret = hook.secret.unwrap_or_else(|| self.config.webhook_secret.expose_secret().to_owned());
        Ok(self.harness.webhooks().register(hook.url, secret, hook.topics).id)
    }
}

/// A running Takealot Seller API v2 emulator.
pub type TakealotEmulator = Emulator<Takealot>;

impl Emulator<Takealot> {
    /// Starts an emulator on a free loopback port.
    pub async fn start(config: TakealotConfig) -> Result<Self> {
        config.validate()?;
        let binding = Binding::loopback().await?;
        let harness = Harness::new(config.webhooks);
        let platform = Arc::new(Takealot::new(config, harness.clone()));
        let api = api::router(Arc::clone(&platform));
        Ok(Emulator::serve(binding, harness, platform, api))
    }

    /// The API key (`Authorization: Key …`).
    pub fn api_key(&self) -> &str {
        self.platform().config.api_key.expose_secret()
    }

    /// The default webhook secret.
    pub fn webhook_secret(&self) -> &str {
        self.platform().config.webhook_secret.expose_secret()
    }

    /// The seller's merchant warehouse ids.
    pub fn warehouse_ids(&self) -> Vec<u64> {
        self.platform().config.warehouses.iter().map(|w| w.warehouse_id).collect()
    }
}
