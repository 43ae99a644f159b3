//! The extension binary against a scripted Lambda API: how it registers, reports bad
//! configuration and readiness expiry through `init/error`, and exits 0 on SHUTDOWN.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use lambda_mesh_tests::events::v2_get;
use lambda_mesh_tests::fake_api::{exit_within, FakeApi, Plan};
use lambda_mesh_tests::net::{free_port, Silent};
use lambda_mesh_tests::service;

/// How long each request the tests wait for may take to arrive.
const ARRIVAL: Duration = Duration::from_secs(5);

fn spawn_extension(api: std::net::SocketAddr, env: &[(&str, &str)]) -> tokio::process::Child {
    lambda_mesh_tests::fake_api::spawn_extension(harness::extension(), api, env)
}

#[tokio::test]
async fn registers_for_shutdown_only_and_exits_0_on_shutdown() {
    let api = FakeApi::start(Plan::default()).await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let child = spawn_extension(api.addr, &[("LAMBDA_MESH_PORT", &port)]);
    let register = api.wait_for("/extension/register", ARRIVAL).await;
    assert_eq!(register.method, "POST");
    assert_eq!(register.headers["lambda-extension-name"], "lambda-mesh");
    let events: serde_json::Value = serde_json::from_slice(&register.body).unwrap();
    assert_eq!(events, serde_json::json!({"events": ["SHUTDOWN"]}));
    // Ready: it polls both APIs side by side.
    let next = api.wait_for("/runtime/invocation/next", ARRIVAL).await;
    assert_eq!(next.method, "GET");
    let event_next = api.wait_for("/extension/event/next", ARRIVAL).await;
    assert_eq!(
        event_next.headers["lambda-extension-identifier"],
        "ext-id-1"
    );
    let started = Instant::now();
    api.shutdown();
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    let status = output.status;
    assert!(status.success(), "{status:?}: {log}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_configuration_is_reported_through_init_error() {
    let api = FakeApi::start(Plan::default()).await;
    let child = spawn_extension(api.addr, &[("AWS_LWA_PORT", "eighty")]);
    let (output, log) = exit_within(child, Duration::from_secs(10)).await;
    let status = output.status;
    assert_eq!(status.code(), Some(64), "{log}");
    let error = api.wait_for("/extension/init/error", ARRIVAL).await;
    assert_eq!(error.headers["lambda-extension-identifier"], "ext-id-1");
    assert_eq!(
        error.headers["lambda-extension-function-error-type"],
        "LambdaMesh.InvalidConfig"
    );
    let body: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
    assert_eq!(body["errorType"], "LambdaMesh.InvalidConfig");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.contains("AWS_LWA_PORT"), "{message}");
    assert!(api.seen("/runtime/invocation/next").is_none());
}

#[tokio::test]
async fn readiness_expiry_is_reported_through_init_error() {
    let api = FakeApi::start(Plan::default()).await;
    let port = free_port().to_string();
    let started = Instant::now();
    let child = spawn_extension(
        api.addr,
        &[("PORT", &port), ("LAMBDA_MESH_READINESS_TIMEOUT_MS", "400")],
    );
    let (output, log) = exit_within(child, Duration::from_secs(10)).await;
    let status = output.status;
    assert!(!status.success(), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let error = api.wait_for("/extension/init/error", ARRIVAL).await;
    let body: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
    assert_eq!(body["errorType"], "LambdaMesh.ServiceNotReady");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.contains(&format!("http://127.0.0.1:{port}/")) && message.contains("not ready"),
        "{message}"
    );
}

#[tokio::test]
async fn a_hung_health_endpoint_cannot_stall_init() {
    // Accepts connections but never answers: each check gives up after its own bound.
    let silent = Silent::start().await;
    let port = silent.addr.port().to_string();
    let api = FakeApi::start(Plan::default()).await;
    let child = spawn_extension(
        api.addr,
        &[
            ("PORT", &port),
            ("LAMBDA_MESH_READINESS_TIMEOUT_MS", "1500"),
        ],
    );
    let (output, log) = exit_within(child, Duration::from_secs(10)).await;
    let status = output.status;
    assert!(!status.success(), "{log}");
    let body: serde_json::Value =
        serde_json::from_slice(&api.wait_for("/extension/init/error", ARRIVAL).await.body).unwrap();
    assert!(
        body["errorMessage"].as_str().unwrap().contains("no answer"),
        "{body}"
    );
}

#[tokio::test]
async fn a_service_gone_for_good_fails_the_invocation_then_exit_error() {
    let api = FakeApi::start(Plan::default()).await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let child = spawn_extension(api.addr, &[("LAMBDA_MESH_PORT", &port)]);
    api.wait_for("/runtime/invocation/next", ARRIVAL).await;
    // The service goes away after init; then an invocation arrives.
    drop(service);
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.invoke(v2_get("/hello"));
    let error = api.wait_for("/invocation/req-1/error", ARRIVAL).await;
    assert_eq!(
        error.headers["lambda-runtime-function-error-type"],
        "LambdaMesh.ServiceUnavailable"
    );
    let body: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{body}"
    );
    let exit = api.wait_for("/extension/exit/error", ARRIVAL).await;
    assert_eq!(
        exit.headers["lambda-extension-function-error-type"],
        "LambdaMesh.ServiceGone"
    );
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    let status = output.status;
    assert!(!status.success(), "{status:?}: {log}");
}
