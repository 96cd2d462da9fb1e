//! eBay (Sell Inventory API v1, Sell Fulfillment API v1, Commerce Identity API v1).
//!
//! One connection is one seller account, authorised with a user refresh token (OAuth authorization-code
//! grant done once in eBay's consent page); the adapter exchanges it for access tokens as they expire.
//! Listings are the seller's *inventory items* (keyed by SKU) with their offers (price, offer id); stock
//! and prices are written with `bulkUpdatePriceQuantity`; orders are polled with `getOrders` by
//! `lastmodifieddate`; tracking is reported with `createShippingFulfillment`.
//!
//! Listings created in Seller Hub or with the Trading API are invisible to the Inventory API until
//! migrated with `bulkMigrateListing`: an empty inventory is reported as [`EbayError::NotMigrated`], never
//! as an empty catalog (see `docs/ebay.md`).

mod channel;
mod client;
mod config;
mod error;
mod map;
mod webhook;
mod wire;

pub use channel::{Ebay, EbayBuilder};
pub use config::{DEFAULT_BASE_URL, DEFAULT_SCOPES, EbayConfig};
pub use error::EbayError;
