//! An in-memory channel for the sync runtime's tests, and helpers to set up a store.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Fulfilment, InventoryChange, ItemOutcome, Listing, ListingId,
    Order, OrderCursor, OrderLine, OrderPage, OrderStatus, Sku, StockAdjustment, StockUpdate, StoreId, WebhookEvent,
    WebhookPayload, WebhookRejection, WebhookRequest,
};
use futures::stream::{self, BoxStream};
use jiff::Timestamp;
use sync_engine::store::{Component, ConnectionRecord, ProductRecord, Scope, SealedCredentials, SyncMode};
use sync_engine::{Store, WriteBatch, WriteOp};

/// What the fake does with the next write call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail the call with this error.
    Call(channel_core::ErrorKind, &'static str),
    /// Reject this listing's item.
    Reject { listing: String, reason: String, retryable: bool },
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub listings: Vec<Listing>,
    pub orders: Vec<Order>,
    pub write_calls: Vec<Vec<StockUpdate>>,
    pub adjust_calls: Vec<Vec<StockAdjustment>>,
    pub faults: VecDeque<Fault>,
}

/// A channel whose listings live in memory. Sales decrement stock like a platform does.
#[derive(Debug)]
pub struct FakeChannel {
    pub kind: ChannelKind,
    pub caps: Capabilities,
    pub secret: String,
    pub state: Mutex<FakeState>,
}

impl FakeChannel {
    pub fn new(kind: ChannelKind, max_batch: usize) -> Arc<Self> {
        let mut caps = Capabilities::minimal();
        caps.max_stock_batch = max_batch;
        caps.listing_page_size = 100;
        caps.webhooks = true;
        Arc::new(Self { kind, caps, secret: "s3cret".into(), state: Mutex::new(FakeState::default()) })
    }

    pub fn with_cas(kind: ChannelKind, max_batch: usize) -> Arc<Self> {
        let mut caps = Capabilities::minimal();
        caps.max_stock_batch = max_batch;
        caps.listing_page_size = 100;
        caps.compare_and_set = true;
        caps.webhooks = true;
        Arc::new(Self { kind, caps, secret: "s3cret".into(), state: Mutex::new(FakeState::default()) })
    }

    /// A channel that applies keyed deltas at most once (as Shopify does), and so is moved by deltas as
    /// the source.
    pub fn with_deltas(kind: ChannelKind, max_batch: usize) -> Arc<Self> {
        let mut caps = Capabilities::minimal();
        caps.max_stock_batch = max_batch;
        caps.listing_page_size = 100;
        caps.delta_adjust = true;
        caps.idempotent_writes = true;
        caps.webhooks = true;
        Arc::new(Self { kind, caps, secret: "s3cret".into(), state: Mutex::new(FakeState::default()) })
    }

    pub fn adjust_calls(&self) -> Vec<Vec<StockAdjustment>> {
        self.state.lock().unwrap().adjust_calls.clone()
    }

    pub fn add(&self, id: &str, sku: &str, quantity: i64) {
        self.state.lock().unwrap().listings.push(Listing::new(id, sku, quantity));
    }

    pub fn add_channel_held(&self, id: &str, sku: &str, quantity: i64) {
        self.state.lock().unwrap().listings.push(Listing::new(id, sku, quantity).with_fulfilment(Fulfilment::Channel));
    }

    pub fn quantity(&self, id: &str) -> Option<i64> {
        self.state.lock().unwrap().listings.iter().find(|l| l.id.as_str() == id).and_then(Listing::quantity)
    }

    pub fn set_quantity(&self, id: &str, quantity: i64) {
        let mut s = self.state.lock().unwrap();
        if let Some(l) = s.listings.iter_mut().find(|l| l.id.as_str() == id) {
            l.stock = channel_core::Stock::Tracked { quantity };
        }
    }

    /// Sell `quantity` of listing `id` (the platform decrements its own stock) and return the order.
    pub fn sell(&self, order_id: &str, id: &str, quantity: u32, at: Timestamp) -> Order {
        let mut s = self.state.lock().unwrap();
        let listing = s.listings.iter_mut().find(|l| l.id.as_str() == id).expect("listing exists");
        if let Some(q) = listing.quantity() {
            listing.stock = channel_core::Stock::Tracked { quantity: q - i64::from(quantity) };
        }
        let line = OrderLine::new("1", listing.channel_sku.clone(), quantity).with_listing(id);
        let order = Order::new(order_id, OrderStatus::Open, "open", vec![line], at, at);
        s.orders.push(order.clone());
        order
    }

    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    pub fn write_calls(&self) -> Vec<Vec<StockUpdate>> {
        self.state.lock().unwrap().write_calls.clone()
    }

    /// A signed webhook delivery of an order.
    pub fn order_webhook(&self, delivery: &str, order: &Order) -> WebhookRequest {
        let body = serde_json::json!({"delivery": delivery, "topic": "order", "order": order});
        WebhookRequest::new(serde_json::to_vec(&body).unwrap()).header("x-signature", self.secret.clone())
    }

    /// A signed webhook delivery of an inventory change.
    pub fn inventory_webhook(&self, delivery: &str, listing: &str, quantity: i64) -> WebhookRequest {
        let body =
            serde_json::json!({"delivery": delivery, "topic": "inventory", "listing": listing, "quantity": quantity});
        WebhookRequest::new(serde_json::to_vec(&body).unwrap()).header("x-signature", self.secret.clone())
    }
}

#[async_trait]
impl Channel for FakeChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn test_connection(&self) -> channel_core::Result<AccountIdentity> {
        Ok(AccountIdentity::new(self.kind, "fake"))
    }

    fn listings(&self) -> BoxStream<'_, channel_core::Result<Listing>> {
        let listings = self.state.lock().unwrap().listings.clone();
        Box::pin(stream::iter(listings.into_iter().map(Ok)))
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        assert!(updates.len() <= self.caps.max_stock_batch, "the engine batches to the channel's maximum");
        let mut s = self.state.lock().unwrap();
        s.write_calls.push(updates.to_vec());
        let mut rejects: HashMap<String, (String, bool)> = HashMap::new();
        while let Some(front) = s.faults.front().cloned() {
            match front {
                Fault::Call(kind, message) => {
                    s.faults.pop_front();
                    return Err(channel_core::Error::new(kind, message));
                }
                Fault::Reject { listing, reason, retryable } => {
                    s.faults.pop_front();
                    rejects.insert(listing, (reason, retryable));
                }
            }
        }
        let mut out = Vec::new();
        for u in updates {
            if let Some((reason, retryable)) = rejects.get(u.listing.as_str()) {
                out.push(ItemOutcome::rejected(u.listing.clone(), reason.clone(), *retryable));
                continue;
            }
            let listing = s.listings.iter_mut().find(|l| l.id == u.listing);
            match listing {
                None => out.push(ItemOutcome::rejected(u.listing.clone(), "no such listing", false)),
                Some(l) => {
                    if self.caps.compare_and_set
                        && let Some(expected) = u.expected
                        && l.quantity() != Some(expected)
                    {
                        out.push(ItemOutcome::stale(u.listing.clone(), l.quantity()));
                        continue;
                    }
                    l.stock = channel_core::Stock::Tracked { quantity: u.quantity };
                    out.push(ItemOutcome::applied(u.listing.clone(), Some(u.quantity)));
                }
            }
        }
        Ok(out)
    }

    async fn adjust_stock(&self, adjustments: &[StockAdjustment]) -> channel_core::Result<Vec<ItemOutcome>> {
        assert!(self.caps.delta_adjust, "deltas are sent only to channels that take them");
        let mut s = self.state.lock().unwrap();
        let seen: Vec<String> = s.adjust_calls.iter().flatten().filter_map(|a| a.idempotency_key.clone()).collect();
        s.adjust_calls.push(adjustments.to_vec());
        let mut out = Vec::new();
        for a in adjustments {
            let again = a.idempotency_key.as_ref().is_some_and(|k| seen.contains(k));
            match s.listings.iter_mut().find(|l| l.id == a.listing) {
                None => out.push(ItemOutcome::rejected(a.listing.clone(), "no such listing", false)),
                Some(l) => {
                    let now = l.quantity().unwrap_or(0) + if again { 0 } else { a.delta };
                    l.stock = channel_core::Stock::Tracked { quantity: now };
                    out.push(ItemOutcome::applied(a.listing.clone(), Some(now)));
                }
            }
        }
        Ok(out)
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, channel_core::Result<OrderPage>> {
        let orders: Vec<Order> =
            self.state.lock().unwrap().orders.iter().filter(|o| o.updated_at >= cursor.since).cloned().collect();
        let next = orders.iter().map(|o| o.updated_at).max().unwrap_or(cursor.since);
        Box::pin(stream::iter([Ok(OrderPage::new(orders, OrderCursor::new(next)))]))
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent, WebhookRejection> {
        let Some(sig) = request.header_value("x-signature") else {
            return Err(WebhookRejection::Unsigned { header: "x-signature".into() });
        };
        if sig != self.secret {
            return Err(WebhookRejection::BadSignature);
        }
        let v: serde_json::Value =
            serde_json::from_slice(request.body()).map_err(|e| WebhookRejection::Malformed(e.to_string()))?;
        let delivery = v["delivery"].as_str().map(str::to_owned);
        match v["topic"].as_str() {
            Some("order") => {
                let order: Order = serde_json::from_value(v["order"].clone())
                    .map_err(|e| WebhookRejection::Malformed(e.to_string()))?;
                Ok(WebhookEvent::new(delivery, "order", WebhookPayload::Order(order)))
            }
            Some("inventory") => {
                let listing = v["listing"].as_str().map(ListingId::new);
                let change = InventoryChange::new(listing, None, v["quantity"].as_i64());
                Ok(WebhookEvent::new(delivery, "inventory", WebhookPayload::Inventory(change)))
            }
            other => Err(WebhookRejection::UnsupportedTopic(other.unwrap_or("").into())),
        }
    }
}

pub fn t0() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

pub fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

/// Add a connected store with credentials (pushes allowed).
pub async fn connect(store: &dyn Store, id: &str, kind: ChannelKind, source: bool, mode: SyncMode) {
    let mut c = ConnectionRecord::new(StoreId::new(id), kind, id, Scope::Global, t0());
    c.credentials = Some(SealedCredentials::from_sealed("sealed".into()));
    c.source_of_truth = source;
    c.sync_mode = mode;
    store.commit(WriteOp::PutConnection(c).into()).await.unwrap();
}

/// Add simple products and a bundle `BUNDLE-AB` = 1×A + 2×B.
pub async fn products(store: &dyn Store, simple: &[&str]) {
    let mut batch = WriteBatch::new();
    for s in simple {
        batch.push(WriteOp::PutProduct(ProductRecord::simple(sku(s), t0())));
    }
    store.commit(batch).await.unwrap();
}

pub async fn bundle(store: &dyn Store, bundle: &str, components: &[(&str, u32)]) {
    let components = components.iter().map(|(s, q)| Component { sku: sku(s), quantity: i64::from(*q) }).collect();
    store.commit(WriteOp::PutProduct(ProductRecord::bundle(sku(bundle), components, t0())).into()).await.unwrap();
}
