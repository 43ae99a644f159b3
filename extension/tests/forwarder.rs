//! The forwarder against a raw TCP service that misbehaves on purpose: keep-alive reuse, the one
//! retry on a fresh connection, no reuse after a timeout, malformed and broken responses, and how
//! a body is delimited when `Transfer-Encoding` is present (RFC 9112 §6.3).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use lambda_mesh_extension::{ForwardError, Forwarder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the raw service does with request number `n` (from 0) on connection number `c`.
#[derive(Clone, Debug)]
enum Act {
    /// These bytes as the answer, the connection kept open.
    Send(Vec<u8>),
    /// These bytes, then close (a service crashing mid-response).
    SendAndClose(&'static [u8]),
    /// A valid keep-alive answer.
    Answer,
    /// Close without a byte.
    Close,
    /// Half a status line, then close.
    Partial,
    /// Garbage instead of HTTP.
    Garbage,
    /// Never answer.
    Hang,
}

struct Raw {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn raw(script: fn(usize, usize) -> Act) -> Raw {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let c = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(connection(stream, c, script));
        }
    });
    Raw {
        addr,
        connections,
        task,
    }
}

async fn connection(mut stream: TcpStream, c: usize, script: fn(usize, usize) -> Act) {
    let mut buffer = Vec::new();
    for n in 0..100 {
        // Read one request head (the tests send no bodies).
        while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        }
        let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        buffer.drain(..end);
        match script(c, n) {
            Act::Answer => {
                let body = format!("c{c}n{n}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            Act::Send(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::SendAndClose(bytes) => {
                let _ = stream.write_all(bytes).await;
                return;
            }
            Act::Close => return,
            Act::Partial => {
                let _ = stream.write_all(b"HTTP/1.1 2").await;
                return;
            }
            Act::Garbage => {
                let _ = stream.write_all(b"this is not http\r\n\r\n").await;
                return;
            }
            Act::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
        }
    }
}

fn get() -> Request<Bytes> {
    Request::builder()
        .uri("/")
        .header("host", "service")
        .body(Bytes::new())
        .unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// Sends a GET and reads the body (by `deadline`); the connection goes back to the pool.
async fn fetch(forwarder: &mut Forwarder, deadline: Instant) -> Result<String, ForwardError> {
    let (response, lease) = forwarder.send(get(), deadline).await?;
    let body = tokio::time::timeout_at(deadline, response.into_body().collect())
        .await
        .map_err(|_| ForwardError::Timeout { waited_ms: 0 })??
        .to_bytes();
    forwarder.release(lease);
    Ok(String::from_utf8(body.to_vec()).unwrap())
}

/// Long enough for any answer on 127.0.0.1, short enough that a response read until a close that
/// never comes fails the test quickly.
fn briefly() -> Instant {
    Instant::now() + Duration::from_secs(1)
}

/// Connection 0 answers its first request with `hostile`; every other request gets a valid
/// answer. Asserts the exact error, a message that says `what` without the service's address,
/// and that the next request is served on a fresh connection.
async fn fails_then_serves(script: fn(usize, usize) -> Act, what: &str) {
    let service = raw(script).await;
    let mut forwarder = Forwarder::new(service.addr);
    let error = fetch(&mut forwarder, briefly()).await.unwrap_err();
    assert_eq!(
        error.error_type(),
        "LambdaMesh.BadServiceResponse",
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(what), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert_eq!(fetch(&mut forwarder, briefly()).await.unwrap(), "c1n0");
    assert_eq!(service.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    let service = raw(|_, _| Act::Answer).await;
    let mut forwarder = Forwarder::new(service.addr);
    for n in 0..5 {
        assert_eq!(
            fetch(&mut forwarder, soon()).await.unwrap(),
            format!("c0n{n}")
        );
    }
    assert_eq!(service.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_reused_connection_closed_before_any_byte_is_retried_once_on_a_fresh_one() {
    // Connection 0 answers once, then closes as the second request arrives.
    let service = raw(|c, n| {
        if c == 0 && n == 1 {
            Act::Close
        } else {
            Act::Answer
        }
    })
    .await;
    let mut forwarder = Forwarder::new(service.addr);
    assert_eq!(fetch(&mut forwarder, soon()).await.unwrap(), "c0n0");
    assert_eq!(fetch(&mut forwarder, soon()).await.unwrap(), "c1n0");
    assert_eq!(service.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_fresh_connection_that_closes_is_not_retried() {
    let service = raw(|_, _| Act::Close).await;
    let mut forwarder = Forwarder::new(service.addr);
    let error = fetch(&mut forwarder, soon()).await.unwrap_err();
    assert_eq!(
        error.error_type(),
        "LambdaMesh.BadServiceResponse",
        "{error}"
    );
    assert_eq!(service.connections.load(Ordering::SeqCst), 1);
    // The message reaches the caller: it must not name the service's internal address.
    let message = error.to_string();
    assert!(!message.contains(&service.addr.to_string()), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
}

#[tokio::test]
async fn a_reused_connection_that_sent_part_of_a_response_is_not_retried() {
    let service = raw(|c, n| {
        if c == 0 && n == 1 {
            Act::Partial
        } else {
            Act::Answer
        }
    })
    .await;
    let mut forwarder = Forwarder::new(service.addr);
    fetch(&mut forwarder, soon()).await.unwrap();
    let error = fetch(&mut forwarder, soon()).await.unwrap_err();
    assert!(matches!(error, ForwardError::Closed { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("in the middle of the response head"),
        "{error}"
    );
    assert_eq!(service.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn malformed_http_is_a_bad_response() {
    let service = raw(|_, _| Act::Garbage).await;
    let mut forwarder = Forwarder::new(service.addr);
    let error = fetch(&mut forwarder, soon()).await.unwrap_err();
    assert_eq!(
        error.error_type(),
        "LambdaMesh.BadServiceResponse",
        "{error}"
    );
    assert!(error.to_string().contains("malformed"), "{error}");
}

#[tokio::test]
async fn a_timed_out_connection_is_never_reused() {
    // Connection 0 hangs on its second request; every other answers.
    let service = raw(|c, n| {
        if c == 0 && n == 1 {
            Act::Hang
        } else {
            Act::Answer
        }
    })
    .await;
    let mut forwarder = Forwarder::new(service.addr);
    fetch(&mut forwarder, soon()).await.unwrap();
    let deadline = Instant::now() + Duration::from_millis(200);
    let error = fetch(&mut forwarder, deadline).await.unwrap_err();
    assert!(matches!(error, ForwardError::Timeout { .. }), "{error:?}");
    assert_eq!(error.error_type(), "LambdaMesh.ServiceTimeout");
    assert_eq!(fetch(&mut forwarder, soon()).await.unwrap(), "c1n0");
}

#[tokio::test]
async fn an_absent_service_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut forwarder = Forwarder::new(port);
    let error = fetch(&mut forwarder, soon()).await.unwrap_err();
    assert_eq!(error.error_type(), "LambdaMesh.ServiceUnavailable");
    assert!(error.to_string().contains("cannot connect"), "{error}");
    assert!(!error.to_string().contains(&port.to_string()), "{error}");
}

#[tokio::test]
async fn a_status_that_is_not_a_final_one_is_a_bad_response() {
    for status in ["101 Switching Protocols", "999 Odd", "600 Beyond"] {
        let service = match status {
            "101 Switching Protocols" => raw(|_, _| {
                Act::Send(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n".to_vec())
            })
            .await,
            "999 Odd" => raw(|_, _| Act::Send(b"HTTP/1.1 999 Odd\r\ncontent-length: 0\r\n\r\n".to_vec())).await,
            _ => raw(|_, _| Act::Send(b"HTTP/1.1 600 Beyond\r\ncontent-length: 0\r\n\r\n".to_vec())).await,
        };
        let mut forwarder = Forwarder::new(service.addr);
        let error = fetch(&mut forwarder, soon()).await.unwrap_err();
        assert_eq!(
            error.error_type(),
            "LambdaMesh.BadServiceResponse",
            "{status}: {error}"
        );
        let code = &status[..3];
        assert!(error.to_string().contains(code), "names {code}: {error}");
    }
}

/// A 200 with `count` `Set-Cookie` headers of `size` bytes each.
fn many_cookies(count: usize, size: usize) -> Vec<u8> {
    let mut head = String::from("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n");
    for i in 0..count {
        let name = format!("c{i}=");
        head.push_str(&format!(
            "set-cookie: {name}{}\r\n",
            "v".repeat(size - name.len())
        ));
    }
    head.push_str("\r\nok");
    head.into_bytes()
}

#[tokio::test]
async fn a_response_with_a_thousand_headers_or_a_64_kib_head_passes() {
    // 999 cookies of 40 bytes and a content-length (1,000 headers, a ~52 KiB head), then 300
    // cookies of 220 bytes (a ~70 KiB head).
    for script in [
        (|_, _| Act::Send(many_cookies(999, 40))) as fn(usize, usize) -> Act,
        |_, _| Act::Send(many_cookies(300, 220)),
    ] {
        let service = raw(script).await;
        let mut forwarder = Forwarder::new(service.addr);
        let (response, _lease) = forwarder.send(get(), soon()).await.unwrap();
        assert_eq!(response.status(), 200);
        let cookies = response.headers().get_all("set-cookie").iter().count();
        assert!(cookies == 999 || cookies == 300, "{cookies}");
    }
}

#[tokio::test]
async fn a_response_head_over_the_limits_is_a_bad_response_naming_them() {
    for script in [
        (|_, _| Act::Send(many_cookies(1000, 20))) as fn(usize, usize) -> Act,
        |_, _| Act::Send(many_cookies(200, 1100)),
    ] {
        let service = raw(script).await;
        let mut forwarder = Forwarder::new(service.addr);
        let error = fetch(&mut forwarder, soon()).await.unwrap_err();
        assert_eq!(
            error.error_type(),
            "LambdaMesh.BadServiceResponse",
            "{error}"
        );
        let text = error.to_string();
        assert!(text.contains("1000 headers"), "{text}");
        assert!(text.contains("96 KiB"), "{text}");
    }
}

#[tokio::test]
async fn identity_with_a_content_length_is_read_by_its_length() {
    let service = raw(|c, _| {
        if c == 0 {
            Act::Send(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\ncontent-length: 5\r\n\r\nhello"
                    .to_vec(),
            )
        } else {
            Act::Answer
        }
    })
    .await;
    let mut forwarder = Forwarder::new(service.addr);
    let (response, lease) = forwarder.send(get(), briefly()).await.unwrap();
    assert!(response.headers().get("transfer-encoding").is_none());
    assert_eq!(response.headers()["content-length"], "5");
    let body = tokio::time::timeout_at(briefly(), response.into_body().collect())
        .await
        .expect("the body ends at its length, not at a close that never comes")
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"hello");
    forwarder.release(lease);
    // hyper still reads that connection until it closes: the next request goes on a fresh one.
    assert_eq!(fetch(&mut forwarder, briefly()).await.unwrap(), "c1n0");
    assert_eq!(service.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn identity_with_a_short_content_length_is_a_bad_response() {
    fails_then_serves(
        |c, _| match c {
            0 => Act::SendAndClose(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\ncontent-length: 10\r\n\r\nabc",
            ),
            _ => Act::Answer,
        },
        "closed the connection before the end of the response body (10 bytes by its Content-Length)",
    )
    .await;
}

#[tokio::test]
async fn chunked_wins_over_a_content_length_which_is_dropped_with_the_connection() {
    let service = raw(|c, _| {
        if c == 0 {
            Act::Send(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 100\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    .to_vec(),
            )
        } else {
            Act::Answer
        }
    })
    .await;
    let mut forwarder = Forwarder::new(service.addr);
    let (response, lease) = forwarder.send(get(), briefly()).await.unwrap();
    assert!(response.headers().get("content-length").is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
    forwarder.release(lease);
    assert_eq!(fetch(&mut forwarder, briefly()).await.unwrap(), "c1n0");
    assert_eq!(service.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_transfer_coding_other_than_chunked_last_is_a_bad_response_at_once() {
    fails_then_serves(
        |c, _| match c {
            0 => Act::Send(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 3\r\n\r\nabc"
                    .to_vec(),
            ),
            _ => Act::Answer,
        },
        "Transfer-Encoding `gzip`",
    )
    .await;
    fails_then_serves(
        |c, _| match c {
            0 => Act::Send(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                    .to_vec(),
            ),
            _ => Act::Answer,
        },
        "Transfer-Encoding `chunked, identity`",
    )
    .await;
}

#[tokio::test]
async fn garbage_is_a_bad_response_and_the_next_request_is_served() {
    fails_then_serves(
        |c, _| match c {
            0 => Act::Garbage,
            _ => Act::Answer,
        },
        "malformed",
    )
    .await;
}

#[tokio::test]
async fn a_short_content_length_is_a_bad_response_and_the_next_request_is_served() {
    fails_then_serves(
        |c, _| match c {
            0 => Act::SendAndClose(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"),
            _ => Act::Answer,
        },
        "closed the connection before the end of the response body (10 bytes by its Content-Length)",
    )
    .await;
}

#[tokio::test]
async fn a_chunked_body_cut_short_is_a_bad_response_and_the_next_request_is_served() {
    fails_then_serves(
        |c, _| match c {
            0 => {
                Act::SendAndClose(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel")
            }
            _ => Act::Answer,
        },
        "closed the connection before the end of the response body",
    )
    .await;
}

#[tokio::test]
async fn a_half_head_is_a_bad_response_and_the_next_request_is_served() {
    fails_then_serves(
        |c, _| match c {
            0 => Act::SendAndClose(b"HTTP/1.1 200 OK\r\ncontent-le"),
            _ => Act::Answer,
        },
        "closed the connection in the middle of the response head",
    )
    .await;
}

#[tokio::test]
async fn a_crash_mid_request_is_a_bad_response_and_the_next_request_is_served() {
    fails_then_serves(
        |c, _| match c {
            0 => Act::Close,
            _ => Act::Answer,
        },
        "closed the connection before answering",
    )
    .await;
}
