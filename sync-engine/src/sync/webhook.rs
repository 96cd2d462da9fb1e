//! Webhook deliveries: verified by the adapter, deduplicated by delivery id, then dispatched (orders to
//! [`SyncEngine::ingest_order`], inventory changes to the inventory path, listing changes to a re-read).
//!
//! What a delivery claims is checked before anything is done with it. The adapter refuses a body that
//! does not have its topic's shape and reports when the platform sent it; the engine refuses, by its own
//! clock, a delivery older than the channel's [`Capabilities::webhook_max_age`] (a replay), and acts on
//! an uninstall claim only once [`Channel::confirm_access_revoked`] confirms it with the platform.
//!
//! [`Capabilities::webhook_max_age`]: channel_core::Capabilities::webhook_max_age
//! [`Channel::confirm_access_revoked`]: channel_core::Channel::confirm_access_revoked

use channel_core::{ListingId, StoreId, WebhookEvent, WebhookPayload, WebhookRejection, WebhookRequest};
use jiff::Timestamp;

use std::sync::Arc;
use std::time::Duration;

use super::rejections::{Rejections, Verdict};
use super::{IngestReport, SyncConfig, SyncEngine};
use crate::store::{AuditEntry, DeliveryRecord, HealthEvent, SyncMode, WriteBatch, WriteOp};
use crate::{Result, Store};

/// What became of a webhook delivery. [`WebhookOutcome::http_status`] is the answer to give the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// Verified and applied.
    Applied {
        /// The topic.
        topic: String,
        /// What it did to orders (zero for inventory events).
        report: IngestReport,
    },
    /// A delivery already processed (same delivery id): acknowledged, nothing applied.
    Duplicate {
        /// The delivery id.
        delivery_id: String,
    },
    /// Verified but nothing to do (a ping, an echo of the engine's own push, a channel-held listing).
    Ignored {
        /// The topic.
        topic: String,
        /// Why nothing was done.
        reason: String,
    },
    /// Verified by a worker that does not hold the store's company, and recorded in the inbox for the
    /// holder to apply ([`crate::Fleet::handle_webhook`]): answered 200, the delivery is durable.
    Recorded {
        /// The topic.
        topic: String,
        /// The companies it was recorded for (one for a client store; for a global store, each company
        /// owning a SKU or a listing the delivery names).
        companies: Vec<crate::store::CompanyId>,
    },
    /// Not accepted: nothing applied; the rejection is recorded in the audit log.
    Rejected {
        /// The HTTP status to answer with.
        status: u16,
        /// Why.
        reason: String,
    },
    /// Not accepted, and answered 429: the store's rejected deliveries passed
    /// [`SyncConfig::webhook_rejection_limit`](super::SyncConfig::webhook_rejection_limit) within the window;
    /// nothing applied, counted in the window's aggregated audit row rather than a row of its own.
    Throttled {
        /// How long until the window ends (the `Retry-After` to answer with).
        retry_after: Duration,
        /// Why it was rejected, and that it was throttled.
        reason: String,
    },
}

impl WebhookOutcome {
    /// The HTTP status to answer the platform with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Applied { .. } | Self::Duplicate { .. } | Self::Ignored { .. } | Self::Recorded { .. } => 200,
            Self::Rejected { status, .. } => *status,
            Self::Throttled { .. } => 429,
        }
    }

    /// How long the sender should wait before delivering again (`Retry-After`), when the answer says so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl SyncEngine {
    /// Verify, deduplicate and apply a webhook delivery for a store. Rejections are recorded in the audit log
    /// (field `webhook`) with their reason, and nothing is applied: 404 for a store the engine has no
    /// channel for (unknown, or removed), 403 for one that is not connected or whose sync is disabled, the
    /// channel's answer for a delivery that does not verify. A store's rejections past
    /// [`SyncConfig::webhook_rejection_limit`](super::SyncConfig::webhook_rejection_limit) within the window
    /// are answered [`WebhookOutcome::Throttled`] and audited together (see
    /// [`SyncEngine::audit_webhook_rejections`]). A delivery with a valid signature is never throttled.
    pub async fn handle_webhook(&self, store: &StoreId, request: &WebhookRequest) -> WebhookOutcome {
        let now = self.inner.clock.now();
        let Some(channel) = self.channel(store) else {
            return WebhookOutcome::Rejected { status: 404, reason: format!("no store {store}") };
        };
        let verified = match self.refusal(store).await {
            Some(refused) => Err(refused),
            None => channel
                .verify_webhook(request)
                .and_then(|event| fresh(event, channel.capabilities().webhook_max_age, now))
                .map_err(|r| (r.http_status(), r.to_string())),
        };
        let event = match verified {
            Ok(event) => event,
            Err((status, reason)) => return self.reject(store, status, reason, now).await,
        };
        match self.apply_event(store, &event, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(%store, topic = %event.topic, error = %e, "webhook could not be applied");
                // 503 makes the platform deliver it again; the delivery was not recorded.
                WebhookOutcome::Rejected { status: if e.is_retryable() { 503 } else { 500 }, reason: e.to_string() }
            }
        }
    }

    /// A rejected delivery of a store the engine has a channel for: audited on its own while the store's
    /// rejections in the window are within the limit, throttled beyond it.
    async fn reject(&self, store: &StoreId, status: u16, reason: String, now: Timestamp) -> WebhookOutcome {
        let rejected = Rejected { store, status, reason, now };
        reject_in(&self.inner.rejections, &self.inner.config, self.inner.store.as_ref(), rejected).await
    }

    /// Audit the rejected webhook deliveries that were throttled in windows that have ended: one row per
    /// store and window (field `webhook`) saying how many, from when to when, and why. The scheduler does
    /// this every tick, and [`crate::sync::RunningEngine::shutdown`] for every window; a host that handles
    /// webhooks without [`SyncEngine::start`] calls it now and then. Returns how many rows were written.
    pub async fn audit_webhook_rejections(&self) -> Result<usize> {
        self.write_rejection_rows(false).await
    }

    /// Audit the throttled rejections of ended windows, or of every window when `all`.
    pub(crate) async fn write_rejection_rows(&self, all: bool) -> Result<usize> {
        let config = &self.inner.config;
        let rows = self.inner.rejections.take_ended_of(
            self.inner.clock.now(),
            config.webhook_rejection_limit,
            config.webhook_rejection_window,
            all,
            |store| !self.inner.shared_rejections || self.channel(store).is_some(),
        );
        if rows.is_empty() {
            return Ok(0);
        }
        let n = rows.len();
        let mut batch = WriteBatch::new();
        for row in rows {
            batch.push(WriteOp::Audit(row));
        }
        self.inner.store.commit(batch).await?;
        Ok(n)
    }

    /// Apply a notification the host received and parsed itself: Amazon's, read from its SQS queue or
    /// EventBridge and parsed with `channel_amazon::webhook::parse`. Like [`SyncEngine::handle_webhook`]
    /// after verification: refused (and audited) for a store that is not connected or when older than the
    /// channel's window by the engine's clock, deduplicated by its id, then applied.
    pub async fn handle_notification(&self, store: &StoreId, event: WebhookEvent) -> WebhookOutcome {
        let now = self.inner.clock.now();
        let Some(channel) = self.channel(store) else {
            return WebhookOutcome::Rejected { status: 404, reason: format!("no store {store}") };
        };
        let checked = match self.refusal(store).await {
            Some(refused) => Err(refused),
            None => {
                fresh(event, channel.capabilities().webhook_max_age, now).map_err(|r| (r.http_status(), r.to_string()))
            }
        };
        let event = match checked {
            Ok(event) => event,
            Err((status, reason)) => return self.reject(store, status, reason, now).await,
        };
        match self.apply_event(store, &event, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(%store, topic = %event.topic, error = %e, "notification could not be applied");
                WebhookOutcome::Rejected { status: if e.is_retryable() { 503 } else { 500 }, reason: e.to_string() }
            }
        }
    }

    /// Apply a delivery that a worker not holding this company verified on receipt and recorded in the
    /// inbox (see [`crate::Fleet`]): parsed again with the store's channel, refused when the store is no
    /// longer connected or its sync is disabled, deduplicated by its delivery id (for a delivery without
    /// one, [`synthetic_delivery_id`] of its body) and applied, as [`SyncEngine::handle_webhook`] does,
    /// but without the freshness check (made on receipt: the item may have waited for its holder) and
    /// without counting rejections towards the throttle (they were counted on receipt). A store the engine
    /// has no channel for yet (connected since its last tick, or its channel could not be built then) has
    /// its connections taken in and its channel built. What may pass (the connections or the engine's
    /// state not readable, the channel not buildable now, the delivery not applicable now) is answered
    /// 503, so the item is kept; a 4xx is final (the store is gone, disconnected or disabled; the
    /// signature does not verify).
    pub(crate) async fn apply_received(&self, store: &StoreId, request: &WebhookRequest) -> WebhookOutcome {
        let now = self.inner.clock.now();
        let unavailable = |reason: String| WebhookOutcome::Rejected { status: 503, reason };
        if self.channel(store).is_none()
            && let Err(e) = self.refresh_connections().await
        {
            tracing::warn!(%store, error = %e, "could not look at the connections");
            return unavailable(format!("could not look at the connections: {e}"));
        }
        if self.inner.state.lock().await.is_none() {
            return unavailable("the engine's state is not loaded".into());
        }
        if let Some((status, reason)) = self.refusal(store).await {
            return WebhookOutcome::Rejected { status, reason };
        }
        let channel = match self.channel(store) {
            Some(channel) => channel,
            None => match self.build_channel(store).await {
                Ok(channel) => channel,
                Err(reason) => return unavailable(reason),
            },
        };
        let mut event = match channel.verify_webhook(request) {
            Ok(event) => event,
            Err(r) => return WebhookOutcome::Rejected { status: r.http_status(), reason: r.to_string() },
        };
        if event.delivery_id.is_none() {
            event.delivery_id = Some(synthetic_delivery_id(request.body()));
        }
        match self.apply_event(store, &event, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(%store, topic = %event.topic, error = %e, "recorded webhook could not be applied");
                unavailable(e.to_string())
            }
        }
    }

    /// Build a connected store's channel with the engine's connection manager and keep it; why not, if not.
    async fn build_channel(&self, store: &StoreId) -> std::result::Result<Arc<dyn channel_core::Channel>, String> {
        let Some(manager) = &self.inner.manager else { return Err(format!("no channel for store {store}")) };
        match manager.channel(store).await {
            Ok(channel) => {
                let mut channels = self.inner.channels.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                channels.insert(store.clone(), Arc::clone(&channel));
                Ok(channel)
            }
            Err(e) => Err(format!("the channel of store {store} cannot be built now ({}): {e}", e.kind())),
        }
    }

    /// Why deliveries for `store` are not accepted at all, if they are not: 403 with the reason for a
    /// store that is not connected or whose sync is disabled.
    async fn refusal(&self, store: &StoreId) -> Option<(u16, String)> {
        let connection = match self.state().await {
            Ok(guard) => {
                guard.as_ref().and_then(|s| s.connection(store)).map(|c| (c.credentials.is_some(), c.sync_mode))
            }
            Err(_) => None,
        };
        match connection {
            Some((true, SyncMode::Disabled)) => {
                Some((403, format!("webhooks are not accepted for store {store}: its sync is disabled")))
            }
            Some((true, _)) => None,
            _ => Some((403, format!("webhooks are not accepted for store {store}: it is not connected"))),
        }
    }

    async fn apply_event(&self, store: &StoreId, event: &WebhookEvent, now: Timestamp) -> Result<WebhookOutcome> {
        if let Some(id) = &event.delivery_id
            && self.inner.store.delivery_seen(store, id).await?
        {
            return Ok(WebhookOutcome::Duplicate { delivery_id: id.clone() });
        }
        let topic = event.topic.clone();
        let outcome = match &event.payload {
            WebhookPayload::Order(order) => {
                let report = self.ingest_order(store, order).await?;
                WebhookOutcome::Applied { topic: topic.clone(), report }
            }
            WebhookPayload::Inventory(change) => self.apply_inventory(store, &topic, change, None).await?,
            WebhookPayload::ListingChanged { listing, .. } => self.reread_listing(store, &topic, listing.as_ref()),
            WebhookPayload::Uninstalled => self.apply_uninstalled(store, &topic, now).await?,
            WebhookPayload::Ping => WebhookOutcome::Ignored { topic: topic.clone(), reason: "ping".into() },
            WebhookPayload::BatchCompleted { .. } => {
                WebhookOutcome::Ignored { topic: topic.clone(), reason: "batch results are read when written".into() }
            }
            _ => WebhookOutcome::Ignored { topic: topic.clone(), reason: "not handled".into() },
        };
        if let Some(id) = &event.delivery_id {
            // Recorded after applying: a crash in between makes the platform deliver again, and the order
            // lines (the unit of exactly-once) are deduplicated on their own.
            self.inner
                .store
                .commit(WriteOp::RecordDelivery(DeliveryRecord::new(store.clone(), id, &topic, now)).into())
                .await?;
        }
        Ok(outcome)
    }

    /// An uninstall claim: the signature covers the body only, so a genuine uninstall body captured
    /// earlier can be resent. Acted on (the connection needs re-authentication) only when the platform
    /// confirms that it refuses the credentials; otherwise ignored and audited as unconfirmed. A platform
    /// that cannot be asked now makes the delivery fail with a retryable error (answered 503).
    async fn apply_uninstalled(&self, store: &StoreId, topic: &str, now: Timestamp) -> Result<WebhookOutcome> {
        let Some(channel) = self.channel(store) else {
            return Ok(WebhookOutcome::Ignored { topic: topic.into(), reason: format!("no store {store}") });
        };
        if !channel.confirm_access_revoked().await? {
            let reason =
                format!("{topic} not confirmed: the platform still accepts the credentials, so nothing was changed");
            tracing::warn!(%store, %topic, "unconfirmed uninstall claim ignored");
            let entry = AuditEntry::new(store.clone(), "webhook", format!("ignored: {reason}"), now);
            self.inner.store.commit(WriteOp::Audit(entry).into()).await?;
            return Ok(WebhookOutcome::Ignored { topic: topic.into(), reason });
        }
        let event = HealthEvent::Failed {
            kind: channel_core::ErrorKind::Auth,
            message: "the app was uninstalled (confirmed: the platform refuses the credentials)".into(),
            at: now,
        };
        self.inner.store.commit(WriteOp::RecordHealth { store: store.clone(), event }.into()).await?;
        self.reload().await?;
        Ok(WebhookOutcome::Applied { topic: topic.into(), report: IngestReport::default() })
    }

    fn reread_listing(&self, store: &StoreId, topic: &str, listing: Option<&ListingId>) -> WebhookOutcome {
        let Some(listing) = listing else {
            return WebhookOutcome::Ignored {
                topic: topic.into(),
                reason: "no listing named; the next full reconcile reads it".into(),
            };
        };
        self.queue_reread(store, std::iter::once(listing.clone()));
        WebhookOutcome::Ignored { topic: topic.into(), reason: "listing re-read queued".into() }
    }
}

/// A rejected delivery: where, why, when.
pub(crate) struct Rejected<'a> {
    pub(crate) store: &'a StoreId,
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) now: Timestamp,
}

/// Count a rejected delivery in `rejections` and answer it: audited in `db` on its own while the store's
/// rejections in the window are within the limit, throttled beyond it (the engine's, and a
/// [`crate::Fleet`]'s for the deliveries it records for other workers).
pub(crate) async fn reject_in(
    rejections: &Rejections,
    config: &SyncConfig,
    db: &dyn Store,
    rejected: Rejected<'_>,
) -> WebhookOutcome {
    let Rejected { store, status, reason, now } = rejected;
    let (limit, window) = (config.webhook_rejection_limit, config.webhook_rejection_window);
    let (verdict, ended) = rejections.record(store, status, &reason, now, limit, window);
    let mut batch = WriteBatch::new();
    if let Some(row) = ended {
        batch.push(WriteOp::Audit(row));
    }
    let outcome = match verdict {
        Verdict::Audit => {
            tracing::warn!(%store, status, %reason, "webhook rejected");
            let entry = AuditEntry::new(store.clone(), "webhook", format!("rejected ({status}): {reason}"), now);
            batch.push(WriteOp::Audit(entry));
            WebhookOutcome::Rejected { status, reason }
        }
        Verdict::Throttle { retry_after, first } => {
            if first {
                tracing::warn!(
                    %store,
                    limit,
                    window_secs = window.as_secs(),
                    retry_after_secs = retry_after.as_secs(),
                    "webhook rejections past the limit: further rejections of this store are answered 429 \
                     and audited together when the window ends"
                );
            } else {
                tracing::debug!(%store, status, %reason, "webhook rejected (throttled)");
            }
            WebhookOutcome::Throttled {
                retry_after,
                reason: format!("too many rejected deliveries for store {store}; this one: ({status}) {reason}"),
            }
        }
    };
    if !batch.ops.is_empty()
        && let Err(e) = db.commit(batch).await
    {
        tracing::error!(%store, error = %e, "could not record a rejected webhook");
    }
    outcome
}

/// How far ahead of the engine's clock a delivery's time may be (the platform's clock and ours differ a
/// little); beyond it the time is forged, and would keep a replay inside the window for as long as it claims.
const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(5 * 60);

/// The event, unless the platform sent it longer than `max_age` before `now` (the engine's clock).
/// Deliveries without a time, and channels without a window, are not judged by age.
/// Nor are they accepted from further ahead of it than [`CLOCK_SKEW`].
pub(crate) fn fresh(
    event: WebhookEvent,
    max_age: Option<std::time::Duration>,
    now: Timestamp,
) -> std::result::Result<WebhookEvent, WebhookRejection> {
    let (Some(sent_at), Some(max_age)) = (event.sent_at, max_age) else { return Ok(event) };
    let age = now.duration_since(sent_at);
    if -age > CLOCK_SKEW {
        return Err(WebhookRejection::FromTheFuture { sent_at, ahead_secs: (-age).as_secs() });
    }
    let window = jiff::SignedDuration::try_from(max_age).unwrap_or(jiff::SignedDuration::MAX);
    if age <= window {
        return Ok(event);
    }
    Err(WebhookRejection::Stale { sent_at, age_secs: age.as_secs(), max_age_secs: max_age.as_secs() })
}

/// The id a delivery without one is kept and deduplicated under: `body-` and the SHA-256 of its body (the
/// same delivery sent again has the same id).
pub(crate) fn synthetic_delivery_id(body: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("body-{hex}")
}
