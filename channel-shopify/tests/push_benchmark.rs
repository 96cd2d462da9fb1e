//! The 10,000-SKU push figure (a documented measurement, not a timed assertion).
//!
//! ```sh
//! cargo test --release -p channel-shopify --test push_benchmark -- --ignored --nocapture
//! ```
//!
//! Against the emulator on the Standard plan's limits (bucket 2,000 points, restore 100 points/s), push
//! 10,000 absolute quantities and print the time taken next to the floor the restore rate allows:
//! `max(0, cost of the push − points available at the start) / restore rate`. Run twice: from a full
//! bucket and from an empty one (the state after a full listing).

use std::time::Instant;

use channel_core::Channel;
use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::SecretString;
use channel_core::{PlatformIds, StockUpdate};
use channel_shopify::{MAX_QUANTITIES, Shopify, ShopifyConfig};
use channel_testkit::SeedProduct;
use channel_testkit::shopify::{ShopifyConfig as EmulatorConfig, ShopifyEmulator, ShopifyPlan};

const SKUS: usize = 10_000;

async fn push(e: &ShopifyEmulator, t: &Shopify, updates: &[StockUpdate], drain: bool, label: &str) {
    let bucket = e.platform().cost_bucket();
    if drain {
        bucket.set_available(0.0);
    }
    let start_available = bucket.available();
    let restore = bucket.limit().refill_per_second;
    let calls_before = e.platform().graphql_calls().len();
    let started = Instant::now();
    let out = t.set_stock(updates).await.unwrap();
    let measured = started.elapsed().as_secs_f64();
    assert!(out.iter().all(|o| o.is_applied()));
    let calls = e.platform().graphql_calls();
    let pushed: Vec<_> = calls[calls_before..].iter().filter(|c| c.kind == "mutation").collect();
    let applied: Vec<_> = pushed.iter().filter(|c| !c.throttled).collect();
    #[expect(clippy::cast_precision_loss, reason = "costs are small")]
    let cost: f64 = applied.iter().map(|c| c.requested_cost as f64).sum();
    let floor = ((cost - start_available).max(0.0)) / restore;
    println!(
        "shopify push of {SKUS} SKUs, Standard plan ({label}): {} mutations ({} throttled answers), cost {cost} points, \
         {start_available:.0} available at the start, restore {restore}/s -> measured {measured:.3} s, floor {floor:.3} s, \
         floor + 10% = {:.3} s: {}",
        applied.len(),
        pushed.len() - applied.len(),
        floor * 1.1,
        if floor == 0.0 {
            "the push fits in the bucket: no wait is needed, the time is round trips"
        } else if measured <= floor * 1.1 {
            "within"
        } else {
            "OVER"
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints the 10,000-SKU push time against the restore-rate floor"]
async fn push_10000_skus_on_the_standard_plan() {
    let e = ShopifyEmulator::start(EmulatorConfig::for_plan(ShopifyPlan::Standard)).await.unwrap();
    let mut updates = Vec::with_capacity(SKUS);
    for i in 0..SKUS {
        let sku = format!("BENCH-{i:05}");
        e.seed_product(SeedProduct::new(sku.clone(), 1, Decimal::from(10))).unwrap();
        let ids = e.platform().ids(&sku).unwrap();
        let item = ids["inventory_item_id"].as_str().unwrap().to_owned();
        let mut platform_ids = PlatformIds::new();
        platform_ids.insert("inventory_item_id".into(), item.clone());
        updates.push(StockUpdate::new(item, sku, 5).with_ids(platform_ids).expecting(1));
    }
    let config = ShopifyConfig::new("sandbox-shop.myshopify.com", SecretString::from(e.access_token().to_owned()))
        .base_url(e.base_url());
    let t = Shopify::new(config).unwrap();
    t.test_connection().await.unwrap();
    assert_eq!(updates.len().div_ceil(MAX_QUANTITIES), 40);
    push(&e, &t, &updates, false, "full bucket").await;
    let again: Vec<_> = updates
        .iter()
        .map(|u| StockUpdate::new(u.listing.clone(), u.channel_sku.clone(), 6).with_ids(u.ids.clone()).expecting(5))
        .collect();
    push(&e, &t, &again, true, "empty bucket").await;
}
