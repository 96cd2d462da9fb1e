//! Writes to a channel and their per-item outcomes.

use serde::{Deserialize, Serialize};

use crate::{ListingId, Money, PlatformIds};

/// Set one listing's merchant stock to an absolute quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StockUpdate {
    /// The listing to write.
    pub listing: ListingId,
    /// The platform ids the listing was read with (adapters take what they need from here).
    #[serde(default)]
    pub ids: PlatformIds,
    /// The SKU as the channel spells it.
    pub channel_sku: String,
    /// The quantity to show (never negative).
    pub quantity: i64,
    /// The quantity the plan saw on the channel. Channels with compare-and-set refuse the write when the
    /// channel no longer shows this (an [`Outcome::Stale`]); `None` writes unconditionally.
    pub expected: Option<i64>,
}

impl StockUpdate {
    /// Set `listing` to `quantity`.
    pub fn new(listing: impl Into<ListingId>, channel_sku: impl Into<String>, quantity: i64) -> Self {
        Self {
            listing: listing.into(),
            ids: PlatformIds::new(),
            channel_sku: channel_sku.into(),
            quantity,
            expected: None,
        }
    }

    /// Only if the channel still shows `expected` (builder style).
    #[must_use]
    pub fn expecting(mut self, expected: i64) -> Self {
        self.expected = Some(expected);
        self
    }

    /// Carry the listing's platform ids (builder style).
    #[must_use]
    pub fn with_ids(mut self, ids: PlatformIds) -> Self {
        self.ids = ids;
        self
    }
}

/// Change one listing's merchant stock by a delta (channels with [`crate::Capabilities::delta_adjust`]).
///
/// A delta is not idempotent: sent twice, it moves the stock twice. Give it an
/// [idempotency key](StockAdjustment::with_idempotency_key) when it may be sent again (a retry after a
/// timeout, a push taken over after a crash): channels with [`crate::Capabilities::idempotent_writes`] apply
/// a keyed adjustment **at most once**, however often and in whatever batches it is sent, from any adapter
/// instance, for as long as the platform remembers its keys.
///
/// ```
/// use channel_core::StockAdjustment;
///
/// // Take 2 units off, under a key that names this one adjustment.
/// let adjustment = StockAdjustment::new("gid://shopify/InventoryItem/1", "MUG-RED", -2)
///     .with_idempotency_key("outbox/shopify-main/1742/-2");
/// assert_eq!(adjustment.idempotency_key.as_deref(), Some("outbox/shopify-main/1742/-2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StockAdjustment {
    /// The listing to write.
    pub listing: ListingId,
    /// The platform ids the listing was read with.
    #[serde(default)]
    pub ids: PlatformIds,
    /// The SKU as the channel spells it.
    pub channel_sku: String,
    /// Units to add (negative to remove).
    pub delta: i64,
    /// The caller's name for this one adjustment, so that sending it again cannot apply it twice.
    ///
    /// The same key must always mean the same adjustment (same listing, same delta): a key is never reused
    /// for another change, not even after the first was refused. `None` (the default) sends the adjustment
    /// as a new change every time. Channels without [`crate::Capabilities::idempotent_writes`] ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl StockAdjustment {
    /// Change `listing` by `delta`.
    pub fn new(listing: impl Into<ListingId>, channel_sku: impl Into<String>, delta: i64) -> Self {
        Self {
            listing: listing.into(),
            ids: PlatformIds::new(),
            channel_sku: channel_sku.into(),
            delta,
            idempotency_key: None,
        }
    }

    /// Carry the listing's platform ids (builder style).
    #[must_use]
    pub fn with_ids(mut self, ids: PlatformIds) -> Self {
        self.ids = ids;
        self
    }

    /// Name this adjustment, so that channels with [`crate::Capabilities::idempotent_writes`] apply it at
    /// most once (builder style). See [`StockAdjustment::idempotency_key`].
    #[must_use]
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Set one listing's selling price (and optionally its list/compare-at price).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PriceUpdate {
    /// The listing to write.
    pub listing: ListingId,
    /// The platform ids the listing was read with.
    #[serde(default)]
    pub ids: PlatformIds,
    /// The SKU as the channel spells it.
    pub channel_sku: String,
    /// The selling price, already in the channel's convention (gross for B2C).
    pub price: Money,
    /// The list / compare-at / RRP price, if any.
    #[serde(default)]
    pub list_price: Option<Money>,
}

impl PriceUpdate {
    /// Set `listing`'s price.
    pub fn new(listing: impl Into<ListingId>, channel_sku: impl Into<String>, price: Money) -> Self {
        Self {
            listing: listing.into(),
            ids: PlatformIds::new(),
            channel_sku: channel_sku.into(),
            price,
            list_price: None,
        }
    }

    /// With a list / RRP price (builder style).
    #[must_use]
    pub fn with_list_price(mut self, list_price: Money) -> Self {
        self.list_price = Some(list_price);
        self
    }

    /// Carry the listing's platform ids (builder style).
    #[must_use]
    pub fn with_ids(mut self, ids: PlatformIds) -> Self {
        self.ids = ids;
        self
    }
}

/// What happened to one item of a batch write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The channel accepted the write. `quantity` is what the channel now shows, when it says.
    Applied {
        /// The quantity after the write, when the channel reports it.
        quantity: Option<i64>,
    },
    /// The channel refused this item. `retryable` says whether sending it again may work.
    Rejected {
        /// Why, in the channel's words (safe to show the seller; never contains credentials).
        reason: String,
        /// Whether a retry may succeed (a throttled item) or not (a disabled offer).
        retryable: bool,
    },
    /// Compare-and-set failed: the channel no longer showed the expected quantity.
    Stale {
        /// What the channel shows now, when it says.
        actual: Option<i64>,
    },
}

/// The outcome for one listing of a batch write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemOutcome {
    /// The listing the outcome is for.
    pub listing: ListingId,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl ItemOutcome {
    /// Applied.
    pub fn applied(listing: impl Into<ListingId>, quantity: Option<i64>) -> Self {
        Self { listing: listing.into(), outcome: Outcome::Applied { quantity } }
    }

    /// Rejected.
    pub fn rejected(listing: impl Into<ListingId>, reason: impl Into<String>, retryable: bool) -> Self {
        Self { listing: listing.into(), outcome: Outcome::Rejected { reason: reason.into(), retryable } }
    }

    /// Stale.
    pub fn stale(listing: impl Into<ListingId>, actual: Option<i64>) -> Self {
        Self { listing: listing.into(), outcome: Outcome::Stale { actual } }
    }

    /// Whether the write took effect.
    pub fn is_applied(&self) -> bool {
        matches!(self.outcome, Outcome::Applied { .. })
    }
}
