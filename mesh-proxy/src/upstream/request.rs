//! The caller's request: limits checked before reading, the body read up to the Invoke limit, and
//! the headers the function sees (hop-by-hop stripped, `Host` / `X-Forwarded-*` / request id set).

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::REQUEST_ID_HEADER;
use crate::error::ProxyError;

/// Most request headers accepted (431 beyond).
pub const MAX_HEADERS: usize = 100;
/// Most request header bytes accepted, names and values (431 beyond).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The caller's request id, or a new one.
pub(super) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// What can be refused from the head alone: `CONNECT`, `Upgrade`, oversized header sets.
pub(super) fn check_head<B>(request: &Request<B>) -> Result<(), ProxyError> {
    if request.method() == Method::CONNECT {
        return Err(ProxyError::NotImplemented { what: "CONNECT" });
    }
    if request.headers().contains_key(header::UPGRADE) {
        return Err(ProxyError::NotImplemented { what: "Upgrade" });
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(ProxyError::HeadersTooLarge {
            count: MAX_HEADERS,
            bytes: MAX_HEADER_BYTES,
        });
    }
    Ok(())
}

/// Read the body (413 when `Content-Length` says it is over `limit`, before any byte is read, so
/// `Expect: 100-continue` callers never send it; otherwise reading stops at `limit + 1` bytes)
/// and prepare the headers the function sees.
pub(super) async fn read(
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
    fn heads_that_cannot_be_served_are_refused() {
        let connect = Request::builder()
            .method(Method::CONNECT)
            .uri("x:1")
            .body(())
            .unwrap();
        assert!(matches!(
            check_head(&connect),
            Err(ProxyError::NotImplemented { .. })
        ));
        let upgrade = Request::builder()
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(matches!(
            check_head(&upgrade),
            Err(ProxyError::NotImplemented { .. })
        ));
        let mut many = Request::builder();
        for i in 0..=MAX_HEADERS {
            many = many.header(format!("x-h{i}"), "v");
        }
        assert!(matches!(
            check_head(&many.body(()).unwrap()),
            Err(ProxyError::HeadersTooLarge { .. })
        ));
        let ok = Request::builder().header("x", "y").body(()).unwrap();
        assert!(check_head(&ok).is_ok());
    }

    #[test]
    fn request_ids_are_kept_or_made() {
        let mut headers = HeaderMap::new();
        assert_eq!(request_id(&headers).len(), 36);
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("abc"));
        assert_eq!(request_id(&headers), "abc");
    }
}
