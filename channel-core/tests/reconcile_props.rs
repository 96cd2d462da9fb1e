//! Invariants of the reconciliation engine on random inputs, and edge cases.

// The generator's numbers are small and non-negative by construction.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_possible_wrap)]

use std::collections::{BTreeSet, HashMap};

use channel_core::catalog::{Catalog, Component, Product};
use channel_core::reconcile::{
    Plan, PlanInput, Reconciler, SourceOfTruth, StoreInput, StoreRules, SyncMode, UpdateError, plan,
};
use channel_core::{ChannelKind, DiagnosticKind, Fulfilment, Listing, PendingSale, Sku, SkuRule, SkuRules, Stock};
use proptest::prelude::*;

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

/// SplitMix64, so one proptest seed drives a whole input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A random input over a small universe, with every kind of data problem now and then.
fn random_input(seed: u64) -> PlanInput {
    let mut rng = Rng(seed);
    let simple = 1 + rng.below(6);
    let bundles = rng.below(5);
    let mut products: Vec<Product> = (0..simple).map(|i| Product::simple(sku(&format!("S{i}")))).collect();
    for j in 0..bundles {
        let mut components = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let target = if rng.chance(5) {
                format!("GHOST{j}")
            } else if rng.chance(8) {
                // May point forward: a cycle now and then.
                format!("K{}", rng.below(bundles))
            } else {
                products[rng.below(products.len())].sku.to_string()
            };
            let quantity = if rng.chance(4) { rng.between(-1, 0) } else { rng.between(1, 3) };
            components.push(Component::new(sku(&target), quantity));
        }
        products.push(Product::bundle(sku(&format!("K{j}")), components));
    }
    if rng.chance(10) {
        products.push(Product::simple(sku("S0")));
    }
    let names: Vec<String> = products.iter().map(|p| p.sku.to_string()).collect();

    let store_count = rng.below(4);
    let kinds = [ChannelKind::Takealot, ChannelKind::Shopify, ChannelKind::Amazon, ChannelKind::Woocommerce];
    let mut stores = Vec::new();
    for s in 0..store_count {
        let rules = StoreRules {
            percent: if rng.chance(30) { rng.between(0, 100) as u8 } else { 100 },
            buffer: if rng.chance(30) { rng.between(0, 3) as u64 } else { 0 },
            max: if rng.chance(25) { Some(rng.between(0, 20) as u64) } else { None },
            zero_below: if rng.chance(25) { rng.between(0, 5) as u64 } else { 0 },
        };
        let sync = match rng.below(5) {
            0 => SyncMode::Disabled,
            1 => SyncMode::Daily,
            _ => SyncMode::Live,
        };
        let with_rules = rng.chance(40);
        let sku_rules = if with_rules {
            SkuRules::new(vec![
                SkuRule::suffix("-FBA", Some(Fulfilment::Channel)),
                SkuRule::suffix("-FBM", Some(Fulfilment::Merchant)),
            ])
        } else {
            SkuRules::default()
        };
        let mut listings = Vec::new();
        for l in 0..rng.below(9) {
            let base = names[rng.below(names.len())].clone();
            let channel_sku = match rng.below(12) {
                0 => format!("{base}-FBA"),
                1 => format!("{base}-FBM"),
                2 => base.to_lowercase(),
                3 => format!(" {base}"),
                4 => format!("NOPE-{}", rng.below(3)),
                _ => base,
            };
            // Ids repeat now and then, as the contract allows.
            let id = if rng.chance(5) { "L0".to_owned() } else { format!("L{l}") };
            let mut listing = Listing::new(id, channel_sku, rng.between(-3, 30));
            if rng.chance(10) {
                listing = listing.with_fulfilment(Fulfilment::Channel);
            }
            listings.push(listing);
        }
        stores.push(
            StoreInput::new(format!("store-{s}"), kinds[s % kinds.len()])
                .with_sync(sync)
                .with_rules(rules)
                .with_sku_rules(sku_rules)
                .with_listings(listings),
        );
    }
    let source = if store_count > 0 && rng.chance(50) {
        SourceOfTruth::Store(stores[rng.below(store_count)].id.clone())
    } else {
        let mut stock = Vec::new();
        for i in 0..simple {
            if rng.chance(85) {
                stock.push((sku(&format!("S{i}")), rng.between(-2, 40)));
            }
        }
        if rng.chance(20) {
            stock.push((sku("K0"), 5));
        }
        SourceOfTruth::External(stock)
    };
    let mut pending = Vec::new();
    if store_count > 0 {
        for _ in 0..rng.below(5) {
            let store = stores[rng.below(store_count)].id.clone();
            let s = if rng.chance(10) { "NOPE-P".to_owned() } else { names[rng.below(names.len())].clone() };
            pending.push(PendingSale { store, sku: s, quantity: rng.between(0, 4) as u64 });
        }
    }
    PlanInput { catalog: Catalog::lenient(products), source, stores, pending }
}

/// On hand and demand per simple SKU, computed the plain way from the input.
fn reference_availability(input: &PlanInput) -> HashMap<String, i64> {
    let catalog = &input.catalog;
    let mut on_hand: HashMap<String, i64> = HashMap::new();
    let source_store = match &input.source {
        SourceOfTruth::External(stock) => {
            for (s, q) in stock {
                if catalog.get(s.as_str()).is_some_and(|p| !catalog.is_bundle(p)) {
                    on_hand.insert(s.to_string(), *q);
                }
            }
            None
        }
        SourceOfTruth::Store(id) => {
            let store = input.stores.iter().find(|s| s.id == *id).unwrap();
            for l in &store.listings {
                let m = store.sku_rules.apply(&l.channel_sku, l.fulfilment);
                let simple = catalog.get(m.canonical).is_some_and(|p| !catalog.is_bundle(p));
                if m.fulfilment == Fulfilment::Merchant && simple && !on_hand.contains_key(m.canonical) {
                    on_hand.insert(m.canonical.to_owned(), l.stock.quantity().unwrap());
                }
            }
            Some(id.clone())
        }
    };
    let mut demand: HashMap<String, i64> = HashMap::new();
    for sale in &input.pending {
        if Some(&sale.store) == source_store.as_ref() {
            continue;
        }
        let Some(p) = catalog.get(&sale.sku) else { continue };
        if !catalog.is_bundle(p) {
            *demand.entry(sale.sku.clone()).or_default() += sale.quantity as i64;
        } else if let Some(flat) = catalog.flattened(p) {
            for &(c, m) in flat {
                *demand.entry(catalog.sku(c).to_string()).or_default() += sale.quantity as i64 * m as i64;
            }
        }
    }
    on_hand
        .into_iter()
        .map(|(s, q)| {
            let d = demand.get(&s).copied().unwrap_or(0);
            (s, (q.max(0) - d).max(0))
        })
        .collect()
}

fn source_id(input: &PlanInput) -> Option<&str> {
    match &input.source {
        SourceOfTruth::Store(id) => Some(id.as_str()),
        SourceOfTruth::External(_) => None,
    }
}

/// The part of `plan` whose SKU is in `skus`.
fn part(plan: &Plan<'_>, skus: &BTreeSet<String>) -> Plan<'static> {
    Plan {
        updates: plan
            .updates
            .iter()
            .filter(|u| skus.contains(u.sku.as_str()))
            .cloned()
            .map(|u| u.into_owned())
            .collect(),
        diagnostics: plan.diagnostics.iter().filter(|d| skus.contains(&d.sku)).cloned().collect(),
    }
}

/// The SKUs a re-plan of `sku` covers, found by scanning the whole catalog.
fn affected(catalog: &Catalog, sku: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::from([sku.to_owned()]);
    if let Some(p) = catalog.get(sku)
        && !catalog.is_bundle(p)
    {
        for (b, _) in catalog.iter() {
            if catalog.flattened(b).is_some_and(|f| f.iter().any(|&(c, _)| c == p)) {
                out.insert(catalog.sku(b).to_string());
            }
        }
    }
    out
}

/// Apply `plan` to `input`: set each updated listing's quantity and, where a source store's
/// write-back absorbed them, clear the other stores' pending sales.
fn apply(input: &PlanInput, plan: &Plan<'_>) -> PlanInput {
    let mut next = input.clone();
    for u in &plan.updates {
        let store = next.stores.iter_mut().find(|s| s.id == *u.store).unwrap();
        for l in store.listings.iter_mut().filter(|l| l.id == *u.listing) {
            l.stock = Stock::Tracked { quantity: u.to };
        }
    }
    if let Some(source) = source_id(input) {
        let enabled = input.stores.iter().any(|s| s.id.as_str() == source && s.sync != SyncMode::Disabled);
        if enabled {
            next.pending.retain(|p| p.store.as_str() == source);
        }
    }
    next
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_target_exceeds_what_is_available(seed in any::<u64>()) {
        let input = random_input(seed);
        let available = reference_availability(&input);
        let source = source_id(&input).map(str::to_owned);
        let reconciler = Reconciler::new(input.clone()).unwrap();
        let plan = reconciler.plan();
        let catalog = reconciler.catalog();
        for u in &plan.updates {
            prop_assert!(u.to >= 0, "{u:?}");
            let p = catalog.get(u.sku.as_str()).unwrap();
            let write_back = Some(u.store.as_str()) == source.as_deref() && !catalog.is_bundle(p);
            if write_back {
                prop_assert!(u.to <= u.from.max(0), "write-back {u:?}");
                continue;
            }
            let limit = match catalog.flattened(p) {
                None => available[u.sku.as_str()],
                Some(flat) => flat.iter().map(|&(c, m)| available[catalog.sku(c).as_str()] / m as i64).min().unwrap(),
            };
            prop_assert!(u.to <= limit, "{u:?} exceeds {limit}");
            prop_assert_eq!(reconciler.availability(u.sku.as_str()), Some(limit));
        }
    }

    #[test]
    fn a_bundle_never_shows_more_than_its_scarcest_component(seed in any::<u64>()) {
        let input = random_input(seed);
        let available = reference_availability(&input);
        let reconciler = Reconciler::new(input).unwrap();
        let catalog = reconciler.catalog();
        for u in &reconciler.plan().updates {
            let p = catalog.get(u.sku.as_str()).unwrap();
            if let Some(flat) = catalog.flattened(p) {
                for &(c, m) in flat {
                    let a = available[catalog.sku(c).as_str()];
                    prop_assert!(u.to as u64 * m <= a as u64, "{u:?}: {} x{m} of {a}", catalog.sku(c));
                }
            }
        }
    }

    #[test]
    fn applying_a_plan_then_planning_again_gives_no_updates(seed in any::<u64>()) {
        // Applying by listing id needs ids that name one listing.
        let mut input = random_input(seed);
        for store in &mut input.stores {
            for (i, l) in store.listings.iter_mut().enumerate() {
                l.id = format!("L{i}").into();
            }
        }
        let first = plan(input.clone()).unwrap();
        let next = apply(&input, &first);
        let second = plan(next).unwrap();
        prop_assert!(second.updates.is_empty(), "first {:?}\nsecond {:?}", first.updates, second.updates);
    }

    #[test]
    fn an_incremental_replan_is_the_matching_part_of_the_full_plan(seed in any::<u64>()) {
        let input = random_input(seed);
        let reconciler = Reconciler::new(input).unwrap();
        let full = reconciler.plan();
        let catalog = reconciler.catalog();
        let mut skus: Vec<String> = catalog.iter().map(|(_, p)| p.sku.to_string()).collect();
        skus.extend(["NOPE-0", "NOPE-P", " S0", "s1", "UNSEEN"].map(str::to_owned));
        for s in &skus {
            let want = part(&full, &affected(catalog, s));
            prop_assert_eq!(reconciler.replan_sku(s), want, "re-plan of {}", s);
        }
        let all: Vec<&str> = skus.iter().map(String::as_str).collect();
        let everything = reconciler.replan_skus(all);
        prop_assert_eq!(everything.updates, full.updates.clone());
    }

    #[test]
    fn in_place_changes_match_a_fresh_reconciler(seed in any::<u64>(), ops in proptest::collection::vec(any::<u64>(), 1..12)) {
        let mut model = random_input(seed);
        let mut reconciler = Reconciler::new(model.clone()).unwrap();
        let names: Vec<String> = model.catalog.iter().map(|(_, p)| p.sku.to_string()).chain(["NOPE-P".to_owned()]).collect();
        for op in ops {
            let mut rng = Rng(op);
            let sku_name = names[rng.below(names.len())].clone();
            match rng.below(4) {
                0 => {
                    let q = if rng.chance(20) { None } else { Some(rng.between(-2, 30)) };
                    match reconciler.set_on_hand(&sku_name, q) {
                        Ok(()) => {
                            let SourceOfTruth::External(stock) = &mut model.source else { unreachable!() };
                            stock.retain(|(s, _)| s.as_str() != sku_name);
                            if let Some(q) = q {
                                stock.push((sku(&sku_name), q));
                            }
                        }
                        Err(UpdateError::SourceIsStore(_) | UpdateError::NotSimple(_)) => {}
                        Err(e) => prop_assert!(false, "{e}"),
                    }
                }
                1 | 2 if !model.stores.is_empty() => {
                    let store = model.stores[rng.below(model.stores.len())].id.clone();
                    let q = rng.between(0, 3) as u64;
                    if rng.below(2) == 0 {
                        reconciler.add_pending(store.as_str(), &sku_name, q).unwrap();
                        model.pending.push(PendingSale::new(store, sku_name, q));
                    } else {
                        reconciler.remove_pending(store.as_str(), &sku_name, q).unwrap();
                        let mut left = q;
                        for p in model.pending.iter_mut().filter(|p| p.store == store && p.sku == sku_name) {
                            let take = left.min(p.quantity);
                            p.quantity -= take;
                            left -= take;
                        }
                    }
                }
                _ if !model.stores.is_empty() => {
                    let si = rng.below(model.stores.len());
                    let store = &mut model.stores[si];
                    if store.listings.is_empty() {
                        continue;
                    }
                    let id = store.listings[rng.below(store.listings.len())].id.clone();
                    let q = rng.between(-2, 30);
                    reconciler.set_listing_quantity(store.id.as_str(), id.as_str(), q).unwrap();
                    for l in store.listings.iter_mut().filter(|l| l.id == id) {
                        l.stock = Stock::Tracked { quantity: q };
                    }
                }
                _ => {}
            }
            let fresh = Reconciler::new(model.clone()).unwrap();
            prop_assert_eq!(reconciler.plan(), fresh.plan());
            let s = names[rng.below(names.len())].as_str();
            prop_assert_eq!(reconciler.replan_sku(s), fresh.replan_sku(s));
        }
    }
}

fn kinds(plan: &Plan<'_>) -> BTreeSet<(DiagnosticKind, String)> {
    plan.diagnostics.iter().map(|d| (d.kind, d.sku.clone())).collect()
}

fn external(stock: &[(&str, i64)]) -> SourceOfTruth {
    SourceOfTruth::External(stock.iter().map(|&(s, q)| (sku(s), q)).collect())
}

fn bundle(name: &str, parts: &[(&str, i64)]) -> Product {
    Product::bundle(sku(name), parts.iter().map(|&(s, q)| Component::new(sku(s), q)).collect())
}

fn store(id: &str, listings: &[(&str, &str, i64)]) -> StoreInput {
    StoreInput::new(id, ChannelKind::Shopify)
        .with_listings(listings.iter().map(|&(i, s, q)| Listing::new(i, s, q)).collect())
}

fn targets(plan: &Plan<'_>) -> Vec<(String, i64)> {
    plan.updates.iter().map(|u| (u.listing.to_string(), u.to)).collect()
}

#[test]
fn no_products() {
    let mut input = PlanInput::new(Catalog::lenient(vec![]), external(&[]));
    input.stores.push(store("s", &[("1", "A", 3), ("2", "B", 0)]));
    let plan = plan(input).unwrap();
    assert!(plan.updates.is_empty());
    let want =
        BTreeSet::from([(DiagnosticKind::UnknownSku, "A".to_owned()), (DiagnosticKind::UnknownSku, "B".to_owned())]);
    assert_eq!(kinds(&plan), want);
}

#[test]
fn no_stores() {
    let catalog = Catalog::new(vec![Product::simple(sku("A")), Product::simple(sku("B"))]).unwrap();
    let plan = plan(PlanInput::new(catalog, external(&[("A", -4)]))).unwrap();
    assert!(plan.updates.is_empty());
    // B is missing at source, but nothing lists it: no finding. A's negative stock is one.
    assert_eq!(kinds(&plan), BTreeSet::from([(DiagnosticKind::NegativeStock, "A".to_owned())]));
}

#[test]
fn a_store_with_only_unknown_skus() {
    let catalog = Catalog::new(vec![Product::simple(sku("TS-001"))]).unwrap();
    let mut input = PlanInput::new(catalog, external(&[("TS-001", 5)]));
    input.stores.push(store("good", &[("g1", "TS-001", 0)]));
    input.stores.push(store("bad", &[("1", "ts-001", 4), ("2", "GHOST", 1), ("3", "GHOST", 2)]));
    let plan = plan(input).unwrap();
    assert_eq!(targets(&plan), [("g1".to_owned(), 5)]);
    assert!(plan.updates.iter().all(|u| u.store.as_str() == "good"));
    let near = plan.diagnostics.iter().find(|d| d.kind == DiagnosticKind::NearMiss).unwrap();
    assert_eq!(near.suggestion.as_ref().map(Sku::as_str), Some("TS-001"));
    assert_eq!(near.listing.as_ref().map(|l| l.as_str()), Some("1"));
    let ghosts = plan.diagnostics.iter().filter(|d| d.kind == DiagnosticKind::UnknownSku && d.sku == "GHOST").count();
    assert_eq!(ghosts, 2, "one finding per listing; unknown SKUs are not duplicates");
    assert!(!plan.diagnostics.iter().any(|d| d.kind == DiagnosticKind::DuplicateSku));
}

#[test]
fn nested_bundles_three_deep() {
    let catalog = Catalog::new(vec![
        Product::simple(sku("A")),
        Product::simple(sku("B")),
        bundle("K1", &[("A", 2), ("B", 1)]),
        bundle("K2", &[("K1", 3), ("A", 1)]),
        bundle("K3", &[("K2", 2)]),
    ])
    .unwrap();
    let k3 = catalog.get("K3").unwrap();
    let flat: Vec<(&str, u64)> =
        catalog.flattened(k3).unwrap().iter().map(|&(c, m)| (catalog.sku(c).as_str(), m)).collect();
    assert_eq!(flat, [("A", 14), ("B", 6)]);
    let mut input = PlanInput::new(catalog, external(&[("A", 29), ("B", 13)]));
    input.stores.push(store("s", &[("1", "K3", 0), ("2", "K2", 0), ("3", "K1", 0)]));
    input.pending.push(PendingSale::new("s", "K3", 1));
    let reconciler = Reconciler::new(input).unwrap();
    // A: 29 - 14 = 15, B: 13 - 6 = 7. K3 = min(15/14, 7/6) = 1; K2 = min(15/7, 7/3) = 2; K1 = min(15/2, 7) = 7.
    assert_eq!(targets(&reconciler.plan()), [("1".into(), 1), ("2".into(), 2), ("3".into(), 7)]);
    assert_eq!(targets(&reconciler.replan_sku("B")), [("1".into(), 1), ("2".into(), 2), ("3".into(), 7)]);
}

#[test]
fn a_bundle_holding_the_same_component_through_two_paths() {
    let catalog = Catalog::new(vec![
        Product::simple(sku("A")),
        Product::simple(sku("B")),
        bundle("PAIR", &[("A", 1), ("B", 1)]),
        bundle("PAIR-PLUS", &[("PAIR", 1), ("A", 1)]),
        bundle("TWICE", &[("A", 1), ("A", 2)]),
    ])
    .unwrap();
    let mut input = PlanInput::new(catalog, external(&[("A", 7), ("B", 9)]));
    input.stores.push(store("s", &[("1", "PAIR-PLUS", 0), ("2", "TWICE", 0)]));
    let plan = plan(input).unwrap();
    // PAIR-PLUS needs A twice: 7 / 2 = 3. TWICE needs A three times: 7 / 3 = 2.
    assert_eq!(targets(&plan), [("1".into(), 3), ("2".into(), 2)]);
    assert!(plan.diagnostics.is_empty(), "{:?}", plan.diagnostics);
}

#[test]
fn disabled_stores_get_no_updates_but_their_findings_are_reported() {
    let catalog = Catalog::new(vec![Product::simple(sku("A")), Product::simple(sku("B"))]).unwrap();
    let mut input = PlanInput::new(catalog, external(&[("A", 3)]));
    input.stores.push(
        store("off", &[("1", "A", 0), ("2", "A", 1), ("3", "a", 0), ("4", "B", 2)]).with_sync(SyncMode::Disabled),
    );
    let plan = plan(input).unwrap();
    assert!(plan.updates.is_empty());
    let want = BTreeSet::from([
        (DiagnosticKind::DuplicateSku, "A".to_owned()),
        (DiagnosticKind::NearMiss, "a".to_owned()),
        (DiagnosticKind::MissingAtSource, "B".to_owned()),
    ]);
    assert_eq!(kinds(&plan), want);
}

#[test]
fn the_source_store_gets_the_write_back_and_ignores_its_own_pending_sales() {
    let catalog = Catalog::new(vec![Product::simple(sku("A")), bundle("AA", &[("A", 2)])]).unwrap();
    let mut input = PlanInput::new(catalog, SourceOfTruth::Store("src".into()));
    input.stores.push(store("src", &[("1", "A", 10), ("2", "A", 50), ("3", "AA", 0)]));
    input.stores.push(store("web", &[("w", "A", 0)]));
    input.pending.push(PendingSale::new("web", "AA", 2));
    input.pending.push(PendingSale::new("src", "A", 5));
    input.pending.push(PendingSale::new("src", "NOPE", 5));
    let plan = plan(input).unwrap();
    // On hand 10 from the first listing; demand 4 from web; the second listing is ignored.
    assert_eq!(targets(&plan), [("1".into(), 6), ("3".into(), 3), ("w".into(), 6)]);
    assert_eq!(kinds(&plan), BTreeSet::from([(DiagnosticKind::DuplicateSku, "A".to_owned())]));
}

#[test]
fn channel_fulfilled_listings_are_never_written_nor_diagnosed() {
    let catalog = Catalog::new(vec![Product::simple(sku("A"))]).unwrap();
    let mut input = PlanInput::new(catalog, external(&[]));
    let rules = SkuRules::new(vec![SkuRule::suffix("-FBA", Some(Fulfilment::Channel))]);
    input.stores.push(StoreInput::new("amz", ChannelKind::Amazon).with_sku_rules(rules).with_listings(vec![
        Listing::new("1", "A-FBA", 4),
        Listing::new("2", "GHOST", 4).with_fulfilment(Fulfilment::Channel),
    ]));
    let plan = plan(input).unwrap();
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn in_place_changes_are_refused_clearly() {
    let catalog = Catalog::new(vec![Product::simple(sku("A")), bundle("AA", &[("A", 2)])]).unwrap();
    let mut input = PlanInput::new(catalog, external(&[("A", 1)]));
    input.stores.push(store("s", &[("1", "A", 0)]));
    let mut r = Reconciler::new(input).unwrap();
    assert_eq!(r.set_on_hand("AA", Some(1)), Err(UpdateError::NotSimple("AA".into())));
    assert!(matches!(r.add_pending("nope", "A", 1), Err(UpdateError::UnknownStore(_))));
    assert!(matches!(r.set_listing_quantity("s", "9", 1), Err(UpdateError::UnknownListing { .. })));
    assert_eq!(r.add_pending("s", "AA", 1).unwrap(), [sku("A")]);
    assert_eq!(r.set_listing_quantity("s", "1", 7).unwrap(), [sku("A")]);
    assert_eq!(r.stores()[0].listings[0].stock.quantity(), Some(7));
}

#[test]
fn typed_input_is_validated_with_snapshot_paths() {
    let catalog = Catalog::lenient(vec![]);
    let mut input = PlanInput::new(catalog.clone(), SourceOfTruth::Store("x".into()));
    input.stores.push(StoreInput::new("a", ChannelKind::Etsy));
    assert_eq!(
        Reconciler::new(input).unwrap_err().to_string(),
        "source_of_truth: \"x\" is neither \"external\" nor the id of a store"
    );
    let mut input = PlanInput::new(catalog, external(&[]));
    input.stores.push(StoreInput::new("a", ChannelKind::Etsy));
    input
        .stores
        .push(StoreInput::new("b", ChannelKind::Etsy).with_rules(StoreRules { percent: 101, ..StoreRules::default() }));
    assert_eq!(input.validate().unwrap_err().to_string(), "stores[1].rules.percent: 101 is out of range 0..=100");
}

#[test]
fn a_reconciler_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Reconciler>();
    assert_send_sync::<Catalog>();
    assert_send_sync::<Plan<'static>>();
}
