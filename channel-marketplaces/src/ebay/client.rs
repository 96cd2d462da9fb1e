//! [`Client`]: the OAuth refresh-token grant and one function per documented operation this adapter
//! calls (sources in `docs/fidelity.md`, "eBay").

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use channel_core::http::{
    Auth, AuthProvider, HeaderName, HttpClient, Method, RequestSecrets, RetryPolicy, encode_path_segment,
};
use channel_core::secrecy::{ExposeSecret, SecretString};
use channel_core::{Error, ErrorKind, Result};
use tokio::time::Instant;

use crate::ebay::config::{EbayConfig, HTTP_DEFAULTS};
use crate::ebay::error::EbayError;
use crate::ebay::wire;

/// Tokens are refreshed this long before eBay says they expire (or at half their life if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
const INVENTORY: &str = "/sell/inventory/v1";
const FULFILLMENT: &str = "/sell/fulfillment/v1";

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// User access tokens from the refresh-token grant, cached and refreshed once before they expire (and
/// after a 401, through [`AuthProvider::invalidate`]).
pub(crate) struct Tokens {
    http: HttpClient,
    token_url: String,
    basic: SecretString,
    refresh_token: SecretString,
    scope: String,
    cached: Mutex<Option<Cached>>,
    refreshing: tokio::sync::Mutex<()>,
    requests: AtomicU64,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("token_url", &self.token_url)
            .field("token_requests", &self.requests.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Tokens {
    fn valid(&self) -> Option<SecretString> {
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        cached.as_ref().filter(|c| Instant::now() < c.refresh_at).map(|c| c.token.clone())
    }

    async fn access_token(&self) -> Result<SecretString> {
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        let _turn = self.refreshing.lock().await;
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        let (token, lifetime) = self.fetch().await?;
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let refresh_at = Instant::now() + lifetime.saturating_sub(margin);
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached { token: token.clone(), refresh_at });
        Ok(token)
    }

    /// `POST /identity/v1/oauth2/token` with `Authorization: Basic base64(client_id:client_secret)` and
    /// the form `grant_type=refresh_token&refresh_token=…&scope=…` (eBay "Refreshing a User access
    /// token").
    async fn fetch(&self) -> Result<(SecretString, Duration)> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.refresh_token.expose_secret()),
            ("scope", self.scope.as_str()),
        ];
        let resp =
            self.http
                .request(Method::POST, &self.token_url)
                .without_auth()
                .secret_header("authorization", &self.basic)
                .form(form)
                .operation("refreshToken")
                .idempotent(true)
                .send_json::<wire::TokenResponse>()
                .await
                .map_err(|e| match e.status() {
                    Some(400 | 401) => Error::from(EbayError::TokenRefused(e.message().to_owned()))
                        .with_status(e.status().unwrap_or(401)),
                    _ => e,
                })?;
        let body = resp.into_body();
        if body.access_token.is_empty() {
            return Err(EbayError::unexpected("the token endpoint", "no access_token").into());
        }
        Ok((SecretString::from(body.access_token), Duration::from_secs(body.expires_in.unwrap_or(7200).max(1))))
    }
}

#[async_trait]
impl AuthProvider for Tokens {
    async fn credentials(&self) -> Result<RequestSecrets> {
        let token = self.access_token().await?;
        let value = SecretString::from(format!("Bearer {}", token.expose_secret()));
        Ok(RequestSecrets::new().header(HeaderName::from_static("authorization"), value))
    }

    fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The eBay client of one seller: the API host and the identity host, both authenticated with the same
/// token source.
#[derive(Debug)]
pub(crate) struct Client {
    api: HttpClient,
    identity: HttpClient,
    pub(crate) tokens: Arc<Tokens>,
}

fn builder(
    config: &EbayConfig,
    name: &str,
    base: &str,
    retry: Option<RetryPolicy>,
) -> channel_core::http::HttpClientBuilder {
    let mut b = HttpClient::builder().name(name);
    if let Some(r) = retry {
        b = b.retry(r);
    }
    config.http.configure(b, &HTTP_DEFAULTS).base_url(base)
}

impl Client {
    pub(crate) fn new(config: &EbayConfig, retry: Option<RetryPolicy>) -> Result<Self> {
        let token_url = config.token_endpoint();
        let credentials = format!("{}:{}", config.client_id.expose_secret(), config.client_secret.expose_secret());
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
        let tokens = Arc::new(Tokens {
            http: builder(config, "ebay:oauth", &token_url, retry).build()?,
            token_url,
            basic: SecretString::from(basic),
            refresh_token: config.refresh_token.clone(),
            scope: config.scopes.join(" "),
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            requests: AtomicU64::new(0),
        });
        let auth = || Auth::provider(Arc::clone(&tokens) as Arc<dyn AuthProvider>);
        let api = builder(config, "ebay", config.api_base(), retry).auth(auth()).build()?;
        let identity = builder(config, "ebay:identity", &config.identity_base(), retry).auth(auth()).build()?;
        Ok(Self { api, identity, tokens })
    }

    pub(crate) fn http(&self) -> &HttpClient {
        &self.api
    }

    /// How many token requests were made.
    pub(crate) fn token_requests(&self) -> u64 {
        self.tokens.requests.load(Ordering::Relaxed)
    }

    /// `getUser`: `GET /commerce/identity/v1/user/` (on `apiz.` hosts).
    pub(crate) async fn get_user(&self) -> Result<wire::UserResponse> {
        Ok(self.identity.get("/commerce/identity/v1/user/").operation("getUser").send_json().await?.into_body())
    }

    /// `getInventoryItems`: `GET /sell/inventory/v1/inventory_item?limit=&offset=0` for the first page, then
    /// the page's `next` href (its path and query, on our host).
    pub(crate) async fn get_inventory_items(&self, next: Option<&str>, limit: usize) -> Result<wire::InventoryItems> {
        let path = match next {
            Some(href) => same_host_path(href)?,
            None => format!("{INVENTORY}/inventory_item?limit={limit}&offset=0"),
        };
        Ok(self.api.get(&path).operation("getInventoryItems").send_json().await?.into_body())
    }

    /// `bulkGetInventoryItem`: `POST /sell/inventory/v1/bulk_get_inventory_item` with up to 25 SKUs.
    pub(crate) async fn bulk_get_inventory_item(&self, skus: &[String]) -> Result<wire::BulkGetResponse> {
        let body = wire::BulkGetRequest { requests: skus.iter().map(|s| wire::SkuRef { sku: s.clone() }).collect() };
        Ok(self
            .api
            .post(&format!("{INVENTORY}/bulk_get_inventory_item"))
            .json(&body)
            .operation("bulkGetInventoryItem")
            .idempotent(true)
            .send_json()
            .await?
            .into_body())
    }

    /// `getOffers`: `GET /sell/inventory/v1/offer?sku=` (one SKU per call); a 404 (no offer) is `None`.
    pub(crate) async fn get_offers(&self, sku: &str) -> Result<Vec<wire::Offer>> {
        let answer = self.api.get(&format!("{INVENTORY}/offer")).query("sku", sku).operation("getOffers");
        match answer.send_json::<wire::Offers>().await {
            Ok(resp) => Ok(resp.into_body().offers),
            Err(e) if e.status() == Some(404) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `bulkUpdatePriceQuantity`: `POST /sell/inventory/v1/bulk_update_price_quantity`; 200 or 207 with a
    /// status per SKU/offer. An absolute set, so retrying it is harmless.
    pub(crate) async fn bulk_update_price_quantity(
        &self,
        requests: Vec<wire::PriceQuantity>,
    ) -> Result<wire::BulkPriceQuantityResponse> {
        Ok(self
            .api
            .post(&format!("{INVENTORY}/bulk_update_price_quantity"))
            .json(&wire::BulkPriceQuantity { requests })
            .operation("bulkUpdatePriceQuantity")
            .idempotent(true)
            .send_json()
            .await?
            .into_body())
    }

    /// `getOrders`: `GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[since..]&limit=`, then `next`.
    pub(crate) async fn get_orders(&self, since: &str, next: Option<&str>, limit: usize) -> Result<wire::OrderPage> {
        let request = match next {
            Some(href) => self.api.get(&same_host_path(href)?),
            None => self
                .api
                .get(&format!("{FULFILLMENT}/order"))
                .query("filter", format!("lastmodifieddate:[{since}..]"))
                .query("limit", limit.to_string()),
        };
        Ok(request.operation("getOrders").send_json().await?.into_body())
    }

    /// `getOrder`: `GET /sell/fulfillment/v1/order/{orderId}`.
    pub(crate) async fn get_order(&self, order_id: &str) -> Result<wire::Order> {
        let path = format!("{FULFILLMENT}/order/{}", encode_path_segment(order_id));
        Ok(self.api.get(&path).operation("getOrder").send_json().await?.into_body())
    }

    /// `createShippingFulfillment`: `POST /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment` → 201.
    pub(crate) async fn create_shipping_fulfillment(
        &self,
        order_id: &str,
        body: &wire::ShippingFulfillmentDetails,
    ) -> Result<()> {
        let path = format!("{FULFILLMENT}/order/{}/shipping_fulfillment", encode_path_segment(order_id));
        self.api.post(&path).json(body).operation("createShippingFulfillment").send().await?;
        Ok(())
    }
}

/// The path and query of a `next` href (absolute as eBay sends it, or relative), so it is requested on
/// the configured host with the connection's credentials.
fn same_host_path(href: &str) -> Result<String> {
    let parsed =
        url::Url::parse(href).or_else(|_| url::Url::parse("http://relative.invalid").and_then(|b| b.join(href)));
    let url = parsed
        .map_err(|e| Error::new(ErrorKind::Decode, format!("ebay: `next` is not a URL: {href:?}")).with_source(e))?;
    Ok(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hrefs_keep_path_and_query() {
        assert_eq!(
            same_host_path("https://api.ebay.com/sell/inventory/v1/inventory_item?offset=1&limit=200").unwrap(),
            "/sell/inventory/v1/inventory_item?offset=1&limit=200"
        );
        assert_eq!(
            same_host_path("/sell/fulfillment/v1/order?offset=2").unwrap(),
            "/sell/fulfillment/v1/order?offset=2"
        );
    }
}
