//! Configuration: the seller, marketplaces, region and Login with Amazon credentials.

use std::fmt;

use channel_core::secrecy::SecretString;
use serde::Deserialize;

use crate::document::DEFAULT_MAX_DOCUMENT_BYTES;

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
            Self::Na => "https://sellingpartnerapi-na.amazon.com",
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
    /// Read FBA quantities from the FBA Inventory API as channel-fulfilled listings (default true).
    #[serde(default = "yes")]
    pub read_fba: bool,
    /// The product type used in patches when a listing's own is unknown (default `PRODUCT`, which
    /// Amazon accepts for offer-only attributes).
    #[serde(default = "default_product_type")]
    pub default_product_type: String,
    /// The largest report or feed-result document read, in bytes once decompressed (default
    /// [`DEFAULT_MAX_DOCUMENT_BYTES`], 256 MiB); a larger one fails with
    /// [`AmazonError::DocumentTooLarge`](crate::AmazonError::DocumentTooLarge) instead of filling memory.
    /// It also bounds the download as it arrives (a GZIP document gets a little room for its framing).
    #[serde(default = "default_max_document_bytes")]
    pub max_document_bytes: u64,
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
fn default_max_document_bytes() -> u64 {
    DEFAULT_MAX_DOCUMENT_BYTES
}

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
            read_fba: true,
            default_product_type: default_product_type(),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }

    /// With a feed threshold (builder style).
    #[must_use]
    pub fn with_feed_threshold(mut self, threshold: usize) -> Self {
        self.feed_threshold = threshold;
        self
    }

    /// With a catalog source (builder style).
    #[must_use]
    pub fn with_catalog_source(mut self, source: CatalogSource) -> Self {
        self.catalog_source = source;
        self
    }

    /// With a bound on decoded report and feed-result documents, in bytes (builder style).
    #[must_use]
    pub fn with_max_document_bytes(mut self, max_bytes: u64) -> Self {
        self.max_document_bytes = max_bytes;
        self
    }

    /// Read FBA quantities or not (builder style).
    #[must_use]
    pub fn with_fba(mut self, read_fba: bool) -> Self {
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
            .field("read_fba", &self.read_fba)
            .field("default_product_type", &self.default_product_type)
            .field("max_document_bytes", &self.max_document_bytes)
            .finish_non_exhaustive()
    }
}

/// The currency Amazon sells in on a marketplace (from the marketplace-id table in Amazon's docs).
pub fn marketplace_currency(marketplace_id: &str) -> Option<&'static str> {
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
