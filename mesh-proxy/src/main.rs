//! `mesh-proxy`: the sidecar binary. Loads the config (flag > env > file), then serves until
//! SIGTERM; `--check` only validates. A bad config exits 64.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mesh_proxy::{
    init_tracing, read_agent_entries, run, AgentEntries, Config, FlagValues, Overrides, StartError,
};

/// Exit status for a bad config (sysexits EX_USAGE).
const EXIT_BAD_CONFIG: u8 = 64;

/// HTTP in, AWS Lambda invocations out.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The config file (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Validate the config and exit (0 when good, 64 when not).
    #[arg(long)]
    check: bool,
    /// Admin listener address (overrides MESH_PROXY_ADMIN_LISTEN and [admin] listen).
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<String>,
    /// AWS region (overrides MESH_PROXY_AWS_REGION and [aws] region).
    #[arg(long, value_name = "REGION")]
    aws_region: Option<String>,
    /// Lambda endpoint URL (overrides MESH_PROXY_AWS_ENDPOINT_URL and [aws] endpoint_url).
    #[arg(long, value_name = "URL")]
    aws_endpoint_url: Option<String>,
    /// AWS profile (overrides MESH_PROXY_AWS_PROFILE and [aws] profile).
    #[arg(long, value_name = "NAME")]
    aws_profile: Option<String>,
    /// `text` or `json` (overrides MESH_PROXY_LOG_FORMAT and log_format).
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// A Consul service definition (HCL or JSON, as for `consul services register`); repeatable.
    /// Replaces [consul] service_files.
    #[arg(long = "service-file", value_name = "FILE")]
    service_files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let flags = FlagValues {
        admin_listen: args.admin_listen,
        aws_region: args.aws_region,
        aws_endpoint_url: args.aws_endpoint_url,
        aws_profile: args.aws_profile,
        log_format: args.log_format,
        service_files: args.service_files,
    };
    let load = |agent: &AgentEntries| {
        let flags = Overrides::from_flags(&flags)?;
        Config::load_with_agent(&args.config, &flags, |name| std::env::var(name).ok(), agent)
    };
    // The files alone first: `--check` never asks the agent; `run` then lays its entries over.
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mesh-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match load(&AgentEntries::default()) {
        Ok(config) => config,
        Err(e) => {
            // The files may lean on the agent's entries (a function named only by its
            // service-defaults): read them once, then try again.
            let prelude = Overrides::from_flags(&flags).ok().and_then(|flags| {
                Config::agent_prelude(&args.config, &flags, |name| std::env::var(name).ok())
                    .ok()
                    .flatten()
            });
            let Some(prelude) = prelude.filter(|_| !args.check) else {
                eprintln!("mesh-proxy: {e}");
                return ExitCode::from(EXIT_BAD_CONFIG);
            };
            init_tracing(prelude.log_format);
            tracing::info!(error = %e, "the files alone are not a config: reading the Consul agent's entries first");
            let agent = runtime.block_on(read_agent_entries(&prelude));
            match load(&agent) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("mesh-proxy: {e}");
                    return ExitCode::from(EXIT_BAD_CONFIG);
                }
            }
        }
    };
    if args.check {
        for warning in config.warnings() {
            eprintln!("mesh-proxy: warning: {warning}");
        }
        println!("{}: ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    init_tracing(config.log_format);
    match runtime.block_on(run(config, load)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "mesh-proxy failed");
            eprintln!("mesh-proxy: {e}");
            // No region for an aws upstream, or gateway certificates rustls refuses, are config
            // problems too.
            if matches!(
                e,
                StartError::Aws(_) | StartError::Tls(_) | StartError::Config(_)
            ) {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
