//! Emulator of the WooCommerce REST API v3 (`/wp-json/wc/v3`).
//!
//! Authentication as `WC_REST_Authentication` does it: `consumer_key`/`consumer_secret` query parameters
//! first, then HTTP Basic (both accepted over plain HTTP here, since the emulator only speaks HTTP on
//! loopback; an unknown key leaves the request anonymous, a wrong secret is `401
//! woocommerce_rest_authentication_error` "Consumer secret is invalid."), or OAuth 1.0a one-legged signatures (HMAC-SHA1 or
//! HMAC-SHA256; parameters in the query or an `Authorization: OAuth …` header) verified exactly as
//! `WC_REST_Authentication` does: base string over the full URL (`base_url` + path) and every query/form
//! parameter, key `consumer_secret&`, timestamp within 15 minutes, a nonce refused again within the window
//! whatever its timestamp; any one `oauth_*` parameter makes it an OAuth attempt, the missing ones named
//! in `woocommerce_rest_authentication_missing_parameter`. Array parameters
//! (`include[]=…`) are not signed the PHP way; avoid them with OAuth. An anonymous request to an existing route gets the route's
//! permission refusal (`401`, `woocommerce_rest_cannot_view` / `_cannot_create` / `_cannot_edit` /
//! `_cannot_delete` / `_cannot_batch`). [`WooCommerceConfig::strip_authorization`] emulates a server that
//! drops the `Authorization` header.
//!
//! | route (under `/wp-json/wc/v3`) | behaviour |
//! |---|---|
//! | `GET /products` | `page`/`per_page` (default 10, at most 100, else `400 rest_invalid_param`), `sku`, `type`, `include`, `parent`, `stock_status`, `status`, `modified_after`/`modified_before`, `orderby` (`id`, `date`, `modified`), `order`; `X-WP-Total`, `X-WP-TotalPages`, `Link` |
//! | `POST /products`, `GET`/`PUT`/`POST`/`DELETE /products/{id}` | create, retrieve, update, delete |
//! | `GET /products/{id}/variations`, `GET`/`PUT`/`POST /products/{id}/variations/{vid}` | same for variations (`manage_stock` is `"parent"` when the parent holds the stock) |
//! | `POST /products/batch`, `POST /products/{id}/variations/batch` | `{"create","update","delete"}`, at most 100 items in all (`413` above); per-item errors inline as `{"id","error":{"code","message","data":{"status"}}}` |
//! | `GET /orders` | `modified_after`/`modified_before` (GMT; strictly after/before, second resolution), `after`/`before` (created), `status`, paging as products |
//! | `GET`/`PUT`/`POST /orders/{id}` | retrieve; update `status` (cancelling restores stock, processing/on-hold/completed take it if not yet taken) |
//! | `GET`/`POST /orders/{id}/notes` | order notes |
//! | `GET`/`POST /webhooks`, `GET`/`DELETE /webhooks/{id}` | webhooks (creating one sends the ping) |
//! | `GET /system_status` | site identity: `environment.home_url`, `environment.version`, `settings.currency` |
//! | `GET /data/currencies/current` | `{code, name, symbol}` of the store currency (`_data.md`) |
//! | `GET`/`POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings`, `GET /wp-json/wc-shipment-tracking/v3/shipment-trackings/providers` (documented; public) and `GET …/orders/{id}/shipment-trackings/providers` | the Shipment Tracking extension, when [`WooCommerceConfig::shipment_tracking`] is on (`404 rest_no_route` otherwise): the provider is stored as `sanitize_title(tracking_provider)` and shown with the extension's name and link when it is one of its providers, with no name and no link when not (the extension refuses nothing but a missing `tracking_number` or order); a custom provider is shown with its own link, `%1$s` replaced by the tracking number |
//!
//! `GET /wp-json/` (the unauthenticated WordPress index) answers the site name, URL and namespaces.
//!
//! Webhooks: `order.created` (placed orders), `order.updated` (status changes), `product.updated` (any
//! product or variation change, including stock moved by orders; a variation change sends its parent
//! product), with `X-WC-Webhook-Source`, `-Topic`, `-Resource`, `-Event`, `-Signature` (base64
//! HMAC-SHA256 of the body under the HTML-entity-decoded secret), `-ID`, `-Delivery-ID`. Registering a
//! receiver sends the unsigned ping: a form body `webhook_id=<id>`. A receiver registered through
//! `/_sandbox/webhooks` without `topics` gets all three topics under one webhook id.
//!
//! Orders ([`PlaceOrder`]): `processing`, reducing `stock_quantity` of managed products/variations (the
//! parent's when the variation's stock is managed by the parent); ordering more than is in stock is
//! refused unless backorders are allowed. Cancelling restores it.
//!
//! Seed options (`SeedProduct::with`): `parent_sku` (make this SKU a variation of a variable product with
//! that SKU, created if needed), `manage_stock` (`false`, or `"parent"` for a variation whose stock the
//! parent holds — the parent then holds `quantity`), `backorders`, `name`, `option`.

mod api;
mod providers;
mod state;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::sandbox::{
    Binding, ControlError, Emulator, Harness, OutgoingWebhook, PlaceOrder, PlacedOrder, PlatformControl, RateLimit,
    RegisterWebhook, SeedProduct, TokenBucket, WebhookConfig, WebhookTarget,
};

/// Emulator settings; defaults follow the documented limits.
#[derive(Clone)]
#[non_exhaustive]
pub struct WooCommerceConfig {
    /// `ck_…` (random by default).
    pub consumer_key: String,
    /// `cs_…` (random by default).
    pub consumer_secret: SecretString,
    /// The default secret for webhook receivers registered without one (random by default).
    pub webhook_secret: SecretString,
    /// The store's currency.
    pub currency: String,
    /// Largest `per_page` (100).
    pub max_per_page: u32,
    /// `per_page` when absent (10).
    pub default_per_page: u32,
    /// Most items in one batch request, create + update + delete together (100).
    pub max_batch_size: usize,
    /// WooCommerce itself has none; set one to emulate a host or WAF that answers `429` with
    /// `Retry-After`.
    pub rate_limit: Option<RateLimit>,
    /// Serve the Shipment Tracking extension's endpoints.
    pub shipment_tracking: bool,
    /// Emulate a server that strips the `Authorization` header before PHP sees it (the documented
    /// "Consumer key is missing" case): HTTP Basic and OAuth headers are then never read, and such a
    /// request is anonymous, refused by the route's permission check (`401`,
    /// `woocommerce_rest_cannot_view` and the like). Query-string keys still work. Default off.
    pub strip_authorization: bool,
    /// How far an OAuth timestamp may be from now (15 minutes).
    pub oauth_timestamp_window: Duration,
    /// Webhook delivery settings.
    pub webhooks: WebhookConfig,
}

impl Default for WooCommerceConfig {
    fn default() -> Self {
        let random = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            consumer_key: format!("ck_{}{}", random(), &random()[..8]),
            consumer_secret: format!("cs_{}{}", random(), &random()[..8]).into(),
            webhook_secret: format!("whsec_{}", random()).into(),
            currency: "ZAR".into(),
            max_per_page: 100,
            default_per_page: 10,
            max_batch_size: 100,
            rate_limit: None,
            shipment_tracking: true,
            strip_authorization: false,
            oauth_timestamp_window: Duration::from_secs(15 * 60),
            webhooks: WebhookConfig::default(),
        }
    }
}

impl fmt::Debug for WooCommerceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooCommerceConfig")
            .field("consumer_key", &"******")
            .field("consumer_secret", &"******")
            .field("webhook_secret", &"******")
            .field("currency", &self.currency)
            .field("max_per_page", &self.max_per_page)
            .field("default_per_page", &self.default_per_page)
            .field("max_batch_size", &self.max_batch_size)
            .field("rate_limit", &self.rate_limit)
            .field("shipment_tracking", &self.shipment_tracking)
            .field("strip_authorization", &self.strip_authorization)
            .field("oauth_timestamp_window", &self.oauth_timestamp_window)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

/// The WooCommerce store state behind an emulator.
pub struct WooCommerce {
    config: WooCommerceConfig,
    base_url: String,
    harness: Harness,
    limiter: Option<TokenBucket>,
    /// OAuth nonces seen, with the timestamp they came with (expired after the window).
    nonces: Mutex<HashMap<String, i64>>,
    state: Mutex<state::State>,
}

impl fmt::Debug for WooCommerce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooCommerce")
            .field("config", &self.config)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// WordPress's `wp_specialchars_decode($text, ENT_QUOTES)`: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#039;`
/// (and `&#39;`, `&#x27;`) become the characters they stand for, in one pass.
pub fn specialchars_decode(text: &str) -> String {
    const ENTITIES: &[(&str, char)] = &[
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&#039;", '\''),
        ("&#39;", '\''),
        ("&#x27;", '\''),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match ENTITIES.iter().find(|(entity, _)| rest.starts_with(entity)) {
            Some((entity, ch)) => {
                out.push(*ch);
                rest = &rest[entity.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `X-WC-Webhook-Signature` for `body` under `secret`: base64 HMAC-SHA256 with the secret
/// HTML-entity-decoded first, as WooCommerce does.
pub fn sign(secret: &str, body: &[u8]) -> String {
    channel_core::webhook::sign_base64(specialchars_decode(secret).as_bytes(), body)
}

impl WooCommerce {
    fn new(config: WooCommerceConfig, base_url: String, harness: Harness) -> Self {
        let limiter = config.rate_limit.map(TokenBucket::new);
        Self {
            config,
            base_url,
            harness,
            limiter,
            nonces: Mutex::default(),
            state: Mutex::new(state::State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The emulator's settings.
    pub fn config(&self) -> &WooCommerceConfig {
        &self.config
    }

    /// The product or variation with `sku` as the REST API shows it.
    pub fn product_json(&self, sku: &str) -> Option<Value> {
        let state = self.lock();
        match state.find_sku(sku)? {
            (pid, 0) => state.products.get(&pid).map(|p| state.product_json(p, &self.base_url)),
            (_, vid) => state.variations.get(&vid).map(|v| state.variation_json(v, &self.base_url)),
        }
    }

    /// `(product_id, variation_id)` for `sku` (variation id 0 for a product).
    pub fn ids(&self, sku: &str) -> Option<(u64, u64)> {
        self.lock().find_sku(sku)
    }

    /// The status of order `id`.
    pub fn order_status(&self, id: u64) -> Option<String> {
        self.lock().orders.get(&id).map(|o| o.status.clone())
    }

    /// Order notes of order `id`, oldest first.
    pub fn order_notes(&self, id: u64) -> Vec<String> {
        self.lock().orders.get(&id).map(|o| o.notes.iter().map(|n| n.note.clone()).collect()).unwrap_or_default()
    }

    /// Trackings of order `id` as the Shipment Tracking extension's `GET` shows them
    /// (`tracking_provider` and `tracking_link` resolved).
    pub fn trackings(&self, id: u64) -> Vec<Value> {
        self.lock()
            .orders
            .get(&id)
            .map(|o| o.trackings.iter().map(state::State::tracking_json).collect())
            .unwrap_or_default()
    }

    /// Tracking numbers recorded on order `id` through the Shipment Tracking extension.
    pub fn tracking_numbers(&self, id: u64) -> Vec<String> {
        self.lock().orders.get(&id).map(|o| o.trackings.iter().map(|t| t.number.clone()).collect()).unwrap_or_default()
    }

    fn deliver(&self, target: &WebhookTarget, topic: &str, body: &[u8], delivery: u64) -> OutgoingWebhook {
        let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
        OutgoingWebhook::json(topic, body.to_vec())
            .header("User-Agent", "WooCommerce/9.0.0 Hookshot (WordPress/6.5.0)")
            .header("X-WC-Webhook-Source", format!("{}/", self.base_url))
            .header("X-WC-Webhook-Topic", topic)
            .header("X-WC-Webhook-Resource", resource)
            .header("X-WC-Webhook-Event", event)
            .header("X-WC-Webhook-Signature", sign(&target.secret, body))
            .header("X-WC-Webhook-ID", target.id.to_string())
            .header("X-WC-Webhook-Delivery-ID", delivery.to_string())
    }

    /// Fires the webhooks for what a change touched.
    fn announce(&self, touched: &state::Touched) {
        let (orders_created, orders_updated, products) = {
            let state = self.lock();
            let order = |id: &u64| state.orders.get(id).map(|o| state::State::order_json(o, &self.base_url));
            let product = |id: &u64| state.products.get(id).map(|p| state.product_json(p, &self.base_url));
            (
                touched.orders_created.iter().filter_map(order).collect::<Vec<_>>(),
                touched.orders_updated.iter().filter_map(order).collect::<Vec<_>>(),
                touched.products.iter().filter_map(product).collect::<Vec<_>>(),
            )
        };
        for (topic, bodies) in
            [("order.created", orders_created), ("order.updated", orders_updated), ("product.updated", products)]
        {
            for body in bodies {
                self.fire(topic, &body);
            }
        }
    }

    fn fire(&self, topic: &str, body: &Value) {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.harness.webhooks().broadcast(topic, |target| {
            let delivery = DELIVERY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.deliver(target, topic, &bytes, delivery)
        });
    }

    /// Registers a receiver, records it as a webhook and queues the ping.
    fn add_webhook(&self, url: &str, secret: String, topics: Option<Vec<String>>, name: &str) -> WebhookTarget {
        let topic_label =
            topics.as_ref().map_or_else(|| "order.created,order.updated,product.updated".to_owned(), |t| t.join(","));
        let target = self.harness.webhooks().register(url, secret, topics);
        self.lock().add_hook(target.id, name, &topic_label, url);
        let ping = OutgoingWebhook {
            content_type: "application/x-www-form-urlencoded".into(),
            ..OutgoingWebhook::json("ping", format!("webhook_id={}", target.id))
        }
        .header("User-Agent", "WooCommerce/9.0.0 Hookshot (WordPress/6.5.0)");
        self.harness.webhooks().send_once(&target, ping);
        target
    }
}

/// WooCommerce delivery ids are action-scheduler ids: one increasing number per delivery.
static DELIVERY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl PlatformControl for WooCommerce {
    fn name(&self) -> &'static str {
        "woocommerce"
    }

    fn credentials(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("consumer_key".into(), json!(self.config.consumer_key));
        map.insert("consumer_secret".into(), json!(self.config.consumer_secret.expose_secret()));
        map.insert("webhook_secret".into(), json!(self.config.webhook_secret.expose_secret()));
        map
    }

    fn seed_product(&self, seed: SeedProduct) -> Result<Value, ControlError> {
        self.lock().seed(&seed)
    }

    fn stock(&self, sku: &str) -> Result<Option<i64>, ControlError> {
        self.lock().merchant_stock(sku)
    }

    fn place_order(&self, order: PlaceOrder) -> Result<PlacedOrder, ControlError> {
        let (id, touched) = self.lock().place_order(&order, &self.config.currency)?;
        self.announce(&touched);
        Ok(PlacedOrder::new(id.to_string()))
    }

    fn cancel_order(&self, order_id: &str) -> Result<(), ControlError> {
        let id: u64 =
            order_id.parse().map_err(|_| ControlError::Invalid(format!("{order_id:?} is not an order id")))?;
        let touched = {
            let mut state = self.lock();
            match state.orders.get(&id) {
                None => return Err(ControlError::NotFound(format!("no order {id}"))),
                Some(order) if order.status == "cancelled" => {
                    return Err(ControlError::Conflict(format!("order {id} is already cancelled")));
                }
                Some(_) => {}
            }
            state.set_order_status(id, "cancelled").map_err(|err| ControlError::Invalid(err.message))?
        };
        self.announce(&touched);
        Ok(())
    }

    fn register_webhook(&self, hook: RegisterWebhook) -> Result<u64, ControlError> {
        if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
            return Err(ControlError::Invalid("webhook url must be http(s)".into()));
        }
        let secret = hook.secret.unwrap_or_else(|| self.config.webhook_secret.expose_secret().to_owned());
        Ok(self.add_webhook(&hook.url, secret, hook.topics, "Sandbox webhook").id)
    }
}

/// A running WooCommerce REST v3 emulator.
pub type WooCommerceEmulator = Emulator<WooCommerce>;

impl Emulator<WooCommerce> {
    /// Starts an emulator on a free loopback port.
    pub async fn start(config: WooCommerceConfig) -> Result<Self> {
        if config.max_per_page == 0 || config.default_per_page == 0 || config.max_batch_size == 0 {
            return Err(Error::Config("page and batch limits must be at least 1".into()));
        }
        let binding = Binding::loopback().await?;
        let harness = Harness::new(config.webhooks);
        let platform = Arc::new(WooCommerce::new(config, binding.base_url().to_owned(), harness.clone()));
        let api = api::router(Arc::clone(&platform));
        Ok(Emulator::serve(binding, harness, platform, api))
    }

    /// The consumer key (`ck_…`).
    pub fn consumer_key(&self) -> &str {
        &self.platform().config.consumer_key
    }

    /// The consumer secret (`cs_…`).
    pub fn consumer_secret(&self) -> &str {
        self.platform().config.consumer_secret.expose_secret()
    }

    /// The default webhook secret.
    pub fn webhook_secret(&self) -> &str {
        self.platform().config.webhook_secret.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_entity_decoded_once() {
        assert_eq!(specialchars_decode("a&amp;b&lt;&gt;&quot;&#039;&#x27;"), "a&b<>\"''");
        assert_eq!(specialchars_decode("&amp;lt;"), "&lt;");
        assert_eq!(specialchars_decode("& plain &"), "& plain &");
        // The WooCommerce vector from the platform notes.
        assert_eq!(sign("test-secret", b"{}"), "L1kEC2O3IAWYREI52iyaTzq8XENCWbIxJtclFNq4zQk=");
    }
}
