//! SKU hygiene: what to fix on a store before its first sync.
//!
//! [`diagnose`] looks at a store's listings (as the channel reports them), the store's
//! [`SkuRules`], the catalog and the listings already linked, and reports unknown SKUs, near-misses
//! (a SKU that matches a catalog SKU once case and spaces are ignored), duplicates (two listings of one
//! store with the same SKU and fulfilment), SKUs that are not valid at all, and SKU changes (a listing
//! already linked now shows another SKU: it is not synced until resolved, never silently linked as a new
//! product).

use std::collections::{BTreeMap, BTreeSet};

use channel_core::{Fulfilment, Listing, ListingId, Sku, SkuRules};
use serde::Serialize;

use crate::store::ListingRecord;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkuIssue {
    /// The SKU is not in the catalog.
    Unknown {
        /// The listing.
        listing: ListingId,
        /// The canonical SKU after the store's rules.
        sku: String,
    },
    /// The SKU is not in the catalog but looks like one that is.
    NearMiss {
        /// The listing.
        listing: ListingId,
        /// The SKU as mapped.
        sku: String,
        /// The catalog SKU it resembles.
        suggestion: Sku,
    },
    /// Several listings of the store carry the same SKU and fulfilment.
    Duplicate {
        /// The SKU.
        sku: Sku,
        /// The listings.
        listings: Vec<ListingId>,
    },
    /// The SKU is empty, has surrounding spaces or control characters, or is too long.
    Invalid {
        /// The listing.
        listing: ListingId,
        /// The SKU as the channel spells it.
        channel_sku: String,
        /// Why.
        reason: String,
    },
    /// A linked listing now shows another SKU; it is held back until the change is resolved.
    SkuChanged {
        /// The listing.
        listing: ListingId,
        /// The channel SKU it was linked with.
        from: String,
        /// The channel SKU it shows now.
        to: String,
    },
    /// A listing of a global store whose SKU no company owns: it belongs to no company and is not linked
    /// (see `docs/companies.md`).
    NoOwner {
        /// The listing.
        listing: ListingId,
        /// The SKU it was looked up by.
        sku: String,
    },
    /// A listing of a global store whose SKU several companies own: which one's it is would be a guess,
    /// so it is not linked in any of them.
    SeveralOwners {
        /// The listing.
        listing: ListingId,
        /// The SKU.
        sku: String,
        /// The companies owning it.
        companies: Vec<crate::store::CompanyId>,
    },
}

impl SkuIssue {
    /// A short stable name (`unknown`, `near_miss`, `duplicate`, `invalid`, `sku_changed`, `no_owner`,
    /// `several_owners`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unknown { .. } => "unknown",
            Self::NearMiss { .. } => "near_miss",
            Self::Duplicate { .. } => "duplicate",
            Self::Invalid { .. } => "invalid",
            Self::SkuChanged { .. } => "sku_changed",
            Self::NoOwner { .. } => "no_owner",
            Self::SeveralOwners { .. } => "several_owners",
        }
    }
}

impl std::fmt::Display for SkuIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown { listing, sku } => write!(f, "listing {listing}: SKU {sku:?} is not in the catalog"),
            Self::NearMiss { listing, sku, suggestion } => {
                write!(f, "listing {listing}: SKU {sku:?} is not in the catalog; did you mean {suggestion:?}?")
            }
            Self::Duplicate { sku, listings } => {
                let ids: Vec<&str> = listings.iter().map(ListingId::as_str).collect();
                write!(f, "SKU {sku:?} is on several listings: {}", ids.join(", "))
            }
            Self::Invalid { listing, channel_sku, reason } => {
                write!(f, "listing {listing}: SKU {channel_sku:?} is invalid: {reason}")
            }
            Self::SkuChanged { listing, from, to } => {
                write!(f, "listing {listing}: SKU changed from {from:?} to {to:?}; not synced until resolved")
            }
            Self::NoOwner { listing, sku } => {
                write!(f, "listing {listing} of a global store: SKU {sku:?} is owned by no company; not linked")
            }
            Self::SeveralOwners { listing, sku, companies } => {
                let ids: Vec<&str> = companies.iter().map(crate::store::CompanyId::as_str).collect();
                write!(
                    f,
                    "listing {listing} of a global store: SKU {sku:?} is owned by several companies ({}); not linked",
                    ids.join(", ")
                )
            }
        }
    }
}

/// Everything [`diagnose`] found on one store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SkuReport {
    /// Listings looked at.
    pub listings: usize,
    /// Listings whose SKU is in the catalog (or, with an empty catalog, valid and unique).
    pub matched: usize,
    /// The findings.
    pub issues: Vec<SkuIssue>,
    /// The reconcile engine's own diagnostics for this store (`unknown_sku`, `near_miss`,
    /// `duplicate_sku`), from planning the store against the catalog; empty while the catalog is empty.
    pub engine: Vec<channel_core::reconcile::Diagnostic>,
}

impl SkuReport {
    /// Whether there is nothing to fix.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }

    /// The findings of one kind (see [`SkuIssue::kind`]).
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a SkuIssue> + 'a {
        self.issues.iter().filter(move |i| i.kind() == kind)
    }
}

/// The reconcile engine's SKU diagnostics for one store's listings against the catalog (`unknown_sku`,
/// `near_miss`, `duplicate_sku`). Nothing while the catalog is empty.
pub fn engine_diagnostics(
    store: &channel_core::StoreId,
    channel: channel_core::ChannelKind,
    listings: &[Listing],
    rules: &SkuRules,
    products: &[crate::store::ProductRecord],
) -> Vec<channel_core::reconcile::Diagnostic> {
    use channel_core::reconcile::{DiagnosticKind, PlanInput, SourceOfTruth, StoreInput};
    if products.is_empty() {
        return Vec::new();
    }
    let catalog = channel_core::Catalog::lenient(
        products
            .iter()
            .map(|p| {
                if p.components.is_empty() {
                    channel_core::Product::simple(p.sku.clone())
                } else {
                    channel_core::Product::bundle(p.sku.clone(), p.components.clone())
                }
            })
            .collect(),
    );
    let mut input = PlanInput::new(catalog, SourceOfTruth::External(Vec::new()));
    input
        .stores
        .push(StoreInput::new(store.clone(), channel).with_sku_rules(rules.clone()).with_listings(listings.to_vec()));
    match channel_core::reconcile::plan(input) {
        Ok(plan) => plan
            .diagnostics
            .into_iter()
            .filter(|d| {
                matches!(d.kind, DiagnosticKind::UnknownSku | DiagnosticKind::NearMiss | DiagnosticKind::DuplicateSku)
                    && d.store.as_ref().is_none_or(|s| s == store)
            })
            .collect(),
        Err(e) => {
            tracing::warn!(store = %store, error = %e.message(), "the reconcile engine refused the hygiene input");
            Vec::new()
        }
    }
}

/// The canonical SKU of a channel listing under a store's rules, if valid.
pub fn canonical_sku(rules: &SkuRules, listing: &Listing) -> (Result<Sku, String>, Fulfilment) {
    let mapped = rules.apply(&listing.channel_sku, listing.fulfilment);
    (Sku::new(mapped.canonical).map_err(|e| e.to_string()), mapped.fulfilment)
}

/// Diagnose a store's listings. `catalog` empty means "no catalog yet": nothing is reported unknown.
/// `linked` are the store's stored listings, to spot SKU changes.
pub fn diagnose(
    listings: &[Listing],
    rules: &SkuRules,
    catalog: &BTreeSet<Sku>,
    linked: &BTreeMap<ListingId, ListingRecord>,
) -> SkuReport {
    let loose: BTreeMap<String, &Sku> = catalog.iter().map(|s| (Sku::loose_form(s.as_str()), s)).collect();
    let mut report = SkuReport { listings: listings.len(), ..SkuReport::default() };
    let mut by_sku: BTreeMap<(Sku, bool), Vec<ListingId>> = BTreeMap::new();
    for listing in listings {
        if let Some(prev) = linked.get(&listing.id)
            && prev.sku.is_some()
            && prev.channel_sku != listing.channel_sku
        {
            report.issues.push(SkuIssue::SkuChanged {
                listing: listing.id.clone(),
                from: prev.channel_sku.clone(),
                to: listing.channel_sku.clone(),
            });
            continue;
        }
        let (sku, fulfilment) = canonical_sku(rules, listing);
        let sku = match sku {
            Ok(s) => s,
            Err(reason) => {
                report.issues.push(SkuIssue::Invalid {
                    listing: listing.id.clone(),
                    channel_sku: listing.channel_sku.clone(),
                    reason,
                });
                continue;
            }
        };
        by_sku.entry((sku.clone(), fulfilment == Fulfilment::Channel)).or_default().push(listing.id.clone());
        if catalog.is_empty() || catalog.contains(&sku) {
            report.matched += 1;
        } else if let Some(s) = loose.get(&Sku::loose_form(sku.as_str())) {
            report.issues.push(SkuIssue::NearMiss {
                listing: listing.id.clone(),
                sku: sku.to_string(),
                suggestion: (*s).clone(),
            });
        } else {
            report.issues.push(SkuIssue::Unknown { listing: listing.id.clone(), sku: sku.to_string() });
        }
    }
    for ((sku, _), ids) in by_sku {
        if ids.len() > 1 {
            report.issues.push(SkuIssue::Duplicate { sku, listings: ids });
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use channel_core::{SkuRule, StoreId};

    use super::*;

    #[test]
    fn finds_each_kind_of_problem() {
        let catalog: BTreeSet<Sku> = ["MUG-RED", "TEA"].iter().map(|s| Sku::new(s).unwrap()).collect();
        let rules = SkuRules::new(vec![SkuRule::suffix("-FBA", Some(Fulfilment::Channel))]);
        let listings = vec![
            Listing::new("1", "MUG-RED", 1),
            Listing::new("2", "mug-red", 1),
            Listing::new("3", "NOPE", 1),
            Listing::new("4", " TEA", 1),
            Listing::new("5", "TEA", 1),
            Listing::new("6", "TEA", 1),
            Listing::new("7", "MUG-RED-FBA", 1),
            Listing::new("8", "TEA-NEW", 1),
        ];
        let mut old = ListingRecord::new(StoreId::new("s"), ListingId::new("8"), "TEA");
        old.sku = Some(Sku::new("TEA").unwrap());
        let linked = BTreeMap::from([(ListingId::new("8"), old)]);
        let report = diagnose(&listings, &rules, &catalog, &linked);
        let kinds: Vec<&str> = report.issues.iter().map(SkuIssue::kind).collect();
        assert_eq!(kinds, ["near_miss", "unknown", "invalid", "sku_changed", "duplicate"], "{report:#?}");
        assert!(matches!(&report.issues[0], SkuIssue::NearMiss { suggestion, .. } if suggestion.as_str() == "MUG-RED"));
        assert!(matches!(&report.issues[4], SkuIssue::Duplicate { listings, .. } if listings.len() == 2));
        assert_eq!(report.matched, 4, "1, 5, 6 and the FBA listing 7 (different fulfilment: not a duplicate)");
        assert!(!report.is_clean());
        let clean = diagnose(&listings[..1], &rules, &BTreeSet::new(), &BTreeMap::new());
        assert!(clean.is_clean(), "an empty catalog reports nothing unknown");
    }
}
