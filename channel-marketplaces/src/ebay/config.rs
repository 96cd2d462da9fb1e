//! Configuration: the seller's OAuth credentials and the few choices left open because eBay's
//! documentation is uncertain (the bulk write size, the identity host).

use std::fmt;
use std::time::Duration;

use channel_core::http::{HttpDefaults, HttpOptions};
use channel_core::secrecy::SecretString;
use serde::Deserialize;

use crate::ebay::error::EbayError;

/// The production API host (Sell Inventory, Sell Fulfillment and the OAuth token endpoint).
pub const DEFAULT_BASE_URL: &str = "https://api.ebay.com";

/// The OAuth scopes asked for on every refresh: inventory and fulfillment, read and write.
pub const DEFAULT_SCOPES: &[&str] = &[
    "https://api.ebay.com/oauth/api_scope/sell.inventory",
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
    "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly",
];

/// `bulkUpdatePriceQuantity`: "up to 25" requests (the `BulkPriceQuantity` schema), while the method text
/// says one SKU per call; 25 with a fallback to one SKU per call on a whole-call refusal.
pub(crate) const DEFAULT_MAX_STOCK_BATCH: usize = 25;
/// `getInventoryItems` `limit`: 1..=200.
pub(crate) const MAX_PAGE_SIZE: usize = 200;
/// `getOrders` `limit`: 1..=200.
pub(crate) const MAX_ORDER_PAGE_SIZE: usize = 200;
/// How long an offer read (price and offer id) is trusted: an hour.
pub(crate) const DEFAULT_OFFER_CACHE_SECS: u64 = 3600;

/// Transport defaults: the production host, a 30 s timeout, no client-side budget (eBay documents daily
/// call quotas, not a per-second rate, and no rate-limit headers).
pub(crate) const HTTP_DEFAULTS: HttpDefaults = HttpDefaults::new(DEFAULT_BASE_URL, Duration::from_secs(30));

fn default_scopes() -> Vec<String> {
    DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
}
fn default_batch() -> usize {
    DEFAULT_MAX_STOCK_BATCH
}
fn default_page() -> usize {
    MAX_PAGE_SIZE
}
fn default_order_page() -> usize {
    MAX_ORDER_PAGE_SIZE
}
fn default_offer_cache() -> u64 {
    DEFAULT_OFFER_CACHE_SECS
}
fn default_marketplace() -> String {
    "EBAY_US".to_owned()
}

/// An eBay seller connection. Deserializable from a host's settings; secrets never appear in `Debug`.
///
/// ```
/// use channel_marketplaces::ebay::EbayConfig;
/// let config = EbayConfig::new("App-PRD-1234", "PRD-secret", "v^1.1#refresh");
/// assert!(!format!("{config:?}").contains("PRD-secret"));
/// assert!(!format!("{config:?}").contains("refresh"));
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct EbayConfig {
    /// The application's client id (App ID) from the eBay developer portal.
    pub client_id: SecretString,
    /// The application's client secret (Cert ID).
    pub client_secret: SecretString,
    /// The seller's user refresh token (from the consent flow; valid about 18 months).
    pub refresh_token: SecretString,
    /// The scopes asked for on refresh (default [`DEFAULT_SCOPES`]; must be a subset of those granted).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The token endpoint (default `<base_url>/identity/v1/oauth2/token`).
    #[serde(default)]
    pub token_url: Option<String>,
    /// The Commerce Identity API host (default: `https://apiz.ebay.com` for production,
    /// `https://apiz.sandbox.ebay.com` for the sandbox, else `base_url`).
    #[serde(default)]
    pub identity_url: Option<String>,
    /// The seller's marketplace (e.g. `EBAY_US`, `EBAY_GB`), reported with the identity.
    #[serde(default = "default_marketplace")]
    pub marketplace_id: String,
    /// SKUs per `bulkUpdatePriceQuantity` call (default 25; 1 for the "one SKU per call" reading). A whole
    /// call refused with 400 is retried one SKU per call, and later calls stay at one SKU.
    #[serde(default = "default_batch")]
    pub max_stock_batch: usize,
    /// Inventory items per page (1..=200, default 200).
    #[serde(default = "default_page")]
    pub page_size: usize,
    /// Orders per page (1..=200, default 200).
    #[serde(default = "default_order_page")]
    pub order_page_size: usize,
    /// How long an offer read (price, offer id, listing status) is reused, in seconds (default 3600; 0
    /// reads the offers on every listing read). eBay has no bulk offer read: one call per SKU.
    #[serde(default = "default_offer_cache")]
    pub offer_cache_secs: u64,
    /// Accept an empty inventory as an empty catalog (default false: an empty inventory is reported as
    /// [`EbayError::NotMigrated`]).
    #[serde(default)]
    pub allow_empty_catalog: bool,
    /// Transport settings (`base_url`, `timeout_secs`, `max_attempts`, `requests_per_minute`).
    #[serde(flatten)]
    pub http: HttpOptions,
}

impl EbayConfig {
    /// A config with the application's credentials and the seller's refresh token; the rest at defaults.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        Self {
            client_id: SecretString::from(client_id.into()),
            client_secret: SecretString::from(client_secret.into()),
            refresh_token: SecretString::from(refresh_token.into()),
            scopes: default_scopes(),
            token_url: None,
            identity_url: None,
            marketplace_id: default_marketplace(),
            max_stock_batch: DEFAULT_MAX_STOCK_BATCH,
            page_size: MAX_PAGE_SIZE,
            order_page_size: MAX_ORDER_PAGE_SIZE,
            offer_cache_secs: DEFAULT_OFFER_CACHE_SECS,
            allow_empty_catalog: false,
            http: HttpOptions::default(),
        }
    }

    /// Send every request (API, token, identity) to this host unless set apart (builder style).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.http.base_url = Some(url.into());
        self
    }

    /// With a per-attempt timeout (builder style).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// With this many attempts per request (builder style).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.http = self.http.max_attempts(attempts);
        self
    }

    /// With another token endpoint (builder style).
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// With another identity host (builder style).
    #[must_use]
    pub fn identity_url(mut self, url: impl Into<String>) -> Self {
        self.identity_url = Some(url.into());
        self
    }

    /// With this many SKUs per bulk write (builder style).
    #[must_use]
    pub fn max_stock_batch(mut self, n: usize) -> Self {
        self.max_stock_batch = n;
        self
    }

    /// With this many inventory items per page (builder style).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// With this many orders per page (builder style).
    #[must_use]
    pub fn order_page_size(mut self, n: usize) -> Self {
        self.order_page_size = n;
        self
    }

    /// With an offer cache lifetime (builder style).
    #[must_use]
    pub fn offer_cache(mut self, ttl: Duration) -> Self {
        self.offer_cache_secs = ttl.as_secs();
        self
    }

    /// Accept an empty inventory (builder style).
    #[must_use]
    pub fn allow_empty_catalog(mut self, allow: bool) -> Self {
        self.allow_empty_catalog = allow;
        self
    }

    /// The API host in use.
    pub(crate) fn api_base(&self) -> &str {
        self.http.base_url_or(DEFAULT_BASE_URL).trim_end_matches('/')
    }

    /// The token endpoint in use.
    pub(crate) fn token_endpoint(&self) -> String {
        self.token_url.clone().unwrap_or_else(|| format!("{}/identity/v1/oauth2/token", self.api_base()))
    }

    /// The identity host in use: eBay serves the Commerce Identity API on `apiz.` hosts.
    pub(crate) fn identity_base(&self) -> String {
        if let Some(url) = &self.identity_url {
            return url.trim_end_matches('/').to_owned();
        }
        match self.api_base() {
            "https://api.ebay.com" => "https://apiz.ebay.com".to_owned(),
            "https://api.sandbox.ebay.com" => "https://apiz.sandbox.ebay.com".to_owned(),
            other => other.to_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EbayError> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(EbayError::Config(format!("page_size must be 1..=200, not {}", self.page_size)));
        }
        if !(1..=MAX_ORDER_PAGE_SIZE).contains(&self.order_page_size) {
            return Err(EbayError::Config(format!("order_page_size must be 1..=200, not {}", self.order_page_size)));
        }
        if !(1..=DEFAULT_MAX_STOCK_BATCH).contains(&self.max_stock_batch) {
            return Err(EbayError::Config(format!("max_stock_batch must be 1..=25, not {}", self.max_stock_batch)));
        }
        if self.marketplace_id.trim().is_empty() {
            return Err(EbayError::Config("marketplace_id is empty".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for EbayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EbayConfig")
            .field("scopes", &self.scopes)
            .field("token_url", &self.token_url)
            .field("identity_url", &self.identity_url)
            .field("marketplace_id", &self.marketplace_id)
            .field("max_stock_batch", &self.max_stock_batch)
            .field("page_size", &self.page_size)
            .field("order_page_size", &self.order_page_size)
            .field("offer_cache_secs", &self.offer_cache_secs)
            .field("allow_empty_catalog", &self.allow_empty_catalog)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_the_base_url() {
        let prod = EbayConfig::new("a", "b", "c");
        assert_eq!(prod.identity_base(), "https://apiz.ebay.com");
        assert_eq!(prod.token_endpoint(), "https://api.ebay.com/identity/v1/oauth2/token");
        let sandbox = prod.clone().base_url("https://api.sandbox.ebay.com/");
        assert_eq!(sandbox.identity_base(), "https://apiz.sandbox.ebay.com");
        let local = prod.base_url("http://127.0.0.1:9");
        assert_eq!(local.identity_base(), "http://127.0.0.1:9");
        assert!(local.clone().max_stock_batch(26).validate().is_err());
        assert!(local.clone().page_size(0).validate().is_err());
        assert!(local.validate().is_ok());
    }
}
