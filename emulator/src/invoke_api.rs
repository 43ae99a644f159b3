//! The Invoke API over HTTP: the AWS wire protocol aws-sdk-lambda speaks.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Frame, Incoming};

use crate::emulator::Emulator;
use crate::event_stream;
use crate::http_util::{full, header, Body};
use crate::invoke::{
    EmulatorError, InvocationType, InvokeError, InvokeRequest, InvokeResponse, StreamError,
    StreamingInvoke, MAX_SYNC_REQUEST_BYTES,
};

const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
const INVOKE_SUFFIX: &str = "/invocations";
const STREAM_PREFIX: &str = "/2021-11-15/functions/";
const STREAM_SUFFIX: &str = "/response-streaming-invocations";
/// What Lambda streams when the function sets no `Content-Type`.
const DEFAULT_STREAM_CONTENT_TYPE: &str = "application/octet-stream";

impl Emulator {
    /// Serve the Invoke API (the AWS wire protocol aws-sdk-lambda speaks) on this listener until shutdown.
    pub async fn serve_invoke_api(
        &self,
        listener: tokio::net::TcpListener,
    ) -> Result<(), EmulatorError> {
        let emulator = self.clone();
        crate::http_util::serve(listener, self.stopping(), move |request| {
            handle(emulator.clone(), request)
        })
        .await;
        Ok(())
    }
}

/// Handle one Invoke API request; every error becomes AWS's JSON error here and only here.
async fn handle(emulator: Emulator, request: http::Request<Incoming>) -> http::Response<Body> {
    match dispatch(emulator, request).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

async fn dispatch(
    emulator: Emulator,
    request: http::Request<Incoming>,
) -> Result<http::Response<Body>, InvokeError> {
    let path = request.uri().path().to_owned();
    let (function, streaming) = if let Some(name) = between(&path, INVOKE_PREFIX, INVOKE_SUFFIX) {
        (name, false)
    } else if let Some(name) = between(&path, STREAM_PREFIX, STREAM_SUFFIX) {
        (name, true)
    } else {
        return Err(InvokeError::ResourceNotFound {
            message: format!("Unknown operation: {} {path}", request.method()),
        });
    };
    if request.method() != http::Method::POST {
        return Err(InvokeError::InvalidParameterValue {
            message: format!("Method {} is not allowed", request.method()),
        });
    }
    let function = percent_encoding::percent_decode_str(function)
        .decode_utf8()
        .map_err(|_| InvokeError::InvalidParameterValue {
            message: "Function name is not valid UTF-8".into(),
        })?
        .into_owned();
    let qualifier = qualifier(request.uri());
    let (parts, body) = request.into_parts();
    let invocation_type = match header(&parts, "x-amz-invocation-type") {
        None => InvocationType::RequestResponse,
        Some(value) => {
            InvocationType::parse(value).ok_or_else(|| InvokeError::InvalidParameterValue {
                message: format!("Unsupported invocation type {value}"),
            })?
        }
    };
    let log_tail = header(&parts, "x-amz-log-type") == Some("Tail");
    let client_context = header(&parts, "x-amz-client-context").map(str::to_owned);
    let trace_id = header(&parts, "x-amzn-trace-id").map(str::to_owned);
    let payload = Limited::new(body, MAX_SYNC_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|_| InvokeError::RequestTooLarge {
            message: format!("Request must be smaller than {MAX_SYNC_REQUEST_BYTES} bytes for the InvokeFunction operation"),
        })?
        .to_bytes();
    let request = InvokeRequest {
        function,
        qualifier,
        invocation_type,
        payload,
        client_context,
        log_tail,
        trace_id,
    };
    if streaming {
        return Ok(stream_response(emulator.invoke_stream(request).await?));
    }
    buffered_response(emulator.invoke(request).await?)
}

/// The `Qualifier` query parameter, percent-decoded.
fn qualifier(uri: &http::Uri) -> Option<String> {
    uri.query().and_then(|q| {
        q.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == "Qualifier").then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    })
}

/// A buffered Invoke's answer: status, AWS's headers, the payload.
fn buffered_response(response: InvokeResponse) -> Result<http::Response<Body>, InvokeError> {
    let mut builder = http::Response::builder()
        .status(response.status)
        .header("x-amzn-requestid", &response.request_id)
        .header("x-amz-executed-version", &response.executed_version);
    if response.status == 200 {
        builder = builder.header("content-type", "application/json");
    }
    if let Some(error) = &response.function_error {
        builder = builder.header("x-amz-function-error", error);
    }
    if let Some(log) = &response.log_result {
        builder = builder.header("x-amz-log-result", log);
    }
    builder
        .body(full(response.payload))
        .map_err(|e| InvokeError::ServiceException {
            message: e.to_string(),
        })
}

fn between<'a>(path: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix)?
        .strip_suffix(suffix)
        .filter(|s| !s.is_empty())
}

/// The event-stream answer: a `PayloadChunk` per chunk as it comes, then `InvokeComplete`.
fn stream_response(streaming: StreamingInvoke) -> http::Response<Body> {
    let StreamingInvoke {
        request_id,
        executed_version,
        content_type,
        body,
        log_result,
    } = streaming;
    struct State {
        body: tokio::sync::mpsc::Receiver<Result<Bytes, StreamError>>,
        log_result: Option<tokio::sync::oneshot::Receiver<String>>,
        done: bool,
    }
    let state = State {
        body,
        log_result,
        done: false,
    };
    let frames = futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let frame = match state.body.recv().await {
            Some(Ok(chunk)) => event_stream::payload_chunk(&chunk),
            other => {
                state.done = true;
                let log = match state.log_result.take() {
                    Some(rx) => rx.await.ok(),
                    None => None,
                };
                let error = match &other {
                    Some(Err(e)) => Some((e.error_code.as_str(), e.error_details.as_str())),
                    _ => None,
                };
                event_stream::invoke_complete(error, log.as_deref())
            }
        };
        Some((Ok::<_, Infallible>(Frame::data(frame)), state))
    });
    let content_type = content_type.unwrap_or_else(|| DEFAULT_STREAM_CONTENT_TYPE.to_owned());
    http::Response::builder()
        .status(200)
        .header("x-amzn-requestid", &request_id)
        .header("x-amz-executed-version", &executed_version)
        .header("content-type", &content_type)
        .body(StreamBody::new(frames).boxed_unsync())
        .unwrap_or_else(|_| {
            error_response(&InvokeError::ServiceException {
                message: "bad stream headers".into(),
            })
        })
}

/// AWS's error answer: status, `x-amzn-ErrorType`, JSON body; 429 also `Retry-After`.
pub(crate) fn error_response(error: &InvokeError) -> http::Response<Body> {
    let mut response = crate::http_util::json(error.status(), &error.body());
    let headers = response.headers_mut();
    headers.insert(
        "x-amzn-errortype",
        http::HeaderValue::from_static(error.error_type()),
    );
    if let Ok(id) = http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    if let InvokeError::TooManyRequests {
        retry_after_seconds,
        ..
    } = error
    {
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(*retry_after_seconds),
        );
    }
    response
}
