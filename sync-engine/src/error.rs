//! The engine's error type.

use channel_core::{ChannelKind, ErrorKind, Sku, StoreId};

use crate::store::{CompanyId, StoreError};

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the engine or its [`crate::Store`]. Branch on [`Error::kind`], not on the text.
///
/// Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A row to be created exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The input is invalid.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The credentials belong to another account than the one the store is bound to.
    #[error(
        "store {store} is bound to {channel} account {expected:?}, but these credentials belong to {actual:?}; \
         a reconnect must use the same account"
    )]
    AccountMismatch {
        /// The store.
        store: StoreId,
        /// Its channel.
        channel: ChannelKind,
        /// The account the store is bound to.
        expected: String,
        /// The account the new credentials belong to.
        actual: String,
    },
    /// No company has this id.
    #[error("company {0} not found")]
    CompanyNotFound(CompanyId),
    /// A company with this id exists already.
    #[error("company {0} already exists")]
    CompanyExists(CompanyId),
    /// The store id is taken: store ids are unique across companies, and this one is a connection of a
    /// company (`Some`) or a global connection (`None`) already.
    #[error("store {store} already exists ({})", match company {
        Some(c) => format!("a connection of company {c}"),
        None => "a global connection".to_owned(),
    })]
    StoreTaken {
        /// The store id asked for.
        store: StoreId,
        /// The company it belongs to, `None` for a global connection.
        company: Option<CompanyId>,
    },
    /// The credentials belong to another account than the one the company is bound to
    /// ([`crate::store::CompanyRecord::bound_account`]).
    #[error(
        "company {company} is bound to {channel} account {expected:?}, but store {store} tests as {actual:?}; \
         its {channel} connections must use the bound account"
    )]
    CompanyAccountMismatch {
        /// The company.
        company: CompanyId,
        /// The store whose credentials were tested.
        store: StoreId,
        /// The channel the company requires.
        channel: ChannelKind,
        /// The account the company is bound to.
        expected: String,
        /// The account the credentials belong to.
        actual: String,
    },
    /// Stores of the platform that is the source of truth may not share SKUs.
    #[error(
        "{channel} is the source of truth, so its stores may not share SKUs, but {sku} is listed on {}",
        stores.iter().map(StoreId::as_str).collect::<Vec<_>>().join(" and ")
    )]
    SharedSkuWithSourceOfTruth {
        /// The platform.
        channel: ChannelKind,
        /// The first SKU found on more than one of its stores.
        sku: Sku,
        /// The stores that list it.
        stores: Vec<StoreId>,
    },
    /// Another connection in the same scope is already the source of truth.
    #[error("{existing} is already the source of truth in this scope; clear it first")]
    SourceOfTruthTaken {
        /// The current source of truth.
        existing: StoreId,
    },
    /// A connection's settings name a secret: settings are stored in plain text, so secrets must go in
    /// the credentials, which are sealed (see [`crate::settings`] for which names are secrets').
    #[error("settings.{setting} is a secret: put it in the credentials (env var or file)")]
    SecretInSettings {
        /// The setting's name (its value is never kept).
        setting: String,
    },
    /// The connection's credentials were refused; nothing is pushed until they are updated.
    #[error("store {0} needs re-authentication: update its credentials")]
    NeedsReauth(StoreId),
    /// The connection is disconnected (its credentials were deleted).
    #[error("store {0} is disconnected")]
    Disconnected(StoreId),
    /// The stored credentials could not be sealed or opened (wrong key, corrupted row).
    #[error("credentials: {0}")]
    Credentials(String),
    /// A call to the channel failed.
    #[error(transparent)]
    Channel(#[from] channel_core::Error),
    /// The [`crate::Store`] failed: a stale version, a missing row, a backend failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// What went wrong, as a caller needs to act on it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::AlreadyExists(_) | Self::CompanyExists(_) | Self::StoreTaken { .. } => ErrorKind::Conflict,
            Self::NotFound(_) | Self::CompanyNotFound(_) => ErrorKind::NotFound,
            Self::Invalid(_)
            | Self::SecretInSettings { .. }
            | Self::SharedSkuWithSourceOfTruth { .. }
            | Self::SourceOfTruthTaken { .. } => ErrorKind::Validation,
            Self::AccountMismatch { .. } | Self::CompanyAccountMismatch { .. } | Self::NeedsReauth(_) => {
                ErrorKind::Auth
            }
            Self::Disconnected(_) | Self::Credentials(_) => ErrorKind::Config,
            Self::Channel(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }

    /// Whether doing the same thing again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// How long the channel asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Channel(e) => e.retry_after(),
            _ => None,
        }
    }

    pub(crate) fn conflict(what: impl Into<String>, expected: u64, found: Option<u64>) -> Self {
        Self::Store(StoreError::conflict(what, expected, found))
    }
}
