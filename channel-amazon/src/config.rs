//! Configuration: the seller, marketplaces, region and Login with Amazon credentials.

use std::fmt;
use std::time::Duration;

use channel_core::http::{HttpDefaults, HttpOptions};
use channel_core::secrecy::SecretString;
use serde::Deserialize;

use crate::document::DEFAULT_MAX_DOCUMENT_BYTES;
use crate::error::AmazonError;

/// The SP-API region, which picks the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Region {
    /// North America (CA, US, MX, BR): `https://sellingpartnerapi-na.amazon.com`.
    #[default]
    Na,
    /// Europe, Middle East, Africa and India: `https://sellingpartnerapi-eu.amazon.com`.
    Eu,
    /// Far East (SG, AU, JP): `https://sellingpartnerapi-fe.amazon.com`.
    Fe,
}

impl Region {
    /// The production endpoint.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::Na => DEFAULT_BASE_URL,
            Self::Eu => "https://sellingpartnerapi-eu.amazon.com",
            Self::Fe => "https://sellingpartnerapi-fe.amazon.com",
        }
    }

    /// The short name (`"NA"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Na => "NA",
            Self::Eu => "EU",
            Self::Fe => "FE",
        }
    }
}

/// Where the seller's full list of SKUs comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CatalogSource {
    /// `searchListingsItems`, falling back to the `GET_MERCHANT_LISTINGS_ALL_DATA` report when the
    /// search reaches its 1,000-SKU ceiling. The default.
    #[default]
    Auto,
    /// Only `searchListingsItems` (at most 1,000 SKUs).
    Search,
    /// Always the `GET_MERCHANT_LISTINGS_ALL_DATA` report.
    Report,
}

/// The marketplaces a stock write (`fulfillment_availability`) goes to, by patch or by feed alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StockMarketplaces {
    /// Only the primary (first) marketplace, where quantities are read. The default.
    #[default]
    Primary,
    /// Every configured marketplace (a seller whose merchant offers share one quantity across them).
    All,
}

/// The marketplaces a price write (`purchasable_offer`) goes to, by patch or by feed alike.
///
/// Amazon accepts a `purchasable_offer` patch for a marketplace where the SKU has no offer and creates
/// one (selling-partner-api-models#2797), while listings and prices are read only in the primary
/// marketplace; so by default a price is written only there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PriceMarketplaces {
    /// Only the primary (first) marketplace, where listings and prices are read; a price in another
    /// currency is rejected. The default.
    #[default]
    Primary,
    /// Every configured marketplace that sells in the price's currency (a seller whose offers exist in
    /// all of them at one price).
    All,
}

/// The SP-API endpoint used when neither `base_url` nor the region says otherwise (North America's).
pub const DEFAULT_BASE_URL: &str = "https://sellingpartnerapi-na.amazon.com";

/// The transport defaults: the North America endpoint (the region's replaces it) and 30 s per attempt;
/// no overall request budget, since every operation has its own documented usage plan.
pub(crate) const HTTP_DEFAULTS: HttpDefaults = HttpDefaults::new(DEFAULT_BASE_URL, Duration::from_secs(30));

/// The default number of SKUs up to which `set_stock` patches each listing rather than sending a feed.
pub const DEFAULT_FEED_THRESHOLD: usize = 100;

/// An Amazon seller account on one region's marketplaces.
///
/// ```
/// use channel_amazon::{AmazonConfig, Region};
/// let config = AmazonConfig::new("A3TH9S8BH6GOGM", ["ATVPDKIKX0DER"], Region::Na, "amzn1.application-oa2-client.x", "secret", "Atzr|refresh");
/// assert!(!format!("{config:?}").contains("Atzr"));
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct AmazonConfig {
    /// The seller id (merchant token), the `sellerId` of the Listings Items API.
    pub seller_id: String,
    /// The marketplaces; the first is the primary one (listings, stock and feeds are read and written there).
    pub marketplace_ids: Vec<String>,
    /// The region of those marketplaces.
    #[serde(default)]
    pub region: Region,
    /// The LWA client id.
    pub lwa_client_id: SecretString,
    /// The LWA client secret.
    pub lwa_client_secret: SecretString,
    /// The LWA refresh token of the seller's authorization.
    pub refresh_token: SecretString,
    /// Up to this many SKUs, `set_stock` and `set_prices` patch each listing; above it they send one
    /// `JSON_LISTINGS_FEED` per 25,000 SKUs (see the crate docs for why 100).
    #[serde(default = "default_threshold")]
    pub feed_threshold: usize,
    /// Where the full SKU list comes from.
    #[serde(default)]
    pub catalog_source: CatalogSource,
    /// The marketplaces stock writes go to (default: the primary). A patch and a feed of the same write
    /// name the same marketplaces.
    #[serde(default)]
    pub stock_marketplaces: StockMarketplaces,
    /// The marketplaces price writes go to (default: the primary; `all`: every configured marketplace
    /// selling in the price's currency). A patch and a feed of the same write name the same marketplaces.
    #[serde(default)]
    pub price_marketplaces: PriceMarketplaces,
    /// The character set of `GET_MERCHANT_LISTINGS_ALL_DATA` documents (`Cp1252`, `Shift_JIS`, `UTF-8`, …)
    /// when set; by default the one the download's `Content-Type` names, else UTF-8.
    #[serde(default)]
    pub report_charset: Option<String>,
    /// Read FBA quantities from the FBA Inventory API as channel-fulfilled listings (default true).
    #[serde(default = "yes")]
    pub read_fba: bool,
    /// Import orders placed outside Amazon (`salesChannel.channelName` `NON_AMAZON`: Multi-Channel
    /// Fulfillment orders Amazon ships from FBA stock for other sales channels) as sales of this channel
    /// (default false: their stock effect shows in the FBA inventory read, and they are not sales of this
    /// channel's listings).
    #[serde(default)]
    pub import_non_amazon_orders: bool,
    /// The product type used in patches when a listing's own is unknown (default `PRODUCT`, which
    /// Amazon accepts for offer-only attributes).
    #[serde(default = "default_product_type")]
    pub default_product_type: String,
    /// The carriers `confirmShipment` names by `carrierCode` (matched case-insensitively, sent as spelled
    /// here); any other carrier is sent as `carrierCode` `Other` with its `carrierName`. Amazon's model
    /// gives `carrierCode` no list, so the default ([`crate::DEFAULT_CARRIER_CODES`]) can be replaced.
    #[serde(default = "default_carrier_codes")]
    pub carrier_codes: Vec<String>,
    /// The largest report or feed-result document read, in bytes once decompressed (default
    /// [`DEFAULT_MAX_DOCUMENT_BYTES`], 256 MiB); a larger one fails with
    /// [`AmazonError::DocumentTooLarge`] instead of filling memory.
    /// It also bounds the download as it arrives (a GZIP document gets a little room for its framing).
    #[serde(default = "default_max_document_bytes")]
    pub max_document_bytes: u64,
    /// The Login with Amazon token endpoint (default `https://api.amazon.com/auth/o2/token`): point it at
    /// a sandbox, the emulator or a test server, with `base_url` for the SP-API endpoint. An http(s) URL.
    #[serde(default)]
    pub token_url: Option<String>,
    /// How old a notification may be (by its `PublishTime`) before the engine refuses it as stale, in
    /// seconds (default [`DEFAULT_WEBHOOK_MAX_AGE_SECS`]; 0: no window).
    #[serde(default = "default_webhook_max_age")]
    pub webhook_max_age_secs: u64,
    /// How far behind the time of the request an order poll stops, in seconds (default
    /// [`DEFAULT_ORDERS_SETTLE_SECS`], 120): `searchOrders` is sent with `lastUpdatedBefore` this long
    /// before now, which the model requires to be "at least two minutes before the time of the request", and
    /// the order cursor moves to that bound. Lower it only against a server that allows it (the emulator's
    /// fast config).
    #[serde(default = "default_orders_settle")]
    pub orders_settle_secs: u64,
    /// Transport settings (`base_url`, `timeout_secs`, `max_attempts`, `requests_per_minute`). `base_url`,
    /// when set, replaces the region's SP-API endpoint (a sandbox, the emulator or a test server).
    #[serde(flatten)]
    pub http: HttpOptions,
}

/// Refuse a configured URL that is not an absolute http(s) URL, naming the setting (never a secret).
fn check_url(setting: &str, url: Option<&str>) -> Result<(), AmazonError> {
    let Some(url) = url else { return Ok(()) };
    match url::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(AmazonError::Config(format!("{setting} {url:?} is not an http(s) URL"))),
    }
}

fn default_threshold() -> usize {
    DEFAULT_FEED_THRESHOLD
}
fn yes() -> bool {
    true
}
fn default_product_type() -> String {
    "PRODUCT".to_owned()
}
fn default_carrier_codes() -> Vec<String> {
    crate::orders::DEFAULT_CARRIER_CODES.iter().map(|c| (*c).to_owned()).collect()
}

fn default_max_document_bytes() -> u64 {
    DEFAULT_MAX_DOCUMENT_BYTES
}
fn default_webhook_max_age() -> u64 {
    DEFAULT_WEBHOOK_MAX_AGE_SECS
}
fn default_orders_settle() -> u64 {
    DEFAULT_ORDERS_SETTLE_SECS
}

/// The default [`AmazonConfig::orders_settle_secs`]: the two minutes `searchOrders`' `lastUpdatedBefore`
/// must stay behind the time of the request (orders_2026-01-01.json).
pub const DEFAULT_ORDERS_SETTLE_SECS: u64 = 120;

/// The default notification window, an hour. SP-API documents no window: notifications wait in the
/// destination queue (SQS keeps a message 4 days by default) until read, so a consumer that was down
/// reads a backlog of old absolute quantities and order states. Older than an hour, the reconcile and the
/// order poll are the better source (see `docs/fidelity.md`).
pub const DEFAULT_WEBHOOK_MAX_AGE_SECS: u64 = 3600;

impl AmazonConfig {
    /// A config with everything else at its default.
    pub fn new<I, S>(
        seller_id: impl Into<String>,
        marketplace_ids: I,
        region: Region,
        lwa_client_id: impl Into<String>,
        lwa_client_secret: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            seller_id: seller_id.into(),
            marketplace_ids: marketplace_ids.into_iter().map(Into::into).collect(),
            region,
            lwa_client_id: SecretString::from(lwa_client_id.into()),
            lwa_client_secret: SecretString::from(lwa_client_secret.into()),
            refresh_token: SecretString::from(refresh_token.into()),
            feed_threshold: DEFAULT_FEED_THRESHOLD,
            catalog_source: CatalogSource::default(),
            stock_marketplaces: StockMarketplaces::default(),
            price_marketplaces: PriceMarketplaces::default(),
            report_charset: None,
            read_fba: true,
            import_non_amazon_orders: false,
            default_product_type: default_product_type(),
            carrier_codes: default_carrier_codes(),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            token_url: None,
            webhook_max_age_secs: DEFAULT_WEBHOOK_MAX_AGE_SECS,
            orders_settle_secs: DEFAULT_ORDERS_SETTLE_SECS,
            http: HttpOptions::default(),
        }
    }

    /// Refuse a config no call could succeed with: no seller, no (or a blank) marketplace, more than 50, a
    /// `base_url` or `token_url` that is not an http(s) URL.
    pub(crate) fn validate(&self) -> Result<(), AmazonError> {
        check_url("base_url", self.http.base_url.as_deref())?;
        check_url("token_url", self.token_url.as_deref())?;
        if self.seller_id.trim().is_empty() {
            return Err(AmazonError::Config("seller_id is empty".into()));
        }
        if self.marketplace_ids.is_empty() || self.marketplace_ids.iter().any(|m| m.trim().is_empty()) {
            return Err(AmazonError::Config("give at least one marketplace id (the first is primary)".into()));
        }
        if self.marketplace_ids.len() > 50 {
            return Err(AmazonError::Config("at most 50 marketplace ids".into()));
        }
        // "SP-API Endpoints" / "Marketplace IDs": each marketplace is served by one region's endpoint.
        // An id missing from Amazon's table (a newer marketplace) is let through.
        if let Some((m, r)) = self
            .marketplace_ids
            .iter()
            .find_map(|m| marketplace_region(m.trim()).filter(|r| *r != self.region).map(|r| (m, r)))
        {
            return Err(AmazonError::Config(format!(
                "marketplace {m} is in region {}, not the configured {}",
                r.as_str(),
                self.region.as_str()
            )));
        }
        if let Some(label) = &self.report_charset
            && crate::document::encoding_of(label).is_none()
        {
            return Err(AmazonError::Config(format!("report_charset {label:?} is not a known character set")));
        }
        Ok(())
    }

    /// The transport defaults for this config's region (its endpoint in place of [`DEFAULT_BASE_URL`]).
    pub(crate) fn http_defaults(&self) -> HttpDefaults {
        let mut defaults = HTTP_DEFAULTS;
        defaults.base_url = self.region.endpoint();
        defaults
    }

    /// How old a notification may be before it is refused as stale (`None`: no window; builder style).
    #[must_use]
    pub fn webhook_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.webhook_max_age_secs = channel_core::webhook::max_age_secs(max_age);
        self
    }

    /// The notification window, `None` when `webhook_max_age_secs` is 0.
    pub fn webhook_window(&self) -> Option<Duration> {
        channel_core::webhook::max_age_window(self.webhook_max_age_secs)
    }

    /// Send SP-API requests here instead of the region's endpoint (builder style).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.http.base_url = Some(url.into());
        self
    }

    /// Ask this Login with Amazon token endpoint instead of `https://api.amazon.com/auth/o2/token`
    /// (builder style).
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The timeout of one request attempt, in whole seconds, at least one (builder style; default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// Attempts per request, the first included (builder style).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.http = self.http.max_attempts(attempts);
        self
    }

    /// An overall client-side budget of requests per minute on top of the per-operation usage plans;
    /// `None` for none, the default (builder style).
    #[must_use]
    pub fn requests_per_minute(mut self, rpm: Option<u32>) -> Self {
        self.http = self.http.requests_per_minute(rpm);
        self
    }

    /// Up to this many SKUs, patch each listing; above it, send feeds (builder style).
    #[must_use]
    pub fn feed_threshold(mut self, threshold: usize) -> Self {
        self.feed_threshold = threshold;
        self
    }

    /// The carriers sent by `carrierCode` in shipment confirmations (builder style); see
    /// [`AmazonConfig::carrier_codes`].
    #[must_use]
    pub fn carrier_codes<I, S>(mut self, codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.carrier_codes = codes.into_iter().map(Into::into).collect();
        self
    }

    /// Where the full SKU list comes from (builder style).
    #[must_use]
    pub fn catalog_source(mut self, source: CatalogSource) -> Self {
        self.catalog_source = source;
        self
    }

    /// A bound on decoded report and feed-result documents, in bytes (builder style).
    #[must_use]
    pub fn max_document_bytes(mut self, max_bytes: u64) -> Self {
        self.max_document_bytes = max_bytes;
        self
    }

    /// The marketplaces stock writes go to (builder style).
    #[must_use]
    pub fn stock_marketplaces(mut self, scope: StockMarketplaces) -> Self {
        self.stock_marketplaces = scope;
        self
    }

    /// The marketplaces price writes go to (builder style).
    #[must_use]
    pub fn price_marketplaces(mut self, scope: PriceMarketplaces) -> Self {
        self.price_marketplaces = scope;
        self
    }

    /// Decode listings reports in this character set whatever the download declares (builder style).
    #[must_use]
    pub fn report_charset(mut self, charset: impl Into<String>) -> Self {
        self.report_charset = Some(charset.into());
        self
    }

    /// How far behind now an order poll stops (builder style); see [`AmazonConfig::orders_settle_secs`].
    #[must_use]
    pub fn orders_settle(mut self, settle: Duration) -> Self {
        self.orders_settle_secs = settle.as_secs();
        self
    }

    /// Import orders placed outside Amazon (`NON_AMAZON`) or not (builder style); see
    /// [`AmazonConfig::import_non_amazon_orders`].
    #[must_use]
    pub fn import_non_amazon_orders(mut self, import: bool) -> Self {
        self.import_non_amazon_orders = import;
        self
    }

    /// Read FBA quantities or not (builder style).
    #[must_use]
    pub fn read_fba(mut self, read_fba: bool) -> Self {
        self.read_fba = read_fba;
        self
    }
}

impl fmt::Debug for AmazonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmazonConfig")
            .field("seller_id", &self.seller_id)
            .field("marketplace_ids", &self.marketplace_ids)
            .field("region", &self.region)
            .field("feed_threshold", &self.feed_threshold)
            .field("catalog_source", &self.catalog_source)
            .field("stock_marketplaces", &self.stock_marketplaces)
            .field("price_marketplaces", &self.price_marketplaces)
            .field("report_charset", &self.report_charset)
            .field("read_fba", &self.read_fba)
            .field("import_non_amazon_orders", &self.import_non_amazon_orders)
            .field("default_product_type", &self.default_product_type)
            .field("carrier_codes", &self.carrier_codes)
            .field("max_document_bytes", &self.max_document_bytes)
            .field("token_url", &self.token_url)
            .field("webhook_max_age_secs", &self.webhook_max_age_secs)
            .field("orders_settle_secs", &self.orders_settle_secs)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// The region whose endpoint serves a marketplace ("Marketplace IDs" and "SP-API Endpoints",
/// developer-docs.amazon.com/sp-api/docs/marketplace-ids, …/sp-api-endpoints); `None` for an id not in
/// that table.
pub(crate) fn marketplace_region(marketplace_id: &str) -> Option<Region> {
    Some(match marketplace_id {
        "A2EUQ1WTGCTBG2" | "ATVPDKIKX0DER" | "A1AM78C64UM0Y8" | "A2Q3Y263D00KWC" => Region::Na,
        "A28R8C7NBKEWEA" | "A1RKKUPIHCS9HS" | "A1F83G8C2ARO7P" | "A13V1IB3VIYZZH" | "AMEN7PMS3EDWL"
        | "A1805IZSGTT6HS" | "A1PA6795UKMFR9" | "APJ6JRA9NG5V4" | "A2NODRKZP88ZB9" | "AE08WJ6YKNBMC"
        | "A1C3SOZRARQ6R3" | "ARBP9OOSHTCHU" | "A33AVAJ2PDY3EV" | "A17E79C6D8DWNP" | "A2VIGQ35RCS4UG"
        | "A21TJRUUN4KGV" => Region::Eu,
        "A19VAU5U5O7RUS" | "A39IBJ37TRP1C6" | "A1VC38T7YXB528" => Region::Fe,
        _ => return None,
    })
}

/// The currency Amazon sells in on a marketplace (from the marketplace-id table in Amazon's docs).
pub(crate) fn marketplace_currency(marketplace_id: &str) -> Option<&'static str> {
    Some(match marketplace_id {
        "ATVPDKIKX0DER" => "USD",
        "A2EUQ1WTGCTBG2" => "CAD",
        "A1AM78C64UM0Y8" => "MXN",
        "A2Q3Y263D00KWC" => "BRL",
        "A1F83G8C2ARO7P" => "GBP",
        "A1PA6795UKMFR9" | "A13V1IB3VIYZZH" | "APJ6JRA9NG5V4" | "A1RKKUPIHCS9HS" | "A1805IZSGTT6HS"
        | "AMEN7PMS3EDWL" | "A28R8C7NBKEWEA" => "EUR",
        "A2NODRKZP88ZB9" => "SEK",
        "A1C3SOZRARQ6R3" => "PLN",
        "A33AVAJ2PDY3EV" => "TRY",
        "A2VIGQ35RCS4UG" => "AED",
        "A21TJRUUN4KGV" => "INR",
        "A17E79C6D8DWNP" => "SAR",
        "ARBP9OOSHTCHU" => "EGP",
        "AE08WJ6YKNBMC" => "ZAR",
        "A1VC38T7YXB528" => "JPY",
        "A39IBJ37TRP1C6" => "AUD",
        "A19VAU5U5O7RUS" => "SGD",
        _ => return None,
    })
}
