//! A raw HTTP/1.1 service on 127.0.0.1:0 that lies on purpose, for fault injection: a request for
//! [`HOSTILE_PATH`] gets bytes the test chooses (then the connection is closed or held open, as
//! the test says); any other request gets a valid keep-alive `200` whose body is `ok <path>`, so
//! readiness checks pass and a test can show the next request is served.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The path answered with the hostile bytes.
pub const HOSTILE_PATH: &str = "/hostile";

/// What the service does after writing the hostile bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Close the connection (a service crashing mid-response).
    Close,
    /// Hold the connection open without another byte (a keep-alive service that thinks it is done).
    HoldOpen,
}

/// A running hostile service; stops when dropped.
pub struct Hostile {
    /// Its address.
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    /// Starts a service answering [`HOSTILE_PATH`] with `reply`, then doing `after`.
    pub async fn start(reply: &'static [u8], after: After) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, reply, after));
            }
        });
        Hostile {
            addr,
            connections,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Serves one connection: request heads (and `Content-Length` bodies) in, answers out.
async fn serve(mut stream: TcpStream, reply: &'static [u8], after: After) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::new();
    loop {
        let Some(end) = read_head(&mut stream, &mut buffer).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end);
        let body = content_length(&head);
        while buffer.len() < body {
            if read_more(&mut stream, &mut buffer).await.is_none() {
                return;
            }
        }
        buffer.drain(..body);
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .split('?')
            .next()
            .unwrap_or("/")
            .to_owned();
        if path == HOSTILE_PATH {
            let _ = stream.write_all(reply).await;
            if after == After::HoldOpen {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            return;
        }
        let body = format!("ok {path}");
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads until `buffer` holds a whole request head; its length with the blank line.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        read_more(stream, buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}
