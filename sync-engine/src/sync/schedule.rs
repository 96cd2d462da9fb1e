//! The scheduler: the outbox worker, order polling for live stores, the daily full reconcile and queued
//! "sync now" requests, as background tasks.
//!
//! Several engines (workers with distinct [`super::SyncConfig::worker`] names) may run over one store.
//! Each store is polled and reconciled daily only by the worker holding its lease
//! ([`crate::Store::acquire_lease`], lasting [`super::SyncConfig::lease`], renewed while held, released on
//! shutdown, taken over when it runs out after a crash). The day's reconcile is recorded per store in the
//! `daily` cursor, so a worker that takes a store over knows whether it was done. "Sync now" requests are
//! claimed with a lease (renewed while the sync runs) and removed only when the sync finished.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use channel_core::{ErrorKind, StoreId};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::{SyncEngine, SyncSummary};
use crate::store::{ClaimRequest, SyncMode, SyncRequest, WriteOp};
use crate::{Error, Result};

/// The cursor holding the instant of a store's last daily reconcile.
pub(super) const DAILY_CURSOR: &str = "daily";

/// Full-sync attempts when another worker's writes made the cached rows stale.
const FULL_SYNC_ATTEMPTS: usize = 3;

/// The store leases a worker holds: store → the end of its lease.
type Held = Arc<Mutex<HashMap<StoreId, Timestamp>>>;

/// The engine's background tasks. Dropping it does not stop them; call [`RunningEngine::shutdown`].
#[derive(Debug)]
pub struct RunningEngine {
    engine: SyncEngine,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    held: Held,
}

impl RunningEngine {
    /// Stop the background tasks and wait for them (a push, poll or full reconcile in flight finishes
    /// first), then release the store leases this worker holds so another worker takes its stores over at
    /// once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let held: Vec<StoreId> =
            self.held.lock().unwrap_or_else(PoisonError::into_inner).drain().map(|(s, _)| s).collect();
        let worker = &self.engine.inner.config.worker;
        for store in held {
            if let Err(e) = self.engine.inner.store.release_lease(&store, worker).await {
                tracing::warn!(%store, error = %e, "could not release a store lease");
            }
        }
    }

    /// Stop the background tasks at their next await point without releasing anything, as a crash would:
    /// the store leases, claimed pushes and a claimed "sync now" stay held until their leases end, then
    /// other workers take them over. (In-process, a store transaction dropped half-way may hold its locks
    /// until its connection is used again; close the store's pool too, as a dying process would.)
    pub fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }

    /// The stores whose lease this worker holds now.
    pub fn leased_stores(&self) -> Vec<StoreId> {
        held_now(&self.held, self.engine.inner.clock.now())
    }
}

fn held_now(held: &Held, now: Timestamp) -> Vec<StoreId> {
    let mut stores: Vec<StoreId> = held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(_, until)| **until > now)
        .map(|(s, _)| s.clone())
        .collect();
    stores.sort();
    stores
}

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

fn after(now: Timestamp, wait: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX)).unwrap_or(now)
}

/// What the scheduler remembers between ticks.
#[derive(Default)]
struct Ticks {
    /// When each store was last polled by this worker.
    polled: HashMap<StoreId, Timestamp>,
    /// The last daily reconcile known done per store (read from its `daily` cursor).
    daily_done: HashMap<StoreId, Timestamp>,
}

impl SyncEngine {
    /// Start the background tasks: the outbox workers (one lane per store, woken when pushes are queued,
    /// see [`SyncEngine::run_outbox_once`]), the store leases,
    /// order polling of live stores every [`super::SyncConfig::poll_interval`], the daily full reconcile at
    /// [`super::SyncConfig::daily_at`] (live and daily stores; disabled stores are never pushed to), and
    /// queued "sync now" requests. Polls and the daily reconcile of a store run only in the worker holding
    /// its lease ([`crate::Store::acquire_lease`] for [`super::SyncConfig::lease`], renewed while held,
    /// released by [`RunningEngine::shutdown`], taken over when it runs out after a crash); the day's
    /// reconcile is recorded per store in its `daily` cursor. A claimed "sync now" stays queued until its
    /// sync finished (see `docs/store.md` on several workers).
    pub fn start(&self) -> RunningEngine {
        let (stop, rx) = watch::channel(false);
        let held: Held = Arc::default();
        let outbox = {
            let engine = self.clone();
            let rx = rx.clone();
            tokio::spawn(async move { engine.outbox_lanes(rx).await })
        };
        let leases = {
            let engine = self.clone();
            let held = Arc::clone(&held);
            let mut rx = rx.clone();
            // Free (released, expired) leases are looked at every tick; held ones renewed a third of the way
            // through.
            let every = engine.inner.config.tick.min(engine.inner.config.lease / 3).max(Duration::from_millis(10));
            tokio::spawn(async move {
                let mut stores = Vec::new();
                loop {
                    engine.renew_leases(&held, &mut stores).await;
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        let scheduler = {
            let engine = self.clone();
            let held = Arc::clone(&held);
            let mut rx = rx;
            tokio::spawn(async move {
                let mut ticks = Ticks::default();
                let mut refreshed = tokio::time::Instant::now();
                loop {
                    engine.scheduler_tick(&held, &mut ticks).await;
                    if refreshed.elapsed() >= engine.inner.config.refresh_interval {
                        refreshed = tokio::time::Instant::now();
                        if let Err(e) = engine.refresh_changed_listings().await {
                            tracing::warn!(error = %e, "listing refresh failed");
                        }
                    }
                    tokio::select! {
                        () = tokio::time::sleep(engine.inner.config.tick) => {}
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        RunningEngine { engine: self.clone(), stop, tasks: vec![outbox, leases, scheduler], held }
    }

    /// The outbox workers: one lane per store ([`SyncEngine::outbox_stores`], looked at every tick), each
    /// claiming and pushing its own store's items, woken when pushes are queued, so one store's slow
    /// pushes hold no other up. On stop, waits for the lanes' pushes in flight; when this task is aborted
    /// its lanes are too (they live in its [`JoinSet`]).
    async fn outbox_lanes(&self, mut stop: watch::Receiver<bool>) {
        let mut lanes = JoinSet::new();
        let mut running: HashMap<StoreId, Arc<AtomicBool>> = HashMap::new();
        loop {
            match self.outbox_stores().await {
                Ok(stores) => {
                    running.retain(|store, gone| {
                        let keep = stores.contains(store);
                        if !keep {
                            gone.store(true, Ordering::SeqCst);
                        }
                        keep
                    });
                    for store in stores {
                        if running.contains_key(&store) {
                            continue;
                        }
                        let gone = Arc::new(AtomicBool::new(false));
                        running.insert(store.clone(), Arc::clone(&gone));
                        let engine = self.clone();
                        let stop = stop.clone();
                        lanes.spawn(async move { engine.outbox_lane(store, gone, stop).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not list the outbox's stores"),
            }
            // Reap lanes that ended (their store went away).
            while lanes.try_join_next().is_some() {}
            tokio::select! {
                () = tokio::time::sleep(self.inner.config.tick) => {}
                _ = stop.changed() => break,
            }
        }
        while lanes.join_next().await.is_some() {}
    }

    /// One store's outbox lane: push what is due, then wait for a wake, the next tick or the stop.
    async fn outbox_lane(&self, store: StoreId, gone: Arc<AtomicBool>, mut stop: watch::Receiver<bool>) {
        let mut wake = self.inner.outbox_wake.subscribe();
        loop {
            if *stop.borrow() || gone.load(Ordering::SeqCst) {
                return;
            }
            match self.run_store_once(&store).await {
                Ok(r) if r.claimed > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(%store, error = %e, "outbox pass failed"),
            }
            tokio::select! {
                _ = wake.changed() => {}
                () = tokio::time::sleep(self.inner.config.tick) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// The connected stores the scheduler works for (live and daily, with a channel), with their mode.
    async fn scheduled_stores(&self) -> Vec<(StoreId, SyncMode)> {
        let Ok(guard) = self.state().await else { return Vec::new() };
        self.scheduled_in(guard.as_ref())
    }

    fn scheduled_in(&self, state: Option<&super::runtime::State>) -> Vec<(StoreId, SyncMode)> {
        let mut stores: Vec<(StoreId, SyncMode)> = state
            .map(|s| {
                s.connections
                    .values()
                    .filter(|c| c.sync_mode != SyncMode::Disabled)
                    .map(|c| (c.store.clone(), c.sync_mode))
                    .collect()
            })
            .unwrap_or_default();
        stores.retain(|(s, _)| self.channel(s).is_some());
        stores.sort_by(|a, b| a.0.cmp(&b.0));
        stores
    }

    /// Take or renew the lease of every scheduled store; give up those no longer scheduled. `stores` is the
    /// list of the last round, used again while the state is locked (a long reload must not let leases
    /// run out).
    async fn renew_leases(&self, held: &Held, stores: &mut Vec<(StoreId, SyncMode)>) {
        let worker = &self.inner.config.worker;
        if let Ok(guard) = self.inner.state.try_lock() {
            *stores = self.scheduled_in(guard.as_ref());
        }
        let stores = &*stores;
        let now = self.inner.clock.now();
        let until = after(now, self.inner.config.lease);
        let renew_before = after(now, self.inner.config.lease.mul_f64(2.0 / 3.0));
        for (store, _) in stores {
            let fresh =
                held.lock().unwrap_or_else(PoisonError::into_inner).get(store).is_some_and(|t| *t > renew_before);
            if fresh {
                continue;
            }
            let result = self.inner.store.acquire_lease(store, worker, until, now).await;
            let mut map = held.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(true) => {
                    if map.insert(store.clone(), until).is_none() {
                        tracing::debug!(%store, %worker, "store lease taken");
                    }
                }
                Ok(false) => {
                    map.remove(store);
                }
                Err(e) => tracing::warn!(%store, error = %e, "could not renew a store lease"),
            }
        }
        let gone: Vec<StoreId> = {
            let mut map = held.lock().unwrap_or_else(PoisonError::into_inner);
            let gone: Vec<StoreId> = map.keys().filter(|s| !stores.iter().any(|(x, _)| x == *s)).cloned().collect();
            for s in &gone {
                map.remove(s);
            }
            gone
        };
        for store in gone {
            if let Err(e) = self.inner.store.release_lease(&store, worker).await {
                tracing::warn!(%store, error = %e, "could not release a store lease");
            }
        }
    }

    async fn scheduler_tick(&self, held: &Held, ticks: &mut Ticks) {
        let now = self.inner.clock.now();
        let leased: BTreeSet<StoreId> = held_now(held, now).into_iter().collect();
        let stores: Vec<(StoreId, SyncMode)> =
            self.scheduled_stores().await.into_iter().filter(|(s, _)| leased.contains(s)).collect();
        let interval = SignedDuration::try_from(self.inner.config.poll_interval).unwrap_or(SignedDuration::MAX);
        for (store, mode) in &stores {
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
        let daily = last_daily(now, self.inner.config.daily_at);
        let mut due_daily = Vec::new();
        for (store, _) in &stores {
            match self.daily_due(store, daily, ticks).await {
                Ok(true) => due_daily.push(store.clone()),
                Ok(false) => {}
                Err(e) => tracing::warn!(%store, error = %e, "could not read the daily cursor"),
            }
        }
        let claim = ClaimRequest::new(self.inner.config.worker.clone(), 16, now, after(now, self.inner.config.lease));
        let requested = match self.inner.store.claim_sync_requests(&claim).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim sync requests");
                Vec::new()
            }
        };
        if due_daily.is_empty() && requested.is_empty() {
            return;
        }
        let mut only: Vec<StoreId> = due_daily.clone();
        only.extend(requested.iter().map(|r| r.store.clone()));
        only.sort();
        only.dedup();
        match self.full_sync_claimed(only, &requested).await {
            Ok(summary) => {
                tracing::info!(?summary, "full reconcile done");
                for r in &requested {
                    let token = r.claim_token.as_deref().unwrap_or_default();
                    match self.inner.store.finish_sync_request(&r.store, token).await {
                        Ok(true) => {}
                        Ok(false) => tracing::info!(store = %r.store, "sync request renewed or taken over meanwhile"),
                        Err(e) => tracing::warn!(store = %r.store, error = %e, "could not complete a sync request"),
                    }
                }
                for store in &due_daily {
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
        for store in due_daily {
            // Not again today in this worker, even after a failure (a restart or another worker retries).
            ticks.daily_done.insert(store, daily);
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
