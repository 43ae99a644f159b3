//! `[gateway]` and its `[[gateway.service]]` tables, checked with every file they name read: the
//! trust anchors, each linked service's leaf and key, and the user's Consul config entries
//! (`service-intentions`, `service-defaults` with `builtin/aws/lambda`, `terminating-gateway`,
//! `mesh`).
//! A problem in any of them is a config error naming the file and key, so `--check` finds it.

use std::net::SocketAddr;
use std::path::Path;

use lambda_mesh_adapter::PayloadFormat;

use super::file::{GatewayFile, GatewayServiceFile, InvocationModeFile};
use super::mesh::{self, Given, Listener};
use super::overrides::parse_addr;
use super::target::Targets;
use super::validate::{invocation, non_empty, Blame, InvocationKeys};
use super::{
    ConfigError, GatewayConfig, GatewayService, InvocationMode, PendingService, UpstreamConfig,
};
use crate::consul::agent::certs::{leaf_path, ROOTS_PATH};
use crate::consul::{
    AgentEntries, Entries, EntryError, LambdaPatch, ServiceDefaults, TerminatingGateway,
};
use crate::identity::{ServiceIdentity, DEFAULT_PARTITION};
use crate::intentions::{Action, EscapedSlashes, HeadersWithUnderscores, PathNormalization};
use crate::listener::tls::policy::TlsPolicy;
use crate::listener::tls::{PemFile, ServiceLeaf, TlsConfigError, TrustAnchors};
use crate::xfcc::XfccMode;

const TABLE: &str = "gateway";
const SERVICES: &str = "gateway.service";
/// Consul's default namespace.
pub(super) const DEFAULT_NAMESPACE: &str = "default";

/// Where the gateway's certificates come from: files relative to `base`, or, where the table
/// names none, the Consul agent (`Some` when one is configured).
pub(super) struct Files<'a> {
    /// The config file's directory.
    pub base: &'a Path,
    /// The agent's answers.
    pub agent: Option<&'a AgentEntries>,
}

/// The listeners already taken, which the gateway's `listen` must not be.
pub(super) struct Taken<'a> {
    /// `[admin] listen`.
    pub admin_listen: SocketAddr,
    /// The sidecar upstreams.
    pub upstreams: &'a [UpstreamConfig],
    /// Whether `[discovery]` finds the function of a table without one (the listener's
    /// services are not all known yet).
    pub discovery: bool,
}

pub(super) fn build(
    raw: GatewayFile,
    entries: &Entries,
    warnings: &mut Vec<String>,
    blame: &Blame<'_>,
    files: Files<'_>,
    taken: Taken<'_>,
    targets: &mut Targets,
) -> Result<GatewayConfig, ConfigError> {
    let discovery = taken.discovery;
    let at = |key: &str, message: &str| blame.table(TABLE, key, message);
    let name = checked_name(&raw.name).map_err(|m| at("name", m))?;
    let listen = parse_addr(&raw.listen).map_err(|m| at("listen", &m))?;
    if listen.port() != 0 {
        if listen == taken.admin_listen {
            return Err(at("listen", "is the admin listener's port"));
        }
        if taken.upstreams.iter().any(|u| u.bind == listen) {
            return Err(at("listen", "is an [[upstream]]'s local_bind_port"));
        }
    }
    let trust_domain = raw.trust_domain.trim().to_ascii_lowercase();
    if trust_domain.is_empty() || trust_domain.contains(['/', ':', ' ']) {
        return Err(at(
            "trust_domain",
            "must be the cluster's trust domain, `<cluster-id>.consul`",
        ));
    }
    let datacenter = raw.datacenter.trim().to_owned();
    if datacenter.is_empty() {
        return Err(at("datacenter", "must be non-empty"));
    }
    let default_policy = match raw.default_policy.as_deref().map(str::trim) {
        None | Some("deny") => Action::Deny,
        Some("allow") => Action::Allow,
        Some(other) => {
            return Err(at(
                "default_policy",
                &format!("`{other}` is neither \"deny\" nor \"allow\""),
            ))
        }
    };
    let xfcc = match raw.xfcc.as_deref() {
        None => XfccMode::default(),
        Some(v) => v.trim().parse().map_err(|e| at("xfcc", &format!("{e}")))?,
    };
    let defaults = PathNormalization::default();
    let normalization = PathNormalization {
        insecure_disable_path_normalization: raw
            .insecure_disable_path_normalization
            .unwrap_or(defaults.insecure_disable_path_normalization),
        merge_slashes: raw.merge_slashes.unwrap_or(defaults.merge_slashes),
        path_with_escaped_slashes_action: match raw.path_with_escaped_slashes.as_deref() {
            None => defaults.path_with_escaped_slashes_action,
            Some(value) => EscapedSlashes::from_consul(value.trim()).ok_or_else(|| {
                at(
                    "path_with_escaped_slashes",
                    &format!("`{value}` is not one of REJECT_REQUEST, KEEP_UNCHANGED, UNESCAPE_AND_FORWARD, UNESCAPE_AND_REDIRECT"),
                )
            })?,
        },
    };
    let given = Given {
        xfcc: raw.xfcc.is_some(),
        merge_slashes: raw.merge_slashes.is_some(),
        path_with_escaped_slashes: raw.path_with_escaped_slashes.is_some(),
        insecure_disable_path_normalization: raw.insecure_disable_path_normalization.is_some(),
    };
    let ours = Listener {
        xfcc,
        normalization,
        underscores: HeadersWithUnderscores::default(),
        tls: TlsPolicy::default(),
    };
    let listener = mesh::apply(ours, mesh::for_gateway(entries), given, warnings);
    let base = files.base;
    let mut agent_paths = Vec::new();
    let roots = match (raw.ca_file.as_deref(), files.agent) {
        (Some(ca_file), _) => {
            PemFile::read(base.join(ca_file.trim())).map_err(|e| at("ca_file", &tls_message(&e)))?
        }
        (None, Some(agent)) => {
            agent_paths.push(ROOTS_PATH.to_owned());
            agent.roots().map_err(|m| at("ca_file", &m))?.ok_or_else(|| {
                at(
                    "ca_file",
                    &format!("not set, and the Consul agent has given no CA roots (GET {ROOTS_PATH})"),
                )
            })?
        }
        (None, None) => {
            return Err(at(
                "ca_file",
                "is required without a Consul agent ([consul] address or CONSUL_HTTP_ADDR)",
            ))
        }
    };
    let anchors = TrustAnchors::from_pem(&roots).map_err(|e| at("ca_file", &tls_message(&e)))?;

    let linked = entries
        .terminating_gateways
        .iter()
        .find(|g| g.name == name && in_default(g.namespace.as_deref(), g.partition.as_deref()));
    if raw.services.is_empty() {
        return Err(at(
            "service",
            "no [[gateway.service]] tables: the gateway would serve nothing",
        ));
    }
    let mut services = Vec::with_capacity(raw.services.len());
    let mut pending = Vec::new();
    for (index, service) in raw.services.into_iter().enumerate() {
        let err = |key: &str, message: &str| blame.in_array(SERVICES, index, key, message);
        let service_name = checked_name(&service.name).map_err(|m| err("name", m))?;
        let namespace = non_empty(service.namespace.clone());
        let partition = non_empty(service.partition.clone());
        let identity = ServiceIdentity::new(
            trust_domain.clone(),
            namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            datacenter.clone(),
            service_name.clone(),
        )
        .with_partition(partition.clone().unwrap_or_default());
        if services
            .iter()
            .any(|s: &GatewayService| s.leaf.identity() == &identity)
        {
            return Err(err("name", "is linked twice"));
        }
        if let Some(gateway) = linked {
            if !links(gateway, &identity) {
                warnings.push(format!(
                    "[[gateway.service]] `{service_name}` is not among the services of the terminating-gateway entry `{name}` ({}): not served",
                    gateway.file
                ));
                continue;
            }
        }
        let (cert, key) = match (&service.cert_file, &service.key_file, files.agent) {
            (Some(cert), Some(key), _) => (
                PemFile::read(base.join(cert.trim()))
                    .map_err(|e| err("cert_file", &tls_message(&e)))?,
                PemFile::read(base.join(key.trim()))
                    .map_err(|e| err("key_file", &tls_message(&e)))?,
            ),
            (None, None, Some(agent)) => {
                let path = leaf_path(&service_name);
                agent_paths.push(path.clone());
                agent.leaf(&service_name).map_err(|m| err("cert_file", &m))?.ok_or_else(|| {
                    err(
                        "cert_file",
                        &format!("not set, and the Consul agent has given no leaf for `{service_name}` (GET {path})"),
                    )
                })?
            }
            (None, None, None) => {
                return Err(err(
                    "cert_file",
                    "is required without a Consul agent ([consul] address or CONSUL_HTTP_ADDR)",
                ))
            }
            (Some(_), None, _) => return Err(err("key_file", "is required with cert_file")),
            (None, Some(_), _) => return Err(err("cert_file", "is required with key_file")),
        };
        let leaf = ServiceLeaf::from_pem(identity.clone(), &cert, &key).map_err(|e| {
            let key_name = match e {
                TlsConfigError::BadKey { .. } | TlsConfigError::KeyMismatch { .. } => "key_file",
                _ => "cert_file",
            };
            err(key_name, &tls_message(&e))
        })?;
        let defaults = entries
            .service_defaults
            .iter()
            .find(|d| defaults_for(d, &identity));
        if discovery && defaults.is_none() && non_empty(service.function.clone()).is_none() {
            let keys = pending_keys(service);
            pending.push(PendingService { leaf, keys });
            continue;
        }
        let keys = invocation_keys(service, defaults, warnings).map_err(|m| err("function", &m))?;
        let upstream = invocation(service_name, listen, keys, &err, targets)?;
        services.push(GatewayService { leaf, upstream });
    }
    if let Some(gateway) = linked {
        for wanted in &gateway.services {
            let configured = services.iter().any(|s| {
                wanted.name == s.leaf.identity().service()
                    && wanted.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
                        == s.leaf.identity().namespace()
            });
            let waiting = pending
                .iter()
                .any(|p: &PendingService| wanted.name == p.leaf.identity().service());
            if wanted.name != "*" && !configured && !waiting {
                warnings.push(format!(
                    "terminating-gateway `{name}` ({}) links `{}`, which has no [[gateway.service]] with its certificate: skipped",
                    gateway.file, wanted.name
                ));
            }
        }
    }
    if services.is_empty() && pending.is_empty() {
        return Err(at(
            "service",
            "no linked service is left to serve (see the terminating-gateway entry)",
        ));
    }
    Ok(GatewayConfig {
        name,
        listen,
        trust_domain,
        datacenter,
        anchors,
        default_policy,
        xfcc: listener.xfcc,
        normalization: listener.normalization,
        underscores: listener.underscores,
        tls: listener.tls,
        services,
        pending,
        intentions: entries.intentions.clone(),
        agent_paths,
    })
}

/// The keys of a linked service discovery is to find the function of: `function` and
/// `qualifier` come from the function's tags.
fn pending_keys(service: GatewayServiceFile) -> InvocationKeys {
    InvocationKeys {
        function: String::new(),
        qualifier: None,
        invocation_mode: service.invocation_mode,
        payload_passthrough: service.payload_passthrough,
        payload_format: service.payload_format,
        response_streaming: service.response_streaming,
        timeout: service.timeout,
        max_concurrency: service.max_concurrency,
        retries: service.retries,
    }
}

/// The linked service's invocation keys, its `function` (and unset passthrough and mode) taken
/// from its service-defaults entry when the table has none.
fn invocation_keys(
    service: GatewayServiceFile,
    defaults: Option<&ServiceDefaults>,
    warnings: &mut Vec<String>,
) -> Result<InvocationKeys, String> {
    let lambda: Option<&LambdaPatch> = defaults.and_then(|d| d.lambda.as_ref());
    let from_entry = non_empty(service.function.clone()).is_none();
    let function = match (non_empty(service.function), lambda) {
        (Some(function), Some(_)) => {
            if let Some(d) = defaults {
                warnings.push(format!(
                    "[[gateway.service]] `{}` names its function; the builtin/aws/lambda ARN in {} is not used",
                    service.name, d.file
                ));
            }
            function
        }
        (Some(function), None) => function,
        (None, Some(lambda)) => lambda.arn.clone(),
        (None, None) => {
            return Err(format!(
                "`{}` has no `function`, and no service-defaults entry with a builtin/aws/lambda extension names one",
                service.name
            ))
        }
    };
    let invocation_mode = match (service.invocation_mode, lambda) {
        (Some(mode), _) => Some(mode),
        (None, Some(lambda)) if from_entry => Some(match lambda.invocation_mode {
            InvocationMode::Asynchronous => InvocationModeFile::Asynchronous,
            InvocationMode::Synchronous => InvocationModeFile::Synchronous,
        }),
        (None, _) => None,
    };
    // From the entry, the payload is what Envoy's aws_lambda filter sends behind Consul.
    let payload_format = match (service.payload_format, service.payload_passthrough, lambda) {
        (None, None, Some(lambda)) if from_entry => Some(entry_payload(lambda)),
        (format, _, _) => format,
    };
    Ok(InvocationKeys {
        function,
        qualifier: service.qualifier,
        invocation_mode,
        payload_passthrough: service.payload_passthrough,
        payload_format,
        response_streaming: service.response_streaming,
        timeout: service.timeout,
        max_concurrency: service.max_concurrency,
        retries: service.retries,
    })
}

/// The payload a `builtin/aws/lambda` extension gives its function: Envoy's `aws_lambda` JSON, or
/// the body itself with `PayloadPassthrough`.
pub(super) fn entry_payload(lambda: &LambdaPatch) -> PayloadFormat {
    if lambda.payload_passthrough {
        PayloadFormat::PassThrough
    } else {
        PayloadFormat::Envoy
    }
}

pub(super) fn checked_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err("must be non-empty letters, digits, `-`, `_` or `.`")
    }
}

fn in_default(namespace: Option<&str>, partition: Option<&str>) -> bool {
    namespace.unwrap_or(DEFAULT_NAMESPACE) == DEFAULT_NAMESPACE
        && partition.unwrap_or(DEFAULT_PARTITION) == DEFAULT_PARTITION
}

/// Whether the terminating-gateway entry links `identity` (a `*` name links its namespace).
fn links(gateway: &TerminatingGateway, identity: &ServiceIdentity) -> bool {
    gateway.services.iter().any(|s| {
        (s.name == "*" || s.name == identity.service())
            && s.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE) == identity.namespace()
            && s.partition.as_deref().unwrap_or(DEFAULT_PARTITION) == identity.partition()
    })
}

fn defaults_for(defaults: &ServiceDefaults, identity: &ServiceIdentity) -> bool {
    defaults.name == identity.service()
        && defaults.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE) == identity.namespace()
        && defaults.partition.as_deref().unwrap_or(DEFAULT_PARTITION) == identity.partition()
}

/// A TLS material error without the path (the config error names the file already).
fn tls_message(e: &TlsConfigError) -> String {
    e.to_string()
}

pub(super) fn entry_error(e: EntryError) -> ConfigError {
    ConfigError::File {
        file: e.file,
        line: e.line,
        key: e.key,
        message: e.message,
    }
}
