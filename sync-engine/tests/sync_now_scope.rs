//! What a full reconcile for some stores ("sync now STORE") does, and what its summary says: every store
//! is read, only the stores it is for are pushed to, and the summary's counts add up.

#[allow(unused_imports)] // the shared helpers re-export what other tests use
mod sync_support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use channel_core::{ChannelKind, StoreId};
use sync_engine::clock::ManualClock;
use sync_engine::store::{OutboxFilter, OutboxState, SyncMode};
use sync_engine::sync::SyncSummary;
use sync_engine::{MemoryStore, Store, SyncEngine};
use sync_support::*;

/// Takealot (source, A=10, B=20), Shopify (A, B at 0), WooCommerce (A, B at 3).
async fn world() -> World {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    connect(store.as_ref(), "takealot", ChannelKind::Takealot, true, SyncMode::Live).await;
    connect(store.as_ref(), "shopify", ChannelKind::Shopify, false, SyncMode::Live).await;
    connect(store.as_ref(), "woo", ChannelKind::Woocommerce, false, SyncMode::Live).await;
    products(store.as_ref(), &["A", "B"]).await;
    let source = Arc::new(fake(ChannelKind::Takealot, 100).build());
    source.add("t-a", "A", 10);
    source.add("t-b", "B", 20);
    let shop = Arc::new(fake(ChannelKind::Shopify, 2).build());
    shop.add("s-a", "A", 0);
    shop.add("s-b", "B", 0);
    let woo = Arc::new(fake(ChannelKind::Woocommerce, 1).build());
    woo.add("w-a", "A", 3);
    woo.add("w-b", "B", 3);
    World { store, clock: Arc::new(ManualClock::new(t0())), source, shop, woo }
}

async fn sync(e: &SyncEngine, only: Option<&[&str]>) -> SyncSummary {
    let only = only.map(|o| o.iter().map(|s| StoreId::new(*s)).collect());
    e.full_sync(only, None, &AtomicBool::new(false)).await.unwrap()
}

/// The outbox items of `store` that are not dead letters.
async fn queued(w: &World, store: &str) -> usize {
    let mut filter = OutboxFilter::default();
    filter.store = Some(StoreId::new(store));
    w.store.outbox(&filter).await.unwrap().iter().filter(|i| i.state != OutboxState::Dead).count()
}

fn now(w: &World) -> jiff::Timestamp {
    sync_engine::clock::Clock::now(w.clock.as_ref())
}

fn assert_adds_up(s: &SyncSummary) {
    assert_eq!(
        s.pushed + s.failed + s.left,
        s.planned + s.carried,
        "pushed + failed + left = planned + carried: {s:?}"
    );
}

#[tokio::test]
async fn a_sync_for_one_store_pushes_to_no_other_store() {
    let w = world().await;
    let e = engine(&w).await;
    // WooCommerce only: Shopify's stale quantities are not corrected, the source is only read.
    let first = sync(&e, Some(&["woo"])).await;
    assert_eq!((w.woo.quantity("w-a"), w.woo.quantity("w-b")), (Some(10), Some(20)));
    assert_eq!((first.planned, first.carried, first.pushed, first.failed, first.left), (2, 0, 2, 0, 0), "{first:?}");
    assert!(w.shop.write_calls().is_empty() && w.source.write_calls().is_empty());
    // A sale on WooCommerce queues the new quantity for every other store, and nothing pushes it yet.
    w.clock.advance(jiff::SignedDuration::from_secs(60));
    let order = w.woo.sell("o-1", "w-a", 2, now(&w));
    e.ingest_order(&StoreId::new("woo"), &order).await.unwrap();
    let shop_queued = queued(&w, "shopify").await;
    assert!(shop_queued > 0, "the sale queued pushes for Shopify");
    let source_queued = queued(&w, "takealot").await;
    assert!(source_queued > 0, "the sale queued the source's new on hand");
    // "sync now woo": what was queued for the other stores stays queued, for their own schedule.
    let again = sync(&e, Some(&["woo"])).await;
    assert!(w.shop.write_calls().is_empty(), "Shopify was pushed to: {:?}", w.shop.write_calls());
    assert!(w.source.write_calls().is_empty(), "the source was pushed to: {:?}", w.source.write_calls());
    assert_eq!((w.shop.quantity("s-a"), w.source.quantity("t-a")), (Some(0), Some(10)));
    assert_eq!(queued(&w, "shopify").await, shop_queued, "Shopify's pushes left queued");
    assert_eq!(queued(&w, "takealot").await, source_queued, "the source's push left queued");
    assert_adds_up(&again);
    assert_eq!(again.failed + again.left, 0, "{again:?}");
    // A store built afresh re-plans on load (for every store), and a sync for one store still pushes to it
    // alone.
    let restarted = engine(&w).await;
    let third = sync(&restarted, Some(&["woo"])).await;
    assert!(w.shop.write_calls().is_empty(), "Shopify was pushed to after a restart");
    assert_adds_up(&third);
    // A sync of every store pushes everything queued, and says how much of it was queued before.
    let all = sync(&restarted, None).await;
    assert_adds_up(&all);
    assert!(all.carried > 0 || all.planned > 0, "{all:?}");
    assert_eq!((w.shop.quantity("s-a"), w.source.quantity("t-a")), (Some(8), Some(8)));
    assert_eq!(queued(&w, "shopify").await + queued(&w, "takealot").await + queued(&w, "woo").await, 0);
}

#[tokio::test]
async fn pushes_queued_before_the_sync_are_counted_apart_from_the_plan() {
    let w = world().await;
    let e = engine(&w).await;
    let first = sync(&e, None).await;
    assert_adds_up(&first);
    assert_eq!(first.carried, 0, "{first:?}");
    // A sale on Shopify queues the other stores' new quantities; the sync for the source then finds its
    // own push already queued: nothing new to plan for it, one push carried.
    w.clock.advance(jiff::SignedDuration::from_secs(60));
    let order = w.shop.sell("o-1", "s-b", 5, now(&w));
    e.ingest_order(&StoreId::new("shopify"), &order).await.unwrap();
    assert_eq!(queued(&w, "takealot").await, 1);
    let s = sync(&e, Some(&["takealot"])).await;
    assert_adds_up(&s);
    assert_eq!((s.pushed, s.failed, s.left), (1, 0, 0), "{s:?}");
    assert_eq!(w.source.quantity("t-b"), Some(15));
    assert_eq!(w.woo.quantity("w-b"), Some(20), "WooCommerce not pushed to");
    assert_eq!(queued(&w, "woo").await, 1, "WooCommerce's push left queued");
}
