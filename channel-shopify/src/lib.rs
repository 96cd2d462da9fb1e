#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod channel;
mod client;
pub mod config;
mod error;
mod map;
pub mod webhook;
mod wire;

pub use channel::{
    MAX_KEYED_ADJUSTMENTS, MAX_PRICES, MAX_QUANTITIES, ShopContext, Shopify, adjustment_key, attempt_key,
};
pub use client::ThrottleStatus;
pub use client::documents;
pub use config::{DEFAULT_API_VERSION, DEFAULT_PAGE_SIZE, DEFAULT_WEBHOOK_MAX_AGE_SECS, ShopifyConfig};
pub use error::{ShopifyError, Unfulfilled};
