//! aws-sdk-lambda against the emulator's Invoke API: every Invoke path, typed errors, and
//! InvokeWithResponseStream, with lambda_runtime functions and a Python custom runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::operation::invoke_with_response_stream::InvokeWithResponseStreamOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    InvocationType, InvokeWithResponseStreamCompleteEvent, InvokeWithResponseStreamResponseEvent,
    LogType,
};
use base64::Engine as _;
use lambda_mesh_tests::emulator::Running;
use lambda_mesh_tests::functions::{binary_function, python_fn};
use serde_json::{json, Value};

const ECHO: &str = env!("CARGO_BIN_EXE_emulator-echo-fn");
const STREAM: &str = env!("CARGO_BIN_EXE_emulator-stream-fn");

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn json_of(blob: Option<&Blob>) -> Value {
    serde_json::from_slice(blob.unwrap().as_ref()).unwrap()
}

/// A plain (RequestResponse) Invoke of `function` with `payload`.
async fn invoke(client: &aws_sdk_lambda::Client, function: &str, payload: &str) -> InvokeOutput {
    client
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload))
        .send()
        .await
        .unwrap()
}

/// Read a response stream to its end: the payload chunks joined, and InvokeComplete.
async fn drain(
    mut out: InvokeWithResponseStreamOutput,
) -> (Vec<u8>, Option<InvokeWithResponseStreamCompleteEvent>) {
    let mut body = Vec::new();
    let mut complete = None;
    while let Some(event) = out.event_stream.recv().await.unwrap() {
        match event {
            InvokeWithResponseStreamResponseEvent::PayloadChunk(chunk) => {
                body.extend_from_slice(chunk.payload().unwrap().as_ref())
            }
            InvokeWithResponseStreamResponseEvent::InvokeComplete(done) => complete = Some(done),
            _ => {}
        }
    }
    (body, complete)
}

async fn emulator(code: &std::path::Path) -> Running {
    let mut echo = binary_function("echo", ECHO, code);
    echo.qualifiers = vec!["live".into()];
    let stream = binary_function("stream", STREAM, code);
    let mut python = lambda_mesh_emulator::FunctionConfig::new("python", python_fn());
    python.timeout = 1;
    let mut single = lambda_mesh_emulator::FunctionConfig::new("single", python_fn());
    single.concurrency = 1;
    let mut reserved = lambda_mesh_emulator::FunctionConfig::new("reserved", python_fn());
    reserved.reserved_concurrency = Some(1);
    Running::start(vec![echo, stream, python, single, reserved]).await
}

#[tokio::test]
async fn invoke_paths() {
    let code = tempfile::tempdir().unwrap();
    let running = emulator(code.path()).await;
    let client = running.client();

    let out = client
        .invoke()
        .function_name("echo")
        .payload(Blob::new(r#"{"hello":"world"}"#))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(json_of(out.payload()), json!({"hello": "world"}));
    let tail = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap())
        .unwrap();
    assert!(String::from_utf8(tail)
        .unwrap()
        .contains("START RequestId:"));

    // Names: ARN (URL-encoded by the SDK), partial ARN, name:qualifier, Qualifier.
    for name in [
        "arn:aws:lambda:us-east-1:123456789012:function:echo",
        "123456789012:function:echo",
        "echo:live",
    ] {
        let out = invoke(&client, name, "[1,2]").await;
        assert_eq!(json_of(out.payload()), json!([1, 2]), "{name}");
    }
    let out = client
        .invoke()
        .function_name("echo")
        .qualifier("$LATEST")
        .payload(Blob::new("3"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("$LATEST"));

    // Function errors are 200 + X-Amz-Function-Error, the error JSON as the payload.
    let out = invoke(&client, "echo", r#"{"fail":"boom"}"#).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(json_of(out.payload())["errorMessage"], "boom");

    // Event and DryRun.
    let out = client
        .invoke()
        .function_name("echo")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
    let out = client
        .invoke()
        .function_name("echo")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 204);

    // The client context reaches the runtime decoded.
    let out = client
        .invoke()
        .function_name("python")
        .client_context(b64(r#"{"custom":{"k":"v"}}"#))
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(out.payload())["clientContext"],
        r#"{"custom":{"k":"v"}}"#
    );

    // Timeouts and crashes are function errors, and the emulator keeps serving.
    let out = invoke(&client, "python", r#"{"sleep":3}"#).await;
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(json_of(out.payload())["errorType"], "Sandbox.Timedout");
    let out = invoke(&client, "python", r#"{"exit":2}"#).await;
    assert_eq!(json_of(out.payload())["errorType"], "Runtime.ExitError");
    let out = invoke(&client, "python", r#"{"big":6300000}"#).await;
    assert_eq!(
        json_of(out.payload())["errorType"],
        "Function.ResponseSizeTooLarge"
    );
    let out = invoke(&client, "echo", "{}").await;
    assert_eq!(out.function_error(), None);
    running.emulator.shutdown().await;
}

#[tokio::test]
async fn typed_errors() {
    let code = tempfile::tempdir().unwrap();
    let running = emulator(code.path()).await;
    let client = running.client();

    let err = client
        .invoke()
        .function_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = client
        .invoke()
        .function_name("echo")
        .qualifier("prod")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = client
        .invoke()
        .function_name("echo")
        .payload(Blob::new("not json"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_content_exception(), "{err:?}");

    // Lambda answers an oversize request with RequestEntityTooLargeException, which the SDK
    // does not model: it surfaces as an unhandled error carrying that code and message.
    let err = client
        .invoke()
        .function_name("echo")
        .payload(Blob::new(vec![b' '; 6_291_457]))
        .send()
        .await
        .unwrap_err();
    let raw_status = err.raw_response().map(|r| r.status().as_u16());
    let err = err.into_service_error();
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    assert_eq!(err.code(), Some("RequestEntityTooLargeException"));
    assert_eq!(
        err.message(),
        Some("Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    );
    assert_eq!(raw_status, Some(413));

    // Every environment busy: 429 at once, with Lambda's reasons.
    for (name, reason) in [
        ("single", "ConcurrentInvocationLimitExceeded"),
        (
            "reserved",
            "ReservedFunctionConcurrentInvocationLimitExceeded",
        ),
    ] {
        let busy = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .invoke()
                    .function_name(name)
                    .payload(Blob::new(r#"{"sleep":2}"#))
                    .send()
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let err = client
            .invoke()
            .function_name(name)
            .payload(Blob::new("{}"))
            .send()
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "429 must come at once"
        );
        let retry_after = err
            .raw_response()
            .and_then(|r| r.headers().get("retry-after").map(str::to_owned));
        let err = err.into_service_error();
        let aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(e) = err
        else {
            panic!("expected TooManyRequestsException, got {err:?}")
        };
        assert_eq!(e.reason().map(|r| r.as_str()), Some(reason));
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(busy.await.unwrap().unwrap().function_error(), None);
    }
    running.emulator.shutdown().await;
}

#[tokio::test]
async fn invoke_with_response_stream() {
    let code = tempfile::tempdir().unwrap();
    let running = emulator(code.path()).await;
    let client = running.client();

    // Chunks arrive as the function writes them, 300 ms apart, never buffered to the end.
    let started = Instant::now();
    let mut out = client
        .invoke_with_response_stream()
        .function_name("stream")
        .payload(Blob::new(r#"{"chunks":3,"delay_ms":300}"#))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(
        out.response_stream_content_type(),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let mut body = Vec::new();
    let mut arrivals = Vec::new();
    let mut complete = None;
    while let Some(event) = out.event_stream.recv().await.unwrap() {
        match event {
            InvokeWithResponseStreamResponseEvent::PayloadChunk(chunk) => {
                body.extend_from_slice(chunk.payload().unwrap().as_ref());
                arrivals.push((started.elapsed(), body.len()));
            }
            InvokeWithResponseStreamResponseEvent::InvokeComplete(done) => complete = Some(done),
            _ => {}
        }
    }
    let body = String::from_utf8(body).unwrap();
    // lambda_runtime writes its HTTP-integration prelude, 8 NULs, then the chunks: all passed on.
    assert!(body.ends_with("chunk 0\nchunk 1\nchunk 2\n"), "{body:?}");
    let complete = complete.expect("InvokeComplete");
    assert_eq!(complete.error_code(), None);
    let tail = base64::engine::general_purpose::STANDARD
        .decode(complete.log_result().expect("LogResult with Tail"))
        .unwrap();
    assert!(String::from_utf8(tail)
        .unwrap()
        .contains("REPORT RequestId:"));
    let first_chunk = arrivals
        .iter()
        .find(|(_, len)| body[..*len].contains("chunk 0"))
        .unwrap()
        .0;
    let last = arrivals.last().unwrap().0;
    assert!(
        last - first_chunk >= Duration::from_millis(400),
        "{arrivals:?}"
    );

    // A buffered function through the streaming API: one chunk, then InvokeComplete.
    let mut out = client
        .invoke_with_response_stream()
        .function_name("echo")
        .payload(Blob::new(r#"{"a":1}"#))
        .send()
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(event) = out.event_stream.recv().await.unwrap() {
        events.push(event);
    }
    assert_eq!(events.len(), 2, "{events:?}");
    let InvokeWithResponseStreamResponseEvent::PayloadChunk(chunk) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(chunk.payload().unwrap().as_ref(), br#"{"a":1}"#);

    // A function error: InvokeComplete carries ErrorCode and ErrorDetails.
    let out = client
        .invoke_with_response_stream()
        .function_name("python")
        .payload(Blob::new(r#"{"error":"nope"}"#))
        .send()
        .await
        .unwrap();
    let (_, complete) = drain(out).await;
    let complete = complete.unwrap();
    assert_eq!(complete.error_code(), Some("Custom.Error"));
    assert!(complete.error_details().unwrap().contains("nope"));

    // A streaming runtime failing mid-stream with error trailers.
    let out = client
        .invoke_with_response_stream()
        .function_name("python")
        .payload(Blob::new(
            r#"{"stream":["one ","two "],"trailer_error":"Broken.Stream"}"#,
        ))
        .send()
        .await
        .unwrap();
    let (body, complete) = drain(out).await;
    assert_eq!(body, b"one two ");
    let complete = complete.unwrap();
    assert_eq!(complete.error_code(), Some("Broken.Stream"));
    assert_eq!(complete.error_details(), Some("it broke"));

    // Errors before the stream starts are ordinary typed errors.
    let err = client
        .invoke_with_response_stream()
        .function_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    running.emulator.shutdown().await;
}
