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
use sync_engine::store::{ClientId, Scope, SyncMode, WarehouseId};
use sync_engine::{ConnectionUpdate, CredentialCipher, Credentials, NewConnection, SyncConfig};

use crate::fail::{Fail, usage};

/// The config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Where the store lives and where its credential key comes from (`[store]`).
    pub(crate) store: StoreConfig,
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

/// One `[[connections]]` table: a store on a channel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionConfig {
    id: String,
    channel: String,
    name: Option<String>,
    /// `global`, or a client id under `client`.
    #[serde(default)]
    client: Option<String>,
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
        let ids = load(path)?.check()?;
        println!("{}: ok ({} connections: {})", path.display(), ids.len(), ids.join(", "));
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
        .with_scope(def.scope())
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
    /// Check the whole file without opening the store or reading a secret (`check-config`): `[store]`
    /// names exactly one key source, `[sync]` is valid, and every connection has a known channel, a valid
    /// sync mode, a credential source, and settings its adapter accepts (built with placeholder
    /// credentials, so no request is made). Answers the connection ids.
    pub(crate) fn check(&self) -> Result<Vec<String>, Fail> {
        let store = &self.config.store;
        if store.key_env.is_some() == store.key_file.is_some() {
            return Err(usage("[store] needs exactly one of key_env or key_file"));
        }
        self.config.sync.engine_config()?;
        let factory = sync_engine::AdapterFactory::new();
        let mut ids = Vec::new();
        for def in &self.config.connections {
            let channel = channel_kind(&def.channel).map_err(|Fail(c, m)| Fail(c, format!("{}: {m}", def.id)))?;
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
    /// The definition as a `connections update`: everything but the channel and the credentials.
    pub(crate) fn update(&self) -> Result<ConnectionUpdate, Fail> {
        let mut update = ConnectionUpdate::new()
            .with_scope(self.scope())
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

    /// Global, or one client's.
    fn scope(&self) -> Scope {
        self.client.as_ref().map_or(Scope::Global, |c| Scope::Client(ClientId::new(c.clone())))
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
