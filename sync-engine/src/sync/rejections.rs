//! Rejected webhook deliveries, counted per store in windows of
//! [`SyncConfig::webhook_rejection_window`](super::SyncConfig::webhook_rejection_window) that start at a
//! store's first rejection. The first
//! [`SyncConfig::webhook_rejection_limit`](super::SyncConfig::webhook_rejection_limit) rejections of a window
//! are answered with their own status and audited one row each, at once; the rest are answered 429 with the
//! time left in the window, and audited together as one row when the window has ended (at the store's next
//! rejection, at the scheduler's next tick, or at shutdown).
//!
//! Memory is bounded: only stores the engine has a channel for are counted (the caller answers 404 for the
//! others before getting here), a window keeps at most [`MAX_REASONS`] distinct reasons, and a store's
//! window is dropped once it has ended and been audited.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use channel_core::StoreId;
use jiff::Timestamp;

use super::engine::after;
use crate::store::AuditEntry;

/// Distinct (status, reason) pairs kept per window; further ones are counted as "other reasons".
const MAX_REASONS: usize = 8;
/// The longest reason kept, in characters (reasons may quote what the sender sent).
const MAX_REASON_CHARS: usize = 160;

/// One store's current window.
#[derive(Debug)]
struct Window {
    started: Timestamp,
    /// Rejections in the window so far.
    count: u64,
    /// The rejections answered 429, not audited yet, by status and reason.
    throttled: BTreeMap<(u16, String), u64>,
    /// How many were answered 429 (the sum of `throttled` and `other`).
    throttled_total: u64,
    /// Throttled rejections whose reason did not fit in `throttled`.
    other: u64,
}

impl Window {
    fn end(&self, length: Duration) -> Timestamp {
        after(self.started, length)
    }

    fn count_throttled(&mut self, status: u16, reason: &str) {
        self.throttled_total += 1;
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let key = (status, reason);
        if let Some(n) = self.throttled.get_mut(&key) {
            *n += 1;
        } else if self.throttled.len() < MAX_REASONS {
            self.throttled.insert(key, 1);
        } else {
            self.other += 1;
        }
    }

    /// The audit row of the window's throttled rejections, if there were any.
    fn aggregate(&self, store: &StoreId, limit: u32, length: Duration, now: Timestamp) -> Option<AuditEntry> {
        if self.throttled_total == 0 {
            return None;
        }
        let end = self.end(length).min(now);
        let mut text = format!(
            "rejected {} more deliveries from {} to {}, answered 429 (more than {limit} rejections within {}s):",
            self.throttled_total,
            self.started,
            end,
            length.as_secs()
        );
        for ((status, reason), n) in &self.throttled {
            let _ = write!(text, " {n}× ({status}) {reason};");
        }
        if self.other > 0 {
            let _ = write!(text, " {}× other reasons;", self.other);
        }
        let text = text.trim_end_matches(';').to_owned();
        Some(AuditEntry::new(store.clone(), "webhook", text, end))
    }
}

/// What to do with a rejected delivery.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Answer with the rejection's own status and audit it now.
    Audit,
    /// Answer 429: the store's rejections passed the limit in this window.
    Throttle {
        /// The time left in the window.
        retry_after: Duration,
        /// The first throttled rejection of the window (worth one log line).
        first: bool,
    },
}

/// The rejection windows of every store (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    windows: Mutex<HashMap<StoreId, Window>>,
}

impl Rejections {
    /// Count a rejection of `store` at `now`: the verdict, and the audit row of the store's previous
    /// window if it ended with throttled rejections not audited yet.
    pub(crate) fn record(
        &self,
        store: &StoreId,
        status: u16,
        reason: &str,
        now: Timestamp,
        limit: u32,
        length: Duration,
    ) -> (Verdict, Option<AuditEntry>) {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ended = None;
        if windows.get(store).is_some_and(|w| w.end(length) <= now) {
            ended = windows.remove(store).and_then(|w| w.aggregate(store, limit, length, now));
        }
        let window = windows.entry(store.clone()).or_insert_with(|| Window {
            started: now,
            count: 0,
            throttled: BTreeMap::new(),
            throttled_total: 0,
            other: 0,
        });
        window.count += 1;
        // At least the first rejection of a window is audited on its own.
        if window.count <= u64::from(limit.max(1)) {
            return (Verdict::Audit, ended);
        }
        window.count_throttled(status, reason);
        let left = window.end(length).duration_since(now);
        let retry_after = Duration::try_from(left).unwrap_or(Duration::ZERO).max(Duration::from_secs(1));
        (Verdict::Throttle { retry_after, first: window.throttled_total == 1 }, ended)
    }

    /// Remove the windows that ended by `now` (every window when `all`), and return the audit rows of
    /// those with throttled rejections.
    pub(crate) fn take_ended(&self, now: Timestamp, limit: u32, length: Duration, all: bool) -> Vec<AuditEntry> {
        self.take_ended_of(now, limit, length, all, |_| true)
    }

    /// [`Rejections::take_ended`] for the stores `of` accepts only (rejections shared by a fleet's engines:
    /// each audits its own company's stores).
    pub(crate) fn take_ended_of(
        &self,
        now: Timestamp,
        limit: u32,
        length: Duration,
        all: bool,
        of: impl Fn(&StoreId) -> bool,
    ) -> Vec<AuditEntry> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let ended: Vec<StoreId> =
            windows.iter().filter(|(s, w)| (all || w.end(length) <= now) && of(s)).map(|(s, _)| s.clone()).collect();
        let mut rows = Vec::new();
        for store in ended {
            if let Some(row) = windows.remove(&store).and_then(|w| w.aggregate(&store, limit, length, now)) {
                rows.push(row);
            }
        }
        rows.sort_by(|a, b| a.store.cmp(&b.store));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn distinct_reasons_are_bounded() {
        let r = Rejections::default();
        let store = StoreId::new("s");
        let minute = Duration::from_secs(60);
        for i in 0..100 {
            r.record(&store, 401, &format!("reason {i} {}", "x".repeat(1000)), t(1), 1, minute);
        }
        let rows = r.take_ended(t(61), 1, minute, false);
        assert_eq!(rows.len(), 1);
        assert!(rows[0].reason.starts_with("rejected 99 more deliveries"), "{}", rows[0].reason);
        assert!(rows[0].reason.contains("91× other reasons"), "{}", rows[0].reason);
        assert!(rows[0].reason.len() < 8 * (MAX_REASON_CHARS + 20) + 200, "{}", rows[0].reason.len());
        assert!(r.windows.lock().unwrap().is_empty(), "an audited window is dropped");
    }

    #[test]
    fn a_window_without_throttled_rejections_leaves_no_row() {
        let r = Rejections::default();
        let minute = Duration::from_secs(60);
        assert!(matches!(r.record(&StoreId::new("s"), 401, "bad", t(0), 5, minute), (Verdict::Audit, None)));
        assert!(r.take_ended(t(60), 5, minute, false).is_empty());
        assert!(r.windows.lock().unwrap().is_empty());
    }
}
