//! The emulator in-process with the Python custom runtime: environments, concurrency, async
//! retries, ports, request-id and Extensions API refusals, telemetry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use lambda_mesh_emulator::{InvocationType, InvokeError};
use lambda_mesh_tests::emulator::{request, start};
use lambda_mesh_tests::events::json as json_of;
use lambda_mesh_tests::functions::python_runtime as function;
use lambda_mesh_tests::poll::eventually;
use serde_json::{json, Value};

#[tokio::test]
async fn stale_and_wrong_request_ids_get_lambdas_answers() {
    let emulator = start(vec![function("py")]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("again.json");
    emulator
        .invoke(request("py", json!({"again": out})))
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || out.exists()).await);
    let mut answers = Value::Null;
    assert!(
        eventually(Duration::from_secs(2), || {
            answers = std::fs::read(&out)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            !answers.is_null()
        })
        .await
    );
    assert_eq!(answers["second"][0], 403);
    assert_eq!(answers["second"][1]["errorType"], "InvalidStateTransition");
    assert_eq!(answers["wrong"][0], 400);
    assert_eq!(answers["wrong"][1]["errorType"], "InvalidRequestID");
    emulator.shutdown().await;
}

#[tokio::test]
async fn concurrency_exhaustion_throttles_sync_and_queues_async() {
    let mut config = function("one");
    config.concurrency = 1;
    let mut reserved = function("reserved");
    reserved.reserved_concurrency = Some(1);
    let emulator = start(vec![config, reserved]).await;
    for (name, reason) in [
        ("one", "ConcurrentInvocationLimitExceeded"),
        (
            "reserved",
            "ReservedFunctionConcurrentInvocationLimitExceeded",
        ),
    ] {
        let busy = tokio::spawn({
            let emulator = emulator.clone();
            async move { emulator.invoke(request(name, json!({"sleep": 1.5}))).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let err = emulator.invoke(request(name, json!({}))).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "throttling must not wait"
        );
        assert_eq!(
            err,
            InvokeError::TooManyRequests {
                reason: reason.into(),
                retry_after_seconds: 1
            }
        );
        assert_eq!(err.status(), 429);
        assert_eq!(busy.await.unwrap().unwrap().function_error, None);
    }

    // Asynchronous invokes wait in the queue and all run, one at a time.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("async.txt");
    for _ in 0..3 {
        let mut req = request("one", json!({"append": out, "sleep": 0.2}));
        req.invocation_type = InvocationType::Event;
        assert_eq!(emulator.invoke(req).await.unwrap().status, 202);
    }
    let lines = || {
        std::fs::read_to_string(&out)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    assert!(eventually(Duration::from_secs(10), || lines() == 3).await);
    emulator.shutdown().await;
}

#[tokio::test]
async fn async_function_errors_are_retried_twice() {
    // Lambda waits about 1 and 2 minutes; configured short here.
    let mut config = function("py");
    config.async_retry_delays_ms = vec![100, 200];
    let emulator = start(vec![config]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("retries.txt");
    let mut req = request("py", json!({"append": out, "error": "always"}));
    req.invocation_type = InvocationType::Event;
    let accepted = emulator.invoke(req).await.unwrap();
    assert_eq!(accepted.status, 202);
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(eventually(Duration::from_secs(10), || read().lines().count() == 3).await);
    // Every attempt carries the same request id, as Lambda's retries do.
    let text = read();
    let ids: std::collections::HashSet<&str> = text.lines().collect();
    assert_eq!(ids.len(), 1);
    assert!(ids.contains(accepted.request_id.as_str()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read().lines().count(), 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn each_environment_gets_its_own_port() {
    let mut config = function("ports");
    config.port_env = vec!["PORT".into()];
    config.environment.insert("PORT".into(), "8080".into());
    config.concurrency = 2;
    let emulator = start(vec![config]).await;
    let a = tokio::spawn({
        let emulator = emulator.clone();
        async move {
            emulator
                .invoke(request("ports", json!({"sleep": 0.5})))
                .await
        }
    });
    let b = tokio::spawn({
        let emulator = emulator.clone();
        async move {
            emulator
                .invoke(request("ports", json!({"sleep": 0.5})))
                .await
        }
    });
    let a = json_of(&a.await.unwrap().unwrap().payload);
    let b = json_of(&b.await.unwrap().unwrap().payload);
    assert_ne!(a["port"], "8080");
    assert_ne!(a["port"], b["port"]);
    emulator.shutdown().await;
}

#[tokio::test]
async fn two_functions_on_the_same_configured_port_run_side_by_side() {
    let fixed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = fixed.local_addr().unwrap().port().to_string();
    drop(fixed);
    let make = |name: &str, port_env: bool| {
        let mut config = function(name);
        config.environment.insert("PORT".into(), port.clone());
        config.environment.insert("BIND_PORT".into(), "1".into());
        config.concurrency = 2;
        if port_env {
            config.port_env = vec!["PORT".into()];
        }
        config
    };
    let emulator = start(vec![make("a", true), make("b", true)]).await;
    let (a, b) = tokio::join!(
        emulator.invoke(request("a", json!({"sleep": 0.3}))),
        emulator.invoke(request("b", json!({"sleep": 0.3})))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.function_error, None);
    assert_eq!(b.function_error, None);
    assert_ne!(json_of(&a.payload)["port"], json_of(&b.payload)["port"]);
    emulator.shutdown().await;

    // Without port_env the second function's service cannot bind: the collision is real.
    let emulator = start(vec![make("c", false), make("d", false)]).await;
    let c = emulator.invoke(request("c", json!({}))).await.unwrap();
    let d = emulator.invoke(request("d", json!({}))).await.unwrap();
    assert!(
        c.function_error.is_some() != d.function_error.is_some(),
        "exactly one should fail: {c:?} {d:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn telemetry_subscribers_get_function_output_and_platform_events() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("telemetry.jsonl");
    let mut config = function("observed");
    config.layers = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/telemetry-layer")];
    config
        .environment
        .insert("TELEMETRY_OUT".into(), out.display().to_string());
    let emulator = start(vec![config]).await;
    let response = emulator
        .invoke(request("observed", json!({"print": "hello telemetry"})))
        .await
        .unwrap();
    let records = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let has = |kind: &str, check: &dyn Fn(&Value) -> bool| {
        records()
            .iter()
            .any(|r| r["type"] == kind && check(&r["record"]))
    };
    assert!(
        records().iter().any(|r| r["subscribed"] == 200),
        "{:?}",
        records()
    );
    assert!(
        eventually(Duration::from_secs(5), || has("function", &|r| r
            == "hello telemetry"))
        .await,
        "{:?}",
        records()
    );
    let id = response.request_id.as_str();
    assert!(
        eventually(Duration::from_secs(5), || has("platform.start", &|r| r
            ["requestId"]
            == id)
            && has("platform.report", &|r| r["requestId"] == id))
        .await,
        "{:?}",
        records()
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_environment_that_dies_while_idle_is_replaced() {
    let emulator = start(vec![function("py")]).await;
    let first = emulator
        .invoke(request("py", json!({"then_exit": true})))
        .await
        .unwrap();
    assert_eq!(first.function_error, None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = emulator.invoke(request("py", json!({}))).await.unwrap();
    assert_eq!(second.function_error, None, "{:?}", second.payload);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_runtime_that_exits_after_answering_never_gets_the_next_invocation() {
    let emulator = start(vec![function("py")]).await;
    for round in 0..5 {
        let answered = emulator
            .invoke(request("py", json!({"then_exit": true})))
            .await
            .unwrap();
        assert_eq!(answered.function_error, None, "{:?}", answered.payload);
        // At once: the exiting environment must not be handed this one.
        let next = emulator.invoke(request("py", json!({}))).await.unwrap();
        assert_eq!(
            next.function_error,
            None,
            "round {round}: {}",
            String::from_utf8_lossy(&next.payload)
        );
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn extensions_api_refusals_are_lambdas() {
    let emulator = start(vec![function("py")]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.json");
    emulator
        .invoke(request("py", json!({"probe_extensions_api": out})))
        .await
        .unwrap();
    let answers: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(answers["internal_shutdown"][0], 400);
    assert_eq!(
        answers["internal_shutdown"][1]["errorType"],
        "Extension.InvalidEventType"
    );
    assert_eq!(answers["late_invoke"][0], 403);
    assert_eq!(
        answers["late_invoke"][1]["errorType"],
        "Extension.RegistrationClosed"
    );
    assert_eq!(answers["unknown_id"][0], 403);
    assert_eq!(
        answers["unknown_id"][1]["errorType"],
        "Extension.UnknownExtensionIdentifier"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn after_shutdown_invokes_are_refused_as_service_errors() {
    let emulator = start(vec![function("py")]).await;
    emulator.shutdown().await;
    let err = emulator.invoke(request("py", json!({}))).await.unwrap_err();
    assert_eq!(err.status(), 500, "{err:?}");
    assert_eq!(err.error_type(), "ServiceException");
    let mut event = request("py", json!({}));
    event.invocation_type = InvocationType::Event;
    assert_eq!(emulator.invoke(event).await.unwrap_err().status(), 500);
}

#[tokio::test]
async fn an_init_over_10_s_is_retried_once_within_the_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("inits");
    let mut config = function("slow-init");
    config.timeout = 15;
    config.concurrency = 2;
    config
        .environment
        .insert("INIT_COUNTER".into(), counter.display().to_string());
    // Init 1 is the provisioned environment; init 2 (a cold start) exceeds Lambda's 10 s; init 3
    // is the retry.
    config.provisioned_concurrency = 1;
    config
        .environment
        .insert("INIT_SLOW_NTH".into(), "2".into());
    config
        .environment
        .insert("INIT_SLOW_SECONDS".into(), "11".into());
    let emulator = start(vec![config]).await;
    let warm = tokio::spawn({
        let emulator = emulator.clone();
        async move {
            emulator
                .invoke(request("slow-init", json!({"sleep": 0.5})))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let cold = emulator
        .invoke(request("slow-init", json!({"cold": true})))
        .await
        .unwrap();
    assert_eq!(cold.function_error, None, "{:?}", cold.payload);
    assert_eq!(json_of(&cold.payload)["event"], json!({"cold": true}));
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "3");
    assert_eq!(warm.await.unwrap().unwrap().function_error, None);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_function_whose_warm_up_failed_is_reported_ready_when_it_first_is() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = function("flaky");
    config.environment.insert(
        "INIT_COUNTER".into(),
        dir.path().join("inits").display().to_string(),
    );
    config
        .environment
        .insert("INIT_FAIL_NTH".into(), "1".into());
    // The provisioned environment is the one that fails, at start.
    config.provisioned_concurrency = 1;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = seen.clone();
    let emulator = lambda_mesh_emulator::Emulator::start_with_hook(
        lambda_mesh_emulator::EmulatorConfig {
            functions: vec![config],
        },
        move |name, result| hook.lock().unwrap().push((name.to_owned(), result.is_ok())),
    )
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), [("flaky".to_owned(), false)]);
    let response = emulator.invoke(request("flaky", json!({}))).await.unwrap();
    assert_eq!(response.function_error, None, "{:?}", response.payload);
    assert!(
        eventually(Duration::from_secs(2), || seen.lock().unwrap().len() == 2).await,
        "{:?}",
        seen.lock().unwrap()
    );
    assert_eq!(seen.lock().unwrap()[1], ("flaky".to_owned(), true));
    emulator.shutdown().await;
}
