//! `stocksync sandbox`: every platform emulator on a free loopback port, announced as one JSON line on
//! stdout (`{"takealot": {"base_url", "api_key", …}, "woocommerce": {…}}`), served until Ctrl-C.

use std::io::Write as _;
use std::process::ExitCode;

use channel_testkit::RunningEmulator;
use channel_testkit::amazon::{AmazonConfig, AmazonEmulator};
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};

/// Arguments of `stocksync sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {
    /// Turn off the emulated rate limits (Takealot's 60 requests a minute) for quick demos.
    #[arg(long)]
    no_rate_limits: bool,
}

pub(crate) fn run(args: SandboxArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("stocksync sandbox: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args))
}

/// Starts every emulator. Adding a platform is one line here.
async fn start_all(args: &SandboxArgs) -> channel_testkit::Result<Vec<Box<dyn RunningEmulator>>> {
    let mut takealot = TakealotConfig::default();
    if args.no_rate_limits {
        takealot.rate_limit = None;
    }
    let shopify = if args.no_rate_limits { ShopifyConfig::fast() } else { ShopifyConfig::default() };
    let amazon = if args.no_rate_limits { AmazonConfig::fast() } else { AmazonConfig::default() };
    Ok(vec![
        Box::new(TakealotEmulator::start(takealot).await?),
        Box::new(WooCommerceEmulator::start(WooCommerceConfig::default()).await?),
        Box::new(ShopifyEmulator::start(shopify).await?),
        Box::new(AmazonEmulator::start(amazon).await?),
    ])
}

async fn serve(args: SandboxArgs) -> ExitCode {
    let emulators = match start_all(&args).await {
        Ok(emulators) => emulators,
        Err(err) => {
            eprintln!("stocksync sandbox: {err}");
            return ExitCode::FAILURE;
        }
    };
    let line: serde_json::Map<String, serde_json::Value> =
        emulators.iter().map(|emulator| (emulator.name().to_owned(), emulator.info())).collect();
    let written = {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", serde_json::Value::Object(line)).and_then(|()| stdout.flush())
    };
    if written.is_err() {
        eprintln!("stocksync sandbox: could not write to stdout");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "stocksync sandbox: serving {} emulators (control surface under /_sandbox/); Ctrl-C to stop",
        emulators.len()
    );
    let stopped = tokio::signal::ctrl_c().await;
    drop(emulators);
    match stopped {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stocksync sandbox: could not wait for Ctrl-C: {err}");
            ExitCode::FAILURE
        }
    }
}
