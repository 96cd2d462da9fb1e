//! Order ingestion: each line of an order applied exactly once, in one batch with its once-only marker;
//! and order polling from the per-store cursor.

use channel_core::{Order, OrderCursor, OrderLine, Sku, StoreId};
use futures::StreamExt;
use jiff::Timestamp;

use super::SyncEngine;
use super::commit::{WRITE_ATTEMPTS, is_stale};
use super::engine::loaded;
use super::state::{Ownership, State};
use crate::store::{AuditEntry, WriteOp};
use crate::{Error, Result};

/// The name of the order cursor kept per store.
pub(crate) const ORDER_CURSOR: &str = "orders";

/// What importing orders did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Order lines seen for the first time.
    pub new_lines: usize,
    /// Known lines whose status changed (cancellations and returns restocked by policy).
    pub updated_lines: usize,
    /// Lines already imported with nothing new: skipped.
    pub duplicates: usize,
    /// New merchant lines held because their listing or SKU is not linked to the catalog yet (or the
    /// source does not list it): recorded and audited, no stock moved until a read links them; then each
    /// is applied once ([`SyncEngine::held_order_lines`] lists the lines still held).
    pub unknown: usize,
    /// Pushes queued.
    pub pushes: usize,
    /// New lines of a global store whose SKU another company alone owned when this engine imported
    /// them: left to that company's engine, skipped here for good (not held, nothing recorded; the order
    /// cursor moves past them).
    pub other_company: usize,
    /// New lines of a global store whose SKU no company or several companies owned when this engine
    /// imported them: counted nowhere (never a guess), audited as a diagnostic, and never counted later
    /// (the order cursor moves past them).
    pub unowned: usize,
}

impl IngestReport {
    pub(crate) fn add(&mut self, other: Self) {
        self.new_lines += other.new_lines;
        self.updated_lines += other.updated_lines;
        self.duplicates += other.duplicates;
        self.unknown += other.unknown;
        self.pushes += other.pushes;
        self.other_company += other.other_company;
        self.unowned += other.unowned;
    }
}

impl SyncEngine {
    /// Import an order (from a webhook, a poll or a replay). Each line is applied exactly once: its
    /// order-line marker, ledger movements, the new on-hand quantity and the pushes it causes are one atomic
    /// batch. A known line is applied again only for what changed (a cancellation or return restocked by the
    /// store's [`super::RestockPolicy`]).
    pub async fn ingest_order(&self, store: &StoreId, order: &Order) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        {
            let mut guard = self.state().await?;
            let state = loaded(&mut guard)?;
            if state.connection(store).is_none() {
                return Err(Error::NotFound(format!("connected store {store}")));
            }
            for line in &order.lines {
                let mut attempt = 1;
                loop {
                    match self.ingest_line(state, store, order, line).await {
                        Ok(r) => {
                            report.add(r);
                            break;
                        }
                        // Another worker committed first (the rows read are refreshed): again.
                        Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => {
                            tracing::debug!(%store, order = %order.id, line = %line.line_id, attempt, error = %e,
                                "order line met another writer: again");
                            attempt += 1;
                        }
                        Err(e) => {
                            // The cached rows may no longer match the store: start again from it.
                            self.reload_state(state).await?;
                            return Err(e);
                        }
                    }
                }
            }
        }
        if report.pushes > 0 {
            self.inner.outbox_wake.wake_all();
        }
        Ok(report)
    }

    /// Apply one line, as a sequence of steps: read its once-only marker, decide what it does from the
    /// cached state (see `State::apply_order_line`), commit the batch. A conflict (another writer recorded
    /// the line or moved the stock first) refreshes the rows read and is returned for the caller to retry.
    async fn ingest_line(
        &self,
        state: &mut State,
        store: &StoreId,
        order: &Order,
        line: &OrderLine,
    ) -> Result<IngestReport> {
        let now = self.inner.clock.now();
        let existing = self.inner.store.order_line(store, &order.id, &line.line_id).await?;
        if existing.is_none()
            && state.is_global(store)
            && let Some(skipped) = self.global_line_gate(state, store, order, line, now).await?
        {
            return Ok(skipped);
        }
        let policy = self.inner.config.restock_for(store);
        let (batch, report) = state.apply_order_line(store, order, line, existing.as_ref(), policy, now)?;
        let Some(mut batch) = batch else { return Ok(report) };
        let held = match batch.ops.first() {
            Some(WriteOp::PutOrderLine(record)) if record.held && record.version == 0 => Some(record.clone()),
            _ => None,
        };
        if let Some(record) = &held {
            self.hold_line(state, record, now, &mut batch).await?;
        }
        if !self.commit_cached(state, batch).await? {
            // Another writer recorded the line first: our in-memory changes are undone; the next attempt
            // finds the line and applies only what changed, if anything.
            return Err(Error::conflict(format!("order line {store}/{}/{}", order.id, line.line_id), 0, None));
        }
        if held.is_some() {
            tracing::warn!(%store, order = %order.id, line = %line.line_id, channel_sku = %line.channel_sku,
                listing = ?line.listing.as_ref().map(|l| l.as_str()),
                "order line held: its listing or SKU is not linked to the catalog yet; no stock moved until a read links it");
        }
        Ok(report)
    }

    /// A new line of a global store counts only in the company that alone owns its SKU *when this engine
    /// imports it* (the SKU through the line's linked listing, else its channel SKU mapped by the store's
    /// `sku_rules`): `None` when that is this company (apply it as on any store); otherwise what skipping
    /// it counts for. A SKU owned by another company alone is skipped quietly (that company counts it);
    /// one owned by no company or by several is audited as a diagnostic. A skipped line is not recorded
    /// and the cursor moves past it: it is never counted later, even once its SKU has a single owner.
    ///
    /// Known limit: each company decides at its own poll, against the ownership of that moment. If the
    /// ownership changes between two companies' polls of the same line (B adds the SKU, A is deleted, a
    /// redelivered webhook), the line can count in both companies or in none. The operator avoids it by
    /// giving each SKU one owner before it sells on the global store.
    async fn global_line_gate(
        &self,
        state: &State,
        store: &StoreId,
        order: &Order,
        line: &OrderLine,
        now: Timestamp,
    ) -> Result<Option<IngestReport>> {
        let sku = state
            .line_target(store, line)
            .0
            .or_else(|| Sku::new(state.sku_rules_of(store).apply(&line.channel_sku, line.fulfilment).canonical).ok());
        let owners = match &sku {
            Some(s) => self.inner.store.sku_owners(std::slice::from_ref(s)).await?.remove(s),
            None => None,
        };
        let ownership = Ownership::of(owners.as_ref(), &state.company);
        let mut report = IngestReport::default();
        match &ownership {
            Ownership::Mine => return Ok(None),
            Ownership::Other(_) => report.other_company += 1,
            Ownership::Unowned | Ownership::Shared(_) => {
                report.unowned += 1;
                let what = ownership.diagnostic(sku.as_ref()).unwrap_or_default();
                let reason = format!("{what}: order {} line {} not counted", order.id, line.line_id);
                let mut entry = AuditEntry::new(store.clone(), "order_line", reason, now);
                entry.listing.clone_from(&line.listing);
                entry.sku = sku;
                self.inner.store.commit(WriteOp::Audit(entry).into()).await?;
                tracing::warn!(%store, order = %order.id, line = %line.line_id, channel_sku = %line.channel_sku,
                    "order line of a global store not counted: its SKU has no single owner company");
            }
        }
        Ok(Some(report))
    }

    /// Poll a store's orders from its cursor, import them, and move the cursor page by page.
    pub async fn poll_orders(&self, store: &StoreId) -> Result<IngestReport> {
        let channel = self.channel(store).ok_or_else(|| Error::NotFound(format!("channel of store {store}")))?;
        let now = self.inner.clock.now();
        let since = match self.inner.store.cursor(store, ORDER_CURSOR).await? {
            Some(value) => {
                value.parse::<Timestamp>().map_err(|e| Error::Invalid(format!("order cursor of {store}: {e}")))?
            }
            None => now
                .checked_sub(jiff::SignedDuration::try_from(self.inner.config.first_poll_lookback).unwrap_or_default())
                .unwrap_or(now),
        };
        let cursor = OrderCursor::new(since);
        let mut pages = channel.orders_since(&cursor);
        let mut report = IngestReport::default();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    self.record_failure(store, &e).await;
                    return Err(e.into());
                }
            };
            for order in &page.orders {
                report.add(self.ingest_order(store, order).await?);
            }
            self.inner
                .store
                .commit(
                    WriteOp::SetCursor {
                        store: store.clone(),
                        name: ORDER_CURSOR.into(),
                        value: page.next.since.to_string(),
                    }
                    .into(),
                )
                .await?;
        }
        Ok(report)
    }
}
