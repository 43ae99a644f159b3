//! SigV4 (`AWS4-HMAC-SHA256`, header signing) for the requests mesh-proxy sends itself.
//!
//! aws-sigv4's general signer canonicalizes any request an SDK may build (path normalization,
//! query decoding and re-encoding, every settings combination) and allocates a string per step;
//! under load that was 13 % of mesh-proxy's CPU (BENCHMARKS.md). Our requests have one shape,
//! so the canonical request is written straight into one buffer, and the signing key (four
//! HMACs) is derived once a day per secret and region with aws-sigv4's own
//! `generate_signing_key`; the signature is aws-sigv4's `calculate_signature`. AWS's published
//! vectors and the SDK's own signature for the same Invoke check it (`wire/tests.rs`).
//!
//! What it assumes of its input, which [`super::wire::request`] guarantees: the path is
//! already percent-encoded and has no `.`/`..` segments; the query's pairs are each encoded
//! with RFC 3986's unreserved set; header values are visible ASCII.

use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_lc_rs::digest;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use aws_smithy_types::date_time::{DateTime, Format};

/// The credentials to sign with.
pub(crate) struct Keys<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) session_token: Option<&'a str>,
}

impl<'a> From<&'a Credentials> for Keys<'a> {
    fn from(credentials: &'a Credentials) -> Self {
        Keys {
            access_key_id: credentials.access_key_id(),
            secret: credentials.secret_access_key(),
            session_token: credentials.session_token(),
        }
    }
}

/// The request to sign, as it will be sent.
pub(crate) struct Signable<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    /// Every header to sign but `x-amz-date` and `x-amz-security-token`, which the signer adds;
    /// names lowercase.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// The body's SHA-256, lowercase hex.
    pub(crate) payload_sha256: &'a str,
}

/// What signing adds to the request.
#[derive(Debug)]
pub(crate) struct Signed {
    pub(crate) amz_date: String,
    pub(crate) authorization: String,
}

/// A signing key for one day, secret, region and service.
struct Cached {
    date: String,
    secret: String,
    region: String,
    service: String,
    key: Vec<u8>,
}

/// The signer of one region's requests, keeping the day's signing key.
#[derive(Default)]
pub(crate) struct Signer {
    key: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// The `X-Amz-Date` and `Authorization` of `request` signed with `keys` for `region` and
    /// `service` at `time`.
    pub(crate) fn sign(
        &self,
        request: &Signable<'_>,
        keys: &Keys<'_>,
        region: &str,
        service: &str,
        time: SystemTime,
    ) -> Signed {
        let amz_date = amz_date(time);
        let date = &amz_date[..8];

        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(request.headers.len() + 2);
        headers.extend_from_slice(request.headers);
        headers.push(("x-amz-date", &amz_date));
        if let Some(token) = keys.session_token {
            headers.push(("x-amz-security-token", token));
        }
        headers.sort_by(|a, b| a.0.cmp(b.0));

        let mut canonical = String::with_capacity(512);
        canonical.push_str(request.method);
        canonical.push('\n');
        push_uri_encoded(&mut canonical, request.path);
        canonical.push('\n');
        push_canonical_query(&mut canonical, request.query);
        canonical.push('\n');
        let mut previous: Option<&str> = None;
        for (name, value) in &headers {
            // Repeated names are one line, their values joined by commas, in order.
            if previous == Some(*name) {
                canonical.push(',');
            } else {
                if previous.is_some() {
                    canonical.push('\n');
                }
                canonical.push_str(name);
                canonical.push(':');
            }
            push_trimmed(&mut canonical, value);
            previous = Some(name);
        }
        canonical.push_str("\n\n");
        let signed_headers_start = canonical.len();
        let mut previous: Option<&str> = None;
        for (name, _) in &headers {
            if previous == Some(*name) {
                continue;
            }
            if previous.is_some() {
                canonical.push(';');
            }
            canonical.push_str(name);
            previous = Some(name);
        }
        let signed_headers_end = canonical.len();
        canonical.push('\n');
        canonical.push_str(request.payload_sha256);

        let scope = format!("{date}/{region}/{service}/aws4_request");
        let mut to_sign = String::with_capacity(128);
        to_sign.push_str("AWS4-HMAC-SHA256\n");
        to_sign.push_str(&amz_date);
        to_sign.push('\n');
        to_sign.push_str(&scope);
        to_sign.push('\n');
        push_hex(
            &mut to_sign,
            digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref(),
        );

        let signature = self.with_key(date, keys.secret, region, service, time, |key| {
            calculate_signature(key, to_sign.as_bytes())
        });
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            keys.access_key_id,
            &canonical[signed_headers_start..signed_headers_end],
        );
        Signed {
            amz_date,
            authorization,
        }
    }

    fn with_key<T>(
        &self,
        date: &str,
        secret: &str,
        region: &str,
        service: &str,
        time: SystemTime,
        f: impl FnOnce(&[u8]) -> T,
    ) -> T {
        let mut cached = self.key.lock().unwrap_or_else(|e| e.into_inner());
        let key = match cached.take() {
            Some(c)
                if c.date == date
                    && c.secret == secret
                    && c.region == region
                    && c.service == service =>
            {
                cached.insert(c)
            }
            _ => cached.insert(Cached {
                date: date.to_owned(),
                secret: secret.to_owned(),
                region: region.to_owned(),
                service: service.to_owned(),
                key: generate_signing_key(secret, time, region, service)
                    .as_ref()
                    .to_vec(),
            }),
        };
        f(&key.key)
    }
}

/// The SHA-256 of `body`, lowercase hex.
pub(crate) fn payload_sha256(body: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    push_hex(&mut hex, digest::digest(&digest::SHA256, body).as_ref());
    hex
}

/// `20150830T123600Z`.
fn amz_date(time: SystemTime) -> String {
    let seconds = DateTime::from(time).secs();
    let text = DateTime::from_secs(seconds)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    text.chars().filter(|c| *c != '-' && *c != ':').collect()
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

/// The canonical URI of an already encoded path: encoded once more (every service but S3),
/// `/` kept.
fn push_uri_encoded(out: &mut String, path: &str) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
        }
    }
}

/// The canonical query: the pairs sorted, each `name=value` (`=` added when absent).
fn push_canonical_query(out: &mut String, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// A header value trimmed, runs of spaces as one.
fn push_trimmed(out: &mut String, value: &str) {
    let mut space = false;
    for c in value.trim().chars() {
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_basic_iso8601_in_utc_without_fractions() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_440_938_160_999);
        assert_eq!(amz_date(time), "20150830T123600Z");
    }

    #[test]
    fn header_values_are_trimmed_and_runs_of_spaces_folded() {
        let mut out = String::new();
        push_trimmed(&mut out, "  a   b c  ");
        assert_eq!(out, "a b c");
    }

    #[test]
    fn the_canonical_uri_encodes_the_encoded_path_again() {
        let mut out = String::new();
        push_uri_encoded(&mut out, "/2015-03-31/functions/arn%3Aaws/invocations");
        assert_eq!(out, "/2015-03-31/functions/arn%253Aaws/invocations");
    }

    #[test]
    fn the_canonical_query_is_sorted() {
        let mut out = String::new();
        push_canonical_query(&mut out, "b=2&a=1&c");
        assert_eq!(out, "a=1&b=2&c=");
    }

    #[test]
    fn a_new_day_or_secret_derives_a_new_key() {
        let signer = Signer::default();
        let keys = Keys {
            access_key_id: "AKID",
            secret: "one",
            session_token: None,
        };
        let request = Signable {
            method: "POST",
            path: "/",
            query: "",
            headers: &[("host", "example.amazonaws.com")],
            payload_sha256: &payload_sha256(b""),
        };
        let day = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let first = signer.sign(&request, &keys, "us-east-1", "service", day);
        let again = signer.sign(&request, &keys, "us-east-1", "service", day);
        assert_eq!(first.authorization, again.authorization);
        let next_day = day + std::time::Duration::from_secs(86_400);
        let tomorrow = signer.sign(&request, &keys, "us-east-1", "service", next_day);
        // Same key material would still differ by date in the string to sign; compare with a
        // fresh signer, which derives the key from scratch.
        let fresh = Signer::default().sign(&request, &keys, "us-east-1", "service", next_day);
        assert_eq!(tomorrow.authorization, fresh.authorization);
        let other = Keys {
            secret: "two",
            ..keys
        };
        let rotated = signer.sign(&request, &other, "us-east-1", "service", next_day);
        let fresh = Signer::default().sign(&request, &other, "us-east-1", "service", next_day);
        assert_eq!(rotated.authorization, fresh.authorization);
        assert_ne!(rotated.authorization, tomorrow.authorization);
    }
}
