//! Helpers the `emulator_*` tests share: start an emulator with its Invoke API, an SDK client,
//! layers made of test binaries, and finding tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig};

#[path = "../../../emulator/tests/support/poll.rs"]
pub mod poll;

/// A running emulator serving the Invoke API on 127.0.0.1, port 0.
pub struct Running {
    pub emulator: Emulator,
    pub endpoint: String,
}

impl Running {
    /// Start the functions and serve the Invoke API.
    pub async fn start(functions: Vec<FunctionConfig>) -> Running {
        let emulator = Emulator::start(EmulatorConfig { functions }).await.unwrap();
        Self::serve(emulator).await
    }

    /// Serve an already started emulator.
    pub async fn serve(emulator: Emulator) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let served = emulator.clone();
        tokio::spawn(async move { served.serve_invoke_api(listener).await });
        Running { emulator, endpoint }
    }

    /// An aws-sdk-lambda client for this emulator, with dummy credentials and no retries.
    pub fn client(&self) -> aws_sdk_lambda::Client {
        client(&self.endpoint)
    }
}

/// An aws-sdk-lambda client for `endpoint`, with dummy credentials and no retries.
pub fn client(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "AKIDEXAMPLE",
            "emulator-secret",
            None,
            None,
            "test",
        ))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// A function whose bootstrap is `binary`, with an empty code directory.
pub fn binary_function(name: &str, binary: &str, code: &Path) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, code);
    config.bootstrap = Some(PathBuf::from(binary));
    config
}

/// The python custom-runtime fixture of the emulator crate.
pub fn python_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../emulator/tests/fixtures/python-fn")
}

/// A layer directory holding `extensions/<name>` → `binary`.
pub fn extension_layer(dir: &Path, name: &str, binary: &Path) -> PathBuf {
    let layer = dir.join(format!("layer-{name}"));
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::os::unix::fs::symlink(binary, layer.join("extensions").join(name)).unwrap();
    layer
}

/// A tool on PATH or in `<repo>/.tools/bin` / `<repo>/.venv/bin`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(repo.join(".tools/bin"));
    dirs.push(repo.join(".venv/bin"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}
