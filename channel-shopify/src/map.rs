//! Pure functions from Admin GraphQL answers ([`crate::wire`]) to channel-core's domain types, and back
//! for what the mutations send.

use std::collections::BTreeMap;
use std::str::FromStr;

use channel_core::rust_decimal::Decimal;
use channel_core::{Currency, Listing, ListingStatus, Money, Order, OrderLine, OrderStatus, Outcome, Stock};
use jiff::Timestamp;

use crate::channel::ShopContext;
use crate::wire;

/// `gid://shopify/{kind}/{id}` for a bare number; anything else as given.
pub(crate) fn gid(kind: &str, id: &str) -> String {
    if id.starts_with("gid://") { id.to_owned() } else { format!("gid://shopify/{kind}/{id}") }
}

/// The number at the end of a gid (`gid://shopify/Order/12?x=y` → `12`).
pub(crate) fn legacy_id(gid: &str) -> &str {
    let path = gid.split('?').next().unwrap_or(gid);
    path.rsplit('/').next().unwrap_or(path)
}

/// The inventory item gid a listing id names (`gid://shopify/InventoryItem/<n>` or the bare number);
/// `None` for anything else, which no inventory item can match.
pub(crate) fn inventory_item_gid(id: &str) -> Option<String> {
    let n = id.strip_prefix("gid://shopify/InventoryItem/").unwrap_or(id);
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| format!("gid://shopify/InventoryItem/{n}"))
}

/// The shop and its synced location as the adapter caches them.
pub(crate) fn shop_context(shop: &wire::Shop, location: &wire::Location, configured_domain: &str) -> ShopContext {
    let currency = shop.currency_code.as_deref().and_then(|c| Currency::new(c).ok()).unwrap_or(Currency::USD);
    ShopContext {
        shop_id: shop.id.clone().unwrap_or_default(),
        name: shop.name.clone().unwrap_or_default(),
        domain: shop.myshopify_domain.clone().unwrap_or_else(|| configured_domain.to_owned()),
        currency,
        location_id: location.id.clone().unwrap_or_default(),
        location_name: location.name.clone().unwrap_or_default(),
    }
}

/// `gid (name)`, as a configuration error lists a shop's locations.
pub(crate) fn describe_location(l: &wire::Location) -> String {
    format!("{} ({})", l.id.as_deref().unwrap_or(""), l.name.as_deref().unwrap_or(""))
}

/// A listing from a variant read with its inventory item (the listing page); `None` without an item id.
pub(crate) fn listing_from_variant(ctx: &ShopContext, variant: &wire::Variant) -> Option<Listing> {
    listing(ctx, variant, variant.inventory_item.as_ref()?)
}

/// A listing from an inventory item read with its variant (the by-id read); `None` without an item id.
pub(crate) fn listing_from_item(ctx: &ShopContext, item: &wire::InventoryItem) -> Option<Listing> {
    let none = wire::Variant::default();
    listing(ctx, item.variant.as_deref().unwrap_or(&none), item)
}

/// The listing of `variant` and its inventory `item`: the listing id is the item gid. Untracked →
/// `Stock::Untracked`; tracked but not stocked at the location → `Untracked` and `Inactive`.
fn listing(ctx: &ShopContext, variant: &wire::Variant, item: &wire::InventoryItem) -> Option<Listing> {
    let item_id = item.id.as_deref()?;
    let sku = variant.sku.as_deref().unwrap_or_default();
    let tracked = item.tracked.unwrap_or(true);
    let level = item.inventory_level.as_ref();
    let (stock, status) = match (tracked, level) {
        (false, _) => (Stock::Untracked, ListingStatus::Active),
        (true, None) => (Stock::Untracked, ListingStatus::Inactive),
        (true, Some(level)) => (Stock::Tracked { quantity: level.available().unwrap_or(0) }, ListingStatus::Active),
    };
    let mut l = Listing::new(item_id, sku, 0).with_stock(stock).with_status(status);
    if let Some(price) = variant.price.as_deref().and_then(|p| Decimal::from_str(p).ok()) {
        l = l.with_price(Money::new(price, ctx.currency));
    }
    l = l.with_id("inventory_item_id", item_id).with_id("location_id", ctx.location_id.clone());
    if let Some(v) = &variant.id {
        l = l.with_id("variant_id", v.clone());
    }
    if let Some(p) = variant.product.as_ref().and_then(|p| p.id.as_ref()) {
        l = l.with_id("product_id", p.clone());
    }
    Some(l)
}

/// `quantityAfterChange` of `available` per inventory item gid.
pub(crate) fn after_quantities(group: Option<&wire::AdjustmentGroup>) -> BTreeMap<String, i64> {
    group
        .map(|g| {
            g.changes
                .iter()
                .filter(|c| c.name.as_deref().is_none_or(|n| n == "available"))
                .filter_map(|c| Some((c.item.as_ref()?.id.clone()?, c.quantity_after_change?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A price as Shopify's decimal string, to the currency's minor unit (`10.50`).
pub(crate) fn decimal_string(m: Money) -> String {
    let dp = m.currency.minor_units() as usize;
    format!("{:.dp$}", m.round_to_minor().amount)
}

/// Tracking company names as Shopify's list writes them ("Send the tracking company name exactly as
/// written in the list (capitalization matters)": `FulfillmentTrackingInput.company`, and the "Supported
/// tracking companies" of `FulfillmentTrackingInfo`, shopify.dev, for shops in any country; the part of the
/// list this adapter could read, 4PX to Evri).
const TRACKING_COMPANIES: &[&str] = &[
    "4PX",
    "AGS",
    "Amazon",
    "Amazon Logistics UK",
    "An Post",
    "Anjun Logistics",
    "APC",
    "Asendia USA",
    "Australia Post",
    "Bonshaw",
    "BPost",
    "BPost International",
    "Canada Post",
    "Canpar",
    "CDL Last Mile",
    "China Post",
    "Chronopost",
    "Chukou1",
    "Colissimo",
    "Comingle",
    "Coordinadora",
    "Correios",
    "Correos",
    "CTT",
    "CTT Express",
    "Cyprus Post",
    "Delnext",
    "Deutsche Post",
    "DHL eCommerce",
    "DHL eCommerce Asia",
    "DHL Express",
    "DPD",
    "DPD Local",
    "DPD UK",
    "DTD Express",
    "DX",
    "Eagle",
    "Estes",
    "Evri",
];

/// The `company` to send for a carrier: the list's spelling when the carrier matches a name of the list
/// but for case and spacing, else the carrier as given (Shopify accepts any name; only listed ones get
/// tracking links built).
pub(crate) fn tracking_company(carrier: &str) -> String {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let wanted = squash(carrier);
    TRACKING_COMPANIES
        .iter()
        .find(|name| squash(name) == wanted)
        .map_or_else(|| carrier.trim().to_owned(), |name| (*name).to_owned())
}

/// `FulfillmentTrackingInput` for a shipment's tracking: `number`, `company` (when there is a carrier) and
/// `url` (when there is one; the documentation asks for `number` with it, which is always sent).
pub(crate) fn tracking_info(tracking: &channel_core::Tracking) -> serde_json::Value {
    let mut info = serde_json::json!({"number": tracking.number});
    if !tracking.carrier.trim().is_empty() {
        info["company"] = serde_json::json!(tracking_company(&tracking.carrier));
    }
    if let Some(url) = &tracking.url {
        info["url"] = serde_json::json!(url);
    }
    info
}

/// `CODE: message` of a user error.
pub(crate) fn describe(e: &wire::UserError) -> String {
    let code = e.code.as_deref().unwrap_or("");
    let message = e.message.as_deref().unwrap_or("refused");
    if code.is_empty() { message.to_owned() } else { format!("{code}: {message}") }
}

/// The last integer in a message (`… the current available quantity is 8.` → 8).
pub(crate) fn last_integer(message: &str) -> Option<i64> {
    let mut found = None;
    let bytes = message.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = if i > 0 && bytes[i - 1] == b'-' { i - 1 } else { i };
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            found = message[start..j].parse().ok().or(found);
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

/// The inventory mutation a user error came from: each has its own code enum, and a code is read
/// against the enum of the mutation that answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mutation {
    /// `inventorySetQuantities` (`InventorySetQuantitiesUserErrorCode`).
    Set,
    /// `inventoryAdjustQuantities` (`InventoryAdjustQuantitiesUserErrorCode`).
    Adjust,
}

/// What a user error of an inventory mutation asks of the caller, from the code's description in the
/// enum of that mutation in the API version the adapter uses (`InventorySetQuantitiesUserErrorCode`,
/// `InventoryAdjustQuantitiesUserErrorCode`; see `docs/fidelity.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// `CHANGE_FROM_QUANTITY_STALE`, `COMPARE_QUANTITY_STALE`: the item's quantity moved; nothing applied.
    Stale,
    /// `IDEMPOTENCY_CONCURRENT_REQUEST` ("This request is currently in progress, please try again"):
    /// the same request, under the same key, a little later.
    SameKey,
    /// `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED` ("Retry with a new idempotency key", both enums from
    /// 2026-10), and on `inventoryAdjustQuantities` the codes that say the write failed and to try again
    /// (`ADJUST_QUANTITIES_FAILED` "… Try again", `SERVICE_UNAVAILABLE`): the same request under a new key.
    /// `inventorySetQuantities`' enum lists no such code (`SET_ON_HAND_QUANTITIES_FAILED` and its
    /// `SERVICE_UNAVAILABLE` belong to the deprecated `inventorySetOnHandQuantities`).
    NewKey,
    /// Everything else (unknown item or location, not stocked there, invalid name or reason,
    /// `IDEMPOTENCY_KEY_PARAMETER_MISMATCH`, a code the mutation's enum does not list): sending it again
    /// will not help.
    Permanent,
}

/// The class of a user error's `code`, read against the enum of `mutation`.
pub(crate) fn classify(mutation: Mutation, code: Option<&str>) -> ErrorClass {
    match (mutation, code) {
        (_, Some("CHANGE_FROM_QUANTITY_STALE")) | (Mutation::Set, Some("COMPARE_QUANTITY_STALE")) => ErrorClass::Stale,
        (_, Some("IDEMPOTENCY_CONCURRENT_REQUEST")) => ErrorClass::SameKey,
        (_, Some("IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"))
        | (Mutation::Adjust, Some("ADJUST_QUANTITIES_FAILED" | "SERVICE_UNAVAILABLE")) => ErrorClass::NewKey,
        _ => ErrorClass::Permanent,
    }
}

/// The outcome of an item an inventory mutation refused: stale (with the actual quantity Shopify's
/// message states), rejected and retryable (a code that says to try again, still failing after the
/// adapter's own retries), or rejected for good.
pub(crate) fn error_outcome(mutation: Mutation, e: &wire::UserError) -> Outcome {
    match classify(mutation, e.code.as_deref()) {
        ErrorClass::Stale => Outcome::Stale { actual: e.message.as_deref().and_then(last_integer) },
        ErrorClass::SameKey | ErrorClass::NewKey => Outcome::Rejected { reason: describe(e), retryable: true },
        ErrorClass::Permanent => Outcome::Rejected { reason: describe(e), retryable: false },
    }
}

fn money(v: Option<&wire::MoneyV2>, fallback: Currency) -> Option<Money> {
    let v = v?;
    let amount = Decimal::from_str(v.amount.as_deref()?).ok()?;
    let currency = v.currency_code.as_deref().and_then(|c| Currency::new(c).ok()).unwrap_or(fallback);
    Some(Money::new(amount, currency))
}

fn ts(v: Option<&str>) -> Option<Timestamp> {
    v?.parse().ok()
}

/// Normalised status from GraphQL's display statuses.
pub(crate) fn status_from(cancelled: bool, financial: &str, fulfillment: &str) -> OrderStatus {
    let financial = financial.to_ascii_uppercase();
    let fulfillment = fulfillment.to_ascii_uppercase();
    if cancelled {
        OrderStatus::Cancelled
    } else if financial == "REFUNDED" {
        OrderStatus::Returned
    } else if fulfillment == "FULFILLED" || fulfillment == "PARTIALLY_FULFILLED" || fulfillment == "PARTIAL" {
        OrderStatus::Shipped
    } else if financial == "PENDING" || financial == "AUTHORIZED" {
        OrderStatus::Pending
    } else {
        OrderStatus::Open
    }
}

fn order_line(l: &wire::LineItem, currency: Currency) -> Option<OrderLine> {
    let quantity = u32::try_from(l.quantity?).ok()?;
    let current = l.current_quantity.and_then(|c| u32::try_from(c).ok()).unwrap_or(quantity);
    let mut line = OrderLine::new(legacy_id(l.id.as_deref()?), l.sku.as_deref().unwrap_or_default(), quantity)
        .with_refunded(quantity.saturating_sub(current));
    let price = l.original_unit_price_set.as_ref().and_then(|p| p.shop_money.as_ref());
    if let Some(price) = money(price, currency) {
        line = line.with_unit_price(price);
    }
    Some(line)
}

/// An order and all its lines; `None` without an id or a creation time.
pub(crate) fn order(node: &wire::Order, lines: &[wire::LineItem], currency: Currency) -> Option<Order> {
    let id = node.legacy_resource_id.clone().or_else(|| node.id.as_deref().map(|g| legacy_id(g).to_owned()))?;
    let cancelled = node.cancelled_at.is_some();
    let financial = node.display_financial_status.as_deref().unwrap_or("");
    let fulfillment = node.display_fulfillment_status.as_deref().unwrap_or("");
    let status = status_from(cancelled, financial, fulfillment);
    let channel_status =
        if cancelled { format!("CANCELLED/{financial}/{fulfillment}") } else { format!("{financial}/{fulfillment}") };
    let lines = lines.iter().filter_map(|l| order_line(l, currency)).collect();
    let created = ts(node.created_at.as_deref())?;
    let updated = ts(node.updated_at.as_deref()).unwrap_or(created);
    Some(Order::new(id, status, channel_status, lines, created, updated))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> ShopContext {
        ShopContext {
            shop_id: "gid://shopify/Shop/1".into(),
            name: "Mugs".into(),
            domain: "mugs.myshopify.com".into(),
            currency: Currency::new("ZAR").unwrap(),
            location_id: "gid://shopify/Location/1".into(),
            location_name: "Main".into(),
        }
    }

    fn variant(item: serde_json::Value) -> wire::Variant {
        serde_json::from_value(json!({"id": "gid://shopify/ProductVariant/5", "sku": "MUG-5", "price": "99.90",
            "product": {"id": "gid://shopify/Product/3"}, "inventoryItem": item}))
        .unwrap()
    }

    #[test]
    fn listings_from_variants_and_items() {
        let v = variant(json!({"id": "gid://shopify/InventoryItem/9", "tracked": true,
            "inventoryLevel": {"quantities": [{"name": "available", "quantity": 4}]}}));
        let l = listing_from_variant(&ctx(), &v).unwrap();
        assert_eq!(l.id.as_str(), "gid://shopify/InventoryItem/9");
        assert_eq!((l.channel_sku.as_str(), l.quantity()), ("MUG-5", Some(4)));
        assert_eq!(l.status, ListingStatus::Active);
        assert_eq!(l.ids.get("product_id").map(String::as_str), Some("gid://shopify/Product/3"));
        assert_eq!(l.ids.get("location_id").map(String::as_str), Some("gid://shopify/Location/1"));
        assert_eq!(l.price.unwrap().currency.code(), "ZAR");

        let untracked = variant(json!({"id": "gid://shopify/InventoryItem/9", "tracked": false}));
        let l = listing_from_variant(&ctx(), &untracked).unwrap();
        assert_eq!((l.stock, l.status), (Stock::Untracked, ListingStatus::Active));
        let not_stocked =
            variant(json!({"id": "gid://shopify/InventoryItem/9", "tracked": true, "inventoryLevel": null}));
        let l = listing_from_variant(&ctx(), &not_stocked).unwrap();
        assert_eq!((l.stock, l.status), (Stock::Untracked, ListingStatus::Inactive));
        assert!(listing_from_variant(&ctx(), &variant(json!(null))).is_none(), "no item, no listing");

        // The by-id read: the item with its variant gives the same listing.
        let item: wire::InventoryItem = serde_json::from_value(json!({"id": "gid://shopify/InventoryItem/9",
            "tracked": true, "inventoryLevel": {"quantities": [{"name": "available", "quantity": 4}]},
            "variant": {"id": "gid://shopify/ProductVariant/5", "sku": "MUG-5", "price": "99.90",
                "product": {"id": "gid://shopify/Product/3"}}}))
        .unwrap();
        let from_item = listing_from_item(&ctx(), &item).unwrap();
        let from_variant = listing_from_variant(
            &ctx(),
            &variant(json!({"id": "gid://shopify/InventoryItem/9", "tracked": true,
                "inventoryLevel": {"quantities": [{"name": "available", "quantity": 4}]}})),
        )
        .unwrap();
        assert_eq!(from_item, from_variant);
    }

    #[test]
    fn orders_with_refunds_and_statuses() {
        let node: wire::Order =
            serde_json::from_value(json!({"id": "gid://shopify/Order/12", "legacyResourceId": "12",
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-02T00:00:00Z", "cancelledAt": null,
            "displayFinancialStatus": "PAID", "displayFulfillmentStatus": "UNFULFILLED"}))
            .unwrap();
        let lines: Vec<wire::LineItem> = serde_json::from_value(json!([{"id": "gid://shopify/LineItem/7", "sku": "MUG-5",
            "quantity": 3, "currentQuantity": 1, "originalUnitPriceSet": {"shopMoney": {"amount": "10.00", "currencyCode": "ZAR"}}}]))
        .unwrap();
        let o = order(&node, &lines, Currency::USD).unwrap();
        assert_eq!((o.id.as_str(), o.status, o.channel_status.as_str()), ("12", OrderStatus::Open, "PAID/UNFULFILLED"));
        assert_eq!((o.lines[0].line_id.as_str(), o.lines[0].quantity, o.lines[0].refunded_quantity), ("7", 3, 2));
        assert_eq!(status_from(true, "PAID", "FULFILLED"), OrderStatus::Cancelled);
        assert_eq!(status_from(false, "REFUNDED", ""), OrderStatus::Returned);
        assert_eq!(status_from(false, "PAID", "PARTIALLY_FULFILLED"), OrderStatus::Shipped);
        assert_eq!(status_from(false, "AUTHORIZED", ""), OrderStatus::Pending);
    }

    /// Each mutation's codes come from its own enum (2026-01 and 2026-10 pages): the "try again" codes
    /// are `inventoryAdjustQuantities`' (`ADJUST_QUANTITIES_FAILED`, `SERVICE_UNAVAILABLE`);
    /// `SET_ON_HAND_QUANTITIES_FAILED` is the deprecated `inventorySetOnHandQuantities`' and is in
    /// neither enum the adapter reads.
    #[test]
    fn codes_are_read_against_the_mutations_own_enum() {
        assert_eq!(classify(Mutation::Adjust, Some("ADJUST_QUANTITIES_FAILED")), ErrorClass::NewKey);
        assert_eq!(classify(Mutation::Adjust, Some("SERVICE_UNAVAILABLE")), ErrorClass::NewKey);
        assert_eq!(classify(Mutation::Set, Some("SERVICE_UNAVAILABLE")), ErrorClass::Permanent);
        assert_eq!(classify(Mutation::Set, Some("SET_ON_HAND_QUANTITIES_FAILED")), ErrorClass::Permanent);
        assert_eq!(classify(Mutation::Adjust, Some("SET_ON_HAND_QUANTITIES_FAILED")), ErrorClass::Permanent);
        assert_eq!(classify(Mutation::Set, Some("ADJUST_QUANTITIES_FAILED")), ErrorClass::Permanent);
        assert_eq!(classify(Mutation::Set, Some("COMPARE_QUANTITY_STALE")), ErrorClass::Stale);
    }

    #[test]
    fn user_errors_and_quantities() {
        let stale: wire::UserError = serde_json::from_value(json!({"code": "CHANGE_FROM_QUANTITY_STALE",
            "field": ["input", "quantities", "1", "changeFromQuantity"],
            "message": "changeFromQuantity 5 is stale: the current available quantity is -2."}))
        .unwrap();
        assert_eq!(error_outcome(Mutation::Set, &stale), Outcome::Stale { actual: Some(-2) });
        assert_eq!(stale.index_at(2), Some(1));
        let failed: wire::UserError =
            serde_json::from_value(json!({"code": "ADJUST_QUANTITIES_FAILED", "field": ["a", 0]})).unwrap();
        assert!(matches!(error_outcome(Mutation::Adjust, &failed), Outcome::Rejected { retryable: true, .. }));
        assert_eq!(failed.index_at(1), Some(0));
        // `INTERNAL_ERROR` is in neither enum: no promise that trying again helps.
        let internal: wire::UserError = serde_json::from_value(json!({"code": "INTERNAL_ERROR"})).unwrap();
        assert!(matches!(error_outcome(Mutation::Adjust, &internal), Outcome::Rejected { retryable: false, .. }));
        for m in [Mutation::Set, Mutation::Adjust] {
            assert_eq!(classify(m, Some("IDEMPOTENCY_CONCURRENT_REQUEST")), ErrorClass::SameKey);
            assert_eq!(classify(m, Some("IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED")), ErrorClass::NewKey);
            assert_eq!(classify(m, Some("IDEMPOTENCY_KEY_PARAMETER_MISMATCH")), ErrorClass::Permanent);
            assert_eq!(classify(m, None), ErrorClass::Permanent);
        }
        let group: wire::AdjustmentGroup = serde_json::from_value(json!({"changes": [
            {"name": "available", "quantityAfterChange": 8, "item": {"id": "i1"}},
            {"name": "on_hand", "quantityAfterChange": 99, "item": {"id": "i2"}}]}))
        .unwrap();
        assert_eq!(after_quantities(Some(&group)), BTreeMap::from([("i1".to_owned(), 8)]));
        assert_eq!(decimal_string(Money::new(Decimal::new(105, 1), Currency::new("ZAR").unwrap())), "10.50");
        assert_eq!(
            (gid("Order", "12"), legacy_id("gid://shopify/Order/12?x=y")),
            ("gid://shopify/Order/12".into(), "12")
        );
        assert_eq!(
            inventory_item_gid("gid://shopify/InventoryItem/9").as_deref(),
            Some("gid://shopify/InventoryItem/9")
        );
        assert_eq!(inventory_item_gid("9").as_deref(), Some("gid://shopify/InventoryItem/9"));
        assert_eq!(inventory_item_gid("gid://shopify/ProductVariant/9"), None);
        assert_eq!(inventory_item_gid("MUG-1"), None);
        assert_eq!(inventory_item_gid(""), None);
    }
}
