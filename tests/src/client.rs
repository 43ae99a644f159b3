//! HTTP clients for the proxies under test: HTTP/1.1 and h2c, every exchange bounded in time,
//! and raw bytes over TCP for what a client library will not send.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use crate::events::json;

/// How long an answer or a body may take (a cold start runs Python and the extension first).
pub const LIMIT: Duration = Duration::from_secs(60);

/// A client sending `Full<Bytes>` bodies.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// An HTTP/1.1 client.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An h2c (prior knowledge) client.
pub fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Sends `request` with `client`, bounded by [`LIMIT`].
pub async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Response<Incoming> {
    tokio::time::timeout(LIMIT, client.request(request))
        .await
        .expect("an answer in time")
        .expect("request succeeds")
}

/// A response with its whole body, bounded by [`LIMIT`].
pub async fn collect(response: Response<Incoming>) -> (Response<()>, Bytes) {
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(LIMIT, body.collect())
        .await
        .expect("the body in time")
        .expect("body completes")
        .to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

/// `GET path` on `addr` over HTTP/1.1, the whole body.
pub async fn get(addr: SocketAddr, path: &str) -> (Response<()>, Bytes) {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .expect("request");
    collect(send(&client(), request).await).await
}

/// Writes raw bytes to `addr` and reads what comes back until the peer closes or `wait` passes.
pub async fn raw(addr: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}
