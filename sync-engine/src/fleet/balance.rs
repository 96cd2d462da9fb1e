//! The balance of company leases: renew first, heartbeat, give up extras, take free ones; start and stop
//! the held companies' engines.
//!
//! Each held lease's end (`until`) is tracked here: an engine whose lease has passed without a confirmed
//! renewal (the store failed, or the round came late) is aborted at once, since another worker may hold the
//! company by then. Stopping an engine never holds up the renewals: a graceful stop runs in its own task,
//! and the company's lease keeps being renewed until the engine has stopped and the lease is released.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::{FleetEvent, Held, Shared, after};
use crate::Result;
use crate::store::{CompanyId, CompanyLease};
use crate::sync::SyncEngine;

impl Shared {
    /// One round: the leases held checked and renewed first (no error skips them), then the heartbeat,
    /// then hold `ceil(companies / live workers)` companies.
    pub(crate) async fn balance(self: &Arc<Self>) -> Result<()> {
        let worker = &self.config.worker;
        self.expire(self.clock.now());
        self.renew(self.clock.now()).await;
        let now = self.clock.now();
        let until = after(now, self.config.lease);
        let live = self.store.worker_heartbeat(worker, until, now).await?.len().max(1);
        let companies: BTreeSet<CompanyId> = self.store.companies().await?.into_iter().map(|c| c.id).collect();
        let target = companies.len().div_ceil(live);
        // Companies deleted meanwhile: stop their engines.
        let gone: Vec<CompanyId> = self.lock().keys().filter(|c| !companies.contains(*c)).cloned().collect();
        for company in gone {
            self.stop_company(&company, true);
        }
        let (running, held): (Vec<CompanyId>, BTreeSet<CompanyId>) = {
            let held = self.lock();
            let running = held.iter().filter(|(_, h)| h.running.is_some()).map(|(c, _)| c.clone()).collect();
            (running, held.keys().cloned().collect())
        };
        if running.len() > target {
            // The extras go, the last ids first (any choice would do; this one is stable).
            for company in running.iter().rev().take(running.len() - target) {
                tracing::info!(%worker, %company, target, live, "giving a company up to rebalance");
                self.stop_company(company, true);
            }
            return Ok(());
        }
        if running.len() < target {
            let leases: BTreeMap<CompanyId, CompanyLease> =
                self.store.company_leases().await?.into_iter().map(|l| (l.company.clone(), l)).collect();
            let free = companies
                .iter()
                .filter(|c| !held.contains(*c) && leases.get(*c).is_none_or(|l| l.until <= now || l.holder == *worker));
            let started = tokio::time::Instant::now();
            let mut holding = running.len();
            for company in free {
                // Leave time to renew what is held: the rest is taken at the next round.
                if holding >= target || started.elapsed() > self.config.lease / 3 {
                    break;
                }
                if self.take(company).await {
                    holding += 1;
                }
            }
        }
        Ok(())
    }

    /// Abort the engines of the companies whose lease has run out unrenewed: another worker may hold them.
    pub(crate) fn expire(&self, now: Timestamp) {
        let expired: Vec<CompanyId> =
            self.lock().iter().filter(|(_, h)| h.until <= now).map(|(c, _)| c.clone()).collect();
        for company in expired {
            tracing::warn!(worker = %self.config.worker, %company, "company lease ran out unrenewed: its engine stops");
            self.lose(&company);
        }
    }

    /// Renew the leases held (engines running or stopping) that are a third of the way through; abort the
    /// engines of those lost. A lease that cannot be renewed now is tried again next round, and its
    /// engine aborted once it has run out ([`Shared::expire`]).
    pub(crate) async fn renew(&self, now: Timestamp) {
        let worker = &self.config.worker;
        let renew_before = after(now, self.config.lease.mul_f64(2.0 / 3.0));
        let until = after(now, self.config.lease);
        let due: Vec<(CompanyId, u64)> =
            self.lock().iter().filter(|(_, h)| h.until <= renew_before).map(|(c, h)| (c.clone(), h.epoch)).collect();
        for (company, epoch) in due {
            match self.store.acquire_company_lease(&company, worker, until, now).await {
                Ok(true) => {
                    if let Some(held) = self.lock().get_mut(&company).filter(|h| h.epoch == epoch) {
                        held.until = held.until.max(until);
                    }
                }
                Ok(false) => {
                    tracing::warn!(%worker, %company, "company lease lost: its engine stops");
                    self.lose(&company);
                }
                Err(e) => tracing::warn!(%worker, %company, error = %e, "could not renew a company lease"),
            }
        }
    }

    /// Abort a company's engine at once (its lease is lost or may be) and forget it; nothing is released.
    fn lose(&self, company: &CompanyId) {
        let Some(held) = self.lock().remove(company) else { return };
        for task in &held.aborts {
            task.abort();
        }
        if let Some(running) = held.running {
            running.abort();
        }
        let _ = self.events.send(FleetEvent::Stopped { company: company.clone() });
    }

    /// Take a company's lease and start its engine; `false` when the lease was taken by another worker
    /// first, or the engine could not be started in time (its lease is given back).
    async fn take(&self, company: &CompanyId) -> bool {
        let worker = &self.config.worker;
        let now = self.clock.now();
        let until = after(now, self.config.lease);
        match self.store.acquire_company_lease(company, worker, until, now).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(%worker, %company, error = %e, "could not take a company lease");
                return false;
            }
        }
        let engine = match self.open(company).await {
            // The lease taken runs to `until`: an engine opened too late for it does not start.
            Ok(_) if self.clock.now() >= until => Err(crate::Error::Invalid("the lease ran out while opening".into())),
            other => other,
        };
        let engine = match engine {
            Ok(engine) => engine,
            Err(e) => {
                tracing::error!(%worker, %company, error = %e, "could not start a company's engine");
                if let Err(e) = self.store.release_company_lease(company, worker).await {
                    tracing::warn!(%worker, %company, error = %e, "could not release a company lease");
                }
                return false;
            }
        };
        let running = engine.start();
        tracing::info!(%worker, %company, "company taken: its engine runs here");
        let aborts = running.abort_handles();
        let epoch = self.epochs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let held = Held { engine, running: Some(running), aborts, until, epoch };
        self.lock().insert(company.clone(), held);
        let _ = self.events.send(FleetEvent::Started { company: company.clone() });
        true
    }

    /// A company's engine over its view of the store, its channels built by a manager scoped to it.
    async fn open(&self, company: &CompanyId) -> Result<SyncEngine> {
        let view = self.store.for_company(company);
        SyncEngine::builder(Arc::clone(&view))
            .clock(Arc::clone(&self.clock))
            .config(self.config.clone())
            .connections(self.connections(view))
            .shared_rejections(Arc::clone(&self.rejections))
            .build()
            .await
    }

    /// Stop a held company's engine in its own task (what it has in flight finishes first) while its lease
    /// keeps being renewed, then forget it and release its lease when `release`. The task, if one started.
    pub(crate) fn stop_company(
        self: &Arc<Self>,
        company: &CompanyId,
        release: bool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let (running, epoch) = {
            let mut held = self.lock();
            let h = held.get_mut(company)?;
            (h.running.take()?, h.epoch)
        };
        let shared = Arc::clone(self);
        let company = company.clone();
        Some(tokio::spawn(async move {
            running.shutdown().await;
            let mine = {
                let mut held = shared.lock();
                let mine = held.get(&company).is_some_and(|h| h.epoch == epoch);
                if mine {
                    held.remove(&company);
                }
                mine
            };
            // Lost meanwhile (aborted and forgotten): the lease may be another worker's now.
            if !mine {
                return;
            }
            let worker = &shared.config.worker;
            if release && let Err(e) = shared.store.release_company_lease(&company, worker).await {
                tracing::warn!(%worker, %company, error = %e, "could not release a company lease");
            }
            tracing::info!(%worker, %company, "company's engine stopped here");
            let _ = shared.events.send(FleetEvent::Stopped { company });
        }))
    }
}
