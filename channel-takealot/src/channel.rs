//! The [`Channel`] implementation.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use channel_core::http::{Auth, HttpClient, RateLimit, StatusCode};
use channel_core::rust_decimal::Decimal;
use channel_core::rust_decimal::prelude::ToPrimitive;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Currency, Error, ErrorKind, Fulfilment, ItemOutcome, Listing,
    ListingId, ListingStatus, Money, Order, OrderCursor, OrderLine, OrderPage, OrderStatus, Outcome, PriceUpdate,
    Result, Stock, StockUpdate, WebhookEvent, WebhookRejection, WebhookRequest,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::config::{IdentitySource, TakealotConfig};
use crate::error::TakealotError;
use crate::wire::{self, BatchItem, BatchRequest, BatchStatus, LeadtimeStockUpdate, OfferUpdate, OffersPage};

/// Most offers `GET /v2/offers` returns per page.
pub const PAGE_SIZE: usize = 100;
/// Most offers in one `POST /v2/offers/batch`.
pub const MAX_BATCH: usize = 10_000;
/// Longest `/v2/sales` date window Takealot accepts, in days (start and end dates included).
pub const MAX_SALES_WINDOW_DAYS: i64 = 180;
/// Suffix of the read-only listing of an offer's stock at Takealot DCs (`<offer_id>:dc`).
pub const DC_SUFFIX: &str = ":dc";

/// A Takealot seller account, as a [`Channel`].
#[derive(Clone)]
pub struct Takealot {
    config: TakealotConfig,
    http: HttpClient,
}

impl std::fmt::Debug for Takealot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Takealot").field("config", &self.config).field("http", &self.http).finish()
    }
}

/// One offer write: its position in the caller's input, the offer, the fields and the quantity it sets.
#[derive(Debug, Clone)]
struct Write {
    index: usize,
    offer_id: u64,
    update: OfferUpdate,
    quantity: Option<i64>,
}

impl Takealot {
    /// An adapter for the account `config` describes. Fails with [`TakealotError::Config`] on an invalid base
    /// URL or settings.
    pub fn new(config: TakealotConfig) -> std::result::Result<Self, TakealotError> {
        if config.sales_filter_separator.is_empty() {
            return Err(TakealotError::Config("sales_filter_separator must not be empty".into()));
        }
        let mut builder = HttpClient::builder()
            .name("takealot")
            .base_url(config.base_url.clone())
            .auth(Auth::authorization("Key", &config.api_key))
            .default_header("Accept", "application/json")
            .timeout(Duration::from_secs(config.timeout_secs.max(1)));
        if let Some(rpm) = config.requests_per_minute.and_then(NonZeroU32::new) {
            builder = builder.rate_limit(RateLimit::per_minute(rpm));
        }
        let http = builder.build().map_err(TakealotError::Http)?;
        Ok(Self { config, http })
    }

    /// The configuration.
    pub fn config(&self) -> &TakealotConfig {
        &self.config
    }

    /// The transport (for inspection in tests).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The listing id of an offer's merchant (leadtime) stock: the offer id.
    pub fn merchant_listing_id(offer_id: &str) -> ListingId {
        ListingId::new(offer_id)
    }

    /// The listing id of an offer's stock at Takealot DCs: `<offer_id>:dc`.
    pub fn dc_listing_id(offer_id: &str) -> ListingId {
        ListingId::new(format!("{offer_id}{DC_SUFFIX}"))
    }

    fn to_listings(&self, offer: &wire::Offer) -> Vec<Listing> {
        let Some(offer_id) = offer.offer_id.as_deref() else { return Vec::new() };
        let sku = offer.sku.clone().unwrap_or_default();
        let status = listing_status(offer.status.as_deref());
        let price = offer.selling_price.map(|p| Money::new(Decimal::from(p), Currency::ZAR));
        let mut ids = channel_core::PlatformIds::new();
        ids.insert("offer_id".into(), offer_id.to_owned());
        if let Some(t) = &offer.tsin_id {
            ids.insert("tsin".into(), t.clone());
        }
        if let Some(b) = offer.barcode.as_ref().filter(|b| !b.is_empty()) {
            ids.insert("barcode".into(), b.clone());
        }
        if let Some(rrp) = offer.rrp {
            ids.insert("rrp".into(), rrp.to_string());
        }
        ids.insert("merchant_warehouse_id".into(), self.config.merchant_warehouse_id.to_string());
        let mut merchant = Listing::new(Self::merchant_listing_id(offer_id), sku.clone(), 0)
            .with_stock(Stock::Tracked { quantity: offer.leadtime_at(self.config.merchant_warehouse_id) })
            .with_status(status);
        merchant.ids = ids.clone();
        if let Some(p) = price {
            merchant = merchant.with_price(p);
        }
        let mut out = vec![merchant];
        if self.config.dc_listings {
            let mut dc = Listing::new(Self::dc_listing_id(offer_id), sku, offer.dc_total())
                .with_fulfilment(Fulfilment::Channel)
                .with_status(status);
            ids.remove("merchant_warehouse_id");
            dc.ids = ids;
            if let Some(p) = price {
                dc = dc.with_price(p);
            }
            out.push(dc);
        }
        out
    }

    async fn offers_page(&self, page: usize) -> Result<(Vec<Listing>, bool)> {
        let body = self
            .http
            .get("/v2/offers")
            .query("page_number", page.to_string())
            .query("page_size", PAGE_SIZE.to_string())
            .operation("getOffers")
            .send_json::<OffersPage>()
            .await?
            .into_body();
        let n = body.offers.len();
        let more = match body.total_results.and_then(|t| usize::try_from(t).ok()) {
            Some(total) => page.saturating_mul(PAGE_SIZE) < total && n > 0,
            None => n == PAGE_SIZE,
        };
        Ok((body.offers.iter().flat_map(|o| self.to_listings(o)).collect(), more))
    }

    /// Apply `writes`: one PATCH each when there are at most `patch_max`, else batches of [`MAX_BATCH`].
    async fn apply(&self, writes: Vec<Write>, out: &mut [Option<ItemOutcome>], ids: &[ListingId]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() <= self.config.patch_max {
            let single = writes.len() == 1;
            for w in writes {
                let outcome = self.patch(&w, single).await?;
                out[w.index] = Some(ItemOutcome { listing: ids[w.index].clone(), outcome });
            }
            return Ok(());
        }
        for chunk in writes.chunks(MAX_BATCH) {
            let outcomes = self.batch(chunk).await?;
            for (w, outcome) in chunk.iter().zip(outcomes) {
                out[w.index] = Some(ItemOutcome { listing: ids[w.index].clone(), outcome });
            }
        }
        Ok(())
    }

    async fn patch(&self, w: &Write, single: bool) -> Result<Outcome> {
        let sent = self
            .http
            .patch(&format!("/v2/offers/offer/ID{}", w.offer_id))
            .json(&w.update)
            // An absolute set: applying it twice has the same effect as once.
            .idempotent(true)
            .operation("updateOffer")
            .send_json::<serde_json::Value>()
            .await;
        match sent {
            Ok(response) => {
                let shown = serde_json::from_value::<wire::Offer>(response.into_body())
                    .ok()
                    .map(|o| o.leadtime_at(self.config.merchant_warehouse_id));
                Ok(Outcome::Applied { quantity: w.quantity.map(|q| shown.unwrap_or(q)) })
            }
            Err(e) => match e.kind() {
                ErrorKind::Validation | ErrorKind::NotFound | ErrorKind::Conflict => {
                    Ok(Outcome::Rejected { reason: e.message().to_owned(), retryable: false })
                }
                ErrorKind::RateLimited | ErrorKind::Transient if !single => {
                    Ok(Outcome::Rejected { reason: e.message().to_owned(), retryable: true })
                }
                _ => Err(e),
            },
        }
    }

    async fn batch(&self, chunk: &[Write]) -> Result<Vec<Outcome>> {
        let request = BatchRequest {
            requests: chunk.iter().map(|w| BatchItem { offer_id: w.offer_id, update: w.update.clone() }).collect(),
        };
        let created = self
            .http
            .post("/v2/offers/batch")
            .json(&request)
            // Absolute values only: a resubmitted batch sets the same quantities.
            .idempotent(true)
            .operation("createBatch")
            .send_json::<BatchStatus>()
            .await?
            .into_body();
        let batch_id = created.batch_id.clone().ok_or_else(|| TakealotError::Unexpected {
            what: "POST /v2/offers/batch".into(),
            detail: "no batch_id in the answer".into(),
        })?;
        let status = self.poll(&batch_id, created).await?;
        Ok(batch_outcomes(chunk, &status))
    }

    async fn poll(&self, batch_id: &str, mut status: BatchStatus) -> Result<BatchStatus> {
        let every = Duration::from_millis(self.config.batch_poll_interval_ms.max(1));
        let limit = Duration::from_secs(self.config.batch_timeout_secs.max(1));
        let mut waited = Duration::ZERO;
        while status.is_pending() {
            if waited >= limit {
                return Err(TakealotError::BatchTimeout {
                    batch_id: batch_id.to_owned(),
                    status: status.status.unwrap_or_default(),
                    waited_secs: waited.as_secs(),
                }
                .into());
            }
            tokio::time::sleep(every).await;
            waited += every;
            status = self
                .http
                .get(&format!("/v2/offers/batch/{batch_id}"))
                .operation("getBatch")
                .send_json::<BatchStatus>()
                .await?
                .into_body();
        }
        Ok(status)
    }

    fn parse_target(&self, listing: &ListingId) -> std::result::Result<u64, Outcome> {
        if listing.as_str().ends_with(DC_SUFFIX) {
            return Err(Outcome::Rejected {
                reason: "stock at Takealot DCs is held by Takealot and cannot be written".into(),
                retryable: false,
            });
        }
        listing.as_str().parse::<u64>().map_err(|_| Outcome::Rejected {
            reason: format!("{listing} is not a Takealot offer id"),
            retryable: false,
        })
    }

    fn whole_rand(&self, money: Money) -> std::result::Result<i64, String> {
        if money.currency != Currency::ZAR {
            return Err(format!("Takealot prices are in ZAR, got {}", money.currency));
        }
        money
            .round_whole(self.config.price_rounding)
            .amount
            .to_i64()
            .ok_or_else(|| format!("price {money} is out of range"))
    }

    async fn identity(&self) -> Result<AccountIdentity> {
        if let IdentitySource::SellerEndpoint { path } = &self.config.identity {
            let response =
                self.http.get(path).accept_status(StatusCode::NOT_FOUND).operation("getSeller").send().await?;
            if response.status() != StatusCode::NOT_FOUND {
                let seller: wire::Seller = response.json()?;
                let id = seller.seller_id.ok_or_else(|| TakealotError::Unexpected {
                    what: format!("GET {path}"),
                    detail: "no seller_id in the answer".into(),
                })?;
                let mut identity = AccountIdentity::new(ChannelKind::Takealot, id)
                    .with_detail("warehouse", self.config.merchant_warehouse_id.to_string());
                if let Some(name) = seller.display_name {
                    identity = identity.with_name(name);
                }
                return Ok(identity);
            }
            tracing::info!(path, "seller endpoint answered 404; identifying the account by its warehouse");
        }
        self.http
            .get("/v2/offers")
            .query("page_number", "1")
            .query("page_size", "1")
            .operation("getOffers")
            .send_json::<OffersPage>()
            .await?;
        let w = self.config.merchant_warehouse_id;
        Ok(AccountIdentity::new(ChannelKind::Takealot, format!("warehouse-{w}"))
            .with_detail("warehouse", w.to_string()))
    }

    /// The date windows `orders_since` reads: from the cursor less the look-back to today, in spans Takealot
    /// accepts.
    fn windows(&self, since: Timestamp, now: Timestamp) -> VecDeque<(Date, Date)> {
        let start_ts = since - jiff::SignedDuration::from_hours(24 * i64::from(self.config.sales_lookback_days));
        let start = start_ts.to_zoned(TimeZone::UTC).date();
        let today = now.to_zoned(TimeZone::UTC).date();
        let mut windows = VecDeque::new();
        let mut from = start.min(today);
        loop {
            let to = from.checked_add((MAX_SALES_WINDOW_DAYS - 1).days()).unwrap_or(today).min(today);
            windows.push_back((from, to));
            if to >= today {
                break;
            }
            from = match to.checked_add(1.day()) {
                Ok(d) => d,
                Err(_) => break,
            };
        }
        windows
    }

    async fn sales_page(&self, window: (Date, Date), page: usize) -> Result<(Vec<Order>, bool)> {
        let sep = &self.config.sales_filter_separator;
        let filters = format!("start_date:{}{sep}end_date:{}", window.0, window.1);
        let body = self
            .http
            .get("/v2/sales")
            .query("filters", filters)
            .query("page_number", page.to_string())
            .query("page_size", PAGE_SIZE.to_string())
            .operation("getSales")
            .send_json::<wire::SalesPage>()
            .await?
            .into_body();
        let n = body.sales.len();
        let more = match body.page_summary.and_then(|s| s.total).and_then(|t| usize::try_from(t).ok()) {
            Some(total) => page.saturating_mul(PAGE_SIZE) < total && n > 0,
            None => n == PAGE_SIZE,
        };
        Ok((group_sales(&body.sales), more))
    }
}

/// Per-item outcomes of a processed batch, in `chunk`'s order.
fn batch_outcomes(chunk: &[Write], status: &BatchStatus) -> Vec<Outcome> {
    chunk
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let by_index = status.results.iter().find(|r| r.index.and_then(|x| usize::try_from(x).ok()) == Some(i));
            let offer = w.offer_id.to_string();
            let result = by_index.or_else(|| {
                status.results.iter().find(|r| r.index.is_none() && r.offer_id.as_deref() == Some(offer.as_str()))
            });
            match result {
                Some(r) if r.succeeded() => Outcome::Applied { quantity: w.quantity },
                Some(r) => {
                    let reason = if r.errors.is_empty() {
                        format!("Takealot reported {}", r.status.as_deref().unwrap_or("a failure"))
                    } else {
                        r.errors.iter().map(wire::ApiMessage::describe).collect::<Vec<_>>().join("; ")
                    };
                    let lower = reason.to_ascii_lowercase();
                    let retryable = lower.contains("retry") || lower.contains("temporar");
                    Outcome::Rejected { reason, retryable }
                }
                None => Outcome::Rejected {
                    reason: "Takealot reported no result for this offer in the batch".into(),
                    retryable: true,
                },
            }
        })
        .collect()
}

fn listing_status(status: Option<&str>) -> ListingStatus {
    let s = status.unwrap_or("").to_ascii_lowercase();
    if s.contains("disabled by takealot") {
        ListingStatus::DisabledByChannel
    } else if s.contains("disabled") {
        ListingStatus::DisabledBySeller
    } else if s == "buyable" {
        ListingStatus::Active
    } else {
        ListingStatus::Inactive
    }
}

/// Normalise a Takealot sale status.
pub(crate) fn order_status(status: &str) -> OrderStatus {
    let s = status.to_ascii_lowercase();
    if s.contains("cancel") {
        OrderStatus::Cancelled
    } else if s.contains("return") {
        OrderStatus::Returned
    } else if s.contains("deliver") {
        OrderStatus::Delivered
    } else if s.contains("shipped") || s.contains("collected") || s.contains("transit") {
        OrderStatus::Shipped
    } else {
        OrderStatus::Open
    }
}

/// Whether a sale was fulfilled from the seller's leadtime stock (see the README: the status names it, or
/// the sale carries a leadtime purchase order).
pub(crate) fn is_leadtime(sale: &wire::Sale) -> bool {
    let s = sale.sale_status.as_deref().unwrap_or("").to_ascii_lowercase();
    s.contains("lead time")
        || s.contains("leadtime")
        || s.contains("drop ship")
        || s.contains("dropship")
        || sale.po_number.is_some()
}

/// A date (`YYYY-MM-DD`) or date-time as a timestamp (dates at midnight UTC).
pub(crate) fn parse_when(raw: Option<&str>) -> Option<Timestamp> {
    let raw = raw?.trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts);
    }
    if let Ok(dt) = raw.parse::<jiff::civil::DateTime>() {
        return dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
    }
    raw.parse::<Date>().ok().and_then(|d| d.to_zoned(TimeZone::UTC).ok()).map(|z| z.timestamp())
}

/// One order line from a sale.
pub(crate) fn sale_line(sale: &wire::Sale) -> OrderLine {
    let quantity = sale.quantity.and_then(|q| u32::try_from(q).ok()).unwrap_or(0);
    let line_id = sale
        .order_item_id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", sale.order_id.as_deref().unwrap_or(""), sale.sku.as_deref().unwrap_or("")));
    let status = order_status(sale.sale_status.as_deref().unwrap_or(""));
    let mut line = OrderLine::new(line_id, sale.sku.clone().unwrap_or_default(), quantity)
        .with_fulfilment(if is_leadtime(sale) { Fulfilment::Merchant } else { Fulfilment::Channel });
    if let Some(offer) = &sale.offer_id {
        line = line.with_listing(offer.as_str());
    }
    if let Some(total) = sale.selling_price
        && quantity > 0
    {
        line = line.with_unit_price(Money::new(Decimal::from(total) / Decimal::from(quantity), Currency::ZAR));
    }
    if status.releases_stock() {
        line = line.with_refunded(quantity);
    }
    line
}

/// Sales grouped into orders (one sale per order item), first-seen order kept.
pub(crate) fn group_sales(sales: &[wire::Sale]) -> Vec<Order> {
    let mut orders: Vec<(String, Vec<&wire::Sale>)> = Vec::new();
    for sale in sales {
        let Some(id) = sale.order_id.clone() else { continue };
        match orders.iter_mut().find(|(o, _)| *o == id) {
            Some((_, list)) => list.push(sale),
            None => orders.push((id, vec![sale])),
        }
    }
    orders.into_iter().map(|(id, sales)| order_from_sales(&id, &sales, None)).collect()
}

/// An order from its sales; `updated` overrides the change time (a webhook's event time).
pub(crate) fn order_from_sales(id: &str, sales: &[&wire::Sale], updated: Option<Timestamp>) -> Order {
    let lines: Vec<OrderLine> = sales.iter().map(|s| sale_line(s)).collect();
    // The order's status is that of a line still holding stock, if any, else the first line's.
    let lead = sales
        .iter()
        .find(|s| !order_status(s.sale_status.as_deref().unwrap_or("")).releases_stock())
        .or_else(|| sales.first());
    let channel_status = lead.and_then(|s| s.sale_status.clone()).unwrap_or_default();
    let created =
        sales.iter().filter_map(|s| parse_when(s.order_date.as_deref())).min().unwrap_or(Timestamp::UNIX_EPOCH);
    Order::new(
        id,
        order_status(&channel_status),
        channel_status,
        lines,
        created,
        updated.unwrap_or(created).max(created),
    )
}

#[async_trait]
impl Channel for Takealot {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Takealot
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
            .tracking_export(false)
            .price_sync(true)
            .channel_held_stock(self.config.dc_listings)
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        self.identity().await
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        stream::try_unfold(Some(1usize), move |page| async move {
            let Some(page) = page else { return Ok(None) };
            let (listings, more) = self.offers_page(page).await?;
            Ok::<_, Error>(Some((listings, more.then_some(page + 1))))
        })
        .map_ok(|listings| stream::iter(listings.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        let ids: Vec<ListingId> = updates.iter().map(|u| u.listing.clone()).collect();
        let mut out: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut writes = Vec::new();
        for (index, u) in updates.iter().enumerate() {
            match self.parse_target(&u.listing) {
                Ok(offer_id) => writes.push(Write {
                    index,
                    offer_id,
                    update: OfferUpdate {
                        leadtime_days: self.config.leadtime_days,
                        leadtime_stock: Some(vec![LeadtimeStockUpdate {
                            merchant_warehouse_id: self.config.merchant_warehouse_id,
                            quantity: u.quantity,
                        }]),
                        ..OfferUpdate::default()
                    },
                    quantity: Some(u.quantity),
                }),
                Err(outcome) => out[index] = Some(ItemOutcome { listing: u.listing.clone(), outcome }),
            }
        }
        self.apply(writes, &mut out, &ids).await?;
        Ok(finish(out, &ids))
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        let ids: Vec<ListingId> = updates.iter().map(|u| u.listing.clone()).collect();
        let mut out: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut writes = Vec::new();
        for (index, u) in updates.iter().enumerate() {
            let target = self.parse_target(&u.listing);
            let prices = self.whole_rand(u.price).and_then(|p| match u.list_price {
                Some(l) => self.whole_rand(l).map(|l| (p, Some(l))),
                None => Ok((p, None)),
            });
            match (target, prices) {
                (Ok(offer_id), Ok((selling, rrp))) => writes.push(Write {
                    index,
                    offer_id,
                    update: OfferUpdate { selling_price: Some(selling), rrp, ..OfferUpdate::default() },
                    quantity: None,
                }),
                (Err(outcome), _) => out[index] = Some(ItemOutcome { listing: u.listing.clone(), outcome }),
                (_, Err(reason)) => out[index] = Some(ItemOutcome::rejected(u.listing.clone(), reason, false)),
            }
        }
        self.apply(writes, &mut out, &ids).await?;
        Ok(finish(out, &ids))
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let now = Timestamp::now();
        let windows = self.windows(cursor.since, now);
        let next_final = OrderCursor::new(cursor.since.max(now));
        stream::try_unfold(Some((windows, 1usize)), move |state| {
            let next_final = next_final.clone();
            async move {
                let Some((mut windows, page)) = state else { return Ok(None) };
                let Some(window) = windows.front().copied() else {
                    return Ok(Some((OrderPage::new(Vec::new(), next_final), None)));
                };
                let (orders, more) = self.sales_page(window, page).await?;
                let next_state = if more {
                    Some((windows, page + 1))
                } else {
                    windows.pop_front();
                    (!windows.is_empty()).then_some((windows, 1))
                };
                let next = if next_state.is_none() { next_final } else { cursor.clone() };
                Ok::<_, Error>(Some((OrderPage::new(orders, next), next_state)))
            }
        })
        .boxed()
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        crate::webhook::verify(&self.config, request)
    }
}

fn finish(out: Vec<Option<ItemOutcome>>, ids: &[ListingId]) -> Vec<ItemOutcome> {
    out.into_iter()
        .zip(ids)
        .map(|(o, id)| {
            o.unwrap_or_else(|| ItemOutcome::rejected(id.clone(), "no outcome was recorded for this item", true))
        })
        .collect()
}
