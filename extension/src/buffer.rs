//! Reusable body buffers. Large buffers that are freed every invocation go back to the kernel and
//! are faulted in afresh by the next one (BENCHMARKS.md); the extension keeps its two big ones
//! (the event and the service's response) across invocations instead.

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

/// A body could not be read to its end.
#[derive(Debug)]
pub(crate) enum ReadError<E> {
    /// The body failed.
    Body(E),
    /// The body is longer than the limit.
    TooLarge,
}

/// A buffer that is lent out as `Bytes` and taken back once nothing else refers to it.
#[derive(Debug, Default)]
pub(crate) struct Reusable {
    spare: BytesMut,
}

impl Reusable {
    /// Reads `body` to its end (at most `limit` bytes) into the spare buffer and hands it out.
    pub(crate) async fn read<B>(
        &mut self,
        mut body: B,
        limit: usize,
    ) -> Result<Bytes, ReadError<B::Error>>
    where
        B: Body<Data = Bytes> + Unpin,
    {
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        let hint = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
        buf.reserve(hint.min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ReadError::Body)?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(ReadError::TooLarge);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    }

    /// Takes `bytes` back as the spare buffer when nothing else refers to it any more.
    pub(crate) fn give_back(&mut self, bytes: Bytes) {
        if let Ok(mut buf) = bytes.try_into_mut() {
            if buf.capacity() >= self.spare.capacity() {
                buf.clear();
                self.spare = buf;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn buffers_are_reused_once_free() {
        let mut reusable = Reusable::default();
        let first = reusable
            .read(Full::new(Bytes::from(vec![1u8; 4096])), 10_000)
            .await
            .unwrap();
        let address = first.as_ptr();
        reusable.give_back(first);
        let second = reusable
            .read(Full::new(Bytes::from(vec![2u8; 100])), 10_000)
            .await
            .unwrap();
        assert_eq!(second.as_ptr(), address, "the allocation is reused");
        assert_eq!(&second[..], &[2u8; 100][..]);
        // Still shared: not taken back.
        let copy = second.clone();
        reusable.give_back(second);
        let third = reusable
            .read(Full::new(Bytes::from_static(b"x")), 10)
            .await
            .unwrap();
        assert_ne!(third.as_ptr(), copy.as_ptr());
        assert!(matches!(
            reusable
                .read(Full::new(Bytes::from_static(b"too long")), 3)
                .await,
            Err(ReadError::TooLarge)
        ));
    }
}
