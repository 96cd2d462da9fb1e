//! The prepared, indexed reconciler.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::output::{Diagnostic, DiagnosticKind, Plan, Update};
use super::{InputError, PlanInput, SourceOfTruth, StoreInput, SyncMode};
use crate::catalog::{Catalog, CatalogError, ProductId, to_u32};
use crate::{Fulfilment, Sku, Stock};

/// No product.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Never written: channel-fulfilled, untracked, or not in the catalog.
    Skip,
    /// Gets the store's target for its SKU.
    Target,
    /// The source store's on-hand listing of a simple SKU: gets the write-back.
    OnHand,
    /// A further source-store listing of a simple SKU: nothing.
    SourceExtra,
}

/// Per-listing state, in global listing order (store by store).
#[derive(Debug, Clone, Copy)]
struct Slot {
    product: u32,
    role: Role,
    quantity: i64,
}

/// Why an in-place change to a [`Reconciler`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// No store has this id.
    #[error("no store has the id {0:?}")]
    UnknownStore(String),
    /// The store has no listing with this id.
    #[error("store {store:?} has no listing {listing:?}")]
    UnknownListing {
        /// The store.
        store: String,
        /// The listing id.
        listing: String,
    },
    /// The listing's stock is not tracked, so it has no quantity to set.
    #[error("listing {listing:?} of store {store:?} does not track stock")]
    UntrackedListing {
        /// The store.
        store: String,
        /// The listing id.
        listing: String,
    },
    /// The SKU is not a simple product of the catalog.
    #[error("{0:?} is not a simple product of the catalog")]
    NotSimple(String),
    /// On hand comes from a source store: change its listing with `set_listing_quantity` instead.
    #[error("on hand comes from the source store {0:?}; set its listing's quantity instead")]
    SourceIsStore(String),
}

/// A prepared reconciler: the input interned and indexed once, ready for full plans and incremental
/// re-plans. See the [module docs](super).
pub struct Reconciler {
    catalog: Catalog,
    source: Option<u32>,
    stores: Vec<StoreInput>,
    store_start: Vec<u32>,
    slots: Vec<Slot>,
    on_hand: Vec<Option<i64>>,
    demand: Vec<u64>,
    needed: Vec<bool>,
    pending: HashMap<(u32, u32), u64>,
    unknown_pending: HashMap<String, BTreeMap<u32, u64>>,
    fixed: Vec<Diagnostic>,
    fixed_by_sku: HashMap<String, Vec<u32>>,
    product_listings: OnceLock<(Vec<u32>, Vec<u32>)>,
    listing_index: Option<(DefaultHashBuilder, HashTable<u32>)>,
}

impl fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconciler")
            .field("catalog", &self.catalog)
            .field("stores", &self.stores.iter().map(|s| s.id.as_str()).collect::<Vec<_>>())
            .field("listings", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// Validate ([`PlanInput::validate`]) and prepare `input`: intern SKUs, classify every listing
    /// (canonical SKU, role), take on hand from the source, add up pending demand and collect the
    /// diagnostics that depend only on the input's structure. O(listings + catalog).
    pub fn new(input: PlanInput) -> Result<Self, InputError> {
        let store_index: HashMap<String, u32> =
            input.store_index()?.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let PlanInput { catalog, source, stores, pending } = input;
        let n = catalog.len();
        let source_idx = match &source {
            SourceOfTruth::External(_) => None,
            SourceOfTruth::Store(id) => store_index.get(id.as_str()).copied(),
        };
        let mut on_hand = external_on_hand(&catalog, &source);
        let mut fixed: Vec<Diagnostic> = catalog.issues().iter().map(catalog_diagnostic).collect();
        let mut scan = ListingScan::new(n, &stores);
        for (si, store) in stores.iter().enumerate() {
            let is_source = source_idx == Some(to_u32(si));
            scan.store(&catalog, store, is_source, &mut on_hand, &mut fixed);
        }
        let needed = needed_products(&catalog, &scan.listed);
        let ListingScan { slots, mut store_start, .. } = scan;
        store_start.push(to_u32(slots.len()));

        let mut reconciler = Self {
            catalog,
            source: source_idx,
            stores,
            store_start,
            slots,
            on_hand,
            demand: vec![0; n],
            needed,
            pending: HashMap::new(),
            unknown_pending: HashMap::new(),
            fixed,
            fixed_by_sku: HashMap::new(),
            product_listings: OnceLock::new(),
            listing_index: None,
        };
        for sale in &pending {
            // validate() checked that every pending store exists.
            let si = store_index.get(sale.store.as_str()).copied().unwrap_or(NONE);
            reconciler.change_pending(si, &sale.sku, i128::from(sale.quantity));
        }
        for (i, d) in reconciler.fixed.iter().enumerate() {
            reconciler.fixed_by_sku.entry(d.sku.clone()).or_default().push(to_u32(i));
        }
        Ok(reconciler)
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The stores with their listings (kept up to date by [`Reconciler::set_listing_quantity`]).
    pub fn stores(&self) -> &[StoreInput] {
        &self.stores
    }

    /// The on-hand quantity of a simple SKU (`None`: missing at source, or not a simple product).
    pub fn on_hand(&self, sku: &str) -> Option<i64> {
        self.catalog.get(sku).and_then(|p| self.on_hand[p.index()])
    }

    /// The pending demand on a simple SKU (pending sales of other stores than the source, flattened).
    pub fn demand(&self, sku: &str) -> u64 {
        self.catalog.get(sku).map_or(0, |p| self.demand[p.index()])
    }

    /// The availability of a catalog SKU (semantics 5): `None` when it is not in the catalog, is an
    /// unusable bundle, or needs a simple SKU missing at source.
    pub fn availability(&self, sku: &str) -> Option<i64> {
        self.catalog.get(sku).and_then(|p| self.available(p))
    }

    fn simple_available(&self, p: usize) -> Option<i64> {
        let on_hand = self.on_hand[p]?.max(0).unsigned_abs();
        // <= on_hand <= i64::MAX.
        Some(i64::try_from(on_hand.saturating_sub(self.demand[p])).unwrap_or(i64::MAX))
    }

    fn available(&self, p: ProductId) -> Option<i64> {
        if !self.catalog.is_bundle(p) {
            return self.simple_available(p.index());
        }
        let flat = self.catalog.flattened(p)?;
        let mut min = i64::MAX;
        let mut missing = false;
        for &(c, m) in flat {
            match self.simple_available(c.index()) {
                // m >= 1; the quotient is <= a.
                Some(a) => min = min.min(i64::try_from(a.unsigned_abs() / m).unwrap_or(i64::MAX)),
                None => missing = true,
            }
        }
        (!missing).then_some(min)
    }

    /// The update one slot gets, given its product's availability.
    fn slot_update(&self, store: usize, slot: Slot, available: Option<i64>) -> Option<i64> {
        let to = match slot.role {
            Role::Skip | Role::SourceExtra => return None,
            Role::Target => self.stores[store].rules.target(available?),
            Role::OnHand => {
                let demand = self.demand[slot.product as usize];
                if demand == 0 {
                    return None;
                }
                let rest = (i128::from(slot.quantity) - i128::from(demand)).max(0);
                // 0 <= rest <= quantity.
                i64::try_from(rest).unwrap_or(0)
            }
        };
        (to != slot.quantity).then_some(to)
    }

    fn make_update(&self, store: usize, global: usize, slot: Slot, to: i64) -> Update<'_> {
        let s = &self.stores[store];
        let local = global - self.store_start[store] as usize;
        Update {
            store: Cow::Borrowed(&s.id),
            listing: Cow::Borrowed(&s.listings[local].id),
            sku: Cow::Borrowed(self.catalog.sku(ProductId::from_u32(slot.product))),
            from: slot.quantity,
            to,
        }
    }

    /// The full plan: every update in store then listing order, and every diagnostic.
    pub fn plan(&self) -> Plan<'_> {
        // -1: not synced (unusable, or missing at source).
        let available: Vec<i64> = self.catalog.iter().map(|(p, _)| self.available(p).unwrap_or(-1)).collect();
        // First the compact list of changes, then the updates at their exact size.
        let mut changes: Vec<(u32, i64)> = Vec::new();
        for (si, store) in self.stores.iter().enumerate() {
            if store.sync == SyncMode::Disabled {
                continue;
            }
            let (start, end) = (self.store_start[si] as usize, self.store_start[si + 1] as usize);
            for (offset, &slot) in self.slots[start..end].iter().enumerate() {
                if slot.product == NONE {
                    continue;
                }
                let a = available[slot.product as usize];
                if let Some(to) = self.slot_update(si, slot, (a >= 0).then_some(a)) {
                    changes.push((to_u32(start + offset), to));
                }
            }
        }
        let mut updates = Vec::with_capacity(changes.len());
        let mut store = 0usize;
        for (g, to) in changes {
            while self.store_start[store + 1] <= g {
                store += 1;
            }
            updates.push(self.make_update(store, g as usize, self.slots[g as usize], to));
        }
        let mut diagnostics = self.fixed.clone();
        for p in 0..self.catalog.len() {
            self.stock_diagnostics(p, &mut diagnostics);
        }
        for (sku, stores) in &self.unknown_pending {
            self.pending_diagnostics(sku, stores, &mut diagnostics);
        }
        diagnostics.sort_unstable();
        Plan { updates, diagnostics }
    }

    fn stock_diagnostics(&self, p: usize, out: &mut Vec<Diagnostic>) {
        let id = ProductId::from_u32(to_u32(p));
        if self.catalog.is_bundle(id) {
            return;
        }
        let sku = self.catalog.sku(id);
        match self.on_hand[p] {
            None if self.needed[p] => {
                let (message, store) = match self.source {
                    None => (
                        format!("{sku} has no quantity in the external stock; listings that need it are not synced"),
                        None,
                    ),
                    Some(s) => {
                        let store = &self.stores[s as usize].id;
                        (
                            format!(
                                "{sku} has no merchant-fulfilled listing on the source store {store}; listings that need it are not synced"
                            ),
                            Some(store),
                        )
                    }
                };
                let d = Diagnostic::new(DiagnosticKind::MissingAtSource, sku.as_str(), message);
                out.push(match store {
                    Some(store) => d.at_store(store),
                    None => d,
                });
            }
            Some(q) if q < 0 => {
                let d = Diagnostic::new(
                    DiagnosticKind::NegativeStock,
                    sku.as_str(),
                    format!("the on-hand quantity of {sku} is {q}; it counts as 0"),
                );
                out.push(match self.source {
                    Some(s) => d.at_store(&self.stores[s as usize].id),
                    None => d,
                });
            }
            _ => {}
        }
    }

    fn pending_diagnostics(&self, sku: &str, stores: &BTreeMap<u32, u64>, out: &mut Vec<Diagnostic>) {
        for (&si, &quantity) in stores {
            let store = &self.stores[si as usize].id;
            out.push(
                Diagnostic::new(
                    DiagnosticKind::UnknownSku,
                    sku,
                    format!(
                        "{quantity} pending from {store} for SKU {sku:?}, which is not in the catalog, are ignored"
                    ),
                )
                .at_store(store),
            );
        }
    }

    /// Exactly the part of [`Reconciler::plan`] touching `sku` (see the [module docs](super)): for a
    /// simple SKU, the updates and diagnostics of it and of every usable bundle containing it. Uses
    /// the catalog's reverse index and an index from each product to its listings (built on the first
    /// call, O(listings)); it never walks the catalog.
    pub fn replan_sku(&self, sku: &str) -> Plan<'_> {
        self.replan_skus([sku])
    }

    /// [`Reconciler::replan_sku`] for several SKUs at once (each part once, in full-plan order).
    pub fn replan_skus<'a>(&self, skus: impl IntoIterator<Item = &'a str>) -> Plan<'_> {
        let mut products: Vec<ProductId> = Vec::new();
        let mut raw: Vec<&str> = Vec::new();
        for sku in skus {
            match self.catalog.get(sku) {
                Some(p) => {
                    products.push(p);
                    if !self.catalog.is_bundle(p) {
                        products.extend_from_slice(self.catalog.bundles_containing(p));
                    }
                }
                None => raw.push(sku),
            }
        }
        products.sort_unstable();
        products.dedup();
        raw.sort_unstable();
        raw.dedup();

        let (start, index) = self.product_listings.get_or_init(|| self.build_product_listings());
        let mut globals: Vec<u32> = Vec::new();
        for &p in &products {
            globals.extend_from_slice(&index[start[p.index()] as usize..start[p.index() + 1] as usize]);
        }
        globals.sort_unstable();
        let mut updates = Vec::new();
        let mut store = 0usize;
        let mut cached: Option<(u32, Option<i64>)> = None;
        for g in globals {
            while self.store_start[store + 1] <= g {
                store += 1;
            }
            if self.stores[store].sync == SyncMode::Disabled {
                continue;
            }
            let slot = self.slots[g as usize];
            let available = match cached {
                Some((p, a)) if p == slot.product => a,
                _ => {
                    let a = self.available(ProductId::from_u32(slot.product));
                    cached = Some((slot.product, a));
                    a
                }
            };
            if let Some(to) = self.slot_update(store, slot, available) {
                updates.push(self.make_update(store, g as usize, slot, to));
            }
        }

        let mut diagnostics = Vec::new();
        for &p in &products {
            self.fixed_for(self.catalog.sku(p).as_str(), &mut diagnostics);
            self.stock_diagnostics(p.index(), &mut diagnostics);
        }
        for sku in raw {
            self.fixed_for(sku, &mut diagnostics);
            if let Some(stores) = self.unknown_pending.get(sku) {
                self.pending_diagnostics(sku, stores, &mut diagnostics);
            }
        }
        diagnostics.sort_unstable();
        Plan { updates, diagnostics }
    }

    fn fixed_for(&self, sku: &str, out: &mut Vec<Diagnostic>) {
        if let Some(list) = self.fixed_by_sku.get(sku) {
            out.extend(list.iter().map(|&i| self.fixed[i as usize].clone()));
        }
    }

    /// CSR from product to the global indices of its listings (those with a role), ascending.
    fn build_product_listings(&self) -> (Vec<u32>, Vec<u32>) {
        let n = self.catalog.len();
        let mut start = vec![0u32; n + 1];
        for slot in &self.slots {
            if slot.product != NONE && slot.role != Role::Skip {
                start[slot.product as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut index = vec![0u32; start[n] as usize];
        for (g, slot) in self.slots.iter().enumerate() {
            if slot.product != NONE && slot.role != Role::Skip {
                let f = &mut fill[slot.product as usize];
                index[*f as usize] = to_u32(g);
                *f += 1;
            }
        }
        (start, index)
    }

    fn store_position(&self, store: &str) -> Result<u32, UpdateError> {
        self.stores
            .iter()
            .position(|s| s.id.as_str() == store)
            .map(to_u32)
            .ok_or_else(|| UpdateError::UnknownStore(store.to_owned()))
    }

    /// Set the on-hand quantity of a simple SKU (external source only); `None` makes it missing at
    /// source. Re-plan the SKU afterwards.
    pub fn set_on_hand(&mut self, sku: &str, quantity: Option<i64>) -> Result<(), UpdateError> {
        if let Some(s) = self.source {
            return Err(UpdateError::SourceIsStore(self.stores[s as usize].id.as_str().to_owned()));
        }
        match self.catalog.get(sku) {
            Some(p) if !self.catalog.is_bundle(p) => {
                self.on_hand[p.index()] = quantity;
                Ok(())
            }
            _ => Err(UpdateError::NotSimple(sku.to_owned())),
        }
    }

    /// Record a pending sale of `quantity` units of `sku` on `store`. Returns the simple SKUs whose
    /// demand changed: re-plan those ([`Reconciler::replan_skus`]). A sale on the source store, of an
    /// unusable bundle or of an unknown SKU changes no demand (the last is reported as `unknown_sku`).
    pub fn add_pending(&mut self, store: &str, sku: &str, quantity: u64) -> Result<Vec<Sku>, UpdateError> {
        let si = self.store_position(store)?;
        Ok(self.change_pending(si, sku, i128::from(quantity)))
    }

    /// Forget up to `quantity` units of pending sales of `sku` on `store` (absorbed by the source of
    /// truth, or cancelled). Returns the simple SKUs whose demand changed.
    pub fn remove_pending(&mut self, store: &str, sku: &str, quantity: u64) -> Result<Vec<Sku>, UpdateError> {
        let si = self.store_position(store)?;
        Ok(self.change_pending(si, sku, -i128::from(quantity)))
    }

    fn change_pending(&mut self, si: u32, sku: &str, delta: i128) -> Vec<Sku> {
        if self.source == Some(si) || delta == 0 {
            return Vec::new();
        }
        let Some(p) = self.catalog.get(sku) else {
            let stores = self.unknown_pending.entry(sku.to_owned()).or_default();
            let entry = stores.entry(si).or_default();
            *entry = clamp_u64(i128::from(*entry) + delta);
            if *entry == 0 {
                stores.remove(&si);
                if stores.is_empty() {
                    self.unknown_pending.remove(sku);
                }
            }
            return Vec::new();
        };
        let entry = self.pending.entry((si, p.get())).or_default();
        let before = *entry;
        *entry = clamp_u64(i128::from(before) + delta);
        let after = *entry;
        if after == 0 {
            self.pending.remove(&(si, p.get()));
        }
        // Demand is recomputed from the recorded totals, so saturation never drifts.
        let apply = |demand: &mut u64, m: u64| {
            let old = before.saturating_mul(m);
            let new = after.saturating_mul(m);
            *demand = if new >= old { demand.saturating_add(new - old) } else { demand.saturating_sub(old - new) };
        };
        if !self.catalog.is_bundle(p) {
            apply(&mut self.demand[p.index()], 1);
            return vec![self.catalog.sku(p).clone()];
        }
        let Some(flat) = self.catalog.flattened(p) else { return Vec::new() };
        let mut touched = Vec::with_capacity(flat.len());
        for &(c, m) in flat {
            apply(&mut self.demand[c.index()], m);
            touched.push(self.catalog.sku(c).clone());
        }
        touched
    }

    /// Set the quantity a listing shows (after a write, or a fresh read). On the source store's
    /// on-hand listing of a simple SKU this is the on-hand quantity. Every listing of the store with
    /// this id changes. Returns the catalog SKUs of the changed listings: re-plan those.
    pub fn set_listing_quantity(&mut self, store: &str, listing: &str, quantity: i64) -> Result<Vec<Sku>, UpdateError> {
        let si = self.store_position(store)?;
        if self.listing_index.is_none() {
            self.listing_index = Some(self.build_listing_index());
        }
        let (hasher, table) = self.listing_index.as_ref().ok_or_else(|| UpdateError::UnknownStore(store.into()))?;
        let hash = hasher.hash_one((si, listing));
        let base = self.store_start[si as usize];
        let matches: Vec<u32> = table
            .iter_hash(hash)
            .copied()
            .filter(|&g| {
                (self.store_start[si as usize]..self.store_start[si as usize + 1]).contains(&g)
                    && self.stores[si as usize].listings[(g - base) as usize].id.as_str() == listing
            })
            .collect();
        if matches.is_empty() {
            return Err(UpdateError::UnknownListing { store: store.to_owned(), listing: listing.to_owned() });
        }
        let mut touched = Vec::new();
        for g in matches {
            let entry = &mut self.stores[si as usize].listings[(g - base) as usize];
            if !matches!(entry.stock, Stock::Tracked { .. }) {
                return Err(UpdateError::UntrackedListing { store: store.to_owned(), listing: listing.to_owned() });
            }
            entry.stock = Stock::Tracked { quantity };
            let slot = &mut self.slots[g as usize];
            slot.quantity = quantity;
            if slot.role == Role::OnHand {
                self.on_hand[slot.product as usize] = Some(quantity);
            }
            if slot.product != NONE {
                touched.push(self.catalog.sku(ProductId::from_u32(slot.product)).clone());
            }
        }
        Ok(touched)
    }

    fn build_listing_index(&self) -> (DefaultHashBuilder, HashTable<u32>) {
        let hasher = DefaultHashBuilder::default();
        let mut table = HashTable::with_capacity(self.slots.len());
        for (si, store) in self.stores.iter().enumerate() {
            let base = self.store_start[si];
            for (li, listing) in store.listings.iter().enumerate() {
                let hash = hasher.hash_one((to_u32(si), listing.id.as_str()));
                table.insert_unique(hash, base + to_u32(li), |&g| {
                    let s = self.store_of(g);
                    let l = &self.stores[s].listings[(g - self.store_start[s]) as usize];
                    hasher.hash_one((to_u32(s), l.id.as_str()))
                });
            }
        }
        (hasher, table)
    }

    fn store_of(&self, global: u32) -> usize {
        self.store_start.partition_point(|&s| s <= global) - 1
    }
}

fn clamp_u64(v: i128) -> u64 {
    u64::try_from(v.max(0)).unwrap_or(u64::MAX)
}

/// On hand given by an external source of truth, per simple product (bundles and unknown SKUs ignored).
fn external_on_hand(catalog: &Catalog, source: &SourceOfTruth) -> Vec<Option<i64>> {
    let mut on_hand: Vec<Option<i64>> = vec![None; catalog.len()];
    if let SourceOfTruth::External(stock) = source {
        for (sku, quantity) in stock {
            if let Some(p) = catalog.get(sku.as_str())
                && !catalog.is_bundle(p)
            {
                on_hand[p.index()] = Some(*quantity);
            }
        }
    }
    on_hand
}

/// The simple products some listed product needs: listed simple products and the components of listed,
/// usable bundles.
fn needed_products(catalog: &Catalog, listed: &[u64]) -> Vec<bool> {
    let mut needed = vec![false; catalog.len()];
    for (p, _) in catalog.iter() {
        if listed[p.index() / 64] & (1u64 << (p.index() % 64)) == 0 {
            continue;
        }
        match catalog.flattened(p) {
            Some(flat) => flat.iter().for_each(|&(c, _)| needed[c.index()] = true),
            None if !catalog.is_bundle(p) => needed[p.index()] = true,
            None => {}
        }
    }
    needed
}

/// Classifies every listing, store by store, into [`Slot`]s.
struct ListingScan {
    slots: Vec<Slot>,
    store_start: Vec<u32>,
    // Bitsets over products (27 KB for 220,000 products, so they stay in cache): listed anywhere, seen in
    // the current store, duplicate already reported in the current store.
    listed: Vec<u64>,
    seen: Vec<u64>,
    reported: Vec<u64>,
    /// The current store's repeated products, each with the listing that repeated it first.
    duplicates: Vec<(u32, usize)>,
}

impl ListingScan {
    fn new(products: usize, stores: &[StoreInput]) -> Self {
        let total: usize = stores.iter().map(|s| s.listings.len()).sum();
        let words = products.div_ceil(64);
        Self {
            slots: Vec::with_capacity(total),
            store_start: Vec::with_capacity(stores.len() + 1),
            listed: vec![0u64; words],
            seen: vec![0u64; words],
            reported: vec![0u64; words],
            duplicates: Vec::new(),
        }
    }

    /// One store's listings: each gets its canonical product and role (the source's first listing of a
    /// simple product gives its on hand); unknown SKUs and repeated products are diagnosed.
    fn store(
        &mut self,
        catalog: &Catalog,
        store: &StoreInput,
        is_source: bool,
        on_hand: &mut [Option<i64>],
        fixed: &mut Vec<Diagnostic>,
    ) {
        let base = self.slots.len();
        self.store_start.push(to_u32(base));
        self.seen.fill(0);
        self.reported.fill(0);
        self.duplicates.clear();
        for (li, listing) in store.listings.iter().enumerate() {
            let Stock::Tracked { quantity } = listing.stock else {
                self.slots.push(Slot { product: NONE, role: Role::Skip, quantity: 0 });
                continue;
            };
            let mapped = store.sku_rules.apply(&listing.channel_sku, listing.fulfilment);
            if mapped.fulfilment == Fulfilment::Channel {
                self.slots.push(Slot { product: NONE, role: Role::Skip, quantity });
                continue;
            }
            let Some(p) = catalog.get(mapped.canonical) else {
                fixed.push(unknown_listing(catalog, store, li, mapped.canonical));
                self.slots.push(Slot { product: NONE, role: Role::Skip, quantity });
                continue;
            };
            let pi = p.index();
            let (word, bit) = (pi / 64, 1u64 << (pi % 64));
            self.listed[word] |= bit;
            let duplicate = self.seen[word] & bit != 0;
            if duplicate {
                if self.reported[word] & bit == 0 {
                    self.reported[word] |= bit;
                    self.duplicates.push((p.get(), li));
                }
            } else {
                self.seen[word] |= bit;
            }
            let role = if is_source && !catalog.is_bundle(p) {
                if duplicate {
                    Role::SourceExtra
                } else {
                    on_hand[pi] = Some(quantity);
                    Role::OnHand
                }
            } else {
                Role::Target
            };
            self.slots.push(Slot { product: p.get(), role, quantity });
        }
        if !self.duplicates.is_empty() {
            self.report_duplicates(catalog, store, base, is_source, fixed);
        }
    }

    /// Diagnoses each repeated product of the store that starts at slot `base`, naming its first listing.
    /// Rare: finds the first listings with one pass over the store.
    fn report_duplicates(
        &self,
        catalog: &Catalog,
        store: &StoreInput,
        base: usize,
        is_source: bool,
        fixed: &mut Vec<Diagnostic>,
    ) {
        let mut first: HashMap<u32, usize> = self.duplicates.iter().map(|&(p, _)| (p, usize::MAX)).collect();
        for (li, slot) in self.slots[base..].iter().enumerate() {
            if let Some(f) = first.get_mut(&slot.product) {
                *f = (*f).min(li);
            }
        }
        for &(p, li) in &self.duplicates {
            let first_id = &store.listings[first[&p]].id;
            fixed.push(duplicate_listing(catalog, store, ProductId::from_u32(p), first_id, li, is_source));
        }
    }
}

fn catalog_diagnostic(issue: &CatalogError) -> Diagnostic {
    let kind = match issue {
        CatalogError::DuplicateProduct { .. } => DiagnosticKind::DuplicateProduct,
        CatalogError::InvalidQuantity { .. } => DiagnosticKind::InvalidQuantity,
        CatalogError::UnknownComponent { .. } => DiagnosticKind::UnknownComponent,
        CatalogError::Cycle { .. } => DiagnosticKind::BundleCycle,
    };
    Diagnostic::new(kind, issue.sku().as_str(), issue.to_string())
}

fn unknown_listing(catalog: &Catalog, store: &StoreInput, li: usize, canonical: &str) -> Diagnostic {
    let listing = &store.listings[li];
    let (kind, suggestion, message) = match catalog.near_miss(canonical) {
        Some(p) => {
            let suggestion = catalog.sku(p).clone();
            let message = format!(
                "listing {} in {} has SKU {canonical:?}, which is not in the catalog; did you mean {suggestion:?}?",
                listing.id, store.id
            );
            (DiagnosticKind::NearMiss, Some(suggestion), message)
        }
        None => (
            DiagnosticKind::UnknownSku,
            None,
            format!("listing {} in {} has SKU {canonical:?}, which is not in the catalog", listing.id, store.id),
        ),
    };
    let mut d = Diagnostic::new(kind, canonical, message).at_store(&store.id).at_listing(&listing.id);
    d.suggestion = suggestion;
    d
}

fn duplicate_listing(
    catalog: &Catalog,
    store: &StoreInput,
    p: ProductId,
    first: &crate::ListingId,
    li: usize,
    is_source: bool,
) -> Diagnostic {
    let sku = catalog.sku(p);
    let listing = &store.listings[li];
    let message = if is_source && !catalog.is_bundle(p) {
        format!(
            "the source store {} has more than one merchant listing of {sku}; {first} holds the on-hand quantity and {} is ignored",
            store.id, listing.id
        )
    } else {
        format!(
            "{} has more than one merchant listing of {sku} ({first} and {}); all of them get the same quantity",
            store.id, listing.id
        )
    };
    Diagnostic::new(DiagnosticKind::DuplicateSku, sku.as_str(), message).at_store(&store.id).at_listing(&listing.id)
}
