//! `x-forwarded-client-cert` as Envoy writes it on Consul's terminating gateway: one element
//! `By=<linked service's SPIFFE ID>;Hash=<hex SHA-256 of the client leaf DER>;Subject="<subject>";URI=<client SPIFFE ID>`
//! per hop, elements separated by `,`. A value holding `,`, `;`, `=` or `"` is double-quoted with
//! `"` written `\"` (Envoy's rule); `Subject` is always quoted, as Envoy does.

use std::fmt::Write as _;
use std::str::FromStr;

use http::header::{HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue};

use crate::identity::ServiceIdentity;
use crate::listener::tls::PeerIdentity;

/// The header.
pub const XFCC_HEADER: HeaderName = HeaderName::from_static("x-forwarded-client-cert");

/// What happens to a client-sent `x-forwarded-client-cert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XfccMode {
    /// Remove every client-sent value and set ours (`sanitize_set`, the default).
    #[default]
    SanitizeSet,
    /// Keep the client's and append ours after a `,` (`append_forward`, Consul's behaviour).
    AppendForward,
    /// Remove every client-sent value and set none (`sanitize`: the mesh entry's
    /// `HTTP.SanitizeXForwardedClientCert = true`).
    Sanitize,
}

/// An unknown XFCC mode name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown xfcc mode `{0}` (expected sanitize_set, append_forward or sanitize)")]
pub struct UnknownXfccMode(pub String);

impl FromStr for XfccMode {
    type Err = UnknownXfccMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sanitize_set" => Ok(XfccMode::SanitizeSet),
            "append_forward" => Ok(XfccMode::AppendForward),
            "sanitize" => Ok(XfccMode::Sanitize),
            other => Err(UnknownXfccMode(other.to_owned())),
        }
    }
}

/// Our element for a client of the linked service `by`. Computed once per connection.
pub fn xfcc_element(
    by: &ServiceIdentity,
    peer: &PeerIdentity,
) -> Result<HeaderValue, InvalidHeaderValue> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, peer.leaf_der.as_ref());
    let mut element = String::with_capacity(256);
    element.push_str("By=");
    push_value(&mut element, &by.to_string());
    element.push_str(";Hash=");
    for byte in digest.as_ref() {
        let _ = write!(element, "{byte:02x}");
    }
    element.push_str(";Subject=");
    push_quoted(&mut element, &peer.subject);
    element.push_str(";URI=");
    push_value(&mut element, &peer.identity.to_string());
    HeaderValue::from_str(&element)
}

/// Apply `element` to a request's headers under `mode`.
pub fn apply_xfcc(headers: &mut HeaderMap, mode: XfccMode, element: &HeaderValue) {
    let value = match mode {
        XfccMode::Sanitize => {
            headers.remove(&XFCC_HEADER);
            return;
        }
        XfccMode::SanitizeSet => element.clone(),
        XfccMode::AppendForward => {
            let mut joined: Vec<u8> = Vec::new();
            for sent in headers.get_all(&XFCC_HEADER) {
                let sent = trim(sent.as_bytes());
                if !sent.is_empty() {
                    joined.extend_from_slice(sent);
                    joined.push(b',');
                }
            }
            joined.extend_from_slice(element.as_bytes());
            // Joining valid values with `,` keeps them valid; fall back to ours alone.
            HeaderValue::from_bytes(&joined).unwrap_or_else(|_| element.clone())
        }
    };
    headers.remove(&XFCC_HEADER);
    headers.insert(XFCC_HEADER, value);
}

fn push_value(out: &mut String, value: &str) {
    if value.contains([',', ';', '=', '"']) {
        push_quoted(out, value);
    } else {
        out.push_str(value);
    }
}

fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    let mut escaped = false;
    for c in value.chars() {
        // A `"` already escaped (RFC 2253 writes `\"`) stays as it is.
        if c == '"' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out.push('"');
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

#[cfg(test)]
mod tests;
