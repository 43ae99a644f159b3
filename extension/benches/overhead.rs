//! lambda-mesh-extension beside aws-lambda-web-adapter on the same emulator, in the same run:
//! per-invoke overhead over calling the service directly (p50/p99, 1 KiB and 1 MiB bodies), time
//! from process start to ready, RSS while serving, stripped binary size.
//!
//! Run: `cargo bench -p lambda-mesh-extension --bench overhead` (or `make bench`). LWA is taken
//! from `.tools/bin/lambda-adapter` (`make deps-lwa`) or `$LWA_BIN`; without it only our rows print.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig, InvokeRequest};
use tokio::net::TcpListener;

const SMALL: usize = 1024;
const LARGE: usize = 1024 * 1024;
const SMALL_ROUNDS: usize = 1000;
const LARGE_ROUNDS: usize = 60;
const READY_ROUNDS: usize = 21;

struct Candidate {
    label: &'static str,
    /// File name under `extensions/`.
    name: &'static str,
    binary: PathBuf,
    /// How this extension is told the service's port.
    port_var: &'static str,
    /// More environment for the function.
    env: &'static [(&'static str, &'static str)],
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Echoes the request body.
async fn start_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/octet-stream")
                            .body(Full::new(body))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn layer(candidate: &Candidate) -> (tempfile::TempDir, tempfile::TempDir) {
    let layer = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(layer.path().join("extensions")).unwrap();
    std::fs::copy(
        &candidate.binary,
        layer.path().join("extensions").join(candidate.name),
    )
    .unwrap();
    std::fs::copy(
        root().join("extension/layer/bootstrap"),
        layer.path().join("bootstrap"),
    )
    .unwrap();
    let code = tempfile::tempdir().unwrap();
    let script = code.path().join("wait.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 600\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (layer, code)
}

fn function(candidate: &Candidate, layer: &Path, code: &Path, port: u16) -> FunctionConfig {
    let mut function = FunctionConfig::new(candidate.label, code);
    function.handler = "wait.sh".into();
    function.layers = vec![layer.to_path_buf()];
    function.concurrency = 1;
    function.timeout = 30;
    function.memory_mb = 512;
    function
        .environment
        .insert(candidate.port_var.into(), port.to_string());
    for (key, value) in candidate.env {
        function.environment.insert((*key).into(), (*value).into());
    }
    function
}

fn event(body: &[u8]) -> Bytes {
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/echo", "rawQueryString": "",
        "headers": {"content-type": "application/octet-stream"},
        "requestContext": {"http": {"method": "POST", "path": "/echo", "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "bench"}, "requestId": "r", "stage": "$default",
            "accountId": "1", "apiId": "a", "domainName": "d", "routeKey": "$default",
            "time": "t", "timeEpoch": 0},
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    })
    .to_string()
    .into()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

async fn direct(addr: SocketAddr, size: usize, rounds: usize) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let body = Bytes::from(vec![b'x'; size]);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let request = Request::post("/echo")
            .header("host", "service")
            .body(Full::new(body.clone()))
            .unwrap();
        let started = Instant::now();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        samples.push(started.elapsed());
        assert_eq!(answer.len(), size);
    }
    samples
}

async fn invoked(emulator: &Emulator, name: &str, size: usize, rounds: usize) -> Vec<Duration> {
    let payload = event(&vec![b'x'; size]);
    let mut samples = Vec::with_capacity(rounds);
    let mut attempts = 0;
    while samples.len() < rounds && attempts < rounds * 20 {
        attempts += 1;
        let request = InvokeRequest {
            function: name.into(),
            payload: payload.clone(),
            ..InvokeRequest::default()
        };
        let started = Instant::now();
        match emulator.invoke(request).await {
            Ok(response) => {
                let elapsed = started.elapsed();
                assert!(
                    response.function_error.is_none(),
                    "{}",
                    String::from_utf8_lossy(&response.payload)
                );
                samples.push(elapsed);
            }
            // Concurrency 1: the environment is free again only once the runtime asks for more.
            Err(_) => tokio::time::sleep(Duration::from_micros(200)).await,
        }
    }
    samples
}

/// VmRSS, RssAnon and VmHWM (KiB) of this process's child running `extensions/NAME` (the
/// emulator runs in-process, so the extension is our child).
fn rss_of(name: &str) -> Option<(u64, u64, u64)> {
    let me = std::process::id().to_string();
    let marker = format!("extensions/{name}");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(&marker) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_owned)
        };
        if field("PPid:").as_deref() != Some(me.as_str()) {
            continue;
        }
        let kib = |name: &str| field(name).and_then(|v| v.parse().ok());
        return Some((kib("VmRSS:")?, kib("RssAnon:")?, kib("VmHWM:")?));
    }
    None
}

fn stripped_size(binary: &Path) -> Option<u64> {
    let copy = tempfile::NamedTempFile::new().ok()?;
    std::fs::copy(binary, copy.path()).ok()?;
    let status = std::process::Command::new("strip")
        .arg(copy.path())
        .status()
        .ok()?;
    status
        .success()
        .then(|| std::fs::metadata(copy.path()).ok().map(|m| m.len()))?
}

/// The emulator's own floor: this binary as a function's runtime that answers every invocation
/// with a ready-made result of `NULL_RESULT_BYTES` body bytes, calling no service.
fn null_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
        let size: usize = std::env::var("NULL_RESULT_BYTES").unwrap().parse().unwrap();
        let result = Bytes::from(
            serde_json::json!({
                "statusCode": 200,
                "headers": {"content-type": "application/octet-stream"},
                "body": base64::engine::general_purpose::STANDARD.encode(vec![b'x'; size]),
                "isBase64Encoded": true
            })
            .to_string(),
        );
        let stream = tokio::net::TcpStream::connect(api.as_str()).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        loop {
            sender.ready().await.unwrap();
            let next = Request::get("/2018-06-01/runtime/invocation/next")
                .header("host", api.as_str())
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = sender.send_request(next).await.unwrap();
            let id = response.headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            response.into_body().collect().await.unwrap();
            sender.ready().await.unwrap();
            let post = Request::post(format!("/2018-06-01/runtime/invocation/{id}/response"))
                .header("host", api.as_str())
                .body(Full::new(result.clone()))
                .unwrap();
            let response = sender.send_request(post).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
    });
}

/// p50/p99 of invoking the null runtime, per body size.
async fn null_floor(size: usize, rounds: usize) -> (Duration, Duration) {
    let code = tempfile::tempdir().unwrap();
    let bootstrap = code.path().join("bootstrap");
    let exe = std::env::current_exe().unwrap();
    std::fs::write(
        &bootstrap,
        format!("#!/bin/sh\nexec '{}' --null-runtime\n", exe.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut function = FunctionConfig::new("null", code.path());
    function.concurrency = 1;
    function.timeout = 30;
    function.memory_mb = 512;
    function
        .environment
        .insert("NULL_RESULT_BYTES".into(), size.to_string());
    let emulator = Emulator::start(EmulatorConfig {
        functions: vec![function],
    })
    .await
    .unwrap();
    invoked(&emulator, "null", size, 20).await;
    let mut samples = invoked(&emulator, "null", size, rounds).await;
    emulator.shutdown().await;
    (
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
    )
}

struct Row {
    label: &'static str,
    small: (Duration, Duration),
    large: (Duration, Duration),
    ready: Duration,
    /// (VmRSS, RssAnon, VmHWM) in KiB after the 1 KiB phase and after the 1 MiB phase.
    rss_small: Option<(u64, u64, u64)>,
    rss_large: Option<(u64, u64, u64)>,
    size: Option<u64>,
}

/// The emulator's init time (extension start → registered, service ready, runtime in `next`).
async fn time_to_ready(candidate: &Candidate, service: SocketAddr) -> Option<Duration> {
    let (layer_dir, code) = layer(candidate);
    let init = std::sync::Arc::new(std::sync::Mutex::new(None));
    let hook = init.clone();
    let functions = vec![function(
        candidate,
        layer_dir.path(),
        code.path(),
        service.port(),
    )];
    let emulator = Emulator::start_with_hook(EmulatorConfig { functions }, move |_, result| {
        *hook.lock().unwrap() = Some(result)
    })
    .await
    .unwrap();
    emulator.shutdown().await;
    let result = init.lock().unwrap().clone();
    match result {
        Some(Ok(ready)) => Some(ready),
        failure => {
            eprintln!("{}: init failed: {failure:?}", candidate.label);
            None
        }
    }
}

async fn measure(
    candidate: &Candidate,
    ready: Duration,
    service: SocketAddr,
    direct_small: (Duration, Duration),
    direct_large: (Duration, Duration),
) -> Row {
    let (layer_dir, code) = layer(candidate);
    let emulator = Emulator::start(EmulatorConfig {
        functions: vec![function(
            candidate,
            layer_dir.path(),
            code.path(),
            service.port(),
        )],
    })
    .await
    .unwrap();
    invoked(&emulator, candidate.label, SMALL, 50).await; // warm-up
    let mut small = invoked(&emulator, candidate.label, SMALL, SMALL_ROUNDS).await;
    let rss_small = rss_of(candidate.name);
    let mut large = invoked(&emulator, candidate.label, LARGE, LARGE_ROUNDS).await;
    let rss_large = rss_of(candidate.name);
    emulator.shutdown().await;
    let over = |mut samples: Vec<Duration>, direct: (Duration, Duration)| {
        let p50 = percentile(&mut samples, 0.5).saturating_sub(direct.0);
        let p99 = percentile(&mut samples, 0.99).saturating_sub(direct.1);
        (p50, p99)
    };
    Row {
        label: candidate.label,
        small: over(std::mem::take(&mut small), direct_small),
        large: over(std::mem::take(&mut large), direct_large),
        ready,
        rss_small,
        rss_large,
        size: stripped_size(&candidate.binary),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--null-runtime") {
        return null_runtime();
    }
    // `cargo bench` passes `--bench`; a `cargo test --benches` run passes nothing and only checks
    // that this file builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = start_service().await;
        let mut small = direct(service, SMALL, 50).await;
        small.clear(); // warm-up
        small.extend(direct(service, SMALL, SMALL_ROUNDS).await);
        let mut large = direct(service, LARGE, LARGE_ROUNDS).await;
        let direct_small = (percentile(&mut small, 0.5), percentile(&mut small, 0.99));
        let direct_large = (percentile(&mut large, 0.5), percentile(&mut large, 0.99));
        // The layer's stripped release binary when `make layer` built one, else this build's.
        let mesh = std::env::var_os("MESH_BIN").map(PathBuf::from).unwrap_or_else(|| {
            let layer = root().join("target/layer/extensions/lambda-mesh");
            if layer.exists() {
                layer
            } else {
                PathBuf::from(env!("CARGO_BIN_EXE_lambda-mesh-extension"))
            }
        });
        let mut candidates = vec![
            Candidate {
                label: "lambda-mesh",
                name: "lambda-mesh",
                binary: mesh.clone(),
                port_var: "LAMBDA_MESH_PORT",
                env: &[],
            },
            Candidate {
                label: "lambda-mesh-tuned",
                name: "lambda-mesh",
                binary: mesh,
                port_var: "LAMBDA_MESH_PORT",
                env: &[("LAMBDA_MESH_MALLOC_TUNING", "true")],
            },
        ];
        let lwa = std::env::var_os("LWA_BIN").map(PathBuf::from).unwrap_or_else(|| root().join(".tools/bin/lambda-adapter"));
        if lwa.exists() {
            candidates.push(Candidate {
                label: "aws-lambda-web-adapter",
                name: "lambda-adapter",
                binary: lwa,
                port_var: "AWS_LWA_PORT",
                env: &[],
            });
        } else {
            eprintln!("{} not found: LWA rows skipped (make deps-lwa)", lwa.display());
        }
        let null_small = null_floor(SMALL, SMALL_ROUNDS).await;
        let null_large = null_floor(LARGE, LARGE_ROUNDS).await;
        println!(
            "emulator floor (a runtime answering at once, no service): 1 KiB p50 {} ms p99 {} ms; 1 MiB p50 {} ms p99 {} ms",
            ms(null_small.0),
            ms(null_small.1),
            ms(null_large.0),
            ms(null_large.1)
        );
        println!("direct to the service: 1 KiB p50 {} ms p99 {} ms; 1 MiB p50 {} ms p99 {} ms",
            ms(direct_small.0), ms(direct_small.1), ms(direct_large.0), ms(direct_large.1));
        println!();
        println!("| extension | 1 KiB: invoke − direct p50 / p99 (ms) | 1 KiB: net of emulator floor p50 (ms) | 1 MiB: invoke − direct p50 / p99 (ms) | 1 MiB: net of emulator floor p50 (ms) | time to ready p50 (ms) | RSS (anonymous) after 1 KiB / after 1 MiB, peak (MiB) | stripped binary (MB) |");
        println!("|---|---|---|---|---|---|---|---|");
        // Time to ready, the candidates interleaved so background load hits both alike.
        let mut ready: Vec<Vec<Duration>> = vec![Vec::new(); candidates.len()];
        // The order rotates each round, so no candidate always follows the same one.
        for round in 0..READY_ROUNDS {
            for k in 0..candidates.len() {
                let i = (round + k) % candidates.len();
                // A failed init (aws-lambda-web-adapter registers from a spawned task and may
                // reach invocation/next first, which closes registration) is left out.
                if let Some(time) = time_to_ready(&candidates[i], service).await {
                    ready[i].push(time);
                }
            }
        }
        for (candidate, mut samples) in candidates.iter().zip(ready) {
            let failed = READY_ROUNDS - samples.len();
            let ready = if samples.is_empty() {
                Duration::ZERO
            } else {
                percentile(&mut samples, 0.5)
            };
            if failed > 0 {
                eprintln!("{}: {failed} of {READY_ROUNDS} inits failed", candidate.label);
            }
            let row = measure(candidate, ready, service, direct_small, direct_large).await;
            let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
            let rss = match (row.rss_small, row.rss_large) {
                (Some((small, small_anon, _)), Some((large, large_anon, peak))) => format!(
                    "{} ({}) / {} ({}) / {}",
                    mib(small),
                    mib(small_anon),
                    mib(large),
                    mib(large_anon),
                    mib(peak)
                ),
                _ => "n/a".into(),
            };
            let size = row
                .size
                .map_or("n/a".into(), |s| format!("{:.2}", s as f64 / 1_000_000.0));
            println!(
                "| {} | {} / {} | {} | {} / {} | {} | {} | {} | {} |",
                row.label,
                ms(row.small.0),
                ms(row.small.1),
                ms(row.small.0.saturating_sub(null_small.0)),
                ms(row.large.0),
                ms(row.large.1),
                ms(row.large.0.saturating_sub(null_large.0)),
                ms(row.ready),
                rss,
                size
            );
        }
    });
}
