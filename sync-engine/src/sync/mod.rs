//! The sync runtime: live, daily and disabled stores, orders imported exactly once, the outbox worker,
//! "sync now" with progress, and crash safety.
//!
//! A [`SyncEngine`] owns a [`crate::Store`], one [`channel_core::Channel`] per store, an injected
//! [`crate::clock::Clock`] and, in memory, a [`channel_core::reconcile::Reconciler`] built from the store.
//! Everything that changes stock goes through it:
//!
//! - **Orders** ([`SyncEngine::ingest_order`], from a webhook, a poll or a replay): each (store, order,
//!   line) is applied in **one** [`crate::WriteBatch`] holding the once-only order-line marker, its ledger
//!   movements, the source's new on-hand quantity and the outbox pushes of every re-planned listing. A
//!   duplicate marker skips the whole batch, so a line is counted once whichever way it arrives.
//! - **The outbox** ([`SyncEngine::run_outbox_once`]): claimed with a lease, grouped per store, batched to
//!   each channel's [`channel_core::Capabilities::max_stock_batch`], retried with backoff when retryable,
//!   dead-lettered with the reason when not, re-planned on a stale compare-and-set; an authentication
//!   failure flips the connection's health and stops its pushes.
//! - **Full reconciles** ([`SyncEngine::sync_now`], the daily schedule): read every listing, take in
//!   external changes on the source, re-plan everything and push, reporting progress as [`SyncEvent`]s.
//! - **Webhooks** ([`SyncEngine::handle_webhook`]): verified by the adapter, deduplicated by delivery id,
//!   echoes of the engine's own pushes ignored.
//!
//! See `docs/sync.md` for the model (why pushes are absolute and how a crash at any point is recovered).

mod ingest;
mod outbox;
mod progress;
mod runtime;
mod schedule;

pub use ingest::{IngestReport, WebhookOutcome};
pub use outbox::OutboxReport;
pub use progress::{SyncEvent, SyncHandle, SyncSummary};
pub use runtime::{RestockPolicy, SyncConfig, SyncEngine, SyncEngineBuilder};
pub use schedule::RunningEngine;
