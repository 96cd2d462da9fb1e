//! [`Store::purge_store`](crate::Store::purge_store) and
//! [`Store::purge_company`](crate::Store::purge_company) on SQL: a store, or a company, and everything of
//! it, in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use channel_core::{Sku, StoreId};

use super::dialect::Dialect;
use super::rows::{Cols, product, sku};
use super::{Session, SqlStore, sql};
use crate::store::{CompanyId, ProductRecord, PurgeReport, StoreError, memory};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The tables whose rows about a store go with it (besides listings, order lines and the outbox, which
/// are counted).
const STORE_TABLES: [&str; 4] = ["deliveries", "cursors", "leases", "sync_requests"];

pub(super) async fn purge_store<D: Dialect>(store: &SqlStore<D>, id: &StoreId) -> Result<PurgeReport> {
    let mut tx = store.write().await?;
    let q = sql(format!("SELECT scope_client FROM connections WHERE store = $1{}", D::for_update())).bind(id.as_str());
    let global = match tx.fetch_optional(q).await? {
        Some(row) => Cols::<D>(&row).opt_text("scope_client")?.is_none(),
        None => false,
    };
    let report = if global { purge_global(&mut tx, id).await? } else { purge_own(&mut tx, store.co(), id).await? };
    tx.commit().await?;
    Ok(report)
}

/// A global store: its rows in every company's view, and its connection. Products are not touched (a
/// global store never creates them).
async fn purge_global<D: Dialect>(tx: &mut Session<D>, id: &StoreId) -> Result<PurgeReport> {
    let s = id.as_str();
    let report = PurgeReport {
        listings: tx.execute(sql("DELETE FROM listings WHERE store = $1").bind(s)).await?,
        order_lines: tx.execute(sql("DELETE FROM order_lines WHERE store = $1").bind(s)).await?,
        outbox_items: tx.execute(sql("DELETE FROM outbox WHERE store = $1").bind(s)).await?,
        ..PurgeReport::default()
    };
    for table in STORE_TABLES {
        tx.execute(sql(format!("DELETE FROM {table} WHERE store = $1")).bind(s)).await?;
    }
    tx.execute(sql("DELETE FROM connections WHERE store = $1").bind(s)).await?;
    Ok(report)
}

/// A store of the view's company: its rows there, the products only it listed, and its connection (when
/// it is the company's).
async fn purge_own<D: Dialect>(tx: &mut Session<D>, co: &str, id: &StoreId) -> Result<PurgeReport> {
    let s = id.as_str();
    let mut report = PurgeReport::default();
    let own = skus_listed_by(tx, co, s).await?;
    report.listings =
        tx.execute(sql("DELETE FROM listings WHERE company = $1 AND store = $2").bind(co).bind(s)).await?;
    let remove = products_to_remove(tx, co, own).await?;
    for sku in &remove {
        tx.execute(sql("DELETE FROM products WHERE company = $1 AND sku = $2").bind(co).bind(sku.as_str())).await?;
        let q = sql("DELETE FROM ledger WHERE company = $1 AND sku = $2").bind(co).bind(sku.as_str());
        report.movements += tx.execute(q).await?;
    }
    report.products = remove.into_iter().collect();
    let q = sql("DELETE FROM order_lines WHERE company = $1 AND store = $2").bind(co).bind(s);
    report.order_lines = tx.execute(q).await?;
    report.outbox_items =
        tx.execute(sql("DELETE FROM outbox WHERE company = $1 AND store = $2").bind(co).bind(s)).await?;
    for table in STORE_TABLES {
        tx.execute(sql(format!("DELETE FROM {table} WHERE company = $1 AND store = $2")).bind(co).bind(s)).await?;
    }
    tx.execute(sql("DELETE FROM connections WHERE store = $1 AND scope_client = $2").bind(s).bind(co)).await?;
    Ok(report)
}

/// The SKUs the store lists in the company.
async fn skus_listed_by<D: Dialect>(tx: &mut Session<D>, co: &str, store: &str) -> Result<Vec<String>> {
    let q = sql("SELECT DISTINCT sku FROM listings WHERE company = $1 AND store = $2 AND sku IS NOT NULL")
        .bind(co)
        .bind(store);
    tx.fetch_all(q).await?.iter().map(|r| Cols::<D>(r).text("sku")).collect()
}

/// Of the SKUs the purged store listed, the company's products no other store lists, unless a product
/// that stays needs them as a component (the store's listings are deleted already).
async fn products_to_remove<D: Dialect>(tx: &mut Session<D>, co: &str, own: Vec<String>) -> Result<BTreeSet<Sku>> {
    let products: BTreeMap<Sku, ProductRecord> = tx
        .fetch_all(sql("SELECT * FROM products WHERE company = $1").bind(co))
        .await?
        .iter()
        .map(|r| product::<D>(r).map(|p| (p.sku.clone(), p)))
        .collect::<Result<_>>()?;
    let mut remove = BTreeSet::new();
    for raw in own {
        let q = sql("SELECT 1 AS one FROM listings WHERE company = $1 AND sku = $2 LIMIT 1").bind(co).bind(&raw);
        let elsewhere = tx.fetch_optional(q).await?;
        let sku = sku::<D>(raw)?;
        if elsewhere.is_none() && products.contains_key(&sku) {
            remove.insert(sku);
        }
    }
    memory::keep_needed_components(&products, &mut remove);
    Ok(remove)
}

/// The tables keyed by company whose rows of a purged company go uncounted.
const COMPANY_TABLES: [&str; 8] =
    ["deliveries", "cursors", "leases", "sync_requests", "audit", "inbox", "company_leases", "companies"];

/// Remove a company and everything of it; `None` (nothing written) when there is no such company.
pub(super) async fn purge_company<D: Dialect>(store: &SqlStore<D>, id: &CompanyId) -> Result<Option<PurgeReport>> {
    let mut tx = store.write().await?;
    let co = id.as_str();
    let q = sql(format!("SELECT id FROM companies WHERE id = $1{}", D::for_update())).bind(co);
    if tx.fetch_optional(q).await?.is_none() {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut report = PurgeReport::default();
    let q = sql(format!("SELECT sku FROM products WHERE company = $1 ORDER BY sku{}", D::BYTE_ORDER)).bind(co);
    report.products = tx.fetch_all(q).await?.iter().map(|r| Cols::<D>(r).sku("sku")).collect::<Result<_>>()?;
    tx.execute(sql("DELETE FROM products WHERE company = $1").bind(co)).await?;
    report.listings = tx.execute(sql("DELETE FROM listings WHERE company = $1").bind(co)).await?;
    report.order_lines = tx.execute(sql("DELETE FROM order_lines WHERE company = $1").bind(co)).await?;
    report.movements = tx.execute(sql("DELETE FROM ledger WHERE company = $1").bind(co)).await?;
    report.outbox_items = tx.execute(sql("DELETE FROM outbox WHERE company = $1").bind(co)).await?;
    for table in COMPANY_TABLES {
        let column = if table == "companies" { "id" } else { "company" };
        tx.execute(sql(format!("DELETE FROM {table} WHERE {column} = $1")).bind(co)).await?;
    }
    tx.execute(sql("DELETE FROM connections WHERE scope_client = $1").bind(co)).await?;
    tx.commit().await?;
    Ok(Some(report))
}
