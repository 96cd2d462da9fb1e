//! [`Client`]: the SP-API transport (LWA auth, per-operation usage plans) and one function per
//! documented operation this adapter calls, taking and returning [`crate::wire`] types.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use channel_core::http::{
    Auth, AuthProvider, HttpClient, RateLimit, RequestBuilder, Response, ResponseTooLarge, RetryPolicy, burst,
    encode_path_segment,
};
use channel_core::{ErrorKind, Result};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::AmazonConfig;
use crate::document;
use crate::error::AmazonError;
use crate::feed::FEED_CONTENT_TYPE;
use crate::lwa::{DEFAULT_TOKEN_URL, LwaTokens};
use crate::wire::{self, PatchOperation};

/// `searchListingsItems` returns at most 20 items a page, and takes at most 20 `identifiers`.
pub(crate) const SEARCH_PAGE_SIZE: usize = 20;
/// `getInventorySummaries` takes at most 50 `sellerSkus`.
pub(crate) const MAX_SELLER_SKUS: usize = 50;
/// The data sets a listings read asks for.
const INCLUDED_DATA: &str = "summaries,offers,fulfillmentAvailability";

/// The `User-Agent` of every SP-API and LWA request: "AppId/AppVersionId (Language=…)", the minimal form
/// Amazon requires ("Include a User-Agent header in all requests").
pub(crate) const USER_AGENT: &str = concat!("stocksync/", env!("CARGO_PKG_VERSION"), " (Language=Rust)");

/// The documented default usage plans (rate per second, burst) of the operations this adapter calls.
/// Responses' `x-amzn-RateLimit-Limit` re-tunes the rate at run time.
pub(crate) const DOCUMENTED_RATE_LIMITS: &[(&str, f64, u32)] = &[
    ("searchListingsItems", 5.0, 5),
    ("getListingsItem", 5.0, 10),
    ("patchListingsItem", 5.0, 5),
    ("createFeedDocument", 0.5, 15),
    // createFeed's plan is 0.0083/s burst 15 (feeds_2021-06-30.json), and JSON_LISTINGS_FEED, the only
    // feed type sent, has its own limit of 5 feeds per 5 minutes (changelog, 6 May 2025): the bucket
    // keeps the lower rate and the lower burst, so a burst of feeds is not refused with 429s.
    ("createFeed", 0.0083, 5),
    ("getFeed", 2.0, 15),
    ("getFeedDocument", 0.0222, 10),
    ("createReport", 0.0167, 15),
    ("getReport", 2.0, 15),
    ("getReportDocument", 0.0167, 15),
    ("getInventorySummaries", 2.0, 2),
    // Orders API v2026-01-01 (orders_2026-01-01.json "Usage Plan" tables).
    ("searchOrders", 0.0056, 20),
    ("getOrder", 0.5, 30),
    // Orders API v0 (ordersV0.json).
    ("confirmShipment", 2.0, 10),
    ("getMarketplaceParticipations", 0.016, 15),
];

/// The transport settings an [`crate::AmazonBuilder`] adds to the config's [`channel_core::http::HttpOptions`].
#[derive(Debug)]
pub(crate) struct Transport {
    /// The retry policy (default: the transport's, with the config's `max_attempts`).
    pub(crate) retry: Option<RetryPolicy>,
    /// A per-attempt timeout finer than the config's whole seconds (it wins).
    pub(crate) timeout: Option<Duration>,
    /// Start from [`DOCUMENTED_RATE_LIMITS`].
    pub(crate) documented_limits: bool,
    /// Per-operation limits that replace the documented ones.
    pub(crate) overrides: Vec<(String, RateLimit)>,
}

impl Default for Transport {
    fn default() -> Self {
        Self { retry: None, timeout: None, documented_limits: true, overrides: Vec::new() }
    }
}

/// The SP-API client of one seller: every call is authenticated with an LWA access token and paced by
/// its operation's usage plan.
pub(crate) struct Client {
    http: HttpClient,
    lwa: Arc<LwaTokens>,
    seller_id: String,
    max_document_bytes: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("http", &self.http).field("lwa", &self.lwa).finish_non_exhaustive()
    }
}

impl Client {
    /// The client of `config`'s seller: `config.http` (base URL, else the region's endpoint; timeout;
    /// attempts; overall budget), then `transport`'s settings on top.
    pub(crate) fn new(config: &AmazonConfig, transport: Transport) -> Result<Self> {
        let defaults = config.http_defaults();
        let token_url = config.token_url.clone().unwrap_or_else(|| DEFAULT_TOKEN_URL.to_owned());
        let mut token_http = HttpClient::builder()
            .name("amazon:lwa")
            .user_agent(USER_AGENT)
            .base_url(&token_url)
            .timeout(config.http.timeout_or(defaults.timeout));
        if let Some(r) = transport.retry {
            token_http = token_http.retry(r);
        }
        if let Some(attempts) = config.http.max_attempts {
            token_http = token_http.max_attempts(attempts);
        }
        if let Some(t) = transport.timeout {
            token_http = token_http.timeout(t);
        }
        let lwa = Arc::new(LwaTokens::new(
            token_http.build()?,
            token_url,
            config.lwa_client_id.clone(),
            config.lwa_client_secret.clone(),
            config.refresh_token.clone(),
        ));
        let mut builder = HttpClient::builder()
            .name(format!("amazon:{}", config.seller_id))
            .user_agent(USER_AGENT)
            .auth(Auth::provider(Arc::clone(&lwa) as Arc<dyn AuthProvider>))
            .redact_header("x-amz-access-token");
        if let Some(r) = transport.retry {
            builder = builder.retry(r);
        }
        builder = config.http.configure(builder, &defaults);
        if transport.documented_limits {
            for (op, rate, b) in DOCUMENTED_RATE_LIMITS {
                if let Some(limit) = RateLimit::per_second_f64(*rate) {
                    builder = builder.operation_rate_limit(*op, limit.with_burst(burst(*b)));
                }
            }
        }
        for (op, limit) in transport.overrides {
            builder = builder.operation_rate_limit(op, limit);
        }
        if let Some(t) = transport.timeout {
            builder = builder.timeout(t);
        }
        Ok(Self {
            http: builder.build()?,
            lwa,
            seller_id: config.seller_id.clone(),
            max_document_bytes: config.max_document_bytes,
        })
    }

    /// The transport.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// How many LWA token requests were made.
    pub(crate) fn token_requests(&self) -> u64 {
        self.lwa.token_requests()
    }

    /// Send a request built by `make`; when SP-API answers `403 Unauthorized` (an access token that
    /// expired or was revoked before its time), drop the cached token and send it once more.
    async fn send<'a>(&'a self, make: impl Fn() -> RequestBuilder<'a>) -> Result<Response<Bytes>> {
        match make().send().await {
            Err(e) if e.kind() == ErrorKind::Auth && e.status() == Some(403) => {
                tracing::debug!(error = %e, "403 from SP-API: fetching a new access token and trying once more");
                self.lwa.invalidate();
                make().send().await
            }
            other => other,
        }
    }

    async fn send_json<'a, T: DeserializeOwned>(&'a self, make: impl Fn() -> RequestBuilder<'a>) -> Result<T> {
        self.send(make).await?.json::<T>()
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)], op: &str) -> Result<T> {
        self.send_json(|| self.http.get(path).query_pairs(query.iter().map(|(k, v)| (*k, v.as_str()))).operation(op))
            .await
    }

    fn items_path(&self) -> String {
        format!("/listings/2021-08-01/items/{}", encode_path_segment(&self.seller_id))
    }

    // ---- Listings Items API 2021-08-01 ----

    /// `GET /listings/2021-08-01/items/{sellerId}` — Listings Items API 2021-08-01, searchListingsItems:
    /// one page of `pageSize` 20 with summaries, offers and fulfillment availability, in SKU order
    /// (`sortBy=sku&sortOrder=ASC`); with `skus` (at most 20), only those (`identifiers`,
    /// `identifiersType=SKU`).
    pub(crate) async fn search_listings_items(
        &self,
        marketplace: &str,
        skus: &[String],
        page_token: Option<&str>,
    ) -> Result<wire::ItemSearchResults> {
        let mut q = vec![
            ("marketplaceIds", marketplace.to_owned()),
            ("includedData", INCLUDED_DATA.to_owned()),
            ("pageSize", SEARCH_PAGE_SIZE.to_string()),
        ];
        if skus.is_empty() {
            // The default order is `lastUpdatedDate` DESC, which moves an item written while the catalog
            // is paged through (by this very sync) to the front: it would be missed, and another read
            // twice. SKU order does not move.
            q.push(("sortBy", "sku".to_owned()));
            q.push(("sortOrder", "ASC".to_owned()));
        } else {
            q.push(("identifiers", skus.join(",")));
            q.push(("identifiersType", "SKU".to_owned()));
        }
        if let Some(t) = page_token {
            q.push(("pageToken", t.to_owned()));
        }
        self.get_json(&self.items_path(), &q, "searchListingsItems").await
    }

    /// `GET /listings/2021-08-01/items/{sellerId}/{sku}` — Listings Items API 2021-08-01, getListingsItem,
    /// with summaries, offers and fulfillment availability; `None` when Amazon answers 404.
    pub(crate) async fn get_listings_item(&self, marketplace: &str, sku: &str) -> Result<Option<wire::Item>> {
        let path = format!("{}/{}", self.items_path(), encode_path_segment(sku));
        let q = [("marketplaceIds", marketplace.to_owned()), ("includedData", INCLUDED_DATA.to_owned())];
        match self.get_json(&path, &q, "getListingsItem").await {
            Ok(item) => Ok(Some(item)),
            Err(e) if e.kind() == ErrorKind::NotFound || e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /listings/2021-08-01/items/{sellerId}/{sku}` — Listings Items API 2021-08-01,
    /// patchListingsItem: one patch of one SKU on `marketplaces` (comma-separated).
    pub(crate) async fn patch_listings_item(
        &self,
        sku: &str,
        product_type: &str,
        patch: &PatchOperation,
        marketplaces: &str,
    ) -> Result<wire::SubmissionResponse> {
        let path = format!("{}/{}", self.items_path(), encode_path_segment(sku));
        let body = json!({"productType": product_type, "patches": [patch]});
        self.send_json(|| {
            self.http
                .patch(&path)
                .query("marketplaceIds", marketplaces)
                .query("issueLocale", "en_US")
                .json(&body)
                .operation("patchListingsItem")
                // Replacing an attribute with an absolute value may safely be repeated.
                .idempotent(true)
        })
        .await
    }

    // ---- Feeds API 2021-06-30 ----

    /// `POST /feeds/2021-06-30/documents` — Feeds API 2021-06-30, createFeedDocument (a JSON feed).
    pub(crate) async fn create_feed_document(&self) -> Result<wire::FeedDocument> {
        let body = json!({"contentType": FEED_CONTENT_TYPE});
        self.send_json(|| {
            self.http.post("/feeds/2021-06-30/documents").json(&body).operation("createFeedDocument").idempotent(true)
        })
        .await
    }

    /// `PUT` of the feed's bytes to the pre-signed URL `createFeedDocument` returned (it carries its own
    /// authorization) — Feeds API, "Upload the feed data".
    pub(crate) async fn upload_feed_document(&self, url: &str, bytes: Vec<u8>) -> Result<()> {
        self.http
            .put(url)
            .without_auth()
            .without_rate_limit()
            .body(bytes, FEED_CONTENT_TYPE)
            .operation("uploadFeedDocument")
            .send()
            .await?;
        Ok(())
    }

    /// `POST /feeds/2021-06-30/feeds` — Feeds API 2021-06-30, createFeed of a `JSON_LISTINGS_FEED`.
    pub(crate) async fn create_feed(
        &self,
        document_id: &str,
        marketplaces: &[String],
    ) -> Result<wire::CreateFeedResponse> {
        let body = json!({
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": marketplaces,
            "inputFeedDocumentId": document_id,
        });
        self.send_json(|| {
            self.http
                .post("/feeds/2021-06-30/feeds")
                .json(&body)
                .operation("createFeed")
                // A second copy of a feed of absolute values does no harm.
                .idempotent(true)
        })
        .await
    }

    /// `GET /feeds/2021-06-30/feeds/{feedId}` — Feeds API 2021-06-30, getFeed.
    pub(crate) async fn get_feed(&self, feed_id: &str) -> Result<wire::Feed> {
        self.get_json(&format!("/feeds/2021-06-30/feeds/{}", encode_path_segment(feed_id)), &[], "getFeed").await
    }

    /// `GET /feeds/2021-06-30/documents/{feedDocumentId}` — Feeds API 2021-06-30, getFeedDocument.
    pub(crate) async fn get_feed_document(&self, document_id: &str) -> Result<wire::FeedDocument> {
        let path = format!("/feeds/2021-06-30/documents/{}", encode_path_segment(document_id));
        self.get_json(&path, &[], "getFeedDocument").await
    }

    // ---- Reports API 2021-06-30 ----

    /// `POST /reports/2021-06-30/reports` — Reports API 2021-06-30, createReport.
    pub(crate) async fn create_report(
        &self,
        report_type: &str,
        marketplace: &str,
    ) -> Result<wire::CreateReportResponse> {
        let body = json!({"reportType": report_type, "marketplaceIds": [marketplace]});
        self.send_json(|| {
            self.http.post("/reports/2021-06-30/reports").json(&body).operation("createReport").idempotent(true)
        })
        .await
    }

    /// `GET /reports/2021-06-30/reports/{reportId}` — Reports API 2021-06-30, getReport.
    pub(crate) async fn get_report(&self, report_id: &str) -> Result<wire::Report> {
        let path = format!("/reports/2021-06-30/reports/{}", encode_path_segment(report_id));
        self.get_json(&path, &[], "getReport").await
    }

    /// `GET /reports/2021-06-30/documents/{reportDocumentId}` — Reports API 2021-06-30, getReportDocument.
    pub(crate) async fn get_report_document(&self, document_id: &str) -> Result<wire::FeedDocument> {
        let path = format!("/reports/2021-06-30/documents/{}", encode_path_segment(document_id));
        self.get_json(&path, &[], "getReportDocument").await
    }

    /// `GET` of a report or feed-result document at its pre-signed URL — Reports API / Feeds API,
    /// "Download the document": decompressed and bounded (see [`crate::document`]). `max_document_bytes`
    /// bounds the download too, as it arrives: a plain document exactly, a gzip one with room for gzip's
    /// framing, so that a document that decodes within the bound is not refused for its compressed size.
    ///
    /// Answers the decoded bytes and the download's `Content-Type` (which names a report's charset).
    pub(crate) async fn download_document(
        &self,
        url: &str,
        compression: Option<&str>,
        what: &'static str,
    ) -> Result<(Bytes, Option<String>)> {
        let algorithm = compression.map(str::trim).unwrap_or_default();
        if !algorithm.is_empty() && !algorithm.eq_ignore_ascii_case("GZIP") {
            // Refused before downloading what could not be read.
            return Err(AmazonError::Compressed { what, algorithm: algorithm.to_owned() }.into());
        }
        let max = self.max_document_bytes;
        // Deflate's stored blocks add 5 bytes in 65,535 and each gzip member a header and trailer.
        let download_limit = if algorithm.is_empty() { max } else { max.saturating_add(max / 1024 + 64 * 1024) };
        let resp = self
            .http
            .get(url)
            .without_auth()
            .without_rate_limit()
            .operation("downloadDocument")
            .max_response_bytes(download_limit)
            .send()
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<ResponseTooLarge>());
                if too_large { AmazonError::DocumentTooLarge { what, limit: max }.into() } else { e }
            })?;
        let content_type = resp.header("content-type").map(str::to_owned);
        Ok((document::decode_bytes(what, resp.into_body(), compression, max)?, content_type))
    }

    // ---- FBA Inventory API v1 ----

    /// `GET /fba/inventory/v1/summaries` — FBA Inventory API v1, getInventorySummaries: one page of the
    /// marketplace's summaries with details; with `skus` (at most 50), only those (`sellerSkus`).
    pub(crate) async fn get_inventory_summaries(
        &self,
        marketplace: &str,
        skus: &[String],
        next_token: Option<&str>,
    ) -> Result<wire::InventorySummariesResponse> {
        let mut q = vec![
            ("details", "true".to_owned()),
            ("granularityType", "Marketplace".to_owned()),
            ("granularityId", marketplace.to_owned()),
            ("marketplaceIds", marketplace.to_owned()),
        ];
        if !skus.is_empty() {
            q.push(("sellerSkus", skus.join(",")));
        }
        if let Some(t) = next_token {
            q.push(("nextToken", t.to_owned()));
        }
        self.get_json("/fba/inventory/v1/summaries", &q, "getInventorySummaries").await
    }

    // ---- Orders API v2026-01-01 ----

    /// `GET /orders/2026-01-01/orders` — Orders API v2026-01-01, searchOrders: the orders of `marketplaces`
    /// updated at or after `last_updated_after` and at or before `last_updated_before` (which must be "at
    /// least two minutes before the time of the request"), 100 a page, with `includedData=FULFILLMENT` (items are
    /// always included). A next page repeats every parameter with its `paginationToken`: "All other
    /// parameters must be provided with the same values".
    pub(crate) async fn search_orders(
        &self,
        marketplaces: &[String],
        last_updated_after: &str,
        last_updated_before: &str,
        pagination_token: Option<&str>,
    ) -> Result<crate::orders::SearchOrdersResponse> {
        let mut q = vec![
            ("lastUpdatedAfter", last_updated_after.to_owned()),
            ("lastUpdatedBefore", last_updated_before.to_owned()),
            ("marketplaceIds", marketplaces.join(",")),
            ("includedData", crate::orders::POLL_DATA.to_owned()),
            ("maxResultsPerPage", crate::orders::MAX_RESULTS_PER_PAGE.to_string()),
        ];
        if let Some(t) = pagination_token {
            q.push(("paginationToken", t.to_owned()));
        }
        self.get_json("/orders/2026-01-01/orders", &q, "searchOrders").await
    }

    /// `GET /orders/2026-01-01/orders/{orderId}` — Orders API v2026-01-01, getOrder with `included_data`.
    pub(crate) async fn get_order(
        &self,
        order_id: &str,
        included_data: &str,
    ) -> Result<crate::orders::GetOrderResponse> {
        let path = format!("/orders/2026-01-01/orders/{}", encode_path_segment(order_id));
        self.get_json(&path, &[("includedData", included_data.to_owned())], "getOrder").await
    }

    // ---- Orders API v0 ----

    /// `POST /orders/v0/orders/{orderId}/shipmentConfirmation` — Orders API v0, confirmShipment (not
    /// deprecated; v2026-01-01 has no shipment confirmation). `204` on success. Repeating it with the same
    /// `packageReferenceId` edits that package ("submit another confirmShipment operation with the same
    /// packageReferenceID"), so a retry after an unknown outcome does not ship twice.
    pub(crate) async fn confirm_shipment(&self, order_id: &str, body: &Value) -> Result<()> {
        let path = format!("/orders/v0/orders/{}/shipmentConfirmation", encode_path_segment(order_id));
        self.send(|| self.http.post(&path).json(body).operation("confirmShipment").idempotent(true)).await?;
        Ok(())
    }

    // ---- Sellers API v1 ----

    /// `GET /sellers/v1/marketplaceParticipations` — Sellers API v1, getMarketplaceParticipations.
    pub(crate) async fn get_marketplace_participations(&self) -> Result<wire::Payload<Vec<wire::Participation>>> {
        self.get_json("/sellers/v1/marketplaceParticipations", &[], "getMarketplaceParticipations").await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::{DOCUMENTED_RATE_LIMITS, USER_AGENT};

    /// The `| rate | burst |` row of an operation's usage-plan table in its model description.
    fn usage_plan(model: &Value, operation: &str) -> Option<(f64, u32)> {
        let ops = model["paths"].as_object()?.values().flat_map(|p| p.as_object().into_iter().flat_map(|m| m.values()));
        let op = ops.into_iter().find(|op| op["operationId"] == operation)?;
        let description = op["description"].as_str()?;
        description.lines().find_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
            match cells.as_slice() {
                [rate, burst] => Some((rate.parse().ok()?, burst.parse().ok()?)),
                _ => None,
            }
        })
    }

    #[test]
    fn the_rate_table_follows_the_models() {
        let models = [
            "listingsItems_2021-08-01.json",
            "feeds_2021-06-30.json",
            "fbaInventory.json",
            "sellers.json",
            "orders_2026-01-01.json",
            // Only confirmShipment: the adapter's getOrder is v2026-01-01's.
            "ordersV0.json",
        ];
        let mut checked = 0;
        for name in models {
            let Some(model) = crate::wire::fixture(name) else { return };
            for (op, rate, burst) in DOCUMENTED_RATE_LIMITS {
                if name == "ordersV0.json" && *op != "confirmShipment" {
                    continue;
                }
                let Some((model_rate, model_burst)) = usage_plan(&model, op) else { continue };
                assert!((model_rate - rate).abs() < 1e-9, "{op}: {rate} vs the model's {model_rate}");
                assert!(*burst <= model_burst, "{op}: burst {burst} above the model's {model_burst}");
                checked += 1;
            }
        }
        assert_eq!(checked, 12, "every listings, feeds, FBA, sellers and orders operation is in a model");
        // createFeed's burst is that of the JSON_LISTINGS_FEED feed-type limit (5 per 5 minutes).
        assert!(DOCUMENTED_RATE_LIMITS.iter().any(|(op, _, burst)| *op == "createFeed" && *burst == 5));
        assert!(USER_AGENT.starts_with("stocksync/") && USER_AGENT.ends_with(" (Language=Rust)"));
    }
}
