//! mesh-proxy benchmark (`cargo bench -p mesh-proxy --bench proxy`, run by `make bench`):
//! added latency over invoking the emulator directly (p50/p99 at 1 KiB and 1 MiB), requests/s at
//! concurrency 64 for 10 s, and the RSS of a mesh-proxy process holding 1,000 idle keep-alive
//! connections. Prints a Markdown table (see BENCHMARKS.md).
//!
//! The function is this same executable started with `MESH_BENCH_ROLE=function`: a minimal
//! Runtime API client that echoes the request body, so the function costs as little as possible.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lambda_mesh_adapter::{encode_request, PayloadFormat, RequestMeta};
use lambda_mesh_emulator::{Emulator, EmulatorConfig, InvokeRequest};
use mesh_proxy::{Config, Proxy};

#[path = "proxy/function.rs"]
mod function;
#[path = "support/stats.rs"]
mod stats;

use function::{function, read_head};
use stats::{fmt, quantile};

/// The benchmark's HTTP client.
type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const ROLE: &str = "MESH_BENCH_ROLE";
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const CONCURRENCY: usize = 64;
const LOAD_SECONDS: u64 = 10;
const IDLE_CONNECTIONS: usize = 1000;

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("function") {
        function();
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

fn function_config(code: &Path, concurrency: u32) -> String {
    format!(
        "[[function]]\nname = \"echo\"\ncode = \"{}\"\nbootstrap = \"{}\"\nconcurrency = {concurrency}\ntimeout = 30\nmemory_mb = 1024\nenvironment = {{ {ROLE} = \"function\" }}\n",
        code.display(),
        std::env::current_exe().unwrap().display()
    )
}

fn proxy_config(code: &Path, concurrency: u32) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n[[upstream]]\ndestination_name = \"echo\"\nlocal_bind_port = 0\nfunction = \"echo\"\ntimeout = 60\nmax_concurrency = 10000\nretries = 10\n{}",
        function_config(code, concurrency)
    )
}

async fn bench() {
    let code = tempfile::tempdir().unwrap();
    let config = Config::from_toml_str(
        &proxy_config(code.path(), CONCURRENCY as u32),
        "bench.toml",
        Path::new("/"),
    )
    .unwrap();
    let emulator = Emulator::start(EmulatorConfig {
        functions: config.functions.clone(),
    })
    .await
    .unwrap();
    let proxy = Proxy::start(config).await.unwrap();
    let addr = proxy.upstream_addr("echo").unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();

    println!("| measurement | direct emulator | through mesh-proxy | added |");
    println!("|---|---|---|---|");
    for (size, rounds) in [(KIB, 2000), (MIB, 100)] {
        let body = Bytes::from(vec![b'x'; size]);
        let event = event(&body);
        let mut direct = Vec::with_capacity(rounds);
        let mut proxied = Vec::with_capacity(rounds);
        for round in 0..rounds + 20 {
            // Alternate which goes first so neither always meets a just-used environment.
            let (d, p) = if round % 2 == 0 {
                let d = time_direct(&emulator, &event).await;
                (d, time_proxied(&client, addr, &body).await)
            } else {
                let p = time_proxied(&client, addr, &body).await;
                (time_direct(&emulator, &event).await, p)
            };
            if round >= 20 {
                direct.push(d);
                proxied.push(p);
            }
        }
        let label = if size == KIB { "1 KiB" } else { "1 MiB" };
        for (name, q) in [("p50", 0.50), ("p99", 0.99)] {
            let (d, p) = (quantile(&mut direct, q), quantile(&mut proxied, q));
            println!(
                "| {label} round trip {name} | {} | {} | {} |",
                fmt(d),
                fmt(p),
                fmt(p.saturating_sub(d))
            );
        }
    }

    let body = Bytes::from(vec![b'x'; KIB]);
    let event = event(&body);
    let direct_rate = load(|| {
        let emulator = emulator.clone();
        let event = event.clone();
        async move { invoke_direct(&emulator, event).await }
    })
    .await;
    let proxy_rate = load(|| {
        let client = client.clone();
        let body = body.clone();
        async move {
            post(&client, addr, body).await;
        }
    })
    .await;
    println!(
        "| requests/s, 1 KiB, concurrency {CONCURRENCY}, {LOAD_SECONDS} s | {direct_rate:.0} | {proxy_rate:.0} | |"
    );
    proxy.shutdown().await;
    aws_rows(&emulator, &client).await;
    emulator.shutdown().await;

    let (warm, opened, used) = idle_rss(code.path()).await;
    println!(
        "| mesh-proxy RSS, started and warm | | {:.1} MB | |",
        mb(warm)
    );
    println!(
        "| mesh-proxy RSS, {IDLE_CONNECTIONS} idle connections (never used) | | {:.1} MB | |",
        mb(opened)
    );
    println!(
        "| mesh-proxy RSS, {IDLE_CONNECTIONS} idle keep-alive connections (one request each) | | {:.1} MB | |",
        mb(used)
    );
}

async fn time_direct(emulator: &Emulator, event: &Bytes) -> Duration {
    let started = Instant::now();
    invoke_direct(emulator, event.clone()).await;
    started.elapsed()
}

async fn time_proxied(client: &HttpClient, addr: SocketAddr, body: &Bytes) -> Duration {
    let started = Instant::now();
    let answer = post(client, addr, body.clone()).await;
    let elapsed = started.elapsed();
    assert_eq!(answer.len(), body.len());
    elapsed
}

/// The v2 event mesh-proxy would send for a `POST /echo` with `body`.
fn event(body: &Bytes) -> Bytes {
    let request = Request::post("/echo")
        .header("host", "bench")
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .unwrap();
    encode_request(&request, PayloadFormat::V2, &RequestMeta::default()).unwrap()
}

async fn invoke_direct(emulator: &Emulator, payload: Bytes) {
    for _ in 0..1000 {
        let request = InvokeRequest {
            function: "echo".into(),
            payload: payload.clone(),
            ..InvokeRequest::default()
        };
        match emulator.invoke(request).await {
            Ok(response) => {
                assert!(response.function_error.is_none());
                return;
            }
            // An environment is busy for a moment after answering: as mesh-proxy retries, so do we.
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    panic!("direct invoke kept failing");
}

async fn post(client: &HttpClient, addr: SocketAddr, body: Bytes) -> Bytes {
    let request = Request::post(format!("http://{addr}/echo"))
        .header("content-type", "application/octet-stream")
        .body(Full::new(body))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

/// Requests per second with CONCURRENCY workers for LOAD_SECONDS.
async fn load<F, Fut>(one: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(CONCURRENCY);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(LOAD_SECONDS);
    let mut in_flight = 0;
    while Instant::now() < deadline {
        while in_flight < CONCURRENCY {
            let tx = tx.clone();
            let done = done.clone();
            let future = one();
            tokio::spawn(async move {
                future.await;
                done.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(()).await;
            });
            in_flight += 1;
        }
        if tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .is_ok()
        {
            in_flight -= 1;
        }
    }
    let count = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for _ in 0..in_flight {
        let _ = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
    }
    count as f64 / elapsed
}

/// The aws invoker: the emulator's HTTP Invoke API called with aws-sdk-lambda directly, against
/// a mesh-proxy process whose aws invoker calls the same API (SigV4, the SDK's HTTP client).
async fn aws_rows(emulator: &Emulator, client: &HttpClient) {
    use aws_sdk_lambda::config::retry::RetryConfig;
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    let serving = emulator.clone();
    tokio::spawn(async move { serving.serve_invoke_api(listener).await });
    let sdk = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://{api}"))
            .credentials_provider(Credentials::new(
                "AKIDBENCH",
                "bench-secret",
                None,
                None,
                "bench",
            ))
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.toml");
    std::fs::write(
        &path,
        format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://{api}\"\n[[upstream]]\ndestination_name = \"echo\"\nlocal_bind_port = 0\nfunction = \"echo\"\ntimeout = 60\nmax_concurrency = 10000\nretries = 10\n"
        ),
    )
    .unwrap();
    let (mut child, addr) = spawn_proxy(
        &path,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    for (size, rounds) in [(KIB, 2000), (MIB, 100)] {
        let body = Bytes::from(vec![b'x'; size]);
        let event = event(&body);
        let mut direct = Vec::with_capacity(rounds);
        let mut proxied = Vec::with_capacity(rounds);
        for round in 0..rounds + 20 {
            let (d, p) = if round % 2 == 0 {
                let d = time_sdk(&sdk, &event).await;
                (d, time_proxied(client, addr, &body).await)
            } else {
                let p = time_proxied(client, addr, &body).await;
                (time_sdk(&sdk, &event).await, p)
            };
            if round >= 20 {
                direct.push(d);
                proxied.push(p);
            }
        }
        let label = if size == KIB { "1 KiB" } else { "1 MiB" };
        for (name, q) in [("p50", 0.50), ("p99", 0.99)] {
            let (d, p) = (quantile(&mut direct, q), quantile(&mut proxied, q));
            println!(
                "| aws invoker, {label} {name} (SDK → Invoke API vs. mesh-proxy process) | {} | {} | {} |",
                fmt(d),
                fmt(p),
                fmt(p.saturating_sub(d))
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

async fn time_sdk(sdk: &aws_sdk_lambda::Client, event: &Bytes) -> Duration {
    let started = Instant::now();
    for _ in 0..1000 {
        let result = sdk
            .invoke()
            .function_name("echo")
            .payload(aws_smithy_types::Blob::new(event.clone()))
            .send()
            .await;
        match result {
            Ok(output) => {
                assert!(output.function_error().is_none());
                return started.elapsed();
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    panic!("sdk invoke kept failing");
}

/// Start `mesh-proxy --config PATH`; its child handle and the `echo` upstream's address.
fn spawn_proxy(path: &Path, env: &[(&str, &str)]) -> (std::process::Child, SocketAddr) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mesh-proxy"));
    command
        .arg("--config")
        .arg(path)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr: Option<SocketAddr> = None;
    for _ in 0..10 {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("upstream echo listening on ") {
            addr = rest.parse().ok();
        }
        if line.starts_with("admin listening on") {
            break;
        }
    }
    (child, addr.unwrap())
}

/// RSS of a mesh-proxy process, warm, then holding IDLE_CONNECTIONS keep-alive connections
/// that each served one request.
async fn idle_rss(code: &Path) -> (u64, u64, u64) {
    raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.toml");
    std::fs::write(&path, proxy_config(code, 4)).unwrap();
    let (mut child, addr) = spawn_proxy(&path, &[]);
    let pid = child.id();
    let mut warm = TcpStream::connect(addr).unwrap();
    for _ in 0..20 {
        raw_get(&mut warm);
    }
    let idle = rss(pid);
    let mut connections: Vec<TcpStream> = (0..IDLE_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let opened = rss(pid);
    for stream in &mut connections {
        raw_get(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = rss(pid);
    drop(connections);
    let _ = child.kill();
    let _ = child.wait();
    (idle, opened, used)
}

fn raise_fd_limit() {
    // Best effort, without unsafe code: prlimit(1) on this process.
    let _ = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg("--nofile=8192:8192")
        .status();
}

/// A `GET /echo` on a keep-alive connection, response read by its Content-Length.
fn raw_get(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: bench\r\n\r\n")
        .unwrap();
    let (_, body_len) = read_head(stream);
    let mut body = vec![0u8; body_len];
    stream.read_exact(&mut body).unwrap();
}

fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
