//! In-process Rust functions: serve any tower `Service<http::Request<RequestBody>>` (an axum
//! `Router`, a hyper service) on `lambda_runtime`. Each event is decoded with [`crate::decode_event`], the
//! service's response is encoded in the event's shape with [`crate::encode_response`].
//!
//! Errors are reported to Lambda as invocation errors: an event that cannot be decoded has
//! errorType [`INVALID_EVENT_ERROR_TYPE`]; a failing service, body or response encoding
//! `LambdaMesh.ServiceError` / `LambdaMesh.InvalidResponse`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use lambda_runtime::{Diagnostic, LambdaEvent, Runtime};
use serde_json::value::RawValue;
use tower::{Service, ServiceExt};

use crate::{decode_event, encode_response, DecodeOptions, EventShape, INVALID_EVENT_ERROR_TYPE};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body type [`run`] hands to the service: the whole body, already in memory.
/// (`Bytes` itself is not an `http_body::Body`; `Full<Bytes>` is, so an axum `Router` or any
/// service generic over its body serves it.)
pub type RequestBody = Full<Bytes>;

const SERVICE_ERROR_TYPE: &str = "LambdaMesh.ServiceError";
const INVALID_RESPONSE_ERROR_TYPE: &str = "LambdaMesh.InvalidResponse";

/// The event's `requestContext`, put into each request's extensions by [`run`] (next to the
/// invocation's `lambda_runtime::Context`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestContext(pub serde_json::Value);

/// Serve `service` on `lambda_runtime` until the runtime stops. Same as
/// `Adapter::new(service).run()`.
pub async fn run<S, B>(service: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Adapter::new(service).run().await
}

/// Builder for serving a service on `lambda_runtime`; see [`run`].
#[derive(Debug, Clone)]
pub struct Adapter<S> {
    service: S,
    options: DecodeOptions,
}

impl<S, B> Adapter<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// An adapter with default [`DecodeOptions`].
    pub fn new(service: S) -> Self {
        Self {
            service,
            options: DecodeOptions::new(),
        }
    }

    /// The path non-HTTP events are `POST`ed to (default `/events`).
    pub fn with_pass_through_path(mut self, path: impl Into<String>) -> Self {
        self.options = self.options.with_pass_through_path(path);
        self
    }

    /// Replace all decode options at once.
    pub fn with_decode_options(mut self, options: DecodeOptions) -> Self {
        self.options = options;
        self
    }

    /// Poll the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`) and serve each event.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        let service = self.service;
        let options = Arc::new(self.options);
        let handler = lambda_runtime::service_fn(move |event: LambdaEvent<Box<RawValue>>| {
            handle(service.clone(), Arc::clone(&options), event)
        });
        Runtime::new(handler).run().await
    }

    /// Handle one event: what [`Adapter::run`] does per invocation, without the Runtime API.
    pub async fn call(
        &self,
        event: &[u8],
        context: lambda_runtime::Context,
    ) -> Result<Bytes, Diagnostic> {
        let service = self.service.clone();
        handle_bytes(service, &self.options, event, context).await
    }
}

fn diagnostic(error_type: &str, message: impl ToString) -> Diagnostic {
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message: message.to_string(),
    }
}

async fn handle<S, B>(
    service: S,
    options: Arc<DecodeOptions>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Box<RawValue>, Diagnostic>
where
    S: Service<Request<RequestBody>, Response = Response<B>> + Send,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let result = handle_bytes(
        service,
        &options,
        event.payload.get().as_bytes(),
        event.context,
    )
    .await?;
    raw_result(result)
}

async fn handle_bytes<S, B>(
    service: S,
    options: &DecodeOptions,
    event: &[u8],
    context: lambda_runtime::Context,
) -> Result<Bytes, Diagnostic>
where
    S: Service<Request<RequestBody>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let decoded =
        decode_event(event, options).map_err(|e| diagnostic(INVALID_EVENT_ERROR_TYPE, e))?;
    let mut request = decoded.request;
    request.extensions_mut().insert(context);
    if let Some(context) = decoded.request_context {
        request.extensions_mut().insert(RequestContext(context));
    }
    let response = service
        .oneshot(request.map(Full::new))
        .await
        .map_err(|e| diagnostic(SERVICE_ERROR_TYPE, e.into()))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| diagnostic(SERVICE_ERROR_TYPE, e.into()))?
        .to_bytes();
    let shape: &EventShape = &decoded.shape;
    encode_response(Response::from_parts(parts, body), shape)
        .map_err(|e| diagnostic(INVALID_RESPONSE_ERROR_TYPE, e))
}

/// The result as raw JSON for `lambda_runtime`. Every shape but pass-through yields JSON; a
/// pass-through body that is not JSON is sent as a JSON string when it is UTF-8.
fn raw_result(result: Bytes) -> Result<Box<RawValue>, Diagnostic> {
    let text = String::from_utf8(result.to_vec()).map_err(|_| {
        diagnostic(
            INVALID_RESPONSE_ERROR_TYPE,
            "pass-through response body is neither JSON nor UTF-8",
        )
    })?;
    match RawValue::from_string(text) {
        Ok(raw) => Ok(raw),
        Err(_) => {
            let text = String::from_utf8_lossy(&result);
            serde_json::value::to_raw_value(&text)
                .map_err(|e| diagnostic(INVALID_RESPONSE_ERROR_TYPE, e))
        }
    }
}
