//! [`Dialect`]: what the SQLite and PostgreSQL stores do differently, and nothing else. Everything in
//! `store::sql` is written once against it; `sqlite.rs` and `postgres.rs` implement it.
//!
//! Queries are written once with numbered placeholders (`$1`), which both drivers accept. Bind values go
//! through [`Args`] (text, integers, booleans: all the store's columns hold), so the generic code never
//! names a driver type; the dialect binds them and runs the statement with its own driver.

use futures::future::BoxFuture;
use jiff::Timestamp;

use super::SqlStore;
use crate::store::StoreError;

/// The connection type of a dialect's driver (what a transaction or a pooled connection derefs to).
pub(crate) type Conn<D> = <<D as Dialect>::Db as sqlx::Database>::Connection;
/// The row type of a dialect's driver.
pub(crate) type DbRow<D> = <<D as Dialect>::Db as sqlx::Database>::Row;

/// One bind value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// `TEXT` (NULL when `None`).
    Text(Option<String>),
    /// `BIGINT` / `INTEGER` (NULL when `None`).
    Int(Option<i64>),
    /// `BOOLEAN`.
    Bool(bool),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// The bind values of one statement, in placeholder order.
pub(crate) type Args = Vec<Arg>;

/// How the backend classifies a driver error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Busy, locked, a serialization failure or deadlock, a dropped connection: try again.
    Retryable,
    /// A unique violation: another writer created the row first (PostgreSQL's concurrent writers).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Conflict,
    /// Anything else.
    Permanent,
}

/// The row and advisory locks of a backend with concurrent writers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locks {
    /// Appended to a `SELECT` whose rows the transaction goes on to change (` FOR UPDATE`).
    pub(crate) for_update: &'static str,
    /// Appended to a `SELECT` whose rows must not change until the transaction ends (` FOR SHARE`).
    pub(crate) for_share: &'static str,
    /// Appended to a claim's candidate `SELECT` (` FOR UPDATE SKIP LOCKED`).
    pub(crate) skip_locked: &'static str,
    /// A statement (`$1`: the SKU) serialising the writers and checkers of one SKU's ledger movements
    /// until the transaction ends.
    pub(crate) ledger: &'static str,
    /// A query (`$1`: the lane key) answering `locked` (a boolean): whether this transaction now holds the
    /// lock of an outbox lane. A claim then looks at the lane again before taking an item.
    pub(crate) try_lane: &'static str,
}

/// What a SQL backend does differently. Implemented by `SqliteDialect` and `PgDialect`, declared with
/// `sql_dialect!`.
pub(crate) trait Dialect: std::fmt::Debug + Send + Sync + Sized + 'static {
    /// The sqlx driver.
    type Db: sqlx::Database;

    /// The prefix of its error messages (`sqlite`, `postgres`).
    const NAME: &'static str;
    /// The statement opening a write transaction; `None`: the driver's `BEGIN`. SQLite takes the write
    /// lock up front (`BEGIN IMMEDIATE`), so what a batch reads stays true until it commits.
    const BEGIN_WRITE: Option<&'static str>;
    /// How concurrent writers are kept apart; `None` when write transactions are serialised (what a
    /// transaction reads then stays true until it ends).
    const LOCKS: Option<Locks>;
    /// Appended to a text column in `ORDER BY` so that it sorts by bytes, as every backend does.
    const BYTE_ORDER: &'static str;
    /// The `LIMIT` bind value meaning "no limit".
    const NO_LIMIT: Option<i64>;

    /// Appended to a `SELECT` whose rows the transaction goes on to change.
    fn for_update() -> &'static str {
        Self::LOCKS.map_or("", |l| l.for_update)
    }

    /// Appended to a `SELECT` whose rows must not change until the transaction ends.
    fn for_share() -> &'static str {
        Self::LOCKS.map_or("", |l| l.for_share)
    }

    /// Appended to a claim's candidate `SELECT`: rows another claimant holds are passed over.
    fn skip_locked() -> &'static str {
        Self::LOCKS.map_or("", |l| l.skip_locked)
    }

    /// Whether a claim first looks for due items outside a transaction: with serialised writers, a write
    /// transaction per idle lane would queue the order commits behind them.
    fn check_due_first() -> bool {
        Self::LOCKS.is_none()
    }

    /// A `LIMIT` bind value.
    fn limit(n: Option<usize>) -> Option<i64> {
        n.map_or(Self::NO_LIMIT, |n| Some(i64::try_from(n).unwrap_or(i64::MAX)))
    }

    /// Classify a driver error.
    fn classify(e: &sqlx::Error) -> Failure;

    /// Run a statement; the rows it changed.
    fn execute<'c>(conn: &'c mut Conn<Self>, sql: &'c str, args: Args) -> BoxFuture<'c, Result<u64, sqlx::Error>>;
    /// Run a query; every row.
    fn fetch_all<'c>(
        conn: &'c mut Conn<Self>,
        sql: &'c str,
        args: Args,
    ) -> BoxFuture<'c, Result<Vec<DbRow<Self>>, sqlx::Error>>;
    /// Run a query; its first row, if any.
    fn fetch_optional<'c>(
        conn: &'c mut Conn<Self>,
        sql: &'c str,
        args: Args,
    ) -> BoxFuture<'c, Result<Option<DbRow<Self>>, sqlx::Error>>;

    /// A `TEXT NOT NULL` column.
    fn text(row: &DbRow<Self>, col: &str) -> Result<String, sqlx::Error>;
    /// A nullable `TEXT` column.
    fn opt_text(row: &DbRow<Self>, col: &str) -> Result<Option<String>, sqlx::Error>;
    /// A `BIGINT NOT NULL` column.
    fn int(row: &DbRow<Self>, col: &str) -> Result<i64, sqlx::Error>;
    /// A nullable `BIGINT` column.
    fn opt_int(row: &DbRow<Self>, col: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A `BOOLEAN NOT NULL` column.
    fn boolean(row: &DbRow<Self>, col: &str) -> Result<bool, sqlx::Error>;

    /// [`crate::Store::renew_outbox`] for a non-empty list: PostgreSQL in one `UNNEST` statement, SQLite
    /// with [`SqlStore::renew_outbox_in_chunks`].
    fn renew_outbox<'a>(
        store: &'a SqlStore<Self>,
        claims: &'a [(i64, String)],
        until: Timestamp,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;
}

/// Declare a dialect: `sql_dialect! { /// docs
/// SqliteDialect for sqlx::Sqlite { const NAME: … } }` makes the unit struct and its [`Dialect`] impl, with
/// the driver half (binding [`Args`], running statements, reading columns) filled in: the same text for
/// every driver, typed by each.
macro_rules! sql_dialect {
    ($(#[$meta:meta])* $name:ident for $db:ty { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct $name;

        fn bind_all<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            args: $crate::store::sql::dialect::Args,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            use $crate::store::sql::dialect::Arg;
            for arg in args {
                query = match arg {
                    Arg::Text(v) => query.bind(v),
                    Arg::Int(v) => query.bind(v),
                    Arg::Bool(v) => query.bind(v),
                };
            }
            query
        }

        impl $crate::store::sql::dialect::Dialect for $name {
            type Db = $db;

            $($body)*

            fn execute<'c>(
                conn: &'c mut $crate::store::sql::dialect::Conn<Self>,
                sql: &'c str,
                args: $crate::store::sql::dialect::Args,
            ) -> futures::future::BoxFuture<'c, Result<u64, sqlx::Error>> {
                Box::pin(async move { Ok(bind_all(sqlx::query(sql), args).execute(conn).await?.rows_affected()) })
            }

            fn fetch_all<'c>(
                conn: &'c mut $crate::store::sql::dialect::Conn<Self>,
                sql: &'c str,
                args: $crate::store::sql::dialect::Args,
            ) -> futures::future::BoxFuture<'c, Result<Vec<$crate::store::sql::dialect::DbRow<Self>>, sqlx::Error>> {
                Box::pin(bind_all(sqlx::query(sql), args).fetch_all(conn))
            }

            fn fetch_optional<'c>(
                conn: &'c mut $crate::store::sql::dialect::Conn<Self>,
                sql: &'c str,
                args: $crate::store::sql::dialect::Args,
            ) -> futures::future::BoxFuture<'c, Result<Option<$crate::store::sql::dialect::DbRow<Self>>, sqlx::Error>>
            {
                Box::pin(bind_all(sqlx::query(sql), args).fetch_optional(conn))
            }

            fn text(row: &$crate::store::sql::dialect::DbRow<Self>, col: &str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(row, col)
            }

            fn opt_text(
                row: &$crate::store::sql::dialect::DbRow<Self>,
                col: &str,
            ) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(row, col)
            }

            fn int(row: &$crate::store::sql::dialect::DbRow<Self>, col: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(row, col)
            }

            fn opt_int(row: &$crate::store::sql::dialect::DbRow<Self>, col: &str) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(row, col)
            }

            fn boolean(row: &$crate::store::sql::dialect::DbRow<Self>, col: &str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(row, col)
            }
        }
    };
}

pub(crate) use sql_dialect;
