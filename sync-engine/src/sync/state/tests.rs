//! The engine's decisions, checked on a cached state built from rows: no store, no channel, no clock.
//!
//! The fixture: `src` is the source of truth (MUG 10, TEA 5 on hand), `tk` another store showing MUG 10
//! and the bundle PAIR (2×MUG + 1×TEA) 5; every listing shows what the plan wants.

use std::collections::{HashMap, HashSet};

use channel_core::{
    ChannelKind, Fulfilment, InventoryChange, Listing, ListingId, Order, OrderLine, OrderStatus, Sku, StoreId,
};
use jiff::{SignedDuration, Timestamp};

use super::inventory::reported_quantity;
use super::order_line::{LineChange, line_change, released_target};
use super::pushed::shows_after;
use super::{InventoryDecision, InventoryInput, Planned, Reread, State};
use crate::store::{
    Component, ConnectionRecord, ListingRecord, MovementCause, OrderLineRecord, ProductRecord, PushAction, Scope,
    SealedCredentials, WriteBatch, WriteOp,
};
use crate::sync::RestockPolicy;

fn now() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn id(s: &str) -> StoreId {
    StoreId::new(s)
}

fn lid(s: &str) -> ListingId {
    ListingId::new(s)
}

fn connection(store: &str, channel: ChannelKind, source: bool) -> ConnectionRecord {
    let mut c = ConnectionRecord::new(id(store), channel, store, Scope::Client(Default::default()), now());
    c.source_of_truth = source;
    c.credentials = Some(SealedCredentials::from_sealed("sealed".into()));
    c.version = 1;
    c
}

fn listing(store: &str, listing: &str, linked: &str, seen: i64) -> ListingRecord {
    let mut r = ListingRecord::new(id(store), lid(listing), linked);
    r.sku = Some(sku(linked));
    r.seen_quantity = Some(seen);
    r.seen_at = Some(now() - SignedDuration::from_hours(1));
    r.version = 1;
    r
}

fn fixture() -> State {
    let connections = [connection("src", ChannelKind::Shopify, true), connection("tk", ChannelKind::Takealot, false)]
        .into_iter()
        .map(|c| (c.store.clone(), c))
        .collect();
    let products = [
        ProductRecord::simple(sku("MUG"), now()),
        ProductRecord::simple(sku("TEA"), now()),
        ProductRecord::bundle(
            sku("PAIR"),
            vec![Component { sku: sku("MUG"), quantity: 2 }, Component { sku: sku("TEA"), quantity: 1 }],
            now(),
        ),
    ]
    .into_iter()
    .map(|p| (p.sku.clone(), p))
    .collect();
    let listings = [
        listing("src", "L-MUG", "MUG", 10),
        listing("src", "L-TEA", "TEA", 5),
        listing("tk", "T-MUG", "MUG", 10),
        listing("tk", "T-PAIR", "PAIR", 5),
    ]
    .into_iter()
    .map(|l| ((l.store.clone(), l.listing.clone()), l))
    .collect();
    let state = State::from_rows(connections, products, listings, HashMap::new()).unwrap();
    assert!(state.reconciler.plan().updates.is_empty(), "the fixture starts in step");
    state
}

/// The absolute sets queued in `batch`, sorted: (store, listing, quantity, expected).
fn sets(batch: &WriteBatch) -> Vec<(String, String, i64, Option<i64>)> {
    let mut out: Vec<_> = batch
        .ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::Enqueue { push, .. } => match push.action {
                PushAction::SetStock { quantity, expected } => {
                    Some((push.store.to_string(), push.listing.to_string(), quantity, expected))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The ledger movements recorded in `batch`: (SKU, delta, cause).
fn movements(batch: &WriteBatch) -> Vec<(String, i64, MovementCause)> {
    batch
        .ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::RecordMovement(m) => Some((m.sku.to_string(), m.delta, m.cause)),
            _ => None,
        })
        .collect()
}

fn order(status: OrderStatus, lines: Vec<OrderLine>) -> Order {
    Order::new("O-1", status, "paid", lines, now(), now())
}

// --- What an order line means -------------------------------------------------------------------------

#[test]
fn released_units_follow_the_policy_and_the_status() {
    let line = OrderLine::new("1", "MUG", 3);
    let all = RestockPolicy::all();
    assert_eq!(released_target(&line, OrderStatus::Cancelled, all), (3, MovementCause::Cancellation));
    assert_eq!(released_target(&line, OrderStatus::Cancelled, RestockPolicy::none()), (0, MovementCause::Cancellation));
    assert_eq!(released_target(&line, OrderStatus::Returned, all), (3, MovementCause::Return));
    let partly = line.clone().with_refunded(1);
    assert_eq!(released_target(&partly, OrderStatus::Returned, all), (1, MovementCause::Return));
    assert_eq!(released_target(&partly, OrderStatus::Open, all), (1, MovementCause::Return));
    assert_eq!(released_target(&partly, OrderStatus::Returned, RestockPolicy::cancellations_only()).0, 0);
}

#[test]
fn a_new_line_sells_and_a_line_first_seen_cancelled_moves_nothing() {
    let line = OrderLine::new("1", "MUG", 3);
    let store = id("tk");
    let sale = line_change(
        None,
        &store,
        &order(OrderStatus::Open, vec![]),
        &line,
        Some(sku("MUG")),
        RestockPolicy::all(),
        now(),
    );
    let LineChange::Apply { record, units, cause, is_new } = sale else { panic!("a new line applies") };
    assert_eq!((units, cause, is_new), (-3, MovementCause::Order, true));
    assert_eq!((record.quantity, record.released, record.sku), (3, 0, Some(sku("MUG"))));
    assert_eq!(record.version, 0, "inserted once only");

    let cancelled =
        line_change(None, &store, &order(OrderStatus::Cancelled, vec![]), &line, None, RestockPolicy::none(), now());
    let LineChange::Apply { record, units, .. } = cancelled else { panic!("a new line applies") };
    assert_eq!((units, record.released), (0, 3), "never held stock, whatever the policy");
}

#[test]
fn a_known_line_applies_only_what_changed() {
    let store = id("tk");
    let line = OrderLine::new("1", "MUG", 3);
    let known = OrderLineRecord::new(store.clone(), "O-1".into(), "1", 3, OrderStatus::Open, now());
    let same =
        line_change(Some(&known), &store, &order(OrderStatus::Open, vec![]), &line, None, RestockPolicy::all(), now());
    assert_eq!(same, LineChange::Duplicate);

    let cancel = order(OrderStatus::Cancelled, vec![]);
    let LineChange::Apply { record, units, cause, is_new } =
        line_change(Some(&known), &store, &cancel, &line, None, RestockPolicy::all(), now())
    else {
        panic!("a cancellation applies")
    };
    assert_eq!((units, cause, is_new, record.released), (3, MovementCause::Cancellation, false, 3));
    // Applied again: nothing new.
    assert_eq!(
        line_change(Some(&record), &store, &cancel, &line, None, RestockPolicy::all(), now()),
        LineChange::Duplicate
    );
    // Not restocked by policy: the status is recorded, no stock moves.
    let LineChange::Apply { units, .. } =
        line_change(Some(&known), &store, &cancel, &line, None, RestockPolicy::none(), now())
    else {
        panic!("the status change is recorded")
    };
    assert_eq!(units, 0);
}

#[test]
fn a_sale_moves_the_source_and_queues_every_listing_it_changes() {
    let mut state = fixture();
    let line = OrderLine::new("1", "MUG", 2).with_listing("T-MUG");
    let sale = order(OrderStatus::Open, vec![line.clone()]);
    let (batch, report) =
        state.apply_order_line(&id("tk"), &sale, &line, None, RestockPolicy::default(), now()).unwrap();
    let batch = batch.expect("a new line has a batch");
    assert!(matches!(batch.ops.first(), Some(WriteOp::PutOrderLine(r)) if r.version == 0), "the marker first");
    assert_eq!(movements(&batch), vec![("MUG".into(), -2, MovementCause::Order)]);
    // The source's on hand is set to 8; the other store's MUG follows, and PAIR falls to 8 / 2 = 4.
    assert_eq!(
        sets(&batch),
        vec![
            ("src".into(), "L-MUG".into(), 8, None),
            ("tk".into(), "T-MUG".into(), 8, None),
            ("tk".into(), "T-PAIR".into(), 4, None),
        ]
    );
    assert_eq!((report.new_lines, report.pushes), (1, 3));
    assert_eq!(state.on_hand(&sku("MUG")), Some(8));
    // The plan was computed from the source's TEA row too: the batch checks its version.
    assert!(batch.ops.iter().any(|op| matches!(op,
        WriteOp::Check(crate::store::Precondition::ListingVersion { listing, .. }) if listing.as_str() == "L-TEA")));
}

#[test]
fn a_duplicate_line_has_no_batch_and_an_unknown_sku_moves_nothing() {
    let mut state = fixture();
    let line = OrderLine::new("1", "MUG", 2);
    let sale = order(OrderStatus::Open, vec![line.clone()]);
    let known = OrderLineRecord::new(id("tk"), "O-1".into(), "1", 2, OrderStatus::Open, now());
    let (batch, report) =
        state.apply_order_line(&id("tk"), &sale, &line, Some(&known), RestockPolicy::default(), now()).unwrap();
    assert!(batch.is_none());
    assert_eq!(report.duplicates, 1);

    let ghost = OrderLine::new("2", "GHOST", 1);
    let (batch, report) =
        state.apply_order_line(&id("tk"), &sale, &ghost, None, RestockPolicy::default(), now()).unwrap();
    let batch = batch.expect("the line is recorded");
    assert_eq!((report.new_lines, report.unknown, report.pushes), (1, 1, 0));
    assert!(movements(&batch).is_empty());

    let held = OrderLine::new("3", "MUG", 1).with_fulfilment(Fulfilment::Channel);
    let (batch, report) =
        state.apply_order_line(&id("tk"), &sale, &held, None, RestockPolicy::default(), now()).unwrap();
    assert!(movements(&batch.unwrap()).is_empty(), "channel-held stock is not the seller's");
    assert_eq!((report.unknown, report.pushes), (0, 0));
    assert_eq!(state.on_hand(&sku("MUG")), Some(10));
}

#[test]
fn a_line_the_catalog_cannot_count_is_held_then_applied_once_a_read_links_it() {
    let mut state = fixture();
    // A listing of a product the engine has never read: held, nothing moves, nothing is pushed.
    let line = OrderLine::new("1", "NEW", 2).with_listing("T-NEW");
    let sale = order(OrderStatus::Open, vec![line.clone()]);
    let (batch, report) =
        state.apply_order_line(&id("tk"), &sale, &line, None, RestockPolicy::default(), now()).unwrap();
    let batch = batch.expect("the line is recorded");
    let Some(WriteOp::PutOrderLine(held)) = batch.ops.first() else { panic!("the marker first") };
    assert!(held.held && held.sku.is_none());
    assert_eq!((held.listing.clone(), held.channel_sku.as_str()), (Some(lid("T-NEW")), "NEW"));
    assert!(movements(&batch).is_empty() && sets(&batch).is_empty());
    assert_eq!((report.new_lines, report.unknown, report.pushes), (1, 1, 0));
    let mut stored = held.clone();
    stored.version = 1;
    assert!(state.resolve_held(&stored, false, now()).unwrap().is_none(), "still unknown");

    // A read links it: the source lists NEW with 7, `tk`'s listing shows 9.
    state.products.insert(sku("NEW"), ProductRecord::simple(sku("NEW"), now()));
    for l in [listing("src", "L-NEW", "NEW", 7), listing("tk", "T-NEW", "NEW", 9)] {
        state.listings.insert((l.store.clone(), l.listing.clone()), l);
    }
    state.rebuild().unwrap();
    let (batch, pushes) = state.resolve_held(&stored, false, now()).unwrap().expect("it counts now");
    let Some(WriteOp::PutOrderLine(applied)) = batch.ops.first() else { panic!("the marker first") };
    assert_eq!((applied.held, applied.sku.clone(), applied.version), (false, Some(sku("NEW")), 1), "version-checked");
    assert_eq!(movements(&batch), vec![("NEW".into(), -2, MovementCause::Order)]);
    assert_eq!(sets(&batch), vec![("src".into(), "L-NEW".into(), 5, None), ("tk".into(), "T-NEW".into(), 5, None)]);
    assert_eq!((pushes, state.on_hand(&sku("NEW"))), (2, Some(5)));

    // The source's own sale, linked by a read made after it: recorded, the on hand not moved again.
    let mut own = stored.clone();
    own.store = id("src");
    own.listing = Some(lid("L-NEW"));
    let (batch, _) = state.resolve_held(&own, true, now()).unwrap().expect("it counts now");
    assert_eq!(movements(&batch), vec![("NEW".into(), -2, MovementCause::Order)]);
    assert!(sets(&batch).iter().all(|(store, ..)| store != "src"));
    assert_eq!(state.on_hand(&sku("NEW")), Some(5));
}

#[test]
fn a_product_the_source_does_not_list_is_held_and_channel_fulfilled_lines_are_not() {
    let mut state = fixture();
    state.products.insert(sku("LOOSE"), ProductRecord::simple(sku("LOOSE"), now()));
    state.rebuild().unwrap();
    let line = OrderLine::new("1", "LOOSE", 1);
    let sale = order(OrderStatus::Open, vec![line.clone()]);
    let (batch, report) =
        state.apply_order_line(&id("tk"), &sale, &line, None, RestockPolicy::default(), now()).unwrap();
    assert!(matches!(batch.unwrap().ops.first(), Some(WriteOp::PutOrderLine(r)) if r.held));
    assert_eq!(report.unknown, 1, "no stock of it at the source to move");
    let fba = OrderLine::new("2", "GHOST", 1).with_fulfilment(Fulfilment::Channel);
    let (batch, report) =
        state.apply_order_line(&id("tk"), &sale, &fba, None, RestockPolicy::default(), now()).unwrap();
    assert!(matches!(batch.unwrap().ops.first(), Some(WriteOp::PutOrderLine(r)) if !r.held));
    assert_eq!(report.unknown, 0);
}

// --- What an inventory change means ---------------------------------------------------------------------

fn inventory<'a>(
    store: &'a StoreId,
    change: &'a InventoryChange,
    reread: Option<Reread>,
    in_flight: &'a HashSet<ListingId>,
) -> InventoryInput<'a> {
    InventoryInput {
        store,
        topic: "inventory_levels/update",
        change,
        quantity: reported_quantity(change).unwrap(),
        reread,
        in_flight,
        now: now(),
        quiet: SignedDuration::from_secs(15),
    }
}

fn snapshot(listing: &str, quantity: i64) -> InventoryChange {
    InventoryChange::new(Some(lid(listing)), None, Some(quantity))
}

#[test]
fn what_a_snapshot_says_is_ignored_before_anything_is_read() {
    assert_eq!(
        reported_quantity(&snapshot("T-MUG", 3).with_fulfilment(Fulfilment::Channel)),
        Err("channel-held stock")
    );
    assert_eq!(
        reported_quantity(&InventoryChange::new(Some(lid("T-MUG")), None, None)),
        Err("no quantity in the payload")
    );
    assert_eq!(reported_quantity(&snapshot("T-MUG", 3)), Ok(3));
}

#[test]
fn echoes_unknown_listings_and_pushes_in_flight_are_ignored() {
    let state = fixture();
    let (tk, none) = (id("tk"), HashSet::new());
    let echo = snapshot("T-MUG", 10);
    assert_eq!(
        state.decide_inventory(&inventory(&tk, &echo, None, &none)),
        InventoryDecision::Ignore("echo of the engine's own push")
    );
    let ghost = snapshot("GHOST", 3);
    assert_eq!(
        state.decide_inventory(&inventory(&tk, &ghost, None, &none)),
        InventoryDecision::Ignore("unknown listing")
    );
    let by_sku = InventoryChange::new(None, Some("MUG".into()), Some(10));
    assert_eq!(
        state.decide_inventory(&inventory(&tk, &by_sku, None, &none)),
        InventoryDecision::Ignore("echo of the engine's own push"),
        "found by its channel SKU"
    );
    let busy: HashSet<ListingId> = [lid("T-MUG")].into();
    let fall = snapshot("T-MUG", 7);
    assert_eq!(
        state.decide_inventory(&inventory(&tk, &fall, None, &busy)),
        InventoryDecision::Ignore("a push to this listing is in flight")
    );
}

#[test]
fn a_rise_elsewhere_sends_the_planned_quantity_again() {
    let mut state = fixture();
    let (tk, none) = (id("tk"), HashSet::new());
    let rise = snapshot("T-MUG", 15);
    let decision = state.decide_inventory(&inventory(&tk, &rise, None, &none));
    let expected = Planned { store: tk.clone(), listing: lid("T-MUG"), sku: sku("MUG"), from: 15, to: 10 };
    assert_eq!(decision, InventoryDecision::SendAgain(expected.clone()));
    let mut batch = WriteBatch::new();
    assert_eq!(state.send_again(&expected, now(), &mut batch), 1);
    assert_eq!(sets(&batch), vec![("tk".into(), "T-MUG".into(), 10, None)]);
    assert!(batch.ops.iter().any(|op| matches!(op, WriteOp::Audit(_))), "audited");
}

#[test]
fn a_fall_elsewhere_is_recorded_and_left_to_its_order() {
    let mut state = fixture();
    let (tk, none) = (id("tk"), HashSet::new());
    let fall = snapshot("T-MUG", 7);
    let input = inventory(&tk, &fall, None, &none);
    let InventoryDecision::TakeIn { listing, old, is_source_on_hand } = state.decide_inventory(&input) else {
        panic!("taken in")
    };
    assert_eq!((old, is_source_on_hand), (Some(10), false));
    let mut batch = WriteBatch::new();
    assert_eq!(state.take_in_quantity(&input, &listing, old, is_source_on_hand, &mut batch).unwrap(), 0);
    assert!(movements(&batch).is_empty());
    assert!(matches!(&batch.ops[0], WriteOp::PutListing(r) if r.seen_quantity == Some(7)));
    assert_eq!(state.on_hand(&sku("MUG")), Some(10), "the on hand waits for the order");
}

#[test]
fn a_change_on_the_source_is_taken_in_and_the_others_follow() {
    let mut state = fixture();
    let (src, none) = (id("src"), HashSet::new());
    let rise = snapshot("L-MUG", 12);
    let input = inventory(&src, &rise, None, &none);
    let InventoryDecision::TakeIn { listing, old, is_source_on_hand } = state.decide_inventory(&input) else {
        panic!("taken in")
    };
    assert!(is_source_on_hand);
    let mut batch = WriteBatch::new();
    assert_eq!(state.take_in_quantity(&input, &listing, old, is_source_on_hand, &mut batch).unwrap(), 1);
    assert_eq!(movements(&batch), vec![("MUG".into(), 2, MovementCause::ManualAdjustment)]);
    // PAIR stays at 5 (TEA allows 5; MUG now 6).
    assert_eq!(sets(&batch), vec![("tk".into(), "T-MUG".into(), 12, None)]);
    assert_eq!(state.on_hand(&sku("MUG")), Some(12));
}

#[test]
fn a_delta_moved_source_and_a_busy_reread_are_read_again() {
    let mut state = fixture();
    state.delta_stores.insert(id("src"));
    let (src, none) = (id("src"), HashSet::new());
    let rise = snapshot("L-MUG", 12);
    assert_eq!(
        state.decide_inventory(&inventory(&src, &rise, None, &none)),
        InventoryDecision::Reread { listing: lid("L-MUG"), reason: "a delta-moved source: listing re-read queued" }
    );
    let version = state.listings[&(id("src"), lid("L-MUG"))].version;
    let quiet = Reread { version: Some(version), busy: false };
    assert!(matches!(
        state.decide_inventory(&inventory(&src, &rise, Some(quiet), &none)),
        InventoryDecision::TakeIn { .. }
    ));
    let busy = Reread { version: Some(version), busy: true };
    assert!(matches!(
        state.decide_inventory(&inventory(&src, &rise, Some(busy), &none)),
        InventoryDecision::Reread { .. }
    ));
    let moved = Reread { version: Some(version - 1), busy: false };
    assert!(matches!(
        state.decide_inventory(&inventory(&src, &rise, Some(moved), &none)),
        InventoryDecision::Reread { .. }
    ));
    // The model moved a moment ago: orders may still be coming in.
    state.listings.get_mut(&(id("src"), lid("L-MUG"))).unwrap().pushed_at = Some(now() - SignedDuration::from_secs(5));
    assert_eq!(
        state.decide_inventory(&inventory(&src, &rise, Some(quiet), &none)),
        InventoryDecision::Reread {
            listing: lid("L-MUG"),
            reason: "the source's model moved lately: re-read again once it is still"
        }
    );
}

// --- What a finished push means -------------------------------------------------------------------------

#[test]
fn what_a_listing_shows_after_a_push() {
    assert_eq!(shows_after(Some(7), None, Some(10), 8), Some(7), "what the channel said");
    assert_eq!(shows_after(None, Some(-2), Some(10), 0), Some(8), "a delta moves what it showed");
    assert_eq!(shows_after(None, Some(-2), None, 0), None, "unknown before, unknown after");
    assert_eq!(shows_after(None, None, Some(10), 8), Some(8), "an absolute set");
}

fn item(store: &str, listing: &str, action: PushAction) -> crate::store::OutboxItem {
    crate::store::OutboxItem {
        id: 1,
        push: crate::store::OutboxPush::new(id(store), lid(listing), action, "test"),
        state: crate::store::OutboxState::Claimed,
        attempts: 1,
        next_attempt_at: now(),
        claimed_by: Some("w".into()),
        claim_token: Some("t".into()),
        lease_until: None,
        last_error: None,
        created_at: now(),
        updated_at: now(),
    }
}

#[test]
fn an_applied_push_records_what_the_listing_shows() {
    let mut state = fixture();
    let pushed = item("tk", "T-MUG", PushAction::SetStock { quantity: 9, expected: None });
    let mut batch = WriteBatch::new();
    assert!(!state.record_applied(&id("tk"), &pushed, Some(sku("MUG")), (9, None), now(), &mut batch));
    assert_eq!(state.shown[&(id("tk"), lid("T-MUG"))], 9);
    assert!(matches!(&batch.ops[0], WriteOp::PutListing(r) if r.pushed_quantity == Some(9)));
    assert!(matches!(&batch.ops[1], WriteOp::Audit(_)));
}

#[test]
fn the_source_moved_while_its_push_was_on_its_way_sends_the_newer_quantity() {
    let mut state = fixture();
    let mut batch = WriteBatch::new();
    // A sale moved the model to 8 after 10 was sent.
    state.move_on_hand(&sku("MUG"), -2, now(), "sale", &mut batch).unwrap();
    let pushed = item("src", "L-MUG", PushAction::SetStock { quantity: 10, expected: None });
    let mut batch = WriteBatch::new();
    assert!(state.record_applied(&id("src"), &pushed, Some(sku("MUG")), (10, None), now(), &mut batch));
    assert_eq!(sets(&batch), vec![("src".into(), "L-MUG".into(), 8, None)]);
    assert!(!batch.ops.iter().any(|op| matches!(op, WriteOp::PutListing(_))), "the source's row holds the model");
}

#[test]
fn a_stale_write_is_replanned_against_what_the_channel_shows() {
    let mut state = fixture();
    state.cas_stores.insert(id("tk"));
    let pushed = item("tk", "T-MUG", PushAction::SetStock { quantity: 10, expected: Some(10) });
    let mut batch = WriteBatch::new();
    assert!(state.record_stale(&id("tk"), &pushed.push, Some(6), now(), &mut batch));
    assert_eq!(sets(&batch), vec![("tk".into(), "T-MUG".into(), 10, Some(6))]);
}

// --- What a full read means -----------------------------------------------------------------------------

#[test]
fn a_full_read_takes_in_the_source_and_learns_its_products() {
    let mut state = fixture();
    let read: HashMap<StoreId, Vec<Listing>> = [
        (id("src"), vec![Listing::new(lid("L-MUG"), "MUG", 12), Listing::new(lid("L-NEW"), "NEW", 4)]),
        (id("tk"), vec![Listing::new(lid("T-MUG"), "MUG", 9)]),
    ]
    .into();
    let mut batch = WriteBatch::new();
    assert_eq!(state.merge_reads(&read, &HashSet::new(), now(), &mut batch), 1);
    assert_eq!(movements(&batch), vec![("MUG".into(), 2, MovementCause::ReconcileCorrection)]);
    assert!(batch.ops.iter().any(|op| matches!(op, WriteOp::PutProduct(p) if p.sku == sku("NEW"))));
    assert_eq!(state.listings[&(id("tk"), lid("T-MUG"))].seen_quantity, Some(9));

    // A source listing busy while it was read keeps its model.
    let mut state = fixture();
    let busy: HashSet<(StoreId, ListingId)> = [(id("src"), lid("L-MUG"))].into();
    let mut batch = WriteBatch::new();
    assert_eq!(state.merge_reads(&read, &busy, now(), &mut batch), 0);
    assert_eq!(state.listings[&(id("src"), lid("L-MUG"))].seen_quantity, Some(10));
}

#[test]
fn the_full_plan_after_a_read_goes_to_the_stores_asked_for() {
    let mut state = fixture();
    let mut batch = WriteBatch::new();
    state.move_on_hand(&sku("MUG"), -4, now(), "sale", &mut batch).unwrap();
    let mut batch = WriteBatch::new();
    assert_eq!(state.queue_full_plan(Some(&[id("src")]), now(), &mut batch), 0);
    let queued = state.queue_full_plan(None, now(), &mut batch);
    assert_eq!(queued, 2);
    assert_eq!(sets(&batch), vec![("tk".into(), "T-MUG".into(), 6, None), ("tk".into(), "T-PAIR".into(), 3, None)]);
}
