//! [`PostgresStore`]: the store for several workers. Versioned updates, `INSERT … ON CONFLICT` for the
//! once-only rows, outbox claims with `FOR UPDATE SKIP LOCKED`, leases by conditional upsert.

use futures::future::BoxFuture;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres};

use super::dialect::{Failure, Locks, sql_dialect};
use super::rows::ms;
use super::{SqlStore, db, forward_store};
use crate::store::StoreError;
use crate::{Error, Result};

sql_dialect! {
    /// PostgreSQL: concurrent writers, so rows are locked (`FOR UPDATE`, `FOR SHARE`, `SKIP LOCKED`) and a
    /// SKU's ledger and an outbox lane by transaction-scoped advisory locks; text sorts by bytes
    /// (`COLLATE "C"`); serialization failures and deadlocks are retryable, unique violations conflicts.
    PgDialect for Postgres {
        const NAME: &'static str = "postgres";
        const BEGIN_WRITE: Option<&'static str> = None;
        const LOCKS: Option<Locks> = Some(Locks {
            for_update: " FOR UPDATE",
            for_share: " FOR SHARE",
            skip_locked: " FOR UPDATE SKIP LOCKED",
            ledger: "SELECT pg_advisory_xact_lock(hashtextextended('stocksync ledger ' || $1, 0))",
            try_lane: "SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked",
        });
        const BYTE_ORDER: &'static str = " COLLATE \"C\"";
        // `LIMIT NULL` is no limit.
        const NO_LIMIT: Option<i64> = None;

        fn classify(e: &sqlx::Error) -> Failure {
            match e {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => Failure::Retryable,
                sqlx::Error::Database(d) => match d.code().as_deref() {
                    // serialization_failure, deadlock_detected, lock_not_available, too_many_connections
                    Some("40001" | "40P01" | "55P03" | "53300") => Failure::Retryable,
                    Some("23505") => Failure::Conflict,
                    _ => Failure::Permanent,
                },
                _ => Failure::Permanent,
            }
        }

        /// One statement for the whole list: the claims as two arrays, joined with `UNNEST`.
        fn renew_outbox<'a>(
            store: &'a SqlStore<Self>,
            claims: &'a [(i64, String)],
            until: Timestamp,
        ) -> BoxFuture<'a, Result<usize, StoreError>> {
            Box::pin(async move {
                let (ids, tokens): (Vec<i64>, Vec<String>) = claims.iter().cloned().unzip();
                let done = sqlx::query(
                    "UPDATE outbox o SET lease_until = $1 FROM UNNEST($2::BIGINT[], $3::TEXT[]) AS c(id, token)
                     WHERE o.id = c.id AND o.company = $4 AND o.state = 'claimed' AND o.claim_token = c.token",
                )
                .bind(ms(until))
                .bind(&ids)
                .bind(&tokens)
                .bind(store.co())
                .execute(store.pool())
                .await
                .map_err(db::<Self>)?;
                Ok(usize::try_from(done.rows_affected()).unwrap_or(0))
            })
        }
    }
}

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

/// A [`Store`](crate::Store) on PostgreSQL, for several workers (processes or machines) sharing one
/// database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: SqlStore<PgDialect>,
    schema: Option<String>,
}

forward_store!(PostgresStore);

fn pg(e: sqlx::Error) -> Error {
    db::<PgDialect>(e).into()
}

impl PostgresStore {
    /// Connect, create the schema if asked, and run the migrations.
    pub async fn connect(options: PostgresOptions) -> Result<Self> {
        let mut connect: PgConnectOptions = options
            .url
            .parse()
            .map_err(|e| Error::from(StoreError::backend("postgres: bad connection URL", false, e)))?;
        if let Some(schema) = &options.schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::Invalid(format!("schema name {schema:?}: use letters, digits and '_'")));
            }
            let mut conn = connect.connect().await.map_err(pg)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(&mut conn).await.map_err(pg)?;
            conn.close().await.map_err(pg)?;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(pg)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::from(StoreError::backend("postgres: migrations failed", false, e)))?;
        Ok(Self { inner: SqlStore::new(pool), schema: options.schema })
    }

    /// The schema the tables are in, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Drop the schema and everything in it (for tests that made one per run), then close the pool.
    pub async fn drop_schema(&self) -> Result<()> {
        if let Some(schema) = &self.schema {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(self.inner.pool())
                .await
                .map_err(pg)?;
        }
        self.inner.pool().close().await;
        Ok(())
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.inner.pool().close().await;
    }
}
