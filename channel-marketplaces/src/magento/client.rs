//! The Magento admin REST API over the shared transport: the integration token as a bearer, requests to
//! `<base_url>/rest/<store_code>/V1/…`, one function per documented operation of Adobe's OpenAPI
//! (`admin-schema-2.4.9.yaml`; operation ids named below; see `docs/fidelity.md`, ## magento).

use bytes::Bytes;
use channel_core::http::{Auth, HttpClient, Response, RetryPolicy, StatusCode, encode_path_segment};
use channel_core::{Error, Result};
use serde::de::DeserializeOwned;

use crate::magento::config::{HTTP_DEFAULTS, MagentoConfig};
use crate::magento::wire::{
    BasePrice, BasePrices, ErrorResponse, Order, PriceUpdateResult, Product, SearchResults, ShipOrder, SourceItem,
    SourceItemsSave, StoreConfig,
};

/// The order states in which an order still holds an MSI reservation for what it has not shipped,
/// cancelled or refunded (`Magento\Sales\Model\Order` state constants; `complete`, `closed` and
/// `canceled` hold none).
pub(crate) const OPEN_STATES: &str = "new,pending_payment,processing,holded,payment_review";

/// `searchCriteria` query parameters (`framework-search-criteria-interface`): filter groups are ANDed,
/// the filters of one group ORed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Criteria {
    pairs: Vec<(String, String)>,
    groups: usize,
}

impl Criteria {
    /// One filter group with one filter.
    pub(crate) fn filter(mut self, field: &str, value: &str, condition: &str) -> Self {
        let g = self.groups;
        let p = |k: &str| format!("searchCriteria[filterGroups][{g}][filters][0][{k}]");
        self.pairs.push((p("field"), field.to_owned()));
        self.pairs.push((p("value"), value.to_owned()));
        self.pairs.push((p("conditionType"), condition.to_owned()));
        self.groups += 1;
        self
    }

    /// Sorted by `field` (`ASC`/`DESC`).
    pub(crate) fn sort(mut self, field: &str, direction: &str) -> Self {
        self.pairs.push(("searchCriteria[sortOrders][0][field]".into(), field.to_owned()));
        self.pairs.push(("searchCriteria[sortOrders][0][direction]".into(), direction.to_owned()));
        self
    }

    /// Page `page` (1-based) of `size`.
    pub(crate) fn page(mut self, size: usize, page: u32) -> Self {
        self.pairs.push(("searchCriteria[pageSize]".into(), size.to_string()));
        self.pairs.push(("searchCriteria[currentPage]".into(), page.to_string()));
        self
    }
}

/// Magento's error message with its placeholders (`%1`, `%name`) filled from `parameters`.
pub(crate) fn error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(err) => filled(&err),
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

/// One `error-response` as text, with its `errors` after it.
fn filled(err: &ErrorResponse) -> String {
    let mut text = err.message.clone();
    match &err.parameters {
        Some(serde_json::Value::Array(list)) => {
            for (i, v) in list.iter().enumerate().rev() {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                text = text.replace(&format!("%{}", i + 1), &v);
            }
        }
        Some(serde_json::Value::Object(map)) => {
            for (k, v) in map {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                text = text.replace(&format!("%{k}"), &v);
            }
        }
        _ => {}
    }
    let details: Vec<String> = err.errors.iter().flatten().map(filled).collect();
    if !details.is_empty() {
        text = format!("{text}: {}", details.join("; "));
    }
    text
}

/// The admin REST API of one store view.
#[derive(Debug)]
pub(crate) struct Client {
    http: HttpClient,
}

impl Client {
    /// A client for the store in `config` (validated).
    pub(crate) fn new(config: &MagentoConfig, retry: Option<RetryPolicy>) -> Result<Self> {
        let base = config.http.base_url.as_deref().unwrap_or_default().trim().trim_end_matches('/');
        let host = url::Url::parse(base).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let mut builder =
            HttpClient::builder().name(format!("magento:{host}")).auth(Auth::bearer(&config.access_token));
        if let Some(r) = retry {
            builder = builder.retry(r);
        }
        let root = format!("{base}/rest/{}/V1/", config.store_code);
        let http = config.http.configure(builder, &HTTP_DEFAULTS).base_url(root).build()?;
        Ok(Self { http })
    }

    /// The transport.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str, c: &Criteria, op: &'static str) -> Result<T> {
        let resp = self.http.get(path).query_pairs(c.pairs.iter().map(|(k, v)| (k, v))).operation(op).send().await?;
        resp.json()
    }

    /// `GET /V1/store/storeConfigs` (`GetV1StoreStoreConfigs`): every store view's configuration; the
    /// connection test.
    pub(crate) async fn store_configs(&self) -> Result<Vec<StoreConfig>> {
        self.get_json("store/storeConfigs", &Criteria::default(), "storeConfigs").await
    }

    /// `GET /V1/products?searchCriteria…` (`GetV1Products`).
    pub(crate) async fn products(&self, c: &Criteria) -> Result<SearchResults<Product>> {
        self.get_json("products", c, "listProducts").await
    }

    /// `GET /V1/inventory/source-items?searchCriteria…` (`GetV1InventorySourceitems`).
    pub(crate) async fn source_items(&self, c: &Criteria) -> Result<SearchResults<SourceItem>> {
        self.get_json("inventory/source-items", c, "listSourceItems").await
    }

    /// `GET /V1/orders?searchCriteria…` (`GetV1Orders`).
    pub(crate) async fn orders(&self, c: &Criteria) -> Result<SearchResults<Order>> {
        self.get_json("orders", c, "listOrders").await
    }

    /// `POST /V1/inventory/source-items` (`PostV1InventorySourceitems`) `{"sourceItems":[…]}`: no body on
    /// success; `400` with an `error-response` refuses the whole call (answered as `Ok(Err(text))`, so
    /// the caller can fall back to single items). An absolute set: idempotent, so retried.
    pub(crate) async fn save_source_items(&self, items: &[SourceItem]) -> Result<std::result::Result<(), String>> {
        let resp = self
            .http
            .post("inventory/source-items")
            .json(&SourceItemsSave { source_items: items })
            .idempotent(true)
            .accept_status(StatusCode::BAD_REQUEST)
            .operation("saveSourceItems")
            .send()
            .await?;
        Ok(refused(&resp))
    }

    /// `POST /V1/products/base-prices` (`PostV1ProductsBaseprices`) `{"prices":[…]}`: `200` with the
    /// failures (`catalog-data-price-update-result-interface[]`, empty when all were saved). Idempotent.
    pub(crate) async fn base_prices(&self, prices: &[BasePrice]) -> Result<Vec<PriceUpdateResult>> {
        let resp = self
            .http
            .post("products/base-prices")
            .json(&BasePrices { prices })
            .idempotent(true)
            .operation("updateBasePrices")
            .send()
            .await?;
        resp.json()
    }

    /// `POST /V1/order/{orderId}/ship` (`PostV1OrderOrderIdShip`): the new shipment's id. Not idempotent
    /// (a second call ships nothing and fails), so never retried by the transport.
    pub(crate) async fn ship(&self, order_id: u64, body: &ShipOrder) -> Result<u64> {
        let path = format!("order/{}/ship", encode_path_segment(&order_id.to_string()));
        let resp = self.http.post(&path).json(body).operation("shipOrder").send().await?;
        let id: serde_json::Value = resp.json()?;
        id.as_u64()
            .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| Error::decode(format!("order/{order_id}/ship answered {id}, not a shipment id")))
    }
}

fn refused(resp: &Response<Bytes>) -> std::result::Result<(), String> {
    if resp.status() == StatusCode::BAD_REQUEST { Err(error_text(resp.body())) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders() {
        let b = br#"{"message":"Maximum items of type \"%type\" is %max","parameters":{"type":"X","max":20}}"#;
        assert_eq!(error_text(b), "Maximum items of type \"X\" is 20");
        let b = br#"{"message":"Product with SKU \"%1\" is not found.","parameters":["A-1"]}"#;
        assert_eq!(error_text(b), "Product with SKU \"A-1\" is not found.");
        assert_eq!(error_text(b"<html>"), "<html>");
        let b = br#"{"message":"Validation Failed","errors":[{"message":"SKU %sku","parameters":{"sku":"Z"}}]}"#;
        assert_eq!(error_text(b), "Validation Failed: SKU Z");
    }

    #[test]
    fn criteria_are_magento_query_pairs() {
        let c = Criteria::default().filter("sku", "A,B", "in").filter("source_code", "default", "eq").page(300, 2);
        assert_eq!(c.pairs[0], ("searchCriteria[filterGroups][0][filters][0][field]".into(), "sku".into()));
        assert_eq!(c.pairs[5], ("searchCriteria[filterGroups][1][filters][0][conditionType]".into(), "eq".into()));
        assert_eq!(c.pairs[7], ("searchCriteria[currentPage]".into(), "2".into()));
    }
}
