//! Stage 4, build event: the request in the upstream's payload format, refused with 413 before
//! any call when the event is over the invocation mode's Invoke limit.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Request;
use lambda_mesh_adapter::{encode_request, RequestMeta};

use super::{Exchange, Upstream};
use crate::error::ProxyError;

/// The event to invoke with.
pub(super) fn build(
    upstream: &Upstream,
    request: &Request<Bytes>,
    exchange: &Exchange,
) -> Result<Bytes, ProxyError> {
    let meta = RequestMeta {
        source_ip: Some(exchange.peer.ip()),
        request_id: Some(exchange.request_id.clone()),
        time_epoch_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_millis()).ok()),
    };
    let event = encode_request(request, upstream.config.payload_format, &meta).map_err(|e| {
        ProxyError::BadRequest {
            message: format!("cannot encode the request: {e}"),
        }
    })?;
    let limit = upstream.target.mode.request_limit();
    if event.len() > limit {
        return Err(ProxyError::PayloadTooLarge { limit });
    }
    Ok(event)
}
