#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod client;
mod config;
mod error;
mod oauth;
pub mod webhook;
pub mod wire;

pub use client::{MAX_BATCH, PAGE_SIZE, Target, WooCommerce, WooCommerceBuilder};
pub use config::{TrackingMode, WooCommerceConfig};
pub use error::WooError;
pub use oauth::{OAuthPlacement, OAuthSignatureMethod};
