//! The [`Store`] conformance suite (feature `testing`).
//!
//! Every implementation of [`Store`] runs it from its tests:
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use sync_engine::{MemoryStore, Store};
//! sync_engine::testing::store_conformance(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
//! # }
//! ```
//!
//! Each check gets a fresh store from the factory. The concurrency checks spawn tasks on the current
//! tokio runtime: run the suite on a multi-threaded runtime (`#[tokio::test(flavor = "multi_thread")]`).
//! A failing check panics with a message naming it.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use channel_core::{
    AccountIdentity, ChannelKind, Currency, ErrorKind, ListingId, Money, OrderId, OrderStatus, Sku, StoreId,
};
use jiff::{SignedDuration, Timestamp};

use crate::store::*;

/// A fixed instant the checks count from (the store never reads the clock).
pub fn t0() -> Timestamp {
    Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH) // 2026-01-01T00:00:00Z
}

fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

fn sku(s: &str) -> Sku {
    // The suite's SKUs are literals known to be valid.
    Sku::new(s).unwrap_or_else(|e| panic!("test SKU {s:?}: {e}"))
}

fn sid(s: &str) -> StoreId {
    StoreId::new(s)
}

/// A connection row for tests.
pub fn sample_connection(store: &str, channel: ChannelKind) -> ConnectionRecord {
    let mut c = ConnectionRecord::new(sid(store), channel, format!("{store} shop"), Scope::Global, t0());
    c.credentials = Some(SealedCredentials::from_sealed("v1:sealed".to_owned()));
    c.account = Some(AccountIdentity::new(channel, format!("acct-{store}")));
    c
}

/// A linked listing row for tests.
pub(crate) fn sample_listing(store: &str, listing: &str, sku_: &str) -> ListingRecord {
    let mut l = ListingRecord::new(sid(store), ListingId::new(listing), sku_);
    l.sku = Some(sku(sku_));
    l.seen_quantity = Some(5);
    l.seen_at = Some(t0());
    l
}

fn stock(store: &str, listing: &str, quantity: i64) -> OutboxPush {
    OutboxPush::new(sid(store), ListingId::new(listing), PushAction::SetStock { quantity, expected: None }, "test")
}

/// Run every check against stores made by `make`.
pub async fn store_conformance<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    connections_round_trip(make().await).await;
    stale_version_conflicts(make().await).await;
    batches_are_atomic(make().await).await;
    catalog_and_listings(make().await).await;
    ledger_and_cursors(make().await).await;
    order_lines_and_deliveries_once(make().await).await;
    held_order_lines_resolve_once(make().await).await;
    outbox_coalesces_and_claims(make().await).await;
    outbox_leases_and_failures(make().await).await;
    outbox_finishes_many(make().await).await;
    outbox_claims_renewed(make().await).await;
    outbox_claimed_items_stay_as_claimed(make().await).await;
    leases_and_sync_requests(make().await).await;
    preconditions(make().await).await;
    audit_log(make().await).await;
    purge_store_rules(make().await).await;
    concurrent_writers(make().await).await;
    concurrent_claims_hand_out_each_item_once(make().await).await;
    concurrent_once_inserts(make().await).await;
    concurrent_balance_checks(make().await).await;
    companies_round_trip(make().await).await;
    companies_isolate_catalogs(make().await).await;
    companies_isolate_work(make().await).await;
    company_connections_scoped(make().await).await;
    purge_company_rules(make().await).await;
    workers_and_company_leases(make().await).await;
    inbox_per_company(make().await).await;
}

/// Connections: insert, read, filter, update with versions; health is separate from the version.
pub(crate) async fn connections_round_trip(store: Arc<dyn Store>) {
    // A client connection is written through its own company's view, which also sees the global ones.
    let store = store.for_company(&ClientId::new("acme"));
    let mut a = sample_connection("shopify-a", ChannelKind::Shopify);
    a.scope = Scope::Client(ClientId::new("acme"));
    a.warehouse = Some(WarehouseId::new("jhb"));
    a.settings = serde_json::json!({"location": "gid://shopify/Location/1"});
    let a = store.put_connection(a).await.expect("insert connection");
    assert_eq!(a.version, 1, "a new row has version 1");
    let b = store.put_connection(sample_connection("takealot", ChannelKind::Takealot)).await.expect("insert");
    let read = store.connection(&a.store).await.expect("read").expect("connection stored");
    assert_eq!(read, a, "connection round-trips");
    assert!(store.connection(&sid("nope")).await.expect("read").is_none());

    store
        .record_health(&b.store, HealthEvent::Failed { kind: ErrorKind::Auth, message: "401".into(), at: at(5) })
        .await
        .expect("health");
    let b2 = store.connection(&b.store).await.expect("read").expect("exists");
    assert_eq!(b2.health.credentials, CredentialStatus::NeedsReauth);
    assert_eq!(b2.version, b.version, "health does not bump the version");
    assert!(!b2.pushes_allowed());
    let mut renamed = b2.clone();
    renamed.name = "Takealot main".into();
    let b3 = store.put_connection(renamed).await.expect("update");
    let b3r = store.connection(&b.store).await.expect("read").expect("exists");
    assert_eq!(b3r.version, 2);
    assert_eq!(b3r.name, "Takealot main");
    assert_eq!(b3r.health.credentials, CredentialStatus::NeedsReauth, "an update keeps the stored health");
    assert_eq!(b3.version, b3r.version);
    let missing = store
        .record_health(&sid("ghost"), HealthEvent::CredentialsOk { at: at(1) })
        .await
        .expect_err("health of a missing connection");
    assert_eq!(missing.kind(), ErrorKind::NotFound);

    let all = store.connections(&ConnectionFilter::all()).await.expect("list");
    assert_eq!(all.len(), 2);
    let mut f = ConnectionFilter::all();
    f.client = Some(ClientId::new("acme"));
    assert_eq!(store.connections(&f).await.expect("list").len(), 2, "a client sees its own and global ones");
    f.client = Some(ClientId::new("other"));
    assert_eq!(store.connections(&f).await.expect("list").len(), 1);
    let mut f = ConnectionFilter::all();
    f.scope = Some(Scope::Global);
    assert_eq!(store.connections(&f).await.expect("list")[0].store, sid("takealot"));
    let mut f = ConnectionFilter::all();
    f.warehouse = Some(WarehouseId::new("jhb"));
    f.channel = Some(ChannelKind::Shopify);
    f.search = Some("SHOPIFY-A".into());
    assert_eq!(store.connections(&f).await.expect("list").len(), 1);
    f.channel = Some(ChannelKind::Amazon);
    assert!(store.connections(&f).await.expect("list").is_empty());
}

/// A write carrying a stale version fails with a conflict and changes nothing.
pub(crate) async fn stale_version_conflicts(store: Arc<dyn Store>) {
    let c = store.put_connection(sample_connection("woo", ChannelKind::Woocommerce)).await.expect("insert");
    let mut first = c.clone();
    first.name = "first".into();
    store.put_connection(first).await.expect("first writer wins");
    let mut second = c.clone();
    second.name = "second".into();
    let err = store.put_connection(second).await.expect_err("second writer has a stale version");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(store.connection(&c.store).await.expect("read").expect("exists").name, "first");
    let dup = store.put_connection(sample_connection("woo", ChannelKind::Woocommerce)).await.expect_err("duplicate");
    assert_eq!(dup.kind(), ErrorKind::Conflict);

    let l = sample_listing("woo", "1", "MUG");
    assert_eq!(store.put_listing(l.clone()).await.expect("insert listing"), 1);
    let mut l1 = store.listing(&sid("woo"), &ListingId::new("1")).await.expect("read").expect("exists");
    l1.seen_quantity = Some(9);
    assert_eq!(store.put_listing(l1.clone()).await.expect("update"), 2);
    let err = store.put_listing(l1).await.expect_err("stale listing");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = store.put_listing(l).await.expect_err("insert over existing");
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

/// A batch applies entirely or not at all.
pub(crate) async fn batches_are_atomic(store: Arc<dyn Store>) {
    let c = store.put_connection(sample_connection("amazon", ChannelKind::Amazon)).await.expect("insert");
    let stale = c.clone(); // version 1
    let mut fresh = c.clone();
    fresh.name = "x".into();
    store.put_connection(fresh).await.expect("update");
    let batch = WriteBatch::new()
        .with(WriteOp::RecordMovement(NewMovement::new(sku("MUG"), 10, MovementCause::ManualAdjustment, t0())))
        .with(WriteOp::PutListing(sample_listing("amazon", "A1", "MUG")))
        .with(WriteOp::Enqueue { push: stock("amazon", "A1", 3), now: t0() })
        .with(WriteOp::PutConnection(stale));
    let err = store.commit(batch).await.expect_err("stale version in the batch");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), 0, "the movement was rolled back");
    assert!(store.listing(&sid("amazon"), &ListingId::new("A1")).await.expect("read").is_none());
    assert!(store.outbox(&OutboxFilter::default()).await.expect("outbox").is_empty());
    let ok = WriteBatch::new()
        .with(WriteOp::RecordMovement(NewMovement::new(sku("MUG"), 10, MovementCause::ManualAdjustment, t0())))
        .with(WriteOp::PutListing(sample_listing("amazon", "A1", "MUG")));
    assert!(store.commit(ok).await.expect("commit"));
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), 10);
    assert!(store.commit(WriteBatch::new()).await.expect("empty batch"));
}

/// Products, bundles and listings round-trip; listings filter by store and SKU.
pub(crate) async fn catalog_and_listings(store: Arc<dyn Store>) {
    let bundle = ProductRecord::bundle(
        sku("GIFT"),
        vec![Component { sku: sku("MUG"), quantity: 2 }, Component { sku: sku("TEA"), quantity: 1 }],
        t0(),
    );
    let mut batch = WriteBatch::new();
    for p in [ProductRecord::simple(sku("MUG"), t0()), ProductRecord::simple(sku("TEA"), t0()), bundle.clone()] {
        batch.push(WriteOp::PutProduct(p));
    }
    store.commit(batch).await.expect("products");
    assert_eq!(store.product(&sku("GIFT")).await.expect("read"), Some(bundle));
    assert_eq!(store.products().await.expect("all").len(), 3);
    store.commit(WriteOp::DeleteProduct(sku("TEA")).into()).await.expect("delete");
    assert!(store.product(&sku("TEA")).await.expect("read").is_none());

    // A component quantity no store keeps is refused, and the batch it came in writes nothing.
    for quantity in [-1, i64::from(u32::MAX) + 1] {
        let odd = ProductRecord::bundle(sku("ODD"), vec![Component { sku: sku("MUG"), quantity }], t0());
        let batch = WriteBatch::new()
            .with(WriteOp::PutProduct(ProductRecord::simple(sku("TEA"), t0())))
            .with(WriteOp::PutProduct(odd));
        let e = store.commit(batch).await.expect_err("a component quantity outside 0..=u32::MAX is refused");
        assert_eq!(e.kind(), channel_core::ErrorKind::Validation, "{e}");
        assert!(store.product(&sku("ODD")).await.expect("read").is_none());
        assert!(store.product(&sku("TEA")).await.expect("read").is_none(), "nothing of the batch is written");
    }

    let mut l = sample_listing("shop", "L1", "MUG");
    l.ids.insert("variant_id".into(), "gid://1".into());
    l.seen_price = Some(Money::new(rust_decimal::Decimal::new(19999, 2), Currency::new("ZAR").expect("ZAR")));
    l.pushed_quantity = Some(4);
    l.pushed_at = Some(at(60));
    l.fulfilment = channel_core::Fulfilment::Channel;
    l.status = channel_core::ListingStatus::DisabledByChannel;
    l.sku_change = Some(SkuChange { from: "MUG".into(), to: "MUG-2".into(), seen_at: at(61) });
    store.put_listing(l.clone()).await.expect("listing");
    store.put_listing(sample_listing("shop", "L2", "TEA")).await.expect("listing");
    store.put_listing(sample_listing("woo", "W1", "MUG")).await.expect("listing");
    let mut stored = store.listing(&sid("shop"), &ListingId::new("L1")).await.expect("read").expect("exists");
    assert_eq!(stored.version, 1);
    stored.version = 0;
    assert_eq!(stored, l, "listing round-trips");
    assert_eq!(store.listings(&ListingFilter::store(sid("shop"))).await.expect("list").len(), 2);
    let mugs = store.listings(&ListingFilter::sku(sku("MUG"))).await.expect("list");
    assert_eq!(mugs.iter().map(|l| l.store.as_str()).collect::<Vec<_>>(), ["shop", "woo"]);
    store
        .commit(WriteOp::DeleteListing { store: sid("shop"), listing: ListingId::new("L1") }.into())
        .await
        .expect("delete");
    assert_eq!(store.listings(&ListingFilter::default()).await.expect("list").len(), 2);
}

/// The ledger keeps every movement with its cause; cursors are per store and name.
pub(crate) async fn ledger_and_cursors(store: Arc<dyn Store>) {
    let order =
        NewMovement::new(sku("MUG"), -2, MovementCause::Order, at(1)).for_line(sid("shop"), OrderId::new("1001"), "1");
    let cancel = NewMovement::new(sku("MUG"), 2, MovementCause::Cancellation, at(2)).for_line(
        sid("shop"),
        OrderId::new("1001"),
        "1",
    );
    let manual = NewMovement::new(sku("MUG"), 10, MovementCause::ManualAdjustment, at(3)).with_note("count");
    let other = NewMovement::new(sku("TEA"), 4, MovementCause::ReconcileCorrection, at(4));
    let ret = NewMovement::new(sku("MUG"), 1, MovementCause::Return, at(5));
    let mut batch = WriteBatch::new();
    for m in [order.clone(), cancel, manual, other, ret] {
        batch.push(WriteOp::RecordMovement(m));
    }
    store.commit(batch).await.expect("movements");
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), 11);
    assert_eq!(store.ledger_balance(&sku("NONE")).await.expect("balance"), 0);
    let mut f = LedgerFilter { sku: Some(sku("MUG")), ..LedgerFilter::default() };
    let mugs = store.ledger(&f).await.expect("ledger");
    assert_eq!(mugs.len(), 4);
    assert_eq!(mugs[0].movement, order);
    assert!(mugs.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    f.after_id = Some(mugs[1].id);
    f.limit = Some(1);
    let page = store.ledger(&f).await.expect("ledger");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].movement.cause, MovementCause::ManualAdjustment);
    let f = LedgerFilter { store: Some(sid("shop")), ..LedgerFilter::default() };
    assert_eq!(store.ledger(&f).await.expect("ledger").len(), 2);

    assert!(store.cursor(&sid("shop"), "orders").await.expect("cursor").is_none());
    for v in ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"] {
        store
            .commit(WriteOp::SetCursor { store: sid("shop"), name: "orders".into(), value: v.into() }.into())
            .await
            .expect("cursor");
    }
    assert_eq!(store.cursor(&sid("shop"), "orders").await.expect("cursor").as_deref(), Some("2026-01-02T00:00:00Z"));
    assert!(store.cursor(&sid("woo"), "orders").await.expect("cursor").is_none());
}

/// A held order line keeps the listing and channel SKU it named, is listed by `held_order_lines` until it
/// is resolved, and is resolved once: a second resolution of the same version is a conflict.
pub(crate) async fn held_order_lines_resolve_once(store: Arc<dyn Store>) {
    let mut line = OrderLineRecord::new(sid("woo"), OrderId::new("77"), "1", 2, OrderStatus::Open, at(3));
    line.listing = Some(ListingId::new("W-NEW"));
    line.channel_sku = "NEW-1".into();
    line.held = true;
    let mut plain = OrderLineRecord::new(sid("woo"), OrderId::new("78"), "1", 1, OrderStatus::Open, at(2));
    plain.sku = Some(sku("MUG"));
    let mut older = line.clone();
    older.order = OrderId::new("76");
    older.first_seen_at = at(1);
    for l in [&line, &plain, &older] {
        assert!(store.commit(WriteOp::PutOrderLine(l.clone()).into()).await.expect("import"));
    }
    let held = store.held_order_lines().await.expect("held lines");
    let ids: Vec<&str> = held.iter().map(|l| l.order.as_str()).collect();
    assert_eq!(ids, ["76", "77"], "held lines only, oldest first");
    let stored = &held[1];
    assert_eq!(
        (stored.listing.as_ref().map(ListingId::as_str), stored.channel_sku.as_str(), stored.held, stored.version),
        (Some("W-NEW"), "NEW-1", true, 1)
    );
    let mut resolved = stored.clone();
    resolved.held = false;
    resolved.sku = Some(sku("NEW-1"));
    let apply = WriteBatch::new()
        .with(WriteOp::PutOrderLine(resolved))
        .with(WriteOp::RecordMovement(NewMovement::new(sku("NEW-1"), -2, MovementCause::Order, at(4))));
    assert!(store.commit(apply.clone()).await.expect("resolve"));
    let err = store.commit(apply).await.expect_err("a second resolution carries a stale version");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(store.ledger_balance(&sku("NEW-1")).await.expect("balance"), -2, "applied once");
    let ids: Vec<String> =
        store.held_order_lines().await.expect("held lines").iter().map(|l| l.order.to_string()).collect();
    assert_eq!(ids, ["76"]);
    let stored = store.order_line(&sid("woo"), &OrderId::new("77"), "1").await.expect("read").expect("exists");
    assert_eq!((stored.held, stored.sku, stored.version), (false, Some(sku("NEW-1")), 2));
}

/// Order lines and webhook deliveries are recorded once; a duplicate skips its whole batch.
pub(crate) async fn order_lines_and_deliveries_once(store: Arc<dyn Store>) {
    let line = OrderLineRecord::new(sid("shop"), OrderId::new("1001"), "1", 2, OrderStatus::Open, at(1));
    let sale = |d| {
        WriteBatch::new()
            .with(WriteOp::PutOrderLine(line.clone()))
            .with(WriteOp::RecordMovement(NewMovement::new(sku("MUG"), d, MovementCause::Order, at(1))))
            .with(WriteOp::Enqueue { push: stock("woo", "W1", 8), now: at(1) })
    };
    assert!(store.commit(sale(-2)).await.expect("first import"), "a new line is applied");
    assert!(!store.commit(sale(-2)).await.expect("replay"), "a duplicate is reported");
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), -2, "the duplicate's movement was skipped");
    let stored = store.order_line(&sid("shop"), &OrderId::new("1001"), "1").await.expect("read").expect("exists");
    assert_eq!(stored.version, 1);
    assert_eq!((stored.quantity, stored.released, stored.status), (2, 0, OrderStatus::Open));

    let mut cancelled = stored.clone();
    cancelled.released = 2;
    cancelled.status = OrderStatus::Cancelled;
    cancelled.updated_at = at(9);
    let restock = WriteBatch::new()
        .with(WriteOp::PutOrderLine(cancelled.clone()))
        .with(WriteOp::RecordMovement(NewMovement::new(sku("MUG"), 2, MovementCause::Cancellation, at(9))));
    assert!(store.commit(restock.clone()).await.expect("cancel"));
    let err = store.commit(restock).await.expect_err("the same cancellation again carries a stale version");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), 0);
    let stored = store.order_line(&sid("shop"), &OrderId::new("1001"), "1").await.expect("read").expect("exists");
    assert_eq!((stored.released, stored.status, stored.version), (2, OrderStatus::Cancelled, 2));
    assert!(store.order_line(&sid("woo"), &OrderId::new("1001"), "1").await.expect("read").is_none());

    let d = DeliveryRecord::new(sid("shop"), "evt-1", "orders/create", at(1));
    assert!(store.record_delivery(d.clone()).await.expect("first delivery"));
    assert!(!store.record_delivery(d).await.expect("redelivery"));
    assert!(store.record_delivery(DeliveryRecord::new(sid("woo"), "evt-1", "x", at(1))).await.expect("other store"));
    assert!(store.delivery_seen(&sid("shop"), "evt-1").await.expect("seen"));
    assert!(!store.delivery_seen(&sid("shop"), "evt-2").await.expect("seen"));
    let twice = WriteBatch::new()
        .with(WriteOp::RecordDelivery(DeliveryRecord::new(sid("shop"), "evt-3", "x", at(1))))
        .with(WriteOp::RecordDelivery(DeliveryRecord::new(sid("shop"), "evt-3", "x", at(1))));
    assert!(!store.commit(twice).await.expect("same delivery twice in a batch"));
    assert!(!store.delivery_seen(&sid("shop"), "evt-3").await.expect("seen"), "the skipped batch wrote nothing");
}

/// Pushes coalesce per (store, listing, lane); claims are exclusive per lane.
pub(crate) async fn outbox_coalesces_and_claims(store: Arc<dyn Store>) {
    store.enqueue(stock("shop", "L1", 5), at(0)).await.expect("enqueue");
    store.enqueue(stock("shop", "L1", 3), at(1)).await.expect("enqueue");
    let price = PushAction::SetPrice {
        price: Money::new(rust_decimal::Decimal::new(100, 0), Currency::new("ZAR").expect("ZAR")),
        list_price: None,
    };
    store.enqueue(OutboxPush::new(sid("shop"), ListingId::new("L1"), price, "price"), at(1)).await.expect("enqueue");
    let adjust = |d| OutboxPush::new(sid("woo"), ListingId::new("W1"), PushAction::AdjustStock { delta: d }, "sale");
    store.enqueue(adjust(-1), at(2)).await.expect("enqueue");
    store.enqueue(adjust(-2), at(3)).await.expect("enqueue");
    let items = store.outbox(&OutboxFilter::default()).await.expect("outbox");
    assert_eq!(items.len(), 3, "coalesced to one item per lane: {items:?}");
    assert_eq!(items[0].push.action, PushAction::SetStock { quantity: 3, expected: None }, "latest target wins");
    assert_eq!(items[2].push.action, PushAction::AdjustStock { delta: -3 }, "deltas add up");
    assert!(items.iter().all(|i| i.state == OutboxState::Pending && i.attempts == 0));

    let claim = ClaimRequest::new("w1", 10, at(10), at(70)).for_store(sid("shop"));
    let got = store.claim_outbox(&claim).await.expect("claim");
    assert_eq!(got.len(), 2, "only the shop's items");
    assert!(got.iter().all(|i| i.state == OutboxState::Claimed && i.attempts == 1 && i.claim_token.is_some()));
    assert!(store.claim_outbox(&claim).await.expect("claim").is_empty(), "claimed items are not handed out again");

    // A new target for a lane in flight waits until the claim ends.
    store.enqueue(stock("shop", "L1", 1), at(11)).await.expect("enqueue");
    assert!(store.claim_outbox(&claim).await.expect("claim").is_empty(), "the lane is busy");
    let stock_item = got.iter().find(|i| i.push.action.lane() == Lane::Stock).expect("stock item");
    let token = stock_item.claim_token.clone().expect("token");
    let err = store.finish_outbox(stock_item.id, "wrong", OutboxResult::Done, at(12)).await.expect_err("bad token");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    store.finish_outbox(stock_item.id, &token, OutboxResult::Done, at(12)).await.expect("done");
    let err = store.finish_outbox(stock_item.id, &token, OutboxResult::Done, at(12)).await.expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let later = ClaimRequest::new("w1", 10, at(12), at(70)).for_store(sid("shop"));
    let next = store.claim_outbox(&later).await.expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].push.action, PushAction::SetStock { quantity: 1, expected: None });
    let all = store.claim_outbox(&ClaimRequest::new("w2", 10, at(12), at(70))).await.expect("claim");
    assert_eq!(all.len(), 1, "the woo item");
    assert_eq!(all[0].push.store, sid("woo"));
    assert!(store.claim_outbox(&ClaimRequest::new("w2", 0, at(12), at(70))).await.expect("claim").is_empty());
}

/// Expired claims are claimable again; retries back off and coalesce; dead letters keep the reason.
pub(crate) async fn outbox_leases_and_failures(store: Arc<dyn Store>) {
    store.enqueue(stock("shop", "L1", 5), at(0)).await.expect("enqueue");
    let first = store.claim_outbox(&ClaimRequest::new("w1", 5, at(0), at(30))).await.expect("claim");
    assert_eq!(first.len(), 1);
    assert!(store.claim_outbox(&ClaimRequest::new("w2", 5, at(29), at(60))).await.expect("claim").is_empty());
    let again = store.claim_outbox(&ClaimRequest::new("w2", 5, at(30), at(60))).await.expect("claim after expiry");
    assert_eq!(again.len(), 1, "the lease ran out, so the item is claimable again");
    assert_eq!((again[0].id, again[0].attempts), (first[0].id, 2));
    let old = first[0].claim_token.clone().expect("token");
    let err = store.finish_outbox(first[0].id, &old, OutboxResult::Done, at(31)).await.expect_err("stale claim");
    assert_eq!(err.kind(), ErrorKind::Conflict, "the first worker lost its claim");

    // w2 restarts: its claims are handed back at once instead of waiting for the lease.
    assert_eq!(store.release_claims("w1", at(30)).await.expect("release"), 0, "w1 holds nothing");
    assert_eq!(store.release_claims("w2", at(31)).await.expect("release"), 1);
    let again = store.claim_outbox(&ClaimRequest::new("w2", 5, at(31), at(60))).await.expect("claim after release");
    assert_eq!((again.len(), again[0].attempts), (1, 3));
    let token = again[0].claim_token.clone().expect("token");
    let retry = OutboxResult::Retry { error: "503".into(), at: at(100) };
    store.finish_outbox(again[0].id, &token, retry, at(31)).await.expect("retry");
    let items = store.outbox(&OutboxFilter::default()).await.expect("outbox");
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].state, items[0].next_attempt_at, items[0].last_error.as_deref()),
        (OutboxState::Pending, at(100), Some("503"))
    );
    assert!(store.claim_outbox(&ClaimRequest::new("w1", 5, at(99), at(200))).await.expect("claim").is_empty());
    let c = store.claim_outbox(&ClaimRequest::new("w1", 5, at(100), at(200))).await.expect("claim");
    assert_eq!(c.len(), 1);
    // A newer target arrives while the retry is in flight; the retry then folds into it.
    store.enqueue(stock("shop", "L1", 2), at(101)).await.expect("enqueue");
    let token = c[0].claim_token.clone().expect("token");
    store
        .finish_outbox(c[0].id, &token, OutboxResult::Retry { error: "429".into(), at: at(150) }, at(102))
        .await
        .expect("retry");
    let items = store.outbox(&OutboxFilter::default()).await.expect("outbox");
    assert_eq!(items.len(), 1, "coalesced with the newer pending push: {items:?}");
    assert_eq!(items[0].push.action, PushAction::SetStock { quantity: 2, expected: None });

    let d = store.claim_outbox(&ClaimRequest::new("w1", 5, at(200), at(260))).await.expect("claim");
    let token = d[0].claim_token.clone().expect("token");
    store
        .finish_outbox(d[0].id, &token, OutboxResult::Dead { reason: "offer disabled".into() }, at(201))
        .await
        .expect("dead");
    let f = OutboxFilter { state: Some(OutboxState::Dead), ..OutboxFilter::default() };
    let dead = store.outbox(&f).await.expect("outbox");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("offer disabled"));
    assert!(store.claim_outbox(&ClaimRequest::new("w1", 5, at(999), at(1000))).await.expect("claim").is_empty());
    store.enqueue(stock("shop", "L1", 7), at(300)).await.expect("a dead letter does not absorb new pushes");
    // A push held (backing off until 900) is made due by ReleaseOutbox; another store's is not.
    store.enqueue(stock("shop", "L2", 1), at(300)).await.expect("enqueue");
    store.enqueue(stock("woo", "W1", 1), at(300)).await.expect("enqueue");
    let held = store.claim_outbox(&ClaimRequest::new("w1", 5, at(301), at(400))).await.expect("claim");
    assert_eq!(held.len(), 3, "{held:?}");
    for item in &held {
        let token = item.claim_token.clone().expect("token");
        let hold = OutboxResult::Retry { error: "401".into(), at: at(900) };
        store.finish_outbox(item.id, &token, hold, at(302)).await.expect("hold");
    }
    store.commit(WriteOp::ReleaseOutbox { store: sid("shop"), now: at(303) }.into()).await.expect("release");
    let due = store.claim_outbox(&ClaimRequest::new("w1", 5, at(303), at(400))).await.expect("claim");
    let mut released: Vec<&str> = due.iter().map(|i| i.push.listing.as_str()).collect();
    released.sort_unstable();
    assert_eq!(released, ["L1", "L2"], "only the store's held pushes are due: {due:?}");
    for item in &due {
        let token = item.claim_token.clone().expect("token");
        store.finish_outbox(item.id, &token, OutboxResult::Done, at(304)).await.expect("done");
    }
    store.enqueue(stock("shop", "L1", 7), at(305)).await.expect("enqueue");
    store.commit(WriteOp::DropOutbox(sid("shop")).into()).await.expect("drop");
    let left = store.outbox(&OutboxFilter::default()).await.expect("outbox");
    assert_eq!(left.len(), 2, "dead letters and other stores' pushes stay: {left:?}");
    assert!(left.iter().all(|i| i.state == OutboxState::Dead || i.push.store == sid("woo")), "{left:?}");
}

/// [`Store::finish_outbox_many`]: each item finished as [`Store::finish_outbox`] would, one result per item
/// in the caller's order; an item whose claim is not held fails alone.
pub(crate) async fn outbox_finishes_many(store: Arc<dyn Store>) {
    for (n, listing) in ["L1", "L2", "L3", "L4", "L5"].into_iter().enumerate() {
        let n = i64::try_from(n).unwrap_or_default();
        store.enqueue(stock("shop", listing, n), at(n)).await.expect("enqueue");
    }
    let got = store.claim_outbox(&ClaimRequest::new("w1", 10, at(10), at(70))).await.expect("claim");
    assert_eq!(got.len(), 5, "{got:?}");
    let token = |i: usize| got[i].claim_token.clone().expect("token");
    // L5's claim is lost (its lease ran out and another worker took it).
    let taken = store.claim_outbox(&ClaimRequest::new("w2", 10, at(70), at(130))).await.expect("claim");
    assert_eq!(taken.len(), 5, "every lease ran out");
    let again = |i: usize| taken.iter().find(|t| t.id == got[i].id).and_then(|t| t.claim_token.clone()).expect("token");
    let batch = vec![
        OutboxFinish::new(got[3].id, again(3), OutboxResult::Dead { reason: "offer disabled".into() }),
        OutboxFinish::new(got[0].id, again(0), OutboxResult::Done),
        OutboxFinish::new(got[4].id, token(4), OutboxResult::Done),
        OutboxFinish::new(got[1].id, again(1), OutboxResult::Retry { error: "503".into(), at: at(200) }),
        OutboxFinish::new(9_999_999, "none", OutboxResult::Done),
    ];
    let results = store.finish_outbox_many(batch, at(71)).await.expect("finish many");
    let kinds: Vec<Option<ErrorKind>> = results.iter().map(|r| r.as_ref().err().map(StoreError::kind)).collect();
    assert_eq!(kinds, vec![None, None, Some(ErrorKind::Conflict), None, Some(ErrorKind::NotFound)], "{results:?}");
    let items = store.outbox(&OutboxFilter::default()).await.expect("outbox");
    let state = |i: usize| items.iter().find(|x| x.id == got[i].id).map(|x| (x.state, x.last_error.clone()));
    assert_eq!(state(0), None, "done: removed");
    assert_eq!(state(1), Some((OutboxState::Pending, Some("503".into()))), "retried");
    assert_eq!(state(2), Some((OutboxState::Claimed, None)), "not in the batch: untouched");
    assert_eq!(state(3), Some((OutboxState::Dead, Some("offer disabled".into()))), "dead-lettered");
    assert_eq!(state(4), Some((OutboxState::Claimed, None)), "a stale claim changes nothing");
    assert!(store.finish_outbox_many(Vec::new(), at(72)).await.expect("nothing").is_empty());
}

/// [`Store::renew_outbox`]: a held claim is extended (even once its lease ran out, while nobody claimed
/// the item since), keeping other workers off it; a claim taken over, a finished item or an unknown id is
/// not renewed, and the taker's lease is left as it was.
pub(crate) async fn outbox_claims_renewed(store: Arc<dyn Store>) {
    for (n, listing) in ["L1", "L2", "L3"].into_iter().enumerate() {
        let n = i64::try_from(n).unwrap_or_default();
        store.enqueue(stock("shop", listing, n), at(n)).await.expect("enqueue");
    }
    let got = store.claim_outbox(&ClaimRequest::new("w1", 10, at(10), at(40))).await.expect("claim");
    assert_eq!(got.len(), 3, "{got:?}");
    let held: Vec<(i64, String)> = got.iter().map(|i| (i.id, i.claim_token.clone().expect("token"))).collect();
    assert_eq!(store.renew_outbox(&[], at(100)).await.expect("renew nothing"), 0);
    assert_eq!(store.renew_outbox(&held, at(70)).await.expect("renew"), 3, "every claim is held");
    let taken = store.claim_outbox(&ClaimRequest::new("w2", 10, at(50), at(110))).await.expect("claim");
    assert!(taken.is_empty(), "renewed leases keep others off: {taken:?}");
    // The leases run out; L1 is claimed by w2, L2 finished by w1, L3 left alone.
    let one = ClaimRequest::new("w2", 1, at(70), at(130)).for_store(sid("shop"));
    let l1 = store.claim_outbox(&one).await.expect("claim after expiry");
    assert_eq!(l1.len(), 1);
    assert_eq!(l1[0].id, got[0].id, "the oldest first");
    store.finish_outbox(got[1].id, &held[1].1, OutboxResult::Done, at(71)).await.expect("finish");
    let mut asked = held.clone();
    asked.push((9_999_999, "none".into()));
    let renewed = store.renew_outbox(&asked, at(200)).await.expect("renew");
    assert_eq!(renewed, 1, "only the claim still held (L3, its lease run out but not taken) is renewed");
    let items = store.outbox(&OutboxFilter::default()).await.expect("outbox");
    let item = |id: i64| items.iter().find(|i| i.id == id).cloned();
    let first = item(got[0].id).expect("L1");
    assert_eq!((first.claimed_by.as_deref(), first.lease_until), (Some("w2"), Some(at(130))), "the taker's lease");
    assert!(item(got[1].id).is_none(), "finished");
    let third = item(got[2].id).expect("L3");
    assert_eq!((third.state, third.claimed_by.as_deref()), (OutboxState::Claimed, Some("w1")));
    assert_eq!(third.lease_until, Some(at(200)), "renewed");
    let later = store.claim_outbox(&ClaimRequest::new("w2", 10, at(199), at(260))).await.expect("claim");
    assert!(
        later.iter().all(|i| i.id != got[2].id),
        "the renewed claim is not handed out before its new lease ends: {later:?}"
    );
    // A large claim (stores may renew in chunks) is renewed whole.
    let mut batch = WriteBatch::new();
    for n in 0..450 {
        batch.push(WriteOp::Enqueue { push: stock("feed", &format!("F{n}"), n), now: at(300) });
    }
    store.commit(batch).await.expect("enqueue many");
    let feed = ClaimRequest::new("w1", 1000, at(300), at(330)).for_store(sid("feed"));
    let big: Vec<(i64, String)> = store
        .claim_outbox(&feed)
        .await
        .expect("claim")
        .into_iter()
        .map(|i| (i.id, i.claim_token.expect("token")))
        .collect();
    assert_eq!(big.len(), 450);
    assert_eq!(store.renew_outbox(&big, at(400)).await.expect("renew many"), 450);
    let items = store.outbox(&OutboxFilter { store: Some(sid("feed")), ..Default::default() }).await.expect("outbox");
    assert!(items.iter().all(|i| i.lease_until == Some(at(400))), "every lease moved");
}

/// Queueing to a listing whose item is claimed leaves the claimed item as it was (its push and its
/// creation time, which keyed deltas are identified by): the new push waits as a pending item of its own.
pub(crate) async fn outbox_claimed_items_stay_as_claimed(store: Arc<dyn Store>) {
    let adjust = |d| OutboxPush::new(sid("woo"), ListingId::new("W1"), PushAction::AdjustStock { delta: d }, "sale");
    store.enqueue(adjust(-1), at(0)).await.expect("enqueue");
    store.enqueue(stock("shop", "L1", 5), at(0)).await.expect("enqueue");
    let claimed = store.claim_outbox(&ClaimRequest::new("w1", 10, at(1), at(60))).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    store.enqueue(adjust(-2), at(5)).await.expect("enqueue");
    store.enqueue(stock("shop", "L1", 3), at(5)).await.expect("enqueue");
    let items = store.outbox(&OutboxFilter::default()).await.expect("outbox");
    assert_eq!(items.len(), 4, "a new pending item per lane: {items:?}");
    for before in &claimed {
        let now = items.iter().find(|i| i.id == before.id).expect("claimed item kept");
        assert_eq!(
            (&now.push.action, now.created_at, now.state, &now.claim_token),
            (&before.push.action, before.created_at, OutboxState::Claimed, &before.claim_token),
            "the claimed item is unchanged"
        );
    }
    let pending: Vec<&PushAction> =
        items.iter().filter(|i| i.state == OutboxState::Pending).map(|i| &i.push.action).collect();
    assert!(pending.contains(&&PushAction::AdjustStock { delta: -2 }), "{pending:?}");
    assert!(pending.contains(&&PushAction::SetStock { quantity: 3, expected: None }), "{pending:?}");
    assert!(
        items.iter().filter(|i| i.state == OutboxState::Pending).all(|i| i.created_at == at(5)),
        "the new items are created now: {items:?}"
    );
}

/// Store leases and "sync now" requests.
pub(crate) async fn leases_and_sync_requests(store: Arc<dyn Store>) {
    let s = sid("shop");
    assert!(store.acquire_lease(&s, "w1", at(30), at(0)).await.expect("lease"));
    assert!(!store.acquire_lease(&s, "w2", at(40), at(10)).await.expect("lease"), "held by w1");
    assert!(store.acquire_lease(&s, "w1", at(60), at(20)).await.expect("renew"));
    assert!(!store.acquire_lease(&s, "w2", at(90), at(59)).await.expect("lease"), "renewed until 60");
    assert!(store.acquire_lease(&s, "w2", at(120), at(60)).await.expect("expired lease is taken"));
    assert!(!store.release_lease(&s, "w1").await.expect("release"), "w1 no longer holds it");
    assert!(store.release_lease(&s, "w2").await.expect("release"));
    assert!(store.acquire_lease(&s, "w1", at(130), at(61)).await.expect("free again"));
    assert!(store.acquire_lease(&sid("woo"), "w2", at(130), at(61)).await.expect("other store"));

    for (store_id, when) in [("shop", 5), ("woo", 3), ("shop", 7)] {
        let req = SyncRequest::new(sid(store_id), Some("cli".into()), at(when));
        store.commit(WriteOp::RequestSync(req).into()).await.expect("request");
    }
    let queued = store.sync_requests().await.expect("read");
    assert_eq!(queued.len(), 2, "one request per store: a newer one replaces it");
    assert_eq!((queued[1].store.as_str(), queued[1].requested_at), ("shop", at(7)));
    let first = store.claim_sync_requests(&ClaimRequest::new("w1", 1, at(10), at(40))).await.expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].store, sid("woo"), "oldest first");
    assert_eq!(first[0].claimed_by.as_deref(), Some("w1"));
    assert_eq!(first[0].lease_until, Some(at(40)));
    let woo_token = first[0].claim_token.clone().expect("a claim carries a token");
    let rest = store.claim_sync_requests(&ClaimRequest::new("w2", 10, at(11), at(41))).await.expect("claim");
    assert_eq!(rest.len(), 1, "a claimed request is not handed out again while its lease runs");
    assert_eq!((rest[0].store.as_str(), rest[0].requested_at), ("shop", at(7)));
    let shop_token = rest[0].claim_token.clone().expect("token");
    assert!(store.claim_sync_requests(&ClaimRequest::new("w3", 10, at(12), at(42))).await.expect("claim").is_empty());
    assert_eq!(store.sync_requests().await.expect("read").len(), 2, "claimed requests stay queued");

    assert!(store.finish_sync_request(&sid("woo"), &woo_token).await.expect("finish"), "w1's sync finished");
    assert!(!store.finish_sync_request(&sid("woo"), &woo_token).await.expect("finish"), "already removed");
    assert!(!store.finish_sync_request(&sid("shop"), &woo_token).await.expect("finish"), "not w1's claim");
    assert!(store.renew_sync_request(&sid("shop"), &shop_token, at(80)).await.expect("renew"));
    assert!(!store.renew_sync_request(&sid("shop"), "not-the-token", at(90)).await.expect("renew"));
    let one = store.claim_sync_requests(&ClaimRequest::new("w3", 10, at(50), at(100))).await.expect("claim");
    assert!(one.is_empty(), "renewed until 80");

    // A newer request while one runs: it is queued unclaimed, and the running sync's finish leaves it.
    let again = SyncRequest::new(sid("shop"), Some("api".into()), at(60));
    store.commit(WriteOp::RequestSync(again).into()).await.expect("request again");
    assert!(!store.finish_sync_request(&sid("shop"), &shop_token).await.expect("finish"), "replaced meanwhile");
    let queued = store.sync_requests().await.expect("read");
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].requested_by.as_deref(), queued[0].claim_token.as_deref()), (Some("api"), None));
    let claim = ClaimRequest::new("w4", 10, at(61), at(70)).for_store(sid("shop"));
    let shop = store.claim_sync_requests(&claim).await.expect("claim");
    assert_eq!(shop.len(), 1, "the newer request is claimable at once");
    let woo = ClaimRequest::new("w5", 10, at(62), at(72)).for_store(sid("woo"));
    assert!(store.claim_sync_requests(&woo).await.expect("claim").is_empty(), "woo's request was finished");
    sync_request_take_over(store).await;
}

/// A worker that dies while running a sync request leaves it queued: another worker takes it over once the
/// claim's lease ended, and the dead worker's late finish removes nothing.
pub(crate) async fn sync_request_take_over(store: Arc<dyn Store>) {
    let req = SyncRequest::new(sid("crash"), None, at(200));
    store.commit(WriteOp::RequestSync(req).into()).await.expect("request");
    let dead = store.claim_sync_requests(&ClaimRequest::new("dead", 10, at(200), at(230))).await.expect("claim");
    let dead: Vec<_> = dead.into_iter().filter(|r| r.store == sid("crash")).collect();
    assert_eq!(dead.len(), 1);
    let dead_token = dead[0].claim_token.clone().expect("token");
    let early = ClaimRequest::new("b", 10, at(229), at(260)).for_store(sid("crash"));
    assert!(store.claim_sync_requests(&early).await.expect("claim").is_empty(), "not before the lease ends");
    let claim = ClaimRequest::new("b", 10, at(230), at(260)).for_store(sid("crash"));
    let taken = store.claim_sync_requests(&claim).await.expect("claim");
    assert_eq!(taken.len(), 1, "taken over when the lease ended");
    assert_eq!(taken[0].claimed_by.as_deref(), Some("b"));
    assert_eq!(taken[0].requested_at, at(200), "the same request");
    let token = taken[0].claim_token.clone().expect("token");
    assert_ne!(token, dead_token);
    assert!(!store.renew_sync_request(&sid("crash"), &dead_token, at(300)).await.expect("renew"), "lost its claim");
    assert!(
        !store.finish_sync_request(&sid("crash"), &dead_token).await.expect("finish"),
        "the dead claim removes nothing"
    );
    assert!(store.sync_requests().await.expect("read").iter().any(|r| r.store == sid("crash")));
    assert!(store.finish_sync_request(&sid("crash"), &token).await.expect("finish"));
    assert!(!store.sync_requests().await.expect("read").iter().any(|r| r.store == sid("crash")), "done once finished");
}

/// [`WriteOp::Check`] preconditions: a listing's version and a SKU's ledger balance, counting the batch's
/// earlier writes; a failed check writes nothing.
pub(crate) async fn preconditions(store: Arc<dyn Store>) {
    store.put_listing(sample_listing("shop", "L1", "MUG")).await.expect("listing");
    let check_listing = |version| {
        WriteOp::Check(Precondition::ListingVersion { store: sid("shop"), listing: ListingId::new("L1"), version })
    };
    let check_balance = |balance| WriteOp::Check(Precondition::LedgerBalance { sku: sku("MUG"), balance });
    let move_mug = |delta| WriteOp::RecordMovement(NewMovement::new(sku("MUG"), delta, MovementCause::Order, at(1)));
    assert!(store.commit(WriteBatch::new().with(check_listing(1)).with(move_mug(-1))).await.expect("version 1 holds"));
    let stale = store.commit(WriteBatch::new().with(move_mug(-1)).with(check_listing(2))).await;
    assert_eq!(stale.expect_err("version 2 is not stored").kind(), ErrorKind::Conflict);
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), -1, "the failed batch wrote nothing");
    let missing = WriteOp::Check(Precondition::ListingVersion {
        store: sid("shop"),
        listing: ListingId::new("nope"),
        version: 1,
    });
    assert_eq!(store.commit(missing.into()).await.expect_err("no such listing").kind(), ErrorKind::Conflict);
    let l = store.listing(&sid("shop"), &ListingId::new("L1")).await.expect("read").expect("exists");
    let batch = WriteBatch::new().with(WriteOp::PutListing(l)).with(check_listing(2));
    assert!(store.commit(batch).await.expect("the batch's own write counts"));

    assert!(store.commit(WriteBatch::new().with(check_balance(-1)).with(move_mug(-2))).await.expect("balance -1"));
    assert!(
        store.commit(WriteBatch::new().with(move_mug(-1)).with(check_balance(-4))).await.expect("counts the batch")
    );
    let stale = store.commit(WriteBatch::new().with(move_mug(-1)).with(check_balance(-4))).await;
    assert_eq!(stale.expect_err("the balance moved").kind(), ErrorKind::Conflict);
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), -4);
    assert_eq!(store.commit(check_balance(0).into()).await.expect_err("the balance is -4").kind(), ErrorKind::Conflict);
    assert!(
        store
            .commit(WriteOp::Check(Precondition::LedgerBalance { sku: sku("NEW"), balance: 0 }).into())
            .await
            .expect("no movements: 0")
    );
}

/// Writers moving one SKU's stock from the balance they read, checked by [`Precondition::LedgerBalance`]:
/// every movement lands exactly once through conflict retries, and no two writers both commit on one
/// balance.
pub(crate) async fn concurrent_balance_checks(store: Arc<dyn Store>) {
    let writers = 6;
    let per_writer = 8;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                loop {
                    let balance = store.ledger_balance(&sku("MUG")).await.expect("balance");
                    let movement = NewMovement::new(sku("MUG"), 1, MovementCause::ManualAdjustment, at(w * 100 + i))
                        .with_note(format!("from {balance}"));
                    let batch = WriteBatch::new()
                        .with(WriteOp::RecordMovement(movement))
                        .with(WriteOp::Check(Precondition::LedgerBalance { sku: sku("MUG"), balance: balance + 1 }));
                    match store.commit(batch).await {
                        Ok(applied) => {
                            assert!(applied);
                            break;
                        }
                        Err(e) if e.kind() == ErrorKind::Conflict || e.is_retryable() => tokio::task::yield_now().await,
                        Err(e) => panic!("balance-checked write failed: {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let ledger =
        store.ledger(&LedgerFilter { sku: Some(sku("MUG")), ..LedgerFilter::default() }).await.expect("ledger");
    assert_eq!(i64::try_from(ledger.len()).unwrap_or(i64::MAX), writers * per_writer);
    let notes: BTreeSet<_> = ledger.iter().filter_map(|m| m.movement.note.clone()).collect();
    assert_eq!(notes.len(), ledger.len(), "each balance was moved from exactly once: {notes:?}");
}

/// The audit log keeps old -> new and why, oldest first.
pub(crate) async fn audit_log(store: Arc<dyn Store>) {
    let e = AuditEntry::new(sid("shop"), "quantity", "order 1001 on takealot", at(1))
        .change(Some("5".into()), Some("3".into()))
        .on_listing(ListingId::new("L1"), Some(sku("MUG")));
    store.commit(WriteOp::Audit(e.clone()).into()).await.expect("audit");
    store
        .commit(WriteOp::Audit(AuditEntry::new(sid("woo"), "credentials", "updated", at(2))).into())
        .await
        .expect("audit");
    let all = store.audit(&AuditFilter::default()).await.expect("audit");
    assert_eq!(all.len(), 2);
    assert!(all[0].id > 0 && all[0].id < all[1].id);
    let mut stored = all[0].clone();
    stored.id = 0;
    assert_eq!(stored, e);
    let f = AuditFilter { store: Some(sid("woo")), ..AuditFilter::default() };
    assert_eq!(store.audit(&f).await.expect("audit").len(), 1);
    let f = AuditFilter { after_id: Some(all[0].id), ..AuditFilter::default() };
    assert_eq!(store.audit(&f).await.expect("audit")[0].field, "credentials");
}

/// Purging a store removes its data and the products only it lists; shared products stay.
pub(crate) async fn purge_store_rules(store: Arc<dyn Store>) {
    // The company's own stores: purging a global store leaves products alone (`global_connections_shared`).
    for (id, channel) in [("woo", ChannelKind::Woocommerce), ("shop", ChannelKind::Shopify)] {
        let mut c = sample_connection(id, channel);
        c.scope = Scope::Client(store.company_id().clone());
        store.put_connection(c).await.expect("insert");
    }
    let mut batch = WriteBatch::new();
    for s in ["SHARED", "ONLY-WOO", "PART", "FREE"] {
        batch.push(WriteOp::PutProduct(ProductRecord::simple(sku(s), t0())));
    }
    batch.push(WriteOp::PutProduct(ProductRecord::bundle(
        sku("KIT"),
        vec![Component { sku: sku("PART"), quantity: 2 }],
        t0(),
    )));
    for (l, s) in [("1", "SHARED"), ("2", "ONLY-WOO"), ("3", "PART")] {
        batch.push(WriteOp::PutListing(sample_listing("woo", l, s)));
    }
    batch.push(WriteOp::PutListing(sample_listing("shop", "9", "SHARED")));
    batch.push(WriteOp::PutListing(sample_listing("shop", "8", "KIT")));
    for s in ["SHARED", "ONLY-WOO"] {
        batch.push(WriteOp::RecordMovement(NewMovement::new(sku(s), 5, MovementCause::ManualAdjustment, t0())));
    }
    batch.push(WriteOp::PutOrderLine(OrderLineRecord::new(
        sid("woo"),
        OrderId::new("1"),
        "1",
        1,
        OrderStatus::Open,
        t0(),
    )));
    batch.push(WriteOp::RecordDelivery(DeliveryRecord::new(sid("woo"), "d1", "order.created", t0())));
    batch.push(WriteOp::SetCursor { store: sid("woo"), name: "orders".into(), value: "x".into() });
    batch.push(WriteOp::Enqueue { push: stock("woo", "1", 4), now: t0() });
    batch.push(WriteOp::Enqueue { push: stock("shop", "9", 4), now: t0() });
    batch.push(WriteOp::Audit(AuditEntry::new(sid("woo"), "quantity", "sync", t0())));
    store.commit(batch).await.expect("setup");

    let report = store.purge_store(&sid("woo")).await.expect("purge");
    assert_eq!(report.listings, 3);
    assert_eq!(report.order_lines, 1);
    assert_eq!(report.outbox_items, 1);
    assert_eq!(report.products, vec![sku("ONLY-WOO")], "shared products and needed components stay");
    assert_eq!(report.movements, 1);
    assert!(store.connection(&sid("woo")).await.expect("read").is_none());
    assert!(store.product(&sku("SHARED")).await.expect("read").is_some());
    assert!(store.product(&sku("PART")).await.expect("read").is_some(), "a component of a kept bundle stays");
    assert!(store.product(&sku("FREE")).await.expect("read").is_some(), "products no store lists are not touched");
    assert_eq!(store.ledger_balance(&sku("SHARED")).await.expect("balance"), 5);
    assert_eq!(store.ledger_balance(&sku("ONLY-WOO")).await.expect("balance"), 0);
    assert!(store.listings(&ListingFilter::store(sid("woo"))).await.expect("list").is_empty());
    assert_eq!(store.listings(&ListingFilter::store(sid("shop"))).await.expect("list").len(), 2);
    assert!(!store.delivery_seen(&sid("woo"), "d1").await.expect("seen"));
    assert!(store.cursor(&sid("woo"), "orders").await.expect("cursor").is_none());
    assert!(store.order_line(&sid("woo"), &OrderId::new("1"), "1").await.expect("read").is_none());
    assert_eq!(store.outbox(&OutboxFilter::default()).await.expect("outbox").len(), 1);
    assert_eq!(store.audit(&AuditFilter::default()).await.expect("audit").len(), 1, "the audit log is kept");
}

/// Writers racing on one versioned row: every increment lands exactly once through conflict retries.
pub(crate) async fn concurrent_writers(store: Arc<dyn Store>) {
    store.put_listing(sample_listing("shop", "L1", "MUG")).await.expect("listing");
    let writers = 8;
    let per_writer = 10;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for i in 0..per_writer {
                loop {
                    let mut l =
                        store.listing(&sid("shop"), &ListingId::new("L1")).await.expect("read").expect("exists");
                    l.pushed_quantity = Some(l.pushed_quantity.unwrap_or(0) + 1);
                    let batch = WriteBatch::new().with(WriteOp::PutListing(l)).with(WriteOp::RecordMovement(
                        NewMovement::new(sku("MUG"), 1, MovementCause::ManualAdjustment, at(w * 100 + i)),
                    ));
                    match store.commit(batch).await {
                        Ok(applied) => {
                            assert!(applied);
                            break;
                        }
                        Err(e) if e.kind() == ErrorKind::Conflict => conflicts += 1,
                        Err(e) if e.is_retryable() => {}
                        Err(e) => panic!("concurrent write failed: {e}"),
                    }
                    tokio::task::yield_now().await;
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let total = writers * per_writer;
    let l = store.listing(&sid("shop"), &ListingId::new("L1")).await.expect("read").expect("exists");
    assert_eq!(l.pushed_quantity, Some(total), "no lost update");
    assert_eq!(l.version, u64::try_from(total).unwrap_or(0) + 1);
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), total, "no movement lost or doubled");
}

/// Workers claiming concurrently never get the same item.
pub(crate) async fn concurrent_claims_hand_out_each_item_once(store: Arc<dyn Store>) {
    let items = 120;
    let mut batch = WriteBatch::new();
    for i in 0..items {
        batch.push(WriteOp::Enqueue { push: stock("shop", &format!("L{i}"), i), now: at(0) });
    }
    store.commit(batch).await.expect("enqueue");
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claim = ClaimRequest::new(format!("w{w}"), 7, at(1), at(600));
                match store.claim_outbox(&claim).await {
                    Ok(got) if got.is_empty() => return mine,
                    Ok(got) => {
                        for item in got {
                            let token = item.claim_token.clone().expect("token");
                            store.finish_outbox(item.id, &token, OutboxResult::Done, at(2)).await.expect("finish");
                            mine.push(item.id);
                        }
                    }
                    Err(e) if e.is_retryable() => tokio::task::yield_now().await,
                    Err(e) => panic!("claim failed: {e}"),
                }
            }
        }));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.expect("claim task") {
            total += 1;
            assert!(seen.insert(id), "item {id} claimed twice");
        }
    }
    assert_eq!(total, items, "every item claimed exactly once");
    assert!(store.outbox(&OutboxFilter::default()).await.expect("outbox").is_empty());
}

/// Many importers of the same order line and delivery: exactly one applies.
pub(crate) async fn concurrent_once_inserts(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut applied = 0;
            for n in 0..5 {
                let line =
                    OrderLineRecord::new(sid("shop"), OrderId::new(format!("o{n}")), "1", 1, OrderStatus::Open, at(w));
                let batch = WriteBatch::new()
                    .with(WriteOp::RecordDelivery(DeliveryRecord::new(
                        sid("shop"),
                        format!("d{n}"),
                        "orders/create",
                        at(w),
                    )))
                    .with(WriteOp::PutOrderLine(line))
                    .with(WriteOp::RecordMovement(NewMovement::new(sku("MUG"), -1, MovementCause::Order, at(w))));
                loop {
                    match store.commit(batch.clone()).await {
                        Ok(true) => {
                            applied += 1;
                            break;
                        }
                        Ok(false) => break,
                        Err(e) if e.is_retryable() => tokio::task::yield_now().await,
                        Err(e) => panic!("import failed: {e}"),
                    }
                }
            }
            applied
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.expect("import task");
    }
    assert_eq!(applied, 5, "each order applied exactly once");
    assert_eq!(store.ledger_balance(&sku("MUG")).await.expect("balance"), -5);
}

// ---- Companies (issue 15) ----

fn cid(s: &str) -> CompanyId {
    CompanyId::new(s)
}

/// Create companies `a` and `b` through `store` and return their views.
async fn two_companies(store: &Arc<dyn Store>) -> (Arc<dyn Store>, Arc<dyn Store>) {
    for id in ["a", "b"] {
        let c = CompanyRecord::new(cid(id), format!("Company {id}"), t0());
        store.commit(WriteOp::PutCompany(c).into()).await.expect("create company");
    }
    let (a, b) = (store.for_company(&cid("a")), store.for_company(&cid("b")));
    assert_eq!((a.company_id().as_str(), b.company_id().as_str()), ("a", "b"));
    (a, b)
}

/// A client connection of `company`.
fn client_connection(store: &str, channel: ChannelKind, company: &str) -> ConnectionRecord {
    let mut c = sample_connection(store, channel);
    c.scope = Scope::Client(cid(company));
    c
}

/// The same rows written through two companies' views, under the same SKU and store ids, stay apart:
/// products, ledger, listings, order lines (held ones too), deliveries, cursors and audit.
pub(crate) async fn companies_isolate_catalogs(store: Arc<dyn Store>) {
    let (a, b) = two_companies(&store).await;
    for (view, qty, price) in [(&a, 10, "A"), (&b, 3, "B")] {
        let mut held =
            OrderLineRecord::new(sid("shop"), OrderId::new(format!("h-{price}")), "1", 1, OrderStatus::Open, t0());
        held.held = true;
        let batch = WriteBatch::new()
            .with(WriteOp::PutProduct(ProductRecord::simple(sku("TS-001"), t0())))
            .with(WriteOp::RecordMovement(NewMovement::new(sku("TS-001"), qty, MovementCause::ManualAdjustment, t0())))
            .with(WriteOp::PutListing(sample_listing("shop", &format!("L-{price}"), "TS-001")))
            .with(WriteOp::PutOrderLine(OrderLineRecord::new(
                sid("shop"),
                OrderId::new("1"),
                "1",
                1,
                OrderStatus::Open,
                t0(),
            )))
            .with(WriteOp::PutOrderLine(held))
            .with(WriteOp::RecordDelivery(DeliveryRecord::new(sid("shop"), "evt-1", "orders/create", t0())))
            .with(WriteOp::SetCursor { store: sid("shop"), name: "orders".into(), value: price.into() })
            .with(WriteOp::Audit(AuditEntry::new(sid("shop"), "quantity", price, t0())));
        assert!(view.commit(batch).await.expect("company rows"), "the same rows are new in each company");
    }
    assert_eq!(store.products().await.expect("products"), vec![], "the default company has none");
    for (view, qty, price) in [(&a, 10, "A"), (&b, 3, "B")] {
        let who = view.company_id().as_str();
        assert_eq!(view.products().await.expect("products").len(), 1, "{who}");
        assert_eq!(view.ledger_balance(&sku("TS-001")).await.expect("balance"), qty, "{who}");
        assert_eq!(view.ledger(&LedgerFilter::default()).await.expect("ledger").len(), 1, "{who}");
        let listings = view.listings(&ListingFilter::sku(sku("TS-001"))).await.expect("listings");
        let ids: Vec<&str> = listings.iter().map(|l| l.listing.as_str()).collect();
        assert_eq!(ids, [format!("L-{price}")], "{who} lists only its own");
        let line = view.order_line(&sid("shop"), &OrderId::new("1"), "1").await.expect("line").expect("stored");
        assert_eq!(line.version, 1, "{who}");
        let held: Vec<String> =
            view.held_order_lines().await.expect("held").iter().map(|l| l.order.to_string()).collect();
        assert_eq!(held, [format!("h-{price}")], "{who}");
        assert!(view.delivery_seen(&sid("shop"), "evt-1").await.expect("seen"), "{who}");
        assert_eq!(view.cursor(&sid("shop"), "orders").await.expect("cursor").as_deref(), Some(price), "{who}");
        let audit = view.audit(&AuditFilter::default()).await.expect("audit");
        assert_eq!(audit.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(), [price], "{who}");
    }
    assert!(!store.delivery_seen(&sid("shop"), "evt-1").await.expect("seen"));
    assert!(store.order_line(&sid("shop"), &OrderId::new("1"), "1").await.expect("line").is_none());
    // A balance check and a listing version are the company's own.
    let check = WriteOp::Check(Precondition::LedgerBalance { sku: sku("TS-001"), balance: 10 });
    assert!(a.commit(check.clone().into()).await.expect("A's balance is 10"));
    assert_eq!(b.commit(check.into()).await.expect_err("B's balance is 3").kind(), ErrorKind::Conflict);
    let check =
        WriteOp::Check(Precondition::ListingVersion { store: sid("shop"), listing: ListingId::new("L-A"), version: 1 });
    assert_eq!(b.commit(check.into()).await.expect_err("A's listing").kind(), ErrorKind::Conflict);
}

/// The outbox, store leases and sync requests of two companies stay apart: a claim in A never hands out
/// B's items, and A cannot finish B's item.
pub(crate) async fn companies_isolate_work(store: Arc<dyn Store>) {
    let (a, b) = two_companies(&store).await;
    a.enqueue(stock("shop", "L1", 5), at(0)).await.expect("enqueue");
    b.enqueue(stock("shop", "L1", 7), at(0)).await.expect("enqueue");
    b.enqueue(stock("shop", "L2", 1), at(0)).await.expect("enqueue");
    assert_eq!(a.outbox(&OutboxFilter::default()).await.expect("outbox").len(), 1, "no coalescing across companies");
    assert_eq!(b.outbox(&OutboxFilter::default()).await.expect("outbox").len(), 2);
    let got = a.claim_outbox(&ClaimRequest::new("w1", 10, at(1), at(60))).await.expect("claim");
    assert_eq!(got.len(), 1, "A's item only, although B's lane is free");
    assert_eq!(got[0].push.action, PushAction::SetStock { quantity: 5, expected: None });
    let b_items = b.claim_outbox(&ClaimRequest::new("w1", 10, at(1), at(60))).await.expect("claim");
    assert_eq!(b_items.len(), 2, "A's claim on shop/L1 does not make B's lane busy");
    let b_token = b_items[0].claim_token.clone().expect("token");
    let err = a.finish_outbox(b_items[0].id, &b_token, OutboxResult::Done, at(2)).await.expect_err("B's item");
    assert_eq!(err.kind(), ErrorKind::NotFound, "B's item does not exist in A's view");
    assert_eq!(a.renew_outbox(&[(b_items[0].id, b_token.clone())], at(90)).await.expect("renew"), 0);
    b.finish_outbox(b_items[0].id, &b_token, OutboxResult::Done, at(2)).await.expect("B finishes its own");
    assert_eq!(a.outbox(&OutboxFilter::default()).await.expect("outbox").len(), 1);

    assert!(a.acquire_lease(&sid("shop"), "w1", at(60), at(0)).await.expect("lease"));
    assert!(b.acquire_lease(&sid("shop"), "w2", at(60), at(0)).await.expect("lease"), "B's lease on shop is its own");
    assert!(!b.release_lease(&sid("shop"), "w1").await.expect("release"), "w1 holds A's, not B's");

    let req = SyncRequest::new(sid("shop"), Some("cli".into()), at(3));
    a.commit(WriteOp::RequestSync(req).into()).await.expect("request");
    assert!(b.sync_requests().await.expect("read").is_empty());
    assert!(b.claim_sync_requests(&ClaimRequest::new("w2", 10, at(4), at(60))).await.expect("claim").is_empty());
    let claimed = a.claim_sync_requests(&ClaimRequest::new("w1", 10, at(4), at(60))).await.expect("claim");
    let token = claimed[0].claim_token.clone().expect("token");
    assert!(!b.finish_sync_request(&sid("shop"), &token).await.expect("finish"), "not in B");
    assert!(a.finish_sync_request(&sid("shop"), &token).await.expect("finish"));
}

/// Client connections belong to one company; global ones are seen by all, with per-company rows about
/// them; store ids are unique across companies and `locate_store` finds any.
pub(crate) async fn company_connections_scoped(store: Arc<dyn Store>) {
    let (a, b) = two_companies(&store).await;
    b.put_connection(client_connection("b-shop", ChannelKind::Shopify, "b")).await.expect("B's own");
    a.put_connection(client_connection("a-woo", ChannelKind::Woocommerce, "a")).await.expect("A's own");
    let hub = a.put_connection(sample_connection("hub", ChannelKind::Takealot)).await.expect("global");
    assert!(a.connection(&sid("b-shop")).await.expect("read").is_none(), "B's connection is invisible from A");
    let names = |v: Vec<ConnectionRecord>| v.into_iter().map(|c| c.store.to_string()).collect::<Vec<_>>();
    assert_eq!(names(a.connections(&ConnectionFilter::all()).await.expect("list")), ["a-woo", "hub"]);
    assert_eq!(names(b.connections(&ConnectionFilter::all()).await.expect("list")), ["b-shop", "hub"]);
    assert_eq!(names(store.connections(&ConnectionFilter::all()).await.expect("list")), ["hub"]);
    assert_eq!(b.connection(&sid("hub")).await.expect("read"), Some(hub.clone()));

    let err = a.put_connection(client_connection("b-2", ChannelKind::Shopify, "b")).await.expect_err("B's via A");
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert!(store.locate_store(&sid("b-2")).await.expect("locate").is_none(), "nothing written");
    let err = a.put_connection(client_connection("b-shop", ChannelKind::Shopify, "a")).await.expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::Conflict, "store ids are unique across companies: {err}");
    let mut stolen = b.connection(&sid("b-shop")).await.expect("read").expect("exists");
    stolen.scope = Scope::Client(cid("a"));
    let err = a.put_connection(stolen).await.expect_err("B's row through A's view");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let health = HealthEvent::CredentialsOk { at: at(1) };
    assert_eq!(a.record_health(&sid("b-shop"), health).await.expect_err("B's").kind(), ErrorKind::NotFound);
    for (id, company) in [("b-shop", Some("b")), ("a-woo", Some("a")), ("hub", None)] {
        let found = store.locate_store(&sid(id)).await.expect("locate").expect("found from any view");
        assert_eq!(found.scope.client().map(CompanyId::as_str), company, "{id}");
    }

    for (view, v) in [(&a, "A"), (&b, "B")] {
        let batch = WriteBatch::new()
            .with(WriteOp::PutListing(sample_listing("hub", "H1", v)))
            .with(WriteOp::SetCursor { store: sid("hub"), name: "orders".into(), value: v.into() })
            .with(WriteOp::RecordDelivery(DeliveryRecord::new(sid("hub"), "evt", "x", t0())))
            .with(WriteOp::PutProduct(ProductRecord::simple(sku(v), t0())));
        assert!(view.commit(batch).await.expect("rows about the global store"), "each view's own");
    }
    for (view, v) in [(&a, "A"), (&b, "B")] {
        let l = view.listing(&sid("hub"), &ListingId::new("H1")).await.expect("read").expect("exists");
        assert_eq!((l.channel_sku.as_str(), l.version), (v, 1));
        assert_eq!(view.cursor(&sid("hub"), "orders").await.expect("cursor").as_deref(), Some(v));
    }
    let report = b.purge_store(&sid("hub")).await.expect("purge the global store");
    assert_eq!(report.listings, 2, "every company's rows about it");
    assert!(report.products.is_empty(), "a global store never owns products");
    for view in [&a, &b] {
        assert!(view.connection(&sid("hub")).await.expect("read").is_none());
        assert!(view.listings(&ListingFilter::default()).await.expect("list").is_empty());
        assert!(view.cursor(&sid("hub"), "orders").await.expect("cursor").is_none());
        assert!(!view.delivery_seen(&sid("hub"), "evt").await.expect("seen"));
        assert_eq!(view.products().await.expect("products").len(), 1, "products stay");
    }
}

/// Companies are versioned rows; the default one is always there; `sku_owners` says who has a SKU.
pub(crate) async fn companies_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.company_id().as_str(), CompanyId::DEFAULT, "a store opens as the default company's view");
    let ids = |v: Vec<CompanyRecord>| v.into_iter().map(|c| c.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(store.companies().await.expect("list")), [CompanyId::DEFAULT]);
    let dup = CompanyRecord::new(cid(CompanyId::DEFAULT), "again", t0());
    assert_eq!(store.commit(WriteOp::PutCompany(dup).into()).await.expect_err("exists").kind(), ErrorKind::Conflict);

    let mut acme = CompanyRecord::new(cid("acme"), "Acme", at(5));
    acme.requires = Some(ChannelKind::Takealot);
    acme.bound_account = Some(AccountIdentity::new(ChannelKind::Takealot, "seller-1"));
    // Root level: any view writes and reads companies.
    let other = store.for_company(&cid("zeta"));
    other.commit(WriteOp::PutCompany(acme.clone()).into()).await.expect("create");
    let stored = store.company(&cid("acme")).await.expect("read").expect("exists");
    assert_eq!(stored.version, 1);
    let mut expected = acme.clone();
    expected.version = 1;
    assert_eq!(stored, expected, "a company round-trips");
    let mut renamed = stored.clone();
    renamed.name = "Acme Ltd".into();
    store.commit(WriteOp::PutCompany(renamed).into()).await.expect("update");
    let err = store.commit(WriteOp::PutCompany(stored).into()).await.expect_err("stale version");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let read = store.company(&cid("acme")).await.expect("read").expect("exists");
    assert_eq!((read.name.as_str(), read.version), ("Acme Ltd", 2));
    assert!(store.company(&cid("nope")).await.expect("read").is_none());
    assert_eq!(ids(other.companies().await.expect("list")), ["acme", CompanyId::DEFAULT]);

    let (a, b) = two_companies(&store).await;
    for (view, skus) in [(&a, ["ONE", "BOTH"]), (&b, ["BOTH", "TWO"])] {
        for s in skus {
            view.commit(WriteOp::PutProduct(ProductRecord::simple(sku(s), t0())).into()).await.expect("product");
        }
    }
    let owners = store.sku_owners(&[sku("ONE"), sku("BOTH"), sku("TWO"), sku("NONE")]).await.expect("owners");
    let owners: Vec<(String, Vec<String>)> =
        owners.into_iter().map(|(s, cs)| (s.to_string(), cs.into_iter().map(|c| c.to_string()).collect())).collect();
    let want = |s: &str, cs: &[&str]| (s.to_owned(), cs.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>());
    assert_eq!(owners, [want("BOTH", &["a", "b"]), want("ONE", &["a"]), want("TWO", &["b"])], "no entry for NONE");
}

/// `purge_company` removes everything of the company and nothing of the other; global connections stay.
pub(crate) async fn purge_company_rules(store: Arc<dyn Store>) {
    let (a, b) = two_companies(&store).await;
    a.put_connection(sample_connection("hub", ChannelKind::Takealot)).await.expect("global");
    for (view, own) in [(&a, "a"), (&b, "b")] {
        view.put_connection(client_connection(&format!("{own}-shop"), ChannelKind::Shopify, own)).await.expect("own");
        let mut line = OrderLineRecord::new(sid("hub"), OrderId::new("1"), "1", 1, OrderStatus::Open, t0());
        line.sku = Some(sku("MUG"));
        let batch = WriteBatch::new()
            .with(WriteOp::PutProduct(ProductRecord::simple(sku("MUG"), t0())))
            .with(WriteOp::RecordMovement(NewMovement::new(sku("MUG"), 4, MovementCause::ManualAdjustment, t0())))
            .with(WriteOp::PutListing(sample_listing(&format!("{own}-shop"), "1", "MUG")))
            .with(WriteOp::PutListing(sample_listing("hub", "H1", "MUG")))
            .with(WriteOp::PutOrderLine(line))
            .with(WriteOp::Enqueue { push: stock("hub", "H1", 4), now: t0() })
            .with(WriteOp::RequestSync(SyncRequest::new(sid("hub"), None, t0())))
            .with(WriteOp::Audit(AuditEntry::new(sid("hub"), "quantity", "sync", t0())));
        view.commit(batch).await.expect("rows");
        assert!(view.acquire_lease(&sid("hub"), "w1", at(60), t0()).await.expect("lease"));
        assert!(store.acquire_company_lease(view.company_id(), "w1", at(60), t0()).await.expect("company lease"));
        let item = inbox_item(view.company_id().as_str(), "hub", "d1", 1);
        assert!(store.inbox_put(item).await.expect("inbox"));
    }
    let report = store.purge_company(&cid("a")).await.expect("purge").expect("A existed");
    assert_eq!((report.listings, report.order_lines, report.movements, report.outbox_items), (2, 1, 1, 1));
    assert_eq!(report.products, vec![sku("MUG")]);
    assert!(store.purge_company(&cid("a")).await.expect("purge").is_none(), "gone");
    assert!(store.company(&cid("a")).await.expect("read").is_none());
    assert!(store.locate_store(&sid("a-shop")).await.expect("locate").is_none(), "A's connections go");
    assert!(store.locate_store(&sid("hub")).await.expect("locate").is_some(), "global connections stay");
    assert!(a.products().await.expect("products").is_empty());
    assert_eq!(a.ledger_balance(&sku("MUG")).await.expect("balance"), 0);
    assert!(a.listings(&ListingFilter::default()).await.expect("listings").is_empty());
    assert!(a.order_line(&sid("hub"), &OrderId::new("1"), "1").await.expect("line").is_none());
    assert!(a.outbox(&OutboxFilter::default()).await.expect("outbox").is_empty());
    assert!(a.sync_requests().await.expect("sync").is_empty());
    assert!(a.audit(&AuditFilter::default()).await.expect("audit").is_empty());
    assert!(a.inbox(10).await.expect("inbox").is_empty());
    assert!(a.acquire_lease(&sid("hub"), "w2", at(60), t0()).await.expect("lease"), "A's store lease went");
    let leases: Vec<String> =
        store.company_leases().await.expect("leases").into_iter().map(|l| l.company.to_string()).collect();
    assert_eq!(leases, ["b"]);
    // B is untouched.
    assert_eq!(b.ledger_balance(&sku("MUG")).await.expect("balance"), 4);
    assert_eq!(b.listings(&ListingFilter::default()).await.expect("listings").len(), 2);
    assert!(b.order_line(&sid("hub"), &OrderId::new("1"), "1").await.expect("line").is_some());
    assert_eq!(b.outbox(&OutboxFilter::default()).await.expect("outbox").len(), 1);
    assert_eq!(b.sync_requests().await.expect("sync").len(), 1);
    assert_eq!(b.audit(&AuditFilter::default()).await.expect("audit").len(), 1);
    assert_eq!(b.inbox(10).await.expect("inbox").len(), 1);
    assert!(b.connection(&sid("b-shop")).await.expect("read").is_some());
    assert!(!b.acquire_lease(&sid("hub"), "w2", at(60), t0()).await.expect("lease"), "B's lease is w1's");
    assert!(store.purge_company(&cid("nope")).await.expect("purge").is_none());
}

/// Worker heartbeats (expiry by `now`) and company leases (take, renew, expired take-over, release).
pub(crate) async fn workers_and_company_leases(store: Arc<dyn Store>) {
    let names = |v: Vec<WorkerRecord>| v.into_iter().map(|w| w.worker).collect::<Vec<_>>();
    assert_eq!(names(store.worker_heartbeat("w2", at(30), at(0)).await.expect("beat")), ["w2"]);
    let live = store.worker_heartbeat("w1", at(40), at(10)).await.expect("beat");
    assert_eq!(live.iter().map(|w| (w.worker.as_str(), w.until)).collect::<Vec<_>>(), [("w1", at(40)), ("w2", at(30))]);
    let view = store.for_company(&cid("x"));
    assert_eq!(names(view.worker_heartbeat("w3", at(90), at(30)).await.expect("beat")), ["w1", "w3"], "w2 ran out");
    store.worker_gone("w1").await.expect("gone");
    assert_eq!(names(store.worker_heartbeat("w3", at(95), at(31)).await.expect("beat")), ["w3"]);

    let (a, b) = (cid("a"), cid("b"));
    assert!(store.acquire_company_lease(&a, "w1", at(30), at(0)).await.expect("lease"));
    assert!(!view.acquire_company_lease(&a, "w2", at(40), at(10)).await.expect("lease"), "held by w1");
    assert!(store.acquire_company_lease(&a, "w1", at(60), at(20)).await.expect("renew"));
    assert!(!store.acquire_company_lease(&a, "w2", at(90), at(59)).await.expect("lease"), "renewed until 60");
    assert!(store.acquire_company_lease(&b, "w2", at(90), at(59)).await.expect("another company"));
    let leases = store.company_leases().await.expect("leases");
    let rows: Vec<(&str, &str, Timestamp)> =
        leases.iter().map(|l| (l.company.as_str(), l.holder.as_str(), l.until)).collect();
    assert_eq!(rows, [("a", "w1", at(60)), ("b", "w2", at(90))]);
    assert!(store.acquire_company_lease(&a, "w2", at(120), at(60)).await.expect("expired lease is taken"));
    assert!(!store.release_company_lease(&a, "w1").await.expect("release"), "w1 no longer holds it");
    assert!(store.release_company_lease(&a, "w2").await.expect("release"));
    assert!(!store.release_company_lease(&a, "w2").await.expect("release"), "released already");
    assert!(store.acquire_company_lease(&a, "w1", at(130), at(61)).await.expect("free again"));
}

fn inbox_item(company: &str, store: &str, delivery: &str, second: i64) -> InboxItem {
    InboxItem {
        id: 0,
        company: cid(company),
        store: sid(store),
        delivery_id: delivery.into(),
        topic: "orders/create".into(),
        request: serde_json::json!({"method": "POST", "body": delivery}),
        received_at: at(second),
    }
}

/// The inbox keeps one item per (company, store, delivery), hands each company its own oldest first, and
/// forgets applied ones.
pub(crate) async fn inbox_per_company(store: Arc<dyn Store>) {
    let (a, b) = two_companies(&store).await;
    assert!(store.inbox_put(inbox_item("a", "hub", "d1", 1)).await.expect("put"));
    assert!(!b.inbox_put(inbox_item("a", "hub", "d1", 5)).await.expect("put"), "a duplicate, from any view");
    assert!(store.inbox_put(inbox_item("b", "hub", "d1", 2)).await.expect("put"), "the same delivery for B");
    assert!(store.inbox_put(inbox_item("a", "a-shop", "d1", 3)).await.expect("put"), "another store");
    assert!(store.inbox_put(inbox_item("a", "hub", "d2", 4)).await.expect("put"));
    assert!(store.inbox(10).await.expect("inbox").is_empty(), "the default company has none");
    let mine = a.inbox(10).await.expect("inbox");
    let keys: Vec<(&str, &str)> = mine.iter().map(|i| (i.store.as_str(), i.delivery_id.as_str())).collect();
    assert_eq!(keys, [("hub", "d1"), ("a-shop", "d1"), ("hub", "d2")], "A's, oldest first");
    assert!(mine.iter().all(|i| i.id > 0 && i.company == cid("a")));
    let mut first = mine[0].clone();
    first.id = 0;
    assert_eq!(first, inbox_item("a", "hub", "d1", 1), "an item round-trips");
    assert_eq!(a.inbox(2).await.expect("inbox").len(), 2, "limit");
    let theirs = b.inbox(10).await.expect("inbox");
    assert_eq!(theirs.len(), 1);
    assert!(!a.inbox_done(theirs[0].id).await.expect("done"), "B's item is not A's to remove");
    assert!(a.inbox_done(mine[0].id).await.expect("done"));
    assert!(!a.inbox_done(mine[0].id).await.expect("done"), "gone");
    assert_eq!(a.inbox(10).await.expect("inbox").len(), 2);
    assert_eq!(b.inbox(10).await.expect("inbox").len(), 1);
    assert!(store.inbox_put(inbox_item("a", "hub", "d1", 9)).await.expect("put"), "applied and removed: new again");
}
