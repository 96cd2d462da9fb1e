//! [`MemoryStore`]: the whole store in one mutex, for tests and short-lived hosts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use channel_core::{ListingId, OrderId, Sku, StoreId};
use jiff::Timestamp;

use super::StoreError as Error;
use super::*;

type Result<T, E = Error> = std::result::Result<T, E>;

/// A [`Store`] in memory. Every operation takes one lock, so batches are atomic and claims exclusive.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    connections: BTreeMap<StoreId, ConnectionRecord>,
    products: BTreeMap<Sku, ProductRecord>,
    listings: BTreeMap<(StoreId, ListingId), ListingRecord>,
    ledger: Vec<Movement>,
    next_movement: i64,
    order_lines: BTreeMap<(StoreId, OrderId, String), OrderLineRecord>,
    deliveries: BTreeMap<(StoreId, String), DeliveryRecord>,
    cursors: BTreeMap<(StoreId, String), String>,
    outbox: BTreeMap<i64, OutboxItem>,
    next_outbox: i64,
    leases: BTreeMap<StoreId, (String, Timestamp)>,
    sync_requests: BTreeMap<StoreId, SyncRequest>,
    audit: Vec<AuditEntry>,
    next_audit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Connection(StoreId),
    Listing(StoreId, ListingId),
    Line(StoreId, OrderId, String),
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied batch: batches are validated before
        // anything is written and the apply phase does not panic, so the state is consistent; carry on.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn check_version(
    overlay: &mut HashMap<Key, Option<u64>>,
    key: Key,
    stored: Option<u64>,
    expected: u64,
    what: impl FnOnce() -> String,
) -> Result<()> {
    let current = overlay.get(&key).copied().unwrap_or(stored);
    match (expected, current) {
        (0, None) => {}
        (0, Some(_)) => return Err(Error::AlreadyExists(what())),
        (e, Some(c)) if e == c => {}
        (e, found) => return Err(Error::conflict(what(), e, found)),
    }
    overlay.insert(key, Some(expected + 1));
    Ok(())
}

impl State {
    /// Check every precondition; `Ok(false)` for a duplicate once-only row.
    fn validate(&self, batch: &WriteBatch) -> Result<bool> {
        let mut overlay: HashMap<Key, Option<u64>> = HashMap::new();
        let mut deliveries: BTreeSet<(StoreId, String)> = BTreeSet::new();
        let mut moved: HashMap<&Sku, i64> = HashMap::new();
        for op in &batch.ops {
            match op {
                WriteOp::PutCompany(_) => todo!("issue 15 skeleton"),
                WriteOp::PutConnection(c) => {
                    let stored = self.connections.get(&c.store).map(|r| r.version);
                    check_version(&mut overlay, Key::Connection(c.store.clone()), stored, c.version, || {
                        format!("connection {}", c.store)
                    })?;
                }
                WriteOp::RecordHealth { store, .. } => {
                    let key = Key::Connection(store.clone());
                    let exists = match overlay.get(&key) {
                        Some(v) => v.is_some(),
                        None => self.connections.contains_key(store),
                    };
                    if !exists {
                        return Err(Error::NotFound(format!("connection {store}")));
                    }
                }
                WriteOp::PutListing(l) => {
                    let stored = self.listings.get(&(l.store.clone(), l.listing.clone())).map(|r| r.version);
                    check_version(
                        &mut overlay,
                        Key::Listing(l.store.clone(), l.listing.clone()),
                        stored,
                        l.version,
                        || format!("listing {}/{}", l.store, l.listing),
                    )?;
                }
                WriteOp::DeleteListing { store, listing } => {
                    overlay.insert(Key::Listing(store.clone(), listing.clone()), None);
                }
                WriteOp::PutOrderLine(o) => {
                    let key = Key::Line(o.store.clone(), o.order.clone(), o.line.clone());
                    let stored =
                        self.order_lines.get(&(o.store.clone(), o.order.clone(), o.line.clone())).map(|r| r.version);
                    let current = overlay.get(&key).copied().unwrap_or(stored);
                    if o.version == 0 && current.is_some() {
                        return Ok(false);
                    }
                    check_version(&mut overlay, key, current, o.version, || {
                        format!("order line {}/{}/{}", o.store, o.order, o.line)
                    })?;
                }
                WriteOp::RecordDelivery(d) => {
                    let key = (d.store.clone(), d.delivery_id.clone());
                    if self.deliveries.contains_key(&key) || !deliveries.insert(key) {
                        return Ok(false);
                    }
                }
                WriteOp::RecordMovement(m) => *moved.entry(&m.sku).or_default() += m.delta,
                WriteOp::Check(Precondition::ListingVersion { store, listing, version }) => {
                    let key = Key::Listing(store.clone(), listing.clone());
                    let stored = self.listings.get(&(store.clone(), listing.clone())).map(|r| r.version);
                    let current = overlay.get(&key).copied().unwrap_or(stored);
                    if current != Some(*version) {
                        return Err(Error::conflict(format!("listing {store}/{listing}"), *version, current));
                    }
                }
                WriteOp::Check(Precondition::LedgerBalance { sku, balance }) => {
                    let found: i64 =
                        self.ledger.iter().filter(|m| &m.movement.sku == sku).map(|m| m.movement.delta).sum::<i64>()
                            + moved.get(sku).copied().unwrap_or(0);
                    if found != *balance {
                        return Err(Error::conflict(
                            format!("ledger balance of {sku} ({found}, expected {balance})"),
                            0,
                            None,
                        ));
                    }
                }
                WriteOp::PutProduct(p) => p.check_storable()?,
                WriteOp::DeleteProduct(_)
                | WriteOp::SetCursor { .. }
                | WriteOp::Enqueue { .. }
                | WriteOp::DropOutbox(_)
                | WriteOp::ReleaseOutbox { .. }
                | WriteOp::Audit(_)
                | WriteOp::RequestSync(_) => {}
            }
        }
        Ok(true)
    }

    /// Apply a validated batch (cannot fail).
    fn apply(&mut self, batch: WriteBatch) {
        for op in batch.ops {
            match op {
                WriteOp::PutCompany(_) => todo!("issue 15 skeleton"),
                WriteOp::PutConnection(mut c) => {
                    if let Some(old) = self.connections.get(&c.store) {
                        c.health = old.health.clone();
                    }
                    c.version += 1;
                    self.connections.insert(c.store.clone(), c);
                }
                WriteOp::RecordHealth { store, event } => {
                    if let Some(c) = self.connections.get_mut(&store) {
                        c.health.apply(&event);
                    }
                }
                WriteOp::PutProduct(p) => {
                    self.products.insert(p.sku.clone(), p);
                }
                WriteOp::DeleteProduct(sku) => {
                    self.products.remove(&sku);
                }
                WriteOp::PutListing(mut l) => {
                    l.version += 1;
                    self.listings.insert((l.store.clone(), l.listing.clone()), l);
                }
                WriteOp::DeleteListing { store, listing } => {
                    self.listings.remove(&(store, listing));
                }
                WriteOp::RecordMovement(m) => {
                    self.next_movement += 1;
                    self.ledger.push(Movement { id: self.next_movement, movement: m });
                }
                WriteOp::PutOrderLine(mut o) => {
                    o.version += 1;
                    self.order_lines.insert((o.store.clone(), o.order.clone(), o.line.clone()), o);
                }
                WriteOp::RecordDelivery(d) => {
                    self.deliveries.insert((d.store.clone(), d.delivery_id.clone()), d);
                }
                WriteOp::SetCursor { store, name, value } => {
                    self.cursors.insert((store, name), value);
                }
                WriteOp::Enqueue { push, now } => self.enqueue(push, now),
                WriteOp::DropOutbox(store) => {
                    self.outbox.retain(|_, i| i.push.store != store || i.state == OutboxState::Dead);
                }
                WriteOp::ReleaseOutbox { store, now } => {
                    let held = self.outbox.values_mut().filter(|i| {
                        i.push.store == store && i.state == OutboxState::Pending && i.next_attempt_at > now
                    });
                    for item in held {
                        item.next_attempt_at = now;
                    }
                }
                WriteOp::Audit(mut a) => {
                    self.next_audit += 1;
                    a.id = self.next_audit;
                    self.audit.push(a);
                }
                WriteOp::RequestSync(r) => {
                    // A newer request replaces the queued one, claimed or not: it runs (again) unclaimed.
                    let r = SyncRequest::new(r.store, r.requested_by, r.requested_at);
                    self.sync_requests.insert(r.store.clone(), r);
                }
                WriteOp::Check(_) => {}
            }
        }
    }

    fn pending_in_lane(&self, store: &StoreId, listing: &ListingId, lane: Lane, except: i64) -> Option<i64> {
        self.outbox
            .values()
            .find(|i| {
                i.id != except
                    && i.state == OutboxState::Pending
                    && &i.push.store == store
                    && &i.push.listing == listing
                    && i.push.action.lane() == lane
            })
            .map(|i| i.id)
    }

    fn enqueue(&mut self, push: OutboxPush, now: Timestamp) {
        let lane = push.action.lane();
        if let Some(id) = self.pending_in_lane(&push.store, &push.listing, lane, 0)
            && let Some(item) = self.outbox.get_mut(&id)
        {
            item.push.action = item.push.action.coalesce(&push.action);
            item.push.reason = push.reason;
            item.updated_at = now;
            return;
        }
        self.next_outbox += 1;
        let id = self.next_outbox;
        self.outbox.insert(
            id,
            OutboxItem {
                id,
                push,
                state: OutboxState::Pending,
                attempts: 0,
                next_attempt_at: now,
                claimed_by: None,
                claim_token: None,
                lease_until: None,
                last_error: None,
                created_at: now,
                updated_at: now,
            },
        );
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn commit(&self, batch: WriteBatch) -> Result<bool> {
        let mut state = self.lock();
        if !state.validate(&batch)? {
            return Ok(false);
        }
        state.apply(batch);
        Ok(true)
    }

    async fn connection(&self, store: &StoreId) -> Result<Option<ConnectionRecord>> {
        Ok(self.lock().connections.get(store).cloned())
    }

    async fn connections(&self, filter: &ConnectionFilter) -> Result<Vec<ConnectionRecord>> {
        Ok(self.lock().connections.values().filter(|c| filter.matches(c)).cloned().collect())
    }

    async fn product(&self, sku: &Sku) -> Result<Option<ProductRecord>> {
        Ok(self.lock().products.get(sku).cloned())
    }

    async fn products(&self) -> Result<Vec<ProductRecord>> {
        Ok(self.lock().products.values().cloned().collect())
    }

    async fn listing(&self, store: &StoreId, listing: &ListingId) -> Result<Option<ListingRecord>> {
        Ok(self.lock().listings.get(&(store.clone(), listing.clone())).cloned())
    }

    async fn listings(&self, filter: &ListingFilter) -> Result<Vec<ListingRecord>> {
        Ok(self.lock().listings.values().filter(|l| filter.matches(l)).cloned().collect())
    }

    async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<Movement>> {
        let state = self.lock();
        let it = state.ledger.iter().filter(|m| filter.matches(m)).cloned();
        Ok(match filter.limit {
            Some(n) => it.take(n).collect(),
            None => it.collect(),
        })
    }

    async fn ledger_balance(&self, sku: &Sku) -> Result<i64> {
        Ok(self.lock().ledger.iter().filter(|m| &m.movement.sku == sku).map(|m| m.movement.delta).sum())
    }

    async fn order_line(&self, store: &StoreId, order: &OrderId, line: &str) -> Result<Option<OrderLineRecord>> {
        Ok(self.lock().order_lines.get(&(store.clone(), order.clone(), line.to_owned())).cloned())
    }

    async fn held_order_lines(&self) -> Result<Vec<OrderLineRecord>> {
        let mut held: Vec<OrderLineRecord> = self.lock().order_lines.values().filter(|l| l.held).cloned().collect();
        held.sort_by(|a, b| {
            (a.first_seen_at, &a.store, &a.order, &a.line).cmp(&(b.first_seen_at, &b.store, &b.order, &b.line))
        });
        Ok(held)
    }

    async fn delivery_seen(&self, store: &StoreId, delivery_id: &str) -> Result<bool> {
        Ok(self.lock().deliveries.contains_key(&(store.clone(), delivery_id.to_owned())))
    }

    async fn cursor(&self, store: &StoreId, name: &str) -> Result<Option<String>> {
        Ok(self.lock().cursors.get(&(store.clone(), name.to_owned())).cloned())
    }

    async fn claim_outbox(&self, claim: &ClaimRequest) -> Result<Vec<OutboxItem>> {
        let mut state = self.lock();
        let now = claim.now;
        let mut busy: BTreeSet<(StoreId, ListingId, &'static str)> = state
            .outbox
            .values()
            .filter(|i| i.state == OutboxState::Claimed && i.lease_until.is_some_and(|t| t > now))
            .map(|i| (i.push.store.clone(), i.push.listing.clone(), i.push.action.lane().as_str()))
            .collect();
        let mut due: Vec<&OutboxItem> = state
            .outbox
            .values()
            .filter(|i| claim.store.as_ref().is_none_or(|s| &i.push.store == s))
            .filter(|i| match i.state {
                OutboxState::Pending => i.next_attempt_at <= now,
                OutboxState::Claimed => i.lease_until.is_some_and(|t| t <= now),
                OutboxState::Dead => false,
            })
            .collect();
        due.sort_by_key(|i| (i.next_attempt_at, i.id));
        let mut chosen = Vec::new();
        for item in due {
            if chosen.len() >= claim.limit {
                break;
            }
            if busy.insert((item.push.store.clone(), item.push.listing.clone(), item.push.action.lane().as_str())) {
                chosen.push(item.id);
            }
        }
        let mut out = Vec::with_capacity(chosen.len());
        for id in chosen {
            if let Some(item) = state.outbox.get_mut(&id) {
                item.state = OutboxState::Claimed;
                item.attempts += 1;
                item.claimed_by = Some(claim.worker.clone());
                item.claim_token = Some(uuid::Uuid::new_v4().to_string());
                item.lease_until = Some(claim.lease_until);
                item.updated_at = now;
                out.push(item.clone());
            }
        }
        Ok(out)
    }

    async fn finish_outbox(&self, id: i64, token: &str, result: OutboxResult, now: Timestamp) -> Result<()> {
        let mut state = self.lock();
        let item = state.outbox.get(&id).ok_or_else(|| Error::NotFound(format!("outbox item {id}")))?;
        if item.state != OutboxState::Claimed || item.claim_token.as_deref() != Some(token) {
            return Err(Error::conflict(format!("outbox item {id} (claim no longer held)"), 0, None));
        }
        let (store, listing, lane, action) =
            (item.push.store.clone(), item.push.listing.clone(), item.push.action.lane(), item.push.action.clone());
        match result {
            OutboxResult::Done => {
                state.outbox.remove(&id);
            }
            OutboxResult::Retry { error, at } => {
                if let Some(pending) = state.pending_in_lane(&store, &listing, lane, id) {
                    if let Some(p) = state.outbox.get_mut(&pending) {
                        p.push.action = action.coalesce(&p.push.action);
                        p.last_error = Some(error);
                        p.updated_at = now;
                    }
                    state.outbox.remove(&id);
                } else if let Some(item) = state.outbox.get_mut(&id) {
                    item.state = OutboxState::Pending;
                    item.next_attempt_at = at;
                    item.last_error = Some(error);
                    item.claimed_by = None;
                    item.claim_token = None;
                    item.lease_until = None;
                    item.updated_at = now;
                }
            }
            OutboxResult::Dead { reason } => {
                if let Some(item) = state.outbox.get_mut(&id) {
                    item.state = OutboxState::Dead;
                    item.last_error = Some(reason);
                    item.claimed_by = None;
                    item.claim_token = None;
                    item.lease_until = None;
                    item.updated_at = now;
                }
            }
        }
        Ok(())
    }

    async fn renew_outbox(&self, claims: &[(i64, String)], until: Timestamp) -> Result<usize> {
        let mut state = self.lock();
        let mut renewed = 0;
        for (id, token) in claims {
            if let Some(item) = state.outbox.get_mut(id)
                && item.state == OutboxState::Claimed
                && item.claim_token.as_deref() == Some(token.as_str())
            {
                item.lease_until = Some(until);
                renewed += 1;
            }
        }
        Ok(renewed)
    }

    async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>> {
        Ok(self.lock().outbox.values().filter(|i| filter.matches(i)).cloned().collect())
    }

    async fn acquire_lease(&self, store: &StoreId, holder: &str, until: Timestamp, now: Timestamp) -> Result<bool> {
        let mut state = self.lock();
        let free = match state.leases.get(store) {
            None => true,
            Some((h, t)) => h == holder || *t <= now,
        };
        if free {
            state.leases.insert(store.clone(), (holder.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_lease(&self, store: &StoreId, holder: &str) -> Result<bool> {
        let mut state = self.lock();
        if state.leases.get(store).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(store);
            return Ok(true);
        }
        Ok(false)
    }

    async fn claim_sync_requests(&self, claim: &ClaimRequest) -> Result<Vec<SyncRequest>> {
        let mut state = self.lock();
        let now = claim.now;
        let mut due: Vec<&SyncRequest> = state
            .sync_requests
            .values()
            .filter(|r| claim.store.as_ref().is_none_or(|s| &r.store == s))
            .filter(|r| r.claim_token.is_none() || r.lease_until.is_none_or(|t| t <= now))
            .collect();
        due.sort_by(|a, b| (a.requested_at, &a.store).cmp(&(b.requested_at, &b.store)));
        let chosen: Vec<StoreId> = due.into_iter().take(claim.limit).map(|r| r.store.clone()).collect();
        let mut out = Vec::with_capacity(chosen.len());
        for store in chosen {
            if let Some(r) = state.sync_requests.get_mut(&store) {
                r.claimed_by = Some(claim.worker.clone());
                r.claim_token = Some(uuid::Uuid::new_v4().to_string());
                r.lease_until = Some(claim.lease_until);
                out.push(r.clone());
            }
        }
        Ok(out)
    }

    async fn renew_sync_request(&self, store: &StoreId, token: &str, until: Timestamp) -> Result<bool> {
        let mut state = self.lock();
        match state.sync_requests.get_mut(store) {
            Some(r) if r.claim_token.as_deref() == Some(token) => {
                r.lease_until = Some(until);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn finish_sync_request(&self, store: &StoreId, token: &str) -> Result<bool> {
        let mut state = self.lock();
        if state.sync_requests.get(store).is_some_and(|r| r.claim_token.as_deref() == Some(token)) {
            state.sync_requests.remove(store);
            return Ok(true);
        }
        Ok(false)
    }

    async fn sync_requests(&self) -> Result<Vec<SyncRequest>> {
        let mut all: Vec<SyncRequest> = self.lock().sync_requests.values().cloned().collect();
        all.sort_by(|a, b| (a.requested_at, &a.store).cmp(&(b.requested_at, &b.store)));
        Ok(all)
    }

    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let state = self.lock();
        let it = state.audit.iter().filter(|a| filter.matches(a)).cloned();
        Ok(match filter.limit {
            Some(n) => it.take(n).collect(),
            None => it.collect(),
        })
    }

    async fn purge_store(&self, store: &StoreId) -> Result<PurgeReport> {
        let mut state = self.lock();
        let mut report = PurgeReport::default();
        state.connections.remove(store);
        let own: BTreeSet<Sku> =
            state.listings.values().filter(|l| &l.store == store).filter_map(|l| l.sku.clone()).collect();
        let before = state.listings.len();
        state.listings.retain(|(s, _), _| s != store);
        report.listings = (before - state.listings.len()) as u64;
        let listed_elsewhere: BTreeSet<Sku> = state.listings.values().filter_map(|l| l.sku.clone()).collect();
        let mut remove: BTreeSet<Sku> =
            own.into_iter().filter(|s| !listed_elsewhere.contains(s) && state.products.contains_key(s)).collect();
        keep_needed_components(&state.products, &mut remove);
        for sku in &remove {
            state.products.remove(sku);
        }
        let before = state.ledger.len();
        state.ledger.retain(|m| !remove.contains(&m.movement.sku));
        report.movements = (before - state.ledger.len()) as u64;
        report.products = remove.into_iter().collect();
        let before = state.order_lines.len();
        state.order_lines.retain(|(s, _, _), _| s != store);
        report.order_lines = (before - state.order_lines.len()) as u64;
        state.deliveries.retain(|(s, _), _| s != store);
        state.cursors.retain(|(s, _), _| s != store);
        let before = state.outbox.len();
        state.outbox.retain(|_, i| &i.push.store != store);
        report.outbox_items = (before - state.outbox.len()) as u64;
        state.leases.remove(store);
        state.sync_requests.remove(store);
        Ok(report)
    }
    fn company_id(&self) -> &crate::store::CompanyId {
        todo!("issue 15 skeleton")
    }
    fn for_company(&self, _company: &crate::store::CompanyId) -> std::sync::Arc<dyn crate::store::Store> {
        todo!("issue 15 skeleton")
    }
    async fn company(
        &self,
        _id: &crate::store::CompanyId,
    ) -> Result<Option<crate::store::CompanyRecord>, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn companies(&self) -> Result<Vec<crate::store::CompanyRecord>, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn purge_company(
        &self,
        _id: &crate::store::CompanyId,
    ) -> Result<Option<crate::store::PurgeReport>, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn locate_store(
        &self,
        _store: &channel_core::StoreId,
    ) -> Result<Option<crate::store::ConnectionRecord>, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn sku_owners(
        &self,
        _skus: &[channel_core::Sku],
    ) -> Result<std::collections::BTreeMap<channel_core::Sku, Vec<crate::store::CompanyId>>, crate::store::StoreError>
    {
        todo!("issue 15 skeleton")
    }
    async fn worker_heartbeat(
        &self,
        _worker: &str,
        _until: jiff::Timestamp,
        _now: jiff::Timestamp,
    ) -> Result<Vec<crate::store::WorkerRecord>, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn worker_gone(&self, _worker: &str) -> Result<(), crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn acquire_company_lease(
        &self,
        _company: &crate::store::CompanyId,
        _holder: &str,
        _until: jiff::Timestamp,
        _now: jiff::Timestamp,
    ) -> Result<bool, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn release_company_lease(
        &self,
        _company: &crate::store::CompanyId,
        _holder: &str,
    ) -> Result<bool, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn company_leases(&self) -> Result<Vec<crate::store::CompanyLease>, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn inbox_put(&self, _item: crate::store::InboxItem) -> Result<bool, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn inbox(&self, _limit: usize) -> Result<Vec<crate::store::InboxItem>, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
    async fn inbox_done(&self, _id: i64) -> Result<bool, crate::store::StoreError> {
        todo!("issue 15 skeleton")
    }
}

/// Remove from `remove` every SKU that is a component of a product that stays (to a fixed point).
pub(crate) fn keep_needed_components(products: &BTreeMap<Sku, ProductRecord>, remove: &mut BTreeSet<Sku>) {
    loop {
        let needed: Vec<Sku> = products
            .values()
            .filter(|p| !remove.contains(&p.sku))
            .flat_map(|p| p.components.iter().map(|c| c.sku.clone()))
            .filter(|s| remove.contains(s))
            .collect();
        if needed.is_empty() {
            return;
        }
        for s in needed {
            remove.remove(&s);
        }
    }
}
