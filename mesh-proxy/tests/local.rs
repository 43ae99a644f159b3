//! mesh-proxy in-process with the local invoker: every payload format and mode, and each error
//! mapping triggered for real against the embedded emulator running the shared test function (`tests/data/python-fn`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
}

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use lambda_mesh_tests::metrics;
use support::harness::*;

#[tokio::test]
async fn v2_requests_round_trip_over_http1_and_h2c() {
    let proxy = start(&format!(
        "{}{}",
        upstream_table("echo", "echo", ""),
        function_table("echo", "")
    ))
    .await;
    let addr = proxy.upstream_addr("echo").unwrap();
    for client in [client(), h2_client()] {
        let request = Request::post(format!("http://{addr}/echo/a%20b?x=1&x=2&y"))
            .header("cookie", "c1=1")
            .header("cookie", "c2=2")
            .header("x-multi", "one")
            .header("x-multi", "two")
            .header("x-request-id", "rid-42")
            .header("connection", "keep-alive")
            .body(Full::new(Bytes::from_static(b"\x00\x01binary\xff")))
            .unwrap();
        let (response, body) = collect(send(&client, request).await).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-fn"], "yes");
        assert_eq!(response.headers()["x-request-id"], "rid-42");
        assert_eq!(response.headers()["x-lambda-executed-version"], "$LATEST");
        assert_eq!(
            response.headers()["content-length"],
            body.len().to_string().as_str()
        );
        let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        let event = &json(&body)["event"];
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["rawPath"], "/echo/a%20b");
        assert_eq!(event["rawQueryString"], "x=1&x=2&y");
        assert_eq!(event["cookies"], serde_json::json!(["c1=1", "c2=2"]));
        assert_eq!(event["headers"]["x-multi"], "one,two");
        assert_eq!(event["headers"]["x-request-id"], "rid-42");
        assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(event["headers"]["x-forwarded-proto"], "http");
        assert_eq!(event["headers"]["host"], addr.to_string());
        assert!(event["headers"].get("connection").is_none());
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
    }
    let text = proxy.metrics().render();
    assert_eq!(
        metrics::value(
            &text,
            "mesh_proxy_requests_total{upstream=\"echo\",status=\"200\"}"
        ),
        Some(2.0),
        "{text}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn envoy_passthrough_async_and_head() {
    let proxy = start(&format!(
        "{}{}{}{}{}",
        upstream_table("envoy", "fn", "payload_format = \"envoy\""),
        upstream_table("raw", "fn", "payload_passthrough = true"),
        upstream_table("later", "fn", "invocation_mode = \"asynchronous\""),
        upstream_table("plain", "fn", ""),
        function_table("fn", "")
    ))
    .await;
    let (response, body) = get(proxy.upstream_addr("envoy").unwrap(), "/echo?q=1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&body)["event"]["raw_path"], "/echo?q=1");

    let raw = proxy.upstream_addr("raw").unwrap();
    let request = Request::post(format!("http://{raw}/anything"))
        .body(Full::new(Bytes::from_static(br#"{"order": 7}"#)))
        .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 200);
    // A non-HTTP event is echoed by the test function under "event": the body arrived as it was.
    assert_eq!(json(&body)["event"], serde_json::json!({"order": 7}));
    let request = Request::post(format!("http://{raw}/anything"))
        .body(Full::new(Bytes::from_static(b"not json")))
        .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(&body)["error"], "bad_request");

    let (response, body) = get(proxy.upstream_addr("later").unwrap(), "/echo").await;
    assert_eq!(response.status(), 202);
    let request_id = json(&body)["requestId"].as_str().unwrap().to_owned();
    assert!(!request_id.is_empty());
    assert_eq!(response.headers()["x-amzn-requestid"], request_id.as_str());

    let plain = proxy.upstream_addr("plain").unwrap();
    let request = Request::head(format!("http://{plain}/echo"))
        .body(Full::default())
        .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 200);
    assert!(body.is_empty());
    assert_ne!(response.headers()["content-length"], "0");
    proxy.shutdown().await;
}

/// A proxy with upstream `fn` (1 s timeout) and `gone` (a qualifier the function lacks).
async fn errors_proxy() -> mesh_proxy::Proxy {
    start(&format!(
        "{}{}{}",
        upstream_table("fn", "fn", "timeout = 1"),
        upstream_table("gone", "fn", "qualifier = \"nope\""),
        function_table("fn", "")
    ))
    .await
}

/// `mesh_proxy_function_errors_total` of upstream `fn`, absent counting as 0.
fn function_errors(proxy: &mesh_proxy::Proxy) -> f64 {
    function_errors_of(proxy, "fn")
}

/// `mesh_proxy_function_errors_total` of `upstream`, absent counting as 0.
fn function_errors_of(proxy: &mesh_proxy::Proxy, upstream: &str) -> f64 {
    let text = proxy.metrics().render();
    let series = format!("mesh_proxy_function_errors_total{{upstream=\"{upstream}\"}}");
    metrics::value(&text, &series).unwrap_or(0.0)
}

#[tokio::test]
async fn a_function_error_is_502_and_counted() {
    let proxy = errors_proxy().await;
    let addr = proxy.upstream_addr("fn").unwrap();
    let (response, body) = get(addr, "/raise").await;
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-lambda-function-error"], "Unhandled");
    let body = json(&body);
    assert_eq!(body["error"], "function_error");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("raised on purpose"),
        "{body}"
    );
    assert_eq!(function_errors(&proxy), 1.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_invalid_function_result_is_502_and_not_a_function_error() {
    let proxy = errors_proxy().await;
    let (response, body) = get(proxy.upstream_addr("fn").unwrap(), "/invalid").await;
    assert_eq!(response.status(), 502);
    assert_eq!(json(&body)["error"], "invalid_function_result");
    assert_eq!(function_errors(&proxy), 0.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_result_field_of_the_wrong_type_is_an_invalid_function_result_naming_it() {
    let proxy = errors_proxy().await;
    let (response, body) = get(proxy.upstream_addr("fn").unwrap(), "/base64-string").await;
    assert_eq!(response.status(), 502);
    let body = json(&body);
    assert_eq!(body["error"], "invalid_function_result", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("`isBase64Encoded`"), "{body}");
    assert!(message.contains("must be a boolean"), "{body}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_result_status_that_is_informational_or_out_of_range_is_an_invalid_function_result() {
    let proxy = errors_proxy().await;
    let addr = proxy.upstream_addr("fn").unwrap();
    for code in ["101", "100", "199", "999", "600", "0", "99"] {
        let (response, body) = get(addr, &format!("/status?code={code}")).await;
        assert_eq!(response.status(), 502, "status {code}");
        let body = json(&body);
        assert_eq!(body["error"], "invalid_function_result", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(code),
            "the message names status {code}: {body}"
        );
    }
    // The connection stays usable and the edges of the range pass.
    for code in [200u16, 204, 599] {
        let (response, _) = get(addr, &format!("/status?code={code}")).await;
        assert_eq!(response.status(), code);
    }
    assert_eq!(function_errors(&proxy), 0.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_upstream_timeout_is_504_in_time_and_not_a_function_error() {
    let proxy = errors_proxy().await;
    let started = Instant::now();
    let (response, body) = get(proxy.upstream_addr("fn").unwrap(), "/sleep?s=3").await;
    assert_eq!(response.status(), 504);
    assert_eq!(json(&body)["error"], "timeout");
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(function_errors(&proxy), 0.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_body_slower_than_the_timeout_is_408_and_not_blamed_on_the_function() {
    let proxy = errors_proxy().await;
    let addr = proxy.upstream_addr("fn").unwrap();
    // Two of ten promised bytes, then nothing: the upstream's 1 s timeout runs out in the read.
    let started = Instant::now();
    let head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab";
    let answer = raw(addr, head.as_bytes(), Duration::from_secs(2)).await;
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body = json(body.as_bytes());
    assert_eq!(body["error"], "request_timeout", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        !message.contains("`fn`"),
        "the function is not blamed: {message}"
    );
    assert!(message.contains("1s"), "the timeout is named: {message}");
    assert_eq!(answered(&proxy, "fn", 408), 1.0);
    assert_eq!(answered(&proxy, "fn", 504), 0.0);
    // The function's own slowness is still a 504.
    let (response, _) = get(addr, "/sleep?s=3").await;
    assert_eq!(response.status(), 504);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_missing_qualifier_is_function_not_found() {
    let proxy = errors_proxy().await;
    let (response, body) = get(proxy.upstream_addr("gone").unwrap(), "/echo").await;
    assert_eq!(response.status(), 502);
    let body = json(&body);
    assert_eq!(body["error"], "function_not_found");
    assert!(body["message"].as_str().unwrap().contains("`fn`"), "{body}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn throttling_after_retries_is_429_and_overload_is_503() {
    let proxy = start(&format!(
        "{}{}{}{}",
        upstream_table("one", "fn", "retries = 1"),
        upstream_table("narrow", "wide", "max_concurrency = 1"),
        function_table("fn", "reserved_concurrency = 1"),
        function_table("wide", "")
    ))
    .await;
    let one = proxy.upstream_addr("one").unwrap();
    let (a, b) = tokio::join!(get(one, "/sleep?s=1.5"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        get(one, "/echo").await
    });
    assert_eq!(a.0.status(), 200);
    assert_eq!(b.0.status(), 429);
    assert!(
        b.0.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(json(&b.1)["error"], "throttled");
    let text = proxy.metrics().render();
    assert_eq!(
        metrics::value(&text, "mesh_proxy_retries_total{upstream=\"one\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metrics::value(&text, "mesh_proxy_throttles_total{upstream=\"one\"}"),
        Some(2.0),
        "{text}"
    );

    let narrow = proxy.upstream_addr("narrow").unwrap();
    let (a, b) = tokio::join!(get(narrow, "/sleep?s=1"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        get(narrow, "/echo").await
    });
    assert_eq!(a.0.status(), 200);
    assert_eq!(b.0.status(), 503);
    assert_eq!(b.0.headers()["retry-after"], "1");
    assert_eq!(json(&b.1)["error"], "overloaded");
    proxy.shutdown().await;
}

#[tokio::test]
async fn size_and_header_limits_are_enforced_before_any_invoke() {
    let proxy = start(&format!(
        "{}{}{}",
        upstream_table("sync", "fn", ""),
        upstream_table("async", "fn", "invocation_mode = \"asynchronous\""),
        function_table("fn", "")
    ))
    .await;
    let sync = proxy.upstream_addr("sync").unwrap();
    let over = lambda_mesh_adapter::MAX_SYNC_REQUEST_BYTES + 1;
    let request = Request::post(format!("http://{sync}/echo"))
        .body(Full::new(Bytes::from(vec![b'a'; over])))
        .unwrap();
    let (response, body) = collect(send(&client(), request).await).await;
    assert_eq!(response.status(), 413);
    assert_eq!(json(&body)["error"], "payload_too_large");

    // Under the limit as a body, over it once encoded (base64 grows binary by a third).
    let request = Request::post(format!("http://{sync}/echo"))
        .body(Full::new(Bytes::from(vec![0xffu8; 5 * 1024 * 1024])))
        .unwrap();
    assert_eq!(send(&client(), request).await.status(), 413);

    let asynchronous = proxy.upstream_addr("async").unwrap();
    let request = Request::post(format!("http://{asynchronous}/echo"))
        .body(Full::new(Bytes::from(vec![
            b'a';
            lambda_mesh_adapter::MAX_ASYNC_REQUEST_BYTES
                + 1
        ])))
        .unwrap();
    assert_eq!(send(&client(), request).await.status(), 413);

    // Expect: 100-continue with a large Content-Length: 413 without a 100 and without the body.
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {over}\r\nExpect: 100-continue\r\n\r\n"
    );
    let answer = raw(sync, head.as_bytes(), Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");

    // Chunked: reading stops past the limit.
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..7 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    let answer = raw(sync, &chunked, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );

    let mut many = String::from("GET /echo HTTP/1.1\r\nHost: x\r\n");
    for i in 0..101 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw(sync, many.as_bytes(), Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let big = format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "b".repeat(70 * 1024)
    );
    let answer = raw(sync, big.as_bytes(), Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let upgrade =
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    let answer = raw(sync, upgrade.as_bytes(), Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    let connect = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    let answer = raw(sync, connect.as_bytes(), Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");

    let text = proxy.metrics().render();
    let invokes = metrics::value(
        &text,
        "mesh_proxy_invoke_duration_seconds_count{upstream=\"sync\"}",
    );
    assert!(
        matches!(invokes, None | Some(0.0)),
        "no invoke was made: {text}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn streamed_responses_arrive_chunk_by_chunk_and_abort_on_failure() {
    let proxy = start(&format!(
        "{}{}",
        upstream_table("live", "fn", "response_streaming = true"),
        function_table("fn", "")
    ))
    .await;
    let addr = proxy.upstream_addr("live").unwrap();
    for client in [client(), h2_client()] {
        let request = Request::get(format!("http://{addr}/stream"))
            .body(Full::default())
            .unwrap();
        let response = send(&client, request).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-streamed"], "yes");
        assert_eq!(response.headers()["set-cookie"], "s=1");
        assert!(response.headers().get("content-length").is_none());
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let first_at = Instant::now();
        assert_eq!(first, "first\n");
        let mut rest = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                rest.extend_from_slice(&data);
            }
        }
        assert_eq!(rest, b"second\nthird\n");
        // The function paused 2 × 300 ms after the first chunk: it came before the function ended.
        assert!(
            first_at.elapsed() >= Duration::from_millis(450),
            "{:?}",
            first_at.elapsed()
        );
    }

    for client in [client(), h2_client()] {
        let request = Request::get(format!("http://{addr}/stream-fail"))
            .body(Full::default())
            .unwrap();
        let response = send(&client, request).await;
        assert_eq!(response.status(), 201);
        let result = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
            .await
            .unwrap();
        assert!(result.is_err(), "an aborted stream must not look complete");
    }
    let text = proxy.metrics().render();
    assert_eq!(
        metrics::value(&text, "mesh_proxy_stream_aborts_total{upstream=\"live\"}"),
        Some(2.0),
        "{text}"
    );
    proxy.shutdown().await;
}

/// `mesh_proxy_requests_total` of `upstream` with `status`, absent counting as 0.
fn answered(proxy: &mesh_proxy::Proxy, upstream: &str, status: u16) -> f64 {
    let text = proxy.metrics().render();
    let series =
        format!("mesh_proxy_requests_total{{upstream=\"{upstream}\",status=\"{status}\"}}");
    metrics::value(&text, &series).unwrap_or(0.0)
}

/// Sends `request`, bounded by 20 s: the head, or why there was none.
async fn try_send(
    client: &lambda_mesh_tests::client::HttpClient,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String> {
    match tokio::time::timeout(Duration::from_secs(20), client.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(format!("no response: {e:?}")),
        Err(_) => Err("no response within 20 s".into()),
    }
}

#[tokio::test]
async fn a_streamed_function_error_before_the_first_byte_is_a_502_with_the_json_body() {
    let proxy = start(&format!(
        "{}{}",
        upstream_table("live", "fn", "response_streaming = true"),
        function_table("fn", "")
    ))
    .await;
    let addr = proxy.upstream_addr("live").unwrap();
    for client in [client(), h2_client()] {
        let request = Request::get(format!("http://{addr}/raise"))
            .body(Full::default())
            .unwrap();
        let response = try_send(&client, request).await.unwrap();
        let (response, body) = collect(response).await;
        assert_eq!(response.status(), 502);
        assert_eq!(response.headers()["x-lambda-function-error"], "Unhandled");
        let body = json(&body);
        assert_eq!(body["error"], "function_error", "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("raised on purpose"),
            "{body}"
        );
    }
    assert_eq!(answered(&proxy, "live", 502), 2.0);
    assert_eq!(answered(&proxy, "live", 200), 0.0);
    assert_eq!(function_errors_of(&proxy, "live"), 2.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_streamed_timeout_before_the_first_byte_is_a_504_with_the_json_body() {
    let proxy = start(&format!(
        "{}{}",
        upstream_table(
            "live",
            "fn",
            "response_streaming = true\npayload_passthrough = true\ntimeout = 1"
        ),
        function_table("fn", "")
    ))
    .await;
    let addr = proxy.upstream_addr("live").unwrap();
    // The stream starts at once; its first chunk would come after 3 s.
    let request = Request::post(format!("http://{addr}/"))
        .body(Full::new(Bytes::from_static(
            br#"{"stream": ["late"], "first_sleep": 3}"#,
        )))
        .unwrap();
    let started = Instant::now();
    let response = try_send(&client(), request).await.unwrap();
    assert_eq!(response.status(), 504);
    let (_, body) = collect(response).await;
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(json(&body)["error"], "timeout");
    assert_eq!(answered(&proxy, "live", 504), 1.0);
    assert_eq!(answered(&proxy, "live", 200), 0.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn admin_reports_health_readiness_and_metrics() {
    let proxy = start(&format!(
        "{}{}",
        upstream_table("fn", "fn", ""),
        function_table("fn", "")
    ))
    .await;
    let admin = proxy.admin_addr();
    let (response, _) = get(admin, "/healthz").await;
    assert_eq!(response.status(), 200);
    let (response, _) = get(admin, "/ready").await;
    assert_eq!(response.status(), 200);
    get(proxy.upstream_addr("fn").unwrap(), "/echo").await;
    let (response, body) = get(admin, "/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(
        metrics::value(
            &text,
            "mesh_proxy_requests_total{upstream=\"fn\",status=\"200\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metrics::value(
            &text,
            "mesh_proxy_invoke_duration_seconds_count{upstream=\"fn\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metrics::value(&text, "mesh_proxy_in_flight{upstream=\"fn\"}"),
        Some(0.0),
        "{text}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn reloads_swap_upstreams_and_reject_what_cannot_bind() {
    let mut proxy = start(&format!(
        "{}{}",
        upstream_table("a", "fn", ""),
        function_table("fn", "")
    ))
    .await;
    let a = proxy.upstream_addr("a").unwrap();
    assert_eq!(get(a, "/echo").await.0.status(), 200);

    // `a` switches to Envoy format in place (same port); `b` is added.
    let next = config(&format!(
        "{}{}{}",
        upstream_table("a", "fn", "payload_format = \"envoy\""),
        upstream_table("b", "fn", ""),
        function_table("fn", "")
    ));
    let bound = proxy.reload(next).await.unwrap();
    assert_eq!(bound.len(), 1);
    assert_eq!(proxy.upstream_addr("a").unwrap(), a);
    let (_, body) = get(a, "/echo").await;
    assert_eq!(json(&body)["event"]["raw_path"], "/echo");
    assert_eq!(
        get(proxy.upstream_addr("b").unwrap(), "/echo")
            .await
            .0
            .status(),
        200
    );

    // A changed [[function]] starts a new embedded emulator; the old one retires once idle.
    let changed = config(&format!(
        "{}{}{}",
        upstream_table("a", "fn", "payload_format = \"envoy\""),
        upstream_table("b", "fn", ""),
        function_table("fn", "memory_mb = 256")
    ));
    assert!(proxy.reload(changed).await.unwrap().is_empty());
    let (response, body) = get(a, "/echo").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&body)["event"]["raw_path"], "/echo");

    // A port already taken: the reload fails and the old config keeps serving.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let bad = config(&format!(
        "{}{}",
        upstream_table("a", "fn", "")
            .replace("local_bind_port = 0", &format!("local_bind_port = {port}")),
        function_table("fn", "")
    ));
    assert!(proxy.reload(bad).await.is_err());
    let (_, body) = get(a, "/echo").await;
    assert_eq!(json(&body)["event"]["raw_path"], "/echo");
    assert!(proxy.upstream_addr("b").is_some());
    proxy.shutdown().await;
}

#[tokio::test]
async fn header_rules_at_the_edges() {
    let proxy = start(&format!(
        "{}{}",
        upstream_table("echo", "echo", ""),
        function_table("echo", "")
    ))
    .await;
    let addr = proxy.upstream_addr("echo").unwrap();

    // h2: a head over the limit is a 431 on its stream at any size up to the parser's bound and
    // beyond it, and the connection goes on serving.
    let h2 = h2_client();
    for size in [70 * 1024, 200 * 1024] {
        let request = Request::get(format!("http://{addr}/echo"))
            .header("x-big", "b".repeat(size))
            .body(Full::default())
            .unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(10), h2.request(request))
            .await
            .expect("an answer in time");
        let response = outcome.unwrap_or_else(|e| panic!("{size} bytes of header: {e:?}"));
        assert_eq!(response.status(), 431, "{size} bytes of header");
    }
    let ok = Request::get(format!("http://{addr}/echo"))
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&h2, ok).await.status(), 200);

    // HTTP/1.1: two Host headers are a 400, not joined or one picked.
    let answer = raw(
        addr,
        b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("more than one Host"), "{answer}");

    // `OPTIONS *` reaches the function as `*`, never `/*`.
    let answer = raw(
        addr,
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""rawPath": "*""#), "{answer}");
    proxy.shutdown().await;
}
