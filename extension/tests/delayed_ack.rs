//! A service that writes each response in two pieces without `TCP_NODELAY` (as Python's
//! `http.server` does) is not held up by the extension's delayed ACKs: ~40 ms a request without
//! `TCP_QUICKACK` on the service connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;
#[path = "support/two_write.rs"]
mod two_write;

use std::time::{Duration, Instant};

/// Warm invokes timed together.
const INVOKES: usize = 20;
/// Their bound: half of what they take when each waits on one delayed ACK (≥ 40 ms each), and
/// ~10× what they take without (~1–2 ms each in a debug build).
const BOUND: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_invokes_do_not_wait_on_delayed_acks_behind_a_two_write_service() {
    let layer = harness::layer();
    let code = harness::waiting_code();
    let service = two_write::start().await;
    let emulator = harness::start(vec![harness::rust_service_function(
        "two-write",
        layer.path(),
        code.path(),
        service.addr.port(),
        &[],
    )])
    .await;
    let event = harness::v2_event("GET", "/hello", "name=nagle", &[], b"");
    let check = |response: &lambda_mesh_emulator::InvokeResponse| {
        let result = harness::json(response);
        assert!(response.function_error.is_none(), "{result}");
        assert_eq!(result["statusCode"], 200, "{result}");
        assert_eq!(harness::result_body(&result), two_write::BODY.as_bytes());
    };

    // The first invoke starts the environment and opens the connection: not timed.
    check(&harness::invoke(&emulator, "two-write", &event).await);
    // Readiness probes came on connections of their own.
    let (connections, requests) = (service.connections(), service.requests());
    let started = Instant::now();
    for _ in 0..INVOKES {
        check(&harness::invoke(&emulator, "two-write", &event).await);
    }
    let took = started.elapsed();
    eprintln!("{INVOKES} warm invokes: {took:?}");

    assert_eq!(service.requests() - requests, INVOKES);
    // The stall only shows on a reused connection: make sure that is what was measured.
    assert_eq!(
        service.connections(),
        connections,
        "every timed invoke reused the keep-alive connection"
    );
    assert!(
        took < BOUND,
        "{INVOKES} warm invokes took {took:?} (bound {BOUND:?}): the service waited on delayed ACKs"
    );
    emulator.shutdown().await;
}
