//! Orders placed on the emulators, and the time until each shows on the company's other stores.
//!
//! An order is one unit of a SKU on one store. Before it, every store of the company shows the same
//! quantity `q` of that SKU (no order of the same company and SKU is in flight); the order takes the
//! ordered store to `q - 1` at once, and it has propagated when both other stores show `q - 1` (read
//! from the emulators' state every 10 ms).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::farm::{Farm, sku};

/// How often the stores are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(10);

struct Pending {
    company: usize,
    store: usize,
    sku: usize,
    expected: i64,
    /// Latencies count from here (the order, or the kill for take-over).
    since: Instant,
}

/// Orders in flight and the latencies of those that showed.
pub(crate) struct Tracker {
    farm: Arc<Farm>,
    pending: Mutex<Vec<Pending>>,
    busy: Mutex<HashSet<(usize, usize)>>,
    shown: Mutex<Vec<(usize, Duration)>>,
    pub errors: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tracker {
    pub(crate) fn new(farm: Arc<Farm>) -> Arc<Self> {
        Arc::new(Self {
            farm,
            pending: Mutex::default(),
            busy: Mutex::default(),
            shown: Mutex::default(),
            errors: Mutex::default(),
        })
    }

    /// Place one unit of SKU `k` on company `c`'s store `s`, timed from `since`; `false` when an order of
    /// that company and SKU is still in flight, or the order failed (noted in `errors`).
    pub(crate) fn place(&self, c: usize, s: usize, k: usize, since: Instant) -> bool {
        if !lock(&self.busy).insert((c, k)) {
            return false;
        }
        let name = sku(k);
        let Some(q) = self.farm.stock(c, s, &name) else {
            lock(&self.errors).push(format!("no stock of {name} on company {c} store {s}"));
            lock(&self.busy).remove(&(c, k));
            return false;
        };
        if let Err(e) = self.farm.place(c, s, &name) {
            lock(&self.errors).push(e);
            lock(&self.busy).remove(&(c, k));
            return false;
        }
        lock(&self.pending).push(Pending { company: c, store: s, sku: k, expected: q - 1, since });
        true
    }

    /// Move the orders that show everywhere to `shown`.
    fn look(&self) {
        let mut pending = lock(&self.pending);
        let now = Instant::now();
        pending.retain(|p| {
            let name = sku(p.sku);
            let everywhere =
                (0..3).filter(|s| *s != p.store).all(|s| self.farm.stock(p.company, s, &name) == Some(p.expected));
            if everywhere {
                lock(&self.shown).push((p.company, now - p.since));
                lock(&self.busy).remove(&(p.company, p.sku));
            }
            !everywhere
        });
    }

    /// Orders still in flight.
    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Take the latencies of the orders shown so far.
    pub(crate) fn take_shown(&self) -> Vec<(usize, Duration)> {
        std::mem::take(&mut *lock(&self.shown))
    }

    /// Forget the orders still in flight (counted as lost by the caller); their SKUs are left busy.
    pub(crate) fn drop_pending(&self) -> usize {
        std::mem::take(&mut *lock(&self.pending)).len()
    }

    /// Look every 10 ms until `stop` is dropped or set.
    pub(crate) fn watch(self: &Arc<Self>) -> tokio::sync::watch::Sender<bool> {
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                me.look();
                tokio::select! {
                    () = tokio::time::sleep(LOOK_EVERY) => {}
                    _ = rx.changed() => return,
                }
            }
        });
        stop
    }

    /// Wait until nothing is in flight or `limit` passed; whether everything showed.
    pub(crate) async fn settle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.in_flight() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        true
    }
}

/// What one load step measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Step {
    /// The target rate (orders/s).
    pub rate: f64,
    /// Orders placed.
    pub placed: usize,
    /// Orders placed per second, as achieved.
    pub placed_rate: f64,
    /// Orders that showed everywhere within the grace period.
    pub shown: usize,
    /// Latencies: p50, p99, max.
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Step {
    /// Whether every order showed.
    pub(crate) fn complete(&self) -> bool {
        self.shown == self.placed
    }
}

/// The `q`-quantile of sorted latencies.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index")]
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Place orders at `rate` per second for `length` on random stores of random companies, then wait up to
/// `grace` for them to show.
pub(crate) async fn step(tracker: &Arc<Tracker>, rate: f64, length: Duration, grace: Duration, seed: u64) -> Step {
    let farm = Arc::clone(&tracker.farm);
    let mut rng = StdRng::seed_from_u64(seed);
    let _stop = tracker.watch();
    let start = Instant::now();
    let mut placed = 0usize;
    let mut due = start;
    while due < start + length {
        tokio::time::sleep_until(due.into()).await;
        // A company and SKU not in flight (a few tries; the step's rate is what was placed).
        for _ in 0..8 {
            let (c, s, k) = (rng.gen_range(0..farm.len()), rng.gen_range(0..3), rng.gen_range(0..farm.skus));
            if tracker.place(c, s, k, Instant::now()) {
                placed += 1;
                break;
            }
        }
        due += Duration::from_secs_f64(1.0 / rate);
    }
    let placed_rate = placed as f64 / start.elapsed().as_secs_f64();
    tracker.settle(grace).await;
    let mut latencies: Vec<Duration> = tracker.take_shown().into_iter().map(|(_, d)| d).collect();
    latencies.sort();
    tracker.drop_pending();
    Step {
        rate,
        placed,
        placed_rate,
        shown: latencies.len(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
    }
}

/// One order on each of `companies` (a random store and SKU), timed from `since`; waits up to `grace`.
/// The latencies of those that showed, and how many did not.
pub(crate) async fn one_each(
    tracker: &Arc<Tracker>,
    companies: &[usize],
    since: Instant,
    grace: Duration,
    seed: u64,
) -> (Vec<Duration>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let _stop = tracker.watch();
    let mut placed = 0;
    for &c in companies {
        for _ in 0..8 {
            if tracker.place(c, rng.gen_range(0..3), rng.gen_range(0..tracker.farm.skus), since) {
                placed += 1;
                break;
            }
        }
    }
    tracker.settle(grace).await;
    let mut latencies: Vec<Duration> = tracker.take_shown().into_iter().map(|(_, d)| d).collect();
    latencies.sort();
    tracker.drop_pending();
    let lost = placed - latencies.len();
    (latencies, lost)
}
