//! `stocksync plan` as a person or a script runs it: the built binary on an example and on bad input.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn snapshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/takealot-source-amazon-fba.json")
}

fn stocksync(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stocksync"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stocksync");
    if let Some(bytes) = stdin {
        // A refused command (a bad flag, input past the bound) may exit before reading its input: the
        // pipe is then closed, which is not this test's failure.
        match child.stdin.take().unwrap().write_all(bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.unwrap(),
        }
    }
    child.wait_with_output().unwrap()
}

fn updates(plan: &serde_json::Value) -> Vec<(String, String, String, i64, i64)> {
    plan["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["store"].as_str().unwrap().to_owned(),
                u["listing"].as_str().unwrap().to_owned(),
                u["sku"].as_str().unwrap().to_owned(),
                u["from"].as_i64().unwrap(),
                u["to"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn diagnostics(plan: &serde_json::Value) -> BTreeSet<(String, String)> {
    plan["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_owned(), d["sku"].as_str().unwrap().to_owned()))
        .collect()
}

fn expected() -> serde_json::Value {
    let path = snapshot().with_file_name("takealot-source-amazon-fba.plan.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn prints_the_plan_json_of_an_example() {
    let out = stocksync(&["plan", snapshot().to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty());
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let want = expected();
    assert_eq!(updates(&got), updates(&want));
    assert_eq!(diagnostics(&got), diagnostics(&want));
    assert_eq!(updates(&got).len(), 5);
}

#[test]
fn a_dash_reads_standard_input() {
    let bytes = std::fs::read(snapshot()).unwrap();
    let out = stocksync(&["plan", "-"], Some(&bytes));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(updates(&got), updates(&expected()));
}

#[test]
fn the_table_is_for_a_person() {
    let out = stocksync(&["plan", snapshot().to_str().unwrap(), "--format", "table"], None);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Updates (5)\n"), "{text}");
    let header = text.lines().nth(1).unwrap();
    for column in ["STORE", "LISTING", "SKU", "FROM", "TO"] {
        assert!(header.contains(column), "{header}");
    }
    let row = text.lines().find(|l| l.contains("MUG-GIFTBOX")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["amazon-za", "MUG-GIFTBOX", "MUG-GIFTBOX", "3", "0"]);
    assert!(text.contains("Diagnostics (0)"), "{text}");
}

#[test]
fn the_table_quotes_skus_with_stray_spaces() {
    let json = br#"{"products":[{"sku":"TS-001"}],"source_of_truth":"external","stock":{"TS-001":2},
        "stores":[{"id":"s","channel":"shopify","listings":[{"id":"3","sku":"ts-001 ","quantity":5}]}]}"#;
    let out = stocksync(&["plan", "-", "--format", "table"], Some(json));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text.lines().find(|l| l.contains("near_miss")).unwrap();
    assert!(row.contains("\"ts-001 \""), "{row}");
    assert!(row.contains("TS-001"), "the suggestion is in the message: {row}");
}

/// Exit 2, exactly one line on stderr containing `want`, nothing on stdout.
fn assert_refused(out: &Output, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.ends_with('\n'));
    assert!(stderr.contains(want), "{stderr:?} should contain {want:?}");
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_field() {
    let cases: [(&[u8], &str); 7] = [
        (
            br#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify"},{"id":"b","channel":"etsy","rules":{"percent":140}}]}"#,
            "<stdin>: stores[1].rules.percent: 140 is out of range 0..=100",
        ),
        (br#"{"source_of_truth":"external","stores":[{"id":"a","channel":"shopify","listings":[{"id":"1","sku":"X","quantity":1,"colour":"red"}]}]}"#, "stores[0].listings[0].colour: unknown field `colour`"),
        (br#"{"source_of_truth":"external","stores":[{"id":"a","channel":"myspace"}]}"#, "stores[0].channel: unknown variant `myspace`"),
        (br#"{"source_of_truth":"warehouse","stores":[]}"#, "source_of_truth: \"warehouse\" is neither \"external\" nor the id of a store"),
        (br#"{"source_of_truth":"a","stock":{"X":1},"stores":[{"id":"a","channel":"takealot"}]}"#, "stock: given, but source_of_truth is the store \"a\""),
        (br#"{"source_of_truth":"external","products":[{"sku":"A "}]}"#, "products[0].sku: SKU \"A \" has leading or trailing whitespace"),
        (b"{\"source_of_truth\": \"external\",\n  \"stores\": [\n", "not valid JSON"),
    ];
    for (json, want) in cases {
        assert_refused(&stocksync(&["plan", "-"], Some(json)), want);
    }
}

#[test]
fn a_missing_file_exits_2() {
    let out = stocksync(&["plan", "/nonexistent/snapshot.json"], None);
    assert_refused(&out, "cannot read /nonexistent/snapshot.json");
}

/// What serde_json's pretty printer makes of the plan the library computes.
fn library_json(bytes: &[u8]) -> String {
    let input = channel_core::reconcile::parse_snapshot(bytes).unwrap();
    let plan = channel_core::reconcile::plan(input).unwrap();
    serde_json::to_string_pretty(&plan).unwrap() + "\n"
}

#[test]
fn the_json_is_byte_for_byte_serde_jsons_pretty_print() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../channel-core/tests/data/spec-examples");
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".json") && !p.to_str().unwrap().ends_with(".plan.json"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(inputs.len() >= 12);
    inputs.push(
        r#"{"products":[{"sku":"A\"B"},{"sku":"ü"}],"source_of_truth":"external","stock":{"A\"B":3,"ü":1},
            "stores":[{"id":"st\\ore","channel":"etsy","listings":[
              {"id":"l\u0001","sku":"A\"B","quantity":0},{"id":"é","sku":"ü","quantity":0},{"id":"x","sku":"a\"b ","quantity":0}]}]}"#
            .as_bytes()
            .to_vec(),
    );
    inputs.push(br#"{"source_of_truth":"external"}"#.to_vec());
    for bytes in inputs {
        let out = stocksync(&["plan", "-"], Some(&bytes));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), library_json(&bytes));
    }
}

/// `stocksync plan ARGS` with standard input fed by a writer that never stops (until the pipe closes).
/// Returns the output and how many bytes the writer got into the pipe.
fn plan_endless_stdin(args: &[&str]) -> (Output, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stocksync"))
        .arg("plan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stocksync");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = [b' '; 64 * 1024];
        let mut written = 0u64;
        // Ends when stocksync closes its end (broken pipe): an endless snapshot of whitespace otherwise.
        while stdin.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        written
    });
    let out = child.wait_with_output().unwrap();
    (out, writer.join().unwrap())
}

#[test]
fn endless_input_is_refused_at_the_bound_without_reading_on() {
    let bound: u64 = 1 << 20;
    let (out, written) = plan_endless_stdin(&["-", "--max-input-bytes", &bound.to_string()]);
    assert_refused(&out, "larger than 1048576 bytes");
    assert_refused(&out, "--max-input-bytes");
    // What the writer got in: the bound, and at most what the pipe buffers beyond it.
    assert!(written <= bound + (1 << 20), "{written} bytes went in for a bound of {bound}");
    // The default bound holds too (64 MiB): /dev/zero as standard input and as the file.
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stocksync")).args(["plan", "-"]).stdin(zero).output().unwrap();
    assert_refused(&out, "<stdin> is larger than 67108864 bytes");
    let out = stocksync(&["plan", "/dev/zero"], None);
    assert_refused(&out, "/dev/zero is larger than 67108864 bytes");
}

#[test]
fn the_bound_applies_to_files_and_can_be_raised() {
    let path = snapshot();
    let size = std::fs::metadata(&path).unwrap().len();
    let small = (size - 1).to_string();
    assert_refused(
        &stocksync(&["plan", path.to_str().unwrap(), "--max-input-bytes", &small], None),
        &format!("larger than {small} bytes"),
    );
    let exact = size.to_string();
    let out = stocksync(&["plan", path.to_str().unwrap(), "--max-input-bytes", &exact], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = stocksync(&["plan", "-", "--max-input-bytes", "lots"], Some(b"{}"));
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}
