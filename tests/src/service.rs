//! A small Rust HTTP service started in the test on 127.0.0.1:0, answering like
//! examples/hello-python (echo JSON) plus a few endpoints the tests steer: `/`, `/hello?name=`,
//! `/sleep?ms=`, `/crash` (drops the connection), `/big?bytes=`, `/set-cookies`, `/status/N`,
//! `/stream-gated` (first chunk, then the rest once [`Service::gate`] opens), `/stream-broken`,
//! `/mirror` (the body back byte for byte, with what arrived reported in headers: see
//! `mirror`); anything else is echoed as JSON.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, std::io::Error>;

/// A running service; stops when dropped.
pub struct Service {
    /// Its address.
    pub addr: SocketAddr,
    /// `/stream-gated` sends its first chunk, then waits for this before the rest.
    pub gate: Arc<Notify>,
    /// Connections accepted so far.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Every request's path and query (`/a?b=1`), in the order they arrived.
    pub seen: Arc<std::sync::Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Service {
    /// How many requests for exactly `path_and_query` arrived so far.
    pub fn hits(&self, path_and_query: &str) -> usize {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().filter(|s| *s == path_and_query).count()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the service on 127.0.0.1:0.
pub async fn start() -> Service {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve(listener)
}

/// Starts the service on `listener`.
pub fn serve(listener: TcpListener) -> Service {
    let addr = listener.local_addr().expect("local addr");
    let gate = Arc::new(Notify::new());
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (task_gate, task_connections, task_seen) =
        (gate.clone(), connections.clone(), seen.clone());
    let task = tokio::spawn(async move {
        // Bounded: the test aborts the task when the service is dropped.
        while let Ok((stream, _)) = listener.accept().await {
            task_connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (gate, seen) = (task_gate.clone(), task_seen.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let target = request
                        .uri()
                        .path_and_query()
                        .map_or_else(String::new, |p| p.as_str().to_owned());
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(target);
                    handle(request, gate.clone())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Service {
        addr,
        gate,
        connections,
        seen,
        task,
    }
}

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|e: Infallible| match e {})
                .boxed(),
        )
        .expect("response")
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

async fn handle(
    request: Request<Incoming>,
    gate: Arc<Notify>,
) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let response = match path.as_str() {
        "/" => full(200, "text/plain", "ok"),
        "/hello" => {
            let name = query_value(&query, "name").unwrap_or_else(|| "world".into());
            full(200, "text/plain", format!("Hello, {name}!"))
        }
        "/sleep" => {
            let ms = query_value(&query, "ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            full(200, "text/plain", "slept")
        }
        "/crash" => {
            return Err(std::io::Error::other(
                "crash: connection dropped mid-request",
            ))
        }
        "/big" => {
            let n: usize = query_value(&query, "bytes")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1024);
            let body: Vec<u8> = b"abcdefghij".iter().copied().cycle().take(n).collect();
            full(200, "text/plain", body)
        }
        "/set-cookies" => {
            let mut response = full(200, "text/plain", "cookies");
            response
                .headers_mut()
                .append("set-cookie", "a=1; Path=/".parse().expect("value"));
            response
                .headers_mut()
                .append("set-cookie", "b=2; HttpOnly".parse().expect("value"));
            response
        }
        "/mirror" => mirror(&parts, body, &query),
        "/stream-gated" => stream_response(gate, false),
        "/stream-broken" => stream_response(gate, true),
        _ if path.starts_with("/status/") => {
            let code = path["/status/".len()..].parse().unwrap_or(500);
            full(code, "text/plain", "status")
        }
        _ => echo(&parts, &body),
    };
    Ok(response)
}

/// `first` at once; then, once the gate opens, `second` and the end (or a broken body).
fn stream_response(gate: Arc<Notify>, broken: bool) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let _ = tx
            .send(Ok(Frame::data(Bytes::from_static(b"first\n"))))
            .await;
        if broken {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx
                .send(Err(std::io::Error::other("service broke mid-stream")))
                .await;
            return;
        }
        // Bounded: the test opens the gate, or the wait ends after 10 s.
        let _ = tokio::time::timeout(Duration::from_secs(10), gate.notified()).await;
        let _ = tx
            .send(Ok(Frame::data(Bytes::from_static(b"second\n"))))
            .await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .header("x-streamed", "yes")
        .body(BodyExt::boxed(ChannelBody(rx)))
        .expect("response")
}

/// A body fed through a channel; an `Err` item breaks the body off.
struct ChannelBody(mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.get_mut().0.poll_recv(cx)
    }
}

/// `x-mirror-sha256`: the SHA-256 (lowercase hex) of the body `/mirror` received.
pub const MIRROR_SHA256: &str = "x-mirror-sha256";
/// `x-mirror-length`: the length of the body `/mirror` received.
pub const MIRROR_LENGTH: &str = "x-mirror-length";
/// `x-mirror-query`: the raw query string `/mirror` received.
pub const MIRROR_QUERY: &str = "x-mirror-query";
/// `x-mirror-headers`: the headers `/mirror` received, in order, as base64 of a JSON list of
/// `[name, value]` pairs (values lossily UTF-8).
pub const MIRROR_HEADERS: &str = "x-mirror-headers";

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `/mirror`: 200 with the request's body byte for byte (none with `echo=0`) under the request's
/// content type, the [`MIRROR_SHA256`], [`MIRROR_LENGTH`], [`MIRROR_QUERY`] and
/// [`MIRROR_HEADERS`] of what arrived, and `cookies=N` `Set-Cookie` headers `m0=v0` … in order.
fn mirror(parts: &http::request::Parts, body: Bytes, query: &str) -> Response<Body> {
    let headers: Vec<[String; 2]> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            [
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ]
        })
        .collect();
    let reported = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&headers).expect("headers as JSON"));
    let cookies: usize = query_value(query, "cookies")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let sha = sha256_hex(&body);
    let length = body.len();
    let echoed = if query_value(query, "echo").as_deref() == Some("0") {
        Bytes::new()
    } else {
        body
    };
    let mut response = full(200, &content_type, echoed);
    let out = response.headers_mut();
    out.insert(MIRROR_SHA256, sha.parse().expect("hex"));
    out.insert(MIRROR_LENGTH, length.into());
    out.insert(MIRROR_HEADERS, reported.parse().expect("base64"));
    if let Ok(value) = query.parse() {
        out.insert(MIRROR_QUERY, value);
    }
    for i in 0..cookies {
        let cookie = format!("m{i}=v{i}; Path=/");
        out.append("set-cookie", cookie.parse().expect("cookie"));
    }
    response
}

/// The request as JSON, the same fields examples/hello-python answers with.
fn echo(parts: &http::request::Parts, body: &Bytes) -> Response<Body> {
    let headers: Vec<[String; 2]> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            [
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ]
        })
        .collect();
    let cookies: Vec<String> = parts
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    let answer = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "cookies": cookies,
        "body_base64": base64::engine::general_purpose::STANDARD.encode(body),
    });
    full(200, "application/json", answer.to_string())
}
