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
//!
//! # Where things are
//!
//! The I/O (the store, the channels, the clock) lives in the files at this level; what the engine
//! *decides* lives in `state/`, as functions of the cached state and their input, unit-tested without I/O.
//!
//! | file | holds |
//! |---|---|
//! | `engine.rs` | the [`SyncEngine`] handle and its [`SyncEngineBuilder`], loading and reloading the state, the read-only queries |
//! | `config.rs` | [`SyncConfig`] and [`RestockPolicy`] |
//! | `state/mod.rs` | the cached `State` (rows, indexes, the reconciler) and how it is built from rows |
//! | `state/moves.rs` | moving the on hand, queueing a plan's pushes, the preconditions guarding a plan |
//! | `state/order_line.rs` | what an order line means: a new sale, a duplicate, a restock by policy |
//! | `state/inventory.rs` | what an inventory webhook or a listing re-read means: an echo, a re-read, a rise sent again, a change taken in |
//! | `state/pushed.rs` | what a finished push means for the state: what the channel shows, a newer source quantity, a stale write re-planned |
//! | `state/global.rs` | whose a global store's listing or order line is: this company's only when it alone owns the SKU; none or several is a diagnostic |
//! | `state/read.rs` | what a full read of a listing means: the merged row, a new product, an external change on the source |
//! | `commit.rs` | committing a batch built from the cached state, and refreshing the rows it read when another worker wrote first |
//! | `orders.rs` | order ingestion (one batch per line) and order polling |
//! | `held.rs` | held order lines (a sale whose listing is not linked yet): held, audited, applied once a read links it |
//! | `webhook.rs` | webhook verification, deduplication and dispatch |
//! | `live.rs` | connection changes reaching the running engine ([`SyncEngine::refresh_connections`]), the push hold ([`SyncEngine::pushes_held`]) |
//! | `inventory.rs` | inventory changes (webhooks, listing re-reads) and manual adjustments |
//! | `outbox/mod.rs` | the outbox passes over every store, draining it |
//! | `outbox/claim.rs` | claiming a store's due items, renewing the claim while they are pushed |
//! | `outbox/push.rs` | preparing the claimed items and the channel's write calls |
//! | `outbox/fate.rs` | how each item ended (pure: a channel's outcome or error to a fate, a fate to the outbox result) |
//! | `outbox/finish.rs` | writing the items' fates back: rows, audit entries, re-planned pushes, outbox results |
//! | `full_sync.rs` | the full reconcile: read every store, take the reads in, plan, push |
//! | `events.rs` | the full reconcile's [`SyncEvent`]s, [`SyncSummary`] and [`SyncHandle`] |
//! | `scheduler/` | the running engine ([`RunningEngine`]): outbox lanes, store leases, the scheduler's ticks (polls, the daily reconcile, "sync now" requests) |

mod commit;
mod config;
mod engine;
mod events;
mod full_sync;
mod held;
mod inventory;
mod live;
mod orders;
mod outbox;
pub(crate) mod rejections;
mod scheduler;
mod state;
pub(crate) mod webhook;

pub use config::{RestockPolicy, SyncConfig};
pub use engine::{SyncEngine, SyncEngineBuilder};
pub use events::{SyncEvent, SyncHandle, SyncSummary};
pub use orders::IngestReport;
pub use outbox::OutboxReport;
pub use scheduler::RunningEngine;
pub(crate) use state::{Ownership, ownership_issue};
pub use webhook::WebhookOutcome;
