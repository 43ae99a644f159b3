//! `lambda-emulator`: a local AWS Lambda.
//!
//! `lambda-emulator --listen 127.0.0.1:9001 --config functions.toml [--function NAME=PATH ...]`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// Exit code for a bad configuration (EX_USAGE / EX_CONFIG family).
const EXIT_BAD_CONFIG: u8 = 64;

/// A faithful local AWS Lambda.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Address of the Invoke API (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// A TOML file of `[[function]]` tables.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A function as NAME=PATH, PATH a bootstrap executable or a directory holding one.
    #[arg(long = "function", value_name = "NAME=PATH")]
    functions: Vec<String>,
}

fn load(args: &Args) -> Result<EmulatorConfig, lambda_mesh_emulator::ConfigError> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_file(path)?,
        None => EmulatorConfig::default(),
    };
    for spec in &args.functions {
        config.functions.push(FunctionConfig::from_shorthand(spec)?);
    }
    config.validate()?;
    Ok(config)
}

// One thread: the emulator moves bytes between sockets and processes, and a single-threaded
// runtime answers each hop without cross-thread wake-ups (see BENCHMARKS.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = match load(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lambda-emulator: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("lambda-emulator: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => eprintln!("lambda-emulator: {e}"),
    }
    let started = Emulator::start_with_hook(config, |name, result| match result {
        Ok(took) => println!("function {name} ready in {} ms", took.as_millis()),
        Err(e) => eprintln!("lambda-emulator: function {name} failed to init: {e}"),
    });
    let emulator = match started.await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("lambda-emulator: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let server = tokio::spawn({
        let emulator = emulator.clone();
        async move { emulator.serve_invoke_api(listener).await }
    });
    wait_for_signal().await;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    let _ = server.await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
