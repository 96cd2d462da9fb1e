//! Magento 2 / Adobe Commerce over the admin REST API with Multi-Source Inventory (MSI).
//!
//! One configured MSI source (`source_code`) is the stock stocksync manages; requests go to
//! `<base_url>/rest/<store_code>/V1/…` with an integration access token as a bearer. See
//! `docs/magento.md` for the setup and `docs/fidelity.md` (## magento) for the source of every request.
//!
//! # Quantities and reservations
//!
//! MSI lowers the *salable* quantity of a SKU through a reservation when an order is placed, and lowers
//! the source item's `quantity` only when the order ships (source deduction); a cancellation compensates
//! the reservation. The engine decides how many units should be sellable, so the adapter works in
//! salable units on both sides (with [`ReservationMode::OpenOrders`], the default):
//!
//! - a listing's quantity is the source item's `quantity` minus the units of open orders not yet shipped,
//!   cancelled or refunded (the open reservations, read from `GET /V1/orders` filtered on the open states);
//! - a write of `n` stores `quantity = n + open reservations` in the source item, so that after Magento
//!   subtracts the reservations, `n` units are salable — an open order is never counted twice.
//!
//! With [`ReservationMode::None`] (a store whose reservations are disabled, e.g. by a module) both are
//! the source item's `quantity` as it is.

mod channel;
mod client;
pub mod config;
mod error;
mod map;
pub mod webhook;
mod wire;

pub use channel::Magento;
pub use config::{MagentoConfig, ReservationMode};
pub use error::MagentoError;
