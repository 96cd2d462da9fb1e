#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

//! Store throughput: importing one order line exactly once (marker + ledger movement + outbox push in
//! one batch), and claiming and finishing outbox items. `cargo bench -p sync-engine --bench store`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use channel_core::{ListingId, OrderId, OrderStatus, Sku, StoreId};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use sync_engine::store::*;
use sync_engine::{MemoryStore, SqliteStore, Store};

fn import_batch(n: u64, now: Timestamp) -> WriteBatch {
    let store = StoreId::new("shop");
    WriteBatch::new()
        .with(WriteOp::PutOrderLine(OrderLineRecord::new(
            store.clone(),
            OrderId::new(format!("o{n}")),
            "1",
            1,
            OrderStatus::Open,
            now,
        )))
        .with(WriteOp::RecordMovement(
            NewMovement::new(Sku::new("MUG").expect("valid"), -1, MovementCause::Order, now).for_line(
                store.clone(),
                OrderId::new(format!("o{n}")),
                "1",
            ),
        ))
        .with(WriteOp::Enqueue {
            push: OutboxPush::new(
                StoreId::new("woo"),
                ListingId::new(format!("L{}", n % 500)),
                PushAction::AdjustStock { delta: -1 },
                "sale",
            ),
            now,
        })
}

fn bench_store(c: &mut Criterion, name: &str, store: Arc<dyn Store>, rt: &tokio::runtime::Runtime) {
    let now = Timestamp::from_second(1_767_225_600).expect("valid");
    let counter = AtomicU64::new(0);
    c.bench_function(&format!("{name}/import_order_line"), |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            rt.block_on(store.commit(import_batch(n, now))).expect("commit")
        })
    });
    c.bench_function(&format!("{name}/replayed_order_line"), |b| {
        b.iter(|| rt.block_on(store.commit(import_batch(0, now))).expect("commit"))
    });
    let mut tick = 0i64;
    c.bench_function(&format!("{name}/enqueue_claim_finish_10"), |b| {
        b.iter(|| {
            tick += 1;
            let at = now + SignedDuration::from_secs(tick);
            rt.block_on(async {
                let mut batch = WriteBatch::new();
                for i in 0..10 {
                    let push = OutboxPush::new(
                        StoreId::new("tk"),
                        ListingId::new(format!("T{i}")),
                        PushAction::SetStock { quantity: tick, expected: None },
                        "bench",
                    );
                    batch.push(WriteOp::Enqueue { push, now: at });
                }
                store.commit(batch).await.expect("enqueue");
                let claim =
                    ClaimRequest::new("w", 10, at, at + SignedDuration::from_secs(30)).for_store(StoreId::new("tk"));
                for item in store.claim_outbox(&claim).await.expect("claim") {
                    let token = item.claim_token.clone().expect("token");
                    store.finish_outbox(item.id, &token, OutboxResult::Done, at).await.expect("finish");
                }
            })
        })
    });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    bench_store(c, "memory", Arc::new(MemoryStore::new()), &rt);
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = rt.block_on(SqliteStore::open(dir.path().join("bench.db"))).expect("open");
    bench_store(c, "sqlite", Arc::new(sqlite), &rt);
}

criterion_group! {
    name = store;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(store);
