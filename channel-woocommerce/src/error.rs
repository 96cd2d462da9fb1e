//! The adapter's error type and how it maps onto [`channel_core::Error`].

use channel_core::{Error, ErrorKind};

/// What went wrong in the WooCommerce adapter before or after talking to the store.
///
/// Transport failures (HTTP statuses, timeouts) already arrive as [`channel_core::Error`]s with the right
/// kind; this type covers what the adapter itself detects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WooError {
    /// The store URL is not an `http(s)://host[/path]` URL.
    #[error("invalid WooCommerce store URL: {0}")]
    InvalidStoreUrl(String),
    /// A listing id that is neither `<product_id>` nor `<product_id>/<variation_id>`.
    #[error("invalid WooCommerce listing id {0:?}: expected <product_id> or <product_id>/<variation_id>")]
    InvalidListingId(String),
    /// The store answered with something the adapter could not use.
    #[error("unexpected WooCommerce response: {0}")]
    UnexpectedResponse(String),
    /// A price in another currency than the store's.
    #[error("price in {given}, but the store sells in {store}")]
    CurrencyMismatch {
        /// The price's currency.
        given: String,
        /// The store's currency.
        store: String,
    },
}

impl WooError {
    /// The [`ErrorKind`] this error maps to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidStoreUrl(_) => ErrorKind::Config,
            Self::InvalidListingId(_) | Self::CurrencyMismatch { .. } => ErrorKind::Validation,
            Self::UnexpectedResponse(_) => ErrorKind::Decode,
        }
    }
}

impl From<WooError> for Error {
    fn from(e: WooError) -> Self {
        Error::new(e.kind(), e.to_string()).with_source(e)
    }
}
