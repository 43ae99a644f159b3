//! Stage 3, read body: the body read up to the Invoke limit within the upstream's `timeout`, and
//! the headers the function sees (hop-by-hop stripped, `Host` / `X-Forwarded-*` / request id set).

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{Exchange, Upstream, REQUEST_ID_HEADER};
use crate::error::ProxyError;
use crate::listener::BodyAwaited;

/// Longest caller request id kept (a UUID is 36, a W3C `traceparent` 55).
const MAX_REQUEST_ID_BYTES: usize = 200;

/// The caller's request id when it is a sane token, or a new one (a UUID). Sane: 1 to
/// [`MAX_REQUEST_ID_BYTES`] bytes of ASCII letters, digits and `-_.:/+=@` — what UUIDs, ULIDs,
/// base64, trace ids and `Root=…` forms use; no space, quote, comma or control byte, so the id is
/// one token wherever it is logged or echoed.
pub(super) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| is_sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

/// A v4 UUID from the thread's CSPRNG: `Uuid::new_v4` asks the kernel (`getrandom`) each time,
/// one system call per request.
fn new_request_id() -> String {
    use rand::Rng as _;
    uuid::Builder::from_random_bytes(rand::thread_rng().gen())
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// [`BodyAwaited`] raised for as long as this lives.
struct Awaiting(BodyAwaited);

impl Awaiting {
    fn new(flag: BodyAwaited) -> Self {
        flag.set(true);
        Awaiting(flag)
    }
}

impl Drop for Awaiting {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

fn is_sane_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

/// Read the body before the exchange's deadline, up to the invocation mode's limit. Running out
/// of time here is the caller's doing (a slow or stalled body): a 408, not the function's 504.
pub(super) async fn body(
    upstream: &Upstream,
    request: Request<Incoming>,
    exchange: &Exchange,
) -> Result<Request<Bytes>, ProxyError> {
    let limit = upstream.target.mode.request_limit();
    tokio::time::timeout_at(
        exchange.deadline,
        read(request, limit, exchange.peer, &exchange.request_id),
    )
    .await
    .map_err(|_| ProxyError::RequestTimeout {
        timeout: upstream.config.timeout,
    })?
}

/// Read the body (413 when `Content-Length` says it is over `limit`, before any byte is read, so
/// `Expect: 100-continue` callers never send it; otherwise reading stops at `limit + 1` bytes)
/// and prepare the headers the function sees.
async fn read(
    request: Request<Incoming>,
    limit: usize,
    peer: SocketAddr,
    request_id: &str,
) -> Result<Request<Bytes>, ProxyError> {
    let too_large = ProxyError::PayloadTooLarge { limit };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large);
    }
    let (mut parts, mut body) = request.into_parts();
    let mut buffer = BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
    // While body bytes are awaited the connection acknowledges what it reads at once (see
    // `BodyAwaited`); lowered again however the read ends.
    let _awaiting = (!hyper::body::Body::is_end_stream(&body))
        .then(|| parts.extensions.get::<BodyAwaited>().cloned())
        .flatten()
        .map(Awaiting::new);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ProxyError::BadRequest {
            message: format!("cannot read the request body: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > limit {
                return Err(too_large);
            }
            buffer.extend_from_slice(&data);
        }
    }
    prepare_headers(&mut parts, peer, request_id);
    Ok(Request::from_parts(parts, buffer.freeze()))
}

fn prepare_headers(parts: &mut http::request::Parts, peer: SocketAddr, request_id: &str) {
    let headers = &mut parts.headers;
    lambda_mesh_adapter::strip_hop_by_hop(headers);
    headers.remove(header::EXPECT);
    if !headers.contains_key(header::HOST) {
        if let Some(value) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            headers.insert(header::HOST, value);
        }
    }
    let peer_ip = peer.ip().to_string();
    let forwarded = match headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    {
        Some(previous) => format!("{previous}, {peer_ip}"),
        None => peer_ip,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert("x-forwarded-for", value);
    }
    if !headers.contains_key("x-forwarded-proto") {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_forwarding_headers_come() {
        let request = Request::builder()
            .uri("http://svc.local:8080/a?b=1")
            .header("connection", "keep-alive, x-secret-hop")
            .header("x-secret-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("te", "trailers")
            .header("x-forwarded-for", "10.0.0.1")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        prepare_headers(&mut parts, "127.0.0.9:5000".parse().unwrap(), "rid-1");
        let h = &parts.headers;
        for gone in ["connection", "x-secret-hop", "keep-alive", "te"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        assert_eq!(h["host"], "svc.local:8080");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h[REQUEST_ID_HEADER], "rid-1");
        assert_eq!(h.get_all("cookie").iter().count(), 2);
    }

    #[test]
    fn made_request_ids_are_distinct_v4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }

    #[test]
    fn request_ids_are_kept_or_made() {
        let mut headers = HeaderMap::new();
        assert_eq!(request_id(&headers).len(), 36);
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("abc"));
        assert_eq!(request_id(&headers), "abc");
        let longest = "a".repeat(MAX_REQUEST_ID_BYTES);
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_str(&longest).unwrap());
        assert_eq!(request_id(&headers), longest);
        for bad in [
            "a b",
            "x\"y",
            "a,b",
            "tab\there",
            "é",
            &"a".repeat(MAX_REQUEST_ID_BYTES + 1),
        ] {
            headers.insert(
                REQUEST_ID_HEADER,
                HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            );
            let made = request_id(&headers);
            assert_ne!(made, bad.trim());
            assert_eq!(made.len(), 36, "{bad:?} is replaced by a UUID");
        }
    }
}
