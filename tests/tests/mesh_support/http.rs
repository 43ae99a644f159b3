//! A small HTTP client for the chain tests, and base64 for comparing echoed bodies.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// An HTTP/1.1 client.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Send, bounded at 60 s (a cold start runs Python and the extension first).
pub async fn send(request: Request<Full<Bytes>>) -> Response<Incoming> {
    tokio::time::timeout(Duration::from_secs(60), client().request(request))
        .await
        .expect("answer within 60 s")
        .expect("request succeeds")
}

/// A response with its whole body.
pub async fn collect(response: Response<Incoming>) -> (Response<()>, Bytes) {
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(Duration::from_secs(60), body.collect())
        .await
        .expect("body within 60 s")
        .expect("body completes")
        .to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

/// GET `path`.
pub async fn get(addr: SocketAddr, path: &str) -> (Response<()>, Bytes) {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .expect("request");
    collect(send(request).await).await
}

/// Parse JSON or fail with the text.
pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_known_values() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(&[0xff, 0x00, 0xfe, 0x01]), "/wD+AQ==");
}
