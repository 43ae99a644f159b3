//! Logs to stderr, text or JSON, filtered by `RUST_LOG` (default `info`), except that the AWS
//! SDK's crates never log above `INFO`, whatever `RUST_LOG` says.
//!
//! Their `DEBUG` and `TRACE` events carry secrets: the resolved identity with the access key id
//! (`aws_smithy_runtime::client::orchestrator::auth`), the request being signed with its
//! `x-amz-security-token` and the event body holding the caller's `Authorization` header
//! (`aws_sigv4::http_request::sign`), the runtime components and endpoint parameters. The cap is
//! a second filter beside `RUST_LOG`'s, both of which an event must pass, so no directive
//! (`RUST_LOG=trace`, `RUST_LOG=aws_sigv4=trace`) turns those events back on.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Targets of the AWS SDK's crates (`aws_config`, `aws_sdk_lambda`, `aws_sigv4`, `aws_smithy_*`,
/// `aws_runtime`, `aws_credential_types`) start with this.
const AWS_SDK_TARGET_PREFIX: &str = "aws_";

/// The most verbose level the AWS SDK's crates may log at (their warnings and errors stay).
const AWS_SDK_MAX_LEVEL: Level = Level::INFO;

/// Install the global subscriber (a second call is a no-op).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .and(filter_fn(|metadata| {
            allowed(metadata.target(), *metadata.level())
        }));
    let ansi = std::io::stderr().is_terminal();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let layer = match format {
        LogFormat::Json => layer.json().flatten_event(true).with_filter(filter).boxed(),
        LogFormat::Text => layer.with_filter(filter).boxed(),
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Whether a span or event of `target` at `level` may be logged at all: not one of the AWS SDK's above
/// [`AWS_SDK_MAX_LEVEL`].
fn allowed(target: &str, level: Level) -> bool {
    !target.starts_with(AWS_SDK_TARGET_PREFIX) || level <= AWS_SDK_MAX_LEVEL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_sdks_debug_and_trace_are_never_allowed() {
        for target in [
            "aws_smithy_runtime::client::orchestrator::auth",
            "aws_sigv4::http_request::sign",
            "aws_config::meta::credentials::chain",
            "aws_sdk_lambda::operation",
        ] {
            assert!(!allowed(target, Level::TRACE), "{target}");
            assert!(!allowed(target, Level::DEBUG), "{target}");
            assert!(allowed(target, Level::INFO), "{target}");
            assert!(allowed(target, Level::WARN), "{target}");
        }
    }

    #[test]
    fn other_targets_are_left_to_rust_log() {
        for target in [
            "mesh_proxy::access",
            "mesh_proxy::invoker",
            "hyper_util",
            "h2",
        ] {
            assert!(allowed(target, Level::TRACE), "{target}");
        }
    }
}
