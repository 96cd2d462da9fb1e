#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

pub mod conformance;
pub mod error;
pub mod sandbox;
pub mod takealot;

pub use error::{Error, Result};
pub use sandbox::{
    ControlError, Emulator, Fault, FaultKind, Harness, OrderFulfilment, PlaceOrder, PlacedOrder, PlatformControl,
    RateLimit, RegisterWebhook, RunningEmulator, SeedProduct, WebhookConfig,
};
