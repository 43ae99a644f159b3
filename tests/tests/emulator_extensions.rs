//! Extensions on the emulator: lambda-extension external extensions (init waits for them, INVOKE
//! and SHUTDOWN reach them) and aws-lambda-web-adapter run unchanged as a layer extension.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::operation::RequestId as _;
use aws_sdk_lambda::primitives::Blob;
use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use lambda_mesh_tests::emulator::Running;
use lambda_mesh_tests::events::v2_event;
use lambda_mesh_tests::functions::{binary_function, python_fn};
use lambda_mesh_tests::layer::extension_layer;
use lambda_mesh_tests::poll::eventually;
use lambda_mesh_tests::workspace::find_tool;
use serde_json::Value;

const ECHO: &str = env!("CARGO_BIN_EXE_emulator-echo-fn");
const EXTENSION: &str = env!("CARGO_BIN_EXE_emulator-extension");

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn init_waits_for_extensions_and_invoke_and_shutdown_reach_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.txt");
    let layer = extension_layer(dir.path(), "emulator-extension", Path::new(EXTENSION));
    let mut config = binary_function("echo", ECHO, dir.path());
    config.layers = vec![layer];
    config
        .environment
        .insert("EXT_LOG".into(), log.display().to_string());
    config
        .environment
        .insert("EXT_INIT_SLEEP_MS".into(), "700".into());
    let ready = Arc::new(Mutex::new(None));
    let seen = ready.clone();
    let emulator = Emulator::start_with_hook(
        EmulatorConfig {
            functions: vec![config],
        },
        move |_, r| {
            *seen.lock().unwrap() = Some(r);
        },
    )
    .await
    .unwrap();
    let init = ready.lock().unwrap().clone().unwrap().unwrap();
    assert!(
        init >= Duration::from_millis(700),
        "init must wait for the extension: {init:?}"
    );
    assert_eq!(lines(&log), ["REGISTER"]);

    let running = Running::serve(emulator).await;
    let out = running
        .client()
        .invoke()
        .function_name("echo")
        .payload(Blob::new(r#"{"k":1}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), br#"{"k":1}"#);
    let request_id = out
        .request_id()
        .expect("the Invoke API answers with a request id")
        .to_owned();
    assert!(eventually(Duration::from_secs(3), || lines(&log).len() == 2).await);
    let invoke_line = lines(&log)[1].clone();
    assert!(invoke_line.starts_with("INVOKE "), "{invoke_line}");
    assert_eq!(invoke_line, format!("INVOKE {request_id}"));
    running.emulator.shutdown().await;
    assert!(eventually(Duration::from_secs(3), || lines(&log).len() == 3).await);
    assert_eq!(lines(&log)[2], "SHUTDOWN spindown");
}

#[tokio::test]
async fn a_timeout_shuts_the_environment_down_with_reason_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.txt");
    let layer = extension_layer(dir.path(), "emulator-extension", Path::new(EXTENSION));
    let mut config = FunctionConfig::new("slow", python_fn());
    config.timeout = 1;
    config.layers = vec![layer];
    config
        .environment
        .insert("EXT_LOG".into(), log.display().to_string());
    let running = Running::start(vec![config]).await;
    let out = running
        .client()
        .invoke()
        .function_name("slow")
        .payload(Blob::new(r#"{"sleep":3}"#))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["errorType"], "Sandbox.Timedout");
    assert!(
        eventually(Duration::from_secs(4), || lines(&log)
            .iter()
            .any(|l| l == "SHUTDOWN timeout"))
        .await,
        "{:?}",
        lines(&log)
    );
    // The replacement environment registers its own extension and serves.
    let out = running
        .client()
        .invoke()
        .function_name("slow")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None);
    assert!(lines(&log).iter().filter(|l| *l == "REGISTER").count() >= 2);
    running.emulator.shutdown().await;
}

/// A layer holding aws-lambda-web-adapter as `extensions/lambda-adapter`, and a code directory whose
/// bootstrap starts a small Python HTTP service on `$PORT`.
fn web_adapter_function(dir: &Path, name: &str) -> FunctionConfig {
    let adapter = find_tool("lambda-adapter").expect(
        "aws-lambda-web-adapter's `lambda-adapter` is missing: run `make deps-lwa` \
         (cargo install --locked --root .tools lambda_web_adapter --version 1.0.0-rc1)",
    );
    // The layer file must be named lambda-adapter: LWA registers under that name.
    let layer = extension_layer(&dir.join(format!("lwa-{name}")), "lambda-adapter", &adapter);
    let code = dir.join(format!("code-{name}"));
    std::fs::create_dir_all(&code).unwrap();
    let service = r#"
import json, os, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"service": os.environ["SERVICE_NAME"], "path": self.path, "port": os.environ["PORT"]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;
    std::fs::write(code.join("service.py"), service).unwrap();
    let bootstrap = code.join("bootstrap");
    std::fs::write(
        &bootstrap,
        "#!/bin/sh\nexec python3 -u \"$LAMBDA_TASK_ROOT/service.py\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = FunctionConfig::new(name, code);
    config.layers = vec![layer];
    config.timeout = 5;
    config.environment.insert("PORT".into(), "8080".into());
    config
        .environment
        .insert("SERVICE_NAME".into(), name.into());
    config.port_env = vec!["PORT".into(), "AWS_LWA_PORT".into()];
    config
}

fn http_api_v2_event(path: &str) -> Value {
    v2_event(
        "GET",
        path,
        "a=1",
        &[("host", "example.com"), ("accept", "application/json")],
        b"",
    )
}

#[tokio::test]
async fn aws_lambda_web_adapter_runs_unchanged_and_two_services_share_a_configured_port() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(vec![
        web_adapter_function(dir.path(), "alpha"),
        web_adapter_function(dir.path(), "beta"),
    ])
    .await;
    let client = running.client();
    let mut ports = Vec::new();
    for name in ["alpha", "beta"] {
        let out = client
            .invoke()
            .function_name(name)
            .payload(Blob::new(http_api_v2_event("/hello").to_string()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.function_error(), None, "{:?}", out.payload());
        let response: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
        assert_eq!(response["statusCode"], 200, "{response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["service"], name);
        assert_eq!(body["path"], "/hello?a=1");
        assert_ne!(body["port"], "8080");
        ports.push(body["port"].clone());
    }
    assert_ne!(ports[0], ports[1]);
    running.emulator.shutdown().await;
}

#[tokio::test]
async fn the_answer_does_not_wait_for_extensions_but_the_next_invocation_does() {
    let dir = tempfile::tempdir().unwrap();
    let layer = extension_layer(dir.path(), "emulator-extension", Path::new(EXTENSION));
    let mut config = binary_function("busy", ECHO, dir.path());
    config.layers = vec![layer];
    config.concurrency = 1;
    config
        .environment
        .insert("EXT_INVOKE_SLEEP_MS".into(), "1500".into());
    let running = Running::start(vec![config]).await;
    let client = running.client();
    let started = std::time::Instant::now();
    let out = client
        .invoke()
        .function_name("busy")
        .payload(Blob::new("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), b"1");
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "the answer must not wait for the extension: {:?}",
        started.elapsed()
    );
    // The only environment is still busy until the extension is back in event/next.
    let err = client
        .invoke()
        .function_name("busy")
        .payload(Blob::new("2"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    let mut served = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(out) = client
            .invoke()
            .function_name("busy")
            .payload(Blob::new("3"))
            .send()
            .await
        {
            assert_eq!(out.payload().unwrap().as_ref(), b"3");
            served = true;
            break;
        }
    }
    assert!(
        served,
        "the environment must come back once the extension is ready"
    );
    running.emulator.shutdown().await;
}
