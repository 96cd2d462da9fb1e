//! Company lifecycle: create (optionally bound for good to one account of a required channel), list, get,
//! delete; and each company's own [`Connections`].
//!
//! A company (tenant) owns its catalog and SKU namespace, its ledger, connections, orders, audit and dead
//! letters; nothing crosses companies. [`Companies`] works over any [`Store`] view (it uses the root-level
//! methods, whatever the view's company) and hands out a [`Connections`] scoped to one company. See
//! `docs/companies.md`.

use std::sync::Arc;

use channel_core::ChannelKind;

use crate::clock::Clock;
use crate::connections::{ChannelFactory, Connections, NewConnection, PreparedAdd, valid_store_id};
use crate::credentials::CredentialCipher;
use crate::store::{CompanyId, CompanyRecord, PurgeReport, Scope, Store, WriteBatch, WriteOp};
use crate::{Error, Result};

/// A company to create ([`Companies::create`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewCompany {
    /// Its id (letters, digits, `-`, `_`, `.`; at most 64).
    pub id: CompanyId,
    /// A human name.
    pub name: String,
    /// The channel the company must be bound to an account of (a seller service binding each company to
    /// one Takealot seller account): its connection is then required, added and tested at creation.
    pub requires: Option<ChannelKind>,
    /// A connection to add with the company (a client connection of it), tested before anything is
    /// written.
    pub connection: Option<NewConnection>,
}

impl NewCompany {
    /// A company with no required channel and no connection.
    pub fn new(id: impl Into<CompanyId>, name: impl Into<String>) -> Self {
        Self { id: id.into(), name: name.into(), requires: None, connection: None }
    }

    /// Bound to an account of `channel`, whose connection must come with it (builder style).
    #[must_use]
    pub fn requiring(mut self, channel: ChannelKind) -> Self {
        self.requires = Some(channel);
        self
    }

    /// With a connection added at creation (builder style).
    #[must_use]
    pub fn with_connection(mut self, connection: NewConnection) -> Self {
        self.connection = Some(connection);
        self
    }
}

/// The companies of a service and their lifecycle, over a [`Store`].
#[derive(Debug, Clone)]
pub struct Companies {
    store: Arc<dyn Store>,
    factory: Arc<dyn ChannelFactory>,
    cipher: CredentialCipher,
    clock: Arc<dyn Clock>,
}

impl Companies {
    /// The companies of `store`'s database (any company's view will do), building channels with `factory`
    /// and sealing credentials with `cipher`.
    pub fn new(
        store: Arc<dyn Store>,
        factory: Arc<dyn ChannelFactory>,
        cipher: CredentialCipher,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, factory, cipher, clock }
    }

    /// Create a company. With [`NewCompany::requires`], a connection of that channel must come with it;
    /// it is tested, and the account it belongs to becomes the company's
    /// [`CompanyRecord::bound_account`] for good. The company, its connection and the binding are written
    /// in one batch after every check and test passed, so a failure leaves nothing behind.
    /// [`Error::CompanyExists`] for a taken id; [`Error::Invalid`] for a bad id or name, or a missing or
    /// mismatched required connection; a taken store id or failing credentials as
    /// [`Connections::add`] reports them.
    pub async fn create(&self, new: NewCompany) -> Result<CompanyRecord> {
        valid_company_id(&new.id)?;
        if new.name.trim().is_empty() {
            return Err(Error::Invalid(format!("company {}: a company needs a name", new.id)));
        }
        if self.store.company(&new.id).await?.is_some() {
            return Err(Error::CompanyExists(new.id));
        }
        check_required(&new)?;
        // Rows left under this id by an engine that still ran when a company of the same id was deleted
        // are not this new company's: remove them first.
        self.store.purge_company(&new.id).await?;
        let mut record = CompanyRecord::new(new.id.clone(), new.name.clone(), self.clock.now());
        record.requires = new.requires;
        let mut batch = WriteBatch::new();
        if let Some(connection) = new.connection {
            if connection.scope.as_ref().is_some_and(|s| s.client() != Some(&new.id)) {
                return Err(Error::Invalid(format!(
                    "company {}: the connection created with it is its own (a client connection of it)",
                    new.id
                )));
            }
            let manager = self.connections_unchecked(&new.id);
            let connection = connection.with_scope(Scope::Client(new.id.clone()));
            let PreparedAdd::New { record: conn, audit } = manager.prepare_add(connection).await? else {
                // Only an existing, disconnected store of this very company is reconnected, and the
                // company does not exist yet.
                return Err(Error::Invalid(format!("company {}: its connection exists already", new.id)));
            };
            if new.requires.is_some() {
                self.check_binding_free(&new.id, conn.account.as_ref()).await?;
                record.bound_account.clone_from(&conn.account);
            }
            batch.push(WriteOp::PutCompany(record.clone()));
            batch.push(WriteOp::PutConnection(*conn));
            batch.push(WriteOp::Audit(*audit));
        } else {
            batch.push(WriteOp::PutCompany(record.clone()));
        }
        // A company of the same id created meanwhile makes this a version conflict: nothing is written.
        if let Err(e) = self.store.for_company(&new.id).commit(batch).await {
            if e.kind() == channel_core::ErrorKind::Conflict && self.store.company(&new.id).await?.is_some() {
                return Err(Error::CompanyExists(new.id));
            }
            return Err(e.into());
        }
        record.version = 1;
        Ok(record)
    }

    /// An account binds one company only: [`Error::AlreadyExists`] when another company is bound to it
    /// (its binding outlives its connection).
    async fn check_binding_free(&self, id: &CompanyId, account: Option<&channel_core::AccountIdentity>) -> Result<()> {
        let Some(account) = account else { return Ok(()) };
        let companies = self.store.companies().await?;
        let taken = companies.iter().find(|c| {
            &c.id != id
                && c.bound_account
                    .as_ref()
                    .is_some_and(|b| b.channel == account.channel && b.account_id == account.account_id)
        });
        match taken {
            Some(other) => Err(Error::AlreadyExists(format!(
                "{} account {:?} is already bound to company {}",
                account.channel, account.account_id, other.id
            ))),
            None => Ok(()),
        }
    }

    /// Every company, by id.
    pub async fn list(&self) -> Result<Vec<CompanyRecord>> {
        Ok(self.store.companies().await?)
    }

    /// One company, or [`Error::CompanyNotFound`].
    pub async fn get(&self, id: &CompanyId) -> Result<CompanyRecord> {
        self.store.company(id).await?.ok_or_else(|| Error::CompanyNotFound(id.clone()))
    }

    /// Delete a company: its connections' credentials and everything of it (catalog, ledger, listings,
    /// orders, outbox, audit, its rows about global stores, the company row), as a disconnect removes a
    /// store. Global connections stay. [`Error::CompanyNotFound`] for an unknown id.
    ///
    /// An engine running the company (a [`crate::Fleet`] worker holding it) is not stopped here: its
    /// holder stops it at its next balance round, when the company is no longer listed. Rows it writes
    /// meanwhile stay under the id but belong to no company: they own no SKU ([`Store::sku_owners`]
    /// counts existing companies only) and [`Companies::create`] removes them before creating a company
    /// of the same id.
    pub async fn delete(&self, id: &CompanyId) -> Result<PurgeReport> {
        self.get(id).await?;
        self.store.purge_company(id).await?.ok_or_else(|| Error::CompanyNotFound(id.clone()))
    }

    /// Integration management of one company: its client connections (and the global ones, which every
    /// company sees). [`Error::CompanyNotFound`] for an unknown id.
    pub async fn connections(&self, id: &CompanyId) -> Result<Connections> {
        self.get(id).await?;
        Ok(self.connections_unchecked(id))
    }

    /// The operator's management of the global connections ([`Connections::operator`]): the only
    /// manager that adds, changes, disconnects or removes them. Disconnecting a global store removes its
    /// rows in every company.
    pub fn global_connections(&self) -> Connections {
        Connections::operator(
            Arc::clone(&self.store),
            Arc::clone(&self.factory),
            self.cipher.clone(),
            Arc::clone(&self.clock),
        )
    }

    fn connections_unchecked(&self, id: &CompanyId) -> Connections {
        Connections::new(
            self.store.for_company(id),
            Arc::clone(&self.factory),
            self.cipher.clone(),
            Arc::clone(&self.clock),
        )
    }
}

/// A company id follows the store-id rules: 1–64 letters, digits, `-`, `_` or `.`.
fn valid_company_id(id: &CompanyId) -> Result<()> {
    valid_store_id(&channel_core::StoreId::new(id.as_str())).map_err(|_| {
        Error::Invalid(format!("company id {:?} must be 1-64 letters, digits, '-', '_' or '.'", id.as_str()))
    })
}

/// A company that requires a channel comes with a connection of that channel.
fn check_required(new: &NewCompany) -> Result<()> {
    let Some(required) = new.requires else { return Ok(()) };
    match &new.connection {
        None => Err(Error::Invalid(format!(
            "company {} requires a {required} account: create it with its {required} connection",
            new.id
        ))),
        Some(c) if c.channel != required => Err(Error::Invalid(format!(
            "company {} requires a {required} account, but its connection {} is {}",
            new.id, c.store, c.channel
        ))),
        Some(_) => Ok(()),
    }
}
