//! `stocksync plan`: the reconciliation plan for a snapshot, as JSON or as a table (a dry run).

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use channel_core::reconcile::{Diagnostic, Plan, Reconciler, parse_snapshot};

/// The most bytes `plan` reads by default: 64 MiB, far more than a snapshot of a large catalog needs and
/// little enough that a wrong file or an endless stream is refused in well under a second.
const DEFAULT_MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Arguments of `stocksync plan`.
#[derive(Debug, clap::Args)]
#[command(after_help = "The snapshot is read whole before it is parsed, up to --max-input-bytes (64 MiB by \
default); a larger one, or an endless stream, is refused with exit 2 as soon as the bound is passed.")]
pub(crate) struct PlanArgs {
    /// The snapshot file (`-` reads standard input).
    snapshot: PathBuf,
    /// How to print the plan: the contract's JSON, or a table for a person.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// The most bytes of snapshot to read; more is refused (exit 2) without reading on.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_INPUT)]
    max_input_bytes: u64,
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
    let bytes = match read(&args.snapshot, args.max_input_bytes) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return refuse(&format!(
                "{name} is larger than {} bytes, the most `plan` reads: raise the bound with --max-input-bytes BYTES",
                args.max_input_bytes
            ));
        }
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
        Format::Json => write_json(&mut out, &plan),
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

/// The snapshot's bytes, or `None` when it has more than `max` (reading stops one byte past the bound, so
/// an endless stream such as `/dev/zero` is not read on).
fn read(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    if path == Path::new("-") {
        read_bounded(io::stdin().lock(), max, 0)
    } else {
        let file = std::fs::File::open(path)?;
        // A regular file's size says at once (a device or a pipe says 0 and is read up to the bound).
        let size = file.metadata()?.len();
        if size > max {
            return Ok(None);
        }
        read_bounded(file, max, size)
    }
}

/// Read `reader` to its end, or to one byte past `max` (then `None`); `hint` is its size when known.
fn read_bounded(reader: impl Read, max: u64, hint: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Bad input: one line on stderr, nothing on stdout, exit status 2.
fn refuse(message: &str) -> ExitCode {
    eprintln!("stocksync plan: {}", message.replace(['\n', '\r'], " "));
    ExitCode::from(2)
}

/// The plan JSON, byte for byte what `serde_json::to_writer_pretty` prints plus a newline, written
/// directly: a million updates print in a fraction of the time.
fn write_json(out: &mut impl Write, plan: &Plan<'_>) -> io::Result<()> {
    fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.write_all(b"\"")?;
            out.write_all(s.as_bytes())?;
            out.write_all(b"\"")
        } else {
            serde_json::to_writer(out, s).map_err(io::Error::from)
        }
    }
    if plan.updates.is_empty() {
        out.write_all(b"{\n  \"updates\": [],\n")?;
    } else {
        out.write_all(b"{\n  \"updates\": [\n")?;
        for (i, u) in plan.updates.iter().enumerate() {
            out.write_all(if i == 0 { b"    {\n      \"store\": " } else { b",\n    {\n      \"store\": " })?;
            string(out, u.store.as_str())?;
            out.write_all(b",\n      \"listing\": ")?;
            string(out, u.listing.as_str())?;
            out.write_all(b",\n      \"sku\": ")?;
            string(out, u.sku.as_str())?;
            write!(out, ",\n      \"from\": {},\n      \"to\": {}\n    }}", u.from, u.to)?;
        }
        out.write_all(b"\n  ],\n")?;
    }
    if plan.diagnostics.is_empty() {
        out.write_all(b"  \"diagnostics\": []\n}\n")
    } else {
        // Few, and with optional fields: let serde_json print them, indented one level more.
        let text = serde_json::to_string_pretty(&plan.diagnostics).map_err(io::Error::from)?;
        out.write_all(b"  \"diagnostics\": ")?;
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                out.write_all(b"\n  ")?;
            }
            out.write_all(line.as_bytes())?;
        }
        out.write_all(b"\n}\n")
    }
}

/// A SKU as a person should see it: quoted when whitespace or emptiness would hide what it is.
fn show_sku(raw: &str) -> String {
    if raw.is_empty() || raw.trim() != raw || raw.chars().any(char::is_control) {
        format!("{raw:?}")
    } else {
        raw.to_owned()
    }
}

/// Print aligned columns; `cell(row, column, buffer)` writes one cell into `buffer`. Two passes over
/// the rows (widths, then lines) so a million updates need no table in memory.
fn write_rows(
    out: &mut impl Write,
    header: &[&str],
    rows: usize,
    right: &[bool],
    mut cell: impl FnMut(usize, usize, &mut String),
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    let mut buffer = String::new();
    for row in 0..rows {
        for (column, width) in widths.iter_mut().enumerate() {
            buffer.clear();
            cell(row, column, &mut buffer);
            *width = (*width).max(buffer.chars().count());
        }
    }
    let mut line = String::new();
    for row in 0..=rows {
        line.clear();
        line.push(' ');
        for (column, &width) in widths.iter().enumerate() {
            buffer.clear();
            if row == 0 {
                buffer.push_str(header[column]);
            } else {
                cell(row - 1, column, &mut buffer);
            }
            let pad = width.saturating_sub(buffer.chars().count());
            line.push(' ');
            if right[column] {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(&buffer);
            } else {
                line.push_str(&buffer);
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.push(' ');
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, plan: &Plan<'_>) -> io::Result<()> {
    use std::fmt::Write as _;
    writeln!(out, "Updates ({})", plan.updates.len())?;
    if plan.updates.is_empty() {
        writeln!(out, "  none: every listing already shows the right quantity")?;
    } else {
        let header = ["STORE", "LISTING", "SKU", "FROM", "TO"];
        write_rows(out, &header, plan.updates.len(), &[false, false, false, true, true], |row, column, buffer| {
            let u = &plan.updates[row];
            // Writing into a String cannot fail.
            let _ = match column {
                0 => buffer.write_str(u.store.as_str()),
                1 => buffer.write_str(u.listing.as_str()),
                2 => buffer.write_str(u.sku.as_str()),
                3 => write!(buffer, "{}", u.from),
                _ => write!(buffer, "{}", u.to),
            };
        })?;
    }
    writeln!(out)?;
    writeln!(out, "Diagnostics ({})", plan.diagnostics.len())?;
    if plan.diagnostics.is_empty() {
        writeln!(out, "  none")?;
    } else {
        let header = ["KIND", "SKU", "STORE", "LISTING", "MESSAGE"];
        write_rows(out, &header, plan.diagnostics.len(), &[false; 5], |row, column, buffer| {
            let d: &Diagnostic = &plan.diagnostics[row];
            match column {
                0 => buffer.push_str(d.kind.as_str()),
                1 => buffer.push_str(&show_sku(&d.sku)),
                2 => buffer.push_str(d.store.as_ref().map_or("", |s| s.as_str())),
                3 => buffer.push_str(d.listing.as_ref().map_or("", |l| l.as_str())),
                _ => buffer.push_str(&d.message),
            }
        })?;
    }
    Ok(())
}
