//! `MESH_PROXY_*` variables and command-line flags that override the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use http::Uri;

use super::{ConfigError, LogFormat};

/// Values that override the file; each layer (env, flags) is parsed on its own and then
/// layered with [`Overrides::or`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `MESH_PROXY_ADMIN_LISTEN` / `--admin-listen`.
    pub admin_listen: Option<SocketAddr>,
    /// `MESH_PROXY_AWS_REGION` / `--aws-region`.
    pub aws_region: Option<String>,
    /// `MESH_PROXY_AWS_ENDPOINT_URL` / `--aws-endpoint-url`.
    pub aws_endpoint_url: Option<Uri>,
    /// `MESH_PROXY_AWS_PROFILE` / `--aws-profile`.
    pub aws_profile: Option<String>,
    /// `MESH_PROXY_LOG_FORMAT` / `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--service-file` (repeatable; absolute): replaces `[consul] service_files` when given.
    pub service_files: Vec<PathBuf>,
}

/// The raw flag values, as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct FlagValues {
    /// `--admin-listen`.
    pub admin_listen: Option<String>,
    /// `--aws-region`.
    pub aws_region: Option<String>,
    /// `--aws-endpoint-url`.
    pub aws_endpoint_url: Option<String>,
    /// `--aws-profile`.
    pub aws_profile: Option<String>,
    /// `--log-format`.
    pub log_format: Option<String>,
    /// `--service-file`, each as given (relative to the working directory).
    pub service_files: Vec<PathBuf>,
}

impl Overrides {
    /// Read the `MESH_PROXY_*` variables through `lookup` (e.g. `std::env::var(..).ok()`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Overrides, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let env = |variable: &'static str, message: String| ConfigError::Env { variable, message };
        Ok(Overrides {
            admin_listen: get("MESH_PROXY_ADMIN_LISTEN")
                .map(|v| parse_addr(&v).map_err(|m| env("MESH_PROXY_ADMIN_LISTEN", m)))
                .transpose()?,
            aws_region: get("MESH_PROXY_AWS_REGION"),
            aws_endpoint_url: get("MESH_PROXY_AWS_ENDPOINT_URL")
                .map(|v| check_url(v).map_err(|m| env("MESH_PROXY_AWS_ENDPOINT_URL", m)))
                .transpose()?,
            aws_profile: get("MESH_PROXY_AWS_PROFILE"),
            log_format: get("MESH_PROXY_LOG_FORMAT")
                .map(|v| parse_format(&v).map_err(|m| env("MESH_PROXY_LOG_FORMAT", m)))
                .transpose()?,
            service_files: Vec::new(),
        })
    }

    /// Parse the command-line flags.
    pub fn from_flags(flags: &FlagValues) -> Result<Overrides, ConfigError> {
        let flag = |flag: &'static str, message: String| ConfigError::Flag { flag, message };
        Ok(Overrides {
            admin_listen: flags
                .admin_listen
                .as_deref()
                .map(|v| parse_addr(v).map_err(|m| flag("admin-listen", m)))
                .transpose()?,
            aws_region: flags.aws_region.clone(),
            aws_endpoint_url: flags
                .aws_endpoint_url
                .clone()
                .map(|v| check_url(v).map_err(|m| flag("aws-endpoint-url", m)))
                .transpose()?,
            aws_profile: flags.aws_profile.clone(),
            log_format: flags
                .log_format
                .as_deref()
                .map(|v| parse_format(v).map_err(|m| flag("log-format", m)))
                .transpose()?,
            service_files: flags
                .service_files
                .iter()
                .map(|p| {
                    std::path::absolute(p)
                        .map_err(|e| flag("service-file", format!("`{}`: {e}", p.display())))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// `self` where set, else `lower` (flags `.or(env)`).
    pub fn or(self, lower: Overrides) -> Overrides {
        Overrides {
            admin_listen: self.admin_listen.or(lower.admin_listen),
            aws_region: self.aws_region.or(lower.aws_region),
            aws_endpoint_url: self.aws_endpoint_url.or(lower.aws_endpoint_url),
            aws_profile: self.aws_profile.or(lower.aws_profile),
            log_format: self.log_format.or(lower.log_format),
            service_files: if self.service_files.is_empty() {
                lower.service_files
            } else {
                self.service_files
            },
        }
    }
}

/// A `host:port` socket address.
pub(crate) fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not an address like 127.0.0.1:19000"))
}

/// An `http://` or `https://` URL with a host.
pub(crate) fn check_url(value: String) -> Result<Uri, String> {
    let uri: http::Uri = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a URL"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(format!("`{value}` is not an http:// or https:// URL")),
    }
}

/// `text` or `json`.
pub(crate) fn parse_format(value: &str) -> Result<LogFormat, String> {
    LogFormat::parse(value).ok_or_else(|| format!("`{value}` is not `text` or `json`"))
}
