//! The `[[function]]` tables: what to run, with which limits, and how to reach it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// Aliases or versions served by the same code besides `$LATEST`.
    #[serde(default)]
    pub qualifiers: Vec<String>,
    /// Environment variable names that each execution environment gets its own free port in.
    #[serde(default)]
    pub port_env: Vec<String>,
    /// Emulator extension: an explicit bootstrap executable, used instead of `code/bootstrap`.
    #[serde(default)]
    pub bootstrap: Option<PathBuf>,
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
            qualifiers: Vec::new(),
            port_env: Vec::new(),
            bootstrap: None,
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

    /// Check every key's value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            function: self.name.clone(),
            key,
            message,
        };
        if !valid_name(&self.name, 64) {
            return Err(invalid(
                "name",
                "must be 1-64 characters of letters, digits, `-` and `_`".into(),
            ));
        }
        if !self.code.is_dir() {
            return Err(invalid(
                "code",
                format!("{} is not a directory", self.code.display()),
            ));
        }
        for layer in &self.layers {
            if !layer.is_dir() {
                return Err(invalid(
                    "layers",
                    format!("{} is not a directory", layer.display()),
                ));
            }
        }
        if let Some(bootstrap) = &self.bootstrap {
            if !bootstrap.is_file() {
                return Err(invalid(
                    "bootstrap",
                    format!("{} is not a file", bootstrap.display()),
                ));
            }
        }
        if self.runtime.trim().is_empty() {
            return Err(invalid("runtime", "must not be empty".into()));
        }
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&self.timeout) {
            return Err(invalid(
                "timeout",
                format!("must be 1-{MAX_TIMEOUT_SECONDS} seconds"),
            ));
        }
        if !(128..=10240).contains(&self.memory_mb) {
            return Err(invalid("memory_mb", "must be 128-10240".into()));
        }
        if self.concurrency == 0 {
            return Err(invalid("concurrency", "must be at least 1".into()));
        }
        if self.reserved_concurrency == Some(0) {
            return Err(invalid("reserved_concurrency", "must be at least 1".into()));
        }
        for qualifier in &self.qualifiers {
            if qualifier == "$LATEST" || !valid_name(qualifier, 128) {
                return Err(invalid(
                    "qualifiers",
                    format!("`{qualifier}` is not a valid alias or version"),
                ));
            }
        }
        for key in self.environment.keys() {
            if !valid_env_name(key) {
                return Err(invalid(
                    "environment",
                    format!("`{key}` is not a valid variable name"),
                ));
            }
        }
        for key in &self.port_env {
            if !valid_env_name(key) {
                return Err(invalid(
                    "port_env",
                    format!("`{key}` is not a valid variable name"),
                ));
            }
        }
        Ok(())
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

    /// Validate every function and reject duplicate names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
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

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn defaults_and_relative_paths() {
        let base = dir();
        std::fs::create_dir(base.path().join("fn")).unwrap();
        let config = EmulatorConfig::from_toml_str(
            "[[function]]\nname = \"echo\"\ncode = \"fn\"\n",
            base.path(),
            "f.toml",
        )
        .unwrap();
        let f = &config.functions[0];
        assert_eq!(f.code, base.path().join("fn"));
        assert_eq!(f.timeout, 3);
        assert_eq!(f.memory_mb, 128);
        assert_eq!(f.concurrency, 10);
        assert_eq!(f.runtime, "provided.al2023");
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let base = dir();
        let err = EmulatorConfig::from_toml_str(
            "[[function]]\nname = \"echo\"\ncode = \".\"\ntimeout_s = 3\n",
            base.path(),
            "functions.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("functions.toml"), "{err}");
        assert!(err.contains("timeout_s"), "{err}");
    }

    #[test]
    fn bad_value_names_file_and_key() {
        let base = dir();
        let err = EmulatorConfig::from_toml_str(
            "[[function]]\nname = \"echo\"\ncode = \".\"\ntimeout = 0\n",
            base.path(),
            "functions.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("functions.toml"), "{err}");
        assert!(err.contains("`timeout`"), "{err}");
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let base = dir();
        let text =
            "[[function]]\nname = \"a\"\ncode = \".\"\n[[function]]\nname = \"a\"\ncode = \".\"\n";
        let err = EmulatorConfig::from_toml_str(text, base.path(), "x.toml").unwrap_err();
        assert!(err.to_string().contains("defined twice"));
    }

    #[test]
    fn embeddable_in_another_struct() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Outer {
            #[serde(rename = "function")]
            functions: Vec<FunctionConfig>,
        }
        let outer: Outer = toml::from_str("[[function]]\nname = \"a\"\ncode = \"x\"\n").unwrap();
        assert_eq!(outer.functions[0].name, "a");
        assert!(
            toml::from_str::<Outer>("[[function]]\nname = \"a\"\ncode = \"x\"\nbad = 1\n").is_err()
        );
    }
}
