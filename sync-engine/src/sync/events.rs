//! What a full reconcile reports: its [`SyncEvent`]s in order, its [`SyncSummary`], and the
//! [`SyncHandle`] of one running in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use channel_core::StoreId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// One step of a full reconcile, in order: listings are read store by store, then updates planned, then
/// pushed (or failed), then `Finished`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// The reconcile started over these stores.
    Started {
        /// The stores read.
        stores: Vec<StoreId>,
    },
    /// Listings read from a store so far (sent per page).
    ListingsRead {
        /// The store.
        store: StoreId,
        /// Listings read from it so far.
        count: usize,
    },
    /// Reading a store failed (the reconcile goes on with the others).
    ReadFailed {
        /// The store.
        store: StoreId,
        /// Why.
        reason: String,
    },
    /// The plan is made: this many pushes were queued, and this many queued before are pushed with them.
    Planned {
        /// Pushes the plan queued to the stores the reconcile is for.
        updates: usize,
        /// Pushes to those stores queued before the reconcile (not merged into the plan), pushed with it.
        carried: usize,
    },
    /// Pushes done so far.
    Pushed {
        /// Applied so far.
        pushed: usize,
        /// Failed so far (retried or dead-lettered).
        failed: usize,
    },
    /// The reconcile ended.
    Finished(SyncSummary),
}

/// What a full reconcile did. Every store is read; only the stores it is for (all of them, or those of
/// [`SyncEngine::sync_now_for`](crate::SyncEngine::sync_now_for)) are pushed to. Its pushes add up:
/// `pushed + failed + left == planned + carried` — a push refused as stale (compare-and-set) is queued
/// again against what the store shows and counted once, by how that push ended; pushes another worker
/// (another process over the same store) made meanwhile are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncSummary {
    /// Listings read (from every store).
    pub listings_read: usize,
    /// Pushes the plan queued to the stores the reconcile is for (one per listing whose quantity is not
    /// what it should be; merged with a push of the same listing already queued).
    pub planned: usize,
    /// Pushes to those stores queued before the reconcile (by orders, webhooks, the re-plan of a restart)
    /// and not merged into the plan: pushed with it, counted apart.
    pub carried: usize,
    /// Pushes applied.
    pub pushed: usize,
    /// Pushes dead-lettered (refused, or given up on after the retries).
    pub failed: usize,
    /// Pushes still queued when the reconcile ended: the store's pushes are held (it needs
    /// re-authentication), or the reconcile was cancelled.
    pub left: usize,
    /// Source listings whose quantity changed outside the engine (taken in, in the ledger).
    pub source_changes: usize,
    /// Stores that could not be read.
    pub read_failures: Vec<StoreId>,
    /// Whether it was cancelled before the end.
    pub cancelled: bool,
}

/// A full reconcile running in the background: its events, cancel it, wait for it.
#[derive(Debug)]
pub struct SyncHandle {
    /// The progress events; the stream ends after [`SyncEvent::Finished`].
    pub events: mpsc::UnboundedReceiver<SyncEvent>,
    cancel: Arc<AtomicBool>,
    task: JoinHandle<Result<SyncSummary>>,
}

impl SyncHandle {
    /// The handle of the reconcile running as `task`, reporting on `events`, stopped by `cancel`.
    pub(crate) fn new(
        events: mpsc::UnboundedReceiver<SyncEvent>,
        cancel: Arc<AtomicBool>,
        task: JoinHandle<Result<SyncSummary>>,
    ) -> Self {
        Self { events, cancel, task }
    }

    /// Ask the reconcile to stop at the next step (what was queued stays queued and is pushed later).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Stop the reconcile at its next await point, as a crash would (what was committed stays committed).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Wait for the end.
    pub async fn finish(self) -> Result<SyncSummary> {
        self.task.await.map_err(|e| Error::Invalid(format!("the sync task failed: {e}")))?
    }
}

/// Where a full reconcile sends its events, and whether it was asked to stop.
pub(crate) struct Reporter<'a> {
    tx: Option<&'a mpsc::UnboundedSender<SyncEvent>>,
    cancel: &'a AtomicBool,
}

impl<'a> Reporter<'a> {
    /// Report on `tx` (nowhere when `None`), stopped by `cancel`.
    pub(crate) fn new(tx: Option<&'a mpsc::UnboundedSender<SyncEvent>>, cancel: &'a AtomicBool) -> Self {
        Self { tx, cancel }
    }

    /// Send an event.
    pub(crate) fn send(&self, event: SyncEvent) {
        if let Some(tx) = self.tx {
            let _ = tx.send(event);
        }
    }

    /// Whether the reconcile was asked to stop.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}
