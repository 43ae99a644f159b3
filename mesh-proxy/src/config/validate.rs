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
use super::*;
use super::{services, sidecar};
use crate::consul;

/// Names the place a semantic problem is in.
pub(super) struct Blame<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Blame<'_> {
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

pub(super) fn build(
    file: FileConfig,
    text: &str,
    origin: &str,
    base: &Path,
) -> Result<Config, ConfigError> {
    let blame = Blame { text, origin };
    let sources = sources(&file, base);
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
            blame.at(
                locate::of_key(text, "function", Some(index), "name"),
                e.to_string(),
            )
        })?;
        if !function_names.insert(function.name.clone()) {
            return Err(blame.at(
                locate::of_key(text, "function", Some(index), "name"),
                format!("function `{}` is defined twice", function.name),
            ));
        }
    }

    let mut warnings = Vec::new();
    let entries = consul::load(&file.consul.config_entries, base)
        .map_err(|e| unreadable(e, &blame, "config_entries", &file.consul.config_entries))?;
    warnings.extend(entries.warnings.iter().cloned());
    let (definitions, found) = consul::load_services(&file.consul.service_files, base)
        .map_err(|e| unreadable(e, &blame, "service_files", &file.consul.service_files))?;
    warnings.extend(found);
    let mut upstreams = Vec::with_capacity(file.upstreams.len());
    for (index, raw) in file.upstreams.into_iter().enumerate() {
        let upstream = upstream(raw, index, &blame)?;
        check_upstream(&upstream, &upstreams, admin_listen)
            .map_err(|(key, m)| blame.upstream(index, key, &m))?;
        upstreams.push(upstream);
    }
    let sidecar = services::build(&definitions, &entries, &upstreams, origin, &mut warnings)?;
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
    let gateway = match file.gateway {
        Some(raw) => Some(super::gateway::build(
            raw,
            &entries,
            &mut warnings,
            &blame,
            base,
            admin_listen,
            &upstreams,
        )?),
        None => None,
    };
    Ok(Config {
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
        warnings,
        sources,
    })
}

/// The files and directories `file` reads besides itself.
fn sources(file: &FileConfig, base: &Path) -> Sources {
    let mut sources = Sources::default();
    let Sources { files, dirs } = &mut sources;
    consul::sources(&file.consul.config_entries, base, files, dirs);
    consul::sources(&file.consul.service_files, base, files, dirs);
    if let Some(gateway) = &file.gateway {
        files.push(base.join(gateway.ca_file.trim()));
        for service in &gateway.services {
            files.push(base.join(service.cert_file.trim()));
            files.push(base.join(service.key_file.trim()));
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
    )
}

/// The keys `[[upstream]]` and `[[gateway.service]]` share: how the function is invoked.
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

/// Check the invocation keys of the upstream (or linked service) `name`; `err` blames a key.
pub(super) fn invocation(
    name: String,
    bind: SocketAddr,
    raw: InvocationKeys,
    err: &dyn Fn(&str, &str) -> ConfigError,
) -> Result<UpstreamConfig, ConfigError> {
    let (function, arn_region, arn_qualifier) =
        parse_function(&raw.function).map_err(|m| err("function", &m))?;
    let qualifier = match (non_empty(raw.qualifier), arn_qualifier) {
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
        function,
        qualifier,
        arn_region,
        invocation_mode,
        payload_format,
        response_streaming,
        timeout,
        max_concurrency,
        retries,
    })
}

/// A function name, or an ARN `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`
/// split into (function, region, qualifier). Names keep any `:qualifier` suffix off.
pub(super) fn parse_function(
    value: &str,
) -> Result<(String, Option<String>, Option<String>), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must name a function or an ARN".into());
    }
    if !value.starts_with("arn:") {
        return match value.split_once(':') {
            Some((name, qualifier)) if valid_name(name) && valid_name(qualifier) => {
                Ok((name.to_owned(), None, Some(qualifier.to_owned())))
            }
            None if valid_name(value) => Ok((value.to_owned(), None, None)),
            _ => Err(format!("`{value}` is not a function name or ARN")),
        };
    }
    let parts: Vec<&str> = value.split(':').collect();
    let bad = || {
        format!(
            "`{value}` is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
        )
    };
    if !(7..=8).contains(&parts.len()) || parts[2] != "lambda" || parts[5] != "function" {
        return Err(bad());
    }
    let region = parts[3];
    if region.is_empty() || !valid_name(parts[6]) {
        return Err(bad());
    }
    let qualifier = parts.get(7).map(|q| (*q).to_owned());
    if qualifier.as_deref().is_some_and(|q| !valid_name(q)) {
        return Err(bad());
    }
    Ok((parts[..7].join(":"), Some(region.to_owned()), qualifier))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 140
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'))
}

fn seconds(secs: f64, max: Duration) -> Result<Duration, String> {
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
