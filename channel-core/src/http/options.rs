//! [`HttpOptions`]: the transport settings every adapter's configuration takes, in one type.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{HttpClientBuilder, RateLimit};

/// The transport settings of one connection: where the API is, how long an attempt may take, how many
/// attempts a request gets, and the client-side request budget.
///
/// Every adapter's configuration holds one, flattened, so the keys are the same on every platform
/// (`base_url`, `timeout_secs`, `max_attempts`, `requests_per_minute`); a key left out takes the
/// adapter's default for its platform ([`HttpDefaults`]).
///
/// ```
/// use std::time::Duration;
/// use channel_core::http::{HttpDefaults, HttpOptions};
///
/// let options: HttpOptions = serde_json::from_str(r#"{"base_url": "http://127.0.0.1:9000"}"#).unwrap();
/// let defaults = HttpDefaults::new("https://api.example.com", Duration::from_secs(30)).requests_per_minute(60);
/// assert_eq!(options.base_url_or(defaults.base_url), "http://127.0.0.1:9000");
/// assert_eq!(options.timeout_or(defaults.timeout), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HttpOptions {
    /// The API's base URL (default: the platform's live endpoint). Point it at an emulator or `wiremock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Per-attempt timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Attempts per request, the first included ([`super::RetryPolicy`] says which requests are retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Client-side budget of requests per minute; `0` leaves pacing to the platform's rate-limit headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
}

impl HttpOptions {
    /// Every setting at the adapter's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// With a base URL (builder style).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// With a per-attempt timeout, in whole seconds, at least one (builder style).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_secs = Some(timeout.as_secs().max(1));
        self
    }

    /// With this many attempts per request (builder style).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// With a client-side request budget; `None` leaves pacing to the platform's headers (builder style).
    #[must_use]
    pub fn requests_per_minute(mut self, rpm: Option<u32>) -> Self {
        self.requests_per_minute = Some(rpm.unwrap_or(0));
        self
    }

    /// The base URL, or `default`.
    pub fn base_url_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.base_url.as_deref().unwrap_or(default)
    }

    /// The per-attempt timeout, or `default`; a configured `0` is taken as one second (no request can
    /// succeed in no time).
    pub fn timeout_or(&self, default: Duration) -> Duration {
        self.timeout_secs.map_or(default, |secs| Duration::from_secs(secs.max(1)))
    }

    /// The client-side budget, or `default`; `None` when there is none.
    pub fn requests_per_minute_or(&self, default: Option<u32>) -> Option<NonZeroU32> {
        NonZeroU32::new(self.requests_per_minute.or(default).unwrap_or(0))
    }

    /// Apply these settings, falling back to `defaults`, to a client builder: base URL, timeout, attempts
    /// (only when set: the builder's retry policy stays otherwise) and a per-minute [`RateLimit`].
    pub fn configure(&self, builder: HttpClientBuilder, defaults: &HttpDefaults) -> HttpClientBuilder {
        let mut builder =
            builder.base_url(self.base_url_or(defaults.base_url)).timeout(self.timeout_or(defaults.timeout));
        if let Some(attempts) = self.max_attempts {
            builder = builder.max_attempts(attempts);
        }
        if let Some(rpm) = self.requests_per_minute_or(defaults.requests_per_minute) {
            builder = builder.rate_limit(RateLimit::per_minute(rpm));
        }
        builder
    }
}

/// An adapter's defaults for the [`HttpOptions`] a configuration leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpDefaults {
    /// The platform's live endpoint.
    pub base_url: &'static str,
    /// The per-attempt timeout.
    pub timeout: Duration,
    /// The client-side request budget per minute, where the platform documents one.
    pub requests_per_minute: Option<u32>,
}

impl HttpDefaults {
    /// Defaults with no client-side budget.
    pub const fn new(base_url: &'static str, timeout: Duration) -> Self {
        Self { base_url, timeout, requests_per_minute: None }
    }

    /// With a client-side budget (builder style).
    #[must_use]
    pub const fn requests_per_minute(mut self, rpm: u32) -> Self {
        self.requests_per_minute = Some(rpm);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_left_out_take_the_defaults() {
        let options: HttpOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(options, HttpOptions::default());
        let defaults = HttpDefaults::new("https://api.example.com", Duration::from_secs(30)).requests_per_minute(60);
        assert_eq!(options.base_url_or(defaults.base_url), "https://api.example.com");
        assert_eq!(options.requests_per_minute_or(defaults.requests_per_minute).map(NonZeroU32::get), Some(60));
    }

    #[test]
    fn zero_requests_per_minute_means_no_client_side_budget() {
        let options = HttpOptions::new().requests_per_minute(None);
        assert_eq!(options.requests_per_minute, Some(0));
        assert_eq!(options.requests_per_minute_or(Some(60)), None);
        let options: HttpOptions = serde_json::from_str(r#"{"requests_per_minute": 120, "timeout_secs": 5}"#).unwrap();
        assert_eq!(options.requests_per_minute_or(Some(60)).map(NonZeroU32::get), Some(120));
        assert_eq!(options.timeout_or(Duration::from_secs(30)), Duration::from_secs(5));
        let options: HttpOptions = serde_json::from_str(r#"{"timeout_secs": 0}"#).unwrap();
        assert_eq!(options.timeout_or(Duration::from_secs(30)), Duration::from_secs(1));
    }

    #[test]
    fn configure_builds_a_client_with_the_settings() {
        let options = HttpOptions::new().base_url("http://127.0.0.1:9").max_attempts(2);
        let defaults = HttpDefaults::new("https://api.example.com", Duration::from_secs(30));
        let client = options.configure(super::super::HttpClient::builder().name("t"), &defaults).build().unwrap();
        assert_eq!(client.base_url().as_str(), "http://127.0.0.1:9/");
        assert_eq!(client.retry_policy().max_attempts, 2);
        assert_eq!(client.rate_limit(None), None);
    }
}
