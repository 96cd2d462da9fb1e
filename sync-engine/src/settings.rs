//! What may go in a connection's `settings`: everything but secrets.
//!
//! Settings are stored in plain text (they are shown by `connections list` and kept in every backup);
//! credentials are sealed with the [`crate::CredentialCipher`]. So [`crate::Connections::add`] and
//! [`crate::Connections::update`] refuse a setting whose **name** is a secret's, with
//! [`crate::Error::SecretInSettings`] naming the setting (never its value). A name is a secret's when,
//! lower-cased and with `_`, `-` and `.` removed, it
//!
//! - is one of the credential names an adapter takes ([`crate::factory::credential_names`]: `api_key`,
//!   `webhook_secret`, `access_token`, `consumer_key`, `consumer_secret`, `lwa_client_id`,
//!   `lwa_client_secret`, `refresh_token`), or
//! - contains `secret`, `token`, `password`, `passwd`, `passphrase`, `credential` or `key`,
//!
//! unless it is one of the known non-secret settings in [`NON_SECRET_SETTINGS`] (`token_url`, the
//! address of Amazon's token endpoint). Only the top-level names are looked at: the adapters' settings are
//! flat, and `sku_rules` holds no secret.

use serde_json::Value;

use crate::{Error, Result};

/// Settings whose names look like a secret's but are not: `token_url` is Amazon's LWA token endpoint.
pub const NON_SECRET_SETTINGS: &[&str] = &["token_url"];

/// The parts of a name that make it a secret's.
const SECRET_WORDS: &[&str] = &["secret", "token", "password", "passwd", "passphrase", "credential", "key"];

/// `name` lower-cased, without `_`, `-` and `.`.
fn normalized(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '_' | '-' | '.')).flat_map(char::to_lowercase).collect()
}

/// Whether a setting called `name` would hold a secret (see the module docs for the rule).
pub fn is_secret_name(name: &str) -> bool {
    if NON_SECRET_SETTINGS.contains(&name) {
        return false;
    }
    let name = normalized(name);
    crate::factory::all_credential_names().any(|c| normalized(c) == name)
        || SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// Refuse settings that name a secret ([`Error::SecretInSettings`] names the first, in key order).
/// Settings that are not a table are left to the adapter to refuse.
pub fn check_settings(settings: &Value) -> Result<()> {
    let Value::Object(map) = settings else { return Ok(()) };
    match map.keys().find(|k| is_secret_name(k)) {
        Some(setting) => Err(Error::SecretInSettings { setting: setting.clone() }),
        None => Ok(()),
    }
}
