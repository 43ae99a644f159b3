//! Reloads: everything that can fail (binding, starting invokers, building states) happens in
//! [`Proxy::prepare`] before anything changes; then upstreams and the gateway are swapped in place
//! where their addresses stayed, rebound where they moved, and stopped where they went.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;

use super::assemble::{
    apply_sidecar_intentions, bind, build, build_gateway, invokers, retire, spawn_admin,
    spawn_gateway, spawn_upstream,
};
use super::{Invokers, Proxy, Running, Slot, StartError};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::upstream::Upstream;

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

impl Proxy {
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
            sockets,
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
        // Kept upstreams too: their intentions are the new config's from here on.
        apply_sidecar_intentions(&config, &states);
        let mut bound = Vec::new();
        self.swap_upstreams(&config, states, sockets, grace, &mut bound)?;
        self.swap_gateway(gateway, grace, &mut bound)?;
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

    /// A reload's upstreams: one whose address is unchanged gets its new state in place (open
    /// connections stay), a new or moved one its own listener, and removed ones stop after
    /// `grace`. Newly bound addresses go to `bound`.
    fn swap_upstreams(
        &mut self,
        config: &Config,
        states: Vec<Arc<Upstream>>,
        mut sockets: BTreeMap<String, TcpListener>,
        grace: Duration,
        bound: &mut Vec<(String, SocketAddr)>,
    ) -> Result<(), StartError> {
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
        Ok(())
    }

    /// A reload's gateway: swapped in place at the same address, rebound when it moved, stopped
    /// when it is gone.
    fn swap_gateway(
        &mut self,
        gateway: Option<GatewayPlan>,
        grace: Duration,
        bound: &mut Vec<(String, SocketAddr)>,
    ) -> Result<(), StartError> {
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
        Ok(())
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
}
