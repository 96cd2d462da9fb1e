//! The adapter's error type and how it maps onto [`channel_core::Error`].

use channel_core::{Error, ErrorKind};

/// What the Amazon adapter itself detects (transport failures arrive as [`channel_core::Error`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmazonError {
    /// The configuration is unusable (no marketplace, unknown region, bad URL).
    #[error("invalid Amazon configuration: {0}")]
    InvalidConfig(String),
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
    /// An answer the adapter could not use.
    #[error("unexpected Amazon response: {0}")]
    UnexpectedResponse(String),
    /// The order is fulfilled by Amazon; tracking is Amazon's business.
    #[error("order {0} is fulfilled by Amazon (AFN); only merchant-fulfilled orders are confirmed")]
    AmazonFulfilled(String),
}

impl AmazonError {
    /// The [`ErrorKind`] this error maps to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidConfig(_) => ErrorKind::Config,
            Self::TokenRefused(_) => ErrorKind::Auth,
            Self::StillProcessing(_) => ErrorKind::Transient,
            Self::Compressed { .. } => ErrorKind::Unsupported,
            Self::CorruptDocument { .. } | Self::DocumentTooLarge { .. } => ErrorKind::Decode,
            Self::UnexpectedResponse(_) => ErrorKind::Decode,
            Self::AmazonFulfilled(_) => ErrorKind::Validation,
        }
    }
}

impl From<AmazonError> for Error {
    fn from(e: AmazonError) -> Self {
        Error::new(e.kind(), e.to_string()).with_source(e)
    }
}
