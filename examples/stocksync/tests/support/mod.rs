//! What the black-box CLI tests of `stocksync` share: running the binary, checking its one-line
//! failures, the seller's emulators and config file, and a `serve` child process whose output is
//! collected. Each test file uses some of it.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use channel_testkit::RegisterWebhook;
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};

/// A credential key: 32 bytes, base64.
pub(crate) const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `stocksync` binary with `--config config` (if any) and `args`, the variables `unset` removed
/// and `env` set.
pub(crate) fn stocksync_command<K, V>(config: Option<&Path>, args: &[&str], unset: &[&str], env: &[(K, V)]) -> Command
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stocksync"));
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.args(args);
    for var in unset {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// What a failure's line must mention: one needle or several.
pub(crate) trait Needles {
    fn needles(&self) -> Vec<&str>;
}

impl Needles for &str {
    fn needles(&self) -> Vec<&str> {
        vec![self]
    }
}

impl Needles for &[&str] {
    fn needles(&self) -> Vec<&str> {
        self.to_vec()
    }
}

impl<const N: usize> Needles for &[&str; N] {
    fn needles(&self) -> Vec<&str> {
        self.to_vec()
    }
}

/// The run exited with `code` and wrote one line to stderr, mentioning every needle.
pub(crate) fn assert_one_line_failure(o: &Output, code: i32, needles: impl Needles) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stdout: {} stderr: {err}", text(&o.stdout));
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    for needle in needles.needles() {
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}

/// Write `config` as `stocksync.toml` in a fresh directory.
pub(crate) fn setup(config: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stocksync.toml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

/// A thread copying everything `from` yields into `into` and each of `tees`.
pub(crate) fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    tees: Vec<Arc<Mutex<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
            for tee in &tees {
                tee.lock().unwrap().push_str(&chunk);
            }
            into.lock().unwrap().push_str(&chunk);
        }
    })
}

/// The emulators of a seller: Takealot (the source, with no rate limit and fast batches), WooCommerce
/// configured as `woo`, and a fast Shopify, on `rt`.
pub(crate) fn start_emulators(
    rt: &tokio::runtime::Runtime,
    configure_takealot: impl FnOnce(&mut TakealotConfig),
    woo: WooCommerceConfig,
) -> (TakealotEmulator, WooCommerceEmulator, ShopifyEmulator) {
    rt.block_on(async {
        let mut tk = TakealotConfig::default();
        tk.rate_limit = None;
        tk.batch_processing_delay = Duration::from_millis(5);
        configure_takealot(&mut tk);
        (
            TakealotEmulator::start(tk).await.unwrap(),
            WooCommerceEmulator::start(woo).await.unwrap(),
            ShopifyEmulator::start(ShopifyConfig::fast()).await.unwrap(),
        )
    })
}

/// The config's `[store]` and `[sync]` sections, refreshing every `refresh_interval`.
pub(crate) fn store_and_sync(refresh_interval: &str) -> String {
    format!(
        r#"
[store]
path = "stocksync.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[sync]
poll_interval = "1h"
tick = "50ms"
refresh_interval = "{refresh_interval}"
first_poll_lookback = "1h"
lease = "1s"
"#
    )
}

/// The `takealot` connection, the source of truth.
pub(crate) fn takealot_connection(takealot: &TakealotEmulator) -> String {
    format!(
        r#"
[[connections]]
id = "takealot"
channel = "takealot"
name = "Takealot"
source_of_truth = true
credentials_env = {{ api_key = "TK_API_KEY", webhook_secret = "TK_WEBHOOK_SECRET" }}
[connections.settings]
base_url = "{tk_url}"
merchant_warehouse_id = {warehouse}
batch_poll_interval_ms = 10
requests_per_minute = 100000
"#,
        tk_url = takealot.base_url(),
        warehouse = takealot.warehouse_ids()[0],
    )
}

/// The `woo-store` connection, with `sync_mode` if one is given.
pub(crate) fn woo_connection(woo: &WooCommerceEmulator, sync_mode: Option<&str>) -> String {
    let sync_mode = sync_mode.map(|mode| format!("sync_mode = \"{mode}\"\n")).unwrap_or_default();
    format!(
        r#"
[[connections]]
id = "woo-store"
channel = "woocommerce"
name = "Acme WooCommerce"
{sync_mode}credentials_env = {{ consumer_key = "WOO_CK", consumer_secret = "WOO_CS", webhook_secret = "WOO_WEBHOOK_SECRET" }}
[connections.settings]
store_url = "{woo_url}"
"#,
        woo_url = woo.base_url(),
    )
}

/// The `shopify` connection.
pub(crate) fn shopify_connection(shopify: &ShopifyEmulator) -> String {
    format!(
        r#"
[[connections]]
id = "shopify"
channel = "shopify"
name = "Acme Shopify"
credentials_env = {{ access_token = "SHOPIFY_TOKEN", webhook_secret = "SHOPIFY_WEBHOOK_SECRET" }}
[connections.settings]
shop_domain = "{shop_domain}"
base_url = "{shop_url}"
"#,
        shop_domain = shopify.platform().config().shop_domain,
        shop_url = shopify.base_url(),
    )
}

/// The credential key and every secret the three connections read.
pub(crate) fn seller_env(
    takealot: &TakealotEmulator,
    woo: &WooCommerceEmulator,
    shopify: &ShopifyEmulator,
) -> Vec<(String, String)> {
    [
        ("STOCKSYNC_CREDENTIAL_KEY", KEY),
        ("TK_API_KEY", takealot.api_key()),
        ("TK_WEBHOOK_SECRET", takealot.webhook_secret()),
        ("WOO_CK", woo.consumer_key()),
        ("WOO_CS", woo.consumer_secret()),
        ("WOO_WEBHOOK_SECRET", woo.webhook_secret()),
        ("SHOPIFY_TOKEN", shopify.access_token()),
        ("SHOPIFY_WEBHOOK_SECRET", shopify.webhook_secret()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

/// A running `serve`, started by [`Served::start`]: its stderr is collected.
pub(crate) struct Served {
    child: Option<Child>,
    pub(crate) base: String,
    pub(crate) stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Served {
    /// Spawn `command` (a `serve`) and wait for its `listening on` line; everything it writes is also
    /// copied into `tee` if one is given.
    pub(crate) fn start(mut command: Command, tee: Option<&Arc<Mutex<String>>>) -> Self {
        let tees: Vec<_> = tee.into_iter().cloned().collect();
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start stocksync serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_reader = collect(child.stderr.take().unwrap(), Arc::clone(&stderr), tees.clone());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        for tee in &tees {
            tee.lock().unwrap().push_str(&first);
        }
        let Some(base) = first.strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            let _ = err_reader.join();
            panic!("serve did not announce its address: {first:?}; stderr: {}", stderr.lock().unwrap());
        };
        let out_reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                for tee in &tees {
                    tee.lock().unwrap().push_str(&line);
                }
            }
        });
        Self { child: Some(child), base, stderr, readers: vec![err_reader, out_reader] }
    }

    /// Everything serve wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Send `signal` (`TERM`, `INT`) and wait for the process to end.
    pub(crate) fn stop(mut self, signal: &str) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        assert!(sent.success(), "kill -{signal} failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not stop on SIG{signal}; stderr: {}", self.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (status, self.log())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `connections add` each of `stores` with `run`, which must succeed.
pub(crate) fn add_connections(run: impl Fn(&[&str]) -> Output, stores: &[&str]) {
    for store in stores {
        let added = run(&["connections", "add", store]);
        assert_eq!(added.status.code(), Some(0), "connections add {store}: {}", text(&added.stderr));
    }
}

/// Register each of `stores` (in that order) to deliver its webhooks to serve at `base`.
pub(crate) fn register_webhooks(
    base: &str,
    stores: &[&str],
    takealot: &TakealotEmulator,
    woo: &WooCommerceEmulator,
    shopify: &ShopifyEmulator,
) {
    for store in stores {
        let url = format!("{base}/webhooks/{store}");
        let hook = match *store {
            "takealot" => takealot.register_webhook(RegisterWebhook::new(url, takealot.webhook_secret())),
            "woo-store" => woo.register_webhook(RegisterWebhook::new(url, woo.webhook_secret())),
            "shopify" => shopify.register_webhook(RegisterWebhook::new(url, shopify.webhook_secret())),
            other => panic!("no store {other}"),
        };
        hook.unwrap_or_else(|e| panic!("registering the {store} webhook: {e}"));
    }
}
