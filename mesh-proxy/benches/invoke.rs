//! The aws invoker at the cost of a plain proxy (`cargo bench -p mesh-proxy --bench invoke`, run
//! by `make bench`; issue 18). One null Invoke endpoint — nginx answering every request at once
//! with a small v2 result — and, in the same run, on the same cores, under the same load from
//! `wrk -t1`:
//!
//! - **direct**: wrk to the null endpoint;
//! - **nginx**, the anchor, twice: an nginx `proxy_pass` (keep-alive upstream) in front of it in
//!   the null endpoint's own worker (as issue 18 measured it), and in a process of its own;
//! - **mesh-proxy**: wrk to a mesh-proxy process (`RUST_LOG=warn`) whose `[[upstream]]` is an ARN
//!   with `[aws] endpoint_url` at the null endpoint and `retries = 0`: every request becomes a v2
//!   event, a SigV4-signed Invoke, and a decoded result.
//!
//! Prints a Markdown table (BENCHMARKS.md) and the goals: requests/s at 64 connections ≥ 0.8×
//! nginx's, added p50 at one connection ≤ 2× nginx's added. Needs `nginx` and `wrk` on PATH
//! (`apt-get install nginx wrk`); without them it says so and measures nothing.
//!
//! Where it favours mesh-proxy: nothing — nginx forwards bytes, mesh-proxy does more per request.
//! Where it favours nginx: in the first nginx row the proxy and the null endpoint are one worker,
//! so a request wakes one process where mesh-proxy's wakes two (itself twice, the endpoint once):
//! at one connection, where each wake-up costs, that row is the harder anchor; the second row
//! (one process each, as mesh-proxy has) is the like-for-like one. mesh-proxy's runtime has two
//! worker threads on the same two cores as wrk and nginx.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The small v2 result the null endpoint answers every Invoke with.
const RESULT: &str = r#"{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"ok"}"#;
const ONE_SECONDS: u64 = 5;
const LOAD_SECONDS: u64 = 10;
const CONNECTIONS: usize = 64;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (Some(nginx), Some(wrk)) = (on_path("nginx"), on_path("wrk")) else {
        println!("| aws invoker vs. nginx | not measured: `nginx` and `wrk` must be on PATH (apt-get install nginx wrk) |");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let null = free_port();
    let front = free_port();
    let apart = free_port();
    let mut endpoint = Nginx::start(
        &nginx,
        &dir.path().join("endpoint"),
        &format!("{}\n{}", null_server(null), proxy_server(front, null)),
    );
    let mut alone = Nginx::start(
        &nginx,
        &dir.path().join("proxy"),
        &proxy_server(apart, null),
    );
    let mut proxy = start_proxy(dir.path(), null);

    // What each row's proxy is: `None` for the null endpoint itself.
    enum Proxy {
        Endpoint,
        SameWorker,
        Alone,
        Mesh,
    }
    let targets = [
        ("direct to the null endpoint", null, Proxy::Endpoint),
        (
            "nginx `proxy_pass` (keep-alive upstream), in the null endpoint's worker",
            front,
            Proxy::SameWorker,
        ),
        (
            "nginx `proxy_pass` (keep-alive upstream), its own process",
            apart,
            Proxy::Alone,
        ),
        (
            "mesh-proxy `[[upstream]]`, ARN, `[aws] endpoint_url`",
            proxy.1,
            Proxy::Mesh,
        ),
    ];
    // Warm every path (connections, pools, the signing key) before measuring.
    for (_, port, _) in &targets {
        wrk_run(&wrk, *port, 4, 1);
    }
    let endpoint_workers = endpoint.workers();
    let alone_workers = alone.workers();
    let mesh = [proxy.0.id()];
    let mut rows = Vec::new();
    let mut null_cpu = 0.0;
    for (name, port, what) in &targets {
        let one = wrk_run(&wrk, *port, 1, ONE_SECONDS);
        let before = (cpu(&endpoint_workers), cpu(&alone_workers), cpu(&mesh));
        let many = wrk_run(&wrk, *port, CONNECTIONS, LOAD_SECONDS);
        let requests = many.rate * many.elapsed;
        let endpoint_cpu = (cpu(&endpoint_workers) - before.0) / requests;
        // The proxy's own CPU per request.
        let cpu_per_request = match what {
            Proxy::Endpoint => {
                null_cpu = endpoint_cpu;
                endpoint_cpu
            }
            // That worker was the proxy and the null endpoint.
            Proxy::SameWorker => (endpoint_cpu - null_cpu).max(0.0),
            Proxy::Alone => (cpu(&alone_workers) - before.1) / requests,
            Proxy::Mesh => (cpu(&mesh) - before.2) / requests,
        };
        rows.push((*name, one, many, cpu_per_request));
    }
    let _ = proxy.0.kill();
    let _ = proxy.0.wait();
    endpoint.stop();
    alone.stop();

    println!(
        "| `wrk -t1`, {}-byte v2 result, load {} | requests/s at {CONNECTIONS} connections ({LOAD_SECONDS} s) | p50 at {CONNECTIONS} | p50 at 1 connection ({ONE_SECONDS} s) | added over direct at 1 | CPU per request at {CONNECTIONS}: the proxy alone |",
        RESULT.len(),
        load_average()
    );
    println!("|---|---|---|---|---|---|");
    let direct_p50 = rows[0].1.p50;
    for (index, (name, one, many, cpu)) in rows.iter().enumerate() {
        let added = if index == 0 {
            "—".to_owned()
        } else {
            micros(one.p50.saturating_sub(direct_p50))
        };
        let cpu = if index == 0 {
            format!("{:.1} µs (the null endpoint)", cpu * 1e6)
        } else {
            format!("{:.1} µs", cpu * 1e6)
        };
        println!(
            "| {name} | {:.0} | {} | {} | {added} | {cpu} |",
            many.rate,
            micros(many.p50),
            micros(one.p50)
        );
    }
    let mesh_row = &rows[3];
    let mesh_added = mesh_row.1.p50.saturating_sub(direct_p50);
    for (anchor, nginx_row) in [("same worker", &rows[1]), ("own process", &rows[2])] {
        let ratio = mesh_row.2.rate / nginx_row.2.rate;
        let nginx_added = nginx_row.1.p50.saturating_sub(direct_p50);
        println!(
            "| goal: requests/s ≥ 0.8× nginx ({anchor}) | {ratio:.2}× | {} | | | |",
            if ratio >= 0.8 { "met" } else { "not met" }
        );
        println!(
            "| goal: added p50 at 1 ≤ 2× nginx's added ({anchor}) | {:.2}× | {} | | | |",
            mesh_added.as_secs_f64() / nginx_added.as_secs_f64().max(1e-9),
            if mesh_added <= nginx_added * 2 {
                "met"
            } else {
                "not met"
            }
        );
    }
}

/// The null endpoint: every request answered at once with [`RESULT`].
fn null_server(port: u16) -> String {
    format!("  server {{\n    listen 127.0.0.1:{port};\n    keepalive_requests 1000000;\n    location / {{ default_type application/json; return 200 '{RESULT}'; }}\n  }}")
}

/// A keep-alive `proxy_pass` on `port` to the null endpoint on `null`.
fn proxy_server(port: u16, null: u16) -> String {
    format!("  upstream null{port} {{ server 127.0.0.1:{null}; keepalive 128; }}\n  server {{\n    listen 127.0.0.1:{port};\n    keepalive_requests 1000000;\n    location / {{ proxy_pass http://null{port}; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n  }}")
}

/// What one wrk run measured.
struct Measured {
    rate: f64,
    p50: Duration,
    /// How long wrk ran, as it reports it.
    elapsed: f64,
}

fn wrk_run(wrk: &Path, port: u16, connections: usize, seconds: u64) -> Measured {
    let output = Command::new(wrk)
        .args(["-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    // Every request must have succeeded, or the rate would count errors.
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw failures on port {port}:\n{text}"
    );
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let p50 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("50%"))
        .and_then(|v| parse_wrk_duration(v.trim()))
        .unwrap_or_else(|| panic!("no 50% latency in wrk's output:\n{text}"));
    // `123456 requests in 10.00s, …`
    let elapsed = text
        .lines()
        .find_map(|l| l.split(" requests in ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .and_then(|d| parse_wrk_duration(d.trim()))
        .map_or(seconds as f64, |d| d.as_secs_f64());
    Measured { rate, p50, elapsed }
}

/// CPU seconds (user + system) the processes `pids` have used so far.
fn cpu(pids: &[u32]) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // Fields after the `(comm)`, which may hold spaces: utime and stime are 14 and 15.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = after.split_whitespace().collect();
            let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
            field(14).unwrap_or(0.0) + field(15).unwrap_or(0.0)
        })
        .sum::<f64>()
        / ticks
}

/// wrk's `123.45us`, `1.23ms`, `1.02s`.
fn parse_wrk_duration(text: &str) -> Option<Duration> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| Duration::from_secs_f64(n * scale))
}

fn micros(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A port free a moment ago (nginx binds its own listeners).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// One nginx (master + one worker) serving `servers`.
struct Nginx {
    child: Child,
    binary: PathBuf,
    dir: PathBuf,
}

impl Nginx {
    fn start(binary: &Path, dir: &Path, servers: &str) -> Nginx {
        let conf = dir.join("nginx.conf");
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {dir}/logs/error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n{servers}\n}}\n",
                pid = dir.join("nginx.pid").display(),
                dir = dir.display(),
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        for port in servers
            .split("listen 127.0.0.1:")
            .skip(1)
            .filter_map(|rest| rest.split(';').next()?.parse::<u16>().ok())
        {
            wait_listening(port);
        }
        Nginx {
            child,
            binary: binary.to_owned(),
            dir: dir.to_owned(),
        }
    }

    /// The worker processes (the master's children).
    fn workers(&self) -> Vec<u32> {
        let pid = self.child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let children: Vec<u32> =
                std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
            if !children.is_empty() || Instant::now() > deadline {
                return children;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nginx -s stop`: the master stops its workers (killing the master would orphan them).
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(self.child.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A mesh-proxy process invoking `arn:…:function:null` at the null endpoint; its child and the
/// upstream's port.
fn start_proxy(dir: &Path, null: u16) -> (Child, u16) {
    let path = dir.join("mesh.toml");
    std::fs::write(
        &path,
        format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://127.0.0.1:{null}\"\n[[upstream]]\ndestination_name = \"null\"\nlocal_bind_port = 0\nfunction = \"arn:aws:lambda:us-east-1:123456789012:function:null\"\nretries = 0\nmax_concurrency = 10000\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh-proxy"))
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "warn")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr: Option<SocketAddr> = None;
    for _ in 0..10 {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("upstream null listening on ") {
            addr = rest.parse().ok();
        }
        if line.starts_with("admin listening on") {
            break;
        }
    }
    // Keep reading (and dropping) its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        child,
        addr.expect("mesh-proxy printed no upstream address").port(),
    )
}
