//! Hostile clients against a listener's connection limits (issue 16, defects 1 and 2): silent
//! connections, more connections than `max_connections`, and a client that never reads its
//! response. Real sockets on 127.0.0.1, timeouts of at most 2 s, every wait bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
}

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lambda_mesh_tests::metrics;
use lambda_mesh_tests::poll::eventually;
use mesh_proxy::{Config, Proxy};
use support::harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The longest any single wait here may take.
const BOUND: Duration = Duration::from_secs(10);
/// Characters in the big response: over what the loopback's socket buffers absorb (tcp_wmem's
/// 4 MiB maximum on the server side, a 16 KiB receive buffer on the client's), under Lambda's
/// 6 MB response limit.
const BIG: usize = 6_000_000;

/// A proxy with one passthrough upstream `up` over the test function, `top` as top-level keys.
async fn start_with(top: &str) -> Proxy {
    let text = format!(
        "drain_timeout = 5\n{top}\n[admin]\nlisten = \"127.0.0.1:0\"\n\n{}{}",
        upstream_table("up", "fn", "payload_passthrough = true"),
        function_table("fn", "")
    );
    let config = Config::from_toml_str(&text, "test.toml", Path::new("/")).expect("valid config");
    Proxy::start(config).await.expect("proxy starts")
}

/// A request the upstream answers at once.
async fn served(addr: SocketAddr) -> bool {
    let request =
        b"POST / HTTP/1.1\r\nhost: up\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
    let answer = raw(addr, request, BOUND).await;
    answer.starts_with("HTTP/1.1 200")
}

/// Whether the server closed `stream` within `limit` (EOF or reset); a silent client reads
/// nothing until then.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn in_flight(proxy: &Proxy) -> Option<f64> {
    metrics::value(
        &proxy.metrics().render(),
        "mesh_proxy_in_flight{upstream=\"up\"}",
    )
}

/// A client with a small receive buffer that asks for the big response and never reads it.
async fn never_reading(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let body = format!("{{\"big\": {BIG}}}");
    let head = format!(
        "POST / HTTP/1.1\r\nhost: up\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

/// Read what `stream` still delivers until it ends (bounded): the bytes read.
async fn drain(stream: &mut TcpStream) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    let deadline = tokio::time::Instant::now() + BOUND;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        total += n;
    }
    total
}

#[tokio::test]
async fn silent_connections_are_closed_after_header_timeout_and_new_clients_are_served() {
    let proxy = start_with("header_timeout = 1").await;
    let addr = proxy.upstream_addr("up").unwrap();
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    assert!(served(addr).await, "a client is served beside silent ones");
    let started = Instant::now();
    for stream in &mut silent {
        assert!(
            closed_within(stream, Duration::from_secs(4)).await,
            "a silent connection is still open {:?} after connecting",
            started.elapsed()
        );
    }
    assert!(
        served(addr).await,
        "a client is served after the silent ones"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn connections_over_max_connections_are_closed_at_once_and_served_again_later() {
    let proxy = start_with("header_timeout = 2\nmax_connections = 4").await;
    let addr = proxy.upstream_addr("up").unwrap();
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    // Accepted (and counted) before the extra ones arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let mut extra = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut extra, Duration::from_millis(800)).await,
            "a connection over max_connections is left open"
        );
    }
    for stream in &mut silent {
        assert!(closed_within(stream, Duration::from_secs(5)).await);
    }
    let mut served_again = false;
    for _ in 0..20 {
        if served(addr).await {
            served_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served_again,
        "no client served once the silent connections closed"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_after_write_timeout() {
    let proxy = start_with("write_timeout = 1").await;
    let addr = proxy.upstream_addr("up").unwrap();
    let mut stream = never_reading(addr).await;
    assert!(
        eventually(BOUND, || in_flight(&proxy) == Some(1.0)).await,
        "the unread response is not counted in flight"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let read = drain(&mut stream).await;
    assert!(
        read < BIG,
        "the whole response ({read} bytes) waited for a client that did not read"
    );
    assert!(
        eventually(BOUND, || in_flight(&proxy) == Some(0.0)).await,
        "in flight after the connection closed: {:?}",
        in_flight(&proxy)
    );
    let text = proxy.metrics().render();
    assert_eq!(
        metrics::value(&text, "mesh_proxy_responses_aborted_total{upstream=\"up\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metrics::value(
            &text,
            "mesh_proxy_requests_total{upstream=\"up\",status=\"200\"}"
        ),
        None,
        "an aborted response is counted as answered: {text}"
    );
    assert!(served(addr).await);
    proxy.shutdown().await;
}

#[tokio::test]
async fn shutdown_waits_no_longer_than_write_timeout_for_a_client_that_never_reads() {
    let proxy = start_with("write_timeout = 1").await;
    let addr = proxy.upstream_addr("up").unwrap();
    let _stream = never_reading(addr).await;
    assert!(eventually(BOUND, || in_flight(&proxy) == Some(1.0)).await);
    let started = Instant::now();
    tokio::time::timeout(BOUND, proxy.shutdown())
        .await
        .expect("shutdown ends");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "shutdown took {took:?} (drain_timeout 5 s, write_timeout 1 s)"
    );
}
