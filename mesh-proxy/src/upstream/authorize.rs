//! Stage 2, authorize: whether this caller may reach this upstream. A sidecar listener's callers
//! are local and trusted, so today every request passes; the gateway's intentions (checked
//! against the identity of a verified client certificate) belong here.

use http::Request;

use super::Upstream;
use crate::error::ProxyError;

/// Allow or refuse, from the head alone: before the body is read and before any invoke.
pub(super) fn check<B>(_upstream: &Upstream, _request: &Request<B>) -> Result<(), ProxyError> {
    Ok(())
}
