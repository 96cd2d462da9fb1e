//! Several workers by company (`sync_engine::Fleet`) over one memory store: companies balanced across
//! workers, a joining worker given companies, a leaving or crashed worker's companies taken over, webhooks
//! received by any worker and applied once by the holder.
//!
//! The companies are `fleet_rig`'s: each `co-N` with a Takealot source `tk-N` and a daily Shopify `shop-N`
//! (its orders arrive only by webhook), all selling SKU `A`. The workers' ticks run on tokio's paused clock
//! and the leases on a manual clock moved in steps shorter than a lease: a test waits a number of ticks,
//! never wall time.

mod fleet_rig;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use channel_core::ChannelKind;
use channel_testkit::fake::FakeChannel;
use fleet_rig::{Companies, UNITS, co, held_as, sid};
use jiff::SignedDuration;
use sync_engine::store::AuditFilter;
use sync_engine::sync::WebhookOutcome;
use sync_engine::{Clock, Fleet, ManualClock, MemoryStore, RunningFleet};

const TICK: Duration = Duration::from_secs(1);
const LEASE: Duration = Duration::from_secs(30);

/// `n` companies in a memory store, on a manual clock.
async fn world(n: usize) -> (Companies, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(sync_engine::testing::t0()));
    let config = fleet_rig::config(TICK, LEASE);
    let companies =
        Companies::create(Arc::new(MemoryStore::new()), Arc::clone(&clock) as Arc<dyn Clock>, config, n).await;
    (companies, clock)
}

fn fleet(f: &Companies, worker: &str) -> Fleet {
    f.fleet(worker, Arc::clone(&f.store))
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
async fn pass(clock: &ManualClock, secs: i64) {
    let step = i64::try_from(LEASE.as_secs() / 3).unwrap();
    let mut left = secs;
    while left > 0 {
        clock.advance(SignedDuration::from_secs(step.min(left)));
        left -= step;
        tokio::time::sleep(TICK * 2).await;
    }
}

/// Whether within `ticks` ticks the fleets hold the `n` companies, each as many as `each` says.
async fn balanced(fleets: &[&Fleet], n: usize, each: &[usize], ticks: u32) -> bool {
    within(ticks, || {
        let ok = held_as(fleets, n, each);
        async move { ok }
    })
    .await
}

fn lease_ticks() -> u32 {
    u32::try_from(LEASE.as_secs()).unwrap()
}

fn lease_secs() -> i64 {
    i64::try_from(LEASE.as_secs()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn six_companies_over_three_workers_are_held_two_each_and_rebalanced() {
    let (f, clock) = world(6).await;
    let (w1, w2, w3) = (fleet(&f, "w1"), fleet(&f, "w2"), fleet(&f, "w3"));
    let run1 = w1.start();
    assert!(balanced(&[&w1], 6, &[6], 3).await, "alone, w1 takes every company: {:?}", w1.held());
    let run2 = w2.start();
    // A worker that joins is given its share within a lease period.
    let ticks = lease_ticks();
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

    // w3 leaves cleanly: its companies are released at once and shared by the two left (three each: w3 is
    // no longer counted among the live workers).
    run3.shutdown().await;
    assert!(w3.held().is_empty());
    assert!(balanced(&[&w1, &w2], 6, &[3, 3], 3).await, "{:?} {:?}", w1.held(), w2.held());

    // w2 crashes: its companies stay leased until the lease runs out, then w1 takes them over.
    let of_w2 = w2.held();
    run2.abort();
    tokio::time::sleep(TICK * 3).await;
    assert_eq!(w1.held().len(), 3, "not before the lease runs out");
    pass(&clock, lease_secs() + 1).await;
    assert!(balanced(&[&w1], 6, &[6], 3).await, "w1 took over {of_w2:?}: {:?}", w1.held());
    run1.shutdown().await;
    assert!(f.store.company_leases().await.unwrap().iter().all(|l| l.until <= f.clock.now() || l.holder != "w1"));
}

#[tokio::test(start_paused = true)]
async fn a_webhook_received_by_a_non_holder_is_recorded_then_applied_once_by_the_holder() {
    let (f, _clock) = world(2).await;
    let (holder, receiver) = (fleet(&f, "holder"), fleet(&f, "receiver"));
    // Nobody holds the companies yet: the receiver verifies the delivery and records it.
    let (outcome, request) = f.sell(&receiver, 1, "1001").await;
    assert_eq!(outcome.http_status(), 200, "{outcome:?}");
    assert!(matches!(&outcome, WebhookOutcome::Recorded { companies, .. } if companies == &[co(1)]), "{outcome:?}");
    let again = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(again, WebhookOutcome::Duplicate { .. }), "a duplicate is recorded once: {again:?}");
    let view = f.store.for_company(&co(1));
    assert_eq!(view.inbox(10).await.unwrap().len(), 1);
    assert!(f.store.for_company(&co(2)).inbox(10).await.unwrap().is_empty(), "never another company's");
    assert_eq!(f.sold_in(1).await, 0, "not applied by the receiver");

    // The holder starts, takes both companies and applies the inbox: once.
    let running = holder.start();
    let applied = within(5, || async { view.inbox(10).await.unwrap().is_empty() && f.sold_in(1).await == 1 }).await;
    assert!(applied, "the holder applied the recorded delivery");
    assert!(within(5, || async { f.shows("tk-1") == Some(UNITS - 1) }).await, "the sale reached the source");
    // The same delivery again, to either worker: a duplicate, nothing applied twice.
    let late = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(late, WebhookOutcome::Duplicate { .. }), "{late:?}");
    let direct = holder.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(direct, WebhookOutcome::Duplicate { .. }), "{direct:?}");
    tokio::time::sleep(TICK * 3).await;
    assert_eq!((f.sold_in(1).await, f.sold_in(2).await), (1, 0), "company 2 sells A too and sold none");
    assert_eq!(f.shows("tk-2"), Some(UNITS), "company 2's stock is its own");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_signature_at_a_non_holder_is_refused_and_nothing_recorded() {
    let (f, _clock) = world(1).await;
    let receiver = fleet(&f, "receiver");
    let platform = f.shop(1);
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
    f.manager(&co(1)).disconnect(&sid("shop-1")).await.unwrap();
    let gone = receiver.handle_webhook(&sid("shop-1"), &platform.order_webhook("d-y", &placed)).await;
    assert!(matches!(gone.http_status(), 403 | 404), "{gone:?}");
    assert!(view.inbox(10).await.unwrap().is_empty(), "nothing recorded");
    assert_eq!(f.sold_in(1).await, 0);
}

/// Sales on every company, their webhooks delivered to the two workers in turn (and each twice), while
/// one worker crashes and the other takes its companies over: every sale counted once, none lost.
#[tokio::test(start_paused = true)]
async fn no_order_line_is_lost_or_applied_twice_across_a_takeover() {
    const N: usize = 4;
    let (f, clock) = world(N).await;
    let (w1, w2) = (fleet(&f, "w1"), fleet(&f, "w2"));
    let run1 = w1.start();
    tokio::time::sleep(TICK).await;
    let run2: RunningFleet = w2.start();
    let ticks = lease_ticks();
    assert!(balanced(&[&w1, &w2], N, &[2, 2], ticks).await, "{:?} {:?}", w1.held(), w2.held());
    let mut sold: BTreeMap<usize, i64> = (1..=N).map(|n| (n, 0)).collect();
    let mut order = 3000;
    for round in 0..3 {
        for n in 1..=N {
            order += 1;
            let to = if (round + n) % 2 == 0 { &w1 } else { &w2 };
            let (outcome, request) = f.sell(to, n, &order.to_string()).await;
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
        let (outcome, _) = f.sell(&w2, n, &order.to_string()).await;
        assert_eq!(outcome.http_status(), 200, "{outcome:?}");
        *sold.get_mut(&n).unwrap() += 1;
    }
    pass(&clock, lease_secs() + 1).await;
    assert!(balanced(&[&w2], N, &[N], 3).await, "w2 took over {of_w1:?}: {:?}", w2.held());
    for n in 1..=N {
        let want = sold[&n];
        let counted = within(5, || async { f.sold_in(n).await == want }).await;
        assert!(counted, "co-{n}: {} counted, {want} sold", f.sold_in(n).await);
        let shown = within(5, || async { f.shows(&format!("tk-{n}")) == Some(UNITS - want) }).await;
        assert!(shown, "co-{n}: the source shows {:?}", f.shows(&format!("tk-{n}")));
        assert!(f.store.for_company(&co(n)).inbox(10).await.unwrap().is_empty(), "co-{n}: inbox applied");
    }
    tokio::time::sleep(TICK * 3).await;
    for n in 1..=N {
        assert_eq!(f.sold_in(n).await, sold[&n], "co-{n}: never counted twice");
    }
    run2.shutdown().await;
}
