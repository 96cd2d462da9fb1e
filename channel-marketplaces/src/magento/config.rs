//! Configuration: the store, its integration access token, the MSI source and the choices left to the
//! seller because they depend on how the store is set up.

use std::fmt;
use std::time::Duration;

use channel_core::http::{HttpDefaults, HttpOptions};
use channel_core::secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::magento::error::MagentoError;

/// Transport defaults: a 30 s timeout and no client-side budget (Adobe's rate limiting covers only the
/// checkout entry points, not the admin REST API: `rate-limiting.md`). Magento has no fixed endpoint:
/// `base_url` is the store's address and is required.
pub(crate) const HTTP_DEFAULTS: HttpDefaults = HttpDefaults::new("", Duration::from_secs(30));

/// The array limit of Magento's web API input limiting (`api-security.md`: 20 items when input limiting
/// is on), the default stock and price batch.
pub const DEFAULT_BATCH: usize = 20;
/// The largest page size input limiting allows (300), the default product page.
pub const DEFAULT_PAGE_SIZE: usize = 300;

/// How open orders (MSI reservations) enter the quantities the adapter reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReservationMode {
    /// MSI reservations are on (Magento's default): units of open orders not yet shipped, cancelled or
    /// refunded are subtracted from the source quantity a listing shows, and added to the quantity
    /// written, so that the salable quantity is what the engine asked for. Read from the open orders.
    #[default]
    OpenOrders,
    /// Reservations are off (e.g. a module disables them and orders deduct the source at placement):
    /// the source item's quantity is read and written as it is.
    None,
}

/// A Magento 2 / Adobe Commerce store connection. Deserializable from a host's settings; the token is
/// never serialized back out nor shown by `Debug`.
///
/// ```
/// use channel_marketplaces::magento::MagentoConfig;
/// let config = MagentoConfig::new("https://shop.example", "tok_secret").source_code("warehouse_1");
/// assert!(!format!("{config:?}").contains("tok_secret"));
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct MagentoConfig {
    /// The integration's access token (System › Extensions › Integrations), sent as a bearer.
    pub access_token: SecretString,
    /// The store view code in the path, `/rest/<store_code>/V1/…` (default `all`: every store view; use
    /// `default` or a view code where an extension expects one).
    #[serde(default = "default_store_code")]
    pub store_code: String,
    /// The MSI source stocksync manages (default `default`, the Default Source).
    #[serde(default = "default_source_code")]
    pub source_code: String,
    /// How open orders enter quantities (`open_orders` or `none`).
    #[serde(default)]
    pub reservations: ReservationMode,
    /// Source items in one `POST /V1/inventory/source-items` (default 20, the input-limiting maximum).
    #[serde(default = "default_batch")]
    pub max_stock_batch: usize,
    /// Prices in one `POST /V1/products/base-prices` (default 20).
    #[serde(default = "default_batch")]
    pub max_price_batch: usize,
    /// Products (and orders) a page (default 300, the input-limiting maximum).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// The `store_id` base prices are written for (default 0, the global scope).
    #[serde(default)]
    pub price_store_id: u32,
    /// The store's base currency (ISO 4217); read from `storeConfigs` when absent.
    #[serde(default)]
    pub currency: Option<String>,
    /// Whether Magento e-mails the customer when a shipment is exported (default true).
    #[serde(default = "yes")]
    pub notify_customer: bool,
    /// Transport settings (`base_url`, the store's address, required; `timeout_secs`, `max_attempts`,
    /// `requests_per_minute`).
    #[serde(flatten)]
    pub http: HttpOptions,
}

fn yes() -> bool {
    true
}
fn default_store_code() -> String {
    "all".into()
}
fn default_source_code() -> String {
    "default".into()
}
fn default_batch() -> usize {
    DEFAULT_BATCH
}
fn default_page_size() -> usize {
    DEFAULT_PAGE_SIZE
}

impl MagentoConfig {
    /// A config for the store at `base_url` with an integration access token; everything else default.
    pub fn new(base_url: impl Into<String>, access_token: impl Into<String>) -> Self {
        Self {
            access_token: SecretString::from(access_token.into()),
            store_code: default_store_code(),
            source_code: default_source_code(),
            reservations: ReservationMode::default(),
            max_stock_batch: DEFAULT_BATCH,
            max_price_batch: DEFAULT_BATCH,
            page_size: DEFAULT_PAGE_SIZE,
            price_store_id: 0,
            currency: None,
            notify_customer: true,
            http: HttpOptions::new().base_url(base_url),
        }
    }

    /// With this store code in the path (builder style).
    #[must_use]
    pub fn store_code(mut self, code: impl Into<String>) -> Self {
        self.store_code = code.into();
        self
    }

    /// With this MSI source (builder style).
    #[must_use]
    pub fn source_code(mut self, code: impl Into<String>) -> Self {
        self.source_code = code.into();
        self
    }

    /// With a reservation mode (builder style).
    #[must_use]
    pub fn reservations(mut self, mode: ReservationMode) -> Self {
        self.reservations = mode;
        self
    }

    /// With a stock batch size (builder style).
    #[must_use]
    pub fn max_stock_batch(mut self, n: usize) -> Self {
        self.max_stock_batch = n;
        self
    }

    /// With a price batch size (builder style).
    #[must_use]
    pub fn max_price_batch(mut self, n: usize) -> Self {
        self.max_price_batch = n;
        self
    }

    /// With a page size (builder style).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// With the store currency (builder style).
    #[must_use]
    pub fn currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// With this many attempts per request, the first included (builder style).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.http = self.http.max_attempts(attempts);
        self
    }

    /// With a per-attempt timeout (builder style).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// Checks what can be checked without the store.
    pub(crate) fn validate(&self) -> Result<(), MagentoError> {
        let base = self.http.base_url.as_deref().unwrap_or("").trim();
        if base.is_empty() {
            return Err(MagentoError::Config("give base_url, the store's address (https://shop.example)".into()));
        }
        let url = url::Url::parse(base).map_err(|e| MagentoError::Config(format!("base_url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.path().contains("/rest") {
            return Err(MagentoError::Config(
                "base_url is the store's address, http(s), without /rest (it is added for you)".into(),
            ));
        }
        let code_ok = |c: &str| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !code_ok(&self.store_code) {
            return Err(MagentoError::Config(format!("store_code {:?}: letters, digits, _", self.store_code)));
        }
        if self.source_code.trim().is_empty() {
            return Err(MagentoError::Config("source_code must not be empty".into()));
        }
        if self.max_stock_batch == 0 || self.max_price_batch == 0 || self.page_size == 0 {
            return Err(MagentoError::Config("batch and page sizes must be at least 1".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for MagentoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MagentoConfig")
            .field("store_code", &self.store_code)
            .field("source_code", &self.source_code)
            .field("reservations", &self.reservations)
            .field("max_stock_batch", &self.max_stock_batch)
            .field("max_price_batch", &self.max_price_batch)
            .field("page_size", &self.page_size)
            .field("price_store_id", &self.price_store_id)
            .field("currency", &self.currency)
            .field("notify_customer", &self.notify_customer)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c: MagentoConfig = serde_json::from_value(serde_json::json!({
            "base_url": "https://shop.example", "access_token": "t"
        }))
        .unwrap();
        assert_eq!((c.store_code.as_str(), c.source_code.as_str()), ("all", "default"));
        assert_eq!((c.max_stock_batch, c.page_size), (20, 300));
        assert_eq!(c.reservations, ReservationMode::OpenOrders);
        assert!(c.validate().is_ok());
        assert!(MagentoConfig::new("https://s.example/rest/V1", "t").validate().is_err());
        assert!(MagentoConfig::new("", "t").validate().is_err());
        assert!(MagentoConfig::new("https://s.example", "t").store_code("a/b").validate().is_err());
        assert!(MagentoConfig::new("https://s.example", "t").max_stock_batch(0).validate().is_err());
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", MagentoConfig::new("https://s.example", "tok_hidden"));
        assert!(!shown.contains("tok_hidden"), "{shown}");
    }
}
