//! Identifier newtypes and the list of platforms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares a string identifier newtype: serde-transparent, ordered, hashable, printed as the bare
/// string (`Display` and `Debug`), built from `&str` and `String`, borrowed as `str`. Shared by
/// channel-core's ids and the store's (`ClientId`, `WarehouseId`) so every id behaves alike; the crate
/// using it needs `serde` as a dependency.
#[doc(hidden)]
#[macro_export]
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wrap an identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The identifier as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl ::std::convert::From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A store: one connection of one seller to one channel (`shopify-main`, `takealot`).
    StoreId
);
string_id!(
    /// The channel's own key for a listing, as the adapter that produced it can write to it again
    /// (Takealot offer id, Shopify inventory item id, WooCommerce product or `product/variation` id,
    /// Amazon seller SKU).
    ListingId
);
string_id!(
    /// The channel's order id.
    OrderId
);

/// The platforms stocksync speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelKind {
    /// Takealot Seller API.
    Takealot,
    /// Shopify Admin API.
    Shopify,
    /// WooCommerce REST API.
    Woocommerce,
    /// Amazon Selling Partner API.
    Amazon,
    /// eBay Sell APIs.
    Ebay,
    /// Etsy Open API v3.
    Etsy,
    /// TikTok Shop Partner API.
    Tiktok,
    /// Magento 2 / Adobe Commerce REST.
    Magento,
    /// Veeqo.
    Veeqo,
    /// Shopamine.
    Shopamine,
}

impl ChannelKind {
    /// Every platform, in a stable order.
    pub const ALL: [ChannelKind; 10] = [
        Self::Takealot,
        Self::Shopify,
        Self::Woocommerce,
        Self::Amazon,
        Self::Ebay,
        Self::Etsy,
        Self::Tiktok,
        Self::Magento,
        Self::Veeqo,
        Self::Shopamine,
    ];

    /// The snake-case name used in snapshots and configs (`"woocommerce"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Takealot => "takealot",
            Self::Shopify => "shopify",
            Self::Woocommerce => "woocommerce",
            Self::Amazon => "amazon",
            Self::Ebay => "ebay",
            Self::Etsy => "etsy",
            Self::Tiktok => "tiktok",
            Self::Magento => "magento",
            Self::Veeqo => "veeqo",
            Self::Shopamine => "shopamine",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`ChannelKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown channel {0:?}; expected one of takealot, shopify, woocommerce, amazon, ebay, etsy, tiktok, magento, veeqo, shopamine"
)]
pub struct UnknownChannel(pub String);

impl FromStr for ChannelKind {
    type Err = UnknownChannel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("Shopify".parse::<ChannelKind>().is_err());
    }
}
