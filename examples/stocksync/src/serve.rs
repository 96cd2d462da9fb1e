//! `stocksync --config FILE serve` and `stocksync --config FILE sync-now STORE`, and the webhook router the
//! demo shares: `POST /webhooks/{store}` hands the delivery to [`SyncEngine::handle_webhook`] and answers
//! with its status.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use channel_core::{StoreId, WebhookRequest};
use serde::Deserialize;
use sync_engine::store::{ConnectionFilter, ConnectionState};
use sync_engine::sync::{SyncEvent, WebhookOutcome};
use sync_engine::{Connections, CredentialCipher, SqliteStore, Store, SyncEngine, SystemClock};

/// Arguments of `stocksync serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Where to listen for webhooks.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The public base URL the platforms deliver to (for signature schemes that sign the URL).
    #[arg(long)]
    public_url: Option<String>,
}

/// Arguments of `stocksync sync-now`.
#[derive(Debug, clap::Args)]
pub(crate) struct SyncNowArgs {
    /// The store to reconcile (every store is read; only this one is pushed to).
    store: String,
}

#[derive(Clone)]
struct Hooks {
    engine: SyncEngine,
    base: String,
}

/// The webhook endpoints: `POST /webhooks/{store}`.
pub(crate) fn webhook_router(engine: SyncEngine, public_base: String) -> Router {
    Router::new().route("/webhooks/{store}", post(receive)).with_state(Hooks { engine, base: public_base })
}

async fn receive(
    State(hooks): State<Hooks>,
    UrlPath(store): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut request = WebhookRequest::new(body).with_url(format!("{}/webhooks/{store}", hooks.base));
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            request = request.header(name.as_str(), value);
        }
    }
    let outcome = hooks.engine.handle_webhook(&StoreId::new(store), &request).await;
    let status = StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match &outcome {
        WebhookOutcome::Applied { topic, .. } => format!("applied {topic}"),
        WebhookOutcome::Duplicate { delivery_id } => format!("duplicate delivery {delivery_id}"),
        WebhookOutcome::Ignored { reason, .. } => format!("ignored: {reason}"),
        WebhookOutcome::Rejected { reason, .. } => reason.clone(),
        _ => String::new(),
    };
    (status, text)
}

/// The part of the config file `serve` and `sync-now` read: where the store is and its credential key.
#[derive(Debug, Deserialize)]
struct FileConfig {
    store: StoreSection,
}

#[derive(Debug, Deserialize)]
struct StoreSection {
    path: PathBuf,
    key_env: Option<String>,
    key_file: Option<PathBuf>,
}

enum Fail {
    Usage(String),
    Failed(String),
}

fn relative(config: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_owned() } else { config.parent().unwrap_or(Path::new(".")).join(p) }
}

async fn open_engine(config_path: Option<&Path>) -> Result<SyncEngine, Fail> {
    let config_path = config_path.ok_or_else(|| Fail::Usage("--config FILE is required".into()))?;
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| Fail::Usage(format!("cannot read {}: {e}", config_path.display())))?;
    let config: FileConfig =
        toml::from_str(&text).map_err(|e| Fail::Usage(format!("{}: {e}", config_path.display())))?;
    let key = match (&config.store.key_env, &config.store.key_file) {
        (Some(var), None) => {
            std::env::var(var).map_err(|_| Fail::Usage(format!("the credential key variable {var} is not set")))?
        }
        (None, Some(file)) => std::fs::read_to_string(relative(config_path, file))
            .map_err(|e| Fail::Usage(format!("cannot read {}: {e}", file.display())))?,
        _ => return Err(Fail::Usage("[store] needs exactly one of key_env or key_file".into())),
    };
    let cipher = CredentialCipher::from_base64(key.trim()).map_err(|e| Fail::Usage(e.to_string()))?;
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(relative(config_path, &config.store.path)).await.map_err(|e| Fail::Failed(e.to_string()))?,
    );
    let connections =
        Connections::new(Arc::clone(&store), crate::connections::channel_factory(), cipher, Arc::new(SystemClock));
    let mut builder = SyncEngine::builder(Arc::clone(&store));
    for c in store.connections(&ConnectionFilter::all()).await.map_err(|e| Fail::Failed(e.to_string()))? {
        if c.state != ConnectionState::Connected {
            continue;
        }
        match connections.channel(&c.store).await {
            Ok(channel) => builder = builder.channel(c.store.clone(), channel),
            Err(e) => eprintln!("stocksync: store {}: {e} (not synced)", c.store),
        }
    }
    builder.build().await.map_err(|e| Fail::Failed(e.to_string()))
}

fn exit(result: Result<(), Fail>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(m)) => {
            eprintln!("stocksync: {m}");
            ExitCode::from(2)
        }
        Err(Fail::Failed(m)) => {
            eprintln!("stocksync: {m}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Fail::Failed(e.to_string()))
}

/// Run `serve`: the webhook endpoints and the scheduler, until Ctrl-C.
pub(crate) fn run(config: Option<&Path>, args: ServeArgs) -> ExitCode {
    exit(runtime().and_then(|rt| {
        rt.block_on(async {
            let engine = open_engine(config).await?;
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .map_err(|e| Fail::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
            let base = args.public_url.unwrap_or_else(|| format!("http://{}", args.listen));
            let running = engine.start();
            eprintln!("stocksync: webhooks at {base}/webhooks/{{store}}; Ctrl-C to stop");
            let app = webhook_router(engine, base);
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            let result = server.await.map_err(|e| Fail::Failed(e.to_string()));
            running.shutdown().await;
            result
        })
    }))
}

/// Run `sync-now STORE`: a full reconcile with a progress bar.
pub(crate) fn sync_now(config: Option<&Path>, args: SyncNowArgs) -> ExitCode {
    exit(runtime().and_then(|rt| {
        rt.block_on(async {
            let engine = open_engine(config).await?;
            let store = StoreId::new(args.store);
            if engine.channel(&store).is_none() {
                return Err(Fail::Usage(format!("no connected store {store}")));
            }
            let summary = run_with_progress(engine.sync_now_for(Some(vec![store]))).await.map_err(Fail::Failed)?;
            if summary.read_failures.is_empty() && summary.failed == 0 {
                Ok(())
            } else {
                Err(Fail::Failed(format!(
                    "{} push(es) failed; unreadable stores: {:?}",
                    summary.failed, summary.read_failures
                )))
            }
        })
    }))
}

/// Show a sync's events as a progress bar; returns its summary.
pub(crate) async fn run_with_progress(
    mut handle: sync_engine::sync::SyncHandle,
) -> Result<sync_engine::sync::SyncSummary, String> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg:40} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut read = std::collections::BTreeMap::new();
    while let Some(event) = handle.events.recv().await {
        match event {
            SyncEvent::Started { stores } => bar.set_message(format!("reading {} stores", stores.len())),
            SyncEvent::ListingsRead { store, count } => {
                read.insert(store, count);
                bar.set_message(format!("listings read: {}", read.values().sum::<usize>()));
            }
            SyncEvent::ReadFailed { store, reason } => bar.println(format!("  {store}: cannot read: {reason}")),
            SyncEvent::Planned { updates } => {
                bar.set_length(updates as u64);
                bar.set_message(format!("{updates} updates planned"));
            }
            SyncEvent::Pushed { pushed, failed } => {
                bar.set_position(pushed as u64);
                bar.set_message(format!("pushed {pushed}, failed {failed}"));
            }
            SyncEvent::Finished(_) => {}
            _ => {}
        }
    }
    bar.finish_and_clear();
    handle.finish().await.map_err(|e| e.to_string())
}
