//! `stocksync --config FILE connections list|add|test|update|remove`.
//!
//! Connections live in the SQLite store named by the config file. Their definitions (channel, name,
//! scope, warehouse, settings) come from the config file too; their secrets come from environment
//! variables or files the config names — never from the command line. Bad input exits 2 with one line;
//! a refused or failed operation exits 1 with one line.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use channel_core::StoreId;
use sync_engine::connections::config_details;
use sync_engine::store::{ClientId, ConnectionFilter, ConnectionRecord, ConnectionState, Scope, WarehouseId};
use sync_engine::{ChannelFactory, Connections, Disconnected, SqliteStore, Store, SystemClock};

use crate::config::{self, Loaded};
use crate::fail::{Fail, exit, failed, one_line, usage};

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

pub(crate) fn run(config: Option<&Path>, args: ConnectionsArgs) -> ExitCode {
    let result = (|| {
        let config_path = config.ok_or_else(|| usage("connections needs --config FILE"))?;
        let config = config::load(config_path)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
        runtime.block_on(execute(&config, args))
    })();
    exit("connections", result)
}

/// Build channels for the CLI: every adapter this build carries, from the connection's settings and
/// credentials (see `sync_engine::factory`).
pub(crate) fn channel_factory() -> Arc<dyn ChannelFactory> {
    Arc::new(sync_engine::AdapterFactory::new())
}

/// The config file's store and the connection manager over it.
async fn open(config: &Loaded) -> Result<(Arc<SqliteStore>, Connections), Fail> {
    let cipher = config.cipher()?;
    let store = Arc::new(SqliteStore::open(&config.store_path()).await.map_err(crate::fail::engine)?);
    let connections =
        Connections::new(Arc::clone(&store) as Arc<dyn Store>, channel_factory(), cipher, Arc::new(SystemClock));
    Ok((store, connections))
}

/// Run `op` with the connection manager, then close the store whatever `op` answered.
async fn with_connections<T>(
    config: &Loaded,
    op: impl AsyncFnOnce(&Connections) -> Result<T, sync_engine::Error>,
) -> Result<T, Fail> {
    let (store, connections) = open(config).await?;
    let result = op(&connections).await.map_err(|e| crate::fail::engine_keyed(e, &config.key_source()));
    store.close().await;
    result
}

async fn execute(config: &Loaded, args: ConnectionsArgs) -> Result<(), Fail> {
    match args.action {
        Action::List(list) => list_connections(config, list).await,
        Action::Add(StoreArg { store: id }) => add(config, &id).await,
        Action::Test(StoreArg { store: id }) => test(config, &id).await,
        Action::Update(StoreArg { store: id }) => update(config, &id).await,
        Action::Remove(StoreArg { store: id }) => remove(config, &id).await,
    }
}

fn filter(list: &ListArgs) -> Result<ConnectionFilter, Fail> {
    let mut filter = ConnectionFilter::all();
    filter.client = list.client.clone().map(ClientId::new);
    if list.global {
        filter.scope = Some(Scope::Global);
    }
    if let Some(c) = &list.client_only {
        filter.scope = Some(Scope::Client(ClientId::new(c.clone())));
    }
    filter.warehouse = list.warehouse.clone().map(WarehouseId::new);
    filter.channel = list.channel.as_deref().map(config::channel_kind).transpose()?;
    filter.search = list.search.clone();
    Ok(filter)
}

async fn list_connections(config: &Loaded, list: ListArgs) -> Result<(), Fail> {
    let filter = filter(&list)?;
    let rows = with_connections(config, async |c| c.list(&filter).await).await?;
    if list.json {
        let json: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
        println!("{}", serde_json::to_string_pretty(&json).map_err(failed)?);
    } else {
        print_table(&rows);
    }
    Ok(())
}

async fn add(config: &Loaded, id: &str) -> Result<(), Fail> {
    let new = config.new_connection(config.definition(id)?)?;
    let rec = with_connections(config, async |c| c.add(new).await).await?;
    let account = rec.account.map(|a| a.account_id).unwrap_or_default();
    println!("added {} ({}), account {account}", rec.store, rec.channel);
    Ok(())
}

async fn test(config: &Loaded, id: &str) -> Result<(), Fail> {
    let account = with_connections(config, async |c| c.test(&StoreId::new(id)).await).await?;
    println!("{id}: credentials valid, account {}", account.account_id);
    Ok(())
}

async fn update(config: &Loaded, id: &str) -> Result<(), Fail> {
    let def = config.definition(id)?;
    let mut update = def.update()?;
    // Credentials are updated only when the config's sources for them are available; then they are
    // tested under the new settings and written with them, or nothing is.
    let unchanged = match config.credentials(def) {
        Ok(creds) => {
            update = update.with_credentials(creds);
            None
        }
        Err(Fail(_, why)) => Some(why),
    };
    let sid = StoreId::new(id);
    with_connections(config, async |c| c.update(&sid, update).await).await?;
    match unchanged {
        None => println!("updated {id} (settings and credentials)"),
        Some(why) => println!("updated {id} (settings; credentials unchanged: {})", one_line(&why)),
    }
    Ok(())
}

async fn remove(config: &Loaded, id: &str) -> Result<(), Fail> {
    match with_connections(config, async |c| c.disconnect(&StoreId::new(id)).await).await? {
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
