//! Cross-check with cargo-lambda's `cargo lambda watch`: the same lambda_runtime function gives
//! the same payloads through both emulators, and the known differences are asserted as such.
//!
//! cargo-lambda runs with `--only-lambda-apis`, so it compiles nothing: the test starts the
//! already built function binary against cargo-lambda's Runtime API itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent;
use lambda_mesh_emulator::FunctionConfig;
use lambda_mesh_tests::emulator::Running;
use lambda_mesh_tests::functions::{binary_function, python_fn};
use lambda_mesh_tests::net::free_port;
use lambda_mesh_tests::workspace::{find_tool, root};
use serde_json::{json, Value};

const ECHO: &str = env!("CARGO_BIN_EXE_emulator-echo-fn");
const STREAM: &str = env!("CARGO_BIN_EXE_emulator-stream-fn");

/// Processes killed on drop.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `cargo lambda watch --only-lambda-apis` on a free port, with `program` as its function.
async fn cargo_lambda(program: &Path, code: &Path, processes: &mut Processes) -> String {
    let cargo_lambda = find_tool("cargo-lambda").expect(
        "cargo-lambda is missing: run `make deps-python` (pip install cargo-lambda into .venv)",
    );
    let port = free_port();
    let repo = root();
    processes.0.push(
        Command::new(cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(&repo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < until,
            "cargo-lambda did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    processes.0.push(
        Command::new(program)
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096")
            .env("LAMBDA_TASK_ROOT", code)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn same_payloads_through_both_and_the_known_differences() {
    let code = tempfile::tempdir().unwrap();
    let mut processes = Processes(Vec::new());
    let theirs = lambda_mesh_tests::sdk::client(
        &cargo_lambda(Path::new(ECHO), code.path(), &mut processes).await,
    );
    let mut python = FunctionConfig::new("python", python_fn());
    python.timeout = 5;
    let running = Running::start(vec![
        binary_function("_", ECHO, code.path()),
        python,
        binary_function("stream", STREAM, code.path()),
    ])
    .await;
    let ours = running.client();

    let payloads = [
        json!({"hello": "world"}),
        json!([1, 2.5, null, true, "x"]),
        json!("a string with ünïcødé and \"quotes\""),
        json!(42),
        json!({"nested": {"deep": [{"k": "v"}]}, "empty": {}}),
    ];
    for payload in &payloads {
        let mut bodies = Vec::new();
        for client in [&ours, &theirs] {
            let out = client
                .invoke()
                .function_name("_")
                .payload(Blob::new(payload.to_string()))
                .send()
                .await
                .unwrap();
            assert_eq!(out.status_code(), 200);
            assert_eq!(out.function_error(), None);
            bodies.push(out.payload().unwrap().as_ref().to_vec());
        }
        assert_eq!(bodies[0], bodies[1], "{payload}");
        assert_eq!(
            serde_json::from_slice::<Value>(&bodies[0]).unwrap(),
            *payload
        );
    }

    // Difference 1: a function error. Lambda (and we) answer 200 + X-Amz-Function-Error;
    // cargo-lambda answers 500, which the SDK turns into an error.
    let fail = Blob::new(r#"{"fail":"boom"}"#);
    let out = ours
        .invoke()
        .function_name("_")
        .payload(fail.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    let err = theirs
        .invoke()
        .function_name("_")
        .payload(fail)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));

    // Difference 2: InvokeWithResponseStream. We stream event-stream frames the SDK parses;
    // cargo-lambda's answer to the buffered echo function is not an event stream with a
    // PayloadChunk and an InvokeComplete.
    let events = |client: aws_sdk_lambda::Client| async move {
        let out = client
            .invoke_with_response_stream()
            .function_name("_")
            .payload(Blob::new(r#"{"s":1}"#))
            .send()
            .await;
        let Ok(mut out) = out else { return None };
        let mut kinds = Vec::new();
        while let Ok(Some(event)) = out.event_stream.recv().await {
            kinds.push(match event {
                InvokeWithResponseStreamResponseEvent::PayloadChunk(_) => "PayloadChunk",
                InvokeWithResponseStreamResponseEvent::InvokeComplete(_) => "InvokeComplete",
                _ => "other",
            });
        }
        Some(kinds)
    };
    assert_eq!(
        events(ours.clone()).await,
        Some(vec!["PayloadChunk", "InvokeComplete"])
    );
    assert_ne!(
        events(theirs.clone()).await,
        Some(vec!["PayloadChunk", "InvokeComplete"])
    );
    running.emulator.shutdown().await;
}

#[tokio::test]
async fn runtime_api_metadata_differs_where_cargo_lambda_is_unfaithful() {
    let mut processes = Processes(Vec::new());
    let fixture = python_fn();
    let theirs = lambda_mesh_tests::sdk::client(
        &cargo_lambda(&fixture.join("bootstrap"), &fixture, &mut processes).await,
    );
    let mut python = FunctionConfig::new("_", fixture);
    python.timeout = 5;
    let running = Running::start(vec![python]).await;
    let ours = running.client();
    let context = "eyJjdXN0b20iOnsiayI6InYifX0="; // {"custom":{"k":"v"}}
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut seen = Vec::new();
    for client in [&ours, &theirs] {
        let out = client
            .invoke()
            .function_name("_")
            .client_context(context)
            .payload(Blob::new(r#"{"same":"event"}"#))
            .send()
            .await
            .unwrap();
        seen.push(serde_json::from_slice::<Value>(out.payload().unwrap().as_ref()).unwrap());
    }
    let (ours, theirs) = (&seen[0], &seen[1]);
    // The same event reaches both runtimes.
    assert_eq!(ours["event"], theirs["event"]);
    // Lambda-Runtime-Deadline-Ms: ours is a real epoch deadline; cargo-lambda's is not.
    let deadline = |v: &Value| v["deadlineMs"].as_str().unwrap().parse::<u128>().unwrap();
    assert!(deadline(ours) >= now + 4000 && deadline(ours) <= now + 10_000);
    assert!(
        deadline(theirs) < now,
        "cargo-lambda now sends a real deadline: {theirs}"
    );
    // Lambda-Runtime-Invoked-Function-Arn: ours is a full ARN.
    assert_eq!(
        ours["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:_"
    );
    assert_ne!(theirs["invokedFunctionArn"], ours["invokedFunctionArn"]);
    // Lambda-Runtime-Client-Context: ours passes the decoded client context on.
    assert_eq!(ours["clientContext"], r#"{"custom":{"k":"v"}}"#);
    assert_ne!(theirs["clientContext"], ours["clientContext"]);
    running.emulator.shutdown().await;
}
