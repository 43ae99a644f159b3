//! One keep-alive HTTP/1.1 connection over TCP, the one both of the extension's clients use: the
//! Lambda APIs' ([`crate::api_client`]) and the service's ([`crate::forwarder`]).
//!
//! Every connection sets `TCP_NODELAY` (our requests go out at once), counts the bytes it has
//! read (so a client can tell whether a failed exchange got any part of an answer) and is driven
//! by a task that stops when the connection is dropped, so a connection given up on after a
//! timeout does not linger. The service connection also acknowledges what it reads at once
//! (`TCP_QUICKACK`, re-armed after every read), so a service that writes its response in pieces
//! without `TCP_NODELAY` is not held up ~40 ms a request by our delayed ACK, and caps its buffers.
//! Each client keeps its own rule for when a request goes once more on a fresh connection.

mod counting;
mod quickack;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::task::JoinHandle;

use crate::body::OutBody;
use counting::CountingStream;
use quickack::QuickAckStream;

/// The most the service connection buffers when reading or writing (hyper's default is
/// ~400 KiB), which is also the largest response head it reads: 96 KiB, three times the 32 KiB
/// an ALB allows for a whole response head (API Gateway passes any head that fits the 6 MB
/// result), and still below glibc's 128 KiB mmap threshold, so large bodies pass through buffers
/// that malloc reuses instead of fresh mappings faulted in each time (BENCHMARKS.md).
pub(crate) const MAX_SERVICE_BUF_SIZE: usize = 96 * 1024;

/// The most response headers read from the service (hyper's default is 100, fewer than the
/// cookies real services set: API Gateway and ALB results carry any number).
pub(crate) const MAX_SERVICE_HEADERS: usize = 1000;

/// Who is at the other end, which decides how the connection is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The Lambda Runtime or Extensions API (a server that sets `TCP_NODELAY` itself).
    LambdaApi,
    /// The service, which may write its answers in pieces without `TCP_NODELAY`: `TCP_QUICKACK`
    /// re-armed after every read, buffers capped at [`MAX_SERVICE_BUF_SIZE`], at most
    /// [`MAX_SERVICE_HEADERS`] response headers.
    Service,
}

/// Opening a connection failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The TCP connection was refused or failed.
    Connect(io::Error),
    /// `TCP_NODELAY` could not be set.
    NoDelay(io::Error),
    /// The HTTP/1.1 handshake failed.
    Handshake(hyper::Error),
}

/// An open connection: the request sender, the count of bytes read, and the task driving the
/// socket, stopped when the connection is dropped.
#[derive(Debug)]
pub(crate) struct Connection {
    sender: http1::SendRequest<OutBody>,
    bytes_read: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// Connects to `addr`, set up for `peer`.
    pub(crate) async fn open(addr: impl ToSocketAddrs, peer: Peer) -> Result<Self, ConnectError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(ConnectError::Connect)?;
        // Without TCP_NODELAY a request written in pieces waits on delayed ACKs (see DESIGN.md).
        stream.set_nodelay(true).map_err(ConnectError::NoDelay)?;
        let bytes_read = Arc::new(AtomicU64::new(0));
        let stream = QuickAckStream::new(stream, peer == Peer::Service);
        let stream = CountingStream::new(stream, Arc::clone(&bytes_read));
        let mut builder = http1::Builder::new();
        if peer == Peer::Service {
            builder
                .max_buf_size(MAX_SERVICE_BUF_SIZE)
                .max_headers(MAX_SERVICE_HEADERS);
        }
        let (sender, connection) = builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(ConnectError::Handshake)?;
        let task = tokio::spawn(async move {
            if let Err(error) = connection.await {
                match peer {
                    Peer::LambdaApi => tracing::debug!(%error, "lambda api connection closed"),
                    Peer::Service => tracing::debug!(%error, "service connection closed"),
                }
            }
        });
        Ok(Connection {
            sender,
            bytes_read,
            task,
        })
    }

    /// The request sender.
    pub(crate) fn sender(&mut self) -> &mut http1::SendRequest<OutBody> {
        &mut self.sender
    }

    /// How many bytes the connection has read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }
}
