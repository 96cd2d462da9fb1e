//! Fault injection: the next `count` API requests fail in a chosen way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How an injected fault answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer with this HTTP status (and a `Retry-After` header in seconds when set), without touching
    /// state.
    Status {
        /// The HTTP status, e.g. 429 or 503.
        status: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
    },
    /// Wait this long, then serve the request normally.
    Delay(Duration),
    /// Close the connection without answering (state untouched).
    Drop,
    /// Answer `200 OK` with `Content-Type: application/json` and a body that does not parse (state
    /// untouched).
    Malformed,
    /// The next batch write (Takealot offers batch, WooCommerce `…/batch`, …) fails some of its items:
    /// see [`PartialBatch`]. Not consumed by ordinary requests.
    PartialBatch,
}

impl FaultKind {
    /// The wire name (`status`, `delay`, `drop`, `malformed`, `partial_batch`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Delay(_) => "delay",
            Self::Drop => "drop",
            Self::Malformed => "malformed",
            Self::PartialBatch => "partial_batch",
        }
    }
}

/// A fault to inject: a kind, how many requests it hits, and optionally which paths.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// How the request fails.
    pub kind: FaultKind,
    /// How many requests (or batch writes, for [`FaultKind::PartialBatch`]) it hits; at least 1.
    pub count: u32,
    /// Only requests whose path starts with this prefix; any API request when `None`.
    pub path_prefix: Option<String>,
}

impl Fault {
    /// Answers with `status` once.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status { status, retry_after: None })
    }

    /// Answers `429 Too Many Requests` with `Retry-After: retry_after_secs` once.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(FaultKind::Status { status: 429, retry_after: Some(retry_after_secs) })
    }

    /// Delays one request by `delay`.
    pub fn delay(delay: Duration) -> Self {
        Self::new(FaultKind::Delay(delay))
    }

    /// Drops one connection without an answer.
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::Drop)
    }

    /// Answers one request with an unparseable `200`.
    pub fn malformed() -> Self {
        Self::new(FaultKind::Malformed)
    }

    /// Makes the next batch write fail some items.
    pub fn partial_batch() -> Self {
        Self::new(FaultKind::PartialBatch)
    }

    /// A fault of `kind`, once, on any path.
    pub fn new(kind: FaultKind) -> Self {
        Self { kind, count: 1, path_prefix: None }
    }

    /// Hits `count` requests instead of one.
    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.count = count.max(1);
        self
    }

    /// Hits only requests whose path starts with `prefix`.
    #[must_use]
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Adds `Retry-After` to a [`FaultKind::Status`] fault (no effect on other kinds).
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(secs);
        }
        self
    }
}

/// `POST /_sandbox/faults` body:
/// `{"kind": "status"|"delay"|"drop"|"malformed"|"partial_batch", "status", "retry_after", "count",
/// "delay_ms", "path"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultRequest {
    /// The fault kind's wire name.
    pub kind: String,
    /// For `status`: the HTTP status (default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// For `status`: `Retry-After` seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How many requests it hits (default 1).
    #[serde(default)]
    pub count: Option<u32>,
    /// For `delay`: milliseconds (default 1000).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Only paths starting with this prefix.
    #[serde(default)]
    pub path: Option<String>,
}

impl TryFrom<FaultRequest> for Fault {
    type Error = String;

    fn try_from(request: FaultRequest) -> Result<Self, Self::Error> {
        let kind = match request.kind.as_str() {
            "status" => {
                let status = request.status.unwrap_or(503);
                if !(100..=599).contains(&status) {
                    return Err(format!("status {status} is not an HTTP status"));
                }
                FaultKind::Status { status, retry_after: request.retry_after }
            }
            "delay" => FaultKind::Delay(Duration::from_millis(request.delay_ms.unwrap_or(1000))),
            "drop" => FaultKind::Drop,
            "malformed" => FaultKind::Malformed,
            "partial_batch" => FaultKind::PartialBatch,
            other => return Err(format!("unknown fault kind {other:?}")),
        };
        let mut fault = Fault::new(kind).times(request.count.unwrap_or(1));
        fault.path_prefix = request.path;
        Ok(fault)
    }
}

/// Which items of a batch write fail under a [`FaultKind::PartialBatch`] fault: every item at an odd
/// position (the 2nd, 4th, …), or the only item of a one-item batch. Failed items are reported with a
/// transient ("try again") error and leave state untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartialBatch;

impl PartialBatch {
    /// Whether item `index` of a batch of `len` items fails.
    pub fn fails(&self, index: usize, len: usize) -> bool {
        len == 1 || index % 2 == 1
    }
}

/// The queue of pending faults, shared by an emulator's handlers.
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    queue: Arc<Mutex<VecDeque<Fault>>>,
}

impl FaultInjector {
    /// Queues a fault behind any already queued.
    pub fn inject(&self, fault: Fault) {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push_back(fault);
    }

    /// Drops every queued fault.
    pub fn clear(&self) {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The faults still queued.
    pub fn pending(&self) -> Vec<Fault> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    /// Takes one hit of the first queued request-level fault matching `path`, if any.
    pub fn next_for_request(&self, path: &str) -> Option<FaultKind> {
        self.take(|fault| !matches!(fault.kind, FaultKind::PartialBatch) && matches_path(fault, path))
    }

    /// Takes one hit of a queued [`FaultKind::PartialBatch`] fault matching `path`, if any. Batch handlers
    /// call this once per batch write.
    pub fn take_partial_batch(&self, path: &str) -> Option<PartialBatch> {
        self.take(|fault| matches!(fault.kind, FaultKind::PartialBatch) && matches_path(fault, path))
            .map(|_| PartialBatch)
    }

    fn take(&self, wanted: impl Fn(&Fault) -> bool) -> Option<FaultKind> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let index = queue.iter().position(wanted)?;
        let fault = &mut queue[index];
        let kind = fault.kind.clone();
        fault.count = fault.count.saturating_sub(1);
        if fault.count == 0 {
            queue.remove(index);
        }
        Some(kind)
    }
}

fn matches_path(fault: &Fault, path: &str) -> bool {
    fault.path_prefix.as_deref().is_none_or(|prefix| path.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_and_respects_paths() {
        let faults = FaultInjector::default();
        faults.inject(Fault::status(503).times(2).on_path("/v2/offers"));
        faults.inject(Fault::partial_batch());
        assert_eq!(faults.next_for_request("/v2/sales"), None);
        assert!(matches!(faults.next_for_request("/v2/offers/1"), Some(FaultKind::Status { status: 503, .. })));
        assert!(faults.next_for_request("/v2/offers").is_some());
        assert_eq!(faults.next_for_request("/v2/offers"), None);
        assert!(faults.take_partial_batch("/x").is_some());
        assert!(faults.take_partial_batch("/x").is_none());
    }

    #[test]
    fn wire_form_parses() {
        let request: FaultRequest = serde_json::from_str(r#"{"kind":"status","status":429,"retry_after":3,"count":2}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let fault = Fault::try_from(request).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fault.kind, FaultKind::Status { status: 429, retry_after: Some(3) });
        assert_eq!(fault.count, 2);
        let bad = FaultRequest {
            kind: "explode".into(),
            status: None,
            retry_after: None,
            count: None,
            delay_ms: None,
            path: None,
        };
        assert!(Fault::try_from(bad).is_err());
        assert!(PartialBatch.fails(0, 1) && PartialBatch.fails(1, 3) && !PartialBatch.fails(2, 3));
    }
}
