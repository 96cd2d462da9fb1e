//! `stocksync demo` runs end to end against the emulators and exits 0 only when everything converged.

use std::process::Command;

#[test]
fn the_demo_converges_and_prints_every_sku() {
    let out = Command::new(env!("CARGO_BIN_EXE_stocksync")).args(["demo", "--orders", "40"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("full sync:"), "{stdout}");
    for sku in ["MUG-RED", "MUG-BLUE", "TEE-S", "TEE-M", "CAP", "MUG-PAIR"] {
        let row = stdout.lines().find(|l| l.starts_with(sku)).unwrap_or_else(|| panic!("no row for {sku}: {stdout}"));
        assert!(row.ends_with("ok"), "{row}");
    }
    let header = stdout.lines().find(|l| l.starts_with("SKU")).unwrap_or_default();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["SKU", "expected", "takealot", "woocommerce", "shopify", "amazon", "ebay", "magento"],
        "a column per channel: {stdout}"
    );
    // The bundle is listed on every follower: each shows it at the expected quantity.
    let pair: Vec<&str> =
        stdout.lines().find(|l| l.starts_with("MUG-PAIR")).unwrap_or_default().split_whitespace().collect();
    assert_eq!(pair.len(), columns.len() + 1, "{pair:?}");
    let expected: i64 = pair[1].parse().expect("expected quantity");
    for (column, shown) in columns[3..].iter().zip(&pair[3..]) {
        assert_eq!(shown.parse::<i64>().ok(), Some(expected), "MUG-PAIR on {column}: {pair:?}");
    }
    let cap = stdout.lines().find(|l| l.starts_with("CAP")).unwrap_or_default();
    assert!(cap.contains(" fba "), "CAP is an FBA listing on Amazon: {cap}");
    assert!(stdout.contains("at Amazon FBA:") && stdout.contains("channel-held"), "{stdout}");
    let missing = stdout.lines().find(|l| l.contains("not in this demo yet:")).unwrap_or_default();
    for platform in ["Amazon", "eBay", "Magento"] {
        assert!(!missing.contains(platform), "{platform} is in the demo: {missing}");
    }
    assert!(stdout.contains("converged in"), "{stdout}");
    assert!(!stdout.contains("NOT converged"), "{stdout}");
}
