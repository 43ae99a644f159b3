//! An accepting socket served by hyper-util's auto server (HTTP/1.1 and h2c), with `TCP_NODELAY`,
//! header limits, and a graceful stop that lets in-flight requests finish.

pub(crate) mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::upstream::{MAX_HEADERS, MAX_HEADER_BYTES};

/// How long a client may take to send a request head (slowloris bound).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// A running listener.
#[derive(Debug)]
pub struct Listener {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Serve `socket`, answering each request with `handler(request, peer)`.
    pub fn spawn<H, F>(socket: TcpListener, handler: H) -> std::io::Result<Listener>
    where
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        Listener::spawn_connections(socket, Plain(handler))
    }

    /// Serve `socket`, each accepted connection by `connections`.
    pub(crate) fn spawn_connections<C: Connections>(
        socket: TcpListener,
        connections: C,
    ) -> std::io::Result<Listener> {
        let local_addr = socket.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(socket, connections, stopped));
        Ok(Listener {
            local_addr,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, let open connections finish their requests within `grace`, then drop them.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(addr = %self.local_addr, "connections still open after the grace period were closed");
        }
    }
}

/// The parsers' own limits are a memory bound set above the request-header policy, so that the
/// policy is enforced in one place (the limits stage, with a JSON 431 on HTTP/1.1 and h2 alike)
/// and only heads far beyond it are cut off by the parser.
const PARSER_HEADER_FACTOR: usize = 2;

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(MAX_HEADERS * PARSER_HEADER_FACTOR)
        .max_buf_size(MAX_HEADER_BYTES * PARSER_HEADER_FACTOR + 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(
            u32::try_from(MAX_HEADER_BYTES * PARSER_HEADER_FACTOR).unwrap_or(u32::MAX),
        );
    builder
}

/// What serves one accepted connection: given the stream, the peer, the HTTP server builder and
/// the graceful-shutdown watcher to register the HTTP connection with.
pub(crate) trait Connections: Clone + Send + Sync + 'static {
    /// Serve `stream` until it closes.
    fn serve(
        &self,
        stream: QuickAck,
        peer: SocketAddr,
        builder: auto::Builder<TokioExecutor>,
        watcher: Watcher,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// Plain HTTP/1.1 and h2c: every request to `handler(request, peer)`.
#[derive(Clone)]
struct Plain<H>(H);

impl<H, F> Connections for Plain<H>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    fn serve(
        &self,
        stream: QuickAck,
        peer: SocketAddr,
        builder: auto::Builder<TokioExecutor>,
        watcher: Watcher,
    ) -> impl Future<Output = ()> + Send + 'static {
        let handler = self.0.clone();
        async move {
            let service = hyper::service::service_fn(move |request| answer(handler(request, peer)));
            serve_http(stream, peer, &builder, watcher, service).await;
        }
    }
}

/// A request's answer, boxed: hyper keeps one in-flight slot per connection for the connection's
/// whole life, so an unboxed request future would pin its full size to every idle keep-alive
/// connection (measured: ~25 KB each).
pub(crate) type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// Box `response` as an [`Answer`].
pub(crate) fn answer<F>(response: F) -> Answer
where
    F: Future<Output = Response<Body>> + Send + 'static,
{
    Box::pin(async move { Ok(response.await) })
}

/// Serve HTTP/1.1 or h2 (told by ALPN or the connection preface) on `io` until it closes or the
/// listener stops.
pub(crate) async fn serve_http<IO, S>(
    io: IO,
    peer: SocketAddr,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    service: S,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Body>,
            Error = Infallible,
            Future = Answer,
        > + Send
        + 'static,
{
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

async fn accept_loop<C: Connections>(
    socket: TcpListener,
    connections: C,
    mut stopped: watch::Receiver<bool>,
) {
    let builder = builder();
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = socket.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let serving =
            connections.serve(QuickAck(stream), peer, builder.clone(), graceful.watcher());
        tokio::spawn(serving);
    }
    drop(socket);
    graceful.shutdown().await;
}

/// An accepted stream that sets `TCP_QUICKACK` after each read that returned data: a client that
/// writes a request's head and body apart without `TCP_NODELAY` sends the body only once the head
/// is acknowledged, and Linux delays that ACK ~40 ms on a keep-alive connection. The option is not
/// sticky, hence once a read.
pub(crate) struct QuickAck(tokio::net::TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.0).poll_read(cx, buf);
        if buf.filled().len() > before {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let _ = socket2::SockRef::from(&self.0).set_quickack(true);
        }
        poll
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
