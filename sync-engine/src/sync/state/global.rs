//! Global stores ([`Scope::Global`]: the operator's own account serving every company) in one company's
//! state: a listing or an order line of a global store is this company's only when this company is the
//! single owner of its SKU ([`crate::Store::sku_owners`]); a SKU owned by no company or by several is a
//! diagnostic, never a guess; a SKU owned by another company alone is that company's business and skipped
//! here. A global store never creates products.

use channel_core::{Listing, Sku, SkuRules, StoreId};
use jiff::Timestamp;

use super::State;
use crate::store::{AuditEntry, CompanyId, ListingRecord, Scope, WriteBatch, WriteOp};

/// Who owns a global store's SKU, as one company sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// This company alone: its listing, its sale.
    Mine,
    /// Another company alone: skipped here.
    Other(CompanyId),
    /// No company has a product of it: a diagnostic.
    Unowned,
    /// Several companies have a product of it: a diagnostic.
    Shared(Vec<CompanyId>),
}

impl Ownership {
    /// How `me` sees a SKU owned by `owners` (the [`crate::Store::sku_owners`] entry; `None` when absent).
    pub(crate) fn of(owners: Option<&Vec<CompanyId>>, me: &CompanyId) -> Self {
        match owners.map(Vec::as_slice).unwrap_or_default() {
            [] => Self::Unowned,
            [one] if one == me => Self::Mine,
            [one] => Self::Other(one.clone()),
            many => Self::Shared(many.to_vec()),
        }
    }

    /// Why a listing or line of this SKU is not linked or counted, for a diagnostic (`None` for
    /// [`Ownership::Mine`] and [`Ownership::Other`], which are not diagnostics).
    pub(crate) fn diagnostic(&self, sku: Option<&Sku>) -> Option<String> {
        let sku = sku.map_or_else(|| "(no valid SKU)".to_owned(), |s| format!("{:?}", s.as_str()));
        match self {
            Self::Mine | Self::Other(_) => None,
            Self::Unowned => Some(format!("global store: SKU {sku} is owned by no company")),
            Self::Shared(owners) => {
                let names: Vec<&str> = owners.iter().map(CompanyId::as_str).collect();
                Some(format!("global store: SKU {sku} is owned by several companies ({})", names.join(", ")))
            }
        }
    }
}

/// The SKU-report finding for a listing of a global store not linked for want of a single owner (`None`
/// for [`Ownership::Mine`] and [`Ownership::Other`]).
pub(crate) fn ownership_issue(
    ownership: &Ownership,
    listing: &channel_core::ListingId,
    sku: &str,
) -> Option<crate::hygiene::SkuIssue> {
    use crate::hygiene::SkuIssue;
    match ownership {
        Ownership::Mine | Ownership::Other(_) => None,
        Ownership::Unowned => Some(SkuIssue::NoOwner { listing: listing.clone(), sku: sku.to_owned() }),
        Ownership::Shared(companies) => Some(SkuIssue::SeveralOwners {
            listing: listing.clone(),
            sku: sku.to_owned(),
            companies: companies.clone(),
        }),
    }
}

/// The SKU a listing of a global store is looked up by: its channel SKU mapped by the first of the
/// store's `sku_rules` that matches it (as [`crate::Connections::observe_listings`] and
/// [`crate::Connections::check_skus`] map it); without a matching rule, the SKU the channel reports, else
/// its channel SKU.
pub(crate) fn listing_sku(listing: &Listing, rules: &SkuRules) -> Option<Sku> {
    let mapped = rules.apply(&listing.channel_sku, listing.fulfilment);
    if mapped.rule.is_some() {
        return Sku::new(mapped.canonical).ok();
    }
    listing.sku.clone().or_else(|| Sku::new(&listing.channel_sku).ok())
}

impl State {
    /// A store's SKU rules (its `sku_rules` setting; none when absent or unreadable).
    pub(crate) fn sku_rules_of(&self, store: &StoreId) -> SkuRules {
        self.connections.get(store).and_then(|c| crate::connections::sku_rules(&c.settings).ok()).unwrap_or_default()
    }

    /// Whether `store` is a global connection.
    pub(crate) fn is_global(&self, store: &StoreId) -> bool {
        self.connections.get(store).is_some_and(|c| c.scope == Scope::Global)
    }

    /// How this company sees `sku` on a global store, from the owners cached for the last read.
    pub(crate) fn ownership(&self, sku: Option<&Sku>) -> Ownership {
        Ownership::of(sku.and_then(|s| self.global_owners.get(s)), &self.company)
    }

    /// Merge one listing read from a global store. This company's own (a SKU it alone owns), or a linked
    /// listing whose channel SKU changed (held back as on any store), merges as on any store, never
    /// creating a product. Otherwise the listing is not linked here: another company's is skipped (a row
    /// linked before is unlinked, audited); one whose SKU no company or several own is kept unlinked and
    /// audited when it is first seen or loses its link. Returns whether the source's on hand changed.
    pub(crate) fn merge_global_read(
        &mut self,
        store: &StoreId,
        listing: &Listing,
        is_source: bool,
        busy: bool,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> bool {
        let key = (store.clone(), listing.id.clone());
        let sku = listing_sku(listing, &self.sku_rules_of(store));
        let ownership = self.ownership(sku.as_ref());
        let existing = self.listings.get(&key).cloned();
        let sku_changed = existing.as_ref().is_some_and(|r| r.sku.is_some() && r.channel_sku != listing.channel_sku);
        if ownership == Ownership::Mine || sku_changed {
            return self.merge_read(store, listing, is_source, busy, now, batch);
        }
        let was_linked = existing.as_ref().is_some_and(|r| r.sku.is_some());
        let diagnostic = ownership.diagnostic(sku.as_ref());
        let mut record = match (existing, &ownership) {
            (None, Ownership::Other(_)) => return false,
            (Some(r), Ownership::Other(_)) if r.sku.is_none() => return false,
            (Some(r), _) => r,
            (None, _) => ListingRecord::new(store.clone(), listing.id.clone(), listing.channel_sku.clone()),
        };
        let reason = match (&ownership, &diagnostic) {
            (Ownership::Other(owner), _) => Some(format!("global store: SKU now owned by company {owner}; unlinked")),
            (_, Some(d)) if was_linked || record.version == 0 => Some(format!("{d}; listing not linked")),
            _ => None,
        };
        if let Some(reason) = reason {
            batch.push(WriteOp::Audit(
                AuditEntry::new(store.clone(), "sku", reason, now)
                    .on_listing(listing.id.clone(), sku.clone())
                    .change(record.sku.as_ref().map(ToString::to_string), None),
            ));
        }
        record.sku = None;
        self.put_seen(key, record, listing, Some(now), batch);
        false
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use channel_core::ChannelKind;

    use super::*;
    use crate::store::{ConnectionRecord, ProductRecord, SealedCredentials};

    fn now() -> Timestamp {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    /// Company `a`'s state: its own source `src` lists TS-001; the global `glob` (flagged as a source too,
    /// to show it still creates no product) is connected and not read yet. `a` owns TS-001 alone, `b`
    /// owns TS-002, both own TS-003, nobody owns TS-004.
    fn state() -> State {
        let mut src =
            ConnectionRecord::new(StoreId::new("src"), ChannelKind::Shopify, "src", Scope::Client(c("a")), now());
        src.source_of_truth = true;
        let mut glob = ConnectionRecord::new(StoreId::new("glob"), ChannelKind::Amazon, "glob", Scope::Global, now());
        for conn in [&mut src, &mut glob] {
            conn.credentials = Some(SealedCredentials::from_sealed("sealed".into()));
            conn.version = 1;
        }
        let connections = [src, glob].into_iter().map(|c| (c.store.clone(), c)).collect();
        let products = ["TS-001", "TS-003"]
            .into_iter()
            .map(|s| (Sku::new(s).unwrap(), ProductRecord::simple(Sku::new(s).unwrap(), now())))
            .collect();
        let mut state = State::from_rows(connections, products, HashMap::new(), HashMap::new()).unwrap();
        state.company = c("a");
        let owners: BTreeMap<Sku, Vec<CompanyId>> =
            [("TS-001", vec![c("a")]), ("TS-002", vec![c("b")]), ("TS-003", vec![c("a"), c("b")])]
                .into_iter()
                .map(|(s, o)| (Sku::new(s).unwrap(), o))
                .collect();
        state.global_owners = owners;
        state
    }

    #[test]
    fn a_global_store_links_only_the_skus_this_company_alone_owns() {
        let mut state = state();
        let glob = StoreId::new("glob");
        let read: HashMap<StoreId, Vec<Listing>> = [(
            glob.clone(),
            ["TS-001", "TS-002", "TS-003", "TS-004", "TS-005"]
                .into_iter()
                .map(|s| Listing::new(format!("G-{s}"), s, 7))
                .collect(),
        )]
        .into_iter()
        .collect();
        let mut batch = WriteBatch::new();
        state.merge_reads(&read, &Default::default(), now(), &mut batch);
        fn row<'s>(state: &'s State, s: &str) -> Option<&'s ListingRecord> {
            state.listings.get(&(StoreId::new("glob"), channel_core::ListingId::new(format!("G-{s}"))))
        }
        assert_eq!(row(&state, "TS-001").unwrap().sku, Some(Sku::new("TS-001").unwrap()), "a's own SKU is linked");
        assert!(row(&state, "TS-002").is_none(), "b's listing is not recorded in a's view");
        assert_eq!(row(&state, "TS-003").unwrap().sku, None, "a SKU owned by two companies is never a guess");
        assert_eq!(row(&state, "TS-004").unwrap().sku, None, "a SKU owned by nobody is not linked");
        assert!(
            !batch.ops.iter().any(|op| matches!(op, WriteOp::PutProduct(_))) && state.products.len() == 2,
            "a global store never creates products, even flagged as a source"
        );
        let audits: Vec<&str> = batch
            .ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Audit(a) => Some(a.reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(audits.len(), 3, "TS-003, TS-004 and TS-005 are diagnostics: {audits:?}");
        assert!(audits.iter().any(|a| a.contains("several companies (a, b)")), "{audits:?}");
        state.rebuild().unwrap();
        assert!(state.planned.contains(&(glob.clone(), channel_core::ListingId::new("G-TS-001"))));
        assert!(
            !state.planned.contains(&(glob.clone(), channel_core::ListingId::new("G-TS-003"))),
            "an unlinked global listing is not planned, though a's catalog has its channel SKU"
        );

        // b takes TS-001 too: a's linked listing loses its link (audited once) and is no longer planned.
        state.global_owners.insert(Sku::new("TS-001").unwrap(), vec![c("a"), c("b")]);
        let mut batch = WriteBatch::new();
        state.merge_reads(&read, &Default::default(), now(), &mut batch);
        assert_eq!(row(&state, "TS-001").unwrap().sku, None);
        let unlinked = batch.ops.iter().filter(|op| matches!(op, WriteOp::Audit(_))).count();
        assert_eq!(unlinked, 1, "only the listing that lost its link is audited again");
    }

    fn c(s: &str) -> CompanyId {
        CompanyId::new(s)
    }

    #[test]
    fn ownership_is_mine_only_when_this_company_alone_owns_the_sku() {
        let me = c("a");
        assert_eq!(Ownership::of(Some(&vec![c("a")]), &me), Ownership::Mine);
        assert_eq!(Ownership::of(Some(&vec![c("b")]), &me), Ownership::Other(c("b")));
        assert_eq!(Ownership::of(None, &me), Ownership::Unowned);
        assert_eq!(Ownership::of(Some(&vec![]), &me), Ownership::Unowned);
        assert_eq!(Ownership::of(Some(&vec![c("a"), c("b")]), &me), Ownership::Shared(vec![c("a"), c("b")]));
    }

    #[test]
    fn only_unowned_and_shared_skus_are_diagnostics() {
        let tee = Sku::new("TS-001").unwrap();
        assert_eq!(Ownership::Mine.diagnostic(Some(&tee)), None);
        assert_eq!(Ownership::Other(c("b")).diagnostic(Some(&tee)), None);
        assert!(Ownership::Unowned.diagnostic(Some(&tee)).unwrap().contains("no company"));
        let shared = Ownership::Shared(vec![c("a"), c("b")]).diagnostic(Some(&tee)).unwrap();
        assert!(shared.contains("a, b") && shared.contains("TS-001"), "{shared}");
    }
}
