//! How the engine runs: [`SyncConfig`] and the per-store [`RestockPolicy`].

use std::collections::HashMap;
use std::time::Duration;

use channel_core::StoreId;
use jiff::civil::Time;

/// What a cancellation or a return gives back to stock, per store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestockPolicy {
    /// A cancelled line's units go back to stock.
    pub cancellations: bool,
    /// Returned (refunded) units go back to stock.
    pub returns: bool,
}

impl RestockPolicy {
    /// Restock cancellations and returns.
    pub const fn all() -> Self {
        Self { cancellations: true, returns: true }
    }

    /// Restock neither (the seller counts returns back in by hand).
    pub const fn none() -> Self {
        Self { cancellations: false, returns: false }
    }

    /// Restock cancellations only (returned goods are inspected first).
    pub const fn cancellations_only() -> Self {
        Self { cancellations: true, returns: false }
    }
}

impl Default for RestockPolicy {
    /// Cancellations restock; returns do not (they are inspected and counted back in by hand).
    fn default() -> Self {
        Self::cancellations_only()
    }
}

/// How the engine runs. Built with [`SyncConfig::default`] and adjusted field by field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncConfig {
    /// This worker's name (outbox claims and store leases carry it).
    pub worker: String,
    /// How often live stores are polled for orders, as a fallback to webhooks.
    pub poll_interval: Duration,
    /// When (UTC) the daily full reconcile runs, for daily and live stores.
    pub daily_at: Time,
    /// How often the scheduler wakes up to look at what is due.
    pub tick: Duration,
    /// The most outbox items claimed at once.
    pub outbox_claim: usize,
    /// How long a claim lasts before another worker may take the item over (after a crash, the pushes the
    /// dead process had claimed wait this long).
    pub lease: Duration,
    /// Attempts before an item that keeps failing retryably is dead-lettered.
    pub max_attempts: u32,
    /// The first retry delay; it doubles per attempt up to [`SyncConfig::max_backoff`].
    pub base_backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
    /// How long pushes to a store that needs re-authentication are put off.
    pub reauth_hold: Duration,
    /// Restock policies per store; stores not listed use [`SyncConfig::default_restock`].
    pub restock: HashMap<StoreId, RestockPolicy>,
    /// The policy of stores not in [`SyncConfig::restock`].
    pub default_restock: RestockPolicy,
    /// How far back the first order poll of a store reaches.
    pub first_poll_lookback: Duration,
    /// How often listings queued for a re-read are re-read, one listing read per store for all of them:
    /// listings a webhook said changed without saying their quantity (Takealot "Offer Updated"), and the
    /// on-hand listings of a delta-moved source, whose inventory webhooks are snapshots in the platform's
    /// order and are verified by a re-read rather than taken in (docs/sync.md, "Delta pushes to the
    /// source"). Also how long such a source's model must have been still before a re-read of it is taken
    /// in: a sale whose order is not imported yet would otherwise count twice. (A rise reported on another
    /// store is not re-read: the quantity pushed last is sent again, see docs/sync.md, "Echoes and external
    /// changes".)
    pub refresh_interval: Duration,
    /// How many rejected webhook deliveries of a store (bad or missing signature, a store not connected,
    /// a body that cannot be read) within [`SyncConfig::webhook_rejection_window`] are answered with their
    /// own status and audited one row each (at least 1). Beyond it, further rejections of the store in that
    /// window are answered 429 with a retry-after, and audited together as one row when the window ends.
    /// Deliveries with a valid signature are never throttled (see `docs/sync.md`, "Rejected webhooks").
    pub webhook_rejection_limit: u32,
    /// The window of [`SyncConfig::webhook_rejection_limit`]; it starts at a store's first rejection.
    pub webhook_rejection_window: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            worker: format!("stocksync-{}", uuid::Uuid::new_v4().simple()),
            poll_interval: Duration::from_secs(180),
            daily_at: Time::constant(2, 0, 0, 0),
            tick: Duration::from_secs(1),
            outbox_claim: 1000,
            lease: Duration::from_secs(30),
            max_attempts: 12,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
            reauth_hold: Duration::from_secs(300),
            restock: HashMap::new(),
            default_restock: RestockPolicy::default(),
            first_poll_lookback: Duration::from_secs(24 * 3600),
            refresh_interval: Duration::from_secs(15),
            webhook_rejection_limit: 10,
            webhook_rejection_window: Duration::from_secs(60),
        }
    }
}

impl SyncConfig {
    /// The restock policy of a store.
    pub(crate) fn restock_for(&self, store: &StoreId) -> RestockPolicy {
        self.restock.get(store).copied().unwrap_or(self.default_restock)
    }

    /// The retry delay after `attempts` attempts.
    pub(crate) fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        self.base_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}
