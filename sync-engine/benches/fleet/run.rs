//! The coordinator: the emulator farm, then for each worker count a fresh schema, the workers, start-up,
//! the load steps and the take-over; then the results table.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use sync_engine::{CredentialCipher, Store};

use crate::args::Args;
use crate::farm::{Farm, parse_store};
use crate::inprocess::Engines;
use crate::load::{self, Tracker};
use crate::proxy::Proxy;
use crate::report::{self, FarmInfo, RunResult, Takeover};
use crate::seed::{self, Monitor};
use crate::worker::KEY_VAR;

/// How long start-up may take before the run is given up.
const START_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The resident set size of a process, in KiB (`VmRSS` in `/proc/<pid>/status`).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a worker process reported.
#[derive(Debug, Default)]
struct Reported {
    port: Option<u16>,
    held: usize,
}

/// A worker process.
struct Worker {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    reported: Arc<Mutex<Reported>>,
    /// The most RSS seen, KiB.
    max_rss: Arc<Mutex<u64>>,
}

impl Worker {
    fn spawn(args: &Args, name: &str, url: &str, schema: &str, key: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let log = std::env::temp_dir().join(format!("{schema}-{name}.log"));
        let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(exe)
            .args(args.worker_args(name, schema))
            .env(KEY_VAR, key)
            .env("DATABASE_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting worker {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reported = Arc::new(Mutex::new(Reported::default()));
        let r = Arc::clone(&reported);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut r = r.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(port) = line.strip_prefix("PORT ") {
                    r.port = port.trim().parse().ok();
                } else if let Some(held) = line.strip_prefix("HELD ") {
                    r.held = held.trim().parse().unwrap_or(r.held);
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Self { name: name.to_owned(), child, stdin, reported, max_rss: Arc::default() })
    }

    fn held(&self) -> usize {
        self.reported.lock().unwrap_or_else(PoisonError::into_inner).held
    }

    fn url(&self) -> Option<String> {
        let port = self.reported.lock().unwrap_or_else(PoisonError::into_inner).port?;
        Some(format!("http://127.0.0.1:{port}"))
    }

    fn rss(&self) -> u64 {
        let rss = rss_kib(self.child.id()).unwrap_or(0);
        let mut max = self.max_rss.lock().unwrap_or_else(PoisonError::into_inner);
        *max = (*max).max(rss);
        rss
    }

    /// Wait for its receiver's URL.
    async fn wait_url(&self, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(url) = self.url() {
                return Ok(url);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "worker {} did not start (see its log in {})",
                    self.name,
                    std::env::temp_dir().display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ask it to stop and wait (killed after 60 s).
    async fn stop(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("worker {} did not stop in 60 s: killed", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `kill -9` (`Child::kill` sends `SIGKILL`).
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every run shares.
struct Ctx<'a> {
    args: &'a Args,
    url: String,
    key: String,
    cipher: CredentialCipher,
    farm: Arc<Farm>,
    proxy: Arc<Proxy>,
    tracker: Arc<Tracker>,
}

impl Drop for Worker {
    /// A run given up half-way leaves no worker behind.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run everything; the exit code.
pub(crate) async fn coordinate(args: &Args) -> i32 {
    match everything(args).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("fleet benchmark: {message}");
            1
        }
    }
}

async fn everything(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("starting {} emulators ({} SKUs each)…", args.companies * 3, args.skus);
    let farm = Arc::new(Farm::start(args.companies, args.skus, args.quantity).await?);
    let proxy = Arc::new(Proxy::default());
    let base = proxy.serve().await?;
    farm.register_webhooks(&base)?;
    let info = FarmInfo { started: started.elapsed(), rss_kib: rss_kib(std::process::id()).unwrap_or(0) };
    eprintln!("emulators up in {:.1}s, this process {} MiB", info.started.as_secs_f64(), info.rss_kib / 1024);
    if args.farm_only {
        return Ok(());
    }
    let key = CredentialCipher::generate_key();
    let cipher = CredentialCipher::from_base64(&key).map_err(|e| e.to_string())?;
    let tracker = Tracker::new(Arc::clone(&farm));
    let mut results = Vec::new();
    if args.in_process {
        results.push(in_process(args, &farm, &proxy, &tracker, &cipher).await?);
    } else {
        let server = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
        let database = format!("fleet_bench_{}", std::process::id());
        seed::create_database(&server, &database, false).await?;
        let url = seed::with_database(&server, &database);
        let ctx = Ctx { args, url, key, cipher, farm, proxy: Arc::clone(&proxy), tracker };
        let runs = every_worker_count(&ctx, &mut results).await;
        if !args.keep_schema {
            seed::create_database(&server, &database, true).await?;
        }
        runs?;
    }
    report::print(args, &info, &results, &proxy);
    Ok(())
}

/// One run per worker count, its details printed as it ends.
async fn every_worker_count(ctx: &Ctx<'_>, results: &mut Vec<RunResult>) -> Result<(), String> {
    let args = ctx.args;
    for (i, &n) in args.workers.iter().enumerate() {
        let schema = if args.reuse_schema {
            format!("fleet_bench_{}", std::process::id())
        } else {
            format!("fleet_bench_{}_{n}", std::process::id())
        };
        let fresh = i == 0 || !args.reuse_schema;
        let last = i + 1 == args.workers.len() || !args.reuse_schema;
        let result = with_workers(ctx, n, &schema, fresh, last).await?;
        report::print_run(&result);
        results.push(result);
    }
    Ok(())
}

/// The load steps, in order, up to the first that is not sustained.
async fn steps(args: &Args, tracker: &Arc<Tracker>, result: &mut RunResult, sample_rss: &(dyn Fn() + Sync)) {
    for (i, &rate) in args.rates.iter().enumerate() {
        sample_rss();
        let step = load::step(tracker, rate, args.step, args.grace, 1000 + i as u64).await;
        sample_rss();
        eprintln!(
            "  {rate} orders/s: placed {} ({:.1}/s), shown {}, p50 {:.2}s p99 {:.2}s max {:.2}s",
            step.placed,
            step.placed_rate,
            step.shown,
            step.p50.as_secs_f64(),
            step.p99.as_secs_f64(),
            step.max.as_secs_f64()
        );
        let sustained = step.complete() && step.p99 <= args.slo && step.placed_rate >= rate * 0.95;
        result.steps.push(step);
        if !sustained {
            break;
        }
    }
}

async fn in_process(
    args: &Args,
    farm: &Arc<Farm>,
    proxy: &Arc<Proxy>,
    tracker: &Arc<Tracker>,
    cipher: &CredentialCipher,
) -> Result<RunResult, String> {
    let before = rss_kib(std::process::id()).unwrap_or(0);
    let (engines, started) = Engines::start(farm, proxy, args, cipher, START_LIMIT).await?;
    farm.clear_logs();
    let mut result = RunResult::new("in-process (memory)");
    result.held = Some(started.held);
    result.ready = Some(started.ready);
    let max = Mutex::new(0u64);
    let sample = || {
        let rss = rss_kib(std::process::id()).unwrap_or(0).saturating_sub(before);
        let mut m = max.lock().unwrap_or_else(PoisonError::into_inner);
        *m = (*m).max(rss);
    };
    steps(args, tracker, &mut result, &sample).await;
    result.rss_kib = vec![*max.lock().unwrap_or_else(PoisonError::into_inner)];
    engines.shutdown().await;
    Ok(result)
}

/// One worker count over `schema`: seeded afresh when `fresh` (else every store's "sync now" queued
/// again), dropped afterwards when `last` (unless `--keep-schema`).
async fn with_workers(ctx: &Ctx<'_>, n: usize, schema: &str, fresh: bool, last: bool) -> Result<RunResult, String> {
    let (args, farm, proxy, tracker) = (ctx.args, &ctx.farm, &ctx.proxy, &ctx.tracker);
    let store = seed::open(&ctx.url, schema, 4).await?;
    let root: Arc<dyn Store> = Arc::clone(&store) as Arc<dyn Store>;
    let mut result = RunResult::new(&format!("{n} worker{}", if n == 1 { "" } else { "s" }));
    if fresh {
        eprintln!("{n} worker(s), schema {schema}: seeding {} companies…", farm.len());
        result.seed = Some(seed::seed(&root, farm, &ctx.cipher).await?);
    } else {
        eprintln!("{n} worker(s), schema {schema} as the last run left it: a sync now per store…");
        seed::request_syncs(&root, farm.len()).await?;
    }
    let monitor = Monitor::connect(&ctx.url, schema).await?;

    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 1..=n {
        workers.push(Worker::spawn(args, &format!("n{n}-w{i}"), &ctx.url, schema, &ctx.key)?);
    }
    let mut urls = Vec::new();
    for w in &workers {
        urls.push(w.wait_url(Duration::from_secs(60)).await?);
    }
    proxy.set_workers(urls);
    wait_started(&workers, &monitor, farm.len(), started, &mut result).await?;
    eprintln!(
        "  all held in {:.1}s, first reconciles done in {:.1}s",
        result.held.unwrap_or_default().as_secs_f64(),
        result.ready.unwrap_or_default().as_secs_f64()
    );
    farm.clear_logs();
    result.idle_tps = Some(idle_transactions(&monitor, IDLE_WINDOW).await?);
    eprintln!("  idle: {:.0} transactions/s", result.idle_tps.unwrap_or_default());

    let sample = || {
        for w in &workers {
            w.rss();
        }
    };
    steps(args, tracker, &mut result, &sample).await;
    result.rss_kib = workers.iter().map(|w| *w.max_rss.lock().unwrap_or_else(PoisonError::into_inner)).collect();

    if args.takeover {
        let victim = workers.first().map(|w| w.name.clone()).ok_or("no worker")?;
        let takeover = take_over(ctx, &victim, &mut workers, &root, schema).await?;
        result.takeover = Some(takeover);
    }
    for w in workers {
        w.stop().await;
    }
    result.db = monitor.sizes(schema).await.unwrap_or_default();
    monitor.close().await;
    if last && !args.keep_schema {
        store.drop_schema().await.map_err(|e| e.to_string())?;
    }
    Ok(result)
}

/// How long the database's transaction rate is measured with no order coming in.
const IDLE_WINDOW: Duration = Duration::from_secs(20);

/// Transactions per second in the database over `window` with no orders.
async fn idle_transactions(monitor: &Monitor, window: Duration) -> Result<f64, String> {
    // The server's statistics lag: let a second pass on each side.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = monitor.transactions().await?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = monitor.transactions().await?;
    Ok((after - before) as f64 / started.elapsed().as_secs_f64())
}

/// Wait until every company is held (an engine running) and every first reconcile is done.
async fn wait_started(
    workers: &[Worker],
    monitor: &Monitor,
    companies: usize,
    started: Instant,
    result: &mut RunResult,
) -> Result<(), String> {
    let mut last_note = Instant::now();
    loop {
        let held: usize = workers.iter().map(Worker::held).sum();
        if result.held.is_none() && held >= companies {
            result.held = Some(started.elapsed());
        }
        let queued = monitor.queued_syncs().await?;
        if result.held.is_some() && queued == 0 {
            result.ready = Some(started.elapsed());
            return Ok(());
        }
        if started.elapsed() > START_LIMIT {
            return Err(format!("start-up not done after {START_LIMIT:?}: {held} held, {queued} syncs queued"));
        }
        if last_note.elapsed() > Duration::from_secs(10) {
            last_note = Instant::now();
            let rss: Vec<u64> = workers.iter().map(|w| w.rss() / 1024).collect();
            eprintln!(
                "  … {:.0}s: {held} held, {queued} syncs queued, RSS MiB {rss:?}",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `kill -9` of `victim` (replaced by a new worker when it was the only one), then one order on each of a
/// sample of its companies, timed from the kill.
async fn take_over(
    ctx: &Ctx<'_>,
    victim: &str,
    workers: &mut Vec<Worker>,
    root: &Arc<dyn Store>,
    schema: &str,
) -> Result<Takeover, String> {
    let (args, proxy, tracker) = (ctx.args, &ctx.proxy, &ctx.tracker);
    let now = jiff::Timestamp::now();
    let mut held: Vec<usize> = root
        .company_leases()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|l| l.holder == victim && l.until > now)
        .filter_map(|l| parse_store(&format!("{}-tk", l.company)).map(|(c, _)| c))
        .collect();
    let companies = held.len();
    held.shuffle(&mut StdRng::seed_from_u64(7));
    held.truncate(args.takeover_sample);
    let index = workers.iter().position(|w| w.name == victim).ok_or("no such worker")?;
    let worker = workers.remove(index);
    if let Some(url) = worker.url() {
        proxy.remove_worker(&url);
    }
    let rss_before = worker.rss();
    worker.kill();
    let killed = Instant::now();
    eprintln!("  killed {victim} (held {companies} companies, RSS {} MiB)", rss_before / 1024);
    if workers.is_empty() {
        let replacement = Worker::spawn(args, &format!("{victim}-restarted"), &ctx.url, schema, &ctx.key)?;
        proxy.add_worker(replacement.wait_url(Duration::from_secs(60)).await?);
        workers.push(replacement);
    }
    let grace = args.lease * 3 + args.grace;
    let (latencies, lost) = load::one_each(tracker, &held, killed, grace, 99).await;
    let takeover = Takeover {
        companies,
        sample: held.len(),
        p50: load::quantile(&latencies, 0.5),
        max: latencies.last().copied().unwrap_or_default(),
        lost,
    };
    eprintln!(
        "  take-over: {} of {} orders shown, p50 {:.1}s, max {:.1}s after the kill",
        latencies.len(),
        held.len(),
        takeover.p50.as_secs_f64(),
        takeover.max.as_secs_f64()
    );
    Ok(takeover)
}
