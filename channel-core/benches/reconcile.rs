//! The reconciliation benchmark of issue #3.
//!
//! `cargo bench -p channel-core --bench reconcile` generates
//! [`SyntheticSpec::ISSUE_3`] (200,000 simple SKUs, 20,000 bundles of 2–4 components with a tenth
//! nested, 5 stores each listing all 220,000 SKUs = 1.1 M listings, 10,000 pending sales) and reports:
//!
//! - (a) `full_plan`: [`Reconciler::new`] on the typed input plus [`Reconciler::plan`] (interning,
//!   classifying every listing, availability, every update and diagnostic);
//! - (b) `baseline_lookup`: only looking each listing's SKU up in a `HashMap` of on-hand quantities;
//! - (c) `replan_hot_sku`: [`Reconciler::replan_sku`] of the simple SKU that 50 bundles contain, on a
//!   prepared reconciler; and `order_then_replan`: recording a pending sale of it and re-planning.
//!
//! After criterion's report it prints a summary with medians of its own, the (a)/(b) ratio and the
//! process's peak resident memory.
//!
//! Environment switches (criterion's own arguments still work):
//! - `RECONCILE_WRITE_SNAPSHOT=PATH`: write the generated snapshot as JSON (about 80 MB) to PATH and
//!   exit, for timing `stocksync plan` on it.
//! - `RECONCILE_ONCE=1`: generate, plan once, print the timings and peak memory, exit (for
//!   `/usr/bin/time -v`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use channel_core::reconcile::{PlanInput, Reconciler, SourceOfTruth, SyntheticSpec, snapshot_to_json, synthetic_input};
use criterion::{BatchSize, Criterion};

/// (a): prepare and plan; returns the reconciler (dropped outside the timing) and the update count.
fn full_plan(input: PlanInput) -> (Reconciler, usize) {
    let reconciler = Reconciler::new(input).expect("the synthetic input is valid");
    let updates = black_box(reconciler.plan()).updates.len();
    (reconciler, updates)
}

/// The baseline: each listing's SKU looked up in a map of on-hand quantities.
fn baseline(input: &PlanInput, on_hand: &hashbrown::HashMap<&str, i64>) -> i64 {
    let mut sum = 0i64;
    for store in &input.stores {
        for listing in &store.listings {
            if let Some(q) = on_hand.get(listing.channel_sku.as_str()) {
                sum = sum.wrapping_add(*q);
            }
        }
    }
    sum
}

fn on_hand_map(input: &PlanInput) -> hashbrown::HashMap<&str, i64> {
    match &input.source {
        SourceOfTruth::External(stock) => stock.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
        SourceOfTruth::Store(_) => hashbrown::HashMap::new(),
    }
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l["VmHWM:".len()..].trim().to_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn summary(input: &PlanInput, spec: &SyntheticSpec, rounds: usize) {
    let hot = spec.hot_sku();
    let map = on_hand_map(input);
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut updates = 0;
    for _ in 0..rounds {
        let copy = input.clone();
        let t = Instant::now();
        let out = full_plan(copy);
        a.push(t.elapsed());
        updates = out.1;
        drop(out);
        let t = Instant::now();
        black_box(baseline(input, &map));
        b.push(t.elapsed());
    }
    let mut reconciler = Reconciler::new(input.clone()).expect("valid");
    let bundles = reconciler.catalog().bundles_containing(reconciler.catalog().get(hot.as_str()).expect("hot")).len();
    black_box(reconciler.replan_sku(hot.as_str()));
    let c: Vec<Duration> = (0..1000)
        .map(|_| {
            let t = Instant::now();
            black_box(reconciler.replan_sku(hot.as_str()));
            t.elapsed()
        })
        .collect();
    let store = reconciler.stores()[1].id.as_str().to_owned();
    let d: Vec<Duration> = (0..1000)
        .map(|_| {
            let t = Instant::now();
            let touched = reconciler.add_pending(&store, hot.as_str(), 1).expect("known store");
            black_box(reconciler.replan_skus(touched.iter().map(|s| s.as_str())));
            t.elapsed()
        })
        .collect();
    let (ma, mb, mc, md) = (median(a), median(b), median(c), median(d));
    let listings: usize = input.stores.iter().map(|s| s.listings.len()).sum();
    println!(
        "reconcile figures ({listings} listings, {} products, {updates} updates in the plan):",
        input.catalog.len()
    );
    println!("  (a) full plan, median of {rounds}:            {:>10.1} ms", ma.as_secs_f64() * 1e3);
    println!("  (b) baseline HashMap lookup, median:     {:>10.1} ms", mb.as_secs_f64() * 1e3);
    println!("      ratio (a)/(b):                       {:>10.2}", ma.as_secs_f64() / mb.as_secs_f64());
    println!("  (c) re-plan of {hot} ({bundles} bundles), median: {:>7.1} µs", mc.as_secs_f64() * 1e6);
    println!("      add pending + re-plan, median:       {:>10.1} µs", md.as_secs_f64() * 1e6);
    println!("  peak resident memory (VmHWM):            {:>10}", peak_rss());
}

fn main() {
    let spec = SyntheticSpec::ISSUE_3;
    if let Ok(path) = std::env::var("RECONCILE_WRITE_SNAPSHOT") {
        let input = synthetic_input(&spec);
        let json = snapshot_to_json(&input);
        std::fs::write(&path, &json).expect("write the snapshot");
        println!("wrote {path}: {} bytes", json.len());
        return;
    }
    let t = Instant::now();
    let input = synthetic_input(&spec);
    println!("generated the snapshot in {:.2} s", t.elapsed().as_secs_f64());
    if std::env::var_os("RECONCILE_ONCE").is_some() {
        let map = on_hand_map(&input);
        let t = Instant::now();
        black_box(baseline(&input, &map));
        let base = t.elapsed();
        drop(map);
        let t = Instant::now();
        let reconciler = Reconciler::new(input).expect("valid");
        let prepared = t.elapsed();
        let plan = reconciler.plan();
        let planned = t.elapsed();
        drop(plan);
        let total = t.elapsed();
        println!(
            "one full plan: {:.1} ms (prepare {:.1} ms, plan {:.1} ms, dropping it {:.1} ms); baseline {:.1} ms",
            total.as_secs_f64() * 1e3,
            prepared.as_secs_f64() * 1e3,
            (planned - prepared).as_secs_f64() * 1e3,
            (total - planned).as_secs_f64() * 1e3,
            base.as_secs_f64() * 1e3
        );
        black_box(reconciler);
        println!("peak resident memory (VmHWM): {}", peak_rss());
        return;
    }

    let mut c = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(8)).configure_from_args();
    let mut group = c.benchmark_group("reconcile");
    group.bench_function("full_plan", |b| {
        b.iter_batched(|| input.clone(), full_plan, BatchSize::PerIteration);
    });
    let map = on_hand_map(&input);
    group.bench_function("baseline_lookup", |b| b.iter(|| baseline(&input, &map)));
    let mut reconciler = Reconciler::new(input.clone()).expect("valid");
    let hot = spec.hot_sku();
    black_box(reconciler.replan_sku(hot.as_str()));
    group.bench_function("replan_hot_sku", |b| b.iter(|| reconciler.replan_sku(hot.as_str())));
    let store = reconciler.stores()[1].id.as_str().to_owned();
    group.bench_function("order_then_replan", |b| {
        b.iter(|| {
            let touched = reconciler.add_pending(&store, hot.as_str(), 1).expect("known store");
            reconciler.replan_skus(touched.iter().map(|s| s.as_str())).updates.len()
        })
    });
    group.finish();
    drop(reconciler);
    c.final_summary();
    summary(&input, &spec, 7);
}
