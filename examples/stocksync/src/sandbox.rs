//! `stocksync sandbox`.

use std::process::ExitCode;

/// Arguments of `stocksync sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {}

pub(crate) fn run(_args: SandboxArgs) -> ExitCode {
    eprintln!("stocksync sandbox: not available in this build");
    ExitCode::from(2)
}
