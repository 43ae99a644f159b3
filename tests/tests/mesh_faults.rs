//! The fault table of issue 16, end to end: caller → mesh-proxy (sidecar `[[upstream]]`, local
//! invoker, the embedded emulator) → lambda-mesh extension (the real layer) → a service started in
//! the test (tests/src/service.rs, or tests/src/hostile.rs where it must lie). Each case asserts the
//! exact answer, that it comes in time, and that the next request is served.
//!
//! The extension side of the same faults (against a scripted Lambda API) is
//! extension/tests/faults.rs; the error mappings against the Python test function are
//! mesh-proxy/tests/local.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use lambda_mesh_tests::client::{client, collect, get, json, send};
use lambda_mesh_tests::hostile::{After, Hostile, HOSTILE_PATH};
use lambda_mesh_tests::layer::{mesh_layer, waiting_code};
use lambda_mesh_tests::mesh_proxy::{service_function_table, upstream_table, MeshProxy};
use lambda_mesh_tests::poll::eventually;
use lambda_mesh_tests::process::{descendants_named, kill};
use lambda_mesh_tests::service;
use lambda_mesh_tests::workspace::binary;

/// The extension's process name (`comm`): the layer's `extensions/lambda-mesh`.
const EXTENSION: &str = "lambda-mesh";

/// mesh-proxy with upstream `f` (and `later`, asynchronous) on function `f` behind the layer,
/// its service on `port`; stopped when dropped.
struct Chain {
    proxy: MeshProxy,
    f: SocketAddr,
    later: SocketAddr,
    _layer: tempfile::TempDir,
    _code: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl Chain {
    /// `upstream` continues the `[[upstream]]` tables, `function` the `[[function]]` table.
    fn start(port: u16, upstream: &str, function: &str) -> Chain {
        let layer = mesh_layer(&binary("lambda-mesh-extension"));
        let code = waiting_code();
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "{}{}{}",
            upstream_table("f", "f", upstream),
            upstream_table(
                "later",
                "f",
                &format!("invocation_mode = \"asynchronous\"\n{upstream}")
            ),
            service_function_table("f", layer.path(), code.path(), port, function, ""),
        );
        let proxy = MeshProxy::start_with_config(&binary("mesh-proxy"), dir.path(), &config);
        let (f, later) = (proxy.upstream("f"), proxy.upstream("later"));
        Chain {
            proxy,
            f,
            later,
            _layer: layer,
            _code: code,
            _dir: dir,
        }
    }

    /// The extension processes running now (one per live environment).
    fn extensions(&self) -> Vec<u32> {
        descendants_named(self.proxy.pid(), EXTENSION)
    }

    /// A `GET path` on upstream `f` is 200 with `body`.
    async fn serves(&self, path: &str, body: &str) {
        let (response, got) = get(self.f, path).await;
        assert_eq!(
            (
                response.status().as_u16(),
                String::from_utf8_lossy(&got).as_ref()
            ),
            (200, body),
            "the next request, {path}, is served"
        );
    }
}

/// `GET path` on `addr` is a 502 `function_error` of type `error_type` (see [`is_function_error`]),
/// answered within `limit`.
async fn function_error(addr: SocketAddr, path: &str, error_type: &str, limit: Duration) {
    let started = Instant::now();
    let (response, body) = get(addr, path).await;
    let took = started.elapsed();
    is_function_error(&response, &body, error_type, path);
    assert!(
        took < limit,
        "{path}: answered after {took:?}, over {limit:?}"
    );
}

/// A 502 `function_error` whose header says `Unhandled` (what the emulator, as Lambda, puts in
/// `X-Amz-Function-Error`) and whose message names `error_type`; `context` names the request.
fn is_function_error(response: &Response<()>, body: &[u8], error_type: &str, context: &str) {
    let answer = json(body);
    assert_eq!(response.status(), 502, "{context}: {answer}");
    assert_eq!(answer["error"], "function_error", "{context}: {answer}");
    assert_eq!(
        response.headers()["x-lambda-function-error"],
        "Unhandled",
        "{context}"
    );
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{error_type}: ")),
        "{context}: {error_type} in {message}"
    );
}

#[tokio::test]
async fn a_service_crashing_mid_request_is_502_bad_service_response_and_the_next_is_served() {
    let service = service::start().await;
    let chain = Chain::start(service.addr.port(), "", "");
    let limit = Duration::from_secs(5);
    function_error(chain.f, "/crash", "LambdaMesh.BadServiceResponse", limit).await;
    chain.serves("/hello?name=after", "Hello, after!").await;
}

#[tokio::test]
async fn a_service_answering_garbage_is_502_bad_service_response_and_the_next_is_served() {
    let hostile = Hostile::start(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", After::Close).await;
    let chain = Chain::start(hostile.addr.port(), "", "");
    let limit = Duration::from_secs(5);
    function_error(
        chain.f,
        HOSTILE_PATH,
        "LambdaMesh.BadServiceResponse",
        limit,
    )
    .await;
    chain.serves("/after", "ok /after").await;
}

#[tokio::test]
async fn a_short_content_length_is_502_bad_service_response_and_the_next_is_served() {
    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 10\r\n\r\nabc";
    let hostile = Hostile::start(reply, After::Close).await;
    let chain = Chain::start(hostile.addr.port(), "", "");
    let limit = Duration::from_secs(5);
    function_error(
        chain.f,
        HOSTILE_PATH,
        "LambdaMesh.BadServiceResponse",
        limit,
    )
    .await;
    chain.serves("/after", "ok /after").await;
}

#[tokio::test]
async fn a_service_hanging_past_the_function_timeout_is_502_service_timeout_and_the_next_is_served()
{
    let service = service::start().await;
    let chain = Chain::start(service.addr.port(), "", "timeout = 2");
    // The extension answers before the deadline; the emulator's own kill comes at 2 s.
    let limit = Duration::from_millis(2_900);
    function_error(
        chain.f,
        "/sleep?ms=8000",
        "LambdaMesh.ServiceTimeout",
        limit,
    )
    .await;
    chain.serves("/hello?name=after", "Hello, after!").await;
}

#[tokio::test]
async fn a_mesh_proxy_timeout_shorter_than_the_functions_is_504_and_the_next_is_served() {
    let service = service::start().await;
    let chain = Chain::start(service.addr.port(), "timeout = 1", "timeout = 10");
    let started = Instant::now();
    let (response, body) = get(chain.f, "/sleep?ms=4000").await;
    let took = started.elapsed();
    assert_eq!(response.status(), 504, "{}", json(&body));
    assert_eq!(json(&body)["error"], "timeout");
    assert!(
        response.headers().get("x-lambda-function-error").is_none(),
        "not the function's error"
    );
    assert!(
        took < Duration::from_millis(1_900),
        "answered after {took:?}"
    );
    chain.serves("/hello?name=after", "Hello, after!").await;
}

#[tokio::test]
async fn an_extension_killed_mid_invocation_is_an_error_within_the_function_timeout_and_recycled() {
    let service = service::start().await;
    let chain = Chain::start(service.addr.port(), "", "timeout = 3\nconcurrency = 1");
    chain.serves("/hello?name=before", "Hello, before!").await;
    let before = chain.extensions();
    assert_eq!(before.len(), 1, "one environment: {before:?}");

    let started = Instant::now();
    let (answer, killed) = tokio::join!(get(chain.f, "/sleep?ms=20000"), async {
        let arrived = eventually(Duration::from_secs(5), || {
            service.hits("/sleep?ms=20000") == 1
        })
        .await;
        assert!(arrived, "the invocation reached the service");
        kill(before[0])
    });
    let took = started.elapsed();
    assert!(killed, "the extension {} was running", before[0]);
    let (response, body) = answer;
    // The emulator does not watch an extension's exit during an invocation: the function timeout
    // ends it, and the environment with it.
    is_function_error(
        &response,
        &body,
        "Sandbox.Timedout",
        "the killed invocation",
    );
    assert!(
        took < Duration::from_millis(3_900),
        "answered after {took:?}, the function timeout is 3 s"
    );

    chain.serves("/hello?name=after", "Hello, after!").await;
    let after = chain.extensions();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before, "a new environment serves");
}

#[tokio::test]
async fn fifty_callers_at_concurrency_one_get_200_or_429_with_retry_after_and_none_is_lost() {
    let service = service::start().await;
    let chain = Chain::start(service.addr.port(), "", "concurrency = 1");
    chain.serves("/hello?name=warm", "Hello, warm!").await;
    let started = Instant::now();
    let callers = (0..50).map(|caller| {
        let addr = chain.f;
        tokio::spawn(async move {
            let (response, body) = get(addr, &format!("/sleep?ms=50&caller={caller}")).await;
            (caller, response, body)
        })
    });
    let mut served = Vec::new();
    let mut throttled = 0;
    for answer in callers.collect::<Vec<_>>() {
        let (caller, response, body) = answer.await.unwrap();
        match response.status().as_u16() {
            200 => {
                assert_eq!(body, "slept", "caller {caller}");
                served.push(caller);
            }
            429 => {
                let retry_after = response.headers()["retry-after"].to_str().unwrap();
                assert!(retry_after.parse::<u64>().unwrap() >= 1, "{retry_after}");
                assert_eq!(json(&body)["error"], "throttled", "caller {caller}");
                throttled += 1;
            }
            status => panic!(
                "caller {caller}: {status} {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
    let took = started.elapsed();
    eprintln!(
        "50 callers: {} served, {throttled} throttled, {took:?}",
        served.len()
    );
    assert_eq!(served.len() + throttled, 50);
    assert!(!served.is_empty(), "someone is served");
    assert!(took < Duration::from_secs(30), "{took:?}");
    // Each 200 ran once at the service, each 429 never.
    for caller in 0..50 {
        let hits = service.hits(&format!("/sleep?ms=50&caller={caller}"));
        let expected = usize::from(served.contains(&caller));
        assert_eq!(hits, expected, "caller {caller}");
    }
    chain.serves("/hello?name=after", "Hello, after!").await;
}

#[tokio::test]
async fn two_hundred_async_invocations_survive_two_killed_environments_and_each_runs() {
    let service = service::start().await;
    let function = "timeout = 1\nconcurrency = 2\nasync_retry_delays_ms = [50, 100]";
    let chain = Chain::start(service.addr.port(), "", function);
    let client = client();
    let path = |n: usize| format!("/sleep?ms=5&n={n}");
    for n in 0..200 {
        let request = Request::post(format!("http://{}{}", chain.later, path(n)))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (response, body) = collect(send(&client, request).await).await;
        assert_eq!(
            response.status(),
            202,
            "event {n}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let ran = |service: &service::Service| (0..200).filter(|&n| service.hits(&path(n)) > 0).count();
    let mut killed = Vec::new();
    for after in [30, 90] {
        let reached = eventually(Duration::from_secs(30), || ran(&service) >= after).await;
        assert!(
            reached,
            "{after} events ran before the kill, not {}",
            ran(&service)
        );
        let running = chain.extensions();
        assert!(!running.is_empty(), "an environment to kill");
        for pid in running {
            if kill(pid) {
                killed.push(pid);
            }
        }
    }
    assert!(killed.len() >= 2, "two kills: {killed:?}");
    let all = eventually(Duration::from_secs(40), || ran(&service) == 200).await;
    let missing: Vec<usize> = (0..200).filter(|&n| service.hits(&path(n)) == 0).collect();
    assert!(all, "events that never ran: {missing:?}");
    let again = (0..200).filter(|&n| service.hits(&path(n)) > 1).count();
    eprintln!("async: environments {killed:?} killed, {again} events ran more than once");
    // The killed environments were replaced.
    let now = chain.extensions();
    assert!(
        now.iter().all(|pid| !killed.contains(pid)),
        "{now:?} {killed:?}"
    );
    chain.serves("/hello?name=after", "Hello, after!").await;
}
