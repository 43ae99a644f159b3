//! The terminating gateway's benchmark (`cargo bench -p mesh-proxy --bench gateway`, run by
//! `make bench`): full and resumed mTLS handshakes per second, and what a small request on a warm
//! mTLS connection adds through the `[gateway]` listener over the same request through a sidecar
//! `[[upstream]]` listener of the same mesh-proxy, to the same function. Prints Markdown tables
//! (see BENCHMARKS.md).
//!
//! Certificates are Consul-shaped (`lambda_mesh_tests::certs`): a root with a critical DNS name
//! constraint, leaves with only a SPIFFE URI SAN. The client is the one the gateway tests use, as
//! a Consul sidecar's Envoy does it (server chain and URI SAN checked, its own leaf presented).
//!
//! Process model: one process. mesh-proxy (with its embedded emulator) runs on one tokio runtime
//! of 2 workers, the clients on another of 2 workers, on the same 2 cores: the clients' half of
//! every handshake (their ECDHE, signature and chain checks) takes CPU from the server, so
//! handshakes/s is what the machine does with both ends on it. Each runtime's threads' CPU time
//! is read from `/proc/self/task/*/schedstat` so the server's own CPU per handshake is printed too.
//! The function is this executable with `MESH_BENCH_ROLE=function` (see `benches/proxy.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lambda_mesh_tests::certs::client::{client_config, ClientSpec};
use lambda_mesh_tests::certs::{
    roots_pem, service_id, service_sni, write_pem, TestCa, TestLeaf, TRUST_DOMAIN,
};
use mesh_proxy::{Config, Proxy};
use rustls::ClientConfig;

#[path = "proxy/function.rs"]
mod function;
#[path = "gateway/handshakes.rs"]
mod handshakes;
#[path = "gateway/latency.rs"]
mod latency;
#[path = "support/stats.rs"]
mod stats;

use handshakes::{handshakes, Rate, Threads};
use latency::Warm;
use stats::{fmt, quantile};

const ROLE: &str = "MESH_BENCH_ROLE";
/// The linked service behind the gateway, and the caller.
const DESTINATION: &str = "billing";
const CALLER: &str = "web";
/// Concurrent client tasks in the handshake loops.
const CLIENT_TASKS: usize = 8;
/// Each handshake loop: at most this many, for at most this long (after a warm-up of WARMUP).
const HANDSHAKES: u64 = 20_000;
const HANDSHAKE_TIME: Duration = Duration::from_secs(5);
const WARMUP: u64 = 200;
/// The latency rounds: warm-up, recorded, time bound.
const ROUNDS: (usize, usize, Duration) = (50, 5000, Duration::from_secs(60));
const BODY: usize = 1024;

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("function") {
        function::function();
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (server_threads, client_threads) = (Threads::default(), Threads::default());
    let server = runtime("server", &server_threads);
    let client = runtime("client", &client_threads);
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let config = Config::load(&pki.config, &Default::default(), |_| None).unwrap();
    let proxy = server.block_on(Proxy::start(config)).unwrap();
    client.block_on(bench(&proxy, &pki, (&server_threads, &client_threads)));
    server.block_on(proxy.shutdown());
}

/// A 2-worker runtime whose threads are recorded in `threads`.
fn runtime(name: &str, threads: &Threads) -> tokio::runtime::Runtime {
    let threads = threads.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .on_thread_start(move || threads.record_current())
        .enable_all()
        .build()
        .unwrap()
}

/// The cluster's files: roots, the linked service's leaf, the intention, the config.
struct Pki {
    roots: String,
    caller: TestLeaf,
    config: std::path::PathBuf,
}

impl Pki {
    fn write(dir: &Path) -> Pki {
        let ca = TestCa::consul(TRUST_DOMAIN);
        let roots = roots_pem(&[&ca]);
        write_pem(dir, "roots.pem", &roots);
        ca.service_leaf(DESTINATION).write(dir, DESTINATION);
        std::fs::create_dir(dir.join("entries")).unwrap();
        std::fs::write(
            dir.join("entries").join("intentions.hcl"),
            format!("Kind = \"service-intentions\"\nName = \"{DESTINATION}\"\nSources = [\n  {{\n    Name   = \"{CALLER}\"\n    Action = \"allow\"\n  }}\n]\n"),
        )
        .unwrap();
        let function = format!(
            "[[function]]\nname = \"echo\"\ncode = \"{}\"\nbootstrap = \"{}\"\nconcurrency = 2\ntimeout = 30\nmemory_mb = 1024\nenvironment = {{ {ROLE} = \"function\" }}\n",
            dir.display(),
            std::env::current_exe().unwrap().display()
        );
        let invoke = "function = \"echo\"\ntimeout = 60\nmax_concurrency = 10000\nretries = 10\n";
        let text = format!(
            "drain_timeout = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n[consul]\nconfig_entries = [\"entries/*.hcl\"]\n\
             [gateway]\nname = \"terminating-gateway\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\nca_file = \"roots.pem\"\n\
             [[gateway.service]]\nname = \"{DESTINATION}\"\ncert_file = \"{DESTINATION}.pem\"\nkey_file = \"{DESTINATION}-key.pem\"\n{invoke}\n\
             [[upstream]]\ndestination_name = \"echo\"\nlocal_bind_port = 0\n{invoke}\n{function}"
        );
        let config = dir.join("gateway.toml");
        std::fs::write(&config, text).unwrap();
        Pki {
            roots,
            caller: ca.service_leaf(CALLER),
            config,
        }
    }

    /// The caller's client: TLS 1.3 only, TLS 1.2 only or both (`None`), resuming or not.
    fn client(&self, tls12: Option<bool>, resumption: bool, alpn: &[u8]) -> Arc<ClientConfig> {
        let mut spec = ClientSpec::new(
            &self.roots,
            service_id(TRUST_DOMAIN, DESTINATION),
            &self.caller.chain_pem,
            &self.caller.key_pem,
        );
        spec.tls12_only = tls12 == Some(true);
        spec.tls13_only = tls12 == Some(false);
        spec.resumption = resumption;
        spec.alpn = vec![alpn.to_vec()];
        client_config(&spec).0
    }
}

async fn bench(proxy: &Proxy, pki: &Pki, threads: (&Threads, &Threads)) {
    let gateway = proxy.gateway_addr().unwrap();
    let sidecar = proxy.upstream_addr("echo").unwrap();
    let sni = service_sni(TRUST_DOMAIN, DESTINATION);

    println!("| handshakes ({CLIENT_TASKS} client tasks, ≤ {HANDSHAKES} or ≤ {} s) | done | per second | resumed | server CPU each | client CPU each | 2 cores ÷ server CPU each |", HANDSHAKE_TIME.as_secs());
    println!("|---|---|---|---|---|---|---|");
    for (label, tls12, resumption) in [
        ("TLS 1.3 full", false, false),
        ("TLS 1.2 full", true, false),
        ("TLS 1.3 resumed (tickets)", false, true),
        ("TLS 1.2 resumed (session id)", true, true),
    ] {
        let config = pki.client(Some(tls12), resumption, b"http/1.1");
        // The warm-up also fills the client's session store for the resumed rows.
        handshakes(
            gateway,
            &sni,
            config.clone(),
            CLIENT_TASKS,
            (WARMUP, HANDSHAKE_TIME),
            threads,
        )
        .await;
        let rate = handshakes(
            gateway,
            &sni,
            config,
            CLIENT_TASKS,
            (HANDSHAKES, HANDSHAKE_TIME),
            threads,
        )
        .await;
        print_rate(label, &rate);
    }

    let body = Bytes::from(vec![b'x'; BODY]);
    let mut connections = vec![
        Warm::plain(sidecar).await,
        Warm::mtls(gateway, &sni, pki.client(Some(false), true, b"http/1.1")).await,
        Warm::mtls(gateway, &sni, pki.client(Some(true), true, b"http/1.1")).await,
    ];
    let mut samples = latency::rounds(&mut connections, &body, ROUNDS).await;
    println!();
    println!("| {BODY} B POST, warm keep-alive HTTP/1.1, {} rounds | p50 | p99 | added p50 | added p99 |", samples[0].len());
    println!("|---|---|---|---|---|");
    let base: Vec<Duration> = [0.50, 0.99]
        .iter()
        .map(|q| quantile(&mut samples[0], *q))
        .collect();
    for (i, label) in [
        "sidecar listener (plain TCP)",
        "gateway listener, mTLS 1.3",
        "gateway listener, mTLS 1.2",
    ]
    .iter()
    .enumerate()
    {
        let (p50, p99) = (
            quantile(&mut samples[i], 0.50),
            quantile(&mut samples[i], 0.99),
        );
        let added = |p: Duration, b: Duration| {
            if i == 0 {
                String::new()
            } else {
                signed(p, b)
            }
        };
        println!(
            "| {label} | {} | {} | {} | {} |",
            fmt(p50),
            fmt(p99),
            added(p50, base[0]),
            added(p99, base[1])
        );
    }
}

fn print_rate(label: &str, rate: &Rate) {
    println!(
        "| {label} | {} in {:.2} s | **{:.0}** | {} | {} µs | {} µs | {:.0}/s |",
        rate.count,
        rate.elapsed.as_secs_f64(),
        rate.per_second(),
        rate.resumed,
        rate.server_cpu_each().as_micros(),
        rate.client_cpu_each().as_micros(),
        2.0 / rate.server_cpu_each().as_secs_f64().max(1e-9),
    );
}

/// `a - b` in µs, with its sign.
fn signed(a: Duration, b: Duration) -> String {
    let us = a.as_micros() as i128 - b.as_micros() as i128;
    format!("{us:+} µs")
}
