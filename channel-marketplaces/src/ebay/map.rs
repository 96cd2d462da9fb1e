//! Pure mapping between eBay's wire types and channel-core's domain types.

use channel_core::{Currency, Fulfilment, Listing, ListingStatus, Money, Order, OrderLine, OrderStatus, Stock};
use jiff::Timestamp;
use rust_decimal::Decimal;

use crate::ebay::wire;

/// The platform-id names a listing carries.
pub(crate) const OFFER_ID: &str = "offer_id";
/// eBay's listing (item) id of the published offer.
pub(crate) const LISTING_ID: &str = "listing_id";

/// What the adapter keeps of a SKU's offers: the fixed-price one when there are two (an auction and a
/// fixed-price offer of one SKU), else the only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OfferInfo {
    pub(crate) offer_id: String,
    pub(crate) listing_id: Option<String>,
    pub(crate) price: Option<Money>,
    pub(crate) status: ListingStatus,
}

/// The offer to use of a SKU's `getOffers` answer.
pub(crate) fn pick_offer(offers: &[wire::Offer]) -> Option<OfferInfo> {
    let offer = offers.iter().find(|o| o.format.as_deref() == Some("FIXED_PRICE")).or_else(|| offers.first())?;
    let listing = offer.listing.clone().unwrap_or_default();
    let published = offer.status.as_deref() == Some("PUBLISHED");
    let status = match listing.listing_status.as_deref() {
        _ if !published => ListingStatus::Inactive,
        Some("ENDED" | "INACTIVE") => ListingStatus::Inactive,
        Some("EBAY_ENDED") => ListingStatus::DisabledByChannel,
        _ => ListingStatus::Active,
    };
    Some(OfferInfo {
        offer_id: offer.offer_id.clone(),
        listing_id: listing.listing_id,
        price: offer.pricing_summary.as_ref().and_then(|p| p.price.as_ref()).and_then(money),
        status,
    })
}

/// An eBay `Amount` as money; `None` when the value or currency is not valid.
pub(crate) fn money(amount: &wire::Amount) -> Option<Money> {
    let value: Decimal = amount.value.trim().parse().ok()?;
    Some(Money::new(value, Currency::new(&amount.currency).ok()?))
}

/// Money as an eBay `Amount` (a decimal string, the currency's minor units).
pub(crate) fn amount(money: &Money) -> wire::Amount {
    wire::Amount { value: money.round_to_minor().amount.to_string(), currency: money.currency.code().to_owned() }
}

/// An inventory item (and its offer, when known) as a listing keyed by SKU. An item without an offer is
/// not for sale: inactive.
pub(crate) fn listing(item: &wire::InventoryItem, offer: Option<&OfferInfo>) -> Listing {
    let quantity = item
        .availability
        .as_ref()
        .and_then(|a| a.ship_to_location_availability.as_ref())
        .and_then(|s| s.quantity)
        .unwrap_or(0);
    let mut listing =
        Listing::new(item.sku.clone(), item.sku.clone(), quantity).with_stock(Stock::Tracked { quantity });
    match offer {
        Some(o) => {
            listing = listing.with_id(OFFER_ID, o.offer_id.clone()).with_status(o.status);
            if let Some(id) = &o.listing_id {
                listing = listing.with_id(LISTING_ID, id.clone());
            }
            if let Some(p) = o.price {
                listing = listing.with_price(p);
            }
        }
        None => listing = listing.with_status(ListingStatus::Inactive),
    }
    listing.with_fulfilment(Fulfilment::Merchant)
}

/// eBay's timestamps (`2024-03-21T08:25:43.511Z`).
pub(crate) fn timestamp(raw: Option<&str>) -> Option<Timestamp> {
    raw.and_then(|s| s.parse().ok())
}

/// A timestamp as the `lastmodifieddate` filter wants it: UTC with milliseconds.
pub(crate) fn filter_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The order's status: cancelled when `cancelStatus.cancelState` is `CANCELED` (or the whole order was
/// refunded before shipping), shipped when fulfilled, pending while payment is pending, else open.
pub(crate) fn order_status(order: &wire::Order) -> OrderStatus {
    let cancel = order.cancel_status.as_ref().and_then(|c| c.cancel_state.as_deref());
    let payment = order.order_payment_status.as_deref();
    let fulfilment = order.order_fulfillment_status.as_deref();
    match (cancel, payment, fulfilment) {
        (Some("CANCELED"), _, _) => OrderStatus::Cancelled,
        (_, Some("FULLY_REFUNDED"), Some("FULFILLED")) => OrderStatus::Returned,
        (_, Some("FULLY_REFUNDED"), _) => OrderStatus::Cancelled,
        (_, _, Some("FULFILLED")) => OrderStatus::Shipped,
        (_, Some("PENDING" | "FAILED"), _) => OrderStatus::Pending,
        _ => OrderStatus::Open,
    }
}

/// Units refunded on a line. eBay's refunds carry amounts only: the line counts as wholly refunded when
/// its refunds reach its cost (or the order is `FULLY_REFUNDED`), else as many whole units as the refunded
/// amount pays for at the line's unit price.
pub(crate) fn refunded_units(line: &wire::LineItem, quantity: u32, fully_refunded: bool) -> u32 {
    if fully_refunded {
        return quantity;
    }
    let refunded: Decimal =
        line.refunds.iter().filter_map(|r| r.amount.as_ref()).filter_map(|a| a.value.parse::<Decimal>().ok()).sum();
    let Some(cost) = line.line_item_cost.as_ref().and_then(|c| c.value.parse::<Decimal>().ok()) else {
        return 0;
    };
    if refunded <= Decimal::ZERO || quantity == 0 || cost <= Decimal::ZERO {
        return 0;
    }
    if refunded >= cost {
        return quantity;
    }
    let unit = cost / Decimal::from(quantity);
    let units = (refunded / unit).floor();
    u32::try_from(units.mantissa()).ok().filter(|_| units.scale() == 0).unwrap_or(0).min(quantity)
}

/// An eBay order as a domain order (`channel_status` is `payment/fulfillment/cancel`).
pub(crate) fn order(order: &wire::Order) -> Order {
    let status = order_status(order);
    let fully_refunded = order.order_payment_status.as_deref() == Some("FULLY_REFUNDED");
    let lines =
        order
            .line_items
            .iter()
            .map(|l| {
                let quantity = u32::try_from(l.quantity.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
                let sku = l.sku.clone().or_else(|| l.legacy_item_id.clone()).unwrap_or_default();
                let mut line = OrderLine::new(l.line_item_id.clone(), sku.clone(), quantity)
                    .with_refunded(refunded_units(l, quantity, fully_refunded));
                if l.sku.is_some() {
                    line = line.with_listing(sku);
                }
                if let Some(cost) = l.line_item_cost.as_ref().and_then(money)
                    && quantity > 0
                {
                    line = line.with_unit_price(Money::new(cost.amount / Decimal::from(quantity), cost.currency));
                }
                line
            })
            .collect();
    let created = timestamp(order.creation_date.as_deref()).unwrap_or(Timestamp::UNIX_EPOCH);
    let updated = timestamp(order.last_modified_date.as_deref()).unwrap_or(created);
    let channel_status = format!(
        "{}/{}/{}",
        order.order_payment_status.as_deref().unwrap_or("-"),
        order.order_fulfillment_status.as_deref().unwrap_or("-"),
        order.cancel_status.as_ref().and_then(|c| c.cancel_state.as_deref()).unwrap_or("-"),
    );
    Order::new(order.order_id.clone(), status, channel_status, lines, created, updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_json(payment: &str, fulfilment: &str, cancel: &str, refunds: &str) -> wire::Order {
        let text = format!(
            r#"{{"orderId":"01-1","creationDate":"2026-01-02T03:04:05.000Z","lastModifiedDate":"2026-01-03T03:04:05.000Z",
            "orderPaymentStatus":"{payment}","orderFulfillmentStatus":"{fulfilment}","cancelStatus":{{"cancelState":"{cancel}"}},
            "lineItems":[{{"lineItemId":"L1","sku":"MUG","quantity":4,"lineItemCost":{{"value":"40.00","currency":"USD"}},
            "refunds":[{refunds}]}}]}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn statuses_cancellations_and_refunds() {
        let open = order(&order_json("PAID", "NOT_STARTED", "NONE_REQUESTED", ""));
        assert_eq!(open.status, OrderStatus::Open);
        assert_eq!(open.lines[0].quantity, 4);
        assert_eq!(open.lines[0].refunded_quantity, 0);
        assert_eq!(open.lines[0].unit_price.unwrap().amount, Decimal::from(10));
        assert_eq!(order(&order_json("PAID", "NOT_STARTED", "CANCELED", "")).status, OrderStatus::Cancelled);
        assert_eq!(order(&order_json("PAID", "FULFILLED", "NONE_REQUESTED", "")).status, OrderStatus::Shipped);
        let partial = order(&order_json(
            "PARTIALLY_REFUNDED",
            "FULFILLED",
            "NONE_REQUESTED",
            r#"{"amount":{"value":"25.00","currency":"USD"}}"#,
        ));
        assert_eq!(partial.lines[0].refunded_quantity, 2, "25 of 4 × 10 pays for two whole units");
        let full = order(&order_json("FULLY_REFUNDED", "NOT_STARTED", "NONE_REQUESTED", ""));
        assert_eq!(full.status, OrderStatus::Cancelled);
        assert_eq!(full.lines[0].refunded_quantity, 4);
        assert_eq!(
            order(&order_json("FULLY_REFUNDED", "FULFILLED", "NONE_REQUESTED", "")).status,
            OrderStatus::Returned
        );
    }

    #[test]
    fn offers_and_amounts() {
        let offers: wire::Offers = serde_json::from_str(
            r#"{"offers":[{"offerId":"1","format":"AUCTION","status":"PUBLISHED"},
            {"offerId":"2","format":"FIXED_PRICE","status":"PUBLISHED","listing":{"listingId":"99","listingStatus":"ACTIVE"},
             "pricingSummary":{"price":{"value":"12.50","currency":"GBP"}}}]}"#,
        )
        .unwrap();
        let info = pick_offer(&offers.offers).unwrap();
        assert_eq!(info.offer_id, "2");
        assert_eq!(info.listing_id.as_deref(), Some("99"));
        assert_eq!(info.status, ListingStatus::Active);
        let price = info.price.unwrap();
        assert_eq!(amount(&price), wire::Amount { value: "12.50".into(), currency: "GBP".into() });
        assert_eq!(filter_time("2026-01-02T03:04:05Z".parse().unwrap()), "2026-01-02T03:04:05.000Z");
    }
}
