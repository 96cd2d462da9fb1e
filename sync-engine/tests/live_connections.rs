//! Connection changes reaching a running engine, and a missing or unhealthy source of truth holding
//! pushes. Three stores on channel-testkit's `FakePlatform`: Takealot `tk` (the source: A 10, B 20),
//! Shopify `shop` and WooCommerce `woo` (A and B each), connected through `Connections` as the CLI does.
//! The running engine's ticks run on tokio's paused clock: a test waits a number of ticks, never wall time.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use channel_core::{Channel, ChannelKind, ErrorKind, Listing};
use channel_testkit::fake::FakeChannel;
use support::*;
use sync_engine::store::{AuditFilter, CredentialStatus, OutboxFilter, SyncMode};
use sync_engine::sync::{SyncConfig, WebhookOutcome};
use sync_engine::{Clock, ConnectionUpdate, NewConnection, SyncEngine};

const TICK: Duration = Duration::from_secs(1);

/// How the engine gets its channels: built by the host (`SyncEngineBuilder::channel`), or by the engine
/// from the connection manager (`SyncEngineBuilder::connections`).
#[derive(Clone, Copy, PartialEq)]
enum Channels {
    Host,
    Manager,
}

const STORES: [(&str, ChannelKind, &str, &str); 3] = [
    ("tk", ChannelKind::Takealot, "k-tk", "seller-1"),
    ("shop", ChannelKind::Shopify, "k-shop", "shop-1"),
    ("woo", ChannelKind::Woocommerce, "k-woo", "woo-1"),
];

/// The three stores, connected; nothing synced yet.
async fn world() -> Fixture {
    let f = fixture();
    for (id, kind, k, account) in STORES {
        f.world.add_key(k, account);
        let prefix = &id[..1];
        let (a, b) = if id == "tk" { (10, 20) } else { (0, 3) };
        f.world.set_listings(
            id,
            vec![Listing::new(format!("{prefix}-a"), "A", a), Listing::new(format!("{prefix}-b"), "B", b)],
        );
        let new = NewConnection::new(id, kind, id, key(k)).source_of_truth(id == "tk");
        f.connections.add(new).await.unwrap();
    }
    f
}

fn config() -> SyncConfig {
    let mut config = SyncConfig::default();
    config.tick = TICK;
    config.poll_interval = Duration::from_secs(3600);
    config.refresh_interval = Duration::from_secs(3600);
    config.lease = Duration::from_secs(30);
    config
}

async fn engine(f: &Fixture, channels: Channels) -> SyncEngine {
    let mut builder =
        SyncEngine::builder(Arc::clone(&f.store)).clock(Arc::clone(&f.clock) as Arc<dyn Clock>).config(config());
    match channels {
        Channels::Manager => builder = builder.connections(f.connections.clone()),
        Channels::Host => {
            // As a host does: a channel for each store whose connection opens (not a disconnected one).
            for (id, ..) in STORES {
                if let Ok(channel) = f.connections.channel(&sid(id)).await {
                    builder = builder.channel(sid(id), channel);
                }
            }
        }
    }
    builder.build().await.unwrap()
}

/// The world, an engine over it and a first full reconcile: every store shows A 10, B 20.
async fn synced(channels: Channels) -> (Fixture, SyncEngine) {
    let f = world().await;
    let e = engine(&f, channels).await;
    e.full_sync(None, None, &AtomicBool::new(false)).await.unwrap();
    for store in ["shop", "woo"] {
        assert_eq!(shows(&f, store), (Some(10), Some(20)), "{store} after the first reconcile");
    }
    (f, e)
}

/// What `store` shows for A and B.
fn shows(f: &Fixture, store: &str) -> (Option<i64>, Option<i64>) {
    let listings = f.world.listings(store);
    let of = |sku: &str| listings.iter().find(|l| l.channel_sku == sku).and_then(Listing::quantity);
    (of("A"), of("B"))
}

/// The platform's side of a store: sells, and signs webhooks with the store's key.
fn platform(f: &Fixture, store: &str) -> FakeChannel {
    let (id, kind, k, _) = STORES.iter().find(|s| s.0 == store).copied().unwrap();
    f.world.channel(kind, id, k)
}

/// Sell `quantity` of listing `listing` on `store` and deliver the order's webhook to the engine.
async fn sell(f: &Fixture, e: &SyncEngine, store: &str, order: &str, listing: &str) -> WebhookOutcome {
    let channel = platform(f, store);
    let order = channel.sell(order, listing, 1, f.clock.now());
    e.handle_webhook(&sid(store), &channel.order_webhook(&format!("d-{}", order.id), &order)).await
}

async fn ticks(n: u32) {
    tokio::time::sleep(TICK * n).await;
}

#[tokio::test(start_paused = true)]
async fn a_store_removed_while_running_is_no_longer_served_within_two_ticks() {
    let (f, e) = synced(Channels::Host).await;
    let running = e.start();
    ticks(2).await;
    assert!(running.leased_stores().contains(&sid("woo")));
    f.connections.disconnect(&sid("woo")).await.unwrap();
    ticks(2).await;

    let refused = sell(&f, &e, "woo", "w-1", "w-a").await;
    assert_eq!(refused.http_status(), 403, "{refused:?}");
    assert!(!running.leased_stores().contains(&sid("woo")), "no longer polled");
    let writes = f.world.write_calls("woo").len();
    assert!(matches!(sell(&f, &e, "shop", "s-1", "s-a").await, WebhookOutcome::Applied { .. }));
    ticks(2).await;
    assert_eq!(shows(&f, "tk").0, Some(9), "the sale reaches the source");
    assert_eq!(f.world.write_calls("woo").len(), writes, "nothing is pushed to a removed store");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_store_disabled_while_running_is_no_longer_served_within_two_ticks() {
    let (f, e) = synced(Channels::Manager).await;
    let running = e.start();
    ticks(2).await;
    let disabled = ConnectionUpdate::new().with_sync_mode(SyncMode::Disabled);
    f.connections.update(&sid("woo"), disabled).await.unwrap();
    ticks(2).await;

    let refused = sell(&f, &e, "woo", "w-1", "w-a").await;
    assert_eq!(refused.http_status(), 403, "{refused:?}");
    assert!(!running.leased_stores().contains(&sid("woo")), "no longer polled");
    let writes = f.world.write_calls("woo").len();
    assert!(matches!(sell(&f, &e, "shop", "s-1", "s-b").await, WebhookOutcome::Applied { .. }));
    ticks(2).await;
    assert_eq!(shows(&f, "tk").1, Some(19), "the sale reaches the source");
    assert_eq!(f.world.write_calls("woo").len(), writes, "nothing is pushed to a disabled store");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn new_credentials_reach_a_running_engine_and_clear_needs_reauth() {
    let (f, e) = synced(Channels::Manager).await;
    let running = e.start();
    f.world.revoke("woo-1");
    assert!(matches!(sell(&f, &e, "shop", "s-1", "s-a").await, WebhookOutcome::Applied { .. }));
    ticks(2).await;
    let woo = f.store.connection(&sid("woo")).await.unwrap().unwrap();
    assert_eq!(woo.health.credentials, CredentialStatus::NeedsReauth);
    assert_eq!(shows(&f, "woo").0, Some(10), "the refused push did not land");

    // The seller issues a new key for the account and updates the connection (the CLI's `update`).
    f.world.restore("woo-1");
    f.world.add_key("k-woo-2", "woo-1");
    f.connections.update_credentials(&sid("woo"), key("k-woo-2")).await.unwrap();
    ticks(2).await;
    // The push the refusal held goes out with the new credentials, without waiting out `reauth_hold`;
    // so does a new sale's push of the same listing, which joins it.
    assert_eq!(shows(&f, "woo"), (Some(9), Some(20)), "the held push is sent once re-authenticated");
    assert!(matches!(sell(&f, &e, "shop", "s-2", "s-a").await, WebhookOutcome::Applied { .. }));
    assert!(matches!(sell(&f, &e, "shop", "s-3", "s-b").await, WebhookOutcome::Applied { .. }));
    ticks(2).await;
    assert_eq!(shows(&f, "woo"), (Some(8), Some(19)), "pushes go out again with the new credentials");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_added_while_running_is_served_within_a_few_ticks() {
    let (f, e) = synced(Channels::Manager).await;
    let running = e.start();
    ticks(2).await;
    f.world.add_key("k-shop-2", "shop-2");
    f.world.set_listings("shop2", vec![Listing::new("x-a", "A", 0), Listing::new("x-b", "B", 0)]);
    f.connections.add(NewConnection::new("shop2", ChannelKind::Shopify, "Shop 2", key("k-shop-2"))).await.unwrap();
    ticks(2).await;
    assert!(e.channel(&sid("shop2")).is_some(), "the engine built its channel");
    assert!(running.leased_stores().contains(&sid("shop2")), "polled");
    // Its first reconcile was requested: it shows the source's quantities.
    ticks(4).await;
    assert_eq!(shows(&f, "shop2"), (Some(10), Some(20)));
    let channel = f.world.channel(ChannelKind::Shopify, "shop2", "k-shop-2");
    let order = channel.sell("x-1", "x-a", 1, f.clock.now());
    let outcome = e.handle_webhook(&sid("shop2"), &channel.order_webhook("d-x-1", &order)).await;
    assert!(matches!(outcome, WebhookOutcome::Applied { .. }), "{outcome:?}");
    ticks(2).await;
    assert_eq!(shows(&f, "woo").0, Some(9));
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn restarting_with_the_source_disconnected_holds_pushes_instead_of_zeroing_the_shop() {
    let (f, e) = synced(Channels::Manager).await;
    drop(e);
    let writes = (f.world.write_calls("shop").len(), f.world.write_calls("woo").len());
    // Takealot keeps the store's binding and data on disconnect.
    f.connections.disconnect(&sid("tk")).await.unwrap();

    let e = engine(&f, Channels::Manager).await;
    e.drain_outbox(Duration::from_secs(5)).await.unwrap();
    for store in ["shop", "woo"] {
        assert_eq!(shows(&f, store), (Some(10), Some(20)), "{store} is not zeroed");
    }
    assert_eq!((f.world.write_calls("shop").len(), f.world.write_calls("woo").len()), writes, "nothing pushed");
    assert!(f.store.outbox(&OutboxFilter::default()).await.unwrap().is_empty(), "nothing queued");
    let held = e.pushes_held().await.expect("pushes are held");
    assert!(held.contains("tk") && held.contains("disconnected"), "{held}");
    let shop = f.store.connection(&sid("shop")).await.unwrap().unwrap();
    let error = shop.health.last_error.expect("the stores' health says so");
    assert!(error.message.contains("pushes held") && error.message.contains("tk"), "{error:?}");
    let audit = f.store.audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().all(|a| !a.reason.contains("re-plan")), "{audit:?}");
    // A full reconcile meanwhile reads the stores, pushes nothing and leaves the health as it is.
    let summary = e.full_sync(None, None, &AtomicBool::new(false)).await.unwrap();
    assert_eq!((summary.planned, summary.pushed), (0, 0), "{summary:?}");
    let shop = f.store.connection(&sid("shop")).await.unwrap().unwrap();
    assert!(shop.health.last_error.is_some_and(|e| e.message.contains("pushes held")), "still says so");

    // A sale meanwhile is counted, and not pushed while the source is away.
    assert!(matches!(sell(&f, &e, "shop", "s-1", "s-a").await, WebhookOutcome::Applied { .. }));
    e.run_outbox_once().await.unwrap();
    assert_eq!(shows(&f, "woo").0, Some(10));

    // The source is reconnected: pushes resume, the sale included.
    f.connections.update_credentials(&sid("tk"), key("k-tk")).await.unwrap();
    assert_eq!(e.refresh_connections().await.unwrap(), 1);
    assert_eq!(e.pushes_held().await, None);
    e.drain_outbox(Duration::from_secs(5)).await.unwrap();
    assert_eq!(shows(&f, "woo"), (Some(9), Some(20)));
    assert_eq!(shows(&f, "tk").0, Some(9));
}

#[tokio::test(start_paused = true)]
async fn a_source_needing_reauthentication_holds_pushes_until_its_credentials_are_updated() {
    let (f, e) = synced(Channels::Host).await;
    f.connections.record_error(&sid("tk"), ErrorKind::Auth, "401 Unauthorized").await.unwrap();
    assert_eq!(e.refresh_connections().await.unwrap(), 1);
    let held = e.pushes_held().await.expect("pushes are held");
    assert!(held.contains("re-authentication"), "{held}");
    assert!(matches!(sell(&f, &e, "shop", "s-1", "s-b").await, WebhookOutcome::Applied { .. }));
    e.drain_outbox(Duration::from_secs(5)).await.unwrap();
    assert_eq!(shows(&f, "woo").1, Some(20), "held");

    f.connections.update_credentials(&sid("tk"), key("k-tk")).await.unwrap();
    // A host that builds channels itself gives the engine the new one.
    e.set_channel(sid("tk"), f.connections.channel(&sid("tk")).await.unwrap() as Arc<dyn Channel>);
    e.refresh_connections().await.unwrap();
    assert_eq!(e.pushes_held().await, None);
    e.drain_outbox(Duration::from_secs(5)).await.unwrap();
    assert_eq!(shows(&f, "woo").1, Some(19));
    assert_eq!(shows(&f, "tk").1, Some(19));
}

#[tokio::test]
async fn removing_a_source_of_truth_that_would_delete_its_on_hand_is_refused() {
    let f = fixture();
    f.world.add_key("k-shop", "shop-1");
    f.world.set_listings("shop", vec![Listing::new("s-a", "A", 10)]);
    let new = NewConnection::new("shop", ChannelKind::Shopify, "Shop", key("k-shop")).source_of_truth(true);
    f.connections.add(new).await.unwrap();
    let refused = f.connections.disconnect(&sid("shop")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation, "{refused}");
    assert!(refused.to_string().contains("source of truth"), "{refused}");
    assert!(f.store.connection(&sid("shop")).await.unwrap().is_some(), "nothing removed");
    // Once it is no longer the source, it is removed as any store.
    f.connections.update(&sid("shop"), ConnectionUpdate::new().with_source_of_truth(false)).await.unwrap();
    f.connections.disconnect(&sid("shop")).await.unwrap();
    assert!(f.store.connection(&sid("shop")).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn every_worker_over_the_store_takes_a_change_in() {
    let (f, a) = synced(Channels::Manager).await;
    let b = {
        let mut config = config();
        config.worker = "b".into();
        SyncEngine::builder(Arc::clone(&f.store))
            .clock(Arc::clone(&f.clock) as Arc<dyn Clock>)
            .config(config)
            .connections(f.connections.clone())
            .build()
            .await
            .unwrap()
    };
    let (run_a, run_b) = (a.start(), b.start());
    ticks(2).await;
    f.connections.update(&sid("woo"), ConnectionUpdate::new().with_sync_mode(SyncMode::Disabled)).await.unwrap();
    ticks(2).await;
    for (worker, e) in [("a", &a), ("b", &b)] {
        let refused = sell(&f, e, "woo", &format!("w-{worker}"), "w-a").await;
        assert_eq!(refused.http_status(), 403, "worker {worker}: {refused:?}");
    }
    let leased = [run_a.leased_stores(), run_b.leased_stores()].concat();
    assert!(!leased.contains(&sid("woo")), "no worker polls it: {leased:?}");
    run_a.shutdown().await;
    run_b.shutdown().await;
}
