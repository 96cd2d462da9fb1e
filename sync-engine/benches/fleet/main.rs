//! The scale benchmark of issue 15: many companies, each with three stores (Takealot as the source of
//! truth, Shopify, WooCommerce) on the channel-testkit emulators, served by 1, 2, 3 worker **processes**
//! running a [`sync_engine::Fleet`] over one PostgreSQL database. A documented command, not a timed
//! test (see `docs/scale.md` for the figures and how they were taken):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench -p sync-engine --features postgres,takealot,shopify,woocommerce --bench fleet -- \
//!   --companies 1000 --skus 200 --workers 1,2,3
//! ```
//!
//! `--companies 50 --skus 20` is a quick run. `--help` lists every option.
//!
//! What one run does, per worker count N:
//! 1. **Emulators** (once): one emulator per store, all in this process (an emulator is one shop: its own
//!    loopback port, state and webhook queue), each seeded with the same SKUs at the same quantity, with a
//!    webhook receiver registered at this process's proxy (below).
//! 2. **Seed**: a fresh PostgreSQL schema; per company, one batch through the store API: the company
//!    (`WriteOp::PutCompany`), its three connections (credentials sealed) and a "sync now" per store
//!    (`WriteOp::RequestSync`), so each company's first reconcile imports its listings.
//! 3. **Start-up**: N copies of this binary in `--worker` mode (a `Fleet` over the schema, an HTTP
//!    receiver for webhooks). Start-up is the time from spawning them to every company held (an engine
//!    running for it) and to every first reconcile done (no "sync now" left).
//! 4. **Load**: orders placed at steady rates (`--rates`, each for `--step-secs`) on random stores of random
//!    companies; for each, the time from the order until the company's two other stores show the new
//!    quantity (the emulators' state, read directly). Webhooks from the emulators go through a proxy here
//!    that hands each delivery to the next live worker in turn, as a load balancer would: a worker not
//!    holding the company records it in the inbox for the holder. Worker memory is the RSS from `/proc`.
//! 5. **Take-over**: `kill -9` of one worker (with N = 1 a new worker is started right after, as a
//!    supervisor would), then one order on each of up to `--takeover-sample` of its companies: the time
//!    from the kill until each of them shows on the company's other stores.
//!
//! `--in-process` runs the same load against one `SyncEngine` per company in this process, each over its
//! own memory store (no PostgreSQL, no workers): the engine's own cost, without the database.

mod args;
mod farm;
mod inprocess;
mod load;
mod proxy;
mod report;
mod run;
mod seed;
mod worker;

fn main() {
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a Tokio runtime");
    let code = runtime.block_on(async move {
        match &args.worker {
            Some(name) => worker::run(&args, name).await,
            None => run::coordinate(&args).await,
        }
    });
    std::process::exit(code);
}
