//! A deterministic synthetic snapshot, for benchmarks, demos and load tests.

use std::collections::BTreeMap;

use super::{PendingSale, PlanInput, SourceOfTruth, StoreInput, StoreRules};
use crate::catalog::{Catalog, Component, Product};
use crate::{ChannelKind, Fulfilment, Listing, ListingId, ListingStatus, Sku, Stock};

/// The shape of a [`synthetic_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticSpec {
    /// Simple SKUs (`SKU-000000`, …); at least 2.
    pub simple: usize,
    /// Bundles (`KIT-00000`, …) of 2–4 components; every tenth from the 100th on (and past the
    /// hot ones) holds another bundle.
    pub bundles: usize,
    /// Stores, each listing every SKU once in its own shuffled order.
    pub stores: usize,
    /// Pending sales spread over the stores and SKUs.
    pub pending: usize,
    /// How many bundles contain the hot SKU [`SyntheticSpec::hot_sku`] (at most `bundles`).
    pub hot_bundles: usize,
    /// Seed of the generator.
    pub seed: u64,
}

impl SyntheticSpec {
    /// The benchmark of issue #3: 200,000 simple SKUs, 20,000 bundles (a tenth nested), 5 stores
    /// listing all 220,000 SKUs (1.1 M listings), 10,000 pending sales, a SKU in 50 bundles.
    pub const ISSUE_3: Self =
        Self { simple: 200_000, bundles: 20_000, stores: 5, pending: 10_000, hot_bundles: 50, seed: 3 };

    /// The simple SKU that exactly `hot_bundles` bundles contain: `SKU-000000`.
    pub fn hot_sku(&self) -> Sku {
        simple_sku(0)
    }
}

fn simple_sku(i: usize) -> Sku {
    // A fixed ASCII pattern is always a valid SKU.
    Sku::new(&format!("SKU-{i:06}")).unwrap_or_else(|_| unreachable!("SKU-nnnnnn is a valid SKU"))
}

fn bundle_sku(j: usize) -> Sku {
    Sku::new(&format!("KIT-{j:05}")).unwrap_or_else(|_| unreachable!("KIT-nnnnn is a valid SKU"))
}

/// SplitMix64: small, fast and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        let span = (hi - lo) as u64;
        // The remainder is below `span`, which came from a usize.
        lo + usize::try_from(self.next() % span).unwrap_or(0)
    }

    fn quantity(&mut self, lo: usize, hi: usize) -> i64 {
        i64::try_from(self.range(lo, hi)).unwrap_or(0)
    }
}

/// Generate a plan input of the given shape: external stock for every simple SKU (0..200), listing
/// quantities 0..200 (so most listings need an update: the worst case for the planner), per-store
/// rules that differ, and no data problems.
pub fn synthetic_input(spec: &SyntheticSpec) -> PlanInput {
    let mut rng = Rng(spec.seed);
    let simple = spec.simple.max(2);
    let hot = spec.hot_bundles.min(spec.bundles);
    let mut products: Vec<Product> = (0..simple).map(|i| Product::simple(simple_sku(i))).collect();
    for j in 0..spec.bundles {
        let count = rng.range(2, 5);
        let mut components = Vec::with_capacity(count);
        let nested = j > hot && j >= 100 && j % 10 == 0;
        if j < hot {
            components.push(Component::new(simple_sku(0), rng.quantity(1, 3)));
        } else if nested {
            components.push(Component::new(bundle_sku(rng.range(hot, j)), rng.quantity(1, 3)));
        }
        while components.len() < count {
            components.push(Component::new(simple_sku(rng.range(1, simple)), rng.quantity(1, 4)));
        }
        products.push(Product::bundle(bundle_sku(j), components));
    }
    let stock: Vec<(Sku, i64)> = (0..simple).map(|i| (simple_sku(i), rng.quantity(0, 200))).collect();

    const KINDS: [ChannelKind; 5] =
        [ChannelKind::Takealot, ChannelKind::Shopify, ChannelKind::Woocommerce, ChannelKind::Amazon, ChannelKind::Ebay];
    let total = products.len();
    let mut stores = Vec::with_capacity(spec.stores);
    for s in 0..spec.stores {
        let kind = KINDS[s % KINDS.len()];
        let rules = match s % 5 {
            1 => StoreRules { percent: 90, ..StoreRules::default() },
            2 => StoreRules { buffer: 2, ..StoreRules::default() },
            3 => StoreRules { max: Some(50), ..StoreRules::default() },
            4 => StoreRules { zero_below: 3, ..StoreRules::default() },
            _ => StoreRules::default(),
        };
        let mut order: Vec<usize> = (0..total).collect();
        for i in (1..order.len()).rev() {
            let k = rng.range(0, i + 1);
            order.swap(i, k);
        }
        let base = 1_000_000 * (s + 1);
        let listings = order
            .into_iter()
            .enumerate()
            .map(|(n, p)| Listing {
                id: ListingId::from((base + n).to_string()),
                ids: BTreeMap::new(),
                channel_sku: products[p].sku.as_str().to_owned(),
                sku: None,
                stock: Stock::Tracked { quantity: rng.quantity(0, 200) },
                price: None,
                fulfilment: Fulfilment::Merchant,
                status: ListingStatus::Active,
            })
            .collect();
        stores.push(StoreInput::new(format!("{}-{s}", kind.as_str()), kind).with_rules(rules).with_listings(listings));
    }
    let pending = (0..if stores.is_empty() { 0 } else { spec.pending })
        .map(|_| {
            let store = stores[rng.range(0, stores.len())].id.clone();
            let sku = products[rng.range(0, total)].sku.as_str().to_owned();
            PendingSale { store, sku, quantity: rng.next() % 3 + 1 }
        })
        .collect();
    PlanInput { catalog: Catalog::lenient(products), source: SourceOfTruth::External(stock), stores, pending }
}
