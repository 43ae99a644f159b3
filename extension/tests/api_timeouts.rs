//! The extension binary against a Lambda API that stalls or drops connections: every call but
//! the long polls is bounded (`LAMBDA_MESH_API_TIMEOUT_MS`; a streamed response by the
//! invocation's deadline), the long polls wait as long as Lambda makes them but notice a closed
//! connection, and a failed call ends in `exit/error` (`LambdaMesh.LambdaApiFailed`) and a
//! nonzero exit, never a hang.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/service.rs"]
mod service;

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// How long the fake API stalls a call it does not answer: far beyond any bound under test.
const STALL: Duration = Duration::from_secs(30);

/// What the fake API does with `invocation/next`.
#[derive(Clone, Copy)]
enum Next {
    /// Hands out one event after this long, then holds every later call.
    EventAfter(Duration),
    /// Closes the connection without answering.
    Close,
}

/// How the fake API behaves.
#[derive(Clone)]
struct Plan {
    next: Next,
    /// The event's path and query (answered by the in-test service).
    path: &'static str,
    /// The invocation's deadline, from when the event is handed out.
    deadline_in: Duration,
    /// Never answer `invocation/{id}/response` (the body is read first).
    stall_response: bool,
}

impl Plan {
    fn new(next: Next) -> Plan {
        Plan {
            next,
            path: "/hello?name=mesh",
            deadline_in: Duration::from_secs(10),
            stall_response: false,
        }
    }
}

/// One request the fake API received, and when.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
    at: Instant,
}

/// A Runtime + Extensions API that follows a [`Plan`].
struct FakeApi {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Arc<Notify>,
    /// When the event was handed out.
    invoked_at: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    plan: Plan,
    seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Arc<Notify>,
    invoked_at: Arc<Mutex<Option<Instant>>>,
}

impl FakeApi {
    async fn start(plan: Plan) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Shared {
            plan,
            seen: Arc::new(Mutex::new(Vec::new())),
            shutdown: Arc::new(Notify::new()),
            invoked_at: Arc::new(Mutex::new(None)),
        };
        let api = FakeApi {
            addr,
            seen: shared.seen.clone(),
            shutdown: shared.shutdown.clone(),
            invoked_at: shared.invoked_at.clone(),
            task: tokio::spawn(async move {
                // Bounded: the task is aborted when the fake is dropped.
                while let Ok((stream, _)) = listener.accept().await {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |request| answer(request, shared.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }),
        };
        api
    }

    fn seen(&self, path_end: &str) -> Option<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.path.ends_with(path_end))
            .cloned()
    }

    /// Waits (at most `limit`) until a request to a path ending in `path_end` arrived.
    async fn wait_for(&self, path_end: &str, limit: Duration) -> Seen {
        let end = Instant::now() + limit;
        for _ in 0..10_000 {
            if let Some(seen) = self.seen(path_end) {
                return seen;
            }
            if Instant::now() >= end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no request to {path_end} within {limit:?}: {:?}",
            self.paths()
        );
    }

    fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.path.clone())
            .collect()
    }

    fn invoked_at(&self) -> Instant {
        self.invoked_at
            .lock()
            .unwrap()
            .expect("the event was handed out")
    }
}

async fn answer(
    request: Request<Incoming>,
    shared: Shared,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        if let Next::Close = shared.plan.next {
            record(&shared, &path, parts.headers, Bytes::new());
            // An error from the service makes hyper close the connection unanswered.
            return Err(std::io::Error::other("closing invocation/next"));
        }
    }
    let body = body.collect().await.map_err(std::io::Error::other)?;
    record(&shared, &path, parts.headers, body.to_bytes());
    let response = Response::builder();
    let response = match path.as_str() {
        "/2020-01-01/extension/register" => response
            .status(200)
            .header("lambda-extension-identifier", "ext-id-1")
            .body(Full::new(Bytes::from_static(b"{}"))),
        "/2020-01-01/extension/event/next" => {
            let _ = tokio::time::timeout(STALL, shared.shutdown.notified()).await;
            let deadline = epoch_ms(Duration::from_secs(2));
            response.status(200).body(Full::new(Bytes::from(format!(
                r#"{{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":{deadline}}}"#
            ))))
        }
        "/2018-06-01/runtime/invocation/next" => {
            let first = shared.invoked_at.lock().unwrap().is_none();
            match shared.plan.next {
                Next::EventAfter(delay) if first => {
                    tokio::time::sleep(delay).await;
                    *shared.invoked_at.lock().unwrap() = Some(Instant::now());
                    response
                        .status(200)
                        .header("lambda-runtime-aws-request-id", "req-1")
                        .header(
                            "lambda-runtime-deadline-ms",
                            epoch_ms(shared.plan.deadline_in).to_string(),
                        )
                        .header(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:f",
                        )
                        .body(Full::new(event(shared.plan.path)))
                }
                _ => {
                    tokio::time::sleep(STALL).await;
                    response.status(500).body(Full::new(Bytes::new()))
                }
            }
        }
        "/2018-06-01/runtime/invocation/req-1/response" if shared.plan.stall_response => {
            tokio::time::sleep(STALL).await;
            response.status(500).body(Full::new(Bytes::new()))
        }
        _ => response.status(202).body(Full::new(Bytes::new())),
    };
    Ok(response.unwrap())
}

fn record(shared: &Shared, path: &str, headers: http::HeaderMap, body: Bytes) {
    shared.seen.lock().unwrap().push(Seen {
        path: path.to_owned(),
        headers,
        body,
        at: Instant::now(),
    });
}

/// Milliseconds since the Unix epoch, `ahead` from now.
fn epoch_ms(ahead: Duration) -> u128 {
    (std::time::SystemTime::now() + ahead)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// An HTTP API (v2) event for `GET path_and_query`.
fn event(path_and_query: &str) -> Bytes {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    Bytes::from(
        serde_json::json!({
            "version": "2.0", "rawPath": path, "rawQueryString": query,
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {"http": {"method": "GET", "path": path}}
        })
        .to_string(),
    )
}

fn spawn_extension(api: SocketAddr, env: &[(&str, &str)]) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-mesh-extension"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("extension starts")
}

/// The extension's exit and its log, within `limit` (else it is killed and the test fails).
async fn exit_within(child: tokio::process::Child, limit: Duration) -> (Output, String) {
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("the extension exits in time")
        .expect("wait");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, log)
}

/// The `exit/error` report: its type header and message.
fn exit_report(seen: &Seen) -> (String, String) {
    let error_type = seen.headers["lambda-extension-function-error-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body["errorType"], error_type.as_str());
    (
        error_type,
        body["errorMessage"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_silent_api_fails_registration_within_the_call_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
            if held.len() > 100 {
                break;
            }
        }
    });
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
    holder.abort();
}

#[tokio::test]
async fn a_stalled_response_post_times_out_and_reports_exit_error() {
    let mut plan = Plan::new(Next::EventAfter(Duration::ZERO));
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
    let (error_type, message) = exit_report(&exit);
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
    let mut plan = Plan::new(Next::EventAfter(Duration::from_millis(1500)));
    plan.path = "/hello?name=late";
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
    api.shutdown.notify_one();
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
    let (error_type, message) = exit_report(&exit);
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
    let mut plan = Plan::new(Next::EventAfter(Duration::ZERO));
    plan.path = "/stream-gated";
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
    // Bounded: 1000 × 10 ms.
    for _ in 0..1000 {
        if api.invoked_at.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The stream stays open (first chunk sent) four times the call timeout, then ends.
    tokio::time::sleep(Duration::from_millis(800)).await;
    service.gate.notify_one();
    let posted = api
        .wait_for("/invocation/req-1/response", Duration::from_secs(5))
        .await;
    assert!(posted.at - api.invoked_at() >= Duration::from_millis(800));
    let body = String::from_utf8_lossy(&posted.body);
    assert!(
        body.contains("first\n") && body.ends_with("second\n"),
        "{body:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(api.seen("/exit/error").is_none(), "{:?}", api.paths());
    api.shutdown.notify_one();
    let (output, log) = exit_within(child, Duration::from_secs(5)).await;
    assert!(output.status.success(), "{log}");
}

#[tokio::test]
async fn a_stalled_streamed_response_fails_at_the_deadline_not_the_call_timeout() {
    let mut plan = Plan::new(Next::EventAfter(Duration::ZERO));
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
    let waited = exit.at - api.invoked_at();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let posted = api.seen("/invocation/req-1/response").unwrap();
    assert!(String::from_utf8_lossy(&posted.body).ends_with("Hello, mesh!"));
    let (error_type, message) = exit_report(&exit);
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
    let api = FakeApi::start(Plan::new(Next::EventAfter(Duration::ZERO))).await;
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
