//! `stocksync serve` under hostile clients, through the real binary: slow headers and bodies are cut off,
//! connections past the limit and bodies past the size or the buffer budget are refused with a status, and
//! a flood of forged deliveries for a store is throttled (429) and audited in aggregate. The bounds are set
//! small with `serve`'s flags and the config file's `[serve]` table; every wait has a generous deadline and
//! nothing asserts on how long something took.

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use channel_core::rust_decimal::Decimal;
use channel_testkit::SeedProduct;
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use sync_engine::store::AuditFilter;
use sync_engine::{SqliteStore, Store};

use support::KEY;

/// How long a test waits for something the server must do on its own (a timeout of 1 s).
const PATIENCE: Duration = Duration::from_secs(10);

/// A Shopify store connected in a fresh config (with `extra` appended to it).
struct Seller {
    rt: tokio::runtime::Runtime,
    _shopify: ShopifyEmulator,
    dir: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Seller {
    fn start(extra: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let shopify = rt.block_on(ShopifyEmulator::start(ShopifyConfig::fast())).unwrap();
        shopify.seed_product(SeedProduct::new("MUG", 5, Decimal::from(160))).unwrap();
        let config = format!(
            r#"
[store]
path = "stocksync.db"
key_env = "STOCKSYNC_CREDENTIAL_KEY"

[sync]
poll_interval = "1h"
tick = "50ms"

[[connections]]
id = "shopify"
channel = "shopify"
source_of_truth = true
credentials_env = {{ access_token = "SHOPIFY_TOKEN", webhook_secret = "SHOPIFY_WEBHOOK_SECRET" }}
[connections.settings]
shop_domain = "{domain}"
base_url = "{url}"
{extra}
"#,
            domain = shopify.platform().config().shop_domain,
            url = shopify.base_url(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stocksync.toml");
        std::fs::write(&path, config).unwrap();
        let env = vec![
            ("STOCKSYNC_CREDENTIAL_KEY".to_owned(), KEY.to_owned()),
            ("SHOPIFY_TOKEN".to_owned(), shopify.access_token().to_owned()),
            ("SHOPIFY_WEBHOOK_SECRET".to_owned(), shopify.webhook_secret().to_owned()),
        ];
        let seller = Self { rt, _shopify: shopify, dir, config: path, env };
        let added = seller.command(&["connections", "add", "shopify"]).output().unwrap();
        assert_eq!(added.status.code(), Some(0), "connections add: {}", String::from_utf8_lossy(&added.stderr));
        seller
    }

    fn command(&self, args: &[&str]) -> Command {
        support::stocksync_command(Some(&self.config), args, &["STOCKSYNC_LOG"], &self.env)
    }

    /// `serve` on a free port with `flags`, once it announced its address.
    fn serve(&self, flags: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        let mut child = self.command(&args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(addr) = first.strip_prefix("listening on http://").map(str::to_owned) else {
            let _ = child.kill();
            panic!("serve did not announce its address: {first:?}");
        };
        Served { child, addr }
    }

    /// The reasons of the `webhook` audit rows.
    fn webhook_audit(&self) -> Vec<String> {
        self.rt.block_on(async {
            let store = SqliteStore::open(self.dir.path().join("stocksync.db")).await.unwrap();
            let audit = store.audit(&AuditFilter::default()).await.unwrap();
            store.close().await;
            audit.into_iter().filter(|a| a.field == "webhook").map(|a| a.reason).collect()
        })
    }
}

struct Served {
    child: Child,
    addr: String,
}

impl Served {
    /// A connection to the server, reads waiting at most [`PATIENCE`].
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }

    /// Stop with SIGTERM and wait.
    fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything the server sends until it closes the connection; panics if it keeps it open past
/// [`PATIENCE`].
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => {
                panic!("the server kept the connection open ({e}); got so far: {:?}", String::from_utf8_lossy(&got))
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The head of a POST to a store's endpoint, with `headers` (each ending in CRLF) and no body yet.
fn post_head(store: &str, headers: &str) -> String {
    format!("POST /webhooks/{store} HTTP/1.1\r\nHost: stocksync\r\n{headers}\r\n")
}

/// One whole request, `Connection: close`: the response's text (empty if the server closed the connection
/// before answering, or reset it without reading the request).
fn exchange(served: &Served, store: &str, headers: &str, body: &[u8]) -> String {
    let mut stream = served.connect();
    let head = post_head(store, &format!("{headers}Content-Length: {}\r\nConnection: close\r\n", body.len()));
    if stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).is_err() {
        return String::new();
    }
    read_until_closed(&mut stream)
}

#[test]
fn slow_headers_and_slow_bodies_are_cut_off() {
    let seller = Seller::start("");
    let served = seller.serve(&["--header-timeout", "1s", "--body-timeout", "1s"]);
    // Slowloris: part of the headers, then nothing. The server closes the connection.
    let mut slow_head = served.connect();
    slow_head.write_all(b"POST /webhooks/shopify HTTP/1.1\r\nHost: stocksync\r\nX-Shopify-To").unwrap();
    // A connection that sends nothing at all.
    let mut silent = served.connect();
    // Headers in full, a body that never ends: 408, then closed.
    let mut slow_body = served.connect();
    slow_body.write_all(post_head("shopify", "Content-Length: 1000\r\n").as_bytes()).unwrap();
    slow_body.write_all(b"{\"id\":").unwrap();

    let head_answer = read_until_closed(&mut slow_head);
    assert!(!head_answer.contains("200"), "{head_answer}");
    read_until_closed(&mut silent);
    let body_answer = read_until_closed(&mut slow_body);
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    served.stop();
}

#[test]
fn connections_past_the_limit_are_answered_503_and_closed() {
    let seller = Seller::start("[serve]\nmax_connections = 2\nheader_timeout = \"1m\"\n");
    let served = seller.serve(&[]);
    // Two idle connections hold both slots (each is accepted before the next connects).
    let held: Vec<TcpStream> = (0..2).map(|_| served.connect()).collect();
    let mut third = served.connect();
    let answer = read_until_closed(&mut third);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 5"), "{answer}");
    // Once one closes, a delivery is served again (unsigned: 401 from the engine, not 503).
    drop(held);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = exchange(&served, "shopify", "", b"{}");
        if answer.starts_with("HTTP/1.1 401") {
            break;
        }
        // Refused (503, or reset before the answer was read) while the slots are being freed.
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(Instant::now() < deadline, "still refused after the held connections closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    served.stop();
}

#[test]
fn bodies_past_the_limit_or_the_buffer_budget_are_refused_before_they_are_read() {
    let seller = Seller::start("");
    let served = seller.serve(&["--max-body", "1MiB", "--max-buffered", "2MiB", "--body-timeout", "1m"]);
    // Over the body limit, from its Content-Length: 413 before a byte of the body was sent.
    let mut big = served.connect();
    big.write_all(post_head("shopify", "Content-Length: 2000000\r\n").as_bytes()).unwrap();
    let answer = read_until_closed(&mut big);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Two 1 MiB deliveries being received fill the budget. `Expect: 100-continue` makes each wait until the
    // server reserved its bytes and asked for the body.
    let mut pending = Vec::new();
    for _ in 0..2 {
        let mut s = served.connect();
        let head = post_head("shopify", "Content-Length: 1048576\r\nExpect: 100-continue\r\nConnection: close\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = [0u8; 25];
        s.read_exact(&mut buf).unwrap();
        assert!(buf.starts_with(b"HTTP/1.1 100 Continue"), "{}", String::from_utf8_lossy(&buf));
        s.write_all(&[b' '; 1000]).unwrap();
        pending.push(s);
    }
    // A third cannot be buffered now: 503 with Retry-After, its body not read.
    let mut third = served.connect();
    third.write_all(post_head("shopify", "Content-Length: 1048576\r\n").as_bytes()).unwrap();
    let answer = read_until_closed(&mut third);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after:"), "{answer}");

    // One finishes its body: it is handled (unsigned: 401), its bytes are released, and a delivery fits.
    let mut first = pending.remove(0);
    first.write_all(&vec![b' '; 1_048_576 - 1000]).unwrap();
    let answer = read_until_closed(&mut first);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let answer = exchange(&served, "shopify", "", &vec![b' '; 1_048_576]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    drop(pending);
    served.stop();
}

#[test]
fn a_flood_of_forged_deliveries_is_throttled_and_audited_in_a_few_rows() {
    let seller = Seller::start("");
    {
        // The [sync] keys of the throttle.
        let mut text = std::fs::read_to_string(&seller.config).unwrap();
        text = text.replace(
            "tick = \"50ms\"",
            "tick = \"50ms\"\nwebhook_rejection_limit = 3\nwebhook_rejection_window = \"1h\"",
        );
        std::fs::write(&seller.config, text).unwrap();
    }
    let served = seller.serve(&[]);
    let forged = "X-Shopify-Topic: orders/create\r\nX-Shopify-Hmac-Sha256: Zm9yZ2Vk\r\n";
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let answer = exchange(&served, "shopify", forged, b"{\"id\":1}");
        statuses.push(answer.get(9..12).unwrap_or_default().to_owned());
        if statuses.len() == 4 {
            assert!(answer.to_ascii_lowercase().contains("retry-after:"), "{answer}");
        }
    }
    assert!(statuses[..3].iter().all(|s| s == "401"), "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| s == "429"), "{statuses:?}");
    served.stop();
    // Three rows one by one, and the 197 throttled in one row written at shutdown.
    let rows = seller.webhook_audit();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert!(rows[3].contains("rejected 197 more deliveries"), "{}", rows[3]);
}

#[test]
fn bad_bounds_are_refused_with_exit_2() {
    let seller = Seller::start("[serve]\nmax_body = \"lots\"\n");
    let out = seller.command(&["serve", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[serve] max_body") && stderr.lines().count() == 1, "{stderr}");
    let text = std::fs::read_to_string(&seller.config).unwrap().replace("max_body = \"lots\"", "");
    std::fs::write(&seller.config, text).unwrap();
    let out = seller.command(&["serve", "--max-body", "8MiB", "--max-buffered", "1MiB"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_buffered") && stderr.lines().count() == 1, "{stderr}");
}
