//! Every stocksync config the docs show is one the CLI accepts: each ```` ```toml stocksync ```` block of
//! `docs/*.md`, the READMEs and `stocksync.example.toml` goes through `stocksync --config FILE
//! check-config` (which parses it, checks every connection's settings with its adapter and reads no
//! secret). A TOML block that looks like a config but is not marked is an error too, so no guide can show
//! a config that is never checked.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The documents whose configs are checked.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.push(root.join("README.md"));
    docs.push(root.join("examples/stocksync/README.md"));
    docs
}

/// The ```toml blocks of a markdown text: (info string, first line number, body).
fn toml_blocks(text: &str) -> Vec<(String, usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match &mut open {
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```").filter(|i| i.starts_with("toml")) {
                    open = Some((info.trim().to_owned(), n + 1, String::new()));
                }
            }
            Some((_, _, body)) => {
                if line.trim_start().starts_with("```") {
                    blocks.push(open.take().unwrap());
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    blocks
}

fn check(config: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stocksync"))
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .output()
        .expect("run stocksync");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_config_in_the_docs_is_accepted_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let name = doc.strip_prefix(root()).unwrap_or(&doc).display().to_string();
        for (info, line, body) in toml_blocks(&text) {
            let marked = info.split_whitespace().any(|w| w == "stocksync");
            let looks_like_config = ["[store]", "[[connections]]", "[stores.", "[connections."]
                .iter()
                .any(|t| body.lines().any(|l| l.trim_start().starts_with(t)));
            if !marked {
                if looks_like_config {
                    failures.push(format!("{name}:{line}: a config block not marked ```toml stocksync"));
                }
                continue;
            }
            let file = dir.path().join(format!("{}-{line}.toml", name.replace('/', "_")));
            std::fs::write(&file, &body).unwrap();
            let (code, stderr) = check(&file);
            if code != Some(0) {
                failures.push(format!("{name}:{line}: exit {code:?}: {}", stderr.trim()));
            }
            checked.push(name.clone());
        }
    }
    let example = root().join("examples/stocksync/stocksync.example.toml");
    let (code, stderr) = check(&example);
    if code != Some(0) {
        failures.push(format!("stocksync.example.toml: exit {code:?}: {}", stderr.trim()));
    }
    assert!(failures.is_empty(), "configs the CLI refuses:\n{}", failures.join("\n"));
    for guide in ["docs/takealot.md", "docs/shopify.md", "docs/woocommerce.md", "docs/amazon.md", "docs/sandbox.md"] {
        assert!(checked.iter().any(|c| c == guide), "{guide} shows a checked config: {checked:?}");
    }
}

/// The subcommands a `--help` lists.
fn commands(args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_stocksync")).args(args).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some((_, rest)) = help.split_once("Commands:\n") else { return Vec::new() };
    rest.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// The long flags a `--help` lists, but `--config` and `--help`.
fn flags(args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_stocksync")).args(args).arg("--help").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| l.trim_start().split(['=', ' ', ',']).find(|w| w.starts_with("--")).map(str::to_owned))
        .filter(|f| f != "--config" && f != "--help" && f != "--version")
        .collect()
}

#[test]
fn the_readme_documents_every_command_and_flag() {
    let readme = std::fs::read_to_string(root().join("examples/stocksync/README.md")).unwrap();
    let mut missing = Vec::new();
    for command in commands(&[]) {
        let subcommands = commands(&[&command]);
        let invocations: Vec<Vec<String>> = if subcommands.is_empty() {
            vec![vec![command.clone()]]
        } else {
            subcommands.into_iter().map(|s| vec![command.clone(), s]).collect()
        };
        for args in invocations {
            let name = args.join(" ");
            if !readme.contains(&format!("`{name}")) {
                missing.push(format!("the command `{name}`"));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            for flag in flags(&args) {
                if !readme.contains(&flag) {
                    missing.push(format!("`{name}`'s {flag}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "examples/stocksync/README.md does not document: {}", missing.join(", "));
}
