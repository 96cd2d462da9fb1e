//! The outbox worker: per-store lanes claim their store's due pushes, batch them to the channel's maximum and apply
//! the outcomes (written back in one store call per batch).

use std::collections::BTreeSet;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use channel_core::{
    ErrorKind, ItemOutcome, ListingId, Outcome, PriceUpdate, Sku, StockAdjustment, StockUpdate, StoreId,
};
use jiff::{SignedDuration, Timestamp};

use super::SyncEngine;
use super::runtime::State;
use crate::store::{
    AuditEntry, ClaimRequest, ConnectionRecord, CredentialStatus, OutboxFilter, OutboxFinish, OutboxItem, OutboxPush,
    OutboxResult, OutboxState, PushAction, WriteBatch, WriteOp,
};
use crate::{Error, Result};

/// What one pass of the outbox worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxReport {
    /// Items claimed.
    pub claimed: usize,
    /// Items the channel applied.
    pub pushed: usize,
    /// Items put back to retry later (throttled, transient failures).
    pub retried: usize,
    /// Items dead-lettered with their reason.
    pub dead: usize,
    /// Items refused by compare-and-set and re-planned.
    pub stale: usize,
    /// Items held because their store needs re-authentication or has no channel.
    pub held: usize,
    /// Write calls made to channels.
    pub calls: usize,
}

impl OutboxReport {
    fn add(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.pushed += o.pushed;
        self.retried += o.retried;
        self.dead += o.dead;
        self.stale += o.stale;
        self.held += o.held;
        self.calls += o.calls;
    }

    /// Items that failed for now or for good.
    pub fn failed(&self) -> usize {
        self.retried + self.dead
    }
}

fn after(now: Timestamp, wait: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX)).unwrap_or(now)
}

/// How an item ended, before it is written back.
enum Fate {
    Applied {
        quantity: i64,
        reported: Option<i64>,
    },
    Stale {
        actual: Option<i64>,
    },
    Retry {
        error: String,
        wait: Duration,
    },
    Dead {
        reason: String,
    },
    Held {
        reason: String,
    },
    /// A keyed delta whose call failed after it may have reached the platform (a timeout, a dropped
    /// connection): whether it applied is unknown. The item stays claimed, its content frozen, and is sent
    /// again under the same key when its lease ends — the platform answers with the first outcome if it
    /// had applied it. Putting it back to pending instead would let newer deltas merge into it, and the
    /// merged delta (a new key) would apply the first part twice.
    Unsettled {
        error: String,
    },
}

/// The idempotency key of a delta push: the store, the outbox item and its content. An item's content
/// never changes while it may have been sent (claimed items are frozen; an item whose send may have
/// applied stays claimed, see [`Fate::Unsettled`]), so every resend carries the same key; pending items
/// that newer deltas merged into were never applied, and their new delta makes a new key. The creation
/// time keeps keys of a fresh database (ids starting again at 1) from meeting the platform's memory of
/// an old one.
pub(super) fn adjustment_key(store: &StoreId, item: &OutboxItem, delta: i64) -> String {
    format!("stocksync/{store}/{}/{}/{delta}", item.id, item.created_at.as_millisecond())
}

/// Whether a failed write call may still have been applied by the platform (the request may have
/// reached it): transport failures and unreadable answers, not refusals.
fn may_have_applied(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::Auth
            | ErrorKind::RateLimited
            | ErrorKind::Validation
            | ErrorKind::NotFound
            | ErrorKind::Unsupported
            | ErrorKind::Config
    )
}

/// One claimed item, with what was sent for it.
struct Prepared {
    item: OutboxItem,
    sent: Option<i64>,
    sku: Option<Sku>,
}

impl SyncEngine {
    /// One pass of the outbox over every store at once, each store in its own lane: its due items are
    /// claimed on their own (up to [`SyncEngine::outbox_claim_for`]) and pushed in batches of its channel's
    /// [`channel_core::Capabilities::max_stock_batch`] / `max_price_batch`. A store whose pass is over while
    /// others are still pushing claims its next due items meanwhile, so a slow store (a timeout, a feed
    /// rate limit) holds no other up; the call returns once every store has made its pass and nothing is
    /// due in the stores that finished while others were still going. Returns what was done.
    pub async fn run_outbox_once(&self) -> Result<OutboxReport> {
        let stores = self.outbox_stores().await?;
        let running = AtomicUsize::new(stores.len());
        let lanes = stores.into_iter().map(|store| {
            let running = &running;
            async move {
                let mut report = OutboxReport::default();
                let result: Result<()> = async {
                    loop {
                        let r = self.run_store_once(&store).await?;
                        report.add(r);
                        // Again while another store is still pushing; the last one running stops here.
                        if r.claimed == 0 || running.load(Ordering::SeqCst) <= 1 {
                            return Ok(());
                        }
                    }
                }
                .await;
                running.fetch_sub(1, Ordering::SeqCst);
                result.map(|()| report)
            }
        });
        let mut report = OutboxReport::default();
        for r in futures::future::join_all(lanes).await {
            report.add(r?);
        }
        Ok(report)
    }

    /// Claim one store's due outbox items (up to [`SyncEngine::outbox_claim_for`]) and push them.
    pub(super) async fn run_store_once(&self, store: &StoreId) -> Result<OutboxReport> {
        let now = self.inner.clock.now();
        let claim = ClaimRequest::new(
            self.inner.config.worker.clone(),
            self.outbox_claim_for(store),
            now,
            after(now, self.inner.config.lease),
        )
        .for_store(store.clone());
        let items = self.inner.store.claim_outbox(&claim).await?;
        if items.is_empty() {
            return Ok(OutboxReport::default());
        }
        let claimed = items.len();
        // Held from the claim to the write-back: renewed while the push is on its way.
        let claims: Vec<(i64, String)> = items.iter().filter_map(|i| Some((i.id, i.claim_token.clone()?))).collect();
        let mut report = self.renewing(store, &claims, self.push_store(store.clone(), items)).await?;
        report.claimed = claimed;
        Ok(report)
    }

    /// The most items one claim takes for `store`: [`super::SyncConfig::outbox_claim`] rounded up to a
    /// whole number of its channel's largest batch, so every write call is as large as the channel takes
    /// (a whole Amazon feed, a whole Takealot batch) and none is split across claims.
    pub fn outbox_claim_for(&self, store: &StoreId) -> usize {
        let base = self.inner.config.outbox_claim;
        let Some(channel) = self.channel(store) else { return base };
        let caps = channel.capabilities();
        let batch = caps.max_stock_batch.max(caps.max_price_batch).max(1);
        base.div_ceil(batch).saturating_mul(batch)
    }

    /// The stores the outbox pushes to: every connected store and every store with a channel (a store with
    /// a channel but no connection has its items dead-lettered as not connected).
    pub(super) async fn outbox_stores(&self) -> Result<Vec<StoreId>> {
        let mut stores: BTreeSet<StoreId> =
            self.inner.channels.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        if let Some(state) = self.state().await?.as_ref() {
            stores.extend(state.connections.keys().cloned());
        }
        Ok(stores.into_iter().collect())
    }

    /// Run the outbox until nothing is due or in flight any more (items backing off are waited for), or
    /// until `limit` has passed. Returns what was done.
    pub async fn drain_outbox(&self, limit: Duration) -> Result<OutboxReport> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut wake = self.inner.outbox_wake.subscribe();
        let mut total = OutboxReport::default();
        loop {
            let r = self.run_outbox_once().await?;
            total.add(r);
            if r.claimed > 0 {
                continue;
            }
            let now = self.inner.clock.now();
            let waiting: Vec<OutboxItem> = self
                .inner
                .store
                .outbox(&OutboxFilter::default())
                .await?
                .into_iter()
                .filter(|i| i.state != OutboxState::Dead)
                .filter(|i| !self.is_held(&i.push.store))
                .collect();
            if waiting.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(total);
            }
            let next = waiting
                .iter()
                .map(|i| if i.state == OutboxState::Claimed { i.lease_until.unwrap_or(now) } else { i.next_attempt_at })
                .min()
                .unwrap_or(now);
            let wait =
                now.duration_until(next).unsigned_abs().clamp(Duration::from_millis(5), Duration::from_millis(250));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = wake.changed() => {}
            }
        }
    }

    /// Whether a store's pushes are held (needs re-authentication, not connected, or no channel).
    fn is_held(&self, store: &StoreId) -> bool {
        if self.channel(store).is_none() {
            return true;
        }
        match self.inner.state.try_lock() {
            Ok(guard) => guard.as_ref().and_then(|s| s.connections.get(store)).is_none_or(|c| !c.pushes_allowed()),
            Err(_) => false,
        }
    }

    async fn push_store(&self, store: StoreId, items: Vec<OutboxItem>) -> Result<OutboxReport> {
        let mut report = OutboxReport::default();
        let channel = self.channel(&store);
        // Another worker may have moved the source's on hand since this one cached it.
        self.refresh_claimed_source_rows(&store, &items).await?;
        // Prepare under the lock: the listing's ids, and for the source's on-hand listings the current model
        // quantity (the latest truth, whatever was queued).
        let (prepared, blocked) = {
            let guard = self.state().await?;
            let state = guard.as_ref().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
            let connection = state.connections.get(&store);
            let blocked = match (connection, &channel) {
                (None, _) => Some(Fate::Dead { reason: format!("store {store} is not connected") }),
                (_, None) => Some(Fate::Held { reason: format!("no channel for store {store}") }),
                (Some(c), _) if c.health.credentials == CredentialStatus::NeedsReauth => {
                    Some(Fate::Held { reason: format!("store {store} needs re-authentication") })
                }
                (Some(c), _) if !c.pushes_allowed() => {
                    Some(Fate::Dead { reason: format!("pushes to store {store} are disabled") })
                }
                _ => None,
            };
            let prepared: Vec<Prepared> = items
                .into_iter()
                .map(|item| {
                    let key = (store.clone(), item.push.listing.clone());
                    let record = state.listings.get(&key);
                    let sku = record.and_then(|r| r.sku.clone());
                    let sent = match &item.push.action {
                        PushAction::SetStock { quantity, .. } => {
                            Some(source_model(state, &store, &item.push.listing).unwrap_or(*quantity))
                        }
                        _ => None,
                    };
                    Prepared { item, sent, sku }
                })
                .collect();
            (prepared, blocked)
        };
        let fates: Vec<Fate> = match (blocked, channel) {
            (Some(fate), _) => prepared.iter().map(|_| clone_fate(&fate)).collect(),
            (None, None) => prepared.iter().map(|_| Fate::Held { reason: "no channel".into() }).collect(),
            (None, Some(channel)) => self.call_channel(&store, channel.as_ref(), &prepared, &mut report).await,
        };
        self.finish(&store, prepared, fates, &mut report).await?;
        Ok(report)
    }

    /// Run `push` (the push of the items claimed as `claims`, `(id, claim token)`), extending their claim
    /// every third of a lease until it is done: a large claim (a whole Amazon feed) or a slow channel can
    /// outlive one lease, and another worker would then claim and push the same items again. One store call
    /// per renewal.
    async fn renewing<T>(&self, store: &StoreId, claims: &[(i64, String)], push: impl Future<Output = T>) -> T {
        let lease = self.inner.config.lease;
        let every = lease / 3;
        if every.is_zero() || claims.is_empty() {
            return push.await;
        }
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let push = async move {
            let out = push.await;
            let _ = stop.send(());
            out
        };
        // Polled alongside the push, never instead of it (the push may hold a transaction the renewal
        // waits for), and never cut off inside a store call: it stops between renewals.
        let renew = async {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tick.tick() => {}
                }
                let until = after(self.inner.clock.now(), lease);
                match self.inner.store.renew_outbox(claims, until).await {
                    Ok(n) if n < claims.len() => {
                        tracing::debug!(%store, renewed = n, held = claims.len(), "outbox claim renewed in part: the rest was finished or taken over");
                    }
                    Ok(_) => {}
                    // Tried again at the next tick; the lease runs on meanwhile.
                    Err(e) => tracing::warn!(%store, error = %e, "outbox claim not renewed"),
                }
            }
        };
        let (out, ()) = futures::join!(push, renew);
        out
    }

    async fn call_channel(
        &self,
        store: &StoreId,
        channel: &dyn channel_core::Channel,
        prepared: &[Prepared],
        report: &mut OutboxReport,
    ) -> Vec<Fate> {
        let caps = channel.capabilities();
        let (ids, skus) = {
            let guard = self.inner.state.lock().await;
            let mut ids = Vec::with_capacity(prepared.len());
            let mut skus = Vec::with_capacity(prepared.len());
            for p in prepared {
                let record = guard.as_ref().and_then(|s| s.listings.get(&(store.clone(), p.item.push.listing.clone())));
                ids.push(record.map(|r| r.ids.clone()).unwrap_or_default());
                skus.push(record.map_or_else(String::new, |r| r.channel_sku.clone()));
            }
            (ids, skus)
        };
        let mut fates: Vec<Option<Fate>> = prepared.iter().map(|_| None).collect();
        let mut sets = Vec::new();
        let mut adjusts = Vec::new();
        let mut prices = Vec::new();
        for (i, p) in prepared.iter().enumerate() {
            let listing = p.item.push.listing.clone();
            match &p.item.push.action {
                PushAction::SetStock { expected, .. } => {
                    let quantity = p.sent.unwrap_or(0).max(0);
                    let mut update = StockUpdate::new(listing, skus[i].clone(), quantity).with_ids(ids[i].clone());
                    if caps.compare_and_set {
                        update.expected = *expected;
                    }
                    sets.push((i, update));
                }
                PushAction::AdjustStock { delta } if caps.delta_adjust => {
                    let mut adjustment =
                        StockAdjustment::new(listing, skus[i].clone(), *delta).with_ids(ids[i].clone());
                    if caps.idempotent_writes {
                        adjustment = adjustment.with_idempotency_key(adjustment_key(store, &p.item, *delta));
                    }
                    adjusts.push((i, adjustment));
                }
                PushAction::AdjustStock { .. } => {
                    fates[i] = Some(Fate::Dead { reason: format!("{} has no delta stock adjustment", channel.kind()) });
                }
                PushAction::SetPrice { price, list_price } if caps.price_sync => {
                    let mut update = PriceUpdate::new(listing, skus[i].clone(), *price).with_ids(ids[i].clone());
                    update.list_price = *list_price;
                    prices.push((i, update));
                }
                PushAction::SetPrice { .. } => {
                    fates[i] = Some(Fate::Dead { reason: format!("{} prices are not synced", channel.kind()) });
                }
            }
        }
        let batch = caps.max_stock_batch.max(1);
        for chunk in sets.chunks(batch) {
            let updates: Vec<StockUpdate> = chunk.iter().map(|(_, u)| u.clone()).collect();
            report.calls += 1;
            let result = channel.set_stock(&updates).await;
            self.apply_result(
                store,
                chunk.iter().map(|(i, u)| (*i, &u.listing, Some(u.quantity))),
                result,
                false,
                prepared,
                &mut fates,
            )
            .await;
        }
        for chunk in adjusts.chunks(batch) {
            let updates: Vec<StockAdjustment> = chunk.iter().map(|(_, u)| u.clone()).collect();
            report.calls += 1;
            let result = channel.adjust_stock(&updates).await;
            let keyed = caps.idempotent_writes;
            self.apply_result(
                store,
                chunk.iter().map(|(i, u)| (*i, &u.listing, None)),
                result,
                keyed,
                prepared,
                &mut fates,
            )
            .await;
        }
        for chunk in prices.chunks(caps.max_price_batch.max(1)) {
            let updates: Vec<PriceUpdate> = chunk.iter().map(|(_, u)| u.clone()).collect();
            report.calls += 1;
            let result = channel.set_prices(&updates).await;
            self.apply_result(
                store,
                chunk.iter().map(|(i, u)| (*i, &u.listing, None)),
                result,
                false,
                prepared,
                &mut fates,
            )
            .await;
        }
        fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::Retry { error: "no outcome".into(), wait: Duration::ZERO }))
            .collect()
    }

    /// Turn a write call's result into each sent item's fate. `keyed`: the items are keyed deltas, whose
    /// unknown outcomes are [`Fate::Unsettled`] rather than retried as new writes.
    async fn apply_result<'a>(
        &self,
        store: &StoreId,
        sent: impl Iterator<Item = (usize, &'a ListingId, Option<i64>)>,
        result: channel_core::Result<Vec<ItemOutcome>>,
        keyed: bool,
        prepared: &[Prepared],
        fates: &mut [Option<Fate>],
    ) {
        let sent: Vec<(usize, &ListingId, Option<i64>)> = sent.collect();
        match result {
            Ok(outcomes) => {
                for (n, (i, listing, quantity)) in sent.iter().enumerate() {
                    let outcome = outcomes
                        .get(n)
                        .filter(|o| &&o.listing == listing)
                        .or_else(|| outcomes.iter().find(|o| &&o.listing == listing));
                    let attempts = prepared[*i].item.attempts;
                    fates[*i] = Some(match outcome.map(|o| &o.outcome) {
                        Some(Outcome::Applied { quantity: reported }) => {
                            Fate::Applied { quantity: quantity.or(*reported).unwrap_or(0), reported: *reported }
                        }
                        Some(Outcome::Stale { actual }) => Fate::Stale { actual: *actual },
                        Some(Outcome::Rejected { reason, retryable: true }) => {
                            Fate::Retry { error: reason.clone(), wait: self.inner.config.backoff(attempts) }
                        }
                        Some(Outcome::Rejected { reason, retryable: false }) => Fate::Dead { reason: reason.clone() },
                        Some(_) | None if keyed => {
                            Fate::Unsettled { error: "the channel reported no outcome for this delta".into() }
                        }
                        Some(_) | None => Fate::Retry {
                            error: "the channel reported no outcome for this item".into(),
                            wait: self.inner.config.backoff(attempts),
                        },
                    });
                }
            }
            Err(error) => {
                let kind = error.kind();
                if kind == ErrorKind::Auth {
                    self.record_failure(store, &error).await;
                }
                for (i, _, _) in sent {
                    let attempts = prepared[i].item.attempts;
                    fates[i] = Some(match kind {
                        _ if keyed && may_have_applied(kind) => Fate::Unsettled { error: error.to_string() },
                        ErrorKind::Auth => {
                            Fate::Held { reason: format!("needs re-authentication: {}", error.message()) }
                        }
                        ErrorKind::Validation | ErrorKind::Unsupported | ErrorKind::NotFound | ErrorKind::Config => {
                            Fate::Dead { reason: error.to_string() }
                        }
                        _ => {
                            let wait = error.retry_after().unwrap_or_default().max(self.inner.config.backoff(attempts));
                            Fate::Retry { error: error.to_string(), wait }
                        }
                    });
                }
            }
        }
    }

    async fn finish(
        &self,
        store: &StoreId,
        prepared: Vec<Prepared>,
        fates: Vec<Fate>,
        report: &mut OutboxReport,
    ) -> Result<()> {
        let now = self.inner.clock.now();
        let mut results = Vec::with_capacity(prepared.len());
        let mut queued = false;
        {
            let mut guard = self.state().await?;
            let state = guard.as_mut().ok_or_else(|| Error::Invalid("engine not loaded".into()))?;
            let mut batch = WriteBatch::new();
            for (p, fate) in prepared.iter().zip(fates) {
                let key = (store.clone(), p.item.push.listing.clone());
                let delta = match p.item.push.action {
                    PushAction::AdjustStock { delta } => Some(delta),
                    _ => None,
                };
                let result = match fate {
                    Fate::Applied { quantity, reported } => {
                        report.pushed += 1;
                        let previous = state.shown.get(&key).copied();
                        // What the channel shows now: what it said, else (a delta it did not report on) what
                        // it showed moved by the delta.
                        let shows = match (reported, delta) {
                            (Some(q), _) => Some(q),
                            (None, Some(d)) => previous.map(|b| b + d),
                            (None, None) => Some(quantity),
                        };
                        let quantity = shows.unwrap_or(quantity);
                        let before = match shows {
                            Some(q) => state.shown.insert(key.clone(), q),
                            None => previous,
                        };
                        let model = source_model(state, store, &p.item.push.listing);
                        let is_source_model = model.is_some();
                        // A delta moved the source by what the model moved: the model is already right, and
                        // an absolute set here would overwrite the platform's own sales.
                        if let Some(model) = model
                            && delta.is_none()
                            && model.max(0) != quantity
                            && state.connections.get(store).is_some_and(ConnectionRecord::pushes_allowed)
                        {
                            // The on hand moved while this push was on its way: send the newer quantity.
                            batch.push(WriteOp::Enqueue {
                                push: OutboxPush::new(
                                    store.clone(),
                                    p.item.push.listing.clone(),
                                    PushAction::SetStock { quantity: model.max(0), expected: None },
                                    p.item.push.reason.clone(),
                                ),
                                now,
                            });
                            queued = true;
                        }
                        if !is_source_model
                            && shows.is_some()
                            && let Some(record) = state.listings.get_mut(&key)
                        {
                            record.pushed_quantity = Some(quantity);
                            record.pushed_at = Some(now);
                            batch.push(WriteOp::PutListing(record.clone()));
                            record.version += 1;
                        }
                        batch.push(WriteOp::Audit(
                            AuditEntry::new(store.clone(), "quantity", p.item.push.reason.clone(), now)
                                .on_listing(p.item.push.listing.clone(), p.sku.clone())
                                .change(
                                    before.map(|b| b.to_string()),
                                    shows.map(|q| q.to_string()).or_else(|| delta.map(|d| format!("{d:+}"))),
                                ),
                        ));
                        OutboxResult::Done
                    }
                    Fate::Stale { actual } => {
                        report.stale += 1;
                        if let Some(actual) = actual {
                            state.shown.insert(key.clone(), actual);
                        }
                        queued |= replan_stale(state, store, &p.item.push, actual, now, &mut batch);
                        OutboxResult::Done
                    }
                    Fate::Retry { error, wait } => {
                        if p.item.attempts >= self.inner.config.max_attempts {
                            report.dead += 1;
                            OutboxResult::Dead {
                                reason: format!("gave up after {} attempts: {error}", p.item.attempts),
                            }
                        } else {
                            report.retried += 1;
                            OutboxResult::Retry { error, at: after(now, wait) }
                        }
                    }
                    Fate::Dead { reason } => {
                        report.dead += 1;
                        OutboxResult::Dead { reason }
                    }
                    Fate::Held { reason } => {
                        report.held += 1;
                        OutboxResult::Retry { error: reason, at: after(now, self.inner.config.reauth_hold) }
                    }
                    Fate::Unsettled { error } if p.item.attempts >= self.inner.config.max_attempts => {
                        report.dead += 1;
                        batch.push(WriteOp::Audit(
                            AuditEntry::new(
                                store.clone(),
                                "quantity",
                                format!("{}: delta of unknown outcome dead-lettered", p.item.push.reason),
                                now,
                            )
                            .on_listing(p.item.push.listing.clone(), p.sku.clone())
                            .change(None, delta.map(|d| format!("{d:+}"))),
                        ));
                        OutboxResult::Dead {
                            reason: format!(
                                "gave up after {} attempts; whether the channel applied this delta is unknown: {error}",
                                p.item.attempts
                            ),
                        }
                    }
                    Fate::Unsettled { error } => {
                        // Left claimed (see Fate::Unsettled): taken again, unchanged, when its lease ends.
                        report.retried += 1;
                        tracing::warn!(%store, id = p.item.id, %error, "delta of unknown outcome: resent under its key when its lease ends");
                        continue;
                    }
                };
                results.push(OutboxFinish::new(p.item.id, p.item.claim_token.clone().unwrap_or_default(), result));
            }
            if !batch.ops.is_empty() {
                // Another worker may have written these listings' rows since this one cached them.
                self.commit_pushed(state, batch).await?;
            }
        }
        if !results.is_empty() {
            // One store call for the batch's results (one transaction in the SQL stores).
            let ids: Vec<i64> = results.iter().map(|f| f.id).collect();
            for (id, r) in ids.into_iter().zip(self.inner.store.finish_outbox_many(results, now).await?) {
                match r {
                    Ok(()) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => {
                        tracing::debug!(%store, id, error = %e, "outbox item taken over by another claim");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if queued {
            self.inner.outbox_wake.wake_all();
        }
        Ok(())
    }
}

fn clone_fate(f: &Fate) -> Fate {
    match f {
        Fate::Dead { reason } => Fate::Dead { reason: reason.clone() },
        Fate::Held { reason } => Fate::Held { reason: reason.clone() },
        Fate::Retry { error, wait } => Fate::Retry { error: error.clone(), wait: *wait },
        Fate::Applied { quantity, reported } => Fate::Applied { quantity: *quantity, reported: *reported },
        Fate::Stale { actual } => Fate::Stale { actual: *actual },
        Fate::Unsettled { error } => Fate::Unsettled { error: error.clone() },
    }
}

/// The model quantity when `listing` is the source's on-hand listing of a simple SKU.
fn source_model(state: &State, store: &StoreId, listing: &ListingId) -> Option<i64> {
    if state.source.as_ref() != Some(store) {
        return None;
    }
    let record = state.listings.get(&(store.clone(), listing.clone()))?;
    let sku = record.sku.as_ref()?;
    (state.source_listing.get(sku) == Some(listing)).then(|| super::runtime::model_quantity(record)).flatten()
}

/// A compare-and-set was refused: the channel shows `actual`. Queue the write again against what it shows
/// (for the source, its model on hand; elsewhere, the re-planned target). Returns whether a push was queued.
fn replan_stale(
    state: &mut State,
    store: &StoreId,
    push: &OutboxPush,
    actual: Option<i64>,
    now: Timestamp,
    batch: &mut WriteBatch,
) -> bool {
    if !state.connections.get(store).is_some_and(ConnectionRecord::pushes_allowed) {
        return false;
    }
    if let Some(model) = source_model(state, store, &push.listing) {
        batch.push(WriteOp::Enqueue {
            push: OutboxPush::new(
                store.clone(),
                push.listing.clone(),
                PushAction::SetStock { quantity: model.max(0), expected: actual },
                format!("{} (re-planned after a stale write)", push.reason),
            ),
            now,
        });
        return true;
    }
    let Some(actual) = actual else {
        if let PushAction::SetStock { quantity, .. } = push.action {
            batch.push(WriteOp::Enqueue {
                push: OutboxPush::new(
                    store.clone(),
                    push.listing.clone(),
                    PushAction::SetStock { quantity, expected: None },
                    push.reason.clone(),
                ),
                now,
            });
            return true;
        }
        return false;
    };
    let Ok(touched) = state.reconciler.set_listing_quantity(store.as_str(), push.listing.as_str(), actual) else {
        return false;
    };
    let updates: Vec<_> = super::runtime::owned_updates(state.reconciler.replan_skus(touched.iter().map(Sku::as_str)))
        .into_iter()
        .filter(|u| &u.store == store && u.listing == push.listing)
        .collect();
    state.enqueue_updates(&updates, now, &format!("{} (re-planned after a stale write)", push.reason), false, batch) > 0
}
