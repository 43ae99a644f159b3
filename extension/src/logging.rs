//! Tracing output: text or JSON on stderr, filtered by `LAMBDA_MESH_LOG_LEVEL`.

use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::config::LogFormat;

/// Installs the global subscriber. An unusable filter falls back to `info`.
pub fn init(format: LogFormat, level: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(filter(level));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Json => registry.with(layer.json()).try_init(),
        LogFormat::Text => registry.with(layer.with_ansi(false)).try_init(),
    };
    if let Err(error) = result {
        eprintln!("lambda-mesh: logging not initialised: {error}");
    }
}

/// The filter for `level`: a level (`info`; Lambda's `fatal` counts as `error`) or
/// comma-separated `target=level` directives; anything else is `info`.
fn filter(level: &str) -> Targets {
    let level = level.trim();
    let level = if level.eq_ignore_ascii_case("fatal") {
        "error"
    } else {
        level
    };
    level
        .parse::<Targets>()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_directives_and_fallbacks() {
        assert_eq!(filter("debug").default_level(), Some(LevelFilter::DEBUG));
        assert_eq!(filter("FATAL").default_level(), Some(LevelFilter::ERROR));
        let directives = filter("warn,lambda_mesh_extension=trace");
        assert_eq!(directives.default_level(), Some(LevelFilter::WARN));
        assert!(directives.would_enable("lambda_mesh_extension::run", &tracing::Level::TRACE));
        assert!(!directives.would_enable("hyper", &tracing::Level::INFO));
        assert_eq!(filter("a=b=c").default_level(), Some(LevelFilter::INFO));
    }
}
