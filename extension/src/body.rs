//! The request body the extension sends: a whole buffer, or frames from a channel (streamed
//! responses, which may end with trailers).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// A body that is either complete or fed frame by frame through a channel.
#[derive(Debug)]
pub enum OutBody {
    /// The whole body (taken when sent).
    Full(Option<Bytes>),
    /// Frames sent through [`OutBody::channel`]'s sender; the body ends when the sender is dropped.
    Channel(mpsc::Receiver<Frame<Bytes>>),
}

impl OutBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        OutBody::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// An empty body.
    pub fn empty() -> Self {
        OutBody::Full(None)
    }

    /// A streamed body and the sender that feeds it.
    pub fn channel(capacity: usize) -> (mpsc::Sender<Frame<Bytes>>, Self) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, OutBody::Channel(rx))
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
            OutBody::Channel(rx) => rx.poll_recv(cx).map(|frame| frame.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, OutBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            OutBody::Full(None) => SizeHint::with_exact(0),
            OutBody::Channel(_) => SizeHint::default(),
        }
    }
}
