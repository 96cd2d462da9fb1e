//! Client-side rate limiting: a `governor` token bucket per connection and, optionally, per operation,
//! re-tunable at run time from the platform's own headers, plus pauses the platform asks for.
//!
//! The buckets use governor's clock; waiting uses `tokio::time`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use tokio::time::Instant;

/// A request rate: one request per `period`, with up to `burst` requests at once after a quiet spell
/// (a token bucket of `burst` tokens refilled at one token per `period`).
///
/// ```
/// use std::num::NonZeroU32;
/// use channel_core::http::RateLimit;
///
/// // Amazon searchOrders: 0.0056 requests per second, burst 20.
/// let orders = RateLimit::per_second_f64(0.0056).unwrap().with_burst(NonZeroU32::new(20).unwrap());
/// assert_eq!(orders.burst().get(), 20);
/// // Takealot: 60 a minute.
/// let takealot = RateLimit::per_minute(NonZeroU32::new(60).unwrap());
/// assert_eq!(takealot.period(), std::time::Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    period: Duration,
    burst: NonZeroU32,
}

impl RateLimit {
    /// `n` requests a second, in bursts of up to `n`.
    pub fn per_second(n: NonZeroU32) -> Self {
        Self { period: Duration::from_secs(1) / n.get(), burst: n }
    }

    /// `n` requests a minute, in bursts of up to `n`.
    pub fn per_minute(n: NonZeroU32) -> Self {
        Self { period: Duration::from_secs(60) / n.get(), burst: n }
    }

    /// One request per `period`, no burst. `None` for a zero period.
    pub fn every(period: Duration) -> Option<Self> {
        (!period.is_zero()).then_some(Self { period, burst: NonZeroU32::MIN })
    }

    /// A fractional rate in requests per second, as Amazon documents and sends in `x-amzn-RateLimit-Limit`
    /// (`0.0167`), with a burst of 1. `None` unless the rate is finite and positive.
    pub fn per_second_f64(rate: f64) -> Option<Self> {
        if !rate.is_finite() || rate <= 0.0 {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / rate).ok()?;
        Self::every(period.max(Duration::from_nanos(1)))
    }

    /// The same rate with a bucket of `burst` requests.
    #[must_use]
    pub fn with_burst(mut self, burst: NonZeroU32) -> Self {
        self.burst = burst;
        self
    }

    /// The time one request's token takes to refill.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The bucket size.
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// The sustained rate in requests per second.
    pub fn requests_per_second(&self) -> f64 {
        1.0 / self.period.as_secs_f64()
    }

    fn quota(&self) -> Option<Quota> {
        Some(Quota::with_period(self.period)?.allow_burst(self.burst))
    }
}

/// Rate-limit information a response carried, as the transport reads it.
///
/// The transport applies it itself when [`HttpClientBuilder::adapt_to_rate_headers`] is on (the default);
/// adapters can also read it from a response with [`RateLimitHeaders::parse`] to make their own decisions.
///
/// [`HttpClientBuilder::adapt_to_rate_headers`]: super::HttpClientBuilder::adapt_to_rate_headers
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct RateLimitHeaders {
    /// `x-amzn-RateLimit-Limit`: the rate (requests per second) applied to this operation.
    pub amzn_rate: Option<f64>,
    /// `x-RateLimit-Limit` (Takealot and others): requests allowed in the current window.
    pub limit: Option<u64>,
    /// `x-RateLimit-Remaining`: requests left in the current window.
    pub remaining: Option<u64>,
    /// `x-RateLimit-Reset`: time until the window resets (given as seconds, or as a Unix time).
    pub reset: Option<Duration>,
    /// `X-Shopify-Shop-Api-Call-Limit: used/size` (Shopify REST leaky bucket).
    pub shopify_call_limit: Option<(u32, u32)>,
    /// `x-remaining-this-second` (Etsy).
    pub remaining_this_second: Option<u64>,
}

impl RateLimitHeaders {
    /// Read the rate-limit headers stocksync's platforms send. Reads the system clock only to turn a Unix
    /// reset time into a duration.
    pub fn parse(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let int = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
        let reset = text("x-ratelimit-reset").and_then(|v| v.parse::<f64>().ok()).and_then(|secs| {
            if !secs.is_finite() || secs < 0.0 {
                return None;
            }
            // Values beyond ~30 years of seconds are Unix times, not durations.
            if secs > 1.0e9 {
                let at = UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)?;
                Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
            } else {
                Duration::try_from_secs_f64(secs).ok()
            }
        });
        let shopify_call_limit = text("x-shopify-shop-api-call-limit").and_then(|v| {
            let (used, size) = v.split_once('/')?;
            Some((used.trim().parse().ok()?, size.trim().parse().ok()?))
        });
        Self {
            amzn_rate: text("x-amzn-ratelimit-limit").and_then(|v| v.parse::<f64>().ok()).filter(|r| *r > 0.0),
            limit: int("x-ratelimit-limit"),
            remaining: int("x-ratelimit-remaining"),
            reset,
            shopify_call_limit,
            remaining_this_second: int("x-remaining-this-second"),
        }
    }

    /// How long to hold off before the next request, if the headers say the budget is spent.
    pub fn pause(&self) -> Option<Duration> {
        let mut pause = None::<Duration>;
        let mut longer = |d: Duration| pause = Some(pause.map_or(d, |p| p.max(d)));
        if self.remaining == Some(0) {
            longer(self.reset.unwrap_or(Duration::from_secs(1)));
        }
        if let Some((used, size)) = self.shopify_call_limit
            && size > 0
            && used >= size
        {
            // The bucket is full; Shopify leaks at least two calls a second.
            longer(Duration::from_secs(1));
        }
        if self.remaining_this_second == Some(0) {
            longer(Duration::from_secs(1));
        }
        pause
    }
}

/// One token bucket and the pause the platform asked for.
#[derive(Debug, Default)]
struct Bucket {
    state: Mutex<BucketState>,
}

#[derive(Debug, Default)]
struct BucketState {
    limit: Option<RateLimit>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    paused_until: Option<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state stays consistent even if a holder panicked (every update is a single assignment).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bucket {
    fn new(limit: Option<RateLimit>) -> Self {
        let bucket = Self::default();
        bucket.set(limit);
        bucket
    }

    fn set(&self, limit: Option<RateLimit>) {
        let mut s = lock(&self.state);
        if s.limit == limit {
            return;
        }
        s.limit = limit;
        s.limiter = limit.and_then(|l| l.quota()).map(|q| Arc::new(RateLimiter::direct(q)));
    }

    fn limit(&self) -> Option<RateLimit> {
        lock(&self.state).limit
    }

    fn pause_until(&self, until: Instant) {
        let mut s = lock(&self.state);
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
    }

    fn snapshot(&self) -> (Option<Instant>, Option<Arc<DefaultDirectRateLimiter>>) {
        let s = lock(&self.state);
        (s.paused_until, s.limiter.clone())
    }
}

/// How long until `until`, if it is still ahead.
fn remaining(until: Option<Instant>, now: Instant) -> Option<Duration> {
    until.filter(|u| *u > now).map(|u| u - now)
}

/// Take a token from `limiter`, or say how long until one is available.
fn take(limiter: &DefaultDirectRateLimiter) -> Option<Duration> {
    match limiter.check() {
        Ok(()) => None,
        Err(not_until) => Some(not_until.wait_time_from(limiter.clock().now())),
    }
}

/// The buckets of one client: the connection's own, and one per named operation that has a limit.
#[derive(Debug)]
pub(crate) struct Limits {
    connection: Bucket,
    /// A pause that holds back every request on the connection, whatever its operation.
    paused_until: Mutex<Option<Instant>>,
    operations: Mutex<HashMap<String, Arc<Bucket>>>,
}

impl Limits {
    pub(crate) fn new(connection: Option<RateLimit>, operations: &[(String, RateLimit)]) -> Self {
        let operations =
            operations.iter().map(|(op, l)| (op.clone(), Arc::new(Bucket::new(Some(*l))))).collect::<HashMap<_, _>>();
        Self { connection: Bucket::new(connection), paused_until: Mutex::new(None), operations: Mutex::new(operations) }
    }

    fn operation(&self, op: &str) -> Option<Arc<Bucket>> {
        lock(&self.operations).get(op).cloned()
    }

    fn operation_or_insert(&self, op: &str) -> Arc<Bucket> {
        Arc::clone(lock(&self.operations).entry(op.to_owned()).or_default())
    }

    /// Wait until a request for `op` may go: past every pause that applies, then (if `limited`) a token
    /// from the operation's bucket if it has a limit of its own, else from the connection's.
    pub(crate) async fn acquire(&self, op: Option<&str>, limited: bool) {
        let own = op.and_then(|o| self.operation(o));
        loop {
            match self.try_acquire(own.as_deref(), limited, Instant::now()) {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// `None` when a request may go now (a token has been taken), else how long to wait before asking again.
    fn try_acquire(&self, own: Option<&Bucket>, limited: bool, now: Instant) -> Option<Duration> {
        if let Some(wait) = remaining(*lock(&self.paused_until), now) {
            return Some(wait);
        }
        if let Some(bucket) = own {
            let (paused, limiter) = bucket.snapshot();
            if let Some(wait) = remaining(paused, now) {
                return Some(wait);
            }
            if let Some(limiter) = limiter {
                return if limited { take(&limiter) } else { None };
            }
        }
        // No limit of its own: the request shares the connection's bucket and its pauses.
        let (paused, limiter) = self.connection.snapshot();
        if let Some(wait) = remaining(paused, now) {
            return Some(wait);
        }
        match limiter {
            Some(limiter) if limited => take(&limiter),
            _ => None,
        }
    }

    /// Hold back every request on the connection for `wait`.
    pub(crate) fn pause_all(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut p = lock(&self.paused_until);
        *p = Some(p.map_or(until, |x| x.max(until)));
    }

    /// Hold back requests that use `op`'s bucket (or, with no operation, the connection's bucket) for `wait`.
    pub(crate) fn pause(&self, op: Option<&str>, wait: Duration) {
        let until = Instant::now() + wait;
        match op {
            Some(o) => self.operation_or_insert(o).pause_until(until),
            None => self.connection.pause_until(until),
        }
    }

    /// Replace the limit of `op` (or of the connection).
    pub(crate) fn set(&self, op: Option<&str>, limit: Option<RateLimit>) {
        match op {
            Some(o) => self.operation_or_insert(o).set(limit),
            None => self.connection.set(limit),
        }
    }

    /// The limit in force for `op` (or the connection).
    pub(crate) fn get(&self, op: Option<&str>) -> Option<RateLimit> {
        op.and_then(|o| self.operation(o)).and_then(|b| b.limit()).or_else(|| self.connection.limit())
    }

    /// Re-tune from a response's headers: a new rate from `x-amzn-RateLimit-Limit` (keeping the burst),
    /// and a pause when the window's budget is spent. `max_pause` caps what a header can impose.
    pub(crate) fn adapt(&self, op: Option<&str>, headers: &RateLimitHeaders, max_pause: Duration) {
        if let Some(rate) = headers.amzn_rate
            && let Some(new) = RateLimit::per_second_f64(rate)
        {
            let current = self.get(op);
            let new = new.with_burst(current.map_or(NonZeroU32::MIN, |c| c.burst()));
            if current.map(|c| c.period()) != Some(new.period()) {
                self.set(op, Some(new));
            }
        }
        if let Some(wait) = headers.pause() {
            self.pause(op, wait.min(max_pause));
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn rates() {
        let r = RateLimit::per_second(NonZeroU32::new(4).unwrap());
        assert_eq!(r.period(), Duration::from_millis(250));
        assert_eq!(r.burst().get(), 4);
        let a = RateLimit::per_second_f64(0.5).unwrap();
        assert_eq!(a.period(), Duration::from_secs(2));
        assert_eq!(a.burst().get(), 1);
        assert!(RateLimit::per_second_f64(0.0).is_none());
        assert!(RateLimit::per_second_f64(f64::NAN).is_none());
        assert!(RateLimit::every(Duration::ZERO).is_none());
        assert!((RateLimit::per_minute(NonZeroU32::new(60).unwrap()).requests_per_second() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn parses_platform_headers() {
        let h = RateLimitHeaders::parse(&headers(&[
            ("x-amzn-RateLimit-Limit", "0.0167"),
            ("x-RateLimit-Limit", "100"),
            ("x-RateLimit-Remaining", "0"),
            ("x-RateLimit-Reset", "7"),
            ("X-Shopify-Shop-Api-Call-Limit", "40/40"),
        ]));
        assert_eq!(h.amzn_rate, Some(0.0167));
        assert_eq!((h.limit, h.remaining, h.reset), (Some(100), Some(0), Some(Duration::from_secs(7))));
        assert_eq!(h.shopify_call_limit, Some((40, 40)));
        assert_eq!(h.pause(), Some(Duration::from_secs(7)));

        let calm = RateLimitHeaders::parse(&headers(&[("x-RateLimit-Remaining", "5"), ("x-RateLimit-Reset", "7")]));
        assert_eq!(calm.pause(), None);
        assert_eq!(RateLimitHeaders::parse(&HeaderMap::new()), RateLimitHeaders::default());
    }

    #[test]
    fn unix_reset_times_become_durations() {
        let in_a_minute = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 60;
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from(in_a_minute));
        let reset = RateLimitHeaders::parse(&h).reset.unwrap();
        assert!(reset <= Duration::from_secs(60) && reset >= Duration::from_secs(55), "{reset:?}");
    }

    #[test]
    fn adapt_retunes_and_keeps_burst() {
        let limits = Limits::new(None, &[("getOrders".to_owned(), RateLimit::per_second(NonZeroU32::new(3).unwrap()))]);
        let h = RateLimitHeaders { amzn_rate: Some(0.5), ..Default::default() };
        limits.adapt(Some("getOrders"), &h, Duration::from_secs(60));
        let got = limits.get(Some("getOrders")).unwrap();
        assert_eq!((got.period(), got.burst().get()), (Duration::from_secs(2), 3));
        // Unknown operations get a bucket of their own, burst 1; the connection stays unlimited.
        limits.adapt(Some("getFeed"), &h, Duration::from_secs(60));
        assert_eq!(limits.get(Some("getFeed")).unwrap().burst().get(), 1);
        assert_eq!(limits.get(None), None);
    }

    #[test]
    fn burst_then_wait() {
        let limits = Limits::new(Some(RateLimit::per_minute(NonZeroU32::new(2).unwrap())), &[]);
        let now = Instant::now();
        assert_eq!(limits.try_acquire(None, true, now), None);
        assert_eq!(limits.try_acquire(None, true, now), None);
        let wait = limits.try_acquire(None, true, now).unwrap();
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30), "{wait:?}");
        // Unlimited requests skip the tokens but not the pauses.
        assert_eq!(limits.try_acquire(None, false, now), None);
        limits.connection.pause_until(now + Duration::from_secs(90));
        assert_eq!(limits.try_acquire(None, false, now), Some(Duration::from_secs(90)));
    }

    #[test]
    fn a_paused_operation_without_a_limit_still_shares_the_connection_bucket() {
        let limits = Limits::new(Some(RateLimit::per_minute(NonZeroU32::new(1).unwrap())), &[]);
        limits.pause(Some("getOffers"), Duration::from_millis(1));
        let own = limits.operation("getOffers").unwrap();
        let later = Instant::now() + Duration::from_millis(5);
        assert_eq!(limits.try_acquire(Some(&own), true, later), None);
        assert!(limits.try_acquire(Some(&own), true, later).is_some(), "the connection's token was spent");
        assert!(limits.try_acquire(None, true, later).is_some());
        // A pause on the operation holds it back whatever the tokens say.
        limits.pause(Some("getOffers"), Duration::from_secs(60));
        assert!(limits.try_acquire(Some(&own), true, Instant::now()).unwrap() > Duration::from_secs(50));
    }
}
