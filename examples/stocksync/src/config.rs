//! The configuration file (see `stocksync.example.toml`): its TOML types, loading, and the checks and
//! conversions that turn its tables into what the engine takes — the credential cipher, a connection's
//! credentials, settings, scope and sync mode, and the `[sync]` table's engine configuration.
//!
//! Values are checked when a command uses them, not when the file is loaded, so a mistake in one
//! connection's table does not stop commands about the others — except a secret under
//! `[connections.settings]`, which no command accepts (settings are stored in plain text; see
//! `sync_engine::settings`). `check-config` checks everything at once ([`Loaded::check`]). Every failure
//! is one line: exit 2 for bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use channel_core::{ChannelKind, StoreId};
use serde::Deserialize;
use sync_engine::store::{CompanyId, Scope, SyncMode, WarehouseId};
use sync_engine::{ConnectionUpdate, CredentialCipher, Credentials, NewConnection, SyncConfig};

use crate::fail::{Fail, usage};

/// The config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Where the store lives and where its credential key comes from (`[store]`).
    pub(crate) store: StoreConfig,
    /// The companies (tenants) the connections belong to (`[[companies]]`; a connection naming none
    /// belongs to the default company, which needs no table).
    #[serde(default)]
    companies: Vec<CompanyConfig>,
    /// The stores on channels (`[[connections]]`).
    #[serde(default)]
    connections: Vec<ConnectionConfig>,
    /// How `serve` runs the engine (`[sync]`; every field optional).
    #[serde(default)]
    pub(crate) sync: SyncSection,
    /// The bounds `serve` puts on webhook clients (`[serve]`; every field optional).
    #[serde(default)]
    pub(crate) serve: crate::webhook_server::ServeSection,
}

/// The `[store]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreConfig {
    /// The SQLite file (relative paths are relative to the config file).
    path: PathBuf,
    /// The environment variable holding the credential key (32 bytes, base64).
    key_env: Option<String>,
    /// A file holding the credential key.
    key_file: Option<PathBuf>,
}

/// One `[[companies]]` table: a company (tenant), which `companies add` creates in the store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompanyConfig {
    /// Its id, which connections name under `company`.
    pub(crate) id: String,
    /// A human name.
    pub(crate) name: String,
    /// The channel the company is bound to an account of at creation (`takealot`), if any.
    #[serde(default)]
    requires: Option<String>,
}

/// One `[[connections]]` table: a store on a channel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionConfig {
    pub(crate) id: String,
    channel: String,
    name: Option<String>,
    /// The company it belongs to (the default company when neither this nor `client` is given).
    #[serde(default)]
    company: Option<String>,
    /// The old name of `company`: the same thing.
    #[serde(default)]
    client: Option<String>,
    /// `global`: the operator's own account serving every company (then no `company`).
    #[serde(default)]
    scope: Option<String>,
    warehouse: Option<String>,
    #[serde(default)]
    sync_mode: Option<String>,
    #[serde(default)]
    source_of_truth: bool,
    #[serde(default)]
    settings: Option<toml::Value>,
    /// Credential name -> environment variable.
    #[serde(default)]
    credentials_env: BTreeMap<String, String>,
    /// A TOML file of `name = "secret"` lines.
    credentials_file: Option<PathBuf>,
}

/// The `[sync]` table of the config file: how `serve` runs the engine. Durations are written `"3m"`,
/// `"500ms"`, `"1h 30m"` (or ISO 8601, `"PT3M"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyncSection {
    /// How often live stores are polled for orders, as a fallback to webhooks (default 3m).
    poll_interval: Option<String>,
    /// When (UTC, `"HH:MM"`) the daily full reconcile runs (default 02:00).
    daily_at: Option<String>,
    /// How often the scheduler wakes up to look at what is due (default 1s).
    tick: Option<String>,
    /// How often listings a webhook said changed are re-read (default 15s).
    refresh_interval: Option<String>,
    /// How far back the first order poll of a new store reaches (default 24h).
    first_poll_lookback: Option<String>,
    /// How long a worker's claim on a push or a store lasts (default 30s); after a crash, a restarted
    /// service waits this long for the claims the dead process held.
    lease: Option<String>,
    /// Rejected webhook deliveries of a store audited one by one within `webhook_rejection_window`;
    /// beyond, answered 429 and audited together (default 10).
    webhook_rejection_limit: Option<u32>,
    /// The window of `webhook_rejection_limit` (default 1m).
    webhook_rejection_window: Option<String>,
}

/// A config file as the CLI uses it: its contents and the path its relative paths are relative to.
#[derive(Debug)]
pub(crate) struct Loaded {
    path: PathBuf,
    /// The parsed file.
    pub(crate) config: Config,
}

/// Read and parse the config file (exit 2 when it cannot be read or is not a valid config).
pub(crate) fn load(path: &Path) -> Result<Loaded, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let config: Config = toml::from_str(&text).map_err(|e| usage(format!("{}: {}", path.display(), e.message())))?;
    for def in &config.connections {
        // A secret in the settings would be stored in plain text: refused by every command.
        if let Ok(settings) = def.settings() {
            sync_engine::settings::check_settings(&settings)
                .map_err(|e| usage(format!("{}: connection {}: {e}", path.display(), def.id)))?;
        }
    }
    Ok(Loaded { path: path.to_path_buf(), config })
}

/// `stocksync --config FILE check-config`: one line naming the connections checked, or one line
/// naming the problem (exit 2).
pub(crate) fn run_check(config: Option<&Path>) -> std::process::ExitCode {
    let result = (|| {
        let path = config.ok_or_else(|| usage("check-config needs --config FILE"))?;
        let loaded = load(path)?;
        let ids = loaded.check()?;
        let companies: Vec<&str> = loaded.companies().iter().map(|c| c.id.as_str()).collect();
        let companies = if companies.is_empty() {
            String::new()
        } else {
            format!("{} companies: {}; ", companies.len(), companies.join(", "))
        };
        println!("{}: ok ({companies}{} connections: {})", path.display(), ids.len(), ids.join(", "));
        Ok(())
    })();
    crate::fail::exit("check-config", result)
}

/// `p` as named in the file at `config_path`: relative paths are relative to the file's directory.
fn relative(config_path: &Path, p: &Path) -> PathBuf {
    match config_path.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// Read a file the config names, failing with exit 2.
fn read_named(file: &Path) -> Result<String, Fail> {
    std::fs::read_to_string(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))
}

impl Loaded {
    /// The SQLite file of `[store]`.
    pub(crate) fn store_path(&self) -> PathBuf {
        relative(&self.path, &self.config.store.path)
    }

    /// The cipher sealing credentials, keyed from `[store]`'s `key_env` or `key_file` (exactly one).
    pub(crate) fn cipher(&self) -> Result<CredentialCipher, Fail> {
        let store = &self.config.store;
        let key = match (&store.key_env, &store.key_file) {
            (Some(var), None) => {
                std::env::var(var).map_err(|_| usage(format!("the credential key variable {var} is not set")))?
            }
            (None, Some(file)) => read_named(&relative(&self.path, file))?,
            _ => return Err(usage("[store] needs exactly one of key_env or key_file")),
        };
        CredentialCipher::from_base64(key.trim()).map_err(|e| usage(e.to_string()))
    }

    /// Where the credential key comes from, for messages: "the variable K (`[store] key_env`)".
    pub(crate) fn key_source(&self) -> String {
        match (&self.config.store.key_env, &self.config.store.key_file) {
            (Some(var), _) => format!("the variable {var} ([store] key_env)"),
            (None, Some(file)) => format!("the file {} ([store] key_file)", relative(&self.path, file).display()),
            (None, None) => "not configured".to_owned(),
        }
    }

    /// The `[[connections]]` table with this id.
    pub(crate) fn definition(&self, id: &str) -> Result<&ConnectionConfig, Fail> {
        self.config
            .connections
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| usage(format!("no connection {id:?} in the config file")))
    }

    /// A connection's credentials: its `credentials_file`, then its `credentials_env` variables (which win).
    pub(crate) fn credentials(&self, def: &ConnectionConfig) -> Result<Credentials, Fail> {
        let mut creds = Credentials::new();
        if let Some(file) = &def.credentials_file {
            let file = relative(&self.path, file);
            let text = read_named(&file)?;
            let table: BTreeMap<String, String> = toml::from_str(&text)
                .map_err(|_| usage(format!("{}: expected name = \"secret\" lines", file.display())))?;
            for (k, v) in table {
                creds.insert(k, v);
            }
        }
        for (name, var) in &def.credentials_env {
            let value = std::env::var(var)
                .map_err(|_| usage(format!("{}: credential {name}: variable {var} is not set", def.id)))?;
            creds.insert(name.clone(), value);
        }
        if creds.is_empty() {
            return Err(usage(format!("{}: no credentials (set credentials_env or credentials_file)", def.id)));
        }
        Ok(creds)
    }

    /// The new connection `connections add` makes from a definition (credentials are read first).
    pub(crate) fn new_connection(&self, def: &ConnectionConfig) -> Result<NewConnection, Fail> {
        let creds = self.credentials(def)?;
        let mut new = NewConnection::new(
            StoreId::new(def.id.clone()),
            channel_kind(&def.channel)?,
            def.name.clone().unwrap_or_else(|| def.id.clone()),
            creds,
        )
        .with_scope(self.scope(def)?)
        .with_settings(def.settings()?)
        .with_sync_mode(def.sync_mode()?)
        .source_of_truth(def.source_of_truth);
        if let Some(w) = &def.warehouse {
            new = new.with_warehouse(WarehouseId::new(w.clone()));
        }
        Ok(new)
    }
}

impl Loaded {
    /// The `[[companies]]` tables.
    pub(crate) fn companies(&self) -> &[CompanyConfig] {
        &self.config.companies
    }

    /// The `[[companies]]` table with this id, checked ([`Loaded::check_company`]).
    pub(crate) fn company_definition(&self, id: &str) -> Result<&CompanyConfig, Fail> {
        let def = self.config.companies.iter().find(|c| c.id == id).ok_or_else(|| {
            usage(format!("no company {id:?} in the config file (declare it with a [[companies]] table)"))
        })?;
        self.check_company(def)?;
        Ok(def)
    }

    /// A `[[companies]]` table's own checks: a valid id declared once, and a known `requires` channel.
    fn check_company(&self, def: &CompanyConfig) -> Result<(), Fail> {
        valid_company_id(&def.id)?;
        if self.config.companies.iter().filter(|c| c.id == def.id).count() > 1 {
            return Err(usage(format!("company {:?} is declared by more than one [[companies]] table", def.id)));
        }
        def.requires()?;
        Ok(())
    }

    /// The company a connection belongs to, `None` for a global one (`scope = "global"`): its `company`
    /// key, or `client` (the old name: both may be given only if they agree), else the default company.
    /// A company other than the default one must have a `[[companies]]` table.
    pub(crate) fn company_of(&self, def: &ConnectionConfig) -> Result<Option<CompanyId>, Fail> {
        let named = match (&def.company, &def.client) {
            (Some(c), Some(k)) if c != k => {
                return Err(usage(format!(
                    "connection {}: company = {c:?} and client = {k:?} differ (client is the old name of \
                     company: give one)",
                    def.id
                )));
            }
            (Some(c), _) | (None, Some(c)) => Some(c),
            (None, None) => None,
        };
        match (def.scope.as_deref(), named) {
            (Some("global"), Some(c)) => Err(usage(format!(
                "connection {}: scope = \"global\" serves every company: it cannot belong to company {c:?}",
                def.id
            ))),
            (Some("global"), None) => Ok(None),
            (Some(other), _) => Err(usage(format!(
                "connection {}: scope = {other:?}: the one scope is \"global\" (leave it out for a company's own \
                 connection)",
                def.id
            ))),
            (None, None) => Ok(Some(CompanyId::default_company())),
            (None, Some(c)) if c == CompanyId::DEFAULT || self.config.companies.iter().any(|d| &d.id == c) => {
                Ok(Some(CompanyId::new(c.clone())))
            }
            (None, Some(c)) => Err(usage(format!(
                "connection {}: company {c:?} is not declared: add a [[companies]] table with id = {c:?} (a \
                 connection without company belongs to the default company)",
                def.id
            ))),
        }
    }

    /// A connection's scope: global, or its company's ([`Loaded::company_of`]).
    pub(crate) fn scope(&self, def: &ConnectionConfig) -> Result<Scope, Fail> {
        Ok(self.company_of(def)?.map_or(Scope::Global, Scope::Client))
    }

    /// The connection a company with `requires` is created with: the one `[[connections]]` table of that
    /// channel in the company. `None` for a company that requires no channel.
    pub(crate) fn required_connection(&self, company: &CompanyConfig) -> Result<Option<&ConnectionConfig>, Fail> {
        let Some(channel) = company.requires()? else { return Ok(None) };
        let mut found = Vec::new();
        for def in &self.config.connections {
            let ours = self.company_of(def)?.is_some_and(|c| c.as_str() == company.id);
            if ours && channel_kind(&def.channel)? == channel {
                found.push(def);
            }
        }
        match found.as_slice() {
            [one] => Ok(Some(one)),
            [] => Err(usage(format!(
                "company {} requires {channel}: add a [[connections]] table with channel = \"{channel}\" and \
                 company = {:?}",
                company.id, company.id
            ))),
            many => {
                let ids: Vec<&str> = many.iter().map(|d| d.id.as_str()).collect();
                Err(usage(format!(
                    "company {} requires {channel}: one connection of it is created with the company, the config \
                     has {} ({})",
                    company.id,
                    many.len(),
                    ids.join(", ")
                )))
            }
        }
    }
}

impl CompanyConfig {
    /// The channel of `requires`, if any.
    pub(crate) fn requires(&self) -> Result<Option<ChannelKind>, Fail> {
        self.requires
            .as_deref()
            .map(|r| channel_kind(r).map_err(|Fail(c, m)| Fail(c, format!("company {}: requires: {m}", self.id))))
            .transpose()
    }
}

/// A company id as the store takes it: 1-64 letters, digits, `-`, `_` or `.` (as a store id).
fn valid_company_id(id: &str) -> Result<(), Fail> {
    let ok = (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok { Ok(()) } else { Err(usage(format!("company id {id:?}: expected 1-64 letters, digits, '-', '_' or '.'"))) }
}

impl Loaded {
    /// Check the whole file without opening the store or reading a secret (`check-config`): `[store]`
    /// names exactly one key source, `[sync]` is valid, every company has a valid id declared once and, with
    /// `requires`, one connection of that channel; and every connection has a known channel, a company
    /// that is declared (or global), a valid sync mode, a credential source, and settings its adapter accepts (built with placeholder
    /// credentials, so no request is made). Answers the connection ids.
    pub(crate) fn check(&self) -> Result<Vec<String>, Fail> {
        let store = &self.config.store;
        if store.key_env.is_some() == store.key_file.is_some() {
            return Err(usage("[store] needs exactly one of key_env or key_file"));
        }
        self.config.sync.engine_config()?;
        for company in &self.config.companies {
            self.check_company(company)?;
            self.required_connection(company)?;
        }
        let factory = sync_engine::AdapterFactory::new();
        let mut ids = Vec::new();
        for def in &self.config.connections {
            let channel = channel_kind(&def.channel).map_err(|Fail(c, m)| Fail(c, format!("{}: {m}", def.id)))?;
            self.company_of(def)?;
            def.sync_mode()?;
            if def.credentials_env.is_empty() && def.credentials_file.is_none() {
                return Err(usage(format!("{}: no credentials (set credentials_env or credentials_file)", def.id)));
            }
            let mut creds = Credentials::new();
            let names = sync_engine::factory::credential_names(channel);
            for name in names.iter().copied().chain(def.credentials_env.keys().map(String::as_str)) {
                creds.insert(name.to_owned(), "placeholder".to_owned());
            }
            let store_id = StoreId::new(def.id.clone());
            sync_engine::connections::valid_store_id(&store_id).map_err(|e| usage(e.to_string()))?;
            let settings = def.settings()?;
            sync_engine::connections::sku_rules(&settings).map_err(|e| usage(format!("{}: {e}", def.id)))?;
            let spec = sync_engine::ChannelSpec::new(&store_id, channel, &settings, &creds);
            if let Err(e) = sync_engine::ChannelFactory::build(&factory, &spec) {
                return Err(usage(format!("{}: {e}", def.id)));
            }
            ids.push(def.id.clone());
        }
        Ok(ids)
    }
}

impl ConnectionConfig {
    /// The definition as a `connections update` under `scope` ([`Loaded::scope`]): everything but the
    /// channel and the credentials.
    pub(crate) fn update(&self, scope: Scope) -> Result<ConnectionUpdate, Fail> {
        let mut update = ConnectionUpdate::new()
            .with_scope(scope)
            .with_warehouse(self.warehouse.clone().map(WarehouseId::new))
            .with_settings(self.settings()?)
            .with_sync_mode(self.sync_mode()?)
            .with_source_of_truth(self.source_of_truth);
        if let Some(name) = &self.name {
            update = update.with_name(name.clone());
        }
        Ok(update)
    }

    /// The adapter settings as JSON (an empty object when there are none).
    fn settings(&self) -> Result<serde_json::Value, Fail> {
        match &self.settings {
            None => Ok(serde_json::Value::Object(Default::default())),
            Some(v) => serde_json::to_value(v).map_err(|e| usage(format!("{}: settings: {e}", self.id))),
        }
    }

    /// The sync mode (live when not given).
    fn sync_mode(&self) -> Result<SyncMode, Fail> {
        self.sync_mode
            .as_deref()
            .map_or(Ok(SyncMode::Live), |m| m.parse().map_err(|e: String| usage(format!("{}: {e}", self.id))))
    }
}

/// A channel name (`takealot`, `shopify`, …) as a [`ChannelKind`].
pub(crate) fn channel_kind(s: &str) -> Result<ChannelKind, Fail> {
    s.parse().map_err(|e: channel_core::UnknownChannel| usage(e.to_string()))
}

/// A `[sync]` duration, or `default` when it is not given.
fn duration(name: &str, text: &Option<String>, default: Duration) -> Result<Duration, Fail> {
    let Some(text) = text else { return Ok(default) };
    let bad = || usage(format!("[sync] {name} = {text:?}: expected a positive duration such as \"30s\" or \"3m\""));
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| bad())?;
    match Duration::try_from(parsed) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}

impl SyncSection {
    /// The engine's configuration.
    pub(crate) fn engine_config(&self) -> Result<SyncConfig, Fail> {
        let mut config = SyncConfig::default();
        config.poll_interval = duration("poll_interval", &self.poll_interval, config.poll_interval)?;
        config.tick = duration("tick", &self.tick, config.tick)?;
        config.refresh_interval = duration("refresh_interval", &self.refresh_interval, config.refresh_interval)?;
        config.first_poll_lookback =
            duration("first_poll_lookback", &self.first_poll_lookback, config.first_poll_lookback)?;
        config.lease = duration("lease", &self.lease, config.lease)?;
        config.webhook_rejection_window =
            duration("webhook_rejection_window", &self.webhook_rejection_window, config.webhook_rejection_window)?;
        if let Some(limit) = self.webhook_rejection_limit {
            if limit == 0 {
                return Err(usage("[sync] webhook_rejection_limit must be at least 1"));
            }
            config.webhook_rejection_limit = limit;
        }
        if let Some(at) = &self.daily_at {
            config.daily_at = at
                .trim()
                .parse()
                .map_err(|_| usage(format!("[sync] daily_at = {at:?}: expected a UTC time such as \"02:00\"")))?;
        }
        Ok(config)
    }
}
