//! The plan: updates and diagnostics, serialized as the contract's plan JSON.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ListingId, Sku, StoreId};

/// The engine's answer: the stock writes that bring every channel in line, and what is wrong with the
/// seller's data.
///
/// A plan from a [`Reconciler`](super::Reconciler) borrows the store ids, listing ids and SKUs of its
/// updates from it (no allocation per update, which matters for a million of them);
/// [`Plan::into_owned`] makes a `Plan<'static>` that outlives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan<'a> {
    /// In store order of the input, then listing order within the store.
    pub updates: Vec<Update<'a>>,
    /// Findings, sorted by kind, SKU, store and listing.
    pub diagnostics: Vec<Diagnostic>,
}

impl Plan<'_> {
    /// A plan that owns all its data.
    pub fn into_owned(self) -> Plan<'static> {
        Plan { updates: self.updates.into_iter().map(Update::into_owned).collect(), diagnostics: self.diagnostics }
    }

    /// Whether the plan has neither updates nor diagnostics.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.diagnostics.is_empty()
    }

    /// The plan JSON of the contract, pretty-printed.
    pub fn to_json_pretty(&self) -> String {
        // Serializing these plain structs into a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Set one listing to a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update<'a> {
    /// The store.
    pub store: Cow<'a, StoreId>,
    /// The listing's id on the channel.
    pub listing: Cow<'a, ListingId>,
    /// The listing's canonical SKU.
    pub sku: Cow<'a, Sku>,
    /// The quantity the listing shows now.
    pub from: i64,
    /// The quantity it should show.
    pub to: i64,
}

impl Update<'_> {
    /// An update that owns all its data.
    pub fn into_owned(self) -> Update<'static> {
        Update {
            store: Cow::Owned(self.store.into_owned()),
            listing: Cow::Owned(self.listing.into_owned()),
            sku: Cow::Owned(self.sku.into_owned()),
            from: self.from,
            to: self.to,
        }
    }
}

/// What a [`Diagnostic`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A product SKU is defined twice (the first definition wins).
    DuplicateProduct,
    /// A bundle component has a quantity below 1 (the bundle is unusable).
    InvalidQuantity,
    /// A bundle component is not in the catalog (the bundle is unusable).
    UnknownComponent,
    /// A bundle reaches itself through its components (the bundle is unusable).
    BundleCycle,
    /// A store has several merchant listings of one SKU.
    DuplicateSku,
    /// A simple SKU's on-hand quantity is negative (it counts as 0).
    NegativeStock,
    /// A listing's or pending sale's SKU is not in the catalog.
    UnknownSku,
    /// A listing's SKU is not in the catalog but looks like a product SKU (see `suggestion`).
    NearMiss,
    /// A simple SKU some listing needs has no on-hand quantity at the source of truth.
    MissingAtSource,
}

impl DiagnosticKind {
    /// The snake-case name used in the plan JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DuplicateProduct => "duplicate_product",
            Self::InvalidQuantity => "invalid_quantity",
            Self::UnknownComponent => "unknown_component",
            Self::BundleCycle => "bundle_cycle",
            Self::DuplicateSku => "duplicate_sku",
            Self::NegativeStock => "negative_stock",
            Self::UnknownSku => "unknown_sku",
            Self::NearMiss => "near_miss",
            Self::MissingAtSource => "missing_at_source",
        }
    }
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finding about the seller's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    /// What kind of finding.
    pub kind: DiagnosticKind,
    /// The SKU it is about: the listing's canonical SKU (as the channel spells it when it is not in the
    /// catalog), the product or bundle SKU, or the simple SKU missing at source.
    pub sku: String,
    /// The store, where one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreId>,
    /// The listing, where one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<ListingId>,
    /// For `near_miss`: the product SKU the seller probably meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Sku>,
    /// A sentence for a person.
    #[serde(default)]
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(kind: DiagnosticKind, sku: impl Into<String>, message: String) -> Self {
        Self { kind, sku: sku.into(), store: None, listing: None, suggestion: None, message }
    }

    pub(crate) fn at_store(mut self, store: &StoreId) -> Self {
        self.store = Some(store.clone());
        self
    }

    pub(crate) fn at_listing(mut self, listing: &ListingId) -> Self {
        self.listing = Some(listing.clone());
        self
    }
}
