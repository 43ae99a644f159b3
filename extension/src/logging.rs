//! Tracing output: text or JSON on stderr, filtered by `LAMBDA_MESH_LOG_LEVEL`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. An unusable filter falls back to `info` (the configuration
/// check reports bad values later, once it can be reported through `init/error`).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    if let Err(error) = result {
        eprintln!("lambda-mesh: logging not initialised: {error}");
    }
}

/// The format and level from the environment, leniently (defaults for anything unusable).
pub fn from_env() -> (LogFormat, String) {
    let var = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok());
    let format = match var(&["LAMBDA_MESH_LOG_FORMAT", "AWS_LAMBDA_LOG_FORMAT"]) {
        Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let level = var(&["LAMBDA_MESH_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"])
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_else(|| "info".to_owned());
    (format, level)
}
