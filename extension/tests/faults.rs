//! Fault injection at the extension (issue 16): the extension binary against a scripted Lambda
//! API, its service a raw one that answers one request with hostile bytes. Each case asserts the
//! invocation's exact error (or result) and that the next invocation is served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use lambda_mesh_tests::events::{result_body, v2_get};
use lambda_mesh_tests::fake_api::{FakeApi, Plan, Seen};
use lambda_mesh_tests::hostile::{After, Hostile, HOSTILE_PATH};
use serde_json::Value;

/// How long the extension may take to start and poll.
const ARRIVAL: Duration = Duration::from_secs(5);

/// How long an answer may take: far less than the invocation's deadline, so a response read until
/// a close that never comes fails the test instead of timing out as `ServiceTimeout`.
const ANSWER: Duration = Duration::from_secs(2);

/// The extension against a fresh fake API (invocation deadline 5 s), its service `service`.
struct Running {
    api: FakeApi,
    service: Hostile,
    _child: tokio::process::Child,
    invocations: usize,
}

impl Running {
    async fn start(reply: &'static [u8], after: After) -> Running {
        let service = Hostile::start(reply, after).await;
        let plan = Plan {
            deadline_in: Duration::from_secs(5),
            ..Plan::default()
        };
        let api = FakeApi::start(plan).await;
        let port = service.addr.port().to_string();
        let child = lambda_mesh_tests::fake_api::spawn_extension(
            harness::extension(),
            api.addr,
            &[("LAMBDA_MESH_PORT", &port)],
        );
        api.wait_for("/runtime/invocation/next", ARRIVAL).await;
        Running {
            api,
            service,
            _child: child,
            invocations: 0,
        }
    }

    /// Invokes with a GET of `path`; what the extension posted for it (`response` or `error`).
    async fn invoke(&mut self, path: &str, posted: &str) -> Seen {
        self.invocations += 1;
        self.api.invoke(v2_get(path));
        let id = self.invocations;
        self.api
            .wait_for(&format!("/invocation/req-{id}/{posted}"), ANSWER)
            .await
    }

    /// The hostile request fails with `LambdaMesh.BadServiceResponse` saying `what` (and not
    /// where the service listens); the next one is served.
    async fn fails_then_serves(&mut self, what: &str) {
        let error = self.invoke(HOSTILE_PATH, "error").await;
        assert_eq!(
            error.headers["lambda-runtime-function-error-type"],
            "LambdaMesh.BadServiceResponse"
        );
        let report: Value = serde_json::from_slice(&error.body).unwrap();
        assert_eq!(report["errorType"], "LambdaMesh.BadServiceResponse");
        let message = report["errorMessage"].as_str().unwrap();
        assert!(message.contains(what), "{message}");
        assert!(!message.contains("127.0.0.1"), "{message}");
        let port = self.service.addr.port().to_string();
        assert!(!message.contains(&port), "{message}");
        self.next_is_served().await;
    }

    /// A following invocation gets the service's answer.
    async fn next_is_served(&mut self) {
        let result = self.invoke("/after", "response").await;
        let result: Value = serde_json::from_slice(&result.body).unwrap();
        assert_eq!(result["statusCode"], 200, "{result}");
        assert_eq!(result_body(&result), b"ok /after");
    }
}

#[tokio::test]
async fn garbage_instead_of_http_fails_the_invocation_and_the_next_is_served() {
    let mut running = Running::start(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", After::Close).await;
    running.fails_then_serves("malformed").await;
}

#[tokio::test]
async fn a_short_content_length_fails_the_invocation_and_the_next_is_served() {
    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 10\r\n\r\nabc";
    let mut running = Running::start(reply, After::Close).await;
    running
        .fails_then_serves("closed the connection before the end of the response body (10 bytes by its Content-Length)")
        .await;
}

#[tokio::test]
async fn a_short_binary_body_fails_the_invocation_and_the_next_is_served() {
    // Binary with a declared length: encoded into the result as it arrives.
    let reply =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 10\r\n\r\nabc";
    let mut running = Running::start(reply, After::Close).await;
    running
        .fails_then_serves("closed the connection before the end of the response body (10 bytes by its Content-Length)")
        .await;
}

#[tokio::test]
async fn a_half_head_fails_the_invocation_and_the_next_is_served() {
    let mut running = Running::start(b"HTTP/1.1 200 OK\r\ncontent-typ", After::Close).await;
    running
        .fails_then_serves("closed the connection in the middle of the response head")
        .await;
}

#[tokio::test]
async fn a_crash_mid_request_fails_the_invocation_and_the_next_is_served() {
    let mut running = Running::start(b"", After::Close).await;
    running
        .fails_then_serves("closed the connection before answering")
        .await;
}

#[tokio::test]
async fn identity_with_a_content_length_is_answered_by_its_length() {
    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: identity\r\ncontent-length: 5\r\n\r\nhello";
    let mut running = Running::start(reply, After::HoldOpen).await;
    let result = running.invoke(HOSTILE_PATH, "response").await;
    let result: Value = serde_json::from_slice(&result.body).unwrap();
    assert_eq!(result["statusCode"], 200, "{result}");
    assert_eq!(result_body(&result), b"hello");
    assert_eq!(result["headers"]["content-length"], "5", "{result}");
    assert!(result["headers"].get("transfer-encoding").is_none());
    running.next_is_served().await;
}

#[tokio::test]
async fn chunked_beside_a_content_length_is_read_chunked_and_the_length_dropped() {
    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\ncontent-length: 100\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let mut running = Running::start(reply, After::HoldOpen).await;
    let result = running.invoke(HOSTILE_PATH, "response").await;
    let result: Value = serde_json::from_slice(&result.body).unwrap();
    assert_eq!(result_body(&result), b"hello");
    assert_eq!(result["headers"]["content-length"], "5", "{result}");
    running.next_is_served().await;
}

#[tokio::test]
async fn a_transfer_coding_the_extension_cannot_return_fails_at_once() {
    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: gzip\r\n\r\nnot really gzip";
    let mut running = Running::start(reply, After::HoldOpen).await;
    running.fails_then_serves("Transfer-Encoding `gzip`").await;
}
