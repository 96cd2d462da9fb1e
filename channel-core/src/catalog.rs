//! The catalog: simple products and bundles (kits), flattened once to simple SKUs.
//!
//! A [`Product`] with a non-empty component list is a bundle; components may themselves be bundles.
//! A [`Catalog`] interns every product SKU to a dense [`ProductId`], flattens each usable bundle to
//! its simple SKUs (multiplying quantities along the way and summing repeats) and keeps the reverse
//! index from each simple SKU to the bundles that contain it, so the reconciliation engine never
//! walks the bundle tree while planning.
//!
//! Two constructors:
//! - [`Catalog::new`] is strict: a duplicate product, a component quantity below 1, an unknown
//!   component or a cycle is a typed [`CatalogError`].
//! - [`Catalog::lenient`] never fails: it keeps the first definition of a repeated SKU, marks broken
//!   bundles (and every bundle containing a broken one) unusable, and lists each finding in
//!   [`Catalog::issues`]. The reconciliation engine uses this path and reports the issues as
//!   diagnostics.
//!
//! ```
//! use channel_core::catalog::{Catalog, Component, Product};
//! use channel_core::Sku;
//! let sku = |s: &str| Sku::new(s).unwrap();
//! let catalog = Catalog::new(vec![
//!     Product::simple(sku("MUG-RED")),
//!     Product::simple(sku("MUG-BLUE")),
//!     Product::bundle(sku("MUG-PAIR"), vec![Component::new(sku("MUG-RED"), 1), Component::new(sku("MUG-BLUE"), 1)]),
//!     Product::bundle(sku("GIFTBOX"), vec![Component::new(sku("MUG-PAIR"), 2), Component::new(sku("MUG-RED"), 1)]),
//! ])
//! .unwrap();
//! let giftbox = catalog.get("GIFTBOX").unwrap();
//! let flat: Vec<(&str, u64)> =
//!     catalog.flattened(giftbox).unwrap().iter().map(|&(id, m)| (catalog.sku(id).as_str(), m)).collect();
//! assert_eq!(flat, [("MUG-RED", 3), ("MUG-BLUE", 2)]);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::{DefaultHashBuilder, HashTable};
use serde::{Deserialize, Serialize};

use crate::Sku;

/// One component of a bundle: a product SKU and how many of it the bundle holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Component {
    /// The component's SKU (a simple product or another bundle).
    pub sku: Sku,
    /// How many the bundle holds. Valid quantities are at least 1; anything else is an
    /// [`CatalogError::InvalidQuantity`] (kept representable so the lenient path can report it).
    pub quantity: i64,
}

impl Component {
    /// A component.
    pub fn new(sku: Sku, quantity: i64) -> Self {
        Self { sku, quantity }
    }
}

/// A product of the catalog: simple when `components` is empty, otherwise a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Product {
    /// The canonical SKU.
    pub sku: Sku,
    /// The bundle's components; empty for a simple product.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl Product {
    /// A simple product.
    pub fn simple(sku: Sku) -> Self {
        Self { sku, components: Vec::new() }
    }

    /// A bundle of `components` (a bundle with no components is a simple product).
    pub fn bundle(sku: Sku, components: Vec<Component>) -> Self {
        Self { sku, components }
    }

    /// Whether this product is a bundle.
    pub fn is_bundle(&self) -> bool {
        !self.components.is_empty()
    }
}

/// A dense identifier of a product inside one [`Catalog`] (its position in [`Catalog::products`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductId(u32);

impl ProductId {
    /// The position of the product in [`Catalog::products`].
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The raw id.
    pub fn get(self) -> u32 {
        self.0
    }

    pub(crate) fn from_u32(id: u32) -> Self {
        Self(id)
    }
}

/// What is wrong with a catalog. The strict [`Catalog::new`] returns the first one; the lenient
/// [`Catalog::lenient`] lists them all in [`Catalog::issues`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The SKU is defined more than once; the first definition wins.
    #[error("product {sku} is defined more than once; the first definition is used")]
    DuplicateProduct {
        /// The repeated SKU.
        sku: Sku,
    },
    /// A component quantity is below 1.
    #[error("bundle {bundle} holds {quantity} of {component}; a component quantity must be at least 1")]
    InvalidQuantity {
        /// The bundle.
        bundle: Sku,
        /// The component with the bad quantity.
        component: Sku,
        /// The quantity given.
        quantity: i64,
    },
    /// A component is not in the catalog.
    #[error("bundle {bundle} holds {component}, which is not in the catalog")]
    UnknownComponent {
        /// The bundle.
        bundle: Sku,
        /// The missing component.
        component: Sku,
    },
    /// The bundle reaches itself through its components (reported for each bundle on the cycle).
    #[error("bundle {bundle} contains itself through its components")]
    Cycle {
        /// A bundle on the cycle.
        bundle: Sku,
    },
}

impl CatalogError {
    /// The product the finding is about (the repeated SKU or the broken bundle).
    pub fn sku(&self) -> &Sku {
        match self {
            Self::DuplicateProduct { sku } => sku,
            Self::InvalidQuantity { bundle, .. } | Self::UnknownComponent { bundle, .. } | Self::Cycle { bundle } => {
                bundle
            }
        }
    }
}

/// The catalog, interned and flattened. See the [module docs](self).
#[derive(Clone)]
pub struct Catalog {
    products: Vec<Product>,
    hasher: DefaultHashBuilder,
    /// `(id, position of the SKU in keys)`, hashed by the SKU's bytes.
    index: HashTable<(u32, u32)>,
    /// Every SKU as a length byte then its bytes, packed, so a lookup compares against a small,
    /// dense arena instead of chasing each `Sku`'s allocation.
    keys: Vec<u8>,
    bundle: Vec<bool>,
    usable: Vec<bool>,
    /// For each product, its range in `flat` (empty for simple products and unusable bundles).
    flat_range: Vec<(u32, u32)>,
    flat: Vec<(ProductId, u64)>,
    /// CSR: for each product, the usable bundles whose flattening contains it.
    containing_start: Vec<u32>,
    containing: Vec<ProductId>,
    issues: Vec<CatalogError>,
    loose: OnceLock<HashMap<String, ProductId>>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("products", &self.products.len())
            .field("bundles", &self.bundle.iter().filter(|b| **b).count())
            .field("issues", &self.issues)
            .finish_non_exhaustive()
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::lenient(Vec::new())
    }
}

/// Converts a position to a `u32` id. Catalogs and listing tables are bounded well below `u32::MAX`
/// entries by memory long before this could fail; the engine checks sizes at its entry points.
pub(crate) fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl Catalog {
    /// Build a catalog, failing on the first problem (in product order: duplicates, then component
    /// quantities and unknown components, then cycles).
    pub fn new(products: Vec<Product>) -> Result<Self, CatalogError> {
        let catalog = Self::lenient(products);
        match catalog.issues.first() {
            Some(issue) => Err(issue.clone()),
            None => Ok(catalog),
        }
    }

    /// Build a catalog that keeps going: see the [module docs](self).
    pub fn lenient(products: Vec<Product>) -> Self {
        let hasher = DefaultHashBuilder::default();
        let mut index: HashTable<(u32, u32)> = HashTable::with_capacity(products.len());
        let mut keys: Vec<u8> = Vec::with_capacity(products.len() * 12);
        let mut kept: Vec<Product> = Vec::with_capacity(products.len());
        let mut issues = Vec::new();
        for product in products {
            let bytes = product.sku.as_str().as_bytes();
            let hash = hasher.hash_one(bytes);
            if index.find(hash, |&entry| key_eq(&keys, &kept, entry, bytes)).is_some() {
                issues.push(CatalogError::DuplicateProduct { sku: product.sku });
                continue;
            }
            let id = to_u32(kept.len());
            // A valid SKU is at most 255 bytes, so its length fits the length byte.
            let pos = match (u8::try_from(bytes.len()), u32::try_from(keys.len())) {
                (Ok(len), Ok(pos)) if pos < u32::MAX => {
                    keys.push(len);
                    keys.extend_from_slice(bytes);
                    pos
                }
                _ => NOT_PACKED,
            };
            index.insert_unique(hash, (id, pos), |&(id, _)| hasher.hash_one(kept[id as usize].sku.as_str().as_bytes()));
            kept.push(product);
        }
        let mut catalog = Self {
            bundle: kept.iter().map(Product::is_bundle).collect(),
            usable: vec![true; kept.len()],
            flat_range: vec![(0, 0); kept.len()],
            products: kept,
            hasher,
            index,
            keys,
            flat: Vec::new(),
            containing_start: Vec::new(),
            containing: Vec::new(),
            issues,
            loose: OnceLock::new(),
        };
        catalog.flatten_all();
        catalog
    }

    fn flatten_all(&mut self) {
        let (edges, broken) = self.component_edges();
        self.flatten_bundles(&edges, &broken);
        for (b, bad) in broken.iter().enumerate() {
            if *bad {
                self.usable[b] = false;
            }
        }
        self.index_containing();
    }

    /// Edges to known components, and the local problems of each bundle (unknown components, quantities
    /// below 1: recorded as issues, the bundle marked broken).
    fn component_edges(&mut self) -> (Edges, Vec<bool>) {
        let n = self.products.len();
        let mut start = Vec::with_capacity(n + 1);
        let mut list: Vec<(u32, i64)> = Vec::new();
        let mut broken = vec![false; n];
        for (b, product) in self.products.iter().enumerate() {
            start.push(to_u32(list.len()));
            for component in &product.components {
                match self.get(component.sku.as_str()) {
                    Some(id) => list.push((id.0, component.quantity)),
                    None => {
                        broken[b] = true;
                        self.issues.push(CatalogError::UnknownComponent {
                            bundle: product.sku.clone(),
                            component: component.sku.clone(),
                        });
                    }
                }
                if component.quantity < 1 {
                    broken[b] = true;
                    self.issues.push(CatalogError::InvalidQuantity {
                        bundle: product.sku.clone(),
                        component: component.sku.clone(),
                        quantity: component.quantity,
                    });
                }
            }
        }
        start.push(to_u32(list.len()));
        (Edges { start, list }, broken)
    }

    /// Tarjan's strongly connected components, iteratively (nesting may be deep). Components come out in
    /// reverse topological order: every component a bundle holds is finished before it, so each bundle is
    /// flattened from its components' final flat lists.
    fn flatten_bundles(&mut self, edges: &Edges, broken: &[bool]) {
        const UNSEEN: u32 = u32::MAX;
        let n = self.products.len();
        let mut order = vec![UNSEEN; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        let mut call: Vec<(u32, usize)> = Vec::new();
        let mut next = 0u32;
        let mut scc: Vec<u32> = Vec::new();
        let mut scratch = Scratch { acc: vec![0u64; n], touched: Vec::new() };
        for root in 0..n {
            if order[root] != UNSEEN || !self.bundle[root] {
                continue;
            }
            call.push((to_u32(root), 0));
            while let Some(&mut (v, ref mut pos)) = call.last_mut() {
                let vi = v as usize;
                if *pos == 0 && order[vi] == UNSEEN {
                    order[vi] = next;
                    low[vi] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[vi] = true;
                }
                if let Some(&(w, _)) = edges.of(vi).get(*pos) {
                    *pos += 1;
                    let wi = w as usize;
                    if order[wi] == UNSEEN {
                        call.push((w, 0));
                    } else if on_stack[wi] {
                        low[vi] = low[vi].min(order[wi]);
                    }
                    continue;
                }
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    let p = parent as usize;
                    low[p] = low[p].min(low[vi]);
                }
                if low[vi] != order[vi] {
                    continue;
                }
                scc.clear();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                self.finish_component(v, &scc, edges, broken, &mut scratch);
            }
        }
    }

    /// A strongly connected component rooted at `v`, all it holds already final: a cycle makes its
    /// members unusable; a singleton bundle is flattened, or unusable when broken or holding an unusable
    /// component.
    fn finish_component(&mut self, v: u32, scc: &[u32], edges: &Edges, broken: &[bool], scratch: &mut Scratch) {
        let vi = v as usize;
        let cyclic = scc.len() > 1 || edges.of(vi).iter().any(|&(w, _)| w == v);
        if cyclic {
            for &w in scc.iter().rev() {
                self.usable[w as usize] = false;
                self.issues.push(CatalogError::Cycle { bundle: self.products[w as usize].sku.clone() });
            }
            return;
        }
        if !self.bundle[vi] {
            return;
        }
        if broken[vi] || edges.of(vi).iter().any(|&(w, _)| !self.usable[w as usize]) {
            self.usable[vi] = false;
            return;
        }
        self.flatten_bundle(vi, edges.of(vi), scratch);
    }

    /// Bundle `vi`'s flat list: its components' multiplicities summed by simple SKU (nested bundles
    /// through their own flat lists), in id order.
    fn flatten_bundle(&mut self, vi: usize, out: &[(u32, i64)], scratch: &mut Scratch) {
        let Scratch { acc, touched } = scratch;
        for &(w, q) in out {
            // Quantities are >= 1 here (a smaller one marked the bundle broken).
            let q = q.unsigned_abs();
            let wi = w as usize;
            if self.bundle[wi] {
                let (s, e) = self.flat_range[wi];
                for k in s as usize..e as usize {
                    let (c, m) = self.flat[k];
                    add_to(acc, touched, c.0, q.saturating_mul(m));
                }
            } else {
                add_to(acc, touched, w, q);
            }
        }
        touched.sort_unstable();
        let start = to_u32(self.flat.len());
        for &c in touched.iter() {
            self.flat.push((ProductId(c), acc[c as usize]));
            acc[c as usize] = 0;
        }
        touched.clear();
        self.flat_range[vi] = (start, to_u32(self.flat.len()));
    }

    /// Reverse index: simple SKU -> usable bundles containing it (counting sort).
    fn index_containing(&mut self) {
        let n = self.products.len();
        let mut counts = vec![0u32; n + 1];
        for b in 0..n {
            if self.bundle[b] && self.usable[b] {
                let (s, e) = self.flat_range[b];
                for &(c, _) in &self.flat[s as usize..e as usize] {
                    counts[c.index() + 1] += 1;
                }
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut containing = vec![ProductId(0); counts[n] as usize];
        for b in 0..n {
            if self.bundle[b] && self.usable[b] {
                let (s, e) = self.flat_range[b];
                for &(c, _) in &self.flat[s as usize..e as usize] {
                    containing[fill[c.index()] as usize] = ProductId(to_u32(b));
                    fill[c.index()] += 1;
                }
            }
        }
        self.containing_start = counts;
        self.containing = containing;
    }

    /// The products (first definition of each SKU), in input order; a [`ProductId`] indexes this.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// How many distinct products there are.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// Every problem found while building, in the order found.
    pub fn issues(&self) -> &[CatalogError] {
        &self.issues
    }

    /// The product with exactly this SKU (case-sensitive).
    pub fn get(&self, sku: &str) -> Option<ProductId> {
        let bytes = sku.as_bytes();
        let hash = self.hasher.hash_one(bytes);
        self.index.find(hash, |&entry| key_eq(&self.keys, &self.products, entry, bytes)).map(|&(id, _)| ProductId(id))
    }

    /// The SKU of a product.
    ///
    /// # Panics
    /// If `id` does not come from this catalog.
    pub fn sku(&self, id: ProductId) -> &Sku {
        &self.products[id.index()].sku
    }

    /// The product's definition.
    ///
    /// # Panics
    /// If `id` does not come from this catalog.
    pub fn product(&self, id: ProductId) -> &Product {
        &self.products[id.index()]
    }

    /// Whether the product is a bundle.
    pub fn is_bundle(&self, id: ProductId) -> bool {
        self.bundle[id.index()]
    }

    /// Whether the product can be synced: simple products always; bundles when they and every bundle
    /// inside them are free of [`CatalogError`]s.
    pub fn is_usable(&self, id: ProductId) -> bool {
        self.usable[id.index()]
    }

    /// A usable bundle's simple SKUs with their summed multiplicities, sorted by [`ProductId`];
    /// `None` for simple products and unusable bundles. Multiplicities saturate at `u64::MAX`.
    pub fn flattened(&self, id: ProductId) -> Option<&[(ProductId, u64)]> {
        let i = id.index();
        (self.bundle[i] && self.usable[i]).then(|| {
            let (s, e) = self.flat_range[i];
            &self.flat[s as usize..e as usize]
        })
    }

    /// The usable bundles whose flattening contains this simple product, in catalog order.
    pub fn bundles_containing(&self, id: ProductId) -> &[ProductId] {
        let i = id.index();
        &self.containing[self.containing_start[i] as usize..self.containing_start[i + 1] as usize]
    }

    /// The product a SKU not in the catalog probably means: equal to it once all whitespace is removed
    /// and both are upper-cased ([`Sku::loose_form`]). `None` when the SKU is in the catalog as is, or
    /// nothing matches. The first product with that loose form wins.
    pub fn near_miss(&self, raw: &str) -> Option<ProductId> {
        if self.get(raw).is_some() {
            return None;
        }
        let loose = self.loose.get_or_init(|| {
            let mut map = HashMap::with_capacity(self.products.len());
            for (i, p) in self.products.iter().enumerate() {
                map.entry(Sku::loose_form(p.sku.as_str())).or_insert(ProductId(to_u32(i)));
            }
            map
        });
        loose.get(&Sku::loose_form(raw)).copied()
    }

    /// Iterate over `(id, product)` pairs in catalog order.
    pub fn iter(&self) -> impl Iterator<Item = (ProductId, &Product)> + '_ {
        self.products.iter().enumerate().map(|(i, p)| (ProductId(to_u32(i)), p))
    }
}

/// The position of a SKU that did not fit the packed arena (only past 4 GiB of SKU text).
const NOT_PACKED: u32 = u32::MAX;

fn key_eq(keys: &[u8], products: &[Product], (id, pos): (u32, u32), bytes: &[u8]) -> bool {
    if pos == NOT_PACKED {
        return products[id as usize].sku.as_str().as_bytes() == bytes;
    }
    let start = pos as usize;
    if usize::from(keys[start]) != bytes.len() {
        return false;
    }
    let stored = &keys[start + 1..start + 1 + bytes.len()];
    // SKUs are short: eight bytes at a time inline beats a call to memcmp.
    let mut a = stored.chunks_exact(8);
    let mut b = bytes.chunks_exact(8);
    for (x, y) in (&mut a).zip(&mut b) {
        if x != y {
            return false;
        }
    }
    a.remainder().iter().zip(b.remainder()).all(|(x, y)| x == y)
}

fn add_to(acc: &mut [u64], touched: &mut Vec<u32>, c: u32, q: u64) {
    let slot = &mut acc[c as usize];
    if *slot == 0 {
        touched.push(c);
    }
    *slot = slot.saturating_add(q);
}

/// Each product's edges to its known components `(component id, quantity)`, in CSR form.
struct Edges {
    start: Vec<u32>,
    list: Vec<(u32, i64)>,
}

impl Edges {
    /// Product `p`'s edges.
    fn of(&self, p: usize) -> &[(u32, i64)] {
        &self.list[self.start[p] as usize..self.start[p + 1] as usize]
    }
}

/// Scratch for summing multiplicities by simple SKU: per-id sums, and the ids with a sum.
struct Scratch {
    acc: Vec<u64>,
    touched: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sku(s: &str) -> Sku {
        Sku::new(s).unwrap()
    }

    fn bundle(name: &str, parts: &[(&str, i64)]) -> Product {
        Product::bundle(sku(name), parts.iter().map(|&(s, q)| Component::new(sku(s), q)).collect())
    }

    fn flat(c: &Catalog, name: &str) -> Option<Vec<(String, u64)>> {
        let id = c.get(name).unwrap();
        c.flattened(id).map(|f| f.iter().map(|&(p, m)| (c.sku(p).to_string(), m)).collect())
    }

    #[test]
    fn nested_bundles_multiply_and_sum() {
        let c = Catalog::new(vec![
            Product::simple(sku("A")),
            Product::simple(sku("B")),
            bundle("AB", &[("A", 1), ("B", 2)]),
            bundle("BOX", &[("AB", 3), ("A", 1)]),
            bundle("CRATE", &[("BOX", 2), ("AB", 1)]),
        ])
        .unwrap();
        assert_eq!(flat(&c, "BOX").unwrap(), [("A".into(), 4), ("B".into(), 6)]);
        assert_eq!(flat(&c, "CRATE").unwrap(), [("A".into(), 9), ("B".into(), 14)]);
        assert_eq!(flat(&c, "A"), None, "simple products do not flatten");
        let a = c.get("A").unwrap();
        let names: Vec<_> = c.bundles_containing(a).iter().map(|&b| c.sku(b).as_str()).collect();
        assert_eq!(names, ["AB", "BOX", "CRATE"]);
    }

    #[test]
    fn strict_constructor_reports_typed_errors() {
        let dup = Catalog::new(vec![Product::simple(sku("A")), Product::simple(sku("A"))]);
        assert_eq!(dup.unwrap_err(), CatalogError::DuplicateProduct { sku: sku("A") });
        let zero = Catalog::new(vec![Product::simple(sku("A")), bundle("X", &[("A", 0)])]);
        assert_eq!(
            zero.unwrap_err(),
            CatalogError::InvalidQuantity { bundle: sku("X"), component: sku("A"), quantity: 0 }
        );
        let unknown = Catalog::new(vec![bundle("X", &[("GHOST", 1)])]);
        assert_eq!(unknown.unwrap_err(), CatalogError::UnknownComponent { bundle: sku("X"), component: sku("GHOST") });
        let cycle = Catalog::new(vec![bundle("X", &[("Y", 1)]), bundle("Y", &[("X", 1)])]);
        assert!(matches!(cycle.unwrap_err(), CatalogError::Cycle { .. }));
    }

    #[test]
    fn lenient_marks_cycles_and_their_dependants_unusable() {
        let c = Catalog::lenient(vec![
            Product::simple(sku("A")),
            bundle("SELF", &[("SELF", 1), ("A", 1)]),
            bundle("X", &[("Y", 1)]),
            bundle("Y", &[("Z", 1)]),
            bundle("Z", &[("X", 2)]),
            bundle("OUTER", &[("X", 1), ("A", 1)]),
            bundle("FINE", &[("A", 2)]),
            bundle("BAD", &[("A", -1)]),
            bundle("ON-BAD", &[("BAD", 1)]),
        ]);
        let mut cycles: Vec<_> = c
            .issues()
            .iter()
            .filter(|i| matches!(i, CatalogError::Cycle { .. }))
            .map(|i| i.sku().to_string())
            .collect();
        cycles.sort();
        assert_eq!(cycles, ["SELF", "X", "Y", "Z"], "only bundles on a cycle are reported");
        for name in ["SELF", "X", "Y", "Z", "OUTER", "BAD", "ON-BAD"] {
            assert!(!c.is_usable(c.get(name).unwrap()), "{name} must be unusable");
        }
        assert!(c.is_usable(c.get("FINE").unwrap()));
        assert_eq!(c.issues().len(), 5, "{:?}", c.issues());
        let a = c.get("A").unwrap();
        assert_eq!(c.bundles_containing(a), [c.get("FINE").unwrap()]);
    }

    #[test]
    fn near_miss_uses_the_loose_form() {
        let c = Catalog::lenient(vec![Product::simple(sku("TS-001")), Product::simple(sku("MUG 2"))]);
        assert_eq!(c.near_miss("ts-001 ").map(|p| c.sku(p).as_str()), Some("TS-001"));
        assert_eq!(c.near_miss(" mug2").map(|p| c.sku(p).as_str()), Some("MUG 2"));
        assert_eq!(c.near_miss("TS-001"), None, "an exact match is no near miss");
        assert_eq!(c.near_miss("TS001"), None);
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let mut products = vec![Product::simple(sku("S"))];
        products.push(bundle("B0", &[("S", 1)]));
        for i in 1..20_000 {
            products.push(bundle(&format!("B{i}"), &[(&format!("B{}", i - 1), 1)]));
        }
        let c = Catalog::new(products).unwrap();
        assert_eq!(flat(&c, "B19999").unwrap(), [("S".into(), 1)]);
    }

    proptest! {
        /// Flattening equals a naive recursive expansion.
        #[test]
        fn flattening_matches_naive_expansion(
            shapes in proptest::collection::vec(proptest::collection::vec((0usize..12, 1i64..4), 1..4), 0..8)
        ) {
            // Bundle i may only hold products with a smaller index (simple 0..4, bundles 4..), so no cycles.
            let mut products: Vec<Product> = (0..4).map(|i| Product::simple(sku(&format!("S{i}")))).collect();
            for (i, parts) in shapes.iter().enumerate() {
                let comps = parts.iter().map(|&(k, q)| Component::new(products[k % products.len()].sku.clone(), q)).collect();
                products.push(Product::bundle(sku(&format!("K{i}")), comps));
            }
            let c = Catalog::new(products.clone()).unwrap();
            fn expand(products: &[Product], name: &str, mult: u64, out: &mut std::collections::BTreeMap<String, u64>) {
                let p = products.iter().find(|p| p.sku.as_str() == name).unwrap();
                if p.components.is_empty() {
                    *out.entry(name.to_owned()).or_default() += mult;
                }
                for comp in &p.components {
                    expand(products, comp.sku.as_str(), mult * comp.quantity.unsigned_abs(), out);
                }
            }
            for p in &products[4..] {
                let mut naive = std::collections::BTreeMap::new();
                expand(&products, p.sku.as_str(), 1, &mut naive);
                let mut got: Vec<(String, u64)> = flat(&c, p.sku.as_str()).unwrap();
                got.sort();
                prop_assert_eq!(got, naive.into_iter().collect::<Vec<_>>());
            }
        }
    }
}
