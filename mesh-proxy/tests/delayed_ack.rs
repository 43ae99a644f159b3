//! A client that writes each request's head and body in two writes without `TCP_NODELAY` is not
//! held up by mesh-proxy's delayed ACKs (~40 ms a request on a keep-alive connection otherwise:
//! the body leaves the client only once the head is acknowledged).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
}

use std::time::{Duration, Instant};

use support::harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Requests timed together on one keep-alive connection.
const REQUESTS: usize = 20;
/// Their bound: half of what they take when each waits on one delayed ACK (≥ 40 ms each).
const BOUND: Duration = Duration::from_millis(400);
/// The most one exchange may take.
const EXCHANGE_WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_written_head_then_body_do_not_wait_on_delayed_acks() {
    let proxy = start(&format!(
        "{}{}",
        upstream_table("echo", "echo", ""),
        function_table("echo", "")
    ))
    .await;
    let addr = proxy.upstream_addr("echo").unwrap();
    // No TCP_NODELAY, as the clients this is about.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = br#"{"written":"apart from its head"}"#;
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut buffer = Vec::new();

    // The first request starts the function: not timed.
    assert_eq!(exchange(&mut stream, &head, body, &mut buffer).await, 200);
    let started = Instant::now();
    for _ in 0..REQUESTS {
        assert_eq!(exchange(&mut stream, &head, body, &mut buffer).await, 200);
    }
    let took = started.elapsed();

    assert!(
        took < BOUND,
        "{REQUESTS} keep-alive requests took {took:?} (bound {BOUND:?}): the client waited on delayed ACKs"
    );
    proxy.shutdown().await;
}

/// Writes the head, then the body (two writes), and reads one response; its status.
async fn exchange(stream: &mut TcpStream, head: &str, body: &[u8], buffer: &mut Vec<u8>) -> u16 {
    tokio::time::timeout(EXCHANGE_WAIT, async {
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&buffer[..end]).into_owned();
                let length: usize = text
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .unwrap_or_else(|| panic!("no content-length: {text}"));
                if buffer.len() >= end + 4 + length {
                    buffer.drain(..end + 4 + length);
                    return text[9..12].parse().unwrap();
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = stream.read(&mut chunk).await.unwrap();
            assert!(read > 0, "mesh-proxy closed the connection");
            buffer.extend_from_slice(&chunk[..read]);
        }
    })
    .await
    .expect("an exchange within 10 s")
}
