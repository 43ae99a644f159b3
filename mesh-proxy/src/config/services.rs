//! `[consul] service_files` (or `--service-file`): the user's service definitions, exactly as
//! written for `consul services register`. Each upstream of a service's sidecar becomes an
//! upstream listener on its `local_bind_address:local_bind_port`; the function behind it is the
//! destination's `service-defaults` entry (its `builtin/aws/lambda` ARN, payload passthrough and
//! invocation mode), unless an `[[upstream]]` with the same `destination_name` says otherwise.

use std::net::{IpAddr, SocketAddr};

use super::file::InvocationModeFile;
use super::gateway::{checked_name, entry_payload, DEFAULT_NAMESPACE};
use super::target::Targets;
use super::validate::{invocation, InvocationKeys};
use super::{ConfigError, InvocationMode, SidecarService, UpstreamConfig, DEFAULT_BIND_ADDRESS};
use crate::consul::{Entries, ServiceDefaults, ServiceDefinition, ServiceUpstream};
use crate::identity::DEFAULT_PARTITION;

/// What the service files add: the upstreams to serve, and who the caller is.
pub(super) struct FromServices {
    /// Upstreams no `[[upstream]]` overrides, in file order.
    pub upstreams: Vec<UpstreamConfig>,
    /// Where each of `upstreams` was written.
    pub origins: Vec<ServiceUpstream>,
    /// Each service definition read.
    pub services: Vec<SidecarService>,
}

/// Turn the upstreams of the service `definitions` into upstream configs. `configured` are the
/// `[[upstream]]` tables of `origin` (they win over a service file's upstream of the same
/// destination); notes go to `warnings`.
pub(super) fn build(
    definitions: &[ServiceDefinition],
    entries: &Entries,
    configured: &[UpstreamConfig],
    origin: &str,
    warnings: &mut Vec<String>,
    targets: &mut Targets,
) -> Result<FromServices, ConfigError> {
    let mut upstreams: Vec<UpstreamConfig> = Vec::new();
    let mut origins = Vec::new();
    let mut seen: Vec<(&str, String)> = Vec::new();
    let mut services = Vec::with_capacity(definitions.len());
    for definition in definitions {
        for raw in &definition.upstreams {
            let at = |key: &str, message: &str| blame(raw, key, message);
            let name =
                checked_name(&raw.destination_name).map_err(|m| at("destination_name", m))?;
            if let Some((_, first)) = seen.iter().find(|(d, _)| *d == name) {
                let message = format!("is also an upstream at {first}");
                return Err(at("destination_name", &message));
            }
            seen.push((&raw.destination_name, format!("{}:{}", raw.file, raw.line)));
            let bind = bind(raw)?;
            if let Some(toml) = configured.iter().find(|u| u.destination_name == name) {
                if toml.bind != bind {
                    warnings.push(format!(
                        "{}:{}: upstream `{name}` listens on {} as the [[upstream]] in {origin} says, not on {bind}",
                        raw.file, raw.line, toml.bind
                    ));
                }
                continue;
            }
            let defaults = defaults_for(definition, raw, &entries.service_defaults);
            let keys = keys(raw, &name, defaults, origin)?;
            // Only the entry's ARN can be wrong here; the entry was read already.
            let err = |key: &str, message: &str| match defaults {
                Some(d) if key == "function" => ConfigError::File {
                    file: d.file.clone(),
                    line: None,
                    key: Some("EnvoyExtensions.Arguments.ARN".to_owned()),
                    message: message.to_owned(),
                },
                _ => at(key, message),
            };
            let upstream = invocation(name, bind, keys, &err, targets)?;
            upstreams.push(upstream);
            origins.push(raw.clone());
        }
        services.push(SidecarService {
            name: definition.name.clone(),
            namespace: definition.namespace.clone(),
            partition: definition.partition.clone(),
            upstreams: definition
                .upstreams
                .iter()
                .map(|u| u.destination_name.clone())
                .collect(),
        });
    }
    Ok(FromServices {
        upstreams,
        origins,
        services,
    })
}

/// A config error at `key` of the upstream `raw` (its file, line and key path).
pub(super) fn blame(raw: &ServiceUpstream, key: &str, message: &str) -> ConfigError {
    ConfigError::File {
        file: raw.file.clone(),
        line: Some(raw.line),
        key: Some(format!("{}.{key}", raw.key)),
        message: message.to_owned(),
    }
}

/// `local_bind_address` (default 127.0.0.1, as Consul's) and `local_bind_port`.
fn bind(raw: &ServiceUpstream) -> Result<SocketAddr, ConfigError> {
    let address: IpAddr = match &raw.local_bind_address {
        Some(v) => v
            .parse()
            .map_err(|_| blame(raw, "local_bind_address", "is not an IP address"))?,
        None => DEFAULT_BIND_ADDRESS,
    };
    Ok(SocketAddr::new(address, raw.local_bind_port))
}

/// The destination's `service-defaults` entry: same name, and the upstream's namespace and
/// partition (which default to the calling service's, as Consul's do).
fn defaults_for<'a>(
    service: &ServiceDefinition,
    raw: &ServiceUpstream,
    all: &'a [ServiceDefaults],
) -> Option<&'a ServiceDefaults> {
    let namespace = raw
        .destination_namespace
        .as_deref()
        .or(service.namespace.as_deref())
        .unwrap_or(DEFAULT_NAMESPACE);
    let partition = raw
        .destination_partition
        .as_deref()
        .or(service.partition.as_deref())
        .unwrap_or(DEFAULT_PARTITION);
    all.iter().find(|d| {
        d.name == raw.destination_name
            && d.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE) == namespace
            && d.partition.as_deref().unwrap_or(DEFAULT_PARTITION) == partition
    })
}

/// The invocation keys from the destination's `builtin/aws/lambda` extension; the rest default.
fn keys(
    raw: &ServiceUpstream,
    name: &str,
    defaults: Option<&ServiceDefaults>,
    origin: &str,
) -> Result<InvocationKeys, ConfigError> {
    let missing = match defaults {
        None => format!(
            "upstream `{name}` has no function: no service-defaults entry for `{name}` in [consul] config_entries, and no [[upstream]] with destination_name = \"{name}\" in {origin}"
        ),
        Some(d) if d.lambda.is_none() => format!(
            "upstream `{name}` has no function: its service-defaults entry ({}) has no builtin/aws/lambda extension, and no [[upstream]] with destination_name = \"{name}\" in {origin}",
            d.file
        ),
        Some(_) => String::new(),
    };
    let Some(lambda) = defaults.and_then(|d| d.lambda.as_ref()) else {
        return Err(blame(raw, "destination_name", &missing));
    };
    Ok(InvocationKeys {
        function: lambda.arn.clone(),
        qualifier: None,
        invocation_mode: Some(match lambda.invocation_mode {
            InvocationMode::Asynchronous => InvocationModeFile::Asynchronous,
            InvocationMode::Synchronous => InvocationModeFile::Synchronous,
        }),
        payload_passthrough: None,
        payload_format: Some(entry_payload(lambda)),
        response_streaming: None,
        timeout: None,
        max_concurrency: None,
        retries: None,
    })
}

#[cfg(test)]
mod tests;
