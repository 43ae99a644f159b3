//! The process around a [`Proxy`]: print the addresses, reload on SIGHUP or when a file the config
//! was read from changes, drain on SIGTERM/SIGINT.

use std::io::Write as _;

use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, ConfigError};
use crate::discovery::Discovery;
use crate::proxy::{Proxy, StartError};
use crate::watch::{Snapshot, Watch};

/// Run until SIGTERM or SIGINT; `reload` re-reads the config on SIGHUP and when what its
/// [`sources`](Config::sources) hold changes (a bad one is logged and the old one keeps serving).
pub async fn run<R>(config: Config, reload: R) -> Result<(), StartError>
where
    R: Fn() -> Result<Config, ConfigError>,
{
    raise_fd_limit();
    let signal_error = |source| StartError::Signal { source };
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(signal_error)?;
    // Read before starting, so a change during the start is a change.
    let config_sources = config.sources.clone();
    let applied = Snapshot::take(&config_sources);
    let mut discovery = Discovery::default();
    discovery.follow(&config).await;
    let mut loaded = config;
    let config = discovery.apply(&loaded);
    warn_about(&config);
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
                Some(Snapshot::take(watch.sources()))
            }
            (now, changed) = watch.changed() => {
                let changed: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
                tracing::info!(changed = %changed.join(", "), "files changed: reloading");
                Some(now)
            }
            () = discovery.changed() => {
                tracing::info!("discovered services changed: reloading");
                None
            }
        };
        if let Some(why) = why {
            // What was read is what the next change is measured against, accepted or not: a
            // rejected file is tried again when it changes again (or on SIGHUP).
            watch.set_applied(why);
            loaded = match reload() {
                Ok(config) => config,
                Err(e) => {
                    tracing::error!(error = %e, "reload rejected: bad config, the old one keeps serving");
                    continue;
                }
            };
            discovery.follow(&loaded).await;
        }
        let config = discovery.apply(&loaded);
        warn_about(&config);
        let sources = config.sources.clone();
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
