//! Mesh side: an `http::Request` → the event mesh-proxy sends (HTTP API payload format 2.0 by
//! default, Envoy's `aws_lambda` JSON, or pass-through).

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{COOKIE, HOST, USER_AGENT};
use http::{HeaderMap, Request, Version};
use percent_encoding::percent_decode_str;

use crate::body::push_body;
use crate::headers::push_joined;
use crate::json::{push_key, push_str};
use crate::{EncodeError, PayloadFormat, RequestMeta};

/// Mesh side: encode `request` as the event for `format`. Pass-through requires a JSON body.
pub fn encode_request(
    request: &Request<Bytes>,
    format: PayloadFormat,
    meta: &RequestMeta,
) -> Result<Bytes, EncodeError> {
    match format {
        PayloadFormat::Envoy => envoy(request),
        PayloadFormat::PassThrough => {
            serde_json::from_slice::<serde::de::IgnoredAny>(request.body())
                .map_err(EncodeError::PassThroughBodyNotJson)?;
            Ok(request.body().clone())
        }
        _ => v2(request, meta),
    }
}

fn capacity(request: &Request<Bytes>) -> usize {
    request.body().len() / 3 * 4
        + 512
        + request.headers().len() * 64
        + request.uri().path().len() * 2
}

fn v2(request: &Request<Bytes>, meta: &RequestMeta) -> Result<Bytes, EncodeError> {
    let headers = request.headers();
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or("");
    let mut out = Vec::with_capacity(capacity(request));
    let mut first = true;
    out.push(b'{');
    push_key(&mut out, &mut first, "version");
    push_str(&mut out, "2.0");
    push_key(&mut out, &mut first, "routeKey");
    push_str(&mut out, "$default");
    push_key(&mut out, &mut first, "rawPath");
    push_str(&mut out, path);
    push_key(&mut out, &mut first, "rawQueryString");
    push_str(&mut out, query);
    if headers.contains_key(COOKIE) {
        push_key(&mut out, &mut first, "cookies");
        push_cookies(&mut out, headers)?;
    }
    push_key(&mut out, &mut first, "headers");
    push_joined(&mut out, headers, &[COOKIE])?;
    if !query.is_empty() {
        push_key(&mut out, &mut first, "queryStringParameters");
        push_query_parameters(&mut out, query);
    }
    push_key(&mut out, &mut first, "requestContext");
    push_request_context(&mut out, request, meta);
    if !request.body().is_empty() {
        push_key(&mut out, &mut first, "body");
    }
    let base64 = if request.body().is_empty() {
        false
    } else {
        push_body(&mut out, headers, request.body())
    };
    push_key(&mut out, &mut first, "isBase64Encoded");
    out.extend_from_slice(if base64 { b"true" } else { b"false" });
    out.push(b'}');
    Ok(Bytes::from(out))
}

fn envoy(request: &Request<Bytes>) -> Result<Bytes, EncodeError> {
    let headers = request.headers();
    let query = request.uri().query().unwrap_or("");
    let mut out = Vec::with_capacity(capacity(request));
    let mut first = true;
    out.push(b'{');
    push_key(&mut out, &mut first, "raw_path");
    let raw_path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    push_str(&mut out, raw_path);
    push_key(&mut out, &mut first, "method");
    push_str(&mut out, request.method().as_str());
    push_key(&mut out, &mut first, "headers");
    push_joined(&mut out, headers, &[])?;
    push_key(&mut out, &mut first, "query_string_parameters");
    push_query_parameters(&mut out, query);
    push_key(&mut out, &mut first, "body");
    let base64 = push_body(&mut out, headers, request.body());
    push_key(&mut out, &mut first, "is_base64_encoded");
    out.extend_from_slice(if base64 { b"true" } else { b"false" });
    out.push(b'}');
    Ok(Bytes::from(out))
}

/// `["a=1","b=2"]`: every `Cookie` header split on "; " (the separator RFC 6265 prescribes), so
/// joining them again with "; " restores the header byte for byte.
fn push_cookies(out: &mut Vec<u8>, headers: &HeaderMap) -> Result<(), EncodeError> {
    out.push(b'[');
    let mut first = true;
    for value in headers.get_all(COOKIE) {
        let text = value
            .to_str()
            .map_err(|_| EncodeError::HeaderValueNotUtf8 {
                name: COOKIE.as_str().to_owned(),
            })?;
        for cookie in text.split("; ") {
            if !first {
                out.push(b',');
            }
            first = false;
            push_str(out, cookie);
        }
    }
    out.push(b']');
    Ok(())
}

/// `{"key":"value"}` with keys and values percent-decoded and repeated keys comma-joined, as
/// API Gateway does (informational: `rawQueryString` is the source of truth).
fn push_query_parameters(out: &mut Vec<u8>, query: &str) {
    let mut params: Vec<(Cow<'_, str>, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(key).decode_utf8_lossy();
        let value = percent_decode_str(value).decode_utf8_lossy();
        match params.iter_mut().find(|(k, _)| *k == key) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            None => params.push((key, value.into_owned())),
        }
    }
    out.push(b'{');
    let mut first = true;
    for (key, value) in &params {
        push_key(out, &mut first, key);
        push_str(out, value);
    }
    out.push(b'}');
}

fn push_request_context(out: &mut Vec<u8>, request: &Request<Bytes>, meta: &RequestMeta) {
    let headers = request.headers();
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(request.uri().host())
        .unwrap_or("localhost");
    let epoch_ms = meta.time_epoch_ms.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    });
    let mut first = true;
    out.push(b'{');
    push_key(out, &mut first, "accountId");
    push_str(out, "anonymous");
    push_key(out, &mut first, "apiId");
    push_str(out, "lambda-mesh");
    push_key(out, &mut first, "domainName");
    push_str(out, host);
    push_key(out, &mut first, "domainPrefix");
    push_str(out, host.split('.').next().unwrap_or(host));
    push_key(out, &mut first, "http");
    {
        let mut first = true;
        out.push(b'{');
        push_key(out, &mut first, "method");
        push_str(out, request.method().as_str());
        push_key(out, &mut first, "path");
        push_str(out, request.uri().path());
        push_key(out, &mut first, "protocol");
        push_str(out, protocol(request.version()));
        push_key(out, &mut first, "sourceIp");
        push_str(
            out,
            &meta
                .source_ip
                .map_or_else(|| "127.0.0.1".to_owned(), |ip| ip.to_string()),
        );
        push_key(out, &mut first, "userAgent");
        push_str(
            out,
            headers
                .get(USER_AGENT)
                .and_then(|h| h.to_str().ok())
                .unwrap_or(""),
        );
        out.push(b'}');
    }
    push_key(out, &mut first, "requestId");
    push_str(out, meta.request_id.as_deref().unwrap_or(""));
    push_key(out, &mut first, "routeKey");
    push_str(out, "$default");
    push_key(out, &mut first, "stage");
    push_str(out, "$default");
    push_key(out, &mut first, "time");
    push_str(out, &clf_time(epoch_ms));
    push_key(out, &mut first, "timeEpoch");
    out.extend_from_slice(epoch_ms.to_string().as_bytes());
    out.push(b'}');
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `25/Nov/2026:12:54:46 +0000`, the format of `requestContext.time`.
fn clf_time(epoch_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let name = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{day:02}/{name}/{year}:{:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time_formats_utc() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(1_583_348_638_390), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(clf_time(1_709_251_200_000), "01/Mar/2024:00:00:00 +0000");
    }

    #[test]
    fn pass_through_requires_json() {
        let ok = Request::new(Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(
            encode_request(&ok, PayloadFormat::PassThrough, &RequestMeta::default()).unwrap(),
            ok.body()
        );
        let bad = Request::new(Bytes::from_static(b"not json"));
        let err =
            encode_request(&bad, PayloadFormat::PassThrough, &RequestMeta::default()).unwrap_err();
        assert!(matches!(err, EncodeError::PassThroughBodyNotJson(_)));
    }
}
