//! The parts a [`Proxy`] is assembled from: bound sockets, the admin, upstream and gateway
//! listeners, the invokers (reused across reloads when unchanged), and the retiring of a replaced
//! emulator.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lambda_mesh_emulator::{Emulator, EmulatorConfig};
use tokio::net::TcpListener;

use super::{Invokers, Proxy, RunningGateway, Slot, StartError};
use crate::admin::{self, AdminState};
use crate::config::{Config, GatewayConfig};
use crate::gateway::{Gateway, GatewayConnections, GatewaySlot};
use crate::intentions::Intentions;
use crate::invoker::{AwsClients, AwsError, Invoker, LocalInvoker};
use crate::listener::{Limits, Listener};
use crate::metrics::Metrics;
use crate::upstream::{SidecarCheck, Upstream};

/// How often a replaced emulator checks whether its last request has finished.
const RETIRE_POLL: Duration = Duration::from_millis(100);

pub(super) async fn bind(what: &str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            what: what.to_owned(),
            addr,
            source,
        })
}

pub(super) fn spawn_admin(
    socket: TcpListener,
    limits: Limits,
    state: &AdminState,
) -> Result<Listener, StartError> {
    let addr = socket.local_addr().ok();
    let state = state.clone();
    Listener::spawn(socket, limits, move |request, _peer| {
        let response = admin::handle(&state, &request);
        async move { response }
    })
    .map_err(|source| StartError::Bind {
        what: "admin".into(),
        addr: addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        source,
    })
}

pub(super) fn spawn_upstream(
    socket: TcpListener,
    limits: Limits,
    slot: Slot,
) -> Result<Listener, StartError> {
    let addr = socket.local_addr().ok();
    Listener::spawn(socket, limits, move |request, peer| {
        let upstream = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
        upstream.handle(request, peer)
    })
    .map_err(|source| StartError::Bind {
        what: "upstream".into(),
        addr: addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        source,
    })
}

/// The emulator for `[[function]]` and the aws clients, reused from `previous` when unchanged.
pub(super) async fn invokers(
    config: &Config,
    previous: Option<&Proxy>,
) -> Result<Invokers, StartError> {
    let needs_aws = config
        .invoking()
        .any(|u| config.local_function(u).is_none());
    let (local, local_reused) = match previous {
        Some(p) if p.config.functions == config.functions => (p.local.clone(), true),
        _ if config.functions.is_empty() => (None, false),
        _ => {
            let emulator = Emulator::start(EmulatorConfig {
                functions: config.functions.clone(),
            })
            .await?;
            (Some(LocalInvoker::new(emulator)), false)
        }
    };
    let (aws, aws_reused) = match previous.and_then(|p| p.aws.clone()) {
        Some(aws) if aws.settings() == &config.aws => (Some(aws), true),
        _ if !needs_aws => (None, false),
        _ => (Some(Arc::new(AwsClients::load(&config.aws).await)), false),
    };
    Ok(Invokers {
        local,
        local_reused,
        aws,
        aws_reused,
    })
}

pub(super) fn build(
    config: &Config,
    upstream: &crate::config::UpstreamConfig,
    invokers: &Invokers,
    metrics: &Metrics,
) -> Result<Upstream, StartError> {
    let invoker = match (
        config.local_function(upstream),
        &invokers.local,
        &invokers.aws,
    ) {
        (Some(_), Some(local), _) => Invoker::Local(local.clone()),
        (_, _, Some(aws)) => {
            Invoker::Aws(aws.client(&upstream.destination_name, upstream.arn_region.as_deref())?)
        }
        _ => {
            return Err(StartError::Aws(AwsError::NoRegion {
                upstream: upstream.destination_name.clone(),
            }))
        }
    };
    Ok(Upstream::new(
        upstream.clone(),
        invoker,
        metrics.upstream(&upstream.destination_name),
    ))
}

/// Give each of `states` (the sidecar upstreams of `config`) the intentions its requests are
/// checked against, or none.
pub(super) fn apply_sidecar_intentions(config: &Config, states: &[Arc<Upstream>]) {
    let sidecar = &config.sidecar;
    let intentions = Arc::new(Intentions::new(
        sidecar.intentions.clone(),
        sidecar.default_policy,
    ));
    for state in states {
        let check = sidecar
            .caller(&state.config().destination_name)
            .map(|caller| {
                Arc::new(SidecarCheck {
                    caller: caller.clone(),
                    intentions: Arc::clone(&intentions),
                })
            });
        state.set_sidecar(check);
    }
}

/// The gateway's state: one upstream per linked service, built as a sidecar upstream is.
pub(super) fn build_gateway(
    config: &Config,
    settings: &GatewayConfig,
    invokers: &Invokers,
    metrics: &Metrics,
) -> Result<Gateway, StartError> {
    let mut upstreams = std::collections::HashMap::new();
    for service in &settings.services {
        let upstream = build(config, &service.upstream, invokers, metrics)?;
        metrics
            .upstream(&service.upstream.destination_name)
            .mark_linked();
        upstreams.insert(service.identity().clone(), Arc::new(upstream));
    }
    Ok(Gateway::new(settings, upstreams)?)
}

pub(super) fn spawn_gateway(
    socket: TcpListener,
    configured: SocketAddr,
    limits: Limits,
    state: Arc<Gateway>,
) -> Result<RunningGateway, StartError> {
    let slot: GatewaySlot = Arc::new(RwLock::new(state));
    let connections = GatewayConnections(slot.clone());
    let listener = Listener::spawn_connections(socket, limits, connections).map_err(|source| {
        StartError::Bind {
            what: "gateway".into(),
            addr: configured,
            source,
        }
    })?;
    Ok(RunningGateway {
        configured,
        listener,
        slot,
    })
}

/// Shut a replaced emulator down once its last in-flight request is done (bounded by `grace`).
pub(super) async fn retire(local: LocalInvoker, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while local.users() > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(RETIRE_POLL).await;
    }
    local.emulator().shutdown().await;
}
