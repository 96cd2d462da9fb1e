//! The wiremock harness the request-level tests share: an HTTPS store pointed at the mock server, with a
//! quick retry policy, and the Basic header its keys make.

// Each test file compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine as _;
use channel_core::http::RetryPolicy;
use channel_woocommerce::{WooCommerce, WooCommerceConfig};
use wiremock::MockServer;

/// The default policy with short, unjittered waits, so that retries do not slow the tests.
pub(crate) fn retry() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(20)).with_jitter(false)
}

/// An HTTPS store (keys `ck_key` / `cs_secret`) whose requests go to the mock server.
pub(crate) fn https_config(server: &MockServer) -> WooCommerceConfig {
    WooCommerceConfig::new("https://shop.example", "ck_key", "cs_secret").base_url(server.uri())
}

pub(crate) fn build(config: WooCommerceConfig) -> WooCommerce {
    WooCommerce::builder(config).retry(retry()).build().unwrap()
}

/// An HTTPS store (Basic auth) in USD, so that no currency read is made.
pub(crate) fn https_store(server: &MockServer) -> WooCommerce {
    build(https_config(server).currency("USD"))
}

/// The `Authorization` header Basic auth makes of the keys.
pub(crate) fn basic() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ck_key:cs_secret"))
}
