#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod channel;
mod client;
pub mod config;
mod error;
mod map;
pub mod webhook;
mod wire;

pub use channel::{MAX_BATCH, MAX_SALES_WINDOW_DAYS, PAGE_SIZE, Takealot};
pub use config::{
    BatchStatuses, DEFAULT_BASE_URL, DEFAULT_WEBHOOK_MAX_AGE_SECS, IdentitySource, SignatureScheme, TakealotConfig,
};
pub use error::TakealotError;
pub use map::DC_SUFFIX;
