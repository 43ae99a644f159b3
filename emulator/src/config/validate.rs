//! The rules a `[[function]]` table's values must follow, each error naming its key.

use std::collections::HashSet;

use super::{
    ConfigError, EmulatorConfig, FunctionConfig, DEFAULT_MAXIMUM_RETRY_ATTEMPTS, EVENT_AGE_RANGE,
    MAX_RETRY_DELAY_MS, MAX_TIMEOUT_SECONDS,
};

impl FunctionConfig {
    /// Check every key's value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_names_and_paths()?;
        self.validate_limits()?;
        self.validate_async()?;
        self.validate_environment()
    }

    fn invalid(&self, key: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            function: self.name.clone(),
            key,
            message: message.into(),
        }
    }

    fn validate_names_and_paths(&self) -> Result<(), ConfigError> {
        if !valid_name(&self.name, 64) {
            return Err(self.invalid(
                "name",
                "must be 1-64 characters of letters, digits, `-` and `_`",
            ));
        }
        if !self.code.is_dir() {
            return Err(self.invalid(
                "code",
                format!("{} is not a directory", self.code.display()),
            ));
        }
        for layer in &self.layers {
            if !layer.is_dir() {
                return Err(
                    self.invalid("layers", format!("{} is not a directory", layer.display()))
                );
            }
        }
        if let Some(bootstrap) = &self.bootstrap {
            if !bootstrap.is_file() {
                return Err(self.invalid(
                    "bootstrap",
                    format!("{} is not a file", bootstrap.display()),
                ));
            }
        }
        if self.runtime.trim().is_empty() {
            return Err(self.invalid("runtime", "must not be empty"));
        }
        for qualifier in &self.qualifiers {
            if qualifier == "$LATEST" || !valid_name(qualifier, 128) {
                return Err(self.invalid(
                    "qualifiers",
                    format!("`{qualifier}` is not a valid alias or version"),
                ));
            }
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&self.timeout) {
            return Err(self.invalid(
                "timeout",
                format!("must be 1-{MAX_TIMEOUT_SECONDS} seconds"),
            ));
        }
        if !(128..=10240).contains(&self.memory_mb) {
            return Err(self.invalid("memory_mb", "must be 128-10240"));
        }
        if self.concurrency == 0 {
            return Err(self.invalid("concurrency", "must be at least 1"));
        }
        if self.reserved_concurrency == Some(0) {
            return Err(self.invalid("reserved_concurrency", "must be at least 1"));
        }
        // Lambda refuses provisioned concurrency above what the function may run at once.
        if self.provisioned_concurrency > self.max_environments() {
            return Err(self.invalid(
                "provisioned_concurrency",
                format!(
                    "must be at most {} (concurrency{})",
                    self.max_environments(),
                    if self.reserved_concurrency.is_some() {
                        ", capped by reserved_concurrency"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok(())
    }

    fn validate_async(&self) -> Result<(), ConfigError> {
        if self.maximum_retry_attempts > DEFAULT_MAXIMUM_RETRY_ATTEMPTS {
            return Err(self.invalid(
                "maximum_retry_attempts",
                format!("must be 0-{DEFAULT_MAXIMUM_RETRY_ATTEMPTS}"),
            ));
        }
        if self.async_retry_delays_ms.len() < self.maximum_retry_attempts as usize
            || self.async_retry_delays_ms.len() > DEFAULT_MAXIMUM_RETRY_ATTEMPTS as usize
        {
            return Err(self.invalid(
                "async_retry_delays_ms",
                format!(
                    "needs one delay per retry: {} (maximum_retry_attempts) to {DEFAULT_MAXIMUM_RETRY_ATTEMPTS} entries",
                    self.maximum_retry_attempts
                ),
            ));
        }
        if self
            .async_retry_delays_ms
            .iter()
            .any(|ms| *ms > MAX_RETRY_DELAY_MS)
        {
            return Err(self.invalid(
                "async_retry_delays_ms",
                format!("each delay must be at most {MAX_RETRY_DELAY_MS} ms"),
            ));
        }
        if !EVENT_AGE_RANGE.contains(&self.maximum_event_age_seconds) {
            return Err(self.invalid(
                "maximum_event_age_seconds",
                format!(
                    "must be {}-{} seconds",
                    EVENT_AGE_RANGE.start(),
                    EVENT_AGE_RANGE.end()
                ),
            ));
        }
        Ok(())
    }

    fn validate_environment(&self) -> Result<(), ConfigError> {
        for key in self.environment.keys() {
            if !valid_env_name(key) {
                return Err(self.invalid(
                    "environment",
                    format!("`{key}` is not a valid variable name"),
                ));
            }
        }
        for key in &self.port_env {
            if !valid_env_name(key) {
                return Err(
                    self.invalid("port_env", format!("`{key}` is not a valid variable name"))
                );
            }
        }
        Ok(())
    }
}

impl EmulatorConfig {
    /// Validate every function and reject duplicate names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for function in &self.functions {
            function.validate()?;
            if !seen.insert(function.name.as_str()) {
                return Err(ConfigError::Invalid {
                    function: function.name.clone(),
                    key: "name",
                    message: "defined twice".into(),
                });
            }
        }
        Ok(())
    }
}

fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
