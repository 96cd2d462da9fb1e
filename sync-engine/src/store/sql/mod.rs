//! The SQL store, written once for SQLite and PostgreSQL: [`SqlStore`] over a [`Dialect`].
//!
//! - `dialect.rs`: what the two backends do differently (transaction start, row locks, error codes,
//!   byte-order collation, the outbox renewal statement) and the bind values;
//! - `rows.rs`: rows ⇄ records;
//! - `ops.rs`: [`Store::commit`], one step per [`WriteOp`];
//! - `outbox.rs`: enqueue, claim, finish and renew outbox items;
//! - `requests.rs`: store leases and "sync now" requests;
//! - `purge.rs`: [`Store::purge_store`] and [`Store::purge_company`];
//! - `root.rs`: the root-level methods (companies, where a store lives, SKU owners, company leases, worker
//!   heartbeats, the inbox);
//! - `sqlite.rs`, `postgres.rs`: each backend's options, constructor and [`Dialect`].

pub(crate) mod dialect;
mod ops;
mod outbox;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod purge;
mod requests;
mod root;
mod rows;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use std::borrow::Cow;

use channel_core::{ListingId, OrderId, Sku, StoreId};
use jiff::Timestamp;
use sqlx::pool::PoolConnection;
use sqlx::{Pool, Transaction};

use self::dialect::{Arg, Args, Conn, DbRow, Dialect, Failure};
use crate::store::{
    AuditEntry, AuditFilter, ClaimRequest, CompanyId, ConnectionFilter, ConnectionRecord, LedgerFilter, ListingFilter,
    ListingRecord, Movement, OrderLineRecord, OutboxFilter, OutboxFinish, OutboxItem, OutboxResult, OutboxState,
    ProductRecord, PurgeReport, StoreError, SyncRequest, WriteBatch,
};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A driver error as a [`StoreError`]: a unique violation is a conflict (another writer created the row
/// first), busy/locked/serialization failures are retryable backend failures.
pub(crate) fn db<D: Dialect>(e: sqlx::Error) -> StoreError {
    match D::classify(&e) {
        Failure::Conflict => StoreError::conflict("a row written concurrently (unique violation)", 0, None),
        Failure::Retryable => StoreError::backend(D::NAME, true, e),
        Failure::Permanent => StoreError::backend(D::NAME, false, e),
    }
}

/// One statement and its bind values.
#[derive(Debug)]
pub(crate) struct Sql {
    text: Cow<'static, str>,
    args: Args,
}

/// A statement, to [`Sql::bind`] values to in placeholder order (`$1`, `$2`, …).
pub(crate) fn sql(text: impl Into<Cow<'static, str>>) -> Sql {
    Sql { text: text.into(), args: Vec::new() }
}

impl Sql {
    /// Bind the next placeholder.
    pub(crate) fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.args.push(v.into());
        self
    }
}

/// A connection to run statements on: a write transaction or a pooled connection for reads.
pub(crate) enum Session<D: Dialect> {
    /// A write transaction (rolled back when dropped uncommitted).
    Tx(Transaction<'static, D::Db>),
    /// A pooled connection, each statement on its own.
    Pooled(PoolConnection<D::Db>),
}

impl<D: Dialect> Session<D> {
    fn conn(&mut self) -> &mut Conn<D> {
        match self {
            Self::Tx(tx) => tx,
            Self::Pooled(c) => c,
        }
    }

    /// Run a statement; the rows it changed.
    pub(crate) async fn execute(&mut self, q: Sql) -> Result<u64> {
        D::execute(self.conn(), &q.text, q.args).await.map_err(db::<D>)
    }

    /// Run a query; every row.
    pub(crate) async fn fetch_all(&mut self, q: Sql) -> Result<Vec<DbRow<D>>> {
        D::fetch_all(self.conn(), &q.text, q.args).await.map_err(db::<D>)
    }

    /// Run a query; its first row, if any.
    pub(crate) async fn fetch_optional(&mut self, q: Sql) -> Result<Option<DbRow<D>>> {
        D::fetch_optional(self.conn(), &q.text, q.args).await.map_err(db::<D>)
    }

    /// Run a query; its first row (an error when there is none).
    pub(crate) async fn fetch_one(&mut self, q: Sql) -> Result<DbRow<D>> {
        self.fetch_optional(q).await?.ok_or_else(|| db::<D>(sqlx::Error::RowNotFound))
    }

    /// Commit a write transaction (a pooled connection has nothing to commit).
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Self::Tx(tx) => tx.commit().await.map_err(db::<D>),
            Self::Pooled(_) => Ok(()),
        }
    }

    /// Roll a write transaction back.
    pub(crate) async fn rollback(self) -> Result<()> {
        match self {
            Self::Tx(tx) => tx.rollback().await.map_err(db::<D>),
            Self::Pooled(_) => Ok(()),
        }
    }
}

/// A [`crate::Store`] on a SQL database; `SqliteStore` and `PostgresStore` wrap one.
#[derive(Debug)]
pub(crate) struct SqlStore<D: Dialect> {
    pool: Pool<D::Db>,
    /// The company this view reads and writes.
    company: CompanyId,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone(), company: self.company.clone() }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// The default company's view.
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool, company: CompanyId::default_company() }
    }

    /// The company this view reads and writes.
    pub(crate) fn company(&self) -> &CompanyId {
        &self.company
    }

    /// Another company's view, sharing the pool.
    pub(crate) fn for_company(&self, company: &CompanyId) -> Self {
        Self { pool: self.pool.clone(), company: company.clone() }
    }

    /// The view's company, as a bind value.
    pub(crate) fn co(&self) -> &str {
        self.company.as_str()
    }

    pub(crate) fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }

    /// A write transaction, opened the dialect's way.
    pub(crate) async fn write(&self) -> Result<Session<D>> {
        let tx = match D::BEGIN_WRITE {
            Some(begin) => self.pool.begin_with(begin).await,
            None => self.pool.begin().await,
        };
        Ok(Session::Tx(tx.map_err(db::<D>)?))
    }

    /// A pooled connection for reads.
    pub(crate) async fn read(&self) -> Result<Session<D>> {
        Ok(Session::Pooled(self.pool.acquire().await.map_err(db::<D>)?))
    }

    async fn read_all<T>(&self, q: Sql, decode: fn(&DbRow<D>) -> Result<T>) -> Result<Vec<T>> {
        self.read().await?.fetch_all(q).await?.iter().map(decode).collect()
    }

    async fn read_one<T>(&self, q: Sql, decode: fn(&DbRow<D>) -> Result<T>) -> Result<Option<T>> {
        self.read().await?.fetch_optional(q).await?.as_ref().map(decode).transpose()
    }

    pub(crate) async fn commit(&self, batch: WriteBatch) -> Result<bool> {
        ops::commit(self, batch).await
    }

    pub(crate) async fn connection(&self, store: &StoreId) -> Result<Option<ConnectionRecord>> {
        let q = sql("SELECT * FROM connections WHERE store = $1 AND (scope_client = $2 OR scope_client IS NULL)")
            .bind(store.as_str())
            .bind(self.co());
        self.read_one(q, rows::connection::<D>).await
    }

    pub(crate) async fn connections(&self, filter: &ConnectionFilter) -> Result<Vec<ConnectionRecord>> {
        // Connections are few: filter in Rust with the same predicate as every other backend.
        let q = sql(format!(
            "SELECT * FROM connections WHERE scope_client = $1 OR scope_client IS NULL ORDER BY store{}",
            D::BYTE_ORDER
        ))
        .bind(self.co());
        let all = self.read_all(q, rows::connection::<D>).await?;
        Ok(all.into_iter().filter(|c| filter.matches(c)).collect())
    }

    pub(crate) async fn product(&self, sku: &Sku) -> Result<Option<ProductRecord>> {
        let q = sql("SELECT * FROM products WHERE company = $1 AND sku = $2").bind(self.co()).bind(sku.as_str());
        self.read_one(q, rows::product::<D>).await
    }

    pub(crate) async fn products(&self) -> Result<Vec<ProductRecord>> {
        let q = sql(format!("SELECT * FROM products WHERE company = $1 ORDER BY sku{}", D::BYTE_ORDER));
        self.read_all(q.bind(self.co()), rows::product::<D>).await
    }

    pub(crate) async fn listing(&self, store: &StoreId, listing: &ListingId) -> Result<Option<ListingRecord>> {
        let q = sql("SELECT * FROM listings WHERE company = $1 AND store = $2 AND listing = $3")
            .bind(self.co())
            .bind(store.as_str())
            .bind(listing.as_str());
        self.read_one(q, rows::listing::<D>).await
    }

    pub(crate) async fn listings(&self, filter: &ListingFilter) -> Result<Vec<ListingRecord>> {
        let q = sql(format!(
            "SELECT * FROM listings WHERE company = $1 AND ($2 IS NULL OR store = $2) AND ($3 IS NULL OR sku = $3)
             ORDER BY store{b}, listing{b}",
            b = D::BYTE_ORDER
        ))
        .bind(self.co())
        .bind(filter.store.as_ref().map(StoreId::as_str))
        .bind(filter.sku.as_ref().map(Sku::as_str));
        self.read_all(q, rows::listing::<D>).await
    }

    pub(crate) async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<Movement>> {
        let q =
            sql("SELECT * FROM ledger WHERE company = $1 AND ($2 IS NULL OR sku = $2) AND ($3 IS NULL OR store = $3)
             AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5")
            .bind(self.co())
            .bind(filter.sku.as_ref().map(Sku::as_str))
            .bind(filter.store.as_ref().map(StoreId::as_str))
            .bind(filter.after_id)
            .bind(D::limit(filter.limit));
        self.read_all(q, rows::movement::<D>).await
    }

    pub(crate) async fn ledger_balance(&self, sku: &Sku) -> Result<i64> {
        ops::ledger_balance(&mut self.read().await?, self.co(), sku).await
    }

    pub(crate) async fn order_line(
        &self,
        store: &StoreId,
        order: &OrderId,
        line: &str,
    ) -> Result<Option<OrderLineRecord>> {
        let q = sql("SELECT * FROM order_lines WHERE company = $1 AND store = $2 AND order_id = $3 AND line = $4")
            .bind(self.co())
            .bind(store.as_str())
            .bind(order.as_str())
            .bind(line);
        self.read_one(q, rows::order_line::<D>).await
    }

    pub(crate) async fn held_order_lines(&self) -> Result<Vec<OrderLineRecord>> {
        let q = sql(format!(
            "SELECT * FROM order_lines WHERE company = $1 AND held = TRUE
             ORDER BY first_seen_at, store{b}, order_id{b}, line{b}",
            b = D::BYTE_ORDER
        ));
        self.read_all(q.bind(self.co()), rows::order_line::<D>).await
    }

    pub(crate) async fn delivery_seen(&self, store: &StoreId, delivery_id: &str) -> Result<bool> {
        let q = sql("SELECT 1 AS one FROM deliveries WHERE company = $1 AND store = $2 AND delivery_id = $3")
            .bind(self.co())
            .bind(store.as_str())
            .bind(delivery_id);
        Ok(self.read().await?.fetch_optional(q).await?.is_some())
    }

    pub(crate) async fn cursor(&self, store: &StoreId, name: &str) -> Result<Option<String>> {
        let q = sql("SELECT value FROM cursors WHERE company = $1 AND store = $2 AND name = $3")
            .bind(self.co())
            .bind(store.as_str())
            .bind(name);
        self.read_one(q, |row| rows::Cols::<D>(row).text("value")).await
    }

    pub(crate) async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>> {
        let q = sql(format!(
            "SELECT {} FROM outbox WHERE company = $1 AND ($2 IS NULL OR store = $2) AND ($3 IS NULL OR state = $3)
             ORDER BY id",
            rows::OUTBOX_COLUMNS
        ))
        .bind(self.co())
        .bind(filter.store.as_ref().map(StoreId::as_str))
        .bind(filter.state.map(OutboxState::as_str));
        self.read_all(q, rows::outbox_item::<D>).await
    }

    pub(crate) async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let q = sql("SELECT * FROM audit WHERE company = $1 AND ($2 IS NULL OR store = $2) AND ($3 IS NULL OR id > $3)
             ORDER BY id LIMIT $4")
        .bind(self.co())
        .bind(filter.store.as_ref().map(StoreId::as_str))
        .bind(filter.after_id)
        .bind(D::limit(filter.limit));
        self.read_all(q, rows::audit_entry::<D>).await
    }

    pub(crate) async fn claim_outbox(&self, claim: &ClaimRequest) -> Result<Vec<OutboxItem>> {
        outbox::claim(self, claim).await
    }

    pub(crate) async fn finish_outbox(&self, id: i64, token: &str, result: OutboxResult, now: Timestamp) -> Result<()> {
        outbox::finish(self, id, token, result, now).await
    }

    pub(crate) async fn finish_outbox_many(&self, items: Vec<OutboxFinish>, now: Timestamp) -> Result<Vec<Result<()>>> {
        outbox::finish_many(self, items, now).await
    }

    pub(crate) async fn renew_outbox(&self, claims: &[(i64, String)], until: Timestamp) -> Result<usize> {
        if claims.is_empty() {
            return Ok(0);
        }
        D::renew_outbox(self, claims, until).await
    }

    pub(crate) async fn acquire_lease(
        &self,
        store: &StoreId,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        requests::acquire_lease(self, store, holder, until, now).await
    }

    pub(crate) async fn release_lease(&self, store: &StoreId, holder: &str) -> Result<bool> {
        requests::release_lease(self, store, holder).await
    }

    pub(crate) async fn claim_sync_requests(&self, claim: &ClaimRequest) -> Result<Vec<SyncRequest>> {
        requests::claim(self, claim).await
    }

    pub(crate) async fn renew_sync_request(&self, store: &StoreId, token: &str, until: Timestamp) -> Result<bool> {
        requests::renew(self, store, token, until).await
    }

    pub(crate) async fn finish_sync_request(&self, store: &StoreId, token: &str) -> Result<bool> {
        requests::finish(self, store, token).await
    }

    pub(crate) async fn sync_requests(&self) -> Result<Vec<SyncRequest>> {
        let q = sql(format!(
            "SELECT * FROM sync_requests WHERE company = $1 ORDER BY requested_at, store{}",
            D::BYTE_ORDER
        ));
        self.read_all(q.bind(self.co()), rows::sync_request::<D>).await
    }

    pub(crate) async fn purge_store(&self, store: &StoreId) -> Result<PurgeReport> {
        purge::purge_store(self, store).await
    }
}

/// `impl Store for $ty`, where `$ty.inner` is a [`SqlStore`]: every method forwards.
macro_rules! forward_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $ty {
            async fn commit(&self, batch: $crate::store::WriteBatch) -> Result<bool, $crate::store::StoreError> {
                self.inner.commit(batch).await
            }
            async fn connection(
                &self,
                store: &channel_core::StoreId,
            ) -> Result<Option<$crate::store::ConnectionRecord>, $crate::store::StoreError> {
                self.inner.connection(store).await
            }
            async fn connections(
                &self,
                filter: &$crate::store::ConnectionFilter,
            ) -> Result<Vec<$crate::store::ConnectionRecord>, $crate::store::StoreError> {
                self.inner.connections(filter).await
            }
            async fn product(
                &self,
                sku: &channel_core::Sku,
            ) -> Result<Option<$crate::store::ProductRecord>, $crate::store::StoreError> {
                self.inner.product(sku).await
            }
            async fn products(&self) -> Result<Vec<$crate::store::ProductRecord>, $crate::store::StoreError> {
                self.inner.products().await
            }
            async fn listing(
                &self,
                store: &channel_core::StoreId,
                listing: &channel_core::ListingId,
            ) -> Result<Option<$crate::store::ListingRecord>, $crate::store::StoreError> {
                self.inner.listing(store, listing).await
            }
            async fn listings(
                &self,
                filter: &$crate::store::ListingFilter,
            ) -> Result<Vec<$crate::store::ListingRecord>, $crate::store::StoreError> {
                self.inner.listings(filter).await
            }
            async fn ledger(
                &self,
                filter: &$crate::store::LedgerFilter,
            ) -> Result<Vec<$crate::store::Movement>, $crate::store::StoreError> {
                self.inner.ledger(filter).await
            }
            async fn ledger_balance(&self, sku: &channel_core::Sku) -> Result<i64, $crate::store::StoreError> {
                self.inner.ledger_balance(sku).await
            }
            async fn order_line(
                &self,
                store: &channel_core::StoreId,
                order: &channel_core::OrderId,
                line: &str,
            ) -> Result<Option<$crate::store::OrderLineRecord>, $crate::store::StoreError> {
                self.inner.order_line(store, order, line).await
            }
            async fn held_order_lines(&self) -> Result<Vec<$crate::store::OrderLineRecord>, $crate::store::StoreError> {
                self.inner.held_order_lines().await
            }
            async fn delivery_seen(
                &self,
                store: &channel_core::StoreId,
                delivery_id: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                self.inner.delivery_seen(store, delivery_id).await
            }
            async fn cursor(
                &self,
                store: &channel_core::StoreId,
                name: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                self.inner.cursor(store, name).await
            }
            async fn claim_outbox(
                &self,
                claim: &$crate::store::ClaimRequest,
            ) -> Result<Vec<$crate::store::OutboxItem>, $crate::store::StoreError> {
                self.inner.claim_outbox(claim).await
            }
            async fn finish_outbox(
                &self,
                id: i64,
                token: &str,
                result: $crate::store::OutboxResult,
                now: jiff::Timestamp,
            ) -> Result<(), $crate::store::StoreError> {
                self.inner.finish_outbox(id, token, result, now).await
            }
            async fn finish_outbox_many(
                &self,
                items: Vec<$crate::store::OutboxFinish>,
                now: jiff::Timestamp,
            ) -> Result<Vec<Result<(), $crate::store::StoreError>>, $crate::store::StoreError> {
                self.inner.finish_outbox_many(items, now).await
            }
            async fn renew_outbox(
                &self,
                claims: &[(i64, String)],
                until: jiff::Timestamp,
            ) -> Result<usize, $crate::store::StoreError> {
                self.inner.renew_outbox(claims, until).await
            }
            async fn outbox(
                &self,
                filter: &$crate::store::OutboxFilter,
            ) -> Result<Vec<$crate::store::OutboxItem>, $crate::store::StoreError> {
                self.inner.outbox(filter).await
            }
            async fn acquire_lease(
                &self,
                store: &channel_core::StoreId,
                holder: &str,
                until: jiff::Timestamp,
                now: jiff::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                self.inner.acquire_lease(store, holder, until, now).await
            }
            async fn release_lease(
                &self,
                store: &channel_core::StoreId,
                holder: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                self.inner.release_lease(store, holder).await
            }
            async fn claim_sync_requests(
                &self,
                claim: &$crate::store::ClaimRequest,
            ) -> Result<Vec<$crate::store::SyncRequest>, $crate::store::StoreError> {
                self.inner.claim_sync_requests(claim).await
            }
            async fn renew_sync_request(
                &self,
                store: &channel_core::StoreId,
                token: &str,
                until: jiff::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                self.inner.renew_sync_request(store, token, until).await
            }
            async fn finish_sync_request(
                &self,
                store: &channel_core::StoreId,
                token: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                self.inner.finish_sync_request(store, token).await
            }
            async fn sync_requests(&self) -> Result<Vec<$crate::store::SyncRequest>, $crate::store::StoreError> {
                self.inner.sync_requests().await
            }
            async fn audit(
                &self,
                filter: &$crate::store::AuditFilter,
            ) -> Result<Vec<$crate::store::AuditEntry>, $crate::store::StoreError> {
                self.inner.audit(filter).await
            }
            async fn purge_store(
                &self,
                store: &channel_core::StoreId,
            ) -> Result<$crate::store::PurgeReport, $crate::store::StoreError> {
                self.inner.purge_store(store).await
            }
            fn company_id(&self) -> &$crate::store::CompanyId {
                self.inner.company()
            }
            fn for_company(&self, company: &$crate::store::CompanyId) -> std::sync::Arc<dyn $crate::store::Store> {
                let mut view = self.clone();
                view.inner = self.inner.for_company(company);
                std::sync::Arc::new(view)
            }
            async fn company(
                &self,
                id: &$crate::store::CompanyId,
            ) -> Result<Option<$crate::store::CompanyRecord>, $crate::store::StoreError> {
                self.inner.company_record(id).await
            }
            async fn companies(&self) -> Result<Vec<$crate::store::CompanyRecord>, $crate::store::StoreError> {
                self.inner.companies().await
            }
            async fn purge_company(
                &self,
                id: &$crate::store::CompanyId,
            ) -> Result<Option<$crate::store::PurgeReport>, $crate::store::StoreError> {
                self.inner.purge_company(id).await
            }
            async fn locate_store(
                &self,
                store: &channel_core::StoreId,
            ) -> Result<Option<$crate::store::ConnectionRecord>, $crate::store::StoreError> {
                self.inner.locate_store(store).await
            }
            async fn sku_owners(
                &self,
                skus: &[channel_core::Sku],
            ) -> Result<
                std::collections::BTreeMap<channel_core::Sku, Vec<$crate::store::CompanyId>>,
                $crate::store::StoreError,
            > {
                self.inner.sku_owners(skus).await
            }
            async fn worker_heartbeat(
                &self,
                worker: &str,
                until: jiff::Timestamp,
                now: jiff::Timestamp,
            ) -> Result<Vec<$crate::store::WorkerRecord>, $crate::store::StoreError> {
                self.inner.worker_heartbeat(worker, until, now).await
            }
            async fn worker_gone(&self, worker: &str) -> Result<(), $crate::store::StoreError> {
                self.inner.worker_gone(worker).await
            }
            async fn acquire_company_lease(
                &self,
                company: &$crate::store::CompanyId,
                holder: &str,
                until: jiff::Timestamp,
                now: jiff::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                self.inner.acquire_company_lease(company, holder, until, now).await
            }
            async fn release_company_lease(
                &self,
                company: &$crate::store::CompanyId,
                holder: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                self.inner.release_company_lease(company, holder).await
            }
            async fn company_leases(&self) -> Result<Vec<$crate::store::CompanyLease>, $crate::store::StoreError> {
                self.inner.company_leases().await
            }
            async fn inbox_put(&self, item: $crate::store::InboxItem) -> Result<bool, $crate::store::StoreError> {
                self.inner.inbox_put(item).await
            }
            async fn inbox(&self, limit: usize) -> Result<Vec<$crate::store::InboxItem>, $crate::store::StoreError> {
                self.inner.inbox(limit).await
            }
            async fn inbox_done(&self, id: i64) -> Result<bool, $crate::store::StoreError> {
                self.inner.inbox_done(id).await
            }
        }
    };
}

pub(crate) use forward_store;
