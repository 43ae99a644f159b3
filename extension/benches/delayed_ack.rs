//! Warm invokes behind services that write a response in two pieces without `TCP_NODELAY`
//! (examples/hello-python, Python's `http.server`; and a minimal Rust two-write service), beside
//! a hyper service that sets `TCP_NODELAY` and writes once: lambda-mesh-extension and
//! aws-lambda-web-adapter on the same emulator, in the same run, plus a plain keep-alive client
//! calling each service directly.
//!
//! Run: `cargo bench -p lambda-mesh-extension --bench delayed_ack`. Binaries as in the `overhead`
//! bench (`$MESH_BIN`, `$LWA_BIN`); `$MESH_BASELINE_BIN` adds a row for another build of ours
//! (e.g. one without `TCP_QUICKACK`). Targets are measured in batches taken in rotation.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "overhead/setup.rs"]
mod setup;
#[path = "../tests/support/two_write.rs"]
mod two_write;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lambda_mesh_emulator::{Emulator, EmulatorConfig};
use setup::{percentile, Candidate};

/// Rounds (the first one discarded as warm-up) × invokes per batch.
const ROUNDS: usize = 10;
const BATCH: usize = 20;
const DIRECT: &str = "direct";
/// How long hello-python may take to start listening.
const PYTHON_START: Duration = Duration::from_secs(10);

/// examples/hello-python on a free port; killed when dropped.
struct Python(Child, SocketAddr);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_python() -> Python {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .arg(setup::root().join("examples/hello-python/app.py"))
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < PYTHON_START,
            "hello-python did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Python(child, addr)
}

/// An HTTP API (v2) `GET /hello?name=bench`.
fn event() -> Bytes {
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/hello",
        "rawQueryString": "name=bench", "headers": {},
        "requestContext": {"http": {"method": "GET", "path": "/hello", "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "bench"}, "requestId": "r", "stage": "$default",
            "accountId": "1", "apiId": "a", "domainName": "d", "routeKey": "$default",
            "time": "t", "timeEpoch": 0},
        "isBase64Encoded": false
    })
    .to_string()
    .into()
}

/// A plain keep-alive client (hyper, `TCP_NODELAY`, no `TCP_QUICKACK`) straight to `addr`.
async fn direct_batch(addr: SocketAddr, count: usize) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut samples = Vec::with_capacity(count);
    // One untimed request first: a fresh connection's first exchanges are acknowledged at once.
    for i in 0..=count {
        let request = Request::get("/hello?name=bench")
            .header("host", "service")
            .body(Full::<Bytes>::default())
            .unwrap();
        let started = Instant::now();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert!(response.status().is_success());
        response.into_body().collect().await.unwrap();
        if i > 0 {
            samples.push(started.elapsed());
        }
    }
    samples
}

fn candidates() -> Vec<Candidate> {
    let mesh = std::env::var_os("MESH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let layer = setup::root().join("target/layer/extensions/lambda-mesh");
            if layer.exists() {
                layer
            } else {
                PathBuf::from(env!("CARGO_BIN_EXE_lambda-mesh-extension"))
            }
        });
    let mut candidates = vec![Candidate {
        label: "lambda-mesh",
        name: "lambda-mesh",
        binary: mesh,
        port_var: "LAMBDA_MESH_PORT",
        env: &[],
    }];
    if let Some(baseline) = std::env::var_os("MESH_BASELINE_BIN") {
        candidates.push(Candidate {
            label: "lambda-mesh-baseline",
            name: "lambda-mesh",
            binary: PathBuf::from(baseline),
            port_var: "LAMBDA_MESH_PORT",
            env: &[],
        });
    }
    let lwa = std::env::var_os("LWA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| setup::root().join(".tools/bin/lambda-adapter"));
    if lwa.exists() {
        candidates.push(Candidate {
            label: "aws-lambda-web-adapter",
            name: "lambda-adapter",
            binary: lwa,
            port_var: "AWS_LWA_PORT",
            env: &[],
        });
    } else {
        eprintln!(
            "{} not found: LWA rows skipped (make deps-lwa)",
            lwa.display()
        );
    }
    candidates
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

async fn bench() {
    let python = start_python();
    let two_write = two_write::start().await;
    let nodelay = setup::start_service().await;
    let services: [(&str, SocketAddr); 3] = [
        ("hello-python", python.1),
        ("two-write", two_write.addr),
        ("hyper", nodelay),
    ];
    let candidates = candidates();
    let layers: Vec<_> = candidates.iter().map(setup::layer).collect();
    let mut functions = Vec::new();
    for (candidate, (layer_dir, code)) in candidates.iter().zip(&layers) {
        for (service, addr) in services {
            let mut function =
                setup::function(candidate, layer_dir.path(), code.path(), addr.port());
            function.name = format!("{}_{service}", candidate.label);
            functions.push(function);
        }
    }
    let emulator = Emulator::start(EmulatorConfig { functions }).await.unwrap();
    let payload = event();

    let mut targets = vec![DIRECT];
    targets.extend(candidates.iter().map(|c| c.label));
    let mut latency: HashMap<(&str, &str), Vec<Duration>> = HashMap::new();
    for round in 0..=ROUNDS {
        for k in 0..targets.len() {
            let target = targets[(round + k) % targets.len()];
            for (service, addr) in services {
                let samples = match target {
                    DIRECT => direct_batch(addr, BATCH).await,
                    label => {
                        let name = format!("{label}_{service}");
                        setup::invoke_batch(&emulator, &name, &payload, BATCH).await
                    }
                };
                // Round 0 starts every environment and is not counted.
                if round > 0 {
                    latency
                        .entry((target, service))
                        .or_default()
                        .extend(samples);
                }
            }
        }
    }
    emulator.shutdown().await;
    drop(python);

    println!("{} samples per cell; p50 / p99 (ms)\n", ROUNDS * BATCH);
    println!(
        "| target | examples/hello-python (two writes, no NODELAY) | two-write Rust service (no NODELAY) | hyper service (NODELAY, one write) |"
    );
    println!("|---|---|---|---|");
    for target in targets {
        let label = if target == DIRECT {
            "service called directly (hyper client, keep-alive, NODELAY)"
        } else {
            target
        };
        let cells: Vec<String> = services
            .iter()
            .map(|(service, _)| {
                let samples = latency.get_mut(&(target, *service)).unwrap();
                format!(
                    "{} / {}",
                    ms(percentile(samples, 0.5)),
                    ms(percentile(samples, 0.99))
                )
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a `cargo test --benches` run passes nothing and only checks
    // that this file builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}
