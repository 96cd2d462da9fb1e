//! The results table (Markdown, so it can go into `docs/scale.md` as printed).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::args::Args;
use crate::load::Step;
use crate::proxy::Proxy;

/// The emulator farm.
pub(crate) struct FarmInfo {
    pub started: Duration,
    pub rss_kib: u64,
}

/// The take-over after `kill -9`.
#[derive(Debug, Clone)]
pub(crate) struct Takeover {
    /// Companies the killed worker held.
    pub companies: usize,
    /// Orders placed on them.
    pub sample: usize,
    pub p50: Duration,
    pub max: Duration,
    /// Orders that did not show within the lease, three times over, plus the grace period.
    pub lost: usize,
}

/// One run (one worker count).
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub label: String,
    pub seed: Option<Duration>,
    pub held: Option<Duration>,
    pub ready: Option<Duration>,
    pub steps: Vec<Step>,
    /// The most RSS seen per worker, KiB.
    pub rss_kib: Vec<u64>,
    pub takeover: Option<Takeover>,
    /// Database transactions per second with no orders coming in.
    pub idle_tps: Option<f64>,
    /// (table, rows, table bytes, index bytes).
    pub db: Vec<(String, i64, i64, i64)>,
}

impl RunResult {
    pub(crate) fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            seed: None,
            held: None,
            ready: None,
            steps: Vec::new(),
            rss_kib: Vec::new(),
            takeover: None,
            idle_tps: None,
            db: Vec::new(),
        }
    }

    /// The highest rate sustained (every order shown, p99 within the objective), and its step.
    fn sustained(&self, slo: Duration) -> Option<&Step> {
        self.steps
            .iter()
            .filter(|s| s.complete() && s.p99 <= slo && s.placed_rate >= s.rate * 0.95)
            .max_by(|a, b| a.rate.total_cmp(&b.rate))
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn mib(kib: u64) -> String {
    format!("{}", kib.div_ceil(1024))
}

/// One run's details, as soon as it is done (the steps, the database).
pub(crate) fn print_run(r: &RunResult) {
    println!("\n### {}\n", r.label);
    println!("| rate (orders/s) | placed | placed/s | shown | p50 | p99 | max |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for s in &r.steps {
        println!(
            "| {} | {} | {:.1} | {} | {:.2} s | {:.2} s | {:.2} s |",
            s.rate,
            s.placed,
            s.placed_rate,
            s.shown,
            s.p50.as_secs_f64(),
            s.p99.as_secs_f64(),
            s.max.as_secs_f64()
        );
    }
    if !r.db.is_empty() {
        println!("\n| table | rows | table MiB | index MiB |");
        println!("|---|---:|---:|---:|");
        for (table, rows, bytes, index) in r.db.iter().filter(|t| t.2 + t.3 > 64 * 1024) {
            println!("| {table} | {rows} | {:.1} | {:.1} |", *bytes as f64 / 1048576.0, *index as f64 / 1048576.0);
        }
    }
}

/// The summary table.
pub(crate) fn print(args: &Args, farm: &FarmInfo, runs: &[RunResult], proxy: &Proxy) {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or_else(|| "?".into(), |kib| format!("{:.0} GiB", kib as f64 / 1048576.0));
    println!(
        "\n## fleet benchmark: {} companies × 3 stores × {} SKUs ({} listings)\n",
        args.companies,
        args.skus,
        args.companies * 3 * args.skus
    );
    println!(
        "machine: {cores} cores, {memory}; {} emulators in the coordinator (up in {:.1} s, {} MiB); lease {} s, \
         tick {} ms, pool {} per worker; load steps {} s each, SLO p99 ≤ {} s; webhooks answered 2xx {}, refused (by status) {:?}\n",
        args.companies * 3,
        farm.started.as_secs_f64(),
        mib(farm.rss_kib),
        args.lease.as_secs(),
        args.tick.as_millis(),
        args.pool,
        args.step.as_secs(),
        args.slo.as_secs(),
        proxy.ok.load(Ordering::Relaxed),
        proxy.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    println!(
        "| workers | seed | all held | first reconcile done | sustained orders/s | p50 / p99 there | \
         RSS per worker MiB (max) | idle DB transactions/s | take-over after kill -9: p50 / max (orders, of companies) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        let sustained = r.sustained(args.slo);
        let takeover = r.takeover.as_ref().map_or_else(
            || "–".into(),
            |t| {
                format!(
                    "{:.1} s / {:.1} s ({}{}, of {})",
                    t.p50.as_secs_f64(),
                    t.max.as_secs_f64(),
                    t.sample,
                    if t.lost > 0 { format!(", {} lost", t.lost) } else { String::new() },
                    t.companies
                )
            },
        );
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            secs(r.seed),
            secs(r.held),
            secs(r.ready),
            sustained.map_or_else(|| "none".into(), |s| format!("{}", s.rate)),
            sustained
                .map_or_else(|| "–".into(), |s| format!("{:.2} s / {:.2} s", s.p50.as_secs_f64(), s.p99.as_secs_f64())),
            r.rss_kib.iter().map(|k| mib(*k)).collect::<Vec<_>>().join(", "),
            r.idle_tps.map_or_else(|| "–".into(), |t| format!("{t:.0}")),
            takeover,
        );
    }
}
