//! Buffered results: the service's body read whole (or, for a binary body of a declared length,
//! base64-encoded into the result as it arrives), compressed if asked, encoded in the event's
//! shape and posted.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, Response};
use http_body_util::BodyExt;
use lambda_mesh_adapter::{
    body_is_binary, encode_response, EventShape, ResultWriter, MAX_SYNC_RESPONSE_BYTES,
};
use tokio::time::{timeout_at, Instant};

use super::{Failed, Handler, Reply};
use crate::buffer::ReadError;
use crate::compression::compress_response;
use crate::error::{ForwardError, InvocationError, MAX_BUFFERED_BODY_BYTES};
use crate::forwarder::Lease;
use crate::framing::ServiceBody;
use crate::headers::strip_hop_by_hop;
use crate::runtime_api::RuntimeApi;

impl Handler {
    /// Reads the service's response and posts it as one result.
    pub(super) async fn respond_buffered(
        &mut self,
        runtime: &mut RuntimeApi,
        reply: Reply<'_>,
        response: Response<ServiceBody>,
        lease: Lease,
    ) -> Result<(), Failed> {
        let (mut parts, body) = response.into_parts();
        // A length the service declared, not overridden by chunked framing.
        let declared = !parts.headers.contains_key(TRANSFER_ENCODING);
        strip_hop_by_hop(&mut parts.headers);
        if let Some(length) = declared
            .then(|| self.encodes_while_reading(&reply.method, &reply.shape, &parts))
            .flatten()
        {
            let response = Response::from_parts(parts, body);
            return self
                .encode_while_reading(runtime, &reply, response, lease, length)
                .await;
        }
        let read = self.response_buffer.read(body, MAX_BUFFERED_BODY_BYTES);
        let body = match timeout_at(reply.deadline, read).await {
            Ok(Ok(body)) => {
                self.forwarder.release(lease);
                body
            }
            Ok(Err(ReadError::Body(error))) => return Err(error.into()),
            Ok(Err(ReadError::TooLarge)) => return Err(InvocationError::BodyTooLarge.into()),
            Err(_) => return Err(timed_out(reply.start).into()),
        };
        let kept = body.clone();
        let mut response = Response::from_parts(parts, body);
        if self.config.compresses() {
            compress_response(
                &reply.method,
                &reply.accept_encoding,
                &mut response,
                self.config.compression_min_bytes,
            );
        }
        if reply.method != Method::HEAD {
            let length = HeaderValue::from(response.body().len());
            response.headers_mut().insert(CONTENT_LENGTH, length);
        }
        let result =
            encode_response(response, &reply.shape).map_err(InvocationError::bad_result)?;
        if result.len() > MAX_SYNC_RESPONSE_BYTES {
            return Err(InvocationError::ResultTooLarge(result.len()).into());
        }
        self.response_buffer.give_back(kept);
        runtime.respond(reply.id, result).await?;
        Ok(())
    }

    /// The body length when the result can be encoded as the body arrives: a buffered, uncompressed
    /// result whose body is binary by its (end-to-end) headers, so base64 whatever the bytes, and
    /// of a length the service declared. Anything else is read whole first.
    fn encodes_while_reading(
        &self,
        method: &Method,
        shape: &EventShape,
        parts: &http::response::Parts,
    ) -> Option<usize> {
        let status = parts.status;
        // These carry no body whatever their Content-Length says.
        let bodiless = status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED;
        if bodiless
            || self.config.compresses()
            || *method == Method::HEAD
            || *shape == EventShape::PassThrough
        {
            return None;
        }
        let length: usize = parts
            .headers
            .get(CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        (length > 0 && length <= MAX_BUFFERED_BODY_BYTES && body_is_binary(&parts.headers))
            .then_some(length)
    }

    /// Encodes the service's body (of `length` bytes, its hop-by-hop headers gone) into the
    /// result as it arrives (no copy of the whole body), in a buffer kept from the last result.
    async fn encode_while_reading(
        &mut self,
        runtime: &mut RuntimeApi,
        reply: &Reply<'_>,
        response: Response<ServiceBody>,
        lease: Lease,
        length: usize,
    ) -> Result<(), Failed> {
        let start = Instant::now();
        let (mut parts, mut body) = response.into_parts();
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
        let buffer = std::mem::take(&mut self.result_buffer);
        let mut writer = ResultWriter::new(&parts, &reply.shape, length, buffer)
            .map_err(InvocationError::bad_result)?;
        let read = async {
            let mut received = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    received += data.len();
                    writer.push(&data);
                }
            }
            Ok::<_, ForwardError>(received)
        };
        match timeout_at(reply.deadline, read).await {
            Ok(Ok(received)) if received == length => self.forwarder.release(lease),
            Ok(Ok(received)) => {
                return Err(ForwardError::BadResponse {
                    reason: format!("{received} body bytes after a Content-Length of {length}"),
                }
                .into())
            }
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => return Err(timed_out(start).into()),
        }
        let result = Bytes::from(writer.finish());
        if result.len() > MAX_SYNC_RESPONSE_BYTES {
            return Err(InvocationError::ResultTooLarge(result.len()).into());
        }
        let kept = result.clone();
        runtime.respond(reply.id, result).await?;
        if let Ok(buffer) = kept.try_into_mut() {
            self.result_buffer = buffer.into();
        }
        Ok(())
    }
}

/// The timeout of a service that started answering but did not finish before the deadline.
fn timed_out(start: Instant) -> ForwardError {
    ForwardError::Timeout {
        waited_ms: start.elapsed().as_millis(),
    }
}
