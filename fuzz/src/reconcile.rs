//! Target `reconcile_snapshot`: [`parse_snapshot`] (the input of `stocksync plan`) on arbitrary bytes;
//! a snapshot it accepts must survive [`snapshot_to_json`] and parse again, and planning it must not
//! panic (an `InputError` is fine).

use channel_core::reconcile::{Reconciler, parse_snapshot, snapshot_to_json};

/// A small valid snapshot (the crate's doc example).
pub const SEEDS: &[&str] = &[
    r#"{"products": [{"sku": "TS-001"}, {"sku": "TS-001-X3", "components": [{"sku": "TS-001", "quantity": 3}]}],
        "source_of_truth": "external", "stock": {"TS-001": 12},
        "stores": [{"id": "shopify-main", "channel": "shopify",
                    "listings": [{"id": "1", "sku": "TS-001", "quantity": 10}, {"id": "2", "sku": "TS-001-X3", "quantity": 0}]}],
        "pending": [{"store": "shopify-main", "sku": "TS-001-X3", "quantity": 1}]}"#,
];

/// The body of the fuzz target (no selector: every byte is the snapshot).
pub fn run(data: &[u8]) {
    check(0, data);
}

/// Parse, round-trip and plan one snapshot.
pub fn check(_selector: u8, body: &[u8]) {
    let Ok(input) = parse_snapshot(body) else { return };
    let json = snapshot_to_json(&input);
    if let Err(e) = parse_snapshot(json.as_bytes()) {
        panic!("an accepted snapshot does not parse again after snapshot_to_json: {e}\n{json}");
    }
    if let Ok(reconciler) = Reconciler::new(input) {
        let plan = reconciler.plan();
        drop(serde_json::to_string(&plan));
    }
}
