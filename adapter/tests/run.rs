//! `run(service)` for real: a fake Lambda Runtime API (hyper on 127.0.0.1:0) hands out events,
//! a child process (this test binary again) serves an axum `Router` with
//! `lambda_mesh_adapter::run`, and the test checks what it posts back.
//!
//! `lambda_runtime` 1.x reads its configuration (`AWS_LAMBDA_RUNTIME_API`, function name, …) only
//! from the process environment, so the function runs as a child process with its own
//! environment rather than calling `set_var` here. This file has its own `main`
//! (`harness = false`): without `LAMBDA_MESH_ADAPTER_TEST_CHILD` it is the test, with it the function.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::routing::{any, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lambda_mesh_adapter::RequestContext;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const CHILD_ENV: &str = "LAMBDA_MESH_ADAPTER_TEST_CHILD";

const NAME: &str = "run_serves_events_through_the_runtime_api";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var_os(CHILD_ENV).is_some() {
        runtime.block_on(child());
        return;
    }
    // Honour the libtest arguments that matter here: `--list` and a name filter.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !NAME.contains(f.as_str())) {
        println!("running 0 tests");
        return;
    }
    println!("running 1 test");
    runtime.block_on(parent());
    println!("test {NAME} ... ok");
}

/// The function: an axum router echoing what it received.
async fn child() {
    async fn echo(context: Option<Extension<RequestContext>>, request: Request) -> Json<Value> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Json(json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "cookie": parts.headers.get("cookie").map(|v| v.to_str().unwrap()),
            "body": String::from_utf8_lossy(&body),
            "has_context": context.is_some(),
        }))
    }
    let app = Router::new()
        .route("/events", post(|body: Bytes| async move { body }))
        .fallback(any(echo));
    let result = lambda_mesh_adapter::Adapter::new(app).run().await;
    eprintln!("runtime stopped: {result:?}");
}

/// What the function posted back for one invocation.
#[derive(Debug)]
struct Posted {
    request_id: String,
    kind: String,
    error_type: Option<String>,
    body: Value,
}

struct FakeRuntimeApi {
    events: Mutex<VecDeque<(String, Vec<u8>)>>,
    posted: mpsc::UnboundedSender<Posted>,
}

async fn runtime_api(
    state: Arc<FakeRuntimeApi>,
    request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == "/2018-06-01/runtime/invocation/next" {
        let next = state.events.lock().unwrap().pop_front();
        let Some((id, event)) = next else {
            // No more events: hold the poll, as Lambda does between invocations.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(http::Response::builder()
                .status(500)
                .body(Full::default())
                .unwrap());
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 30_000;
        return Ok(http::Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:111122223333:function:t",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap());
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["2018-06-01", "runtime", "invocation", id, kind] = segments.as_slice() {
        let error_type = request
            .headers()
            .get("lambda-runtime-function-error-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let (id, kind) = ((*id).to_owned(), (*kind).to_owned());
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let _ = state.posted.send(Posted {
            request_id: id,
            kind,
            error_type,
            body,
        });
        return Ok(http::Response::builder()
            .status(202)
            .body(Full::default())
            .unwrap());
    }
    Ok(http::Response::builder()
        .status(404)
        .body(Full::default())
        .unwrap())
}

async fn parent() {
    let v2 = include_bytes!("data/apigw_v2.json").to_vec();
    let alb = include_bytes!("data/alb_single.json").to_vec();
    let sqs = include_bytes!("data/sqs.json").to_vec();
    let invalid = br#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}},"headers":{"x-a":"a\r\nb"}}"#.to_vec();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let state = Arc::new(FakeRuntimeApi {
        events: Mutex::new(VecDeque::from([
            ("req-v2".to_owned(), v2),
            ("req-invalid".to_owned(), invalid),
            ("req-alb".to_owned(), alb),
            ("req-sqs".to_owned(), sqs.clone()),
        ])),
        posted: tx,
    });

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let service = service_fn(move |req| runtime_api(Arc::clone(&state), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, "1")
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "t")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut posted = Vec::new();
    for _ in 0..4 {
        let next = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
        posted.push(next.expect("the function answered within 30 s").unwrap());
    }
    child.kill().await.unwrap();
    server.abort();

    let [v2, invalid, alb, sqs_result] = <[Posted; 4]>::try_from(posted).unwrap();
    assert_eq!(
        (v2.request_id.as_str(), v2.kind.as_str()),
        ("req-v2", "response")
    );
    assert_eq!(v2.body["statusCode"], 200);
    assert_eq!(v2.body["headers"]["content-type"], "application/json");
    let echoed: Value = serde_json::from_str(v2.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(
        echoed["uri"],
        "/search/a%20b%3Fc%23d?tag=x&tag=y&empty=&flag"
    );
    assert_eq!(echoed["cookie"], "session=abc; theme=dark");
    assert_eq!(echoed["body"], "hello, world");
    assert_eq!(echoed["has_context"], true);

    assert_eq!(
        (invalid.request_id.as_str(), invalid.kind.as_str()),
        ("req-invalid", "error")
    );
    // lambda_runtime sends `Lambda-Runtime-Function-Error-Type: unhandled`; the type is in the body.
    assert!(invalid.error_type.is_some());
    assert_eq!(invalid.body["errorType"], "LambdaMesh.InvalidEvent");
    assert_eq!(
        invalid.body["errorMessage"],
        "invalid header value in `headers.x-a`"
    );

    assert_eq!(
        (alb.request_id.as_str(), alb.kind.as_str()),
        ("req-alb", "response")
    );
    assert_eq!(alb.body["statusDescription"], "200 OK");
    let echoed: Value = serde_json::from_str(alb.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["uri"], "/items/list?q=caf%C3%A9%20au%20lait&page=2");

    // Pass-through: the router echoes the raw event back as the result.
    assert_eq!(
        (sqs_result.request_id.as_str(), sqs_result.kind.as_str()),
        ("req-sqs", "response")
    );
    assert_eq!(
        sqs_result.body,
        serde_json::from_slice::<Value>(&sqs).unwrap()
    );
}
