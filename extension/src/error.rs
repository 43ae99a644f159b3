//! Every failure the extension reports to Lambda, with its `errorType`: the invocation errors
//! (`invocation/{id}/error`, or a streamed response's error trailers) and the reasons the
//! extension stops (`init/error`, `exit/error`). The `LambdaMesh.*` names live here and nowhere
//! else; each becomes an [`ErrorReport`] in one place ([`ErrorReport::of`]).

use std::fmt::Display;
use std::net::SocketAddr;

use bytes::Bytes;
use lambda_mesh_adapter::{error_chain, MAX_SYNC_RESPONSE_BYTES};

use crate::api_client::ApiError;
use crate::config::ConfigError;
use crate::readiness::ReadinessError;

const SERVICE_TIMEOUT: &str = "LambdaMesh.ServiceTimeout";
const SERVICE_UNAVAILABLE: &str = "LambdaMesh.ServiceUnavailable";
const BAD_RESPONSE: &str = "LambdaMesh.BadServiceResponse";
const RESPONSE_TOO_LARGE: &str = "LambdaMesh.ResponseTooLarge";
const ERROR_STATUS: &str = "LambdaMesh.ServiceErrorStatus";
const INVALID_CONFIG: &str = "LambdaMesh.InvalidConfig";
const SERVICE_NOT_READY: &str = "LambdaMesh.ServiceNotReady";
const SERVICE_GONE: &str = "LambdaMesh.ServiceGone";
const LAMBDA_API_FAILED: &str = "LambdaMesh.LambdaApiFailed";

/// The largest service body buffered: beyond Lambda's 6 MB result limit even compressed.
pub(crate) const MAX_BUFFERED_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Forwarding a request to the service failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardError {
    /// The invocation's deadline passed first.
    #[error("the service did not answer within {waited_ms} ms, before the invocation's deadline")]
    Timeout {
        /// How long the extension waited.
        waited_ms: u128,
    },
    /// The service could not be reached or dropped the connection. The message, which reaches the
    /// caller through Lambda's error report, does not name the service's internal address; the
    /// extension's own log line does.
    #[error("the service is unavailable: {reason}")]
    Unavailable {
        /// The service's address (for the extension's log).
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// The service answered with something that is not valid HTTP/1.1, or not a response the
    /// extension can return (see the `framing` module).
    #[error("the service sent a malformed response: {reason}")]
    BadResponse {
        /// What was wrong.
        reason: String,
    },
    /// The service closed (or reset) the connection after the request went out and before its
    /// response was complete, as a crashing service does: a bad response, after which the
    /// extension checks whether the service still accepts connections.
    #[error("the service closed the connection {when}")]
    Closed {
        /// At which point of the exchange, e.g. "before answering".
        when: String,
    },
}

impl ForwardError {
    /// The `errorType` reported to Lambda.
    pub fn error_type(&self) -> &'static str {
        match self {
            ForwardError::Timeout { .. } => SERVICE_TIMEOUT,
            ForwardError::Unavailable { .. } => SERVICE_UNAVAILABLE,
            ForwardError::BadResponse { .. } | ForwardError::Closed { .. } => BAD_RESPONSE,
        }
    }
}

/// Why an invocation failed: each variant is one `errorType` and its message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvocationError {
    /// The event is HTTP-shaped but cannot be decoded.
    #[error("the event cannot be turned into an HTTP request: {0}")]
    InvalidEvent(String),
    /// With async init, the service was not ready before the deadline.
    #[error(transparent)]
    NotReady(ReadinessError),
    /// Sending the request or reading the response failed.
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// The status is one `LAMBDA_MESH_ERROR_STATUS_CODES` lists.
    #[error("the service answered status {0}, which LAMBDA_MESH_ERROR_STATUS_CODES turns into an invocation error")]
    ErrorStatus(u16),
    /// The response cannot be put in the event's result shape.
    #[error("the service's response cannot be returned to Lambda: {0}")]
    BadResult(String),
    /// The response head cannot be put in a stream prelude.
    #[error("the service's response head cannot be streamed to Lambda: {0}")]
    BadStreamHead(String),
    /// The body is too large to buffer.
    #[error("the service's response body exceeds {MAX_BUFFERED_BODY_BYTES} bytes, too large to buffer (LAMBDA_MESH_INVOKE_MODE=response_stream allows more)")]
    BodyTooLarge,
    /// The encoded result is over Lambda's buffered response limit.
    #[error("the service's response encodes to {0} bytes, over Lambda's limit of {MAX_SYNC_RESPONSE_BYTES} bytes for a buffered result (LAMBDA_MESH_INVOKE_MODE=response_stream allows more)")]
    ResultTooLarge(usize),
}

impl InvocationError {
    /// `what` made the event undecodable.
    pub(crate) fn invalid_event(what: impl Display) -> Self {
        InvocationError::InvalidEvent(what.to_string())
    }

    /// `what` made the response unencodable.
    pub(crate) fn bad_result(what: impl Display) -> Self {
        InvocationError::BadResult(what.to_string())
    }

    /// The `errorType` reported to Lambda.
    pub(crate) fn error_type(&self) -> &'static str {
        match self {
            InvocationError::InvalidEvent(_) => lambda_mesh_adapter::INVALID_EVENT_ERROR_TYPE,
            InvocationError::NotReady(_) => SERVICE_TIMEOUT,
            InvocationError::Forward(error) => error.error_type(),
            InvocationError::ErrorStatus(_) => ERROR_STATUS,
            InvocationError::BadResult(_) | InvocationError::BadStreamHead(_) => BAD_RESPONSE,
            InvocationError::BodyTooLarge | InvocationError::ResultTooLarge(_) => {
                RESPONSE_TOO_LARGE
            }
        }
    }
}

/// Why the extension stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A variable holds a value that cannot be used (reported through `init/error`).
    #[error("invalid configuration: {0}")]
    InvalidConfig(ConfigError),
    /// Registration with the Extensions API failed.
    #[error("registration with the extensions api failed")]
    Register(#[source] ApiError),
    /// The service did not become ready during init (reported through `init/error`).
    #[error(transparent)]
    NotReady(ReadinessError),
    /// The Runtime or Extensions API failed (reported through `exit/error`).
    #[error("the lambda api failed")]
    Api(#[source] ApiError),
    /// The service went away (reported through `exit/error`).
    #[error("{0}")]
    ServiceGone(String),
}

impl RunError {
    /// The error and its causes, `: `-separated, for the log.
    pub fn describe(&self) -> String {
        error_chain(self)
    }

    /// What Lambda is told through `init/error` or `exit/error`, if anything.
    pub(crate) fn report(&self) -> Option<ErrorReport> {
        let (error_type, message) = match self {
            RunError::InvalidConfig(error) => (INVALID_CONFIG, error.to_string()),
            RunError::NotReady(error) => (SERVICE_NOT_READY, error.to_string()),
            RunError::ServiceGone(reason) => (SERVICE_GONE, reason.clone()),
            RunError::Api(error) => (LAMBDA_API_FAILED, error_chain(error)),
            RunError::Register(_) => return None,
        };
        Some(ErrorReport::new(error_type, message))
    }
}

/// The JSON error body Lambda expects: `{"errorMessage", "errorType", "stackTrace"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReport {
    /// `errorType`, e.g. `LambdaMesh.ServiceTimeout`.
    pub(crate) error_type: &'static str,
    /// `errorMessage`, meant for a person.
    pub(crate) error_message: String,
}

impl ErrorReport {
    fn new(error_type: &'static str, error_message: String) -> Self {
        ErrorReport {
            error_type,
            error_message,
        }
    }

    /// The report of an invocation error.
    pub(crate) fn of(error: &InvocationError) -> Self {
        ErrorReport::new(error.error_type(), error.to_string())
    }

    /// The JSON body.
    pub(crate) fn to_json(&self) -> Bytes {
        serde_json::json!({
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "stackTrace": [],
        })
        .to_string()
        .into()
    }
}
