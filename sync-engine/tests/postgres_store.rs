//! The PostgreSQL store runs the conformance suite against `DATABASE_URL`, each store in its own
//! schema, dropped (and its pool closed) when the next case asks for a store: the cases run one after
//! another, and a pool per case kept open to the end would hold more connections than a server allows.
//! Without `DATABASE_URL` the test prints a skip notice and passes.

#![cfg(feature = "postgres")]

use std::sync::{Arc, Mutex};

use sync_engine::{PostgresOptions, PostgresStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("skipped: DATABASE_URL not set");
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let made: Arc<Mutex<Vec<Arc<PostgresStore>>>> = Arc::default();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    sync_engine::testing::store_conformance(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let options = PostgresOptions::new(url.clone()).with_schema(format!("stocksync_test_{run}_{n}"));
        let made = Arc::clone(&made);
        async move {
            let finished: Vec<_> = made.lock().unwrap().drain(..).collect();
            for store in finished {
                store.drop_schema().await.expect("drop the previous case's schema");
            }
            let store = Arc::new(PostgresStore::connect(options).await.expect("connect to DATABASE_URL"));
            made.lock().unwrap().push(Arc::clone(&store));
            store as Arc<dyn Store>
        }
    })
    .await;
    let stores: Vec<_> = made.lock().unwrap().drain(..).collect();
    for store in stores {
        store.drop_schema().await.expect("drop the test schema");
    }
}
