//! [`MemoryStore`]: the whole store in one mutex, for tests and short-lived hosts.
//!
//! One root holds the companies, the connections (keyed by store: store ids are unique across companies),
//! one [`State`] per company with everything a company's view reads and writes, and the root-level rows
//! (company leases, workers, the webhook inbox). A [`MemoryStore`] is a view of one company over a shared
//! root; [`Store::for_company`] hands out another view of the same root.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use channel_core::{ListingId, OrderId, Sku, StoreId};
use jiff::Timestamp;

use super::StoreError as Error;
use super::*;

type Result<T, E = Error> = std::result::Result<T, E>;

/// A [`Store`] in memory. Every operation takes one lock, so batches are atomic and claims exclusive.
///
/// [`MemoryStore::new`] is the default company's view of a fresh store that holds the
/// [`CompanyId::DEFAULT`] company row; [`Store::for_company`] gives other companies' views of it.
#[derive(Debug)]
pub struct MemoryStore {
    company: CompanyId,
    shared: Arc<Mutex<Root>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything, for every company.
#[derive(Debug, Default)]
struct Root {
    companies: BTreeMap<CompanyId, CompanyRecord>,
    connections: BTreeMap<StoreId, ConnectionRecord>,
    states: BTreeMap<CompanyId, State>,
    company_leases: BTreeMap<CompanyId, (String, Timestamp)>,
    workers: BTreeMap<String, Timestamp>,
    inbox: BTreeMap<i64, InboxItem>,
    ids: Ids,
}

/// The id sequences, shared by every company (ids only need to be unique and increasing).
#[derive(Debug, Default)]
struct Ids {
    movement: i64,
    outbox: i64,
    audit: i64,
    inbox: i64,
}

/// One company's rows (including its rows about global stores).
#[derive(Debug, Default)]
struct State {
    products: BTreeMap<Sku, ProductRecord>,
    listings: BTreeMap<(StoreId, ListingId), ListingRecord>,
    ledger: Vec<Movement>,
    order_lines: BTreeMap<(StoreId, OrderId, String), OrderLineRecord>,
    deliveries: BTreeMap<(StoreId, String), DeliveryRecord>,
    cursors: BTreeMap<(StoreId, String), String>,
    outbox: BTreeMap<i64, OutboxItem>,
    leases: BTreeMap<StoreId, (String, Timestamp)>,
    sync_requests: BTreeMap<StoreId, SyncRequest>,
    audit: Vec<AuditEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Company(CompanyId),
    Connection(StoreId),
    Listing(StoreId, ListingId),
    Line(StoreId, OrderId, String),
}

impl MemoryStore {
    /// An empty store: the default company's view, with the default company's row (created at the Unix
    /// epoch: the store never reads the clock).
    pub fn new() -> Self {
        let default = CompanyId::default_company();
        let mut record = CompanyRecord::new(default.clone(), "Default", Timestamp::UNIX_EPOCH);
        record.version = 1;
        let mut root = Root::default();
        root.companies.insert(default.clone(), record);
        Self { company: default, shared: Arc::new(Mutex::new(root)) }
    }

    fn lock(&self) -> MutexGuard<'_, Root> {
        // A panic while holding the lock cannot leave a half-applied batch: batches are validated before
        // anything is written and the apply phase does not panic, so the state is consistent; carry on.
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Read the view's company state (an empty one when the company has written nothing yet).
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        let root = self.lock();
        match root.states.get(&self.company) {
            Some(state) => f(state),
            None => f(&State::default()),
        }
    }

    /// Write the view's company state.
    fn write<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut root = self.lock();
        f(root.states.entry(self.company.clone()).or_default())
    }
}

/// Whether a connection is seen by a company's view: its own client connections and the global ones.
fn visible(c: &ConnectionRecord, company: &CompanyId) -> bool {
    match &c.scope {
        Scope::Global => true,
        Scope::Client(owner) => owner == company,
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

/// Add one purge's counts to another's.
fn merge(into: &mut PurgeReport, more: PurgeReport) {
    into.listings += more.listings;
    into.order_lines += more.order_lines;
    into.products.extend(more.products);
    into.movements += more.movements;
    into.outbox_items += more.outbox_items;
}

fn count(before: usize, after: usize) -> u64 {
    u64::try_from(before - after).unwrap_or(u64::MAX)
}

impl Root {
    /// Check every precondition of a batch written through `company`'s view; `Ok(false)` for a duplicate
    /// once-only row.
    fn validate(&self, company: &CompanyId, batch: &WriteBatch) -> Result<bool> {
        let empty = State::default();
        let state = self.states.get(company).unwrap_or(&empty);
        let mut overlay: HashMap<Key, Option<u64>> = HashMap::new();
        let mut deliveries: BTreeSet<(StoreId, String)> = BTreeSet::new();
        let mut moved: HashMap<&Sku, i64> = HashMap::new();
        for op in &batch.ops {
            match op {
                WriteOp::PutCompany(c) => {
                    let stored = self.companies.get(&c.id).map(|r| r.version);
                    check_version(&mut overlay, Key::Company(c.id.clone()), stored, c.version, || {
                        format!("company {}", c.id)
                    })?;
                }
                WriteOp::PutConnection(c) => self.check_connection(company, &mut overlay, c)?,
                WriteOp::RecordHealth { store, .. } => {
                    let exists = match overlay.get(&Key::Connection(store.clone())) {
                        Some(v) => v.is_some(),
                        None => self.connections.get(store).is_some_and(|c| visible(c, company)),
                    };
                    if !exists {
                        return Err(Error::NotFound(format!("connection {store}")));
                    }
                }
                WriteOp::PutOrderLine(o) => {
                    let key = Key::Line(o.store.clone(), o.order.clone(), o.line.clone());
                    let stored =
                        state.order_lines.get(&(o.store.clone(), o.order.clone(), o.line.clone())).map(|r| r.version);
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
                    if state.deliveries.contains_key(&key) || !deliveries.insert(key) {
                        return Ok(false);
                    }
                }
                WriteOp::RecordMovement(m) => *moved.entry(&m.sku).or_default() += m.delta,
                op => state.check_catalog(op, &mut overlay, &moved)?,
            }
        }
        Ok(true)
    }

    /// A connection written through `company`'s view: a client connection must be the company's own, and a
    /// store id another company holds is taken.
    fn check_connection(
        &self,
        company: &CompanyId,
        overlay: &mut HashMap<Key, Option<u64>>,
        c: &ConnectionRecord,
    ) -> Result<()> {
        if let Scope::Client(owner) = &c.scope
            && owner != company
        {
            return Err(Error::Invalid(format!(
                "connection {} belongs to company {owner}, not to the view's company {company}",
                c.store
            )));
        }
        let stored = match self.connections.get(&c.store) {
            Some(r) if visible(r, company) => Some(r.version),
            Some(_) if c.version == 0 => {
                return Err(Error::AlreadyExists(format!("connection {} (in another company)", c.store)));
            }
            Some(_) => return Err(Error::conflict(format!("connection {}", c.store), c.version, None)),
            None => None,
        };
        check_version(overlay, Key::Connection(c.store.clone()), stored, c.version, || {
            format!("connection {}", c.store)
        })
    }

    /// Apply a batch validated for `company`'s view (cannot fail).
    fn apply(&mut self, company: &CompanyId, batch: WriteBatch) {
        let Self { companies, connections, states, ids, .. } = self;
        let state = states.entry(company.clone()).or_default();
        for op in batch.ops {
            match op {
                WriteOp::PutCompany(mut c) => {
                    c.version += 1;
                    companies.insert(c.id.clone(), c);
                }
                WriteOp::PutConnection(mut c) => {
                    if let Some(old) = connections.get(&c.store) {
                        c.health = old.health.clone();
                    }
                    c.version += 1;
                    connections.insert(c.store.clone(), c);
                }
                WriteOp::RecordHealth { store, event } => {
                    if let Some(c) = connections.get_mut(&store) {
                        c.health.apply(&event);
                    }
                }
                op => state.apply(op, ids),
            }
        }
    }
}

impl State {
    /// The checks of the catalog writes and preconditions ([`Root::validate`] does the rest).
    fn check_catalog(
        &self,
        op: &WriteOp,
        overlay: &mut HashMap<Key, Option<u64>>,
        moved: &HashMap<&Sku, i64>,
    ) -> Result<()> {
        match op {
            WriteOp::PutListing(l) => {
                let stored = self.listings.get(&(l.store.clone(), l.listing.clone())).map(|r| r.version);
                check_version(overlay, Key::Listing(l.store.clone(), l.listing.clone()), stored, l.version, || {
                    format!("listing {}/{}", l.store, l.listing)
                })?;
            }
            WriteOp::DeleteListing { store, listing } => {
                overlay.insert(Key::Listing(store.clone(), listing.clone()), None);
            }
            WriteOp::Check(Precondition::ListingVersion { store, listing, version }) => {
                let key = Key::Listing(store.clone(), listing.clone());
                let stored = self.listings.get(&(store.clone(), listing.clone())).map(|r| r.version);
                let current = overlay.get(&key).copied().unwrap_or(stored);
                if current != Some(*version) {
                    return Err(Error::conflict(format!("listing {store}/{listing}"), *version, current));
                }
            }
            WriteOp::Check(Precondition::LedgerBalance { sku, balance }) => {
                let found = self.balance(sku) + moved.get(sku).copied().unwrap_or(0);
                if found != *balance {
                    return Err(Error::conflict(
                        format!("ledger balance of {sku} ({found}, expected {balance})"),
                        0,
                        None,
                    ));
                }
            }
            WriteOp::PutProduct(p) => p.check_storable()?,
            _ => {}
        }
        Ok(())
    }

    fn balance(&self, sku: &Sku) -> i64 {
        self.ledger.iter().filter(|m| &m.movement.sku == sku).map(|m| m.movement.delta).sum()
    }

    /// Apply one of the company's own writes (the root-level ones are [`Root::apply`]'s).
    fn apply(&mut self, op: WriteOp, ids: &mut Ids) {
        match op {
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
                ids.movement += 1;
                self.ledger.push(Movement { id: ids.movement, movement: m });
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
            WriteOp::Enqueue { push, now } => self.enqueue(push, now, ids),
            WriteOp::DropOutbox(store) => {
                self.outbox.retain(|_, i| i.push.store != store || i.state == OutboxState::Dead);
            }
            WriteOp::ReleaseOutbox { store, now } => {
                let held = self
                    .outbox
                    .values_mut()
                    .filter(|i| i.push.store == store && i.state == OutboxState::Pending && i.next_attempt_at > now);
                for item in held {
                    item.next_attempt_at = now;
                }
            }
            WriteOp::Audit(mut a) => {
                ids.audit += 1;
                a.id = ids.audit;
                self.audit.push(a);
            }
            WriteOp::RequestSync(r) => {
                // A newer request replaces the queued one, claimed or not: it runs (again) unclaimed.
                let r = SyncRequest::new(r.store, r.requested_by, r.requested_at);
                self.sync_requests.insert(r.store.clone(), r);
            }
            WriteOp::PutCompany(_) | WriteOp::PutConnection(_) | WriteOp::RecordHealth { .. } | WriteOp::Check(_) => {}
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

    fn enqueue(&mut self, push: OutboxPush, now: Timestamp, ids: &mut Ids) {
        let lane = push.action.lane();
        if let Some(id) = self.pending_in_lane(&push.store, &push.listing, lane, 0)
            && let Some(item) = self.outbox.get_mut(&id)
        {
            item.push.action = item.push.action.coalesce(&push.action);
            item.push.reason = push.reason;
            item.updated_at = now;
            return;
        }
        ids.outbox += 1;
        let id = ids.outbox;
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

    /// Remove the company's rows about a store (not its products or ledger); the audit log stays.
    fn purge_rows(&mut self, store: &StoreId) -> PurgeReport {
        let mut report = PurgeReport::default();
        let before = self.listings.len();
        self.listings.retain(|(s, _), _| s != store);
        report.listings = count(before, self.listings.len());
        let before = self.order_lines.len();
        self.order_lines.retain(|(s, _, _), _| s != store);
        report.order_lines = count(before, self.order_lines.len());
        self.deliveries.retain(|(s, _), _| s != store);
        self.cursors.retain(|(s, _), _| s != store);
        let before = self.outbox.len();
        self.outbox.retain(|_, i| &i.push.store != store);
        report.outbox_items = count(before, self.outbox.len());
        self.leases.remove(store);
        self.sync_requests.remove(store);
        report
    }

    /// Remove the company's rows about a store of its own, and the products only that store listed (with
    /// their movements) unless a product that stays needs them.
    fn purge_own_store(&mut self, store: &StoreId) -> PurgeReport {
        let own: BTreeSet<Sku> =
            self.listings.values().filter(|l| &l.store == store).filter_map(|l| l.sku.clone()).collect();
        let mut report = self.purge_rows(store);
        let listed_elsewhere: BTreeSet<Sku> = self.listings.values().filter_map(|l| l.sku.clone()).collect();
        let mut remove: BTreeSet<Sku> =
            own.into_iter().filter(|s| !listed_elsewhere.contains(s) && self.products.contains_key(s)).collect();
        keep_needed_components(&self.products, &mut remove);
        for sku in &remove {
            self.products.remove(sku);
        }
        let before = self.ledger.len();
        self.ledger.retain(|m| !remove.contains(&m.movement.sku));
        report.movements = count(before, self.ledger.len());
        report.products = remove.into_iter().collect();
        report
    }

    /// What removing the whole state removes.
    fn report_all(&self) -> PurgeReport {
        PurgeReport {
            listings: count(self.listings.len(), 0),
            order_lines: count(self.order_lines.len(), 0),
            products: self.products.keys().cloned().collect(),
            movements: count(self.ledger.len(), 0),
            outbox_items: count(self.outbox.len(), 0),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn company_id(&self) -> &CompanyId {
        &self.company
    }

    fn for_company(&self, company: &CompanyId) -> Arc<dyn Store> {
        Arc::new(Self { company: company.clone(), shared: Arc::clone(&self.shared) })
    }

    async fn commit(&self, batch: WriteBatch) -> Result<bool> {
        let mut root = self.lock();
        if !root.validate(&self.company, &batch)? {
            return Ok(false);
        }
        root.apply(&self.company, batch);
        Ok(true)
    }

    async fn connection(&self, store: &StoreId) -> Result<Option<ConnectionRecord>> {
        Ok(self.lock().connections.get(store).filter(|c| visible(c, &self.company)).cloned())
    }

    async fn connections(&self, filter: &ConnectionFilter) -> Result<Vec<ConnectionRecord>> {
        let root = self.lock();
        Ok(root.connections.values().filter(|c| visible(c, &self.company) && filter.matches(c)).cloned().collect())
    }

    async fn product(&self, sku: &Sku) -> Result<Option<ProductRecord>> {
        Ok(self.read(|s| s.products.get(sku).cloned()))
    }

    async fn products(&self) -> Result<Vec<ProductRecord>> {
        Ok(self.read(|s| s.products.values().cloned().collect()))
    }

    async fn listing(&self, store: &StoreId, listing: &ListingId) -> Result<Option<ListingRecord>> {
        Ok(self.read(|s| s.listings.get(&(store.clone(), listing.clone())).cloned()))
    }

    async fn listings(&self, filter: &ListingFilter) -> Result<Vec<ListingRecord>> {
        Ok(self.read(|s| s.listings.values().filter(|l| filter.matches(l)).cloned().collect()))
    }

    async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<Movement>> {
        Ok(self.read(|s| {
            let it = s.ledger.iter().filter(|m| filter.matches(m)).cloned();
            match filter.limit {
                Some(n) => it.take(n).collect(),
                None => it.collect(),
            }
        }))
    }

    async fn ledger_balance(&self, sku: &Sku) -> Result<i64> {
        Ok(self.read(|s| s.balance(sku)))
    }

    async fn order_line(&self, store: &StoreId, order: &OrderId, line: &str) -> Result<Option<OrderLineRecord>> {
        Ok(self.read(|s| s.order_lines.get(&(store.clone(), order.clone(), line.to_owned())).cloned()))
    }

    async fn held_order_lines(&self) -> Result<Vec<OrderLineRecord>> {
        let mut held: Vec<OrderLineRecord> =
            self.read(|s| s.order_lines.values().filter(|l| l.held).cloned().collect());
        held.sort_by(|a, b| {
            (a.first_seen_at, &a.store, &a.order, &a.line).cmp(&(b.first_seen_at, &b.store, &b.order, &b.line))
        });
        Ok(held)
    }

    async fn delivery_seen(&self, store: &StoreId, delivery_id: &str) -> Result<bool> {
        Ok(self.read(|s| s.deliveries.contains_key(&(store.clone(), delivery_id.to_owned()))))
    }

    async fn cursor(&self, store: &StoreId, name: &str) -> Result<Option<String>> {
        Ok(self.read(|s| s.cursors.get(&(store.clone(), name.to_owned())).cloned()))
    }

    async fn claim_outbox(&self, claim: &ClaimRequest) -> Result<Vec<OutboxItem>> {
        Ok(self.write(|state| state.claim_outbox(claim)))
    }

    async fn finish_outbox(&self, id: i64, token: &str, result: OutboxResult, now: Timestamp) -> Result<()> {
        self.write(|state| state.finish_outbox(id, token, result, now))
    }

    async fn renew_outbox(&self, claims: &[(i64, String)], until: Timestamp) -> Result<usize> {
        Ok(self.write(|state| {
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
            renewed
        }))
    }

    async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>> {
        Ok(self.read(|s| s.outbox.values().filter(|i| filter.matches(i)).cloned().collect()))
    }

    async fn acquire_lease(&self, store: &StoreId, holder: &str, until: Timestamp, now: Timestamp) -> Result<bool> {
        Ok(self.write(|state| take_lease(&mut state.leases, store, holder, until, now)))
    }

    async fn release_lease(&self, store: &StoreId, holder: &str) -> Result<bool> {
        Ok(self.write(|state| give_up_lease(&mut state.leases, store, holder)))
    }

    async fn claim_sync_requests(&self, claim: &ClaimRequest) -> Result<Vec<SyncRequest>> {
        Ok(self.write(|state| state.claim_sync_requests(claim)))
    }

    async fn renew_sync_request(&self, store: &StoreId, token: &str, until: Timestamp) -> Result<bool> {
        Ok(self.write(|state| match state.sync_requests.get_mut(store) {
            Some(r) if r.claim_token.as_deref() == Some(token) => {
                r.lease_until = Some(until);
                true
            }
            _ => false,
        }))
    }

    async fn finish_sync_request(&self, store: &StoreId, token: &str) -> Result<bool> {
        Ok(self.write(|state| {
            if state.sync_requests.get(store).is_some_and(|r| r.claim_token.as_deref() == Some(token)) {
                state.sync_requests.remove(store);
                return true;
            }
            false
        }))
    }

    async fn sync_requests(&self) -> Result<Vec<SyncRequest>> {
        let mut all: Vec<SyncRequest> = self.read(|s| s.sync_requests.values().cloned().collect());
        all.sort_by(|a, b| (a.requested_at, &a.store).cmp(&(b.requested_at, &b.store)));
        Ok(all)
    }

    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        Ok(self.read(|s| {
            let it = s.audit.iter().filter(|a| filter.matches(a)).cloned();
            match filter.limit {
                Some(n) => it.take(n).collect(),
                None => it.collect(),
            }
        }))
    }

    async fn purge_store(&self, store: &StoreId) -> Result<PurgeReport> {
        let mut root = self.lock();
        let scope = root.connections.get(store).filter(|c| visible(c, &self.company)).map(|c| c.scope.clone());
        if scope.is_some() {
            root.connections.remove(store);
        }
        if scope == Some(Scope::Global) {
            // Every company's rows about it go; products are not touched (a global store never creates them).
            let mut report = PurgeReport::default();
            for state in root.states.values_mut() {
                merge(&mut report, state.purge_rows(store));
            }
            return Ok(report);
        }
        Ok(root.states.entry(self.company.clone()).or_default().purge_own_store(store))
    }

    async fn company(&self, id: &CompanyId) -> Result<Option<CompanyRecord>> {
        Ok(self.lock().companies.get(id).cloned())
    }

    async fn companies(&self) -> Result<Vec<CompanyRecord>> {
        Ok(self.lock().companies.values().cloned().collect())
    }

    async fn purge_company(&self, id: &CompanyId) -> Result<Option<PurgeReport>> {
        let mut root = self.lock();
        if root.companies.remove(id).is_none() {
            return Ok(None);
        }
        root.connections.retain(|_, c| c.scope.client() != Some(id));
        let report = root.states.remove(id).map(|s| s.report_all()).unwrap_or_default();
        root.company_leases.remove(id);
        root.inbox.retain(|_, i| &i.company != id);
        Ok(Some(report))
    }

    async fn locate_store(&self, store: &StoreId) -> Result<Option<ConnectionRecord>> {
        Ok(self.lock().connections.get(store).cloned())
    }

    async fn sku_owners(&self, skus: &[Sku]) -> Result<BTreeMap<Sku, Vec<CompanyId>>> {
        let root = self.lock();
        let mut owners: BTreeMap<Sku, Vec<CompanyId>> = BTreeMap::new();
        for sku in skus {
            let of: Vec<CompanyId> =
                root.states.iter().filter(|(_, s)| s.products.contains_key(sku)).map(|(c, _)| c.clone()).collect();
            if !of.is_empty() {
                owners.insert(sku.clone(), of);
            }
        }
        Ok(owners)
    }

    async fn worker_heartbeat(&self, worker: &str, until: Timestamp, now: Timestamp) -> Result<Vec<WorkerRecord>> {
        let mut root = self.lock();
        root.workers.retain(|_, t| *t > now);
        root.workers.insert(worker.to_owned(), until);
        Ok(root.workers.iter().map(|(w, t)| WorkerRecord { worker: w.clone(), until: *t }).collect())
    }

    async fn worker_gone(&self, worker: &str) -> Result<()> {
        self.lock().workers.remove(worker);
        Ok(())
    }

    async fn acquire_company_lease(
        &self,
        company: &CompanyId,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        Ok(take_lease(&mut self.lock().company_leases, company, holder, until, now))
    }

    async fn release_company_lease(&self, company: &CompanyId, holder: &str) -> Result<bool> {
        Ok(give_up_lease(&mut self.lock().company_leases, company, holder))
    }

    async fn company_leases(&self) -> Result<Vec<CompanyLease>> {
        let root = self.lock();
        Ok(root
            .company_leases
            .iter()
            .map(|(c, (h, t))| CompanyLease { company: c.clone(), holder: h.clone(), until: *t })
            .collect())
    }

    async fn inbox_put(&self, mut item: InboxItem) -> Result<bool> {
        let mut root = self.lock();
        let duplicate = root
            .inbox
            .values()
            .any(|i| i.company == item.company && i.store == item.store && i.delivery_id == item.delivery_id);
        if duplicate {
            return Ok(false);
        }
        root.ids.inbox += 1;
        item.id = root.ids.inbox;
        root.inbox.insert(item.id, item);
        Ok(true)
    }

    async fn inbox(&self, limit: usize) -> Result<Vec<InboxItem>> {
        let root = self.lock();
        let mut items: Vec<&InboxItem> = root.inbox.values().filter(|i| i.company == self.company).collect();
        items.sort_by_key(|i| (i.received_at, i.id));
        Ok(items.into_iter().take(limit).cloned().collect())
    }

    async fn inbox_done(&self, id: i64) -> Result<bool> {
        let mut root = self.lock();
        if root.inbox.get(&id).is_some_and(|i| i.company == self.company) {
            root.inbox.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Take or renew a lease: `true` when `holder` holds it now (it was free, expired at `now`, or its own).
fn take_lease<K: Ord + Clone>(
    leases: &mut BTreeMap<K, (String, Timestamp)>,
    key: &K,
    holder: &str,
    until: Timestamp,
    now: Timestamp,
) -> bool {
    let free = match leases.get(key) {
        None => true,
        Some((h, t)) => h == holder || *t <= now,
    };
    if free {
        leases.insert(key.clone(), (holder.to_owned(), until));
    }
    free
}

/// Give up a lease; `true` when `holder` held it.
fn give_up_lease<K: Ord>(leases: &mut BTreeMap<K, (String, Timestamp)>, key: &K, holder: &str) -> bool {
    if leases.get(key).is_some_and(|(h, _)| h == holder) {
        leases.remove(key);
        return true;
    }
    false
}

impl State {
    fn claim_outbox(&mut self, claim: &ClaimRequest) -> Vec<OutboxItem> {
        let now = claim.now;
        let mut busy: BTreeSet<(StoreId, ListingId, &'static str)> = self
            .outbox
            .values()
            .filter(|i| i.state == OutboxState::Claimed && i.lease_until.is_some_and(|t| t > now))
            .map(|i| (i.push.store.clone(), i.push.listing.clone(), i.push.action.lane().as_str()))
            .collect();
        let mut due: Vec<&OutboxItem> = self
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
            if let Some(item) = self.outbox.get_mut(&id) {
                item.state = OutboxState::Claimed;
                item.attempts += 1;
                item.claimed_by = Some(claim.worker.clone());
                item.claim_token = Some(uuid::Uuid::new_v4().to_string());
                item.lease_until = Some(claim.lease_until);
                item.updated_at = now;
                out.push(item.clone());
            }
        }
        out
    }

    fn finish_outbox(&mut self, id: i64, token: &str, result: OutboxResult, now: Timestamp) -> Result<()> {
        let item = self.outbox.get(&id).ok_or_else(|| Error::NotFound(format!("outbox item {id}")))?;
        if item.state != OutboxState::Claimed || item.claim_token.as_deref() != Some(token) {
            return Err(Error::conflict(format!("outbox item {id} (claim no longer held)"), 0, None));
        }
        let (store, listing, lane, action) =
            (item.push.store.clone(), item.push.listing.clone(), item.push.action.lane(), item.push.action.clone());
        match result {
            OutboxResult::Done => {
                self.outbox.remove(&id);
            }
            OutboxResult::Retry { error, at } => {
                if let Some(pending) = self.pending_in_lane(&store, &listing, lane, id) {
                    if let Some(p) = self.outbox.get_mut(&pending) {
                        p.push.action = action.coalesce(&p.push.action);
                        p.last_error = Some(error);
                        p.updated_at = now;
                    }
                    self.outbox.remove(&id);
                } else if let Some(item) = self.outbox.get_mut(&id) {
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
                if let Some(item) = self.outbox.get_mut(&id) {
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

    fn claim_sync_requests(&mut self, claim: &ClaimRequest) -> Vec<SyncRequest> {
        let now = claim.now;
        let mut due: Vec<&SyncRequest> = self
            .sync_requests
            .values()
            .filter(|r| claim.store.as_ref().is_none_or(|s| &r.store == s))
            .filter(|r| r.claim_token.is_none() || r.lease_until.is_none_or(|t| t <= now))
            .collect();
        due.sort_by(|a, b| (a.requested_at, &a.store).cmp(&(b.requested_at, &b.store)));
        let chosen: Vec<StoreId> = due.into_iter().take(claim.limit).map(|r| r.store.clone()).collect();
        let mut out = Vec::with_capacity(chosen.len());
        for store in chosen {
            if let Some(r) = self.sync_requests.get_mut(&store) {
                r.claimed_by = Some(claim.worker.clone());
                r.claim_token = Some(uuid::Uuid::new_v4().to_string());
                r.lease_until = Some(claim.lease_until);
                out.push(r.clone());
            }
        }
        out
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
