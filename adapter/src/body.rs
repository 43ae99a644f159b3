//! Bodies: the text-vs-binary rule shared by both ends, and body ⇄ JSON string (UTF-8 text or
//! base64) without intermediate copies.

use std::borrow::Cow;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::HeaderMap;

use crate::json::push_str;
use crate::DecodeError;

/// Standard alphabet; writes padding, accepts input with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Text vs binary rule shared by both ends: a body travels as a JSON string only when its
/// content type is textual (`text/*`, JSON, XML, JavaScript, YAML, or a `+json`/`+xml`/`+yaml`
/// suffix), it has no `content-encoding` (other than `identity`), and it is valid UTF-8.
/// Everything else is base64 with `isBase64Encoded: true`. An empty body is text.
pub fn body_is_text(headers: &HeaderMap, body: &[u8]) -> bool {
    if body.is_empty() {
        return true;
    }
    let encoded = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return false;
    }
    let textual = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(content_type_is_text);
    textual && std::str::from_utf8(body).is_ok()
}

fn content_type_is_text(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if kind == "text" {
        return true;
    }
    matches!(
        subtype,
        "json" | "xml" | "javascript" | "x-javascript" | "ecmascript" | "yaml" | "x-yaml"
    ) || subtype.ends_with("+json")
        || subtype.ends_with("+xml")
        || subtype.ends_with("+yaml")
}

/// The body bytes of an event or result: `body` as UTF-8, or base64-decoded when `is_base64`.
pub(crate) fn decode_body(
    body: Option<Cow<'_, str>>,
    is_base64: bool,
    field: &str,
) -> Result<Bytes, DecodeError> {
    let Some(body) = body else {
        return Ok(Bytes::new());
    };
    if !is_base64 {
        return Ok(match body {
            Cow::Borrowed(s) => Bytes::copy_from_slice(s.as_bytes()),
            Cow::Owned(s) => Bytes::from(s.into_bytes()),
        });
    }
    decode_base64(body.as_bytes())
        .map(Bytes::from)
        .map_err(|source| DecodeError::InvalidBase64 {
            field: field.to_owned(),
            source,
        })
}

/// Decode standard base64, padded or not: the SIMD decoder (AVX2/SSE4.1/NEON, chosen at run time)
/// first; on failure the `base64` crate decodes or explains the error.
fn decode_base64(input: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    if let Ok(bytes) = base64_simd::STANDARD.decode_to_vec(input) {
        return Ok(bytes);
    }
    if input.len() % 4 != 0 {
        if let Ok(bytes) = base64_simd::STANDARD_NO_PAD.decode_to_vec(input) {
            return Ok(bytes);
        }
    }
    BASE64.decode(input)
}

/// Append the body as a JSON string and return whether it was base64-encoded.
pub(crate) fn push_body(out: &mut Vec<u8>, headers: &HeaderMap, body: &[u8]) -> bool {
    if body_is_text(headers, body) {
        // `body_is_text` checked UTF-8.
        push_str(out, std::str::from_utf8(body).unwrap_or_default());
        false
    } else {
        push_base64(out, body);
        true
    }
}

/// Append `bytes` base64-encoded (SIMD), quoted. Base64 needs no JSON escaping.
pub(crate) fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(base64_simd::STANDARD.encoded_length(bytes.len()) + 2);
    out.push(b'"');
    base64_simd::STANDARD.encode_append(bytes, out);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn textual_types_are_text() {
        for ct in [
            "text/plain",
            "text/html; charset=utf-8",
            "application/json",
            "Application/JSON",
            "application/xml",
            "application/javascript",
            "application/yaml",
            "application/x-yaml",
            "application/ld+json",
            "application/problem+xml",
            "application/vnd.foo+yaml",
        ] {
            assert!(
                body_is_text(&headers(&[("content-type", ct)]), b"hi"),
                "{ct}"
            );
        }
    }

    #[test]
    fn other_cases_are_binary() {
        assert!(!body_is_text(
            &headers(&[("content-type", "image/png")]),
            b"hi"
        ));
        assert!(!body_is_text(&headers(&[]), b"hi"));
        assert!(!body_is_text(
            &headers(&[("content-type", "application/octet-stream")]),
            b"hi"
        ));
        assert!(!body_is_text(
            &headers(&[("content-type", "text/plain"), ("content-encoding", "gzip")]),
            b"hi"
        ));
        assert!(!body_is_text(
            &headers(&[("content-type", "text/plain")]),
            b"\xff\xfe"
        ));
        assert!(body_is_text(
            &headers(&[
                ("content-type", "text/plain"),
                ("content-encoding", "identity")
            ]),
            b"hi"
        ));
        assert!(body_is_text(&headers(&[]), b""));
    }

    #[test]
    fn base64_round_trip_and_errors() {
        let mut out = Vec::new();
        push_base64(&mut out, b"\x00\x01binary\xff");
        let s = std::str::from_utf8(&out[1..out.len() - 1]).unwrap();
        let back = decode_body(Some(Cow::Borrowed(s)), true, "body").unwrap();
        assert_eq!(&back[..], b"\x00\x01binary\xff");
        let unpadded = decode_body(Some(Cow::Borrowed("aGk")), true, "body").unwrap();
        assert_eq!(&unpadded[..], b"hi");
        let err = decode_body(Some(Cow::Borrowed("!!!")), true, "body").unwrap_err();
        assert_eq!(err.to_string(), "invalid base64 in `body`");
    }
}
