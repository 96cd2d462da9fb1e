//! Connections over fake channels: a platform whose accounts, listings and failures the test controls
//! (channel-testkit's `FakePlatform`), and a factory building its channels.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use channel_core::{Channel, Error, StoreId};
pub use channel_testkit::fake::FakePlatform;
use sync_engine::connections::{ChannelFactory, ChannelSpec};
use sync_engine::{Clock, Connections, CredentialCipher, Credentials, ManualClock, MemoryStore, Store};

/// Builds channel-testkit's `FakeChannel`s on the platform, signed in with the connection's `api_key`.
#[derive(Debug)]
pub struct FakeFactory(pub Arc<FakePlatform>);

impl ChannelFactory for FakeFactory {
    fn build(&self, spec: &ChannelSpec<'_>) -> channel_core::Result<Arc<dyn Channel>> {
        let key = spec.credentials.expose("api_key").ok_or_else(|| Error::config("api_key is required"))?;
        Ok(Arc::new(self.0.channel(spec.channel, spec.store.as_str(), key)))
    }
}

pub fn key(k: &str) -> Credentials {
    Credentials::new().with("api_key", k)
}

pub fn sid(s: &str) -> StoreId {
    StoreId::new(s)
}

pub struct Fixture {
    pub world: Arc<FakePlatform>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub connections: Connections,
}

pub fn fixture_with(store: Arc<dyn Store>) -> Fixture {
    let world = FakePlatform::new();
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
