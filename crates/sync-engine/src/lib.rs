#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod error;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
pub use store::{MemoryStore, Store, StoreExt, WriteBatch, WriteOp};
#[cfg(feature = "sqlite")]
pub use store::{SqliteOptions, SqliteStore};
