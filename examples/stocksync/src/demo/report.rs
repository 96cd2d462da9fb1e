//! What the demo prints at the end: every SKU on every channel against what it should show, the
//! channel-held stock, and the closing line.

use std::fmt::Write as _;

use sync_engine::store::{AuditFilter, LedgerFilter};
use sync_engine::{Store, SyncEngine};

use super::emulators::Emulators;
use super::orders::Sales;
use super::{AMAZON_FBA, BUNDLE, CATALOG, FOLLOWERS, Follower, fail};

/// The table of every SKU: what it should show and what each channel shows, `ok` or `DIFFERS`.
pub(super) fn print_table(emulators: &Emulators, sales: &Sales) {
    println!();
    let mut header = format!("{:<10} {:>9} {:>9}", "SKU", "expected", "takealot");
    for follower in FOLLOWERS {
        let title = follower.title.to_lowercase();
        let _ = write!(header, " {title:>width$}", width = width(follower));
    }
    println!("{header}");
    let mut skus: Vec<&str> = CATALOG.iter().map(|(s, _)| *s).collect();
    skus.push(BUNDLE.0);
    for sku in skus {
        print_row(emulators, sales, sku);
    }
}

/// A follower's column width: its title, at least 7.
fn width(follower: &Follower) -> usize {
    follower.title.len().max(7)
}

fn print_row(emulators: &Emulators, sales: &Sales, sku: &str) {
    let show = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |q| q.to_string());
    let target = sales.target(sku);
    let tk_q = if sku == BUNDLE.0 { None } else { emulators.stock("takealot", sku) };
    let mut fine = sku == BUNDLE.0 || tk_q == Some(sales.expected(sku));
    let mut row = format!("{:<10} {:>9} {:>9}", sku, target, show(tk_q));
    for follower in FOLLOWERS {
        let listed = follower.lists(sku);
        let quantity = if listed { emulators.stock(follower.id, sku) } else { None };
        fine &= !listed || quantity == Some(target);
        let shown = if follower.id == "amazon" && sku == AMAZON_FBA.0 { "fba".to_owned() } else { show(quantity) };
        let _ = write!(row, " {shown:>width$}", width = width(follower));
    }
    println!("{row}  {}", if fine { "ok" } else { "DIFFERS" });
}

/// Print the channel-held stock (Takealot's DC, Amazon FBA); false when the FBA stock changed by anything
/// but the FBA orders.
pub(super) fn check_channel_held(emulators: &Emulators, fba_sold: i64) -> bool {
    if let Some(dc) = emulators.takealot.platform().dc_stock("CAP") {
        println!("(CAP in Takealot's DC: {dc}, channel-held: never written by stocksync)");
    }
    let fba = emulators.amazon.platform().fba_quantity(AMAZON_FBA.0);
    if let Some(fba) = fba {
        println!(
            "({} at Amazon FBA: {fba} of {}, channel-held: never written by stocksync)",
            AMAZON_FBA.0, AMAZON_FBA.1
        );
    }
    if fba != Some(AMAZON_FBA.1 - fba_sold) {
        println!("Amazon FBA stock of {} changed by something other than its {fba_sold} FBA order(s)", AMAZON_FBA.0);
        return false;
    }
    true
}

/// The number of ledger movements; with `STOCKSYNC_DEMO_TRACE` set, the ledger, the audit log and the
/// engine's model of MUG-RED go to stderr.
pub(super) async fn ledger_movements(store: &dyn Store, engine: &SyncEngine) -> Result<usize, String> {
    let ledger = store.ledger(&LedgerFilter::default()).await.map_err(fail)?;
    if std::env::var_os("STOCKSYNC_DEMO_TRACE").is_some() {
        for m in &ledger {
            eprintln!("ledger {:?}", m.movement);
        }
        for a in store.audit(&AuditFilter::default()).await.map_err(fail)? {
            eprintln!("audit {} {:?} {:?} {:?}->{:?} {}", a.store, a.listing, a.sku, a.old, a.new, a.reason);
        }
        eprintln!("model RED {:?}", engine.on_hand(&channel_core::Sku::new("MUG-RED").map_err(fail)?).await);
    }
    Ok(ledger.len())
}

/// The closing lines: units the channels oversold in their own races, and whether everything converged.
pub(super) fn print_summary(sales: &Sales, movements: usize, ok: bool, started: std::time::Instant) {
    let oversold = sales.oversold();
    if oversold > 0 {
        println!(
            "oversold: {oversold} unit(s) sold by channels in the instants before their orders reached the engine"
        );
    }
    println!(
        "\n{} ledger movements; {} in {:.1}s",
        movements,
        if ok { "converged" } else { "NOT converged" },
        started.elapsed().as_secs_f64()
    );
}
