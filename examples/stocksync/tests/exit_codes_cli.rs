//! Exit codes and messages of the CLI as a seller meets them: bad input (an unknown store, an invalid store id
//! or URL, a missing database directory, a credential key that does not open the stored credentials) exits
//! 2 with one line naming the problem; `serve` says when its first reconcile could read no store; its logs
//! follow `STOCKSYNC_LOG`, else `RUST_LOG`.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use channel_core::StoreId;
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use sync_engine::store::{ConnectionRecord, Scope};
use sync_engine::{CredentialCipher, Credentials, SqliteStore, StoreExt};

use support::{KEY, assert_one_line_failure, setup, text};

const OTHER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn stocksync(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    support::stocksync_command(Some(config), args, &["STOCKSYNC_LOG", "RUST_LOG"], env).output().expect("run stocksync")
}

const BAD: &str = r#"
[store]
path = "s.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[[connections]]
id = "bad id!"
channel = "woocommerce"
credentials_env = { consumer_key = "CK", consumer_secret = "CS" }
[connections.settings]
store_url = "http://127.0.0.1:9"

[[connections]]
id = "ftp-woo"
channel = "woocommerce"
credentials_env = { consumer_key = "CK", consumer_secret = "CS" }
[connections.settings]
store_url = "ftp://shop.example"

[[connections]]
id = "ftp-takealot"
channel = "takealot"
credentials_env = { api_key = "CK" }
[connections.settings]
base_url = "ftp://api.example"
merchant_warehouse_id = 1
"#;

#[test]
fn unknown_stores_invalid_ids_and_url_schemes_exit_2() {
    let (_dir, cfg) = setup(BAD);
    let env = [("STOCKSYNC_CREDENTIAL_KEY", KEY), ("CK", "ck_1"), ("CS", "cs_1")];
    assert_one_line_failure(&stocksync(&cfg, &["connections", "add", "bad id!"], &env), 2, &["bad id!", "store id"]);
    assert_one_line_failure(&stocksync(&cfg, &["connections", "add", "ftp-woo"], &env), 2, &["ftp-woo", "scheme"]);
    assert_one_line_failure(
        &stocksync(&cfg, &["connections", "add", "ftp-takealot"], &env),
        2,
        &["ftp-takealot", "base_url"],
    );
    for action in ["test", "remove", "update", "add"] {
        let o = stocksync(&cfg, &["connections", action, "nope"], &env);
        assert_one_line_failure(&o, 2, &["nope"]);
    }
    assert_one_line_failure(&stocksync(&cfg, &["sync-now", "nope"], &env), 2, &["nope"]);
}

#[test]
fn a_missing_database_directory_is_named() {
    let (dir, cfg) = setup("[store]\npath = \"no-such-dir/s.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n");
    let missing = dir.path().join("no-such-dir");
    let env = [("STOCKSYNC_CREDENTIAL_KEY", KEY)];
    for args in [&["connections", "list"][..], &["sync-now", "x"], &["serve", "--listen", "127.0.0.1:0"]] {
        let o = stocksync(&cfg, args, &env);
        assert_one_line_failure(&o, 2, &[missing.to_str().unwrap(), "does not exist"]);
    }
    assert!(!missing.exists(), "nothing is created");
}

/// A store whose credentials were sealed with `KEY`, put in the store as `connections add` would.
fn seed_sealed(db: &Path, id: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(db).await.unwrap();
        let cipher = CredentialCipher::from_base64(KEY).unwrap();
        let now = jiff::Timestamp::from_second(1_767_225_600).unwrap();
        let mut rec =
            ConnectionRecord::new(StoreId::new(id), channel_core::ChannelKind::Woocommerce, id, Scope::Global, now);
        let creds = Credentials::new().with("consumer_key", "ck_sealed").with("consumer_secret", "cs_sealed");
        rec.credentials = Some(cipher.seal(&rec.store, &creds).unwrap());
        rec.settings = serde_json::json!({ "store_url": "http://127.0.0.1:9" });
        store.put_connection(rec).await.unwrap();
        store.close().await;
    });
}

#[test]
fn a_credential_key_that_does_not_open_the_stores_is_named() {
    let (dir, cfg) = setup(
        "[store]\npath = \"s.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n\n[[connections]]\nid = \"woo\"\n\
         channel = \"woocommerce\"\ncredentials_env = { consumer_key = \"CK\", consumer_secret = \"CS\" }\n",
    );
    seed_sealed(&dir.path().join("s.db"), "woo");
    let wrong = [("STOCKSYNC_CREDENTIAL_KEY", OTHER_KEY)];
    let serve = stocksync(&cfg, &["serve", "--listen", "127.0.0.1:0"], &wrong);
    assert_one_line_failure(&serve, 2, &["woo", "STOCKSYNC_CREDENTIAL_KEY"]);
    assert!(!text(&serve.stderr).contains("connections add"), "the store exists: {}", text(&serve.stderr));
    let sync = stocksync(&cfg, &["sync-now", "woo"], &wrong);
    assert_one_line_failure(&sync, 2, &["woo", "STOCKSYNC_CREDENTIAL_KEY"]);
    let test = stocksync(&cfg, &["connections", "test", "woo"], &wrong);
    assert_one_line_failure(&test, 2, &["woo", "STOCKSYNC_CREDENTIAL_KEY"]);
}

/// A running `serve` whose stderr is collected.
struct Served {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start(cfg: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = support::stocksync_command(
            Some(cfg),
            &["serve", "--listen", "127.0.0.1:0"],
            &["STOCKSYNC_LOG", "RUST_LOG"],
            env,
        );
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let reader = support::collect(child.stderr.take().unwrap(), Arc::clone(&stderr), Vec::new());
        Self { child, stderr, reader: Some(reader) }
    }

    /// Wait until stderr contains `needle`, then stop serve (SIGTERM) and return all of stderr.
    fn stop_after(mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.stderr.lock().unwrap().contains(needle) {
            if Instant::now() > deadline || self.child.try_wait().unwrap().is_some() {
                let _ = self.child.kill();
                panic!("serve never logged {needle:?}: {}", self.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(sent.success());
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_first_reconcile_that_reads_no_store_is_a_warning_and_logs_follow_rust_log() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let woo = rt.block_on(WooCommerceEmulator::start(WooCommerceConfig::default())).unwrap();
    let config = format!(
        "[store]\npath = \"s.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n\n[[connections]]\nid = \"woo\"\n\
         channel = \"woocommerce\"\nsource_of_truth = true\n\
         credentials_env = {{ consumer_key = \"CK\", consumer_secret = \"CS\" }}\n[connections.settings]\n\
         store_url = \"{}\"\nmax_attempts = 1\n",
        woo.base_url()
    );
    let (_dir, cfg) = setup(&config);
    let (ck, cs) = (woo.consumer_key().to_owned(), woo.consumer_secret().to_owned());
    let env = [("STOCKSYNC_CREDENTIAL_KEY", KEY), ("CK", ck.as_str()), ("CS", cs.as_str())];
    let added = stocksync(&cfg, &["connections", "add", "woo"], &env);
    assert_eq!(added.status.code(), Some(0), "{}", text(&added.stderr));
    // The platform goes away: the first reconcile of `serve` can read no store.
    drop(woo);
    let stderr = Served::start(&cfg, &env[..1]).stop_after("first full reconcile");
    assert!(!stderr.contains("first full reconcile done"), "{stderr}");
    let warning = stderr.lines().find(|l| l.contains("first full reconcile")).unwrap();
    assert!(warning.contains("WARN") && warning.contains("woo"), "{warning}");
    // RUST_LOG is honoured: at `warn` the info lines are gone and the warning stays.
    let quiet = Served::start(&cfg, &[env[0], ("RUST_LOG", "warn")]).stop_after("first full reconcile");
    assert!(!quiet.contains("INFO"), "{quiet}");
    // STOCKSYNC_LOG wins over RUST_LOG.
    let both = Served::start(&cfg, &[env[0], ("RUST_LOG", "off"), ("STOCKSYNC_LOG", "info")])
        .stop_after("first full reconcile");
    assert!(both.contains("INFO"), "{both}");
}

#[test]
fn serve_refuses_a_log_filter_or_public_url_it_cannot_use() {
    let (_dir, cfg) = setup("[store]\npath = \"s.db\"\nkey_env = \"STOCKSYNC_CREDENTIAL_KEY\"\n");
    // A filter that does not parse is not silently replaced by the default level.
    for var in ["RUST_LOG", "STOCKSYNC_LOG"] {
        let o = stocksync(&cfg, &["serve"], &[(var, "===bad["), ("STOCKSYNC_CREDENTIAL_KEY", KEY)]);
        assert_one_line_failure(&o, 2, &[var, "filter"]);
    }
    // The platforms cannot deliver to anything but http(s).
    for url in ["ftp://hooks.example/", "https://", "hooks.example"] {
        let o = stocksync(&cfg, &["serve", "--public-url", url], &[("STOCKSYNC_CREDENTIAL_KEY", KEY)]);
        assert_eq!(o.status.code(), Some(2), "{url}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("--public-url"), "{url}: {}", text(&o.stderr));
    }
}
