//! Rejected webhook deliveries under a flood: per-store throttling (429 with a retry-after once a store's
//! rejections within a window pass the limit) and an aggregated audit (a bounded number of rows), while
//! genuine deliveries from the platform are still accepted.

#[allow(unused_imports)]
mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use channel_core::{ChannelKind, StoreId, WebhookRequest};
use jiff::SignedDuration;
use sync_engine::clock::{Clock, ManualClock};
use sync_engine::store::{AuditFilter, SyncMode};
use sync_engine::sync::WebhookOutcome;
use sync_engine::{MemoryStore, Store, SyncConfig, SyncEngine};
use sync_support::*;

struct World {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    shop: Arc<FakeChannel>,
    engine: SyncEngine,
}

/// One Shopify store (listing `s-a` of SKU A), a limit of 5 rejections a minute.
async fn world() -> World {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    connect(store.as_ref(), "shopify", ChannelKind::Shopify, true, SyncMode::Live).await;
    connect(store.as_ref(), "woo", ChannelKind::Woocommerce, false, SyncMode::Live).await;
    products(store.as_ref(), &["A"]).await;
    let shop = Arc::new(fake(ChannelKind::Shopify, 10).build());
    shop.add("s-a", "A", 10);
    let woo = Arc::new(fake(ChannelKind::Woocommerce, 10).build());
    woo.add("w-a", "A", 10);
    let clock = Arc::new(ManualClock::new(t0()));
    let mut config = SyncConfig::default();
    config.webhook_rejection_limit = 5;
    config.webhook_rejection_window = Duration::from_secs(60);
    let engine = SyncEngine::builder(Arc::clone(&store))
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .config(config)
        .channel(StoreId::new("shopify"), Arc::clone(&shop) as Arc<dyn channel_core::Channel>)
        .channel(StoreId::new("woo"), Arc::clone(&woo) as Arc<dyn channel_core::Channel>)
        .build()
        .await
        .unwrap();
    engine.full_sync(None, None, &std::sync::atomic::AtomicBool::new(false)).await.unwrap();
    // Orders placed from now on happen after the reads.
    clock.advance(SignedDuration::from_secs(1));
    World { store, clock, shop, engine }
}

fn forged(i: usize) -> WebhookRequest {
    WebhookRequest::new(format!("{{\"n\":{i}}}")).header("x-signature", "forged")
}

async fn webhook_rows(store: &dyn Store, of: &str) -> Vec<String> {
    let mut filter = AuditFilter::default();
    filter.store = Some(StoreId::new(of));
    let audit = store.audit(&filter).await.unwrap();
    audit.into_iter().filter(|a| a.field == "webhook").map(|a| a.reason).collect()
}

#[tokio::test]
async fn a_flood_of_forged_deliveries_is_throttled_and_audited_in_aggregate() {
    let w = world().await;
    let shop = StoreId::new("shopify");
    let mut statuses = Vec::new();
    for i in 0..2000 {
        let outcome = w.engine.handle_webhook(&shop, &forged(i)).await;
        if outcome.http_status() == 429 {
            let wait = outcome.retry_after().expect("a 429 says when to retry");
            assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60), "{wait:?}");
        }
        statuses.push(outcome.http_status());
    }
    assert!(statuses[..5].iter().all(|s| *s == 401), "the first rejections are answered as before");
    assert!(statuses[5..].iter().all(|s| *s == 429), "then throttled");
    // The first rejections are audited promptly, one row each; the rest are not written one by one.
    let rows = webhook_rows(w.store.as_ref(), "shopify").await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows[0].contains("401"), "{}", rows[0]);

    // A genuine delivery from the platform is not throttled: its signature is checked and it is applied.
    let order = w.shop.sell("o-1", "s-a", 1, w.clock.now());
    let genuine = w.engine.handle_webhook(&shop, &w.shop.order_webhook("d-1", &order)).await;
    assert!(matches!(genuine, WebhookOutcome::Applied { .. }), "{genuine:?}");

    // Another store is not throttled by the first one's flood.
    let other = w.engine.handle_webhook(&StoreId::new("woo"), &forged(0)).await;
    assert_eq!(other.http_status(), 401);

    // When the window ends, the throttled rejections are audited as one row that counts them.
    assert_eq!(w.engine.audit_webhook_rejections().await.unwrap(), 0, "the window has not ended");
    w.clock.advance(SignedDuration::from_secs(61));
    assert_eq!(w.engine.audit_webhook_rejections().await.unwrap(), 1);
    let rows = webhook_rows(w.store.as_ref(), "shopify").await;
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(rows[5].contains("1995") && rows[5].contains("429"), "{}", rows[5]);
    assert_eq!(w.engine.audit_webhook_rejections().await.unwrap(), 0, "audited once");

    // A new window: rejections are answered and audited one by one again.
    assert_eq!(w.engine.handle_webhook(&shop, &forged(0)).await.http_status(), 401);
    assert_eq!(webhook_rows(w.store.as_ref(), "shopify").await.len(), 7);
}

#[tokio::test]
async fn a_throttled_window_is_audited_by_the_next_rejection_after_it() {
    let w = world().await;
    let shop = StoreId::new("shopify");
    for i in 0..50 {
        w.engine.handle_webhook(&shop, &forged(i)).await;
    }
    w.clock.advance(SignedDuration::from_secs(120));
    assert_eq!(w.engine.handle_webhook(&shop, &forged(0)).await.http_status(), 401);
    let rows = webhook_rows(w.store.as_ref(), "shopify").await;
    // Five one by one, the aggregate of the 45 throttled, the first of the new window.
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert!(rows[5].contains("45"), "{}", rows[5]);
}

#[tokio::test]
async fn deliveries_for_unknown_stores_are_not_audited() {
    let w = world().await;
    for i in 0..100 {
        let outcome = w.engine.handle_webhook(&StoreId::new(format!("nowhere-{i}")), &forged(i)).await;
        assert_eq!(outcome.http_status(), 404);
    }
    assert!(w.store.audit(&AuditFilter::default()).await.unwrap().is_empty());
    assert_eq!(w.engine.audit_webhook_rejections().await.unwrap(), 0);
}
