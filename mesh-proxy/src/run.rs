//! The process around a [`Proxy`]: print the addresses, reload on SIGHUP, when a file the config
//! was read from changes, or when a config entry it reads from the Consul agent changes; drain on
//! SIGTERM/SIGINT.

use std::io::Write as _;

use tokio::signal::unix::{signal, SignalKind};

use crate::config::{AgentPrelude, Config, ConfigError, ConsulAgent};
use crate::consul::agent::blocking::DEFAULT_WAIT;
use crate::consul::agent::entries::wanted;
use crate::consul::agent::watcher::{Update, Watchers};
use crate::consul::agent::AgentClient;
use crate::consul::AgentEntries;
use crate::proxy::{Proxy, StartError};
use crate::watch::{Snapshot, Watch};

/// How many times the start re-reads the agent because a config built from its entries reads
/// more of them (a terminating-gateway entry naming services whose defaults are there too).
const START_ROUNDS: usize = 4;

/// Run until SIGTERM or SIGINT; `reload` re-reads the config (with the Consul agent's entries
/// given) on SIGHUP, when what its [`sources`](Config::sources) hold changes, and when an agent
/// entry it reads changes (a bad one is logged and the old one keeps serving). With an agent,
/// serving starts once it has answered for every entry the config reads.
pub async fn run<R>(config: Config, reload: R) -> Result<(), StartError>
where
    R: Fn(&AgentEntries) -> Result<Config, ConfigError>,
{
    raise_fd_limit();
    let signal_error = |source| StartError::Signal { source };
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(signal_error)?;
    let mut agent = AgentEntries::default();
    let mut watchers: Option<(ConsulAgent, Watchers)> = None;
    let mut config = config;
    for _ in 0..START_ROUNDS {
        let paths = wanted(&config);
        if paths.is_empty() {
            break;
        }
        follow_agent(&mut watchers, &mut agent, &config, &paths);
        while !agent.unanswered(&paths).is_empty() {
            tokio::select! {
                _ = terminate.recv() => return Ok(()),
                _ = interrupt.recv() => return Ok(()),
                updates = agent_changed(&mut watchers) => record(&mut agent, updates),
                _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {
                    tracing::warn!(waiting_for = %agent.unanswered(&paths).join(", "), "waiting for the Consul agent");
                }
            }
        }
        config = reload(&agent)?;
        if wanted(&config) == paths {
            break;
        }
    }
    // What the config reads now (more, if the rounds ran out), followed from here on.
    let paths = wanted(&config);
    follow_agent(&mut watchers, &mut agent, &config, &paths);
    warn_about(&config);
    // Read before starting, so a change during the start is a change.
    let config_sources = config.sources.clone();
    let applied = Snapshot::take(&config_sources);
    let mut proxy = Proxy::start(config).await?;
    for (name, addr) in proxy.upstream_addrs() {
        announce(&format!("upstream {name} listening on {addr}"));
    }
    if let Some(addr) = proxy.gateway_addr() {
        announce(&format!("gateway listening on {addr}"));
    }
    announce(&format!("admin listening on {}", proxy.admin_addr()));
    tracing::info!(upstreams = proxy.upstream_addrs().len(), "mesh-proxy ready");
    let mut watch = Watch::new(&config_sources, applied);
    loop {
        let why = tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading");
                Snapshot::take(watch.sources())
            }
            (now, changed) = watch.changed() => {
                let changed: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
                tracing::info!(changed = %changed.join(", "), "files changed: reloading");
                now
            }
            updates = agent_changed(&mut watchers) => {
                let changed: Vec<String> = updates.iter().map(|u| u.path.clone()).collect();
                record(&mut agent, updates);
                let unanswered = agent.unanswered(&wanted(proxy.config())).len();
                if unanswered > 0 {
                    continue;
                }
                tracing::info!(changed = %changed.join(", "), "Consul agent entries changed: reloading");
                Snapshot::take(watch.sources())
            }
        };
        // What was read is what the next change is measured against, accepted or not: a rejected
        // file is tried again when it changes again (or on SIGHUP).
        watch.set_applied(why);
        let config = match reload(&agent) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "reload rejected: bad config, the old one keeps serving");
                continue;
            }
        };
        warn_about(&config);
        let sources = config.sources.clone();
        let paths = wanted(&config);
        let followed = config.clone();
        match proxy.reload(config).await {
            Ok(bound) => {
                for (name, addr) in bound {
                    if name == "gateway" {
                        announce(&format!("gateway listening on {addr}"));
                    } else {
                        announce(&format!("upstream {name} listening on {addr}"));
                    }
                }
                if sources != *watch.sources() {
                    // Other files now: what they hold is what was just loaded (close enough; a
                    // change in the instant between is seen at the next event).
                    watch.follow(&sources);
                    watch.set_applied(Snapshot::take(&sources));
                }
                follow_agent(&mut watchers, &mut agent, &followed, &paths);
                tracing::info!("config reloaded");
            }
            Err(e) => tracing::error!(error = %e, "reload rejected, the old config keeps serving"),
        }
    }
    tracing::info!(
        grace_s = proxy.config().drain_timeout.as_secs_f64(),
        "draining"
    );
    proxy.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Read what `prelude` names from its agent, once: every path answered (an entry, or 404), the
/// ones not yet answered logged every 10 s. For a start whose files alone are not a config.
pub async fn read_agent_entries(prelude: &AgentPrelude) -> AgentEntries {
    let mut watchers = Watchers::new(AgentClient::new(&prelude.agent), DEFAULT_WAIT);
    watchers.follow(&prelude.paths);
    let mut agent = AgentEntries::default();
    while !agent.unanswered(&prelude.paths).is_empty() {
        tokio::select! {
            updates = watchers.changed() => record(&mut agent, updates),
            _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {
                tracing::warn!(waiting_for = %agent.unanswered(&prelude.paths).join(", "), "waiting for the Consul agent");
            }
        }
    }
    agent
}

/// Follow `paths` on `config`'s agent: new watchers when the agent (or how to ask it) changed,
/// none without one; answers for paths no longer read are forgotten.
fn follow_agent(
    watchers: &mut Option<(ConsulAgent, Watchers)>,
    agent: &mut AgentEntries,
    config: &Config,
    paths: &[String],
) {
    let Some(settings) = &config.consul_agent else {
        *watchers = None;
        *agent = AgentEntries::default();
        return;
    };
    if watchers.as_ref().is_none_or(|(s, _)| s != settings) {
        *agent = AgentEntries::default();
        let client = AgentClient::new(settings);
        *watchers = Some((settings.clone(), Watchers::new(client, DEFAULT_WAIT)));
    }
    agent.retain(paths);
    if let Some((_, watchers)) = watchers {
        watchers.follow(paths);
    }
}

/// The next updates from the agent's watchers (never, without an agent).
async fn agent_changed(watchers: &mut Option<(ConsulAgent, Watchers)>) -> Vec<Update> {
    match watchers {
        Some((_, watchers)) => watchers.changed().await,
        None => std::future::pending().await,
    }
}

fn record(agent: &mut AgentEntries, updates: Vec<Update>) {
    for update in updates {
        agent.set(update.path, update.observed);
    }
}

/// Raise the soft `RLIMIT_NOFILE` to the hard one: each connection is a descriptor, and the soft
/// default (often 1024) is below what `max_connections` per listener allows.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open-file limit"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit"),
        },
        Ok((soft, _)) => tracing::debug!(limit = soft, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

/// What loading the config noticed and did not refuse.
fn warn_about(config: &Config) {
    for warning in config.warnings() {
        tracing::warn!(warning = %warning, "config");
    }
}

fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
