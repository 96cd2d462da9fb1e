//! SQLite survives a crash: committed batches are there after reopening, whether the process died
//! without closing the pool or the files were copied mid-flight; claimed outbox items come back when
//! their lease runs out; two handles on one file (two processes) never claim the same item; a database
//! from before sync requests were claimed keeps its queued requests.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use channel_core::{ChannelKind, ListingId, Sku, StoreId};
use jiff::SignedDuration;
use sync_engine::store::*;
use sync_engine::testing::{sample_connection, t0};
use sync_engine::{SqliteStore, Store, StoreExt};

fn at(s: i64) -> jiff::Timestamp {
    t0() + SignedDuration::from_secs(s)
}

fn push(listing: &str, q: i64) -> OutboxPush {
    OutboxPush::new(
        StoreId::new("shop"),
        ListingId::new(listing),
        PushAction::SetStock { quantity: q, expected: None },
        "t",
    )
}

async fn write_some(store: &SqliteStore) {
    store.put_connection(sample_connection("shop", ChannelKind::Shopify)).await.unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..50 {
        batch.push(WriteOp::RecordMovement(NewMovement::new(
            Sku::new("MUG").unwrap(),
            1,
            MovementCause::ManualAdjustment,
            at(i),
        )));
    }
    batch.push(WriteOp::Enqueue { push: push("L1", 7), now: at(0) });
    assert!(store.commit(batch).await.unwrap());
}

async fn check(store: &SqliteStore) {
    assert!(store.connection(&StoreId::new("shop")).await.unwrap().is_some());
    assert_eq!(store.ledger_balance(&Sku::new("MUG").unwrap()).await.unwrap(), 50);
    assert_eq!(store.outbox(&OutboxFilter::default()).await.unwrap().len(), 1);
}

fn copy_db(from: &Path, to: &Path) -> usize {
    let mut copied = 0;
    for suffix in ["", "-wal", "-shm"] {
        let src = from.with_file_name(format!("{}{suffix}", from.file_name().unwrap().to_string_lossy()));
        if src.exists() {
            std::fs::copy(&src, to.with_file_name(format!("{}{suffix}", to.file_name().unwrap().to_string_lossy())))
                .unwrap();
            copied += 1;
        }
    }
    copied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_data_survives_a_copy_taken_mid_flight() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let store = SqliteStore::open(&live).await.unwrap();
    write_some(&store).await;
    // The pool is still open and the WAL not checkpointed: copy the files as a crash would leave them.
    let snapshot = dir.path().join("snapshot.db");
    assert!(copy_db(&live, &snapshot) >= 2, "the database and its WAL");
    let reopened = SqliteStore::open(&snapshot).await.unwrap();
    check(&reopened).await;
    reopened.close().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_after_a_drop_without_close_loses_nothing_and_expired_claims_return() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        write_some(&store).await;
        let claimed = store.claim_outbox(&ClaimRequest::new("w1", 10, at(1), at(31))).await.unwrap();
        assert_eq!(claimed.len(), 1);
        // The worker "crashes" holding the claim: the store is dropped without close.
        drop(store);
    }
    let store = SqliteStore::open(&path).await.unwrap();
    check(&store).await;
    assert!(store.claim_outbox(&ClaimRequest::new("w2", 10, at(2), at(60))).await.unwrap().is_empty());
    let again = store.claim_outbox(&ClaimRequest::new("w2", 10, at(31), at(60))).await.unwrap();
    assert_eq!(again.len(), 1, "the claim's lease ran out, so the push is retried");
    assert_eq!(again[0].attempts, 2);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_never_claim_the_same_item() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b = Arc::new(SqliteStore::open(&path).await.unwrap());
    let mut batch = WriteBatch::new();
    for i in 0..80 {
        batch.push(WriteOp::Enqueue { push: push(&format!("L{i}"), i), now: at(0) });
    }
    a.commit(batch).await.unwrap();
    let mut tasks = Vec::new();
    for (n, store) in [Arc::clone(&a), Arc::clone(&b), a, b].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let got = match store.claim_outbox(&ClaimRequest::new(format!("w{n}"), 5, at(1), at(100))).await {
                    Ok(got) => got,
                    Err(e) if e.is_retryable() => continue,
                    Err(e) => panic!("{e}"),
                };
                if got.is_empty() {
                    return ids;
                }
                ids.extend(got.iter().map(|i| i.id));
            }
        }));
    }
    let mut seen = BTreeSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "item {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 80);
}

/// A database made before sync requests were claimed (migration 0001 only) opens with its queued request
/// intact and claimable; a worker that dies holding the claim (its handle dropped unclosed) leaves it to
/// another handle once the lease ends.
#[tokio::test]
async fn an_older_database_keeps_its_sync_requests_and_a_dead_claim_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let only_first = dir.path().join("migrations");
    std::fs::create_dir(&only_first).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite/0001_store.sql"),
        only_first.join("0001_store.sql"),
    )
    .unwrap();
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(only_first.as_path()).await.unwrap().run(&pool).await.unwrap();
        sqlx::query("INSERT INTO sync_requests (store, requested_by, requested_at) VALUES ('shop', 'cli', ?)")
            .bind(at(5).as_millisecond())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let a = SqliteStore::open(&path).await.expect("migrates the older database");
    let queued = a.sync_requests().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].requested_by.as_deref(), queued[0].requested_at), (Some("cli"), at(5)));
    assert_eq!(queued[0].claim_token, None, "unclaimed");
    let claimed = a.claim_sync_requests(&ClaimRequest::new("a", 10, at(10), at(40))).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(a); // "a" dies mid-sync, without closing its pool or finishing the request.

    let b = SqliteStore::open(&path).await.unwrap();
    assert!(b.claim_sync_requests(&ClaimRequest::new("b", 10, at(39), at(70))).await.unwrap().is_empty());
    let taken = b.claim_sync_requests(&ClaimRequest::new("b", 10, at(40), at(70))).await.unwrap();
    assert_eq!(taken.len(), 1, "taken over once the lease ended");
    assert_eq!(taken[0].claimed_by.as_deref(), Some("b"));
    assert!(b.finish_sync_request(&StoreId::new("shop"), taken[0].claim_token.as_deref().unwrap()).await.unwrap());
    assert!(b.sync_requests().await.unwrap().is_empty());
}
