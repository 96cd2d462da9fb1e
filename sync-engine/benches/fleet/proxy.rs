//! The webhook receiver the emulators deliver to: `POST /webhooks/{store}`. With workers it stands for a
//! load balancer in front of them: each delivery goes to the next live worker in turn (the next one again
//! when a worker cannot be reached), whatever company the store is of. In-process it hands the delivery
//! to the store's company's engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use channel_core::{StoreId, WebhookRequest};
use sync_engine::SyncEngine;

/// Where deliveries go, and what happened to them.
#[derive(Default)]
pub(crate) struct Proxy {
    /// Live workers' base URLs.
    workers: RwLock<Vec<String>>,
    /// In-process: each store's company's engine.
    engines: RwLock<HashMap<String, SyncEngine>>,
    next: AtomicUsize,
    client: reqwest::Client,
    /// Deliveries answered 2xx.
    pub ok: AtomicU64,
    /// Deliveries answered otherwise (the emulators do not deliver again), by status.
    pub refused: std::sync::Mutex<BTreeMap<u16, u64>>,
}

impl Proxy {
    /// Serve on a free loopback port; the base URL.
    pub(crate) async fn serve(self: &Arc<Self>) -> Result<String, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let base = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let app = Router::new().route("/webhooks/{store}", post(receive)).with_state(Arc::clone(self));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(base)
    }

    /// The live workers from now on.
    pub(crate) fn set_workers(&self, urls: Vec<String>) {
        *self.workers.write().unwrap_or_else(std::sync::PoisonError::into_inner) = urls;
    }

    /// A worker is gone (taken out of the rotation before it is killed, as a health check would).
    pub(crate) fn remove_worker(&self, url: &str) {
        self.workers.write().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|u| u != url);
    }

    /// A worker joined.
    pub(crate) fn add_worker(&self, url: String) {
        self.workers.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(url);
    }

    /// In-process: a store's engine.
    pub(crate) fn set_engine(&self, store: &StoreId, engine: SyncEngine) {
        self.engines.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(store.to_string(), engine);
    }

    fn workers(&self) -> Vec<String> {
        self.workers.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Forward to the next live worker; waits up to 4 s for one (a restarting single worker).
    async fn forward(&self, store: &str, headers: &HeaderMap, body: Bytes) -> StatusCode {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
        loop {
            let workers = self.workers();
            for _ in 0..workers.len() {
                let url = &workers[self.next.fetch_add(1, Ordering::Relaxed) % workers.len()];
                let mut request = self.client.post(format!("{url}/webhooks/{store}")).body(body.clone());
                for (name, value) in headers {
                    if name != "host" && name != "content-length" {
                        request = request.header(name, value);
                    }
                }
                if let Ok(response) = request.send().await {
                    return StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(proxy): State<Arc<Proxy>>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let engine = proxy.engines.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&store).cloned();
    let status = match engine {
        Some(engine) => {
            let mut request = WebhookRequest::new(body);
            for (name, value) in &headers {
                if let Ok(value) = value.to_str() {
                    request = request.header(name.as_str(), value);
                }
            }
            let outcome = engine.handle_webhook(&StoreId::new(store), &request).await;
            StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        None => proxy.forward(&store, &headers, body).await,
    };
    if status.is_success() {
        proxy.ok.fetch_add(1, Ordering::Relaxed);
    } else {
        *proxy.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(status.as_u16()).or_default() +=
            1;
    }
    status
}
