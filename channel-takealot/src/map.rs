//! Pure mapping between the Seller API's [`wire`] types and channel-core's domain: offers ⇄ listings (the
//! merchant listing and the read-only `<offer_id>:dc` listing), sales → orders, updates → offer updates,
//! batch results → per-item outcomes. No I/O.

use channel_core::Listing;
use channel_core::rust_decimal::Decimal;
use channel_core::rust_decimal::prelude::ToPrimitive;
use channel_core::{
    Currency, Fulfilment, ListingId, ListingStatus, Money, Order, OrderLine, OrderStatus, Outcome, PlatformIds,
    WholeUnitRounding,
};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::config::BatchPhase;
use crate::error::TakealotError;
use crate::wire::{self, BatchStatus, LeadtimeStockUpdate, OfferUpdate};

/// Suffix of the read-only listing of an offer's stock at Takealot DCs (`<offer_id>:dc`).
pub const DC_SUFFIX: &str = ":dc";

/// The listing id of an offer's merchant (leadtime) stock: the offer id.
pub(crate) fn merchant_listing_id(offer_id: &str) -> ListingId {
    ListingId::new(offer_id)
}

/// The listing id of an offer's stock at Takealot DCs: `<offer_id>:dc`.
pub(crate) fn dc_listing_id(offer_id: &str) -> ListingId {
    ListingId::new(format!("{offer_id}{DC_SUFFIX}"))
}

/// What a listing id names: an offer, and whether it is the offer's DC listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OfferRef {
    /// The Takealot offer id.
    pub(crate) offer_id: u64,
    /// `<offer_id>:dc`: the read-only listing of the offer's stock at Takealot DCs.
    pub(crate) dc: bool,
}

/// The offer a listing id this adapter issued names (`<offer_id>` or `<offer_id>:dc`).
pub(crate) fn offer_ref(listing: &ListingId) -> Result<OfferRef, TakealotError> {
    let raw = listing.as_str();
    let (digits, dc) = match raw.strip_suffix(DC_SUFFIX) {
        Some(offer) => (offer, true),
        None => (raw, false),
    };
    let offer_id = digits.parse::<u64>().map_err(|_| TakealotError::InvalidListingId {
        id: raw.to_owned(),
        reason: "not a Takealot offer id".into(),
    })?;
    Ok(OfferRef { offer_id, dc })
}

/// The listings of one offer: its merchant (leadtime) stock at `warehouse`, and, when `dc_listings` is on,
/// its read-only stock at Takealot DCs. An offer without an id has none.
pub(crate) fn listings_from_offer(offer: &wire::Offer, warehouse: u64, dc_listings: bool) -> Vec<Listing> {
    let Some(offer_id) = offer.offer_id.as_deref() else { return Vec::new() };
    let sku = offer.sku.clone().unwrap_or_default();
    let status = listing_status(offer.status.as_deref());
    let price = offer.selling_price.map(|p| Money::new(Decimal::from(p), Currency::ZAR));
    let mut ids = platform_ids(offer, offer_id);
    ids.insert("merchant_warehouse_id".into(), warehouse.to_string());
    let mut merchant = Listing::new(merchant_listing_id(offer_id), sku.clone(), 0)
        .with_stock(channel_core::Stock::Tracked { quantity: offer.leadtime_at(warehouse) })
        .with_status(status);
    merchant.ids = ids.clone();
    if let Some(p) = price {
        merchant = merchant.with_price(p);
    }
    let mut out = vec![merchant];
    if dc_listings {
        let mut dc = Listing::new(dc_listing_id(offer_id), sku, offer.dc_total())
            .with_fulfilment(Fulfilment::Channel)
            .with_status(status);
        ids.remove("merchant_warehouse_id");
        dc.ids = ids;
        if let Some(p) = price {
            dc = dc.with_price(p);
        }
        out.push(dc);
    }
    out
}

/// The platform ids both listings of an offer carry: `offer_id`, `tsin`, `barcode`, `rrp`.
fn platform_ids(offer: &wire::Offer, offer_id: &str) -> PlatformIds {
    let mut ids = PlatformIds::new();
    ids.insert("offer_id".into(), offer_id.to_owned());
    if let Some(t) = &offer.tsin_id {
        ids.insert("tsin".into(), t.clone());
    }
    if let Some(b) = offer.barcode.as_ref().filter(|b| !b.is_empty()) {
        ids.insert("barcode".into(), b.clone());
    }
    if let Some(rrp) = offer.rrp {
        ids.insert("rrp".into(), rrp.to_string());
    }
    ids
}

/// An offer's status text as a [`ListingStatus`].
pub(crate) fn listing_status(status: Option<&str>) -> ListingStatus {
    let s = status.unwrap_or("").to_ascii_lowercase();
    if s.contains("disabled by takealot") {
        ListingStatus::DisabledByChannel
    } else if s.contains("disabled") {
        ListingStatus::DisabledBySeller
    } else if s == "buyable" {
        ListingStatus::Active
    } else {
        ListingStatus::Inactive
    }
}

/// Whether a page-numbered read has pages after `page` (numbered from 1, `page_size` a page): by the total
/// the page reports, else by whether the page was full.
pub(crate) fn has_more(page: u32, page_size: usize, returned: usize, total: Option<i64>) -> bool {
    let page = usize::try_from(page).unwrap_or(usize::MAX);
    match total.and_then(|t| usize::try_from(t).ok()) {
        Some(total) => page.saturating_mul(page_size) < total && returned > 0,
        None => returned == page_size,
    }
}

/// The update setting an offer's leadtime stock at `warehouse` (with the configured leadtime days).
pub(crate) fn stock_update(warehouse: u64, leadtime_days: Option<u32>, quantity: i64) -> OfferUpdate {
    OfferUpdate {
        leadtime_days,
        leadtime_stock: Some(vec![LeadtimeStockUpdate { merchant_warehouse_id: warehouse, quantity }]),
        ..OfferUpdate::default()
    }
}

/// The update setting an offer's selling price and, when given, its RRP (whole rand).
pub(crate) fn price_update(selling_price: i64, rrp: Option<i64>) -> OfferUpdate {
    OfferUpdate { selling_price: Some(selling_price), rrp, ..OfferUpdate::default() }
}

/// A price as whole rand under `rounding`; a price in another currency, or out of range, is refused.
pub(crate) fn whole_rand(money: Money, rounding: WholeUnitRounding) -> Result<i64, String> {
    if money.currency != Currency::ZAR {
        return Err(format!("Takealot prices are in ZAR, got {}", money.currency));
    }
    money.round_whole(rounding).amount.to_i64().ok_or_else(|| format!("price {money} is out of range"))
}

/// A price as a whole rand amount the swagger accepts for `selling_price` / `rrp` ("Please ensure you
/// supply us with a positive whole number"): at least 1 after rounding, else the reason it is refused.
pub(crate) fn positive_rand(money: Money, rounding: WholeUnitRounding, field: &str) -> Result<i64, String> {
    let rand = whole_rand(money, rounding)?;
    if rand < 1 {
        return Err(format!(
            "{field} {money} is R {rand} in whole rand; Takealot takes a positive whole number of rand"
        ));
    }
    Ok(rand)
}

/// The reason and retryability of a refusal's `validation_errors`: retryable only when one of its codes is
/// in `retry_codes` (the swagger lists no codes, so none is retryable by default; messages are not read).
pub(crate) fn refusal(errors: &[wire::ApiMessage], retry_codes: &[String]) -> (String, bool) {
    let reason = errors.iter().map(wire::ApiMessage::describe).collect::<Vec<_>>().join("; ");
    let retryable = errors
        .iter()
        .filter_map(|e| e.code.as_deref().map(str::trim).filter(|c| !c.is_empty()))
        .any(|code| retry_codes.iter().any(|r| r == code));
    (reason, retryable)
}

/// The outcome of the item at `index` of `len` (offer `offer_id`, setting `quantity` if a stock write) in a
/// finished batch: its `result[]` entry by the offer id it names, else the entry at the same position when
/// the result has one per item and that entry names no offer. A failed batch (`phase`) applies nothing
/// an entry does not confirm. A refusal is retryable only by `retry_codes` (see [`refusal`]).
pub(crate) fn batch_outcome(
    status: &BatchStatus,
    (phase, retry_codes): (BatchPhase, &[String]),
    (index, len): (usize, usize),
    offer_id: u64,
    quantity: Option<i64>,
) -> Outcome {
    let offer = offer_id.to_string();
    let named = status.result.iter().find(|r| r.offer_id() == Some(offer.as_str()));
    let positional = (status.result.len() == len).then(|| &status.result[index]).filter(|r| r.offer_id().is_none());
    match named.or(positional) {
        Some(r) if !r.validation_errors.is_empty() => {
            let (reason, retryable) = refusal(&r.validation_errors, retry_codes);
            Outcome::Rejected { reason, retryable }
        }
        Some(_) if phase == BatchPhase::Succeeded => Outcome::Applied { quantity },
        Some(_) => Outcome::Rejected {
            reason: format!("Takealot reported the batch as {}", describe(status)),
            retryable: true,
        },
        None => Outcome::Rejected {
            reason: format!("Takealot reported no result for this offer in the batch ({})", describe(status)),
            retryable: true,
        },
    }
}

/// A batch's status for messages, `no status` when Takealot gave none.
pub(crate) fn describe(status: &BatchStatus) -> String {
    status.status.as_ref().map_or_else(|| "no status".to_owned(), wire::BatchState::describe)
}

/// Normalise a Takealot sale status.
pub(crate) fn order_status(status: &str) -> OrderStatus {
    let s = status.to_ascii_lowercase();
    if s.contains("cancel") {
        OrderStatus::Cancelled
    } else if s.contains("return") {
        OrderStatus::Returned
    } else if s.contains("deliver") {
        OrderStatus::Delivered
    } else if s.contains("shipped") || s.contains("collected") || s.contains("transit") {
        OrderStatus::Shipped
    } else {
        OrderStatus::Open
    }
}

/// Whether a sale was fulfilled from the seller's leadtime stock (see the README: the status names it, or
/// the sale carries a leadtime purchase order).
pub(crate) fn is_leadtime(sale: &wire::Sale) -> bool {
    let s = sale.sale_status.as_deref().unwrap_or("").to_ascii_lowercase();
    s.contains("lead time")
        || s.contains("leadtime")
        || s.contains("drop ship")
        || s.contains("dropship")
        || sale.po_number.is_some()
}

/// A date or date-time as a timestamp (local times and dates at midnight UTC); `None` when absent or
/// unreadable. For the webhook deliveries' own event times, which carry their offset (`2025-02-15T10:00:00Z`).
pub(crate) fn parse_when(raw: Option<&str>) -> Option<Timestamp> {
    local_or_offset(raw?.trim(), &TimeZone::UTC)
}

/// `text` as a timestamp: an RFC 3339 time with its own offset, else `01 Oct 2021 13:47:32`,
/// `YYYY-MM-DD[ HH:MM:SS]` or a bare date (at midnight) in local time `zone`. The one place the accepted
/// formats live (see [`ORDER_DATE_FORMATS`]).
fn local_or_offset(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let local = jiff::civil::DateTime::strptime("%d %b %Y %H:%M:%S", text)
        .ok()
        .or_else(|| text.parse::<jiff::civil::DateTime>().ok())
        .or_else(|| text.parse::<Date>().ok().map(|d| d.to_datetime(jiff::civil::Time::midnight())))?;
    local.to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

/// The formats a sale's `order_date` is read in, for errors.
const ORDER_DATE_FORMATS: &str =
    "`01 Oct 2021 13:47:32` (local time), `YYYY-MM-DD[ HH:MM:SS]` (local time) or RFC 3339 with an offset";

/// How sales are read: the time zone of their local times and what `selling_price` means.
#[derive(Debug, Clone)]
pub(crate) struct SalesFormat {
    /// The zone of `order_date` local times (South African Standard Time, UTC+2, by default).
    pub(crate) zone: TimeZone,
    /// `selling_price` is unit × quantity (else the unit price).
    pub(crate) line_total: bool,
}

impl SalesFormat {
    /// The format `config` describes.
    pub(crate) fn of(config: &crate::TakealotConfig) -> Self {
        Self { zone: config.sales_time_zone(), line_total: config.sale_price_is_line_total }
    }
}

/// A sale's `order_date`: `01 Oct 2021 13:47:32` as `GET /v2/sales` gives it, or a `YYYY-MM-DD` date (the
/// webhook examples), in local time `zone`; an RFC 3339 time keeps its own offset. Anything else, or no
/// date, is [`TakealotError::InvalidDate`].
pub(crate) fn order_date(raw: Option<&str>, zone: &TimeZone, what: &str) -> Result<Timestamp, TakealotError> {
    let text = raw.map(str::trim).unwrap_or_default();
    local_or_offset(text, zone).ok_or_else(|| TakealotError::InvalidDate {
        what: what.to_owned(),
        field: "order_date".into(),
        value: text.to_owned(),
        expected: ORDER_DATE_FORMATS.into(),
    })
}

/// One order line from a sale; its unit price from `selling_price` (a line total divided by the quantity
/// unless `format` says it is the unit price).
pub(crate) fn sale_line(sale: &wire::Sale, format: &SalesFormat) -> OrderLine {
    let quantity = sale.quantity.and_then(|q| u32::try_from(q).ok()).unwrap_or(0);
    let line_id = sale
        .order_item_id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", sale.order_id.as_deref().unwrap_or(""), sale.sku.as_deref().unwrap_or("")));
    let status = order_status(sale.sale_status.as_deref().unwrap_or(""));
    let mut line = OrderLine::new(line_id, sale.sku.clone().unwrap_or_default(), quantity)
        .with_fulfilment(if is_leadtime(sale) { Fulfilment::Merchant } else { Fulfilment::Channel });
    if let Some(offer) = &sale.offer_id {
        line = line.with_listing(offer.as_str());
    }
    let unit = match sale.selling_price {
        Some(total) if format.line_total && quantity > 0 => Some(total / Decimal::from(quantity)),
        Some(_) if format.line_total => None,
        price => price,
    };
    if let Some(unit) = unit {
        line = line.with_unit_price(Money::new(unit.normalize(), Currency::ZAR));
    }
    if status.releases_stock() {
        line = line.with_refunded(quantity);
    }
    line
}

/// Sales grouped into orders (one sale per order item), first-seen order kept; an unreadable `order_date`
/// fails the page.
pub(crate) fn group_sales(sales: &[wire::Sale], format: &SalesFormat) -> Result<Vec<Order>, TakealotError> {
    let mut orders: Vec<(String, Vec<&wire::Sale>)> = Vec::new();
    for sale in sales {
        let Some(id) = sale.order_id.clone() else { continue };
        match orders.iter_mut().find(|(o, _)| *o == id) {
            Some((_, list)) => list.push(sale),
            None => orders.push((id, vec![sale])),
        }
    }
    orders.into_iter().map(|(id, sales)| order_from_sales(&id, &sales, None, format, "GET /v2/sales")).collect()
}

/// An order from its sales (`what` names the call or payload, for errors); `updated` overrides the change
/// time (a webhook's event time).
pub(crate) fn order_from_sales(
    id: &str,
    sales: &[&wire::Sale],
    updated: Option<Timestamp>,
    format: &SalesFormat,
    what: &str,
) -> Result<Order, TakealotError> {
    let lines: Vec<OrderLine> = sales.iter().map(|s| sale_line(s, format)).collect();
    // The order's status is that of a line still holding stock, if any, else the first line's.
    let lead = sales
        .iter()
        .find(|s| !order_status(s.sale_status.as_deref().unwrap_or("")).releases_stock())
        .or_else(|| sales.first());
    let channel_status = lead.and_then(|s| s.sale_status.clone()).unwrap_or_default();
    let mut created: Option<Timestamp> = None;
    for sale in sales {
        let at = order_date(sale.order_date.as_deref(), &format.zone, what)?;
        created = Some(created.map_or(at, |c| c.min(at)));
    }
    let created =
        created.ok_or_else(|| TakealotError::Unexpected { what: what.to_owned(), detail: "no sales".into() })?;
    Ok(Order::new(
        id,
        order_status(&channel_status),
        channel_status,
        lines,
        created,
        updated.unwrap_or(created).max(created),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn offer(value: serde_json::Value) -> wire::Offer {
        serde_json::from_value(value).unwrap()
    }

    fn sample() -> wire::Offer {
        offer(json!({
            "offer_id": 555, "tsin_id": 556, "sku": "MUG", "barcode": "600555", "selling_price": 299, "rrp": 349,
            "status": "Buyable",
            "leadtime_stock": [
                {"merchant_warehouse": {"warehouse_id": 1}, "quantity_available": 99},
                {"merchant_warehouse": {"warehouse_id": 28676}, "quantity_available": 7}
            ],
            "stock_at_takealot": [{"warehouse": {"warehouse_id": 3}, "quantity_available": 2},
                                  {"warehouse": {"warehouse_id": 4}, "quantity_available": 3}]
        }))
    }

    #[test]
    fn an_offer_is_a_merchant_and_a_dc_listing() {
        let listings = listings_from_offer(&sample(), 28676, true);
        assert_eq!(listings.len(), 2);
        let (merchant, dc) = (&listings[0], &listings[1]);
        assert_eq!((merchant.id.as_str(), merchant.quantity()), ("555", Some(7)), "only the configured warehouse");
        assert_eq!((merchant.fulfilment, merchant.status), (Fulfilment::Merchant, ListingStatus::Active));
        assert_eq!(merchant.price, Some(Money::new(Decimal::from(299), Currency::ZAR)));
        assert_eq!(merchant.ids["merchant_warehouse_id"], "28676");
        assert_eq!((merchant.ids["tsin"].as_str(), merchant.ids["rrp"].as_str()), ("556", "349"));
        assert_eq!((dc.id.as_str(), dc.quantity(), dc.fulfilment), ("555:dc", Some(5), Fulfilment::Channel));
        assert!(!dc.ids.contains_key("merchant_warehouse_id"));
        assert_eq!(listings_from_offer(&sample(), 28676, false).len(), 1, "DC listings off");
        assert!(listings_from_offer(&offer(json!({"offer_id": null})), 1, true).is_empty(), "no id, no listing");
    }

    #[test]
    fn statuses_and_listing_ids() {
        assert_eq!(listing_status(Some("Disabled by Takealot")), ListingStatus::DisabledByChannel);
        assert_eq!(listing_status(Some("Disabled by Seller")), ListingStatus::DisabledBySeller);
        assert_eq!(listing_status(Some("Not Buyable")), ListingStatus::Inactive);
        assert_eq!(listing_status(None), ListingStatus::Inactive);
        assert_eq!(offer_ref(&ListingId::new("123")).unwrap(), OfferRef { offer_id: 123, dc: false });
        assert_eq!(offer_ref(&ListingId::new("123:dc")).unwrap(), OfferRef { offer_id: 123, dc: true });
        for bad in ["", ":dc", "SKU-1", "12a", "-1"] {
            let err = offer_ref(&ListingId::new(bad)).unwrap_err();
            assert!(matches!(err, TakealotError::InvalidListingId { ref id, .. } if id == bad), "{bad}: {err}");
        }
    }

    #[test]
    fn paging_stops_at_the_total_or_a_short_page() {
        assert!(has_more(1, 100, 100, Some(101)));
        assert!(!has_more(2, 100, 1, Some(101)));
        assert!(!has_more(1, 100, 0, Some(500)), "an empty page ends the read whatever the total says");
        assert!(has_more(1, 100, 100, None));
        assert!(!has_more(1, 100, 99, None));
    }

    #[test]
    fn updates_and_prices() {
        let body = serde_json::to_value(stock_update(28676, Some(5), 12)).unwrap();
        assert_eq!(
            body,
            json!({"leadtime_days": 5, "leadtime_stock": [{"merchant_warehouse_id": 28676, "quantity": 12}]})
        );
        assert_eq!(serde_json::to_value(price_update(300, None)).unwrap(), json!({"selling_price": 300}));
        let half = Money::new(Decimal::new(9950, 2), Currency::ZAR);
        assert_eq!(whole_rand(half, WholeUnitRounding::default()), Ok(100));
        assert!(whole_rand(Money::new(Decimal::from(1), Currency::USD), WholeUnitRounding::default()).is_err());
        let rand = |s: &str| positive_rand(Money::new(s.parse().unwrap(), Currency::ZAR), Default::default(), "price");
        assert_eq!(rand("0.50"), Ok(1));
        assert!(rand("0.49").is_err(), "rounds to 0");
        assert!(rand("-5").is_err());
    }

    #[test]
    fn refusals_are_retryable_only_by_configured_code() {
        let errors: Vec<wire::ApiMessage> = serde_json::from_value(json!([
            {"code": "", "message": "Temporary processing error, please retry"},
            {"message": "temporarily unavailable"}
        ]))
        .unwrap();
        assert!(!refusal(&errors, &[]).1, "wording is not read");
        assert!(!refusal(&errors, &["".to_owned()]).1, "an empty code names nothing");
        let coded: Vec<wire::ApiMessage> = serde_json::from_value(json!([{"code": "E42", "message": "x"}])).unwrap();
        assert_eq!(refusal(&coded, &["E42".to_owned()]), ("E42: x".to_owned(), true));
        assert!(!refusal(&coded, &["E4".to_owned()]).1);
    }

    #[test]
    fn batch_results_by_offer_then_position() {
        let status: BatchStatus = serde_json::from_value(json!({"batch_id": "1", "status": {"id": 4, "description": "Success"},
            "result": [
                {"offer": {"offer_id": 7}, "validation_errors": []},
                {"offer": {"offer_id": 8}, "validation_errors": [{"code": "E99", "message": "Temporary error, please retry"}]},
                {"offer": {"offer_id": 9}, "validation_errors": [{"code": "E11", "message": "Offer disabled"}]}
        ]}))
        .unwrap();
        let none: &[String] = &[];
        let ok = (BatchPhase::Succeeded, none);
        assert_eq!(batch_outcome(&status, ok, (0, 4), 7, Some(3)), Outcome::Applied { quantity: Some(3) });
        assert!(
            matches!(batch_outcome(&status, ok, (1, 4), 8, None), Outcome::Rejected { retryable: false, .. }),
            "a message asking to retry is not a retryable code"
        );
        let e99 = ["E99".to_owned()];
        assert!(matches!(
            batch_outcome(&status, (BatchPhase::Succeeded, &e99), (1, 4), 8, None),
            Outcome::Rejected { retryable: true, .. }
        ));
        assert_eq!(
            batch_outcome(&status, ok, (2, 4), 9, None),
            Outcome::Rejected { reason: "E11: Offer disabled".into(), retryable: false }
        );
        assert!(matches!(batch_outcome(&status, ok, (3, 4), 10, None), Outcome::Rejected { retryable: true, .. }));
        assert!(
            matches!(
                batch_outcome(&status, (BatchPhase::Failed, none), (0, 4), 7, None),
                Outcome::Rejected { retryable: true, .. }
            ),
            "a failed batch confirms nothing without errors"
        );
        let unnamed: BatchStatus =
            serde_json::from_value(json!({"status": {"id": 4}, "result": [{"validation_errors": []}]})).unwrap();
        assert_eq!(batch_outcome(&unnamed, ok, (0, 1), 5, None), Outcome::Applied { quantity: None }, "by position");
    }

    #[test]
    fn order_dates_are_local_south_african_time_or_an_error() {
        let sast = TimeZone::fixed(jiff::tz::offset(2));
        let at = |raw: &str| order_date(Some(raw), &sast, "test").map(|t| t.to_string());
        assert_eq!(at("01 Oct 2021 13:47:32").unwrap(), "2021-10-01T11:47:32Z");
        assert_eq!(at("2025-02-15").unwrap(), "2025-02-14T22:00:00Z");
        assert_eq!(at("2025-02-15 10:00:00").unwrap(), "2025-02-15T08:00:00Z");
        assert_eq!(at("2025-02-15T10:00:00Z").unwrap(), "2025-02-15T10:00:00Z");
        for bad in ["", "yesterday", "32 Oct 2021 13:47:32", "2021-13-01"] {
            let err = order_date(Some(bad), &sast, "test").unwrap_err();
            assert!(matches!(err, TakealotError::InvalidDate { ref value, .. } if value == bad), "{bad}: {err}");
            assert_eq!(err.kind(), channel_core::ErrorKind::Decode);
        }
        assert!(order_date(None, &sast, "test").is_err(), "no date is no 1970");
    }

    #[test]
    fn an_explicit_offset_wins_over_the_local_zone() {
        let sast = TimeZone::fixed(jiff::tz::offset(2));
        let at = order_date(Some("2025-02-15T10:00:00+05:00"), &sast, "test").unwrap();
        assert_eq!(at.to_string(), "2025-02-15T05:00:00Z");
        assert_eq!(parse_when(Some("2025-02-15 10:00:00")).unwrap().to_string(), "2025-02-15T10:00:00Z", "UTC");
    }

    #[test]
    fn sales_become_orders() {
        let sales: Vec<wire::Sale> = serde_json::from_value(json!([
            {"order_item_id": 1, "order_id": 10, "order_date": "01 Feb 2025 09:00:00", "sale_status": "Cancelled",
             "offer_id": 555, "sku": "MUG", "selling_price": 300.0, "quantity": 2},
            {"order_item_id": 2, "order_id": 10, "order_date": "01 Feb 2025 10:00:00", "sale_status": "New Lead Time Order",
             "offer_id": 556, "sku": "CUP", "selling_price": 99.5, "quantity": 1},
            {"order_item_id": 3, "order_id": 11, "order_date": "02 Feb 2025 08:30:00", "sale_status": "Shipped to Customer",
             "po_number": 77, "sku": "MUG", "quantity": 1}
        ]))
        .unwrap();
        let format = SalesFormat { zone: TimeZone::fixed(jiff::tz::offset(2)), line_total: true };
        let orders = group_sales(&sales, &format).unwrap();
        assert_eq!(orders.len(), 2);
        let first = &orders[0];
        assert_eq!((first.id.as_str(), first.status), ("10", OrderStatus::Open), "the line still holding stock leads");
        assert_eq!(first.lines[0].refunded_quantity, 2, "a cancelled item releases its units");
        assert_eq!(first.lines[0].unit_price, Some(Money::new(Decimal::from(150), Currency::ZAR)));
        assert_eq!(first.lines[1].unit_price, Some(Money::new(Decimal::new(995, 1), Currency::ZAR)), "cents kept");
        assert_eq!(first.lines[1].fulfilment, Fulfilment::Merchant);
        assert_eq!(first.created_at.to_string(), "2025-02-01T07:00:00Z", "the earliest line, SAST to UTC");
        assert_eq!((orders[1].status, orders[1].lines[0].fulfilment), (OrderStatus::Shipped, Fulfilment::Merchant));
        let unit = SalesFormat { line_total: false, ..format.clone() };
        let orders = group_sales(&sales, &unit).unwrap();
        assert_eq!(orders[0].lines[0].unit_price, Some(Money::new(Decimal::from(300), Currency::ZAR)), "unit price");
        let mut undated = sales.clone();
        undated[2].order_date = Some("sometime".into());
        assert!(matches!(group_sales(&undated, &format), Err(TakealotError::InvalidDate { .. })));
    }
}
