//! Stable smoke run of the `takealot_webhook` fuzz target (fuzz/, docs/fuzzing.md): the target's own
//! body, run over its seeds, the payloads in `../shared/fixtures/takealot` (skipped with a message when
//! absent) and a few thousand mutants of them; no input may panic. More inputs:
//! `STOCKSYNC_FUZZ_ITERATIONS=200000 cargo test -p channel-takealot --test fuzz_smoke --release`.

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/smoke.rs"]
mod smoke;
#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/takealot.rs"]
mod target;

use std::path::Path;

#[test]
fn takealot_webhook_never_panics() {
    let mut seeds: Vec<Vec<u8>> = target::SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    seeds.extend(smoke::json_parts(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/takealot"), 40));
    let topics = u8::try_from(target::TOPICS.len()).unwrap();
    assert!(smoke::run("takealot_webhook", &seeds, topics, 5000, target::check) > 5000);
}
