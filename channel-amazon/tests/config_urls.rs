//! A host configures Amazon from settings alone (JSON, as sync-engine's factory merges them): the SP-API
//! endpoint (`base_url`) and the Login with Amazon token endpoint (`token_url`) can both point at the
//! emulator or a test server, and are refused when they are not http(s) URLs.

use channel_amazon::{Amazon, AmazonConfig};
use channel_core::{Channel, ErrorKind};
use channel_testkit::amazon::{AmazonConfig as EmuConfig, AmazonEmulator};
use serde_json::json;

fn config(emu: &AmazonEmulator, base_url: &str, token_url: &str) -> AmazonConfig {
    serde_json::from_value(json!({
        "seller_id": emu.seller_id(),
        "marketplace_ids": [emu.marketplace_id()],
        "lwa_client_id": emu.client_id(),
        "lwa_client_secret": emu.client_secret(),
        "refresh_token": emu.refresh_token(),
        "base_url": base_url,
        "token_url": token_url,
    }))
    .expect("the settings decode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_and_the_token_url_come_from_the_settings() {
    let emu = AmazonEmulator::start(EmuConfig::fast()).await.expect("emulator");
    let amazon = Amazon::new(config(&emu, emu.base_url(), &emu.token_url())).expect("builds");
    let identity = amazon.test_connection().await.expect("connects to the emulator, token included");
    assert_eq!(identity.account_id, emu.seller_id());
    assert_eq!(amazon.token_requests(), 1, "the token came from the configured token URL");
}

#[tokio::test]
async fn urls_that_are_not_http_are_refused() {
    let emu = AmazonEmulator::start(EmuConfig::fast()).await.expect("emulator");
    for (base, token, named) in [
        (emu.base_url().to_owned(), "not a url".to_owned(), "token_url"),
        (emu.base_url().to_owned(), "ftp://127.0.0.1/token".to_owned(), "token_url"),
        ("127.0.0.1:9".to_owned(), emu.token_url(), "base_url"),
    ] {
        let err = Amazon::new(config(&emu, &base, &token)).map(drop).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains(named), "{err} names {named}");
    }
}
