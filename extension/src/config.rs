//! Configuration from `LAMBDA_MESH_*` environment variables, with aws-lambda-web-adapter's
//! `AWS_LWA_*`, `PORT` and deprecated unprefixed names honoured when ours are unset.

mod parse;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use http::header::HeaderName;

pub use parse::StatusSet;

/// Default port of the service (`LAMBDA_MESH_PORT`).
pub const DEFAULT_PORT: u16 = 8080;
/// Default host of the service (`LAMBDA_MESH_HOST`).
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Default readiness path (`LAMBDA_MESH_READINESS_PATH`).
pub const DEFAULT_READINESS_PATH: &str = "/";
/// Default bound on the readiness wait: just under Lambda's 10 s on-demand init limit.
pub const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_millis(9_800);
/// Default path non-HTTP events are POSTed to (`LAMBDA_MESH_PASS_THROUGH_PATH`).
pub const DEFAULT_PASS_THROUGH_PATH: &str = "/events";
/// Default smallest body that is compressed (`LAMBDA_MESH_COMPRESSION_MIN_BYTES`).
pub const DEFAULT_COMPRESSION_MIN_BYTES: usize = 1024;
/// Default time kept free before the invocation deadline to report the result (`LAMBDA_MESH_DEADLINE_MARGIN_MS`).
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(100);
/// Default bound on each Runtime / Extensions API call that is not a long poll, connecting
/// included (`LAMBDA_MESH_API_TIMEOUT_MS`). The APIs are on the loopback and answer in about a
/// millisecond; 5 s leaves room for a loaded machine and still fails before Lambda's 10 s init
/// limit, so a hung API is named in the log instead of ending as an anonymous init timeout.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_millis(5_000);
/// The largest `LAMBDA_MESH_API_TIMEOUT_MS`: Lambda's longest function timeout, 15 minutes
/// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html>).
pub const MAX_API_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How readiness is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadinessProtocol {
    /// `GET` of the readiness path; ready when the status is healthy.
    #[default]
    Http,
    /// Ready when a TCP connection is accepted.
    Tcp,
}

/// How results are returned to Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvokeMode {
    /// The whole response is buffered and returned as one result.
    #[default]
    Buffered,
    /// The response is streamed (`Lambda-Runtime-Function-Response-Mode: streaming`).
    ResponseStream,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The function's identity from Lambda's reserved variables, for `x-amzn-lambda-context`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionEnv {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB.
    pub memory: i32,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub version: String,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`.
    pub log_stream: String,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub log_group: String,
}

/// Everything the extension is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` of the Runtime and Extensions APIs (`AWS_LAMBDA_RUNTIME_API`).
    pub runtime_api: String,
    /// Where Runtime API calls (not registration) go, if proxied (`LAMBDA_MESH_RUNTIME_API_PROXY`).
    pub runtime_api_proxy: Option<String>,
    /// The service's address (`LAMBDA_MESH_HOST`, `LAMBDA_MESH_PORT`).
    pub service: SocketAddr,
    /// The readiness check's address (`LAMBDA_MESH_READINESS_PORT`).
    pub readiness_addr: SocketAddr,
    /// Path of the HTTP readiness check.
    pub readiness_path: String,
    /// HTTP or TCP readiness.
    pub readiness_protocol: ReadinessProtocol,
    /// Statuses that count as ready.
    pub healthy_status: StatusSet,
    /// Bound on the readiness wait during init.
    pub readiness_timeout: Duration,
    /// Finish init without waiting for readiness beyond Lambda's init budget.
    pub async_init: bool,
    /// Path non-HTTP events are POSTed to.
    pub pass_through_path: String,
    /// Prefix removed from request paths (segment-aligned), without a trailing `/`.
    pub remove_base_path: Option<String>,
    /// Buffered or streamed results.
    pub invoke_mode: InvokeMode,
    /// Compress buffered responses the client accepts compressed.
    pub compression: bool,
    /// Smallest body compressed.
    pub compression_min_bytes: usize,
    /// Header whose value is moved to `Authorization`.
    pub authorization_source: Option<HeaderName>,
    /// Service statuses that turn into invocation errors.
    pub error_status: Option<StatusSet>,
    /// Time kept free before the deadline to report the result.
    pub deadline_margin: Duration,
    /// Bound on each Lambda API call that is not a long poll (`LAMBDA_MESH_API_TIMEOUT_MS`).
    pub api_timeout: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter directive (`LAMBDA_MESH_LOG_LEVEL`, e.g. `info` or `lambda_mesh_extension=debug`).
    pub log_level: String,
    /// Lambda's reserved variables describing the function.
    pub function: FunctionEnv,
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

/// A setting read from the first set variable of a list: ours, then LWA's, then LWA's deprecated one.
struct Setting<'a, F> {
    lookup: &'a F,
}

impl<F: Fn(&str) -> Option<String>> Setting<'_, F> {
    /// The first of `names` that is set (empty counts as unset), with its name.
    fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|name| {
            (self.lookup)(name)
                .filter(|value| !value.trim().is_empty())
                .map(|value| (*name, value.trim().to_owned()))
        })
    }

    fn parsed<T>(
        &self,
        names: &[&'static str],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.first(names) {
            None => Ok(None),
            Some((variable, value)) => {
                parse(&value)
                    .map(Some)
                    .map_err(|reason| ConfigError::Invalid {
                        variable,
                        value,
                        reason,
                    })
            }
        }
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable's value, or `None` when unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let s = Setting { lookup: &lookup };
        let runtime_api =
            s.first(&["AWS_LAMBDA_RUNTIME_API"])
                .map(|(_, v)| v)
                .ok_or(ConfigError::Missing {
                    variable: "AWS_LAMBDA_RUNTIME_API",
                })?;
        let runtime_api_proxy = s
            .first(&[
                "LAMBDA_MESH_RUNTIME_API_PROXY",
                "AWS_LWA_LAMBDA_RUNTIME_API_PROXY",
            ])
            .map(|(_, v)| v);
        let port = s
            .parsed(&["LAMBDA_MESH_PORT", "AWS_LWA_PORT", "PORT"], parse::port)?
            .unwrap_or(DEFAULT_PORT);
        let host = s
            .parsed(&["LAMBDA_MESH_HOST", "AWS_LWA_HOST", "HOST"], parse::host)?
            .unwrap_or(DEFAULT_HOST);
        let readiness_port = s
            .parsed(
                &[
                    "LAMBDA_MESH_READINESS_PORT",
                    "AWS_LWA_READINESS_CHECK_PORT",
                    "READINESS_CHECK_PORT",
                ],
                parse::port,
            )?
            .unwrap_or(port);
        let readiness_path = s
            .parsed(
                &[
                    "LAMBDA_MESH_READINESS_PATH",
                    "AWS_LWA_READINESS_CHECK_PATH",
                    "READINESS_CHECK_PATH",
                ],
                parse::path,
            )?
            .unwrap_or_else(|| DEFAULT_READINESS_PATH.to_owned());
        let readiness_protocol = s
            .parsed(
                &[
                    "LAMBDA_MESH_READINESS_PROTOCOL",
                    "AWS_LWA_READINESS_CHECK_PROTOCOL",
                    "READINESS_CHECK_PROTOCOL",
                ],
                parse::protocol,
            )?
            .unwrap_or_default();
        let healthy_status = match s.parsed(
            &[
                "LAMBDA_MESH_READINESS_HEALTHY_STATUS",
                "AWS_LWA_READINESS_CHECK_HEALTHY_STATUS",
            ],
            StatusSet::parse,
        )? {
            Some(set) => set,
            None => s
                .parsed(
                    &["AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS"],
                    StatusSet::below,
                )?
                .unwrap_or_else(StatusSet::default_healthy),
        };
        let readiness_timeout = s
            .parsed(&["LAMBDA_MESH_READINESS_TIMEOUT_MS"], parse::millis)?
            .unwrap_or(DEFAULT_READINESS_TIMEOUT);
        let async_init = s
            .parsed(
                &["LAMBDA_MESH_ASYNC_INIT", "AWS_LWA_ASYNC_INIT", "ASYNC_INIT"],
                parse::boolean,
            )?
            .unwrap_or(false);
        let pass_through_path = s
            .parsed(
                &["LAMBDA_MESH_PASS_THROUGH_PATH", "AWS_LWA_PASS_THROUGH_PATH"],
                parse::path,
            )?
            .unwrap_or_else(|| DEFAULT_PASS_THROUGH_PATH.to_owned());
        let remove_base_path = s
            .parsed(
                &[
                    "LAMBDA_MESH_REMOVE_BASE_PATH",
                    "AWS_LWA_REMOVE_BASE_PATH",
                    "REMOVE_BASE_PATH",
                ],
                parse::base_path,
            )?
            .flatten();
        let invoke_mode = s
            .parsed(
                &["LAMBDA_MESH_INVOKE_MODE", "AWS_LWA_INVOKE_MODE"],
                parse::invoke_mode,
            )?
            .unwrap_or_default();
        let compression = s
            .parsed(
                &[
                    "LAMBDA_MESH_ENABLE_COMPRESSION",
                    "AWS_LWA_ENABLE_COMPRESSION",
                ],
                parse::boolean,
            )?
            .unwrap_or(false);
        let compression_min_bytes = s
            .parsed(&["LAMBDA_MESH_COMPRESSION_MIN_BYTES"], parse::count)?
            .unwrap_or(DEFAULT_COMPRESSION_MIN_BYTES);
        let authorization_source = s.parsed(
            &[
                "LAMBDA_MESH_AUTHORIZATION_SOURCE",
                "AWS_LWA_AUTHORIZATION_SOURCE",
            ],
            parse::header_name,
        )?;
        let error_status = s.parsed(
            &[
                "LAMBDA_MESH_ERROR_STATUS_CODES",
                "AWS_LWA_ERROR_STATUS_CODES",
            ],
            StatusSet::parse,
        )?;
        let deadline_margin = s
            .parsed(&["LAMBDA_MESH_DEADLINE_MARGIN_MS"], parse::millis)?
            .unwrap_or(DEFAULT_DEADLINE_MARGIN);
        let api_timeout = s
            .parsed(&["LAMBDA_MESH_API_TIMEOUT_MS"], |text| {
                parse::millis_within(text, Duration::from_millis(1), MAX_API_TIMEOUT)
            })?
            .unwrap_or(DEFAULT_API_TIMEOUT);
        let log_format = s
            .parsed(
                &["LAMBDA_MESH_LOG_FORMAT", "AWS_LAMBDA_LOG_FORMAT"],
                parse::log_format,
            )?
            .unwrap_or_default();
        let log_level = s
            .first(&["LAMBDA_MESH_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"])
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_else(|| "info".to_owned());
        let function = FunctionEnv {
            function_name: s
                .first(&["AWS_LAMBDA_FUNCTION_NAME"])
                .map(|(_, v)| v)
                .unwrap_or_default(),
            memory: s
                .first(&["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(128),
            version: s
                .first(&["AWS_LAMBDA_FUNCTION_VERSION"])
                .map(|(_, v)| v)
                .unwrap_or_else(|| "$LATEST".to_owned()),
            log_stream: s
                .first(&["AWS_LAMBDA_LOG_STREAM_NAME"])
                .map(|(_, v)| v)
                .unwrap_or_default(),
            log_group: s
                .first(&["AWS_LAMBDA_LOG_GROUP_NAME"])
                .map(|(_, v)| v)
                .unwrap_or_default(),
        };
        Ok(Config {
            runtime_api,
            runtime_api_proxy,
            service: SocketAddr::new(host, port),
            readiness_addr: SocketAddr::new(host, readiness_port),
            readiness_path,
            readiness_protocol,
            healthy_status,
            readiness_timeout,
            async_init,
            pass_through_path,
            remove_base_path,
            invoke_mode,
            compression,
            compression_min_bytes,
            authorization_source,
            error_status,
            deadline_margin,
            api_timeout,
            log_format,
            log_level,
            function,
        })
    }

    /// Whether compression applies: it never does to streamed responses.
    pub fn compresses(&self) -> bool {
        self.compression && self.invoke_mode == InvokeMode::Buffered
    }

    /// Where Runtime API calls go: the proxy if one is set, else `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api_target(&self) -> &str {
        self.runtime_api_proxy
            .as_deref()
            .unwrap_or(&self.runtime_api)
    }
}
