//! The whole chain, processes on 127.0.0.1: caller → mesh-proxy → (aws invoker → `lambda-emulator`
//! over HTTP, SigV4-signed | local invoker → embedded emulator) → lambda-mesh extension →
//! examples/hello-python; and mesh-proxy in front of a lambda_http function.
//!
//! The binaries are built for the run by `lambda_mesh_tests::workspace::binary` (as `make build` builds them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use lambda_mesh_tests::client::{client, collect, get, json, send};
use lambda_mesh_tests::events::base64;
use lambda_mesh_tests::layer::mesh_layer;
use lambda_mesh_tests::mesh_proxy::{
    hello_function_table as hello_function, upstream_table as upstream, MeshProxy, AWS_ENV,
};
use lambda_mesh_tests::process::{address, Proc};
use lambda_mesh_tests::recorder;
use lambda_mesh_tests::workspace::binary;

/// A layer dir with the freshly built extension and the layer's bootstrap.
fn layer() -> tempfile::TempDir {
    mesh_layer(&binary("lambda-mesh-extension"))
}

/// Start mesh-proxy on `config` and return it with its upstream addresses.
fn mesh_proxy(dir: &Path, config: &str) -> (MeshProxy, HashMap<String, SocketAddr>) {
    let path = dir.join("mesh.toml");
    std::fs::write(
        &path,
        format!("[admin]\nlisten = \"127.0.0.1:0\"\n{config}"),
    )
    .unwrap();
    let proxy = MeshProxy::start(&binary("mesh-proxy"), &path, &AWS_ENV);
    let upstreams = proxy.upstreams.clone();
    (proxy, upstreams)
}

/// Sync (hello, echo with repeats and a binary body), Envoy, passthrough, async and streaming.
async fn every_mode(upstreams: &HashMap<String, SocketAddr>) {
    let (response, body) = get(upstreams["hello"], "/hello?name=mesh").await;
    assert_eq!(response.status(), 200);
    assert_eq!(body, "Hello, mesh!");
    assert!(response.headers().contains_key("x-request-id"));

    let payload = Bytes::from_static(b"\x00\x01\x02binary\xff\xfe");
    let request = Request::post(format!(
        "http://{}/echo?a=1&a=2&b=x%20y",
        upstreams["hello"]
    ))
    .header("x-repeat", "one")
    .header("x-repeat", "two")
    .header("cookie", "c1=1; c2=2")
    .body(Full::new(payload.clone()))
    .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 200);
    let echo = json(&body);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "a=1&a=2&b=x%20y");
    assert_eq!(echo["body_base64"], base64(&payload));
    assert_eq!(echo["cookies"], serde_json::json!(["c1=1", "c2=2"]));
    let headers = echo["headers"].as_array().unwrap();
    let repeat: Vec<&str> = headers
        .iter()
        .filter(|h| h[0] == "x-repeat")
        .flat_map(|h| h[1].as_str().unwrap().split(',').map(str::trim))
        .collect();
    assert_eq!(repeat, ["one", "two"]);
    assert!(headers.iter().any(|h| h[0] == "x-forwarded-for"));

    let (response, body) = get(upstreams["envoy"], "/echo/envoy?q=1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&body)["path"], "/echo/envoy");

    let request = Request::post(format!("http://{}/ignored", upstreams["raw"]))
        .body(Full::new(Bytes::from_static(br#"{"order":7}"#)))
        .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 200);
    let echo = json(&body);
    assert_eq!(echo["path"], "/events");
    assert_eq!(echo["body_base64"], base64(br#"{"order":7}"#));

    let (response, body) = get(upstreams["later"], "/hello").await;
    assert_eq!(response.status(), 202);
    assert!(!json(&body)["requestId"].as_str().unwrap().is_empty());

    let request = Request::get(format!(
        "http://{}/stream?chunks=3&delay_ms=400",
        upstreams["live"]
    ))
    .body(Full::default())
    .unwrap();
    let response = send(&client(), request).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut first = Vec::new();
    while first.is_empty() {
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .unwrap();
        if let Ok(data) = frame.unwrap().unwrap().into_data() {
            first.extend_from_slice(&data);
        }
    }
    let first_at = Instant::now();
    assert!(
        first.starts_with(b"chunk 0\n"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    let rest = tokio::time::timeout(Duration::from_secs(30), body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    let mut all = first.clone();
    all.extend_from_slice(&rest);
    assert_eq!(all, b"chunk 0\nchunk 1\nchunk 2\n");
    // The service slept 400 ms after each chunk: the first one came long before it finished.
    assert!(
        first_at.elapsed() >= Duration::from_millis(600),
        "{:?}",
        first_at.elapsed()
    );
}

fn mode_upstreams(function: &str, streaming_function: &str) -> String {
    [
        upstream("hello", function, ""),
        upstream("envoy", function, "payload_format = \"envoy\""),
        upstream("raw", function, "payload_passthrough = true"),
        upstream("later", function, "invocation_mode = \"asynchronous\""),
        upstream("live", streaming_function, "response_streaming = true"),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_chain_through_lambda_emulator() {
    let layer = layer();
    let dir = tempfile::tempdir().unwrap();
    let functions = format!(
        "{}{}",
        hello_function("hello", layer.path(), ""),
        hello_function(
            "hello-stream",
            layer.path(),
            ", LAMBDA_MESH_INVOKE_MODE = \"response_stream\""
        )
    );
    let functions_path = dir.path().join("functions.toml");
    std::fs::write(&functions_path, functions).unwrap();
    let emulator = Proc::start(
        &binary("lambda-emulator"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--config",
            functions_path.to_str().unwrap(),
        ],
        &[],
    );
    let lambda = address(
        emulator
            .lines_until("listening on", Duration::from_secs(60))
            .last()
            .unwrap(),
    );
    let (recorder, recorded) = recorder::start(lambda).await;
    let config = format!(
        "[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://{recorder}\"\n{}",
        mode_upstreams("hello", "hello-stream")
    );
    let (proxy, upstreams) = mesh_proxy(dir.path(), &config);
    every_mode(&upstreams).await;

    let recorded = recorded.lock().unwrap().clone();
    assert!(recorded.len() >= 6, "{}", recorded.len());
    for (_, path, headers) in &recorded {
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDMESHTEST/"),
            "{path}: {authorization}"
        );
        assert!(
            !headers.contains_key("x-repeat"),
            "caller headers stay inside the event"
        );
    }
    let logs = proxy.stderr();
    for secret in ["very-secret-key-do-not-log", "session-token-do-not-log"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_invoker_chain_in_the_embedded_emulator() {
    let layer = layer();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}{}",
        mode_upstreams("hello", "hello-stream"),
        hello_function("hello", layer.path(), ""),
        hello_function(
            "hello-stream",
            layer.path(),
            ", LAMBDA_MESH_INVOKE_MODE = \"response_stream\""
        )
    );
    let config = format!("{config}{}", upstream("short", "hello", "timeout = 1"));
    let (_proxy, upstreams) = mesh_proxy(dir.path(), &config);
    every_mode(&upstreams).await;

    // Failures of the real service, mapped: a hang past the upstream's timeout is a 504; a
    // service that dies mid-request is a function error, 502.
    let (response, body) = get(upstreams["short"], "/sleep?ms=3000").await;
    assert_eq!(response.status(), 504);
    assert_eq!(json(&body)["error"], "timeout");
    let (response, body) = get(upstreams["hello"], "/crash").await;
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-lambda-function-error"], "Unhandled");
    assert_eq!(json(&body)["error"], "function_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_http_function_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    let config = format!(
        "{}\n[[function]]\nname = \"rusty\"\ncode = \"{}\"\nbootstrap = \"{}\"\ntimeout = 10\n",
        upstream("rusty", "rusty", ""),
        code.display(),
        env!("CARGO_BIN_EXE_mesh-lambda-http-fn"),
    );
    let (_proxy, upstreams) = mesh_proxy(dir.path(), &config);
    let payload = Bytes::from_static(b"\xff\x00 bytes \x01");
    let request = Request::put(format!(
        "http://{}/items/42?x=1&x=2&y=%2F",
        upstreams["rusty"]
    ))
    .header("x-test", "a")
    .header("x-test", "b")
    .body(Full::new(payload.clone()))
    .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 207);
    assert_eq!(body, payload);
    let h = response.headers();
    assert_eq!(h["x-echo-method"], "PUT");
    assert_eq!(h["x-echo-path"], "/items/42");
    assert_eq!(h["x-echo-query"], "x=1&x=2&y=%2F");
    // Payload format 2.0 has no multi-value headers: repeats arrive comma-joined (RFC 9110).
    assert_eq!(h["x-echo-test"], "a,b");
    let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["one=1", "two=2"]);
    assert_eq!(h["content-length"], payload.len().to_string().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_streaming_function_is_streamed_as_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    let config = format!(
        "{}\n[[function]]\nname = \"chunks\"\ncode = \"{}\"\nbootstrap = \"{}\"\ntimeout = 10\n",
        upstream("chunks", "chunks", "response_streaming = true"),
        code.display(),
        env!("CARGO_BIN_EXE_emulator-stream-fn"),
    );
    let (_proxy, upstreams) = mesh_proxy(dir.path(), &config);
    // Not an HTTP integration stream: status 200, the function's content type, the bytes as body.
    let (response, body) = get(upstreams["chunks"], "/").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(body, "chunk 0\nchunk 1\nchunk 2\n");
}

/// The header named `name` in examples/hello-python's echo, once.
fn echoed(echo: &serde_json::Value, name: &str) -> String {
    let values: Vec<&str> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().unwrap())
        .collect();
    assert_eq!(values.len(), 1, "{name} in {echo}");
    values[0].to_owned()
}

/// `Root=1-…` of an X-Ray header.
fn xray_root(header: &str) -> &str {
    header
        .split(';')
        .find_map(|f| f.strip_prefix("Root="))
        .unwrap_or_else(|| panic!("no Root in {header}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_id_from_the_caller_to_the_service() {
    let layer = layer();
    let dir = tempfile::tempdir().unwrap();
    let functions_path = dir.path().join("functions.toml");
    std::fs::write(&functions_path, hello_function("hello", layer.path(), "")).unwrap();
    let emulator = Proc::start(
        &binary("lambda-emulator"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--config",
            functions_path.to_str().unwrap(),
        ],
        &[],
    );
    let lambda = address(
        emulator
            .lines_until("listening on", Duration::from_secs(60))
            .last()
            .unwrap(),
    );
    let (recorder, recorded) = recorder::start(lambda).await;
    let config = format!(
        "[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://{recorder}\"\n{}",
        upstream("hello", "hello", "")
    );
    let (_proxy, upstreams) = mesh_proxy(dir.path(), &config);

    // A W3C trace from the caller wins over an X-Ray header it also sent.
    let request = Request::get(format!("http://{}/echo", upstreams["hello"]))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("tracestate", "congo=t61rcWkgMzE")
        .header(
            "x-amzn-trace-id",
            "Root=1-11111111-222222222222222222222222;Parent=3333333333333333;Sampled=0",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 200);
    let echo = json(&body);
    let invoke = recorded.lock().unwrap().last().unwrap().2.clone();
    assert_eq!(
        invoke["x-amzn-trace-id"],
        "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
    );
    // At the runtime (the extension's Lambda context) and at the service: the same trace.
    let context: serde_json::Value =
        serde_json::from_str(&echoed(&echo, "x-amzn-lambda-context")).unwrap();
    assert_eq!(
        xray_root(context["xray_trace_id"].as_str().unwrap()),
        "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        xray_root(&echoed(&echo, "x-amzn-trace-id")),
        "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    );
    assert!(
        echoed(&echo, "traceparent").starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{echo}"
    );
    assert_eq!(echoed(&echo, "tracestate"), "congo=t61rcWkgMzE");

    // No context from the caller: mesh-proxy starts the trace (epoch seconds first, no parent),
    // and the service is handed that trace.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (response, body) = get(upstreams["hello"], "/echo").await;
    assert_eq!(response.status(), 200);
    let echo = json(&body);
    let invoke = recorded.lock().unwrap().last().unwrap().2.clone();
    let started = invoke["x-amzn-trace-id"].to_str().unwrap().to_owned();
    assert!(
        !started.contains("Parent=") && !started.contains("Sampled="),
        "{started}"
    );
    let root = xray_root(&started).to_owned();
    let seconds = u64::from_str_radix(&root[2..10], 16).unwrap();
    assert!(seconds.abs_diff(before) <= 5, "{started}");
    assert_eq!(xray_root(&echoed(&echo, "x-amzn-trace-id")), root);
    let trace_id = root[2..].replace('-', "");
    assert!(
        echoed(&echo, "traceparent").starts_with(&format!("00-{trace_id}-")),
        "{echo}"
    );
}
