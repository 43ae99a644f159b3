//! The emulator in-process with a custom runtime: a shell `bootstrap` running a Python program
//! that speaks the Runtime API with the standard library only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use lambda_mesh_emulator::{
    Emulator, EmulatorConfig, FunctionConfig, InvocationType, InvokeError, InvokeRequest,
};
use serde_json::{json, Value};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-fn")
}

fn function(name: &str) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, fixture());
    config.timeout = 2;
    config
}

async fn start(functions: Vec<FunctionConfig>) -> Emulator {
    Emulator::start(EmulatorConfig { functions }).await.unwrap()
}

fn request(function: &str, payload: Value) -> InvokeRequest {
    InvokeRequest {
        function: function.into(),
        payload: Bytes::from(payload.to_string()),
        ..InvokeRequest::default()
    }
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Poll `check` every 50 ms for up to `limit`.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

#[tokio::test]
async fn echo_carries_lambdas_invocation_metadata() {
    let mut config = function("py");
    config.qualifiers = vec!["live".into(), "7".into()];
    config.handler = "/opt/handler.sh".into();
    let emulator = start(vec![config]).await;
    let context = base64::engine::general_purpose::STANDARD.encode(r#"{"custom":{"a":"b"}}"#);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut req = request("py", json!({"hello": "world"}));
    req.client_context = Some(context);
    req.log_tail = true;
    let response = emulator.invoke(req).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.function_error, None);
    assert_eq!(response.executed_version, "$LATEST");
    let body = json_of(&response.payload);
    assert_eq!(body["event"], json!({"hello": "world"}));
    assert_eq!(body["requestId"], response.request_id.as_str());
    assert_eq!(
        body["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:py"
    );
    assert_eq!(body["clientContext"], r#"{"custom":{"a":"b"}}"#);
    assert_eq!(body["functionName"], "py");
    assert!(body["handler"].as_str().unwrap().ends_with("/handler.sh"));
    assert!(!body["handler"].as_str().unwrap().starts_with("/opt/"));
    assert!(body["traceId"].as_str().unwrap().starts_with("Root=1-"));
    let deadline: u128 = body["deadlineMs"].as_str().unwrap().parse().unwrap();
    assert!(
        deadline >= before + 1900 && deadline <= before + 4000,
        "{deadline} vs {before}"
    );
    let tail = base64::engine::general_purpose::STANDARD
        .decode(response.log_result.unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    assert!(
        tail.contains(&format!("START RequestId: {}", response.request_id)),
        "{tail}"
    );

    // A qualifier: numbered versions are executed as themselves, aliases as $LATEST.
    let mut req = request("py:7", json!({}));
    req.qualifier = Some("7".into());
    let response = emulator.invoke(req).await.unwrap();
    assert_eq!(response.executed_version, "7");
    assert_eq!(
        json_of(&response.payload)["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:py:7"
    );
    let response = emulator
        .invoke(request(
            "arn:aws:lambda:us-east-1:123456789012:function:py:live",
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(response.executed_version, "$LATEST");
    emulator.shutdown().await;
}

#[tokio::test]
async fn refusals_are_aws_errors_and_the_emulator_keeps_serving() {
    let emulator = start(vec![function("py")]).await;
    let err = emulator
        .invoke(request("nope", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404);
    assert_eq!(err.error_type(), "ResourceNotFoundException");
    let mut req = request("py", json!({}));
    req.qualifier = Some("prod".into());
    let err = emulator.invoke(req).await.unwrap_err();
    assert!(matches!(err, InvokeError::ResourceNotFound { .. }));
    let mut req = request("py", json!({}));
    req.payload = Bytes::from_static(b"not json");
    let err = emulator.invoke(req).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequestContentException");
    let mut req = request("py", json!({}));
    req.payload = Bytes::from(vec![b' '; 6_291_457]);
    let err = emulator.invoke(req).await.unwrap_err();
    assert_eq!(err.status(), 413);
    assert_eq!(err.error_type(), "RequestEntityTooLargeException");
    assert_eq!(
        err.to_string(),
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    );
    let mut req = request("py", json!({}));
    req.invocation_type = InvocationType::Event;
    req.payload = Bytes::from(format!("\"{}\"", "x".repeat(1_048_577)));
    assert_eq!(emulator.invoke(req).await.unwrap_err().status(), 413);
    let mut req = request("py", json!({}));
    req.invocation_type = InvocationType::DryRun;
    assert_eq!(emulator.invoke(req).await.unwrap().status, 204);
    let ok = emulator
        .invoke(request("py", json!({"x": 1})))
        .await
        .unwrap();
    assert_eq!(json_of(&ok.payload)["event"], json!({"x": 1}));
    emulator.shutdown().await;
}

#[tokio::test]
async fn function_errors_timeouts_and_crashes() {
    let emulator = start(vec![function("py")]).await;
    let response = emulator
        .invoke(request("py", json!({"error": "bad thing"})))
        .await
        .unwrap();
    assert_eq!(response.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        json_of(&response.payload),
        json!({"errorType": "Custom.Error", "errorMessage": "bad thing"})
    );

    let response = emulator
        .invoke(request("py", json!({"sleep": 5})))
        .await
        .unwrap();
    assert_eq!(response.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        json_of(&response.payload),
        json!({
            "errorType": "Sandbox.Timedout",
            "errorMessage": format!("RequestId: {} Error: Task timed out after 2.00 seconds", response.request_id),
        })
    );

    let response = emulator
        .invoke(request("py", json!({"exit": 3})))
        .await
        .unwrap();
    assert_eq!(
        json_of(&response.payload),
        json!({
            "errorType": "Runtime.ExitError",
            "errorMessage": format!("RequestId: {} Error: Runtime exited with error: exit status 3", response.request_id),
        })
    );

    let response = emulator
        .invoke(request("py", json!({"big": 6_300_000})))
        .await
        .unwrap();
    assert_eq!(response.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        json_of(&response.payload)["errorType"],
        "Function.ResponseSizeTooLarge"
    );

    // A new environment takes over after each failure.
    let ok = emulator
        .invoke(request("py", json!({"n": 1})))
        .await
        .unwrap();
    assert_eq!(ok.function_error, None);
    emulator.shutdown().await;
}

#[tokio::test]
async fn stale_and_wrong_request_ids_get_lambdas_answers() {
    let emulator = start(vec![function("py")]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("again.json");
    emulator
        .invoke(request("py", json!({"again": out})))
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || out.exists()).await);
    let mut answers = Value::Null;
    assert!(
        eventually(Duration::from_secs(2), || {
            answers = std::fs::read(&out)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            !answers.is_null()
        })
        .await
    );
    assert_eq!(answers["second"][0], 403);
    assert_eq!(answers["second"][1]["errorType"], "InvalidStateTransition");
    assert_eq!(answers["wrong"][0], 400);
    assert_eq!(answers["wrong"][1]["errorType"], "InvalidRequestID");
    emulator.shutdown().await;
}

#[tokio::test]
async fn concurrency_exhaustion_throttles_sync_and_queues_async() {
    let mut config = function("one");
    config.concurrency = 1;
    let mut reserved = function("reserved");
    reserved.reserved_concurrency = Some(1);
    let emulator = start(vec![config, reserved]).await;
    for (name, reason) in [
        ("one", "ConcurrentInvocationLimitExceeded"),
        (
            "reserved",
            "ReservedFunctionConcurrentInvocationLimitExceeded",
        ),
    ] {
        let busy = tokio::spawn({
            let emulator = emulator.clone();
            async move { emulator.invoke(request(name, json!({"sleep": 1}))).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let err = emulator.invoke(request(name, json!({}))).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "throttling must not wait"
        );
        assert_eq!(
            err,
            InvokeError::TooManyRequests {
                reason: reason.into(),
                retry_after_seconds: 1
            }
        );
        assert_eq!(err.status(), 429);
        assert_eq!(busy.await.unwrap().unwrap().function_error, None);
    }

    // Asynchronous invokes wait in the queue and all run, one at a time.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("async.txt");
    for _ in 0..3 {
        let mut req = request("one", json!({"append": out, "sleep": 0.2}));
        req.invocation_type = InvocationType::Event;
        assert_eq!(emulator.invoke(req).await.unwrap().status, 202);
    }
    let lines = || {
        std::fs::read_to_string(&out)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    assert!(eventually(Duration::from_secs(10), || lines() == 3).await);
    emulator.shutdown().await;
}

#[tokio::test]
async fn async_function_errors_are_retried_twice() {
    let emulator = start(vec![function("py")]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("retries.txt");
    let mut req = request("py", json!({"append": out, "error": "always"}));
    req.invocation_type = InvocationType::Event;
    let accepted = emulator.invoke(req).await.unwrap();
    assert_eq!(accepted.status, 202);
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(eventually(Duration::from_secs(10), || read().lines().count() == 3).await);
    // Every attempt carries the same request id, as Lambda's retries do.
    let text = read();
    let ids: std::collections::HashSet<&str> = text.lines().collect();
    assert_eq!(ids.len(), 1);
    assert!(ids.contains(accepted.request_id.as_str()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read().lines().count(), 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn each_environment_gets_its_own_port() {
    let mut config = function("ports");
    config.port_env = vec!["PORT".into()];
    config.environment.insert("PORT".into(), "8080".into());
    config.concurrency = 2;
    let emulator = start(vec![config]).await;
    let a = tokio::spawn({
        let emulator = emulator.clone();
        async move {
            emulator
                .invoke(request("ports", json!({"sleep": 0.5})))
                .await
        }
    });
    let b = tokio::spawn({
        let emulator = emulator.clone();
        async move {
            emulator
                .invoke(request("ports", json!({"sleep": 0.5})))
                .await
        }
    });
    let a = json_of(&a.await.unwrap().unwrap().payload);
    let b = json_of(&b.await.unwrap().unwrap().payload);
    assert_ne!(a["port"], "8080");
    assert_ne!(a["port"], b["port"]);
    emulator.shutdown().await;
}

#[tokio::test]
async fn init_errors_become_function_errors() {
    let mut config = function("broken");
    config.environment.insert("INIT_ERROR".into(), "1".into());
    let emulator = start(vec![config]).await;
    let response = emulator.invoke(request("broken", json!({}))).await.unwrap();
    assert_eq!(response.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        json_of(&response.payload),
        json!({"errorType": "Init.Failed", "errorMessage": "init failed on purpose"})
    );
    let mut missing = FunctionConfig::new("missing", tempfile::tempdir().unwrap().keep());
    missing.timeout = 1;
    let emulator2 = start(vec![missing]).await;
    let response = emulator2
        .invoke(request("missing", json!({})))
        .await
        .unwrap();
    assert_eq!(
        json_of(&response.payload)["errorType"],
        "Runtime.InvalidEntrypoint"
    );
    emulator.shutdown().await;
    emulator2.shutdown().await;
}

#[tokio::test]
async fn two_functions_on_the_same_configured_port_run_side_by_side() {
    let fixed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = fixed.local_addr().unwrap().port().to_string();
    drop(fixed);
    let make = |name: &str, port_env: bool| {
        let mut config = function(name);
        config.environment.insert("PORT".into(), port.clone());
        config.environment.insert("BIND_PORT".into(), "1".into());
        config.concurrency = 2;
        if port_env {
            config.port_env = vec!["PORT".into()];
        }
        config
    };
    let emulator = start(vec![make("a", true), make("b", true)]).await;
    let (a, b) = tokio::join!(
        emulator.invoke(request("a", json!({"sleep": 0.3}))),
        emulator.invoke(request("b", json!({"sleep": 0.3})))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.function_error, None);
    assert_eq!(b.function_error, None);
    assert_ne!(json_of(&a.payload)["port"], json_of(&b.payload)["port"]);
    emulator.shutdown().await;

    // Without port_env the second function's service cannot bind: the collision is real.
    let emulator = start(vec![make("c", false), make("d", false)]).await;
    let c = emulator.invoke(request("c", json!({}))).await.unwrap();
    let d = emulator.invoke(request("d", json!({}))).await.unwrap();
    assert!(
        c.function_error.is_some() != d.function_error.is_some(),
        "exactly one should fail: {c:?} {d:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn telemetry_subscribers_get_function_output_and_platform_events() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("telemetry.jsonl");
    let mut config = function("observed");
    config.layers =
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/telemetry-layer")];
    config
        .environment
        .insert("TELEMETRY_OUT".into(), out.display().to_string());
    let emulator = start(vec![config]).await;
    let response = emulator
        .invoke(request("observed", json!({"print": "hello telemetry"})))
        .await
        .unwrap();
    let records = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let has = |kind: &str, check: &dyn Fn(&Value) -> bool| {
        records()
            .iter()
            .any(|r| r["type"] == kind && check(&r["record"]))
    };
    assert!(
        records().iter().any(|r| r["subscribed"] == 200),
        "{:?}",
        records()
    );
    assert!(
        eventually(Duration::from_secs(5), || has("function", &|r| r
            == "hello telemetry"))
        .await,
        "{:?}",
        records()
    );
    let id = response.request_id.as_str();
    assert!(
        eventually(Duration::from_secs(5), || has("platform.start", &|r| r
            ["requestId"]
            == id)
            && has("platform.report", &|r| r["requestId"] == id))
        .await,
        "{:?}",
        records()
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_environment_that_dies_while_idle_is_replaced() {
    let emulator = start(vec![function("py")]).await;
    let first = emulator
        .invoke(request("py", json!({"then_exit": true})))
        .await
        .unwrap();
    assert_eq!(first.function_error, None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = emulator.invoke(request("py", json!({}))).await.unwrap();
    assert_eq!(second.function_error, None, "{:?}", second.payload);
    emulator.shutdown().await;
}

#[tokio::test]
async fn streams_arrive_progressively_and_a_timeout_ends_them_with_an_error() {
    let emulator = start(vec![function("py")]).await;
    let started = Instant::now();
    let mut streaming = emulator
        .invoke_stream(request(
            "py",
            json!({"stream": ["a", "b", "c", "d"], "stream_sleep": 0.8}),
        ))
        .await
        .unwrap();
    assert_eq!(streaming.content_type.as_deref(), Some("text/plain"));
    let first = streaming.body.recv().await.unwrap().unwrap();
    assert_eq!(first.as_ref(), b"a");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "the first chunk must not wait for the rest"
    );
    let mut chunks = vec![first];
    let mut error = None;
    while let Some(item) = streaming.body.recv().await {
        match item {
            Ok(chunk) => chunks.push(chunk),
            Err(e) => error = Some(e),
        }
    }
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    let error = error.expect("the stream ends with the timeout");
    assert_eq!(error.error_code, "Sandbox.Timedout");
    assert!(error
        .error_details
        .contains("Task timed out after 2.00 seconds"));
    // The environment was replaced.
    let ok = emulator.invoke(request("py", json!({}))).await.unwrap();
    assert_eq!(ok.function_error, None);
    emulator.shutdown().await;
}
