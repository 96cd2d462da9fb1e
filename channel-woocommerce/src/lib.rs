#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

mod channel;
mod client;
pub mod config;
mod error;
mod map;
mod oauth;
pub mod webhook;
mod wire;

pub use channel::{WooCommerce, WooCommerceBuilder};
pub use config::{AuthMode, DEFAULT_CLOCK_SKEW_SECS, DEFAULT_WEBHOOK_MAX_AGE_SECS, TrackingMode, WooCommerceConfig};
pub use error::WooError;
pub use oauth::{OAuthPlacement, OAuthSignatureMethod};
