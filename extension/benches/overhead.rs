//! lambda-mesh-extension beside aws-lambda-web-adapter on the same emulator, in the same run:
//! per-invoke latency and overhead over calling the service directly (p50/p99, 1 KiB and 1 MiB
//! bodies), time from process start to ready, RSS while serving, stripped binary size.
//!
//! Run: `cargo bench -p lambda-mesh-extension --bench overhead` (or `make bench`). LWA is taken
//! from `.tools/bin/lambda-adapter` (`make deps-lwa`) or `$LWA_BIN`; ours from
//! `target/layer/extensions/lambda-mesh` (`make layer`), `$MESH_BIN`, or this build.
//!
//! Every target is measured in small batches taken in rotation (direct, emulator floor, each
//! extension), so background load on a shared machine hits them all alike.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "overhead/null_runtime.rs"]
mod null_runtime;
#[path = "overhead/setup.rs"]
mod setup;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use setup::{percentile, Candidate, Direct};

const SMALL: usize = 1024;
const LARGE: usize = 1024 * 1024;
/// (body size, rounds, batch size): every target gets rounds × batch samples.
const PHASES: [(usize, usize, usize); 2] = [(SMALL, 20, 50), (LARGE, 10, 6)];
const READY_ROUNDS: usize = 21;
const DIRECT: &str = "direct";
const FLOOR: &str = "floor";

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The emulator's init time (extension start → registered, service ready, runtime in `next`).
async fn time_to_ready(candidate: &Candidate, service: SocketAddr) -> Option<Duration> {
    let (layer_dir, code) = setup::layer(candidate);
    let init = std::sync::Arc::new(std::sync::Mutex::new(None));
    let hook = init.clone();
    let functions = vec![setup::function(
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
            // aws-lambda-web-adapter registers from a spawned task and may reach
            // invocation/next first, which closes registration.
            eprintln!("{}: init failed: {failure:?}", candidate.label);
            None
        }
    }
}

fn null_function(name: &str, size: usize, code: &std::path::Path) -> FunctionConfig {
    let mut function = FunctionConfig::new(name, code);
    function.concurrency = 1;
    function.timeout = 30;
    function.memory_mb = 512;
    function
        .environment
        .insert("NULL_RESULT_BYTES".into(), size.to_string());
    function
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

async fn bench() {
    let service = setup::start_service().await;
    let candidates = candidates();

    // Time to ready; the order rotates each round so no candidate always follows the same one.
    let mut ready: Vec<Vec<Duration>> = vec![Vec::new(); candidates.len()];
    for round in 0..READY_ROUNDS {
        for k in 0..candidates.len() {
            let i = (round + k) % candidates.len();
            if let Some(time) = time_to_ready(&candidates[i], service).await {
                ready[i].push(time);
            }
        }
    }

    // Latency: one emulator serving the null runtimes and every candidate at once.
    let null_code = null_runtime::code();
    let layers: Vec<_> = candidates.iter().map(setup::layer).collect();
    let mut functions = vec![
        null_function("floor-small", SMALL, null_code.path()),
        null_function("floor-large", LARGE, null_code.path()),
    ];
    for (candidate, (layer_dir, code)) in candidates.iter().zip(&layers) {
        functions.push(setup::function(
            candidate,
            layer_dir.path(),
            code.path(),
            service.port(),
        ));
    }
    let emulator = Emulator::start(EmulatorConfig { functions }).await.unwrap();
    let mut direct = Direct::connect(service).await;
    let mut targets = vec![DIRECT, FLOOR];
    targets.extend(candidates.iter().map(|c| c.label));
    let mut latency: HashMap<(usize, &'static str), Vec<Duration>> = HashMap::new();
    let mut rss: HashMap<(usize, &'static str), (u64, u64, u64)> = HashMap::new();
    for (size, rounds, batch) in PHASES {
        let payload = setup::event(&vec![b'x'; size]);
        let floor = if size == SMALL {
            "floor-small"
        } else {
            "floor-large"
        };
        for round in 0..=rounds {
            for k in 0..targets.len() {
                let target = targets[(round + k) % targets.len()];
                let samples = match target {
                    DIRECT => direct.batch(size, batch).await,
                    FLOOR => setup::invoke_batch(&emulator, floor, &payload, batch).await,
                    label => setup::invoke_batch(&emulator, label, &payload, batch).await,
                };
                // Round 0 warms every target up and is not counted.
                if round > 0 {
                    latency.entry((size, target)).or_default().extend(samples);
                }
            }
        }
        for candidate in &candidates {
            if let Some(numbers) = setup::rss_of(candidate.label) {
                rss.insert((size, candidate.label), numbers);
            }
        }
    }
    emulator.shutdown().await;

    let mut p = |size: usize, target: &'static str, q: f64| {
        latency
            .get_mut(&(size, target))
            .map_or(Duration::ZERO, |samples| percentile(samples, q))
    };
    let (direct_small, direct_large) = (p(SMALL, DIRECT, 0.5), p(LARGE, DIRECT, 0.5));
    let (floor_small, floor_large) = (p(SMALL, FLOOR, 0.5), p(LARGE, FLOOR, 0.5));
    println!("| target | 1 KiB p50 / p99 (ms) | 1 KiB overhead p50: − direct / − floor (ms) | 1 MiB p50 / p99 (ms) | 1 MiB overhead p50: − direct / − floor (ms) | time to ready p50 (ms) | RSS (anonymous) after 1 KiB / after 1 MiB, peak (MiB) | stripped binary (MB) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (target, label) in [
        (DIRECT, "service called directly"),
        (
            FLOOR,
            "emulator floor (runtime answers at once, no service)",
        ),
    ] {
        println!(
            "| {label} | {} / {} | — | {} / {} | — | — | — | — |",
            ms(p(SMALL, target, 0.5)),
            ms(p(SMALL, target, 0.99)),
            ms(p(LARGE, target, 0.5)),
            ms(p(LARGE, target, 0.99)),
        );
    }
    for (i, candidate) in candidates.iter().enumerate() {
        let label = candidate.label;
        let (small, large) = (p(SMALL, label, 0.5), p(LARGE, label, 0.5));
        let rss = match (rss.get(&(SMALL, label)), rss.get(&(LARGE, label))) {
            (Some((small, small_anon, _)), Some((large, large_anon, peak))) => format!(
                "{} ({}) / {} ({}), {}",
                mib(*small),
                mib(*small_anon),
                mib(*large),
                mib(*large_anon),
                mib(*peak)
            ),
            _ => "n/a".into(),
        };
        let size = setup::stripped_size(&candidate.binary)
            .map_or("n/a".into(), |s| format!("{:.2}", s as f64 / 1_000_000.0));
        let failed = READY_ROUNDS - ready[i].len();
        let ready_note = if failed > 0 {
            format!(" ({failed} of {READY_ROUNDS} inits failed)")
        } else {
            String::new()
        };
        println!(
            "| {label} | {} / {} | {} / {} | {} / {} | {} / {} | {}{ready_note} | {rss} | {size} |",
            ms(small),
            ms(p(SMALL, label, 0.99)),
            ms(small.saturating_sub(direct_small)),
            ms(small.saturating_sub(direct_small + floor_small)),
            ms(large),
            ms(p(LARGE, label, 0.99)),
            ms(large.saturating_sub(direct_large)),
            ms(large.saturating_sub(direct_large + floor_large)),
            ms(percentile(&mut ready[i], 0.5)),
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--null-runtime") {
        return null_runtime::serve();
    }
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
