//! Stage 2, authorize: whether this caller may reach this upstream, from the head alone (before
//! the body is read and before any invoke). A sidecar listener's callers are local and trusted:
//! its requests carry no [`Caller`] and pass. A gateway request carries the caller its
//! connection's verified certificate names, and is checked here in this order: the `Host` must
//! not name another linked service (421), the path is normalized (400 when it cannot be), the
//! intentions decide on the normalized path (403), and `x-forwarded-client-cert` is set.

use http::uri::{PathAndQuery, Uri};
use http::Request;

use super::Upstream;
use crate::error::ProxyError;
use crate::gateway::Caller;
use crate::intentions::{normalize_path, Action, RequestHead};
use crate::xfcc::apply_xfcc;

/// Allow or refuse; on a gateway request, also rewrite the path to its normalized form (the
/// form the intentions matched, so the function sees what was authorized) and set XFCC.
pub(super) fn check<B>(upstream: &Upstream, request: &mut Request<B>) -> Result<(), ProxyError> {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return Ok(());
    };
    let policy = &caller.policy;
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    if let Some(host) = host {
        if let Some((host, named)) = policy.misdirected(&host, &caller.destination) {
            return Err(ProxyError::MisdirectedRequest {
                host,
                named: named.service().to_owned(),
                service: caller.destination.service().to_owned(),
            });
        }
    }
    let path = normalize_path(request.uri().path(), &policy.normalization).map_err(|e| {
        ProxyError::BadRequest {
            message: format!("request path refused: {e}"),
        }
    })?;
    if path != request.uri().path() {
        *request.uri_mut() = with_path(request.uri(), &path)?;
    }
    let decision = policy.intentions.decide(
        &caller.peer.identity,
        &caller.destination,
        &RequestHead {
            method: request.method(),
            path: &path,
            headers: request.headers(),
        },
    );
    if decision.action == Action::Deny {
        upstream.metrics.intention_denial();
        let error = ProxyError::IntentionDenied {
            caller: caller.peer.identity.to_string(),
            destination: caller.destination.to_string(),
            by: decision.by,
        };
        tracing::warn!(
            source = %caller.peer.identity,
            destination = %caller.destination,
            method = request.method().as_str(),
            path = path.as_str(),
            error = error.to_string().as_str(),
            "intention denied"
        );
        return Err(error);
    }
    apply_xfcc(request.headers_mut(), policy.xfcc, &caller.xfcc);
    Ok(())
}

/// `uri` with its path replaced and its query kept.
fn with_path(uri: &Uri, path: &str) -> Result<Uri, ProxyError> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query =
        Some(
            PathAndQuery::try_from(path_and_query).map_err(|e| ProxyError::BadRequest {
                message: format!("normalized request path is not a valid URI path: {e}"),
            })?,
        );
    Uri::from_parts(parts).map_err(|e| ProxyError::BadRequest {
        message: format!("normalized request path is not a valid URI: {e}"),
    })
}
