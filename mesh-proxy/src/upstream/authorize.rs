//! Stage 2, authorize: whether this caller may reach this upstream, from the head alone (before
//! the body is read and before any invoke). A sidecar listener's requests carry no [`Caller`]:
//! they pass, unless the upstream has a [`SidecarCheck`] (`[service]` named the calling service
//! and there are intentions or a `deny` default), whose intentions then decide on the normalized
//! path as the gateway's do — advisory, since it is the caller's own proxy. A gateway request carries the caller its
//! connection's verified certificate names, and is checked here in this order: the `Host` must
//! not name another linked service (421), header names with `_` are handled as the mesh entry says
//! (400 when refused), the path is normalized (400 when it cannot be), the intentions decide on
//! the normalized path (403), and `x-forwarded-client-cert` is set.

use std::sync::Arc;

use http::uri::{PathAndQuery, Uri};
use http::Request;

use super::Upstream;
use crate::config::SidecarCaller;
use crate::error::ProxyError;
use crate::gateway::Caller;
use crate::intentions::{normalize_path, Action, Intentions, PathNormalization, RequestHead};
use crate::xfcc::apply_xfcc;

/// What a sidecar upstream's requests are checked against: who calls, whom, and the rules.
#[derive(Debug)]
pub(crate) struct SidecarCheck {
    /// The calling service and the destination.
    pub caller: SidecarCaller,
    /// The intentions of the config in force.
    pub intentions: Arc<Intentions>,
}

/// Allow or refuse; on a gateway request, also rewrite the path to its normalized form (the
/// form the intentions matched, so the function sees what was authorized) and set XFCC.
pub(super) fn check<B>(upstream: &Upstream, request: &mut Request<B>) -> Result<(), ProxyError> {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return match upstream.sidecar() {
            Some(check) => sidecar(upstream, &check, request),
            None => Ok(()),
        };
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
    if let Err(name) = policy.underscores.apply(request.headers_mut()) {
        return Err(ProxyError::BadRequest {
            message: format!(
                "header `{name}` has `_` in its name, which the mesh entry's HeadersWithUnderscoresAction = \"REJECT_REQUEST\" refuses"
            ),
        });
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

/// A sidecar upstream's request under its intentions: the path normalized with Consul's defaults
/// (and rewritten, so the function sees what was authorized), then decided.
fn sidecar<B>(
    upstream: &Upstream,
    check: &SidecarCheck,
    request: &mut Request<B>,
) -> Result<(), ProxyError> {
    let path =
        normalize_path(request.uri().path(), &PathNormalization::default()).map_err(|e| {
            ProxyError::BadRequest {
                message: format!("request path refused: {e}"),
            }
        })?;
    if path != request.uri().path() {
        *request.uri_mut() = with_path(request.uri(), &path)?;
    }
    let SidecarCaller {
        source,
        destination,
        ..
    } = &check.caller;
    let decision = check.intentions.decide(
        source,
        destination,
        &RequestHead {
            method: request.method(),
            path: &path,
            headers: request.headers(),
        },
    );
    if decision.action == Action::Allow {
        return Ok(());
    }
    upstream.metrics.intention_denial();
    let error = ProxyError::IntentionDenied {
        caller: crate::config::display_identity(source),
        destination: crate::config::display_identity(destination),
        by: decision.by,
    };
    tracing::warn!(
        source = crate::config::display_identity(source).as_str(),
        destination = crate::config::display_identity(destination).as_str(),
        method = request.method().as_str(),
        path = path.as_str(),
        error = error.to_string().as_str(),
        "intention denied (sidecar, advisory)"
    );
    Err(error)
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
