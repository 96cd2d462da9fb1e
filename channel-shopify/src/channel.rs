//! The [`Channel`] implementation: composes the GraphQL [`Client`] and the [`crate::map`] functions, and
//! decides how writes are batched and resubmitted.

use std::sync::Arc;

use async_trait::async_trait;
use channel_core::http::paginate::{self, Page};
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Currency, Error, ItemOutcome, Listing, ListingId, OrderCursor,
    OrderPage, Outcome, PriceUpdate, Result, Shipment, StockAdjustment, StockUpdate, WebhookEvent, WebhookRejection,
    WebhookRequest,
};
use futures::stream::BoxStream;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::client::documents as doc;
use crate::client::{Client, ThrottleStatus};
use crate::config::ShopifyConfig;
use crate::error::ShopifyError;
use crate::map::{self, gid, legacy_id};
use crate::wire;

/// Most quantities in one inventory mutation (Shopify's array input limit).
pub const MAX_QUANTITIES: usize = 250;
/// Most variants in one price call (each product is an aliased mutation costing 10; a query may cost 1,000).
pub const MAX_PRICES: usize = 100;
/// Orders read per page.
pub(crate) const ORDERS_PAGE: usize = 10;
/// Most keyed stock adjustments in one call: each is its own aliased `inventoryAdjustQuantities` mutation
/// (10 points each; a query may cost 1,000).
pub const MAX_KEYED_ADJUSTMENTS: usize = 100;

/// The `@idempotent` key sent to Shopify for an adjustment the caller named `caller_key`: UUID-shaped
/// (36 characters, version 8), derived with HMAC-SHA256 from the caller's key, the inventory item, the
/// location and the delta. The same adjustment always gets the same key, from any adapter instance, so
/// Shopify answers a resubmission with its first result instead of applying it again; a key reused for
/// another change (another item or delta) gets another Shopify key and is not mistaken for the first.
pub fn adjustment_key(caller_key: &str, inventory_item: &str, location: &str, delta: i64) -> String {
    // A JSON array: the parts cannot run into each other whatever characters they contain.
    let material = json!([caller_key, inventory_item, location, delta]).to_string();
    let digest =
        channel_core::webhook::hmac_sha256(b"stocksync/shopify/inventoryAdjustQuantities", material.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// The shop as the adapter resolved it once: identity, currency and the one location it syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShopContext {
    /// `gid://shopify/Shop/…`.
    pub shop_id: String,
    /// The shop's name.
    pub name: String,
    /// `my-shop.myshopify.com`.
    pub domain: String,
    /// The shop currency.
    pub currency: Currency,
    /// `gid://shopify/Location/…`.
    pub location_id: String,
    /// The location's name.
    pub location_name: String,
}

/// A Shopify store, as a [`Channel`].
#[derive(Clone)]
pub struct Shopify {
    config: ShopifyConfig,
    client: Client,
    context: Arc<OnceCell<ShopContext>>,
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopify").field("config", &self.config).field("http", &self.client.http).finish_non_exhaustive()
    }
}

/// One quantity to write: its position in the caller's input and the mutation item.
#[derive(Debug, Clone)]
struct Item {
    index: usize,
    listing: ListingId,
    body: Value,
}

impl Item {
    fn item_id(&self) -> &str {
        self.body.get("inventoryItemId").and_then(Value::as_str).unwrap_or_default()
    }
}

impl Shopify {
    /// An adapter for the store `config` describes.
    pub fn new(config: ShopifyConfig) -> std::result::Result<Self, ShopifyError> {
        if config.page_size == 0 || config.page_size > 199 {
            return Err(ShopifyError::Config(
                "page_size must be 1..=199 (the listing query costs 2 + 5 per variant)".into(),
            ));
        }
        if config.shop_domain.trim().is_empty() && config.http.base_url.is_none() {
            return Err(ShopifyError::Config("shop_domain is required".into()));
        }
        let client = Client::new(&config)?;
        Ok(Self { config, client, context: Arc::new(OnceCell::new()) })
    }

    /// The configuration.
    pub fn config(&self) -> &ShopifyConfig {
        &self.config
    }

    /// The cost bucket as Shopify last reported it.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.client.last_throttle_status()
    }

    /// The shop and location, looked up once (one read) and cached.
    pub async fn context(&self) -> Result<ShopContext> {
        Ok(self.context.get_or_try_init(|| self.lookup()).await?.clone())
    }

    async fn lookup(&self) -> std::result::Result<ShopContext, ShopifyError> {
        let (data, location) = match &self.config.location_id {
            Some(loc) => {
                let loc = gid("Location", loc);
                let data = self.client.shop_and_location(&loc).await?;
                let location = data.location.clone().ok_or(ShopifyError::UnknownLocation(loc))?;
                (data, location)
            }
            None => {
                let data = self.client.shop_and_locations().await?;
                let nodes = data.locations.as_ref().map(|c| c.nodes.as_slice()).unwrap_or_default();
                let location = match nodes {
                    [one] => one.clone(),
                    [] => return Err(ShopifyError::Config("the shop has no locations".into())),
                    several => {
                        return Err(ShopifyError::SeveralLocations(
                            several.iter().map(map::describe_location).collect(),
                        ));
                    }
                };
                (data, location)
            }
        };
        let shop = data.shop.as_ref().ok_or_else(|| ShopifyError::unexpected("shop", "no shop in the answer"))?;
        Ok(map::shop_context(shop, &location, &self.config.shop_domain))
    }

    async fn variants_page(&self, after: Option<String>) -> Result<Page<Listing, Option<String>>> {
        let ctx = self.context().await?;
        let conn = self.client.product_variants(self.config.page_size, after.as_deref(), &ctx.location_id).await?;
        let listings = conn.nodes.iter().filter_map(|v| map::listing_from_variant(&ctx, v)).collect();
        Ok(Page::new(listings, conn.next_cursor().map(Some)))
    }

    fn item_id(listing: &ListingId, ids: &channel_core::PlatformIds) -> String {
        ids.get("inventory_item_id").cloned().unwrap_or_else(|| gid("InventoryItem", listing.as_str()))
    }

    /// Run an inventory mutation over `items` (at most [`MAX_QUANTITIES`]). Shopify applies such a mutation
    /// all or nothing, so items with user errors get their outcome and the rest are resubmitted under a new
    /// idempotency key until a submission applies or nothing is left.
    async fn inventory_mutation(
        &self,
        adjust: bool,
        mut items: Vec<Item>,
        out: &mut [Option<ItemOutcome>],
    ) -> Result<()> {
        let (document, field, list) = if adjust {
            (doc::ADJUST_QUANTITIES, "inventoryAdjustQuantities", "changes")
        } else {
            (doc::SET_QUANTITIES, "inventorySetQuantities", "quantities")
        };
        while !items.is_empty() {
            let key = uuid::Uuid::new_v4().to_string();
            let input = json!({
                "name": "available",
                "reason": self.config.inventory_reason,
                list: items.iter().map(|i| i.body.clone()).collect::<Vec<_>>(),
            });
            let payload = self.client.inventory_quantities(field, document, input, &key).await?;
            match sort_refusals(&items, &payload, out) {
                Next::Resubmit(failed) => {
                    items = items.into_iter().zip(failed).filter(|(_, f)| !*f).map(|(i, _)| i).collect();
                    tracing::debug!(remaining = items.len(), "resubmitting the items Shopify did not refuse");
                }
                Next::Done => break,
            }
        }
        Ok(())
    }

    /// One call of aliased `inventoryAdjustQuantities` mutations, one per keyed adjustment, each under its
    /// own `@idempotent` key: each is applied (or refused) on its own, and a resubmission of any of them is
    /// answered from Shopify's idempotency store.
    async fn keyed_adjustments(&self, chunk: &[(Item, String)], out: &mut [Option<ItemOutcome>]) -> Result<()> {
        let mut vars = serde_json::Map::new();
        for (n, (item, key)) in chunk.iter().enumerate() {
            let input = json!({
                "name": "available",
                "reason": self.config.inventory_reason,
                "changes": [item.body.clone()],
            });
            vars.insert(format!("a{n}"), input);
            vars.insert(format!("k{n}"), json!(key));
        }
        let mut data = self.client.inventory_adjust_keyed(chunk.len(), vars).await?;
        for (n, (item, _)) in chunk.iter().enumerate() {
            let outcome = match data.remove(&format!("a{n}")).flatten() {
                None => ItemOutcome::rejected(
                    item.listing.clone(),
                    "Shopify answered no inventoryAdjustQuantities payload for this adjustment",
                    true,
                ),
                Some(payload) => match (payload.user_errors.first(), payload.inventory_adjustment_group.as_ref()) {
                    (None, group) | (Some(_), group @ Some(_)) => {
                        let after = map::after_quantities(group).get(item.item_id()).copied();
                        ItemOutcome::applied(item.listing.clone(), after)
                    }
                    // One change per mutation: its errors are its own, and nothing was applied.
                    (Some(e), None) => ItemOutcome { listing: item.listing.clone(), outcome: map::error_outcome(e) },
                },
            };
            out[item.index] = Some(outcome);
        }
        Ok(())
    }

    /// Stale outcomes whose message named no quantity: read the actual ones (one query, aliased per item).
    async fn fill_stale_actuals(
        &self,
        ctx: &ShopContext,
        updates: &[StockUpdate],
        out: &mut [Option<ItemOutcome>],
    ) -> Result<()> {
        let missing: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, Some(ItemOutcome { outcome: Outcome::Stale { actual: None }, .. })))
            .map(|(i, _)| i)
            .collect();
        for chunk in missing.chunks(doc::STALE_READ_MAX) {
            let mut vars = serde_json::Map::new();
            vars.insert("location".into(), json!(ctx.location_id));
            for (n, i) in chunk.iter().enumerate() {
                vars.insert(format!("i{n}"), json!(Self::item_id(&updates[*i].listing, &updates[*i].ids)));
            }
            let data = self.client.available(chunk.len(), vars).await?;
            for (n, i) in chunk.iter().enumerate() {
                let actual = data
                    .get(&format!("i{n}"))
                    .and_then(Option::as_ref)
                    .and_then(|item| item.inventory_level.as_ref())
                    .and_then(wire::InventoryLevel::available);
                out[*i] = Some(ItemOutcome::stale(updates[*i].listing.clone(), actual));
            }
        }
        Ok(())
    }

    /// One page of orders changed since `since`, each with all its lines (lines past the first 20 are read
    /// with `order(id) { lineItems(after:) }`).
    async fn orders_page(&self, since: Timestamp, after: Option<String>) -> Result<Page<channel_core::Order, String>> {
        let ctx = self.context().await?;
        let query = format!("updated_at:>='{}'", since.strftime("%Y-%m-%dT%H:%M:%SZ"));
        let conn = self.client.orders(ORDERS_PAGE, after.as_deref(), &query).await?;
        let mut orders = Vec::new();
        for node in &conn.nodes {
            let mut lines: Vec<wire::LineItem> = Vec::new();
            let mut next = None;
            if let Some(first) = &node.line_items {
                lines.extend(first.nodes.iter().cloned());
                next = first.next_cursor();
            }
            while let Some(cursor) = next.take() {
                let id = node.id.as_deref().unwrap_or_default();
                if let Some(more) = self.client.order_lines(id, Some(&cursor)).await? {
                    next = more.next_cursor();
                    lines.extend(more.nodes);
                }
            }
            if let Some(order) = map::order(node, &lines, ctx.currency) {
                orders.push(order);
            }
        }
        Ok(Page::new(orders, conn.next_cursor()))
    }

    /// The listings of up to [`doc::NODES_MAX`] inventory item ids, in one `nodes(ids:)` read.
    async fn listings_by_id(&self, ctx: &ShopContext, ids: &[String]) -> Result<Vec<Listing>> {
        let nodes = self.client.inventory_items(ids, &ctx.location_id).await?;
        Ok(nodes.iter().flatten().filter_map(|item| map::listing_from_item(ctx, item)).collect())
    }
}

/// What an inventory mutation's answer leaves to do.
enum Next {
    /// Every item has its outcome.
    Done,
    /// The items marked `true` were refused (their outcomes are set); resubmit the others.
    Resubmit(Vec<bool>),
}

/// Record the outcomes an inventory mutation's `payload` gives `items`: all applied, each refused item's
/// error (and the others resubmitted), or — for errors that name no item — every item rejected.
fn sort_refusals(items: &[Item], payload: &wire::InventoryPayload, out: &mut [Option<ItemOutcome>]) -> Next {
    let errors = &payload.user_errors;
    let group = payload.inventory_adjustment_group.as_ref();
    if errors.is_empty() {
        let after = map::after_quantities(group);
        for i in items {
            let quantity = after.get(i.item_id()).copied().or_else(|| i.body.get("quantity").and_then(Value::as_i64));
            out[i.index] = Some(ItemOutcome::applied(i.listing.clone(), quantity));
        }
        return Next::Done;
    }
    let mut failed = vec![false; items.len()];
    let mut unplaced = false;
    for e in errors {
        match e.index_at(2).filter(|p| *p < items.len()) {
            Some(p) if !failed[p] => {
                failed[p] = true;
                out[items[p].index] =
                    Some(ItemOutcome { listing: items[p].listing.clone(), outcome: map::error_outcome(e) });
            }
            Some(_) => {}
            None => unplaced = true,
        }
    }
    let rest = items.iter().zip(&failed).filter(|(_, f)| !**f).map(|(i, _)| i);
    if unplaced || !failed.iter().any(|f| *f) {
        // Errors that name no item: nothing was applied and resubmitting will not help.
        let reason = errors.iter().map(map::describe).collect::<Vec<_>>().join("; ");
        for i in rest {
            out[i.index] = Some(ItemOutcome::rejected(i.listing.clone(), reason.clone(), false));
        }
        return Next::Done;
    }
    if group.is_some() {
        // Applied despite the errors (not Shopify's documented behaviour): the rest went through.
        let after = map::after_quantities(group);
        for i in rest {
            out[i.index] = Some(ItemOutcome::applied(i.listing.clone(), after.get(i.item_id()).copied()));
        }
        return Next::Done;
    }
    Next::Resubmit(failed)
}

/// The outcome of each entry of one product's price update, from its `userErrors`: applied when there
/// are none; the refused variant's own error; the product's other variants not applied (retryable).
fn price_outcome(listing: ListingId, position: usize, errors: &[wire::UserError]) -> ItemOutcome {
    let own = errors.iter().find(|e| e.index_at(1) == Some(position));
    match (own, errors.is_empty()) {
        (_, true) => ItemOutcome::applied(listing, None),
        (Some(e), false) => ItemOutcome::rejected(listing, map::describe(e), false),
        // The product's update is all or nothing: another variant's error kept this one back.
        (None, false) => ItemOutcome::rejected(
            listing,
            format!("not applied: {}", errors.iter().map(map::describe).collect::<Vec<_>>().join("; ")),
            true,
        ),
    }
}

#[async_trait]
impl Channel for Shopify {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Shopify
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::builder()
            .max_stock_batch(MAX_QUANTITIES)
            .max_price_batch(MAX_PRICES)
            .listing_page_size(self.config.page_size)
            .listings_by_id_batch(crate::documents::NODES_MAX)
            .delta_adjust(true)
            .compare_and_set(true)
            .idempotent_writes(true)
            .webhooks(true)
            .tracking_export(true)
            .price_sync(true)
            .channel_held_stock(false)
            .webhook_max_age(self.config.webhook_window())
            .build()
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let ctx = self.lookup().await?;
        let _ = self.context.set(ctx.clone());
        Ok(AccountIdentity::new(ChannelKind::Shopify, legacy_id(&ctx.shop_id))
            .with_name(ctx.name.clone())
            .with_detail("domain", ctx.domain.clone())
            .with_detail("location", format!("{} ({})", ctx.location_name, ctx.location_id))
            .with_detail("currency", ctx.currency.code()))
    }

    fn listings(&self) -> BoxStream<'_, Result<Listing>> {
        paginate::items(None, move |after| self.variants_page(after))
    }

    /// `nodes(ids:)` on the inventory item gids (the listing ids), [`doc::NODES_MAX`] per call; ids that
    /// are no inventory item of the shop are left out (ids that cannot be one cost no call).
    async fn get_listings(&self, ids: &[ListingId]) -> Result<Vec<Listing>> {
        let gids: Vec<String> = ids.iter().filter_map(|id| map::inventory_item_gid(id.as_str())).collect();
        if gids.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = self.context().await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in gids.chunks(doc::NODES_MAX) {
            out.extend(self.listings_by_id(&ctx, chunk).await?);
        }
        Ok(out)
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> Result<Vec<ItemOutcome>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = self.context().await?;
        let mut out: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        let items: Vec<Item> = updates
            .iter()
            .enumerate()
            .map(|(index, u)| Item {
                index,
                listing: u.listing.clone(),
                // `changeFromQuantity` is always sent: the expected quantity, or an explicit null.
                body: json!({
                    "inventoryItemId": Self::item_id(&u.listing, &u.ids),
                    "locationId": ctx.location_id,
                    "quantity": u.quantity,
                    "changeFromQuantity": u.expected,
                }),
            })
            .collect();
        for chunk in items.chunks(MAX_QUANTITIES) {
            self.inventory_mutation(false, chunk.to_vec(), &mut out).await?;
        }
        self.fill_stale_actuals(&ctx, updates, &mut out).await?;
        Ok(finish(out, updates.iter().map(|u| &u.listing)))
    }

    /// Deltas to `available`. Adjustments with an
    /// [`idempotency_key`](StockAdjustment::idempotency_key) each go out as their own aliased
    /// `inventoryAdjustQuantities` under [`adjustment_key`] (up to [`MAX_KEYED_ADJUSTMENTS`] per call), so
    /// each is applied at most once however it is batched when sent again; the others go out together (up
    /// to [`MAX_QUANTITIES`] per mutation) under a fresh random key, applied all or nothing.
    async fn adjust_stock(&self, adjustments: &[StockAdjustment]) -> Result<Vec<ItemOutcome>> {
        if adjustments.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = self.context().await?;
        let mut out: Vec<Option<ItemOutcome>> = vec![None; adjustments.len()];
        let mut keyed = Vec::new();
        let mut items = Vec::new();
        for (index, a) in adjustments.iter().enumerate() {
            let item = Item {
                index,
                listing: a.listing.clone(),
                body: json!({
                    "inventoryItemId": Self::item_id(&a.listing, &a.ids),
                    "locationId": ctx.location_id,
                    "delta": a.delta,
                    "changeFromQuantity": null,
                }),
            };
            match &a.idempotency_key {
                Some(key) => {
                    let key = adjustment_key(key, &Self::item_id(&a.listing, &a.ids), &ctx.location_id, a.delta);
                    keyed.push((item, key));
                }
                None => items.push(item),
            }
        }
        for chunk in keyed.chunks(MAX_KEYED_ADJUSTMENTS) {
            self.keyed_adjustments(chunk, &mut out).await?;
        }
        for chunk in items.chunks(MAX_QUANTITIES) {
            self.inventory_mutation(true, chunk.to_vec(), &mut out).await?;
        }
        Ok(finish(out, adjustments.iter().map(|a| &a.listing)))
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> Result<Vec<ItemOutcome>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = self.context().await?;
        let mut out: Vec<Option<ItemOutcome>> = vec![None; updates.len()];
        // (index, product, variant input)
        let mut ready = Vec::new();
        for (index, u) in updates.iter().enumerate() {
            let wrong = [Some(u.price), u.list_price].into_iter().flatten().find(|m| m.currency != ctx.currency);
            if let Some(m) = wrong {
                out[index] = Some(ItemOutcome::rejected(
                    u.listing.clone(),
                    format!("the shop sells in {}, got a price in {}", ctx.currency, m.currency),
                    false,
                ));
                continue;
            }
            let (Some(product), Some(variant)) = (u.ids.get("product_id"), u.ids.get("variant_id")) else {
                out[index] = Some(ItemOutcome::rejected(
                    u.listing.clone(),
                    "the update carries no product_id/variant_id platform ids (read the listing first)",
                    false,
                ));
                continue;
            };
            let mut input = json!({"id": variant, "price": map::decimal_string(u.price)});
            if let Some(list) = u.list_price {
                input["compareAtPrice"] = json!(map::decimal_string(list));
            }
            ready.push((index, product.clone(), input));
        }
        for chunk in ready.chunks(MAX_PRICES) {
            let mut products: Vec<(String, Vec<&(usize, String, Value)>)> = Vec::new();
            for entry in chunk {
                match products.iter_mut().find(|(p, _)| *p == entry.1) {
                    Some((_, list)) => list.push(entry),
                    None => products.push((entry.1.clone(), vec![entry])),
                }
            }
            let mut vars = serde_json::Map::new();
            for (i, (product, entries)) in products.iter().enumerate() {
                vars.insert(format!("p{i}"), json!(product));
                vars.insert(format!("v{i}"), Value::Array(entries.iter().map(|e| e.2.clone()).collect()));
            }
            let mut data = self.client.product_variants_bulk_update(products.len(), vars).await?;
            for (i, (_, entries)) in products.iter().enumerate() {
                let errors = data.remove(&format!("p{i}")).flatten().map(|p| p.user_errors).unwrap_or_default();
                for (position, entry) in entries.iter().enumerate() {
                    out[entry.0] = Some(price_outcome(updates[entry.0].listing.clone(), position, &errors));
                }
            }
        }
        Ok(finish(out, updates.iter().map(|u| &u.listing)))
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let since = cursor.since;
        // The cursor: where the next page starts, and the newest change seen so far.
        paginate::items((None::<String>, since), move |(after, high)| async move {
            let page = self.orders_page(since, after).await?;
            // Orders come oldest change first: resuming at the newest change seen loses nothing.
            let high = page.items.iter().map(|o| o.updated_at).max().map_or(high, |t| t.max(high));
            let next = page.next.map(|n| (Some(n), high));
            Ok::<_, Error>(Page::new(vec![OrderPage::new(page.items, OrderCursor::new(high))], next))
        })
    }

    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order = gid("Order", shipment.order.as_str());
        let fos = self
            .client
            .fulfillment_orders(&order)
            .await?
            .ok_or_else(|| Error::not_found(format!("shopify: order {} not found", shipment.order)))?;
        let by_fo = fulfillment_lines(&fos, shipment);
        if by_fo.is_empty() {
            return Err(Error::validation(format!("shopify: order {} has nothing left to fulfil", shipment.order)));
        }
        let mut tracking = json!({"number": shipment.tracking.number, "company": shipment.tracking.carrier});
        if let Some(url) = &shipment.tracking.url {
            tracking["url"] = json!(url);
        }
        let fulfillment =
            json!({"lineItemsByFulfillmentOrder": by_fo, "trackingInfo": tracking, "notifyCustomer": true});
        let errors = self.client.fulfillment_create(fulfillment).await?;
        if let Some(e) = errors.first() {
            return Err(Error::validation(format!("shopify: fulfillmentCreate refused: {}", map::describe(e))));
        }
        Ok(())
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        let location = self
            .context
            .get()
            .map(|c| c.location_id.clone())
            .or_else(|| self.config.location_id.as_deref().map(|l| gid("Location", l)));
        crate::webhook::verify(&self.config, location.as_deref(), request)
    }
}

/// `lineItemsByFulfillmentOrder` for a shipment: every open fulfillment order whole, or — when the
/// shipment names lines — the named lines' quantities, capped at what remains.
fn fulfillment_lines(fos: &[wire::FulfillmentOrder], shipment: &Shipment) -> Vec<Value> {
    let open = |fo: &&wire::FulfillmentOrder| {
        matches!(fo.status.as_deref(), Some("OPEN" | "IN_PROGRESS" | "SCHEDULED" | "ON_HOLD"))
    };
    let mut by_fo = Vec::new();
    for fo in fos.iter().filter(open) {
        let fo_id = fo.id.as_deref().unwrap_or_default();
        if shipment.lines.is_empty() {
            by_fo.push(json!({"fulfillmentOrderId": fo_id}));
            continue;
        }
        let mut items = Vec::new();
        for li in fo.line_items.iter().flat_map(|c| &c.nodes) {
            let line = li.line_item.as_ref().and_then(|l| l.id.as_deref()).map(legacy_id).unwrap_or_default();
            let remaining = li.remaining_quantity.unwrap_or(0);
            if let Some((_, qty)) = shipment.lines.iter().find(|(id, _)| legacy_id(id) == line) {
                let qty = u64::from(*qty).min(remaining);
                if qty > 0 {
                    items.push(json!({"id": li.id, "quantity": qty}));
                }
            }
        }
        if !items.is_empty() {
            by_fo.push(json!({"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": items}));
        }
    }
    by_fo
}

fn finish<'a>(out: Vec<Option<ItemOutcome>>, ids: impl Iterator<Item = &'a ListingId>) -> Vec<ItemOutcome> {
    out.into_iter()
        .zip(ids)
        .map(|(o, id)| {
            o.unwrap_or_else(|| ItemOutcome::rejected(id.clone(), "no outcome was recorded for this item", true))
        })
        .collect()
}
