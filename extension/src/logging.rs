//! Tracing output: text or JSON on stderr, filtered by `LAMBDA_MESH_LOG_LEVEL`, as the parsed
//! [`Config`] says.

use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::config::{Config, LogFormat, DEFAULT_LOG_LEVEL};

/// Installs the global subscriber with `config`'s log format and level, or text at `info` when
/// there is no configuration (it could not be read: that error is then the one thing logged).
/// An unusable filter falls back to `info`.
pub fn init_logging(config: Option<&Config>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (format, level) = config.map_or((LogFormat::default(), DEFAULT_LOG_LEVEL), |config| {
        (config.log_format, config.log_level.as_str())
    });
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
