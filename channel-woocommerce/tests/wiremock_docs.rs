//! Request-level tests written from WooCommerce's own documentation and source, for what issue 14 fixed:
//! query-string keys after a stripped `Authorization` header (HTTPS only), the light currency read, and
//! Shipment Tracking providers. Each expected request is built by hand from the source it cites.

mod support;

use channel_core::{Channel, ErrorKind, Shipment, Tracking};
use channel_woocommerce::{AuthMode, TrackingMode, WooCommerce, WooCommerceConfig};
use serde_json::json;
use support::{basic, build, https_config};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `GET /wp-json/wc/v3/data/currencies/current` ("Retrieve current currency", `_data.md`).
const CURRENCY: &str = "/wp-json/wc/v3/data/currencies/current";

fn usd() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"code": "USD", "name": "United States (US) dollar", "symbol": "&#36;"}))
}

/// What a WooCommerce store answers a request whose credentials never reached PHP: the route's permission
/// refusal (`WC_REST_Data_Controller` / `WC_REST_Products_Controller`: `woocommerce_rest_cannot_view`,
/// `rest_authorization_required_code()` = 401). ("Consumer key is missing" is the legacy API's wording;
/// current core never sends it.)
fn anonymous_refusals() -> Vec<serde_json::Value> {
    vec![
        json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}),
    ]
}

#[tokio::test]
async fn auto_auth_falls_back_to_query_string_keys_over_https_and_remembers() {
    for refusal in anonymous_refusals() {
        let server = MockServer::start().await;
        // The server strips `Authorization`: without query keys, every request is anonymous.
        Mock::given(method("GET"))
            .and(path(CURRENCY))
            .and(query_param("consumer_key", "ck_key"))
            .and(query_param("consumer_secret", "cs_secret"))
            .respond_with(usd())
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/wp-json/wc/v3/products"))
            .and(query_param("consumer_key", "ck_key"))
            .and(query_param("consumer_secret", "cs_secret"))
            .respond_with(ResponseTemplate::new(200).insert_header("X-WP-TotalPages", "1").set_body_json(json!([])))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(CURRENCY))
            .and(header("authorization", basic().as_str()))
            .respond_with(ResponseTemplate::new(401).set_body_json(refusal.clone()))
            .expect(1)
            .mount(&server)
            .await;
        let channel = build(https_config(&server));
        let id = channel.test_connection().await.unwrap();
        assert_eq!(id.details.get("auth").map(String::as_str), Some("query_string"), "{refusal}");
        assert_eq!(id.details.get("currency").map(String::as_str), Some("USD"));
        // Remembered: the next request goes straight with query keys and no Authorization header.
        use channel_core::ChannelExt as _;
        channel.all_listings().await.unwrap();
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(reqs.len(), 3, "Basic once, then query keys: {refusal}");
        assert!(reqs[2].headers.get("authorization").is_none());
        // Keys never show in Debug output.
        let shown = format!("{channel:?}");
        assert!(!shown.contains("cs_secret") && !shown.contains("ck_key"), "{shown}");
    }
}

#[tokio::test]
async fn query_string_keys_never_show_in_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CURRENCY))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let channel = build(https_config(&server).auth(AuthMode::QueryString).max_attempts(1));
    let err = channel.test_connection().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("cs_secret") && !text.contains("ck_key"), "{text}");
    let req = &server.received_requests().await.unwrap()[0];
    assert!(req.headers.get("authorization").is_none());
    assert!(req.url.query().unwrap_or_default().contains("consumer_secret=cs_secret"));
}

#[tokio::test]
async fn a_wrong_secret_is_not_retried_with_query_keys() {
    // `perform_basic_authentication` read the header: the key is known, the secret is wrong.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CURRENCY))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid.", "data": {"status": 401}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = build(https_config(&server)).test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(err.status(), Some(401));
    assert!(err.to_string().contains("Consumer secret is invalid."), "{err}");
    assert!(!err.to_string().contains("cs_secret"), "{err}");
}

#[tokio::test]
async fn plain_http_never_sends_keys_in_the_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CURRENCY))
        .respond_with(ResponseTemplate::new(401).set_body_json(anonymous_refusals()[0].clone()))
        .expect(1)
        .mount(&server)
        .await;
    // Plain HTTP: OAuth 1.0a one-legged ("Authentication over HTTP"), no fallback.
    let channel = build(WooCommerceConfig::new(server.uri(), "ck_key", "cs_secret").max_attempts(1));
    assert_eq!(channel.test_connection().await.unwrap_err().kind(), ErrorKind::Auth);
    let req = &server.received_requests().await.unwrap()[0];
    assert!(!req.url.query().unwrap_or_default().contains("consumer_secret"));
    assert!(req.headers.get("authorization").unwrap().to_str().unwrap().starts_with("OAuth "));
    for mode in [AuthMode::Basic, AuthMode::QueryString] {
        let err = WooCommerce::new(WooCommerceConfig::new(server.uri(), "ck", "cs").auth(mode)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{mode:?}");
    }
}

#[tokio::test]
async fn basic_mode_keeps_to_the_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CURRENCY))
        .respond_with(ResponseTemplate::new(401).set_body_json(anonymous_refusals()[0].clone()))
        .expect(1)
        .mount(&server)
        .await;
    let err = build(https_config(&server).auth(AuthMode::Basic)).test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn the_currency_comes_from_the_light_endpoint_not_system_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CURRENCY))
        .and(header("authorization", basic().as_str()))
        .respond_with(usd())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/system_status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"settings": {"currency": "USD"}})))
        .expect(0)
        .mount(&server)
        .await;
    let channel = build(https_config(&server));
    let id = channel.test_connection().await.unwrap();
    assert_eq!(id.account_id, "https://shop.example");
    assert_eq!(id.details.get("auth").map(String::as_str), Some("basic"));
    assert_eq!(channel.currency().await.map(|c| c.code().to_owned()).as_deref(), Some("USD"));
}

/// "Send a GET request to /wp-json/wc-shipment-tracking/v3/shipment-trackings/providers" (woocommerce.com,
/// "List Shipment Tracking providers with the REST API").
const PROVIDERS: &str = "/wp-json/wc-shipment-tracking/v3/shipment-trackings/providers";

/// Order 70, shipped whole on 2026-11-02 (the `date_shipped` the tracking requests carry).
fn order_70_shipped(carrier: &str, number: &str) -> Shipment {
    let at: jiff::Timestamp = "2026-11-02T10:00:00Z".parse().unwrap();
    Shipment::whole_order("70", Tracking::new(carrier, number), at)
}

/// `GET …/shipment-trackings/providers` (`{group: {name: link format}}`), then
/// `POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings` as the extension's
/// `create_item` reads it, then `PUT /wc/v3/orders/{id}` `{"status":"completed"}`.
async fn export(server: &MockServer, config: WooCommerceConfig, carrier: &str, expected: serde_json::Value) {
    export_with(server, config, carrier, expected, None).await;
}

async fn export_with(
    server: &MockServer,
    config: WooCommerceConfig,
    carrier: &str,
    expected: serde_json::Value,
    providers: Option<serde_json::Value>,
) {
    let providers = providers.unwrap_or_else(|| {
        json!({
            "South African": {"SAPO": "http://sms.postoffice.co.za/TrackingParcels/Parcel.aspx?id=%1$s",
                              "Fastway": "https://fastway.co.za/our-services/track-your-parcel?l=%1$s"},
            "United States": {"Fedex": "https://www.fedex.com/apps/fedextrack/?action=track&action=track&tracknumbers=%1$s",
                              "UPS": "https://www.ups.com/track?loc=en_US&tracknum=%1$s"}
        })
    });
    Mock::given(method("GET"))
        .and(path(PROVIDERS))
        .respond_with(ResponseTemplate::new(200).set_body_json(providers))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc-shipment-tracking/v3/orders/70/shipment-trackings"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"tracking_id": "a1"})))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wp-json/wc/v3/orders/70"))
        .and(body_json(json!({"status": "completed"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 70, "status": "completed"})))
        .expect(1)
        .mount(server)
        .await;
    let shipment = order_70_shipped(carrier, "1Z 99/A");
    build(config.tracking(TrackingMode::ShipmentTracking)).export_tracking(&shipment).await.unwrap();
}

#[tokio::test]
async fn a_known_carrier_takes_the_extensions_provider_name() {
    // `get_providers()` lists "Fedex" (United States); the extension matches `sanitize_title` of the name.
    let server = MockServer::start().await;
    let expected = json!({"tracking_provider": "Fedex", "tracking_number": "1Z 99/A", "date_shipped": "2026-11-02"});
    export(&server, https_config(&server), "FedEx", expected).await;
}

#[tokio::test]
async fn an_unknown_carrier_is_a_custom_provider_with_the_store_link_template() {
    // Not a provider: `custom_tracking_provider` + `custom_tracking_link`, "A full tracking URL, normally
    // containing %1$s" — "Shipment Tracking replaces that placeholder when it formats the link"
    // (woocommerce.com, "Create a custom-provider tracking item with the REST API"): sent unexpanded.
    let server = MockServer::start().await;
    let expected = json!({
        "custom_tracking_provider": "The Courier Guy",
        "custom_tracking_link": "https://portal.thecourierguy.co.za/track?ref=%1$s",
        "tracking_number": "1Z 99/A",
        "date_shipped": "2026-11-02"
    });
    let config = https_config(&server).tracking_link_template("https://portal.thecourierguy.co.za/track?ref=%1$s");
    export(&server, config, "The Courier Guy", expected).await;
}

#[tokio::test]
async fn a_carrier_the_store_added_to_its_providers_is_sent_by_name() {
    // Stores extend the list through the `wc_shipment_tracking_get_providers` filter; the providers
    // endpoint shows the result.
    let server = MockServer::start().await;
    let providers = json!({"South Africa": {"The Courier Guy": "https://portal.thecourierguy.co.za/track?ref=%1$s"}});
    let expected =
        json!({"tracking_provider": "The Courier Guy", "tracking_number": "1Z 99/A", "date_shipped": "2026-11-02"});
    export_with(&server, https_config(&server), "the courier guy", expected, Some(providers)).await;
}

fn order(id: u64, modified: &str) -> serde_json::Value {
    json!({"id": id, "status": "processing", "currency": "USD", "date_created_gmt": "2026-12-01T10:00:00",
           "date_modified_gmt": modified, "line_items": [], "refunds": []})
}

#[tokio::test]
async fn an_order_changed_while_the_scan_pages_is_read_again() {
    // "List all orders" (`_orders.md`) goes by id: order 1 (page 1) is changed at 12:00:10, after page 1
    // was read at 12:00:00 (the `Date` header) and before page 2, which holds order 2 changed at 12:00:30.
    // The next scan must start at or before 12:00:10, or order 1's change is never read.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders"))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-WP-TotalPages", "2")
                .insert_header("Date", "Wed, 02 Dec 2026 12:00:00 GMT")
                .set_body_json(json!([order(1, "2026-12-02T11:00:00")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc/v3/orders"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-WP-TotalPages", "2")
                .insert_header("Date", "Wed, 02 Dec 2026 12:00:40 GMT")
                .set_body_json(json!([order(2, "2026-12-02T12:00:30")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    use futures::TryStreamExt as _;
    let channel = build(https_config(&server));
    let cursor = channel_core::OrderCursor::new("2026-12-02T10:00:00Z".parse().unwrap());
    let pages: Vec<_> = channel.orders_since(&cursor).try_collect().await.unwrap();
    let last = pages.last().unwrap().next.since;
    // The store's clock at the first page, less a second (`modified_after` is exclusive).
    assert_eq!(last, "2026-12-02T11:59:59Z".parse::<jiff::Timestamp>().unwrap());
}

/// 401s that must not send the secret in a query string: an authentication error WooCommerce raised
/// after reading the request (`get_oauth_parameters`: `woocommerce_rest_authentication_missing_parameter`,
/// "Missing OAuth parameter(s) …"), and a 401 that WooCommerce never sent (a WAF or htpasswd page).
#[tokio::test]
async fn only_a_woocommerce_permission_refusal_triggers_query_keys() {
    let refusals = [
        ResponseTemplate::new(401).set_body_json(json!({
            "code": "woocommerce_rest_authentication_missing_parameter",
            "message": "Missing OAuth parameter oauth_signature", "data": {"status": 401}
        })),
        ResponseTemplate::new(401)
            .insert_header("WWW-Authenticate", "Basic realm=\"staging\"")
            .set_body_string("<html><body>401 Authorization Required</body></html>"),
        ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthorized"})),
    ];
    for refusal in refusals {
        let server = MockServer::start().await;
        Mock::given(method("GET")).and(path(CURRENCY)).respond_with(refusal).expect(1).mount(&server).await;
        let err = build(https_config(&server)).test_connection().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert_eq!(err.status(), Some(401));
        for req in server.received_requests().await.unwrap() {
            assert!(!req.url.query().unwrap_or_default().contains("consumer_secret"), "{}", req.url);
        }
    }
}

/// A store whose extension has no `shipment-trackings/providers` route (`404 rest_no_route`) is asked at
/// the order-scoped path public clients use.
#[tokio::test]
async fn providers_fall_back_to_the_order_scoped_path_on_rest_no_route() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PROVIDERS))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": "rest_no_route", "message": "No route was found matching the URL and request method.", "data": {"status": 404}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wp-json/wc-shipment-tracking/v3/orders/70/shipment-trackings/providers"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"South Africa": {"Courier X": "https://x/%1$s"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc-shipment-tracking/v3/orders/70/shipment-trackings"))
        .and(body_json(json!({"tracking_provider": "Courier X", "tracking_number": "1", "date_shipped": "2026-11-02"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"tracking_id": "a1"})))
        .expect(1)
        .mount(&server)
        .await;
    let shipment = order_70_shipped("courier x", "1");
    let mut config = https_config(&server).tracking(TrackingMode::ShipmentTracking);
    config.complete_on_ship = false;
    build(config).export_tracking(&shipment).await.unwrap();
}

/// A failed providers read is not kept: the next export asks again, and then uses the store's list.
#[tokio::test]
async fn a_failed_providers_read_is_not_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PROVIDERS))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PROVIDERS))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"South Africa": {"Courier X": "https://x/%1$s"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wp-json/wc-shipment-tracking/v3/orders/70/shipment-trackings"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"tracking_id": "a1"})))
        .expect(2)
        .mount(&server)
        .await;
    let shipment = order_70_shipped("courier x", "1");
    let mut config = https_config(&server).tracking(TrackingMode::ShipmentTracking).max_attempts(1);
    config.complete_on_ship = false;
    let channel = build(config);
    channel.export_tracking(&shipment).await.unwrap();
    channel.export_tracking(&shipment).await.unwrap();
    let posts: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    // First: the embedded list does not know the carrier (custom); then the store's list does.
    assert_eq!(posts[0]["custom_tracking_provider"], "courier x");
    assert_eq!(posts[1]["tracking_provider"], "Courier X");
}
