//! Every worked example of the reconciliation contract gives exactly its plan, plus snapshot
//! validation and edge cases.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use channel_core::reconcile::{Plan, parse_snapshot, plan};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spec-examples")
}

/// `(store, listing, sku, from, to)` in order.
fn updates(plan: &serde_json::Value) -> Vec<(String, String, String, i64, i64)> {
    plan["updates"]
        .as_array()
        .expect("updates is an array")
        .iter()
        .map(|u| {
            (
                u["store"].as_str().unwrap().to_owned(),
                u["listing"].as_str().unwrap().to_owned(),
                u["sku"].as_str().unwrap().to_owned(),
                u["from"].as_i64().unwrap(),
                u["to"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The set of `(kind, sku)`.
fn diagnostics(plan: &serde_json::Value) -> BTreeSet<(String, String)> {
    plan["diagnostics"]
        .as_array()
        .expect("diagnostics is an array")
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_owned(), d["sku"].as_str().unwrap().to_owned()))
        .collect()
}

fn run(input: &Path) -> serde_json::Value {
    let bytes = std::fs::read(input).unwrap();
    let snapshot = parse_snapshot(&bytes).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let plan: Plan<'_> = plan(snapshot).unwrap();
    serde_json::from_str(&plan.to_json_pretty()).unwrap()
}

fn example_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            (name.ends_with(".json") && !name.ends_with(".plan.json"))
                .then(|| name.trim_end_matches(".json").to_owned())
        })
        .collect();
    names.sort();
    names
}

fn check_dir(dir: &Path) -> usize {
    let names = example_names(dir);
    for name in &names {
        let got = run(&dir.join(format!("{name}.json")));
        let want: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.plan.json"))).unwrap()).unwrap();
        assert_eq!(updates(&got), updates(&want), "{name}: updates");
        assert_eq!(diagnostics(&got), diagnostics(&want), "{name}: diagnostics");
    }
    names.len()
}

#[test]
fn every_copied_example_gives_its_plan() {
    let count = check_dir(&examples_dir());
    assert!(count >= 12, "expected the 12 worked examples, found {count}");
}

#[test]
fn the_shared_examples_match_too_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/examples");
    if !shared.is_dir() {
        println!("skipped: {} not found", shared.display());
        return;
    }
    assert!(check_dir(&shared) >= 1);
}

#[test]
fn plan_json_has_the_contract_shape() {
    let got = run(&examples_dir().join("bundle-three-pack.json"));
    let first = &got["updates"][0];
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5);
    for key in ["store", "listing", "sku", "from", "to"] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    let near = &got["diagnostics"][0];
    assert_eq!(near["kind"], "near_miss");
    assert_eq!(near["sku"], "ts-001 ");
    assert_eq!(near["store"], "shopify-main");
    assert_eq!(near["listing"], "3");
    assert_eq!(near["suggestion"], "TS-001");
    assert!(near["message"].as_str().unwrap().contains("TS-001"));
}

fn error_of(json: &str) -> String {
    parse_snapshot(json.as_bytes()).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn bad_snapshots_name_the_field() {
    let cases = [
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","rules":{"percent":140}}]}"#,
            "stores[0].rules.percent: 140 is out of range 0..=100",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","rules":{"buffer":-1}}]}"#,
            "stores[0].rules.buffer: -1 is out of range",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","rules":{"max":-3}}]}"#,
            "stores[0].rules.max: -3",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","rules":{"zero_below":-1}}]}"#,
            "stores[0].rules.zero_below",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopfy"}]}"#,
            "stores[0].channel: unknown variant `shopfy`",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","sync":"weekly"}]}"#,
            "stores[0].sync: unknown variant `weekly`",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","colour":1}]}"#,
            "stores[0].colour: unknown field `colour`",
        ),
        (r#"{"source_of_truth":"external","extra":true}"#, "extra: unknown field `extra`"),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","listings":[{"id":"1","sku":"X","quantity":"7"}]}]}"#,
            "stores[0].listings[0].quantity: invalid type: string \"7\"",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","listings":[{"id":1,"sku":"X","quantity":7}]}]}"#,
            "stores[0].listings[0].id: invalid type: integer `1`",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","listings":[{"id":"1","sku":"X","quantity":7,"fulfilment":"fba"}]}]}"#,
            "stores[0].listings[0].fulfilment: unknown variant `fba`",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","sku_rules":[{"suffix":"-A","prefix":"B"}]}]}"#,
            "stores[0].sku_rules[0]: a SKU rule has both",
        ),
        (
            r#"{"source_of_truth":"nowhere","stores":[{"id":"a","channel":"shopify"}]}"#,
            "source_of_truth: \"nowhere\" is neither \"external\" nor the id of a store",
        ),
        (
            r#"{"source_of_truth":"a","stock":{"X":1},"stores":[{"id":"a","channel":"shopify"}]}"#,
            "stock: given, but source_of_truth is the store \"a\"",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify"},{"id":"a","channel":"etsy"}]}"#,
            "stores[1].id: \"a\" is already the id of stores[0]",
        ),
        (
            r#"{"source_of_truth":"external","products":[{"sku":"OK"},{"sku":" BAD"}]}"#,
            "products[1].sku: SKU \" BAD\" has leading or trailing whitespace",
        ),
        (r#"{"source_of_truth":"external","products":[{"sku":""}]}"#, "products[0].sku: SKU is empty"),
        (
            r#"{"source_of_truth":"external","products":[{"sku":"K","components":[{"sku":"A\u0007","quantity":1}]}]}"#,
            "products[0].components[0].sku: SKU",
        ),
        (
            r#"{"source_of_truth":"external","products":[{"sku":"K","components":[{"sku":"A","quantity":1.5}]}]}"#,
            "products[0].components[0].quantity: invalid type: floating point",
        ),
        (r#"{"source_of_truth":"external","stock":{"A":"x"}}"#, "stock.A: invalid type: string \"x\""),
        (
            r#"{"source_of_truth":"external","stock":{" A":1}}"#,
            "stock.\" A\": SKU \" A\" has leading or trailing whitespace",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify"}],"pending":[{"store":"b","sku":"X","quantity":1}]}"#,
            "pending[0].store: \"b\" is not the id of a store",
        ),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify"}],"pending":[{"store":"a","sku":"X","quantity":-1}]}"#,
            "pending[0].quantity: -1 is out of range",
        ),
        (r#"{"stores":[]}"#, "missing field `source_of_truth`"),
        (
            r#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","listings":[{"id":"1","quantity":7}]}]}"#,
            "stores[0].listings[0]: missing field `sku`",
        ),
        (r#"{"source_of_truth":"external","#, "not valid JSON"),
        (r#"[1,2]"#, "the snapshot must be a JSON object"),
        ("  ", "the snapshot is empty"),
    ];
    for (json, want) in cases {
        let got = error_of(json);
        assert!(got.starts_with(want), "for {json}\n got: {got}\nwant: {want}…");
        assert!(!got.contains('\n'), "one line: {got}");
    }
}

#[test]
fn optional_fields_take_their_defaults() {
    let input = parse_snapshot(
        br#"{"source_of_truth":"external","stock":{"A":5},"products":[{"sku":"A"}],
             "stores":[{"id":"s","channel":"veeqo","rules":{"max":null},"listings":[{"id":"1","sku":"A","quantity":0}]}]}"#,
    )
    .unwrap();
    let store = &input.stores[0];
    assert_eq!(store.rules, channel_core::StoreRules::default());
    assert_eq!(store.sync, channel_core::SyncMode::Live);
    let plan = plan(input).unwrap();
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(plan.updates[0].to, 5);
}

#[test]
fn snapshot_json_round_trips() {
    let dir = examples_dir();
    for name in example_names(&dir) {
        let input = parse_snapshot(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
        let before = plan(input.clone()).unwrap();
        let json = channel_core::reconcile::snapshot_to_json(&input);
        let again = parse_snapshot(json.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}\n{json}"));
        let after = plan(again).unwrap();
        // Duplicate products are written once, so only their diagnostics may differ.
        assert_eq!(before.updates, after.updates, "{name}");
    }
}
