//! The in-process Invoke API types: requests, responses, streams and AWS errors.

use bytes::Bytes;
use tokio::sync::mpsc;

/// Lambda's synchronous request payload limit (AWS Lambda quotas: 6 MB request, sync).
pub const MAX_SYNC_REQUEST_BYTES: usize = 6_291_456;
/// Lambda's asynchronous request payload limit (AWS Lambda quotas: 1 MB, async).
pub const MAX_ASYNC_REQUEST_BYTES: usize = 1_048_576;
/// Lambda's buffered response limit (the Runtime API accepts up to 6,291,556 bytes).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;
/// Lambda's streamed response limit (AWS Lambda quotas: 200 MB).
pub const MAX_STREAM_RESPONSE_BYTES: usize = 200 * 1024 * 1024;

/// One Invoke call.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    /// Function name, full or partial ARN, or `name:qualifier`.
    pub function: String,
    /// `Qualifier`: `$LATEST` or a configured alias/version.
    pub qualifier: Option<String>,
    /// `X-Amz-Invocation-Type`.
    pub invocation_type: InvocationType,
    /// The event, raw bytes (must be JSON).
    pub payload: Bytes,
    /// `X-Amz-Client-Context`: base64 as on the wire.
    pub client_context: Option<String>,
    /// `X-Amz-Log-Type: Tail`.
    pub log_tail: bool,
    /// `X-Amzn-Trace-Id`: handed to the runtime as `Lambda-Runtime-Trace-Id` (one is made when it
    /// is absent or has no `Root`).
    pub trace_id: Option<String>,
}

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InvocationType {
    /// Synchronous: wait for the result.
    #[default]
    RequestResponse,
    /// Asynchronous: queue and answer 202.
    Event,
    /// Validate only: answer 204.
    DryRun,
}

impl InvocationType {
    /// Parse the header value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RequestResponse" => Some(Self::RequestResponse),
            "Event" => Some(Self::Event),
            "DryRun" => Some(Self::DryRun),
            _ => None,
        }
    }
}

/// The answer to an Invoke call.
#[derive(Debug, Clone, Default)]
pub struct InvokeResponse {
    /// `x-amzn-RequestId`, also the runtime's `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// The function's result, or its error JSON when `function_error` is set.
    pub payload: Bytes,
    /// `X-Amz-Function-Error`: `Unhandled` when the function failed.
    pub function_error: Option<String>,
    /// `X-Amz-Executed-Version`.
    pub executed_version: String,
    /// `X-Amz-Log-Result`: base64 of the last 4 KB of the invocation's log.
    pub log_result: Option<String>,
    /// HTTP status: 200 sync, 202 Event, 204 DryRun.
    pub status: u16,
}

/// A function that failed mid-stream: what `InvokeComplete` carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("function error {error_code}: {error_details}")]
pub struct StreamError {
    /// `ErrorCode`, e.g. the runtime's `Lambda-Runtime-Function-Error-Type`.
    pub error_code: String,
    /// `ErrorDetails`, e.g. the runtime's error body.
    pub error_details: String,
}

/// The answer to InvokeWithResponseStream: the function's chunks as they are written.
#[derive(Debug)]
pub struct StreamingInvoke {
    /// `x-amzn-RequestId`.
    pub request_id: String,
    /// `X-Amz-Executed-Version`.
    pub executed_version: String,
    /// The function's `Content-Type`, when it set one.
    pub content_type: Option<String>,
    /// The chunks; an `Err` is the last item and means the function failed mid-stream.
    pub body: mpsc::Receiver<Result<Bytes, StreamError>>,
    /// `LogResult` for `InvokeComplete`, filled in when the stream ends (if `log_tail`).
    pub log_result: Option<tokio::sync::oneshot::Receiver<String>>,
}

/// An Invoke call Lambda refuses (not a function error: those are `InvokeResponse`s).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// 404: no such function or qualifier.
    #[error("{message}")]
    ResourceNotFound {
        /// AWS's message.
        message: String,
    },
    /// 400: the payload is not JSON.
    #[error("{message}")]
    InvalidRequestContent {
        /// AWS's message.
        message: String,
    },
    /// 400: a header or parameter is invalid.
    #[error("{message}")]
    InvalidParameterValue {
        /// AWS's message.
        message: String,
    },
    /// 413: the request payload is too large.
    #[error("{message}")]
    RequestTooLarge {
        /// AWS's message.
        message: String,
    },
    /// 429: every environment is busy.
    #[error("Rate Exceeded.")]
    TooManyRequests {
        /// `ConcurrentInvocationLimitExceeded` or `ReservedFunctionConcurrentInvocationLimitExceeded`.
        reason: String,
        /// `retryAfterSeconds` and `Retry-After`.
        retry_after_seconds: u64,
    },
    /// 500: the emulator failed.
    #[error("{message}")]
    ServiceException {
        /// What failed.
        message: String,
    },
}

impl InvokeError {
    /// The HTTP status Lambda answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::ResourceNotFound { .. } => 404,
            Self::InvalidRequestContent { .. } | Self::InvalidParameterValue { .. } => 400,
            Self::RequestTooLarge { .. } => 413,
            Self::TooManyRequests { .. } => 429,
            Self::ServiceException { .. } => 500,
        }
    }

    /// The `x-amzn-ErrorType` Lambda answers with.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::ResourceNotFound { .. } => "ResourceNotFoundException",
            Self::InvalidRequestContent { .. } => "InvalidRequestContentException",
            Self::InvalidParameterValue { .. } => "InvalidParameterValueException",
            Self::RequestTooLarge { .. } => "RequestEntityTooLargeException",
            Self::TooManyRequests { .. } => "TooManyRequestsException",
            Self::ServiceException { .. } => "ServiceException",
        }
    }

    /// The JSON body Lambda answers with.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Self::TooManyRequests {
                reason,
                retry_after_seconds,
            } => serde_json::json!({
                "Reason": reason,
                "Type": "User",
                "message": "Rate Exceeded.",
                "retryAfterSeconds": retry_after_seconds.to_string(),
            }),
            Self::ServiceException { message } => {
                serde_json::json!({ "Type": "Service", "Message": message })
            }
            other => serde_json::json!({ "Type": "User", "Message": other.to_string() }),
        }
    }
}

/// The emulator could not start or serve.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The configuration is not acceptable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Preparing a function (its merged layers) failed.
    #[error("function `{function}`: cannot prepare its files")]
    Prepare {
        /// The function.
        function: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A listener failed.
    #[error("invoke api listener failed")]
    Listener(#[source] std::io::Error),
}
