#![cfg(feature = "http")]
//! The shared transport against `wiremock`: retries, Retry-After, idempotency, rate limits, error kinds
//! and redaction.
//!
//! Waits are asserted as lower bounds with real time (Retry-After of 1 s, pauses under a second): tokio's
//! paused clock would also fire the request timeouts while the real sockets are busy, so it cannot be used
//! here. Run with `cargo test -p channel-core --features http --test transport`.

use std::io::Write;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use channel_core::ErrorKind;
use channel_core::http::{
    Auth, AuthProvider, HeaderMap, HeaderName, HttpClient, HttpClientBuilder, Method, RateLimit, RequestSecrets,
    ResponseTooLarge, Retry, RetryPolicy, StatusCode,
};
use channel_core::secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Fast, deterministic backoff so retry tests spend their time only where they assert a wait.
fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_jitter(false)
}

fn builder(server: &MockServer) -> HttpClientBuilder {
    HttpClient::builder().name("test").base_url(format!("{}/v2", server.uri())).retry(fast_retry(4))
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

#[tokio::test]
async fn a_429_then_200_waits_the_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/offers"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/offers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"offers": [1, 2]})))
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();

    let started = Instant::now();
    let response = client.get("/offers").send_json::<serde_json::Value>().await.unwrap();
    let waited = started.elapsed();

    assert_eq!(response.body()["offers"], json!([1, 2]));
    assert_eq!(response.attempts(), 2);
    assert_eq!(requests(&server).await.len(), 2);
    // The backoff alone is 5 ms: only honouring Retry-After makes this a second.
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before the Retry-After of 1 s");
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_returned_not_waited() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let client = builder(&server).retry(fast_retry(4).with_max_retry_after(Duration::from_secs(5))).build().unwrap();

    let err = client.get("/offers").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(err.status(), Some(429));
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_429_holds_back_the_next_request_too() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .mount(&server)
        .await;
    Mock::given(path("/v2/other")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let client = builder(&server).build().unwrap();

    // This request gives up at once, but the platform's wait applies to the whole connection's bucket.
    // (The clock starts before the 429, so the pause it causes lies wholly inside the measurement.)
    let started = Instant::now();
    let err = client.get("/limited").max_attempts(1).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    client.get("/other").send().await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "sent after {waited:?}, inside the platform's Retry-After");
}

/// A GraphQL-style classifier: a body whose `errors[].extensions.code` is `THROTTLED` is a refusal, to be
/// sent again after `extensions.wait_ms`.
fn throttled_body(_: StatusCode, _: &HeaderMap, body: &[u8]) -> Option<Retry> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = v.pointer("/errors/0/extensions/code")?.as_str()?;
    (code == "THROTTLED").then(|| {
        let ms = v.pointer("/extensions/wait_ms").and_then(serde_json::Value::as_u64).unwrap_or(0);
        Retry::after(Duration::from_millis(ms)).reason(code)
    })
}

fn throttled_200(wait_ms: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"wait_ms": wait_ms}
    }))
}

#[tokio::test]
async fn a_200_the_classifier_calls_throttled_is_waited_out_and_resent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/graphql"))
        .respond_with(throttled_200(300))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"ok": true}})))
        .mount(&server)
        .await;
    // One attempt for other failures: the throttled answers have their own budget, and a POST that is not
    // idempotent is still resent (the platform did nothing).
    let client = builder(&server).retry(fast_retry(1)).build().unwrap();

    let started = Instant::now();
    let response = client
        .post("/graphql")
        .json(&json!({"query": "{ ok }"}))
        .classify_throttle(throttled_body)
        .max_throttle_attempts(3)
        .send_json::<serde_json::Value>()
        .await
        .unwrap();
    let waited = started.elapsed();

    assert_eq!(response.body()["data"]["ok"], json!(true));
    assert_eq!(response.attempts(), 3);
    assert_eq!(requests(&server).await.len(), 3);
    // The backoff alone is 5 ms: only the classifier's wait (twice 300 ms) makes this 600 ms.
    assert!(waited >= Duration::from_millis(600), "resent after {waited:?}, inside the classifier's wait");

    // Without the classifier the same 200 is a success like any other.
    server.reset().await;
    Mock::given(method("POST")).respond_with(throttled_200(300)).mount(&server).await;
    let plain = client.post("/graphql").send_json::<serde_json::Value>().await.unwrap();
    assert_eq!(plain.attempts(), 1);
}

#[tokio::test]
async fn a_classified_throttle_that_persists_fails_as_rate_limited() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(throttled_200(10)).mount(&server).await;
    let client = builder(&server).build().unwrap();

    let err =
        client.post("/graphql").classify_throttle(throttled_body).max_throttle_attempts(3).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_millis(10)));
    assert!(err.message().contains("THROTTLED"), "{err}");
    assert_eq!(requests(&server).await.len(), 3, "max_throttle_attempts, not the policy's 4");

    // A wait over the policy's max_retry_after is handed back at once, not waited out.
    server.reset().await;
    Mock::given(method("POST")).respond_with(throttled_200(60_000)).mount(&server).await;
    let client = builder(&server).retry(fast_retry(4).with_max_retry_after(Duration::from_secs(5))).build().unwrap();
    let started = Instant::now();
    let err = client.post("/graphql").classify_throttle(throttled_body).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(requests(&server).await.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_classifier_sees_error_statuses_and_keeps_its_own_budget() {
    let server = MockServer::start().await;
    // A 429 whose body carries the exact wait (Shopify's GraphQL can answer so), then a 503, then success.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "errors": [{"extensions": {"code": "THROTTLED"}}], "extensions": {"wait_ms": 20}
        })))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).with_priority(3).mount(&server).await;
    let client = builder(&server).retry(fast_retry(2)).build().unwrap();

    let response = client
        .post("/graphql")
        .idempotent(true)
        .classify_throttle(throttled_body)
        .max_throttle_attempts(3)
        .send()
        .await
        .unwrap();
    // Two throttled answers (within 3 throttled attempts) and one 503 (within the policy's 2 attempts).
    assert_eq!(response.attempts(), 4);
    assert_eq!(requests(&server).await.len(), 4);
}

#[tokio::test]
async fn repeated_500s_give_up_after_the_configured_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500).set_body_string("boom")).mount(&server).await;
    let client = builder(&server).retry(fast_retry(3)).build().unwrap();

    let err = client.get("/orders").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.is_retryable());
    assert_eq!(err.status(), Some(500));
    assert!(err.message().contains("GET") && err.message().contains("/v2/orders"), "{err}");
    assert!(err.message().contains("boom"), "the platform's body is kept: {err}");
    assert_eq!(requests(&server).await.len(), 3);

    // A per-request override wins over the client's policy.
    server.reset().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let err = client.get("/orders").max_attempts(2).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_non_idempotent_post_is_not_retried_after_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/offers/batch"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let client = builder(&server).timeout(Duration::from_millis(200)).build().unwrap();

    let err = client.post("/offers/batch").json(&json!({"offers": []})).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.message().contains("timed out"), "{err}");
    assert!(std::error::Error::source(&err).is_some(), "the reqwest error is kept as the source");
    assert_eq!(requests(&server).await.len(), 1, "the platform may have applied the POST: it must not be sent twice");

    // Nor after a 5xx: the platform may have applied it before failing.
    server.reset().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(502)).mount(&server).await;
    let err = client.post("/offers/batch").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_429_is_retried_even_for_a_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).mount(&server).await;
    let client = builder(&server).build().unwrap();
    let response = client.post("/feeds").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn idempotent_writes_are_retried() {
    let server = MockServer::start().await;
    // PATCH marked idempotent: 503 then 200.
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    // PUT (idempotent by default): 502 then 200.
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    // POST with an idempotency key: times out once, then 200.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let client = builder(&server).timeout(Duration::from_millis(200)).build().unwrap();

    let patched = client.patch("/listings/1").json(&json!({"quantity": 3})).idempotent(true).send().await.unwrap();
    assert_eq!(patched.attempts(), 2);
    let put = client.put("/stock/1").json(&json!({"quantity": 3})).send().await.unwrap();
    assert_eq!(put.attempts(), 2);
    let posted = client.post("/orders/9/fulfil").idempotency_key("fulfil-9-1").send().await.unwrap();
    assert_eq!(posted.attempts(), 2);

    let all = requests(&server).await;
    let count = |m: &str| all.iter().filter(|r| r.method.as_str() == m).count();
    assert_eq!((count("PATCH"), count("PUT"), count("POST")), (2, 2, 2));
    // Retries resend the same body and the same idempotency key.
    let patches: Vec<_> = all.iter().filter(|r| r.method.as_str() == "PATCH").map(|r| r.body.clone()).collect();
    assert_eq!(patches[0], patches[1]);
    assert_eq!(patches[0], br#"{"quantity":3}"#);
    for r in all.iter().filter(|r| r.method.as_str() == "POST") {
        assert_eq!(r.headers.get("idempotency-key").unwrap(), "fulfil-9-1");
    }
}

#[derive(Debug, Default)]
struct RotatingToken {
    issued: AtomicU32,
    invalidated: AtomicU32,
}

#[async_trait::async_trait]
impl AuthProvider for RotatingToken {
    async fn credentials(&self) -> channel_core::Result<RequestSecrets> {
        let n = self.issued.load(Ordering::SeqCst) + 1;
        Ok(RequestSecrets::new()
            .header(HeaderName::from_static("x-amz-access-token"), SecretString::from(format!("Atza|token-{n}"))))
    }

    fn invalidate(&self) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
        self.issued.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_401_is_an_auth_error_not_retried_and_the_token_is_refreshed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("x-amz-access-token", "Atza|token-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"errors": [{"code": "Unauthorized"}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("x-amz-access-token", "Atza|token-2"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let provider = Arc::new(RotatingToken::default());
    let client = builder(&server).auth(Auth::provider(Arc::clone(&provider) as Arc<dyn AuthProvider>)).build().unwrap();

    let err = client.get("/orders/v0/orders").operation("getOrders").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(401));
    assert_eq!(requests(&server).await.len(), 1);
    assert_eq!(provider.invalidated.load(Ordering::SeqCst), 1);
    assert!(!format!("{err} {err:?}").contains("token-1"));

    // The next request asks the provider again and gets the fresh token.
    let ok = client.get("/orders/v0/orders").send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn statuses_map_to_error_kinds() {
    let server = MockServer::start().await;
    for (status, p) in [(403, "/v2/s403"), (404, "/v2/s404"), (409, "/v2/s409"), (400, "/v2/s400"), (422, "/v2/s422")] {
        Mock::given(path(p)).respond_with(ResponseTemplate::new(status)).mount(&server).await;
    }
    Mock::given(path("/v2/notjson"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();
    for (p, kind) in [
        ("/s403", ErrorKind::Auth),
        ("/s404", ErrorKind::NotFound),
        ("/s409", ErrorKind::Conflict),
        ("/s400", ErrorKind::Validation),
        ("/s422", ErrorKind::Validation),
    ] {
        let err = client.get(p).send().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{p}: {err}");
        assert!(!err.is_retryable());
    }
    // None of those is retried.
    assert_eq!(requests(&server).await.len(), 5);

    let err = client.get("/notjson").send_json::<serde_json::Value>().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(std::error::Error::source(&err).is_some());

    // An accepted status is a response, not an error.
    let absent = client.get("/s404").accept_status(channel_core::http::StatusCode::NOT_FOUND).send().await.unwrap();
    assert_eq!(absent.status().as_u16(), 404);
}

#[tokio::test]
async fn a_connection_error_is_transient() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = HttpClient::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .auth(Auth::query([("consumer_secret", SecretString::from("cs_conn_secret"))]))
        .retry(fast_retry(2))
        .build()
        .unwrap();
    let err = client.post("/orders").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.message().contains("could not connect"), "{err}");
    assert!(!format!("{err} {err:?}").contains("cs_conn_secret"), "{err:?}");
}

#[tokio::test]
async fn the_rate_limiter_enforces_the_configured_rate() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    // Two requests a minute, burst two: the third must wait about half a minute.
    let client = builder(&server)
        .rate_limit(RateLimit::per_minute(NonZeroU32::new(2).unwrap()))
        .operation_rate_limit("getOrders", RateLimit::per_minute(NonZeroU32::new(1).unwrap()))
        .build()
        .unwrap();

    client.get("/a").send().await.unwrap();
    client.get("/b").send().await.unwrap();
    let third = tokio::time::timeout(Duration::from_millis(300), client.get("/c").send()).await;
    assert!(third.is_err(), "the third request went out without waiting for a token");
    assert_eq!(requests(&server).await.len(), 2);

    // An operation with its own bucket is limited separately.
    client.get("/orders").operation("getOrders").send().await.unwrap();
    let again =
        tokio::time::timeout(Duration::from_millis(300), client.get("/orders").operation("getOrders").send()).await;
    assert!(again.is_err(), "getOrders allows one request a minute");
    assert_eq!(requests(&server).await.len(), 3);

    // Clones share the buckets.
    let clone = client.clone();
    let cloned = tokio::time::timeout(Duration::from_millis(300), clone.get("/d").send()).await;
    assert!(cloned.is_err());

    // Lifting the limit lets requests through at once.
    client.set_rate_limit(None);
    tokio::time::timeout(Duration::from_secs(5), client.get("/e").send()).await.unwrap().unwrap();
}

#[tokio::test]
async fn the_rate_limiter_spaces_requests_at_the_sustained_rate() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    // One request per 100 ms, no burst: five requests span at least four periods.
    let client = builder(&server).rate_limit(RateLimit::every(Duration::from_millis(100)).unwrap()).build().unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        client.get("/a").send().await.unwrap();
    }
    let took = started.elapsed();
    // A few ms of slack: governor's clock (quanta) and std's are calibrated separately.
    assert!(took >= Duration::from_millis(390), "five requests in {took:?} at one per 100 ms");
    assert_eq!(requests(&server).await.len(), 5);
}

#[tokio::test]
async fn headers_retune_the_limiter() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/orders"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-amzn-RateLimit-Limit", "0.0167"))
        .mount(&server)
        .await;
    Mock::given(path("/v2/offers"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-RateLimit-Limit", "100")
                .insert_header("x-RateLimit-Remaining", "0")
                .insert_header("x-RateLimit-Reset", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/v2/offers")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let client = builder(&server)
        .operation_rate_limit("getOrders", RateLimit::per_second(NonZeroU32::new(20).unwrap()))
        .build()
        .unwrap();

    // Amazon: the applied rate replaces the configured one; the burst is kept.
    client.get("/orders").operation("getOrders").send().await.unwrap();
    let tuned = client.rate_limit(Some("getOrders")).unwrap();
    assert!((tuned.requests_per_second() - 0.0167).abs() < 1e-6, "{tuned:?}");
    assert_eq!(tuned.burst().get(), 20);

    // Takealot: no requests left in the window → wait for the reset before the next request.
    let started = Instant::now();
    let first = client.get("/offers").send().await.unwrap();
    assert_eq!(first.rate_limit_headers().remaining, Some(0));
    client.get("/offers").send().await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "sent after {waited:?}, before the window reset");
}

#[tokio::test]
async fn an_adapter_can_pause_the_connection() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/graphql.json"))
        .and(body_json(json!({"query": "{ shop { name } }"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"shop": {"name": "x"}}})))
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();
    // As a Shopify adapter would after reading throttleStatus from a body.
    let started = Instant::now();
    client.pause_for(Duration::from_millis(700));
    client.post("/graphql.json").json(&json!({"query": "{ shop { name } }"})).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(700), "sent during the pause");

    client.pause_operation_for("other", Duration::from_secs(60));
    tokio::time::timeout(
        Duration::from_secs(5),
        client.post("/graphql.json").json(&json!({"query": "{ shop { name } }"})).send(),
    )
    .await
    .expect("a pause on another operation does not hold this one")
    .unwrap();
}

#[tokio::test]
async fn credentials_never_leave_the_origin() {
    let api = MockServer::start().await;
    let bucket = MockServer::start().await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(200)).mount(&bucket).await;
    let client = builder(&api)
        .auth(Auth::header(HeaderName::from_static("x-shopify-access-token"), SecretString::from("shpat_secret")))
        .build()
        .unwrap();
    let url = format!("{}/feeds/doc-1?X-Amz-Signature=sig", bucket.uri());
    client.put(&url).body(b"{}".to_vec(), "application/json; charset=UTF-8").without_rate_limit().send().await.unwrap();
    let seen = requests(&bucket).await;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].headers.get("x-shopify-access-token").is_none());
    assert_eq!(seen[0].headers.get("content-type").unwrap(), "application/json; charset=UTF-8");
}

/// A `tracing` writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_in_errors_debug_or_logs() {
    const API_KEY: &str = "takealot-key-8c1f";
    const CONSUMER_KEY: &str = "ck_4f9e2b7a";
    const CONSUMER_SECRET: &str = "cs_77d01c9e";
    const SESSION: &str = "sess-5e1b";
    let secrets = [API_KEY, CONSUMER_KEY, CONSUMER_SECRET, SESSION];

    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    // Only a request that really carries every credential gets the 401 (anything else is a 404), and the
    // body echoes them back, as some platforms do.
    Mock::given(method("GET"))
        .and(path("/v2/offers"))
        .and(header("authorization", format!("Key {API_KEY}").as_str()))
        .and(header("cookie", SESSION))
        .and(query_param("consumer_key", CONSUMER_KEY))
        .and(query_param("consumer_secret", CONSUMER_SECRET))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("set-cookie", format!("session={SESSION}").as_str())
                .set_body_string(format!(
                    "invalid credentials Key {API_KEY} for consumer_key={CONSUMER_KEY}&consumer_secret={CONSUMER_SECRET}"
                )),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/ok"))
        .respond_with(ResponseTemplate::new(200).insert_header("set-cookie", format!("session={SESSION}").as_str()))
        .mount(&server)
        .await;
    let client = builder(&server)
        .auth(Auth::authorization("Key", &SecretString::from(API_KEY)))
        .auth(Auth::query([
            ("consumer_key", SecretString::from(CONSUMER_KEY)),
            ("consumer_secret", SecretString::from(CONSUMER_SECRET)),
        ]))
        .build()
        .unwrap();

    let request = client.get("/offers").query("page_number", "2").secret_header("cookie", &SecretString::from(SESSION));
    let request_debug = format!("{request:?}");
    let err = request.send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "the credentials were not all sent: {err}");
    let ok = client.get("/ok").send().await.unwrap();

    let shown = [
        ("error Display", err.to_string()),
        ("error Debug", format!("{err:?}")),
        ("client Debug", format!("{client:?}")),
        ("request Debug", request_debug),
        ("response Debug", format!("{ok:?}")),
        ("logs", String::from_utf8(logs.0.lock().unwrap().clone()).unwrap()),
    ];
    for (what, text) in &shown {
        for secret in secrets {
            assert!(!text.contains(secret), "{what} leaks {secret}:\n{text}");
        }
    }
    // …while still saying what happened.
    assert!(err.message().contains("GET") && err.message().contains("/v2/offers"), "{err}");
    assert!(err.message().contains("page_number=2"), "{err}");
    assert!(err.message().contains("consumer_secret=******"), "{err}");
    assert!(err.message().contains("invalid credentials"), "{err}");
    let logs = &shown[5].1;
    assert!(logs.contains("/v2/offers") && logs.contains("401"), "nothing useful was logged:\n{logs}");
}

#[tokio::test]
async fn responses_expose_headers_and_pagination_links() {
    let server = MockServer::start().await;
    let next = format!("{}/v2/products?page=3", server.uri());
    Mock::given(path("/v2/products"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-WP-TotalPages", "7")
                .insert_header("Link", format!("<{next}>; rel=\"next\"").as_str())
                .set_body_json(json!([{"id": 1}])),
        )
        .mount(&server)
        .await;
    Mock::given(path("/v2/products"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();

    let page = client.request(Method::GET, "/products").query("page", "2").send().await.unwrap();
    assert_eq!(page.header("x-wp-totalpages"), Some("7"));
    assert_eq!(page.json::<serde_json::Value>().unwrap(), json!([{"id": 1}]));
    let link = page.link("next").unwrap().to_owned();
    assert_eq!(link, next);
    // An absolute link on the same origin is followed as is.
    let last = client.get(&link).send_json::<Vec<serde_json::Value>>().await.unwrap();
    assert!(last.body().is_empty());
}

// ---- the bound on response bodies ----

/// A 200 whose body is `len` bytes of `b'x'`; `chunked`: sent with `Transfer-Encoding: chunked` and no
/// `Content-Length`, so the client only learns the size by reading.
fn body_of(len: usize, chunked: bool) -> ResponseTemplate {
    let template = ResponseTemplate::new(200).set_body_bytes(vec![b'x'; len]);
    if chunked { template.insert_header("transfer-encoding", "chunked") } else { template }
}

#[tokio::test]
async fn the_default_bound_is_64_mib() {
    use channel_core::http::DEFAULT_MAX_RESPONSE_BYTES;
    assert_eq!(DEFAULT_MAX_RESPONSE_BYTES, 64 * 1024 * 1024);
    let client = HttpClient::builder().base_url("https://api.example.com").build().unwrap();
    assert_eq!(client.max_response_bytes(), DEFAULT_MAX_RESPONSE_BYTES);
    let client = HttpClient::builder().base_url("https://api.example.com").max_response_bytes(10).build().unwrap();
    assert_eq!(client.max_response_bytes(), 10);
    assert!(format!("{client:?}").contains("max_response_bytes: 10"), "{client:?}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_by_its_content_length_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v2/big")).respond_with(body_of(1025, false)).mount(&server).await;
    let client = builder(&server).max_response_bytes(1024).build().unwrap();

    let err = client.get("/big").operation("getReport").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(200));
    assert_eq!(requests(&server).await.len(), 1, "a body over the limit is not fetched again");
    let m = err.message();
    assert!(m.contains("GET") && m.contains("/v2/big") && m.contains("(getReport)"), "{m}");
    assert!(m.contains("1024-byte limit") && m.contains("1025 bytes (Content-Length)"), "{m}");
    assert!(m.contains("max_response_bytes"), "says what to change: {m}");
    let source = too_large(&err).expect("a ResponseTooLarge source");
    assert_eq!((source.limit, source.content_length), (1024, Some(1025)));
}

/// The typed source of a body-over-the-limit error.
fn too_large(err: &channel_core::Error) -> Option<ResponseTooLarge> {
    std::error::Error::source(err).and_then(|s| s.downcast_ref::<ResponseTooLarge>()).copied()
}

#[tokio::test]
async fn a_body_without_content_length_is_counted_as_it_arrives() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v2/big")).respond_with(body_of(1025, true)).mount(&server).await;
    Mock::given(method("GET")).and(path("/v2/fits")).respond_with(body_of(1024, true)).mount(&server).await;
    let client = builder(&server).max_response_bytes(1024).build().unwrap();

    let err = client.get("/big").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert_eq!(err.status(), Some(200));
    assert!(err.message().contains("1024-byte limit") && err.message().contains("went on past it"), "{err}");
    let source = too_large(&err).expect("a ResponseTooLarge source");
    assert_eq!((source.limit, source.content_length), (1024, None));
    assert_eq!(requests(&server).await.len(), 1, "a body over the limit is not fetched again");

    // Exactly at the limit passes; the test's premise (no Content-Length) holds.
    let ok = client.get("/fits").send().await.unwrap();
    assert!(ok.header("content-length").is_none(), "{:?}", ok.headers());
    assert_eq!(ok.header("transfer-encoding"), Some("chunked"));
    assert_eq!(ok.body().len(), 1024);
    assert!(ok.body().iter().all(|&b| b == b'x'));
}

#[tokio::test]
async fn a_body_exactly_at_the_limit_passes() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v2/fits")).respond_with(body_of(1024, false)).mount(&server).await;
    Mock::given(method("GET")).and(path("/v2/empty")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let client = builder(&server).max_response_bytes(1024).build().unwrap();

    let ok = client.get("/fits").send().await.unwrap();
    assert_eq!(ok.header("content-length"), Some("1024"));
    assert_eq!(ok.body().len(), 1024);
    assert_eq!(ok.attempts(), 1);
    // A limit of 0 admits only an empty body.
    assert!(client.get("/empty").max_response_bytes(0).send().await.unwrap().body().is_empty());
    assert_eq!(client.get("/fits").max_response_bytes(0).send().await.unwrap_err().kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn a_request_can_raise_or_lower_the_limit() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v2/report")).respond_with(body_of(4096, false)).mount(&server).await;
    Mock::given(method("GET")).and(path("/v2/stream")).respond_with(body_of(4096, true)).mount(&server).await;
    Mock::given(method("GET")).and(path("/v2/small")).respond_with(body_of(200, false)).mount(&server).await;
    let client = builder(&server).max_response_bytes(1024).build().unwrap();

    for p in ["/report", "/stream"] {
        assert_eq!(client.get(p).send().await.unwrap_err().kind(), ErrorKind::Decode, "{p} over the client's limit");
        let raised = client.get(p).max_response_bytes(4096).send().await.unwrap();
        assert_eq!(raised.body().len(), 4096, "{p}");
        let err = client.get(p).max_response_bytes(4095).send().await.unwrap_err();
        assert!(err.message().contains("4095-byte limit"), "{err}");
    }
    // Lowered below the client's: a small answer that must stay small.
    client.get("/small").send().await.unwrap();
    let err = client.get("/small").max_response_bytes(100).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.message().contains("100-byte limit") && err.message().contains("200 bytes"), "{err}");
}

#[tokio::test]
async fn the_limit_error_names_no_secret() {
    const SIGNATURE: &str = "sig-3fa9c0de";
    const TOKEN: &str = "shpat_bd17e0";
    const SECRET: &str = "cs_5d2e8a41";
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(body_of(2048, false)).mount(&server).await;
    let client = builder(&server)
        .auth(Auth::header(HeaderName::from_static("x-shopify-access-token"), SecretString::from(TOKEN)))
        .auth(Auth::query([("consumer_secret", SecretString::from(SECRET))]))
        .max_response_bytes(1024)
        .build()
        .unwrap();

    // A pre-signed document URL on the API's own origin (so the credentials are sent too).
    let url = format!("{}/v2/documents/d-1?X-Amz-Signature={SIGNATURE}&page=2", server.uri());
    let err = client.get(&url).operation("downloadDocument").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].url.query().unwrap_or("").contains(SECRET), "the credentials were sent");
    for shown in [err.to_string(), format!("{err:?}")] {
        for secret in [SIGNATURE, TOKEN, SECRET] {
            assert!(!shown.contains(secret), "leaks {secret}: {shown}");
        }
    }
    assert!(err.message().contains("X-Amz-Signature=******") && err.message().contains("page=2"), "{err}");
    assert!(err.message().contains("/v2/documents/d-1") && err.message().contains("(downloadDocument)"), "{err}");
}

#[tokio::test]
async fn a_large_error_body_keeps_its_status_error_and_is_cut_short() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/down"))
        .respond_with(ResponseTemplate::new(503).set_body_bytes(vec![b'e'; 1 << 20]))
        .mount(&server)
        .await;
    let client = builder(&server).retry(fast_retry(2)).max_response_bytes(1024).build().unwrap();

    // The status decides, not the size: a 503 stays transient and an idempotent request is retried.
    let err = client.get("/down").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert_eq!(err.status(), Some(503));
    assert!(too_large(&err).is_none());
    assert_eq!(requests(&server).await.len(), 2);
    assert!(err.message().contains("returned 503") && err.message().contains("eee"), "{err}");
    assert!(err.message().ends_with('…'), "{err}");
}

#[tokio::test]
async fn an_error_body_cut_inside_an_echoed_credential_shows_no_part_of_it() {
    const API_KEY: &str = "takealot-key-91e07c5b22";
    let server = MockServer::start().await;
    // The read stops at the request's limit, 64 bytes: inside the echoed key.
    let body = format!("{}rejected Key {API_KEY}", "-".repeat(40));
    assert!(body.len() > 64 && body.find(API_KEY).unwrap() < 64);
    Mock::given(path("/v2/offers")).respond_with(ResponseTemplate::new(401).set_body_string(body)).mount(&server).await;
    let client = builder(&server).auth(Auth::authorization("Key", &SecretString::from(API_KEY))).build().unwrap();

    let err = client.get("/offers").max_response_bytes(64).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!err.to_string().contains("takealot-k"), "a prefix of the key leaks: {err}");
    assert!(err.message().contains("-----"), "the body is still quoted: {err}");
}

#[tokio::test]
async fn a_head_response_is_not_judged_by_the_length_it_announces() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD")).respond_with(body_of(4096, false)).mount(&server).await;
    let client = builder(&server).max_response_bytes(1024).build().unwrap();
    let ok = client.request(Method::HEAD, "/report").send().await.unwrap();
    assert_eq!(ok.header("content-length"), Some("4096"));
    assert!(ok.body().is_empty());
}

#[tokio::test]
async fn an_endless_body_is_refused_once_past_the_limit() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    // A server that answers with a chunked body that never ends, until the client hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 2 {
            line.clear();
        }
        let mut out = stream;
        let chunk = format!("1000\r\n{}\r\n", "z".repeat(0x1000));
        let mut sent = 0u64;
        if out.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err() {
            return sent;
        }
        while out.write_all(chunk.as_bytes()).is_ok() {
            sent += 0x1000;
        }
        sent
    });
    // Without the bound this would run into the timeout (a Transient error) instead.
    let client = HttpClient::builder()
        .base_url(format!("http://{addr}"))
        .timeout(Duration::from_secs(20))
        .max_response_bytes(1 << 20)
        .build()
        .unwrap();
    let err = client.get("/endless").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.message().contains("went on past it"), "{err}");
    // Joined off the runtime: the connection task that hangs up must be free to run.
    let sent = tokio::task::spawn_blocking(move || server.join().unwrap()).await.unwrap();
    assert!(sent >= 1 << 20, "the server wrote {sent} bytes");
}
