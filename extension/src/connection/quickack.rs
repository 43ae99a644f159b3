//! A TCP stream that acknowledges what it has read at once, so a service that writes a response
//! in pieces without `TCP_NODELAY` is never left waiting on a delayed ACK.
//!
//! Python's `http.server` (and any server that writes the head, then the body) sends the body
//! only once the head is acknowledged (Nagle's algorithm). On a keep-alive connection Linux is in
//! request-response ("pingpong") mode and delays that ACK by up to 40 ms, hoping to piggyback it
//! on the next request, which cannot come before the body: ~44 ms per request, measured here.
//! `TCP_QUICKACK` sends the pending ACK now, but it is not sticky (the kernel goes back to
//! delaying ACKs when we send the next request), so it is re-armed after every read that returned
//! data: one `setsockopt` per read, and none while waiting (BENCHMARKS.md).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// `TcpStream` that sets `TCP_QUICKACK` after each read that returned data (Linux; elsewhere a
/// plain `TcpStream`).
#[derive(Debug)]
pub(crate) struct QuickAckStream {
    inner: TcpStream,
    /// Cleared when the socket refuses the option, so a refusal costs one syscall, not one a read.
    enabled: bool,
}

impl QuickAckStream {
    /// Wraps `inner`; `quickack` says whether to acknowledge at once (else a plain stream).
    pub(crate) fn new(inner: TcpStream, quickack: bool) -> Self {
        QuickAckStream {
            inner,
            enabled: quickack && cfg!(any(target_os = "linux", target_os = "android")),
        }
    }

    /// Acknowledges what has been read now (the kernel sends the ACK it was delaying, if any).
    fn ack_now(&mut self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Err(error) = socket2::SockRef::from(&self.inner).set_quickack(true) {
            // Only latency is at stake: go on reading without it.
            tracing::debug!(%error, "cannot set TCP_QUICKACK on the service connection");
            self.enabled = false;
        }
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.enabled && buf.filled().len() > before {
            this.ack_now();
        }
        poll
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
