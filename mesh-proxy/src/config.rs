//! mesh-proxy's configuration: one TOML file in Consul's words, overridden by `MESH_PROXY_*`
//! variables and then by command-line flags (flag > env > file).

mod agent;
mod discovery;
mod file;
mod gateway;
mod locate;
mod mesh;
mod overrides;
mod region;
mod services;
mod sidecar;
mod target;
mod validate;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_mesh_adapter::PayloadFormat;
use lambda_mesh_emulator::FunctionConfig;

#[cfg(test)]
pub(crate) use agent::AclToken;
pub use agent::{AgentPrelude, ConsulAgent};
pub use overrides::{FlagValues, Overrides};
pub(crate) use sidecar::display as display_identity;
pub(crate) use target::check_function_arn;

pub use crate::consul::AgentEntries;
pub use crate::listener::ConnectionLimits;

/// Default admin listener address (Envoy's usual admin port).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:19000";
/// Default `local_bind_address`.
pub const DEFAULT_BIND_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
/// Default `[discovery] interval`.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(60);
/// Default upstream `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default upstream `max_concurrency`.
pub const DEFAULT_MAX_CONCURRENCY: usize = 1000;
/// Default upstream `retries` (extra attempts after the first).
pub const DEFAULT_RETRIES: u32 = 2;
/// Largest accepted `retries`.
pub const MAX_RETRIES: u32 = 10;
/// Largest accepted `timeout`: Lambda's maximum function timeout (AWS Lambda quotas: 900 s).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(900);
/// Default `drain_timeout`: how long SIGTERM waits for in-flight requests.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest accepted `drain_timeout`, `header_timeout`, `idle_timeout` and `write_timeout`.
pub const MAX_LISTENER_TIMEOUT: Duration = Duration::from_secs(3600);

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Log line format.
    pub log_format: LogFormat,
    /// How long SIGTERM waits for in-flight requests.
    pub drain_timeout: Duration,
    /// `header_timeout`, `idle_timeout`, `write_timeout`, `max_connections`: what every
    /// listener holds each connection to.
    pub connections: ConnectionLimits,
    /// `[admin] listen`.
    pub admin_listen: SocketAddr,
    /// `[aws]`.
    pub aws: AwsSettings,
    /// `[[upstream]]`, in file order.
    pub upstreams: Vec<UpstreamConfig>,
    /// `[[function]]`: functions run locally by the embedded emulator (paths resolved).
    pub functions: Vec<FunctionConfig>,
    /// `[gateway]`: the terminating gateway, when configured.
    pub gateway: Option<GatewayConfig>,
    /// The services of `[consul] service_files`: who calls through the sidecar listeners.
    pub services: Vec<SidecarService>,
    /// `[service]` and the service files' names: intentions on the sidecar path.
    pub sidecar: SidecarIntentions,
    /// `[discovery]`, when `aws_tags = true`.
    pub discovery: Option<DiscoverySettings>,
    /// `[consul] address` (or `CONSUL_HTTP_ADDR`) and how to ask it: config entries are read
    /// live from this agent too.
    pub consul_agent: Option<ConsulAgent>,
    /// What loading noticed and did not refuse (logged at start and on reload, and by `--check`).
    pub warnings: Vec<String>,
    /// The files and directories it was read from: a change in any of them reloads it.
    pub sources: Sources,
}

/// What a config depends on besides the environment and flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Files whose contents it was built from: the config file, the Consul files read, and the
    /// gateway's `ca_file`, certificates and keys.
    pub files: Vec<PathBuf>,
    /// Directories whose listing decides which Consul files a wildcard pattern reads.
    pub dirs: Vec<PathBuf>,
}

/// A service definition from `[consul] service_files`: the calling service whose sidecar
/// upstreams mesh-proxy serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarService {
    /// `name`.
    pub name: String,
    /// `namespace`, when given.
    pub namespace: Option<String>,
    /// `partition`, when given.
    pub partition: Option<String>,
    /// The `destination_name` of each of its upstreams, in file order.
    pub upstreams: Vec<String>,
}

/// Intentions on the sidecar path: each upstream's caller (`[service]`, or the service file
/// that registers it) and destination, the `service-intentions` entries and `[service]
/// default_policy` (`allow` unless set). Advisory: the caller's own proxy enforces them.
#[derive(Debug, Clone)]
pub struct SidecarIntentions {
    /// The upstreams whose requests are checked, by `destination_name`.
    pub(crate) callers: Vec<SidecarCaller>,
    /// Every `service-intentions` entry of `[consul] config_entries`.
    pub(crate) intentions: Vec<crate::intentions::ServiceIntentions>,
    /// What decides where no intention does.
    pub(crate) default_policy: crate::intentions::Action,
}

/// Who calls through one upstream, and whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarCaller {
    /// The upstream's `destination_name`.
    pub upstream: String,
    /// The calling service.
    pub source: crate::identity::ServiceIdentity,
    /// The destination service (its namespace and partition the upstream's, else the caller's).
    pub destination: crate::identity::ServiceIdentity,
}

impl SidecarIntentions {
    /// The caller of the upstream `destination_name`, when its requests are checked: it has a
    /// caller, and there are intentions or a `deny` default to check (else nothing could refuse,
    /// and the sidecar path stays exactly as without `[service]`).
    pub fn caller(&self, destination_name: &str) -> Option<&SidecarCaller> {
        if self.intentions.is_empty() && self.default_policy == crate::intentions::Action::Allow {
            return None;
        }
        self.callers
            .iter()
            .find(|caller| caller.upstream == destination_name)
    }
}

/// `[gateway]`: the terminating-gateway listener, its files read and checked.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `name`: its Consul service name (selects the terminating-gateway entry).
    pub name: String,
    /// `listen`.
    pub listen: SocketAddr,
    /// `trust_domain` (lowercase).
    pub trust_domain: String,
    /// `datacenter`: of the linked services' identities.
    pub datacenter: String,
    /// `ca_file`: the trust anchors.
    pub(crate) anchors: crate::listener::tls::TrustAnchors,
    /// `default_policy`: when no intention decides.
    pub(crate) default_policy: crate::intentions::Action,
    /// `xfcc`.
    pub xfcc: crate::xfcc::XfccMode,
    /// `merge_slashes`, `path_with_escaped_slashes`, `insecure_disable_path_normalization`
    /// (or the mesh entry's `HTTP.Incoming.RequestNormalization`).
    pub(crate) normalization: crate::intentions::PathNormalization,
    /// The mesh entry's `HeadersWithUnderscoresAction` (default: allow).
    pub(crate) underscores: crate::intentions::HeadersWithUnderscores,
    /// The TLS versions, TLS 1.2 suites and groups the listener speaks (the mesh entry's
    /// `TLS.Incoming`; default: TLS 1.2 and 1.3 with all of rustls's).
    pub(crate) tls: crate::listener::tls::policy::TlsPolicy,
    /// The linked services served, in file order.
    pub services: Vec<GatewayService>,
    /// The `[[gateway.service]]` tables whose function is found by discovery, served once found.
    pub(crate) pending: Vec<PendingService>,
    /// Every `service-intentions` entry read from `[consul] config_entries`.
    pub(crate) intentions: Vec<crate::intentions::ServiceIntentions>,
    /// The agent's CA paths its roots and leaves come from (when `ca_file`, `cert_file` and
    /// `key_file` are not set).
    pub(crate) agent_paths: Vec<String>,
}

/// One linked service: its leaf, and how its function is invoked (as an upstream would be; the
/// upstream's `destination_name` is the service's name, its `bind` the gateway's `listen`).
#[derive(Debug, Clone)]
pub struct GatewayService {
    /// The service's leaf and key.
    pub(crate) leaf: crate::listener::tls::ServiceLeaf,
    /// How its function is invoked.
    pub upstream: UpstreamConfig,
}

impl GatewayService {
    /// The linked service's identity.
    pub fn identity(&self) -> &crate::identity::ServiceIdentity {
        self.leaf.identity()
    }
}

/// `[discovery]` with `aws_tags = true`: linked services from the functions' tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// `interval`: time between syncs.
    pub interval: Duration,
    /// `datacenter`: only functions tagged with it, when set.
    pub datacenter: Option<String>,
}

/// A `[[gateway.service]]` whose function discovery is to find: its leaf, and the table's keys.
#[derive(Debug, Clone)]
pub(crate) struct PendingService {
    /// The service's leaf and key.
    pub(in crate::config) leaf: crate::listener::tls::ServiceLeaf,
    /// Its invocation keys, `function` still empty.
    pub(in crate::config) keys: validate::InvocationKeys,
}

/// `[aws]`: how the aws invoker reaches Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region used when a function is not an ARN (else the default chain's region).
    pub region: Option<String>,
    /// Endpoint override, e.g. a `lambda-emulator` or a private endpoint.
    pub endpoint_url: Option<http::Uri>,
    /// Shared-config profile for credentials and region.
    pub profile: Option<String>,
}

/// One `[[upstream]]`: a local listener whose requests invoke one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// `destination_name`: the upstream's name in logs and metrics.
    pub destination_name: String,
    /// `local_bind_address` and `local_bind_port` (port 0 picks a free one).
    pub bind: SocketAddr,
    /// `function`: a name or ARN (without a qualifier suffix).
    pub function: String,
    /// `qualifier` (or the ARN's qualifier suffix).
    pub qualifier: Option<String>,
    /// The region of an ARN `function`.
    pub arn_region: Option<String>,
    /// `invocation_mode`.
    pub invocation_mode: InvocationMode,
    /// `payload_format` / `payload_passthrough`.
    pub payload_format: PayloadFormat,
    /// `response_streaming`: InvokeWithResponseStream.
    pub response_streaming: bool,
    /// `timeout`: bounds each request, retries included.
    pub timeout: Duration,
    /// `max_concurrency`: requests in flight before 503.
    pub max_concurrency: usize,
    /// `retries`: extra attempts after the first for errors raised before the function ran.
    pub retries: u32,
}

/// `invocation_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvocationMode {
    /// Wait for the function's result.
    #[default]
    Synchronous,
    /// Queue the event and answer 202.
    Asynchronous,
}

impl InvocationMode {
    /// `Event`: the caller gets a 202 once Lambda queued the event.
    pub fn is_asynchronous(self) -> bool {
        self == InvocationMode::Asynchronous
    }

    /// The largest event Lambda accepts in this mode (AWS Lambda quotas: 6 MB synchronous,
    /// 1 MB asynchronous): the one limit the request body and the event are held to.
    pub fn request_limit(self) -> usize {
        match self {
            InvocationMode::Synchronous => lambda_mesh_adapter::MAX_SYNC_REQUEST_BYTES,
            InvocationMode::Asynchronous => lambda_mesh_adapter::MAX_ASYNC_REQUEST_BYTES,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A config that cannot be read or accepted; each names its file, line and key, or its variable.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A problem inside the file.
    #[error("{file}:{}{}: {message}", line.map(|l| l.to_string()).unwrap_or_else(|| "?".into()), key.as_ref().map(|k| format!(": key `{k}`")).unwrap_or_default())]
    File {
        /// The file (or other origin of the text).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Dotted key path, when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A bad environment variable.
    #[error("environment variable {variable}: {message}")]
    Env {
        /// The variable.
        variable: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A bad command-line flag.
    #[error("flag --{flag}: {message}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Read and validate `path`, then apply env (`lookup`) and flag overrides.
    pub fn load(
        path: &Path,
        flags: &Overrides,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::load_with_agent(path, flags, lookup, &AgentEntries::default())
    }

    /// [`Config::load`], with the config entries last read from the Consul agent laid over the
    /// files' (an agent entry replaces a file entry of the same kind and name).
    pub fn load_with_agent(
        path: &Path,
        flags: &Overrides,
        lookup: impl Fn(&str) -> Option<String>,
        agent: &AgentEntries,
    ) -> Result<Config, ConfigError> {
        let (text, origin, base, file) = read(path, flags)?;
        let (mut config, regionless) =
            validate::build(file, &text, &origin, &base, &lookup, agent)?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        config.sources.files.insert(0, path);
        let env = Overrides::from_lookup(&lookup)?;
        config.apply(&flags.clone().or(env));
        // A bare name AWS Lambda is called with needs a region from somewhere; else the first
        // call would fail (or go where the SDK's last resort says).
        if let Some(first) = regionless.into_iter().next() {
            if region::ambient(&config.aws, &lookup).is_none() {
                return Err(first);
            }
        }
        Ok(config)
    }

    /// Parse and validate TOML text: `origin` names it in errors, `base` resolves function paths.
    /// The environment is not read, so a bare function name without a region passes here;
    /// [`Config::load`] refuses it (and `CONSUL_HTTP_*` apply only there).
    pub fn from_toml_str(text: &str, origin: &str, base: &Path) -> Result<Config, ConfigError> {
        validate::build(
            parse_file(text, origin)?,
            text,
            origin,
            base,
            &|_| None,
            &AgentEntries::default(),
        )
        .map(|(config, _)| config)
    }

    /// Every upstream the config invokes functions for: the sidecar listeners', then the
    /// gateway's linked services'.
    pub fn invoking(&self) -> impl Iterator<Item = &UpstreamConfig> {
        self.upstreams.iter().chain(
            self.gateway
                .iter()
                .flat_map(|g| g.services.iter().map(|s| &s.upstream)),
        )
    }

    /// What loading noticed and did not refuse (from the Consul files, mostly).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The `[[function]]` an upstream runs locally, when it names one.
    pub fn local_function(&self, upstream: &UpstreamConfig) -> Option<&FunctionConfig> {
        self.functions.iter().find(|f| f.name == upstream.function)
    }

    /// Apply overrides (already layered flag > env) over the file's values.
    pub fn apply(&mut self, overrides: &Overrides) {
        if let Some(listen) = overrides.admin_listen {
            self.admin_listen = listen;
        }
        if let Some(format) = overrides.log_format {
            self.log_format = format;
        }
        if let Some(region) = &overrides.aws_region {
            self.aws.region = Some(region.clone());
        }
        if let Some(url) = &overrides.aws_endpoint_url {
            self.aws.endpoint_url = Some(url.clone());
        }
        if let Some(profile) = &overrides.aws_profile {
            self.aws.profile = Some(profile.clone());
        }
    }
}

/// The file at `path` as written (with `--service-file` over `[consul] service_files`): its
/// text, its name in errors, the directory its paths are relative to, and its tables.
fn read(
    path: &Path,
    flags: &Overrides,
) -> Result<(String, String, PathBuf, file::FileConfig), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let origin = path.display().to_string();
    let mut file = parse_file(&text, &origin)?;
    if !flags.service_files.is_empty() {
        if let Some(missing) = flags.service_files.iter().find(|p| !p.is_file()) {
            return Err(ConfigError::Flag {
                flag: "service-file",
                message: format!("`{}`: no such service file", missing.display()),
            });
        }
        file.consul.service_files = flags
            .service_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
    }
    Ok((text, origin, base, file))
}

/// The TOML as written, before validation; errors name `origin`, the line and the key.
fn parse_file(text: &str, origin: &str) -> Result<file::FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let location = e
            .span()
            .map(|span| locate::at_offset(text, span.start))
            .unwrap_or_default();
        ConfigError::File {
            file: origin.to_owned(),
            line: location.line,
            key: location.key,
            message: e.message().trim_end().to_owned(),
        }
    })
}

impl LogFormat {
    /// `text` or `json`.
    pub fn parse(value: &str) -> Option<LogFormat> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
