//! The extension binary against a scripted Lambda API: how it registers, reports bad
//! configuration and readiness expiry through `init/error`, and exits 0 on SHUTDOWN.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/service.rs"]
mod service;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
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

/// One request the fake API received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
}

/// A scripted Runtime + Extensions API.
struct FakeApi {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Arc<Notify>,
    /// `invocation/next` hands out the event put here once `invoke` is notified.
    event: Arc<Mutex<Option<Bytes>>>,
    invoke: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    async fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shutdown = Arc::new(Notify::new());
        let event = Arc::new(Mutex::new(None));
        let invoke = Arc::new(Notify::new());
        let script = Script {
            seen: seen.clone(),
            shutdown: shutdown.clone(),
            event: event.clone(),
            invoke: invoke.clone(),
        };
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = script.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, script.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeApi {
            addr,
            seen,
            shutdown,
            event,
            invoke,
            task,
        }
    }

    fn seen(&self, path_end: &str) -> Option<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.path.ends_with(path_end))
            .cloned()
    }

    /// Waits (bounded) until a request to a path ending in `path_end` arrived.
    async fn wait_for(&self, path_end: &str) -> Seen {
        for _ in 0..500 {
            if let Some(seen) = self.seen(path_end) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no request to {path_end}: {:?}", self.seen.lock().unwrap());
    }
}

/// What the fake API's handlers share.
#[derive(Clone)]
struct Script {
    seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Arc<Notify>,
    event: Arc<Mutex<Option<Bytes>>>,
    invoke: Arc<Notify>,
}

async fn answer(
    request: Request<Incoming>,
    script: Script,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Script {
        seen,
        shutdown,
        event,
        invoke,
    } = script;
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts.headers,
        body,
    });
    let response = Response::builder();
    let response = match path.as_str() {
        "/2020-01-01/extension/register" => response
            .status(200)
            .header("lambda-extension-identifier", "ext-id-1")
            .body(Full::new(Bytes::from_static(b"{}"))),
        "/2020-01-01/extension/event/next" => {
            // Bounded: SHUTDOWN when the test says so, or after 20 s.
            let _ = tokio::time::timeout(Duration::from_secs(20), shutdown.notified()).await;
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 2000;
            response.status(200).body(Full::new(Bytes::from(format!(
                r#"{{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":{deadline}}}"#
            ))))
        }
        "/2018-06-01/runtime/invocation/next" => {
            // Bounded: one event when the test provides it, else nothing for 20 s (the extension
            // must still react to SHUTDOWN).
            let _ = tokio::time::timeout(Duration::from_secs(20), invoke.notified()).await;
            let next = event.lock().unwrap().take();
            match next {
                Some(event) => {
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        + 3000;
                    response
                        .status(200)
                        .header("lambda-runtime-aws-request-id", "req-1")
                        .header("lambda-runtime-deadline-ms", deadline.to_string())
                        .header(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:f",
                        )
                        .body(Full::new(event))
                }
                None => {
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    response.status(500).body(Full::new(Bytes::new()))
                }
            }
        }
        _ => response.status(202).body(Full::new(Bytes::new())),
    };
    Ok(response.unwrap())
}

fn spawn_extension(api: SocketAddr, env: &[(&str, &str)]) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-mesh-extension"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("extension starts")
}

async fn exit_within(child: &mut tokio::process::Child, limit: Duration) -> ExitStatus {
    tokio::time::timeout(limit, child.wait())
        .await
        .expect("extension exits in time")
        .expect("wait")
}

#[tokio::test]
async fn registers_for_shutdown_only_and_exits_0_on_shutdown() {
    let api = FakeApi::start().await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let mut child = spawn_extension(api.addr, &[("LAMBDA_MESH_PORT", &port)]);
    let register = api.wait_for("/extension/register").await;
    assert_eq!(register.method, "POST");
    assert_eq!(register.headers["lambda-extension-name"], "lambda-mesh");
    let events: serde_json::Value = serde_json::from_slice(&register.body).unwrap();
    assert_eq!(events, serde_json::json!({"events": ["SHUTDOWN"]}));
    // Ready: it polls both APIs side by side.
    let next = api.wait_for("/runtime/invocation/next").await;
    assert_eq!(next.method, "GET");
    let event_next = api.wait_for("/extension/event/next").await;
    assert_eq!(
        event_next.headers["lambda-extension-identifier"],
        "ext-id-1"
    );
    let started = Instant::now();
    api.shutdown.notify_one();
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_configuration_is_reported_through_init_error() {
    let api = FakeApi::start().await;
    let mut child = spawn_extension(api.addr, &[("AWS_LWA_PORT", "eighty")]);
    let status = exit_within(&mut child, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(64));
    let error = api.wait_for("/extension/init/error").await;
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
    let api = FakeApi::start().await;
    let port = service::free_port().to_string();
    let started = Instant::now();
    let mut child = spawn_extension(
        api.addr,
        &[("PORT", &port), ("LAMBDA_MESH_READINESS_TIMEOUT_MS", "400")],
    );
    let status = exit_within(&mut child, Duration::from_secs(10)).await;
    assert!(!status.success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let error = api.wait_for("/extension/init/error").await;
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
            if held.len() > 100 {
                break;
            }
        }
    });
    let api = FakeApi::start().await;
    let mut child = spawn_extension(
        api.addr,
        &[
            ("PORT", &port),
            ("LAMBDA_MESH_READINESS_TIMEOUT_MS", "1500"),
        ],
    );
    let status = exit_within(&mut child, Duration::from_secs(10)).await;
    assert!(!status.success());
    let body: serde_json::Value =
        serde_json::from_slice(&api.wait_for("/extension/init/error").await.body).unwrap();
    assert!(
        body["errorMessage"].as_str().unwrap().contains("no answer"),
        "{body}"
    );
    holder.abort();
}

#[tokio::test]
async fn a_service_gone_for_good_fails_the_invocation_then_exit_error() {
    let api = FakeApi::start().await;
    let service = service::start().await;
    let port = service.addr.port().to_string();
    let mut child = spawn_extension(api.addr, &[("LAMBDA_MESH_PORT", &port)]);
    api.wait_for("/runtime/invocation/next").await;
    // The service goes away after init; then an invocation arrives.
    drop(service);
    tokio::time::sleep(Duration::from_millis(50)).await;
    *api.event.lock().unwrap() = Some(Bytes::from(
        serde_json::json!({
            "version": "2.0", "rawPath": "/hello", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {"http": {"method": "GET", "path": "/hello"}}
        })
        .to_string(),
    ));
    api.invoke.notify_one();
    let error = api.wait_for("/invocation/req-1/error").await;
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
    let exit = api.wait_for("/extension/exit/error").await;
    assert_eq!(
        exit.headers["lambda-extension-function-error-type"],
        "LambdaMesh.ServiceGone"
    );
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    assert!(!status.success(), "{status:?}");
}
