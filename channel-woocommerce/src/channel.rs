//! The [`WooCommerce`] channel: [`Channel`] composed of the REST [`Client`] and the [`map`](crate::map)
//! functions — listings, by-id reads, stock and price batches, orders and tracking.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use channel_core::http::paginate::{self, Page};
use channel_core::http::{HttpClient, RetryPolicy};
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Currency, ItemOutcome, Listing, ListingId, OrderCursor,
    OrderPage, PriceUpdate, Result, Shipment, StockUpdate, WebhookEvent, WebhookRejection, WebhookRequest,
};
use futures::stream::BoxStream;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::OnceCell;
use url::Url;

use crate::client::{Client, MAX_BATCH, PAGE_SIZE};
use crate::config::{AuthMode, TrackingMode, WooCommerceConfig};
use crate::error::WooError;
use crate::map::{self, Target};
use crate::wire::{BatchRequest, BatchResponse};

/// Builds a [`WooCommerce`] channel. Transport settings (base URL, timeout, attempts, budget) are the
/// config's [`http`](WooCommerceConfig::http); the builder adds what a config cannot hold.
#[derive(Debug)]
pub struct WooCommerceBuilder {
    config: WooCommerceConfig,
    retry: Option<RetryPolicy>,
}

impl WooCommerceBuilder {
    /// The transport's retry policy (the config's `max_attempts`, when set, still applies).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Validate the config and build the channel. Fails with [`WooError::Config`] on an invalid store URL
    /// or currency.
    pub fn build(self) -> Result<WooCommerce, WooError> {
        let store_url = self.config.parsed_store_url()?;
        if store_url.scheme() != "https" && self.config.auth != AuthMode::Auto {
            return Err(WooError::Config(format!(
                "auth = {} needs an https store URL: over plain http WooCommerce reads only OAuth 1.0a signatures, \
                 and the consumer secret must not travel unencrypted",
                self.config.auth.as_str()
            )));
        }
        let client = Client::new(&self.config, &store_url, self.retry)?;
        let configured_currency = match &self.config.currency {
            Some(c) => Some(Currency::new(c).map_err(|e| WooError::Config(format!("currency: {e}")))?),
            None => None,
        };
        Ok(WooCommerce {
            inner: Arc::new(Inner {
                client,
                store_url,
                config: self.config,
                configured_currency,
                currency: OnceCell::new(),
                has_tracking_extension: OnceCell::new(),
                tracking_providers: OnceCell::new(),
            }),
        })
    }
}

/// A WooCommerce store over REST v3. Cheap to clone.
#[derive(Clone)]
pub struct WooCommerce {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    store_url: Url,
    config: WooCommerceConfig,
    configured_currency: Option<Currency>,
    currency: OnceCell<Option<Currency>>,
    has_tracking_extension: OnceCell<bool>,
    /// The Shipment Tracking providers the store knows, read once.
    tracking_providers: OnceCell<Vec<String>>,
}

impl fmt::Debug for WooCommerce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooCommerce")
            .field("store_url", &self.inner.store_url.as_str())
            .field("auth", &self.inner.client.auth_name())
            .field("http", self.inner.client.http())
            .finish_non_exhaustive()
    }
}

/// One write: the position in the caller's input, where it goes, and the batch entry.
type Job<W> = (usize, Target, W);

/// The position in a listing scan: the next product page, the variable products whose variations are
/// still to read (and the page of the first), and the store currency once read.
struct ListingScan {
    products: Option<u32>,
    parents: VecDeque<u64>,
    variation_page: u32,
    currency: Option<Option<Currency>>,
}

/// The position in an order scan: the page, the newest modification seen so far, and the latest the
/// final cursor may be (set on the first page).
struct OrderScan {
    page: u32,
    max_seen: Timestamp,
    cap: Option<Timestamp>,
}

impl WooCommerce {
    /// Start building a channel from a config.
    pub fn builder(config: WooCommerceConfig) -> WooCommerceBuilder {
        WooCommerceBuilder { config, retry: None }
    }

    /// A channel with default settings.
    pub fn new(config: WooCommerceConfig) -> Result<Self, WooError> {
        Self::builder(config).build()
    }

    /// The validated store URL.
    pub fn store_url(&self) -> &Url {
        &self.inner.store_url
    }

    /// The transport (for tests and diagnostics).
    pub fn http(&self) -> &HttpClient {
        self.inner.client.http()
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The store currency: configured, or read once from `data/currencies/current` (`None` if unreadable).
    pub async fn currency(&self) -> Option<Currency> {
        if let Some(c) = self.inner.configured_currency {
            return Some(c);
        }
        let got = self
            .inner
            .currency
            .get_or_try_init(|| async {
                match self.client().current_currency().await {
                    Ok(current) => Ok(map::currency_of(&current)),
                    Err(e) if e.is_retryable() => Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the store currency; prices are left out");
                        Ok(None)
                    }
                }
            })
            .await;
        got.ok().copied().flatten()
    }

    /// One page of the listing scan: variations of the first pending variable product, else the next
    /// product page (its variable products with variations queue up for their variations).
    async fn listing_page(&self, mut scan: ListingScan) -> Result<Page<Listing, ListingScan>> {
        let currency = match scan.currency {
            Some(c) => c,
            None => self.currency().await,
        };
        scan.currency = Some(currency);
        let mut out = Vec::new();
        if let Some(&pid) = scan.parents.front() {
            let page = self.client().list_variations(pid, scan.variation_page).await?;
            match page.next {
                Some(next) => scan.variation_page = next,
                None => {
                    scan.parents.pop_front();
                    scan.variation_page = 1;
                }
            }
            out.extend(page.items.iter().map(|v| map::listing_from(v, Target::Variation(pid, v.id), currency)));
        } else if let Some(number) = scan.products {
            let page = self.client().list_products(number).await?;
            scan.products = page.next;
            for p in &page.items {
                out.extend(map::product_listing(p, currency));
                // A variable product without variations needs no further read.
                if map::has_variations(p) {
                    scan.parents.push_back(p.id);
                }
            }
        }
        let more = scan.products.is_some() || !scan.parents.is_empty();
        Ok(Page::new(out, more.then_some(scan)))
    }

    /// One page of orders modified after `after`, with the refunded quantities of partly refunded orders.
    async fn order_page(
        &self,
        since: Timestamp,
        after: &str,
        mut scan: OrderScan,
    ) -> Result<Page<OrderPage, OrderScan>> {
        // Our clock before the first request: the cap when the store sends no `Date` header. Read on the
        // first page only; later pages reuse the cap.
        let local = scan.cap.is_none().then(Timestamp::now);
        let (page, store_now) = self.client().list_orders(after, scan.page).await?;
        let cap = *scan.cap.get_or_insert_with(|| match store_now {
            Some(date) => date - jiff::SignedDuration::from_secs(1),
            None => {
                let skew = jiff::SignedDuration::from_secs(
                    i64::try_from(self.inner.config.clock_skew_secs).unwrap_or(i64::MAX / 2),
                );
                local.unwrap_or_else(Timestamp::now).checked_sub(skew).unwrap_or(Timestamp::MIN)
            }
        });
        let mut orders = Vec::with_capacity(page.items.len());
        for o in &page.items {
            let refunded = if map::needs_refunds(o) {
                map::refunded_quantities(&self.client().list_refunds(o.id).await?)
            } else {
                Vec::new()
            };
            let order = map::order_from(o, &refunded)?;
            scan.max_seen = scan.max_seen.max(order.updated_at);
            orders.push(order);
        }
        // Until the last page, resume from the start (pages may shift while orders change). After it, the
        // newest modification seen, but never later than the store's clock when the first page was read
        // (less a second, `modified_after` being exclusive to the second): the scan goes by id, so an
        // order on an early page changed while later pages were read carries a time after that, and is
        // read again by the next scan.
        let next = if page.next.is_some() { since } else { scan.max_seen.min(cap) };
        let out = OrderPage::new(orders, OrderCursor::new(next));
        let max_seen = scan.max_seen;
        Ok(Page::new(vec![out], page.next.map(|p| OrderScan { page: p, max_seen, cap: Some(cap) })))
    }

    /// Send the jobs in batches of at most [`MAX_BATCH`] per endpoint (products, or one product's
    /// variations), in first-seen order, and record each item's outcome.
    async fn write_batches<W: Serialize + Send + Sync>(
        &self,
        jobs: Vec<Job<W>>,
        outcomes: &mut [Option<ItemOutcome>],
        operation: &'static str,
    ) -> Result<()> {
        // Group by endpoint (`None` = products, `Some(p)` = product p's variations), keeping first-seen order.
        let mut groups: Vec<(Option<u64>, Vec<Job<W>>)> = Vec::new();
        for job in jobs {
            let endpoint = match job.1 {
                Target::Product(_) => None,
                Target::Variation(p, _) => Some(p),
            };
            match groups.iter_mut().find(|(e, _)| *e == endpoint) {
                Some((_, g)) => g.push(job),
                None => groups.push((endpoint, vec![job])),
            }
        }
        let mut written = false;
        for (endpoint, group) in groups {
            let mut group = group.into_iter().peekable();
            while group.peek().is_some() {
                let chunk: Vec<Job<W>> = group.by_ref().take(MAX_BATCH).collect();
                let body = BatchRequest { update: chunk.iter().map(|(_, _, w)| w).collect::<Vec<_>>() };
                let answer = match endpoint {
                    None => self.client().batch_products(&body, operation).await,
                    Some(p) => self.client().batch_variations(p, &body, operation).await,
                };
                match answer {
                    Ok(answer) => {
                        written = true;
                        record_batch(&chunk, &answer, outcomes, operation == "batchStock");
                    }
                    Err(e) if !written => return Err(e),
                    Err(e) => {
                        for (index, target, _) in &chunk {
                            outcomes[*index] =
                                Some(ItemOutcome::rejected(target.listing_id(), e.to_string(), e.is_retryable()));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The store's Shipment Tracking providers, read once; the extension's own list (embedded) while the
    /// store does not answer with one. A failed read is not remembered (a transient error must not pin the
    /// embedded list for the channel's life): the next export asks again.
    async fn tracking_providers(&self, order_id: u64) -> Cow<'_, [String]> {
        if let Some(names) = self.inner.tracking_providers.get() {
            return Cow::Borrowed(names);
        }
        match self.client().shipment_tracking_providers(order_id).await {
            Ok(answer) => {
                let names = map::provider_names(&answer);
                let names = if names.is_empty() { map::default_providers() } else { names };
                Cow::Borrowed(self.inner.tracking_providers.get_or_init(|| async { names }).await)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the Shipment Tracking providers; using the extension's list this time");
                Cow::Owned(map::default_providers())
            }
        }
    }

    async fn tracking_extension(&self, order_id: u64) -> Result<bool> {
        match self.inner.config.tracking {
            TrackingMode::ShipmentTracking => Ok(true),
            TrackingMode::OrderNote => Ok(false),
            TrackingMode::Auto => self
                .inner
                .has_tracking_extension
                .get_or_try_init(|| self.client().has_shipment_tracking(order_id))
                .await
                .copied(),
        }
    }

    /// The listings with these ids: products through `include` (one call per [`PAGE_SIZE`] products),
    /// variations through their parent's variations with `include` (one call per parent, per page of ids).
    async fn listings_by_id(&self, targets: &[Target]) -> Result<Vec<Listing>> {
        let mut products: Vec<u64> = Vec::new();
        let mut variations: Vec<(u64, Vec<u64>)> = Vec::new();
        for target in targets {
            match *target {
                Target::Product(p) => products.push(p),
                Target::Variation(p, v) => match variations.iter_mut().find(|(parent, _)| *parent == p) {
                    Some((_, vs)) => vs.push(v),
                    None => variations.push((p, vec![v])),
                },
            }
        }
        let currency = self.currency().await;
        let mut found: HashMap<Target, Listing> = HashMap::new();
        for chunk in products.chunks(PAGE_SIZE) {
            for p in self.client().products_by_id(chunk).await? {
                if chunk.contains(&p.id)
                    && let Some(listing) = map::product_listing(&p, currency)
                {
                    found.insert(Target::Product(p.id), listing);
                }
            }
        }
        for (pid, ids) in &variations {
            for chunk in ids.chunks(PAGE_SIZE) {
                for v in self.client().variations_by_id(*pid, chunk).await? {
                    if chunk.contains(&v.id) {
                        let target = Target::Variation(*pid, v.id);
                        found.insert(target, map::listing_from(&v, target, currency));
                    }
                }
            }
        }
        Ok(targets.iter().filter_map(|t| found.remove(t)).collect())
    }
}

/// Record each item of an answered batch: applied (with the quantity written, for stock), or rejected
/// with the item's inline error (retryable for 429 and 5xx item statuses).
fn record_batch<W>(chunk: &[Job<W>], answer: &BatchResponse, outcomes: &mut [Option<ItemOutcome>], stock: bool) {
    for (pos, (index, target, _)) in chunk.iter().enumerate() {
        let id = target.object_id();
        let item = answer
            .update
            .get(pos)
            .filter(|i| i.id == id || i.id == 0)
            .or_else(|| answer.update.iter().find(|i| i.id == id));
        let listing = target.listing_id();
        outcomes[*index] = Some(match item {
            None => ItemOutcome::rejected(listing, "the batch answer has no result for this item", true),
            Some(i) => match &i.error {
                Some(err) => {
                    let retryable = err.status().is_some_and(|s| s == 429 || s >= 500);
                    ItemOutcome::rejected(listing, format!("{}: {}", err.code, err.message), retryable)
                }
                None => ItemOutcome::applied(listing, i.stock_quantity.filter(|_| stock)),
            },
        });
    }
}

fn finish<'a>(outcomes: Vec<Option<ItemOutcome>>, listings: impl Iterator<Item = &'a ListingId>) -> Vec<ItemOutcome> {
    outcomes
        .into_iter()
        .zip(listings)
        .map(|(o, l)| o.unwrap_or_else(|| ItemOutcome::rejected(l.clone(), "not sent", true)))
        .collect()
}

#[async_trait]
impl Channel for WooCommerce {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Woocommerce
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::builder()
            .max_stock_batch(MAX_BATCH)
            .max_price_batch(MAX_BATCH)
            .listing_page_size(PAGE_SIZE)
            .listings_by_id_batch(100)
            .delta_adjust(false)
            .compare_and_set(false)
            .idempotent_writes(false)
            .webhooks(true)
            .webhook_max_age(self.inner.config.webhook_window())
            .tracking_export(true)
            .price_sync(true)
            .channel_held_stock(false)
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        // One light authenticated read (a key with read permission, as every read of this adapter needs);
        // `auth` says how the keys travelled (`query_string` after an `auto` fallback).
        let current = self.client().current_currency().await?;
        // The currency read is the one `currency()` would make: keep it (a set cell is left as it is).
        let _ = self.inner.currency.set(map::currency_of(&current));
        let home = self.inner.store_url.as_str().trim_end_matches('/').to_owned();
        let mut id =
            AccountIdentity::new(ChannelKind::Woocommerce, home).with_detail("auth", self.client().auth_name());
        if let Some(c) = self.inner.configured_currency.or_else(|| map::currency_of(&current)) {
            id = id.with_detail("currency", c.code());
        }
        Ok(id)
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        let first = ListingScan { products: Some(1), parents: VecDeque::new(), variation_page: 1, currency: None };
        paginate::items(first, move |scan| self.listing_page(scan))
    }

    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        // Ids this adapter did not issue name no listing: they are left out, as unknown ids are.
        let mut targets: Vec<Target> = Vec::new();
        for target in ids.iter().filter_map(|id| Target::parse(id.as_str()).ok()) {
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        self.listings_by_id(&targets).await
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut jobs = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            match Target::parse(u.listing.as_str()) {
                Ok(_) if u.quantity < 0 => {
                    outcomes[i] =
                        Some(ItemOutcome::rejected(u.listing.clone(), "negative quantities are not pushed", false));
                }
                Ok(t) => jobs.push((i, t, map::stock_write(t, u.quantity))),
                Err(e) => outcomes[i] = Some(ItemOutcome::rejected(u.listing.clone(), e.to_string(), false)),
            }
        }
        self.write_batches(jobs, &mut outcomes, "batchStock").await?;
        Ok(finish(outcomes, updates.iter().map(|u| &u.listing)))
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        let store = self.currency().await;
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut jobs = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            if let Some(store) = store
                && store != u.price.currency
            {
                let e = WooError::CurrencyMismatch { given: u.price.currency.to_string(), store: store.to_string() };
                outcomes[i] = Some(ItemOutcome::rejected(u.listing.clone(), e.to_string(), false));
                continue;
            }
            match Target::parse(u.listing.as_str()) {
                Ok(t) => jobs.push((i, t, map::price_write(t, u))),
                Err(e) => outcomes[i] = Some(ItemOutcome::rejected(u.listing.clone(), e.to_string(), false)),
            }
        }
        self.write_batches(jobs, &mut outcomes, "batchPrices").await?;
        Ok(finish(outcomes, updates.iter().map(|u| &u.listing)))
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let since = cursor.since;
        // `modified_after` is exclusive; start a second early so "at or after" holds.
        let after = (since - jiff::SignedDuration::from_secs(1)).strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let first = OrderScan { page: 1, max_seen: since, cap: None };
        paginate::items(first, move |scan| {
            let after = after.clone();
            async move { self.order_page(since, &after, scan).await }
        })
    }

    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order_id: u64 = shipment.order.as_str().parse().map_err(|_| {
            channel_core::Error::validation(format!(
                "WooCommerce order ids are numbers, not {:?}",
                shipment.order.as_str()
            ))
        })?;
        if self.tracking_extension(order_id).await? {
            let link_template = self.inner.config.tracking_link_template.as_deref();
            let providers = self.tracking_providers(order_id).await;
            let body = map::shipment_tracking(shipment, &providers, link_template);
            self.client().add_shipment_tracking(order_id, &body).await?;
        } else {
            self.client().add_order_note(order_id, &map::shipment_note(shipment)).await?;
        }
        if self.inner.config.complete_on_ship && shipment.lines.is_empty() {
            self.client().update_order_status(order_id, "completed").await?;
        }
        Ok(())
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        crate::webhook::verify(self.inner.config.webhook_secret.as_ref(), request)
    }
}
