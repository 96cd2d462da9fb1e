//! `--in-process`: one [`SyncEngine`] per company in this process, each over its own memory store, its
//! channels built by a [`Connections`] manager from the sealed credentials, webhooks handed to it by the
//! proxy. No database and no workers: the engines' own cost, for comparison with the fleet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sync_engine::store::{CompanyId, Scope};
use sync_engine::sync::RunningEngine;
use sync_engine::{AdapterFactory, Connections, CredentialCipher, MemoryStore, Store, SyncEngine, SystemClock};

use crate::args::Args;
use crate::farm::{Farm, store_id};
use crate::proxy::Proxy;
use crate::seed::company_batch;

/// The running engines.
pub(crate) struct Engines {
    running: Vec<RunningEngine>,
    stores: Vec<Arc<dyn Store>>,
}

/// Start-up times.
pub(crate) struct Started {
    /// Every engine built and started.
    pub held: Duration,
    /// Every first reconcile done.
    pub ready: Duration,
}

impl Engines {
    /// Seed a memory store per company, build and start its engine, route its stores' webhooks to it,
    /// and wait for every first reconcile (up to `limit`).
    pub(crate) async fn start(
        farm: &Farm,
        proxy: &Proxy,
        args: &Args,
        cipher: &CredentialCipher,
        limit: Duration,
    ) -> Result<(Self, Started), String> {
        let started = Instant::now();
        let config = crate::worker::sync_config(args, "in-process");
        let mut me = Self { running: Vec::new(), stores: Vec::new() };
        for c in 0..farm.len() {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let scope = Scope::Client(CompanyId::default_company());
            store.commit(company_batch(farm, c, Some(scope), false, cipher)?).await.map_err(|e| e.to_string())?;
            let manager = Connections::new(
                Arc::clone(&store),
                Arc::new(AdapterFactory::new()),
                cipher.clone(),
                Arc::new(SystemClock),
            );
            let engine = SyncEngine::builder(Arc::clone(&store))
                .config(config.clone())
                .connections(manager)
                .build()
                .await
                .map_err(|e| format!("company {c}: {e}"))?;
            for s in 0..3 {
                proxy.set_engine(&store_id(c, s), engine.clone());
            }
            me.running.push(engine.start());
            me.stores.push(store);
        }
        let held = started.elapsed();
        while me.queued_syncs().await? > 0 {
            if started.elapsed() > limit {
                return Err(format!("first reconciles not done after {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok((me, Started { held, ready: started.elapsed() }))
    }

    async fn queued_syncs(&self) -> Result<usize, String> {
        let mut n = 0;
        for store in &self.stores {
            n += store.sync_requests().await.map_err(|e| e.to_string())?.len();
        }
        Ok(n)
    }

    /// Stop every engine.
    pub(crate) async fn shutdown(self) {
        for running in self.running {
            running.shutdown().await;
        }
    }
}
