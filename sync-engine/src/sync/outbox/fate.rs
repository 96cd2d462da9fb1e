//! How a pushed item ended ([`Fate`]), decided without I/O: from the channel's per-item outcome or its
//! error, and from a fate that needs no cached state to the item's outbox result.

use std::time::Duration;

use channel_core::{ErrorKind, ItemOutcome, ListingId, Outcome, StoreId};
use jiff::Timestamp;

use super::OutboxReport;
use super::push::Prepared;
use crate::store::{AuditEntry, OutboxItem, OutboxResult, WriteBatch, WriteOp};
use crate::sync::SyncConfig;
use crate::sync::engine::after;

/// How an item ended, before it is written back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Applied; `quantity` is what was sent (or reported), `reported` what the channel said it shows.
    Applied { quantity: i64, reported: Option<i64> },
    /// Refused by compare-and-set; the channel shows `actual`, when it says.
    Stale { actual: Option<i64> },
    /// To be retried after `wait`.
    Retry { error: String, wait: Duration },
    /// Dead-lettered.
    Dead { reason: String },
    /// Held (the store needs re-authentication or has no channel).
    Held { reason: String },
    /// A keyed delta whose call failed after it may have reached the platform (a timeout, a dropped
    /// connection): whether it applied is unknown. The item stays claimed, its content frozen, and is sent
    /// again under the same key when its lease ends — the platform answers with the first outcome if it
    /// had applied it. Putting it back to pending instead would let newer deltas merge into it, and the
    /// merged delta (a new key) would apply the first part twice.
    Unsettled { error: String },
}

/// The idempotency key of a delta push: the store, the outbox item and its content. An item's content
/// never changes while it may have been sent (claimed items are frozen; an item whose send may have
/// applied stays claimed, see [`Fate::Unsettled`]), so every resend carries the same key; pending items
/// that newer deltas merged into were never applied, and their new delta makes a new key. The creation
/// time keeps keys of a fresh database (ids starting again at 1) from meeting the platform's memory of
/// an old one.
pub(crate) fn adjustment_key(store: &StoreId, item: &OutboxItem, delta: i64) -> String {
    format!("stocksync/{store}/{}/{}/{delta}", item.id, item.created_at.as_millisecond())
}

/// Whether a failed write call may still have been applied by the platform (the request may have
/// reached it): transport failures and unreadable answers, not refusals.
fn may_have_applied(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::Auth
            | ErrorKind::RateLimited
            | ErrorKind::Validation
            | ErrorKind::NotFound
            | ErrorKind::Unsupported
            | ErrorKind::Config
    )
}

/// The fate of an item sent as `listing` at position `n` of a write call that answered `outcomes`.
/// `quantity`: the absolute quantity sent, if any. `keyed`: the item is a keyed delta, whose unknown
/// outcome is [`Fate::Unsettled`] rather than retried as a new write. `backoff`: the item's retry delay.
pub(crate) fn fate_of_outcome(
    outcomes: &[ItemOutcome],
    n: usize,
    listing: &ListingId,
    quantity: Option<i64>,
    keyed: bool,
    backoff: Duration,
) -> Fate {
    let outcome =
        outcomes.get(n).filter(|o| &o.listing == listing).or_else(|| outcomes.iter().find(|o| &o.listing == listing));
    match outcome.map(|o| &o.outcome) {
        Some(Outcome::Applied { quantity: reported }) => {
            Fate::Applied { quantity: quantity.or(*reported).unwrap_or(0), reported: *reported }
        }
        Some(Outcome::Stale { actual }) => Fate::Stale { actual: *actual },
        Some(Outcome::Rejected { reason, retryable: true }) => Fate::Retry { error: reason.clone(), wait: backoff },
        Some(Outcome::Rejected { reason, retryable: false }) => Fate::Dead { reason: reason.clone() },
        Some(_) | None if keyed => Fate::Unsettled { error: "the channel reported no outcome for this delta".into() },
        Some(_) | None => Fate::Retry { error: "the channel reported no outcome for this item".into(), wait: backoff },
    }
}

/// The fate of an item whose write call failed with `error`; `keyed` and `backoff` as in
/// [`fate_of_outcome`].
pub(crate) fn fate_of_error(error: &channel_core::Error, keyed: bool, backoff: Duration) -> Fate {
    let kind = error.kind();
    match kind {
        _ if keyed && may_have_applied(kind) => Fate::Unsettled { error: error.to_string() },
        ErrorKind::Auth => Fate::Held { reason: format!("needs re-authentication: {}", error.message()) },
        ErrorKind::Validation | ErrorKind::Unsupported | ErrorKind::NotFound | ErrorKind::Config => {
            Fate::Dead { reason: error.to_string() }
        }
        _ => Fate::Retry { error: error.to_string(), wait: error.retry_after().unwrap_or_default().max(backoff) },
    }
}

/// The outbox result of an item whose fate needs no cached state (a retry, a dead letter, a hold, an
/// unknown outcome), counted in `report`; an unsettled delta given up on is audited in `batch`. `None`:
/// the item is left claimed (see [`Fate::Unsettled`]). Applied and stale fates are the finish's.
pub(crate) fn settle(
    fate: Fate,
    store: &StoreId,
    sent: &Prepared,
    config: &SyncConfig,
    now: Timestamp,
    report: &mut OutboxReport,
    batch: &mut WriteBatch,
) -> Option<OutboxResult> {
    let item = &sent.item;
    let given_up = item.attempts >= config.max_attempts;
    match fate {
        Fate::Retry { error, .. } if given_up => {
            report.dead += 1;
            Some(OutboxResult::Dead { reason: format!("gave up after {} attempts: {error}", item.attempts) })
        }
        Fate::Retry { error, wait } => {
            report.retried += 1;
            Some(OutboxResult::Retry { error, at: after(now, wait) })
        }
        Fate::Dead { reason } => {
            report.dead += 1;
            Some(OutboxResult::Dead { reason })
        }
        Fate::Held { reason } => {
            report.held += 1;
            Some(OutboxResult::Retry { error: reason, at: after(now, config.reauth_hold) })
        }
        Fate::Unsettled { error } if given_up => {
            report.dead += 1;
            let delta = match item.push.action {
                crate::store::PushAction::AdjustStock { delta } => Some(delta),
                _ => None,
            };
            batch.push(WriteOp::Audit(
                AuditEntry::new(
                    store.clone(),
                    "quantity",
                    format!("{}: delta of unknown outcome dead-lettered", item.push.reason),
                    now,
                )
                .on_listing(item.push.listing.clone(), sent.sku.clone())
                .change(None, delta.map(|d| format!("{d:+}"))),
            ));
            Some(OutboxResult::Dead {
                reason: format!(
                    "gave up after {} attempts; whether the channel applied this delta is unknown: {error}",
                    item.attempts
                ),
            })
        }
        Fate::Unsettled { error } => {
            // Left claimed (see Fate::Unsettled): taken again, unchanged, when its lease ends.
            report.retried += 1;
            tracing::warn!(%store, id = item.id, %error, "delta of unknown outcome: resent under its key when its lease ends");
            None
        }
        // Not called for these: the finish writes them back with the cached state.
        Fate::Applied { .. } | Fate::Stale { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use channel_core::{ItemOutcome, ListingId, Outcome, StoreId};
    use jiff::Timestamp;

    use super::{Fate, adjustment_key, fate_of_error, fate_of_outcome, settle};
    use crate::store::{OutboxItem, OutboxPush, OutboxResult, OutboxState, PushAction, WriteBatch, WriteOp};
    use crate::sync::SyncConfig;
    use crate::sync::outbox::OutboxReport;
    use crate::sync::outbox::push::Prepared;

    const WAIT: Duration = Duration::from_secs(2);

    fn now() -> Timestamp {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    fn item(action: PushAction, attempts: u32) -> OutboxItem {
        OutboxItem {
            id: 7,
            push: OutboxPush::new(StoreId::new("shop"), ListingId::new("L-1"), action, "order O-1 on tk"),
            state: OutboxState::Claimed,
            attempts,
            next_attempt_at: now(),
            claimed_by: Some("w".into()),
            claim_token: Some("t".into()),
            lease_until: None,
            last_error: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn outcome(listing: &str, outcome: Outcome) -> ItemOutcome {
        ItemOutcome { listing: ListingId::new(listing), outcome }
    }

    #[test]
    fn each_outcome_has_its_fate() {
        let l1 = ListingId::new("L-1");
        let applied = [outcome("L-1", Outcome::Applied { quantity: Some(4) })];
        assert_eq!(
            fate_of_outcome(&applied, 0, &l1, Some(5), false, WAIT),
            Fate::Applied { quantity: 5, reported: Some(4) }
        );
        assert_eq!(
            fate_of_outcome(&applied, 0, &l1, None, false, WAIT),
            Fate::Applied { quantity: 4, reported: Some(4) }
        );
        let stale = [outcome("L-1", Outcome::Stale { actual: Some(3) })];
        assert_eq!(fate_of_outcome(&stale, 0, &l1, Some(5), false, WAIT), Fate::Stale { actual: Some(3) });
        let throttled = [outcome("L-1", Outcome::Rejected { reason: "slow down".into(), retryable: true })];
        assert_eq!(
            fate_of_outcome(&throttled, 0, &l1, Some(5), false, WAIT),
            Fate::Retry { error: "slow down".into(), wait: WAIT }
        );
        let refused = [outcome("L-1", Outcome::Rejected { reason: "disabled offer".into(), retryable: false })];
        assert_eq!(
            fate_of_outcome(&refused, 0, &l1, Some(5), false, WAIT),
            Fate::Dead { reason: "disabled offer".into() }
        );
    }

    #[test]
    fn outcomes_are_matched_by_listing_and_a_missing_one_is_never_taken_as_applied() {
        let l1 = ListingId::new("L-1");
        // Out of order: found by its listing.
        let outcomes =
            [outcome("L-2", Outcome::Applied { quantity: None }), outcome("L-1", Outcome::Stale { actual: None })];
        assert_eq!(fate_of_outcome(&outcomes, 0, &l1, Some(5), false, WAIT), Fate::Stale { actual: None });
        let others = [outcome("L-2", Outcome::Applied { quantity: None })];
        assert!(matches!(fate_of_outcome(&others, 0, &l1, Some(5), false, WAIT), Fate::Retry { .. }));
        assert!(
            matches!(fate_of_outcome(&others, 0, &l1, None, true, WAIT), Fate::Unsettled { .. }),
            "a keyed delta is resent under its key"
        );
    }

    #[test]
    fn each_error_has_its_fate() {
        let auth = channel_core::Error::auth("token revoked");
        assert_eq!(
            fate_of_error(&auth, false, WAIT),
            Fate::Held { reason: "needs re-authentication: token revoked".into() }
        );
        assert!(matches!(fate_of_error(&channel_core::Error::validation("bad"), false, WAIT), Fate::Dead { .. }));
        let throttled = channel_core::Error::rate_limited("429").with_retry_after(Duration::from_secs(30));
        assert!(
            matches!(fate_of_error(&throttled, false, WAIT), Fate::Retry { wait, .. } if wait == Duration::from_secs(30))
        );
        let brief = channel_core::Error::rate_limited("429").with_retry_after(Duration::from_millis(10));
        assert!(
            matches!(fate_of_error(&brief, false, WAIT), Fate::Retry { wait, .. } if wait == WAIT),
            "never sooner than the backoff"
        );
        let timeout = channel_core::Error::transient("timed out");
        assert!(matches!(fate_of_error(&timeout, false, WAIT), Fate::Retry { .. }));
        assert!(
            matches!(fate_of_error(&timeout, true, WAIT), Fate::Unsettled { .. }),
            "a keyed delta may have applied"
        );
        assert!(matches!(fate_of_error(&throttled, true, WAIT), Fate::Retry { .. }), "a throttled delta was refused");
    }

    #[test]
    fn settling_retries_gives_up_after_the_last_attempt_and_holds_for_reauthentication() {
        let config = SyncConfig::default();
        let store = StoreId::new("shop");
        let set = PushAction::SetStock { quantity: 3, expected: None };
        let settle_one = |fate: Fate, attempts: u32, report: &mut OutboxReport, batch: &mut WriteBatch| {
            let sent = Prepared { item: item(set.clone(), attempts), sent: Some(3), sku: None };
            settle(fate, &store, &sent, &config, now(), report, batch)
        };
        let (mut report, mut batch) = (OutboxReport::default(), WriteBatch::new());
        let retry = || Fate::Retry { error: "503".into(), wait: WAIT };
        assert!(matches!(settle_one(retry(), 1, &mut report, &mut batch), Some(OutboxResult::Retry { .. })));
        let last = settle_one(retry(), config.max_attempts, &mut report, &mut batch);
        assert!(matches!(last, Some(OutboxResult::Dead { reason }) if reason.starts_with("gave up after 12 attempts")));
        let held = settle_one(Fate::Held { reason: "reauth".into() }, 1, &mut report, &mut batch);
        assert!(
            matches!(held, Some(OutboxResult::Retry { at, .. }) if at == now() + jiff::SignedDuration::from_secs(300))
        );
        assert_eq!((report.retried, report.dead, report.held), (1, 1, 1));
        assert!(batch.ops.is_empty());
    }

    #[test]
    fn an_unsettled_delta_stays_claimed_until_its_last_attempt() {
        let config = SyncConfig::default();
        let store = StoreId::new("shop");
        let (mut report, mut batch) = (OutboxReport::default(), WriteBatch::new());
        let delta = Prepared { item: item(PushAction::AdjustStock { delta: -2 }, 1), sent: None, sku: None };
        let unsettled = || Fate::Unsettled { error: "timed out".into() };
        assert_eq!(settle(unsettled(), &store, &delta, &config, now(), &mut report, &mut batch), None);
        let spent =
            Prepared { item: item(PushAction::AdjustStock { delta: -2 }, config.max_attempts), sent: None, sku: None };
        assert!(matches!(
            settle(unsettled(), &store, &spent, &config, now(), &mut report, &mut batch),
            Some(OutboxResult::Dead { .. })
        ));
        assert!(matches!(&batch.ops[..], [WriteOp::Audit(_)]), "a delta of unknown outcome given up on is audited");
        assert_eq!((report.retried, report.dead), (1, 1));
    }

    #[test]
    fn a_delta_key_names_the_store_the_item_and_its_content() {
        let pushed = item(PushAction::AdjustStock { delta: -2 }, 1);
        let key = adjustment_key(&StoreId::new("shop"), &pushed, -2);
        assert_eq!(key, format!("stocksync/shop/7/{}/-2", now().as_millisecond()));
    }
}
