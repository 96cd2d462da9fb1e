//! The demo's channel factory: the adapters pointed at the emulators, with the emulators' fast
//! polling and rate settings.

use std::sync::Arc;
use std::time::Duration;

use channel_core::secrecy::SecretString;
use channel_core::{Channel, ChannelKind, Error, Result};
use sync_engine::{ChannelFactory, ChannelSpec};

/// Builds the demo's adapters from a connection's settings and credentials.
#[derive(Debug)]
pub(super) struct DemoFactory;

impl ChannelFactory for DemoFactory {
    fn build(&self, spec: &ChannelSpec<'_>) -> Result<Arc<dyn Channel>> {
        match spec.channel {
            ChannelKind::Takealot => takealot(spec),
            ChannelKind::Woocommerce => woocommerce(spec),
            ChannelKind::Shopify => shopify(spec),
            ChannelKind::Amazon => amazon(spec),
            ChannelKind::Ebay => ebay(spec),
            ChannelKind::Magento => magento(spec),
            other => Err(Error::unsupported(format!("the demo has no {other} adapter yet"))),
        }
    }
}

/// A setting of the connection, as text.
fn setting(spec: &ChannelSpec<'_>, name: &str) -> Result<String> {
    spec.settings[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::config(format!("{}: setting {name} is missing", spec.store)))
}

/// A credential of the connection.
fn secret(spec: &ChannelSpec<'_>, name: &str) -> Result<String> {
    spec.credentials
        .expose(name)
        .map(str::to_owned)
        .ok_or_else(|| Error::config(format!("{}: credential {name} is missing", spec.store)))
}

fn takealot(spec: &ChannelSpec<'_>) -> Result<Arc<dyn Channel>> {
    let warehouse: u64 =
        setting(spec, "warehouse_id")?.parse().map_err(|_| Error::config("warehouse_id is not a number"))?;
    let config = channel_takealot::TakealotConfig::new(SecretString::from(secret(spec, "api_key")?), warehouse)
        .base_url(setting(spec, "base_url")?)
        .batch_poll_interval(Duration::from_millis(20))
        .webhook_secret(
            SecretString::from(secret(spec, "webhook_secret")?),
            channel_takealot::SignatureScheme::HexBody,
        );
    let adapter = channel_takealot::Takealot::new(config).map_err(|e| Error::config(format!("takealot: {e}")))?;
    Ok(Arc::new(adapter))
}

fn woocommerce(spec: &ChannelSpec<'_>) -> Result<Arc<dyn Channel>> {
    let config = channel_woocommerce::WooCommerceConfig::new(
        setting(spec, "site")?,
        secret(spec, "consumer_key")?,
        secret(spec, "consumer_secret")?,
    )
    .webhook_secret(secret(spec, "webhook_secret")?);
    let adapter =
        channel_woocommerce::WooCommerce::new(config).map_err(|e| Error::config(format!("woocommerce: {e}")))?;
    Ok(Arc::new(adapter))
}

fn shopify(spec: &ChannelSpec<'_>) -> Result<Arc<dyn Channel>> {
    let shop = setting(spec, "shop")?;
    let config = channel_shopify::ShopifyConfig::new(shop, SecretString::from(secret(spec, "access_token")?))
        .base_url(setting(spec, "base_url")?)
        .webhook_secret(SecretString::from(secret(spec, "webhook_secret")?));
    let adapter = channel_shopify::Shopify::new(config).map_err(|e| Error::config(format!("shopify: {e}")))?;
    Ok(Arc::new(adapter))
}

fn amazon(spec: &ChannelSpec<'_>) -> Result<Arc<dyn Channel>> {
    let config = channel_amazon::AmazonConfig::new(
        setting(spec, "seller_id")?,
        [setting(spec, "marketplace_id")?],
        channel_amazon::Region::Na,
        secret(spec, "lwa_client_id")?,
        secret(spec, "lwa_client_secret")?,
        secret(spec, "refresh_token")?,
    )
    // The demo's emulator runs with its fast config, which lets `searchOrders` ask up to the time of the
    // request: orders placed in the demo are polled at once instead of two minutes later.
    .orders_settle(Duration::ZERO);
    // The emulator runs with its fast rate presets, so the adapter learns the limits from the answers'
    // headers rather than starting from Amazon's documented usage plans.
    let adapter = channel_amazon::Amazon::builder(config)
        .base_url(setting(spec, "base_url")?)
        .token_url(setting(spec, "token_url")?)
        .documented_rate_limits(false)
        .poll_interval(Duration::from_millis(20))
        .processing_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::config(format!("amazon: {e}")))?;
    Ok(Arc::new(adapter))
}

fn ebay(spec: &ChannelSpec<'_>) -> Result<Arc<dyn Channel>> {
    use channel_marketplaces::ebay::{Ebay, EbayConfig};
    let config =
        EbayConfig::new(secret(spec, "client_id")?, secret(spec, "client_secret")?, secret(spec, "refresh_token")?)
            .base_url(setting(spec, "base_url")?)
            .token_url(setting(spec, "token_url")?)
            .identity_url(setting(spec, "identity_url")?);
    let adapter = Ebay::new(config).map_err(|e| Error::config(format!("ebay: {e}")))?;
    Ok(Arc::new(adapter))
}

fn magento(spec: &ChannelSpec<'_>) -> Result<Arc<dyn Channel>> {
    use channel_marketplaces::magento::{Magento, MagentoConfig};
    let config = MagentoConfig::new(setting(spec, "base_url")?, secret(spec, "access_token")?)
        .store_code(setting(spec, "store_code")?)
        .source_code(setting(spec, "source_code")?);
    let adapter = Magento::new(config).map_err(|e| Error::config(format!("magento: {e}")))?;
    Ok(Arc::new(adapter))
}
