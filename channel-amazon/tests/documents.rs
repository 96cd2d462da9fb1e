//! Report and feed-result documents Amazon compresses (`compressionAlgorithm: GZIP`): decoded against
//! `wiremock` and the channel-testkit emulator (`gzip_documents`), with the decoded size bounded by
//! `max_document_bytes` (a zip bomb is a typed `Decode` error, not an out-of-memory abort), which bounds
//! the download as it arrives too.

mod support;

use std::io::Write as _;
use std::time::Duration;

use channel_amazon::{Amazon, AmazonConfig, AmazonError, CatalogSource, Region};
use channel_core::http::RetryPolicy;
use channel_core::{Channel, ChannelExt, ErrorKind, Fulfilment, Outcome, StockUpdate};
use channel_testkit::SeedProduct;
use channel_testkit::amazon::{AmazonConfig as EmuConfig, AmazonEmulator};
use flate2::Compression;
use flate2::write::GzEncoder;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use support::{SELLER, US, channel, token};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPORT: &str = "item-name\tseller-sku\tprice\tquantity\tstatus\tfulfillment-channel\tasin1\n\
                      Mug\tMUG-1\t9.50\t12\tActive\tDEFAULT\tB01\n\
                      Box\tBOX-FBA\t5.00\t\tActive\tAMAZON_NA\tB02\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn config() -> AmazonConfig {
    AmazonConfig::new(SELLER, [US], Region::Na, "amzn1.application-oa2-client.abc", "client-secret", "Atzr|refresh")
        .read_fba(false)
        .catalog_source(CatalogSource::Report)
}

/// LWA, createReport, getReport and getReportDocument (naming `compression`), and the document bytes.
async fn report_server(compression: Option<&str>, document: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    token(&server).await;
    Mock::given(method("POST"))
        .and(path("/reports/2021-06-30/reports"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"reportId": "R1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/reports/2021-06-30/reports/R1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"reportId": "R1", "processingStatus": "DONE", "reportDocumentId": "D1"})),
        )
        .mount(&server)
        .await;
    let mut doc = json!({"reportDocumentId": "D1", "url": format!("{}/s3/report-D1?X-Amz-Signature=s", server.uri())});
    if let Some(c) = compression {
        doc["compressionAlgorithm"] = json!(c);
    }
    Mock::given(method("GET"))
        .and(path("/reports/2021-06-30/documents/D1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/s3/report-D1"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(document, "application/octet-stream"))
        .mount(&server)
        .await;
    server
}

async fn downloads(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/s3/report-D1").count()
}

#[tokio::test]
async fn a_gzip_report_is_decoded() {
    // Two gzip members one after the other, as a concatenating writer would produce: both are read.
    let (head, tail) = REPORT.split_at(REPORT.find("Box").unwrap());
    let mut body = gzip(head.as_bytes());
    body.extend(gzip(tail.as_bytes()));
    let server = report_server(Some("GZIP"), body).await;
    let listings = channel(&server, config()).all_listings().await.unwrap();
    assert_eq!(listings.len(), 1, "{listings:?}");
    assert_eq!((listings[0].id.as_str(), listings[0].quantity()), ("MUG-1", Some(12)));
    let reqs = server.received_requests().await.unwrap();
    let get_doc = reqs.iter().find(|r| r.url.path() == "/reports/2021-06-30/documents/D1").unwrap();
    assert!(
        !get_doc.url.query().unwrap_or_default().contains("enableContentEncodingUrlHeader"),
        "the adapter decompresses itself"
    );
}

#[tokio::test]
async fn a_zip_bomb_is_a_decode_error_within_the_bound() {
    // 64 MiB of zeros in 64 gzip members of about a kilobyte each; the bound is 1 MiB.
    let member = gzip(&[0u8; 1 << 20]);
    let server = report_server(Some("GZIP"), member.repeat(64)).await;
    let e = channel(&server, config().max_document_bytes(1 << 20)).all_listings().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("max_document_bytes"), "{e}");
    let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<AmazonError>());
    assert!(matches!(source, Some(AmazonError::DocumentTooLarge { what: "report", limit: 1_048_576 })), "{source:?}");
    assert_eq!(downloads(&server).await, 1);
}

#[tokio::test]
async fn the_bound_applies_to_plain_documents_too_and_the_default_reads_them() {
    let server = report_server(None, REPORT.as_bytes().to_vec()).await;
    let e = channel(&server, config().max_document_bytes(10)).all_listings().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<AmazonError>());
    assert!(matches!(source, Some(AmazonError::DocumentTooLarge { what: "report", limit: 10 })), "{source:?}");
    assert_eq!(downloads(&server).await, 1, "not downloaded again");
    assert_eq!(channel(&server, config()).all_listings().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_bound_stops_the_download_before_anything_is_decoded() {
    // Two mebibytes said to be gzip that are not: with a 1 MiB bound the transport refuses them on their
    // size, before the decoder could call them corrupt.
    let server = report_server(Some("GZIP"), vec![0x5a; 2 << 20]).await;
    let e = channel(&server, config().max_document_bytes(1 << 20)).all_listings().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("max_document_bytes"), "{e}");
    let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<AmazonError>());
    assert!(matches!(source, Some(AmazonError::DocumentTooLarge { what: "report", limit: 1_048_576 })), "{source:?}");
    assert_eq!(downloads(&server).await, 1, "not downloaded again");
    // The same bytes under the bound reach the decoder.
    let e = channel(&server, config().max_document_bytes(4 << 20)).all_listings().await.unwrap_err();
    let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<AmazonError>());
    assert!(matches!(source, Some(AmazonError::CorruptDocument { .. })), "{source:?}");
}

#[tokio::test]
async fn a_gzip_document_within_the_bound_is_read_though_its_gzip_is_larger() {
    // Stored, not compressed: the gzip framing makes the download larger than the decoded report.
    let mut gz = GzEncoder::new(Vec::new(), Compression::none());
    gz.write_all(REPORT.as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    assert!(body.len() > REPORT.len());
    let server = report_server(Some("GZIP"), body).await;
    let bound = u64::try_from(REPORT.len()).unwrap();
    let listings = channel(&server, config().max_document_bytes(bound)).all_listings().await.unwrap();
    assert_eq!(listings.len(), 1, "{listings:?}");
}

#[tokio::test]
async fn bytes_that_are_not_gzip_are_a_decode_error() {
    let server = report_server(Some("GZIP"), REPORT.as_bytes().to_vec()).await;
    let e = channel(&server, config()).all_listings().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<AmazonError>());
    assert!(matches!(source, Some(AmazonError::CorruptDocument { what: "report", .. })), "{source:?}");
}

#[tokio::test]
async fn an_unknown_algorithm_is_unsupported_and_not_downloaded() {
    let server = report_server(Some("ZSTD"), REPORT.as_bytes().to_vec()).await;
    let e = channel(&server, config()).all_listings().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("ZSTD"), "{e}");
    assert_eq!(downloads(&server).await, 0);
}

#[tokio::test]
async fn a_gzip_processing_report_maps_back_to_each_sku() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "Atza|token", "token_type": "bearer", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/feeds/2021-06-30/documents"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"feedDocumentId": "FD1", "url": format!("{}/s3/feed-doc-1?X-Amz-Signature=abc", server.uri())}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/s3/feed-doc-1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/feeds/2021-06-30/feeds"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"feedId": "F1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feeds/2021-06-30/feeds/F1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"feedId": "F1", "feedType": "JSON_LISTINGS_FEED", "processingStatus": "DONE", "resultFeedDocumentId": "RD1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feeds/2021-06-30/documents/RD1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "feedDocumentId": "RD1", "url": format!("{}/s3/result-1", server.uri()), "compressionAlgorithm": "GZIP"
        })))
        .mount(&server)
        .await;
    let report = json!({
        "header": {"sellerId": SELLER, "version": "2.0", "feedId": "F1"},
        "issues": [{"messageId": 2, "sku": "S-1", "code": "4000001", "severity": "ERROR", "message": "SKU not found"}],
        "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 3, "messagesAccepted": 2, "messagesInvalid": 1}
    });
    Mock::given(method("GET"))
        .and(path("/s3/result-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(gzip(&serde_json::to_vec(&report).unwrap()), "application/json"),
        )
        .mount(&server)
        .await;
    let amazon = channel(&server, config().feed_threshold(2));
    let updates: Vec<StockUpdate> =
        (0..3).map(|i| StockUpdate::new(format!("S-{i}"), format!("S-{i}"), 10 + i)).collect();
    let out = amazon.set_stock(&updates).await.unwrap();
    assert_eq!(out[0].outcome, Outcome::Applied { quantity: Some(10) });
    assert!(
        matches!(&out[1].outcome, Outcome::Rejected { retryable: false, reason } if reason.contains("SKU not found")),
        "{:?}",
        out[1]
    );
    assert_eq!(out[2].outcome, Outcome::Applied { quantity: Some(12) });
}

// ---- against the emulator --------------------------------------------------------------------------------

async fn gzip_emulator() -> AmazonEmulator {
    let mut config = EmuConfig::fast();
    config.gzip_documents = true;
    config.max_search_results = 40;
    AmazonEmulator::start(config).await.unwrap()
}

fn emulator_channel(emu: &AmazonEmulator, f: impl FnOnce(AmazonConfig) -> AmazonConfig) -> Amazon {
    let config = AmazonConfig::new(
        emu.seller_id(),
        [emu.marketplace_id()],
        Region::Na,
        emu.client_id(),
        emu.client_secret(),
        emu.refresh_token(),
    );
    Amazon::builder(f(config))
        .base_url(emu.base_url())
        .token_url(emu.token_url())
        .retry(
            RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(50)).with_jitter(false),
        )
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_emulator_serves_gzip_documents_and_the_adapter_reads_them() {
    let emu = gzip_emulator().await;
    for i in 0..45 {
        emu.seed_product(SeedProduct::new(format!("GZ-{i:03}"), i, Decimal::from(3))).unwrap();
    }
    // Past the search cap: the listings come from the (gzip) report.
    let channel = emulator_channel(&emu, |c| c.feed_threshold(2));
    let listings = channel.all_listings().await.unwrap();
    let merchant: Vec<_> = listings.iter().filter(|l| l.fulfilment == Fulfilment::Merchant).collect();
    assert_eq!(merchant.len(), 45);
    assert_eq!(merchant.iter().find(|l| l.id.as_str() == "GZ-044").and_then(|l| l.quantity()), Some(44));
    // A feed: its processing report comes back gzip too.
    let updates: Vec<StockUpdate> =
        (0..3).map(|i| StockUpdate::new(format!("GZ-{i:03}"), format!("GZ-{i:03}"), 100 + i)).collect();
    let out = channel.set_stock(&updates).await.unwrap();
    for (i, o) in (0i64..).zip(&out) {
        assert_eq!(o.outcome, Outcome::Applied { quantity: Some(100 + i) }, "{o:?}");
        assert_eq!(emu.stock(&format!("GZ-{i:03}")).unwrap(), Some(100 + i));
    }
    assert!(emu.requests().iter().any(|r| r.path == "/feeds/2021-06-30/feeds" && r.method == "POST"), "a feed");
    // A bound below the report's size is refused with a typed error.
    let small = emulator_channel(&emu, |c| c.max_document_bytes(64));
    assert_eq!(small.all_listings().await.unwrap_err().kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn the_emulator_names_gzip_and_serves_gzip_bytes() {
    let emu = gzip_emulator().await;
    emu.seed_product(SeedProduct::new("RAW-1", 7, Decimal::from(3))).unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(emu.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", emu.refresh_token()),
            ("client_id", emu.client_id()),
            ("client_secret", emu.client_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();
    let get = |url: String| http.get(url).header("x-amz-access-token", access.clone()).send();
    let created: Value = http
        .post(format!("{}/reports/2021-06-30/reports", emu.base_url()))
        .header("x-amz-access-token", access.clone())
        .json(&json!({"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [emu.marketplace_id()]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let report_id = created["reportId"].as_str().unwrap();
    let doc_id = loop {
        let r: Value = get(format!("{}/reports/2021-06-30/reports/{report_id}", emu.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["processingStatus"] == "DONE" {
            break r["reportDocumentId"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let doc: Value =
        get(format!("{}/reports/2021-06-30/documents/{doc_id}", emu.base_url())).await.unwrap().json().await.unwrap();
    assert_eq!(doc["compressionAlgorithm"], "GZIP", "{doc}");
    let bytes = http.get(doc["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let text = channel_amazon::fuzz::decode_document("report", &bytes, Some("GZIP"), 1 << 20).unwrap();
    assert!(String::from_utf8(text).unwrap().contains("RAW-1\t"));
}
