//! The [`Channel`] conformance suite: the behaviour every adapter must show against its emulator.
//!
//! Each adapter's tests start its emulator, build the adapter against it, and call [`check_all`] (or the
//! individual checks). The suite drives the emulator only through the documented `/_sandbox/` HTTP control
//! surface ([`SandboxClient`]), so it works with any emulator that offers it — including one a user writes
//! for a platform of their own.
//!
//! Checks panic with a message naming what broke, like any test assertion. Capabilities decide which
//! checks apply: a channel without compare-and-set is not asked to report stale writes, and one without
//! delta adjustment must answer `adjust_stock` with [`ErrorKind::Unsupported`].
//!
//! ```no_run
//! # async fn demo(channel: std::sync::Arc<dyn channel_core::Channel>, base_url: String) {
//! use channel_testkit::conformance::{check_all, ConformanceTarget, SandboxClient};
//! let target = ConformanceTarget::new(channel, SandboxClient::new(base_url))
//!     .with_webhook_secret("whsec");
//! check_all(&target).await;
//! # }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use channel_core::{
    Channel, ChannelExt, ErrorKind, Fulfilment, Listing, ListingId, OrderCursor, OrderStatus, Outcome, StockAdjustment,
    StockUpdate, WebhookRejection, WebhookRequest,
};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long any one step may take before the check fails instead of hanging.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for an emulator's `/_sandbox/` control surface.
#[derive(Debug, Clone)]
pub struct SandboxClient {
    base_url: String,
    http: reqwest::Client,
}

/// One entry of an emulator's request log (`GET /_sandbox/requests`).
#[derive(Debug, Clone, Deserialize)]
pub struct SandboxRequest {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Query string, if any.
    #[serde(default)]
    pub query: Option<String>,
    /// Response status, once answered.
    #[serde(default)]
    pub status: Option<u16>,
    /// Whatever else the emulator records (a GraphQL operation name, a body summary, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl SandboxRequest {
    /// Whether this is a call to the platform API (not to `/_sandbox/`).
    pub fn is_api_call(&self) -> bool {
        !self.path.starts_with("/_sandbox")
    }
}

/// A failure talking to the control surface.
#[derive(Debug, thiserror::Error)]
#[error("sandbox control call {what} failed: {detail}")]
pub struct SandboxError {
    what: String,
    detail: String,
}

impl SandboxClient {
    /// A client for the emulator at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self { base_url: base_url.into().trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    /// The emulator's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, SandboxError> {
        let what = format!("{method} {path}");
        let mut req = self.http.request(method, format!("{}{path}", self.base_url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| SandboxError { what: what.clone(), detail: e.to_string() })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| SandboxError { what: what.clone(), detail: e.to_string() })?;
        if !status.is_success() {
            return Err(SandboxError { what, detail: format!("HTTP {status}: {text}") });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| SandboxError { what, detail: format!("bad JSON: {e}") })
    }

    /// Seed a merchant-fulfilled product/listing.
    pub async fn seed(&self, sku: &str, quantity: i64, price: &str) -> Result<(), SandboxError> {
        self.call(
            reqwest::Method::POST,
            "/_sandbox/products",
            Some(json!({"sku": sku, "quantity": quantity, "price": price})),
        )
        .await
        .map(drop)
    }

    /// Seed stock the channel holds (Amazon FBA, Takealot DC).
    pub async fn seed_channel_held(&self, sku: &str, quantity: i64, price: &str) -> Result<(), SandboxError> {
        let body = json!({"sku": sku, "quantity": quantity, "price": price, "fulfilment": "channel"});
        self.call(reqwest::Method::POST, "/_sandbox/products", Some(body)).await.map(drop)
    }

    /// The merchant stock the platform holds for `sku`.
    pub async fn stock(&self, sku: &str) -> Result<i64, SandboxError> {
        let path = format!("/_sandbox/stock/{}", encode_path_segment(sku));
        let v = self.call(reqwest::Method::GET, &path, None).await?;
        v.get("quantity").and_then(Value::as_i64).ok_or_else(|| SandboxError {
            what: format!("GET {path}"),
            detail: format!("no integer `quantity` in {v}"),
        })
    }

    /// Place an order as a shopper would; returns the order id.
    pub async fn place_order(&self, sku: &str, quantity: i64) -> Result<String, SandboxError> {
        let v = self
            .call(reqwest::Method::POST, "/_sandbox/orders", Some(json!({"sku": sku, "quantity": quantity})))
            .await?;
        match v.get("order_id") {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(SandboxError { what: "POST /_sandbox/orders".into(), detail: format!("no `order_id` in {v}") }),
        }
    }

    /// Cancel an order placed with [`SandboxClient::place_order`].
    pub async fn cancel_order(&self, order_id: &str) -> Result<(), SandboxError> {
        let path = format!("/_sandbox/orders/{}/cancel", encode_path_segment(order_id));
        self.call(reqwest::Method::POST, &path, None).await.map(drop)
    }

    /// Make the next `count` API requests fail: `kind` is `status`, `delay`, `drop`, `malformed` or
    /// `partial_batch`; `extra` carries `status`, `retry_after` or `delay_ms`.
    pub async fn fault(&self, kind: &str, count: u32, extra: Value) -> Result<(), SandboxError> {
        let mut body = json!({"kind": kind, "count": count});
        if let (Some(obj), Value::Object(more)) = (body.as_object_mut(), extra) {
            obj.extend(more);
        }
        self.call(reqwest::Method::POST, "/_sandbox/faults", Some(body)).await.map(drop)
    }

    /// Register a webhook receiver.
    pub async fn register_webhook(&self, url: &str, secret: &str) -> Result<(), SandboxError> {
        self.call(reqwest::Method::POST, "/_sandbox/webhooks", Some(json!({"url": url, "secret": secret})))
            .await
            .map(drop)
    }

    /// The request log.
    pub async fn requests(&self) -> Result<Vec<SandboxRequest>, SandboxError> {
        let v = self.call(reqwest::Method::GET, "/_sandbox/requests", None).await?;
        let list = match v {
            Value::Object(mut o) => o.remove("requests").unwrap_or(Value::Array(Vec::new())),
            other => other,
        };
        serde_json::from_value(list)
            .map_err(|e| SandboxError { what: "GET /_sandbox/requests".into(), detail: e.to_string() })
    }

    /// API calls (not control calls) in the log after the first `skip` entries.
    pub async fn api_calls_since(&self, skip: usize) -> Result<Vec<SandboxRequest>, SandboxError> {
        Ok(self.requests().await?.into_iter().skip(skip).filter(SandboxRequest::is_api_call).collect())
    }
}

fn encode_path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// Decides which logged requests are write calls (a GraphQL mutation, a `PATCH`, a batch `POST`).
pub type WriteClassifier = Arc<dyn Fn(&SandboxRequest) -> bool + Send + Sync>;

/// An adapter wired to its emulator, ready for the suite.
#[derive(Clone)]
pub struct ConformanceTarget {
    channel: Arc<dyn Channel>,
    sandbox: SandboxClient,
    webhook_secret: Option<String>,
    is_write: WriteClassifier,
    sku_prefix: String,
}

impl fmt::Debug for ConformanceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConformanceTarget")
            .field("channel", &self.channel)
            .field("sandbox", &self.sandbox.base_url)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "******"))
            .field("sku_prefix", &self.sku_prefix)
            .finish_non_exhaustive()
    }
}

impl ConformanceTarget {
    /// A target; by default any non-`GET` API request counts as a write call.
    pub fn new(channel: Arc<dyn Channel>, sandbox: SandboxClient) -> Self {
        Self {
            channel,
            sandbox,
            webhook_secret: None,
            is_write: Arc::new(|r: &SandboxRequest| r.method != "GET"),
            sku_prefix: "CONF".into(),
        }
    }

    /// The secret the emulator should sign webhooks with, which the channel was configured with.
    #[must_use]
    pub fn with_webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.webhook_secret = Some(secret.into());
        self
    }

    /// How to recognise write calls in the request log (GraphQL needs this: every call is a `POST`).
    #[must_use]
    pub fn with_write_classifier(mut self, f: impl Fn(&SandboxRequest) -> bool + Send + Sync + 'static) -> Self {
        self.is_write = Arc::new(f);
        self
    }

    /// A prefix for the SKUs the suite seeds, so several checks can share one emulator.
    #[must_use]
    pub fn with_sku_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sku_prefix = prefix.into();
        self
    }

    /// The channel under test.
    pub fn channel(&self) -> &Arc<dyn Channel> {
        &self.channel
    }

    /// The emulator's control client.
    pub fn sandbox(&self) -> &SandboxClient {
        &self.sandbox
    }

    fn sku(&self, check: &str, i: usize) -> String {
        format!("{}-{check}-{i:04}", self.sku_prefix)
    }

    async fn write_calls_since(&self, skip: usize) -> usize {
        let calls = step("read the request log", self.sandbox.api_calls_since(skip)).await;
        calls.iter().filter(|r| (self.is_write)(r)).count()
    }

    async fn api_calls_since(&self, skip: usize) -> usize {
        step("read the request log", self.sandbox.api_calls_since(skip)).await.len()
    }

    async fn log_len(&self) -> usize {
        step("read the request log", self.sandbox.requests()).await.len()
    }

    async fn listings_by_sku(&self, prefix: &str) -> BTreeMap<String, Vec<Listing>> {
        let all = step("list listings", self.channel.all_listings()).await;
        let mut map: BTreeMap<String, Vec<Listing>> = BTreeMap::new();
        for l in all.into_iter().filter(|l| l.channel_sku.starts_with(prefix)) {
            map.entry(l.channel_sku.clone()).or_default().push(l);
        }
        map
    }
}

async fn step<T, E: fmt::Display>(what: &str, fut: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("conformance: {what}: {e}"),
        Err(_) => panic!("conformance: {what}: no answer within {STEP_TIMEOUT:?}"),
    }
}

fn merchant(listings: &[Listing]) -> &Listing {
    match listings.iter().find(|l| l.fulfilment == Fulfilment::Merchant) {
        Some(l) => l,
        None => panic!("conformance: no merchant-fulfilled listing among {listings:?}"),
    }
}

/// Run every check that the channel's capabilities call for.
pub async fn check_all(t: &ConformanceTarget) {
    check_identity(t).await;
    check_lists_everything(t).await;
    check_get_listings(t).await;
    check_set_stock(t).await;
    check_batching(t).await;
    check_compare_and_set(t).await;
    check_adjust(t).await;
    check_channel_held_stock(t).await;
    check_orders(t).await;
    check_survives_faults(t).await;
    check_webhooks(t).await;
}

/// `test_connection` names the account, on the right channel.
pub async fn check_identity(t: &ConformanceTarget) {
    let id = step("test_connection", t.channel.test_connection()).await;
    assert_eq!(id.channel, t.channel.kind(), "identity names another channel");
    assert!(!id.account_id.trim().is_empty(), "identity has an empty account id");
}

/// `get_listings` reads the listings asked for and no others: each once, as `listings` shows them, ids the
/// channel does not know left out, and nothing read for no ids. Its cost is the listings asked for, not
/// the catalog: with more than three pages of listings, one known and one unknown id take at most one read
/// call each (plus one, for a token), where reading the catalog would take four or more.
pub async fn check_get_listings(t: &ConformanceTarget) {
    let page = t.channel.capabilities().listing_page_size.max(1);
    for i in 0..page * 3 + 1 {
        step("seed", t.sandbox.seed(&t.sku("get-fill", i), 1, "10.00")).await;
    }
    for i in 0..3 {
        step("seed", t.sandbox.seed(&t.sku("get", i), i64::try_from(i).unwrap_or(0) + 4, "10.00")).await;
    }
    let listed = t.listings_by_sku(&format!("{}-get-0", t.sku_prefix)).await;
    let wanted: Vec<Listing> = (0..3)
        .map(|i| {
            let sku = t.sku("get", i);
            let Some(ls) = listed.get(&sku) else { panic!("conformance: {sku} missing from listings") };
            merchant(ls).clone()
        })
        .collect();
    let unknown = ListingId::new(format!("{}-no-such-listing", t.sku_prefix));
    let mut ids: Vec<ListingId> = wanted.iter().map(|l| l.id.clone()).collect();
    ids.push(unknown.clone());

    let skip = t.log_len().await;
    assert!(step("get_listings of no ids", t.channel.get_listings(&[])).await.is_empty());
    assert_eq!(t.api_calls_since(skip).await, 0, "get_listings of no ids made API calls");

    let got = step("get_listings", t.channel.get_listings(&ids)).await;
    for w in &wanted {
        let found: Vec<&Listing> = got.iter().filter(|l| l.id == w.id).collect();
        assert_eq!(found.len(), 1, "get_listings returned {} listings for {}", found.len(), w.id);
        assert_eq!(found[0].channel_sku, w.channel_sku, "{}: another SKU than listings shows", w.id);
        assert_eq!(found[0].quantity(), w.quantity(), "{}: another quantity than listings shows", w.id);
    }
    assert!(
        got.iter().all(|l| ids.contains(&l.id)),
        "get_listings returned listings not asked for: {:?}",
        got.iter().map(|l| &l.id).collect::<Vec<_>>()
    );

    let skip = t.log_len().await;
    let two = [wanted[2].id.clone(), unknown];
    let got = step("get_listings", t.channel.get_listings(&two)).await;
    let calls = t.api_calls_since(skip).await;
    assert_eq!(got.len(), 1, "get_listings of one known and one unknown id returned {} listings", got.len());
    assert!(calls <= 3, "get_listings of 2 ids made {calls} API calls: it reads the catalog, not the listings");
}

/// Every seeded listing is listed once, over more than two pages, with its SKU and quantity.
pub async fn check_lists_everything(t: &ConformanceTarget) {
    let page = t.channel.capabilities().listing_page_size.max(1);
    let n = (page * 2 + 3).min(260);
    let prefix = format!("{}-list-", t.sku_prefix);
    for i in 0..n {
        let qty = i64::try_from(i % 17).unwrap_or(0);
        step("seed", t.sandbox.seed(&t.sku("list", i), qty, "10.00")).await;
    }
    let listed = t.listings_by_sku(&prefix).await;
    assert_eq!(listed.len(), n, "expected {n} seeded SKUs in the listings, found {}", listed.len());
    let mut ids = HashSet::new();
    for (i, sku) in (0..n).map(|i| (i, t.sku("list", i))) {
        let Some(ls) = listed.get(&sku) else { panic!("conformance: {sku} missing from listings") };
        let l = merchant(ls);
        assert_eq!(l.quantity(), Some(i64::try_from(i % 17).unwrap_or(0)), "{sku}: wrong quantity");
        assert!(ids.insert(l.id.clone()), "listing id {} appears twice", l.id);
    }
}

/// `set_stock` applies every update, reports one outcome per item in order, and an empty call costs nothing.
pub async fn check_set_stock(t: &ConformanceTarget) {
    let prefix = format!("{}-set-", t.sku_prefix);
    for i in 0..5usize {
        step("seed", t.sandbox.seed(&t.sku("set", i), 3, "10.00")).await;
    }
    let listed = t.listings_by_sku(&prefix).await;
    let updates: Vec<StockUpdate> = (0..5u8)
        .map(|i| {
            let l = merchant(&listed[&t.sku("set", usize::from(i))]);
            StockUpdate::new(l.id.clone(), l.channel_sku.clone(), 10 + i64::from(i))
                .with_ids(l.ids.clone())
                .expecting(3)
        })
        .collect();
    let outcomes = step("set_stock", t.channel.set_stock(&updates)).await;
    assert_eq!(outcomes.len(), updates.len(), "one outcome per update");
    for (u, o) in updates.iter().zip(&outcomes) {
        assert_eq!(o.listing, u.listing, "outcomes must come back in input order");
        assert!(o.is_applied(), "{}: {:?}", u.channel_sku, o.outcome);
    }
    for i in 0..5u8 {
        let sku = t.sku("set", usize::from(i));
        let on_platform = step("sandbox stock", t.sandbox.stock(&sku)).await;
        assert_eq!(on_platform, 10 + i64::from(i), "{sku} not written");
    }
    let before = t.log_len().await;
    let none = step("set_stock(empty)", t.channel.set_stock(&[])).await;
    assert!(none.is_empty(), "an empty write returns no outcomes");
    assert_eq!(t.write_calls_since(before).await, 0, "an empty write must not call the platform");
}

/// Pushing N updates costs exactly `ceil(N / max_stock_batch)` write calls.
pub async fn check_batching(t: &ConformanceTarget) {
    let max = t.channel.capabilities().max_stock_batch.max(1);
    let n = (max + max / 2 + 1).min(max * 2).min(400);
    let prefix = format!("{}-batch-", t.sku_prefix);
    for i in 0..n {
        step("seed", t.sandbox.seed(&t.sku("batch", i), 1, "5.00")).await;
    }
    let listed = t.listings_by_sku(&prefix).await;
    let updates: Vec<StockUpdate> = (0..n)
        .map(|i| {
            let l = merchant(&listed[&t.sku("batch", i)]);
            StockUpdate::new(l.id.clone(), l.channel_sku.clone(), 7).with_ids(l.ids.clone()).expecting(1)
        })
        .collect();
    let before = t.log_len().await;
    let outcomes = step("set_stock(batch)", t.channel.set_stock(&updates)).await;
    assert!(outcomes.iter().all(|o| o.is_applied()), "every item of a clean batch applies: {outcomes:?}");
    let writes = t.write_calls_since(before).await;
    assert_eq!(writes, n.div_ceil(max), "{n} updates with batch maximum {max}");
}

/// Compare-and-set: a write expecting a quantity the channel no longer shows comes back stale, unapplied.
pub async fn check_compare_and_set(t: &ConformanceTarget) {
    if !t.channel.capabilities().compare_and_set {
        return;
    }
    let sku = t.sku("cas", 0);
    step("seed", t.sandbox.seed(&sku, 8, "10.00")).await;
    let listed = t.listings_by_sku(&sku).await;
    let l = merchant(&listed[&sku]);
    let update = StockUpdate::new(l.id.clone(), l.channel_sku.clone(), 3).with_ids(l.ids.clone()).expecting(5);
    let outcomes = step("set_stock(stale)", t.channel.set_stock(&[update])).await;
    match &outcomes[..] {
        [o] => assert_eq!(o.outcome, Outcome::Stale { actual: Some(8) }, "stale write"),
        other => panic!("conformance: one outcome expected, got {other:?}"),
    }
    assert_eq!(step("sandbox stock", t.sandbox.stock(&sku)).await, 8, "a stale write must not apply");
}

/// Delta adjustment where supported; `Unsupported` otherwise.
pub async fn check_adjust(t: &ConformanceTarget) {
    let sku = t.sku("adjust", 0);
    step("seed", t.sandbox.seed(&sku, 9, "10.00")).await;
    let listed = t.listings_by_sku(&sku).await;
    let l = merchant(&listed[&sku]);
    let adj = StockAdjustment::new(l.id.clone(), l.channel_sku.clone(), -2).with_ids(l.ids.clone());
    let result = tokio::time::timeout(STEP_TIMEOUT, t.channel.adjust_stock(std::slice::from_ref(&adj)))
        .await
        .unwrap_or_else(|_| panic!("conformance: adjust_stock hung"));
    if t.channel.capabilities().delta_adjust {
        let outcomes = result.unwrap_or_else(|e| panic!("conformance: adjust_stock: {e}"));
        assert!(outcomes.len() == 1 && outcomes[0].is_applied(), "{outcomes:?}");
        assert_eq!(step("sandbox stock", t.sandbox.stock(&sku)).await, 7);
    } else {
        let err = result.expect_err("adjust_stock must fail on a channel without delta_adjust");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(step("sandbox stock", t.sandbox.stock(&sku)).await, 9, "nothing may change");
    }
}

/// Stock the channel holds is listed as channel-fulfilled and never written.
pub async fn check_channel_held_stock(t: &ConformanceTarget) {
    if !t.channel.capabilities().channel_held_stock {
        return;
    }
    let sku = t.sku("held", 0);
    step("seed", t.sandbox.seed_channel_held(&sku, 40, "10.00")).await;
    let listed = t.listings_by_sku(&sku).await;
    let Some(held) = listed.get(&sku).and_then(|ls| ls.iter().find(|l| l.fulfilment == Fulfilment::Channel)) else {
        panic!("conformance: no channel-fulfilled listing for {sku}: {listed:?}");
    };
    assert_eq!(held.quantity(), Some(40), "channel-held quantity");
    let update = StockUpdate::new(held.id.clone(), held.channel_sku.clone(), 1).with_ids(held.ids.clone());
    let before = t.log_len().await;
    let outcomes = step("set_stock(channel-held)", t.channel.set_stock(&[update])).await;
    assert!(
        matches!(outcomes.as_slice(), [o] if matches!(o.outcome, Outcome::Rejected { retryable: false, .. })),
        "a write to channel-held stock is rejected per item: {outcomes:?}"
    );
    assert_eq!(t.write_calls_since(before).await, 0, "channel-held stock must never reach the platform");
}

/// Orders placed on the platform come back from `orders_since`, with their lines; cancellation shows.
pub async fn check_orders(t: &ConformanceTarget) {
    let sku = t.sku("order", 0);
    step("seed", t.sandbox.seed(&sku, 10, "10.00")).await;
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let order_id = step("place order", t.sandbox.place_order(&sku, 2)).await;
    assert_eq!(step("sandbox stock", t.sandbox.stock(&sku)).await, 8, "an order moves merchant stock");
    let cursor = OrderCursor::new(since);
    let find = |pages: Vec<channel_core::OrderPage>| {
        pages.into_iter().flat_map(|p| p.orders).rfind(|o| o.id.as_str() == order_id)
    };
    let pages: Vec<_> = step("orders_since", t.channel.orders_since(&cursor).try_collect()).await;
    assert!(pages.iter().all(|p| p.next.since >= since), "a page's cursor never moves backwards");
    let Some(order) = find(pages) else { panic!("conformance: order {order_id} not returned by orders_since") };
    let line = order.lines.iter().find(|l| l.channel_sku == sku);
    assert!(matches!(line, Some(l) if l.quantity == 2), "order {order_id} has no line for 2 × {sku}: {order:?}");
    assert!(!order.status.releases_stock(), "a new order is not cancelled: {:?}", order.status);

    step("cancel order", t.sandbox.cancel_order(&order_id)).await;
    let pages: Vec<_> = step("orders_since", t.channel.orders_since(&cursor).try_collect()).await;
    let Some(order) = find(pages) else { panic!("conformance: cancelled order {order_id} not returned") };
    assert_eq!(order.status, OrderStatus::Cancelled, "cancellation must show");
}

/// Reads survive a throttle with `Retry-After`, server errors and a dropped connection.
pub async fn check_survives_faults(t: &ConformanceTarget) {
    step("fault", t.sandbox.fault("status", 1, json!({"status": 429, "retry_after": 1}))).await;
    step("test_connection after 429", t.channel.test_connection()).await;
    step("fault", t.sandbox.fault("status", 2, json!({"status": 503}))).await;
    step("test_connection after 503s", t.channel.test_connection()).await;
    step("fault", t.sandbox.fault("drop", 1, json!({}))).await;
    step("test_connection after a dropped connection", t.channel.test_connection()).await;
}

/// Genuine deliveries verify; tampered and unsigned ones are rejected with 401.
pub async fn check_webhooks(t: &ConformanceTarget) {
    if !t.channel.capabilities().webhooks {
        return;
    }
    let Some(secret) = &t.webhook_secret else {
        panic!("conformance: the channel delivers webhooks; give the target its secret")
    };
    let receiver = Receiver::start().await;
    step("register webhook", t.sandbox.register_webhook(&receiver.url, secret)).await;
    let sku = t.sku("hook", 0);
    step("seed", t.sandbox.seed(&sku, 5, "10.00")).await;
    step("place order", t.sandbox.place_order(&sku, 1)).await;
    let deliveries = receiver.wait_for_json(STEP_TIMEOUT).await;
    assert!(!deliveries.is_empty(), "no signed delivery arrived");
    for d in &deliveries {
        let event = t.channel.verify_webhook(&d.to_request(&receiver.url, None));
        let event = event.unwrap_or_else(|r| panic!("conformance: genuine delivery rejected: {r}"));
        assert!(!event.topic.is_empty(), "a delivery has a topic");

        let mut tampered = d.body.clone();
        tampered.extend_from_slice(b" ");
        let rejection = t.channel.verify_webhook(&d.to_request(&receiver.url, Some(tampered)));
        assert!(
            matches!(rejection, Err(WebhookRejection::BadSignature)),
            "a tampered body must fail the signature: {rejection:?}"
        );

        let unsigned = d.without_signature().to_request(&receiver.url, None);
        let rejection = t.channel.verify_webhook(&unsigned).expect_err("an unsigned delivery must be rejected");
        assert_eq!(rejection.http_status(), 401, "{rejection}");
    }
}

#[derive(Debug, Clone)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Delivery {
    fn to_request(&self, url: &str, body: Option<Vec<u8>>) -> WebhookRequest {
        let mut req = WebhookRequest::new(body.unwrap_or_else(|| self.body.clone())).with_url(url);
        for (n, v) in &self.headers {
            req = req.header(n.clone(), v.clone());
        }
        req
    }

    fn without_signature(&self) -> Self {
        let keep = |n: &str| {
            let n = n.to_ascii_lowercase();
            !(n.contains("signature") || n.contains("hmac"))
        };
        Self { headers: self.headers.iter().filter(|(n, _)| keep(n)).cloned().collect(), body: self.body.clone() }
    }
}

/// A loopback HTTP server that records webhook deliveries.
#[derive(Debug)]
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        use axum::body::Bytes;
        use axum::http::HeaderMap;
        let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let sink = Arc::clone(&sink);
                async move {
                    let headers = headers
                        .iter()
                        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .collect();
                    if let Ok(mut s) = sink.lock() {
                        s.push(Delivery { headers, body: body.to_vec() });
                    }
                    "ok"
                }
            }),
        );
        let listener = step("bind receiver", tokio::net::TcpListener::bind("127.0.0.1:0")).await;
        let addr = step("receiver address", async { listener.local_addr() }).await;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url: format!("http://{addr}/hook"), seen, task }
    }

    /// Deliveries with a JSON body (pings with form bodies are left out), waiting for at least one.
    async fn wait_for_json(&self, limit: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got: Vec<Delivery> = self
                .seen
                .lock()
                .map(|s| s.iter().filter(|d| serde_json::from_slice::<Value>(&d.body).is_ok()).cloned().collect())
                .unwrap_or_default();
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
