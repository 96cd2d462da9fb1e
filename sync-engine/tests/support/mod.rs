//! Test doubles: a `Channel` whose account, listings and failures the test controls.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelKind, Error, ItemOutcome, Listing, OrderCursor, OrderPage,
    StockUpdate, StoreId, WebhookEvent, WebhookPayload, WebhookRejection, WebhookRequest,
};
use futures::stream::{self, BoxStream, StreamExt};
use sync_engine::connections::{ChannelFactory, ChannelSpec};
use sync_engine::{Clock, Connections, CredentialCipher, Credentials, ManualClock, MemoryStore, Store};

/// What the fake platform knows, shared by every channel the factory builds.
#[derive(Debug, Default)]
pub struct World {
    /// api_key -> account id; keys not here are refused with an auth error.
    pub keys: Mutex<BTreeMap<String, String>>,
    /// store -> listings the channel shows.
    pub listings: Mutex<BTreeMap<String, Vec<Listing>>>,
    /// Accounts whose every call now fails with an auth error (revoked).
    pub revoked: Mutex<Vec<String>>,
    /// Stock writes that reached the platform.
    pub writes: Mutex<Vec<(String, StockUpdate)>>,
}

impl World {
    pub fn key(&self, key: &str, account: &str) {
        self.keys.lock().unwrap().insert(key.into(), account.into());
    }
    pub fn set_listings(&self, store: &str, listings: Vec<Listing>) {
        self.listings.lock().unwrap().insert(store.into(), listings);
    }
    pub fn revoke(&self, account: &str) {
        self.revoked.lock().unwrap().push(account.into());
    }
    pub fn restore(&self, account: &str) {
        self.revoked.lock().unwrap().retain(|a| a != account);
    }
}

#[derive(Debug)]
pub struct FakeChannel {
    kind: ChannelKind,
    store: String,
    key: String,
    world: Arc<World>,
}

impl FakeChannel {
    fn account(&self) -> channel_core::Result<String> {
        let account = self.world.keys.lock().unwrap().get(&self.key).cloned();
        match account {
            Some(a) if !self.world.revoked.lock().unwrap().contains(&a) => Ok(a),
            _ => Err(Error::auth("401 Unauthorized").with_status(401)),
        }
    }
}

#[async_trait]
impl Channel for FakeChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::builder().build()
    }
    async fn test_connection(&self) -> channel_core::Result<AccountIdentity> {
        let account = self.account()?;
        Ok(AccountIdentity::new(self.kind, account).with_name("Fake shop").with_detail("region", "za"))
    }
    fn listings(&self) -> BoxStream<'_, channel_core::Result<Listing>> {
        match self.account() {
            Err(e) => stream::iter(vec![Err(e)]).boxed(),
            Ok(_) => {
                let l = self.world.listings.lock().unwrap().get(&self.store).cloned().unwrap_or_default();
                stream::iter(l.into_iter().map(Ok)).boxed()
            }
        }
    }
    async fn set_stock(&self, updates: &[StockUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.account()?;
        let mut w = self.world.writes.lock().unwrap();
        for u in updates {
            w.push((self.store.clone(), u.clone()));
        }
        Ok(updates.iter().map(|u| ItemOutcome::applied(u.listing.clone(), Some(u.quantity))).collect())
    }
    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, channel_core::Result<OrderPage>> {
        let page = self.account().map(|_| OrderPage::new(Vec::new(), cursor.clone()));
        stream::iter(vec![page]).boxed()
    }
    fn verify_webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent, WebhookRejection> {
        match request.header_value("x-signature") {
            Some(s) if s == self.key => Ok(WebhookEvent::new(None, "ping", WebhookPayload::Ping)),
            Some(_) => Err(WebhookRejection::BadSignature),
            None => Err(WebhookRejection::Unsigned { header: "x-signature".into() }),
        }
    }
}

#[derive(Debug)]
pub struct FakeFactory(pub Arc<World>);

impl ChannelFactory for FakeFactory {
    fn build(&self, spec: &ChannelSpec<'_>) -> channel_core::Result<Arc<dyn Channel>> {
        let key = spec.credentials.expose("api_key").ok_or_else(|| Error::config("api_key is required"))?;
        Ok(Arc::new(FakeChannel {
            kind: spec.channel,
            store: spec.store.to_string(),
            key: key.to_owned(),
            world: Arc::clone(&self.0),
        }))
    }
}

pub fn key(k: &str) -> Credentials {
    Credentials::new().with("api_key", k)
}

pub fn sid(s: &str) -> StoreId {
    StoreId::new(s)
}

pub struct Fixture {
    pub world: Arc<World>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub connections: Connections,
}

pub fn fixture_with(store: Arc<dyn Store>) -> Fixture {
    let world = Arc::new(World::default());
    let clock = Arc::new(ManualClock::new(sync_engine::testing::t0()));
    let connections = Connections::new(
        Arc::clone(&store),
        Arc::new(FakeFactory(Arc::clone(&world))),
        CredentialCipher::new(&[42; 32]),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    Fixture { world, store, clock, connections }
}

pub fn fixture() -> Fixture {
    fixture_with(Arc::new(MemoryStore::new()))
}
