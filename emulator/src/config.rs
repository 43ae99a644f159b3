//! The `[[function]]` tables: what to run, with which limits, and how to reach it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod validate;

/// Default runtime id: an OS-only runtime that runs `bootstrap`.
pub const DEFAULT_RUNTIME: &str = "provided.al2023";
/// Default function timeout in seconds (Lambda's default).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3;
/// Lambda's maximum function timeout in seconds.
pub const MAX_TIMEOUT_SECONDS: u64 = 900;
/// Default memory size in MB (Lambda's default).
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// Default maximum number of execution environments per function.
pub const DEFAULT_CONCURRENCY: u32 = 10;
/// Default handler string (`_HANDLER`), what SAM templates use for OS-only runtimes.
pub const DEFAULT_HANDLER: &str = "bootstrap";
/// Lambda retries a failed asynchronous invocation twice by default (`MaximumRetryAttempts`, 0-2).
pub const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: u32 = 2;
/// Lambda waits about one minute before the first retry and two minutes before the second
/// ("How Lambda handles errors and retries with asynchronous invocation", Lambda developer guide).
pub const DEFAULT_ASYNC_RETRY_DELAYS_MS: [u64; 2] = [60_000, 120_000];
/// Lambda keeps an event up to six hours by default (`MaximumEventAgeInSeconds`, 60-21600).
pub const DEFAULT_MAXIMUM_EVENT_AGE_SECONDS: u64 = 21_600;
/// The range Lambda accepts for `MaximumEventAgeInSeconds` (PutFunctionEventInvokeConfig).
const EVENT_AGE_RANGE: std::ops::RangeInclusive<u64> = 60..=21_600;
/// Longest retry delay accepted: Lambda never holds an event past the maximum event age.
const MAX_RETRY_DELAY_MS: u64 = 21_600_000;

/// One `[[function]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`), 1–64 of `[A-Za-z0-9_-]`.
    pub name: String,
    /// The function's code directory (`LAMBDA_TASK_ROOT`).
    pub code: PathBuf,
    /// The handler string (`_HANDLER`); an `/opt/...` prefix maps to the merged layers.
    #[serde(default = "default_handler")]
    pub handler: String,
    /// Runtime id: `provided.al2023`, `provided.al2`, `provided`, or a managed runtime id.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// Layer directories, merged in order as Lambda merges them under `/opt`.
    #[serde(default)]
    pub layers: Vec<PathBuf>,
    /// Extra environment variables of the function.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Function timeout in seconds (1–900).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Memory size in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, 128–10240).
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Maximum number of execution environments.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Reserved concurrency: a lower cap on environments, throttled with Lambda's reserved reason.
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// Provisioned concurrency: environments initialised when the emulator starts, before any
    /// invoke (at most `concurrency`, and `reserved_concurrency` when set). The rest start on
    /// demand, as on Lambda: the invoke that finds no idle environment pays the cold start.
    #[serde(default)]
    pub provisioned_concurrency: u32,
    /// Aliases or versions served by the same code besides `$LATEST`.
    #[serde(default)]
    pub qualifiers: Vec<String>,
    /// Environment variable names that each execution environment gets its own free port in.
    #[serde(default)]
    pub port_env: Vec<String>,
    /// Emulator extension: an explicit bootstrap executable, used instead of `code/bootstrap`.
    #[serde(default)]
    pub bootstrap: Option<PathBuf>,
    /// `MaximumRetryAttempts` of the event invoke config: retries of a failed `Event` invoke, 0-2.
    #[serde(default = "default_retry_attempts")]
    pub maximum_retry_attempts: u32,
    /// Emulator extension: the wait before each asynchronous retry, in milliseconds (Lambda's are
    /// about 60,000 and 120,000); one entry per retry at least, so tests can use short ones.
    #[serde(default = "default_retry_delays")]
    pub async_retry_delays_ms: Vec<u64>,
    /// `MaximumEventAgeInSeconds`: an `Event` invoke older than this is discarded, not run (60-21600).
    #[serde(default = "default_event_age")]
    pub maximum_event_age_seconds: u64,
}

/// The emulator's config file: `[[function]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// The functions to serve.
    #[serde(default, rename = "function")]
    pub functions: Vec<FunctionConfig>,
}

/// A config file that cannot be read, parsed or accepted.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config file")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema (unknown keys included).
    #[error("{origin}: {message}")]
    Parse {
        /// File name or other origin of the text.
        origin: String,
        /// toml's message, naming the key and line.
        message: String,
    },
    /// A key's value is not acceptable.
    #[error("function `{function}`: key `{key}`: {message}")]
    Invalid {
        /// The function's name.
        function: String,
        /// The offending key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An error inside a file.
    #[error("{origin}: {source}")]
    InFile {
        /// File name or other origin of the text.
        origin: String,
        /// The error.
        #[source]
        source: Box<ConfigError>,
    },
}

fn default_handler() -> String {
    DEFAULT_HANDLER.to_owned()
}
fn default_runtime() -> String {
    DEFAULT_RUNTIME.to_owned()
}
fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}
fn default_memory() -> u32 {
    DEFAULT_MEMORY_MB
}
fn default_concurrency() -> u32 {
    DEFAULT_CONCURRENCY
}
fn default_retry_attempts() -> u32 {
    DEFAULT_MAXIMUM_RETRY_ATTEMPTS
}
fn default_retry_delays() -> Vec<u64> {
    DEFAULT_ASYNC_RETRY_DELAYS_MS.to_vec()
}
fn default_event_age() -> u64 {
    DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
}

impl FunctionConfig {
    /// A function with every default, running `code/bootstrap`.
    pub fn new(name: impl Into<String>, code: impl Into<PathBuf>) -> Self {
        FunctionConfig {
            name: name.into(),
            code: code.into(),
            handler: default_handler(),
            runtime: default_runtime(),
            layers: Vec::new(),
            environment: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT_SECONDS,
            memory_mb: DEFAULT_MEMORY_MB,
            concurrency: DEFAULT_CONCURRENCY,
            reserved_concurrency: None,
            provisioned_concurrency: 0,
            qualifiers: Vec::new(),
            port_env: Vec::new(),
            bootstrap: None,
            maximum_retry_attempts: DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
            async_retry_delays_ms: default_retry_delays(),
            maximum_event_age_seconds: DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
        }
    }

    /// The `--function NAME=PATH` shorthand: PATH a `bootstrap` executable or a directory holding one.
    pub fn from_shorthand(spec: &str) -> Result<Self, ConfigError> {
        let invalid = |message: &str| ConfigError::Invalid {
            function: spec.to_owned(),
            key: "--function",
            message: message.to_owned(),
        };
        let (name, path) = spec
            .split_once('=')
            .ok_or_else(|| invalid("expected NAME=PATH"))?;
        let path = PathBuf::from(path);
        let mut config = if path.is_dir() {
            FunctionConfig::new(name, &path)
        } else if path.is_file() {
            let code = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let mut config = FunctionConfig::new(name, code);
            config.bootstrap = Some(path);
            config
        } else {
            return Err(invalid("PATH is neither a file nor a directory"));
        };
        config.code = absolute(&config.code);
        config.bootstrap = config.bootstrap.as_deref().map(absolute);
        config.validate()?;
        Ok(config)
    }

    /// Relative `code`/`layers`/`bootstrap` paths resolved against `base` (the config file's directory).
    /// The results are absolute (a relative `base` is taken from the current directory), because
    /// `LAMBDA_TASK_ROOT` must name the code directory from inside it too.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.code = absolute(&base.join(&self.code));
        for layer in &mut self.layers {
            *layer = absolute(&base.join(&*layer));
        }
        if let Some(bootstrap) = &mut self.bootstrap {
            *bootstrap = absolute(&base.join(&*bootstrap));
        }
    }

    /// The number of environments this function may run at once (`reserved_concurrency` caps it).
    pub fn max_environments(&self) -> u32 {
        match self.reserved_concurrency {
            Some(reserved) => reserved.min(self.concurrency),
            None => self.concurrency,
        }
    }

    /// The waits before each asynchronous retry: `maximum_retry_attempts` of them.
    pub fn async_retry_delays(&self) -> Vec<std::time::Duration> {
        self.async_retry_delays_ms
            .iter()
            .take(self.maximum_retry_attempts as usize)
            .map(|ms| std::time::Duration::from_millis(*ms))
            .collect()
    }
}

impl EmulatorConfig {
    /// Read, parse and validate a config file; relative paths are resolved against its directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let base = absolute(base);
        Self::from_toml_str(&text, &base, &path.display().to_string())
    }

    /// Parse and validate TOML text; `origin` names it in errors, `base` resolves relative paths.
    pub fn from_toml_str(text: &str, base: &Path, origin: &str) -> Result<Self, ConfigError> {
        let mut config: EmulatorConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        for function in &mut config.functions {
            function.resolve_paths(base);
        }
        config.validate().map_err(|source| ConfigError::InFile {
            origin: origin.to_owned(),
            source: Box::new(source),
        })?;
        Ok(config)
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests;
