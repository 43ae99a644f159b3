//! Stage 6, respond: the function's answer as the caller's response — a decoded buffered
//! result, a 202 for `Event`, or a stream whose chunks are passed on as they arrive.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{self, HeaderValue};
use http::Response;
use lambda_mesh_adapter::{
    decode_result, strip_hop_by_hop, PayloadFormat, StreamPreludeDecoder,
    HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE,
};
use tokio::time::Instant;

use super::invoke::Answer;
use super::{AWS_REQUEST_ID_HEADER, EXECUTED_VERSION_HEADER};
use crate::body::{self, Body, BoxError};
use crate::error::ProxyError;
use crate::invoker::{ChunkStream, Invoked, StreamFailure, Streamed, Target};
use crate::metrics::UpstreamMetrics;

/// What answering needs to know of the upstream.
pub(super) struct Answering<'a> {
    /// `destination_name`, for logs.
    pub upstream: &'a str,
    /// The function and invocation mode.
    pub target: &'a Target,
    /// How results are decoded.
    pub format: PayloadFormat,
    /// The upstream's `timeout`, also the longest pause between streamed chunks.
    pub timeout: Duration,
    /// When the timeout runs out for this request.
    pub deadline: Instant,
    /// Counted into.
    pub metrics: &'a Arc<UpstreamMetrics>,
}

/// The caller's response (`head_only` for `HEAD`: the head without the body).
pub(super) async fn respond(
    answering: &Answering<'_>,
    answer: Answer,
    head_only: bool,
) -> Result<Response<Body>, ProxyError> {
    match answer {
        Answer::Buffered(invoked) => buffered(invoked, answering, head_only),
        Answer::Streamed(stream) => streamed(stream, answering).await,
    }
}

/// A buffered result (sync) or the 202 of an `Event` invoke.
fn buffered(
    invoked: Invoked,
    answering: &Answering<'_>,
    head_only: bool,
) -> Result<Response<Body>, ProxyError> {
    let function = &answering.target.function;
    if let Some(kind) = &invoked.function_error {
        return Err(ProxyError::function_error(function, kind, &invoked.payload));
    }
    if answering.target.mode.is_asynchronous() {
        let request_id = invoked.request_id.clone().unwrap_or_default();
        let body = Bytes::from(serde_json::json!({ "requestId": request_id }).to_string());
        let mut response = Response::builder()
            .status(http::StatusCode::ACCEPTED)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len());
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response = response.header(AWS_REQUEST_ID_HEADER, value);
        }
        return response
            .body(body::full(body))
            .map_err(|e| ProxyError::InvalidResult {
                function: function.clone(),
                reason: e.to_string(),
            });
    }
    let decoded = decode_result(invoked.payload, answering.format).map_err(|e| {
        ProxyError::InvalidResult {
            function: function.clone(),
            reason: e.to_string(),
        }
    })?;
    let (mut parts, bytes) = decoded.into_parts();
    final_status(parts.status, function)?;
    strip_hop_by_hop(&mut parts.headers);
    set_executed_version(&mut parts.headers, invoked.executed_version.as_deref());
    let body = if head_only {
        body::empty()
    } else {
        body::full(bytes)
    };
    Ok(Response::from_parts(parts, body))
}

/// A streamed result: the prelude (for HTTP integration responses) is awaited before the
/// deadline, and the head is held until the first body byte; after that, chunks go to the caller
/// as they arrive, at most the upstream's `timeout` apart.
async fn streamed(
    streamed: Streamed,
    answering: &Answering<'_>,
) -> Result<Response<Body>, ProxyError> {
    let function = &answering.target.function;
    let (deadline, idle) = (answering.deadline, answering.timeout);
    let mut chunks = streamed.chunks;
    let integration = streamed.content_type.as_deref().is_some_and(|ct| {
        ct.trim()
            .eq_ignore_ascii_case(HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE)
    });
    let (mut parts, first) = if integration {
        let prelude = tokio::time::timeout_at(deadline, read_prelude(&mut chunks, function)).await;
        let (parts, first) = prelude.map_err(|_| ProxyError::Timeout {
            function: function.clone(),
            timeout: answering.timeout,
        })??;
        final_status(parts.status, function)?;
        (parts, first)
    } else {
        let mut response = Response::new(());
        if let Some(value) = streamed
            .content_type
            .as_deref()
            .and_then(|ct| HeaderValue::from_str(ct).ok())
        {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        (response.into_parts().0, Bytes::new())
    };
    // No status has been sent yet: the head waits for the first body byte (or the end), so a
    // failure or a timeout before it is answered honestly (502 / 504 with the JSON body) instead
    // of a 200 with an aborted body. Without a prelude the whole wait is bounded by the deadline;
    // after one, as between chunks, by the upstream's `timeout`.
    let first = if first.is_empty() {
        let until = if integration {
            Instant::now() + idle
        } else {
            deadline
        };
        match first_bytes(&mut chunks, until, answering).await? {
            Some(first) => first,
            None => {
                strip_hop_by_hop(&mut parts.headers);
                parts.headers.remove(header::TRANSFER_ENCODING);
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
                set_executed_version(&mut parts.headers, streamed.executed_version.as_deref());
                return Ok(Response::from_parts(parts, body::empty()));
            }
        }
    } else {
        first
    };
    strip_hop_by_hop(&mut parts.headers);
    // Chunks are passed on as they come: the length is not known up front.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    set_executed_version(&mut parts.headers, streamed.executed_version.as_deref());
    let metrics = answering.metrics.clone();
    let name = answering.upstream.to_owned();
    let head = futures_util::stream::iter((!first.is_empty()).then_some(Ok(first)));
    let rest = futures_util::stream::unfold(Some(chunks), move |state| {
        let metrics = metrics.clone();
        let name = name.clone();
        async move {
            let mut chunks = state?;
            let failure = match tokio::time::timeout(idle, chunks.next()).await {
                Ok(None) => return None,
                Ok(Some(Ok(chunk))) => return Some((Ok::<Bytes, BoxError>(chunk), Some(chunks))),
                Ok(Some(Err(failure))) => failure,
                Err(_) => StreamFailure {
                    code: "Timeout".into(),
                    details: format!("no chunk for {}s", idle.as_secs_f64()),
                },
            };
            metrics.stream_abort();
            metrics.function_error();
            tracing::warn!(upstream = %name, error = failure.to_string().as_str(), "aborting streamed response");
            Some((Err(BoxError::from(failure)), None))
        }
    });
    Ok(Response::from_parts(
        parts,
        body::streaming(head.chain(rest)),
    ))
}

/// A function's status must be a final one HTTP can carry: 200–599. A 1xx would be taken by the
/// caller as an interim answer (`101` as a protocol switch that never happens) and anything from
/// 600 up has no meaning (hyper writes `999` as it is); both are the function's fault.
fn final_status(status: http::StatusCode, function: &str) -> Result<(), ProxyError> {
    let code = status.as_u16();
    let reason = if status.is_informational() {
        format!("status {code} is informational (1xx), not a final response")
    } else if code > 599 {
        format!("status {code} is outside 100–599")
    } else {
        return Ok(());
    };
    Err(ProxyError::InvalidResult {
        function: function.to_owned(),
        reason,
    })
}

/// Chunks until the HTTP integration prelude is complete: the response head and the first body bytes.
async fn read_prelude(
    chunks: &mut ChunkStream,
    function: &str,
) -> Result<(http::response::Parts, Bytes), ProxyError> {
    let mut decoder = StreamPreludeDecoder::new();
    let invalid = |reason: String| ProxyError::InvalidResult {
        function: function.to_owned(),
        reason,
    };
    loop {
        match chunks.next().await {
            Some(Ok(chunk)) => {
                if let Some(done) = decoder.push(&chunk).map_err(|e| invalid(e.to_string()))? {
                    return Ok(done);
                }
            }
            Some(Err(failure)) => return Err(stream_failure(function, &failure)),
            None => {
                return Err(invalid(
                    "the stream ended before the response prelude".into(),
                ))
            }
        }
    }
}

/// The first non-empty chunk before `until`, or `None` when the stream ended without one.
async fn first_bytes(
    chunks: &mut ChunkStream,
    until: Instant,
    answering: &Answering<'_>,
) -> Result<Option<Bytes>, ProxyError> {
    let function = &answering.target.function;
    loop {
        let next = tokio::time::timeout_at(until, chunks.next())
            .await
            .map_err(|_| ProxyError::Timeout {
                function: function.clone(),
                timeout: answering.timeout,
            })?;
        match next {
            Some(Ok(chunk)) if chunk.is_empty() => continue,
            Some(Ok(chunk)) => return Ok(Some(chunk)),
            Some(Err(failure)) => return Err(stream_failure(function, &failure)),
            None => return Ok(None),
        }
    }
}

/// A stream's failure before any body byte went out, as the function error it is. The local
/// invoker's details are the function's error JSON; Lambda's are a message beside a code.
fn stream_failure(function: &str, failure: &StreamFailure) -> ProxyError {
    let is_error_json = serde_json::from_str::<serde_json::Value>(&failure.details)
        .is_ok_and(|v| v.get("errorType").is_some() || v.get("errorMessage").is_some());
    let payload = if is_error_json {
        failure.details.clone()
    } else {
        serde_json::json!({ "errorType": failure.code, "errorMessage": failure.details })
            .to_string()
    };
    ProxyError::function_error(function, "Unhandled", payload.as_bytes())
}

fn set_executed_version(headers: &mut http::HeaderMap, version: Option<&str>) {
    if let Some(value) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(EXECUTED_VERSION_HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_statuses_up_to_599_pass() {
        for code in [200u16, 204, 304, 404, 599] {
            assert!(final_status(http::StatusCode::from_u16(code).unwrap(), "f").is_ok());
        }
        for code in [100u16, 101, 103, 600, 999] {
            let error = final_status(http::StatusCode::from_u16(code).unwrap(), "f").unwrap_err();
            assert_eq!(error.kind(), "invalid_function_result");
            assert!(error.to_string().contains(&code.to_string()), "{error}");
        }
    }
}
