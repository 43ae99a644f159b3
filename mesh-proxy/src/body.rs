//! The response body every listener answers with: a whole buffer, or chunks streamed as they
//! arrive, whose error aborts the response (no terminating chunk on HTTP/1.1, RST_STREAM on h2);
//! handed to the connection in slices.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// The largest data frame handed to a connection at once (slices of the same buffer, no copy): so
/// that the HTTP server takes no more than a slice ahead of what its client has read, and a body
/// is seen to progress (or not) slice by slice. HTTP/1.1's write buffer and h2's initial
/// flow-control window (64 KiB) take about this much.
pub const BODY_SLICE: usize = 64 * 1024;

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

/// `body` with data frames over [`BODY_SLICE`] handed out in slices.
pub fn sliced(body: Body) -> Body {
    Sliced {
        inner: body,
        rest: Bytes::new(),
    }
    .boxed_unsync()
}

struct Sliced {
    inner: Body,
    /// What is left of a frame larger than a slice.
    rest: Bytes,
}

impl Sliced {
    fn slice(&mut self, mut data: Bytes) -> Frame<Bytes> {
        if data.len() > BODY_SLICE {
            self.rest = data.split_off(BODY_SLICE);
        }
        Frame::data(data)
    }
}

impl HttpBody for Sliced {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if !this.rest.is_empty() {
            let rest = std::mem::take(&mut this.rest);
            return Poll::Ready(Some(Ok(this.slice(rest))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(this.slice(data)))),
                Err(other) => Poll::Ready(Some(Ok(other))),
            },
            poll => poll,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(rest));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_frames_are_handed_out_in_slices_of_the_same_buffer() {
        let data = Bytes::from(vec![7u8; 2 * BODY_SLICE + 10]);
        let mut body = sliced(full(data.clone()));
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
        let mut lengths = Vec::new();
        let mut joined = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.expect("no error").into_data().expect("data");
            lengths.push(chunk.len());
            joined.extend_from_slice(&chunk);
        }
        assert_eq!(lengths, [BODY_SLICE, BODY_SLICE, 10]);
        assert_eq!(joined, data);
        assert!(body.is_end_stream());
    }
}
