//! [`Store::purge_store`](crate::Store::purge_store) on SQL: a store and everything of it, in one
//! transaction.

use std::collections::{BTreeMap, BTreeSet};

use channel_core::{Sku, StoreId};

use super::dialect::Dialect;
use super::rows::{Cols, product, sku};
use super::{Session, SqlStore, sql};
use crate::store::{ProductRecord, PurgeReport, StoreError, memory};

type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(super) async fn purge_store<D: Dialect>(store: &SqlStore<D>, id: &StoreId) -> Result<PurgeReport> {
    let mut tx = store.write().await?;
    let s = id.as_str();
    let mut report = PurgeReport::default();
    let own = skus_listed_by(&mut tx, s).await?;
    report.listings = tx.execute(sql("DELETE FROM listings WHERE store = $1").bind(s)).await?;
    let remove = products_to_remove(&mut tx, own).await?;
    for sku in &remove {
        tx.execute(sql("DELETE FROM products WHERE sku = $1").bind(sku.as_str())).await?;
        report.movements += tx.execute(sql("DELETE FROM ledger WHERE sku = $1").bind(sku.as_str())).await?;
    }
    report.products = remove.into_iter().collect();
    report.order_lines = tx.execute(sql("DELETE FROM order_lines WHERE store = $1").bind(s)).await?;
    report.outbox_items = tx.execute(sql("DELETE FROM outbox WHERE store = $1").bind(s)).await?;
    for table in ["deliveries", "cursors", "leases", "sync_requests", "connections"] {
        tx.execute(sql(format!("DELETE FROM {table} WHERE store = $1")).bind(s)).await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// The SKUs the store lists.
async fn skus_listed_by<D: Dialect>(tx: &mut Session<D>, store: &str) -> Result<Vec<String>> {
    let q = sql("SELECT DISTINCT sku FROM listings WHERE store = $1 AND sku IS NOT NULL").bind(store);
    tx.fetch_all(q).await?.iter().map(|r| Cols::<D>(r).text("sku")).collect()
}

/// Of the SKUs the purged store listed, the products no other store lists, unless a product that stays
/// needs them as a component (the store's listings are deleted already).
async fn products_to_remove<D: Dialect>(tx: &mut Session<D>, own: Vec<String>) -> Result<BTreeSet<Sku>> {
    let products: BTreeMap<Sku, ProductRecord> = tx
        .fetch_all(sql("SELECT * FROM products"))
        .await?
        .iter()
        .map(|r| product::<D>(r).map(|p| (p.sku.clone(), p)))
        .collect::<Result<_>>()?;
    let mut remove = BTreeSet::new();
    for raw in own {
        let elsewhere =
            tx.fetch_optional(sql("SELECT 1 AS one FROM listings WHERE sku = $1 LIMIT 1").bind(&raw)).await?;
        let sku = sku::<D>(raw)?;
        if elsewhere.is_none() && products.contains_key(&sku) {
            remove.insert(sku);
        }
    }
    memory::keep_needed_components(&products, &mut remove);
    Ok(remove)
}
