//! Behaviour on the emulator, one test each: readiness, deadlines, crashes, streaming,
//! compression, HEAD, `Expect`, error statuses, trace headers and the `AWS_LWA_*` names end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;

use lambda_mesh_tests::net::free_port;
use lambda_mesh_tests::service;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;

fn get(path: &str, query: &str) -> Value {
    harness::v2_event("GET", path, query, &[], b"")
}

/// The emulator running function `rs` (2 s timeout, error statuses 502-504) behind the layer,
/// its service the in-test Rust one; everything dropped together.
struct Rust {
    emulator: lambda_mesh_emulator::Emulator,
    _service: service::Service,
    _layer: tempfile::TempDir,
    _code: tempfile::TempDir,
}

impl Rust {
    async fn start() -> Rust {
        let layer = harness::layer();
        let code = harness::waiting_code();
        let service = service::start().await;
        let mut function = harness::rust_service_function(
            "rs",
            layer.path(),
            code.path(),
            service.addr.port(),
            &[("LAMBDA_MESH_ERROR_STATUS_CODES", "502-504")],
        );
        function.timeout = 2;
        let emulator = harness::start(vec![function]).await;
        Rust {
            emulator,
            _service: service,
            _layer: layer,
            _code: code,
        }
    }

    async fn invoke(&self, event: &Value) -> lambda_mesh_emulator::InvokeResponse {
        harness::invoke(&self.emulator, "rs", event).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_past_the_deadline_is_a_timeout_and_the_next_invocation_works() {
    let rs = Rust::start().await;
    // Deadline: the service sleeps past the function timeout.
    let started = Instant::now();
    let response = rs.invoke(&get("/sleep", "ms=5000")).await;
    assert_eq!(harness::error_type(&response), "LambdaMesh.ServiceTimeout");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let message = harness::json(&response)["errorMessage"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("deadline"), "{message}");

    // The next invocation works (a fresh connection: the timed-out one is never reused).
    let response = rs.invoke(&get("/hello", "name=again")).await;
    assert_eq!(
        harness::result_body(&harness::json(&response)),
        b"Hello, again!"
    );
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_request_is_a_bad_service_response_and_the_next_invocation_works() {
    let rs = Rust::start().await;
    // The service drops the connection without answering.
    let response = rs.invoke(&get("/crash", "")).await;
    assert_eq!(
        harness::error_type(&response),
        "LambdaMesh.BadServiceResponse"
    );
    let response = rs.invoke(&get("/hello", "name=after")).await;
    assert_eq!(
        harness::result_body(&harness::json(&response)),
        b"Hello, after!"
    );
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_error_statuses_become_invocation_errors_and_others_pass() {
    let rs = Rust::start().await;
    let response = rs.invoke(&get("/status/503", "")).await;
    assert_eq!(
        harness::error_type(&response),
        "LambdaMesh.ServiceErrorStatus"
    );
    let response = rs.invoke(&get("/status/500", "")).await;
    assert_eq!(harness::json(&response)["statusCode"], 500);
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_result_over_6_mb_is_response_too_large_and_the_extension_lives_on() {
    let rs = Rust::start().await;
    let response = rs.invoke(&get("/big", "bytes=7000000")).await;
    assert_eq!(
        harness::error_type(&response),
        "LambdaMesh.ResponseTooLarge"
    );
    let response = rs.invoke(&get("/hello", "name=after")).await;
    assert_eq!(
        harness::result_body(&harness::json(&response)),
        b"Hello, after!"
    );
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_has_no_body_and_keeps_the_services_content_length() {
    let rs = Rust::start().await;
    let response = rs
        .invoke(&harness::v2_event("HEAD", "/big", "bytes=321", &[], b""))
        .await;
    let result = harness::json(&response);
    assert_eq!(result["statusCode"], 200, "{result}");
    assert!(harness::result_body(&result).is_empty());
    assert_eq!(
        harness::result_header(&result, "content-length"),
        Some("321")
    );
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_and_connection_listed_headers_are_not_forwarded_and_the_body_arrives() {
    let rs = Rust::start().await;
    // Expect: 100-continue is not forwarded (the body is already complete).
    let event = harness::v2_event(
        "POST",
        "/echo",
        "",
        &[
            ("expect", "100-continue"),
            ("connection", "x-drop"),
            ("x-drop", "1"),
            ("x-keep", "1"),
        ],
        b"\x00\x01binary\xff",
    );
    let echo: Value = serde_json::from_slice(&harness::result_body(&harness::json(
        &rs.invoke(&event).await,
    )))
    .unwrap();
    let names: Vec<&str> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"expect") && !names.contains(&"x-drop"),
        "{names:?}"
    );
    assert!(names.contains(&"x-keep"), "{names:?}");
    assert_eq!(echo["body_base64"], "AAFiaW5hcnn/");
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_asterisk_reaches_the_service_as_asterisk() {
    let rs = Rust::start().await;
    let event = harness::v2_event("OPTIONS", "*", "", &[], b"");
    let echo: Value = serde_json::from_slice(&harness::result_body(&harness::json(
        &rs.invoke(&event).await,
    )))
    .unwrap();
    assert_eq!(echo["method"], "OPTIONS");
    assert_eq!(echo["path"], "*", "{echo}");
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_event_the_adapter_cannot_decode_is_an_invalid_event() {
    let rs = Rust::start().await;
    let response = rs
        .invoke(&serde_json::json!({"version": "2.0", "rawPath": 5, "requestContext": {"http": {"method": "GET"}}}))
        .await;
    assert_eq!(harness::error_type(&response), "LambdaMesh.InvalidEvent");
    let message = harness::json(&response)["errorMessage"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("rawPath"), "{message}");
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_field_of_the_wrong_type_is_an_invalid_event_naming_it() {
    let rs = Rust::start().await;
    let response = rs
        .invoke(&serde_json::json!({
            "version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "GET"}},
            "headers": {"x-count": 5}
        }))
        .await;
    assert_eq!(harness::error_type(&response), "LambdaMesh.InvalidEvent");
    let message = harness::json(&response)["errorMessage"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("`headers.x-count`"), "{message}");
    assert!(message.contains("must be a string"), "{message}");
    rs.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_headers_reach_the_service() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let rust = service::start().await;
    let emulator = harness::start(vec![harness::rust_service_function(
        "rs",
        layer.path(),
        code.path(),
        rust.addr.port(),
        &[],
    )])
    .await;
    let echo: Value = serde_json::from_slice(&harness::result_body(&harness::json(
        &harness::invoke(&emulator, "rs", &get("/echo", "")).await,
    )))
    .unwrap();
    let header = |name: &str| {
        echo["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap().to_owned())
    };
    let context: Value = serde_json::from_str(&header("x-amzn-lambda-context").unwrap()).unwrap();
    for field in [
        "request_id",
        "deadline",
        "invoked_function_arn",
        "xray_trace_id",
        "client_context",
        "identity",
        "env_config",
    ] {
        assert!(
            context.get(field).is_some(),
            "x-amzn-lambda-context lacks {field}: {context}"
        );
    }
    assert!(
        context["invoked_function_arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:rs"),
        "{context}"
    );
    // The emulator sends Lambda-Runtime-Trace-Id as Lambda does.
    let trace = header("x-amzn-trace-id").expect("x-amzn-trace-id from Lambda-Runtime-Trace-Id");
    assert_eq!(context["xray_trace_id"], trace.as_str());
    let parent = header("traceparent").expect("traceparent derived from the trace id");
    let root = trace
        .split(';')
        .find_map(|f| f.strip_prefix("Root="))
        .unwrap()
        .strip_prefix("1-")
        .unwrap()
        .replace('-', "");
    assert!(
        parent.starts_with(&format!("00-{root}-")) && parent.len() == 55,
        "{parent} from {trace}"
    );
    // The function's trace replaces a traceparent the caller sent (the Lambda hop is not
    // skipped); the caller's tracestate is kept.
    let event = harness::v2_event(
        "GET",
        "/echo",
        "",
        &[
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
        b"",
    );
    let echo: Value = serde_json::from_slice(&harness::result_body(&harness::json(
        &harness::invoke(&emulator, "rs", &event).await,
    )))
    .unwrap();
    let sent = |name: &str| -> Vec<String> {
        echo["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap().to_owned())
            .collect()
    };
    let trace = sent("x-amzn-trace-id");
    assert_eq!(trace.len(), 1, "{echo}");
    let parent = sent("traceparent");
    assert_eq!(parent.len(), 1, "{echo}");
    assert_ne!(
        parent[0],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    let root = trace[0]
        .split(';')
        .find_map(|f| f.strip_prefix("Root="))
        .unwrap()
        .strip_prefix("1-")
        .unwrap()
        .replace('-', "");
    assert!(parent[0].starts_with(&format!("00-{root}-")), "{echo}");
    assert_eq!(sent("tracestate"), ["congo=t61rcWkgMzE"]);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_crash_recycles_the_environment() {
    let layer = harness::layer();
    let emulator = harness::start(vec![harness::python_function("py", layer.path(), &[])]).await;
    let response = harness::invoke(&emulator, "py", &get("/crash", "")).await;
    assert!(response.function_error.is_some());
    let payload = String::from_utf8_lossy(&response.payload).into_owned();
    assert!(
        payload.contains("LambdaMesh.BadServiceResponse") || payload.contains("Runtime.ExitError"),
        "{payload}"
    );
    // The environment whose service died is never handed the next invocation: a fresh one answers.
    let response = harness::invoke(&emulator, "py", &get("/hello", "name=fresh")).await;
    assert!(response.function_error.is_none(), "{:?}", response.payload);
    assert_eq!(
        harness::result_body(&harness::json(&response)),
        b"Hello, fresh!"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_first_chunk_arrives_before_the_service_finishes() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let rust = service::start().await;
    let emulator = harness::start(vec![harness::rust_service_function(
        "rs",
        layer.path(),
        code.path(),
        rust.addr.port(),
        &[("LAMBDA_MESH_INVOKE_MODE", "response_stream")],
    )])
    .await;
    let mut streaming = harness::invoke_stream(&emulator, "rs", &get("/stream-gated", "")).await;
    assert_eq!(
        streaming.content_type.as_deref(),
        Some("application/vnd.awslambda.http-integration-response")
    );
    // Read until the prelude separator and the first chunk are in, while the service still
    // waits on its gate.
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&received).contains("first\n") {
        let chunk = tokio::time::timeout_at(deadline, streaming.body.recv())
            .await
            .expect("first chunk before the service finishes")
            .expect("stream open")
            .expect("no stream error");
        received.extend_from_slice(&chunk);
    }
    let separator = received
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("8 NUL bytes");
    let prelude: Value = serde_json::from_slice(&received[..separator]).unwrap();
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(prelude["headers"]["x-streamed"], "yes", "{prelude}");
    rust.gate.notify_one();
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_secs(5), streaming.body.recv())
            .await
            .unwrap()
        {
            Some(chunk) => received.extend_from_slice(&chunk.expect("no stream error")),
            None => break,
        }
    }
    assert!(
        received.ends_with(b"first\nsecond\n"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );

    // A service that breaks off mid-stream: the error reaches the caller through the trailers.
    let mut broken = harness::invoke_stream(&emulator, "rs", &get("/stream-broken", "")).await;
    let mut error = None;
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_secs(5), broken.body.recv())
            .await
            .unwrap()
        {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                error = Some(e);
                break;
            }
            None => break,
        }
    }
    let error = error.expect("the mid-stream failure is reported");
    assert_eq!(
        error.error_code, "LambdaMesh.BadServiceResponse",
        "{error:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_when_accepted_and_large_enough() {
    let layer = harness::layer();
    let emulator = harness::start(vec![harness::python_function(
        "py",
        layer.path(),
        &[("LAMBDA_MESH_ENABLE_COMPRESSION", "true")],
    )])
    .await;
    let big = harness::v2_event(
        "GET",
        "/big",
        "bytes=20000",
        &[("accept-encoding", "br;q=0.5, gzip")],
        b"",
    );
    let result = harness::json(&harness::invoke(&emulator, "py", &big).await);
    assert_eq!(
        harness::result_header(&result, "content-encoding"),
        Some("gzip"),
        "{result}"
    );
    let compressed = harness::result_body(&result);
    assert!(compressed.len() < 2000, "{} bytes", compressed.len());
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut plain)
        .unwrap();
    let expected: Vec<u8> = b"abcdefghij".iter().copied().cycle().take(20000).collect();
    assert_eq!(plain, expected);
    assert_eq!(
        harness::result_header(&result, "content-length"),
        Some(compressed.len().to_string().as_str())
    );

    let identity = harness::v2_event("GET", "/big", "bytes=20000", &[], b"");
    let result = harness::json(&harness::invoke(&emulator, "py", &identity).await);
    assert_eq!(harness::result_header(&result, "content-encoding"), None);
    assert_eq!(harness::result_body(&result), expected);

    let small = harness::v2_event(
        "GET",
        "/big",
        "bytes=100",
        &[("accept-encoding", "gzip")],
        b"",
    );
    let result = harness::json(&harness::invoke(&emulator, "py", &small).await);
    assert_eq!(harness::result_header(&result, "content-encoding"), None);
    emulator.shutdown().await;
}

/// aws-lambda-web-adapter's names end to end: port, readiness path, base path, error statuses,
/// pass-through path, authorization source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lwa_variables_end_to_end() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let rust = service::start().await;
    let port = rust.addr.port().to_string();
    let mut function = harness::rust_service_function(
        "lwa",
        layer.path(),
        code.path(),
        1,
        &[
            ("AWS_LWA_PORT", &port),
            ("AWS_LWA_READINESS_CHECK_PATH", "/hello"),
            ("AWS_LWA_REMOVE_BASE_PATH", "/stage"),
            ("AWS_LWA_ERROR_STATUS_CODES", "418"),
            ("AWS_LWA_PASS_THROUGH_PATH", "/sqs-in"),
            ("AWS_LWA_AUTHORIZATION_SOURCE", "x-auth"),
        ],
    );
    function.environment.remove("LAMBDA_MESH_PORT");
    let emulator = harness::start(vec![function]).await;
    let event = harness::v2_event(
        "GET",
        "/stage/echo/x",
        "a=1",
        &[("x-auth", "Bearer t")],
        b"",
    );
    let echo: Value = serde_json::from_slice(&harness::result_body(&harness::json(
        &harness::invoke(&emulator, "lwa", &event).await,
    )))
    .unwrap();
    assert_eq!(echo["path"], "/echo/x");
    assert!(echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "authorization" && h[1] == "Bearer t"));
    let response = harness::invoke(&emulator, "lwa", &get("/stage/status/418", "")).await;
    assert_eq!(
        harness::error_type(&response),
        "LambdaMesh.ServiceErrorStatus"
    );
    let sqs = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "hi"}]});
    let echo: Value =
        serde_json::from_slice(&harness::invoke(&emulator, "lwa", &sqs).await.payload).unwrap();
    assert_eq!(echo["path"], "/sqs-in");
    assert_eq!(echo["method"], "POST");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_a_late_service() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let port = free_port();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        service::serve(listener)
    });
    let emulator = harness::start(vec![harness::rust_service_function(
        "late",
        layer.path(),
        code.path(),
        port,
        &[("LAMBDA_MESH_READINESS_TIMEOUT_MS", "5000")],
    )])
    .await;
    let _service = late.await.unwrap();
    let response = harness::invoke(&emulator, "late", &get("/hello", "name=late")).await;
    assert_eq!(
        harness::result_body(&harness::json(&response)),
        b"Hello, late!"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_expiry_fails_init() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let port = free_port();
    let emulator = harness::start(vec![harness::rust_service_function(
        "never",
        layer.path(),
        code.path(),
        port,
        &[("LAMBDA_MESH_READINESS_TIMEOUT_MS", "300")],
    )])
    .await;
    let response = harness::invoke(&emulator, "never", &get("/hello", "")).await;
    assert!(response.function_error.is_some());
    let payload = String::from_utf8_lossy(&response.payload).into_owned();
    assert!(payload.contains("LambdaMesh.ServiceNotReady"), "{payload}");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_init_finishes_init_and_the_first_invocation_waits() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let port = free_port();
    let emulator = harness::start(vec![harness::rust_service_function(
        "async",
        layer.path(),
        code.path(),
        port,
        &[
            ("AWS_LWA_ASYNC_INIT", "true"),
            ("LAMBDA_MESH_READINESS_TIMEOUT_MS", "200"),
        ],
    )])
    .await;
    // Init finished without the service; it comes up while the first invocation waits.
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        service::serve(listener)
    });
    let response = harness::invoke(&emulator, "async", &get("/hello", "name=async")).await;
    assert_eq!(
        harness::result_body(&harness::json(&response)),
        b"Hello, async!"
    );
    let _service = late.await.unwrap();
    emulator.shutdown().await;
}
