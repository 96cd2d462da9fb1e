//! Building, sending and retrying one request.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{Retryable as _, TokioSleeper};
use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use super::HttpClient;
use super::auth::{self, Resolved};
use super::rate::RateLimitHeaders;
use super::redact::{REDACTED, Redactor, scrub, truncate};
use super::retry::{Retry, ThrottleClassifier, kind_for_status, retry_after, status_is_retryable};
use crate::error::{Error, ErrorKind, Result};

/// How much of a platform's error body goes into an error message.
const BODY_SNIPPET: usize = 512;

/// How much of an error response's body is read (to quote its start in the error); the rest is left
/// unread, however large.
const ERROR_BODY_READ: u64 = 64 * 1024;

/// The most memory reserved up front from a response's `Content-Length` (a body that really is larger
/// grows the buffer as it arrives).
const PREALLOCATE_MAX: u64 = 16 * 1024 * 1024;

/// A request being built. Nothing is sent until [`RequestBuilder::send`] or [`RequestBuilder::send_json`];
/// mistakes made while building (an invalid header, a body that does not serialize) are reported then.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder<'a> {
    client: &'a HttpClient,
    method: Method,
    url: Result<Url>,
    headers: HeaderMap,
    secret_query: Vec<(String, SecretString)>,
    body: Option<Bytes>,
    timeout: Option<Duration>,
    idempotent: Option<bool>,
    has_idempotency_key: bool,
    operation: Option<String>,
    max_attempts: Option<u32>,
    max_response_bytes: Option<u64>,
    accept: Vec<StatusCode>,
    with_auth: bool,
    rate_limited: bool,
    throttle: Option<ThrottleClassifier>,
    max_throttle_attempts: Option<u32>,
    error: Option<Error>,
}

impl<'a> RequestBuilder<'a> {
    pub(super) fn new(client: &'a HttpClient, method: Method, path: &str) -> Self {
        Self {
            client,
            method,
            url: join(&client.inner.base_url, path, &client.inner.redactor),
            headers: HeaderMap::new(),
            secret_query: Vec::new(),
            body: None,
            timeout: None,
            idempotent: None,
            has_idempotency_key: false,
            operation: None,
            max_attempts: None,
            max_response_bytes: None,
            accept: Vec::new(),
            with_auth: true,
            rate_limited: true,
            throttle: None,
            max_throttle_attempts: None,
            error: None,
        }
    }

    fn fail(&mut self, error: Error) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Append a query parameter (percent-encoded for you).
    pub fn query(mut self, name: &str, value: impl AsRef<str>) -> Self {
        if let Ok(url) = &mut self.url {
            url.query_pairs_mut().append_pair(name, value.as_ref());
        }
        self
    }

    /// Append several query parameters.
    pub fn query_pairs<I, K, V>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        if let Ok(url) = &mut self.url {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k.as_ref(), v.as_ref());
            }
        }
        self
    }

    /// Append a secret query parameter: redacted wherever the URL is shown.
    pub fn secret_query(mut self, name: &str, value: SecretString) -> Self {
        self.secret_query.push((name.to_owned(), value));
        self
    }

    /// Set a header (replacing one of the same name). Not for secrets: use [`RequestBuilder::secret_header`].
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value.as_ref())) {
            (Ok(n), Ok(v)) => {
                self.headers.insert(n, v);
            }
            (Err(e), _) => self.fail(Error::validation(format!("invalid header name {name:?}")).with_source(e)),
            (_, Err(e)) => self.fail(Error::validation(format!("invalid value for header {name}")).with_source(e)),
        }
        self
    }

    /// Set a header whose value is secret: marked sensitive, never logged, scrubbed from error text.
    pub fn secret_header(mut self, name: &str, value: &SecretString) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value.expose_secret())) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                self.headers.insert(n, v);
            }
            (Err(e), _) => self.fail(Error::validation(format!("invalid header name {name:?}")).with_source(e)),
            // The error names no part of the value.
            (_, Err(e)) => self.fail(Error::validation(format!("invalid value for header {name}")).with_source(e)),
        }
        self
    }

    /// A JSON body (`Content-Type: application/json`), serialized now so retries resend the same bytes.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(Bytes::from(bytes));
                self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(e) => self.fail(Error::validation("the request body does not serialize to JSON").with_source(e)),
        }
        self
    }

    /// A form body (`application/x-www-form-urlencoded`), e.g. an OAuth token request.
    pub fn form<I, K, V>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            s.append_pair(k.as_ref(), v.as_ref());
        }
        self.body = Some(Bytes::from(s.finish()));
        self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        self
    }

    /// A raw body with its content type (a feed document, a CSV upload).
    pub fn body(mut self, body: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = Some(body.into());
        self.header(CONTENT_TYPE.as_str(), content_type)
    }

    /// The timeout of each attempt of this request, overriding the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether this request may safely be applied twice, overriding the method's default (GET, HEAD,
    /// OPTIONS, PUT, DELETE: yes; POST, PATCH: no). Only idempotent requests are retried after a timeout,
    /// a dropped connection or a 5xx.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Send an idempotency key in the client's idempotency header (default `Idempotency-Key`): the platform
    /// applies the request at most once per key, so it is retried like an idempotent request.
    pub fn idempotency_key(mut self, key: impl AsRef<str>) -> Self {
        let name = self.client.inner.idempotency_header.clone();
        match HeaderValue::try_from(key.as_ref()) {
            Ok(v) => {
                self.headers.insert(name, v);
                self.has_idempotency_key = true;
            }
            Err(e) => self.fail(Error::validation("invalid idempotency key").with_source(e)),
        }
        self
    }

    /// Name the platform operation (`"getOrders"`): it labels the span, and selects the operation's own
    /// rate-limit bucket if it has one (see [`HttpClientBuilder::operation_rate_limit`]).
    ///
    /// [`HttpClientBuilder::operation_rate_limit`]: super::HttpClientBuilder::operation_rate_limit
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// Attempts in all for this request, overriding the client's retry policy (1 = never retry).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The largest response body this request reads, in bytes, overriding the client's
    /// [`HttpClientBuilder::max_response_bytes`] (default 64 MiB) up or down: a report download that may
    /// be larger, or a small answer that never should be. Over the limit the request fails with
    /// [`ErrorKind::Decode`] and is not retried.
    ///
    /// [`HttpClientBuilder::max_response_bytes`]: super::HttpClientBuilder::max_response_bytes
    pub fn max_response_bytes(mut self, max_bytes: u64) -> Self {
        self.max_response_bytes = Some(max_bytes);
        self
    }

    /// Treat `status` as a success for this request (e.g. 404 when absence is an answer, not an error).
    pub fn accept_status(mut self, status: StatusCode) -> Self {
        self.accept.push(status);
        self
    }

    /// Classify responses the status alone does not (a `200 OK` whose body says "throttled"): when
    /// `classifier` answers [`Retry`], the response is a rate-limit refusal — retried after
    /// [`Retry::after`] like a 429 whatever the request's idempotency (the platform did nothing), with
    /// every request of the client held back as long, and surfaced as [`ErrorKind::RateLimited`] with
    /// that wait in [`Error::retry_after`] once the attempts run out or the wait is over the policy's
    /// [`max_retry_after`](super::RetryPolicy::max_retry_after). It sees every response whose body is
    /// read: successes, accepted statuses and errors (their first 64 KiB).
    pub fn classify_throttle(mut self, classifier: ThrottleClassifier) -> Self {
        self.throttle = Some(classifier);
        self
    }

    /// Attempts in all for responses the [`RequestBuilder::classify_throttle`] classifier marks as
    /// throttled (default: the retry policy's `max_attempts`). Counted apart from the attempts other
    /// failures use, so a long wait for a cost bucket does not use up the retries of a 503.
    pub fn max_throttle_attempts(mut self, attempts: u32) -> Self {
        self.max_throttle_attempts = Some(attempts.max(1));
        self
    }

    /// Send no credentials (a token request, or a pre-signed URL that carries its own).
    pub fn without_auth(mut self) -> Self {
        self.with_auth = false;
        self
    }

    /// Take no token from any rate-limit bucket (pauses still apply). For requests to another host, such as
    /// uploading a feed document to a pre-signed URL.
    pub fn without_rate_limit(mut self) -> Self {
        self.rate_limited = false;
        self
    }

    /// Send the request, retrying as the policy allows, and return the response with its raw body.
    /// Statuses other than 2xx (and those given to [`RequestBuilder::accept_status`]) become errors.
    pub async fn send(self) -> Result<Response<Bytes>> {
        let prepared = self.prepare()?;
        prepared.execute().await
    }

    /// [`RequestBuilder::send`], then decode the body as JSON (an empty body decodes as JSON `null`, so
    /// `T = ()` or `Option<_>` suit `204 No Content`).
    pub async fn send_json<T: DeserializeOwned>(self) -> Result<Response<T>> {
        let response = self.send().await?;
        let describe = response.describe.clone();
        response.try_map(|bytes| {
            let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"null" } else { &bytes };
            serde_json::from_slice(text).map_err(|e| {
                Error::decode(format!("{describe}: the response body is not the JSON expected: {}", e.classify_str()))
                    .with_source(e)
            })
        })
    }

    fn prepare(self) -> Result<Prepared<'a>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let url = self.url?;
        let inner = &self.client.inner;
        let same_origin = url.origin() == inner.base_url.origin();
        let idempotent =
            self.has_idempotency_key || self.idempotent.unwrap_or_else(|| default_idempotent(&self.method));
        let mut secrets = Vec::new();
        for (_, v) in &self.secret_query {
            secrets.push(v.expose_secret().to_owned());
        }
        for v in self.headers.values() {
            if v.is_sensitive()
                && let Ok(s) = v.to_str()
            {
                secrets.push(s.to_owned());
            }
        }
        let mut redactor = inner.redactor.clone();
        for (k, _) in &self.secret_query {
            redactor.add_param(k);
        }
        let shown_url = redactor.url(&url);
        Ok(Prepared {
            client: self.client,
            describe: format!("{} {}", self.method, shown_url),
            shown_url,
            method: self.method,
            url,
            headers: self.headers,
            secret_query: self.secret_query,
            body: self.body,
            timeout: self.timeout.unwrap_or(inner.timeout),
            idempotent,
            operation: self.operation,
            max_attempts: self.max_attempts.unwrap_or(inner.retry.max_attempts),
            throttle: self.throttle,
            max_throttle_attempts: self.max_throttle_attempts.unwrap_or(inner.retry.max_attempts),
            max_response_bytes: self.max_response_bytes.unwrap_or(inner.max_response_bytes),
            accept: self.accept,
            with_auth: self.with_auth && same_origin,
            rate_limited: self.rate_limited,
            secrets,
        })
    }
}

impl fmt::Debug for RequestBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redactor = &self.client.inner.redactor;
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url.as_ref().map(|u| redactor.url(u)).unwrap_or_default())
            .field("headers", &redactor.headers(&self.headers))
            .field("secret_query", &self.secret_query.iter().map(|(k, _)| (k.as_str(), REDACTED)).collect::<Vec<_>>())
            .field("body_bytes", &self.body.as_ref().map(Bytes::len))
            .field("operation", &self.operation)
            .field("idempotent", &self.idempotent)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// Whether a method may be applied twice with the same effect (RFC 9110 §9.2.2).
fn default_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

/// `path` joined to `base`: appended to the base path (`/v2` + `/offers` → `/v2/offers`), or parsed as is
/// when absolute.
fn join(base: &Url, path: &str, redactor: &Redactor) -> Result<Url> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return Url::parse(path).map_err(|e| Error::validation("invalid request URL").with_source(e)).and_then(|u| {
            if u.username().is_empty() && u.password().is_none() {
                Ok(u)
            } else {
                Err(Error::validation("request URLs must not hold credentials"))
            }
        });
    }
    let (p, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut url = base.clone();
    let joined = format!("{}/{}", base.path().trim_end_matches('/'), p.trim_start_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    // Keep any query in the base URL (an API version parameter), then the path's.
    let base_query: Vec<(String, String)> = base.query_pairs().into_owned().collect();
    if !base_query.is_empty() || query.is_some() {
        let mut q = url.query_pairs_mut();
        for (k, v) in &base_query {
            q.append_pair(k, v);
        }
        drop(q);
        if let Some(extra) = query {
            let merged = match url.query() {
                Some(existing) if !existing.is_empty() => format!("{existing}&{extra}"),
                _ => extra.to_owned(),
            };
            url.set_query(Some(&merged));
        }
    }
    if url.origin() != base.origin() {
        return Err(Error::validation(format!("path {} leaves the base URL", redactor.url(&url))));
    }
    Ok(url)
}

/// A request ready to go, replayable for retries.
struct Prepared<'a> {
    client: &'a HttpClient,
    method: Method,
    url: Url,
    shown_url: String,
    describe: String,
    headers: HeaderMap,
    secret_query: Vec<(String, SecretString)>,
    body: Option<Bytes>,
    timeout: Duration,
    idempotent: bool,
    operation: Option<String>,
    max_attempts: u32,
    throttle: Option<ThrottleClassifier>,
    max_throttle_attempts: u32,
    max_response_bytes: u64,
    accept: Vec<StatusCode>,
    with_auth: bool,
    rate_limited: bool,
    /// Secret values known before credentials are resolved (secret headers and query parameters).
    secrets: Vec<String>,
}

/// One failed attempt, and whether it may be retried.
struct Failure {
    error: Error,
    retry: bool,
    /// The throttle classifier said so: counted against `max_throttle_attempts`, waited exactly.
    throttled: bool,
}

impl Failure {
    fn new(error: Error, retry: bool) -> Self {
        Self { error, retry, throttled: false }
    }
}

/// Attempts made so far, in all and those the throttle classifier refused.
#[derive(Default)]
struct Counts {
    all: AtomicU32,
    throttled: AtomicU32,
}

impl Prepared<'_> {
    async fn execute(self) -> Result<Response<Bytes>> {
        let inner = &self.client.inner;
        let span = tracing::info_span!(
            "http_request",
            client = %inner.name,
            method = %self.method,
            url = %self.shown_url,
            operation = self.operation.as_deref().unwrap_or(""),
            idempotent = self.idempotent,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let counts = Counts::default();
        let policy = inner.retry;
        // Room for both budgets; `when` holds each failure to its own.
        let total = match self.throttle {
            Some(_) => self.max_attempts.saturating_add(self.max_throttle_attempts.saturating_sub(1)),
            None => self.max_attempts,
        };
        let result = (|| self.attempt(&counts))
            .retry(policy.backoff(total))
            .sleep(TokioSleeper)
            .when(|f: &Failure| f.retry && self.within_budget(f, &counts))
            .adjust(|f: &Failure, backoff: Option<Duration>| {
                let backoff = backoff?;
                match f.error.retry_after() {
                    Some(wait) if wait > policy.max_retry_after => None,
                    // The platform said how long its bucket needs: no more, no less.
                    Some(wait) if f.throttled => Some(wait),
                    Some(wait) => Some(wait.max(backoff)),
                    None => Some(backoff),
                }
            })
            .notify(|f: &Failure, wait: Duration| {
                tracing::warn!(
                    attempt = counts.all.load(Ordering::Relaxed),
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    error = %f.error,
                    "retrying"
                );
            })
            .instrument(span.clone())
            .await;
        let n = counts.all.load(Ordering::Relaxed);
        span.record("attempts", n);
        span.record("elapsed_ms", u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        match result {
            Ok(mut response) => {
                span.record("status", response.status.as_u16());
                response.attempts = n;
                Ok(response)
            }
            Err(f) => {
                if let Some(s) = f.error.status() {
                    span.record("status", s);
                }
                span.in_scope(|| tracing::debug!(attempts = n, error = %f.error, "request failed"));
                Err(f.error)
            }
        }
    }

    /// Whether `f` leaves room for another attempt: throttled answers count against
    /// `max_throttle_attempts`, everything else against `max_attempts`.
    fn within_budget(&self, f: &Failure, counts: &Counts) -> bool {
        let throttled = counts.throttled.load(Ordering::Relaxed);
        if f.throttled {
            throttled < self.max_throttle_attempts
        } else {
            counts.all.load(Ordering::Relaxed).saturating_sub(throttled) < self.max_attempts
        }
    }

    /// One attempt: wait for the rate limit, send, and turn the response into a [`Response`] or a [`Failure`].
    async fn attempt(&self, counts: &Counts) -> std::result::Result<Response<Bytes>, Failure> {
        let inner = &self.client.inner;
        inner.limits.acquire(self.operation.as_deref(), self.rate_limited).await;
        let attempt = counts.all.fetch_add(1, Ordering::Relaxed) + 1;
        let resolved = if self.with_auth {
            Resolved::resolve(&inner.auth).await.map_err(|error| Failure::new(error, false))?
        } else {
            Resolved::default()
        };
        let sent = Instant::now();
        tracing::debug!(attempt, "sending");
        let response = match self.request(&resolved).send().await {
            Ok(response) => response,
            Err(e) => return Err(self.transport_failure(e, attempt, sent)),
        };
        let status = response.status();
        let headers = response.headers().clone();
        tracing::debug!(attempt, elapsed_ms = elapsed_ms(sent), status = status.as_u16(), "response");
        if inner.adapt_to_rate_headers {
            let hints = RateLimitHeaders::parse(&headers);
            inner.limits.adapt(self.operation.as_deref(), &hints, inner.retry.max_retry_after);
        }
        let result = if status.is_success() || self.accept.contains(&status) {
            self.accepted(response, headers, attempt, sent).await
        } else {
            self.refused(response, &headers, resolved.secrets, attempt, sent).await
        };
        if matches!(&result, Err(f) if f.throttled) {
            counts.throttled.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The reqwest request of one attempt: the URL with the secret query, the headers with the credentials.
    fn request(&self, resolved: &Resolved) -> reqwest::RequestBuilder {
        let inner = &self.client.inner;
        let mut url = self.url.clone();
        if !resolved.query.is_empty() || !self.secret_query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in resolved.query.iter().chain(&self.secret_query) {
                q.append_pair(k, v.expose_secret());
            }
        }
        let mut headers = inner.default_headers.clone();
        for (k, v) in &self.headers {
            headers.insert(k, v.clone());
        }
        for (k, v) in &resolved.headers {
            headers.insert(k, v.clone());
        }
        let mut request = inner.http.request(self.method.clone(), url).headers(headers).timeout(self.timeout);
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        request
    }

    /// A response the request accepts: its body read up to the limit, unless the throttle classifier
    /// says it is a refusal.
    async fn accepted(
        &self,
        response: reqwest::Response,
        headers: HeaderMap,
        attempt: u32,
        sent: Instant,
    ) -> std::result::Result<Response<Bytes>, Failure> {
        let status = response.status();
        let limit = self.max_response_bytes;
        // Refused on the declared length before any of the body is read.
        if let Some(declared) = response.content_length().filter(|&n| n > limit) {
            return Err(self.too_large(status, Some(declared)));
        }
        let body = read_limited(response, limit).await.map_err(|e| self.transport_failure(e, attempt, sent))?;
        if body.cut {
            return Err(self.too_large(status, None));
        }
        if let Some(retry) = self.classify(status, &headers, &body.bytes) {
            return Err(self.throttled(status, retry));
        }
        Ok(Response {
            status,
            headers,
            body: body.bytes,
            attempts: attempt,
            describe: self.describe.clone(),
            redactor: self.client.inner.redactor.clone(),
        })
    }

    /// A response with an error status: read only as much of the body as the message quotes.
    async fn refused(
        &self,
        response: reqwest::Response,
        headers: &HeaderMap,
        mut secrets: Vec<String>,
        attempt: u32,
        sent: Instant,
    ) -> std::result::Result<Response<Bytes>, Failure> {
        let inner = &self.client.inner;
        let status = response.status();
        let body = read_limited(response, self.max_response_bytes.min(ERROR_BODY_READ))
            .await
            .map_err(|e| self.transport_failure(e, attempt, sent))?;
        if let Some(retry) = self.classify(status, headers, &body.bytes) {
            return Err(self.throttled(status, retry));
        }
        let kind = kind_for_status(status);
        let wait = matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
            .then(|| retry_after(headers))
            .flatten();
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Some(w) = wait
        {
            // Everyone using this bucket waits, not just this request.
            inner.limits.pause(self.operation.as_deref(), w.min(inner.retry.max_retry_after));
        }
        if kind == ErrorKind::Auth && status == StatusCode::UNAUTHORIZED {
            auth::invalidate(&inner.auth);
        }
        secrets.extend(self.secrets.iter().cloned());
        let message = self.status_message(status, &body, &secrets);
        let mut error = Error::new(kind, message).with_status(status.as_u16());
        if let Some(w) = wait {
            error = error.with_retry_after(w);
        }
        Err(Failure::new(error, status_is_retryable(status, self.idempotent)))
    }

    /// "`POST …` returned 422 Unprocessable Entity: {start of the body}", with every secret scrubbed out.
    fn status_message(&self, status: StatusCode, body: &Limited, secrets: &[String]) -> String {
        let text = String::from_utf8_lossy(&body.bytes);
        let text = if body.cut {
            // The read stopped mid-body, perhaps inside a credential the platform echoed: drop as many
            // bytes as the longest secret has, so no part of one is left for the scrub to miss.
            drop_tail(&text, secrets.iter().map(String::len).max().unwrap_or(0))
        } else {
            &text
        };
        let snippet = scrub(text.trim(), secrets);
        let mut snippet = truncate(&snippet, BODY_SNIPPET).into_owned();
        if body.cut && !snippet.is_empty() && !snippet.ends_with('…') {
            snippet.push('…');
        }
        let reason = status.canonical_reason().unwrap_or("");
        if snippet.is_empty() {
            format!("{} returned {} {reason}", self.describe, status.as_u16())
        } else {
            format!("{} returned {} {reason}: {snippet}", self.describe, status.as_u16())
        }
    }

    /// The throttle classifier's verdict on a response, if the request has one.
    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Retry> {
        let retry = (self.throttle?)(status, headers, body)?;
        tracing::debug!(
            status = status.as_u16(),
            wait_ms = u64::try_from(retry.after.as_millis()).unwrap_or(u64::MAX),
            reason = %retry.reason,
            "throttled"
        );
        Some(retry)
    }

    /// A response the throttle classifier refused: every request of the client waits (the platform's
    /// budget is the connection's), and the attempt fails as rate-limited, to be sent again.
    fn throttled(&self, status: StatusCode, retry: Retry) -> Failure {
        let inner = &self.client.inner;
        inner.limits.pause_all(retry.after.min(inner.retry.max_retry_after));
        let message = format!("{} was throttled ({}); retry in {:?}", self.describe, retry.reason, retry.after);
        let mut error = Error::new(ErrorKind::RateLimited, message).with_retry_after(retry.after);
        if !status.is_success() {
            error = error.with_status(status.as_u16());
        }
        Failure { error, retry: true, throttled: true }
    }

    /// A failure to send the request or to read its response.
    fn transport_failure(&self, e: reqwest::Error, attempt: u32, sent: Instant) -> Failure {
        let connect = e.is_connect();
        let (what, kind) = if e.is_timeout() {
            (format!("timed out after {:?}", self.timeout), ErrorKind::Transient)
        } else if connect {
            ("could not connect".to_owned(), ErrorKind::Transient)
        } else if e.is_builder() {
            ("could not build the request".to_owned(), ErrorKind::Config)
        } else if e.is_decode() {
            ("could not read the response body".to_owned(), ErrorKind::Decode)
        } else {
            ("the connection failed".to_owned(), ErrorKind::Transient)
        };
        tracing::debug!(attempt, elapsed_ms = elapsed_ms(sent), error = %what, "transport error");
        let retry = kind == ErrorKind::Transient && (connect || self.idempotent);
        let error = Error::new(kind, format!("{}: {what}", self.describe)).with_source(e.without_url());
        Failure::new(error, retry)
    }

    /// The body is larger than the request's limit (`declared`: as its `Content-Length` says). Not
    /// retried: the same request would fetch the same body.
    fn too_large(&self, status: StatusCode, declared: Option<u64>) -> Failure {
        let limit = self.max_response_bytes;
        let operation = self.operation.as_deref().map(|op| format!(" ({op})")).unwrap_or_default();
        let size = match declared {
            Some(n) => format!("is {n} bytes (Content-Length)"),
            None => "went on past it".to_owned(),
        };
        let message = format!(
            "{}{operation}: the response body is over the {limit}-byte limit: it {size}; raise \
             max_response_bytes to read it",
            self.describe
        );
        tracing::debug!(limit, declared, "response body over the limit");
        let error = Error::new(ErrorKind::Decode, message)
            .with_status(status.as_u16())
            .with_source(ResponseTooLarge { limit, content_length: declared });
        Failure::new(error, false)
    }
}

/// The source of the [`ErrorKind::Decode`] error a request fails with when its response body is over its
/// limit ([`RequestBuilder::max_response_bytes`]), for callers that tell this case apart from a body that
/// does not decode:
///
/// ```
/// # fn demo(err: &channel_core::Error) {
/// use channel_core::http::ResponseTooLarge;
/// if let Some(too_large) = std::error::Error::source(err).and_then(|s| s.downcast_ref::<ResponseTooLarge>()) {
///     println!("over the {}-byte limit", too_large.limit);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the response body is over the {limit}-byte limit")]
#[non_exhaustive]
pub struct ResponseTooLarge {
    /// The limit in force, in bytes.
    pub limit: u64,
    /// The body's size as its `Content-Length` declared it, when it had one (the body was then not read);
    /// `None` when the body was counted as it arrived and the read stopped once past the limit.
    pub content_length: Option<u64>,
}

/// Milliseconds since `since`, for logs.
fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A response body read up to a limit.
struct Limited {
    /// All of the body, or its first `limit` bytes when `cut`.
    bytes: Bytes,
    /// The body went on past the limit; the rest was not read.
    cut: bool,
}

/// Read `response`'s body chunk by chunk, stopping as soon as it passes `limit` bytes, so no more than
/// `limit` bytes are ever kept. A body that arrives in one chunk is returned without a copy.
async fn read_limited(mut response: reqwest::Response, limit: u64) -> reqwest::Result<Limited> {
    let reserve = response.content_length().unwrap_or(0).min(limit).min(PREALLOCATE_MAX);
    // At most 16 MiB, so it fits a usize on every target reqwest supports.
    let reserve = usize::try_from(reserve).unwrap_or(0);
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut total: u64 = 0;
    let mut cut = false;
    while let Some(mut chunk) = response.chunk().await? {
        // `total <= limit` holds throughout.
        let room = limit - total;
        if u64::try_from(chunk.len()).unwrap_or(u64::MAX) > room {
            // Fewer than `chunk.len()` bytes, so the conversion cannot fail.
            chunk.truncate(usize::try_from(room).unwrap_or(0));
            cut = true;
        }
        total += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        match first.take() {
            None if rest.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    rest.reserve(reserve.max(earlier.len() + chunk.len()));
                    rest.extend_from_slice(&earlier);
                }
                rest.extend_from_slice(&chunk);
            }
        }
        if cut {
            break;
        }
    }
    let bytes = first.unwrap_or_else(|| rest.freeze());
    Ok(Limited { bytes, cut })
}

/// `text` without its last `n` bytes (fewer, to stay on a character boundary; empty when shorter).
fn drop_tail(text: &str, n: usize) -> &str {
    let mut end = text.len().saturating_sub(n);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A response: status, headers and body (raw [`Bytes`] from [`RequestBuilder::send`], decoded from
/// [`RequestBuilder::send_json`]).
pub struct Response<T> {
    status: StatusCode,
    headers: HeaderMap,
    body: T,
    attempts: u32,
    describe: String,
    redactor: Redactor,
}

impl<T> Response<T> {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// All response headers (pagination `Link`, `X-WP-TotalPages`, rate-limit headers, …).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The target of the `Link` header entry with `rel="<rel>"` (`"next"` for Shopify REST and WooCommerce
    /// pagination).
    pub fn link(&self, rel: &str) -> Option<&str> {
        self.headers.get_all(http::header::LINK).iter().filter_map(|v| v.to_str().ok()).find_map(|v| find_link(v, rel))
    }

    /// The rate-limit headers this response carried.
    pub fn rate_limit_headers(&self) -> RateLimitHeaders {
        RateLimitHeaders::parse(&self.headers)
    }

    /// How many attempts it took.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The body.
    pub fn body(&self) -> &T {
        &self.body
    }

    /// The body, dropping the rest.
    pub fn into_body(self) -> T {
        self.body
    }

    /// Status, headers and body.
    pub fn into_parts(self) -> (StatusCode, HeaderMap, T) {
        (self.status, self.headers, self.body)
    }

    /// The same response with its body transformed.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        self.try_map(|b| Ok::<_, std::convert::Infallible>(f(b))).unwrap_or_else(|never| match never {})
    }

    /// The same response with its body transformed by a fallible function.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> std::result::Result<U, E>) -> std::result::Result<Response<U>, E> {
        Ok(Response {
            status: self.status,
            body: f(self.body)?,
            headers: self.headers,
            attempts: self.attempts,
            describe: self.describe,
            redactor: self.redactor,
        })
    }
}

impl Response<Bytes> {
    /// Decode the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::decode(format!(
                "{}: the response body is not the JSON expected: {}",
                self.describe,
                e.classify_str()
            ))
            .with_source(e)
        })
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::decode(format!("{}: the response body is not UTF-8", self.describe)).with_source(e))
    }
}

impl<T: fmt::Debug> fmt::Debug for Response<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("request", &self.describe)
            .field("status", &self.status)
            .field("headers", &self.redactor.headers(&self.headers))
            .field("attempts", &self.attempts)
            .field("body", &self.body)
            .finish()
    }
}

/// In one `Link` header value (`<https://…?page=3>; rel="next", <…>; rel="prev"`), the target for `rel`.
fn find_link<'v>(value: &'v str, rel: &str) -> Option<&'v str> {
    value.split(',').find_map(|entry| {
        let (target, params) = entry.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let matches = params.split(';').any(|p| {
            let Some((k, v)) = p.trim().split_once('=') else { return false };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim().trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case(rel))
        });
        matches.then_some(target)
    })
}

/// A short category for a serde_json error, without the offending text (which may be anything).
trait ClassifyStr {
    fn classify_str(&self) -> String;
}

impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> String {
        let what = match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        format!("{what} at line {} column {}", self.line(), self.column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> HttpClient {
        HttpClient::builder().base_url(base).build().unwrap()
    }

    #[test]
    fn joins_paths_to_the_base() {
        let c = client("https://api.example.com/v2/");
        let r = Redactor::default();
        let j = |p: &str| join(&c.inner.base_url, p, &r).map(|u| u.to_string());
        assert_eq!(j("/offers").unwrap(), "https://api.example.com/v2/offers");
        assert_eq!(j("offers?page=2").unwrap(), "https://api.example.com/v2/offers?page=2");
        assert_eq!(j("https://cdn.example.net/x").unwrap(), "https://cdn.example.net/x");
        assert!(j("https://u:p@cdn.example.net/x").is_err());
        let sku = super::super::encode_path_segment("A/B 1?#%");
        assert_eq!(j(&format!("/listings/{sku}")).unwrap(), "https://api.example.com/v2/listings/A%2FB%201%3F%23%25");

        let c = client("https://shop.example/wp-json/wc/v3?lang=en");
        assert_eq!(
            join(&c.inner.base_url, "products?page=2", &r).unwrap().to_string(),
            "https://shop.example/wp-json/wc/v3/products?lang=en&page=2"
        );
    }

    #[test]
    fn idempotency_defaults() {
        assert!(default_idempotent(&Method::GET) && default_idempotent(&Method::PUT));
        assert!(default_idempotent(&Method::DELETE));
        assert!(!default_idempotent(&Method::POST) && !default_idempotent(&Method::PATCH));
        let c = client("https://api.example.com");
        let p = |b: RequestBuilder<'_>| b.prepare().unwrap().idempotent;
        assert!(!p(c.post("/x")));
        assert!(p(c.post("/x").idempotent(true)));
        assert!(p(c.post("/x").idempotency_key("k-1")));
        assert!(!p(c.put("/x").idempotent(false)));
    }

    #[test]
    fn credentials_stay_on_the_origin() {
        let c = client("https://api.example.com/v1");
        assert!(c.get("/a").prepare().unwrap().with_auth);
        assert!(!c.get("https://bucket.s3.amazonaws.com/doc?X-Amz-Signature=abc").prepare().unwrap().with_auth);
        assert!(!c.get("/a").without_auth().prepare().unwrap().with_auth);
        let p = c.get("https://bucket.s3.amazonaws.com/doc?X-Amz-Signature=abc").prepare().unwrap();
        assert_eq!(p.describe, "GET https://bucket.s3.amazonaws.com/doc?X-Amz-Signature=******");
    }

    #[test]
    fn builder_mistakes_surface_at_send() {
        let c = client("https://api.example.com");
        let e = c.get("/a").header("bad header", "x").prepare().err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Validation);
        let e = c.get("/a").secret_header("x-token", &SecretString::from("bad\nsecret")).prepare().err().unwrap();
        assert!(!format!("{e:?}").contains("secret\""), "{e:?}");
    }

    #[test]
    fn futures_are_send() {
        // Adapters await these inside `#[async_trait]` methods, which require `Send` futures.
        fn is_send<T: Send>(_: T) {}
        let c = client("https://api.example.com");
        is_send(c.get("/a").send());
        is_send(c.post("/a").json(&serde_json::json!({})).send_json::<serde_json::Value>());
        fn is_shared<T: Send + Sync + Clone + 'static>(_: &T) {}
        is_shared(&c);
    }

    #[test]
    fn link_header() {
        let v = r#"<https://shop.example/wp-json/wc/v3/products?page=1>; rel="prev", <https://shop.example/wp-json/wc/v3/products?page=3>; rel="next""#;
        assert_eq!(find_link(v, "next"), Some("https://shop.example/wp-json/wc/v3/products?page=3"));
        assert_eq!(find_link(v, "prev"), Some("https://shop.example/wp-json/wc/v3/products?page=1"));
        assert_eq!(find_link(v, "last"), None);
        assert_eq!(find_link("<https://x/y>; rel=next", "next"), Some("https://x/y"));
    }
}
