//! `stocksync --config FILE connections list|add|test|update|remove`.
//!
//! Connections live in the SQLite store named by the config file. Their definitions (channel, name,
//! company or global scope, warehouse, settings) come from the config file too; their secrets come from
//! environment variables or files the config names — never from the command line. Each connection is
//! managed through its company's view of the store (a global one through any view); a store id is unique
//! across companies, so `test`, `update` and `remove` find its company in the store. Bad input exits 2
//! with one line; a refused or failed operation exits 1 with one line.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use channel_core::StoreId;
use sync_engine::connections::config_details;
use sync_engine::store::{CompanyId, ConnectionFilter, ConnectionRecord, ConnectionState, Scope, WarehouseId};
use sync_engine::{ChannelFactory, Connections, CredentialCipher, Disconnected, SqliteStore, Store, SystemClock};

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
    /// List connections with their health (every company's, unless one is named).
    List(ListArgs),
    /// Add the connection defined in the config file under this id to its company (tests the credentials
    /// first; the company must have been created with `companies add`, but for the default one).
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
    /// Only connections this company can use: its own and the global ones (`--client` is the old name).
    #[arg(long, alias = "client", value_name = "ID")]
    company: Option<String>,
    /// Only global connections.
    #[arg(long, conflicts_with = "client_only")]
    global: bool,
    /// Only this company's own connections.
    #[arg(long = "client-only", value_name = "ID")]
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

/// The connection manager over one company's view of the store.
pub(crate) fn manager(view: Arc<dyn Store>, cipher: &CredentialCipher) -> Connections {
    Connections::new(view, channel_factory(), cipher.clone(), Arc::new(SystemClock))
}

/// Open the config file's store (the default company's view), run `op` with it and the credential
/// cipher, then close the store whatever `op` answered.
pub(crate) async fn with_store<T>(
    config: &Loaded,
    op: impl AsyncFnOnce(Arc<dyn Store>, &CredentialCipher) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let cipher = config.cipher()?;
    let store = Arc::new(SqliteStore::open(&config.store_path()).await.map_err(crate::fail::engine)?);
    let result = op(Arc::clone(&store) as Arc<dyn Store>, &cipher).await;
    store.close().await;
    result
}

/// An engine error as a failure, saying where the credential key came from when it does not open them.
pub(crate) fn keyed(config: &Loaded) -> impl Fn(sync_engine::Error) -> Fail + '_ {
    |e| crate::fail::engine_keyed(e, &config.key_source())
}

/// A store error as a failure.
pub(crate) fn stored(e: sync_engine::StoreError) -> Fail {
    crate::fail::engine(e.into())
}

/// The view of `company`, which must exist in the store (the default company always does): else bad
/// input, with the command that creates it.
pub(crate) async fn company_view(store: &Arc<dyn Store>, company: &CompanyId) -> Result<Arc<dyn Store>, Fail> {
    if company.as_str() != CompanyId::DEFAULT && store.company(company).await.map_err(stored)?.is_none() {
        return Err(usage(format!(
            "company {company:?} does not exist in the store yet: create it with `stocksync companies add {company}`"
        )));
    }
    Ok(store.for_company(company))
}

/// The view a stored connection is managed through: its company's (any view for a global one, or for a
/// store that does not exist, which the manager then reports as not found).
async fn view_of(store: &Arc<dyn Store>, id: &StoreId) -> Result<(Arc<dyn Store>, Option<Scope>), Fail> {
    match store.locate_store(id).await.map_err(stored)? {
        Some(rec) => {
            let view = rec.scope.client().map_or_else(|| Arc::clone(store), |c| store.for_company(c));
            Ok((view, Some(rec.scope)))
        }
        None => Ok((Arc::clone(store), None)),
    }
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

/// The filter of `list` within a view, and the company whose view it is (`None`: every company's).
fn filter(list: &ListArgs) -> Result<(ConnectionFilter, Option<CompanyId>), Fail> {
    let mut filter = ConnectionFilter::all();
    let company = list.company.clone().or_else(|| list.client_only.clone()).map(CompanyId::new);
    filter.client = list.company.clone().map(CompanyId::new);
    if list.global {
        filter.scope = Some(Scope::Global);
    }
    if let Some(c) = &list.client_only {
        filter.scope = Some(Scope::Client(CompanyId::new(c.clone())));
    }
    filter.warehouse = list.warehouse.clone().map(WarehouseId::new);
    filter.channel = list.channel.as_deref().map(config::channel_kind).transpose()?;
    filter.search = list.search.clone();
    Ok((filter, company))
}

/// The connections passing `filter` in `company`'s view, or in every company's view (each once), by id.
async fn listed(
    config: &Loaded,
    filter: &ConnectionFilter,
    company: Option<CompanyId>,
) -> Result<Vec<ConnectionRecord>, Fail> {
    with_store(config, async |store, cipher| {
        let views = match company {
            Some(c) => vec![company_view(&store, &c).await?],
            None => {
                let companies = store.companies().await.map_err(stored)?;
                // A store with no company row at all: its default view is all there is.
                let mut views: Vec<_> = companies.iter().map(|c| store.for_company(&c.id)).collect();
                if views.is_empty() {
                    views.push(Arc::clone(&store));
                }
                views
            }
        };
        let mut rows = BTreeMap::new();
        for view in views {
            for row in manager(view, cipher).list(filter).await.map_err(keyed(config))? {
                rows.insert(row.store.clone(), row);
            }
        }
        Ok(rows.into_values().collect())
    })
    .await
}

async fn list_connections(config: &Loaded, list: ListArgs) -> Result<(), Fail> {
    let (filter, company) = filter(&list)?;
    let rows = listed(config, &filter, company).await?;
    if list.json {
        let json: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
        println!("{}", serde_json::to_string_pretty(&json).map_err(failed)?);
    } else {
        print_table(&rows);
    }
    Ok(())
}

async fn add(config: &Loaded, id: &str) -> Result<(), Fail> {
    let def = config.definition(id)?;
    let company = config.company_of(def)?;
    let new = config.new_connection(def)?;
    let rec = with_store(config, async |store, cipher| {
        let view = match &company {
            Some(c) => company_view(&store, c).await?,
            None => store,
        };
        manager(view, cipher).add(new).await.map_err(keyed(config))
    })
    .await?;
    let account = rec.account.map(|a| a.account_id).unwrap_or_default();
    let whose = company.map_or_else(|| "global".to_owned(), |c| format!("company {c}"));
    println!("added {} ({}, {whose}), account {account}", rec.store, rec.channel);
    Ok(())
}

async fn test(config: &Loaded, id: &str) -> Result<(), Fail> {
    let sid = StoreId::new(id);
    let account = with_store(config, async |store, cipher| {
        let (view, _) = view_of(&store, &sid).await?;
        manager(view, cipher).test(&sid).await.map_err(keyed(config))
    })
    .await?;
    println!("{id}: credentials valid, account {}", account.account_id);
    Ok(())
}

async fn update(config: &Loaded, id: &str) -> Result<(), Fail> {
    let def = config.definition(id)?;
    let scope = config.scope(def)?;
    let mut update = def.update(scope.clone())?;
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
    with_store(config, async |store, cipher| {
        let (view, stored_scope) = view_of(&store, &sid).await?;
        if let Some(stored_scope) = stored_scope.filter(|s| s != &scope) {
            return Err(usage(format!(
                "store {id} is {} in the store and the config makes it {}: a store does not move between \
                 companies (remove it and add it again)",
                scope_words(&stored_scope),
                scope_words(&scope)
            )));
        }
        manager(view, cipher).update(&sid, update).await.map_err(keyed(config))
    })
    .await?;
    match unchanged {
        None => println!("updated {id} (settings and credentials)"),
        Some(why) => println!("updated {id} (settings; credentials unchanged: {})", one_line(&why)),
    }
    Ok(())
}

/// "global" or "company ID's", for messages.
fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Global => "global".to_owned(),
        Scope::Client(c) => format!("company {c}'s"),
    }
}

async fn remove(config: &Loaded, id: &str) -> Result<(), Fail> {
    let sid = StoreId::new(id);
    let disconnected = with_store(config, async |store, cipher| {
        let (view, _) = view_of(&store, &sid).await?;
        manager(view, cipher).disconnect(&sid).await.map_err(keyed(config))
    })
    .await?;
    match disconnected {
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
        "company": c.scope.client(),
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
    let h = ["STORE", "CHANNEL", "COMPANY", "WAREHOUSE", "MODE", "HEALTH", "LAST SYNC"];
    println!("{:<16} {:<12} {:<14} {:<10} {:<8} {:<14} {:<22} DETAILS", h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    for c in rows {
        let scope = match &c.scope {
            Scope::Global => "(global)",
            Scope::Client(id) => id.as_str(),
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
