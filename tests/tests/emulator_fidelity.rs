//! The emulator's fidelity where Lambda's limits bite: `memory_mb` enforced (`Runtime.OutOfMemory`,
//! a fresh environment after), asynchronous retries as configured, a runtime that dies while
//! idle never costs an invocation, and the version an alias or a version number executes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use lambda_mesh_emulator::{FunctionConfig, InvocationType, InvokeRequest};
use lambda_mesh_tests::emulator::Running;
use lambda_mesh_tests::functions::python_fn;
use lambda_mesh_tests::poll::eventually;
use serde_json::{json, Value};

const EXTENSION: &str = env!("CARGO_BIN_EXE_emulator-extension");

/// The shared Python runtime client (`tests/data/python-fn`: `alloc_mb`, `pid_file`,
/// `next_then_exit`, `error`, `append` commands) as `name`, with a 10 s timeout.
fn function(name: &str) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, python_fn());
    config.timeout = 10;
    config
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Invoke through the Invoke API with the SDK: (function error, payload, decoded log tail).
async fn invoke(
    running: &Running,
    function: &str,
    payload: Value,
) -> (Option<String>, Value, String) {
    let out = running
        .client()
        .invoke()
        .function_name(function)
        .log_type(LogType::Tail)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .unwrap();
    let tail = out
        .log_result()
        .map(|t| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(t).unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .unwrap_or_default();
    let payload = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    (out.function_error().map(str::to_owned), payload, tail)
}

fn max_memory_used(tail: &str) -> u64 {
    let report = tail.lines().find(|l| l.starts_with("REPORT ")).unwrap();
    report
        .split('\t')
        .find_map(|f| f.strip_prefix("Max Memory Used: "))
        .and_then(|m| m.trim_end_matches(" MB").parse().ok())
        .unwrap()
}

#[tokio::test]
async fn an_environment_over_memory_mb_is_killed_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.txt");
    let layer = lambda_mesh_tests::layer::extension_layer(
        dir.path(),
        "emulator-extension",
        Path::new(EXTENSION),
    );
    let mut config = function("hungry");
    config.memory_mb = 128;
    config.layers = vec![layer];
    config
        .environment
        .insert("EXT_LOG".into(), log.display().to_string());
    let running = Running::start(vec![config]).await;

    // Under the limit: not killed, and REPORT says how much it used.
    let (error, first, tail) =
        invoke(&running, "hungry", json!({"alloc_mb": 40, "hold": 0.3})).await;
    assert_eq!(error, None, "{first}");
    let used = max_memory_used(&tail);
    assert!(
        (40..=128).contains(&used),
        "Max Memory Used: {used} MB\n{tail}"
    );

    // Over it: Lambda's out-of-memory error, the extensions get SHUTDOWN `failure`.
    let pid_file = dir.path().join("oom-pid");
    let (error, payload, tail) = invoke(
        &running,
        "hungry",
        json!({"alloc_mb": 200, "hold": 2, "pid_file": pid_file}),
    )
    .await;
    let killed = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(error.as_deref(), Some("Unhandled"), "{payload}");
    assert_eq!(payload["errorType"], "Runtime.OutOfMemory", "{payload}");
    let message = payload["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("RequestId: ")
            && message.ends_with(" Error: Runtime exited with error: signal: killed"),
        "{message}"
    );
    assert!(
        tail.contains("Max Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory"),
        "{tail}"
    );
    assert!(
        eventually(Duration::from_secs(5), || lines(&log)
            .contains(&"SHUTDOWN failure".to_owned()))
        .await,
        "{:?}",
        lines(&log)
    );

    // The next invocation runs in another environment (the killed one is gone).
    let (error, after, _) = invoke(&running, "hungry", json!({})).await;
    assert_eq!(error, None, "{after}");
    assert_ne!(after["pid"].to_string(), killed);
    running.emulator.shutdown().await;
}

#[tokio::test]
async fn memory_held_between_invocations_counts_too() {
    let mut config = function("leaky");
    config.memory_mb = 128;
    let running = Running::start(vec![config]).await;
    // 100 MB kept across invocations, then 60 MB more: over 128 MB in the second invocation.
    let (error, _, _) = invoke(&running, "leaky", json!({"alloc_mb": 100, "keep": true})).await;
    assert_eq!(error, None);
    let (error, payload, _) = invoke(
        &running,
        "leaky",
        json!({"alloc_mb": 60, "hold": 2, "keep": true}),
    )
    .await;
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(payload["errorType"], "Runtime.OutOfMemory", "{payload}");
    running.emulator.shutdown().await;
}

#[tokio::test]
async fn async_retries_follow_the_configured_attempts_and_delays() {
    let dir = tempfile::tempdir().unwrap();
    let mut twice = function("twice");
    twice.async_retry_delays_ms = vec![300, 300];
    let mut never = function("never");
    never.maximum_retry_attempts = 0;
    let running = Running::start(vec![twice, never]).await;
    for (name, attempts) in [("twice", 3), ("never", 1)] {
        let out = dir.path().join(format!("{name}.txt"));
        let request = InvokeRequest {
            function: name.into(),
            invocation_type: InvocationType::Event,
            payload: json!({"append": out, "error": "always"}).to_string().into(),
            ..InvokeRequest::default()
        };
        let started = std::time::Instant::now();
        assert_eq!(running.emulator.invoke(request).await.unwrap().status, 202);
        assert!(
            eventually(Duration::from_secs(10), || lines(&out).len() == attempts).await,
            "{name}: {:?}",
            lines(&out)
        );
        if attempts == 3 {
            assert!(
                started.elapsed() >= Duration::from_millis(600),
                "the delays were not waited"
            );
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(lines(&out).len(), attempts, "{name}: no more attempts");
    }
    running.emulator.shutdown().await;
}

/// A runtime that exits while idle (here: right after calling `next`, so the emulator sees it
/// waiting) must not cost the next invocation: it runs in a fresh environment. The test waits
/// until the kernel has the runtime dead (zombie or reaped) before invoking; whether the emulator
/// has noticed yet is the race this closes (`process.rs` pins the zombie state deterministically).
#[tokio::test]
async fn a_runtime_that_dies_while_idle_never_costs_an_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(vec![function("fragile")]).await;
    let pid_file = dir.path().join("pid");
    for round in 0..10 {
        let _ = std::fs::remove_file(&pid_file);
        let (error, payload, _) = invoke(
            &running,
            "fragile",
            json!({"next_then_exit": true, "pid_file": pid_file}),
        )
        .await;
        assert_eq!(error, None, "round {round}: {payload}");
        assert!(eventually(Duration::from_secs(5), || pid_file.exists()).await);
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let dead = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(true)
        };
        assert!(eventually(Duration::from_secs(5), dead).await);
        let (error, payload, _) = invoke(&running, "fragile", json!({})).await;
        assert_eq!(error, None, "round {round}: {payload}");
        assert_ne!(payload["pid"].to_string(), pid);
    }
    running.emulator.shutdown().await;
}

#[tokio::test]
async fn versions_execute_as_themselves_and_aliases_as_latest() {
    let mut config = function("versioned");
    config.qualifiers = vec!["live".into(), "3".into()];
    let running = Running::start(vec![config]).await;
    for (qualifier, version) in [
        (None, "$LATEST"),
        (Some("$LATEST"), "$LATEST"),
        (Some("live"), "$LATEST"),
        (Some("3"), "3"),
    ] {
        let out = running
            .client()
            .invoke()
            .function_name("versioned")
            .set_qualifier(qualifier.map(str::to_owned))
            .payload(Blob::new("{}"))
            .send()
            .await
            .unwrap();
        assert_eq!(out.executed_version(), Some(version), "{qualifier:?}");
        let payload: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
        assert_eq!(payload["version"], version, "{qualifier:?}: {payload}");
        let arn = payload["invokedFunctionArn"].as_str().unwrap();
        match qualifier {
            Some(q) => assert!(arn.ends_with(&format!(":versioned:{q}")), "{arn}"),
            None => assert!(arn.ends_with(":function:versioned"), "{arn}"),
        }
    }
    running.emulator.shutdown().await;
}
