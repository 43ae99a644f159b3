//! The extension binary against a Lambda API that stalls or drops connections: every call but
//! the long polls is bounded (`LAMBDA_MESH_API_TIMEOUT_MS`; a streamed response by the
//! invocation's deadline), the long polls wait as long as Lambda makes them but notice a closed
//! connection, and a failed call ends in `exit/error` (`LambdaMesh.LambdaApiFailed`) and a
//! nonzero exit, never a hang.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use lambda_mesh_tests::events::v2_get;
use lambda_mesh_tests::fake_api::{error_report, exit_within, FakeApi, Next, Plan};
use lambda_mesh_tests::net::Silent;
use lambda_mesh_tests::service;

fn spawn_extension(api: std::net::SocketAddr, env: &[(&str, &str)]) -> tokio::process::Child {
    lambda_mesh_tests::fake_api::spawn_extension(harness::extension(), api, env)
}

/// The first `invocation/next` gets `GET path_and_query` after `delay`.
fn event_after(delay: Duration, path_and_query: &str) -> Plan {
    Plan::new(Next::EventAfter(delay, v2_get(path_and_query)))
}

#[tokio::test]
async fn a_silent_api_fails_registration_within_the_call_timeout() {
    // Accepts connections and never answers.
    let silent = Silent::start().await;
    let addr = silent.addr;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let started = Instant::now();
    let child = spawn_extension(
        addr,
        &[
            ("LAMBDA_MESH_PORT", &port),
            ("LAMBDA_MESH_API_TIMEOUT_MS", "300"),
        ],
    );
    let (output, log) = exit_within(child, Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(
        log.contains("lambda api call extension/register got no answer within")
            && log.contains("LAMBDA_MESH_API_TIMEOUT_MS"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_stalled_response_post_times_out_and_reports_exit_error() {
    let mut plan = event_after(Duration::ZERO, "/hello?name=mesh");
    plan.stall_response = true;
    let api = FakeApi::start(plan).await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let child = spawn_extension(
        api.addr,
        &[
            ("LAMBDA_MESH_PORT", &port),
            ("LAMBDA_MESH_API_TIMEOUT_MS", "300"),
        ],
    );
    let posted = api
        .wait_for("/invocation/req-1/response", Duration::from_secs(10))
        .await;
    assert!(
        String::from_utf8_lossy(&posted.body).contains("Hello, mesh!"),
        "{posted:?}"
    );
    let exit = api
        .wait_for("/extension/exit/error", Duration::from_secs(5))
        .await;
    let waited = exit.at - posted.at;
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let (error_type, message) = error_report(&exit);
    assert_eq!(error_type, "LambdaMesh.LambdaApiFailed");
    assert!(
        message.contains("lambda api call invocation/response got no answer within")
            && message.contains("LAMBDA_MESH_API_TIMEOUT_MS"),
        "{message}"
    );
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn long_polls_held_past_the_call_timeout_do_not_fail() {
    let plan = event_after(Duration::from_millis(1500), "/hello?name=late");
    let api = FakeApi::start(plan).await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let mut child = spawn_extension(
        api.addr,
        &[
            ("LAMBDA_MESH_PORT", &port),
            ("LAMBDA_MESH_API_TIMEOUT_MS", "200"),
        ],
    );
    // `invocation/next` is held 1.5 s and `event/next` longer, each well past the 200 ms bound.
    let event_next = api
        .wait_for("/extension/event/next", Duration::from_secs(10))
        .await;
    let posted = api
        .wait_for("/invocation/req-1/response", Duration::from_secs(10))
        .await;
    assert!(posted.at - event_next.at >= Duration::from_millis(1000));
    let result: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
    assert_eq!(result["statusCode"], 200, "{result}");
    assert_eq!(result["body"], "Hello, late!", "{result}");
    // Idle again, past the bound once more: still running, nothing reported.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(child.try_wait().unwrap().is_none(), "the extension exited");
    assert!(api.seen("/exit/error").is_none(), "{:?}", api.paths());
    api.shutdown();
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    assert!(output.status.success(), "{log}");
    assert!(!log.contains("no answer within"), "{log}");
}

#[tokio::test]
async fn a_long_poll_whose_connection_closes_fails_with_a_typed_error() {
    let api = FakeApi::start(Plan::new(Next::Close)).await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    // The default call timeout (5 s): a closed connection is noticed at once, not on a timer.
    let started = Instant::now();
    let child = spawn_extension(api.addr, &[("LAMBDA_MESH_PORT", &port)]);
    let exit = api
        .wait_for("/extension/exit/error", Duration::from_secs(10))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let (error_type, message) = error_report(&exit);
    assert_eq!(error_type, "LambdaMesh.LambdaApiFailed");
    assert!(
        message.contains("the lambda api closed the connection during invocation/next"),
        "{message}"
    );
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_streamed_response_may_outlast_the_call_timeout() {
    let plan = event_after(Duration::ZERO, "/stream-gated");
    let api = FakeApi::start(plan).await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let child = spawn_extension(
        api.addr,
        &[
            ("LAMBDA_MESH_PORT", &port),
            ("LAMBDA_MESH_API_TIMEOUT_MS", "200"),
            ("LAMBDA_MESH_INVOKE_MODE", "response_stream"),
        ],
    );
    api.wait_for("/invocation/next", Duration::from_secs(10))
        .await;
    let invoked_at = api.wait_invoked(Duration::from_secs(10)).await;
    // The stream stays open (first chunk sent) four times the call timeout, then ends.
    tokio::time::sleep(Duration::from_millis(800)).await;
    service.gate.notify_one();
    let posted = api
        .wait_for("/invocation/req-1/response", Duration::from_secs(5))
        .await;
    assert!(posted.at - invoked_at >= Duration::from_millis(800));
    let body = String::from_utf8_lossy(&posted.body);
    assert!(
        body.contains("first\n") && body.ends_with("second\n"),
        "{body:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(api.seen("/exit/error").is_none(), "{:?}", api.paths());
    api.shutdown();
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    assert!(output.status.success(), "{log}");
}

#[tokio::test]
async fn a_stalled_streamed_response_fails_at_the_deadline_not_the_call_timeout() {
    let mut plan = event_after(Duration::ZERO, "/hello?name=mesh");
    plan.stall_response = true;
    plan.deadline_in = Duration::from_millis(1500);
    let api = FakeApi::start(plan).await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let child = spawn_extension(
        api.addr,
        &[
            ("LAMBDA_MESH_PORT", &port),
            ("LAMBDA_MESH_API_TIMEOUT_MS", "200"),
            ("LAMBDA_MESH_INVOKE_MODE", "response_stream"),
        ],
    );
    let exit = api
        .wait_for("/extension/exit/error", Duration::from_secs(10))
        .await;
    // Deadline (1.5 s) plus the call timeout (0.2 s): far past the 0.2 s a fixed bound would give.
    let waited = exit.at - api.invoked_at().unwrap();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let posted = api.seen("/invocation/req-1/response").unwrap();
    assert!(String::from_utf8_lossy(&posted.body).ends_with("Hello, mesh!"));
    let (error_type, message) = error_report(&exit);
    assert_eq!(error_type, "LambdaMesh.LambdaApiFailed");
    assert!(
        message.contains("lambda api call invocation/response (streaming) got no answer within")
            && message.contains("the invocation's deadline"),
        "{message}"
    );
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    assert_eq!(output.status.code(), Some(1), "{log}");
}

#[tokio::test]
async fn a_bad_api_timeout_is_reported_through_init_error() {
    let api = FakeApi::start(event_after(Duration::ZERO, "/hello?name=mesh")).await;
    let child = spawn_extension(api.addr, &[("LAMBDA_MESH_API_TIMEOUT_MS", "0")]);
    let (output, log) = exit_within(child, Duration::from_secs(10)).await;
    assert_eq!(output.status.code(), Some(64), "{log}");
    let error = api
        .wait_for("/extension/init/error", Duration::from_secs(5))
        .await;
    let body: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
    assert_eq!(body["errorType"], "LambdaMesh.InvalidConfig");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("LAMBDA_MESH_API_TIMEOUT_MS=\"0\" is not valid"),
        "{message}"
    );
    assert!(api.seen("/runtime/invocation/next").is_none());
}
