//! The adapter's error type and how it maps onto [`channel_core::Error`].

use std::time::Duration;

use channel_core::{Error, ErrorKind};

/// What went wrong in the WooCommerce adapter. Converts into [`channel_core::Error`] with the matching kind.
///
/// Transport failures (HTTP statuses, timeouts) arrive as [`WooError::Http`] with the transport's kind; the
/// other variants cover what the adapter itself detects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WooError {
    /// The transport failed or the store answered with an error status (the kind is the transport's).
    #[error(transparent)]
    Http(#[from] Error),
    /// The configuration is unusable (an invalid store URL, an unknown currency).
    #[error("invalid WooCommerce configuration: {0}")]
    Config(String),
    /// A response did not have the shape WooCommerce documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A listing id that is neither `<product_id>` nor `<product_id>/<variation_id>`.
    #[error("invalid WooCommerce listing id {id:?}: {reason}")]
    InvalidListingId {
        /// The id as given.
        id: String,
        /// Why it is not a WooCommerce listing id.
        reason: String,
    },
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
    /// The [`ErrorKind`] the engine acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Http(e) => e.kind(),
            Self::Config(_) => ErrorKind::Config,
            Self::Unexpected { .. } => ErrorKind::Decode,
            Self::InvalidListingId { .. } | Self::CurrencyMismatch { .. } => ErrorKind::Validation,
        }
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(e) => e.is_retryable(),
            other => other.kind().is_retryable(),
        }
    }

    /// How long the platform asked to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl From<WooError> for Error {
    fn from(e: WooError) -> Self {
        match e {
            WooError::Http(inner) => inner,
            other => {
                let kind = other.kind();
                Error::new(kind, format!("woocommerce: {other}")).with_source(other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_conversion() {
        let transport = WooError::from(Error::rate_limited("slow down").with_retry_after(Duration::from_secs(3)));
        assert_eq!(transport.kind(), ErrorKind::RateLimited);
        assert!(transport.is_retryable());
        assert_eq!(transport.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(Error::from(transport).kind(), ErrorKind::RateLimited);

        let bad = WooError::InvalidListingId { id: "x".into(), reason: "not a number".into() };
        assert_eq!(bad.kind(), ErrorKind::Validation);
        assert!(!bad.is_retryable());
        let converted = Error::from(bad);
        assert_eq!(converted.kind(), ErrorKind::Validation);
        assert!(converted.to_string().contains("invalid WooCommerce listing id \"x\""), "{converted}");
        assert!(std::error::Error::source(&converted).is_some(), "the adapter error stays the source");
        assert_eq!(WooError::Config("x".into()).kind(), ErrorKind::Config);
        assert_eq!(WooError::Unexpected { what: "a".into(), detail: "b".into() }.kind(), ErrorKind::Decode);
    }
}
