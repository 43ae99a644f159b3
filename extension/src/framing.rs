//! Where a service response's body ends (RFC 9112 §6.3), for the cases hyper's client leaves to
//! us, and the body the invocation reads ([`ServiceBody`]), whose failures are already the errors
//! reported to Lambda.
//!
//! hyper reads any response with a `Transfer-Encoding` whose final coding is not `chunked` until
//! the connection closes. That is right for real codings, but `identity` (RFC 2616's no-op coding,
//! which some servers still send beside a `Content-Length`) would then wait for a close a
//! keep-alive service never sends, until the invocation times out. So:
//!
//! | `Transfer-Encoding` | body | connection |
//! |---|---|---|
//! | absent | `Content-Length`, else until close (hyper) | reused |
//! | only `identity` | its `Content-Length` (the header removed), else until close | closed after |
//! | `chunked` last, before it only `identity` | chunked; a `Content-Length` beside it is ignored and removed (§6.3 rule 3) | closed after, if it had one |
//! | anything else (`gzip`, `chunked, gzip`, …) | none: `LambdaMesh.BadServiceResponse` at once | closed |
//!
//! For the last row §6.3 rule 4 frames the body by the connection's close; the extension does not
//! wait for it, because it could not return that body anyway: it is in a transfer coding the
//! extension never offered (its requests carry no `TE`, so only `chunked` is allowed, RFC 9110
//! §10.1.4) and does not decode, and passing it on as content would hand the caller bytes that
//! are not the service's content.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{HeaderMap, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use lambda_mesh_adapter::error_chain;

use crate::error::ForwardError;

/// How a response's body is read, decided from its head by [`frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    /// The body ends after this many bytes, whatever hyper thinks (an `identity` response).
    limit: Option<u64>,
    /// The length the head declared, for the error when the body breaks off.
    declared: Option<u64>,
    /// Whether the connection may carry the next request once the body was read to its end.
    pub(crate) reusable: bool,
}

/// The service's response body, read as its `Framing` says; its errors are the ones reported to
/// Lambda.
#[derive(Debug)]
pub struct ServiceBody {
    inner: Incoming,
    /// Bytes still to come when the extension, not hyper, ends the body.
    remaining: Option<u64>,
    declared: Option<u64>,
}

/// Decides how the body of a response with `status` to a request (a `HEAD` when `head`) is read,
/// and removes the framing headers that do not apply (an `identity`-only `Transfer-Encoding`, a
/// `Content-Length` that `chunked` overrides).
pub(crate) fn frame(
    headers: &mut HeaderMap,
    status: StatusCode,
    head: bool,
) -> Result<Framing, ForwardError> {
    if !headers.contains_key(TRANSFER_ENCODING) {
        return Ok(Framing {
            limit: None,
            declared: content_length(headers)?,
            reusable: true,
        });
    }
    let codings = transfer_codings(headers)?;
    let chunked_last = codings.last().is_some_and(|c| c == "chunked");
    let mut applied = codings.iter().filter(|c| *c != "identity");
    match (applied.next(), applied.next()) {
        (None, _) => {
            headers.remove(TRANSFER_ENCODING);
            let declared = content_length(headers)?;
            // hyper reads these (as for any coding but chunked) until the connection closes, and
            // knows bodiless responses carry none.
            let has_body = !head
                && !status.is_informational()
                && status != StatusCode::NO_CONTENT
                && status != StatusCode::NOT_MODIFIED;
            let limit = declared.filter(|_| has_body);
            Ok(Framing {
                limit,
                declared,
                reusable: limit.is_none(),
            })
        }
        (Some(only), None) if only == "chunked" && chunked_last => {
            // A response with both might be an attempt at response splitting (§6.3 rule 3): the
            // length goes, so it reaches no one, and so does the connection.
            let had_length = headers.remove(CONTENT_LENGTH).is_some();
            if had_length {
                tracing::debug!("service response has both chunked and a content-length; the length is ignored");
            }
            Ok(Framing {
                limit: None,
                declared: None,
                reusable: !had_length,
            })
        }
        _ => Err(ForwardError::BadResponse {
            reason: format!(
                "its Transfer-Encoding `{}` is not chunked (after any identity): the extension offers no other transfer coding and cannot return a body coded so",
                codings.join(", ")
            ),
        }),
    }
}

/// Every `Transfer-Encoding` field's codings, lowercased, in order.
fn transfer_codings(headers: &HeaderMap) -> Result<Vec<String>, ForwardError> {
    let mut codings = Vec::new();
    for value in headers.get_all(TRANSFER_ENCODING) {
        let text = value.to_str().map_err(|_| ForwardError::BadResponse {
            reason: "its Transfer-Encoding is not ASCII".to_owned(),
        })?;
        codings.extend(
            text.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_ascii_lowercase),
        );
    }
    Ok(codings)
}

/// The `Content-Length`, if any: every value (a list of equal ones is allowed, RFC 9110 §8.6) the
/// same number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ForwardError> {
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or("x").split(',') {
            let part = part.trim();
            let parsed = (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten();
            match (parsed, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => {
                    return Err(ForwardError::BadResponse {
                        reason: "its Content-Length is not one valid length".to_owned(),
                    })
                }
            }
        }
    }
    Ok(length)
}

impl ServiceBody {
    /// `inner` read as `framing` says.
    pub(crate) fn new(inner: Incoming, framing: Framing) -> Self {
        ServiceBody {
            inner,
            remaining: framing.limit,
            declared: framing.declared,
        }
    }

    /// The body stopped before its end.
    fn broke_off(&self) -> ForwardError {
        let when = match self.declared {
            Some(length) => {
                format!(
                    "before the end of the response body ({length} bytes by its Content-Length)"
                )
            }
            None => "before the end of the response body".to_owned(),
        };
        ForwardError::Closed { when }
    }

    /// What a failure reading the body from hyper is: malformed framing (a bad chunk) or a
    /// connection that closed or reset.
    fn failed(&self, error: &hyper::Error) -> ForwardError {
        let malformed = io_kind(error).is_some_and(|kind| {
            matches!(
                kind,
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
            )
        });
        if malformed {
            ForwardError::BadResponse {
                reason: format!("its body is malformed ({})", error_chain(error)),
            }
        } else {
            tracing::debug!(error = %error_chain(error), "service response body broke off");
            self.broke_off()
        }
    }
}

/// The kind of the I/O error under `error`, if one is.
fn io_kind(error: &hyper::Error) -> Option<std::io::ErrorKind> {
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = cause.source();
    }
    None
}

impl Body for ServiceBody {
    type Data = Bytes;
    type Error = ForwardError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ForwardError>>> {
        let this = self.get_mut();
        if this.remaining == Some(0) {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None if this.remaining.is_some() => Poll::Ready(Some(Err(this.broke_off()))),
            None => Poll::Ready(None),
            Some(Err(error)) => Poll::Ready(Some(Err(this.failed(&error)))),
            Some(Ok(frame)) => {
                let Some(remaining) = this.remaining.as_mut() else {
                    return Poll::Ready(Some(Ok(frame)));
                };
                let frame = match frame.into_data() {
                    Ok(mut data) => {
                        // Bytes past the length are not the body (nor a next response: nothing
                        // was asked); the connection is closed after this one anyway.
                        let take = usize::try_from(*remaining).unwrap_or(usize::MAX);
                        data.truncate(take);
                        *remaining -= data.len() as u64;
                        Frame::data(data)
                    }
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0) || (self.remaining.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(remaining) => SizeHint::with_exact(remaining),
            None => self.inner.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn identity_is_a_no_op_and_its_content_length_counts() {
        let mut h = headers(&[("transfer-encoding", "Identity"), ("content-length", "5")]);
        let framing = frame(&mut h, StatusCode::OK, false).unwrap();
        assert_eq!(framing.limit, Some(5));
        assert!(!framing.reusable);
        assert!(!h.contains_key(TRANSFER_ENCODING));
        assert_eq!(h[CONTENT_LENGTH], "5");
    }

    #[test]
    fn identity_on_a_bodiless_response_sets_no_limit() {
        for (status, head) in [(StatusCode::NO_CONTENT, false), (StatusCode::OK, true)] {
            let mut h = headers(&[("transfer-encoding", "identity"), ("content-length", "5")]);
            let framing = frame(&mut h, status, head).unwrap();
            assert_eq!(framing.limit, None);
            assert!(framing.reusable);
        }
    }

    #[test]
    fn chunked_wins_over_a_content_length_which_goes() {
        for te in ["chunked", "identity, chunked", "CHUNKED"] {
            let mut h = headers(&[("transfer-encoding", te), ("content-length", "99")]);
            let framing = frame(&mut h, StatusCode::OK, false).unwrap();
            assert_eq!(framing.limit, None, "{te}");
            assert!(!framing.reusable, "{te}");
            assert!(!h.contains_key(CONTENT_LENGTH), "{te}");
        }
        let mut h = headers(&[("transfer-encoding", "chunked")]);
        assert!(frame(&mut h, StatusCode::OK, false).unwrap().reusable);
    }

    #[test]
    fn other_codings_are_a_bad_response_naming_them() {
        for te in [
            "gzip",
            "gzip, chunked",
            "chunked, identity",
            "chunked, gzip",
        ] {
            let mut h = headers(&[("transfer-encoding", te), ("content-length", "3")]);
            let error = frame(&mut h, StatusCode::OK, false).unwrap_err();
            assert_eq!(error.error_type(), "LambdaMesh.BadServiceResponse", "{te}");
            assert!(error.to_string().contains(te), "{error}");
        }
    }

    #[test]
    fn content_length_lists_must_agree() {
        let mut h = headers(&[("content-length", "4, 4")]);
        assert_eq!(content_length(&h).unwrap(), Some(4));
        h = headers(&[("content-length", "4"), ("content-length", "5")]);
        assert!(content_length(&h).is_err());
        h = headers(&[("content-length", "+4")]);
        assert!(content_length(&h).is_err());
    }
}
