//! Configuration from `LAMBDA_MESH_*` environment variables, with aws-lambda-web-adapter's
//! `AWS_LWA_*`, `PORT` and deprecated unprefixed names honoured when ours are unset.

mod parse;
mod read;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use http::header::HeaderName;

pub(crate) use parse::StatusSet;
use read::Setting;

/// Default port of the service (`LAMBDA_MESH_PORT`).
pub(crate) const DEFAULT_PORT: u16 = 8080;
/// Default host of the service (`LAMBDA_MESH_HOST`).
pub(crate) const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Default readiness path (`LAMBDA_MESH_READINESS_PATH`).
pub(crate) const DEFAULT_READINESS_PATH: &str = "/";
/// Default log filter (`LAMBDA_MESH_LOG_LEVEL`).
pub(crate) const DEFAULT_LOG_LEVEL: &str = "info";
/// Default bound on the readiness wait: just under Lambda's 10 s on-demand init limit.
pub(crate) const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_millis(9_800);
/// Default path non-HTTP events are POSTed to (`LAMBDA_MESH_PASS_THROUGH_PATH`).
pub(crate) const DEFAULT_PASS_THROUGH_PATH: &str = "/events";
/// Default smallest body that is compressed (`LAMBDA_MESH_COMPRESSION_MIN_BYTES`).
pub(crate) const DEFAULT_COMPRESSION_MIN_BYTES: usize = 1024;
/// Default time kept free before the invocation deadline to report the result (`LAMBDA_MESH_DEADLINE_MARGIN_MS`).
pub(crate) const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(100);
/// Default bound on each Runtime / Extensions API call that is not a long poll, connecting
/// included (`LAMBDA_MESH_API_TIMEOUT_MS`). The APIs are on the loopback and answer in about a
/// millisecond; 5 s leaves room for a loaded machine and still fails before Lambda's 10 s init
/// limit, so a hung API is named in the log instead of ending as an anonymous init timeout.
pub(crate) const DEFAULT_API_TIMEOUT: Duration = Duration::from_millis(5_000);
/// The largest `LAMBDA_MESH_API_TIMEOUT_MS`: Lambda's longest function timeout, 15 minutes
/// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html>).
pub(crate) const MAX_API_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How readiness is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ReadinessProtocol {
    /// `GET` of the readiness path; ready when the status is healthy.
    #[default]
    Http,
    /// Ready when a TCP connection is accepted.
    Tcp,
}

/// How results are returned to Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum InvokeMode {
    /// The whole response is buffered and returned as one result.
    #[default]
    Buffered,
    /// The response is streamed (`Lambda-Runtime-Function-Response-Mode: streaming`).
    ResponseStream,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The function's identity from Lambda's reserved variables, for `x-amzn-lambda-context`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FunctionEnv {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub(crate) function_name: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB.
    pub(crate) memory: i32,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub(crate) version: String,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`.
    pub(crate) log_stream: String,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub(crate) log_group: String,
}

/// Everything the extension is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` of the Runtime and Extensions APIs (`AWS_LAMBDA_RUNTIME_API`).
    pub(crate) runtime_api: String,
    /// Where Runtime API calls (not registration) go, if proxied (`LAMBDA_MESH_RUNTIME_API_PROXY`).
    pub(crate) runtime_api_proxy: Option<String>,
    /// The service's address (`LAMBDA_MESH_HOST`, `LAMBDA_MESH_PORT`).
    pub(crate) service: SocketAddr,
    /// The readiness check's address (`LAMBDA_MESH_READINESS_PORT`).
    pub(crate) readiness_addr: SocketAddr,
    /// Path of the HTTP readiness check.
    pub(crate) readiness_path: String,
    /// HTTP or TCP readiness.
    pub(crate) readiness_protocol: ReadinessProtocol,
    /// Statuses that count as ready.
    pub(crate) healthy_status: StatusSet,
    /// Bound on the readiness wait during init.
    pub(crate) readiness_timeout: Duration,
    /// Finish init without waiting for readiness beyond Lambda's init budget.
    pub(crate) async_init: bool,
    /// Path non-HTTP events are POSTed to.
    pub(crate) pass_through_path: String,
    /// Prefix removed from request paths (segment-aligned), without a trailing `/`.
    pub(crate) remove_base_path: Option<String>,
    /// Buffered or streamed results.
    pub(crate) invoke_mode: InvokeMode,
    /// Compress buffered responses the client accepts compressed.
    pub(crate) compression: bool,
    /// Smallest body compressed.
    pub(crate) compression_min_bytes: usize,
    /// Header whose value is moved to `Authorization`.
    pub(crate) authorization_source: Option<HeaderName>,
    /// Service statuses that turn into invocation errors.
    pub(crate) error_status: Option<StatusSet>,
    /// Time kept free before the deadline to report the result.
    pub(crate) deadline_margin: Duration,
    /// Bound on each Lambda API call that is not a long poll (`LAMBDA_MESH_API_TIMEOUT_MS`).
    pub(crate) api_timeout: Duration,
    /// Log format.
    pub(crate) log_format: LogFormat,
    /// Log filter directive (`LAMBDA_MESH_LOG_LEVEL`, e.g. `info` or `lambda_mesh_extension=debug`).
    pub(crate) log_level: String,
    /// Lambda's reserved variables describing the function.
    pub(crate) function: FunctionEnv,
}

/// A configuration variable held a value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{variable} is not set")]
    Missing {
        /// The variable's name.
        variable: &'static str,
    },
    /// A variable's value is not valid.
    #[error("{variable}={value:?} is not valid: {reason}")]
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// The value found.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable's value, or `None` when unset), one
    /// concern at a time (`read`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let s = Setting { lookup: &lookup };
        let mut config = Config::defaults(s.runtime_api()?);
        s.service(&mut config)?;
        s.readiness(&mut config)?;
        s.requests(&mut config)?;
        s.responses(&mut config)?;
        s.lambda_api(&mut config)?;
        s.logging(&mut config)?;
        config.function = s.function();
        Ok(config)
    }

    /// Every default, for the Lambda APIs at `runtime_api`.
    fn defaults(runtime_api: String) -> Self {
        let service = SocketAddr::new(DEFAULT_HOST, DEFAULT_PORT);
        Config {
            runtime_api,
            runtime_api_proxy: None,
            service,
            readiness_addr: service,
            readiness_path: DEFAULT_READINESS_PATH.to_owned(),
            readiness_protocol: ReadinessProtocol::default(),
            healthy_status: StatusSet::default_healthy(),
            readiness_timeout: DEFAULT_READINESS_TIMEOUT,
            async_init: false,
            pass_through_path: DEFAULT_PASS_THROUGH_PATH.to_owned(),
            remove_base_path: None,
            invoke_mode: InvokeMode::default(),
            compression: false,
            compression_min_bytes: DEFAULT_COMPRESSION_MIN_BYTES,
            authorization_source: None,
            error_status: None,
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
            api_timeout: DEFAULT_API_TIMEOUT,
            log_format: LogFormat::default(),
            log_level: DEFAULT_LOG_LEVEL.to_owned(),
            function: FunctionEnv::default(),
        }
    }

    /// Whether compression applies: it never does to streamed responses.
    pub(crate) fn compresses(&self) -> bool {
        self.compression && self.invoke_mode == InvokeMode::Buffered
    }

    /// Where Runtime API calls go: the proxy if one is set, else `AWS_LAMBDA_RUNTIME_API`.
    pub(crate) fn runtime_api_target(&self) -> &str {
        self.runtime_api_proxy
            .as_deref()
            .unwrap_or(&self.runtime_api)
    }
}
