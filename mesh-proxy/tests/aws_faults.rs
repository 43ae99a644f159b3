//! The AWS hop's faults (issue 16's fault table), the mesh-proxy binary's aws invoker against a
//! Lambda endpoint and a container-credentials endpoint of the test's own on 127.0.0.1:
//! credentials refreshed before they expire, kept while a refresh fails and they are still
//! valid, a clear 502 once they have expired and the source refuses, served again once it
//! recovers; Lambda's 500 and 503 retried, a connection reset mid-response not (the function may
//! have run), and the next request served after each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
    pub mod process;
}

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::Request;
use http_body_util::Full;
use lambda_mesh_tests::net::read_request;
use support::harness::{client, collect, send, upstream_table};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const RESULT: &str = r#"{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"ok"}"#;

/// A Lambda Invoke endpoint whose behaviour is the function's name: `ok` answers; `flaky`
/// answers 500 `ServiceException` to its first call, then answers; `down` is always 503;
/// `reset` sends half a response and resets the connection. It counts calls per function and
/// keeps the access key id each call was signed with.
#[derive(Clone, Default)]
struct Lambda {
    calls: Arc<Mutex<HashMap<String, u32>>>,
    keys: Arc<Mutex<Vec<String>>>,
}

impl Lambda {
    async fn start() -> (Lambda, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lambda = Lambda::default();
        let serving = lambda.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().connection(stream));
            }
        });
        (lambda, addr)
    }

    fn calls(&self, function: &str) -> u32 {
        self.calls
            .lock()
            .unwrap()
            .get(function)
            .copied()
            .unwrap_or(0)
    }

    fn last_key(&self) -> String {
        self.keys
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    async fn connection(self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        loop {
            let Some((head, _)) = read_request(&mut stream, &mut buffer).await else {
                return;
            };
            let function = head
                .split("/functions/")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or("")
                .to_owned();
            let key = head
                .lines()
                .find_map(|l| l.split("Credential=").nth(1))
                .and_then(|c| c.split('/').next())
                .unwrap_or("")
                .to_owned();
            self.keys.lock().unwrap().push(key);
            let call = {
                let mut calls = self.calls.lock().unwrap();
                let count = calls.entry(function.clone()).or_default();
                *count += 1;
                *count
            };
            let answer = match (function.as_str(), call) {
                ("flaky", 1) => error(500, "ServiceException", "try again"),
                ("down", _) => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 19\r\n\r\nService Unavailable".to_owned(),
                ("reset", _) => {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"statusCode\":")
                        .await;
                    // SO_LINGER 0: the close is a reset.
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    return;
                }
                _ => format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-amz-executed-version: $LATEST\r\ncontent-length: {}\r\n\r\n{RESULT}",
                    RESULT.len()
                ),
            };
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn error(status: u16, code: &str, message: &str) -> String {
    let body = format!("{{\"message\":\"{message}\"}}");
    format!(
        "HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\nx-amzn-errortype: {code}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A container-credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`): call N gets access
/// key `AKIDROTATE{N}`, expiring after `lifetimes[N-1]` (the last one for later calls); while
/// `refuse` is set it answers 500.
#[derive(Clone)]
struct Credentials {
    calls: Arc<AtomicU32>,
    refuse: Arc<AtomicBool>,
    lifetimes: Arc<Vec<Duration>>,
}

impl Credentials {
    async fn start(lifetimes: Vec<Duration>) -> (Credentials, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let credentials = Credentials {
            calls: Arc::default(),
            refuse: Arc::default(),
            lifetimes: Arc::new(lifetimes),
        };
        let serving = credentials.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let serving = serving.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    while read_request(&mut stream, &mut buffer).await.is_some() {
                        let answer = serving.answer();
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (credentials, addr)
    }

    fn answer(&self) -> String {
        if self.refuse.load(Ordering::SeqCst) {
            let body = "{\"code\":\"Unavailable\",\"message\":\"refusing on purpose\"}";
            return format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let lifetime = self
            .lifetimes
            .get(call as usize - 1)
            .or(self.lifetimes.last())
            .copied()
            .unwrap();
        let expiration = aws_smithy_types::DateTime::from(SystemTime::now() + lifetime)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap();
        let body = format!(
            "{{\"AccessKeyId\":\"AKIDROTATE{call}\",\"SecretAccessKey\":\"rotating-secret-{call}\",\"Token\":\"rotating-token-{call}\",\"Expiration\":\"{expiration}\"}}"
        );
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

fn config(dir: &tempfile::TempDir, lambda: SocketAddr) -> std::path::PathBuf {
    let text = format!(
        "drain_timeout = 1\n[admin]\nlisten = \"127.0.0.1:0\"\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://{lambda}\"\n{}{}{}{}",
        upstream_table("ok", "ok", "retries = 2"),
        upstream_table("flaky", "flaky", "retries = 2"),
        upstream_table("down", "down", "retries = 2\ntimeout = 20"),
        upstream_table("reset", "reset", "retries = 2"),
    );
    let path = dir.path().join("mesh.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A GET through `upstream`: status, body as JSON (or `null`), and how long it took.
async fn get(
    proxy: &support::process::MeshProxy,
    upstream: &str,
) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let request = Request::get(format!("http://{}/", proxy.upstream(upstream)))
        .body(Full::default())
        .unwrap();
    let (response, body) = tokio::time::timeout(
        Duration::from_secs(30),
        collect(send(&client(), request).await),
    )
    .await
    .expect("mesh-proxy never answered");
    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (response.status().as_u16(), value, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_refreshed_kept_while_valid_and_refused_clearly_once_expired() {
    let (lambda, lambda_addr) = Lambda::start().await;
    // The first credentials are due for refresh 2 s in (a minute before their expiry); the
    // second expire 3 s after they are issued; later ones live an hour.
    let (credentials, credentials_addr) = Credentials::start(vec![
        Duration::from_secs(62),
        Duration::from_secs(3),
        Duration::from_secs(3600),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("http://{credentials_addr}/credentials");
    let proxy = support::process::start(
        &config(&dir, lambda_addr),
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            ),
        ],
    );

    let (status, _, _) = get(&proxy, "ok").await;
    assert_eq!(status, 200);
    assert_eq!(lambda.last_key(), "AKIDROTATE1");
    let (status, _, _) = get(&proxy, "ok").await;
    assert_eq!(status, 200);
    assert_eq!(credentials.calls.load(Ordering::SeqCst), 1, "cached");

    // Due for refresh: the next call is signed with the new credentials.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (status, _, _) = get(&proxy, "ok").await;
    assert_eq!(status, 200);
    assert_eq!(lambda.last_key(), "AKIDROTATE2");

    // The source starts refusing. AKIDROTATE2 has not expired: it keeps serving.
    credentials.refuse.store(true, Ordering::SeqCst);
    let (status, _, _) = get(&proxy, "ok").await;
    assert_eq!(status, 200);
    assert_eq!(lambda.last_key(), "AKIDROTATE2");

    // Expired, and the source still refuses: a clear 502, quickly, without any secret.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let calls = lambda.calls("ok");
    let (status, body, took) = get(&proxy, "ok").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "lambda_error", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("credentials"), "{body}");
    assert!(!message.contains("rotating-"), "{body}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(lambda.calls("ok"), calls, "nothing was sent unsigned");

    // The source recovers: served again with new credentials.
    credentials.refuse.store(false, Ordering::SeqCst);
    let (status, _, _) = get(&proxy, "ok").await;
    assert_eq!(status, 200);
    assert_eq!(lambda.last_key(), "AKIDROTATE3");

    let output = format!("{}{}", proxy.stdout(), proxy.stderr());
    for secret in ["rotating-secret", "rotating-token"] {
        assert!(
            !output.contains(secret),
            "{secret} in the output:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_errors_are_retried_only_where_safe_and_the_next_request_is_served() {
    let (lambda, lambda_addr) = Lambda::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = support::process::start(&config(&dir, lambda_addr), &support::process::AWS_ENV);

    // 500 ServiceException: raised before the function ran, retried, then served.
    let (status, _, _) = get(&proxy, "flaky").await;
    assert_eq!(status, 200);
    assert_eq!(lambda.calls("flaky"), 2);

    // 503 every time: every attempt made (1 + retries = 3), then a 502 naming it.
    let (status, body, took) = get(&proxy, "down").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "lambda_error", "{body}");
    assert_eq!(lambda.calls("down"), 3, "{body}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let (status, _, _) = get(&proxy, "ok").await;
    assert_eq!(status, 200);

    // Reset mid-response: the function may have run, so exactly one attempt, and a 502.
    let (status, body, took) = get(&proxy, "reset").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "lambda_error", "{body}");
    assert_eq!(lambda.calls("reset"), 1, "not retried: {body}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (status, _, _) = get(&proxy, "ok").await;
    assert_eq!(status, 200);
}
