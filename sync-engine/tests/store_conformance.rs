//! Every built-in `Store` runs the conformance suite.

use std::sync::Arc;

use sync_engine::{MemoryStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    sync_engine::testing::store_conformance(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let counter = std::sync::atomic::AtomicUsize::new(0);
    sync_engine::testing::store_conformance(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.path().join(format!("store-{n}.db"));
        async move { Arc::new(sync_engine::SqliteStore::open(path).await.expect("open sqlite")) as Arc<dyn Store> }
    })
    .await;
}
