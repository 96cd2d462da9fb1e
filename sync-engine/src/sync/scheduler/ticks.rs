//! The scheduler's ticks: order polls of live stores, the daily full reconcile and queued "sync now"
//! requests, for the stores whose lease this worker holds.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use channel_core::{ErrorKind, StoreId};
use jiff::{SignedDuration, Timestamp};

use super::{Held, held_now};
use crate::store::{ClaimRequest, SyncMode, SyncRequest, WriteOp};
use crate::sync::engine::after;
use crate::sync::{SyncEngine, SyncSummary};
use crate::{Error, Result};

/// The cursor holding the instant of a store's last daily reconcile.
pub(crate) const DAILY_CURSOR: &str = "daily";

/// Full-sync attempts when another worker's writes made the cached rows stale.
const FULL_SYNC_ATTEMPTS: usize = 3;

/// The most recent daily-reconcile instant at or before `now`.
fn last_daily(now: Timestamp, at: jiff::civil::Time) -> Timestamp {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let candidate = today.to_datetime(at).to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).unwrap_or(now);
    if candidate <= now {
        candidate
    } else {
        candidate.checked_sub(SignedDuration::from_hours(24)).unwrap_or(candidate)
    }
}

/// What the scheduler remembers between ticks.
#[derive(Default)]
pub(crate) struct Ticks {
    /// When each store was last polled by this worker.
    polled: HashMap<StoreId, Timestamp>,
    /// The last daily reconcile known done per store (read from its `daily` cursor).
    daily_done: HashMap<StoreId, Timestamp>,
}

impl SyncEngine {
    /// One tick of the scheduler over the stores whose lease this worker holds: poll the live stores
    /// that are due, find the stores whose daily reconcile is due, claim the queued "sync now" requests,
    /// and run one full reconcile for all of them.
    pub(crate) async fn scheduler_tick(&self, held: &Held, ticks: &mut Ticks) {
        let now = self.inner.clock.now();
        let leased: BTreeSet<StoreId> = held_now(held, now).into_iter().collect();
        let stores: Vec<(StoreId, SyncMode)> =
            self.scheduled_stores().await.into_iter().filter(|(s, _)| leased.contains(s)).collect();
        self.poll_due(&stores, now, ticks).await;
        if let Err(e) = self.retry_held_lines().await {
            tracing::warn!(error = %e, "could not retry the held order lines");
        }
        let daily = last_daily(now, self.inner.config.daily_at);
        let mut due_daily = Vec::new();
        for (store, _) in &stores {
            match self.daily_due(store, daily, ticks).await {
                Ok(true) => due_daily.push(store.clone()),
                Ok(false) => {}
                Err(e) => tracing::warn!(%store, error = %e, "could not read the daily cursor"),
            }
        }
        let requested = self.claim_sync_requests(now).await;
        if due_daily.is_empty() && requested.is_empty() {
            return;
        }
        self.reconcile_due(&due_daily, daily, &requested).await;
        for store in due_daily {
            // Not again today in this worker, even after a failure (a restart or another worker retries).
            ticks.daily_done.insert(store, daily);
        }
    }

    /// Poll the orders of the live stores among `stores` whose poll interval has passed.
    async fn poll_due(&self, stores: &[(StoreId, SyncMode)], now: Timestamp, ticks: &mut Ticks) {
        let interval = SignedDuration::try_from(self.inner.config.poll_interval).unwrap_or(SignedDuration::MAX);
        for (store, mode) in stores {
            if *mode != SyncMode::Live {
                continue;
            }
            let due = ticks.polled.get(store).is_none_or(|last| last.checked_add(interval).is_ok_and(|t| t <= now));
            if due {
                ticks.polled.insert(store.clone(), now);
                if let Err(e) = self.poll_orders(store).await {
                    tracing::warn!(%store, error = %e, "order poll failed");
                }
            }
        }
    }

    /// Claim the queued "sync now" requests (none when the store cannot be reached).
    async fn claim_sync_requests(&self, now: Timestamp) -> Vec<SyncRequest> {
        let claim = ClaimRequest::new(self.inner.config.worker.clone(), 16, now, after(now, self.inner.config.lease));
        match self.inner.store.claim_sync_requests(&claim).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim sync requests");
                Vec::new()
            }
        }
    }

    /// One full reconcile pushing to the stores whose daily reconcile is due and those `requested`; when it
    /// is done, the requests are completed and the day's reconcile recorded in each store's cursor.
    async fn reconcile_due(&self, due_daily: &[StoreId], daily: Timestamp, requested: &[SyncRequest]) {
        let mut only: Vec<StoreId> = due_daily.to_vec();
        only.extend(requested.iter().map(|r| r.store.clone()));
        only.sort();
        only.dedup();
        match self.full_sync_claimed(only, requested).await {
            Ok(summary) => {
                tracing::info!(?summary, "full reconcile done");
                for r in requested {
                    let token = r.claim_token.as_deref().unwrap_or_default();
                    match self.inner.store.finish_sync_request(&r.store, token).await {
                        Ok(true) => {}
                        Ok(false) => tracing::info!(store = %r.store, "sync request renewed or taken over meanwhile"),
                        Err(e) => tracing::warn!(store = %r.store, error = %e, "could not complete a sync request"),
                    }
                }
                for store in due_daily {
                    let op = WriteOp::SetCursor {
                        store: store.clone(),
                        name: DAILY_CURSOR.into(),
                        value: daily.to_string(),
                    };
                    if let Err(e) = self.inner.store.commit(op.into()).await {
                        tracing::warn!(%store, error = %e, "could not record the daily reconcile");
                    }
                }
            }
            Err(e) => {
                // A claimed request stays queued and is claimed again when its lease ends.
                tracing::warn!(error = %e, "full reconcile failed");
            }
        }
    }

    /// Whether a leased store's daily reconcile of `daily` is still to do. A store seen for the first time
    /// counts the current day as done (so a new worker does not reconcile everything as it starts).
    async fn daily_due(&self, store: &StoreId, daily: Timestamp, ticks: &mut Ticks) -> Result<bool> {
        if ticks.daily_done.get(store).is_some_and(|d| *d >= daily) {
            return Ok(false);
        }
        // Another worker may have done it while it held the lease: the cursor says.
        let done = match self.inner.store.cursor(store, DAILY_CURSOR).await? {
            Some(v) => v.parse::<Timestamp>().map_err(|e| Error::Invalid(format!("daily cursor of {store}: {e}")))?,
            None => {
                let op =
                    WriteOp::SetCursor { store: store.clone(), name: DAILY_CURSOR.into(), value: daily.to_string() };
                self.inner.store.commit(op.into()).await?;
                daily
            }
        };
        ticks.daily_done.insert(store.clone(), done);
        Ok(done < daily)
    }

    /// A full reconcile pushing to `only`, retried from a fresh load when another worker's writes made
    /// the cached rows stale, with the claims of `requests` renewed while it runs.
    async fn full_sync_claimed(&self, only: Vec<StoreId>, requests: &[SyncRequest]) -> Result<SyncSummary> {
        let cancel = AtomicBool::new(false);
        let sync = async {
            let mut attempt = 1;
            loop {
                // Start from what every worker stored (other workers' commits make cached rows stale, and
                // a full reconcile writes every listing row), and after a failure from what is stored
                // rather than what the failed attempt cached.
                if let Some(state) = self.state().await?.as_mut() {
                    self.reload_state(state).await?;
                }
                match self.full_sync(Some(only.clone()), None, &cancel).await {
                    Ok(summary) => return Ok(summary),
                    Err(e) => {
                        if attempt >= FULL_SYNC_ATTEMPTS || !(e.kind() == ErrorKind::Conflict || e.is_retryable()) {
                            // Not what the failed attempt cached: what is stored.
                            if let Some(state) = self.state().await?.as_mut() {
                                self.reload_state(state).await?;
                            }
                            return Err(e);
                        }
                        tracing::info!(attempt, error = %e, "full reconcile met another worker's writes: again");
                        attempt += 1;
                    }
                }
            }
        };
        let renew = async {
            let every = (self.inner.config.lease / 3).max(Duration::from_millis(10));
            loop {
                tokio::time::sleep(every).await;
                let until = after(self.inner.clock.now(), self.inner.config.lease);
                for r in requests {
                    let token = r.claim_token.as_deref().unwrap_or_default();
                    match self.inner.store.renew_sync_request(&r.store, token, until).await {
                        Ok(true) => {}
                        Ok(false) => tracing::info!(store = %r.store, "sync request claim lost"),
                        Err(e) => tracing::warn!(store = %r.store, error = %e, "could not renew a sync request"),
                    }
                }
            }
        };
        tokio::select! {
            result = sync => result,
            _ = renew => Err(Error::Invalid("the renewal loop ended".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_is_today_or_yesterday() {
        let at = jiff::civil::Time::constant(2, 0, 0, 0);
        let now: Timestamp = "2026-11-23T01:00:00Z".parse().unwrap();
        assert_eq!(last_daily(now, at).to_string(), "2026-11-22T02:00:00Z");
        let now: Timestamp = "2026-11-23T03:00:00Z".parse().unwrap();
        assert_eq!(last_daily(now, at).to_string(), "2026-11-23T02:00:00Z");
    }
}
