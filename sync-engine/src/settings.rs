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
//! address of Amazon's token endpoint). Names are looked at at every level (a table inside the settings,
//! the tables of a list): a secret nested there would be stored in plain text just the same.

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

/// Refuse settings that name a secret at any level ([`Error::SecretInSettings`] names the first, in key
/// order, as a dotted path: `api_key`, `auth.password`). Settings that are not a table are left to the
/// adapter to refuse.
pub fn check_settings(settings: &Value) -> Result<()> {
    match secret_path(settings) {
        Some(setting) => Err(Error::SecretInSettings { setting }),
        None => Ok(()),
    }
}

/// The dotted path of the first name in `value` that is a secret's.
fn secret_path(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(name, inner)| {
            if is_secret_name(name) {
                Some(name.clone())
            } else {
                secret_path(inner).map(|below| format!("{name}.{below}"))
            }
        }),
        Value::Array(items) => items.iter().find_map(secret_path),
        _ => None,
    }
}
