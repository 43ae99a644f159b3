//! Every event-shape fixture (adapter/tests/data) through emulator → extension → the Python
//! example and a Rust service: the service sees the method, path, raw query, headers, cookies and
//! body bytes the adapter decodes from the event, and the result comes back in the event's shape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;

use base64::Engine as _;
use bytes::Bytes;
use lambda_mesh_adapter::{decode_event, DecodeOptions, EventShape};
use lambda_mesh_tests::service;
use serde_json::Value;

const FIXTURES: [&str; 8] = [
    "alb_multi.json",
    "alb_single.json",
    "apigw_v1.json",
    "apigw_v2.json",
    "envoy.json",
    "eventbridge.json",
    "function_url.json",
    "sqs.json",
];

/// Headers the extension itself sets or drops; the rest must reach the service unchanged.
const MANAGED: [&str; 10] = [
    "content-length",
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "expect",
    "x-amzn-request-context",
    "x-amzn-lambda-context",
    "x-amzn-trace-id",
    "traceparent",
];

fn fixture(name: &str) -> Bytes {
    let path = harness::root().join("adapter/tests/data").join(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The echo JSON out of a result in `shape`.
fn echoed(shape: &EventShape, result: &Value, raw: &Bytes, fixture: &str) -> Value {
    match shape {
        EventShape::PassThrough => serde_json::from_slice(raw)
            .unwrap_or_else(|e| panic!("{fixture}: pass-through result is the body ({e})")),
        EventShape::Envoy => {
            assert_eq!(result["status_code"], 200, "{fixture}: {result}");
            let body = result["body"].as_str().unwrap();
            let bytes = if result["is_base64_encoded"].as_bool().unwrap_or(false) {
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap()
            } else {
                body.as_bytes().to_vec()
            };
            serde_json::from_slice(&bytes).unwrap()
        }
        _ => {
            assert_eq!(result["statusCode"], 200, "{fixture}: {result}");
            if let EventShape::Alb { multi_value } = shape {
                assert_eq!(result["statusDescription"], "200 OK", "{fixture}");
                assert_eq!(
                    result.get("multiValueHeaders").is_some(),
                    *multi_value,
                    "{fixture}: multi-value result iff multi-value event: {result}"
                );
            }
            serde_json::from_slice(&harness::result_body(result)).unwrap()
        }
    }
}

fn check_fixture(name: &str, result: &harness_types::Response, function: &str) {
    let event = fixture(name);
    let expected = decode_event(&event, &DecodeOptions::new()).unwrap();
    assert!(
        result.function_error.is_none(),
        "{function}/{name}: function error {}",
        String::from_utf8_lossy(&result.payload)
    );
    let value: Value = serde_json::from_slice(&result.payload).unwrap_or(Value::Null);
    let echo = echoed(&expected.shape, &value, &result.payload, name);
    let request = &expected.request;
    assert_eq!(
        echo["method"],
        request.method().as_str(),
        "{function}/{name}"
    );
    assert_eq!(echo["path"], request.uri().path(), "{function}/{name}");
    assert_eq!(
        echo["query"],
        request.uri().query().unwrap_or(""),
        "{function}/{name}"
    );
    let body = base64::engine::general_purpose::STANDARD
        .decode(echo["body_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        body,
        request.body().as_ref(),
        "{function}/{name}: body bytes"
    );
    let seen: Vec<(String, String)> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_ascii_lowercase(),
                pair[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (header, value) in request.headers() {
        if MANAGED.contains(&header.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        assert!(
            seen.iter()
                .any(|(k, v)| k == header.as_str() && *v == value),
            "{function}/{name}: header {header}: {value:?} not seen by the service: {seen:?}"
        );
    }
    let sent = request
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .count();
    let cookies = echo["cookies"].as_array().unwrap();
    assert_eq!(
        sent > 0,
        !cookies.is_empty(),
        "{function}/{name}: cookies {cookies:?}"
    );
    if expected.request_context.is_some() {
        let context = seen
            .iter()
            .find(|(k, _)| k == "x-amzn-request-context")
            .unwrap_or_else(|| panic!("{function}/{name}: no x-amzn-request-context"));
        let context: Value = serde_json::from_str(&context.1).unwrap();
        assert_eq!(Some(&context), expected.request_context.as_ref());
    }
    let lambda_context = seen
        .iter()
        .find(|(k, _)| k == "x-amzn-lambda-context")
        .unwrap_or_else(|| panic!("{function}/{name}: no x-amzn-lambda-context"));
    let lambda_context: Value = serde_json::from_str(&lambda_context.1).unwrap();
    assert_eq!(lambda_context["request_id"], result.request_id.as_str());
    assert!(lambda_context["deadline"].as_u64().unwrap() > 0);
    assert_eq!(lambda_context["env_config"]["function_name"], function);
}

mod harness_types {
    pub type Response = lambda_mesh_emulator::InvokeResponse;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_through_python_and_rust() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let rust = service::start().await;
    let emulator = harness::start(vec![
        harness::python_function("py", layer.path(), &[]),
        harness::python_provided_function("py-provided", layer.path(), &[]),
        harness::rust_service_function("rs", layer.path(), code.path(), rust.addr.port(), &[]),
    ])
    .await;
    for name in FIXTURES {
        for function in ["py", "py-provided", "rs"] {
            let response = harness::invoke_bytes(&emulator, function, fixture(name)).await;
            check_fixture(name, &response, function);
        }
    }
    // The pooled connection was reused across the Rust service's invocations: one connection
    // for the readiness check, one (rarely two) for all the invocations.
    let connections = rust.connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        connections <= 3,
        "keep-alive: {connections} connections for {} invocations",
        FIXTURES.len()
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_python_greets() {
    let layer = harness::layer();
    let emulator = harness::start(vec![harness::python_function("py", layer.path(), &[])]).await;
    let event = harness::v2_event("GET", "/hello", "name=Ada%20L", &[], b"");
    let response = harness::invoke(&emulator, "py", &event).await;
    let result = harness::json(&response);
    assert_eq!(result["statusCode"], 200, "{result}");
    assert_eq!(harness::result_body(&result), b"Hello, Ada L!");
    let cookies = harness::invoke(
        &emulator,
        "py",
        &harness::v2_event("GET", "/set-cookies", "", &[], b""),
    )
    .await;
    let result = harness::json(&cookies);
    assert_eq!(
        result["cookies"],
        serde_json::json!(["a=1; Path=/", "b=2; HttpOnly"]),
        "{result}"
    );
    emulator.shutdown().await;
}
