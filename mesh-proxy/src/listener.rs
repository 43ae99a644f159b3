//! An accepting socket served by hyper-util's auto server (HTTP/1.1 and h2c), with `TCP_NODELAY`,
//! header limits, the [`ConnectionLimits`] (`limits.rs`), and a graceful stop that lets in-flight
//! requests finish.

mod accept;
mod limits;
mod stream;
pub(crate) mod tls;
mod tracked;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
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
use accept::{AcceptBackoff, OpenConnections};
use limits::{supervise, Activity};
pub(crate) use stream::{BodyAwaited, QuickAck};
use tracked::{RequestGuard, TrackedBody, Watched};

pub use limits::{
    ConnectionLimits, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_WRITE_TIMEOUT,
};

/// The limits a listener holds its connections to: the current ones, updated by reloads (each
/// connection keeps those in force when it was accepted).
pub(crate) type Limits = watch::Receiver<ConnectionLimits>;

/// A running listener.
#[derive(Debug)]
pub struct Listener {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Serve `socket`, answering each request with `handler(request, peer)`.
    pub fn spawn<H, F>(socket: TcpListener, limits: Limits, handler: H) -> std::io::Result<Listener>
    where
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        Listener::spawn_connections(socket, limits, Plain(handler))
    }

    /// Serve `socket`, each accepted connection by `connections`.
    pub(crate) fn spawn_connections<C: Connections>(
        socket: TcpListener,
        limits: Limits,
        connections: C,
    ) -> std::io::Result<Listener> {
        let local_addr = socket.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(socket, limits, connections, stopped));
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
        // Ours (limits.rs) also covers the first byte, h2 and the idle time between requests;
        // hyper's would run from the end of the previous request, cutting `idle_timeout` short.
        .header_read_timeout(None)
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

/// How one accepted connection is served: the HTTP server builder, the graceful-shutdown watcher
/// to register the HTTP connection with, and the limits it is held to.
pub(crate) struct Serving {
    pub builder: auto::Builder<TokioExecutor>,
    pub watcher: Watcher,
    pub limits: ConnectionLimits,
}

/// What serves one accepted connection: given the stream, the peer and how to serve it.
pub(crate) trait Connections: Clone + Send + Sync + 'static {
    /// Serve `stream` until it closes.
    fn serve(
        &self,
        stream: QuickAck,
        peer: SocketAddr,
        serving: Serving,
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
        serving: Serving,
    ) -> impl Future<Output = ()> + Send + 'static {
        let handler = self.0.clone();
        let awaited = stream.body_awaited();
        async move {
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(awaited.clone());
                answer(handler(request, peer))
            });
            serve_http(stream, peer, serving, service).await;
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

/// Serve HTTP/1.1 or h2 (told by ALPN or the connection preface) on `io` until it closes, the
/// listener stops, or a [`ConnectionLimits`] timeout closes it. Every listener's connections
/// come through here.
pub(crate) async fn serve_http<IO, S>(io: IO, peer: SocketAddr, serving: Serving, service: S)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Body>,
            Error = Infallible,
            Future = Answer,
        > + Send
        + 'static,
{
    let activity = Arc::new(Activity::new(serving.limits));
    let reporting = activity.clone();
    let service = hyper::service::service_fn(move |request| {
        let request_guard = RequestGuard::new(reporting.clone());
        let answer = service.call(request);
        tracked(answer, request_guard)
    });
    let io = TokioIo::new(Watched::new(io, activity.clone()));
    let connection = serving.builder.serve_connection(io, service).into_owned();
    match supervise(serving.watcher.watch(connection), activity).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(peer = %peer, error = %e, "connection ended with an error"),
        Err(expired) => tracing::debug!(peer = %peer, reason = %expired, "connection closed"),
    }
}

/// A response whose body reports to its connection.
fn tracked(
    answer: Answer,
    request: RequestGuard,
) -> Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>> {
    Box::pin(async move {
        let response = answer.await?;
        Ok(response.map(|body| TrackedBody::new(body, request)))
    })
}

async fn accept_loop<C: Connections>(
    socket: TcpListener,
    limits: Limits,
    connections: C,
    mut stopped: watch::Receiver<bool>,
) {
    let addr = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let builder = builder();
    let graceful = GracefulShutdown::new();
    let mut backoff = AcceptBackoff::default();
    let mut open = OpenConnections::default();
    loop {
        let accepted = tokio::select! {
            accepted = socket.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                let pause = backoff.failed(addr, &e);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = stopped.wait_for(|stop| *stop) => break,
                }
            }
        };
        backoff.succeeded(addr);
        let limits = *limits.borrow();
        // Over the cap: closed at once (dropped), never left waiting in the backlog.
        let Some(counted) = open.admit(addr, limits.max_connections) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let serving = Serving {
            builder: builder.clone(),
            watcher: graceful.watcher(),
            limits,
        };
        let connection = connections.serve(QuickAck::new(stream), peer, serving);
        tokio::spawn(async move {
            connection.await;
            drop(counted);
        });
    }
    drop(socket);
    graceful.shutdown().await;
}
