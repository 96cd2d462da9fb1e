//! The sync runtime against in-memory channels: exactly-once ingestion, the outbox, echo suppression,
//! authentication failures, crash safety.

mod sync_support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use channel_core::{ChannelKind, ErrorKind, ListingId, OrderStatus, StoreId};
use sync_engine::clock::ManualClock;
use sync_engine::store::{AuditFilter, CredentialStatus, LedgerFilter, OutboxFilter, OutboxState, SyncMode};
use sync_engine::sync::WebhookOutcome;
use sync_engine::{MemoryStore, Store, SyncEngine};
use sync_support::*;

/// Takealot (source, A=10, B=20), Shopify (A, B, the bundle; batch 2, compare-and-set), WooCommerce (A, B).
async fn world(store: Arc<dyn Store>) -> World {
    connect(store.as_ref(), "takealot", ChannelKind::Takealot, true, SyncMode::Live).await;
    connect(store.as_ref(), "shopify", ChannelKind::Shopify, false, SyncMode::Live).await;
    connect(store.as_ref(), "woo", ChannelKind::Woocommerce, false, SyncMode::Live).await;
    products(store.as_ref(), &["A", "B"]).await;
    bundle(store.as_ref(), "AB-PACK", &[("A", 1), ("B", 2)]).await;
    let source = Arc::new(fake(ChannelKind::Takealot, 100).build());
    source.add("t-a", "A", 10);
    source.add("t-b", "B", 20);
    let shop = Arc::new(fake(ChannelKind::Shopify, 2).compare_and_set().build());
    shop.add("s-a", "A", 0);
    shop.add("s-b", "B", 0);
    shop.add("s-ab", "AB-PACK", 0);
    let woo = Arc::new(fake(ChannelKind::Woocommerce, 1).build());
    woo.add("w-a", "A", 3);
    woo.add("w-b", "B", 3);
    woo.add_channel_held("w-a-fba", "A", 99);
    World { store, clock: Arc::new(ManualClock::new(t0())), source, shop, woo }
}

async fn synced(w: &World) -> SyncEngine {
    let e = engine(w).await;
    let summary = e.full_sync(None, None, &AtomicBool::new(false)).await.unwrap();
    assert_eq!(summary.listings_read, 8);
    // Orders placed from now on happen after the reads.
    w.clock.advance(jiff::SignedDuration::from_secs(1));
    e
}

fn assert_converged(w: &World, a: i64, b: i64) {
    assert_eq!(w.source.quantity("t-a"), Some(a), "source A");
    assert_eq!(w.source.quantity("t-b"), Some(b), "source B");
    assert_eq!(w.shop.quantity("s-a"), Some(a), "shopify A");
    assert_eq!(w.shop.quantity("s-b"), Some(b), "shopify B");
    assert_eq!(w.shop.quantity("s-ab"), Some(a.min(b / 2)), "shopify bundle");
    assert_eq!(w.woo.quantity("w-a"), Some(a), "woo A");
    assert_eq!(w.woo.quantity("w-b"), Some(b), "woo B");
    assert_eq!(w.woo.quantity("w-a-fba"), Some(99), "channel-held stock is never written");
}

#[tokio::test]
async fn full_sync_pushes_the_plan_batched_to_each_channel() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let _e = synced(&w).await;
    assert_converged(&w, 10, 20);
    // Shopify takes 2 per call: 3 updates → 2 calls; WooCommerce takes 1: 2 updates → 2 calls.
    assert_eq!(w.shop.write_calls().len(), 2);
    assert!(w.woo.write_calls().iter().all(|c| c.len() == 1));
    assert!(w.source.write_calls().is_empty(), "the source already shows its on hand");
}

#[tokio::test]
async fn an_order_is_counted_once_via_webhook_poll_and_replay() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    w.clock.advance(jiff::SignedDuration::from_secs(60));
    let order = w.shop.sell("1001", "s-ab", 2, w.clock.now_ts());
    // Webhook, the same delivery again, a second delivery of the same order, a poll and a replay.
    let hook = w.shop.order_webhook("d-1", &order);
    assert!(matches!(e.handle_webhook(&StoreId::new("shopify"), &hook).await, WebhookOutcome::Applied { .. }));
    assert!(matches!(e.handle_webhook(&StoreId::new("shopify"), &hook).await, WebhookOutcome::Duplicate { .. }));
    let again = w.shop.order_webhook("d-2", &order);
    match e.handle_webhook(&StoreId::new("shopify"), &again).await {
        WebhookOutcome::Applied { report, .. } => assert_eq!((report.new_lines, report.duplicates), (0, 1)),
        other => panic!("unexpected {other:?}"),
    }
    let polled = e.poll_orders(&StoreId::new("shopify")).await.unwrap();
    assert_eq!(polled.new_lines, 0);
    let replay = e.ingest_order(&StoreId::new("shopify"), &order).await.unwrap();
    assert_eq!(replay.duplicates, 1);
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    // Two bundles = 2×A + 4×B, once.
    assert_converged(&w, 8, 16);
    let ledger = w.store.ledger(&LedgerFilter::default()).await.unwrap();
    assert_eq!(ledger.len(), 2, "one movement per component: {ledger:?}");
    assert_eq!(w.store.ledger_balance(&sku("B")).await.unwrap(), -4);
}

#[tokio::test]
async fn orders_out_of_order_and_cancellations_restock_once() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    let store = StoreId::new("woo");
    let mut order = w.woo.sell("77", "w-a", 3, w.clock.now_ts());
    let mut cancelled = order.clone();
    cancelled.status = OrderStatus::Cancelled;
    // The cancellation arrives first: the line never held stock.
    e.ingest_order(&store, &cancelled).await.unwrap();
    e.ingest_order(&store, &order).await.unwrap();
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(w.source.quantity("t-a"), Some(10));
    // A second order: sold, then cancelled twice.
    order.id = "78".into();
    e.ingest_order(&store, &order).await.unwrap();
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(w.source.quantity("t-a"), Some(7));
    let mut c2 = order.clone();
    c2.status = OrderStatus::Cancelled;
    e.ingest_order(&store, &c2).await.unwrap();
    e.ingest_order(&store, &c2).await.unwrap();
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(w.source.quantity("t-a"), Some(10));
    assert_eq!(w.shop.quantity("s-a"), Some(10));
}

#[tokio::test]
async fn channel_fulfilled_lines_leave_merchant_stock_alone() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    let order = w.woo.sell("90", "w-a-fba", 5, w.clock.now_ts());
    let r = e.ingest_order(&StoreId::new("woo"), &order).await.unwrap();
    assert_eq!((r.new_lines, r.pushes), (1, 0));
    assert_eq!(e.on_hand(&sku("A")).await.unwrap(), Some(10));
    assert!(w.store.ledger(&LedgerFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn pushes_coalesce_per_listing_latest_target_wins() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    let before = w.woo.write_calls().len();
    for n in 0..5 {
        let order = w.shop.sell(&format!("c{n}"), "s-a", 1, w.clock.now_ts());
        e.ingest_order(&StoreId::new("shopify"), &order).await.unwrap();
    }
    let pending = w.store.outbox(&OutboxFilter::default()).await.unwrap();
    let woo_a: Vec<_> = pending.iter().filter(|i| i.push.listing.as_str() == "w-a").collect();
    assert_eq!(woo_a.len(), 1, "five orders, one queued push per listing");
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_converged(&w, 5, 20);
    // WooCommerce: A and the bundle-free B untouched; one write for A.
    assert_eq!(w.woo.write_calls().len() - before, 1);
}

#[tokio::test]
async fn retryable_failures_back_off_and_permanent_ones_dead_letter() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    w.woo.push_fault(Fault::Call(ErrorKind::Transient, "502 bad gateway"));
    w.woo.push_fault(Fault::Reject { listing: "w-b".into(), reason: "offer disabled".into(), retryable: false });
    let order = w.source.sell("t1", "t-a", 1, w.clock.now_ts());
    let order_b = w.source.sell("t2", "t-b", 1, w.clock.now_ts());
    e.ingest_order(&StoreId::new("takealot"), &order).await.unwrap();
    e.ingest_order(&StoreId::new("takealot"), &order_b).await.unwrap();
    let first = e.run_outbox_once().await.unwrap();
    assert!(first.retried >= 1, "{first:?}");
    assert_eq!(first.dead, 1, "{first:?}");
    assert_eq!(w.woo.quantity("w-a"), Some(10));
    // Not due yet: nothing happens until the backoff has passed.
    let idle = e.run_outbox_once().await.unwrap();
    assert_eq!(idle.claimed, 0);
    w.clock.advance(jiff::SignedDuration::from_secs(5));
    let second = e.run_outbox_once().await.unwrap();
    assert_eq!((second.pushed, second.dead), (1, 0), "{second:?}");
    assert_eq!(w.woo.quantity("w-a"), Some(9));
    let mut filter = OutboxFilter::default();
    filter.state = Some(OutboxState::Dead);
    let dead = w.store.outbox(&filter).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("offer disabled"));
}

#[tokio::test]
async fn an_auth_failure_flips_health_and_stops_pushes() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    w.woo.push_fault(Fault::Call(ErrorKind::Auth, "401 invalid consumer key"));
    let order = w.shop.sell("a1", "s-a", 1, w.clock.now_ts());
    e.ingest_order(&StoreId::new("shopify"), &order).await.unwrap();
    let r = e.run_outbox_once().await.unwrap();
    assert!(r.held >= 1, "{r:?}");
    let conn = w.store.connection(&StoreId::new("woo")).await.unwrap().unwrap();
    assert_eq!(conn.health.credentials, CredentialStatus::NeedsReauth);
    let calls = w.woo.write_calls().len();
    // More orders: nothing more is sent to WooCommerce, even when the hold has passed.
    let order = w.shop.sell("a2", "s-a", 1, w.clock.now_ts());
    e.ingest_order(&StoreId::new("shopify"), &order).await.unwrap();
    w.clock.advance(jiff::SignedDuration::from_secs(3600));
    e.run_outbox_once().await.unwrap();
    e.run_outbox_once().await.unwrap();
    assert_eq!(w.woo.write_calls().len(), calls);
    assert_eq!(w.shop.quantity("s-a"), Some(8), "other stores still get their pushes");
}

#[tokio::test]
async fn echoes_are_ignored_and_external_changes_handled() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    let shop = StoreId::new("shopify");
    let source = StoreId::new("takealot");
    // An echo of our own push to Shopify.
    let echo = w.shop.inventory_webhook("i-1", "s-a", 10);
    assert!(matches!(e.handle_webhook(&shop, &echo).await, WebhookOutcome::Ignored { .. }));
    // The seller raises stock on the source: taken in, the others follow.
    w.source.set_quantity("t-a", 15);
    let change = w.source.inventory_webhook("i-2", "t-a", 15);
    assert!(matches!(e.handle_webhook(&source, &change).await, WebhookOutcome::Applied { .. }));
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_converged(&w, 15, 20);
    assert_eq!(w.store.ledger_balance(&sku("A")).await.unwrap(), 5);
    // Someone raises stock on WooCommerce: what the engine pushed last is sent again.
    w.woo.set_quantity("w-a", 40);
    let change = w.woo.inventory_webhook("i-3", "w-a", 40);
    assert!(matches!(e.handle_webhook(&StoreId::new("woo"), &change).await, WebhookOutcome::Applied { .. }));
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(w.woo.quantity("w-a"), Some(15));
    let audit = w.store.audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.reason.contains("rise reported on woo")), "{audit:?}");
}

#[tokio::test]
async fn a_late_echo_of_an_older_push_is_not_taken_as_an_external_change() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    let shop = StoreId::new("shopify");
    let s_a = ListingId::new("s-a");
    // The full sync pushed A = 10 to Shopify; a sale on WooCommerce then pushes 7.
    let order = w.woo.sell("w1", "w-a", 3, w.clock.now_ts());
    e.ingest_order(&StoreId::new("woo"), &order).await.unwrap();
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_converged(&w, 7, 20);
    let calls = w.shop.write_calls().len();
    let external = |audit: &[sync_engine::store::AuditEntry]| {
        audit.iter().filter(|a| a.reason.contains("external change on shopify")).count()
    };
    // Shopify's webhook for the first push (10) arrives only now, after the second push (7) landed, and
    // again later (a repeated delivery): not taken as someone raising Shopify's stock. The model keeps 7
    // and 7 is sent again, which Shopify already shows.
    for delivery in ["late-1", "late-2"] {
        let late = w.shop.inventory_webhook(delivery, "s-a", 10);
        assert!(matches!(e.handle_webhook(&shop, &late).await, WebhookOutcome::Applied { .. }));
        assert_eq!(e.listing_quantity(&shop, &s_a).await.unwrap(), Some(7), "the model is not moved by it");
        e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
        assert_converged(&w, 7, 20);
    }
    let resent: Vec<_> = w.shop.write_calls()[calls..].iter().flatten().map(|u| (u.quantity, u.expected)).collect();
    assert_eq!(resent, [(7, Some(7)), (7, Some(7))], "what was pushed last, expecting what was pushed last");
    assert_eq!(external(&w.store.audit(&AuditFilter::default()).await.unwrap()), 0, "no external change");
    assert!(w.store.ledger(&LedgerFilter::default()).await.unwrap().len() == 1, "only the sale");
    // A genuine rise, even to the value of an older push, is corrected at once: the write expecting 7 is
    // refused as stale and re-planned against the 10 Shopify reports.
    w.shop.set_quantity("s-a", 10);
    let raised = w.shop.inventory_webhook("raise-1", "s-a", 10);
    assert!(matches!(e.handle_webhook(&shop, &raised).await, WebhookOutcome::Applied { .. }));
    let r = e.run_outbox_once().await.unwrap();
    assert_eq!(r.stale, 1, "{r:?}");
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_converged(&w, 7, 20);
    let audit = w.store.audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.reason.contains("rise reported on shopify")), "{audit:?}");
}

#[tokio::test]
async fn a_delta_sources_inventory_webhooks_are_verified_by_a_re_read() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    connect(store.as_ref(), "shopify", ChannelKind::Shopify, true, SyncMode::Live).await;
    connect(store.as_ref(), "woo", ChannelKind::Woocommerce, false, SyncMode::Live).await;
    products(store.as_ref(), &["A"]).await;
    let shop = Arc::new(fake(ChannelKind::Shopify, 100).keyed_deltas().build());
    shop.add("s-a", "A", 10);
    let woo = Arc::new(fake(ChannelKind::Woocommerce, 10).build());
    woo.add("w-a", "A", 3);
    let clock = Arc::new(ManualClock::new(t0()));
    let e = SyncEngine::builder(Arc::clone(&store))
        .clock(Arc::clone(&clock) as Arc<dyn sync_engine::clock::Clock>)
        .channel(StoreId::new("shopify"), Arc::clone(&shop) as Arc<dyn channel_core::Channel>)
        .channel(StoreId::new("woo"), Arc::clone(&woo) as Arc<dyn channel_core::Channel>)
        .build()
        .await
        .unwrap();
    e.full_sync(None, None, &AtomicBool::new(false)).await.unwrap();
    clock.advance(jiff::SignedDuration::from_secs(60));
    let (shopify, a) = (StoreId::new("shopify"), sku("A"));
    let quiet =
        jiff::SignedDuration::try_from(e.config().refresh_interval).unwrap() + jiff::SignedDuration::from_secs(1);
    let taken = |store: &Arc<dyn Store>| {
        let store = Arc::clone(store);
        async move {
            store
                .ledger(&LedgerFilter::default())
                .await
                .unwrap()
                .iter()
                .filter(|m| m.movement.cause == sync_engine::store::MovementCause::ManualAdjustment)
                .map(|m| m.movement.delta)
                .collect::<Vec<_>>()
        }
    };
    // Two sold on WooCommerce (a delta of -2 queued for Shopify), one on Shopify itself (imported: the
    // model moves, nothing is pushed). Shopify's snapshot of 9 comes while the delta is still queued.
    let order = woo.sell("w1", "w-a", 2, clock.now_ts());
    e.ingest_order(&StoreId::new("woo"), &order).await.unwrap();
    let order = shop.sell("s1", "s-a", 1, clock.now_ts());
    e.ingest_order(&shopify, &order).await.unwrap();
    assert_eq!(e.on_hand(&a).await.unwrap(), Some(7));
    let snapshot = shop.inventory_webhook("i-1", "s-a", 9);
    match e.handle_webhook(&shopify, &snapshot).await {
        WebhookOutcome::Ignored { reason, .. } => assert!(reason.contains("re-read queued"), "{reason}"),
        other => panic!("a delta source's snapshot is not taken in: {other:?}"),
    }
    // The re-read comes while the delta is queued: queued again, nothing taken.
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 1);
    assert_eq!(e.on_hand(&a).await.unwrap(), Some(7));
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(shop.quantity("s-a"), Some(7));
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 1, "the re-read was queued again, not dropped");
    assert_eq!(e.on_hand(&a).await.unwrap(), Some(7));
    // The same snapshot delivered again after the delta landed (it would read as +2).
    let again = shop.inventory_webhook("i-2", "s-a", 9);
    assert!(matches!(e.handle_webhook(&shopify, &again).await, WebhookOutcome::Ignored { .. }));
    // The re-read finds what the model says: nothing to take in.
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 1);
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 0, "nothing left to re-read");
    assert_eq!(e.on_hand(&a).await.unwrap(), Some(7));
    // Orders still arriving: one more Shopify sale imported, and another made whose order is yet to come.
    // The re-read shows that sale; taken in now, it would count twice when its order arrives.
    let order = shop.sell("s2", "s-a", 1, clock.now_ts());
    e.ingest_order(&shopify, &order).await.unwrap();
    let pending = shop.sell("s3", "s-a", 1, clock.now_ts());
    let snapshot = shop.inventory_webhook("i-3", "s-a", 5);
    assert!(matches!(e.handle_webhook(&shopify, &snapshot).await, WebhookOutcome::Ignored { .. }));
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 1);
    assert_eq!(e.on_hand(&a).await.unwrap(), Some(6), "the model moved a moment ago: the re-read waits");
    e.ingest_order(&shopify, &pending).await.unwrap();
    clock.advance(quiet);
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 1, "re-read once the model is still");
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 0);
    assert_eq!(e.on_hand(&a).await.unwrap(), Some(5));
    assert!(taken(&store).await.is_empty(), "no snapshot or re-read taken as an external change");
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!((shop.quantity("s-a"), woo.quantity("w-a")), (Some(5), Some(5)));
    let deltas: Vec<i64> = shop.adjust_calls().iter().flatten().map(|d| d.delta).collect();
    assert_eq!(deltas, [-2], "Shopify moved by the WooCommerce sale only");
    // A real change in Shopify's admin is taken in by the re-read, and WooCommerce follows.
    shop.set_quantity("s-a", 12);
    clock.advance(quiet);
    let change = shop.inventory_webhook("i-4", "s-a", 12);
    assert!(matches!(e.handle_webhook(&shopify, &change).await, WebhookOutcome::Ignored { .. }));
    assert_eq!(e.refresh_changed_listings().await.unwrap(), 1);
    assert_eq!(e.on_hand(&a).await.unwrap(), Some(12));
    assert_eq!(taken(&store).await, [7]);
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!((shop.quantity("s-a"), woo.quantity("w-a")), (Some(12), Some(12)));
    // Each refresh with something to re-read read that listing by id, never the catalog.
    let reads = shop.get_listings_calls();
    assert_eq!(reads.len(), 6, "one by-id read per refresh with a listing to re-read: {reads:?}");
    assert!(reads.iter().all(|ids| ids == &[ListingId::new("s-a")]), "a re-read reads the listing: {reads:?}");
}

#[tokio::test]
async fn a_sync_for_one_store_marks_only_that_store_synced() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = engine(&w).await;
    let summary = e.full_sync(Some(vec![StoreId::new("woo")]), None, &AtomicBool::new(false)).await.unwrap();
    assert_eq!(summary.listings_read, 8, "every store is read");
    for (store, synced) in [("woo", true), ("shopify", false), ("takealot", false)] {
        let health = w.store.connection(&StoreId::new(store)).await.unwrap().unwrap().health;
        assert_eq!(health.last_sync_at.is_some(), synced, "{store}: {health:?}");
    }
    assert_eq!(w.woo.quantity("w-a"), Some(10), "WooCommerce reconciled");
    assert_eq!(w.shop.quantity("s-a"), Some(0), "Shopify not pushed to");
    e.full_sync(None, None, &AtomicBool::new(false)).await.unwrap();
    let health = w.store.connection(&StoreId::new("shopify")).await.unwrap().unwrap().health;
    assert!(health.last_sync_at.is_some(), "a sync of every store marks every store");
}

#[tokio::test]
async fn a_sync_that_fails_to_commit_leaves_the_engine_as_stored() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let first = synced(&w).await;
    // A second worker over the same store imports a sale: the source's row and the outbox move on, while
    // the first worker's cached rows are now stale.
    let second = engine(&w).await;
    let order = w.woo.sell("o1", "w-a", 2, w.clock.now_ts());
    second.ingest_order(&StoreId::new("woo"), &order).await.unwrap();
    assert_eq!(second.on_hand(&sku("A")).await.unwrap(), Some(8));
    let source = StoreId::new("takealot");
    let t_a = ListingId::new("t-a");
    let stored = |w: &World| {
        let store = Arc::clone(&w.store);
        let (source, t_a) = (source.clone(), t_a.clone());
        async move { store.listing(&source, &t_a).await.unwrap().unwrap() }
    };
    let before = stored(&w).await;
    // The first worker's "sync now" takes its reads in against its stale rows: the commit fails.
    let err = first.sync_now().finish().await.expect_err("the stale rows' commit fails");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(stored(&w).await, before, "nothing of the failed sync was written");
    // The engine is back to what is stored, not what the failed attempt cached.
    assert_eq!(first.on_hand(&sku("A")).await.unwrap(), Some(8));
    assert_eq!(first.listing_quantity(&source, &t_a).await.unwrap(), Some(8));
    // So its next writes apply, on the fresh rows, without undoing the other worker's sale.
    let order = w.shop.sell("o2", "s-a", 1, w.clock.now_ts());
    first.ingest_order(&StoreId::new("shopify"), &order).await.unwrap();
    assert_eq!(first.on_hand(&sku("A")).await.unwrap(), Some(7));
    first.sync_now().finish().await.unwrap();
    assert_converged(&w, 7, 20);
    assert_eq!(w.store.ledger_balance(&sku("A")).await.unwrap(), -3);
}

#[tokio::test]
async fn bad_webhooks_are_rejected_recorded_and_not_applied() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    let shop = StoreId::new("shopify");
    let order = w.shop.sell("x1", "s-a", 1, w.clock.now_ts());
    let unsigned =
        channel_core::WebhookRequest::new(serde_json::to_vec(&serde_json::json!({"topic": "order"})).unwrap());
    assert_eq!(e.handle_webhook(&shop, &unsigned).await.http_status(), 401);
    let tampered = channel_core::WebhookRequest::new(b"{}".to_vec()).header("x-signature", "wrong");
    assert_eq!(e.handle_webhook(&shop, &tampered).await.http_status(), 401);
    let malformed = channel_core::WebhookRequest::new(b"{not json".to_vec()).header("x-signature", "s3cret");
    assert_eq!(e.handle_webhook(&shop, &malformed).await.http_status(), 400);
    assert_eq!(e.handle_webhook(&StoreId::new("nowhere"), &w.shop.order_webhook("d", &order)).await.http_status(), 404);
    let audit = w.store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.field == "webhook").count(), 3);
    assert!(w.store.ledger(&LedgerFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn manual_adjustment_is_in_the_ledger_and_pushed() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    e.adjust_stock(&sku("B"), -6, "Takealot DC replenishment from leadtime stock").await.unwrap();
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_converged(&w, 10, 14);
    let ledger = w.store.ledger(&LedgerFilter::default()).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert!(e.adjust_stock(&sku("AB-PACK"), 1, "no").await.is_err(), "bundles are not adjusted");
}

#[tokio::test]
async fn a_stale_compare_and_set_is_replanned() {
    let w = world(Arc::new(MemoryStore::new())).await;
    let e = synced(&w).await;
    // Shopify changes behind our back, then an order elsewhere needs a push there.
    w.shop.set_quantity("s-b", 3);
    let order = w.woo.sell("s1", "w-b", 2, w.clock.now_ts());
    e.ingest_order(&StoreId::new("woo"), &order).await.unwrap();
    let r = e.run_outbox_once().await.unwrap();
    assert_eq!(r.stale, 1, "{r:?}");
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_converged(&w, 10, 18);
}

#[tokio::test]
async fn a_crash_before_pushing_loses_nothing_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.db");
    let store: Arc<dyn Store> = Arc::new(sync_engine::SqliteStore::open(&path).await.unwrap());
    let w = world(Arc::clone(&store)).await;
    let e = synced(&w).await;
    for n in 0..4 {
        let order = w.shop.sell(&format!("k{n}"), "s-a", 1, w.clock.now_ts());
        e.ingest_order(&StoreId::new("shopify"), &order).await.unwrap();
    }
    // Push part of the outbox, then "crash": drop the engine and the store without finishing.
    w.woo.push_fault(Fault::Call(ErrorKind::Transient, "connection reset"));
    let _ = e.run_outbox_once().await.unwrap();
    drop(e);
    drop(store);
    drop(w.store);
    let store: Arc<dyn Store> = Arc::new(sync_engine::SqliteStore::open(&path).await.unwrap());
    let w = World { store, ..w };
    let e = engine(&w).await;
    // Orders replayed after the restart are not counted again.
    for n in 0..4 {
        let order = w.shop.orders()[n].clone();
        assert_eq!(e.ingest_order(&StoreId::new("shopify"), &order).await.unwrap().duplicates, 1);
    }
    w.clock.advance(jiff::SignedDuration::from_secs(120));
    e.drain_outbox(std::time::Duration::from_secs(5)).await.unwrap();
    assert_converged(&w, 6, 20);
    assert_eq!(w.store.ledger_balance(&sku("A")).await.unwrap(), -4);
    assert_eq!(e.on_hand(&sku("A")).await.unwrap(), Some(6));
    let listing = e.listing_quantity(&StoreId::new("takealot"), &ListingId::new("t-a")).await.unwrap();
    assert_eq!(listing, Some(6));
}

trait NowTs {
    fn now_ts(&self) -> jiff::Timestamp;
}

impl NowTs for ManualClock {
    fn now_ts(&self) -> jiff::Timestamp {
        sync_engine::clock::Clock::now(self)
    }
}
