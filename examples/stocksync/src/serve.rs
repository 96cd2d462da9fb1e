//! `stocksync --config FILE serve` and `stocksync --config FILE sync-now STORE`, and the webhook router the
//! demo shares: `POST /webhooks/{store}` hands the delivery to [`Fleet::handle_webhook`] (the demo: to
//! [`SyncEngine::handle_webhook`]) and answers with its status (200 applied, recorded, duplicate or
//! ignored; 401 or 403 rejected; 404 no such store; 429 too many rejected deliveries for the store; 503 try
//! again), within the bounds of [`crate::webhook_server`] (408 a body too slow, 413 a body too large, 503
//! too many connections or bytes at once).
//!
//! `serve` runs a [`Fleet`]: this process is one worker; it takes the companies of the store by lease
//! (all of them when it is the only worker) and runs one engine per company it holds. The demo opens the
//! config file's SQLite store only, so it runs one worker; a host sharing companies between several
//! processes runs a [`Fleet`] per process over one PostgreSQL store (`sync_engine::PostgresStore`).
//!
//! Exit codes: 0 done (for `serve`: stopped by SIGINT or SIGTERM after in-flight pushes finished), 1 failed
//! (a push failed, a store could not be read, the port is taken), 2 bad input (no config, unknown store, no
//! store whose credentials open with the key).

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use channel_core::StoreId;
use sync_engine::store::{CompanyId, ConnectionFilter, ConnectionRecord, ConnectionState, Scope, SyncMode};
use sync_engine::{Connections, Fleet, FleetEvent, SqliteStore, Store, SyncEngine, SyncEvent, SystemClock};
use tokio::task::JoinHandle;

use crate::config;
use crate::fail::{Fail, exit, one_line};
use crate::webhook_server::{LimitFlags, Limits};

/// Arguments of `stocksync serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Prints `listening on http://ADDR` on stdout once the endpoints accept deliveries. \
Stops on SIGINT (Ctrl-C) or SIGTERM after in-flight pushes finish, and exits 0.")]
pub(crate) struct ServeArgs {
    /// Where to listen for webhooks (port 0 picks a free port; the line on stdout says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The public base URL the platforms deliver to, when it is not http://ADDR (behind a proxy); schemes
    /// that sign the URL are checked against it.
    #[arg(long, value_name = "URL", value_parser = public_url)]
    public_url: Option<String>,
    /// Bounds on webhook clients (timeouts, connections, body sizes).
    #[command(flatten)]
    limits: LimitFlags,
}

/// Arguments of `stocksync sync-now`.
#[derive(Debug, clap::Args)]
#[command(after_help = "First the orders of every live store are imported from where polling left off \
(a sale made while `serve` was down counts before anything is planned). Then every store is read (what a \
store may show depends on all of them, and a change \
made on the source is taken in); only STORE is pushed to: the updates it needs, and any pushes to it queued \
before (by orders, or the re-plan every start makes). Pushes other stores need stay queued for `serve`.\n\
Prints one summary line: listings read (from every store), updates planned for STORE, pushes to STORE \
queued earlier, then pushed, failed and left queued, which add up to planned + queued earlier. Exits 1 \
if a push failed or was left queued or a store could not be read, 2 if STORE is not a connected, enabled \
store.")]
pub(crate) struct SyncNowArgs {
    /// The store to reconcile (its id, as `connections list` shows it).
    store: String,
}

/// The webhook endpoints, `POST /webhooks/{store}`, with the default bounds on requests (see
/// [`crate::webhook_server`]).
#[cfg(feature = "dev")]
pub(crate) fn webhook_router(engine: SyncEngine, public_base: String) -> axum::Router {
    crate::webhook_server::router(crate::webhook_server::Target::Engine(engine), public_base, &Limits::default())
}

/// The bounds on webhook clients: `serve`'s flags, else the config file's `[serve]` table, else the
/// defaults. Checked before anything is opened.
fn serve_limits(config_path: Option<&Path>, flags: &LimitFlags) -> Result<Limits, Fail> {
    let config_path = config_path.ok_or_else(|| Fail(2, "--config FILE is required".into()))?;
    Limits::resolve(flags, &config::load(config_path)?.config.serve)
}

/// The connected stores of the config file's store that can be synced (`connections`), and those whose
/// channel could not be made (credentials that do not open with the key, a bad setting), with why: not
/// synced.
struct Usable {
    connections: Vec<ConnectionRecord>,
    unusable: Vec<(StoreId, Fail)>,
}

impl Usable {
    /// Sort the connected stores seen by `managers` (each once) by whether their channel can be made.
    async fn find(managers: &[Connections], key_source: &str) -> Result<Self, sync_engine::Error> {
        let mut usable = Self { connections: Vec::new(), unusable: Vec::new() };
        let mut seen = std::collections::BTreeSet::new();
        for manager in managers {
            let all = manager.list(&ConnectionFilter::all()).await?;
            for c in all.into_iter().filter(|c| c.state == ConnectionState::Connected) {
                if !seen.insert(c.store.clone()) {
                    continue;
                }
                match manager.channel(&c.store).await {
                    Ok(_) => usable.connections.push(c),
                    Err(e) => usable.unusable.push((c.store.clone(), crate::fail::engine_keyed(e, key_source))),
                }
            }
        }
        Ok(usable)
    }

    /// Say on stderr which connected stores are not synced and why, but `except`.
    fn warn_unusable(&self, except: Option<&StoreId>) {
        for (store, Fail(_, why)) in self.unusable.iter().filter(|(s, _)| Some(s) != except) {
            eprintln!("stocksync: store {store} is not synced: {}", one_line(why));
        }
    }
}

/// The engine of `sync-now` over the config file's store, in the company of the store it syncs. It builds
/// the channel of every connected store from the stored credentials (`SyncEngineBuilder::connections`).
struct Opened {
    store: Arc<SqliteStore>,
    engine: SyncEngine,
    usable: Usable,
}

async fn open_engine(config_path: Option<&Path>, syncing: &StoreId) -> Result<Opened, Fail> {
    let config_path = config_path.ok_or_else(|| Fail(2, "--config FILE is required".into()))?;
    let config = config::load(config_path)?;
    let sync_config = config.config.sync.engine_config()?;
    let cipher = config.cipher()?;
    let store = Arc::new(SqliteStore::open(config.store_path()).await.map_err(crate::fail::engine)?);
    let root: Arc<dyn Store> = Arc::clone(&store) as Arc<dyn Store>;
    let opened = async {
        // The company the store belongs to (the default company's view for a global or unknown store).
        let view = match root.locate_store(syncing).await?.map(|c| c.scope) {
            Some(Scope::Client(company)) => root.for_company(&company),
            _ => Arc::clone(&root),
        };
        let manager =
            Connections::new(Arc::clone(&view), crate::connections::channel_factory(), cipher, Arc::new(SystemClock));
        let engine = SyncEngine::builder(view).config(sync_config).connections(manager.clone()).build().await?;
        let usable = Usable::find(&[manager], &config.key_source()).await?;
        Ok::<_, sync_engine::Error>((engine, usable))
    };
    match opened.await {
        Ok((engine, usable)) => Ok(Opened { store, engine, usable }),
        Err(e) => {
            store.close().await;
            Err(crate::fail::engine(e))
        }
    }
}

/// The worker `serve` runs over the config file's store, and every company's connected stores.
struct Serving {
    store: Arc<SqliteStore>,
    fleet: Fleet,
    usable: Usable,
}

async fn open_fleet(config_path: Option<&Path>) -> Result<Serving, Fail> {
    let config_path = config_path.ok_or_else(|| Fail(2, "--config FILE is required".into()))?;
    let config = config::load(config_path)?;
    let sync_config = config.config.sync.engine_config()?;
    let cipher = config.cipher()?;
    let store = Arc::new(SqliteStore::open(config.store_path()).await.map_err(crate::fail::engine)?);
    let root: Arc<dyn Store> = Arc::clone(&store) as Arc<dyn Store>;
    let factory = crate::connections::channel_factory();
    let clock: Arc<dyn sync_engine::Clock> = Arc::new(SystemClock);
    let fleet = Fleet::new(Arc::clone(&root), Arc::clone(&factory), cipher.clone(), sync_config, Arc::clone(&clock));
    let found = async {
        let companies: Vec<CompanyId> = root.companies().await?.into_iter().map(|c| c.id).collect();
        let managers: Vec<Connections> = companies
            .iter()
            .map(|c| Connections::new(root.for_company(c), Arc::clone(&factory), cipher.clone(), Arc::clone(&clock)))
            .collect();
        Usable::find(&managers, &config.key_source()).await
    };
    match found.await {
        Ok(usable) => Ok(Serving { store, fleet, usable }),
        Err(e) => {
            store.close().await;
            Err(crate::fail::engine(e))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Fail(1, e.to_string()))
}

/// Log to stderr, filtered by `STOCKSYNC_LOG`, else `RUST_LOG` (a `tracing` filter such as `debug` or
/// `sync_engine=trace`), else warnings and the engine's own progress (`warn,sync_engine=info,stocksync=info`).
/// A filter that does not parse is bad input (exit 2), not a reason to log at another level than asked.
fn init_logging() -> Result<(), Fail> {
    let mut filter = None;
    for var in ["STOCKSYNC_LOG", "RUST_LOG"] {
        if let Ok(text) = std::env::var(var) {
            let parsed = tracing_subscriber::EnvFilter::try_new(&text).map_err(|e| {
                Fail(2, format!("{var}: not a tracing filter ({e}); for example `info` or `sync_engine=debug`"))
            })?;
            filter = Some(parsed);
            break;
        }
    }
    let filter = filter.unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn,sync_engine=info,stocksync=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    Ok(())
}

/// `--public-url`: an http(s) URL with a host, which the platforms can deliver to.
fn public_url(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest.map(|r| r.split('/').next().unwrap_or_default()) {
        Some(host) if !host.is_empty() && !text.contains(char::is_whitespace) => Ok(text.to_owned()),
        _ => Err("an http:// or https:// URL with a host, such as https://hooks.example.com".to_owned()),
    }
}

/// A future that resolves, with the signal's name, on SIGINT (Ctrl-C) or, on Unix, SIGTERM. The handlers
/// are installed before this returns, so a signal sent right after is not lost.
#[cfg(unix)]
fn stop_signal() -> Result<impl Future<Output = &'static str>, Fail> {
    use tokio::signal::unix::{SignalKind, signal};
    let fail = |e: std::io::Error| Fail(1, format!("cannot wait for signals: {e}"));
    let mut interrupt = signal(SignalKind::interrupt()).map_err(fail)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(fail)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// A future that resolves on Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> Result<impl Future<Output = &'static str>, Fail> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

/// Run `serve`: the webhook endpoints and the scheduler, until SIGINT or SIGTERM.
pub(crate) fn run(config: Option<&Path>, args: ServeArgs) -> ExitCode {
    exit("serve", init_logging().and_then(|()| runtime()).and_then(|rt| rt.block_on(serve(config, args))))
}

async fn serve(config: Option<&Path>, args: ServeArgs) -> Result<(), Fail> {
    let limits = serve_limits(config, &args.limits)?;
    let serving = open_fleet(config).await?;
    let result = match no_store_to_serve(&serving.usable) {
        Some(fail) => Err(fail),
        None => {
            serving.usable.warn_unusable(None);
            serve_fleet(&serving.fleet, &serving.usable.connections, args, &limits).await
        }
    };
    serving.store.close().await;
    result
}

/// Why `serve` has nothing to serve, if so: no connected store, or none whose channel could be made.
fn no_store_to_serve(usable: &Usable) -> Option<Fail> {
    if !usable.connections.is_empty() {
        return None;
    }
    if usable.unusable.is_empty() {
        return Some(Fail(2, "no connected stores: add them with `stocksync connections add STORE` first".into()));
    }
    let code = usable.unusable.iter().map(|(_, Fail(code, _))| *code).max().unwrap_or(1);
    let why: Vec<String> = usable.unusable.iter().map(|(store, Fail(_, why))| format!("{store}: {why}")).collect();
    Some(Fail(code, format!("no connected store can be synced: {}", why.join("; "))))
}

async fn serve_fleet(
    fleet: &Fleet,
    connections: &[ConnectionRecord],
    args: ServeArgs,
    limits: &Limits,
) -> Result<(), Fail> {
    // Register the signal handlers before announcing, so a signal right after the line is not lost.
    let stop = stop_signal()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Fail(1, format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener.local_addr().map_err(|e| Fail(1, e.to_string()))?;
    let base = args.public_url.unwrap_or_else(|| format!("http://{local}")).trim_end_matches('/').to_owned();
    let events = fleet.subscribe();
    let running = fleet.start();
    // A company whose stores were never reconciled has no listings in its engine yet: reconcile it once,
    // in the background, when this worker takes it, so pushes have somewhere to go.
    let (stop_first, first_stopped) = tokio::sync::watch::channel(false);
    let first = tokio::spawn(first_reconciles(fleet.clone(), events, first_stopped));
    let stores: Vec<String> = connections.iter().map(describe).collect();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{local}").and_then(|()| out.flush());
    }
    eprintln!(
        "stocksync serve: webhooks at {base}/webhooks/{{store}} for {}; order polling every {:?}; SIGINT or SIGTERM stops",
        stores.join(", "),
        fleet.config().poll_interval
    );
    let app = crate::webhook_server::router(crate::webhook_server::Target::Fleet(fleet.clone()), base, limits);
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel();
    let server = crate::webhook_server::serve(listener, app, limits, async move {
        let signal = stop.await;
        let _ = signal_tx.send(signal);
    });
    let served = server.await.map_err(|e| Fail(1, e.to_string()));
    let _ = stop_first.send(true);
    let _ = first.await;
    running.shutdown().await;
    served?;
    let signal = signal_rx.await.unwrap_or("an error");
    eprintln!("stocksync serve: stopped ({signal})");
    Ok(())
}

/// For each company this worker takes, its first full reconcile when one of its connected stores was never
/// reconciled; a company's is cancelled when this worker stops its engine (the company was given up or
/// lost), and all are when `stopped` changes, then waited for. Events missed by falling behind are made up
/// for from the companies the fleet holds.
async fn first_reconciles(
    fleet: Fleet,
    mut events: tokio::sync::broadcast::Receiver<FleetEvent>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut running: HashMap<CompanyId, (tokio::sync::watch::Sender<bool>, JoinHandle<()>)> = HashMap::new();
    loop {
        let started = tokio::select! {
            event = events.recv() => match event {
                Ok(FleetEvent::Started { company }) => vec![company],
                Ok(FleetEvent::Stopped { company }) => {
                    if let Some((cancel, _)) = running.get(&company) {
                        let _ = cancel.send(true);
                    }
                    Vec::new()
                }
                Ok(_) => Vec::new(),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "fell behind the fleet's events: looking at every company held");
                    fleet.held()
                }
                Err(RecvError::Closed) => break,
            },
            _ = stopped.changed() => break,
        };
        running.retain(|_, (_, task)| !task.is_finished());
        for company in started {
            let Some(engine) = fleet.engine(&company) else { continue };
            if running.get(&company).is_some_and(|(cancel, _)| !*cancel.borrow()) || !never_reconciled(&engine).await {
                continue;
            }
            let (cancel, cancelled) = tokio::sync::watch::channel(false);
            running.insert(company.clone(), (cancel, first_reconcile(&engine, &company, cancelled)));
        }
    }
    for (cancel, _) in running.values() {
        let _ = cancel.send(true);
    }
    for (_, (_, task)) in running {
        let _ = task.await;
    }
}

/// Whether a connected store of the engine's company that it can sync was never reconciled.
async fn never_reconciled(engine: &SyncEngine) -> bool {
    match engine.store().connections(&ConnectionFilter::all()).await {
        Ok(all) => all.iter().any(|c| {
            c.state == ConnectionState::Connected
                && c.health.last_sync_at.is_none()
                && engine.channel(&c.store).is_some()
        }),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the connections");
            false
        }
    }
}

/// The full reconcile of a company's first start, in the background; cancelled when `stopped` changes.
/// It holds the engine only until it ends.
fn first_reconcile(
    engine: &SyncEngine,
    company: &CompanyId,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut handle = engine.sync_now();
    let company = company.clone();
    tokio::spawn(async move {
        tracing::info!(%company, "first start: a full reconcile of every store");
        let mut cancelled = false;
        loop {
            tokio::select! {
                event = handle.events.recv() => if event.is_none() { break },
                // Cancelled once: when asked, or when whoever could ask is gone.
                _ = stopped.changed(), if !cancelled => {
                    cancelled = true;
                    handle.cancel();
                }
            }
        }
        match handle.finish().await {
            Ok(s) if s.read_failures.is_empty() && !s.cancelled => tracing::info!(
                listings_read = s.listings_read,
                planned = s.planned,
                carried = s.carried,
                pushed = s.pushed,
                failed = s.failed,
                left = s.left,
                "first full reconcile done"
            ),
            Ok(s) if s.cancelled => tracing::info!("first full reconcile cancelled: it runs again at the next start"),
            Ok(s) => {
                let unread: Vec<&str> = s.read_failures.iter().map(StoreId::as_str).collect();
                tracing::warn!(
                    listings_read = s.listings_read,
                    pushed = s.pushed,
                    "first full reconcile incomplete: could not read {}; those stores are reconciled at the next \
                     start or the daily reconcile",
                    unread.join(", ")
                );
            }
            Err(e) => tracing::warn!(error = %e, "first full reconcile failed"),
        }
    })
}

/// `STORE (MODE[, source of truth])`, as `serve` announces each store.
fn describe(c: &ConnectionRecord) -> String {
    let mut s = format!("{} ({}", c.store, c.sync_mode.as_str());
    if c.source_of_truth {
        s.push_str(", source of truth");
    }
    s.push(')');
    s
}

/// Run `sync-now STORE`: a full reconcile with a progress bar, then one summary line.
pub(crate) fn sync_now(config: Option<&Path>, args: SyncNowArgs) -> ExitCode {
    exit("sync-now", runtime().and_then(|rt| rt.block_on(sync_now_in(config, args))))
}

async fn sync_now_in(config: Option<&Path>, args: SyncNowArgs) -> Result<(), Fail> {
    let id = StoreId::new(args.store);
    let opened = open_engine(config, &id).await?;
    let (store, engine, connections) = (&opened.store, &opened.engine, &opened.usable.connections);
    let result = async {
        if let Some((_, Fail(code, why))) = opened.usable.unusable.iter().find(|(s, _)| s == &id) {
            return Err(Fail(*code, format!("store {id} cannot be synced: {why}")));
        }
        opened.usable.warn_unusable(None);
        let Some(connection) = connections.iter().find(|c| c.store == id) else {
            return Err(Fail(2, format!("no connected store {id:?} (see `stocksync connections list`)")));
        };
        if connection.sync_mode == SyncMode::Disabled {
            return Err(Fail(2, format!("store {id} is disabled (sync_mode = \"disabled\"): nothing is pushed to it")));
        }
        let imported = poll_orders_first(engine, connections).await;
        let summary = run_with_progress(engine.sync_now_for(Some(vec![id.clone()]))).await.map_err(|e| Fail(1, e))?;
        println!(
            "sync-now {id}: {}{} listings read, {} updates planned, {} queued earlier; {} pushed, {} failed, {} \
             left queued{}",
            if imported > 0 { format!("{imported} new order lines imported first; ") } else { String::new() },
            summary.listings_read,
            summary.planned,
            summary.carried,
            summary.pushed,
            summary.failed,
            summary.left,
            if summary.source_changes > 0 {
                format!("; {} external changes on the source taken in", summary.source_changes)
            } else {
                String::new()
            }
        );
        if summary.read_failures.is_empty() && summary.failed == 0 && summary.left == 0 {
            Ok(())
        } else {
            let unreadable: Vec<&str> = summary.read_failures.iter().map(StoreId::as_str).collect();
            Err(Fail(
                1,
                format!(
                    "{} push(es) failed, {} left queued (see `stocksync connections list`); stores that could not \
                     be read: {}",
                    summary.failed,
                    summary.left,
                    if unreadable.is_empty() { "none".to_owned() } else { unreadable.join(", ") }
                ),
            ))
        }
    }
    .await;
    store.close().await;
    result
}

/// Import the orders of every live store from its cursor, as `serve` would have polled them, so a sale made
/// while `serve` was down counts before the reconcile plans (else the reconcile would put the sold units back
/// on sale until the next poll). A store whose orders cannot be read is said on stderr and read anyway.
/// Returns the new order lines imported.
async fn poll_orders_first(engine: &SyncEngine, connections: &[ConnectionRecord]) -> usize {
    let mut imported = 0;
    for c in connections.iter().filter(|c| c.sync_mode == SyncMode::Live) {
        match engine.poll_orders(&c.store).await {
            Ok(report) => imported += report.new_lines,
            Err(e) => eprintln!("  {}: orders not polled: {}", c.store, one_line(&e.to_string())),
        }
    }
    imported
}

/// Show a sync's events as a progress bar (on a terminal; nothing otherwise) and store read failures as
/// lines on stderr; returns its summary.
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
            SyncEvent::ReadFailed { store, reason } => {
                bar.suspend(|| eprintln!("  {store}: cannot read: {}", one_line(&reason)));
            }
            SyncEvent::Planned { updates, carried } => {
                bar.set_length((updates + carried) as u64);
                bar.set_message(format!("{updates} updates planned, {carried} queued earlier"));
            }
            SyncEvent::Pushed { pushed, failed } => {
                bar.set_position(pushed as u64);
                bar.set_message(format!("pushed {pushed}, failed {failed}"));
            }
            _ => {}
        }
    }
    bar.finish_and_clear();
    handle.finish().await.map_err(|e| e.to_string())
}
