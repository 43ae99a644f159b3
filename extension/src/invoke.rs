//! One invocation: event → HTTP request for the service → response → result in the event's
//! shape (buffered or streamed), or a typed invocation error.

mod buffered;
mod request;
mod stream;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method};
use lambda_mesh_adapter::{decode_event_deferred, DecodeOptions, EventShape};
use tokio::time::Instant;

use crate::api_client::ApiError;
use crate::buffer::Reusable;
use crate::config::{Config, InvokeMode};
use crate::error::{ErrorReport, ForwardError, InvocationError};
use crate::forwarder::Forwarder;
use crate::readiness::Readiness;
use crate::runtime_api::{Invocation, RuntimeApi};

/// How long a service that refused a connection gets to accept one again before the extension
/// declares it gone and asks Lambda for a fresh environment.
const GONE_GRACE: Duration = Duration::from_millis(500);

/// How long a probe connection must stay open to count as the service answering.
const PROBE_SETTLE: Duration = Duration::from_millis(20);

/// What became of an invocation, for the run loop.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A result or an invocation error was posted; go on.
    Done,
    /// The service is unreachable for good: the environment must be recycled.
    ServiceGone(String),
}

/// Why a step of an invocation stopped: the invocation failed (reported to Lambda as its error),
/// or the Runtime API did (which ends the run loop).
#[derive(Debug)]
enum Failed {
    Invocation(InvocationError),
    Api(ApiError),
}

impl From<InvocationError> for Failed {
    fn from(error: InvocationError) -> Self {
        Failed::Invocation(error)
    }
}

impl From<ForwardError> for Failed {
    fn from(error: ForwardError) -> Self {
        Failed::Invocation(error.into())
    }
}

impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        Failed::Api(error)
    }
}

/// What the steps after the service's response head need to know about the invocation.
#[derive(Debug)]
struct Reply<'a> {
    /// The invocation's request id.
    id: &'a str,
    /// The request's method (`HEAD` answers keep their `Content-Length`).
    method: Method,
    /// The event's shape, which the result takes.
    shape: EventShape,
    /// The request's `Accept-Encoding` values, when compression applies.
    accept_encoding: HeaderMap,
    /// When the service's answer must be complete.
    deadline: Instant,
    /// When the invocation started, for the wait a timeout reports.
    start: Instant,
}

/// Forwards invocations to the service.
#[derive(Debug)]
pub(crate) struct Handler {
    config: Config,
    forwarder: Forwarder,
    readiness: Readiness,
    decode_options: DecodeOptions,
    ready: bool,
    response_buffer: Reusable,
    /// The last result's buffer, taken back once posted (see `buffer`).
    result_buffer: Vec<u8>,
}

impl Handler {
    /// A handler for `config`'s service; `ready` says whether init saw the service ready.
    pub(crate) fn new(config: Config, ready: bool) -> Self {
        Handler {
            forwarder: Forwarder::new(config.service),
            readiness: Readiness::from_config(&config),
            decode_options: DecodeOptions::new()
                .with_pass_through_path(config.pass_through_path.as_str()),
            config,
            ready,
            response_buffer: Reusable::default(),
            result_buffer: Vec::new(),
        }
    }

    /// Closes the pooled connection (on SHUTDOWN).
    pub(crate) fn close(&mut self) {
        self.forwarder.close_idle();
    }

    /// Handles `invocation` and posts its result or error through `runtime`.
    pub(crate) async fn handle(
        &mut self,
        invocation: &Invocation,
        runtime: &mut RuntimeApi,
    ) -> Result<Outcome, ApiError> {
        match self.answer(invocation, runtime).await {
            Ok(()) => Ok(Outcome::Done),
            Err(Failed::Api(error)) => Err(error),
            Err(Failed::Invocation(error)) => {
                self.report(runtime, &invocation.request_id, error).await
            }
        }
    }

    /// Decodes the event, waits for the service if init did not see it ready, sends the request
    /// and posts the answer, buffered or streamed.
    async fn answer(
        &mut self,
        invocation: &Invocation,
        runtime: &mut RuntimeApi,
    ) -> Result<(), Failed> {
        let start = Instant::now();
        let deadline = deadline_instant(invocation.deadline_ms, self.config.deadline_margin);
        let decoded = decode_event_deferred(&invocation.event, &self.decode_options)
            .map_err(InvocationError::invalid_event)?;
        self.wait_until_ready(deadline).await?;
        let shape = decoded.shape.clone();
        let request = request::build(&self.config, invocation, decoded);
        let reply = Reply {
            id: &invocation.request_id,
            method: request.method().clone(),
            accept_encoding: self.accept_encoding(request.headers()),
            shape,
            deadline,
            start,
        };
        let (response, lease) = self.forwarder.send(request, deadline).await?;
        let status = response.status().as_u16();
        if let Some(codes) = &self.config.error_status {
            if codes.contains(status) {
                return Err(InvocationError::ErrorStatus(status).into());
            }
        }
        let streamed = self.config.invoke_mode == InvokeMode::ResponseStream
            && reply.shape != EventShape::PassThrough;
        if streamed {
            let lease = stream::respond(runtime, &reply, response, lease).await?;
            if let Some(lease) = lease {
                self.forwarder.release(lease);
            }
            return Ok(());
        }
        self.respond_buffered(runtime, reply, response, lease).await
    }

    /// With async init, waits for the service until `deadline` the first time.
    async fn wait_until_ready(&mut self, deadline: Instant) -> Result<(), InvocationError> {
        if !self.ready {
            let limit = deadline.saturating_duration_since(Instant::now());
            self.readiness
                .wait(limit)
                .await
                .map_err(InvocationError::NotReady)?;
            self.ready = true;
        }
        Ok(())
    }

    /// The request's `Accept-Encoding` values: only compression needs the request's headers
    /// once it has gone.
    fn accept_encoding(&self, headers: &HeaderMap) -> HeaderMap {
        let mut accept_encoding = HeaderMap::new();
        if self.config.compresses() {
            for value in headers.get_all(http::header::ACCEPT_ENCODING) {
                accept_encoding.append(http::header::ACCEPT_ENCODING, value.clone());
            }
        }
        accept_encoding
    }

    /// Reports `error` for invocation `id`: the one place invocation errors go to Lambda. A
    /// service that refuses connections for longer than [`GONE_GRACE`] is gone (checked after it
    /// refused one or closed one mid-exchange, as a crashing service does).
    async fn report(
        &mut self,
        runtime: &mut RuntimeApi,
        id: &str,
        error: InvocationError,
    ) -> Result<Outcome, ApiError> {
        if let InvocationError::Forward(forward) = &error {
            tracing::warn!(request_id = %id, service = %self.forwarder.addr(), error = %forward, error_type = forward.error_type(), "invocation failed");
        }
        runtime.respond_error(id, &ErrorReport::of(&error)).await?;
        let unavailable = matches!(
            error,
            InvocationError::Forward(
                ForwardError::Unavailable { .. } | ForwardError::Closed { .. }
            )
        );
        if unavailable && self.service_gone().await {
            return Ok(Outcome::ServiceGone(format!(
                "the service at {} stopped accepting connections",
                self.forwarder.addr()
            )));
        }
        Ok(Outcome::Done)
    }

    /// True when the service still refuses connections after [`GONE_GRACE`]. A process that is
    /// exiting can still complete a handshake from its listen backlog for a moment and then reset
    /// the connection: a probe counts as an answer only when its connection stays open briefly.
    async fn service_gone(&self) -> bool {
        let end = Instant::now() + GONE_GRACE;
        for _ in 0..50 {
            if probe_stays_open(self.forwarder.addr()).await {
                return false;
            }
            if Instant::now() >= end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

/// Connects to `addr` and waits [`PROBE_SETTLE`]: true when the connection neither failed nor
/// was closed or reset by then (a live HTTP server waits for the request line).
async fn probe_stays_open(addr: std::net::SocketAddr) -> bool {
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(PROBE_SETTLE, stream.peek(&mut byte)).await {
        // Nothing said and nothing closed: the service is listening and alive.
        Err(_elapsed) => true,
        // A server that greets first (not HTTP, but alive).
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
    }
}

fn now_epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The instant `margin` before the epoch-milliseconds `deadline_ms`.
fn deadline_instant(deadline_ms: u64, margin: Duration) -> Instant {
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_epoch_ms()));
    Instant::now() + left.saturating_sub(margin)
}
