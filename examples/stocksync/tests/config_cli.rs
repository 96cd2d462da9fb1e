//! The config file's checks through the real binary: a secret written under `[connections.settings]` is
//! refused (exit 2, one line naming the setting) before anything is stored, and `check-config` validates
//! a whole file without reading a secret.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};

use support::{KEY, assert_one_line_failure, text};

fn stocksync(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    support::stocksync_command(Some(config), args, &["STOCKSYNC_CREDENTIAL_KEY"], env).output().expect("run stocksync")
}

fn write(dir: &Path, config: &str) -> PathBuf {
    let path = dir.join("stocksync.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn a_secret_in_the_settings_is_refused_before_anything_is_stored() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let emulator = rt.block_on(TakealotEmulator::start(TakealotConfig::default())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        &format!(
            r#"
[store]
path = "s.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[[connections]]
id = "takealot"
channel = "takealot"
credentials_env = {{ webhook_secret = "TK_WEBHOOK_SECRET" }}
[connections.settings]
base_url = "{url}"
merchant_warehouse_id = {warehouse}
api_key = "{key}"
"#,
            url = emulator.base_url(),
            warehouse = emulator.warehouse_ids()[0],
            key = emulator.api_key(),
        ),
    );
    let env = [("STOCKSYNC_CREDENTIAL_KEY", KEY), ("TK_WEBHOOK_SECRET", "whsec")];
    let added = stocksync(&config, &["connections", "add", "takealot"], &env);
    assert_one_line_failure(&added, 2, &["takealot", "settings.api_key is a secret", "credentials"]);
    assert!(!text(&added.stderr).contains(emulator.api_key()), "the secret never shows");
    let db = std::fs::read(dir.path().join("s.db")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&db).contains(emulator.api_key()),
        "the key was not written to the store in plain text"
    );
    // Every command that loads the file says so, not only the one that stores settings.
    let listed = stocksync(&config, &["connections", "list"], &env);
    assert_one_line_failure(&listed, 2, &["settings.api_key is a secret"]);
    let checked = stocksync(&config, &["check-config"], &[]);
    assert_one_line_failure(&checked, 2, &["settings.api_key is a secret"]);
}

#[test]
fn check_config_validates_every_connection_without_reading_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"
[store]
path = "s.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[[connections]]
id = "woo"
channel = "woocommerce"
credentials_env = { consumer_key = "WOO_CK", consumer_secret = "WOO_CS" }
[connections.settings]
store_url = "https://shop.example"
"#;
    let config = write(dir.path(), good);
    let ok = stocksync(&config, &["check-config"], &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("woo"), "names what it checked: {}", text(&ok.stdout));
    assert!(!dir.path().join("s.db").exists(), "check-config opens no store");

    // A setting the adapter refuses: the URL of a WooCommerce store with /wp-json in it.
    let config = write(dir.path(), &good.replace("https://shop.example", "https://shop.example/wp-json"));
    assert_one_line_failure(&stocksync(&config, &["check-config"], &[]), 2, &["woo", "wp-json"]);
    // A connection without a credential source.
    let config = write(
        dir.path(),
        &good.replace(r#"credentials_env = { consumer_key = "WOO_CK", consumer_secret = "WOO_CS" }"#, ""),
    );
    assert_one_line_failure(&stocksync(&config, &["check-config"], &[]), 2, &["woo", "credentials"]);
    // A bad [sync] value.
    let config = write(dir.path(), &format!("{good}\n[sync]\ntick = \"soon\"\n"));
    assert_one_line_failure(&stocksync(&config, &["check-config"], &[]), 2, &["tick"]);
    // Store ids `connections add` would refuse.
    for id in ["woo commerce/x", ""] {
        let config = write(dir.path(), &good.replace(r#"id = "woo""#, &format!("id = {id:?}")));
        assert_one_line_failure(&stocksync(&config, &["check-config"], &[]), 2, &["store id", "1-64"]);
    }
}
