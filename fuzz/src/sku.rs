//! Target `sku`: [`Sku`] validation and [`SkuRules`] parsing and mapping on arbitrary input. The body is
//! a JSON array of SKU rules, a newline, then a channel SKU; the selector picks the listing's
//! fulfilment. Invariants: a mapped canonical SKU is a part of the channel SKU, and a valid canonical
//! SKU mapped back through the rules and forward again gives itself when a rule with that fulfilment
//! exists.

use channel_core::{Fulfilment, Sku, SkuRules};

/// Seeds: rules, newline, channel SKU.
pub const SEEDS: &[&str] = &[
    "[{\"suffix\": \"-FBA\", \"fulfilment\": \"channel\"}, {\"suffix\": \"-FBM\", \"fulfilment\": \"merchant\"}]\nMUG-RED-FBA",
    "[{\"prefix\": \"AMZ-\"}]\nAMZ-TS-001",
    "[]\n TS-001 ",
];

/// The body of the fuzz target: selector byte, then rules, newline, SKU.
pub fn run(data: &[u8]) {
    if let Some((selector, body)) = data.split_first() {
        check(*selector, body);
    }
}

/// Validate and map one SKU.
pub fn check(selector: u8, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let (rules_text, channel_sku) = text.split_once('\n').unwrap_or(("[]", &text));
    let fulfilment = if selector & 1 == 0 { Fulfilment::Merchant } else { Fulfilment::Channel };
    let checked = Sku::new(channel_sku);
    if let Ok(sku) = &checked {
        assert_eq!(sku.as_str(), channel_sku);
    }
    drop(Sku::loose_form(channel_sku));
    let Ok(rules) = serde_json::from_str::<SkuRules>(rules_text) else { return };
    let mapped = rules.apply(channel_sku, fulfilment);
    assert!(channel_sku.contains(mapped.canonical), "the canonical SKU is part of the channel SKU");
    assert!(mapped.rule.is_none_or(|i| i < rules.rules().len()));
    if let Ok(canonical) = Sku::new(mapped.canonical) {
        let back = rules.channel_sku_for(&canonical, mapped.fulfilment);
        if mapped.rule.is_some_and(|i| rules.rules()[i].fulfilment == Some(mapped.fulfilment))
            && rules.rules().iter().position(|r| r.fulfilment == Some(mapped.fulfilment)) == mapped.rule
        {
            assert_eq!(back, channel_sku, "the first rule with this fulfilment maps back to the channel SKU");
        }
    }
    drop(serde_json::to_string(&rules));
}
