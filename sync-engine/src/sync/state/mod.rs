//! The engine's cached state ([`State`]): the rows it works from, the indexes over them and the
//! reconciler built from them. Nothing here does I/O: the engine decides with these functions and
//! commits what they put in a [`WriteBatch`].

mod global;
mod inventory;
mod moves;
mod order_line;
mod pushed;
mod read;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use channel_core::{
    Catalog, Fulfilment, Listing, ListingId, PlanInput, Product, Reconciler, Sku, SourceOfTruth, Stock, StoreId,
    StoreInput,
};

use crate::store::{
    CompanyId, ConnectionRecord, CredentialStatus, ListingRecord, ProductRecord, Scope, WriteBatch, WriteOp,
};
use crate::{Error, Result};

pub(crate) use global::{Ownership, listing_sku as global_listing_sku, ownership_issue};
pub(crate) use inventory::{InventoryDecision, InventoryInput, Reread, reported_quantity};
pub(crate) use moves::guard_plan;
pub(crate) use order_line::line_audit;
pub(crate) use pushed::source_model;

/// What the engine keeps in memory, rebuilt from the store by [`SyncEngine::reload`]. Every write to the
/// store that changes it happens while its lock is held, so the cached row versions stay current.
pub(crate) struct State {
    /// The company whose view of the store this state is built from.
    pub(crate) company: CompanyId,
    /// The companies owning each SKU seen on a global store at the last full read
    /// ([`crate::Store::sku_owners`]): a global store's listing is this company's only when it alone owns
    /// the SKU (see `global.rs`).
    pub(crate) global_owners: BTreeMap<Sku, Vec<CompanyId>>,
    pub(crate) reconciler: Reconciler,
    pub(crate) source: Option<StoreId>,
    pub(crate) connections: HashMap<StoreId, ConnectionRecord>,
    pub(crate) products: HashMap<Sku, ProductRecord>,
    pub(crate) listings: HashMap<(StoreId, ListingId), ListingRecord>,
    /// (store, channel SKU) → listing, for order lines that name no listing.
    pub(crate) by_channel_sku: HashMap<(StoreId, String), ListingId>,
    /// Simple SKU → the source store's listing that holds its on-hand quantity.
    pub(crate) source_listing: HashMap<Sku, ListingId>,
    /// Listings the reconciler knows (tracked, no unresolved SKU change).
    pub(crate) planned: HashSet<(StoreId, ListingId)>,
    /// What each listing is believed to show on its channel now (the compare-and-set expectation).
    pub(crate) shown: HashMap<(StoreId, ListingId), i64>,
    /// On hand per simple SKU when the source is external (the ledger balance).
    pub(crate) external_on_hand: HashMap<Sku, i64>,
    /// Stores whose channel honours compare-and-set.
    pub(crate) cas_stores: HashSet<StoreId>,
    /// Stores whose channel takes deltas and applies a keyed one at most once
    /// ([`channel_core::Capabilities::delta_adjust`] and `idempotent_writes`): a source among them is moved
    /// by deltas, not absolute sets (see [`State::move_on_hand`]).
    pub(crate) delta_stores: HashSet<StoreId>,
    /// The source of truth when it is not connected (disconnected with its binding kept): it stays the
    /// source, planned with its last known listings and never pushed to.
    pub(crate) offline_source: Option<ConnectionRecord>,
    /// Why pushes are held (the source of truth is missing or unhealthy), or `None`. Set with the
    /// channels known ([`crate::sync::SyncEngine::refresh_capabilities`]); while set, nothing is queued
    /// and queued pushes are not sent.
    pub(crate) hold: Option<String>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("source", &self.source)
            .field("stores", &self.connections.len())
            .field("listings", &self.listings.len())
            .finish_non_exhaustive()
    }
}

/// One update of a plan, owned (so the reconciler can be changed while it is queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) store: StoreId,
    pub(crate) listing: ListingId,
    pub(crate) sku: Sku,
    pub(crate) from: i64,
    pub(crate) to: i64,
}

/// The updates of a plan, owned.
pub(crate) fn owned_updates(plan: channel_core::Plan<'_>) -> Vec<Planned> {
    plan.updates
        .into_iter()
        .map(|u| Planned {
            store: u.store.into_owned(),
            listing: u.listing.into_owned(),
            sku: u.sku.into_owned(),
            from: u.from,
            to: u.to,
        })
        .collect()
}

/// The quantity the engine works with for a listing: what it pushed last when that is newer than what it
/// read last, else what it read.
pub(crate) fn model_quantity(record: &ListingRecord) -> Option<i64> {
    match (record.pushed_quantity, record.pushed_at, record.seen_at) {
        (Some(q), Some(p), Some(s)) if p >= s => Some(q),
        (Some(q), Some(_), None) => Some(q),
        _ => record.seen_quantity,
    }
}

/// The store whose sale or change the movement just recorded in `batch` is, when it is the movement of
/// `delta` units of `sku` (the caller records the ledger movement, then moves the on hand).
fn recorded_origin(batch: &WriteBatch, sku: &Sku, delta: i64) -> Option<StoreId> {
    match batch.ops.last() {
        Some(WriteOp::RecordMovement(m)) if &m.sku == sku && m.delta == delta => m.store.clone(),
        _ => None,
    }
}

/// The catalog the reconciler plans with, from the product rows (sorted by SKU).
fn catalog(products: &HashMap<Sku, ProductRecord>) -> Catalog {
    let mut products: Vec<&ProductRecord> = products.values().collect();
    products.sort_by(|a, b| a.sku.cmp(&b.sku));
    Catalog::lenient(
        products
            .into_iter()
            .map(|p| {
                if p.is_bundle() {
                    Product::bundle(p.sku.clone(), p.components.clone())
                } else {
                    Product::simple(p.sku.clone())
                }
            })
            .collect(),
    )
}

/// A listing row as the reconciler sees it, showing `quantity` (its model quantity; untracked when
/// unknown).
fn plan_listing(record: &ListingRecord, quantity: Option<i64>) -> Listing {
    let stock = quantity.map_or(Stock::Untracked, |quantity| Stock::Tracked { quantity });
    let name = record.sku.as_ref().map_or(record.channel_sku.as_str(), Sku::as_str);
    let mut listing = Listing::new(record.listing.clone(), name, 0)
        .with_stock(stock)
        .with_fulfilment(record.fulfilment)
        .with_status(record.status);
    listing.sku = record.sku.clone();
    listing
}

impl State {
    /// Build the state from the store's rows: the connected stores' connections and listings, the catalog,
    /// and (when no store is the source) the ledger balance of every simple product.
    pub(crate) fn from_rows(
        connections: HashMap<StoreId, ConnectionRecord>,
        products: HashMap<Sku, ProductRecord>,
        listings: HashMap<(StoreId, ListingId), ListingRecord>,
        external_on_hand: HashMap<Sku, i64>,
    ) -> Result<Self> {
        let source = connections.values().find(|c| c.source_of_truth).map(|c| c.store.clone());
        let mut state = Self {
            company: CompanyId::default_company(),
            global_owners: BTreeMap::new(),
            reconciler: Reconciler::new(PlanInput::new(Catalog::lenient(Vec::new()), SourceOfTruth::External(vec![])))
                .map_err(|e| Error::Invalid(e.to_string()))?,
            source,
            connections,
            products,
            listings,
            by_channel_sku: HashMap::new(),
            source_listing: HashMap::new(),
            planned: HashSet::new(),
            shown: HashMap::new(),
            external_on_hand,
            cas_stores: HashSet::new(),
            delta_stores: HashSet::new(),
            offline_source: None,
            hold: None,
        };
        state.rebuild()?;
        Ok(state)
    }

    /// Make `record`, a source of truth that is not connected, the source (with the listings already
    /// cached for it) and rebuild.
    pub(crate) fn set_offline_source(&mut self, record: ConnectionRecord) -> Result<()> {
        self.source = Some(record.store.clone());
        self.offline_source = Some(record);
        self.external_on_hand.clear();
        self.rebuild()
    }

    /// Why pushes must be held, when they must: the source of truth is a store that is disconnected,
    /// needs re-authentication, or has no channel (`has_channel`). An external source never holds.
    pub(crate) fn source_hold(&self, has_channel: impl Fn(&StoreId) -> bool) -> Option<String> {
        let source = self.source.as_ref()?;
        let Some(c) = self.connections.get(source).filter(|c| c.credentials.is_some()) else {
            return Some(format!("the source of truth {source} is disconnected"));
        };
        if c.health.credentials == CredentialStatus::NeedsReauth {
            return Some(format!("the source of truth {source} needs re-authentication"));
        }
        if !has_channel(source) {
            return Some(format!("the source of truth {source} has no channel (its connection could not be opened)"));
        }
        None
    }

    /// Rebuild the reconciler and the indexes from the cached rows.
    pub(crate) fn rebuild(&mut self) -> Result<()> {
        let catalog = catalog(&self.products);
        let offline = self.offline_source.as_ref().filter(|c| !self.connections.contains_key(&c.store));
        let mut store_ids: Vec<&StoreId> = self.connections.keys().chain(offline.map(|c| &c.store)).collect();
        store_ids.sort();
        let mut by_store: BTreeMap<&StoreId, Vec<&ListingRecord>> = BTreeMap::new();
        for record in self.listings.values() {
            by_store.entry(&record.store).or_default().push(record);
        }
        self.by_channel_sku.clear();
        self.source_listing.clear();
        self.planned.clear();
        self.shown.clear();
        let mut stores = Vec::with_capacity(store_ids.len());
        for id in store_ids {
            // The offline source is planned as a disabled store: its listings hold the on hand, and it is
            // never pushed to.
            let (connection, sync) = match self.connections.get(id) {
                Some(c) => (c, c.sync_mode),
                None => match offline {
                    Some(c) => (c, crate::store::SyncMode::Disabled),
                    None => continue,
                },
            };
            let mut records = by_store.remove(id).unwrap_or_default();
            records.sort_by(|a, b| a.listing.cmp(&b.listing));
            let mut plan_listings = Vec::with_capacity(records.len());
            for record in records {
                // A channel SKU on a merchant listing and a channel-held one (Takealot leadtime and DC
                // offers share it): an order line naming only the SKU is the merchant listing's.
                let key = (id.clone(), record.channel_sku.clone());
                if record.fulfilment == Fulfilment::Merchant || !self.by_channel_sku.contains_key(&key) {
                    self.by_channel_sku.insert(key, record.listing.clone());
                }
                if record.sku_change.is_some() {
                    continue;
                }
                // An unlinked listing of a global store is another company's, or a diagnostic: the
                // reconciler, which matches listings by channel SKU, must not take it for this company's.
                if record.sku.is_none() && connection.scope == Scope::Global {
                    continue;
                }
                let quantity = model_quantity(record);
                plan_listings.push(plan_listing(record, quantity));
                if let Some(q) = quantity {
                    let key = (id.clone(), record.listing.clone());
                    self.shown.insert(key.clone(), q);
                    self.planned.insert(key);
                    if self.source.as_ref() == Some(id)
                        && record.fulfilment == Fulfilment::Merchant
                        && let Some(sku) = &record.sku
                        && self.products.get(sku).is_some_and(|p| !p.is_bundle())
                    {
                        self.source_listing.entry(sku.clone()).or_insert_with(|| record.listing.clone());
                    }
                }
            }
            stores.push(StoreInput::new(id.clone(), connection.channel).with_sync(sync).with_listings(plan_listings));
        }
        let source = match &self.source {
            Some(id) => SourceOfTruth::Store(id.clone()),
            None => SourceOfTruth::External(self.external_on_hand.iter().map(|(k, v)| (k.clone(), *v)).collect()),
        };
        let mut input = PlanInput::new(catalog, source);
        input.stores = stores;
        self.reconciler = Reconciler::new(input).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(())
    }

    /// The connection of a store, if connected.
    pub(crate) fn connection(&self, store: &StoreId) -> Option<&ConnectionRecord> {
        self.connections.get(store)
    }

    /// The catalog SKU an order line or webhook names: through its listing, else its channel SKU.
    pub(crate) fn resolve_sku(
        &self,
        store: &StoreId,
        listing: Option<&ListingId>,
        channel_sku: &str,
    ) -> Option<(Sku, Option<ListingId>)> {
        let listing_id = listing
            .filter(|l| self.listings.contains_key(&(store.clone(), (*l).clone())))
            .cloned()
            .or_else(|| self.by_channel_sku.get(&(store.clone(), channel_sku.to_owned())).cloned());
        if let Some(id) = &listing_id
            && let Some(record) = self.listings.get(&(store.clone(), id.clone()))
        {
            if record.sku_change.is_some() {
                return None;
            }
            if let Some(sku) = &record.sku {
                return Some((sku.clone(), listing_id));
            }
        }
        let sku = Sku::new(channel_sku).ok()?;
        self.products.contains_key(&sku).then_some((sku, listing_id))
    }

    /// A product's simple components with their multiplicities (itself for a simple product).
    pub(crate) fn components(&self, sku: &Sku) -> Vec<(Sku, u64)> {
        let catalog = self.reconciler.catalog();
        let Some(p) = catalog.get(sku.as_str()) else { return Vec::new() };
        if !catalog.is_bundle(p) {
            return vec![(sku.clone(), 1)];
        }
        catalog
            .flattened(p)
            .map_or_else(Vec::new, |flat| flat.iter().map(|&(c, m)| (catalog.sku(c).clone(), m)).collect())
    }

    /// The on-hand quantity of a simple SKU as the engine knows it.
    pub(crate) fn on_hand(&self, sku: &Sku) -> Option<i64> {
        self.reconciler.on_hand(sku.as_str())
    }
}
