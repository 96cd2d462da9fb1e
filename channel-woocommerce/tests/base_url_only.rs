//! Pointing a WooCommerce connection at the sandbox takes the setting every other channel takes:
//! `base_url` alone (the store URL defaults to it), as `stocksync sandbox --seed` writes it.

use channel_core::{Channel, ErrorKind};
use channel_testkit::woocommerce::{WooCommerceConfig as EmuConfig, WooCommerceEmulator};
use channel_woocommerce::{WooCommerce, WooCommerceConfig};
use serde_json::json;

#[tokio::test]
async fn base_url_alone_points_at_the_store() {
    let emu = WooCommerceEmulator::start(EmuConfig::default()).await.expect("emulator");
    let config: WooCommerceConfig = serde_json::from_value(json!({
        "base_url": emu.base_url(),
        "consumer_key": emu.consumer_key(),
        "consumer_secret": emu.consumer_secret(),
    }))
    .expect("decodes without store_url");
    let woo = WooCommerce::new(config).expect("builds");
    assert_eq!(woo.store_url().as_str().trim_end_matches('/'), emu.base_url().trim_end_matches('/'));
    woo.test_connection().await.expect("connects");
}

#[test]
fn neither_store_url_nor_base_url_is_a_config_error() {
    let config: WooCommerceConfig =
        serde_json::from_value(json!({"consumer_key": "ck", "consumer_secret": "cs"})).expect("decodes");
    let err = WooCommerce::new(config).map(drop).expect_err("refused");
    assert_eq!(channel_core::Error::from(err).kind(), ErrorKind::Config);
}
