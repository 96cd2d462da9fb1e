#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

pub mod clock;
pub mod companies;
pub mod connections;
mod credentials;
mod error;
pub mod factory;
pub mod fleet;
pub mod hygiene;
pub mod settings;
pub mod store;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use companies::{Companies, NewCompany};
pub use connections::{ChannelFactory, ChannelSpec, ConnectionUpdate, Connections, Disconnected, NewConnection};
pub use credentials::{CredentialCipher, Credentials};
pub use error::{Error, Result};
pub use factory::AdapterFactory;
pub use fleet::{Fleet, FleetEvent, RunningFleet};
pub use store::{MemoryStore, Store, StoreError, StoreExt, WriteBatch, WriteOp};
#[cfg(feature = "postgres")]
pub use store::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use store::{SqliteOptions, SqliteStore};
pub use sync::{SyncConfig, SyncEngine, SyncEvent};

/// The Amazon adapter (feature `amazon`).
#[cfg(feature = "amazon")]
pub use channel_amazon as amazon;
/// The shared core, re-exported so a host needs one dependency line.
pub use channel_core;
/// The marketplace adapters (features `ebay`, `etsy`, `tiktok`, `magento`, `veeqo`, `shopamine`).
#[cfg(any(
    feature = "ebay",
    feature = "etsy",
    feature = "tiktok",
    feature = "magento",
    feature = "veeqo",
    feature = "shopamine"
))]
pub use channel_marketplaces as marketplaces;
/// The Shopify adapter (feature `shopify`).
#[cfg(feature = "shopify")]
pub use channel_shopify as shopify;
/// The Takealot adapter (feature `takealot`).
#[cfg(feature = "takealot")]
pub use channel_takealot as takealot;
/// The WooCommerce adapter (feature `woocommerce`).
#[cfg(feature = "woocommerce")]
pub use channel_woocommerce as woocommerce;
