//! Stable smoke run of the `shopify_webhook` fuzz target (fuzz/, docs/fuzzing.md): the target's own
//! body, run over its seeds, the objects in `../shared/fixtures/shopify` (skipped with a message when
//! absent) and a few thousand mutants of them; no input may panic. More inputs:
//! `STOCKSYNC_FUZZ_ITERATIONS=200000 cargo test -p channel-shopify --test fuzz_smoke --release`.

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/smoke.rs"]
mod smoke;
#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/shopify.rs"]
mod target;

use std::path::Path;

#[test]
fn shopify_webhook_never_panics() {
    let mut seeds: Vec<Vec<u8>> = target::SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    seeds.extend(smoke::json_parts(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/shopify"), 40));
    let topics = u8::try_from(target::TOPICS.len()).unwrap();
    assert!(smoke::run("shopify_webhook", &seeds, topics, 5000, target::check) > 5000);
}
