//! Sends requests to the service over one pooled keep-alive HTTP/1.1 connection.
//!
//! A connection is reused only after a response was read to its end, and only while it has been
//! idle less than [`IDLE_TIMEOUT`]. When a reused connection fails before the service sent a
//! single byte (it closed the idle connection as the request went out), the request is sent once
//! more on a fresh connection. A connection that timed out or errored is dropped, never reused,
//! and so is one whose response's framing says so ([`crate::framing`]).
//!
//! Once the request went out, every failure is the service's: a head hyper cannot parse is a
//! malformed response, and a connection closed or reset before the response was complete is
//! [`ForwardError::Closed`] (both `LambdaMesh.BadServiceResponse`). Only failing to connect is
//! [`ForwardError::Unavailable`].
//!
//! The connection ([`Peer::Service`]) sets `TCP_NODELAY` (our requests go out at once) and
//! acknowledges what it reads at once (`TCP_QUICKACK`, re-armed after every read), so a service
//! that writes its response in pieces without `TCP_NODELAY` is not held up ~40 ms a request by
//! our delayed ACK.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use lambda_mesh_adapter::error_chain;
use tokio::time::{timeout_at, Instant};

use crate::body::OutBody;
use crate::connection::{
    ConnectError, Connection, Peer, MAX_SERVICE_BUF_SIZE, MAX_SERVICE_HEADERS,
};
use crate::error::ForwardError;
use crate::framing::{frame, ServiceBody};

/// Idle connections older than this are not reused: below the 5 s keep-alive of common servers
/// (Node.js, gunicorn, uvicorn), so the service never closes one as the extension reuses it.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// How long a pooled connection may take to turn ready for the next request.
const READY_WAIT: Duration = Duration::from_millis(20);

/// The connection a response arrived on; give it back with [`Forwarder::release`] once the
/// response's body has been read to its end, or drop it to close the connection.
#[derive(Debug)]
pub struct Lease {
    connection: Connection,
    /// Whether the response's framing lets the connection carry another request.
    reusable: bool,
}

impl Lease {
    fn new(connection: Connection) -> Self {
        Lease {
            connection,
            reusable: true,
        }
    }
}

/// The service's client.
#[derive(Debug)]
pub struct Forwarder {
    addr: SocketAddr,
    idle: Option<(Connection, Instant)>,
}

impl Forwarder {
    /// A client of the service at `addr`; connects on first use.
    pub fn new(addr: SocketAddr) -> Self {
        Forwarder { addr, idle: None }
    }

    /// The service's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the idle connection, if any.
    pub fn close_idle(&mut self) {
        self.idle = None;
    }

    /// Returns a connection whose response was read to its end to the pool (or closes it, when
    /// the response's framing does not allow another request on it).
    pub fn release(&mut self, lease: Lease) {
        if lease.reusable {
            self.idle = Some((lease.connection, Instant::now()));
        }
    }

    /// Sends `request` (its body `Bytes` or an event's [`lambda_mesh_adapter::EventBody`]) and
    /// waits for the response head, all before `deadline`.
    pub async fn send<B: Clone + Into<OutBody>>(
        &mut self,
        request: Request<B>,
        deadline: Instant,
    ) -> Result<(Response<ServiceBody>, Lease), ForwardError> {
        let start = Instant::now();
        let timed_out = || ForwardError::Timeout {
            waited_ms: start.elapsed().as_millis(),
        };
        let head = request.method() == Method::HEAD;
        let (response, mut lease) = timeout_at(deadline, self.send_with_retry(request))
            .await
            .map_err(|_| timed_out())??;
        final_status(response.status())?;
        let (mut parts, body) = response.into_parts();
        let framing = frame(&mut parts.headers, parts.status, head)?;
        lease.reusable = framing.reusable;
        Ok((
            Response::from_parts(parts, ServiceBody::new(body, framing)),
            lease,
        ))
    }

    async fn send_with_retry<B: Clone + Into<OutBody>>(
        &mut self,
        request: Request<B>,
    ) -> Result<(Response<Incoming>, Lease), ForwardError> {
        if let Some(mut connection) = self.take_reusable().await {
            let read_before = connection.bytes_read();
            // Only a reused connection may need the request twice (the service closed it as the
            // request went out), so only here is it copied.
            match connection.sender().send_request(copy(&request)).await {
                Ok(response) => return Ok((response, Lease::new(connection))),
                Err(error) if connection.bytes_read() == read_before => {
                    tracing::debug!(%error, "reused connection failed before any response byte; retrying on a fresh one");
                }
                Err(error) => return Err(classify(&error, true)),
            }
        }
        let mut connection = self.connect().await?;
        match connection.sender().send_request(outgoing(request)).await {
            Ok(response) => Ok((response, Lease::new(connection))),
            Err(error) => Err(classify(&error, connection.bytes_read() > 0)),
        }
    }

    async fn take_reusable(&mut self) -> Option<Connection> {
        let (mut connection, idle_since) = self.idle.take()?;
        if idle_since.elapsed() >= IDLE_TIMEOUT || connection.sender().is_closed() {
            return None;
        }
        // A connection whose response was read to its end turns ready as soon as its task has
        // run; one that does not within READY_WAIT is not worth waiting for.
        if connection.sender().is_ready() {
            return Some(connection);
        }
        match tokio::time::timeout(READY_WAIT, connection.sender().ready()).await {
            Ok(Ok(())) => Some(connection),
            _ => None,
        }
    }

    /// Opens a fresh connection.
    async fn connect(&self) -> Result<Connection, ForwardError> {
        Connection::open(self.addr, Peer::Service)
            .await
            .map_err(|error| {
                let reason = match error {
                    ConnectError::Connect(e) => format!("cannot connect: {e}"),
                    ConnectError::NoDelay(e) => format!("cannot set TCP_NODELAY: {e}"),
                    ConnectError::Handshake(e) => format!("handshake failed: {e}"),
                };
                ForwardError::Unavailable {
                    addr: self.addr,
                    reason,
                }
            })
    }
}

/// Turns a failed exchange (the request sent, no complete response head yet; some bytes of one
/// read when `answered`) into the error reported to Lambda.
fn classify(error: &hyper::Error, answered: bool) -> ForwardError {
    if error.is_parse_too_large() {
        // hyper says only "message head is too large": name the limits it ran into.
        ForwardError::BadResponse {
            reason: format!(
                "the response head is over the extension's limits of {MAX_SERVICE_HEADERS} headers or {} KiB ({})",
                MAX_SERVICE_BUF_SIZE / 1024,
                error_chain(error)
            ),
        }
    } else if error.is_parse() || error.is_parse_status() {
        ForwardError::BadResponse {
            reason: error_chain(error),
        }
    } else {
        // Closed, reset, or the connection's task gone: the service broke off the exchange.
        tracing::debug!(error = %error_chain(error), answered, "service connection failed before a response head");
        let when = if answered {
            "in the middle of the response head"
        } else {
            "before answering"
        };
        ForwardError::Closed {
            when: when.to_owned(),
        }
    }
}

/// A response to a request that asked for no upgrade must have a final status HTTP can carry
/// (200–599; hyper skips the interim 1xx ones but hands a `101` over as the response). Anything
/// else would reach the caller as a result that lies (a protocol switch that never happens, a
/// status no client knows), so it is the service's malformed answer; its connection is dropped.
fn final_status(status: http::StatusCode) -> Result<(), ForwardError> {
    let code = status.as_u16();
    if status.is_informational() || code > 599 {
        return Err(ForwardError::BadResponse {
            reason: format!("status {code} is not a final response status (200–599)"),
        });
    }
    Ok(())
}

/// `request` as it goes out: HTTP/1.1, no extensions.
fn outgoing<B: Into<OutBody>>(request: Request<B>) -> Request<OutBody> {
    let (mut parts, body) = request.into_parts();
    parts.version = http::Version::HTTP_11;
    parts.extensions.clear();
    Request::from_parts(parts, body.into())
}

/// A copy of `request` as it goes out.
fn copy<B: Clone + Into<OutBody>>(request: &Request<B>) -> Request<OutBody> {
    let mut copy = Request::new(request.body().clone().into());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = http::Version::HTTP_11;
    *copy.headers_mut() = request.headers().clone();
    copy
}
