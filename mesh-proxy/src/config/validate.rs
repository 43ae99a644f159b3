//! From the file as written to a checked [`Config`]: defaults, ARNs, and the rules between keys.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use lambda_mesh_adapter::PayloadFormat;

use super::file::{FileConfig, InvocationModeFile, UpstreamFile};
use super::gateway::entry_error;
use super::locate::{self, Location};
use super::overrides::{check_url, parse_addr, parse_format};
use super::target::{check_qualifier, parse_function, Targets};
use super::*;
use super::{services, sidecar};
use crate::consul;

/// Names the place a semantic problem is in.
pub(super) struct Blame<'a> {
    text: &'a str,
    origin: &'a str,
}

impl<'a> Blame<'a> {
    /// Blame places in `text`, the file `origin`.
    pub(super) fn new(text: &'a str, origin: &'a str) -> Blame<'a> {
        Blame { text, origin }
    }

    /// The config file's name, as given.
    pub(super) fn origin(&self) -> &str {
        self.origin
    }

    pub(super) fn at(&self, location: Location, message: impl Into<String>) -> ConfigError {
        ConfigError::File {
            file: self.origin.to_owned(),
            line: location.line,
            key: location.key,
            message: message.into(),
        }
    }

    fn upstream(&self, index: usize, key: &str, message: impl Into<String>) -> ConfigError {
        self.in_array("upstream", index, key, message)
    }

    /// A key of the `index`-th `[[table]]`.
    pub(super) fn in_array(
        &self,
        table: &str,
        index: usize,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        self.at(locate::of_key(self.text, table, Some(index), key), message)
    }

    pub(super) fn table(&self, table: &str, key: &str, message: impl Into<String>) -> ConfigError {
        self.at(locate::of_key(self.text, table, None, key), message)
    }

    fn top(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let line = self
            .text
            .lines()
            .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key));
        self.at(
            Location {
                line: line.map(|n| n + 1),
                key: Some(key.to_owned()),
            },
            message,
        )
    }
}

/// The checked config, and for each bare function name AWS Lambda would be called with, the
/// error to give if no region is found for it (which needs the environment: [`Config::load`]).
pub(super) fn build(
    file: FileConfig,
    text: &str,
    origin: &str,
    base: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    agent: &AgentEntries,
) -> Result<(Config, Vec<ConfigError>), ConfigError> {
    let blame = Blame { text, origin };
    let mut sources = sources(&file, base);
    let consul_agent =
        super::agent::resolve(&file.consul, &blame, base, lookup, &mut sources.files)?;
    let log_format = match &file.log_format {
        Some(v) => parse_format(v).map_err(|m| blame.top("log_format", m))?,
        None => LogFormat::default(),
    };
    let drain_timeout = match file.drain_timeout {
        Some(secs) => {
            seconds(secs, MAX_LISTENER_TIMEOUT).map_err(|m| blame.top("drain_timeout", m))?
        }
        None => DEFAULT_DRAIN_TIMEOUT,
    };
    let connections = connection_limits(&file, &blame)?;
    let admin_listen = match &file.admin.listen {
        Some(v) => parse_addr(v).map_err(|m| blame.table("admin", "listen", m))?,
        None => DEFAULT_ADMIN_LISTEN
            .parse()
            .map_err(|_| blame.table("admin", "listen", "bad default"))?,
    };
    let endpoint_url = file
        .aws
        .endpoint_url
        .clone()
        .map(|v| check_url(v).map_err(|m| blame.table("aws", "endpoint_url", m)))
        .transpose()?;
    let aws = AwsSettings {
        region: non_empty(file.aws.region.clone()),
        endpoint_url,
        profile: non_empty(file.aws.profile.clone()),
    };

    let mut functions = file.functions;
    let mut function_names = HashSet::new();
    for (index, function) in functions.iter_mut().enumerate() {
        function.resolve_paths(base);
        function.validate().map_err(|e| {
            // Blame the key the emulator names (`code`, `layers`, `timeout` …).
            let (key, message) = match e {
                lambda_mesh_emulator::ConfigError::Invalid {
                    function,
                    key,
                    message,
                } => (key, format!("function `{function}`: {message}")),
                e => ("name", e.to_string()),
            };
            blame.at(locate::of_key(text, "function", Some(index), key), message)
        })?;
        if !function_names.insert(function.name.clone()) {
            return Err(blame.at(
                locate::of_key(text, "function", Some(index), "name"),
                format!("function `{}` is defined twice", function.name),
            ));
        }
    }

    let mut targets = Targets::new(functions.iter().map(|f| f.name.clone()));
    let mut warnings = Vec::new();
    let mut entries = consul::load(&file.consul.config_entries, base)
        .map_err(|e| unreadable(e, &blame, "config_entries", &file.consul.config_entries))?;
    agent.merge_into(&mut entries).map_err(entry_error)?;
    warnings.extend(entries.warnings.iter().cloned());
    let (definitions, found) = consul::load_services(&file.consul.service_files, base)
        .map_err(|e| unreadable(e, &blame, "service_files", &file.consul.service_files))?;
    warnings.extend(found);
    let mut upstreams = Vec::with_capacity(file.upstreams.len());
    for (index, raw) in file.upstreams.into_iter().enumerate() {
        let upstream = upstream(raw, index, &blame, &mut targets)?;
        check_upstream(&upstream, &upstreams, admin_listen)
            .map_err(|(key, m)| blame.upstream(index, key, &m))?;
        upstreams.push(upstream);
    }
    let sidecar = services::build(
        &definitions,
        &entries,
        &upstreams,
        origin,
        &mut warnings,
        &mut targets,
    )?;
    for (upstream, raw) in sidecar.upstreams.into_iter().zip(sidecar.origins) {
        check_upstream(&upstream, &upstreams, admin_listen)
            .map_err(|(key, m)| services::blame(&raw, key, &m))?;
        upstreams.push(upstream);
    }
    let sidecar_intentions = sidecar::build(
        file.service.as_ref(),
        &definitions,
        &upstreams,
        &entries,
        &blame,
        &mut warnings,
    )?;
    if upstreams.is_empty() && file.gateway.is_none() {
        return Err(blame.at(
            Location {
                line: None,
                key: Some("upstream".into()),
            },
            "no [[upstream]] tables, no upstreams in [consul] service_files and no [gateway]: nothing to serve",
        ));
    }
    let discovery = super::discovery::build(file.discovery, &blame)?;
    if discovery.is_some() {
        if file.gateway.is_none() {
            return Err(blame.table(
                "discovery",
                "aws_tags",
                "needs a [gateway]: discovered functions are its linked services",
            ));
        }
        if aws.region.is_none() {
            targets.regionless.push(blame.table(
                "discovery",
                "aws_tags",
                "no region to list functions in: set [aws] region, MESH_PROXY_AWS_REGION or AWS_REGION",
            ));
        }
    }
    let gateway = match file.gateway {
        Some(raw) => Some(super::gateway::build(
            raw,
            &entries,
            &mut warnings,
            &blame,
            super::gateway::Files {
                base,
                agent: consul_agent.is_some().then_some(agent),
            },
            super::gateway::Taken {
                admin_listen,
                upstreams: &upstreams,
                discovery: discovery.is_some(),
            },
            &mut targets,
        )?),
        None => None,
    };
    warnings.extend(targets.warnings);
    let config = Config {
        log_format,
        drain_timeout,
        connections,
        admin_listen,
        aws,
        upstreams,
        functions,
        gateway,
        services: sidecar.services,
        sidecar: sidecar_intentions,
        discovery,
        consul_agent,
        warnings,
        sources,
    };
    Ok((config, targets.regionless))
}

/// The files and directories `file` reads besides itself.
fn sources(file: &FileConfig, base: &Path) -> Sources {
    let mut sources = Sources::default();
    let Sources { files, dirs } = &mut sources;
    consul::sources(&file.consul.config_entries, base, files, dirs);
    consul::sources(&file.consul.service_files, base, files, dirs);
    if let Some(gateway) = &file.gateway {
        files.extend(gateway.ca_file.iter().map(|f| base.join(f.trim())));
        for service in &gateway.services {
            files.extend(service.cert_file.iter().map(|f| base.join(f.trim())));
            files.extend(service.key_file.iter().map(|f| base.join(f.trim())));
        }
    }
    files.sort();
    files.dedup();
    dirs.sort();
    dirs.dedup();
    sources
}

/// A Consul file error: one a `[consul] key` pattern names that cannot be read is blamed on the
/// pattern's key; a problem inside a file, on the file.
fn unreadable(
    e: consul::EntryError,
    blame: &Blame<'_>,
    key: &str,
    patterns: &[String],
) -> ConfigError {
    match (&e.line, &e.key) {
        (None, None) if patterns.contains(&e.file) => {
            blame.table("consul", key, format!("`{}`: {}", e.file, e.message))
        }
        _ => entry_error(e),
    }
}

/// Whether `upstream` can join `upstreams`: a name and a port of its own, not the admin's. The
/// error is the key to blame and why.
fn check_upstream(
    upstream: &UpstreamConfig,
    upstreams: &[UpstreamConfig],
    admin_listen: SocketAddr,
) -> Result<(), (&'static str, String)> {
    let name = &upstream.destination_name;
    if upstreams.iter().any(|u| u.destination_name == *name) {
        return Err((
            "destination_name",
            format!("`{name}` is used by two upstreams"),
        ));
    }
    let port = upstream.bind.port();
    if let Some(other) = upstreams.iter().find(|u| u.bind == upstream.bind) {
        if port != 0 {
            let message = format!(
                "used by two upstreams ({} is also upstream `{}`'s)",
                upstream.bind, other.destination_name
            );
            return Err(("local_bind_port", message));
        }
    }
    if upstream.bind == admin_listen && admin_listen.port() != 0 {
        let message = format!("is the admin listener's port ({admin_listen})");
        return Err(("local_bind_port", message));
    }
    Ok(())
}

/// `header_timeout`, `idle_timeout`, `write_timeout`, `max_connections`.
fn connection_limits(
    file: &FileConfig,
    blame: &Blame<'_>,
) -> Result<ConnectionLimits, ConfigError> {
    let defaults = ConnectionLimits::default();
    let timeout = |key: &str, value: Option<f64>, default: Duration| match value {
        Some(secs) => seconds(secs, MAX_LISTENER_TIMEOUT).map_err(|m| blame.top(key, m)),
        None => Ok(default),
    };
    let max_connections = match file.max_connections {
        Some(0) => return Err(blame.top("max_connections", "must be at least 1")),
        Some(n) => n as usize,
        None => defaults.max_connections,
    };
    Ok(ConnectionLimits {
        header_timeout: timeout(
            "header_timeout",
            file.header_timeout,
            defaults.header_timeout,
        )?,
        idle_timeout: timeout("idle_timeout", file.idle_timeout, defaults.idle_timeout)?,
        write_timeout: timeout("write_timeout", file.write_timeout, defaults.write_timeout)?,
        max_connections,
    })
}

fn upstream(
    raw: UpstreamFile,
    index: usize,
    blame: &Blame<'_>,
    targets: &mut Targets,
) -> Result<UpstreamConfig, ConfigError> {
    let err = |key: &str, message: &str| blame.upstream(index, key, message);
    let name = raw.destination_name.trim().to_owned();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(err(
            "destination_name",
            "must be non-empty letters, digits, `-`, `_` or `.`",
        ));
    }
    let address: IpAddr = match &raw.local_bind_address {
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| err("local_bind_address", "is not an IP address"))?,
        None => DEFAULT_BIND_ADDRESS,
    };
    let keys = InvocationKeys {
        function: raw.function,
        qualifier: raw.qualifier,
        invocation_mode: raw.invocation_mode,
        payload_passthrough: raw.payload_passthrough,
        payload_format: raw.payload_format,
        response_streaming: raw.response_streaming,
        timeout: raw.timeout,
        max_concurrency: raw.max_concurrency,
        retries: raw.retries,
    };
    invocation(
        name,
        SocketAddr::new(address, raw.local_bind_port),
        keys,
        &err,
        targets,
    )
}

/// The keys `[[upstream]]` and `[[gateway.service]]` share: how the function is invoked.
#[derive(Debug, Clone)]
pub(super) struct InvocationKeys {
    pub function: String,
    pub qualifier: Option<String>,
    pub invocation_mode: Option<InvocationModeFile>,
    pub payload_passthrough: Option<bool>,
    pub payload_format: Option<PayloadFormat>,
    pub response_streaming: Option<bool>,
    pub timeout: Option<f64>,
    pub max_concurrency: Option<u32>,
    pub retries: Option<u32>,
}

/// Check the invocation keys of the upstream (or linked service) `name`; `err` blames a key,
/// `targets` notes where its function goes.
pub(super) fn invocation(
    name: String,
    bind: SocketAddr,
    raw: InvocationKeys,
    err: &dyn Fn(&str, &str) -> ConfigError,
    targets: &mut Targets,
) -> Result<UpstreamConfig, ConfigError> {
    let target = parse_function(&raw.function).map_err(|m| err("function", &m))?;
    targets.note(&target, err);
    let qualifier = non_empty(raw.qualifier);
    if let Some(qualifier) = &qualifier {
        check_qualifier(qualifier).map_err(|m| err("qualifier", &m))?;
    }
    let qualifier = match (qualifier, target.qualifier) {
        (Some(q), Some(a)) if q != a => {
            return Err(err(
                "qualifier",
                "differs from the qualifier in the function ARN",
            ))
        }
        (q, a) => q.or(a),
    };
    let invocation_mode = match raw.invocation_mode {
        Some(InvocationModeFile::Asynchronous) => InvocationMode::Asynchronous,
        Some(InvocationModeFile::Synchronous) | None => InvocationMode::Synchronous,
    };
    let payload_format = match (raw.payload_passthrough, raw.payload_format) {
        (Some(true), Some(PayloadFormat::PassThrough)) | (Some(true), None) => {
            PayloadFormat::PassThrough
        }
        (Some(true), Some(_)) => {
            return Err(err(
                "payload_format",
                "contradicts payload_passthrough = true (which means \"passthrough\")",
            ))
        }
        (Some(false), Some(PayloadFormat::PassThrough)) => {
            return Err(err(
                "payload_format",
                "\"passthrough\" contradicts payload_passthrough = false",
            ))
        }
        (_, Some(format)) => format,
        (_, None) => PayloadFormat::V2,
    };
    let response_streaming = raw.response_streaming.unwrap_or(false);
    if response_streaming && invocation_mode == InvocationMode::Asynchronous {
        return Err(err(
            "response_streaming",
            "cannot be combined with invocation_mode = \"asynchronous\"",
        ));
    }
    let timeout = match raw.timeout {
        Some(secs) => seconds(secs, MAX_TIMEOUT).map_err(|m| err("timeout", &m))?,
        None => DEFAULT_TIMEOUT,
    };
    let max_concurrency = match raw.max_concurrency {
        Some(0) => return Err(err("max_concurrency", "must be at least 1")),
        Some(n) => n as usize,
        None => DEFAULT_MAX_CONCURRENCY,
    };
    let retries = raw.retries.unwrap_or(DEFAULT_RETRIES);
    if retries > MAX_RETRIES {
        return Err(err("retries", &format!("must be at most {MAX_RETRIES}")));
    }
    Ok(UpstreamConfig {
        destination_name: name,
        bind,
        function: target.function,
        qualifier,
        arn_region: target.region,
        invocation_mode,
        payload_format,
        response_streaming,
        timeout,
        max_concurrency,
        retries,
    })
}

pub(super) fn seconds(secs: f64, max: Duration) -> Result<Duration, String> {
    if !secs.is_finite() || secs <= 0.0 {
        return Err("must be a positive number of seconds".into());
    }
    let duration = Duration::from_secs_f64(secs);
    if duration > max {
        return Err(format!("must be at most {} seconds", max.as_secs()));
    }
    Ok(duration)
}

pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
