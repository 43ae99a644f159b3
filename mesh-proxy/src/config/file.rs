//! The config file as written: serde structs with Consul's key names, unknown keys rejected.

use lambda_mesh_adapter::PayloadFormat;
use lambda_mesh_emulator::FunctionConfig;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// Seconds SIGTERM waits for in-flight requests.
    pub drain_timeout: Option<f64>,
    /// Seconds a new connection has to send its first request head.
    pub header_timeout: Option<f64>,
    /// Seconds a keep-alive connection may wait for its next request.
    pub idle_timeout: Option<f64>,
    /// Seconds a response may wait for its client to read.
    pub write_timeout: Option<f64>,
    /// Open connections per listener.
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub admin: AdminFile,
    #[serde(default)]
    pub aws: AwsFile,
    #[serde(default, rename = "upstream")]
    pub upstreams: Vec<UpstreamFile>,
    #[serde(default, rename = "function")]
    pub functions: Vec<FunctionConfig>,
    pub gateway: Option<GatewayFile>,
    #[serde(default)]
    pub consul: ConsulFile,
    pub service: Option<ServiceFile>,
    pub discovery: Option<DiscoveryFile>,
}

/// `[discovery]`: linked gateway services found by their functions' tags.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiscoveryFile {
    pub aws_tags: Option<bool>,
    /// Seconds between syncs.
    pub interval: Option<f64>,
    /// Keep only functions whose `datacenter` tag is this.
    pub datacenter: Option<String>,
}

/// `[service]`: the service this sidecar proxy belongs to, as intentions name it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceFile {
    pub name: String,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub default_policy: Option<String>,
}

/// `[gateway]`: the terminating-gateway listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayFile {
    pub name: String,
    pub listen: String,
    pub trust_domain: String,
    pub datacenter: String,
    pub ca_file: Option<String>,
    pub default_policy: Option<String>,
    pub xfcc: Option<String>,
    pub merge_slashes: Option<bool>,
    pub path_with_escaped_slashes: Option<String>,
    pub insecure_disable_path_normalization: Option<bool>,
    #[serde(default, rename = "service")]
    pub services: Vec<GatewayServiceFile>,
}

/// One `[[gateway.service]]`: a linked service, its leaf, and how its function is invoked (the
/// same keys as `[[upstream]]`, `function` optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayServiceFile {
    pub name: String,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub function: Option<String>,
    pub qualifier: Option<String>,
    pub invocation_mode: Option<InvocationModeFile>,
    pub payload_passthrough: Option<bool>,
    pub payload_format: Option<PayloadFormat>,
    pub response_streaming: Option<bool>,
    pub timeout: Option<f64>,
    pub max_concurrency: Option<u32>,
    pub retries: Option<u32>,
}

/// `[consul]`: the user's Consul files, shared by the gateway and the sidecar listeners.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsulFile {
    #[serde(default)]
    pub config_entries: Vec<String>,
    /// Service definitions as written for `consul services register`.
    #[serde(default)]
    pub service_files: Vec<String>,
    /// The agent's HTTP API: `http://host:port`, `https://host:port` or `host:port`.
    pub address: Option<String>,
    /// The ACL token sent as `X-Consul-Token`.
    pub token: Option<String>,
    /// A file holding the ACL token.
    pub token_file: Option<String>,
    /// `ns` of every request (Consul Enterprise).
    pub namespace: Option<String>,
    /// `partition` of every request (Consul Enterprise).
    pub partition: Option<String>,
    /// `dc` of every request.
    pub datacenter: Option<String>,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminFile {
    pub listen: Option<String>,
}

/// `[aws]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AwsFile {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
}

/// One `[[upstream]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpstreamFile {
    pub destination_name: String,
    pub local_bind_address: Option<String>,
    #[serde(deserialize_with = "port")]
    pub local_bind_port: u16,
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

/// `invocation_mode`, in Consul's words.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum InvocationModeFile {
    Synchronous,
    Asynchronous,
}

/// A port number, refused in words a person reads ("a port number 1–65535") rather than serde's
/// `expected u16`. 0 stays accepted: it picks a free port.
fn port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    deserializer.deserialize_any(PortVisitor)
}

struct PortVisitor;

impl Visitor<'_> for PortVisitor {
    type Value = u16;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a port number 1–65535 (or 0 for a free one)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
        u16::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
        u16::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
}
