//! Sequential trivial invokes through the Invoke API to a lambda_runtime echo function, on this
//! emulator and on cargo-lambda's `cargo lambda watch` in the same run: p50 / p90 / p99.
//!
//! `cargo bench -p lambda-mesh-emulator --bench invoke` (env `BENCH_INVOKES`, default 2000;
//! `BENCH_FUNCTION=raw` measures with a framework-free runtime loop instead of lambda_runtime;
//! `BENCH_CARGO_LAMBDA=off` measures this emulator alone, for profiling).
//! The bench binary is its own echo function: started with `LAMBDA_EMULATOR_BENCH_ROLE=echo`, it
//! runs lambda_runtime instead of the benchmark, so both emulators run the very same function.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig};

const ROLE: &str = "LAMBDA_EMULATOR_BENCH_ROLE";
const WARMUP: usize = 100;
/// Measurements alternate between the emulators in this many blocks.
const BLOCKS: usize = 20;

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("raw") {
        raw_echo_runtime();
        return;
    }
    if std::env::var(ROLE).as_deref() == Ok("echo") {
        // The function: lambda_runtime on the multi-threaded runtime `#[tokio::main]` gives.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let handler = lambda_runtime::service_fn(
            |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
                Ok::<_, lambda_runtime::Error>(event.payload)
            },
        );
        let _ = runtime.block_on(lambda_runtime::run(handler));
        return;
    }
    // The client, on a current-thread runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let invokes: usize = std::env::var("BENCH_INVOKES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    runtime.block_on(bench(invokes));
}

async fn bench(invokes: usize) {
    // BENCH_FUNCTION=raw swaps lambda_runtime for a framework-free runtime loop.
    let role = match std::env::var("BENCH_FUNCTION").as_deref() {
        Ok("raw") => "raw",
        _ => "echo",
    };
    let me = std::env::current_exe().unwrap();
    // lambda-emulator runs as its own process, as cargo-lambda does, with the bench binary as
    // the function's bootstrap: the client reaches both emulators across a process boundary.
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    let config = dir.path().join("functions.toml");
    std::fs::write(
        &config,
        format!(
            "[[function]]\nname = \"echo\"\ncode = {code:?}\nbootstrap = {me:?}\n\n[function.environment]\n{ROLE} = \"{role}\"\n"
        ),
    )
    .unwrap();
    let mut children = Vec::new();
    let mut emulators = Vec::new();
    // BENCH_EMULATOR_BINS=a,b adds other lambda-emulator builds to the same run (A/B tests).
    let mut bins = vec![PathBuf::from(env!("CARGO_BIN_EXE_lambda-emulator"))];
    if let Ok(extra) = std::env::var("BENCH_EMULATOR_BINS") {
        bins.extend(
            extra
                .split(',')
                .filter(|b| !b.is_empty())
                .map(PathBuf::from),
        );
    }
    let mut targets = Vec::new();
    for (i, bin) in bins.iter().enumerate() {
        let (child, addr) = spawn_emulator(bin, &config);
        emulators.push(child);
        let name = match i {
            0 => "lambda-emulator".to_owned(),
            _ => format!("lambda-emulator ({})", bin.display()),
        };
        targets.push((name, Target::connect(&addr, "echo").await));
    }
    // BENCH_IN_PROCESS=1 adds the emulator as a library in this process, on the client's thread:
    // no process boundary between client and emulator (how tests embed it).
    let in_process = if std::env::var("BENCH_IN_PROCESS").as_deref() == Ok("1") {
        let mut function = FunctionConfig::new("echo", &code);
        function.bootstrap = Some(me.clone());
        function.environment.insert(ROLE.into(), role.into());
        let emulator = Emulator::start(EmulatorConfig {
            functions: vec![function],
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let served = emulator.clone();
        tokio::spawn(async move { served.serve_invoke_api(listener).await });
        targets.push((
            "lambda-emulator, in-process library".to_owned(),
            Target::connect(&addr, "echo").await,
        ));
        Some(emulator)
    } else {
        None
    };
    let cargo_lambda = match std::env::var("BENCH_CARGO_LAMBDA").as_deref() {
        Ok("off") => None,
        _ => find_cargo_lambda(),
    };
    match cargo_lambda {
        None => eprintln!("cargo-lambda not found (PATH, .venv/bin) or BENCH_CARGO_LAMBDA=off: measuring this emulator only"),
        Some(cargo_lambda) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            children.push(
                Command::new(cargo_lambda)
                    .args([
                        "lambda",
                        "watch",
                        "--only-lambda-apis",
                        "-A",
                        "127.0.0.1",
                        "-P",
                    ])
                    .arg(port.to_string())
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            let until = Instant::now() + Duration::from_secs(30);
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                assert!(Instant::now() < until, "cargo-lambda did not start");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            children.push(
                Command::new(&me)
                    .env(ROLE, role)
                    .env(
                        "AWS_LAMBDA_RUNTIME_API",
                        format!("http://127.0.0.1:{port}/.rt"),
                    )
                    .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            let theirs = Target::connect(&format!("127.0.0.1:{port}"), "_").await;
            targets.push(("cargo lambda watch".to_owned(), theirs));
        }
    }
    // Warm up, then alternate blocks so both see the same machine load.
    for (_, target) in &mut targets {
        target.run(WARMUP).await;
        target.samples.clear();
    }
    for _ in 0..BLOCKS {
        for (_, target) in &mut targets {
            target.run(invokes.div_ceil(BLOCKS)).await;
        }
    }
    let rows: Vec<(String, Vec<u128>)> = targets.into_iter().map(|(n, t)| (n, t.samples)).collect();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    // SIGTERM: lambda-emulator spins its environments down and exits.
    for emulator in &mut emulators {
        let _ = Command::new("kill").arg(emulator.id().to_string()).status();
        let _ = emulator.wait();
    }
    if let Some(emulator) = in_process {
        emulator.shutdown().await;
    }

    let function = if role == "raw" {
        "a raw HTTP/1.1 echo runtime"
    } else {
        "a lambda_runtime echo function"
    };
    println!("\n{function}: sequential trivial invokes ({invokes} each after {WARMUP} warm-up, in {BLOCKS} alternating blocks), Invoke API over HTTP/1.1 keep-alive\n");
    println!("| emulator | p50 (µs) | p90 (µs) | p99 (µs) | mean (µs) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, samples) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} |",
            percentile(samples, 50.0),
            percentile(samples, 90.0),
            percentile(samples, 99.0),
            samples.iter().sum::<u128>() / samples.len().max(1) as u128
        );
    }
    if let Some((_, theirs)) = rows.iter().find(|(n, _)| n == "cargo lambda watch") {
        println!();
        for (name, ours) in rows.iter().filter(|(n, _)| n != "cargo lambda watch") {
            let ratio = percentile(ours, 50.0) as f64 / percentile(theirs, 50.0).max(1) as f64;
            println!("p50 ratio {name} / cargo-lambda: {ratio:.2} (goal ≤ 0.50)");
        }
    }
}

/// Start `lambda-emulator` with `config`; its bound address from the `listening on` line.
fn spawn_emulator(bin: &Path, config: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{} said {first:?}", bin.display()))
        .to_owned();
    // Keep reading its stdout (the `ready` lines) so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn find_cargo_lambda() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(repo.join(".venv/bin"));
    dirs.into_iter()
        .map(|d| d.join("cargo-lambda"))
        .find(|p| p.is_file())
}

/// One Invoke API endpoint on a keep-alive connection, and its latencies in µs.
struct Target {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: String,
    path: String,
    samples: Vec<u128>,
}

impl Target {
    async fn connect(addr: &str, function: &str) -> Target {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Target {
            sender,
            addr: addr.to_owned(),
            path: format!("/2015-03-31/functions/{function}/invocations"),
            samples: Vec::new(),
        }
    }

    /// `count` sequential invokes.
    async fn run(&mut self, count: usize) {
        let payload = Bytes::from_static(br#"{"bench":true}"#);
        for _ in 0..count {
            let request = http::Request::post(&self.path)
                .header("host", &self.addr)
                .header("content-type", "application/json")
                .body(Full::new(payload.clone()))
                .unwrap();
            self.sender.ready().await.unwrap();
            let started = Instant::now();
            let response = self.sender.send_request(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let took = started.elapsed().as_micros();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            assert_eq!(body, payload);
            self.samples.push(took);
        }
    }
}

/// The smallest possible echo runtime: blocking HTTP/1.1 on one keep-alive connection, no
/// framework. It isolates the emulators' own overhead from lambda_runtime's.
fn raw_echo_runtime() {
    use std::io::{BufRead, BufReader, Read, Write};
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
    let api = api.trim_start_matches("http://");
    let (authority, prefix) = match api.split_once('/') {
        Some((authority, prefix)) => (authority.to_owned(), format!("/{prefix}")),
        None => (api.to_owned(), String::new()),
    };
    let stream = std::net::TcpStream::connect(&authority).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // Read one response: (request id header, body).
    let read_response = |reader: &mut BufReader<std::net::TcpStream>| -> Option<(String, Vec<u8>)> {
        let (mut length, mut id) = (0usize, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().ok()?,
                    "lambda-runtime-aws-request-id" => id = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some((id, body))
    };
    loop {
        let next = format!(
            "GET {prefix}/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {authority}\r\n\r\n"
        );
        if writer.write_all(next.as_bytes()).is_err() {
            return;
        }
        let Some((id, body)) = read_response(&mut reader) else {
            return;
        };
        let head = format!(
            "POST {prefix}/2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.write_all(&body))
            .is_err()
        {
            return;
        }
        if read_response(&mut reader).is_none() {
            return;
        }
    }
}

fn percentile(samples: &[u128], p: f64) -> u128 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return 0;
    }
    let index = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
