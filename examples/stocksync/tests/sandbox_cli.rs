//! `stocksync sandbox` announces its emulators on one JSON line and serves them.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

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
fn http(base_url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let authority = base_url.strip_prefix("http://").expect("http base URL");
    let mut stream = TcpStream::connect(authority).expect("connects");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).expect("request written");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn sandbox_prints_one_line_and_serves() {
    let child = Command::new(env!("CARGO_BIN_EXE_stocksync"))
        .arg("sandbox")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("stocksync starts");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("one line");
    let info: Value = serde_json::from_str(&line).expect("the line is JSON");
    for platform in ["takealot", "woocommerce", "shopify", "amazon", "ebay", "magento"] {
        let base_url = info[platform]["base_url"].as_str().unwrap_or_default();
        assert!(base_url.starts_with("http://127.0.0.1:"), "{platform} is announced: {line}");
        let (status, _) = http(base_url, "GET", "/_sandbox/requests", &[], "");
        assert_eq!(status, 200, "{platform} serves its control surface");
    }

    let takealot = &info["takealot"];
    let base = takealot["base_url"].as_str().expect("takealot base_url");
    let key = takealot["api_key"].as_str().expect("takealot api_key");
    assert!(takealot["webhook_secret"].is_string());
    let (status, _) = http(base, "GET", "/v2/offers", &[], "");
    assert_eq!(status, 403, "credentials are required (403 \"Forbidden Error\", as the swagger documents)");
    let (status, _) = http(base, "POST", "/_sandbox/products", &[], r#"{"sku":"CLI-1","quantity":4,"price":120}"#);
    assert_eq!(status, 201);
    let (status, body) = http(base, "GET", "/v2/offers", &[("Authorization", &format!("Key {key}"))], "");
    assert_eq!(status, 200);
    assert!(body.contains("CLI-1"), "the seeded offer is served: {body}");

    let woo = &info["woocommerce"];
    let base = woo["base_url"].as_str().expect("woocommerce base_url");
    let ck = woo["consumer_key"].as_str().expect("consumer_key");
    let cs = woo["consumer_secret"].as_str().expect("consumer_secret");
    let (status, body) =
        http(base, "GET", &format!("/wp-json/wc/v3/system_status?consumer_key={ck}&consumer_secret={cs}"), &[], "");
    assert_eq!(status, 200);
    assert!(body.contains("home_url"));

    let ebay = &info["ebay"];
    let base = ebay["base_url"].as_str().expect("ebay base_url");
    for name in ["client_id", "client_secret", "refresh_token", "token_url"] {
        assert!(ebay[name].is_string(), "eBay announces its {name}: {ebay}");
    }
    let (status, body) = http(base, "GET", "/sell/inventory/v1/inventory_item", &[], "");
    assert_eq!(status, 401, "eBay wants an OAuth token: {body}");

    let magento = &info["magento"];
    let base = magento["base_url"].as_str().expect("magento base_url");
    let token = magento["access_token"].as_str().expect("magento access_token");
    let (status, _) = http(base, "POST", "/_sandbox/products", &[], r#"{"sku":"CLI-2","quantity":3,"price":45}"#);
    assert_eq!(status, 201);
    let products = "/rest/default/V1/products?searchCriteria[pageSize]=10";
    let (status, body) = http(base, "GET", products, &[], "");
    assert_eq!(status, 401, "Magento wants the integration token: {body}");
    let (status, body) = http(base, "GET", products, &[("Authorization", &format!("Bearer {token}"))], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("CLI-2"), "the seeded product is served: {body}");
    let (status, body) = http(base, "GET", "/_sandbox/stock/CLI-2", &[], "");
    assert_eq!(status, 200);
    assert!(body.contains("\"quantity\":3"), "{body}");
}
