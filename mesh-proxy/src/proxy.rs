//! The running proxy: the admin listener and one listener per upstream, built from a [`Config`];
//! reloads swap changed upstreams in place (in-flight requests keep what they started with) and a
//! stop drains in-flight requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lambda_mesh_emulator::{Emulator, EmulatorConfig, EmulatorError};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{self, AdminState};
use crate::config::{Config, GatewayConfig};
use crate::gateway::{Gateway, GatewayConnections, GatewaySlot};
use crate::invoker::{AwsClients, AwsError, Invoker, LocalInvoker};
use crate::listener::tls::TlsConfigError;
use crate::listener::{ConnectionLimits, Limits, Listener};
use crate::metrics::Metrics;
use crate::upstream::Upstream;

/// How often a replaced emulator checks whether its last request has finished.
const RETIRE_POLL: Duration = Duration::from_millis(100);

/// A running mesh-proxy.
#[derive(Debug)]
pub struct Proxy {
    config: Config,
    /// The connection limits every listener reads (a reload sends new ones).
    limits: watch::Sender<ConnectionLimits>,
    admin: AdminState,
    admin_listener: Listener,
    upstreams: BTreeMap<String, Running>,
    gateway: Option<RunningGateway>,
    local: Option<LocalInvoker>,
    aws: Option<Arc<AwsClients>>,
}

/// The proxy cannot start (or a reload cannot be applied).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("{what}: cannot listen on {addr}")]
    Bind {
        /// Which listener.
        what: String,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A signal handler (SIGTERM, SIGINT, SIGHUP) could not be installed.
    #[error("cannot install the signal handlers")]
    Signal {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The embedded emulator could not start.
    #[error("embedded emulator: {0}")]
    Emulator(#[from] EmulatorError),
    /// The aws invoker could not be set up.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The gateway's certificates cannot make a TLS server configuration.
    #[error("gateway: {0}")]
    Tls(#[from] TlsConfigError),
}

/// A slot the listener reads its current upstream from, so reloads can swap it.
type Slot = Arc<RwLock<Arc<Upstream>>>;

#[derive(Debug)]
struct Running {
    configured: SocketAddr,
    listener: Listener,
    slot: Slot,
}

#[derive(Debug)]
struct RunningGateway {
    configured: SocketAddr,
    listener: Listener,
    slot: GatewaySlot,
}

/// Everything a reload needs, bound and built before anything changes.
struct Prepared {
    states: Vec<Arc<Upstream>>,
    sockets: BTreeMap<String, TcpListener>,
    admin_socket: Option<TcpListener>,
    /// The new gateway state, and how it is served.
    gateway: Option<GatewayPlan>,
}

enum GatewayPlan {
    /// Into the running listener's slot (prepared only when one runs at the same address).
    Swap(Arc<Gateway>),
    /// On a new listener (the address changed, or there was no gateway).
    Bind(Arc<Gateway>, TcpListener, SocketAddr),
}

/// The invokers a config needs, reused from the previous config where nothing changed.
struct Invokers {
    local: Option<LocalInvoker>,
    local_reused: bool,
    aws: Option<Arc<AwsClients>>,
    aws_reused: bool,
}

impl Proxy {
    /// Start the admin listener, the invokers and every upstream's listener.
    pub async fn start(config: Config) -> Result<Proxy, StartError> {
        let admin = AdminState {
            ready: Default::default(),
            metrics: Arc::new(Metrics::default()),
        };
        let limits = watch::Sender::new(config.connections);
        let admin_listener = spawn_admin(
            bind("admin", config.admin_listen).await?,
            limits.subscribe(),
            &admin,
        )?;
        let invokers = invokers(&config, None).await?;
        let mut upstreams = BTreeMap::new();
        for upstream in &config.upstreams {
            let state = Arc::new(build(&config, upstream, &invokers, &admin.metrics)?);
            let socket = bind(
                &format!("upstream {}", upstream.destination_name),
                upstream.bind,
            )
            .await?;
            let slot: Slot = Arc::new(RwLock::new(state));
            let listener = spawn_upstream(socket, limits.subscribe(), slot.clone())?;
            upstreams.insert(
                upstream.destination_name.clone(),
                Running {
                    configured: upstream.bind,
                    listener,
                    slot,
                },
            );
        }
        let gateway = match &config.gateway {
            Some(settings) => {
                let state = Arc::new(build_gateway(&config, settings, &invokers, &admin.metrics)?);
                let socket = bind("gateway", settings.listen).await?;
                Some(spawn_gateway(
                    socket,
                    settings.listen,
                    limits.subscribe(),
                    state,
                )?)
            }
            None => None,
        };
        admin.ready.store(true, Ordering::Release);
        Ok(Proxy {
            config,
            limits,
            admin,
            admin_listener,
            upstreams,
            gateway,
            local: invokers.local,
            aws: invokers.aws,
        })
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the upstream `name` listens.
    pub fn upstream_addr(&self, name: &str) -> Option<SocketAddr> {
        self.upstreams.get(name).map(|r| r.listener.local_addr())
    }

    /// Every upstream's name and address.
    pub fn upstream_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.upstreams
            .iter()
            .map(|(name, r)| (name.clone(), r.listener.local_addr()))
            .collect()
    }

    /// Where the gateway listens, when configured.
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway.as_ref().map(|g| g.listener.local_addr())
    }

    /// Where the admin listener listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener.local_addr()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.admin.metrics
    }

    /// Apply a new config: everything that can fail (binding, starting invokers) happens before
    /// anything changes, so a failed reload leaves the old config serving. Returns the listeners
    /// that were newly bound.
    pub async fn reload(
        &mut self,
        config: Config,
    ) -> Result<Vec<(String, SocketAddr)>, StartError> {
        let invokers = invokers(&config, Some(self)).await?;
        let prepared = self.prepare(&config, &invokers).await;
        let Prepared {
            states,
            mut sockets,
            admin_socket,
            gateway,
        } = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                if !invokers.local_reused {
                    if let Some(local) = &invokers.local {
                        local.emulator().shutdown().await;
                    }
                }
                return Err(e);
            }
        };
        let grace = config.drain_timeout;
        // Connections accepted from now on get the new limits; open ones keep theirs.
        self.limits.send_replace(config.connections);
        if let Some(socket) = admin_socket {
            let admin = spawn_admin(socket, self.limits.subscribe(), &self.admin)?;
            let old = std::mem::replace(&mut self.admin_listener, admin);
            tokio::spawn(old.stop(grace));
        }
        let mut bound = Vec::new();
        let mut previous = std::mem::take(&mut self.upstreams);
        for (upstream, state) in config.upstreams.iter().zip(states) {
            let name = upstream.destination_name.clone();
            let old = previous.remove(&name);
            let running = match sockets.remove(&name) {
                None => {
                    let Some(running) = old else { continue };
                    let mut slot = running.slot.write().unwrap_or_else(|e| e.into_inner());
                    if !Arc::ptr_eq(&slot, &state) {
                        *slot = state;
                    }
                    drop(slot);
                    running
                }
                Some(socket) => {
                    if let Some(old) = old {
                        tokio::spawn(old.listener.stop(grace));
                    }
                    let slot: Slot = Arc::new(RwLock::new(state));
                    let listener = spawn_upstream(socket, self.limits.subscribe(), slot.clone())?;
                    bound.push((name.clone(), listener.local_addr()));
                    Running {
                        configured: upstream.bind,
                        listener,
                        slot,
                    }
                }
            };
            self.upstreams.insert(name, running);
        }
        for (_, removed) in previous {
            tokio::spawn(removed.listener.stop(grace));
        }
        let old_gateway = self.gateway.take();
        self.gateway = match gateway {
            None => {
                if let Some(old) = old_gateway {
                    tokio::spawn(old.listener.stop(grace));
                }
                None
            }
            // Same address: open connections stay, their next requests see the new state.
            Some(GatewayPlan::Swap(state)) => old_gateway.inspect(|running| {
                *running.slot.write().unwrap_or_else(|e| e.into_inner()) = state;
            }),
            Some(GatewayPlan::Bind(state, socket, configured)) => {
                if let Some(old) = old_gateway {
                    tokio::spawn(old.listener.stop(grace));
                }
                let running = spawn_gateway(socket, configured, self.limits.subscribe(), state)?;
                bound.push(("gateway".to_owned(), running.listener.local_addr()));
                Some(running)
            }
        };
        if !invokers.local_reused {
            if let Some(old) = self.local.take() {
                tokio::spawn(retire(old, grace));
            }
        }
        self.local = invokers.local;
        self.aws = invokers.aws;
        self.config = config;
        Ok(bound)
    }

    /// Bind what is new and build every upstream's state, changing nothing yet.
    async fn prepare(&self, config: &Config, invokers: &Invokers) -> Result<Prepared, StartError> {
        let admin_socket = if config.admin_listen != self.config.admin_listen {
            Some(bind("admin", config.admin_listen).await?)
        } else {
            None
        };
        let mut states = Vec::new();
        let mut sockets = BTreeMap::new();
        for upstream in &config.upstreams {
            let name = &upstream.destination_name;
            let old = self.upstreams.get(name);
            let same_invoker = if config.local_function(upstream).is_some() {
                invokers.local_reused
            } else {
                invokers.aws_reused
            };
            let kept = old.and_then(|running| {
                let current = running
                    .slot
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let unchanged = current.config() == upstream
                    && same_invoker
                    && self.config.local_function(upstream) == config.local_function(upstream);
                unchanged.then_some(current)
            });
            let state = match kept {
                Some(state) => state,
                None => Arc::new(build(config, upstream, invokers, &self.admin.metrics)?),
            };
            states.push(state);
            // Same listener when the address is as configured before or as actually bound
            // (a port 0 that a new config now names explicitly).
            let same_listener = old.is_some_and(|running| {
                running.configured == upstream.bind
                    || running.listener.local_addr() == upstream.bind
            });
            if !same_listener {
                let socket = bind(&format!("upstream {name}"), upstream.bind).await?;
                sockets.insert(name.clone(), socket);
            }
        }
        let gateway = match &config.gateway {
            Some(settings) => {
                let state = Arc::new(build_gateway(
                    config,
                    settings,
                    invokers,
                    &self.admin.metrics,
                )?);
                let same_listener = self.gateway.as_ref().is_some_and(|running| {
                    running.configured == settings.listen
                        || running.listener.local_addr() == settings.listen
                });
                Some(if same_listener {
                    GatewayPlan::Swap(state)
                } else {
                    let socket = bind("gateway", settings.listen).await?;
                    GatewayPlan::Bind(state, socket, settings.listen)
                })
            }
            None => None,
        };
        Ok(Prepared {
            states,
            sockets,
            admin_socket,
            gateway,
        })
    }

    /// Stop accepting everywhere, let in-flight requests finish within the drain timeout, then
    /// stop the embedded emulator.
    pub async fn shutdown(self) {
        self.admin.ready.store(false, Ordering::Release);
        let grace = self.config.drain_timeout;
        let stops = self
            .upstreams
            .into_values()
            .map(|running| running.listener)
            .chain(self.gateway.map(|running| running.listener))
            .map(|listener| listener.stop(grace));
        futures_util::future::join_all(stops).await;
        self.admin_listener.stop(Duration::from_secs(1)).await;
        if let Some(local) = self.local {
            local.emulator().shutdown().await;
        }
    }
}

async fn bind(what: &str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            what: what.to_owned(),
            addr,
            source,
        })
}

fn spawn_admin(
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

fn spawn_upstream(socket: TcpListener, limits: Limits, slot: Slot) -> Result<Listener, StartError> {
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
async fn invokers(config: &Config, previous: Option<&Proxy>) -> Result<Invokers, StartError> {
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

fn build(
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

/// The gateway's state: one upstream per linked service, built as a sidecar upstream is.
fn build_gateway(
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

fn spawn_gateway(
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
async fn retire(local: LocalInvoker, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while local.users() > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(RETIRE_POLL).await;
    }
    local.emulator().shutdown().await;
}
