//! docs/sandbox.md, "your own stores against the sandbox", step by step through the real binary:
//! `sandbox --seed` writes a config and the credentials' variables, `check-config` and `connections add`
//! take them as written, `serve` reconciles, and a sale on the sandbox moves stock on every other store.
//! The guide must show each command this test runs.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills the child when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 request over loopback; answers (status, body).
fn http(base_url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let authority = base_url.strip_prefix("http://").expect("http base URL");
    let mut stream = TcpStream::connect(authority).expect("connects");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("request written");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The `export NAME='value'` lines of sandbox.env.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .expect("sandbox.env written")
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .map(|l| {
            let (name, value) = l.split_once('=').expect("NAME=value");
            (name.to_owned(), value.trim_matches('\'').to_owned())
        })
        .collect()
}

/// Every platform of the sandbox, as its JSON line and its config name them.
const PLATFORMS: [&str; 6] = ["takealot", "woocommerce", "shopify", "amazon", "ebay", "magento"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A loopback port free right now, for `serve` (the sandbox registers its webhooks there first).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn stock(base: &str, sku: &str) -> Option<i64> {
    let (status, body) = http(base, "GET", &format!("/_sandbox/stock/{sku}"), "");
    (status == 200).then(|| serde_json::from_str::<Value>(&body).ok()?["quantity"].as_i64()).flatten()
}

fn wait_for(what: &str, log: &dyn Fn() -> String, done: &mut dyn FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not reached\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_sandbox_guide_works_as_written() {
    let guide = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sandbox.md"))
        .expect("docs/sandbox.md");
    let shows = |step: &str| assert!(guide.contains(step), "docs/sandbox.md shows `{step}`");
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());

    // 1. The sandbox, seeded, with a config written for the stores on it.
    shows("stocksync sandbox --seed");
    let sandbox = Command::new(env!("CARGO_BIN_EXE_stocksync"))
        .args(["sandbox", "--seed", "--no-rate-limits", "--serve-listen", &listen])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("stocksync sandbox starts");
    let mut sandbox = Running(sandbox);
    let mut line = String::new();
    BufReader::new(sandbox.0.stdout.take().unwrap()).read_line(&mut line).expect("the JSON line");
    let info: Value = serde_json::from_str(&line).expect("JSON");
    let url = |platform: &str| info[platform]["base_url"].as_str().expect("base_url").to_owned();
    let out = dir.path().join("stocksync-sandbox");
    shows(". ./sandbox.env");
    let env = env_file(&out.join("sandbox.env"));
    let config = out.join("stocksync.toml");
    let cli = |args: &[&str]| -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stocksync"));
        cmd.arg("--config").arg(&config).args(args).current_dir(&out).env_remove("STOCKSYNC_LOG");
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    };
    let run = |args: &[&str]| -> Output { cli(args).output().expect("run stocksync") };
    for platform in PLATFORMS {
        assert_eq!(stock(&url(platform), "MUG-RED"), Some(12), "{platform} is seeded");
    }

    // 2. The config as written is accepted, and every store is added with its credentials.
    shows("stocksync --config stocksync.toml check-config");
    let checked = run(&["check-config"]);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stderr));
    let listed = format!("({} connections: {})", PLATFORMS.len(), PLATFORMS.join(", "));
    assert!(text(&checked.stdout).contains(&listed), "check-config lists every store: {}", text(&checked.stdout));
    shows(&listed);
    for store in PLATFORMS {
        shows(&format!("stocksync --config stocksync.toml connections add {store}"));
        let added = run(&["connections", "add", store]);
        assert_eq!(added.status.code(), Some(0), "connections add {store}: {}", text(&added.stderr));
    }

    // 3. serve on the address the webhooks were registered for; its first reconcile reaches every store.
    shows("stocksync --config stocksync.toml serve --listen 127.0.0.1:8080");
    let serve_log = dir.path().join("serve.log");
    let serve = cli(&["serve", "--listen", &listen])
        .env("STOCKSYNC_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&serve_log).unwrap())
        .spawn()
        .expect("serve starts");
    let serve = Running(serve);
    shows("stocksync --config stocksync.toml connections list");
    let log = || format!("serve:\n{}", std::fs::read_to_string(&serve_log).unwrap_or_default());
    wait_for("the first reconcile of every store", &log, &mut || {
        let listed = run(&["connections", "list", "--json"]);
        let rows: Value = serde_json::from_slice(&listed.stdout).unwrap_or(Value::Null);
        rows.as_array().is_some_and(|r| r.len() == PLATFORMS.len() && r.iter().all(|c| c["last_sync_at"].is_string()))
    });

    // 4. A sale on the WooCommerce store moves the stock of every other store.
    shows(r#"/_sandbox/orders -d '{"sku":"MUG-RED","quantity":2}'"#);
    shows("/_sandbox/stock/MUG-RED");
    let (status, body) = http(&url("woocommerce"), "POST", "/_sandbox/orders", r#"{"sku":"MUG-RED","quantity":2}"#);
    assert!(status == 200 || status == 201, "the order is placed: {status} {body}");
    let stocks = || PLATFORMS.map(|p| (p, stock(&url(p), "MUG-RED"))).to_vec();
    let log = || format!("stock: {:?}\nserve:\n{}", stocks(), std::fs::read_to_string(&serve_log).unwrap_or_default());
    wait_for("MUG-RED at 10 everywhere", &log, &mut || stocks().iter().all(|(_, q)| *q == Some(10)));
    assert_eq!(stock(&url("takealot"), "TEE-BLK"), Some(8), "other SKUs are untouched");
    drop(serve);
    drop(sandbox);
}
