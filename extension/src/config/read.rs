//! Reading the variables, one concern at a time: where the Lambda APIs are, where the service is,
//! how readiness is checked, how requests and responses are treated, logging, and Lambda's
//! reserved variables describing the function.

use std::net::SocketAddr;
use std::time::Duration;

use super::{parse, Config, ConfigError, FunctionEnv, StatusSet, MAX_API_TIMEOUT};

/// A setting read from the first set variable of a list: ours, then LWA's, then LWA's deprecated one.
pub(super) struct Setting<'a, F> {
    pub(super) lookup: &'a F,
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

    /// The first of `names` that is set, without its name.
    fn value(&self, names: &[&'static str]) -> Option<String> {
        self.first(names).map(|(_, value)| value)
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

    /// `AWS_LAMBDA_RUNTIME_API`, which Lambda always sets.
    pub(super) fn runtime_api(&self) -> Result<String, ConfigError> {
        self.value(&["AWS_LAMBDA_RUNTIME_API"])
            .ok_or(ConfigError::Missing {
                variable: "AWS_LAMBDA_RUNTIME_API",
            })
    }

    /// The Runtime API proxy and the bound on API calls.
    pub(super) fn lambda_api(&self, config: &mut Config) -> Result<(), ConfigError> {
        config.runtime_api_proxy = self.value(&[
            "LAMBDA_MESH_RUNTIME_API_PROXY",
            "AWS_LWA_LAMBDA_RUNTIME_API_PROXY",
        ]);
        if let Some(timeout) = self.parsed(&["LAMBDA_MESH_API_TIMEOUT_MS"], |text| {
            parse::millis_within(text, Duration::from_millis(1), MAX_API_TIMEOUT)
        })? {
            config.api_timeout = timeout;
        }
        Ok(())
    }

    /// The service's address.
    pub(super) fn service(&self, config: &mut Config) -> Result<(), ConfigError> {
        let port = self.parsed(&["LAMBDA_MESH_PORT", "AWS_LWA_PORT", "PORT"], parse::port)?;
        let host = self.parsed(&["LAMBDA_MESH_HOST", "AWS_LWA_HOST", "HOST"], parse::host)?;
        config.service = SocketAddr::new(
            host.unwrap_or(config.service.ip()),
            port.unwrap_or(config.service.port()),
        );
        Ok(())
    }

    /// How and where readiness is checked, and how long init waits for it (after `service`).
    pub(super) fn readiness(&self, config: &mut Config) -> Result<(), ConfigError> {
        let port = self.parsed(
            &[
                "LAMBDA_MESH_READINESS_PORT",
                "AWS_LWA_READINESS_CHECK_PORT",
                "READINESS_CHECK_PORT",
            ],
            parse::port,
        )?;
        config.readiness_addr =
            SocketAddr::new(config.service.ip(), port.unwrap_or(config.service.port()));
        if let Some(path) = self.parsed(
            &[
                "LAMBDA_MESH_READINESS_PATH",
                "AWS_LWA_READINESS_CHECK_PATH",
                "READINESS_CHECK_PATH",
            ],
            parse::path,
        )? {
            config.readiness_path = path;
        }
        if let Some(protocol) = self.parsed(
            &[
                "LAMBDA_MESH_READINESS_PROTOCOL",
                "AWS_LWA_READINESS_CHECK_PROTOCOL",
                "READINESS_CHECK_PROTOCOL",
            ],
            parse::protocol,
        )? {
            config.readiness_protocol = protocol;
        }
        if let Some(set) = self.healthy_status()? {
            config.healthy_status = set;
        }
        if let Some(timeout) = self.parsed(&["LAMBDA_MESH_READINESS_TIMEOUT_MS"], parse::millis)? {
            config.readiness_timeout = timeout;
        }
        if let Some(async_init) = self.parsed(
            &["LAMBDA_MESH_ASYNC_INIT", "AWS_LWA_ASYNC_INIT", "ASYNC_INIT"],
            parse::boolean,
        )? {
            config.async_init = async_init;
        }
        Ok(())
    }

    /// The healthy statuses: ours or LWA's list, else LWA's deprecated lowest unhealthy status.
    fn healthy_status(&self) -> Result<Option<StatusSet>, ConfigError> {
        let listed = self.parsed(
            &[
                "LAMBDA_MESH_READINESS_HEALTHY_STATUS",
                "AWS_LWA_READINESS_CHECK_HEALTHY_STATUS",
            ],
            StatusSet::parse,
        )?;
        match listed {
            Some(set) => Ok(Some(set)),
            None => self.parsed(
                &["AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS"],
                StatusSet::below,
            ),
        }
    }

    /// What becomes of the request on its way to the service.
    pub(super) fn requests(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(path) = self.parsed(
            &["LAMBDA_MESH_PASS_THROUGH_PATH", "AWS_LWA_PASS_THROUGH_PATH"],
            parse::path,
        )? {
            config.pass_through_path = path;
        }
        config.remove_base_path = self
            .parsed(
                &[
                    "LAMBDA_MESH_REMOVE_BASE_PATH",
                    "AWS_LWA_REMOVE_BASE_PATH",
                    "REMOVE_BASE_PATH",
                ],
                parse::base_path,
            )?
            .flatten();
        config.authorization_source = self.parsed(
            &[
                "LAMBDA_MESH_AUTHORIZATION_SOURCE",
                "AWS_LWA_AUTHORIZATION_SOURCE",
            ],
            parse::header_name,
        )?;
        Ok(())
    }

    /// How the service's answer goes back to Lambda, and when.
    pub(super) fn responses(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(mode) = self.parsed(
            &["LAMBDA_MESH_INVOKE_MODE", "AWS_LWA_INVOKE_MODE"],
            parse::invoke_mode,
        )? {
            config.invoke_mode = mode;
        }
        if let Some(compression) = self.parsed(
            &[
                "LAMBDA_MESH_ENABLE_COMPRESSION",
                "AWS_LWA_ENABLE_COMPRESSION",
            ],
            parse::boolean,
        )? {
            config.compression = compression;
        }
        if let Some(bytes) = self.parsed(&["LAMBDA_MESH_COMPRESSION_MIN_BYTES"], parse::count)? {
            config.compression_min_bytes = bytes;
        }
        config.error_status = self.parsed(
            &[
                "LAMBDA_MESH_ERROR_STATUS_CODES",
                "AWS_LWA_ERROR_STATUS_CODES",
            ],
            StatusSet::parse,
        )?;
        if let Some(margin) = self.parsed(&["LAMBDA_MESH_DEADLINE_MARGIN_MS"], parse::millis)? {
            config.deadline_margin = margin;
        }
        Ok(())
    }

    /// The log format and filter.
    pub(super) fn logging(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(format) = self.parsed(
            &["LAMBDA_MESH_LOG_FORMAT", "AWS_LAMBDA_LOG_FORMAT"],
            parse::log_format,
        )? {
            config.log_format = format;
        }
        if let Some(level) = self.value(&["LAMBDA_MESH_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"]) {
            config.log_level = level.to_ascii_lowercase();
        }
        Ok(())
    }

    /// Lambda's reserved variables describing the function (never rejected: they are Lambda's).
    pub(super) fn function(&self) -> FunctionEnv {
        FunctionEnv {
            function_name: self
                .value(&["AWS_LAMBDA_FUNCTION_NAME"])
                .unwrap_or_default(),
            memory: self
                .value(&["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
                .and_then(|v| v.parse().ok())
                .unwrap_or(128),
            version: self
                .value(&["AWS_LAMBDA_FUNCTION_VERSION"])
                .unwrap_or_else(|| "$LATEST".to_owned()),
            log_stream: self
                .value(&["AWS_LAMBDA_LOG_STREAM_NAME"])
                .unwrap_or_default(),
            log_group: self
                .value(&["AWS_LAMBDA_LOG_GROUP_NAME"])
                .unwrap_or_default(),
        }
    }
}
