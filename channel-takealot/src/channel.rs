//! The [`Channel`] implementation: the Seller API calls of [`client`](crate::client) composed with the
//! mapping of [`map`](crate::map).

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use channel_core::http::HttpClient;
use channel_core::http::paginate::{self, Page};
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, ErrorKind, ItemOutcome, Listing, ListingId, OrderCursor,
    OrderPage, Outcome, PriceUpdate, Result, StockUpdate, WebhookEvent, WebhookRejection, WebhookRequest,
};
use futures::stream::BoxStream;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

use crate::client::Client;
use crate::config::BatchPhase;
use crate::config::{IdentitySource, TakealotConfig};
use crate::error::TakealotError;
use crate::map::{self, DC_SUFFIX};
use crate::wire::{self, BatchItem, BatchStatus, OfferUpdate};

/// Most offers `GET /v2/offers` returns per page.
pub const PAGE_SIZE: usize = 100;
/// Most offers in one `POST /v2/offers/batch`.
pub const MAX_BATCH: usize = 10_000;
/// Longest `/v2/sales` date window Takealot accepts, in days (start and end dates included).
pub const MAX_SALES_WINDOW_DAYS: i64 = 180;

/// A Takealot seller account, as a [`Channel`].
#[derive(Clone)]
pub struct Takealot {
    config: TakealotConfig,
    client: Client,
}

impl std::fmt::Debug for Takealot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Takealot").field("config", &self.config).field("http", self.client.http()).finish()
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

/// Where `orders_since` is: the date windows still to read and the page of the first one.
#[derive(Debug, Clone)]
struct SalesCursor {
    windows: VecDeque<(Date, Date)>,
    page: u32,
}

impl Takealot {
    /// An adapter for the account `config` describes. Fails with [`TakealotError::Config`] on an invalid base
    /// URL or settings.
    pub fn new(config: TakealotConfig) -> std::result::Result<Self, TakealotError> {
        if config.sales_filter_separator.is_empty() {
            return Err(TakealotError::Config("sales_filter_separator must not be empty".into()));
        }
        if !(-12..=14).contains(&config.sales_utc_offset_hours) {
            return Err(TakealotError::Config("sales_utc_offset_hours must be between -12 and 14".into()));
        }
        let client = Client::new(&config)?;
        Ok(Self { config, client })
    }

    /// The configuration.
    pub fn config(&self) -> &TakealotConfig {
        &self.config
    }

    /// The transport (for inspection in tests).
    pub fn http(&self) -> &HttpClient {
        self.client.http()
    }

    /// The listing id of an offer's merchant (leadtime) stock: the offer id.
    pub fn merchant_listing_id(offer_id: &str) -> ListingId {
        map::merchant_listing_id(offer_id)
    }

    /// The listing id of an offer's stock at Takealot DCs: `<offer_id>:dc`.
    pub fn dc_listing_id(offer_id: &str) -> ListingId {
        map::dc_listing_id(offer_id)
    }

    fn listings_of(&self, offer: &wire::Offer) -> Vec<Listing> {
        map::listings_from_offer(offer, self.config.merchant_warehouse_id, self.config.dc_listings)
    }

    /// One page of `listings`: the listings of the page's offers, and the next page's number.
    async fn offers_page(&self, page: u32) -> Result<Page<Listing, u32>> {
        let body = self.client.get_offers(page, PAGE_SIZE).await?;
        let more = map::has_more(page, PAGE_SIZE, body.offers.len(), body.total_results);
        let listings = body.offers.iter().flat_map(|o| self.listings_of(o)).collect();
        Ok(Page::new(listings, paginate::next_page_number(page, more)))
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
        let answer = self.client.patch_offer(w.offer_id, &w.update).await.and_then(|answer| {
            if answer.validation_errors.is_empty() {
                return Ok(answer);
            }
            let (errors, retryable) = map::refusal(&answer.validation_errors, &self.config.retry_codes);
            Err(TakealotError::OfferRefused { offer_id: w.offer_id, errors, retryable }.into())
        });
        match answer {
            Ok(answer) => {
                let shown = answer.offer.map(|o| o.leadtime_at(self.config.merchant_warehouse_id));
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
        let items: Vec<BatchItem> =
            chunk.iter().map(|w| BatchItem { offer_id: w.offer_id, update: w.update.clone() }).collect();
        let created = self.client.create_batch(&items).await?;
        let batch_id = created.batch_id.clone().ok_or_else(|| TakealotError::Unexpected {
            what: "POST /v2/offers/batch".into(),
            detail: "no batch_id in the answer".into(),
        })?;
        let (status, phase) = self.poll(&batch_id, created).await?;
        let len = chunk.len();
        Ok(chunk
            .iter()
            .enumerate()
            .map(|(i, w)| {
                map::batch_outcome(&status, (phase, &self.config.retry_codes), (i, len), w.offer_id, w.quantity)
            })
            .collect())
    }

    fn phase(&self, status: &BatchStatus) -> BatchPhase {
        let state = status.status.clone().unwrap_or_default();
        self.config.batch_statuses.phase(state.id, state.description.as_deref())
    }

    async fn poll(&self, batch_id: &str, mut status: BatchStatus) -> Result<(BatchStatus, BatchPhase)> {
        let every = Duration::from_millis(self.config.batch_poll_interval_ms.max(1));
        let limit = Duration::from_secs(self.config.batch_timeout_secs.max(1));
        let mut waited = Duration::ZERO;
        loop {
            let phase = self.phase(&status);
            if phase != BatchPhase::Pending {
                return Ok((status, phase));
            }
            if waited >= limit {
                return Err(TakealotError::BatchTimeout {
                    batch_id: batch_id.to_owned(),
                    status: map::describe(&status),
                    waited_secs: waited.as_secs(),
                }
                .into());
            }
            tokio::time::sleep(every).await;
            waited += every;
            status = self.client.get_batch(batch_id).await?;
        }
    }

    /// The offer a write to `listing` goes to, or the outcome refusing it (a DC listing, a foreign id).
    fn write_target(listing: &ListingId) -> std::result::Result<u64, Outcome> {
        if listing.as_str().ends_with(DC_SUFFIX) {
            return Err(Outcome::Rejected {
                reason: "stock at Takealot DCs is held by Takealot and cannot be written".into(),
                retryable: false,
            });
        }
        map::offer_ref(listing).map(|r| r.offer_id).map_err(|_| Outcome::Rejected {
            reason: format!("{listing} is not a Takealot offer id"),
            retryable: false,
        })
    }

    async fn identity(&self) -> Result<AccountIdentity> {
        let warehouse = self.config.merchant_warehouse_id;
        if let IdentitySource::SellerEndpoint { path } = &self.config.identity {
            if let Some(seller) = self.client.get_seller(path).await? {
                let id = seller.seller_id.ok_or_else(|| TakealotError::Unexpected {
                    what: format!("GET {path}"),
                    detail: "no seller_id in the answer".into(),
                })?;
                let mut identity =
                    AccountIdentity::new(ChannelKind::Takealot, id).with_detail("warehouse", warehouse.to_string());
                if let Some(name) = seller.display_name {
                    identity = identity.with_name(name);
                }
                return Ok(identity);
            }
            tracing::info!(path, "seller endpoint answered 404; identifying the account by its warehouse");
        }
        self.client.get_offers(1, 1).await?;
        Ok(AccountIdentity::new(ChannelKind::Takealot, format!("warehouse-{warehouse}"))
            .with_detail("warehouse", warehouse.to_string()))
    }

    /// The date windows `orders_since` reads: from the cursor less the look-back to today, in spans Takealot
    /// accepts.
    fn windows(&self, since: Timestamp, now: Timestamp) -> VecDeque<(Date, Date)> {
        let start_ts = since - jiff::SignedDuration::from_hours(24 * i64::from(self.config.sales_lookback_days));
        // The filter's dates are the sales' local dates (South African time by default).
        let zone = self.config.sales_time_zone();
        let start = start_ts.to_zoned(zone.clone()).date();
        let today = now.to_zoned(zone).date();
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

    /// One page of `orders_since`: the orders of one sales page, carrying `cursor` (the input cursor) on every
    /// page but the last, which carries `last`; and where the next page is.
    async fn sales_page(
        &self,
        mut at: SalesCursor,
        cursor: &OrderCursor,
        last: OrderCursor,
    ) -> Result<Page<OrderPage, SalesCursor>> {
        let Some((start, end)) = at.windows.front().copied() else {
            return Ok(Page::last(vec![OrderPage::new(Vec::new(), last)]));
        };
        let separator = &self.config.sales_filter_separator;
        let body = self.client.get_sales(start, end, separator, at.page, PAGE_SIZE).await?;
        let total = body.page_summary.as_ref().and_then(|s| s.total);
        let next = if map::has_more(at.page, PAGE_SIZE, body.sales.len(), total) {
            at.page = at.page.saturating_add(1);
            Some(at)
        } else {
            at.windows.pop_front();
            (!at.windows.is_empty()).then_some(SalesCursor { windows: at.windows, page: 1 })
        };
        let carried = if next.is_none() { last } else { cursor.clone() };
        let orders = map::group_sales(&body.sales, &map::SalesFormat::of(&self.config))?;
        Ok(Page::new(vec![OrderPage::new(orders, carried)], next))
    }
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
            .listings_by_id_batch(1)
            .delta_adjust(false)
            .compare_and_set(false)
            .idempotent_writes(false)
            .webhooks(true)
            .webhook_max_age(self.config.webhook_window())
            .tracking_export(false)
            .price_sync(true)
            .channel_held_stock(self.config.dc_listings)
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        self.identity().await
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        paginate::items(1u32, move |page| self.offers_page(page))
    }

    /// One `GET /v2/offers/offer/ID<offer_id>` per offer named (an offer's merchant and `:dc` listings share
    /// the read); ids that are not this adapter's, offers Takealot does not know (404) and DC listings while
    /// `dc_listings` is off are left out; foreign ids and those DC listings cost no call.
    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        let wanted: HashSet<&ListingId> = ids.iter().collect();
        let mut offers: Vec<u64> = Vec::new();
        let served = ids.iter().filter_map(|id| map::offer_ref(id).ok()).filter(|r| !r.dc || self.config.dc_listings);
        for offer in served {
            if !offers.contains(&offer.offer_id) {
                offers.push(offer.offer_id);
            }
        }
        let mut found = Vec::new();
        for offer_id in offers {
            if let Some(offer) = self.client.get_offer(offer_id).await? {
                found.extend(self.listings_of(&offer).into_iter().filter(|l| wanted.contains(&l.id)));
            }
        }
        Ok(found)
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        let ids: Vec<ListingId> = updates.iter().map(|u| u.listing.clone()).collect();
        let mut out: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut writes = Vec::new();
        for (index, u) in updates.iter().enumerate() {
            // The swagger asks for "a positive whole number for the quantity" of leadtime stock; zero stock
            // is how an offer is emptied (the platform notes: "stock can't go below 0"), so only a negative
            // quantity is refused, before anything is sent.
            let target = Self::write_target(&u.listing).and_then(|offer_id| {
                if u.quantity < 0 {
                    return Err(Outcome::Rejected {
                        reason: format!(
                            "quantity {} is negative; Takealot leadtime stock can't go below 0",
                            u.quantity
                        ),
                        retryable: false,
                    });
                }
                Ok(offer_id)
            });
            match target {
                Ok(offer_id) => writes.push(Write {
                    index,
                    offer_id,
                    update: map::stock_update(self.config.merchant_warehouse_id, self.config.leadtime_days, u.quantity),
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
        let rounding = self.config.price_rounding;
        for (index, u) in updates.iter().enumerate() {
            let target = Self::write_target(&u.listing);
            // `selling_price` and `rrp`: "Please ensure you supply us with a positive whole number".
            let prices = map::positive_rand(u.price, rounding, "selling_price").and_then(|p| match u.list_price {
                Some(l) => map::positive_rand(l, rounding, "rrp").map(|l| (p, Some(l))),
                None => Ok((p, None)),
            });
            match (target, prices) {
                (Ok(offer_id), Ok((selling, rrp))) => {
                    writes.push(Write { index, offer_id, update: map::price_update(selling, rrp), quantity: None });
                }
                (Err(outcome), _) => out[index] = Some(ItemOutcome { listing: u.listing.clone(), outcome }),
                (_, Err(reason)) => out[index] = Some(ItemOutcome::rejected(u.listing.clone(), reason, false)),
            }
        }
        self.apply(writes, &mut out, &ids).await?;
        Ok(finish(out, &ids))
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let now = Timestamp::now();
        let first = SalesCursor { windows: self.windows(cursor.since, now), page: 1 };
        let last = OrderCursor::new(cursor.since.max(now));
        paginate::items(first, move |at| self.sales_page(at, cursor, last.clone()))
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
