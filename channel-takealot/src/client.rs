//! The Seller API v2 calls: one function per documented operation, taking and returning [`wire`] types.
//!
//! The operations are those of the Seller API v2 swagger (`shared/fixtures/takealot/seller-api-v2-swagger.yml`,
//! cited in `docs/fidelity.md`); the seller-identity call is this adapter's own assumption (see the README's
//! *Uncertainties*).

use channel_core::Result;
use channel_core::http::{Auth, HttpClient, StatusCode};
use jiff::civil::Date;

use crate::config::{HTTP_DEFAULTS, TakealotConfig};
use crate::error::TakealotError;
use crate::wire::{self, BatchItem, BatchStatus, OfferUpdate, OfferUpdateResponse, OffersPage, SalesPage};

/// The Seller API over the shared transport (`Authorization: Key <api key>`, JSON).
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: HttpClient,
}

impl Client {
    /// A client for the account `config` describes; fails on an unusable base URL or transport setting.
    pub(crate) fn new(config: &TakealotConfig) -> std::result::Result<Self, TakealotError> {
        let builder = HttpClient::builder()
            .name("takealot")
            .auth(Auth::authorization("Key", &config.api_key))
            .default_header("Accept", "application/json");
        let http = config.http.configure(builder, &HTTP_DEFAULTS).build().map_err(TakealotError::Http)?;
        Ok(Self { http })
    }

    /// The transport.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `GET /v2/offers?page_number&page_size` — Seller API v2, `get_offers_v2` ("Get All Offers"): one page of
    /// offers, pages numbered from 1, at most 100 a page.
    pub(crate) async fn get_offers(&self, page_number: u32, page_size: usize) -> Result<OffersPage> {
        Ok(self
            .http
            .get("/v2/offers")
            .query("page_number", page_number.to_string())
            .query("page_size", page_size.to_string())
            .operation("getOffers")
            .send_json::<OffersPage>()
            .await?
            .into_body())
    }

    /// `GET /v2/offers/offer/ID{offer_id}` — Seller API v2, `get_offer_by_identifier_v2` ("Get An Offer"): the
    /// offer with this Takealot offer id (identifier prefixed `ID`), `None` when the API answers 404.
    pub(crate) async fn get_offer(&self, offer_id: u64) -> Result<Option<wire::Offer>> {
        let response = self
            .http
            .get(&format!("/v2/offers/offer/ID{offer_id}"))
            .accept_status(StatusCode::NOT_FOUND)
            .operation("getOffer")
            .send()
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(response.json()?))
    }

    /// `PATCH /v2/offers/offer/ID{offer_id}` — Seller API v2, `update_offer_by_identifier_v2` ("Update An
    /// Offer"), body `V2OfferSingleUpdate`: the documented answer `V2OfferUpdateSuccessResponse`
    /// `{offer, validation_errors}` (a non-empty `validation_errors` is a refusal the caller reports).
    pub(crate) async fn patch_offer(&self, offer_id: u64, update: &OfferUpdate) -> Result<OfferUpdateResponse> {
        Ok(self
            .http
            .patch(&format!("/v2/offers/offer/ID{offer_id}"))
            .json(update)
            // An absolute set: applying it twice has the same effect as once.
            .idempotent(true)
            .operation("updateOffer")
            .send_json::<OfferUpdateResponse>()
            .await?
            .into_body())
    }

    /// `POST /v2/offers/batch` — Seller API v2, `create_batch_v2` ("Create A Batch"): the body is a bare
    /// array of `V2OfferBatchCreateUpdate` (`maxItems: 10000`); the answer a `V2OfferBatch` with the batch's id
    /// and first status.
    pub(crate) async fn create_batch(&self, items: &[BatchItem]) -> Result<BatchStatus> {
        Ok(self
            .http
            .post("/v2/offers/batch")
            .json(items)
            // Absolute values only: a resubmitted batch sets the same quantities.
            .idempotent(true)
            .operation("createBatch")
            .send_json::<BatchStatus>()
            .await?
            .into_body())
    }

    /// `GET /v2/offers/batch/{batch_id}` — Seller API v2, `get_batch_v2` ("Get Batch Information"): the
    /// `V2OfferBatch`: `status` `{id, description}` and, once processed, `result[]` `{offer, validation_errors}`.
    pub(crate) async fn get_batch(&self, batch_id: &str) -> Result<BatchStatus> {
        Ok(self
            .http
            .get(&format!("/v2/offers/batch/{batch_id}"))
            .operation("getBatch")
            .send_json::<BatchStatus>()
            .await?
            .into_body())
    }

    /// `GET /v2/sales?filters=start_date:…<separator>end_date:…&page_number&page_size` — Seller API,
    /// `view_sales` (`/{version}/sales`): one page of the sales (order items) ordered from `start` to `end` (a
    /// window of at most 180 days).
    pub(crate) async fn get_sales(
        &self,
        start: Date,
        end: Date,
        separator: &str,
        page_number: u32,
        page_size: usize,
    ) -> Result<SalesPage> {
        Ok(self
            .http
            .get("/v2/sales")
            .query("filters", format!("start_date:{start}{separator}end_date:{end}"))
            .query("page_number", page_number.to_string())
            .query("page_size", page_size.to_string())
            .operation("getSales")
            .send_json::<SalesPage>()
            .await?
            .into_body())
    }

    /// `GET <path>` (default `/v2/seller`) — the seller identity; not in the public Seller API documentation
    /// (see the README's *Uncertainties*), so a 404 is `None`.
    pub(crate) async fn get_seller(&self, path: &str) -> Result<Option<wire::Seller>> {
        let response = self.http.get(path).accept_status(StatusCode::NOT_FOUND).operation("getSeller").send().await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(response.json()?))
    }
}
