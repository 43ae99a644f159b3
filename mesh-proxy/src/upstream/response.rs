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
/// deadline; after that, chunks go to the caller as they arrive, at most the upstream's `timeout`
/// apart.
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
        prelude.map_err(|_| ProxyError::Timeout {
            function: function.clone(),
            timeout: answering.timeout,
        })??
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
            tracing::warn!(upstream = %name, error = %failure, "aborting streamed response");
            Some((Err(BoxError::from(failure)), None))
        }
    });
    Ok(Response::from_parts(
        parts,
        body::streaming(head.chain(rest)),
    ))
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
            Some(Err(failure)) => {
                return Err(ProxyError::function_error(
                    function,
                    "Unhandled",
                    failure.details.as_bytes(),
                ))
            }
            None => {
                return Err(invalid(
                    "the stream ended before the response prelude".into(),
                ))
            }
        }
    }
}

fn set_executed_version(headers: &mut http::HeaderMap, version: Option<&str>) {
    if let Some(value) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(EXECUTED_VERSION_HEADER, value);
    }
}
