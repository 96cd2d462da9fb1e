//! The adapter's error type and how it maps onto [`channel_core::Error`].

use std::time::Duration;

use channel_core::{Error, ErrorKind};

/// What went wrong in the Magento adapter. Converts into [`channel_core::Error`] with the matching kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MagentoError {
    /// The transport failed or Magento answered with an error status (the kind is the transport's).
    #[error(transparent)]
    Http(#[from] Error),
    /// The configuration is unusable.
    #[error("invalid Magento configuration: {0}")]
    Config(String),
    /// A response did not have the shape the OpenAPI documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A listing id that is not a SKU (empty).
    #[error("invalid Magento listing id {id:?}: {reason}")]
    InvalidListingId {
        /// The id as given.
        id: String,
        /// Why it is not a Magento listing id.
        reason: String,
    },
    /// A price in another currency than the store's base currency.
    #[error("price in {given}, but the store's base currency is {store}")]
    CurrencyMismatch {
        /// The price's currency.
        given: String,
        /// The store's currency.
        store: String,
    },
}

impl MagentoError {
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

impl From<MagentoError> for Error {
    fn from(e: MagentoError) -> Self {
        match e {
            MagentoError::Http(inner) => inner,
            other => {
                let kind = other.kind();
                Error::new(kind, format!("magento: {other}")).with_source(other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_conversion() {
        let transport = MagentoError::from(Error::rate_limited("slow").with_retry_after(Duration::from_secs(2)));
        assert_eq!(transport.kind(), ErrorKind::RateLimited);
        assert!(transport.is_retryable());
        assert_eq!(transport.retry_after(), Some(Duration::from_secs(2)));
        let bad = MagentoError::InvalidListingId { id: String::new(), reason: "empty".into() };
        assert_eq!(bad.kind(), ErrorKind::Validation);
        let converted = Error::from(bad);
        assert_eq!(converted.kind(), ErrorKind::Validation);
        assert!(std::error::Error::source(&converted).is_some());
        assert_eq!(MagentoError::Config("x".into()).kind(), ErrorKind::Config);
        assert_eq!(MagentoError::Unexpected { what: "a".into(), detail: "b".into() }.kind(), ErrorKind::Decode);
    }
}
