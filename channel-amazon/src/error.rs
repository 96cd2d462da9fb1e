//! The adapter's error type and how it maps onto [`channel_core::Error`].

use std::time::Duration;

use channel_core::{Error, ErrorKind};

/// What the Amazon adapter itself detects; transport failures arrive as [`AmazonError::Http`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmazonError {
    /// The transport failed or the platform answered with an error status (the kind is the transport's).
    #[error(transparent)]
    Http(#[from] Error),
    /// The configuration is unusable (no marketplace, a marketplace the seller does not sell in).
    #[error("invalid Amazon configuration: {0}")]
    Config(String),
    /// A response did not have the shape the platform documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// Which operation or document answered.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Login with Amazon refused the refresh token or client credentials.
    #[error("Login with Amazon refused the credentials: {0}")]
    TokenRefused(String),
    /// A feed or report did not finish in time.
    #[error("{0}")]
    StillProcessing(String),
    /// A document Amazon compressed with an algorithm this build cannot read.
    #[error("the {what} document is compressed with {algorithm}, which this adapter cannot read")]
    Compressed {
        /// Which document.
        what: &'static str,
        /// The algorithm named by Amazon.
        algorithm: String,
    },
    /// A document said to be compressed that does not decompress (not gzip, or cut short).
    #[error("the {what} document does not decompress")]
    CorruptDocument {
        /// Which document.
        what: &'static str,
        /// What the decoder said.
        #[source]
        source: std::io::Error,
    },
    /// A document that decodes to more than `AmazonConfig::max_document_bytes`.
    #[error("the {what} document is larger than {limit} bytes decoded (raise max_document_bytes to read it)")]
    DocumentTooLarge {
        /// Which document.
        what: &'static str,
        /// The bound in force.
        limit: u64,
    },
    /// A report whose text cannot be read as its report type documents: no header, a required column
    /// missing (in every known spelling), a row whose fulfilment channel is missing or unknown, or text
    /// in a character set that cannot be decoded.
    #[error("the {report} report cannot be read: {detail}")]
    UnreadableReport {
        /// The report type.
        report: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The order is fulfilled by Amazon; tracking is Amazon's business.
    #[error("order {0} is fulfilled by Amazon (AFN); only merchant-fulfilled orders are confirmed")]
    AmazonFulfilled(String),
}

impl AmazonError {
    /// A response that did not have the documented shape.
    pub(crate) fn unexpected(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Unexpected { what: what.into(), detail: detail.into() }
    }

    /// The [`ErrorKind`] this error maps to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Http(e) => e.kind(),
            Self::Config(_) => ErrorKind::Config,
            Self::TokenRefused(_) => ErrorKind::Auth,
            Self::StillProcessing(_) => ErrorKind::Transient,
            Self::Compressed { .. } => ErrorKind::Unsupported,
            Self::CorruptDocument { .. }
            | Self::DocumentTooLarge { .. }
            | Self::Unexpected { .. }
            | Self::UnreadableReport { .. } => ErrorKind::Decode,
            Self::AmazonFulfilled(_) => ErrorKind::Validation,
        }
    }

    /// Whether trying again later may succeed.
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

impl From<AmazonError> for Error {
    fn from(e: AmazonError) -> Self {
        match e {
            AmazonError::Http(inner) => inner,
            other => Error::new(other.kind(), format!("amazon: {other}")).with_source(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_conversion() {
        let e = Error::from(AmazonError::Config("no marketplace".into()));
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("no marketplace"));
        let transport = Error::transient("503");
        let wrapped = AmazonError::from(transport);
        assert!(wrapped.is_retryable());
        assert_eq!(Error::from(wrapped).kind(), ErrorKind::Transient, "a transport error comes back unchanged");
        let u = AmazonError::unexpected("createFeedDocument", "no feedDocumentId");
        assert_eq!(u.kind(), ErrorKind::Decode);
        assert!(!u.is_retryable());
        assert_eq!(u.to_string(), "unexpected response from createFeedDocument: no feedDocumentId");
    }
}
