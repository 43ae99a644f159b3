//! Service definitions as written for `consul services register` (HCL 1 or JSON): `service { … }`,
//! `services = [ … ]` (or repeated `services { … }` blocks), `{"Service": {…}}`. Keys match as in
//! config entries (any case, snake_case or CamelCase); every key Consul's service definition has
//! is accepted, the ones mesh-proxy has no use for are ignored, and a key Consul does not know is
//! an error, as Consul's own loader has it. What mesh-proxy takes: the service's name and, from
//! `connect.sidecar_service.proxy.upstreams` (or a `connect-proxy` registration's
//! `proxy.upstreams`), each upstream's listener and destination.

use std::path::Path;

use super::entries::fields::{join, normalize, single, Ctx, Fields};
use super::load::glob;
use super::tree::{Kind, Value};
use super::{read_tree, EntryError};

/// One service definition: who the caller is and the upstreams its sidecar listens for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceDefinition {
    /// `name` (for a `connect-proxy` registration, `proxy.destination_service_name`).
    pub name: String,
    /// `namespace`, when not empty.
    pub namespace: Option<String>,
    /// `partition`, when not empty.
    pub partition: Option<String>,
    /// The sidecar's upstreams, in file order.
    pub upstreams: Vec<ServiceUpstream>,
}

/// One upstream of a service's sidecar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceUpstream {
    /// `destination_name`: the service it calls.
    pub destination_name: String,
    /// `destination_namespace`, when not empty.
    pub destination_namespace: Option<String>,
    /// `destination_partition`, when not empty.
    pub destination_partition: Option<String>,
    /// `datacenter`, when not empty (the function is invoked by its ARN wherever it is).
    pub datacenter: Option<String>,
    /// `local_bind_address`, when not empty.
    pub local_bind_address: Option<String>,
    /// `local_bind_port` (0 picks a free port, as an `[[upstream]]`'s does).
    pub local_bind_port: u16,
    /// The file, as the configuration named it.
    pub file: String,
    /// The line of the upstream's object.
    pub line: usize,
    /// The upstream's key path: `service.connect.sidecar_service.proxy.upstreams[0]`.
    pub key: String,
}

/// Consul's service definition keys (agent/config ServiceDefinition; `connect.sidecar_service`
/// is one too), in the snake_case its documentation writes them in; any spelling matches.
const SERVICE_KEYS: &[&str] = &[
    "kind",
    "id",
    "name",
    "tags",
    "address",
    "tagged_addresses",
    "meta",
    "port",
    "socket_path",
    "check",
    "checks",
    "token",
    "weights",
    "enable_tag_override",
    "proxy",
    "connect",
    "namespace",
    "partition",
    "locality",
];
/// `connect`'s keys.
const CONNECT_KEYS: &[&str] = &["native", "sidecar_service", "proxy"];
/// `proxy`'s keys (agent/config ServiceProxy).
const PROXY_KEYS: &[&str] = &[
    "destination_service_name",
    "destination_service_id",
    "local_service_address",
    "local_service_port",
    "local_service_socket_path",
    "config",
    "upstreams",
    "mesh_gateway",
    "expose",
    "mode",
    "transparent_proxy",
    "access_logs",
];
/// An upstream's keys (agent/config Upstream).
const UPSTREAM_KEYS: &[&str] = &[
    "destination_type",
    "destination_namespace",
    "destination_partition",
    "destination_peer",
    "destination_name",
    "datacenter",
    "local_bind_address",
    "local_bind_port",
    "local_bind_socket_path",
    "local_bind_socket_mode",
    "config",
    "mesh_gateway",
    "centrally_configured",
];

/// Read the service definitions of every file `patterns` name (relative to `base` unless
/// absolute; `*` and `?` as for config entries), in the patterns' order. A path without a
/// wildcard that names no file is an error; a pattern that matches nothing is a warning.
pub(crate) fn load_services(
    patterns: &[String],
    base: &Path,
) -> Result<(Vec<ServiceDefinition>, Vec<String>), EntryError> {
    let mut services = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = Vec::new();
    for pattern in patterns {
        let error = |message: String| EntryError {
            file: pattern.clone(),
            line: None,
            key: None,
            message,
        };
        let matched = glob(pattern, base).map_err(error)?;
        if matched.is_empty() {
            if pattern.contains(['*', '?']) {
                warnings.push(format!("{pattern}: matches no service file"));
                continue;
            }
            return Err(error("no such service file".to_owned()));
        }
        for (shown, path) in matched {
            if seen.contains(&path) {
                continue;
            }
            services.extend(load_file(&shown, &path)?);
            seen.push(path);
        }
    }
    Ok((services, warnings))
}

/// Read every service definition in the file `shown` (opened at `path`).
fn load_file(shown: &str, path: &Path) -> Result<Vec<ServiceDefinition>, EntryError> {
    let text = std::fs::read_to_string(path).map_err(|e| EntryError {
        file: shown.to_owned(),
        line: None,
        key: None,
        message: format!("cannot read service file: {e}"),
    })?;
    parse(&text, shown)
}

/// The service definitions in `text` (from `file`).
pub(crate) fn parse(text: &str, file: &str) -> Result<Vec<ServiceDefinition>, EntryError> {
    let tree = read_tree(text, file)?;
    let ctx = Ctx {
        file,
        warnings: Vec::new(),
    };
    let Kind::Object(top) = &tree.kind else {
        return Err(ctx.error(tree.line, "", "a service file must be an object"));
    };
    let mut services = Vec::new();
    for item in &top.items {
        let values: Vec<&Value> = match normalize(&item.key).as_str() {
            "service" => match &item.value.kind {
                // Repeated `service { … }` blocks combine into a list, as HCL 1 has them.
                Kind::List(list) => list.iter().collect(),
                _ => vec![&item.value],
            },
            "services" => match &item.value.kind {
                Kind::List(list) => list.iter().collect(),
                _ => vec![&item.value],
            },
            // The rest of an agent configuration (`datacenter`, `ports` …) is the agent's.
            _ => {
                tracing::debug!(file, key = %item.key, "not a service definition; ignored");
                continue;
            }
        };
        let many = values.len() > 1;
        for (index, value) in values.into_iter().enumerate() {
            let path = if many {
                format!("{}[{index}]", item.key)
            } else {
                item.key.clone()
            };
            services.push(definition(&ctx, value, &path)?);
        }
    }
    if services.is_empty() {
        return Err(ctx.error(
            tree.line,
            "service",
            "no service definition (`service { … }` or `services = [ … ]`)",
        ));
    }
    Ok(services)
}

/// One service definition at `path`.
fn definition(ctx: &Ctx<'_>, value: &Value, path: &str) -> Result<ServiceDefinition, EntryError> {
    let fields = Fields::read(ctx, value, path, SERVICE_KEYS)?;
    let kind = fields.non_empty(ctx, "kind")?;
    let namespace = fields.non_empty(ctx, "namespace")?;
    let partition = fields.non_empty(ctx, "partition")?;
    let (name, proxy) = match kind.as_deref() {
        None | Some("typical") => {
            let name = fields.required(ctx, "name")?;
            let sidecar = match fields.get("connect") {
                Some(item) => {
                    let connect =
                        Fields::read(ctx, &item.value, &fields.key("connect"), CONNECT_KEYS)?;
                    match connect.get("sidecar_service") {
                        Some(item) => Some(Fields::read(
                            ctx,
                            &item.value,
                            &connect.key("sidecar_service"),
                            SERVICE_KEYS,
                        )?),
                        None => None,
                    }
                }
                None => None,
            };
            let proxy = match sidecar
                .as_ref()
                .and_then(|s| s.get("proxy").map(|p| (s, p)))
            {
                Some((sidecar, item)) => Some(Fields::read(
                    ctx,
                    &item.value,
                    &sidecar.key("proxy"),
                    PROXY_KEYS,
                )?),
                None => None,
            };
            (name, proxy)
        }
        Some("connect-proxy") => {
            let Some(item) = fields.get("proxy") else {
                return Err(fields.error(
                    ctx,
                    "proxy",
                    "a connect-proxy registration needs `proxy`",
                ));
            };
            let proxy = Fields::read(ctx, &item.value, &fields.key("proxy"), PROXY_KEYS)?;
            let name = proxy.required(ctx, "destination_service_name")?;
            (name, Some(proxy))
        }
        Some(other) => {
            let message = format!(
                "a `{other}` registration has no upstreams for mesh-proxy to serve (a typical service with `connect.sidecar_service`, or a `connect-proxy`)"
            );
            return Err(fields.error(ctx, "kind", message));
        }
    };
    let mut upstreams = Vec::new();
    if let Some(proxy) = &proxy {
        for (index, value) in proxy.list(ctx, "upstreams")?.into_iter().enumerate() {
            let key = format!("{}[{index}]", proxy.key("upstreams"));
            upstreams.push(upstream(ctx, value, key)?);
        }
    }
    if upstreams.is_empty() {
        return Err(ctx.error(
            single(value).line,
            &join(path, "connect.sidecar_service.proxy.upstreams"),
            format!("service `{name}` declares no upstreams: nothing for mesh-proxy to serve"),
        ));
    }
    Ok(ServiceDefinition {
        name,
        namespace,
        partition,
        upstreams,
    })
}

/// One upstream at `key`.
fn upstream(ctx: &Ctx<'_>, value: &Value, key: String) -> Result<ServiceUpstream, EntryError> {
    let fields = Fields::read(ctx, value, &key, UPSTREAM_KEYS)?;
    match fields.non_empty(ctx, "destination_type")?.as_deref() {
        None | Some("service") => {}
        Some("prepared_query") => {
            return Err(fields.error(
                ctx,
                "destination_type",
                "a prepared_query upstream is not supported by mesh-proxy (it invokes one function per destination service)",
            ))
        }
        Some(other) => {
            let message = format!("`{other}` is neither \"service\" nor \"prepared_query\"");
            return Err(fields.error(ctx, "destination_type", message));
        }
    }
    if fields.non_empty(ctx, "destination_peer")?.is_some() {
        return Err(fields.error(
            ctx,
            "destination_peer",
            "cluster-peering upstreams are not supported by mesh-proxy",
        ));
    }
    if fields.non_empty(ctx, "local_bind_socket_path")?.is_some() {
        return Err(fields.error(
            ctx,
            "local_bind_socket_path",
            "Unix-socket upstreams are not supported by mesh-proxy: use local_bind_port",
        ));
    }
    let destination_name = fields.required(ctx, "destination_name")?;
    let local_bind_port = port(ctx, &fields, "local_bind_port")?;
    Ok(ServiceUpstream {
        destination_name,
        destination_namespace: fields.non_empty(ctx, "destination_namespace")?,
        destination_partition: fields.non_empty(ctx, "destination_partition")?,
        datacenter: fields.non_empty(ctx, "datacenter")?,
        local_bind_address: fields.non_empty(ctx, "local_bind_address")?,
        local_bind_port,
        file: ctx.file.to_owned(),
        line: fields.line,
        key,
    })
}

/// `name` as a port number (an integer, or a string of digits as weak decoding allows).
fn port(ctx: &Ctx<'_>, fields: &Fields<'_>, name: &str) -> Result<u16, EntryError> {
    let Some(item) = fields.get(name) else {
        return Err(fields.error(ctx, name, "is required (the port the upstream listens on)"));
    };
    let value = single(&item.value);
    let number = match &value.kind {
        Kind::Int(i) => Some(*i),
        Kind::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    number
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| fields.error(ctx, name, "must be a port number 0–65535"))
}

#[cfg(test)]
mod tests;
