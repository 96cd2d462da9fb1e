//! Stable smoke runs of the `reconcile_snapshot` and `sku` fuzz targets (fuzz/, docs/fuzzing.md): each
//! target's own body, run over its seeds, the snapshots in `tests/data/spec-examples` and a few thousand
//! mutants of them; no input may panic. More inputs:
//! `STOCKSYNC_FUZZ_ITERATIONS=200000 cargo test -p channel-core --test fuzz_smoke --release`.

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/reconcile.rs"]
mod reconcile;
#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/sku.rs"]
mod sku;
#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/smoke.rs"]
mod smoke;

use std::path::Path;

#[test]
fn reconcile_snapshot_never_panics() {
    let mut seeds: Vec<Vec<u8>> = reconcile::SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spec-examples");
    let files = smoke::files(&examples, Some("json"));
    assert!(!files.is_empty(), "the crate's own spec examples are there");
    seeds.extend(files);
    assert!(smoke::run("reconcile_snapshot", &seeds, 1, 3000, reconcile::check) > 3000);
}

#[test]
fn sku_never_panics() {
    let seeds: Vec<Vec<u8>> = sku::SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    assert!(smoke::run("sku", &seeds, 2, 5000, sku::check) > 5000);
}
