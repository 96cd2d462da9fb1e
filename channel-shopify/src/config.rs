//! The adapter's configuration.

use std::fmt;
use std::time::Duration;

use channel_core::http::{HttpDefaults, HttpOptions};
use channel_core::secrecy::SecretString;
use serde::Deserialize;

/// The Admin API version used by default (quarterly releases; 2026-07 makes `changeFromQuantity` and
/// `@idempotent` mandatory on inventory mutations, which this adapter always sends).
pub const DEFAULT_API_VERSION: &str = "2026-07";

/// Variants read per page by default: the listing query costs `2 + first × 5` points under Shopify's cost
/// model, so 100 stays well under the 1,000-point single-query limit.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The transport defaults. Shopify has no one base URL: the origin is the shop's own
/// (`https://{shop_domain}`, see [`ShopifyConfig::origin`]), so `base_url` here is never used; no
/// client-side request budget either, as the adapter paces by the cost bucket each answer reports.
pub(crate) const HTTP_DEFAULTS: HttpDefaults = HttpDefaults::new("", Duration::from_secs(30));

/// Settings of one Shopify store.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct ShopifyConfig {
    /// `my-shop.myshopify.com` (or just `my-shop`).
    pub shop_domain: String,
    /// The Admin API access token (`shpat_…`), sent as `X-Shopify-Access-Token`.
    pub access_token: SecretString,
    /// The Admin API version (default [`DEFAULT_API_VERSION`]).
    #[serde(default = "default_version")]
    pub api_version: String,
    /// The one location stocksync syncs (`gid://shopify/Location/…` or its number). Without it a shop with
    /// exactly one location uses that one; with several, every call fails with a `Config` error listing them.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The app's client secret (API secret key), which signs webhooks. Without it webhooks are refused.
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// Variants per listing page (1..=199; default [`DEFAULT_PAGE_SIZE`]).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// The `reason` sent with inventory mutations (default `correction`).
    #[serde(default = "default_reason")]
    pub inventory_reason: String,
    /// How many `THROTTLED` answers one call waits out before failing with `RateLimited` (default 20).
    #[serde(default = "default_throttle_retries")]
    pub max_throttle_retries: u32,
    /// How many times one inventory write is sent again when Shopify answers a user error that asks for
    /// it (`IDEMPOTENCY_CONCURRENT_REQUEST` under the same key; `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`,
    /// `ADJUST_QUANTITIES_FAILED`, `SERVICE_UNAVAILABLE` under a new one) before its items are reported
    /// rejected and retryable (default 5).
    #[serde(default = "default_user_error_retries")]
    pub max_user_error_retries: u32,
    /// How long to wait before sending such a write again, in milliseconds (default 1000; Shopify
    /// documents no wait).
    #[serde(default = "default_user_error_wait")]
    pub user_error_retry_wait_ms: u64,
    /// How old a webhook delivery may be before the engine refuses it as stale, in seconds (default
    /// [`DEFAULT_WEBHOOK_MAX_AGE_SECS`]; 0: no window).
    #[serde(default = "default_webhook_max_age")]
    pub webhook_max_age_secs: u64,
    /// Transport settings: `base_url` (default `https://{shop_domain}`; an emulator or `wiremock`),
    /// `timeout_secs` (default 30), `max_attempts` (for failures other than `THROTTLED`),
    /// `requests_per_minute` (default none).
    #[serde(flatten)]
    pub http: HttpOptions,
}

fn default_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}
fn default_page_size() -> usize {
    DEFAULT_PAGE_SIZE
}
fn default_reason() -> String {
    "correction".to_owned()
}
fn default_throttle_retries() -> u32 {
    20
}
fn default_user_error_retries() -> u32 {
    5
}
fn default_user_error_wait() -> u64 {
    1000
}
fn default_webhook_max_age() -> u64 {
    DEFAULT_WEBHOOK_MAX_AGE_SECS
}

/// The default webhook window: Shopify retries a failed delivery 8 times over 4 hours, with the original
/// payload and `X-Shopify-Triggered-At` (<https://shopify.dev/changelog/updates-to-webhook-retry-mechanism>),
/// so no genuine delivery is older than that; an hour's margin on top for clock skew and queueing.
pub const DEFAULT_WEBHOOK_MAX_AGE_SECS: u64 = 5 * 3600;

impl ShopifyConfig {
    /// A configuration with defaults for everything but the shop and its token.
    pub fn new(shop_domain: impl Into<String>, access_token: SecretString) -> Self {
        Self {
            shop_domain: shop_domain.into(),
            access_token,
            api_version: default_version(),
            location_id: None,
            webhook_secret: None,
            page_size: default_page_size(),
            inventory_reason: default_reason(),
            max_throttle_retries: default_throttle_retries(),
            max_user_error_retries: default_user_error_retries(),
            user_error_retry_wait_ms: default_user_error_wait(),
            webhook_max_age_secs: default_webhook_max_age(),
            http: HttpOptions::new(),
        }
    }

    /// Point at another base URL (an emulator, `wiremock`); the API path is appended to it.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.http = self.http.base_url(url);
        self
    }

    /// The API version.
    #[must_use]
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// The location to sync.
    #[must_use]
    pub fn location(mut self, location_id: impl Into<String>) -> Self {
        self.location_id = Some(location_id.into());
        self
    }

    /// The webhook signing secret.
    #[must_use]
    pub fn webhook_secret(mut self, secret: SecretString) -> Self {
        self.webhook_secret = Some(secret);
        self
    }

    /// Variants per listing page.
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// The inventory mutation reason.
    #[must_use]
    pub fn inventory_reason(mut self, reason: impl Into<String>) -> Self {
        self.inventory_reason = reason.into();
        self
    }

    /// How often, and after what wait, a write Shopify answered with a "try again" user error is sent
    /// again.
    #[must_use]
    pub fn user_error_retries(mut self, retries: u32, wait: Duration) -> Self {
        self.max_user_error_retries = retries;
        self.user_error_retry_wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// The wait before a write answered with a "try again" user error is sent again.
    pub fn user_error_retry_wait(&self) -> Duration {
        Duration::from_millis(self.user_error_retry_wait_ms)
    }

    /// How old a webhook delivery may be before it is refused as stale (`None`: no window).
    #[must_use]
    pub fn webhook_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.webhook_max_age_secs = channel_core::webhook::max_age_secs(max_age);
        self
    }

    /// The webhook window, `None` when `webhook_max_age_secs` is 0.
    pub fn webhook_window(&self) -> Option<Duration> {
        channel_core::webhook::max_age_window(self.webhook_max_age_secs)
    }

    /// Per-attempt timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// `https://{shop}.myshopify.com`, or the override.
    pub fn origin(&self) -> String {
        match &self.http.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let shop = self.shop_domain.trim().trim_start_matches("https://").trim_end_matches('/');
                if shop.contains('.') { format!("https://{shop}") } else { format!("https://{shop}.myshopify.com") }
            }
        }
    }

    /// The GraphQL endpoint path, `/admin/api/{version}/graphql.json`.
    pub fn graphql_path(&self) -> String {
        format!("/admin/api/{}/graphql.json", self.api_version)
    }
}

impl fmt::Debug for ShopifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field("shop_domain", &self.shop_domain)
            .field("access_token", &"******")
            .field("api_version", &self.api_version)
            .field("location_id", &self.location_id)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "******"))
            .field("page_size", &self.page_size)
            .field("inventory_reason", &self.inventory_reason)
            .field("max_throttle_retries", &self.max_throttle_retries)
            .field("max_user_error_retries", &self.max_user_error_retries)
            .field("user_error_retry_wait_ms", &self.user_error_retry_wait_ms)
            .field("webhook_max_age_secs", &self.webhook_max_age_secs)
            .field("http", &self.http)
            .finish()
    }
}
