//! Webhooks received by a worker that does not hold the store's company: verified, recorded in the inbox
//! for the holder; and the holder's side, applying its companies' inbox every tick.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use channel_core::{Fulfilment, ListingId, Sku, StoreId, WebhookEvent, WebhookPayload, WebhookRequest};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Shared;
use crate::connections::sku_rules;
use crate::store::{
    AuditEntry, CompanyId, ConnectionRecord, ConnectionState, InboxItem, Scope, Store, StoreError, SyncMode, WriteOp,
};
use crate::sync::webhook::{Rejected, fresh, reject_in, synthetic_delivery_id};
use crate::sync::{SyncEngine, WebhookOutcome};

/// The most inbox items of a company applied in one tick.
const INBOX_BATCH: usize = 100;

/// The answer when the store cannot be read or written now: 503 (the platform delivers again) unless the
/// error will not go away.
pub(super) fn unavailable(store: &StoreId, error: &StoreError) -> WebhookOutcome {
    tracing::error!(%store, error = %error, "webhook not handled: the store is unavailable");
    WebhookOutcome::Rejected { status: if error.is_retryable() { 503 } else { 500 }, reason: error.to_string() }
}

/// A request as the inbox keeps it: its URL, headers, and body in base64.
pub(crate) fn encode(request: &WebhookRequest) -> Value {
    json!({"url": request.url(), "headers": request.headers(), "body": BASE64.encode(request.body())})
}

/// A request the inbox kept ([`encode`]).
pub(crate) fn decode(value: &Value) -> Result<WebhookRequest, String> {
    let body = value["body"].as_str().ok_or("no body")?;
    let body = BASE64.decode(body).map_err(|e| format!("the body is not base64: {e}"))?;
    let headers: Vec<(String, String)> =
        serde_json::from_value(value["headers"].clone()).map_err(|e| format!("the headers: {e}"))?;
    let mut request = WebhookRequest::new(body);
    if let Some(url) = value["url"].as_str() {
        request = request.with_url(url);
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    Ok(request)
}

/// Why a delivery is not recorded.
enum Refused {
    /// Audited and counted towards the store's throttle.
    Audited(u16, String),
    /// Answered as is (no such store, the store unavailable).
    Answer(WebhookOutcome),
}

impl Shared {
    /// The view a store's rejections are audited in: its company's, the root view's for a global store.
    fn home(&self, record: &ConnectionRecord) -> Arc<dyn Store> {
        match &record.scope {
            Scope::Client(company) => self.store.for_company(company),
            _ => Arc::clone(&self.store),
        }
    }

    /// A delivery for a store of a company not held here: verify it, record it for the holder.
    pub(super) async fn receive(&self, record: ConnectionRecord, request: &WebhookRequest) -> WebhookOutcome {
        let now = self.clock.now();
        let store = record.store.clone();
        let event = match self.verify(&record, request, now).await {
            Ok(event) => event,
            Err(Refused::Answer(outcome)) => return outcome,
            Err(Refused::Audited(status, reason)) => {
                let home = self.home(&record);
                let rejected = Rejected { store: &store, status, reason, now };
                return reject_in(&self.rejections, &self.config, home.as_ref(), rejected).await;
            }
        };
        let topic = event.topic.clone();
        match &event.payload {
            WebhookPayload::Ping => return WebhookOutcome::Ignored { topic, reason: "ping".into() },
            WebhookPayload::BatchCompleted { .. } => {
                let reason = "batch results are read when written".into();
                return WebhookOutcome::Ignored { topic, reason };
            }
            _ => {}
        }
        let companies = match &record.scope {
            Scope::Client(company) => Ok(vec![company.clone()]),
            _ => self.companies_for(&record, &event).await,
        };
        let companies = match companies {
            Ok(c) if c.is_empty() => {
                let reason = "no company owns a SKU or links a listing the delivery names".to_owned();
                tracing::warn!(%store, %topic, "global store's delivery concerns no company");
                return WebhookOutcome::Ignored { topic, reason };
            }
            Ok(c) => c,
            Err(e) => return unavailable(&store, &e),
        };
        match self.record(&store, &event, request, &companies, now).await {
            Ok(0) => WebhookOutcome::Duplicate { delivery_id: delivery_id(&event, request) },
            Ok(_) => {
                tracing::debug!(%store, %topic, ?companies, "webhook recorded for the holder");
                WebhookOutcome::Recorded { topic, companies }
            }
            Err(e) => unavailable(&store, &e),
        }
    }

    /// Verify a delivery as the engine would: connected, enabled, a channel, a signature, fresh.
    async fn verify(
        &self,
        record: &ConnectionRecord,
        request: &WebhookRequest,
        now: Timestamp,
    ) -> Result<WebhookEvent, Refused> {
        let store = &record.store;
        if record.state != ConnectionState::Connected || record.credentials.is_none() {
            let reason = format!("webhooks are not accepted for store {store}: it is not connected");
            return Err(Refused::Audited(403, reason));
        }
        if record.sync_mode == SyncMode::Disabled {
            let reason = format!("webhooks are not accepted for store {store}: its sync is disabled");
            return Err(Refused::Audited(403, reason));
        }
        let channel = match self.connections(self.home(record)).channel(store).await {
            Ok(channel) => channel,
            Err(e) => {
                tracing::warn!(%store, error = %e, "webhook refused: the store's channel cannot be built");
                let status = if e.is_retryable() { 503 } else { 404 };
                let reason = format!("no store {store}: its channel cannot be built ({})", e.kind());
                return Err(Refused::Answer(WebhookOutcome::Rejected { status, reason }));
            }
        };
        channel
            .verify_webhook(request)
            .and_then(|event| fresh(event, channel.capabilities().webhook_max_age, now))
            .map_err(|r| Refused::Audited(r.http_status(), r.to_string()))
    }

    /// Record the delivery for each company that has not applied it yet; how many items are new.
    async fn record(
        &self,
        store: &StoreId,
        event: &WebhookEvent,
        request: &WebhookRequest,
        companies: &[CompanyId],
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        // A delivery without an id is kept under one derived from its body, which the holder marks applied.
        let delivery_id = delivery_id(event, request);
        let kept = encode(request);
        let mut new = 0;
        for company in companies {
            if self.store.for_company(company).delivery_seen(store, &delivery_id).await? {
                continue;
            }
            let item = InboxItem {
                id: 0,
                company: company.clone(),
                store: store.clone(),
                delivery_id: delivery_id.clone(),
                topic: event.topic.clone(),
                request: kept.clone(),
                received_at: now,
            };
            if self.store.inbox_put(item).await? {
                new += 1;
            }
        }
        Ok(new)
    }

    /// The companies a global store's delivery concerns: the owners of the SKUs it names (as sent and
    /// through the store's SKU rules), else the companies that link a listing it names, else (a delivery
    /// naming neither, such as an uninstall claim: the connection is shared) the first company.
    async fn companies_for(
        &self,
        record: &ConnectionRecord,
        event: &WebhookEvent,
    ) -> Result<Vec<CompanyId>, StoreError> {
        let rules = sku_rules(&record.settings).unwrap_or_default();
        let mut skus = BTreeSet::new();
        let mut listings: Vec<ListingId> = Vec::new();
        let mut add = |channel_sku: Option<&str>, fulfilment: Fulfilment, listing: Option<&ListingId>| {
            if let Some(raw) = channel_sku {
                for s in [raw, rules.apply(raw, fulfilment).canonical] {
                    skus.extend(Sku::new(s).ok());
                }
            }
            listings.extend(listing.cloned());
        };
        match &event.payload {
            WebhookPayload::Order(order) => {
                for line in &order.lines {
                    add(Some(&line.channel_sku), line.fulfilment, line.listing.as_ref());
                }
            }
            WebhookPayload::Inventory(change) => {
                add(change.channel_sku.as_deref(), change.fulfilment, change.listing.as_ref());
            }
            WebhookPayload::ListingChanged { listing, channel_sku } => {
                add(channel_sku.as_deref(), Fulfilment::Merchant, listing.as_ref());
            }
            _ => {}
        }
        let skus: Vec<Sku> = skus.into_iter().collect();
        let owners: BTreeSet<CompanyId> = if skus.is_empty() {
            BTreeSet::new()
        } else {
            self.store.sku_owners(&skus).await?.into_values().flatten().collect()
        };
        if !owners.is_empty() {
            return Ok(owners.into_iter().collect());
        }
        let companies = self.store.companies().await?;
        if listings.is_empty() {
            let named = skus.is_empty();
            return Ok(companies.into_iter().take(usize::from(named)).map(|c| c.id).collect());
        }
        // Rare (a payload naming listings only): one look per company.
        let mut linked = Vec::new();
        for company in companies {
            let view = self.store.for_company(&company.id);
            for listing in &listings {
                if view.listing(&record.store, listing).await?.is_some() {
                    linked.push(company.id.clone());
                    break;
                }
            }
        }
        Ok(linked)
    }

    /// Apply the inbox of every company held here.
    pub(super) async fn drain_held(&self) {
        let companies: Vec<CompanyId> = self.lock().keys().cloned().collect();
        for company in companies {
            // Only while the lease is held and the engine runs.
            let Some(engine) = self.serving(&company) else { continue };
            if let Err(e) = drain(&engine, &self.retries).await {
                tracing::warn!(%company, error = %e, "could not apply the inbox");
            }
        }
    }

    /// Audit the throttled rejections of ended windows (every window when `all`), each in its store's
    /// company.
    pub(super) async fn audit_rejections(&self, all: bool) {
        let rows = self.rejections.take_ended(
            self.clock.now(),
            self.config.webhook_rejection_limit,
            self.config.webhook_rejection_window,
            all,
        );
        let mut by_store: BTreeMap<StoreId, Vec<AuditEntry>> = BTreeMap::new();
        for row in rows {
            by_store.entry(row.store.clone()).or_default().push(row);
        }
        for (store, rows) in by_store {
            let home = match self.store.locate_store(&store).await {
                Ok(Some(record)) => self.home(&record),
                _ => Arc::clone(&self.store),
            };
            let mut write = crate::store::WriteBatch::new();
            for row in rows {
                write.push(WriteOp::Audit(row));
            }
            if let Err(e) = home.commit(write).await {
                tracing::warn!(%store, error = %e, "could not audit rejected webhooks");
            }
        }
    }
}

/// The id a delivery is kept and deduplicated under: its own, else one derived from its body.
fn delivery_id(event: &WebhookEvent, request: &WebhookRequest) -> String {
    event.delivery_id.clone().unwrap_or_else(|| synthetic_delivery_id(request.body()))
}

/// Inbox items kept after a failure that may pass: item id → (failures so far, not tried again before).
/// Measured in ticks (tokio's time), not on the lease clock.
pub(crate) type Retries = Mutex<HashMap<i64, (u32, tokio::time::Instant)>>;

/// How long an item kept after `failures` failures waits: a tick, doubling, at most `cap`.
fn backoff(tick: Duration, failures: u32, cap: Duration) -> Duration {
    tick.saturating_mul(1 << failures.min(16)).min(cap.max(tick))
}

/// Apply a held company's inbox, oldest first: each item parsed again with the store's channel and
/// applied through the engine's exactly-once path, then removed. An item that fails for a reason that may
/// pass (503: the store or its channel unavailable, the delivery not applicable now) stays, audited the
/// first time, and is tried again after a backoff (a tick, doubling, at most a lease) while the items
/// behind it go on; one refused for good (the store disconnected, disabled or removed since, the
/// signature no longer verifies, the request unreadable) is removed with an audit row. Returns the items
/// applied.
pub(crate) async fn drain(engine: &SyncEngine, retries: &Retries) -> crate::Result<usize> {
    let view = engine.store();
    let config = engine.config();
    let mut applied = 0;
    for item in view.inbox(INBOX_BATCH).await? {
        let now = engine.clock().now();
        let instant = tokio::time::Instant::now();
        let waiting = retries.lock().unwrap_or_else(PoisonError::into_inner).get(&item.id).copied();
        if waiting.is_some_and(|(_, next)| next > instant) {
            continue;
        }
        let outcome = match decode(&item.request) {
            Ok(request) => engine.apply_received(&item.store, &request).await,
            Err(why) => WebhookOutcome::Rejected { status: 400, reason: format!("recorded request unreadable: {why}") },
        };
        match &outcome {
            WebhookOutcome::Rejected { status, reason } if *status >= 500 => {
                let failures = waiting.map_or(0, |(n, _)| n) + 1;
                let wait = backoff(config.tick, failures - 1, config.lease);
                let next = instant + wait;
                retries.lock().unwrap_or_else(PoisonError::into_inner).insert(item.id, (failures, next));
                tracing::warn!(store = %item.store, delivery = %item.delivery_id, %reason, failures, "recorded webhook kept");
                if failures == 1 {
                    let text = format!("recorded delivery {} kept ({status}): {reason}; tried again", item.delivery_id);
                    let entry = AuditEntry::new(item.store.clone(), "webhook", text, now);
                    view.commit(WriteOp::Audit(entry).into()).await?;
                }
                continue;
            }
            WebhookOutcome::Rejected { status, reason } => {
                tracing::warn!(store = %item.store, delivery = %item.delivery_id, %reason, "recorded webhook dropped");
                let text = format!("recorded delivery {} dropped ({status}): {reason}", item.delivery_id);
                let entry = AuditEntry::new(item.store.clone(), "webhook", text, now);
                view.commit(WriteOp::Audit(entry).into()).await?;
            }
            _ => applied += 1,
        }
        view.inbox_done(item.id).await?;
        retries.lock().unwrap_or_else(PoisonError::into_inner).remove(&item.id);
    }
    Ok(applied)
}
