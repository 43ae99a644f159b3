//! The mesh-proxy binary: `--check`, the aws invoker against the emulator's Invoke API (SigV4
//! present, client headers unsigned, secrets never logged), SIGHUP reload and SIGTERM drain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
    pub mod process;
}

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use lambda_mesh_tests::metrics;
use support::harness::{
    client, collect, function_dir, function_table, get, json, send, upstream_table,
};
use support::process::{check, AWS_ENV};

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("mesh.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn admin() -> &'static str {
    "drain_timeout = 10\n[admin]\nlisten = \"127.0.0.1:0\"\n"
}

/// A valid config: the admin listener, upstream `fn` and its function.
fn good() -> String {
    format!(
        "{}{}{}",
        admin(),
        upstream_table("fn", "fn", ""),
        function_table("fn", "")
    )
}

#[test]
fn check_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = check(&write(&dir, &good()), &[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn check_rejects_an_unknown_key_with_64_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = good().replace("function = \"fn\"", "function = \"fn\"\ntimeout_ms = 5");
    let (code, text) = check(&write(&dir, &bad), &[]);
    assert_eq!(code, 64, "{text}");
    assert!(
        text.contains("mesh.toml:8: key `upstream[0].timeout_ms`"),
        "{text}"
    );
    assert!(text.contains("unknown field"), "{text}");
}

#[test]
fn check_rejects_a_bad_environment_variable_with_64_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = check(&write(&dir, &good()), &[("MESH_PROXY_LOG_FORMAT", "yaml")]);
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("MESH_PROXY_LOG_FORMAT"), "{text}");
}

#[test]
fn check_rejects_a_missing_file_with_64() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = check(&dir.path().join("missing.toml"), &[]);
    assert_eq!(code, 64, "{text}");
}

#[test]
fn an_aws_upstream_without_a_region_fails_at_start_with_64() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        &format!("{}{}", admin(), upstream_table("x", "x", "")),
    );
    let output = std::process::Command::new(support::process::binary())
        .arg("--config")
        .arg(&path)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("MESH_PROXY_AWS_REGION")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{text}");
    assert!(text.contains("no region"), "{text}");
}

fn python_function(name: &str, extra: impl FnOnce(&mut FunctionConfig)) -> FunctionConfig {
    let mut function = FunctionConfig::new(name, function_dir());
    function.timeout = 10;
    function.concurrency = 4;
    extra(&mut function);
    function
}

/// The emulator's Invoke API (functions `fn`, and `narrow` with reserved concurrency 1) behind the
/// recorder, and the mesh-proxy binary's aws invoker pointed at it with JSON logs: upstreams `sync`,
/// `arn` (an ARN in eu-west-1), `later` (asynchronous), `live` (streaming), `missing` (no such
/// function) and `narrow` (one retry).
struct Aws {
    proxy: support::process::MeshProxy,
    recorded: lambda_mesh_tests::recorder::Recorded,
    emulator: Emulator,
    _dir: tempfile::TempDir,
}

impl Aws {
    async fn start() -> Aws {
        let emulator = Emulator::start(EmulatorConfig {
            functions: vec![
                python_function("fn", |_| {}),
                python_function("narrow", |f| f.reserved_concurrency = Some(1)),
            ],
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let lambda = listener.local_addr().unwrap();
        let serving = emulator.clone();
        tokio::spawn(async move { serving.serve_invoke_api(listener).await });
        let (recorder, recorded) = lambda_mesh_tests::recorder::start(lambda).await;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://{recorder}\"\n{}{}{}{}{}{}",
            admin(),
            upstream_table("sync", "fn", ""),
            upstream_table(
                "arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:fn",
                ""
            ),
            upstream_table("later", "fn", "invocation_mode = \"asynchronous\""),
            upstream_table("live", "fn", "response_streaming = true"),
            upstream_table("missing", "nothing-here", ""),
            upstream_table("narrow", "narrow", "retries = 1"),
        );
        let path = write(&dir, &text);
        let mut env = AWS_ENV.to_vec();
        env.push(("MESH_PROXY_LOG_FORMAT", "json"));
        let proxy = support::process::start(&path, &env);
        Aws {
            proxy,
            recorded,
            emulator,
            _dir: dir,
        }
    }

    /// A GET on upstream `sync` with a caller token and a caller header, answered 200.
    async fn sync_with_caller_headers(&self) -> serde_json::Value {
        let request = Request::get(format!("http://{}/echo?a=1", self.proxy.upstream("sync")))
            .header("authorization", "Bearer caller-token-do-not-log")
            .header("x-client-secret", "client-header")
            .body(Full::default())
            .unwrap();
        let (response, body) = collect(send(&client(), request).await).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-lambda-executed-version"], "$LATEST");
        json(&body)
    }

    async fn metrics(&self) -> String {
        let (_, metrics) = get(self.proxy.admin, "/metrics").await;
        String::from_utf8(metrics.to_vec()).unwrap()
    }

    async fn stop(self) {
        drop(self.proxy);
        self.emulator.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_sends_the_callers_headers_inside_the_event() {
    let aws = Aws::start().await;
    let answer = aws.sync_with_caller_headers().await;
    let event = &answer["event"];
    assert_eq!(event["headers"]["x-client-secret"], "client-header");
    assert_eq!(
        event["headers"]["authorization"],
        "Bearer caller-token-do-not-log"
    );
    aws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_signs_every_call_for_the_arns_region_without_the_callers_headers() {
    let aws = Aws::start().await;
    aws.sync_with_caller_headers().await;
    let (response, _) = get(aws.proxy.upstream("arn"), "/echo").await;
    assert_eq!(response.status(), 200);
    let request = Request::get(format!("http://{}/stream", aws.proxy.upstream("live")))
        .body(Full::default())
        .unwrap();
    let (response, _) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 201);

    // What reached "Lambda": signed with the test credentials; the caller's headers unsigned
    // and not sent as HTTP headers at all (they live only inside the event).
    let recorded = aws.recorded.lock().unwrap().clone();
    assert!(recorded.len() >= 3, "{}", recorded.len());
    for (method, path, headers) in &recorded {
        assert_eq!(method, "POST");
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDMESHTEST/"),
            "{authorization}"
        );
        assert!(
            authorization.contains("/lambda/aws4_request"),
            "{authorization}"
        );
        let signed = authorization
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        assert!(!signed.contains("x-client-secret"), "{signed}");
        assert!(!headers.contains_key("x-client-secret"), "{path}");
        assert_eq!(headers["x-amz-security-token"], "session-token-do-not-log");
    }
    assert!(recorded.iter().any(|(_, _, h)| h["authorization"]
        .to_str()
        .unwrap()
        .contains("/eu-west-1/lambda/")));
    assert!(recorded
        .iter()
        .any(|(_, p, _)| p.contains("response-streaming-invocations")));
    assert!(recorded.iter().any(|(_, p, _)| p == "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Afn/invocations"
        || p.contains("eu-west-1")));
    aws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_asynchronous_is_202_with_a_request_id() {
    let aws = Aws::start().await;
    let (response, body) = get(aws.proxy.upstream("later"), "/echo").await;
    assert_eq!(response.status(), 202);
    assert!(!json(&body)["requestId"].as_str().unwrap().is_empty());
    aws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_streams_chunk_by_chunk_and_aborts_a_failed_stream() {
    let aws = Aws::start().await;
    let live = aws.proxy.upstream("live");
    let request = Request::get(format!("http://{live}/stream"))
        .body(Full::default())
        .unwrap();
    let response = send(&client(), request).await;
    assert_eq!(response.status(), 201);
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first_at = Instant::now();
    assert_eq!(first, "first\n");
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "second\nthird\n");
    assert!(first_at.elapsed() >= Duration::from_millis(450));

    let request = Request::get(format!("http://{live}/stream-fail"))
        .body(Full::default())
        .unwrap();
    let response = send(&client(), request).await;
    assert!(response.into_body().collect().await.is_err());
    let metrics = aws.metrics().await;
    assert_eq!(
        metrics::value(
            &metrics,
            "mesh_proxy_stream_aborts_total{upstream=\"live\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    aws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_maps_a_missing_function_to_502_with_an_access_line() {
    let aws = Aws::start().await;
    let (response, body) = get(aws.proxy.upstream("missing"), "/echo").await;
    assert_eq!(response.status(), 502);
    let body = json(&body);
    assert_eq!(body["error"], "function_not_found");
    assert!(
        body["message"].as_str().unwrap().contains("nothing-here"),
        "{body}"
    );
    // stderr reaches us through a pipe reader: the line may lag the response a little.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut logs = aws.proxy.stderr();
    while !logs.contains("\"upstream\":\"missing\"") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        logs = aws.proxy.stderr();
    }
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.contains("mesh_proxy::access"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let line = access
        .iter()
        .find(|l| l["upstream"] == "missing")
        .expect("an access line for the missing function");
    assert_eq!(line["status"], 502);
    assert!(line["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(line["aws_request_id"].is_string());
    assert!(line["duration_us"].is_u64());
    aws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_retries_a_throttle_then_answers_429_with_retry_after() {
    let aws = Aws::start().await;
    let narrow = aws.proxy.upstream("narrow");
    let (a, b) = tokio::join!(get(narrow, "/sleep?s=1.5"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        get(narrow, "/echo").await
    });
    assert_eq!(a.0.status(), 200);
    assert_eq!(b.0.status(), 429);
    assert!(b.0.headers().contains_key("retry-after"));
    let metrics = aws.metrics().await;
    assert_eq!(
        metrics::value(&metrics, "mesh_proxy_retries_total{upstream=\"narrow\"}"),
        Some(1.0),
        "{metrics}"
    );
    aws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_invoker_never_logs_credentials_tokens_or_signatures() {
    let aws = Aws::start().await;
    aws.sync_with_caller_headers().await;
    let (response, _) = get(aws.proxy.upstream("missing"), "/echo").await;
    assert_eq!(response.status(), 502);
    let logs = aws.proxy.stderr();
    assert!(logs.contains("mesh_proxy::access"), "{logs}");
    for secret in [
        "very-secret-key-do-not-log",
        "session-token-do-not-log",
        "caller-token-do-not-log",
        "AWS4-HMAC-SHA256",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
    aws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_drains_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let first = format!(
        "{}{}{}",
        admin(),
        upstream_table("fn", "fn", ""),
        function_table("fn", "")
    );
    let path = write(&dir, &first);
    let mut proxy = support::process::start(&path, &[]);
    let addr = proxy.upstream("fn");
    let (_, body) = get(addr, "/echo").await;
    assert_eq!(json(&body)["event"]["version"], "2.0");

    // A changed upstream takes effect on the same port.
    let port = addr.port();
    let second = format!(
        "{}{}{}",
        admin(),
        upstream_table("fn", "fn", "payload_format = \"envoy\"")
            .replace("local_bind_port = 0", &format!("local_bind_port = {port}")),
        function_table("fn", "")
    );
    write(&dir, &second);
    proxy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get(addr, "/echo").await;
        if json(&body)["event"].get("raw_path").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "reload not applied within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A bad config is rejected; the old one keeps serving.
    write(&dir, &second.replace("payload_format", "payload_fromat"));
    proxy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.stderr().contains("reload rejected") {
        assert!(
            Instant::now() < deadline,
            "no rejection logged: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(proxy.stderr().contains("payload_fromat"));
    let (response, body) = get(addr, "/echo").await;
    assert_eq!(response.status(), 200);
    assert!(json(&body)["event"].get("raw_path").is_some());

    // SIGTERM while a request is in flight: it completes, then the process exits 0.
    let slow = tokio::spawn(async move {
        let request = Request::get(format!("http://{addr}/sleep?s=1.5"))
            .body(Full::<Bytes>::default())
            .unwrap();
        collect(send(&client(), request).await).await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.signal("TERM");
    let (response, _) = slow.await.unwrap();
    assert_eq!(response.status(), 200);
    let status = proxy
        .wait(Duration::from_secs(15))
        .expect("exits after draining");
    assert!(status.success(), "{status:?}");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// The text access-log lines written so far (waits ≤ 10 s for `count` of them).
async fn text_access_lines(proxy: &support::process::MeshProxy, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = proxy
            .stderr()
            .lines()
            .filter(|l| l.contains("mesh_proxy::access"))
            .map(str::to_owned)
            .collect();
        if lines.len() >= count || Instant::now() >= deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_values_cannot_forge_fields_in_the_text_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &good());
    let proxy = support::process::start(&path, &[("MESH_PROXY_LOG_FORMAT", "text")]);
    let addr = proxy.upstream("fn");
    let forged = "forged upstream=payments method=DELETE path=/admin status=200";
    let request = Request::get(format!("http://{addr}/echo/a"))
        .header("x-request-id", forged)
        .body(Full::<Bytes>::default())
        .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 200);
    // Not a sane token: replaced by a generated id, for the caller and the function alike.
    let given = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(given, forged);
    assert_eq!(given.len(), 36, "{given}");
    assert_eq!(
        json(&body)["event"]["headers"]["x-request-id"],
        given.as_str()
    );
    // A sane one is kept.
    let request = Request::get(format!("http://{addr}/echo/b"))
        .header("x-request-id", "rid-7.ok:trace/1+2=3@x")
        .body(Full::<Bytes>::default())
        .unwrap();
    let (response, _) = collect(send(&client(), request).await).await;
    assert_eq!(response.headers()["x-request-id"], "rid-7.ok:trace/1+2=3@x");

    let lines = text_access_lines(&proxy, 2).await;
    assert_eq!(lines.len(), 2, "{}", proxy.stderr());
    for line in &lines {
        assert!(!line.contains("payments"), "{line}");
        assert!(!line.contains("DELETE"), "{line}");
        assert_eq!(line.matches(" status=").count(), 1, "{line}");
        assert_eq!(line.matches(" upstream=").count(), 1, "{line}");
    }
    // Every caller-controlled value is quoted.
    assert!(lines[0].contains("path=\"/echo/a\""), "{}", lines[0]);
    assert!(lines[0].contains("method=\"GET\""), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("request_id=\"{given}\"")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("request_id=\"rid-7.ok:trace/1+2=3@x\""),
        "{}",
        lines[1]
    );
}
