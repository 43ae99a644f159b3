//! A scripted Lambda Runtime + Extensions API on 127.0.0.1:0, for driving the extension binary on
//! its own: it records every request and follows a [`Plan`] for `invocation/next` and the result
//! posts, so a test can stall, close or answer each call as Lambda might.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
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

/// How long the fake holds a call it does not answer: far beyond any bound under test.
pub const STALL: Duration = Duration::from_secs(30);

/// The function ARN every invocation names.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:f";

/// What the fake does with `invocation/next`.
#[derive(Clone, Debug)]
pub enum Next {
    /// Each call waits (≤ [`STALL`]) for an event the test hands out with [`FakeApi::invoke`].
    OnDemand,
    /// The first call gets this event after this long; later calls wait as with `OnDemand`.
    EventAfter(Duration, Bytes),
    /// Every call's connection is closed without an answer.
    Close,
}

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What `invocation/next` does.
    pub next: Next,
    /// Each invocation's deadline, from when its event is handed out.
    pub deadline_in: Duration,
    /// Never answer `invocation/{id}/response` (its body is read first).
    pub stall_response: bool,
}

impl Plan {
    /// `next` as given, a 10 s deadline, result posts answered.
    pub fn new(next: Next) -> Plan {
        Plan {
            next,
            deadline_in: Duration::from_secs(10),
            stall_response: false,
        }
    }

    /// The first `invocation/next` gets `event` at once.
    pub fn event(event: Bytes) -> Plan {
        Plan::new(Next::EventAfter(Duration::ZERO, event))
    }
}

impl Default for Plan {
    fn default() -> Plan {
        Plan::new(Next::OnDemand)
    }
}

/// One request the fake received, and when.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its method.
    pub method: String,
    /// Its path.
    pub path: String,
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// When it arrived (its body read).
    pub at: Instant,
}

/// A running fake API; stops when dropped.
pub struct FakeApi {
    /// Its address (`AWS_LAMBDA_RUNTIME_API`).
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    plan: Plan,
    seen: Mutex<Vec<Seen>>,
    shutdown: Notify,
    events: Mutex<VecDeque<Bytes>>,
    event_ready: Notify,
    first_taken: Mutex<bool>,
    handed_out: Mutex<usize>,
    invoked_at: Mutex<Option<Instant>>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// Starts a fake that follows `plan`.
    pub async fn start(plan: Plan) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            plan,
            seen: Mutex::default(),
            shutdown: Notify::new(),
            events: Mutex::default(),
            event_ready: Notify::new(),
            first_taken: Mutex::new(false),
            handed_out: Mutex::new(0),
            invoked_at: Mutex::new(None),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            // Bounded: the task is aborted when the fake is dropped.
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, state.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeApi { addr, state, task }
    }

    /// Hands `event` to the next `invocation/next` (request ids `req-1`, `req-2`, … in order).
    pub fn invoke(&self, event: Bytes) {
        self.state.events.lock().unwrap().push_back(event);
        self.state.event_ready.notify_one();
    }

    /// Answers the held `extension/event/next` with SHUTDOWN.
    pub fn shutdown(&self) {
        self.state.shutdown.notify_one();
    }

    /// The first request to a path ending in `path_end`, if one arrived.
    pub fn seen(&self, path_end: &str) -> Option<Seen> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.path.ends_with(path_end))
            .cloned()
    }

    /// Waits (at most `limit`) until a request to a path ending in `path_end` arrived.
    pub async fn wait_for(&self, path_end: &str, limit: Duration) -> Seen {
        let end = Instant::now() + limit;
        // Bounded: by `limit`, polled every 10 ms.
        loop {
            if let Some(seen) = self.seen(path_end) {
                return seen;
            }
            if Instant::now() >= end {
                panic!(
                    "no request to {path_end} within {limit:?}: {:?}",
                    self.paths()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The paths requested so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.path.clone())
            .collect()
    }

    /// When the last event was handed out, if one was.
    pub fn invoked_at(&self) -> Option<Instant> {
        *self.state.invoked_at.lock().unwrap()
    }

    /// Waits (at most `limit`) until an event was handed out; when it was.
    pub async fn wait_invoked(&self, limit: Duration) -> Instant {
        let end = Instant::now() + limit;
        loop {
            if let Some(at) = self.invoked_at() {
                return at;
            }
            assert!(Instant::now() < end, "no event handed out within {limit:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl State {
    fn record(&self, method: &str, path: &str, headers: http::HeaderMap, body: Bytes) {
        self.seen.lock().unwrap().push(Seen {
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body,
            at: Instant::now(),
        });
    }

    /// The next event for `invocation/next`, or `None` once [`STALL`] passed without one.
    async fn next_event(&self) -> Option<Bytes> {
        if let Next::EventAfter(delay, event) = &self.plan.next {
            let first = !std::mem::replace(&mut *self.first_taken.lock().unwrap(), true);
            if first {
                tokio::time::sleep(*delay).await;
                return Some(event.clone());
            }
        }
        let end = tokio::time::Instant::now() + STALL;
        loop {
            if let Some(event) = self.events.lock().unwrap().pop_front() {
                return Some(event);
            }
            // A notification sent before this wait starts is kept as a permit.
            if tokio::time::timeout_at(end, self.event_ready.notified())
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

async fn answer(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let method = parts.method.to_string();
    if path.ends_with("/runtime/invocation/next") && matches!(state.plan.next, Next::Close) {
        state.record(&method, &path, parts.headers, Bytes::new());
        // An error from the service makes hyper close the connection unanswered.
        return Err(std::io::Error::other("closing invocation/next"));
    }
    let body = body.collect().await.map_err(std::io::Error::other)?;
    state.record(&method, &path, parts.headers, body.to_bytes());
    let response = Response::builder();
    let response = match path.as_str() {
        "/2020-01-01/extension/register" => response
            .status(200)
            .header("lambda-extension-identifier", "ext-id-1")
            .body(Full::new(Bytes::from_static(b"{}"))),
        "/2020-01-01/extension/event/next" => {
            // SHUTDOWN when the test says so, or after STALL.
            let _ = tokio::time::timeout(STALL, state.shutdown.notified()).await;
            let deadline = epoch_ms(Duration::from_secs(2));
            response.status(200).body(Full::new(Bytes::from(format!(
                r#"{{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":{deadline}}}"#
            ))))
        }
        "/2018-06-01/runtime/invocation/next" => match state.next_event().await {
            Some(event) => {
                let n = {
                    let mut handed_out = state.handed_out.lock().unwrap();
                    *handed_out += 1;
                    *handed_out
                };
                *state.invoked_at.lock().unwrap() = Some(Instant::now());
                response
                    .status(200)
                    .header("lambda-runtime-aws-request-id", format!("req-{n}"))
                    .header(
                        "lambda-runtime-deadline-ms",
                        epoch_ms(state.plan.deadline_in).to_string(),
                    )
                    .header("lambda-runtime-invoked-function-arn", FUNCTION_ARN)
                    .body(Full::new(event))
            }
            None => response.status(500).body(Full::new(Bytes::new())),
        },
        _ if state.plan.stall_response
            && path.starts_with("/2018-06-01/runtime/invocation/")
            && path.ends_with("/response") =>
        {
            tokio::time::sleep(STALL).await;
            response.status(500).body(Full::new(Bytes::new()))
        }
        _ => response.status(202).body(Full::new(Bytes::new())),
    };
    Ok(response.expect("response"))
}

/// Milliseconds since the Unix epoch, `ahead` from now.
pub fn epoch_ms(ahead: Duration) -> u128 {
    (std::time::SystemTime::now() + ahead)
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis()
}

/// Starts the extension `binary` against the fake at `api` with only `env` set (stdout dropped,
/// stderr kept for [`exit_within`]); killed when dropped.
pub fn spawn_extension(
    binary: &Path,
    api: SocketAddr,
    env: &[(&str, &str)],
) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(binary);
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
    command.spawn().expect("the extension starts")
}

/// The process's exit and its stderr, within `limit` (else it is killed and the test fails).
pub async fn exit_within(child: tokio::process::Child, limit: Duration) -> (Output, String) {
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("the extension exits in time")
        .expect("wait");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, log)
}

/// An `exit/error` or `init/error` report: its error type header (equal to the body's
/// `errorType`) and message.
pub fn error_report(seen: &Seen) -> (String, String) {
    let error_type = seen.headers["lambda-extension-function-error-type"]
        .to_str()
        .expect("ASCII error type")
        .to_owned();
    let body: serde_json::Value = serde_json::from_slice(&seen.body).expect("JSON report");
    assert_eq!(body["errorType"], error_type.as_str());
    (
        error_type,
        body["errorMessage"]
            .as_str()
            .expect("errorMessage")
            .to_owned(),
    )
}
