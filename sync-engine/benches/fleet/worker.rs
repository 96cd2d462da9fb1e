//! `--worker NAME --schema S`: one worker process, as a host would run it: a [`Fleet`] over the shared
//! PostgreSQL schema, with the real adapters ([`AdapterFactory`]) and an HTTP receiver for webhooks of any
//! store. It prints `PORT <port>` once its receiver listens, then `HELD <n>` (the companies whose engines
//! run here) every 250 ms, and stops cleanly when its standard input closes or reads `stop`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use channel_core::{StoreId, WebhookRequest};
use sync_engine::{AdapterFactory, CredentialCipher, Fleet, Store, SyncConfig, SystemClock};

use crate::args::Args;

/// The environment variable carrying the credential key from the coordinator to its workers.
pub(crate) const KEY_VAR: &str = "FLEET_BENCH_KEY";

/// The engines' configuration for `args`.
pub(crate) fn sync_config(args: &Args, worker: &str) -> SyncConfig {
    let mut config = SyncConfig::default();
    config.worker = worker.to_owned();
    config.lease = args.lease;
    config.tick = args.tick;
    config
}

/// Run a worker until told to stop; the exit code.
pub(crate) async fn run(args: &Args, name: &str) -> i32 {
    match serve(args, name).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("worker {name}: {message}");
            1
        }
    }
}

async fn serve(args: &Args, name: &str) -> Result<(), String> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
    let schema = args.schema.as_deref().ok_or("--schema is required with --worker")?;
    let key = std::env::var(KEY_VAR).map_err(|_| format!("{KEY_VAR} is not set"))?;
    let cipher = CredentialCipher::from_base64(&key).map_err(|e| e.to_string())?;
    let store: Arc<dyn Store> = crate::seed::open(&url, schema, args.pool).await?;
    let fleet =
        Fleet::new(store, Arc::new(AdapterFactory::new()), cipher, sync_config(args, name), Arc::new(SystemClock));
    let running = fleet.start();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let app = Router::new().route("/webhooks/{store}", post(receive)).with_state(fleet.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("PORT {port}");

    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "stop" {
            line.clear();
        }
        let _ = stop_tx.send(());
    });
    loop {
        println!("HELD {}", fleet.held().len());
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = &mut stop => break,
        }
    }
    running.shutdown().await;
    Ok(())
}

async fn receive(State(fleet): State<Fleet>, Path(store): Path<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut request = WebhookRequest::new(body);
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            request = request.header(name.as_str(), value);
        }
    }
    let outcome = fleet.handle_webhook(&StoreId::new(store), &request).await;
    StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
