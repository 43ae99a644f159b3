//! A raw HTTP/1.1 service on 127.0.0.1:0 that lies on purpose, for fault injection: a request for
//! [`HOSTILE_PATH`] gets bytes the test chooses (then the connection is closed or held open, as
//! the test says); any other request gets a valid keep-alive `200` whose body is `ok <path>`, so
//! readiness checks pass and a test can show the next request is served.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
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
        let Some((head, _)) = crate::net::read_request(&mut stream, &mut buffer).await else {
            return;
        };
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
