//! The CLI's one-line failures: a message for stderr and the exit code that goes with it (2 bad usage or
//! input, 1 refused or failed).

use std::process::ExitCode;

/// A one-line failure and its exit code (2 bad input, 1 refused or failed).
pub(crate) struct Fail(pub(crate) u8, pub(crate) String);

/// Bad usage or input: exit 2.
pub(crate) fn usage(msg: impl Into<String>) -> Fail {
    Fail(2, msg.into())
}

/// A refused or failed operation: exit 1.
pub(crate) fn failed(e: impl std::fmt::Display) -> Fail {
    Fail(1, e.to_string())
}

/// An engine error, by its kind: exit 2 when the input must change (an unknown store, an invalid id, a bad
/// setting or URL in the config, a credential key that does not open the stored credentials, a database
/// path that cannot be opened), 1 when the operation was refused or failed (credentials refused by the
/// platform, a store that exists already, an unreachable platform).
pub(crate) fn engine(e: sync_engine::Error) -> Fail {
    use channel_core::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::Validation | ErrorKind::Config => Fail(2, e.to_string()),
        _ => Fail(1, e.to_string()),
    }
}

/// [`engine`], saying where the credential key came from (`key_source`, e.g. "the variable K
/// (`[store] key_env`)") when the stored credentials do not open with it.
pub(crate) fn engine_keyed(e: sync_engine::Error, key_source: &str) -> Fail {
    let credentials = matches!(e, sync_engine::Error::Credentials(_));
    let Fail(code, message) = engine(e);
    if credentials {
        Fail(code, format!("{message}: the key is {key_source}; set it to the key the credentials were sealed with"))
    } else {
        Fail(code, message)
    }
}

/// `text` on one line (newlines become spaces).
pub(crate) fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

/// The exit code of `stocksync COMMAND`, printing a failure as one line on stderr.
pub(crate) fn exit(command: &str, result: Result<(), Fail>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, m)) => {
            eprintln!("stocksync {command}: {}", one_line(&m));
            ExitCode::from(code)
        }
    }
}
