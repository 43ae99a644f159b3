//! Typed errors of the codec. Every message names the event or result field at fault.

/// An event, function result or stream prelude that cannot be decoded.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not JSON at all.
    #[error("payload is not valid JSON")]
    InvalidJson(#[source] serde_json::Error),
    /// A field has the wrong JSON type or a JSON value is malformed.
    #[error("malformed field `{field}`: {message}")]
    Malformed {
        /// The field, as a dotted path.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A field the shape requires is missing.
    #[error("missing field `{field}`")]
    MissingField {
        /// The field, as a dotted path.
        field: String,
    },
    /// A base64 body that does not decode.
    #[error("invalid base64 in `{field}`")]
    InvalidBase64 {
        /// The field holding the body.
        field: String,
        /// The base64 error.
        #[source]
        source: base64::DecodeError,
    },
    /// A header name that is not a valid HTTP token.
    #[error("invalid header name in `{field}`")]
    InvalidHeaderName {
        /// The field, e.g. `headers.bad name`.
        field: String,
    },
    /// A header value that is not valid HTTP (CR, LF, NUL and other control characters).
    #[error("invalid header value in `{field}`")]
    InvalidHeaderValue {
        /// The field, e.g. `multiValueHeaders.x-foo`.
        field: String,
    },
    /// An HTTP method that is not a valid token.
    #[error("invalid http method in `{field}`")]
    InvalidMethod {
        /// The field holding the method.
        field: String,
    },
    /// A path or query string that cannot form a request target.
    #[error("invalid path or query in `{field}`")]
    InvalidUri {
        /// The field holding the path or query.
        field: String,
    },
    /// A status code outside 100..=999.
    #[error("invalid status code {value} in `{field}`")]
    InvalidStatus {
        /// The field holding the status.
        field: String,
        /// The status as the payload wrote it (a JSON value's text).
        value: String,
    },
    /// The stream prelude grew past [`crate::MAX_STREAM_PRELUDE_BYTES`] without its NUL separator.
    #[error("stream prelude exceeds {limit} bytes without its 8-NUL separator")]
    PreludeTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// A response or request that cannot be encoded.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Pass-through sends the request body as the event, so it must be JSON.
    #[error("pass-through request body is not valid JSON")]
    PassThroughBodyNotJson(#[source] serde_json::Error),
    /// A header value that is not UTF-8 cannot be carried in a JSON string.
    #[error("header value of `{name}` is not valid UTF-8")]
    HeaderValueNotUtf8 {
        /// The header name.
        name: String,
    },
}

impl DecodeError {
    pub(crate) fn malformed(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Malformed {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn missing(field: impl Into<String>) -> Self {
        Self::MissingField {
            field: field.into(),
        }
    }
}

/// errorType of the invocation error for an event that cannot be decoded (what [`crate::run`] and
/// the lambda-mesh extension report).
pub const INVALID_EVENT_ERROR_TYPE: &str = "LambdaMesh.InvalidEvent";
