#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod channel;
pub mod config;
mod error;
pub mod webhook;
pub mod wire;

pub use channel::{DC_SUFFIX, MAX_BATCH, MAX_SALES_WINDOW_DAYS, PAGE_SIZE, Takealot};
pub use config::{DEFAULT_BASE_URL, IdentitySource, SignatureScheme, TakealotConfig};
pub use error::TakealotError;
