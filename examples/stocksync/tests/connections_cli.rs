//! `stocksync --config FILE connections …` end to end, over a real SQLite file.

mod support;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use channel_core::{AccountIdentity, ChannelKind, StoreId};
use sync_engine::store::{CompanyId, CompanyRecord, ConnectionRecord, ListingRecord, Scope, WarehouseId};
use sync_engine::{CredentialCipher, Credentials, SqliteStore, Store, StoreExt, WriteOp};

use support::{KEY, assert_one_line_failure, setup, text};

fn stocksync(config: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let unset = ["STOCKSYNC_CREDENTIAL_KEY", "TAKEALOT_API_KEY"];
    support::stocksync_command(config, args, &unset, env).output().expect("run stocksync")
}

fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

const CONFIG: &str = r#"
[store]
path = "s.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[[connections]]
id = "takealot"
channel = "takealot"
name = "Takealot"
source_of_truth = true
credentials_env = { api_key = "TAKEALOT_API_KEY" }
[connections.settings]
seller_id = "1234"
"#;

fn seed(db: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let root = Arc::new(SqliteStore::open(db).await.unwrap());
        let cipher = CredentialCipher::from_base64(KEY).unwrap();
        let now = jiff::Timestamp::from_second(1_767_225_600).unwrap();
        let acme = CompanyId::new("acme");
        root.commit(WriteOp::PutCompany(CompanyRecord::new(acme.clone(), "Acme", now)).into()).await.unwrap();
        for (id, channel, company) in
            [("takealot", ChannelKind::Takealot, None), ("woo", ChannelKind::Woocommerce, Some(&acme))]
        {
            let scope = company.map_or(Scope::Global, |c| Scope::Client(c.clone()));
            let store = company.map_or_else(|| Arc::clone(&root) as Arc<dyn Store>, |c| root.for_company(c));
            let mut rec = ConnectionRecord::new(StoreId::new(id), channel, format!("{id} shop"), scope, now);
            rec.credentials =
                Some(cipher.seal(&rec.store, &Credentials::new().with("api_key", "very-secret-value")).unwrap());
            rec.account = Some(AccountIdentity::new(channel, format!("acct-{id}")));
            rec.warehouse = Some(WarehouseId::new("jhb"));
            store.put_connection(rec).await.unwrap();
            store.put_listing(ListingRecord::new(StoreId::new(id), "L1".into(), "MUG")).await.unwrap();
        }
        root.close().await;
    });
}

#[test]
fn bad_input_exits_2_with_one_line() {
    assert_one_line_failure(&stocksync(None, &["connections", "list"], &[]), 2, "--config");
    let missing = Path::new("/nonexistent/stocksync.toml");
    assert_one_line_failure(&stocksync(Some(missing), &["connections", "list"], &[]), 2, "cannot read");
    let (_d, bad) = setup("[store]\npath = \"s.db\"\nkey_env = \"K\"\nbogus = 1\n");
    assert_one_line_failure(&stocksync(Some(&bad), &["connections", "list"], &[]), 2, "bogus");
    let (_d, cfg) = setup(CONFIG);
    assert_one_line_failure(&stocksync(Some(&cfg), &["connections", "list"], &[]), 2, "STOCKSYNC_CREDENTIAL_KEY");
    let short = [("STOCKSYNC_CREDENTIAL_KEY", "c2hvcnQ=")];
    assert_one_line_failure(&stocksync(Some(&cfg), &["connections", "list"], &short), 2, "32 are needed");
    let key = [("STOCKSYNC_CREDENTIAL_KEY", KEY)];
    assert_one_line_failure(&stocksync(Some(&cfg), &["connections", "add", "nope"], &key), 2, "no connection \"nope\"");
    assert_one_line_failure(&stocksync(Some(&cfg), &["connections", "add", "takealot"], &key), 2, "TAKEALOT_API_KEY");
    assert_one_line_failure(
        &stocksync(Some(&cfg), &["connections", "list", "--channel", "myspace"], &key),
        2,
        "unknown channel",
    );
    // Secrets are never taken from the command line.
    let o = stocksync(Some(&cfg), &["connections", "add", "takealot", "--api-key", "x"], &key);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn list_test_and_remove_over_sqlite() {
    let (dir, cfg) = setup(CONFIG);
    let key = [("STOCKSYNC_CREDENTIAL_KEY", KEY)];
    let empty = stocksync(Some(&cfg), &["connections", "list"], &key);
    assert_eq!(empty.status.code(), Some(0), "{}", stderr(&empty));
    assert!(stdout(&empty).contains("no connections"));
    seed(&dir.path().join("s.db"));

    let table = stocksync(Some(&cfg), &["connections", "list"], &key);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let out = stdout(&table);
    assert!(out.contains("takealot") && out.contains("woo") && out.contains("acme"), "{out}");
    assert!(out.contains("(global)"), "the global store says so: {out}");
    assert!(!out.contains("very-secret-value"));
    let json = stocksync(Some(&cfg), &["connections", "list", "--global", "--json"], &key);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["store"], "takealot");
    assert_eq!(rows[0]["details"]["account"], "acct-takealot");
    assert_eq!(rows[0]["details"]["warehouse"], "jhb");
    for flag in ["--company", "--client"] {
        let acme = stocksync(Some(&cfg), &["connections", "list", flag, "acme", "--json"], &key);
        let rows: serde_json::Value = serde_json::from_slice(&acme.stdout).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 2, "acme sees its own and the global one ({flag})");
        assert_eq!(rows[1]["company"], "acme", "{rows}");
    }
    let own = stocksync(Some(&cfg), &["connections", "list", "--client-only", "acme", "--json"], &key);
    let rows: serde_json::Value = serde_json::from_slice(&own.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "only acme's own: {rows}");
    // The default company sees only the global store: acme's is not its.
    let default = stocksync(Some(&cfg), &["connections", "list", "--company", "default", "--json"], &key);
    let rows: serde_json::Value = serde_json::from_slice(&default.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["store"], "takealot");
    assert_one_line_failure(
        &stocksync(Some(&cfg), &["connections", "list", "--company", "nobody"], &key),
        2,
        "companies add nobody",
    );

    // The config gives Takealot no merchant warehouse: testing names the missing setting (bad input: 2).
    let t = stocksync(Some(&cfg), &["connections", "test", "takealot"], &key);
    assert_one_line_failure(&t, 2, "merchant_warehouse_id");
    assert!(!stderr(&t).contains("very-secret-value"));
    let secret = [("STOCKSYNC_CREDENTIAL_KEY", KEY), ("TAKEALOT_API_KEY", "tk-secret-123")];
    let a = stocksync(Some(&cfg), &["connections", "add", "takealot"], &secret);
    assert_eq!(a.status.code(), Some(1), "the store exists: {}", stderr(&a));
    assert!(!stderr(&a).contains("tk-secret-123"));

    let wrong_key = [("STOCKSYNC_CREDENTIAL_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")];
    // A key that does not open the stored credentials is bad input, and the line says where it came from.
    let t = stocksync(Some(&cfg), &["connections", "test", "woo"], &wrong_key);
    assert_one_line_failure(&t, 2, "do not open");
    assert!(stderr(&t).contains("STOCKSYNC_CREDENTIAL_KEY"), "{}", stderr(&t));

    let gone = stocksync(Some(&cfg), &["connections", "remove", "woo"], &key);
    assert_eq!(gone.status.code(), Some(0), "{}", stderr(&gone));
    assert!(stdout(&gone).contains("removed woo: 1 listings"), "{}", stdout(&gone));
    let kept = stocksync(Some(&cfg), &["connections", "remove", "takealot"], &key);
    assert_eq!(kept.status.code(), Some(0), "{}", stderr(&kept));
    assert!(stdout(&kept).contains("still bound to account acct-takealot"), "{}", stdout(&kept));
    let after = stdout(&stocksync(Some(&cfg), &["connections", "list"], &key));
    assert!(after.contains("disconnected") && !after.contains("woo"), "{after}");
    assert_one_line_failure(&stocksync(Some(&cfg), &["connections", "remove", "woo"], &key), 2, "not found");
}

#[test]
fn the_example_config_parses() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("stocksync.example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let (_dir, cfg) = setup(&text);
    let key = [("STOCKSYNC_CREDENTIAL_KEY", KEY)];
    let o = stocksync(Some(&cfg), &["connections", "list"], &key);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `connections add` and `test` with the real Takealot adapter against the emulator.
#[test]
fn add_and_test_a_takealot_store_against_the_emulator() {
    use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let emulator = rt.block_on(TakealotEmulator::start(TakealotConfig::default())).unwrap();
    let warehouse = emulator.warehouse_ids()[0];
    let config = format!(
        r#"
[store]
path = "s.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[[connections]]
id = "takealot"
channel = "takealot"
name = "Takealot"
source_of_truth = true
credentials_env = {{ api_key = "TAKEALOT_API_KEY" }}
[connections.settings]
base_url = "{}"
merchant_warehouse_id = {warehouse}
"#,
        emulator.base_url()
    );
    let (_dir, cfg) = setup(&config);
    let wrong = [("STOCKSYNC_CREDENTIAL_KEY", KEY), ("TAKEALOT_API_KEY", "not-the-key")];
    let refused = stocksync(Some(&cfg), &["connections", "add", "takealot"], &wrong);
    assert_eq!(refused.status.code(), Some(1), "wrong credentials are refused: {}", stderr(&refused));
    assert!(!stderr(&refused).contains("not-the-key"), "{}", stderr(&refused));

    let good = [("STOCKSYNC_CREDENTIAL_KEY", KEY), ("TAKEALOT_API_KEY", emulator.api_key())];
    let added = stocksync(Some(&cfg), &["connections", "add", "takealot"], &good);
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    let tested = stocksync(Some(&cfg), &["connections", "test", "takealot"], &good[..1]);
    assert_eq!(tested.status.code(), Some(0), "{} {}", stdout(&tested), stderr(&tested));
    let listed = stdout(&stocksync(Some(&cfg), &["connections", "list", "--json"], &good[..1]));
    assert!(listed.contains("\"takealot\""), "{listed}");
    assert!(!listed.contains(emulator.api_key()), "the key never shows");

    // An update that cannot be applied whole writes nothing: settings the adapter refuses (exit 2), or
    // credentials the platform refuses under otherwise good settings (exit 1).
    let stored = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let store = SqliteStore::open(&_dir.path().join("s.db")).await.unwrap();
            let rec = store.connection(&StoreId::new("takealot")).await.unwrap().unwrap();
            store.close().await;
            (rec.version, rec.settings)
        })
    };
    let before = stored(&rt);
    let bad_setting =
        config.replace(&format!("merchant_warehouse_id = {warehouse}"), "merchant_warehouse_id = \"abc\"");
    std::fs::write(&cfg, &bad_setting).unwrap();
    let refused = stocksync(Some(&cfg), &["connections", "update", "takealot"], &good[..1]);
    assert_one_line_failure(&refused, 2, "invalid takealot settings");
    assert_eq!(stored(&rt), before, "refused settings are not stored");
    let new_setting = format!("{config}leadtime_days = 9\n");
    std::fs::write(&cfg, &new_setting).unwrap();
    let refused = stocksync(Some(&cfg), &["connections", "update", "takealot"], &wrong);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert_eq!(stored(&rt), before, "settings are not stored with credentials the platform refused");
    let updated = stocksync(Some(&cfg), &["connections", "update", "takealot"], &good);
    assert_eq!(updated.status.code(), Some(0), "{}", stderr(&updated));
    let after = stored(&rt);
    assert_eq!(after.1["leadtime_days"], 9, "{after:?}");
    assert_eq!(after.0, before.0 + 1, "settings and credentials in one write");
    drop(emulator);
}
