//! The [`Ebay`] channel: [`Channel`] composed of the [`Client`] and the [`map`](crate::ebay::map)
//! functions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use channel_core::http::paginate::{self, Page};
use channel_core::http::{HttpClient, RetryPolicy};
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, ErrorKind, ItemOutcome, Listing, ListingId, OrderCursor,
    OrderPage, PriceUpdate, Result, Shipment, StockUpdate, WebhookEvent, WebhookRejection, WebhookRequest,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::ebay::client::Client;
use crate::ebay::config::EbayConfig;
use crate::ebay::error::EbayError;
use crate::ebay::map::{self, OfferInfo};
use crate::ebay::{webhook, wire};

/// `bulkGetInventoryItem` takes up to 25 SKUs.
const BULK_GET_MAX: usize = 25;
/// Offer reads in flight at once during a listing read.
const OFFER_READS_IN_FLIGHT: usize = 4;

/// Builds an [`Ebay`] channel; the builder adds what a config cannot hold (a retry policy).
#[derive(Debug)]
pub struct EbayBuilder {
    config: EbayConfig,
    retry: Option<RetryPolicy>,
}

impl EbayBuilder {
    /// The transport's retry policy (the config's `max_attempts`, when set, still applies).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Validate the config and build the channel.
    pub fn build(self) -> std::result::Result<Ebay, EbayError> {
        self.config.validate()?;
        let client = Client::new(&self.config, self.retry)?;
        let batch = AtomicUsize::new(self.config.max_stock_batch);
        Ok(Ebay { config: self.config, client, batch, offers: Mutex::new(HashMap::new()) })
    }
}

/// An eBay seller account as a [`Channel`].
pub struct Ebay {
    config: EbayConfig,
    client: Client,
    /// SKUs per bulk write now: the configured size until a whole call is refused, then 1.
    batch: AtomicUsize,
    /// Offers by SKU, with when they were read.
    offers: Mutex<HashMap<String, (Instant, Option<OfferInfo>)>>,
}

impl std::fmt::Debug for Ebay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ebay")
            .field("config", &self.config)
            .field("batch", &self.batch.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Where a listing scan is: the `next` href, and whether a page was read.
#[derive(Debug, Clone, Default)]
struct Scan {
    next: Option<String>,
    after_first: bool,
}

impl Ebay {
    /// A builder for `config`.
    pub fn builder(config: EbayConfig) -> EbayBuilder {
        EbayBuilder { config, retry: None }
    }

    /// The channel with default transport settings.
    pub fn new(config: EbayConfig) -> std::result::Result<Self, EbayError> {
        Self::builder(config).build()
    }

    /// The API transport (for its rate-limit settings).
    pub fn http(&self) -> &HttpClient {
        self.client.http()
    }

    /// How many OAuth token requests this channel made.
    pub fn token_requests(&self) -> u64 {
        self.client.token_requests()
    }

    /// SKUs per bulk write now (1 after a whole call was refused).
    pub fn stock_batch(&self) -> usize {
        self.batch.load(Ordering::Relaxed)
    }

    fn cached_offer(&self, sku: &str) -> Option<Option<OfferInfo>> {
        let ttl = Duration::from_secs(self.config.offer_cache_secs);
        let cache = self.offers.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(sku).filter(|(at, _)| at.elapsed() < ttl).map(|(_, o)| o.clone())
    }

    fn remember_offer(&self, sku: &str, offer: Option<OfferInfo>) {
        self.offers.lock().unwrap_or_else(PoisonError::into_inner).insert(sku.to_owned(), (Instant::now(), offer));
    }

    /// The SKU's offer: cached, or read with `getOffers`.
    async fn offer(&self, sku: &str) -> Result<Option<OfferInfo>> {
        if let Some(o) = self.cached_offer(sku) {
            return Ok(o);
        }
        let offer = map::pick_offer(&self.client.get_offers(sku).await?);
        self.remember_offer(sku, offer.clone());
        Ok(offer)
    }

    /// Items as listings, with their offers (read a few at a time where not cached).
    async fn with_offers(&self, items: Vec<wire::InventoryItem>) -> Result<Vec<Listing>> {
        stream::iter(items)
            .map(|item| async move {
                let offer = self.offer(&item.sku).await?;
                Ok::<_, channel_core::Error>(map::listing(&item, offer.as_ref()))
            })
            .buffered(OFFER_READS_IN_FLIGHT)
            .try_collect()
            .await
    }

    async fn listing_page(&self, scan: Scan) -> Result<Page<Listing, Scan>> {
        let page = self.client.get_inventory_items(scan.next.as_deref(), self.config.page_size).await?;
        if !scan.after_first && page.inventory_items.is_empty() && page.total.unwrap_or(0) == 0 {
            if self.config.allow_empty_catalog {
                return Ok(Page::last(Vec::new()));
            }
            return Err(EbayError::NotMigrated.into());
        }
        let next = page.next.filter(|n| !n.is_empty() && !page.inventory_items.is_empty());
        let listings = self.with_offers(page.inventory_items).await?;
        Ok(Page::new(listings, next.map(|n| Scan { next: Some(n), after_first: true })))
    }

    /// One bulk write of `jobs` (index, request); outcomes by index. A whole call refused with 400 when
    /// it carried several SKUs is sent again one SKU per call, and the batch size stays at one.
    async fn push(
        &self,
        jobs: &[(usize, wire::PriceQuantity)],
        outcomes: &mut [Option<ItemOutcome>],
        listings: &[ListingId],
    ) -> Result<()> {
        let requests: Vec<wire::PriceQuantity> = jobs.iter().map(|(_, r)| r.clone()).collect();
        match self.client.bulk_update_price_quantity(requests).await {
            Ok(answer) => {
                for (i, request) in jobs {
                    outcomes[*i] = Some(outcome(
                        &listings[*i],
                        &request.sku,
                        &answer,
                        request.ship_to_location_availability.as_ref().and_then(|s| s.quantity),
                    ));
                }
                Ok(())
            }
            Err(e) if e.status() == Some(400) && jobs.len() > 1 => {
                tracing::warn!(skus = jobs.len(), "eBay refused a bulk update as a whole; sending one SKU per call");
                self.batch.store(1, Ordering::Relaxed);
                for job in jobs {
                    Box::pin(self.push(std::slice::from_ref(job), outcomes, listings)).await?;
                }
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Config) => Err(e),
            Err(e) => {
                for (i, _) in jobs {
                    outcomes[*i] = Some(ItemOutcome::rejected(listings[*i].clone(), e.to_string(), e.is_retryable()));
                }
                Ok(())
            }
        }
    }

    async fn push_all(
        &self,
        jobs: Vec<(usize, wire::PriceQuantity)>,
        mut outcomes: Vec<Option<ItemOutcome>>,
        listings: &[ListingId],
    ) -> Result<Vec<ItemOutcome>> {
        let mut start = 0;
        while start < jobs.len() {
            let size = self.batch.load(Ordering::Relaxed).max(1);
            let end = (start + size).min(jobs.len());
            self.push(&jobs[start..end], &mut outcomes, listings).await?;
            start = end;
        }
        Ok(outcomes
            .into_iter()
            .zip(listings)
            .map(|(o, l)| o.unwrap_or_else(|| ItemOutcome::rejected(l.clone(), "not sent", true)))
            .collect())
    }

    async fn order_page(
        &self,
        since: jiff::Timestamp,
        cursor: (Option<String>, jiff::Timestamp),
    ) -> Result<Page<OrderPage, (Option<String>, jiff::Timestamp)>> {
        let (next, newest) = cursor;
        let page =
            self.client.get_orders(&map::filter_time(since), next.as_deref(), self.config.order_page_size).await?;
        let orders: Vec<_> = page.orders.iter().map(map::order).collect();
        let newest = orders.iter().map(|o| o.updated_at).fold(newest, std::cmp::max);
        let more = page.next.filter(|n| !n.is_empty() && !page.orders.is_empty());
        let out = OrderPage::new(orders, OrderCursor::new(newest));
        Ok(Page::new(vec![out], more.map(|n| (Some(n), newest))))
    }
}

/// The outcome of `sku` in a bulk answer: applied when every status for it is 200, else rejected with
/// eBay's messages (retryable on a 5xx status or a missing answer).
fn outcome(
    listing: &ListingId,
    sku: &str,
    answer: &wire::BulkPriceQuantityResponse,
    quantity: Option<i64>,
) -> ItemOutcome {
    let mine: Vec<&wire::PriceQuantityResponse> =
        answer.responses.iter().filter(|r| r.sku.as_deref() == Some(sku)).collect();
    if mine.is_empty() {
        return ItemOutcome::rejected(listing.clone(), format!("eBay's answer has no status for SKU {sku}"), true);
    }
    match mine.iter().find(|r| r.status_code != Some(200)) {
        None => ItemOutcome::applied(listing.clone(), quantity),
        Some(bad) => {
            let status = bad.status_code.unwrap_or(0);
            let reasons: Vec<String> = bad
                .errors
                .iter()
                .map(|e| format!("{} {}", e.error_id.unwrap_or(0), e.message.as_deref().unwrap_or("")))
                .collect();
            ItemOutcome::rejected(
                listing.clone(),
                format!("eBay status {status}: {}", reasons.join("; ")),
                status >= 500,
            )
        }
    }
}

#[async_trait]
impl Channel for Ebay {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Ebay
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::builder()
            .max_stock_batch(self.config.max_stock_batch)
            .max_price_batch(self.config.max_stock_batch)
            .listing_page_size(self.config.page_size)
            .listings_by_id_batch(BULK_GET_MAX)
            .tracking_export(true)
            .price_sync(true)
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let user = self.client.get_user().await?;
        let Some(user_id) = user.user_id.filter(|u| !u.is_empty()) else {
            return Err(EbayError::unexpected("getUser", "no userId").into());
        };
        let mut id = AccountIdentity::new(ChannelKind::Ebay, user_id)
            .with_detail("marketplace_id", self.config.marketplace_id.clone());
        if let Some(name) = user.username {
            id = id.with_name(name);
        }
        if let Some(m) = user.registration_marketplace_id {
            id = id.with_detail("registration_marketplace_id", m);
        }
        if let Some(t) = user.account_type {
            id = id.with_detail("account_type", t);
        }
        Ok(id)
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        paginate::items(Scan::default(), move |scan| self.listing_page(scan))
    }

    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        let mut skus: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).filter(|s| !s.is_empty()).collect();
        skus.sort();
        skus.dedup();
        let mut found = Vec::new();
        for chunk in skus.chunks(BULK_GET_MAX) {
            let answer = self.client.bulk_get_inventory_item(chunk).await?;
            let items: Vec<wire::InventoryItem> = answer
                .responses
                .into_iter()
                .filter(|r| r.status_code == Some(200))
                .filter_map(|r| {
                    r.inventory_item.map(|mut i| {
                        if let Some(sku) = r.sku {
                            i.sku = sku;
                        }
                        i
                    })
                })
                .collect();
            found.extend(self.with_offers(items).await?);
        }
        Ok(found)
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        let listings: Vec<ListingId> = updates.iter().map(|u| u.listing.clone()).collect();
        let mut outcomes = vec![None; updates.len()];
        let mut jobs = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            if u.quantity < 0 || u.channel_sku.is_empty() {
                outcomes[i] = Some(ItemOutcome::rejected(u.listing.clone(), "a quantity below zero or no SKU", false));
                continue;
            }
            jobs.push((
                i,
                wire::PriceQuantity {
                    sku: u.channel_sku.clone(),
                    ship_to_location_availability: Some(wire::ShipToLocationAvailability {
                        quantity: Some(u.quantity),
                    }),
                    offers: Vec::new(),
                },
            ));
        }
        self.push_all(jobs, outcomes, &listings).await
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        let listings: Vec<ListingId> = updates.iter().map(|u| u.listing.clone()).collect();
        let mut outcomes = vec![None; updates.len()];
        let mut jobs = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            let offer_id = match u.ids.get(map::OFFER_ID) {
                Some(id) => Some(id.clone()),
                None => match self.offer(&u.channel_sku).await {
                    Ok(offer) => offer.map(|o| o.offer_id),
                    Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Config) => return Err(e),
                    Err(e) => {
                        let reason = format!("reading the offer: {e}");
                        outcomes[i] = Some(ItemOutcome::rejected(u.listing.clone(), reason, e.is_retryable()));
                        continue;
                    }
                },
            };
            let Some(offer_id) = offer_id else {
                outcomes[i] = Some(ItemOutcome::rejected(u.listing.clone(), "the SKU has no offer to price", false));
                continue;
            };
            jobs.push((
                i,
                wire::PriceQuantity {
                    sku: u.channel_sku.clone(),
                    ship_to_location_availability: None,
                    offers: vec![wire::OfferPriceQuantity { offer_id, price: Some(map::amount(&u.price)) }],
                },
            ));
        }
        let result = self.push_all(jobs, outcomes, &listings).await?;
        for (u, o) in updates.iter().zip(&result) {
            if o.is_applied() {
                self.offers.lock().unwrap_or_else(PoisonError::into_inner).remove(&u.channel_sku);
            }
        }
        Ok(result)
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let since = cursor.since;
        paginate::items((None, since), move |c| self.order_page(since, c))
    }

    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order_id = shipment.order.as_str();
        let lines: Vec<wire::LineItemReference> = if shipment.lines.is_empty() {
            let order = self.client.get_order(order_id).await?;
            order
                .line_items
                .into_iter()
                .map(|l| wire::LineItemReference { line_item_id: l.line_item_id, quantity: l.quantity.unwrap_or(1) })
                .collect()
        } else {
            shipment
                .lines
                .iter()
                .map(|(id, q)| wire::LineItemReference { line_item_id: id.clone(), quantity: i64::from(*q) })
                .collect()
        };
        let body = wire::ShippingFulfillmentDetails {
            line_items: lines,
            shipped_date: map::filter_time(shipment.shipped_at),
            shipping_carrier_code: shipment.tracking.carrier.clone(),
            tracking_number: shipment.tracking.number.clone(),
        };
        self.client.create_shipping_fulfillment(order_id, &body).await
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        Err(webhook::not_accepted(request.header_value(webhook::SIGNATURE_HEADER).is_some()))
    }
}
