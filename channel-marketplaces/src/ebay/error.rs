//! The adapter's error type and how it maps onto [`channel_core::Error`].

use std::time::Duration;

use channel_core::{Error, ErrorKind};

/// What went wrong in the eBay adapter. Converts into [`channel_core::Error`] with the matching kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EbayError {
    /// The transport failed or eBay answered with an error status (the kind is the transport's).
    #[error(transparent)]
    Http(#[from] Error),
    /// The configuration is unusable.
    #[error("invalid eBay configuration: {0}")]
    Config(String),
    /// A response did not have the shape eBay documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A listing id that is not an inventory item SKU.
    #[error("invalid eBay listing id {id:?}: {reason}")]
    InvalidListingId {
        /// The id as given.
        id: String,
        /// Why it is not an eBay listing id.
        reason: String,
    },
    /// The token endpoint refused the refresh token or the client credentials (`invalid_grant`,
    /// `invalid_client`): the seller must grant access again.
    #[error("eBay refused the refresh token: {0}")]
    TokenRefused(String),
    /// The Inventory API shows no inventory items. Listings created in Seller Hub or with the Trading API
    /// are invisible to it until migrated with `POST /sell/inventory/v1/bulk_migrate_listing`; a setup
    /// problem, never an empty catalog.
    #[error(
        "eBay's Inventory API shows no inventory items: listings created in Seller Hub or with the Trading API \
         stay invisible until they are migrated with bulk_migrate_listing (see docs/ebay.md); set \
         allow_empty_catalog = true for an account that really has no listings yet"
    )]
    NotMigrated,
}

impl EbayError {
    pub(crate) fn unexpected(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Unexpected { what: what.into(), detail: detail.into() }
    }

    /// The [`ErrorKind`] the engine acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Http(e) => e.kind(),
            Self::Config(_) | Self::NotMigrated => ErrorKind::Config,
            Self::Unexpected { .. } => ErrorKind::Decode,
            Self::InvalidListingId { .. } => ErrorKind::Validation,
            Self::TokenRefused(_) => ErrorKind::Auth,
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

impl From<EbayError> for Error {
    fn from(e: EbayError) -> Self {
        match e {
            EbayError::Http(inner) => inner,
            other => {
                let kind = other.kind();
                Error::new(kind, format!("ebay: {other}")).with_source(other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_conversion() {
        let transport = EbayError::from(Error::rate_limited("slow").with_retry_after(Duration::from_secs(2)));
        assert_eq!(transport.kind(), ErrorKind::RateLimited);
        assert!(transport.is_retryable());
        assert_eq!(transport.retry_after(), Some(Duration::from_secs(2)));
        let not_migrated = Error::from(EbayError::NotMigrated);
        assert_eq!(not_migrated.kind(), ErrorKind::Config);
        assert!(not_migrated.to_string().contains("bulk_migrate_listing"), "{not_migrated}");
        assert_eq!(EbayError::TokenRefused("x".into()).kind(), ErrorKind::Auth);
        assert_eq!(EbayError::unexpected("a", "b").kind(), ErrorKind::Decode);
        assert!(!EbayError::InvalidListingId { id: String::new(), reason: "empty".into() }.is_retryable());
    }
}
