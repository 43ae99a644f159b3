//! The running proxy: the admin listener and one listener per upstream, built from a [`Config`];
//! reloads swap changed upstreams in place (in-flight requests keep what they started with) and a
//! stop drains in-flight requests.

mod assemble;
mod reload;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lambda_mesh_emulator::EmulatorError;
use tokio::sync::watch;

use self::assemble::{
    apply_sidecar_intentions, bind, build, build_gateway, invokers, spawn_admin, spawn_gateway,
    spawn_upstream,
};
use crate::admin::AdminState;
use crate::config::Config;
use crate::gateway::GatewaySlot;
use crate::invoker::{AwsClients, AwsError, LocalInvoker};
use crate::listener::tls::TlsConfigError;
use crate::listener::{ConnectionLimits, Listener};
use crate::metrics::Metrics;
use crate::upstream::Upstream;

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
    /// The config built with the Consul agent's entries is not accepted.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
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
            apply_sidecar_intentions(&config, std::slice::from_ref(&state));
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
