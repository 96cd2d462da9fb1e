//! Integration management: connect stores, watch their health, disconnect them safely.
//!
//! [`Connections`] works over any [`Store`] and builds channels through a [`ChannelFactory`] the host
//! supplies (the real adapters behind the channel features, or test doubles).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use channel_core::{
    AccountIdentity, Capabilities, Channel, ChannelExt, ChannelKind, ErrorKind, ItemOutcome, Listing, ListingId,
    OrderCursor, OrderPage, PriceUpdate, Shipment, Sku, SkuRules, StockAdjustment, StockUpdate, StoreId, WebhookEvent,
    WebhookRejection, WebhookRequest,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::clock::Clock;
use crate::credentials::{CredentialCipher, Credentials};
use crate::hygiene::{self, SkuIssue, SkuReport};
use crate::store::*;
use crate::sync::Ownership;
use crate::{Error, Result};
use jiff::Timestamp;

/// What a [`ChannelFactory`] gets to build one store's channel.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ChannelSpec<'a> {
    /// The store.
    pub store: &'a StoreId,
    /// Its platform.
    pub channel: ChannelKind,
    /// Its non-secret settings (base URL, location, marketplace, …).
    pub settings: &'a Value,
    /// Its credentials, opened.
    pub credentials: &'a Credentials,
}

/// Builds a channel for a connection. The host wires the adapters in here.
pub trait ChannelFactory: Debug + Send + Sync + 'static {
    /// Build the channel. `Config` errors for bad settings or missing credentials; `Unsupported` for a
    /// platform this build does not carry.
    fn build(&self, spec: &ChannelSpec<'_>) -> channel_core::Result<Arc<dyn Channel>>;
}

/// A connection to add.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewConnection {
    /// The store id to give it (letters, digits, `-`, `_`, `.`; at most 64).
    pub store: StoreId,
    /// Its platform.
    pub channel: ChannelKind,
    /// A human name.
    pub name: String,
    /// A client connection of a company ([`Scope::Client`]) or a global one ([`Scope::Global`], the
    /// operator's own account serving every company). `None` (the default): a client connection of the
    /// company of the [`Connections`] it is added through.
    pub scope: Option<Scope>,
    /// A warehouse, if any.
    pub warehouse: Option<WarehouseId>,
    /// Non-secret settings for the adapter; `sku_rules` (a list of `{suffix|prefix, fulfilment}`) maps
    /// channel SKUs to canonical ones.
    pub settings: Value,
    /// The credentials.
    pub credentials: Credentials,
    /// Live, daily or disabled.
    pub sync_mode: SyncMode,
    /// Whether it is the source of truth.
    pub source_of_truth: bool,
}

impl NewConnection {
    /// A live connection with no settings, of the company it is added through (see
    /// [`NewConnection::scope`]; [`NewConnection::with_scope`] makes it global).
    pub fn new(
        store: impl Into<StoreId>,
        channel: ChannelKind,
        name: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        Self {
            store: store.into(),
            channel,
            name: name.into(),
            scope: None,
            warehouse: None,
            settings: Value::Object(Default::default()),
            credentials,
            sync_mode: SyncMode::Live,
            source_of_truth: false,
        }
    }

    /// With a scope (builder style): [`Scope::Global`] for a global connection.
    #[must_use]
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// With a warehouse (builder style).
    #[must_use]
    pub fn with_warehouse(mut self, warehouse: WarehouseId) -> Self {
        self.warehouse = Some(warehouse);
        self
    }

    /// With settings (builder style).
    #[must_use]
    pub fn with_settings(mut self, settings: Value) -> Self {
        self.settings = settings;
        self
    }

    /// With a sync mode (builder style).
    #[must_use]
    pub fn with_sync_mode(mut self, mode: SyncMode) -> Self {
        self.sync_mode = mode;
        self
    }

    /// As the source of truth (builder style).
    #[must_use]
    pub fn source_of_truth(mut self, yes: bool) -> Self {
        self.source_of_truth = yes;
        self
    }
}

/// Changes to a connection's configuration; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectionUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new scope.
    pub scope: Option<Scope>,
    /// A new warehouse (`Some(None)` clears it).
    pub warehouse: Option<Option<WarehouseId>>,
    /// New settings.
    pub settings: Option<Value>,
    /// A new sync mode.
    pub sync_mode: Option<SyncMode>,
    /// Set or clear the source-of-truth flag.
    pub source_of_truth: Option<bool>,
    /// New credentials, tested with the platform (under the new settings, if any) before anything is
    /// written; applied in the same write as the rest, as [`Connections::update_credentials`] would.
    pub credentials: Option<Credentials>,
}

impl ConnectionUpdate {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rename (builder style).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Change the scope (builder style).
    #[must_use]
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Set or clear the warehouse (builder style).
    #[must_use]
    pub fn with_warehouse(mut self, warehouse: Option<WarehouseId>) -> Self {
        self.warehouse = Some(warehouse);
        self
    }

    /// Replace the settings (builder style).
    #[must_use]
    pub fn with_settings(mut self, settings: Value) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Change the sync mode (builder style).
    #[must_use]
    pub fn with_sync_mode(mut self, mode: SyncMode) -> Self {
        self.sync_mode = Some(mode);
        self
    }

    /// Set or clear the source-of-truth flag (builder style).
    #[must_use]
    pub fn with_source_of_truth(mut self, yes: bool) -> Self {
        self.source_of_truth = Some(yes);
        self
    }

    /// Replace the credentials too, in the same write (builder style).
    #[must_use]
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

/// Credentials tested with the platform and sealed, ready to store.
struct VerifiedCredentials {
    sealed: SealedCredentials,
    identity: AccountIdentity,
}

/// Put verified credentials on `rec`: connected, bound to their account, the health and audit entries.
fn apply_credentials(
    rec: &mut ConnectionRecord,
    extra: &mut WriteBatch,
    verified: &VerifiedCredentials,
    now: Timestamp,
) {
    let old = rec.account.as_ref().map(|a| a.account_id.clone());
    let reason = if rec.state == ConnectionState::Disconnected { "reconnected" } else { "credentials updated" };
    rec.credentials = Some(verified.sealed.clone());
    rec.state = ConnectionState::Connected;
    rec.account = Some(verified.identity.clone());
    rec.updated_at = now;
    extra.push(WriteOp::RecordHealth { store: rec.store.clone(), event: HealthEvent::CredentialsOk { at: now } });
    extra.push(WriteOp::Audit(
        AuditEntry::new(rec.store.clone(), "credentials", reason, now)
            .change(old, Some(verified.identity.account_id.clone())),
    ));
}

/// A connection [`Connections::prepare_add`] checked and tested, ready to write.
pub(crate) enum PreparedAdd {
    /// A new connection: its record (version 0) and audit entry.
    New { record: Box<ConnectionRecord>, audit: Box<AuditEntry> },
    /// A disconnected store of this company added again: reconnect it with these credentials.
    Reconnect { store: StoreId, credentials: Credentials },
}

/// What [`Connections::disconnect`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnected {
    /// Takealot: the credentials are deleted and webhooks refused; the seller-account binding and the
    /// store's data stay, so a reconnect must use the same account.
    KeptBinding {
        /// The account the store stays bound to.
        account: Option<String>,
    },
    /// Other platforms: the store and its data are gone.
    Removed(PurgeReport),
}

/// What [`Connections::observe_listings`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObservedListings {
    /// Listings seen for the first time.
    pub added: usize,
    /// Listings updated.
    pub updated: usize,
    /// Linked listings whose SKU changed: held back until resolved.
    pub sku_changes: Vec<SkuIssue>,
    /// Listings of a global store whose SKU no company or several own ([`SkuIssue::NoOwner`],
    /// [`SkuIssue::SeveralOwners`]): kept unlinked, audited when first seen or when they lose their link.
    pub ownership: Vec<SkuIssue>,
    /// Listings of a global store whose SKU another company alone owns: that company's, not recorded
    /// here.
    pub other_company: usize,
}

/// Observe a listing of a global store this company does not alone own (`ownership` is not
/// [`Ownership::Mine`]): another company's is skipped (a row linked before is unlinked, audited); one whose
/// SKU no company or several own is kept unlinked, reported and audited when new or when it loses its link.
#[expect(clippy::too_many_arguments, reason = "one listing observed: where, what, whose, the row, when, the outputs")]
fn observe_unowned(
    store: &StoreId,
    l: &Listing,
    ownership: &Ownership,
    sku: Option<&Sku>,
    prev: Option<&ListingRecord>,
    now: Timestamp,
    batch: &mut WriteBatch,
    out: &mut ObservedListings,
) {
    let shown = sku.map_or(l.channel_sku.as_str(), Sku::as_str);
    let issue = crate::sync::ownership_issue(ownership, &l.id, shown);
    let mut row = match (prev, &issue) {
        (None | Some(ListingRecord { sku: None, .. }), None) => {
            out.other_company += 1;
            return;
        }
        (Some(prev), _) => prev.clone(),
        (None, Some(_)) => ListingRecord::new(store.clone(), l.id.clone(), l.channel_sku.clone()),
    };
    if row.version > 0 {
        out.updated += 1;
    } else {
        out.added += 1;
    }
    let reason = match (ownership, &issue) {
        (Ownership::Other(owner), _) => Some(format!("global store: SKU now owned by company {owner}; unlinked")),
        (_, Some(issue)) if row.sku.is_some() || row.version == 0 => Some(issue.to_string()),
        _ => None,
    };
    if let Some(reason) = reason {
        batch.push(WriteOp::Audit(
            AuditEntry::new(store.clone(), "sku", reason, now)
                .on_listing(l.id.clone(), sku.cloned())
                .change(row.sku.as_ref().map(ToString::to_string), None),
        ));
    }
    out.ownership.extend(issue);
    row.sku = None;
    row.ids = l.ids.clone();
    row.status = l.status;
    row.seen_quantity = l.quantity();
    row.seen_price = l.price;
    row.seen_at = Some(now);
    batch.push(WriteOp::PutListing(row));
}

/// Integration management over a [`Store`].
#[derive(Debug, Clone)]
pub struct Connections {
    store: Arc<dyn Store>,
    factory: Arc<dyn ChannelFactory>,
    cipher: CredentialCipher,
    clock: Arc<dyn Clock>,
}

const RETRIES: usize = 5;

/// Check a store id is one [`Connections::add`] accepts: 1–64 letters, digits, `-`, `_` or `.` (hosts
/// check a config with it before anything is stored).
pub fn valid_store_id(id: &StoreId) -> Result<()> {
    let s = id.as_str();
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(Error::Invalid(format!(
            "store id {s:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn overlaps(a: &Scope, b: &Scope) -> bool {
    a == b || *a == Scope::Global || *b == Scope::Global
}

/// The store's SKU rules from its settings (`sku_rules`), or none.
pub fn sku_rules(settings: &Value) -> Result<SkuRules> {
    match settings.get("sku_rules") {
        None | Some(Value::Null) => Ok(SkuRules::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| Error::Invalid(format!("settings.sku_rules: {e}"))),
    }
}

/// The settings (as [`crate::AdapterFactory`] names them) that identify where a connection points.
const DETAIL_SETTINGS: [&str; 7] =
    ["seller_id", "merchant_warehouse_id", "shop_domain", "location_id", "store_url", "marketplace_ids", "region"];

/// Configuration details worth showing for a connection: the account id and what the channel reported
/// (`location`, `region`, `marketplace`, …), the warehouse, and the settings that say where it points
/// (`shop_domain`, `store_url`, `location_id`, `marketplace_ids`, …; lists joined with commas).
pub fn config_details(c: &ConnectionRecord) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for key in DETAIL_SETTINGS {
        let shown = match c.settings.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            Some(v) => v.to_string(),
        };
        out.insert(key.to_owned(), shown);
    }
    if let Some(a) = &c.account {
        out.insert("account".to_owned(), a.account_id.clone());
        if let Some(n) = &a.display_name {
            out.insert("account_name".to_owned(), n.clone());
        }
        out.extend(a.details.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(w) = &c.warehouse {
        out.insert("warehouse".to_owned(), w.to_string());
    }
    out
}

impl Connections {
    /// Management over `store`, building channels with `factory`, sealing credentials with `cipher`.
    pub fn new(
        store: Arc<dyn Store>,
        factory: Arc<dyn ChannelFactory>,
        cipher: CredentialCipher,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, factory, cipher, clock }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// One connection, or not-found.
    pub async fn get(&self, store: &StoreId) -> Result<ConnectionRecord> {
        self.store.connection(store).await?.ok_or_else(|| Error::NotFound(format!("store {store}")))
    }

    /// Connections passing a filter.
    pub async fn list(&self, filter: &ConnectionFilter) -> Result<Vec<ConnectionRecord>> {
        Ok(self.store.connections(filter).await?)
    }

    fn build(
        &self,
        store: &StoreId,
        channel: ChannelKind,
        settings: &Value,
        creds: &Credentials,
    ) -> Result<Arc<dyn Channel>> {
        let spec = ChannelSpec { store, channel, settings, credentials: creds };
        let built = self.factory.build(&spec)?;
        if built.kind() != channel {
            return Err(Error::Invalid(format!(
                "the factory built a {} channel for {channel} store {store}",
                built.kind()
            )));
        }
        Ok(built)
    }

    /// The company this manager works for (its store's view, [`Store::company_id`]).
    pub fn company(&self) -> &CompanyId {
        self.store.company_id()
    }

    /// Add a connection: test the credentials first and bind the store to the account they belong to.
    /// Adding a disconnected store again reconnects it (with the same account, for Takealot). Without a
    /// scope ([`NewConnection::scope`]) it is a client connection of this manager's company. A store id
    /// taken anywhere, by any company or a global connection, is refused with [`Error::StoreTaken`]; in a
    /// company bound to an account of the connection's channel, credentials of another account are
    /// refused with [`Error::CompanyAccountMismatch`].
    pub async fn add(&self, new: NewConnection) -> Result<ConnectionRecord> {
        let (mut rec, audit) = match self.prepare_add(new).await? {
            PreparedAdd::Reconnect { store, credentials } => return self.update_credentials(&store, credentials).await,
            PreparedAdd::New { record, audit } => (*record, *audit),
        };
        self.store
            .commit(WriteBatch::new().with(WriteOp::PutConnection(rec.clone())).with(WriteOp::Audit(audit)))
            .await?;
        rec.version = 1;
        Ok(rec)
    }

    /// The scope a new connection gets: a client connection of this manager's company unless given; a
    /// client scope of another company is refused (it is added through that company's manager).
    fn scope_of(&self, scope: Option<Scope>) -> Result<Scope> {
        match scope {
            None => Ok(Scope::Client(self.company().clone())),
            Some(Scope::Client(c)) if &c != self.company() => Err(Error::Invalid(format!(
                "a connection of company {c} is added through that company's manager, not {}'s",
                self.company()
            ))),
            Some(scope) => Ok(scope),
        }
    }

    /// Everything [`Connections::add`] checks and tests, without writing: the record and audit entry to
    /// commit, or the disconnected store to reconnect.
    pub(crate) async fn prepare_add(&self, new: NewConnection) -> Result<PreparedAdd> {
        valid_store_id(&new.store)?;
        if new.name.trim().is_empty() {
            return Err(Error::Invalid("a connection needs a name".into()));
        }
        if new.credentials.is_empty() {
            return Err(Error::Invalid(format!("store {}: no credentials given", new.store)));
        }
        crate::settings::check_settings(&new.settings)?;
        let rules = sku_rules(&new.settings)?;
        let scope = self.scope_of(new.scope.clone())?;
        if let Some(existing) = self.store.locate_store(&new.store).await? {
            let visible = self.store.connection(&new.store).await?.is_some();
            if visible && existing.state == ConnectionState::Disconnected && existing.channel == new.channel {
                return Ok(PreparedAdd::Reconnect { store: new.store, credentials: new.credentials });
            }
            return Err(Error::StoreTaken { store: new.store, company: existing.scope.client().cloned() });
        }
        let others = self.store.connections(&ConnectionFilter::all()).await?;
        if new.source_of_truth {
            check_source_free(&others, &new.store, &scope)?;
        }
        let channel = self.build(&new.store, new.channel, &new.settings, &new.credentials)?;
        let identity = channel.test_connection().await?;
        if let Some(bound) = others.iter().find(|c| {
            c.channel == new.channel && c.account.as_ref().is_some_and(|a| a.account_id == identity.account_id)
        }) {
            return Err(Error::AlreadyExists(format!(
                "{} account {:?} is already connected as store {}{}",
                new.channel,
                identity.account_id,
                bound.store,
                if bound.state == ConnectionState::Disconnected { " (disconnected: reconnect that store)" } else { "" }
            )));
        }
        self.check_company_binding(&new.store, new.channel, &scope, &identity).await?;
        self.check_new_store_skus(&new, &scope, &rules, &others, &*channel).await?;

        let now = self.clock.now();
        let mut rec = ConnectionRecord::new(new.store.clone(), new.channel, new.name, scope, now);
        rec.warehouse = new.warehouse;
        rec.settings = new.settings;
        rec.credentials = Some(self.cipher.seal(&new.store, &new.credentials)?);
        rec.account = Some(identity.clone());
        rec.sync_mode = new.sync_mode;
        rec.source_of_truth = new.source_of_truth;
        rec.health.apply(&HealthEvent::CredentialsOk { at: now });
        let audit = AuditEntry::new(new.store.clone(), "connection", "connection added", now)
            .change(None, Some(format!("{} account {}", rec.channel, identity.account_id)));
        Ok(PreparedAdd::New { record: Box::new(rec), audit: Box::new(audit) })
    }

    /// In a company bound to an account of `channel` ([`CompanyRecord::bound_account`]), a client
    /// connection of that channel must be that account: [`Error::CompanyAccountMismatch`] otherwise.
    /// Global connections and companies without a binding pass.
    async fn check_company_binding(
        &self,
        store: &StoreId,
        channel: ChannelKind,
        scope: &Scope,
        identity: &AccountIdentity,
    ) -> Result<()> {
        if scope.client() != Some(self.company()) {
            return Ok(());
        }
        let Some(company) = self.store.company(self.company()).await? else { return Ok(()) };
        match (&company.requires, &company.bound_account) {
            (Some(required), Some(bound)) if *required == channel && bound.account_id != identity.account_id => {
                Err(Error::CompanyAccountMismatch {
                    company: company.id,
                    store: store.clone(),
                    channel,
                    expected: bound.account_id.clone(),
                    actual: identity.account_id.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The shared-SKU rule for a store about to be added: when its platform is (or becomes) the source of
    /// truth, its listings may not share SKUs with the platform's other stores.
    async fn check_new_store_skus(
        &self,
        new: &NewConnection,
        scope: &Scope,
        rules: &SkuRules,
        others: &[ConnectionRecord],
        channel: &dyn Channel,
    ) -> Result<()> {
        let source_is_platform = new.source_of_truth
            || others.iter().any(|c| c.source_of_truth && c.channel == new.channel && overlaps(&c.scope, scope));
        if !source_is_platform {
            return Ok(());
        }
        let siblings: Vec<&ConnectionRecord> =
            others.iter().filter(|c| c.channel == new.channel && overlaps(&c.scope, scope)).collect();
        if siblings.is_empty() {
            return Ok(());
        }
        let mine: BTreeSet<Sku> =
            channel.all_listings().await?.iter().filter_map(|l| hygiene::canonical_sku(rules, l).0.ok()).collect();
        for sibling in siblings {
            let theirs = self.linked_skus(&sibling.store).await?;
            if let Some(sku) = mine.intersection(&theirs).next() {
                return Err(Error::SharedSkuWithSourceOfTruth {
                    channel: new.channel,
                    sku: sku.clone(),
                    stores: vec![sibling.store.clone(), new.store.clone()],
                });
            }
        }
        Ok(())
    }

    async fn linked_skus(&self, store: &StoreId) -> Result<BTreeSet<Sku>> {
        Ok(self.store.listings(&ListingFilter::store(store.clone())).await?.into_iter().filter_map(|l| l.sku).collect())
    }

    /// Read-modify-write a connection, retrying on a version conflict.
    async fn modify<F>(&self, store: &StoreId, mut change: F) -> Result<ConnectionRecord>
    where
        F: FnMut(&mut ConnectionRecord, &mut WriteBatch) -> Result<()> + Send,
    {
        let mut last = None;
        for _ in 0..RETRIES {
            let mut rec = self.get(store).await?;
            let mut extra = WriteBatch::new();
            change(&mut rec, &mut extra)?;
            let mut batch = WriteBatch::new().with(WriteOp::PutConnection(rec.clone()));
            batch.ops.extend(extra.ops);
            match self.store.commit(batch).await {
                Ok(_) => {
                    rec.version += 1;
                    return Ok(self.store.connection(store).await?.unwrap_or(rec));
                }
                Err(e) if e.kind() == ErrorKind::Conflict => last = Some(e.into()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.unwrap_or_else(|| Error::conflict(format!("connection {store}"), 0, None)))
    }

    /// Test a connection's stored credentials: records the outcome in its health. Credentials that now
    /// belong to another account than the bound one fail with [`Error::AccountMismatch`]; in a company
    /// bound to an account of the store's channel, another account than the company's fails with
    /// [`Error::CompanyAccountMismatch`].
    pub async fn test(&self, store: &StoreId) -> Result<AccountIdentity> {
        let rec = self.get(store).await?;
        let creds = self.open(&rec)?;
        let channel = self.build(&rec.store, rec.channel, &rec.settings, &creds)?;
        let result = channel.test_connection().await;
        let now = self.clock.now();
        match result {
            Ok(identity) => {
                if let Some(bound) = &rec.account
                    && bound.account_id != identity.account_id
                {
                    let err = Error::AccountMismatch {
                        store: rec.store.clone(),
                        channel: rec.channel,
                        expected: bound.account_id.clone(),
                        actual: identity.account_id.clone(),
                    };
                    self.record_error(store, err.kind(), &err.to_string()).await?;
                    return Err(err);
                }
                if let Err(err) = self.check_company_binding(&rec.store, rec.channel, &rec.scope, &identity).await {
                    self.record_error(store, err.kind(), &err.to_string()).await?;
                    return Err(err);
                }
                self.store.record_health(store, HealthEvent::CredentialsOk { at: now }).await?;
                Ok(identity)
            }
            Err(e) => {
                self.record_error(store, e.kind(), e.message()).await?;
                Err(e.into())
            }
        }
    }

    fn open(&self, rec: &ConnectionRecord) -> Result<Credentials> {
        if rec.state == ConnectionState::Disconnected {
            return Err(Error::Disconnected(rec.store.clone()));
        }
        let sealed = rec.credentials.as_ref().ok_or_else(|| Error::Disconnected(rec.store.clone()))?;
        self.cipher.open(&rec.store, sealed)
    }

    /// Replace a connection's credentials after testing them. Takealot refuses credentials of another
    /// seller account than the one the store is bound to; other platforms rebind (and audit it). Clears
    /// a needs-re-authentication state and reconnects a disconnected store.
    pub async fn update_credentials(&self, store: &StoreId, credentials: Credentials) -> Result<ConnectionRecord> {
        let rec = self.get(store).await?;
        let verified = self.verify_credentials(&rec, &rec.settings, &credentials).await?;
        let now = self.clock.now();
        self.modify(store, |rec, extra| {
            apply_credentials(rec, extra, &verified, now);
            Ok(())
        })
        .await
    }

    /// Test `credentials` for `rec`'s store under `settings` and seal them: the account they belong to,
    /// refused when Takealot's bound account is another.
    async fn verify_credentials(
        &self,
        rec: &ConnectionRecord,
        settings: &Value,
        credentials: &Credentials,
    ) -> Result<VerifiedCredentials> {
        if credentials.is_empty() {
            return Err(Error::Invalid(format!("store {}: no credentials given", rec.store)));
        }
        let channel = self.build(&rec.store, rec.channel, settings, credentials)?;
        let identity = channel.test_connection().await?;
        if let Some(bound) = &rec.account
            && bound.account_id != identity.account_id
            && rec.channel == ChannelKind::Takealot
        {
            return Err(Error::AccountMismatch {
                store: rec.store.clone(),
                channel: rec.channel,
                expected: bound.account_id.clone(),
                actual: identity.account_id,
            });
        }
        self.check_company_binding(&rec.store, rec.channel, &rec.scope, &identity).await?;
        Ok(VerifiedCredentials { sealed: self.cipher.seal(&rec.store, credentials)?, identity })
    }

    /// Check that `settings` build `rec`'s adapter, before they are stored: with its stored credentials
    /// when it has them, else with placeholders for the adapter's credential names (no request is made).
    fn check_settings_build(&self, rec: &ConnectionRecord, settings: &Value) -> Result<()> {
        let creds = match self.open(rec) {
            Ok(creds) => creds,
            Err(_) => crate::factory::credential_names(rec.channel)
                .iter()
                .fold(Credentials::new(), |c, name| c.with(*name, "placeholder")),
        };
        self.build(&rec.store, rec.channel, settings, &creds).map(drop)
    }

    /// Change a connection's configuration (not its scope: a store neither moves between companies nor
    /// between global and client). Setting the source-of-truth flag checks that no other store in
    /// an overlapping scope holds it and that the platform's stores share no SKU.
    pub async fn update(&self, store: &StoreId, update: ConnectionUpdate) -> Result<ConnectionRecord> {
        if let Some(settings) = &update.settings {
            crate::settings::check_settings(settings)?;
            sku_rules(settings)?;
        }
        let all = self.store.connections(&ConnectionFilter::all()).await?;
        let current =
            all.iter().find(|c| &c.store == store).ok_or_else(|| Error::NotFound(format!("store {store}")))?;
        if let Some(scope) = &update.scope
            && scope != &current.scope
        {
            // A global store's listings, lines and cursors are kept in every company it serves: turning it
            // into one company's (or back) would strand the others' rows. Remove and add it instead.
            return Err(Error::Invalid(format!(
                "store {store} cannot change scope from {} to {}: remove it and add it again",
                describe_scope(&current.scope),
                describe_scope(scope)
            )));
        }
        // Nothing is written unless all of it holds: the new settings build the adapter, and new
        // credentials work under them.
        let settings = update.settings.as_ref().unwrap_or(&current.settings);
        let verified = match &update.credentials {
            Some(creds) => Some(self.verify_credentials(current, settings, creds).await?),
            None => {
                if update.settings.is_some() {
                    self.check_settings_build(current, settings)?;
                }
                None
            }
        };
        let scope = update.scope.clone().unwrap_or_else(|| current.scope.clone());
        let becomes_source = update.source_of_truth.unwrap_or(current.source_of_truth);
        if becomes_source {
            check_source_free(&all, store, &scope)?;
        }
        let source_platform = all
            .iter()
            .filter(|c| &c.store != store && c.source_of_truth && overlaps(&c.scope, &scope))
            .map(|c| c.channel)
            .chain(becomes_source.then_some(current.channel))
            .any(|ch| ch == current.channel);
        if source_platform {
            let mine = self.linked_skus(store).await?;
            for sibling in
                all.iter().filter(|c| &c.store != store && c.channel == current.channel && overlaps(&c.scope, &scope))
            {
                if let Some(sku) = mine.intersection(&self.linked_skus(&sibling.store).await?).next() {
                    return Err(Error::SharedSkuWithSourceOfTruth {
                        channel: current.channel,
                        sku: sku.clone(),
                        stores: vec![sibling.store.clone(), store.clone()],
                    });
                }
            }
        }
        let now = self.clock.now();
        self.modify(store, |rec, extra| {
            let mut changed = Vec::new();
            if let Some(n) = &update.name {
                changed.push(format!("name {:?} -> {n:?}", rec.name));
                rec.name = n.clone();
            }
            if let Some(s) = &update.scope {
                changed.push(format!("scope {:?} -> {s:?}", rec.scope));
                rec.scope = s.clone();
            }
            if let Some(w) = &update.warehouse {
                changed.push(format!("warehouse {:?} -> {w:?}", rec.warehouse));
                rec.warehouse = w.clone();
            }
            if let Some(s) = &update.settings {
                changed.push("settings".to_owned());
                rec.settings = s.clone();
            }
            if let Some(m) = update.sync_mode {
                changed.push(format!("sync mode {} -> {}", rec.sync_mode.as_str(), m.as_str()));
                rec.sync_mode = m;
            }
            if let Some(s) = update.source_of_truth {
                changed.push(format!("source of truth {} -> {s}", rec.source_of_truth));
                rec.source_of_truth = s;
            }
            rec.updated_at = now;
            extra.push(WriteOp::Audit(
                AuditEntry::new(rec.store.clone(), "connection", "configuration changed", now)
                    .change(None, Some(changed.join("; "))),
            ));
            if let Some(verified) = &verified {
                apply_credentials(rec, extra, verified, now);
            }
            Ok(())
        })
        .await
    }

    /// Record a failed call: an [`ErrorKind::Auth`] error marks the connection as needing
    /// re-authentication, which stops pushes until the credentials are updated.
    pub async fn record_error(&self, store: &StoreId, kind: ErrorKind, message: &str) -> Result<()> {
        let event = HealthEvent::Failed { kind, message: message.to_owned(), at: self.clock.now() };
        Ok(self.store.record_health(store, event).await?)
    }

    /// Record a finished sync.
    pub async fn record_sync(&self, store: &StoreId) -> Result<()> {
        Ok(self.store.record_health(store, HealthEvent::SyncSucceeded { at: self.clock.now() }).await?)
    }

    /// Queue a "sync now" (the engine runs it).
    pub async fn sync_now(&self, store: &StoreId, requested_by: Option<&str>) -> Result<()> {
        let rec = self.get(store).await?;
        if rec.state == ConnectionState::Disconnected {
            return Err(Error::Disconnected(rec.store));
        }
        if rec.health.credentials == CredentialStatus::NeedsReauth {
            return Err(Error::NeedsReauth(rec.store));
        }
        let req = SyncRequest::new(store.clone(), requested_by.map(str::to_owned), self.clock.now());
        Ok(self.store.commit(WriteOp::RequestSync(req).into()).await.map(drop)?)
    }

    /// Disconnect a store. Takealot: delete its credentials, refuse its webhooks, drop its queued pushes,
    /// keep the seller-account binding and its data. Other platforms: remove the store, its listings and
    /// sales, and the products only it lists — refused ([`Error::Invalid`]) for the source of truth, whose
    /// listings hold the on hand every other store follows: make another store the source first (or
    /// clear the flag, on purpose) with [`Connections::update`].
    pub async fn disconnect(&self, store: &StoreId) -> Result<Disconnected> {
        let rec = self.get(store).await?;
        if rec.source_of_truth && rec.channel != ChannelKind::Takealot {
            return Err(Error::Invalid(format!(
                "store {store} is the source of truth: removing it would delete the on hand every other store \
                 follows; make another store the source (or clear source_of_truth) first"
            )));
        }
        let now = self.clock.now();
        if rec.channel == ChannelKind::Takealot {
            let rec = self
                .modify(store, |rec, extra| {
                    rec.credentials = None;
                    rec.state = ConnectionState::Disconnected;
                    rec.updated_at = now;
                    extra.push(WriteOp::DropOutbox(rec.store.clone()));
                    extra.push(WriteOp::Audit(
                        AuditEntry::new(rec.store.clone(), "credentials", "disconnected: API key deleted", now)
                            .change(Some("set".into()), None),
                    ));
                    Ok(())
                })
                .await?;
            return Ok(Disconnected::KeptBinding { account: rec.account.map(|a| a.account_id) });
        }
        let report = self.store.purge_store(store).await?;
        let audit = AuditEntry::new(store.clone(), "connection", "disconnected: store and its data removed", now)
            .change(rec.account.map(|a| a.account_id), None);
        self.store.commit(WriteOp::Audit(audit).into()).await?;
        Ok(Disconnected::Removed(report))
    }

    /// The channel of a connected store, watched: an authentication error from any call marks the
    /// connection as needing re-authentication, after which its writes are refused until the credentials
    /// are updated.
    pub async fn channel(&self, store: &StoreId) -> Result<Arc<dyn Channel>> {
        let rec = self.get(store).await?;
        let creds = self.open(&rec)?;
        let inner = self.build(&rec.store, rec.channel, &rec.settings, &creds)?;
        Ok(Arc::new(WatchedChannel {
            inner,
            store_id: rec.store.clone(),
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            needs_reauth: AtomicBool::new(rec.health.credentials == CredentialStatus::NeedsReauth),
        }))
    }

    /// Verify and parse a webhook delivery for a store. Deliveries for disconnected (or unknown) stores are
    /// refused.
    pub async fn verify_webhook(
        &self,
        store: &StoreId,
        request: &WebhookRequest,
    ) -> std::result::Result<WebhookEvent, WebhookRejection> {
        let rec = match self.store.connection(store).await {
            Ok(Some(rec)) => rec,
            Ok(None) => return Err(WebhookRejection::NotAccepted(format!("unknown store {store}"))),
            Err(e) => return Err(WebhookRejection::NotAccepted(format!("store {store} unavailable: {}", e.kind()))),
        };
        if rec.state == ConnectionState::Disconnected {
            return Err(WebhookRejection::NotAccepted(format!("store {store} is disconnected")));
        }
        let channel = self
            .open(&rec)
            .and_then(|creds| self.build(&rec.store, rec.channel, &rec.settings, &creds))
            .map_err(|e| WebhookRejection::NotAccepted(format!("store {store}: {}", e.kind())))?;
        channel.verify_webhook(request)
    }

    /// SKU hygiene before a store's first sync: read its listings and report unknown SKUs, near-misses,
    /// duplicates, invalid SKUs and SKU changes against the catalog and the listings already linked. For a
    /// global store, only the listings whose SKU this company alone owns are diagnosed; one whose SKU no
    /// company or several own is reported ([`SkuIssue::NoOwner`], [`SkuIssue::SeveralOwners`]); another
    /// company's are left out.
    pub async fn check_skus(&self, store: &StoreId) -> Result<SkuReport> {
        let rec = self.get(store).await?;
        let rules = sku_rules(&rec.settings)?;
        let listings = self.channel(store).await?.all_listings().await?;
        // A global store's listings are this company's only where it alone owns the SKU; another
        // company's are not looked at, and a SKU owned by no company or several is a finding.
        let mut ownership_issues = Vec::new();
        let listings = match self.global_ownership(&rec, &rules, &listings).await? {
            None => listings,
            Some(owned) => {
                let mut mine = Vec::new();
                for (l, (sku, ownership)) in listings.into_iter().zip(owned) {
                    let shown = sku.as_ref().map_or(l.channel_sku.as_str(), Sku::as_str);
                    match crate::sync::ownership_issue(&ownership, &l.id, shown) {
                        Some(issue) => ownership_issues.push(issue),
                        None if ownership == Ownership::Mine => mine.push(l),
                        None => {}
                    }
                }
                mine
            }
        };
        let products = self.store.products().await?;
        let catalog: BTreeSet<Sku> = products.iter().map(|p| p.sku.clone()).collect();
        let linked = self.linked_map(store).await?;
        let mut report = hygiene::diagnose(&listings, &rules, &catalog, &linked);
        report.engine = hygiene::engine_diagnostics(store, rec.channel, &listings, &rules, &products);
        report.listings += ownership_issues.len();
        report.issues.extend(ownership_issues);
        Ok(report)
    }

    /// For a global store, how this company sees each listing's SKU (in the listings' order): the SKU
    /// looked up and who owns it. `None` for a client connection.
    async fn global_ownership(
        &self,
        rec: &ConnectionRecord,
        rules: &SkuRules,
        listings: &[Listing],
    ) -> Result<Option<Vec<(Option<Sku>, Ownership)>>> {
        if rec.scope != Scope::Global {
            return Ok(None);
        }
        let skus: Vec<Option<Sku>> = listings.iter().map(|l| hygiene::canonical_sku(rules, l).0.ok()).collect();
        let wanted: Vec<Sku> = skus.iter().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let owners = if wanted.is_empty() { BTreeMap::new() } else { self.store.sku_owners(&wanted).await? };
        Ok(Some(
            skus.into_iter()
                .map(|sku| {
                    let ownership = Ownership::of(sku.as_ref().and_then(|s| owners.get(s)), self.company());
                    (sku, ownership)
                })
                .collect(),
        ))
    }

    async fn linked_map(&self, store: &StoreId) -> Result<BTreeMap<ListingId, ListingRecord>> {
        Ok(self
            .store
            .listings(&ListingFilter::store(store.clone()))
            .await?
            .into_iter()
            .map(|l| (l.listing.clone(), l))
            .collect())
    }

    /// Record what a store's listings look like now (quantity, price, status, ids), linking new listings
    /// to their canonical SKU. A linked listing that shows another SKU keeps its link, is flagged with a
    /// [`SkuChange`] (so it is not synced) and is reported; when the channel shows the old SKU again the
    /// flag clears. A global store's listing is linked only when this company alone owns its SKU
    /// ([`Store::sku_owners`]); see [`ObservedListings::ownership`] and
    /// [`ObservedListings::other_company`] for the others.
    pub async fn observe_listings(&self, store: &StoreId, listings: &[Listing]) -> Result<ObservedListings> {
        let rec = self.get(store).await?;
        let rules = sku_rules(&rec.settings)?;
        let owned = self.global_ownership(&rec, &rules, listings).await?;
        let mut last = None;
        for _ in 0..RETRIES {
            let now = self.clock.now();
            let linked = self.linked_map(store).await?;
            let mut out = ObservedListings::default();
            let mut batch = WriteBatch::new();
            for (i, l) in listings.iter().enumerate() {
                if let Some((sku, ownership)) = owned.as_ref().map(|o| &o[i])
                    && *ownership != Ownership::Mine
                    && !linked.get(&l.id).is_some_and(|p| p.sku.is_some() && p.channel_sku != l.channel_sku)
                {
                    observe_unowned(store, l, ownership, sku.as_ref(), linked.get(&l.id), now, &mut batch, &mut out);
                    continue;
                }
                let mut row = match linked.get(&l.id) {
                    Some(prev) => prev.clone(),
                    None => {
                        let mut row = ListingRecord::new(store.clone(), l.id.clone(), l.channel_sku.clone());
                        row.sku = hygiene::canonical_sku(&rules, l).0.ok();
                        out.added += 1;
                        row
                    }
                };
                if row.version > 0 {
                    out.updated += 1;
                    if row.sku.is_some() && row.channel_sku != l.channel_sku {
                        let issue = SkuIssue::SkuChanged {
                            listing: l.id.clone(),
                            from: row.channel_sku.clone(),
                            to: l.channel_sku.clone(),
                        };
                        if row.sku_change.as_ref().is_none_or(|c| c.to != l.channel_sku) {
                            row.sku_change = Some(SkuChange {
                                from: row.channel_sku.clone(),
                                to: l.channel_sku.clone(),
                                seen_at: now,
                            });
                            batch.push(WriteOp::Audit(
                                AuditEntry::new(
                                    store.clone(),
                                    "sku",
                                    "SKU changed on the channel; listing held back",
                                    now,
                                )
                                .on_listing(l.id.clone(), row.sku.clone())
                                .change(Some(row.channel_sku.clone()), Some(l.channel_sku.clone())),
                            ));
                        }
                        out.sku_changes.push(issue);
                    } else if row.channel_sku == l.channel_sku {
                        row.sku_change = None;
                    }
                    if row.sku.is_none() && row.channel_sku != l.channel_sku {
                        row.channel_sku = l.channel_sku.clone();
                        row.sku = hygiene::canonical_sku(&rules, l).0.ok();
                    }
                }
                row.ids = l.ids.clone();
                row.fulfilment = rules.apply(&l.channel_sku, l.fulfilment).fulfilment;
                row.status = l.status;
                row.seen_quantity = l.quantity();
                row.seen_price = l.price;
                row.seen_at = Some(now);
                batch.push(WriteOp::PutListing(row));
            }
            match self.store.commit(batch).await {
                Ok(_) => return Ok(out),
                Err(e) if e.kind() == ErrorKind::Conflict => last = Some(e.into()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.unwrap_or_else(|| Error::conflict(format!("listings of {store}"), 0, None)))
    }

    /// Accept a SKU change: relink the listing to the SKU the channel now shows.
    pub async fn accept_sku_change(&self, store: &StoreId, listing: &ListingId) -> Result<ListingRecord> {
        let rules = sku_rules(&self.get(store).await?.settings)?;
        let mut row = self
            .store
            .listing(store, listing)
            .await?
            .ok_or_else(|| Error::NotFound(format!("listing {store}/{listing}")))?;
        let change = row
            .sku_change
            .take()
            .ok_or_else(|| Error::Invalid(format!("listing {store}/{listing} has no SKU change")))?;
        let old = row.sku.clone();
        row.sku = Sku::new(rules.apply(&change.to, row.fulfilment).canonical).ok();
        row.channel_sku = change.to.clone();
        let now = self.clock.now();
        let audit = AuditEntry::new(store.clone(), "sku", "SKU change accepted; listing relinked", now)
            .on_listing(listing.clone(), row.sku.clone())
            .change(old.map(|s| s.to_string()), row.sku.as_ref().map(ToString::to_string));
        self.store.commit(WriteBatch::new().with(WriteOp::PutListing(row.clone())).with(WriteOp::Audit(audit))).await?;
        row.version += 1;
        Ok(row)
    }
}

fn check_source_free(all: &[ConnectionRecord], store: &StoreId, scope: &Scope) -> Result<()> {
    match all.iter().find(|c| &c.store != store && c.source_of_truth && overlaps(&c.scope, scope)) {
        Some(existing) => Err(Error::SourceOfTruthTaken { existing: existing.store.clone() }),
        None => Ok(()),
    }
}

/// A channel that reports authentication failures to its connection's health and refuses writes once
/// the connection needs re-authentication.
#[derive(Debug)]
struct WatchedChannel {
    inner: Arc<dyn Channel>,
    store_id: StoreId,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    needs_reauth: AtomicBool,
}

impl WatchedChannel {
    async fn note<T: Send>(&self, result: channel_core::Result<T>) -> channel_core::Result<T> {
        if let Err(e) = &result
            && e.kind() == ErrorKind::Auth
        {
            self.needs_reauth.store(true, Ordering::SeqCst);
            let event =
                HealthEvent::Failed { kind: ErrorKind::Auth, message: e.message().to_owned(), at: self.clock.now() };
            if let Err(store_err) = self.store.record_health(&self.store_id, event).await {
                tracing::warn!(store = %self.store_id, error = %store_err, "could not record an authentication failure");
            }
        }
        result
    }

    fn writable(&self) -> channel_core::Result<()> {
        if self.needs_reauth.load(Ordering::SeqCst) {
            return Err(channel_core::Error::auth(format!(
                "store {} needs re-authentication; pushes are stopped until its credentials are updated",
                self.store_id
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Channel for WatchedChannel {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn test_connection(&self) -> channel_core::Result<AccountIdentity> {
        let r = self.inner.test_connection().await;
        self.note(r).await
    }

    fn listings(&self) -> BoxStream<'_, channel_core::Result<Listing>> {
        self.inner.listings().then(move |r| self.note(r)).boxed()
    }

    async fn get_listings(&self, ids: &[ListingId]) -> channel_core::Result<Vec<Listing>> {
        let r = self.inner.get_listings(ids).await;
        self.note(r).await
    }

    async fn set_stock(&self, updates: &[StockUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.writable()?;
        let r = self.inner.set_stock(updates).await;
        self.note(r).await
    }

    async fn adjust_stock(&self, adjustments: &[StockAdjustment]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.writable()?;
        let r = self.inner.adjust_stock(adjustments).await;
        self.note(r).await
    }

    async fn set_prices(&self, updates: &[PriceUpdate]) -> channel_core::Result<Vec<ItemOutcome>> {
        self.writable()?;
        let r = self.inner.set_prices(updates).await;
        self.note(r).await
    }

    fn orders_since<'a>(&'a self, cursor: &'a OrderCursor) -> BoxStream<'a, channel_core::Result<OrderPage>> {
        self.inner.orders_since(cursor).then(move |r| self.note(r)).boxed()
    }

    async fn export_tracking(&self, shipment: &Shipment) -> channel_core::Result<()> {
        let r = self.inner.export_tracking(shipment).await;
        self.note(r).await
    }

    async fn confirm_access_revoked(&self) -> channel_core::Result<bool> {
        // The engine records a confirmed revocation itself; the adapter's own check is the one to make.
        self.inner.confirm_access_revoked().await
    }

    fn verify_webhook(&self, request: &WebhookRequest) -> std::result::Result<WebhookEvent, WebhookRejection> {
        self.inner.verify_webhook(request)
    }
}

/// A scope in words, for errors.
fn describe_scope(scope: &Scope) -> String {
    match scope {
        Scope::Global => "global".to_owned(),
        Scope::Client(c) => format!("company {c}"),
    }
}
