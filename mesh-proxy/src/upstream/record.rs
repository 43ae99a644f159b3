//! After the stages: one request's access-log line and counts, made when its response has been
//! written (its body's end handed to the connection) or aborted (a stream error, the client gone,
//! a `write_timeout`, the request given up before its answer). Until then the request counts in
//! `mesh_proxy_in_flight`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Instant;

use super::{Exchange, Upstream};
use crate::body::{Body, BoxError};
use crate::metrics::InFlight;

/// What the access-log line says of a request, logged once when dropped.
pub(super) struct Record {
    upstream: Arc<Upstream>,
    method: Method,
    path: String,
    source: Option<String>,
    started: Instant,
    /// Set once the stages answered.
    answered: Option<Answered>,
    written: bool,
    _in_flight: InFlight,
}

struct Answered {
    status: u16,
    request_id: String,
    aws_request_id: Option<String>,
}

/// A response body that completes its request's [`Record`]: written at its end, aborted when
/// dropped before (or ended by an error).
struct RecordedBody {
    inner: Body,
    record: Record,
}

impl Record {
    /// A request arriving now; it counts in flight from here.
    pub(super) fn new(upstream: Arc<Upstream>, request: &Request<hyper::body::Incoming>) -> Self {
        let source = request
            .extensions()
            .get::<crate::gateway::Caller>()
            .map(|caller| caller.peer.identity.to_string());
        let in_flight = upstream.metrics.in_flight();
        Record {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            source,
            started: Instant::now(),
            answered: None,
            written: false,
            _in_flight: in_flight,
            upstream,
        }
    }

    /// The stages answered with `response`: it carries the record to the end of its body.
    pub(super) fn answer(mut self, exchange: Exchange, response: Response<Body>) -> Response<Body> {
        self.answered = Some(Answered {
            status: response.status().as_u16(),
            request_id: exchange.request_id,
            aws_request_id: exchange.aws_request_id,
        });
        // A HEAD answer's body is never sent: the head is all there is.
        self.written = self.method == Method::HEAD;
        response.map(|inner| {
            RecordedBody {
                inner: crate::body::sliced(inner),
                record: self,
            }
            .boxed()
        })
    }
}

impl RecordedBody {
    fn boxed(self) -> Body {
        http_body_util::BodyExt::boxed_unsync(self)
    }
}

impl HttpBody for RecordedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(None) => this.record.written = true,
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.record.written = true,
            Poll::Ready(Some(Err(_))) => this.record.written = false,
            _ => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordedBody {
    fn drop(&mut self) {
        // An empty body the connection never polled (a 204, a 304) was written all the same.
        if self.inner.is_end_stream() {
            self.record.written = true;
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let metrics = &self.upstream.metrics;
        let outcome = if self.written { "written" } else { "aborted" };
        match (&self.answered, self.written) {
            (Some(answered), true) => metrics.response(answered.status),
            _ => metrics.response_aborted(),
        }
        let answered = self.answered.as_ref();
        let request_id = answered.map_or("-", |a| a.request_id.as_str());
        let aws_request_id = answered.and_then(|a| a.aws_request_id.as_deref());
        tracing::info!(
            target: "mesh_proxy::access",
            upstream = %self.upstream.config.destination_name,
            // Caller-controlled values as strings, never `%` (Display): the text format quotes
            // and escapes strings, so no value can forge another field.
            method = self.method.as_str(),
            path = self.path.as_str(),
            status = answered.map(|a| a.status),
            outcome,
            duration_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            request_id = request_id,
            aws_request_id = aws_request_id.unwrap_or("-"),
            source = self.source.as_deref().unwrap_or("-"),
            "request"
        );
    }
}
