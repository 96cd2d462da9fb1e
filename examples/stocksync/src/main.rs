//! The stocksync reference service and CLI.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod plan;
mod sandbox;

/// Keep stock, prices and orders in step across sales channels.
#[derive(Debug, Parser)]
#[command(name = "stocksync", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the reconciliation plan for a snapshot (a dry run: nothing is written).
    Plan(plan::PlanArgs),
    /// Start the platform emulators on loopback and print their base URLs and credentials.
    Sandbox(sandbox::SandboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Sandbox(args) => sandbox::run(args),
    }
}
