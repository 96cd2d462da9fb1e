//! `stocksync --config FILE companies list|add|remove`.
//!
//! A company (tenant) owns its catalog, SKUs, ledger, connections, orders and audit; nothing crosses
//! companies. Its definition is a `[[companies]]` table of the config file (`id`, `name`, optional
//! `requires`); `add` creates it in the store through [`sync_engine::Companies`]. A company that
//! `requires` a channel is created with its connection of that channel (the config's `[[connections]]`
//! table of that channel in the company, its credentials read as `connections add` reads them), tested at
//! creation; the company is bound to that account for good. `remove` purges the company as a disconnect
//! does, global connections excepted. Bad input exits 2 with one line; a refused or failed operation
//! exits 1 with one line.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use sync_engine::store::{CompanyId, CompanyRecord, ConnectionFilter, Scope};
use sync_engine::{Companies, CredentialCipher, NewCompany, Store, SystemClock};

use crate::config::{self, Loaded};
use crate::connections::{channel_factory, keyed, stored, with_store};
use crate::fail::{Fail, exit, failed, usage};

/// Arguments of `stocksync companies`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompaniesArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the companies in the store: id, name, required channel, bound account, connections.
    List(ListArgs),
    /// Create the company of the config's `[[companies]]` table with this id (with `requires`, together
    /// with its connection of that channel, whose credentials are tested first).
    Add(CompanyArg),
    /// Delete a company and purge everything of it: its connections and credentials, catalog, ledger,
    /// orders and audit (global connections stay).
    Remove(CompanyArg),
}

#[derive(Debug, clap::Args)]
struct CompanyArg {
    /// The company id.
    company: String,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(config: Option<&Path>, args: CompaniesArgs) -> ExitCode {
    let result = (|| {
        let config_path = config.ok_or_else(|| usage("companies needs --config FILE"))?;
        let config = config::load(config_path)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
        runtime.block_on(execute(&config, args))
    })();
    exit("companies", result)
}

async fn execute(config: &Loaded, args: CompaniesArgs) -> Result<(), Fail> {
    match args.action {
        Action::List(list) => list_companies(config, list.json).await,
        Action::Add(CompanyArg { company }) => add(config, &company).await,
        Action::Remove(CompanyArg { company }) => remove(config, &company).await,
    }
}

/// The company manager over the store.
fn manager(store: Arc<dyn Store>, cipher: &CredentialCipher) -> Companies {
    Companies::new(store, channel_factory(), cipher.clone(), Arc::new(SystemClock))
}

async fn add(config: &Loaded, id: &str) -> Result<(), Fail> {
    let def = config.company_definition(id)?;
    let mut new = NewCompany::new(CompanyId::new(def.id.clone()), def.name.clone());
    if let Some(channel) = def.requires()? {
        new = new.requiring(channel);
    }
    // The required connection is named and its credentials read before the store is opened: bad input
    // first.
    if let Some(connection) = config.required_connection(def)? {
        new = new.with_connection(config.new_connection(connection)?);
    }
    let record =
        with_store(config, async |store, cipher| manager(store, cipher).create(new).await.map_err(keyed(config)))
            .await?;
    match (&record.requires, &record.bound_account) {
        (Some(channel), Some(account)) => println!(
            "created company {} ({}), bound to {channel} account {}",
            record.id, record.name, account.account_id
        ),
        _ => println!("created company {} ({})", record.id, record.name),
    }
    Ok(())
}

async fn remove(config: &Loaded, id: &str) -> Result<(), Fail> {
    let company = CompanyId::new(id);
    let report =
        with_store(config, async |store, cipher| manager(store, cipher).delete(&company).await.map_err(keyed(config)))
            .await?;
    println!(
        "removed company {id}: {} listings, {} order lines, {} products, {} ledger movements",
        report.listings,
        report.order_lines,
        report.products.len(),
        report.movements
    );
    Ok(())
}

/// A company as `list` shows it, with the number of its own connections.
struct Row {
    record: CompanyRecord,
    connections: usize,
}

async fn list_companies(config: &Loaded, json: bool) -> Result<(), Fail> {
    let rows = with_store(config, async |store, cipher| {
        let companies = manager(Arc::clone(&store), cipher).list().await.map_err(keyed(config))?;
        let mut rows = Vec::new();
        for record in companies {
            let mut own = ConnectionFilter::all();
            own.scope = Some(Scope::Client(record.id.clone()));
            let connections = store.for_company(&record.id).connections(&own).await.map_err(stored)?.len();
            rows.push(Row { record, connections });
        }
        Ok(rows)
    })
    .await?;
    if json {
        let json: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
        println!("{}", serde_json::to_string_pretty(&json).map_err(failed)?);
    } else {
        print_table(&rows);
    }
    Ok(())
}

fn row_json(row: &Row) -> serde_json::Value {
    let c = &row.record;
    serde_json::json!({
        "id": c.id,
        "name": c.name,
        "requires": c.requires,
        "bound_account": c.bound_account.as_ref().map(|a| &a.account_id),
        "connections": row.connections,
        "created_at": c.created_at.to_string(),
    })
}

fn print_table(rows: &[Row]) {
    if rows.is_empty() {
        println!("no companies");
        return;
    }
    println!("{:<16} {:<24} {:<12} {:<20} CONNECTIONS", "COMPANY", "NAME", "REQUIRES", "BOUND ACCOUNT");
    for Row { record: c, connections } in rows {
        println!(
            "{:<16} {:<24} {:<12} {:<20} {connections}",
            c.id.as_str(),
            c.name,
            c.requires.map_or("-", |r| r.as_str()),
            c.bound_account.as_ref().map_or("-", |a| a.account_id.as_str()),
        );
    }
}
