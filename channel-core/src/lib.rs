#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, doc(auto_cfg))]

pub mod channel;
pub mod error;
pub mod ids;
pub mod listing;
pub mod money;
pub mod order;
pub mod sku;
pub mod update;
pub mod webhook;

pub use channel::{
    AccountIdentity, Capabilities, Channel, ChannelExt, InventoryChange, WebhookEvent, WebhookPayload,
    WebhookRejection, WebhookRequest,
};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use ids::{ChannelKind, ListingId, OrderId, StoreId, UnknownChannel};
pub use listing::{Listing, ListingStatus, PlatformIds, Stock};
pub use money::{Currency, InvalidCurrency, InvalidVatRate, Money, VatRate, WholeUnitRounding};
pub use order::{Order, OrderCursor, OrderLine, OrderPage, OrderStatus, Shipment, Tracking};
pub use sku::{Fulfilment, MAX_SKU_BYTES, MappedSku, Sku, SkuAffix, SkuError, SkuRule, SkuRules};
pub use update::{ItemOutcome, Outcome, PriceUpdate, StockAdjustment, StockUpdate};

/// Re-exported so hosts and adapters use the same versions.
pub use jiff;
pub use rust_decimal;
pub use secrecy;

pub mod catalog;
pub mod pricing;
pub mod reconcile;

#[cfg(feature = "http")]
pub mod http;

pub use catalog::{Catalog, CatalogError, Component, Product, ProductId};
pub use pricing::{ChannelPricing, PriceBasis, PriceList};
pub use reconcile::{
    Diagnostic, DiagnosticKind, InputError, PendingSale, Plan, PlanInput, Reconciler, SourceOfTruth, StoreInput,
    StoreRules, SyncMode, Update, UpdateError,
};
