//! The [`Channel`] implementation.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use channel_core::http::{Auth, HeaderName, HttpClient};
use channel_core::rust_decimal::Decimal;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Currency, Error, ItemOutcome, Listing, ListingId,
    ListingStatus, Money, Order, OrderCursor, OrderLine, OrderPage, OrderStatus, Outcome, PriceUpdate, Result,
    Shipment, Stock, StockAdjustment, StockUpdate, WebhookEvent, WebhookRejection, WebhookRequest,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::config::ShopifyConfig;
use crate::documents as doc;
use crate::error::ShopifyError;
use crate::graphql::{Gql, ThrottleStatus};

/// Most quantities in one inventory mutation (Shopify's array input limit).
pub const MAX_QUANTITIES: usize = 250;
/// Most variants in one price call (each product is an aliased mutation costing 10; a query may cost 1,000).
pub const MAX_PRICES: usize = 100;
/// Orders read per page.
pub const ORDERS_PAGE: usize = 10;
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
    gql: Gql,
    context: Arc<OnceCell<ShopContext>>,
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopify").field("config", &self.config).field("http", &self.gql.http).finish_non_exhaustive()
    }
}

/// `gid://shopify/{kind}/{id}` for a bare number; anything else as given.
pub fn gid(kind: &str, id: &str) -> String {
    if id.starts_with("gid://") { id.to_owned() } else { format!("gid://shopify/{kind}/{id}") }
}

/// The number at the end of a gid (`gid://shopify/Order/12?x=y` → `12`).
pub fn legacy_id(gid: &str) -> &str {
    let path = gid.split('?').next().unwrap_or(gid);
    path.rsplit('/').next().unwrap_or(path)
}

/// One quantity to write: its position in the caller's input and the mutation item.
#[derive(Debug, Clone)]
struct Item {
    index: usize,
    listing: ListingId,
    body: Value,
}

fn s<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

impl Shopify {
    /// An adapter for the store `config` describes.
    pub fn new(config: ShopifyConfig) -> std::result::Result<Self, ShopifyError> {
        if config.page_size == 0 || config.page_size > 199 {
            return Err(ShopifyError::Config(
                "page_size must be 1..=199 (the listing query costs 2 + 5 per variant)".into(),
            ));
        }
        if config.shop_domain.trim().is_empty() && config.base_url.is_none() {
            return Err(ShopifyError::Config("shop_domain is required".into()));
        }
        let token = HeaderName::from_static("x-shopify-access-token");
        let http = HttpClient::builder()
            .name(format!("shopify:{}", config.shop_domain))
            .base_url(config.origin())
            .auth(Auth::header(token, config.access_token.clone()))
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .build()
            .map_err(ShopifyError::Http)?;
        let gql = Gql::new(http, config.graphql_path(), config.max_throttle_retries);
        Ok(Self { config, gql, context: Arc::new(OnceCell::new()) })
    }

    /// The configuration.
    pub fn config(&self) -> &ShopifyConfig {
        &self.config
    }

    /// The cost bucket as Shopify last reported it.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.gql.last_throttle_status()
    }

    /// The shop and location, looked up once (one read) and cached.
    pub async fn context(&self) -> Result<ShopContext> {
        Ok(self.context.get_or_try_init(|| self.lookup()).await?.clone())
    }

    async fn lookup(&self) -> std::result::Result<ShopContext, ShopifyError> {
        let (data, location) = match &self.config.location_id {
            Some(loc) => {
                let loc = gid("Location", loc);
                let data = self.gql.run("shop", doc::SHOP_AND_LOCATION, json!({"location": loc}), true).await?;
                let found = data.get("location").filter(|l| !l.is_null()).cloned();
                let location = found.ok_or(ShopifyError::UnknownLocation(loc))?;
                (data, location)
            }
            None => {
                let data = self.gql.run("shop", doc::SHOP_AND_LOCATIONS, json!({}), true).await?;
                let nodes = data.pointer("/locations/nodes").and_then(Value::as_array).cloned().unwrap_or_default();
                match nodes.as_slice() {
                    [one] => (data.clone(), one.clone()),
                    [] => return Err(ShopifyError::Config("the shop has no locations".into())),
                    several => {
                        let names = several
                            .iter()
                            .map(|l| format!("{} ({})", s(l, "/id").unwrap_or(""), s(l, "/name").unwrap_or("")))
                            .collect();
                        return Err(ShopifyError::SeveralLocations(names));
                    }
                }
            }
        };
        let shop = data.get("shop").ok_or_else(|| ShopifyError::Unexpected("no shop in the answer".into()))?;
        let currency = s(shop, "/currencyCode").and_then(|c| Currency::new(c).ok()).unwrap_or(Currency::USD);
        Ok(ShopContext {
            shop_id: s(shop, "/id").unwrap_or_default().to_owned(),
            name: s(shop, "/name").unwrap_or_default().to_owned(),
            domain: s(shop, "/myshopifyDomain").unwrap_or(&self.config.shop_domain).to_owned(),
            currency,
            location_id: s(&location, "/id").unwrap_or_default().to_owned(),
            location_name: s(&location, "/name").unwrap_or_default().to_owned(),
        })
    }

    fn listing(&self, ctx: &ShopContext, node: &Value) -> Option<Listing> {
        let item = node.get("inventoryItem")?;
        let item_id = s(item, "/id")?;
        let sku = s(node, "/sku").unwrap_or_default();
        let tracked = item.get("tracked").and_then(Value::as_bool).unwrap_or(true);
        let level = item.get("inventoryLevel").filter(|l| !l.is_null());
        let available = level.and_then(|l| l.get("quantities")).and_then(Value::as_array).and_then(|qs| {
            qs.iter()
                .find(|q| s(q, "/name") == Some("available"))
                .and_then(|q| q.get("quantity"))
                .and_then(Value::as_i64)
        });
        let (stock, status) = match (tracked, level, available) {
            (false, _, _) => (Stock::Untracked, ListingStatus::Active),
            (true, None, _) => (Stock::Untracked, ListingStatus::Inactive),
            (true, Some(_), q) => (Stock::Tracked { quantity: q.unwrap_or(0) }, ListingStatus::Active),
        };
        let mut l = Listing::new(item_id, sku, 0).with_stock(stock).with_status(status);
        if let Some(price) = s(node, "/price").and_then(|p| Decimal::from_str(p).ok()) {
            l = l.with_price(Money::new(price, ctx.currency));
        }
        l = l.with_id("inventory_item_id", item_id).with_id("location_id", ctx.location_id.clone());
        if let Some(v) = s(node, "/id") {
            l = l.with_id("variant_id", v);
        }
        if let Some(p) = s(node, "/product/id") {
            l = l.with_id("product_id", p);
        }
        Some(l)
    }

    async fn variants_page(&self, after: Option<String>) -> Result<(Vec<Listing>, Option<String>)> {
        let ctx = self.context().await?;
        let vars = json!({"first": self.config.page_size, "after": after, "location": ctx.location_id});
        let data = self.gql.run("productVariants", doc::VARIANTS, vars, true).await?;
        let conn = data.get("productVariants").ok_or_else(|| ShopifyError::Unexpected("no productVariants".into()))?;
        let nodes = conn.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        let listings = nodes.iter().filter_map(|n| self.listing(&ctx, n)).collect();
        let next = (conn.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool) == Some(true))
            .then(|| s(conn, "/pageInfo/endCursor").map(str::to_owned))
            .flatten();
        Ok((listings, next))
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
            let data = self.gql.run(field, document, json!({"input": input, "key": key}), true).await?;
            let payload = data
                .get(field)
                .filter(|p| !p.is_null())
                .ok_or_else(|| ShopifyError::Unexpected(format!("no {field} payload in the answer")))?;
            let errors = payload.get("userErrors").and_then(Value::as_array).cloned().unwrap_or_default();
            let group = payload.get("inventoryAdjustmentGroup").filter(|g| !g.is_null());
            if errors.is_empty() {
                let after = after_quantities(group);
                for i in items.drain(..) {
                    let item_id = s(&i.body, "/inventoryItemId").unwrap_or_default().to_owned();
                    let quantity =
                        after.get(&item_id).copied().or_else(|| i.body.get("quantity").and_then(Value::as_i64));
                    out[i.index] = Some(ItemOutcome::applied(i.listing, quantity));
                }
                break;
            }
            let mut failed = vec![false; items.len()];
            let mut unplaced = Vec::new();
            for e in &errors {
                let position = e
                    .get("field")
                    .and_then(Value::as_array)
                    .and_then(|f| f.get(2))
                    .and_then(|p| {
                        p.as_str()
                            .and_then(|t| t.parse::<usize>().ok())
                            .or_else(|| p.as_u64().and_then(|n| usize::try_from(n).ok()))
                    })
                    .filter(|p| *p < items.len());
                match position {
                    Some(p) if !failed[p] => {
                        failed[p] = true;
                        out[items[p].index] =
                            Some(ItemOutcome { listing: items[p].listing.clone(), outcome: error_outcome(e) });
                    }
                    Some(_) => {}
                    None => unplaced.push(e),
                }
            }
            if !unplaced.is_empty() || !failed.iter().any(|f| *f) {
                // Errors that name no item: nothing was applied and resubmitting will not help.
                let reason = errors.iter().map(describe).collect::<Vec<_>>().join("; ");
                for i in items.drain(..).zip(&failed).filter(|(_, f)| !**f).map(|(i, _)| i) {
                    out[i.index] = Some(ItemOutcome::rejected(i.listing, reason.clone(), false));
                }
                break;
            }
            if group.is_some() {
                // Applied despite the errors (not Shopify's documented behaviour): the rest went through.
                let after = after_quantities(group);
                for (i, _) in items.drain(..).zip(failed).filter(|(_, f)| !*f) {
                    let item_id = s(&i.body, "/inventoryItemId").unwrap_or_default().to_owned();
                    out[i.index] = Some(ItemOutcome::applied(i.listing, after.get(&item_id).copied()));
                }
                break;
            }
            items = items.into_iter().zip(failed).filter(|(_, f)| !*f).map(|(i, _)| i).collect();
            tracing::debug!(remaining = items.len(), "resubmitting the items Shopify did not refuse");
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
        let document = doc::keyed_adjustments(chunk.len());
        let data = self.gql.run("inventoryAdjustQuantities", &document, Value::Object(vars), true).await?;
        for (n, (item, _)) in chunk.iter().enumerate() {
            let payload = data.get(format!("a{n}")).filter(|p| !p.is_null());
            let outcome = match payload {
                None => ItemOutcome::rejected(
                    item.listing.clone(),
                    "Shopify answered no inventoryAdjustQuantities payload for this adjustment",
                    true,
                ),
                Some(payload) => {
                    let errors = payload.get("userErrors").and_then(Value::as_array).cloned().unwrap_or_default();
                    let group = payload.get("inventoryAdjustmentGroup").filter(|g| !g.is_null());
                    match (errors.first(), group) {
                        (None, _) | (Some(_), Some(_)) => {
                            let item_id = s(&item.body, "/inventoryItemId").unwrap_or_default();
                            let after = after_quantities(group).get(item_id).copied();
                            ItemOutcome::applied(item.listing.clone(), after)
                        }
                        // One change per mutation: its errors are its own, and nothing was applied.
                        (Some(e), None) => ItemOutcome { listing: item.listing.clone(), outcome: error_outcome(e) },
                    }
                }
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
            let data = self.gql.run("inventoryItem", &doc::available(chunk.len()), Value::Object(vars), true).await?;
            for (n, i) in chunk.iter().enumerate() {
                let actual = data
                    .pointer(&format!("/i{n}/inventoryLevel/quantities"))
                    .and_then(Value::as_array)
                    .and_then(|qs| qs.iter().find(|q| s(q, "/name") == Some("available")))
                    .and_then(|q| q.get("quantity"))
                    .and_then(Value::as_i64);
                out[*i] = Some(ItemOutcome::stale(updates[*i].listing.clone(), actual));
            }
        }
        Ok(())
    }

    async fn orders_page(&self, since: Timestamp, after: Option<String>) -> Result<(Vec<Order>, Option<String>)> {
        let ctx = self.context().await?;
        let query = format!("updated_at:>='{}'", since.strftime("%Y-%m-%dT%H:%M:%SZ"));
        let vars = json!({"first": ORDERS_PAGE, "after": after, "query": query});
        let data = self.gql.run("orders", doc::ORDERS, vars, true).await?;
        let conn = data.get("orders").ok_or_else(|| ShopifyError::Unexpected("no orders in the answer".into()))?;
        let mut orders = Vec::new();
        for node in conn.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default() {
            let mut lines: Vec<Value> =
                node.pointer("/lineItems/nodes").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut more = node.pointer("/lineItems/pageInfo/hasNextPage").and_then(Value::as_bool) == Some(true);
            let mut cursor = s(&node, "/lineItems/pageInfo/endCursor").map(str::to_owned);
            while more {
                let id = s(&node, "/id").unwrap_or_default();
                let data = self.gql.run("order", doc::ORDER_LINES, json!({"id": id, "after": cursor}), true).await?;
                let conn = data.pointer("/order/lineItems").cloned().unwrap_or(Value::Null);
                lines.extend(conn.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default());
                more = conn.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool) == Some(true);
                cursor = s(&conn, "/pageInfo/endCursor").map(str::to_owned);
            }
            if let Some(order) = graphql_order(&node, &lines, ctx.currency) {
                orders.push(order);
            }
        }
        let next = (conn.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool) == Some(true))
            .then(|| s(conn, "/pageInfo/endCursor").map(str::to_owned))
            .flatten();
        Ok((orders, next))
    }
}

/// `quantityAfterChange` of `available` per inventory item gid.
fn after_quantities(group: Option<&Value>) -> BTreeMap<String, i64> {
    group
        .and_then(|g| g.get("changes"))
        .and_then(Value::as_array)
        .map(|changes| {
            changes
                .iter()
                .filter(|c| s(c, "/name").is_none_or(|n| n == "available"))
                .filter_map(|c| Some((s(c, "/item/id")?.to_owned(), c.get("quantityAfterChange")?.as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A price as Shopify's decimal string, to the currency's minor unit (`10.50`).
fn decimal_string(m: Money) -> String {
    let dp = m.currency.minor_units() as usize;
    format!("{:.dp$}", m.round_to_minor().amount)
}

fn describe(e: &Value) -> String {
    let code = s(e, "/code").unwrap_or("");
    let message = s(e, "/message").unwrap_or("refused");
    if code.is_empty() { message.to_owned() } else { format!("{code}: {message}") }
}

/// The last integer in a message (`… the current available quantity is 8.` → 8).
fn last_integer(message: &str) -> Option<i64> {
    let mut found = None;
    let bytes = message.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = if i > 0 && bytes[i - 1] == b'-' { i - 1 } else { i };
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            found = message[start..j].parse().ok().or(found);
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

fn error_outcome(e: &Value) -> Outcome {
    match s(e, "/code") {
        Some("CHANGE_FROM_QUANTITY_STALE") => Outcome::Stale { actual: s(e, "/message").and_then(last_integer) },
        Some("INTERNAL_ERROR") => Outcome::Rejected { reason: describe(e), retryable: true },
        _ => Outcome::Rejected { reason: describe(e), retryable: false },
    }
}

fn money(v: Option<&Value>, fallback: Currency) -> Option<Money> {
    let v = v?;
    let amount = Decimal::from_str(s(v, "/amount")?).ok()?;
    let currency = s(v, "/currencyCode").and_then(|c| Currency::new(c).ok()).unwrap_or(fallback);
    Some(Money::new(amount, currency))
}

fn ts(v: Option<&str>) -> Option<Timestamp> {
    v?.parse().ok()
}

/// Normalised status from GraphQL's display statuses.
pub(crate) fn status_from(cancelled: bool, financial: &str, fulfillment: &str) -> OrderStatus {
    let financial = financial.to_ascii_uppercase();
    let fulfillment = fulfillment.to_ascii_uppercase();
    if cancelled {
        OrderStatus::Cancelled
    } else if financial == "REFUNDED" {
        OrderStatus::Returned
    } else if fulfillment == "FULFILLED" || fulfillment == "PARTIALLY_FULFILLED" || fulfillment == "PARTIAL" {
        OrderStatus::Shipped
    } else if financial == "PENDING" || financial == "AUTHORIZED" {
        OrderStatus::Pending
    } else {
        OrderStatus::Open
    }
}

fn graphql_order(node: &Value, lines: &[Value], currency: Currency) -> Option<Order> {
    let id =
        s(node, "/legacyResourceId").map(str::to_owned).or_else(|| s(node, "/id").map(|g| legacy_id(g).to_owned()))?;
    let cancelled = node.get("cancelledAt").is_some_and(|c| !c.is_null());
    let financial = s(node, "/displayFinancialStatus").unwrap_or("");
    let fulfillment = s(node, "/displayFulfillmentStatus").unwrap_or("");
    let status = status_from(cancelled, financial, fulfillment);
    let channel_status =
        if cancelled { format!("CANCELLED/{financial}/{fulfillment}") } else { format!("{financial}/{fulfillment}") };
    let lines = lines
        .iter()
        .filter_map(|l| {
            let quantity = u32::try_from(l.get("quantity")?.as_i64()?).ok()?;
            let current = l
                .get("currentQuantity")
                .and_then(Value::as_i64)
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(quantity);
            let mut line = OrderLine::new(legacy_id(s(l, "/id")?), s(l, "/sku").unwrap_or_default(), quantity)
                .with_refunded(quantity.saturating_sub(current));
            if let Some(price) = money(l.pointer("/originalUnitPriceSet/shopMoney"), currency) {
                line = line.with_unit_price(price);
            }
            Some(line)
        })
        .collect();
    let created = ts(s(node, "/createdAt"))?;
    let updated = ts(s(node, "/updatedAt")).unwrap_or(created);
    Some(Order::new(id, status, channel_status, lines, created, updated))
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
            .delta_adjust(true)
            .compare_and_set(true)
            .idempotent_writes(true)
            .webhooks(true)
            .tracking_export(true)
            .price_sync(true)
            .channel_held_stock(false)
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
        stream::try_unfold(Some(None::<String>), move |state| async move {
            let Some(after) = state else { return Ok(None) };
            let (listings, next) = self.variants_page(after).await?;
            Ok::<_, Error>(Some((listings, next.map(Some))))
        })
        .map_ok(|listings| stream::iter(listings.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
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
            let mut input = json!({"id": variant, "price": decimal_string(u.price)});
            if let Some(list) = u.list_price {
                input["compareAtPrice"] = json!(decimal_string(list));
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
            let data = self
                .gql
                .run("productVariantsBulkUpdate", &doc::prices(products.len()), Value::Object(vars), true)
                .await?;
            for (i, (_, entries)) in products.iter().enumerate() {
                let payload = data.get(format!("p{i}")).cloned().unwrap_or(Value::Null);
                let errors = payload.get("userErrors").and_then(Value::as_array).cloned().unwrap_or_default();
                for (position, entry) in entries.iter().enumerate() {
                    let listing = updates[entry.0].listing.clone();
                    let own = errors.iter().find(|e| {
                        e.get("field").and_then(Value::as_array).and_then(|f| f.get(1)).and_then(|p| {
                            p.as_str()
                                .and_then(|t| t.parse::<usize>().ok())
                                .or_else(|| p.as_u64().and_then(|n| usize::try_from(n).ok()))
                        }) == Some(position)
                    });
                    out[entry.0] = Some(match (own, errors.is_empty()) {
                        (_, true) => ItemOutcome::applied(listing, None),
                        (Some(e), false) => ItemOutcome::rejected(listing, describe(e), false),
                        // The product's update is all or nothing: another variant's error kept this one back.
                        (None, false) => ItemOutcome::rejected(
                            listing,
                            format!("not applied: {}", errors.iter().map(describe).collect::<Vec<_>>().join("; ")),
                            true,
                        ),
                    });
                }
            }
        }
        Ok(finish(out, updates.iter().map(|u| &u.listing)))
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, Result<OrderPage>> {
        let since = cursor.since;
        stream::try_unfold(Some((None::<String>, since)), move |state| async move {
            let Some((after, high)) = state else { return Ok(None) };
            let (orders, next) = self.orders_page(since, after).await?;
            // Orders come oldest change first: resuming at the newest change seen loses nothing.
            let high = orders.iter().map(|o| o.updated_at).max().map_or(high, |t| t.max(high));
            let page = OrderPage::new(orders, OrderCursor::new(high));
            Ok::<_, Error>(Some((page, next.map(|n| (Some(n), high)))))
        })
        .boxed()
    }

    async fn export_tracking(&self, shipment: &Shipment) -> Result<()> {
        let order = gid("Order", shipment.order.as_str());
        let data = self.gql.run("order", doc::FULFILLMENT_ORDERS, json!({"id": order}), true).await?;
        let fos = data
            .pointer("/order/fulfillmentOrders/nodes")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("shopify: order {} not found", shipment.order)))?;
        let open = |fo: &&Value| matches!(s(fo, "/status"), Some("OPEN" | "IN_PROGRESS" | "SCHEDULED" | "ON_HOLD"));
        let mut by_fo = Vec::new();
        for fo in fos.iter().filter(open) {
            let fo_id = s(fo, "/id").unwrap_or_default();
            if shipment.lines.is_empty() {
                by_fo.push(json!({"fulfillmentOrderId": fo_id}));
                continue;
            }
            let mut items = Vec::new();
            for li in fo.pointer("/lineItems/nodes").and_then(Value::as_array).cloned().unwrap_or_default() {
                let line = s(&li, "/lineItem/id").map(legacy_id).unwrap_or_default();
                let remaining = li.get("remainingQuantity").and_then(Value::as_u64).unwrap_or(0);
                if let Some((_, qty)) = shipment.lines.iter().find(|(id, _)| legacy_id(id) == line) {
                    let qty = u64::from(*qty).min(remaining);
                    if qty > 0 {
                        items.push(json!({"id": s(&li, "/id"), "quantity": qty}));
                    }
                }
            }
            if !items.is_empty() {
                by_fo.push(json!({"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": items}));
            }
        }
        if by_fo.is_empty() {
            return Err(Error::validation(format!("shopify: order {} has nothing left to fulfil", shipment.order)));
        }
        let mut tracking = json!({"number": shipment.tracking.number, "company": shipment.tracking.carrier});
        if let Some(url) = &shipment.tracking.url {
            tracking["url"] = json!(url);
        }
        let fulfillment =
            json!({"lineItemsByFulfillmentOrder": by_fo, "trackingInfo": tracking, "notifyCustomer": true});
        // Not idempotent: a second fulfillment would be created.
        let data = self
            .gql
            .run("fulfillmentCreate", doc::FULFILLMENT_CREATE, json!({"fulfillment": fulfillment}), false)
            .await?;
        let errors =
            data.pointer("/fulfillmentCreate/userErrors").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(e) = errors.first() {
            return Err(Error::validation(format!("shopify: fulfillmentCreate refused: {}", describe(e))));
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

fn finish<'a>(out: Vec<Option<ItemOutcome>>, ids: impl Iterator<Item = &'a ListingId>) -> Vec<ItemOutcome> {
    out.into_iter()
        .zip(ids)
        .map(|(o, id)| {
            o.unwrap_or_else(|| ItemOutcome::rejected(id.clone(), "no outcome was recorded for this item", true))
        })
        .collect()
}
