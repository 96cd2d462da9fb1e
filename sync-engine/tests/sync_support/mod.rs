//! The sync runtime's tests' channels (channel-testkit's `FakeChannel`), and helpers to set up a store.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use channel_core::{ChannelKind, Sku, StoreId};
pub use channel_testkit::fake::{FakeChannel, FakeChannelBuilder, Fault};
use jiff::Timestamp;
use sync_engine::clock::ManualClock;
use sync_engine::store::{Component, ConnectionRecord, ProductRecord, Scope, SealedCredentials, SyncMode};
use sync_engine::{Store, SyncEngine, WriteBatch, WriteOp};

/// channel-testkit's fake as the runtime tests use it: `max_batch` updates per write call, listings
/// read 100 at a time, webhooks.
pub fn fake(kind: ChannelKind, max_batch: usize) -> FakeChannelBuilder {
    FakeChannel::builder(kind).max_stock_batch(max_batch).listing_page_size(100).webhooks()
}

pub fn t0() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

pub fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

/// Add a connected store with credentials (pushes allowed).
pub async fn connect(store: &dyn Store, id: &str, kind: ChannelKind, source: bool, mode: SyncMode) {
    let mut c = ConnectionRecord::new(StoreId::new(id), kind, id, Scope::Client(store.company_id().clone()), t0());
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

/// Three stores on fakes over one store: Takealot `takealot` (the source), Shopify `shopify` and
/// WooCommerce `woo`; each test file seeds its own listings.
pub struct World {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub source: Arc<FakeChannel>,
    pub shop: Arc<FakeChannel>,
    pub woo: Arc<FakeChannel>,
}

/// An engine over the world's store and clock, with the three fakes as the host's channels.
pub async fn engine(w: &World) -> SyncEngine {
    SyncEngine::builder(Arc::clone(&w.store))
        .clock(Arc::clone(&w.clock) as Arc<dyn sync_engine::clock::Clock>)
        .channel(StoreId::new("takealot"), Arc::clone(&w.source) as Arc<dyn channel_core::Channel>)
        .channel(StoreId::new("shopify"), Arc::clone(&w.shop) as Arc<dyn channel_core::Channel>)
        .channel(StoreId::new("woo"), Arc::clone(&w.woo) as Arc<dyn channel_core::Channel>)
        .build()
        .await
        .unwrap()
}
