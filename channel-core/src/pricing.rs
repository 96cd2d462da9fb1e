//! Price lists: one price per SKU, kept either VAT-inclusive (B2C) or VAT-exclusive (B2B), turned into the
//! price each channel wants.
//!
//! A [`PriceList`] stores amounts as the seller maintains them, on one [`PriceBasis`], in one [`Currency`],
//! with the [`VatRate`] that applies. A [`ChannelPricing`] says what a channel expects: the basis (B2C
//! storefronts show gross prices, B2B channels take net prices) and, for channels that sell in whole units
//! only (Takealot sells in whole rand), a [`WholeUnitRounding`] rule. [`PriceList::price_for`] converts and
//! rounds:
//!
//! 1. convert between gross and net at full precision (`gross = net × (1 + rate)`, `net = gross ÷ (1 + rate)`);
//! 2. round half-up (half away from zero) to the currency's minor unit: this is the price as the seller
//!    would see it on that basis (R 99.4999… shows as R 99.50);
//! 3. if the channel sells in whole units, round that minor-unit price with the channel's rule.
//!
//! Step 3 deliberately starts from the minor-unit price of step 2, so the whole-unit price always agrees
//! with the price the seller sees in cents (R 99.50 → R 100 half-up), never with an invisible fraction of a
//! cent.
//!
//! ```
//! use std::str::FromStr;
//! use channel_core::pricing::{ChannelPricing, PriceBasis, PriceList};
//! use channel_core::rust_decimal::Decimal;
//! use channel_core::{Currency, Sku, VatRate, WholeUnitRounding};
//!
//! let vat = VatRate::from_percent(Decimal::from(15)).unwrap();
//! let mut list = PriceList::new(PriceBasis::Net, Currency::ZAR, vat);
//! let sku = Sku::new("TS-001").unwrap();
//! list.insert(sku.clone(), Decimal::from_str("86.52").unwrap());
//!
//! // A B2C storefront gets the gross price in cents; Takealot gets whole rand.
//! let storefront = list.price_for(&sku, &ChannelPricing::gross()).unwrap();
//! assert_eq!(storefront.to_string(), "ZAR 99.50");
//! let takealot = list.price_for(&sku, &ChannelPricing::gross().whole_units(WholeUnitRounding::HalfUp)).unwrap();
//! assert_eq!(takealot.to_string(), "ZAR 100.00");
//! // A B2B channel gets the net price as stored.
//! assert_eq!(list.price_for(&sku, &ChannelPricing::net()).unwrap().to_string(), "ZAR 86.52");
//! ```
//!
//! Everything here is pure: no I/O, no clock.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::listing::Listing;
use crate::money::{Currency, Money, VatRate, WholeUnitRounding};
use crate::sku::Sku;
use crate::update::PriceUpdate;

/// Whether an amount includes VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceBasis {
    /// VAT inclusive: what a consumer pays (B2C storefronts, marketplaces).
    Gross,
    /// VAT exclusive: what a business customer is quoted (B2B channels).
    Net,
}

impl PriceBasis {
    /// A short stable name (`"gross"`, `"net"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gross => "gross",
            Self::Net => "net",
        }
    }
}

/// What a channel expects of a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelPricing {
    /// The basis the channel takes prices on (gross for B2C storefronts and marketplaces).
    pub basis: PriceBasis,
    /// For channels that sell in whole units only (Takealot: whole rand), how to round to a whole unit.
    #[serde(default)]
    pub whole_units: Option<WholeUnitRounding>,
}

impl ChannelPricing {
    /// A channel that takes prices on `basis`, in minor units.
    pub const fn new(basis: PriceBasis) -> Self {
        Self { basis, whole_units: None }
    }

    /// A B2C channel: VAT-inclusive prices in minor units.
    pub const fn gross() -> Self {
        Self::new(PriceBasis::Gross)
    }

    /// A B2B channel: VAT-exclusive prices in minor units.
    pub const fn net() -> Self {
        Self::new(PriceBasis::Net)
    }

    /// The same channel, selling in whole units rounded with `rule`.
    #[must_use]
    pub const fn whole_units(mut self, rule: WholeUnitRounding) -> Self {
        self.whole_units = Some(rule);
        self
    }
}

impl Default for ChannelPricing {
    /// B2C: gross prices in minor units.
    fn default() -> Self {
        Self::gross()
    }
}

/// Prices per SKU on one basis, in one currency, at one VAT rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceList {
    /// Whether the amounts in `prices` include VAT.
    pub basis: PriceBasis,
    /// The currency of every amount.
    pub currency: Currency,
    /// The VAT rate that applies to these SKUs.
    pub vat: VatRate,
    /// Amounts per canonical SKU, as the seller maintains them (not necessarily rounded).
    pub prices: BTreeMap<Sku, Decimal>,
}

impl PriceList {
    /// An empty list.
    pub fn new(basis: PriceBasis, currency: Currency, vat: VatRate) -> Self {
        Self { basis, currency, vat, prices: BTreeMap::new() }
    }

    /// Set the price of `sku` on the list's basis, returning the previous amount.
    pub fn insert(&mut self, sku: Sku, amount: Decimal) -> Option<Decimal> {
        self.prices.insert(sku, amount)
    }

    /// The amount stored for `sku`, as stored.
    pub fn get(&self, sku: &Sku) -> Option<Decimal> {
        self.prices.get(sku).copied()
    }

    /// The price of `sku` as `channel` wants it: converted to the channel's basis, rounded half-up to the
    /// currency's minor unit, then to a whole unit if the channel sells in whole units.
    ///
    /// `None` when the list has no price for `sku`, or in the (absurd) case that the converted amount
    /// overflows a [`Decimal`].
    pub fn price_for(&self, sku: &Sku, channel: &ChannelPricing) -> Option<Money> {
        self.convert(self.get(sku)?, channel)
    }

    /// Every price on the list as `channel` wants it, in SKU order (amounts that overflow are skipped).
    pub fn prices_for<'a>(&'a self, channel: &'a ChannelPricing) -> impl Iterator<Item = (&'a Sku, Money)> + 'a {
        self.prices.iter().filter_map(move |(sku, amount)| Some((sku, self.convert(*amount, channel)?)))
    }

    /// The price update `listing` needs to show this list's price on `channel`: `None` when the listing
    /// has no canonical SKU yet, the list has no price for it, or the listing already shows that price.
    pub fn update_for(&self, listing: &Listing, channel: &ChannelPricing) -> Option<PriceUpdate> {
        let price = self.price_for(listing.sku.as_ref()?, channel)?;
        if listing.price.is_some_and(|shown| shown.currency == price.currency && shown.amount == price.amount) {
            return None;
        }
        let mut update = PriceUpdate::new(listing.id.clone(), listing.channel_sku.clone(), price);
        update.ids = listing.ids.clone();
        Some(update)
    }

    /// Convert one amount on this list's basis to `channel`'s price (the rule [`PriceList::price_for`] uses).
    pub fn convert(&self, amount: Decimal, channel: &ChannelPricing) -> Option<Money> {
        let one_plus_rate = Decimal::ONE + self.vat.fraction();
        let exact = match (self.basis, channel.basis) {
            (PriceBasis::Gross, PriceBasis::Gross) | (PriceBasis::Net, PriceBasis::Net) => amount,
            (PriceBasis::Net, PriceBasis::Gross) => amount.checked_mul(one_plus_rate)?,
            // 1 + rate >= 1, so division never overflows; `checked_div` only guards the impossible zero.
            (PriceBasis::Gross, PriceBasis::Net) => amount.checked_div(one_plus_rate)?,
        };
        let minor = Money::new(exact, self.currency).round_to_minor();
        Some(match channel.whole_units {
            Some(rule) => minor.round_whole(rule),
            None => minor,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn sku(s: &str) -> Sku {
        Sku::new(s).unwrap()
    }

    fn vat15() -> VatRate {
        VatRate::from_percent(Decimal::from(15)).unwrap()
    }

    fn list(basis: PriceBasis, items: &[(&str, &str)]) -> PriceList {
        let mut list = PriceList::new(basis, Currency::ZAR, vat15());
        for (s, a) in items {
            list.insert(sku(s), dec(a));
        }
        list
    }

    #[test]
    fn same_basis_only_rounds_half_up_to_cents() {
        let l = list(PriceBasis::Gross, &[("A", "99.995"), ("B", "99.994"), ("C", "100")]);
        let g = ChannelPricing::gross();
        assert_eq!(l.price_for(&sku("A"), &g).unwrap().amount, dec("100.00"));
        assert_eq!(l.price_for(&sku("B"), &g).unwrap().amount, dec("99.99"));
        assert_eq!(l.price_for(&sku("C"), &g).unwrap(), Money::new(dec("100"), Currency::ZAR));
        assert_eq!(l.price_for(&sku("missing"), &g), None);
    }

    #[test]
    fn b2b_net_list_to_b2c_gross_and_back() {
        let net = list(PriceBasis::Net, &[("A", "100"), ("B", "86.95")]);
        assert_eq!(net.price_for(&sku("A"), &ChannelPricing::gross()).unwrap().amount, dec("115.00"));
        // 86.95 × 1.15 = 99.9925 → 99.99
        assert_eq!(net.price_for(&sku("B"), &ChannelPricing::gross()).unwrap().amount, dec("99.99"));
        assert_eq!(net.price_for(&sku("B"), &ChannelPricing::net()).unwrap().amount, dec("86.95"));

        let gross = list(PriceBasis::Gross, &[("A", "115"), ("B", "99.99")]);
        assert_eq!(gross.price_for(&sku("A"), &ChannelPricing::net()).unwrap().amount, dec("100.00"));
        // 99.99 / 1.15 = 86.947826… → 86.95
        assert_eq!(gross.price_for(&sku("B"), &ChannelPricing::net()).unwrap().amount, dec("86.95"));
    }

    #[test]
    fn takealot_whole_rand() {
        let gross = list(PriceBasis::Gross, &[("A", "99.49"), ("B", "99.50"), ("C", "99.01")]);
        let half_up = ChannelPricing::gross().whole_units(WholeUnitRounding::HalfUp);
        let up = ChannelPricing::gross().whole_units(WholeUnitRounding::Up);
        let down = ChannelPricing::gross().whole_units(WholeUnitRounding::Down);
        assert_eq!(gross.price_for(&sku("A"), &half_up).unwrap().amount, dec("99"));
        assert_eq!(gross.price_for(&sku("B"), &half_up).unwrap().amount, dec("100"));
        assert_eq!(gross.price_for(&sku("C"), &up).unwrap().amount, dec("100"));
        assert_eq!(gross.price_for(&sku("B"), &down).unwrap().amount, dec("99"));
    }

    #[test]
    fn whole_units_start_from_the_cent_price_the_seller_sees() {
        // 86.5217 × 1.15 = 99.499955: the seller sees R 99.50, so half-up whole rand is R 100.
        let net = list(PriceBasis::Net, &[("A", "86.5217")]);
        let g = ChannelPricing::gross();
        assert_eq!(net.price_for(&sku("A"), &g).unwrap().amount, dec("99.50"));
        let whole = g.whole_units(WholeUnitRounding::HalfUp);
        assert_eq!(net.price_for(&sku("A"), &whole).unwrap().amount, dec("100"));
    }

    #[test]
    fn currency_minor_units_are_respected() {
        let mut yen = PriceList::new(PriceBasis::Net, Currency::JPY, VatRate::new(dec("0.10")).unwrap());
        yen.insert(sku("A"), dec("1005"));
        // 1005 × 1.1 = 1105.5 → 1106 (JPY has no minor unit, half-up)
        let p = yen.price_for(&sku("A"), &ChannelPricing::gross()).unwrap();
        assert_eq!(p, Money::new(dec("1106"), Currency::JPY));

        let kwd = Currency::new("KWD").unwrap();
        let mut dinar = PriceList::new(PriceBasis::Gross, kwd, VatRate::ZERO);
        dinar.insert(sku("A"), dec("1.2345"));
        assert_eq!(dinar.price_for(&sku("A"), &ChannelPricing::gross()).unwrap().amount, dec("1.235"));
    }

    #[test]
    fn prices_for_lists_every_sku_in_order() {
        let net = list(PriceBasis::Net, &[("B", "10"), ("A", "20")]);
        let all: Vec<_> = net.prices_for(&ChannelPricing::gross()).map(|(s, m)| (s.to_string(), m.amount)).collect();
        assert_eq!(all, vec![("A".to_owned(), dec("23.00")), ("B".to_owned(), dec("11.50"))]);
    }

    #[test]
    fn overflow_is_none_not_a_panic() {
        let net = list(PriceBasis::Net, &[]);
        assert_eq!(net.convert(Decimal::MAX, &ChannelPricing::gross()), None);
        assert!(net.convert(Decimal::MAX, &ChannelPricing::net()).is_some());
    }

    #[test]
    fn updates_only_listings_whose_price_differs() {
        let l = list(PriceBasis::Net, &[("TS-001", "86.52")]);
        let takealot = ChannelPricing::gross().whole_units(WholeUnitRounding::HalfUp);
        let mut listing = Listing::new("offer-1", "TS-001", 3).with_id("tsin", "777");
        listing.sku = None;
        assert_eq!(l.update_for(&listing, &takealot), None, "no canonical SKU yet");
        listing.sku = Some(sku("TS-001"));
        let update = l.update_for(&listing, &takealot).unwrap();
        assert_eq!(update.price, Money::new(dec("100"), Currency::ZAR));
        assert_eq!(update.channel_sku, "TS-001");
        assert_eq!(update.ids, listing.ids);
        // Already showing R 100 (written as 100.00): nothing to do.
        listing.price = Some(Money::new(dec("100.00"), Currency::ZAR));
        assert_eq!(l.update_for(&listing, &takealot), None);
        listing.price = Some(Money::new(dec("99"), Currency::ZAR));
        assert!(l.update_for(&listing, &takealot).is_some());
        listing.sku = Some(sku("OTHER"));
        assert_eq!(l.update_for(&listing, &takealot), None, "no price on the list");
    }

    #[test]
    fn serde_round_trip() {
        let l = list(PriceBasis::Net, &[("TS-001", "86.95")]);
        let json = serde_json::to_string(&l).unwrap();
        assert!(json.contains("\"basis\":\"net\""), "{json}");
        assert!(json.contains("\"TS-001\":\"86.95\""), "{json}");
        let back: PriceList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
        let c: ChannelPricing = serde_json::from_str(r#"{"basis":"gross","whole_units":"up"}"#).unwrap();
        assert_eq!(c, ChannelPricing::gross().whole_units(WholeUnitRounding::Up));
        let c: ChannelPricing = serde_json::from_str(r#"{"basis":"net"}"#).unwrap();
        assert_eq!(c, ChannelPricing::net());
    }

    fn rounding() -> impl Strategy<Value = Option<WholeUnitRounding>> {
        prop_oneof![
            Just(None),
            Just(Some(WholeUnitRounding::HalfUp)),
            Just(Some(WholeUnitRounding::Up)),
            Just(Some(WholeUnitRounding::Down)),
        ]
    }

    proptest! {
        #[test]
        fn net_to_gross_to_net_stays_within_a_cent(cents in 0i64..100_000_000, pct in 0u32..30) {
            let vat = VatRate::from_percent(Decimal::from(pct)).unwrap();
            let mut net = PriceList::new(PriceBasis::Net, Currency::ZAR, vat);
            net.insert(sku("A"), Decimal::new(cents, 2));
            let gross_amount = net.price_for(&sku("A"), &ChannelPricing::gross()).unwrap().amount;
            let mut gross = PriceList::new(PriceBasis::Gross, Currency::ZAR, vat);
            gross.insert(sku("A"), gross_amount);
            let back = gross.price_for(&sku("A"), &ChannelPricing::net()).unwrap().amount;
            prop_assert!((back - Decimal::new(cents, 2)).abs() <= Decimal::new(1, 2), "{} -> {} -> {}", cents, gross_amount, back);
        }

        #[test]
        fn results_are_in_minor_units_and_whole_when_asked(
            units in -1_000_000_000i64..1_000_000_000,
            scale in 0u32..7,
            pct in 0u32..30,
            from_net in any::<bool>(),
            to_net in any::<bool>(),
            whole in rounding(),
        ) {
            let basis = |net: bool| if net { PriceBasis::Net } else { PriceBasis::Gross };
            let vat = VatRate::from_percent(Decimal::from(pct)).unwrap();
            let mut l = PriceList::new(basis(from_net), Currency::ZAR, vat);
            l.insert(sku("A"), Decimal::new(units, scale));
            let channel = ChannelPricing { basis: basis(to_net), whole_units: whole };
            let price = l.price_for(&sku("A"), &channel).unwrap();
            prop_assert_eq!(price.currency, Currency::ZAR);
            prop_assert!(price.amount.round_dp(2) == price.amount, "not in cents: {}", price.amount);
            if whole.is_some() {
                prop_assert!(price.amount.fract().is_zero(), "not whole: {}", price.amount);
            }
            // Never further from the exact conversion than the rounding allows.
            let exact = l.convert(Decimal::new(units, scale), &ChannelPricing::new(basis(to_net))).unwrap();
            let tolerance = if whole.is_some() { Decimal::ONE } else { Decimal::new(5, 3) };
            prop_assert!((price.amount - exact.amount).abs() <= tolerance);
        }

        #[test]
        fn rounding_is_half_up(whole_cents in -1_000_000i64..1_000_000, third in 0i64..10) {
            // An amount with three decimals: x.yz + third/1000.
            let signed_third = if whole_cents < 0 { -third } else { third };
            let amount = Decimal::new(whole_cents * 10 + signed_third, 3);
            let mut l = PriceList::new(PriceBasis::Gross, Currency::ZAR, VatRate::ZERO);
            l.insert(sku("A"), amount);
            let got = l.price_for(&sku("A"), &ChannelPricing::gross()).unwrap().amount;
            let away = if third >= 5 { Decimal::new(1, 2) } else { Decimal::ZERO };
            let expected = Decimal::new(whole_cents, 2) + if amount.is_sign_negative() { -away } else { away };
            prop_assert_eq!(got, expected, "{}", amount);
        }

        #[test]
        fn whole_unit_half_up_is_half_up(rand in 0i64..1_000_000, cents in 0i64..100) {
            let mut l = PriceList::new(PriceBasis::Gross, Currency::ZAR, VatRate::ZERO);
            l.insert(sku("A"), Decimal::new(rand * 100 + cents, 2));
            let c = ChannelPricing::gross().whole_units(WholeUnitRounding::HalfUp);
            let got = l.price_for(&sku("A"), &c).unwrap().amount;
            let expected = Decimal::from(rand + i64::from(cents >= 50));
            prop_assert_eq!(got, expected);
        }
    }
}
