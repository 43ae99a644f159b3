//! The config file as written: serde structs with Consul's key names, unknown keys rejected.

use lambda_mesh_adapter::PayloadFormat;
use lambda_mesh_emulator::FunctionConfig;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// Seconds SIGTERM waits for in-flight requests.
    pub drain_timeout: Option<f64>,
    #[serde(default)]
    pub admin: AdminFile,
    #[serde(default)]
    pub aws: AwsFile,
    #[serde(default, rename = "upstream")]
    pub upstreams: Vec<UpstreamFile>,
    #[serde(default, rename = "function")]
    pub functions: Vec<FunctionConfig>,
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
