//! The SQL stores keep companies apart: two companies with the same SKU, store ids, order ids and cursor
//! names never see each other's rows; a global connection is visible from both, its rows per company;
//! purging a global store, a client store or a whole company removes what it should and nothing more.
//! And the root-level rows: companies (versioned), worker heartbeats, company leases. SQLite in a
//! temporary file; PostgreSQL too when `DATABASE_URL` is set (in a schema of its own, dropped afterwards).

use std::sync::Arc;

use channel_core::{AccountIdentity, ChannelKind, ErrorKind, ListingId, OrderId, OrderStatus, Sku, StoreId};
use jiff::SignedDuration;
use sync_engine::store::*;
use sync_engine::testing::{sample_connection, t0};
use sync_engine::{Store, StoreExt};

fn at(s: i64) -> jiff::Timestamp {
    t0() + SignedDuration::from_secs(s)
}

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn sid(s: &str) -> StoreId {
    StoreId::new(s)
}

fn co(s: &str) -> CompanyId {
    CompanyId::new(s)
}

fn client_connection(store: &str, company: &str) -> ConnectionRecord {
    let mut c = sample_connection(store, ChannelKind::Shopify);
    c.scope = Scope::Client(co(company));
    c
}

fn stores_of(connections: &[ConnectionRecord]) -> Vec<&str> {
    connections.iter().map(|c| c.store.as_str()).collect()
}

/// Everything one company writes under shared names: a product, stock, a listing and an order line of the
/// global store, a delivery, a cursor, a pending push, an audit entry, a lease and a sync request.
async fn write_company(view: &Arc<dyn Store>, stock: i64, cursor: &str) {
    let mut listing = ListingRecord::new(sid("wh"), ListingId::new("L1"), "TS-001");
    listing.sku = Some(sku("TS-001"));
    listing.seen_quantity = Some(stock);
    let mut line = OrderLineRecord::new(sid("wh"), OrderId::new("O1"), "1", 1, OrderStatus::Open, at(2));
    line.sku = Some(sku("TS-001"));
    let mut held = OrderLineRecord::new(sid("wh"), OrderId::new("O2"), "1", 1, OrderStatus::Open, at(3));
    held.held = true;
    let push = OutboxPush::new(
        sid("wh"),
        ListingId::new("L1"),
        PushAction::SetStock { quantity: stock - 1, expected: None },
        "sale",
    );
    let batch = WriteBatch::new()
        .with(WriteOp::PutProduct(ProductRecord::simple(sku("TS-001"), at(1))))
        .with(WriteOp::RecordMovement(NewMovement::new(sku("TS-001"), stock, MovementCause::ManualAdjustment, at(1))))
        .with(WriteOp::PutListing(listing))
        .with(WriteOp::PutOrderLine(line))
        .with(WriteOp::PutOrderLine(held))
        .with(WriteOp::RecordMovement(NewMovement::new(sku("TS-001"), -1, MovementCause::Order, at(2)).for_line(
            sid("wh"),
            OrderId::new("O1"),
            "1",
        )))
        .with(WriteOp::RecordDelivery(DeliveryRecord::new(sid("wh"), "d1", "orders/create", at(2))))
        .with(WriteOp::SetCursor { store: sid("wh"), name: "orders".into(), value: cursor.into() })
        .with(WriteOp::Enqueue { push, now: at(2) })
        .with(WriteOp::Audit(AuditEntry::new(sid("wh"), "quantity", format!("sale of {cursor}"), at(2))))
        .with(WriteOp::RequestSync(SyncRequest::new(sid("wh"), Some(cursor.into()), at(2))))
        .with(WriteOp::Check(Precondition::LedgerBalance { sku: sku("TS-001"), balance: stock - 1 }));
    assert!(view.commit(batch).await.unwrap(), "every once-only row is new in its company");
    assert!(view.acquire_lease(&sid("wh"), cursor, at(60), at(2)).await.unwrap(), "each company its own lease");
}

/// What `write_company` wrote, read back through `view`.
async fn check_company(view: &Arc<dyn Store>, stock: i64, cursor: &str) {
    let products = view.products().await.unwrap();
    assert_eq!(products.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(), vec!["TS-001"]);
    assert_eq!(view.ledger_balance(&sku("TS-001")).await.unwrap(), stock - 1);
    assert_eq!(view.ledger(&LedgerFilter::default()).await.unwrap().len(), 2);
    let listings = view.listings(&ListingFilter::store(sid("wh"))).await.unwrap();
    assert_eq!(listings.iter().map(|l| (l.seen_quantity, l.version)).collect::<Vec<_>>(), vec![(Some(stock), 1)]);
    let line = view.order_line(&sid("wh"), &OrderId::new("O1"), "1").await.unwrap().unwrap();
    assert_eq!(line.version, 1);
    let held = view.held_order_lines().await.unwrap();
    assert_eq!(held.iter().map(|l| l.order.as_str()).collect::<Vec<_>>(), vec!["O2"]);
    assert!(view.delivery_seen(&sid("wh"), "d1").await.unwrap());
    assert_eq!(view.cursor(&sid("wh"), "orders").await.unwrap().as_deref(), Some(cursor));
    let outbox = view.outbox(&OutboxFilter::default()).await.unwrap();
    let actions: Vec<_> = outbox.iter().map(|i| i.push.action.clone()).collect();
    assert_eq!(actions, vec![PushAction::SetStock { quantity: stock - 1, expected: None }]);
    let audit = view.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(audit.iter().map(|a| a.reason.as_str()).collect::<Vec<_>>(), vec![format!("sale of {cursor}")]);
    let requests = view.sync_requests().await.unwrap();
    assert_eq!(requests.iter().map(|r| r.requested_by.as_deref()).collect::<Vec<_>>(), vec![Some(cursor)]);
}

async fn connections_are_scoped(a: &Arc<dyn Store>, b: &Arc<dyn Store>) {
    a.put_connection(sample_connection("wh", ChannelKind::Takealot)).await.expect("a global connection");
    let a_shop = a.put_connection(client_connection("a-shop", "a")).await.unwrap();
    b.put_connection(client_connection("b-shop", "b")).await.unwrap();
    let refused = a.put_connection(client_connection("b-other", "b")).await.expect_err("another company's");
    assert_eq!(refused.kind(), ErrorKind::Validation, "{refused}");
    let taken = b.put_connection(client_connection("a-shop", "b")).await.expect_err("store ids are unique");
    assert_eq!(taken.kind(), ErrorKind::Conflict, "{taken}");

    assert_eq!(stores_of(&a.connections(&ConnectionFilter::all()).await.unwrap()), vec!["a-shop", "wh"]);
    assert_eq!(stores_of(&b.connections(&ConnectionFilter::all()).await.unwrap()), vec!["b-shop", "wh"]);
    assert!(a.connection(&sid("b-shop")).await.unwrap().is_none(), "b's connection is invisible to a");
    assert!(b.connection(&sid("wh")).await.unwrap().is_some(), "a global connection is visible to all");
    let located = a.locate_store(&sid("b-shop")).await.unwrap().expect("located from any view");
    assert_eq!(located.scope, Scope::Client(co("b")));

    let foreign = b.put_connection(a_shop.clone()).await.expect_err("a's record through b's view");
    assert_eq!(foreign.kind(), ErrorKind::Validation, "{foreign}");
    let mut hijack = a_shop.clone();
    hijack.scope = Scope::Client(co("b"));
    let stale = b.put_connection(hijack).await.expect_err("b cannot take a's connection over");
    assert_eq!(stale.kind(), ErrorKind::Conflict, "{stale}");
    let health =
        b.record_health(&sid("a-shop"), HealthEvent::CredentialsOk { at: at(1) }).await.expect_err("nor its health");
    assert_eq!(health.kind(), ErrorKind::NotFound, "{health}");
    assert_eq!(a.connection(&sid("a-shop")).await.unwrap(), Some(a_shop));
}

async fn outbox_claims_are_scoped(a: &Arc<dyn Store>, b: &Arc<dyn Store>) {
    let claimed = a.claim_outbox(&ClaimRequest::new("w", 10, at(5), at(30))).await.unwrap();
    assert_eq!(claimed.len(), 1, "a claims its own item only");
    let token = claimed[0].claim_token.clone().unwrap();
    let foreign = b.finish_outbox(claimed[0].id, &token, OutboxResult::Done, at(6)).await.expect_err("not b's");
    assert_eq!(foreign.kind(), ErrorKind::NotFound, "{foreign}");
    assert_eq!(b.renew_outbox(&[(claimed[0].id, token.clone())], at(40)).await.unwrap(), 0);
    a.finish_outbox(claimed[0].id, &token, OutboxResult::Done, at(6)).await.unwrap();
    assert!(a.outbox(&OutboxFilter::default()).await.unwrap().is_empty());
    assert_eq!(b.outbox(&OutboxFilter::default()).await.unwrap().len(), 1, "b's push is still queued");
    let requests = b.claim_sync_requests(&ClaimRequest::new("w", 10, at(5), at(30))).await.unwrap();
    assert_eq!(requests.iter().map(|r| r.requested_by.as_deref()).collect::<Vec<_>>(), vec![Some("b-cursor")]);
}

async fn purges_are_scoped(store: &Arc<dyn Store>, a: &Arc<dyn Store>, b: &Arc<dyn Store>) {
    // A global store's rows go in every company; products stay.
    let report = a.purge_store(&sid("wh")).await.unwrap();
    assert_eq!((report.listings, report.order_lines, report.products.len()), (2, 4, 0), "{report:?}");
    for view in [a, b] {
        assert!(view.listings(&ListingFilter::default()).await.unwrap().is_empty());
        assert!(view.cursor(&sid("wh"), "orders").await.unwrap().is_none());
        assert_eq!(view.products().await.unwrap().len(), 1);
    }
    assert!(store.locate_store(&sid("wh")).await.unwrap().is_none());

    let purged = store.purge_company(&co("a")).await.unwrap().expect("a existed");
    assert_eq!((purged.products, purged.movements), (vec![sku("TS-001")], 2));
    assert!(store.locate_store(&sid("a-shop")).await.unwrap().is_none(), "its client connections go");
    assert!(a.products().await.unwrap().is_empty());
    assert!(a.audit(&AuditFilter::default()).await.unwrap().is_empty());
    assert_eq!(b.ledger_balance(&sku("TS-001")).await.unwrap(), 2, "b keeps everything");
    assert_eq!(b.audit(&AuditFilter::default()).await.unwrap().len(), 1);
    assert!(b.connection(&sid("b-shop")).await.unwrap().is_some());
    let ids: Vec<_> = store.companies().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![co("b"), co("default")]);
    assert_eq!(store.purge_company(&co("a")).await.unwrap(), None, "gone");
}

/// Two companies using the same names everywhere, side by side.
async fn two_companies_stay_apart(store: Arc<dyn Store>) {
    let a = store.for_company(&co("a"));
    let b = store.for_company(&co("b"));
    assert_eq!((a.company_id(), b.company_id()), (&co("a"), &co("b")));
    for (id, view) in [("a", &a), ("b", &b)] {
        view.commit(WriteOp::PutCompany(CompanyRecord::new(co(id), id.to_uppercase(), at(0))).into()).await.unwrap();
    }
    connections_are_scoped(&a, &b).await;
    write_company(&a, 10, "a-cursor").await;
    write_company(&b, 3, "b-cursor").await;
    check_company(&a, 10, "a-cursor").await;
    check_company(&b, 3, "b-cursor").await;
    assert!(store.products().await.unwrap().is_empty(), "the default company has none of it");
    let owners = store.sku_owners(&[sku("TS-001"), sku("NOBODY")]).await.unwrap();
    assert_eq!(owners.into_iter().collect::<Vec<_>>(), vec![(sku("TS-001"), vec![co("a"), co("b")])]);
    let again = OrderLineRecord::new(sid("wh"), OrderId::new("O1"), "1", 1, OrderStatus::Open, at(4));
    assert!(!a.record_order_line(again).await.unwrap(), "still once per company");
    outbox_claims_are_scoped(&a, &b).await;
    purges_are_scoped(&store, &a, &b).await;
}

/// Companies are versioned rows; heartbeats forget the expired workers; company leases are exclusive
/// until they run out.
async fn root_rows(store: Arc<dyn Store>) {
    let mut acme = CompanyRecord::new(co("acme"), "Acme", at(0));
    acme.requires = Some(ChannelKind::Takealot);
    store.commit(WriteOp::PutCompany(acme.clone()).into()).await.unwrap();
    let twice = store.commit(WriteOp::PutCompany(acme.clone()).into()).await.expect_err("exists");
    assert_eq!(twice.kind(), ErrorKind::Conflict);
    acme.version = 1;
    assert_eq!(store.company(&co("acme")).await.unwrap(), Some(acme.clone()));
    acme.bound_account = Some(AccountIdentity::new(ChannelKind::Takealot, "seller-1"));
    store.commit(WriteOp::PutCompany(acme.clone()).into()).await.unwrap();
    let stale = store.commit(WriteOp::PutCompany(acme.clone()).into()).await.expect_err("stale");
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    acme.version = 2;
    assert_eq!(store.company(&co("acme")).await.unwrap(), Some(acme));

    store.worker_heartbeat("w1", at(10), at(0)).await.unwrap();
    store.worker_heartbeat("w2", at(20), at(0)).await.unwrap();
    let live = store.worker_heartbeat("w3", at(30), at(15)).await.unwrap();
    assert_eq!(
        live.iter().map(|w| (w.worker.as_str(), w.until)).collect::<Vec<_>>(),
        vec![("w2", at(20)), ("w3", at(30))]
    );
    store.worker_gone("w2").await.unwrap();
    let live = store.worker_heartbeat("w3", at(40), at(16)).await.unwrap();
    assert_eq!(live.iter().map(|w| w.worker.as_str()).collect::<Vec<_>>(), vec!["w3"]);

    assert!(store.acquire_company_lease(&co("acme"), "w1", at(10), at(0)).await.unwrap());
    assert!(!store.acquire_company_lease(&co("acme"), "w2", at(12), at(5)).await.unwrap(), "held");
    assert!(store.acquire_company_lease(&co("acme"), "w1", at(20), at(5)).await.unwrap(), "renewed");
    assert!(store.acquire_company_lease(&co("acme"), "w2", at(30), at(20)).await.unwrap(), "run out");
    assert!(!store.release_company_lease(&co("acme"), "w1").await.unwrap());
    assert!(store.acquire_company_lease(&co("default"), "w1", at(30), at(20)).await.unwrap());
    let leases = store.company_leases().await.unwrap();
    let holders: Vec<_> = leases.iter().map(|l| (l.company.as_str(), l.holder.as_str(), l.until)).collect();
    assert_eq!(holders, vec![("acme", "w2", at(30)), ("default", "w1", at(30))]);
    assert!(store.release_company_lease(&co("acme"), "w2").await.unwrap());
    assert_eq!(store.company_leases().await.unwrap().len(), 1);
}

#[cfg(feature = "sqlite")]
async fn sqlite(dir: &tempfile::TempDir, name: &str) -> Arc<dyn Store> {
    Arc::new(sync_engine::SqliteStore::open(dir.path().join(name)).await.unwrap())
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_keeps_two_companies_apart() {
    let dir = tempfile::tempdir().unwrap();
    two_companies_stay_apart(sqlite(&dir, "apart.db").await).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_keeps_the_root_rows() {
    let dir = tempfile::tempdir().unwrap();
    root_rows(sqlite(&dir, "root.db").await).await;
}

#[cfg(feature = "postgres")]
async fn on_postgres<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("skipped: DATABASE_URL not set");
        return;
    };
    let schema = format!("stocksync_companies_{}", uuid::Uuid::new_v4().simple());
    let options = sync_engine::PostgresOptions::new(url).with_schema(schema);
    let pg = Arc::new(sync_engine::PostgresStore::connect(options).await.expect("connect to DATABASE_URL"));
    check(Arc::clone(&pg) as Arc<dyn Store>).await;
    pg.drop_schema().await.unwrap();
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_keeps_two_companies_apart() {
    on_postgres(two_companies_stay_apart).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_keeps_the_root_rows() {
    on_postgres(root_rows).await;
}
