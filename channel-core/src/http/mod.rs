//! The shared HTTP transport every adapter uses (feature `http`).
//!
//! One [`HttpClient`] per connection (a seller account on a platform): reqwest with rustls underneath, the
//! connection's credentials ([`Auth`]), a `governor` token bucket for the connection and optionally one per
//! named operation ([`RateLimit`]), `backon` retries with jitter ([`RetryPolicy`]), per-request timeouts,
//! a `tracing` span per request, and errors mapped to [`crate::Error`] with no secret in them.
//!
//! ```no_run
//! # async fn demo() -> channel_core::Result<()> {
//! use std::num::NonZeroU32;
//! use channel_core::http::{Auth, HttpClient, Method, RateLimit};
//! use channel_core::secrecy::SecretString;
//!
//! let client = HttpClient::builder()
//!     .name("takealot")
//!     .base_url("https://seller-api.takealot.com/v2")
//!     .auth(Auth::authorization("Key", &SecretString::from("my-api-key")))
//!     .rate_limit(RateLimit::per_minute(NonZeroU32::new(60).unwrap()))
//!     .build()?;
//!
//! #[derive(serde::Deserialize)]
//! struct Offers { offers: Vec<serde_json::Value> }
//! let page = client
//!     .request(Method::GET, "/offers")
//!     .query("page_number", "1")
//!     .operation("getOffers")
//!     .send_json::<Offers>()
//!     .await?;
//! println!("{} offers, {:?} left this window", page.body().offers.len(), page.header("x-ratelimit-remaining"));
//! # Ok(()) }
//! ```
//!
//! # What is retried
//!
//! | outcome | idempotent request | other requests |
//! |---|---|---|
//! | 429 Too Many Requests | retried, waiting at least `Retry-After` | retried, waiting at least `Retry-After` |
//! | throttled, as the request's [`ThrottleClassifier`] says (a `200 OK` whose body is a refusal) | retried after exactly [`Retry::after`], up to [`RequestBuilder::max_throttle_attempts`] | the same (the platform did nothing) |
//! | 408, 500, 502, 503, 504 | retried (503 waits at least `Retry-After`) | not retried |
//! | could not connect | retried | retried (nothing was sent) |
//! | timeout, connection dropped mid-request | retried | **not retried**: the platform may have applied it |
//! | any other status | not retried | not retried |
//!
//! GET, HEAD, OPTIONS, PUT and DELETE are idempotent by default (RFC 9110); POST and PATCH are not unless
//! marked with [`RequestBuilder::idempotent`] or given an [`RequestBuilder::idempotency_key`]. A
//! `Retry-After` longer than [`RetryPolicy::max_retry_after`] is not waited out: the request fails with
//! [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited) and the wait in
//! [`Error::retry_after`](crate::Error::retry_after).
//!
//! Some platforms refuse without saying so in the status: Shopify's GraphQL Admin API answers `200 OK`
//! with `errors[].extensions.code == "THROTTLED"` and the cost bucket in the body. A request given a
//! [`ThrottleClassifier`] ([`RequestBuilder::classify_throttle`]) has each response it reads (success or
//! error) shown to it; a [`Retry`] verdict makes the response a rate-limit refusal: every request of the
//! client is held back for [`Retry::after`], the request is sent again after exactly that wait (within
//! its own budget of [`RequestBuilder::max_throttle_attempts`], apart from the policy's attempts for other
//! failures), and once the budget is spent, or the wait is over [`RetryPolicy::max_retry_after`], it fails
//! with [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited) and the wait in
//! [`Error::retry_after`](crate::Error::retry_after).
//!
//! # Errors
//!
//! | status / failure | [`ErrorKind`](crate::ErrorKind) |
//! |---|---|
//! | 401, 403, 407 | `Auth` (the [`AuthProvider`] is told to drop its token) |
//! | 404, 410 | `NotFound` |
//! | 409, 412 | `Conflict` |
//! | 400, 422, other 4xx | `Validation` |
//! | 429 | `RateLimited`, with `retry_after` |
//! | throttled by the request's [`ThrottleClassifier`] | `RateLimited`, with the classifier's `retry_after` |
//! | 5xx (not 501), 408, timeouts, connection errors | `Transient` |
//! | 501 | `Unsupported` |
//! | a redirect to another origin | `Config` |
//! | a body that does not decode | `Decode` |
//! | a body larger than the request's limit ([`HttpClientBuilder::max_response_bytes`]) | `Decode`, not retried |
//!
//! # Response size
//!
//! Every response body is read into memory, so each is bounded: [`DEFAULT_MAX_RESPONSE_BYTES`] (64 MiB)
//! unless the client ([`HttpClientBuilder::max_response_bytes`]) or the request
//! ([`RequestBuilder::max_response_bytes`]) says otherwise. A `Content-Length` over the limit is refused
//! before any of the body is read; a body without one is counted as it arrives and refused as soon as it
//! passes the limit, so at most one chunk more than the limit is ever held. The error is
//! [`ErrorKind::Decode`](crate::ErrorKind::Decode) with the response's status and a [`ResponseTooLarge`]
//! source, is not retried (the same request would get the same body), and names the request, the
//! operation and the limit. The body of a
//! response that is an error anyway is only read far enough to quote it.
//!
//! Messages name the method and the URL with credentials removed, plus the start of the platform's
//! error body with every known secret scrubbed out; the reqwest error is kept as the source, without its
//! URL.
//!
//! # Redaction
//!
//! `Authorization`, `Cookie`, `Set-Cookie`, API-key and token headers (and any header given to [`Auth`])
//! print as `******` in `Debug` and never reach logs or errors; query parameters that look like credentials
//! (`consumer_secret`, `X-Amz-Signature`, `access_token`, …) or that were given to [`Auth::Query`] or
//! [`HttpClientBuilder::redact_query_param`] likewise; user info in a URL is dropped.

mod auth;
mod options;
pub mod paginate;
mod rate;
mod redact;
mod request;
mod retry;

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub use auth::{Auth, AuthProvider, RequestSecrets};
pub use options::{HttpDefaults, HttpOptions};
pub use rate::{RateLimit, RateLimitHeaders};
pub use redact::REDACTED;
pub use request::{RequestBuilder, Response, ResponseTooLarge};
pub use retry::{Retry, RetryPolicy, ThrottleClassifier};

/// Re-exported so adapters need no direct dependency on `http` or `reqwest` for the common case.
pub use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
pub use reqwest::{Method, StatusCode};

/// The reqwest crate, for the odd request the transport does not cover.
pub use reqwest;

use crate::error::{Error, Result};
use rate::Limits;
use redact::Redactor;

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("stocksync/", env!("CARGO_PKG_VERSION"));

/// The default bound on one response body: 64 MiB. Far above any API page the adapters read (a page of
/// 250 Shopify products is well under a megabyte), low enough that a hostile or broken endpoint cannot
/// exhaust memory. Change it with [`HttpClientBuilder::max_response_bytes`], or for one request (a large
/// report download) with [`RequestBuilder::max_response_bytes`].
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The HTTP client of one connection. Cheap to clone: clones share the connection pool, the rate-limit
/// buckets and the pauses.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    http: reqwest::Client,
    base_url: url::Url,
    auth: Vec<Auth>,
    timeout: Duration,
    retry: RetryPolicy,
    limits: Limits,
    adapt_to_rate_headers: bool,
    idempotency_header: HeaderName,
    default_headers: HeaderMap,
    redactor: Redactor,
    max_response_bytes: u64,
}

impl HttpClient {
    /// Start building a client.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// A request to `path`, joined to the base URL (`"/offers"` or `"offers?page=2"`), or to an absolute
    /// `http(s)://` URL (a pagination `Link`, a pre-signed upload URL). Credentials are only attached when
    /// the target has the base URL's origin.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder::new(self, method, path)
    }

    /// Shorthand for a `GET` request.
    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, path)
    }

    /// Shorthand for a `POST` request (not retried unless marked idempotent or given an idempotency key).
    pub fn post(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::POST, path)
    }

    /// Shorthand for a `PUT` request.
    pub fn put(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PUT, path)
    }

    /// Shorthand for a `PATCH` request (not retried unless marked idempotent or given an idempotency key).
    pub fn patch(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PATCH, path)
    }

    /// Shorthand for a `DELETE` request.
    pub fn delete(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::DELETE, path)
    }

    /// The connection's name, as given to [`HttpClientBuilder::name`] (used in spans).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The base URL requests are joined to.
    pub fn base_url(&self) -> &url::Url {
        &self.inner.base_url
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// The largest response body a request reads unless it sets its own limit
    /// ([`HttpClientBuilder::max_response_bytes`]).
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// Hold back every request on this connection for `wait` (requests already sent are not affected).
    /// For platforms that report throttling in a response body, such as Shopify's GraphQL
    /// `throttleStatus`: the adapter works out the wait and tells the transport.
    pub fn pause_for(&self, wait: Duration) {
        self.inner.limits.pause_all(wait);
    }

    /// Hold back requests for one operation for `wait` (Amazon throttles per operation).
    pub fn pause_operation_for(&self, operation: &str, wait: Duration) {
        self.inner.limits.pause(Some(operation), wait);
    }

    /// Replace the connection's rate limit (`None`: unlimited). Requests for operations with a limit of
    /// their own are unaffected.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.inner.limits.set(None, limit);
    }

    /// Give `operation` a rate limit of its own (`None`: unlimited).
    pub fn set_operation_rate_limit(&self, operation: &str, limit: Option<RateLimit>) {
        self.inner.limits.set(Some(operation), limit);
    }

    /// The rate limit that applies to requests for `operation` (or, with `None`, to requests that name no
    /// operation with a limit of its own).
    pub fn rate_limit(&self, operation: Option<&str>) -> Option<RateLimit> {
        self.inner.limits.get(operation)
    }

    /// Re-tune from a response's rate-limit headers, as the transport does itself when
    /// [`HttpClientBuilder::adapt_to_rate_headers`] is on: a new rate from `x-amzn-RateLimit-Limit`, a pause
    /// when `x-RateLimit-Remaining` reaches 0 (until `x-RateLimit-Reset`) or the Shopify REST bucket is full.
    pub fn adapt_to(&self, operation: Option<&str>, headers: &RateLimitHeaders) {
        self.inner.limits.adapt(operation, headers, self.inner.retry.max_retry_after);
    }

    /// The underlying reqwest client, for the odd request the transport does not cover. Requests made with
    /// it get no credentials, rate limiting, retries, redaction or spans.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// `url` as it may be shown: user info dropped, secret query values replaced.
    pub fn redact_url(&self, url: &url::Url) -> String {
        self.inner.redactor.url(url)
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("HttpClient")
            .field("name", &i.name)
            .field("base_url", &i.redactor.url(&i.base_url))
            .field("auth", &i.auth)
            .field("timeout", &i.timeout)
            .field("retry", &i.retry)
            .field("max_response_bytes", &i.max_response_bytes)
            .field("rate_limit", &i.limits.get(None))
            .field("default_headers", &i.redactor.headers(&i.default_headers))
            .finish_non_exhaustive()
    }
}

/// Builds an [`HttpClient`]. Only [`HttpClientBuilder::base_url`] is required.
pub struct HttpClientBuilder {
    name: String,
    base_url: Option<String>,
    user_agent: String,
    timeout: Duration,
    connect_timeout: Duration,
    auth: Vec<Auth>,
    rate_limit: Option<RateLimit>,
    operation_limits: Vec<(String, RateLimit)>,
    retry: RetryPolicy,
    adapt_to_rate_headers: bool,
    idempotency_header: HeaderName,
    default_headers: Vec<(String, String)>,
    redactor: Redactor,
    reqwest: Option<reqwest::Client>,
    max_response_bytes: u64,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            name: "http".to_owned(),
            base_url: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            auth: Vec::new(),
            rate_limit: None,
            operation_limits: Vec::new(),
            retry: RetryPolicy::default(),
            adapt_to_rate_headers: true,
            idempotency_header: HeaderName::from_static("idempotency-key"),
            default_headers: Vec::new(),
            redactor: Redactor::default(),
            reqwest: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("name", &self.name)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("rate_limit", &self.rate_limit)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpClientBuilder {
    /// A short name for the connection, recorded on every span (`"takealot"`, `"shopify:my-shop"`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The base URL paths are joined to (`https://seller-api.takealot.com/v2`); point it at a `wiremock`
    /// server in tests. It must be `http` or `https` and carry no credentials.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The `User-Agent` (default [`DEFAULT_USER_AGENT`]).
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The default timeout of one attempt, from sending to the end of the body (default 30 s); override
    /// per request with [`RequestBuilder::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body a request reads, in bytes (default [`DEFAULT_MAX_RESPONSE_BYTES`],
    /// 64 MiB); raise it for one request with [`RequestBuilder::max_response_bytes`]. A larger body is
    /// refused with [`ErrorKind::Decode`](crate::ErrorKind::Decode) and not retried: by its
    /// `Content-Length` before any of it is read, or, without one, as soon as the bytes received pass the
    /// limit. `u64::MAX` lifts the bound.
    #[must_use]
    pub fn max_response_bytes(mut self, max_bytes: u64) -> Self {
        self.max_response_bytes = max_bytes;
        self
    }

    /// The timeout for establishing a connection (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Add credentials (may be called more than once: all are applied).
    #[must_use]
    pub fn auth(mut self, auth: Auth) -> Self {
        match &auth {
            Auth::Header { name, .. } => self.redactor.add_header(name.as_str()),
            Auth::Query(params) => params.iter().for_each(|(k, _)| self.redactor.add_param(k)),
            Auth::Basic { .. } | Auth::Provider(_) => {}
        }
        self.auth.push(auth);
        self
    }

    /// The connection's rate limit, used by requests that name no operation with a limit of its own
    /// (default: unlimited).
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// A rate limit for one operation (Amazon: a token bucket per operation). Requests that name the
    /// operation with [`RequestBuilder::operation`] take tokens from it instead of the connection's bucket.
    #[must_use]
    pub fn operation_rate_limit(mut self, operation: impl Into<String>, limit: RateLimit) -> Self {
        self.operation_limits.push((operation.into(), limit));
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Shorthand for changing only the retry policy's attempts (the first included).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.retry = self.retry.with_max_attempts(attempts);
        self
    }

    /// Whether responses' rate-limit headers re-tune the buckets ([`RateLimitHeaders`]; default on).
    #[must_use]
    pub fn adapt_to_rate_headers(mut self, on: bool) -> Self {
        self.adapt_to_rate_headers = on;
        self
    }

    /// The header [`RequestBuilder::idempotency_key`] sets (default `Idempotency-Key`).
    #[must_use]
    pub fn idempotency_key_header(mut self, name: HeaderName) -> Self {
        self.idempotency_header = name;
        self
    }

    /// A header sent with every request (not a secret: use [`Auth::header`] for those).
    #[must_use]
    pub fn default_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Treat query parameter `name` as secret in logs and errors (credentials given to [`Auth::Query`] and
    /// common credential names are already).
    #[must_use]
    pub fn redact_query_param(mut self, name: &str) -> Self {
        self.redactor.add_param(name);
        self
    }

    /// Treat header `name` as secret in logs and errors.
    #[must_use]
    pub fn redact_header(mut self, name: &str) -> Self {
        self.redactor.add_header(name);
        self
    }

    /// Use this reqwest client (to share a connection pool between connections). The builder's user agent
    /// and connect timeout are then the given client's.
    #[must_use]
    pub fn reqwest_client(mut self, client: reqwest::Client) -> Self {
        self.reqwest = Some(client);
        self
    }

    /// Build the client. Fails with [`ErrorKind::Config`](crate::ErrorKind::Config) on a missing or invalid
    /// base URL, a URL with credentials in it, or an invalid header.
    pub fn build(self) -> Result<HttpClient> {
        let raw = self.base_url.ok_or_else(|| Error::config("the HTTP client needs a base_url"))?;
        // The parse error names no part of the URL, which may hold credentials.
        let base_url = url::Url::parse(&raw).map_err(|e| Error::config("invalid base_url").with_source(e))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(Error::config(format!(
                "base_url must be an http(s) URL with a host, got {}",
                self.redactor.url(&base_url)
            )));
        }
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(Error::config("base_url must not hold credentials: give them to HttpClientBuilder::auth"));
        }
        let mut default_headers = HeaderMap::new();
        for (name, value) in &self.default_headers {
            let n = HeaderName::try_from(name.as_str())
                .map_err(|e| Error::config(format!("invalid default header name {name:?}")).with_source(e))?;
            let v = HeaderValue::try_from(value.as_str())
                .map_err(|e| Error::config(format!("invalid value for default header {name}")).with_source(e))?;
            default_headers.append(n, v);
        }
        let http = match self.reqwest {
            Some(client) => client,
            None => reqwest::Client::builder()
                .user_agent(self.user_agent)
                .connect_timeout(self.connect_timeout)
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| Error::config("could not build the HTTP client").with_source(e.without_url()))?,
        };
        let limits = Limits::new(self.rate_limit, &self.operation_limits);
        Ok(HttpClient {
            inner: Arc::new(Inner {
                name: self.name,
                http,
                base_url,
                auth: self.auth,
                timeout: self.timeout,
                retry: self.retry,
                limits,
                adapt_to_rate_headers: self.adapt_to_rate_headers,
                idempotency_header: self.idempotency_header,
                default_headers,
                redactor: self.redactor,
                max_response_bytes: self.max_response_bytes,
            }),
        })
    }
}

/// Follow at most five redirects, and only within the origin: credentials in custom headers
/// (`X-Shopify-Access-Token`) would otherwise follow the request to another host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 || !same { attempt.stop() } else { attempt.follow() }
    })
}

/// `segment` percent-encoded as one path segment, for SKUs and ids inside a path: everything but
/// RFC 3986 unreserved characters is encoded, `/` included.
///
/// ```
/// use channel_core::http::encode_path_segment;
/// assert_eq!(encode_path_segment("TS-001/Blue L"), "TS-001%2FBlue%20L");
/// assert_eq!(encode_path_segment("ä"), "%C3%A4");
/// ```
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A burst of `n` (helper for literals in adapters: `burst(20)`); `n = 0` is taken as 1.
pub fn burst(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}
