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
    // A store no company has: 404; a disconnected one is removed (its data purged): 404 as well.
    let unknown = receiver.handle_webhook(&sid("no-such-store"), &platform.order_webhook("d-x", &placed)).await;
    assert_eq!(unknown.http_status(), 404, "{unknown:?}");
    f.manager(&co(1)).disconnect(&sid("shop-1")).await.unwrap();
    let gone = receiver.handle_webhook(&sid("shop-1"), &platform.order_webhook("d-y", &placed)).await;
    assert!(
        matches!(&gone, WebhookOutcome::Rejected { status: 404, reason } if reason == "no store shop-1"),
        "{gone:?}"
    );
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

/// A delivery for a global store (the operator's own account, serving every company) is recorded for
/// each company owning a SKU it names, and for no other; one naming a SKU nobody owns is acknowledged and
/// recorded nowhere.
#[tokio::test(start_paused = true)]
async fn a_global_stores_delivery_is_recorded_for_the_companies_owning_its_skus() {
    let (f, _clock) = world(3).await;
    let now = f.clock.now();
    let b = channel_core::Sku::new("B").unwrap();
    let record = sync_engine::store::ProductRecord::simple(b, now);
    f.store.for_company(&co(2)).commit(sync_engine::store::WriteOp::PutProduct(record).into()).await.unwrap();
    f.world.add_key("k-g", "operator");
    f.world.set_listings(
        "g",
        vec![
            channel_core::Listing::new("g-a", "A", 5),
            channel_core::Listing::new("g-b", "B", 5),
            channel_core::Listing::new("g-z", "Z", 5),
        ],
    );
    let global = sync_engine::NewConnection::new("g", ChannelKind::Shopify, "Operator", fleet_rig::key("k-g"))
        .with_scope(sync_engine::store::Scope::Global);
    f.manager(&co(1)).add(global).await.unwrap();
    let receiver = fleet(&f, "receiver");
    let platform = f.world.channel(ChannelKind::Shopify, "g", "k-g");
    let inbox = |n: usize| {
        let view = f.store.for_company(&co(n));
        async move { view.inbox(10).await.unwrap().len() }
    };

    let order = platform.sell("g-1", "g-b", 1, now);
    let outcome = receiver.handle_webhook(&sid("g"), &platform.order_webhook("d-g-1", &order)).await;
    assert!(matches!(&outcome, WebhookOutcome::Recorded { companies, .. } if companies == &[co(2)]), "{outcome:?}");
    assert_eq!((inbox(1).await, inbox(2).await, inbox(3).await), (0, 1, 0), "B is company 2's only");

    let order = platform.sell("g-2", "g-a", 1, now);
    let outcome = receiver.handle_webhook(&sid("g"), &platform.order_webhook("d-g-2", &order)).await;
    assert!(
        matches!(&outcome, WebhookOutcome::Recorded { companies, .. } if companies == &[co(1), co(2), co(3)]),
        "A is every company's: each engine decides: {outcome:?}"
    );

    let order = platform.sell("g-3", "g-z", 1, now);
    let outcome = receiver.handle_webhook(&sid("g"), &platform.order_webhook("d-g-3", &order)).await;
    assert!(matches!(outcome, WebhookOutcome::Ignored { .. }), "{outcome:?}");
    assert_eq!((inbox(1).await, inbox(2).await, inbox(3).await), (1, 2, 1), "Z recorded nowhere");
}

/// A held lease that runs out without a confirmed renewal (the worker's rounds came late, or the store
/// could not be reached) no longer lets its engine act: webhooks go to the inbox at once, and the engine
/// is stopped at the next round before anything else, even though no other worker took the company.
#[tokio::test(start_paused = true)]
async fn an_engine_whose_lease_ran_out_unrenewed_is_stopped_and_bypassed() {
    let (f, clock) = world(1).await;
    let w1 = fleet(&f, "w1");
    let run = w1.start();
    assert!(balanced(&[&w1], 1, &[1], 3).await, "{:?}", w1.held());
    let mut events = w1.subscribe();
    // The lease's whole length passes at once, with no round in between.
    clock.advance(SignedDuration::from_secs(lease_secs() + 1));
    assert!(w1.engine(&co(1)).is_none(), "no engine is handed out past its lease");
    let (outcome, _) = f.sell(&w1, 1, "4001").await;
    assert!(matches!(outcome, WebhookOutcome::Recorded { .. }), "to the inbox, not the stale engine: {outcome:?}");
    tokio::time::sleep(TICK).await;
    let stopped = events.try_recv();
    assert!(
        matches!(&stopped, Ok(sync_engine::FleetEvent::Stopped { company }) if *company == co(1)),
        "the engine stopped first: {stopped:?}"
    );
    // Taken again afresh, the recorded sale is applied once.
    assert!(within(5, || async { f.sold_in(1).await == 1 }).await, "{}", f.sold_in(1).await);
    run.shutdown().await;
}

/// Builds channels as the rig's factory does, but fails (for a reason that may pass) for store `down`
/// while `is_down`.
#[derive(Debug)]
struct Flaky {
    inner: fleet_rig::Factory,
    down: &'static str,
    is_down: Arc<std::sync::atomic::AtomicBool>,
}

impl sync_engine::connections::ChannelFactory for Flaky {
    fn build(
        &self,
        spec: &sync_engine::connections::ChannelSpec<'_>,
    ) -> channel_core::Result<Arc<dyn channel_core::Channel>> {
        if self.is_down.load(std::sync::atomic::Ordering::SeqCst) && spec.store.as_str() == self.down {
            return Err(channel_core::Error::transient("the platform is down"));
        }
        self.inner.build(spec)
    }
}

/// A recorded delivery the holder cannot apply now (its store's channel cannot be built for a while) is
/// kept, audited once and tried again with a backoff, while the items behind it are applied; once the
/// channel can be built it is applied, once.
#[tokio::test(start_paused = true)]
async fn a_recorded_delivery_that_fails_for_now_is_kept_and_the_rest_applied() {
    let (f, _clock) = world(1).await;
    let receiver = fleet(&f, "receiver");
    let tk = f.world.channel(ChannelKind::Takealot, "tk-1", "k-tk-1");
    let (first, _) = f.sell(&receiver, 1, "5001").await;
    let placed = tk.sell("5002", "t-a", 1, f.clock.now());
    let second = receiver.handle_webhook(&sid("tk-1"), &tk.order_webhook("d-5002", &placed)).await;
    let (third, _) = f.sell(&receiver, 1, "5003").await;
    for outcome in [&first, &second, &third] {
        assert!(matches!(outcome, WebhookOutcome::Recorded { .. }), "{outcome:?}");
    }
    let is_down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let factory =
        Flaky { inner: fleet_rig::Factory(Arc::clone(&f.world)), down: "shop-1", is_down: Arc::clone(&is_down) };
    let mut config = f.config.clone();
    config.worker = "holder".into();
    let holder = Fleet::new(Arc::clone(&f.store), Arc::new(factory), fleet_rig::cipher(), config, Arc::clone(&f.clock));
    let running = holder.start();
    let view = f.store.for_company(&co(1));
    assert!(within(5, || async { f.sold_in(1).await == 1 }).await, "the Takealot sale behind is applied");
    tokio::time::sleep(TICK * 10).await;
    assert_eq!(f.sold_in(1).await, 1);
    assert_eq!(view.inbox(10).await.unwrap().len(), 2, "the Shopify sales are kept");
    let audit = view.audit(&AuditFilter::default()).await.unwrap();
    let kept = audit.iter().filter(|a| a.field == "webhook" && a.reason.contains("kept")).count();
    assert_eq!(kept, 2, "each kept item audited once: {audit:?}");

    is_down.store(false, std::sync::atomic::Ordering::SeqCst);
    let applied =
        within(lease_ticks(), || async { f.sold_in(1).await == 3 && view.inbox(10).await.unwrap().is_empty() });
    assert!(applied.await, "applied once the channel builds: {}", f.sold_in(1).await);
    tokio::time::sleep(TICK * 3).await;
    assert_eq!(f.sold_in(1).await, 3, "once each");
    running.shutdown().await;
}

/// A delivery without an id is recorded under one derived from its body: the same delivery again is a
/// duplicate, and once applied its delivery marker is kept, so a copy recorded again later (or an item
/// left behind by a crash after it was applied) is never applied twice.
#[tokio::test(start_paused = true)]
async fn a_delivery_without_an_id_is_kept_under_a_stable_one() {
    let (f, _clock) = world(1).await;
    let receiver = fleet(&f, "receiver");
    let platform = f.shop(1);
    let placed = platform.sell("6001", "s-a", 1, f.clock.now());
    let signed = platform.order_webhook("unused", &placed);
    let mut body: serde_json::Value = serde_json::from_slice(signed.body()).unwrap();
    body.as_object_mut().unwrap().remove("delivery");
    let mut request = channel_core::WebhookRequest::new(body.to_string());
    for (name, value) in signed.headers() {
        request = request.header(name.clone(), value.clone());
    }
    let outcome = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(outcome, WebhookOutcome::Recorded { .. }), "{outcome:?}");
    let again = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(again, WebhookOutcome::Duplicate { .. }), "the same body is the same delivery: {again:?}");
    let view = f.store.for_company(&co(1));
    let items = view.inbox(10).await.unwrap();
    assert_eq!(items.len(), 1);
    let id = items[0].delivery_id.clone();

    let holder = fleet(&f, "holder");
    let running = holder.start();
    assert!(within(5, || async { view.inbox(10).await.unwrap().is_empty() }).await);
    assert_eq!(f.sold_in(1).await, 1);
    assert!(view.delivery_seen(&sid("shop-1"), &id).await.unwrap(), "its delivery marker is kept");
    running.shutdown().await;
    let late = receiver.handle_webhook(&sid("shop-1"), &request).await;
    assert!(matches!(late, WebhookOutcome::Duplicate { .. }), "applied already: {late:?}");
    assert!(view.inbox(10).await.unwrap().is_empty());
}
