//! Every failure a caller can see, and the one place it becomes an HTTP response with a JSON body
//! `{"error": "<kind>", "message": "..."}`.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{self, Body};

/// Header naming a function error (`Unhandled`) on 502 answers.
pub const FUNCTION_ERROR_HEADER: &str = "x-lambda-function-error";
/// Longest function error message passed on to the caller.
const MAX_FUNCTION_MESSAGE: usize = 512;

/// Why a request did not get the function's answer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The function ran and failed (`X-Amz-Function-Error`).
    #[error("function `{function}` failed: {detail}")]
    FunctionError {
        /// The function.
        function: String,
        /// `X-Amz-Function-Error`, usually `Unhandled`.
        kind: String,
        /// The function's `errorType: errorMessage`, shortened.
        detail: String,
    },
    /// Lambda throttled the call and retries did not help.
    #[error("function `{function}` is throttled")]
    Throttled {
        /// The function.
        function: String,
        /// Lambda's `retryAfterSeconds`.
        retry_after: Option<u64>,
    },
    /// No such function or qualifier.
    #[error("function `{function}` not found: {message}")]
    FunctionNotFound {
        /// The function.
        function: String,
        /// Lambda's message.
        message: String,
    },
    /// The credentials may not invoke the function.
    #[error("access denied invoking function `{function}`: {message}")]
    AccessDenied {
        /// The function.
        function: String,
        /// Lambda's message.
        message: String,
    },
    /// The request (or the event it becomes) is over the Invoke limit.
    #[error("request body over the {limit}-byte invoke limit")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The upstream's timeout passed.
    #[error("function `{function}` did not answer within {}s", timeout.as_secs_f64())]
    Timeout {
        /// The function.
        function: String,
        /// The upstream's timeout.
        timeout: Duration,
    },
    /// The caller did not send the whole request body within the upstream's `timeout`: the
    /// caller's time ran out, not the function's (no invoke was made).
    #[error("the request body did not arrive within {}s", timeout.as_secs_f64())]
    RequestTimeout {
        /// The upstream's timeout.
        timeout: Duration,
    },
    /// `max_concurrency` requests are already in flight.
    #[error("upstream `{upstream}` has {limit} requests in flight")]
    Overloaded {
        /// The upstream.
        upstream: String,
        /// Its `max_concurrency`.
        limit: usize,
    },
    /// The function's result is not a response this format can decode.
    #[error("function `{function}` returned an invalid result: {reason}")]
    InvalidResult {
        /// The function.
        function: String,
        /// What is wrong.
        reason: String,
    },
    /// Lambda refused or failed the call for another reason.
    #[error("invoking function `{function}` failed: {message}")]
    Lambda {
        /// The function.
        function: String,
        /// What Lambda said (an error code and message; never credentials).
        message: String,
    },
    /// The request cannot become an event (e.g. passthrough needs a JSON body).
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// Too many or too large request headers.
    #[error("request headers over the limit of {count} headers or {bytes} bytes")]
    HeadersTooLarge {
        /// Header count limit.
        count: usize,
        /// Header bytes limit.
        bytes: usize,
    },
    /// The gateway's intentions (or its default policy) refuse this caller or request.
    #[error("{caller} -> {destination} denied by {by}")]
    IntentionDenied {
        /// The caller's SPIFFE ID (from its verified certificate).
        caller: String,
        /// The linked service's SPIFFE ID.
        destination: String,
        /// The intention, permission or default policy that decided.
        by: String,
    },
    /// The request's `Host` names another linked service than the connection's SNI.
    #[error("Host `{host}` names linked service `{named}`, but this connection is for `{service}` (SNI)")]
    MisdirectedRequest {
        /// The `Host`, without its port, lowercase.
        host: String,
        /// The linked service the `Host` names.
        named: String,
        /// The linked service the connection's SNI chose.
        service: String,
    },
    /// The connection's linked service is no longer served by the gateway (a reload unlinked it).
    #[error("service `{service}` is no longer linked to this gateway")]
    NotLinked {
        /// The service the connection's SNI chose.
        service: String,
    },
    /// `Upgrade` and `CONNECT` cannot become invocations.
    #[error("{what} is not supported")]
    NotImplemented {
        /// What was asked for.
        what: &'static str,
    },
}

impl ProxyError {
    /// The `error` field of the body.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FunctionError { .. } => "function_error",
            Self::Throttled { .. } => "throttled",
            Self::FunctionNotFound { .. } => "function_not_found",
            Self::AccessDenied { .. } => "access_denied",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Timeout { .. } => "timeout",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::Overloaded { .. } => "overloaded",
            Self::InvalidResult { .. } => "invalid_function_result",
            Self::Lambda { .. } => "lambda_error",
            Self::BadRequest { .. } => "bad_request",
            Self::HeadersTooLarge { .. } => "headers_too_large",
            Self::NotImplemented { .. } => "not_implemented",
            Self::IntentionDenied { .. } => "intention_denied",
            Self::MisdirectedRequest { .. } | Self::NotLinked { .. } => "misdirected_request",
        }
    }

    /// The status the caller gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::FunctionError { .. }
            | Self::FunctionNotFound { .. }
            | Self::AccessDenied { .. }
            | Self::InvalidResult { .. }
            | Self::Lambda { .. } => StatusCode::BAD_GATEWAY,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            Self::IntentionDenied { .. } => StatusCode::FORBIDDEN,
            Self::MisdirectedRequest { .. } | Self::NotLinked { .. } => {
                StatusCode::MISDIRECTED_REQUEST
            }
        }
    }

    /// A function error from the function's error payload (`{"errorType", "errorMessage"}`).
    pub fn function_error(function: &str, kind: &str, payload: &[u8]) -> ProxyError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(payload).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let detail = match (field("errorType"), field("errorMessage")) {
            (Some(t), Some(m)) => format!("{t}: {m}"),
            (Some(t), None) => t,
            (None, Some(m)) => m,
            (None, None) => String::from_utf8_lossy(payload).into_owned(),
        };
        ProxyError::FunctionError {
            function: function.to_owned(),
            kind: kind.to_owned(),
            detail: shorten(detail),
        }
    }

    /// The HTTP response: status, JSON body, and `Retry-After` / `x-lambda-function-error`.
    pub fn into_response(&self) -> Response<Body> {
        let body = serde_json::json!({ "error": self.kind(), "message": self.to_string() });
        let bytes = Bytes::from(body.to_string());
        let mut response = Response::new(body::full(bytes.clone()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        match self {
            Self::Throttled { retry_after, .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.unwrap_or(1)),
                );
            }
            Self::Overloaded { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            Self::RequestTimeout { .. } => {
                // The rest of the body may still be on its way: this connection is done.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::FunctionError { kind, .. } => {
                let value = HeaderValue::from_str(kind)
                    .unwrap_or_else(|_| HeaderValue::from_static("Unhandled"));
                headers.insert(FUNCTION_ERROR_HEADER, value);
            }
            _ => {}
        }
        response
    }
}

fn shorten(text: String) -> String {
    if text.len() > MAX_FUNCTION_MESSAGE {
        return format!(
            "{}…",
            lambda_mesh_adapter::truncate_utf8(&text, MAX_FUNCTION_MESSAGE)
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn body_json(response: Response<Body>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn each_error_has_its_status_kind_and_headers() {
        let throttled = ProxyError::Throttled {
            function: "f".into(),
            retry_after: Some(7),
        };
        let response = throttled.into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        let json = body_json(response).await;
        assert_eq!(json["error"], "throttled");
        assert!(json["message"].as_str().unwrap().contains("`f`"));

        let failed = ProxyError::function_error(
            "f",
            "Unhandled",
            br#"{"errorType":"ValueError","errorMessage":"boom"}"#,
        );
        let response = failed.into_response();
        assert_eq!(response.status(), 502);
        assert_eq!(response.headers()[FUNCTION_ERROR_HEADER], "Unhandled");
        assert!(body_json(response).await["message"]
            .as_str()
            .unwrap()
            .contains("ValueError: boom"));

        let busy = ProxyError::Overloaded {
            upstream: "u".into(),
            limit: 1,
        }
        .into_response();
        assert_eq!(busy.status(), 503);
        assert_eq!(busy.headers()["retry-after"], "1");
        let big = ProxyError::PayloadTooLarge { limit: 10 }.into_response();
        assert_eq!(big.status(), 413);
        assert_eq!(big.headers()["content-type"], "application/json");
    }

    #[test]
    fn long_function_messages_are_cut() {
        let payload = format!(r#"{{"errorMessage":"{}"}}"#, "é".repeat(1000));
        let ProxyError::FunctionError { detail, .. } =
            ProxyError::function_error("f", "Unhandled", payload.as_bytes())
        else {
            panic!("not a function error");
        };
        assert!(detail.len() <= MAX_FUNCTION_MESSAGE + 3);
    }
}
