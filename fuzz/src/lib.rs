//! The bodies of stocksync's `cargo fuzz` targets, as plain functions so the same code runs on stable
//! (the `fuzz_smoke` tests of the main workspace include these files and drive them with [`smoke`]).
//! See docs/fuzzing.md.

pub mod amazon;
pub mod reconcile;
pub mod shopify;
pub mod sku;
pub mod smoke;
pub mod takealot;
pub mod woocommerce;
