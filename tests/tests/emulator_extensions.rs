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
    // Provisioned, so its init runs, and is reported, before `start` returns.
    config.provisioned_concurrency = 1;
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

/// The `Init Duration` of the `REPORT` line for `request_id` in a log tail, in milliseconds.
fn init_duration_ms(tail: &str, request_id: &str) -> Option<f64> {
    let report = tail
        .lines()
        .find(|l| l.starts_with(&format!("REPORT RequestId: {request_id}")))
        .unwrap_or_else(|| panic!("no REPORT for {request_id} in {tail}"));
    let (_, rest) = report.split_once("Init Duration: ")?;
    rest.split_once(" ms").map(|(ms, _)| ms.parse().unwrap())
}

fn log_tail(response: &lambda_mesh_emulator::InvokeResponse) -> String {
    use base64::Engine as _;
    let tail = response.log_result.as_deref().expect("a log tail");
    let tail = base64::engine::general_purpose::STANDARD
        .decode(tail)
        .unwrap();
    String::from_utf8(tail).unwrap()
}

#[tokio::test]
async fn the_first_invoke_waits_for_a_slow_extension_init_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.txt");
    let layer = extension_layer(dir.path(), "emulator-extension", Path::new(EXTENSION));
    let mut config = binary_function("cold", ECHO, dir.path());
    config.layers = vec![layer];
    config
        .environment
        .insert("EXT_LOG".into(), log.display().to_string());
    config
        .environment
        .insert("EXT_INIT_SLEEP_MS".into(), "500".into());
    let emulator = Emulator::start(EmulatorConfig {
        functions: vec![config],
    })
    .await
    .unwrap();
    // On demand: nothing has started yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(lines(&log), Vec::<String>::new());

    let invoke = |n: u32| lambda_mesh_emulator::InvokeRequest {
        function: "cold".into(),
        payload: format!(r#"{{"n":{n}}}"#).into(),
        log_tail: true,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let first = emulator.invoke(invoke(1)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(first.function_error, None);
    assert_eq!(first.payload.as_ref(), br#"{"n":1}"#);
    assert!(
        took >= Duration::from_millis(500),
        "the first invoke must wait for the extension's init: {took:?}"
    );
    assert_eq!(lines(&log)[0], "REGISTER");
    let init = init_duration_ms(&log_tail(&first), &first.request_id)
        .expect("a cold start's REPORT shows its Init Duration");
    assert!(init >= 500.0, "Init Duration {init} ms");
    assert!(
        init <= took.as_secs_f64() * 1000.0,
        "Init Duration {init} ms > {took:?}"
    );

    // Warm: the same environment, no init.
    let second = emulator.invoke(invoke(2)).await.unwrap();
    assert_eq!(second.payload.as_ref(), br#"{"n":2}"#);
    assert_eq!(
        init_duration_ms(&log_tail(&second), &second.request_id),
        None
    );
    assert_eq!(lines(&log).iter().filter(|l| *l == "REGISTER").count(), 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn provisioned_environments_init_at_start_and_report_no_init_duration() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.txt");
    let layer = extension_layer(dir.path(), "emulator-extension", Path::new(EXTENSION));
    let mut config = binary_function("warm", ECHO, dir.path());
    config.layers = vec![layer];
    config.concurrency = 3;
    config.provisioned_concurrency = 2;
    config
        .environment
        .insert("EXT_LOG".into(), log.display().to_string());
    let emulator = Emulator::start(EmulatorConfig {
        functions: vec![config],
    })
    .await
    .unwrap();
    assert_eq!(lines(&log), ["REGISTER", "REGISTER"]);
    let response = emulator
        .invoke(lambda_mesh_emulator::InvokeRequest {
            function: "warm".into(),
            payload: "{}".into(),
            log_tail: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(response.function_error, None);
    assert_eq!(
        init_duration_ms(&log_tail(&response), &response.request_id),
        None
    );
    assert_eq!(lines(&log).iter().filter(|l| *l == "REGISTER").count(), 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_extension_init_failure_surfaces_at_the_first_invoke_not_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    let crash = layer.join("extensions/crash");
    std::fs::write(
        &crash,
        "#!/bin/sh
exit 7
",
    )
    .unwrap();
    std::fs::set_permissions(
        &crash,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let mut config = binary_function("crashy", ECHO, dir.path());
    config.layers = vec![layer];
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = reports.clone();
    let emulator = Emulator::start_with_hook(
        EmulatorConfig {
            functions: vec![config],
        },
        move |name, result| seen.lock().unwrap().push((name.to_owned(), result.is_ok())),
    )
    .await
    .unwrap();
    assert_eq!(*reports.lock().unwrap(), [], "nothing initialises at start");
    let response = emulator
        .invoke(lambda_mesh_emulator::InvokeRequest {
            function: "crashy".into(),
            payload: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.function_error.as_deref(), Some("Unhandled"));
    let body: Value = serde_json::from_slice(&response.payload).unwrap();
    assert_eq!(body["errorType"], "Extension.Crash", "{body}");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("RequestId: {} Error:", response.request_id)),
        "{message}"
    );
    assert!(message.contains("exit status 7"), "{message}");
    assert!(
        eventually(Duration::from_secs(2), || !reports
            .lock()
            .unwrap()
            .is_empty())
        .await,
        "the hook hears of the failed init"
    );
    assert_eq!(*reports.lock().unwrap(), [("crashy".to_owned(), false)]);
    emulator.shutdown().await;
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
