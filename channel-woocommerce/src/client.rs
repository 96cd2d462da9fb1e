//! The [`WooCommerce`] channel: transport wiring, listings, stock and price batches, orders and tracking.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use channel_core::http::{Auth, HttpClient, Method, RequestBuilder, Response, RetryPolicy, StatusCode};
use channel_core::secrecy::{ExposeSecret, SecretString};
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Currency, Error, ErrorKind, ItemOutcome, Listing, ListingId,
    ListingStatus, Money, Order, OrderCursor, OrderLine, OrderPage, OrderStatus, PriceUpdate, Result, Shipment, Stock,
    StockUpdate, WebhookEvent, WebhookRejection, WebhookRequest,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use url::Url;

use crate::config::{TrackingMode, WooCommerceConfig};
use crate::error::WooError;
use crate::oauth::{self, OAuthPlacement};
use crate::wire::{self, BatchRequest, BatchResponse, ManageStock, PriceWrite, Product, StockWrite};

/// WooCommerce's batch limit ("up to 100 objects to be created, updated or deleted").
pub const MAX_BATCH: usize = 100;
/// The largest `per_page` WordPress REST accepts.
pub const PAGE_SIZE: usize = 100;

/// Where a listing lives: a product, or a variation of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A product (simple, or a variable product that manages stock for its variations).
    Product(u64),
    /// A variation `(product_id, variation_id)`.
    Variation(u64, u64),
}

impl Target {
    /// Parse a listing id: `<product_id>` or `<product_id>/<variation_id>`.
    pub fn parse(id: &str) -> Result<Self, WooError> {
        let bad = || WooError::InvalidListingId(id.to_owned());
        match id.split_once('/') {
            None => id.parse().map(Self::Product).map_err(|_| bad()),
            Some((p, v)) => Ok(Self::Variation(p.parse().map_err(|_| bad())?, v.parse().map_err(|_| bad())?)),
        }
    }

    /// The listing id.
    pub fn listing_id(self) -> ListingId {
        match self {
            Self::Product(p) => ListingId::new(p.to_string()),
            Self::Variation(p, v) => ListingId::new(format!("{p}/{v}")),
        }
    }

    fn batch_path(self) -> String {
        match self {
            Self::Product(_) => "wc/v3/products/batch".to_owned(),
            Self::Variation(p, _) => format!("wc/v3/products/{p}/variations/batch"),
        }
    }

    fn object_id(self) -> u64 {
        match self {
            Self::Product(p) | Self::Variation(_, p) => p,
        }
    }
}

/// Builds a [`WooCommerce`] channel.
#[derive(Debug)]
pub struct WooCommerceBuilder {
    config: WooCommerceConfig,
    base_url: Option<String>,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
}

impl WooCommerceBuilder {
    /// Send requests to this root instead of the store URL (a test server or emulator standing in for
    /// the store; `/wp-json/…` is appended). Authentication still follows the store URL's scheme, and
    /// OAuth signatures cover the URL actually requested.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The transport's retry policy.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The per-attempt timeout (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Validate the config and build the channel.
    pub fn build(self) -> Result<WooCommerce> {
        let store_url = self.config.parsed_store_url()?;
        let root = match &self.base_url {
            Some(b) => b.trim_end_matches('/').to_owned(),
            None => store_url.as_str().trim_end_matches('/').to_owned(),
        };
        let https = store_url.scheme() == "https";
        let mut builder = HttpClient::builder()
            .name(format!("woocommerce:{}", store_url.host_str().unwrap_or_default()))
            .base_url(format!("{root}/wp-json/"))
            .redact_query_param("oauth_signature")
            .redact_query_param("oauth_consumer_key");
        if https {
            builder = builder.auth(Auth::basic(self.config.consumer_key.clone(), self.config.consumer_secret.clone()));
        }
        if let Some(r) = self.retry {
            builder = builder.retry(r);
        }
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        let http = builder.build()?;
        let currency = match &self.config.currency {
            Some(c) => Some(Currency::new(c).map_err(|e| Error::config(e.to_string()).with_source(e))?),
            None => None,
        };
        Ok(WooCommerce {
            inner: Arc::new(Inner {
                http,
                store_url,
                oauth: !https,
                config: self.config,
                configured_currency: currency,
                currency: OnceCell::new(),
                has_tracking_extension: OnceCell::new(),
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
    http: HttpClient,
    store_url: Url,
    /// Sign requests with OAuth 1.0a (plain HTTP) instead of HTTP Basic.
    oauth: bool,
    config: WooCommerceConfig,
    configured_currency: Option<Currency>,
    currency: OnceCell<Option<Currency>>,
    has_tracking_extension: OnceCell<bool>,
}

impl fmt::Debug for WooCommerce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooCommerce")
            .field("store_url", &self.inner.store_url.as_str())
            .field("auth", &if self.inner.oauth { "oauth1" } else { "basic" })
            .field("http", &self.inner.http)
            .finish_non_exhaustive()
    }
}

/// One write: the position in the caller's input, where it goes, and the batch entry.
type Job<W> = (usize, Target, W);

/// One API request, described so it can be signed afresh for every attempt.
struct Req {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    idempotent: bool,
    accept: Option<StatusCode>,
    operation: &'static str,
}

impl Req {
    fn new(method: Method, path: impl Into<String>, operation: &'static str) -> Self {
        let idempotent = !matches!(method, Method::POST | Method::PATCH);
        Self { method, path: path.into(), query: Vec::new(), body: None, idempotent, accept: None, operation }
    }
    fn query(mut self, k: &'static str, v: impl ToString) -> Self {
        self.query.push((k, v.to_string()));
        self
    }
    fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
    fn accept(mut self, status: StatusCode) -> Self {
        self.accept = Some(status);
        self
    }
}

impl WooCommerce {
    /// Start building a channel from a config.
    pub fn builder(config: WooCommerceConfig) -> WooCommerceBuilder {
        WooCommerceBuilder { config, base_url: None, retry: None, timeout: None }
    }

    /// A channel with default settings.
    pub fn new(config: WooCommerceConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// The validated store URL.
    pub fn store_url(&self) -> &Url {
        &self.inner.store_url
    }

    /// The transport (for tests and diagnostics).
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    fn url_for(&self, req: &Req) -> Result<Url> {
        let mut url = self
            .inner
            .http
            .base_url()
            .join(req.path.trim_start_matches('/'))
            .map_err(|e| Error::validation("invalid request path").with_source(e))?;
        if !req.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &req.query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn build_request(&self, req: &Req, url: &Url) -> RequestBuilder<'_> {
        let mut rb = self.inner.http.request(req.method.clone(), url.as_str()).operation(req.operation);
        if let Some(body) = &req.body {
            rb = rb.json(body);
        }
        if let Some(status) = req.accept {
            rb = rb.accept_status(status);
        }
        rb.idempotent(req.idempotent)
    }

    /// Send a request: over HTTPS through the transport's own retries; over plain HTTP signed with OAuth
    /// 1.0a afresh for every attempt (WooCommerce refuses a nonce it has seen, so a replayed signature
    /// would fail).
    async fn call(&self, req: &Req) -> Result<Response<Bytes>> {
        let url = self.url_for(req)?;
        if !self.inner.oauth {
            return self.build_request(req, &url).send().await;
        }
        let policy = self.inner.http.retry_policy();
        let mut delay = policy.min_delay;
        let mut attempt = 1;
        loop {
            let signed = oauth::sign(
                req.method.as_str(),
                &url,
                self.inner.config.consumer_key.expose_secret(),
                self.inner.config.consumer_secret.expose_secret(),
                self.inner.config.oauth_signature_method,
                &oauth::nonce(),
                Timestamp::now().as_second(),
            );
            let mut rb = self.build_request(req, &url).max_attempts(1);
            match self.inner.config.oauth_placement {
                OAuthPlacement::Header => {
                    rb = rb.secret_header("authorization", &SecretString::from(signed.header()));
                }
                OAuthPlacement::Query => {
                    for (k, v) in signed.params {
                        rb = rb.secret_query(&k, SecretString::from(v));
                    }
                }
            }
            let err = match rb.send().await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            let retryable =
                err.kind() == ErrorKind::RateLimited || (err.kind() == ErrorKind::Transient && req.idempotent);
            if attempt >= policy.max_attempts || !retryable {
                return Err(err);
            }
            let wait = match err.retry_after() {
                Some(w) if w > policy.max_retry_after => return Err(err),
                Some(w) => w.max(delay),
                None => delay,
            };
            tracing::warn!(attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), error = %err, "retrying with a fresh OAuth signature");
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(policy.max_delay);
            attempt += 1;
        }
    }

    async fn call_json<T: DeserializeOwned>(&self, req: &Req) -> Result<(Response<Bytes>, T)> {
        let resp = self.call(req).await?;
        let body = resp.json::<T>()?;
        Ok((resp, body))
    }

    /// `GET /system_status`: the site identity and settings (the cheap authenticated call).
    async fn system_status(&self) -> Result<Value> {
        let req = Req::new(Method::GET, "wc/v3/system_status", "systemStatus");
        Ok(self.call_json::<Value>(&req).await?.1)
    }

    /// The store currency: configured, or read once from `system_status` (`None` if unreadable).
    pub async fn currency(&self) -> Option<Currency> {
        if let Some(c) = self.inner.configured_currency {
            return Some(c);
        }
        let got = self
            .inner
            .currency
            .get_or_try_init(|| async {
                match self.system_status().await {
                    Ok(v) => Ok(currency_of(&v)),
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

    fn listing_from(&self, product: &Product, target: Target, currency: Option<Currency>) -> Listing {
        let stock = match product.manage_stock {
            ManageStock::Yes => Stock::Tracked { quantity: product.stock_quantity.unwrap_or(0) },
            ManageStock::No => Stock::Untracked,
            ManageStock::Parent => Stock::Inherited,
        };
        let status = match product.status.as_str() {
            "" | "publish" => ListingStatus::Active,
            "trash" => ListingStatus::DisabledBySeller,
            _ => ListingStatus::Inactive,
        };
        let mut listing =
            Listing::new(target.listing_id(), product.sku.clone(), 0).with_stock(stock).with_status(status);
        match target {
            Target::Product(p) => {
                listing = listing.with_id("product_id", p.to_string());
            }
            Target::Variation(p, v) => {
                listing = listing.with_id("product_id", p.to_string()).with_id("variation_id", v.to_string());
            }
        }
        if !product.kind.is_empty() {
            listing = listing.with_id("type", product.kind.clone());
        }
        if !product.sale_price.is_empty() {
            listing = listing.with_id("sale_price", product.sale_price.clone());
        }
        if let (Some(currency), Ok(amount)) = (currency, product.regular_price.trim().parse::<Decimal>()) {
            listing = listing.with_price(Money::new(amount, currency));
        }
        listing
    }

    async fn write_batches<W: Serialize + Send + Sync>(
        &self,
        jobs: Vec<Job<W>>,
        outcomes: &mut [Option<ItemOutcome>],
        operation: &'static str,
    ) -> Result<()> {
        // Group by endpoint, keeping first-seen order.
        let mut groups: Vec<(String, Vec<Job<W>>)> = Vec::new();
        for job in jobs {
            let path = job.1.batch_path();
            match groups.iter_mut().find(|(p, _)| *p == path) {
                Some((_, g)) => g.push(job),
                None => groups.push((path, vec![job])),
            }
        }
        let mut written = false;
        for (path, group) in groups {
            let mut group = group.into_iter().peekable();
            while group.peek().is_some() {
                let chunk: Vec<Job<W>> = group.by_ref().take(MAX_BATCH).collect();
                let body = BatchRequest { update: chunk.iter().map(|(_, _, w)| w).collect::<Vec<_>>() };
                let body = serde_json::to_value(&body)
                    .map_err(|e| Error::validation("the batch does not serialize").with_source(e))?;
                // An absolute set is idempotent, so the batch may be retried.
                let req = Req::new(Method::POST, path.clone(), operation).json(body).idempotent();
                match self.call_json::<BatchResponse>(&req).await {
                    Ok((_, answer)) => {
                        written = true;
                        for (pos, (index, target, _)) in chunk.iter().enumerate() {
                            let id = target.object_id();
                            let item = answer
                                .update
                                .get(pos)
                                .filter(|i| i.id == id || i.id == 0)
                                .or_else(|| answer.update.iter().find(|i| i.id == id));
                            let listing = target.listing_id();
                            outcomes[*index] = Some(match item {
                                None => {
                                    ItemOutcome::rejected(listing, "the batch answer has no result for this item", true)
                                }
                                Some(i) => match &i.error {
                                    Some(err) => {
                                        let retryable = err.status().is_some_and(|s| s == 429 || s >= 500);
                                        ItemOutcome::rejected(
                                            listing,
                                            format!("{}: {}", err.code, err.message),
                                            retryable,
                                        )
                                    }
                                    None => ItemOutcome::applied(
                                        listing,
                                        i.stock_quantity.filter(|_| operation == "batchStock"),
                                    ),
                                },
                            });
                        }
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

    async fn refunded_quantities(&self, order_id: u64) -> Result<Vec<(u64, u32)>> {
        let req =
            Req::new(Method::GET, format!("wc/v3/orders/{order_id}/refunds"), "listRefunds").query("per_page", 100);
        let (_, refunds) = self.call_json::<Vec<wire::Refund>>(&req).await?;
        let mut out: Vec<(u64, u32)> = Vec::new();
        for line in refunds.iter().flat_map(|r| &r.line_items) {
            if let (Some(item), Some(q)) = (line.refunded_item_id(), line.quantity) {
                let q = u32::try_from(q.unsigned_abs()).unwrap_or(u32::MAX);
                match out.iter_mut().find(|(i, _)| *i == item) {
                    Some((_, total)) => *total = total.saturating_add(q),
                    None => out.push((item, q)),
                }
            }
        }
        Ok(out)
    }

    async fn tracking_extension(&self, order_id: &str) -> Result<bool> {
        match self.inner.config.tracking {
            TrackingMode::ShipmentTracking => Ok(true),
            TrackingMode::OrderNote => Ok(false),
            TrackingMode::Auto => self
                .inner
                .has_tracking_extension
                .get_or_try_init(|| async {
                    let req = Req::new(
                        Method::GET,
                        format!("wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings"),
                        "detectShipmentTracking",
                    )
                    .accept(StatusCode::NOT_FOUND);
                    let resp = self.call(&req).await?;
                    // 404 `rest_no_route`: the extension is not installed. A 404 for a missing order
                    // (`woocommerce_rest_order_invalid_id`) would mean the route exists.
                    Ok::<bool, Error>(
                        resp.status() != StatusCode::NOT_FOUND
                            || !String::from_utf8_lossy(resp.body()).contains("rest_no_route"),
                    )
                })
                .await
                .copied(),
        }
    }
}

fn currency_of(system_status: &Value) -> Option<Currency> {
    system_status.pointer("/settings/currency").and_then(Value::as_str).and_then(|c| Currency::new(c).ok())
}

/// Parse WooCommerce's GMT timestamps (`2017-03-22T19:28:02`, no zone).
pub(crate) fn parse_gmt(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<Timestamp>().ok().or_else(|| format!("{s}Z").parse::<Timestamp>().ok())
}

/// Map a WooCommerce order to the domain order (refunded quantities by line id, if known).
pub(crate) fn map_order(o: &wire::Order, refunded: &[(u64, u32)]) -> Result<Order> {
    let status = match o.status.as_str() {
        "pending" | "checkout-draft" => OrderStatus::Pending,
        "processing" | "on-hold" => OrderStatus::Open,
        "completed" => OrderStatus::Shipped,
        "cancelled" | "failed" | "trash" => OrderStatus::Cancelled,
        "refunded" => OrderStatus::Returned,
        _ => OrderStatus::Open,
    };
    let currency = Currency::new(&o.currency).ok();
    let lines = o
        .line_items
        .iter()
        .map(|li| {
            let quantity = u32::try_from(li.quantity.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
            let refunded_quantity = if status == OrderStatus::Returned {
                quantity
            } else {
                refunded.iter().find(|(id, _)| *id == li.id).map_or(0, |(_, q)| (*q).min(quantity))
            };
            let mut line = OrderLine::new(li.id.to_string(), li.sku.clone(), quantity).with_refunded(refunded_quantity);
            if li.product_id != 0 {
                let target = if li.variation_id != 0 {
                    Target::Variation(li.product_id, li.variation_id)
                } else {
                    Target::Product(li.product_id)
                };
                line = line.with_listing(target.listing_id());
            }
            let price = match &li.price {
                Some(Value::Number(n)) => n.to_string().parse::<Decimal>().ok(),
                Some(Value::String(s)) => s.parse::<Decimal>().ok(),
                _ => None,
            };
            if let (Some(c), Some(p)) = (currency, price) {
                line = line.with_unit_price(Money::new(p, c));
            }
            line
        })
        .collect();
    let created = parse_gmt(&o.date_created_gmt)
        .ok_or_else(|| Error::decode(format!("order {}: unreadable date_created_gmt", o.id)))?;
    let updated = parse_gmt(&o.date_modified_gmt).unwrap_or(created);
    Ok(Order::new(o.id.to_string(), status, o.status.clone(), lines, created, updated))
}

struct ListState {
    next_page: Option<u32>,
    variable: VecDeque<Product>,
    variation_page: u32,
    currency: Option<Option<Currency>>,
}

struct OrderState {
    page: Option<u32>,
    max_seen: Timestamp,
}

fn total_pages(resp: &Response<Bytes>) -> Option<u32> {
    resp.header("x-wp-totalpages").and_then(|v| v.trim().parse().ok())
}

fn has_more(resp: &Response<Bytes>, page: u32, len: usize) -> bool {
    match total_pages(resp) {
        Some(total) => page < total,
        None => len >= PAGE_SIZE,
    }
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
            .delta_adjust(false)
            .compare_and_set(false)
            .idempotent_writes(false)
            .webhooks(true)
            .tracking_export(true)
            .price_sync(true)
            .channel_held_stock(false)
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let status = self.system_status().await?;
        let home = status
            .pointer("/environment/home_url")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| self.inner.store_url.as_str())
            .trim_end_matches('/')
            .to_owned();
        let mut id = AccountIdentity::new(ChannelKind::Woocommerce, home)
            .with_detail("auth", if self.inner.oauth { "oauth1" } else { "basic" });
        if let Some(v) = status.pointer("/environment/version").and_then(Value::as_str) {
            id = id.with_detail("woocommerce_version", v);
        }
        if let Some(c) = self.inner.configured_currency.or_else(|| currency_of(&status)) {
            id = id.with_detail("currency", c.code());
        }
        Ok(id)
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        let state = ListState { next_page: Some(1), variable: VecDeque::new(), variation_page: 1, currency: None };
        stream::try_unfold(state, move |mut st| async move {
            let currency = match st.currency {
                Some(c) => c,
                None => {
                    let c = self.currency().await;
                    st.currency = Some(c);
                    c
                }
            };
            if let Some(parent) = st.variable.front() {
                let pid = parent.id;
                let page = st.variation_page;
                let req = Req::new(Method::GET, format!("wc/v3/products/{pid}/variations"), "listVariations")
                    .query("per_page", PAGE_SIZE)
                    .query("page", page);
                let (resp, items) = self.call_json::<Vec<Product>>(&req).await?;
                if has_more(&resp, page, items.len()) && !items.is_empty() {
                    st.variation_page += 1;
                } else {
                    st.variable.pop_front();
                    st.variation_page = 1;
                }
                let out: Vec<Listing> =
                    items.iter().map(|v| self.listing_from(v, Target::Variation(pid, v.id), currency)).collect();
                return Ok::<_, Error>(Some((out, st)));
            }
            let Some(page) = st.next_page else { return Ok(None) };
            let req = Req::new(Method::GET, "wc/v3/products", "listProducts")
                .query("per_page", PAGE_SIZE)
                .query("page", page)
                .query("orderby", "id")
                .query("order", "asc");
            let (resp, items) = self.call_json::<Vec<Product>>(&req).await?;
            st.next_page = (has_more(&resp, page, items.len()) && !items.is_empty()).then_some(page + 1);
            let mut out = Vec::new();
            for p in items {
                match p.kind.as_str() {
                    "grouped" | "external" => {}
                    "variable" => {
                        if p.manage_stock == ManageStock::Yes {
                            out.push(self.listing_from(&p, Target::Product(p.id), currency));
                        }
                        // A variable product without variations needs no further read.
                        if !p.variations.is_empty() {
                            st.variable.push_back(p);
                        }
                    }
                    _ => out.push(self.listing_from(&p, Target::Product(p.id), currency)),
                }
            }
            Ok(Some((out, st)))
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
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
                Ok(t) => jobs.push((i, t, StockWrite::new(t.object_id(), u.quantity))),
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
                Ok(t) => {
                    let amount = u.price.round_to_minor().amount;
                    let dp = u.price.currency.minor_units() as usize;
                    jobs.push((i, t, PriceWrite { id: t.object_id(), regular_price: format!("{amount:.dp$}") }));
                }
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
        stream::try_unfold(OrderState { page: Some(1), max_seen: since }, move |mut st| {
            let after = after.clone();
            async move {
                let Some(page) = st.page else { return Ok(None) };
                let req = Req::new(Method::GET, "wc/v3/orders", "listOrders")
                    .query("modified_after", after)
                    .query("dates_are_gmt", "true")
                    .query("per_page", PAGE_SIZE)
                    .query("page", page)
                    .query("orderby", "id")
                    .query("order", "asc");
                let (resp, raw) = self.call_json::<Vec<wire::Order>>(&req).await?;
                let more = has_more(&resp, page, raw.len()) && !raw.is_empty();
                let mut orders = Vec::with_capacity(raw.len());
                for o in &raw {
                    let refunded = if !o.refunds.is_empty() && o.status != "refunded" {
                        self.refunded_quantities(o.id).await?
                    } else {
                        Vec::new()
                    };
                    let order = map_order(o, &refunded)?;
                    st.max_seen = st.max_seen.max(order.updated_at);
                    orders.push(order);
                }
                st.page = more.then_some(page + 1);
                // Until the last page, resume from the start (pages may shift while orders change).
                let next = if more { since } else { st.max_seen };
                Ok(Some((OrderPage::new(orders, OrderCursor::new(next)), st)))
            }
        })
        .boxed()
    }

    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order_id: u64 = shipment.order.as_str().parse().map_err(|_| {
            Error::validation(format!("WooCommerce order ids are numbers, not {:?}", shipment.order.as_str()))
        })?;
        let t = &shipment.tracking;
        if self.tracking_extension(shipment.order.as_str()).await? {
            let date = shipment.shipped_at.strftime("%Y-%m-%d").to_string();
            let body = match &t.url {
                Some(url) => json!({
                    "custom_tracking_provider": t.carrier,
                    "custom_tracking_link": url,
                    "tracking_number": t.number,
                    "date_shipped": date,
                }),
                None => json!({"tracking_provider": t.carrier, "tracking_number": t.number, "date_shipped": date}),
            };
            let req = Req::new(
                Method::POST,
                format!("wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings"),
                "addShipmentTracking",
            )
            .json(body);
            self.call(&req).await?;
        } else {
            let mut note = format!("Shipped with {}, tracking number {}", t.carrier, t.number);
            if let Some(url) = &t.url {
                note.push_str(&format!(" ({url})"));
            }
            if !shipment.lines.is_empty() {
                let lines: Vec<String> = shipment.lines.iter().map(|(l, q)| format!("{q} × line {l}")).collect();
                note.push_str(&format!(": {}", lines.join(", ")));
            }
            let req = Req::new(Method::POST, format!("wc/v3/orders/{order_id}/notes"), "addOrderNote")
                .json(json!({"note": note, "customer_note": true}));
            self.call(&req).await?;
        }
        if self.inner.config.complete_on_ship && shipment.lines.is_empty() {
            let req = Req::new(Method::PUT, format!("wc/v3/orders/{order_id}"), "completeOrder")
                .json(json!({"status": "completed"}));
            self.call(&req).await?;
        }
        Ok(())
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        crate::webhook::verify(self.inner.config.webhook_secret.as_ref(), request)
    }
}

fn finish<'a>(outcomes: Vec<Option<ItemOutcome>>, listings: impl Iterator<Item = &'a ListingId>) -> Vec<ItemOutcome> {
    outcomes
        .into_iter()
        .zip(listings)
        .map(|(o, l)| o.unwrap_or_else(|| ItemOutcome::rejected(l.clone(), "not sent", true)))
        .collect()
}
