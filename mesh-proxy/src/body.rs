//! The response body every listener answers with: a whole buffer, or chunks streamed as they
//! arrive, whose error aborts the response (no terminating chunk on HTTP/1.1, RST_STREAM on h2).

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};

/// The error type of a body: why a streamed response was aborted.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// No body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body of chunks as they arrive; an `Err` aborts the response.
pub fn streaming<S>(chunks: S) -> Body
where
    S: futures_util::Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
{
    use futures_util::StreamExt;
    StreamBody::new(chunks.map(|chunk| chunk.map(hyper::body::Frame::data))).boxed_unsync()
}
