//! `stocksync plan`.

use std::process::ExitCode;

/// Arguments of `stocksync plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The snapshot file (`-` reads standard input).
    snapshot: std::path::PathBuf,
}

pub(crate) fn run(args: PlanArgs) -> ExitCode {
    eprintln!("stocksync plan: not available in this build ({})", args.snapshot.display());
    ExitCode::from(2)
}
