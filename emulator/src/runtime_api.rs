//! The Runtime API (2018-06-01) of one execution environment.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::mpsc;

use crate::api::RUNTIME_PREFIX;
use crate::failure::error_payload;
use crate::http_util::{accepted, api_error, header, Body};
use crate::invoke::{StreamError, MAX_RESPONSE_BYTES, MAX_STREAM_RESPONSE_BYTES};
use crate::sandbox::{RuntimeResult, Sandbox};
/// Chunks of a streamed response in flight between the runtime and the caller.
const STREAM_CHANNEL: usize = 16;

/// A Runtime API request (its path under [`RUNTIME_PREFIX`]).
pub(crate) async fn route(
    sandbox: &Sandbox,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let path = request.uri().path().to_owned();
    let rest = path.strip_prefix(RUNTIME_PREFIX).unwrap_or_default();
    match (request.method().clone(), rest) {
        (http::Method::GET, "invocation/next") => next(sandbox).await,
        (http::Method::POST, "init/error") => init_error(sandbox, request).await,
        (http::Method::POST, rest) => match rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((id, "response")) => response(sandbox, id, request).await,
            Some((id, "error")) => error(sandbox, id, request).await,
            _ => not_found(),
        },
        _ => not_found(),
    }
}

fn not_found() -> http::Response<Body> {
    api_error(404, "InvalidRequest", "Not found")
}

async fn next(sandbox: &Sandbox) -> http::Response<Body> {
    // As on Lambda, init waits for every started extension process to register: a `next` that
    // comes first (aws-lambda-web-adapter's can) is held until then, registration still open.
    let open = sandbox
        .status
        .subscribe()
        .wait_for(|s| s.registration_done || s.closed)
        .await
        .map(|s| !s.closed)
        .unwrap_or(false);
    if !open {
        return api_error(
            500,
            "Runtime.ShuttingDown",
            "The environment is shutting down",
        );
    }
    sandbox.status.send_modify(|s| {
        s.runtime_waiting = true;
        s.runtime_started = true;
    });
    let invocation = sandbox.invocations.lock().await.recv().await;
    sandbox.status.send_modify(|s| s.runtime_waiting = false);
    let Some(invocation) = invocation else {
        return api_error(
            500,
            "Runtime.ShuttingDown",
            "The environment is shutting down",
        );
    };
    let mut builder = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &invocation.request_id)
        .header(
            "lambda-runtime-deadline-ms",
            invocation.deadline_ms.to_string(),
        )
        .header(
            "lambda-runtime-invoked-function-arn",
            &invocation.invoked_arn,
        )
        .header("lambda-runtime-trace-id", &invocation.trace_id);
    if let Some(context) = &invocation.client_context {
        builder = builder.header("lambda-runtime-client-context", context.as_ref());
    }
    builder
        .body(crate::http_util::full(invocation.payload))
        .unwrap_or_else(|_| api_error(500, "ServiceException", "bad invocation headers"))
}

/// Take the result sender of invocation `id`, or Lambda's answer for a wrong or stale id.
fn claim(
    sandbox: &Sandbox,
    id: &str,
) -> Result<tokio::sync::oneshot::Sender<RuntimeResult>, Box<http::Response<Body>>> {
    let mut current = sandbox.current();
    match current.as_mut() {
        Some(c) if c.request_id == id => c.result.take().ok_or_else(|| {
            Box::new(api_error(
                403,
                "InvalidStateTransition",
                "State transition from RuntimeResponseSent to InvocationResponse failed for runtime. Error: State transition is not allowed",
            ))
        }),
        _ => Err(Box::new(api_error(400, "InvalidRequestID", "Invalid request ID"))),
    }
}

fn finish(sandbox: &Sandbox) {
    if let Some(current) = sandbox.current().as_mut() {
        current.stream = None;
        if let Some(done) = current.done.take() {
            let _ = done.send(());
        }
    }
}

async fn response(
    sandbox: &Sandbox,
    id: &str,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let result = match claim(sandbox, id) {
        Ok(result) => result,
        Err(answer) => return *answer,
    };
    let (parts, body) = request.into_parts();
    let streaming = header(&parts, "lambda-runtime-function-response-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("streaming"));
    if streaming {
        return stream_response(sandbox, &parts, body, result).await;
    }
    let answer = match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
        Ok(collected) => {
            let _ = result.send(RuntimeResult::Buffered(collected.to_bytes()));
            // The caller's answer goes out before the runtime's `202`: on this current-thread
            // runtime, yielding lets the waiting Invoke task write it first.
            tokio::task::yield_now().await;
            accepted()
        }
        Err(_) => {
            let payload = serde_json::json!({
                "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                "errorType": "Function.ResponseSizeTooLarge",
            });
            let _ = result.send(RuntimeResult::Error(Bytes::from(payload.to_string())));
            api_error(
                413,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
            )
        }
    };
    finish(sandbox);
    answer
}

async fn stream_response(
    sandbox: &Sandbox,
    parts: &http::request::Parts,
    mut body: Incoming,
    result: tokio::sync::oneshot::Sender<RuntimeResult>,
) -> http::Response<Body> {
    let (tx, rx) = mpsc::channel(STREAM_CHANNEL);
    if let Some(current) = sandbox.current().as_mut() {
        current.stream = Some(tx.clone());
    }
    let content_type = header(parts, "content-type").map(str::to_owned);
    let _ = result.send(RuntimeResult::Stream {
        content_type,
        body: rx,
    });
    let mut total = 0usize;
    let mut answer = accepted();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                // A controller that took the stream (timeout) has already ended it with its error.
                let taken = sandbox
                    .current()
                    .as_ref()
                    .is_none_or(|c| c.stream.is_none());
                if taken {
                    break;
                }
                let _ = tx
                    .send(Err(StreamError {
                        error_code: "Runtime.TruncatedResponse".into(),
                        error_details: format!("the runtime's response stream broke: {e}"),
                    }))
                    .await;
                break;
            }
        };
        match frame.into_data() {
            Ok(data) => {
                total += data.len();
                if total > MAX_STREAM_RESPONSE_BYTES {
                    let _ = tx
                        .send(Err(StreamError {
                            error_code: "Function.ResponseSizeTooLarge".into(),
                            error_details: format!("Response payload size exceeded maximum allowed payload size ({MAX_STREAM_RESPONSE_BYTES} bytes)."),
                        }))
                        .await;
                    answer = api_error(
                        413,
                        "RequestEntityTooLarge",
                        "Exceeded maximum allowed payload size.",
                    );
                    break;
                }
                let _ = tx.send(Ok(data)).await;
            }
            Err(frame) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(error) = trailer_error(trailers) {
                        let _ = tx.send(Err(error)).await;
                    }
                }
            }
        }
    }
    drop(tx);
    finish(sandbox);
    answer
}

/// The error a streaming runtime reports in its trailers.
fn trailer_error(trailers: &http::HeaderMap) -> Option<StreamError> {
    let error_type = trailers
        .get("lambda-runtime-function-error-type")?
        .to_str()
        .ok()?
        .to_owned();
    let details = trailers
        .get("lambda-runtime-function-error-body")
        .and_then(|v| v.to_str().ok())
        .map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .unwrap_or_else(|| b.to_owned())
        })
        .unwrap_or_default();
    Some(StreamError {
        error_code: error_type,
        error_details: details,
    })
}

async fn error(
    sandbox: &Sandbox,
    id: &str,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let result = match claim(sandbox, id) {
        Ok(result) => result,
        Err(answer) => return *answer,
    };
    let (parts, body) = request.into_parts();
    let error_type = header(&parts, "lambda-runtime-function-error-type").map(str::to_owned);
    let body = match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let _ = result.send(RuntimeResult::Error(error_payload(
        error_type.as_deref(),
        &body,
    )));
    finish(sandbox);
    accepted()
}

async fn init_error(sandbox: &Sandbox, request: http::Request<Incoming>) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    let error_type = header(&parts, "lambda-runtime-function-error-type")
        .unwrap_or("Runtime.Unknown")
        .to_owned();
    let body = match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let payload = error_payload(Some(&error_type), &body);
    sandbox
        .status
        .send_modify(|s| s.init_error = Some((error_type, payload)));
    accepted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_error_decodes_base64_body() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(
            "lambda-runtime-function-error-type",
            "Boom".parse().unwrap(),
        );
        trailers.insert(
            "lambda-runtime-function-error-body",
            base64::engine::general_purpose::STANDARD
                .encode("details")
                .parse()
                .unwrap(),
        );
        let e = trailer_error(&trailers).unwrap();
        assert_eq!(e.error_code, "Boom");
        assert_eq!(e.error_details, "details");
    }
}
