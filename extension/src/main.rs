//! `lambda-mesh-extension`: the layer's extension binary (`/opt/extensions/lambda-mesh`).

use std::process::ExitCode;

use lambda_mesh_extension::{
    fail_init, init_logging, log_settings_from_env, run, Config, ErrorReport, INVALID_CONFIG,
};

/// Exit status for an unusable configuration (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
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
                        tracing::error!(error = %api_error, "init/error could not be reported");
                    }
                }
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        match run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = %error, "extension stopped");
                ExitCode::FAILURE
            }
        }
    })
}
