//! Rows ⇄ records: the value encodings (times as unix milliseconds, JSON columns, enum names, versions,
//! SKUs) and one decoder per table, each failing with a "corrupt data" [`StoreError`].

use channel_core::{ListingId, OrderId, Sku, StoreId};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::db;
use super::dialect::{DbRow, Dialect};
use crate::store::{
    AuditEntry, ClientId, CompanyId, CompanyLease, CompanyRecord, ConnectionRecord, InboxItem, Movement, MovementCause,
    NewMovement, OrderLineRecord, OutboxItem, OutboxPush, OutboxState, ProductRecord, Scope, SealedCredentials,
    StoreError, SyncRequest, WarehouseId, WorkerRecord,
};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The columns of the outbox, in the order the claim and finish queries read them.
pub(super) const OUTBOX_COLUMNS: &str =
    "id, store, listing, lane, action, reason, state, attempts, next_attempt_at, claimed_by,
    claim_token, lease_until, last_error, created_at, updated_at";

fn corrupt<D: Dialect>(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend { message: format!("{}: unreadable {what}: {e}", D::NAME), retryable: false, source: None }
}

pub(super) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(super) fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| corrupt_value("value", e))
}

pub(super) fn ojson<T: Serialize>(v: Option<&T>) -> Result<Option<String>> {
    v.map(json).transpose()
}

/// The serde name of a unit enum variant (`"active"`).
pub(super) fn name<T: Serialize>(v: &T) -> Result<String> {
    match serde_json::to_value(v).map_err(|e| corrupt_value("name", e))? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(corrupt_value("name", other)),
    }
}

pub(super) fn sql_version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|e| corrupt_value("version", e))
}

/// A value that does not encode or decode (the same text for every backend).
fn corrupt_value(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend { message: format!("store: unreadable {what}: {e}"), retryable: false, source: None }
}

/// Typed reads of one row's columns, each failing with the backend's error or a "corrupt data" one.
pub(super) struct Cols<'r, D: Dialect>(pub(super) &'r DbRow<D>);

impl<D: Dialect> Cols<'_, D> {
    pub(super) fn text(&self, col: &str) -> Result<String> {
        D::text(self.0, col).map_err(db::<D>)
    }

    pub(super) fn opt_text(&self, col: &str) -> Result<Option<String>> {
        D::opt_text(self.0, col).map_err(db::<D>)
    }

    pub(super) fn int(&self, col: &str) -> Result<i64> {
        D::int(self.0, col).map_err(db::<D>)
    }

    pub(super) fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        D::opt_int(self.0, col).map_err(db::<D>)
    }

    fn boolean(&self, col: &str) -> Result<bool> {
        D::boolean(self.0, col).map_err(db::<D>)
    }

    fn store(&self) -> Result<StoreId> {
        Ok(StoreId::new(self.text("store")?))
    }

    fn ts(&self, col: &str) -> Result<Timestamp> {
        Timestamp::from_millisecond(self.int(col)?).map_err(|e| corrupt_value("timestamp", e))
    }

    fn opt_ts(&self, col: &str) -> Result<Option<Timestamp>> {
        self.opt_int(col)?
            .map(|ms| Timestamp::from_millisecond(ms).map_err(|e| corrupt_value("timestamp", e)))
            .transpose()
    }

    pub(super) fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        serde_json::from_str(&self.text(col)?).map_err(|e| corrupt_value("JSON", e))
    }

    fn opt_json<T: DeserializeOwned>(&self, col: &str) -> Result<Option<T>> {
        self.opt_text(col)?.map(|s| serde_json::from_str(&s).map_err(|e| corrupt_value("JSON", e))).transpose()
    }

    fn named<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        serde_json::from_value(serde_json::Value::String(self.text(col)?)).map_err(|e| corrupt_value("name", e))
    }

    pub(super) fn version(&self) -> Result<u64> {
        u64::try_from(self.int("version")?).map_err(|e| corrupt_value("version", e))
    }

    fn u32(&self, col: &str) -> Result<u32> {
        u32::try_from(self.int(col)?).map_err(|e| corrupt::<D>(col, e))
    }

    pub(super) fn sku(&self, col: &str) -> Result<Sku> {
        sku::<D>(self.text(col)?)
    }

    fn opt_sku(&self, col: &str) -> Result<Option<Sku>> {
        self.opt_text(col)?.map(sku::<D>).transpose()
    }
}

pub(super) fn sku<D: Dialect>(s: String) -> Result<Sku> {
    Sku::try_from(s).map_err(|e| corrupt_value("SKU", e))
}

pub(super) fn connection<D: Dialect>(row: &DbRow<D>) -> Result<ConnectionRecord> {
    let r = Cols::<D>(row);
    let channel = r.text("channel")?;
    Ok(ConnectionRecord {
        store: r.store()?,
        channel: channel.parse().map_err(|e| corrupt::<D>("channel", e))?,
        name: r.text("name")?,
        scope: r.opt_text("scope_client")?.map_or(Scope::Global, |c| Scope::Client(ClientId::new(c))),
        warehouse: r.opt_text("warehouse")?.map(WarehouseId::new),
        settings: r.json("settings")?,
        credentials: r.opt_text("credentials")?.map(SealedCredentials::from_sealed),
        account: r.opt_json("account")?,
        sync_mode: r.text("sync_mode")?.parse().map_err(|e: String| corrupt::<D>("sync mode", e))?,
        source_of_truth: r.boolean("source_of_truth")?,
        state: r.named("state")?,
        health: r.json("health")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        version: r.version()?,
    })
}

pub(super) fn product<D: Dialect>(row: &DbRow<D>) -> Result<ProductRecord> {
    let r = Cols::<D>(row);
    Ok(ProductRecord {
        sku: r.sku("sku")?,
        name: r.opt_text("name")?,
        components: r.json("components")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

pub(super) fn listing<D: Dialect>(row: &DbRow<D>) -> Result<crate::store::ListingRecord> {
    let r = Cols::<D>(row);
    Ok(crate::store::ListingRecord {
        store: r.store()?,
        listing: ListingId::new(r.text("listing")?),
        ids: r.json("ids")?,
        channel_sku: r.text("channel_sku")?,
        sku: r.opt_sku("sku")?,
        fulfilment: r.named("fulfilment")?,
        status: r.named("status")?,
        seen_quantity: r.opt_int("seen_quantity")?,
        seen_price: r.opt_json("seen_price")?,
        seen_at: r.opt_ts("seen_at")?,
        pushed_quantity: r.opt_int("pushed_quantity")?,
        pushed_price: r.opt_json("pushed_price")?,
        pushed_at: r.opt_ts("pushed_at")?,
        sku_change: r.opt_json("sku_change")?,
        version: r.version()?,
    })
}

pub(super) fn movement<D: Dialect>(row: &DbRow<D>) -> Result<Movement> {
    let r = Cols::<D>(row);
    let cause = r.text("cause")?;
    Ok(Movement {
        id: r.int("id")?,
        movement: NewMovement {
            sku: r.sku("sku")?,
            delta: r.int("delta")?,
            cause: MovementCause::parse(&cause).ok_or_else(|| corrupt::<D>("cause", &cause))?,
            store: r.opt_text("store")?.map(StoreId::new),
            order: r.opt_text("order_id")?.map(OrderId::new),
            line: r.opt_text("line")?,
            note: r.opt_text("note")?,
            at: r.ts("at")?,
        },
    })
}

pub(super) fn order_line<D: Dialect>(row: &DbRow<D>) -> Result<OrderLineRecord> {
    let r = Cols::<D>(row);
    Ok(OrderLineRecord {
        store: r.store()?,
        order: OrderId::new(r.text("order_id")?),
        line: r.text("line")?,
        sku: r.opt_sku("sku")?,
        listing: r.opt_text("listing")?.map(ListingId::new),
        channel_sku: r.text("channel_sku")?,
        held: r.boolean("held")?,
        quantity: r.u32("quantity")?,
        released: r.u32("released")?,
        status: r.named("status")?,
        first_seen_at: r.ts("first_seen_at")?,
        updated_at: r.ts("updated_at")?,
        version: r.version()?,
    })
}

pub(super) fn sync_request<D: Dialect>(row: &DbRow<D>) -> Result<SyncRequest> {
    let r = Cols::<D>(row);
    let mut request = SyncRequest::new(r.store()?, r.opt_text("requested_by")?, r.ts("requested_at")?);
    request.claimed_by = r.opt_text("claimed_by")?;
    request.claim_token = r.opt_text("claim_token")?;
    request.lease_until = r.opt_ts("lease_until")?;
    Ok(request)
}

pub(super) fn outbox_item<D: Dialect>(row: &DbRow<D>) -> Result<OutboxItem> {
    let r = Cols::<D>(row);
    let state = r.text("state")?;
    Ok(OutboxItem {
        id: r.int("id")?,
        push: OutboxPush {
            store: r.store()?,
            listing: ListingId::new(r.text("listing")?),
            action: r.json("action")?,
            reason: r.text("reason")?,
        },
        state: OutboxState::parse(&state).ok_or_else(|| corrupt::<D>("outbox state", &state))?,
        attempts: r.u32("attempts")?,
        next_attempt_at: r.ts("next_attempt_at")?,
        claimed_by: r.opt_text("claimed_by")?,
        claim_token: r.opt_text("claim_token")?,
        lease_until: r.opt_ts("lease_until")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

pub(super) fn audit_entry<D: Dialect>(row: &DbRow<D>) -> Result<AuditEntry> {
    let r = Cols::<D>(row);
    Ok(AuditEntry {
        id: r.int("id")?,
        store: r.store()?,
        listing: r.opt_text("listing")?.map(ListingId::new),
        sku: r.opt_sku("sku")?,
        field: r.text("field")?,
        old: r.opt_text("old")?,
        new: r.opt_text("new")?,
        reason: r.text("reason")?,
        at: r.ts("at")?,
    })
}

pub(super) fn company<D: Dialect>(row: &DbRow<D>) -> Result<CompanyRecord> {
    let r = Cols::<D>(row);
    Ok(CompanyRecord {
        id: CompanyId::new(r.text("id")?),
        name: r.text("name")?,
        requires: r.opt_text("requires")?.map(|c| c.parse().map_err(|e| corrupt::<D>("channel", e))).transpose()?,
        bound_account: r.opt_json("bound_account")?,
        created_at: r.ts("created_at")?,
        version: r.version()?,
    })
}

pub(super) fn company_lease<D: Dialect>(row: &DbRow<D>) -> Result<CompanyLease> {
    let r = Cols::<D>(row);
    Ok(CompanyLease { company: CompanyId::new(r.text("company")?), holder: r.text("holder")?, until: r.ts("until")? })
}

pub(super) fn worker<D: Dialect>(row: &DbRow<D>) -> Result<WorkerRecord> {
    let r = Cols::<D>(row);
    Ok(WorkerRecord { worker: r.text("worker")?, until: r.ts("until")? })
}

pub(super) fn inbox_item<D: Dialect>(row: &DbRow<D>) -> Result<InboxItem> {
    let r = Cols::<D>(row);
    Ok(InboxItem {
        id: r.int("id")?,
        company: CompanyId::new(r.text("company")?),
        store: r.store()?,
        delivery_id: r.text("delivery_id")?,
        topic: r.text("topic")?,
        request: r.json("request")?,
        received_at: r.ts("received_at")?,
    })
}
