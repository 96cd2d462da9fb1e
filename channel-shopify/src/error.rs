//! The adapter's errors.

use std::time::Duration;

use channel_core::{Error, ErrorKind};

/// What went wrong talking to Shopify. Converts into [`channel_core::Error`] with the matching kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopifyError {
    /// The transport failed or Shopify answered with an error status.
    #[error(transparent)]
    Http(#[from] Error),
    /// A top-level GraphQL error (`errors[]` without data).
    #[error("GraphQL {code}: {message}")]
    GraphQl {
        /// `extensions.code` (`ACCESS_DENIED`, `MAX_COST_EXCEEDED`, `BAD_REQUEST`, …).
        code: String,
        /// The message.
        message: String,
    },
    /// Still `THROTTLED` after the configured number of waits.
    #[error("still throttled after {attempts} waits; retry in {retry_after:?}")]
    Throttled {
        /// Waits done.
        attempts: u32,
        /// How long the restore rate needs for the query's cost.
        retry_after: Duration,
    },
    /// The store has several locations and none was configured.
    #[error("the shop has {} locations; configure one as location_id: {}", .0.len(), .0.join(", "))]
    SeveralLocations(Vec<String>),
    /// The configured location is not one of the shop's.
    #[error("location {0} does not exist in this shop")]
    UnknownLocation(String),
    /// A response did not have the expected shape.
    #[error("unexpected response: {0}")]
    Unexpected(String),
    /// The configuration is unusable.
    #[error("invalid Shopify configuration: {0}")]
    Config(String),
}

impl ShopifyError {
    /// The [`ErrorKind`] the engine acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Http(e) => e.kind(),
            Self::GraphQl { code, .. } => match code.as_str() {
                "ACCESS_DENIED" | "UNAUTHORIZED" | "FORBIDDEN" => ErrorKind::Auth,
                "THROTTLED" => ErrorKind::RateLimited,
                "INTERNAL_SERVER_ERROR" | "SERVICE_UNAVAILABLE" => ErrorKind::Transient,
                "NOT_FOUND" => ErrorKind::NotFound,
                _ => ErrorKind::Validation,
            },
            Self::Throttled { .. } => ErrorKind::RateLimited,
            Self::SeveralLocations(_) | Self::UnknownLocation(_) | Self::Config(_) => ErrorKind::Config,
            Self::Unexpected(_) => ErrorKind::Decode,
        }
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

impl From<ShopifyError> for Error {
    fn from(e: ShopifyError) -> Self {
        match e {
            ShopifyError::Http(inner) => inner,
            other => {
                let kind = other.kind();
                let mut err = Error::new(kind, format!("shopify: {other}"));
                if let ShopifyError::Throttled { retry_after, .. } = &other {
                    err = err.with_retry_after(*retry_after);
                }
                err.with_source(other)
            }
        }
    }
}
