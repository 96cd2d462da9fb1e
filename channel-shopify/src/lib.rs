#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod channel;
pub mod config;
pub mod documents;
mod error;
mod graphql;
pub mod webhook;

pub use channel::{
    MAX_KEYED_ADJUSTMENTS, MAX_PRICES, MAX_QUANTITIES, ORDERS_PAGE, ShopContext, Shopify, adjustment_key, gid,
    legacy_id,
};
pub use config::{DEFAULT_API_VERSION, DEFAULT_PAGE_SIZE, ShopifyConfig};
pub use error::ShopifyError;
pub use graphql::ThrottleStatus;
