//! The webhook HTTP server of `serve` (and the demo): `POST /webhooks/{store}` hands each delivery to
//! [`Fleet::handle_webhook`] (the demo: [`SyncEngine::handle_webhook`]), with bounds on what clients may hold ([`Limits`]):
//!
//! - **headers** must arrive within `header_timeout` of the connection opening or of the previous response
//!   (an idle kept-alive connection counts too), else the connection is closed;
//! - **a body** must arrive whole within `body_timeout` of its headers, else 408 and the connection closes;
//! - **open connections** are at most `max_connections`; one over the limit is answered 503 with
//!   `Retry-After` and closed at once (not queued: a queue would hold the file descriptors the limit is
//!   there to save, and the platforms retry a 503);
//! - **a body** is at most `max_body` bytes: larger is 413, refused from its `Content-Length` before it is
//!   read, or as soon as a chunked body passes it;
//! - **bytes buffered at once** across all requests are at most `max_buffered`: a request reserves its
//!   `Content-Length` (a chunked one, each chunk as it comes) before buffering it, and holds the reservation
//!   until its delivery was handled; when the reservation cannot be had, 503 with `Retry-After`, nothing read.
//!
//! Everything else — signatures, per-store throttling of rejected deliveries (429), the audit — is the
//! engine's (see `docs/sync.md`, "Rejected webhooks").

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use channel_core::{StoreId, WebhookRequest};
use http_body_util::BodyExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use sync_engine::sync::WebhookOutcome;
use sync_engine::{Fleet, SyncEngine};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::fail::{Fail, usage};

/// How long a refused request is told to wait (`Retry-After`, seconds) when the server is full.
const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// The bounds on webhook clients (see the module docs); from `serve`'s flags, the config file's `[serve]`
/// table, or these defaults.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    header_timeout: Duration,
    body_timeout: Duration,
    max_connections: usize,
    max_body: usize,
    max_buffered: usize,
}

impl Default for Limits {
    /// Headers within 10 s, a body within 30 s (the platforms give up after 5 s: Shopify and Takealot
    /// document 5 s for the whole delivery), 256 connections, 4 MiB a body (Shopify: bodies "upwards of a
    /// megabyte"; no platform documents a maximum for plain HTTP deliveries), 64 MiB buffered at once.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_body: 4 << 20,
            max_buffered: 64 << 20,
        }
    }
}

/// `serve`'s flags for the bounds on webhook clients; each overrides the config file's `[serve]` key of the
/// same name (with `_` for `-`).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct LimitFlags {
    /// Close a connection whose request headers have not all arrived within this long (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    header_timeout: Option<Duration>,
    /// Answer 408 and close when a request body has not all arrived within this long after its headers
    /// (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    body_timeout: Option<Duration>,
    /// The most connections open at once; one more is answered 503 and closed (default 256).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// The largest delivery body accepted, e.g. `4MiB`; larger ones are answered 413 (default 4MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_body: Option<usize>,
    /// The most body bytes buffered at once across all requests, e.g. `64MiB`; a request that would pass it
    /// is answered 503 with Retry-After before its body is read (default 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_buffered: Option<usize>,
}

/// The config file's `[serve]` table: the bounds on webhook clients. Durations are written `"10s"`,
/// sizes `"4MiB"` (or a number of bytes).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeSection {
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    max_connections: Option<u32>,
    max_body: Option<String>,
    max_buffered: Option<String>,
}

impl Limits {
    /// The bounds from the flags, else the `[serve]` table, else the defaults (exit 2 on a bad value).
    pub(crate) fn resolve(flags: &LimitFlags, section: &ServeSection) -> Result<Self, Fail> {
        let default = Self::default();
        let s = section;
        let limits = Self {
            header_timeout: flags
                .header_timeout
                .or(in_file("header_timeout", &s.header_timeout, parse_duration)?)
                .unwrap_or(default.header_timeout),
            body_timeout: flags
                .body_timeout
                .or(in_file("body_timeout", &s.body_timeout, parse_duration)?)
                .unwrap_or(default.body_timeout),
            max_connections: flags
                .max_connections
                .or(s.max_connections)
                .map_or(default.max_connections, |n| n as usize),
            max_body: flags.max_body.or(in_file("max_body", &s.max_body, parse_size)?).unwrap_or(default.max_body),
            max_buffered: flags
                .max_buffered
                .or(in_file("max_buffered", &s.max_buffered, parse_size)?)
                .unwrap_or(default.max_buffered),
        };
        if limits.max_connections == 0 {
            return Err(usage("[serve] max_connections must be at least 1"));
        }
        if limits.max_buffered < limits.max_body {
            return Err(usage(format!(
                "max_buffered ({} bytes) is smaller than max_body ({} bytes): no delivery of the largest size could be read",
                limits.max_buffered, limits.max_body
            )));
        }
        Ok(limits)
    }
}

/// A `[serve]` value parsed, when it is given (exit 2 when it does not parse).
fn in_file<T>(name: &str, text: &Option<String>, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, Fail> {
    text.as_deref().map(|t| parse(t).map_err(|e| usage(format!("[serve] {name}: {e}")))).transpose()
}

/// A positive duration such as `"10s"`, `"500ms"`, `"1m"`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("expected a positive duration such as \"10s\" or \"500ms\", not {text:?}");
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| bad())?;
    match Duration::try_from(parsed) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}

/// A positive size in bytes: a number, optionally with a unit `B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`
/// (a `KB` is 1000 bytes, a `KiB` 1024). At most 4 GiB.
fn parse_size(text: &str) -> Result<usize, String> {
    let bad = || format!("expected a size such as \"4MiB\", \"512KiB\" or \"1000000\" (bytes), not {text:?}");
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let number: u64 = t[..digits].parse().map_err(|_| bad())?;
    let unit: u64 = match t[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    match number.checked_mul(unit) {
        Some(n) if n > 0 && n <= 4 << 30 => usize::try_from(n).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Who handles the deliveries.
#[derive(Clone)]
pub(crate) enum Target {
    /// One engine (the demo).
    #[cfg_attr(not(feature = "dev"), allow(dead_code))]
    Engine(SyncEngine),
    /// This worker of a fleet (`serve`): any company's stores.
    Fleet(Fleet),
}

impl Target {
    async fn handle_webhook(&self, store: &StoreId, request: &WebhookRequest) -> WebhookOutcome {
        match self {
            Self::Engine(engine) => engine.handle_webhook(store, request).await,
            Self::Fleet(fleet) => fleet.handle_webhook(store, request).await,
        }
    }
}

#[derive(Clone)]
struct Hooks {
    target: Target,
    base: String,
    buffer: Buffer,
}

/// The webhook endpoints: `POST /webhooks/{store}`, with the per-request bounds of `limits` (the
/// connection bounds are [`serve`]'s).
pub(crate) fn router(target: Target, public_base: String, limits: &Limits) -> Router {
    let buffer = Buffer {
        budget: Arc::new(Semaphore::new(limits.max_buffered)),
        max_body: limits.max_body,
        body_timeout: limits.body_timeout,
    };
    Router::new().route("/webhooks/{store}", post(receive)).with_state(Hooks { target, base: public_base, buffer })
}

async fn receive(State(hooks): State<Hooks>, UrlPath(store): UrlPath<String>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The reservation is held until the delivery was handled: the body is in memory until then.
    let (body, _reserved) = match hooks.buffer.read(&parts.headers, body).await {
        Ok(read) => read,
        Err(refused) => return refused.response(),
    };
    let mut request = WebhookRequest::new(body).with_url(format!("{}/webhooks/{store}", hooks.base));
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            request = request.header(name.as_str(), value);
        }
    }
    let outcome = hooks.target.handle_webhook(&StoreId::new(store), &request).await;
    let status = StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match &outcome {
        WebhookOutcome::Applied { topic, .. } => format!("applied {topic}"),
        WebhookOutcome::Duplicate { delivery_id } => format!("duplicate delivery {delivery_id}"),
        WebhookOutcome::Recorded { topic, .. } => format!("recorded {topic} for its company's worker"),
        WebhookOutcome::Ignored { reason, .. } => format!("ignored: {reason}"),
        WebhookOutcome::Rejected { reason, .. } | WebhookOutcome::Throttled { reason, .. } => reason.clone(),
        _ => String::new(),
    };
    let mut response = (status, text).into_response();
    if let Some(wait) = outcome.retry_after() {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    response
}

/// Reads request bodies within the per-request bounds and the global budget of bytes buffered at once.
#[derive(Clone)]
struct Buffer {
    /// One permit per byte buffered at once, across all requests.
    budget: Arc<Semaphore>,
    max_body: usize,
    body_timeout: Duration,
}

/// Why a body was not read.
#[derive(Debug)]
enum Refused {
    TooLarge(usize),
    Busy,
    Slow(Duration),
    Broken(String),
}

impl Refused {
    /// The answer: the connection is closed after it (the body may be partly unread).
    fn response(&self) -> Response {
        let (status, text) = match self {
            Self::TooLarge(max) => (StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {max} bytes")),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "too many deliveries being received at once".to_owned()),
            Self::Slow(limit) => {
                (StatusCode::REQUEST_TIMEOUT, format!("the body did not arrive within {}s", limit.as_secs_f64()))
            }
            Self::Broken(why) => (StatusCode::BAD_REQUEST, format!("the body could not be read: {why}")),
        };
        let mut response = (status, text).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        if matches!(self, Self::Busy) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_AFTER_SECS));
        }
        response
    }
}

impl Buffer {
    /// Reserve `n` more bytes of the budget, without waiting.
    fn reserve(&self, n: usize) -> Result<OwnedSemaphorePermit, Refused> {
        let n = u32::try_from(n).map_err(|_| Refused::TooLarge(self.max_body))?;
        Arc::clone(&self.budget).try_acquire_many_owned(n).map_err(|_| Refused::Busy)
    }

    /// The whole body, and its reservation of the budget.
    async fn read(&self, headers: &HeaderMap, mut body: Body) -> Result<(Vec<u8>, OwnedSemaphorePermit), Refused> {
        let declared = match headers.get(header::CONTENT_LENGTH) {
            None => None,
            Some(v) => {
                let n = v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok());
                Some(n.ok_or_else(|| Refused::Broken("the Content-Length is not a number".into()))?)
            }
        };
        let declared = match declared.map(usize::try_from) {
            Some(Ok(n)) if n <= self.max_body => Some(n),
            Some(_) => return Err(Refused::TooLarge(self.max_body)),
            None => None,
        };
        let mut reserved = self.reserve(declared.unwrap_or(0))?;
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(Refused::Slow(self.body_timeout)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(Refused::Broken(e.to_string())),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else { continue };
            let len = bytes.len() + data.len();
            if len > self.max_body {
                return Err(Refused::TooLarge(self.max_body));
            }
            if len > reserved.num_permits() {
                reserved.merge(self.reserve(len - reserved.num_permits())?);
            }
            bytes.extend_from_slice(&data);
        }
        Ok((bytes, reserved))
    }
}

/// The answer to a connection over the limit.
const FULL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\nContent-Type: text/plain\r\n\
Content-Length: 32\r\n\r\ntoo many connections; try again\n";

/// How long a shutdown waits for the requests in flight (a slow client's body may take up to the body
/// timeout; the platforms deliver again what was not answered).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serve `app` on `listener` within the connection bounds of `limits` until `shutdown` resolves, then let
/// the open connections finish their requests for up to [`SHUTDOWN_GRACE`] and return (connections still
/// open then are closed when the runtime ends).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closed) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors or similar: wait a little rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Best effort, without waiting: the connection is closed either way.
            let _ = stream.try_write(FULL);
            tracing::debug!(limit = limits.max_connections, "connection refused: too many open");
            continue;
        };
        tokio::spawn(connection(stream, app.clone(), limits.header_timeout, slot, closed.clone()));
    }
    drop(listener);
    let _ = closing.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("webhook connections still open after {SHUTDOWN_GRACE:?}: closed without an answer");
    }
    Ok(())
}

/// One connection: HTTP/1.1 with the header timeout, until it closes or the server shuts down (then the
/// request in flight finishes first).
async fn connection(
    stream: TcpStream,
    app: Router,
    header_timeout: Duration,
    _slot: OwnedSemaphorePermit,
    mut closed: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "webhook connection ended");
            }
        }
        _ = closed.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1000000"), Ok(1_000_000));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        for bad in ["", "0", "-1", "4 parsecs", "5GiB", "MiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn flags_win_over_the_file_and_the_budget_must_hold_a_body() {
        let section: ServeSection = toml::from_str("max_body = \"1MiB\"\nheader_timeout = \"3s\"").unwrap();
        let limits = Limits::resolve(&LimitFlags::default(), &section).unwrap_or_else(|f| panic!("{}", f.1));
        assert_eq!((limits.max_body, limits.header_timeout), (1 << 20, Duration::from_secs(3)));
        let flags = LimitFlags { max_body: Some(2 << 20), ..LimitFlags::default() };
        assert_eq!(Limits::resolve(&flags, &section).map(|l| l.max_body).ok(), Some(2 << 20));
        let flags = LimitFlags { max_buffered: Some(1 << 20), max_body: Some(2 << 20), ..LimitFlags::default() };
        assert!(Limits::resolve(&flags, &section).is_err());
        let bad: ServeSection = toml::from_str("body_timeout = \"forever\"").unwrap();
        assert!(Limits::resolve(&LimitFlags::default(), &bad).is_err_and(|f| f.1.contains("[serve] body_timeout")));
    }

    #[tokio::test]
    async fn a_chunked_body_past_the_limit_or_the_budget_is_refused() {
        let buffer =
            Buffer { budget: Arc::new(Semaphore::new(100)), max_body: 50, body_timeout: Duration::from_secs(60) };
        let big = Body::from(vec![0u8; 60]);
        assert!(matches!(buffer.read(&HeaderMap::new(), big).await, Err(Refused::TooLarge(50))));
        let (_, held) =
            buffer.read(&HeaderMap::new(), Body::from(vec![1u8; 50])).await.unwrap_or_else(|e| panic!("{e:?}"));
        let (_, held2) =
            buffer.read(&HeaderMap::new(), Body::from(vec![1u8; 50])).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(matches!(buffer.read(&HeaderMap::new(), Body::from(vec![1u8; 1])).await, Err(Refused::Busy)));
        drop((held, held2));
        assert!(buffer.read(&HeaderMap::new(), Body::from(vec![1u8; 50])).await.is_ok(), "released when handled");
    }
}
