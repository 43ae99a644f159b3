//! A keep-alive HTTP/1.1 client for the Lambda Runtime and Extensions APIs on the loopback.
//!
//! Every call is bounded, so an API that accepts a connection and never answers cannot hang the
//! extension: connecting and each ordinary call (register, init/error, exit/error, a buffered
//! response or error) within the call timeout (`LAMBDA_MESH_API_TIMEOUT_MS`); a streamed response
//! until a deadline the caller gives (the invocation's). The long polls (`invocation/next`,
//! `event/next`) wait for their answer without a bound, since an idle environment legitimately
//! waits for hours; a connection that dies under them (EOF, reset) fails them at once.

use std::error::Error as _;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use lambda_mesh_adapter::{error_chain, truncate_utf8};
use tokio::time::{timeout_at, Instant};

use crate::body::OutBody;
use crate::config::DEFAULT_API_TIMEOUT;
use crate::connection::{ConnectError, Connection, Peer};

/// The most of an unexpected answer's body quoted in an error.
const MAX_QUOTED_BODY: usize = 512;
/// What bounded a call that timed out, for [`ApiError::Timeout`]'s message.
pub(crate) const CALL_TIMEOUT_LIMIT: &str = "LAMBDA_MESH_API_TIMEOUT_MS";
/// What bounded a streamed response that timed out.
pub(crate) const DEADLINE_LIMIT: &str = "the invocation's deadline plus LAMBDA_MESH_API_TIMEOUT_MS";

/// A call to the Lambda Runtime or Extensions API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No connection to the API.
    #[error("cannot connect to the lambda api at {authority}")]
    Connect {
        /// `host:port` tried.
        authority: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The API did not answer in time.
    #[error("lambda api call {what} got no answer within {} ms ({limit})", after.as_millis())]
    Timeout {
        /// The call.
        what: &'static str,
        /// How long it was given.
        after: Duration,
        /// What set the bound: `LAMBDA_MESH_API_TIMEOUT_MS`, or the invocation's deadline plus it.
        limit: &'static str,
    },
    /// The API closed or reset the connection before its answer was complete.
    #[error("the lambda api closed the connection during {what} before answering")]
    Closed {
        /// The call.
        what: &'static str,
        /// The cause.
        #[source]
        source: hyper::Error,
    },
    /// The exchange broke off.
    #[error("lambda api call {what} failed")]
    Http {
        /// The call.
        what: &'static str,
        /// The cause.
        #[source]
        source: hyper::Error,
    },
    /// The API answered with an unexpected status.
    #[error("lambda api call {what} answered {status}: {body}")]
    Status {
        /// The call.
        what: &'static str,
        /// The status.
        status: StatusCode,
        /// The answer's body, shortened.
        body: String,
    },
    /// The API's answer lacks something required.
    #[error("lambda api call {what} answer is not usable: {reason}")]
    BadAnswer {
        /// The call.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The request could not be built (a value is not valid in a header).
    #[error("lambda api call {what} cannot be built")]
    Build {
        /// The call.
        what: &'static str,
        /// The cause.
        #[source]
        source: http::Error,
    },
}

impl ApiError {
    /// The error and its causes, `: `-separated, for a person.
    pub fn describe(&self) -> String {
        error_chain(self)
    }

    /// `source` as [`ApiError::Closed`] when the connection ended under the call (EOF, reset),
    /// else as [`ApiError::Http`].
    pub(crate) fn from_hyper(what: &'static str, source: hyper::Error) -> Self {
        if connection_ended(&source) {
            ApiError::Closed { what, source }
        } else {
            ApiError::Http { what, source }
        }
    }
}

/// Whether `error` means the peer closed or reset the connection.
fn connection_ended(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        return true;
    }
    let mut next = error.source();
    // Causes nest a few levels at most; the bound only guards against a cyclic chain.
    for _ in 0..8 {
        let Some(cause) = next else { break };
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            );
        }
        next = cause.source();
    }
    false
}

/// How long a call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The whole call, answer included, within the client's call timeout.
    Call,
    /// The whole call, answer included, until this instant (a streamed response: the
    /// invocation's deadline plus the call timeout).
    Until(Instant),
    /// A long poll: connecting is bounded by the call timeout, the answer's head is not (it comes
    /// when Lambda has something to say); a closed connection ends the wait with
    /// [`ApiError::Closed`].
    LongPoll,
}

/// One keep-alive connection to `authority`, reopened when it closes.
#[derive(Debug)]
pub(crate) struct ApiClient {
    authority: String,
    timeout: Duration,
    connection: Option<Connection>,
}

impl ApiClient {
    /// A client for the API at `authority` (`host:port`) with the default call timeout
    /// ([`DEFAULT_API_TIMEOUT`]); connects on first use.
    pub(crate) fn new(authority: impl Into<String>) -> Self {
        ApiClient {
            authority: authority.into(),
            timeout: DEFAULT_API_TIMEOUT,
            connection: None,
        }
    }

    /// The same client with `timeout` as the bound on connecting and on each call that is not a
    /// long poll.
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `host:port` this client talks to.
    pub(crate) fn authority(&self) -> &str {
        &self.authority
    }

    /// The bound on connecting and on each call that is not a long poll.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A request builder for `method path` with the `Host` header set.
    pub(crate) fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.authority.as_str())
    }

    /// The instant `timeout` from now, or far ahead when that is past what the clock can hold.
    pub(crate) fn deadline_after(timeout: Duration) -> Instant {
        let now = Instant::now();
        now.checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
    }

    /// Sends `request` and returns the answer's head, bounded as `wait` says (reading the body
    /// is the caller's, and for [`Wait::Call`] and [`Wait::Until`] should be bounded alike).
    /// The connection is reused when still open; a request that a closed connection refused
    /// before sending is sent once more on a fresh connection.
    pub(crate) async fn send(
        &mut self,
        what: &'static str,
        request: Request<OutBody>,
        wait: Wait,
    ) -> Result<Response<Incoming>, ApiError> {
        let Some((end, given, limit)) = self.bound(wait) else {
            return self.send_long_poll(what, request).await;
        };
        match timeout_at(end, self.send_unbounded(what, request)).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out(what, given, limit)),
        }
    }

    /// Sends `request` and reads the whole answer, which must have status `expected`; the whole
    /// call is bounded as `wait` says ([`Wait::LongPoll`] bounds reading the body, once the head
    /// has come, by the call timeout).
    pub(crate) async fn exchange(
        &mut self,
        what: &'static str,
        request: Request<OutBody>,
        expected: StatusCode,
        wait: Wait,
    ) -> Result<(http::response::Parts, Bytes), ApiError> {
        let Some((end, given, limit)) = self.bound(wait) else {
            let response = self.send_long_poll(what, request).await?;
            let end = Self::deadline_after(self.timeout);
            return match timeout_at(end, read_answer(what, response, expected)).await {
                Ok(result) => result,
                Err(_) => Err(self.timed_out(what, self.timeout, CALL_TIMEOUT_LIMIT)),
            };
        };
        let call = async {
            let response = self.send_unbounded(what, request).await?;
            read_answer(what, response, expected).await
        };
        match timeout_at(end, call).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out(what, given, limit)),
        }
    }

    /// For a bounded `wait`: when it ends, the time it gives from now, and what set it.
    fn bound(&self, wait: Wait) -> Option<(Instant, Duration, &'static str)> {
        match wait {
            Wait::Call => Some((
                Self::deadline_after(self.timeout),
                self.timeout,
                CALL_TIMEOUT_LIMIT,
            )),
            Wait::Until(end) => Some((
                end,
                end.saturating_duration_since(Instant::now()),
                DEADLINE_LIMIT,
            )),
            Wait::LongPoll => None,
        }
    }

    /// Drops the connection (after a call on it timed out: its state is unknown).
    pub(crate) fn disconnect(&mut self) {
        self.connection = None;
    }

    /// [`ApiError::Timeout`] for `what`, which was given `after` by `limit`; the connection
    /// is given up.
    pub(crate) fn timed_out(
        &mut self,
        what: &'static str,
        after: Duration,
        limit: &'static str,
    ) -> ApiError {
        self.disconnect();
        tracing::debug!(what, after_ms = %after.as_millis(), limit, "lambda api call timed out");
        ApiError::Timeout { what, after, limit }
    }

    async fn send_long_poll(
        &mut self,
        what: &'static str,
        request: Request<OutBody>,
    ) -> Result<Response<Incoming>, ApiError> {
        let end = Self::deadline_after(self.timeout);
        let connection = match timeout_at(end, self.ready_connection()).await {
            Ok(connection) => connection?,
            Err(_) => return Err(self.timed_out(what, self.timeout, CALL_TIMEOUT_LIMIT)),
        };
        self.send_on(what, connection, request).await
    }

    async fn send_unbounded(
        &mut self,
        what: &'static str,
        request: Request<OutBody>,
    ) -> Result<Response<Incoming>, ApiError> {
        let connection = self.ready_connection().await?;
        self.send_on(what, connection, request).await
    }

    /// The open connection once it can take a request, or a new one.
    async fn ready_connection(&mut self) -> Result<Connection, ApiError> {
        match self.connection.take() {
            Some(mut connection) => match connection.sender().ready().await {
                Ok(()) => Ok(connection),
                Err(_) => self.connect().await,
            },
            None => self.connect().await,
        }
    }

    async fn send_on(
        &mut self,
        what: &'static str,
        mut connection: Connection,
        request: Request<OutBody>,
    ) -> Result<Response<Incoming>, ApiError> {
        match connection.sender().try_send_request(request).await {
            Ok(response) => {
                self.connection = Some(connection);
                Ok(response)
            }
            Err(mut failed) => match failed.take_message() {
                Some(request) if failed.error().is_canceled() || failed.error().is_closed() => {
                    drop(connection);
                    let mut connection = self.connect().await?;
                    let response = connection
                        .sender()
                        .send_request(request)
                        .await
                        .map_err(|source| ApiError::from_hyper(what, source))?;
                    self.connection = Some(connection);
                    Ok(response)
                }
                _ => Err(ApiError::from_hyper(what, failed.into_error())),
            },
        }
    }

    async fn connect(&self) -> Result<Connection, ApiError> {
        Connection::open(self.authority.as_str(), Peer::LambdaApi)
            .await
            .map_err(|error| match error {
                ConnectError::Connect(source) | ConnectError::NoDelay(source) => {
                    ApiError::Connect {
                        authority: self.authority.clone(),
                        source,
                    }
                }
                ConnectError::Handshake(source) => ApiError::Http {
                    what: "connect",
                    source,
                },
            })
    }
}

/// Reads `response`'s body; the status must be `expected`.
async fn read_answer(
    what: &'static str,
    response: Response<Incoming>,
    expected: StatusCode,
) -> Result<(http::response::Parts, Bytes), ApiError> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|source| ApiError::from_hyper(what, source))?
        .to_bytes();
    if parts.status != expected {
        return Err(ApiError::Status {
            what,
            status: parts.status,
            body: shortened(&body),
        });
    }
    Ok((parts, body))
}

/// An answer's body as text for an error message: at most [`MAX_QUOTED_BODY`] bytes, cut on a
/// character boundary.
pub(crate) fn shortened(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_QUOTED_BODY)]);
    truncate_utf8(&text, MAX_QUOTED_BODY).to_owned()
}
