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
