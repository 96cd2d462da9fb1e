//! [`AdapterFactory`]: builds the channel adapters compiled into this build from a connection's
//! settings and credentials.
//!
//! A connection's non-secret `settings` and its credentials are merged into one JSON object and
//! deserialized into the adapter's own config type (`channel_takealot::TakealotConfig`,
//! `channel_shopify::ShopifyConfig`, `channel_woocommerce::WooCommerceConfig`,
//! `channel_amazon::AmazonConfig`, `channel_marketplaces::ebay::EbayConfig`, behind the features of the same names), so the names are the config's
//! fields. Every setting of every channel, with an example, is in `docs/configuration.md` (tested against
//! this factory by `tests/settings_table.rs`); the credentials each adapter takes are
//! [`credential_names`], which [`crate::settings`] refuses in the settings.
//!
//! Settings the adapter does not know (such as the engine's own `sku_rules`) are ignored by it. A
//! credential with the same name as a setting wins. Errors name the store and the problem, never a
//! credential's value.

use std::sync::Arc;

use channel_core::{Channel, ChannelKind, StoreId};
use serde_json::{Map, Value};

use crate::Credentials;
use crate::connections::{ChannelFactory, ChannelSpec};

/// The credentials each adapter takes (the fields of its config that are secrets), whether or not this
/// build carries it; empty for a channel without an adapter. [`crate::settings`] refuses these names in
/// a connection's settings.
pub fn credential_names(channel: ChannelKind) -> &'static [&'static str] {
    match channel {
        ChannelKind::Takealot => &["api_key", "webhook_secret"],
        ChannelKind::Shopify => &["access_token", "webhook_secret"],
        ChannelKind::Woocommerce => &["consumer_key", "consumer_secret", "webhook_secret"],
        ChannelKind::Amazon => &["lwa_client_id", "lwa_client_secret", "refresh_token"],
        ChannelKind::Ebay => &["client_id", "client_secret", "refresh_token"],
        ChannelKind::Magento => &["access_token"],
        _ => &[],
    }
}

impl<'a> ChannelSpec<'a> {
    /// What a factory gets to build `store`'s `channel` (hosts use it to check a config: build with
    /// placeholder credentials, no request is made).
    pub fn new(store: &'a StoreId, channel: ChannelKind, settings: &'a Value, credentials: &'a Credentials) -> Self {
        Self { store, channel, settings, credentials }
    }
}

/// Every adapter's credential names.
pub(crate) fn all_credential_names() -> impl Iterator<Item = &'static str> {
    [
        ChannelKind::Takealot,
        ChannelKind::Shopify,
        ChannelKind::Woocommerce,
        ChannelKind::Amazon,
        ChannelKind::Ebay,
        ChannelKind::Magento,
    ]
    .into_iter()
    .flat_map(|c| credential_names(c).iter().copied())
}

/// Builds every adapter this build carries (see the module docs for the names it expects).
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct AdapterFactory;

impl AdapterFactory {
    /// A factory.
    pub fn new() -> Self {
        Self
    }
}

impl ChannelFactory for AdapterFactory {
    fn build(&self, spec: &ChannelSpec<'_>) -> channel_core::Result<Arc<dyn Channel>> {
        match spec.channel {
            #[cfg(feature = "takealot")]
            channel_core::ChannelKind::Takealot => {
                let adapter = channel_takealot::Takealot::new(config(spec)?).map_err(|e| named(spec, e.into()))?;
                Ok(Arc::new(adapter))
            }
            #[cfg(feature = "shopify")]
            channel_core::ChannelKind::Shopify => {
                let adapter = channel_shopify::Shopify::new(config(spec)?).map_err(|e| named(spec, e.into()))?;
                Ok(Arc::new(adapter))
            }
            #[cfg(feature = "woocommerce")]
            channel_core::ChannelKind::Woocommerce => {
                let adapter =
                    channel_woocommerce::WooCommerce::new(config(spec)?).map_err(|e| named(spec, e.into()))?;
                Ok(Arc::new(adapter))
            }
            #[cfg(feature = "amazon")]
            channel_core::ChannelKind::Amazon => {
                let adapter = channel_amazon::Amazon::new(config(spec)?).map_err(|e| named(spec, e))?;
                Ok(Arc::new(adapter))
            }
            #[cfg(feature = "ebay")]
            channel_core::ChannelKind::Ebay => {
                let adapter =
                    channel_marketplaces::ebay::Ebay::new(config(spec)?).map_err(|e| named(spec, e.into()))?;
                Ok(Arc::new(adapter))
            }
            #[cfg(feature = "magento")]
            channel_core::ChannelKind::Magento => {
                let adapter =
                    channel_marketplaces::magento::Magento::new(config(spec)?).map_err(|e| named(spec, e.into()))?;
                Ok(Arc::new(adapter))
            }
            other => Err(channel_core::Error::unsupported(format!(
                "store {}: this build has no {other} adapter (enable sync-engine's `{other}` feature, if it has one)",
                spec.store
            ))),
        }
    }
}

/// An adapter's refusal of its config (a URL scheme, a missing host), naming the store it was for: the
/// adapter does not know it.
#[cfg_attr(
    not(any(
        feature = "takealot",
        feature = "shopify",
        feature = "woocommerce",
        feature = "amazon",
        feature = "ebay",
        feature = "magento"
    )),
    allow(dead_code)
)]
fn named(spec: &ChannelSpec<'_>, e: channel_core::Error) -> channel_core::Error {
    channel_core::Error::new(e.kind(), format!("store {}: {}", spec.store, e.message())).with_source(e)
}

/// Merge settings and credentials and decode the adapter's config.
#[cfg_attr(
    not(any(
        feature = "takealot",
        feature = "shopify",
        feature = "woocommerce",
        feature = "amazon",
        feature = "ebay",
        feature = "magento"
    )),
    allow(dead_code)
)]
fn config<T: serde::de::DeserializeOwned>(spec: &ChannelSpec<'_>) -> channel_core::Result<T> {
    let mut merged = match spec.settings {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => {
            return Err(channel_core::Error::config(format!("store {}: settings must be a table", spec.store)));
        }
    };
    let mut secrets = Vec::new();
    for name in spec.credentials.names() {
        if let Some(value) = spec.credentials.expose(name) {
            merged.insert(name.to_owned(), Value::String(value.to_owned()));
            secrets.push(value);
        }
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| {
        // serde quotes offending values; make sure none of them is a credential.
        let mut message = e.to_string();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            message = message.replace(secret, "******");
        }
        channel_core::Error::config(format!("store {}: invalid {} settings: {message}", spec.store, spec.channel))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use channel_core::ErrorKind;
    use serde_json::json;

    fn build(
        channel: ChannelKind,
        settings: Value,
        credentials: &Credentials,
    ) -> channel_core::Result<Arc<dyn Channel>> {
        let store = StoreId::new("s1");
        AdapterFactory::new().build(&ChannelSpec { store: &store, channel, settings: &settings, credentials })
    }

    #[cfg(feature = "takealot")]
    #[test]
    fn builds_takealot_from_settings_and_credentials() {
        let creds = Credentials::new().with("api_key", "k-123");
        let channel = build(ChannelKind::Takealot, json!({"merchant_warehouse_id": 28676}), &creds).unwrap();
        assert_eq!(channel.kind(), ChannelKind::Takealot);
        assert!(!format!("{channel:?}").contains("k-123"), "the key must not show in Debug");
    }

    #[cfg(feature = "shopify")]
    #[test]
    fn missing_setting_is_a_config_error_without_secrets() {
        let creds = Credentials::new().with("access_token", "shpat_secret");
        let err = build(ChannelKind::Shopify, json!({}), &creds).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("shop_domain"), "{err}");
        assert!(!err.to_string().contains("shpat_secret"));
    }

    #[cfg(feature = "woocommerce")]
    #[test]
    fn a_credential_in_a_wrong_place_is_scrubbed() {
        // A credential whose value lands in a field of the wrong type: serde would quote it.
        let creds = Credentials::new()
            .with("consumer_key", "ck_1")
            .with("consumer_secret", "cs_1")
            .with("complete_on_ship", "cs_very_secret");
        let err = build(ChannelKind::Woocommerce, json!({"store_url": "https://shop.example"}), &creds)
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!err.to_string().contains("cs_very_secret"), "{err}");
    }

    #[cfg(feature = "woocommerce")]
    #[test]
    fn woocommerce_auth_and_tracking_link_are_plain_settings() {
        let creds = Credentials::new().with("consumer_key", "ck_1").with("consumer_secret", "cs_1");
        let settings = json!({"store_url": "https://shop.example", "auth": "query_string",
            "tracking_link_template": "https://track.example/?n=%1$s"});
        assert!(crate::settings::check_settings(&settings).is_ok(), "neither name is a secret's");
        assert_eq!(build(ChannelKind::Woocommerce, settings, &creds).unwrap().kind(), ChannelKind::Woocommerce);
        let unknown = json!({"store_url": "https://shop.example", "auth": "header"});
        let err = build(ChannelKind::Woocommerce, unknown, &creds).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        // Query-string keys only over HTTPS.
        let plain = json!({"store_url": "http://shop.local", "auth": "query_string"});
        let err = build(ChannelKind::Woocommerce, plain, &creds).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("https"), "{err}");
    }

    #[cfg(feature = "magento")]
    #[test]
    fn magento_builds_from_its_settings_and_token() {
        let mut creds = Credentials::new();
        creds.insert("access_token", "tok_secret");
        let settings = json!({"base_url": "https://shop.example", "source_code": "eu", "reservations": "none"});
        assert_eq!(build(ChannelKind::Magento, settings, &creds).unwrap().kind(), ChannelKind::Magento);
        let err = build(ChannelKind::Magento, json!({}), &creds).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("base_url") && !err.to_string().contains("tok_secret"), "{err}");
    }

    #[test]
    fn channels_without_an_adapter_are_unsupported() {
        let err = build(ChannelKind::Etsy, json!({}), &Credentials::new()).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("etsy"));
    }

    #[cfg(feature = "takealot")]
    #[test]
    fn settings_must_be_a_table() {
        let err = build(ChannelKind::Takealot, json!([1]), &Credentials::new()).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("must be a table"), "{err}");
    }
}
