//! [`Store::commit`](crate::Store::commit) on SQL: a [`WriteBatch`] in one write transaction, one step
//! per [`WriteOp`]. A stale version or failed check aborts the batch (the transaction rolls back when
//! dropped); a duplicate once-only row skips it.

use channel_core::{ListingId, OrderId, Sku, StoreId};

use super::dialect::Dialect;
use super::rows::{Cols, json, ms, name, ojson, sql_version};
use super::{Session, Sql, SqlStore, outbox, root, sql};
use crate::store::{
    AuditEntry, ClientId, CompanyId, ConnectionRecord, DeliveryRecord, Health, HealthEvent, ListingRecord, NewMovement,
    OrderLineRecord, Precondition, ProductRecord, SealedCredentials, StoreError, SyncRequest, WarehouseId, WriteBatch,
    WriteOp,
};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a batch stopped early.
pub(super) enum Stop {
    /// A once-only row exists already: skip the whole batch.
    Duplicate,
    /// Abort the batch with this error.
    Failed(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Self::Failed(e)
    }
}

/// Apply a batch atomically: `true` when applied, `false` when skipped as a duplicate.
pub(super) async fn commit<D: Dialect>(store: &SqlStore<D>, batch: WriteBatch) -> Result<bool> {
    let mut tx = store.write().await?;
    for op in batch.ops {
        match apply(&mut tx, store.company(), op).await {
            Ok(()) => {}
            Err(Stop::Duplicate) => {
                tx.rollback().await?;
                return Ok(false);
            }
            // Dropping the transaction rolls it back.
            Err(Stop::Failed(e)) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Apply one write of the view of company `company`.
async fn apply<D: Dialect>(tx: &mut Session<D>, company: &CompanyId, op: WriteOp) -> Result<(), Stop> {
    let co = company.as_str();
    match op {
        WriteOp::PutCompany(c) => root::put_company(tx, &c).await?,
        WriteOp::PutConnection(c) => put_connection(tx, company, &c).await?,
        WriteOp::RecordHealth { store, event } => record_health(tx, co, &store, &event).await?,
        WriteOp::PutProduct(p) => put_product(tx, co, &p).await?,
        WriteOp::DeleteProduct(sku) => {
            tx.execute(sql("DELETE FROM products WHERE company = $1 AND sku = $2").bind(co).bind(sku.as_str())).await?;
        }
        WriteOp::PutListing(l) => put_listing(tx, co, &l).await?,
        WriteOp::DeleteListing { store, listing } => {
            let q = sql("DELETE FROM listings WHERE company = $1 AND store = $2 AND listing = $3");
            tx.execute(q.bind(co).bind(store.as_str()).bind(listing.as_str())).await?;
        }
        WriteOp::RecordMovement(m) => record_movement(tx, co, &m).await?,
        WriteOp::PutOrderLine(o) => put_order_line(tx, co, &o).await?,
        WriteOp::RecordDelivery(d) => record_delivery(tx, co, &d).await?,
        WriteOp::SetCursor { store, name, value } => {
            let q = sql("INSERT INTO cursors (company, store, name, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (company, store, name) DO UPDATE SET value = excluded.value");
            tx.execute(q.bind(co).bind(store.as_str()).bind(name).bind(value)).await?;
        }
        WriteOp::Enqueue { push, now } => outbox::enqueue(tx, co, &push, now).await?,
        WriteOp::DropOutbox(store) => {
            let q = sql("DELETE FROM outbox WHERE company = $1 AND store = $2 AND state <> 'dead'");
            tx.execute(q.bind(co).bind(store.as_str())).await?;
        }
        WriteOp::ReleaseOutbox { store, now } => {
            let q = sql("UPDATE outbox SET next_attempt_at = $3
                 WHERE company = $1 AND store = $2 AND state = 'pending' AND next_attempt_at > $3")
            .bind(co)
            .bind(store.as_str())
            .bind(ms(now));
            tx.execute(q).await?;
        }
        WriteOp::Audit(a) => audit(tx, co, &a).await?,
        WriteOp::RequestSync(r) => request_sync(tx, co, &r).await?,
        WriteOp::Check(check) => check_precondition(tx, co, &check).await?,
    }
    Ok(())
}

/// The stored version of a row (`None`: no such row).
async fn stored_version<D: Dialect>(tx: &mut Session<D>, q: Sql) -> Result<Option<u64>> {
    tx.fetch_optional(q).await?.map(|r| Cols::<D>(&r).version()).transpose()
}

/// A connection of the view's company or a global one; the update of a stored row only when the view
/// sees it (another company's connection is not found, so its version conflicts).
async fn put_connection<D: Dialect>(tx: &mut Session<D>, company: &CompanyId, c: &ConnectionRecord) -> Result<()> {
    let what = || format!("connection {}", c.store);
    if let Some(owner) = c.scope.client()
        && owner != company
    {
        return Err(StoreError::Invalid(format!(
            "connection {} belongs to company {owner}, not to {company}, the company of this view",
            c.store
        )));
    }
    let text = if c.version == 0 {
        "INSERT INTO connections (channel, name, scope_client, warehouse, settings, credentials, account, sync_mode,
         source_of_truth, state, created_at, updated_at, health, store, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 + 1) ON CONFLICT (store) DO NOTHING"
    } else {
        "UPDATE connections SET channel = $1, name = $2, scope_client = $3, warehouse = $4, settings = $5,
         credentials = $6, account = $7, sync_mode = $8, source_of_truth = $9, state = $10, created_at = $11,
         updated_at = $12, version = version + 1
         WHERE $13 IS NOT NULL AND store = $14 AND version = $15 AND (scope_client = $16 OR scope_client IS NULL)"
    };
    let q = sql(text)
        .bind(c.channel.as_str())
        .bind(&c.name)
        .bind(c.scope.client().map(ClientId::as_str))
        .bind(c.warehouse.as_ref().map(WarehouseId::as_str))
        .bind(json(&c.settings)?)
        .bind(c.credentials.as_ref().map(SealedCredentials::as_str))
        .bind(ojson(c.account.as_ref())?)
        .bind(c.sync_mode.as_str())
        .bind(c.source_of_truth)
        .bind(name(&c.state)?)
        .bind(ms(c.created_at))
        .bind(ms(c.updated_at))
        .bind(json(&c.health)?)
        .bind(c.store.as_str())
        .bind(sql_version(c.version)?);
    let q = if c.version == 0 { q } else { q.bind(company.as_str()) };
    if tx.execute(q).await? == 1 {
        return Ok(());
    }
    if c.version == 0 {
        return Err(StoreError::AlreadyExists(what()));
    }
    let q = sql("SELECT version FROM connections WHERE store = $1 AND (scope_client = $2 OR scope_client IS NULL)")
        .bind(c.store.as_str())
        .bind(company.as_str());
    let found = stored_version(tx, q).await?;
    Err(StoreError::conflict(what(), c.version, found))
}

async fn record_health<D: Dialect>(tx: &mut Session<D>, co: &str, store: &StoreId, event: &HealthEvent) -> Result<()> {
    let q = sql(format!(
        "SELECT health FROM connections WHERE store = $1 AND (scope_client = $2 OR scope_client IS NULL){}",
        D::for_update()
    ))
    .bind(store.as_str())
    .bind(co);
    let Some(row) = tx.fetch_optional(q).await? else {
        return Err(StoreError::NotFound(format!("connection {store}")));
    };
    let mut health: Health = Cols::<D>(&row).json("health")?;
    health.apply(event);
    tx.execute(sql("UPDATE connections SET health = $1 WHERE store = $2").bind(json(&health)?).bind(store.as_str()))
        .await?;
    Ok(())
}

async fn put_product<D: Dialect>(tx: &mut Session<D>, co: &str, p: &ProductRecord) -> Result<()> {
    p.check_storable()?;
    let q = sql("INSERT INTO products (company, sku, name, components, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (company, sku) DO UPDATE SET name = excluded.name, components = excluded.components,
         updated_at = excluded.updated_at")
    .bind(co)
    .bind(p.sku.as_str())
    .bind(p.name.as_deref())
    .bind(json(&p.components)?)
    .bind(ms(p.created_at))
    .bind(ms(p.updated_at));
    tx.execute(q).await?;
    Ok(())
}

async fn put_listing<D: Dialect>(tx: &mut Session<D>, co: &str, l: &ListingRecord) -> Result<()> {
    let what = || format!("listing {}/{}", l.store, l.listing);
    let text = if l.version == 0 {
        "INSERT INTO listings (ids, channel_sku, sku, fulfilment, status, seen_quantity, seen_price, seen_at,
         pushed_quantity, pushed_price, pushed_at, sku_change, store, listing, version, company)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 + 1, $16)
         ON CONFLICT (company, store, listing) DO NOTHING"
    } else {
        "UPDATE listings SET ids = $1, channel_sku = $2, sku = $3, fulfilment = $4, status = $5, seen_quantity = $6,
         seen_price = $7, seen_at = $8, pushed_quantity = $9, pushed_price = $10, pushed_at = $11, sku_change = $12,
         version = version + 1 WHERE store = $13 AND listing = $14 AND version = $15 AND company = $16"
    };
    let q = sql(text)
        .bind(json(&l.ids)?)
        .bind(&l.channel_sku)
        .bind(l.sku.as_ref().map(Sku::as_str))
        .bind(name(&l.fulfilment)?)
        .bind(name(&l.status)?)
        .bind(l.seen_quantity)
        .bind(ojson(l.seen_price.as_ref())?)
        .bind(l.seen_at.map(ms))
        .bind(l.pushed_quantity)
        .bind(ojson(l.pushed_price.as_ref())?)
        .bind(l.pushed_at.map(ms))
        .bind(ojson(l.sku_change.as_ref())?)
        .bind(l.store.as_str())
        .bind(l.listing.as_str())
        .bind(sql_version(l.version)?)
        .bind(co);
    if tx.execute(q).await? == 1 {
        return Ok(());
    }
    if l.version == 0 {
        return Err(StoreError::AlreadyExists(what()));
    }
    let found = stored_version(tx, listing_version(co, &l.store, &l.listing, "")).await?;
    Err(StoreError::conflict(what(), l.version, found))
}

fn listing_version(co: &str, store: &StoreId, listing: &ListingId, lock: &str) -> Sql {
    sql(format!("SELECT version FROM listings WHERE company = $1 AND store = $2 AND listing = $3{lock}"))
        .bind(co)
        .bind(store.as_str())
        .bind(listing.as_str())
}

async fn record_movement<D: Dialect>(tx: &mut Session<D>, co: &str, m: &NewMovement) -> Result<()> {
    // Writers of one SKU's movements take turns, so a balance checked in a batch stays true.
    lock_ledger(tx, co, &m.sku).await?;
    let q = sql("INSERT INTO ledger (company, sku, delta, cause, store, order_id, line, note, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
    .bind(co)
    .bind(m.sku.as_str())
    .bind(m.delta)
    .bind(m.cause.as_str())
    .bind(m.store.as_ref().map(StoreId::as_str))
    .bind(m.order.as_ref().map(OrderId::as_str))
    .bind(m.line.as_deref())
    .bind(m.note.as_deref())
    .bind(ms(m.at));
    tx.execute(q).await?;
    Ok(())
}

/// Serialise the writers (and checkers) of one company's SKU's ledger movements until the transaction
/// ends.
async fn lock_ledger<D: Dialect>(tx: &mut Session<D>, co: &str, sku: &Sku) -> Result<()> {
    if let Some(locks) = D::LOCKS {
        tx.execute(sql(locks.ledger).bind(format!("{co}\u{1f}{sku}"))).await?;
    }
    Ok(())
}

/// The sum of a company's SKU's movements.
pub(super) async fn ledger_balance<D: Dialect>(on: &mut Session<D>, co: &str, sku: &Sku) -> Result<i64> {
    let q =
        sql("SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS balance FROM ledger WHERE company = $1 AND sku = $2");
    let row = on.fetch_one(q.bind(co).bind(sku.as_str())).await?;
    Cols::<D>(&row).int("balance")
}

async fn put_order_line<D: Dialect>(tx: &mut Session<D>, co: &str, o: &OrderLineRecord) -> Result<(), Stop> {
    let text = if o.version == 0 {
        "INSERT INTO order_lines (company, sku, quantity, released, status, first_seen_at, updated_at, listing,
         channel_sku, held, store, order_id, line, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1)
         ON CONFLICT (company, store, order_id, line) DO NOTHING"
    } else {
        "UPDATE order_lines SET sku = $2, quantity = $3, released = $4, status = $5, first_seen_at = $6,
         updated_at = $7, listing = $8, channel_sku = $9, held = $10, version = version + 1
         WHERE company = $1 AND store = $11 AND order_id = $12 AND line = $13 AND version = $14"
    };
    let mut q = sql(text)
        .bind(co)
        .bind(o.sku.as_ref().map(Sku::as_str))
        .bind(i64::from(o.quantity))
        .bind(i64::from(o.released))
        .bind(name(&o.status)?)
        .bind(ms(o.first_seen_at))
        .bind(ms(o.updated_at))
        .bind(o.listing.as_ref().map(ListingId::as_str))
        .bind(&o.channel_sku)
        .bind(o.held)
        .bind(o.store.as_str())
        .bind(o.order.as_str())
        .bind(&o.line);
    if o.version != 0 {
        q = q.bind(sql_version(o.version)?);
    }
    if tx.execute(q).await? == 1 {
        return Ok(());
    }
    if o.version == 0 {
        return Err(Stop::Duplicate);
    }
    let q = sql("SELECT version FROM order_lines WHERE company = $1 AND store = $2 AND order_id = $3 AND line = $4")
        .bind(co)
        .bind(o.store.as_str())
        .bind(o.order.as_str())
        .bind(&o.line);
    let found = stored_version(tx, q).await?;
    Err(StoreError::conflict(format!("order line {}/{}/{}", o.store, o.order, o.line), o.version, found).into())
}

async fn record_delivery<D: Dialect>(tx: &mut Session<D>, co: &str, d: &DeliveryRecord) -> Result<(), Stop> {
    let q = sql("INSERT INTO deliveries (company, store, delivery_id, topic, received_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (company, store, delivery_id) DO NOTHING")
    .bind(co)
    .bind(d.store.as_str())
    .bind(&d.delivery_id)
    .bind(&d.topic)
    .bind(ms(d.received_at));
    if tx.execute(q).await? == 0 {
        return Err(Stop::Duplicate);
    }
    Ok(())
}

async fn audit<D: Dialect>(tx: &mut Session<D>, co: &str, a: &AuditEntry) -> Result<()> {
    let q = sql("INSERT INTO audit (company, store, listing, sku, field, old, new, reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
    .bind(co)
    .bind(a.store.as_str())
    .bind(a.listing.as_ref().map(ListingId::as_str))
    .bind(a.sku.as_ref().map(Sku::as_str))
    .bind(&a.field)
    .bind(a.old.as_deref())
    .bind(a.new.as_deref())
    .bind(&a.reason)
    .bind(ms(a.at));
    tx.execute(q).await?;
    Ok(())
}

async fn request_sync<D: Dialect>(tx: &mut Session<D>, co: &str, r: &SyncRequest) -> Result<()> {
    let q = sql("INSERT INTO sync_requests (company, store, requested_by, requested_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (company, store) DO UPDATE SET requested_by = excluded.requested_by,
         requested_at = excluded.requested_at, claimed_by = NULL, claim_token = NULL, lease_until = NULL")
    .bind(co)
    .bind(r.store.as_str())
    .bind(r.requested_by.as_deref())
    .bind(ms(r.requested_at));
    tx.execute(q).await?;
    Ok(())
}

async fn check_precondition<D: Dialect>(tx: &mut Session<D>, co: &str, check: &Precondition) -> Result<()> {
    match check {
        Precondition::ListingVersion { store, listing, version: expected } => {
            // The row cannot change until this transaction ends (FOR SHARE, or SQLite's write lock).
            let found = stored_version(tx, listing_version(co, store, listing, D::for_share())).await?;
            if found != Some(*expected) {
                return Err(StoreError::conflict(format!("listing {store}/{listing}"), *expected, found));
            }
        }
        Precondition::LedgerBalance { sku, balance } => {
            lock_ledger(tx, co, sku).await?;
            let found = ledger_balance(tx, co, sku).await?;
            if found != *balance {
                return Err(StoreError::conflict(
                    format!("ledger balance of {sku} ({found}, expected {balance})"),
                    0,
                    None,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::dialect::Arg;
    use super::*;

    #[test]
    fn a_listing_version_read_locks_only_when_asked() {
        let q = listing_version("c", &StoreId::new("s"), &ListingId::new("l"), " FOR SHARE");
        assert!(q.text.ends_with("listing = $3 FOR SHARE"), "{}", q.text);
        assert_eq!(q.args, vec![Arg::from("c"), Arg::from("s"), Arg::from("l")]);
    }
}
