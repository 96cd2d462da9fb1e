//! The [`Store`]: everything the engine keeps, behind one dyn-safe trait.
//!
//! Writes go through [`Store::commit`], which applies a [`WriteBatch`] atomically: either every
//! operation takes effect or none does. Two kinds of preconditions make it safe for several workers:
//!
//! - **versions**: [`ConnectionRecord`], [`ListingRecord`] and [`OrderLineRecord`] carry the version
//!   they were read at (0 for a new row). A stale version fails the whole batch with
//!   [`StoreError::Conflict`] (kind [`channel_core::ErrorKind::Conflict`]).
//! - **once**: a [`WriteOp::RecordDelivery`] or a [`WriteOp::PutOrderLine`] of version 0 inserts the row
//!   only if it is absent; if it is present the whole batch is skipped and `commit` returns `false`.
//!   This is how an order line or a webhook delivery is applied exactly once: put its ledger movements
//!   and outbox pushes in the same batch as the marker.
//!
//! A [`WriteOp::Check`] adds a precondition on a row the batch does not write (a listing's version, a
//! SKU's ledger balance), for writes computed from it.
//!
//! Reads and the outbox, lease and sync-request operations are separate methods. The store never reads
//! the clock: every time comes from the caller.

mod error;
mod memory;
mod model;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

use async_trait::async_trait;
use channel_core::{ListingId, OrderId, Sku, StoreId};
use jiff::Timestamp;

pub use error::StoreError;
pub use memory::MemoryStore;
// The rows and filters of the `Store` trait's methods, named one by one: every type here appears in a
// method or a public field a host implementing or calling `Store` uses (a host's `Store` coalesces by
// `Lane`, reports `Health`, …).
pub use model::{
    AuditEntry, AuditFilter, ClaimRequest, ClientId, CompanyId, CompanyLease, CompanyRecord, Component,
    ConnectionFilter, ConnectionRecord, ConnectionState, CredentialStatus, DeliveryRecord, Health, HealthEvent,
    InboxItem, Lane, LastError, LedgerFilter, ListingFilter, ListingRecord, Movement, MovementCause, NewMovement,
    OrderLineRecord, OutboxItem, OutboxPush, OutboxResult, OutboxState, ProductRecord, PurgeReport, PushAction, Scope,
    SealedCredentials, SkuChange, SyncMode, SyncRequest, WarehouseId, WorkerRecord,
};
#[cfg(feature = "postgres")]
pub use sql::postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sql::sqlite::{SqliteOptions, SqliteStore};

use crate::Result;

/// One claimed outbox item to finish with [`Store::finish_outbox_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxFinish {
    /// The item.
    pub id: i64,
    /// The claim it was handed out under ([`OutboxItem::claim_token`]).
    pub token: String,
    /// How it ended.
    pub result: OutboxResult,
}

impl OutboxFinish {
    /// An item to finish.
    pub fn new(id: i64, token: impl Into<String>, result: OutboxResult) -> Self {
        Self { id, token: token.into(), result }
    }
}

/// One write in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOp {
    /// Insert (version 0) or update (the version read) a company. Root-level: the view's company does not
    /// matter.
    PutCompany(CompanyRecord),
    /// Insert (version 0) or update (the version read) a connection. Its health is not written here. A
    /// client connection ([`Scope::Client`]) must belong to the view's company (else
    /// [`StoreError::Invalid`]); a global one ([`Scope::Global`]) is visible from every company's view.
    PutConnection(ConnectionRecord),
    /// Apply a health event to a connection, without a version check.
    RecordHealth {
        /// The store.
        store: StoreId,
        /// What happened.
        event: HealthEvent,
    },
    /// Insert or replace a product.
    PutProduct(ProductRecord),
    /// Remove a product (its listings stay, unlinked from nothing: they keep their SKU).
    DeleteProduct(Sku),
    /// Insert (version 0) or update (the version read) a listing.
    PutListing(ListingRecord),
    /// Remove a listing.
    DeleteListing {
        /// The store.
        store: StoreId,
        /// The listing.
        listing: ListingId,
    },
    /// Append a stock movement to the ledger.
    RecordMovement(NewMovement),
    /// Record an imported order line: version 0 inserts it once (a duplicate skips the batch), otherwise
    /// the version read must match.
    PutOrderLine(OrderLineRecord),
    /// Record a webhook delivery once (a duplicate skips the batch).
    RecordDelivery(DeliveryRecord),
    /// Set a store's named cursor (`orders`, …).
    SetCursor {
        /// The store.
        store: StoreId,
        /// The cursor's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// Queue a push, coalesced with a pending push of the same (store, listing, lane).
    Enqueue {
        /// The push.
        push: OutboxPush,
        /// Now (the item is due at once, unless it joins a pending item that is backing off).
        now: Timestamp,
    },
    /// Remove a store's pending and claimed outbox items (dead letters stay).
    DropOutbox(StoreId),
    /// Make a store's pending outbox items that are backing off due at `now` (claimed items and dead
    /// letters are left as they are): the pushes an authentication failure held, once new credentials
    /// are in.
    ReleaseOutbox {
        /// The store.
        store: StoreId,
        /// Now.
        now: Timestamp,
    },
    /// Append to the audit log.
    Audit(AuditEntry),
    /// Queue a "sync now" for a store: one request per store; a newer one replaces it, and replacing a
    /// claimed request puts it back in the queue unclaimed (the running sync's
    /// [`Store::finish_sync_request`] then leaves it, so the newer request runs too).
    RequestSync(SyncRequest),
    /// Write nothing, but fail the whole batch with [`StoreError::Conflict`] unless the precondition holds
    /// at this point of the batch (after the batch's earlier writes). For writes computed from rows read
    /// earlier that the batch does not itself write (see [`Precondition`]).
    Check(Precondition),
}

/// A precondition of a [`WriteBatch`] ([`WriteOp::Check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// The listing exists with this version.
    ListingVersion {
        /// The store.
        store: StoreId,
        /// The listing.
        listing: ListingId,
        /// The version it was read at.
        version: u64,
    },
    /// The sum of the SKU's ledger movements is this (counting the movements recorded earlier in the
    /// batch). Backends serialise the writers of one SKU's movements so that two batches checking the
    /// same balance cannot both commit.
    LedgerBalance {
        /// The SKU.
        sku: Sku,
        /// The expected balance.
        balance: i64,
    },
}

impl Precondition {
    /// What the precondition is about, for a conflict error.
    pub fn describe(&self) -> String {
        match self {
            Self::ListingVersion { store, listing, .. } => format!("listing {store}/{listing}"),
            Self::LedgerBalance { sku, .. } => format!("ledger balance of {sku}"),
        }
    }
}

/// Writes applied atomically by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The writes, applied in order.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a write (builder style).
    #[must_use]
    pub fn with(mut self, op: WriteOp) -> Self {
        self.ops.push(op);
        self
    }

    /// Add a write.
    pub fn push(&mut self, op: WriteOp) {
        self.ops.push(op);
    }
}

impl From<WriteOp> for WriteBatch {
    fn from(op: WriteOp) -> Self {
        Self { ops: vec![op] }
    }
}

/// Which outbox items to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxFilter {
    /// Of this store.
    pub store: Option<StoreId>,
    /// In this state.
    pub state: Option<OutboxState>,
}

impl OutboxFilter {
    /// Whether an item passes.
    pub fn matches(&self, i: &OutboxItem) -> bool {
        self.store.as_ref().is_none_or(|s| &i.push.store == s) && self.state.is_none_or(|s| i.state == s)
    }
}

/// Everything the engine keeps. Implemented by [`MemoryStore`], [`SqliteStore`] and by hosts; every
/// implementation must pass [`crate::testing::store_conformance`] (feature `testing`).
///
/// A `Store` value is a **view of one company** ([`Store::company_id`]; a store opened afresh is the
/// default company's view, [`CompanyId::DEFAULT`]): every row it reads or writes is that company's, and
/// nothing of another company is visible through it, even under the same SKU or store id. Global
/// connections ([`Scope::Global`]) are visible from every view; the rows a view keeps *about* a global
/// store (its listings, order lines, deliveries, cursors, outbox, leases, sync requests, audit) are the
/// view's own. [`Store::for_company`] gives another company's view of the same database. The methods
/// under "root level" below ignore the view's company: the companies themselves, where a store lives,
/// who owns a SKU, the company leases and worker heartbeats, and the webhook inbox.
#[async_trait]
pub trait Store: std::fmt::Debug + Send + Sync + 'static {
    /// The company this view reads and writes.
    fn company_id(&self) -> &CompanyId;
    /// The view of another company over the same database (cheap: shares the pool or memory).
    fn for_company(&self, company: &CompanyId) -> std::sync::Arc<dyn Store>;

    /// Apply a batch atomically. `Ok(true)`: applied. `Ok(false)`: skipped because a once-only row
    /// ([`WriteOp::RecordDelivery`], [`WriteOp::PutOrderLine`] of version 0) exists already; nothing was
    /// written. A stale version fails with [`StoreError::Conflict`] and nothing is written.
    async fn commit(&self, batch: WriteBatch) -> Result<bool, StoreError>;

    /// One connection.
    async fn connection(&self, store: &StoreId) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Connections passing a filter, by store id.
    async fn connections(&self, filter: &ConnectionFilter) -> Result<Vec<ConnectionRecord>, StoreError>;

    /// One product.
    async fn product(&self, sku: &Sku) -> Result<Option<ProductRecord>, StoreError>;
    /// Every product, by SKU.
    async fn products(&self) -> Result<Vec<ProductRecord>, StoreError>;

    /// One listing.
    async fn listing(&self, store: &StoreId, listing: &ListingId) -> Result<Option<ListingRecord>, StoreError>;
    /// Listings passing a filter, by (store, listing id).
    async fn listings(&self, filter: &ListingFilter) -> Result<Vec<ListingRecord>, StoreError>;

    /// Ledger movements passing a filter, oldest first.
    async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<Movement>, StoreError>;
    /// The sum of a SKU's movements.
    async fn ledger_balance(&self, sku: &Sku) -> Result<i64, StoreError>;

    /// An imported order line.
    async fn order_line(
        &self,
        store: &StoreId,
        order: &OrderId,
        line: &str,
    ) -> Result<Option<OrderLineRecord>, StoreError>;
    /// The held order lines ([`OrderLineRecord::held`]: merchant lines whose listing or SKU was not linked
    /// to the catalog when they were imported, their stock not moved yet), oldest first.
    async fn held_order_lines(&self) -> Result<Vec<OrderLineRecord>, StoreError>;
    /// Whether a webhook delivery was recorded.
    async fn delivery_seen(&self, store: &StoreId, delivery_id: &str) -> Result<bool, StoreError>;

    /// A store's named cursor.
    async fn cursor(&self, store: &StoreId, name: &str) -> Result<Option<String>, StoreError>;

    /// Atomically claim due outbox items: pending items due by `now` and claimed items whose lease ended,
    /// skipping any (store, listing, lane) that has another item under an unexpired claim. No item is
    /// handed to two claimants at once. Oldest due first.
    async fn claim_outbox(&self, claim: &ClaimRequest) -> Result<Vec<OutboxItem>, StoreError>;
    /// Finish a claimed item. Fails with a conflict when the token is not the item's current claim (the
    /// lease ran out and someone else claimed it), with not-found when the item is gone.
    async fn finish_outbox(&self, id: i64, token: &str, result: OutboxResult, now: Timestamp)
    -> Result<(), StoreError>;
    /// Finish many claimed items at once: one [`Store::finish_outbox`] per item, with one result per item
    /// in order (a conflict or not-found for an item whose claim is no longer held leaves the others
    /// alone). The SQL stores apply them in one transaction: an `Err` for the call means none was applied.
    /// The default loops over [`Store::finish_outbox`].
    async fn finish_outbox_many(
        &self,
        items: Vec<OutboxFinish>,
        now: Timestamp,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.finish_outbox(item.id, &item.token, item.result, now).await);
        }
        Ok(results)
    }
    /// Extend the lease of claimed outbox items to `until` while their push is still in flight: each
    /// `(id, claim token)` whose item is still claimed under that token (a lease that ran out counts, as
    /// long as nobody claimed the item since). Items finished, or claimed again by someone else, are left
    /// alone. Returns how many were renewed. One statement (SQLite: one transaction) for the whole list.
    async fn renew_outbox(&self, claims: &[(i64, String)], until: Timestamp) -> Result<usize, StoreError>;
    /// Outbox items passing a filter, by id.
    async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>, StoreError>;

    /// Take or renew the lease on a store until `until`. `true` when `holder` holds it now (it was free,
    /// expired at `now`, or already `holder`'s).
    async fn acquire_lease(
        &self,
        store: &StoreId,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Give up a lease; `true` when `holder` held it.
    async fn release_lease(&self, store: &StoreId, holder: &str) -> Result<bool, StoreError>;

    /// Atomically claim up to `claim.limit` queued "sync now" requests (of `claim.store` only, if set),
    /// oldest first: unclaimed ones and claimed ones whose lease ended by `claim.now` (a crashed worker's).
    /// Each returned request carries its claim ([`SyncRequest::claimed_by`], [`SyncRequest::claim_token`],
    /// [`SyncRequest::lease_until`]); no request is held by two claimants at once. A claimed request stays
    /// queued until [`Store::finish_sync_request`] removes it, so a crash mid-sync loses nothing.
    async fn claim_sync_requests(&self, claim: &ClaimRequest) -> Result<Vec<SyncRequest>, StoreError>;
    /// Extend a held claim on a store's sync request to `until`. `false` when the claim is no longer held
    /// (a newer request replaced it, someone else claimed it after its lease ended, or it is gone).
    async fn renew_sync_request(&self, store: &StoreId, token: &str, until: Timestamp) -> Result<bool, StoreError>;
    /// Complete a claimed sync request once its sync finished: remove it. `false` (nothing removed) when
    /// the claim is no longer held, in particular when a newer request replaced it meanwhile: that one
    /// stays queued and runs too.
    async fn finish_sync_request(&self, store: &StoreId, token: &str) -> Result<bool, StoreError>;
    /// Every queued sync request (claimed or not), oldest first.
    async fn sync_requests(&self) -> Result<Vec<SyncRequest>, StoreError>;

    /// Audit entries passing a filter, oldest first.
    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

    /// Remove a store and everything of it atomically: the connection, its listings, imported order lines,
    /// webhook deliveries, cursors, outbox items, lease and sync requests, and the products that no other
    /// store lists (with their ledger movements) unless they are a component of a product that stays. The
    /// audit log is kept. For a global store, its rows in every company's view go (products are not
    /// touched: a global store never creates them).
    async fn purge_store(&self, store: &StoreId) -> Result<PurgeReport, StoreError>;

    // ---- Root level: these ignore the view's company. ----

    /// One company.
    async fn company(&self, id: &CompanyId) -> Result<Option<CompanyRecord>, StoreError>;
    /// Every company, by id. A database that predates companies lists the default company.
    async fn companies(&self) -> Result<Vec<CompanyRecord>, StoreError>;
    /// Remove a company and everything of it atomically, as [`Store::purge_store`] does for each of its
    /// stores, plus its products, ledger, audit, dead letters, sync requests, leases, inbox items and its
    /// rows about global stores; then the company row. Global connections stay. `None` when there was no
    /// such company.
    async fn purge_company(&self, id: &CompanyId) -> Result<Option<PurgeReport>, StoreError>;
    /// Where a store lives: its connection record whatever company it belongs to (global ones too). Store
    /// ids are unique across companies; this is how a webhook for any store is routed.
    async fn locate_store(&self, store: &StoreId) -> Result<Option<ConnectionRecord>, StoreError>;
    /// The companies that have a product of each SKU (a SKU no company has is absent), each list by id.
    async fn sku_owners(&self, skus: &[Sku]) -> Result<std::collections::BTreeMap<Sku, Vec<CompanyId>>, StoreError>;

    /// Record that `worker` is alive until `until`, forget workers whose heartbeat ran out by `now`, and
    /// return the live workers (this one included), by name.
    async fn worker_heartbeat(
        &self,
        worker: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<WorkerRecord>, StoreError>;
    /// Forget a worker (a clean shutdown).
    async fn worker_gone(&self, worker: &str) -> Result<(), StoreError>;
    /// Take or renew the lease on a company until `until`: `true` when `holder` holds it now (it was free,
    /// expired at `now`, or already `holder`'s).
    async fn acquire_company_lease(
        &self,
        company: &CompanyId,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Give up a company's lease; `true` when `holder` held it.
    async fn release_company_lease(&self, company: &CompanyId, holder: &str) -> Result<bool, StoreError>;
    /// Every company lease (held or run out), by company.
    async fn company_leases(&self) -> Result<Vec<CompanyLease>, StoreError>;

    /// Record a verified webhook delivery for its company's holder to apply: `true` when new, `false` when
    /// an item of the same (company, store, delivery id) is already there (nothing written).
    async fn inbox_put(&self, item: InboxItem) -> Result<bool, StoreError>;
    /// Up to `limit` inbox items of the view's company, oldest first (by `received_at`, then id).
    async fn inbox(&self, limit: usize) -> Result<Vec<InboxItem>, StoreError>;
    /// Remove an applied inbox item of the view's company; `false` when it was gone.
    async fn inbox_done(&self, id: i64) -> Result<bool, StoreError>;
}

/// Conveniences over any [`Store`].
#[async_trait]
pub trait StoreExt: Store {
    /// Insert or update a connection; returns the stored record (with its new version).
    async fn put_connection(&self, mut record: ConnectionRecord) -> Result<ConnectionRecord, StoreError> {
        self.commit(WriteOp::PutConnection(record.clone()).into()).await?;
        record.version += 1;
        Ok(record)
    }

    /// Insert or update a listing; returns its new version.
    async fn put_listing(&self, record: ListingRecord) -> Result<u64, StoreError> {
        let version = record.version + 1;
        self.commit(WriteOp::PutListing(record).into()).await?;
        Ok(version)
    }

    /// Record an order line once: `true` if it was new.
    async fn record_order_line(&self, line: OrderLineRecord) -> Result<bool, StoreError> {
        self.commit(WriteOp::PutOrderLine(line).into()).await
    }

    /// Record a webhook delivery once: `true` if it was new.
    async fn record_delivery(&self, delivery: DeliveryRecord) -> Result<bool, StoreError> {
        self.commit(WriteOp::RecordDelivery(delivery).into()).await
    }

    /// Queue a push.
    async fn enqueue(&self, push: OutboxPush, now: Timestamp) -> Result<(), StoreError> {
        self.commit(WriteOp::Enqueue { push, now }.into()).await.map(drop)
    }

    /// Record a health event.
    async fn record_health(&self, store: &StoreId, event: HealthEvent) -> Result<(), StoreError> {
        self.commit(WriteOp::RecordHealth { store: store.clone(), event }.into()).await.map(drop)
    }

    /// Hand back every item `worker` still holds a claim on, due at `now` (a restarted worker with a
    /// stable id calls this at start, so the pushes its previous run had in flight do not wait for their
    /// leases to end). Items re-claimed by someone else meanwhile are left alone. Returns how many.
    async fn release_claims(&self, worker: &str, now: Timestamp) -> Result<usize, StoreError> {
        let filter = OutboxFilter { store: None, state: Some(OutboxState::Claimed) };
        let mut released = 0;
        for item in self.outbox(&filter).await? {
            let Some(token) = item.claim_token.as_deref() else { continue };
            if item.claimed_by.as_deref() != Some(worker) {
                continue;
            }
            let result = OutboxResult::Retry { error: format!("released by {worker} after a restart"), at: now };
            match self.finish_outbox(item.id, token, result, now).await {
                Ok(()) => released += 1,
                Err(e) if matches!(e.kind(), channel_core::ErrorKind::Conflict | channel_core::ErrorKind::NotFound) => {
                }
                Err(e) => return Err(e),
            }
        }
        Ok(released)
    }
}

impl<T: Store + ?Sized> StoreExt for T {}
