//! The reconciliation engine: what every channel should show right now, and what is wrong with the
//! seller's data.
//!
//! It implements the contract in `shared/spec/reconcile.md` (semantics 1–7): canonical SKUs through
//! each store's [`SkuRules`], catalog checks, on hand from an external source or a source store,
//! pending demand flattened through bundles, availability, per-store [`StoreRules`], which listings
//! get an [`Update`], the source write-back, and every [`DiagnosticKind`].
//!
//! The engine is synchronous and pure: it takes typed values ([`PlanInput`]), never JSON, never reads
//! the clock and does no I/O. [`parse_snapshot`] is one way in (the snapshot JSON of
//! `stocksync plan`); [`Plan`] serializes to the plan JSON of the contract.
//!
//! ```
//! use channel_core::reconcile::{parse_snapshot, Reconciler};
//! let input = parse_snapshot(br#"{
//!   "products": [{"sku": "TS-001"}, {"sku": "TS-001-X3", "components": [{"sku": "TS-001", "quantity": 3}]}],
//!   "source_of_truth": "external",
//!   "stock": {"TS-001": 12},
//!   "stores": [{"id": "shopify-main", "channel": "shopify",
//!               "listings": [{"id": "1", "sku": "TS-001", "quantity": 10},
//!                            {"id": "2", "sku": "TS-001-X3", "quantity": 0}]}],
//!   "pending": [{"store": "shopify-main", "sku": "TS-001-X3", "quantity": 1}]
//! }"#).unwrap();
//! let mut reconciler = Reconciler::new(input).unwrap();
//! let plan = reconciler.plan();
//! assert_eq!(plan.updates.iter().map(|u| (u.listing.as_str(), u.to)).collect::<Vec<_>>(), [("1", 9), ("2", 3)]);
//!
//! // The sync engine keeps the reconciler and re-plans one SKU per order.
//! drop(plan);
//! let touched = reconciler.add_pending("shopify-main", "TS-001", 3).unwrap();
//! let replan = reconciler.replan_skus(touched.iter().map(|s| s.as_str()));
//! assert_eq!(replan.updates.iter().map(|u| (u.listing.as_str(), u.to)).collect::<Vec<_>>(), [("1", 6), ("2", 2)]);
//! ```
//!
//! # Incremental re-planning
//!
//! [`Reconciler::new`] interns every SKU to a dense id once, flattens bundles once (in the
//! [`Catalog`]) and classifies every listing once. [`Reconciler::plan`] is then one pass over compact
//! per-listing slots. For the sync engine, the reconciler can be kept in memory and changed in place
//! ([`Reconciler::set_on_hand`], [`Reconciler::add_pending`], [`Reconciler::remove_pending`],
//! [`Reconciler::set_listing_quantity`]); [`Reconciler::replan_sku`] then returns exactly the part of
//! the full plan touching one SKU, through the catalog's index from each simple SKU to the bundles that
//! contain it and an index from each product to its listings (built on the first re-plan), without
//! walking the catalog.
//!
//! "The part touching a SKU" is defined as: the updates and diagnostics whose `sku` is in the SKU's
//! *affected set* — for a simple SKU, itself and every usable bundle whose flattening contains it; for
//! a bundle, itself; for a SKU not in the catalog, that raw SKU (its `unknown_sku`/`near_miss`
//! findings). Updates keep the full plan's order; diagnostics in both are sorted the same way.
//!
//! # Choices where the contract is silent
//!
//! - **Diagnostics order**: sorted by kind, then SKU, store, listing (the contract leaves order free).
//!   One `duplicate_sku` per (store, SKU); one `unknown_sku`/`near_miss` per listing; one `unknown_sku`
//!   per (store, SKU) of pending sales; one catalog finding per problem.
//! - **`missing_at_source`** is reported for a simple SKU absent at source when some merchant-fulfilled
//!   listing (on any store, disabled ones included, since their diagnostics are still reported) of it
//!   or of a usable bundle containing it needs it. A missing SKU that nothing lists is not reported
//!   (as the worked examples show); pending sales alone do not make a SKU needed.
//! - **`duplicate_sku`** applies to any catalog SKU (usable or not, missing at source or not) with
//!   more than one merchant-fulfilled listing in one store, disabled stores included.
//! - **Pending sales** of an unusable bundle add no demand (their bundle already has a catalog
//!   finding). Pending sales on the source store are ignored entirely, even for unknown SKUs. Pending
//!   sales of unknown SKUs get `unknown_sku` (never `near_miss`: that kind is about listings).
//! - **External stock** entries for SKUs that are not simple catalog products are ignored; a repeated
//!   key keeps the last value. With `"external"` and no `stock`, every SKU is missing at source.
//! - **Untracked listings** ([`Stock::Untracked`](crate::Stock::Untracked) or
//!   [`Stock::Inherited`](crate::Stock::Inherited), only from typed input) are treated like
//!   channel-fulfilled ones: never counted, written or diagnosed. [`ListingStatus`](crate::ListingStatus)
//!   does not change the plan (an inactive listing still gets the right quantity for when it returns).
//! - **Listing ids** need not be unique in a store; [`Reconciler::set_listing_quantity`] changes every
//!   listing with that id.
//! - **Arithmetic** saturates: bundle multiplicities and demand stop at `u64::MAX`; targets use wide
//!   integers, so no input overflows.
//! - **`source_of_truth: "external"`** always means the external source, even if a store is called
//!   `external`.

mod engine;
mod output;
mod snapshot;
mod synthetic;

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::{ChannelKind, Listing, Sku, SkuRules, StoreId};

pub use engine::{Reconciler, UpdateError};
pub use output::{Diagnostic, DiagnosticKind, Plan, Update};
pub use snapshot::{parse_snapshot, snapshot_to_json};
pub use synthetic::{SyntheticSpec, synthetic_input};

/// How a store is synced: live (webhooks and polling, changes pushed at once, plus a daily full
/// reconcile), daily (a full reconcile once a day) or disabled (nothing pushed). For the plan, `Live` and
/// `Daily` behave alike; `Disabled` stores receive no updates (their diagnostics are still reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Synced as things happen (the default).
    #[default]
    Live,
    /// Synced once a day.
    Daily,
    /// Not written to.
    Disabled,
}

impl SyncMode {
    /// The name it is stored and configured under (`live`, `daily`, `disabled`), as serde spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Daily => "daily",
            Self::Disabled => "disabled",
        }
    }
}

impl std::str::FromStr for SyncMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(Self::Live),
            "daily" => Ok(Self::Daily),
            "disabled" => Ok(Self::Disabled),
            other => Err(format!("unknown sync mode {other:?}; expected live, daily or disabled")),
        }
    }
}

/// A store's quantity rules (semantics 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreRules {
    /// Share of the availability to show, 0..=100 (default 100).
    pub percent: u8,
    /// Units held back (default 0).
    pub buffer: u64,
    /// Cap on the quantity shown; `None` means no cap (the default).
    pub max: Option<u64>,
    /// Below this availability the store shows 0 (default 0).
    pub zero_below: u64,
}

impl Default for StoreRules {
    fn default() -> Self {
        Self { percent: 100, buffer: 0, max: None, zero_below: 0 }
    }
}

impl StoreRules {
    /// The quantity to show for an availability `available` (negative counts as 0):
    /// `available < zero_below` gives 0; otherwise `max(0, floor(available * percent / 100) - buffer)`,
    /// capped at `max`.
    ///
    /// ```
    /// use channel_core::reconcile::StoreRules;
    /// let rules = StoreRules { percent: 75, buffer: 5, max: Some(20), zero_below: 4 };
    /// assert_eq!(rules.target(3), 0);
    /// assert_eq!(rules.target(10), 2);
    /// assert_eq!(rules.target(1000), 20);
    /// ```
    pub fn target(&self, available: i64) -> i64 {
        let a = available.max(0).unsigned_abs();
        if a < self.zero_below {
            return 0;
        }
        let share = if self.percent >= 100 {
            a
        } else if let Some(product) = a.checked_mul(u64::from(self.percent)) {
            product / 100
        } else {
            // Only reachable for availabilities near u64::MAX / 100.
            let wide = u128::from(a) * u128::from(self.percent) / 100;
            u64::try_from(wide).unwrap_or(u64::MAX)
        };
        let mut t = share.saturating_sub(self.buffer);
        if let Some(max) = self.max {
            t = t.min(max);
        }
        // t <= a <= i64::MAX.
        i64::try_from(t).unwrap_or(i64::MAX)
    }
}

/// One store as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreInput {
    /// The store's id (unique in the input).
    pub id: StoreId,
    /// The platform.
    pub channel: ChannelKind,
    /// How it is synced.
    pub sync: SyncMode,
    /// Quantity rules.
    pub rules: StoreRules,
    /// Channel SKU → canonical SKU rules, in order.
    pub sku_rules: SkuRules,
    /// The listings, in the channel's order. Only [`Listing::id`], [`Listing::channel_sku`],
    /// [`Listing::stock`] and [`Listing::fulfilment`] matter to the plan.
    pub listings: Vec<Listing>,
}

impl StoreInput {
    /// A live store with default rules, no SKU rules and no listings.
    pub fn new(id: impl Into<StoreId>, channel: ChannelKind) -> Self {
        Self {
            id: id.into(),
            channel,
            sync: SyncMode::Live,
            rules: StoreRules::default(),
            sku_rules: SkuRules::default(),
            listings: Vec::new(),
        }
    }

    /// Set the sync mode (builder style).
    #[must_use]
    pub fn with_sync(mut self, sync: SyncMode) -> Self {
        self.sync = sync;
        self
    }

    /// Set the rules (builder style).
    #[must_use]
    pub fn with_rules(mut self, rules: StoreRules) -> Self {
        self.rules = rules;
        self
    }

    /// Set the SKU rules (builder style).
    #[must_use]
    pub fn with_sku_rules(mut self, sku_rules: SkuRules) -> Self {
        self.sku_rules = sku_rules;
        self
    }

    /// Set the listings (builder style).
    #[must_use]
    pub fn with_listings(mut self, listings: Vec<Listing>) -> Self {
        self.listings = listings;
        self
    }
}

/// Where on-hand quantities come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceOfTruth {
    /// The host's own system: on hand per simple SKU (may be negative). A SKU absent here is missing
    /// at source. A repeated SKU keeps the last quantity.
    External(Vec<(Sku, i64)>),
    /// The store with this id: its first merchant-fulfilled listing of each simple SKU holds on hand.
    Store(StoreId),
}

/// A sale recorded on a store that the source of truth has not absorbed yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingSale {
    /// The store the sale was made on.
    pub store: StoreId,
    /// The canonical SKU sold (kept raw: a SKU not in the catalog is reported as `unknown_sku`).
    pub sku: String,
    /// Units sold.
    pub quantity: u64,
}

impl PendingSale {
    /// A pending sale.
    pub fn new(store: impl Into<StoreId>, sku: impl Into<String>, quantity: u64) -> Self {
        Self { store: store.into(), sku: sku.into(), quantity }
    }
}

/// Everything the engine needs for one plan.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// The catalog (usually built with [`Catalog::lenient`], whose issues become diagnostics).
    pub catalog: Catalog,
    /// Where on-hand quantities come from.
    pub source: SourceOfTruth,
    /// The stores, in order (updates follow this order).
    pub stores: Vec<StoreInput>,
    /// Sales not yet absorbed by the source of truth.
    pub pending: Vec<PendingSale>,
}

impl PlanInput {
    /// An input with no stores and no pending sales.
    pub fn new(catalog: Catalog, source: SourceOfTruth) -> Self {
        Self { catalog, source, stores: Vec::new(), pending: Vec::new() }
    }

    /// Check what the types cannot: unique store ids, `percent` at most 100, a source store and
    /// pending stores that exist, sizes that fit the engine's 32-bit ids. Errors name the field as
    /// in the snapshot JSON (`stores[1].rules.percent: 140 is out of range 0..=100`).
    pub fn validate(&self) -> Result<(), InputError> {
        self.store_index().map(|_| ())
    }

    /// Validate and return the position of each store id.
    pub(crate) fn store_index(&self) -> Result<HashMap<&str, u32>, InputError> {
        const LIMIT: usize = u32::MAX as usize - 1;
        if self.catalog.len() > LIMIT {
            return Err(InputError::new("products", format!("{} products is more than {LIMIT}", self.catalog.len())));
        }
        let total: usize = self.stores.iter().map(|s| s.listings.len()).sum();
        if total > LIMIT || self.stores.len() > LIMIT {
            return Err(InputError::new("stores", format!("{total} listings is more than {LIMIT}")));
        }
        let mut index = HashMap::with_capacity(self.stores.len());
        for (i, store) in self.stores.iter().enumerate() {
            if store.id.as_str().is_empty() {
                return Err(InputError::new(format!("stores[{i}].id"), "a store id must not be empty"));
            }
            if let Some(&j) = index.get(store.id.as_str()) {
                return Err(InputError::new(
                    format!("stores[{i}].id"),
                    format!("{:?} is already the id of stores[{j}]; store ids must be unique", store.id.as_str()),
                ));
            }
            if store.rules.percent > 100 {
                return Err(InputError::new(
                    format!("stores[{i}].rules.percent"),
                    format!("{} is out of range 0..=100", store.rules.percent),
                ));
            }
            index.insert(store.id.as_str(), crate::catalog::to_u32(i));
        }
        if let SourceOfTruth::Store(id) = &self.source
            && !index.contains_key(id.as_str())
        {
            return Err(InputError::new(
                "source_of_truth",
                format!("{:?} is neither \"external\" nor the id of a store", id.as_str()),
            ));
        }
        for (i, sale) in self.pending.iter().enumerate() {
            if !index.contains_key(sale.store.as_str()) {
                return Err(InputError::new(
                    format!("pending[{i}].store"),
                    format!("{:?} is not the id of a store", sale.store.as_str()),
                ));
            }
        }
        Ok(index)
    }
}

/// A snapshot or typed input the engine refuses, naming the offending field (`path`, in the
/// snapshot JSON's terms, such as `stores[1].rules.percent`) and what is wrong with it. Its
/// [`Display`](fmt::Display) is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    path: String,
    message: String,
}

impl InputError {
    /// An error about the field at `path` (empty for the document as a whole).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self { path: path.into(), message: message.replace(['\n', '\r'], " ") }
    }

    /// The offending field, such as `stores[1].rules.percent` (empty when the document as a whole is
    /// malformed, as with a JSON syntax error).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// This error as a [`crate::Error`] of kind validation.
    pub fn into_error(self) -> crate::Error {
        crate::Error::validation(self.to_string()).with_source(self)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Plan `input` in one go: [`Reconciler::new`], [`Reconciler::plan`], [`Plan::into_owned`].
pub fn plan(input: PlanInput) -> Result<Plan<'static>, InputError> {
    Ok(Reconciler::new(input)?.plan().into_owned())
}

#[cfg(test)]
mod sync_mode_tests {
    use super::SyncMode;

    #[test]
    fn names_parse_back_and_match_serde() {
        for mode in [SyncMode::Live, SyncMode::Daily, SyncMode::Disabled] {
            assert_eq!(mode.as_str().parse::<SyncMode>(), Ok(mode));
            assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{}\"", mode.as_str()));
        }
        assert!("weekly".parse::<SyncMode>().unwrap_err().contains("expected live, daily or disabled"));
    }
}
