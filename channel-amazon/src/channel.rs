//! The [`Amazon`] channel and its [`AmazonBuilder`]: `impl Channel` composing the SP-API [`Client`] and
//! the pure mappings of [`crate::map`] — listings (search, report, FBA inventory), stock and price writes
//! (patches or a listings feed), orders and shipment confirmation.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use channel_core::http::paginate::{self, Page};
use channel_core::http::{HttpClient, RateLimit, RetryPolicy};
use channel_core::rust_decimal::prelude::ToPrimitive;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Error, ErrorKind, ItemOutcome, Listing, ListingId,
    OrderCursor, OrderPage, PriceUpdate, Result, Shipment, StockUpdate,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use jiff::Timestamp;
use tokio::time::Instant;

use crate::client::{Client, MAX_SELLER_SKUS, SEARCH_PAGE_SIZE, Transport};
use crate::config::{AmazonConfig, CatalogSource, PriceMarketplaces, StockMarketplaces};
use crate::document;
use crate::error::AmazonError;
use crate::feed::{self, FeedMessage, MAX_FEED_MARKETPLACES, MAX_FEED_MESSAGES};
use crate::map::{self, ALL_LISTINGS_REPORT, FBA_SUFFIX};
use crate::orders;
use crate::wire::{self, PatchOperation};

/// `searchListingsItems` pages through at most 1,000 SKUs.
const SEARCH_CAP: usize = 1_000;

/// Builds an [`Amazon`] channel.
#[derive(Debug)]
pub struct AmazonBuilder {
    config: AmazonConfig,
    transport: Transport,
    poll_interval: Duration,
    processing_timeout: Duration,
}

impl AmazonBuilder {
    /// Send SP-API requests here instead of the region's endpoint (a sandbox, emulator or test server);
    /// the same as the config's `base_url`.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.config = self.config.base_url(url);
        self
    }

    /// Ask this LWA token endpoint instead of `https://api.amazon.com/auth/o2/token`; the same as the
    /// config's `token_url`.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.config = self.config.token_url(url);
        self
    }

    /// The transport's retry policy (the config's `max_attempts`, when set, still bounds the attempts).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.transport.retry = Some(policy);
        self
    }

    /// The timeout of one request attempt, token requests included (default: the config's
    /// `timeout_secs`, else 30 s); this one may be finer than whole seconds and wins. A timed-out read is
    /// retried; a timed-out write is not (Amazon may have applied it) and fails as retryable.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.transport.timeout = Some(timeout);
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
        self.transport.documented_limits = on;
        self
    }

    /// Override one operation's limit (a seller with a larger usage plan).
    #[must_use]
    pub fn operation_rate_limit(mut self, operation: impl Into<String>, limit: RateLimit) -> Self {
        self.transport.overrides.push((operation.into(), limit));
        self
    }

    /// Validate the config and build the channel.
    pub fn build(self) -> Result<Amazon> {
        self.config.validate()?;
        let client = Client::new(&self.config, self.transport)?;
        Ok(Amazon {
            inner: Arc::new(Inner {
                client,
                config: self.config,
                poll_interval: self.poll_interval,
                processing_timeout: self.processing_timeout,
                order_locks: Mutex::default(),
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
    client: Client,
    config: AmazonConfig,
    poll_interval: Duration,
    processing_timeout: Duration,
    /// One lock per order being exported, held from the `getOrder` read of its packages to its
    /// `confirmShipment`, so two exports of one order never pick the same next `packageReferenceId`.
    /// Entries die with their last holder and are pruned when a new one is added.
    order_locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Amazon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Amazon")
            .field("config", &self.inner.config)
            .field("client", &self.inner.client)
            .finish_non_exhaustive()
    }
}

/// One SKU's write: a patch of one attribute on some marketplaces.
#[derive(Debug, Clone)]
struct WriteItem {
    sku: String,
    product_type: String,
    patch: PatchOperation,
    /// The marketplaces it is written to: a patch's `marketplaceIds`, the `marketplaceIds` of the feed
    /// that carries it.
    marketplaces: Vec<String>,
    /// The quantity reported back when the write is applied (stock writes).
    quantity: Option<i64>,
}

/// What happened to one write, before it becomes an [`ItemOutcome`].
enum WriteResult {
    Applied(Option<i64>),
    Rejected(String, bool),
}

impl WriteResult {
    /// The outcome of a write sent in two parts (feeds for different marketplaces): applied only when
    /// both were; retryable when either rejection is.
    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Applied(_), other) => other,
            (rejected, Self::Applied(_)) => rejected,
            (Self::Rejected(a, ra), Self::Rejected(b, rb)) => Self::Rejected(format!("{a}; {b}"), ra || rb),
        }
    }
}

/// Where the next page of `searchOrders` starts, and the `lastUpdatedBefore` of the first page, which
/// every page repeats and the cursor moves to after the last.
struct OrdersCursor {
    token: Option<String>,
    before: Option<Timestamp>,
}

impl Amazon {
    /// Start building a channel.
    pub fn builder(config: AmazonConfig) -> AmazonBuilder {
        AmazonBuilder {
            config,
            transport: Transport::default(),
            poll_interval: Duration::from_secs(30),
            processing_timeout: Duration::from_secs(3600),
        }
    }

    /// A channel with default settings.
    pub fn new(config: AmazonConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// The transport (for tests and diagnostics).
    pub fn http(&self) -> &HttpClient {
        self.inner.client.http()
    }

    /// How many LWA token requests this channel has made.
    pub fn token_requests(&self) -> u64 {
        self.inner.client.token_requests()
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    fn primary(&self) -> &str {
        // `build` refuses an empty marketplace list.
        self.inner.config.marketplace_ids.first().map_or("", String::as_str)
    }

    /// The marketplaces a write goes to: every configured one with `all`, else only the primary
    /// ([`StockMarketplaces`], [`PriceMarketplaces`]).
    fn scope(&self, all: bool) -> &[String] {
        let ids = &self.inner.config.marketplace_ids;
        if all { ids } else { ids.first().map(std::slice::from_ref).unwrap_or_default() }
    }

    /// The marketplaces a stock write goes to ([`StockMarketplaces`]).
    fn stock_marketplaces(&self) -> Vec<String> {
        self.scope(self.inner.config.stock_marketplaces == StockMarketplaces::All).to_vec()
    }

    fn product_type(&self, ids: &channel_core::PlatformIds) -> String {
        ids.get("product_type").cloned().unwrap_or_else(|| self.inner.config.default_product_type.clone())
    }

    // ---- listings ----

    /// Every SKU by `searchListingsItems` (at most 1,000); `true` when the cap was reached.
    async fn search_all(&self) -> Result<(Vec<Listing>, bool)> {
        let mut pages = paginate::pages(None::<String>, |token| async move {
            let page = self.client().search_listings_items(self.primary(), &[], token.as_deref()).await?;
            let more = page.pagination.as_ref().and_then(|p| p.next_token.clone()).filter(|t| !t.is_empty());
            let next = more.filter(|_| !page.items.is_empty()).map(Some);
            Ok::<_, Error>(Page::new(vec![page], next))
        });
        let mut out = Vec::new();
        let mut seen = 0usize;
        while let Some(batch) = pages.try_next().await? {
            let Some(page) = batch.into_iter().next() else { continue };
            seen += page.items.len();
            out.extend(page.items.iter().filter_map(|i| map::listing_from_item(i, self.primary())));
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
        }
        Ok((out, false))
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
        let created = self.client().create_report(ALL_LISTINGS_REPORT, self.primary()).await?;
        let report = self
            .wait_until_done(&format!("report {}", created.report_id), || self.client().get_report(&created.report_id))
            .await?;
        let doc_id = match (report.processing_status.as_str(), report.report_document_id) {
            ("DONE", Some(id)) => id,
            // "CANCELLED: … an automatic cancellation if there is no data to return" (Reports API,
            // "Verify that report processing is complete"); this adapter never cancels a report, so a
            // cancelled one without a document is a seller with no listings.
            ("CANCELLED", None) => return Ok(Vec::new()),
            (status, _) => {
                return Err(Error::transient(format!("the {ALL_LISTINGS_REPORT} report ended {status}")));
            }
        };
        let doc = self.client().get_report_document(&doc_id).await?;
        let (body, content_type) =
            self.client().download_document(&doc.url, doc.compression_algorithm.as_deref(), "report").await?;
        let charset = self
            .inner
            .config
            .report_charset
            .as_deref()
            .or_else(|| content_type.as_deref().and_then(document::charset_of));
        let text = document::report_text(ALL_LISTINGS_REPORT, &body, charset)?;
        Ok(map::parse_listings_report(&text, self.primary())?)
    }

    /// FBA quantities as channel-fulfilled listings `<sku>:fba`: all of them, or those of `skus` (at
    /// most 50).
    async fn fba_listings(&self, skus: &[String]) -> Result<Vec<Listing>> {
        paginate::items(None::<String>, |token| async move {
            let page = self.client().get_inventory_summaries(self.primary(), skus, token.as_deref()).await?;
            let summaries = page.payload.map(|p| p.inventory_summaries).unwrap_or_default();
            let listings: Vec<Listing> =
                summaries.iter().filter_map(|s| map::listing_from_inventory(s, self.primary())).collect();
            let more = page.pagination.and_then(|p| p.next_token).filter(|t| !t.is_empty());
            Ok::<_, Error>(Page::new(listings, more.filter(|_| !summaries.is_empty()).map(Some)))
        })
        .try_collect()
        .await
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
            out.extend(self.fba_listings(&[]).await?);
        }
        Ok(out)
    }

    /// The merchant listings of `skus`: `searchListingsItems` by `identifiers` (20 a call); a SKU with a
    /// comma (which the comma-delimited `identifiers` cannot carry) by `getListingsItem`.
    async fn merchant_listings(&self, skus: &[String]) -> Result<Vec<Listing>> {
        let (single, listable): (Vec<String>, Vec<String>) = skus.iter().cloned().partition(|s| s.contains(','));
        let mut out = Vec::new();
        for chunk in listable.chunks(SEARCH_PAGE_SIZE) {
            let items: Vec<wire::Item> = paginate::items(None::<String>, |token| async move {
                let page = self.client().search_listings_items(self.primary(), chunk, token.as_deref()).await?;
                let more = page.pagination.and_then(|p| p.next_token).filter(|t| !t.is_empty());
                let next = more.filter(|_| !page.items.is_empty()).map(Some);
                Ok::<_, Error>(Page::new(page.items, next))
            })
            .try_collect()
            .await?;
            // `identifiers` match exactly; the check keeps an answer to something else out all the same.
            out.extend(
                items
                    .iter()
                    .filter(|i| chunk.contains(&i.sku))
                    .filter_map(|i| map::listing_from_item(i, self.primary())),
            );
        }
        for sku in &single {
            if let Some(item) = self.client().get_listings_item(self.primary(), sku).await? {
                out.extend(map::listing_from_item(&item, self.primary()));
            }
        }
        Ok(out)
    }

    // ---- writes ----

    /// Patch each item (a few SKUs), up to five at once; the bucket paces them.
    async fn write_by_patches(&self, items: Vec<WriteItem>) -> Result<Vec<WriteResult>> {
        let calls: Vec<_> = items
            .iter()
            .cloned()
            .map(|item| {
                let this = self.clone();
                async move {
                    let c = this.client();
                    let markets = item.marketplaces.join(",");
                    c.patch_listings_item(&item.sku, &item.product_type, &item.patch, &markets).await
                }
            })
            .collect();
        let results: Vec<Result<wire::SubmissionResponse>> = stream::iter(calls).buffered(5).collect().await;
        let mut written = false;
        let mut out = Vec::with_capacity(results.len());
        for (r, item) in results.into_iter().zip(&items) {
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
                    WriteResult::Applied(item.quantity)
                }
                Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Config) && !written => return Err(e),
                Err(e) => WriteResult::Rejected(e.to_string(), e.is_retryable()),
            });
        }
        Ok(out)
    }

    /// Upload a `JSON_LISTINGS_FEED` document of `messages` and submit it for `marketplaces` (at most
    /// 25); the feed id.
    async fn submit_feed(&self, messages: &[FeedMessage], marketplaces: &[String]) -> Result<String> {
        let document = feed::document(&self.inner.config.seller_id, messages);
        let bytes = serde_json::to_vec(&document)
            .map_err(|e| Error::validation("the feed does not serialize").with_source(e))?;
        let doc = self.client().create_feed_document().await?;
        let doc_id = doc
            .feed_document_id
            .ok_or_else(|| AmazonError::unexpected("createFeedDocument", "no feedDocumentId in the answer"))?;
        self.client().upload_feed_document(&doc.url, bytes).await?;
        Ok(self.client().create_feed(&doc_id, marketplaces).await?.feed_id)
    }

    /// Poll a feed until it is done, cancelled or fatal.
    async fn wait_for_feed(&self, feed_id: &str) -> Result<wire::Feed> {
        let deadline = Instant::now() + self.inner.processing_timeout;
        loop {
            let f = self.client().get_feed(feed_id).await?;
            match f.processing_status.as_str() {
                "DONE" | "CANCELLED" | "FATAL" => return Ok(f),
                s if Instant::now() >= deadline => {
                    return Err(AmazonError::StillProcessing(format!(
                        "feed {feed_id} still {s} after {:?}; its outcome is unknown",
                        self.inner.processing_timeout
                    ))
                    .into());
                }
                _ => tokio::time::sleep(self.inner.poll_interval).await,
            }
        }
    }

    /// A finished feed's processing report, when it has one.
    async fn processing_report(&self, fed: &wire::Feed) -> Result<Option<wire::ProcessingReport>> {
        let Some(id) = &fed.result_feed_document_id else { return Ok(None) };
        let d = self.client().get_feed_document(id).await?;
        let (body, _) =
            self.client().download_document(&d.url, d.compression_algorithm.as_deref(), "processing report").await?;
        let report = serde_json::from_slice::<wire::ProcessingReport>(&body).map_err(|e| {
            Error::from(AmazonError::unexpected("getFeedDocument", format!("unreadable processing report: {e}")))
        })?;
        Ok(Some(report))
    }

    /// One `JSON_LISTINGS_FEED` for at most 25,000 messages and 25 marketplaces: upload, submit, poll,
    /// read the report.
    async fn write_by_feed(
        &self,
        messages: &[FeedMessage],
        quantities: &[Option<i64>],
        marketplaces: &[String],
    ) -> Result<Vec<WriteResult>> {
        let feed_id = self.submit_feed(messages, marketplaces).await?;
        let fed = self.wait_for_feed(&feed_id).await?;
        let report = self.processing_report(&fed).await?;
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

    /// Patch or feed, by count. A feed applies every message to all its `marketplaceIds`, so items are
    /// grouped by the marketplaces they are written to (the same ones their patch would name), and each
    /// group is sent in feeds of at most 25,000 messages and 25 marketplaces; an item applied in one of
    /// its feeds and rejected in another is rejected.
    async fn write(&self, items: Vec<WriteItem>) -> Result<Vec<WriteResult>> {
        if items.len() <= self.inner.config.feed_threshold {
            return self.write_by_patches(items).await;
        }
        let mut groups: Vec<(&[String], Vec<usize>)> = Vec::new();
        for (i, w) in items.iter().enumerate() {
            match groups.iter_mut().find(|(m, _)| *m == w.marketplaces.as_slice()) {
                Some((_, members)) => members.push(i),
                None => groups.push((&w.marketplaces, vec![i])),
            }
        }
        let mut out: Vec<Option<WriteResult>> = items.iter().map(|_| None).collect();
        let mut written = false;
        for (markets, members) in groups {
            for chunk in members.chunks(MAX_FEED_MESSAGES) {
                let quantities: Vec<Option<i64>> = chunk.iter().map(|&i| items[i].quantity).collect();
                let split = markets.len() > MAX_FEED_MARKETPLACES;
                for market_chunk in markets.chunks(MAX_FEED_MARKETPLACES) {
                    // Each feed carries only its own marketplaces' offer entries (a patch of an unsplit
                    // group names no others).
                    let messages: Vec<FeedMessage> = chunk
                        .iter()
                        .map(|&i| FeedMessage {
                            sku: items[i].sku.clone(),
                            product_type: items[i].product_type.clone(),
                            patches: vec![if split {
                                feed::for_marketplaces(&items[i].patch, market_chunk)
                            } else {
                                items[i].patch.clone()
                            }],
                        })
                        .collect();
                    let results = match self.write_by_feed(&messages, &quantities, market_chunk).await {
                        Ok(results) => {
                            written = true;
                            results
                        }
                        Err(e) if !written => return Err(e),
                        Err(e) => {
                            chunk.iter().map(|_| WriteResult::Rejected(e.to_string(), e.is_retryable())).collect()
                        }
                    };
                    for (&i, r) in chunk.iter().zip(results) {
                        out[i] = Some(match out[i].take() {
                            None => r,
                            Some(prev) => prev.and(r),
                        });
                    }
                }
            }
        }
        Ok(out.into_iter().map(|r| r.unwrap_or_else(|| WriteResult::Rejected("not sent".into(), true))).collect())
    }

    /// Write the planned items of a batch (an `Err` is an outcome decided before any call) and return one
    /// outcome per item, in order; an applied stock write reports its quantity when `report_quantity`.
    async fn write_planned(
        &self,
        planned: Vec<(ListingId, std::result::Result<WriteItem, ItemOutcome>)>,
        report_quantity: bool,
    ) -> Result<Vec<ItemOutcome>> {
        let mut outcomes = Vec::with_capacity(planned.len());
        let mut listings = Vec::with_capacity(planned.len());
        let (mut items, mut index) = (Vec::new(), Vec::new());
        for (i, (listing, plan)) in planned.into_iter().enumerate() {
            listings.push(listing);
            match plan {
                Ok(item) => {
                    index.push(i);
                    items.push(item);
                    outcomes.push(None);
                }
                Err(outcome) => outcomes.push(Some(outcome)),
            }
        }
        let results = if items.is_empty() { Vec::new() } else { self.write(items).await? };
        for (i, r) in index.into_iter().zip(results) {
            let l = listings[i].clone();
            outcomes[i] = Some(match r {
                WriteResult::Applied(q) => ItemOutcome::applied(l, if report_quantity { q } else { None }),
                WriteResult::Rejected(reason, retry) => ItemOutcome::rejected(l, reason, retry),
            });
        }
        Ok(outcomes
            .into_iter()
            .zip(listings)
            .map(|(o, l)| o.unwrap_or_else(|| ItemOutcome::rejected(l, "not sent", true)))
            .collect())
    }

    /// The write of a stock update, or why it is rejected without a call.
    fn stock_write(&self, u: &StockUpdate) -> std::result::Result<WriteItem, ItemOutcome> {
        if map::is_fba(&u.listing, &u.ids) {
            return Err(ItemOutcome::rejected(
                u.listing.clone(),
                "FBA quantity is held by Amazon and never written",
                false,
            ));
        }
        if u.quantity < 0 {
            return Err(ItemOutcome::rejected(u.listing.clone(), "negative quantities are not pushed", false));
        }
        Ok(WriteItem {
            sku: u.listing.as_str().to_owned(),
            product_type: self.product_type(&u.ids),
            patch: feed::quantity_patch(u.quantity),
            marketplaces: self.stock_marketplaces(),
            quantity: Some(u.quantity),
        })
    }

    /// The write of a price update (the primary marketplace, or with [`PriceMarketplaces::All`] every
    /// configured marketplace selling in its currency), or why it is rejected without a call.
    fn price_write(&self, u: &PriceUpdate) -> std::result::Result<WriteItem, ItemOutcome> {
        if map::is_fba(&u.listing, &u.ids) {
            return Err(ItemOutcome::rejected(
                u.listing.clone(),
                "prices are written on the merchant SKU, not its :fba listing",
                false,
            ));
        }
        let scope = self.scope(self.inner.config.price_marketplaces == PriceMarketplaces::All);
        let markets: Vec<&String> = scope.iter().filter(|m| map::currency_of(m) == Some(u.price.currency)).collect();
        let amount = u.price.round_to_minor().amount.to_f64();
        let (false, Some(amount)) = (markets.is_empty(), amount) else {
            return Err(ItemOutcome::rejected(
                u.listing.clone(),
                format!("no marketplace prices are written to (price_marketplaces) sells in {}", u.price.currency),
                false,
            ));
        };
        let offers: Vec<(String, String, f64)> =
            markets.iter().map(|m| ((*m).clone(), u.price.currency.code().to_owned(), amount)).collect();
        Ok(WriteItem {
            sku: u.listing.as_str().to_owned(),
            product_type: self.product_type(&u.ids),
            patch: feed::price_patch(&offers),
            marketplaces: markets.iter().map(|m| (*m).clone()).collect(),
            quantity: None,
        })
    }

    // ---- orders ----

    /// The export lock of one order (see `Inner::order_locks`).
    fn order_lock(&self, order_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another export panicked while inserting; its entries stay usable.
        let mut locks = self.inner.order_locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(lock) = locks.get(order_id).and_then(Weak::upgrade) {
            return lock;
        }
        locks.retain(|_, lock| lock.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(order_id.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// The `lastUpdatedBefore` of a poll starting now: `orders_settle_secs` before the time of the request
    /// ("at least two minutes before the time of the request"), with the clock's fraction of a second
    /// (ISO 8601 allows it), so the bound sent is exactly the bound the cursor keeps.
    fn orders_bound(&self) -> Timestamp {
        let settle = i64::try_from(self.inner.config.orders_settle_secs).unwrap_or(i64::MAX);
        Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(settle)).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// One page of `searchOrders` as an [`OrderPage`] (its items come with it). The first page fixes
    /// `lastUpdatedBefore` (see [`Self::orders_bound`]), every next page repeats it with its token, and
    /// the last page moves the cursor to it: orders updated after it (not yet settled, or changed while
    /// the pages were read) are read by the next poll. The cursor never moves to the newest update seen,
    /// which may be later than orders not read yet.
    async fn orders_page(&self, since: Timestamp, cursor: OrdersCursor) -> Result<Page<OrderPage, OrdersCursor>> {
        let before = match cursor.before {
            Some(b) => b,
            None => {
                let b = self.orders_bound();
                if b < since {
                    // "must be equal to or after the lastUpdatedAfter date": nothing has settled since
                    // the last poll; ask again later.
                    return Ok(Page::new(vec![OrderPage::new(Vec::new(), OrderCursor::new(since))], None));
                }
                b
            }
        };
        // Whole seconds print without a fraction.
        let fmt = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string();
        let markets = &self.inner.config.marketplace_ids;
        let page = self.client().search_orders(markets, &fmt(since), &fmt(before), cursor.token.as_deref()).await?;
        let mut out = Vec::with_capacity(page.orders.len());
        let include_outside = self.inner.config.import_non_amazon_orders;
        for o in page.orders.iter().filter(|o| include_outside || !orders::placed_outside_amazon(o)) {
            out.push(orders::order_from_wire(o, "searchOrders")?);
        }
        let token = page.pagination.and_then(|p| p.next_token).filter(|t| !t.is_empty());
        let at = if token.is_some() { since } else { before };
        let next = token.map(|t| OrdersCursor { token: Some(t), before: Some(before) });
        Ok(Page::new(vec![OrderPage::new(out, OrderCursor::new(at))], next))
    }
}

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
            .listings_by_id_batch(20)
            .webhooks(false)
            .tracking_export(true)
            .price_sync(true)
            .channel_held_stock(true)
            .webhook_max_age(self.inner.config.webhook_window())
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let p = self.client().get_marketplace_participations().await?;
        for m in &self.inner.config.marketplace_ids {
            if !p.payload.iter().any(|x| &x.marketplace.id == m && x.is_participating()) {
                return Err(AmazonError::Config(format!("the seller does not participate in marketplace {m}")).into());
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

    /// Merchant listings (`<sku>`) by `searchListingsItems` with `identifiers` (20 SKUs a call), FBA
    /// listings (`<sku>:fba`, when FBA is read) by `getInventorySummaries` with `sellerSkus` (50 a call).
    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        let mut seen = HashSet::new();
        let (mut merchant, mut fba) = (Vec::new(), Vec::new());
        for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
            match id.as_str().strip_suffix(FBA_SUFFIX) {
                Some(sku) if self.inner.config.read_fba => fba.push(sku.to_owned()),
                Some(_) => {}
                None => merchant.push(id.as_str().to_owned()),
            }
        }
        let mut out = if merchant.is_empty() { Vec::new() } else { self.merchant_listings(&merchant).await? };
        for chunk in fba.chunks(MAX_SELLER_SKUS) {
            let listings = self.fba_listings(chunk).await?;
            out.extend(listings.into_iter().filter(|l| ids.contains(&l.id)));
        }
        Ok(out)
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        let planned = updates.iter().map(|u| (u.listing.clone(), self.stock_write(u))).collect();
        self.write_planned(planned, true).await
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        let planned = updates.iter().map(|u| (u.listing.clone(), self.price_write(u))).collect();
        self.write_planned(planned, false).await
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let since = cursor.since;
        paginate::items(OrdersCursor { token: None, before: None }, move |c| self.orders_page(since, c))
    }

    /// `getOrder` (v2026-01-01, with its packages), then `confirmShipment` (v0) of one package whose
    /// `packageReferenceId` is the seller's number for it (the one of the order's package with this tracking number, else the next free one).
    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order_id = shipment.order.as_str();
        // Held until the confirmation is answered: a concurrent export of this order reads the packages
        // after it.
        let lock = self.order_lock(order_id);
        let _exporting = lock.lock().await;
        let o = self.client().get_order(order_id, orders::SHIPMENT_DATA).await?.order;
        if orders::fulfilled_by_amazon(&o, orders::fulfillment(&o, "getOrder")?, "getOrder")? {
            return Err(AmazonError::AmazonFulfilled(order_id.to_owned()).into());
        }
        let items = orders::shipment_items(shipment, &o)?;
        if items.is_empty() {
            if orders::matching_package(&o.packages, &shipment.tracking.number).is_some() {
                // Confirmed already (a retry after a lost answer): nothing left to send.
                return Ok(());
            }
            return Err(Error::validation(format!("order {order_id} has no units left to ship")));
        }
        let marketplace = o.sales_channel.marketplace_id.clone().unwrap_or_else(|| self.primary().to_owned());
        let reference = orders::package_reference_id(&o.packages, &shipment.tracking.number);
        let body =
            orders::shipment_confirmation(shipment, items, &marketplace, &reference, &self.inner.config.carrier_codes);
        self.client().confirm_shipment(order_id, &body).await
    }
}
