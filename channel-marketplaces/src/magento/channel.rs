//! The [`Magento`] channel: [`Channel`] composed of the REST [`Client`] and the [`map`] functions.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use channel_core::http::paginate::{self, Page};
use channel_core::http::{HttpClient, RetryPolicy};
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Currency, Error, ItemOutcome, Listing, ListingId, OrderCursor,
    OrderPage, PriceUpdate, Result, Shipment, StockUpdate, WebhookEvent, WebhookRejection, WebhookRequest,
};
use futures::stream::BoxStream;
use jiff::Timestamp;
use rust_decimal::prelude::ToPrimitive;
use tokio::sync::OnceCell;

use crate::magento::client::{Client, Criteria, OPEN_STATES};
use crate::magento::config::{MagentoConfig, ReservationMode};
use crate::magento::error::MagentoError;
use crate::magento::map;
use crate::magento::wire::{BasePrice, SourceItem};

/// A Magento 2 / Adobe Commerce store over the admin REST API. Cheap to clone.
#[derive(Clone)]
pub struct Magento {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: MagentoConfig,
    configured_currency: Option<Currency>,
    currency: OnceCell<Option<Currency>>,
}

impl fmt::Debug for Magento {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Magento")
            .field("store_code", &self.inner.config.store_code)
            .field("source_code", &self.inner.config.source_code)
            .field("http", self.inner.client.http())
            .finish_non_exhaustive()
    }
}

/// The position in a product scan: the next page, the products seen, the reservations and currency.
struct ListingScan {
    page: u32,
    seen: u64,
    reserved: Option<Arc<HashMap<String, i64>>>,
    currency: Option<Option<Currency>>,
}

/// The position in an order scan.
struct OrderScan {
    page: u32,
    seen: u64,
    max_seen: Timestamp,
}

/// Whether a count-based scan is done: Magento answers a page past the end with the last page again on
/// many versions (magento2 #3787, #8099, #26986), so the stop is the count, never an empty page alone.
fn scan_done(seen: u64, total: u64, returned: usize) -> bool {
    returned == 0 || seen >= total
}

impl Magento {
    /// A channel for the store in `config`.
    pub fn new(config: MagentoConfig) -> Result<Self, MagentoError> {
        Self::with_retry(config, None)
    }

    /// A channel with the transport's retry policy (tests use short delays).
    pub fn with_retry(config: MagentoConfig, retry: Option<RetryPolicy>) -> Result<Self, MagentoError> {
        config.validate()?;
        let configured_currency = match &config.currency {
            Some(c) => Some(Currency::new(c).map_err(|e| MagentoError::Config(format!("currency: {e}")))?),
            None => None,
        };
        let client = Client::new(&config, retry)?;
        Ok(Self { inner: Arc::new(Inner { client, config, configured_currency, currency: OnceCell::new() }) })
    }

    /// The transport (for tests and diagnostics).
    pub fn http(&self) -> &HttpClient {
        self.inner.client.http()
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    fn config(&self) -> &MagentoConfig {
        &self.inner.config
    }

    /// The store's base currency: configured, or read once from `storeConfigs` (`None` if unreadable).
    pub async fn currency(&self) -> Option<Currency> {
        if let Some(c) = self.inner.configured_currency {
            return Some(c);
        }
        let got = self
            .inner
            .currency
            .get_or_try_init(|| async {
                match self.client().store_configs().await {
                    Ok(stores) => Ok(self.currency_of(&stores)),
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

    fn store_of<'a>(
        &self,
        stores: &'a [crate::magento::wire::StoreConfig],
    ) -> Option<&'a crate::magento::wire::StoreConfig> {
        stores
            .iter()
            .find(|s| s.code == self.config().store_code)
            .or_else(|| stores.iter().find(|s| s.id == 1))
            .or(stores.first())
    }

    fn currency_of(&self, stores: &[crate::magento::wire::StoreConfig]) -> Option<Currency> {
        self.store_of(stores).and_then(|s| s.base_currency_code.as_deref()).and_then(|c| Currency::new(c).ok())
    }

    /// Open MSI reservations by SKU: the unshipped, uncancelled, unrefunded units of orders in open states
    /// (empty with [`ReservationMode::None`]).
    async fn reservations(&self) -> Result<HashMap<String, i64>> {
        let mut out = HashMap::new();
        if self.config().reservations == ReservationMode::None {
            return Ok(out);
        }
        let (mut page, mut seen) = (1u32, 0u64);
        loop {
            let c = Criteria::default()
                .filter("state", OPEN_STATES, "in")
                .sort("entity_id", "ASC")
                .page(self.config().page_size, page);
            let res = self.client().orders(&c).await?;
            seen += res.items.len() as u64;
            map::add_reservations(&res.items, &mut out);
            if scan_done(seen, res.total_count, res.items.len()) {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Source items at the configured source for these SKUs (one call; at most `page_size` SKUs).
    async fn source_items(&self, skus: &[&str]) -> Result<HashMap<String, SourceItem>> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        let c = Criteria::default()
            .filter("sku", &skus.join(","), "in")
            .filter("source_code", &self.config().source_code, "eq")
            .page(skus.len(), 1);
        let res = self.client().source_items(&c).await?;
        Ok(res
            .items
            .into_iter()
            .filter(|i| i.source_code == self.config().source_code)
            .map(|i| (i.sku.clone(), i))
            .collect())
    }

    /// Listings for products (those holding stock), with their source items and the reservations.
    async fn listings_for(
        &self,
        products: &[crate::magento::wire::Product],
        reserved: &HashMap<String, i64>,
        currency: Option<Currency>,
    ) -> Result<Vec<Listing>> {
        let stocked: Vec<&crate::magento::wire::Product> = products.iter().filter(|p| map::holds_stock(p)).collect();
        let skus: Vec<&str> = stocked.iter().map(|p| p.sku.as_str()).collect();
        let items = self.source_items(&skus).await?;
        Ok(stocked
            .iter()
            .map(|p| map::listing_from(p, items.get(&p.sku), reserved.get(&p.sku).copied().unwrap_or(0), currency))
            .collect())
    }

    async fn listing_page(&self, mut scan: ListingScan) -> Result<Page<Listing, ListingScan>> {
        let currency = match scan.currency {
            Some(c) => c,
            None => self.currency().await,
        };
        scan.currency = Some(currency);
        let reserved = match &scan.reserved {
            Some(r) => Arc::clone(r),
            None => Arc::new(self.reservations().await?),
        };
        scan.reserved = Some(Arc::clone(&reserved));
        let c = Criteria::default().sort("entity_id", "ASC").page(self.config().page_size, scan.page);
        let res = self.client().products(&c).await?;
        scan.seen += res.items.len() as u64;
        let listings = self.listings_for(&res.items, &reserved, currency).await?;
        let done = scan_done(scan.seen, res.total_count, res.items.len());
        scan.page += 1;
        Ok(Page::new(listings, (!done).then_some(scan)))
    }

    async fn order_page(&self, since: Timestamp, mut scan: OrderScan) -> Result<Page<OrderPage, OrderScan>> {
        let c = Criteria::default()
            .filter("updated_at", &map::format_time(since), "gteq")
            .sort("updated_at", "ASC")
            .page(self.config().page_size, scan.page);
        let res = self.client().orders(&c).await?;
        scan.seen += res.items.len() as u64;
        let mut orders = Vec::with_capacity(res.items.len());
        for o in &res.items {
            let Some(order) = map::order_from(o) else {
                return Err(Error::decode(format!("order {} has no readable updated_at", o.entity_id)));
            };
            scan.max_seen = scan.max_seen.max(order.updated_at);
            orders.push(order);
        }
        let done = scan_done(scan.seen, res.total_count, res.items.len());
        // Until the last page the cursor stays at `since` (an order changed meanwhile moves to the end).
        let next = if done { scan.max_seen } else { since };
        scan.page += 1;
        Ok(Page::new(vec![OrderPage::new(orders, OrderCursor::new(next))], (!done).then_some(scan)))
    }

    /// Save source items in batches of `max_stock_batch`; a batch Magento refuses (`400`: the call saves
    /// nothing) is sent again one item at a time so the refusal lands on the item it concerns.
    async fn save_batches(
        &self,
        jobs: &[(usize, SourceItem)],
        outcomes: &mut [Option<ItemOutcome>],
        ids: &[ListingId],
    ) -> Result<()> {
        let mut written = false;
        for chunk in jobs.chunks(self.config().max_stock_batch) {
            let items: Vec<SourceItem> = chunk.iter().map(|(_, i)| i.clone()).collect();
            match self.client().save_source_items(&items).await {
                Ok(Ok(())) => {
                    written = true;
                    for (i, _) in chunk {
                        outcomes[*i] = Some(applied(&ids[*i]));
                    }
                }
                Ok(Err(refusal)) if chunk.len() > 1 => {
                    tracing::warn!(refusal = %refusal, items = chunk.len(), "source-items batch refused; saving one by one");
                    for (i, item) in chunk {
                        outcomes[*i] = Some(match self.client().save_source_items(std::slice::from_ref(item)).await {
                            Ok(Ok(())) => applied(&ids[*i]),
                            Ok(Err(text)) => ItemOutcome::rejected(ids[*i].clone(), text, false),
                            Err(e) => ItemOutcome::rejected(ids[*i].clone(), e.to_string(), e.is_retryable()),
                        });
                    }
                    written = true;
                }
                Ok(Err(text)) => {
                    let (i, _) = &chunk[0];
                    outcomes[*i] = Some(ItemOutcome::rejected(ids[*i].clone(), text, false));
                }
                Err(e) if !written => return Err(e),
                Err(e) => {
                    for (i, _) in chunk {
                        outcomes[*i] = Some(ItemOutcome::rejected(ids[*i].clone(), e.to_string(), e.is_retryable()));
                    }
                }
            }
        }
        Ok(())
    }
}

/// An applied write (`set_stock` fills in the salable quantity it leaves).
fn applied(listing: &ListingId) -> ItemOutcome {
    ItemOutcome::applied(listing.clone(), None)
}

fn finish(outcomes: Vec<Option<ItemOutcome>>, ids: &[ListingId]) -> Vec<ItemOutcome> {
    outcomes
        .into_iter()
        .zip(ids)
        .map(|(o, l)| o.unwrap_or_else(|| ItemOutcome::rejected(l.clone(), "not sent", true)))
        .collect()
}

fn bad_id(id: &ListingId) -> Option<ItemOutcome> {
    id.as_str().trim().is_empty().then(|| {
        let e = MagentoError::InvalidListingId { id: id.as_str().to_owned(), reason: "a SKU cannot be empty".into() };
        ItemOutcome::rejected(id.clone(), e.to_string(), false)
    })
}

#[async_trait]
impl Channel for Magento {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Magento
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::builder()
            .max_stock_batch(self.config().max_stock_batch)
            .max_price_batch(self.config().max_price_batch)
            .listing_page_size(self.config().page_size)
            .listings_by_id_batch(self.config().page_size)
            .delta_adjust(false)
            .compare_and_set(false)
            .idempotent_writes(false)
            .webhooks(false)
            .tracking_export(true)
            .price_sync(true)
            .channel_held_stock(false)
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let stores = self.client().store_configs().await?;
        let _ = self.inner.currency.set(self.currency_of(&stores));
        let base = self.config().http.base_url.clone().unwrap_or_default();
        let store = self.store_of(&stores);
        let account = store.and_then(|s| s.base_url.clone()).filter(|u| !u.is_empty()).unwrap_or(base);
        let mut id = AccountIdentity::new(ChannelKind::Magento, account.trim_end_matches('/'))
            .with_detail("store_code", self.config().store_code.clone())
            .with_detail("source_code", self.config().source_code.clone());
        if let Some(c) = self.inner.configured_currency.or_else(|| self.currency_of(&stores)) {
            id = id.with_detail("currency", c.code());
        }
        Ok(id)
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        let first = ListingScan { page: 1, seen: 0, reserved: None, currency: None };
        paginate::items(first, move |scan| self.listing_page(scan))
    }

    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        let mut skus: Vec<&str> = Vec::new();
        for id in ids.iter().map(ListingId::as_str).filter(|s| !s.trim().is_empty()) {
            if !skus.contains(&id) {
                skus.push(id);
            }
        }
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let currency = self.currency().await;
        let reserved = self.reservations().await?;
        let mut out = Vec::new();
        for chunk in skus.chunks(self.config().page_size) {
            let c = Criteria::default().filter("sku", &chunk.join(","), "in").page(chunk.len(), 1);
            let res = self.client().products(&c).await?;
            let wanted: Vec<_> = res.items.into_iter().filter(|p| chunk.contains(&p.sku.as_str())).collect();
            out.extend(self.listings_for(&wanted, &reserved, currency).await?);
        }
        Ok(out)
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        let ids: Vec<ListingId> = updates.iter().map(|u| u.listing.clone()).collect();
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        for (i, u) in updates.iter().enumerate() {
            outcomes[i] = bad_id(&u.listing).or_else(|| {
                (u.quantity < 0)
                    .then(|| ItemOutcome::rejected(u.listing.clone(), "negative quantities are not pushed", false))
            });
        }
        if outcomes.iter().all(Option::is_some) {
            return Ok(finish(outcomes, &ids));
        }
        let reserved = self.reservations().await?;
        let source = &self.config().source_code;
        let jobs: Vec<(usize, SourceItem)> = updates
            .iter()
            .enumerate()
            .filter(|(i, _)| outcomes[*i].is_none())
            .map(|(i, u)| {
                let r = reserved.get(u.listing.as_str()).copied().unwrap_or(0);
                (i, map::source_item_for(u.listing.as_str(), source, u.quantity, r))
            })
            .collect();
        self.save_batches(&jobs, &mut outcomes, &ids).await?;
        // The salable quantity each applied write leaves is the engine's number.
        for (i, u) in updates.iter().enumerate() {
            if let Some(o) = &outcomes[i]
                && o.is_applied()
            {
                outcomes[i] = Some(ItemOutcome::applied(u.listing.clone(), Some(u.quantity)));
            }
        }
        Ok(finish(outcomes, &ids))
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        let ids: Vec<ListingId> = updates.iter().map(|u| u.listing.clone()).collect();
        let store = self.currency().await;
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let mut jobs: Vec<(usize, BasePrice)> = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            if let Some(o) = bad_id(&u.listing) {
                outcomes[i] = Some(o);
            } else if let Some(s) = store.filter(|s| *s != u.price.currency) {
                let e = MagentoError::CurrencyMismatch { given: u.price.currency.to_string(), store: s.to_string() };
                outcomes[i] = Some(ItemOutcome::rejected(u.listing.clone(), e.to_string(), false));
            } else if let Some(price) = u.price.amount.to_f64() {
                let store_id = self.config().price_store_id;
                jobs.push((i, BasePrice { sku: u.listing.as_str().to_owned(), price, store_id }));
            }
        }
        let mut written = false;
        for chunk in jobs.chunks(self.config().max_price_batch) {
            let prices: Vec<BasePrice> = chunk.iter().map(|(_, p)| p.clone()).collect();
            match self.client().base_prices(&prices).await {
                Ok(failures) => {
                    written = true;
                    for (i, p) in chunk {
                        let failed = failures.iter().find(|f| f.parameters.iter().any(|v| v == &p.sku));
                        outcomes[*i] = Some(match failed {
                            Some(f) => ItemOutcome::rejected(ids[*i].clone(), fill(&f.message, &f.parameters), false),
                            None => ItemOutcome::applied(ids[*i].clone(), None),
                        });
                    }
                }
                Err(e) if !written => return Err(e),
                Err(e) => {
                    for (i, _) in chunk {
                        outcomes[*i] = Some(ItemOutcome::rejected(ids[*i].clone(), e.to_string(), e.is_retryable()));
                    }
                }
            }
        }
        Ok(finish(outcomes, &ids))
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let since = cursor.since;
        let first = OrderScan { page: 1, seen: 0, max_seen: since };
        paginate::items(first, move |scan| self.order_page(since, scan))
    }

    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order_id: u64 = shipment.order.as_str().parse().map_err(|_| {
            Error::validation(format!("Magento order ids (entity_id) are numbers, not {:?}", shipment.order.as_str()))
        })?;
        let body = map::ship_body(shipment, self.config().notify_customer).map_err(Error::validation)?;
        self.client().ship(order_id, &body).await?;
        Ok(())
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        crate::magento::webhook::verify(request)
    }
}

/// A price failure's message with `%1`… filled from its parameters.
fn fill(message: &str, parameters: &[String]) -> String {
    let mut text = message.to_owned();
    for (i, v) in parameters.iter().enumerate().rev() {
        text = text.replace(&format!("%{}", i + 1), v);
    }
    text
}
