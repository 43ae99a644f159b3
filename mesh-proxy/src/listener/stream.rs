//! The accepted TCP stream every listener serves: `TCP_QUICKACK` re-armed after each read, and a
//! lingering close.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A lingering close waits this long for a first byte: a client still sending has data in flight
/// within a round trip, and an idle keep-alive client that ignores the FIN (graceful stop) must
/// not hold the close long.
const LINGER_FIRST: Duration = Duration::from_millis(100);
/// Once the client is seen sending, the close waits at most this long between two reads.
const LINGER_QUIET: Duration = Duration::from_secs(2);
/// ... and at most this long in all.
const LINGER_TOTAL: Duration = Duration::from_secs(5);
/// Reads per poll while lingering before yielding to other tasks.
const LINGER_READS_PER_POLL: usize = 16;

/// An accepted stream.
///
/// While a request body is awaited ([`BodyAwaited`]), it sets `TCP_QUICKACK` when it reads again
/// after a read that returned data and before any write: a client that writes a request's head
/// and body apart without `TCP_NODELAY` sends the body only once the head is acknowledged, and
/// Linux delays that ACK ~40 ms on a keep-alive connection. Setting the option sends the owed ACK
/// at once (it is not sticky, hence each time). A request without a body, or one read whole and
/// answered, costs no system call for it (it was one `setsockopt` per request, ~6 % of the CPU
/// under load: hyper polls the connection while a bodiless request is served).
///
/// Its shutdown lingers, as nginx's `lingering_close` does: a response sent before the request
/// was read to its end (a 413 for a body over the limit, a 431, a 408) is followed by the server
/// closing while the client is still sending. Closing a socket with unread input makes the kernel
/// answer with a reset, which can destroy the response before the client reads it (the client
/// sees `ECONNRESET` or `EPIPE` instead of the 413). So shutdown sends FIN first, then reads and
/// discards what still arrives until the client closes, or sends nothing for [`LINGER_FIRST`] at
/// first and [`LINGER_QUIET`] once it was seen sending, or [`LINGER_TOTAL`] passes.
pub(crate) struct QuickAck {
    stream: TcpStream,
    /// Data was read and nothing written since: the peer may be waiting for our ACK.
    ack_owed: bool,
    /// A request handler waits for body bytes.
    awaited: BodyAwaited,
    linger: Option<Linger>,
}

/// Raised (in the request's extensions) while a request handler waits for body bytes: only
/// then can a client be waiting for our ACK before it sends more.
#[derive(Clone, Default)]
pub(crate) struct BodyAwaited(Arc<Awaited>);

#[derive(Default)]
struct Awaited {
    awaited: AtomicBool,
    /// The connection's task, parked on a read with an ACK owed: hyper asks for body bytes
    /// before the handler raises the flag, so raising it wakes the read to send the ACK.
    parked: Mutex<Option<Waker>>,
}

impl BodyAwaited {
    /// Body bytes are (`true`) or no longer (`false`) awaited.
    pub(crate) fn set(&self, awaited: bool) {
        self.0.awaited.store(awaited, Ordering::Relaxed);
        if awaited {
            let parked = self
                .0
                .parked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(waker) = parked {
                waker.wake();
            }
        }
    }

    fn is_set(&self) -> bool {
        self.0.awaited.load(Ordering::Relaxed)
    }

    fn park(&self, waker: &Waker) {
        let mut parked = self.0.parked.lock().unwrap_or_else(|e| e.into_inner());
        match parked.as_mut() {
            Some(old) if old.will_wake(waker) => {}
            _ => *parked = Some(waker.clone()),
        }
    }
}

struct Linger {
    quiet: Pin<Box<Sleep>>,
    until: Instant,
}

impl QuickAck {
    /// Wrap an accepted stream.
    pub(crate) fn new(stream: TcpStream) -> Self {
        QuickAck {
            stream,
            ack_owed: false,
            awaited: BodyAwaited::default(),
            linger: None,
        }
    }

    /// The flag a request handler raises while it waits for this connection's body bytes.
    pub(crate) fn body_awaited(&self) -> BodyAwaited {
        self.awaited.clone()
    }

    /// Read and discard until EOF, an error, or a linger bound; `Pending` while neither.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 8192];
        for _ in 0..LINGER_READS_PER_POLL {
            let Some(linger) = self.linger.as_mut() else {
                return Poll::Ready(());
            };
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    let next = (Instant::now() + LINGER_QUIET).min(linger.until);
                    linger.quiet.as_mut().reset(next);
                }
                Poll::Pending => {
                    return match linger.quiet.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(()),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ack_owed && self.awaited.is_set() {
            self.ack_owed = false;
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let _ = socket2::SockRef::from(&self.stream).set_quickack(true);
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.ack_owed = true;
        } else if self.ack_owed && poll.is_pending() {
            self.awaited.park(cx.waker());
        }
        poll
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.ack_owed = false;
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.ack_owed = false;
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            std::task::ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            let now = Instant::now();
            this.linger = Some(Linger {
                quiet: Box::pin(tokio::time::sleep(LINGER_FIRST)),
                until: now + LINGER_TOTAL,
            });
        }
        std::task::ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (QuickAck, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (QuickAck::new(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn an_early_answer_survives_a_client_still_sending() {
        let (mut server, mut client) = pair().await;
        // The server reads a little of a large request, answers, and closes.
        let sending = tokio::spawn(async move {
            let body = vec![b'x'; 8 * 1024 * 1024];
            let written = client.write_all(&body).await;
            let mut answer = Vec::new();
            let read = client.read_to_end(&mut answer).await;
            (written.is_ok(), read.is_ok(), answer)
        });
        let mut first = [0u8; 1024];
        server.read_exact(&mut first).await.unwrap();
        server
            .write_all(b"HTTP/1.1 413 Payload Too Large\r\n\r\n")
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), server.shutdown())
            .await
            .expect("the linger is bounded")
            .unwrap();
        drop(server);
        let (written, read, answer) = sending.await.unwrap();
        assert!(written, "the client could send its whole body");
        assert!(read, "no reset");
        assert_eq!(answer, b"HTTP/1.1 413 Payload Too Large\r\n\r\n");
    }

    #[tokio::test]
    async fn a_silent_client_ends_the_linger_after_the_quiet_period() {
        let (mut server, _client) = pair().await;
        let started = Instant::now();
        server.shutdown().await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= LINGER_FIRST, "{waited:?}");
        assert!(waited < LINGER_QUIET, "{waited:?}");
    }
}
