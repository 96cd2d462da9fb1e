//! The balance of company leases: heartbeat, renew, give up extras, take free ones; start and stop the
//! held companies' engines.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::{FleetEvent, Held, Shared, after};
use crate::Result;
use crate::store::{CompanyId, CompanyLease};
use crate::sync::SyncEngine;

impl Shared {
    /// One round: heartbeat, then hold `ceil(companies / live workers)` companies.
    pub(crate) async fn balance(self: &Arc<Self>) -> Result<()> {
        let worker = &self.config.worker;
        let now = self.clock.now();
        let until = after(now, self.config.lease);
        let live = self.store.worker_heartbeat(worker, until, now).await?.len().max(1);
        let companies: BTreeSet<CompanyId> = self.store.companies().await?.into_iter().map(|c| c.id).collect();
        let target = companies.len().div_ceil(live);
        // Companies deleted meanwhile: stop their engines.
        let gone: Vec<CompanyId> = self.lock().keys().filter(|c| !companies.contains(*c)).cloned().collect();
        for company in gone {
            self.stop_company(&company, true).await;
        }
        self.renew(now).await;
        let held: Vec<CompanyId> = self.lock().keys().cloned().collect();
        if held.len() > target {
            // The extras go, the last ids first (any choice would do; this one is stable).
            for company in held.iter().rev().take(held.len() - target) {
                tracing::info!(%worker, %company, target, live, "giving a company up to rebalance");
                self.stop_company(company, true).await;
            }
            return Ok(());
        }
        if held.len() < target {
            let leases: BTreeMap<CompanyId, CompanyLease> =
                self.store.company_leases().await?.into_iter().map(|l| (l.company.clone(), l)).collect();
            let free = companies
                .iter()
                .filter(|c| !held.contains(c) && leases.get(*c).is_none_or(|l| l.until <= now || l.holder == *worker));
            let started = tokio::time::Instant::now();
            let mut holding = held.len();
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

    /// Renew the leases held that are a third of the way through; stop the engines of those lost.
    async fn renew(&self, now: Timestamp) {
        let worker = &self.config.worker;
        let renew_before = after(now, self.config.lease.mul_f64(2.0 / 3.0));
        let until = after(now, self.config.lease);
        let due: Vec<CompanyId> =
            self.lock().iter().filter(|(_, h)| h.until <= renew_before).map(|(c, _)| c.clone()).collect();
        for company in due {
            match self.store.acquire_company_lease(&company, worker, until, now).await {
                Ok(true) => {
                    if let Some(held) = self.lock().get_mut(&company) {
                        held.until = until;
                    }
                }
                Ok(false) => {
                    tracing::warn!(%worker, %company, "company lease lost: its engine stops");
                    self.stop_company(&company, false).await;
                }
                Err(e) => tracing::warn!(%worker, %company, error = %e, "could not renew a company lease"),
            }
        }
    }

    /// Take a company's lease and start its engine; `false` when the lease was taken by another worker
    /// first, or the engine could not be started (its lease is given back).
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
        self.lock().insert(company.clone(), Held { engine: engine.clone(), running: Some(running), until });
        let _ = self.events.send(FleetEvent::Started { company: company.clone(), engine });
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

    /// Stop a held company's engine (waiting for what it has in flight), then release its lease when
    /// `release` (not when it was lost: it is another worker's now).
    pub(crate) async fn stop_company(&self, company: &CompanyId, release: bool) {
        let running = {
            let mut held = self.lock();
            match held.get_mut(company) {
                Some(h) => h.running.take(),
                None => return,
            }
        };
        if let Some(running) = running {
            running.shutdown().await;
        }
        self.lock().remove(company);
        let worker = &self.config.worker;
        if release && let Err(e) = self.store.release_company_lease(company, worker).await {
            tracing::warn!(%worker, %company, error = %e, "could not release a company lease");
        }
        tracing::info!(%worker, %company, "company's engine stopped here");
        let _ = self.events.send(FleetEvent::Stopped { company: company.clone() });
    }
}
