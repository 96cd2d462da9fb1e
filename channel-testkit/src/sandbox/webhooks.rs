//! Webhook delivery: registered receivers, a background queue that POSTs each delivery in order, and a
//! record of what happened to each.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};

/// How often a delivery is sent twice (platforms such as Shopify do deliver duplicates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Duplicates {
    /// Each delivery once.
    #[default]
    Never,
    /// Every delivery twice, with identical headers and body.
    Always,
    /// Every n-th delivery (1-based count across the emulator) twice.
    EveryNth(u32),
}

/// Webhook delivery settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// Duplicate deliveries.
    pub duplicates: Duplicates,
    /// Per-delivery timeout (the platforms give receivers about 5 s).
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self { duplicates: Duplicates::Never, timeout: Duration::from_secs(5) }
    }
}

/// A registered receiver.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookTarget {
    /// The emulator-assigned id (WooCommerce's webhook id, …).
    pub id: u64,
    /// Where deliveries go.
    pub url: String,
    /// The signing secret.
    pub secret: String,
    /// Only these topics; every topic when `None`.
    pub topics: Option<Vec<String>>,
}

impl WebhookTarget {
    /// Whether this receiver wants `topic`.
    pub fn wants(&self, topic: &str) -> bool {
        self.topics.as_ref().is_none_or(|topics| topics.iter().any(|t| t == topic))
    }
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"******")
            .field("topics", &self.topics)
            .finish()
    }
}

/// One HTTP request to send to a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingWebhook {
    /// The topic or event name, for the delivery record.
    pub topic: String,
    /// Headers, including the platform's signature headers.
    pub headers: Vec<(String, String)>,
    /// `Content-Type`.
    pub content_type: String,
    /// The exact body bytes (the signature covers these).
    pub body: Bytes,
}

impl OutgoingWebhook {
    /// A JSON delivery.
    pub fn json(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self { topic: topic.into(), headers: Vec::new(), content_type: "application/json".into(), body: body.into() }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryRecord {
    /// The receiver's id.
    pub target_id: u64,
    /// The receiver's URL.
    pub url: String,
    /// The topic or event.
    pub topic: String,
    /// Whether this attempt was a deliberate duplicate.
    pub duplicate: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// The transport error, if it did not.
    pub error: Option<String>,
}

#[derive(Debug)]
struct Job {
    target: WebhookTarget,
    webhook: OutgoingWebhook,
    duplicate: bool,
}

#[derive(Debug)]
struct Inner {
    config: WebhookConfig,
    next_id: AtomicU64,
    sent: AtomicU64,
    targets: Mutex<Vec<WebhookTarget>>,
    records: Mutex<Vec<DeliveryRecord>>,
    pending: AtomicUsize,
    idle: Notify,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
}

/// Registered receivers and the delivery queue. Cheap to clone (shared). Deliveries are made one at a time,
/// in the order they were queued, by a background task started with [`start`](Self::start) (the
/// [`Emulator`](super::Emulator) does this).
#[derive(Debug, Clone)]
pub struct WebhookDispatcher {
    inner: Arc<Inner>,
    // Outside `inner` so the delivery task (which holds `inner`) ends once every dispatcher is dropped.
    tx: mpsc::UnboundedSender<Job>,
}

impl WebhookDispatcher {
    /// A dispatcher with no receivers.
    pub fn new(config: WebhookConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                config,
                next_id: AtomicU64::new(1),
                sent: AtomicU64::new(0),
                targets: Mutex::default(),
                records: Mutex::default(),
                pending: AtomicUsize::new(0),
                idle: Notify::new(),
                rx: Mutex::new(Some(rx)),
            }),
            tx,
        }
    }

    /// Starts the delivery task on the current Tokio runtime (once; later calls do nothing).
    pub fn start(&self) {
        let rx = self.inner.rx.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(rx) = rx {
            let inner = Arc::clone(&self.inner);
            tokio::spawn(deliver_all(inner, rx));
        }
    }

    /// Registers a receiver, assigning it the next id.
    pub fn register(
        &self,
        url: impl Into<String>,
        secret: impl Into<String>,
        topics: Option<Vec<String>>,
    ) -> WebhookTarget {
        let target = WebhookTarget {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            url: url.into(),
            secret: secret.into(),
            topics,
        };
        self.inner.targets.lock().unwrap_or_else(PoisonError::into_inner).push(target.clone());
        target
    }

    /// Removes receiver `id`; answers whether it existed. Deliveries already queued still go out.
    pub fn unregister(&self, id: u64) -> bool {
        let mut targets = self.inner.targets.lock().unwrap_or_else(PoisonError::into_inner);
        let before = targets.len();
        targets.retain(|target| target.id != id);
        targets.len() != before
    }

    /// Every registered receiver.
    pub fn targets(&self) -> Vec<WebhookTarget> {
        self.inner.targets.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Queues one delivery per receiver that wants `topic`, built (and signed) by `build`.
    pub fn broadcast(&self, topic: &str, build: impl Fn(&WebhookTarget) -> OutgoingWebhook) {
        for target in self.targets().into_iter().filter(|t| t.wants(topic)) {
            let webhook = build(&target);
            self.send(&target, webhook);
        }
    }

    /// Queues one delivery to `target` (duplicated according to [`WebhookConfig::duplicates`]).
    pub fn send(&self, target: &WebhookTarget, webhook: OutgoingWebhook) {
        let n = self.inner.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let twice = match self.inner.config.duplicates {
            Duplicates::Never => false,
            Duplicates::Always => true,
            Duplicates::EveryNth(every) => every > 0 && n.is_multiple_of(u64::from(every)),
        };
        self.enqueue(Job { target: target.clone(), webhook: webhook.clone(), duplicate: false });
        if twice {
            self.enqueue(Job { target: target.clone(), webhook, duplicate: true });
        }
    }

    /// Queues one delivery to `target` exactly once, whatever the duplicate setting (for pings).
    pub fn send_once(&self, target: &WebhookTarget, webhook: OutgoingWebhook) {
        self.enqueue(Job { target: target.clone(), webhook, duplicate: false });
    }

    fn enqueue(&self, job: Job) {
        self.inner.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(job).is_err() {
            // The receiver lives in `Inner` until `start` moves it into the task, which runs until every
            // sender is gone, so sending cannot fail while `self` exists; keep the count honest anyway.
            self.finish_one();
        }
    }

    /// Every delivery attempt so far.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.inner.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Deliveries queued but not yet attempted.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
    }

    /// Waits until every queued delivery has been attempted. Needs [`start`](Self::start) to have run.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn finish_one(&self) {
        finish(&self.inner);
    }
}

fn finish(inner: &Inner) {
    if inner.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
        inner.idle.notify_waiters();
    }
}

async fn deliver_all(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let client = reqwest::Client::builder().timeout(inner.config.timeout).build().unwrap_or_default();
    while let Some(job) = rx.recv().await {
        let mut request = client
            .post(&job.target.url)
            .header("Content-Type", &job.webhook.content_type)
            .body(job.webhook.body.clone());
        for (name, value) in &job.webhook.headers {
            request = request.header(name, value);
        }
        let (status, error) = match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(err) => (None, Some(describe(&err))),
        };
        inner.records.lock().unwrap_or_else(PoisonError::into_inner).push(DeliveryRecord {
            target_id: job.target.id,
            url: job.target.url.clone(),
            topic: job.webhook.topic.clone(),
            duplicate: job.duplicate,
            status,
            error,
        });
        finish(&inner);
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else {
        "transport error".into()
    }
}
