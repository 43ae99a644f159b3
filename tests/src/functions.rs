//! Function configurations for the emulator: the shared Python runtime client
//! (`tests/data/python-fn`), examples/hello-python behind the lambda-mesh layer, a Rust service
//! behind it, and binaries as `bootstrap`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lambda_mesh_emulator::FunctionConfig;

use crate::workspace::{data, root};

/// `tests/data/python-fn`: a custom runtime (a Runtime API client in standard-library Python) that
/// answers HTTP events by path and runs any other event as a command (see its `runtime.py`).
pub fn python_fn() -> PathBuf {
    data("python-fn")
}

/// [`python_fn`] as function `name`, with a 2 s timeout.
pub fn python_runtime(name: &str) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, python_fn());
    config.timeout = 2;
    config
}

/// A function whose bootstrap is `binary`, with the code directory `code`.
pub fn binary_function(name: &str, binary: impl AsRef<Path>, code: &Path) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, code);
    config.bootstrap = Some(binary.as_ref().to_path_buf());
    config
}

/// examples/hello-python on `python3.12` behind the lambda-mesh `layer` (as
/// `AWS_LAMBDA_EXEC_WRAPPER`), its port chosen per environment.
pub fn python_function(name: &str, layer: &Path, env: &[(&str, &str)]) -> FunctionConfig {
    let mut function = FunctionConfig::new(name, root().join("examples/hello-python"));
    function.runtime = "python3.12".into();
    function.handler = "run.sh".into();
    function.layers = vec![layer.to_path_buf()];
    function.port_env = vec!["PORT".into()];
    function.timeout = 5;
    function.concurrency = 1;
    function
        .environment
        .insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/opt/bootstrap".into());
    extend(&mut function.environment, env);
    function
}

/// examples/hello-python on `provided.al2023` with no bootstrap in the code: Lambda runs
/// `/opt/bootstrap` from the layer itself.
pub fn python_provided_function(name: &str, layer: &Path, env: &[(&str, &str)]) -> FunctionConfig {
    let mut function = python_function(name, layer, env);
    function.runtime = "provided.al2023".into();
    function.environment.remove("AWS_LAMBDA_EXEC_WRAPPER");
    function
}

/// A function behind the lambda-mesh `layer` whose process only waits (`code` from
/// [`crate::layer::waiting_code`]): the service is the test's own server on `port`.
pub fn rust_service_function(
    name: &str,
    layer: &Path,
    code: &Path,
    port: u16,
    env: &[(&str, &str)],
) -> FunctionConfig {
    let mut function = FunctionConfig::new(name, code);
    function.runtime = "provided.al2023".into();
    function.handler = "wait.sh".into();
    function.layers = vec![layer.to_path_buf()];
    function.timeout = 3;
    function.concurrency = 1;
    function
        .environment
        .insert("LAMBDA_MESH_PORT".into(), port.to_string());
    extend(&mut function.environment, env);
    function
}

fn extend(environment: &mut BTreeMap<String, String>, env: &[(&str, &str)]) {
    for (key, value) in env {
        environment.insert((*key).to_owned(), (*value).to_owned());
    }
}
