//! Shared helpers: an in-process proxy over the test function in `tests/data/fn`, and clients.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mesh_proxy::{Config, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The test function's code directory.
pub fn function_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fn")
}

/// A `[[function]]` table for the test function.
pub fn function_table(name: &str, extra: &str) -> String {
    format!(
        "[[function]]\nname = \"{name}\"\ncode = \"{}\"\ntimeout = 10\nconcurrency = 4\n{extra}\n",
        function_dir().display()
    )
}

/// An `[[upstream]]` table on a free port.
pub fn upstream_table(name: &str, function: &str, extra: &str) -> String {
    format!("[[upstream]]\ndestination_name = \"{name}\"\nlocal_bind_port = 0\nfunction = \"{function}\"\n{extra}\n")
}

/// Parse a config (admin on a free port, a short drain).
pub fn config(body: &str) -> Config {
    let text = format!("drain_timeout = 5\n[admin]\nlisten = \"127.0.0.1:0\"\n\n{body}");
    Config::from_toml_str(&text, "test.toml", Path::new("/")).expect("test config is valid")
}

/// Start a proxy.
pub async fn start(body: &str) -> Proxy {
    Proxy::start(config(body)).await.expect("proxy starts")
}

/// An HTTP/1.1 client.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An h2c (prior knowledge) client.
pub fn h2_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Send a request, bounded at 30 s.
pub async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Response<Incoming> {
    tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .expect("answer within 30 s")
        .expect("request succeeds")
}

/// GET `path` on `addr`, whole body.
pub async fn get(addr: SocketAddr, path: &str) -> (Response<()>, Bytes) {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .unwrap();
    collect(send(&client(), request).await).await
}

/// A response with its whole body.
pub async fn collect(response: Response<Incoming>) -> (Response<()>, Bytes) {
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(Duration::from_secs(30), body.collect())
        .await
        .expect("body within 30 s")
        .expect("body completes")
        .to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

/// The body as JSON.
pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Write raw bytes to `addr` and read what comes back until the peer closes or `wait` passes.
pub async fn raw(addr: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
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
