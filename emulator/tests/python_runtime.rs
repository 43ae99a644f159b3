//! The emulator in-process with a custom runtime (a shell `bootstrap` running a Python program that
//! speaks the Runtime API with the standard library only): invocations, errors, streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use lambda_mesh_emulator::{FunctionConfig, InvocationType, InvokeError};
use lambda_mesh_tests::emulator::{request, start};
use lambda_mesh_tests::events::json as json_of;
use lambda_mesh_tests::functions::python_runtime as function;
use serde_json::json;

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
    assert!((2..=3).contains(&chunks.len()), "{chunks:?}");
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

#[tokio::test]
async fn managed_runtimes_start_the_exec_wrapper_from_the_merged_layers() {
    let layer = tempfile::tempdir().unwrap();
    let args_file = layer.path().join("args.txt");
    let wrapper = layer.path().join("wrapper.sh");
    // The wrapper records its arguments, then runs the fixture runtime instead of awslambdaric.
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\nexec \"$LAMBDA_TASK_ROOT/bootstrap\"\n",
            args_file.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = function("managed");
    config.runtime = "python3.12".into();
    config.handler = "app.handler".into();
    config.layers = vec![layer.path().to_path_buf()];
    config
        .environment
        .insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/opt/wrapper.sh".into());
    let emulator = start(vec![config]).await;
    let response = emulator
        .invoke(request("managed", json!({"w": 1})))
        .await
        .unwrap();
    assert_eq!(response.function_error, None, "{:?}", response.payload);
    assert_eq!(json_of(&response.payload)["handler"], "app.handler");
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert_eq!(args, "python3\n-m\nawslambdaric\napp.handler\n");
    emulator.shutdown().await;
}

#[tokio::test]
async fn provided_runtimes_run_opt_bootstrap_and_ignore_the_exec_wrapper() {
    let layer = tempfile::tempdir().unwrap();
    let code = tempfile::tempdir().unwrap();
    let bootstrap = layer.path().join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexec python3 -u {}\n",
            lambda_mesh_tests::functions::python_fn()
                .join("runtime.py")
                .display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = lambda_mesh_emulator::FunctionConfig::new("layered", code.path());
    config.layers = vec![layer.path().to_path_buf()];
    config.environment.insert(
        "AWS_LAMBDA_EXEC_WRAPPER".into(),
        "/opt/missing-wrapper".into(),
    );
    let emulator = start(vec![config]).await;
    let response = emulator
        .invoke(request("layered", json!({"l": 1})))
        .await
        .unwrap();
    assert_eq!(response.function_error, None, "{:?}", response.payload);
    assert_eq!(json_of(&response.payload)["event"], json!({"l": 1}));
    emulator.shutdown().await;
}
