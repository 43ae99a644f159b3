//! `lambda-mesh-extension`: the layer's extension binary (`/opt/extensions/lambda-mesh`).

use std::process::ExitCode;

use lambda_mesh_extension::{
    fail_init, init_logging, log_settings_from_env, run, tuned_tunables, Config, ErrorReport,
    INVALID_CONFIG,
};

/// Re-executes this binary once with glibc's malloc tunables set (see `malloc_tuning`); on
/// failure, carries on untuned.
fn reexec_with_malloc_tuning() {
    use std::os::unix::process::CommandExt;
    let current = std::env::var("GLIBC_TUNABLES").ok();
    let setting = std::env::var("LAMBDA_MESH_MALLOC_TUNING").ok();
    let Some(tunables) = tuned_tunables(current.as_deref(), setting.as_deref()) else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let error = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    eprintln!("lambda-mesh: re-executing with malloc tuning failed ({error}); continuing untuned");
}

/// Exit status for an unusable configuration (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    reexec_with_malloc_tuning();
    let (format, level) = log_settings_from_env();
    init_logging(format, &level);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let config = match Config::from_env() {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(%error, "invalid configuration");
                if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
                    let report = ErrorReport::new(INVALID_CONFIG, error.to_string());
                    if let Err(api_error) = fail_init(&api, &report).await {
                        tracing::error!(error = %api_error.describe(), "init/error could not be reported");
                    }
                }
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        match run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = %error.describe(), "extension stopped");
                ExitCode::FAILURE
            }
        }
    })
}
