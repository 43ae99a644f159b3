//! `lambda-mesh-extension`: the layer's extension binary (`/opt/extensions/lambda-mesh`).

use std::process::ExitCode;

use lambda_mesh_extension::{fail_init, init_logging, reexec_with_malloc_tuning, run, Config};

/// Exit status for an unusable configuration (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    reexec_with_malloc_tuning();
    let config = Config::from_env();
    init_logging(config.as_ref().ok());
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
        let config = match config {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(%error, "invalid configuration");
                if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
                    fail_init(&api, error).await;
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
