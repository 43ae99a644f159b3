//! A caller that invokes again as soon as it has its answer reuses the same warm environment, as
//! on Lambda (where the network hides the runtime's turnaround), instead of cold-starting another
//! or being throttled at the concurrency limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_mesh_tests::emulator::{request, start};
use lambda_mesh_tests::events::json as json_of;
use lambda_mesh_tests::functions::python_runtime as function;
use serde_json::json;

/// Sequential invokes; the `PORT` each was served with (every environment gets its own).
async fn ports_of_sequential_invokes(concurrency: u32, count: usize) -> Vec<String> {
    let mut config = function("warm");
    config.port_env = vec!["PORT".into()];
    config.environment.insert("PORT".into(), "8080".into());
    config.concurrency = concurrency;
    let emulator = start(vec![config]).await;
    let mut ports = Vec::new();
    for i in 0..count {
        let answer = emulator
            .invoke(request("warm", json!({ "n": i })))
            .await
            .unwrap_or_else(|e| panic!("invoke {i} of {count} failed: {e:?}"));
        assert_eq!(answer.status, 200);
        assert!(answer.function_error.is_none(), "invoke {i}: {answer:?}");
        let body = json_of(&answer.payload);
        assert_eq!(body["event"]["n"], i);
        ports.push(body["port"].as_str().unwrap().to_owned());
    }
    emulator.shutdown().await;
    ports
}

#[tokio::test]
async fn back_to_back_invokes_at_concurrency_one_are_not_throttled() {
    let ports = ports_of_sequential_invokes(1, 30).await;
    assert!(ports.iter().all(|p| p == &ports[0]), "{ports:?}");
}

#[tokio::test]
async fn back_to_back_invokes_reuse_one_warm_environment() {
    let ports = ports_of_sequential_invokes(10, 30).await;
    assert!(
        ports.iter().all(|p| p == &ports[0]),
        "sequential invokes spread over environments: {ports:?}"
    );
}
