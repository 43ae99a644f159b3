//! Shared test harness: a layer directory holding the real extension binary and bootstrap, the
//! real emulator in-process, functions running examples/hello-python or an in-test Rust service.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use lambda_mesh_emulator::{
    Emulator, EmulatorConfig, FunctionConfig, InvokeError, InvokeRequest, InvokeResponse,
};
use serde_json::Value;
use tempfile::TempDir;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("extension/ has a parent")
        .to_path_buf()
}

/// A layer directory: `extensions/lambda-mesh` (the binary under test) and `bootstrap`.
pub fn layer() -> TempDir {
    layer_with(env!("CARGO_BIN_EXE_lambda-mesh-extension"), "lambda-mesh")
}

/// A layer holding `binary` as `extensions/NAME` plus the lambda-mesh bootstrap.
pub fn layer_with(binary: &str, name: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let extensions = dir.path().join("extensions");
    std::fs::create_dir_all(&extensions).expect("mkdir extensions");
    std::fs::copy(binary, extensions.join(name)).expect("copy extension");
    std::fs::copy(
        root().join("extension/layer/bootstrap"),
        dir.path().join("bootstrap"),
    )
    .expect("copy bootstrap");
    dir
}

/// The Python example on `python3.12` with the wrapper, its port chosen per environment.
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

/// The Python example on `provided.al2023` with no bootstrap in the code: Lambda runs
/// `/opt/bootstrap` from the layer itself.
pub fn python_provided_function(name: &str, layer: &Path, env: &[(&str, &str)]) -> FunctionConfig {
    let mut function = python_function(name, layer, env);
    function.runtime = "provided.al2023".into();
    function.environment.remove("AWS_LAMBDA_EXEC_WRAPPER");
    function
}

/// A function whose process only waits: the service is the test's own server on `port`.
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

/// A code directory whose handler `wait.sh` just waits (the service runs in the test).
pub fn waiting_code() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("wait.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 600\n").expect("write wait.sh");
    set_executable(&script);
    dir
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path).expect("metadata").permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).expect("chmod");
}

fn extend(environment: &mut BTreeMap<String, String>, env: &[(&str, &str)]) {
    for (key, value) in env {
        environment.insert((*key).to_owned(), (*value).to_owned());
    }
}

/// Starts the emulator with `functions`.
pub async fn start(functions: Vec<FunctionConfig>) -> Emulator {
    Emulator::start(EmulatorConfig { functions })
        .await
        .expect("emulator starts")
}

/// A synchronous invoke of `function` with `payload`, bounded in time.
pub async fn invoke(emulator: &Emulator, function: &str, payload: &Value) -> InvokeResponse {
    invoke_bytes(emulator, function, Bytes::from(payload.to_string())).await
}

/// A synchronous invoke with a raw payload, bounded in time.
pub async fn invoke_bytes(emulator: &Emulator, function: &str, payload: Bytes) -> InvokeResponse {
    // With concurrency 1 the environment is busy until the extension asks for the next
    // invocation, a moment after it posted the last result: retry throttles, boundedly.
    for _ in 0..100 {
        let request = InvokeRequest {
            function: function.to_owned(),
            payload: payload.clone(),
            ..InvokeRequest::default()
        };
        match tokio::time::timeout(Duration::from_secs(30), emulator.invoke(request))
            .await
            .expect("invoke finishes within 30 s")
        {
            Ok(response) => return response,
            Err(InvokeError::TooManyRequests { .. }) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("invoke refused: {error:?}"),
        }
    }
    panic!("invoke throttled 100 times in a row")
}

/// The result as JSON.
pub fn json(response: &InvokeResponse) -> Value {
    serde_json::from_slice(&response.payload).unwrap_or_else(|e| {
        panic!(
            "result is not JSON ({e}): {}",
            String::from_utf8_lossy(&response.payload)
        )
    })
}

/// An API Gateway HTTP API (v2) event.
pub fn v2_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Value {
    use base64::Engine as _;
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "test"
            },
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2024:00:00:00 +0000",
            "timeEpoch": 1704067200000u64
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    })
}

/// The body of a v2/v1/ALB result, decoded.
pub fn result_body(result: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let body = result["body"].as_str().unwrap_or("");
    if result["isBase64Encoded"].as_bool().unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("result body is base64")
    } else {
        body.as_bytes().to_vec()
    }
}

/// A result header (v2/v1 `headers`, lower-cased names as the adapter writes them).
pub fn result_header<'a>(result: &'a Value, name: &str) -> Option<&'a str> {
    result["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// A streaming invoke of `function` with `payload`, retrying throttles as [`invoke_bytes`] does.
pub async fn invoke_stream(
    emulator: &Emulator,
    function: &str,
    payload: &Value,
) -> lambda_mesh_emulator::StreamingInvoke {
    for _ in 0..100 {
        let request = InvokeRequest {
            function: function.to_owned(),
            payload: Bytes::from(payload.to_string()),
            ..InvokeRequest::default()
        };
        match tokio::time::timeout(Duration::from_secs(30), emulator.invoke_stream(request))
            .await
            .expect("invoke_stream answers within 30 s")
        {
            Ok(streaming) => return streaming,
            Err(InvokeError::TooManyRequests { .. }) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("invoke_stream refused: {error:?}"),
        }
    }
    panic!("invoke_stream throttled 100 times in a row")
}
