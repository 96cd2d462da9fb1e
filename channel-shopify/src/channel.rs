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
use crate::error::{ShopifyError, Unfulfilled};
use crate::map::{self, gid, legacy_id};
use crate::wire;

/// Most quantities in one inventory mutation (Shopify's array input limit).
pub const MAX_QUANTITIES: usize = 250;
/// Most variants in one price call: at worst one product each, and each product is an aliased mutation
/// costing [`doc::PRICE_ALIAS_COST`]; a query may cost 1,000.
pub const MAX_PRICES: usize = doc::MAX_QUERY_COST / doc::PRICE_ALIAS_COST;
/// Orders read per page.
pub(crate) const ORDERS_PAGE: usize = 10;
/// Most keyed stock adjustments in one call: each is its own aliased `inventoryAdjustQuantities` mutation
/// costing [`doc::KEYED_ALIAS_COST`]; a query may cost 1,000.
pub const MAX_KEYED_ADJUSTMENTS: usize = doc::MAX_QUERY_COST / doc::KEYED_ALIAS_COST;

/// The `@idempotent` key sent to Shopify for an adjustment the caller named `caller_key`: UUID-shaped
/// (36 characters, version 8), derived with HMAC-SHA256 from the caller's key, the inventory item, the
/// location and the delta. The same adjustment always gets the same key, from any adapter instance, so
/// Shopify answers a resubmission with its first result instead of applying it again; a key reused for
/// another change (another item or delta) gets another Shopify key and is not mistaken for the first.
pub fn adjustment_key(caller_key: &str, inventory_item: &str, location: &str, delta: i64) -> String {
    derived_uuid(b"stocksync/shopify/inventoryAdjustQuantities", &json!([caller_key, inventory_item, location, delta]))
}

/// A UUID-shaped key (version 8) from HMAC-SHA256 under `domain` of `parts`, a JSON array: the parts
/// cannot run into each other whatever characters they contain.
fn derived_uuid(domain: &[u8], parts: &Value) -> String {
    let digest = channel_core::webhook::hmac_sha256(domain, parts.to_string().as_bytes());
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
    /// Whether the missing `read_all_orders` warning was logged (once per adapter).
    warned_window: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopify").field("config", &self.config).field("http", &self.client.http).finish_non_exhaustive()
    }
}

/// Scopes without which nothing syncs: `read_products` (`ProductVariant` "Requires read_products access
/// scope") and `write_inventory` (`inventorySetQuantities` / `inventoryAdjustQuantities` "Requires
/// write_inventory access scope"; it also grants `read_inventory` for `inventoryLevel`).
const REQUIRED_SCOPES: &[&str] = &["read_products", "write_inventory"];

/// Scopes of optional features, each named by the scope reported missing and satisfied by any of the
/// list: orders (`orders` "Requires read_orders"), price sync (`productVariantsBulkUpdate` "Requires
/// write_products"), tracking export (`fulfillmentCreate` "Requires write_assigned_fulfillment_orders,
/// write_merchant_managed_fulfillment_orders or write_third_party_fulfillment_orders").
const OPTIONAL_SCOPES: &[(&str, &[&str])] = &[
    ("read_orders", &["read_orders"]),
    ("write_products", &["write_products"]),
    (
        "write_merchant_managed_fulfillment_orders",
        &[
            "write_merchant_managed_fulfillment_orders",
            "write_assigned_fulfillment_orders",
            "write_third_party_fulfillment_orders",
        ],
    ),
];

/// What the granted scopes allow.
#[derive(Debug, PartialEq, Eq)]
struct ScopeCheck {
    required_missing: Vec<String>,
    optional_missing: Vec<String>,
    /// `read_all_orders`: without it `orders` reads only the last 60 days.
    all_orders: bool,
}

impl ScopeCheck {
    fn of(granted: &[String]) -> Self {
        // A write scope also grants its read scope (shopify.dev changelog "Downgrade app access scopes
        // from write to read": "the read scope was only granted through the write scope").
        let has = |scope: &str| {
            granted
                .iter()
                .any(|g| g == scope || scope.strip_prefix("read_").is_some_and(|r| g.strip_prefix("write_") == Some(r)))
        };
        Self {
            required_missing: REQUIRED_SCOPES.iter().filter(|s| !has(s)).map(|s| (*s).to_owned()).collect(),
            optional_missing: OPTIONAL_SCOPES
                .iter()
                .filter(|(_, any)| !any.iter().any(|s| has(s)))
                .map(|(name, _)| (*name).to_owned())
                .collect(),
            all_orders: has("read_all_orders"),
        }
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
        Ok(Self { config, client, context: Arc::new(OnceCell::new()), warned_window: Arc::default() })
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
    /// idempotency key until a submission applies or nothing is left. A user error that asks to try again
    /// is followed: `IDEMPOTENCY_CONCURRENT_REQUEST` resends under the same key, the "failed, try again"
    /// codes under a new one ([`attempt_key`]), at most `max_user_error_retries` times.
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
        let base = uuid::Uuid::new_v4().to_string();
        let (mut attempt, mut retries) = (0u32, 0u32);
        while !items.is_empty() {
            let key = attempt_key(&base, attempt);
            let input = json!({
                "name": "available",
                "reason": self.config.inventory_reason,
                list: items.iter().map(|i| i.body.clone()).collect::<Vec<_>>(),
            });
            let payload = self.client.inventory_quantities(field, document, input, &key).await?;
            let retry_left = retries < self.config.max_user_error_retries;
            let mutation = if adjust { map::Mutation::Adjust } else { map::Mutation::Set };
            match sort_refusals(mutation, &items, &payload, out, retry_left) {
                Next::Done => break,
                Next::Resubmit { refused, again } => {
                    // Fewer items is another request: it needs another key, whatever the code said.
                    let changed = refused.iter().any(|f| *f);
                    items = items.into_iter().zip(refused).filter(|(_, f)| !*f).map(|(i, _)| i).collect();
                    if again != Again::Changed {
                        retries += 1;
                        self.wait_before_retry().await;
                    }
                    attempt += u32::from(changed || again != Again::SameKey);
                    tracing::debug!(remaining = items.len(), ?again, "resubmitting to Shopify");
                }
            }
        }
        Ok(())
    }

    /// Wait before a write Shopify asked to be sent again. Only that write waits: the connection-wide
    /// throttle pause would also hold back every other request of the adapter (listing pages, order
    /// polls, other pushes) for a user error that concerns this write alone.
    async fn wait_before_retry(&self) {
        let wait = self.config.user_error_retry_wait();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Aliased `inventoryAdjustQuantities` mutations, one per keyed adjustment, each under its own
    /// `@idempotent` key: each is applied (or refused) on its own, and a resubmission of any of them is
    /// answered from Shopify's idempotency store. An adjustment answered `IDEMPOTENCY_CONCURRENT_REQUEST`
    /// goes out again under the same key; one answered `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED` (or a
    /// "failed, try again" code) under the next [`attempt_key`] of its key.
    async fn keyed_adjustments(&self, chunk: &[(Item, String)], out: &mut [Option<ItemOutcome>]) -> Result<()> {
        let mut pending: Vec<(&Item, &str, u32)> = chunk.iter().map(|(i, k)| (i, k.as_str(), 0)).collect();
        let mut retries = 0u32;
        while !pending.is_empty() {
            let mut vars = serde_json::Map::new();
            for (n, (item, key, attempt)) in pending.iter().enumerate() {
                let input = json!({
                    "name": "available",
                    "reason": self.config.inventory_reason,
                    "changes": [item.body.clone()],
                });
                vars.insert(format!("a{n}"), input);
                vars.insert(format!("k{n}"), json!(attempt_key(key, *attempt)));
            }
            let mut data = self.client.inventory_adjust_keyed(pending.len(), vars).await?;
            let retry_left = retries < self.config.max_user_error_retries;
            let mut again = Vec::new();
            for (n, (item, key, attempt)) in pending.iter().enumerate() {
                let payload = data.remove(&format!("a{n}")).flatten();
                match keyed_outcome(item, payload.as_ref()) {
                    Keyed::Done(outcome) => out[item.index] = Some(outcome),
                    Keyed::Retry(class, _) if retry_left => {
                        again.push((*item, *key, attempt + u32::from(class == map::ErrorClass::NewKey)));
                    }
                    // Still asked to try again after the last retry: rejected, retryable.
                    Keyed::Retry(_, outcome) => out[item.index] = Some(outcome),
                }
            }
            if !again.is_empty() {
                retries += 1;
                self.wait_before_retry().await;
            }
            pending = again;
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

    /// Every fulfillment order of `order` (a gid), page by page; `NotFound` for an unknown order.
    async fn fulfillment_orders(&self, order: &str) -> Result<Vec<wire::FulfillmentOrder>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .client
                .fulfillment_orders(order, after.as_deref())
                .await?
                .ok_or_else(|| Error::not_found(format!("shopify: order {} not found", legacy_id(order))))?;
            after = page.next_cursor();
            all.extend(page.nodes);
            if after.is_none() {
                break;
            }
        }
        // Lines past a fulfillment order's first page: a shipment may name any of them.
        for fo in &mut all {
            let (Some(id), Some(lines)) = (fo.id.clone(), fo.line_items.as_mut()) else { continue };
            let mut next = lines.next_cursor();
            while let Some(cursor) = next {
                let more = self.client.fulfillment_order_lines(&id, &cursor).await?.ok_or_else(|| {
                    ShopifyError::unexpected("fulfillmentOrder", format!("{id}: no lineItems past the first page"))
                })?;
                next = more.next_cursor();
                lines.nodes.extend(more.nodes);
            }
            lines.page_info = wire::PageInfo::default();
        }
        Ok(all)
    }

    /// The listings of up to [`doc::NODES_MAX`] inventory item ids, in one `nodes(ids:)` read.
    async fn listings_by_id(&self, ctx: &ShopContext, ids: &[String]) -> Result<Vec<Listing>> {
        let nodes = self.client.inventory_items(ids, &ctx.location_id).await?;
        Ok(nodes.iter().flatten().filter_map(|item| map::listing_from_item(ctx, item)).collect())
    }
}

/// What an inventory mutation's answer leaves to do.
#[derive(Debug)]
enum Next {
    /// Every item has its outcome.
    Done,
    /// The items marked `true` in `refused` have their outcomes; send the others `again`.
    Resubmit { refused: Vec<bool>, again: Again },
}

/// Why, and under which key, the rest of a batch goes out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// Some items were refused and nothing applied: the others, a changed request, under a new key.
    Changed,
    /// `IDEMPOTENCY_CONCURRENT_REQUEST`: the same request under the same key.
    SameKey,
    /// A "failed, try again" code: the same items under a new key.
    NewKey,
}

/// The `@idempotent` key of attempt `attempt` of a write whose first key is `key`: `key` itself, then a
/// UUID-shaped key derived from it and the attempt number (HMAC-SHA256), so that Shopify's "retry with a
/// new idempotency key" is followed deterministically — the same write resubmitted later walks the same
/// keys and is answered from Shopify's idempotency store for each attempt that got through.
pub fn attempt_key(key: &str, attempt: u32) -> String {
    if attempt == 0 {
        return key.to_owned();
    }
    derived_uuid(b"stocksync/shopify/attempt", &json!([key, attempt]))
}

/// A keyed adjustment's answer: its outcome, or a user error that asks for it to be sent again.
enum Keyed {
    Done(ItemOutcome),
    /// The class, and the outcome should no retry be left.
    Retry(map::ErrorClass, ItemOutcome),
}

fn keyed_outcome(item: &Item, payload: Option<&wire::InventoryPayload>) -> Keyed {
    let Some(payload) = payload else {
        return Keyed::Done(ItemOutcome::rejected(
            item.listing.clone(),
            "Shopify answered no inventoryAdjustQuantities payload for this adjustment",
            true,
        ));
    };
    match (payload.user_errors.first(), payload.inventory_adjustment_group.as_ref()) {
        (None, group) | (Some(_), group @ Some(_)) => {
            let after = map::after_quantities(group).get(item.item_id()).copied();
            Keyed::Done(ItemOutcome::applied(item.listing.clone(), after))
        }
        // One change per mutation: its errors are its own, and nothing was applied.
        (Some(e), None) => {
            let outcome =
                ItemOutcome { listing: item.listing.clone(), outcome: map::error_outcome(map::Mutation::Adjust, e) };
            match map::classify(map::Mutation::Adjust, e.code.as_deref()) {
                class @ (map::ErrorClass::SameKey | map::ErrorClass::NewKey) => Keyed::Retry(class, outcome),
                _ => Keyed::Done(outcome),
            }
        }
    }
}

/// Record the outcomes an inventory mutation's `payload` gives `items`. No errors: all applied. Errors
/// that ask to try again (while `retry_left`): the batch goes out again, less the items refused for
/// their own reasons. Item errors (`field` names the item's index): those items get their outcome and
/// the rest go out again. Errors that name no item and do not ask to try again: every item rejected.
fn sort_refusals(
    mutation: map::Mutation,
    items: &[Item],
    payload: &wire::InventoryPayload,
    out: &mut [Option<ItemOutcome>],
    retry_left: bool,
) -> Next {
    let errors = &payload.user_errors;
    let group = payload.inventory_adjustment_group.as_ref();
    if errors.is_empty() || group.is_some() {
        // Applied (with errors: not Shopify's documented behaviour, but the changes are what they are).
        let after = map::after_quantities(group);
        for i in items {
            let quantity = after.get(i.item_id()).copied().or_else(|| i.body.get("quantity").and_then(Value::as_i64));
            out[i.index] = Some(ItemOutcome::applied(i.listing.clone(), quantity));
        }
        return Next::Done;
    }
    let classes: Vec<map::ErrorClass> = errors.iter().map(|e| map::classify(mutation, e.code.as_deref())).collect();
    let again = if classes.contains(&map::ErrorClass::SameKey) {
        Some(Again::SameKey)
    } else if classes.contains(&map::ErrorClass::NewKey) {
        Some(Again::NewKey)
    } else {
        None
    };
    let mut refused = vec![false; items.len()];
    let mut unplaced = None;
    for (e, class) in errors.iter().zip(&classes) {
        let retry = matches!(class, map::ErrorClass::SameKey | map::ErrorClass::NewKey);
        // An item's own refusal; one that asks to try again goes out again with the rest while it may.
        let final_for_item = !(retry && retry_left);
        match e.index_at(2).filter(|p| *p < items.len()) {
            Some(p) if final_for_item && !refused[p] => {
                refused[p] = true;
                out[items[p].index] =
                    Some(ItemOutcome { listing: items[p].listing.clone(), outcome: map::error_outcome(mutation, e) });
            }
            Some(_) => {}
            None if retry => {}
            None => unplaced = unplaced.or(Some(e)),
        }
    }
    let rest = items.iter().zip(&refused).filter(|(_, f)| !**f).map(|(i, _)| i);
    match (unplaced, again) {
        (None, Some(again)) if retry_left => Next::Resubmit { refused, again },
        (None, None) if refused.iter().any(|f| *f) => Next::Resubmit { refused, again: Again::Changed },
        (None, None) => Next::Done,
        // An error of the request as a whole (a bad name or reason): sending it again will not help, so
        // not retryable. Or still asked to try again after the last retry: rejected, retryable.
        (unplaced, _) => {
            let reason = errors.iter().map(map::describe).collect::<Vec<_>>().join("; ");
            for i in rest {
                out[i.index] = Some(ItemOutcome::rejected(i.listing.clone(), reason.clone(), unplaced.is_none()));
            }
            Next::Done
        }
    }
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
        let granted = self.client.access_scopes().await?;
        let check = ScopeCheck::of(&granted);
        if !check.required_missing.is_empty() {
            return Err(ShopifyError::MissingScopes(check.required_missing).into());
        }
        if !check.all_orders && !self.warned_window.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                shop = %ctx.domain,
                "the Shopify app lacks read_all_orders: orders created more than 60 days ago are invisible to order sync"
            );
        }
        let optional =
            if check.optional_missing.is_empty() { "none".to_owned() } else { check.optional_missing.join(", ") };
        Ok(AccountIdentity::new(ChannelKind::Shopify, legacy_id(&ctx.shop_id))
            .with_name(ctx.name.clone())
            .with_detail("domain", ctx.domain.clone())
            .with_detail("location", format!("{} ({})", ctx.location_name, ctx.location_id))
            .with_detail("currency", ctx.currency.code())
            .with_detail("read_all_orders", if check.all_orders { "granted" } else { "missing" })
            .with_detail("orders_window", if check.all_orders { "all" } else { "60 days" })
            .with_detail("missing_scopes", optional))
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

    /// `fulfillmentCreate` once per assigned location (the fulfillment orders of one call must share
    /// a location), for the fulfillment orders that support `CREATE_FULFILLMENT`; the others, and any
    /// Shopify refuses, are reported as [`ShopifyError::NotFulfilled`] after the rest is fulfilled.
    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order = gid("Order", shipment.order.as_str());
        let fos = self.fulfillment_orders(&order).await?;
        let plan = fulfillment_plan(&fos, shipment);
        if plan.groups.is_empty() && plan.blocked.is_empty() {
            return Err(Error::validation(format!("shopify: order {} has nothing left to fulfil", shipment.order)));
        }
        let tracking = map::tracking_info(&shipment.tracking);
        let (mut fulfilled, mut not_fulfilled) = (Vec::new(), plan.blocked);
        for (_location, by_fo) in plan.groups {
            let ids: Vec<String> =
                by_fo.iter().filter_map(|g| g["fulfillmentOrderId"].as_str().map(str::to_owned)).collect();
            let fulfillment =
                json!({"lineItemsByFulfillmentOrder": by_fo, "trackingInfo": tracking, "notifyCustomer": true});
            let errors = self.client.fulfillment_create(fulfillment).await?;
            if errors.is_empty() {
                fulfilled.extend(ids);
            } else {
                let reason = format!(
                    "fulfillmentCreate refused: {}",
                    errors.iter().map(map::describe).collect::<Vec<_>>().join("; ")
                );
                not_fulfilled.extend(ids.into_iter().map(|id| Unfulfilled::new(id, reason.clone())));
            }
        }
        if not_fulfilled.is_empty() {
            return Ok(());
        }
        Err(ShopifyError::NotFulfilled { order: shipment.order.to_string(), fulfilled, not_fulfilled }.into())
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

/// What a shipment does with an order's fulfillment orders.
#[derive(Debug, Default)]
struct FulfillmentPlan {
    /// `lineItemsByFulfillmentOrder` entries by assigned location, in the order first seen: one
    /// `fulfillmentCreate` each.
    groups: Vec<(String, Vec<Value>)>,
    /// Fulfillment orders with something of the shipment left on them that do not support
    /// `CREATE_FULFILLMENT` in their current state.
    blocked: Vec<Unfulfilled>,
}

/// The plan for a shipment: every fulfillment order with something left whole, or — when the shipment
/// names lines — the named lines' quantities, capped at what remains. Closed and cancelled fulfillment
/// orders have nothing to ship and are left out.
fn fulfillment_plan(fos: &[wire::FulfillmentOrder], shipment: &Shipment) -> FulfillmentPlan {
    let mut plan = FulfillmentPlan::default();
    for fo in fos {
        if matches!(fo.status.as_deref(), Some("CLOSED" | "CANCELLED")) {
            continue;
        }
        let fo_id = fo.id.as_deref().unwrap_or_default();
        let lines: &[wire::FulfillmentOrderLineItem] = fo.line_items.as_ref().map_or(&[], |c| c.nodes.as_slice());
        let entry = if shipment.lines.is_empty() {
            let left = lines.is_empty() || lines.iter().any(|l| l.remaining_quantity.unwrap_or(0) > 0);
            left.then(|| json!({"fulfillmentOrderId": fo_id}))
        } else {
            let items = named_lines(lines, shipment);
            (!items.is_empty()).then(|| json!({"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": items}))
        };
        let Some(entry) = entry else { continue };
        if !fo.can_create_fulfillment() {
            let actions: Vec<&str> = fo.supported_actions.iter().filter_map(|a| a.action.as_deref()).collect();
            let reason = format!(
                "status {}, supported actions [{}]: no CREATE_FULFILLMENT",
                fo.status.as_deref().unwrap_or("unknown"),
                actions.join(", ")
            );
            plan.blocked.push(Unfulfilled::new(fo_id, reason));
            continue;
        }
        let location = fo.location_id().unwrap_or_default().to_owned();
        match plan.groups.iter_mut().find(|(l, _)| *l == location) {
            Some((_, list)) => list.push(entry),
            None => plan.groups.push((location, vec![entry])),
        }
    }
    plan
}

/// The shipment's lines on one fulfillment order: `{id, quantity}` capped at what remains.
fn named_lines(lines: &[wire::FulfillmentOrderLineItem], shipment: &Shipment) -> Vec<Value> {
    let mut items = Vec::new();
    for li in lines {
        let line = li.line_item.as_ref().and_then(|l| l.id.as_deref()).map(legacy_id).unwrap_or_default();
        let remaining = li.remaining_quantity.unwrap_or(0);
        if let Some((_, qty)) = shipment.lines.iter().find(|(id, _)| legacy_id(id) == line) {
            let qty = u64::from(*qty).min(remaining);
            if qty > 0 {
                items.push(json!({"id": li.id, "quantity": qty}));
            }
        }
    }
    items
}

fn finish<'a>(out: Vec<Option<ItemOutcome>>, ids: impl Iterator<Item = &'a ListingId>) -> Vec<ItemOutcome> {
    out.into_iter()
        .zip(ids)
        .map(|(o, id)| {
            o.unwrap_or_else(|| ItemOutcome::rejected(id.clone(), "no outcome was recorded for this item", true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{adjustment_key, attempt_key};

    /// Keys already sent to Shopify must come out the same from any later version of the adapter, or a
    /// resubmission after an upgrade would be applied twice.
    #[test]
    fn derived_keys_are_pinned() {
        let key = adjustment_key("outbox/shop/17", "gid://shopify/InventoryItem/1", "gid://shopify/Location/1", -2);
        assert_eq!(key, "7b4e2bbc-a12a-8598-87c5-745dd37061a5");
        assert_eq!(adjustment_key("a\"b", "x", "y", i64::MAX), "856363fe-878c-83fb-950f-9cffef5d516d");
        assert_eq!(attempt_key("outbox/shop/17", 0), "outbox/shop/17");
        assert_eq!(attempt_key("outbox/shop/17", 1), "3113c61c-02f9-887d-9b7f-77c42cd1bc6f");
        assert_eq!(attempt_key("abc", 7), "76ec0c63-cdd4-80b3-ba9c-28bc1eac5db5");
    }
}
