//! Emulator of the Amazon Selling Partner API (one seller, one marketplace).
//!
//! # Auth
//!
//! `POST /auth/o2/token` (Login with Amazon; form-encoded `grant_type=refresh_token`, `refresh_token`,
//! `client_id`, `client_secret`) answers `{access_token, refresh_token, token_type: "bearer",
//! expires_in}` ([`AmazonConfig::token_lifetime`], 3600 s). Wrong client credentials are `401
//! invalid_client`, a wrong refresh token `400 invalid_grant`. Every SP-API call needs a live token in
//! `x-amz-access-token`; a missing, unknown or expired one is `403` with the SP-API error shape
//! `{"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.", "details":
//! "…has expired."}]}`. [`Amazon::expire_access_tokens`] expires every token at once (for tests).
//!
//! # Operations
//!
//! | operation | route | notes |
//! |---|---|---|
//! | getMarketplaceParticipations | `GET /sellers/v1/marketplaceParticipations` | "test connection" |
//! | getListingsItem | `GET /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds&includedData` | `summaries` (default), `attributes`, `offers`, `fulfillmentAvailability`, `issues` |
//! | patchListingsItem | `PATCH` the same, `{productType, patches}` | see "Listings" |
//! | searchListingsItems | `GET /listings/2021-08-01/items/{sellerId}?marketplaceIds&pageSize&pageToken&identifiers&identifiersType=SKU&sortBy&sortOrder` | `pageSize` ≤ 20, `identifiers` ≤ 20, `sortBy` (`sku`/`createdDate`/`lastUpdatedDate`, default the last), `sortOrder` (`ASC`/`DESC`, default `DESC`) and `includedData` (the model's enum, here and in getListingsItem) as the model says, else `400 InvalidInput`; only the first [`AmazonConfig::max_search_results`] (1,000) SKUs can be paged through, as on Amazon: past them there is no `nextToken` (`numberOfResults` still counts all) |
//! | createFeedDocument / getFeedDocument | `POST /feeds/2021-06-30/documents`, `GET …/documents/{id}` | the pre-signed `url` points at the emulator itself (`/s3/documents/{id}?X-Amz-Signature=…`); `PUT` it with the same `Content-Type` as `contentType` (else `403 SignatureDoesNotMatch`) |
//! | createFeed / getFeed | `POST /feeds/2021-06-30/feeds`, `GET …/feeds/{feedId}` | `IN_QUEUE` → `IN_PROGRESS` → `DONE`/`FATAL` over [`AmazonConfig::processing_delay`], then `resultFeedDocumentId` |
//! | createReport / getReport / getReportDocument | `POST /reports/2021-06-30/reports`, `GET …/reports/{id}`, `GET …/documents/{id}` | `GET_MERCHANT_LISTINGS_ALL_DATA` only: tab-separated, one row per listing, the fulfilment column spelled [`AmazonConfig::fulfilment_column`] (`fulfilment-channel` for a European seller) and encoded and declared in [`AmazonConfig::listings_report_charset`] (`text/plain; charset=Cp1252` in Europe, `utf8` elsewhere); a seller without listings gets `CANCELLED` and no document; with [`AmazonConfig::gzip_documents`] this report and feed processing reports are served gzip-compressed with `compressionAlgorithm: GZIP` |
//! | searchOrders (v2026-01-01) | `GET /orders/2026-01-01/orders?createdAfter\|lastUpdatedAfter&…Before&fulfillmentStatuses&marketplaceIds&fulfilledBy&maxResultsPerPage&paginationToken&includedData` | exactly one of `createdAfter`/`lastUpdatedAfter`; sorted by that date; `maxResultsPerPage` ≤ 100; a `paginationToken` request must repeat every other parameter except `maxResultsPerPage`/`includedData` (else `400`); answers built to `SearchOrdersResponse` |
//! | getOrder (v2026-01-01) | `GET /orders/2026-01-01/orders/{id}?includedData` | `GetOrderResponse`; items always, `FULFILLMENT`, `PACKAGES` (MFN only), `PROCEEDS`, `CANCELLATION` as the model describes them |
//! | confirmShipment (v0) | `POST /orders/v0/orders/{id}/shipmentConfirmation` | MFN only (AFN is `400`); `packageReferenceId` a positive number (else `400 InvalidInput`), the same id edits that package; `204`; `Shipped` once every unit shipped, else `PartiallyShipped` |
//! | getOrders / getOrder / getOrderItems (v0, deprecated) | not served | `404` `{"errors": [{"code": "NotFound", …}]}` as for any unknown resource |
//! | getInventorySummaries | `GET /fba/inventory/v1/summaries?details&granularityType=Marketplace&granularityId&marketplaceIds&sellerSkus&nextToken` | FBA listings only, 50 per page, read-only |
//!
//! # Rate limits
//!
//! One token bucket per operation ([`AmazonRateLimits::documented`]: the rates and bursts of the SP-API
//! models, e.g. patchListingsItem 5/s burst 5, searchOrders 0.0056/s burst 20, plus the
//! `JSON_LISTINGS_FEED` feed-type limit of 5 feeds per 5 minutes). Every answer carries
//! `x-amzn-RateLimit-Limit` (the operation's rate); past the bucket the answer is `429` with
//! `{"errors": [{"code": "QuotaExceeded", …}]}`. [`AmazonRateLimits::fast`] is for tests.
//!
//! # Listings
//!
//! A listing is merchant-fulfilled (`DEFAULT`; its quantity is the merchant stock) or, seeded with
//! `"fulfilment": "channel"`, fulfilled by Amazon ([`AmazonConfig::fba_channel_code`], `AMAZON_NA`; its
//! FBA quantity shows in the FBA inventory and cannot be set). Patches (and feed messages) are validated
//! as a whole: any issue makes the submission `INVALID` with the issues listed, and nothing changes;
//! otherwise `ACCEPTED` and applied at once (`mode=VALIDATION_PREVIEW` answers `VALID`, applying nothing).
//! A body outside `ListingsItemPatchRequest` (an `op` outside `add`/`replace`/`merge`/`delete`, no
//! patches) is `400` with an `ErrorList`. `replace`/`add` replace the whole attribute; `merge` changes only
//! the fields named of the entry its selectors pick (`fulfillment_channel_code`; `marketplace_id` +
//! `currency` + `audience`, all three non-empty ("You must provide non-empty values for the selector
//! field such as audience"; `audience` defaults to `ALL` only for `replace`/`add`); else `marketplace_id` +
//! `language_tag`); a `purchasable_offer` entry without `marketplace_id` is `INVALID` (never filled in), `null` removing a
//! field, so a quantity merge keeps `lead_time_to_ship_max_days` and a price merge keeps
//! `discounted_price` ("Merge a listing", "Manage purchasable offer").
//! Rules: `fulfillment_availability` entries with `AMAZON_*` are refused (`FBA_QUANTITY_READ_ONLY`), as
//! is a `DEFAULT` quantity on an FBA listing (`FULFILLMENT_CHANNEL_CONFLICT`); quantities are whole
//! numbers ≥ 0; `purchasable_offer` must be in the marketplace currency ([`AmazonConfig::currency`]) with
//! a positive `our_price[0].schedule[0].value_with_tax`. Other top-level attributes are stored as given.
//! Patching an unknown SKU (by `patchListingsItem` or a feed's `PATCH` message) creates an offer-only
//! listing holding what was patched (no quantity, merchant-fulfilled) and answers `ACCEPTED`: the model
//! lists no `404` for `patchListingsItem`, and Amazon calls accepting offer data for a SKU it does not know
//! expected (amzn/selling-partner-api-models#2797, #4402); an invalid patch or a `VALIDATION_PREVIEW`
//! creates nothing. For FBA listings
//! `fulfillmentAvailability` names the channel without a quantity, as Amazon does; the quantity is in the
//! FBA inventory.
//!
//! # Feeds
//!
//! `JSON_LISTINGS_FEED` documents are checked against the rules of `listings-feed-schema-v2.json`
//! (header `sellerId` = the seller, `version` "2.0", optional `issueLocale` and `report`; 1 to
//! [`AmazonConfig::max_feed_messages`] (25,000) messages; each message's `messageId` (unique, 1 to
//! 2³¹−1), `sku`, `operationType` and the fields each operation requires or forbids). A problem with the
//! document as a whole makes the feed `FATAL`; an invalid message is reported in the processing report
//! (`issues` with its `messageId`, `messagesInvalid`) and the others are applied. `UPDATE` creates or
//! replaces, `PARTIAL_UPDATE` replaces the given attributes, `PATCH` patches, `DELETE` deletes. The report
//! follows `listings-feed-processing-report-schema-v2.json` (with `items` when the header asks for a
//! `report`). Other feed types end `FATAL` (legacy feeds are no longer supported).
//!
//! # Orders and notifications
//!
//! Orders (control surface) start [`AmazonConfig::initial_order_status`] (`Unshipped`). A merchant (MFN)
//! order takes merchant quantity; an FBA (AFN, `"fulfilment": "channel"`) order takes FBA fulfillable
//! stock and leaves merchant stock alone. Cancelling restores what was not shipped. Amazon delivers
//! notifications through SQS/EventBridge, not HTTPS, so the emulator queues them instead:
//! `ORDER_CHANGE`, `LISTINGS_ITEM_MFN_QUANTITY_CHANGE` and `FBA_INVENTORY_AVAILABILITY_CHANGES`, in the
//! envelope of `schemas/notifications/*.json` (`NotificationVersion`, `NotificationType`,
//! `PayloadVersion`, `EventTime`, `Payload`, `NotificationMetadata`). Drain them with
//! [`Amazon::notifications`] or `GET /_sandbox/notifications` (a route of the API router, so the request
//! log shows it and an unscoped fault can hit it). `POST /_sandbox/webhooks` is `501`.

mod api;
mod orders;
mod state;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::response::IntoResponse;
use axum::routing::get;
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::sandbox::{
    Binding, ControlError, Emulator, Harness, KeyedLimiter, PlaceOrder, PlacedOrder, PlatformControl, RateLimit,
    RegisterWebhook, SeedProduct, WebhookConfig,
};

/// Per-operation rate limits (rate per second and burst), keyed by the SP-API operation name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AmazonRateLimits {
    /// Operation name (`patchListingsItem`, `searchOrders`, …, and `createFeed:JSON_LISTINGS_FEED`) → bucket.
    pub limits: HashMap<String, RateLimit>,
    /// For operations not listed.
    pub default: RateLimit,
}

impl AmazonRateLimits {
    /// The default usage plans from the SP-API models (rate/s, burst).
    pub fn documented() -> Self {
        let table: &[(&str, f64, f64)] = &[
            ("getMarketplaceParticipations", 0.016, 15.0),
            ("getListingsItem", 5.0, 10.0),
            ("patchListingsItem", 5.0, 5.0),
            ("searchListingsItems", 5.0, 5.0),
            ("createFeedDocument", 0.5, 15.0),
            ("getFeedDocument", 0.0222, 10.0),
            ("createFeed", 0.0083, 15.0),
            ("getFeed", 2.0, 15.0),
            ("createFeed:JSON_LISTINGS_FEED", 5.0 / 300.0, 5.0),
            ("createReport", 0.0167, 15.0),
            ("getReport", 2.0, 15.0),
            ("getReportDocument", 0.0167, 15.0),
            ("searchOrders", 0.0056, 20.0),
            ("getOrder", 0.5, 30.0),
            ("confirmShipment", 2.0, 10.0),
            ("getInventorySummaries", 2.0, 2.0),
        ];
        Self {
            limits: table.iter().map(|(op, rate, burst)| ((*op).to_owned(), RateLimit::new(*burst, *rate))).collect(),
            default: RateLimit::new(10.0, 1.0),
        }
    }

    /// The documented operations with buckets so large tests never wait (the header still reports a rate).
    pub fn fast() -> Self {
        let mut limits = Self::documented();
        for limit in limits.limits.values_mut() {
            *limit = RateLimit::new(100_000.0, 100_000.0);
        }
        limits.default = RateLimit::new(100_000.0, 100_000.0);
        limits
    }

    /// Uses `limit` for `operation`.
    #[must_use]
    pub fn with(mut self, operation: impl Into<String>, limit: RateLimit) -> Self {
        self.limits.insert(operation.into(), limit);
        self
    }

    fn limiter(&self) -> KeyedLimiter {
        self.limits
            .iter()
            .fold(KeyedLimiter::new(self.default), |limiter, (op, limit)| limiter.with_override(op.clone(), *limit))
    }
}

/// Emulator settings; defaults follow the documented limits (US marketplace).
#[derive(Clone)]
#[non_exhaustive]
pub struct AmazonConfig {
    /// LWA client id (`amzn1.application-oa2-client.…`).
    pub client_id: String,
    /// LWA client secret (random by default).
    pub client_secret: String,
    /// LWA refresh token (`Atzr|…`, random by default).
    pub refresh_token: String,
    /// Access token lifetime (`expires_in`, 3600 s).
    pub token_lifetime: Duration,
    /// The seller's merchant token (the `sellerId` path parameter).
    pub seller_id: String,
    /// The one marketplace (`ATVPDKIKX0DER`).
    pub marketplace_id: String,
    /// Its country code.
    pub country_code: String,
    /// Its currency (prices must be given in it).
    pub currency: String,
    /// `Amazon.com`.
    pub sales_channel: String,
    /// The seller's store name.
    pub store_name: String,
    /// The FBA fulfillment channel code (`AMAZON_NA`).
    pub fba_channel_code: String,
    /// Rate limits; `None` switches them off.
    pub rate_limits: Option<AmazonRateLimits>,
    /// Largest searchListingsItems `pageSize` (20).
    pub max_search_page_size: usize,
    /// SKUs searchListingsItems can page through (1,000).
    pub max_search_results: usize,
    /// Messages per `JSON_LISTINGS_FEED` (25,000).
    pub max_feed_messages: usize,
    /// How long a feed or report takes from `IN_QUEUE` to `DONE`.
    pub processing_delay: Duration,
    /// Status of a new order (`Unshipped`; `Pending` to emulate payment authorisation).
    pub initial_order_status: &'static str,
    /// Serve generated documents (reports and feed processing reports) gzip-compressed, with
    /// `compressionAlgorithm: GZIP`, as Amazon does for large ones (default false: uncompressed).
    pub gzip_documents: bool,
    /// The header of the `GET_MERCHANT_LISTINGS_ALL_DATA` fulfilment column; `None` (the default): by the
    /// marketplace, `fulfilment-channel` (British spelling) for a European one, as EU and UK accounts
    /// receive it, `fulfillment-channel` elsewhere.
    pub report_fulfilment_column: Option<String>,
    /// The charset listings reports are encoded in and declared with (`Content-Type: text/plain;
    /// charset=…`); `None` (the default): by the marketplace, `Cp1252` for a European one, `utf8`
    /// elsewhere, as Amazon serves them.
    pub report_charset: Option<String>,
    /// How far before the time of a `searchOrders` request its `lastUpdatedBefore` / `createdBefore` must
    /// be: the documented "at least two minutes" (120 s) by default; [`AmazonConfig::fast`] sets 0 s so
    /// tests and the demo see an order as soon as it is placed. A later bound is `400 InvalidInput`.
    pub orders_settle: Duration,
}

/// The European marketplaces (UK, DE, FR, IT, ES, NL, SE, PL, BE, IE, TR), whose listings reports
/// spell `fulfilment-channel` the British way and come in Windows-1252.
pub const EUROPEAN_MARKETPLACES: &[&str] = &[
    "A1F83G8C2ARO7P",
    "A1PA6795UKMFR9",
    "A13V1IB3VIYZZH",
    "APJ6JRA9NG5V4",
    "A1RKKUPIHCS9HS",
    "A1805IZSGTT6HS",
    "A2NODRKZP88ZB9",
    "A1C3SOZRARQ6R3",
    "AMEN7PMS3EDWL",
    "A28R8C7NBKEWEA",
    "A33AVAJ2PDY3EV",
];

impl Default for AmazonConfig {
    fn default() -> Self {
        Self {
            client_id: format!("amzn1.application-oa2-client.{}", uuid::Uuid::new_v4().simple()),
            client_secret: format!("amzn1.oa2-cs.v1.{}", uuid::Uuid::new_v4().simple()),
            refresh_token: format!("Atzr|sandbox-{}", uuid::Uuid::new_v4().simple()),
            token_lifetime: Duration::from_secs(3600),
            seller_id: "A1SANDBOXSELLER".into(),
            marketplace_id: "ATVPDKIKX0DER".into(),
            country_code: "US".into(),
            currency: "USD".into(),
            sales_channel: "Amazon.com".into(),
            store_name: "Sandbox Store".into(),
            fba_channel_code: "AMAZON_NA".into(),
            rate_limits: Some(AmazonRateLimits::documented()),
            max_search_page_size: 20,
            max_search_results: 1000,
            max_feed_messages: 25_000,
            processing_delay: Duration::from_millis(200),
            initial_order_status: "Unshipped",
            gzip_documents: false,
            report_fulfilment_column: None,
            report_charset: None,
            orders_settle: Duration::from_secs(120),
        }
    }
}

impl AmazonConfig {
    /// Defaults with [`AmazonRateLimits::fast`], quick feed processing and no orders settle window, for tests.
    pub fn fast() -> Self {
        Self {
            rate_limits: Some(AmazonRateLimits::fast()),
            processing_delay: Duration::from_millis(20),
            orders_settle: Duration::ZERO,
            ..Self::default()
        }
    }

    fn european(&self) -> bool {
        EUROPEAN_MARKETPLACES.contains(&self.marketplace_id.as_str())
    }

    /// The header of the listings report's fulfilment column.
    pub fn fulfilment_column(&self) -> &str {
        match &self.report_fulfilment_column {
            Some(column) => column,
            None if self.european() => "fulfilment-channel",
            None => "fulfillment-channel",
        }
    }

    /// The charset listings reports are served in.
    pub fn listings_report_charset(&self) -> &str {
        match &self.report_charset {
            Some(charset) => charset,
            None if self.european() => "Cp1252",
            None => "utf8",
        }
    }

    fn validate(&self) -> Result<()> {
        if encoding_rs::Encoding::for_label(self.listings_report_charset().as_bytes()).is_none() {
            return Err(Error::Config(format!("unknown report charset {:?}", self.listings_report_charset())));
        }
        if self.max_search_page_size == 0 || self.max_feed_messages == 0 {
            return Err(Error::Config("page and feed limits must be at least 1".into()));
        }
        if self.seller_id.is_empty() || self.marketplace_id.is_empty() {
            return Err(Error::Config("seller and marketplace ids are required".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for AmazonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmazonConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"******")
            .field("refresh_token", &"******")
            .field("token_lifetime", &self.token_lifetime)
            .field("seller_id", &self.seller_id)
            .field("marketplace_id", &self.marketplace_id)
            .field("currency", &self.currency)
            .field("fba_channel_code", &self.fba_channel_code)
            .field("rate_limits", &self.rate_limits.is_some())
            .field("max_search_page_size", &self.max_search_page_size)
            .field("max_search_results", &self.max_search_results)
            .field("max_feed_messages", &self.max_feed_messages)
            .field("processing_delay", &self.processing_delay)
            .field("gzip_documents", &self.gzip_documents)
            .field("report_fulfilment_column", &self.report_fulfilment_column)
            .field("report_charset", &self.report_charset)
            .finish_non_exhaustive()
    }
}

/// The Amazon platform state behind an emulator.
pub struct Amazon {
    config: AmazonConfig,
    base_url: String,
    harness: Harness,
    limiter: Option<KeyedLimiter>,
    tokens: Mutex<HashMap<String, Instant>>,
    state: Mutex<state::State>,
}

impl fmt::Debug for Amazon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Amazon").field("config", &self.config).field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl Amazon {
    fn new(config: AmazonConfig, base_url: &str, harness: Harness) -> Self {
        let limiter = config.rate_limits.as_ref().map(AmazonRateLimits::limiter);
        Self {
            config,
            base_url: base_url.to_owned(),
            harness,
            limiter,
            tokens: Mutex::default(),
            state: Mutex::new(state::State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The emulator's settings.
    pub fn config(&self) -> &AmazonConfig {
        &self.config
    }

    /// The bucket of `operation` (e.g. to empty it in a test), when rate limits are on.
    pub fn rate_bucket(&self, operation: &str) -> Option<crate::sandbox::TokenBucket> {
        self.limiter.as_ref().map(|limiter| limiter.bucket(operation))
    }

    /// Expires every access token issued so far (clients must exchange the refresh token again).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for expires in self.tokens.lock().unwrap_or_else(PoisonError::into_inner).values_mut() {
            *expires = now;
        }
    }

    /// Takes every queued notification (oldest first).
    pub fn notifications(&self) -> Vec<Value> {
        std::mem::take(&mut self.lock().notifications)
    }

    /// FBA fulfillable quantity of `sku` (`None` for merchant listings).
    pub fn fba_quantity(&self, sku: &str) -> Option<i64> {
        self.lock().listings.get(sku).and_then(|l| l.fba.as_ref().map(|f| f.fulfillable))
    }

    /// Sets the FBA fulfillable quantity of an FBA listing (as an inbound shipment would).
    pub fn set_fba_quantity(&self, sku: &str, quantity: i64) -> Result<(), ControlError> {
        let mut state = self.lock();
        let listing =
            state.listings.get_mut(sku).ok_or_else(|| ControlError::NotFound(format!("no listing with SKU {sku}")))?;
        let fba = listing.fba.as_mut().ok_or_else(|| ControlError::Invalid(format!("{sku} is not an FBA listing")))?;
        fba.fulfillable = quantity.max(0);
        fba.updated = Timestamp::now();
        Ok(())
    }

    /// The price (`our_price`) of `sku`.
    pub fn price(&self, sku: &str) -> Option<rust_decimal::Decimal> {
        self.lock().listings.get(sku).and_then(|l| l.price)
    }

    /// The listing as `getListingsItem` with every `includedData` set shows it.
    pub fn listing_json(&self, sku: &str) -> Option<Value> {
        let all: Vec<String> = ["summaries", "attributes", "offers", "fulfillmentAvailability", "issues"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        self.lock().listings.get(sku).map(|l| l.to_json(&self.config, &all))
    }

    /// Order status (`Unshipped`, `Shipped`, `Canceled`, …) of `order_id`.
    pub fn order_status(&self, order_id: &str) -> Option<&'static str> {
        self.lock().orders.get(order_id).map(|o| o.status)
    }

    /// The `OrderItemId`s of `order_id`, in order (what getOrderItems answers), or `None` for an unknown
    /// order.
    pub fn order_item_ids(&self, order_id: &str) -> Option<Vec<String>> {
        self.lock().orders.get(order_id).map(|o| o.items.iter().map(|i| i.order_item_id.clone()).collect())
    }

    /// Queues notifications in their envelope.
    fn notify(&self, notes: Vec<state::Note>) {
        if notes.is_empty() {
            return;
        }
        let now = Timestamp::now();
        let mut state = self.lock();
        for (kind, payload) in notes {
            state.notifications.push(json!({
                "NotificationVersion": "1.0",
                "NotificationType": kind,
                "PayloadVersion": "1.0",
                "EventTime": now.to_string(),
                "Payload": payload,
                "NotificationMetadata": {
                    "ApplicationId": "amzn1.sellerapps.app.sandbox",
                    "SubscriptionId": format!("sandbox-{}", kind.to_lowercase()),
                    "PublishTime": now.to_string(),
                    "NotificationId": uuid::Uuid::new_v4().to_string(),
                },
            }));
        }
    }
}

impl PlatformControl for Amazon {
    fn name(&self) -> &'static str {
        "amazon"
    }

    fn credentials(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("client_id".into(), json!(self.config.client_id));
        map.insert("client_secret".into(), json!(self.config.client_secret));
        map.insert("refresh_token".into(), json!(self.config.refresh_token));
        map.insert("token_url".into(), json!(format!("{}/auth/o2/token", self.base_url)));
        map.insert("seller_id".into(), json!(self.config.seller_id));
        map.insert("marketplace_id".into(), json!(self.config.marketplace_id));
        map
    }

    fn seed_product(&self, seed: SeedProduct) -> Result<Value, ControlError> {
        self.lock().seed(&self.config, &seed)
    }

    fn stock(&self, sku: &str) -> Result<Option<i64>, ControlError> {
        let state = self.lock();
        let listing =
            state.listings.get(sku).ok_or_else(|| ControlError::NotFound(format!("no listing with SKU {sku}")))?;
        Ok(listing.fba.is_none().then_some(listing.quantity))
    }

    fn place_order(&self, order: PlaceOrder) -> Result<PlacedOrder, ControlError> {
        let (id, notes) = self.lock().place_order(&self.config, &order)?;
        self.notify(notes);
        Ok(PlacedOrder::new(id))
    }

    fn cancel_order(&self, order_id: &str) -> Result<(), ControlError> {
        let notes = self.lock().cancel_order(&self.config, order_id)?;
        self.notify(notes);
        Ok(())
    }

    fn register_webhook(&self, _hook: RegisterWebhook) -> Result<u64, ControlError> {
        Err(ControlError::Unsupported(
            "Amazon delivers notifications through SQS/EventBridge; read GET /_sandbox/notifications instead".into(),
        ))
    }
}

/// A running Amazon SP-API emulator.
pub type AmazonEmulator = Emulator<Amazon>;

impl Emulator<Amazon> {
    /// Starts an emulator on a free loopback port.
    pub async fn start(config: AmazonConfig) -> Result<Self> {
        config.validate()?;
        let binding = Binding::loopback().await?;
        let harness = Harness::new(WebhookConfig::default());
        let platform = Arc::new(Amazon::new(config, binding.base_url(), harness.clone()));
        let drain = Arc::clone(&platform);
        let api = api::router(Arc::clone(&platform)).route(
            "/_sandbox/notifications",
            get(move || {
                let drain = Arc::clone(&drain);
                async move { Json(drain.notifications()).into_response() }
            }),
        );
        Ok(Emulator::serve(binding, harness, platform, api))
    }

    /// `{base_url}/auth/o2/token`, the LWA token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/auth/o2/token", self.base_url())
    }

    /// The LWA client id.
    pub fn client_id(&self) -> &str {
        &self.platform().config.client_id
    }

    /// The LWA client secret.
    pub fn client_secret(&self) -> &str {
        &self.platform().config.client_secret
    }

    /// The LWA refresh token.
    pub fn refresh_token(&self) -> &str {
        &self.platform().config.refresh_token
    }

    /// The seller id (merchant token).
    pub fn seller_id(&self) -> &str {
        &self.platform().config.seller_id
    }

    /// The marketplace id.
    pub fn marketplace_id(&self) -> &str {
        &self.platform().config.marketplace_id
    }

    /// How far behind the time of a `searchOrders` request its `…Before` bound must be
    /// ([`AmazonConfig::orders_settle`]).
    pub fn orders_settle(&self) -> Duration {
        self.platform().config.orders_settle
    }
}
