#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod client;
mod config;
pub mod document;
mod error;
pub mod feed;
pub mod lwa;
pub mod notifications;
pub mod wire;

pub use client::{
    ALL_LISTINGS_REPORT, Amazon, AmazonBuilder, DOCUMENTED_RATE_LIMITS, FBA_SUFFIX, SEARCH_CAP, SEARCH_PAGE_SIZE,
    fba_listing_id, parse_listings_report,
};
pub use config::{AmazonConfig, CatalogSource, DEFAULT_FEED_THRESHOLD, Region, marketplace_currency};
pub use error::AmazonError;
