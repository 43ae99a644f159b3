//! What the benchmark runs against: the echo service, layers, functions, events, clients, and
//! the numbers it reads from /proc.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_mesh_emulator::{Emulator, FunctionConfig, InvokeRequest};
use tokio::net::TcpListener;

/// An extension under test.
pub struct Candidate {
    /// Row label and function name.
    pub label: &'static str,
    /// File name under `extensions/`.
    pub name: &'static str,
    pub binary: PathBuf,
    /// How this extension is told the service's port.
    pub port_var: &'static str,
    /// More environment for the function.
    pub env: &'static [(&'static str, &'static str)],
}

pub use lambda_mesh_tests::workspace::root;

/// An HTTP/1.1 service on 127.0.0.1:0 that echoes the request body.
pub async fn start_service() -> SocketAddr {
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

/// A layer holding the candidate plus a code directory whose handler only waits.
pub fn layer(candidate: &Candidate) -> (tempfile::TempDir, tempfile::TempDir) {
    (
        lambda_mesh_tests::layer::layer_with(&candidate.binary, candidate.name),
        lambda_mesh_tests::layer::waiting_code(),
    )
}

pub fn function(candidate: &Candidate, layer: &Path, code: &Path, port: u16) -> FunctionConfig {
    let mut function = FunctionConfig::new(candidate.label, code);
    function.handler = "wait.sh".into();
    function.layers = vec![layer.to_path_buf()];
    function.concurrency = 1;
    // Init is measured once, at start: the emulator starts on-demand environments at the first invoke.
    function.provisioned_concurrency = 1;
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

/// An HTTP API (v2) event POSTing `body` to `/echo`.
pub fn event(body: &[u8]) -> Bytes {
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

pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

/// One keep-alive connection straight to the service.
pub struct Direct(SendRequest<Full<Bytes>>);

impl Direct {
    pub async fn connect(addr: SocketAddr) -> Direct {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Direct(sender)
    }

    pub async fn batch(&mut self, size: usize, count: usize) -> Vec<Duration> {
        let body = Bytes::from(vec![b'x'; size]);
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let request = Request::post("/echo")
                .header("host", "service")
                .body(Full::new(body.clone()))
                .unwrap();
            let started = Instant::now();
            self.0.ready().await.unwrap();
            let response = self.0.send_request(request).await.unwrap();
            let answer = response.into_body().collect().await.unwrap().to_bytes();
            samples.push(started.elapsed());
            assert_eq!(answer.len(), size);
        }
        samples
    }
}

/// `count` synchronous invokes of `name`, each timed.
pub async fn invoke_batch(
    emulator: &Emulator,
    name: &str,
    payload: &Bytes,
    count: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(count);
    let mut attempts = 0;
    while samples.len() < count && attempts < count * 50 {
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
                    "{name}: {}",
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

/// VmRSS, RssAnon and VmHWM (KiB) of our child process running an extension for `function`
/// (the emulator runs in-process, so extensions are children of this process).
pub fn rss_of(function: &str) -> Option<(u64, u64, u64)> {
    let me = std::process::id().to_string();
    let marker = format!("AWS_LAMBDA_FUNCTION_NAME={function}\0");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains("/extensions/") {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if !String::from_utf8_lossy(&environ).contains(&marker) {
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
        // For looking into where the memory is: `BENCH_SMAPS_DIR=dir` keeps each reading's smaps.
        if let Some(dir) = std::env::var_os("BENCH_SMAPS_DIR") {
            let name = format!("{function}-{}.smaps", kib_now(&status));
            let _ = std::fs::copy(entry.path().join("smaps"), Path::new(&dir).join(name));
        }
        let kib = |name: &str| field(name).and_then(|v| v.parse().ok());
        return Some((kib("VmRSS:")?, kib("RssAnon:")?, kib("VmHWM:")?));
    }
    None
}

/// VmRSS in KiB, to tell smaps dumps apart.
fn kib_now(status: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0")
        .to_owned()
}

/// The size of `binary` after `strip`.
pub fn stripped_size(binary: &Path) -> Option<u64> {
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
