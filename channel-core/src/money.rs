//! Money: [`Decimal`] amounts in an ISO 4217 [`Currency`], minor-unit rounding, and VAT.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency code (three upper-case letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// The string is not a three-letter upper-case currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency code {0:?}: expected three upper-case letters such as ZAR")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// South African rand.
    pub const ZAR: Currency = Currency(*b"ZAR");
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency(*b"JPY");

    /// Parse a code such as `"ZAR"`.
    pub fn new(code: &str) -> Result<Self, InvalidCurrency> {
        match code.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(InvalidCurrency(code.to_owned())),
        }
    }

    /// The code as a string.
    pub fn code(&self) -> &str {
        // The bytes are ASCII upper-case letters, checked in `new`.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point in the currency's minor unit (ISO 4217).
    pub fn minor_units(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"VND" | b"CLP" | b"ISK" | b"UGX" | b"XAF" | b"XOF" | b"PYG" | b"RWF" | b"KMF"
            | b"GNF" | b"DJF" | b"VUV" | b"XPF" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"IQD" | b"LYD" | b"TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount (serialized as a string, so no precision is lost).
    pub amount: Decimal,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in a currency, as given (not rounded).
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Rounded half away from zero to the currency's minor unit (R 10.005 → R 10.01).
    #[must_use]
    pub fn round_to_minor(self) -> Self {
        Self {
            amount: self
                .amount
                .round_dp_with_strategy(self.currency.minor_units(), RoundingStrategy::MidpointAwayFromZero),
            currency: self.currency,
        }
    }

    /// Rounded to a whole unit with `rule` (for channels that sell in whole units, such as Takealot).
    #[must_use]
    pub fn round_whole(self, rule: WholeUnitRounding) -> Self {
        let strategy = match rule {
            WholeUnitRounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            WholeUnitRounding::Up => RoundingStrategy::AwayFromZero,
            WholeUnitRounding::Down => RoundingStrategy::ToZero,
        };
        Self { amount: self.amount.round_dp_with_strategy(0, strategy), currency: self.currency }
    }

    /// The amount in minor units (cents), after rounding to the minor unit.
    pub fn to_minor_units(self) -> Option<i64> {
        let rounded = self.round_to_minor().amount;
        let scaled = rounded.checked_mul(Decimal::from(10_i64.pow(self.currency.minor_units())))?;
        i64::try_from(scaled.trunc()).ok()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dp = self.currency.minor_units() as usize;
        write!(f, "{} {:.dp$}", self.currency, self.amount)
    }
}

/// How a channel that sells in whole units (Takealot: whole rand) rounds a price with cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WholeUnitRounding {
    /// Half away from zero: R 99.50 → R 100, R 99.49 → R 99 (the default).
    #[default]
    HalfUp,
    /// Always up: R 99.01 → R 100 (never sells below the list price).
    Up,
    /// Always down: R 99.99 → R 99 (never above the list price).
    Down,
}

/// A VAT rate as a fraction (`0.15` for South Africa's 15%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VatRate(Decimal);

/// A VAT rate outside 0..1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("VAT rate {0} is outside 0..1 (give 0.15 for 15%)")]
pub struct InvalidVatRate(pub Decimal);

impl VatRate {
    /// No VAT.
    pub const ZERO: VatRate = VatRate(Decimal::ZERO);

    /// A rate as a fraction in `0..1`.
    pub fn new(rate: Decimal) -> Result<Self, InvalidVatRate> {
        if rate < Decimal::ZERO || rate >= Decimal::ONE {
            return Err(InvalidVatRate(rate));
        }
        Ok(Self(rate))
    }

    /// A rate from a percentage (`15` → 0.15).
    pub fn from_percent(percent: Decimal) -> Result<Self, InvalidVatRate> {
        Self::new(percent / Decimal::ONE_HUNDRED)
    }

    /// The rate as a fraction.
    pub fn fraction(&self) -> Decimal {
        self.0
    }

    /// Gross (VAT inclusive) from net, rounded half-up to the minor unit.
    pub fn gross_from_net(&self, net: Money) -> Money {
        Money::new(net.amount * (Decimal::ONE + self.0), net.currency).round_to_minor()
    }

    /// Net (VAT exclusive) from gross, rounded half-up to the minor unit.
    pub fn net_from_gross(&self, gross: Money) -> Money {
        Money::new(gross.amount / (Decimal::ONE + self.0), gross.currency).round_to_minor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn zar(s: &str) -> Money {
        Money::new(Decimal::from_str(s).unwrap(), Currency::ZAR)
    }

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::new("ZAR"), Ok(Currency::ZAR));
        assert!(Currency::new("zar").is_err());
        assert!(Currency::new("ZA").is_err());
        assert_eq!(Currency::JPY.minor_units(), 0);
        assert_eq!(Currency::new("KWD").unwrap().minor_units(), 3);
        assert_eq!(serde_json::to_string(&Currency::EUR).unwrap(), "\"EUR\"");
    }

    #[test]
    fn minor_unit_rounding_is_half_up() {
        assert_eq!(zar("10.005").round_to_minor(), zar("10.01"));
        assert_eq!(zar("10.0049").round_to_minor(), zar("10.00"));
        assert_eq!(zar("-10.005").round_to_minor(), zar("-10.01"));
        assert_eq!(
            Money::new(Decimal::from_str("99.5").unwrap(), Currency::JPY).round_to_minor().amount,
            Decimal::from(100)
        );
        assert_eq!(zar("12.345").to_minor_units(), Some(1235));
    }

    #[test]
    fn whole_unit_rules() {
        assert_eq!(zar("99.50").round_whole(WholeUnitRounding::HalfUp), zar("100"));
        assert_eq!(zar("99.49").round_whole(WholeUnitRounding::HalfUp), zar("99"));
        assert_eq!(zar("99.01").round_whole(WholeUnitRounding::Up), zar("100"));
        assert_eq!(zar("99.99").round_whole(WholeUnitRounding::Down), zar("99"));
        assert_eq!(zar("99").round_whole(WholeUnitRounding::Up), zar("99"));
    }

    #[test]
    fn vat_both_ways() {
        let vat = VatRate::from_percent(Decimal::from(15)).unwrap();
        assert_eq!(vat.gross_from_net(zar("100")), zar("115.00"));
        assert_eq!(vat.net_from_gross(zar("115")), zar("100.00"));
        assert_eq!(vat.net_from_gross(zar("99.99")), zar("86.95"));
        assert!(VatRate::new(Decimal::ONE).is_err());
        assert!(VatRate::new(Decimal::from(-1)).is_err());
    }

    #[test]
    fn display() {
        assert_eq!(zar("5").to_string(), "ZAR 5.00");
        assert_eq!(Money::new(Decimal::from(5), Currency::JPY).to_string(), "JPY 5");
    }

    proptest! {
        #[test]
        fn net_gross_round_trip_within_a_cent(cents in 0i64..10_000_000, pct in 0u32..30) {
            let vat = VatRate::from_percent(Decimal::from(pct)).unwrap();
            let net = Money::new(Decimal::new(cents, 2), Currency::ZAR);
            let back = vat.net_from_gross(vat.gross_from_net(net));
            prop_assert!((back.amount - net.amount).abs() <= Decimal::new(1, 2));
        }

        #[test]
        fn rounding_is_idempotent_and_close(units in -10_000_000i64..10_000_000, scale in 0u32..6) {
            let m = Money::new(Decimal::new(units, scale), Currency::ZAR);
            let r = m.round_to_minor();
            prop_assert_eq!(r.round_to_minor(), r);
            prop_assert!((r.amount - m.amount).abs() <= Decimal::new(5, 3));
            let w = m.round_whole(WholeUnitRounding::Up);
            prop_assert!(w.amount.abs() >= m.amount.abs() && w.amount.fract().is_zero());
        }
    }
}
