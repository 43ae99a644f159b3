//! Init with an external extension that calls the Runtime API `next` before registering, as
//! aws-lambda-web-adapter (extension and runtime client in one process) can.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_mesh_emulator::FunctionConfig;
use lambda_mesh_tests::emulator::{request, start};
use lambda_mesh_tests::events::json as json_of;
use lambda_mesh_tests::layer::executable;
use serde_json::json;

/// Calls `invocation/next` at once and serves invocations; registers only 500 ms later, on
/// another thread, and exits 3 if registration is refused.
const EARLY_NEXT: &str = r#"#!/usr/bin/env python3
import http.client, json, os, threading, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)

def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, int(port))
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data

def extension():
    time.sleep(0.5)
    r, d = call("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE", "SHUTDOWN"]}),
                {"Lambda-Extension-Name": "early-next"})
    if r.status != 200:
        print("registration refused", r.status, d, flush=True)
        os._exit(3)
    ident = r.getheader("Lambda-Extension-Identifier")
    while True:
        r, d = call("GET", "/2020-01-01/extension/event/next", None, {"Lambda-Extension-Identifier": ident})
        if r.status != 200 or json.loads(d).get("eventType") == "SHUTDOWN":
            os._exit(0)

threading.Thread(target=extension, daemon=True).start()
while True:
    r, d = call("GET", "/2018-06-01/runtime/invocation/next")
    if r.status != 200:
        os._exit(0)
    request_id = r.getheader("Lambda-Runtime-Aws-Request-Id")
    call("POST", "/2018-06-01/runtime/invocation/%s/response" % request_id,
         json.dumps({"servedBy": "early-next", "event": json.loads(d)}))
"#;

#[tokio::test]
async fn a_next_before_the_extension_registered_waits_instead_of_closing_registration() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    executable(&layer.join("extensions/early-next"), EARLY_NEXT);
    // The runtime is a web service in LWA's setup; here a process that never calls the API.
    let code = dir.path().join("code");
    executable(&code.join("bootstrap"), "#!/bin/sh\nexec sleep 600\n");
    let mut config = FunctionConfig::new("early", code);
    config.layers = vec![layer];
    config.timeout = 2;
    let emulator = start(vec![config]).await;
    for n in 0..3 {
        let answered = emulator
            .invoke(request("early", json!({ "n": n })))
            .await
            .unwrap();
        assert_eq!(
            answered.function_error,
            None,
            "{}",
            String::from_utf8_lossy(&answered.payload)
        );
        let body = json_of(&answered.payload);
        assert_eq!(body["servedBy"], "early-next");
        assert_eq!(body["event"]["n"], n);
    }
    emulator.shutdown().await;
}
