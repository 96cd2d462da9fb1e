//! Several workers by company: a [`Fleet`] is one worker's share of the companies in a store shared by
//! several workers (PostgreSQL).
//!
//! - **Heartbeats and balance.** Every [`SyncConfig::tick`] (at most a third of [`SyncConfig::lease`]) the
//!   worker heartbeats ([`Store::worker_heartbeat`]) and sees the live workers and the companies. It aims
//!   to hold `ceil(companies / live workers)` company leases ([`Store::acquire_company_lease`], lasting
//!   [`SyncConfig::lease`], renewed a third of the way through): it takes free or expired leases up to that
//!   target and gives up the ones above it. A worker that joins is given companies, and the companies of
//!   one that leaves are taken over, within one lease period: at once after a clean shutdown (its leases
//!   are released), once its leases run out after a crash.
//! - **One engine per held company.** For each company it holds, the worker runs a [`SyncEngine`] over
//!   that company's view of the store ([`Store::for_company`]), with its channels built by a
//!   [`Connections`] scoped to it, and started ([`SyncEngine::start`]). When the lease is lost or given up
//!   the engine is shut down first. Only held companies are kept in memory.
//! - **Webhooks received anywhere.** [`Fleet::handle_webhook`] locates the store
//!   ([`Store::locate_store`]). A store of a company held here goes to its engine at once. Otherwise the
//!   delivery is verified with the store's channel (built from the stored credentials), refused as the
//!   engine would refuse it, and recorded durably in the inbox ([`Store::inbox_put`]) before it is answered
//!   200. Every tick, the holder of a company applies its inbox: each item parsed again with the channel,
//!   applied through the engine's exactly-once path (delivery marker, order-line markers), then removed
//!   ([`Store::inbox_done`]).
//! - **Global stores.** A delivery for a global store ([`crate::store::Scope::Global`]) is recorded once
//!   for each company it concerns: the companies owning a SKU the delivery names
//!   ([`Store::sku_owners`], the channel SKU taken as is and through the store's SKU rules), else those
//!   having a listing it names linked, else (an uninstall claim) the first company. Each company's engine
//!   then takes what is its own. Such deliveries always go through the inbox, even when this worker holds
//!   the companies.
//!
//! See `docs/store.md`, "Several workers".

mod balance;
mod inbox;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use channel_core::{StoreId, WebhookRequest};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::connections::{ChannelFactory, Connections};
use crate::credentials::CredentialCipher;
use crate::store::{CompanyId, Scope, Store};
use crate::sync::rejections::Rejections;
use crate::sync::{RunningEngine, SyncConfig, SyncEngine, WebhookOutcome};

/// What happened to the companies a [`Fleet`] holds ([`Fleet::subscribe`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FleetEvent {
    /// This worker took a company's lease and started its engine (ask [`Fleet::engine`] for it: the event
    /// holds no engine, so a subscriber that falls behind keeps none alive).
    Started {
        /// The company.
        company: CompanyId,
    },
    /// This worker stopped a company's engine: its lease was lost or given up, or the fleet stopped.
    Stopped {
        /// The company.
        company: CompanyId,
    },
}

/// One worker's share of the companies. Cheap to clone (a handle); see the [module docs](self).
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Shared>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("worker", &self.inner.config.worker)
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

/// A company this worker holds.
struct Held {
    engine: SyncEngine,
    /// `None` only while it is being stopped (its lease still renewed).
    running: Option<RunningEngine>,
    /// Abort the engine's tasks, also while it is being stopped.
    aborts: Vec<tokio::task::AbortHandle>,
    /// The end of the lease, as last taken or renewed.
    until: Timestamp,
    /// Which taking of the company this is (a stop finishing late leaves a later one alone).
    epoch: u64,
}

/// What the fleet's handles and tasks share.
pub(crate) struct Shared {
    store: Arc<dyn Store>,
    factory: Arc<dyn ChannelFactory>,
    cipher: CredentialCipher,
    clock: Arc<dyn Clock>,
    config: SyncConfig,
    held: Mutex<BTreeMap<CompanyId, Held>>,
    /// Rejected deliveries per store, shared with the engines of the companies held here.
    rejections: Arc<Rejections>,
    events: broadcast::Sender<FleetEvent>,
    /// Inbox items kept after a failure that may pass, with their backoff.
    retries: inbox::Retries,
    /// The next [`Held::epoch`].
    epochs: std::sync::atomic::AtomicU64,
}

/// `wait` after `now` (saturating).
fn after(now: Timestamp, wait: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX)).unwrap_or(now)
}

impl Fleet {
    /// A worker named [`SyncConfig::worker`] over `store` (any company's view: the fleet uses its root-level
    /// methods and [`Store::for_company`]), building channels with `factory` from credentials sealed with
    /// `cipher`, each company's engine configured with `config`, on `clock`. Nothing runs before
    /// [`Fleet::start`]; [`Fleet::handle_webhook`] works at once (it records every delivery for the
    /// holders).
    pub fn new(
        store: Arc<dyn Store>,
        factory: Arc<dyn ChannelFactory>,
        cipher: CredentialCipher,
        config: SyncConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Shared {
                store,
                factory,
                cipher,
                clock,
                config,
                held: Mutex::new(BTreeMap::new()),
                rejections: Arc::default(),
                events,
                retries: inbox::Retries::default(),
                epochs: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// This worker's name.
    pub fn worker(&self) -> &str {
        &self.inner.config.worker
    }

    /// The configuration each company's engine runs with.
    pub fn config(&self) -> &SyncConfig {
        &self.inner.config
    }

    /// The companies this worker holds now, each with its engine running, by id.
    pub fn held(&self) -> Vec<CompanyId> {
        self.inner.lock().keys().cloned().collect()
    }

    /// The engine of a company this worker holds (to ask it for a sync, its plan, its stock): only while
    /// its lease is held (not run out) and its engine running, not while it is being stopped.
    pub fn engine(&self, company: &CompanyId) -> Option<SyncEngine> {
        self.inner.serving(company)
    }

    /// The companies' engines starting and stopping from now on. Events are dropped for a receiver more
    /// than 1,024 behind.
    pub fn subscribe(&self) -> broadcast::Receiver<FleetEvent> {
        self.inner.events.subscribe()
    }

    /// Start the worker: heartbeats, the balance of company leases with one engine per held company, and
    /// the inbox of held companies applied every tick. Call it once per fleet; stop it with
    /// [`RunningFleet::shutdown`].
    pub fn start(&self) -> RunningFleet {
        let (stop, rx) = watch::channel(false);
        let config = &self.inner.config;
        let every = config.tick.min(config.lease / 3).max(Duration::from_millis(10));
        let balance = {
            let shared = Arc::clone(&self.inner);
            let mut rx = rx.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = shared.balance().await {
                        tracing::warn!(worker = %shared.config.worker, error = %e, "could not balance companies");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        let inbox = {
            let shared = Arc::clone(&self.inner);
            let mut rx = rx;
            tokio::spawn(async move {
                loop {
                    shared.drain_held().await;
                    shared.audit_rejections(false).await;
                    tokio::select! {
                        () = tokio::time::sleep(shared.config.tick) => {}
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        RunningFleet { fleet: self.clone(), stop, tasks: vec![balance, inbox] }
    }

    /// Handle a webhook delivery for any store of any company (see the [module docs](self)): to the engine
    /// when this worker holds the store's company, its lease not run out and its engine running (and the
    /// engine has the store's channel already);
    /// otherwise verified with the store's channel and
    /// recorded for the holder ([`WebhookOutcome::Recorded`], 200; [`WebhookOutcome::Duplicate`] when it
    /// was recorded or applied before). Refused as [`SyncEngine::handle_webhook`] refuses: 404 for an
    /// unknown store or one whose channel cannot be built, 403 for one not connected or disabled, the
    /// channel's status for a delivery that does not verify, 400 for a stale one; rejections are audited in
    /// the store's company (the default company's view for a global store) and throttled past
    /// [`SyncConfig::webhook_rejection_limit`]. 503 when the store cannot be read or written now.
    pub async fn handle_webhook(&self, store: &StoreId, request: &WebhookRequest) -> WebhookOutcome {
        let record = match self.inner.store.locate_store(store).await {
            Ok(Some(record)) => record,
            Ok(None) => return WebhookOutcome::Rejected { status: 404, reason: format!("no store {store}") },
            Err(e) => return inbox::unavailable(store, &e),
        };
        if let Scope::Client(company) = &record.scope
            && let Some(engine) = self.engine(company)
        {
            let outcome = engine.handle_webhook(store, request).await;
            // A store connected since the engine's last tick has no channel there yet: record it instead.
            if !matches!(outcome, WebhookOutcome::Rejected { status: 404, .. }) {
                return outcome;
            }
        }
        self.inner.receive(record, request).await
    }
}

/// A started [`Fleet`]. Dropping it does not stop it; call [`RunningFleet::shutdown`].
#[derive(Debug)]
pub struct RunningFleet {
    fleet: Fleet,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningFleet {
    /// The fleet (to hand webhooks to, to see what it holds).
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Stop: the balance and inbox tasks end, every company's engine is shut down
    /// ([`RunningEngine::shutdown`]) and its lease released, and the worker is forgotten
    /// ([`Store::worker_gone`]), so the other workers take its companies over at once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let shared = &self.fleet.inner;
        let companies: Vec<CompanyId> = shared.lock().keys().cloned().collect();
        // Every engine stops at once, each lease renewed until its engine has stopped.
        let stops: Vec<JoinHandle<()>> = companies.iter().filter_map(|c| shared.stop_company(c, true)).collect();
        let all = futures::future::join_all(stops);
        tokio::pin!(all);
        let every = (shared.config.lease / 3).max(Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = &mut all => break,
                () = tokio::time::sleep(every) => {
                    shared.expire(shared.clock.now());
                    shared.renew(shared.clock.now()).await;
                }
            }
        }
        shared.audit_rejections(true).await;
        if let Err(e) = shared.store.worker_gone(&shared.config.worker).await {
            tracing::warn!(worker = %shared.config.worker, error = %e, "could not say the worker is gone");
        }
    }

    /// Stop at once without releasing anything, as a crash would: the tasks and every engine are aborted
    /// ([`RunningEngine::abort`]); the company leases, the heartbeat and the engines' claims stay until
    /// they run out, then other workers take the companies over. The fleet then holds nothing.
    /// (In-process, close the store's pool too, as a dying process would.)
    pub fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
        let held = std::mem::take(&mut *self.fleet.inner.lock());
        for (_, held) in held {
            if let Some(running) = held.running {
                running.abort();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<CompanyId, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A held company's engine, if its lease has not run out and its engine runs (not being stopped).
    fn serving(&self, company: &CompanyId) -> Option<SyncEngine> {
        let now = self.clock.now();
        self.lock().get(company).filter(|h| h.running.is_some() && h.until > now).map(|h| h.engine.clone())
    }

    /// A connection manager over a company's view.
    fn connections(&self, view: Arc<dyn Store>) -> Connections {
        Connections::new(view, Arc::clone(&self.factory), self.cipher.clone(), Arc::clone(&self.clock))
    }
}
