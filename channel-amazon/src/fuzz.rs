//! Entry points for the fuzz targets in `fuzz/` (and their smoke runs): the parsers of untrusted
//! documents, which the channel otherwise only calls after a download. Not a stable API.

use std::collections::HashMap;

use channel_core::Listing;

use crate::error::AmazonError;
use crate::{document, feed, map, wire};

/// Decode a report or feed-result document (`compression` as Amazon names it), bounded by `max_bytes`.
pub fn decode_document(
    what: &'static str,
    bytes: &[u8],
    compression: Option<&str>,
    max_bytes: u64,
) -> Result<Vec<u8>, AmazonError> {
    document::decode(what, bytes, compression, max_bytes)
}

/// The merchant listings of a `GET_MERCHANT_LISTINGS_ALL_DATA` report, or why it cannot be read.
pub fn parse_listings_report(text: &str, marketplace_id: &str) -> Result<Vec<Listing>, AmazonError> {
    map::parse_listings_report(text, marketplace_id)
}

/// The text of a report document in `charset` (a label; `None`: UTF-8), or why it cannot be decoded.
pub fn report_text(body: &[u8], charset: Option<&str>) -> Result<String, AmazonError> {
    document::report_text(map::ALL_LISTINGS_REPORT, body, charset)
}

/// A processing report's `ERROR` issues: per message id, and those of the feed as a whole.
pub type ProcessingErrors = (HashMap<u64, Vec<String>>, Vec<String>);

/// A `JSON_LISTINGS_FEED` processing report's errors: per message id, and feed-level; `None` when the
/// body is not a processing report.
pub fn processing_report_errors(body: &[u8]) -> Option<ProcessingErrors> {
    let report = serde_json::from_slice::<wire::ProcessingReport>(body).ok()?;
    Some((feed::errors_by_message(&report), feed::feed_errors(&report)))
}
