//! Pure translations between Magento's wire types and channel-core's domain: listings (with the
//! reservation arithmetic of the module docs), orders and their lines, shipments. No I/O.

use std::collections::HashMap;

use channel_core::{
    Currency, Fulfilment, Listing, ListingStatus, Money, Order, OrderLine, OrderStatus, Shipment, Stock,
};
use jiff::Timestamp;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use crate::magento::wire::{self, ShipItem, ShipOrder, SourceItem, Track};

/// Product types whose stock lives in source items (configurable and bundle parents hold none).
pub(crate) fn holds_stock(p: &wire::Product) -> bool {
    matches!(p.type_id.as_deref().unwrap_or("simple"), "simple" | "virtual" | "downloadable")
}

/// A whole-unit quantity from Magento's decimal `quantity` (fractions are rounded down: a listing never
/// shows more than the source holds).
fn units(q: f64) -> i64 {
    q.floor().to_i64().unwrap_or(0)
}

/// The listing for a product: tracked at the configured source when it has a source item there (its
/// quantity less the open reservations of the SKU), untracked otherwise (a write assigns it).
pub(crate) fn listing_from(
    p: &wire::Product,
    item: Option<&SourceItem>,
    reserved: i64,
    currency: Option<Currency>,
) -> Listing {
    let stock = match item {
        Some(i) => Stock::Tracked { quantity: units(i.quantity) - reserved },
        None => Stock::Untracked,
    };
    let status = if p.status == Some(2) { ListingStatus::DisabledBySeller } else { ListingStatus::Active };
    let mut l = Listing::new(p.sku.clone(), p.sku.clone(), 0).with_stock(stock).with_status(status);
    if p.id != 0 {
        l = l.with_id("product_id", p.id.to_string());
    }
    if let Some(t) = &p.type_id {
        l = l.with_id("type_id", t.clone());
    }
    if let (Some(price), Some(c)) = (p.price.and_then(Decimal::from_f64), currency) {
        l = l.with_price(Money::new(price.round_dp(4).normalize(), c));
    }
    l
}

/// The source item that makes `wanted` units salable: `quantity = wanted + reserved`, in stock when any
/// unit is salable.
pub(crate) fn source_item_for(sku: &str, source_code: &str, wanted: i64, reserved: i64) -> SourceItem {
    let quantity = wanted.saturating_add(reserved.max(0));
    #[allow(clippy::cast_precision_loss)] // quantities are far below 2^52
    SourceItem {
        sku: sku.to_owned(),
        source_code: source_code.to_owned(),
        quantity: quantity as f64,
        status: u8::from(wanted > 0),
    }
}

/// Order lines: a configurable product's parent row (it carries the child's SKU) stands for its child,
/// whose row is skipped; a bundle's children are counted and its parent row skipped.
pub(crate) fn lines_of(order: &wire::Order) -> Vec<&wire::OrderItem> {
    let type_of = |id: u64| order.items.iter().find(|i| i.item_id == id).and_then(|i| i.product_type.as_deref());
    order
        .items
        .iter()
        .filter(|i| match i.parent_item_id {
            Some(parent) => type_of(parent) != Some("configurable"),
            None => i.product_type.as_deref() != Some("bundle"),
        })
        .collect()
}

/// Units a line still reserves: ordered, less shipped, cancelled and refunded.
fn open_units(i: &wire::OrderItem) -> i64 {
    units((i.qty_ordered - i.qty_shipped - i.qty_canceled - i.qty_refunded).max(0.0))
}

/// Open reservations by SKU from orders in open states.
pub(crate) fn add_reservations(orders: &[wire::Order], into: &mut HashMap<String, i64>) {
    for o in orders {
        if !matches!(o.state.as_deref(), Some("new" | "pending_payment" | "processing" | "holded" | "payment_review")) {
            continue;
        }
        for line in lines_of(o) {
            let n = open_units(line);
            if n > 0 {
                *into.entry(line.sku.clone()).or_default() += n;
            }
        }
    }
}

/// Magento's `YYYY-MM-DD HH:MM:SS` (UTC in the REST API) as a timestamp.
pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let iso = if s.contains('T') { s.to_owned() } else { s.replacen(' ', "T", 1) };
    let iso = if iso.ends_with('Z') || iso.contains('+') { iso } else { format!("{iso}Z") };
    iso.parse().ok()
}

/// A timestamp in Magento's filter format, `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// The normalised status of a Magento order `state` (the configurable `status` label is kept as
/// `channel_status`).
pub(crate) fn status_of(state: &str) -> OrderStatus {
    match state {
        "processing" => OrderStatus::Open,
        "complete" => OrderStatus::Shipped,
        "closed" => OrderStatus::Returned,
        "canceled" => OrderStatus::Cancelled,
        _ => OrderStatus::Pending,
    }
}

/// An order as the engine sees it.
pub(crate) fn order_from(o: &wire::Order) -> Option<Order> {
    let updated = o.updated_at.as_deref().and_then(parse_time)?;
    let created = o.created_at.as_deref().and_then(parse_time).unwrap_or(updated);
    let currency = o.order_currency_code.as_deref().and_then(|c| Currency::new(c).ok());
    let lines = lines_of(o)
        .into_iter()
        .map(|i| {
            let qty = u32::try_from(units(i.qty_ordered)).unwrap_or(u32::MAX);
            let refunded = u32::try_from(units(i.qty_refunded)).unwrap_or(u32::MAX);
            let mut line = OrderLine::new(i.item_id.to_string(), i.sku.clone(), qty)
                .with_listing(i.sku.clone())
                .with_refunded(refunded)
                .with_fulfilment(Fulfilment::Merchant);
            if let (Some(p), Some(c)) = (i.price.and_then(Decimal::from_f64), currency) {
                line = line.with_unit_price(Money::new(p.round_dp(4).normalize(), c));
            }
            line
        })
        .collect();
    let state = o.state.as_deref().unwrap_or("new");
    let channel_status = o.status.clone().unwrap_or_else(|| state.to_owned());
    Some(Order::new(o.entity_id.to_string(), status_of(state), channel_status, lines, created, updated))
}

/// The `ship` body for a shipment: the named lines (or every line, `items` empty) with one track.
pub(crate) fn ship_body(s: &Shipment, notify: bool) -> Result<ShipOrder, String> {
    let mut items = Vec::with_capacity(s.lines.len());
    for (line, qty) in &s.lines {
        let id = line.parse::<u64>().map_err(|_| format!("Magento order item ids are numbers, not {line:?}"))?;
        items.push(ShipItem { order_item_id: id, qty: f64::from(*qty) });
    }
    let carrier = s.tracking.carrier.trim();
    let code = carrier.to_ascii_lowercase();
    let carrier_code = match code.as_str() {
        "ups" | "usps" | "fedex" | "dhl" => code,
        _ => "custom".to_owned(),
    };
    let track = Track { track_number: s.tracking.number.clone(), title: carrier.to_owned(), carrier_code };
    Ok(ShipOrder { items, notify, append_comment: false, tracks: vec![track] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: u64, sku: &str, qty: f64, parent: Option<u64>, ty: &str) -> wire::OrderItem {
        serde_json::from_value(serde_json::json!({
            "item_id": id, "sku": sku, "qty_ordered": qty, "parent_item_id": parent, "product_type": ty
        }))
        .unwrap()
    }

    fn order(state: &str, items: Vec<wire::OrderItem>) -> wire::Order {
        let mut o: wire::Order = serde_json::from_value(serde_json::json!({
            "entity_id": 7, "state": state, "updated_at": "2026-12-02 10:00:00"
        }))
        .unwrap();
        o.items = items;
        o
    }

    #[test]
    fn configurable_parents_and_bundle_children_count() {
        let o = order(
            "processing",
            vec![
                item(1, "SHIRT-M", 2.0, None, "configurable"),
                item(2, "SHIRT-M", 2.0, Some(1), "simple"),
                item(3, "BOX", 1.0, None, "bundle"),
                item(4, "MUG", 1.0, Some(3), "simple"),
            ],
        );
        let skus: Vec<&str> = lines_of(&o).iter().map(|i| i.sku.as_str()).collect();
        assert_eq!(skus, ["SHIRT-M", "MUG"]);
        let mut r = HashMap::new();
        add_reservations(&[o, order("complete", vec![item(9, "MUG", 5.0, None, "simple")])], &mut r);
        assert_eq!(r.get("SHIRT-M"), Some(&2));
        assert_eq!(r.get("MUG"), Some(&1), "a complete order reserves nothing");
    }

    #[test]
    fn reservations_are_added_to_writes_and_taken_from_reads() {
        let item = source_item_for("A", "default", 5, 2);
        assert_eq!((item.quantity, item.status), (7.0, 1));
        assert_eq!(source_item_for("A", "default", 0, 0).status, 0);
        let p: wire::Product = serde_json::from_value(serde_json::json!({"id": 1, "sku": "A", "price": 9.5})).unwrap();
        let l = listing_from(&p, Some(&item), 2, Some(Currency::new("USD").unwrap()));
        assert_eq!(l.quantity(), Some(5));
        assert_eq!(listing_from(&p, None, 0, None).stock, Stock::Untracked);
    }

    #[test]
    fn states_and_times() {
        assert_eq!(status_of("canceled"), OrderStatus::Cancelled);
        assert_eq!(status_of("closed"), OrderStatus::Returned);
        assert_eq!(status_of("holded"), OrderStatus::Pending);
        let t = parse_time("2026-12-02 10:00:00").unwrap();
        assert_eq!(format_time(t), "2026-12-02 10:00:00");
        let o = order_from(&order("canceled", vec![item(1, "A", 1.0, None, "simple")])).unwrap();
        assert_eq!((o.status, o.lines.len()), (OrderStatus::Cancelled, 1));
    }
}
