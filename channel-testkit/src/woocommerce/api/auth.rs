//! WooCommerce REST authentication: HTTP Basic with the consumer key and secret, the same pair as query
//! parameters, or OAuth 1.0a "one-legged" signatures (HMAC-SHA1 / HMAC-SHA256) as
//! `WC_REST_Authentication::check_oauth_signature` verifies them.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use channel_core::webhook::constant_time_eq;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::super::state::RestError;

/// What PHP's `rawurlencode` leaves alone: `A-Z a-z 0-9 - . _ ~`.
const RAW_URL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// PHP's `rawurlencode` (RFC 3986).
pub(crate) fn rawurlencode(text: &str) -> String {
    utf8_percent_encode(text, RAW_URL).to_string()
}

/// The request facts authentication needs.
#[derive(Debug)]
pub(super) struct AuthRequest<'a> {
    pub(super) method: &'a str,
    /// `http://127.0.0.1:<port>` + path, no query.
    pub(super) url: String,
    pub(super) authorization: Option<&'a str>,
    /// Decoded query parameters (and form-body parameters), in order.
    pub(super) params: Vec<(String, String)>,
    /// Unix seconds now.
    pub(super) now: i64,
}

/// The consumer key pair and the nonces already seen.
#[derive(Debug)]
pub(super) struct Keys<'a> {
    pub(super) consumer_key: &'a str,
    pub(super) consumer_secret: &'a str,
    pub(super) timestamp_window_secs: i64,
}

fn unauthorized(code: &'static str, message: &str) -> RestError {
    RestError::new(401, code, message)
}

/// `perform_basic_authentication`: an unknown key leaves the request anonymous (no error of its own: the
/// route's permission check refuses it); a known key with the wrong secret is "Consumer secret is invalid.".
fn check_pair(keys: &Keys<'_>, key: &str, secret: &str) -> Result<Verdict, RestError> {
    if !constant_time_eq(key.as_bytes(), keys.consumer_key.as_bytes()) {
        return Ok(Verdict::Anonymous);
    }
    if !constant_time_eq(secret.as_bytes(), keys.consumer_secret.as_bytes()) {
        return Err(unauthorized("woocommerce_rest_authentication_error", "Consumer secret is invalid."));
    }
    Ok(Verdict::Authenticated)
}

/// What authentication made of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The consumer key's user.
    Authenticated,
    /// No credentials WooCommerce could read: the route's own permission check answers.
    Anonymous,
}

/// Authenticates a request as `WC_REST_Authentication::authenticate` does; `nonces` remembers OAuth nonces
/// so a replay is refused.
pub(super) fn authenticate(
    request: &AuthRequest<'_>,
    keys: &Keys<'_>,
    nonces: &mut HashMap<String, i64>,
) -> Result<Verdict, RestError> {
    // `$_GET['consumer_key']`/`['consumer_secret']` come first, then HTTP Basic.
    let find = |name: &str| request.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let (Some(key), Some(secret)) = (find("consumer_key"), find("consumer_secret")) {
        return check_pair(keys, key, secret);
    }
    if let Some(encoded) = request.authorization.and_then(|value| value.strip_prefix("Basic ")) {
        let decoded = BASE64.decode(encoded.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((key, secret)) = decoded.as_deref().and_then(|text| text.split_once(':')) else {
            return Ok(Verdict::Anonymous);
        };
        return check_pair(keys, key, secret);
    }
    // `get_oauth_parameters`: the query and form parameters, then those of an `OAuth` header; OAuth is
    // attempted when any one of the five is there (and not empty).
    let mut params = request.params.clone();
    if let Some(header) = request.authorization.and_then(|value| value.strip_prefix("OAuth ")) {
        params.extend(parse_oauth_header(header));
    }
    let given = |name: &str| params.iter().rev().find(|(k, _)| k == name).is_some_and(|(_, v)| !v.is_empty());
    if OAUTH_PARAMS.iter().any(|name| given(name)) {
        return check_oauth(request, &params, keys, nonces).map(|()| Verdict::Authenticated);
    }
    Ok(Verdict::Anonymous)
}

/// The parameters `get_oauth_parameters` requires, in its order.
const OAUTH_PARAMS: [&str; 5] =
    ["oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method"];

/// The refusal an anonymous request gets from the route's permission callback (`rest_authorization_required_code()`
/// is 401 when nobody is logged in): `woocommerce_rest_cannot_view` for reads, `_cannot_create`,
/// `_cannot_edit`, `_cannot_delete` and `_cannot_batch` for writes (`WC_REST_CRUD_Controller`,
/// `WC_REST_Controller::batch_items_permissions_check`, the Shipment Tracking controller).
pub(super) fn anonymous_refusal(method: &str, path: &str) -> RestError {
    let path = path.trim_end_matches('/');
    let single =
        path.rsplit('/').next().is_some_and(|last| !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()));
    let (code, message) = match method {
        "GET" | "HEAD" if single => ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
        "GET" | "HEAD" => ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        "DELETE" => ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
        _ if path.ends_with("/batch") => {
            ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.")
        }
        _ if single => ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
        _ => ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    };
    unauthorized(code, message)
}

/// `OAuth k="v", k2="v2"` → pairs (values percent-decoded).
fn parse_oauth_header(header: &str) -> Vec<(String, String)> {
    header
        .split(',')
        .filter_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            let value = value.trim().trim_matches('"');
            Some((key.trim().to_owned(), percent_decode_str(value).decode_utf8_lossy().into_owned()))
        })
        .collect()
}

/// The OAuth 1.0a signature base string WooCommerce computes: `METHOD&rawurlencode(url)&` followed by the
/// parameters (all but `oauth_signature`, sorted by key, later duplicates winning as in PHP arrays), each
/// `rawurlencode(rawurlencode(key) "=" rawurlencode(value))`, joined with `%26`.
pub(crate) fn signature_base_string(method: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, value) in params {
        if key != "oauth_signature" {
            sorted.insert(key, value);
        }
    }
    let joined: Vec<String> = sorted
        .iter()
        .map(|(key, value)| rawurlencode(&format!("{}={}", rawurlencode(key), rawurlencode(value))))
        .collect();
    format!("{}&{}&{}", method.to_ascii_uppercase(), rawurlencode(url), joined.join("%26"))
}

/// Base64 HMAC of `base` under `consumer_secret&` with SHA-1 or SHA-256.
pub(crate) fn oauth_signature(method: &str, consumer_secret: &str, base: &str) -> Option<String> {
    let key = format!("{consumer_secret}&");
    let digest = match method {
        "HMAC-SHA1" => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).ok()?;
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "HMAC-SHA256" => channel_core::webhook::hmac_sha256(key.as_bytes(), base.as_bytes()).to_vec(),
        _ => return None,
    };
    Some(BASE64.encode(digest))
}

fn check_oauth(
    request: &AuthRequest<'_>,
    params: &[(String, String)],
    keys: &Keys<'_>,
    nonces: &mut HashMap<String, i64>,
) -> Result<(), RestError> {
    let find = |name: &str| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    // PHP's `empty()`: an empty value is missing too.
    let missing = OAUTH_PARAMS.into_iter().filter(|name| find(name).is_none_or(str::is_empty)).collect::<Vec<_>>();
    if !missing.is_empty() {
        // `_n( 'Missing OAuth parameter %s', 'Missing OAuth parameters %s', count( $errors ) )`.
        let noun = if missing.len() == 1 { "parameter" } else { "parameters" };
        return Err(unauthorized(
            "woocommerce_rest_authentication_missing_parameter",
            &format!("Missing OAuth {noun} {}", missing.join(", ")),
        ));
    }
    let key = find("oauth_consumer_key").unwrap_or_default();
    if !constant_time_eq(key.as_bytes(), keys.consumer_key.as_bytes()) {
        return Err(unauthorized("woocommerce_rest_authentication_error", "Consumer key is invalid."));
    }
    let method = find("oauth_signature_method").unwrap_or_default();
    if method != "HMAC-SHA1" && method != "HMAC-SHA256" {
        return Err(unauthorized(
            "woocommerce_rest_authentication_error",
            "Invalid signature - signature method is invalid.",
        ));
    }
    // PHP decoded `+` to a space once already; WooCommerce puts it back and decodes again.
    let given = find("oauth_signature").unwrap_or_default().replace(' ', "+");
    let given = percent_decode_str(&given).decode_utf8_lossy().into_owned();
    let base = signature_base_string(request.method, &request.url, params);
    let expected = oauth_signature(method, keys.consumer_secret, &base).unwrap_or_default();
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(unauthorized(
            "woocommerce_rest_authentication_error",
            "Invalid signature - provided signature does not match.",
        ));
    }
    let timestamp: i64 = find("oauth_timestamp").unwrap_or_default().parse().unwrap_or(0);
    if (request.now - timestamp).abs() > keys.timestamp_window_secs {
        return Err(unauthorized("woocommerce_rest_authentication_error", "Invalid timestamp."));
    }
    // `check_oauth_timestamp_and_nonce`: a nonce seen in the window is refused whatever its timestamp
    // (`in_array( $nonce, $used_nonces )`); nonces older than the window are forgotten.
    let nonce = find("oauth_nonce").unwrap_or_default().to_owned();
    if nonces.contains_key(&nonce) {
        return Err(unauthorized(
            "woocommerce_rest_authentication_error",
            "Invalid nonce - nonce has already been used.",
        ));
    }
    nonces.insert(nonce, timestamp);
    nonces.retain(|_, used| *used >= request.now - keys.timestamp_window_secs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_string_double_encodes_parameters() {
        let params = vec![
            ("per_page".to_owned(), "10".to_owned()),
            ("oauth_nonce".to_owned(), "a b".to_owned()),
            ("oauth_signature".to_owned(), "ignored".to_owned()),
        ];
        let base = signature_base_string("get", "http://127.0.0.1:80/wp-json/wc/v3/products", &params);
        assert_eq!(
            base,
            "GET&http%3A%2F%2F127.0.0.1%3A80%2Fwp-json%2Fwc%2Fv3%2Fproducts&oauth_nonce%3Da%2520b%26per_page%3D10"
        );
        assert_eq!(rawurlencode("a~b-c_d.e f+"), "a~b-c_d.e%20f%2B");
    }

    #[test]
    fn anonymous_requests_get_the_routes_refusal() {
        let code = |m: &str, p: &str| anonymous_refusal(m, p).code;
        assert_eq!(code("GET", "/wp-json/wc/v3/products"), "woocommerce_rest_cannot_view");
        assert_eq!(code("POST", "/wp-json/wc/v3/products/batch"), "woocommerce_rest_cannot_batch");
        assert_eq!(code("PUT", "/wp-json/wc/v3/orders/7"), "woocommerce_rest_cannot_edit");
        assert_eq!(code("POST", "/wp-json/wc/v3/orders/7/notes"), "woocommerce_rest_cannot_create");
        assert_eq!(anonymous_refusal("GET", "/x").status, 401);
    }

    const KEYS: Keys<'static> = Keys { consumer_key: "ck_1", consumer_secret: "cs_1", timestamp_window_secs: 900 };
    const URL: &str = "http://127.0.0.1:80/wp-json/wc/v3/products";

    fn request(params: &[(&str, &str)]) -> AuthRequest<'static> {
        AuthRequest {
            method: "GET",
            url: URL.to_owned(),
            authorization: None,
            params: params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            now: 1_000_000,
        }
    }

    fn signed(nonce: &str, timestamp: i64) -> AuthRequest<'static> {
        let ts = timestamp.to_string();
        let mut params = vec![
            ("oauth_consumer_key".to_owned(), "ck_1".to_owned()),
            ("oauth_timestamp".to_owned(), ts),
            ("oauth_nonce".to_owned(), nonce.to_owned()),
            ("oauth_signature_method".to_owned(), "HMAC-SHA256".to_owned()),
        ];
        let base = signature_base_string("GET", URL, &params);
        params.push(("oauth_signature".to_owned(), oauth_signature("HMAC-SHA256", "cs_1", &base).unwrap()));
        AuthRequest { method: "GET", url: URL.to_owned(), authorization: None, params, now: 1_000_000 }
    }

    #[test]
    fn any_oauth_parameter_starts_oauth_and_missing_ones_are_named() {
        // `get_oauth_parameters`: one parameter present is an OAuth attempt; the rest are missing.
        let err = authenticate(&request(&[("oauth_nonce", "n1")]), &KEYS, &mut HashMap::new()).unwrap_err();
        assert_eq!((err.status, err.code), (401, "woocommerce_rest_authentication_missing_parameter"));
        assert_eq!(
            err.message,
            "Missing OAuth parameters oauth_consumer_key, oauth_timestamp, oauth_signature, oauth_signature_method"
        );
        let mut one_short = signed("n2", 1_000_000);
        one_short.params.retain(|(k, _)| k != "oauth_signature");
        let err = authenticate(&one_short, &KEYS, &mut HashMap::new()).unwrap_err();
        assert_eq!(err.message, "Missing OAuth parameter oauth_signature");
        // None at all: not OAuth, anonymous.
        let none = authenticate(&request(&[("per_page", "1")]), &KEYS, &mut HashMap::new());
        assert_eq!(none.unwrap(), Verdict::Anonymous);
    }

    #[test]
    fn an_unknown_signature_method_has_cores_message() {
        let mut plain = signed("n3", 1_000_000);
        for (k, v) in &mut plain.params {
            if k == "oauth_signature_method" {
                *v = "PLAINTEXT".to_owned();
            }
        }
        let err = authenticate(&plain, &KEYS, &mut HashMap::new()).unwrap_err();
        assert_eq!(err.message, "Invalid signature - signature method is invalid.");
    }

    #[test]
    fn a_nonce_is_refused_again_whatever_its_timestamp() {
        let mut nonces = HashMap::new();
        assert_eq!(authenticate(&signed("n4", 1_000_000), &KEYS, &mut nonces).unwrap(), Verdict::Authenticated);
        let err = authenticate(&signed("n4", 1_000_001), &KEYS, &mut nonces).unwrap_err();
        assert_eq!(err.message, "Invalid nonce - nonce has already been used.");
        // Forgotten once older than the window.
        let mut fresh = signed("n6", 1_001_000);
        fresh.now = 1_001_000;
        assert!(authenticate(&fresh, &KEYS, &mut nonces).is_ok());
        assert!(!nonces.contains_key("n4"));
        let mut later = signed("n4", 1_001_000);
        later.now = 1_001_000;
        assert!(authenticate(&later, &KEYS, &mut nonces).is_ok());
    }

    #[test]
    fn oauth_header_values_are_decoded() {
        let pairs = parse_oauth_header(r#"oauth_consumer_key="ck_1", oauth_signature="a%2Bb%3D""#);
        assert_eq!(pairs[1], ("oauth_signature".to_owned(), "a+b=".to_owned()));
    }
}
