//! `stocksync --config FILE connections list|add|test|update|remove`.
//!
//! Connections live in the SQLite store named by the config file. Their definitions (channel, name,
//! scope, warehouse, settings) come from the config file too; their secrets come from environment
//! variables or files the config names — never from the command line. Bad input exits 2 with one line;
//! a refused or failed operation exits 1 with one line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use channel_core::{ChannelKind, StoreId};
use serde::Deserialize;
use sync_engine::connections::{ChannelFactory, config_details};
use sync_engine::store::{ClientId, ConnectionFilter, ConnectionRecord, ConnectionState, Scope, SyncMode, WarehouseId};
use sync_engine::{
    ConnectionUpdate, Connections, CredentialCipher, Credentials, Disconnected, NewConnection, SqliteStore, Store,
    SystemClock,
};

/// Arguments of `stocksync connections`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectionsArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List connections with their health.
    List(ListArgs),
    /// Add the connection defined in the config file under this id (tests the credentials first).
    Add(StoreArg),
    /// Test a connection's stored credentials.
    Test(StoreArg),
    /// Apply the config file's definition of a connection and, when its credentials are available, update them.
    Update(StoreArg),
    /// Disconnect a store (Takealot keeps its seller-account binding; others are removed with their data).
    Remove(StoreArg),
}

#[derive(Debug, clap::Args)]
struct StoreArg {
    /// The store id.
    store: String,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only connections this client can use (its own and the global ones).
    #[arg(long)]
    client: Option<String>,
    /// Only global connections.
    #[arg(long, conflicts_with = "client_only")]
    global: bool,
    /// Only this client's own connections.
    #[arg(long = "client-only")]
    client_only: Option<String>,
    /// Only connections linked to this warehouse.
    #[arg(long)]
    warehouse: Option<String>,
    /// Only this platform.
    #[arg(long)]
    channel: Option<String>,
    /// Name or id containing this text.
    #[arg(long)]
    search: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) store: StoreConfig,
    #[serde(default)]
    connections: Vec<ConnectionConfig>,
    /// How `serve` runs the engine (`[sync]`; every field optional).
    #[serde(default)]
    pub(crate) sync: crate::serve::SyncSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreConfig {
    /// The SQLite file (relative paths are relative to the config file).
    pub(crate) path: PathBuf,
    /// The environment variable holding the credential key (32 bytes, base64).
    key_env: Option<String>,
    /// A file holding the credential key.
    key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionConfig {
    id: String,
    channel: String,
    name: Option<String>,
    /// `global`, or a client id under `client`.
    #[serde(default)]
    client: Option<String>,
    warehouse: Option<String>,
    #[serde(default)]
    sync_mode: Option<String>,
    #[serde(default)]
    source_of_truth: bool,
    #[serde(default)]
    settings: Option<toml::Value>,
    /// Credential name -> environment variable.
    #[serde(default)]
    credentials_env: BTreeMap<String, String>,
    /// A TOML file of `name = "secret"` lines.
    credentials_file: Option<PathBuf>,
}

/// A one-line failure and its exit code (2 bad input, 1 refused or failed).
pub(crate) struct Fail(pub(crate) u8, pub(crate) String);

fn usage(msg: impl Into<String>) -> Fail {
    Fail(2, msg.into())
}

fn failed(e: impl std::fmt::Display) -> Fail {
    Fail(1, e.to_string())
}

pub(crate) fn run(config: Option<&Path>, args: ConnectionsArgs) -> ExitCode {
    let result = (|| {
        let config_path = config.ok_or_else(|| usage("connections needs --config FILE"))?;
        let config = load_config(config_path)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
        runtime.block_on(execute(config_path, &config, args))
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            eprintln!("stocksync connections: {}", msg.replace('\n', " "));
            ExitCode::from(code)
        }
    }
}

pub(crate) fn load_config(path: &Path) -> Result<Config, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| usage(format!("{}: {}", path.display(), e.message())))
}

pub(crate) fn relative(config_path: &Path, p: &Path) -> PathBuf {
    match config_path.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

pub(crate) fn cipher(config_path: &Path, store: &StoreConfig) -> Result<CredentialCipher, Fail> {
    let key = match (&store.key_env, &store.key_file) {
        (Some(var), None) => {
            std::env::var(var).map_err(|_| usage(format!("the credential key variable {var} is not set")))?
        }
        (None, Some(file)) => {
            let file = relative(config_path, file);
            std::fs::read_to_string(&file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?
        }
        _ => return Err(usage("[store] needs exactly one of key_env or key_file")),
    };
    CredentialCipher::from_base64(key.trim()).map_err(|e| usage(e.to_string()))
}

/// Build channels for the CLI: every adapter this build carries, from the connection's settings and
/// credentials (see `sync_engine::factory`).
pub(crate) fn channel_factory() -> Arc<dyn ChannelFactory> {
    Arc::new(sync_engine::AdapterFactory::new())
}

async fn open(config_path: &Path, config: &Config) -> Result<(Arc<SqliteStore>, Connections), Fail> {
    let cipher = cipher(config_path, &config.store)?;
    let path = relative(config_path, &config.store.path);
    let store = Arc::new(SqliteStore::open(&path).await.map_err(failed)?);
    let connections =
        Connections::new(Arc::clone(&store) as Arc<dyn Store>, channel_factory(), cipher, Arc::new(SystemClock));
    Ok((store, connections))
}

fn definition<'a>(config: &'a Config, id: &str) -> Result<&'a ConnectionConfig, Fail> {
    config
        .connections
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| usage(format!("no connection {id:?} in the config file")))
}

fn credentials(config_path: &Path, def: &ConnectionConfig) -> Result<Credentials, Fail> {
    let mut creds = Credentials::new();
    if let Some(file) = &def.credentials_file {
        let file = relative(config_path, file);
        let text = std::fs::read_to_string(&file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
        let table: BTreeMap<String, String> = toml::from_str(&text)
            .map_err(|_| usage(format!("{}: expected name = \"secret\" lines", file.display())))?;
        for (k, v) in table {
            creds.insert(k, v);
        }
    }
    for (name, var) in &def.credentials_env {
        let value = std::env::var(var)
            .map_err(|_| usage(format!("{}: credential {name}: variable {var} is not set", def.id)))?;
        creds.insert(name.clone(), value);
    }
    if creds.is_empty() {
        return Err(usage(format!("{}: no credentials (set credentials_env or credentials_file)", def.id)));
    }
    Ok(creds)
}

fn settings(def: &ConnectionConfig) -> Result<serde_json::Value, Fail> {
    match &def.settings {
        None => Ok(serde_json::Value::Object(Default::default())),
        Some(v) => serde_json::to_value(v).map_err(|e| usage(format!("{}: settings: {e}", def.id))),
    }
}

fn channel_kind(s: &str) -> Result<ChannelKind, Fail> {
    s.parse().map_err(|e: channel_core::UnknownChannel| usage(e.to_string()))
}

fn sync_mode(def: &ConnectionConfig) -> Result<SyncMode, Fail> {
    def.sync_mode
        .as_deref()
        .map_or(Ok(SyncMode::Live), |m| m.parse().map_err(|e: String| usage(format!("{}: {e}", def.id))))
}

fn scope(def: &ConnectionConfig) -> Scope {
    def.client.as_ref().map_or(Scope::Global, |c| Scope::Client(ClientId::new(c.clone())))
}

async fn execute(config_path: &Path, config: &Config, args: ConnectionsArgs) -> Result<(), Fail> {
    match args.action {
        Action::List(list) => {
            let mut filter = ConnectionFilter::all();
            filter.client = list.client.map(ClientId::new);
            if list.global {
                filter.scope = Some(Scope::Global);
            }
            if let Some(c) = list.client_only {
                filter.scope = Some(Scope::Client(ClientId::new(c)));
            }
            filter.warehouse = list.warehouse.map(WarehouseId::new);
            filter.channel = list.channel.as_deref().map(channel_kind).transpose()?;
            filter.search = list.search;
            let (store, connections) = open(config_path, config).await?;
            let rows = connections.list(&filter).await.map_err(failed)?;
            if list.json {
                let json: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
                println!("{}", serde_json::to_string_pretty(&json).map_err(failed)?);
            } else {
                print_table(&rows);
            }
            store.close().await;
            Ok(())
        }
        Action::Add(StoreArg { store: id }) => {
            let def = definition(config, &id)?;
            let creds = credentials(config_path, def)?;
            let mut new = NewConnection::new(
                StoreId::new(def.id.clone()),
                channel_kind(&def.channel)?,
                def.name.clone().unwrap_or_else(|| def.id.clone()),
                creds,
            )
            .with_scope(scope(def))
            .with_settings(settings(def)?)
            .with_sync_mode(sync_mode(def)?)
            .source_of_truth(def.source_of_truth);
            if let Some(w) = &def.warehouse {
                new = new.with_warehouse(WarehouseId::new(w.clone()));
            }
            let (store, connections) = open(config_path, config).await?;
            let rec = connections.add(new).await.map_err(failed);
            store.close().await;
            let rec = rec?;
            let account = rec.account.map(|a| a.account_id).unwrap_or_default();
            println!("added {} ({}), account {account}", rec.store, rec.channel);
            Ok(())
        }
        Action::Test(StoreArg { store: id }) => {
            let (store, connections) = open(config_path, config).await?;
            let r = connections.test(&StoreId::new(id.clone())).await.map_err(failed);
            store.close().await;
            println!("{id}: credentials valid, account {}", r?.account_id);
            Ok(())
        }
        Action::Update(StoreArg { store: id }) => {
            let def = definition(config, &id)?;
            let mut update = ConnectionUpdate::new()
                .with_scope(scope(def))
                .with_warehouse(def.warehouse.clone().map(WarehouseId::new))
                .with_settings(settings(def)?)
                .with_sync_mode(sync_mode(def)?)
                .with_source_of_truth(def.source_of_truth);
            if let Some(name) = &def.name {
                update = update.with_name(name.clone());
            }
            let creds = credentials(config_path, def).ok();
            let (store, connections) = open(config_path, config).await?;
            let sid = StoreId::new(id.clone());
            let result = async {
                connections.update(&sid, update).await?;
                if let Some(creds) = creds {
                    connections.update_credentials(&sid, creds).await?;
                }
                Ok::<_, sync_engine::Error>(())
            }
            .await
            .map_err(failed);
            store.close().await;
            result?;
            println!("updated {id}");
            Ok(())
        }
        Action::Remove(StoreArg { store: id }) => {
            let (store, connections) = open(config_path, config).await?;
            let r = connections.disconnect(&StoreId::new(id.clone())).await.map_err(failed);
            store.close().await;
            match r? {
                Disconnected::KeptBinding { account } => println!(
                    "disconnected {id}: API key deleted, webhooks refused; still bound to account {}",
                    account.unwrap_or_default()
                ),
                Disconnected::Removed(report) => println!(
                    "removed {id}: {} listings, {} order lines, {} products only it listed",
                    report.listings,
                    report.order_lines,
                    report.products.len()
                ),
                _ => println!("disconnected {id}"),
            }
            Ok(())
        }
    }
}

fn health_word(c: &ConnectionRecord) -> &'static str {
    use sync_engine::store::CredentialStatus;
    match (c.state, c.health.credentials) {
        (ConnectionState::Disconnected, _) => "disconnected",
        (_, CredentialStatus::NeedsReauth) => "needs re-auth",
        (_, CredentialStatus::Valid) => "ok",
        (_, CredentialStatus::Unknown) => "unchecked",
    }
}

fn row_json(c: &ConnectionRecord) -> serde_json::Value {
    serde_json::json!({
        "store": c.store,
        "channel": c.channel,
        "name": c.name,
        "scope": c.scope,
        "warehouse": c.warehouse,
        "sync_mode": c.sync_mode,
        "source_of_truth": c.source_of_truth,
        "health": health_word(c),
        "last_sync_at": c.health.last_sync_at.map(|t| t.to_string()),
        "last_error": c.health.last_error.as_ref().map(|e| format!("{}: {}", e.kind, e.message)),
        "created_at": c.created_at.to_string(),
        "updated_at": c.updated_at.to_string(),
        "details": config_details(c),
    })
}

fn print_table(rows: &[ConnectionRecord]) {
    if rows.is_empty() {
        println!("no connections");
        return;
    }
    let h = ["STORE", "CHANNEL", "SCOPE", "WAREHOUSE", "MODE", "HEALTH", "LAST SYNC"];
    println!("{:<16} {:<12} {:<14} {:<10} {:<8} {:<14} {:<22} DETAILS", h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    for c in rows {
        let scope = match &c.scope {
            Scope::Global => "global".to_owned(),
            Scope::Client(id) => format!("client:{id}"),
        };
        let details: Vec<String> = config_details(c).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<16} {:<12} {:<14} {:<10} {:<8} {:<14} {:<22} {}{}",
            c.store.as_str(),
            c.channel.as_str(),
            scope,
            c.warehouse.as_ref().map_or("-", WarehouseId::as_str),
            if c.source_of_truth { format!("{}*", c.sync_mode.as_str()) } else { c.sync_mode.as_str().to_owned() },
            health_word(c),
            c.health.last_sync_at.map_or_else(|| "never".to_owned(), |t| t.to_string()),
            details.join(" "),
            c.health.last_error.as_ref().map_or_else(String::new, |e| format!(" last error: {}", e.message)),
        );
    }
}
