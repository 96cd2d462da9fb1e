//! Pure mapping between SP-API shapes ([`crate::wire`], reports) and stocksync's domain types.

use channel_core::{Currency, Fulfilment, Listing, ListingId, ListingStatus, Money, OrderStatus, PlatformIds, Stock};

use crate::config::marketplace_currency;
use crate::error::AmazonError;
use crate::wire;

/// The suffix of the read-only FBA listing of a SKU.
pub(crate) const FBA_SUFFIX: &str = ":fba";

/// The listing id of a SKU's FBA (channel-held) quantity: `<sku>:fba`.
pub(crate) fn fba_listing_id(sku: &str) -> ListingId {
    ListingId::new(format!("{sku}{FBA_SUFFIX}"))
}

/// Whether a listing is the read-only FBA listing of a SKU (by its id or its `fulfilment` platform id).
pub(crate) fn is_fba(id: &ListingId, ids: &PlatformIds) -> bool {
    id.as_str().ends_with(FBA_SUFFIX) || ids.get("fulfilment").is_some_and(|f| f == "channel")
}

/// The currency Amazon sells in on a marketplace, as a [`Currency`].
pub(crate) fn currency_of(marketplace: &str) -> Option<Currency> {
    marketplace_currency(marketplace).and_then(|c| Currency::new(c).ok())
}

/// Map a v0 `OrderStatus` (the spelling of `ORDER_CHANGE` notifications).
pub(crate) fn map_order_status(status: &str) -> OrderStatus {
    match status {
        "Pending" | "PendingAvailability" => OrderStatus::Pending,
        "Unshipped" => OrderStatus::Open,
        "PartiallyShipped" | "Shipped" | "InvoiceUnconfirmed" => OrderStatus::Shipped,
        "Canceled" | "Cancelled" | "Unfulfillable" => OrderStatus::Cancelled,
        _ => OrderStatus::Open,
    }
}

/// The merchant listing of a listings item on `marketplace`; `None` for an FBA-only item (only Amazon
/// fulfilment channels), which is listed from the FBA inventory instead.
pub(crate) fn listing_from_item(item: &wire::Item, marketplace: &str) -> Option<Listing> {
    let merchant = item.fulfillment_availability.iter().find(|f| f.fulfillment_channel_code == "DEFAULT");
    let stock = match merchant {
        Some(f) => Stock::Tracked { quantity: f.quantity.unwrap_or(0) },
        None if !item.fulfillment_availability.is_empty() => return None,
        None => Stock::Untracked,
    };
    let summary = item.summaries.iter().find(|s| s.marketplace_id == marketplace).or_else(|| item.summaries.first());
    let status = match summary {
        Some(s) if s.status.iter().any(|x| x == "BUYABLE") => ListingStatus::Active,
        Some(_) => ListingStatus::Inactive,
        None => ListingStatus::Active,
    };
    let mut l = Listing::new(item.sku.as_str(), item.sku.clone(), 0)
        .with_stock(stock)
        .with_status(status)
        .with_id("marketplace_id", marketplace);
    if let Some(s) = summary {
        if let Some(pt) = &s.product_type {
            l = l.with_id("product_type", pt.clone());
        }
        if let Some(asin) = &s.asin {
            l = l.with_id("asin", asin.clone());
        }
    }
    let offer = item
        .offers
        .iter()
        .filter(|o| o.marketplace_id == marketplace)
        .find(|o| o.offer_type.as_deref().is_none_or(|t| t == "B2C"));
    if let Some(price) = offer.and_then(|o| o.price.as_ref())
        && let (Ok(c), Some(amount)) = (Currency::new(&price.currency_code), price.amount.decimal())
    {
        l = l.with_price(Money::new(amount, c));
    }
    Some(l)
}

/// The channel-fulfilled listing `<sku>:fba` of an FBA inventory summary (`None` without a SKU).
pub(crate) fn listing_from_inventory(s: &wire::InventorySummary, marketplace: &str) -> Option<Listing> {
    let sku = s.seller_sku.as_deref().filter(|s| !s.is_empty())?;
    let quantity = s.inventory_details.as_ref().and_then(|d| d.fulfillable_quantity).or(s.total_quantity).unwrap_or(0);
    let mut l = Listing::new(fba_listing_id(sku), sku, quantity)
        .with_fulfilment(Fulfilment::Channel)
        .with_id("marketplace_id", marketplace)
        .with_id("fulfilment", "channel");
    if let Some(a) = &s.asin {
        l = l.with_id("asin", a.clone());
    }
    if let Some(f) = &s.fn_sku {
        l = l.with_id("fnsku", f.clone());
    }
    Some(l)
}

/// The report that lists every listing (Reports API report type), read beyond the search cap.
pub(crate) const ALL_LISTINGS_REPORT: &str = "GET_MERCHANT_LISTINGS_ALL_DATA";

/// The columns of `GET_MERCHANT_LISTINGS_ALL_DATA` this adapter reads, and the spellings each is known
/// by. Amazon's US header says `fulfillment-channel`; EU and UK accounts receive `fulfilment-channel`
/// (British spelling, as public clients read it: Emipro's Odoo connector, singer-io taps); Japanese
/// accounts receive a Japanese header (`出品者SKU`, `フルフィルメント・チャンネル`, …). Headers are
/// compared after [`column_key`] (BOM, case, spaces, `_`/` `/`-`).
const REPORT_COLUMNS: &[(ReportColumn, &[&str])] = &[
    (ReportColumn::Sku, &["seller-sku", "sku", "出品者sku"]),
    (ReportColumn::Quantity, &["quantity", "数量"]),
    (ReportColumn::Price, &["price", "価格"]),
    (ReportColumn::Status, &["status", "ステータス"]),
    (ReportColumn::Fulfilment, &["fulfillment-channel", "fulfilment-channel", "フルフィルメント・チャンネル"]),
    (ReportColumn::Asin, &["asin1", "asin-1"]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportColumn {
    Sku,
    Quantity,
    Price,
    Status,
    Fulfilment,
    Asin,
}

/// A header cell as compared: no BOM, trimmed, lower case, `_` and inner spaces as `-`.
fn column_key(cell: &str) -> String {
    let cell = cell.trim_start_matches('\u{feff}').trim();
    let mut key = String::with_capacity(cell.len());
    for c in cell.chars() {
        match c {
            '_' | ' ' | '\u{3000}' => key.push('-'),
            c => key.extend(c.to_lowercase()),
        }
    }
    key
}

/// Who fulfils a report row, from its fulfilment channel cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowFulfilment {
    /// `DEFAULT`: merchant-fulfilled, a writable listing.
    Merchant,
    /// `AMAZON_NA`, `AMAZON_EU`, `AMAZON_FE`, `AMAZON_JP`, `AMAZON_IN`, …: fulfilled by Amazon.
    Amazon,
}

/// The fulfilment of a channel value, `None` for a value Amazon does not document.
pub(crate) fn row_fulfilment(value: &str) -> Option<RowFulfilment> {
    let v = value.trim().to_ascii_uppercase();
    if v == "DEFAULT" {
        Some(RowFulfilment::Merchant)
    } else if v.strip_prefix("AMAZON_").is_some_and(|region| !region.is_empty()) {
        Some(RowFulfilment::Amazon)
    } else {
        None
    }
}

fn report_error(detail: impl Into<String>) -> AmazonError {
    AmazonError::UnreadableReport { report: ALL_LISTINGS_REPORT, detail: detail.into() }
}

/// Parse a `GET_MERCHANT_LISTINGS_ALL_DATA` report (tab-separated, header row) into merchant listings;
/// FBA rows (fulfilment channel `AMAZON_*`) are left to the FBA inventory.
///
/// Errors ([`AmazonError::UnreadableReport`], `Decode`): no header, no SKU or no fulfilment-channel column
/// (in any spelling of [`REPORT_COLUMNS`]), or a row whose fulfilment channel is missing or not one
/// Amazon documents: a row that cannot be told merchant from Amazon is never taken for a merchant one,
/// since writing it would turn an FBA offer into a merchant offer.
pub(crate) fn parse_listings_report(text: &str, marketplace_id: &str) -> Result<Vec<Listing>, AmazonError> {
    let mut lines = text.lines();
    let Some(header) = lines.next().filter(|h| !h.trim().is_empty()) else {
        return Err(report_error("the report has no header row"));
    };
    let keys: Vec<String> = header.split('\t').map(column_key).collect();
    let col = |which: ReportColumn| {
        let names = REPORT_COLUMNS.iter().find(|(c, _)| *c == which).map_or(&[][..], |(_, names)| names);
        keys.iter().position(|k| names.iter().any(|n| n == k))
    };
    let Some(sku_col) = col(ReportColumn::Sku) else {
        return Err(report_error("the header has no seller-sku column"));
    };
    let Some(channel_col) = col(ReportColumn::Fulfilment) else {
        return Err(report_error("the header has no fulfilment-channel column (in any known spelling)"));
    };
    let (qty_col, price_col, status_col, asin_col) =
        (col(ReportColumn::Quantity), col(ReportColumn::Price), col(ReportColumn::Status), col(ReportColumn::Asin));
    let currency = currency_of(marketplace_id);
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: Option<usize>| i.and_then(|i| f.get(i)).map(|s| s.trim()).filter(|s| !s.is_empty());
        let Some(sku) = get(Some(sku_col)) else { continue };
        let fulfilment = match get(Some(channel_col)) {
            None => return Err(report_error(format!("row {} ({sku}) has no fulfilment channel", n + 2))),
            Some(value) => row_fulfilment(value).ok_or_else(|| {
                report_error(format!("row {} ({sku}) has the unknown fulfilment channel {value:?}", n + 2))
            })?,
        };
        if fulfilment == RowFulfilment::Amazon {
            continue;
        }
        let stock = match get(qty_col).and_then(|q| q.parse::<i64>().ok()) {
            Some(q) => Stock::Tracked { quantity: q },
            None => Stock::Untracked,
        };
        let status = match get(status_col) {
            Some(s) if !s.eq_ignore_ascii_case("active") && s != "出品中" => ListingStatus::Inactive,
            _ => ListingStatus::Active,
        };
        let mut l =
            Listing::new(sku, sku, 0).with_stock(stock).with_status(status).with_id("marketplace_id", marketplace_id);
        if let Some(a) = get(asin_col) {
            l = l.with_id("asin", a);
        }
        if let (Some(c), Some(p)) = (currency, get(price_col).and_then(|p| p.parse().ok())) {
            l = l.with_price(Money::new(p, c));
        }
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn item(json: Value) -> wire::Item {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn merchant_items_become_listings_and_fba_only_items_do_not() {
        let mfn = item(json!({
            "sku": "MUG-1",
            "summaries": [{"marketplaceId": "ATVPDKIKX0DER", "productType": "MUG", "asin": "B01", "status": ["BUYABLE"]}],
            "offers": [{"marketplaceId": "ATVPDKIKX0DER", "offerType": "B2C", "price": {"currencyCode": "USD", "amount": "9.50"}}],
            "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT", "quantity": 7}]
        }));
        let l = listing_from_item(&mfn, "ATVPDKIKX0DER").unwrap();
        assert_eq!(l.id.as_str(), "MUG-1");
        assert_eq!(l.quantity(), Some(7));
        assert_eq!(l.status, ListingStatus::Active);
        assert_eq!(l.ids.get("product_type").map(String::as_str), Some("MUG"));
        assert_eq!(l.price.map(|p| p.amount.to_string()), Some("9.50".to_owned()));
        let fba = item(
            json!({"sku": "BOX", "fulfillmentAvailability": [{"fulfillmentChannelCode": "AMAZON_NA", "quantity": 3}]}),
        );
        assert!(listing_from_item(&fba, "ATVPDKIKX0DER").is_none());
        let bare = listing_from_item(&item(json!({"sku": "X"})), "ATVPDKIKX0DER").unwrap();
        assert_eq!(bare.quantity(), None, "no fulfilment availability: untracked");
    }

    #[test]
    fn fba_ids_and_inventory() {
        assert_eq!(fba_listing_id("A").as_str(), "A:fba");
        assert!(is_fba(&fba_listing_id("A"), &PlatformIds::default()));
        assert!(!is_fba(&ListingId::new("A"), &PlatformIds::default()));
        let s: wire::InventorySummary = serde_json::from_value(json!({
            "sellerSku": "BOX", "asin": "B02", "fnSku": "X00", "totalQuantity": 9,
            "inventoryDetails": {"fulfillableQuantity": 5}
        }))
        .unwrap();
        let l = listing_from_inventory(&s, "ATVPDKIKX0DER").unwrap();
        assert_eq!((l.id.as_str(), l.quantity(), l.fulfilment), ("BOX:fba", Some(5), Fulfilment::Channel));
        let no_sku: wire::InventorySummary = serde_json::from_value(json!({"totalQuantity": 1})).unwrap();
        assert!(listing_from_inventory(&no_sku, "ATVPDKIKX0DER").is_none());
    }

    #[test]
    fn report_rows_skip_fba() {
        let text = "item-name\tseller-sku\tprice\tquantity\tstatus\tfulfillment-channel\tasin1\n\
                    Mug\tMUG-1\t9.50\t12\tActive\tDEFAULT\tB01\nBox\tBOX\t5.00\t\tActive\tAMAZON_NA\tB02\n";
        let listings = parse_listings_report(text, "ATVPDKIKX0DER").unwrap();
        assert_eq!(listings.len(), 1);
        assert_eq!(listings[0].quantity(), Some(12));
        assert!(parse_listings_report("", "ATVPDKIKX0DER").is_err(), "no header: an error, not an empty catalog");
    }

    #[test]
    fn eu_spelling_bom_case_and_japanese_headers_are_read() {
        // An EU account's header: British spelling, a BOM, odd case and padding.
        let eu = "\u{feff}item-name\tSeller-SKU \tprice\tquantity\tstatus\t Fulfilment-Channel\tasin1\n\
                  Mug\tMUG-1\t9.50\t12\tActive\tDEFAULT\tB01\nBox\tBOX\t5.00\t\tActive\tAMAZON_EU\tB02\n";
        let listings = parse_listings_report(eu, "A1PA6795UKMFR9").unwrap();
        assert_eq!(listings.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["MUG-1"], "the AMAZON_EU row is FBA");
        let jp = "商品名\t出品ID\t出品者SKU\t価格\t数量\tフルフィルメント・チャンネル\tステータス\n\
                  マグ\t1\tMUG-1\t950\t3\tDEFAULT\t出品中\n箱\t2\tBOX\t500\t\tAMAZON_JP\t出品中\n";
        let listings = parse_listings_report(jp, "A1VC38T7YXB528").unwrap();
        assert_eq!(listings.len(), 1);
        assert_eq!((listings[0].id.as_str(), listings[0].quantity()), ("MUG-1", Some(3)));
        assert_eq!(listings[0].status, ListingStatus::Active);
    }

    #[test]
    fn a_row_that_cannot_be_told_merchant_is_an_error() {
        let missing = "seller-sku\tquantity\tfulfillment-channnel\nMUG-1\t3\tDEFAULT\n";
        let e = parse_listings_report(missing, "ATVPDKIKX0DER").unwrap_err();
        assert!(matches!(e, AmazonError::UnreadableReport { .. }), "{e:?}");
        assert_eq!(e.kind(), channel_core::ErrorKind::Decode);
        let unknown = "seller-sku\tquantity\tfulfillment-channel\nMUG-1\t3\tMERCHANT\n";
        assert!(parse_listings_report(unknown, "ATVPDKIKX0DER").unwrap_err().to_string().contains("MERCHANT"));
        let blank = "seller-sku\tquantity\tfulfillment-channel\nMUG-1\t3\n";
        assert!(parse_listings_report(blank, "ATVPDKIKX0DER").is_err());
        for code in ["AMAZON_NA", "amazon_eu", "AMAZON_FE", "AMAZON_JP", "AMAZON_IN"] {
            assert_eq!(row_fulfilment(code), Some(RowFulfilment::Amazon), "{code}");
        }
        assert_eq!(row_fulfilment("AMAZON_"), None);
        assert_eq!(row_fulfilment(" DEFAULT "), Some(RowFulfilment::Merchant));
    }

    #[test]
    fn notification_statuses() {
        assert_eq!(map_order_status("Unshipped"), OrderStatus::Open);
        assert_eq!(map_order_status("Canceled"), OrderStatus::Cancelled);
    }
}
