//! Report and feed-result documents: what a pre-signed document URL serves, with
//! `compressionAlgorithm: GZIP` undone and the decoded size bounded.
//!
//! Amazon compresses large reports (and may compress feed processing reports); `getReportDocument` /
//! `getFeedDocument` then answer `{"url": …, "compressionAlgorithm": "GZIP"}` and the URL serves the
//! gzip bytes as they are (this adapter never asks for `enableContentEncodingUrlHeader`). A document
//! may hold several gzip members one after the other; all are decoded, as Amazon's sample code does.
//!
//! The decoded size is bounded by [`AmazonConfig::max_document_bytes`](crate::AmazonConfig::max_document_bytes)
//! (default [`DEFAULT_MAX_DOCUMENT_BYTES`]): a document that would decode to more — a seller with an
//! enormous catalog, or a few kilobytes of gzip that expand to gigabytes — is refused with
//! [`AmazonError::DocumentTooLarge`] after reading at most one byte more than the bound, never by
//! running out of memory. An uncompressed document over the bound is refused the same way. The download
//! itself is bounded as it arrives (the transport's `max_response_bytes`, set from the same setting with a
//! little room for GZIP framing), so a huge body is never buffered first.

use std::io::Read as _;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;

use crate::error::AmazonError;

/// The default bound on a decoded document: 256 MiB, about half a million rows of
/// `GET_MERCHANT_LISTINGS_ALL_DATA`. Raise it with
/// [`AmazonConfig::max_document_bytes`](crate::AmazonConfig::max_document_bytes) for a
/// larger catalog.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 256 * 1024 * 1024;

/// The bytes of a downloaded document (`what` names it in errors: `"report"`, `"processing report"`),
/// decompressed as `compression` says (`None` or empty: as it is; `GZIP`, in any case: gzip), refused
/// when the result would exceed `max_bytes`.
///
/// Errors: [`AmazonError::Compressed`] for an algorithm other than GZIP, [`AmazonError::CorruptDocument`]
/// for bytes that are not gzip (or end early), [`AmazonError::DocumentTooLarge`] over the bound.
pub(crate) fn decode(
    what: &'static str,
    body: &[u8],
    compression: Option<&str>,
    max_bytes: u64,
) -> Result<Vec<u8>, AmazonError> {
    decode_bytes(what, Bytes::copy_from_slice(body), compression, max_bytes).map(Vec::from)
}

/// [`decode`] without copying an uncompressed body.
pub(crate) fn decode_bytes(
    what: &'static str,
    body: Bytes,
    compression: Option<&str>,
    max_bytes: u64,
) -> Result<Bytes, AmazonError> {
    let too_large = || AmazonError::DocumentTooLarge { what, limit: max_bytes };
    match compression.map(str::trim).filter(|a| !a.is_empty()) {
        None => {
            if u64::try_from(body.len()).unwrap_or(u64::MAX) > max_bytes {
                return Err(too_large());
            }
            Ok(body)
        }
        Some(a) if a.eq_ignore_ascii_case("GZIP") => {
            let mut out = Vec::new();
            // One byte past the bound tells "exactly at the bound" from "over it".
            MultiGzDecoder::new(&body[..])
                .take(max_bytes.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|source| AmazonError::CorruptDocument { what, source })?;
            if u64::try_from(out.len()).unwrap_or(u64::MAX) > max_bytes {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(AmazonError::Compressed { what, algorithm: other.to_owned() }),
    }
}

/// The character set named by a `Content-Type` value's `charset` parameter (`text/plain; charset=Cp1252`).
pub(crate) fn charset_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"')).filter(|v| !v.is_empty())
    })
}

/// The encoding of a charset label as Amazon writes them (`utf8`, `UTF-8`, `Cp1252`, `ISO-8859-1`,
/// `Shift_JIS`, `cp932`, `Windows-31J`, …); `None` for a label this adapter does not know.
pub(crate) fn encoding_of(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let label = label.trim();
    // Java's names for Japanese Windows code page 932, which the WHATWG labels lack; Shift_JIS in
    // encoding_rs is Windows-31J.
    if ["cp932", "ms932", "windows-31j", "x-ms932"].iter().any(|l| l.eq_ignore_ascii_case(label)) {
        return Some(encoding_rs::SHIFT_JIS);
    }
    encoding_rs::Encoding::for_label(label.as_bytes())
}

/// The text of a downloaded report: decoded with `charset` (a label) when given — the adapter's
/// `report_charset` setting, else the `charset` of the download's `Content-Type` — and as UTF-8
/// otherwise. A UTF-8 byte-order mark makes it UTF-8 whatever was declared.
///
/// Amazon serves `GET_MERCHANT_LISTINGS_ALL_DATA` as `text/plain; charset=utf8` in North America but
/// `charset=Cp1252` in Europe and `Shift_JIS`/`Windows-31J` in Japan (reported in
/// amzn/selling-partner-api-models#2748, #4031, jlevers/selling-partner-api#512 and the charset support
/// of public clients), so the declared charset is honoured. Bytes that are not valid in it are an
/// [`AmazonError::UnreadableReport`], never replaced: a SKU with a replacement character would name a
/// listing that does not exist.
pub(crate) fn report_text(report: &'static str, body: &[u8], charset: Option<&str>) -> Result<String, AmazonError> {
    let unreadable = |detail: String| AmazonError::UnreadableReport { report, detail };
    if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(|e| unreadable(format!("it starts with a UTF-8 byte-order mark but is not UTF-8 ({e})")));
    }
    let encoding = match charset {
        None => encoding_rs::UTF_8,
        Some(label) => encoding_of(label).ok_or_else(|| unreadable(format!("unknown charset {label:?}")))?,
    };
    encoding.decode_without_bom_handling_and_without_replacement(body).map(std::borrow::Cow::into_owned).ok_or_else(
        || {
            unreadable(format!(
                "it is not valid {} (set report_charset if Amazon serves it in another character set)",
                encoding.name()
            ))
        },
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use channel_core::ErrorKind;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    #[test]
    fn report_text_follows_the_declared_charset() {
        assert_eq!(charset_of("text/plain; charset=Cp1252"), Some("Cp1252"));
        assert_eq!(charset_of("text/plain;CHARSET=\"utf8\""), Some("utf8"));
        assert_eq!(charset_of("text/plain"), None);
        // "Piña" and "„Straße“" in Windows-1252, as EU reports are served.
        let cp1252 = b"seller-sku\titem-name\nPI\xd1A\t\x84Stra\xdfe\x93\n";
        let text = report_text("r", cp1252, Some("Cp1252")).unwrap();
        assert_eq!(text, "seller-sku\titem-name\nPIÑA\t„Straße“\n");
        assert!(report_text("r", cp1252, None).is_err(), "not UTF-8 and nothing declared: an error, not U+FFFD");
        // "マグ" in Shift_JIS, as JP reports are served.
        let sjis = b"\x83\x7d\x83\x4f";
        for label in ["Shift_JIS", "cp932", "Windows-31J", "MS932"] {
            assert_eq!(report_text("r", sjis, Some(label)).unwrap(), "マグ", "{label}");
        }
        assert_eq!(report_text("r", "ok ✓".as_bytes(), Some("utf8")).unwrap(), "ok ✓");
        assert_eq!(report_text("r", b"\xEF\xBB\xBFa\tb", Some("Cp1252")).unwrap(), "a\tb", "a BOM wins");
        let e = report_text("r", b"x", Some("EBCDIC-1047-nope")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
    }

    #[test]
    fn gzip_decodes_and_a_bomb_is_refused() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(b"sku\tquantity\nTS-001\t4\n").unwrap();
        let body = gz.finish().unwrap();
        assert_eq!(decode("report", &body, Some("GZIP"), 1 << 20).unwrap(), b"sku\tquantity\nTS-001\t4\n");
        // Four megabytes of zeros compress to about four kilobytes; with a one-megabyte bound they are refused.
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&vec![0; 4 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(decode("report", &bomb, Some("GZIP"), 1 << 20).is_err());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_documents_decode() {
        assert_eq!(decode("report", b"a\tb\n", None, 10).unwrap(), b"a\tb\n");
        assert_eq!(decode("report", b"a\tb\n", Some(""), 10).unwrap(), b"a\tb\n");
        assert_eq!(decode("report", &gzip(b"a\tb\n"), Some("GZIP"), 10).unwrap(), b"a\tb\n");
        assert_eq!(decode("report", &gzip(b"a\tb\n"), Some("gzip"), 10).unwrap(), b"a\tb\n");
        assert_eq!(decode("report", &gzip(b""), Some("GZIP"), 0).unwrap(), b"");
    }

    #[test]
    fn concatenated_members_are_all_read() {
        let mut two = gzip(b"first\n");
        two.extend(gzip(b"second\n"));
        assert_eq!(decode("report", &two, Some("GZIP"), 100).unwrap(), b"first\nsecond\n");
    }

    #[test]
    fn the_bound_is_exact() {
        let body = gzip(&[b'x'; 1000]);
        assert_eq!(decode("report", &body, Some("GZIP"), 1000).unwrap().len(), 1000);
        let e = decode("report", &body, Some("GZIP"), 999).unwrap_err();
        assert!(matches!(e, AmazonError::DocumentTooLarge { what: "report", limit: 999 }), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert!(decode("report", &[b'x'; 1000], None, 999).is_err(), "uncompressed documents too");
    }

    #[test]
    fn a_bomb_is_refused_without_inflating_it() {
        // 1 GiB of zeros in about a megabyte (1,024 gzip members of 1 MiB each): refused after
        // inflating a mebibyte and a byte.
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&[0u8; 1 << 20]).unwrap();
        let member = gz.finish().unwrap();
        let bomb = member.repeat(1024);
        assert!(bomb.len() < 2 << 20, "{}", bomb.len());
        let e = decode("report", &bomb, Some("GZIP"), 1 << 20).unwrap_err();
        assert!(matches!(e, AmazonError::DocumentTooLarge { .. }), "{e:?}");
    }

    #[test]
    fn corrupt_and_unknown_compression_are_typed_errors() {
        let e = decode("processing report", b"{\"not\": \"gzip\"}", Some("GZIP"), 100).unwrap_err();
        assert!(matches!(e, AmazonError::CorruptDocument { what: "processing report", .. }), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert!(std::error::Error::source(&e).is_some(), "the io error is kept");
        let mut cut = gzip(&[b'y'; 5000]);
        cut.truncate(cut.len() / 2);
        assert!(matches!(decode("report", &cut, Some("GZIP"), 10_000), Err(AmazonError::CorruptDocument { .. })));
        let e = decode("report", b"x", Some("ZSTD"), 100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
    }
}
