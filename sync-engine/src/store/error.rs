//! [`StoreError`]: what a [`Store`](super::Store) backend can report. Business rules (accounts, sources of
//! truth, credentials) are the engine's and live in [`crate::Error`], which wraps this one.

use channel_core::{BoxError, ErrorKind};

/// What went wrong in a [`Store`](super::Store). Branch on [`StoreError::kind`], not on the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A versioned row changed since it was read, or a batch's precondition (a
    /// [`WriteOp::Check`](super::WriteOp::Check), an outbox claim) no longer holds: re-read and try again.
    #[error("{what} was changed by someone else (expected version {expected}, found {found:?})")]
    Conflict {
        /// What was being written (`connection shopify-main`, `listing shopify-main/123`).
        what: String,
        /// The version the writer read (0 when the precondition is not a version).
        expected: u64,
        /// The version stored now (`None` when the row no longer exists or has no version).
        found: Option<u64>,
    },
    /// A row to be created (version 0) exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The row asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A row holds a value the store does not keep (a value outside the range its schema holds).
    #[error("invalid row: {0}")]
    Invalid(String),
    /// The backend failed: a busy or unreachable database, a failed migration, an unreadable row.
    #[error("storage: {message}")]
    Backend {
        /// What was being done.
        message: String,
        /// Whether trying again may help (a busy database, a dropped connection).
        retryable: bool,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// What went wrong, as a caller needs to act on it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Conflict { .. } | Self::AlreadyExists(_) => ErrorKind::Conflict,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Invalid(_) => ErrorKind::Validation,
            Self::Backend { retryable: true, .. } => ErrorKind::Transient,
            Self::Backend { retryable: false, .. } => ErrorKind::Config,
        }
    }

    /// Whether doing the same thing again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// A stale version or a failed precondition.
    pub fn conflict(what: impl Into<String>, expected: u64, found: Option<u64>) -> Self {
        Self::Conflict { what: what.into(), expected, found }
    }

    /// A backend failure with its source.
    pub fn backend(message: impl Into<String>, retryable: bool, source: impl Into<BoxError>) -> Self {
        Self::Backend { message: message.into(), retryable, source: Some(source.into()) }
    }
}
