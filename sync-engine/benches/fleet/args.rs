//! The command line (no parser crate: a handful of `--name value` options).

use std::time::Duration;

pub(crate) const USAGE: &str = "\
fleet benchmark: companies x 3 stores on the emulators, served by worker processes over PostgreSQL

options (defaults in brackets):
  --companies N         companies [1000]
  --skus N              SKUs per store [200]
  --workers LIST        worker counts to run, one after the other [1,2,3]
  --rates LIST          order rates (orders/s) of the load steps [5,10,20,40]
  --step-secs S         length of each load step [30]
  --grace-secs S        how long an order may take to show everywhere [60]
  --slo-secs S          a step is sustained when every order showed and p99 is under this [10]
  --takeover-sample N   orders placed on the killed worker's companies [30]
  --no-takeover         skip the kill -9 phase
  --lease-secs S        company, store and claim leases [30]
  --tick-ms MS          the engines' and the fleet's tick [1000]
  --pool N              PostgreSQL connections per worker [8]
  --quantity N          starting stock of every SKU [100000]
  --farm-only           start the emulators, print what they cost, and stop
  --in-process          one SyncEngine per company in this process over memory stores (no PostgreSQL)
  --reuse-schema        seed once; later worker counts start from the schema the last one left, with a
                        sync-now per store queued again (their first reconcile finds little to do)
  --keep-schema         leave the benchmark's schemas in the database
  DATABASE_URL          the PostgreSQL server (the benchmark makes its own database, dropped at the end)";

/// The options.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub companies: usize,
    pub skus: usize,
    pub workers: Vec<usize>,
    pub rates: Vec<f64>,
    pub step: Duration,
    pub grace: Duration,
    pub slo: Duration,
    pub takeover_sample: usize,
    pub takeover: bool,
    pub lease: Duration,
    pub tick: Duration,
    pub pool: u32,
    pub quantity: i64,
    pub in_process: bool,
    pub farm_only: bool,
    pub keep_schema: bool,
    pub reuse_schema: bool,
    /// Worker mode: this worker's name (set by the coordinator).
    pub worker: Option<String>,
    /// Worker mode: the schema to work in.
    pub schema: Option<String>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            companies: 1000,
            skus: 200,
            workers: vec![1, 2, 3],
            rates: vec![5.0, 10.0, 20.0, 40.0],
            step: Duration::from_secs(30),
            grace: Duration::from_secs(60),
            slo: Duration::from_secs(10),
            takeover_sample: 30,
            takeover: true,
            lease: Duration::from_secs(30),
            tick: Duration::from_secs(1),
            pool: 8,
            quantity: 100_000,
            in_process: false,
            farm_only: false,
            keep_schema: false,
            reuse_schema: false,
            worker: None,
            schema: None,
        }
    }
}

fn number<T: std::str::FromStr>(name: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{name} needs a value"))?;
    value.parse().map_err(|_| format!("{name}: {value:?} is not a number"))
}

fn list<T: std::str::FromStr>(name: &str, value: Option<String>) -> Result<Vec<T>, String> {
    let value = value.ok_or_else(|| format!("{name} needs a value"))?;
    value.split(',').map(|v| v.trim().parse().map_err(|_| format!("{name}: {v:?} is not a number"))).collect()
}

fn secs(name: &str, value: Option<String>) -> Result<Duration, String> {
    let s: f64 = number(name, value)?;
    Duration::try_from_secs_f64(s).map_err(|_| format!("{name}: {s} is not a duration"))
}

impl Args {
    /// Parse the arguments (cargo's `--bench` is ignored).
    pub(crate) fn parse(mut it: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut a = Self::default();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--bench" => {}
                "--help" | "-h" => return Err("usage:".into()),
                "--companies" => a.companies = number(&arg, it.next())?,
                "--skus" => a.skus = number(&arg, it.next())?,
                "--workers" => a.workers = list(&arg, it.next())?,
                "--rates" => a.rates = list(&arg, it.next())?,
                "--step-secs" => a.step = secs(&arg, it.next())?,
                "--grace-secs" => a.grace = secs(&arg, it.next())?,
                "--slo-secs" => a.slo = secs(&arg, it.next())?,
                "--takeover-sample" => a.takeover_sample = number(&arg, it.next())?,
                "--no-takeover" => a.takeover = false,
                "--lease-secs" => a.lease = secs(&arg, it.next())?,
                "--tick-ms" => a.tick = Duration::from_millis(number(&arg, it.next())?),
                "--pool" => a.pool = number(&arg, it.next())?,
                "--quantity" => a.quantity = number(&arg, it.next())?,
                "--in-process" => a.in_process = true,
                "--farm-only" => a.farm_only = true,
                "--keep-schema" => a.keep_schema = true,
                "--reuse-schema" => a.reuse_schema = true,
                "--worker" => a.worker = Some(it.next().ok_or("--worker needs a name")?),
                "--schema" => a.schema = Some(it.next().ok_or("--schema needs a name")?),
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        if a.companies == 0 || a.skus == 0 || a.workers.contains(&0) {
            return Err("companies, SKUs and worker counts must be positive".into());
        }
        if a.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
            return Err("rates must be positive".into());
        }
        Ok(a)
    }

    /// The options a worker process is started with (what its fleet needs).
    pub(crate) fn worker_args(&self, name: &str, schema: &str) -> Vec<String> {
        vec![
            "--worker".into(),
            name.into(),
            "--schema".into(),
            schema.into(),
            "--lease-secs".into(),
            self.lease.as_secs_f64().to_string(),
            "--tick-ms".into(),
            self.tick.as_millis().to_string(),
            "--pool".into(),
            self.pool.to_string(),
        ]
    }
}
