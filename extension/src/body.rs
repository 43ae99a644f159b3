//! The request body the extension sends: a whole buffer, an event's body decoded piece by piece
//! as it goes out, or frames from a channel (streamed responses, which may end with trailers).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use lambda_mesh_adapter::EventBody;
use tokio::sync::mpsc;

/// How much of an event's body is decoded at a time: small enough to stay in the CPU cache and
/// below glibc's mmap threshold, large enough for few writes.
pub(crate) const EVENT_CHUNK: usize = 64 * 1024;

/// A body that is either complete or fed frame by frame through a channel.
#[derive(Debug)]
pub enum OutBody {
    /// The whole body (taken when sent).
    Full(Option<Bytes>),
    /// An event's body: base64 is decoded 64 KiB at a time as the connection takes
    /// them, so a large body never exists decoded in one piece (BENCHMARKS.md).
    Event(EventBody),
    /// Frames sent through a channel; the body ends when the sender is dropped.
    Channel(mpsc::Receiver<Frame<Bytes>>),
}

impl OutBody {
    /// A complete body.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        OutBody::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        OutBody::Full(None)
    }

    /// A streamed body and the sender that feeds it.
    pub(crate) fn channel(capacity: usize) -> (mpsc::Sender<Frame<Bytes>>, Self) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, OutBody::Channel(rx))
    }
}

impl From<Bytes> for OutBody {
    fn from(bytes: Bytes) -> Self {
        OutBody::full(bytes)
    }
}

impl From<EventBody> for OutBody {
    fn from(body: EventBody) -> Self {
        OutBody::Event(body)
    }
}

impl http_body::Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            OutBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            OutBody::Event(body) => {
                Poll::Ready(body.next_chunk(EVENT_CHUNK).map(|b| Ok(Frame::data(b))))
            }
            OutBody::Channel(rx) => rx.poll_recv(cx).map(|frame| frame.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Full(bytes) => bytes.is_none(),
            OutBody::Event(body) => body.is_empty(),
            OutBody::Channel(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            OutBody::Full(None) => SizeHint::with_exact(0),
            OutBody::Event(body) => SizeHint::with_exact(body.len() as u64),
            OutBody::Channel(_) => SizeHint::default(),
        }
    }
}
