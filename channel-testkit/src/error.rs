//! The testkit's error type.

/// What went wrong while starting or driving an emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The emulator could not bind its loopback listener.
    #[error("could not bind the emulator's loopback listener")]
    Bind(#[source] std::io::Error),
    /// The emulator's configuration is unusable (for example a zero page size).
    #[error("invalid emulator configuration: {0}")]
    Config(String),
}

/// `Result` with the testkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
