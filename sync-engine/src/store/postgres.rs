//! [`PostgresStore`]: the store for several workers. Versioned updates, `INSERT … ON CONFLICT` for the
//! once-only rows, outbox claims with `FOR UPDATE SKIP LOCKED`, leases by conditional upsert.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use channel_core::{ListingId, OrderId, Sku, StoreId};
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres, Row, Transaction};

use super::codec::*;
use super::*;
use crate::{Error, Result};

/// How to connect a [`PostgresStore`].
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The connection URL (`postgres://user@host:5432/db`).
    pub url: String,
    /// The schema to keep the tables in (created if missing; letters, digits and `_`). `None`: the
    /// server's default search path.
    pub schema: Option<String>,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PostgresOptions")
            .field("url", &"******")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl PostgresOptions {
    /// Defaults: the default schema, 8 connections.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), schema: None, max_connections: 8 }
    }

    /// Keep the tables in this schema (builder style).
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
}

/// A [`Store`] on PostgreSQL, for several workers (processes or machines) sharing one database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<String>,
}

fn db(e: sqlx::Error) -> Error {
    let (retryable, conflict) = match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => (true, false),
        sqlx::Error::Database(d) => match d.code().as_deref() {
            // serialization_failure, deadlock_detected, lock_not_available, too_many_connections
            Some("40001" | "40P01" | "55P03" | "53300") => (true, false),
            Some("23505") => (false, true),
            _ => (false, false),
        },
        _ => (false, false),
    };
    if conflict {
        return Error::conflict("a row written concurrently (unique violation)", 0, None);
    }
    Error::storage("postgres", retryable, e)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage { message: format!("postgres: unreadable {what}: {e}"), retryable: false, source: None }
}

fn get<T>(row: &PgRow, col: &str) -> Result<T>
where
    T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col).map_err(db)
}

fn connection_row(row: &PgRow) -> Result<ConnectionRecord> {
    let channel: String = get(row, "channel")?;
    let client: Option<String> = get(row, "scope_client")?;
    Ok(ConnectionRecord {
        store: StoreId::new(get::<String>(row, "store")?),
        channel: channel.parse().map_err(|e| corrupt("channel", e))?,
        name: get(row, "name")?,
        scope: client.map_or(Scope::Global, |c| Scope::Client(ClientId::new(c))),
        warehouse: get::<Option<String>>(row, "warehouse")?.map(WarehouseId::new),
        settings: unjson(&get::<String>(row, "settings")?)?,
        credentials: get::<Option<String>>(row, "credentials")?.map(SealedCredentials::from_sealed),
        account: ounjson(get(row, "account")?)?,
        sync_mode: get::<String>(row, "sync_mode")?.parse().map_err(|e: String| corrupt("sync mode", e))?,
        source_of_truth: get::<bool>(row, "source_of_truth")?,
        state: unname(get(row, "state")?)?,
        health: unjson(&get::<String>(row, "health")?)?,
        created_at: ts(get(row, "created_at")?)?,
        updated_at: ts(get(row, "updated_at")?)?,
        version: version(get(row, "version")?)?,
    })
}

fn product_row(row: &PgRow) -> Result<ProductRecord> {
    Ok(ProductRecord {
        sku: sku(get(row, "sku")?)?,
        name: get(row, "name")?,
        components: unjson(&get::<String>(row, "components")?)?,
        created_at: ts(get(row, "created_at")?)?,
        updated_at: ts(get(row, "updated_at")?)?,
    })
}

fn listing_row(row: &PgRow) -> Result<ListingRecord> {
    Ok(ListingRecord {
        store: StoreId::new(get::<String>(row, "store")?),
        listing: ListingId::new(get::<String>(row, "listing")?),
        ids: unjson(&get::<String>(row, "ids")?)?,
        channel_sku: get(row, "channel_sku")?,
        sku: osku(get(row, "sku")?)?,
        fulfilment: unname(get(row, "fulfilment")?)?,
        status: unname(get(row, "status")?)?,
        seen_quantity: get(row, "seen_quantity")?,
        seen_price: ounjson(get(row, "seen_price")?)?,
        seen_at: ots(get(row, "seen_at")?)?,
        pushed_quantity: get(row, "pushed_quantity")?,
        pushed_price: ounjson(get(row, "pushed_price")?)?,
        pushed_at: ots(get(row, "pushed_at")?)?,
        sku_change: ounjson(get(row, "sku_change")?)?,
        version: version(get(row, "version")?)?,
    })
}

fn movement_row(row: &PgRow) -> Result<Movement> {
    let cause: String = get(row, "cause")?;
    Ok(Movement {
        id: get(row, "id")?,
        movement: NewMovement {
            sku: sku(get(row, "sku")?)?,
            delta: get(row, "delta")?,
            cause: MovementCause::parse(&cause).ok_or_else(|| corrupt("cause", &cause))?,
            store: get::<Option<String>>(row, "store")?.map(StoreId::new),
            order: get::<Option<String>>(row, "order_id")?.map(OrderId::new),
            line: get(row, "line")?,
            note: get(row, "note")?,
            at: ts(get(row, "at")?)?,
        },
    })
}

fn order_line_row(row: &PgRow) -> Result<OrderLineRecord> {
    Ok(OrderLineRecord {
        store: StoreId::new(get::<String>(row, "store")?),
        order: OrderId::new(get::<String>(row, "order_id")?),
        line: get(row, "line")?,
        sku: osku(get(row, "sku")?)?,
        quantity: u32::try_from(get::<i64>(row, "quantity")?).map_err(|e| corrupt("quantity", e))?,
        released: u32::try_from(get::<i64>(row, "released")?).map_err(|e| corrupt("released", e))?,
        status: unname(get(row, "status")?)?,
        first_seen_at: ts(get(row, "first_seen_at")?)?,
        updated_at: ts(get(row, "updated_at")?)?,
        version: version(get(row, "version")?)?,
    })
}

fn sync_request_row(row: &PgRow) -> Result<SyncRequest> {
    let mut request = SyncRequest::new(
        StoreId::new(get::<String>(row, "store")?),
        get(row, "requested_by")?,
        ts(get(row, "requested_at")?)?,
    );
    request.claimed_by = get(row, "claimed_by")?;
    request.claim_token = get(row, "claim_token")?;
    request.lease_until = ots(get(row, "lease_until")?)?;
    Ok(request)
}

fn outbox_row(row: &PgRow) -> Result<OutboxItem> {
    let state: String = get(row, "state")?;
    Ok(OutboxItem {
        id: get(row, "id")?,
        push: OutboxPush {
            store: StoreId::new(get::<String>(row, "store")?),
            listing: ListingId::new(get::<String>(row, "listing")?),
            action: unjson(&get::<String>(row, "action")?)?,
            reason: get(row, "reason")?,
        },
        state: OutboxState::parse(&state).ok_or_else(|| corrupt("outbox state", &state))?,
        attempts: u32::try_from(get::<i64>(row, "attempts")?).map_err(|e| corrupt("attempts", e))?,
        next_attempt_at: ts(get(row, "next_attempt_at")?)?,
        claimed_by: get(row, "claimed_by")?,
        claim_token: get(row, "claim_token")?,
        lease_until: ots(get(row, "lease_until")?)?,
        last_error: get(row, "last_error")?,
        created_at: ts(get(row, "created_at")?)?,
        updated_at: ts(get(row, "updated_at")?)?,
    })
}

fn audit_row(row: &PgRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: get(row, "id")?,
        store: StoreId::new(get::<String>(row, "store")?),
        listing: get::<Option<String>>(row, "listing")?.map(ListingId::new),
        sku: osku(get(row, "sku")?)?,
        field: get(row, "field")?,
        old: get(row, "old")?,
        new: get(row, "new")?,
        reason: get(row, "reason")?,
        at: ts(get(row, "at")?)?,
    })
}

fn limit(n: Option<usize>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

type Tx = Transaction<'static, Postgres>;

/// Why a batch stopped early.
enum Stop {
    Duplicate,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(db(e))
    }
}

impl PostgresStore {
    /// Connect, create the schema if asked, and run the migrations.
    pub async fn connect(options: PostgresOptions) -> Result<Self> {
        let mut connect: PgConnectOptions =
            options.url.parse().map_err(|e| Error::storage("postgres: bad connection URL", false, e))?;
        if let Some(schema) = &options.schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::Invalid(format!("schema name {schema:?}: use letters, digits and '_'")));
            }
            let mut conn = connect.connect().await.map_err(db)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(&mut conn).await.map_err(db)?;
            conn.close().await.map_err(db)?;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::storage("postgres: migrations failed", false, e))?;
        Ok(Self { pool, schema: options.schema })
    }

    /// The schema the tables are in, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Drop the schema and everything in it (for tests that made one per run), then close the pool.
    pub async fn drop_schema(&self) -> Result<()> {
        if let Some(schema) = &self.schema {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        self.pool.close().await;
        Ok(())
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn write_tx(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(db)
    }

    /// Finish one claimed item inside `tx`. The outer error is the database's (abort the transaction);
    /// the inner one the item's (not found, claim no longer held), with nothing written for it.
    async fn finish_in(tx: &mut Tx, id: i64, token: &str, result: OutboxResult, now: Timestamp) -> Result<Result<()>> {
        let row = sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(Err(Error::NotFound(format!("outbox item {id}")))) };
        let item = outbox_row(&row)?;
        if item.state != OutboxState::Claimed || item.claim_token.as_deref() != Some(token) {
            return Ok(Err(Error::conflict(format!("outbox item {id} (claim no longer held)"), 0, None)));
        }
        match result {
            OutboxResult::Done => {
                sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id).execute(&mut **tx).await.map_err(db)?;
            }
            OutboxResult::Retry { error, at } => {
                let pending = sqlx::query(
                    "SELECT id, action FROM outbox WHERE store = $1 AND listing = $2 AND lane = $3 AND state = 'pending'
                     FOR UPDATE",
                )
                .bind(item.push.store.as_str())
                .bind(item.push.listing.as_str())
                .bind(item.push.action.lane().as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
                if let Some(p) = pending {
                    let pid: i64 = get(&p, "id")?;
                    let newer: PushAction = unjson(&get::<String>(&p, "action")?)?;
                    sqlx::query("UPDATE outbox SET action = $1, last_error = $2, updated_at = $3 WHERE id = $4")
                        .bind(json(&item.push.action.coalesce(&newer))?)
                        .bind(&error)
                        .bind(ms(now))
                        .bind(pid)
                        .execute(&mut **tx)
                        .await
                        .map_err(db)?;
                    sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id).execute(&mut **tx).await.map_err(db)?;
                } else {
                    sqlx::query(
                        "UPDATE outbox SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_by = NULL,
                         claim_token = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4",
                    )
                    .bind(ms(at))
                    .bind(&error)
                    .bind(ms(now))
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db)?;
                }
            }
            OutboxResult::Dead { reason } => {
                sqlx::query(
                    "UPDATE outbox SET state = 'dead', last_error = $1, claimed_by = NULL, claim_token = NULL,
                     lease_until = NULL, updated_at = $2 WHERE id = $3",
                )
                .bind(&reason)
                .bind(ms(now))
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(db)?;
            }
        }
        Ok(Ok(()))
    }

    async fn apply(tx: &mut Tx, op: WriteOp) -> Result<(), Stop> {
        match op {
            WriteOp::PutConnection(c) => Self::put_connection(tx, &c).await?,
            WriteOp::RecordHealth { store, event } => {
                let row = sqlx::query("SELECT health FROM connections WHERE store = $1 FOR UPDATE")
                    .bind(store.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some(row) = row else { return Err(Error::NotFound(format!("connection {store}")).into()) };
                let mut health: Health = unjson(&get::<String>(&row, "health")?)?;
                health.apply(&event);
                sqlx::query("UPDATE connections SET health = $1 WHERE store = $2")
                    .bind(json(&health)?)
                    .bind(store.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            WriteOp::PutProduct(p) => {
                sqlx::query(
                    "INSERT INTO products (sku, name, components, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (sku) DO UPDATE SET name = excluded.name, components = excluded.components,
                     updated_at = excluded.updated_at",
                )
                .bind(p.sku.as_str())
                .bind(p.name.as_deref())
                .bind(json(&p.components)?)
                .bind(ms(p.created_at))
                .bind(ms(p.updated_at))
                .execute(&mut **tx)
                .await?;
            }
            WriteOp::DeleteProduct(sku) => {
                sqlx::query("DELETE FROM products WHERE sku = $1").bind(sku.as_str()).execute(&mut **tx).await?;
            }
            WriteOp::PutListing(l) => Self::put_listing(tx, &l).await?,
            WriteOp::DeleteListing { store, listing } => {
                sqlx::query("DELETE FROM listings WHERE store = $1 AND listing = $2")
                    .bind(store.as_str())
                    .bind(listing.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            WriteOp::RecordMovement(m) => {
                // Writers of one SKU's movements take turns, so a balance checked in a batch stays true.
                Self::lock_ledger(tx, &m.sku).await?;
                sqlx::query(
                    "INSERT INTO ledger (sku, delta, cause, store, order_id, line, note, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(m.sku.as_str())
                .bind(m.delta)
                .bind(m.cause.as_str())
                .bind(m.store.as_ref().map(StoreId::as_str))
                .bind(m.order.as_ref().map(OrderId::as_str))
                .bind(m.line.as_deref())
                .bind(m.note.as_deref())
                .bind(ms(m.at))
                .execute(&mut **tx)
                .await?;
            }
            WriteOp::PutOrderLine(o) => Self::put_order_line(tx, &o).await?,
            WriteOp::RecordDelivery(d) => {
                let done = sqlx::query(
                    "INSERT INTO deliveries (store, delivery_id, topic, received_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (store, delivery_id) DO NOTHING",
                )
                .bind(d.store.as_str())
                .bind(&d.delivery_id)
                .bind(&d.topic)
                .bind(ms(d.received_at))
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(Stop::Duplicate);
                }
            }
            WriteOp::SetCursor { store, name, value } => {
                sqlx::query(
                    "INSERT INTO cursors (store, name, value) VALUES ($1, $2, $3)
                     ON CONFLICT (store, name) DO UPDATE SET value = excluded.value",
                )
                .bind(store.as_str())
                .bind(&name)
                .bind(&value)
                .execute(&mut **tx)
                .await?;
            }
            WriteOp::Enqueue { push, now } => Self::enqueue(tx, &push, now).await?,
            WriteOp::DropOutbox(store) => {
                sqlx::query("DELETE FROM outbox WHERE store = $1 AND state <> 'dead'")
                    .bind(store.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            WriteOp::Audit(a) => {
                sqlx::query(
                    "INSERT INTO audit (store, listing, sku, field, old, new, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(a.store.as_str())
                .bind(a.listing.as_ref().map(ListingId::as_str))
                .bind(a.sku.as_ref().map(Sku::as_str))
                .bind(&a.field)
                .bind(a.old.as_deref())
                .bind(a.new.as_deref())
                .bind(&a.reason)
                .bind(ms(a.at))
                .execute(&mut **tx)
                .await?;
            }
            WriteOp::RequestSync(r) => {
                sqlx::query(
                    "INSERT INTO sync_requests (store, requested_by, requested_at) VALUES ($1, $2, $3)
                     ON CONFLICT (store) DO UPDATE SET requested_by = excluded.requested_by,
                     requested_at = excluded.requested_at, claimed_by = NULL, claim_token = NULL,
                     lease_until = NULL",
                )
                .bind(r.store.as_str())
                .bind(r.requested_by.as_deref())
                .bind(ms(r.requested_at))
                .execute(&mut **tx)
                .await?;
            }
            WriteOp::Check(Precondition::ListingVersion { store, listing, version: expected }) => {
                // FOR SHARE: the row cannot change until this transaction ends.
                let found = Self::stored_version(
                    tx,
                    "SELECT version FROM listings WHERE store = $1 AND listing = $2 FOR SHARE",
                    &[store.as_str(), listing.as_str()],
                )
                .await?;
                if found != Some(expected) {
                    return Err(Error::conflict(format!("listing {store}/{listing}"), expected, found).into());
                }
            }
            WriteOp::Check(Precondition::LedgerBalance { sku, balance }) => {
                Self::lock_ledger(tx, &sku).await?;
                let row = sqlx::query("SELECT COALESCE(SUM(delta), 0)::BIGINT AS balance FROM ledger WHERE sku = $1")
                    .bind(sku.as_str())
                    .fetch_one(&mut **tx)
                    .await?;
                let found: i64 = get(&row, "balance")?;
                if found != balance {
                    return Err(Error::conflict(
                        format!("ledger balance of {sku} ({found}, expected {balance})"),
                        0,
                        None,
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Serialise the writers (and checkers) of one SKU's ledger movements until the transaction ends.
    async fn lock_ledger(tx: &mut Tx, sku: &Sku) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('stocksync ledger ' || $1, 0))")
            .bind(sku.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn stored_version(tx: &mut Tx, sql: &str, keys: &[&str]) -> Result<Option<u64>> {
        let mut q = sqlx::query(sql);
        for k in keys {
            q = q.bind(*k);
        }
        let row = q.fetch_optional(&mut **tx).await.map_err(db)?;
        row.map(|r| version(get(&r, "version")?)).transpose()
    }

    async fn put_connection(tx: &mut Tx, c: &ConnectionRecord) -> Result<()> {
        let what = || format!("connection {}", c.store);
        let sql = if c.version == 0 {
            "INSERT INTO connections (channel, name, scope_client, warehouse, settings, credentials, account, sync_mode,
             source_of_truth, state, created_at, updated_at, health, store, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 + 1) ON CONFLICT (store) DO NOTHING"
        } else {
            "UPDATE connections SET channel = $1, name = $2, scope_client = $3, warehouse = $4, settings = $5,
             credentials = $6, account = $7, sync_mode = $8, source_of_truth = $9, state = $10, created_at = $11,
             updated_at = $12, version = version + 1
             WHERE $13 IS NOT NULL AND store = $14 AND version = $15"
        };
        let done = sqlx::query(sql)
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
            .bind(sql_version(c.version)?)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        if c.version == 0 {
            return Err(Error::AlreadyExists(what()));
        }
        let found =
            Self::stored_version(tx, "SELECT version FROM connections WHERE store = $1", &[c.store.as_str()]).await?;
        Err(Error::conflict(what(), c.version, found))
    }

    async fn put_listing(tx: &mut Tx, l: &ListingRecord) -> Result<()> {
        let what = || format!("listing {}/{}", l.store, l.listing);
        let sql = if l.version == 0 {
            "INSERT INTO listings (ids, channel_sku, sku, fulfilment, status, seen_quantity, seen_price, seen_at,
             pushed_quantity, pushed_price, pushed_at, sku_change, store, listing, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 + 1) ON CONFLICT (store, listing) DO NOTHING"
        } else {
            "UPDATE listings SET ids = $1, channel_sku = $2, sku = $3, fulfilment = $4, status = $5, seen_quantity = $6,
             seen_price = $7, seen_at = $8, pushed_quantity = $9, pushed_price = $10, pushed_at = $11, sku_change = $12,
             version = version + 1 WHERE store = $13 AND listing = $14 AND version = $15"
        };
        let done = sqlx::query(sql)
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
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        if l.version == 0 {
            return Err(Error::AlreadyExists(what()));
        }
        let found = Self::stored_version(
            tx,
            "SELECT version FROM listings WHERE store = $1 AND listing = $2",
            &[l.store.as_str(), l.listing.as_str()],
        )
        .await?;
        Err(Error::conflict(what(), l.version, found))
    }

    async fn put_order_line(tx: &mut Tx, o: &OrderLineRecord) -> Result<(), Stop> {
        let sql = if o.version == 0 {
            "INSERT INTO order_lines (sku, quantity, released, status, first_seen_at, updated_at, store, order_id,
             line, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) ON CONFLICT (store, order_id, line) DO NOTHING"
        } else {
            "UPDATE order_lines SET sku = $1, quantity = $2, released = $3, status = $4, first_seen_at = $5,
             updated_at = $6, version = version + 1 WHERE store = $7 AND order_id = $8 AND line = $9 AND version = $10"
        };
        let mut q = sqlx::query(sql)
            .bind(o.sku.as_ref().map(Sku::as_str))
            .bind(i64::from(o.quantity))
            .bind(i64::from(o.released))
            .bind(name(&o.status)?)
            .bind(ms(o.first_seen_at))
            .bind(ms(o.updated_at))
            .bind(o.store.as_str())
            .bind(o.order.as_str())
            .bind(&o.line);
        if o.version != 0 {
            q = q.bind(sql_version(o.version)?);
        }
        let done = q.execute(&mut **tx).await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        if o.version == 0 {
            return Err(Stop::Duplicate);
        }
        let found = Self::stored_version(
            tx,
            "SELECT version FROM order_lines WHERE store = $1 AND order_id = $2 AND line = $3",
            &[o.store.as_str(), o.order.as_str(), &o.line],
        )
        .await?;
        Err(Error::conflict(format!("order line {}/{}/{}", o.store, o.order, o.line), o.version, found).into())
    }

    async fn enqueue(tx: &mut Tx, push: &OutboxPush, now: Timestamp) -> Result<()> {
        let lane = push.action.lane().as_str();
        // Two rounds: if another transaction inserts the lane's pending item between our look and our
        // insert, the insert does nothing and the second look finds (and locks) that item.
        for _ in 0..2 {
            let pending = sqlx::query(
                "SELECT id, action FROM outbox WHERE store = $1 AND listing = $2 AND lane = $3 AND state = 'pending'
                 FOR UPDATE",
            )
            .bind(push.store.as_str())
            .bind(push.listing.as_str())
            .bind(lane)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
            if let Some(row) = pending {
                let id: i64 = get(&row, "id")?;
                let action: PushAction = unjson(&get::<String>(&row, "action")?)?;
                sqlx::query("UPDATE outbox SET action = $1, reason = $2, updated_at = $3 WHERE id = $4")
                    .bind(json(&action.coalesce(&push.action))?)
                    .bind(&push.reason)
                    .bind(ms(now))
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db)?;
                return Ok(());
            }
            let done = sqlx::query(
                "INSERT INTO outbox (store, listing, lane, action, reason, state, attempts, next_attempt_at,
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8)
                 ON CONFLICT (store, listing, lane) WHERE state = 'pending' DO NOTHING",
            )
            .bind(push.store.as_str())
            .bind(push.listing.as_str())
            .bind(lane)
            .bind(json(&push.action)?)
            .bind(&push.reason)
            .bind(ms(now))
            .bind(ms(now))
            .bind(ms(now))
            .execute(&mut **tx)
            .await
            .map_err(db)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
        }
        Err(Error::storage(
            "postgres: the outbox lane kept changing",
            true,
            std::io::Error::other("concurrent enqueue"),
        ))
    }
}

const OUTBOX_COLUMNS: &str = "id, store, listing, lane, action, reason, state, attempts, next_attempt_at, claimed_by,
    claim_token, lease_until, last_error, created_at, updated_at";

#[async_trait]
impl Store for PostgresStore {
    async fn commit(&self, batch: WriteBatch) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        for op in batch.ops {
            match Self::apply(&mut tx, op).await {
                Ok(()) => {}
                Err(Stop::Duplicate) => {
                    tx.rollback().await.map_err(db)?;
                    return Ok(false);
                }
                // Dropping the transaction rolls it back.
                Err(Stop::Failed(e)) => return Err(e),
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn connection(&self, store: &StoreId) -> Result<Option<ConnectionRecord>> {
        let row = sqlx::query("SELECT * FROM connections WHERE store = $1")
            .bind(store.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(connection_row).transpose()
    }

    async fn connections(&self, filter: &ConnectionFilter) -> Result<Vec<ConnectionRecord>> {
        // Connections are few: filter in Rust with the same predicate as every other backend.
        let rows = sqlx::query("SELECT * FROM connections ORDER BY store COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut out = Vec::new();
        for row in &rows {
            let c = connection_row(row)?;
            if filter.matches(&c) {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn product(&self, sku: &Sku) -> Result<Option<ProductRecord>> {
        let row = sqlx::query("SELECT * FROM products WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(product_row).transpose()
    }

    async fn products(&self) -> Result<Vec<ProductRecord>> {
        let rows =
            sqlx::query("SELECT * FROM products ORDER BY sku COLLATE \"C\"").fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(product_row).collect()
    }

    async fn listing(&self, store: &StoreId, listing: &ListingId) -> Result<Option<ListingRecord>> {
        let row = sqlx::query("SELECT * FROM listings WHERE store = $1 AND listing = $2")
            .bind(store.as_str())
            .bind(listing.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(listing_row).transpose()
    }

    async fn listings(&self, filter: &ListingFilter) -> Result<Vec<ListingRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM listings WHERE ($1 IS NULL OR store = $1) AND ($2 IS NULL OR sku = $2)
             ORDER BY store COLLATE \"C\", listing COLLATE \"C\"",
        )
        .bind(filter.store.as_ref().map(StoreId::as_str))
        .bind(filter.sku.as_ref().map(Sku::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(listing_row).collect()
    }

    async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<Movement>> {
        let rows = sqlx::query(
            "SELECT * FROM ledger WHERE ($1 IS NULL OR sku = $1) AND ($2 IS NULL OR store = $2)
             AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
        )
        .bind(filter.sku.as_ref().map(Sku::as_str))
        .bind(filter.store.as_ref().map(StoreId::as_str))
        .bind(filter.after_id)
        .bind(limit(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(movement_row).collect()
    }

    async fn ledger_balance(&self, sku: &Sku) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(SUM(delta), 0)::BIGINT AS balance FROM ledger WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        get(&row, "balance")
    }

    async fn order_line(&self, store: &StoreId, order: &OrderId, line: &str) -> Result<Option<OrderLineRecord>> {
        let row = sqlx::query("SELECT * FROM order_lines WHERE store = $1 AND order_id = $2 AND line = $3")
            .bind(store.as_str())
            .bind(order.as_str())
            .bind(line)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(order_line_row).transpose()
    }

    async fn delivery_seen(&self, store: &StoreId, delivery_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM deliveries WHERE store = $1 AND delivery_id = $2")
            .bind(store.as_str())
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.is_some())
    }

    async fn cursor(&self, store: &StoreId, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM cursors WHERE store = $1 AND name = $2")
            .bind(store.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| get(&r, "value")).transpose()
    }

    async fn claim_outbox(&self, claim: &ClaimRequest) -> Result<Vec<OutboxItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        let now = ms(claim.now);
        let mut tx = self.write_tx().await?;
        // The busy lanes (unexpired claims) are one uncorrelated subquery, read once: a correlated
        // `NOT EXISTS` per candidate scans every claimed row, quadratic when other lanes hold thousands.
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o
             WHERE ((o.state = 'pending' AND o.next_attempt_at <= $1) OR (o.state = 'claimed' AND o.lease_until <= $1))
               AND ($2 IS NULL OR o.store = $2)
               AND (o.store, o.listing, o.lane) NOT IN (SELECT b.store, b.listing, b.lane FROM outbox b
                               WHERE b.state = 'claimed' AND b.lease_until > $1 AND ($2::text IS NULL OR b.store = $2))
             ORDER BY o.next_attempt_at, o.id LIMIT $3 FOR UPDATE SKIP LOCKED"
        ))
        .bind(now)
        .bind(claim.store.as_ref().map(StoreId::as_str))
        .bind(limit(Some(claim.limit.saturating_mul(2).saturating_add(16))))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut lanes = BTreeSet::new();
        let mut out = Vec::new();
        for row in &rows {
            if out.len() >= claim.limit {
                break;
            }
            let mut item = outbox_row(row)?;
            if !lanes.insert((item.push.store.clone(), item.push.listing.clone(), item.push.action.lane().as_str())) {
                continue;
            }
            // Lock the lane for the rest of this transaction, then look again with a fresh statement: a
            // worker that claimed another item of this lane since our candidate query began has either not
            // committed (it holds the lock: skip) or has (its claim is visible now: skip).
            let lane_key =
                format!("{}\u{1f}{}\u{1f}{}", item.push.store, item.push.listing, item.push.action.lane().as_str());
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
                .bind(&lane_key)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            if !locked {
                continue;
            }
            let busy = sqlx::query(
                "SELECT 1 AS one FROM outbox WHERE store = $1 AND listing = $2 AND lane = $3 AND state = 'claimed'
                 AND lease_until > $4 AND id <> $5",
            )
            .bind(item.push.store.as_str())
            .bind(item.push.listing.as_str())
            .bind(item.push.action.lane().as_str())
            .bind(now)
            .bind(item.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if busy.is_some() {
                continue;
            }
            let token = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "UPDATE outbox SET state = 'claimed', attempts = attempts + 1, claimed_by = $1, claim_token = $2,
                 lease_until = $3, updated_at = $4 WHERE id = $5",
            )
            .bind(&claim.worker)
            .bind(&token)
            .bind(ms(claim.lease_until))
            .bind(now)
            .bind(item.id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            item.state = OutboxState::Claimed;
            item.attempts += 1;
            item.claimed_by = Some(claim.worker.clone());
            item.claim_token = Some(token);
            item.lease_until = Some(claim.lease_until);
            item.updated_at = claim.now;
            out.push(item);
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn finish_outbox(&self, id: i64, token: &str, result: OutboxResult, now: Timestamp) -> Result<()> {
        let mut tx = self.write_tx().await?;
        Self::finish_in(&mut tx, id, token, result, now).await??;
        tx.commit().await.map_err(db)
    }

    async fn finish_outbox_many(&self, mut items: Vec<OutboxFinish>, now: Timestamp) -> Result<Vec<Result<()>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        // In id order (the order locks are taken in), answered in the caller's order.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| items[i].id);
        let mut results: Vec<Result<()>> = items.iter().map(|_| Ok(())).collect();
        let mut tx = self.write_tx().await?;
        for i in order {
            let item = &mut items[i];
            let result = std::mem::replace(&mut item.result, OutboxResult::Done);
            results[i] = Self::finish_in(&mut tx, item.id, &item.token, result, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(results)
    }

    async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ($1 IS NULL OR store = $1) AND ($2 IS NULL OR state = $2)
             ORDER BY id"
        ))
        .bind(filter.store.as_ref().map(StoreId::as_str))
        .bind(filter.state.map(OutboxState::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(outbox_row).collect()
    }

    async fn acquire_lease(&self, store: &StoreId, holder: &str, until: Timestamp, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO leases (store, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (store) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.holder = excluded.holder OR leases.until <= $4",
        )
        .bind(store.as_str())
        .bind(holder)
        .bind(ms(until))
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, store: &StoreId, holder: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM leases WHERE store = $1 AND holder = $2")
            .bind(store.as_str())
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_sync_requests(&self, claim: &ClaimRequest) -> Result<Vec<SyncRequest>> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT * FROM sync_requests WHERE ($1::TEXT IS NULL OR store = $1)
             AND (claim_token IS NULL OR lease_until IS NULL OR lease_until <= $2)
             ORDER BY requested_at, store COLLATE \"C\" LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .bind(claim.store.as_ref().map(StoreId::as_str))
        .bind(ms(claim.now))
        .bind(limit(Some(claim.limit)))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut request = sync_request_row(row)?;
            let token = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "UPDATE sync_requests SET claimed_by = $1, claim_token = $2, lease_until = $3 WHERE store = $4",
            )
            .bind(&claim.worker)
            .bind(&token)
            .bind(ms(claim.lease_until))
            .bind(request.store.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            request.claimed_by = Some(claim.worker.clone());
            request.claim_token = Some(token);
            request.lease_until = Some(claim.lease_until);
            out.push(request);
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn renew_outbox(&self, claims: &[(i64, String)], until: Timestamp) -> Result<usize> {
        if claims.is_empty() {
            return Ok(0);
        }
        let (ids, tokens): (Vec<i64>, Vec<String>) = claims.iter().cloned().unzip();
        let done = sqlx::query(
            "UPDATE outbox o SET lease_until = $1 FROM UNNEST($2::BIGINT[], $3::TEXT[]) AS c(id, token)
             WHERE o.id = c.id AND o.state = 'claimed' AND o.claim_token = c.token",
        )
        .bind(ms(until))
        .bind(&ids)
        .bind(&tokens)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(0))
    }

    async fn renew_sync_request(&self, store: &StoreId, token: &str, until: Timestamp) -> Result<bool> {
        let done = sqlx::query("UPDATE sync_requests SET lease_until = $1 WHERE store = $2 AND claim_token = $3")
            .bind(ms(until))
            .bind(store.as_str())
            .bind(token)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_sync_request(&self, store: &StoreId, token: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sync_requests WHERE store = $1 AND claim_token = $2")
            .bind(store.as_str())
            .bind(token)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sync_requests(&self) -> Result<Vec<SyncRequest>> {
        let rows = sqlx::query("SELECT * FROM sync_requests ORDER BY requested_at, store COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(sync_request_row).collect()
    }

    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM audit WHERE ($1 IS NULL OR store = $1) AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(filter.store.as_ref().map(StoreId::as_str))
        .bind(filter.after_id)
        .bind(limit(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(audit_row).collect()
    }

    async fn purge_store(&self, store: &StoreId) -> Result<PurgeReport> {
        let mut tx = self.write_tx().await?;
        let s = store.as_str();
        let mut report = PurgeReport::default();
        let own_rows = sqlx::query("SELECT DISTINCT sku FROM listings WHERE store = $1 AND sku IS NOT NULL")
            .bind(s)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let own: Vec<String> = own_rows.iter().map(|r| get(r, "sku")).collect::<Result<_>>()?;
        report.listings = count(
            sqlx::query("DELETE FROM listings WHERE store = $1")
                .bind(s)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected(),
        );
        let product_rows = sqlx::query("SELECT * FROM products").fetch_all(&mut *tx).await.map_err(db)?;
        let products: BTreeMap<Sku, ProductRecord> =
            product_rows.iter().map(|r| product_row(r).map(|p| (p.sku.clone(), p))).collect::<Result<_>>()?;
        let mut remove = BTreeSet::new();
        for raw in own {
            let elsewhere = sqlx::query("SELECT 1 AS one FROM listings WHERE sku = $1 LIMIT 1")
                .bind(&raw)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            let sku = sku(raw)?;
            if elsewhere.is_none() && products.contains_key(&sku) {
                remove.insert(sku);
            }
        }
        memory::keep_needed_components(&products, &mut remove);
        for sku in &remove {
            sqlx::query("DELETE FROM products WHERE sku = $1")
                .bind(sku.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            report.movements += sqlx::query("DELETE FROM ledger WHERE sku = $1")
                .bind(sku.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        }
        report.products = remove.into_iter().collect();
        report.order_lines = sqlx::query("DELETE FROM order_lines WHERE store = $1")
            .bind(s)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        report.outbox_items = sqlx::query("DELETE FROM outbox WHERE store = $1")
            .bind(s)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        for table in ["deliveries", "cursors", "leases", "sync_requests", "connections"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE store = $1"))
                .bind(s)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(report)
    }
}
