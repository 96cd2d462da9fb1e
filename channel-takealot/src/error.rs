//! The adapter's errors.

use std::time::Duration;

use channel_core::{Error, ErrorKind};

/// What went wrong talking to Takealot. Converts into [`channel_core::Error`] with the matching kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TakealotError {
    /// The transport failed or Takealot answered with an error status (the kind is the transport's).
    #[error(transparent)]
    Http(#[from] Error),
    /// The configuration is unusable.
    #[error("invalid Takealot configuration: {0}")]
    Config(String),
    /// A response did not have the shape the Seller API documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A listing id this adapter did not issue (an offer id, or `<offer_id>:dc`).
    #[error("invalid Takealot listing id {id:?}: {reason}")]
    InvalidListingId {
        /// The listing id as given.
        id: String,
        /// Why it is not one of this adapter's.
        reason: String,
    },
    /// A date or time in a response could not be read (never read as 1970).
    #[error("unreadable {field} {value:?} in {what}: expected {expected}")]
    InvalidDate {
        /// The call or payload.
        what: String,
        /// The field.
        field: String,
        /// The value as given.
        value: String,
        /// The formats accepted.
        expected: String,
    },
    /// Takealot answered an offer update with `validation_errors`: the update was not applied.
    #[error("offer {offer_id} update refused: {errors}")]
    OfferRefused {
        /// The offer.
        offer_id: u64,
        /// The validation errors, `code: message; …`.
        errors: String,
        /// Whether one of the errors' codes is in the configured `retry_codes` (messages are not read).
        retryable: bool,
    },
    /// A batch did not finish within the configured timeout; it may still be applied later.
    #[error("batch {batch_id} was still {status:?} after {waited_secs} s")]
    BatchTimeout {
        /// Takealot's batch id.
        batch_id: String,
        /// The last status seen.
        status: String,
        /// How long the adapter waited.
        waited_secs: u64,
    },
}

impl TakealotError {
    /// The [`ErrorKind`] the engine acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Http(e) => e.kind(),
            Self::Config(_) => ErrorKind::Config,
            Self::Unexpected { .. } => ErrorKind::Decode,
            Self::InvalidListingId { .. } => ErrorKind::Validation,
            Self::InvalidDate { .. } => ErrorKind::Decode,
            Self::OfferRefused { retryable: false, .. } => ErrorKind::Validation,
            Self::OfferRefused { retryable: true, .. } => ErrorKind::Transient,
            Self::BatchTimeout { .. } => ErrorKind::Transient,
        }
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// How long Takealot asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl From<TakealotError> for Error {
    fn from(e: TakealotError) -> Self {
        match e {
            TakealotError::Http(inner) => inner,
            other => {
                let kind = other.kind();
                Error::new(kind, format!("takealot: {other}")).with_source(other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_conversion_keep_the_source() {
        let e = TakealotError::InvalidListingId { id: "x".into(), reason: "not an offer id".into() };
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(!e.is_retryable());
        assert_eq!(e.retry_after(), None);
        let timeout = TakealotError::BatchTimeout { batch_id: "7".into(), status: "pending".into(), waited_secs: 3 };
        assert!(timeout.is_retryable());
        let converted = Error::from(timeout);
        assert_eq!(converted.kind(), ErrorKind::Transient);
        assert!(std::error::Error::source(&converted).is_some(), "the adapter error stays the source");
        let inner = Error::rate_limited("slow down");
        let wrapped = TakealotError::from(inner);
        assert_eq!(wrapped.kind(), ErrorKind::RateLimited);
        assert_eq!(Error::from(wrapped).kind(), ErrorKind::RateLimited, "Http converts back to the inner error");
    }
}
