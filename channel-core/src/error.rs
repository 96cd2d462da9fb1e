//! The error taxonomy shared by every stocksync crate.
//!
//! One [`Error`] type carries a [`ErrorKind`], a message safe to log (never a credential), an optional
//! `Retry-After`, the HTTP status when there was one, and the original source error. Callers branch on
//! [`Error::kind`], [`Error::is_retryable`] and [`Error::retry_after`], never on message text.

use std::fmt;
use std::time::Duration;

/// A boxed source error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, as a caller needs to act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Credentials missing, wrong, expired or revoked: the connection needs re-authentication.
    Auth,
    /// The platform asked us to slow down (HTTP 429, GraphQL `THROTTLED`, …). Retryable.
    RateLimited,
    /// A passing fault: 5xx, timeout, dropped connection. Retryable.
    Transient,
    /// A compare-and-set failed or a stored version was stale. Re-read and re-plan.
    Conflict,
    /// The request or input was invalid; sending it again will not help.
    Validation,
    /// The thing asked for does not exist.
    NotFound,
    /// The channel cannot do this (see [`crate::Capabilities`]).
    Unsupported,
    /// A response or payload could not be decoded.
    Decode,
    /// The configuration is invalid (bad URL, missing setting, several locations, …).
    Config,
}

impl ErrorKind {
    /// Whether errors of this kind are worth retrying as they are.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Transient)
    }

    /// A short stable name, as used in logs and the store (`"rate_limited"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::RateLimited => "rate_limited",
            Self::Transient => "transient",
            Self::Conflict => "conflict",
            Self::Validation => "validation",
            Self::NotFound => "not_found",
            Self::Unsupported => "unsupported",
            Self::Decode => "decode",
            Self::Config => "config",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a channel, the transport or the engine.
///
/// The message must never contain a credential; the transport redacts what it puts here.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
    status: Option<u16>,
    #[source]
    source: Option<BoxError>,
}

impl Error {
    /// A new error of `kind` with a message (which must not contain secrets).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), retry_after: None, status: None, source: None }
    }

    /// Attach the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Attach how long the platform asked us to wait.
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Attach the HTTP status of the response that caused this error.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Shorthand for [`ErrorKind::Auth`].
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }
    /// Shorthand for [`ErrorKind::RateLimited`].
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RateLimited, message)
    }
    /// Shorthand for [`ErrorKind::Transient`].
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }
    /// Shorthand for [`ErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// Shorthand for [`ErrorKind::Validation`].
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }
    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// Shorthand for [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// Shorthand for [`ErrorKind::Decode`].
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode, message)
    }
    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// How long the platform asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The HTTP status of the response that caused this error, if any.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_kind() {
        assert!(Error::rate_limited("slow down").is_retryable());
        assert!(Error::transient("502").is_retryable());
        for kind in [
            ErrorKind::Auth,
            ErrorKind::Conflict,
            ErrorKind::Validation,
            ErrorKind::NotFound,
            ErrorKind::Unsupported,
            ErrorKind::Decode,
            ErrorKind::Config,
        ] {
            assert!(!Error::new(kind, "x").is_retryable(), "{kind}");
        }
    }

    #[test]
    fn keeps_source_and_retry_after() {
        let io = std::io::Error::other("reset");
        let err = Error::transient("connection dropped")
            .with_source(io)
            .with_retry_after(Duration::from_secs(2))
            .with_status(503);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(err.status(), Some(503));
        assert_eq!(std::error::Error::source(&err).map(ToString::to_string).as_deref(), Some("reset"));
        assert_eq!(err.to_string(), "transient: connection dropped");
    }
}
