//! `[discovery]`, and what a set of discovered services makes of a config: each
//! `[[gateway.service]]` waiting for its function served once a function's tags give it one.

use super::file::DiscoveryFile;
use super::target::Targets;
use super::validate::{invocation, non_empty, seconds, Blame};
use super::{Config, ConfigError, DiscoverySettings, GatewayService, DEFAULT_DISCOVERY_INTERVAL};
use crate::config::file::InvocationModeFile;
use crate::config::gateway::DEFAULT_NAMESPACE;
use crate::config::InvocationMode;
use crate::discovery::Discovered;
use crate::identity::DEFAULT_PARTITION;

const TABLE: &str = "discovery";
/// Longest accepted `interval`.
const MAX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(86_400);

pub(super) fn build(
    raw: Option<DiscoveryFile>,
    blame: &Blame<'_>,
) -> Result<Option<DiscoverySettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let interval = match raw.interval {
        Some(secs) => seconds(secs, MAX_INTERVAL).map_err(|m| blame.table(TABLE, "interval", m))?,
        None => DEFAULT_DISCOVERY_INTERVAL,
    };
    let datacenter = non_empty(raw.datacenter);
    if raw.aws_tags != Some(true) {
        return Ok(None);
    }
    Ok(Some(DiscoverySettings {
        interval,
        datacenter,
    }))
}

impl Config {
    /// This config with each waiting `[[gateway.service]]` that `discovered` names served, its
    /// function, alias, invocation mode and payload pass-through from the function's tags. A
    /// table whose keys contradict the tags is left waiting, with a warning.
    pub(crate) fn with_discovered(&self, discovered: &Discovered) -> Config {
        let mut config = self.clone();
        let Some(gateway) = config.gateway.as_mut() else {
            return config;
        };
        for pending in &gateway.pending {
            let identity = pending.leaf.identity();
            if identity.namespace() != DEFAULT_NAMESPACE
                || identity.partition() != DEFAULT_PARTITION
            {
                continue;
            }
            let name = identity.service();
            let Some(found) = discovered.get(name) else {
                continue;
            };
            let mut keys = pending.keys.clone();
            keys.function = found.arn.clone();
            keys.qualifier = found.qualifier.clone();
            keys.invocation_mode = Some(match found.invocation_mode {
                InvocationMode::Synchronous => InvocationModeFile::Synchronous,
                InvocationMode::Asynchronous => InvocationModeFile::Asynchronous,
            });
            if found.payload_passthrough {
                keys.payload_passthrough = Some(true);
            } else if keys.payload_passthrough.is_none() && keys.payload_format.is_none() {
                // Registered by the registrator, the function is invoked by Consul's Envoy.
                keys.payload_format = Some(lambda_mesh_adapter::PayloadFormat::Envoy);
            }
            let err = |key: &str, message: &str| ConfigError::File {
                file: "discovery".to_owned(),
                line: None,
                key: Some(format!("{name}.{key}")),
                message: message.to_owned(),
            };
            let mut targets = Targets::new(Vec::new());
            match invocation(name.to_owned(), gateway.listen, keys, &err, &mut targets) {
                Ok(upstream) => gateway.services.push(GatewayService {
                    leaf: pending.leaf.clone(),
                    upstream,
                }),
                Err(e) => config
                    .warnings
                    .push(format!("discovered service `{name}` not served: {e}")),
            }
        }
        config
    }
}
