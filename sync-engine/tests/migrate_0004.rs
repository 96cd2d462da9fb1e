//! Migration 0004 (companies): a database made by the version before companies (migrations 0001–0003)
//! opens under the default company with everything it held, and keeps working: commits, once-only rows,
//! outbox claims. SQLite in a temporary file; PostgreSQL (with `DATABASE_URL`) in a schema of its own,
//! dropped afterwards.

use std::path::Path;
use std::sync::Arc;

use channel_core::{ChannelKind, ListingId, OrderId, OrderStatus, PlatformIds, Sku, StoreId};
use jiff::SignedDuration;
use sync_engine::store::*;
use sync_engine::testing::t0;
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

fn default_company() -> CompanyId {
    CompanyId::default_company()
}

/// A directory holding only the migrations before companies, copied from `migrations/<backend>`.
fn old_migrations(dir: &Path, backend: &str) -> std::path::PathBuf {
    let only_old = dir.join(format!("migrations-{backend}"));
    std::fs::create_dir(&only_old).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    for name in ["0001_store.sql", "0002_sync_request_claims.sql", "0003_held_order_lines.sql"] {
        std::fs::copy(source.join(name), only_old.join(name)).unwrap();
    }
    only_old
}

/// The rows an older version wrote: a global connection and a client-labelled one, a product, a listing,
/// two ledger movements, an order line, a pending outbox item, a delivery, a cursor, an audit entry and a
/// sync request. Plain literals, valid in both SQLite and PostgreSQL.
fn old_rows() -> Vec<String> {
    let json = |v: serde_json::Value| v.to_string();
    let health = json(serde_json::to_value(Health::default()).unwrap());
    let ids = json(serde_json::to_value(PlatformIds::new()).unwrap());
    let action = json(serde_json::to_value(PushAction::SetStock { quantity: 9, expected: None }).unwrap());
    let status = serde_json::to_value(OrderStatus::Open).unwrap();
    let status = status.as_str().unwrap();
    let ms = |s: i64| at(s).as_millisecond();
    let connection = |store: &str, channel: ChannelKind, client: &str| {
        format!(
            "INSERT INTO connections (store, channel, name, scope_client, warehouse, settings, credentials, account,
             sync_mode, source_of_truth, state, health, created_at, updated_at, version)
             VALUES ('{store}', '{}', '{store} shop', {client}, NULL, '{{}}', 'v1:sealed', NULL, 'live', FALSE,
             'connected', '{health}', {t}, {t}, 1)",
            channel.as_str(),
            t = ms(0)
        )
    };
    vec![
        connection("shop", ChannelKind::Shopify, "NULL"),
        connection("tak", ChannelKind::Takealot, "'acme'"),
        format!(
            "INSERT INTO products (sku, name, components, created_at, updated_at) VALUES ('TS-001', 'Tee', '[]', {0}, {0})",
            ms(0)
        ),
        format!(
            "INSERT INTO listings (store, listing, ids, channel_sku, sku, fulfilment, status, seen_quantity, seen_at,
             version) VALUES ('shop', 'L1', '{ids}', 'TS-001', 'TS-001', 'merchant', 'active', 10, {}, 1)",
            ms(1)
        ),
        format!("INSERT INTO ledger (sku, delta, cause, at) VALUES ('TS-001', 10, 'manual_adjustment', {})", ms(1)),
        format!(
            "INSERT INTO ledger (sku, delta, cause, store, order_id, line, at)
             VALUES ('TS-001', -1, 'order', 'shop', 'O1', '1', {})",
            ms(2)
        ),
        format!(
            "INSERT INTO order_lines (store, order_id, line, sku, quantity, released, status, first_seen_at, updated_at,
             version, listing, channel_sku, held) VALUES ('shop', 'O1', '1', 'TS-001', 1, 0, '{status}', {0}, {0}, 1,
             'L1', 'TS-001', FALSE)",
            ms(2)
        ),
        format!(
            "INSERT INTO outbox (store, listing, lane, action, reason, state, attempts, next_attempt_at, created_at,
             updated_at) VALUES ('shop', 'L1', 'stock', '{action}', 'sale', 'pending', 0, {0}, {0}, {0})",
            ms(2)
        ),
        format!(
            "INSERT INTO deliveries (store, delivery_id, topic, received_at) VALUES ('shop', 'd1', 'orders/create', {})",
            ms(2)
        ),
        "INSERT INTO cursors (store, name, value) VALUES ('shop', 'orders', 'c1')".to_owned(),
        format!(
            "INSERT INTO audit (store, listing, sku, field, old, new, reason, at)
             VALUES ('shop', 'L1', 'TS-001', 'quantity', '10', '9', 'sale', {})",
            ms(2)
        ),
        format!("INSERT INTO sync_requests (store, requested_by, requested_at) VALUES ('shop', 'cli', {})", ms(3)),
    ]
}

/// Everything the older version wrote reads under the default company, nothing under another.
async fn reads_everything_under_the_default_company(store: &Arc<dyn Store>) {
    assert_eq!(store.company_id(), &default_company(), "a store opened afresh is the default company's view");
    let companies = store.companies().await.unwrap();
    assert_eq!(companies.len(), 1, "{companies:?}");
    let company = &companies[0];
    assert_eq!((company.id.as_str(), company.name.as_str(), company.version), ("default", "Default", 1));
    assert_eq!((company.requires, company.bound_account.as_ref()), (None, None));
    assert_eq!(store.company(&default_company()).await.unwrap().as_ref(), Some(company));

    let connections = store.connections(&ConnectionFilter::all()).await.unwrap();
    let scopes: Vec<_> = connections.iter().map(|c| (c.store.as_str(), c.scope.clone())).collect();
    let mine = Scope::Client(default_company());
    assert_eq!(scopes, vec![("shop", mine.clone()), ("tak", mine.clone())], "old global and client labels alike");
    assert_eq!(store.locate_store(&sid("tak")).await.unwrap().map(|c| c.scope), Some(mine));

    assert_eq!(store.products().await.unwrap().iter().map(|p| p.sku.clone()).collect::<Vec<_>>(), vec![sku("TS-001")]);
    let listing = store.listing(&sid("shop"), &ListingId::new("L1")).await.unwrap().expect("listing kept");
    assert_eq!((listing.sku, listing.seen_quantity, listing.version), (Some(sku("TS-001")), Some(10), 1));
    assert_eq!(store.listings(&ListingFilter::sku(sku("TS-001"))).await.unwrap().len(), 1);
    assert_eq!(store.ledger_balance(&sku("TS-001")).await.unwrap(), 9);
    assert_eq!(store.ledger(&LedgerFilter::default()).await.unwrap().len(), 2);
    let line = store.order_line(&sid("shop"), &OrderId::new("O1"), "1").await.unwrap().expect("order line kept");
    assert_eq!((line.quantity, line.held, line.version), (1, false, 1));
    assert!(store.delivery_seen(&sid("shop"), "d1").await.unwrap());
    assert_eq!(store.cursor(&sid("shop"), "orders").await.unwrap().as_deref(), Some("c1"));
    assert_eq!(store.audit(&AuditFilter::default()).await.unwrap().len(), 1);
    assert_eq!(store.sync_requests().await.unwrap().len(), 1);
    let outbox = store.outbox(&OutboxFilter::default()).await.unwrap();
    assert_eq!(outbox.iter().map(|i| i.state).collect::<Vec<_>>(), vec![OutboxState::Pending]);
    let owners = store.sku_owners(&[sku("TS-001"), sku("NOPE")]).await.unwrap();
    assert_eq!(owners.into_iter().collect::<Vec<_>>(), vec![(sku("TS-001"), vec![default_company()])]);

    let other = store.for_company(&CompanyId::new("other"));
    assert!(other.connections(&ConnectionFilter::all()).await.unwrap().is_empty());
    assert!(other.products().await.unwrap().is_empty());
    assert!(other.listing(&sid("shop"), &ListingId::new("L1")).await.unwrap().is_none());
    assert_eq!(other.ledger_balance(&sku("TS-001")).await.unwrap(), 0);
    assert!(other.order_line(&sid("shop"), &OrderId::new("O1"), "1").await.unwrap().is_none());
    assert!(other.outbox(&OutboxFilter::default()).await.unwrap().is_empty());
    assert!(other.audit(&AuditFilter::default()).await.unwrap().is_empty());
    assert!(other.sync_requests().await.unwrap().is_empty());
}

/// The migrated database keeps working: versioned writes, once-only rows under their new keys, coalescing
/// into the old pending outbox item, claims; new ids follow the old ones; another company's same SKU is
/// its own.
async fn keeps_working(store: &Arc<dyn Store>) {
    let mut listing = store.listing(&sid("shop"), &ListingId::new("L1")).await.unwrap().unwrap();
    listing.pushed_quantity = Some(7);
    let push = OutboxPush::new(
        sid("shop"),
        ListingId::new("L1"),
        PushAction::SetStock { quantity: 7, expected: None },
        "sale",
    );
    let line = OrderLineRecord::new(sid("shop"), OrderId::new("O2"), "1", 2, OrderStatus::Open, at(10));
    let batch = WriteBatch::new()
        .with(WriteOp::PutOrderLine(line))
        .with(WriteOp::RecordMovement(NewMovement::new(sku("TS-001"), -2, MovementCause::Order, at(10)).for_line(
            sid("shop"),
            OrderId::new("O2"),
            "1",
        )))
        .with(WriteOp::PutListing(listing))
        .with(WriteOp::Enqueue { push, now: at(10) });
    assert!(store.commit(batch).await.unwrap(), "applied");
    assert_eq!(store.ledger_balance(&sku("TS-001")).await.unwrap(), 7);
    let ledger = store.ledger(&LedgerFilter::default()).await.unwrap();
    assert!(ledger[2].id > ledger[1].id, "new movements follow the old ones: {ledger:?}");
    assert_eq!(store.listing(&sid("shop"), &ListingId::new("L1")).await.unwrap().unwrap().version, 2);

    let again = OrderLineRecord::new(sid("shop"), OrderId::new("O1"), "1", 1, OrderStatus::Open, at(11));
    assert!(!store.record_order_line(again).await.unwrap(), "an old order line is still imported once");
    let delivery = DeliveryRecord::new(sid("shop"), "d1", "orders/create", at(11));
    assert!(!store.record_delivery(delivery).await.unwrap(), "an old delivery is still applied once");

    let pending = store.outbox(&OutboxFilter::default()).await.unwrap();
    assert_eq!(pending.len(), 1, "the new push joined the old pending item: {pending:?}");
    let claimed = store.claim_outbox(&ClaimRequest::new("w", 10, at(20), at(50))).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].push.action, PushAction::SetStock { quantity: 7, expected: None });
    let token = claimed[0].claim_token.clone().unwrap();
    store.finish_outbox(claimed[0].id, &token, OutboxResult::Done, at(21)).await.unwrap();
    assert!(store.outbox(&OutboxFilter::default()).await.unwrap().is_empty());

    let other = store.for_company(&CompanyId::new("other"));
    other.commit(WriteOp::PutProduct(ProductRecord::simple(sku("TS-001"), at(30))).into()).await.unwrap();
    let movement = NewMovement::new(sku("TS-001"), 5, MovementCause::ManualAdjustment, at(30));
    other.commit(WriteOp::RecordMovement(movement).into()).await.unwrap();
    assert_eq!(other.ledger_balance(&sku("TS-001")).await.unwrap(), 5);
    assert_eq!(store.ledger_balance(&sku("TS-001")).await.unwrap(), 7, "the default company's stock is its own");
    let owners = store.sku_owners(&[sku("TS-001")]).await.unwrap();
    assert_eq!(owners[&sku("TS-001")], vec![default_company(), CompanyId::new("other")]);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_sqlite_database_from_before_companies_opens_under_the_default_company() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let only_old = old_migrations(dir.path(), "sqlite");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(only_old.as_path()).await.unwrap().run(&pool).await.unwrap();
        for statement in old_rows() {
            sqlx::query(&statement).execute(&pool).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        pool.close().await;
    }
    let store: Arc<dyn Store> = Arc::new(sync_engine::SqliteStore::open(&path).await.expect("migrates"));
    reads_everything_under_the_default_company(&store).await;
    keeps_working(&store).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgres_database_from_before_companies_opens_under_the_default_company() {
    use sqlx::ConnectOptions;

    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("skipped: DATABASE_URL not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let only_old = old_migrations(dir.path(), "postgres");
    let schema = format!("stocksync_migrate_{}", uuid::Uuid::new_v4().simple());
    {
        let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        let mut conn = options.connect().await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut conn).await.unwrap();
        let pool = sqlx::PgPool::connect_with(options.options([("search_path", schema.as_str())])).await.unwrap();
        sqlx::migrate::Migrator::new(only_old.as_path()).await.unwrap().run(&pool).await.unwrap();
        for statement in old_rows() {
            sqlx::query(&statement).execute(&pool).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        pool.close().await;
    }
    let options = sync_engine::PostgresOptions::new(url).with_schema(schema);
    let pg = Arc::new(sync_engine::PostgresStore::connect(options).await.expect("migrates"));
    let store: Arc<dyn Store> = Arc::clone(&pg) as Arc<dyn Store>;
    reads_everything_under_the_default_company(&store).await;
    keeps_working(&store).await;
    pg.drop_schema().await.unwrap();
}
