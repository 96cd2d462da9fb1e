//! `stocksync sandbox`: every platform emulator on a free loopback port, announced as one JSON line on
//! stdout (`{"takealot": {"base_url", "api_key", …}, "woocommerce": {…}}`), served until Ctrl-C.
//!
//! `--seed` makes it ready for your own stores (docs/sandbox.md): the same catalog on every platform
//! ([`CATALOG`], Takealot the source of truth), webhooks registered towards the address `serve` will
//! listen on, and a config file plus the credentials' environment variables written to `--out` before the
//! JSON line is printed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use channel_core::rust_decimal::Decimal;
use channel_testkit::amazon::{AmazonConfig, AmazonEmulator};
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{RegisterWebhook, RunningEmulator, SeedProduct};

use crate::fail::{Fail, failed, usage};

/// The catalog `--seed` puts on every platform: (SKU, quantity, price).
pub(crate) const CATALOG: &[(&str, i64, u32)] = &[("MUG-RED", 12, 150), ("TEE-BLK", 8, 220), ("CAP-GRN", 5, 99)];

/// Arguments of `stocksync sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {
    /// Turn off the emulated rate limits (Takealot's 60 requests a minute) for quick demos.
    #[arg(long)]
    no_rate_limits: bool,
    /// Seed every platform with the same catalog, register webhooks towards `--serve-listen`, and write a
    /// ready-to-use stocksync.toml and sandbox.env (the credentials) to `--out`.
    #[arg(long)]
    seed: bool,
    /// Where `--seed` writes stocksync.toml, sandbox.env and (later, through the CLI) stocksync.db.
    #[arg(long, value_name = "DIR", default_value = "stocksync-sandbox")]
    out: PathBuf,
    /// The address `stocksync serve --listen` will use: webhooks are registered at
    /// http://ADDR/webhooks/STORE.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    serve_listen: String,
}

pub(crate) fn run(args: SandboxArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("stocksync sandbox: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    crate::fail::exit("sandbox", runtime.block_on(serve(args)))
}

/// The running emulators.
struct Sandbox {
    takealot: TakealotEmulator,
    woo: WooCommerceEmulator,
    shopify: ShopifyEmulator,
    amazon: AmazonEmulator,
}

impl Sandbox {
    /// Starts every emulator.
    async fn start(args: &SandboxArgs) -> channel_testkit::Result<Self> {
        let mut takealot = TakealotConfig::default();
        if args.no_rate_limits {
            takealot.rate_limit = None;
        }
        let shopify = if args.no_rate_limits { ShopifyConfig::fast() } else { ShopifyConfig::default() };
        let amazon = if args.no_rate_limits { AmazonConfig::fast() } else { AmazonConfig::default() };
        Ok(Self {
            takealot: TakealotEmulator::start(takealot).await?,
            woo: WooCommerceEmulator::start(WooCommerceConfig::default()).await?,
            shopify: ShopifyEmulator::start(shopify).await?,
            amazon: AmazonEmulator::start(amazon).await?,
        })
    }

    /// Every emulator, as the JSON line announces them. Adding a platform is one line here.
    fn all(&self) -> [&dyn RunningEmulator; 4] {
        [&self.takealot, &self.woo, &self.shopify, &self.amazon]
    }

    /// The same catalog on every platform, at the same quantities.
    fn seed(&self) -> Result<(), Fail> {
        for (sku, quantity, price) in CATALOG {
            let seed = || SeedProduct::new(*sku, *quantity, Decimal::from(*price));
            self.takealot.seed_product(seed()).map_err(failed)?;
            self.woo.seed_product(seed()).map_err(failed)?;
            self.shopify.seed_product(seed()).map_err(failed)?;
            self.amazon.seed_product(seed()).map_err(failed)?;
        }
        Ok(())
    }

    /// Webhooks of the platforms that send them (Amazon's notifications go through SQS: it is polled),
    /// towards `serve` at `http://{listen}/webhooks/{store}`.
    fn register_webhooks(&self, listen: &str) -> Result<(), Fail> {
        let url = |store: &str| format!("http://{listen}/webhooks/{store}");
        let (tk, woo, sh) = (&self.takealot, &self.woo, &self.shopify);
        tk.register_webhook(RegisterWebhook::new(url("takealot"), tk.webhook_secret())).map_err(failed)?;
        woo.register_webhook(RegisterWebhook::new(url("woocommerce"), woo.webhook_secret())).map_err(failed)?;
        sh.register_webhook(RegisterWebhook::new(url("shopify"), sh.webhook_secret())).map_err(failed)?;
        Ok(())
    }

    /// The connections of the config file `--seed` writes: (id, channel, name, settings, credentials as
    /// (name, environment variable, value)).
    fn connections(&self) -> Vec<SandboxStore> {
        let (tk, woo, sh, amz) = (&self.takealot, &self.woo, &self.shopify, &self.amazon);
        let s = |v: &str| toml::Value::String(v.to_owned());
        let warehouse = tk.warehouse_ids().first().copied().unwrap_or_default();
        vec![
            SandboxStore {
                id: "takealot",
                settings: vec![
                    ("base_url", s(tk.base_url())),
                    ("merchant_warehouse_id", toml::Value::from(warehouse as i64)),
                ],
                credentials: vec![
                    ("api_key", tk.api_key().to_owned()),
                    ("webhook_secret", tk.webhook_secret().to_owned()),
                ],
            },
            SandboxStore {
                id: "woocommerce",
                settings: vec![("base_url", s(woo.base_url()))],
                credentials: vec![
                    ("consumer_key", woo.consumer_key().to_owned()),
                    ("consumer_secret", woo.consumer_secret().to_owned()),
                    ("webhook_secret", woo.webhook_secret().to_owned()),
                ],
            },
            SandboxStore {
                id: "shopify",
                settings: vec![
                    ("base_url", s(sh.base_url())),
                    ("shop_domain", s(&sh.platform().config().shop_domain)),
                    ("location_id", s(&sh.location_id())),
                ],
                credentials: vec![
                    ("access_token", sh.access_token().to_owned()),
                    ("webhook_secret", sh.webhook_secret().to_owned()),
                ],
            },
            SandboxStore {
                id: "amazon",
                settings: vec![
                    ("base_url", s(amz.base_url())),
                    ("token_url", s(&amz.token_url())),
                    ("seller_id", s(amz.seller_id())),
                    ("marketplace_ids", toml::Value::Array(vec![s(amz.marketplace_id())])),
                ],
                credentials: vec![
                    ("lwa_client_id", amz.client_id().to_owned()),
                    ("lwa_client_secret", amz.client_secret().to_owned()),
                    ("refresh_token", amz.refresh_token().to_owned()),
                ],
            },
        ]
    }
}

/// One store of the sandbox config; its id is also its channel.
struct SandboxStore {
    id: &'static str,
    settings: Vec<(&'static str, toml::Value)>,
    credentials: Vec<(&'static str, String)>,
}

impl SandboxStore {
    /// The environment variable holding `credential`: `SANDBOX_TAKEALOT_API_KEY`.
    fn variable(&self, credential: &str) -> String {
        format!("SANDBOX_{}_{}", self.id, credential).to_uppercase()
    }
}

/// The config file `--seed` writes (see docs/sandbox.md).
fn config_text(stores: &[SandboxStore], listen: &str) -> String {
    let mut out = format!(
        "# Written by `stocksync sandbox --seed`: your stores on the sandbox's emulators, which listen on\n\
         # ports that change with every start. Load the credentials first:  . ./sandbox.env\n\
         # Then:  stocksync --config stocksync.toml connections add takealot   (and woocommerce, shopify, amazon)\n\
         #        stocksync --config stocksync.toml serve --listen {listen}\n\n\
         [store]\npath = \"stocksync.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n\n\
         [sync]\npoll_interval = \"1m\"   # Amazon sends no webhooks here: its orders are polled\n"
    );
    for store in stores {
        let creds: Vec<String> =
            store.credentials.iter().map(|(name, _)| format!("{name} = \"{}\"", store.variable(name))).collect();
        let _ = write!(
            out,
            "\n[[connections]]\nid = \"{id}\"\nchannel = \"{id}\"\nname = \"{id} (sandbox)\"\n",
            id = store.id
        );
        if store.id == "takealot" {
            out.push_str("source_of_truth = true\n");
        }
        let _ = writeln!(out, "credentials_env = {{ {} }}\n[connections.settings]", creds.join(", "));
        for (name, value) in &store.settings {
            let _ = writeln!(out, "{name} = {value}");
        }
    }
    out
}

/// The environment file `--seed` writes: `export NAME='value'` lines, the credential key first.
fn env_text(stores: &[SandboxStore]) -> String {
    let mut out = String::from(
        "# Written by `stocksync sandbox --seed`: the sandbox's credentials. Load with  . ./sandbox.env\n",
    );
    let _ = writeln!(out, "export STOCKSYNC_CREDENTIAL_KEY='{}'", sync_engine::CredentialCipher::generate_key());
    for store in stores {
        for (name, value) in &store.credentials {
            let _ = writeln!(out, "export {}='{}'", store.variable(name), value.replace('\'', r"'\''"));
        }
    }
    out
}

/// Write `text` to `path`, readable by the owner only when it holds secrets.
fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), Fail> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let _ = secret;
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))
}

/// `--seed`: catalog, webhooks, and the config and environment files in `out`.
fn seed(sandbox: &Sandbox, args: &SandboxArgs) -> Result<(), Fail> {
    let db = args.out.join("stocksync.db");
    if db.exists() {
        return Err(usage(format!(
            "{} is left from an earlier sandbox (whose ports and credentials are gone): remove {} or pass another --out",
            db.display(),
            args.out.display()
        )));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| failed(format!("cannot create {}: {e}", args.out.display())))?;
    sandbox.seed()?;
    sandbox.register_webhooks(&args.serve_listen)?;
    let stores = sandbox.connections();
    write_file(&args.out.join("stocksync.toml"), &config_text(&stores, &args.serve_listen), false)?;
    write_file(&args.out.join("sandbox.env"), &env_text(&stores), true)?;
    Ok(())
}

async fn serve(args: SandboxArgs) -> Result<(), Fail> {
    let sandbox = Sandbox::start(&args).await.map_err(failed)?;
    if args.seed {
        seed(&sandbox, &args)?;
    }
    let line: serde_json::Map<String, serde_json::Value> =
        sandbox.all().iter().map(|emulator| (emulator.name().to_owned(), emulator.info())).collect();
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", serde_json::Value::Object(line))
            .and_then(|()| stdout.flush())
            .map_err(|_| failed("could not write to stdout"))?;
    }
    eprintln!(
        "stocksync sandbox: serving {} emulators (control surface under /_sandbox/); Ctrl-C to stop",
        sandbox.all().len()
    );
    if args.seed {
        let dir = args.out.display();
        eprintln!(
            "stocksync sandbox: seeded {} SKUs on every platform; wrote {dir}/stocksync.toml and {dir}/sandbox.env. Next: \
             cd {dir} && . ./sandbox.env && stocksync --config stocksync.toml connections add takealot (docs/sandbox.md)",
            CATALOG.len()
        );
    }
    tokio::signal::ctrl_c().await.map_err(|e| failed(format!("could not wait for Ctrl-C: {e}")))?;
    drop(sandbox);
    Ok(())
}
