//! The database of a run: a fresh PostgreSQL schema, seeded through the store API with the companies,
//! their connections and a "sync now" per store; and the few counts the coordinator watches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sync_engine::store::{CompanyRecord, Scope, SyncRequest};
use sync_engine::{CredentialCipher, PostgresOptions, PostgresStore, Store, WriteBatch, WriteOp};

use crate::farm::{Farm, company_id, store_id};

/// Batches committed at once while seeding.
const SEED_CONCURRENCY: usize = 8;

/// Connect to `url` in `schema` (created and migrated if new) with a pool of `pool`.
pub(crate) async fn open(url: &str, schema: &str, pool: u32) -> Result<Arc<PostgresStore>, String> {
    let mut options = PostgresOptions::new(url).with_schema(schema);
    options.max_connections = pool;
    PostgresStore::connect(options).await.map(Arc::new).map_err(|e| format!("PostgreSQL {schema}: {e}"))
}

/// One company's batch: the company, its three connections (of `scope`, or its own when `None`) and a
/// "sync now" for each store.
pub(crate) fn company_batch(
    farm: &Farm,
    c: usize,
    scope: Option<Scope>,
    with_company: bool,
    cipher: &CredentialCipher,
) -> Result<WriteBatch, String> {
    let now = jiff::Timestamp::now();
    let id = company_id(c);
    let mut batch = WriteBatch::new();
    if with_company {
        batch.push(WriteOp::PutCompany(CompanyRecord::new(id.clone(), format!("Company {c}"), now)));
    }
    let scope = scope.unwrap_or(Scope::Client(id));
    for record in farm.connections(c, &scope, cipher, now)? {
        batch.push(WriteOp::PutConnection(record));
    }
    for s in 0..3 {
        batch.push(WriteOp::RequestSync(SyncRequest::new(store_id(c, s), Some("fleet bench".into()), now)));
    }
    Ok(batch)
}

/// Seed every company of the farm into `store`, one batch per company through its view; how long it took.
pub(crate) async fn seed(store: &Arc<dyn Store>, farm: &Farm, cipher: &CredentialCipher) -> Result<Duration, String> {
    let started = Instant::now();
    let batches = (0..farm.len())
        .map(|c| company_batch(farm, c, None, true, cipher).map(|b| (c, b)))
        .collect::<Result<Vec<_>, String>>()?;
    let mut commits = futures::stream::iter(batches)
        .map(|(c, batch)| {
            let view = store.for_company(&company_id(c));
            async move { view.commit(batch).await.map_err(|e| format!("seeding company {c}: {e}")) }
        })
        .buffer_unordered(SEED_CONCURRENCY);
    while let Some(result) = commits.next().await {
        result?;
    }
    Ok(started.elapsed())
}

/// Queue a "sync now" for every store of the first `companies` companies again (one batch per company).
pub(crate) async fn request_syncs(store: &Arc<dyn Store>, companies: usize) -> Result<(), String> {
    let now = jiff::Timestamp::now();
    let mut commits = futures::stream::iter(0..companies)
        .map(|c| {
            let view = store.for_company(&company_id(c));
            let mut batch = WriteBatch::new();
            for s in 0..3 {
                batch.push(WriteOp::RequestSync(SyncRequest::new(store_id(c, s), Some("fleet bench".into()), now)));
            }
            async move { view.commit(batch).await.map_err(|e| format!("company {c}: {e}")) }
        })
        .buffer_unordered(SEED_CONCURRENCY);
    while let Some(result) = commits.next().await {
        result?;
    }
    Ok(())
}

/// `url` with its database replaced by `database` (`postgres://u@h:5432/test?x=y` → `…/database?x=y`).
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = base[authority..].find('/').map_or(base, |i| &base[..authority + i]);
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

/// Create database `name` on the server of `url` (its own, so its transaction counts are the
/// benchmark's alone); `drop` removes it again.
pub(crate) async fn create_database(url: &str, name: &str, drop: bool) -> Result<(), String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.map_err(|e| format!("DATABASE_URL: {e}"))?;
    let sql = if drop {
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
    } else {
        format!("CREATE DATABASE \"{name}\"")
    };
    sqlx::query(&sql).execute(&mut conn).await.map_err(|e| format!("{sql}: {e}"))?;
    conn.close().await.map_err(|e| e.to_string())
}

/// A small pool for the coordinator's counts.
pub(crate) struct Monitor {
    pool: sqlx::PgPool,
}

impl Monitor {
    pub(crate) async fn connect(url: &str, schema: &str) -> Result<Self, String> {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        let options: PgConnectOptions = url.parse().map_err(|e| format!("DATABASE_URL: {e}"))?;
        let options = options.options([("search_path", schema)]);
        let pool = PgPoolOptions::new().max_connections(1).connect_with(options).await.map_err(|e| e.to_string())?;
        Ok(Self { pool })
    }

    /// "Sync now" requests still queued (first reconciles not done).
    pub(crate) async fn queued_syncs(&self) -> Result<i64, String> {
        sqlx::query_scalar("SELECT count(*) FROM sync_requests").fetch_one(&self.pool).await.map_err(|e| e.to_string())
    }

    /// Transactions committed and rolled back in this database so far (the server's statistics, which
    /// lag by up to a second or so).
    pub(crate) async fn transactions(&self) -> Result<i64, String> {
        sqlx::query_scalar(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| e.to_string())
    }

    /// Rows and bytes of the schema's tables and indexes, largest first: (table, rows, table bytes, index
    /// bytes). The tables are analyzed first, so the row counts are current estimates.
    pub(crate) async fn sizes(&self, schema: &str) -> Result<Vec<(String, i64, i64, i64)>, String> {
        let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = $1")
            .bind(schema)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        for table in tables {
            sqlx::query(&format!("ANALYZE \"{schema}\".\"{table}\""))
                .execute(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
        }
        sqlx::query_as(
            "SELECT c.relname::text, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC",
        )
        .bind(schema)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())
    }

    pub(crate) async fn close(self) {
        self.pool.close().await;
    }
}
