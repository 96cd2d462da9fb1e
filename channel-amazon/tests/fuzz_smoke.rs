//! Stable smoke runs of the Amazon fuzz targets (fuzz/, docs/fuzzing.md): each target's own body, run
//! over its seeds, the objects in `../shared/fixtures/amazon` (skipped with a message when absent), the
//! crate's own test data and a few thousand mutants of them; no input may panic. More inputs:
//! `STOCKSYNC_FUZZ_ITERATIONS=200000 cargo test -p channel-amazon --test fuzz_smoke --release`.

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/smoke.rs"]
mod smoke;
#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/amazon.rs"]
mod target;

use std::io::Write as _;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/amazon")
}

fn builtin(seeds: &[&str]) -> Vec<Vec<u8>> {
    seeds.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn amazon_notification_never_panics() {
    let mut seeds = builtin(target::NOTIFICATION_SEEDS);
    seeds.extend(smoke::json_parts(&fixtures(), 30));
    assert!(smoke::run("amazon_notification", &seeds, 4, 5000, target::notification) > 5000);
}

#[test]
fn amazon_listings_report_never_panics() {
    let seeds = builtin(target::REPORT_SEEDS);
    assert!(smoke::run("amazon_listings_report", &seeds, 4, 5000, target::listings_report) > 5000);
}

#[test]
fn amazon_processing_report_never_panics() {
    let mut seeds = builtin(target::PROCESSING_REPORT_SEEDS);
    seeds.extend(smoke::json_parts(&fixtures(), 10));
    seeds.extend(smoke::json_parts(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../channel-testkit/tests/data/amazon"),
        10,
    ));
    assert!(smoke::run("amazon_processing_report", &seeds, 1, 5000, target::processing_report) > 5000);
}

#[test]
fn amazon_document_never_panics_and_stays_within_its_bound() {
    let gzip = |data: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    let mut seeds = builtin(target::REPORT_SEEDS);
    seeds.extend(target::REPORT_SEEDS.iter().map(|s| gzip(s.as_bytes())));
    seeds.push([gzip(b"first\n"), gzip(b"second\n")].concat());
    // Decodes to twice the target's bound: must be refused, not returned.
    seeds.push(gzip(&vec![b'x'; usize::try_from(target::DOCUMENT_LIMIT).unwrap() * 2]));
    assert!(smoke::run("amazon_document", &seeds, 4, 3000, target::document) > 3000);
}
