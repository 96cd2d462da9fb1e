//! Rate limiting: a token bucket (equivalently, a leaky bucket read the other way round), one per key.
//!
//! Takealot uses one bucket per API key; Shopify's GraphQL cost limit is the same bucket with
//! `capacity` = `maximumAvailable`, `refill_per_second` = `restoreRate` and the query cost as `cost`;
//! Amazon SP-API uses one bucket per operation ([`KeyedLimiter`]) with `capacity` = burst and
//! `refill_per_second` = rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Bucket size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// Most tokens the bucket holds (the burst); a full bucket starts with this many.
    pub capacity: f64,
    /// Tokens restored per second.
    pub refill_per_second: f64,
}

impl RateLimit {
    /// A bucket of `capacity` tokens restored at `refill_per_second`.
    pub fn new(capacity: f64, refill_per_second: f64) -> Self {
        Self { capacity, refill_per_second }
    }

    /// `requests` per `window`, all available at once (e.g. 60 per minute).
    pub fn per_window(requests: u32, window: Duration) -> Self {
        Self::new(f64::from(requests), f64::from(requests) / window.as_secs_f64().max(f64::MIN_POSITIVE))
    }
}

/// What the bucket said about one request.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Decision {
    /// Whether the request may proceed (its cost was taken).
    pub allowed: bool,
    /// The bucket size.
    pub limit: f64,
    /// Tokens left after this request.
    pub remaining: f64,
    /// When denied: how long until the cost is available; `None` if it never will be (cost above
    /// capacity).
    pub retry_after: Option<Duration>,
    /// How long until the bucket is full again.
    pub reset_after: Duration,
    /// How long until one more whole token is available (zero when one is).
    pub next_after: Duration,
}

impl Decision {
    /// `remaining`, rounded down, for headers.
    pub fn remaining_whole(&self) -> u64 {
        whole(self.remaining)
    }

    /// `limit`, rounded down, for headers.
    pub fn limit_whole(&self) -> u64 {
        whole(self.limit)
    }

    /// Seconds a client should wait before trying again (rounded up, at least 1) when the bucket is
    /// exhausted (this request was denied, or it took the last whole token); otherwise seconds until the
    /// bucket is full. Used for `x-RateLimit-Reset`-style headers, so a client that pauses until the reset
    /// when `remaining` is 0 waits for the next token, not for the whole bucket to refill.
    pub fn reset_secs(&self) -> u64 {
        let exhausted = !self.allowed || self.remaining_whole() == 0;
        let wait = if !self.allowed {
            self.retry_after.unwrap_or(self.reset_after)
        } else if exhausted {
            self.next_after
        } else {
            self.reset_after
        };
        whole(wait.as_secs_f64().ceil()).max(u64::from(exhausted))
    }
}

fn whole(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        // Bucket sizes are far below 2^53; truncation towards zero is what headers want.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "positive and finite")]
        let out = value.floor() as u64;
        out
    } else {
        0
    }
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

/// One token bucket. Cheap to clone (shared state); uses Tokio's clock so paused-time tests can drive it.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    state: Arc<Mutex<BucketState>>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, state: Arc::new(Mutex::new(BucketState { tokens: limit.capacity, last: Instant::now() })) }
    }

    /// The bucket's size and rate.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes `cost` tokens if available.
    pub fn try_acquire(&self, cost: f64) -> Decision {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.refill(&mut state);
        let rate = self.limit.refill_per_second;
        let allowed = cost <= state.tokens;
        let retry_after = if allowed || cost > self.limit.capacity || rate <= 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64((cost - state.tokens) / rate))
        };
        if allowed {
            state.tokens -= cost;
        }
        Decision {
            allowed,
            limit: self.limit.capacity,
            remaining: state.tokens,
            retry_after,
            reset_after: self.until_full(state.tokens),
            next_after: if state.tokens >= 1.0 || rate <= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64((1.0 - state.tokens) / rate)
            },
        }
    }

    /// Tokens available now.
    pub fn available(&self) -> f64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.refill(&mut state);
        state.tokens
    }

    /// Empties the bucket (to provoke throttling in a test) or refills it.
    pub fn set_available(&self, tokens: f64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tokens = tokens.clamp(0.0, self.limit.capacity);
        state.last = Instant::now();
    }

    fn refill(&self, state: &mut BucketState) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(state.last).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.limit.refill_per_second).min(self.limit.capacity);
        state.last = now;
    }

    fn until_full(&self, tokens: f64) -> Duration {
        let missing = self.limit.capacity - tokens;
        if missing <= 0.0 || self.limit.refill_per_second <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.limit.refill_per_second)
        }
    }
}

/// One bucket per key (an operation name, an API key, …), created on first use from a default limit or a
/// per-key override.
#[derive(Debug, Clone)]
pub struct KeyedLimiter {
    default: RateLimit,
    overrides: HashMap<String, RateLimit>,
    buckets: Arc<Mutex<HashMap<String, TokenBucket>>>,
}

impl KeyedLimiter {
    /// Buckets of `default` size and rate unless overridden.
    pub fn new(default: RateLimit) -> Self {
        Self { default, overrides: HashMap::new(), buckets: Arc::default() }
    }

    /// Uses `limit` for `key` instead of the default.
    #[must_use]
    pub fn with_override(mut self, key: impl Into<String>, limit: RateLimit) -> Self {
        self.overrides.insert(key.into(), limit);
        self
    }

    /// The bucket for `key`.
    pub fn bucket(&self, key: &str) -> TokenBucket {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .entry(key.to_owned())
            .or_insert_with(|| TokenBucket::new(self.overrides.get(key).copied().unwrap_or(self.default)))
            .clone()
    }

    /// Takes `cost` from `key`'s bucket.
    pub fn try_acquire(&self, key: &str, cost: f64) -> Decision {
        self.bucket(key).try_acquire(cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drains_and_refills() {
        let bucket = TokenBucket::new(RateLimit::new(2.0, 1.0));
        assert!(bucket.try_acquire(1.0).allowed);
        let second = bucket.try_acquire(1.0);
        assert!(second.allowed);
        assert_eq!(second.remaining_whole(), 0);
        assert_eq!(second.reset_secs(), 1, "the last token taken: wait for the next, not for a full bucket");
        let denied = bucket.try_acquire(1.0);
        assert!(!denied.allowed);
        assert_eq!(denied.reset_secs(), 1);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(bucket.try_acquire(1.0).allowed);
        assert!(bucket.try_acquire(5.0).retry_after.is_none(), "cost above capacity never fits");
    }

    #[tokio::test(start_paused = true)]
    async fn keyed_buckets_are_independent() {
        let limiter = KeyedLimiter::new(RateLimit::new(1.0, 0.5)).with_override("fast", RateLimit::new(3.0, 3.0));
        assert!(limiter.try_acquire("a", 1.0).allowed);
        assert!(!limiter.try_acquire("a", 1.0).allowed);
        assert!(limiter.try_acquire("b", 1.0).allowed);
        assert_eq!(limiter.bucket("fast").limit().capacity, 3.0);
    }
}
