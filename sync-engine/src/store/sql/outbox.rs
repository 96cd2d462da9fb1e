//! The outbox on SQL: enqueue (coalescing with the lane's pending item), claim, finish and renew.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::dialect::{Arg, Dialect};
use super::rows::{Cols, OUTBOX_COLUMNS, json, ms, outbox_item};
use super::{Session, SqlStore, sql};
use crate::store::{
    ClaimRequest, OutboxFinish, OutboxItem, OutboxPush, OutboxResult, OutboxState, PushAction, StoreError,
};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The lane's pending item (`id`, `action`), locked for this transaction where the dialect locks rows.
fn pending_in_lane<D: Dialect>(co: &str, push: &OutboxPush) -> super::Sql {
    sql(format!(
        "SELECT id, action FROM outbox
         WHERE company = $1 AND store = $2 AND listing = $3 AND lane = $4 AND state = 'pending'{}",
        D::for_update()
    ))
    .bind(co)
    .bind(push.store.as_str())
    .bind(push.listing.as_str())
    .bind(push.action.lane().as_str())
}

/// Queue a push, coalesced with the lane's pending item.
pub(super) async fn enqueue<D: Dialect>(
    tx: &mut Session<D>,
    co: &str,
    push: &OutboxPush,
    now: Timestamp,
) -> Result<()> {
    // Two rounds: if another transaction inserts the lane's pending item between our look and our insert
    // (PostgreSQL; SQLite's write lock rules it out), the insert does nothing and the second look finds
    // (and locks) that item.
    for _ in 0..2 {
        if let Some(row) = tx.fetch_optional(pending_in_lane::<D>(co, push)).await? {
            let r = Cols::<D>(&row);
            let action: PushAction = r.json("action")?;
            let q = sql("UPDATE outbox SET action = $1, reason = $2, updated_at = $3 WHERE id = $4")
                .bind(json(&action.coalesce(&push.action))?)
                .bind(&push.reason)
                .bind(ms(now))
                .bind(r.int("id")?);
            tx.execute(q).await?;
            return Ok(());
        }
        let q = sql("INSERT INTO outbox (company, store, listing, lane, action, reason, state, attempts,
             next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)
             ON CONFLICT (company, store, listing, lane) WHERE state = 'pending' DO NOTHING")
        .bind(co)
        .bind(push.store.as_str())
        .bind(push.listing.as_str())
        .bind(push.action.lane().as_str())
        .bind(json(&push.action)?)
        .bind(&push.reason)
        .bind(ms(now));
        if tx.execute(q).await? == 1 {
            return Ok(());
        }
    }
    Err(StoreError::backend(
        format!("{}: the outbox lane kept changing", D::NAME),
        true,
        std::io::Error::other("concurrent enqueue"),
    ))
}

/// Atomically claim due items, at most one per (store, listing, lane) and none of a lane under an
/// unexpired claim.
pub(super) async fn claim<D: Dialect>(store: &SqlStore<D>, claim: &ClaimRequest) -> Result<Vec<OutboxItem>> {
    if claim.limit == 0 {
        return Ok(Vec::new());
    }
    if D::check_due_first() && !anything_due(store, claim).await? {
        return Ok(Vec::new());
    }
    let co = store.co();
    let mut tx = store.write().await?;
    let candidates = claim_candidates(&mut tx, co, claim).await?;
    let mut lanes = BTreeSet::new();
    let mut out = Vec::new();
    for mut item in candidates {
        if out.len() >= claim.limit {
            break;
        }
        if !lanes.insert((item.push.store.clone(), item.push.listing.clone(), item.push.action.lane().as_str())) {
            continue;
        }
        if !lane_still_free(&mut tx, co, &item, claim).await? {
            continue;
        }
        take(&mut tx, &mut item, claim).await?;
        out.push(item);
    }
    tx.commit().await?;
    Ok(out)
}

/// Whether any item is due, read without a write lock. With one outbox lane per store, most wake-ups find
/// nothing due for most stores, and a write transaction each would queue the order commits behind them.
/// (An item queued after this read wakes the lanes again.)
async fn anything_due<D: Dialect>(store: &SqlStore<D>, claim: &ClaimRequest) -> Result<bool> {
    let q = sql("SELECT 1 AS one FROM outbox WHERE company = $3 AND ((state = 'pending' AND next_attempt_at <= $1)
         OR (state = 'claimed' AND lease_until <= $1)) AND ($2 IS NULL OR store = $2) LIMIT 1")
    .bind(ms(claim.now))
    .bind(claim.store.as_ref().map(channel_core::StoreId::as_str))
    .bind(store.co());
    Ok(store.read().await?.fetch_optional(q).await?.is_some())
}

/// Due items outside busy lanes, oldest due first, more than asked for (a lane yields one item).
async fn claim_candidates<D: Dialect>(tx: &mut Session<D>, co: &str, claim: &ClaimRequest) -> Result<Vec<OutboxItem>> {
    // The busy lanes (unexpired claims) are one uncorrelated subquery, read once: a correlated
    // `NOT EXISTS` per candidate scans every claimed row, quadratic when other lanes hold thousands.
    let q = sql(format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox o
         WHERE o.company = $4
           AND ((o.state = 'pending' AND o.next_attempt_at <= $1) OR (o.state = 'claimed' AND o.lease_until <= $1))
           AND ($2 IS NULL OR o.store = $2)
           AND (o.store, o.listing, o.lane) NOT IN (SELECT b.store, b.listing, b.lane FROM outbox b
                 WHERE b.company = $4 AND b.state = 'claimed' AND b.lease_until > $1
                   AND (CAST($2 AS TEXT) IS NULL OR b.store = $2))
         ORDER BY o.next_attempt_at, o.id LIMIT $3{}",
        D::skip_locked()
    ))
    .bind(ms(claim.now))
    .bind(claim.store.as_ref().map(channel_core::StoreId::as_str))
    .bind(D::limit(Some(claim.limit.saturating_mul(2).saturating_add(16))))
    .bind(co);
    tx.fetch_all(q).await?.iter().map(outbox_item::<D>).collect()
}

/// Where the dialect has lane locks: lock the lane for the rest of this transaction, then look again with
/// a fresh statement. A worker that claimed another item of this lane since our candidate query began has
/// either not committed (it holds the lock: skip) or has (its claim is visible now: skip).
async fn lane_still_free<D: Dialect>(
    tx: &mut Session<D>,
    co: &str,
    item: &OutboxItem,
    claim: &ClaimRequest,
) -> Result<bool> {
    let Some(locks) = D::LOCKS else { return Ok(true) };
    let lane = item.push.action.lane().as_str();
    let key = format!("{co}\u{1f}{}\u{1f}{}\u{1f}{}", item.push.store, item.push.listing, lane);
    let row = tx.fetch_one(sql(locks.try_lane).bind(key)).await?;
    if !D::boolean(&row, "locked").map_err(super::db::<D>)? {
        return Ok(false);
    }
    let q = sql("SELECT 1 AS one FROM outbox WHERE company = $6 AND store = $1 AND listing = $2 AND lane = $3
         AND state = 'claimed' AND lease_until > $4 AND id <> $5")
    .bind(item.push.store.as_str())
    .bind(item.push.listing.as_str())
    .bind(lane)
    .bind(ms(claim.now))
    .bind(item.id)
    .bind(co);
    Ok(tx.fetch_optional(q).await?.is_none())
}

/// Claim one item for `claim.worker` under a new token.
async fn take<D: Dialect>(tx: &mut Session<D>, item: &mut OutboxItem, claim: &ClaimRequest) -> Result<()> {
    let token = uuid::Uuid::new_v4().to_string();
    let q = sql("UPDATE outbox SET state = 'claimed', attempts = attempts + 1, claimed_by = $1, claim_token = $2,
         lease_until = $3, updated_at = $4 WHERE id = $5")
    .bind(&claim.worker)
    .bind(&token)
    .bind(ms(claim.lease_until))
    .bind(ms(claim.now))
    .bind(item.id);
    tx.execute(q).await?;
    item.state = OutboxState::Claimed;
    item.attempts += 1;
    item.claimed_by = Some(claim.worker.clone());
    item.claim_token = Some(token);
    item.lease_until = Some(claim.lease_until);
    item.updated_at = claim.now;
    Ok(())
}

/// Finish one claimed item in its own transaction.
pub(super) async fn finish<D: Dialect>(
    store: &SqlStore<D>,
    id: i64,
    token: &str,
    result: OutboxResult,
    now: Timestamp,
) -> Result<()> {
    let mut tx = store.write().await?;
    finish_in(&mut tx, store.co(), id, token, result, now).await??;
    tx.commit().await
}

/// Finish many claimed items in one transaction, in id order (the order locks are taken in), answered in
/// the caller's order.
pub(super) async fn finish_many<D: Dialect>(
    store: &SqlStore<D>,
    mut items: Vec<OutboxFinish>,
    now: Timestamp,
) -> Result<Vec<Result<()>>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].id);
    let mut results: Vec<Result<()>> = items.iter().map(|_| Ok(())).collect();
    let mut tx = store.write().await?;
    for i in order {
        let item = &mut items[i];
        let result = std::mem::replace(&mut item.result, OutboxResult::Done);
        results[i] = finish_in(&mut tx, store.co(), item.id, &item.token, result, now).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// Finish one claimed item inside `tx`. The outer error is the database's (abort the transaction); the
/// inner one the item's (not found, claim no longer held), with nothing written for it.
async fn finish_in<D: Dialect>(
    tx: &mut Session<D>,
    co: &str,
    id: i64,
    token: &str,
    result: OutboxResult,
    now: Timestamp,
) -> Result<Result<()>> {
    let q = sql(format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1 AND company = $2{}", D::for_update()))
        .bind(id)
        .bind(co);
    let Some(row) = tx.fetch_optional(q).await? else {
        return Ok(Err(StoreError::NotFound(format!("outbox item {id}"))));
    };
    let item = outbox_item::<D>(&row)?;
    if item.state != OutboxState::Claimed || item.claim_token.as_deref() != Some(token) {
        return Ok(Err(StoreError::conflict(format!("outbox item {id} (claim no longer held)"), 0, None)));
    }
    match result {
        OutboxResult::Done => {
            tx.execute(sql("DELETE FROM outbox WHERE id = $1").bind(id)).await?;
        }
        OutboxResult::Retry { error, at } => retry(tx, co, &item, &error, at, now).await?,
        OutboxResult::Dead { reason } => {
            let q = sql("UPDATE outbox SET state = 'dead', last_error = $1, claimed_by = NULL, claim_token = NULL,
                 lease_until = NULL, updated_at = $2 WHERE id = $3")
            .bind(reason)
            .bind(ms(now))
            .bind(id);
            tx.execute(q).await?;
        }
    }
    Ok(Ok(()))
}

/// Put a failed item back in the queue, due at `at`; folded into the lane's pending item if a newer push
/// was queued meanwhile.
async fn retry<D: Dialect>(
    tx: &mut Session<D>,
    co: &str,
    item: &OutboxItem,
    error: &str,
    at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    if let Some(p) = tx.fetch_optional(pending_in_lane::<D>(co, &item.push)).await? {
        let p = Cols::<D>(&p);
        let newer: PushAction = p.json("action")?;
        let q = sql("UPDATE outbox SET action = $1, last_error = $2, updated_at = $3 WHERE id = $4")
            .bind(json(&item.push.action.coalesce(&newer))?)
            .bind(error)
            .bind(ms(now))
            .bind(p.int("id")?);
        tx.execute(q).await?;
        tx.execute(sql("DELETE FROM outbox WHERE id = $1").bind(item.id)).await?;
        return Ok(());
    }
    let q = sql("UPDATE outbox SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_by = NULL,
         claim_token = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4")
    .bind(ms(at))
    .bind(error)
    .bind(ms(now))
    .bind(item.id);
    tx.execute(q).await?;
    Ok(())
}

impl<D: Dialect> SqlStore<D> {
    /// Renew outbox claims a few hundred per statement (row values against a `VALUES` list), all in one
    /// transaction: a whole Amazon feed is renewed in tens of statements, not one per item.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) async fn renew_outbox_in_chunks(&self, claims: &[(i64, String)], until: Timestamp) -> Result<usize> {
        const PER_STATEMENT: usize = 400;
        let mut tx = self.write().await?;
        let mut renewed = 0;
        for chunk in claims.chunks(PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 2 * i + 3, 2 * i + 4)).collect();
            let mut q = sql(format!(
                "UPDATE outbox SET lease_until = $1 WHERE company = $2 AND state = 'claimed'
                 AND (id, claim_token) IN (VALUES {})",
                values.join(", ")
            ))
            .bind(ms(until))
            .bind(self.co());
            for (id, token) in chunk {
                q = q.bind(*id).bind(Arg::from(token));
            }
            renewed += usize::try_from(tx.execute(q).await?).unwrap_or(0);
        }
        tx.commit().await?;
        Ok(renewed)
    }
}
