//! The stocksync reference service and CLI.
//!
//! Each subcommand lives in its own module; the config file's types and loading are in [`config`]. The
//! `dev` feature (on by default) adds `demo` and `sandbox`, the two commands that run the platform
//! emulators of channel-testkit; without it the binary carries no emulator.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod companies;
mod config;
mod connections;
#[cfg(feature = "dev")]
mod demo;
mod fail;
mod plan;
#[cfg(feature = "dev")]
mod sandbox;
mod serve;
mod verify_webhook;
mod webhook_server;

/// Keep stock, prices and orders in step across sales channels.
#[derive(Debug, Parser)]
#[command(name = "stocksync", version)]
#[cfg_attr(
    feature = "dev",
    command(
        after_help = "Exit codes: 0 done, 1 failed or refused, 2 bad usage or input (one line on stderr says why).\n\
Try `stocksync demo`; for your own stores against the sandbox, `stocksync sandbox --seed` (docs/sandbox.md);\n\
then docs/configuration.md and examples/stocksync/stocksync.example.toml."
    )
)]
#[cfg_attr(
    not(feature = "dev"),
    command(
        after_help = "Exit codes: 0 done, 1 failed or refused, 2 bad usage or input (one line on stderr says why).\n\
For your own stores start from examples/stocksync/stocksync.example.toml."
    )
)]
struct Cli {
    /// The configuration file: the store, connections, credential sources and sync settings (see
    /// stocksync.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the reconciliation plan for a snapshot (a dry run: nothing is written).
    Plan(plan::PlanArgs),
    /// Start the platform emulators on loopback and print their base URLs and credentials (`--seed`: with a
    /// catalog, webhooks and a ready-to-use config; see docs/sandbox.md).
    #[cfg(feature = "dev")]
    Sandbox(sandbox::SandboxArgs),
    /// Manage companies (tenants, each with its own catalog and stores): list, add, remove.
    Companies(companies::CompaniesArgs),
    /// Manage connections (stores on channels): list, add, test, update, remove.
    Connections(connections::ConnectionsArgs),
    /// Run the emulators, connect them, sync, sell concurrently and show stock converge.
    #[cfg(feature = "dev")]
    Demo(demo::DemoArgs),
    /// Serve webhook endpoints per store and run the scheduler (needs --config).
    Serve(serve::ServeArgs),
    /// Run a full reconcile of one store now, with progress (needs --config).
    SyncNow(serve::SyncNowArgs),
    /// Check the config file without opening the store or reading a secret: exit 0 valid, 2 not.
    CheckConfig,
    /// Check a webhook delivery's signature and parse it: exit 0 genuine, 1 rejected, 2 bad usage.
    VerifyWebhook(verify_webhook::VerifyWebhookArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plan(args) => plan::run(args),
        #[cfg(feature = "dev")]
        Command::Sandbox(args) => sandbox::run(args),
        Command::Companies(args) => companies::run(cli.config.as_deref(), args),
        Command::Connections(args) => connections::run(cli.config.as_deref(), args),
        #[cfg(feature = "dev")]
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(cli.config.as_deref(), args),
        Command::SyncNow(args) => serve::sync_now(cli.config.as_deref(), args),
        Command::VerifyWebhook(args) => verify_webhook::run(args),
        Command::CheckConfig => config::run_check(cli.config.as_deref()),
    }
}
