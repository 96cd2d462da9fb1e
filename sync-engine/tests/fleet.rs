//! Several workers by company (`sync_engine::Fleet`) over one memory store: companies balanced across
//! workers, a joining worker given companies, a leaving or crashed worker's companies taken over, webhooks
//! received by any worker and applied once by the holder.
//!
//! Each company `co-N` has two stores on channel-testkit's `FakePlatform`: Takealot `tk-N` (the source of
//! truth: SKU `A`, 10 units) and Shopify `shop-N` (daily, so never polled: its orders arrive only by
//! webhook), both reconciled once before the workers start. Every company sells the same SKU `A`: each
//! counts only its own sales. The workers' ticks run on tokio's paused clock and the leases on a manual
//! clock moved in steps shorter than a lease: a test waits a number of ticks, never wall time.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use channel_core::{ChannelKind, Listing};
use channel_testkit::fake::FakeChannel;
use jiff::SignedDuration;
use support::*;
use sync_engine::store::{
    AuditFilter, CompanyId, CompanyRecord, LedgerFilter, MovementCause, Scope, SyncMode, WriteOp,
};
use sync_engine::sync::{SyncConfig, WebhookOutcome};
use sync_engine::{Clock, Connections, CredentialCipher, Fleet, NewConnection, RunningFleet, SyncEngine};

const TICK: Duration = Duration::from_secs(1);
const LEASE: Duration = Duration::from_secs(30);
const UNITS: i64 = 10;

fn co(n: usize) -> CompanyId {
    CompanyId::new(format!("co-{n}"))
}

fn cipher() -> CredentialCipher {
    CredentialCipher::new(&[42; 32])
}

fn config(worker: &str) -> SyncConfig {
    let mut config = SyncConfig::default();
    config.worker = worker.into();
    config.tick = TICK;
    config.lease = LEASE;
    config.poll_interval = Duration::from_secs(3600);
    config.refresh_interval = Duration::from_secs(3600);
    config
}

/// A company's connection manager.
fn manager(f: &Fixture, company: &CompanyId) -> Connections {
    Connections::new(
        f.store.for_company(company),
        Arc::new(FakeFactory(Arc::clone(&f.world))),
        cipher(),
        Arc::clone(&f.clock) as Arc<dyn Clock>,
    )
}

/// `companies` companies, each with its two stores connected and reconciled once.
async fn world(companies: usize) -> Fixture {
    let f = fixture();
    for n in 1..=companies {
        let company = co(n);
        let record = CompanyRecord::new(company.clone(), format!("Company {n}"), f.clock.now());
        f.store.commit(WriteOp::PutCompany(record).into()).await.unwrap();
        let (tk, shop) = (format!("tk-{n}"), format!("shop-{n}"));
        f.world.add_key(&format!("k-{tk}"), &format!("seller-{n}"));
        f.world.add_key(&format!("k-{shop}"), &format!("shop-{n}"));
        f.world.set_listings(&tk, vec![Listing::new("t-a", "A", UNITS)]);
        f.world.set_listings(&shop, vec![Listing::new("s-a", "A", 0)]);
        let connections = manager(&f, &company);
        let scope = Scope::Client(company.clone());
        let source =
            NewConnection::new(tk.as_str(), ChannelKind::Takealot, &tk, key(&format!("k-{tk}"))).source_of_truth(true);
        connections.add(source.with_scope(scope.clone())).await.unwrap();
        let shop_connection = NewConnection::new(shop.as_str(), ChannelKind::Shopify, &shop, key(&format!("k-{shop}")))
            .with_sync_mode(SyncMode::Daily);
        connections.add(shop_connection.with_scope(scope)).await.unwrap();
        let engine = SyncEngine::builder(f.store.for_company(&company))
            .clock(Arc::clone(&f.clock) as Arc<dyn Clock>)
            .config(config("setup"))
            .connections(connections)
            .build()
            .await
            .unwrap();
        let summary = engine.sync_now().finish().await.unwrap();
        assert_eq!(summary.failed, 0, "{summary:?}");
        assert_eq!(shows(&f, &shop), Some(UNITS), "{shop} follows its source");
    }
    f
}

fn fleet(f: &Fixture, worker: &str) -> Fleet {
    Fleet::new(
        Arc::clone(&f.store),
        Arc::new(FakeFactory(Arc::clone(&f.world))),
        cipher(),
        config(worker),
        Arc::clone(&f.clock) as Arc<dyn Clock>,
    )
}

/// What a store shows for SKU `A`.
fn shows(f: &Fixture, store: &str) -> Option<i64> {
    f.world.listings(store).iter().find(|l| l.channel_sku == "A").and_then(Listing::quantity)
}

/// The platform's side of company `n`'s Shopify store: sells, and signs webhooks.
fn shop(f: &Fixture, n: usize) -> FakeChannel {
    f.world.channel(ChannelKind::Shopify, &format!("shop-{n}"), &format!("k-shop-{n}"))
}

/// Units of `A` company `n` counted as sold (its ledger's order movements).
async fn sold_in(f: &Fixture, n: usize) -> i64 {
    let mut filter = LedgerFilter::default();
    filter.sku = Some(channel_core::Sku::new("A").unwrap());
    let movements = f.store.for_company(&co(n)).ledger(&filter).await.unwrap();
    -movements.iter().filter(|m| m.movement.cause == MovementCause::Order).map(|m| m.movement.delta).sum::<i64>()
}

/// Wait up to `ticks` ticks for `done`; whether it happened.
async fn within<F, Fut>(ticks: u32, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..=ticks {
        if done().await {
            return true;
        }
        tokio::time::sleep(TICK).await;
    }
    false
}

/// Move the lease clock `secs` on, in steps of a third of a lease with ticks between (as time passes: the
/// live workers renew their leases on the way).
async fn pass(f: &Fixture, secs: i64) {
    let step = i64::try_from(LEASE.as_secs() / 3).unwrap();
    let mut left = secs;
    while left > 0 {
        f.clock.advance(SignedDuration::from_secs(step.min(left)));
        left -= step;
        tokio::time::sleep(TICK * 2).await;
    }
}

/// The companies each fleet holds, and whether together they hold every company of `1..=n` exactly once.
fn shares(fleets: &[&Fleet], n: usize) -> (Vec<usize>, bool) {
    let held: Vec<Vec<CompanyId>> = fleets.iter().map(|f| f.held()).collect();
    let all: BTreeSet<&CompanyId> = held.iter().flatten().collect();
    let count: usize = held.iter().map(Vec::len).sum();
    let every = (1..=n).all(|i| all.contains(&co(i)));
    (held.iter().map(Vec::len).collect(), every && count == n)
}

async fn balanced(fleets: &[&Fleet], n: usize, each: &[usize], ticks: u32) -> bool {
    let mut want = each.to_vec();
    want.sort_unstable();
    within(ticks, || {
        let (mut counts, exact) = shares(fleets, n);
        counts.sort_unstable();
        let ok = exact && counts == want;
        async move { ok }
    })
    .await
}

/// Sell one `A` on company `n`'s shop as order `order` and deliver its webhook to `fleet`.
async fn sell(f: &Fixture, fleet: &Fleet, n: usize, order: &str) -> (WebhookOutcome, channel_core::WebhookRequest) {
    let platform = shop(f, n);
    let placed = platform.sell(order, "s-a", 1, f.clock.now());
    let request = platform.order_webhook(&format!("d-{order}"), &placed);
    (fleet.handle_webhook(&sid(&format!("shop-{n}")), &request).await, request)
}

#[tokio::test(start_paused = true)]
async fn six_companies_over_three_workers_are_held_two_each_and_rebalanced() {
    let f = world(6).await;
    let (w1, w2, w3) = (fleet(&f, "w1"), fleet(&f, "w2"), fleet(&f, "w3"));
    let run1 = w1.start();
    assert!(balanced(&[&w1], 6, &[6], 3).await, "alone, w1 takes every company: {:?}", w1.held());
    let run2 = w2.start();
    // A worker that joins is given its share within a lease period.
    let ticks = u32::try_from(LEASE.as_secs()).unwrap();
    assert!(balanced(&[&w1, &w2], 6, &[3, 3], ticks).await, "{:?} {:?}", w1.held(), w2.held());
    let run3 = w3.start();
    assert!(balanced(&[&w1, &w2, &w3], 6, &[2, 2, 2], ticks).await, "{:?} {:?} {:?}", w1.held(), w2.held(), w3.held());
    // Each company's lease is its holder's, and its engine runs there only.
    let leases = f.store.company_leases().await.unwrap();
    for (fleet, running) in [(&w1, &run1), (&w2, &run2), (&w3, &run3)] {
        assert_eq!(running.fleet().worker(), fleet.worker());
        for company in fleet.held() {
            let lease = leases.iter().find(|l| l.company == company).unwrap();
            assert_eq!(lease.holder, fleet.worker(), "{company}");
            assert!(fleet.engine(&company).is_some());
        }
    }

    // w3 leaves cleanly: its companies are released at once and shared by the two left.
    run3.shutdown().await;
    assert!(w3.held().is_empty());
    assert!(balanced(&[&w1, &w2], 6, &[3, 3], 3).await, "{:?} {:?}", w1.held(), w2.held());
    let workers = f.store.worker_heartbeat("observer", f.clock.now(), f.clock.now()).await.unwrap();
    assert!(!workers.iter().any(|w| w.worker == "w3"), "w3 is gone: {workers:?}");

    // w2 crashes: its companies stay leased until the lease runs out, then w1 takes them over.
    let of_w2 = w2.held();
    run2.abort();
    tokio::time::sleep(TICK * 3).await;
    assert_eq!(w1.held().len(), 3, "not before the lease runs out");
    pass(&f, i64::try_from(LEASE.as_secs()).unwrap() + 1).await;
    assert!(balanced(&[&w1], 6, &[6], 3).await, "w1 took over {of_w2:?}: {:?}", w1.held());
    run1.shutdown().await;
    assert!(f.store.company_leases().await.unwrap().iter().all(|l| l.until <= f.clock.now() || l.holder != "w1"));
}

#[tokio::test(start_paused = true)]
async fn a_webhook_received_by_a_non_holder_is_recorded_then_applied_once_by_the_holder() {
    let f = world(2).await;
    let (holder, receiver) = (fleet(&f, "holder"), fleet(&f, "receiver"));
    // Nobody holds the companies yet: the receiver verifies the delivery and records it.
    let (outcome, request) = sell(&f, &receiver, 1, "1001").await;
    assert_eq!(outcome.http_status(), 200, "{outcome:?}");
    assert!(matches!(&outcome, WebhookOutcome::Recorded { companies, .. } if companies == &[co(1)]), "{outcome:?}");
    let again = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(again, WebhookOutcome::Duplicate { .. }), "a duplicate is recorded once: {again:?}");
    let view = f.store.for_company(&co(1));
    assert_eq!(view.inbox(10).await.unwrap().len(), 1);
    assert!(f.store.for_company(&co(2)).inbox(10).await.unwrap().is_empty(), "never another company's");
    assert_eq!(sold_in(&f, 1).await, 0, "not applied by the receiver");

    // The holder starts, takes both companies and applies the inbox: once.
    let running = holder.start();
    let applied = within(5, || async { view.inbox(10).await.unwrap().is_empty() && sold_in(&f, 1).await == 1 }).await;
    assert!(applied, "the holder applied the recorded delivery");
    assert!(within(5, || async { shows(&f, "tk-1") == Some(UNITS - 1) }).await, "the sale reached the source");
    // The same delivery again, to either worker: a duplicate, nothing applied twice.
    let late = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(late, WebhookOutcome::Duplicate { .. }), "{late:?}");
    let direct = holder.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(direct, WebhookOutcome::Duplicate { .. }), "{direct:?}");
    tokio::time::sleep(TICK * 3).await;
    assert_eq!((sold_in(&f, 1).await, sold_in(&f, 2).await), (1, 0), "company 2 sells A too and sold none");
    assert_eq!(shows(&f, "tk-2"), Some(UNITS), "company 2's stock is its own");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_signature_at_a_non_holder_is_refused_and_nothing_recorded() {
    let f = world(1).await;
    let receiver = fleet(&f, "receiver");
    let platform = shop(&f, 1);
    let placed = platform.sell("2001", "s-a", 1, f.clock.now());
    let forged = FakeChannel::builder(ChannelKind::Shopify).secret("not-the-key").build();
    let request = forged.order_webhook("d-2001", &placed);
    let outcome = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert_eq!(outcome.http_status(), 401, "{outcome:?}");
    let view = f.store.for_company(&co(1));
    assert!(view.inbox(10).await.unwrap().is_empty(), "nothing recorded");
    let audit = view.audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.field == "webhook" && a.reason.contains("rejected (401)")), "{audit:?}");
    // A store no company has: 404; a disconnected one: 403.
    let unknown = receiver.handle_webhook(&sid("no-such-store"), &platform.order_webhook("d-x", &placed)).await;
    assert_eq!(unknown.http_status(), 404, "{unknown:?}");
    manager(&f, &co(1)).disconnect(&sid("shop-1")).await.unwrap();
    let gone = receiver.handle_webhook(&sid("shop-1"), &platform.order_webhook("d-y", &placed)).await;
    assert!(matches!(gone.http_status(), 403 | 404), "{gone:?}");
    assert!(view.inbox(10).await.unwrap().is_empty(), "nothing recorded");
    assert_eq!(sold_in(&f, 1).await, 0);
}

/// Sales on every company, their webhooks delivered to the two workers in turn (and each twice), while
/// one worker crashes and the other takes its companies over: every sale counted once, none lost.
#[tokio::test(start_paused = true)]
async fn no_order_line_is_lost_or_applied_twice_across_a_takeover() {
    const N: usize = 4;
    let f = world(N).await;
    let (w1, w2) = (fleet(&f, "w1"), fleet(&f, "w2"));
    let run1 = w1.start();
    tokio::time::sleep(TICK).await;
    let run2: RunningFleet = w2.start();
    let ticks = u32::try_from(LEASE.as_secs()).unwrap();
    assert!(balanced(&[&w1, &w2], N, &[2, 2], ticks).await, "{:?} {:?}", w1.held(), w2.held());
    let mut sold: BTreeMap<usize, i64> = (1..=N).map(|n| (n, 0)).collect();
    let mut order = 3000;
    for round in 0..3 {
        for n in 1..=N {
            order += 1;
            let to = if (round + n) % 2 == 0 { &w1 } else { &w2 };
            let (outcome, request) = sell(&f, to, n, &order.to_string()).await;
            assert_eq!(outcome.http_status(), 200, "{outcome:?}");
            let other = if (round + n) % 2 == 0 { &w2 } else { &w1 };
            let again = other.handle_webhook(&sid(&format!("shop-{n}")), &request).await;
            assert_eq!(again.http_status(), 200, "{again:?}");
            *sold.get_mut(&n).unwrap() += 1;
        }
        tokio::time::sleep(TICK).await;
    }
    // w1 crashes with its companies held; sales go on, delivered to w2 only (recorded for w1's
    // companies until w2 holds them).
    let of_w1 = w1.held();
    run1.abort();
    for n in 1..=N {
        order += 1;
        let (outcome, _) = sell(&f, &w2, n, &order.to_string()).await;
        assert_eq!(outcome.http_status(), 200, "{outcome:?}");
        *sold.get_mut(&n).unwrap() += 1;
    }
    pass(&f, i64::try_from(LEASE.as_secs()).unwrap() + 1).await;
    assert!(balanced(&[&w2], N, &[N], 3).await, "w2 took over {of_w1:?}: {:?}", w2.held());
    for n in 1..=N {
        let want = sold[&n];
        let counted = within(5, || async { sold_in(&f, n).await == want }).await;
        assert!(counted, "co-{n}: {} counted, {want} sold", sold_in(&f, n).await);
        let shown = within(5, || async { shows(&f, &format!("tk-{n}")) == Some(UNITS - want) }).await;
        assert!(shown, "co-{n}: the source shows {:?}", shows(&f, &format!("tk-{n}")));
        assert!(f.store.for_company(&co(n)).inbox(10).await.unwrap().is_empty(), "co-{n}: inbox applied");
    }
    tokio::time::sleep(TICK * 3).await;
    for n in 1..=N {
        assert_eq!(sold_in(&f, n).await, sold[&n], "co-{n}: never counted twice");
    }
    run2.shutdown().await;
}
