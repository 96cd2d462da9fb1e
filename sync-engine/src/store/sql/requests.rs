//! Store leases and "sync now" requests on SQL.

use channel_core::StoreId;
use jiff::Timestamp;

use super::dialect::Dialect;
use super::rows::{ms, sync_request};
use super::{SqlStore, sql};
use crate::store::{ClaimRequest, StoreError, SyncRequest};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Take or renew a store's lease (free, expired at `now`, or already `holder`'s).
pub(super) async fn acquire_lease<D: Dialect>(
    store: &SqlStore<D>,
    id: &StoreId,
    holder: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<bool> {
    let q = sql("INSERT INTO leases (company, store, holder, until) VALUES ($5, $1, $2, $3)
         ON CONFLICT (company, store) DO UPDATE SET holder = excluded.holder, until = excluded.until
         WHERE leases.holder = excluded.holder OR leases.until <= $4")
    .bind(id.as_str())
    .bind(holder)
    .bind(ms(until))
    .bind(ms(now))
    .bind(store.co());
    Ok(store.read().await?.execute(q).await? == 1)
}

pub(super) async fn release_lease<D: Dialect>(store: &SqlStore<D>, id: &StoreId, holder: &str) -> Result<bool> {
    let q = sql("DELETE FROM leases WHERE company = $3 AND store = $1 AND holder = $2")
        .bind(id.as_str())
        .bind(holder)
        .bind(store.co());
    Ok(store.read().await?.execute(q).await? == 1)
}

/// Claim queued requests: unclaimed ones and those whose lease ended, oldest first.
pub(super) async fn claim<D: Dialect>(store: &SqlStore<D>, claim: &ClaimRequest) -> Result<Vec<SyncRequest>> {
    let mut tx = store.write().await?;
    let q = sql(format!(
        "SELECT * FROM sync_requests WHERE company = $4 AND (CAST($1 AS TEXT) IS NULL OR store = $1)
         AND (claim_token IS NULL OR lease_until IS NULL OR lease_until <= $2)
         ORDER BY requested_at, store{} LIMIT $3{}",
        D::BYTE_ORDER,
        D::skip_locked()
    ))
    .bind(claim.store.as_ref().map(StoreId::as_str))
    .bind(ms(claim.now))
    .bind(D::limit(Some(claim.limit)))
    .bind(store.co());
    let rows = tx.fetch_all(q).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut request = sync_request::<D>(row)?;
        let token = uuid::Uuid::new_v4().to_string();
        let q = sql("UPDATE sync_requests SET claimed_by = $1, claim_token = $2, lease_until = $3
             WHERE company = $5 AND store = $4")
        .bind(&claim.worker)
        .bind(&token)
        .bind(ms(claim.lease_until))
        .bind(request.store.as_str())
        .bind(store.co());
        tx.execute(q).await?;
        request.claimed_by = Some(claim.worker.clone());
        request.claim_token = Some(token);
        request.lease_until = Some(claim.lease_until);
        out.push(request);
    }
    tx.commit().await?;
    Ok(out)
}

pub(super) async fn renew<D: Dialect>(
    store: &SqlStore<D>,
    id: &StoreId,
    token: &str,
    until: Timestamp,
) -> Result<bool> {
    let q = sql("UPDATE sync_requests SET lease_until = $1 WHERE company = $4 AND store = $2 AND claim_token = $3")
        .bind(ms(until))
        .bind(id.as_str())
        .bind(token)
        .bind(store.co());
    Ok(store.read().await?.execute(q).await? == 1)
}

pub(super) async fn finish<D: Dialect>(store: &SqlStore<D>, id: &StoreId, token: &str) -> Result<bool> {
    let q = sql("DELETE FROM sync_requests WHERE company = $3 AND store = $1 AND claim_token = $2")
        .bind(id.as_str())
        .bind(token)
        .bind(store.co());
    Ok(store.read().await?.execute(q).await? == 1)
}
