#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]
// The WooCommerce order and product documents are large `json!` literals.
#![recursion_limit = "256"]

pub mod amazon;
pub mod conformance;
pub mod ebay;
pub mod error;
pub mod fake;
pub mod magento;
pub mod sandbox;
pub mod shopify;
pub mod takealot;
pub mod woocommerce;

pub use error::{Error, Result};
pub use sandbox::{
    ControlError, Emulator, Fault, FaultKind, Harness, OrderFulfilment, PlaceOrder, PlacedOrder, PlatformControl,
    RateLimit, RegisterWebhook, RunningEmulator, SeedProduct, WebhookConfig,
};
