//! The machinery every emulator shares. See the crate README ("Adding an emulator") for how the pieces fit.
//!
//! - [`Harness`]: the platform-neutral state — [`FaultInjector`], [`RequestLog`], [`WebhookDispatcher`] —
//!   and [`Harness::router`], which wraps a platform's API router with fault injection and request logging
//!   and adds the `/_sandbox/` routes.
//! - [`PlatformControl`]: what a platform implements so `/_sandbox/` and [`Emulator`] can seed products,
//!   read stock, place and cancel orders and register webhook receivers.
//! - [`Emulator`]: a running emulator (loopback server + harness + platform state) with the Rust-side
//!   control surface.
//! - [`TokenBucket`] / [`KeyedLimiter`]: rate limiting; [`Binding`] / [`EmulatorServer`]: the server.

mod control;
mod faults;
mod log;
mod ratelimit;
mod server;
mod webhooks;

use std::fmt;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use control::{
    ControlError, OrderFulfilment, PlaceOrder, PlacedOrder, PlatformControl, RegisterWebhook, SeedProduct,
};
pub use faults::{Fault, FaultInjector, FaultKind, FaultRequest, PartialBatch};
pub use log::{LoggedRequest, MAX_LOGGED_BODY, REDACTED, REDACTED_HEADERS, REDACTED_QUERY_PARAMS, RequestLog};
pub use ratelimit::{Decision, KeyedLimiter, RateLimit, TokenBucket};
pub use server::{Binding, ConnectionHandle, EmulatorServer, KillableListener, KillableStream};
pub use webhooks::{DeliveryRecord, Duplicates, OutgoingWebhook, WebhookConfig, WebhookDispatcher, WebhookTarget};

use crate::error::Result;

/// Largest request body the emulators accept (a 10,000-offer Takealot batch fits easily).
pub const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;

/// The body a [`FaultKind::Malformed`] fault answers with: JSON cut off mid-value.
pub const MALFORMED_BODY: &str = "{\"data\": [{\"id\": 1, \"sku\": \"trunc";

/// The platform-neutral half of an emulator: faults, request log and webhooks. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Harness {
    faults: FaultInjector,
    log: RequestLog,
    webhooks: WebhookDispatcher,
}

impl Harness {
    /// A harness with no faults, an empty log and no receivers.
    pub fn new(webhooks: WebhookConfig) -> Self {
        Self {
            faults: FaultInjector::default(),
            log: RequestLog::default(),
            webhooks: WebhookDispatcher::new(webhooks),
        }
    }

    /// The fault queue (batch handlers call [`FaultInjector::take_partial_batch`]).
    pub fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    /// The request log.
    pub fn log(&self) -> &RequestLog {
        &self.log
    }

    /// The webhook dispatcher.
    pub fn webhooks(&self) -> &WebhookDispatcher {
        &self.webhooks
    }

    /// The full router of an emulator: `api` wrapped in fault injection and request logging, plus the
    /// `/_sandbox/` routes driving `platform`. Neither faults nor the log touch `/_sandbox/`.
    pub fn router<P: PlatformControl>(&self, api: Router, platform: Arc<P>) -> Router {
        let api = api.layer(middleware::from_fn_with_state(self.clone(), fault_and_log));
        Router::new()
            .nest("/_sandbox", sandbox_routes(self.clone(), platform))
            .merge(api)
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
    }
}

/// The middleware in front of every API route: logs the request and applies the next queued fault.
async fn fault_and_log(State(harness): State<Harness>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let mut entry = log::entry_for(&parts, &bytes);
    let fault = harness.faults.next_for_request(parts.uri.path());
    entry.fault = fault.as_ref().map(|kind| kind.name().to_owned());
    let connection = parts.extensions.get::<ConnectInfo<ConnectionHandle>>().map(|info| info.0.clone());
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = match fault {
        None => next.run(request).await,
        Some(FaultKind::Delay(wait)) => {
            tokio::time::sleep(wait).await;
            next.run(request).await
        }
        Some(FaultKind::Status { status, retry_after }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let body = json!({
                "code": "sandbox_injected_fault",
                "message": "Injected fault",
                "data": {"status": status.as_u16()},
            });
            let mut response = (status, Json(body)).into_response();
            if let Some(secs) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Some(FaultKind::Malformed) => ([(header::CONTENT_TYPE, "application/json")], MALFORMED_BODY).into_response(),
        Some(FaultKind::Drop) => {
            if let Some(connection) = connection {
                connection.kill();
            }
            entry.status = None;
            harness.log.push(entry);
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        // Never returned by `next_for_request`; answered normally if it were.
        Some(FaultKind::PartialBatch) => next.run(request).await,
    };
    entry.status = Some(response.status().as_u16());
    harness.log.push(entry);
    response
}

fn control_error(err: &ControlError) -> Response {
    (err.status(), Json(json!({"error": err.to_string()}))).into_response()
}

fn bad_request(message: impl fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message.to_string()}))).into_response()
}

fn sandbox_routes<P: PlatformControl>(harness: Harness, platform: Arc<P>) -> Router {
    let state = (harness, platform);
    Router::new()
        .route("/products", post(sandbox_seed::<P>))
        .route("/stock/{sku}", get(sandbox_stock::<P>))
        .route("/orders", post(sandbox_order::<P>))
        .route("/orders/{id}/cancel", post(sandbox_cancel::<P>))
        .route("/webhooks", post(sandbox_webhook::<P>))
        .route("/deliveries", get(sandbox_deliveries::<P>))
        .route("/faults", post(sandbox_fault::<P>).get(sandbox_faults::<P>).delete(sandbox_clear_faults::<P>))
        .route("/requests", get(sandbox_requests::<P>).delete(sandbox_clear_requests::<P>))
        .route("/info", get(sandbox_info::<P>))
        .with_state(state)
}

type SandboxState<P> = State<(Harness, Arc<P>)>;

/// Parses a JSON body, answering 400 with a message when it does not fit.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|err| format!("invalid JSON body: {err}"))
}

async fn sandbox_seed<P: PlatformControl>(State((_, platform)): SandboxState<P>, body: axum::body::Bytes) -> Response {
    let seed: SeedProduct = match parse(&body) {
        Ok(seed) => seed,
        Err(message) => return bad_request(message),
    };
    match platform.seed_product(seed) {
        Ok(ids) => (StatusCode::CREATED, Json(ids)).into_response(),
        Err(err) => control_error(&err),
    }
}

async fn sandbox_stock<P: PlatformControl>(State((_, platform)): SandboxState<P>, Path(sku): Path<String>) -> Response {
    match platform.stock(&sku) {
        Ok(quantity) => Json(json!({"sku": sku, "quantity": quantity})).into_response(),
        Err(err) => control_error(&err),
    }
}

async fn sandbox_order<P: PlatformControl>(State((_, platform)): SandboxState<P>, body: axum::body::Bytes) -> Response {
    let order: PlaceOrder = match parse(&body) {
        Ok(order) => order,
        Err(message) => return bad_request(message),
    };
    match platform.place_order(order) {
        Ok(placed) => (StatusCode::CREATED, Json(placed)).into_response(),
        Err(err) => control_error(&err),
    }
}

async fn sandbox_cancel<P: PlatformControl>(State((_, platform)): SandboxState<P>, Path(id): Path<String>) -> Response {
    match platform.cancel_order(&id) {
        Ok(()) => Json(json!({"order_id": id, "cancelled": true})).into_response(),
        Err(err) => control_error(&err),
    }
}

async fn sandbox_webhook<P: PlatformControl>(
    State((_, platform)): SandboxState<P>,
    body: axum::body::Bytes,
) -> Response {
    let hook: RegisterWebhook = match parse(&body) {
        Ok(hook) => hook,
        Err(message) => return bad_request(message),
    };
    match platform.register_webhook(hook) {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(err) => control_error(&err),
    }
}

async fn sandbox_deliveries<P: PlatformControl>(State((harness, _)): SandboxState<P>) -> Response {
    Json(harness.webhooks.deliveries()).into_response()
}

async fn sandbox_fault<P: PlatformControl>(State((harness, _)): SandboxState<P>, body: axum::body::Bytes) -> Response {
    let request: FaultRequest = match parse(&body) {
        Ok(request) => request,
        Err(message) => return bad_request(message),
    };
    match Fault::try_from(request) {
        Ok(fault) => {
            let count = fault.count;
            harness.faults.inject(fault);
            (StatusCode::CREATED, Json(json!({"queued": count}))).into_response()
        }
        Err(message) => bad_request(message),
    }
}

async fn sandbox_faults<P: PlatformControl>(State((harness, _)): SandboxState<P>) -> Response {
    let pending: Vec<Value> = harness
        .faults
        .pending()
        .iter()
        .map(|fault| json!({"kind": fault.kind.name(), "count": fault.count, "path": fault.path_prefix}))
        .collect();
    Json(pending).into_response()
}

async fn sandbox_clear_faults<P: PlatformControl>(State((harness, _)): SandboxState<P>) -> StatusCode {
    harness.faults.clear();
    StatusCode::NO_CONTENT
}

async fn sandbox_requests<P: PlatformControl>(State((harness, _)): SandboxState<P>) -> Response {
    Json(harness.log.entries()).into_response()
}

async fn sandbox_clear_requests<P: PlatformControl>(State((harness, _)): SandboxState<P>) -> StatusCode {
    harness.log.clear();
    StatusCode::NO_CONTENT
}

async fn sandbox_info<P: PlatformControl>(State((_, platform)): SandboxState<P>) -> Response {
    Json(Value::Object(platform.credentials())).into_response()
}

/// A running emulator: loopback server, harness and platform state, with the Rust-side control surface.
///
/// Platform modules add their own constructors and accessors with `impl Emulator<TheirPlatform>` (see
/// [`TakealotEmulator`](crate::takealot::TakealotEmulator)). Dropping it stops the server.
pub struct Emulator<P: PlatformControl> {
    platform: Arc<P>,
    harness: Harness,
    server: EmulatorServer,
}

impl<P: PlatformControl> fmt::Debug for Emulator<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("platform", &self.platform.name())
            .field("base_url", &self.server.base_url())
            .finish_non_exhaustive()
    }
}

impl<P: PlatformControl> Emulator<P> {
    /// Serves `api` (wrapped by [`Harness::router`]) on `binding` and starts webhook delivery. Call from a
    /// Tokio runtime.
    pub fn serve(binding: Binding, harness: Harness, platform: Arc<P>, api: Router) -> Self {
        harness.webhooks.start();
        let router = harness.router(api, Arc::clone(&platform));
        let server = binding.serve(router);
        Self { platform, harness, server }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The platform state (for platform-specific inspection).
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The harness (faults, log, webhooks).
    pub fn harness(&self) -> &Harness {
        &self.harness
    }

    /// `{"base_url", …credentials}`, as `stocksync sandbox` prints it.
    pub fn info(&self) -> Value {
        let mut info = serde_json::Map::new();
        info.insert("base_url".into(), Value::String(self.base_url().to_owned()));
        info.extend(self.platform.credentials());
        Value::Object(info)
    }

    /// Seeds a product (see [`PlatformControl::seed_product`]).
    pub fn seed_product(&self, seed: SeedProduct) -> Result<Value, ControlError> {
        self.platform.seed_product(seed)
    }

    /// Merchant stock of `sku` (see [`PlatformControl::stock`]).
    pub fn stock(&self, sku: &str) -> Result<Option<i64>, ControlError> {
        self.platform.stock(sku)
    }

    /// Places an order as a shopper would (see [`PlatformControl::place_order`]).
    pub fn place_order(&self, order: PlaceOrder) -> Result<PlacedOrder, ControlError> {
        self.platform.place_order(order)
    }

    /// Cancels an order (see [`PlatformControl::cancel_order`]).
    pub fn cancel_order(&self, order_id: &str) -> Result<(), ControlError> {
        self.platform.cancel_order(order_id)
    }

    /// Registers a webhook receiver; answers its id.
    pub fn register_webhook(&self, hook: RegisterWebhook) -> Result<u64, ControlError> {
        self.platform.register_webhook(hook)
    }

    /// Queues a fault for the next API requests.
    pub fn inject_fault(&self, fault: Fault) {
        self.harness.faults.inject(fault);
    }

    /// Every API request so far (credentials redacted).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.harness.log.entries()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.harness.log.clear();
    }

    /// Every webhook delivery attempt so far.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.harness.webhooks.deliveries()
    }

    /// Waits until every queued webhook delivery has been attempted.
    pub async fn webhooks_idle(&self) {
        self.harness.webhooks.idle().await;
    }

    /// Stops the server and waits for open connections to finish.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// A running emulator of any platform, for holding several in one list (`stocksync sandbox`).
pub trait RunningEmulator: fmt::Debug + Send + Sync {
    /// The platform's name (`takealot`, …).
    fn name(&self) -> &'static str;
    /// `{"base_url", …credentials}`.
    fn info(&self) -> Value;
}

impl<P: PlatformControl> RunningEmulator for Emulator<P> {
    fn name(&self) -> &'static str {
        self.platform.name()
    }

    fn info(&self) -> Value {
        Emulator::info(self)
    }
}
