//! eBay emulator: OAuth refresh-token grant with expiring access tokens, Commerce Identity `getUser`, Sell
//! Inventory v1 (inventory items, offers, `bulkUpdatePriceQuantity` with 200/207 per-SKU outcomes) and
//! Sell Fulfillment v1 (orders with cancellations and refunds, `createShippingFulfillment`).
//!
//! Written from the OpenAPI descriptions in `../shared/fixtures/ebay/` and
//! `../shared/platforms/marketplaces.md` §1. Where the documentation left a choice, the emulator made one
//! and says so here:
//!
//! - **Bulk write size.** `bulkUpdatePriceQuantity` accepts up to 25 requests (the `BulkPriceQuantity`
//!   schema). Its method text says one SKU per call; [`EbayConfig::refuse_bulk_above`] makes a call with
//!   more distinct SKUs than that fail as a whole with `400` (errorId 25002), the reading the adapter must
//!   survive.
//! - **Not-migrated listings.** [`EbayConfig::not_migrated`] (or [`Ebay::set_not_migrated`]) models a seller
//!   whose listings were created in Seller Hub / the Trading API: inventory reads show nothing
//!   (`total: 0`), offers and orders still exist.
//! - **Rate limit.** eBay documents daily call quotas (Inventory API 2,000,000 a day, Fulfillment API
//!   100,000) and no per-second rate or rate-limit headers. The emulator's default is a bucket of 5,000
//!   calls refilled at the Fulfillment quota's average (100,000 / 86,400 s ≈ 1.16 a second), answering
//!   `429` with errorId 2001 and no `Retry-After` (none documented); [`EbayConfig::fast`] turns it off.
//! - **Tokens** live [`EbayConfig::token_lifetime`] (eBay: 7,200 s); an expired or unknown token gets
//!   `401` with errorId 1001 "Invalid access token". [`Ebay::expire_tokens`] ends every token now.
//! - **Revisions.** 250 revisions per listing per day: the 251st write of a SKU fails with errorId 25002.
//! - **Notifications** are not delivered (webhook receivers can be registered, nothing is sent): eBay's
//!   signed Notification API is out of this emulator's scope, and the adapter polls.

mod api;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::sandbox::{
    Binding, ControlError, Emulator, Harness, PlaceOrder, PlacedOrder, PlatformControl, RateLimit, RegisterWebhook,
    SeedProduct, TokenBucket, WebhookConfig,
};
use state::error;

/// The emulator's settings. `Default` is eBay's documented limits; [`EbayConfig::fast`] has no rate limit.
#[derive(Clone)]
#[non_exhaustive]
pub struct EbayConfig {
    /// The application's client id.
    pub client_id: SecretString,
    /// The application's client secret.
    pub client_secret: SecretString,
    /// The seller's refresh token.
    pub refresh_token: SecretString,
    /// The scopes the refresh token was granted.
    pub scopes: Vec<String>,
    /// The seller's immutable user id (`getUser` `userId`).
    pub user_id: String,
    /// The seller's user name.
    pub username: String,
    /// The seller's marketplace.
    pub marketplace_id: String,
    /// The marketplace currency.
    pub currency: String,
    /// Access token lifetime (eBay: 7,200 s).
    pub token_lifetime: Duration,
    /// `getInventoryItems` `limit` maximum (200).
    pub max_page_size: usize,
    /// `bulkUpdatePriceQuantity` requests maximum (25).
    pub max_bulk_requests: usize,
    /// Refuse a whole `bulkUpdatePriceQuantity` call carrying more distinct SKUs than this (`None`: off).
    pub refuse_bulk_above: Option<usize>,
    /// Listings were created outside the Inventory API and are not migrated.
    pub not_migrated: bool,
    /// Revisions per listing per day (250).
    pub revisions_per_day: u32,
    /// The request budget (`None`: unlimited).
    pub rate_limit: Option<RateLimit>,
    /// Webhook delivery settings (receivers can be registered; nothing is delivered).
    pub webhooks: WebhookConfig,
}

impl Default for EbayConfig {
    fn default() -> Self {
        let simple = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            client_id: format!("Sandbox-stocksyn-PRD-{}", &simple()[..12]).into(),
            client_secret: format!("PRD-{}", simple()).into(),
            refresh_token: format!("v^1.1#i^1#r^1#sandbox#{}", simple()).into(),
            scopes: [
                "https://api.ebay.com/oauth/api_scope",
                "https://api.ebay.com/oauth/api_scope/sell.inventory",
                "https://api.ebay.com/oauth/api_scope/sell.inventory.readonly",
                "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
                "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly",
                "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly",
            ]
            .map(str::to_owned)
            .to_vec(),
            user_id: "sUsBdX0xQ5m".into(),
            username: "sandbox_seller".into(),
            marketplace_id: "EBAY_US".into(),
            currency: "USD".into(),
            token_lifetime: Duration::from_secs(7200),
            max_page_size: 200,
            max_bulk_requests: 25,
            refuse_bulk_above: None,
            not_migrated: false,
            revisions_per_day: 250,
            rate_limit: Some(RateLimit::new(5000.0, 100_000.0 / 86_400.0)),
            webhooks: WebhookConfig::default(),
        }
    }
}

impl EbayConfig {
    /// The documented limits without the rate limit.
    pub fn fast() -> Self {
        Self { rate_limit: None, ..Self::default() }
    }
}

impl fmt::Debug for EbayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EbayConfig")
            .field("user_id", &self.user_id)
            .field("marketplace_id", &self.marketplace_id)
            .field("token_lifetime", &self.token_lifetime)
            .field("max_page_size", &self.max_page_size)
            .field("max_bulk_requests", &self.max_bulk_requests)
            .field("refuse_bulk_above", &self.refuse_bulk_above)
            .field("not_migrated", &self.not_migrated)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// The emulated eBay seller account.
pub struct Ebay {
    config: EbayConfig,
    base_url: String,
    harness: Harness,
    limiter: Option<TokenBucket>,
    state: Mutex<state::State>,
    token_grants: Mutex<u64>,
}

impl fmt::Debug for Ebay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ebay").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Ebay {
    fn new(config: EbayConfig, base_url: String, harness: Harness) -> Self {
        let limiter = config.rate_limit.map(TokenBucket::new);
        let state = state::State { not_migrated: config.not_migrated, ..state::State::default() };
        Self { config, base_url, harness, limiter, state: Mutex::new(state), token_grants: Mutex::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings.
    pub fn config(&self) -> &EbayConfig {
        &self.config
    }

    /// Ends every access token now (the next API call with one answers 401).
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// How many access tokens the token endpoint issued.
    pub fn token_grants(&self) -> u64 {
        *self.token_grants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the seller's listings are invisible to the Inventory API (not migrated).
    pub fn set_not_migrated(&self, on: bool) {
        self.lock().not_migrated = on;
    }

    /// A seller-issued refund of `amount` on the order's first line (stock is left alone).
    pub fn refund(&self, order_id: &str, amount: Decimal) -> Result<(), ControlError> {
        self.lock().refund(order_id, amount)
    }

    /// The order as `getOrder` answers it.
    pub fn order_json(&self, order_id: &str) -> Option<Value> {
        let state = self.lock();
        state.orders.iter().find(|o| o.order_id == order_id).map(|o| o.to_json(&self.config.currency))
    }

    /// The price of the SKU's offer.
    pub fn price(&self, sku: &str) -> Option<Decimal> {
        self.lock().items.get(sku).and_then(|i| i.offer.as_ref()).map(|o| o.price)
    }

    /// `bulkUpdatePriceQuantity`: 1..=25 requests (else the whole call is refused); each request's SKU
    /// gets `shipToLocationAvailability.quantity`, each named offer its `price`. One response per offer,
    /// or per SKU when no offer is named; HTTP 200 when all succeeded, else 207.
    fn bulk_update(&self, body: &Value) -> std::result::Result<(StatusCode, Vec<Value>), Vec<Value>> {
        let requests = body["requests"].as_array().cloned().unwrap_or_default();
        if requests.is_empty() || requests.len() > self.config.max_bulk_requests {
            return Err(vec![error(25709, "Invalid value for requests", "REQUEST")]);
        }
        let mut skus: Vec<&str> = requests.iter().filter_map(|r| r["sku"].as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        if let Some(n) = self.config.refuse_bulk_above
            && skus.len() > n
        {
            return Err(vec![error(25002, "Only one SKU can be updated per call.", "REQUEST")]);
        }
        let partial = self.harness.faults().take_partial_batch(api::BULK_UPDATE_PATH);
        let len = requests.len();
        let mut state = self.lock();
        let mut responses = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            let failed = partial.is_some_and(|p| p.fails(index, len));
            responses.extend(self.apply(&mut state, request, failed));
        }
        let all_ok = responses.iter().all(|r| r["statusCode"] == json!(200));
        Ok((if all_ok { StatusCode::OK } else { StatusCode::MULTI_STATUS }, responses))
    }

    fn apply(&self, state: &mut state::State, request: &Value, failed: bool) -> Vec<Value> {
        let sku = request["sku"].as_str().unwrap_or_default().to_owned();
        let offers: Vec<Value> = request["offers"].as_array().cloned().unwrap_or_default();
        let answer = |status: u16, offer: Option<&str>, errors: Vec<Value>| {
            let mut v = json!({"statusCode": status, "sku": sku, "errors": errors, "warnings": []});
            if let Some(o) = offer {
                v["offerId"] = json!(o);
            }
            v
        };
        let each = |status: u16, errors: Vec<Value>| -> Vec<Value> {
            if offers.is_empty() {
                vec![answer(status, None, errors)]
            } else {
                offers.iter().map(|o| answer(status, o["offerId"].as_str(), errors.clone())).collect()
            }
        };
        if failed {
            return each(500, vec![error(25001, "A system error has occurred.", "APPLICATION")]);
        }
        let quantity = request["shipToLocationAvailability"]["quantity"].as_i64();
        let Some(item) = state.items.get_mut(&sku).filter(|_| !sku.is_empty()) else {
            return each(404, vec![error(25710, "We didn't find the resource/entity you are requesting.", "REQUEST")]);
        };
        if quantity.is_some_and(|q| q < 0) {
            return each(400, vec![error(25709, "Invalid value for shipToLocationAvailability.quantity", "REQUEST")]);
        }
        if item.revisions >= self.config.revisions_per_day {
            return each(400, vec![error(25002, "The listing has reached 250 revisions today.", "BUSINESS")]);
        }
        let mut prices = Vec::new();
        for o in &offers {
            let id = o["offerId"].as_str().unwrap_or_default();
            if item.offer.as_ref().is_none_or(|x| x.offer_id != id) {
                return each(400, vec![error(25709, "Invalid value for offerId", "REQUEST")]);
            }
            if !o["price"].is_null() {
                match api::decimal(&o["price"]["value"]) {
                    Some(p) if p > Decimal::ZERO && o["price"]["currency"] == json!(self.config.currency) => {
                        prices.push(p)
                    }
                    _ => return each(400, vec![error(25709, "Invalid value for price", "REQUEST")]),
                }
            }
        }
        if let Some(q) = quantity {
            item.quantity = q;
        }
        if let (Some(p), Some(offer)) = (prices.last(), item.offer.as_mut()) {
            offer.price = *p;
        }
        item.revisions += 1;
        each(200, Vec::new())
    }
}

impl PlatformControl for Ebay {
    fn name(&self) -> &'static str {
        "ebay"
    }

    fn credentials(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("client_id".into(), json!(self.config.client_id.expose_secret()));
        map.insert("client_secret".into(), json!(self.config.client_secret.expose_secret()));
        map.insert("refresh_token".into(), json!(self.config.refresh_token.expose_secret()));
        map.insert("token_url".into(), json!(format!("{}{}", self.base_url, api::TOKEN_PATH)));
        map.insert("identity_url".into(), json!(self.base_url));
        map.insert("user_id".into(), json!(self.config.user_id));
        map.insert("marketplace_id".into(), json!(self.config.marketplace_id));
        map
    }

    fn seed_product(&self, seed: SeedProduct) -> Result<Value, ControlError> {
        if seed.extra_str("fulfilment") == Some("channel") {
            return Err(ControlError::Unsupported("eBay has no channel-held stock in this emulator".into()));
        }
        self.lock().seed(&seed)
    }

    fn stock(&self, sku: &str) -> Result<Option<i64>, ControlError> {
        let state = self.lock();
        let item = state.items.get(sku).ok_or_else(|| ControlError::NotFound(format!("no inventory item {sku}")))?;
        Ok(Some(item.quantity))
    }

    fn place_order(&self, order: PlaceOrder) -> Result<PlacedOrder, ControlError> {
        if order.fulfilment == crate::sandbox::OrderFulfilment::Channel {
            return Err(ControlError::Unsupported("eBay orders are merchant-fulfilled here".into()));
        }
        Ok(PlacedOrder::new(self.lock().place_order(&order)?))
    }

    fn cancel_order(&self, order_id: &str) -> Result<(), ControlError> {
        self.lock().cancel_order(order_id)
    }

    fn register_webhook(&self, hook: RegisterWebhook) -> Result<u64, ControlError> {
        if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
            return Err(ControlError::Invalid("webhook url must be http(s)".into()));
        }
        let secret = hook.secret.unwrap_or_default();
        Ok(self.harness.webhooks().register(hook.url, secret, hook.topics).id)
    }
}

/// The eBay emulator.
pub type EbayEmulator = Emulator<Ebay>;

impl Emulator<Ebay> {
    /// Starts an emulator on a free loopback port.
    pub async fn start(config: EbayConfig) -> Result<Self> {
        let binding = Binding::loopback().await?;
        let harness = Harness::new(config.webhooks);
        let platform = Arc::new(Ebay::new(config, binding.base_url().to_owned(), harness.clone()));
        let api = api::router(Arc::clone(&platform));
        Ok(Emulator::serve(binding, harness, platform, api))
    }

    /// The application's client id.
    pub fn client_id(&self) -> &str {
        self.platform().config.client_id.expose_secret()
    }

    /// The application's client secret.
    pub fn client_secret(&self) -> &str {
        self.platform().config.client_secret.expose_secret()
    }

    /// The seller's refresh token.
    pub fn refresh_token(&self) -> &str {
        self.platform().config.refresh_token.expose_secret()
    }

    /// The token endpoint (`<base_url>/identity/v1/oauth2/token`).
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base_url(), api::TOKEN_PATH)
    }

    /// The identity host (this emulator's base URL; production's is `https://apiz.ebay.com`).
    pub fn identity_url(&self) -> &str {
        self.base_url()
    }

    /// The seller's user id.
    pub fn user_id(&self) -> &str {
        &self.platform().config.user_id
    }
}
