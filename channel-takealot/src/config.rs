//! The adapter's configuration.

use std::fmt;
use std::time::Duration;

use channel_core::WholeUnitRounding;
use channel_core::http::{HttpDefaults, HttpOptions};
use channel_core::secrecy::SecretString;
use serde::Deserialize;

/// The live Seller API.
pub const DEFAULT_BASE_URL: &str = "https://seller-api.takealot.com";

/// The transport settings a configuration leaves out: the live Seller API, 30 s per attempt, and a
/// client-side budget of 60 requests a minute (Takealot publishes no figure; its `x-RateLimit-*` headers
/// re-tune the budget).
pub(crate) const HTTP_DEFAULTS: HttpDefaults =
    HttpDefaults::new(DEFAULT_BASE_URL, Duration::from_secs(30)).requests_per_minute(60);

/// How `X-Takealot-Signature` is computed. Public sources disagree (see the crate README); the default is
/// the scheme the consolidated Seller API documentation describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignatureScheme {
    /// Lower-case hex of HMAC-SHA256(secret, raw body) — the documented form (the default).
    #[default]
    HexBody,
    /// Base64 of the lower-case hex of HMAC-SHA256(secret, webhook URL + raw body) — seen in one public
    /// receiver.
    Base64HexUrlBody,
    /// Lower-case hex of HMAC-SHA256(secret, webhook URL + raw body).
    HexUrlBody,
    /// Base64 of the raw HMAC-SHA256(secret, webhook URL + raw body).
    Base64UrlBody,
    /// Accept any of the above (for confirming the scheme against a live delivery; see the README).
    Any,
}

/// How [`Channel::test_connection`](channel_core::Channel::test_connection) learns who the API key belongs to.
///
/// The default is [`IdentitySource::OffersProbe`]: the Seller API v2 swagger documents no seller-identity
/// operation, so the default makes only documented calls. [`IdentitySource::SellerEndpoint`] is opt-in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdentitySource {
    /// `GET <path>` answering `{"seller_id", "display_name"?}` (opt-in: no such operation is in the swagger);
    /// when it answers 404 the adapter falls back to [`IdentitySource::OffersProbe`].
    SellerEndpoint {
        /// The path, joined to the base URL.
        path: String,
    },
    /// `GET /v2/offers?page_number=1&page_size=1` (`get_offers_v2`, the default): proves the key works; the
    /// account id is `warehouse-<merchant warehouse id>`, since the warehouse belongs to exactly one seller.
    #[default]
    OffersProbe,
}

impl IdentitySource {
    /// The seller endpoint at `/v2/seller` (not in the swagger; for hosts or emulators that serve it).
    pub fn seller_endpoint() -> Self {
        Self::SellerEndpoint { path: "/v2/seller".to_owned() }
    }
}

/// Which `V2OfferBatch.status` values mean a batch is finished. The swagger types `status` as
/// `{id: integer, description: string}` without listing the values; a public client treats id 4
/// ("Success") and id 5 ("Failed") as finished, which are the defaults. Anything else is "still
/// processing" and polled until [`TakealotConfig::batch_timeout_secs`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BatchStatuses {
    /// Status ids of a batch that finished and applied its offers (per-offer `validation_errors` aside).
    pub success_ids: Vec<i64>,
    /// Status ids of a batch that finished and failed (offers without a result are reported retryable).
    pub failed_ids: Vec<i64>,
    /// Descriptions (compared case-insensitively) that mean success when the id is not listed.
    pub success_descriptions: Vec<String>,
    /// Descriptions (compared case-insensitively) that mean failure when the id is not listed.
    pub failed_descriptions: Vec<String>,
}

impl Default for BatchStatuses {
    fn default() -> Self {
        Self {
            success_ids: vec![4],
            failed_ids: vec![5],
            success_descriptions: vec!["Success".to_owned()],
            failed_descriptions: vec!["Failed".to_owned()],
        }
    }
}

/// Where a batch is, by [`BatchStatuses`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchPhase {
    /// Still being processed.
    Pending,
    /// Finished; per-offer results apply.
    Succeeded,
    /// Finished as failed.
    Failed,
}

impl BatchStatuses {
    /// The phase of a batch whose status is `id`/`description`.
    pub(crate) fn phase(&self, id: Option<i64>, description: Option<&str>) -> BatchPhase {
        let named =
            |list: &[String]| description.is_some_and(|d| list.iter().any(|l| l.eq_ignore_ascii_case(d.trim())));
        if id.is_some_and(|i| self.success_ids.contains(&i)) {
            BatchPhase::Succeeded
        } else if id.is_some_and(|i| self.failed_ids.contains(&i)) {
            BatchPhase::Failed
        } else if named(&self.success_descriptions) {
            BatchPhase::Succeeded
        } else if named(&self.failed_descriptions) {
            BatchPhase::Failed
        } else {
            BatchPhase::Pending
        }
    }
}

/// Settings of one Takealot connection.
///
/// Deserializes from the host's configuration (TOML, JSON); only `api_key` and `merchant_warehouse_id` are
/// required. The transport keys (`base_url`, `timeout_secs`, `max_attempts`, `requests_per_minute`) sit at
/// the same level and fill [`TakealotConfig::http`].
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct TakealotConfig {
    /// The Seller API key (sent as `Authorization: Key <api_key>`).
    pub api_key: SecretString,
    /// Transport settings: `base_url` (default [`DEFAULT_BASE_URL`]; point it at an emulator or `wiremock`),
    /// `timeout_secs` (default 30), `max_attempts`, `requests_per_minute` (default 60; `0` leaves pacing to
    /// Takealot's `x-RateLimit-*` headers alone).
    #[serde(flatten)]
    pub http: HttpOptions,
    /// The merchant warehouse whose leadtime stock stocksync manages.
    pub merchant_warehouse_id: u64,
    /// Leadtime days sent with every stock write. Takealot refuses leadtime stock on an offer without
    /// leadtime days; `None` (the default) leaves each offer's own setting alone.
    #[serde(default)]
    pub leadtime_days: Option<u32>,
    /// The webhook secret set in the Seller Portal (API Integrations). Without it webhooks are refused.
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// How deliveries are signed (default [`SignatureScheme::HexBody`]).
    #[serde(default)]
    pub signature_scheme: SignatureScheme,
    /// The URL Takealot delivers webhooks to, for schemes that sign it (used when the request does not
    /// carry its URL).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Where the seller identity comes from.
    #[serde(default)]
    pub identity: IdentitySource,
    /// The separator between `/v2/sales` filters (`start_date:…,end_date:…`). The swagger types `filters`
    /// as an `array` of strings without a `collectionFormat`, which in Swagger 2.0 defaults to `csv` (`,`,
    /// the default here, and what public clients send); its own `view_sales` example, however, reads
    /// `?filters=sku:foo;title:bar` (`;`). The default follows the schema and the public clients; set `;`
    /// if an account refuses `,`.
    #[serde(default = "default_separator")]
    pub sales_filter_separator: String,
    /// Sales have no "changed since" filter: `orders_since` re-reads sales ordered this many days before the
    /// cursor so status changes (cancellations, returns) of older orders are seen (default 30).
    #[serde(default = "default_lookback")]
    pub sales_lookback_days: u32,
    /// How prices with cents become whole rand (default half up: R 99.50 → R 100).
    #[serde(default)]
    pub price_rounding: WholeUnitRounding,
    /// Writes of at most this many offers go through `PATCH /v2/offers/offer/…` one by one (no polling);
    /// more go through one `POST /v2/offers/batch`. The default, 1, keeps every push at exactly
    /// `ceil(N / 10,000)` write calls.
    #[serde(default = "default_patch_max")]
    pub patch_max: usize,
    /// How often a pending batch is polled, in milliseconds (default 1,000).
    #[serde(default = "default_poll_ms")]
    pub batch_poll_interval_ms: u64,
    /// How long to wait for a batch before giving up, in seconds (default 600).
    #[serde(default = "default_batch_timeout")]
    pub batch_timeout_secs: u64,
    /// Which batch status ids/descriptions mean finished (default: 4 "Success", 5 "Failed").
    #[serde(default)]
    pub batch_statuses: BatchStatuses,
    /// `validation_errors[].code` values whose refusal is worth retrying (compared exactly; default none).
    /// The swagger types a validation error as `{message, code}` and lists no codes, so a refusal is
    /// permanent unless its code is listed here; the wording of a message is never read.
    #[serde(default)]
    pub retry_codes: Vec<String>,
    /// The UTC offset, in hours, of the local times `GET /v2/sales` gives (`order_date` like
    /// `01 Oct 2021 13:47:32`) and of its `start_date`/`end_date` filters: South African Standard Time,
    /// UTC+2 without daylight saving (default 2). Public examples show the local time without an offset.
    #[serde(default = "default_sales_offset")]
    pub sales_utc_offset_hours: i8,
    /// Whether a sale's `selling_price` is the line total (unit × quantity, the default, as the
    /// consolidated Seller API reference describes it) rather than the unit price.
    #[serde(default = "default_true")]
    pub sale_price_is_line_total: bool,
    /// List stock at Takealot DCs as separate read-only listings `<offer_id>:dc` (default on).
    #[serde(default = "default_true")]
    pub dc_listings: bool,
    /// How old an order or sale delivery may be (by its signed `event_date` / `event_timestamp_utc`)
    /// before the engine refuses it as stale, in seconds (default [`DEFAULT_WEBHOOK_MAX_AGE_SECS`]; 0: no
    /// window).
    #[serde(default = "default_webhook_max_age")]
    pub webhook_max_age_secs: u64,
}

/// The default webhook window, 3 hours. Takealot documents no window and no delivery time header;
/// failed deliveries are retried 3 times over 6 minutes (a third-party summary of Takealot's docs), and
/// whether its event times are UTC or South African time (UTC+2) is not documented: the window covers
/// the retries, a two-hour offset mistake and an hour's margin (see `docs/fidelity.md`).
pub const DEFAULT_WEBHOOK_MAX_AGE_SECS: u64 = 3 * 3600;

fn default_webhook_max_age() -> u64 {
    DEFAULT_WEBHOOK_MAX_AGE_SECS
}

fn default_separator() -> String {
    ",".to_owned()
}
fn default_lookback() -> u32 {
    30
}
fn default_patch_max() -> usize {
    1
}
fn default_poll_ms() -> u64 {
    1_000
}
fn default_batch_timeout() -> u64 {
    600
}
fn default_sales_offset() -> i8 {
    2
}
fn default_true() -> bool {
    true
}

impl TakealotConfig {
    /// A configuration with the defaults for everything but the key and the warehouse.
    pub fn new(api_key: SecretString, merchant_warehouse_id: u64) -> Self {
        Self {
            api_key,
            http: HttpOptions::default(),
            merchant_warehouse_id,
            leadtime_days: None,
            webhook_secret: None,
            signature_scheme: SignatureScheme::default(),
            webhook_url: None,
            identity: IdentitySource::default(),
            sales_filter_separator: default_separator(),
            sales_lookback_days: default_lookback(),
            price_rounding: WholeUnitRounding::default(),
            patch_max: default_patch_max(),
            batch_poll_interval_ms: default_poll_ms(),
            batch_timeout_secs: default_batch_timeout(),
            batch_statuses: BatchStatuses::default(),
            retry_codes: Vec::new(),
            sales_utc_offset_hours: default_sales_offset(),
            sale_price_is_line_total: true,
            dc_listings: true,
            webhook_max_age_secs: DEFAULT_WEBHOOK_MAX_AGE_SECS,
        }
    }

    /// Point at another base URL (an emulator, `wiremock`).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.http = self.http.base_url(url);
        self
    }

    /// With a webhook secret and scheme.
    #[must_use]
    pub fn webhook_secret(mut self, secret: SecretString, scheme: SignatureScheme) -> Self {
        self.webhook_secret = Some(secret);
        self.signature_scheme = scheme;
        self
    }

    /// With the URL webhooks are delivered to (for URL-signing schemes).
    #[must_use]
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// Send these leadtime days with every stock write.
    #[must_use]
    pub fn leadtime_days(mut self, days: Option<u32>) -> Self {
        self.leadtime_days = days;
        self
    }

    /// Where the seller identity comes from.
    #[must_use]
    pub fn identity(mut self, identity: IdentitySource) -> Self {
        self.identity = identity;
        self
    }

    /// The `/v2/sales` filter separator.
    #[must_use]
    pub fn sales_filter_separator(mut self, separator: impl Into<String>) -> Self {
        self.sales_filter_separator = separator.into();
        self
    }

    /// Days of sales re-read before the order cursor.
    #[must_use]
    pub fn sales_lookback_days(mut self, days: u32) -> Self {
        self.sales_lookback_days = days;
        self
    }

    /// The whole-rand rounding rule for prices.
    #[must_use]
    pub fn price_rounding(mut self, rule: WholeUnitRounding) -> Self {
        self.price_rounding = rule;
        self
    }

    /// Writes of at most `n` offers go through PATCH.
    #[must_use]
    pub fn patch_max(mut self, n: usize) -> Self {
        self.patch_max = n;
        self
    }

    /// How often a pending batch is polled.
    #[must_use]
    pub fn batch_poll_interval(mut self, every: Duration) -> Self {
        self.batch_poll_interval_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// How long to wait for a batch.
    #[must_use]
    pub fn batch_timeout(mut self, timeout: Duration) -> Self {
        self.batch_timeout_secs = timeout.as_secs().max(1);
        self
    }

    /// Client-side requests per minute (`None`: only the platform's headers pace requests).
    #[must_use]
    pub fn requests_per_minute(mut self, rpm: Option<u32>) -> Self {
        self.http = self.http.requests_per_minute(rpm);
        self
    }

    /// Per-attempt timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// Which batch statuses mean finished.
    #[must_use]
    pub fn batch_statuses(mut self, statuses: BatchStatuses) -> Self {
        self.batch_statuses = statuses;
        self
    }

    /// Refusals with these `validation_errors[].code` values are retryable (default none).
    #[must_use]
    pub fn retry_codes<I, S>(mut self, codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.retry_codes = codes.into_iter().map(Into::into).collect();
        self
    }

    /// The UTC offset of the sales' local times, in hours.
    #[must_use]
    pub fn sales_utc_offset_hours(mut self, hours: i8) -> Self {
        self.sales_utc_offset_hours = hours;
        self
    }

    /// Whether a sale's `selling_price` is the line total (else the unit price).
    #[must_use]
    pub fn sale_price_is_line_total(mut self, line_total: bool) -> Self {
        self.sale_price_is_line_total = line_total;
        self
    }

    /// The time zone of the sales' local times (a fixed offset).
    pub(crate) fn sales_time_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::Offset::from_hours(self.sales_utc_offset_hours)
            .map_or(jiff::tz::TimeZone::UTC, jiff::tz::TimeZone::fixed)
    }

    /// Whether DC stock is listed as separate read-only listings.
    #[must_use]
    pub fn dc_listings(mut self, on: bool) -> Self {
        self.dc_listings = on;
        self
    }

    /// How old an order or sale delivery may be before it is refused as stale (`None`: no window).
    #[must_use]
    pub fn webhook_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.webhook_max_age_secs = channel_core::webhook::max_age_secs(max_age);
        self
    }

    /// The webhook window, `None` when `webhook_max_age_secs` is 0.
    pub fn webhook_window(&self) -> Option<Duration> {
        channel_core::webhook::max_age_window(self.webhook_max_age_secs)
    }
}

impl fmt::Debug for TakealotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakealotConfig")
            .field("api_key", &"******")
            .field("http", &self.http)
            .field("merchant_warehouse_id", &self.merchant_warehouse_id)
            .field("leadtime_days", &self.leadtime_days)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "******"))
            .field("signature_scheme", &self.signature_scheme)
            .field("webhook_url", &self.webhook_url)
            .field("identity", &self.identity)
            .field("sales_filter_separator", &self.sales_filter_separator)
            .field("sales_lookback_days", &self.sales_lookback_days)
            .field("price_rounding", &self.price_rounding)
            .field("patch_max", &self.patch_max)
            .field("batch_poll_interval_ms", &self.batch_poll_interval_ms)
            .field("batch_timeout_secs", &self.batch_timeout_secs)
            .field("batch_statuses", &self.batch_statuses)
            .field("retry_codes", &self.retry_codes)
            .field("sales_utc_offset_hours", &self.sales_utc_offset_hours)
            .field("sale_price_is_line_total", &self.sale_price_is_line_total)
            .field("dc_listings", &self.dc_listings)
            .field("webhook_max_age_secs", &self.webhook_max_age_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use channel_core::http::RateLimit;

    use super::*;
    use crate::Takealot;

    fn budget(config: TakealotConfig) -> Option<RateLimit> {
        Takealot::new(config).unwrap().http().rate_limit(None)
    }

    #[test]
    fn transport_keys_keep_their_names_and_defaults() {
        let config: TakealotConfig = serde_json::from_str(
            r#"{"api_key": "k", "merchant_warehouse_id": 7, "base_url": "http://127.0.0.1:9",
                "timeout_secs": 5, "requests_per_minute": 120, "dc_listings": false}"#,
        )
        .unwrap();
        assert_eq!(config.http.base_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!((config.http.timeout_secs, config.http.requests_per_minute), (Some(5), Some(120)));
        assert!(!config.dc_listings);
        let t = Takealot::new(config.clone()).unwrap();
        assert_eq!(t.http().base_url().as_str(), "http://127.0.0.1:9/");
        assert_eq!(budget(config), Some(RateLimit::per_minute(NonZeroU32::new(120).unwrap())));

        let defaults: TakealotConfig = serde_json::from_str(r#"{"api_key": "k", "merchant_warehouse_id": 7}"#).unwrap();
        assert_eq!(defaults.http, HttpOptions::default());
        let t = Takealot::new(defaults.clone()).unwrap();
        assert_eq!(t.http().base_url().as_str(), "https://seller-api.takealot.com/");
        assert_eq!(budget(defaults), Some(RateLimit::per_minute(NonZeroU32::new(60).unwrap())), "60 a minute");
    }

    #[test]
    fn batch_statuses_and_sales_settings_have_their_defaults() {
        let config: TakealotConfig = serde_json::from_str(
            r#"{"api_key": "k", "merchant_warehouse_id": 7, "batch_statuses": {"success_ids": [4, 6]},
                "sales_utc_offset_hours": 0, "sale_price_is_line_total": false}"#,
        )
        .unwrap();
        let statuses = &config.batch_statuses;
        assert_eq!(statuses.failed_ids, [5], "unset keys keep their defaults");
        assert_eq!(statuses.phase(Some(6), None), BatchPhase::Succeeded);
        assert_eq!(statuses.phase(Some(5), Some("whatever")), BatchPhase::Failed);
        assert_eq!(statuses.phase(Some(99), Some(" success ")), BatchPhase::Succeeded, "by description");
        assert_eq!(statuses.phase(Some(1), Some("Pending")), BatchPhase::Pending);
        assert_eq!(statuses.phase(None, None), BatchPhase::Pending);
        assert_eq!((config.sales_time_zone(), config.sale_price_is_line_total), (jiff::tz::TimeZone::UTC, false));
        let far = TakealotConfig::new(SecretString::from("k"), 7).sales_utc_offset_hours(20);
        assert!(matches!(Takealot::new(far), Err(crate::TakealotError::Config(_))));
        let defaults = TakealotConfig::new(SecretString::from("k"), 7);
        assert_eq!(defaults.sales_time_zone(), jiff::tz::TimeZone::fixed(jiff::tz::offset(2)));
        assert!(defaults.sale_price_is_line_total);
    }

    #[test]
    fn setters_fill_the_http_options() {
        let config = TakealotConfig::new(SecretString::from("secret-key"), 7)
            .base_url("http://127.0.0.1:9")
            .timeout(Duration::from_millis(10))
            .requests_per_minute(None);
        assert_eq!(config.http.base_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(config.http.timeout_secs, Some(1), "whole seconds, at least one");
        assert_eq!(budget(config.clone()), None, "None: no client-side budget");
        assert_eq!(
            budget(config.clone().requests_per_minute(Some(30))),
            Some(RateLimit::per_minute(NonZeroU32::new(30).unwrap()))
        );
        let shown = format!("{config:?}");
        assert!(shown.contains("127.0.0.1:9") && !shown.contains("secret-key"), "{shown}");
    }
}
