//! Secrets never reach a log, an error body or a metric: the whole chain (caller → mesh-proxy's aws
//! invoker → `lambda-emulator`'s Invoke API → the lambda-mesh extension → examples/hello-python),
//! every process at its most verbose level, with recognisable fake AWS credentials (in mesh-proxy's
//! environment and in the function's, as Lambda gives a function its role's) and a caller's
//! `Authorization: Bearer …` on every request, through successes and every kind of failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use lambda_mesh_tests::client::{client, collect, get, h2_client, send, HttpClient};
use lambda_mesh_tests::layer::mesh_layer;
use lambda_mesh_tests::mesh_proxy::{hello_function_table, upstream_table, MeshProxy};
use lambda_mesh_tests::process::{address, Proc};
use lambda_mesh_tests::workspace::binary;

/// The fake access key id: the SDK's identity logging shows it (the secret it redacts).
const ACCESS_KEY_ID: &str = "AKIDLEAKCHECK7Q2XW9";
/// The fake secret access key.
const SECRET_ACCESS_KEY: &str = "leak-check-secret-access-key-5e1f";
/// The fake session token (sent as `x-amz-security-token`, part of every signed request).
const SESSION_TOKEN: &str = "leak-check-session-token-c0ffee";
/// The caller's bearer token (travels inside the event, to the service).
const BEARER: &str = "leak-check-bearer-token-b00b1e5";

/// Every string that must not appear anywhere but on the wire.
const SECRETS: [&str; 4] = [ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN, BEARER];

/// The credentials as an AWS SDK (mesh-proxy's) or a function's runtime finds them.
const CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
    ("AWS_SESSION_TOKEN", SESSION_TOKEN),
];

/// Asserts that none of [`SECRETS`] is in `text` (what `what` produced), showing every line
/// that has one.
fn assert_clean(what: &str, text: &str) {
    let leaks: Vec<String> = text
        .lines()
        .filter(|line| SECRETS.iter().any(|secret| line.contains(secret)))
        .map(|line| line.chars().take(1_000).collect())
        .collect();
    assert!(
        leaks.is_empty(),
        "{} line(s) of {what} hold a secret:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// `method path` on `addr` with the bearer token, over `client`; the status and body.
async fn call(client: &HttpClient, addr: SocketAddr, path: &str) -> (u16, Bytes) {
    let request = Request::get(format!("http://{addr}{path}"))
        .header("authorization", format!("Bearer {BEARER}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (response, body) = collect(send(client, request).await).await;
    (response.status().as_u16(), body)
}

/// The stderr of a process reaches us through a pipe reader: wait (≤ 10 s) until `needle` is there.
fn wait_for(process: &dyn Fn() -> String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no `{needle}` within 10 s in:\n{}",
            process()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_token_or_bearer_reaches_a_log_an_error_body_or_a_metric_at_trace() {
    let layer = mesh_layer(&binary("lambda-mesh-extension"));
    let dir = tempfile::tempdir().unwrap();
    let function_env: String = CREDENTIALS
        .iter()
        .map(|(key, value)| format!(", {key} = \"{value}\""))
        .chain([", LAMBDA_MESH_LOG_LEVEL = \"trace\"".to_owned()])
        .collect();
    let functions = dir.path().join("functions.toml");
    std::fs::write(
        &functions,
        hello_function_table("hello", layer.path(), &function_env),
    )
    .unwrap();
    let mut verbose = CREDENTIALS.to_vec();
    verbose.push(("RUST_LOG", "trace"));
    let emulator = Proc::start(
        &binary("lambda-emulator"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--config",
            functions.to_str().unwrap(),
        ],
        &verbose,
    );
    let lambda = address(
        emulator
            .lines_until("listening on", Duration::from_secs(60))
            .last()
            .unwrap(),
    );

    let config = dir.path().join("mesh.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://{lambda}\"\n{}{}{}{}",
            upstream_table("hello", "hello", ""),
            upstream_table("later", "hello", "invocation_mode = \"asynchronous\""),
            upstream_table("short", "hello", "timeout = 1"),
            upstream_table("missing", "nothing-here", ""),
        ),
    )
    .unwrap();
    let mut env = verbose.clone();
    env.extend([
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
    ]);
    let proxy = MeshProxy::start(&binary("mesh-proxy"), &config, &env);

    // Successes, over HTTP/1.1 and h2c: the token reaches the service (its echo shows it), and
    // that answer is the caller's own.
    let (status, body) = call(&client(), proxy.upstream("hello"), "/echo").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(BEARER), "the echo");
    let (status, _) = call(&h2_client(), proxy.upstream("hello"), "/echo?via=h2").await;
    assert_eq!(status, 200);
    let (status, _) = call(&client(), proxy.upstream("later"), "/echo").await;
    assert_eq!(status, 202);

    // Failures: the error bodies name what went wrong, never what the caller or the SDK carried.
    for (upstream, path, expected) in [
        ("hello", "/crash", 502),
        ("short", "/sleep?ms=3000", 504),
        ("missing", "/echo", 502),
    ] {
        let (status, body) = call(&client(), proxy.upstream(upstream), path).await;
        assert_eq!(status, expected, "{upstream}{path}");
        assert_clean(
            &format!("the error body of {upstream}{path}"),
            &String::from_utf8_lossy(&body),
        );
    }
    // The environment the crash recycled serves again.
    let (status, _) = call(&client(), proxy.upstream("hello"), "/echo").await;
    assert_eq!(status, 200);

    let (response, metrics) = get(proxy.admin, "/metrics").await;
    assert_eq!(response.status(), 200);
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(metrics.contains("mesh_proxy_"), "{metrics}");
    assert_clean("mesh-proxy's /metrics", &metrics);

    // The logs really are at trace, and the extension's and the service's lines are there.
    let proxy_logs = || format!("{}{}", proxy.stdout(), proxy.stderr());
    wait_for(&proxy_logs, "upstream=missing");
    let emulator_logs = || format!("{}{}", emulator.stdout(), emulator.stderr());
    wait_for(&emulator_logs, "hello-python: crashing on request");
    for (what, logs, levels) in [
        ("mesh-proxy", proxy_logs(), ["TRACE", "DEBUG"]),
        ("the emulator", emulator_logs(), ["TRACE", "DEBUG"]),
    ] {
        for level in levels {
            assert!(logs.contains(level), "no {level} line from {what}:\n{logs}");
        }
        assert_clean(&format!("the output of {what}"), &logs);
    }
    // The function's lines come through the emulator as `[hello] …`: the extension's at TRACE.
    let logs = emulator_logs();
    assert!(
        logs.lines()
            .any(|line| line.starts_with("[hello] ") && line.contains(" TRACE ")),
        "no TRACE line from the extension:\n{logs}"
    );
}
