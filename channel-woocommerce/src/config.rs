//! Configuration: the store, its REST API keys and the few choices the adapter leaves to the seller.

use std::fmt;

use channel_core::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::WooError;
use crate::oauth::{OAuthPlacement, OAuthSignatureMethod};

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

/// A WooCommerce store connection. Deserializable from a host's settings; secrets are never serialized
/// back out.
///
/// ```
/// use channel_woocommerce::WooCommerceConfig;
/// let config = WooCommerceConfig::new("https://shop.example", "ck_123", "cs_456").with_webhook_secret("whsec");
/// assert!(!format!("{config:?}").contains("cs_456"));
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct WooCommerceConfig {
    /// The store's URL as WordPress knows it (`https://shop.example` or `http://localhost/shop`), the part
    /// before `/wp-json`. `https` means HTTP Basic authentication; plain `http` means OAuth 1.0a signing.
    pub store_url: String,
    /// The REST API consumer key (`ck_…`).
    pub consumer_key: SecretString,
    /// The REST API consumer secret (`cs_…`).
    pub consumer_secret: SecretString,
    /// The secret webhooks are signed with (as entered in WooCommerce, before HTML-entity decoding).
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// The OAuth 1.0a signature method over plain HTTP.
    #[serde(default)]
    pub oauth_signature_method: OAuthSignatureMethod,
    /// Where OAuth 1.0a parameters travel over plain HTTP.
    #[serde(default)]
    pub oauth_placement: OAuthPlacement,
    /// How tracking numbers are exported.
    #[serde(default)]
    pub tracking: TrackingMode,
    /// Mark the order `completed` when a shipment is exported (default true).
    #[serde(default = "yes")]
    pub complete_on_ship: bool,
    /// The store currency (ISO 4217). When absent it is read from the store's general settings.
    #[serde(default)]
    pub currency: Option<String>,
}

fn yes() -> bool {
    true
}

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
            oauth_signature_method: OAuthSignatureMethod::default(),
            oauth_placement: OAuthPlacement::default(),
            tracking: TrackingMode::default(),
            complete_on_ship: true,
            currency: None,
        }
    }

    /// With a webhook secret (builder style).
    #[must_use]
    pub fn with_webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.webhook_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// With an OAuth signature method (builder style).
    #[must_use]
    pub fn with_oauth_signature_method(mut self, method: OAuthSignatureMethod) -> Self {
        self.oauth_signature_method = method;
        self
    }

    /// With an OAuth parameter placement (builder style).
    #[must_use]
    pub fn with_oauth_placement(mut self, placement: OAuthPlacement) -> Self {
        self.oauth_placement = placement;
        self
    }

    /// With a tracking mode (builder style).
    #[must_use]
    pub fn with_tracking(mut self, tracking: TrackingMode) -> Self {
        self.tracking = tracking;
        self
    }

    /// With the store currency (builder style).
    #[must_use]
    pub fn with_currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// The validated store URL: `http` or `https`, a host, no credentials, query or fragment; the path
    /// keeps no trailing slash.
    pub fn parsed_store_url(&self) -> Result<Url, WooError> {
        let raw = self.store_url.trim();
        let mut url = Url::parse(raw)
            .map_err(|e| WooError::InvalidStoreUrl(format!("{e}; expected something like https://shop.example")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WooError::InvalidStoreUrl(format!("the scheme must be http or https, not {}", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(WooError::InvalidStoreUrl("the URL has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WooError::InvalidStoreUrl("the URL must not contain credentials".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(WooError::InvalidStoreUrl("the URL must not have a query or fragment".into()));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        if path.ends_with("/wp-json") || path.contains("/wp-json/") {
            return Err(WooError::InvalidStoreUrl(
                "give the store's home URL, without /wp-json (it is added for you)".into(),
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
            .field("oauth_signature_method", &self.oauth_signature_method)
            .field("oauth_placement", &self.oauth_placement)
            .field("tracking", &self.tracking)
            .field("complete_on_ship", &self.complete_on_ship)
            .field("currency", &self.currency)
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
            assert!(err.to_string().starts_with("invalid WooCommerce store URL"), "{err}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let c =
            WooCommerceConfig::new("https://s.example", "ck_visible?", "cs_hidden").with_webhook_secret("wh_hidden");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("cs_hidden") && !shown.contains("wh_hidden") && !shown.contains("ck_visible"),
            "{shown}"
        );
    }
}
