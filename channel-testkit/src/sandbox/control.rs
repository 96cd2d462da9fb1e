//! The platform-neutral control surface: what every emulator lets a test (or `/_sandbox/`) do to it.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A product (offer, listing) to seed, as `POST /_sandbox/products` takes it.
///
/// `quantity` is merchant stock; `price` is the selling price in the platform's currency. Platform-specific
/// options ride along in `extra` (each emulator documents the keys it reads, e.g. Takealot's `dc_stock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SeedProduct {
    /// The merchant SKU.
    pub sku: String,
    /// Merchant stock.
    #[serde(default)]
    pub quantity: i64,
    /// Selling price (whole rand on Takealot); a JSON number or a decimal string.
    #[serde(default, deserialize_with = "number_or_string")]
    pub price: Option<Decimal>,
    /// Platform-specific options.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SeedProduct {
    /// A product with `sku`, merchant stock `quantity` and selling `price`.
    pub fn new(sku: impl Into<String>, quantity: i64, price: Decimal) -> Self {
        Self { sku: sku.into(), quantity, price: Some(price), extra: Map::new() }
    }

    /// Adds a platform-specific option.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// A platform-specific option as a string, if present.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }

    /// A platform-specific option as an integer, if present.
    pub fn extra_i64(&self, key: &str) -> Option<i64> {
        self.extra.get(key).and_then(Value::as_i64)
    }
}

/// Reads a price given as a JSON number (`19.99`) or string (`"19.99"`) without going through `f64`.
fn number_or_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    use serde::de::Error as _;
    let text = match Value::deserialize(deserializer)? {
        Value::Null => return Ok(None),
        Value::Number(number) => number.to_string(),
        Value::String(text) => text,
        other => return Err(D::Error::custom(format!("price must be a number or a string, got {other}"))),
    };
    text.trim()
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map(Some)
        .map_err(|_| D::Error::custom(format!("price {text:?} is not a decimal number")))
}

/// Who ships an order placed through the control surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OrderFulfilment {
    /// The merchant ships from their own stock (Takealot leadtime, Amazon MFN): merchant stock moves.
    #[default]
    Merchant,
    /// The channel ships from its own warehouses (Takealot DC, Amazon FBA): merchant stock is left alone.
    Channel,
}

/// An order to place as a shopper would, as `POST /_sandbox/orders` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlaceOrder {
    /// The merchant SKU ordered.
    pub sku: String,
    /// Units ordered (at least 1).
    pub quantity: i64,
    /// Who ships it; merchant by default.
    #[serde(default)]
    pub fulfilment: OrderFulfilment,
    /// Platform-specific options.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PlaceOrder {
    /// An order for `quantity` units of `sku`, shipped by the merchant.
    pub fn new(sku: impl Into<String>, quantity: i64) -> Self {
        Self { sku: sku.into(), quantity, fulfilment: OrderFulfilment::Merchant, extra: Map::new() }
    }

    /// The same order, shipped by the channel (Takealot DC, Amazon FBA).
    #[must_use]
    pub fn by_channel(mut self) -> Self {
        self.fulfilment = OrderFulfilment::Channel;
        self
    }
}

/// The answer to [`PlaceOrder`]: `{"order_id": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlacedOrder {
    /// The platform's order id, as a string.
    pub order_id: String,
}

impl PlacedOrder {
    /// Wraps an order id.
    pub fn new(order_id: impl Into<String>) -> Self {
        Self { order_id: order_id.into() }
    }
}

/// A webhook receiver to register, as `POST /_sandbox/webhooks` takes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisterWebhook {
    /// Where deliveries are POSTed.
    pub url: String,
    /// The signing secret; each emulator has a default (its `webhook_secret` credential) when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Only these topics/events (platform spelling); all of them when absent.
    #[serde(default)]
    pub topics: Option<Vec<String>>,
}

impl RegisterWebhook {
    /// A receiver at `url` signed with `secret`, for every topic.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { url: url.into(), secret: Some(secret.into()), topics: None }
    }
}

impl std::fmt::Debug for RegisterWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterWebhook")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "******"))
            .field("topics", &self.topics)
            .finish()
    }
}

/// Why a control operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No such SKU or order (HTTP 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is malformed or breaks a platform rule (HTTP 400).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The request conflicts with the state (out of stock, already cancelled; HTTP 409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The platform has no such thing (HTTP 501).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl ControlError {
    /// The HTTP status `/_sandbox/` answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

/// The per-platform half of the control surface. Each emulator implements it; [`Emulator`](super::Emulator)
/// and the generic `/_sandbox/` routes call it.
///
/// Methods are synchronous: emulator state lives behind a `std::sync::Mutex`, and webhooks are queued on
/// the [`WebhookDispatcher`](super::WebhookDispatcher), which delivers them in the background.
pub trait PlatformControl: Send + Sync + 'static {
    /// The platform's name in `stocksync sandbox` output (`takealot`, `woocommerce`, …).
    fn name(&self) -> &'static str;

    /// The credentials a client needs (`api_key`, `consumer_key`, …, and `webhook_secret`), merged with
    /// `base_url` into [`Emulator::info`](super::Emulator::info).
    fn credentials(&self) -> Map<String, Value>;

    /// Seeds a product; answers the platform's ids for it (e.g. `{"offer_id": 1001}`).
    fn seed_product(&self, seed: SeedProduct) -> Result<Value, ControlError>;

    /// Merchant stock of `sku` as the platform holds it; `None` when the platform does not track it.
    fn stock(&self, sku: &str) -> Result<Option<i64>, ControlError>;

    /// Places an order as a shopper would: stock moves as on the platform and webhooks fire.
    fn place_order(&self, order: PlaceOrder) -> Result<PlacedOrder, ControlError>;

    /// Cancels an order placed earlier (stock is restored as on the platform; webhooks fire).
    fn cancel_order(&self, order_id: &str) -> Result<(), ControlError>;

    /// Registers a webhook receiver; answers its id.
    fn register_webhook(&self, hook: RegisterWebhook) -> Result<u64, ControlError>;
}
