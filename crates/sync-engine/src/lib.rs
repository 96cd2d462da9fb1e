#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

pub mod clock;
pub mod connections;
mod credentials;
mod error;
pub mod hygiene;
pub mod store;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use connections::{ChannelFactory, ChannelSpec, ConnectionUpdate, Connections, Disconnected, NewConnection};
pub use credentials::{CredentialCipher, Credentials};
pub use error::{Error, Result};
pub use store::{MemoryStore, Store, StoreExt, WriteBatch, WriteOp};
#[cfg(feature = "postgres")]
pub use store::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use store::{SqliteOptions, SqliteStore};
pub use sync::{SyncConfig, SyncEngine, SyncEvent};
