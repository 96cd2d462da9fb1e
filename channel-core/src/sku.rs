//! SKUs: the canonical [`Sku`] that links listings, the raw SKU a channel reports, and per-store
//! [`SkuRules`] that map one to the other.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest SKU accepted, in bytes (Takealot's limit, the strictest of the platforms).
pub const MAX_SKU_BYTES: usize = 255;

/// Why a string is not a valid canonical SKU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkuError {
    /// The SKU is empty.
    #[error("SKU is empty")]
    Empty,
    /// The SKU starts or ends with whitespace.
    #[error("SKU {0:?} has leading or trailing whitespace")]
    SurroundingWhitespace(String),
    /// The SKU contains a control character.
    #[error("SKU {0:?} contains a control character")]
    ControlCharacter(String),
    /// The SKU is longer than [`MAX_SKU_BYTES`].
    #[error("SKU is {0} bytes long; at most {MAX_SKU_BYTES} are allowed")]
    TooLong(usize),
}

/// A validated canonical SKU: non-empty, no surrounding whitespace, no control characters, at most
/// [`MAX_SKU_BYTES`] bytes. Equality is exact and case-sensitive (`TS-001` ≠ `ts-001`).
///
/// Cloning is cheap (a reference count).
///
/// ```
/// use channel_core::Sku;
/// let sku = Sku::new("TS-001").unwrap();
/// assert_eq!(sku.as_str(), "TS-001");
/// assert!(Sku::new(" TS-001").is_err());
/// assert_ne!(sku, Sku::new("ts-001").unwrap());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Sku(Arc<str>);

impl Sku {
    /// Validate `raw` as a canonical SKU.
    pub fn new(raw: &str) -> Result<Self, SkuError> {
        Self::validate(raw)?;
        Ok(Self(Arc::from(raw)))
    }

    /// Check `raw` without allocating.
    pub fn validate(raw: &str) -> Result<(), SkuError> {
        if raw.is_empty() {
            return Err(SkuError::Empty);
        }
        if raw.len() > MAX_SKU_BYTES {
            return Err(SkuError::TooLong(raw.len()));
        }
        if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
            return Err(SkuError::SurroundingWhitespace(raw.to_owned()));
        }
        if raw.chars().any(char::is_control) {
            return Err(SkuError::ControlCharacter(raw.to_owned()));
        }
        Ok(())
    }

    /// The SKU as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The loose form used to spot near-misses: all whitespace removed, upper-cased.
    pub fn loose_form(raw: &str) -> String {
        raw.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_uppercase).collect()
    }
}

impl fmt::Debug for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Sku {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sku {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Sku {
    type Err = SkuError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Sku {
    type Error = SkuError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for Sku {
    type Error = SkuError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::validate(&s)?;
        Ok(Self(Arc::from(s)))
    }
}

impl<'de> Deserialize<'de> for Sku {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Sku::try_from(raw).map_err(serde::de::Error::custom)
    }
}

/// Who holds and ships the stock behind a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    /// The seller holds the stock: stocksync writes these quantities.
    #[default]
    Merchant,
    /// The channel holds the stock (Amazon FBA, Takealot DCs): read-only, never written.
    Channel,
}

/// Where a [`SkuRule`] matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkuAffix {
    /// Matches and strips a suffix such as `-FBA`.
    Suffix(String),
    /// Matches and strips a prefix such as `AMZ-`.
    Prefix(String),
}

/// One per-store rule: strip an affix from the channel SKU and optionally set the fulfilment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuRule {
    /// What to match (case-sensitive).
    pub affix: SkuAffix,
    /// The fulfilment a matching listing gets; `None` leaves the listing's own.
    pub fulfilment: Option<Fulfilment>,
}

impl SkuRule {
    /// A suffix rule.
    pub fn suffix(suffix: impl Into<String>, fulfilment: Option<Fulfilment>) -> Self {
        Self { affix: SkuAffix::Suffix(suffix.into()), fulfilment }
    }

    /// A prefix rule.
    pub fn prefix(prefix: impl Into<String>, fulfilment: Option<Fulfilment>) -> Self {
        Self { affix: SkuAffix::Prefix(prefix.into()), fulfilment }
    }

    /// Strip this rule's affix from `channel_sku`, if it matches and leaves a non-empty rest.
    pub fn strip<'a>(&self, channel_sku: &'a str) -> Option<&'a str> {
        let rest = match &self.affix {
            SkuAffix::Suffix(s) if !s.is_empty() => channel_sku.strip_suffix(s.as_str()),
            SkuAffix::Prefix(p) if !p.is_empty() => channel_sku.strip_prefix(p.as_str()),
            _ => None,
        }?;
        (!rest.is_empty()).then_some(rest)
    }
}

/// Serialized as `{"suffix": "-FBA", "fulfilment": "channel"}` or `{"prefix": …}`, as in the snapshot.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuRuleRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fulfilment: Option<Fulfilment>,
}

impl Serialize for SkuRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (suffix, prefix) = match &self.affix {
            SkuAffix::Suffix(s) => (Some(s.clone()), None),
            SkuAffix::Prefix(p) => (None, Some(p.clone())),
        };
        SkuRuleRepr { suffix, prefix, fulfilment: self.fulfilment }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SkuRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = SkuRuleRepr::deserialize(deserializer)?;
        let affix = match (repr.suffix, repr.prefix) {
            (Some(s), None) if !s.is_empty() => SkuAffix::Suffix(s),
            (None, Some(p)) if !p.is_empty() => SkuAffix::Prefix(p),
            (Some(_), Some(_)) => {
                return Err(serde::de::Error::custom("a SKU rule has both `suffix` and `prefix`; give exactly one"));
            }
            (None, None) => return Err(serde::de::Error::custom("a SKU rule needs `suffix` or `prefix`")),
            _ => return Err(serde::de::Error::custom("a SKU rule's `suffix`/`prefix` must not be empty")),
        };
        Ok(Self { affix, fulfilment: repr.fulfilment })
    }
}

/// What [`SkuRules::apply`] makes of a channel SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedSku<'a> {
    /// The canonical form (not yet validated or matched against the catalog).
    pub canonical: &'a str,
    /// The fulfilment after the rule (or the listing's own when no rule set one).
    pub fulfilment: Fulfilment,
    /// Index of the rule that matched, if any.
    pub rule: Option<usize>,
}

/// A store's ordered SKU rules. The first rule that matches wins.
///
/// ```
/// use channel_core::{Fulfilment, SkuRule, SkuRules};
/// let rules = SkuRules::new(vec![
///     SkuRule::suffix("-FBA", Some(Fulfilment::Channel)),
///     SkuRule::suffix("-FBM", Some(Fulfilment::Merchant)),
/// ]);
/// let m = rules.apply("MUG-RED-FBA", Fulfilment::Merchant);
/// assert_eq!((m.canonical, m.fulfilment), ("MUG-RED", Fulfilment::Channel));
/// assert_eq!(rules.apply("-FBA", Fulfilment::Merchant).canonical, "-FBA");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SkuRules(Vec<SkuRule>);

impl SkuRules {
    /// Rules in priority order.
    pub fn new(rules: Vec<SkuRule>) -> Self {
        Self(rules)
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[SkuRule] {
        &self.0
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Map a channel SKU to its canonical form and fulfilment.
    pub fn apply<'a>(&self, channel_sku: &'a str, fulfilment: Fulfilment) -> MappedSku<'a> {
        for (i, rule) in self.0.iter().enumerate() {
            if let Some(rest) = rule.strip(channel_sku) {
                return MappedSku { canonical: rest, fulfilment: rule.fulfilment.unwrap_or(fulfilment), rule: Some(i) };
            }
        }
        MappedSku { canonical: channel_sku, fulfilment, rule: None }
    }

    /// The channel SKU a canonical SKU has under the first rule with this fulfilment
    /// (for example `MUG-RED` + merchant → `MUG-RED-FBM`), or the canonical SKU itself.
    pub fn channel_sku_for(&self, canonical: &Sku, fulfilment: Fulfilment) -> String {
        match self.0.iter().find(|r| r.fulfilment == Some(fulfilment)) {
            Some(SkuRule { affix: SkuAffix::Suffix(s), .. }) => format!("{canonical}{s}"),
            Some(SkuRule { affix: SkuAffix::Prefix(p), .. }) => format!("{p}{canonical}"),
            None => canonical.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_bad_skus() {
        assert_eq!(Sku::new(""), Err(SkuError::Empty));
        assert!(matches!(Sku::new("A "), Err(SkuError::SurroundingWhitespace(_))));
        assert!(matches!(Sku::new("\tA"), Err(SkuError::SurroundingWhitespace(_))));
        assert!(matches!(Sku::new("A\u{0}B"), Err(SkuError::ControlCharacter(_))));
        assert_eq!(Sku::new(&"x".repeat(256)), Err(SkuError::TooLong(256)));
        assert!(Sku::new(&"x".repeat(255)).is_ok());
        assert!(Sku::new("A B").is_ok(), "inner spaces are allowed");
    }

    #[test]
    fn deserialize_validates() {
        assert!(serde_json::from_str::<Sku>("\"TS-001\"").is_ok());
        assert!(serde_json::from_str::<Sku>("\" TS-001\"").is_err());
    }

    #[test]
    fn rule_json_forms() {
        let rules: SkuRules =
            serde_json::from_str(r#"[{"suffix":"-FBA","fulfilment":"channel"},{"prefix":"AMZ-"}]"#).unwrap();
        assert_eq!(rules.rules()[0], SkuRule::suffix("-FBA", Some(Fulfilment::Channel)));
        assert_eq!(rules.rules()[1], SkuRule::prefix("AMZ-", None));
        assert!(serde_json::from_str::<SkuRules>(r#"[{"suffix":"-A","prefix":"B"}]"#).is_err());
        assert!(serde_json::from_str::<SkuRules>(r#"[{"suffix":""}]"#).is_err());
        assert!(serde_json::from_str::<SkuRules>(r#"[{}]"#).is_err());
        assert!(serde_json::from_str::<SkuRules>(r#"[{"suffix":"-A","extra":1}]"#).is_err());
    }

    #[test]
    fn first_matching_rule_wins_and_case_matters() {
        let rules = SkuRules::new(vec![
            SkuRule::suffix("-FBA", Some(Fulfilment::Channel)),
            SkuRule::suffix("A", None),
            SkuRule::prefix("AMZ-", Some(Fulfilment::Merchant)),
        ]);
        assert_eq!(rules.apply("X-FBA", Fulfilment::Merchant).rule, Some(0));
        let m = rules.apply("X-fba", Fulfilment::Merchant);
        assert_eq!((m.canonical, m.rule), ("X-fba", None), "matching is case-sensitive");
        let m = rules.apply("AMZ-X", Fulfilment::Channel);
        assert_eq!((m.canonical, m.fulfilment, m.rule), ("X", Fulfilment::Merchant, Some(2)));
        let m = rules.apply("AMZ-XA", Fulfilment::Channel);
        assert_eq!((m.canonical, m.rule), ("AMZ-X", Some(1)));
    }

    #[test]
    fn channel_sku_for_inverts_the_rule() {
        let rules = SkuRules::new(vec![
            SkuRule::suffix("-FBA", Some(Fulfilment::Channel)),
            SkuRule::suffix("-FBM", Some(Fulfilment::Merchant)),
        ]);
        let sku = Sku::new("MUG").unwrap();
        assert_eq!(rules.channel_sku_for(&sku, Fulfilment::Merchant), "MUG-FBM");
        assert_eq!(rules.channel_sku_for(&sku, Fulfilment::Channel), "MUG-FBA");
        assert_eq!(SkuRules::default().channel_sku_for(&sku, Fulfilment::Merchant), "MUG");
    }

    proptest! {
        #[test]
        fn suffix_rule_round_trips(base in "[A-Z0-9][A-Z0-9-]{0,20}", suffix in "-[A-Z]{1,4}") {
            let rules = SkuRules::new(vec![SkuRule::suffix(suffix.clone(), Some(Fulfilment::Channel))]);
            let channel = format!("{base}{suffix}");
            let m = rules.apply(&channel, Fulfilment::Merchant);
            prop_assert_eq!(m.canonical, base.as_str());
            prop_assert_eq!(m.fulfilment, Fulfilment::Channel);
            let sku = Sku::new(&base).unwrap();
            prop_assert_eq!(rules.channel_sku_for(&sku, Fulfilment::Channel), channel);
        }

        #[test]
        fn rules_never_produce_an_empty_sku(channel in ".{0,12}", affix in ".{1,4}") {
            let rules = SkuRules::new(vec![SkuRule::suffix(affix.clone(), None), SkuRule::prefix(affix, None)]);
            let m = rules.apply(&channel, Fulfilment::Merchant);
            prop_assert!(m.rule.is_none() || !m.canonical.is_empty());
        }

        #[test]
        fn valid_skus_survive_serde(raw in "[!-~]([ -~]{0,30}[!-~])?") {
            let sku = Sku::new(&raw).unwrap();
            let json = serde_json::to_string(&sku).unwrap();
            prop_assert_eq!(serde_json::from_str::<Sku>(&json).unwrap(), sku);
        }

        #[test]
        fn loose_form_ignores_case_and_spaces(raw in "[a-zA-Z0-9 -]{1,20}") {
            let spaced = format!(" {} ", raw.to_lowercase());
            prop_assert_eq!(Sku::loose_form(&spaced), Sku::loose_form(&raw.to_uppercase()));
        }
    }
}
