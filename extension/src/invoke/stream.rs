//! Response streaming: the prelude (status, headers, cookies), eight NUL bytes, then the service's
//! body chunks as they arrive; a failure mid-stream goes into the error trailers.

use base64::Engine as _;
use http::header::{HeaderMap, HeaderValue};
use http::Response;
use http_body::Frame;
use http_body_util::BodyExt;
use lambda_mesh_adapter::{encode_stream_prelude, Bytes, HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

use super::{Failed, Reply};
use crate::body::OutBody;
use crate::error::{ErrorReport, ForwardError, InvocationError};
use crate::forwarder::Lease;
use crate::framing::ServiceBody;
use crate::headers::strip_hop_by_hop;
use crate::runtime_api::{RuntimeApi, STREAM_ERROR_BODY_TRAILER, STREAM_ERROR_TYPE_TRAILER};

/// Chunks buffered between the service and Lambda; small, so a slow reader slows the service.
const CHANNEL_CHUNKS: usize = 8;

/// Streams `response` as the invocation's result. Returns the connection when the service's body
/// was read to its end.
pub(super) async fn respond(
    runtime: &mut RuntimeApi,
    reply: &Reply<'_>,
    response: Response<ServiceBody>,
    lease: Lease,
) -> Result<Option<Lease>, Failed> {
    let (mut parts, mut body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let prelude = encode_stream_prelude(&parts)
        .map_err(|error| InvocationError::BadStreamHead(error.to_string()))?;
    let (tx, out) = OutBody::channel(CHANNEL_CHUNKS);
    let (id, deadline) = (reply.id, reply.deadline);
    let request_id = id.to_owned();
    let pump = async move {
        if tx.send(Frame::data(prelude)).await.is_err() {
            return None;
        }
        let start = Instant::now();
        loop {
            match timeout_at(deadline, body.frame()).await {
                Ok(None) => return Some(lease),
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // the service's own trailers are not forwarded
                    };
                    if !data.is_empty() && tx.send(Frame::data(data)).await.is_err() {
                        tracing::warn!(request_id = %request_id, "lambda stopped reading the streamed response");
                        return None;
                    }
                }
                Ok(Some(Err(error))) => {
                    send_error_trailers(&tx, error.into(), &request_id).await;
                    return None;
                }
                Err(_) => {
                    let error = ForwardError::Timeout {
                        waited_ms: start.elapsed().as_millis(),
                    };
                    send_error_trailers(&tx, error.into(), &request_id).await;
                    return None;
                }
            }
        }
    };
    let (posted, lease) = tokio::join!(
        runtime.respond_stream(id, HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE, out),
        pump
    );
    posted?;
    Ok(lease)
}

/// Ends the stream with `error` in the error trailers.
async fn send_error_trailers(
    tx: &mpsc::Sender<Frame<Bytes>>,
    error: InvocationError,
    request_id: &str,
) {
    tracing::warn!(request_id = %request_id, %error, error_type = error.error_type(), "streamed response failed");
    let report = ErrorReport::of(&error);
    let mut trailers = HeaderMap::new();
    trailers.insert(
        STREAM_ERROR_TYPE_TRAILER,
        HeaderValue::from_static(error.error_type()),
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(report.to_json());
    if let Ok(value) = HeaderValue::from_str(&encoded) {
        trailers.insert(STREAM_ERROR_BODY_TRAILER, value);
    }
    let _ = tx.send(Frame::trailers(trailers)).await;
}
