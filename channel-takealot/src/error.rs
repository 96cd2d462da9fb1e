//! The adapter's errors.

use channel_core::{Error, ErrorKind};

/// What went wrong talking to Takealot. Converts into [`channel_core::Error`] with the matching kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TakealotError {
    /// The transport failed or Takealot answered with an error status (the kind is the transport's).
    #[error(transparent)]
    Http(#[from] Error),
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
    /// A response did not have the shape the Seller API documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// The configuration is unusable.
    #[error("invalid Takealot configuration: {0}")]
    Config(String),
}

impl TakealotError {
    /// The [`ErrorKind`] the engine acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Http(e) => e.kind(),
            Self::BatchTimeout { .. } => ErrorKind::Transient,
            Self::Unexpected { .. } => ErrorKind::Decode,
            Self::Config(_) => ErrorKind::Config,
        }
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
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
