//! Listings: what a channel shows for one SKU.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Fulfilment, ListingId, Money, Sku};

/// The platform's other identifiers for a listing, by name (`"tsin"`, `"barcode"`, `"variant_id"`,
/// `"inventory_item_id"`, `"product_id"`, `"product_type"`). Adapters document the names they set;
/// the engine stores them and hands them back on writes without interpreting them.
pub type PlatformIds = BTreeMap<String, String>;

/// Whether a listing can currently sell, as the channel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ListingStatus {
    /// Buyable / active / published.
    #[default]
    Active,
    /// Not buyable for now (out of stock on a channel that hides such listings, paused, draft).
    Inactive,
    /// Disabled by the channel (Takealot "Disabled by Takealot", Amazon suppressed): writes are refused.
    DisabledByChannel,
    /// Disabled or archived by the seller.
    DisabledBySeller,
}

/// How a listing's quantity is managed on the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stock {
    /// The channel tracks a quantity for this listing.
    Tracked {
        /// The quantity (may be negative where the channel allows backorders).
        quantity: i64,
    },
    /// The channel does not track stock for this listing (WooCommerce `manage_stock: false`,
    /// Shopify untracked inventory). Not the same as zero; a push may start tracking it.
    Untracked,
    /// The quantity lives on a parent (a WooCommerce variation with `manage_stock: "parent"`).
    Inherited,
}

impl Stock {
    /// The tracked quantity, if the channel tracks one for this listing.
    pub fn quantity(&self) -> Option<i64> {
        match self {
            Self::Tracked { quantity } => Some(*quantity),
            Self::Untracked | Self::Inherited => None,
        }
    }
}

/// One listing as a channel reports it.
///
/// A listing carries the SKU as the channel spells it ([`Listing::channel_sku`]); the canonical SKU
/// comes from the store's [`crate::SkuRules`] and the catalog, which are the engine's business, so
/// adapters leave [`Listing::sku`] as `None` unless the channel SKU is already a valid SKU… they never
/// guess. Listings do not carry their store: the engine knows which store it asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Listing {
    /// The channel's key for writing to this listing again.
    pub id: ListingId,
    /// The platform's other identifiers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ids: PlatformIds,
    /// The SKU exactly as the channel reports it (may be empty or malformed).
    pub channel_sku: String,
    /// The canonical SKU once mapped (set by the engine; adapters set the channel SKU if it is valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// The stock the channel shows.
    pub stock: Stock,
    /// The selling price, where the channel reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// Who holds the stock. Channel-held listings are read-only.
    pub fulfilment: Fulfilment,
    /// Whether the listing can sell.
    pub status: ListingStatus,
}

impl Listing {
    /// A merchant-fulfilled, active listing with tracked stock; adjust the public fields for the rest.
    pub fn new(id: impl Into<ListingId>, channel_sku: impl Into<String>, quantity: i64) -> Self {
        let channel_sku = channel_sku.into();
        Self {
            id: id.into(),
            ids: PlatformIds::new(),
            sku: Sku::new(&channel_sku).ok(),
            channel_sku,
            stock: Stock::Tracked { quantity },
            price: None,
            fulfilment: Fulfilment::Merchant,
            status: ListingStatus::Active,
        }
    }

    /// Set a platform id (builder style).
    #[must_use]
    pub fn with_id(mut self, name: &str, value: impl Into<String>) -> Self {
        self.ids.insert(name.to_owned(), value.into());
        self
    }

    /// Set the fulfilment (builder style).
    #[must_use]
    pub fn with_fulfilment(mut self, fulfilment: Fulfilment) -> Self {
        self.fulfilment = fulfilment;
        self
    }

    /// Set the stock (builder style).
    #[must_use]
    pub fn with_stock(mut self, stock: Stock) -> Self {
        self.stock = stock;
        self
    }

    /// Set the price (builder style).
    #[must_use]
    pub fn with_price(mut self, price: Money) -> Self {
        self.price = Some(price);
        self
    }

    /// Set the status (builder style).
    #[must_use]
    pub fn with_status(mut self, status: ListingStatus) -> Self {
        self.status = status;
        self
    }

    /// The tracked quantity, if any.
    pub fn quantity(&self) -> Option<i64> {
        self.stock.quantity()
    }

    /// Whether stocksync may write this listing's quantity (merchant-fulfilled).
    pub fn is_writable(&self) -> bool {
        self.fulfilment == Fulfilment::Merchant
    }
}
