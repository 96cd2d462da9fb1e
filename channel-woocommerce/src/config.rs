//! Configuration: the store, its REST API keys and the few choices the adapter leaves to the seller.

use std::fmt;
use std::time::Duration;

use channel_core::http::{HttpDefaults, HttpOptions};
use channel_core::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::WooError;
use crate::oauth::{OAuthPlacement, OAuthSignatureMethod};

/// Transport defaults: a 30 s timeout and no client-side budget (WooCommerce core has no rate limits).
///
/// WooCommerce has no fixed endpoint, so there is no `DEFAULT_BASE_URL`: the API root is the store URL
/// (`store_url` + `/wp-json/`), or `http.base_url` when a test server or emulator stands in for the store.
/// The empty `base_url` here is never used: the client sets the root after applying the options.
pub(crate) const HTTP_DEFAULTS: HttpDefaults = HttpDefaults::new("", Duration::from_secs(30));

/// How shipments are reported back to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TrackingMode {
    /// Use the Shipment Tracking extension when the store has it (detected once, on the first export),
    /// otherwise an order note. The default.
    #[default]
    Auto,
    /// Always the Shipment Tracking extension (`wc-shipment-tracking/v3`).
    ShipmentTracking,
    /// Always a customer-visible order note.
    OrderNote,
}

/// How the consumer key and secret travel to an `https` store (plain `http` stores always use OAuth 1.0a
/// one-legged signatures, as WooCommerce reads nothing else over plain HTTP).
///
/// WooCommerce's authentication documentation ("Authentication over HTTPS"): HTTP Basic with the key as the
/// user name and the secret as the password; "Occasionally some servers may not parse the Authorization
/// header correctly [...] In this case, you may provide the consumer key/secret as query string parameters
/// instead."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMode {
    /// HTTP Basic first; when the store answers `401` without having read the credentials (the server
    /// stripped `Authorization`), the same request once more with query-string keys, and query-string keys
    /// from then on. The default.
    #[default]
    Auto,
    /// Always HTTP Basic.
    Basic,
    /// Always `consumer_key`/`consumer_secret` query parameters (redacted wherever a URL is shown).
    QueryString,
}

impl AuthMode {
    /// The setting's name (`auto`, `basic`, `query_string`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Basic => "basic",
            Self::QueryString => "query_string",
        }
    }
}

/// A WooCommerce store connection. Deserializable from a host's settings; secrets are never serialized
/// back out.
///
/// ```
/// use channel_woocommerce::WooCommerceConfig;
/// let config = WooCommerceConfig::new("https://shop.example", "ck_123", "cs_456").webhook_secret("whsec");
/// assert!(!format!("{config:?}").contains("cs_456"));
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct WooCommerceConfig {
    /// The store's URL as WordPress knows it (`https://shop.example` or `http://localhost/shop`), the part
    /// before `/wp-json`. `https` means HTTP Basic authentication; plain `http` means OAuth 1.0a signing.
    /// When left out (empty), `base_url` is the store URL: a sandbox or emulator is configured with
    /// `base_url` alone, as on every other channel.
    #[serde(default)]
    pub store_url: String,
    /// The REST API consumer key (`ck_…`).
    pub consumer_key: SecretString,
    /// The REST API consumer secret (`cs_…`).
    pub consumer_secret: SecretString,
    /// The secret webhooks are signed with (as entered in WooCommerce, before HTML-entity decoding).
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// How the keys travel over HTTPS (`auto`, `basic`, `query_string`; default `auto`). Plain-HTTP stores
    /// sign with OAuth 1.0a whatever this says, and refuse `basic` and `query_string`.
    #[serde(default)]
    pub auth: AuthMode,
    /// The OAuth 1.0a signature method over plain HTTP.
    #[serde(default)]
    pub oauth_signature_method: OAuthSignatureMethod,
    /// Where OAuth 1.0a parameters travel over plain HTTP.
    #[serde(default)]
    pub oauth_placement: OAuthPlacement,
    /// How tracking numbers are exported.
    #[serde(default)]
    pub tracking: TrackingMode,
    /// The tracking page of carriers the Shipment Tracking extension does not know, with `%1$s` where the
    /// tracking number goes, e.g. `https://track.example/?n=%1$s`: sent as the custom provider's
    /// `custom_tracking_link`, unexpanded (the extension replaces `%1$s`, and `%2$s`/`%3$s` with the
    /// destination postcode and country, when it formats the link). Used when a shipment has no tracking
    /// URL of its own.
    #[serde(default)]
    pub tracking_link_template: Option<String>,
    /// Mark the order `completed` when a shipment is exported (default true).
    #[serde(default = "yes")]
    pub complete_on_ship: bool,
    /// The store currency (ISO 4217). When absent it is read from the store's general settings.
    #[serde(default)]
    pub currency: Option<String>,
    /// How old an order delivery may be (by its signed `date_modified_gmt`) before the engine refuses it
    /// as stale, in seconds (default [`DEFAULT_WEBHOOK_MAX_AGE_SECS`]; 0: no window).
    #[serde(default = "default_webhook_max_age")]
    pub webhook_max_age_secs: u64,
    /// How far the store's clock may be ahead of ours, in seconds (default [`DEFAULT_CLOCK_SKEW_SECS`]),
    /// used only when the store's first order page carries no `Date` header: an order scan then ends with
    /// its cursor at most at our clock when the scan began, minus this, so that an order changed while the
    /// scan paged is read again next time.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_secs: u64,
    /// Transport settings (`base_url`, `timeout_secs`, `max_attempts`, `requests_per_minute`). The store URL
    /// is the API's base: `base_url`, when set, only redirects the requests to a test server or emulator
    /// standing in for the store (`/wp-json/…` is appended; authentication still follows the store URL's
    /// scheme, and OAuth signatures cover the URL actually requested).
    #[serde(flatten)]
    pub http: HttpOptions,
}

fn yes() -> bool {
    true
}

fn default_clock_skew() -> u64 {
    DEFAULT_CLOCK_SKEW_SECS
}

/// The default [`WooCommerceConfig::clock_skew_secs`], five minutes: no documented bound exists on how far
/// a store's clock drifts, and reading an order twice is harmless while missing one is not.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 300;

fn default_webhook_max_age() -> u64 {
    DEFAULT_WEBHOOK_MAX_AGE_SECS
}

/// The default webhook window, a day. WooCommerce documents no window, no delivery timestamp and no
/// retry of a failed delivery; deliveries are queued through Action Scheduler and WP-Cron, which runs on
/// page loads, so a quiet shop can deliver late. A day leaves room for that (see `docs/fidelity.md`).
pub const DEFAULT_WEBHOOK_MAX_AGE_SECS: u64 = 24 * 3600;

impl WooCommerceConfig {
    /// A config for `store_url` with REST API keys; everything else at its default.
    pub fn new(
        store_url: impl Into<String>,
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<String>,
    ) -> Self {
        Self {
            store_url: store_url.into(),
            consumer_key: SecretString::from(consumer_key.into()),
            consumer_secret: SecretString::from(consumer_secret.into()),
            webhook_secret: None,
            auth: AuthMode::default(),
            oauth_signature_method: OAuthSignatureMethod::default(),
            oauth_placement: OAuthPlacement::default(),
            tracking: TrackingMode::default(),
            tracking_link_template: None,
            complete_on_ship: true,
            currency: None,
            webhook_max_age_secs: DEFAULT_WEBHOOK_MAX_AGE_SECS,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
            http: HttpOptions::default(),
        }
    }

    /// Send requests to this root instead of the store URL (a test server or emulator standing in for the
    /// store; `/wp-json/…` is appended). Sets `http.base_url` (builder style).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.http.base_url = Some(url.into());
        self
    }

    /// With a per-attempt timeout, in whole seconds, at least one (default 30 s; builder style).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// With this many attempts per request, the first included (builder style).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.http = self.http.max_attempts(attempts);
        self
    }

    /// With a client-side request budget per minute; `None` (the default) leaves pacing to the store
    /// (builder style).
    #[must_use]
    pub fn requests_per_minute(mut self, rpm: Option<u32>) -> Self {
        self.http = self.http.requests_per_minute(rpm);
        self
    }

    /// With a webhook secret (builder style).
    #[must_use]
    pub fn webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.webhook_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// How old an order delivery may be before it is refused as stale (`None`: no window; builder style).
    #[must_use]
    pub fn webhook_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.webhook_max_age_secs = channel_core::webhook::max_age_secs(max_age);
        self
    }

    /// The webhook window, `None` when `webhook_max_age_secs` is 0.
    pub fn webhook_window(&self) -> Option<Duration> {
        channel_core::webhook::max_age_window(self.webhook_max_age_secs)
    }

    /// With the allowed skew between the store's clock and ours, used when the store sends no `Date`
    /// header (builder style).
    #[must_use]
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew_secs = skew.as_secs();
        self
    }

    /// With an OAuth signature method (builder style).
    #[must_use]
    pub fn oauth_signature_method(mut self, method: OAuthSignatureMethod) -> Self {
        self.oauth_signature_method = method;
        self
    }

    /// With an OAuth parameter placement (builder style).
    #[must_use]
    pub fn oauth_placement(mut self, placement: OAuthPlacement) -> Self {
        self.oauth_placement = placement;
        self
    }

    /// With an HTTPS authentication mode (builder style).
    #[must_use]
    pub fn auth(mut self, auth: AuthMode) -> Self {
        self.auth = auth;
        self
    }

    /// With a tracking link template for carriers the Shipment Tracking extension does not know
    /// (`%1$s` is the tracking number; builder style).
    #[must_use]
    pub fn tracking_link_template(mut self, template: impl Into<String>) -> Self {
        self.tracking_link_template = Some(template.into());
        self
    }

    /// With a tracking mode (builder style).
    #[must_use]
    pub fn tracking(mut self, tracking: TrackingMode) -> Self {
        self.tracking = tracking;
        self
    }

    /// With the store currency (builder style).
    #[must_use]
    pub fn currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// The validated store URL (`store_url`, else `base_url`): `http` or `https`, a host, no credentials, query or fragment; the path
    /// keeps no trailing slash.
    pub fn parsed_store_url(&self) -> Result<Url, WooError> {
        let raw = match (self.store_url.trim(), self.http.base_url.as_deref()) {
            ("", Some(base)) => base.trim(),
            ("", None) => {
                return Err(WooError::Config(
                    "give store_url, the store's home URL (or base_url for a sandbox or emulator)".into(),
                ));
            }
            (store, _) => store,
        };
        let mut url = Url::parse(raw)
            .map_err(|e| WooError::Config(format!("store URL: {e}; expected something like https://shop.example")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WooError::Config(format!(
                "the store URL's scheme must be http or https, not {}",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(WooError::Config("the store URL has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WooError::Config("the store URL must not contain credentials".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(WooError::Config("the store URL must not have a query or fragment".into()));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        if path.ends_with("/wp-json") || path.contains("/wp-json/") {
            return Err(WooError::Config(
                "give the store URL as the store's home URL, without /wp-json (it is added for you)".into(),
            ));
        }
        url.set_path(&path);
        Ok(url)
    }
}

impl fmt::Debug for WooCommerceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooCommerceConfig")
            .field("store_url", &self.store_url)
            .field("auth", &self.auth)
            .field("oauth_signature_method", &self.oauth_signature_method)
            .field("oauth_placement", &self.oauth_placement)
            .field("tracking", &self.tracking)
            .field("tracking_link_template", &self.tracking_link_template)
            .field("complete_on_ship", &self.complete_on_ship)
            .field("currency", &self.currency)
            .field("webhook_max_age_secs", &self.webhook_max_age_secs)
            .field("clock_skew_secs", &self.clock_skew_secs)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_store_urls() {
        let ok = |u: &str| WooCommerceConfig::new(u, "k", "s").parsed_store_url().map(|u| u.to_string());
        assert_eq!(ok("https://shop.example/").unwrap(), "https://shop.example/");
        assert_eq!(ok("http://localhost:8080/shop/").unwrap(), "http://localhost:8080/shop");
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://u:p@shop.example",
            "https://shop.example/?a=1",
            "https://shop.example/wp-json/wc/v3",
            "https://",
        ] {
            let err = ok(bad).unwrap_err();
            assert_eq!(err.kind(), channel_core::ErrorKind::Config, "{bad}");
            let message = err.to_string();
            assert!(message.starts_with("invalid WooCommerce configuration"), "{message}");
            assert!(message.contains("store URL"), "{message}");
        }
    }

    #[test]
    fn transport_keys_are_the_shared_http_options() {
        let c: WooCommerceConfig = serde_json::from_value(serde_json::json!({
            "store_url": "https://shop.example", "consumer_key": "ck", "consumer_secret": "cs",
            "base_url": "http://127.0.0.1:9", "timeout_secs": 5, "max_attempts": 2, "requests_per_minute": 30,
            "tracking": "order_note"
        }))
        .unwrap();
        assert_eq!(
            c.http,
            HttpOptions::new()
                .base_url("http://127.0.0.1:9")
                .max_attempts(2)
                .requests_per_minute(Some(30))
                .timeout(Duration::from_secs(5))
        );
        assert_eq!(c.tracking, TrackingMode::OrderNote);
        assert!(c.complete_on_ship);
        let plain: WooCommerceConfig = serde_json::from_value(serde_json::json!({
            "store_url": "https://shop.example", "consumer_key": "ck", "consumer_secret": "cs"
        }))
        .unwrap();
        assert_eq!(plain.http, HttpOptions::default(), "the store URL is the base: no base_url by default");
        let built = WooCommerceConfig::new("https://shop.example", "ck", "cs")
            .base_url("http://127.0.0.1:9")
            .timeout(Duration::from_secs(5));
        assert_eq!(built.http.base_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(built.http.timeout_secs, Some(5));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = WooCommerceConfig::new("https://s.example", "ck_visible?", "cs_hidden").webhook_secret("wh_hidden");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("cs_hidden") && !shown.contains("wh_hidden") && !shown.contains("ck_visible"),
            "{shown}"
        );
    }
}
