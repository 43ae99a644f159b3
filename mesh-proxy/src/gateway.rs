//! The terminating gateway: one TLS listener standing where Consul's Envoy terminating gateway
//! stands. Each connection's SNI selects a linked service (the acceptor presents that service's
//! own leaf); its requests then run the same stages as a sidecar upstream's, with the verified
//! caller attached as a request extension ([`Caller`]) for the authorize stage, which checks the
//! `Host`, handles header names with `_`, normalizes the path, applies the intentions and sets
//! `x-forwarded-client-cert`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use http::header::HeaderValue;

use crate::config::GatewayConfig;
use crate::error::ProxyError;
use crate::identity::ServiceIdentity;
use crate::intentions::{HeadersWithUnderscores, Intentions, PathNormalization};
use crate::listener::tls::{PeerIdentity, TlsAcceptor, TlsConfigError};
use crate::listener::{answer, serve_http, Connections, QuickAck, Serving};
use crate::upstream::Upstream;
use crate::xfcc::xfcc_element;
use crate::xfcc::XfccMode;

/// A gateway ready to serve: what its listener's connections use. Reloads swap the whole of it
/// (a fresh acceptor, so no TLS session resumes across a change of trust).
#[derive(Debug)]
pub(crate) struct Gateway {
    acceptor: TlsAcceptor,
    linked: HashMap<ServiceIdentity, Arc<Upstream>>,
    policy: Arc<Policy>,
}

/// Where the gateway's listener reads its current state from.
pub(crate) type GatewaySlot = Arc<RwLock<Arc<Gateway>>>;

/// What the authorize stage checks on a gateway request.
#[derive(Debug)]
pub(crate) struct Policy {
    /// The intentions from the config entries, with the default policy.
    pub intentions: Intentions,
    /// What happens to a client-sent `x-forwarded-client-cert`.
    pub xfcc: XfccMode,
    /// How request paths are normalized before the intentions see them.
    pub normalization: PathNormalization,
    /// What happens to request header names with `_` before the intentions see them.
    pub underscores: HeadersWithUnderscores,
    /// Every linked service's service name and SNI name (lowercase) → its identity.
    names: HashMap<String, ServiceIdentity>,
}

/// A gateway request's caller and destination: attached to each request by the gateway's
/// connection, read by the authorize stage. Identity comes from the verified certificate only.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The verified client.
    pub peer: Arc<PeerIdentity>,
    /// The linked service the connection's SNI chose.
    pub destination: ServiceIdentity,
    /// Our `x-forwarded-client-cert` element for this connection.
    pub xfcc: HeaderValue,
    /// The policy in force when the request arrived.
    pub policy: Arc<Policy>,
}

impl Gateway {
    /// A gateway for `config`, whose linked services invoke through `upstreams` (by identity).
    pub(crate) fn new(
        config: &GatewayConfig,
        upstreams: HashMap<ServiceIdentity, Arc<Upstream>>,
    ) -> Result<Gateway, TlsConfigError> {
        let leaves: Vec<_> = config.services.iter().map(|s| s.leaf.clone()).collect();
        let acceptor = TlsAcceptor::new(config.trust_domain.clone(), &config.anchors, &leaves)?
            .with_policy(&config.tls)?;
        let mut names = HashMap::new();
        for service in &config.services {
            let identity = service.identity();
            names.insert(identity.service().to_ascii_lowercase(), identity.clone());
            names.insert(identity.sni().to_ascii_lowercase(), identity.clone());
        }
        let policy = Policy {
            intentions: Intentions::new(config.intentions.clone(), config.default_policy),
            xfcc: config.xfcc,
            normalization: config.normalization,
            underscores: config.underscores,
            names,
        };
        Ok(Gateway {
            acceptor,
            linked: upstreams,
            policy: Arc::new(policy),
        })
    }

    /// The upstream of a linked service and the caller context for its requests, or `None` when
    /// the service is no longer linked (after a reload).
    pub(crate) fn route(
        &self,
        destination: &ServiceIdentity,
        peer: &Arc<PeerIdentity>,
        xfcc: &HeaderValue,
    ) -> Option<(Arc<Upstream>, Caller)> {
        let upstream = self.linked.get(destination)?.clone();
        let caller = Caller {
            peer: Arc::clone(peer),
            destination: destination.clone(),
            xfcc: xfcc.clone(),
            policy: Arc::clone(&self.policy),
        };
        Some((upstream, caller))
    }
}

impl Policy {
    /// The linked service other than `destination` that `host` (a `Host` or `:authority`) names,
    /// if any: its port stripped, compared lowercase with every service name and SNI name.
    pub(crate) fn misdirected(
        &self,
        host: &str,
        destination: &ServiceIdentity,
    ) -> Option<(String, &ServiceIdentity)> {
        let host = strip_port(host).to_ascii_lowercase();
        let named = self.names.get(&host)?;
        (named != destination).then_some((host, named))
    }
}

/// The gateway listener's connections: the TLS handshake, then HTTP with each request routed to
/// the linked service the SNI chose, in the gateway state current when the request arrives (so
/// a reload's intentions apply to open connections too).
#[derive(Debug, Clone)]
pub(crate) struct GatewayConnections(pub GatewaySlot);

impl Connections for GatewayConnections {
    fn serve(
        &self,
        stream: QuickAck,
        peer: SocketAddr,
        serving: Serving,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let slot = self.0.clone();
        let awaited = stream.body_awaited();
        async move {
            let gateway = current(&slot);
            let accepted = match gateway.acceptor.accept(stream).await {
                Ok(accepted) => accepted,
                Err(e) => return e.log(peer),
            };
            drop(gateway);
            let destination = accepted.service;
            let identity = Arc::new(accepted.peer);
            let xfcc = match xfcc_element(&destination, &identity) {
                Ok(xfcc) => xfcc,
                Err(e) => {
                    tracing::warn!(peer = %peer, source = %identity.identity, error = %e, "cannot write x-forwarded-client-cert for this client; connection closed");
                    return;
                }
            };
            tracing::debug!(
                peer = %peer,
                source = %identity.identity,
                destination = %destination,
                tls = ?identity.tls_version,
                resumed = identity.resumed,
                "gateway connection"
            );
            let service = hyper::service::service_fn(
                move |mut request: http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(awaited.clone());
                    let gateway = current(&slot);
                    match gateway.route(&destination, &identity, &xfcc) {
                        Some((upstream, caller)) => {
                            request.extensions_mut().insert(caller);
                            answer(upstream.handle(request, peer))
                        }
                        None => {
                            let error = ProxyError::NotLinked {
                                service: destination.service().to_owned(),
                            };
                            answer(std::future::ready(error.into_response()))
                        }
                    }
                },
            );
            serve_http(accepted.stream, peer, serving, service).await;
        }
    }
}

fn current(slot: &GatewaySlot) -> Arc<Gateway> {
    slot.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `name`, `name:port`, `[v6]:port` → the host part.
fn strip_port(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(host, |(inner, _)| inner);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("billing:8443"), "billing");
        assert_eq!(strip_port("billing"), "billing");
        assert_eq!(strip_port("[::1]:2345"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(
            strip_port(" Billing.default.dc1.internal.x.consul:443 "),
            "Billing.default.dc1.internal.x.consul"
        );
    }
}
