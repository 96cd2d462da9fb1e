//! Companies for the fleet tests (`tests/fleet.rs`, `tests/multi_worker.rs`): each company `co-N` has two
//! stores on channel-testkit's `FakePlatform`, Takealot `tk-N` (the source of truth: SKU `A`, 10 units) and
//! Shopify `shop-N` (daily, so never polled: its orders arrive only by webhook), both reconciled once. Every
//! company sells the same SKU `A`: each counts only its own sales.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use channel_core::{ChannelKind, Listing, StoreId, WebhookRequest};
use channel_testkit::fake::{FakeChannel, FakePlatform};
use sync_engine::connections::{ChannelFactory, ChannelSpec};
use sync_engine::store::{CompanyId, CompanyRecord, LedgerFilter, MovementCause, Scope, SyncMode, WriteOp};
use sync_engine::sync::{SyncConfig, WebhookOutcome};
use sync_engine::{Clock, Connections, CredentialCipher, Credentials, Fleet, NewConnection, Store, SyncEngine};

/// The units of `A` each source starts with.
pub const UNITS: i64 = 10;

/// Builds channel-testkit's `FakeChannel`s on the platform, signed in with the connection's `api_key`.
#[derive(Debug)]
pub struct Factory(pub Arc<FakePlatform>);

impl ChannelFactory for Factory {
    fn build(&self, spec: &ChannelSpec<'_>) -> channel_core::Result<Arc<dyn channel_core::Channel>> {
        let key = spec.credentials.expose("api_key").ok_or_else(|| channel_core::Error::config("api_key"))?;
        Ok(Arc::new(self.0.channel(spec.channel, spec.store.as_str(), key)))
    }
}

/// The platform, the store (any company's view) and the clock the companies live on.
#[derive(Clone)]
pub struct Companies {
    pub world: Arc<FakePlatform>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Each company's engine configuration but the worker's name.
    pub config: SyncConfig,
}

pub fn co(n: usize) -> CompanyId {
    CompanyId::new(format!("co-{n}"))
}

pub fn sid(s: &str) -> StoreId {
    StoreId::new(s)
}

/// Credentials with an API key.
pub fn key(k: &str) -> Credentials {
    Credentials::new().with("api_key", k)
}

pub fn cipher() -> CredentialCipher {
    CredentialCipher::new(&[42; 32])
}

/// Engines ticking every `tick` with leases of `lease`; orders are never polled.
pub fn config(tick: Duration, lease: Duration) -> SyncConfig {
    let mut config = SyncConfig::default();
    config.tick = tick;
    config.lease = lease;
    config.poll_interval = Duration::from_secs(3600);
    config.refresh_interval = Duration::from_secs(3600);
    config
}

impl Companies {
    /// `n` companies in `store` (and no other), each with its two stores connected and reconciled once.
    pub async fn create(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: SyncConfig, n: usize) -> Self {
        // A new store has the default company: these tests use their own only.
        store.purge_company(&CompanyId::default_company()).await.unwrap();
        let companies = Self { world: FakePlatform::new(), store, clock, config };
        for i in 1..=n {
            companies.add(i).await;
        }
        companies
    }

    async fn add(&self, n: usize) {
        let company = co(n);
        let record = CompanyRecord::new(company.clone(), format!("Company {n}"), self.clock.now());
        self.store.commit(WriteOp::PutCompany(record).into()).await.unwrap();
        let (tk, shop) = (format!("tk-{n}"), format!("shop-{n}"));
        self.world.add_key(&format!("k-{tk}"), &format!("seller-{n}"));
        self.world.add_key(&format!("k-{shop}"), &format!("shop-{n}"));
        self.world.set_listings(&tk, vec![Listing::new("t-a", "A", UNITS)]);
        self.world.set_listings(&shop, vec![Listing::new("s-a", "A", 0)]);
        let connections = self.manager(&company);
        let scope = Scope::Client(company.clone());
        let key = |k: &str| Credentials::new().with("api_key", format!("k-{k}"));
        let source = NewConnection::new(tk.as_str(), ChannelKind::Takealot, &tk, key(&tk)).source_of_truth(true);
        connections.add(source.with_scope(scope.clone())).await.unwrap();
        let daily =
            NewConnection::new(shop.as_str(), ChannelKind::Shopify, &shop, key(&shop)).with_sync_mode(SyncMode::Daily);
        connections.add(daily.with_scope(scope)).await.unwrap();
        let mut config = self.config.clone();
        config.worker = "setup".into();
        let engine = SyncEngine::builder(self.store.for_company(&company))
            .clock(Arc::clone(&self.clock))
            .config(config)
            .connections(connections)
            .build()
            .await
            .unwrap();
        let summary = engine.sync_now().finish().await.unwrap();
        assert_eq!(summary.failed, 0, "{summary:?}");
        assert_eq!(self.shows(&shop), Some(UNITS), "{shop} follows its source");
    }

    /// A company's connection manager.
    pub fn manager(&self, company: &CompanyId) -> Connections {
        Connections::new(
            self.store.for_company(company),
            Arc::new(Factory(Arc::clone(&self.world))),
            cipher(),
            Arc::clone(&self.clock),
        )
    }

    /// A worker over `store` (a handle on the companies' database).
    pub fn fleet(&self, worker: &str, store: Arc<dyn Store>) -> Fleet {
        let mut config = self.config.clone();
        config.worker = worker.into();
        Fleet::new(store, Arc::new(Factory(Arc::clone(&self.world))), cipher(), config, Arc::clone(&self.clock))
    }

    /// What a store shows for SKU `A`.
    pub fn shows(&self, store: &str) -> Option<i64> {
        self.world.listings(store).iter().find(|l| l.channel_sku == "A").and_then(Listing::quantity)
    }

    /// The platform's side of company `n`'s Shopify store: sells, and signs webhooks.
    pub fn shop(&self, n: usize) -> FakeChannel {
        self.world.channel(ChannelKind::Shopify, &format!("shop-{n}"), &format!("k-shop-{n}"))
    }

    /// Units of `A` company `n` counted as sold (its ledger's order movements).
    pub async fn sold_in(&self, n: usize) -> i64 {
        let mut filter = LedgerFilter::default();
        filter.sku = Some(channel_core::Sku::new("A").unwrap());
        let movements = self.store.for_company(&co(n)).ledger(&filter).await.unwrap();
        -movements.iter().filter(|m| m.movement.cause == MovementCause::Order).map(|m| m.movement.delta).sum::<i64>()
    }

    /// Sell one `A` on company `n`'s shop as order `order` and deliver its webhook to `fleet`.
    pub async fn sell(&self, fleet: &Fleet, n: usize, order: &str) -> (WebhookOutcome, WebhookRequest) {
        let platform = self.shop(n);
        let placed = platform.sell(order, "s-a", 1, self.clock.now());
        let request = platform.order_webhook(&format!("d-{order}"), &placed);
        (fleet.handle_webhook(&sid(&format!("shop-{n}")), &request).await, request)
    }
}

/// Whether the fleets together hold every company of `1..=n` exactly once, each as many as `each` says
/// (in any order).
pub fn held_as(fleets: &[&Fleet], n: usize, each: &[usize]) -> bool {
    let held: Vec<Vec<CompanyId>> = fleets.iter().map(|f| f.held()).collect();
    let mut all: Vec<&CompanyId> = held.iter().flatten().collect();
    all.sort();
    all.dedup();
    let mut counts: Vec<usize> = held.iter().map(Vec::len).collect();
    counts.sort_unstable();
    let mut want = each.to_vec();
    want.sort_unstable();
    let total: usize = counts.iter().sum();
    total == n && all.len() == n && (1..=n).all(|i| all.contains(&&co(i))) && counts == want
}
