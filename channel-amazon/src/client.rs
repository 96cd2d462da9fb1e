//! The [`Amazon`] channel: transport wiring with per-operation rate limits, listings (search, report, FBA
//! inventory), stock and price writes (patches or a listings feed), orders and shipment confirmation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use channel_core::http::{
    AuthProvider as _, HttpClient, RateLimit, RequestBuilder, Response, ResponseTooLarge, RetryPolicy, burst,
    encode_path_segment,
};
use channel_core::rust_decimal::prelude::ToPrimitive;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Currency, Error, ErrorKind, Fulfilment, ItemOutcome, Listing,
    ListingId, ListingStatus, Money, Order, OrderCursor, OrderLine, OrderPage, OrderStatus, PriceUpdate, Result,
    Shipment, Stock, StockUpdate,
};
use futures::stream::{self, BoxStream, StreamExt};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::{AmazonConfig, CatalogSource, marketplace_currency};
use crate::document;
use crate::error::AmazonError;
use crate::feed::{self, FEED_CONTENT_TYPE, FeedMessage, MAX_FEED_MESSAGES};
use crate::lwa::{DEFAULT_TOKEN_URL, LwaTokens};
use crate::wire::{self, PatchOperation};

/// `searchListingsItems` returns at most 20 items a page.
pub const SEARCH_PAGE_SIZE: usize = 20;
/// `searchListingsItems` pages through at most 1,000 SKUs.
pub const SEARCH_CAP: usize = 1_000;
/// The report that lists every listing, used beyond the search cap.
pub const ALL_LISTINGS_REPORT: &str = "GET_MERCHANT_LISTINGS_ALL_DATA";
/// The suffix of the read-only FBA listing of a SKU.
pub const FBA_SUFFIX: &str = ":fba";

/// The listing id of a SKU's FBA (channel-held) quantity: `<sku>:fba`.
pub fn fba_listing_id(sku: &str) -> ListingId {
    ListingId::new(format!("{sku}{FBA_SUFFIX}"))
}

/// The documented default usage plans (rate per second, burst) of the operations this adapter calls.
/// Responses' `x-amzn-RateLimit-Limit` re-tunes the rate at run time.
pub const DOCUMENTED_RATE_LIMITS: &[(&str, f64, u32)] = &[
    ("searchListingsItems", 5.0, 5),
    ("getListingsItem", 5.0, 10),
    ("patchListingsItem", 5.0, 5),
    ("createFeedDocument", 0.5, 15),
    ("createFeed", 0.0083, 15),
    ("getFeed", 2.0, 15),
    ("getFeedDocument", 0.0222, 10),
    ("createReport", 0.0167, 15),
    ("getReport", 2.0, 15),
    ("getReportDocument", 0.0167, 15),
    ("getInventorySummaries", 2.0, 2),
    ("getOrders", 0.0167, 20),
    ("getOrder", 0.5, 30),
    ("getOrderItems", 0.5, 30),
    ("confirmShipment", 2.0, 10),
    ("getMarketplaceParticipations", 0.016, 15),
];

/// Map an order status (v0 `OrderStatus`, also used by notifications).
pub(crate) fn map_order_status(status: &str) -> OrderStatus {
    match status {
        "Pending" | "PendingAvailability" => OrderStatus::Pending,
        "Unshipped" => OrderStatus::Open,
        "PartiallyShipped" | "Shipped" | "InvoiceUnconfirmed" => OrderStatus::Shipped,
        "Canceled" | "Cancelled" | "Unfulfillable" => OrderStatus::Cancelled,
        _ => OrderStatus::Open,
    }
}

/// Builds an [`Amazon`] channel.
#[derive(Debug)]
pub struct AmazonBuilder {
    config: AmazonConfig,
    base_url: Option<String>,
    token_url: Option<String>,
    retry: Option<RetryPolicy>,
    poll_interval: Duration,
    processing_timeout: Duration,
    documented_limits: bool,
    overrides: Vec<(String, RateLimit)>,
    timeout: Option<Duration>,
}

impl AmazonBuilder {
    /// Send SP-API requests here instead of the region's endpoint (a sandbox, emulator or test server).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Ask this LWA token endpoint instead of `https://api.amazon.com/auth/o2/token`.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The transport's retry policy.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The timeout of one request attempt, token requests included (default: the transport's, 30 s). A
    /// timed-out read is retried; a timed-out write is not (Amazon may have applied it) and fails as
    /// retryable.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How often a feed or report is polled (default 30 s).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long a feed or report may take before the call gives up (default 1 hour).
    #[must_use]
    pub fn processing_timeout(mut self, timeout: Duration) -> Self {
        self.processing_timeout = timeout;
        self
    }

    /// Start from the documented usage plans (default true). Off: no client-side limits until
    /// `x-amzn-RateLimit-Limit` headers arrive.
    #[must_use]
    pub fn documented_rate_limits(mut self, on: bool) -> Self {
        self.documented_limits = on;
        self
    }

    /// Override one operation's limit (a seller with a larger usage plan).
    #[must_use]
    pub fn operation_rate_limit(mut self, operation: impl Into<String>, limit: RateLimit) -> Self {
        self.overrides.push((operation.into(), limit));
        self
    }

    /// Validate the config and build the channel.
    pub fn build(self) -> Result<Amazon> {
        let c = &self.config;
        if c.seller_id.trim().is_empty() {
            return Err(AmazonError::InvalidConfig("seller_id is empty".into()).into());
        }
        if c.marketplace_ids.is_empty() || c.marketplace_ids.iter().any(|m| m.trim().is_empty()) {
            return Err(
                AmazonError::InvalidConfig("give at least one marketplace id (the first is primary)".into()).into()
            );
        }
        if c.marketplace_ids.len() > 50 {
            return Err(AmazonError::InvalidConfig("at most 50 marketplace ids".into()).into());
        }
        let token_url = self.token_url.clone().unwrap_or_else(|| DEFAULT_TOKEN_URL.to_owned());
        let mut token_http = HttpClient::builder().name("amazon:lwa").base_url(&token_url);
        if let Some(r) = self.retry {
            token_http = token_http.retry(r);
        }
        if let Some(t) = self.timeout {
            token_http = token_http.timeout(t);
        }
        let lwa = Arc::new(LwaTokens::new(
            token_http.build()?,
            token_url,
            c.lwa_client_id.clone(),
            c.lwa_client_secret.clone(),
            c.refresh_token.clone(),
        ));
        let base = self.base_url.clone().unwrap_or_else(|| c.region.endpoint().to_owned());
        let mut builder = HttpClient::builder()
            .name(format!("amazon:{}", c.seller_id))
            .base_url(base)
            .auth(channel_core::http::Auth::provider(Arc::clone(&lwa) as Arc<dyn channel_core::http::AuthProvider>))
            .redact_header("x-amz-access-token");
        if self.documented_limits {
            for (op, rate, b) in DOCUMENTED_RATE_LIMITS {
                if let Some(limit) = RateLimit::per_second_f64(*rate) {
                    builder = builder.operation_rate_limit(*op, limit.with_burst(burst(*b)));
                }
            }
        }
        for (op, limit) in self.overrides {
            builder = builder.operation_rate_limit(op, limit);
        }
        if let Some(r) = self.retry {
            builder = builder.retry(r);
        }
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        Ok(Amazon {
            inner: Arc::new(Inner {
                http: builder.build()?,
                lwa,
                config: self.config,
                poll_interval: self.poll_interval,
                processing_timeout: self.processing_timeout,
            }),
        })
    }
}

/// An Amazon seller account over the Selling Partner API. Cheap to clone.
#[derive(Clone)]
pub struct Amazon {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    lwa: Arc<LwaTokens>,
    config: AmazonConfig,
    poll_interval: Duration,
    processing_timeout: Duration,
}

impl fmt::Debug for Amazon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Amazon")
            .field("config", &self.inner.config)
            .field("http", &self.inner.http)
            .field("lwa", &self.inner.lwa)
            .finish_non_exhaustive()
    }
}

/// What happened to one write, before it becomes an [`ItemOutcome`].
enum WriteResult {
    Applied(Option<i64>),
    Rejected(String, bool),
}

impl Amazon {
    /// Start building a channel.
    pub fn builder(config: AmazonConfig) -> AmazonBuilder {
        AmazonBuilder {
            config,
            base_url: None,
            token_url: None,
            retry: None,
            poll_interval: Duration::from_secs(30),
            processing_timeout: Duration::from_secs(3600),
            documented_limits: true,
            overrides: Vec::new(),
            timeout: None,
        }
    }

    /// A channel with default settings.
    pub fn new(config: AmazonConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// The transport (for tests and diagnostics).
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// How many LWA token requests this channel has made.
    pub fn token_requests(&self) -> u64 {
        self.inner.lwa.token_requests()
    }

    fn primary(&self) -> &str {
        // `build` refuses an empty marketplace list.
        self.inner.config.marketplace_ids.first().map_or("", String::as_str)
    }

    fn currency_of(marketplace: &str) -> Option<Currency> {
        marketplace_currency(marketplace).and_then(|c| Currency::new(c).ok())
    }

    /// Send a request built by `make`; when SP-API answers `403 Unauthorized` (an access token that
    /// expired or was revoked before its time), drop the cached token and send it once more.
    async fn send<'a>(&'a self, make: impl Fn() -> RequestBuilder<'a>) -> Result<Response<Bytes>> {
        match make().send().await {
            Err(e) if e.kind() == ErrorKind::Auth && e.status() == Some(403) => {
                tracing::debug!(error = %e, "403 from SP-API: fetching a new access token and trying once more");
                self.inner.lwa.invalidate();
                make().send().await
            }
            other => other,
        }
    }

    async fn send_json<'a, T: DeserializeOwned>(&'a self, make: impl Fn() -> RequestBuilder<'a>) -> Result<T> {
        self.send(make).await?.json::<T>()
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)], op: &str) -> Result<T> {
        self.send_json(|| {
            self.inner.http.get(path).query_pairs(query.iter().map(|(k, v)| (*k, v.as_str()))).operation(op)
        })
        .await
    }

    /// A document's bytes, decompressed and bounded (see [`crate::document`]). `max_document_bytes` bounds
    /// the download too, as it arrives: a plain document exactly, a gzip one with room for gzip's framing,
    /// so that a document that decodes within the bound is not refused for its compressed size.
    async fn download(&self, url: &str, compression: Option<&str>, what: &'static str) -> Result<Bytes> {
        let algorithm = compression.map(str::trim).unwrap_or_default();
        if !algorithm.is_empty() && !algorithm.eq_ignore_ascii_case("GZIP") {
            // Refused before downloading what could not be read.
            return Err(AmazonError::Compressed { what, algorithm: algorithm.to_owned() }.into());
        }
        let max = self.inner.config.max_document_bytes;
        // Deflate's stored blocks add 5 bytes in 65,535 and each gzip member a header and trailer.
        let download_limit = if algorithm.is_empty() { max } else { max.saturating_add(max / 1024 + 64 * 1024) };
        let resp = self
            .inner
            .http
            .get(url)
            .without_auth()
            .without_rate_limit()
            .operation("downloadDocument")
            .max_response_bytes(download_limit)
            .send()
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<ResponseTooLarge>());
                if too_large { AmazonError::DocumentTooLarge { what, limit: max }.into() } else { e }
            })?;
        Ok(document::decode_bytes(what, resp.into_body(), compression, max)?)
    }

    // ---- listings ----

    fn listing_from_item(&self, item: &wire::Item) -> Option<Listing> {
        let marketplace = self.primary();
        let merchant = item.fulfillment_availability.iter().find(|f| f.fulfillment_channel_code == "DEFAULT");
        let stock = match merchant {
            Some(f) => Stock::Tracked { quantity: f.quantity.unwrap_or(0) },
            // Only Amazon channels: an FBA SKU, listed from the FBA inventory instead.
            None if !item.fulfillment_availability.is_empty() => return None,
            None => Stock::Untracked,
        };
        let summary =
            item.summaries.iter().find(|s| s.marketplace_id == marketplace).or_else(|| item.summaries.first());
        let status = match summary {
            Some(s) if s.status.iter().any(|x| x == "BUYABLE") => ListingStatus::Active,
            Some(_) => ListingStatus::Inactive,
            None => ListingStatus::Active,
        };
        let mut l = Listing::new(item.sku.as_str(), item.sku.clone(), 0)
            .with_stock(stock)
            .with_status(status)
            .with_id("marketplace_id", marketplace);
        if let Some(s) = summary {
            if let Some(pt) = &s.product_type {
                l = l.with_id("product_type", pt.clone());
            }
            if let Some(asin) = &s.asin {
                l = l.with_id("asin", asin.clone());
            }
        }
        let offer = item
            .offers
            .iter()
            .filter(|o| o.marketplace_id == marketplace)
            .find(|o| o.offer_type.as_deref().is_none_or(|t| t == "B2C"));
        if let Some(price) = offer.and_then(|o| o.price.as_ref())
            && let (Ok(c), Some(amount)) = (Currency::new(&price.currency_code), price.amount.decimal())
        {
            l = l.with_price(Money::new(amount, c));
        }
        Some(l)
    }

    /// Every SKU by `searchListingsItems` (at most 1,000); `true` when the cap was reached.
    async fn search_all(&self) -> Result<(Vec<Listing>, bool)> {
        let path = format!("/listings/2021-08-01/items/{}", encode_path_segment(&self.inner.config.seller_id));
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        let mut seen = 0usize;
        loop {
            let mut q = vec![
                ("marketplaceIds", self.primary().to_owned()),
                ("includedData", "summaries,offers,fulfillmentAvailability".to_owned()),
                ("pageSize", SEARCH_PAGE_SIZE.to_string()),
            ];
            if let Some(t) = &token {
                q.push(("pageToken", t.clone()));
            }
            let page: wire::ItemSearchResults = self.get_json(&path, &q, "searchListingsItems").await?;
            seen += page.items.len();
            out.extend(page.items.iter().filter_map(|i| self.listing_from_item(i)));
            let more = page.pagination.and_then(|p| p.next_token).filter(|t| !t.is_empty());
            // Amazon stops paging at 1,000 SKUs (no further token while `numberOfResults` counts more): past
            // it, or as soon as the count says the catalog is larger, the report is the way.
            let total = page.number_of_results.and_then(|n| usize::try_from(n).ok());
            let ended = more.is_none() || page.items.is_empty();
            let capped = total.is_some_and(|n| n > SEARCH_CAP)
                || (seen >= SEARCH_CAP && !ended)
                || (ended && total.is_some_and(|n| n > seen));
            if capped {
                return Ok((out, true));
            }
            match more {
                Some(t) if !page.items.is_empty() => token = Some(t),
                _ => return Ok((out, false)),
            }
        }
    }

    async fn wait_until_done<F, Fut>(&self, what: &str, mut poll: F) -> Result<wire::Report>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<wire::Report>>,
    {
        let deadline = Instant::now() + self.inner.processing_timeout;
        loop {
            let r = poll().await?;
            match r.processing_status.as_str() {
                "DONE" | "CANCELLED" | "FATAL" => return Ok(r),
                _ if Instant::now() >= deadline => {
                    return Err(AmazonError::StillProcessing(format!(
                        "{what} still {} after {:?}",
                        r.processing_status, self.inner.processing_timeout
                    ))
                    .into());
                }
                _ => tokio::time::sleep(self.inner.poll_interval).await,
            }
        }
    }

    /// Every merchant listing from the `GET_MERCHANT_LISTINGS_ALL_DATA` report.
    async fn report_all(&self) -> Result<Vec<Listing>> {
        let body = json!({"reportType": ALL_LISTINGS_REPORT, "marketplaceIds": [self.primary()]});
        let created: wire::CreateReportResponse = self
            .send_json(|| {
                self.inner
                    .http
                    .post("/reports/2021-06-30/reports")
                    .json(&body)
                    .operation("createReport")
                    .idempotent(true)
            })
            .await?;
        let path = format!("/reports/2021-06-30/reports/{}", encode_path_segment(&created.report_id));
        let report = self
            .wait_until_done(&format!("report {}", created.report_id), || self.get_json(&path, &[], "getReport"))
            .await?;
        let doc_id = match (report.processing_status.as_str(), report.report_document_id) {
            ("DONE", Some(id)) => id,
            (status, _) => {
                return Err(Error::transient(format!("the {ALL_LISTINGS_REPORT} report ended {status}")));
            }
        };
        let doc: wire::FeedDocument = self
            .get_json(
                &format!("/reports/2021-06-30/documents/{}", encode_path_segment(&doc_id)),
                &[],
                "getReportDocument",
            )
            .await?;
        let body = self.download(&doc.url, doc.compression_algorithm.as_deref(), "report").await?;
        Ok(parse_listings_report(&String::from_utf8_lossy(&body), self.primary()))
    }

    /// FBA quantities as channel-fulfilled listings `<sku>:fba`.
    async fn fba_all(&self) -> Result<Vec<Listing>> {
        let m = self.primary().to_owned();
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let mut q = vec![
                ("details", "true".to_owned()),
                ("granularityType", "Marketplace".to_owned()),
                ("granularityId", m.clone()),
                ("marketplaceIds", m.clone()),
            ];
            if let Some(t) = &token {
                q.push(("nextToken", t.clone()));
            }
            let page: wire::InventorySummariesResponse =
                self.get_json("/fba/inventory/v1/summaries", &q, "getInventorySummaries").await?;
            let summaries = page.payload.map(|p| p.inventory_summaries).unwrap_or_default();
            for s in &summaries {
                let Some(sku) = s.seller_sku.as_deref().filter(|s| !s.is_empty()) else { continue };
                let quantity =
                    s.inventory_details.as_ref().and_then(|d| d.fulfillable_quantity).or(s.total_quantity).unwrap_or(0);
                let mut l = Listing::new(fba_listing_id(sku), sku, quantity)
                    .with_fulfilment(Fulfilment::Channel)
                    .with_id("marketplace_id", m.clone())
                    .with_id("fulfilment", "channel");
                if let Some(a) = &s.asin {
                    l = l.with_id("asin", a.clone());
                }
                if let Some(f) = &s.fn_sku {
                    l = l.with_id("fnsku", f.clone());
                }
                out.push(l);
            }
            match page.pagination.and_then(|p| p.next_token).filter(|t| !t.is_empty()) {
                Some(t) if !summaries.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    async fn read_listings(&self) -> Result<Vec<Listing>> {
        let mut out = match self.inner.config.catalog_source {
            CatalogSource::Search => self.search_all().await?.0,
            CatalogSource::Report => self.report_all().await?,
            CatalogSource::Auto => match self.search_all().await? {
                (listings, false) => listings,
                (_, true) => {
                    tracing::info!("more than {SEARCH_CAP} SKUs: reading the {ALL_LISTINGS_REPORT} report");
                    self.report_all().await?
                }
            },
        };
        if self.inner.config.read_fba {
            out.extend(self.fba_all().await?);
        }
        Ok(out)
    }

    // ---- writes ----

    fn product_type(&self, ids: &channel_core::PlatformIds) -> String {
        ids.get("product_type").cloned().unwrap_or_else(|| self.inner.config.default_product_type.clone())
    }

    async fn patch_one(
        &self,
        sku: &str,
        product_type: &str,
        patch: &PatchOperation,
        marketplaces: &str,
    ) -> Result<wire::SubmissionResponse> {
        let path = format!(
            "/listings/2021-08-01/items/{}/{}",
            encode_path_segment(&self.inner.config.seller_id),
            encode_path_segment(sku)
        );
        let body = json!({"productType": product_type, "patches": [patch]});
        self.send_json(|| {
            self.inner
                .http
                .patch(&path)
                .query("marketplaceIds", marketplaces)
                .query("issueLocale", "en_US")
                .json(&body)
                .operation("patchListingsItem")
                // Replacing an attribute with an absolute value may safely be repeated.
                .idempotent(true)
        })
        .await
    }

    /// Patch each item (a few SKUs), up to five at once; the bucket paces them.
    async fn write_by_patches(
        &self,
        items: Vec<(String, String, PatchOperation, String, Option<i64>)>,
    ) -> Result<Vec<WriteResult>> {
        let calls: Vec<_> = items
            .iter()
            .cloned()
            .map(|(sku, pt, patch, marketplaces, _)| {
                let this = self.clone();
                async move { this.patch_one(&sku, &pt, &patch, &marketplaces).await }
            })
            .collect();
        let results: Vec<Result<wire::SubmissionResponse>> = stream::iter(calls).buffered(5).collect().await;
        let mut written = false;
        let mut out = Vec::with_capacity(results.len());
        for (r, (_, _, _, _, quantity)) in results.into_iter().zip(&items) {
            out.push(match r {
                Ok(sub) if sub.status == "INVALID" => {
                    written = true;
                    let reason: Vec<String> = sub
                        .issues
                        .iter()
                        .filter(|i| i.severity.eq_ignore_ascii_case("ERROR"))
                        .map(|i| format!("{}: {}", i.code, i.message))
                        .collect();
                    WriteResult::Rejected(
                        if reason.is_empty() { "INVALID".to_owned() } else { reason.join("; ") },
                        false,
                    )
                }
                Ok(_) => {
                    written = true;
                    WriteResult::Applied(*quantity)
                }
                Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Config) && !written => return Err(e),
                Err(e) => WriteResult::Rejected(e.to_string(), e.is_retryable()),
            });
        }
        Ok(out)
    }

    /// One `JSON_LISTINGS_FEED` for at most 25,000 messages: upload, submit, poll, read the report.
    async fn write_by_feed(&self, messages: &[FeedMessage], quantities: &[Option<i64>]) -> Result<Vec<WriteResult>> {
        let document = feed::document(&self.inner.config.seller_id, messages);
        let bytes = serde_json::to_vec(&document)
            .map_err(|e| Error::validation("the feed does not serialize").with_source(e))?;
        let doc_body = json!({"contentType": FEED_CONTENT_TYPE});
        let doc: wire::FeedDocument = self
            .send_json(|| {
                self.inner
                    .http
                    .post("/feeds/2021-06-30/documents")
                    .json(&doc_body)
                    .operation("createFeedDocument")
                    .idempotent(true)
            })
            .await?;
        let doc_id = doc
            .feed_document_id
            .ok_or_else(|| AmazonError::UnexpectedResponse("createFeedDocument returned no feedDocumentId".into()))?;
        // The pre-signed upload URL carries its own authorization.
        self.inner
            .http
            .put(&doc.url)
            .without_auth()
            .without_rate_limit()
            .body(bytes, FEED_CONTENT_TYPE)
            .operation("uploadFeedDocument")
            .send()
            .await?;
        let feed_body = json!({
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": self.inner.config.marketplace_ids,
            "inputFeedDocumentId": doc_id,
        });
        let created: wire::CreateFeedResponse = self
            .send_json(|| {
                self.inner
                    .http
                    .post("/feeds/2021-06-30/feeds")
                    .json(&feed_body)
                    .operation("createFeed")
                    // A second copy of a feed of absolute values does no harm.
                    .idempotent(true)
            })
            .await?;
        let path = format!("/feeds/2021-06-30/feeds/{}", encode_path_segment(&created.feed_id));
        let deadline = Instant::now() + self.inner.processing_timeout;
        let fed: wire::Feed = loop {
            let f: wire::Feed = self.get_json(&path, &[], "getFeed").await?;
            match f.processing_status.as_str() {
                "DONE" | "CANCELLED" | "FATAL" => break f,
                s if Instant::now() >= deadline => {
                    return Err(AmazonError::StillProcessing(format!(
                        "feed {} still {s} after {:?}; its outcome is unknown",
                        created.feed_id, self.inner.processing_timeout
                    ))
                    .into());
                }
                _ => tokio::time::sleep(self.inner.poll_interval).await,
            }
        };
        let report = match &fed.result_feed_document_id {
            Some(id) => {
                let d: wire::FeedDocument = self
                    .get_json(
                        &format!("/feeds/2021-06-30/documents/{}", encode_path_segment(id)),
                        &[],
                        "getFeedDocument",
                    )
                    .await?;
                let body = self.download(&d.url, d.compression_algorithm.as_deref(), "processing report").await?;
                Some(serde_json::from_slice::<wire::ProcessingReport>(&body).map_err(|e| {
                    Error::from(AmazonError::UnexpectedResponse(format!("unreadable processing report: {e}")))
                })?)
            }
            None => None,
        };
        let errors = report.as_ref().map(feed::errors_by_message).unwrap_or_default();
        let feed_level = report.as_ref().map(feed::feed_errors).unwrap_or_default();
        let status = fed.processing_status.as_str();
        Ok((0..messages.len())
            .map(|i| {
                let id = u64::try_from(i + 1).unwrap_or(u64::MAX);
                match errors.get(&id) {
                    Some(e) => WriteResult::Rejected(e.join("; "), false),
                    None if status == "DONE" && report.is_some() => WriteResult::Applied(quantities[i]),
                    None => {
                        let mut reason = format!("feed {} ended {status}", fed.feed_id);
                        if !feed_level.is_empty() {
                            reason.push_str(&format!(": {}", feed_level.join("; ")));
                        }
                        WriteResult::Rejected(reason, status != "DONE" || report.is_none())
                    }
                }
            })
            .collect())
    }

    /// Patch or feed, by count; `items` are (sku, product type, patch, marketplaces, quantity).
    async fn write(
        &self,
        items: Vec<(String, String, PatchOperation, String, Option<i64>)>,
    ) -> Result<Vec<WriteResult>> {
        if items.len() <= self.inner.config.feed_threshold {
            return self.write_by_patches(items).await;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut written = false;
        for chunk in items.chunks(MAX_FEED_MESSAGES) {
            let messages: Vec<FeedMessage> = chunk
                .iter()
                .map(|(sku, pt, patch, _, _)| FeedMessage {
                    sku: sku.clone(),
                    product_type: pt.clone(),
                    patches: vec![patch.clone()],
                })
                .collect();
            let quantities: Vec<Option<i64>> = chunk.iter().map(|c| c.4).collect();
            match self.write_by_feed(&messages, &quantities).await {
                Ok(results) => {
                    written = true;
                    out.extend(results);
                }
                Err(e) if !written => return Err(e),
                Err(e) => out.extend(chunk.iter().map(|_| WriteResult::Rejected(e.to_string(), e.is_retryable()))),
            }
        }
        Ok(out)
    }

    async fn order_items(&self, order_id: &str) -> Result<Vec<wire::OrderItem>> {
        let path = format!("/orders/v0/orders/{}/orderItems", encode_path_segment(order_id));
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let q: Vec<(&str, String)> = token.iter().map(|t| ("NextToken", t.clone())).collect();
            let page: wire::Payload<wire::OrderItemsList> = self.get_json(&path, &q, "getOrderItems").await?;
            out.extend(page.payload.order_items);
            match page.payload.next_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    async fn map_order(&self, o: &wire::Order) -> Result<Order> {
        let afn = o.fulfillment_channel.as_deref() == Some("AFN");
        let items = self.order_items(&o.amazon_order_id).await?;
        let lines = items
            .iter()
            .map(|i| {
                let sku = i.seller_sku.clone().unwrap_or_default();
                let q = u32::try_from(i.quantity_ordered.max(0)).unwrap_or(u32::MAX);
                let mut line = OrderLine::new(i.order_item_id.clone(), sku.clone(), q);
                line = if afn {
                    line.with_fulfilment(Fulfilment::Channel).with_listing(fba_listing_id(&sku))
                } else {
                    line.with_listing(sku)
                };
                if let Some(p) = &i.item_price
                    && let (Some(c), Some(a)) = (
                        p.currency_code.as_deref().and_then(|c| Currency::new(c).ok()),
                        p.amount.as_ref().and_then(wire::AmountValue::decimal),
                    )
                    && q > 0
                {
                    line = line.with_unit_price(Money::new(a / rust_decimal::Decimal::from(q), c).round_to_minor());
                }
                line
            })
            .collect();
        let created = o.purchase_date.parse::<Timestamp>().map_err(|e| {
            Error::decode(format!("order {}: unreadable PurchaseDate", o.amazon_order_id)).with_source(e)
        })?;
        let updated = o.last_update_date.parse::<Timestamp>().unwrap_or(created);
        Ok(Order::new(
            o.amazon_order_id.clone(),
            map_order_status(&o.order_status),
            o.order_status.clone(),
            lines,
            created,
            updated,
        ))
    }
}

/// Parse a `GET_MERCHANT_LISTINGS_ALL_DATA` report (tab-separated, header row) into merchant listings;
/// FBA rows (`fulfillment-channel` `AMAZON_*`) are left to the FBA inventory.
pub fn parse_listings_report(text: &str, marketplace_id: &str) -> Vec<Listing> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Vec::new() };
    let cols: Vec<String> =
        header.split('\t').map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase()).collect();
    let col = |name: &str| cols.iter().position(|c| c == name);
    let (Some(sku_col), qty_col, price_col, status_col, channel_col, asin_col) =
        (col("seller-sku"), col("quantity"), col("price"), col("status"), col("fulfillment-channel"), col("asin1"))
    else {
        return Vec::new();
    };
    let currency = marketplace_currency(marketplace_id).and_then(|c| Currency::new(c).ok());
    lines
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: Option<usize>| i.and_then(|i| f.get(i)).map(|s| s.trim()).filter(|s| !s.is_empty());
            let sku = get(Some(sku_col))?;
            if get(channel_col).is_some_and(|c| c.to_ascii_uppercase().starts_with("AMAZON")) {
                return None;
            }
            let stock = match get(qty_col).and_then(|q| q.parse::<i64>().ok()) {
                Some(q) => Stock::Tracked { quantity: q },
                None => Stock::Untracked,
            };
            let status = match get(status_col) {
                Some(s) if !s.eq_ignore_ascii_case("active") => ListingStatus::Inactive,
                _ => ListingStatus::Active,
            };
            let mut l = Listing::new(sku, sku, 0)
                .with_stock(stock)
                .with_status(status)
                .with_id("marketplace_id", marketplace_id);
            if let Some(a) = get(asin_col) {
                l = l.with_id("asin", a);
            }
            if let (Some(c), Some(p)) = (currency, get(price_col).and_then(|p| p.parse().ok())) {
                l = l.with_price(Money::new(p, c));
            }
            Some(l)
        })
        .collect()
}

fn is_fba(id: &ListingId, ids: &channel_core::PlatformIds) -> bool {
    id.as_str().ends_with(FBA_SUFFIX) || ids.get("fulfilment").is_some_and(|f| f == "channel")
}

const KNOWN_CARRIERS: &[&str] = &[
    "UPS",
    "USPS",
    "FedEx",
    "DHL",
    "DHL eCommerce",
    "Royal Mail",
    "Parcelforce",
    "DPD",
    "Hermes",
    "Evri",
    "GLS",
    "Canada Post",
    "Australia Post",
    "Japan Post",
    "Yamato Transport",
    "Sagawa Express",
    "Amazon Shipping",
    "OnTrac",
    "Purolator",
    "Deutsche Post",
    "Correos",
    "Colissimo",
    "Chronopost",
    "Poste Italiane",
    "PostNL",
];

#[async_trait]
impl Channel for Amazon {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Amazon
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::builder()
            .max_stock_batch(MAX_FEED_MESSAGES)
            .max_price_batch(MAX_FEED_MESSAGES)
            .listing_page_size(SEARCH_PAGE_SIZE)
            .webhooks(false)
            .tracking_export(true)
            .price_sync(true)
            .channel_held_stock(true)
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let p: wire::Payload<Vec<wire::Participation>> =
            self.get_json("/sellers/v1/marketplaceParticipations", &[], "getMarketplaceParticipations").await?;
        for m in &self.inner.config.marketplace_ids {
            if !p.payload.iter().any(|x| &x.marketplace.id == m) {
                return Err(
                    AmazonError::InvalidConfig(format!("the seller does not participate in marketplace {m}")).into()
                );
            }
        }
        let mut id = AccountIdentity::new(ChannelKind::Amazon, self.inner.config.seller_id.clone())
            .with_detail("region", self.inner.config.region.as_str())
            .with_detail("marketplace", self.primary());
        if let Some(name) =
            p.payload.iter().find(|x| x.marketplace.id == self.primary()).and_then(|x| x.marketplace.name.clone())
        {
            id = id.with_name(name);
        }
        Ok(id)
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        stream::once(self.read_listings())
            .flat_map(|r| match r {
                Ok(v) => stream::iter(v.into_iter().map(Ok)).boxed(),
                Err(e) => stream::iter([Err(e)]).boxed(),
            })
            .boxed()
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut items = Vec::new();
        let mut index = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            if is_fba(&u.listing, &u.ids) {
                outcomes[i] = Some(ItemOutcome::rejected(
                    u.listing.clone(),
                    "FBA quantity is held by Amazon and never written",
                    false,
                ));
            } else if u.quantity < 0 {
                outcomes[i] =
                    Some(ItemOutcome::rejected(u.listing.clone(), "negative quantities are not pushed", false));
            } else {
                index.push(i);
                items.push((
                    u.listing.as_str().to_owned(),
                    self.product_type(&u.ids),
                    feed::quantity_patch(u.quantity),
                    self.primary().to_owned(),
                    Some(u.quantity),
                ));
            }
        }
        let results = if items.is_empty() { Vec::new() } else { self.write(items).await? };
        for (i, r) in index.into_iter().zip(results) {
            let l = updates[i].listing.clone();
            outcomes[i] = Some(match r {
                WriteResult::Applied(q) => ItemOutcome::applied(l, q),
                WriteResult::Rejected(reason, retry) => ItemOutcome::rejected(l, reason, retry),
            });
        }
        Ok(outcomes
            .into_iter()
            .zip(updates)
            .map(|(o, u)| o.unwrap_or_else(|| ItemOutcome::rejected(u.listing.clone(), "not sent", true)))
            .collect())
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut items = Vec::new();
        let mut index = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            if is_fba(&u.listing, &u.ids) {
                outcomes[i] = Some(ItemOutcome::rejected(
                    u.listing.clone(),
                    "prices are written on the merchant SKU, not its :fba listing",
                    false,
                ));
                continue;
            }
            let markets: Vec<&String> = self
                .inner
                .config
                .marketplace_ids
                .iter()
                .filter(|m| Self::currency_of(m) == Some(u.price.currency))
                .collect();
            let amount = u.price.round_to_minor().amount.to_f64();
            let (false, Some(amount)) = (markets.is_empty(), amount) else {
                outcomes[i] = Some(ItemOutcome::rejected(
                    u.listing.clone(),
                    format!("no configured marketplace sells in {}", u.price.currency),
                    false,
                ));
                continue;
            };
            let offers: Vec<(String, String, f64)> =
                markets.iter().map(|m| ((*m).clone(), u.price.currency.code().to_owned(), amount)).collect();
            let joined = markets.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",");
            index.push(i);
            items.push((
                u.listing.as_str().to_owned(),
                self.product_type(&u.ids),
                feed::price_patch(&offers),
                joined,
                None,
            ));
        }
        let results = if items.is_empty() { Vec::new() } else { self.write(items).await? };
        for (i, r) in index.into_iter().zip(results) {
            let l = updates[i].listing.clone();
            outcomes[i] = Some(match r {
                WriteResult::Applied(_) => ItemOutcome::applied(l, None),
                WriteResult::Rejected(reason, retry) => ItemOutcome::rejected(l, reason, retry),
            });
        }
        Ok(outcomes
            .into_iter()
            .zip(updates)
            .map(|(o, u)| o.unwrap_or_else(|| ItemOutcome::rejected(u.listing.clone(), "not sent", true)))
            .collect())
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let since = cursor.since;
        let markets = self.inner.config.marketplace_ids.join(",");
        struct St {
            token: Option<String>,
            first: bool,
            max_seen: Timestamp,
        }
        stream::try_unfold(St { token: None, first: true, max_seen: since }, move |mut st| {
            let markets = markets.clone();
            async move {
                if !st.first && st.token.is_none() {
                    return Ok(None);
                }
                let mut q = vec![("MarketplaceIds", markets)];
                match st.token.take() {
                    Some(t) => q.push(("NextToken", t)),
                    None => {
                        q.push(("LastUpdatedAfter", since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
                        q.push(("MaxResultsPerPage", "100".to_owned()));
                    }
                }
                st.first = false;
                let page: wire::Payload<wire::OrdersList> = self.get_json("/orders/v0/orders", &q, "getOrders").await?;
                let mut orders = Vec::with_capacity(page.payload.orders.len());
                for o in &page.payload.orders {
                    let order = self.map_order(o).await?;
                    st.max_seen = st.max_seen.max(order.updated_at);
                    orders.push(order);
                }
                st.token = page.payload.next_token.filter(|t| !t.is_empty());
                let next = if st.token.is_some() { since } else { st.max_seen };
                Ok::<_, Error>(Some((OrderPage::new(orders, OrderCursor::new(next)), st)))
            }
        })
        .boxed()
    }

    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order_id = shipment.order.as_str();
        let o: wire::Payload<wire::Order> =
            self.get_json(&format!("/orders/v0/orders/{}", encode_path_segment(order_id)), &[], "getOrder").await?;
        if o.payload.fulfillment_channel.as_deref() == Some("AFN") {
            return Err(AmazonError::AmazonFulfilled(order_id.to_owned()).into());
        }
        let items: Vec<Value> = if shipment.lines.is_empty() {
            self.order_items(order_id)
                .await?
                .iter()
                .map(|i| json!({"orderItemId": i.order_item_id, "quantity": i.quantity_ordered}))
                .collect()
        } else {
            shipment.lines.iter().map(|(id, q)| json!({"orderItemId": id, "quantity": q})).collect()
        };
        let t = &shipment.tracking;
        let known = KNOWN_CARRIERS.iter().find(|c| c.eq_ignore_ascii_case(t.carrier.trim()));
        let mut package = json!({
            "packageReferenceId": t.number,
            "carrierCode": known.copied().unwrap_or("Other"),
            "trackingNumber": t.number,
            "shipDate": shipment.shipped_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "orderItems": items,
        });
        if known.is_none() {
            package["carrierName"] = json!(t.carrier);
        }
        let marketplace = o.payload.marketplace_id.unwrap_or_else(|| self.primary().to_owned());
        let path = format!("/orders/v0/orders/{}/shipmentConfirmation", encode_path_segment(order_id));
        let body = json!({"marketplaceId": marketplace, "packageDetail": package});
        self.send(|| self.inner.http.post(&path).json(&body).operation("confirmShipment")).await?;
        Ok(())
    }
}
