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

/// Whether any non-empty body with these headers travels base64-encoded, whatever its bytes
/// (the headers alone decide [`body_is_text`]): it has a `content-encoding` or a content type that
/// is not textual.
pub fn body_is_binary(headers: &HeaderMap) -> bool {
    let encoded = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity"));
    encoded
        || !headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(content_type_is_text)
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

/// A request body as the event carries it: bytes, or base64 text that is decoded piece by piece
/// as it is sent on ([`crate::decode_event_deferred`]), so a large body never has to exist decoded
/// in one piece beside the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBody {
    /// The bytes, or the base64 text (already checked to decode).
    data: Bytes,
    /// For base64 text, whether it ends padded (`=`), which picks the decoder.
    base64: Option<bool>,
    /// The length, decoded, of what is still to come.
    len: usize,
}

impl EventBody {
    /// A body of these bytes.
    pub fn raw(bytes: Bytes) -> Self {
        EventBody {
            len: bytes.len(),
            data: bytes,
            base64: None,
        }
    }

    /// Base64 `text`, when it decodes; `None` otherwise (decode it eagerly for the error).
    fn base64(text: Bytes) -> Option<Self> {
        for (engine, padded) in [
            (&base64_simd::STANDARD, true),
            (&base64_simd::STANDARD_NO_PAD, false),
        ] {
            if engine.check(&text).is_ok() {
                let len = engine.decoded_length(&text).ok()?;
                return Some(EventBody {
                    data: text,
                    base64: Some(padded),
                    len,
                });
            }
        }
        None
    }

    /// The body's length once decoded (of what [`EventBody::next_chunk`] has not yet handed out).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the body is empty (or all handed out).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next piece of the body, of about `max` bytes at most (raw bytes come in one piece);
    /// `None` at the end.
    pub fn next_chunk(&mut self, max: usize) -> Option<Bytes> {
        if self.data.is_empty() {
            return None;
        }
        let Some(padded) = self.base64 else {
            self.len = 0;
            return Some(std::mem::take(&mut self.data));
        };
        // Whole groups of four characters, so only the last piece can carry padding.
        let take = (max / 3).max(1).saturating_mul(4).min(self.data.len());
        let text = self.data.split_to(take);
        let engine = if padded {
            &base64_simd::STANDARD
        } else {
            &base64_simd::STANDARD_NO_PAD
        };
        let mut out = Vec::with_capacity(engine.estimated_decoded_length(text.len()));
        // The text was checked when the body was made; should decoding fail anyway, the body ends
        // early and the HTTP client reports the request as incomplete.
        match engine.decode_append(&text, &mut out) {
            Ok(()) => {
                self.len = self.len.saturating_sub(out.len());
                Some(Bytes::from(out))
            }
            Err(_) => {
                self.data = Bytes::new();
                self.len = 0;
                None
            }
        }
    }

    /// The whole body, decoded in one piece.
    pub fn into_bytes(mut self) -> Bytes {
        if self.base64.is_none() {
            return self.data;
        }
        self.next_chunk(usize::MAX).unwrap_or_default()
    }
}

/// The body of an event: like [`decode_body`], but text and checked base64 are kept as slices of
/// `event` (base64 still encoded); a body that fails to decode fails as [`decode_body`] fails.
pub(crate) fn event_body(
    body: Option<Cow<'_, str>>,
    is_base64: bool,
    field: &str,
    event: &Bytes,
) -> Result<EventBody, DecodeError> {
    let Some(body) = body else {
        return Ok(EventBody::raw(Bytes::new()));
    };
    let bytes = match &body {
        Cow::Borrowed(text) => subslice(event, text.as_bytes()),
        Cow::Owned(_) => None,
    };
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => Bytes::from(body.into_owned().into_bytes()),
    };
    if !is_base64 {
        return Ok(EventBody::raw(bytes));
    }
    match EventBody::base64(bytes.clone()) {
        Some(body) => Ok(body),
        None => {
            let text = std::str::from_utf8(&bytes).unwrap_or_default();
            decode_body(Some(Cow::Borrowed(text)), true, field).map(EventBody::raw)
        }
    }
}

/// `part` as a slice of `whole`, when it lies inside it.
fn subslice(whole: &Bytes, part: &[u8]) -> Option<Bytes> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then(|| whole.slice(start..end))
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
