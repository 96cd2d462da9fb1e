//! `stocksync plan`: the reconciliation plan for a snapshot, as JSON or as a table (a dry run).

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use channel_core::reconcile::{Diagnostic, Plan, Reconciler, parse_snapshot};

/// Arguments of `stocksync plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The snapshot file (`-` reads standard input).
    snapshot: PathBuf,
    /// How to print the plan: the contract's JSON, or a table for a person.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// The plan JSON of the reconciliation contract.
    Json,
    /// Aligned columns for a person.
    Table,
}

pub(crate) fn run(args: PlanArgs) -> ExitCode {
    let name = if args.snapshot == Path::new("-") { "<stdin>".to_owned() } else { args.snapshot.display().to_string() };
    let bytes = match read(&args.snapshot) {
        Ok(bytes) => bytes,
        Err(e) => return refuse(&format!("cannot read {name}: {e}")),
    };
    let reconciler = match parse_snapshot(&bytes).and_then(Reconciler::new) {
        Ok(reconciler) => reconciler,
        Err(e) => return refuse(&format!("{name}: {e}")),
    };
    drop(bytes);
    let plan = reconciler.plan();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let written = match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &plan).map_err(io::Error::from).and_then(|()| writeln!(out))
        }
        Format::Table => write_table(&mut out, &plan),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`stocksync plan … | head`) is not worth a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stocksync plan: cannot write the plan: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        io::stdin().lock().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(path)
    }
}

/// Bad input: one line on stderr, nothing on stdout, exit status 2.
fn refuse(message: &str) -> ExitCode {
    eprintln!("stocksync plan: {}", message.replace(['\n', '\r'], " "));
    ExitCode::from(2)
}

/// A SKU as a person should see it: quoted when whitespace or emptiness would hide what it is.
fn show_sku(raw: &str) -> String {
    if raw.is_empty() || raw.trim() != raw || raw.chars().any(char::is_control) {
        format!("{raw:?}")
    } else {
        raw.to_owned()
    }
}

fn write_rows(out: &mut impl Write, header: &[&str], rows: &[Vec<String>], right: &[bool]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> io::Result<()> {
        let mut text = String::from(" ");
        for (i, cell) in cells.enumerate() {
            let last = i + 1 == widths.len();
            let pad = widths[i].saturating_sub(cell.chars().count());
            text.push(' ');
            if right[i] {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if !last {
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if !last {
                text.push(' ');
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &mut header.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, plan: &Plan<'_>) -> io::Result<()> {
    writeln!(out, "Updates ({})", plan.updates.len())?;
    if plan.updates.is_empty() {
        writeln!(out, "  none: every listing already shows the right quantity")?;
    } else {
        let rows: Vec<Vec<String>> = plan
            .updates
            .iter()
            .map(|u| {
                vec![
                    u.store.to_string(),
                    u.listing.to_string(),
                    u.sku.to_string(),
                    u.from.to_string(),
                    u.to.to_string(),
                ]
            })
            .collect();
        write_rows(out, &["STORE", "LISTING", "SKU", "FROM", "TO"], &rows, &[false, false, false, true, true])?;
    }
    writeln!(out)?;
    writeln!(out, "Diagnostics ({})", plan.diagnostics.len())?;
    if plan.diagnostics.is_empty() {
        writeln!(out, "  none")?;
    } else {
        let cell = |d: &Diagnostic| {
            vec![
                d.kind.to_string(),
                show_sku(&d.sku),
                d.store.as_ref().map(ToString::to_string).unwrap_or_default(),
                d.listing.as_ref().map(ToString::to_string).unwrap_or_default(),
                d.message.clone(),
            ]
        };
        let rows: Vec<Vec<String>> = plan.diagnostics.iter().map(cell).collect();
        write_rows(out, &["KIND", "SKU", "STORE", "LISTING", "MESSAGE"], &rows, &[false; 5])?;
    }
    Ok(())
}
