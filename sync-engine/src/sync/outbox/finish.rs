//! Writing the fates of a store's pushed items back: the cached state and its rows (what each listing
//! shows, pushed quantities, audit entries, re-planned pushes) in one commit, then the items' outbox
//! results in one store call.

use channel_core::{ErrorKind, StoreId};
use jiff::Timestamp;

use super::OutboxReport;
use super::fate::{Fate, settle};
use super::push::Prepared;
use crate::Result;
use crate::store::{OutboxFinish, OutboxResult, WriteBatch};
use crate::sync::SyncEngine;
use crate::sync::engine::loaded;

impl SyncEngine {
    /// Write the fates of `prepared` back. The steps: record them in the cached state and commit its
    /// rows (under the state's lock), write the outbox results, wake the lanes when pushes were queued.
    pub(crate) async fn finish(
        &self,
        store: &StoreId,
        prepared: Vec<Prepared>,
        fates: Vec<Fate>,
        report: &mut OutboxReport,
    ) -> Result<()> {
        let now = self.inner.clock.now();
        let (results, queued) = self.record_fates(store, &prepared, fates, now, report).await?;
        self.finish_items(store, results, now).await?;
        if queued {
            self.inner.outbox_wake.wake_all();
        }
        Ok(())
    }

    /// Record each item's fate in the cached state and commit the rows, audit entries and re-planned
    /// pushes that gives. Returns the items' outbox results (none for an item left claimed) and whether a
    /// push was queued.
    async fn record_fates(
        &self,
        store: &StoreId,
        prepared: &[Prepared],
        fates: Vec<Fate>,
        now: Timestamp,
        report: &mut OutboxReport,
    ) -> Result<(Vec<OutboxFinish>, bool)> {
        let mut results = Vec::with_capacity(prepared.len());
        let mut queued = false;
        let mut guard = self.state().await?;
        let state = loaded(&mut guard)?;
        let mut batch = WriteBatch::new();
        for (p, fate) in prepared.iter().zip(fates) {
            let result = match fate {
                Fate::Applied { quantity, reported } => {
                    report.pushed += 1;
                    queued |=
                        state.record_applied(store, &p.item, p.sku.clone(), (quantity, reported), now, &mut batch);
                    OutboxResult::Done
                }
                Fate::Stale { actual } => {
                    report.stale += 1;
                    queued |= state.record_stale(store, &p.item.push, actual, now, &mut batch);
                    OutboxResult::Done
                }
                other => match settle(other, store, p, &self.inner.config, now, report, &mut batch) {
                    Some(result) => result,
                    None => continue,
                },
            };
            results.push(OutboxFinish::new(p.item.id, p.item.claim_token.clone().unwrap_or_default(), result));
        }
        if !batch.ops.is_empty() {
            // Another worker may have written these listings' rows since this one cached them.
            self.commit_pushed(state, batch).await?;
        }
        Ok((results, queued))
    }

    /// Write the items' outbox results, in one store call (one transaction in the SQL stores). An item
    /// another claim took over meanwhile is left to it.
    async fn finish_items(&self, store: &StoreId, results: Vec<OutboxFinish>, now: Timestamp) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = results.iter().map(|f| f.id).collect();
        for (id, r) in ids.into_iter().zip(self.inner.store.finish_outbox_many(results, now).await?) {
            match r {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => {
                    tracing::debug!(%store, id, error = %e, "outbox item taken over by another claim");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
