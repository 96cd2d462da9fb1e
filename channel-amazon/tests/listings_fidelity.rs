//! Request-level tests of issue 14's listings items, written from Amazon's documentation rather than
//! from the adapter: the listings report as EU and JP accounts receive it, stock and price writes as
//! `merge` patches ("Merge a listing", "Manage purchasable offer"; `PatchOperation.op` in
//! listingsItems_2021-08-01.json and listings-feed-schema-v2.json), and feeds that name the same
//! marketplaces as the patches, at most 25 each (`CreateFeedSpecification.marketplaceIds.maxItems` in
//! feeds_2021-06-30.json).

mod support;

use channel_amazon::{Amazon, AmazonConfig, AmazonError, CatalogSource, PriceMarketplaces, Region, StockMarketplaces};
use channel_core::{Channel, ChannelExt, Currency, ErrorKind, Money, PriceUpdate, StockUpdate};
use serde_json::{Value, json};
use support::{SELLER, channel, token};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DE: &str = "A1PA6795UKMFR9";
const FR: &str = "A13V1IB3VIYZZH";
const IT: &str = "APJ6JRA9NG5V4";
const UK: &str = "A1F83G8C2ARO7P";

fn config(marketplaces: &[&str]) -> AmazonConfig {
    AmazonConfig::new(
        SELLER,
        marketplaces.iter().copied(),
        Region::Eu,
        "amzn1.application-oa2-client.abc",
        "client-secret",
        "Atzr|refresh",
    )
    .read_fba(false)
}

/// createReport → getReport → getReportDocument → the document, served with `content_type`.
async fn report(server: &MockServer, marketplace: &str, body: Vec<u8>, content_type: &str) {
    Mock::given(method("POST"))
        .and(path("/reports/2021-06-30/reports"))
        .and(body_json(json!({"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [marketplace]})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"reportId": "R1"})))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/reports/2021-06-30/reports/R1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "reportId": "R1", "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "createdTime": "2026-01-01T00:00:00Z",
            "processingStatus": "DONE", "reportDocumentId": "D1"})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/reports/2021-06-30/documents/D1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"reportDocumentId": "D1", "url": format!("{}/s3/D1", server.uri())})),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/s3/D1"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
        .mount(server)
        .await;
}

/// The header of an EU account's `GET_MERCHANT_LISTINGS_ALL_DATA` (British `fulfilment-channel`), as
/// public clients that read EU reports spell it.
const EU_HEADER: &str = "item-name\titem-description\tlisting-id\tseller-sku\tprice\tquantity\topen-date\t\
image-url\titem-is-marketplace\tproduct-id-type\tzshop-shipping-fee\titem-note\titem-condition\tzshop-category1\t\
zshop-browse-path\tzshop-storefront-feature\tasin1\tasin2\tasin3\twill-ship-internationally\texpedited-shipping\t\
zshop-boldface\tproduct-id\tbid-for-featured-placement\tadd-delete\tpending-quantity\tfulfilment-channel\t\
merchant-shipping-group\tstatus";

fn eu_row(title: &str, sku: &str, price: &str, quantity: &str, channel: &str) -> String {
    let mut cells = vec![""; 29];
    (cells[0], cells[3], cells[4], cells[5], cells[16], cells[26], cells[28]) =
        (title, sku, price, quantity, "B0000001", channel, "Active");
    cells.join("\t")
}

#[tokio::test]
async fn an_eu_report_keeps_its_amazon_eu_rows_out_of_the_merchant_listings() {
    let server = MockServer::start().await;
    token(&server).await;
    // An EU account's report, in Windows-1252 as Amazon serves it in Europe ("Straße" has a 0xDF).
    let text = format!(
        "{EU_HEADER}\n{}\n{}\n",
        eu_row("Tasse Straße", "MUG-1", "9.50", "12", "DEFAULT"),
        eu_row("Box", "BOX-FBA", "5.00", "", "AMAZON_EU")
    );
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    report(&server, DE, bytes.into_owned(), "text/plain; charset=Cp1252").await;
    let amazon = channel(&server, config(&[DE]).catalog_source(CatalogSource::Report));
    let listings = amazon.all_listings().await.unwrap();
    // Before issue 14 the AMAZON_EU row became a writable merchant listing "BOX-FBA" with no quantity.
    let ids: Vec<&str> = listings.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["MUG-1"], "the FBA row is not a merchant listing");
    assert_eq!(listings[0].quantity(), Some(12));
    assert_eq!(
        listings[0].price.map(|p| (p.amount.to_string(), p.currency.code().to_owned())),
        Some(("9.50".to_owned(), "EUR".to_owned()))
    );
}

#[tokio::test]
async fn a_report_without_a_readable_fulfilment_column_is_an_error_not_merchant_listings() {
    let server = MockServer::start().await;
    token(&server).await;
    let text = "item-name\tseller-sku\tprice\tquantity\tstatus\nBox\tBOX-FBA\t5.00\t\tActive\n";
    report(&server, UK, text.as_bytes().to_vec(), "text/plain; charset=Cp1252").await;
    let amazon = channel(&server, config(&[UK]).catalog_source(CatalogSource::Report));
    let e = amazon.all_listings().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<AmazonError>());
    assert!(matches!(source, Some(AmazonError::UnreadableReport { .. })), "{e:?}");
}

#[tokio::test]
async fn a_report_in_an_undeclared_non_utf8_charset_is_an_error_unless_configured() {
    let server = MockServer::start().await;
    token(&server).await;
    let text = format!("{EU_HEADER}\n{}\n", eu_row("Café", "CAFÉ-1", "3.00", "2", "DEFAULT"));
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    report(&server, FR, bytes.into_owned(), "text/plain").await;
    let amazon = channel(&server, config(&[FR]).catalog_source(CatalogSource::Report));
    assert_eq!(amazon.all_listings().await.unwrap_err().kind(), ErrorKind::Decode, "never a mangled SKU");
    server.reset().await;
    token(&server).await;
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    report(&server, FR, bytes.into_owned(), "text/plain").await;
    let amazon = channel(&server, config(&[FR]).catalog_source(CatalogSource::Report).report_charset("windows-1252"));
    let listings = amazon.all_listings().await.unwrap();
    assert_eq!(listings[0].id.as_str(), "CAFÉ-1");
}

fn accepted(sku: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"sku": sku, "status": "ACCEPTED", "submissionId": "s", "issues": []}))
}

#[tokio::test]
async fn stock_and_price_patches_merge_only_what_stocksync_owns() {
    let server = MockServer::start().await;
    token(&server).await;
    // "Merge a listing": merge the DEFAULT channel's quantity; restock_date and lead_time_to_ship_max_days
    // are not named and so keep their values.
    Mock::given(method("PATCH"))
        .and(path(format!("/listings/2021-08-01/items/{SELLER}/MUG-1")))
        .and(query_param("marketplaceIds", DE))
        .and(query_param("issueLocale", "en_US"))
        .and(body_json(json!({
            "productType": "PRODUCT",
            "patches": [{
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 20}]
            }]
        })))
        .respond_with(accepted("MUG-1"))
        .expect(1)
        .mount(&server)
        .await;
    // "Manage purchasable offer": each offer is keyed by marketplace_id, currency and audience; merging
    // our_price leaves discounted_price, minimum/maximum_seller_allowed_price and the rest alone. The price
    // goes to the primary marketplace only: Amazon creates an offer where the SKU has none
    // (selling-partner-api-models#2797), and listings are read in the primary one.
    Mock::given(method("PATCH"))
        .and(path(format!("/listings/2021-08-01/items/{SELLER}/MUG-1")))
        .and(query_param("marketplaceIds", DE))
        .and(body_json(json!({
            "productType": "PRODUCT",
            "patches": [{
                "op": "merge",
                "path": "/attributes/purchasable_offer",
                "value": [
                    {"marketplace_id": DE, "currency": "EUR", "audience": "ALL",
                     "our_price": [{"schedule": [{"value_with_tax": 12.5}]}]}
                ]
            }]
        })))
        .respond_with(accepted("MUG-1"))
        .expect(1)
        .mount(&server)
        .await;
    let amazon = channel(&server, config(&[DE, FR, IT, UK]));
    let out = amazon.set_stock(&[StockUpdate::new("MUG-1", "MUG-1", 20)]).await.unwrap();
    assert!(out[0].is_applied(), "{out:?}");
    let eur = Currency::new("EUR").unwrap();
    let prices = [PriceUpdate::new("MUG-1", "MUG-1", Money::new("12.50".parse().unwrap(), eur))];
    let out = amazon.set_prices(&prices).await.unwrap();
    assert!(out[0].is_applied(), "{out:?}");
}

#[tokio::test]
async fn with_price_marketplaces_all_a_price_goes_to_every_marketplace_of_its_currency() {
    let server = MockServer::start().await;
    token(&server).await;
    Mock::given(method("PATCH"))
        .and(path(format!("/listings/2021-08-01/items/{SELLER}/MUG-1")))
        .and(query_param("marketplaceIds", format!("{DE},{FR},{IT}")))
        .and(body_json(json!({
            "productType": "PRODUCT",
            "patches": [{
                "op": "merge",
                "path": "/attributes/purchasable_offer",
                "value": [
                    {"marketplace_id": DE, "currency": "EUR", "audience": "ALL",
                     "our_price": [{"schedule": [{"value_with_tax": 12.5}]}]},
                    {"marketplace_id": FR, "currency": "EUR", "audience": "ALL",
                     "our_price": [{"schedule": [{"value_with_tax": 12.5}]}]},
                    {"marketplace_id": IT, "currency": "EUR", "audience": "ALL",
                     "our_price": [{"schedule": [{"value_with_tax": 12.5}]}]}
                ]
            }]
        })))
        .respond_with(accepted("MUG-1"))
        .expect(1)
        .mount(&server)
        .await;
    let amazon = channel(&server, config(&[DE, FR, IT, UK]).price_marketplaces(PriceMarketplaces::All));
    let eur = Currency::new("EUR").unwrap();
    let prices = [PriceUpdate::new("MUG-1", "MUG-1", Money::new("12.50".parse().unwrap(), eur))];
    let out = amazon.set_prices(&prices).await.unwrap();
    assert!(out[0].is_applied(), "{out:?}");
}

#[tokio::test]
async fn a_price_in_a_currency_the_primary_marketplace_does_not_sell_in_is_rejected() {
    let server = MockServer::start().await;
    token(&server).await;
    // UK sells in pounds, but prices go to the primary (DE) only: nothing is sent.
    let amazon = channel(&server, config(&[DE, UK]));
    let gbp = Currency::new("GBP").unwrap();
    let prices = [PriceUpdate::new("MUG-1", "MUG-1", Money::new("9.00".parse().unwrap(), gbp))];
    let out = amazon.set_prices(&prices).await.unwrap();
    assert!(!out[0].is_applied(), "{out:?}");
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs.iter().all(|r| r.method.as_str() != "PATCH"), "a patch was sent");
}

#[tokio::test]
async fn a_price_feed_names_the_primary_marketplace_as_its_patches_would() {
    let server = MockServer::start().await;
    token(&server).await;
    feed_documents(&server, 1).await;
    feed_round(&server, 1, vec![DE.to_owned()]).await;
    let amazon = channel(&server, config(&[DE, FR, IT]).feed_threshold(1));
    let eur = Currency::new("EUR").unwrap();
    let prices = [
        PriceUpdate::new("A", "A", Money::new("1.00".parse().unwrap(), eur)),
        PriceUpdate::new("B", "B", Money::new("2.00".parse().unwrap(), eur)),
    ];
    let out = amazon.set_prices(&prices).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    let reqs = server.received_requests().await.unwrap();
    let put = reqs.iter().find(|r| r.method.as_str() == "PUT").unwrap();
    let feed: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(
        feed["messages"][0]["patches"],
        json!([{"op": "merge", "path": "/attributes/purchasable_offer",
                "value": [{"marketplace_id": DE, "currency": "EUR", "audience": "ALL",
                           "our_price": [{"schedule": [{"value_with_tax": 1.0}]}]}]}])
    );
}

/// Mocks one whole feed round (document, upload, createFeed for `marketplaces`, a DONE feed with an empty
/// processing report) under ids ending in `n`.
async fn feed_round(server: &MockServer, n: u32, marketplaces: Vec<String>) {
    Mock::given(method("POST"))
        .and(path("/feeds/2021-06-30/feeds"))
        .and(body_json(json!({
            "feedType": "JSON_LISTINGS_FEED", "marketplaceIds": marketplaces, "inputFeedDocumentId": format!("FD{n}")
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"feedId": format!("F{n}")})))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/feeds/2021-06-30/feeds/F{n}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "feedId": format!("F{n}"), "feedType": "JSON_LISTINGS_FEED", "createdTime": "2026-01-01T00:00:00Z",
            "processingStatus": "DONE", "resultFeedDocumentId": format!("RD{n}")})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/feeds/2021-06-30/documents/RD{n}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"feedDocumentId": format!("RD{n}"), "url": format!("{}/s3/RD{n}", server.uri())}),
            ),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/s3/RD{n}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "header": {"sellerId": SELLER, "version": "2.0", "feedId": format!("F{n}")}, "issues": [],
            "summary": {"errors": 0, "warnings": 0, "messagesProcessed": 2, "messagesAccepted": 2, "messagesInvalid": 0}
        })))
        .mount(server)
        .await;
}

/// createFeedDocument answers FD1, FD2, … in turn; every upload is accepted.
async fn feed_documents(server: &MockServer, count: u32) {
    for n in 1..=count {
        Mock::given(method("POST"))
            .and(path("/feeds/2021-06-30/documents"))
            .respond_with(ResponseTemplate::new(201).set_body_json(
                json!({"feedDocumentId": format!("FD{n}"), "url": format!("{}/s3/up-{n}", server.uri())}),
            ))
            .up_to_n_times(1)
            .expect(1)
            .mount(server)
            .await;
    }
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(200)).expect(u64::from(count)).mount(server).await;
}

#[tokio::test]
async fn a_stock_feed_names_the_marketplaces_its_patches_would() {
    let server = MockServer::start().await;
    token(&server).await;
    feed_documents(&server, 1).await;
    // The patch path writes stock to the primary marketplace; the feed now does the same (before issue 14
    // it named every configured marketplace).
    feed_round(&server, 1, vec![DE.to_owned()]).await;
    let amazon = channel(&server, config(&[DE, FR, IT]).feed_threshold(1));
    let updates = [StockUpdate::new("A", "A", 1), StockUpdate::new("B", "B", 2)];
    let out = amazon.set_stock(&updates).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
    let reqs = server.received_requests().await.unwrap();
    let put = reqs.iter().find(|r| r.method.as_str() == "PUT").unwrap();
    let feed: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(
        feed["messages"][0],
        json!({"messageId": 1, "sku": "A", "operationType": "PATCH", "productType": "PRODUCT",
               "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}]})
    );
}

#[test]
fn a_marketplace_of_another_region_is_a_config_error() {
    // "SP-API Endpoints": North America serves CA, US, MX, BR; Europe serves IE, ES, UK, FR, BE, NL, DE,
    // IT, SE, ZA, PL, SA, EG, TR, AE, IN; the Far East SG, AU, JP ("Marketplace IDs" gives their ids).
    const US: &str = "ATVPDKIKX0DER";
    const JP: &str = "A1VC38T7YXB528";
    let build = |markets: &[&str], region: Region| {
        let c = AmazonConfig::new(SELLER, markets.iter().copied(), region, "id", "secret", "Atzr|r");
        Amazon::builder(c).build().map(|_| ())
    };
    for (markets, region) in [(&[DE][..], Region::Na), (&[DE, US][..], Region::Eu), (&[JP][..], Region::Eu)] {
        let err = build(markets, region).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{markets:?} in {region:?}");
        assert!(err.to_string().contains(markets.last().unwrap()), "{err}");
    }
    build(&[DE, UK, FR], Region::Eu).unwrap();
    build(&[JP], Region::Fe).unwrap();
    build(&[US], Region::Na).unwrap();
    // An id not in Amazon's table (a newer marketplace) is not refused.
    build(&[DE, "AMARKET99"], Region::Eu).unwrap();
}

#[tokio::test]
async fn a_feed_for_more_than_25_marketplaces_is_split() {
    let server = MockServer::start().await;
    token(&server).await;
    let markets: Vec<String> = (0..30).map(|i| format!("AMARKET{i:02}")).collect();
    feed_documents(&server, 2).await;
    feed_round(&server, 1, markets[..25].to_vec()).await;
    feed_round(&server, 2, markets[25..].to_vec()).await;
    let refs: Vec<&str> = markets.iter().map(String::as_str).collect();
    let amazon = channel(&server, config(&refs).feed_threshold(1).stock_marketplaces(StockMarketplaces::All));
    let updates = [StockUpdate::new("A", "A", 1), StockUpdate::new("B", "B", 2)];
    let out = amazon.set_stock(&updates).await.unwrap();
    assert!(out.iter().all(|o| o.is_applied()), "{out:?}");
}

#[tokio::test]
async fn every_request_carries_a_user_agent_of_the_documented_form() {
    // "Include a User-Agent header in all requests": AppId/AppVersionId (Language=…).
    let server = MockServer::start().await;
    let agent = format!("stocksync/{} (Language=Rust)", env!("CARGO_PKG_VERSION"));
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .and(wiremock::matchers::header("user-agent", agent.as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "Atza|t", "token_type": "bearer", "expires_in": 3600})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sellers/v1/marketplaceParticipations"))
        .and(wiremock::matchers::header("user-agent", agent.as_str()))
        .and(wiremock::matchers::header("x-amz-access-token", "Atza|t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"payload": [
            {"marketplace": {"id": DE, "countryCode": "DE", "name": "Amazon.de", "defaultCurrencyCode": "EUR",
                             "defaultLanguageCode": "de_DE", "domainName": "www.amazon.de"},
             "participation": {"isParticipating": true, "hasSuspendedListings": false}}]})))
        .expect(1)
        .mount(&server)
        .await;
    let amazon = channel(&server, config(&[DE]));
    let identity = amazon.test_connection().await.unwrap();
    assert_eq!(identity.display_name.as_deref(), Some("Amazon.de"));
}

#[tokio::test]
async fn a_cancelled_report_without_a_document_is_a_seller_without_listings() {
    let server = MockServer::start().await;
    token(&server).await;
    Mock::given(method("POST"))
        .and(path("/reports/2021-06-30/reports"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"reportId": "R1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/reports/2021-06-30/reports/R1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "reportId": "R1", "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "createdTime": "2026-01-01T00:00:00Z",
            "processingStatus": "CANCELLED"})))
        .mount(&server)
        .await;
    let amazon = channel(&server, config(&[DE]).catalog_source(CatalogSource::Report));
    assert!(amazon.all_listings().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_emulator_of_a_european_seller_and_the_adapter_agree_on_its_report() {
    use channel_testkit::SeedProduct;
    use channel_testkit::amazon::{AmazonConfig as EmulatorConfig, AmazonEmulator};
    let mut settings = EmulatorConfig::fast();
    settings.marketplace_id = DE.into();
    settings.country_code = "DE".into();
    settings.currency = "EUR".into();
    settings.fba_channel_code = "AMAZON_EU".into();
    let emu = AmazonEmulator::start(settings).await.unwrap();
    let price = rust_decimal::Decimal::new(950, 2);
    emu.seed_product(SeedProduct::new("TASSE-1", 4, price).with("title", "Tasse für Straße")).unwrap();
    emu.seed_product(SeedProduct::new("BOX-FBA", 9, price).with("fulfilment", "channel")).unwrap();
    let config =
        AmazonConfig::new(emu.seller_id(), [DE], Region::Eu, emu.client_id(), emu.client_secret(), emu.refresh_token())
            .catalog_source(CatalogSource::Report)
            .read_fba(false);
    let amazon = Amazon::builder(config)
        .base_url(emu.base_url())
        .token_url(emu.token_url())
        .poll_interval(std::time::Duration::from_millis(5))
        .documented_rate_limits(false)
        .build()
        .unwrap();
    let listings = amazon.all_listings().await.unwrap();
    let ids: Vec<&str> = listings.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["TASSE-1"]);
    assert_eq!(listings[0].quantity(), Some(4));
    // A stock write is a merge the emulator applies without touching what it does not name.
    let out = amazon.set_stock(&[StockUpdate::new("TASSE-1", "TASSE-1", 6)]).await.unwrap();
    assert!(out[0].is_applied(), "{out:?}");
    assert_eq!(emu.stock("TASSE-1").unwrap(), Some(6));
}

#[tokio::test]
async fn the_catalog_is_paged_in_sku_order_which_writes_do_not_move() {
    // searchListingsItems sorts by lastUpdatedDate DESC unless told otherwise (its model's defaults).
    let server = MockServer::start().await;
    token(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("/listings/2021-08-01/items/{SELLER}")))
        .and(query_param("marketplaceIds", DE))
        .and(query_param("includedData", "summaries,offers,fulfillmentAvailability"))
        .and(query_param("pageSize", "20"))
        .and(query_param("sortBy", "sku"))
        .and(query_param("sortOrder", "ASC"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"numberOfResults": 1, "items": [
            {"sku": "A-1", "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT", "quantity": 2}]}]})))
        .expect(1)
        .mount(&server)
        .await;
    let amazon = channel(&server, config(&[DE]).catalog_source(CatalogSource::Search));
    let listings = amazon.all_listings().await.unwrap();
    assert_eq!(listings.len(), 1);
}

#[tokio::test]
async fn a_marketplace_the_seller_no_longer_participates_in_fails_the_connection_test() {
    // sellers.json: `participation.isParticipating` "If true, the seller participates in the marketplace".
    let server = MockServer::start().await;
    token(&server).await;
    Mock::given(method("GET"))
        .and(path("/sellers/v1/marketplaceParticipations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"payload": [
            {"marketplace": {"id": DE, "countryCode": "DE", "name": "Amazon.de", "defaultCurrencyCode": "EUR",
                             "defaultLanguageCode": "de_DE", "domainName": "www.amazon.de"},
             "participation": {"isParticipating": false, "hasSuspendedListings": false}}]})))
        .mount(&server)
        .await;
    let e = channel(&server, config(&[DE])).test_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e:?}");
}
