//! The wiremock harness the request-level tests share: the seller, the adapter pointed at the mock server
//! (LWA included) with quick retries and polls, and an LWA endpoint that hands out a token.

// Each test file compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use std::time::Duration;

use channel_amazon::{Amazon, AmazonBuilder, AmazonConfig};
use channel_core::http::RetryPolicy;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const SELLER: &str = "A3TH9S8BH6GOGM";
pub(crate) const US: &str = "ATVPDKIKX0DER";

/// The adapter's builder with the SP-API and LWA on `server`, short unjittered retries and 10 ms polls.
pub(crate) fn builder(server: &MockServer, config: AmazonConfig) -> AmazonBuilder {
    Amazon::builder(config)
        .base_url(server.uri())
        .token_url(format!("{}/auth/o2/token", server.uri()))
        .retry(
            RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(20)).with_jitter(false),
        )
        .poll_interval(Duration::from_millis(10))
}

/// The adapter on `server`, without the documented rate limits (they would slow the tests down).
pub(crate) fn channel(server: &MockServer, config: AmazonConfig) -> Amazon {
    builder(server, config).documented_rate_limits(false).build().unwrap()
}

/// An LWA endpoint that answers every refresh with token `Atza|t` (how often is not checked).
pub(crate) async fn token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "Atza|t", "token_type": "bearer", "expires_in": 3600})),
        )
        .mount(server)
        .await;
}
