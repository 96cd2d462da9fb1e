//! The stocksync reference service and CLI.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod connections;
mod plan;
mod sandbox;

/// Keep stock, prices and orders in step across sales channels.
#[derive(Debug, Parser)]
#[command(name = "stocksync", version, about, long_about = None)]
struct Cli {
    /// The configuration file (see stocksync.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the reconciliation plan for a snapshot (a dry run: nothing is written).
    Plan(plan::PlanArgs),
    /// Start the platform emulators on loopback and print their base URLs and credentials.
    Sandbox(sandbox::SandboxArgs),
    /// Manage connections (stores on channels): list, add, test, update, remove.
    Connections(connections::ConnectionsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Connections(args) => connections::run(cli.config.as_deref(), args),
    }
}
