//! `stocksync verify-webhook`: exit 0 and the event for a genuine delivery, 1 and the reason for a forged
//! one, 2 for bad usage.

use std::path::Path;
use std::process::Command;

fn stocksync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stocksync"))
}

/// The public WooCommerce order payload from ../shared, or `None` (the test is skipped) when absent.
fn order_body() -> Option<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/woocommerce/order_retrieve.json");
    match std::fs::read(&path) {
        Ok(body) => Some(body),
        Err(_) => {
            println!("skipped: {} not found", path.display());
            None
        }
    }
}

fn run(secret: &str, signature: &str, body: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, body).unwrap();
    let out = stocksync()
        .args(["verify-webhook", "--channel", "woocommerce", "--secret", secret])
        .args(["--header", &format!("X-WC-Webhook-Signature: {signature}")])
        .args(["--header", "X-WC-Webhook-Topic: order.created"])
        .args(["--header", "X-WC-Webhook-Delivery-ID: 42"])
        .arg("--body")
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_genuine_delivery_exits_0_with_the_event() {
    let Some(body) = order_body() else { return };
    let signature = channel_testkit::woocommerce::sign("whsec_test", &body);
    let (code, stdout, stderr) = run("whsec_test", &signature, &body);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("genuine:"), "{stdout}");
    assert!(stdout.contains("order"), "{stdout}");
}

#[test]
fn a_forged_delivery_exits_1_with_the_reason() {
    let Some(body) = order_body() else { return };
    let signature = channel_testkit::woocommerce::sign("whsec_test", &body);
    let (code, stdout, _) = run("another secret", &signature, &body);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("rejected (HTTP 401)"), "{stdout}");
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (code, stdout, _) = run("whsec_test", &signature, &tampered);
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn bad_usage_exits_2() {
    let out = stocksync().args(["verify-webhook", "--channel", "woocommerce", "--secret", "s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no --body");
    let out = stocksync()
        .args(["verify-webhook", "--channel", "nowhere", "--secret", "s", "--body", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "unknown channel");
    let out = stocksync()
        .args([
            "verify-webhook",
            "--channel",
            "woocommerce",
            "--secret",
            "s",
            "--header",
            "no colon",
            "--body",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "malformed header");
}

/// The public Shopify REST order from ../shared as an `orders/create` webhook body (the order object itself,
/// not the REST answer's `{"order": …}` wrapper), or `None` (the test is skipped) when absent.
fn shopify_order_body() -> Option<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/shopify/rest_order.json");
    match std::fs::read(&path) {
        Ok(body) => {
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
            Some(serde_json::to_vec(&answer["order"]).unwrap())
        }
        Err(_) => {
            println!("skipped: {} not found", path.display());
            None
        }
    }
}

fn run_shopify(secret: &str, signature: &str, body: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, body).unwrap();
    let out = stocksync()
        .args(["verify-webhook", "--channel", "shopify", "--secret", secret])
        .args(["--header", &format!("X-Shopify-Hmac-Sha256: {signature}")])
        .args(["--header", "X-Shopify-Topic: orders/create"])
        .args(["--header", "X-Shopify-Event-Id: evt-7"])
        .arg("--body")
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_genuine_shopify_delivery_exits_0_with_the_event() {
    let Some(body) = shopify_order_body() else { return };
    let signature = channel_core::webhook::sign_base64(b"shpss_test", &body);
    let (code, stdout, stderr) = run_shopify("shpss_test", &signature, &body);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("genuine:"), "{stdout}");
    assert!(stdout.contains("orders/create") && stdout.contains("order "), "{stdout}");
    assert!(stdout.contains("delivery evt-7"), "{stdout}");
}

#[test]
fn a_tampered_shopify_delivery_exits_1_with_the_reason() {
    let Some(body) = shopify_order_body() else { return };
    let signature = channel_core::webhook::sign_base64(b"shpss_test", &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (code, stdout, _) = run_shopify("shpss_test", &signature, &tampered);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("rejected (HTTP 401)"), "{stdout}");
    let (code, stdout, _) = run_shopify("another secret", &signature, &body);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("rejected (HTTP 401)"), "{stdout}");
}

/// `verify-webhook` for a WooCommerce delivery with `secret_args` giving the secret, and `env`.
fn run_with(secret_args: &[&str], env: &[(&str, &str)], signature: &str, body: &[u8]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, body).unwrap();
    let mut cmd = stocksync();
    cmd.args(["verify-webhook", "--channel", "woocommerce"]).args(secret_args);
    cmd.args(["--header", &format!("X-WC-Webhook-Signature: {signature}")])
        .args(["--header", "X-WC-Webhook-Topic: order.created"])
        .arg("--body")
        .arg(&file)
        .env_remove("WEBHOOK_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn assert_usage(out: &std::process::Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    for n in needles {
        assert!(err.contains(n), "{err:?} should mention {n:?}");
    }
}

#[test]
fn the_secret_comes_from_a_variable_or_a_file() {
    let Some(body) = order_body() else { return };
    let signature = channel_testkit::woocommerce::sign("whsec_test", &body);
    let env = [("WEBHOOK_SECRET", "whsec_test")];
    let out = run_with(&["--secret-env", "WEBHOOK_SECRET"], &env, &signature, &body);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    // A trailing newline (as `echo` writes) is not part of the secret.
    std::fs::write(&file, "whsec_test\n").unwrap();
    let out = run_with(&["--secret-file", file.to_str().unwrap()], &[], &signature, &body);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let wrong = run_with(&["--secret-env", "WEBHOOK_SECRET"], &[("WEBHOOK_SECRET", "other")], &signature, &body);
    assert_eq!(wrong.status.code(), Some(1));
    // Missing, unset, unreadable or given twice: exit 2 and one line.
    assert_usage(&run_with(&[], &[], &signature, &body), &["--secret-env", "--secret-file"]);
    assert_usage(&run_with(&["--secret-env", "WEBHOOK_SECRET"], &[], &signature, &body), &["WEBHOOK_SECRET"]);
    assert_usage(
        &run_with(&["--secret-file", "/nonexistent/secret"], &[], &signature, &body),
        &["/nonexistent/secret"],
    );
    let both = ["--secret-env", "WEBHOOK_SECRET", "--secret-file", file.to_str().unwrap()];
    assert_usage(&run_with(&both, &env, &signature, &body), &["one of"]);
    // The inline secret (visible to every user in `ps`) still works, with a warning.
    let inline = run_with(&["--secret", "whsec_test"], &[], &signature, &body);
    assert_eq!(inline.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&inline.stderr).contains("--secret-env"), "a warning names the way out");
}
