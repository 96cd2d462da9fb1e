//! The demo's channel factory: the four adapters pointed at the emulators, with the emulators' fast
//! polling and rate settings.

use std::sync::Arc;
use std::time::Duration;

use channel_core::secrecy::SecretString;
use channel_core::{Channel, ChannelKind};
use sync_engine::{ChannelFactory, ChannelSpec};

/// Builds the demo's adapters from a connection's settings and credentials.
#[derive(Debug)]
pub(super) struct DemoFactory;

impl ChannelFactory for DemoFactory {
    fn build(&self, spec: &ChannelSpec<'_>) -> channel_core::Result<Arc<dyn Channel>> {
        let setting = |name: &str| {
            spec.settings[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| channel_core::Error::config(format!("{}: setting {name} is missing", spec.store)))
        };
        let secret = |name: &str| {
            spec.credentials
                .expose(name)
                .map(str::to_owned)
                .ok_or_else(|| channel_core::Error::config(format!("{}: credential {name} is missing", spec.store)))
        };
        match spec.channel {
            ChannelKind::Takealot => {
                let warehouse: u64 = setting("warehouse_id")?
                    .parse()
                    .map_err(|_| channel_core::Error::config("warehouse_id is not a number"))?;
                let config = channel_takealot::TakealotConfig::new(SecretString::from(secret("api_key")?), warehouse)
                    .base_url(setting("base_url")?)
                    .batch_poll_interval(Duration::from_millis(20))
                    .webhook_secret(
                        SecretString::from(secret("webhook_secret")?),
                        channel_takealot::SignatureScheme::HexBody,
                    );
                let adapter = channel_takealot::Takealot::new(config)
                    .map_err(|e| channel_core::Error::config(format!("takealot: {e}")))?;
                Ok(Arc::new(adapter))
            }
            ChannelKind::Woocommerce => {
                let config = channel_woocommerce::WooCommerceConfig::new(
                    setting("site")?,
                    secret("consumer_key")?,
                    secret("consumer_secret")?,
                )
                .with_webhook_secret(secret("webhook_secret")?);
                let adapter = channel_woocommerce::WooCommerce::new(config)
                    .map_err(|e| channel_core::Error::config(format!("woocommerce: {e}")))?;
                Ok(Arc::new(adapter))
            }
            ChannelKind::Shopify => {
                let config =
                    channel_shopify::ShopifyConfig::new(setting("shop")?, SecretString::from(secret("access_token")?))
                        .base_url(setting("base_url")?)
                        .webhook_secret(SecretString::from(secret("webhook_secret")?));
                let adapter = channel_shopify::Shopify::new(config)
                    .map_err(|e| channel_core::Error::config(format!("shopify: {e}")))?;
                Ok(Arc::new(adapter))
            }
            ChannelKind::Amazon => {
                let config = channel_amazon::AmazonConfig::new(
                    setting("seller_id")?,
                    [setting("marketplace_id")?],
                    channel_amazon::Region::Na,
                    secret("lwa_client_id")?,
                    secret("lwa_client_secret")?,
                    secret("refresh_token")?,
                );
                // The emulator runs with its fast rate presets, so the adapter learns the limits from the
                // answers' headers rather than starting from Amazon's documented usage plans.
                let adapter = channel_amazon::Amazon::builder(config)
                    .base_url(setting("base_url")?)
                    .token_url(setting("token_url")?)
                    .documented_rate_limits(false)
                    .poll_interval(Duration::from_millis(20))
                    .processing_timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| channel_core::Error::config(format!("amazon: {e}")))?;
                Ok(Arc::new(adapter))
            }
            other => Err(channel_core::Error::unsupported(format!("the demo has no {other} adapter yet"))),
        }
    }
}
