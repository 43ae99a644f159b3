//! The codec both ends of lambda-mesh share: Lambda events ⇄ `http::Request`, `http::Response` ⇄
//! function results, and `run(service)` for Rust functions.
//!
//! Function side: [`decode_event`] turns any event a function meets into an `http::Request` plus the
//! [`EventShape`] it came in, and [`encode_response`] answers in that shape. Mesh side:
//! [`encode_request`] builds the event mesh-proxy sends and [`decode_result`] turns the function's
//! result back into an `http::Response`. [`run`] serves a tower service on `lambda_runtime`.
//!
//! ```
//! use lambda_mesh_adapter::*;
//!
//! // Mesh side: the event to send.
//! let request = http::Request::builder()
//!     .method("POST")
//!     .uri("/orders?id=1")
//!     .header("content-type", "application/json")
//!     .body(Bytes::from_static(b"{\"qty\":3}"))?;
//! let event = encode_request(&request, PayloadFormat::V2, &RequestMeta::default())?;
//!
//! // Function side: decode it, answer in its shape.
//! let decoded = decode_event(&event, &DecodeOptions::new())?;
//! assert_eq!(decoded.request.uri(), "/orders?id=1");
//! let response = http::Response::builder().status(201).body(Bytes::from_static(b"ok"))?;
//! let result = encode_response(response, &decoded.shape)?;
//!
//! // Mesh side: the response for the caller.
//! let response = decode_result(result, PayloadFormat::V2)?;
//! assert_eq!(response.status(), 201);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body;
mod detect;
mod error;
mod event;
mod headers;
mod hop;
mod json;
mod limits;
mod options;
mod request;
mod response;
mod result;
#[cfg(feature = "runtime")]
mod runtime;
mod stream;
mod text;
mod uri;

pub use body::{body_is_binary, body_is_text, EventBody};
pub use bytes::Bytes;
pub use error::{DecodeError, EncodeError, INVALID_EVENT_ERROR_TYPE};
pub use event::{decode_event, decode_event_deferred, DecodedEvent, DeferredEvent};
pub use hop::strip_hop_by_hop;
#[doc(hidden)] // For the JSON parser's fuzz target (fuzz/) and its regression tests only.
pub use json::check_json_parsers;
pub use limits::{MAX_ASYNC_REQUEST_BYTES, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES};
pub use options::{
    DecodeOptions, EventShape, PayloadFormat, RequestMeta, DEFAULT_PASS_THROUGH_PATH,
};
pub use request::encode_request;
pub use response::{encode_response, ResultWriter};
pub use result::decode_result;
#[cfg(feature = "runtime")]
pub use runtime::{run, Adapter, RequestBody, RequestContext};
pub use stream::{
    encode_stream_prelude, StreamPreludeDecoder, HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE,
    MAX_STREAM_PRELUDE_BYTES,
};
pub use text::{error_chain, truncate_utf8};
