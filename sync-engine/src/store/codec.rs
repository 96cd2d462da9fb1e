//! Value encodings shared by the SQL stores (SQLite and PostgreSQL): times as unix milliseconds, JSON
//! columns, enum names, versions and SKUs, each failing with a "corrupt data" storage error.

use channel_core::Sku;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage { message: format!("store: unreadable {what}: {e}"), retryable: false, source: None }
}

pub(super) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(super) fn ts(ms: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|e| corrupt("timestamp", e))
}

pub(super) fn ots(ms: Option<i64>) -> Result<Option<Timestamp>> {
    ms.map(ts).transpose()
}

pub(super) fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| corrupt("value", e))
}

pub(super) fn ojson<T: Serialize>(v: Option<&T>) -> Result<Option<String>> {
    v.map(json).transpose()
}

pub(super) fn unjson<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt("JSON", e))
}

pub(super) fn ounjson<T: DeserializeOwned>(s: Option<String>) -> Result<Option<T>> {
    s.as_deref().map(unjson).transpose()
}

/// The serde name of a unit enum variant (`"active"`).
pub(super) fn name<T: Serialize>(v: &T) -> Result<String> {
    match serde_json::to_value(v).map_err(|e| corrupt("name", e))? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(corrupt("name", other)),
    }
}

pub(super) fn unname<T: DeserializeOwned>(s: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s)).map_err(|e| corrupt("name", e))
}

pub(super) fn version(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|e| corrupt("version", e))
}

pub(super) fn sql_version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|e| corrupt("version", e))
}

pub(super) fn count(n: u64) -> u64 {
    n
}

pub(super) fn sku(s: String) -> Result<Sku> {
    Sku::try_from(s).map_err(|e| corrupt("SKU", e))
}

pub(super) fn osku(s: Option<String>) -> Result<Option<Sku>> {
    s.map(sku).transpose()
}
