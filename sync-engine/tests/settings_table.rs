//! docs/configuration.md's settings tables match the adapter factory: every setting a channel's table
//! names is one its adapter decodes (the example is accepted; a value of the wrong type is refused, which
//! an unknown, ignored name would not be), the **Required** ones are enough to build the adapter, and
//! each channel's credentials are the factory's.
#![cfg(all(feature = "takealot", feature = "shopify", feature = "woocommerce", feature = "amazon"))]

use std::collections::BTreeMap;
use std::path::Path;

use channel_core::{ChannelKind, StoreId};
use serde_json::{Map, Value, json};
use sync_engine::factory::credential_names;
use sync_engine::{AdapterFactory, ChannelFactory, ChannelSpec, Credentials};

/// One section of the page: its credentials (when it says) and its table's rows.
#[derive(Default, Debug)]
struct Section {
    credentials: Option<Vec<String>>,
    /// (setting, example as JSON, required)
    rows: Vec<(String, Value, bool)>,
}

/// A TOML value as written in the example column, as JSON.
fn example(text: &str) -> Value {
    let doc: toml::Table = toml::from_str(&format!("v = {text}")).unwrap_or_else(|e| panic!("{text}: {e}"));
    serde_json::to_value(&doc["v"]).unwrap()
}

fn code(cell: &str) -> Option<&str> {
    cell.trim().strip_prefix('`')?.strip_suffix('`')
}

/// The sections of docs/configuration.md under "## Settings, channel by channel", by heading.
fn sections() -> BTreeMap<String, Section> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let text = std::fs::read_to_string(path).expect("docs/configuration.md");
    let (_, settings) = text.split_once("## Settings, channel by channel").expect("the settings part");
    let mut out: BTreeMap<String, Section> = BTreeMap::new();
    let mut current = String::new();
    for line in settings.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            current = heading.to_owned();
            out.entry(current.clone()).or_default();
        } else if let Some(list) = line.strip_prefix("Credentials: ") {
            let names = list.split(". ").next().unwrap().split(", ").filter_map(code).map(str::to_owned).collect();
            out.get_mut(&current).unwrap().credentials = Some(names);
        } else if line.starts_with("| `") {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            let name = code(cells[0]).expect("setting in backticks").to_owned();
            let value = example(code(cells[1]).expect("example in backticks"));
            out.get_mut(&current).unwrap().rows.push((name, value, line.contains("**Required")));
        }
    }
    out
}

fn build(channel: ChannelKind, settings: &Map<String, Value>) -> Result<(), String> {
    let mut creds = Credentials::new();
    for name in credential_names(channel) {
        creds.insert(*name, "placeholder");
    }
    let store = StoreId::new("docs");
    let settings = Value::Object(settings.clone());
    AdapterFactory::new()
        .build(&ChannelSpec::new(&store, channel, &settings, &creds))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Whether this build carries the channel's adapter (the marketplaces are optional features).
fn compiled(channel: ChannelKind) -> bool {
    match channel {
        ChannelKind::Magento => cfg!(feature = "magento"),
        _ => true,
    }
}

#[test]
fn every_documented_setting_is_decoded_by_its_adapter() {
    let sections = sections();
    let transport = &sections.iter().find(|(h, _)| h.starts_with("Every channel")).expect("every channel").1.rows;
    let mut channels = 0;
    for (heading, section) in &sections {
        let Some(channel) = heading.split('`').nth(1).map(|c| c.parse::<ChannelKind>().unwrap()) else { continue };
        if !compiled(channel) {
            continue;
        }
        channels += 1;
        let documented = section.credentials.clone().unwrap_or_default();
        assert_eq!(documented, credential_names(channel), "{heading}: the credentials are the factory's");
        let required: Map<String, Value> =
            section.rows.iter().filter(|r| r.2).map(|(n, v, _)| (n.clone(), v.clone())).collect();
        build(channel, &required).unwrap_or_else(|e| panic!("{heading}: the required settings build: {e}"));
        // The transport settings, except the engine's own sku_rules (checked below), on every adapter.
        let all = section.rows.iter().chain(transport.iter().filter(|r| r.0 != "sku_rules"));
        for (name, value, _) in all {
            let mut with = required.clone();
            with.insert(name.clone(), value.clone());
            build(channel, &with).unwrap_or_else(|e| panic!("{heading}: {name} = {value} is accepted: {e}"));
            with.insert(name.clone(), json!({"not": ["a", "valid", "value"]}));
            assert!(build(channel, &with).is_err(), "{heading}: {name} is not a setting the adapter knows");
        }
    }
    let adapters = ChannelKind::ALL.iter().filter(|c| !credential_names(**c).is_empty()).count();
    assert_eq!(channels, adapters, "a section per adapter");
    let rules = &transport.iter().find(|r| r.0 == "sku_rules").expect("sku_rules documented").1;
    assert!(sync_engine::connections::sku_rules(&json!({ "sku_rules": rules })).is_ok());
    assert!(sync_engine::connections::sku_rules(&json!({"sku_rules": {"not": "rules"}})).is_err());
}
