//! Held order lines: a merchant sale whose listing or SKU the engine cannot count yet (a product listed
//! after the last full reconcile, which is when the engine learns listings) is recorded as held, audited and
//! reported, and a reconcile of its store and the source is requested; every full reconcile (and every
//! scheduler tick) then applies the held lines a read has linked since, each exactly once.

use channel_core::StoreId;
use jiff::Timestamp;

use super::SyncEngine;
use super::commit::{WRITE_ATTEMPTS, is_stale};
use super::engine::loaded;
use super::state::{State, line_audit};
use crate::Result;
use crate::store::{OrderLineRecord, SyncRequest, WriteBatch, WriteOp};

/// Who asks for the reconcile a held line needs.
const REQUESTED_BY: &str = "held order line";

/// What a pass over the held lines did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeldPass {
    /// Held lines applied.
    pub(crate) resolved: usize,
    /// Lines still held.
    pub(crate) still_held: usize,
    /// Pushes queued.
    pub(crate) pushes: usize,
}

impl SyncEngine {
    /// Add to `batch` (the new line `record`'s, which the engine holds) its audit entry and, unless another
    /// line of the same listing is held already (its reconcile was asked for, or it ran and could not link
    /// it), a "sync now" request for the store and the source, whose reads link the listing.
    pub(crate) async fn hold_line(
        &self,
        state: &State,
        record: &OrderLineRecord,
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> Result<()> {
        let what = "sale held: its listing or SKU is not linked to the catalog yet, no stock moved until it is";
        batch.push(WriteOp::Audit(line_audit(record, what, now)));
        let waiting = self.inner.store.held_order_lines().await?.iter().any(|l| {
            l.store == record.store
                && l.channel_sku == record.channel_sku
                && l.listing == record.listing
                && (&l.order, &l.line) != (&record.order, &record.line)
        });
        if !waiting {
            let mut stores: Vec<&StoreId> = vec![&record.store];
            stores.extend(state.source.as_ref().filter(|s| **s != record.store));
            for store in stores {
                let request = SyncRequest::new(store.clone(), Some(REQUESTED_BY.into()), now);
                batch.push(WriteOp::RequestSync(request));
            }
        }
        Ok(())
    }

    /// Apply the held lines the cached state can count now, each in its own version-checked batch (so
    /// exactly once, whichever worker gets there first). `read_at`: when the reads the state was just
    /// built from began (a full reconcile); a line sold on the source itself is applied only after such a
    /// read that began after the line was imported, since that read already shows the sale (its ledger
    /// movement is recorded, the on hand is not moved again).
    pub(crate) async fn resolve_held_lines(&self, state: &mut State, read_at: Option<Timestamp>) -> Result<HeldPass> {
        let mut pass = HeldPass::default();
        for record in self.inner.store.held_order_lines().await? {
            if state.connection(&record.store).is_none() {
                continue;
            }
            let on_source = state.source.as_ref() == Some(&record.store);
            if on_source && read_at.is_none_or(|at| record.first_seen_at > at) {
                pass.still_held += 1;
                continue;
            }
            match self.resolve_held_line(state, record, on_source).await? {
                Some(pushes) => {
                    pass.resolved += 1;
                    pass.pushes += pushes;
                }
                None => pass.still_held += 1,
            }
        }
        if pass.pushes > 0 {
            self.inner.outbox_wake.wake_all();
        }
        Ok(pass)
    }

    /// After a full reconcile's reads (begun at `read_at`) are taken in: apply the held lines they linked,
    /// and say how many are still held.
    pub(crate) async fn resolve_held_after_read(&self, state: &mut State, read_at: Timestamp) -> Result<()> {
        let pass = self.resolve_held_lines(state, Some(read_at)).await?;
        if pass.resolved > 0 {
            tracing::info!(applied = pass.resolved, pushes = pass.pushes, "held order lines applied after a full read");
        }
        if pass.still_held > 0 {
            tracing::warn!(
                held = pass.still_held,
                "order lines still held: their listing or SKU is not in the catalog (or not listed on the source)"
            );
        }
        Ok(())
    }

    /// Apply one held line if it can be counted now: the pushes queued, or `None` when it is still held.
    /// A conflict (another worker applied it, or moved the stock, first) reads the line again.
    async fn resolve_held_line(
        &self,
        state: &mut State,
        mut record: OrderLineRecord,
        on_source: bool,
    ) -> Result<Option<usize>> {
        let mut attempt = 1;
        loop {
            let now = self.inner.clock.now();
            let Some((batch, pushes)) = state.resolve_held(&record, on_source, now)? else { return Ok(None) };
            match self.commit_cached(state, batch).await {
                Ok(_) => {
                    tracing::info!(store = %record.store, order = %record.order, line = %record.line,
                        channel_sku = %record.channel_sku, "held order line applied");
                    return Ok(Some(pushes));
                }
                Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => {
                    attempt += 1;
                    match self.inner.store.order_line(&record.store, &record.order, &record.line).await? {
                        Some(fresh) if fresh.held => record = fresh,
                        // Applied (or removed) by another worker meanwhile.
                        _ => return Ok(None),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Apply the held lines the cached state can count now (see [`SyncEngine::resolve_held_lines`]; a line
    /// sold on the source waits for a full reconcile). Returns how many were applied.
    pub(crate) async fn retry_held_lines(&self) -> Result<usize> {
        let mut guard = self.state().await?;
        let state = loaded(&mut guard)?;
        Ok(self.resolve_held_lines(state, None).await?.resolved)
    }

    /// The order lines held because their listing or SKU was not linked to the catalog when they were
    /// imported (no stock moved yet), oldest first. Each is applied once when a read links it; one that
    /// stays here names a listing whose SKU is not in the catalog (see `docs/sync.md`).
    pub async fn held_order_lines(&self) -> Result<Vec<OrderLineRecord>> {
        Ok(self.inner.store.held_order_lines().await?)
    }
}
