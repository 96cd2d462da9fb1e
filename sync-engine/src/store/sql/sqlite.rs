//! [`SqliteStore`]: the embedded default. One file, WAL, migrations, writes under `BEGIN IMMEDIATE`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::dialect::{Failure, Locks, sql_dialect};
use super::{SqlStore, db, forward_store};
use crate::store::StoreError;
use crate::{Error, Result};

sql_dialect! {
    /// SQLite: one writer at a time (`BEGIN IMMEDIATE`), so no row or advisory locks; `?NNN`/`$NNN`
    /// placeholders; busy/locked codes are retryable.
    SqliteDialect for Sqlite {
        const NAME: &'static str = "sqlite";
        const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");
        // BEGIN IMMEDIATE serialises the writers.
        const LOCKS: Option<Locks> = None;
        // BINARY, the default collation, sorts by bytes.
        const BYTE_ORDER: &'static str = "";
        // A negative limit is no limit.
        const NO_LIMIT: Option<i64> = Some(-1);

        fn classify(e: &sqlx::Error) -> Failure {
            let retryable = match e {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
                sqlx::Error::Database(d) => {
                    d.code().as_deref().and_then(|c| c.parse::<i64>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6))
                }
                _ => false,
            };
            if retryable { Failure::Retryable } else { Failure::Permanent }
        }

        fn renew_outbox<'a>(
            store: &'a SqlStore<Self>,
            claims: &'a [(i64, String)],
            until: Timestamp,
        ) -> BoxFuture<'a, Result<usize, StoreError>> {
            Box::pin(store.renew_outbox_in_chunks(claims, until))
        }
    }
}

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The database file (created if missing).
    pub path: PathBuf,
    /// How long a writer waits for another process's write lock before failing with a retryable error.
    pub busy_timeout: Duration,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl SqliteOptions {
    /// Defaults for a file: 5 s busy timeout, 4 connections.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), busy_timeout: Duration::from_secs(5), max_connections: 4 }
    }
}

/// A [`Store`](crate::Store) in one SQLite file (WAL mode). Several processes may open the same file;
/// writes are serialised by SQLite (`BEGIN IMMEDIATE`), so batches are atomic and outbox claims exclusive.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: SqlStore<SqliteDialect>,
    path: PathBuf,
}

forward_store!(SqliteStore);

impl SqliteStore {
    /// Open (or create) the database file and run the migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(SqliteOptions::new(path.as_ref())).await
    }

    /// Open with options.
    pub async fn open_with(options: SqliteOptions) -> Result<Self> {
        // SQLite creates the file, not its directory, and says only "unable to open database file".
        if let Some(dir) = options.path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            let message = format!(
                "sqlite: cannot open {}: the directory {} does not exist; create it first, or choose a path in an \
                 existing directory",
                options.path.display(),
                dir.display()
            );
            return Err(StoreError::Backend { message, retryable: false, source: None }.into());
        }
        let connect = SqliteConnectOptions::new()
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(|e| {
                let cause = e.to_string();
                let mut error = db::<SqliteDialect>(e);
                if let StoreError::Backend { message, .. } = &mut error {
                    *message = format!("sqlite: cannot open {}: {cause}", options.path.display());
                }
                error
            })?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::from(StoreError::backend("sqlite: migrations failed", false, e)))?;
        Ok(Self { inner: SqlStore::new(pool), path: options.path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.inner.pool().close().await;
    }
}
