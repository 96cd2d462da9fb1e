//! Behaviour against the channel-testkit Takealot emulator: the conformance suite, efficiency (request
//! counts from the emulator's log), faults, partial batches and webhooks.

use std::sync::Arc;
use std::time::Duration;

use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::SecretString;
use channel_core::{Channel, ChannelExt, ErrorKind, Outcome, StockUpdate, WebhookPayload, WebhookRequest};
use channel_takealot::{SignatureScheme, Takealot, TakealotConfig};
use channel_testkit::conformance::{ConformanceTarget, SandboxClient, check_all};
use channel_testkit::sandbox::{Duplicates, Fault, LoggedRequest};
use channel_testkit::takealot::{self as emu, TakealotEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn emulator_config() -> emu::TakealotConfig {
    let mut c = emu::TakealotConfig::default();
    c.rate_limit = None;
    c.batch_processing_delay = Duration::from_millis(5);
    c
}

fn adapter_for(e: &TakealotEmulator) -> Takealot {
    let config = TakealotConfig::new(SecretString::from(e.api_key().to_owned()), e.warehouse_ids()[0])
        .base_url(e.base_url())
        .requests_per_minute(None)
        .batch_poll_interval(Duration::from_millis(10))
        .webhook_secret(SecretString::from(e.webhook_secret().to_owned()), SignatureScheme::HexBody);
    Takealot::new(config).unwrap()
}

fn writes(log: &[LoggedRequest]) -> usize {
    log.iter().filter(|r| r.method != "GET").count()
}

fn reads_of(log: &[LoggedRequest], path: &str) -> usize {
    log.iter().filter(|r| r.method == "GET" && r.path == path).count()
}

async fn seed(e: &TakealotEmulator, prefix: &str, n: usize, qty: i64) {
    for i in 0..n {
        e.seed_product(SeedProduct::new(format!("{prefix}-{i:05}"), qty, Decimal::from(100))).unwrap();
    }
}

async fn updates(t: &Takealot, prefix: &str, qty: i64) -> Vec<StockUpdate> {
    t.all_listings()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.is_writable() && l.channel_sku.starts_with(prefix))
        .map(|l| StockUpdate::new(l.id, l.channel_sku, qty).with_ids(l.ids))
        .collect()
}

#[tokio::test]
async fn conformance() {
    let e = TakealotEmulator::start(emulator_config()).await.unwrap();
    let t = adapter_for(&e);
    let target =
        ConformanceTarget::new(Arc::new(t), SandboxClient::new(e.base_url())).with_webhook_secret(e.webhook_secret());
    check_all(&target).await;
}

#[tokio::test]
async fn efficiency_writes_and_reads_are_counted() {
    let e = TakealotEmulator::start(emulator_config()).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "EFF", 250, 1).await;

    e.clear_requests();
    let listed = t.all_listings().await.unwrap();
    assert_eq!(listed.iter().filter(|l| l.is_writable()).count(), 250);
    let log = e.requests();
    assert_eq!(reads_of(&log, "/v2/offers"), 3, "250 offers at 100 a page: ceil(250/100) reads");
    assert_eq!(log.len(), 3);

    let ups = updates(&t, "EFF", 4).await;
    e.clear_requests();
    let out = t.set_stock(&ups).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    let log = e.requests();
    assert_eq!(writes(&log), 1, "250 updates with batch maximum 10,000: one write call");
    println!(
        "takealot: 250 updates -> {} write call(s), {} batch poll(s)",
        writes(&log),
        reads_of(&log, "/v2/offers/batch/7001")
    );
    assert_eq!(e.stock("EFF-00249").unwrap(), Some(4));

    e.clear_requests();
    assert!(t.set_stock(&[]).await.unwrap().is_empty());
    assert!(e.requests().is_empty(), "an empty push costs nothing");

    e.clear_requests();
    let out = t.set_stock(&ups[..1]).await.unwrap();
    assert!(out[0].is_applied());
    let log = e.requests();
    assert_eq!((writes(&log), log.len()), (1, 1), "one update: one PATCH, no polling");
}

#[tokio::test]
async fn faults_are_survived() {
    let e = TakealotEmulator::start(emulator_config()).await.unwrap();
    seed(&e, "F", 3, 2).await;
    let config = TakealotConfig::new(SecretString::from(e.api_key().to_owned()), e.warehouse_ids()[0])
        .base_url(e.base_url())
        .requests_per_minute(None)
        .batch_poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(1));
    let t = Takealot::new(config).unwrap();

    e.inject_fault(Fault::too_many_requests(1));
    assert_eq!(t.all_listings().await.unwrap().len(), 6, "a 429 with Retry-After is waited out");
    e.inject_fault(Fault::status(503).times(2));
    assert_eq!(t.all_listings().await.unwrap().len(), 6, "5xx on reads are retried");
    e.inject_fault(Fault::drop_connection());
    assert_eq!(t.all_listings().await.unwrap().len(), 6, "a dropped connection on a read is retried");
    e.inject_fault(Fault::delay(Duration::from_millis(1_500)));
    assert_eq!(t.all_listings().await.unwrap().len(), 6, "a timed-out read is retried");

    let ups = updates(&t, "F", 9).await;
    e.clear_requests();
    e.inject_fault(Fault::status(502).on_path("/v2/offers/batch"));
    let out = t.set_stock(&ups).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "an absolute batch is resubmitted after a 5xx: {out:?}");
    assert_eq!(e.stock("F-00002").unwrap(), Some(9));
    e.inject_fault(Fault::malformed().times(4));
    let err = t.all_listings().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn partial_batches_and_disabled_offers_are_per_item() {
    let e = TakealotEmulator::start(emulator_config()).await.unwrap();
    let t = adapter_for(&e);
    seed(&e, "P", 5, 1).await;
    e.platform().set_disabled_by_takealot("P-00000", true).unwrap();
    let ups = updates(&t, "P", 6).await;
    e.inject_fault(Fault::partial_batch());
    let out = t.set_stock(&ups).await.unwrap();
    assert_eq!(out.len(), 5);
    assert!(
        matches!(&out[0].outcome, Outcome::Rejected { reason, retryable: false } if reason.contains("Disabled")),
        "{:?}",
        out[0]
    );
    // The fault's items carry a message and no code: a refusal is permanent unless its code is configured.
    for i in [1, 3] {
        assert!(matches!(&out[i].outcome, Outcome::Rejected { retryable: false, .. }), "{:?}", out[i]);
        assert_eq!(e.stock(&format!("P-{i:05}")).unwrap(), Some(1), "a failed item is not applied");
    }
    for i in [2, 4] {
        assert!(out[i].is_applied(), "{:?}", out[i]);
        assert_eq!(e.stock(&format!("P-{i:05}")).unwrap(), Some(6));
    }
    assert_eq!(e.stock("P-00000").unwrap(), Some(1));
}

#[tokio::test]
async fn webhooks_valid_tampered_unsigned_and_replayed() {
    let mut config = emulator_config();
    config.webhooks.duplicates = Duplicates::Always;
    let e = TakealotEmulator::start(config).await.unwrap();
    let t = adapter_for(&e);
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let url = format!("{}/hook", receiver.uri());
    e.register_webhook(RegisterWebhook::new(url.clone(), e.webhook_secret())).unwrap();
    e.seed_product(SeedProduct::new("W-1", 5, Decimal::from(100))).unwrap();
    let order = e.place_order(PlaceOrder::new("W-1", 2)).unwrap();
    e.cancel_order(&order.order_id).unwrap();
    e.webhooks_idle().await;

    let received = receiver.received_requests().await.unwrap();
    let as_request = |r: &wiremock::Request, body: Vec<u8>| {
        let mut req = WebhookRequest::new(body).with_url(url.clone());
        for (n, v) in &r.headers {
            req = req.header(n.as_str(), v.to_str().unwrap());
        }
        req
    };
    let events: Vec<_> = received.iter().map(|r| t.verify_webhook(&as_request(r, r.body.clone())).unwrap()).collect();
    assert!(events.len() >= 6, "offer created, leadtime order and sale status changed, each twice: {}", events.len());
    for pair in events.chunks(2) {
        assert_eq!(pair[0].delivery_id, pair[1].delivery_id, "a replay keeps its delivery id");
        assert!(pair[0].delivery_id.is_some());
    }
    let leadtime = events.iter().find(|e| e.topic == "New Leadtime Order").unwrap();
    let WebhookPayload::Order(o) = &leadtime.payload else { panic!("{leadtime:?}") };
    assert_eq!((o.id.as_str(), o.lines[0].quantity), (order.order_id.as_str(), 2));
    let cancelled = events.iter().find(|e| e.topic == "Sale Status Changed").unwrap();
    let WebhookPayload::Order(o) = &cancelled.payload else { panic!("{cancelled:?}") };
    assert_eq!(o.status, channel_core::OrderStatus::Cancelled);

    let first = &received[0];
    let mut tampered = first.body.clone();
    tampered.push(b' ');
    assert_eq!(t.verify_webhook(&as_request(first, tampered)).unwrap_err().http_status(), 401);
    let mut unsigned = WebhookRequest::new(first.body.clone());
    for (n, v) in &first.headers {
        if !n.as_str().eq_ignore_ascii_case("x-takealot-signature") {
            unsigned = unsigned.header(n.as_str(), v.to_str().unwrap());
        }
    }
    assert!(matches!(t.verify_webhook(&unsigned), Err(channel_core::WebhookRejection::Unsigned { .. })));
}

#[tokio::test]
async fn the_url_signing_scheme_is_supported() {
    let mut config = emulator_config();
    config.signature = emu::SignatureScheme::Base64HexUrlBody;
    let e = TakealotEmulator::start(config).await.unwrap();
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let url = format!("{}/hook", receiver.uri());
    e.register_webhook(RegisterWebhook::new(url.clone(), "s3cret")).unwrap();
    e.seed_product(SeedProduct::new("U-1", 5, Decimal::from(100))).unwrap();
    e.webhooks_idle().await;
    let r = &receiver.received_requests().await.unwrap()[0];
    let build = |scheme| {
        let config = TakealotConfig::new(SecretString::from("k"), 1)
            .base_url(e.base_url())
            .webhook_secret(SecretString::from("s3cret"), scheme)
            .webhook_url(url.clone());
        Takealot::new(config).unwrap()
    };
    let mut req = WebhookRequest::new(r.body.clone());
    for (n, v) in &r.headers {
        req = req.header(n.as_str(), v.to_str().unwrap());
    }
    assert!(build(SignatureScheme::Base64HexUrlBody).verify_webhook(&req).is_ok());
    assert!(build(SignatureScheme::Any).verify_webhook(&req).is_ok());
    assert!(build(SignatureScheme::HexBody).verify_webhook(&req).is_err(), "the wrong scheme fails");
}
