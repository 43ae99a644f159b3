//! One invocation: event → HTTP request for the service → response → result in the event's
//! shape (buffered or streamed), or a typed invocation error.

mod request;
mod stream;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use lambda_mesh_adapter::{
    body_is_binary, decode_event_deferred, encode_response, DecodeOptions, EventShape,
    ResultWriter, MAX_SYNC_RESPONSE_BYTES,
};
use tokio::time::{timeout_at, Instant};

use crate::api_client::{ApiError, ErrorReport};
use crate::buffer::{ReadError, Reusable};
use crate::compression::compress_response;
use crate::config::{Config, InvokeMode};
use crate::forwarder::{ForwardError, Forwarder, Lease};
use crate::headers::strip_hop_by_hop;
use crate::readiness::Readiness;
use crate::runtime_api::{Invocation, RuntimeApi};

/// `errorType` of an event the adapter cannot decode.
pub const INVALID_EVENT: &str = lambda_mesh_adapter::INVALID_EVENT_ERROR_TYPE;
/// `errorType` of a service that was not ready (async init) or did not answer in time.
pub const SERVICE_TIMEOUT: &str = "LambdaMesh.ServiceTimeout";
/// `errorType` of a response whose status is listed in `LAMBDA_MESH_ERROR_STATUS_CODES`.
pub const ERROR_STATUS: &str = "LambdaMesh.ServiceErrorStatus";
/// `errorType` of a response that cannot be put in the event's result shape.
pub const BAD_RESPONSE: &str = "LambdaMesh.BadServiceResponse";
/// `errorType` of a buffered result over Lambda's response size limit.
pub const RESPONSE_TOO_LARGE: &str = "LambdaMesh.ResponseTooLarge";
/// The largest service body buffered: beyond Lambda's 6 MB result limit even compressed.
pub const MAX_BUFFERED_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long a service that refused a connection gets to accept one again before the extension
/// declares it gone and asks Lambda for a fresh environment.
pub const GONE_GRACE: Duration = Duration::from_millis(500);

/// What became of an invocation, for the run loop.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A result or an invocation error was posted; go on.
    Done,
    /// The service is unreachable for good: the environment must be recycled.
    ServiceGone(String),
}

/// Forwards invocations to the service.
#[derive(Debug)]
pub struct Handler {
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
    pub fn new(config: Config, ready: bool) -> Self {
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
    pub fn close(&mut self) {
        self.forwarder.close_idle();
    }

    /// Handles `invocation` and posts its result or error through `runtime`.
    pub async fn handle(
        &mut self,
        invocation: &Invocation,
        runtime: &mut RuntimeApi,
    ) -> Result<Outcome, ApiError> {
        let start = Instant::now();
        let id = invocation.request_id.as_str();
        let deadline = deadline_instant(invocation.deadline_ms, self.config.deadline_margin);
        let decoded = match decode_event_deferred(&invocation.event, &self.decode_options) {
            Ok(decoded) => decoded,
            Err(error) => {
                let report = ErrorReport::new(
                    INVALID_EVENT,
                    format!("the event cannot be turned into an HTTP request: {error}"),
                );
                runtime.respond_error(id, &report).await?;
                return Ok(Outcome::Done);
            }
        };
        if !self.ready {
            let limit = deadline.saturating_duration_since(Instant::now());
            if let Err(error) = self.readiness.wait(limit).await {
                let report = ErrorReport::new(SERVICE_TIMEOUT, error.to_string());
                runtime.respond_error(id, &report).await?;
                return Ok(Outcome::Done);
            }
            self.ready = true;
        }
        let shape = decoded.shape.clone();
        let service_request = request::build(&self.config, invocation, decoded);
        let method = service_request.method().clone();
        // Only compression needs the request's headers later, and only Accept-Encoding.
        let mut accept_encoding = http::HeaderMap::new();
        if self.config.compresses() {
            for value in service_request
                .headers()
                .get_all(http::header::ACCEPT_ENCODING)
            {
                accept_encoding.append(http::header::ACCEPT_ENCODING, value.clone());
            }
        }
        let (response, lease) = match self.forwarder.send(&service_request, deadline).await {
            Ok(sent) => sent,
            Err(error) => return self.fail(runtime, id, error).await,
        };
        let status = response.status().as_u16();
        if let Some(codes) = &self.config.error_status {
            if codes.contains(status) {
                let report = ErrorReport::new(
                    ERROR_STATUS,
                    format!("the service answered status {status}, which LAMBDA_MESH_ERROR_STATUS_CODES turns into an invocation error"),
                );
                runtime.respond_error(id, &report).await?;
                return Ok(Outcome::Done);
            }
        }
        let streamed = self.config.invoke_mode == InvokeMode::ResponseStream
            && shape != EventShape::PassThrough;
        if streamed {
            let lease = stream::respond(
                runtime,
                id,
                response,
                lease,
                deadline,
                self.forwarder.addr(),
            )
            .await?;
            if let Some(lease) = lease {
                self.forwarder.release(lease);
            }
            return Ok(Outcome::Done);
        }
        let (mut parts, body) = response.into_parts();
        // A length the service declared, not overridden by chunked framing.
        let declared = !parts.headers.contains_key(TRANSFER_ENCODING);
        strip_hop_by_hop(&mut parts.headers);
        if let Some(length) = declared
            .then(|| self.encodes_while_reading(&method, &shape, &parts))
            .flatten()
        {
            return self
                .encode_while_reading(runtime, id, parts, body, lease, &shape, length, deadline)
                .await;
        }
        let read = self.response_buffer.read(body, MAX_BUFFERED_BODY_BYTES);
        let body = match timeout_at(deadline, read).await {
            Ok(Ok(body)) => {
                self.forwarder.release(lease);
                body
            }
            Ok(Err(ReadError::Body(error))) => {
                let error = self.forwarder.classify(&error);
                return self.fail(runtime, id, error).await;
            }
            Ok(Err(ReadError::TooLarge)) => {
                let report = ErrorReport::new(
                    RESPONSE_TOO_LARGE,
                    format!("the service's response body exceeds {MAX_BUFFERED_BODY_BYTES} bytes, too large to buffer (LAMBDA_MESH_INVOKE_MODE=response_stream allows more)"),
                );
                runtime.respond_error(id, &report).await?;
                return Ok(Outcome::Done);
            }
            Err(_) => {
                let error = ForwardError::Timeout {
                    waited_ms: start.elapsed().as_millis(),
                };
                return self.fail(runtime, id, error).await;
            }
        };
        let kept = body.clone();
        let mut response = Response::from_parts(parts, body);
        if self.config.compresses() {
            compress_response(
                &method,
                &accept_encoding,
                &mut response,
                self.config.compression_min_bytes,
            );
        }
        if method != Method::HEAD {
            let length = HeaderValue::from(response.body().len());
            response.headers_mut().insert(CONTENT_LENGTH, length);
        }
        match encode_response(response, &shape) {
            Ok(result) if result.len() > MAX_SYNC_RESPONSE_BYTES => {
                runtime.respond_error(id, &too_large(result.len())).await?;
            }
            Ok(result) => {
                self.response_buffer.give_back(kept);
                runtime.respond(id, result).await?;
                return Ok(Outcome::Done);
            }
            Err(error) => {
                let report = ErrorReport::new(
                    BAD_RESPONSE,
                    format!("the service's response cannot be returned to Lambda: {error}"),
                );
                runtime.respond_error(id, &report).await?;
            }
        }
        Ok(Outcome::Done)
    }

    /// The body length when the result can be encoded as the body arrives: a buffered, uncompressed
    /// result whose body is binary by its (end-to-end) headers, so base64 whatever the bytes, and
    /// of a length the service declared. Anything else is read whole first.
    fn encodes_while_reading(
        &self,
        method: &Method,
        shape: &EventShape,
        parts: &http::response::Parts,
    ) -> Option<usize> {
        let status = parts.status;
        // These carry no body whatever their Content-Length says.
        let bodiless = status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED;
        if bodiless
            || self.config.compresses()
            || *method == Method::HEAD
            || *shape == EventShape::PassThrough
        {
            return None;
        }
        let length: usize = parts
            .headers
            .get(CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        (length > 0 && length <= MAX_BUFFERED_BODY_BYTES && body_is_binary(&parts.headers))
            .then_some(length)
    }

    /// Encodes the service's body into the result as it arrives (no copy of the whole body), in a
    /// buffer kept from the last result.
    #[allow(clippy::too_many_arguments)]
    async fn encode_while_reading(
        &mut self,
        runtime: &mut RuntimeApi,
        id: &str,
        mut parts: http::response::Parts,
        mut body: Incoming,
        lease: Lease,
        shape: &EventShape,
        length: usize,
        deadline: Instant,
    ) -> Result<Outcome, ApiError> {
        let start = Instant::now();
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
        let buffer = std::mem::take(&mut self.result_buffer);
        let mut writer = match ResultWriter::new(&parts, shape, length, buffer) {
            Ok(writer) => writer,
            Err(error) => {
                let report = ErrorReport::new(
                    BAD_RESPONSE,
                    format!("the service's response cannot be returned to Lambda: {error}"),
                );
                runtime.respond_error(id, &report).await?;
                return Ok(Outcome::Done);
            }
        };
        let read = async {
            let mut received = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    received += data.len();
                    writer.push(&data);
                }
            }
            Ok::<_, hyper::Error>(received)
        };
        match timeout_at(deadline, read).await {
            Ok(Ok(received)) if received == length => self.forwarder.release(lease),
            Ok(Ok(received)) => {
                let error = ForwardError::BadResponse {
                    reason: format!("{received} body bytes after a Content-Length of {length}"),
                };
                return self.fail(runtime, id, error).await;
            }
            Ok(Err(error)) => {
                let error = self.forwarder.classify(&error);
                return self.fail(runtime, id, error).await;
            }
            Err(_) => {
                let error = ForwardError::Timeout {
                    waited_ms: start.elapsed().as_millis(),
                };
                return self.fail(runtime, id, error).await;
            }
        }
        let result = Bytes::from(writer.finish());
        if result.len() > MAX_SYNC_RESPONSE_BYTES {
            runtime.respond_error(id, &too_large(result.len())).await?;
            return Ok(Outcome::Done);
        }
        let kept = result.clone();
        runtime.respond(id, result).await?;
        if let Ok(buffer) = kept.try_into_mut() {
            self.result_buffer = buffer.into();
        }
        Ok(Outcome::Done)
    }

    /// Reports `error` for invocation `id`; a service that refuses connections for longer than
    /// [`GONE_GRACE`] is gone.
    async fn fail(
        &mut self,
        runtime: &mut RuntimeApi,
        id: &str,
        error: ForwardError,
    ) -> Result<Outcome, ApiError> {
        tracing::warn!(request_id = %id, %error, error_type = error.error_type(), "invocation failed");
        let report = ErrorReport::new(error.error_type(), error.to_string());
        runtime.respond_error(id, &report).await?;
        if matches!(error, ForwardError::Unavailable { .. }) && self.service_gone().await {
            return Ok(Outcome::ServiceGone(format!(
                "the service at {} stopped accepting connections",
                self.forwarder.addr()
            )));
        }
        Ok(Outcome::Done)
    }

    async fn service_gone(&self) -> bool {
        let end = Instant::now() + GONE_GRACE;
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(self.forwarder.addr())
                .await
                .is_ok()
            {
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

/// The invocation error for a buffered result over Lambda's response limit.
fn too_large(encoded: usize) -> ErrorReport {
    ErrorReport::new(
        RESPONSE_TOO_LARGE,
        format!(
            "the service's response encodes to {encoded} bytes, over Lambda's limit of {MAX_SYNC_RESPONSE_BYTES} bytes for a buffered result (LAMBDA_MESH_INVOKE_MODE=response_stream allows more)"
        ),
    )
}
