//! Helpers shared by the emulator tests: a webhook receiver and fixture loading.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// One delivery a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A small axum server collecting webhook deliveries.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let app = Router::new()
            .route(
                "/hook",
                post(|State(got): State<Arc<Mutex<Vec<Received>>>>, headers: HeaderMap, body: Bytes| async move {
                    got.lock().unwrap().push(Received { headers, body });
                    StatusCode::OK
                }),
            )
            .with_state(Arc::clone(&got));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, got }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Deliveries whose `header` equals `value`.
    pub fn with_header(&self, header: &str, value: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.header(header) == value).collect()
    }
}

/// `../shared/fixtures/<platform>/<name>` relative to the workspace, or `None` (with a message) when the
/// shared folder is absent.
pub fn fixture(platform: &str, name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(platform).join(name);
    if path.exists() {
        Some(path)
    } else {
        println!("skipped: {} not found", path.display());
        None
    }
}

/// Reads and decodes a fixture into `T`, panicking with the serde message if it does not fit.
pub fn decode_fixture<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("fixture {} does not decode: {err}", path.display()))
}

/// Decodes an emulator answer into `T`, panicking with the serde message and the body if it does not fit.
pub fn decode_emulated<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> T {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|err| panic!("emulator output does not decode: {err}\n{value:#}"))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}
