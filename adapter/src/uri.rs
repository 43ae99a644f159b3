//! Request targets from event fields.
//!
//! API Gateway may deliver `rawPath` (and v1's `path`) already percent-decoded, so a path can hold
//! characters that are not valid in a request target. The rule: every byte the `http` crate
//! rejects in a path (controls, space, `#`, `<`, `>`, `?`, `` ` ``, DEL) is percent-encoded, and
//! nothing else is touched, so a path that was already valid passes byte-for-byte and the path is
//! never split on `?` or `#`. Query strings get the same treatment for the bytes invalid in a query
//! (controls, space, `"`, `#`, `<`, `>`, DEL). Already-encoded query strings (v2 `rawQueryString`,
//! ALB parameters) are never decoded; v1's decoded parameters are encoded once.

use std::borrow::Cow;
use std::fmt::Write as _;

use http::uri::PathAndQuery;
use http::Uri;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::DecodeError;

/// Characters encoded in v1 query keys and values (which API Gateway delivers decoded).
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn invalid_in_path(b: u8) -> bool {
    matches!(b, 0x00..=0x20 | b'#' | b'<' | b'>' | b'?' | b'`' | 0x7F)
}

fn invalid_in_query(b: u8) -> bool {
    matches!(b, 0x00..=0x20 | b'"' | b'#' | b'<' | b'>' | 0x7F)
}

fn escape(raw: &str, invalid: fn(u8) -> bool) -> Cow<'_, str> {
    if !raw.bytes().any(invalid) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        if c.is_ascii() && invalid(c as u8) {
            let _ = write!(out, "%{:02X}", c as u8);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `path` with the bytes that are invalid in a request path percent-encoded.
pub(crate) fn escape_path(path: &str) -> Cow<'_, str> {
    escape(path, invalid_in_path)
}

/// `query` with the bytes that are invalid in a query percent-encoded.
pub(crate) fn escape_query(query: &str) -> Cow<'_, str> {
    escape(query, invalid_in_query)
}

/// Append `key=value` (each component percent-encoded) to a query string.
pub(crate) fn push_encoded_pair(query: &mut String, key: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    query.extend(utf8_percent_encode(key, QUERY_COMPONENT));
    query.push('=');
    query.extend(utf8_percent_encode(value, QUERY_COMPONENT));
}

/// Append `key=value` as delivered (already encoded), escaping only invalid bytes.
pub(crate) fn push_raw_pair(query: &mut String, key: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&escape_query(key));
    query.push('=');
    query.push_str(&escape_query(value));
}

/// The request target `path?query` (`/` for an empty path; a leading `/` is added when missing),
/// or the asterisk form `*` (`OPTIONS *`, RFC 9112 §3.2.4) as it came, never turned into `/*`.
pub(crate) fn target(path: &str, query: &str, field: &str) -> Result<Uri, DecodeError> {
    if path == "*" && query.is_empty() {
        return Ok(Uri::from_static("*"));
    }
    let path = escape_path(path);
    let query = escape_query(query);
    let mut target = String::with_capacity(path.len() + query.len() + 2);
    if !path.starts_with('/') {
        target.push('/');
    }
    target.push_str(&path);
    if !query.is_empty() {
        target.push('?');
        target.push_str(&query);
    }
    let pq = PathAndQuery::from_maybe_shared(target).map_err(|_| DecodeError::InvalidUri {
        field: field.to_owned(),
    })?;
    Ok(Uri::from(pq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_paths_are_re_escaped_never_split() {
        let uri = target("/a b/c?d#e", "", "rawPath").unwrap();
        assert_eq!(uri.path(), "/a%20b/c%3Fd%23e");
        assert_eq!(uri.query(), None);
    }

    #[test]
    fn valid_paths_pass_unchanged() {
        let path = "/caf%C3%A9/ünï/%zz/{x}/a;b=c/~!$&'()*+,=:@";
        let uri = target(path, "a=1&a=&b", "rawPath").unwrap();
        assert_eq!(uri.path(), path);
        assert_eq!(uri.query(), Some("a=1&a=&b"));
    }

    #[test]
    fn empty_and_relative_paths_get_a_slash() {
        assert_eq!(target("", "", "rawPath").unwrap().path(), "/");
        assert_eq!(target("x", "q=1", "rawPath").unwrap().to_string(), "/x?q=1");
        assert_eq!(target("*", "", "rawPath").unwrap().to_string(), "*");
        assert_eq!(target("*", "q", "rawPath").unwrap().to_string(), "/*?q");
    }

    #[test]
    fn query_components() {
        let mut q = String::new();
        push_encoded_pair(&mut q, "a b", "c&d=é");
        push_raw_pair(&mut q, "x", "%20 y");
        assert_eq!(q, "a%20b=c%26d%3D%C3%A9&x=%20%20y");
        assert_eq!(escape_query("a=\"b\"#"), "a=%22b%22%23");
    }
}
