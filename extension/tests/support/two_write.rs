//! A deliberately Nagle-bound HTTP/1.1 service on 127.0.0.1:0: no `TCP_NODELAY`, and every
//! response written in two writes, the head and then the body, as Python's `http.server` does.
//! The body leaves only once the head is acknowledged, so a keep-alive client that delays its
//! ACK (Linux does, ~40 ms) waits that long for every response.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The body of every response.
pub const BODY: &str = "written apart from its head\n";

/// The most a request (head and body) may take; a larger one closes the connection.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The most requests served on one connection (bounds the loop).
const MAX_REQUESTS_PER_CONNECTION: usize = 100_000;

/// A running service; stops when dropped.
pub struct TwoWriteService {
    /// Its address.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TwoWriteService {
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TwoWriteService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the service on 127.0.0.1:0.
pub async fn start() -> TwoWriteService {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (accepted, answered) = (connections.clone(), requests.clone());
    let task = tokio::spawn(async move {
        // Bounded: the owner aborts the task when the service is dropped.
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, answered.clone()));
        }
    });
    TwoWriteService {
        addr,
        connections,
        requests,
        task,
    }
}

/// Answers requests on `stream` until the peer closes it or sends something it cannot parse.
async fn serve(mut stream: TcpStream, requests: Arc<AtomicUsize>) {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
        BODY.len()
    );
    let mut buffer = Vec::new();
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let Some(length) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        buffer.drain(..length);
        // Two writes, no TCP_NODELAY: the second waits for the ACK of the first.
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(BODY.as_bytes()).await.is_err()
        {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
    }
}

/// Reads one whole request into `buffer`; its length, or `None` if the connection ended first.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let length = end + 4 + content_length(&buffer[..end])?;
            if buffer.len() >= length {
                return Some(length);
            }
        }
        if buffer.len() > MAX_REQUEST_BYTES {
            return None;
        }
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

/// The head's `Content-Length` (0 when absent); `None` if it is not a number.
fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    match head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim())
    }) {
        Some(value) => value.parse().ok(),
        None => Some(0),
    }
}
