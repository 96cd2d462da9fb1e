#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod channel;
mod client;
pub mod config;
mod document;
mod error;
mod feed;
mod lwa;
mod map;
mod orders;
pub mod webhook;
mod wire;

#[doc(hidden)]
pub mod fuzz;

pub use channel::{Amazon, AmazonBuilder};
pub use config::{
    AmazonConfig, CatalogSource, DEFAULT_BASE_URL, DEFAULT_FEED_THRESHOLD, DEFAULT_ORDERS_SETTLE_SECS,
    DEFAULT_WEBHOOK_MAX_AGE_SECS, PriceMarketplaces, Region, StockMarketplaces,
};
pub use document::DEFAULT_MAX_DOCUMENT_BYTES;
pub use error::AmazonError;
pub use orders::DEFAULT_CARRIER_CODES;
