//! GraphQL over the shared transport: one `POST /admin/api/{version}/graphql.json` per operation, with
//! Shopify's cost-based throttling handled from `extensions.cost.throttleStatus` (never hard-coded).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use channel_core::http::{HttpClient, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ShopifyError;

/// The cost bucket as Shopify last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ThrottleStatus {
    /// Bucket size in points.
    pub maximum_available: f64,
    /// Points available when the answer was sent.
    pub currently_available: f64,
    /// Points restored per second.
    pub restore_rate: f64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    #[serde(default)]
    requested_query_cost: Option<f64>,
    #[serde(default)]
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Debug, Deserialize)]
struct Extensions {
    #[serde(default)]
    cost: Option<Cost>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
    #[serde(default)]
    extensions: Option<Extensions>,
}

/// How long the restore rate needs to refill `deficit` points.
pub(crate) fn wait_for(deficit: f64, restore_rate: f64) -> Duration {
    if !deficit.is_finite() || deficit <= 0.0 {
        return Duration::ZERO;
    }
    if !restore_rate.is_finite() || restore_rate <= 0.0 {
        return Duration::from_secs(1);
    }
    Duration::try_from_secs_f64(deficit / restore_rate).unwrap_or(Duration::from_secs(60))
}

/// The GraphQL endpoint of one shop.
#[derive(Debug, Clone)]
pub(crate) struct Gql {
    pub(crate) http: HttpClient,
    path: String,
    max_throttle_retries: u32,
    last: Arc<Mutex<Option<ThrottleStatus>>>,
}

impl Gql {
    pub(crate) fn new(http: HttpClient, path: String, max_throttle_retries: u32) -> Self {
        Self { http, path, max_throttle_retries, last: Arc::default() }
    }

    pub(crate) fn last_throttle_status(&self) -> Option<ThrottleStatus> {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `query` with `variables`; the `data` object. `idempotent`: the transport may resend it after a
    /// timeout or 5xx (queries, absolute writes, and mutations carrying an `@idempotent` key, whose body —
    /// key included — is serialized once, so every resend carries the same key).
    pub(crate) async fn run(
        &self,
        operation: &str,
        query: &str,
        variables: Value,
        idempotent: bool,
    ) -> Result<Value, ShopifyError> {
        let body = json!({"query": query, "variables": variables});
        let bytes = serde_json::to_vec(&body).map_err(|e| ShopifyError::Unexpected(e.to_string()))?;
        let mut waited = Duration::ZERO;
        for _ in 0..=self.max_throttle_retries {
            let response = self
                .http
                .post(&self.path)
                .body(bytes.clone(), "application/json")
                .header("Accept", "application/json")
                .idempotent(idempotent)
                .accept_status(StatusCode::TOO_MANY_REQUESTS)
                .operation(operation)
                .send()
                .await?;
            let status = response.status();
            let header_wait = response
                .header("retry-after")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .and_then(|s| Duration::try_from_secs_f64(s).ok());
            let envelope: Option<Envelope> = serde_json::from_slice(response.body()).ok();
            let Some(envelope) = envelope else {
                if status == StatusCode::TOO_MANY_REQUESTS {
                    let wait = header_wait.unwrap_or(Duration::from_secs(1));
                    self.http.pause_for(wait);
                    waited = wait;
                    continue;
                }
                return Err(response.json::<Envelope>().err().map_or_else(
                    || ShopifyError::Unexpected("the response is not GraphQL JSON".into()),
                    ShopifyError::Http,
                ));
            };
            let cost = envelope.extensions.as_ref().and_then(|e| e.cost.as_ref());
            let throttle = cost.and_then(|c| c.throttle_status);
            let requested = cost.and_then(|c| c.requested_query_cost);
            if let Some(t) = throttle {
                *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
            }
            let throttled = error_code(envelope.errors.as_ref()).as_deref() == Some("THROTTLED");
            if throttled || status == StatusCode::TOO_MANY_REQUESTS {
                // Wait exactly as long as the restore rate needs for this query's cost.
                let wait = match (requested, throttle) {
                    (Some(r), Some(t)) => wait_for(r - t.currently_available, t.restore_rate),
                    _ => header_wait.unwrap_or(Duration::from_secs(1)),
                };
                tracing::debug!(
                    operation,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "throttled; waiting for the bucket"
                );
                self.http.pause_for(wait);
                waited = wait;
                continue;
            }
            if let (Some(r), Some(t)) = (requested, throttle) {
                // Pace the next call of the same cost so it is not refused.
                let wait = wait_for(r - t.currently_available, t.restore_rate);
                if !wait.is_zero() {
                    self.http.pause_for(wait);
                }
            }
            if let Some(errors) = envelope.errors.as_ref().filter(|e| !is_empty(e)) {
                let code = error_code(Some(errors)).unwrap_or_else(|| "GRAPHQL_ERROR".to_owned());
                return Err(ShopifyError::GraphQl { code, message: error_message(errors) });
            }
            return envelope.data.ok_or_else(|| ShopifyError::Unexpected("no data in the answer".into()));
        }
        Err(ShopifyError::Throttled {
            attempts: self.max_throttle_retries,
            retry_after: waited.max(Duration::from_secs(1)),
        })
    }
}

fn is_empty(errors: &Value) -> bool {
    match errors {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn error_code(errors: Option<&Value>) -> Option<String> {
    errors?.as_array()?.iter().find_map(|e| e.pointer("/extensions/code").and_then(Value::as_str)).map(str::to_owned)
}

fn error_message(errors: &Value) -> String {
    match errors {
        Value::String(s) => s.clone(),
        Value::Array(list) => {
            list.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_exactly_for_the_deficit() {
        assert_eq!(wait_for(10.0 - 5.0, 50.0), Duration::from_millis(100));
        assert_eq!(wait_for(400.0, 100.0), Duration::from_secs(4));
        assert_eq!(wait_for(-3.0, 100.0), Duration::ZERO, "enough points: no wait");
        assert_eq!(wait_for(10.0, 0.0), Duration::from_secs(1), "no restore rate reported");
    }

    #[test]
    fn error_codes_and_messages() {
        let e = json!([{"message": "Throttled", "extensions": {"code": "THROTTLED"}}, {"message": "x"}]);
        assert_eq!(error_code(Some(&e)).as_deref(), Some("THROTTLED"));
        assert_eq!(error_message(&e), "Throttled; x");
        assert!(is_empty(&json!([])) && !is_empty(&e));
    }
}
