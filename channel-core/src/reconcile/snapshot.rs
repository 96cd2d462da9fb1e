//! The snapshot JSON of `stocksync plan`: parsing with field paths in errors, and writing.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::{InputError, PendingSale, PlanInput, SourceOfTruth, StoreInput, StoreRules, SyncMode};
use crate::catalog::{Catalog, Component, Product};
use crate::{ChannelKind, Fulfilment, Listing, ListingId, ListingStatus, Sku, SkuRules, Stock, StoreId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    #[serde(default)]
    products: Vec<RawProduct>,
    source_of_truth: String,
    #[serde(default)]
    stock: Option<RawStock>,
    #[serde(default)]
    stores: Vec<RawStore>,
    #[serde(default)]
    pending: Vec<RawPending>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    sku: String,
    #[serde(default)]
    components: Vec<RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    sku: String,
    quantity: i64,
}

/// The `stock` object, in document order.
struct RawStock(Vec<(String, i64)>);

impl<'de> Deserialize<'de> for RawStock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StockVisitor;
        impl<'de> Visitor<'de> for StockVisitor {
            type Value = RawStock;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of SKU to integer on-hand quantity")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawStock, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, i64>()? {
                    entries.push((k, v));
                }
                Ok(RawStock(entries))
            }
        }
        deserializer.deserialize_map(StockVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    id: String,
    channel: ChannelKind,
    #[serde(default)]
    sync: SyncMode,
    #[serde(default)]
    rules: RawRules,
    #[serde(default)]
    sku_rules: SkuRules,
    #[serde(default)]
    listings: Vec<SnapshotListing>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    percent: Option<i64>,
    #[serde(default)]
    buffer: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
    #[serde(default)]
    zero_below: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListing {
    id: String,
    sku: String,
    quantity: i64,
    #[serde(default)]
    fulfilment: Fulfilment,
}

/// A listing deserialized straight into the domain type (no second copy of 1M listings).
struct SnapshotListing(Listing);

impl<'de> Deserialize<'de> for SnapshotListing {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawListing::deserialize(deserializer)?;
        Ok(SnapshotListing(Listing {
            id: ListingId::from(raw.id),
            ids: BTreeMap::new(),
            channel_sku: raw.sku,
            sku: None,
            stock: Stock::Tracked { quantity: raw.quantity },
            price: None,
            fulfilment: raw.fulfilment,
            status: ListingStatus::Active,
        }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPending {
    store: String,
    sku: String,
    quantity: i64,
}

/// Parse a snapshot (the input JSON of `stocksync plan`, see `shared/spec/reconcile.md`) into a
/// validated [`PlanInput`], with a lenient [`Catalog`].
///
/// Unknown fields, wrong types, out-of-range values, invalid product SKUs, repeated store ids, a
/// `source_of_truth` naming no store, `stock` given with a store as source and pending sales of
/// unknown stores are refused with an [`InputError`] naming the field:
///
/// ```
/// use channel_core::reconcile::parse_snapshot;
/// let err = parse_snapshot(br#"{"source_of_truth": "external",
///   "stores": [{"id": "a", "channel": "shopify"}, {"id": "b", "channel": "etsy", "rules": {"percent": 140}}]}"#)
///     .unwrap_err();
/// assert_eq!(err.to_string(), "stores[1].rules.percent: 140 is out of range 0..=100");
/// ```
pub fn parse_snapshot(json: &[u8]) -> Result<PlanInput, InputError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(InputError::new("", "the snapshot is empty")),
        Some(_) => return Err(InputError::new("", "the snapshot must be a JSON object")),
    }
    let raw: RawSnapshot = match serde_json::from_slice(json) {
        Ok(raw) => raw,
        Err(e) if e.is_data() => {
            // Parse again, slowly, to learn where the bad value is.
            let mut de = serde_json::Deserializer::from_slice(json);
            return Err(match serde_path_to_error::deserialize::<_, RawSnapshot>(&mut de) {
                Err(pe) => {
                    let path = pe.path().to_string();
                    let path = if path == "." { String::new() } else { path };
                    InputError::new(path, pe.into_inner().to_string())
                }
                Ok(_) => InputError::new("", e.to_string()),
            });
        }
        Err(e) => return Err(InputError::new("", format!("not valid JSON: {e}"))),
    };
    convert(raw)
}

fn sku_at(path: impl FnOnce() -> String, raw: String) -> Result<Sku, InputError> {
    Sku::try_from(raw).map_err(|e| InputError::new(path(), e.to_string()))
}

fn non_negative(path: impl FnOnce() -> String, value: i64) -> Result<u64, InputError> {
    u64::try_from(value).map_err(|_| InputError::new(path(), format!("{value} is out of range (must be 0 or more)")))
}

fn convert(raw: RawSnapshot) -> Result<PlanInput, InputError> {
    let mut products = Vec::with_capacity(raw.products.len());
    for (i, p) in raw.products.into_iter().enumerate() {
        let sku = sku_at(|| format!("products[{i}].sku"), p.sku)?;
        let mut components = Vec::with_capacity(p.components.len());
        for (j, c) in p.components.into_iter().enumerate() {
            let csku = sku_at(|| format!("products[{i}].components[{j}].sku"), c.sku)?;
            components.push(Component::new(csku, c.quantity));
        }
        products.push(Product { sku, components });
    }

    let source = if raw.source_of_truth == "external" {
        let mut stock = Vec::new();
        for (k, v) in raw.stock.map(|s| s.0).unwrap_or_default() {
            let sku = Sku::try_from(k.as_str()).map_err(|e| InputError::new(format!("stock.{k:?}"), e.to_string()))?;
            stock.push((sku, v));
        }
        SourceOfTruth::External(stock)
    } else {
        if raw.stock.is_some() {
            return Err(InputError::new(
                "stock",
                format!(
                    "given, but source_of_truth is the store {:?}, whose listings hold on hand; remove `stock` or set source_of_truth to \"external\"",
                    raw.source_of_truth
                ),
            ));
        }
        SourceOfTruth::Store(StoreId::from(raw.source_of_truth))
    };

    let mut stores = Vec::with_capacity(raw.stores.len());
    for (i, s) in raw.stores.into_iter().enumerate() {
        let path = |field: &str| format!("stores[{i}].rules.{field}");
        let percent = s.rules.percent.unwrap_or(100);
        let percent = u8::try_from(percent)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| InputError::new(path("percent"), format!("{percent} is out of range 0..=100")))?;
        let rules = StoreRules {
            percent,
            buffer: non_negative(|| path("buffer"), s.rules.buffer.unwrap_or(0))?,
            max: s.rules.max.map(|m| non_negative(|| path("max"), m)).transpose()?,
            zero_below: non_negative(|| path("zero_below"), s.rules.zero_below.unwrap_or(0))?,
        };
        // Same size and alignment: collected in place.
        let listings = s.listings.into_iter().map(|l| l.0).collect();
        stores.push(StoreInput {
            id: StoreId::from(s.id),
            channel: s.channel,
            sync: s.sync,
            rules,
            sku_rules: s.sku_rules,
            listings,
        });
    }

    let mut pending = Vec::with_capacity(raw.pending.len());
    for (i, p) in raw.pending.into_iter().enumerate() {
        let quantity = non_negative(|| format!("pending[{i}].quantity"), p.quantity)?;
        pending.push(PendingSale { store: StoreId::from(p.store), sku: p.sku, quantity });
    }

    let input = PlanInput { catalog: Catalog::lenient(products), source, stores, pending };
    input.validate()?;
    Ok(input)
}

/// Write `input` as snapshot JSON (compact), the inverse of [`parse_snapshot`]. The catalog is
/// written as [`Catalog::products`] (first definitions only); listings whose stock is not tracked
/// are left out (the snapshot has no way to say so).
pub fn snapshot_to_json(input: &PlanInput) -> String {
    // Serializing these borrowed views into a String cannot fail.
    serde_json::to_string(&SnapshotView(input)).unwrap_or_default()
}

struct SnapshotView<'a>(&'a PlanInput);

impl Serialize for SnapshotView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let input = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("products", input.catalog.products())?;
        match &input.source {
            SourceOfTruth::External(stock) => {
                map.serialize_entry("source_of_truth", "external")?;
                map.serialize_entry("stock", &StockView(stock))?;
            }
            SourceOfTruth::Store(id) => map.serialize_entry("source_of_truth", id)?,
        }
        let stores: Vec<StoreView<'_>> = input.stores.iter().map(StoreView).collect();
        map.serialize_entry("stores", &stores)?;
        map.serialize_entry("pending", &input.pending)?;
        map.end()
    }
}

struct StockView<'a>(&'a [(Sku, i64)]);

impl Serialize for StockView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct StoreView<'a>(&'a StoreInput);

#[derive(Serialize)]
struct ListingView<'a> {
    id: &'a ListingId,
    sku: &'a str,
    quantity: i64,
    #[serde(skip_serializing_if = "is_merchant")]
    fulfilment: Fulfilment,
}

fn is_merchant(f: &Fulfilment) -> bool {
    *f == Fulfilment::Merchant
}

impl Serialize for StoreView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &s.id)?;
        map.serialize_entry("channel", &s.channel)?;
        map.serialize_entry("sync", &s.sync)?;
        map.serialize_entry("rules", &s.rules)?;
        if !s.sku_rules.is_empty() {
            map.serialize_entry("sku_rules", &s.sku_rules)?;
        }
        let listings: Vec<ListingView<'_>> = s
            .listings
            .iter()
            .filter_map(|l| {
                let quantity = l.stock.quantity()?;
                Some(ListingView { id: &l.id, sku: &l.channel_sku, quantity, fulfilment: l.fulfilment })
            })
            .collect();
        map.serialize_entry("listings", &listings)?;
        map.end()
    }
}
