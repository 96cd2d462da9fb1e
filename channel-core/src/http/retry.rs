//! When and how long to retry, and how HTTP outcomes map to [`ErrorKind`]s.

use std::time::{Duration, SystemTime};

use backon::ExponentialBuilder;
use http::{HeaderMap, StatusCode};

use crate::error::ErrorKind;

/// How a client retries: exponential backoff with jitter, never waiting less than a `Retry-After`.
///
/// What is retried (see the module docs of [`crate::http`] for the full table):
/// - 429 always (the platform refused the request without acting on it);
/// - 408, 500, 502, 503, 504, timeouts and dropped connections only for idempotent requests;
/// - failures to connect always (nothing was sent).
/// - a response a request's [`ThrottleClassifier`] calls throttled always, after exactly its wait, within the
///   request's own budget of throttled attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff delay; each later one doubles, up to `max_delay`.
    pub min_delay: Duration,
    /// The longest backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` (or rate-limit reset) the transport waits out itself. Beyond it the
    /// request fails with [`ErrorKind::RateLimited`] and the wait in [`crate::Error::retry_after`], so
    /// the caller can reschedule instead of blocking.
    pub max_retry_after: Duration,
    /// Add random jitter (up to the delay again) to each backoff delay.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// Four attempts, 250 ms doubling to at most 20 s, jitter on, `Retry-After` honoured up to 2 minutes.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// The same policy with `n` attempts in all (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The same policy with backoff delays from `min` doubling to `max`.
    #[must_use]
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_delay = min;
        self.max_delay = max.max(min);
        self
    }

    /// The same policy, waiting out a `Retry-After` of at most `max`.
    #[must_use]
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The same policy with jitter on or off.
    #[must_use]
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    pub(crate) fn backoff(&self, max_attempts: u32) -> ExponentialBuilder {
        let retries = usize::try_from(max_attempts.max(1) - 1).unwrap_or(usize::MAX);
        let b = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(retries);
        if self.jitter { b.with_jitter() } else { b }
    }
}

/// A [`ThrottleClassifier`]'s verdict: the response is a rate-limit refusal, to be sent again after `after`.
///
/// Some platforms refuse a request with a status that does not say so: Shopify's GraphQL Admin API answers
/// `200 OK` with `errors[].extensions.code == "THROTTLED"` and the cost bucket in `extensions.cost`. A
/// classifier reads such a body and answers with a `Retry`; the transport then treats the response like a
/// 429 (see [`crate::http`], *What is retried*).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retry {
    /// How long to wait before sending the request again (exactly this long: the platform said so).
    pub after: Duration,
    /// What the platform said, for the error message (`"THROTTLED"`).
    pub reason: String,
}

impl Retry {
    /// Retry after `after`.
    pub fn after(after: Duration) -> Self {
        Self { after, reason: "rate limited".to_owned() }
    }

    /// The same verdict with the platform's reason, quoted in the error if the request gives up.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }
}

/// Reads a response the status alone does not classify (status, headers and body — the first 64 KiB of
/// an error body) and says whether it is a rate-limit refusal: `Some(Retry)` to wait and send again,
/// `None` to let the status decide. A plain function, so it holds no state; give it to a request with
/// [`RequestBuilder::classify_throttle`](super::RequestBuilder::classify_throttle).
pub type ThrottleClassifier = fn(StatusCode, &HeaderMap, &[u8]) -> Option<Retry>;

/// The `Retry-After` of a response: delay-seconds or an HTTP date (reads the system clock for the latter).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Some servers send fractions ("1.5"), which the RFC does not allow but which are clear enough.
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// The error kind for a response status the request did not accept.
pub(crate) fn kind_for_status(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 | 403 | 407 => ErrorKind::Auth,
        404 | 410 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited,
        408 | 500 | 502..=504 => ErrorKind::Transient,
        501 => ErrorKind::Unsupported,
        // Redirects that were not followed (to another origin, or too many): the base URL needs fixing.
        300..=399 => ErrorKind::Config,
        // 400, 422 and the rest of 4xx: the request is wrong and sending it again will not help.
        400..=499 => ErrorKind::Validation,
        _ => ErrorKind::Transient,
    }
}

/// Whether a response with `status` may be sent again. `idempotent`: the request may be applied twice safely.
pub(crate) fn status_is_retryable(status: StatusCode, idempotent: bool) -> bool {
    match status.as_u16() {
        // The platform refused without acting: safe for any request.
        429 => true,
        // The request may or may not have been applied.
        408 | 500 | 502 | 503 | 504 => idempotent,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with_retry_after(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after(&with_retry_after("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&with_retry_after(" 1.5 ")), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(&with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT")), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = retry_after(&with_retry_after(&later)).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(retry_after(&with_retry_after("soon")), None);
        assert_eq!(retry_after(&with_retry_after("-1")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn status_kinds() {
        let k = |s: u16| kind_for_status(StatusCode::from_u16(s).unwrap());
        assert_eq!(k(401), ErrorKind::Auth);
        assert_eq!(k(403), ErrorKind::Auth);
        assert_eq!(k(404), ErrorKind::NotFound);
        assert_eq!(k(409), ErrorKind::Conflict);
        assert_eq!(k(400), ErrorKind::Validation);
        assert_eq!(k(422), ErrorKind::Validation);
        assert_eq!(k(429), ErrorKind::RateLimited);
        for s in [500, 502, 503, 504, 408] {
            assert_eq!(k(s), ErrorKind::Transient, "{s}");
        }
        assert_eq!(k(501), ErrorKind::Unsupported);
        assert_eq!(k(302), ErrorKind::Config);
    }

    #[test]
    fn what_is_retried() {
        let r = |s: u16, idem| status_is_retryable(StatusCode::from_u16(s).unwrap(), idem);
        assert!(r(429, false) && r(429, true));
        assert!(r(503, true) && !r(503, false));
        assert!(r(500, true) && !r(500, false));
        assert!(!r(401, true) && !r(404, true) && !r(422, true) && !r(501, true));
    }

    #[test]
    fn attempts_are_at_least_one() {
        assert_eq!(RetryPolicy::default().with_max_attempts(0).max_attempts, 1);
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }
}
