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
use channel_testkit::ebay::{EbayConfig, EbayEmulator};
use channel_testkit::magento::{MagentoConfig, MagentoEmulator};
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{Emulator, PlatformControl, RegisterWebhook, RunningEmulator, SeedProduct};

use crate::fail::{Fail, failed, usage};

/// The catalog `--seed` puts on every platform: (SKU, quantity, price).
pub(crate) const CATALOG: &[(&str, i64, u32)] = &[("MUG-RED", 12, 150), ("TEE-BLK", 8, 220), ("CAP-GRN", 5, 99)];

/// Arguments of `stocksync sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {
    /// Turn off the emulated rate limits (Takealot's 60 requests a minute, eBay's daily call quota, the
    /// others' buckets) for quick demos.
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

/// A running emulator of any platform with its control surface: what the sandbox and the demo do with
/// every one of them, whatever the platform.
pub(crate) trait Running: RunningEmulator {
    /// `http://127.0.0.1:<port>`.
    fn base_url(&self) -> &str;
    /// Seeding, stock, orders and webhooks, as `/_sandbox/` offers them.
    fn control(&self) -> &dyn PlatformControl;
}

impl<P: PlatformControl> Running for Emulator<P> {
    fn base_url(&self) -> &str {
        Emulator::base_url(self)
    }

    fn control(&self) -> &dyn PlatformControl {
        self.platform()
    }
}

/// One platform of the sandbox: its emulator, and its store in the config file `--seed` writes.
struct Platform {
    emulator: Box<dyn Running>,
    /// The secret its webhooks are signed with; `None` when it sends none here (Amazon's notifications go
    /// through SQS: its orders are polled).
    webhook_secret: Option<String>,
    store: SandboxStore,
}

impl Platform {
    fn new(emulator: impl Running + 'static, webhook_secret: Option<&str>, store: SandboxStore) -> Self {
        Self { emulator: Box::new(emulator), webhook_secret: webhook_secret.map(str::to_owned), store }
    }
}

/// The running emulators, Takealot (the source of truth) first. Adding a platform is one function below
/// and one line in [`Sandbox::start`].
struct Sandbox {
    platforms: Vec<Platform>,
}

impl Sandbox {
    /// Starts every emulator.
    async fn start(args: &SandboxArgs) -> channel_testkit::Result<Self> {
        let fast = args.no_rate_limits;
        let platforms = vec![
            takealot(fast).await?,
            woocommerce().await?,
            shopify(fast).await?,
            amazon(fast).await?,
            ebay(fast).await?,
            magento().await?,
        ];
        Ok(Self { platforms })
    }

    /// Every emulator, as the JSON line announces them.
    fn all(&self) -> impl Iterator<Item = &dyn Running> {
        self.platforms.iter().map(|p| p.emulator.as_ref())
    }

    /// The same catalog on every platform, at the same quantities.
    fn seed(&self) -> Result<(), Fail> {
        for (sku, quantity, price) in CATALOG {
            for platform in &self.platforms {
                let seed = SeedProduct::new(*sku, *quantity, Decimal::from(*price));
                platform.emulator.control().seed_product(seed).map_err(failed)?;
            }
        }
        Ok(())
    }

    /// Webhooks of the platforms that send them, towards `serve` at `http://{listen}/webhooks/{store}`.
    fn register_webhooks(&self, listen: &str) -> Result<(), Fail> {
        for platform in &self.platforms {
            if let Some(secret) = &platform.webhook_secret {
                let url = format!("http://{listen}/webhooks/{}", platform.store.id);
                platform.emulator.control().register_webhook(RegisterWebhook::new(url, secret)).map_err(failed)?;
            }
        }
        Ok(())
    }
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.to_owned())
}

/// Credentials as (name, value).
fn credentials(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(name, value)| (*name, (*value).to_owned())).collect()
}

/// Takealot, the source of truth (rate limit: 60 requests a minute unless `fast`).
async fn takealot(fast: bool) -> channel_testkit::Result<Platform> {
    let mut config = TakealotConfig::default();
    if fast {
        config.rate_limit = None;
    }
    let tk = TakealotEmulator::start(config).await?;
    let warehouse = tk.warehouse_ids().first().copied().unwrap_or_default();
    let store = SandboxStore {
        id: "takealot",
        source_of_truth: true,
        settings: vec![("base_url", s(tk.base_url())), ("merchant_warehouse_id", toml::Value::from(warehouse as i64))],
        credentials: credentials(&[("api_key", tk.api_key()), ("webhook_secret", tk.webhook_secret())]),
    };
    let secret = tk.webhook_secret().to_owned();
    Ok(Platform::new(tk, Some(&secret), store))
}

async fn woocommerce() -> channel_testkit::Result<Platform> {
    let woo = WooCommerceEmulator::start(WooCommerceConfig::default()).await?;
    let store = SandboxStore {
        id: "woocommerce",
        source_of_truth: false,
        settings: vec![("base_url", s(woo.base_url()))],
        credentials: credentials(&[
            ("consumer_key", woo.consumer_key()),
            ("consumer_secret", woo.consumer_secret()),
            ("webhook_secret", woo.webhook_secret()),
        ]),
    };
    let secret = woo.webhook_secret().to_owned();
    Ok(Platform::new(woo, Some(&secret), store))
}

async fn shopify(fast: bool) -> channel_testkit::Result<Platform> {
    let sh = ShopifyEmulator::start(if fast { ShopifyConfig::fast() } else { ShopifyConfig::default() }).await?;
    let store = SandboxStore {
        id: "shopify",
        source_of_truth: false,
        settings: vec![
            ("base_url", s(sh.base_url())),
            ("shop_domain", s(&sh.platform().config().shop_domain)),
            ("location_id", s(&sh.location_id())),
        ],
        credentials: credentials(&[("access_token", sh.access_token()), ("webhook_secret", sh.webhook_secret())]),
    };
    let secret = sh.webhook_secret().to_owned();
    Ok(Platform::new(sh, Some(&secret), store))
}

/// Amazon: no webhooks (its notifications go through SQS), so its orders are polled.
async fn amazon(fast: bool) -> channel_testkit::Result<Platform> {
    let amz = AmazonEmulator::start(if fast { AmazonConfig::fast() } else { AmazonConfig::default() }).await?;
    let store = SandboxStore {
        id: "amazon",
        source_of_truth: false,
        settings: vec![
            ("base_url", s(amz.base_url())),
            ("token_url", s(&amz.token_url())),
            ("seller_id", s(amz.seller_id())),
            ("marketplace_ids", toml::Value::Array(vec![s(amz.marketplace_id())])),
        ],
        credentials: credentials(&[
            ("lwa_client_id", amz.client_id()),
            ("lwa_client_secret", amz.client_secret()),
            ("refresh_token", amz.refresh_token()),
        ]),
    };
    Ok(Platform::new(amz, None, store))
}

/// eBay: token, identity and API on the one emulator. Its notifications are not delivered here: its
/// orders are polled. Its request budget is the documented daily call quota unless `fast`.
async fn ebay(fast: bool) -> channel_testkit::Result<Platform> {
    let e = EbayEmulator::start(if fast { EbayConfig::fast() } else { EbayConfig::default() }).await?;
    let store = SandboxStore {
        id: "ebay",
        source_of_truth: false,
        settings: vec![
            ("base_url", s(e.base_url())),
            ("token_url", s(&e.token_url())),
            ("identity_url", s(e.identity_url())),
            ("marketplace_id", s(&e.platform().config().marketplace_id)),
        ],
        credentials: credentials(&[
            ("client_id", e.client_id()),
            ("client_secret", e.client_secret()),
            ("refresh_token", e.refresh_token()),
        ]),
    };
    Ok(Platform::new(e, None, store))
}

/// Magento 2 with input limiting and MSI reservations on, as documented (it has no rate limit). It sends
/// no webhooks: its orders are polled.
async fn magento() -> channel_testkit::Result<Platform> {
    let m = MagentoEmulator::start(MagentoConfig::default()).await?;
    let store = SandboxStore {
        id: "magento",
        source_of_truth: false,
        settings: vec![
            ("base_url", s(m.base_url())),
            ("store_code", s(m.store_code())),
            ("source_code", s(m.source_code())),
        ],
        credentials: credentials(&[("access_token", m.access_token())]),
    };
    Ok(Platform::new(m, None, store))
}

/// One store of the sandbox config; its id is also its channel.
struct SandboxStore {
    id: &'static str,
    /// Whether its stock is what the others follow (Takealot's).
    source_of_truth: bool,
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
fn config_text(platforms: &[Platform], listen: &str) -> String {
    let ids: Vec<&str> = platforms.iter().map(|p| p.store.id).collect();
    let polled: Vec<&str> = platforms.iter().filter(|p| p.webhook_secret.is_none()).map(|p| p.store.id).collect();
    let (first, rest) = ids.split_first().map_or(("", &[][..]), |(first, rest)| (*first, rest));
    let mut out = format!(
        "# Written by `stocksync sandbox --seed`: your stores on the sandbox's emulators, which listen on\n\
         # ports that change with every start. Load the credentials first:  . ./sandbox.env\n\
         # Then:  stocksync --config stocksync.toml connections add {first}   (and {rest})\n\
         #        stocksync --config stocksync.toml serve --listen {listen}\n\n\
         [store]\npath = \"stocksync.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n\n\
         [sync]\npoll_interval = \"1m\"   # no webhooks from {polled} here: their orders are polled\n",
        rest = rest.join(", "),
        polled = polled.join(", "),
    );
    for store in platforms.iter().map(|p| &p.store) {
        let creds: Vec<String> =
            store.credentials.iter().map(|(name, _)| format!("{name} = \"{}\"", store.variable(name))).collect();
        let _ = write!(
            out,
            "\n[[connections]]\nid = \"{id}\"\nchannel = \"{id}\"\nname = \"{id} (sandbox)\"\n",
            id = store.id
        );
        if store.source_of_truth {
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
fn env_text(platforms: &[Platform]) -> String {
    let mut out = String::from(
        "# Written by `stocksync sandbox --seed`: the sandbox's credentials. Load with  . ./sandbox.env\n",
    );
    let _ = writeln!(out, "export STOCKSYNC_CREDENTIAL_KEY='{}'", sync_engine::CredentialCipher::generate_key());
    for store in platforms.iter().map(|p| &p.store) {
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
    write_file(&args.out.join("stocksync.toml"), &config_text(&sandbox.platforms, &args.serve_listen), false)?;
    write_file(&args.out.join("sandbox.env"), &env_text(&sandbox.platforms), true)?;
    Ok(())
}

async fn serve(args: SandboxArgs) -> Result<(), Fail> {
    let sandbox = Sandbox::start(&args).await.map_err(failed)?;
    if args.seed {
        seed(&sandbox, &args)?;
    }
    let line: serde_json::Map<String, serde_json::Value> =
        sandbox.all().map(|emulator| (emulator.name().to_owned(), emulator.info())).collect();
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", serde_json::Value::Object(line))
            .and_then(|()| stdout.flush())
            .map_err(|_| failed("could not write to stdout"))?;
    }
    eprintln!(
        "stocksync sandbox: serving {} emulators (control surface under /_sandbox/); Ctrl-C to stop",
        sandbox.platforms.len()
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
